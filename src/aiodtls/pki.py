"""Certificates a user can make and pin: keys, self-signed leaves, a CA and the leaves it
issues, PEM files, and certificate fingerprints in every form people paste.

Public API (documented in ``docs/certificates.md``; the ``aiodtls cert`` command is built on
it):

- :func:`self_signed`, :func:`certificate_authority`, :func:`issue` make :class:`Credentials`
  (a certificate, its key and the intermediates to send) with the extensions a strict verifier
  (``cryptography.x509.verification``, OpenSSL, GnuTLS) expects: ECDSA P-256 by default, RSA
  on request, subjectAltName DNS names and IP addresses, a validity in days.
- :func:`write_certificates` and :func:`write_private_key` write PEM files (keys with mode
  0600, never over an existing file unless asked).
- :func:`fingerprint`, :func:`format_fingerprint`, :func:`sdp_fingerprint` compute and show a
  certificate's fingerprint (RFC 8122: ``sha-256 AB:CD:...``); :func:`parse_fingerprint` reads
  one back in any common form into a :class:`Fingerprint`.
- :func:`subject_public_key_info` and :func:`public_key_fingerprint` give the DER
  SubjectPublicKeyInfo of a key or certificate and its hash: what an RFC 7250 raw public key
  is and how it is pinned; :func:`as_public_key_pin` reads a ``peer_public_keys`` entry.

It also keeps :func:`generate_chain` (a throwaway root -> intermediate -> leaf chain for demos,
examples and tests). Validation of peer certificates is elsewhere (``handshake.certificates``).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import ipaddress
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    PrivateKeyTypes,
    PublicKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "DEFAULT_NAMES",
    "FINGERPRINT_ALGORITHMS",
    "CertificateChain",
    "Credentials",
    "Fingerprint",
    "PublicKeyPin",
    "as_fingerprint",
    "as_public_key_pin",
    "ca_builder",
    "certificate_authority",
    "fingerprint",
    "format_fingerprint",
    "generate_chain",
    "generate_key",
    "issue",
    "leaf_builder",
    "parse_fingerprint",
    "public_key_fingerprint",
    "sdp_fingerprint",
    "self_signed",
    "subject_public_key_info",
    "write_certificates",
    "write_private_key",
]

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class CertificateChain:
    """A leaf, its key, the intermediates above it and the root that anchors them."""

    leaf: x509.Certificate
    key: PrivateKey
    intermediates: list[x509.Certificate]
    root: x509.Certificate

    @property
    def chain(self) -> list[x509.Certificate]:
        """What an endpoint sends: leaf first, then intermediates."""
        return [self.leaf, *self.intermediates]

    def chain_pem(self) -> bytes:
        """The sent chain as PEM."""
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)

    def key_pem(self) -> bytes:
        """The leaf key as unencrypted PKCS#8 PEM."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def root_pem(self) -> bytes:
        """The trust anchor as PEM."""
        return self.root.public_bytes(serialization.Encoding.PEM)


def _new_key(kind: str, bits: int) -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return ec.generate_private_key(ec.SECP384R1() if bits > 256 else ec.SECP256R1())


def _serial() -> int:
    # A fixed bit length keeps the DER size of every certificate the same from run to run,
    # so simulations that fragment it are reproducible.
    return (1 << 150) | secrets.randbits(150)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def ca_builder(
    key: PrivateKey, subject: x509.Name, path_length: int | None
) -> x509.CertificateBuilder:
    """Subject, key and CA extensions of a certificate authority; the caller adds issuer,
    serial, validity and authority key identifier, then signs."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .public_key(key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def leaf_builder(
    key: PrivateKey, subject: x509.Name, names: Sequence[str], *, client_only: bool = False
) -> x509.CertificateBuilder:
    """Subject, key and end-entity extensions of a leaf; ``names`` (DNS names or IP
    addresses) become its subjectAltName. The caller adds issuer, serial, validity and
    authority key identifier, then signs."""
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
    if not client_only:
        usages.insert(0, ExtendedKeyUsageOID.SERVER_AUTH)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .public_key(key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                # RSA keys may also be used for key transport; ECDSA keys only sign.
                key_encipherment=isinstance(key, rsa.RSAPrivateKey),
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    alt_names: list[x509.GeneralName] = []
    for name in names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    return builder


def _issue(
    builder: x509.CertificateBuilder,
    issuer: x509.Name,
    signer: PrivateKey,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
) -> x509.Certificate:
    return (
        builder.issuer_name(issuer)
        .serial_number(_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),
            critical=False,
        )
        .sign(signer, hashes.SHA256())
    )


def generate_chain(
    *,
    kind: str = "ecdsa",
    key_bits: tuple[int, int, int] = (256, 256, 256),
    names: tuple[str, ...] = ("localhost", "127.0.0.1"),
    valid_days: int = 30,
) -> CertificateChain:
    """A fresh root -> intermediate -> leaf chain; ``kind`` is ``'ecdsa'`` or ``'rsa'``.

    ``key_bits`` gives the root, intermediate and leaf key sizes (RSA modulus bits, or 256/384
    for the ECDSA curve). ``names`` become the leaf's subjectAltName (DNS names or IPs).
    """
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    until = now + datetime.timedelta(days=valid_days)
    root_key, int_key, leaf_key = (_new_key(kind, b) for b in key_bits)
    root_name = _name("aiodtls demo root CA")
    root = _issue(ca_builder(root_key, root_name, None), root_name, root_key, now, until)
    intermediate = _issue(
        ca_builder(int_key, _name("aiodtls demo intermediate CA"), 0),
        root.subject,
        root_key,
        now,
        until,
    )
    leaf = _issue(
        leaf_builder(leaf_key, _name(names[0]), names),
        intermediate.subject,
        int_key,
        now,
        until,
    )
    return CertificateChain(leaf, leaf_key, [intermediate], root)


# --- Certificates a user makes -------------------------------------------------------------

DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")
"The subjectAltName of a certificate made without names: this host over loopback."


@dataclass(frozen=True)
class Credentials:
    """A certificate, its private key and the intermediate CA certificates to send with it."""

    certificate: x509.Certificate
    "The certificate (a leaf, or a CA's own certificate)."
    key: PrivateKey
    "Its private key."
    intermediates: tuple[x509.Certificate, ...] = ()
    "CA certificates between it and the root, its issuer first; empty when a root issued it."

    @property
    def chain(self) -> list[x509.Certificate]:
        """What an endpoint sends (``load_cert_chain``'s certfile): the certificate, then the
        intermediates."""
        return [self.certificate, *self.intermediates]

    def chain_pem(self) -> bytes:
        """:attr:`chain` as concatenated PEM."""
        return b"".join(_pem(c) for c in self.chain)

    def key_pem(self, password: bytes | str | None = None) -> bytes:
        """The private key as PKCS#8 PEM, encrypted with ``password`` when one is given."""
        return _key_pem(self.key, password)


def generate_key(kind: str = "ecdsa", rsa_bits: int = 2048) -> PrivateKey:
    """A new private key: ``"ecdsa"`` (P-256) or ``"rsa"`` (``rsa_bits``, at least 2048)."""
    if kind == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "rsa":
        if rsa_bits < 2048:
            raise ValueError(f"RSA keys below 2048 bits are refused by peers; got {rsa_bits}")
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    raise ValueError(f"unknown key kind {kind!r}: use 'ecdsa' or 'rsa'")


def _validity(
    days: int, backdate: datetime.timedelta | None = None
) -> tuple[datetime.datetime, datetime.datetime]:
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    # A few minutes in the past: a peer whose clock is slightly behind still accepts it.
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    since = now - (backdate if backdate is not None else datetime.timedelta(minutes=5))
    return since, now + datetime.timedelta(days=days)


def _check_names(names: Sequence[str]) -> list[str]:
    cleaned = [n.strip() for n in names]
    for name in cleaned:
        if not name or any(c.isspace() for c in name):
            raise ValueError(f"{name!r} is not a DNS name or an IP address")
    return cleaned


def self_signed(
    names: Sequence[str] = DEFAULT_NAMES,
    *,
    kind: str = "ecdsa",
    rsa_bits: int = 2048,
    days: int = 365,
    common_name: str | None = None,
    key: PrivateKey | None = None,
    backdate: datetime.timedelta | None = None,
) -> Credentials:
    """A self-signed end-entity certificate for ``names`` (DNS names and IP addresses).

    It is its own trust anchor: a peer trusts it by loading this very certificate
    (``load_verify_locations`` / ``--ca``; it is then compared byte for byte) or by pinning
    its fingerprint (``peer_fingerprints`` / ``--fingerprint``). Usable by servers and clients
    (extendedKeyUsage serverAuth and clientAuth). The common name is the first name unless
    ``common_name`` is given. It is valid from ``backdate`` ago (default 5 minutes, for
    peers whose clock is a little behind) for ``days`` days.
    """
    names = _check_names(names)
    key = key or generate_key(kind, rsa_bits)
    subject = _name(common_name or (names[0] if names else "aiodtls"))
    not_before, not_after = _validity(days, backdate)
    certificate = _issue(leaf_builder(key, subject, names), subject, key, not_before, not_after)
    return Credentials(certificate, key)


def certificate_authority(
    common_name: str = "aiodtls CA",
    *,
    kind: str = "ecdsa",
    rsa_bits: int = 2048,
    days: int = 3650,
    key: PrivateKey | None = None,
) -> Credentials:
    """A self-signed root CA (basicConstraints cA, keyUsage keyCertSign and cRLSign) that
    :func:`issue` signs leaves with. Peers trust it with ``load_verify_locations`` / ``--ca``."""
    key = key or generate_key(kind, rsa_bits)
    subject = _name(common_name)
    not_before, not_after = _validity(days)
    certificate = _issue(ca_builder(key, subject, None), subject, key, not_before, not_after)
    return Credentials(certificate, key)


def issue(
    ca: Credentials,
    names: Sequence[str] = DEFAULT_NAMES,
    *,
    kind: str = "ecdsa",
    rsa_bits: int = 2048,
    days: int = 365,
    common_name: str | None = None,
    client_only: bool = False,
    key: PrivateKey | None = None,
) -> Credentials:
    """A leaf for ``names`` signed by ``ca`` (from :func:`certificate_authority`, or any CA
    certificate and key). ``client_only`` makes a client certificate (extendedKeyUsage
    clientAuth only; ``names`` may then be empty); otherwise it serves both roles. The leaf
    expires no later than the CA. The returned :attr:`Credentials.intermediates` hold ``ca``
    and its own intermediates unless ``ca`` is a root (self-issued)."""
    names = _check_names(names)
    if not names and not client_only:
        raise ValueError("a server certificate needs at least one DNS name or IP address")
    key = key or generate_key(kind, rsa_bits)
    subject = _name(common_name or (names[0] if names else "aiodtls client"))
    not_before, not_after = _validity(days)
    not_after = min(not_after, ca.certificate.not_valid_after_utc)
    builder = leaf_builder(key, subject, names, client_only=client_only)
    certificate = _issue(builder, ca.certificate.subject, ca.key, not_before, not_after)
    is_root = ca.certificate.issuer == ca.certificate.subject
    intermediates = () if is_root else (ca.certificate, *ca.intermediates)
    return Credentials(certificate, key, intermediates)


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: PrivateKey, password: bytes | str | None) -> bytes:
    encryption: serialization.KeySerializationEncryption = serialization.NoEncryption()
    if password:
        secret = password.encode() if isinstance(password, str) else password
        encryption = serialization.BestAvailableEncryption(secret)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _write_new(path: str | os.PathLike[str], data: bytes, mode: int, overwrite: bool) -> Path:
    target = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(target, flags, mode)
    except FileExistsError:
        raise FileExistsError(
            f"{target} already exists: choose another name or directory, or overwrite it "
            "(--force / overwrite=True)"
        ) from None
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), mode)  # also when an existing file is overwritten
        f.write(data)
    return target


def write_certificates(
    path: str | os.PathLike[str],
    certificates: Iterable[x509.Certificate],
    *,
    overwrite: bool = False,
) -> Path:
    """Write ``certificates`` as concatenated PEM (mode 0644). An existing file raises
    ``FileExistsError`` unless ``overwrite``."""
    return _write_new(path, b"".join(_pem(c) for c in certificates), 0o644, overwrite)


def write_private_key(
    path: str | os.PathLike[str],
    key: PrivateKey,
    *,
    password: bytes | str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``key`` as PKCS#8 PEM readable by its owner only (mode 0600), encrypted with
    ``password`` if given. An existing file raises ``FileExistsError`` unless ``overwrite``."""
    return _write_new(path, _key_pem(key, password), 0o600, overwrite)


# --- Fingerprints --------------------------------------------------------------------------

FINGERPRINT_ALGORITHMS: dict[str, int] = {
    "sha-1": 20,
    "sha-224": 28,
    "sha-256": 32,
    "sha-384": 48,
    "sha-512": 64,
}
"""Hash functions a fingerprint may use (RFC 8122 names) and their digest sizes in bytes.
MD5 and MD2, which RFC 8122 also lists, are refused: they no longer identify a certificate."""

_BY_SIZE = {size: name for name, size in FINGERPRINT_ALGORITHMS.items()}
_SDP_PREFIX = re.compile(r"^\s*(?:a\s*=\s*)?fingerprint\s*:\s*", re.IGNORECASE)
_OPENSSL_FORM = re.compile(r"^\s*(\S+)\s+fingerprint\s*=\s*", re.IGNORECASE)


class Fingerprint(NamedTuple):
    """A certificate fingerprint: the hash function's RFC 8122 name and the digest."""

    algorithm: str
    "``sha-1``, ``sha-224``, ``sha-256``, ``sha-384`` or ``sha-512``."
    digest: bytes
    "The hash of the certificate's DER encoding."

    def matches(self, certificate: x509.Certificate) -> bool:
        """Whether this is ``certificate``'s fingerprint (compared in constant time)."""
        return hmac.compare_digest(fingerprint(certificate, self.algorithm), self.digest)

    def __str__(self) -> str:
        return format_fingerprint(self.digest, self.algorithm)


def _algorithm(name: str) -> str:
    key = name.strip().lower()
    if key.startswith("sha") and not key.startswith("sha-"):
        key = "sha-" + key[3:].lstrip("_")  # sha256, SHA256, sha_256 -> sha-256
    if key == "sha-1" or key in FINGERPRINT_ALGORITHMS:
        return key
    known = ", ".join(FINGERPRINT_ALGORITHMS)
    raise ValueError(f"unsupported fingerprint hash {name!r}: use one of {known}")


def fingerprint(certificate: x509.Certificate, algorithm: str = "sha-256") -> bytes:
    """The hash of ``certificate``'s DER encoding with ``algorithm`` (see
    :data:`FINGERPRINT_ALGORITHMS`; ``sha256`` and ``SHA-256`` spellings are accepted)."""
    name = _algorithm(algorithm)
    der = certificate.public_bytes(serialization.Encoding.DER)
    return hashlib.new(name.replace("-", ""), der).digest()


def format_fingerprint(digest: bytes, algorithm: str | None = "sha-256") -> str:
    """A digest the way RFC 8122 and browsers show it: ``sha-256 AB:CD:...``, or just
    ``AB:CD:...`` when ``algorithm`` is None."""
    text = digest.hex(":").upper()
    return text if algorithm is None else f"{_algorithm(algorithm)} {text}"


def sdp_fingerprint(certificate: x509.Certificate, algorithm: str = "sha-256") -> str:
    """The SDP attribute line of ``certificate`` (RFC 8122):
    ``a=fingerprint:sha-256 AB:CD:...``."""
    return "a=fingerprint:" + format_fingerprint(fingerprint(certificate, algorithm), algorithm)


def parse_fingerprint(text: str) -> Fingerprint:
    """Read a fingerprint in any form people paste; raise ``ValueError`` naming the problem.

    Accepted: hex with or without colons (or spaces), any case; the hash named first
    (``sha-256 AB:CD:...``, ``SHA256 ab...``); an SDP line (``a=fingerprint:sha-256 ...``);
    OpenSSL's output (``sha256 Fingerprint=AB:CD:...``). Without a name the hash is told by
    the length (20, 28, 32, 48 or 64 bytes: SHA-1 to SHA-512).
    """
    if not isinstance(text, str):
        raise ValueError(f"a fingerprint must be text, got {type(text).__name__}")
    rest = _SDP_PREFIX.sub("", text, count=1)
    algorithm: str | None = None
    openssl = _OPENSSL_FORM.match(rest)
    if openssl is not None:
        algorithm, rest = _algorithm(openssl.group(1)), rest[openssl.end() :]
    else:
        parts = rest.split(None, 1)
        if len(parts) == 2 and re.fullmatch(r"(?i)(sha|md)[-_]?\d+", parts[0]):
            algorithm, rest = _algorithm(parts[0]), parts[1]
    hex_text = re.sub(r"[\s:]", "", rest)
    if not hex_text or not re.fullmatch(r"[0-9a-fA-F]+", hex_text) or len(hex_text) % 2:
        raise ValueError(
            f"{text.strip()!r} is not a fingerprint: expected hex such as 'AB:CD:...' or "
            "'sha-256 AB:CD:...' (as printed by aiodtls cert)"
        )
    digest = bytes.fromhex(hex_text)
    if algorithm is None:
        found = _BY_SIZE.get(len(digest))
        if found is None:
            raise ValueError(
                f"a {len(digest)}-byte fingerprint matches no supported hash "
                "(SHA-1: 20, SHA-224: 28, SHA-256: 32, SHA-384: 48, SHA-512: 64 bytes)"
            )
        algorithm = found
    elif len(digest) != FINGERPRINT_ALGORITHMS[algorithm]:
        raise ValueError(
            f"a {algorithm} fingerprint has {FINGERPRINT_ALGORITHMS[algorithm]} bytes, "
            f"this one has {len(digest)}"
        )
    return Fingerprint(algorithm, digest)


def as_fingerprint(pin: bytes | str | Fingerprint | tuple[str, bytes]) -> Fingerprint:
    """A ``peer_fingerprints`` entry as a :class:`Fingerprint`: text goes through
    :func:`parse_fingerprint`, raw ``bytes`` must be a 32-byte SHA-256 digest, and an
    ``(algorithm, digest)`` pair is checked for length."""
    if isinstance(pin, str):
        return parse_fingerprint(pin)
    if isinstance(pin, bytes):
        if len(pin) != 32:
            raise ValueError(
                f"{pin!r} is not a 32-byte SHA-256 digest "
                "(raw bytes, e.g. bytes.fromhex(...)); give other forms as text, "
                "e.g. 'sha-256 AB:CD:...'"
            )
        return Fingerprint("sha-256", pin)
    if isinstance(pin, tuple) and len(pin) == 2:
        algorithm, digest = _algorithm(str(pin[0])), pin[1]
        if not isinstance(digest, bytes) or len(digest) != FINGERPRINT_ALGORITHMS[algorithm]:
            raise ValueError(
                f"{pin!r}: a {algorithm} digest is {FINGERPRINT_ALGORITHMS[algorithm]} raw bytes"
            )
        return Fingerprint(algorithm, digest)
    raise ValueError(f"{pin!r} is not a fingerprint")


# --- Raw public keys (RFC 7250) ------------------------------------------------------------

PublicKeyPin = PublicKeyTypes | bytes | str | Fingerprint | tuple[str, bytes]
"""A ``peer_public_keys`` entry: a public key object, its DER SubjectPublicKeyInfo (bytes),
or the hash of that DER as text (``'sha-256 AB:CD:...'``, plain hex) or as a
:class:`Fingerprint` / ``(algorithm, digest)`` pair."""


def subject_public_key_info(
    key: PublicKeyTypes | PrivateKeyTypes | x509.Certificate,
) -> bytes:
    """The DER SubjectPublicKeyInfo of a public key, of a private key's public half, or of a
    certificate's key: the body of an RFC 7250 raw public key, and what its pins hash."""
    if isinstance(key, x509.Certificate):
        public: object = key.public_key()
    elif hasattr(key, "public_key"):
        public = key.public_key()
    else:
        public = key
    return public.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_key_fingerprint(
    key: PublicKeyTypes | PrivateKeyTypes | x509.Certificate, algorithm: str = "sha-256"
) -> bytes:
    """The hash of :func:`subject_public_key_info` (``sha-256`` by default): the pin of a raw
    public key. ``openssl pkey -pubout -outform DER | sha256sum`` prints the same digest, and
    a certificate gives the digest of its key (so a key can be pinned from its certificate)."""
    name = _algorithm(algorithm)
    return hashlib.new(name.replace("-", ""), subject_public_key_info(key)).digest()


def as_public_key_pin(pin: PublicKeyPin) -> Fingerprint:
    """A ``peer_public_keys`` entry as the :class:`Fingerprint` of a SubjectPublicKeyInfo:
    a key object is hashed (SHA-256), bytes must be a DER SubjectPublicKeyInfo (and are hashed
    after re-encoding, so equal keys give equal pins), text and pairs are read as
    :func:`as_fingerprint` reads them. Raises ``ValueError`` naming the problem."""
    if isinstance(pin, bytes):
        try:
            key = serialization.load_der_public_key(pin)
        except (ValueError, UnsupportedAlgorithm):
            raise ValueError(
                f"{len(pin)} bytes that are not a DER SubjectPublicKeyInfo; give a SHA-256 "
                "of one as text ('sha-256 AB:CD:...') or as ('sha-256', digest)"
            ) from None
        return Fingerprint("sha-256", public_key_fingerprint(key))
    if isinstance(pin, str | tuple):
        return as_fingerprint(pin)
    if hasattr(pin, "public_bytes"):
        try:
            return Fingerprint("sha-256", public_key_fingerprint(pin))
        except (TypeError, ValueError):
            pass
    raise ValueError(f"{pin!r} is neither a public key, its DER, nor a fingerprint of one")
