"""Throwaway certificate chains for demos, examples and tests (never for production).

Owns the generation of a root CA -> intermediate CA -> leaf chain with ``cryptography``, with
the extensions a strict verifier (``cryptography.x509.verification``) expects. Validation of
peer certificates is elsewhere (``handshake.certificates``).
"""

from __future__ import annotations

import datetime
import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CertificateChain", "ca_builder", "generate_chain", "leaf_builder"]

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
