"""Handshake message codecs (RFC 5246 §7.4, RFC 6347 §4.2, RFC 7627, RFC 8422, RFC 4279).

Codecs come in pairs on whole bodies, ``decode_x(body) -> X`` and ``encode_x(x) -> bytes``, for
messages and for extension bodies alike. A decoder reads with ``struct`` and slices at known
offsets (a handful of calls per message, not one buffer call per field), checks every length
against the end of what contains it, and raises ``BufferReadError`` (a ``decode_error``) or an
``Alert`` on malformed input, trailing bytes included. An encoder joins the packed fields once.

``pull_x(buf)`` / ``push_x(buf, x)`` are the same codecs on a :class:`~aiodtls.buffer.Buffer`
(a pull reads the rest of the buffer as one message body), for ``decode_message`` /
``encode_message`` and code written against them. The 12-byte handshake header and the
fragmentation and reassembly around it belong to ``reliability``.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ..alerts import AlertIllegalParameter
from ..buffer import Buffer, BufferReadError

T = TypeVar("T")


class HandshakeType(IntEnum):
    """Handshake message types."""

    hello_request = 0
    client_hello = 1
    server_hello = 2
    hello_verify_request = 3
    new_session_ticket = 4
    certificate = 11
    server_key_exchange = 12
    certificate_request = 13
    server_hello_done = 14
    certificate_verify = 15
    client_key_exchange = 16
    finished = 20


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
    connection_id = 54
    renegotiation_info = 0xFF01


# The extension types of every hello as module-level names: a member read off an Enum class
# costs ~0.2 us in CPython 3.11, and the hello codecs of both roles read these per handshake.
EXT_SERVER_NAME = ExtensionType.server_name
EXT_SUPPORTED_GROUPS = ExtensionType.supported_groups
EXT_EC_POINT_FORMATS = ExtensionType.ec_point_formats
EXT_SIGNATURE_ALGORITHMS = ExtensionType.signature_algorithms
EXT_CONNECTION_ID = ExtensionType.connection_id
EXT_EXTENDED_MASTER_SECRET = ExtensionType.extended_master_secret
EXT_RENEGOTIATION_INFO = ExtensionType.renegotiation_info
EXT_SESSION_TICKET = ExtensionType.session_ticket
EXT_ALPN = ExtensionType.application_layer_protocol_negotiation
EXT_USE_SRTP = ExtensionType.use_srtp

EC_POINT_FORMAT_UNCOMPRESSED = 0
SERVER_NAME_HOST_NAME = 0
EC_CURVE_TYPE_NAMED_CURVE = 3

Extensions = list[tuple[int, bytes]]
"Extensions in wire order as (type, body)."


# -- reading and writing helpers ------------------------------------------------------------
#
# A decoder walks ``data`` with an offset ``pos`` and never reads at or beyond ``end`` (the end of
# the message or of the block being read): every helper checks its bytes are there first, since
# slicing past the end of ``bytes`` would silently return fewer.

_U16 = struct.Struct("!H")
_U16_U8 = struct.Struct("!HB")
_U8_U16 = struct.Struct("!BH")
_U32 = struct.Struct("!I")
_EXTENSION_HEADER = struct.Struct("!HH")
_HELLO_START = struct.Struct("!H32s")
"version and random: the fixed start of both hellos."


def _check_room(pos: int, size: int, end: int) -> None:
    """Raise unless ``size`` bytes from ``pos`` fit before ``end``."""
    if pos + size > end:
        raise BufferReadError(f"need {size} bytes, {end - pos} left")


def _length(data: bytes, pos: int, size: int, end: int) -> int:
    """The big-endian length prefix of ``size`` (1, 2 or 3) bytes at ``pos``."""
    if pos + size > end:
        raise BufferReadError(f"need {size} bytes, {end - pos} left")
    if size == 1:
        return data[pos]
    if size == 2:
        return data[pos] << 8 | data[pos + 1]
    return int.from_bytes(data[pos : pos + size], "big")


def _opaque(data: bytes, pos: int, size: int, end: int) -> tuple[bytes, int]:
    """The vector ``opaque x<..>`` whose ``size``-byte length is at ``pos``, and the offset
    after it. (The length is read here rather than through ``_length``: this runs for
    nearly every field of every message.)"""
    start = pos + size
    if start > end:
        raise BufferReadError(f"need {size} bytes, {end - pos} left")
    if size == 1:
        stop = start + data[pos]
    elif size == 2:
        stop = start + (data[pos] << 8 | data[pos + 1])
    else:
        stop = start + int.from_bytes(data[pos:start], "big")
    if stop > end:
        raise BufferReadError(f"vector of {stop - start} bytes, {end - start} left")
    return data[start:stop], stop


def _uint16_list(data: bytes, min_items: int) -> list[int]:
    """The uint16 values of a list body (its length prefix already read)."""
    if len(data) % 2 or len(data) < 2 * min_items:
        raise BufferReadError("bad uint16 list length")
    return list(struct.unpack(f"!{len(data) // 2}H", data))


def _no_trailing_bytes(pos: int, end: int) -> None:
    """A whole body must be consumed exactly."""
    if pos != end:
        raise BufferReadError("trailing bytes")


def _vector(size: int, value: bytes) -> bytes:
    """``value`` behind its ``size``-byte length (OverflowError if it does not fit)."""
    return len(value).to_bytes(size, "big") + value


def _uint16_vector(values: Sequence[int]) -> bytes:
    """A uint16 list with its 2-byte length."""
    return _vector(2, struct.pack(f"!{len(values)}H", *values))


# -- extensions ------------------------------------------------------------------------------


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


def _extension_block(data: bytes, pos: int, end: int) -> tuple[Extensions, int]:
    """The extension block at ``pos`` (absent when ``pos == end``: none) and the offset after."""
    if pos == end:
        return [], pos
    start = pos + 2
    stop = start + _length(data, pos, 2, end)
    if stop > end:
        raise BufferReadError(f"block of {stop - start} bytes, {end - start} left")
    return _extension_list(data, start, stop), stop


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


def _decode(body: bytes, pull: Callable[[Buffer], T]) -> T:
    buf = Buffer(body)
    value = pull(buf)
    if not buf.eof():
        raise BufferReadError("trailing bytes")
    return value


def _pull_uint16_list(buf: Buffer, min_items: int = 0) -> list[int]:
    return _uint16_list(buf.pull_opaque(2), min_items)


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


def _decode_opaque8(body: bytes) -> bytes:
    """A body that is exactly one opaque<0..255>."""
    end = len(body)
    value, pos = _opaque(body, 0, 1, end)
    _no_trailing_bytes(pos, end)
    return value


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


# -- hello messages --------------------------------------------------------------------------


@dataclass
class ClientHello:
    """ClientHello (RFC 6347 §4.2.1: with a cookie)."""

    client_version: int
    random: bytes
    session_id: bytes
    cookie: bytes
    cipher_suites: list[int]
    compression_methods: bytes
    extensions: Extensions = field(default_factory=list)


def decode_client_hello(body: bytes) -> ClientHello:
    """A ClientHello body: version, random, session_id<0..32>, cookie<0..255>, cipher
    suites<2..>, compression methods<1..>, optional extension block."""
    end = len(body)
    _check_room(0, 34, end)
    version, random = _HELLO_START.unpack_from(body)
    session_id, pos = _opaque(body, 34, 1, end)
    cookie, pos = _opaque(body, pos, 1, end)
    suites, pos = _opaque(body, pos, 2, end)
    cipher_suites = _uint16_list(suites, 1)
    compression_methods, pos = _opaque(body, pos, 1, end)
    extensions, pos = _extension_block(body, pos, end)
    if len(session_id) > 32 or not compression_methods:
        raise BufferReadError("bad session_id or compression_methods")
    _no_trailing_bytes(pos, end)
    return ClientHello(
        version, random, session_id, cookie, cipher_suites, compression_methods, extensions
    )


def encode_client_hello(hello: ClientHello) -> bytes:
    """A ClientHello body."""
    return b"".join(
        (
            _U16.pack(hello.client_version),
            hello.random,
            _vector(1, hello.session_id),
            _vector(1, hello.cookie),
            _uint16_vector(hello.cipher_suites),
            _vector(1, hello.compression_methods),
            encode_extensions(hello.extensions),
        )
    )


def pull_client_hello(buf: Buffer) -> ClientHello:
    """Read a ClientHello body (the rest of ``buf``)."""
    return decode_client_hello(buf.pull_bytes(buf.remaining()))


def push_client_hello(buf: Buffer, hello: ClientHello) -> None:
    """Write a ClientHello body."""
    buf.push_bytes(encode_client_hello(hello))


@dataclass
class HelloVerifyRequest:
    """HelloVerifyRequest (RFC 6347 §4.2.1)."""

    server_version: int
    cookie: bytes


def decode_hello_verify_request(body: bytes) -> HelloVerifyRequest:
    """A HelloVerifyRequest body: version, cookie<0..255>."""
    end = len(body)
    _check_room(0, 2, end)
    (version,) = _U16.unpack_from(body)
    cookie, pos = _opaque(body, 2, 1, end)
    _no_trailing_bytes(pos, end)
    return HelloVerifyRequest(version, cookie)


def encode_hello_verify_request_body(hvr: HelloVerifyRequest) -> bytes:
    """A HelloVerifyRequest body (``cookie.encode_hello_verify_request`` makes the datagram)."""
    return _U16.pack(hvr.server_version) + _vector(1, hvr.cookie)


def pull_hello_verify_request(buf: Buffer) -> HelloVerifyRequest:
    """Read a HelloVerifyRequest body (the rest of ``buf``)."""
    return decode_hello_verify_request(buf.pull_bytes(buf.remaining()))


def push_hello_verify_request(buf: Buffer, hvr: HelloVerifyRequest) -> None:
    """Write a HelloVerifyRequest body."""
    buf.push_bytes(encode_hello_verify_request_body(hvr))


@dataclass
class ServerHello:
    """ServerHello."""

    server_version: int
    random: bytes
    session_id: bytes
    cipher_suite: int
    compression_method: int
    extensions: Extensions = field(default_factory=list)


def decode_server_hello(body: bytes) -> ServerHello:
    """A ServerHello body: version, random, session_id<0..32>, suite, compression method,
    optional extension block."""
    end = len(body)
    _check_room(0, 34, end)
    version, random = _HELLO_START.unpack_from(body)
    session_id, pos = _opaque(body, 34, 1, end)
    _check_room(pos, 3, end)
    suite, compression = _U16_U8.unpack_from(body, pos)
    extensions, pos = _extension_block(body, pos + 3, end)
    if len(session_id) > 32:
        raise BufferReadError("session_id too long")
    _no_trailing_bytes(pos, end)
    return ServerHello(version, random, session_id, suite, compression, extensions)


def encode_server_hello(hello: ServerHello) -> bytes:
    """A ServerHello body."""
    return b"".join(
        (
            _U16.pack(hello.server_version),
            hello.random,
            _vector(1, hello.session_id),
            _U16_U8.pack(hello.cipher_suite, hello.compression_method),
            encode_extensions(hello.extensions),
        )
    )


def pull_server_hello(buf: Buffer) -> ServerHello:
    """Read a ServerHello body (the rest of ``buf``)."""
    return decode_server_hello(buf.pull_bytes(buf.remaining()))


def push_server_hello(buf: Buffer, hello: ServerHello) -> None:
    """Write a ServerHello body."""
    buf.push_bytes(encode_server_hello(hello))


@dataclass
class NewSessionTicket:
    """NewSessionTicket (RFC 5077 §3.3): the ticket and how long the server says it lives."""

    ticket_lifetime_hint: int
    ticket: bytes


def decode_new_session_ticket(body: bytes) -> NewSessionTicket:
    """A NewSessionTicket body: lifetime hint (uint32), ticket<0..2^16-1>."""
    end = len(body)
    _check_room(0, 4, end)
    (lifetime,) = _U32.unpack_from(body)
    ticket, pos = _opaque(body, 4, 2, end)
    _no_trailing_bytes(pos, end)
    return NewSessionTicket(lifetime, ticket)


def encode_new_session_ticket(message: NewSessionTicket) -> bytes:
    """A NewSessionTicket body."""
    return message.ticket_lifetime_hint.to_bytes(4, "big") + _vector(2, message.ticket)


def pull_new_session_ticket(buf: Buffer) -> NewSessionTicket:
    """Read a NewSessionTicket body (the rest of ``buf``)."""
    return decode_new_session_ticket(buf.pull_bytes(buf.remaining()))


def push_new_session_ticket(buf: Buffer, message: NewSessionTicket) -> None:
    """Write a NewSessionTicket body."""
    buf.push_bytes(encode_new_session_ticket(message))


# -- certificates ----------------------------------------------------------------------------


@dataclass
class Certificate:
    """Certificate: DER certificates, sender's leaf first."""

    certificates: list[bytes]


def decode_certificate(body: bytes) -> Certificate:
    """A Certificate body: certificate_list<0..2^24-1> of ASN.1Cert<1..2^24-1>."""
    end = len(body)
    list_end = 3 + _length(body, 0, 3, end)
    if list_end > end:
        raise BufferReadError(f"block of {list_end - 3} bytes, {end - 3} left")
    certificates = []
    pos = 3
    while pos < list_end:
        der, pos = _opaque(body, pos, 3, list_end)
        if not der:
            raise BufferReadError("empty certificate entry")
        certificates.append(der)
    _no_trailing_bytes(list_end, end)
    return Certificate(certificates)


def encode_certificate(message: Certificate) -> bytes:
    """A Certificate body."""
    return _vector(3, b"".join([_vector(3, der) for der in message.certificates]))


def pull_certificate(buf: Buffer) -> Certificate:
    """Read a Certificate body (the rest of ``buf``)."""
    return decode_certificate(buf.pull_bytes(buf.remaining()))


def push_certificate(buf: Buffer, message: Certificate) -> None:
    """Write a Certificate body."""
    buf.push_bytes(encode_certificate(message))


def encode_certificate_chain(chain: Sequence[x509.Certificate]) -> bytes:
    """The body of our own Certificate message presenting ``chain``.

    Cached by chain: every connection of a server (or of a client with a certificate)
    presents the same chain, and certificates are immutable, so the DER and the message are
    the same each time. The cache is bounded, so rotating chains cannot grow it.
    """
    return _encode_certificate_chain(tuple(chain))


@functools.lru_cache(maxsize=64)
def _encode_certificate_chain(chain: tuple[x509.Certificate, ...]) -> bytes:
    der = [certificate.public_bytes(Encoding.DER) for certificate in chain]
    return encode_certificate(Certificate(der))


@dataclass
class CertificateRequest:
    """CertificateRequest (RFC 5246 §7.4.4)."""

    certificate_types: bytes
    signature_algorithms: list[int]
    certificate_authorities: list[bytes] = field(default_factory=list)


CLIENT_CERTIFICATE_TYPE_RSA_SIGN = 1
CLIENT_CERTIFICATE_TYPE_ECDSA_SIGN = 64


def decode_certificate_request(body: bytes) -> CertificateRequest:
    """A CertificateRequest body: types<1..255>, signature algorithms<2..2^16-2>,
    certificate_authorities<0..2^16-1> of DistinguishedName<1..2^16-1>."""
    end = len(body)
    types, pos = _opaque(body, 0, 1, end)
    if not types:
        raise BufferReadError("empty certificate_types")
    algorithms, pos = _opaque(body, pos, 2, end)
    signature_algorithms = _uint16_list(algorithms, 1)
    list_end = pos + 2 + _length(body, pos, 2, end)
    if list_end > end:
        raise BufferReadError(f"block of {list_end - pos - 2} bytes, {end - pos - 2} left")
    authorities = []
    pos += 2
    while pos < list_end:
        name, pos = _opaque(body, pos, 2, list_end)
        authorities.append(name)
    _no_trailing_bytes(list_end, end)
    return CertificateRequest(types, signature_algorithms, authorities)


def encode_certificate_request(message: CertificateRequest) -> bytes:
    """A CertificateRequest body."""
    return b"".join(
        (
            _vector(1, message.certificate_types),
            _uint16_vector(message.signature_algorithms),
            _vector(2, b"".join([_vector(2, dn) for dn in message.certificate_authorities])),
        )
    )


def pull_certificate_request(buf: Buffer) -> CertificateRequest:
    """Read a CertificateRequest body (the rest of ``buf``)."""
    return decode_certificate_request(buf.pull_bytes(buf.remaining()))


def push_certificate_request(buf: Buffer, message: CertificateRequest) -> None:
    """Write a CertificateRequest body."""
    buf.push_bytes(encode_certificate_request(message))


# -- key exchange ----------------------------------------------------------------------------


@dataclass
class EcdheParameters:
    """ServerECDHParams (RFC 8422 §5.4) for a named curve."""

    group: int
    public_key: bytes

    def encode(self) -> bytes:
        """The params as they are signed and sent."""
        return _U8_U16.pack(EC_CURVE_TYPE_NAMED_CURVE, self.group) + _vector(1, self.public_key)


def _ecdhe_parameters(data: bytes, pos: int, end: int) -> tuple[EcdheParameters, int]:
    """ServerECDHParams (RFC 8422 §5.4) at ``pos``, and the offset after them."""
    _check_room(pos, 1, end)
    if data[pos] != EC_CURVE_TYPE_NAMED_CURVE:
        # Explicit curves are forbidden (RFC 8422 §5.4, SPEC K3).
        raise AlertIllegalParameter("only named curves are supported")
    _check_room(pos, 3, end)
    (group,) = _U16.unpack_from(data, pos + 1)
    public_key, pos = _opaque(data, pos + 3, 1, end)
    if not public_key:
        raise BufferReadError("empty ECDH public key")
    return EcdheParameters(group, public_key), pos


@dataclass
class ServerKeyExchangeEcdhe:
    """ServerKeyExchange for ECDHE_ECDSA and ECDHE_RSA: params and their signature."""

    params: EcdheParameters
    signature_scheme: int
    signature: bytes


def decode_server_key_exchange_ecdhe(body: bytes) -> ServerKeyExchangeEcdhe:
    """An ECDHE ServerKeyExchange body: params, signature scheme, signature<0..2^16-1>."""
    end = len(body)
    params, pos = _ecdhe_parameters(body, 0, end)
    _check_room(pos, 2, end)
    (scheme,) = _U16.unpack_from(body, pos)
    signature, pos = _opaque(body, pos + 2, 2, end)
    _no_trailing_bytes(pos, end)
    return ServerKeyExchangeEcdhe(params, scheme, signature)


def encode_server_key_exchange_ecdhe(message: ServerKeyExchangeEcdhe) -> bytes:
    """An ECDHE ServerKeyExchange body."""
    return b"".join(
        (
            message.params.encode(),
            _U16.pack(message.signature_scheme),
            _vector(2, message.signature),
        )
    )


def pull_server_key_exchange_ecdhe(buf: Buffer) -> ServerKeyExchangeEcdhe:
    """Read an ECDHE ServerKeyExchange body (the rest of ``buf``)."""
    return decode_server_key_exchange_ecdhe(buf.pull_bytes(buf.remaining()))


def push_server_key_exchange_ecdhe(buf: Buffer, message: ServerKeyExchangeEcdhe) -> None:
    """Write an ECDHE ServerKeyExchange body."""
    buf.push_bytes(encode_server_key_exchange_ecdhe(message))


@dataclass
class ServerKeyExchangePsk:
    """ServerKeyExchange for plain PSK: the identity hint (RFC 4279 §2)."""

    identity_hint: bytes


def _decode_opaque16(body: bytes) -> bytes:
    """A body that is exactly one opaque<0..2^16-1>."""
    end = len(body)
    value, pos = _opaque(body, 0, 2, end)
    _no_trailing_bytes(pos, end)
    return value


def decode_server_key_exchange_psk(body: bytes) -> ServerKeyExchangePsk:
    """A PSK ServerKeyExchange body: psk_identity_hint<0..2^16-1>."""
    return ServerKeyExchangePsk(_decode_opaque16(body))


def encode_server_key_exchange_psk(message: ServerKeyExchangePsk) -> bytes:
    """A PSK ServerKeyExchange body."""
    return _vector(2, message.identity_hint)


def pull_server_key_exchange_psk(buf: Buffer) -> ServerKeyExchangePsk:
    """Read a PSK ServerKeyExchange body (the rest of ``buf``)."""
    return decode_server_key_exchange_psk(buf.pull_bytes(buf.remaining()))


def push_server_key_exchange_psk(buf: Buffer, message: ServerKeyExchangePsk) -> None:
    """Write a PSK ServerKeyExchange body."""
    buf.push_bytes(encode_server_key_exchange_psk(message))


@dataclass
class ClientKeyExchangeEcdhe:
    """ClientKeyExchange for ECDHE: the client's ephemeral public key."""

    public_key: bytes


def decode_client_key_exchange_ecdhe(body: bytes) -> ClientKeyExchangeEcdhe:
    """An ECDHE ClientKeyExchange body: the point<1..255>."""
    public_key = _decode_opaque8(body)
    if not public_key:
        raise BufferReadError("empty ECDH public key")
    return ClientKeyExchangeEcdhe(public_key)


def encode_client_key_exchange_ecdhe(message: ClientKeyExchangeEcdhe) -> bytes:
    """An ECDHE ClientKeyExchange body."""
    return _vector(1, message.public_key)


def pull_client_key_exchange_ecdhe(buf: Buffer) -> ClientKeyExchangeEcdhe:
    """Read an ECDHE ClientKeyExchange body (the rest of ``buf``)."""
    return decode_client_key_exchange_ecdhe(buf.pull_bytes(buf.remaining()))


def push_client_key_exchange_ecdhe(buf: Buffer, message: ClientKeyExchangeEcdhe) -> None:
    """Write an ECDHE ClientKeyExchange body."""
    buf.push_bytes(encode_client_key_exchange_ecdhe(message))


@dataclass
class ClientKeyExchangePsk:
    """ClientKeyExchange for plain PSK: the identity (RFC 4279 §2)."""

    identity: bytes


def decode_client_key_exchange_psk(body: bytes) -> ClientKeyExchangePsk:
    """A PSK ClientKeyExchange body: psk_identity<0..2^16-1>."""
    return ClientKeyExchangePsk(_decode_opaque16(body))


def encode_client_key_exchange_psk(message: ClientKeyExchangePsk) -> bytes:
    """A PSK ClientKeyExchange body."""
    return _vector(2, message.identity)


def pull_client_key_exchange_psk(buf: Buffer) -> ClientKeyExchangePsk:
    """Read a PSK ClientKeyExchange body (the rest of ``buf``)."""
    return decode_client_key_exchange_psk(buf.pull_bytes(buf.remaining()))


def push_client_key_exchange_psk(buf: Buffer, message: ClientKeyExchangePsk) -> None:
    """Write a PSK ClientKeyExchange body."""
    buf.push_bytes(encode_client_key_exchange_psk(message))


@dataclass
class ServerKeyExchangeEcdhePsk:
    """ServerKeyExchange for ECDHE_PSK (RFC 5489 §2): the identity hint (possibly empty)
    and the ECDH parameters, unsigned (the PSK authenticates them through Finished)."""

    identity_hint: bytes
    params: EcdheParameters


def decode_server_key_exchange_ecdhe_psk(body: bytes) -> ServerKeyExchangeEcdhePsk:
    """An ECDHE_PSK ServerKeyExchange body: psk_identity_hint<0..2^16-1>, params."""
    end = len(body)
    hint, pos = _opaque(body, 0, 2, end)
    params, pos = _ecdhe_parameters(body, pos, end)
    _no_trailing_bytes(pos, end)
    return ServerKeyExchangeEcdhePsk(hint, params)


def encode_server_key_exchange_ecdhe_psk(message: ServerKeyExchangeEcdhePsk) -> bytes:
    """An ECDHE_PSK ServerKeyExchange body."""
    return _vector(2, message.identity_hint) + message.params.encode()


def pull_server_key_exchange_ecdhe_psk(buf: Buffer) -> ServerKeyExchangeEcdhePsk:
    """Read an ECDHE_PSK ServerKeyExchange body (the rest of ``buf``)."""
    return decode_server_key_exchange_ecdhe_psk(buf.pull_bytes(buf.remaining()))


def push_server_key_exchange_ecdhe_psk(buf: Buffer, message: ServerKeyExchangeEcdhePsk) -> None:
    """Write an ECDHE_PSK ServerKeyExchange body."""
    buf.push_bytes(encode_server_key_exchange_ecdhe_psk(message))


@dataclass
class ClientKeyExchangeEcdhePsk:
    """ClientKeyExchange for ECDHE_PSK (RFC 5489 §2): identity, then the ephemeral key."""

    identity: bytes
    public_key: bytes


def decode_client_key_exchange_ecdhe_psk(body: bytes) -> ClientKeyExchangeEcdhePsk:
    """An ECDHE_PSK ClientKeyExchange body: psk_identity<0..2^16-1>, point<1..255>."""
    end = len(body)
    identity, pos = _opaque(body, 0, 2, end)
    public_key, pos = _opaque(body, pos, 1, end)
    if not public_key:
        raise BufferReadError("empty ECDH public key")
    _no_trailing_bytes(pos, end)
    return ClientKeyExchangeEcdhePsk(identity, public_key)


def encode_client_key_exchange_ecdhe_psk(message: ClientKeyExchangeEcdhePsk) -> bytes:
    """An ECDHE_PSK ClientKeyExchange body."""
    return _vector(2, message.identity) + _vector(1, message.public_key)


def pull_client_key_exchange_ecdhe_psk(buf: Buffer) -> ClientKeyExchangeEcdhePsk:
    """Read an ECDHE_PSK ClientKeyExchange body (the rest of ``buf``)."""
    return decode_client_key_exchange_ecdhe_psk(buf.pull_bytes(buf.remaining()))


def push_client_key_exchange_ecdhe_psk(buf: Buffer, message: ClientKeyExchangeEcdhePsk) -> None:
    """Write an ECDHE_PSK ClientKeyExchange body."""
    buf.push_bytes(encode_client_key_exchange_ecdhe_psk(message))


@dataclass
class CertificateVerify:
    """CertificateVerify (RFC 5246 §7.4.8)."""

    signature_scheme: int
    signature: bytes


def decode_certificate_verify(body: bytes) -> CertificateVerify:
    """A CertificateVerify body: signature scheme, signature<0..2^16-1>."""
    end = len(body)
    _check_room(0, 2, end)
    (scheme,) = _U16.unpack_from(body)
    signature, pos = _opaque(body, 2, 2, end)
    _no_trailing_bytes(pos, end)
    return CertificateVerify(scheme, signature)


def encode_certificate_verify(message: CertificateVerify) -> bytes:
    """A CertificateVerify body."""
    return _U16.pack(message.signature_scheme) + _vector(2, message.signature)


def pull_certificate_verify(buf: Buffer) -> CertificateVerify:
    """Read a CertificateVerify body (the rest of ``buf``)."""
    return decode_certificate_verify(buf.pull_bytes(buf.remaining()))


def push_certificate_verify(buf: Buffer, message: CertificateVerify) -> None:
    """Write a CertificateVerify body."""
    buf.push_bytes(encode_certificate_verify(message))


@dataclass
class Finished:
    """Finished: verify_data (12 bytes for every suite here).

    The body is the verify_data itself, so the handshakes compare and send the bytes
    directly; this class is the codec's view for ``decode_message`` / ``encode_message``.
    """

    verify_data: bytes


def pull_finished(buf: Buffer) -> Finished:
    """Read a Finished body (the rest of ``buf``)."""
    return Finished(buf.pull_bytes(buf.remaining()))


def push_finished(buf: Buffer, message: Finished) -> None:
    """Write a Finished body."""
    buf.push_bytes(message.verify_data)


def decode_message(body: bytes, pull: Callable[[Buffer], T]) -> T:
    """Decode a whole message body with ``pull``; trailing bytes are a decode error."""
    return _decode(body, pull)


def encode_message(push: Callable[[Buffer, T], None], message: T) -> bytes:
    """Encode a message body with ``push``."""
    buf = Buffer()
    push(buf, message)
    return buf.data
