"""DTLS over a datagram path the application owns (WebRTC's ICE), for asyncio.

The application owns the path: it receives datagrams (from an ICE agent, a TURN relay, a
socket shared with STUN and SRTP, sorted with :func:`aiodtls.demux.classify`), hands the DTLS
ones to :meth:`DtlsOverDatagrams.feed`, and gives a ``send(datagram)`` callable that puts
datagrams on the path. aiodtls owns every timer: retransmissions, the handshake deadline and
the idle timeout run on the event loop (``loop.call_at``) whatever the application does.

This is the :class:`~aiodtls.asyncio.DtlsProtocol` driver around one ``DtlsConnection``,
with a transport whose ``sendto`` calls ``send``; nothing here knows DTLS. The connection
talks to a single peer, so there are no addresses: the path is the peer. A server is a plain
``DtlsConnection(is_client=False)`` for that one peer; the cookie exchange, a defence of
servers that talk to the whole Internet, is off unless the configuration asks for it
(``cookie_exchange`` is forced off when ``cookie_exchange=None``, the default here): ICE has
already checked the peer's address, and browsers do not use cookies.
"""

from __future__ import annotations

import asyncio
import logging

from ..configuration import DtlsConfiguration
from ..connection import DtlsConnection
from ..errors import DtlsError, HandshakeTimeout
from ..events import ConnectionTerminated
from ..path import PATH_ADDRESS, SendDatagram, with_path_defaults
from .session import DtlsProtocol, DtlsSession

__all__ = ["DtlsOverDatagrams"]

logger = logging.getLogger("aiodtls.asyncio")


class _CallableTransport:
    """What ``DtlsProtocol`` needs of a transport (``sendto``), sending through a callable.
    An ``OSError`` from it is a lost datagram, as on UDP; the timers recover it."""

    def __init__(self, send: SendDatagram) -> None:
        self._send = send

    def sendto(self, data: bytes, addr: object = None) -> None:
        try:
            self._send(data)
        except OSError as exc:
            logger.debug("send() failed, the datagram is lost: %s", exc)


class DtlsOverDatagrams:
    """One DTLS association over a path the application owns (create it inside a running
    event loop).

    ``send`` is called with each datagram to put on the path; call :meth:`feed` with each DTLS
    datagram that arrives from it. A client sends its ClientHello at once; a server waits
    for the client's. ``await handshake()`` returns the :class:`DtlsSession` (``send``,
    ``recv``, ``export_keying_material`` ...) once the handshake has completed, or raises the
    :class:`~aiodtls.errors.HandshakeError` saying why it failed. ``initial_rtt`` is a round
    trip the application already measured (ICE), in seconds: it seeds the first
    retransmission timeout (``RetransmissionPolicy.initial_rtt``). ``cookie_exchange``: see
    the module docstring (None: off).
    """

    def __init__(
        self,
        configuration: DtlsConfiguration,
        send: SendDatagram,
        *,
        initial_rtt: float | None = None,
        cookie_exchange: bool | None = None,
    ) -> None:
        configuration = with_path_defaults(configuration, cookie_exchange, initial_rtt)
        self.connection = DtlsConnection(configuration=configuration)
        "The sans-I/O connection underneath."
        self.protocol = DtlsProtocol(self.connection)
        "The driver that owns the timer."
        self.protocol.connection_made(_CallableTransport(send))  # type: ignore[arg-type]
        self.session: DtlsSession
        "The association as the application uses it."
        if configuration.is_client:
            self.session = self.protocol.start(PATH_ADDRESS)
        else:
            self.session = DtlsSession(self.connection, self.protocol)
            self.protocol.sessions[self.connection] = self.session

    def feed(self, datagram: bytes) -> None:
        """One DTLS datagram received from the path. Never raises for what the peer sent:
        garbage is dropped, a fatal problem ends the association (see :meth:`handshake` and
        ``session.recv``)."""
        self.protocol.datagram_received(datagram, PATH_ADDRESS)

    datagram_received = feed

    async def handshake(self, timeout: float | None = None) -> DtlsSession:
        """Wait for the handshake (at most ``timeout`` seconds besides
        ``configuration.handshake_timeout``) and return the session. Raises the
        :class:`~aiodtls.errors.HandshakeError` of the failure
        (:class:`~aiodtls.errors.HandshakeTimeout` when time runs out)."""
        if timeout is None:
            await self.session.wait_handshake()
        else:
            try:
                await asyncio.wait_for(self.session.wait_handshake(), timeout)
            except asyncio.TimeoutError as exc:  # not the builtin one before Python 3.11
                if isinstance(exc, DtlsError):  # the handshake's own HandshakeTimeout
                    raise
                self.connection.abort("handshake timeout")
                self.protocol.transmit()
                raise HandshakeTimeout(
                    ConnectionTerminated(
                        alert=None,
                        reason=f"handshake timed out after {timeout:g} s (handshake timeout)",
                        by_peer=False,
                        during_handshake=True,
                    )
                ) from None
        return self.session

    def close(self) -> None:
        """Send close_notify (if the association is up) and stop every timer (idempotent)."""
        self.session.close()
        self.protocol.connection_lost(None)

    @property
    def closed(self) -> bool:
        """True once the association has ended."""
        return self.session.closed
