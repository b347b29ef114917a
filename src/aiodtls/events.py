"""Events that a :class:`~aiodtls.connection.DtlsConnection` reports to its driver.

Each event is a small dataclass on :class:`DtlsEvent`; drivers pull them with
``connection.next_event()``. Events describe what happened; they never carry secrets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .alerts import AlertDescription
from .srtp import SrtpProfile

__all__ = [
    "ConnectionTerminated",
    "DataReceived",
    "DtlsEvent",
    "HandshakeCompleted",
]


class DtlsEvent:
    """Base class of every event."""

    __slots__ = ()  # lets a slotted event (DataReceived, one per record) have no __dict__


@dataclass
class HandshakeCompleted(DtlsEvent):
    """The handshake finished: the peer is authenticated and application data may flow."""

    protocol_version: str
    "The negotiated protocol, e.g. ``'DTLSv1.2'``."

    cipher_suite: str
    "The IANA name of the negotiated suite, e.g. ``'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'``."

    group: str | None
    "The key-exchange group (``'x25519'``, ``'secp256r1'`` ...), or None for plain PSK."

    peer_certificates: list[x509.Certificate] = field(default_factory=list)
    "The certificate chain the peer sent, leaf first (empty for PSK or no client certificate)."

    psk_identity: bytes | None = None
    "The PSK identity used, for PSK suites."

    peer_public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey | None = None
    """The peer's RFC 7250 raw public key when it authenticated with one (``peer_certificates``
    is then empty), else None; docs/certificates.md."""

    alpn_protocol: str | None = None
    """The application protocol agreed on with ALPN (RFC 7301), or None when one side did not
    configure ``alpn_protocols`` (or the client offered none)."""

    srtp_profile: SrtpProfile | None = None
    """The DTLS-SRTP protection profile agreed on (RFC 5764), or None when one side did not
    configure ``srtp_profiles``; the keys are ``srtp_keying_material()`` (docs/srtp.md)."""

    server_name: str | None = None
    """Server: the host name the client sent (SNI, RFC 6066), or None. Client: the configured
    ``server_name`` (the name the server's certificate was checked against)."""

    extended_master_secret: bool = True
    "True when the RFC 7627 extended master secret is in use."

    connection_id: bytes | None = None
    """The connection ID (RFC 9146) the peer puts in the records it sends us, when both sides
    negotiated connection IDs (``b""``: none, a zero-length CID); None when not negotiated."""

    peer_connection_id: bytes | None = None
    """The connection ID we put in the records we send (chosen by the peer), when negotiated;
    None when not. Either being non-empty lets that side's peer change address."""
    session_resumed: bool = False
    """True when an earlier session was resumed (the abbreviated handshake of RFC 5246 §7.3):
    no certificate or key exchange this time; the peer's identity is the original one's."""

    duration: float = 0.0
    "Seconds from the first handshake datagram sent or received to completion."

    retransmissions: int = 0
    "Flights this endpoint retransmitted during the handshake."


@dataclass(slots=True)
class DataReceived(DtlsEvent):
    """One application-data record arrived (slotted: one is made per record)."""

    data: bytes
    "The record's plaintext."


@dataclass
class ConnectionTerminated(DtlsEvent):
    """The connection ended; nothing more will be sent or received."""

    alert: AlertDescription | None
    "The alert that ended it (``close_notify`` for a clean close), or None for a timeout."

    reason: str
    "A human-readable explanation, e.g. ``'peer sent alert bad_certificate'``."

    by_peer: bool
    "True if the peer ended the connection, False if this endpoint did."

    during_handshake: bool = False
    "True if the handshake had not completed."

    unreachable: bool = False
    "True if the driver reported the peer unreachable (an ICMP error on the socket)."
