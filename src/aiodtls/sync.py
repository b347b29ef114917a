"""Blocking DTLS over a UDP socket: the select loop of OpenSSL's s_server, done for the user.

Owns a socket and drives a :class:`~aiodtls.connection.DtlsConnection` inside every blocking
call: each call waits on the socket *and* on the connection's timer, so retransmissions happen
even if the application never thinks about them. There is no protocol logic here.

- :func:`connect` returns a :class:`DtlsSocket` once the handshake has completed.
- :class:`DtlsServer` binds a socket and :meth:`~DtlsServer.accept` returns one established
  peer at a time; ClientHellos from other addresses meanwhile get a stateless
  HelloVerifyRequest and leave no state (``handshake.cookie``).
"""

from __future__ import annotations

import contextlib
import select
import socket
import time
from collections import deque
from collections.abc import Callable

from .configuration import DtlsConfiguration
from .connection import DtlsConnection, NetworkAddress
from .events import ConnectionTerminated, DataReceived, HandshakeCompleted
from .handshake.cookie import CookieSecrets, Verdict, check_client_hello

__all__ = ["DtlsError", "DtlsServer", "DtlsSocket", "connect"]

_MAX_DATAGRAM = 65535


class DtlsError(ConnectionError):
    """The connection ended abnormally; ``terminated`` says how."""

    def __init__(self, message: str, terminated: ConnectionTerminated | None = None) -> None:
        super().__init__(message)
        self.terminated = terminated


def _clock() -> float:
    return time.monotonic()


class DtlsSocket:
    """An established DTLS association over a UDP socket, with blocking calls."""

    def __init__(
        self, sock: socket.socket, connection: DtlsConnection, *, owns_socket: bool = True
    ) -> None:
        self._sock = sock
        self.connection = connection
        self._owns_socket = owns_socket
        self._received: deque[bytes] = deque()
        self.handshake: HandshakeCompleted | None = None
        "Details of the completed handshake."
        self.terminated: ConnectionTerminated | None = None
        "Set once the connection has ended."
        self._on_foreign: Callable[[bytes, NetworkAddress], None] | None = None

    # -- the loop --------------------------------------------------------------------------

    def _flush(self) -> None:
        for data, addr in self.connection.datagrams_to_send(_clock()):
            # ICMP errors (port unreachable) surface here on Linux; the timer retries.
            with contextlib.suppress(OSError):
                self._sock.sendto(data, addr)

    def _drain_events(self) -> None:
        while (event := self.connection.next_event()) is not None:
            if isinstance(event, HandshakeCompleted):
                self.handshake = event
            elif isinstance(event, DataReceived):
                self._received.append(event.data)
            elif isinstance(event, ConnectionTerminated):
                self.terminated = event

    def _pump(self, done: Callable[[], bool], timeout: float | None) -> bool:
        """Run the connection until ``done()`` or ``timeout``; True if done."""
        deadline = None if timeout is None else _clock() + timeout
        while True:
            self._flush()
            self._drain_events()
            if done():
                return True
            if self.terminated is not None:
                return False
            now = _clock()
            waits = [t - now for t in (self.connection.get_timer(), deadline) if t is not None]
            wait = max(0.0, min(waits)) if waits else None
            readable, _, _ = select.select([self._sock], [], [], wait)
            if readable:
                try:
                    data, addr = self._sock.recvfrom(_MAX_DATAGRAM)
                except OSError:
                    data = b""
                if data:
                    if addr == self.connection.peer_address or self._on_foreign is None:
                        self.connection.receive_datagram(data, addr, _clock())
                    else:
                        self._on_foreign(data, addr)
            now = _clock()
            timer = self.connection.get_timer()
            if timer is not None and now >= timer:
                self.connection.handle_timer(now)
            if deadline is not None and now >= deadline:
                self._flush()
                self._drain_events()
                return done()

    def _handshake_blocking(self, timeout: float | None) -> None:
        if not self._pump(lambda: self.handshake is not None, timeout):
            reason = (
                self.terminated.reason if self.terminated is not None else "handshake timed out"
            )
            raise DtlsError(f"handshake failed: {reason}", self.terminated)

    # -- API -------------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Send one application record."""
        self.connection.send(data)
        self._flush()

    def recv(self, timeout: float | None = None) -> bytes | None:
        """One received record, or None on timeout or once the peer closed the connection.

        Raises :class:`DtlsError` if the connection failed.
        """
        self._pump(lambda: bool(self._received), timeout)
        if self._received:
            return self._received.popleft()
        self._raise_if_failed()
        return None

    def _raise_if_failed(self) -> None:
        t = self.terminated
        if t is not None and t.alert is not None and t.alert.name != "close_notify":
            raise DtlsError(t.reason, t)
        if t is not None and t.alert is None:
            raise DtlsError(t.reason, t)

    def fileno(self) -> int:
        """The socket's descriptor (for select)."""
        return self._sock.fileno()

    def close(self) -> None:
        """Send close_notify and release the socket."""
        if not self.connection.closed:
            self.connection.close()
            self._flush()
        if self._owns_socket:
            self._sock.close()

    def __enter__(self) -> DtlsSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(
    host: str,
    port: int,
    *,
    configuration: DtlsConfiguration,
    timeout: float | None = None,
) -> DtlsSocket:
    """Open a UDP socket to (host, port) and complete a DTLS handshake (blocking)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.connect(addr)
        peer = sock.getpeername()
        connection = DtlsConnection(configuration=configuration)
        dtls = DtlsSocket(sock, connection)
        connection.connect(peer, _clock())
        dtls._handshake_blocking(timeout)
    except BaseException:
        sock.close()
        raise
    return dtls


class DtlsServer:
    """A bound UDP socket that accepts DTLS peers one at a time."""

    def __init__(self, host: str, port: int, *, configuration: DtlsConfiguration) -> None:
        if configuration.is_client:
            raise ValueError("DtlsServer needs a server configuration (is_client=False)")
        self.configuration = configuration
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        family, _, _, _, addr = infos[0]
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        self._sock.bind(addr)
        self._cookies = (
            CookieSecrets(configuration.cookie_secret) if configuration.cookie_exchange else None
        )

    @property
    def address(self) -> NetworkAddress:
        """The bound address."""
        return self._sock.getsockname()

    def _answer_stateless(self, data: bytes, addr: NetworkAddress) -> bool:
        """HelloVerifyRequest or drop for unknown peers; True if a connection may start."""
        check = check_client_hello(data, addr, self._cookies, _clock())
        if check.verdict == Verdict.VERIFY:
            self._sock.sendto(check.reply, addr)
        return check.verdict == Verdict.ACCEPT

    def accept(self, timeout: float | None = None) -> DtlsSocket:
        """Wait for a peer to complete a handshake and return its connection.

        Raises :class:`TimeoutError` when ``timeout`` passes without a ClientHello that
        carries a valid cookie, and :class:`DtlsError` if that peer's handshake fails.
        """
        deadline = None if timeout is None else _clock() + timeout
        while True:
            wait = None if deadline is None else max(0.0, deadline - _clock())
            readable, _, _ = select.select([self._sock], [], [], wait)
            if not readable:
                raise TimeoutError("no DTLS client arrived")
            try:
                data, addr = self._sock.recvfrom(_MAX_DATAGRAM)
            except OSError:
                continue
            if not self._answer_stateless(data, addr):
                continue
            connection = DtlsConnection(
                configuration=self.configuration, cookie_secrets=self._cookies
            )
            dtls = DtlsSocket(self._sock, connection, owns_socket=False)
            dtls._on_foreign = self._on_foreign
            connection.receive_datagram(data, addr, _clock())
            # The handshake has its own deadline (configuration.handshake_timeout).
            dtls._handshake_blocking(None)
            return dtls

    def _on_foreign(self, data: bytes, addr: NetworkAddress) -> None:
        # One peer at a time: others only get a HelloVerifyRequest and retry later.
        self._answer_stateless(data, addr)

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()

    def __enter__(self) -> DtlsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
