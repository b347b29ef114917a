"""Keyless dissection of DTLS datagrams: what an on-path observer can read without keys.

Owns the *read-only, never-raising* view of a datagram that the network simulator's targeted
rules, timelines and the diagnosing proxy need: record headers (DTLS 1.0/1.2 13-byte headers,
RFC 9146 ``tls12_cid`` headers, RFC 9147 unified headers), the 12-byte handshake fragment
headers inside epoch-0 plaintext handshake records, the cookie lengths of ClientHello and
HelloVerifyRequest, and the DTLS-SRTP profiles (``use_srtp``) and connection IDs
(``connection_id``, RFC 9146) of whole hellos. Everything encrypted (epoch > 0, ``tls12_cid``,
unified headers) stays opaque.

DTLS 1.3 (RFC 9147): its epoch-0 records keep the 13-byte header, so the ClientHello, the
ServerHello and the HelloRetryRequest (a ServerHello whose random is the special value of RFC
8446 §4.1.3, named ``HelloRetryRequest`` here) are read like DTLS 1.2's, plus what tells the
versions apart: the ``supported_versions`` a hello offers or selects and the length of the
``cookie`` extension (44) of a ClientHello or HelloRetryRequest. A plaintext ACK record (content
type 26, RFC 9147 §7) shows its record numbers. Every later record has the unified header
(:class:`UnifiedRecord`): the two low epoch bits, the sequence number bits *as on the wire*
(masked by record number encryption, §4.2.3), the length and the CID are all an observer gets;
the content type is inside the encryption, so an encrypted ACK, a Finished and application
data look alike but for their sizes. Decrypting them with a key log is not done here: the NSS
key log lines that ``DtlsConfiguration.key_log`` writes (the TLS 1.3 labels) are for Wireshark.

The CID length is not on the wire: :class:`aiodtls.cid_tracker.ConnectionIdTracker` learns
each direction's from the hellos of one client-server pair, and without it :func:`dissect`
infers it from the datagram when exactly one length frames it (:class:`UnframedCidRecord`
when none or several do).

Framing is not its own: it cuts datagrams into records with :mod:`aiodtls.wire`, the reader
the connection uses too (:func:`~aiodtls.wire.split_datagram`, plus the unified header and the
CID inference observers need), and reads only the plaintext inside: handshake fragment
headers, alerts, cookies and hello extensions.

It does not validate a record the way a receiver must (no replay, epoch or version checks) and
it never decides what to drop; ``record`` and ``reliability`` own that. Malformed input is
reported as a :class:`~aiodtls.drops.Drop` entry (its ``offset`` where the problem starts; the
name :data:`Malformed` is kept for it), never as an exception, because the callers are
diagnostics that must keep going on hostile traffic (SPEC X18).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TypeAlias

from .alerts import Alert, alert_name
from .buffer import BufferReadError
from .drops import Drop, DropReason
from .handshake.messages import (
    HELLO_RETRY_REQUEST_RANDOM,
    ExtensionType,
    HandshakeType,
    decode_ack,
    decode_cookie_extension,
    decode_message,
    decode_supported_versions_client,
    decode_supported_versions_server,
    decode_use_srtp,
    find_extension,
    pull_client_hello,
    pull_server_hello,
)
from .reliability.fragments import HANDSHAKE_HEADER_LENGTH, read_handshake_header
from .srtp import SrtpProfile
from .wire import MAX_CID_LENGTH as MAX_CID_LENGTH  # re-exported, documented in wire
from .wire import MAX_FRAMING_CHECKS as MAX_FRAMING_CHECKS
from .wire import (
    RECORD_HEADER_LENGTH,
    TLS12_CID,
    UNIFIED_FIRST_BYTES,
    ContentType,
    RawRecord,
    UnframedCidRecord,
    UnifiedRecord,
    infer_cid_length,
    read_unified_record,
    split_datagram,
    unframed_cid_record,
)

__all__ = [
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

HANDSHAKE_FRAGMENT_HEADER_LENGTH = HANDSHAKE_HEADER_LENGTH
"type(1) length(3) message_seq(2) fragment_offset(3) fragment_length(3), RFC 6347 §4.2.2."

# A ClientHello body starts client_version(2) random(32) session_id<0..32>, then cookie<0..255>
# (RFC 6347 §4.2.1); a HelloVerifyRequest is server_version(2) cookie<0..255>.
_CLIENT_HELLO_SESSION_ID_AT = 34
_SERVER_RANDOM = slice(2, 34)
"Where a ServerHello's random sits in its body: after server_version(2)."
_MAX_SESSION_ID_LENGTH = 32
_HELLO_VERIFY_COOKIE_AT = 2

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

    hello_retry: bool = False
    """A DTLS 1.3 HelloRetryRequest: a ServerHello whose random is the special value of RFC
    8446 §4.1.3 (visible in any first fragment that reaches the random)."""

    versions: tuple[int, ...] | None = None
    """The ``supported_versions`` of a whole ClientHello (offered, in preference order) or
    ServerHello/HelloRetryRequest (the one selected, RFC 8446 §4.2.1), e.g. ``(0xFEFC,)`` for
    DTLS 1.3; ``None`` when absent (DTLS 1.2 hellos), fragmented or undecodable."""

    cookie_extension_length: int | None = None
    """The length of the DTLS 1.3 ``cookie`` extension (44) of a whole ClientHello or
    HelloRetryRequest (RFC 8446 §4.2.2; the legacy cookie of :attr:`cookie_length` stays
    empty in DTLS 1.3); ``None`` when absent."""

    cipher_suite: int | None = None
    """The cipher suite a whole ServerHello (or HelloRetryRequest) selects; ``None`` for other
    messages or when it does not decode. In DTLS 1.3 it tells an observer the AEAD's tag
    length, so the size of an encrypted ACK."""

    @property
    def name(self) -> str:
        """The message name in protocol spelling, e.g. ``'ClientHello'``, or ``'type<n>'``;
        ``'HelloRetryRequest'`` for a ServerHello with its special random."""
        if self.hello_retry:
            return "HelloRetryRequest"
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

    acks: tuple[tuple[int, int], ...] | None = None
    """The ``(epoch, sequence_number)`` record numbers of a plaintext DTLS 1.3 ACK record
    (content type 26, RFC 9147 §7) that decodes; ``None`` otherwise (ACKs are usually
    encrypted, inside unified-header records)."""

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


Malformed = Drop
"""What the dissector reports for something it cannot decode: a :class:`~aiodtls.drops.Drop`
whose ``offset`` says where the problem starts (the name is kept for existing callers)."""

_UNIFIED_OR_CID = UNIFIED_FIRST_BYTES | {TLS12_CID}
"Where framing pauses while the CID length is unknown: it must be inferred there first."

DissectedItem: TypeAlias = "DtlsRecord | UnifiedRecord | UnframedCidRecord | Drop"
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
    handshake record adds a :class:`~aiodtls.drops.Drop` entry after that record and
    dissection goes on with the next record, whose position the record length still gives.
    """
    data = bytes(datagram)
    items: list[DissectedItem] = []
    pos = 0
    end = len(data)
    inferred = False
    while pos < end:
        first = data[pos]
        if first in UNIFIED_FIRST_BYTES:
            unified = read_unified_record(data, pos, cid_length or 0)
            items.append(unified)
            if isinstance(unified, Drop):
                break
            pos += unified.header_length + unified.length
            continue
        if cid_length is None and first == TLS12_CID:
            if end - pos < RECORD_HEADER_LENGTH:
                items.append(Drop(DropReason.TRUNCATED_RECORD_HEADER, offset=pos))
                break
            inferred_length, candidates = infer_cid_length(data, pos)
            if inferred_length is None:
                items.append(unframed_cid_record(data, pos, candidates))
                break
            cid_length, inferred = inferred_length, True
        pause_at = UNIFIED_FIRST_BYTES if cid_length is not None else _UNIFIED_OR_CID
        for raw in split_datagram(data, cid_length or 0, pos, pause_at):
            if isinstance(raw, Drop):
                items.append(raw)
                return items
            pos = _dissect_dtls_record(data, pos, raw, items, inferred)
    return items


def handshake_fragments(items: list[DissectedItem]) -> list[HandshakeFragment]:
    """All handshake fragment headers of a dissected datagram, in wire order."""
    return [frag for item in items if isinstance(item, DtlsRecord) for frag in item.fragments]


def describe(item: DissectedItem) -> str:
    """A short human-readable description of one dissected item, for timelines."""
    if isinstance(item, Drop):
        return f"MALFORMED: {item}"
    if isinstance(item, UnframedCidRecord):
        text = f"tls12_cid e{item.epoch}#{item.sequence_number}, CID length unknown"
        if item.candidates:
            lengths = " or ".join(str(n) for n in item.candidates[:4])
            more = ", ..." if len(item.candidates) > 4 else ""
            return f"{text} ({lengths}{more} would fit)"
        return f"{text} (no length frames the datagram)"
    if isinstance(item, UnifiedRecord):
        width = item.sequence_number_bits // 4
        # "enc": the content type is encrypted; "sn*": the sequence bits as on the wire, i.e.
        # masked by record number encryption (RFC 9147 §4.2.3); e&3: the epoch's low 2 bits.
        text = (
            f"DTLS13 enc e&3={item.epoch_bits} sn*={item.sequence_number:0{width}x} {item.length}B"
        )
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
    if record.acks is not None:
        numbers = " ".join(f"e{epoch}#{seq}" for epoch, seq in record.acks) or "nothing"
        return f"ACK e0#{record.sequence_number} of {numbers}"
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
    if frag.versions is not None:
        text += f" versions=[{','.join(_version_name(v) for v in frag.versions)}]"
    if frag.cookie_extension_length is not None:
        text += f" cookie(44)={frag.cookie_extension_length}"
    return text


_VERSION_NAMES = {0xFEFC: "1.3", 0xFEFD: "1.2", 0xFEFF: "1.0", 0x0304: "TLS1.3"}


def _version_name(version: int) -> str:
    return _VERSION_NAMES.get(version, f"{version:#06x}")


@dataclass(frozen=True)
class _HelloFacts:
    """What a whole ClientHello/ServerHello shows of its extensions (None: absent)."""

    srtp: tuple[int, ...] | None = None
    connection_id: bytes | None = None
    problem: DropReason | None = None
    versions: tuple[int, ...] | None = None
    cookie_extension_length: int | None = None
    cipher_suite: int | None = None


def _hello_extensions(msg_type: int, body: bytes) -> _HelloFacts:
    """use_srtp profiles, connection_id, supported_versions and the DTLS 1.3 cookie extension
    of a whole ClientHello/ServerHello body.

    Absent or undecodable extensions are None: the dissector reports, it never raises. A
    connection_id extension that is not exactly ``cid<0..255>`` is also named as a problem.
    """
    client = msg_type == HandshakeType.client_hello
    cipher_suite: int | None = None
    try:
        if client:
            extensions = decode_message(body, pull_client_hello).extensions
        else:
            server_hello = decode_message(body, pull_server_hello)
            extensions, cipher_suite = server_hello.extensions, server_hello.cipher_suite
    except (BufferReadError, Alert):
        return _HelloFacts()
    srtp: tuple[int, ...] | None = None
    found = find_extension(extensions, ExtensionType.use_srtp)
    if found is not None:
        try:
            srtp = tuple(decode_use_srtp(found).profiles)
        except (BufferReadError, Alert):
            srtp = None
    versions: tuple[int, ...] | None = None
    found = find_extension(extensions, ExtensionType.supported_versions)
    if found is not None:
        try:
            if client:
                versions = tuple(decode_supported_versions_client(found))
            else:
                versions = (decode_supported_versions_server(found),)
        except (BufferReadError, Alert):
            versions = None
    cookie: int | None = None
    found = find_extension(extensions, ExtensionType.cookie)
    if found is not None:
        try:
            cookie = len(decode_cookie_extension(found))
        except (BufferReadError, Alert):
            cookie = None
    facts = _HelloFacts(
        srtp=srtp, versions=versions, cookie_extension_length=cookie, cipher_suite=cipher_suite
    )
    found = find_extension(extensions, ExtensionType.connection_id)
    if found is None:
        return facts
    if not found or found[0] != len(found) - 1:
        return replace(facts, problem=DropReason.DISSECT_CID_EXTENSION)
    return replace(facts, connection_id=found[1:])


def _alert_level_name(level: int) -> str:
    return {1: "warning", 2: "fatal"}.get(level, f"level{level}")


def _dissect_dtls_record(
    data: bytes, pos: int, raw: RawRecord, items: list[DissectedItem], inferred: bool
) -> int:
    """Add the record ``raw``, framed at ``pos`` by the wire reader, and what its plaintext
    shows (or fails to) to ``items``; returns where the next record starts."""
    content_type = raw.content_type
    epoch = raw.epoch
    length = len(raw.fragment)
    connection_id: bytes | None = None
    header_length = RECORD_HEADER_LENGTH
    if content_type == TLS12_CID:
        # RFC 9146 §4: the CID sits between the sequence number and the length.
        connection_id = raw.cid
        header_length += len(connection_id)
    body_start = pos + header_length
    body_end = body_start + length

    fragments: tuple[HandshakeFragment, ...] = ()
    alert: tuple[int, int] | None = None
    acks: tuple[tuple[int, int], ...] | None = None
    problems: list[Drop] = []
    if epoch == 0 and content_type == ContentType.ack:
        try:
            acks = tuple(decode_ack(data[body_start:body_end]))
        except (BufferReadError, Alert):
            acks = None
    if epoch == 0 and content_type == ContentType.handshake:
        fragments = _dissect_handshake_body(data, body_start, body_end, problems)
    elif epoch == 0 and content_type == ContentType.alert:
        if length == 2:
            alert = (data[body_start], data[body_start + 1])
        else:
            problems.append(Drop(DropReason.DISSECT_ALERT_LENGTH, (length,), body_start))
    elif (
        epoch == 0
        and content_type == ContentType.change_cipher_spec
        and (length != 1 or data[body_start] != 1)
    ):
        problems.append(Drop(DropReason.DISSECT_CHANGE_CIPHER_SPEC_BODY, offset=body_start))
    items.append(
        DtlsRecord(
            offset=pos,
            header_length=header_length,
            content_type=content_type,
            version=raw.version,
            epoch=epoch,
            sequence_number=raw.sequence_number,
            length=length,
            connection_id=connection_id,
            cid_length_inferred=inferred and connection_id is not None,
            fragments=fragments,
            alert=alert,
            acks=acks,
        )
    )
    items.extend(problems)
    return body_end


def _dissect_handshake_body(
    data: bytes, start: int, end: int, problems: list[Drop]
) -> tuple[HandshakeFragment, ...]:
    """Walk the handshake fragments of one plaintext record body (several may share it)."""
    if start == end:
        # SPEC F7: a handshake record shorter than one fragment header is rejected.
        problems.append(Drop(DropReason.EMPTY_HANDSHAKE_RECORD, offset=start))
        return ()
    fragments: list[HandshakeFragment] = []
    pos = start
    while pos < end:
        if end - pos < HANDSHAKE_FRAGMENT_HEADER_LENGTH:
            problems.append(Drop(DropReason.DISSECT_TRUNCATED_HANDSHAKE_HEADER, offset=pos))
            break
        # The connection's own reader of the 12-byte header (reliability.fragments).
        msg_type, length, message_seq, fragment_offset, fragment_length = read_handshake_header(
            data, pos
        )
        body_start = pos + HANDSHAKE_FRAGMENT_HEADER_LENGTH
        body_end = body_start + fragment_length
        if body_end > end:
            # SPEC F3: the fragment claims more bytes than the record holds; the next fragment
            # header cannot be located, so the rest of this record is not walked.
            problems.append(Drop(DropReason.DISSECT_FRAGMENT_OVERRUNS_RECORD, offset=pos))
            break
        if fragment_offset + fragment_length > length:
            problems.append(Drop(DropReason.DISSECT_FRAGMENT_PAST_MESSAGE_LENGTH, offset=pos))
        cookie_length = None
        if fragment_offset == 0:
            cookie_length = _cookie_length(
                data, msg_type, body_start, body_end, fragment_length == length, pos, problems
            )
        facts = _HelloFacts()
        if (
            fragment_offset == 0
            and fragment_length == length
            and msg_type in (HandshakeType.client_hello, HandshakeType.server_hello)
        ):
            facts = _hello_extensions(msg_type, data[body_start:body_end])
            if facts.problem is not None:
                problems.append(Drop(facts.problem, offset=pos))
        hello_retry = (
            msg_type == HandshakeType.server_hello
            and fragment_offset == 0
            and fragment_length >= _SERVER_RANDOM.stop
            and data[body_start:body_end][_SERVER_RANDOM] == HELLO_RETRY_REQUEST_RANDOM
        )
        fragments.append(
            HandshakeFragment(
                offset=pos,
                msg_type=msg_type,
                length=length,
                message_seq=message_seq,
                fragment_offset=fragment_offset,
                fragment_length=fragment_length,
                cookie_length=cookie_length,
                srtp_profiles=facts.srtp,
                connection_id=facts.connection_id,
                hello_retry=hello_retry,
                versions=facts.versions,
                cookie_extension_length=facts.cookie_extension_length,
                cipher_suite=facts.cipher_suite,
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
    problems: list[Drop],
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
            problems.append(Drop(DropReason.DISSECT_HVR_COOKIE_OVERRUNS, offset=header_at))
        elif whole and at + 1 + cookie_length < end:
            problems.append(Drop(DropReason.DISSECT_HVR_TRAILING_BYTES, offset=header_at))
        return cookie_length
    if msg_type == HandshakeType.client_hello:
        at = start + _CLIENT_HELLO_SESSION_ID_AT
        if at >= end:
            return None
        session_id_length = data[at]
        if session_id_length > _MAX_SESSION_ID_LENGTH:
            problems.append(Drop(DropReason.DISSECT_SESSION_ID_TOO_LONG, offset=header_at))
            return None
        at += 1 + session_id_length
        if at >= end:
            if whole:
                problem = DropReason.DISSECT_CLIENT_HELLO_ENDS_BEFORE_COOKIE
                problems.append(Drop(problem, offset=header_at))
            return None
        cookie_length = data[at]
        if whole and at + 1 + cookie_length > end:
            problems.append(Drop(DropReason.DISSECT_CLIENT_HELLO_COOKIE_OVERRUNS, offset=header_at))
        return cookie_length
    return None
