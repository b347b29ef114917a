"""DTLS 1.3's own handshake messages and extension bodies (RFC 8446 §4, RFC 9147 §5, §7, §9).

Owns the codecs DTLS 1.3 adds to the 1.2 vocabulary: the extension bodies of the hellos
(supported_versions, key_share, cookie, psk_key_exchange_modes, pre_shared_key, early_data),
the messages EncryptedExtensions, CertificateRequest, Certificate, NewSessionTicket,
KeyUpdate, RequestConnectionId and NewConnectionId, the ACK record's body, and the two
transcript pieces: the TLS-style message framing DTLS 1.3 hashes (RFC 9147 §5.2) and the
synthetic ``message_hash`` message that replaces ClientHello1 after a HelloRetryRequest
(RFC 8446 §4.4.1). ClientHello, ServerHello (HelloRetryRequest included), CertificateVerify
and Finished keep their 1.2 bodies and codecs (``hello``, ``authentication``).

Same rules as the siblings: ``decode_x(body)`` reads a whole body, checks every length and
the floors the RFC's vector bounds set (``<1..>``, ``<2..>``), and raises ``BufferReadError``
(a decode_error) for malformed input and trailing bytes, or an ``Alert`` where the RFC names
another alert (a KeyUpdate with an unknown request is illegal_parameter). What a value means
(is this version offered, this group supported) is the state machines' business.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from cryptography.hazmat.primitives import hashes

from ...alerts import AlertIllegalParameter
from ...buffer import BufferReadError
from .extensions import Extensions, _extension_list
from .handshake_type import HandshakeType
from .vectors import (
    _U16,
    _check_room,
    _length,
    _no_trailing_bytes,
    _opaque,
    _uint16_list,
    _vector,
)

__all__ = [
    "DOWNGRADE_TLS11",
    "DOWNGRADE_TLS12",
    "HELLO_RETRY_REQUEST_RANDOM",
    "Certificate13",
    "CertificateEntry",
    "CertificateRequest13",
    "ConnectionIdUsage",
    "EncryptedExtensions",
    "KeyShareEntry",
    "KeyUpdateRequest",
    "NewConnectionId",
    "NewSessionTicket13",
    "OfferedPsks",
    "PskIdentity",
    "PskKeyExchangeMode",
    "decode_ack",
    "decode_certificate13",
    "decode_certificate_authorities",
    "decode_certificate_request13",
    "decode_cookie_extension",
    "decode_early_data_ticket",
    "decode_encrypted_extensions",
    "decode_key_share_client",
    "decode_key_share_hello_retry",
    "decode_key_share_server",
    "decode_key_update",
    "decode_new_connection_id",
    "decode_new_session_ticket13",
    "decode_offered_psks",
    "decode_psk_key_exchange_modes",
    "decode_request_connection_id",
    "decode_selected_psk",
    "decode_supported_versions_client",
    "decode_supported_versions_server",
    "encode_ack",
    "encode_certificate13",
    "encode_certificate_authorities",
    "encode_certificate_request13",
    "encode_cookie_extension",
    "encode_early_data_ticket",
    "encode_encrypted_extensions",
    "encode_key_share_client",
    "encode_key_share_hello_retry",
    "encode_key_share_server",
    "encode_key_update",
    "encode_new_connection_id",
    "encode_new_session_ticket13",
    "encode_offered_psks",
    "encode_psk_key_exchange_modes",
    "encode_request_connection_id",
    "encode_selected_psk",
    "encode_supported_versions_client",
    "encode_supported_versions_server",
    "message_hash",
    "offered_psks_binders_length",
    "transcript_message",
]

_U32 = struct.Struct("!I")
_U32_U32 = struct.Struct("!II")
_RECORD_NUMBER = struct.Struct("!QQ")

HELLO_RETRY_REQUEST_RANDOM = hashlib.sha256(b"HelloRetryRequest").digest()
"""The ServerHello.random that makes a ServerHello a HelloRetryRequest (RFC 8446 §4.1.3):
SHA-256 of "HelloRetryRequest", CF 21 AD 74 ... 33 9C."""
DOWNGRADE_TLS12 = b"DOWNGRD\x01"
"""The last 8 bytes of a 1.3-capable server's random when it negotiates (D)TLS 1.2
(RFC 8446 §4.1.3)."""
DOWNGRADE_TLS11 = b"DOWNGRD\x00"
"""The last 8 bytes of a 1.3-capable server's random when it negotiates an older version."""


class PskKeyExchangeMode(IntEnum):
    """psk_key_exchange_modes values (RFC 8446 §4.2.9)."""

    psk_ke = 0
    psk_dhe_ke = 1


class KeyUpdateRequest(IntEnum):
    """KeyUpdate.request_update (RFC 8446 §4.6.3)."""

    update_not_requested = 0
    update_requested = 1


class ConnectionIdUsage(IntEnum):
    """NewConnectionId.usage (RFC 9147 §9)."""

    cid_immediate = 0
    cid_spare = 1


def _extension_block13(
    data: bytes, pos: int, end: int, min_length: int = 0
) -> tuple[Extensions, int]:
    """A 1.3 extension block at ``pos``: always present (``<0..2^16-1>`` or ``<2..>``, never
    omitted as a 1.2 hello's may be); its extensions (duplicates refused) and the offset after."""
    start = pos + 2
    stop = start + _length(data, pos, 2, end)
    if stop > end:
        raise BufferReadError(f"block of {stop - start} bytes, {end - start} left")
    if stop - start < min_length:
        raise BufferReadError("empty extension block")
    return _extension_list(data, start, stop), stop


def _encode_extension_block13(extensions: Extensions) -> bytes:
    """A 1.3 extension block: its length is written even when there are none."""
    return _vector(
        2, b"".join([_U16.pack(ext_type) + _vector(2, body) for ext_type, body in extensions])
    )


# -- Extension bodies of the hellos ----------------------------------------------------------


def decode_supported_versions_client(body: bytes) -> list[int]:
    """supported_versions in a ClientHello: ProtocolVersion versions<2..254>."""
    end = len(body)
    values, pos = _opaque(body, 0, 1, end)
    _no_trailing_bytes(pos, end)
    return _uint16_list(values, 1)


def encode_supported_versions_client(versions: Sequence[int]) -> bytes:
    """supported_versions in a ClientHello, most preferred first."""
    return _vector(1, struct.pack(f"!{len(versions)}H", *versions))


def decode_supported_versions_server(body: bytes) -> int:
    """supported_versions in a ServerHello or HelloRetryRequest: selected_version."""
    if len(body) != 2:
        raise BufferReadError("selected_version is 2 bytes")
    return int(_U16.unpack(body)[0])


def encode_supported_versions_server(version: int) -> bytes:
    """supported_versions in a ServerHello or HelloRetryRequest."""
    return _U16.pack(version)


@dataclass
class KeyShareEntry:
    """KeyShareEntry (RFC 8446 §4.2.8): a named group and the sender's public value."""

    group: int
    key_exchange: bytes


def _key_share_entry(data: bytes, pos: int, end: int) -> tuple[KeyShareEntry, int]:
    _check_room(pos, 2, end)
    (group,) = _U16.unpack_from(data, pos)
    key_exchange, pos = _opaque(data, pos + 2, 2, end)
    if not key_exchange:
        raise BufferReadError("empty key_exchange")
    return KeyShareEntry(group, key_exchange), pos


def _encode_key_share_entry(entry: KeyShareEntry) -> bytes:
    return _U16.pack(entry.group) + _vector(2, entry.key_exchange)


def decode_key_share_client(body: bytes) -> list[KeyShareEntry]:
    """key_share in a ClientHello: KeyShareEntry client_shares<0..2^16-1> (an empty list
    asks for a HelloRetryRequest). Two shares for one group are illegal_parameter (RFC 8446
    §4.2.8: clients MUST NOT send them)."""
    end = len(body)
    list_end = 2 + _length(body, 0, 2, end)
    if list_end > end:
        raise BufferReadError(f"block of {list_end - 2} bytes, {end - 2} left")
    entries = []
    seen: set[int] = set()
    pos = 2
    while pos < list_end:
        entry, pos = _key_share_entry(body, pos, list_end)
        if entry.group in seen:
            raise AlertIllegalParameter(f"two key shares for group {entry.group}")
        seen.add(entry.group)
        entries.append(entry)
    _no_trailing_bytes(list_end, end)
    return entries


def encode_key_share_client(entries: Sequence[KeyShareEntry]) -> bytes:
    """key_share in a ClientHello."""
    return _vector(2, b"".join([_encode_key_share_entry(entry) for entry in entries]))


def decode_key_share_server(body: bytes) -> KeyShareEntry:
    """key_share in a ServerHello: the one server_share."""
    end = len(body)
    entry, pos = _key_share_entry(body, 0, end)
    _no_trailing_bytes(pos, end)
    return entry


def encode_key_share_server(entry: KeyShareEntry) -> bytes:
    """key_share in a ServerHello."""
    return _encode_key_share_entry(entry)


def decode_key_share_hello_retry(body: bytes) -> int:
    """key_share in a HelloRetryRequest: the selected_group the client must share next."""
    if len(body) != 2:
        raise BufferReadError("selected_group is 2 bytes")
    return int(_U16.unpack(body)[0])


def encode_key_share_hello_retry(group: int) -> bytes:
    """key_share in a HelloRetryRequest."""
    return _U16.pack(group)


def decode_cookie_extension(body: bytes) -> bytes:
    """cookie (RFC 8446 §4.2.2): opaque cookie<1..2^16-1>."""
    end = len(body)
    cookie, pos = _opaque(body, 0, 2, end)
    if not cookie:
        raise BufferReadError("empty cookie")
    _no_trailing_bytes(pos, end)
    return cookie


def encode_cookie_extension(cookie: bytes) -> bytes:
    """cookie: in a HelloRetryRequest, and echoed in the second ClientHello."""
    return _vector(2, cookie)


def decode_psk_key_exchange_modes(body: bytes) -> list[int]:
    """psk_key_exchange_modes (RFC 8446 §4.2.9): PskKeyExchangeMode ke_modes<1..255>.
    Values stay ints: unknown modes are ignored by the reader, not refused."""
    end = len(body)
    modes, pos = _opaque(body, 0, 1, end)
    if not modes:
        raise BufferReadError("empty ke_modes")
    _no_trailing_bytes(pos, end)
    return list(modes)


def encode_psk_key_exchange_modes(modes: Sequence[int]) -> bytes:
    """psk_key_exchange_modes."""
    return _vector(1, bytes(modes))


@dataclass
class PskIdentity:
    """PskIdentity (RFC 8446 §4.2.11): a ticket or an external PSK's identity, and the
    obfuscated ticket age (0 for external PSKs)."""

    identity: bytes
    obfuscated_ticket_age: int


@dataclass
class OfferedPsks:
    """pre_shared_key in a ClientHello: the identities and one binder for each, in order."""

    identities: list[PskIdentity]
    binders: list[bytes]


def decode_offered_psks(body: bytes) -> OfferedPsks:
    """OfferedPsks: PskIdentity identities<7..2^16-1>, PskBinderEntry binders<33..2^16-1>
    with opaque identity<1..2^16-1> and PskBinderEntry<32..255>. As many binders as
    identities, or it is malformed."""
    end = len(body)
    list_end = 2 + _length(body, 0, 2, end)
    if list_end > end:
        raise BufferReadError(f"block of {list_end - 2} bytes, {end - 2} left")
    identities = []
    pos = 2
    while pos < list_end:
        identity, pos = _opaque(body, pos, 2, list_end)
        if not identity:
            raise BufferReadError("empty PSK identity")
        _check_room(pos, 4, list_end)
        (age,) = _U32.unpack_from(body, pos)
        pos += 4
        identities.append(PskIdentity(identity, age))
    if not identities:
        raise BufferReadError("no PSK identities")
    binders_end = list_end + 2 + _length(body, list_end, 2, end)
    if binders_end > end:
        raise BufferReadError(
            f"block of {binders_end - list_end - 2} bytes, {end - list_end - 2} left"
        )
    binders = []
    pos = list_end + 2
    while pos < binders_end:
        binder, pos = _opaque(body, pos, 1, binders_end)
        if len(binder) < 32:
            raise BufferReadError("PSK binder shorter than 32 bytes")
        binders.append(binder)
    _no_trailing_bytes(binders_end, end)
    if len(binders) != len(identities):
        raise BufferReadError(f"{len(identities)} PSK identities, {len(binders)} binders")
    return OfferedPsks(identities, binders)


def _encode_binders(binders: Sequence[bytes]) -> bytes:
    return _vector(2, b"".join([_vector(1, binder) for binder in binders]))


def encode_offered_psks(offered: OfferedPsks) -> bytes:
    """pre_shared_key in a ClientHello. To compute the binders, encode once with
    placeholder binders of the right sizes, hash the ClientHello up to the last
    ``offered_psks_binders_length(binders)`` bytes, then encode again with the real ones."""
    identities = b"".join(
        [
            _vector(2, psk.identity) + _U32.pack(psk.obfuscated_ticket_age)
            for psk in offered.identities
        ]
    )
    return _vector(2, identities) + _encode_binders(offered.binders)


def offered_psks_binders_length(binders: Sequence[bytes]) -> int:
    """How many bytes the binders list takes at the very end of the ClientHello (the
    pre_shared_key extension is last, RFC 8446 §4.2.11): the transcript for the binders is
    the ClientHello truncated by this many bytes (RFC 8446 §4.2.11.2)."""
    return 2 + sum(1 + len(binder) for binder in binders)


def decode_selected_psk(body: bytes) -> int:
    """pre_shared_key in a ServerHello: uint16 selected_identity."""
    if len(body) != 2:
        raise BufferReadError("selected_identity is 2 bytes")
    return int(_U16.unpack(body)[0])


def encode_selected_psk(index: int) -> bytes:
    """pre_shared_key in a ServerHello: the index of the accepted identity."""
    return _U16.pack(index)


def decode_early_data_ticket(body: bytes) -> int:
    """early_data in a NewSessionTicket: uint32 max_early_data_size (in a ClientHello or
    EncryptedExtensions its body is empty)."""
    if len(body) != 4:
        raise BufferReadError("max_early_data_size is 4 bytes")
    return int(_U32.unpack(body)[0])


def encode_early_data_ticket(max_early_data_size: int) -> bytes:
    """early_data in a NewSessionTicket."""
    return _U32.pack(max_early_data_size)


def decode_certificate_authorities(body: bytes) -> list[bytes]:
    """certificate_authorities (RFC 8446 §4.2.4): DistinguishedName authorities<3..2^16-1>,
    each opaque DistinguishedName<1..2^16-1> (a DER Name)."""
    end = len(body)
    list_end = 2 + _length(body, 0, 2, end)
    if list_end > end:
        raise BufferReadError(f"block of {list_end - 2} bytes, {end - 2} left")
    names = []
    pos = 2
    while pos < list_end:
        name, pos = _opaque(body, pos, 2, list_end)
        if not name:
            raise BufferReadError("empty DistinguishedName")
        names.append(name)
    if not names:
        raise BufferReadError("empty certificate_authorities")
    _no_trailing_bytes(list_end, end)
    return names


def encode_certificate_authorities(names: Sequence[bytes]) -> bytes:
    """certificate_authorities: the DER subjects of the CAs the sender accepts."""
    return _vector(2, b"".join([_vector(2, name) for name in names]))


# -- Messages --------------------------------------------------------------------------------


@dataclass
class EncryptedExtensions:
    """EncryptedExtensions (RFC 8446 §4.3.1): the server's extensions that are not needed to
    establish keys."""

    extensions: Extensions = field(default_factory=list)


def decode_encrypted_extensions(body: bytes) -> EncryptedExtensions:
    """EncryptedExtensions: Extension extensions<0..2^16-1>, the block always present."""
    end = len(body)
    extensions, pos = _extension_block13(body, 0, end)
    _no_trailing_bytes(pos, end)
    return EncryptedExtensions(extensions)


def encode_encrypted_extensions(message: EncryptedExtensions) -> bytes:
    """An EncryptedExtensions body."""
    return _encode_extension_block13(message.extensions)


@dataclass
class CertificateRequest13:
    """CertificateRequest (RFC 8446 §4.3.2): a context echoed in the Certificate that
    answers it, and extensions (signature_algorithms is mandatory: the state machine checks)."""

    context: bytes
    extensions: Extensions


def decode_certificate_request13(body: bytes) -> CertificateRequest13:
    """CertificateRequest: opaque certificate_request_context<0..2^8-1>, Extension
    extensions<2..2^16-1> (never empty)."""
    end = len(body)
    context, pos = _opaque(body, 0, 1, end)
    extensions, pos = _extension_block13(body, pos, end, min_length=2)
    _no_trailing_bytes(pos, end)
    return CertificateRequest13(context, extensions)


def encode_certificate_request13(message: CertificateRequest13) -> bytes:
    """A 1.3 CertificateRequest body."""
    return _vector(1, message.context) + _encode_extension_block13(message.extensions)


@dataclass
class CertificateEntry:
    """CertificateEntry (RFC 8446 §4.4.2): one DER certificate (or SubjectPublicKeyInfo for a
    raw public key) and its extensions (e.g. status_request)."""

    data: bytes
    extensions: Extensions = field(default_factory=list)


@dataclass
class Certificate13:
    """Certificate (RFC 8446 §4.4.2): the request context (empty in a server's Certificate)
    and the entries, sender's leaf first; a client without a certificate sends none."""

    context: bytes
    entries: list[CertificateEntry]


def decode_certificate13(body: bytes) -> Certificate13:
    """Certificate: opaque certificate_request_context<0..2^8-1>, CertificateEntry
    certificate_list<0..2^24-1>, each entry cert_data<1..2^24-1> then Extension
    extensions<0..2^16-1>."""
    end = len(body)
    context, pos = _opaque(body, 0, 1, end)
    list_end = pos + 3 + _length(body, pos, 3, end)
    if list_end > end:
        raise BufferReadError(f"block of {list_end - pos - 3} bytes, {end - pos - 3} left")
    entries = []
    pos += 3
    while pos < list_end:
        data, pos = _opaque(body, pos, 3, list_end)
        if not data:
            raise BufferReadError("empty certificate entry")
        extensions, pos = _extension_block13(body, pos, list_end)
        entries.append(CertificateEntry(data, extensions))
    _no_trailing_bytes(list_end, end)
    return Certificate13(context, entries)


def encode_certificate13(message: Certificate13) -> bytes:
    """A 1.3 Certificate body."""
    entries = b"".join(
        [
            _vector(3, entry.data) + _encode_extension_block13(entry.extensions)
            for entry in message.entries
        ]
    )
    return _vector(1, message.context) + _vector(3, entries)


@dataclass
class NewSessionTicket13:
    """NewSessionTicket (RFC 8446 §4.6.1): lifetime in seconds, the age obfuscator, the nonce
    the resumption PSK is derived with, the ticket, and extensions (early_data)."""

    lifetime: int
    age_add: int
    nonce: bytes
    ticket: bytes
    extensions: Extensions = field(default_factory=list)


def decode_new_session_ticket13(body: bytes) -> NewSessionTicket13:
    """NewSessionTicket: uint32 ticket_lifetime, uint32 ticket_age_add, opaque
    ticket_nonce<0..255>, opaque ticket<1..2^16-1>, Extension extensions<0..2^16-2>."""
    end = len(body)
    _check_room(0, 8, end)
    lifetime, age_add = _U32_U32.unpack_from(body)
    nonce, pos = _opaque(body, 8, 1, end)
    ticket, pos = _opaque(body, pos, 2, end)
    if not ticket:
        raise BufferReadError("empty ticket")
    extensions, pos = _extension_block13(body, pos, end)
    _no_trailing_bytes(pos, end)
    return NewSessionTicket13(lifetime, age_add, nonce, ticket, extensions)


def encode_new_session_ticket13(message: NewSessionTicket13) -> bytes:
    """A 1.3 NewSessionTicket body."""
    return b"".join(
        (
            _U32_U32.pack(message.lifetime, message.age_add),
            _vector(1, message.nonce),
            _vector(2, message.ticket),
            _encode_extension_block13(message.extensions),
        )
    )


def decode_key_update(body: bytes) -> KeyUpdateRequest:
    """KeyUpdate: one byte, request_update; any value but 0 and 1 is illegal_parameter
    (RFC 8446 §4.6.3)."""
    if len(body) != 1:
        raise BufferReadError("KeyUpdate is 1 byte")
    try:
        return KeyUpdateRequest(body[0])
    except ValueError:
        raise AlertIllegalParameter(f"KeyUpdate request_update {body[0]}") from None


def encode_key_update(request: KeyUpdateRequest | int) -> bytes:
    """A KeyUpdate body."""
    return bytes((request,))


def decode_ack(body: bytes) -> list[tuple[int, int]]:
    """An ACK record's body (RFC 9147 §7): RecordNumber record_numbers<0..2^16-1>, each
    uint64 epoch then uint64 sequence_number; in wire order."""
    end = len(body)
    numbers, pos = _opaque(body, 0, 2, end)
    _no_trailing_bytes(pos, end)
    if len(numbers) % 16:
        raise BufferReadError("ACK record numbers are 16 bytes each")
    return list(_RECORD_NUMBER.iter_unpack(numbers))


def encode_ack(record_numbers: Sequence[tuple[int, int]]) -> bytes:
    """An ACK record's body from (epoch, sequence_number) pairs."""
    pack = _RECORD_NUMBER.pack
    return _vector(2, b"".join([pack(epoch, seq) for epoch, seq in record_numbers]))


def decode_request_connection_id(body: bytes) -> int:
    """RequestConnectionId (RFC 9147 §9): uint8 num_cids."""
    if len(body) != 1:
        raise BufferReadError("RequestConnectionId is 1 byte")
    return body[0]


def encode_request_connection_id(num_cids: int) -> bytes:
    """A RequestConnectionId body."""
    return bytes((num_cids,))


@dataclass
class NewConnectionId:
    """NewConnectionId (RFC 9147 §9): CIDs the sender will accept, and how to use them."""

    cids: list[bytes]
    usage: int = ConnectionIdUsage.cid_immediate


def decode_new_connection_id(body: bytes) -> NewConnectionId:
    """NewConnectionId: ConnectionId cids<0..2^16-1> of opaque ConnectionId<0..2^8-1>, then
    ConnectionIdUsage usage (one byte; its meaning is the connection's)."""
    end = len(body)
    list_end = 2 + _length(body, 0, 2, end)
    if list_end > end:
        raise BufferReadError(f"block of {list_end - 2} bytes, {end - 2} left")
    cids = []
    pos = 2
    while pos < list_end:
        cid, pos = _opaque(body, pos, 1, list_end)
        cids.append(cid)
    _check_room(list_end, 1, end)
    _no_trailing_bytes(list_end + 1, end)
    return NewConnectionId(cids, body[list_end])


def encode_new_connection_id(message: NewConnectionId) -> bytes:
    """A NewConnectionId body."""
    return _vector(2, b"".join([_vector(1, cid) for cid in message.cids])) + bytes((message.usage,))


# -- Transcript ------------------------------------------------------------------------------


def transcript_message(msg_type: int, body: bytes) -> bytes:
    """A handshake message as DTLS 1.3 hashes it (RFC 9147 §5.2): type(1) || length(3) ||
    body, i.e. TLS 1.3's framing, without message_seq and the fragment fields."""
    return bytes((msg_type,)) + len(body).to_bytes(3, "big") + body


def message_hash(hash_algorithm: hashes.HashAlgorithm, client_hello_1: bytes) -> bytes:
    """The synthetic ``message_hash`` message that stands for ClientHello1 in the transcript
    once a HelloRetryRequest was sent or received (RFC 8446 §4.4.1): message_hash(254) ||
    00 00 Hash.length || Hash(ClientHello1), ``client_hello_1`` being its
    ``transcript_message`` bytes."""
    digest = hashes.Hash(hash_algorithm)
    digest.update(client_hello_1)
    return transcript_message(HandshakeType.message_hash, digest.finalize())
