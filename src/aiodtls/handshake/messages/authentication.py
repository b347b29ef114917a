"""Authentication messages: Certificate, CertificateRequest, CertificateVerify and Finished
(RFC 5246 §7.4.2, §7.4.4, §7.4.8, §7.4.9).

Owns their codecs and the cached encoding of our own certificate chain. CertificateVerify
and Finished keep their body in DTLS 1.3; its Certificate and CertificateRequest (RFC 8446
§4.3.2, §4.4.2: a request context and per-entry extensions) are different messages and
belong next to these. Whether a certificate or signature is acceptable is
``handshake.certificates``' and ``handshake.signatures``'.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ...buffer import Buffer, BufferReadError
from .vectors import (
    _U16,
    _check_room,
    _length,
    _no_trailing_bytes,
    _opaque,
    _uint16_list,
    _uint16_vector,
    _vector,
)

__all__ = [
    "CLIENT_CERTIFICATE_TYPE_ECDSA_SIGN",
    "CLIENT_CERTIFICATE_TYPE_RSA_SIGN",
    "Certificate",
    "CertificateRequest",
    "CertificateVerify",
    "Finished",
    "decode_certificate",
    "decode_certificate_request",
    "decode_certificate_verify",
    "encode_certificate",
    "encode_certificate_chain",
    "encode_certificate_request",
    "encode_certificate_verify",
    "pull_certificate",
    "pull_certificate_request",
    "pull_certificate_verify",
    "pull_finished",
    "push_certificate",
    "push_certificate_request",
    "push_certificate_verify",
    "push_finished",
]


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
"ClientCertificateType rsa_sign (RFC 5246 §7.4.4)."
CLIENT_CERTIFICATE_TYPE_ECDSA_SIGN = 64
"ClientCertificateType ecdsa_sign (RFC 8422 §5.5)."


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
