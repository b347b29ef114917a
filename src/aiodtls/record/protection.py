"""Record protection: how one record's payload is sealed and opened for a given epoch.

Owns the AEAD constructions of the TLS 1.2 suites, one class per nonce construction:

- :class:`ExplicitNonceProtection` for AES-GCM (RFC 5288) and AES-CCM / CCM_8 (RFC 6655,
  RFC 7251): nonce = 4-byte implicit salt || 8-byte explicit nonce carried in the record,
  where the explicit nonce is the record's epoch || sequence number (RFC 6347 §4.1.2.1,
  SPEC R6, K2: never random, so it is unique per key by construction).
- :class:`XorNonceProtection` for ChaCha20-Poly1305 (RFC 7905 §2): nonce = 12-byte implicit
  IV XOR the epoch || sequence number left-padded to 12 bytes; nothing explicit on the wire.

Both use AAD = epoch || seq || type || version || plaintext length (RFC 5246 §6.2.3.3),
unless the caller passes its own ``aad``: the record layer does so for tls12_cid records,
whose additional data binds the connection ID (RFC 9146 §5.3, built by ``record.cid``).
``seal``/``open`` take the fragment alone; ``seal_record`` a whole record without a CID,
whose additional data, nonce and header it builds from its 64-bit record number. The cipher,
salt and IV are public (``aead``, ``salt``, ``iv``): an established connection's application
data is sealed and opened by the record layer's direct path from them, the same
construction written out there to save a call per record (docs/performance.md).
:class:`Aead` names each algorithm and its lengths; :func:`new_protection` maps one to its
class, so the handshake never names a construction. Epoch 0 uses :class:`NullProtection`.
"""

from __future__ import annotations

import enum
import struct
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

from .header import DTLS1_2, RECORD_HEADER

__all__ = [
    "Aead",
    "AesGcmProtection",
    "ExplicitNonceProtection",
    "NullProtection",
    "RecordProtection",
    "RecordProtectionError",
    "XorNonceProtection",
    "new_protection",
]


_Cipher = AESGCM | AESCCM | ChaCha20Poly1305


class RecordProtectionError(Exception):
    """A record failed authentication or is too short to be a valid ciphertext."""


class RecordProtection(Protocol):
    """The interface the record layer uses for each epoch and direction."""

    overhead: int
    "Bytes a protected payload grows by (explicit nonce + tag)."

    @property
    def aead(self) -> _Cipher | None:
        """The AEAD cipher (None: plaintext). With :attr:`salt` and :attr:`iv`, what the
        record layer's direct path for application data seals and opens a record with, as
        :meth:`seal_record` does (docs/performance.md, "Record path")."""
        ...

    @property
    def salt(self) -> bytes:
        """GCM/CCM: the implicit salt the explicit nonce follows (empty for ChaCha20 and
        plaintext)."""
        ...

    @property
    def iv(self) -> int:
        "ChaCha20-Poly1305: the implicit IV the record number is XORed into (0 otherwise)."
        ...

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

    def seal_record(self, seq_num: int, content_type: int, payload: bytes) -> bytes:
        """One whole DTLS 1.2 record without a connection ID, numbered ``seq_num`` (epoch ||
        sequence number as one 64-bit number): header, then the protected ``payload``."""
        ...


class Aead(enum.Enum):
    """The AEAD algorithms of the supported suites: (name, key, implicit IV, explicit nonce,
    tag) lengths in bytes. The name keeps members with equal lengths distinct (an Enum would
    otherwise make AES_128_CCM an alias of AES_128_GCM)."""

    AES_128_GCM = ("AES-128-GCM", 16, 4, 8, 16)
    AES_256_GCM = ("AES-256-GCM", 32, 4, 8, 16)
    AES_128_CCM = ("AES-128-CCM", 16, 4, 8, 16)
    AES_128_CCM_8 = ("AES-128-CCM-8", 16, 4, 8, 8)
    CHACHA20_POLY1305 = ("ChaCha20-Poly1305", 32, 12, 0, 16)

    # Plain attributes set from the value (the Enum idiom of the Python docs' Planet):
    # read per handshake, they cost no property and ``value`` lookup each.
    key_length: int
    "Bytes of the write key."
    fixed_iv_length: int
    "Bytes of the implicit IV from the key block (GCM/CCM salt, ChaCha20 IV)."
    record_iv_length: int
    "Bytes of explicit nonce carried in each record."
    tag_length: int
    "Bytes of the authentication tag."

    def __init__(
        self,
        label: str,
        key_length: int,
        fixed_iv_length: int,
        record_iv_length: int,
        tag_length: int,
    ) -> None:
        self.key_length = key_length
        self.fixed_iv_length = fixed_iv_length
        self.record_iv_length = record_iv_length
        self.tag_length = tag_length


class NullProtection:
    """Epoch 0: records travel in plaintext."""

    overhead = 0
    aead = None
    salt = b""
    iv = 0

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

    def seal_record(self, seq_num: int, content_type: int, payload: bytes) -> bytes:
        """The header, then ``payload`` as it is."""
        return RECORD_HEADER.pack(content_type, DTLS1_2, seq_num, len(payload)) + payload


_TYPE_VERSION_LENGTH = struct.Struct("!BHH")
"The additional data after epoch || seq: type, version, plaintext length (RFC 5246 §6.2.3.3)."
_ADDITIONAL_DATA = struct.Struct("!QBHH")
"""The whole additional data from a record's numbers: epoch || seq as one 64-bit number, type,
version, plaintext length (RFC 5246 §6.2.3.3)."""
_SALT_AND_EXPLICIT_NONCE = struct.Struct("!4sQ")
"A GCM/CCM nonce: the 4-byte salt, then the 8-byte explicit nonce (RFC 5288 §3)."
_HEADER_AND_EXPLICIT_NONCE = struct.Struct("!BHQHQ")
"The record header followed by the explicit nonce epoch || seq: how a GCM/CCM record starts."


class _AeadProtection:
    """Seal and open with an AEAD. A subclass sets how a record's nonce is made: from a 4-byte
    salt and an explicit nonce carried in the record, or from a 12-byte IV and nothing on the
    wire. :meth:`seal` and :meth:`open` read it as data; each subclass has its own
    ``seal_record``, which builds the additional data, nonce and header of a record without a
    connection ID straight from its numbers. ``RecordLayer.seal_application_data`` and
    ``open_application_datagram`` do the same for application data, reading ``aead``,
    ``salt`` and ``iv`` (docs/performance.md, "Record path")."""

    __slots__ = ("aead", "iv", "overhead", "salt")

    def __init__(self, aead: _Cipher, overhead: int, *, salt: bytes = b"", iv: int = 0) -> None:
        self.aead = aead
        self.overhead = overhead
        self.salt = salt
        "GCM/CCM: the implicit salt; the explicit nonce follows it (empty for ChaCha20)."
        self.iv = iv
        "ChaCha20-Poly1305: the implicit IV the record number is XORed into."

    def seal(
        self,
        epoch_seq: bytes,
        content_type: int,
        version: int,
        plaintext: bytes,
        *,
        aad: bytes | None = None,
    ) -> bytes:
        """Return the carried nonce (if any) || ciphertext || tag."""
        if aad is None:
            aad = epoch_seq + _TYPE_VERSION_LENGTH.pack(content_type, version, len(plaintext))
        if self.salt:
            return epoch_seq + self.aead.encrypt(self.salt + epoch_seq, plaintext, aad)
        nonce = (self.iv ^ int.from_bytes(epoch_seq, "big")).to_bytes(12, "big")
        return self.aead.encrypt(nonce, plaintext, aad)

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
            raise RecordProtectionError("record shorter than nonce and tag")  # SPEC K2
        if aad is None:
            aad = epoch_seq + _TYPE_VERSION_LENGTH.pack(content_type, version, length)
        if self.salt:
            # The explicit nonce as received: the sender chose it (RFC 5288 §3).
            nonce = self.salt + fragment[:8]
            sealed = fragment[8:]
        else:
            nonce = (self.iv ^ int.from_bytes(epoch_seq, "big")).to_bytes(12, "big")
            sealed = fragment
        try:
            return self.aead.decrypt(nonce, sealed, aad)
        except InvalidTag as exc:
            raise RecordProtectionError("bad record tag") from exc


class ExplicitNonceProtection(_AeadProtection):
    """AES-GCM or AES-CCM(_8): 4-byte salt || 8-byte explicit nonce (= epoch || seq)."""

    __slots__ = ()

    def __init__(self, aead: _Cipher, salt: bytes, tag_length: int) -> None:
        if len(salt) != 4:
            raise ValueError("the GCM/CCM salt must be 4 bytes")
        super().__init__(aead, 8 + tag_length, salt=salt)

    def seal_record(self, seq_num: int, content_type: int, payload: bytes) -> bytes:
        """Header || explicit nonce (``seq_num``, never random: SPEC R6) || ciphertext || tag."""
        sealed = self.aead.encrypt(
            _SALT_AND_EXPLICIT_NONCE.pack(self.salt, seq_num),
            payload,
            _ADDITIONAL_DATA.pack(seq_num, content_type, DTLS1_2, len(payload)),
        )
        header = _HEADER_AND_EXPLICIT_NONCE.pack(
            content_type, DTLS1_2, seq_num, 8 + len(sealed), seq_num
        )
        return header + sealed


class AesGcmProtection(ExplicitNonceProtection):
    """AES-GCM with an 8-byte explicit nonce and a 16-byte tag."""

    __slots__ = ()

    def __init__(self, key: bytes, salt: bytes) -> None:
        super().__init__(AESGCM(key), salt, 16)


class XorNonceProtection(_AeadProtection):
    """ChaCha20-Poly1305 (RFC 7905 §2): nonce = 12-byte IV XOR (0^32 || epoch || seq)."""

    __slots__ = ()

    def __init__(self, aead: ChaCha20Poly1305, iv: bytes) -> None:
        if len(iv) != 12:
            raise ValueError("the ChaCha20-Poly1305 IV must be 12 bytes")
        super().__init__(aead, 16, iv=int.from_bytes(iv, "big"))

    def seal_record(self, seq_num: int, content_type: int, payload: bytes) -> bytes:
        """Header || ciphertext || tag; the nonce is the IV XOR ``seq_num``."""
        sealed = self.aead.encrypt(
            (self.iv ^ seq_num).to_bytes(12, "big"),
            payload,
            _ADDITIONAL_DATA.pack(seq_num, content_type, DTLS1_2, len(payload)),
        )
        return RECORD_HEADER.pack(content_type, DTLS1_2, seq_num, len(sealed)) + sealed


# Read once: a member read off an Enum class costs ~0.2 us in CPython 3.11 (four keys per
# handshake, three reads each). A tuple, not a set: ``in`` finds a member by identity.
_CHACHA20_POLY1305 = Aead.CHACHA20_POLY1305
_CCM = (Aead.AES_128_CCM, Aead.AES_128_CCM_8)


def new_protection(aead: Aead, key: bytes, iv: bytes) -> RecordProtection:
    """The record protection for ``aead`` with one direction's write key and implicit IV."""
    if len(key) != aead.key_length:
        raise ValueError(f"{aead.name} needs a {aead.key_length}-byte key")
    if aead is _CHACHA20_POLY1305:
        return XorNonceProtection(ChaCha20Poly1305(key), iv)
    if aead in _CCM:
        return ExplicitNonceProtection(AESCCM(key, tag_length=aead.tag_length), iv, aead.tag_length)
    return ExplicitNonceProtection(AESGCM(key), iv, aead.tag_length)
