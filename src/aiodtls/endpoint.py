"""The sans-I/O server endpoint: many DTLS peers on one socket.

``DtlsEndpoint`` owns the table of connections by peer address, the stateless cookie exchange
in front of it, and the limits that keep a server alive under floods:

- A datagram from an unknown address is checked without creating anything
  (``handshake.cookie.check_client_hello``): a ClientHello without a valid cookie gets a
  HelloVerifyRequest no larger than itself, anything else is dropped (SPEC C1, X14).
- Only a ClientHello that returns a valid cookie creates a connection, and only while fewer
  than ``max_half_open`` handshakes are in progress (SPEC X29). A handshake that does not
  finish ends at ``handshake_timeout`` and its slot is freed.
- An epoch-0 ClientHello on the address of a live connection starts a new handshake only once
  it carries a valid cookie, i.e. once the client proved it owns the address; until then the
  old association is untouched (RFC 6347 §4.2.8, SPEC T9, X16).

Like ``DtlsConnection`` it never reads a clock or touches a socket: a driver feeds
:meth:`receive_datagram` and pulls :meth:`datagrams_to_send`, :meth:`get_timer` and
:meth:`next_event`. Timers of all connections are kept in one heap, so the driver needs a
single timer however many peers there are.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter, deque
from dataclasses import dataclass, field

from .configuration import DtlsConfiguration
from .connection import ConnectionState, DtlsConnection, NetworkAddress
from .events import DtlsEvent
from .handshake.cookie import CookieSecrets, Verdict, check_client_hello
from .record.header import ContentType

__all__ = ["DtlsEndpoint", "EndpointStats", "next_event"]


@dataclass
class EndpointStats:
    """Counters of what the endpoint did with datagrams that created no connection."""

    hello_verify_requests: int = 0
    "HelloVerifyRequests sent (ClientHellos without a valid cookie)."
    connections_created: int = 0
    half_open_refused: int = 0
    "ClientHellos with a valid cookie dropped because ``max_half_open`` was reached."
    dropped: Counter[str] = field(default_factory=Counter)
    "Datagrams from unknown addresses dropped, by reason."


class DtlsEndpoint:
    """The server side of many DTLS associations sharing one socket."""

    def __init__(
        self,
        configuration: DtlsConfiguration,
        *,
        max_half_open: int = 1000,
        cookie_rotation: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        if configuration.is_client:
            raise ValueError("DtlsEndpoint needs a server configuration (is_client=False)")
        self.configuration = configuration
        self.max_half_open = max_half_open
        "Most handshakes in progress at once; further cookie-valid ClientHellos are dropped."
        self.stats = EndpointStats()
        self._cookies = (
            CookieSecrets(configuration.cookie_secret, rotation_period=cookie_rotation)
            if configuration.cookie_exchange
            else None
        )
        self._rng = rng
        self._connections: dict[NetworkAddress, DtlsConnection] = {}
        self._half_open: set[NetworkAddress] = set()
        self._replies: list[tuple[bytes, NetworkAddress]] = []
        self._events: deque[tuple[DtlsConnection, DtlsEvent]] = deque()
        self._timers: list[tuple[float, int, NetworkAddress]] = []
        self._timer_serial = 0
        self._scheduled: dict[NetworkAddress, float] = {}
        self._pending: set[NetworkAddress] = set()

    # -- inspection ------------------------------------------------------------------------

    @property
    def connections(self) -> dict[NetworkAddress, DtlsConnection]:
        """Live connections by peer address (read-only view for the driver)."""
        return self._connections

    @property
    def half_open(self) -> int:
        """Handshakes in progress."""
        return len(self._half_open)

    # -- input -----------------------------------------------------------------------------

    def receive_datagram(self, data: bytes, addr: NetworkAddress, now: float) -> None:
        """Route one datagram to its connection, or answer/drop it statelessly."""
        connection = self._connections.get(addr)
        if connection is not None and not (
            connection.state != ConnectionState.HANDSHAKING and _is_plain_client_hello(data)
        ):
            # A connection that ended with a fatal alert still answers repeats with it (T8).
            connection.receive_datagram(data, addr, now)
            self._after(connection, now)
            return
        check = check_client_hello(data, addr, self._cookies, now)
        if check.verdict == Verdict.VERIFY:
            self.stats.hello_verify_requests += 1
            self._replies.append((check.reply, addr))
            return
        if check.verdict == Verdict.DROP:
            self.stats.dropped[check.reason] += 1
            return
        if len(self._half_open) >= self.max_half_open:
            self.stats.half_open_refused += 1
            return
        if connection is not None and not connection.closed:
            # RFC 6347 §4.2.8: the client proved it owns the address with a valid cookie, so
            # the new handshake replaces the old association.
            connection.abort("the peer started a new handshake from the same address")
            self._after(connection, now)
        connection = DtlsConnection(
            configuration=self.configuration, cookie_secrets=self._cookies, rng=self._rng
        )
        self._connections[addr] = connection
        self._half_open.add(addr)
        self.stats.connections_created += 1
        connection.receive_datagram(data, addr, now)
        self._after(connection, now)

    # -- output ----------------------------------------------------------------------------

    def touch(self, connection: DtlsConnection) -> None:
        """The application used ``connection`` (send, close): it may have datagrams to send."""
        addr = connection.peer_address
        if addr is not None and self._connections.get(addr) is connection:
            self._pending.add(addr)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, NetworkAddress]]:
        """Stateless replies, then the datagrams of every connection that may have some.

        Connections that have ended are forgotten here, after their last datagrams (an
        alert) have been collected.
        """
        out, self._replies = self._replies, []
        pending, self._pending = self._pending, set()
        for addr in pending:
            connection = self._connections.get(addr)
            if connection is None:
                continue
            out.extend(connection.datagrams_to_send(now))
            self._schedule(addr, connection)
            if connection.closed and connection.get_timer() is None:
                self._forget(addr)
        return out

    def get_timer(self) -> float | None:
        """The earliest timer of any connection."""
        while self._timers:
            when, _, addr = self._timers[0]
            if self._scheduled.get(addr) == when:
                return when
            heapq.heappop(self._timers)  # stale: rescheduled or forgotten since
        return None

    def handle_timer(self, now: float) -> None:
        """Fire every connection timer that is due (each connection once per call)."""
        due = []
        while (when := self.get_timer()) is not None and when <= now:
            _, _, addr = heapq.heappop(self._timers)
            self._scheduled.pop(addr, None)
            due.append(addr)
        for addr in due:
            connection = self._connections.get(addr)
            if connection is not None:
                connection.handle_timer(now)
                self._after(connection, now)

    def next_event(self) -> tuple[DtlsConnection, DtlsEvent] | None:
        """The next (connection, event) pair, or None."""
        return self._events.popleft() if self._events else None

    # -- bookkeeping -----------------------------------------------------------------------

    def _after(self, connection: DtlsConnection, now: float) -> None:
        """Collect a connection's events and keep the half-open set and timer heap current."""
        addr = connection.peer_address
        while (event := connection.next_event()) is not None:
            self._events.append((connection, event))
        if addr is None:
            return
        if self._connections.get(addr) is connection:
            if connection.state != ConnectionState.HANDSHAKING:
                self._half_open.discard(addr)
            self._pending.add(addr)
            self._schedule(addr, connection)

    def _schedule(self, addr: NetworkAddress, connection: DtlsConnection) -> None:
        when = connection.get_timer()
        if when is None:
            self._scheduled.pop(addr, None)
            return
        if self._scheduled.get(addr) != when:
            self._scheduled[addr] = when
            self._timer_serial += 1
            heapq.heappush(self._timers, (when, self._timer_serial, addr))
            if len(self._timers) > 2 * len(self._scheduled) + 64:
                # Superseded entries are skipped lazily; rebuild before they pile up.
                self._timers = [(t, i, a) for i, (a, t) in enumerate(self._scheduled.items())]
                heapq.heapify(self._timers)

    def _forget(self, addr: NetworkAddress) -> None:
        self._connections.pop(addr, None)
        self._half_open.discard(addr)
        self._scheduled.pop(addr, None)
        self._pending.discard(addr)


def next_event(core: DtlsConnection | DtlsEndpoint) -> tuple[DtlsConnection, DtlsEvent] | None:
    """The next (connection, event) of a client connection or of a server endpoint, so that a
    driver handles both cores with one loop."""
    if isinstance(core, DtlsEndpoint):
        return core.next_event()
    event = core.next_event()
    return None if event is None else (core, event)


def _is_plain_client_hello(data: bytes) -> bool:
    """Does the datagram start with an epoch-0 handshake record carrying a ClientHello?"""
    return (
        len(data) >= 26
        and data[0] == ContentType.handshake
        and data[3] == 0
        and data[4] == 0
        and data[13] == 1  # HandshakeType.client_hello
    )
