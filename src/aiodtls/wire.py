"""The DTLS wire format and its one keyless reader (RFC 6347 §4.1, RFC 9146 §4, RFC 9147 §4).

Owns the layout of record headers (content types, versions, the 13-byte DTLS 1.0/1.2 header,
the tls12_cid header with its connection ID, the DTLS 1.3 unified header) and the one place
where a datagram is cut into records: :func:`split_datagram`. The record layer and the
connection use it for every received datagram; the keyless dissector (:mod:`aiodtls.dissect`,
read by the proxy, the diagnosis and the simulator) frames datagrams through it too, adding
only what an observer needs: unified headers (:func:`read_unified_record`) and the CID length
when it missed the hellos (:func:`infer_cid_length`). DTLS 1.3 record protection
(:mod:`aiodtls.record.protection13`) reads the unified header through the same function and
writes it with :func:`encode_unified_header`; the DTLS 1.3 record layer
(:mod:`aiodtls.record.layer13`) frames its datagrams with :func:`split_datagram13`, which
demultiplexes by first byte (RFC 9147 §4.1) onto the same two readers. So every reader
applies the same bounds checks (SPEC R4, X18), and reports what it cannot frame the same
way, as a :class:`~aiodtls.drops.Drop`.

It decrypts nothing, tracks no epoch and checks no replay (``record.layer`` does), and it
reads nothing inside a record body (``dissect`` does, for observers; ``reliability`` for the
connection). It imports nothing from the rest of the library but the drop vocabulary, so any
layer may use it.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from enum import IntEnum

from .drops import Drop, DropReason

__all__ = [
    "DTLS1_0",
    "DTLS1_2",
    "DTLS13_PLAINTEXT_TYPES",
    "MAX_CID_LENGTH",
    "MAX_CIPHERTEXT_LENGTH",
    "MAX_FRAMING_CHECKS",
    "MAX_PLAINTEXT_LENGTH",
    "MAX_SEQUENCE_NUMBER",
    "RECORD_HEADER",
    "RECORD_HEADER_LENGTH",
    "TLS12_CID",
    "UNIFIED_FIRST_BYTES",
    "ContentType",
    "RawRecord",
    "UnframedCidRecord",
    "UnifiedRecord",
    "cid_record_header",
    "encode_record_header",
    "encode_unified_header",
    "infer_cid_length",
    "peek_cid",
    "read_unified_record",
    "split_datagram",
    "split_datagram13",
    "starts_in_epoch_zero",
    "starts_with_plain_client_hello",
    "unframed_cid_record",
]

DTLS1_0 = 0xFEFF
"The record-layer version field of DTLS 1.0 (also sent in early records, RFC 6347 §4.1)."
DTLS1_2 = 0xFEFD
"The record-layer version field of DTLS 1.2."
RECORD_HEADER_LENGTH = 13
"Bytes of a DTLS 1.2 record header: type, version, epoch, sequence number, length."
MAX_PLAINTEXT_LENGTH = 1 << 14
"Most application or handshake bytes one record carries (2^14)."
MAX_CIPHERTEXT_LENGTH = MAX_PLAINTEXT_LENGTH + 2048  # RFC 5246 §6.2.3
"Longest record body accepted from the network (RFC 5246 §6.2.3)."
MAX_SEQUENCE_NUMBER = (1 << 48) - 1
"The largest 48-bit record sequence number."
RECORD_HEADER = struct.Struct("!BHQH")
"The header without a CID: type, version, epoch || sequence number as one 64-bit number, length."
_HEADER_BEFORE_CID = struct.Struct("!BHQ")
_LENGTH = struct.Struct("!H")
_HANDSHAKE = 22
"ContentType.handshake, read before the enumeration is defined."
_CLIENT_HELLO = 1
"The handshake type of a ClientHello (RFC 5246 §7.4)."


@functools.cache  # one per CID length in use (at most 256)
def cid_record_header(cid_length: int) -> struct.Struct:
    """The header of a tls12_cid record whose CID is ``cid_length`` bytes: type, version,
    epoch || sequence number, CID, length (RFC 9146 §4), to unpack in one call."""
    return struct.Struct(f"!BHQ{cid_length}sH")


class ContentType(IntEnum):
    """Record content types."""

    change_cipher_spec = 20
    alert = 21
    handshake = 22
    application_data = 23
    tls12_cid = 25
    ack = 26


TLS12_CID = 25  # a plain int: no Enum lookup per record
"The outer content type of a record carrying a connection ID (RFC 9146 §4)."


# Not frozen: a frozen dataclass sets each field through object.__setattr__, about 4-5 times
# the cost of building this slotted one, once per received record (docs/performance.md).
@dataclass(slots=True)
class RawRecord:
    """One record as it sits on the wire, before any decryption. Treat it as read-only."""

    content_type: int
    version: int
    epoch: int
    sequence_number: int
    fragment: bytes
    "The protected (or, at epoch 0, plain) payload after the header."
    cid: bytes = b""
    "The connection ID of a tls12_cid record (RFC 9146 §4); empty for other records."

    @property
    def header(self) -> bytes:
        """The header bytes as received (13, plus the CID of a tls12_cid record)."""
        return encode_record_header(
            self.content_type,
            self.version,
            self.epoch,
            self.sequence_number,
            len(self.fragment),
            self.cid,
        )


def encode_record_header(
    content_type: int,
    version: int,
    epoch: int,
    sequence_number: int,
    length: int,
    cid: bytes = b"",
) -> bytes:
    """The header: type, version, epoch(16), sequence_number(48), then the connection ID of a
    tls12_cid record (no length of its own, RFC 9146 §4), then length(16)."""
    seq_num = (epoch << 48) | sequence_number
    if cid:
        return _HEADER_BEFORE_CID.pack(content_type, version, seq_num) + cid + _LENGTH.pack(length)
    return RECORD_HEADER.pack(content_type, version, seq_num, length)


MAX_CID_LENGTH = 255
"Longest connection ID: ``opaque cid<0..2^8-1>`` (RFC 9146 §3)."


def peek_cid(data: bytes, cid_length: int) -> bytes | None:
    """The connection ID of the first record of ``data`` if it is a tls12_cid record with a
    full header for a CID of ``cid_length`` bytes (DTLS 1.2, RFC 9146 §4: at byte 11), or a
    DTLS 1.3 unified header with the C bit (first byte ``0b0011xxxx``, RFC 9147 §4: the CID
    follows the first byte) long enough for that CID and a sequence number; else None.
    Keyless: used to route a datagram before any connection looks at it (the endpoint,
    RFC 9146 §6, RFC 9147 §9). One length for both: the wire carries none."""
    if cid_length <= 0 or len(data) < RECORD_HEADER_LENGTH + cid_length or data[0] != TLS12_CID:
        if cid_length > 0 and len(data) > cid_length + 1 and data[0] & 0xF0 == _UNIFIED_WITH_CID:
            return data[1 : 1 + cid_length]
        return None
    return data[11 : 11 + cid_length]


def starts_with_plain_client_hello(data: bytes) -> bool:
    """Does ``data`` start with an epoch-0 handshake record whose body starts a ClientHello?
    Keyless and cheap: how the endpoint tells a new handshake from anything else before it
    reads the ClientHello itself (``handshake.cookie``)."""
    return (
        len(data) >= RECORD_HEADER_LENGTH + 13
        and data[0] == _HANDSHAKE
        and data[3] == 0
        and data[4] == 0
        and data[RECORD_HEADER_LENGTH] == _CLIENT_HELLO
    )


def starts_in_epoch_zero(data: bytes) -> bool:
    """Is the first record of ``data`` a DTLS 1.2 record of epoch 0 (plaintext)?"""
    return data[3:5] == b"\x00\x00"


def split_datagram(
    data: bytes,
    cid_length: int = 0,
    start: int = 0,
    pause_at: frozenset[int] | None = None,
) -> list[RawRecord | Drop]:
    """Split a datagram into records: the one framing of received datagrams.

    Returns a :class:`RawRecord` per well-formed record, then a :class:`Drop` (its offset
    where the record starts) for the first one that cannot be framed, after which the rest of
    the datagram is dropped: a record never spans datagrams and a length that overruns the
    datagram cannot be trusted (SPEC R4, X18). A tls12_cid record's CID is ``cid_length``
    bytes: the receiver's own length, since the wire does not say (RFC 9146 §4, SPEC I3).

    Observers frame a datagram piece by piece: ``start`` is where to begin, and framing stops
    (without a drop) before a record whose first byte is in ``pause_at``, e.g. a DTLS 1.3
    unified header, which this 13-byte-header framing must not read.
    """
    items: list[RawRecord | Drop] = []
    pos = start
    end = len(data)
    while pos < end:
        first = data[pos]
        if pause_at is not None and first in pause_at:
            break
        cid_len = cid_length if first == TLS12_CID else 0
        body_start = pos + RECORD_HEADER_LENGTH + cid_len
        if body_start > end:
            items.append(Drop(DropReason.TRUNCATED_RECORD_HEADER, offset=pos))
            break
        if cid_len:
            content_type, version, seq_num = _HEADER_BEFORE_CID.unpack_from(data, pos)
            (length,) = _LENGTH.unpack_from(data, body_start - 2)
            cid = data[pos + 11 : pos + 11 + cid_len]
        else:
            content_type, version, seq_num, length = RECORD_HEADER.unpack_from(data, pos)
            cid = b""
        next_pos = body_start + length
        if next_pos > end:
            items.append(Drop(DropReason.RECORD_OVERRUNS_DATAGRAM, offset=pos))
            break
        items.append(
            RawRecord(
                content_type,
                version,
                seq_num >> 48,
                seq_num & MAX_SEQUENCE_NUMBER,
                data[body_start:next_pos],
                cid,
            )
        )
        pos = next_pos
    return items


# -- DTLS 1.3 unified headers (observers; record.protection13), CID lengths never seen -------

# RFC 9147 §4: the unified header's first byte is 0b001CSLEE.
_UNIFIED_MASK = 0xE0
_UNIFIED_PREFIX = 0x20
_UNIFIED_C = 0x10
_UNIFIED_WITH_CID = _UNIFIED_PREFIX | _UNIFIED_C
"The high nibble of a unified header's first byte with the C bit (``0b0011xxxx``)."
_UNIFIED_S = 0x08
_UNIFIED_L = 0x04
_UNIFIED_EPOCH = 0x03

UNIFIED_FIRST_BYTES = frozenset(range(_UNIFIED_PREFIX, _UNIFIED_PREFIX + 0x20))
"First bytes of a DTLS 1.3 unified header (``0b001CSLEE``, RFC 9147 §4.1 demultiplexing)."


# The tls12_cid header up to the CID: type(1) version(2) epoch(2) sequence_number(6).
_CID_AT = 11
_REGISTERED_CONTENT_TYPES = frozenset(int(t) for t in ContentType)

MAX_FRAMING_CHECKS = 8
"""Candidate CID lengths whose framing of the rest of a datagram is walked header by header
when inferring; a datagram needing more is left unframed. Real datagrams need one or two; a
forged one (empty records back to back) would otherwise need one per plausible length."""


@dataclass(frozen=True)
class UnifiedRecord:
    """A DTLS 1.3 ciphertext record with the unified header ``0b001CSLEE`` (RFC 9147 §4).

    The sequence number bits are as on the wire: with record number encryption (RFC 9147
    §4.2.3) they are masked, so an observer without keys sees them scrambled.
    """

    offset: int
    "Where the record header starts in the datagram."

    header_length: int
    "1 + CID length (if present) + 1 or 2 sequence bytes + 2 length bytes (if present)."

    flags: int
    "The first byte, ``0b001CSLEE``."

    connection_id: bytes | None
    "The CID if the C bit is set (its length as given by the caller), else ``None``."

    sequence_number: int
    "The low 8 or 16 bits of the record sequence number, as on the wire (possibly masked)."

    length: int
    "The length of the encrypted record; the rest of the datagram when L is clear."

    @property
    def cid_present(self) -> bool:
        """The C bit: a connection ID follows the first byte."""
        return bool(self.flags & _UNIFIED_C)

    @property
    def sequence_number_bits(self) -> int:
        """16 if the S bit is set, else 8."""
        return 16 if self.flags & _UNIFIED_S else 8

    @property
    def length_present(self) -> bool:
        """The L bit: a 16-bit length follows; when clear the record runs to the datagram end."""
        return bool(self.flags & _UNIFIED_L)

    @property
    def epoch_bits(self) -> int:
        """The two low bits of the epoch (EE)."""
        return self.flags & _UNIFIED_EPOCH


@dataclass(frozen=True)
class UnframedCidRecord:
    """An RFC 9146 ``tls12_cid`` record whose CID length is unknown and not inferable.

    Its header up to the sequence number is readable; the CID, the length and so everything
    after this record in the datagram are not, because the CID length is never on the wire.
    """

    offset: int
    "Where its header starts in the datagram (the last position framing reached)."

    version: int
    "The wire version of its header (``0xFEFD`` for DTLS 1.2, the only one with tls12_cid)."

    epoch: int
    "Its 16-bit epoch: never 0 from a conforming sender (RFC 9146 §4)."

    sequence_number: int
    "Its 48-bit record sequence number, readable because it comes before the CID."

    candidates: tuple[int, ...]
    """The CID lengths (1 to 255) found to frame the rest of the datagram: none, or several
    (the search stops after :data:`MAX_FRAMING_CHECKS` full checks)."""

    @property
    def encrypted(self) -> bool:
        """Always true: a ``tls12_cid`` record is protected."""
        return True


def read_unified_record(data: bytes, pos: int, cid_length: int) -> UnifiedRecord | Drop:
    """The DTLS 1.3 unified-header record at ``pos`` (its first byte ``0b001CSLEE``), or the
    :class:`Drop` saying where its header or length fails the datagram. The CID, when the C
    bit says one is there, is ``cid_length`` bytes (negotiated, not on the wire)."""
    flags = data[pos]
    end = len(data)
    cursor = pos + 1
    connection_id: bytes | None = None
    if flags & _UNIFIED_C:
        if cursor + cid_length > end:
            return Drop(DropReason.TRUNCATED_UNIFIED_CID, offset=pos)
        connection_id = data[cursor : cursor + cid_length]
        cursor += cid_length
    seq_bytes = 2 if flags & _UNIFIED_S else 1
    if cursor + seq_bytes > end:
        return Drop(DropReason.TRUNCATED_UNIFIED_SEQUENCE_NUMBER, offset=pos)
    sequence_number = int.from_bytes(data[cursor : cursor + seq_bytes], "big")
    cursor += seq_bytes
    if flags & _UNIFIED_L:
        if cursor + 2 > end:
            return Drop(DropReason.TRUNCATED_UNIFIED_LENGTH, offset=pos)
        length = int.from_bytes(data[cursor : cursor + 2], "big")
        cursor += 2
        if cursor + length > end:
            return Drop(DropReason.RECORD_OVERRUNS_DATAGRAM, offset=pos)
    else:
        # RFC 9147 §4: without L the record runs to the end of the datagram.
        length = end - cursor
    return UnifiedRecord(
        offset=pos,
        header_length=cursor - pos,
        flags=flags,
        connection_id=connection_id,
        sequence_number=sequence_number,
        length=length,
    )


def encode_unified_header(
    epoch: int,
    sequence_number: int,
    *,
    sequence_bits: int = 16,
    connection_id: bytes | None = None,
    length: int | None = None,
) -> bytes:
    """The DTLS 1.3 unified header (RFC 9147 §4, Figure 3) that :func:`read_unified_record`
    reads: ``0b001CSLEE`` with the epoch's two low bits, the CID if one is given (C), the low
    ``sequence_bits`` (8 or 16, S) bits of ``sequence_number`` as given (the caller applies
    record number encryption, §4.2.3), and the 16-bit ``length`` if one is given (L)."""
    if sequence_bits not in (8, 16):
        raise ValueError("the unified header carries an 8- or 16-bit sequence number")
    flags = _UNIFIED_PREFIX | (epoch & _UNIFIED_EPOCH)
    parts = [b""]
    if connection_id is not None:
        flags |= _UNIFIED_C
        parts.append(connection_id)
    if sequence_bits == 16:
        flags |= _UNIFIED_S
        parts.append((sequence_number & 0xFFFF).to_bytes(2, "big"))
    else:
        parts.append((sequence_number & 0xFF).to_bytes(1, "big"))
    if length is not None:
        flags |= _UNIFIED_L
        parts.append(_LENGTH.pack(length))
    parts[0] = bytes((flags,))
    return b"".join(parts)


DTLS13_PLAINTEXT_TYPES = frozenset({21, 22, 26})
"""First bytes of a DTLS 1.3 DTLSPlaintext record: alert, handshake, ack (RFC 9147 §4.1). The
others of DTLS 1.2 (change_cipher_spec 20, application_data 23, heartbeat 24, tls12_cid 25)
are no DTLS 1.3 record."""

# Where the 13-byte-header framing must stop in a DTLS 1.3 datagram: every other first byte.
_NOT_DTLS13_PLAINTEXT = frozenset(range(256)) - DTLS13_PLAINTEXT_TYPES


def split_datagram13(data: bytes, cid_length: int = 0) -> list[RawRecord | UnifiedRecord | Drop]:
    """Split a DTLS 1.3 datagram into records, demultiplexed by first byte (RFC 9147 §4.1).

    alert(21), handshake(22) and ack(26) start a DTLSPlaintext record with the 13-byte header
    (a :class:`RawRecord`, framed by :func:`split_datagram`); ``0b001CSLEE`` starts a
    DTLSCiphertext record with the unified header (a :class:`UnifiedRecord`, framed by
    :func:`read_unified_record`; without the L bit it runs to the end of the datagram). A
    unified header's CID is ``cid_length`` bytes, the length negotiated for records to us;
    with 0 (none negotiated) a C bit cannot be framed.

    As :func:`split_datagram`, the first record that cannot be framed ends the list with a
    :class:`Drop` and the rest of the datagram is not read: any other first byte is
    "rejected as if it had failed deprotection" (§4.1), and what follows it has no length
    anyone can trust.
    """
    items: list[RawRecord | UnifiedRecord | Drop] = []
    pos = 0
    end = len(data)
    while pos < end:
        first = data[pos]
        if first in DTLS13_PLAINTEXT_TYPES:
            records = split_datagram(data, 0, pos, _NOT_DTLS13_PLAINTEXT)
            items.extend(records)
            if type(records[-1]) is Drop:
                break
            for record in records:
                assert isinstance(record, RawRecord)
                pos += RECORD_HEADER_LENGTH + len(record.fragment)
            continue
        if first & _UNIFIED_MASK != _UNIFIED_PREFIX:
            items.append(Drop(DropReason.NOT_A_DTLS13_RECORD, (first,), offset=pos))
            break
        if first & _UNIFIED_C and not cid_length:
            items.append(Drop(DropReason.UNIFIED_CID_NOT_NEGOTIATED, offset=pos))
            break
        unified = read_unified_record(data, pos, cid_length)
        items.append(unified)
        if type(unified) is Drop:
            break
        assert isinstance(unified, UnifiedRecord)
        pos += unified.header_length + unified.length
    return items


def infer_cid_length(data: bytes, pos: int) -> tuple[int | None, tuple[int, ...]]:
    """(the CID length of the tls12_cid record at ``pos`` if the datagram shows it, else None;
    the lengths found to frame the datagram). The caller checked that a 13-byte header fits.

    The length is the one from 1 to 255 with which the record's length field frames the rest
    of the datagram exactly (records after it with the same version, the same CID, nothing
    left over); zero is excluded because a zero-length CID is sent without ``tls12_cid``
    (RFC 9146 §4). If several do, the one that frames the most records carrying that same CID
    wins; a tie, or more than :data:`MAX_FRAMING_CHECKS` walks of the rest, stays unknown.
    """
    end = len(data)
    version = data[pos + 1 : pos + 3]
    fits: dict[int, int] = {}
    "CID length -> how many tls12_cid records, all with one CID, it frames."
    checks = 0
    for cid_length in range(1, min(MAX_CID_LENGTH, end - pos - RECORD_HEADER_LENGTH) + 1):
        at = pos + _CID_AT + cid_length
        record_end = at + 2 + int.from_bytes(data[at : at + 2], "big")
        if record_end == end:
            fits[cid_length] = 1
        elif record_end < end and _plausible_header(data, record_end, version):
            checks += 1
            if checks > MAX_FRAMING_CHECKS:
                return None, tuple(fits)
            cid = data[pos + _CID_AT : at]
            more = _cid_records_after(data, record_end, cid, version)
            if more is not None:
                fits[cid_length] = 1 + more
    if not fits:
        return None, ()
    # A longer CID can swallow the next record's header up to its length field and still
    # frame the datagram; the length under which more records carry one and the same CID
    # is the real one (a coincidence there is one in 2^(8N)). A tie stays unknown.
    most = max(fits.values())
    best = [cid_length for cid_length, count in fits.items() if count == most]
    return (best[0] if len(best) == 1 else None), tuple(fits)


def unframed_cid_record(data: bytes, pos: int, candidates: tuple[int, ...]) -> UnframedCidRecord:
    """The readable part of the tls12_cid record at ``pos`` whose CID length is unknown."""
    return UnframedCidRecord(
        offset=pos,
        version=int.from_bytes(data[pos + 1 : pos + 3], "big"),
        epoch=int.from_bytes(data[pos + 3 : pos + 5], "big"),
        sequence_number=int.from_bytes(data[pos + 5 : pos + 11], "big"),
        candidates=candidates,
    )


def _plausible_header(data: bytes, pos: int, version: bytes) -> bool:
    """A cheap first test of a record header at ``pos``: room, a registered type, the version."""
    return (
        len(data) - pos >= RECORD_HEADER_LENGTH
        and data[pos] in _REGISTERED_CONTENT_TYPES
        and data[pos + 1 : pos + 3] == version
    )


def _cid_records_after(data: bytes, pos: int, cid: bytes, version: bytes) -> int | None:
    """How many tls12_cid records ``data[pos:]`` holds if it is whole records of ``version``
    whose CIDs are all ``cid``; None if it is not. Headers only: framing is the question."""
    end = len(data)
    count = 0
    while pos < end:
        if not _plausible_header(data, pos, version):
            return None
        header_length = RECORD_HEADER_LENGTH
        if data[pos] == TLS12_CID:
            if data[pos + _CID_AT : pos + _CID_AT + len(cid)] != cid:
                return None
            header_length += len(cid)
            count += 1
        if end - pos < header_length:
            return None
        at = pos + header_length - 2
        pos += header_length + int.from_bytes(data[at : at + 2], "big")
    return count if pos == end else None
