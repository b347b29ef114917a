"""Hello extensions: the extension type registry, the extension block and every extension
body this implementation reads or writes (RFC 5246 §7.4.1.4, RFC 6066, RFC 7301, RFC 5764,
RFC 5746, RFC 8422 §5.1, RFC 9146; DTLS 1.3's type numbers from RFC 8446 §4.2).

Owns ``ExtensionType`` (and the ``EXT_*`` names the state machines read its members
through), the block codec that refuses a duplicate type, ``find_extension``, and a
``decode_x`` / ``encode_x`` pair per extension body. The bodies of DTLS 1.3's extensions
(supported_versions, key_share, pre_shared_key, cookie, ...) are ``tls13``'s, next to the
1.3 messages; their type numbers are here. Which extensions a hello
carries, and what they mean, is the state machines' business.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from ...alerts import AlertIllegalParameter
from ...buffer import Buffer, BufferReadError
from .vectors import (
    _check_room,
    _decode_opaque8,
    _length,
    _no_trailing_bytes,
    _opaque,
    _uint16_list,
    _uint16_vector,
    _vector,
)

__all__ = [
    "EC_POINT_FORMAT_UNCOMPRESSED",
    "EMPTY_RENEGOTIATION_INFO",
    "EXT_ALPN",
    "EXT_CERTIFICATE_AUTHORITIES",
    "EXT_CONNECTION_ID",
    "EXT_COOKIE",
    "EXT_EARLY_DATA",
    "EXT_EC_POINT_FORMATS",
    "EXT_EXTENDED_MASTER_SECRET",
    "EXT_KEY_SHARE",
    "EXT_POST_HANDSHAKE_AUTH",
    "EXT_PRE_SHARED_KEY",
    "EXT_PSK_KEY_EXCHANGE_MODES",
    "EXT_RENEGOTIATION_INFO",
    "EXT_SERVER_NAME",
    "EXT_SESSION_TICKET",
    "EXT_SIGNATURE_ALGORITHMS",
    "EXT_SIGNATURE_ALGORITHMS_CERT",
    "EXT_SUPPORTED_GROUPS",
    "EXT_SUPPORTED_VERSIONS",
    "EXT_USE_SRTP",
    "SERVER_NAME_HOST_NAME",
    "UNCOMPRESSED_POINTS_ONLY",
    "ExtensionType",
    "Extensions",
    "UseSrtp",
    "decode_alpn",
    "decode_connection_id",
    "decode_renegotiation_info",
    "decode_server_name",
    "decode_uint8_list",
    "decode_uint16_list",
    "decode_use_srtp",
    "encode_alpn",
    "encode_connection_id",
    "encode_extensions",
    "encode_renegotiation_info",
    "encode_server_name",
    "encode_uint8_list",
    "encode_uint16_list",
    "encode_use_srtp",
    "find_extension",
    "pull_extensions",
    "push_extensions",
]


class ExtensionType(IntEnum):
    """TLS extension types this implementation understands."""

    server_name = 0
    supported_groups = 10
    ec_point_formats = 11
    signature_algorithms = 13
    use_srtp = 14
    application_layer_protocol_negotiation = 16
    client_certificate_type = 19
    server_certificate_type = 20
    encrypt_then_mac = 22
    extended_master_secret = 23
    session_ticket = 35
    pre_shared_key = 41
    early_data = 42
    supported_versions = 43
    cookie = 44
    psk_key_exchange_modes = 45
    certificate_authorities = 47
    post_handshake_auth = 49
    signature_algorithms_cert = 50
    key_share = 51
    connection_id = 54
    renegotiation_info = 0xFF01


# The extension types of every hello as module-level names: a member read off an Enum class
# costs ~0.2 us in CPython 3.11, and the hello codecs of both roles read these per handshake.
EXT_SERVER_NAME = ExtensionType.server_name
"server_name (RFC 6066 §3)."
EXT_SUPPORTED_GROUPS = ExtensionType.supported_groups
"supported_groups (RFC 8422 §5.1.1)."
EXT_EC_POINT_FORMATS = ExtensionType.ec_point_formats
"ec_point_formats (RFC 8422 §5.1.2)."
EXT_SIGNATURE_ALGORITHMS = ExtensionType.signature_algorithms
"signature_algorithms (RFC 5246 §7.4.1.4.1)."
EXT_CONNECTION_ID = ExtensionType.connection_id
"connection_id (RFC 9146 §3)."
EXT_EXTENDED_MASTER_SECRET = ExtensionType.extended_master_secret
"extended_master_secret (RFC 7627 §5.1)."
EXT_RENEGOTIATION_INFO = ExtensionType.renegotiation_info
"renegotiation_info (RFC 5746 §3.2)."
EXT_SESSION_TICKET = ExtensionType.session_ticket
"session_ticket (RFC 5077 §3.2)."
EXT_ALPN = ExtensionType.application_layer_protocol_negotiation
"application_layer_protocol_negotiation (RFC 7301 §3.1)."
EXT_USE_SRTP = ExtensionType.use_srtp
"use_srtp (RFC 5764 §4.1.1)."
EXT_PRE_SHARED_KEY = ExtensionType.pre_shared_key
"pre_shared_key (RFC 8446 §4.2.11): the last extension of a ClientHello."
EXT_EARLY_DATA = ExtensionType.early_data
"early_data (RFC 8446 §4.2.10)."
EXT_SUPPORTED_VERSIONS = ExtensionType.supported_versions
"supported_versions (RFC 8446 §4.2.1)."
EXT_COOKIE = ExtensionType.cookie
"cookie (RFC 8446 §4.2.2): DTLS 1.3's return-routability check, in HelloRetryRequest."
EXT_PSK_KEY_EXCHANGE_MODES = ExtensionType.psk_key_exchange_modes
"psk_key_exchange_modes (RFC 8446 §4.2.9)."
EXT_CERTIFICATE_AUTHORITIES = ExtensionType.certificate_authorities
"certificate_authorities (RFC 8446 §4.2.4)."
EXT_POST_HANDSHAKE_AUTH = ExtensionType.post_handshake_auth
"post_handshake_auth (RFC 8446 §4.2.6)."
EXT_SIGNATURE_ALGORITHMS_CERT = ExtensionType.signature_algorithms_cert
"signature_algorithms_cert (RFC 8446 §4.2.3)."
EXT_KEY_SHARE = ExtensionType.key_share
"key_share (RFC 8446 §4.2.8)."

EC_POINT_FORMAT_UNCOMPRESSED = 0
"ECPointFormat uncompressed (RFC 8422 §5.1.2)."
SERVER_NAME_HOST_NAME = 0
"NameType host_name (RFC 6066 §3), the only name type defined."

Extensions = list[tuple[int, bytes]]
"Extensions in wire order as (type, body)."

_EXTENSION_HEADER = struct.Struct("!HH")


def _extension_list(data: bytes, pos: int, end: int) -> Extensions:
    """The extensions in ``data[pos:end]`` (the inside of an extension block), in wire order.

    Each is type(2), body<0..2^16-1>, and must fit inside the block; a type seen twice is
    refused (RFC 5246 §7.4.1.4: at most one extension of each type, SPEC H4).
    """
    extensions: Extensions = []
    seen: set[int] = set()
    unpack = _EXTENSION_HEADER.unpack_from
    while pos < end:
        if pos + 4 > end:
            raise BufferReadError(f"extension header of 4 bytes, {end - pos} left")
        ext_type, size = unpack(data, pos)
        start = pos + 4
        pos = start + size
        if pos > end:
            raise BufferReadError(f"extension of {size} bytes, {end - start} left")
        if ext_type in seen:
            raise AlertIllegalParameter(f"duplicate extension {ext_type}")
        seen.add(ext_type)
        extensions.append((ext_type, data[start:pos]))
    return extensions


def encode_extensions(extensions: Extensions) -> bytes:
    """An extension block (empty bytes, i.e. no block, when there are no extensions)."""
    if not extensions:
        return b""
    pack = _EXTENSION_HEADER.pack
    inner = b"".join([pack(ext_type, len(body)) + body for ext_type, body in extensions])
    return _vector(2, inner)


def pull_extensions(buf: Buffer) -> Extensions:
    """Read an extension block; absent (end of message) means none. Duplicates are refused."""
    if buf.eof():
        return []
    data = buf.pull_opaque(2)
    return _extension_list(data, 0, len(data))


def push_extensions(buf: Buffer, extensions: Extensions) -> None:
    """Write an extension block (omitted entirely when empty)."""
    buf.push_bytes(encode_extensions(extensions))


def decode_server_name(body: bytes) -> str:
    """server_name in a ClientHello (RFC 6066 §3): exactly one entry, of type host_name, an
    ASCII name of 1..255 bytes without NUL. Anything else is malformed (``BufferReadError``,
    a decode_error), as OpenSSL decides: only host_name is defined, and a list of several
    names cannot be told apart from a future name type."""
    end = len(body)
    list_end = 2 + _length(body, 0, 2, end)
    if list_end > end:
        raise BufferReadError(f"block of {list_end - 2} bytes, {end - 2} left")
    _check_room(2, 1, list_end)
    if body[2] != SERVER_NAME_HOST_NAME:
        raise BufferReadError(f"server_name type {body[2]} is not host_name")
    value, pos = _opaque(body, 3, 2, list_end)
    if pos != list_end:
        raise BufferReadError("server_name lists more than one name")
    _no_trailing_bytes(list_end, end)
    if not value or len(value) > 255 or b"\x00" in value:
        raise BufferReadError("host_name is empty, longer than 255 bytes or contains NUL")
    try:
        return value.decode("ascii")
    except UnicodeDecodeError as exc:
        raise BufferReadError("non-ASCII host name") from exc


def encode_server_name(name: str) -> bytes:
    """server_name carrying one host_name."""
    return _vector(2, bytes((SERVER_NAME_HOST_NAME,)) + _vector(2, name.encode("ascii")))


def decode_alpn(body: bytes) -> list[bytes]:
    """application_layer_protocol_negotiation (RFC 7301 §3.1): a non-empty list of non-empty
    protocol names (a ServerHello's carries exactly one; the caller checks that)."""
    end = len(body)
    list_end = 2 + _length(body, 0, 2, end)
    if list_end > end:
        raise BufferReadError(f"block of {list_end - 2} bytes, {end - 2} left")
    names = []
    pos = 2
    while pos < list_end:
        name, pos = _opaque(body, pos, 1, list_end)
        if not name:
            raise BufferReadError("empty ALPN protocol name")
        names.append(name)
    if not names:
        raise BufferReadError("empty ALPN protocol list")
    _no_trailing_bytes(list_end, end)
    return names


def encode_alpn(names: Sequence[bytes]) -> bytes:
    """application_layer_protocol_negotiation: ProtocolName protocol_name_list<2..2^16-1>."""
    return _vector(2, b"".join([_vector(1, name) for name in names]))


@dataclass
class UseSrtp:
    """use_srtp (RFC 5764 §4.1.1): protection profile code points and the MKI."""

    profiles: list[int]
    mki: bytes = b""


def decode_use_srtp(body: bytes) -> UseSrtp:
    """UseSRTPData: SRTPProtectionProfiles<2..2^16-1> (two bytes each), opaque
    srtp_mki<0..255>. An odd or empty list, or an MKI past the end, is a BufferReadError."""
    end = len(body)
    profiles, pos = _opaque(body, 0, 2, end)
    values = _uint16_list(profiles, 1)
    mki, pos = _opaque(body, pos, 1, end)
    _no_trailing_bytes(pos, end)
    return UseSrtp(values, mki)


def encode_use_srtp(value: UseSrtp) -> bytes:
    """use_srtp: the profile list, then the MKI."""
    return _uint16_vector(value.profiles) + _vector(1, value.mki)


def decode_uint16_list(body: bytes) -> list[int]:
    """supported_groups / signature_algorithms: a non-empty uint16 list."""
    end = len(body)
    values, pos = _opaque(body, 0, 2, end)
    _no_trailing_bytes(pos, end)
    return _uint16_list(values, 1)


def encode_uint16_list(values: Sequence[int]) -> bytes:
    """supported_groups / signature_algorithms."""
    return _uint16_vector(values)


def decode_uint8_list(body: bytes) -> list[int]:
    """ec_point_formats: a non-empty uint8 list."""
    end = len(body)
    values, pos = _opaque(body, 0, 1, end)
    if not values:
        raise BufferReadError("empty list")
    _no_trailing_bytes(pos, end)
    return list(values)


def encode_uint8_list(values: Sequence[int]) -> bytes:
    """ec_point_formats."""
    return _vector(1, bytes(values))


def decode_renegotiation_info(body: bytes) -> bytes:
    """renegotiation_info (RFC 5746 §3.2): renegotiated_connection<0..255>."""
    return _decode_opaque8(body)


def encode_renegotiation_info(value: bytes = b"") -> bytes:
    """renegotiation_info; empty on an initial handshake."""
    return _vector(1, value)


def decode_connection_id(body: bytes) -> bytes:
    """connection_id (RFC 9146 §3): cid<0..2^8-1>; empty means "send me none"."""
    return _decode_opaque8(body)


def encode_connection_id(cid: bytes) -> bytes:
    """connection_id: the CID the sender wants to receive in records."""
    return _vector(1, cid)


EMPTY_RENEGOTIATION_INFO = encode_renegotiation_info()
"renegotiation_info of an initial handshake (RFC 5746 §3.4): the same bytes every time."
UNCOMPRESSED_POINTS_ONLY = encode_uint8_list([EC_POINT_FORMAT_UNCOMPRESSED])
"ec_point_formats offering (or answering with) uncompressed points only (RFC 8422 §5.1.2)."


def find_extension(extensions: Extensions, ext_type: int) -> bytes | None:
    """The body of the extension of type ``ext_type``, or None if absent."""
    for t, body in extensions:
        if t == ext_type:
            return body
    return None
