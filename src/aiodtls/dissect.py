"""Keyless dissection of DTLS datagrams: what an on-path observer can read without keys.

Owns the *read-only, never-raising* view of a datagram that the network simulator's targeted
rules, timelines and the diagnosing proxy need: record headers (DTLS 1.0/1.2 13-byte headers,
RFC 9146 ``tls12_cid`` headers, RFC 9147 unified headers), the 12-byte handshake fragment
headers inside epoch-0 plaintext handshake records, the cookie lengths of ClientHello and
HelloVerifyRequest, and the DTLS-SRTP profiles (``use_srtp``) and connection IDs
(``connection_id``, RFC 9146) of whole hellos. Everything encrypted (epoch > 0, ``tls12_cid``,
unified headers) stays opaque.

The CID length is not on the wire: :class:`aiodtls.cid_tracker.ConnectionIdTracker` learns
each direction's from the hellos of one client-server pair, and without it :func:`dissect`
infers it from the datagram when exactly one length frames it (:class:`UnframedCidRecord`
when none or several do).

It does not validate a record the way a receiver must (no replay, epoch or version checks) and
it never decides what to drop; ``record`` and ``reliability`` own that. Malformed input is
reported as a :class:`Malformed` entry with a reason, never as an exception, because the
callers are diagnostics that must keep going on hostile traffic (SPEC X18).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from .alerts import Alert, alert_name
from .buffer import BufferReadError
from .handshake.messages import (
    ExtensionType,
    HandshakeType,
    decode_message,
    decode_use_srtp,
    find_extension,
    pull_client_hello,
    pull_server_hello,
)
from .record.header import RECORD_HEADER_LENGTH, ContentType
from .srtp import SrtpProfile

__all__ = [
    "MAX_CID_LENGTH",
    "MAX_FRAMING_CHECKS",
    "DissectedItem",
    "DtlsRecord",
    "HandshakeFragment",
    "Malformed",
    "UnframedCidRecord",
    "UnifiedRecord",
    "describe",
    "dissect",
    "handshake_fragments",
    "handshake_type_name",
    "summarize",
    "summarize_items",
]

HANDSHAKE_FRAGMENT_HEADER_LENGTH = 12
"type(1) length(3) message_seq(2) fragment_offset(3) fragment_length(3), RFC 6347 §4.2.2."

# RFC 9147 §4: the unified header's first byte is 0b001CSLEE.
_UNIFIED_MASK = 0xE0
_UNIFIED_PREFIX = 0x20
_UNIFIED_C = 0x10
_UNIFIED_S = 0x08
_UNIFIED_L = 0x04
_UNIFIED_EPOCH = 0x03

# A ClientHello body starts client_version(2) random(32) session_id<0..32>, then cookie<0..255>
# (RFC 6347 §4.2.1); a HelloVerifyRequest is server_version(2) cookie<0..255>.
_CLIENT_HELLO_SESSION_ID_AT = 34
_MAX_SESSION_ID_LENGTH = 32
_HELLO_VERIFY_COOKIE_AT = 2

MAX_CID_LENGTH = 255
"ConnectionId is ``opaque cid<0..2^8-1>`` (RFC 9146 §3)."

# The tls12_cid header up to the CID: type(1) version(2) epoch(2) sequence_number(6).
_CID_AT = 11
_REGISTERED_CONTENT_TYPES = frozenset(int(t) for t in ContentType)

MAX_FRAMING_CHECKS = 8
"""Candidate CID lengths whose framing of the rest of a datagram is walked header by header
when inferring; a datagram needing more is left unframed. Real datagrams need one or two; a
forged one (empty records back to back) would otherwise need one per plausible length."""

_SHORT_TYPE_NAMES: dict[int, str] = {
    ContentType.change_cipher_spec: "CCS",
    ContentType.alert: "Alert",
    ContentType.handshake: "HS",
    ContentType.application_data: "APP",
    ContentType.tls12_cid: "CID",
    ContentType.ack: "ACK",
}


@dataclass(frozen=True)
class HandshakeFragment:
    """The 12-byte header of one handshake fragment inside an epoch-0 plaintext record."""

    offset: int
    "Where this fragment's handshake header starts in the datagram."

    msg_type: int
    "The handshake message type (a :class:`HandshakeType` value when registered)."

    length: int
    "The length of the whole (reassembled) message body."

    message_seq: int
    "The message's handshake sequence number; retransmissions reuse it (RFC 6347 §4.2.2)."

    fragment_offset: int
    "Where this fragment's bytes start in the message body."

    fragment_length: int
    "How many body bytes this fragment carries."

    cookie_length: int | None = None
    """Cookie length of a ClientHello or HelloVerifyRequest when this fragment shows it (it
    starts at offset 0 and reaches the cookie length byte); ``None`` otherwise. ``0`` on a
    ClientHello means the hello carries no cookie."""

    srtp_profiles: tuple[int, ...] | None = None
    """The DTLS-SRTP protection profiles (RFC 5764 ``use_srtp``) a whole ClientHello offers or
    a whole ServerHello selects, as code points; ``None`` when the hello has no use_srtp, is
    fragmented or does not decode."""

    connection_id: bytes | None = None
    """The ``connection_id`` extension (RFC 9146 §3) of a whole ClientHello or ServerHello: the
    CID its sender wants to *receive*, i.e. the one the peer puts in its records (``b""``: the
    sender wants none but will send one). ``None`` when absent, fragmented or undecodable."""

    @property
    def name(self) -> str:
        """The message name in protocol spelling, e.g. ``'ClientHello'``, or ``'type<n>'``."""
        return handshake_type_name(self.msg_type)

    @property
    def is_whole(self) -> bool:
        """True if this one fragment carries the entire message."""
        return self.fragment_offset == 0 and self.fragment_length == self.length

    @property
    def has_cookie(self) -> bool | None:
        """For a ClientHello: whether it carries a non-empty cookie; ``None`` when not visible."""
        if self.msg_type != HandshakeType.client_hello or self.cookie_length is None:
            return None
        return self.cookie_length > 0


@dataclass(frozen=True)
class DtlsRecord:
    """A record with the DTLS 1.0/1.2 header (RFC 6347 §4.1), or an RFC 9146 ``tls12_cid`` one.

    DTLS 1.3 also uses this header for its epoch-0 plaintext records (RFC 9147 §4).
    """

    offset: int
    "Where the record header starts in the datagram."

    header_length: int
    "13, plus the connection ID length for ``tls12_cid`` records."

    content_type: int
    "The outer content type as on the wire (a :class:`ContentType` value when registered)."

    version: int
    "The wire version, e.g. ``0xFEFD`` for DTLS 1.2."

    epoch: int
    "The 16-bit epoch."

    sequence_number: int
    "The 48-bit record sequence number."

    length: int
    "The length of the record body that follows the header."

    connection_id: bytes | None = None
    "For ``tls12_cid`` records, the CID (its length as given by the caller); else ``None``."

    cid_length_inferred: bool = False
    """For ``tls12_cid`` records dissected without a known CID length: the length was inferred
    as the only one that frames the datagram (see :func:`dissect`)."""

    fragments: tuple[HandshakeFragment, ...] = ()
    "Handshake fragment headers, for epoch-0 handshake records only."

    alert: tuple[int, int] | None = None
    "``(level, description)`` of an epoch-0 alert record of exactly two bytes."

    @property
    def encrypted(self) -> bool:
        """True if the body is protected (epoch > 0 or a ``tls12_cid`` record), so opaque here."""
        return self.epoch > 0 or self.content_type == ContentType.tls12_cid

    @property
    def content_type_name(self) -> str:
        """The registered content type name, e.g. ``'handshake'``, or ``'type<n>'``."""
        try:
            return ContentType(self.content_type).name
        except ValueError:
            return f"type{self.content_type}"


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
    "Where the record header starts in the datagram."

    version: int
    "The wire version, e.g. ``0xFEFD`` for DTLS 1.2."

    epoch: int
    "The 16-bit epoch."

    sequence_number: int
    "The 48-bit record sequence number."

    candidates: tuple[int, ...]
    """The CID lengths (1 to 255) found to frame the rest of the datagram: none, or several
    (the search stops after :data:`MAX_FRAMING_CHECKS` full checks)."""

    @property
    def encrypted(self) -> bool:
        """Always true: a ``tls12_cid`` record is protected."""
        return True


@dataclass(frozen=True)
class Malformed:
    """Something in the datagram that cannot be decoded; ``reason`` says what."""

    offset: int
    "Where the problem starts in the datagram."

    reason: str
    "Why, e.g. ``'truncated record header'`` or ``'record length overruns datagram'``."


DissectedItem: TypeAlias = "DtlsRecord | UnifiedRecord | UnframedCidRecord | Malformed"
"""What a datagram dissects into: a record, a DTLS 1.3 unified-header record, a ``tls12_cid``
record of unknown CID length, or what failed."""


def handshake_type_name(msg_type: int) -> str:
    """``client_hello`` -> ``'ClientHello'``; an unregistered type -> ``'type<n>'``."""
    try:
        snake = HandshakeType(msg_type).name
    except ValueError:
        return f"type{msg_type}"
    return "".join(word.capitalize() for word in snake.split("_"))


def dissect(datagram: bytes, *, cid_length: int | None = 0) -> list[DissectedItem]:
    """Decode every record header in ``datagram``; never raises.

    ``cid_length`` is the connection ID length this observer expects in ``tls12_cid`` and
    unified-header records: it is negotiated, not on the wire (RFC 9146 §4, RFC 9147 §4).
    ``None`` means unknown (the observer missed the hellos): the first ``tls12_cid`` record's
    CID length is then inferred as the length from 1 to 255 with which its length field frames
    the rest of the datagram exactly (records after it with the same version, the same CID,
    nothing left over); zero is excluded because a zero-length CID is sent without
    ``tls12_cid`` (RFC 9146 §4). If several lengths do, the one that frames the most records
    carrying that same CID wins. When no length or no single one fits, or telling would take
    more than :data:`MAX_FRAMING_CHECKS` checks of the whole rest, the record is an
    :class:`UnframedCidRecord` and ends the list. Unified headers take ``None`` as 0.

    A record-level problem (truncated header, a length that overruns the datagram) ends the
    list, because the following bytes cannot be framed (SPEC R4, X18). A problem inside a
    handshake record adds a :class:`Malformed` entry after that record and dissection goes on
    with the next record, whose position the record length still gives.
    """
    data = bytes(datagram)
    items: list[DissectedItem] = []
    pos = 0
    end = len(data)
    inferred = False
    while pos < end:
        if data[pos] & _UNIFIED_MASK == _UNIFIED_PREFIX:
            next_pos = _dissect_unified(data, pos, cid_length or 0, items)
        else:
            if cid_length is None and data[pos] == ContentType.tls12_cid:
                if end - pos < RECORD_HEADER_LENGTH:
                    items.append(Malformed(pos, "truncated record header"))
                    break
                inferred_length, candidates = _infer_cid_length(data, pos)
                if inferred_length is None:
                    items.append(_unframed(data, pos, candidates))
                    break
                cid_length, inferred = inferred_length, True
            next_pos = _dissect_dtls_record(data, pos, cid_length or 0, items, inferred)
        if next_pos is None:
            break
        pos = next_pos
    return items


def handshake_fragments(items: list[DissectedItem]) -> list[HandshakeFragment]:
    """All handshake fragment headers of a dissected datagram, in wire order."""
    return [frag for item in items if isinstance(item, DtlsRecord) for frag in item.fragments]


def describe(item: DissectedItem) -> str:
    """A short human-readable description of one dissected item, for timelines."""
    if isinstance(item, Malformed):
        return f"MALFORMED: {item.reason}"
    if isinstance(item, UnframedCidRecord):
        text = f"tls12_cid e{item.epoch}#{item.sequence_number}, CID length unknown"
        if item.candidates:
            lengths = " or ".join(str(n) for n in item.candidates[:4])
            more = ", ..." if len(item.candidates) > 4 else ""
            return f"{text} ({lengths}{more} would fit)"
        return f"{text} (no length frames the datagram)"
    if isinstance(item, UnifiedRecord):
        width = item.sequence_number_bits // 4
        text = f"DTLS13 e&3={item.epoch_bits} sn={item.sequence_number:0{width}x} {item.length}B"
        if item.connection_id is not None:
            text += f" cid={item.connection_id.hex() or '-'}"
        if not item.length_present:
            text += " (no length)"
        return text
    return _describe_dtls_record(item)


def summarize(datagram: bytes, *, cid_length: int | None = 0) -> str:
    """One line per datagram, e.g. ``'HS ClientHello seq=1 [0+212/212] cookie=20 | CCS'``."""
    return summarize_items(dissect(datagram, cid_length=cid_length))


def summarize_items(items: list[DissectedItem]) -> str:
    """The :func:`summarize` line of an already dissected datagram."""
    if not items:
        return "empty"
    return " | ".join(describe(item) for item in items)


def _describe_dtls_record(record: DtlsRecord) -> str:
    short = _SHORT_TYPE_NAMES.get(record.content_type, f"type{record.content_type}")
    if record.content_type == ContentType.tls12_cid:
        cid = record.connection_id.hex() if record.connection_id else "-"
        text = f"CID[{cid}] e{record.epoch}#{record.sequence_number} enc {record.length}B"
        return text + (" (CID length inferred)" if record.cid_length_inferred else "")
    if record.epoch > 0:
        return f"{short} e{record.epoch}#{record.sequence_number} enc {record.length}B"
    if record.fragments:
        return ", ".join(_describe_fragment(frag) for frag in record.fragments)
    if record.content_type == ContentType.change_cipher_spec and record.length == 1:
        return "CCS"
    if record.alert is not None:
        level, description = record.alert
        return f"Alert {_alert_level_name(level)} {alert_name(description)}"
    return f"{short} e0#{record.sequence_number} {record.length}B"


def _describe_fragment(frag: HandshakeFragment) -> str:
    text = (
        f"HS {frag.name} seq={frag.message_seq} "
        f"[{frag.fragment_offset}+{frag.fragment_length}/{frag.length}]"
    )
    if frag.cookie_length is not None:
        text += f" cookie={frag.cookie_length}"
    if frag.srtp_profiles is not None:
        names = []
        for value in frag.srtp_profiles:
            try:
                names.append(SrtpProfile(value).name)
            except ValueError:
                names.append(f"{value:#06x}")
        text += f" use_srtp=[{','.join(names)}]"
    if frag.connection_id is not None:
        text += f" connection_id(54)={frag.connection_id.hex() or '-'}"
    return text


def _hello_extensions(
    msg_type: int, body: bytes
) -> tuple[tuple[int, ...] | None, bytes | None, str | None]:
    """(use_srtp profiles, connection_id, problem) of a whole ClientHello/ServerHello body.

    Absent or undecodable extensions are None: the dissector reports, it never raises. A
    connection_id extension that is not exactly ``cid<0..255>`` is also named as a problem.
    """
    try:
        if msg_type == HandshakeType.client_hello:
            extensions = decode_message(body, pull_client_hello).extensions
        else:
            extensions = decode_message(body, pull_server_hello).extensions
    except (BufferReadError, Alert):
        return None, None, None
    srtp: tuple[int, ...] | None = None
    found = find_extension(extensions, ExtensionType.use_srtp)
    if found is not None:
        try:
            srtp = tuple(decode_use_srtp(found).profiles)
        except (BufferReadError, Alert):
            srtp = None
    found = find_extension(extensions, ExtensionType.connection_id)
    if found is None:
        return srtp, None, None
    if not found or found[0] != len(found) - 1:
        return srtp, None, "connection_id extension is not one cid<0..255>"
    return srtp, found[1:], None


def _infer_cid_length(data: bytes, pos: int) -> tuple[int | None, tuple[int, ...]]:
    """(the CID length of the tls12_cid record at ``pos`` if the datagram shows it, else None;
    the lengths found to frame the datagram)."""
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
        if data[pos] == ContentType.tls12_cid:
            if data[pos + _CID_AT : pos + _CID_AT + len(cid)] != cid:
                return None
            header_length += len(cid)
            count += 1
        if end - pos < header_length:
            return None
        at = pos + header_length - 2
        pos += header_length + int.from_bytes(data[at : at + 2], "big")
    return count if pos == end else None


def _unframed(data: bytes, pos: int, candidates: tuple[int, ...]) -> UnframedCidRecord:
    return UnframedCidRecord(
        offset=pos,
        version=int.from_bytes(data[pos + 1 : pos + 3], "big"),
        epoch=int.from_bytes(data[pos + 3 : pos + 5], "big"),
        sequence_number=int.from_bytes(data[pos + 5 : pos + 11], "big"),
        candidates=candidates,
    )


def _alert_level_name(level: int) -> str:
    return {1: "warning", 2: "fatal"}.get(level, f"level{level}")


def _dissect_unified(
    data: bytes, pos: int, cid_length: int, items: list[DissectedItem]
) -> int | None:
    flags = data[pos]
    end = len(data)
    cursor = pos + 1
    connection_id: bytes | None = None
    if flags & _UNIFIED_C:
        if cursor + cid_length > end:
            items.append(Malformed(pos, "truncated unified header (connection ID)"))
            return None
        connection_id = data[cursor : cursor + cid_length]
        cursor += cid_length
    seq_bytes = 2 if flags & _UNIFIED_S else 1
    if cursor + seq_bytes > end:
        items.append(Malformed(pos, "truncated unified header (sequence number)"))
        return None
    sequence_number = int.from_bytes(data[cursor : cursor + seq_bytes], "big")
    cursor += seq_bytes
    if flags & _UNIFIED_L:
        if cursor + 2 > end:
            items.append(Malformed(pos, "truncated unified header (length)"))
            return None
        length = int.from_bytes(data[cursor : cursor + 2], "big")
        cursor += 2
        if cursor + length > end:
            items.append(Malformed(pos, "record length overruns datagram"))
            return None
    else:
        # RFC 9147 §4: without L the record runs to the end of the datagram.
        length = end - cursor
    items.append(
        UnifiedRecord(
            offset=pos,
            header_length=cursor - pos,
            flags=flags,
            connection_id=connection_id,
            sequence_number=sequence_number,
            length=length,
        )
    )
    return cursor + length


def _dissect_dtls_record(
    data: bytes, pos: int, cid_length: int, items: list[DissectedItem], inferred: bool = False
) -> int | None:
    end = len(data)
    content_type = data[pos]
    header_length = RECORD_HEADER_LENGTH
    if content_type == ContentType.tls12_cid:
        # RFC 9146 §4: the CID sits between the sequence number and the length.
        header_length += cid_length
    if end - pos < header_length:
        items.append(Malformed(pos, "truncated record header"))
        return None
    version = int.from_bytes(data[pos + 1 : pos + 3], "big")
    epoch = int.from_bytes(data[pos + 3 : pos + 5], "big")
    sequence_number = int.from_bytes(data[pos + 5 : pos + 11], "big")
    connection_id: bytes | None = None
    if content_type == ContentType.tls12_cid:
        connection_id = data[pos + 11 : pos + 11 + cid_length]
    length = int.from_bytes(data[pos + header_length - 2 : pos + header_length], "big")
    body_start = pos + header_length
    body_end = body_start + length
    if body_end > end:
        items.append(Malformed(pos, "record length overruns datagram"))
        return None

    fragments: tuple[HandshakeFragment, ...] = ()
    alert: tuple[int, int] | None = None
    problems: list[Malformed] = []
    if epoch == 0 and content_type == ContentType.handshake:
        fragments = _dissect_handshake_body(data, body_start, body_end, problems)
    elif epoch == 0 and content_type == ContentType.alert:
        if length == 2:
            alert = (data[body_start], data[body_start + 1])
        else:
            problems.append(Malformed(body_start, f"alert record of {length} bytes, not 2"))
    elif (
        epoch == 0
        and content_type == ContentType.change_cipher_spec
        and (length != 1 or data[body_start] != 1)
    ):
        problems.append(Malformed(body_start, "change_cipher_spec body is not 0x01"))
    items.append(
        DtlsRecord(
            offset=pos,
            header_length=header_length,
            content_type=content_type,
            version=version,
            epoch=epoch,
            sequence_number=sequence_number,
            length=length,
            connection_id=connection_id,
            cid_length_inferred=inferred and connection_id is not None,
            fragments=fragments,
            alert=alert,
        )
    )
    items.extend(problems)
    return body_end


def _dissect_handshake_body(
    data: bytes, start: int, end: int, problems: list[Malformed]
) -> tuple[HandshakeFragment, ...]:
    """Walk the handshake fragments of one plaintext record body (several may share it)."""
    if start == end:
        # SPEC F7: a handshake record shorter than one fragment header is rejected.
        problems.append(Malformed(start, "empty handshake record"))
        return ()
    fragments: list[HandshakeFragment] = []
    pos = start
    while pos < end:
        if end - pos < HANDSHAKE_FRAGMENT_HEADER_LENGTH:
            problems.append(Malformed(pos, "truncated handshake header"))
            break
        msg_type = data[pos]
        length = int.from_bytes(data[pos + 1 : pos + 4], "big")
        message_seq = int.from_bytes(data[pos + 4 : pos + 6], "big")
        fragment_offset = int.from_bytes(data[pos + 6 : pos + 9], "big")
        fragment_length = int.from_bytes(data[pos + 9 : pos + 12], "big")
        body_start = pos + HANDSHAKE_FRAGMENT_HEADER_LENGTH
        body_end = body_start + fragment_length
        if body_end > end:
            # SPEC F3: the fragment claims more bytes than the record holds; the next fragment
            # header cannot be located, so the rest of this record is not walked.
            problems.append(Malformed(pos, "handshake fragment overruns record"))
            break
        if fragment_offset + fragment_length > length:
            problems.append(Malformed(pos, "handshake fragment extends past message length"))
        cookie_length = None
        if fragment_offset == 0:
            cookie_length = _cookie_length(
                data, msg_type, body_start, body_end, fragment_length == length, pos, problems
            )
        srtp = connection_id = None
        if (
            fragment_offset == 0
            and fragment_length == length
            and msg_type in (HandshakeType.client_hello, HandshakeType.server_hello)
        ):
            srtp, connection_id, problem = _hello_extensions(msg_type, data[body_start:body_end])
            if problem is not None:
                problems.append(Malformed(pos, problem))
        fragments.append(
            HandshakeFragment(
                offset=pos,
                msg_type=msg_type,
                length=length,
                message_seq=message_seq,
                fragment_offset=fragment_offset,
                fragment_length=fragment_length,
                cookie_length=cookie_length,
                srtp_profiles=srtp,
                connection_id=connection_id,
            )
        )
        pos = body_end
    return tuple(fragments)


def _cookie_length(
    data: bytes,
    msg_type: int,
    start: int,
    end: int,
    whole: bool,
    header_at: int,
    problems: list[Malformed],
) -> int | None:
    """The cookie length of a ClientHello or HelloVerifyRequest first fragment, if visible.

    Overruns are only reported for a whole message: in a partial first fragment the cookie may
    legitimately continue in the next fragment.
    """
    if msg_type == HandshakeType.hello_verify_request:
        at = start + _HELLO_VERIFY_COOKIE_AT
        if at >= end:
            return None
        cookie_length = data[at]
        if whole and at + 1 + cookie_length > end:
            problems.append(Malformed(header_at, "cookie overruns HelloVerifyRequest"))
        elif whole and at + 1 + cookie_length < end:
            problems.append(Malformed(header_at, "trailing bytes after HelloVerifyRequest"))
        return cookie_length
    if msg_type == HandshakeType.client_hello:
        at = start + _CLIENT_HELLO_SESSION_ID_AT
        if at >= end:
            return None
        session_id_length = data[at]
        if session_id_length > _MAX_SESSION_ID_LENGTH:
            problems.append(Malformed(header_at, "ClientHello session_id longer than 32 bytes"))
            return None
        at += 1 + session_id_length
        if at >= end:
            if whole:
                problems.append(Malformed(header_at, "ClientHello ends before its cookie"))
            return None
        cookie_length = data[at]
        if whole and at + 1 + cookie_length > end:
            problems.append(Malformed(header_at, "cookie overruns ClientHello"))
        return cookie_length
    return None
