"""Peer certificate policy: parse the chain, check key sizes, then pin, validate or
(explicitly) accept it.

Owns the decision whether a peer's Certificate message is acceptable. Path validation is
``cryptography.x509.verification``'s (never hand-rolled here); this module only chooses the
policy, supplies trust anchors, time and name, and maps failures to alerts:
a key below ``min_rsa_key_size`` / ``min_ec_key_size`` anywhere in the sent chain ->
``insufficient_security`` (checked first, whatever the verify mode or pins),
an expired or not-yet-valid certificate -> ``certificate_expired``, anything else ->
``bad_certificate``. Whether a certificate is required at all is the handshake's decision.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import ipaddress
import ssl

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from ..alerts import AlertBadCertificate, AlertCertificateExpired, AlertInsufficientSecurity
from ..configuration import DtlsConfiguration

__all__ = ["certificate_fingerprint", "check_peer_certificates", "format_fingerprint"]


# Client certificates rarely carry a subjectAltName (they name a user or device, not a host),
# so the Web PKI rule that requires one is relaxed for them; everything else stays strict.
_CLIENT_EE_POLICY = ExtensionPolicy.webpki_defaults_ee().may_be_present(
    x509.SubjectAlternativeName, Criticality.AGNOSTIC, None
)


def certificate_fingerprint(certificate: x509.Certificate) -> bytes:
    """SHA-256 over the DER encoding (the form WebRTC's a=fingerprint pins)."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest()


def format_fingerprint(fingerprint: bytes) -> str:
    """A fingerprint the way browsers and SDP (``a=fingerprint:sha-256``) show it: AB:CD:..."""
    return fingerprint.hex(":").upper()


def _subject(name: str) -> x509.DNSName | x509.IPAddress:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _subject_text(certificate: x509.Certificate) -> str:
    try:
        return certificate.subject.rfc4514_string()
    except ValueError:
        return "(unreadable subject)"


def check_peer_certificates(
    chain_der: list[bytes], configuration: DtlsConfiguration, *, peer_is_server: bool
) -> list[x509.Certificate]:
    """Parse and check the peer's chain (leaf first); return it or raise an alert."""
    try:
        chain = [x509.load_der_x509_certificate(der) for der in chain_der]
    except (ValueError, x509.InvalidVersion) as exc:  # InvalidVersion is no ValueError
        raise AlertBadCertificate(f"cannot parse certificate: {exc}") from None
    if not chain:
        raise AlertBadCertificate("peer sent no certificate")
    leaf = chain[0]

    # Before pins and verify mode: neither looks at every key (a pin covers the leaf only,
    # CERT_NONE nothing), and a weak key is refused regardless (RFC 9325 §4.5).
    role = "server" if peer_is_server else "client"
    for position, certificate in enumerate(chain):
        what = f"{role} certificate" if position == 0 else f"CA certificate (chain[{position}])"
        try:
            key = certificate.public_key()
        except (ValueError, UnsupportedAlgorithm) as exc:
            # Parsed lazily: a key that is off its curve or of an unknown kind shows up here.
            raise AlertBadCertificate(f"cannot load the public key of the {what}: {exc}") from None
        problem = configuration.key_strength_problem(key)
        if problem is not None:
            raise AlertInsufficientSecurity(f"{what} {_subject_text(certificate)} has {problem}")

    if configuration.peer_fingerprints:
        fingerprint = certificate_fingerprint(leaf)
        # Constant-time: a pinned fingerprint is a credential (STYLE: no timing oracles).
        if not any(hmac.compare_digest(fingerprint, p) for p in configuration.peer_fingerprints):
            raise AlertBadCertificate(
                f"certificate fingerprint sha-256 {format_fingerprint(fingerprint)} "
                "matches no pinned fingerprint"
            )
        return chain

    if configuration.effective_verify_mode() == ssl.CERT_NONE:
        return chain

    when = configuration.verification_time or datetime.datetime.now(datetime.timezone.utc)
    for certificate in chain:
        if when < certificate.not_valid_before_utc:
            raise AlertCertificateExpired(
                f"certificate {_subject_text(certificate)} is not yet valid"
            )
        if when > certificate.not_valid_after_utc:
            raise AlertCertificateExpired(f"certificate {_subject_text(certificate)} has expired")

    if not configuration.ca_certificates:
        raise AlertBadCertificate("no trust anchors configured to verify the peer")
    builder = PolicyBuilder().store(Store(configuration.ca_certificates)).time(when)
    try:
        if peer_is_server:
            if configuration.server_name is None:
                raise AlertBadCertificate("no server name to verify the certificate against")
            builder.build_server_verifier(_subject(configuration.server_name)).verify(
                leaf, chain[1:]
            )
        else:
            builder.extension_policies(
                ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=_CLIENT_EE_POLICY
            ).build_client_verifier().verify(leaf, chain[1:])
    except VerificationError as exc:
        raise AlertBadCertificate(f"certificate verification failed: {exc}") from None
    return chain
