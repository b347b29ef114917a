"""The AEAD record constructions of record/protection.py, one by one.

Round trips, tag and AAD tampering, short records (SPEC K2, R8), the exact nonce each
construction uses (checked against ``cryptography``'s primitive fed the nonce the RFC
defines), and the lengths each suite takes from the key block. RFC 7905 has no DTLS test
vectors; the interop tests (tests/interop/test_iot_suites.py) are the proof against other
stacks.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

from aiodtls.record.protection import (
    Aead,
    AesGcmProtection,
    ExplicitNonceProtection,
    RecordProtectionError,
    XorNonceProtection,
    new_protection,
)
from aiodtls.suites import CipherSuite, suite_info

DTLS1_2 = 0xFEFD
APPLICATION_DATA = 23
EPOCH_SEQ = ((1 << 48) | 0x0102030405).to_bytes(8, "big")


def key_and_iv(aead: Aead) -> tuple[bytes, bytes]:
    return bytes(range(aead.key_length)), bytes(range(100, 100 + aead.fixed_iv_length))


def aad(epoch_seq: bytes, length: int) -> bytes:
    """RFC 5246 §6.2.3.3 with the DTLS epoch || seq (RFC 6347 §4.1.2.1)."""
    return epoch_seq + bytes((APPLICATION_DATA, 0xFE, 0xFD)) + length.to_bytes(2, "big")


@pytest.mark.parametrize("aead", list(Aead))
def test_round_trip_and_overhead(aead: Aead) -> None:
    key, iv = key_and_iv(aead)
    sender, receiver = new_protection(aead, key, iv), new_protection(aead, key, iv)
    for plaintext in (b"", b"x", b"coap" * 300):
        sealed = sender.seal(EPOCH_SEQ, APPLICATION_DATA, DTLS1_2, plaintext)
        assert len(sealed) == len(plaintext) + sender.overhead
        assert receiver.open(EPOCH_SEQ, APPLICATION_DATA, DTLS1_2, sealed) == plaintext
    assert sender.overhead == aead.record_iv_length + aead.tag_length
    assert {
        Aead.AES_128_GCM: 24,
        Aead.AES_256_GCM: 24,
        Aead.AES_128_CCM: 24,
        Aead.AES_128_CCM_8: 16,
        Aead.CHACHA20_POLY1305: 16,
    }[aead] == sender.overhead


@pytest.mark.parametrize("aead", list(Aead))
@pytest.mark.parametrize("position", [0, 8, -1])
def test_tampered_record_fails(aead: Aead, position: int) -> None:  # R8
    key, iv = key_and_iv(aead)
    protection = new_protection(aead, key, iv)
    sealed = bytearray(protection.seal(EPOCH_SEQ, APPLICATION_DATA, DTLS1_2, b"sensor 21.5C"))
    sealed[position] ^= 0x01
    with pytest.raises(RecordProtectionError):
        protection.open(EPOCH_SEQ, APPLICATION_DATA, DTLS1_2, bytes(sealed))


@pytest.mark.parametrize("aead", list(Aead))
def test_record_number_and_type_are_authenticated(aead: Aead) -> None:
    key, iv = key_and_iv(aead)
    protection = new_protection(aead, key, iv)
    sealed = protection.seal(EPOCH_SEQ, APPLICATION_DATA, DTLS1_2, b"reading")
    other_seq = ((1 << 48) | 0x0102030406).to_bytes(8, "big")
    with pytest.raises(RecordProtectionError):
        protection.open(other_seq, APPLICATION_DATA, DTLS1_2, sealed)
    with pytest.raises(RecordProtectionError):
        protection.open(EPOCH_SEQ, 22, DTLS1_2, sealed)


@pytest.mark.parametrize("aead", list(Aead))
def test_record_shorter_than_nonce_and_tag_is_refused(aead: Aead) -> None:  # K2
    key, iv = key_and_iv(aead)
    protection = new_protection(aead, key, iv)
    for length in range(protection.overhead):
        with pytest.raises(RecordProtectionError):
            protection.open(EPOCH_SEQ, APPLICATION_DATA, DTLS1_2, bytes(length))


@pytest.mark.parametrize(
    ("aead", "cipher"),
    [
        (Aead.AES_128_GCM, AESGCM),
        (Aead.AES_256_GCM, AESGCM),
        (Aead.AES_128_CCM, AESCCM),
        (Aead.AES_128_CCM_8, AESCCM),
    ],
)
def test_explicit_nonce_is_salt_then_epoch_and_sequence(aead: Aead, cipher: type) -> None:
    """K2 (CCM, RFC 6655 §3) and RFC 5288 §3 (GCM): nonce = 4-byte salt || epoch || seq, and
    the record carries epoch || seq, then ciphertext || tag."""
    key, salt = key_and_iv(aead)
    protection = new_protection(aead, key, salt)
    assert isinstance(protection, ExplicitNonceProtection)
    plaintext = b"GET /.well-known/core"
    sealed = protection.seal(EPOCH_SEQ, APPLICATION_DATA, DTLS1_2, plaintext)
    primitive = cipher(key, tag_length=aead.tag_length) if cipher is AESCCM else cipher(key)
    expected = primitive.encrypt(salt + EPOCH_SEQ, plaintext, aad(EPOCH_SEQ, len(plaintext)))
    assert sealed == EPOCH_SEQ + expected


def test_chacha20_nonce_is_the_iv_xor_the_padded_record_number() -> None:
    """RFC 7905 §2: the 64-bit record number, left-padded with 4 zero bytes, XOR the 12-byte
    IV; nothing explicit on the wire."""
    aead = Aead.CHACHA20_POLY1305
    key, iv = key_and_iv(aead)
    protection = new_protection(aead, key, iv)
    assert isinstance(protection, XorNonceProtection)
    plaintext = b"POST /temperature"
    sealed = protection.seal(EPOCH_SEQ, APPLICATION_DATA, DTLS1_2, plaintext)
    nonce = bytes(a ^ b for a, b in zip(iv, bytes(4) + EPOCH_SEQ, strict=True))
    assert nonce[:4] == iv[:4]
    expected = ChaCha20Poly1305(key).encrypt(nonce, plaintext, aad(EPOCH_SEQ, len(plaintext)))
    assert sealed == expected


def test_wrong_key_or_iv_lengths_are_refused() -> None:
    with pytest.raises(ValueError):
        new_protection(Aead.AES_128_CCM_8, bytes(32), bytes(4))
    with pytest.raises(ValueError):
        new_protection(Aead.AES_128_CCM, bytes(16), bytes(12))
    with pytest.raises(ValueError):
        new_protection(Aead.CHACHA20_POLY1305, bytes(32), bytes(4))


def test_aes_gcm_protection_is_the_gcm_construction() -> None:
    key, salt = key_and_iv(Aead.AES_128_GCM)
    sealed = AesGcmProtection(key, salt).seal(EPOCH_SEQ, APPLICATION_DATA, DTLS1_2, b"x")
    assert sealed == new_protection(Aead.AES_128_GCM, key, salt).seal(
        EPOCH_SEQ, APPLICATION_DATA, DTLS1_2, b"x"
    )


@pytest.mark.parametrize(
    ("suite", "aead", "key_length", "fixed_iv_length"),
    [
        (CipherSuite.TLS_PSK_WITH_AES_128_CCM_8, Aead.AES_128_CCM_8, 16, 4),
        (CipherSuite.TLS_PSK_WITH_AES_128_CCM, Aead.AES_128_CCM, 16, 4),
        (CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, Aead.AES_128_CCM_8, 16, 4),
        (CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM, Aead.AES_128_CCM, 16, 4),
        (CipherSuite.TLS_PSK_WITH_AES_256_GCM_SHA384, Aead.AES_256_GCM, 32, 4),
        (CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256, Aead.AES_128_GCM, 16, 4),
        (CipherSuite.TLS_PSK_WITH_CHACHA20_POLY1305_SHA256, Aead.CHACHA20_POLY1305, 32, 12),
        (CipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, Aead.CHACHA20_POLY1305, 32, 12),
    ],
)
def test_suite_key_block_lengths(
    suite: CipherSuite, aead: Aead, key_length: int, fixed_iv_length: int
) -> None:
    info = suite_info(suite)
    assert (info.aead, info.key_length, info.fixed_iv_length) == (aead, key_length, fixed_iv_length)
    assert info.prf_hash().name == ("sha384" if suite.name.endswith("SHA384") else "sha256")
