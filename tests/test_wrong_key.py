"""``wrong_key.WrongKeyWatch``: a wrong key told from forged records (the end-to-end cases,
a wrong PSK against each peer, are in test_handshake.py, test_errors.py and test_attacks.py)."""

from __future__ import annotations

import pytest

from aiodtls.alerts import AlertBadRecordMac, AlertHandshakeFailure
from aiodtls.handshake.messages import HandshakeType
from aiodtls.record.header import ContentType
from aiodtls.reliability.flight import FlightEntry
from aiodtls.reliability.timer import RetransmissionPolicy, RetransmissionTimer
from aiodtls.suites import CipherSuite, suite_info
from aiodtls.wrong_key import FINISHED_IGNORED_COPIES, WrongKeyWatch


def test_rounds_count_only_repeats_where_records_failed_and_none_authenticated() -> None:
    watch = WrongKeyWatch()
    assert watch.peer_repeated() == 0  # nothing learned: no protected record in between
    watch.record_failed()
    assert watch.peer_repeated() == 1
    watch.record_failed()
    watch.authenticated = True  # one record passed: the keys agree, the failures were forged
    assert watch.peer_repeated() == 0
    assert watch.failures == 2


def test_the_peer_repeating_with_failed_records_ends_the_handshake_at_the_limit() -> None:
    watch = WrongKeyWatch()
    watch.record_failed()
    watch.on_peer_flight_repeat(2)
    watch.record_failed()
    with pytest.raises(AlertBadRecordMac):
        watch.on_peer_flight_repeat(2)


def test_a_limit_of_zero_never_ends_the_handshake() -> None:
    watch = WrongKeyWatch()
    for _ in range(10):
        watch.record_failed()
        watch.on_peer_flight_repeat(0)
    watch.copies = [0.0] * 20
    for now in range(10):
        watch.check_finished_ignored(0, RetransmissionTimer(RetransmissionPolicy()), now * 10.0)


def test_an_ignored_finished_needs_enough_copies_a_timeout_old() -> None:
    timer = RetransmissionTimer(RetransmissionPolicy())
    timeout = timer.policy.min_rto  # no RTT known yet
    watch = WrongKeyWatch()
    watch.check_finished_ignored(1, timer, 100.0)  # not watching (not a PSK suite)
    assert watch.ignored == 0
    watch.copies = [0.0] * (FINISHED_IGNORED_COPIES - 1)
    watch.check_finished_ignored(1, timer, 100.0)  # one copy short
    watch.check_finished_ignored(1, timer, 100.0 + timeout / 4)  # too soon: the same repeat
    assert watch.ignored == 1
    watch.copies.append(100.0 + timeout)
    watch.check_finished_ignored(1, timer, 100.0 + timeout)  # the new copy is not old enough
    with pytest.raises(AlertHandshakeFailure):
        watch.check_finished_ignored(1, timer, 100.0 + 2 * timeout)


def test_the_timeout_hint_names_the_likely_cause() -> None:
    finished = [FlightEntry(ContentType.handshake, 1, HandshakeType.finished)]
    psk = suite_info(CipherSuite.TLS_PSK_WITH_AES_128_GCM_SHA256)
    watch = WrongKeyWatch()
    assert watch.timeout_hint(is_client=False, entries=finished, suite=psk) == ""
    assert "wrong PSK?" in watch.timeout_hint(is_client=True, entries=finished, suite=psk)
    assert "certificate" in watch.timeout_hint(is_client=True, entries=finished, suite=None)
    watch.record_failed()
    assert "1 records from the peer failed" in watch.timeout_hint(
        is_client=False, entries=[], suite=None
    )
