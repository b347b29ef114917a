"""Peer certificate policy: parse the chain, check key sizes, then pin, validate or
(explicitly) accept it, let the application's ``verify_callback`` have the last word, and say
in one line what to do when a chain is refused.

Owns the decision whether a peer's Certificate message is acceptable. Path validation is
``cryptography.x509.verification``'s (never hand-rolled here); this module only chooses the
policy (trust anchors, time, name or no name, extension rules), and maps failures to alerts:
a key below ``min_rsa_key_size`` / ``min_ec_key_size`` anywhere in the sent chain ->
``insufficient_security`` (checked first, whatever the verify mode or pins),
an expired or not-yet-valid certificate -> ``certificate_expired``, anything else ->
``bad_certificate``. Whether a certificate is required at all is the handshake's decision.

Policy choices, all with ``cryptography``'s Web PKI rules as the base:

- A peer leaf that is byte for byte one of the trust anchors (a self-signed certificate the
  user trusts directly, as browsers pin one) is validated with itself as the only anchor, and
  basicConstraints cA is allowed on it (``openssl req -x509`` sets it); its validity, and on
  a client its name, are still checked.
- ``check_hostname=False`` validates a server chain with the verifier that checks no name
  (``build_client_verifier``) and an extendedKeyUsage rule for servers instead of clients.
- ``strict_x509=False`` lets CA certificates lack keyUsage, as ``openssl verify`` does.
- Client certificates may lack a subjectAltName.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import re
import ssl

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from ..alerts import (
    Alert,
    AlertBadCertificate,
    AlertCertificateExpired,
    AlertInsufficientSecurity,
)
from ..configuration import DtlsConfiguration
from ..pki import as_fingerprint
from ..pki import fingerprint as _fingerprint

__all__ = [
    "certificate_fingerprint",
    "certificate_public_key",
    "check_peer_certificates",
    "explain_verification_error",
    "format_fingerprint",
]


def certificate_fingerprint(certificate: x509.Certificate) -> bytes:
    """SHA-256 over the DER encoding (the form WebRTC's a=fingerprint pins)."""
    return _fingerprint(certificate, "sha-256")


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


def _shown(certificate: x509.Certificate) -> str:
    return _name_text(certificate.subject)


def _name_text(name: x509.Name) -> str:
    """A certificate name for people: its common name in quotes, else the whole name."""
    try:
        common = name.get_attributes_for_oid(NameOID.COMMON_NAME)
        if len(common) == 1 and isinstance(common[0].value, str):
            return repr(common[0].value)
        return name.rfc4514_string() or "(empty name)"
    except ValueError:
        return "(unreadable name)"


def _der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def _require_server_auth(policy: Policy, certificate: x509.Certificate, eku: object) -> None:
    """extendedKeyUsage rule of a server leaf checked without its name: like the Web PKI
    server rule, an extendedKeyUsage that is present must allow serverAuth."""
    if isinstance(eku, x509.ExtendedKeyUsage) and not (
        ExtendedKeyUsageOID.SERVER_AUTH in eku or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku
    ):
        raise ValueError("required EKU not found: the certificate is not for servers (serverAuth)")


def _require_key_cert_sign(policy: Policy, certificate: x509.Certificate, usage: object) -> None:
    """keyUsage rule of a CA under ``strict_x509=False``: it may be absent, but if present it
    must allow certificate signing."""
    if isinstance(usage, x509.KeyUsage) and not usage.key_cert_sign:
        raise ValueError("CA keyUsage does not allow keyCertSign")


def _policies(
    configuration: DtlsConfiguration, *, direct: bool, name_checked: bool, peer_is_server: bool
) -> tuple[ExtensionPolicy, ExtensionPolicy]:
    ca_policy = ExtensionPolicy.webpki_defaults_ca()
    if not configuration.strict_x509:
        ca_policy = ca_policy.may_be_present(
            x509.KeyUsage, Criticality.AGNOSTIC, _require_key_cert_sign
        )
    ee_policy = ExtensionPolicy.webpki_defaults_ee()
    if direct:
        # The anchor itself: `openssl req -x509` marks such certificates cA=TRUE.
        ee_policy = ee_policy.may_be_present(x509.BasicConstraints, Criticality.AGNOSTIC, None)
    if not name_checked:
        # No name to match: a subjectAltName is not needed (client certificates rarely have
        # one, and a server checked without its name needs none either).
        ee_policy = ee_policy.may_be_present(
            x509.SubjectAlternativeName, Criticality.AGNOSTIC, None
        )
        if peer_is_server:
            # The verifier without a name is the one for client certificates: its
            # extendedKeyUsage rule (clientAuth, on the leaf and on CAs) becomes the server's.
            ee_policy = ee_policy.may_be_present(
                x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _require_server_auth
            )
            ca_policy = ca_policy.may_be_present(
                x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _require_server_auth
            )
    return ca_policy, ee_policy


# Parsed certificates and their public keys, by DER. A peer presents the same chain in every
# handshake, and parsing is pure (the same bytes give the same immutable objects), so the
# parse and the key are reused; every check below still runs on every handshake. Bounded:
# a peer sending new certificates only replaces entries. Failures are not cached (they raise).
_PARSED_CERTIFICATES = 64


@functools.lru_cache(maxsize=_PARSED_CERTIFICATES)
def _load_certificate(der: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der)


@functools.lru_cache(maxsize=_PARSED_CERTIFICATES)
def certificate_public_key(certificate: x509.Certificate) -> CertificatePublicKeyTypes:
    """``certificate.public_key()``, parsed once per certificate (see ``_load_certificate``)."""
    return certificate.public_key()


def check_peer_certificates(
    chain_der: list[bytes], configuration: DtlsConfiguration, *, peer_is_server: bool
) -> list[x509.Certificate]:
    """Parse and check the peer's chain (leaf first); return it or raise an alert."""
    try:
        chain = [_load_certificate(der) for der in chain_der]
    except (ValueError, x509.InvalidVersion) as exc:  # InvalidVersion is no ValueError
        raise AlertBadCertificate(f"cannot parse certificate: {exc}") from None
    if not chain:
        raise AlertBadCertificate("peer sent no certificate")

    # Before pins and verify mode: neither looks at every key (a pin covers the leaf only,
    # CERT_NONE nothing), and a weak key is refused regardless (RFC 9325 §4.5).
    role = "server" if peer_is_server else "client"
    for position, certificate in enumerate(chain):
        what = f"{role} certificate" if position == 0 else f"CA certificate (chain[{position}])"
        try:
            key = certificate_public_key(certificate)
        except (ValueError, UnsupportedAlgorithm) as exc:
            # Parsed lazily: a key that is off its curve or of an unknown kind shows up here.
            raise AlertBadCertificate(f"cannot load the public key of the {what}: {exc}") from None
        problem = configuration.key_strength_problem(key)
        if problem is not None:
            raise AlertInsufficientSecurity(f"{what} {_subject_text(certificate)} has {problem}")

    refusal: Alert | None = None
    try:
        _builtin_checks(chain, configuration, peer_is_server=peer_is_server)
    except (AlertBadCertificate, AlertCertificateExpired) as exc:
        refusal = exc
    except ValueError as exc:
        # Names and extensions are parsed lazily: a malformed one surfaces only when the
        # checks (or the words explaining a refusal) read it.
        refusal = AlertBadCertificate(f"cannot parse certificate: {exc}")
    callback = configuration.verify_callback
    if callback is None:
        if refusal is not None:
            raise refusal
        return chain
    try:
        accepted = callback(list(chain), None if refusal is None else refusal.reason)
    except Exception as exc:  # the application's code: refuse, never propagate
        raise AlertBadCertificate(
            f"verify_callback refused the certificate: {type(exc).__name__}: {exc}"
        ) from None
    if accepted:
        return chain
    if refusal is not None:
        raise refusal
    raise AlertBadCertificate("verify_callback refused the certificate")


def _builtin_checks(
    chain: list[x509.Certificate], configuration: DtlsConfiguration, *, peer_is_server: bool
) -> None:
    """Pins, or verify mode and chain validation; raise the alert that refuses the chain."""
    leaf = chain[0]
    role = "server" if peer_is_server else "client"
    if configuration.peer_fingerprints:
        pins = [as_fingerprint(p) for p in configuration.peer_fingerprints]
        # Constant-time (Fingerprint.matches): a pinned fingerprint is a credential.
        if not any([pin.matches(leaf) for pin in pins]):  # a list: compare every pin
            shown = format_fingerprint(certificate_fingerprint(leaf))
            raise AlertBadCertificate(
                f"certificate fingerprint sha-256 {shown} matches no pinned fingerprint"
            )
        return

    if configuration.effective_verify_mode() == ssl.CERT_NONE:
        return

    when = configuration.verification_time or datetime.datetime.now(datetime.timezone.utc)
    for certificate in chain:
        if when < certificate.not_valid_before_utc:
            raise AlertCertificateExpired(
                f"certificate {_subject_text(certificate)} is not yet valid (from "
                f"{certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC): check the clocks"
            )
        if when > certificate.not_valid_after_utc:
            raise AlertCertificateExpired(
                f"certificate {_subject_text(certificate)} has expired (on "
                f"{certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC): the {role} needs a "
                "new one"
            )

    anchors = configuration.ca_certificates
    if not anchors:
        raise AlertBadCertificate(
            "no trust anchors configured to verify the peer: give its CA (or its self-signed "
            "certificate) with --ca / load_verify_locations, use the system store "
            "(load_default_certs), or pin its fingerprint"
        )
    leaf_der = _der(leaf)
    direct = any(_der(anchor) == leaf_der for anchor in anchors)
    name_checked = peer_is_server and configuration.check_hostname
    ca_policy, ee_policy = _policies(
        configuration, direct=direct, name_checked=name_checked, peer_is_server=peer_is_server
    )
    builder = (
        PolicyBuilder()
        .store(Store([leaf] if direct else anchors))
        .time(when)
        .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
    )
    try:
        if name_checked:
            if configuration.server_name is None:
                raise AlertBadCertificate(
                    "no server name to verify the certificate against: set server_name "
                    "(CLI --server-name), or check_hostname=False"
                )
            builder.build_server_verifier(_subject(configuration.server_name)).verify(
                leaf, chain[1:]
            )
        else:
            builder.build_client_verifier().verify(leaf, chain[1:])
    except VerificationError as exc:
        reason = explain_verification_error(
            str(exc), chain, configuration, peer_is_server=peer_is_server
        )
        raise AlertBadCertificate(f"certificate verification failed: {reason}") from None


def _core(text: str) -> str:
    """cryptography's message without its prefix and the certificate repr it ends with."""
    text = text.removeprefix("validation failed: ")
    cut = text.find(" (encountered processing <Certificate")
    if cut >= 0:
        text = text[:cut]
    if not text.startswith("candidates exhausted: all candidates exhausted"):
        # "candidates exhausted: <why the last candidate failed>": that why is the news.
        text = text.removeprefix("candidates exhausted: ")
    return text.removeprefix("Python extension validator failed: ValueError: ")


def _names(certificate: x509.Certificate) -> list[str]:
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    return [str(n.value) for n in san if isinstance(n, x509.DNSName | x509.IPAddress)]


def _has_key_usage(certificate: x509.Certificate) -> bool:
    try:
        certificate.extensions.get_extension_for_class(x509.KeyUsage)
    except x509.ExtensionNotFound:
        return False
    except ValueError:
        return True
    return True


def explain_verification_error(
    text: str,
    chain: list[x509.Certificate],
    configuration: DtlsConfiguration,
    *,
    peer_is_server: bool,
) -> str:
    """One line saying which certificate was refused and what to do, from the text of a
    ``cryptography`` ``VerificationError``, the peer's chain and the configuration.

    The certificates are only looked at to name them (by issuer and subject names); the
    decision was ``cryptography``'s.
    """
    role = "server" if peer_is_server else "client"
    core = _core(text)
    leaf = chain[0]
    leaf_name = _shown(leaf)
    self_signed = leaf.issuer == leaf.subject
    if "candidates exhausted" in core or "exceeds max depth" in core:
        return _untrusted(chain, configuration.ca_certificates, role)
    if "must be asserted in a CA certificate" in core:
        if self_signed:
            # A trusted certificate of the same name was tried as its issuer.
            return _untrusted(chain, configuration.ca_certificates, role)
        return (
            f"the issuer of the {role} certificate {leaf_name}, {_name_text(leaf.issuer)}, "
            "is not a CA certificate (basicConstraints cA not set): the certificate must be "
            "issued by a CA (`aiodtls cert --ca` makes one)"
        )
    if "basicConstraints.cA must not be asserted" in core:
        return (
            f"the {role} certificate {leaf_name} is a CA certificate (basicConstraints cA, as "
            "`openssl req -x509` makes) used as an end-entity certificate"
            f"{_same_name_note(leaf, configuration.ca_certificates)}: trust exactly that "
            "certificate with --ca / load_verify_locations (it is then accepted directly), "
            "pin its fingerprint, or make a proper one with `aiodtls cert`"
        )
    if "2.5.29.15" in core or "keyCertSign" in core:
        issuers = {c.issuer for c in chain}
        above = [*chain[1:], *(a for a in configuration.ca_certificates if a.subject in issuers)]
        lacking = [c for c in above if not _has_key_usage(c)]
        who = f"CA certificate {_shown(lacking[0])}" if lacking else "a CA certificate"
        return (
            f"{who} has no usable keyUsage extension ({core}): set strict_x509=False "
            "(CLI --no-strict-x509) to accept a CA without keyUsage like `openssl verify` "
            "does, or reissue the CA with keyUsage keyCertSign"
        )
    if "subjectAltName" in core:
        names = ", ".join(_names(leaf)) or "no names (no subjectAltName)"
        return (
            f"the {role} certificate {leaf_name} is for {names}, not "
            f"{configuration.server_name!r}: connect with a name it has (--server-name / "
            "server_name), or set check_hostname=False to check the chain but not the name"
        )
    culprit = _processed(text, [*chain, *configuration.ca_certificates])
    if "EKU" in core:
        wanted = "servers (serverAuth)" if peer_is_server else "clients (clientAuth)"
        usage = ExtendedKeyUsageOID.CLIENT_AUTH
        if peer_is_server:
            usage = ExtendedKeyUsageOID.SERVER_AUTH
        if culprit is None and not _eku_forbids(leaf, usage):
            above = [*chain[1:], *configuration.ca_certificates]
            culprit = next((c for c in above if _eku_forbids(c, usage)), None)
        if culprit is not None and culprit is not leaf:
            return (
                f"CA certificate {_shown(culprit)} above the {role} certificate {leaf_name} "
                f"is not for {wanted} in its extendedKeyUsage: the {role} needs a chain that "
                "allows it"
            )
        return (
            f"the {role} certificate {leaf_name} is not for {wanted} in its extendedKeyUsage: "
            "the peer needs a certificate that allows it (`aiodtls cert` makes ones for both)"
        )
    return f"{core} (certificate {_shown(culprit or leaf)})"


def _eku_forbids(certificate: x509.Certificate, usage: x509.ObjectIdentifier) -> bool:
    try:
        eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (x509.ExtensionNotFound, ValueError):
        return False
    return usage not in eku and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in eku


_PROCESSING = re.compile(r"encountered processing <Certificate\(subject=<Name\((.*?)\)>, ")


def _processed(text: str, candidates: list[x509.Certificate]) -> x509.Certificate | None:
    """The certificate ``cryptography``'s message says it was processing, found by its
    subject among ``candidates`` (None if it cannot be told)."""
    match = _PROCESSING.search(text)
    if match is None:
        return None
    for certificate in candidates:
        try:
            if certificate.subject.rfc4514_string() == match.group(1):
                return certificate
        except ValueError:
            continue
    return None


def _same_name_note(certificate: x509.Certificate, anchors: list[x509.Certificate]) -> str:
    if not any(anchor.subject == certificate.subject for anchor in anchors):
        return ""
    return (
        f" (a trusted certificate is also named {_shown(certificate)}, but it is another "
        "certificate: was this one made again?)"
    )


def _untrusted(chain: list[x509.Certificate], anchors: list[x509.Certificate], role: str) -> str:
    """Which certificate of ``chain`` no trust anchor vouches for, and what to do about it."""
    # Follow issuer names up through what the peer sent, to name the topmost certificate.
    top, used = chain[0], {0}
    while top.issuer != top.subject:
        above = next(
            (i for i, c in enumerate(chain) if i not in used and c.subject == top.issuer), None
        )
        if above is None:
            break
        used.add(above)
        top = chain[above]
    top_name, issuer = _shown(top), _name_text(top.issuer)
    give = "--ca / load_verify_locations"
    if top.issuer == top.subject:
        if top is chain[0]:
            return (
                f"the {role} certificate {top_name} is self-signed and not trusted"
                f"{_same_name_note(top, anchors)}: "
                f"trust it directly by giving that certificate with {give}, or pin its "
                "fingerprint (--fingerprint / peer_fingerprints)"
            )
        return (
            f"the {role}'s root CA {top_name} is not a trust anchor: give it with {give} "
            f"if you trust it"
        )
    if any(anchor.subject == top.issuer for anchor in anchors):
        return (
            f"{top_name} names the trust anchor {issuer} as its issuer but does not verify "
            "against it (signed by another key of the same name, or that CA certificate is "
            "not acceptable): check that --ca holds the CA that really issued it"
        )
    if top is chain[0]:
        return (
            f"the {role} certificate {top_name} was issued by {issuer}, which is neither a "
            f"trust anchor nor sent by the {role}: if it is an intermediate CA, the {role} "
            "must send it after its own certificate (its certificate file: leaf first, then "
            f"intermediates); else give it with {give}"
        )
    return (
        f"{top_name}, sent by the {role}, was issued by {issuer}, which is not a trust "
        f"anchor: give {issuer} with {give} if you trust it"
    )
