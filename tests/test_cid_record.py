"""Connection ID records (RFC 9146 §4, §5.3): record.cid and its use in record.layer (I2–I4)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from aiodtls.alerts import AlertUnexpectedMessage
from aiodtls.drops import Drop, DropReason
from aiodtls.record.cid import (
    TLS12_CID,
    cid_additional_data,
    decode_inner_plaintext,
    encode_inner_plaintext,
    peek_cid,
)
from aiodtls.record.header import DTLS1_2, ContentType, RawRecord, split_datagram
from aiodtls.record.layer import OpenedRecord, RecordLayer
from aiodtls.record.protection import AesGcmProtection

KEY = bytes(range(16))
SALT = b"\x01\x02\x03\x04"
CLIENT_CID = b"\xc1\xc2\xc3"
SERVER_CID = b"\x5e\x5e\x5e\x5e\x5e"


def cid_pair(
    sender_receives: bytes = CLIENT_CID, receiver_receives: bytes = SERVER_CID
) -> tuple[RecordLayer, RecordLayer]:
    """Two record layers at epoch 1 that negotiated CIDs: sender -> receiver."""
    sender, receiver = RecordLayer(), RecordLayer()
    sender.install_write(1, AesGcmProtection(KEY, SALT))
    sender.write_epoch = 1
    receiver.install_read(1, AesGcmProtection(KEY, SALT))
    sender.use_connection_ids(sender_receives, receiver_receives)
    receiver.use_connection_ids(receiver_receives, sender_receives)
    return sender, receiver


def records(datagram: bytes, cid_length: int) -> list[RawRecord]:
    items = list(split_datagram(datagram, cid_length))
    assert all(isinstance(i, RawRecord) for i in items), items
    return [i for i in items if isinstance(i, RawRecord)]


def test_aad_layout_is_rfc_9146_section_5_3() -> None:  # I4
    epoch_seq = bytes.fromhex("0001000000000007")
    aad = cid_additional_data(DTLS1_2, epoch_seq, b"\xaa\xbb", 300)
    assert aad == (
        b"\xff" * 8  # seq_num_placeholder
        + b"\x19\x02\x19"  # tls12_cid, cid_length, tls12_cid
        + b"\xfe\xfd"  # version
        + epoch_seq
        + b"\xaa\xbb"  # cid
        + b"\x01\x2c"  # length_of_DTLSInnerPlaintext
    )


def test_inner_plaintext_is_content_type_zeros() -> None:  # I2
    inner = encode_inner_plaintext(b"data\x00", ContentType.application_data, padding=3)
    assert inner == b"data\x00\x17\x00\x00\x00"
    assert decode_inner_plaintext(inner) == (ContentType.application_data, b"data\x00")
    assert decode_inner_plaintext(b"\x00\x00") is None
    assert decode_inner_plaintext(b"") is None


def test_sealed_cid_record_matches_an_independent_aead() -> None:  # I2, I4
    """Header = type 25, version, epoch, seq, cid, length; the AEAD binds the RFC's AAD."""
    sender, _ = cid_pair()
    datagram = sender.seal(ContentType.application_data, b"hello")
    epoch_seq = (1 << 48).to_bytes(8, "big")
    assert datagram[:11] == bytes((TLS12_CID,)) + b"\xfe\xfd" + epoch_seq
    assert datagram[11:16] == SERVER_CID  # the peer's CID, no length byte (I3)
    length = int.from_bytes(datagram[16:18], "big")
    body = datagram[18:]
    assert len(body) == length == 8 + len(b"hello") + 1 + 16
    inner = b"hello\x17"
    aad = b"\xff" * 8 + bytes((25, 5, 25)) + b"\xfe\xfd" + epoch_seq + SERVER_CID + b"\x00\x06"
    assert body == epoch_seq + AESGCM(KEY).encrypt(SALT + epoch_seq, inner, aad)


def test_cid_records_round_trip_and_hide_the_type() -> None:  # I2
    sender, receiver = cid_pair()
    for content_type, payload in [(ContentType.alert, b"\x01\x00"), (ContentType.handshake, b"")]:
        (record,) = records(sender.seal(content_type, payload), len(SERVER_CID))
        assert (record.content_type, record.cid) == (TLS12_CID, SERVER_CID)
        opened = receiver.open(record)
        assert isinstance(opened, OpenedRecord)
        assert (opened.content_type, opened.payload) == (content_type, payload)


def test_overhead_counts_the_cid_and_the_inner_type() -> None:  # I2
    sender, _ = cid_pair()
    assert sender.overhead() == 13 + 24 + len(SERVER_CID) + 1
    assert sender.overhead(0) == 13
    assert len(sender.seal(ContentType.application_data, bytes(sender.max_payload(200)))) == 200


def test_epoch_0_records_never_carry_a_cid() -> None:  # I2
    sender, _ = cid_pair()
    datagram = sender.seal(ContentType.handshake, b"hello", epoch=0)
    assert datagram[0] == ContentType.handshake and len(datagram) == 13 + 5


def test_zero_length_peer_cid_sends_plain_records() -> None:  # I1, I2
    sender, receiver = cid_pair(sender_receives=CLIENT_CID, receiver_receives=b"")
    datagram = sender.seal(ContentType.application_data, b"x")
    assert datagram[0] == ContentType.application_data
    (record,) = records(datagram, 0)
    opened = receiver.open(record)
    assert isinstance(opened, OpenedRecord) and opened.payload == b"x"


def test_tls12_cid_without_negotiation_is_dropped() -> None:  # I3
    sender, _ = cid_pair()
    plain = RecordLayer()
    plain.install_read(1, AesGcmProtection(KEY, SALT))
    (record,) = records(sender.seal(ContentType.application_data, b"x"), len(SERVER_CID))
    assert plain.open(record) == Drop(DropReason.CID_NOT_NEGOTIATED)


def test_record_without_cid_where_one_is_expected_is_dropped() -> None:  # I3
    _, receiver = cid_pair()
    plain = RecordLayer()
    plain.install_write(1, AesGcmProtection(KEY, SALT))
    plain.write_epoch = 1
    (record,) = records(plain.seal(ContentType.application_data, b"x"), len(SERVER_CID))
    assert receiver.open(record) == Drop(DropReason.MISSING_CID)


def test_unknown_cid_is_dropped_before_decryption() -> None:  # I3
    sender, receiver = cid_pair()
    data = bytearray(sender.seal(ContentType.application_data, b"x"))
    data[11] ^= 0xFF
    (record,) = records(bytes(data), len(SERVER_CID))
    assert receiver.open(record) == Drop(DropReason.UNKNOWN_CID)


def test_tls12_cid_in_epoch_0_is_dropped() -> None:  # I3
    _, receiver = cid_pair()
    record = RawRecord(TLS12_CID, DTLS1_2, 0, 0, b"x" * 30, SERVER_CID)
    assert receiver.open(record) == Drop(DropReason.CID_IN_EPOCH_0)


def test_cid_is_authenticated() -> None:  # I4: a record moved to another CID fails its tag
    sender, _ = cid_pair()
    other = RecordLayer()
    other.install_read(1, AesGcmProtection(KEY, SALT))
    other.use_connection_ids(b"\x5e\x5e\x5e\x5e\x5f", CLIENT_CID)
    data = bytearray(sender.seal(ContentType.application_data, b"x"))
    data[15] = 0x5F
    (record,) = records(bytes(data), 5)
    assert other.open(record) == Drop(DropReason.BAD_TAG)


def test_inner_plaintext_without_type_is_unexpected_message() -> None:  # RFC 9146 §4
    _, receiver = cid_pair()
    epoch_seq = (1 << 48).to_bytes(8, "big")
    inner = b"\x00\x00\x00"
    aad = cid_additional_data(DTLS1_2, epoch_seq, SERVER_CID, len(inner))
    body = epoch_seq + AESGCM(KEY).encrypt(SALT + epoch_seq, inner, aad)
    record = RawRecord(TLS12_CID, DTLS1_2, 1, 0, body, SERVER_CID)
    with pytest.raises(AlertUnexpectedMessage):
        receiver.open(record)


def test_newest_marks_only_records_newer_than_any_seen() -> None:  # I5
    sender, receiver = cid_pair()
    sealed = [records(sender.seal(23, bytes([i])), 5)[0] for i in range(3)]
    opened = [receiver.open(sealed[i]) for i in (0, 2, 1)]
    assert [o.newest for o in opened if isinstance(o, OpenedRecord)] == [True, True, False]


def test_split_datagram_uses_the_receivers_cid_length() -> None:  # I3
    sender, _ = cid_pair()
    datagram = sender.seal(23, b"a") + sender.seal(21, b"\x01\x00")
    assert [r.sequence_number for r in records(datagram, 5)] == [0, 1]
    assert peek_cid(datagram, 5) == SERVER_CID
    assert peek_cid(datagram, 0) is None
    assert peek_cid(datagram[:17], 5) is None
    assert peek_cid(b"\x17" + datagram[1:], 5) is None


@given(data=st.binary(max_size=80), cid_length=st.integers(0, 8))
@settings(max_examples=200, deadline=None)
def test_split_datagram_with_cid_never_raises(data: bytes, cid_length: int) -> None:  # I3
    for item in split_datagram(data, cid_length):
        assert isinstance(item, Drop | RawRecord)
