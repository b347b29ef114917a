"""The asyncio face of one DTLS association, and the protocol that drives the core.

``DtlsSession`` is what applications hold: ``send``, ``await recv()``, ``close()``,
``await wait_closed()`` and the handshake details. ``DtlsProtocol`` is an
``asyncio.DatagramProtocol`` around a sans-I/O core (one ``DtlsConnection`` for a client, a
``DtlsEndpoint`` for a server): it feeds received datagrams in, sends what the core wants
sent, and keeps exactly one ``loop.call_at`` handle for the core's timer, so retransmissions
happen whatever the application is doing. There is no protocol logic here.

The driver works once per datagram, so it does only what that datagram needs: the loop timer
is re-armed only when the core's next deadline comes earlier than the one armed (the idle
deadline moves later with every record received; a timer set too early re-checks when it
fires), and a record received wakes the ``recv()`` waiting for it through one future, with
no task of the driver's own.

The protocol works with any transport that has ``sendto(data, addr)``: applications that own
their socket (WebRTC, where DTLS shares a port with STUN and RTP, RFC 7983) call
``connection_made(their_transport)`` and ``datagram_received`` themselves, after sorting
datagrams with :func:`aiodtls.demux.classify`.

Failures raise the classes of :mod:`aiodtls.errors`; ``ConnectionClosed`` here is
:class:`aiodtls.errors.ConnectionClosed`, the base of every one of them that ends an
association. An ICMP port or host unreachable on a client's socket (``error_received``) ends
its association at once with :class:`~aiodtls.errors.PeerUnreachable`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ..connection import DtlsConnection, NetworkAddress
from ..details import SessionDetails
from ..endpoint import DtlsEndpoint
from ..errors import ConnectionClosed, exception_for, is_unreachable_error
from ..events import ConnectionTerminated, DataReceived, DtlsEvent, HandshakeCompleted

__all__ = ["ConnectionClosed", "DtlsProtocol", "DtlsSession"]

logger = logging.getLogger("aiodtls.asyncio")


class DtlsSession(SessionDetails):
    """One DTLS association as an application sees it (client or server side)."""

    def __init__(self, connection: DtlsConnection, protocol: DtlsProtocol) -> None:
        self.connection = connection
        "The sans-I/O connection underneath."
        self._protocol = protocol
        self._received: deque[bytes] = deque()
        # One future per recv() waiting for a record (usually one), woken by _wake().
        self._waiters: list[asyncio.Future[None]] = []
        loop = asyncio.get_running_loop()
        self._handshake: asyncio.Future[HandshakeCompleted] = loop.create_future()
        self._closed: asyncio.Future[ConnectionTerminated] = loop.create_future()

    # -- handshake details -----------------------------------------------------------------

    @property
    def handshake(self) -> HandshakeCompleted:
        """The completed handshake (suite, version, peer certificates, PSK identity ...)."""
        if not self._handshake.done() or self._handshake.exception() is not None:
            raise RuntimeError("the handshake has not completed")
        return self._handshake.result()

    @property
    def cipher_suite(self) -> str:
        """The negotiated suite's IANA name."""
        return self.handshake.cipher_suite

    @property
    def protocol_version(self) -> str:
        """``'DTLSv1.2'``."""
        return self.handshake.protocol_version

    @property
    def peer_certificates(self) -> list[x509.Certificate]:
        """The peer's certificate chain, leaf first (empty for PSK)."""
        return self.handshake.peer_certificates

    @property
    def peer_public_key(self) -> ec.EllipticCurvePublicKey | rsa.RSAPublicKey | None:
        """The peer's RFC 7250 raw public key, when it authenticated with one (else None)."""
        return self.handshake.peer_public_key

    @property
    def psk_identity(self) -> bytes | None:
        """The PSK identity, for PSK suites."""
        return self.handshake.psk_identity

    def max_payload(self) -> int:
        """Largest ``send()`` that fits one datagram."""
        return self.connection.max_payload()

    # -- data ------------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Send one application record now (DTLS does not retransmit application data)."""
        if self._closed.done():
            raise exception_for(self._closed.result())
        self.connection.send(data)
        self._protocol.transmit(self.connection)

    def request_key_update(self, update_requested: bool = True) -> None:
        """DTLS 1.3: a KeyUpdate (see ``DtlsConnection.request_key_update``), sent now."""
        self.connection.request_key_update(update_requested)
        self._protocol.transmit(self.connection)

    def request_connection_ids(self, count: int = 1) -> bool:
        """DTLS 1.3: ask the peer for spare connection IDs (``DtlsConnection.
        request_connection_ids``), sent now."""
        asked = self.connection.request_connection_ids(count)
        self._protocol.transmit(self.connection)
        return asked

    def use_spare_connection_id(self) -> bool:
        """DTLS 1.3: send with the peer's next spare connection ID from now on."""
        return self.connection.use_spare_connection_id()

    async def recv(self, timeout: float | None = None) -> bytes:
        """The next record, waiting at most ``timeout`` seconds (None: for ever).

        Raises ``TimeoutError`` when ``timeout`` passes (the session stays usable), and the
        :mod:`aiodtls.errors` class of how the association ended once it has and everything
        received before has been read (:class:`ConnectionClosed` itself for a clean close).
        """
        received = self._received
        if received:
            return received.popleft()
        loop = self._protocol._loop
        deadline = None if timeout is None else loop.time() + timeout
        while not received:
            if self._closed.done():
                raise exception_for(self._closed.result())
            # One future of our own, woken by _wake() when a record or the end arrives.
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                if deadline is None:
                    await waiter
                else:
                    await asyncio.wait_for(waiter, max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:  # not the builtin TimeoutError before Python 3.11
                raise TimeoutError(f"no record within {timeout:g} s") from None
            finally:
                self._waiters.remove(waiter)
        return received.popleft()

    def __aiter__(self) -> DtlsSession:
        """``async for data in session``: every record until the association ends (cleanly
        or not: the loop just stops)."""
        return self

    async def __anext__(self) -> bytes:
        """The next record (``recv()``), or the end of the iteration once the association
        has ended."""
        try:
            return await self.recv()
        except ConnectionClosed:
            raise StopAsyncIteration from None

    def close(self) -> None:
        """Send close_notify and end the association (idempotent)."""
        if not self.connection.closed:
            self.connection.close()
            self._protocol.transmit(self.connection)

    async def wait_closed(self) -> ConnectionTerminated:
        """Wait until the association has ended; returns how it ended."""
        return await asyncio.shield(self._closed)

    async def wait_handshake(self) -> HandshakeCompleted:
        """Wait for the handshake; raises a :class:`~aiodtls.errors.HandshakeError` if it
        fails."""
        return await asyncio.shield(self._handshake)

    @property
    def closed(self) -> bool:
        """True once the association has ended."""
        return self._closed.done()

    # -- from the protocol -----------------------------------------------------------------

    def _deliver(self, data: bytes) -> None:
        """A record arrived: queue it and wake whoever waits in ``recv()``."""
        self._received.append(data)
        if self._waiters:
            self._wake()

    def _wake(self) -> None:
        """Wake every ``recv()`` waiting (each re-checks what is queued)."""
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _on_event(self, event: DtlsEvent) -> None:
        """An event of the connection other than a record (the protocol's
        ``record_received`` hands those to :meth:`_deliver`)."""
        if isinstance(event, HandshakeCompleted):
            if not self._handshake.done():
                self._handshake.set_result(event)
        elif isinstance(event, ConnectionTerminated):
            if not self._handshake.done():
                self._handshake.set_exception(exception_for(event))
                self._handshake.exception()  # retrieved: nobody may be waiting
            if not self._closed.done():
                self._closed.set_result(event)
            self._wake()


class DtlsProtocol(asyncio.DatagramProtocol):
    """Drives a sans-I/O core (a client ``DtlsConnection`` or a server ``DtlsEndpoint``)."""

    def __init__(self, core: DtlsConnection | DtlsEndpoint) -> None:
        self.core = core
        self._endpoint = core if isinstance(core, DtlsEndpoint) else None
        self._connection = core if isinstance(core, DtlsConnection) else None
        self._loop = asyncio.get_running_loop()
        self._transport: Any = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self.sessions: dict[DtlsConnection, DtlsSession] = {}
        "Sessions by connection, until they end."

    # -- asyncio.DatagramProtocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport (anything with ``sendto(data, addr)``)."""
        self._transport = transport

    def datagram_received(self, data: bytes, addr: NetworkAddress) -> None:
        """Feed one datagram to the core."""
        now = self._loop.time()
        self.core.receive_datagram(data, addr, now)
        self._process(now)

    def error_received(self, exc: Exception) -> None:
        """A socket error. On a client's connected socket an ICMP port or host unreachable
        ends the association at once (``PeerUnreachable``); anything else, and anything on a
        server's socket, is left to the timers."""
        logger.debug("datagram error: %s", exc)
        if self._connection is not None and is_unreachable_error(exc):
            now = self._loop.time()
            self._connection.peer_unreachable(now, exc)
            self._process(now)

    def connection_lost(self, exc: Exception | None) -> None:
        """The transport closed: stop the timer; sessions end without sending anything."""
        self._cancel_timer()
        for connection in list(self.sessions):
            connection.abort("the transport was closed")
        self._transport = None
        self._dispatch()

    # -- driving ---------------------------------------------------------------------------

    def start(self, addr: NetworkAddress) -> DtlsSession:
        """Client: start the handshake with the server at ``addr`` and return the session
        (``await session.wait_handshake()`` to wait for it)."""
        if self._connection is None:
            raise TypeError("start() is for a protocol around a client DtlsConnection")
        session = self.sessions[self._connection] = DtlsSession(self._connection, self)
        self._connection.connect(addr, self._loop.time())
        self.transmit()
        return session

    def transmit(self, connection: DtlsConnection | None = None) -> None:
        """Send whatever is due now (call after using a connection directly)."""
        if connection is not None and self._endpoint is not None:
            self._endpoint.touch(connection)
        self._process(self._loop.time())

    def _process(self, now: float) -> None:
        """After the core was used at ``now``: send what it has to send, hand its events to
        the sessions, keep the timer (re-armed only when its deadline came earlier, see
        :meth:`_arm_timer`; the usual case, checked here, is that it did not)."""
        core = self.core
        datagrams = core.datagrams_to_send(now)
        if datagrams:
            transport = self._transport
            if transport is not None:
                for data, addr in datagrams:
                    transport.sendto(data, addr)
        self._dispatch()
        when = core.get_timer()
        at = self._timer_at
        if when is None or at is None or when < at:
            self._arm_timer(when)

    def _dispatch(self) -> None:
        """Hand every pending event of the core to its session (usually none, or one)."""
        if self._endpoint is not None:
            endpoint = self._endpoint
            while (item := endpoint.next_event()) is not None:
                self._handle_event(*item)
        elif self._connection is not None:
            connection = self._connection
            while (event := connection.next_event()) is not None:
                self._handle_event(connection, event)

    def _handle_event(self, connection: DtlsConnection, event: DtlsEvent) -> None:
        """One event: a record goes to :meth:`record_received`; the others may create the
        session (a server's peer), end it, or call the hooks."""
        session = self.sessions.get(connection)
        if session is None:
            if isinstance(event, ConnectionTerminated):
                self.handshake_failed(connection, event)
                return
            session = self.sessions[connection] = DtlsSession(connection, self)
        if type(event) is DataReceived:
            try:
                self.record_received(session, event.data)
            except Exception:
                # The application's hook: the driver's own work (the other events, the
                # timer) must go on whatever it raises.
                logger.exception("record_received failed for %s", session.peer_address)
            return
        session._on_event(event)
        if isinstance(event, HandshakeCompleted):
            self.session_established(session)
        elif isinstance(event, ConnectionTerminated):
            del self.sessions[connection]

    def record_received(self, session: DtlsSession, data: bytes) -> None:
        """Called with each record that arrives for ``session`` (a hook). By default the
        record is queued for ``session.recv()``. Override it to handle records as they arrive,
        inside the protocol's callback as ``asyncio.DatagramProtocol.datagram_received`` does
        with datagrams, with no task to wake per record (a relay, an echo); what the override
        does not pass to ``super().record_received`` never reaches ``recv()``. It must not
        block; what it raises is logged (logger ``aiodtls.asyncio``) and that record is
        dropped, the session and its timers going on."""
        session._deliver(data)

    def session_established(self, session: DtlsSession) -> None:
        """Called once per completed handshake (a hook: servers start the handler here)."""

    def handshake_failed(self, connection: DtlsConnection, event: ConnectionTerminated) -> None:
        """Called when a server connection fails its handshake (a hook; a client's failure
        reaches its session from :meth:`start` instead)."""

    def _arm_timer(self, when: float | None) -> None:
        """Keep one loop timer at or before the core's next deadline ``when``.

        A timer already armed for that time or earlier stays (when it fires early it only
        re-arms, see :meth:`_on_timer`); a new one is armed when the deadline comes earlier
        or appears, and the timer is cancelled when the core needs none.
        """
        at = self._timer_at
        if when is None:
            if at is not None:
                self._cancel_timer()
        elif at is None or when < at:
            if at is not None:
                self._cancel_timer()
            self._timer_at = when
            self._timer = self._loop.call_at(when, self._on_timer)

    def _cancel_timer(self) -> None:
        """Cancel the loop timer, if any."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_at = None

    def _on_timer(self) -> None:
        """The loop timer fired: run the core's timers if its deadline has come, else (the
        deadline moved later since the timer was armed) arm the timer for the new one."""
        # asyncio may run a timer up to its clock resolution early; the time it was armed for
        # is what counts (as in aioquic).
        now = max(self._timer_at or 0.0, self._loop.time())
        self._timer = None
        self._timer_at = None
        when = self.core.get_timer()
        if when is not None and when <= now:
            self.core.handle_timer(now)
            self._process(self._loop.time())
        else:
            self._arm_timer(when)
