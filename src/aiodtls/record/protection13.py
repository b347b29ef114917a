"""DTLS 1.3 record protection for one epoch and one direction (RFC 9147 §4, RFC 8446 §5).

Owns what turns one DTLSInnerPlaintext into one DTLSCiphertext record with the unified header
and back, given the traffic key, IV and sn_key of an epoch (derived elsewhere: the key schedule
is not here):

- the inner plaintext (RFC 8446 §5.2, §5.4): content || real content type || zero padding; on
  opening, the content type is the last non-zero byte, and a plaintext of zeros only is refused;
- the per-record nonce (RFC 8446 §5.3, RFC 9147 §4): the 64-bit record sequence number,
  big-endian, left-padded to the 12-byte IV and XORed into it; the epoch is not part of it;
- the additional data (RFC 9147 §4): the whole unified header as sent (flags, CID, sequence
  number bytes, length when present) but with the sequence number *before* record number
  encryption;
- record number encryption (RFC 9147 §4.2.3): the header's 8 or 16 sequence bits XORed with
  the leading bytes of a mask computed from the sn_key over the first 16 ciphertext bytes,
  AES-ECB for the AES suites, the ChaCha20 block function (sample[0..3] the block counter,
  sample[4..15] the nonce) for ChaCha20-Poly1305. A sealer pads the inner plaintext so the
  ciphertext has those 16 bytes; an opener refuses a shorter one as a deprotection failure;
- the full sequence number from its low 8 or 16 bits (RFC 9147 §4.2.2): the value nearest to
  the next expected one (one more than the highest deprotected), which the caller supplies.

Every way a received record fails is a :class:`~aiodtls.drops.Drop`, never an exception
(RFC 9147 §4.5.2: invalid records are silently discarded). The header is read and written by
:mod:`aiodtls.wire` (:func:`~aiodtls.wire.read_unified_record`,
:func:`~aiodtls.wire.encode_unified_header`); this module frames nothing else. It tracks no
epoch switch, keeps no replay window and picks no epoch for a record: one instance is one
epoch's keys in one direction, and the caller (:mod:`aiodtls.record.layer13`) chooses it
from the header's epoch bits and checks replay after a record opens.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

from ..drops import Drop, DropReason
from ..wire import UNIFIED_FIRST_BYTES, UnifiedRecord, encode_unified_header, read_unified_record

__all__ = [
    "IV_LENGTH",
    "MAX_CIPHERTEXT_LENGTH_13",
    "MAX_INNER_PLAINTEXT_LENGTH",
    "SEQUENCE_SAMPLE_LENGTH",
    "OpenedRecord13",
    "RecordProtection13",
    "reconstruct_sequence_number",
]

IV_LENGTH: Final = 12
"iv_length of every TLS 1.3 AEAD here: max(8, N_MIN) = 12 bytes (RFC 8446 §5.3)."
MAX_INNER_PLAINTEXT_LENGTH: Final = (1 << 14) + 1
"The full encoded inner plaintext: content, type and padding, at most 2^14 + 1 (RFC 8446 §5.4)."
MAX_CIPHERTEXT_LENGTH_13: Final = (1 << 14) + 256
"The longest encrypted_record a peer may send (RFC 8446 §5.2: record_overflow beyond)."
SEQUENCE_SAMPLE_LENGTH: Final = 16
"Ciphertext bytes the sequence number mask is computed over (RFC 9147 §4.2.3)."
MAX_SEQUENCE_NUMBER_13: Final = (1 << 64) - 1
"The 64-bit record sequence number of the nonce (RFC 8446 §5.3, RFC 9147 §4 RecordNumber)."

# RFC 9147 §4.1 Figure 5: the decrypted content types a DTLS 1.3 record may carry.
_INNER_CONTENT_TYPES: Final = frozenset({21, 22, 23, 24, 26})
_ZEROS: Final = bytes(SEQUENCE_SAMPLE_LENGTH)


@dataclass(frozen=True, slots=True)
class _SuiteSpec:
    key_length: int
    tag_length: int
    chacha: bool
    "True: ChaCha20-Poly1305 and a ChaCha20 mask; False: an AES AEAD and an AES-ECB mask."


# Keyed by the suite's number (``aiodtls.suites.Suite13``, a layer above this one): the
# record layer needs only its AEAD and mask.
_AES_128_GCM: Final = 0x1301
_AES_256_GCM: Final = 0x1302
_CCM_8: Final = 0x1305
_SPECS: Final = {
    _AES_128_GCM: _SuiteSpec(16, 16, False),
    _AES_256_GCM: _SuiteSpec(32, 16, False),
    0x1303: _SuiteSpec(32, 16, True),  # TLS_CHACHA20_POLY1305_SHA256
    0x1304: _SuiteSpec(16, 16, False),  # TLS_AES_128_CCM_SHA256
    _CCM_8: _SuiteSpec(16, 8, False),  # TLS_AES_128_CCM_8_SHA256
}
_SUITE_VALUES: Final = {suite: suite for suite in _SPECS}


def reconstruct_sequence_number(low_bits: int, bits: int, next_expected: int) -> int:
    """The full sequence number whose low ``bits`` (8 or 16) are ``low_bits`` and which is
    numerically closest to ``next_expected`` (RFC 9147 §4.2.2: one plus the highest sequence
    number deprotected in this epoch, 0 before any).

    Candidates are one window (2^bits) apart; the one kept lies in
    ``(next_expected - 2^(bits-1), next_expected + 2^(bits-1)]`` (a tie, exactly half a window
    either side, goes to the later one), moved by one window where that would leave 0 .. 2^64-1.
    """
    window = 1 << bits
    half = window >> 1
    candidate = (next_expected & ~(window - 1)) | low_bits
    if candidate <= next_expected - half and candidate + window <= MAX_SEQUENCE_NUMBER_13:
        return candidate + window
    if candidate > next_expected + half and candidate >= window:
        return candidate - window
    return candidate


@dataclass(frozen=True, slots=True)
class OpenedRecord13:
    """One DTLS 1.3 record that authenticated, with its inner plaintext taken apart."""

    content_type: int
    "The real content type, from inside the protection (21, 22, 23, 24 or 26)."

    content: bytes
    "The record's content, padding removed."

    sequence_number: int
    "The reconstructed 64-bit record sequence number (for replay checks and ACKs)."

    record: UnifiedRecord
    "The header as read from the wire (its ``sequence_number`` still masked)."

    padding: int
    "How many zero bytes of padding followed the content type."

    @property
    def end(self) -> int:
        """Where the next record in the datagram starts."""
        return self.record.offset + self.record.header_length + self.record.length


class RecordProtection13:
    """DTLS 1.3 record protection of one epoch in one direction: :meth:`seal` or :meth:`open`.

    ``key``, ``iv`` and ``sn_key`` are the epoch's ``[sender]_write_key``, ``_write_iv`` and
    ``_sn_key`` (RFC 8446 §7.3, RFC 9147 §4.2.3). ``connection_id`` is the CID records of this
    direction carry (the one the receiver chose), or ``None`` where none was negotiated.
    TLS_AES_128_CCM_8_SHA256 needs ``allow_ccm8=True``: its 8-byte tag is not recommended
    for general use (RFC 8446 B.4 lists it, TLS registry: not recommended).
    """

    # The mask is computed by a method from ``_ecb`` (AES: one ECB encryptor for every record,
    # made again after :meth:`rest`) or ``_sn_key`` (ChaCha20: a cipher per record), not by a
    # closure kept per epoch: a function and its cell cost ~200 bytes of each epoch.
    __slots__ = (
        "_aead",
        "_chacha",
        "_cid",
        "_ecb",
        "_epoch",
        "_iv",
        "_sn_key",
        "_suite",
        "_tag_length",
    )

    def __init__(
        self,
        suite: int,
        *,
        key: bytes,
        iv: bytes,
        sn_key: bytes,
        epoch: int,
        connection_id: bytes | None = None,
        allow_ccm8: bool = False,
    ) -> None:
        # The one int object of the suite (``int()`` of an IntEnum member makes a new one,
        # kept by each epoch's keys otherwise).
        found = _SUITE_VALUES.get(int(suite))
        if found is None:
            raise ValueError(f"0x{int(suite):04x} is not a TLS 1.3 cipher suite")
        suite = found
        if suite == _CCM_8 and not allow_ccm8:
            raise ValueError("TLS_AES_128_CCM_8_SHA256 needs allow_ccm8=True")
        spec = _SPECS[suite]
        if len(key) != spec.key_length or len(sn_key) != spec.key_length:
            raise ValueError(f"suite 0x{suite:04x} takes {spec.key_length}-byte key and sn_key")
        if len(iv) != IV_LENGTH:
            raise ValueError(f"the write IV is {IV_LENGTH} bytes")
        if connection_id is not None and not 0 < len(connection_id) <= 255:
            raise ValueError("a connection ID is 1 to 255 bytes")
        self._suite = suite
        self._epoch = epoch
        self._cid = connection_id
        self._tag_length = spec.tag_length
        self._iv = int.from_bytes(iv, "big")
        self._aead: AESGCM | AESCCM | ChaCha20Poly1305
        self._ecb: CipherContext | None = None
        self._sn_key = sn_key
        self._chacha = spec.chacha
        if spec.chacha:
            self._aead = ChaCha20Poly1305(key)
        else:
            if suite in (_AES_128_GCM, _AES_256_GCM):
                self._aead = AESGCM(key)
            else:
                self._aead = AESCCM(key, tag_length=spec.tag_length)
            self._ecb = _aes_ecb(sn_key)

    @property
    def suite(self) -> int:
        """The cipher suite these keys belong to (a ``aiodtls.suites.Suite13`` value)."""
        return self._suite

    @property
    def epoch(self) -> int:
        """The full epoch these keys protect (the header carries its two low bits)."""
        return self._epoch

    @property
    def connection_id(self) -> bytes | None:
        """The CID the records of this direction carry, or None (none negotiated)."""
        return self._cid

    @connection_id.setter
    def connection_id(self, cid: bytes) -> None:
        """Write direction: records sealed from now on carry ``cid`` (a NewConnectionId from
        the peer, RFC 9147 §9); its length may differ (see :attr:`overhead`)."""
        if self._cid is None or not 0 < len(cid) <= 255:
            raise ValueError("a connection ID is 1 to 255 bytes, and replaces a negotiated one")
        self._cid = cid

    @property
    def tag_length(self) -> int:
        """Bytes the AEAD adds: 16, or 8 for TLS_AES_128_CCM_8_SHA256."""
        return self._tag_length

    @property
    def overhead(self) -> int:
        """Bytes a record of ``n`` content bytes takes beyond ``n`` as :meth:`seal` writes it
        by default (16-bit sequence number, length present, no padding): the unified header
        (1, the CID, 2, 2), the inner content type (1) and the tag. A short record may take
        more: its ciphertext is padded to the 16-byte mask sample."""
        return 6 + (0 if self._cid is None else len(self._cid)) + self._tag_length

    def nonce(self, sequence_number: int) -> bytes:
        """The per-record nonce: the 64-bit sequence number, left-padded to the IV's 12 bytes,
        XORed with the IV (RFC 8446 §5.3; RFC 9147 §4: the epoch is not included)."""
        if not 0 <= sequence_number <= MAX_SEQUENCE_NUMBER_13:
            raise ValueError("a record sequence number is 64 bits")
        return (self._iv ^ sequence_number).to_bytes(IV_LENGTH, "big")

    def mask(self, sample: bytes) -> bytes:
        """The record number mask over a 16-byte ciphertext sample (RFC 9147 §4.2.3)."""
        ecb = self._ecb
        if ecb is None:
            if self._chacha:
                return _chacha20_mask(self._sn_key, sample)
            ecb = self._ecb = _aes_ecb(self._sn_key)
        return ecb.update(sample[:SEQUENCE_SAMPLE_LENGTH])

    def rest(self) -> None:
        """These keys are kept only for a late record (the handshake's read epoch once the
        handshake is over): let go of the mask's AES encryptor (~230 bytes), made again from
        the sn_key if such a record comes."""
        self._ecb = None

    def seal(
        self,
        content_type: int,
        content: bytes,
        sequence_number: int,
        *,
        padding: int = 0,
        sequence_bits: int = 16,
        include_length: bool = True,
    ) -> bytes:
        """One DTLSCiphertext record: unified header (record number encrypted) || AEAD output.

        ``padding`` zero bytes follow the content type; more are added when the ciphertext would
        be shorter than the 16-byte mask sample (RFC 9147 §4.2.3: senders MUST pad). Without
        ``include_length`` the record must be the last in its datagram (RFC 9147 §4)."""
        if content_type not in _INNER_CONTENT_TYPES:
            raise ValueError(f"content type {content_type} is not carried by DTLS 1.3")
        if padding < 0:
            raise ValueError("padding is a number of zero bytes")
        short = SEQUENCE_SAMPLE_LENGTH - (len(content) + 1 + padding + self._tag_length)
        if short > 0:
            padding += short
        inner_length = len(content) + 1 + padding
        if inner_length > MAX_INNER_PLAINTEXT_LENGTH:
            raise ValueError("the inner plaintext is longer than 2^14 + 1 bytes")
        inner = b"".join((content, bytes((content_type,)), bytes(padding)))
        ciphertext_length = inner_length + self._tag_length
        header = encode_unified_header(
            self._epoch,
            sequence_number,
            sequence_bits=sequence_bits,
            connection_id=self._cid,
            length=ciphertext_length if include_length else None,
        )
        ciphertext = self._aead.encrypt(self.nonce(sequence_number), inner, header)
        return _apply_mask(header, self._cid, sequence_bits, self.mask(ciphertext[:16])) + (
            ciphertext
        )

    def open(self, data: bytes, pos: int, next_expected: int) -> OpenedRecord13 | Drop:
        """The record at ``pos`` in the datagram ``data``, deprotected, or why it is dropped.

        ``next_expected`` is one more than the highest sequence number deprotected in this
        epoch (0 before any): the sequence number is reconstructed nearest to it. The caller
        checks replay on :attr:`OpenedRecord13.sequence_number` and only then raises its
        highest (RFC 9147 §4.5.1)."""
        if pos >= len(data):
            return Drop(DropReason.TRUNCATED_RECORD_HEADER, offset=pos)
        first = data[pos]
        if first not in UNIFIED_FIRST_BYTES:
            return Drop(DropReason.NOT_UNIFIED_HEADER, (first,), offset=pos)
        cid = self._cid
        if first & 0x10:  # C
            if cid is None:
                return Drop(DropReason.UNIFIED_CID_NOT_NEGOTIATED, offset=pos)
        elif cid is not None:
            return Drop(DropReason.MISSING_CID, offset=pos)
        record = read_unified_record(data, pos, 0 if cid is None else len(cid))
        if type(record) is Drop:
            return record
        assert isinstance(record, UnifiedRecord)
        return self.open_record(data, record, next_expected)

    def open_record(
        self,
        data: bytes,
        record: UnifiedRecord,
        next_expected: int,
        other_cids: Container[bytes] = (),
    ) -> OpenedRecord13 | Drop:
        """As :meth:`open`, for a record the caller already framed in ``data`` (the DTLS 1.3
        record layer frames a whole datagram with :func:`~aiodtls.wire.split_datagram13`
        first, then picks the epoch from the header's bits). ``other_cids``: CIDs of the same
        length accepted besides :attr:`connection_id` (ones we gave in a NewConnectionId,
        RFC 9147 §9; the header as received is the additional data either way)."""
        pos = record.offset
        cid = self._cid
        if record.connection_id is None:
            if cid is not None:
                return Drop(DropReason.MISSING_CID, offset=pos)
        elif cid is None:
            return Drop(DropReason.UNIFIED_CID_NOT_NEGOTIATED, offset=pos)
        if record.connection_id != cid and record.connection_id not in other_cids:
            return Drop(DropReason.UNKNOWN_CID, offset=pos)
        if record.epoch_bits != self._epoch & 0x03:
            return Drop(
                DropReason.EPOCH_BITS_MISMATCH, (record.epoch_bits, self._epoch & 0x03), pos
            )
        if record.length > MAX_CIPHERTEXT_LENGTH_13:
            return Drop(DropReason.RECORD_TOO_LONG, offset=pos)
        if record.length < SEQUENCE_SAMPLE_LENGTH:
            return Drop(DropReason.SHORTER_THAN_SEQUENCE_SAMPLE, offset=pos)
        start = pos + record.header_length
        ciphertext = data[start : start + record.length]
        bits = record.sequence_number_bits
        header = _apply_mask(data[pos:start], cid, bits, self.mask(ciphertext[:16]))
        seq_at = 1 + (0 if cid is None else len(cid))
        low = int.from_bytes(header[seq_at : seq_at + bits // 8], "big")
        sequence_number = reconstruct_sequence_number(low, bits, next_expected)
        try:
            inner = self._aead.decrypt(self.nonce(sequence_number), ciphertext, header)
        except InvalidTag:
            return Drop(DropReason.BAD_TAG, offset=pos)
        if len(inner) > MAX_INNER_PLAINTEXT_LENGTH:
            return Drop(DropReason.PLAINTEXT_TOO_LONG, offset=pos)
        content = inner.rstrip(b"\x00")
        if not content:
            return Drop(DropReason.NO_INNER_CONTENT_TYPE, offset=pos)
        content_type = content[-1]
        if content_type not in _INNER_CONTENT_TYPES:
            return Drop(DropReason.UNKNOWN_INNER_CONTENT_TYPE, (content_type,), pos)
        return OpenedRecord13(
            content_type=content_type,
            content=content[:-1],
            sequence_number=sequence_number,
            record=record,
            padding=len(inner) - len(content),
        )


def _apply_mask(header: bytes, cid: bytes | None, bits: int, mask: bytes) -> bytes:
    """``header`` with its sequence number bytes XORed with the mask's leading bytes (both
    directions: RFC 9147 §4.2.3, "decryption is accomplished by the same process")."""
    at = 1 + (0 if cid is None else len(cid))
    width = bits // 8
    masked = bytes(h ^ m for h, m in zip(header[at : at + width], mask, strict=False))
    return header[:at] + masked + header[at + width :]


def _aes_ecb(sn_key: bytes) -> CipherContext:
    """The encryptor of Mask = AES-ECB(sn_key, Ciphertext[0..15]) (RFC 9147 §4.2.3): one raw
    block, so one encryptor serves every record (ECB carries nothing from one block to the
    next)."""
    return Cipher(algorithms.AES(sn_key), modes.ECB()).encryptor()


def _chacha20_mask(sn_key: bytes, sample: bytes) -> bytes:
    """Mask = ChaCha20(sn_key, Ciphertext[0..3], Ciphertext[4..15]) (RFC 9147 §4.2.3): the
    block function's output is the keystream, so encrypt zeros. ``cryptography`` takes the
    16-byte counter || nonce as one value with the counter little-endian (RFC 8439 §2.3's
    state words), the reading RFC 9001 §5.4.4 spells out for the same QUIC construction and
    the one wolfSSL (``ato32le``) and OpenSSL (the 16 bytes as the EVP IV) implement."""
    cipher = Cipher(algorithms.ChaCha20(sn_key, sample[:SEQUENCE_SAMPLE_LENGTH]), None)
    return cipher.encryptor().update(_ZEROS)
