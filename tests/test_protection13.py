"""Tests for aiodtls.record.protection13: DTLS 1.3 record protection of one epoch and direction
(RFC 9147 §4, RFC 8446 §5.2-5.4).

No published DTLS 1.3 record vectors exist, so the construction is checked against the RFC
text by rebuilding one record by hand (nonce, additional data, record number mask as literal
bytes, the AEAD and AES/ChaCha20 block from ``cryptography``), the two mask primitives against
their own published vectors (FIPS-197 C.1, RFC 8439 §2.3.2), and the rest by round trips,
reconstruction edge cases and tampering.
"""

from __future__ import annotations

import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from hypothesis import assume, given
from hypothesis import strategies as st

from aiodtls import wire
from aiodtls.drops import Drop, DropReason
from aiodtls.record.protection13 import (
    MAX_INNER_PLAINTEXT_LENGTH,
    OpenedRecord13,
    RecordProtection13,
    reconstruct_sequence_number,
)
from aiodtls.suites import Suite13

KEY_LENGTH = {
    Suite13.TLS_AES_128_GCM_SHA256: 16,
    Suite13.TLS_AES_256_GCM_SHA384: 32,
    Suite13.TLS_CHACHA20_POLY1305_SHA256: 32,
    Suite13.TLS_AES_128_CCM_SHA256: 16,
    Suite13.TLS_AES_128_CCM_8_SHA256: 16,
}
APPLICATION_DATA = 23
HANDSHAKE = 22
IV = bytes.fromhex("000102030405060708090a0b")


def protection(
    suite: Suite13 = Suite13.TLS_AES_128_GCM_SHA256,
    *,
    epoch: int = 3,
    cid: bytes | None = None,
) -> RecordProtection13:
    n = KEY_LENGTH[suite]
    return RecordProtection13(
        suite,
        key=bytes(range(0x40, 0x40 + n)),
        iv=IV,
        sn_key=bytes(range(0x80, 0x80 + n)),
        epoch=epoch,
        connection_id=cid,
        allow_ccm8=True,
    )


def opened(result: OpenedRecord13 | Drop) -> OpenedRecord13:
    assert isinstance(result, OpenedRecord13), result
    return result


def dropped(result: OpenedRecord13 | Drop) -> DropReason:
    assert isinstance(result, Drop), result
    return result.reason


# -- the construction, byte by byte, as RFC 9147 §4 / RFC 8446 §5.3 write it ------------------


def test_one_record_built_by_hand_aes_128_gcm() -> None:
    """Epoch 3, sequence number 0x0102 in 16 bits, length present, no CID: flags 0b00101111.
    AAD = the header with the plaintext sequence number; nonce = IV XOR 64-bit sequence
    number (no epoch); the header's sequence bytes XORed with AES-ECB(sn_key, ct[0..15])."""
    p = protection()
    record = p.seal(APPLICATION_DATA, b"hello", 0x0102)

    inner = b"hello\x17"  # content || type (RFC 8446 §5.2), no padding
    length = len(inner) + 16  # the GCM tag
    aad = bytes([0x2F, 0x01, 0x02]) + struct.pack("!H", length)
    assert aad == bytes.fromhex("2f01020016")
    nonce = bytes.fromhex("000102030405060708090b09")  # IV ^ 00..00 01 02
    assert p.nonce(0x0102) == nonce
    ciphertext = AESGCM(bytes(range(0x40, 0x50))).encrypt(nonce, inner, aad)
    ecb = Cipher(algorithms.AES(bytes(range(0x80, 0x90))), modes.ECB()).encryptor()
    mask = ecb.update(ciphertext[:16])
    expected = bytes([0x2F, 0x01 ^ mask[0], 0x02 ^ mask[1]]) + aad[3:] + ciphertext
    assert record == expected
    assert record[1:3] != b"\x01\x02" or mask[:2] == b"\x00\x00"


def test_one_record_built_by_hand_chacha20_cid_8_bit_no_length() -> None:
    """Epoch 2, CID 0xC1D2, 8-bit sequence number, no length: flags 0b00110010, AAD 4 bytes.
    The ChaCha20 mask: counter = ct[0..3], nonce = ct[4..15], i.e. ``cryptography``'s 16-byte
    counter || nonce input taken straight from the ciphertext."""
    suite = Suite13.TLS_CHACHA20_POLY1305_SHA256
    p = protection(suite, epoch=2, cid=b"\xc1\xd2")
    record = p.seal(
        HANDSHAKE, b"\x01\x02\x03", 0x1_0000_00FE, sequence_bits=8, include_length=False
    )

    aad = bytes.fromhex("32c1d2fe")
    nonce = bytes.fromhex("000102030405060608090af5")  # IV ^ 00000000 00000001 000000fe
    assert p.nonce(0x1_0000_00FE) == nonce
    ciphertext = ChaCha20Poly1305(bytes(range(0x40, 0x60))).encrypt(nonce, b"\x01\x02\x03\x16", aad)
    sn_key = bytes(range(0x80, 0xA0))
    mask = Cipher(algorithms.ChaCha20(sn_key, ciphertext[:16]), None).encryptor().update(bytes(1))
    assert record == bytes([0x32, 0xC1, 0xD2, 0xFE ^ mask[0]]) + ciphertext
    assert chacha20_block(sn_key, ciphertext[:16])[:1] == mask


def test_the_epoch_is_not_in_the_nonce() -> None:
    """RFC 9147 §4: "unlike DTLS 1.2, the epoch is not included"."""
    assert protection(epoch=2).nonce(7) == protection(epoch=1_000_003).nonce(7)
    assert protection().nonce(0) == IV
    assert protection().nonce((1 << 64) - 1) == IV[:4] + bytes(b ^ 0xFF for b in IV[4:])
    with pytest.raises(ValueError):
        protection().nonce(1 << 64)


def test_aes_mask_is_one_aes_ecb_block() -> None:
    """FIPS-197 Appendix C.1 (AES-128): the mask is that single block, nothing chained."""
    p = RecordProtection13(
        Suite13.TLS_AES_128_GCM_SHA256,
        key=bytes(16),
        iv=IV,
        sn_key=bytes(range(16)),
        epoch=2,
    )
    sample = bytes.fromhex("00112233445566778899aabbccddeeff")
    for _ in range(2):  # the one ECB encryptor carries nothing from one record to the next
        assert p.mask(sample) == bytes.fromhex("69c4e0d86a7b0430d8cdb78070b4c55a")


def chacha20_block(key: bytes, sample: bytes) -> bytes:
    """RFC 8439 §2.3 block function, written out: state words little-endian, counter =
    sample[0..3], nonce = sample[4..15] (RFC 9147 §4.2.3)."""

    def rotl(v: int, n: int) -> int:
        return ((v << n) | (v >> (32 - n))) & 0xFFFFFFFF

    def quarter(s: list[int], a: int, b: int, c: int, d: int) -> None:
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF
        s[d] = rotl(s[d] ^ s[a], 16)
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF
        s[b] = rotl(s[b] ^ s[c], 12)
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF
        s[d] = rotl(s[d] ^ s[a], 8)
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF
        s[b] = rotl(s[b] ^ s[c], 7)

    state = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    state += list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", sample))
    working = list(state)
    for _ in range(10):
        for a, b, c, d in ((0, 4, 8, 12), (1, 5, 9, 13), (2, 6, 10, 14), (3, 7, 11, 15)):
            quarter(working, a, b, c, d)
        for a, b, c, d in ((0, 5, 10, 15), (1, 6, 11, 12), (2, 7, 8, 13), (3, 4, 9, 14)):
            quarter(working, a, b, c, d)
    return struct.pack("<16I", *((x + y) & 0xFFFFFFFF for x, y in zip(working, state, strict=True)))


def test_chacha20_mask_is_the_rfc_8439_block_function() -> None:
    """RFC 8439 §2.3.2's block (key 00..1f, counter 1, nonce 00000009 0000004a 00000000) from
    the written-out function, and the module's mask over the same 16 input bytes."""
    key = bytes(range(32))
    sample = (1).to_bytes(4, "little") + bytes.fromhex("000000090000004a00000000")
    block = chacha20_block(key, sample)
    assert block[:16] == bytes.fromhex("10f1e7e4d13b5915500fdd1fa32071c4")
    p = RecordProtection13(
        Suite13.TLS_CHACHA20_POLY1305_SHA256, key=bytes(32), iv=IV, sn_key=key, epoch=2
    )
    assert p.mask(sample) == block[:16]


# -- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("suite", list(Suite13))
@pytest.mark.parametrize("sequence_bits", [8, 16])
@pytest.mark.parametrize("include_length", [True, False])
@pytest.mark.parametrize("cid", [None, b"\x07", bytes(range(20))])
@pytest.mark.parametrize("padding", [0, 5])
def test_round_trip(
    suite: Suite13,
    sequence_bits: int,
    include_length: bool,
    cid: bytes | None,
    padding: int,
) -> None:
    sender = protection(suite, cid=cid)
    receiver = protection(suite, cid=cid)
    for seq in (0, 1, 255, 256, 70_000):
        record = sender.seal(
            APPLICATION_DATA,
            b"data %d" % seq,
            seq,
            padding=padding,
            sequence_bits=sequence_bits,
            include_length=include_length,
        )
        result = opened(receiver.open(record, 0, seq))
        assert (result.content_type, result.content) == (APPLICATION_DATA, b"data %d" % seq)
        assert result.sequence_number == seq
        tag = 8 if suite is Suite13.TLS_AES_128_CCM_8_SHA256 else 16
        assert result.padding == max(padding, 16 - tag - len(result.content) - 1)
        assert result.end == len(record)
        header = wire.read_unified_record(record, 0, len(cid) if cid else 0)
        assert header == result.record
        assert isinstance(header, wire.UnifiedRecord)
        assert header.sequence_number_bits == sequence_bits
        assert header.length_present is include_length
        assert header.connection_id == cid
        assert header.epoch_bits == 3
        assert header.header_length + header.length == len(record)


def test_records_back_to_back_in_one_datagram() -> None:
    """Records with a length frame the datagram; the last may omit it (RFC 9147 §4.3)."""
    sender, receiver = protection(), protection()
    datagram = (
        sender.seal(HANDSHAKE, b"one", 0)
        + sender.seal(HANDSHAKE, b"two", 1, sequence_bits=8)
        + sender.seal(APPLICATION_DATA, b"three", 2, include_length=False)
    )
    pos, contents = 0, []
    for expected in range(3):
        result = opened(receiver.open(datagram, pos, expected))
        contents.append(result.content)
        pos = result.end
    assert contents == [b"one", b"two", b"three"] and pos == len(datagram)


def test_empty_content_and_ccm_8_pads_to_the_sample() -> None:
    """The sender pads so the ciphertext has the 16 bytes the mask samples (§4.2.3)."""
    ccm8 = protection(Suite13.TLS_AES_128_CCM_8_SHA256)
    record = ccm8.seal(APPLICATION_DATA, b"", 9)
    header = wire.read_unified_record(record, 0, 0)
    assert isinstance(header, wire.UnifiedRecord) and header.length == 16
    result = opened(protection(Suite13.TLS_AES_128_CCM_8_SHA256).open(record, 0, 9))
    assert (result.content, result.padding) == (b"", 7)
    gcm = protection().seal(APPLICATION_DATA, b"", 9)
    assert len(gcm) == 5 + 17  # a 16-byte tag is sample enough: no padding added


def test_ccm_8_only_with_the_flag() -> None:
    with pytest.raises(ValueError):
        RecordProtection13(
            Suite13.TLS_AES_128_CCM_8_SHA256,
            key=bytes(16),
            iv=IV,
            sn_key=bytes(16),
            epoch=2,
        )


def test_local_misuse_raises() -> None:
    p = protection()
    with pytest.raises(ValueError):
        p.seal(99, b"", 0)  # not a DTLS 1.3 content type
    with pytest.raises(ValueError):
        p.seal(APPLICATION_DATA, bytes(MAX_INNER_PLAINTEXT_LENGTH), 0)
    with pytest.raises(ValueError):
        p.seal(APPLICATION_DATA, b"", 0, sequence_bits=12)
    with pytest.raises(ValueError):
        p.seal(APPLICATION_DATA, b"", 0, padding=-1)
    with pytest.raises(ValueError):
        RecordProtection13(
            Suite13.TLS_AES_256_GCM_SHA384, key=bytes(16), iv=IV, sn_key=bytes(16), epoch=2
        )


# -- sequence number reconstruction (RFC 9147 §4.2.2) -------------------------------------------


@pytest.mark.parametrize(
    ("low", "bits", "expected", "full"),
    [
        (0, 8, 0, 0),
        (5, 8, 0, 5),
        (0xFF, 8, 0, 0xFF),  # nothing below 0: the window cannot move down
        (0x02, 8, 0x1FE, 0x202),  # the low bits wrapped: just ahead
        (0xFE, 8, 0x202, 0x1FE),  # just behind, across the wrap
        (0x80, 8, 0x100, 0x180),  # a tie (half a window either side) goes to the later one
        (0x81, 8, 0x100, 0x81),  # just past half a window behind
        (0x7F, 8, 0x100, 0x17F),  # far ahead within half a window
        (0x0000, 16, 0xFFFF, 0x10000),
        (0xFFFF, 16, 0x10000, 0xFFFF),
        (0x1234, 16, 0x5_0000, 0x5_1234),  # far ahead: nearest, not beyond
        (0xF000, 16, 0x5_0000, 0x4_F000),  # far behind: nearest
        (0xFF, 8, (1 << 64) - 1, (1 << 64) - 1),
        (0x00, 8, (1 << 64) - 1, (1 << 64) - 256),  # no candidate past 2^64 - 1
    ],
)
def test_reconstruction(low: int, bits: int, expected: int, full: int) -> None:
    assert reconstruct_sequence_number(low, bits, expected) == full


@given(
    st.sampled_from([8, 16]),
    st.integers(0, (1 << 48)),
    st.integers(-(1 << 15) + 1, 1 << 15),
)
def test_reconstruction_recovers_within_half_a_window(bits: int, expected: int, delta: int) -> None:
    half = 1 << (bits - 1)
    assume(-half < delta <= half and expected + delta >= 0)
    seq = expected + delta
    assert reconstruct_sequence_number(seq & ((1 << bits) - 1), bits, expected) == seq


def test_open_reconstructs_across_the_wrap() -> None:
    """Sent as 0x1_0003 in 8 bits: opens from just behind the wrap of the low bits and from
    up to 127 ahead of it; from 128 ahead the nearest value is 0x1_0103, the nonce is wrong
    and the record fails authentication (RFC 9147 §4.2.2: a failed reconstruction is a
    failed deprotection)."""
    sender, receiver = protection(), protection()
    record = sender.seal(APPLICATION_DATA, b"x", 0x1_0003, sequence_bits=8)
    assert opened(receiver.open(record, 0, 0x0_FFFE)).sequence_number == 0x1_0003
    assert opened(receiver.open(record, 0, 0x1_0082)).sequence_number == 0x1_0003
    assert dropped(receiver.open(record, 0, 0x1_0083)) is DropReason.BAD_TAG
    wide = sender.seal(APPLICATION_DATA, b"x", 0x1_0003, sequence_bits=16)
    assert opened(receiver.open(wide, 0, 0x1_8002)).sequence_number == 0x1_0003


# -- the mask, tampering and every drop --------------------------------------------------------


def test_the_sequence_number_is_masked_on_the_wire() -> None:
    p = protection()
    masked = 0
    for seq in range(64):
        record = p.seal(APPLICATION_DATA, b"payload", seq)
        header = wire.read_unified_record(record, 0, 0)
        assert isinstance(header, wire.UnifiedRecord)
        masked += header.sequence_number != seq
        assert header.sequence_number ^ seq == int.from_bytes(p.mask(record[5:21])[:2], "big")
    assert masked >= 60  # a 16-bit mask equal to zero is a 1 in 65536 event per record


@pytest.mark.parametrize("suite", list(Suite13))
def test_any_bit_flip_fails_authentication(suite: Suite13) -> None:
    """A flip anywhere in the header (sequence bits included: it changes the nonce or the AAD)
    or the ciphertext is a Drop, never an exception."""
    cid = b"\xaa\xbb"
    record = protection(suite, cid=cid).seal(HANDSHAKE, b"authenticated", 77)
    receiver = protection(suite, cid=cid)
    for index in range(len(record)):
        for bit in range(8):
            if index == 0 and bit >= 2:
                continue  # the flag bits other than EE: framing drops, tested below
            damaged = bytearray(record)
            damaged[index] ^= 1 << bit
            result = receiver.open(bytes(damaged), 0, 77)
            assert isinstance(result, Drop), (index, bit)
            if index == 0:
                assert result.reason is DropReason.EPOCH_BITS_MISMATCH
            elif index in (1, 2):
                assert result.reason is DropReason.UNKNOWN_CID
            elif index in (5, 6):  # the length: now past the datagram's end, or shorter
                assert result.reason in (
                    DropReason.RECORD_OVERRUNS_DATAGRAM,
                    DropReason.SHORTER_THAN_SEQUENCE_SAMPLE,
                    DropReason.BAD_TAG,
                )
            else:
                assert result.reason is DropReason.BAD_TAG, (index, bit)
                assert result.authentication_failed


def test_a_header_flip_that_keeps_the_framing_fails_the_tag() -> None:
    """The length field is in the AAD: a shorter claimed length the datagram still holds."""
    record = protection().seal(APPLICATION_DATA, b"0123456789abcdef", 1)
    shortened = record[:3] + struct.pack("!H", len(record) - 6) + record[5:]
    assert dropped(protection().open(shortened, 0, 1)) is DropReason.BAD_TAG


def test_wrong_keys_fail_authentication() -> None:
    record = protection().seal(APPLICATION_DATA, b"x", 1)
    other = RecordProtection13(
        Suite13.TLS_AES_128_GCM_SHA256, key=bytes(16), iv=IV, sn_key=bytes(16), epoch=3
    )
    assert dropped(other.open(record, 0, 1)) is DropReason.BAD_TAG


def sealed_by_hand(p: RecordProtection13, inner: bytes, seq: int) -> bytes:
    """A record of ``p``'s AES-128-GCM keys around an inner plaintext ``seal`` would not build."""
    header = wire.encode_unified_header(p.epoch, seq, length=len(inner) + 16)
    ciphertext = AESGCM(bytes(range(0x40, 0x50))).encrypt(p.nonce(seq), inner, header)
    mask = p.mask(ciphertext[:16])
    masked = bytes(a ^ b for a, b in zip(header[1:3], mask, strict=False))
    return header[:1] + masked + header[3:] + ciphertext


def test_an_all_zero_inner_plaintext_is_refused() -> None:
    """RFC 8446 §5.4: no non-zero octet, no content type: refused (not an exception)."""
    p = protection()
    assert (
        dropped(p.open(sealed_by_hand(p, bytes(20), 4), 0, 4)) is DropReason.NO_INNER_CONTENT_TYPE
    )
    assert opened(p.open(sealed_by_hand(p, b"\x17" + bytes(19), 4), 0, 4)).padding == 19


def test_an_unknown_inner_content_type_is_refused() -> None:
    """RFC 9147 §4.1 Figure 5: a decrypted content type other than 21-24, 26 is an error."""
    p = protection()
    drop = p.open(sealed_by_hand(p, b"ab\x19", 4), 0, 4)
    assert isinstance(drop, Drop) and str(drop) == "unknown inner content type 25"


def test_a_ciphertext_shorter_than_the_sample_is_refused() -> None:
    """RFC 9147 §4.2.3: rejected as if it had failed deprotection."""
    p = protection()
    for length in (0, 1, 15):
        record = wire.encode_unified_header(3, 0, length=length) + bytes(length)
        drop = p.open(record, 0, 0)
        assert isinstance(drop, Drop) and drop.reason is DropReason.SHORTER_THAN_SEQUENCE_SAMPLE
        assert drop.authentication_failed
    no_length = wire.encode_unified_header(3, 0, sequence_bits=8) + bytes(15)
    assert dropped(p.open(no_length, 0, 0)) is DropReason.SHORTER_THAN_SEQUENCE_SAMPLE


def test_framing_and_routing_drops() -> None:
    p, with_cid = protection(), protection(cid=b"\x01\x02")
    record = p.seal(APPLICATION_DATA, b"x", 1)
    cid_record = with_cid.seal(APPLICATION_DATA, b"x", 1)
    drop = p.open(b"\x17" + record[1:], 0, 1)
    assert (
        isinstance(drop, Drop) and str(drop) == "not a DTLS 1.3 ciphertext record (first byte 0x17)"
    )
    assert dropped(p.open(cid_record, 0, 1)) is DropReason.UNIFIED_CID_NOT_NEGOTIATED
    assert dropped(with_cid.open(record, 0, 1)) is DropReason.MISSING_CID
    assert dropped(protection(cid=b"\x01\x03").open(cid_record, 0, 1)) is DropReason.UNKNOWN_CID
    epoch = protection(epoch=4).open(record, 0, 1)
    assert (
        isinstance(epoch, Drop)
        and str(epoch) == "DTLS 1.3 record epoch bits 3 are not this epoch's 0"
    )
    assert protection(epoch=7).open(record, 0, 1) == p.open(
        record, 0, 1
    )  # same low bits, same keys
    for cut in range(1, 5):
        assert isinstance(p.open(record[:cut], 0, 1), Drop)
    assert dropped(p.open(record[:-1], 0, 1)) is DropReason.RECORD_OVERRUNS_DATAGRAM
    too_long = wire.encode_unified_header(3, 0, sequence_bits=8) + bytes((1 << 14) + 257)
    assert dropped(p.open(too_long, 0, 0)) is DropReason.RECORD_TOO_LONG


@given(st.binary(max_size=80), st.integers(0, 90), st.integers(0, 1 << 20))
def test_untrusted_input_never_raises(data: bytes, pos: int, next_expected: int) -> None:
    """Any bytes at any position open to a record or a Drop (SPEC X18)."""
    for p in (protection(), protection(Suite13.TLS_CHACHA20_POLY1305_SHA256, cid=b"\x01")):
        result = p.open(data, pos, next_expected)
        assert isinstance(result, OpenedRecord13 | Drop)


# -- property ----------------------------------------------------------------------------------


@given(
    suite=st.sampled_from(list(Suite13)),
    content_type=st.sampled_from([21, 22, 23, 24, 26]),
    content=st.binary(max_size=300),
    padding=st.integers(0, 40),
    seq=st.integers(0, (1 << 48) - 1),
    delta=st.integers(-128, 127),
    sequence_bits=st.sampled_from([8, 16]),
    include_length=st.booleans(),
    cid=st.none() | st.binary(min_size=1, max_size=8),
    epoch=st.integers(2, 1 << 16),
)
def test_round_trip_property(
    suite: Suite13,
    content_type: int,
    content: bytes,
    padding: int,
    seq: int,
    delta: int,
    sequence_bits: int,
    include_length: bool,
    cid: bytes | None,
    epoch: int,
) -> None:
    """Whatever is sealed opens to itself when the receiver expects a sequence number within
    half an 8-bit window of it, and the wire reader frames it."""
    sender = protection(suite, epoch=epoch, cid=cid)
    record = sender.seal(
        content_type,
        content,
        seq,
        padding=padding,
        sequence_bits=sequence_bits,
        include_length=include_length,
    )
    datagram = b"\x00" * 3 + record
    result = opened(protection(suite, epoch=epoch, cid=cid).open(datagram, 3, max(0, seq + delta)))
    assert (result.content_type, result.content, result.sequence_number) == (
        content_type,
        content,
        seq,
    )
    assert result.end == len(datagram)
    header = wire.read_unified_record(datagram, 3, len(cid) if cid else 0)
    assert header == result.record
