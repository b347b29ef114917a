"""Handshake message codecs (RFC 5246 §7.4, RFC 6347 §4.2, RFC 7627, RFC 8422, RFC 4279).

Codecs come in pairs, ``pull_x(buf) -> X`` and ``push_x(buf, x)``. A pull raises
``BufferReadError`` or an ``Alert`` on malformed input. The DTLS 12-byte handshake header is
here too; fragmentation and reassembly of it belong to ``reliability``.
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


EC_POINT_FORMAT_UNCOMPRESSED = 0
SERVER_NAME_HOST_NAME = 0
EC_CURVE_TYPE_NAMED_CURVE = 3

Extensions = list[tuple[int, bytes]]
"Extensions in wire order as (type, body)."


# -- extensions ------------------------------------------------------------------------------


def pull_extensions(buf: Buffer) -> Extensions:
    """Read an extension block; absent (end of message) means none. Duplicates are refused."""
    extensions: Extensions = []
    if buf.eof():
        return extensions
    seen: set[int] = set()
    with buf.pull_block(2):
        while not buf.eof():
            ext_type = buf.pull_uint16()
            body = buf.pull_opaque(2)
            if ext_type in seen:
                # RFC 5246 §7.4.1.4: at most one extension of each type (SPEC H4).
                raise AlertIllegalParameter(f"duplicate extension {ext_type}")
            seen.add(ext_type)
            extensions.append((ext_type, body))
    return extensions


def push_extensions(buf: Buffer, extensions: Extensions) -> None:
    """Write an extension block (omitted entirely when empty)."""
    if not extensions:
        return
    with buf.push_block(2):
        for ext_type, body in extensions:
            buf.push_uint16(ext_type)
            buf.push_opaque(2, body)


def _decode(body: bytes, pull: Callable[[Buffer], T]) -> T:
    buf = Buffer(body)
    value = pull(buf)
    if not buf.eof():
        raise BufferReadError("trailing bytes")
    return value


def _encode(push: Callable[[Buffer], None]) -> bytes:
    buf = Buffer()
    push(buf)
    return buf.data


def _pull_uint16_list(buf: Buffer, min_items: int = 0) -> list[int]:
    data = buf.pull_opaque(2)
    if len(data) % 2 or len(data) < 2 * min_items:
        raise BufferReadError("bad uint16 list length")
    return list(struct.unpack(f"!{len(data) // 2}H", data))


def _push_uint16_list(buf: Buffer, values: Sequence[int]) -> None:
    buf.push_opaque(2, struct.pack(f"!{len(values)}H", *values))


def decode_server_name(body: bytes) -> str:
    """server_name in a ClientHello (RFC 6066 §3): exactly one entry, of type host_name, an
    ASCII name of 1..255 bytes without NUL. Anything else is malformed (``BufferReadError``,
    a decode_error), as OpenSSL decides: only host_name is defined, and a list of several
    names cannot be told apart from a future name type."""

    def pull(buf: Buffer) -> str:
        with buf.pull_block(2):
            name_type = buf.pull_uint8()
            if name_type != SERVER_NAME_HOST_NAME:
                raise BufferReadError(f"server_name type {name_type} is not host_name")
            value = buf.pull_opaque(2)
            if not buf.eof():
                raise BufferReadError("server_name lists more than one name")
        if not value or len(value) > 255 or b"\x00" in value:
            raise BufferReadError("host_name is empty, longer than 255 bytes or contains NUL")
        try:
            return value.decode("ascii")
        except UnicodeDecodeError as exc:
            raise BufferReadError("non-ASCII host name") from exc

    return _decode(body, pull)


def encode_server_name(name: str) -> bytes:
    """server_name carrying one host_name."""

    def push(buf: Buffer) -> None:
        with buf.push_block(2):
            buf.push_uint8(SERVER_NAME_HOST_NAME)
            buf.push_opaque(2, name.encode("ascii"))

    return _encode(push)


def decode_alpn(body: bytes) -> list[bytes]:
    """application_layer_protocol_negotiation (RFC 7301 §3.1): a non-empty list of non-empty
    protocol names (a ServerHello's carries exactly one; the caller checks that)."""

    def pull(buf: Buffer) -> list[bytes]:
        names = []
        with buf.pull_block(2):
            while not buf.eof():
                name = buf.pull_opaque(1)
                if not name:
                    raise BufferReadError("empty ALPN protocol name")
                names.append(name)
        if not names:
            raise BufferReadError("empty ALPN protocol list")
        return names

    return _decode(body, pull)


def encode_alpn(names: Sequence[bytes]) -> bytes:
    """application_layer_protocol_negotiation: ProtocolName protocol_name_list<2..2^16-1>."""

    def push(buf: Buffer) -> None:
        with buf.push_block(2):
            for name in names:
                buf.push_opaque(1, name)

    return _encode(push)


@dataclass
class UseSrtp:
    """use_srtp (RFC 5764 §4.1.1): protection profile code points and the MKI."""

    profiles: list[int]
    mki: bytes = b""


def decode_use_srtp(body: bytes) -> UseSrtp:
    """UseSRTPData: SRTPProtectionProfiles<2..2^16-1> (two bytes each), opaque
    srtp_mki<0..255>. An odd or empty list, or an MKI past the end, is a BufferReadError."""

    def pull(buf: Buffer) -> UseSrtp:
        profiles = _pull_uint16_list(buf, min_items=1)
        return UseSrtp(profiles, buf.pull_opaque(1))

    return _decode(body, pull)


def encode_use_srtp(value: UseSrtp) -> bytes:
    """use_srtp: the profile list, then the MKI."""

    def push(buf: Buffer) -> None:
        _push_uint16_list(buf, value.profiles)
        buf.push_opaque(1, value.mki)

    return _encode(push)


def decode_uint16_list(body: bytes) -> list[int]:
    """supported_groups / signature_algorithms: a non-empty uint16 list."""
    return _decode(body, lambda buf: _pull_uint16_list(buf, min_items=1))


def encode_uint16_list(values: Sequence[int]) -> bytes:
    """supported_groups / signature_algorithms."""
    return _encode(lambda buf: _push_uint16_list(buf, values))


def decode_uint8_list(body: bytes) -> list[int]:
    """ec_point_formats: a non-empty uint8 list."""

    def pull(buf: Buffer) -> list[int]:
        values = list(buf.pull_opaque(1))
        if not values:
            raise BufferReadError("empty list")
        return values

    return _decode(body, pull)


def encode_uint8_list(values: Sequence[int]) -> bytes:
    """ec_point_formats."""
    return _encode(lambda buf: buf.push_opaque(1, bytes(values)))


def decode_renegotiation_info(body: bytes) -> bytes:
    """renegotiation_info (RFC 5746 §3.2): renegotiated_connection<0..255>."""
    return _decode(body, lambda buf: buf.pull_opaque(1))


def encode_renegotiation_info(value: bytes = b"") -> bytes:
    """renegotiation_info; empty on an initial handshake."""
    return _encode(lambda buf: buf.push_opaque(1, value))


def decode_connection_id(body: bytes) -> bytes:
    """connection_id (RFC 9146 §3): cid<0..2^8-1>; empty means "send me none"."""
    return _decode(body, lambda buf: buf.pull_opaque(1))


def encode_connection_id(cid: bytes) -> bytes:
    """connection_id: the CID the sender wants to receive in records."""
    return _encode(lambda buf: buf.push_opaque(1, cid))


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


def pull_client_hello(buf: Buffer) -> ClientHello:
    """Read a ClientHello body."""
    hello = ClientHello(
        client_version=buf.pull_uint16(),
        random=buf.pull_bytes(32),
        session_id=buf.pull_opaque(1),
        cookie=buf.pull_opaque(1),
        cipher_suites=_pull_uint16_list(buf, min_items=1),
        compression_methods=buf.pull_opaque(1),
        extensions=pull_extensions(buf),
    )
    if len(hello.session_id) > 32 or not hello.compression_methods:
        raise BufferReadError("bad session_id or compression_methods")
    return hello


def push_client_hello(buf: Buffer, hello: ClientHello) -> None:
    """Write a ClientHello body."""
    buf.push_uint16(hello.client_version)
    buf.push_bytes(hello.random)
    buf.push_opaque(1, hello.session_id)
    buf.push_opaque(1, hello.cookie)
    _push_uint16_list(buf, hello.cipher_suites)
    buf.push_opaque(1, hello.compression_methods)
    push_extensions(buf, hello.extensions)


@dataclass
class HelloVerifyRequest:
    """HelloVerifyRequest (RFC 6347 §4.2.1)."""

    server_version: int
    cookie: bytes


def pull_hello_verify_request(buf: Buffer) -> HelloVerifyRequest:
    """Read a HelloVerifyRequest body."""
    return HelloVerifyRequest(server_version=buf.pull_uint16(), cookie=buf.pull_opaque(1))


def push_hello_verify_request(buf: Buffer, hvr: HelloVerifyRequest) -> None:
    """Write a HelloVerifyRequest body."""
    buf.push_uint16(hvr.server_version)
    buf.push_opaque(1, hvr.cookie)


@dataclass
class ServerHello:
    """ServerHello."""

    server_version: int
    random: bytes
    session_id: bytes
    cipher_suite: int
    compression_method: int
    extensions: Extensions = field(default_factory=list)


def pull_server_hello(buf: Buffer) -> ServerHello:
    """Read a ServerHello body."""
    hello = ServerHello(
        server_version=buf.pull_uint16(),
        random=buf.pull_bytes(32),
        session_id=buf.pull_opaque(1),
        cipher_suite=buf.pull_uint16(),
        compression_method=buf.pull_uint8(),
        extensions=pull_extensions(buf),
    )
    if len(hello.session_id) > 32:
        raise BufferReadError("session_id too long")
    return hello


def push_server_hello(buf: Buffer, hello: ServerHello) -> None:
    """Write a ServerHello body."""
    buf.push_uint16(hello.server_version)
    buf.push_bytes(hello.random)
    buf.push_opaque(1, hello.session_id)
    buf.push_uint16(hello.cipher_suite)
    buf.push_uint8(hello.compression_method)
    push_extensions(buf, hello.extensions)


@dataclass
class NewSessionTicket:
    """NewSessionTicket (RFC 5077 §3.3): the ticket and how long the server says it lives."""

    ticket_lifetime_hint: int
    ticket: bytes


def pull_new_session_ticket(buf: Buffer) -> NewSessionTicket:
    """Read a NewSessionTicket body."""
    return NewSessionTicket(buf.pull_uint32(), buf.pull_opaque(2))


def push_new_session_ticket(buf: Buffer, message: NewSessionTicket) -> None:
    """Write a NewSessionTicket body."""
    buf.push_uint32(message.ticket_lifetime_hint)
    buf.push_opaque(2, message.ticket)


# -- certificates ----------------------------------------------------------------------------


@dataclass
class Certificate:
    """Certificate: DER certificates, sender's leaf first."""

    certificates: list[bytes]


def pull_certificate(buf: Buffer) -> Certificate:
    """Read a Certificate body."""
    certificates = []
    with buf.pull_block(3):
        while not buf.eof():
            der = buf.pull_opaque(3)
            if not der:
                raise BufferReadError("empty certificate entry")
            certificates.append(der)
    return Certificate(certificates)


def push_certificate(buf: Buffer, message: Certificate) -> None:
    """Write a Certificate body."""
    with buf.push_block(3):
        for der in message.certificates:
            buf.push_opaque(3, der)


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
    return encode_message(push_certificate, Certificate(der))


@dataclass
class CertificateRequest:
    """CertificateRequest (RFC 5246 §7.4.4)."""

    certificate_types: bytes
    signature_algorithms: list[int]
    certificate_authorities: list[bytes] = field(default_factory=list)


CLIENT_CERTIFICATE_TYPE_RSA_SIGN = 1
CLIENT_CERTIFICATE_TYPE_ECDSA_SIGN = 64


def pull_certificate_request(buf: Buffer) -> CertificateRequest:
    """Read a CertificateRequest body."""
    types = buf.pull_opaque(1)
    if not types:
        raise BufferReadError("empty certificate_types")
    algorithms = _pull_uint16_list(buf, min_items=1)
    authorities = []
    with buf.pull_block(2):
        while not buf.eof():
            authorities.append(buf.pull_opaque(2))
    return CertificateRequest(types, algorithms, authorities)


def push_certificate_request(buf: Buffer, message: CertificateRequest) -> None:
    """Write a CertificateRequest body."""
    buf.push_opaque(1, message.certificate_types)
    _push_uint16_list(buf, message.signature_algorithms)
    with buf.push_block(2):
        for dn in message.certificate_authorities:
            buf.push_opaque(2, dn)


# -- key exchange ----------------------------------------------------------------------------


@dataclass
class EcdheParameters:
    """ServerECDHParams (RFC 8422 §5.4) for a named curve."""

    group: int
    public_key: bytes

    def encode(self) -> bytes:
        """The params as they are signed and sent."""
        return (
            bytes((EC_CURVE_TYPE_NAMED_CURVE,))
            + self.group.to_bytes(2, "big")
            + bytes((len(self.public_key),))
            + self.public_key
        )


@dataclass
class ServerKeyExchangeEcdhe:
    """ServerKeyExchange for ECDHE_ECDSA and ECDHE_RSA: params and their signature."""

    params: EcdheParameters
    signature_scheme: int
    signature: bytes


def _pull_ecdhe_parameters(buf: Buffer) -> EcdheParameters:
    """Read ServerECDHParams (RFC 8422 §5.4)."""
    curve_type = buf.pull_uint8()
    if curve_type != EC_CURVE_TYPE_NAMED_CURVE:
        # Explicit curves are forbidden (RFC 8422 §5.4, SPEC K3).
        raise AlertIllegalParameter("only named curves are supported")
    group = buf.pull_uint16()
    public_key = buf.pull_opaque(1)
    if not public_key:
        raise BufferReadError("empty ECDH public key")
    return EcdheParameters(group, public_key)


def pull_server_key_exchange_ecdhe(buf: Buffer) -> ServerKeyExchangeEcdhe:
    """Read an ECDHE ServerKeyExchange body."""
    return ServerKeyExchangeEcdhe(
        params=_pull_ecdhe_parameters(buf),
        signature_scheme=buf.pull_uint16(),
        signature=buf.pull_opaque(2),
    )


def push_server_key_exchange_ecdhe(buf: Buffer, message: ServerKeyExchangeEcdhe) -> None:
    """Write an ECDHE ServerKeyExchange body."""
    buf.push_bytes(message.params.encode())
    buf.push_uint16(message.signature_scheme)
    buf.push_opaque(2, message.signature)


@dataclass
class ServerKeyExchangePsk:
    """ServerKeyExchange for plain PSK: the identity hint (RFC 4279 §2)."""

    identity_hint: bytes


def pull_server_key_exchange_psk(buf: Buffer) -> ServerKeyExchangePsk:
    """Read a PSK ServerKeyExchange body."""
    return ServerKeyExchangePsk(buf.pull_opaque(2))


def push_server_key_exchange_psk(buf: Buffer, message: ServerKeyExchangePsk) -> None:
    """Write a PSK ServerKeyExchange body."""
    buf.push_opaque(2, message.identity_hint)


@dataclass
class ClientKeyExchangeEcdhe:
    """ClientKeyExchange for ECDHE: the client's ephemeral public key."""

    public_key: bytes


def pull_client_key_exchange_ecdhe(buf: Buffer) -> ClientKeyExchangeEcdhe:
    """Read an ECDHE ClientKeyExchange body."""
    public_key = buf.pull_opaque(1)
    if not public_key:
        raise BufferReadError("empty ECDH public key")
    return ClientKeyExchangeEcdhe(public_key)


def push_client_key_exchange_ecdhe(buf: Buffer, message: ClientKeyExchangeEcdhe) -> None:
    """Write an ECDHE ClientKeyExchange body."""
    buf.push_opaque(1, message.public_key)


@dataclass
class ClientKeyExchangePsk:
    """ClientKeyExchange for plain PSK: the identity (RFC 4279 §2)."""

    identity: bytes


def pull_client_key_exchange_psk(buf: Buffer) -> ClientKeyExchangePsk:
    """Read a PSK ClientKeyExchange body."""
    return ClientKeyExchangePsk(buf.pull_opaque(2))


def push_client_key_exchange_psk(buf: Buffer, message: ClientKeyExchangePsk) -> None:
    """Write a PSK ClientKeyExchange body."""
    buf.push_opaque(2, message.identity)


@dataclass
class ServerKeyExchangeEcdhePsk:
    """ServerKeyExchange for ECDHE_PSK (RFC 5489 §2): the identity hint (possibly empty)
    and the ECDH parameters, unsigned (the PSK authenticates them through Finished)."""

    identity_hint: bytes
    params: EcdheParameters


def pull_server_key_exchange_ecdhe_psk(buf: Buffer) -> ServerKeyExchangeEcdhePsk:
    """Read an ECDHE_PSK ServerKeyExchange body."""
    hint = buf.pull_opaque(2)
    return ServerKeyExchangeEcdhePsk(hint, _pull_ecdhe_parameters(buf))


def push_server_key_exchange_ecdhe_psk(buf: Buffer, message: ServerKeyExchangeEcdhePsk) -> None:
    """Write an ECDHE_PSK ServerKeyExchange body."""
    buf.push_opaque(2, message.identity_hint)
    buf.push_bytes(message.params.encode())


@dataclass
class ClientKeyExchangeEcdhePsk:
    """ClientKeyExchange for ECDHE_PSK (RFC 5489 §2): identity, then the ephemeral key."""

    identity: bytes
    public_key: bytes


def pull_client_key_exchange_ecdhe_psk(buf: Buffer) -> ClientKeyExchangeEcdhePsk:
    """Read an ECDHE_PSK ClientKeyExchange body."""
    identity = buf.pull_opaque(2)
    public_key = buf.pull_opaque(1)
    if not public_key:
        raise BufferReadError("empty ECDH public key")
    return ClientKeyExchangeEcdhePsk(identity, public_key)


def push_client_key_exchange_ecdhe_psk(buf: Buffer, message: ClientKeyExchangeEcdhePsk) -> None:
    """Write an ECDHE_PSK ClientKeyExchange body."""
    buf.push_opaque(2, message.identity)
    buf.push_opaque(1, message.public_key)


@dataclass
class CertificateVerify:
    """CertificateVerify (RFC 5246 §7.4.8)."""

    signature_scheme: int
    signature: bytes


def pull_certificate_verify(buf: Buffer) -> CertificateVerify:
    """Read a CertificateVerify body."""
    return CertificateVerify(buf.pull_uint16(), buf.pull_opaque(2))


def push_certificate_verify(buf: Buffer, message: CertificateVerify) -> None:
    """Write a CertificateVerify body."""
    buf.push_uint16(message.signature_scheme)
    buf.push_opaque(2, message.signature)


@dataclass
class Finished:
    """Finished: verify_data (12 bytes for every suite here)."""

    verify_data: bytes


def pull_finished(buf: Buffer) -> Finished:
    """Read a Finished body."""
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
