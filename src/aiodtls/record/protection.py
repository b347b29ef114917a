"""Record protection: how one record's payload is sealed and opened for a given epoch.

Owns the AEAD construction of TLS 1.2 GCM suites (RFC 5288, RFC 6347 §4.1.2.1): nonce =
4-byte implicit salt || 8-byte explicit nonce, where the explicit nonce is the record's
epoch || sequence number (SPEC R6: never random, so it is unique per key by construction),
and AAD = epoch || seq || type || version || plaintext length. Epoch 0 uses
:class:`NullProtection`. CCM and ChaCha20 will be further classes with the same interface.

A caller may pass its own ``aad``: the record layer does so for tls12_cid records, whose
additional data binds the connection ID (RFC 9146 §5.3, built by ``record.cid``).
"""

from __future__ import annotations

from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["AesGcmProtection", "NullProtection", "RecordProtection", "RecordProtectionError"]


class RecordProtectionError(Exception):
    """A record failed authentication or is too short to be a valid ciphertext."""


class RecordProtection(Protocol):
    """The interface the record layer uses for each epoch and direction."""

    overhead: int
    "Bytes a protected payload grows by (explicit nonce + tag)."

    def seal(
        self,
        epoch_seq: bytes,
        content_type: int,
        version: int,
        plaintext: bytes,
        *,
        aad: bytes | None = None,
    ) -> bytes:
        """Protect ``plaintext`` for the record numbered ``epoch_seq`` (8 bytes); ``aad``
        replaces the RFC 5246 additional data when given."""
        ...

    def open(
        self,
        epoch_seq: bytes,
        content_type: int,
        version: int,
        fragment: bytes,
        *,
        aad: bytes | None = None,
    ) -> bytes:
        """Authenticate and decrypt; raise :class:`RecordProtectionError` on failure.
        ``aad`` replaces the RFC 5246 additional data when given."""
        ...


class NullProtection:
    """Epoch 0: records travel in plaintext."""

    overhead = 0

    def seal(
        self,
        epoch_seq: bytes,
        content_type: int,
        version: int,
        plaintext: bytes,
        *,
        aad: bytes | None = None,
    ) -> bytes:
        """Return ``plaintext`` unchanged."""
        return plaintext

    def open(
        self,
        epoch_seq: bytes,
        content_type: int,
        version: int,
        fragment: bytes,
        *,
        aad: bytes | None = None,
    ) -> bytes:
        """Return ``fragment`` unchanged."""
        return fragment


class AesGcmProtection:
    """AES-GCM with an 8-byte explicit nonce and a 16-byte tag."""

    __slots__ = ("_aead", "_salt")

    overhead = 8 + 16

    def __init__(self, key: bytes, salt: bytes) -> None:
        if len(salt) != 4:
            raise ValueError("GCM salt must be 4 bytes")
        self._aead = AESGCM(key)
        self._salt = salt

    def seal(
        self,
        epoch_seq: bytes,
        content_type: int,
        version: int,
        plaintext: bytes,
        *,
        aad: bytes | None = None,
    ) -> bytes:
        """Return explicit_nonce || ciphertext || tag."""
        if aad is None:
            aad = (
                epoch_seq
                + bytes((content_type, version >> 8, version & 0xFF))
                + len(plaintext).to_bytes(2, "big")
            )
        return epoch_seq + self._aead.encrypt(self._salt + epoch_seq, plaintext, aad)

    def open(
        self,
        epoch_seq: bytes,
        content_type: int,
        version: int,
        fragment: bytes,
        *,
        aad: bytes | None = None,
    ) -> bytes:
        """Verify the tag and return the plaintext."""
        length = len(fragment) - self.overhead
        if length < 0:
            raise RecordProtectionError("record shorter than nonce and tag")
        if aad is None:
            aad = (
                epoch_seq
                + bytes((content_type, version >> 8, version & 0xFF))
                + length.to_bytes(2, "big")
            )
        try:
            return self._aead.decrypt(self._salt + fragment[:8], fragment[8:], aad)
        except InvalidTag as exc:
            raise RecordProtectionError("bad record tag") from exc
