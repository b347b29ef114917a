"""A deterministic network simulator with a virtual clock, for testing sans-I/O endpoints.

Owns the *network between* endpoints: which datagram arrives where, when, how often, and in
what shape. It knows nothing about DTLS state; it reads datagrams only through the keyless
:mod:`aiodtls.dissect` view, so targeted rules can name handshake messages and fragments.

An endpoint is anything with the sans-I/O interface of :class:`DatagramEndpoint` (a
``DtlsConnection``, a server endpoint, or your own code). A :class:`Network` attaches endpoints
at addresses and applies per-direction :class:`LinkConditions`: independent loss,
Gilbert-Elliott burst loss, one-way delay with jitter, reordering, duplication, a path MTU
that silently drops larger datagrams, bit flips, and targeted :class:`Rule` objects ("drop the
3rd datagram", "drop the first copy of fragment 1 of the Certificate")::

    net = Network(seed=7)
    net.attach(client, ("10.0.0.1", 5000), name="client")
    net.attach(server, ("10.0.0.2", 4433), name="server")
    net.set_link(
        ("10.0.0.1", 5000), ("10.0.0.2", 4433),
        LinkConditions(delay=0.025, loss=0.1),
        reverse=LinkConditions(delay=0.025, rules=[drop(carries_handshake(
            HandshakeType.certificate, fragment_index=1))]),
    )
    result = net.run(until=60.0, stop=lambda: client_done())
    print(net.timeline())

No real time passes: :meth:`Network.run` jumps the virtual clock from event to event (a
delivery or an endpoint timer), so thousands of lossy handshakes run per second of wall time.
For a given seed, the same endpoints produce the same log, byte for byte.

DTLS 1.3 runs the same way (both configurations with ``versions`` allowing it): the log's
summaries name its hellos (the HelloRetryRequest too) and show each encrypted record's
unified header as on the wire (:mod:`aiodtls.dissect`), and :func:`carries_unified` targets
those records by their epoch bits, e.g. the epoch-3 ACK of the client's Finished.

Determinism and independence of impairments: each direction has its own random stream, seeded
from the network seed and the two addresses, and every datagram consumes the same fixed number
of draws whatever happens to it. So the random fate of the k-th datagram of a direction
depends only on the seed and k: adding a targeted rule or raising the MTU does not reshuffle
the losses of later datagrams, and one direction's traffic never perturbs the other's.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Protocol

from .dissect import UnifiedRecord, summarize
from .handshake.messages import HandshakeType
from .impairment import (
    Address,
    Datagram,
    DirectionImpairment,
    DirectionStats,
    GilbertElliott,
    LinkConditions,
    Match,
    Rule,
    StreamFragment,
    anything,
    carries_handshake,
    carries_record,
    drop,
    hold,
    nth,
    where,
)

__all__ = [
    "Action",
    "Address",
    "Datagram",
    "DatagramEndpoint",
    "DirectionStats",
    "GilbertElliott",
    "HandshakeType",
    "LinkConditions",
    "LogEntry",
    "Match",
    "Network",
    "Rule",
    "RunResult",
    "SimulationStalled",
    "StreamFragment",
    "anything",
    "carries_handshake",
    "carries_record",
    "carries_unified",
    "drop",
    "hold",
    "nth",
    "where",
]


class DatagramEndpoint(Protocol):
    """The sans-I/O interface the simulator drives, the same one an asyncio driver uses."""

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        """Take one datagram that arrived from ``addr``."""

    def datagrams_to_send(self, now: float) -> Iterable[tuple[bytes, Address]]:
        """Hand over everything queued for sending, as ``(data, destination)`` pairs."""

    def get_timer(self) -> float | None:
        """The absolute virtual time at which :meth:`handle_timer` is due, or None."""

    def handle_timer(self, now: float) -> None:
        """Called once ``now >= get_timer()``."""


def carries_unified(epoch_bits: int | None = None, *, length: int | None = None) -> Match:
    """Datagrams that carry a DTLS 1.3 record with the unified header (RFC 9147 §4) whose two
    low epoch bits are ``epoch_bits`` and/or whose encrypted length is ``length``.

    An observer sees no more of such a record (its content type is encrypted), so e.g.
    ``carries_unified(3)`` from the server during a handshake is its ACK of the client's
    Finished (or a NewSessionTicket), and ``carries_unified(2, length=35)`` a one-record ACK
    in epoch 2 (AES-GCM: 2 + 16 bytes, inner type, 16-byte tag).
    """
    parts = [f"epoch&3={epoch_bits}"] if epoch_bits is not None else []
    if length is not None:
        parts.append(f"length={length}")

    def test(datagram: Datagram) -> bool:
        return any(
            isinstance(item, UnifiedRecord)
            and (epoch_bits is None or item.epoch_bits == epoch_bits)
            and (length is None or item.length == length)
            for item in datagram.records
        )

    return Match(test, f"unified({', '.join(parts)})")


# --------------------------------------------------------------------------------------------
# Log and statistics


class Action(str, Enum):
    """What happened to a datagram, as recorded in the log."""

    SENT = "sent"
    "An endpoint handed it to the network (or a test injected it)."

    DROPPED = "dropped"
    "The network discarded it; the entry's ``reason`` says why."

    DUPLICATED = "duplicated"
    "The network made a second copy; both copies are later logged as delivered (or not)."

    DELIVERED = "delivered"
    "The destination endpoint received it."


@dataclass(frozen=True)
class LogEntry:
    """One event in the life of a datagram."""

    time: float
    "Virtual time of the event: the send time for sent/dropped/duplicated, else arrival time."

    action: Action
    "What happened."

    src: Address
    "Where the datagram came from."

    dst: Address
    "Where it was going."

    direction: str
    "``'<src name>-><dst name>'``, using the names given to :meth:`Network.attach`."

    index: int
    "Its 0-based position in its direction; -1 for an injected datagram."

    copy: int
    "0 for the original, 1 for the network's duplicate."

    data: bytes = field(repr=False)
    "The bytes, as delivered (bit flips included) for delivered entries."

    reason: str = ""
    """Why it was dropped (``'loss'``, ``'burst'``, ``'mtu'``, ``'no route'``, a rule label),
    ``'bit flip'`` for a corrupted delivery, ``'held'`` or ``'reordered'`` for extra delay,
    ``'injected'`` for injected datagrams."""

    cid_length: int = field(default=0, repr=False)
    "The connection ID length used to dissect the summary."

    @property
    def size(self) -> int:
        """The datagram size in bytes."""
        return len(self.data)

    @cached_property
    def summary(self) -> str:
        """The one-line dissection of the datagram (computed on first use)."""
        return summarize(self.data, cid_length=self.cid_length)

    def __str__(self) -> str:
        reason = f" [{self.reason}]" if self.reason else ""
        copy = "'" if self.copy else ""
        return (
            f"{self.time:10.6f} {self.direction} #{self.index}{copy} {self.action.value}{reason}"
            f" {self.size}B {self.summary}"
        )


# --------------------------------------------------------------------------------------------
# The network


class RunResult(str, Enum):
    """Why :meth:`Network.run` returned."""

    STOPPED = "stopped"
    "The ``stop`` callable returned true."

    IDLE = "idle"
    "Nothing is in flight and no endpoint has a timer."

    TIME_LIMIT = "time_limit"
    "The next event lies after ``until``; the clock was set to ``until``."


class SimulationStalled(RuntimeError):
    """Endpoints kept the network busy without virtual time advancing (a zero-time livelock).

    Typical causes: an endpoint whose ``handle_timer`` leaves ``get_timer()`` at or before
    ``now``, or two endpoints that answer each other over zero-delay links forever.
    """


@dataclass
class _InFlight:
    data: bytes
    src: Address
    dst: Address
    index: int
    copy: int
    reason: str


class Network:
    """A seeded, virtual-clock network between sans-I/O endpoints.

    Directions that were never configured use ``default`` conditions (a perfect, zero-delay
    link unless given). Endpoints are visited in the order they were attached, and
    simultaneous deliveries happen in the order they were scheduled, so runs are reproducible.
    """

    def __init__(
        self,
        seed: int | str = 0,
        *,
        default: LinkConditions | None = None,
        cid_length: int = 0,
        keep_log: bool = True,
        observer: Callable[[LogEntry], None] | None = None,
        start: float = 0.0,
        max_calls_per_instant: int = 100_000,
    ) -> None:
        """Create an empty network.

        :param seed: seeds every direction's random stream.
        :param default: conditions of directions not set with :meth:`set_conditions`.
        :param cid_length: connection ID length for dissecting (rules, log summaries).
        :param keep_log: keep :attr:`log`; turn off for long sweeps that only need stats.
        :param observer: called with every :class:`LogEntry` as it happens (live timelines).
        :param start: the initial virtual time.
        :param max_calls_per_instant: endpoint calls allowed at one virtual instant before
            :class:`SimulationStalled` is raised.
        """
        self.seed = seed
        self.now = start
        "The virtual clock, in seconds."
        self.log: list[LogEntry] = []
        "Every event, in order, if ``keep_log``."
        self.cid_length = cid_length
        self.keep_log = keep_log
        self.observer = observer
        self.max_calls_per_instant = max_calls_per_instant
        self._default = default or LinkConditions()
        self._endpoints: dict[Address, DatagramEndpoint] = {}
        self._names: dict[Address, str] = {}
        self._directions: dict[tuple[Address, Address], DirectionImpairment] = {}
        # (time, tie-break counter, datagram): the counter keeps simultaneous deliveries in
        # scheduling order and never lets heapq compare two _InFlight objects.
        self._in_flight: list[tuple[float, int, _InFlight]] = []
        self._scheduled = 0

    # ---------------------------------------------------------------------- topology

    def attach(self, endpoint: DatagramEndpoint, addr: Address, *, name: str | None = None) -> None:
        """Put ``endpoint`` on the network at ``addr``; its datagrams come from ``addr``."""
        if addr in self._endpoints:
            raise ValueError(f"an endpoint is already attached at {addr!r}")
        self._endpoints[addr] = endpoint
        self._names[addr] = name or f"{addr[0]}:{addr[1]}"

    def detach(self, addr: Address) -> DatagramEndpoint:
        """Remove the endpoint at ``addr``; datagrams still in flight to it will be dropped."""
        self._names.pop(addr, None)
        return self._endpoints.pop(addr)

    def rebind(self, old: Address, new: Address) -> None:
        """Move an endpoint to a new address, as a NAT rebinding does (RFC 9146 §6).

        From now on it sends from and receives at ``new``; datagrams in flight to ``old`` are
        dropped as ``'no route'``. The new address starts with fresh direction state.
        """
        if new in self._endpoints:
            raise ValueError(f"an endpoint is already attached at {new!r}")
        # Rebuild the mapping so the endpoint keeps its place in the visiting order.
        self._endpoints = {(new if a == old else a): e for a, e in self._endpoints.items()}
        self._names = {(new if a == old else a): n for a, n in self._names.items()}

    def endpoint(self, addr: Address) -> DatagramEndpoint:
        """The endpoint attached at ``addr``."""
        return self._endpoints[addr]

    def set_conditions(self, src: Address, dst: Address, conditions: LinkConditions) -> None:
        """Apply ``conditions`` to datagrams from ``src`` to ``dst`` from now on.

        Rule counters restart with the new rules; the random stream, datagram index, burst
        state, fragment ordinals and stats of the direction carry on.
        """
        self._direction(src, dst).conditions = conditions

    def set_link(
        self,
        a: Address,
        b: Address,
        conditions: LinkConditions,
        *,
        reverse: LinkConditions | None = None,
    ) -> None:
        """Set ``a -> b`` to ``conditions`` and ``b -> a`` to ``reverse`` (default: the same)."""
        self.set_conditions(a, b, conditions)
        self.set_conditions(b, a, conditions if reverse is None else reverse)

    def conditions(self, src: Address, dst: Address) -> LinkConditions:
        """The conditions in force from ``src`` to ``dst``."""
        direction = self._directions.get((src, dst))
        return direction.conditions if direction else self._default

    # ---------------------------------------------------------------------- observation

    def stats(self, src: Address, dst: Address) -> DirectionStats:
        """Counters of the direction ``src -> dst`` (zeros if it carried nothing)."""
        return self._direction(src, dst).stats

    def all_stats(self) -> dict[tuple[Address, Address], DirectionStats]:
        """Counters of every direction that carried or was configured, by ``(src, dst)``."""
        return {key: d.stats for key, d in self._directions.items()}

    def entries(
        self,
        action: Action | str | None = None,
        *,
        src: Address | None = None,
        dst: Address | None = None,
    ) -> list[LogEntry]:
        """Log entries filtered by action and/or direction."""
        return [
            entry
            for entry in self.log
            if (action is None or entry.action == action)
            and (src is None or entry.src == src)
            and (dst is None or entry.dst == dst)
        ]

    def timeline(self) -> str:
        """The log as text, one event per line, with dissected summaries."""
        return "\n".join(str(entry) for entry in self.log)

    @property
    def pending(self) -> int:
        """Datagrams in flight (scheduled but not yet delivered)."""
        return len(self._in_flight)

    # ---------------------------------------------------------------------- driving

    def inject(self, data: bytes, src: Address, dst: Address, *, delay: float = 0.0) -> None:
        """Deliver raw bytes from ``src`` to ``dst`` after ``delay``, bypassing all conditions.

        For attack tests: spoofed ClientHellos, replayed or forged records (SPEC X14, X16).
        ``src`` need not be an attached address.
        """
        self._direction(src, dst).stats.injected += 1
        flight = _InFlight(bytes(data), src, dst, index=-1, copy=0, reason="injected")
        self._record(Action.SENT, flight)
        self._schedule(self.now + delay, flight)

    def run(
        self,
        until: float | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> RunResult:
        """Run the network until ``stop()`` is true, nothing is pending, or ``until`` passes.

        Each step collects ``datagrams_to_send`` from every endpoint, jumps the clock to the
        next event, delivers every datagram due (collecting each receiver's answers at once),
        then calls ``handle_timer`` on every endpoint whose timer is due. At one instant,
        deliveries come before timers: a datagram that arrives exactly at the deadline beats
        the retransmission. ``until`` is an absolute virtual time; events at exactly ``until``
        still happen. ``stop`` is checked before every step.
        """
        calls_at_instant = 0
        while True:
            if stop is not None and stop():
                return RunResult.STOPPED
            self._collect_all()
            next_time = self._next_event_time()
            if next_time is None:
                return RunResult.IDLE
            if until is not None and next_time > until:
                self.now = max(self.now, until)
                return RunResult.TIME_LIMIT
            if next_time > self.now:
                # Timers already in the past fire at the current time; the clock never goes back.
                self.now = next_time
                calls_at_instant = 0
            calls_at_instant += self._process_instant()
            if calls_at_instant > self.max_calls_per_instant:
                raise SimulationStalled(
                    f"{calls_at_instant} endpoint calls at t={self.now} without time advancing"
                )

    # ---------------------------------------------------------------------- internals

    def _direction(self, src: Address, dst: Address) -> DirectionImpairment:
        direction = self._directions.get((src, dst))
        if direction is None:
            # A string seed is hashed with SHA-512 by random.Random, so the stream does not
            # depend on PYTHONHASHSEED and is the same on every run and machine.
            stream_seed = f"{self.seed}|{src[0]}:{src[1]}>{dst[0]}:{dst[1]}"
            direction = DirectionImpairment(
                self._default, random.Random(stream_seed), cid_length=self.cid_length
            )
            self._directions[(src, dst)] = direction
        return direction

    def _name(self, addr: Address) -> str:
        return self._names.get(addr) or f"{addr[0]}:{addr[1]}"

    def _record(self, action: Action, flight: _InFlight, reason: str | None = None) -> None:
        if not self.keep_log and self.observer is None:
            return
        entry = LogEntry(
            time=self.now,
            action=action,
            src=flight.src,
            dst=flight.dst,
            direction=f"{self._name(flight.src)}->{self._name(flight.dst)}",
            index=flight.index,
            copy=flight.copy,
            data=flight.data,
            reason=flight.reason if reason is None else reason,
            cid_length=self.cid_length,
        )
        if self.keep_log:
            self.log.append(entry)
        if self.observer is not None:
            self.observer(entry)

    def _schedule(self, when: float, flight: _InFlight) -> None:
        self._scheduled += 1
        heapq.heappush(self._in_flight, (when, self._scheduled, flight))

    def _collect(self, addr: Address, endpoint: DatagramEndpoint) -> None:
        for data, dst in endpoint.datagrams_to_send(self.now):
            self._send(bytes(data), addr, dst)

    def _collect_all(self) -> None:
        for addr, endpoint in list(self._endpoints.items()):
            self._collect(addr, endpoint)

    def _next_event_time(self) -> float | None:
        next_time = self._in_flight[0][0] if self._in_flight else None
        for endpoint in self._endpoints.values():
            timer = endpoint.get_timer()
            if timer is not None and (next_time is None or timer < next_time):
                next_time = timer
        return next_time

    def _process_instant(self) -> int:
        """Deliver everything due now, then fire due timers; return the endpoint calls made."""
        calls = 0
        while self._in_flight and self._in_flight[0][0] <= self.now:
            _, _, flight = heapq.heappop(self._in_flight)
            calls += self._deliver(flight)
            if calls > self.max_calls_per_instant:
                return calls
        for addr, endpoint in list(self._endpoints.items()):
            timer = endpoint.get_timer()
            if timer is not None and timer <= self.now:
                endpoint.handle_timer(self.now)
                calls += 1
                self._collect(addr, endpoint)
        return calls

    def _deliver(self, flight: _InFlight) -> int:
        stats = self._direction(flight.src, flight.dst).stats
        endpoint = self._endpoints.get(flight.dst)
        if endpoint is None:
            stats.dropped["no route"] += 1
            self._record(Action.DROPPED, flight, "no route")
            return 0
        stats.delivered += 1
        stats.delivered_bytes += len(flight.data)
        self._record(Action.DELIVERED, flight)
        endpoint.receive_datagram(flight.data, flight.src, self.now)
        self._collect(flight.dst, endpoint)
        return 1

    def _send(self, data: bytes, src: Address, dst: Address) -> None:
        """Apply the direction's conditions to one datagram and schedule what survives."""
        fate = self._direction(src, dst).decide(data, src, dst, self.now)
        original = _InFlight(data, src, dst, fate.index, copy=0, reason="")
        self._record(Action.SENT, original)
        if fate.dropped:
            self._record(Action.DROPPED, original, fate.dropped)
            return
        if fate.duplicated:
            self._record(Action.DUPLICATED, original)
        for copy, planned in enumerate(fate.copies):
            flight = _InFlight(planned.data, src, dst, fate.index, copy, planned.notes)
            self._schedule(self.now + planned.delay, flight)
