"""Tests for aiodtls.handshake.keyschedule: the TLS 1.2 PRF and everything derived from it.

Known answers come from SPEC §5 (the IETF TLS list vectors, msg03416, as used by BearSSL's
``test_crypto.c``, and mbedTLS ``ssl_tls_prf``). Every derivation is also cross-checked
against :func:`reference_prf`, a from-scratch P_hash on the standard library's ``hmac``.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from hypothesis import given, settings
from hypothesis import strategies as st

from aiodtls.handshake.keyschedule import (
    RESERVED_EXPORTER_LABELS,
    KeyBlock,
    compute_finished,
    compute_master_secret,
    derive_key_block,
    export_keying_material,
    finished_matches,
    prf,
    psk_premaster_secret,
)

HASHLIB = {"sha256": hashlib.sha256, "sha384": hashlib.sha384}
HASHES: dict[str, hashes.HashAlgorithm] = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384()}

CLIENT_RANDOM = bytes(range(32))
SERVER_RANDOM = bytes(range(100, 132))
MASTER_SECRET = bytes(range(48))


def reference_prf(hash_name: str, secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    """RFC 5246 §5 P_hash(secret, label + seed), written independently of the library."""
    digest: Any = HASHLIB[hash_name]
    full_seed = label + seed
    out = b""
    a = full_seed
    while len(out) < length:
        a = hmac.new(secret, a, digest).digest()
        out += hmac.new(secret, a + full_seed, digest).digest()
    return out[:length]


# -- known answers (SPEC §5) -----------------------------------------------------------------

IETF_SHA256_OUTPUT = bytes.fromhex(
    "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a"
    "6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab"
    "4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701"
    "87347b66"
)
IETF_SHA384_OUTPUT = bytes.fromhex(
    "7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cd"
    "e9ca0faa60be9fe34f82b1233c9146a0e534cb400fed2700884f9dc236f80edd"
    "8bfa961144c9e8d792eca722a7b32fc3d416d473ebc2c5fd4abfdad05d918425"
    "9b5bf8cd4d90fa0d31e2dec479e4f1a26066f2eea9a69236a3e52655c9e9aee6"
    "91c8f3a26854308d5eaa3be85e0990703d73e56f"
)


def test_prf_sha256_ietf_vector() -> None:
    """SHA-256 PRF, 100 bytes: the IETF TLS list vector (SPEC §5)."""
    out = prf(
        hashes.SHA256(),
        bytes.fromhex("9bbe436ba940f017b17652849a71db35"),
        b"test label",
        bytes.fromhex("a0ba9f936cda311827a6f796ffd5198c"),
        100,
    )
    assert len(out) == 100
    assert out.hex().startswith("e3f229ba727be17b")
    assert out.hex().endswith("70187347b66")
    assert out == IETF_SHA256_OUTPUT


def test_prf_sha384_ietf_vector() -> None:
    """SHA-384 PRF, 148 bytes: the companion IETF vector (SPEC §5)."""
    out = prf(
        hashes.SHA384(),
        bytes.fromhex("b80b733d6ceefcdc71566ea48e5567df"),
        b"test label",
        bytes.fromhex("cd665cf6a8447dd6ff8b27555edb7465"),
        148,
    )
    assert out == IETF_SHA384_OUTPUT


def test_reference_prf_reproduces_the_ietf_vectors() -> None:
    """The test's own P_hash agrees with the published values, so it can act as an oracle."""
    assert (
        reference_prf(
            "sha256",
            bytes.fromhex("9bbe436ba940f017b17652849a71db35"),
            b"test label",
            bytes.fromhex("a0ba9f936cda311827a6f796ffd5198c"),
            100,
        )
        == IETF_SHA256_OUTPUT
    )
    assert (
        reference_prf(
            "sha384",
            bytes.fromhex("b80b733d6ceefcdc71566ea48e5567df"),
            b"test label",
            bytes.fromhex("cd665cf6a8447dd6ff8b27555edb7465"),
            148,
        )
        == IETF_SHA384_OUTPUT
    )


@pytest.mark.parametrize(
    ("hash_name", "expected"),
    [
        ("sha256", "7f9998393198a02c8d731ccc2ef90b2c"),
        ("sha384", "a4206a36eef93f496611c2b7806625c3"),
    ],
)
def test_prf_mbedtls_vectors(hash_name: str, expected: str) -> None:
    """mbedTLS ``ssl_tls_prf``: hex secret "1234567890abcdef"×6, seed ×8, 16 bytes (SPEC §5)."""
    secret = bytes.fromhex("1234567890abcdef" * 6)
    seed = bytes.fromhex("1234567890abcdef" * 8)
    out = prf(HASHES[hash_name], secret, b"test tls_prf label", seed, 16)
    assert out.hex() == expected
    assert out == reference_prf(hash_name, secret, b"test tls_prf label", seed, 16)


@pytest.mark.parametrize("length", [0, 1, 31, 32, 33, 48, 64, 65, 200])
def test_prf_returns_exactly_the_requested_length(length: int) -> None:
    """Any length, including those that are not a multiple of the hash size."""
    out = prf(hashes.SHA256(), b"secret", b"label", b"seed", length)
    assert len(out) == length
    assert out == reference_prf("sha256", b"secret", b"label", b"seed", length)


@given(
    hash_name=st.sampled_from(["sha256", "sha384"]),
    secret=st.binary(max_size=80),
    label=st.binary(max_size=30),
    seed=st.binary(max_size=80),
    length=st.integers(0, 160),
)
@settings(max_examples=60, deadline=None)
def test_prf_matches_reference_p_hash(
    hash_name: str, secret: bytes, label: bytes, seed: bytes, length: int
) -> None:
    """The library PRF equals an independent stdlib-hmac P_hash on arbitrary input."""
    assert prf(HASHES[hash_name], secret, label, seed, length) == reference_prf(
        hash_name, secret, label, seed, length
    )


# -- master secret (RFC 5246 §8.1, RFC 7627 §4) ---------------------------------------------


def test_master_secret_uses_master_secret_label_and_both_randoms() -> None:
    """Without a session hash: PRF(pms, "master secret", client_random + server_random)."""
    pms = b"\x03\x03" + bytes(46)
    ms = compute_master_secret(
        hashes.SHA256(),
        pms,
        session_hash=None,
        client_random=CLIENT_RANDOM,
        server_random=SERVER_RANDOM,
    )
    assert len(ms) == 48
    assert ms == reference_prf("sha256", pms, b"master secret", CLIENT_RANDOM + SERVER_RANDOM, 48)


def test_extended_master_secret_uses_its_label_and_the_session_hash() -> None:
    """With a session hash: PRF(pms, "extended master secret", session_hash) (E1)."""
    pms = bytes(range(32))
    session_hash = hashlib.sha384(b"transcript").digest()
    ems = compute_master_secret(
        hashes.SHA384(),
        pms,
        session_hash=session_hash,
        client_random=CLIENT_RANDOM,
        server_random=SERVER_RANDOM,
    )
    assert len(ems) == 48
    assert ems == reference_prf("sha384", pms, b"extended master secret", session_hash, 48)


def test_extended_master_secret_ignores_the_randoms() -> None:
    """The EMS binds the transcript, not the randoms (RFC 7627 §4) (E1)."""
    pms = bytes(32)
    session_hash = hashlib.sha256(b"transcript").digest()
    one = compute_master_secret(
        hashes.SHA256(),
        pms,
        session_hash=session_hash,
        client_random=CLIENT_RANDOM,
        server_random=SERVER_RANDOM,
    )
    other = compute_master_secret(
        hashes.SHA256(),
        pms,
        session_hash=session_hash,
        client_random=bytes(32),
        server_random=bytes(32),
    )
    assert one == other


def test_master_secret_and_extended_master_secret_differ() -> None:
    """Same premaster secret, with and without EMS, gives different master secrets (E1)."""
    pms = bytes(range(48))
    seed = CLIENT_RANDOM + SERVER_RANDOM
    plain = compute_master_secret(
        hashes.SHA256(),
        pms,
        session_hash=None,
        client_random=CLIENT_RANDOM,
        server_random=SERVER_RANDOM,
    )
    # Even a session hash equal to the randoms must not collapse onto the legacy derivation.
    extended = compute_master_secret(
        hashes.SHA256(),
        pms,
        session_hash=seed,
        client_random=CLIENT_RANDOM,
        server_random=SERVER_RANDOM,
    )
    assert plain != extended


# -- key block (RFC 5246 §6.3, RFC 5288 §3) -------------------------------------------------


@pytest.mark.parametrize(("hash_name", "key_length"), [("sha256", 16), ("sha384", 32)])
def test_key_block_split_order(hash_name: str, key_length: int) -> None:
    """client key | server key | client IV | server IV from PRF(ms, "key expansion", sr + cr)."""
    block = reference_prf(
        hash_name,
        MASTER_SECRET,
        b"key expansion",
        SERVER_RANDOM + CLIENT_RANDOM,
        2 * (key_length + 4),
    )
    keys = derive_key_block(
        HASHES[hash_name], MASTER_SECRET, CLIENT_RANDOM, SERVER_RANDOM, key_length, 4
    )
    k = key_length
    assert keys == KeyBlock(
        client_write_key=block[:k],
        server_write_key=block[k : 2 * k],
        client_write_iv=block[2 * k : 2 * k + 4],
        server_write_iv=block[2 * k + 4 :],
    )
    assert len(keys.client_write_key) == len(keys.server_write_key) == key_length
    assert len(keys.client_write_iv) == len(keys.server_write_iv) == 4


def test_key_block_depends_on_random_order() -> None:
    """Swapping the randoms changes the key block (server_random comes first in the seed)."""
    one = derive_key_block(hashes.SHA256(), MASTER_SECRET, CLIENT_RANDOM, SERVER_RANDOM, 16, 4)
    swapped = derive_key_block(hashes.SHA256(), MASTER_SECRET, SERVER_RANDOM, CLIENT_RANDOM, 16, 4)
    assert one != swapped
    assert one.client_write_key != one.server_write_key


# -- Finished (RFC 5246 §7.4.9) -------------------------------------------------------------


@pytest.mark.parametrize("hash_name", ["sha256", "sha384"])
def test_finished_is_12_bytes_with_the_right_label(hash_name: str) -> None:
    """verify_data = PRF(ms, "client finished" | "server finished", hash)[:12] (H3)."""
    handshake_hash = HASHLIB[hash_name](b"messages").digest()
    client = compute_finished(
        HASHES[hash_name], MASTER_SECRET, from_client=True, handshake_hash=handshake_hash
    )
    server = compute_finished(
        HASHES[hash_name], MASTER_SECRET, from_client=False, handshake_hash=handshake_hash
    )
    assert len(client) == len(server) == 12
    assert client == reference_prf(hash_name, MASTER_SECRET, b"client finished", handshake_hash, 12)
    assert server == reference_prf(hash_name, MASTER_SECRET, b"server finished", handshake_hash, 12)
    assert client != server


def test_finished_matches_compares_exactly() -> None:
    """finished_matches accepts only identical verify_data (H3)."""
    data = bytes(range(12))
    assert finished_matches(data, bytes(range(12)))
    assert not finished_matches(data, bytes(range(1, 13)))
    assert not finished_matches(data, data[:11])
    assert not finished_matches(data, b"")


# -- exporter (RFC 5705, SPEC S3, S4) -------------------------------------------------------


def test_exporter_without_context_uses_only_the_randoms() -> None:
    """No context: seed = client_random + server_random (S4)."""
    out = export_keying_material(
        hashes.SHA256(),
        MASTER_SECRET,
        CLIENT_RANDOM,
        SERVER_RANDOM,
        b"EXTRACTOR-dtls_srtp",
        60,
        None,
    )
    assert out == reference_prf(
        "sha256", MASTER_SECRET, b"EXTRACTOR-dtls_srtp", CLIENT_RANDOM + SERVER_RANDOM, 60
    )


def test_exporter_context_is_length_prefixed() -> None:
    """With a context: seed = cr + sr + uint16 length + context (S4)."""
    context = b"some context"
    out = export_keying_material(
        hashes.SHA384(), MASTER_SECRET, CLIENT_RANDOM, SERVER_RANDOM, b"EXPERIMENTAL x", 33, context
    )
    seed = CLIENT_RANDOM + SERVER_RANDOM + len(context).to_bytes(2, "big") + context
    assert out == reference_prf("sha384", MASTER_SECRET, b"EXPERIMENTAL x", seed, 33)


def test_exporter_no_context_differs_from_empty_context() -> None:
    """context=None and context=b"" are different inputs (RFC 5705 §4, S4)."""
    args = (hashes.SHA256(), MASTER_SECRET, CLIENT_RANDOM, SERVER_RANDOM, b"EXPERIMENTAL y", 32)
    none = export_keying_material(*args, None)
    empty = export_keying_material(*args, b"")
    assert none != empty
    assert empty == reference_prf(
        "sha256",
        MASTER_SECRET,
        b"EXPERIMENTAL y",
        CLIENT_RANDOM + SERVER_RANDOM + b"\x00\x00",
        32,
    )


@pytest.mark.parametrize(
    "label",
    [
        b"client finished",
        b"server finished",
        b"master secret",
        b"key expansion",
        b"extended master secret",
    ],
)
def test_exporter_rejects_reserved_labels(label: bytes) -> None:
    """Labels the key schedule itself uses cannot be exported (S4)."""
    assert label in RESERVED_EXPORTER_LABELS
    with pytest.raises(ValueError):
        export_keying_material(
            hashes.SHA256(), MASTER_SECRET, CLIENT_RANDOM, SERVER_RANDOM, label, 16, None
        )


def test_exporter_rejects_a_context_too_long_for_its_length_field() -> None:
    """A context of 2^16 bytes cannot be length-prefixed with uint16 (S4)."""
    with pytest.raises(ValueError):
        export_keying_material(
            hashes.SHA256(),
            MASTER_SECRET,
            CLIENT_RANDOM,
            SERVER_RANDOM,
            b"EXPERIMENTAL z",
            16,
            bytes(1 << 16),
        )
    largest = export_keying_material(
        hashes.SHA256(),
        MASTER_SECRET,
        CLIENT_RANDOM,
        SERVER_RANDOM,
        b"EXPERIMENTAL z",
        16,
        bytes((1 << 16) - 1),
    )
    assert len(largest) == 16


# -- PSK premaster secret (RFC 4279 §2, SPEC K1) --------------------------------------------


@pytest.mark.parametrize("psk_length", [1, 16, 64])
def test_plain_psk_premaster_is_zeros_then_psk(psk_length: int) -> None:
    """uint16 N || 0^N || uint16 N || psk (K1)."""
    psk = bytes(range(1, psk_length + 1))
    n = psk_length.to_bytes(2, "big")
    assert psk_premaster_secret(psk) == n + bytes(psk_length) + n + psk


def test_psk_premaster_with_other_secret() -> None:
    """For (EC)DHE_PSK the other_secret is Z, with its own length (K1)."""
    psk = b"\xaa" * 16
    z = b"\x55" * 32
    assert psk_premaster_secret(psk, z) == b"\x00\x20" + z + b"\x00\x10" + psk


def test_psk_premaster_known_bytes() -> None:
    """A 4-byte PSK gives exactly 12 bytes in the documented order (K1)."""
    assert psk_premaster_secret(b"\x01\x02\x03\x04").hex() == "0004000000000004" + "01020304"
