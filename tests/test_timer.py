"""The retransmission timer policy (reliability/timer.py) on its own."""

from __future__ import annotations

import random

import pytest

from aiodtls.reliability.timer import MTU_STEPS, RetransmissionPolicy, RetransmissionTimer


def test_initial_timeout_doubles_to_the_cap() -> None:  # T3
    timer = RetransmissionTimer(RetransmissionPolicy(jitter=0, blind_max_rto=None))
    timer.start_flight()
    seen = []
    for _ in range(10):
        seen.append(timer.wait())
        timer.back_off()
    assert seen == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]


def test_blind_timeout_doubles_to_two_seconds_only() -> None:  # issue 9 item 4
    """Before any round trip is known the back-off stops at ``blind_max_rto`` (2 s; libwebrtc
    clamps its first DTLS timeout to 3 s); once one is known, the usual cap applies."""
    timer = RetransmissionTimer(RetransmissionPolicy(jitter=0))
    timer.start_flight()
    seen = []
    for _ in range(5):
        seen.append(timer.wait())
        timer.back_off()
    assert seen == [1, 2, 2, 2, 2]
    timer.on_rtt_sample(0.4)
    timer.start_flight()
    seen = []
    for _ in range(10):
        seen.append(round(timer.wait(), 6))
        timer.back_off()
    assert seen == [0.6, 1.2, 2.4, 4.8, 9.6, 19.2, 38.4, 60, 60, 60]


def test_a_certificate_flight_allows_for_the_peers_processing() -> None:  # issue 9 item 3
    """Once the round trip is known, the first timeout of a flight with a certificate chain
    adds ``peer_processing`` and ``peer_processing_per_datagram`` per datagram; it then
    doubles from there, and a measured longer processing time raises it."""
    timer = RetransmissionTimer(RetransmissionPolicy(jitter=0))
    timer.allow_processing(9)
    assert timer.wait() == 1.0  # round trip unknown: the blind initial timeout covers it
    timer.on_rtt_sample(0.002)
    timer.start_flight()
    timer.allow_processing(9)
    assert timer.wait() == pytest.approx(0.1 + 0.4 + 0.9)
    timer.on_answer_delay(0.802)
    timer.start_flight()
    timer.allow_processing(2)
    assert timer.wait() == pytest.approx(0.1 + 1.25 * 0.8 + 0.2)


def test_rtt_sample_sets_one_and_a_half_rtt_with_a_floor() -> None:  # RFC 9147 §5.8.2
    timer = RetransmissionTimer(RetransmissionPolicy(jitter=0))
    timer.on_rtt_sample(0.4)
    assert timer.base_rto() == pytest.approx(0.6)
    timer.start_flight()
    assert timer.wait() == pytest.approx(0.6)
    fast = RetransmissionTimer(RetransmissionPolicy(jitter=0))
    fast.on_rtt_sample(0.001)
    assert fast.base_rto() == 0.1  # min_rto


def test_rtt_is_smoothed() -> None:
    timer = RetransmissionTimer(RetransmissionPolicy(jitter=0))
    timer.on_rtt_sample(0.2)
    timer.on_rtt_sample(1.0)
    assert timer.srtt == pytest.approx(0.875 * 0.2 + 0.125 * 1.0)


def test_an_rtt_bound_never_makes_the_timer_longer_than_the_initial_one() -> None:
    timer = RetransmissionTimer(RetransmissionPolicy(jitter=0))
    timer.on_rtt_bound(5.0)
    assert timer.base_rto() == 1.0
    timer.on_rtt_bound(0.2)
    assert timer.base_rto() == pytest.approx(0.3)
    timer.on_rtt_sample(0.1)  # a real sample wins over the bound
    assert timer.base_rto() == pytest.approx(0.15)


def test_progress_resets_the_back_off() -> None:
    timer = RetransmissionTimer(RetransmissionPolicy(jitter=0))
    timer.on_rtt_sample(0.2)
    timer.start_flight()
    timer.back_off()
    timer.back_off()
    assert timer.rto == pytest.approx(1.2)
    timer.reset_back_off()
    assert timer.rto == pytest.approx(0.3)


def test_openssl_model_ignores_the_rtt() -> None:
    timer = RetransmissionTimer(RetransmissionPolicy.openssl())
    timer.on_rtt_sample(0.05)
    assert timer.base_rto() == 1.0
    assert timer.wait() == 1.0


@pytest.mark.parametrize("seed", range(20))
def test_jitter_is_at_most_ten_percent_and_never_negative(seed: int) -> None:
    timer = RetransmissionTimer(RetransmissionPolicy(), rng=random.Random(seed))
    timer.start_flight()
    for _ in range(5):
        assert timer.rto <= timer.wait() <= timer.rto * 1.1
        timer.back_off()


def test_mtu_back_off_steps() -> None:  # P2
    timer = RetransmissionTimer(RetransmissionPolicy())
    assert timer.next_mtu(1400, unanswered=1, largest_datagram=1400) == 1400
    assert timer.next_mtu(1400, unanswered=2, largest_datagram=1400) == MTU_STEPS[0]
    assert timer.next_mtu(1232, unanswered=3, largest_datagram=1232) == MTU_STEPS[1]
    assert timer.next_mtu(548, unanswered=4, largest_datagram=548) == 512
    assert timer.next_mtu(512, unanswered=5, largest_datagram=512) == 512  # the floor
    # A step that would not shrink any datagram of the flight is skipped.
    assert timer.next_mtu(1400, unanswered=2, largest_datagram=600) == 548
    assert timer.next_mtu(1400, unanswered=2, largest_datagram=200) == 1400


def test_mtu_back_off_can_be_disabled() -> None:
    timer = RetransmissionTimer(RetransmissionPolicy.openssl())
    assert timer.next_mtu(1400, unanswered=9, largest_datagram=1400) == 1400
