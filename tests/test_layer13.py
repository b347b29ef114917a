"""Tests for aiodtls.record.layer13 (the DTLS 1.3 record layer) and wire.split_datagram13 (its
framing): RFC 9147 §4, §4.1, §4.2.2, §4.5.1-§4.5.3 (SPEC V1-V7, V16, X6)."""

from __future__ import annotations

import pytest

from aiodtls import wire
from aiodtls.budget import BufferBudget
from aiodtls.drops import Drop, DropReason
from aiodtls.record.layer import SequenceNumberExhausted
from aiodtls.record.layer13 import (
    AEAD_LIMITS,
    AeadLimitReached,
    AeadLimits,
    Opened13,
    RecordLayer13,
)
from aiodtls.record.protection13 import RecordProtection13
from aiodtls.suites import Suite13

ALERT, HANDSHAKE, APPLICATION_DATA, ACK = 21, 22, 23, 26
KEY_LENGTH = {
    Suite13.TLS_AES_128_GCM_SHA256: 16,
    Suite13.TLS_AES_256_GCM_SHA384: 32,
    Suite13.TLS_CHACHA20_POLY1305_SHA256: 32,
    Suite13.TLS_AES_128_CCM_SHA256: 16,
    Suite13.TLS_AES_128_CCM_8_SHA256: 16,
}


def keys(
    epoch: int, suite: Suite13 = Suite13.TLS_AES_128_GCM_SHA256, *, seed: int = 0
) -> RecordProtection13:
    """One direction's keys for ``epoch``: the same arguments give the same keys, so a writer
    and a reader built from them match."""
    n = KEY_LENGTH[suite]
    base = (epoch * 7 + seed * 13) % 200
    return RecordProtection13(
        suite,
        key=bytes((base + i) % 256 for i in range(n)),
        iv=bytes((base + 50 + i) % 256 for i in range(12)),
        sn_key=bytes((base + 100 + i) % 256 for i in range(n)),
        epoch=epoch,
        allow_ccm8=True,
    )


def pair(
    *epochs: int, suite: Suite13 = Suite13.TLS_AES_128_GCM_SHA256
) -> tuple[RecordLayer13, RecordLayer13]:
    """A writer and a reader with ``epochs`` installed in that order."""
    writer, reader = RecordLayer13(), RecordLayer13()
    for epoch in epochs:
        writer.install_write(epoch, keys(epoch, suite))
        reader.install_read(epoch, keys(epoch, suite))
    return writer, reader


def opened(items: list[Opened13 | Drop]) -> list[tuple[int, int, int, bytes]]:
    """(epoch, sequence number, content type, payload) of each record, failing on a drop."""
    out = []
    for item in items:
        assert isinstance(item, Opened13), item
        out.append((item.epoch, item.sequence_number, item.content_type, item.payload))
    return out


def reasons(items: list[Opened13 | Drop]) -> list[DropReason | None]:
    return [item.reason if isinstance(item, Drop) else None for item in items]


# -- round trips --------------------------------------------------------------------------


def test_epoch_0_is_dtls_plaintext_with_the_13_byte_header() -> None:  # V1
    writer, reader = RecordLayer13(), RecordLayer13()
    record = writer.seal(HANDSHAKE, b"client hello")
    assert record[:13] == wire.encode_record_header(HANDSHAKE, wire.DTLS1_2, 0, 0, 12)
    assert writer.next_sequence_number(0) == 1
    assert opened(reader.open_datagram(record)) == [(0, 0, HANDSHAKE, b"client hello")]
    assert writer.overhead(0) == 13


def test_epoch_0_ignores_the_legacy_record_version() -> None:  # V1: "MUST be ignored"
    reader = RecordLayer13()
    record = wire.encode_record_header(HANDSHAKE, wire.DTLS1_0, 0, 5, 3) + b"abc"
    assert opened(reader.open_datagram(record)) == [(0, 5, HANDSHAKE, b"abc")]


@pytest.mark.parametrize("content_type", [20, 23, 24, 25])
def test_epoch_0_seals_only_alert_handshake_and_ack(content_type: int) -> None:  # V3
    with pytest.raises(ValueError):
        RecordLayer13().seal(content_type, b"x")
    for content_type_ok in (ALERT, HANDSHAKE, ACK):
        RecordLayer13().seal(content_type_ok, b"x")


@pytest.mark.parametrize("suite", list(Suite13))
@pytest.mark.parametrize("epoch", [1, 2, 3, 4, 7])
def test_protected_round_trip_in_every_epoch(suite: Suite13, epoch: int) -> None:  # V2, V16
    writer, reader = pair(epoch, suite=suite)
    assert writer.write_epoch == epoch
    datagram = b"".join(
        writer.seal(content_type, payload)
        for content_type, payload in (
            (HANDSHAKE, b"finished"),
            (APPLICATION_DATA, b""),
            (ACK, b"\x00\x00"),
            (ALERT, b"\x01\x00"),
        )
    )
    assert datagram[0] & 0xE0 == 0x20 and datagram[0] & 0x03 == epoch & 0x03
    assert opened(reader.open_datagram(datagram)) == [
        (epoch, 0, HANDSHAKE, b"finished"),
        (epoch, 1, APPLICATION_DATA, b""),
        (epoch, 2, ACK, b"\x00\x00"),
        (epoch, 3, ALERT, b"\x01\x00"),
    ]
    assert writer.sealed_records(epoch) == 4


@pytest.mark.parametrize("suite", list(Suite13))
def test_overhead_and_max_payload(suite: Suite13) -> None:
    writer, reader = pair(3, suite=suite)
    tag = 8 if suite is Suite13.TLS_AES_128_CCM_8_SHA256 else 16
    assert writer.overhead() == 1 + 2 + 2 + 1 + tag  # flags, seq 16, length, inner type, tag
    payload = bytes(100)
    assert len(writer.seal(APPLICATION_DATA, payload)) == len(payload) + writer.overhead()
    # A record alone in its datagram (application data, an ACK, an alert) has no length
    # field (RFC 9147 §4), so max_payload() fills the MTU with 2 bytes more.
    assert writer.max_payload(1200) == 1200 - writer.overhead() + 2
    alone = writer.seal(APPLICATION_DATA, bytes(writer.max_payload(1200)), ends_datagram=True)
    assert len(alone) == 1200 and not alone[0] & 0x04  # the L bit
    [record] = reader.open_datagram(alone)
    assert isinstance(record, Opened13) and record.payload == bytes(1200 - writer.overhead() + 2)
    assert writer.max_payload(100_000) == 1 << 14
    assert writer.overhead(0) == 13


def test_the_write_epoch_is_the_newest_and_older_ones_stay_for_retransmissions() -> None:
    writer = RecordLayer13()
    writer.install_write(2, keys(2))
    writer.install_write(3, keys(3))
    assert writer.write_epoch == 3
    assert writer.seal(HANDSHAKE, b"retransmitted finished", 2)[0] & 0x03 == 2
    writer.install_write(4, keys(4))
    assert writer.has_write_epoch(3) and writer.has_write_epoch(0)
    assert not writer.has_write_epoch(2)  # the newest two protected write epochs stay
    writer.discard_write(3)
    assert not writer.has_write_epoch(3)


def test_install_checks_the_epoch_of_the_keys() -> None:
    layer = RecordLayer13()
    with pytest.raises(ValueError):
        layer.install_read(3, keys(2))
    with pytest.raises(ValueError):
        layer.install_write(0, keys(0))


def test_a_datagram_mixes_plaintext_and_unified_records() -> None:  # V2, V3, RFC 9147 §4.1
    # The server's first flight: ServerHello in epoch 0, EncryptedExtensions... in epoch 2,
    # the last record without a length (it runs to the end of the datagram).
    writer, reader = pair(2)
    server_hello = writer.seal(HANDSHAKE, b"server hello", 0)
    protection = keys(2)
    encrypted_extensions = writer.seal(HANDSHAKE, b"encrypted extensions")
    finished = protection.seal(HANDSHAKE, b"finished", 1, sequence_bits=8, include_length=False)
    datagram = server_hello + encrypted_extensions + finished
    framed = wire.split_datagram13(datagram)
    assert [type(item) for item in framed] == [
        wire.RawRecord,
        wire.UnifiedRecord,
        wire.UnifiedRecord,
    ]
    assert opened(reader.open_datagram(datagram)) == [
        (0, 0, HANDSHAKE, b"server hello"),
        (2, 0, HANDSHAKE, b"encrypted extensions"),
        (2, 1, HANDSHAKE, b"finished"),
    ]


def test_plaintext_after_a_unified_record_is_framed_too() -> None:
    writer, reader = pair(2)
    datagram = writer.seal(HANDSHAKE, b"ee") + writer.seal(ALERT, b"\x02\x28", 0)
    assert opened(reader.open_datagram(datagram)) == [
        (2, 0, HANDSHAKE, b"ee"),
        (0, 0, ALERT, b"\x02\x28"),
    ]


# -- epochs by their two bits (RFC 9147 §4.2.2) ---------------------------------------------


def test_two_read_epochs_are_told_apart_by_their_bits() -> None:  # V4
    writer, reader = pair(3, 4)
    old = writer.seal(APPLICATION_DATA, b"old keys", 3)
    new = writer.seal(APPLICATION_DATA, b"new keys", 4)
    # Reordered across the KeyUpdate: the epoch-3 record arrives after the epoch-4 one.
    assert opened(reader.open_datagram(new)) == [(4, 0, APPLICATION_DATA, b"new keys")]
    assert opened(reader.open_datagram(old)) == [(3, 0, APPLICATION_DATA, b"old keys")]
    assert reader.highest_read_epoch == 4


def test_a_third_read_epoch_drops_the_oldest() -> None:
    old_writer, _ = pair(3)
    _, reader = pair(3, 4, 5)
    assert not reader.has_read_epoch(3)
    assert reader.has_read_epoch(4) and reader.has_read_epoch(5)
    reader.discard_held()
    [drop] = reader.open_datagram(old_writer.seal(APPLICATION_DATA, b"x"))
    assert isinstance(drop, Drop) and drop.reason is DropReason.NO_KEYS_FOR_EPOCH_BITS


def test_an_epoch_with_the_same_bits_replaces_the_older_one() -> None:
    reader = RecordLayer13()
    reader.install_read(3, keys(3))
    reader.install_read(7, keys(7))
    assert not reader.has_read_epoch(3) and reader.has_read_epoch(7)


def test_sequence_numbers_are_reconstructed_across_16_bit_wraps() -> None:  # V4
    protection = keys(3)
    reader = RecordLayer13()
    reader.install_read(3, keys(3))
    for seq in (65534, 65535, 65536, 65537, 65537 + 30000, 65537 + 29990):  # last: reordered
        record = protection.seal(APPLICATION_DATA, seq.to_bytes(8, "big"), seq)
        [item] = reader.open_datagram(record)
        assert isinstance(item, Opened13) and item.sequence_number == seq, seq
    # An 8-bit sequence number is reconstructed nearest to the next expected one as well.
    record = protection.seal(APPLICATION_DATA, b"8", 65537 + 30001, sequence_bits=8)
    [item] = reader.open_datagram(record)
    assert isinstance(item, Opened13) and item.sequence_number == 65537 + 30001
    # Half a window or more ahead is taken for the previous window: it does not open.
    far = 65537 + 30001 + 40000
    assert reasons(reader.open_datagram(protection.seal(APPLICATION_DATA, b"", far))) == [
        DropReason.BAD_TAG
    ]


# -- replay (RFC 9147 §4.5.1) ---------------------------------------------------------------


def test_a_replayed_protected_record_is_dropped_per_epoch() -> None:  # V6
    writer, reader = pair(3, 4)
    record3 = writer.seal(APPLICATION_DATA, b"a", 3)
    record4 = writer.seal(APPLICATION_DATA, b"a", 4)  # also sequence number 0, another epoch
    assert opened(reader.open_datagram(record3 + record4))
    assert reasons(reader.open_datagram(record3 + record4)) == [
        DropReason.REPLAYED,
        DropReason.REPLAYED,
    ]


def test_the_window_moves_only_for_authenticated_records() -> None:  # V6, SPEC A2
    writer, reader = pair(3)
    first = writer.seal(APPLICATION_DATA, b"first")
    forged = bytearray(writer.seal(APPLICATION_DATA, b"second"))
    forged[-1] ^= 1
    assert reasons(reader.open_datagram(bytes(forged))) == [DropReason.BAD_TAG]
    assert opened(reader.open_datagram(first)) == [(3, 0, APPLICATION_DATA, b"first")]


def test_replay_protection_can_be_off() -> None:
    writer = RecordLayer13()
    writer.install_write(3, keys(3))
    reader = RecordLayer13(replay_protection=False)
    reader.install_read(3, keys(3))
    record = writer.seal(APPLICATION_DATA, b"again")
    assert opened(reader.open_datagram(record)) == opened(reader.open_datagram(record))


def test_repeated_plaintext_is_dropped_but_no_window_is_moved() -> None:  # SPEC X6
    reader = RecordLayer13()
    far = wire.encode_record_header(HANDSHAKE, wire.DTLS1_2, 0, 2**40, 1) + b"x"
    near = wire.encode_record_header(HANDSHAKE, wire.DTLS1_2, 0, 1, 1) + b"y"
    assert opened(reader.open_datagram(far))
    assert opened(reader.open_datagram(near))  # a forged far-future number does not block
    assert reasons(reader.open_datagram(near)) == [DropReason.REPEATED_PLAINTEXT]


# -- holding records for keys not installed yet ---------------------------------------------


def test_records_before_their_keys_are_held_and_released_by_install_read() -> None:
    writer = RecordLayer13()
    writer.install_write(2, keys(2))
    datagram = (
        writer.seal(HANDSHAKE, b"server hello", 0)
        + writer.seal(HANDSHAKE, b"encrypted extensions")
        + writer.seal(HANDSHAKE, b"certificate")
    )
    reader = RecordLayer13()
    assert opened(reader.open_datagram(datagram)) == [(0, 0, HANDSHAKE, b"server hello")]
    assert reader.held_records == 2 and reader.held_bytes > 0
    held = reader.install_read(2, keys(2))
    assert reader.held_records == 0 and reader.held_bytes == 0
    assert [opened(reader.open_held(raw)) for raw in held] == [
        [(2, 0, HANDSHAKE, b"encrypted extensions")],
        [(2, 1, HANDSHAKE, b"certificate")],
    ]


def test_held_records_wait_for_their_own_epoch() -> None:
    writer = RecordLayer13()
    writer.install_write(2, keys(2))
    writer.install_write(3, keys(3))
    reader = RecordLayer13()
    assert reader.open_datagram(writer.seal(APPLICATION_DATA, b"early data", 3)) == []
    assert reader.install_read(2, keys(2)) == []
    [raw] = reader.install_read(3, keys(3))
    assert opened(reader.open_held(raw)) == [(3, 0, APPLICATION_DATA, b"early data")]


def test_holding_is_bounded_and_ends_with_discard_held() -> None:
    writer = RecordLayer13()
    writer.install_write(2, keys(2))
    reader = RecordLayer13(max_held_records=2, max_held_bytes=10_000)
    records = [writer.seal(HANDSHAKE, bytes(50)) for _ in range(3)]
    assert reader.open_datagram(records[0]) == []
    assert reader.open_datagram(records[1]) == []
    assert reasons(reader.open_datagram(records[2])) == [DropReason.EARLY_BUFFER_FULL]
    small = RecordLayer13(max_held_bytes=100)
    assert small.open_datagram(records[0]) == []
    assert reasons(small.open_datagram(records[1])) == [DropReason.EARLY_BUFFER_FULL]
    reader.discard_held()
    assert reader.held_records == 0
    assert reasons(reader.open_datagram(records[2])) == [DropReason.NO_KEYS_FOR_EPOCH_BITS]


def test_holding_draws_on_the_endpoint_budget() -> None:
    writer = RecordLayer13()
    writer.install_write(2, keys(2))
    record = writer.seal(HANDSHAKE, bytes(50))
    budget = BufferBudget(len(record))
    reader = RecordLayer13(budget=budget)
    assert reader.open_datagram(record) == []
    assert reasons(reader.open_datagram(record)) == [DropReason.ENDPOINT_EARLY_BUFFER_FULL]
    reader.install_read(2, keys(2))
    assert budget.take(len(record))  # given back on release


# -- drops ----------------------------------------------------------------------------------


@pytest.mark.parametrize("first", [20, 23, 24, 25, 0, 64, 255])
def test_other_first_bytes_are_rejected_with_the_rest_of_the_datagram(first: int) -> None:
    # V3, RFC 9147 §4.1: "rejected as if it had failed deprotection".
    writer, reader = pair(2)
    good = writer.seal(HANDSHAKE, b"fine")
    bad = wire.encode_record_header(first, wire.DTLS1_2, 0, 0, 1) + b"x"
    items = reader.open_datagram(good + bad + good)
    assert reasons(items) == [None, DropReason.NOT_A_DTLS13_RECORD]
    assert isinstance(items[1], Drop) and items[1].offset == len(good)


def test_plaintext_outside_epoch_0_is_dropped() -> None:  # V1
    reader = RecordLayer13()
    record = wire.encode_record_header(HANDSHAKE, wire.DTLS1_2, 2, 0, 1) + b"x"
    assert reasons(reader.open_datagram(record)) == [DropReason.PLAINTEXT_OUTSIDE_EPOCH_0]


def test_plaintext_is_refused_once_epoch_0_is_discarded() -> None:
    reader = RecordLayer13()
    reader.discard_read(0)
    assert not reader.has_read_epoch(0)
    record = RecordLayer13().seal(ALERT, b"\x02\x28")
    assert reasons(reader.open_datagram(record)) == [DropReason.NO_KEYS]


def test_an_overlong_plaintext_record_is_dropped() -> None:
    reader = RecordLayer13()
    record = wire.encode_record_header(HANDSHAKE, wire.DTLS1_2, 0, 0, 2**14 + 1) + bytes(2**14 + 1)
    assert reasons(reader.open_datagram(record)) == [DropReason.RECORD_TOO_LONG]


@pytest.mark.parametrize(
    ("tail", "reason"),
    [
        (b"\x2e", DropReason.TRUNCATED_UNIFIED_SEQUENCE_NUMBER),  # S set, no sequence bytes
        (b"\x2e\x00\x01\x00", DropReason.TRUNCATED_UNIFIED_LENGTH),
        (b"\x2e\x00\x01\x00\x20" + bytes(5), DropReason.RECORD_OVERRUNS_DATAGRAM),
        (b"\x3e\x00\x01", DropReason.UNIFIED_CID_NOT_NEGOTIATED),  # C without a CID
        (b"\x16\xfe\xfd\x00", DropReason.TRUNCATED_RECORD_HEADER),
        (b"\x2e\x00\x01\x00\x05" + bytes(5), DropReason.SHORTER_THAN_SEQUENCE_SAMPLE),
    ],
)
def test_malformed_records_after_good_ones(tail: bytes, reason: DropReason) -> None:  # X18
    writer, reader = pair(2)
    good = writer.seal(HANDSHAKE, b"fine")
    assert reasons(reader.open_datagram(good + tail)) == [None, reason]


def test_a_bad_tag_drops_only_its_record() -> None:
    writer, reader = pair(3)
    first = writer.seal(APPLICATION_DATA, b"one")
    forged = bytearray(writer.seal(APPLICATION_DATA, b"two"))
    forged[-3] ^= 0x40
    last = writer.seal(APPLICATION_DATA, b"three")
    items = reader.open_datagram(first + bytes(forged) + last)
    assert reasons(items) == [None, DropReason.BAD_TAG, None]
    assert reader.failed_decryptions(3) == 1


def test_records_of_an_unknown_epoch_are_dropped_once_holding_ends() -> None:
    writer, reader = pair(2)
    writer.install_write(3, keys(3))
    reader.discard_held()
    assert reasons(reader.open_datagram(writer.seal(APPLICATION_DATA, b"x"))) == [
        DropReason.NO_KEYS_FOR_EPOCH_BITS
    ]


def test_keys_of_another_epoch_with_the_right_bits_fail_authentication() -> None:  # V16
    writer = RecordLayer13()
    writer.install_write(7, keys(7))
    reader = RecordLayer13()
    reader.install_read(3, keys(3))
    assert reasons(reader.open_datagram(writer.seal(APPLICATION_DATA, b"x"))) == [
        DropReason.BAD_TAG
    ]


def test_empty_datagram() -> None:
    assert RecordLayer13().open_datagram(b"") == []
    assert wire.split_datagram13(b"") == []


# -- AEAD limits (RFC 9147 §4.5.3, SPEC V7) -------------------------------------------------


def test_the_default_limits_follow_rfc_8446_and_rfc_9147() -> None:
    gcm = AEAD_LIMITS[Suite13.TLS_AES_128_GCM_SHA256]
    assert gcm == AEAD_LIMITS[Suite13.TLS_AES_256_GCM_SHA384]
    assert gcm.confidentiality == int(2**24.5) and gcm.integrity == 2**36
    assert AEAD_LIMITS[Suite13.TLS_CHACHA20_POLY1305_SHA256].integrity == 2**36
    assert AEAD_LIMITS[Suite13.TLS_AES_128_CCM_SHA256] == AeadLimits(2**23, int(2**23.5))
    assert AEAD_LIMITS[Suite13.TLS_AES_128_CCM_8_SHA256] == AeadLimits(2**23, 2**7)
    assert set(AEAD_LIMITS) == set(Suite13)


def small_limits(confidentiality: int, integrity: int) -> dict[int, AeadLimits]:
    return {int(suite): AeadLimits(confidentiality, integrity) for suite in Suite13}


def test_sealing_is_counted_and_refused_at_the_limit() -> None:  # V7
    writer = RecordLayer13(aead_limits=small_limits(8, 100))
    writer.install_write(3, keys(3))
    for _ in range(5):
        writer.seal(APPLICATION_DATA, b"x")
    assert writer.sealed_records(3) == 5 and not writer.needs_key_update
    writer.seal(APPLICATION_DATA, b"x")
    assert writer.needs_key_update  # 6 of 8: three quarters
    writer.seal(APPLICATION_DATA, b"x")
    writer.seal(APPLICATION_DATA, b"x")
    with pytest.raises(AeadLimitReached):
        writer.seal(APPLICATION_DATA, b"x")
    assert issubclass(AeadLimitReached, SequenceNumberExhausted)
    writer.install_write(4, keys(4))  # the KeyUpdate: a fresh count
    assert not writer.needs_key_update and writer.sealed_records(4) == 0
    writer.seal(APPLICATION_DATA, b"x")
    assert writer.sealed_records(0) == 0  # plaintext is not counted


def forgery(writer: RecordLayer13, epoch: int) -> bytes:
    record = bytearray(writer.seal(APPLICATION_DATA, b"forged", epoch))
    record[-1] ^= 0x01
    return bytes(record)


def test_failed_decryptions_are_counted_per_key_and_end_the_newest_key() -> None:  # V7
    writer = RecordLayer13()
    writer.install_write(3, keys(3))
    writer.install_write(4, keys(4))
    reader = RecordLayer13(aead_limits=small_limits(1000, 4))
    reader.install_read(3, keys(3))
    reader.install_read(4, keys(4))
    for _ in range(3):
        reader.open_datagram(forgery(writer, 4))
    assert reader.failed_decryptions(4) == 3 and reader.needs_key_update
    assert reader.failed_decryptions(3) == 0
    reader.open_datagram(forgery(writer, 4))
    assert not reader.integrity_limit_exceeded
    assert reasons(reader.open_datagram(forgery(writer, 4))) == [DropReason.AEAD_INTEGRITY_LIMIT]
    assert reader.integrity_limit_exceeded and not reader.has_read_epoch(4)


def test_an_old_key_past_its_forgery_limit_is_dropped_without_closing() -> None:
    writer = RecordLayer13()
    writer.install_write(3, keys(3))
    writer.install_write(4, keys(4))
    reader = RecordLayer13(aead_limits=small_limits(1000, 1))
    reader.install_read(3, keys(3))
    reader.install_read(4, keys(4))
    reader.open_datagram(forgery(writer, 3))
    assert reasons(reader.open_datagram(forgery(writer, 3))) == [DropReason.AEAD_INTEGRITY_LIMIT]
    assert not reader.integrity_limit_exceeded
    assert not reader.has_read_epoch(3) and reader.has_read_epoch(4)


def test_malformed_records_do_not_count_as_forgeries() -> None:
    _, reader = pair(3)
    reader.open_datagram(b"\x2f\x00\x01\x00\x05" + bytes(5))
    assert reader.failed_decryptions(3) == 0


def test_a_suite_without_limits_is_refused() -> None:
    layer = RecordLayer13(aead_limits={})
    with pytest.raises(ValueError):
        layer.install_write(3, keys(3))


def test_epoch_0_sequence_numbers_stop_at_48_bits() -> None:
    writer = RecordLayer13()
    writer._write[0].next_sequence_number = wire.MAX_SEQUENCE_NUMBER + 1
    with pytest.raises(SequenceNumberExhausted):
        writer.seal(HANDSHAKE, b"x")


def test_the_record_number_of_an_opened_record() -> None:
    writer, reader = pair(2)
    writer.seal(HANDSHAKE, b"a")
    [item] = reader.open_datagram(writer.seal(HANDSHAKE, b"b"))
    assert isinstance(item, Opened13) and item.record_number == (2, 1)


def cid_keys(epoch: int, cid: bytes) -> RecordProtection13:
    n = 16
    return RecordProtection13(
        Suite13.TLS_AES_128_GCM_SHA256,
        key=bytes(range(n)),
        iv=bytes(12),
        sn_key=bytes(range(1, n + 1)),
        epoch=epoch,
        connection_id=cid,
    )


def test_connection_ids_frame_and_another_associations_cid_ends_the_datagram() -> None:
    # RFC 9147 §4: "If the second or later record has a connection ID which does not
    # correspond to the same association ..., the rest of the datagram MUST be discarded."
    ours, theirs = b"\x01\x02\x03", b"\x09\x09\x09"
    writer = RecordLayer13()
    writer.install_write(3, cid_keys(3, ours))
    other = RecordLayer13()
    other.install_write(3, cid_keys(3, theirs))
    reader = RecordLayer13()
    reader.receive_cid = ours
    reader.install_read(3, cid_keys(3, ours))
    good = writer.seal(APPLICATION_DATA, b"ours")
    assert good[0] & 0x10 and good[1:4] == ours
    assert writer.overhead() == 6 + 3 + 16
    foreign = other.seal(APPLICATION_DATA, b"theirs")
    items = reader.open_datagram(good + foreign + writer.seal(APPLICATION_DATA, b"more"))
    assert reasons(items) == [None, DropReason.UNKNOWN_CID]
    plain = RecordLayer13()
    plain.install_write(3, keys(3))
    assert reasons(reader.open_datagram(plain.seal(APPLICATION_DATA, b"no cid"))) == [
        DropReason.MISSING_CID
    ]
