"""Throwaway certificate chains for demos, examples and tests (never for production).

Owns the generation of a root CA -> intermediate CA -> leaf chain with ``cryptography``, with
the extensions a strict verifier (``cryptography.x509.verification``) expects. Validation of
peer certificates is elsewhere (``handshake.certificates``).
"""

from __future__ import annotations

import datetime
import ipaddress
import secrets
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CertificateChain", "generate_chain"]

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

    def ca(
        subject: str, key: PrivateKey, issuer: x509.Name, signer: PrivateKey, path: int | None
    ) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(_name(subject))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(_serial())
            .not_valid_before(now)
            .not_valid_after(until)
            .add_extension(x509.BasicConstraints(ca=True, path_length=path), critical=True)
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
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), False
            )
            .sign(signer, hashes.SHA256())
        )

    root = ca("aiodtls demo root CA", root_key, _name("aiodtls demo root CA"), root_key, None)
    intermediate = ca("aiodtls demo intermediate CA", int_key, root.subject, root_key, 0)
    alt_names: list[x509.GeneralName] = []
    for n in names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            alt_names.append(x509.DNSName(n))
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(intermediate.subject)
        .public_key(leaf_key.public_key())
        .serial_number(_serial())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(int_key.public_key()), False
        )
        .sign(int_key, hashes.SHA256())
    )
    return CertificateChain(leaf, leaf_key, [intermediate], root)
