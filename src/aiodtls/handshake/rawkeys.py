"""RFC 7250 raw public keys: the certificate type extensions, which type each direction uses,
and the Certificate message that carries a SubjectPublicKeyInfo instead of a chain.

Owns the ``client_certificate_type`` (19) and ``server_certificate_type`` (20) codecs, the
types a configuration can present and can verify, the server's choice per direction
(RFC 7250 §4.2) and the client's check of that choice, and the decision whether a peer's raw
key is acceptable (parsed, strong enough, matching a pin of ``peer_public_keys``). X.509 chain
policy stays in ``certificates``; whether a certificate is required at all is the handshake's.

What a configuration can do, derived from its credentials (like the suites it offers):

- present a raw key when ``raw_public_key`` is set (from ``private_key``), X.509 when it has a
  ``certificate_chain``; a raw key is preferred;
- verify a raw key when ``peer_public_keys`` is set; X.509 unless only raw keys are pinned
  (``peer_public_keys`` without ``ca_certificates``, ``peer_fingerprints`` or
  ``verify_callback``).

A ClientHello carries an extension only when it lists RawPublicKey: a list of X.509 alone is
the default that RFC 7250 §4.1 says to omit, so configurations without raw keys send exactly
what they sent before.
"""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ..alerts import (
    AlertBadCertificate,
    AlertInsufficientSecurity,
    AlertUnsupportedCertificate,
)
from ..buffer import Buffer, BufferReadError
from ..configuration import DtlsConfiguration
from ..pki import Fingerprint, as_public_key_pin, format_fingerprint, public_key_fingerprint
from ..trace import Tracer
from .messages import (
    Extensions,
    ExtensionType,
    decode_certificate,
    decode_message,
    find_extension,
)

__all__ = [
    "X509_BOTH_WAYS",
    "CertificateType",
    "CertificateTypes",
    "PeerPublicKey",
    "check_configuration",
    "check_peer_raw_public_key",
    "check_selected_type",
    "client_hello_extensions",
    "decode_certificate_list",
    "decode_certificate_type",
    "decode_certificate_types",
    "encode_certificate_type",
    "encode_certificate_types",
    "encode_raw_public_key_certificate",
    "presentable_types",
    "select_client_type",
    "select_server_type",
    "trace_certificate_types",
    "verifiable_types",
]

PeerPublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


class CertificateType(enum.IntEnum):
    """TLS certificate types (IANA "TLS Certificate Types"; OpenPGP, 1, is not supported)."""

    X509 = 0
    RawPublicKey = 2


@dataclass(frozen=True, slots=True)
class CertificateTypes:
    """The certificate types of one handshake, X.509 unless negotiated otherwise."""

    ours: CertificateType = CertificateType.X509
    "What our Certificate message carries (when we send one)."
    peer: CertificateType = CertificateType.X509
    "What the peer's Certificate message carries."
    answers: tuple[tuple[int, bytes], ...] = ()
    "Server: the certificate type extensions of its ServerHello."


X509_BOTH_WAYS = CertificateTypes()
"""The default of every handshake, shared: a connection that negotiates nothing else (and
every connection once its handshake is over) holds no object of its own."""


def _type_name(value: int) -> str:
    try:
        return CertificateType(value).name
    except ValueError:
        return f"certificate type {value}"


def _names(values: list[int] | list[CertificateType]) -> str:
    return ", ".join(_type_name(v) for v in values) or "none"


def trace_certificate_types(trace: Tracer, types: CertificateTypes) -> None:
    """A ``certificate_types`` trace record, when a raw public key is involved."""
    if CertificateType.RawPublicKey in (types.ours, types.peer):
        trace("certificate_types", ours=types.ours.name, peer=types.peer.name)


# -- codecs ----------------------------------------------------------------------------------


def decode_certificate_types(body: bytes) -> list[int]:
    """A ClientHello's extension: ``CertificateType types<1..2^8-1>`` (RFC 7250 §3), in the
    client's order of preference. Unknown values are kept (the server skips them)."""

    def pull(buf: Buffer) -> list[int]:
        values = list(buf.pull_opaque(1))
        if not values:
            raise BufferReadError("empty certificate type list")
        return values

    return decode_message(body, pull)


def encode_certificate_types(values: list[CertificateType]) -> bytes:
    """A ClientHello's extension: a one-byte length, then one byte per type."""
    return bytes((len(values), *values))


def decode_certificate_type(body: bytes) -> int:
    """A ServerHello's extension: exactly one ``CertificateType`` byte (RFC 7250 §3)."""
    if len(body) != 1:
        raise BufferReadError(f"a ServerHello certificate type is 1 byte, not {len(body)}")
    return body[0]


def encode_certificate_type(value: CertificateType) -> bytes:
    """A ServerHello's extension: the one selected type."""
    return bytes((value,))


def encode_raw_public_key_certificate(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    """The Certificate body for a raw key (RFC 7250 §3):
    ``opaque ASN.1_subjectPublicKeyInfo<1..2^24-1>``, one length and the DER, no list."""
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return len(spki).to_bytes(3, "big") + spki


# -- what a configuration can do --------------------------------------------------------------


def presentable_types(
    configuration: DtlsConfiguration, *, has_chain: bool, has_key: bool
) -> list[CertificateType]:
    """The types we can send, by preference: a raw key first when ``raw_public_key``."""
    types = []
    if configuration.raw_public_key and has_key:
        types.append(CertificateType.RawPublicKey)
    if has_chain:
        types.append(CertificateType.X509)
    return types


def verifiable_types(configuration: DtlsConfiguration) -> list[CertificateType]:
    """The types we can check from the peer, by preference: pinned raw keys first."""
    if not configuration.peer_public_keys:
        return [CertificateType.X509]
    types = [CertificateType.RawPublicKey]
    if (
        configuration.ca_certificates
        or configuration.peer_fingerprints
        or configuration.verify_callback is not None
    ):
        types.append(CertificateType.X509)
    return types


def check_configuration(configuration: DtlsConfiguration) -> None:
    """Raise ``ValueError`` when a connection cannot do what the configuration asks: a raw
    key to present but no private key (checked when a connection starts, because keys are
    usually loaded after the configuration is built)."""
    if configuration.raw_public_key and configuration.private_key is None:
        raise ValueError(
            "raw_public_key is set but there is no private_key to present: load one with "
            "load_private_key() (CLI --key)"
        )


def client_hello_extensions(configuration: DtlsConfiguration) -> Extensions:
    """The certificate type extensions a client offers (none unless raw keys are involved)."""
    extensions: Extensions = []
    ours = presentable_types(
        configuration,
        has_chain=bool(configuration.certificate_chain),
        has_key=configuration.private_key is not None,
    )
    if CertificateType.RawPublicKey in ours:
        body = encode_certificate_types(ours)
        extensions.append((ExtensionType.client_certificate_type, body))
    accepted = verifiable_types(configuration)
    if CertificateType.RawPublicKey in accepted:
        body = encode_certificate_types(accepted)
        extensions.append((ExtensionType.server_certificate_type, body))
    return extensions


# -- the server's choice (RFC 7250 §4.2) ------------------------------------------------------


def select_server_type(
    configuration: DtlsConfiguration, extensions: Extensions, *, has_chain: bool, has_key: bool
) -> CertificateType | AlertUnsupportedCertificate | None:
    """The type of the server's Certificate: ours by preference among those the client can
    process (X.509 alone when it sent no ``server_certificate_type``). None when we present
    no certificate at all (a PSK server); an alert (returned, so that a PSK suite may still be
    chosen) when no type is common."""
    ours = presentable_types(configuration, has_chain=has_chain, has_key=has_key)
    if not ours:
        return None
    body = find_extension(extensions, ExtensionType.server_certificate_type)
    offered = decode_certificate_types(body) if body is not None else [CertificateType.X509]
    for value in ours:
        if value in offered:
            return value
    if body is None:
        return AlertUnsupportedCertificate(
            "the client accepts only X.509 server certificates (no server_certificate_type "
            "extension) but we have only a raw public key: give the server a certificate "
            "chain, or enable raw public keys on the client"
        )
    return AlertUnsupportedCertificate(
        f"no server certificate type in common: the client accepts {_names(offered)}, "
        f"we present {_names(ours)}"
    )


def select_client_type(
    configuration: DtlsConfiguration, extensions: Extensions, *, required: bool
) -> CertificateType | None:
    """The type the client must send when we request its certificate: ours by preference
    among those it offered. None: omit the extension (the client sent none, or no common type
    while a certificate is optional: the client then sends X.509 or nothing). Raises
    ``unsupported_certificate`` when a certificate is required and no type is common."""
    accepted = verifiable_types(configuration)
    body = find_extension(extensions, ExtensionType.client_certificate_type)
    offered = decode_certificate_types(body) if body is not None else [CertificateType.X509]
    for value in accepted:
        if value in offered:
            return value if body is not None else None
    if not required:
        return None
    if body is None:
        raise AlertUnsupportedCertificate(
            "the client can send only an X.509 certificate (no client_certificate_type "
            "extension) but we accept only pinned raw public keys (peer_public_keys): add a "
            "trust anchor (ca_certificates) or enable raw public keys on the client"
        )
    raise AlertUnsupportedCertificate(
        f"no client certificate type in common: the client offers {_names(offered)}, "
        f"we accept {_names(accepted)}"
    )


def check_selected_type(
    selected: bytes | None, offered: list[CertificateType], direction: str
) -> CertificateType:
    """The client's check of a type the server selected for ``direction`` ("server" or
    "client"): absent means X.509; it must be one we offered (RFC 7250 §4.2)."""
    value = CertificateType.X509 if selected is None else decode_certificate_type(selected)
    if value not in offered:
        if selected is None:
            raise AlertUnsupportedCertificate(
                f"the server does not support raw public keys (it did not answer "
                f"{direction}_certificate_type), so the {direction} certificate would be "
                f"X.509, which we did not offer ({_names(offered)})"
            )
        raise AlertUnsupportedCertificate(
            f"the server selected {_type_name(value)} for the {direction} certificate, "
            f"which we did not offer ({_names(offered)})"
        )
    return CertificateType(value)


# -- the peer's Certificate message ------------------------------------------------------------


def _pull_single(buf: Buffer) -> bytes:
    return buf.pull_opaque(3)


def decode_certificate_list(body: bytes, role: str) -> list[bytes]:
    """An X.509 Certificate body as DER certificates; a raw key sent instead of the
    negotiated X.509 is ``unsupported_certificate`` (else malformed: ``decode_error``)."""
    try:
        return decode_certificate(body).certificates
    except BufferReadError:
        try:
            spki = decode_message(body, _pull_single)
            serialization.load_der_public_key(spki)
        except (BufferReadError, ValueError, UnsupportedAlgorithm):
            raise BufferReadError("not a certificate_list") from None
        raise AlertUnsupportedCertificate(
            f"the {role} sent a raw public key, but X.509 certificates were negotiated"
        ) from None


def check_peer_raw_public_key(
    body: bytes, configuration: DtlsConfiguration, *, peer_is_server: bool
) -> PeerPublicKey | None:
    """Parse the peer's raw-key Certificate body and check the key: strength
    (``insufficient_security``), kind (ECDSA or RSA, else ``unsupported_certificate``), then
    the pins (none matching: ``bad_certificate`` naming the key's SHA-256). None when the
    peer sent no key (an empty body: the same bytes as an empty certificate_list)."""
    role = "server" if peer_is_server else "client"
    spki = decode_message(body, _pull_single)  # a length mismatch is a decode_error
    if not spki:
        return None
    try:
        key = serialization.load_der_public_key(spki)
    except (ValueError, UnsupportedAlgorithm) as exc:
        if _is_certificate_list(spki):
            raise AlertUnsupportedCertificate(
                f"the {role} sent an X.509 certificate chain, but a raw public key was negotiated"
            ) from None
        raise AlertBadCertificate(
            f"cannot parse the {role}'s raw public key (SubjectPublicKeyInfo): {exc}"
        ) from None
    problem = configuration.key_strength_problem(key)
    if problem is not None:
        raise AlertInsufficientSecurity(f"the {role}'s raw public key is {problem}")
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise AlertUnsupportedCertificate(
            f"the {role}'s raw public key is a {type(key).__name__}: only ECDSA and RSA keys "
            "can sign here"
        )
    digest = public_key_fingerprint(key)
    pins = [as_public_key_pin(pin) for pin in configuration.peer_public_keys]
    # Constant-time, every pin compared (a list, not any() over a generator).
    if not any([_matches(pin, key, digest) for pin in pins]):
        raise AlertBadCertificate(
            f"the {role}'s raw public key sha-256 {format_fingerprint(digest, None)} matches "
            "no pinned key (peer_public_keys)"
        )
    return key


def _matches(pin: Fingerprint, key: PeerPublicKey, sha256: bytes) -> bool:
    digest = sha256 if pin.algorithm == "sha-256" else public_key_fingerprint(key, pin.algorithm)
    return hmac.compare_digest(digest, pin.digest)


def _is_certificate_list(data: bytes) -> bool:
    """Whether ``data`` reads as ``ASN.1Cert certificate_list<..>`` entries: what an X.509
    Certificate body holds after its outer length."""
    try:
        first = decode_message(data[: 3 + int.from_bytes(data[:3], "big")], _pull_single)
        x509.load_der_x509_certificate(first)
    except (BufferReadError, ValueError, x509.InvalidVersion):
        return False
    return True
