"""Blocking DTLS over a UDP socket: the select loop of OpenSSL's s_server, done for the user.

Owns one socket and one sans-I/O core (a client ``DtlsConnection`` or a server
``DtlsEndpoint``) and drives it inside every blocking call: each call waits on the socket
*and* on the core's timer, so retransmissions happen even if the application never thinks
about them, and a server keeps serving all its peers while the application blocks on one of
them. There is no protocol logic here.

- :func:`connect` returns a :class:`DtlsSocket` once the handshake has completed.
- :class:`DtlsServer` binds a socket; :meth:`DtlsServer.accept` returns the next peer whose
  handshake completed. Any number of peers can be connected at once.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import time
from collections import deque
from collections.abc import Callable

from .configuration import DtlsConfiguration
from .connection import DtlsConnection, NetworkAddress
from .endpoint import DtlsEndpoint, next_event
from .events import ConnectionTerminated, DataReceived, DtlsEvent, HandshakeCompleted

__all__ = ["DtlsError", "DtlsServer", "DtlsSocket", "connect"]

_MAX_DATAGRAM = 65535


class DtlsError(ConnectionError):
    """The connection ended abnormally; ``terminated`` says how."""

    def __init__(self, message: str, terminated: ConnectionTerminated | None = None) -> None:
        super().__init__(message)
        self.terminated = terminated


def _clock() -> float:
    return time.monotonic()


class _Pump:
    """One socket and one core; every blocking call of every DtlsSocket runs this loop."""

    def __init__(self, sock: socket.socket, core: DtlsConnection | DtlsEndpoint) -> None:
        self.sock = sock
        self.core = core
        self.sockets: dict[DtlsConnection, DtlsSocket] = {}
        self.accepted: deque[DtlsSocket] = deque()
        # Not select.select: it cannot take a descriptor numbered 1024 (FD_SETSIZE) or
        # higher, which any process with over 1,024 open files hands out.
        self.selector = selectors.DefaultSelector()
        self.selector.register(sock, selectors.EVENT_READ)

    def run(self, done: Callable[[], bool], timeout: float | None) -> bool:
        """Drive the core until ``done()`` or ``timeout`` seconds; True if done."""
        deadline = None if timeout is None else _clock() + timeout
        while True:
            self._flush()
            if done():
                return True
            now = _clock()
            if deadline is not None and now >= deadline:
                return False
            waits = [t - now for t in (self.core.get_timer(), deadline) if t is not None]
            wait = max(0.0, min(waits)) if waits else None
            if self.selector.select(wait):
                try:
                    data, addr = self.sock.recvfrom(_MAX_DATAGRAM)
                except OSError:
                    data = b""  # ICMP error surfacing on the socket: the timers retry
                if data:
                    self.core.receive_datagram(data, addr, _clock())
            timer = self.core.get_timer()
            if timer is not None and _clock() >= timer:
                self.core.handle_timer(_clock())

    def _flush(self) -> None:
        for data, addr in self.core.datagrams_to_send(_clock()):
            # ICMP errors (port unreachable) surface here on Linux; the timers retry.
            with contextlib.suppress(OSError):
                self.sock.sendto(data, addr)
        while (item := next_event(self.core)) is not None:
            connection, event = item
            dtls = self.sockets.get(connection)
            if dtls is None:
                if not isinstance(event, HandshakeCompleted):
                    continue  # a server handshake that failed: nobody to tell
                dtls = self.sockets[connection] = DtlsSocket(self, connection)
                self.accepted.append(dtls)
            dtls._on_event(event)
            if isinstance(event, ConnectionTerminated):
                del self.sockets[connection]

    def touch(self, connection: DtlsConnection) -> None:
        if isinstance(self.core, DtlsEndpoint):
            self.core.touch(connection)
        self._flush()

    def close(self) -> None:
        """Close the selector and the socket (idempotent)."""
        self.selector.close()
        self.sock.close()


class DtlsSocket:
    """One DTLS association with blocking calls (client or server side)."""

    def __init__(self, pump: _Pump, connection: DtlsConnection) -> None:
        self._pump = pump
        self.connection = connection
        "The sans-I/O connection underneath."
        self._received: deque[bytes] = deque()
        self._handshake: HandshakeCompleted | None = None
        self.terminated: ConnectionTerminated | None = None
        "Set once the association has ended."

    def _on_event(self, event: DtlsEvent) -> None:
        if isinstance(event, HandshakeCompleted):
            self._handshake = event
        elif isinstance(event, DataReceived):
            self._received.append(event.data)
        elif isinstance(event, ConnectionTerminated):
            self.terminated = event

    @property
    def handshake(self) -> HandshakeCompleted:
        """Details of the completed handshake (suite, version, peer certificates ...)."""
        if self._handshake is None:
            raise RuntimeError("the handshake has not completed")
        return self._handshake

    @property
    def alpn_protocol(self) -> str | None:
        """The ALPN protocol agreed on (RFC 7301), or None."""
        return self.handshake.alpn_protocol

    @property
    def server_name(self) -> str | None:
        """Server: the host name the client sent (SNI), or None; client: ``server_name``."""
        return self.handshake.server_name

    @property
    def peer_address(self) -> NetworkAddress:
        """The peer's address."""
        return self.connection.peer_address

    def send(self, data: bytes) -> None:
        """Send one application record (DTLS does not retransmit application data)."""
        self.connection.send(data)
        self._pump.touch(self.connection)

    def recv(self, timeout: float | None = None) -> bytes | None:
        """The next record; None on timeout or after the peer closed with close_notify.

        Raises :class:`DtlsError` if the association failed (alert, idle timeout).
        """
        self._pump.run(lambda: bool(self._received) or self.terminated is not None, timeout)
        if self._received:
            return self._received.popleft()
        t = self.terminated
        if t is not None and (t.alert is None or t.alert.name != "close_notify"):
            raise DtlsError(t.reason, t)
        return None

    def close(self) -> None:
        """Send close_notify; a client also closes its socket."""
        if not self.connection.closed:
            self.connection.close()
            self._pump.touch(self.connection)
        if isinstance(self._pump.core, DtlsConnection):
            self._pump.close()

    def __enter__(self) -> DtlsSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(
    host: str, port: int, *, configuration: DtlsConfiguration, timeout: float | None = None
) -> DtlsSocket:
    """Complete a DTLS handshake with (host, port) over a new UDP socket (blocking).

    Raises :class:`DtlsError` if the handshake fails or ``timeout`` passes first (the
    handshake's own deadline is ``configuration.handshake_timeout``).
    """
    family, _, _, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    sock = socket.socket(family, socket.SOCK_DGRAM)
    pump: _Pump | None = None
    try:
        sock.connect(addr)
        connection = DtlsConnection(configuration=configuration)
        pump = _Pump(sock, connection)
        dtls = pump.sockets[connection] = DtlsSocket(pump, connection)
        connection.connect(sock.getpeername(), _clock())
        pump.run(lambda: dtls._handshake is not None or dtls.terminated is not None, timeout)
        if dtls._handshake is None:
            t = dtls.terminated
            raise DtlsError(t.reason if t else "handshake timed out", t)
    except BaseException:
        if pump is not None:
            pump.close()
        else:
            sock.close()
        raise
    return dtls


class DtlsServer:
    """A bound UDP socket serving any number of DTLS peers (blocking API)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        configuration: DtlsConfiguration,
        max_half_open: int = 1000,
        max_half_open_per_source: int = 64,
    ) -> None:
        family, _, _, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._sock.bind(addr)
            self.endpoint = DtlsEndpoint(
                configuration,
                max_half_open=max_half_open,
                max_half_open_per_source=max_half_open_per_source,
            )
            "The sans-I/O endpoint (connection table, counters)."
            self._pump = _Pump(self._sock, self.endpoint)
        except BaseException:
            self._sock.close()
            raise

    @property
    def address(self) -> NetworkAddress:
        """The bound address."""
        return self._sock.getsockname()

    def accept(self, timeout: float | None = None) -> DtlsSocket:
        """The next peer whose handshake completed; raises TimeoutError after ``timeout``.

        Peers keep being served (handshakes, retransmissions, data buffered) while the
        application is inside any blocking call of this server or its sockets.
        """
        if not self._pump.run(lambda: bool(self._pump.accepted), timeout):
            raise TimeoutError("no DTLS peer completed a handshake")
        return self._pump.accepted.popleft()

    def serve_for(self, seconds: float) -> None:
        """Just drive the server for a while (handshakes, timers) without accepting."""
        self._pump.run(lambda: False, seconds)

    def close(self) -> None:
        """Send close_notify to every peer and close the socket."""
        for connection in list(self.endpoint.connections.values()):
            connection.close()
            self.endpoint.touch(connection)
        self._pump._flush()
        self._pump.close()

    def __enter__(self) -> DtlsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
