"""The exceptions aiodtls raises, and the one mapping from how an association ended to them.

Owns the hierarchy (like ``ssl.SSLError``'s) that both ``aiodtls.asyncio`` and
``aiodtls.sync`` raise, and :func:`exception_for`, the single function that turns a
:class:`~aiodtls.events.ConnectionTerminated` event into exactly one of its classes::

    DtlsError (ConnectionError)               anything aiodtls raises for a DTLS association
    └── ConnectionClosed                      the association ended; .terminated says how
        ├── HandshakeError                    ... before its handshake completed
        │   ├── HandshakeTimeout (TimeoutError)
        │   ├── CertificateVerificationError  we rejected the peer's certificate; .reason
        │   ├── HandshakeAlertReceived        (also AlertReceived)
        │   └── HandshakePeerUnreachable      (also PeerUnreachable)
        ├── AlertReceived                     the peer sent a fatal alert; .alert, .alert_name
        └── PeerUnreachable                   ICMP: nothing listens at the peer's address

Everything is a ``ConnectionError`` (so an ``OSError``), as the old ``aiodtls.sync.DtlsError``
and ``aiodtls.asyncio.ConnectionClosed`` were; both names still work (they are
:class:`DtlsError` and :class:`ConnectionClosed`). ``docs/errors.md`` says which call raises
what, and when.
"""

from __future__ import annotations

import errno

from .alerts import AlertDescription
from .events import ConnectionTerminated

__all__ = [
    "AlertReceived",
    "CertificateVerificationError",
    "ConnectionClosed",
    "DtlsError",
    "HandshakeAlertReceived",
    "HandshakeError",
    "HandshakePeerUnreachable",
    "HandshakeTimeout",
    "PeerUnreachable",
    "exception_for",
    "is_unreachable_error",
    "unreachable_reason",
]

# Alerts this side sends when it rejects the peer's certificate chain.
_CERTIFICATE_ALERTS = frozenset(
    {
        AlertDescription.bad_certificate,
        AlertDescription.unsupported_certificate,
        AlertDescription.certificate_revoked,
        AlertDescription.certificate_expired,
        AlertDescription.certificate_unknown,
        AlertDescription.unknown_ca,
    }
)

# Socket errors that report an ICMP destination-unreachable message for the peer.
_UNREACHABLE_ERRNOS = frozenset(
    {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN}
)

_PEER_ALERT_PREFIX = "peer sent alert "


class DtlsError(ConnectionError):
    """Base of every aiodtls error about a DTLS association.

    ``terminated`` is the :class:`~aiodtls.events.ConnectionTerminated` event when the
    association ended (always, for :class:`ConnectionClosed` and its subclasses).
    """

    def __init__(self, message: str, terminated: ConnectionTerminated | None = None) -> None:
        super().__init__(message)
        self.terminated = terminated

    @property
    def reason(self) -> str:
        """The one-line explanation (the message)."""
        return str(self.args[0]) if self.args else ""


class ConnectionClosed(DtlsError):
    """The association ended, cleanly (close_notify) or not; ``terminated`` says how."""

    terminated: ConnectionTerminated

    def __init__(self, terminated: ConnectionTerminated, message: str | None = None) -> None:
        super().__init__(terminated.reason if message is None else message, terminated)

    @property
    def clean(self) -> bool:
        """True if it ended with close_notify (sent by either side)."""
        return self.terminated.alert == AlertDescription.close_notify

    @property
    def by_peer(self) -> bool:
        """True if the peer ended it."""
        return self.terminated.by_peer


class HandshakeError(ConnectionClosed):
    """The handshake did not complete: what ``connect()`` raises when it fails."""


class HandshakeTimeout(HandshakeError, TimeoutError):
    """The handshake did not complete in time (``handshake_timeout``, ``connect(timeout=)``,
    or the retransmissions ran out)."""


class CertificateVerificationError(HandshakeError):
    """This side rejected the peer's certificate chain; ``reason`` is the verifier's text
    and ``alert`` the alert sent to the peer."""

    @property
    def alert(self) -> AlertDescription | None:
        """The alert this side sent (``bad_certificate``, ``unknown_ca`` ...)."""
        return self.terminated.alert


class AlertReceived(ConnectionClosed):
    """The peer ended the association with a fatal alert."""

    @property
    def alert(self) -> AlertDescription | None:
        """The alert, or None for a value outside the IANA registry (see ``alert_name``)."""
        return self.terminated.alert

    @property
    def alert_name(self) -> str:
        """The alert's RFC name (``handshake_failure``), or ``alert_<n>`` if unregistered."""
        alert = self.terminated.alert
        if alert is not None:
            return alert.name
        return self.terminated.reason.removeprefix(_PEER_ALERT_PREFIX).split()[0]


class HandshakeAlertReceived(AlertReceived, HandshakeError):
    """The peer sent a fatal alert during the handshake (both an AlertReceived and a
    HandshakeError)."""


class PeerUnreachable(ConnectionClosed):
    """An ICMP error (port or host unreachable) said nothing receives at the peer's address:
    the peer is not running, or went away."""


class HandshakePeerUnreachable(PeerUnreachable, HandshakeError):
    """The peer was unreachable during the handshake (both a PeerUnreachable and a
    HandshakeError)."""


def is_unreachable_error(exc: BaseException) -> bool:
    """True if a socket error reports the peer unreachable (ICMP port/host/net unreachable).

    Other errors (``EMSGSIZE`` for a datagram above the path MTU, ``ENOBUFS`` ...) are not."""
    return isinstance(exc, OSError) and exc.errno in _UNREACHABLE_ERRNOS


def exception_for(terminated: ConnectionTerminated) -> ConnectionClosed:
    """The exception for an association that ended as ``terminated``: exactly one class.

    Used by ``aiodtls.asyncio`` and ``aiodtls.sync`` alike.
    """
    during = terminated.during_handshake
    alert = terminated.alert
    if terminated.unreachable:
        return (HandshakePeerUnreachable if during else PeerUnreachable)(terminated)
    if alert == AlertDescription.close_notify:
        if during:
            return HandshakeError(terminated, f"the handshake was cut short: {terminated.reason}")
        return ConnectionClosed(terminated)
    if terminated.by_peer and terminated.reason.startswith(_PEER_ALERT_PREFIX):
        return (HandshakeAlertReceived if during else AlertReceived)(terminated)
    if during and not terminated.by_peer and alert in _CERTIFICATE_ALERTS:
        return CertificateVerificationError(terminated)
    if during and alert is None and not terminated.by_peer and "timed out" in terminated.reason:
        return HandshakeTimeout(terminated)
    return (HandshakeError if during else ConnectionClosed)(terminated)


def unreachable_reason(
    address: object, error: BaseException | None, *, heard: bool, established: bool
) -> str:
    """The one line for a peer reported unreachable (used by ``DtlsConnection``)."""
    what = {
        errno.ECONNREFUSED: "ICMP port unreachable",
        errno.EHOSTUNREACH: "ICMP host unreachable",
        errno.ENETUNREACH: "ICMP network unreachable",
        errno.EHOSTDOWN: "host is down",
    }.get(getattr(error, "errno", None) or -1, str(error) if error else "ICMP unreachable")
    where = _format_address(address)
    if established:
        return f"the peer went away: {where} is unreachable ({what})"
    if heard:
        return (
            f"the peer stopped answering during the handshake: {where} is unreachable ({what}); "
            "it may have given up without sending an alert (no shared cipher suite, a missing "
            "client certificate or an untrusted CA?)"
        )
    return f"nothing is listening at {where} ({what}): is the server running?"


def _format_address(address: object) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)
