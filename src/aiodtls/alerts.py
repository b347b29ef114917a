"""Alert vocabulary: the TLS alert registry and the exceptions that carry an alert.

Protocol code raises an :class:`Alert` subclass deep inside parsing or validation; the
connection catches it in exactly one place, sends the alert record and emits
``ConnectionTerminated``. Nothing here touches the wire.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "Alert",
    "AlertBadCertificate",
    "AlertBadRecordMac",
    "AlertCertificateExpired",
    "AlertCertificateUnknown",
    "AlertDecodeError",
    "AlertDecryptError",
    "AlertDescription",
    "AlertHandshakeFailure",
    "AlertIllegalParameter",
    "AlertInappropriateFallback",
    "AlertInsufficientSecurity",
    "AlertInternalError",
    "AlertLevel",
    "AlertNoApplicationProtocol",
    "AlertProtocolVersion",
    "AlertUnexpectedMessage",
    "AlertUnknownCa",
    "AlertUnknownPskIdentity",
    "AlertUnsupportedCertificate",
    "AlertUnsupportedExtension",
    "alert_name",
    "alert_reason",
]


class AlertLevel(IntEnum):
    """Alert levels (RFC 5246 §7.2)."""

    warning = 1
    fatal = 2


class AlertDescription(IntEnum):
    """Alert descriptions (IANA TLS Alerts registry). Member names are the RFC names."""

    close_notify = 0
    unexpected_message = 10
    bad_record_mac = 20
    decryption_failed = 21
    "Reserved (TLS 1.0); still sent by some old stacks."
    record_overflow = 22
    handshake_failure = 40
    no_certificate = 41
    "Reserved (SSL 3.0: the client has no certificate); still sent by some old stacks."
    bad_certificate = 42
    unsupported_certificate = 43
    certificate_revoked = 44
    certificate_expired = 45
    certificate_unknown = 46
    illegal_parameter = 47
    unknown_ca = 48
    access_denied = 49
    decode_error = 50
    decrypt_error = 51
    export_restriction = 60
    "Reserved (TLS 1.0)."
    protocol_version = 70
    insufficient_security = 71
    internal_error = 80
    inappropriate_fallback = 86
    user_canceled = 90
    no_renegotiation = 100
    missing_extension = 109
    unsupported_extension = 110
    certificate_unobtainable = 111
    unrecognized_name = 112
    bad_certificate_status_response = 113
    bad_certificate_hash_value = 114
    unknown_psk_identity = 115
    certificate_required = 116
    no_application_protocol = 120
    ech_required = 121


def alert_name(value: int) -> str:
    """The RFC name of an alert description, or ``alert_<n>`` for an unregistered value."""
    try:
        return AlertDescription(value).name
    except ValueError:
        return f"alert_{value}"


# What a fatal alert from the peer most likely means for us, for the alerts whose name alone
# does not say what to do.
_PEER_ALERT_HINTS: dict[int, str] = {
    AlertDescription.handshake_failure: (
        "no cipher suite, group or signature scheme in common, or a client certificate the "
        "peer requires is missing?"
    ),
    AlertDescription.bad_record_mac: "it cannot authenticate our records: wrong PSK?",
    AlertDescription.decryption_failed: "it cannot decrypt our records: wrong PSK?",
    AlertDescription.decrypt_error: "a signature or our Finished did not verify: wrong PSK?",
    AlertDescription.bad_certificate: "it rejected our certificate",
    AlertDescription.unknown_ca: "it does not trust the CA that issued our certificate",
    AlertDescription.certificate_expired: "our certificate has expired, or its clock is off",
    AlertDescription.certificate_unknown: "it rejected our certificate",
    AlertDescription.unsupported_certificate: "it cannot use our certificate's key type",
    AlertDescription.no_certificate: "an SSL 3.0 alert: a certificate is missing",
    AlertDescription.certificate_required: "it requires a client certificate",
    AlertDescription.unknown_psk_identity: "it does not know our PSK identity",
    AlertDescription.protocol_version: "it does not accept DTLS 1.2",
    AlertDescription.insufficient_security: "it requires stronger parameters",
    AlertDescription.access_denied: "it refused us access",
}


def alert_reason(value: int) -> str:
    """The one line for a fatal alert the peer sent: ``peer sent alert <name>``, followed by
    what it most likely means in parentheses when the name alone does not say."""
    reason = f"peer sent alert {alert_name(value)}"
    hint = _PEER_ALERT_HINTS.get(value)
    return f"{reason} ({hint})" if hint else reason


class Alert(Exception):
    """A fatal protocol error that ends the connection with ``description``."""

    description: AlertDescription = AlertDescription.internal_error

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason or self.description.name)
        self.reason = reason or self.description.name


class AlertUnexpectedMessage(Alert):
    """A message arrived that the state machine does not allow here."""

    description = AlertDescription.unexpected_message


class AlertBadRecordMac(Alert):
    """Record authentication failed where dropping is not allowed."""

    description = AlertDescription.bad_record_mac


class AlertHandshakeFailure(Alert):
    """No acceptable set of security parameters."""

    description = AlertDescription.handshake_failure


class AlertBadCertificate(Alert):
    """A certificate was corrupt, unverifiable or did not match its signature."""

    description = AlertDescription.bad_certificate


class AlertUnsupportedCertificate(Alert):
    """A certificate of an unsupported type or key."""

    description = AlertDescription.unsupported_certificate


class AlertCertificateExpired(Alert):
    """A certificate has expired or is not yet valid."""

    description = AlertDescription.certificate_expired


class AlertCertificateUnknown(Alert):
    """A certificate could not be accepted for another reason (e.g. a wrong host name)."""

    description = AlertDescription.certificate_unknown


class AlertIllegalParameter(Alert):
    """A field was out of range or inconsistent with other fields."""

    description = AlertDescription.illegal_parameter


class AlertUnknownCa(Alert):
    """The chain did not lead to a trusted root."""

    description = AlertDescription.unknown_ca


class AlertDecodeError(Alert):
    """A message could not be decoded."""

    description = AlertDescription.decode_error


class AlertDecryptError(Alert):
    """A handshake cryptographic operation failed (signature, Finished)."""

    description = AlertDescription.decrypt_error


class AlertProtocolVersion(Alert):
    """The peer offered no protocol version we support."""

    description = AlertDescription.protocol_version


class AlertInsufficientSecurity(Alert):
    """The peer's parameters are weaker than required."""

    description = AlertDescription.insufficient_security


class AlertInternalError(Alert):
    """An error of our own, unrelated to the peer."""

    description = AlertDescription.internal_error


class AlertInappropriateFallback(Alert):
    """TLS_FALLBACK_SCSV seen while a higher version is supported (RFC 7507)."""

    description = AlertDescription.inappropriate_fallback


class AlertUnsupportedExtension(Alert):
    """An extension appeared in a ServerHello that the client did not offer."""

    description = AlertDescription.unsupported_extension


class AlertUnknownPskIdentity(Alert):
    """The PSK identity is unknown to the server (RFC 4279 §2)."""

    description = AlertDescription.unknown_psk_identity


class AlertNoApplicationProtocol(Alert):
    """The client offered ALPN protocols and the server supports none of them (RFC 7301)."""

    description = AlertDescription.no_application_protocol
