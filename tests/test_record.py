"""Tests for aiodtls.record: header codec, AES-GCM protection and the record layer.

Covers the record-layer rows of SPEC §1.1–1.2 (R1–R6, R9, A1–A3) and the malformed-record and
replay attacks X6, X12, X18, X27. Wire bytes are checked against an independent AES-GCM
computation with ``cryptography`` directly.
"""

from __future__ import annotations

import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from aiodtls.drops import AUTHENTICATION_FAILURES, Drop, DropReason
from aiodtls.record.header import (
    DTLS1_0,
    DTLS1_2,
    MAX_CIPHERTEXT_LENGTH,
    MAX_PLAINTEXT_LENGTH,
    RECORD_HEADER_LENGTH,
    ContentType,
    RawRecord,
    encode_record_header,
    split_datagram,
)
from aiodtls.record.layer import OpenedRecord, RecordLayer, SequenceNumberExhausted
from aiodtls.record.protection import (
    AesGcmProtection,
    NullProtection,
    RecordProtectionError,
)

KEY_128 = bytes(range(16))
KEY_256 = bytes(range(32))
SALT = b"\x0a\x0b\x0c\x0d"
HANDSHAKE = ContentType.handshake
APPLICATION_DATA = ContentType.application_data


def raw(
    content_type: int = HANDSHAKE,
    body: bytes = b"hello",
    *,
    epoch: int = 0,
    seq: int = 0,
    version: int = DTLS1_2,
) -> RawRecord:
    """A record as split_datagram would yield it."""
    return RawRecord(content_type, version, epoch, seq, body)


def wire(
    content_type: int,
    body: bytes,
    *,
    epoch: int = 0,
    seq: int = 0,
    version: int = DTLS1_2,
    length: int | None = None,
) -> bytes:
    """A record built with struct, independent of encode_record_header."""
    return (
        struct.pack("!BHH", content_type, version, epoch)
        + seq.to_bytes(6, "big")
        + struct.pack("!H", len(body) if length is None else length)
        + body
    )


def only_record(datagram: bytes) -> RawRecord:
    """The single record of ``datagram``."""
    records = list(split_datagram(datagram))
    assert len(records) == 1
    record = records[0]
    assert isinstance(record, RawRecord)
    return record


def gcm_pair(key: bytes = KEY_128, epoch: int = 1) -> tuple[RecordLayer, RecordLayer]:
    """A sender whose write epoch is ``epoch`` and a receiver that can read it."""
    sender = RecordLayer()
    sender.install_write(epoch, AesGcmProtection(key, SALT))
    sender.write_epoch = epoch
    receiver = RecordLayer()
    assert receiver.install_read(epoch, AesGcmProtection(key, SALT)) == []
    return sender, receiver


def open_ok(layer: RecordLayer, record: RawRecord) -> OpenedRecord:
    """Open ``record`` and insist that it was delivered."""
    opened = layer.open(record)
    assert isinstance(opened, OpenedRecord), opened
    return opened


def authentication_failed(result: OpenedRecord | Drop | None) -> bool:
    """``result`` is the drop of a record that did not authenticate (counted apart, R8)."""
    return isinstance(result, Drop) and result.authentication_failed


# -- header codec (R1, R4, X18) --------------------------------------------------------------


def test_header_layout_is_13_bytes_big_endian() -> None:
    """type, version, epoch(16), seq(48), length(16) (R1)."""
    header = encode_record_header(22, DTLS1_2, 0x0102, 0x030405060708, 0x090A)
    assert len(header) == RECORD_HEADER_LENGTH == 13
    assert header == bytes.fromhex("16fefd0102030405060708090a")


def test_header_matches_independent_encoding() -> None:
    """encode_record_header agrees with a struct-built header (R1)."""
    body = b"abc"
    expected = wire(23, body, epoch=7, seq=(1 << 48) - 1, version=DTLS1_0)
    assert encode_record_header(23, DTLS1_0, 7, (1 << 48) - 1, 3) + body == expected


@given(
    content_type=st.integers(0, 255),
    version=st.integers(0, 0xFFFF),
    epoch=st.integers(0, 0xFFFF),
    seq=st.integers(0, (1 << 48) - 1),
    body=st.binary(max_size=40),
)
@settings(max_examples=100)
def test_header_encode_split_round_trip(
    content_type: int, version: int, epoch: int, seq: int, body: bytes
) -> None:
    """split_datagram(encode_record_header(...) + body) gives back every field (R1)."""
    datagram = encode_record_header(content_type, version, epoch, seq, len(body)) + body
    record = only_record(datagram)
    assert record == RawRecord(content_type, version, epoch, seq, body)
    assert record.header == datagram[:13]


def test_several_records_in_one_datagram_are_all_returned() -> None:
    """Every record in a datagram is processed, in order (R4)."""
    datagram = (
        wire(22, b"first", seq=1)
        + wire(20, b"\x01", seq=2)
        + wire(23, b"", epoch=1, seq=0)
        + wire(21, b"\x02\x28", epoch=1, seq=1)
    )
    records = list(split_datagram(datagram))
    assert records == [
        RawRecord(22, DTLS1_2, 0, 1, b"first"),
        RawRecord(20, DTLS1_2, 0, 2, b"\x01"),
        RawRecord(23, DTLS1_2, 1, 0, b""),
        RawRecord(21, DTLS1_2, 1, 1, b"\x02\x28"),
    ]


def test_empty_datagram_has_no_records() -> None:
    """Nothing in, nothing out."""
    assert list(split_datagram(b"")) == []


@pytest.mark.parametrize("size", [1, 5, 11, 12])
def test_truncated_header_is_dropped(size: int) -> None:
    """Fewer than 13 bytes cannot be a record (R4, X18)."""
    records = list(split_datagram(wire(22, b"body")[:size]))
    assert len(records) == 1
    assert isinstance(records[0], Drop)


def test_length_overrunning_datagram_is_dropped() -> None:
    """A length past the end of the datagram: the record is dropped, not read short (R4)."""
    records = list(split_datagram(wire(22, b"body", length=5)))
    assert len(records) == 1
    assert isinstance(records[0], Drop)


def test_good_record_then_trailing_garbage() -> None:
    """The good record is used, the garbage after it dropped (X18)."""
    good = wire(22, b"good", seq=3)
    for garbage in (b"\x00", b"\x16\xfe\xfd\x00", bytes(12)):
        records = list(split_datagram(good + garbage))
        assert records[0] == RawRecord(22, DTLS1_2, 0, 3, b"good")
        assert len(records) == 2
        assert isinstance(records[1], Drop)


def test_good_record_then_overrunning_record() -> None:
    """A second record whose length overruns drops only itself and what follows (R4, X18)."""
    good = wire(22, b"good")
    records = list(split_datagram(good + wire(22, b"abc", length=100) + wire(22, b"late")))
    assert records[0] == RawRecord(22, DTLS1_2, 0, 0, b"good")
    assert len(records) == 2
    assert isinstance(records[1], Drop)


@given(st.binary(max_size=200))
@settings(max_examples=200)
def test_split_datagram_never_raises(data: bytes) -> None:
    """Arbitrary bytes give records, then at most one drop at the end (R4, X18)."""
    items = list(split_datagram(data))
    consumed = 0
    for i, item in enumerate(items):
        if isinstance(item, Drop):
            assert i == len(items) - 1
        else:
            consumed += RECORD_HEADER_LENGTH + len(item.fragment)
    assert consumed <= len(data)
    if items and not isinstance(items[-1], Drop):
        assert consumed == len(data)


# -- AES-GCM protection (R6) -----------------------------------------------------------------


@pytest.mark.parametrize("key", [KEY_128, KEY_256], ids=["aes128", "aes256"])
def test_gcm_round_trip_and_explicit_nonce_is_epoch_and_seq(key: bytes) -> None:
    """Seal then open gives the plaintext; the 8-byte explicit nonce is epoch‖seq (R6)."""
    sender, receiver = gcm_pair(key)
    sender.skip_write_sequence_numbers(1, 0x0000A1B2C3D4)
    datagram = sender.seal(APPLICATION_DATA, b"secret payload")
    record = only_record(datagram)
    assert (record.epoch, record.sequence_number) == (1, 0xA1B2C3D4)
    epoch_seq = bytes.fromhex("00010000a1b2c3d4")
    assert record.fragment[:8] == epoch_seq
    assert len(record.fragment) == 8 + len(b"secret payload") + 16
    opened = open_ok(receiver, record)
    assert opened == OpenedRecord(APPLICATION_DATA, 1, 0xA1B2C3D4, b"secret payload")


@pytest.mark.parametrize("key", [KEY_128, KEY_256], ids=["aes128", "aes256"])
def test_gcm_wire_bytes_match_independent_aead(key: bytes) -> None:
    """nonce = salt‖epoch‖seq, AAD = epoch‖seq‖type‖version‖length (RFC 5288, R6)."""
    sender, _ = gcm_pair(key)
    sender.seal(APPLICATION_DATA, b"x")  # move to sequence number 1
    plaintext = b"independent check"
    record = only_record(sender.seal(APPLICATION_DATA, plaintext))
    epoch_seq = (1 << 48 | 1).to_bytes(8, "big")
    aad = epoch_seq + bytes((23, 0xFE, 0xFD)) + len(plaintext).to_bytes(2, "big")
    expected = AESGCM(key).encrypt(SALT + epoch_seq, plaintext, aad)
    assert record.fragment == epoch_seq + expected


def test_gcm_protection_rejects_bad_salt_and_short_records() -> None:
    """The salt is 4 bytes; a fragment shorter than nonce + tag cannot authenticate (R8)."""
    with pytest.raises(ValueError):
        AesGcmProtection(KEY_128, b"abc")
    protection = AesGcmProtection(KEY_128, SALT)
    assert protection.overhead == 24
    epoch_seq = bytes(8)
    for size in (0, 8, 23):
        with pytest.raises(RecordProtectionError):
            protection.open(epoch_seq, 23, DTLS1_2, bytes(size))
    sealed = protection.seal(epoch_seq, 23, DTLS1_2, b"")
    assert len(sealed) == 24
    assert protection.open(epoch_seq, 23, DTLS1_2, sealed) == b""


def test_null_protection_is_identity() -> None:
    """Epoch 0 carries plaintext with no expansion."""
    null = NullProtection()
    assert null.overhead == 0
    assert null.seal(bytes(8), 22, DTLS1_2, b"abc") == b"abc"
    assert null.open(bytes(8), 22, DTLS1_2, b"abc") == b"abc"


def test_overhead_per_epoch() -> None:
    """Header only at epoch 0; header + nonce + tag under GCM (P1)."""
    sender, _ = gcm_pair()
    assert sender.overhead(0) == 13
    assert sender.overhead(1) == 13 + 24
    assert sender.overhead() == 13 + 24
    sealed = sender.seal(APPLICATION_DATA, b"12345")
    assert len(sealed) == 5 + sender.overhead()


# -- tampering (R8) -------------------------------------------------------------------------


def test_tampering_with_any_byte_is_never_accepted_under_the_keys() -> None:
    """Flip any byte of header or body: never delivered as an epoch-1 record (R8).

    Flipping epoch bits may turn it into an epoch-0 (plaintext) record, a held next-epoch
    record or an unknown epoch; none of them is an authenticated record.
    """
    sender, _ = gcm_pair()
    plaintext = b"do not touch"
    datagram = sender.seal(APPLICATION_DATA, plaintext)
    for position in range(len(datagram)):
        for mask in (0x01, 0x80, 0xFF):
            tampered = bytearray(datagram)
            tampered[position] ^= mask
            _, receiver = gcm_pair()
            for item in split_datagram(bytes(tampered)):
                if isinstance(item, Drop):
                    continue
                opened = receiver.open(item)
                if isinstance(opened, Drop):
                    continue
                assert opened is None or opened.epoch == 0, (position, mask)
                assert opened is None or opened.payload != plaintext


@pytest.mark.parametrize("position", [0, 5, 10, 13, 20, -17, -1])
def test_tampering_with_body_seq_or_type_fails_authentication(position: int) -> None:
    """Body bytes, the header's sequence number and a known type are all authenticated (R6)."""
    sender, receiver = gcm_pair()
    datagram = bytearray(sender.seal(APPLICATION_DATA, b"authenticated"))
    if position == 0:
        datagram[0] = ContentType.handshake  # another known type: only the AAD catches it
    else:
        datagram[position] ^= 0x40
    assert authentication_failed(receiver.open(only_record(bytes(datagram))))


def test_authentication_failure_is_a_dropped_record() -> None:
    """An authentication failure is a drop like any other, told apart by its reason (R8)."""
    for reason in DropReason:
        assert Drop(reason).authentication_failed == (reason in AUTHENTICATION_FAILURES)
    assert {str(Drop(reason)) for reason in AUTHENTICATION_FAILURES} == {
        "bad record tag",
        "record shorter than nonce and tag",
        "record shorter than its protection",
        "DTLS 1.3 ciphertext shorter than the 16-byte sample",  # RFC 9147 §4.2.3
    }


def test_records_after_a_forgery_still_open() -> None:
    """A bad record does not kill the association: the next good one opens (R8)."""
    sender, receiver = gcm_pair()
    good = only_record(sender.seal(APPLICATION_DATA, b"good"))
    bad_tag = good.fragment[:-1] + bytes([good.fragment[-1] ^ 1])
    forged = RawRecord(good.content_type, good.version, 1, 0, bad_tag)
    assert authentication_failed(receiver.open(forged))
    assert open_ok(receiver, good).payload == b"good"


# -- replay (A1–A3, X6) ---------------------------------------------------------------------


def test_replayed_record_is_dropped() -> None:
    """The same record twice: the second copy is dropped (A1)."""
    sender, receiver = gcm_pair()
    record = only_record(sender.seal(APPLICATION_DATA, b"once"))
    open_ok(receiver, record)
    drop = receiver.open(record)
    assert isinstance(drop, Drop) and not drop.authentication_failed


def test_plaintext_records_have_no_replay_window() -> None:
    """Epoch 0 has no integrity, so no window an attacker could move (X6): a forged record
    with a far-future sequence number does not make the real ones "too old"."""
    layer = RecordLayer()
    open_ok(layer, raw(HANDSHAKE, b"forged", seq=(1 << 48) - 2))
    record = raw(HANDSHAKE, b"hello", seq=5)
    open_ok(layer, record)
    open_ok(layer, raw(HANDSHAKE, b"older", seq=4))
    # An exact repeat of a recent number is dropped (a duplicate or a verbatim replay).
    assert isinstance(layer.open(record), Drop)


def test_record_left_of_the_window_is_dropped() -> None:
    """A record 64 or more below the highest accepted is dropped (A1)."""
    sender, receiver = gcm_pair()
    old = only_record(sender.seal(APPLICATION_DATA, b"old"))
    sender.skip_write_sequence_numbers(1, 100)
    open_ok(receiver, only_record(sender.seal(APPLICATION_DATA, b"new")))
    assert isinstance(receiver.open(old), Drop)


def test_reordered_records_inside_the_window_are_accepted() -> None:
    """Records within the window may arrive in any order (A1)."""
    sender, receiver = gcm_pair()
    records = [only_record(sender.seal(APPLICATION_DATA, bytes([i]))) for i in range(5)]
    for i in (4, 0, 3, 1, 2):
        assert open_ok(receiver, records[i]).payload == bytes([i])


def test_replay_protection_can_be_switched_off() -> None:
    """With replay_protection=False duplicates are delivered (A3)."""
    layer = RecordLayer(replay_protection=False)
    record = raw(HANDSHAKE, b"again", seq=1)
    open_ok(layer, record)
    assert open_ok(layer, record).payload == b"again"


def test_forged_far_future_record_does_not_move_the_window() -> None:
    """seq 2^48-2 with a garbage tag is dropped and later records still open (A2, X6)."""
    sender, receiver = gcm_pair()
    far = (1 << 48) - 2
    forged = raw(APPLICATION_DATA, (1 << 48 | far).to_bytes(8, "big") + bytes(32), epoch=1, seq=far)
    assert authentication_failed(receiver.open(forged))
    for i in range(3):
        record = only_record(sender.seal(APPLICATION_DATA, bytes([i])))
        assert open_ok(receiver, record).sequence_number == i


def test_forged_next_epoch_record_does_not_block_that_epoch() -> None:
    """A forged next-epoch record is held, fails once keys arrive, and blocks nothing (X6)."""
    receiver = RecordLayer()
    forged = raw(APPLICATION_DATA, bytes(40), epoch=1, seq=(1 << 48) - 2)
    assert receiver.open(forged) is None
    held = receiver.install_read(1, AesGcmProtection(KEY_128, SALT))
    assert held == [forged]
    assert authentication_failed(receiver.open(held[0]))
    sender, _ = gcm_pair()
    assert open_ok(receiver, only_record(sender.seal(APPLICATION_DATA, b"ok"))).payload == b"ok"


def test_window_moves_only_after_authentication() -> None:
    """A forged copy of a future seq, then the genuine one: the genuine one opens (A2)."""
    sender, receiver = gcm_pair()
    sender.skip_write_sequence_numbers(1, 10)
    genuine = only_record(sender.seal(APPLICATION_DATA, b"genuine"))
    bad_tag = genuine.fragment[:-1] + bytes([genuine.fragment[-1] ^ 1])
    forged = RawRecord(genuine.content_type, genuine.version, 1, 10, bad_tag)
    assert authentication_failed(receiver.open(forged))
    assert open_ok(receiver, genuine).payload == b"genuine"


def test_authenticated_jump_to_the_last_sequence_numbers_is_accepted() -> None:
    """A peer may skip sequence numbers; the window just slides (A1, X27).

    Regression: before 685f08a the replay window raised MemoryError out of open() here.
    """
    sender, receiver = gcm_pair()
    open_ok(receiver, only_record(sender.seal(APPLICATION_DATA, b"first")))
    sender.skip_write_sequence_numbers(1, (1 << 48) - 2)
    far = only_record(sender.seal(APPLICATION_DATA, b"far"))
    assert open_ok(receiver, far).sequence_number == (1 << 48) - 2


# -- validity checks (R1, R5) ---------------------------------------------------------------


@pytest.mark.parametrize("content_type", [0, 19, 24, ContentType.tls12_cid, ContentType.ack, 255])
def test_unknown_content_type_is_dropped(content_type: int) -> None:
    """Only CCS, alert, handshake and application data are accepted (R8, X18)."""
    assert isinstance(RecordLayer().open(raw(content_type, b"x")), Drop)


@pytest.mark.parametrize(
    "content_type",
    [ContentType.change_cipher_spec, ContentType.alert, HANDSHAKE, APPLICATION_DATA],
)
def test_known_content_types_open_at_epoch_zero(content_type: int) -> None:
    """Every known type opens as plaintext at epoch 0 (the connection judges the rest)."""
    opened = open_ok(RecordLayer(), raw(content_type, b"\x01", seq=2))
    assert opened == OpenedRecord(content_type, 0, 2, b"\x01")


def test_dtls10_version_is_accepted_at_epoch_zero_only() -> None:
    """0xFEFF is allowed on the first ClientHello/HVR, not under keys (R1)."""
    layer = RecordLayer()
    assert open_ok(layer, raw(HANDSHAKE, b"ch", version=DTLS1_0)).payload == b"ch"
    sender, receiver = gcm_pair()
    good = only_record(sender.seal(APPLICATION_DATA, b"x"))
    assert isinstance(
        receiver.open(RawRecord(good.content_type, DTLS1_0, 1, 0, good.fragment)), Drop
    )


@pytest.mark.parametrize("version", [0x0303, 0xFEFE, 0xFEFC, 0x0000, 0xFFFF])
def test_other_versions_are_dropped(version: int) -> None:
    """Anything but 0xFEFD (and 0xFEFF at epoch 0) is dropped (R1)."""
    assert isinstance(RecordLayer().open(raw(HANDSHAKE, b"x", version=version)), Drop)


def test_oversize_ciphertext_is_dropped() -> None:
    """A record longer than 2^14 + 2048 is dropped before decryption (R5)."""
    _, receiver = gcm_pair()
    too_long = raw(APPLICATION_DATA, bytes(MAX_CIPHERTEXT_LENGTH + 1), epoch=1)
    drop = receiver.open(too_long)
    assert isinstance(drop, Drop) and not drop.authentication_failed


def test_oversize_plaintext_is_dropped() -> None:
    """Plaintext over 2^14 is dropped, at epoch 0 and under keys (R5)."""
    assert isinstance(RecordLayer().open(raw(HANDSHAKE, bytes(MAX_PLAINTEXT_LENGTH + 1))), Drop)
    sender, receiver = gcm_pair()
    record = only_record(sender.seal(APPLICATION_DATA, bytes(MAX_PLAINTEXT_LENGTH + 1)))
    assert isinstance(receiver.open(record), Drop)


def test_maximum_plaintext_is_accepted() -> None:
    """Exactly 2^14 bytes of plaintext is fine (R5)."""
    sender, receiver = gcm_pair()
    record = only_record(sender.seal(APPLICATION_DATA, bytes(MAX_PLAINTEXT_LENGTH)))
    assert len(open_ok(receiver, record).payload) == MAX_PLAINTEXT_LENGTH
    assert len(open_ok(RecordLayer(), raw(HANDSHAKE, bytes(MAX_PLAINTEXT_LENGTH))).payload) == (
        MAX_PLAINTEXT_LENGTH
    )


def test_empty_record_under_keys_fails_authentication() -> None:
    """A zero-length protected record is shorter than nonce + tag (X18)."""
    _, receiver = gcm_pair()
    assert authentication_failed(receiver.open(raw(APPLICATION_DATA, b"", epoch=1)))


@given(
    content_type=st.integers(0, 255),
    version=st.sampled_from([DTLS1_2, DTLS1_0, 0x0303, 0]),
    epoch=st.integers(0, 4),
    seq=st.integers(0, (1 << 48) - 1),
    body=st.binary(max_size=80),
)
@settings(max_examples=200)
def test_open_never_raises(
    content_type: int, version: int, epoch: int, seq: int, body: bytes
) -> None:
    """Arbitrary records are opened, held or dropped; nothing else escapes (R8)."""
    _, receiver = gcm_pair()
    opened = receiver.open(raw(content_type, body, epoch=epoch, seq=seq, version=version))
    assert opened is None or isinstance(opened, (OpenedRecord, Drop))


# -- epochs (R9, X12, F5) --------------------------------------------------------------------


def test_next_epoch_records_are_held_and_returned_by_install_read() -> None:
    """Records of epoch+1 wait for their keys, then open in arrival order (R9, X12)."""
    sender, _ = gcm_pair()
    first = only_record(sender.seal(HANDSHAKE, b"finished"))
    second = only_record(sender.seal(APPLICATION_DATA, b"early data"))
    receiver = RecordLayer()
    assert receiver.open(second) is None
    assert receiver.open(first) is None
    assert receiver.early_bytes == 2 * RECORD_HEADER_LENGTH + len(first.fragment) + len(
        second.fragment
    )
    assert not receiver.has_read_epoch(1)
    held = receiver.install_read(1, AesGcmProtection(KEY_128, SALT))
    assert receiver.has_read_epoch(1)
    assert held == [second, first]
    assert receiver.early_bytes == 0
    assert [open_ok(receiver, r).payload for r in held] == [b"early data", b"finished"]


def test_duplicate_held_record_is_dropped_after_install() -> None:
    """A held record that arrived twice is delivered once (R9, X7)."""
    sender, _ = gcm_pair()
    record = only_record(sender.seal(APPLICATION_DATA, b"dup"))
    receiver = RecordLayer()
    assert receiver.open(record) is None
    assert receiver.open(record) is None
    first, again = receiver.install_read(1, AesGcmProtection(KEY_128, SALT))
    assert open_ok(receiver, first).payload == b"dup"
    assert isinstance(receiver.open(again), Drop)


def test_epoch_plus_two_is_dropped() -> None:
    """Only the next epoch is held; epoch + 2 and beyond are dropped (R9, X8)."""
    receiver = RecordLayer()
    for epoch in (2, 3, 0xFFFF):
        assert isinstance(receiver.open(raw(APPLICATION_DATA, bytes(30), epoch=epoch)), Drop)
    assert receiver.early_bytes == 0
    receiver.install_read(1, AesGcmProtection(KEY_128, SALT))
    assert receiver.open(raw(APPLICATION_DATA, bytes(30), epoch=2)) is None
    assert isinstance(receiver.open(raw(APPLICATION_DATA, bytes(30), epoch=3)), Drop)


def test_old_epoch_records_still_open_after_install() -> None:
    """Epoch-0 records (a retransmitted flight) keep opening after epoch 1 is installed (R9)."""
    layer = RecordLayer()
    layer.install_read(1, AesGcmProtection(KEY_128, SALT))
    assert open_ok(layer, raw(HANDSHAKE, b"retransmit", seq=9)).epoch == 0


def test_early_buffer_is_capped() -> None:
    """Held next-epoch records never exceed max_early_bytes (F5)."""
    receiver = RecordLayer(max_early_bytes=200)
    accepted = 0
    for seq in range(10):
        opened = receiver.open(raw(APPLICATION_DATA, bytes(50), epoch=1, seq=seq))
        if opened is None:
            accepted += 1
        else:
            assert isinstance(opened, Drop) and str(opened) == "early-epoch buffer full"
        assert receiver.early_bytes <= 200
    assert accepted == 200 // (50 + RECORD_HEADER_LENGTH)
    assert receiver.early_bytes == accepted * (50 + RECORD_HEADER_LENGTH)


def test_discard_early_frees_held_records() -> None:
    """discard_early empties the buffer; later installs return nothing (F5, X3)."""
    receiver = RecordLayer()
    assert receiver.open(raw(APPLICATION_DATA, bytes(50), epoch=1)) is None
    receiver.discard_early()
    assert receiver.early_bytes == 0
    assert receiver.install_read(1, AesGcmProtection(KEY_128, SALT)) == []


# -- sending sequence numbers (R2, R3, X27) -------------------------------------------------


def test_sequence_numbers_start_at_zero_and_rise_per_record() -> None:
    """Each seal takes the next number; a resent payload gets a fresh one (R2, T5)."""
    layer = RecordLayer()
    seqs = [only_record(layer.seal(HANDSHAKE, b"same")).sequence_number for _ in range(4)]
    assert seqs == [0, 1, 2, 3]
    assert layer.next_sequence_number(0) == 4


def test_sequence_numbers_restart_in_each_epoch() -> None:
    """A new epoch starts at 0; the old epoch keeps counting where it was (R2, T5)."""
    layer, _ = gcm_pair()
    for _ in range(3):
        layer.seal(HANDSHAKE, b"epoch 0", epoch=0)
    new_epoch = only_record(layer.seal(HANDSHAKE, b"finished"))
    assert (new_epoch.epoch, new_epoch.sequence_number) == (1, 0)
    retransmit = only_record(layer.seal(HANDSHAKE, b"epoch 0 again", epoch=0))
    assert (retransmit.epoch, retransmit.sequence_number) == (0, 3)
    assert layer.next_sequence_number(1) == 1


def test_skip_write_sequence_numbers_only_moves_forward() -> None:
    """Skipping never lowers the next number, so numbers never repeat (R2)."""
    layer = RecordLayer()
    layer.skip_write_sequence_numbers(0, 10)
    assert only_record(layer.seal(HANDSHAKE, b"x")).sequence_number == 10
    layer.skip_write_sequence_numbers(0, 5)
    assert layer.next_sequence_number(0) == 11
    assert only_record(layer.seal(HANDSHAKE, b"y")).sequence_number == 11


def test_sequence_number_exhaustion_at_2_48() -> None:
    """2^48-1 is the last number; the next seal raises instead of wrapping (R3, X27)."""
    layer, receiver = gcm_pair()
    layer.skip_write_sequence_numbers(1, (1 << 48) - 1)
    last = only_record(layer.seal(APPLICATION_DATA, b"last"))
    assert last.sequence_number == (1 << 48) - 1
    assert open_ok(receiver, last).payload == b"last"
    with pytest.raises(SequenceNumberExhausted):
        layer.seal(APPLICATION_DATA, b"one too many")
    with pytest.raises(SequenceNumberExhausted):
        layer.seal(APPLICATION_DATA, b"still no")
    assert layer.next_sequence_number(0) == 0  # other epochs are unaffected
