"""The sans-I/O server endpoint: many DTLS peers on one socket.

``DtlsEndpoint`` owns the table of connections by peer address, the stateless cookie exchange
in front of it, and the limits that keep a server alive under floods and replays
(docs/security.md lists them all):

- A ClientHello from an unknown address goes through the cookie door
  (``handshake.cookie.CookieDoor``) without creating anything: one without a valid cookie
  gets a HelloVerifyRequest, twice when both copies together are no larger than the
  ClientHello (``handshake.cookie.HELLO_VERIFY_COPIES``); anything else is dropped (SPEC C1,
  X14). A connection is created with the door's ``Admit``, so its handshake starts from the
  verified ClientHello and the cookie is checked once.
- Only a ClientHello that returns a valid cookie creates a connection, and only while fewer
  than ``max_half_open`` handshakes are in progress, and fewer than
  ``max_half_open_per_source`` from its source (an IPv4 address or an IPv6 /64) (SPEC X29).
  A handshake that does not finish ends at ``handshake_timeout`` and frees its slot.
- A ClientHello is remembered by (address, random) for the cookie's lifetime: its copies go to
  the handshake it created or are dropped, and never create a second one. With the server's
  limit on sending its first flight to a silent client (``max_unanswered_transmissions``)
  this bounds what any number of replays of one ClientHello make the server send (X14).
- A ClientHello with a new random on the address of a live association starts a new
  handshake once its cookie is valid. A half-open one is replaced at once (the client
  restarted); an established one is kept, and keeps its datagrams, until the new handshake
  completes, i.e. until the new peer's Finished verified (RFC 6347 §4.2.8, SPEC T9, X16).
- Every connection's reassembly draws on one ``max_buffered_handshake_bytes`` budget (F5).
- With ``connection_id_length`` set, each connection asks for a CID unique in the endpoint,
  and a datagram whose first record is tls12_cid is routed by that CID, whatever its source
  address (RFC 9146; one CID length for the whole endpoint, since the wire does not carry
  it). An unknown CID is dropped and counted. The connection moves its peer address only for
  an authenticated record newer than any seen (SPEC I5, ``aiodtls.migration``); the table of
  addresses follows it (docs/connection-ids.md). DTLS 1.3 the same: a datagram whose first
  record is a unified header with the C bit is routed by the CID after its first byte, and
  the further CIDs a connection gives in a NewConnectionId (RFC 9147 §9) are drawn here, so
  they stay unique and route to it too.

Like ``DtlsConnection`` it never reads a clock or touches a socket: a driver feeds
:meth:`receive_datagram` and pulls :meth:`datagrams_to_send`, :meth:`get_timer` and
:meth:`next_event`. Timers of all connections are kept in one heap, so the driver needs a
single timer however many peers there are.
"""

from __future__ import annotations

import heapq
import ipaddress
import os
import random
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field
from functools import partial

from .budget import BufferBudget
from .configuration import DtlsConfiguration
from .connection import ConnectionState, DtlsConnection, NetworkAddress
from .events import DtlsEvent
from .handshake.cookie import (
    Challenge,
    CookieDoor,
    CookieSecrets,
    ParsedClientHello,
    parse_client_hello,
)
from .handshake.hello_retry import cookie_exchange_for
from .trace import Tracer
from .wire import ContentType, peek_cid, starts_in_epoch_zero, starts_with_plain_client_hello

__all__ = ["DtlsEndpoint", "EndpointStats", "next_event", "source_of"]

# Module-level names: reading a member off an Enum class costs a lookup per datagram.
_HANDSHAKING = ConnectionState.HANDSHAKING
_ESTABLISHED = ConnectionState.ESTABLISHED
_CLOSED = ConnectionState.CLOSED
_APPLICATION_DATA = int(ContentType.application_data)


@dataclass
class EndpointStats:
    """Counters of what the endpoint did with datagrams that created no connection."""

    hello_verify_requests: int = 0
    "HelloVerifyRequests sent (ClientHellos without a valid cookie)."
    connections_created: int = 0
    half_open_refused: int = 0
    "ClientHellos with a valid cookie dropped because ``max_half_open`` was reached."
    half_open_refused_per_source: int = 0
    "ClientHellos with a valid cookie dropped because their source had too many handshakes."
    cookies_refused: Counter[str] = field(default_factory=Counter)
    "ClientHellos whose cookie was not valid (answered with a new HelloVerifyRequest), by reason."
    replayed_hellos: int = 0
    "ClientHellos dropped because one with the same address and random was accepted already."
    replacements: int = 0
    "Established associations replaced by a completed new handshake from the same address."
    dropped: Counter[str] = field(default_factory=Counter)
    "Datagrams from unknown addresses dropped, by reason."
    unknown_connection_ids: int = 0
    "Datagrams starting with a tls12_cid record whose CID no connection owns (dropped)."
    peer_address_changes: int = 0
    "Times a connection's peer moved to another address (connection IDs, RFC 9146 §6)."


def source_of(addr: NetworkAddress) -> object:
    """The source a per-source limit counts against: the IPv4 address, or the IPv6 /64 (one
    subscriber usually owns a whole /64)."""
    try:
        ip = ipaddress.ip_address(addr[0])
    except (TypeError, ValueError, IndexError):
        return addr
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        return ipaddress.IPv6Network((int(ip) >> 64 << 64, 64))
    return ip


class DtlsEndpoint:
    """The server side of many DTLS associations sharing one socket."""

    def __init__(
        self,
        configuration: DtlsConfiguration,
        *,
        max_half_open: int = 1000,
        max_half_open_per_source: int = 64,
        max_buffered_handshake_bytes: int = 16 * 2**20,
        cookie_rotation: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        if configuration.is_client:
            raise ValueError("DtlsEndpoint needs a server configuration (is_client=False)")
        configuration.validate()  # fail here, not inside receive_datagram
        self.configuration = configuration
        self.max_half_open = max_half_open
        "Most handshakes in progress at once; further cookie-valid ClientHellos are dropped."
        self.max_half_open_per_source = max_half_open_per_source
        "Most handshakes in progress from one IPv4 address or IPv6 /64."
        self.stats = EndpointStats()
        self._trace = Tracer("server", configuration.trace)
        self._door = CookieDoor(
            CookieSecrets(configuration.cookie_secret, rotation_period=cookie_rotation)
            if configuration.cookie_exchange
            else None,
            exchange=cookie_exchange_for(configuration),
        )
        self._budget = BufferBudget(max_buffered_handshake_bytes)
        self._rng = rng
        self._connections: dict[NetworkAddress, DtlsConnection] = {}
        self._cid_length = configuration.connection_id_length or 0
        self._by_cid: dict[bytes, DtlsConnection] = {}
        self._cids: dict[DtlsConnection, bytes] = {}
        # DTLS 1.3: the further CIDs a connection gave its peer (NewConnectionId).
        self._more_cids: dict[DtlsConnection, list[bytes]] = {}
        self._replacements: dict[NetworkAddress, DtlsConnection] = {}
        self._randoms: dict[DtlsConnection, bytes] = {}
        self._half_open: dict[DtlsConnection, object] = {}
        self._half_open_per_source: Counter[object] = Counter()
        # (address, ClientHello random) of accepted ClientHellos -> when their cookie expires.
        self._accepted: OrderedDict[tuple[NetworkAddress, bytes], float] = OrderedDict()
        self._max_accepted = 8 * max_half_open
        self._replies: list[tuple[bytes, NetworkAddress]] = []
        self._events: deque[tuple[DtlsConnection, DtlsEvent]] = deque()
        self._timers: list[tuple[float, int, DtlsConnection]] = []
        self._timer_serial = 0
        self._scheduled: dict[DtlsConnection, float] = {}
        self._pending: set[DtlsConnection] = set()

    # -- inspection ------------------------------------------------------------------------

    @property
    def connections(self) -> dict[NetworkAddress, DtlsConnection]:
        """The association serving each peer address (read-only view for the driver). A new
        handshake on the address of an established one is not listed until it completes."""
        return self._connections

    @property
    def half_open(self) -> int:
        """Handshakes in progress."""
        return len(self._half_open)

    @property
    def buffered_handshake_bytes(self) -> int:
        """Bytes all connections hold in handshake reassembly (see reliability.reassembly)."""
        return self._budget.used

    # -- input -----------------------------------------------------------------------------

    def receive_datagram(self, data: bytes, addr: NetworkAddress, now: float) -> None:
        """Route one datagram to its connection, or answer/drop it statelessly."""
        if self._cid_length:
            cid = peek_cid(data, self._cid_length)
            if cid is not None:
                self._receive_by_cid(cid, data, addr, now)
                return
        connection = self._connections.get(addr)
        if connection is not None and data and data[0] == _APPLICATION_DATA:
            # The usual datagram of an established association (it cannot be a ClientHello).
            self._deliver(connection, data, addr, now)
            return
        hello = parse_client_hello(data) if starts_with_plain_client_hello(data) else None
        if isinstance(hello, ParsedClientHello):
            self._receive_client_hello(hello, data, addr, now, connection)
        elif connection is None:
            self.stats.dropped[str(hello) if hello is not None else "not a ClientHello"] += 1
        else:
            self._deliver(connection, data, addr, now)

    def _receive_by_cid(self, cid: bytes, data: bytes, addr: NetworkAddress, now: float) -> None:
        """A datagram starting with a tls12_cid record: its CID names the connection, from
        whatever address it came (RFC 9146 §6); the connection decides whether its peer moved."""
        connection = self._by_cid.get(cid)
        if connection is None or not self._is_current(connection):
            self.stats.unknown_connection_ids += 1
            self._trace.now = now
            self._trace("datagram_dropped", peer=str(addr), reason="unknown connection ID")
            return
        old = connection.peer_address
        connection.receive_datagram(data, addr, now)
        if connection.peer_address != old:
            self._readdress(connection, old)
        self._after(connection, now)

    def _readdress(self, connection: DtlsConnection, old: NetworkAddress) -> None:
        """The peer of ``connection`` moved from ``old``: the address table follows it."""
        new = connection.peer_address
        if self._connections.get(old) is connection:
            del self._connections[old]
            replacement = self._replacements.pop(old, None)
            if replacement is not None:  # a new handshake from the old address stays there
                self._connections[old] = replacement
        occupant = self._connections.get(new)
        if occupant is not None and occupant not in self._cids:
            # Only one peer can be at an address: the one that just proved it is there. An
            # occupant with a CID stays reachable by it; one without is gone (its NAT
            # binding was given to another device).
            occupant.abort("another peer took over its address")
            self._events.extend((occupant, e) for e in iter(occupant.next_event, None))
            self._forget(occupant)
        self._connections[new] = connection
        if occupant is not None and not self._is_current(occupant):
            # It kept its CID but a handshake is not reachable by it: no longer served.
            self._pending.discard(occupant)
        self.stats.peer_address_changes += 1

    def _issue_connection_ids(self, connection: DtlsConnection, count: int) -> list[bytes]:
        """Up to ``count`` fresh CIDs for ``connection`` to give its peer in a DTLS 1.3
        NewConnectionId (RFC 9147 §9): unique among the endpoint's, routed to it from now on
        and freed with it."""
        cids: list[bytes] = []
        for _ in range(count):
            cid = self._new_connection_id()
            if cid is None:
                break
            self._by_cid[cid] = connection
            cids.append(cid)
        if cids:
            self._more_cids.setdefault(connection, []).extend(cids)
        return cids

    def _new_connection_id(self) -> bytes | None:
        """A random CID no connection of this endpoint owns, or None if none was found."""
        for _ in range(64):
            cid = os.urandom(self._cid_length)
            if cid not in self._by_cid:
                return cid
        return None

    def _deliver(
        self, connection: DtlsConnection, data: bytes, addr: NetworkAddress, now: float
    ) -> None:
        """A datagram for the association at ``addr``, or for the new handshake beside it:
        plaintext goes to the new handshake, protected records to whichever authenticates
        them, the established association first."""
        replacement = self._replacements.get(addr) if self._replacements else None
        if replacement is not None:
            if starts_in_epoch_zero(data):  # plaintext: only the new handshake has any use for it
                self._feed(replacement, data, addr, now)
                return
            authenticated = connection.stats.records_accepted
            self._feed(connection, data, addr, now)
            if connection.stats.records_accepted != authenticated:
                return
            connection = replacement
        # A connection that ended with a fatal alert still answers repeats with it (T8).
        connection.receive_datagram(data, addr, now)
        self._after(connection, now)

    def _receive_client_hello(
        self,
        hello: ParsedClientHello,
        data: bytes,
        addr: NetworkAddress,
        now: float,
        connection: DtlsConnection | None,
    ) -> None:
        random_ = hello.hello.random
        for candidate in (connection, self._replacements.get(addr)):
            if candidate is not None and self._randoms.get(candidate) == random_:
                if candidate.state == ConnectionState.ESTABLISHED:
                    # The ClientHello of a finished handshake: a replay, or a copy that was
                    # late. Either way there is nothing to answer.
                    self.stats.replayed_hellos += 1
                    return
                # A repeat for the handshake it started (lost flight), or a repeat of what a
                # failed handshake refused (T8): the connection knows what to do.
                self._feed(candidate, data, addr, now)
                return
        verdict = self._door.admit(
            hello.hello, hello.record_sequence_number, hello.datagram_size, addr, now
        )
        if isinstance(verdict, Challenge):
            self.stats.hello_verify_requests += 1
            if verdict.refused:
                # A client that keeps sending a cookie we refuse would otherwise loop on
                # HelloVerifyRequests with nothing to show why (issue 9 item 5).
                self.stats.cookies_refused[verdict.reason] += 1
                self._trace.now = now
                self._trace("cookie_refused", peer=str(addr), reason=verdict.reason)
            self._replies.extend([(reply, addr) for reply in verdict.datagrams])
            return
        key = (addr, random_)
        self._expire_accepted(now)
        if key in self._accepted:
            self.stats.replayed_hellos += 1
            return
        source = source_of(addr)
        if len(self._half_open) >= self.max_half_open:
            self.stats.half_open_refused += 1
            return
        if self._half_open_per_source[source] >= self.max_half_open_per_source:
            self.stats.half_open_refused_per_source += 1
            return
        max_age = self._door.max_age
        if max_age is not None:
            # Kept a little longer than the cookie lives (its clock counts whole milliseconds).
            self._accepted[key] = now + max_age + 1.0
        if len(self._accepted) > self._max_accepted:
            self._accepted.popitem(last=False)
        cid: bytes | None = None
        if self._cid_length:
            cid = self._new_connection_id()
            if cid is None:
                self.stats.dropped["no free connection ID"] += 1
                return
        new = DtlsConnection(
            configuration=self.configuration,
            admitted=verdict,
            rng=self._rng,
            buffer_budget=self._budget,
            connection_id=cid,
        )
        if cid is not None:
            self._by_cid[cid] = new
            self._cids[new] = cid
        self._randoms[new] = random_
        self._half_open[new] = source
        self._half_open_per_source[source] += 1
        self.stats.connections_created += 1
        if connection is not None and connection.state == ConnectionState.ESTABLISHED:
            # RFC 6347 §4.2.8: the old association stays until the new handshake completes.
            previous = self._replacements.get(addr)
            if previous is not None:
                previous.abort("superseded by a newer handshake from the same address")
                self._after(previous, now)
                self._forget(previous)
            self._replacements[addr] = new
        else:
            if connection is not None and not connection.closed:
                connection.abort("the peer restarted its handshake from the same address")
                self._after(connection, now)
            if connection is not None:
                self._forget(connection)
            self._connections[addr] = new
        self._feed(new, data, addr, now)
        if cid is not None:
            # DTLS 1.3: CIDs it gives later (NewConnectionId) come from here, to be routed.
            new._issue_connection_ids_from(partial(self._issue_connection_ids, new))

    def _expire_accepted(self, now: float) -> None:
        while self._accepted:
            key, expires = next(iter(self._accepted.items()))
            if expires >= now:
                return
            del self._accepted[key]

    # -- output ----------------------------------------------------------------------------

    def touch(self, connection: DtlsConnection) -> None:
        """The application used ``connection`` (send, close): it may have datagrams to send.
        (One the endpoint no longer serves is ignored: pending connections are always ones
        it serves, see :meth:`_after`.)"""
        if self._serves(connection):
            self._pending.add(connection)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, NetworkAddress]]:
        """Stateless replies, then the datagrams of every connection that may have some.

        Connections that have ended are forgotten here, after their last datagrams (an
        alert) have been collected.
        """
        out, self._replies = self._replies, []
        pending = self._pending
        if not pending:
            return out
        self._pending = set()
        for connection in pending:  # all served by the endpoint (see _after)
            out.extend(connection.datagrams_to_send(now))
            self._schedule(connection)
            if connection.state is _CLOSED and connection.get_timer() is None:
                self._forget(connection)
        return out

    def get_timer(self) -> float | None:
        """The earliest timer of any connection."""
        if self._pending:
            self._schedule_pending()
        timers = self._timers
        if timers:  # the usual case, written out: the heap's top is current
            when, _, connection = timers[0]
            if self._scheduled.get(connection) == when:
                return when
        return self._earliest()

    def _earliest(self) -> float | None:
        """The earliest deadline in the heap, dropping superseded entries off its top."""
        while self._timers:
            when, _, connection = self._timers[0]
            if self._scheduled.get(connection) == when:
                return when
            heapq.heappop(self._timers)  # stale: rescheduled or forgotten since
        return None

    def handle_timer(self, now: float) -> None:
        """Fire every connection timer that is due (each connection once per call)."""
        if self._pending:
            self._schedule_pending()
        due = []
        while (when := self._earliest()) is not None and when <= now:
            _, _, connection = heapq.heappop(self._timers)
            self._scheduled.pop(connection, None)
            due.append(connection)
        for connection in due:
            if self._is_current(connection):
                connection.handle_timer(now)
                self._after(connection, now)

    def next_event(self) -> tuple[DtlsConnection, DtlsEvent] | None:
        """The next (connection, event) pair, or None."""
        return self._events.popleft() if self._events else None

    # -- bookkeeping -----------------------------------------------------------------------

    def _feed(
        self, connection: DtlsConnection, data: bytes, addr: NetworkAddress, now: float
    ) -> None:
        connection.receive_datagram(data, addr, now)
        self._after(connection, now)

    def _serves(self, connection: DtlsConnection) -> bool:
        """Does the endpoint still serve ``connection``? An established one always: every
        connection the endpoint lets go of was ended first (``abort``, or closed before
        :meth:`datagrams_to_send` forgets it). Others are looked up (:meth:`_is_current`)."""
        return connection.state is _ESTABLISHED or self._is_current(connection)

    def _is_current(self, connection: DtlsConnection) -> bool:
        addr = connection.peer_address
        return addr is not None and (
            self._connections.get(addr) is connection
            or self._replacements.get(addr) is connection
            or (connection in self._cids and connection.state != _HANDSHAKING)
        )

    def _after(self, connection: DtlsConnection, now: float) -> None:
        """Collect a connection's events, keep the tables current and mark the connection
        pending: its datagrams and its timer are taken by :meth:`datagrams_to_send` (which
        the driver calls next), or its timer by :meth:`get_timer` if that comes first.

        Only connections the endpoint serves become pending (here and in :meth:`touch`), and
        one that stops being served leaves the pending set at once (:meth:`_forget`, and
        :meth:`_readdress` for one that keeps its CID), so taking them needs no check."""
        while (event := connection.next_event()) is not None:
            self._events.append((connection, event))
        if not self._serves(connection):
            return
        if connection in self._half_open and connection.state != _HANDSHAKING:
            self._end_half_open(connection)
        if self._replacements:
            self._replace_if_completed(connection)
        self._pending.add(connection)

    def _replace_if_completed(self, connection: DtlsConnection) -> None:
        """If ``connection`` is the new handshake beside an established association and has
        just completed, the old association is gone for good. (A new handshake that failed
        stays beside it until its alert is sent and its linger ends, like any failed
        connection.)"""
        addr = connection.peer_address
        if self._replacements.get(addr) is not connection or connection.state != _ESTABLISHED:
            return
        del self._replacements[addr]
        old = self._connections[addr]
        old.abort("replaced by a new handshake from the same address")
        self._events.extend((old, e) for e in iter(old.next_event, None))
        self._forget(old)
        self._connections[addr] = connection
        self.stats.replacements += 1

    def _end_half_open(self, connection: DtlsConnection) -> None:
        source = self._half_open.pop(connection, None)
        if source is not None:
            self._half_open_per_source[source] -= 1
            if not self._half_open_per_source[source]:
                del self._half_open_per_source[source]

    def _schedule_pending(self) -> None:
        """Put the timers of the connections used since :meth:`datagrams_to_send` in the heap
        (they stay pending: their datagrams are still to be taken)."""
        for connection in self._pending:
            self._schedule(connection)

    def _schedule(self, connection: DtlsConnection) -> None:
        when = connection.get_timer()
        if when is None:
            self._scheduled.pop(connection, None)
            return
        if self._scheduled.get(connection) != when:
            self._scheduled[connection] = when
            self._timer_serial += 1
            heapq.heappush(self._timers, (when, self._timer_serial, connection))
            if len(self._timers) > 2 * len(self._scheduled) + 64:
                # Superseded entries are skipped lazily; rebuild before they pile up.
                self._timers = [(t, i, c) for i, (c, t) in enumerate(self._scheduled.items())]
                heapq.heapify(self._timers)

    def _forget(self, connection: DtlsConnection) -> None:
        addr = connection.peer_address
        if self._connections.get(addr) is connection:
            del self._connections[addr]
            replacement = self._replacements.pop(addr, None)
            if replacement is not None:
                # The old association ended on its own: the new handshake takes its place.
                self._connections[addr] = replacement
        if self._replacements.get(addr) is connection:
            del self._replacements[addr]
        self._end_half_open(connection)
        cid = self._cids.pop(connection, None)
        if cid is not None:
            del self._by_cid[cid]
            if self._more_cids:
                for more in self._more_cids.pop(connection, ()):
                    del self._by_cid[more]
        self._randoms.pop(connection, None)
        self._scheduled.pop(connection, None)
        self._pending.discard(connection)


def next_event(core: DtlsConnection | DtlsEndpoint) -> tuple[DtlsConnection, DtlsEvent] | None:
    """The next (connection, event) of a client connection or of a server endpoint, so that a
    driver handles both cores with one loop."""
    if isinstance(core, DtlsEndpoint):
        return core.next_event()
    event = core.next_event()
    return None if event is None else (core, event)
