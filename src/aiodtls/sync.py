"""Blocking DTLS over a UDP socket: the select loop of OpenSSL's s_server, done for the user.

Owns one socket and one sans-I/O core (a client ``DtlsConnection`` or a server
``DtlsEndpoint``) and drives it inside every blocking call: each call waits on the socket
*and* on the core's timer, so retransmissions happen even if the application never thinks
about them, and a server keeps serving all its peers while the application blocks on one of
them. There is no protocol logic here.

- :func:`connect` returns a :class:`DtlsSocket` once the handshake has completed;
  :func:`wrap_socket` does the same over a UDP socket the application already has.
- :class:`DtlsPath` (from :mod:`aiodtls.sync_path`) runs one association over a datagram
  path the application owns (WebRTC's ICE): it feeds datagrams in and gives a send callable.
- :class:`DtlsServer` binds a socket (or takes one, :meth:`DtlsServer.from_socket`);
  :meth:`DtlsServer.accept` returns the next peer whose handshake completed. Any number of
  peers can be connected at once.

Failures raise the classes of :mod:`aiodtls.errors` (``DtlsError`` is their base). An ICMP
port or host unreachable on a client's socket ends its association at once
(:class:`~aiodtls.errors.PeerUnreachable`); a server's unconnected socket is not told of them.
"""

from __future__ import annotations

import selectors
import socket
import time
from collections import deque
from collections.abc import Callable

from .alerts import AlertDescription
from .configuration import DtlsConfiguration
from .connection import DtlsConnection, NetworkAddress
from .details import SessionDetails
from .endpoint import DtlsEndpoint, next_event
from .errors import DtlsError, HandshakeTimeout, exception_for, is_unreachable_error
from .events import ConnectionTerminated, DataReceived, DtlsEvent, HandshakeCompleted
from .sync_path import DtlsPath

__all__ = ["DtlsError", "DtlsPath", "DtlsServer", "DtlsSocket", "connect", "wrap_socket"]

_MAX_DATAGRAM = 65535


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
                except OSError as exc:
                    data = b""
                    self._socket_error(exc)
                if data:
                    self.core.receive_datagram(data, addr, _clock())
            timer = self.core.get_timer()
            if timer is not None and _clock() >= timer:
                self.core.handle_timer(_clock())

    def _flush(self) -> None:
        for data, addr in self.core.datagrams_to_send(_clock()):
            try:
                self.sock.sendto(data, addr)
            except OSError as exc:
                self._socket_error(exc)
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

    def _socket_error(self, exc: OSError) -> None:
        """An error on the socket. On a client's connected socket an ICMP port or host
        unreachable (reported by Linux on the next send or receive) ends the association,
        after what the peer sent before it went away: Linux reports the error ahead of the
        datagrams already queued, so those are read first. Anything else, and anything on a
        server's socket, is left to the timers."""
        if isinstance(self.core, DtlsConnection) and is_unreachable_error(exc):
            self._drain()
            self.core.peer_unreachable(_clock(), exc)

    def _drain(self) -> None:
        """Feed the core every datagram already queued on the socket, without waiting."""
        while True:
            try:
                data, addr = self.sock.recvfrom(_MAX_DATAGRAM, socket.MSG_DONTWAIT)
            except OSError:  # nothing left (BlockingIOError), or another error: done
                return
            self.core.receive_datagram(data, addr, _clock())

    def touch(self, connection: DtlsConnection) -> None:
        if isinstance(self.core, DtlsEndpoint):
            self.core.touch(connection)
        self._flush()

    def close(self) -> None:
        """Close the selector and the socket (idempotent)."""
        self.selector.close()
        self.sock.close()


class DtlsSocket(SessionDetails):
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

    def send(self, data: bytes) -> None:
        """Send one application record (DTLS does not retransmit application data).

        Raises the :mod:`aiodtls.errors` class of how the association ended if it has
        (:class:`~aiodtls.errors.ConnectionClosed` after a clean close), including when the
        send itself meets an ICMP unreachable from an earlier datagram.
        """
        if self.terminated is not None:
            raise exception_for(self.terminated)
        self.connection.send(data)
        self._pump.touch(self.connection)
        if self.terminated is not None and self.terminated.unreachable:
            raise exception_for(self.terminated)

    def request_key_update(self, update_requested: bool = True) -> None:
        """DTLS 1.3: a KeyUpdate (see ``DtlsConnection.request_key_update``), sent now."""
        self.connection.request_key_update(update_requested)
        self._pump.touch(self.connection)

    def request_connection_ids(self, count: int = 1) -> bool:
        """DTLS 1.3: ask the peer for spare connection IDs (``DtlsConnection.
        request_connection_ids``), sent now."""
        asked = self.connection.request_connection_ids(count)
        self._pump.touch(self.connection)
        return asked

    def use_spare_connection_id(self) -> bool:
        """DTLS 1.3: send with the peer's next spare connection ID from now on."""
        return self.connection.use_spare_connection_id()

    def recv(self, timeout: float | None = None) -> bytes | None:
        """The next record, waiting at most ``timeout`` seconds (None: for ever).

        Returns None when ``timeout`` passes, and once the association ended cleanly
        (close_notify, either side) and everything received before has been read: check
        :attr:`terminated` to tell the two apart. Raises the :mod:`aiodtls.errors` class of
        any other ending (an alert, :class:`~aiodtls.errors.PeerUnreachable`, the idle
        timeout).
        """
        self._pump.run(lambda: bool(self._received) or self.terminated is not None, timeout)
        if self._received:
            return self._received.popleft()
        t = self.terminated
        if t is not None and t.alert != AlertDescription.close_notify:
            raise exception_for(t)
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
    """Complete a DTLS handshake with (host, port) over a new, connected UDP socket (blocking).

    ``timeout`` bounds the whole handshake in seconds, like
    ``configuration.handshake_timeout`` (whichever is shorter wins). Raises a
    :class:`~aiodtls.errors.HandshakeError` if it fails: :class:`~aiodtls.errors.HandshakeTimeout`
    when time runs out, :class:`~aiodtls.errors.HandshakePeerUnreachable` at once when nothing
    listens at (host, port).
    """
    family, _, _, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.connect(addr)
    except BaseException:
        sock.close()
        raise
    return wrap_socket(sock, configuration=configuration, timeout=timeout)


def wrap_socket(
    sock: socket.socket,
    *,
    configuration: DtlsConfiguration,
    server_address: NetworkAddress | None = None,
    timeout: float | None = None,
) -> DtlsSocket:
    """Complete a client handshake over a UDP socket the application already has.

    The peer is ``server_address``, or the address ``sock`` is connected to. A connected
    socket is what lets an ICMP port unreachable end the handshake at once (Linux reports
    them only on connected UDP sockets); an unconnected one waits for the timers. From now on
    the returned :class:`DtlsSocket` owns ``sock``: its ``close()`` closes it, and nothing else
    may read from it. ``timeout`` and the errors are those of :func:`connect`.
    """
    if not configuration.is_client:
        raise ValueError("wrap_socket() needs a client configuration (servers: DtlsServer)")
    pump: _Pump | None = None
    try:
        peer = server_address if server_address is not None else sock.getpeername()
        connection = DtlsConnection(configuration=configuration)
        pump = _Pump(sock, connection)
        dtls = pump.sockets[connection] = DtlsSocket(pump, connection)
        connection.connect(peer, _clock())
        pump.run(lambda: dtls._handshake is not None or dtls.terminated is not None, timeout)
        if dtls._handshake is None:
            t = dtls.terminated
            if t is None:
                t = ConnectionTerminated(
                    alert=None,
                    reason=f"handshake timed out after {timeout:g} s (connect timeout)",
                    by_peer=False,
                    during_handshake=True,
                )
                raise HandshakeTimeout(t)
            raise exception_for(t)
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
        sock: socket.socket | None = None,
    ) -> None:
        """Bind (host, port); or, with ``sock``, serve on that bound UDP socket instead
        (host and port are then ignored; see :meth:`from_socket`)."""
        if sock is None:
            family, _, _, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.bind(addr)
            except BaseException:
                sock.close()
                raise
        self._sock = sock
        try:
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

    @classmethod
    def from_socket(
        cls,
        sock: socket.socket,
        *,
        configuration: DtlsConfiguration,
        max_half_open: int = 1000,
        max_half_open_per_source: int = 64,
    ) -> DtlsServer:
        """Serve on a UDP socket the application already bound; the server owns it from now
        on (``close()`` closes it)."""
        return cls(
            "",
            0,
            configuration=configuration,
            max_half_open=max_half_open,
            max_half_open_per_source=max_half_open_per_source,
            sock=sock,
        )

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
