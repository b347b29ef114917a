"""Test PKI generated in-process with ``cryptography`` (no openssl CLI needed).

Owns every certificate and key the tests use: a server chain (root CA -> intermediate CA ->
leaf for ``localhost`` / ``127.0.0.1``) in ECDSA P-256 and RSA-2048 flavours, self-signed
leaves, leaves that must fail verification (expired, not yet valid, wrong name), leaves and chains
with keys below the minimum strength (RSA-1024, a P-224 CA) and a client chain under its own
CA for mutual authentication. It does not decide what a test expects.

Keys are cached per process (RSA generation is slow); certificates are cached too, so the
same call returns the same objects. Names, serial numbers, extensions and validity offsets are
fixed, so the structure is identical in every run; only keys and signatures differ.

Typical use::

    chain = server_chain("ecdsa")
    files = chain.write_pem(tmp_path)          # leaf.pem, chain.pem, root.pem, key.pem, ...
    config.load_cert_chain(str(files.chain), str(files.key))
"""

from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from aiodtls.pki import ca_builder, leaf_builder

__all__ = [
    "SERVER_NAME",
    "CertifiedKey",
    "KeyKind",
    "PemFiles",
    "PrivateKey",
    "client_chain",
    "ecdsa_chain",
    "expired_leaf",
    "fingerprint_sha256",
    "not_yet_valid_leaf",
    "rsa_chain",
    "self_signed",
    "server_chain",
    "weak_ec_intermediate_chain",
    "weak_rsa_leaf",
    "wrong_name_leaf",
]

KeyKind = Literal["ecdsa", "rsa"]
"ECDSA P-256 or RSA-2048."

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

SERVER_NAME = "localhost"
"The DNS name in every server leaf (next to IP 127.0.0.1), except :func:`wrong_name_leaf`."

WRONG_NAME = "wrong.example"
"The only name in :func:`wrong_name_leaf`."

# All validity periods are relative to the moment this module is imported, so a test run
# sees the same relations (valid now, expired a day ago, valid from tomorrow) every time.
_NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
_DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class PemFiles:
    """Paths of the PEM files written by :meth:`CertifiedKey.write_pem`."""

    leaf: Path
    "The leaf certificate alone."
    chain: Path
    "Leaf followed by the intermediates: what an endpoint sends (``--cert`` / ``-cert``)."
    intermediates: Path | None
    "The intermediates alone (``-cert_chain``); None for a self-signed certificate."
    root: Path
    "The trust anchor the peer must configure (``--ca`` / ``-CAfile``)."
    key: Path
    "The leaf's private key, unencrypted PKCS#8."


@dataclass(frozen=True)
class CertifiedKey:
    """A leaf certificate, its private key and the CA certificates above it."""

    certificate: x509.Certificate
    "The leaf (end-entity) certificate."
    key: PrivateKey
    "The leaf's private key."
    intermediates: tuple[x509.Certificate, ...]
    "CA certificates between leaf and root, the leaf's issuer first; empty if self-signed."
    root: x509.Certificate
    "The trust anchor; the leaf itself when self-signed."
    root_key: PrivateKey
    "The root's private key (to issue further certificates in a test)."

    @property
    def chain(self) -> list[x509.Certificate]:
        """What an endpoint sends: the leaf followed by the intermediates."""
        return [self.certificate, *self.intermediates]

    def chain_pem(self) -> bytes:
        """The leaf and the intermediates as concatenated PEM."""
        return b"".join(_cert_pem(cert) for cert in self.chain)

    def key_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def root_pem(self) -> bytes:
        """The trust anchor as PEM."""
        return _cert_pem(self.root)

    def write_pem(self, directory: Path | str, prefix: str = "") -> PemFiles:
        """Write ``{prefix}leaf.pem``, ``chain.pem``, ``intermediates.pem``, ``root.pem`` and
        ``key.pem`` into ``directory`` (created if missing) and return their paths."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)

        def write(name: str, data: bytes) -> Path:
            path = directory / f"{prefix}{name}"
            path.write_bytes(data)
            return path

        intermediates = None
        if self.intermediates:
            intermediates = write(
                "intermediates.pem", b"".join(_cert_pem(c) for c in self.intermediates)
            )
        return PemFiles(
            leaf=write("leaf.pem", _cert_pem(self.certificate)),
            chain=write("chain.pem", self.chain_pem()),
            intermediates=intermediates,
            root=write("root.pem", self.root_pem()),
            key=write("key.pem", self.key_pem()),
        )


def fingerprint_sha256(certificate: x509.Certificate) -> str:
    """The SHA-256 fingerprint of a certificate's DER encoding, as lowercase hex."""
    return certificate.fingerprint(hashes.SHA256()).hex()


def server_chain(kind: KeyKind = "ecdsa") -> CertifiedKey:
    """Root CA -> intermediate CA -> leaf for ``localhost`` and ``127.0.0.1``.

    All three keys are of ``kind``; the leaf has EKU serverAuth and clientAuth.
    """
    return _leaf(kind, "server", not_before=_NOW - _DAY, not_after=_NOW + 365 * _DAY)


def ecdsa_chain() -> CertifiedKey:
    """:func:`server_chain` with ECDSA P-256 keys."""
    return server_chain("ecdsa")


def rsa_chain() -> CertifiedKey:
    """:func:`server_chain` with RSA-2048 keys."""
    return server_chain("rsa")


def self_signed(kind: KeyKind = "ecdsa") -> CertifiedKey:
    """A self-signed leaf for ``localhost`` / ``127.0.0.1`` (its own trust anchor)."""
    return _self_signed(kind)


# The cached builders take ``kind`` positionally only: functools.cache keys f() and
# f("ecdsa") apart, and ECDSA signatures are randomized, so the two would differ.
@functools.cache
def _self_signed(kind: KeyKind) -> CertifiedKey:
    key = _private_key(kind, "self-signed")
    name = _name(f"{SERVER_NAME} (self-signed {kind})")
    builder = leaf_builder(key, name, [SERVER_NAME, "127.0.0.1"])
    certificate = (
        builder.issuer_name(name)
        .serial_number(_serial(kind, "self-signed"))
        .not_valid_before(_NOW - _DAY)
        .not_valid_after(_NOW + 365 * _DAY)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return CertifiedKey(certificate, key, (), certificate, key)


def expired_leaf(kind: KeyKind = "ecdsa") -> CertifiedKey:
    """A leaf under :func:`server_chain`'s intermediate whose validity ended yesterday."""
    return _leaf(kind, "expired", not_before=_NOW - 30 * _DAY, not_after=_NOW - _DAY)


def not_yet_valid_leaf(kind: KeyKind = "ecdsa") -> CertifiedKey:
    """A leaf under :func:`server_chain`'s intermediate that becomes valid tomorrow."""
    return _leaf(kind, "not-yet-valid", not_before=_NOW + _DAY, not_after=_NOW + 30 * _DAY)


def wrong_name_leaf(kind: KeyKind = "ecdsa") -> CertifiedKey:
    """A valid leaf under :func:`server_chain`'s intermediate for ``wrong.example`` only."""
    return _leaf(kind, "wrong-name", not_before=_NOW - _DAY, not_after=_NOW + 365 * _DAY)


def client_chain(kind: KeyKind = "ecdsa") -> CertifiedKey:
    """Client root CA -> client intermediate CA -> leaf ``CN=client`` (EKU clientAuth).

    The client CA is separate from the server CA, so a server that trusts the client root
    trusts no server certificate and vice versa.
    """
    return _client_chain(kind)


@functools.cache
def _client_chain(kind: KeyKind) -> CertifiedKey:
    root, root_key, intermediate, intermediate_key = _ca_pair(kind, "client")
    key = _private_key(kind, "client-leaf")
    certificate = (
        leaf_builder(key, _name("client"), [], client_only=True)
        .issuer_name(intermediate.subject)
        .serial_number(_serial(kind, "client-leaf"))
        .not_valid_before(_NOW - _DAY)
        .not_valid_after(_NOW + 365 * _DAY)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(intermediate_key.public_key()),
            critical=False,
        )
        .sign(intermediate_key, hashes.SHA256())
    )
    return CertifiedKey(certificate, key, (intermediate,), root, root_key)


def weak_rsa_leaf(hierarchy: Literal["server", "client"] = "server") -> CertifiedKey:
    """A leaf with a 1024-bit RSA key under the RSA intermediate of ``hierarchy``.

    Otherwise valid (names, EKU, dates), so it passes chain validation and only a key size
    policy refuses it: ``cryptography``'s verifier checks CA keys, not the end entity's.
    """
    return _weak_rsa_leaf(hierarchy)


@functools.cache
def _weak_rsa_leaf(hierarchy: Literal["server", "client"]) -> CertifiedKey:
    root, root_key, intermediate, intermediate_key = _ca_pair("rsa", hierarchy)
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    if hierarchy == "server":
        builder = leaf_builder(key, _name(SERVER_NAME), [SERVER_NAME, "127.0.0.1"])
    else:
        builder = leaf_builder(key, _name("client"), [], client_only=True)
    certificate = (
        builder.issuer_name(intermediate.subject)
        .serial_number(_serial("rsa", f"weak-{hierarchy}"))
        .not_valid_before(_NOW - _DAY)
        .not_valid_after(_NOW + 365 * _DAY)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(intermediate_key.public_key()),
            critical=False,
        )
        .sign(intermediate_key, hashes.SHA256())
    )
    return CertifiedKey(certificate, key, (intermediate,), root, root_key)


@functools.cache
def weak_ec_intermediate_chain() -> CertifiedKey:
    """Server root (P-256) -> intermediate on P-224 -> P-256 leaf for ``localhost``.

    The leaf can sign every ECDSA handshake, so only a curve policy on the chain refuses it.
    """
    root, root_key, _, _ = _ca_pair("ecdsa", "server")
    intermediate_key = ec.generate_private_key(ec.SECP224R1())
    intermediate = (
        ca_builder(intermediate_key, _name("aiodtls test P-224 intermediate CA"), path_length=0)
        .issuer_name(root.subject)
        .serial_number(_serial("ecdsa", "weak-ec-intermediate"))
        .not_valid_before(_NOW - 2 * _DAY)
        .not_valid_after(_NOW + 365 * _DAY)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )
    key = _private_key("ecdsa", "weak-ec-leaf")
    certificate = (
        leaf_builder(key, _name(SERVER_NAME), [SERVER_NAME, "127.0.0.1"])
        .issuer_name(intermediate.subject)
        .serial_number(_serial("ecdsa", "weak-ec-leaf"))
        .not_valid_before(_NOW - _DAY)
        .not_valid_after(_NOW + 365 * _DAY)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(intermediate_key.public_key()),
            critical=False,
        )
        .sign(intermediate_key, hashes.SHA256())
    )
    return CertifiedKey(certificate, key, (intermediate,), root, root_key)


# --- internals ---------------------------------------------------------------------------


@functools.cache
def _private_key(kind: KeyKind, label: str) -> PrivateKey:
    """One key per (kind, label) per process."""
    if kind == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unknown key kind {kind!r}")


# Stable serial numbers: the structure of the PKI is the same in every run.
_SERIAL_LABELS = (
    "server-root",
    "server-intermediate",
    "server",
    "expired",
    "not-yet-valid",
    "wrong-name",
    "self-signed",
    "client-root",
    "client-intermediate",
    "client-leaf",
    "weak-server",
    "weak-client",
    "weak-ec-intermediate",
    "weak-ec-leaf",
)


def _serial(kind: KeyKind, label: str) -> int:
    return (0x1000 if kind == "ecdsa" else 0x2000) + _SERIAL_LABELS.index(label) + 1


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "aiodtls tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _cert_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


@functools.cache
def _ca_pair(
    kind: KeyKind, hierarchy: Literal["server", "client"]
) -> tuple[x509.Certificate, PrivateKey, x509.Certificate, PrivateKey]:
    """The root and intermediate CA of one hierarchy: (root, root key, intermediate, key)."""
    root_key = _private_key(kind, f"{hierarchy}-root")
    root_name = _name(f"aiodtls test {hierarchy} root CA ({kind})")
    root = (
        ca_builder(root_key, root_name, path_length=None)
        .issuer_name(root_name)
        .serial_number(_serial(kind, f"{hierarchy}-root"))
        .not_valid_before(_NOW - 2 * _DAY)
        .not_valid_after(_NOW + 3650 * _DAY)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )
    intermediate_key = _private_key(kind, f"{hierarchy}-intermediate")
    intermediate = (
        ca_builder(
            intermediate_key,
            _name(f"aiodtls test {hierarchy} intermediate CA ({kind})"),
            path_length=0,
        )
        .issuer_name(root_name)
        .serial_number(_serial(kind, f"{hierarchy}-intermediate"))
        .not_valid_before(_NOW - 2 * _DAY)
        .not_valid_after(_NOW + 1825 * _DAY)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )
    return root, root_key, intermediate, intermediate_key


@functools.cache
def _leaf(
    kind: KeyKind,
    label: Literal["server", "expired", "not-yet-valid", "wrong-name"],
    *,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
) -> CertifiedKey:
    """A server-side leaf issued by the server intermediate of ``kind``."""
    root, root_key, intermediate, intermediate_key = _ca_pair(kind, "server")
    key = _private_key(kind, label)
    if label == "wrong-name":
        name, dns_names, ips = WRONG_NAME, [WRONG_NAME], []
    else:
        name, dns_names, ips = SERVER_NAME, [SERVER_NAME], ["127.0.0.1"]
    certificate = (
        leaf_builder(key, _name(name), [*dns_names, *ips])
        .issuer_name(intermediate.subject)
        .serial_number(_serial(kind, label))
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(intermediate_key.public_key()),
            critical=False,
        )
        .sign(intermediate_key, hashes.SHA256())
    )
    return CertifiedKey(certificate, key, (intermediate,), root, root_key)
