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

Determinism and independence of impairments: each direction has its own random stream, seeded
from the network seed and the two addresses, and every datagram consumes the same fixed number
of draws whatever happens to it. So the random fate of the k-th datagram of a direction
depends only on the seed and k: adding a targeted rule or raising the MTU does not reshuffle
the losses of later datagrams, and one direction's traffic never perturbs the other's.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Protocol

from .dissect import (
    DissectedItem,
    DtlsRecord,
    HandshakeFragment,
    dissect,
    handshake_fragments,
    handshake_type_name,
    summarize,
)

__all__ = [
    "Action",
    "Address",
    "Datagram",
    "DatagramEndpoint",
    "DirectionStats",
    "GilbertElliott",
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
    "drop",
    "hold",
    "nth",
    "where",
]

Address = tuple[str, int]
"A UDP address, ``(host, port)``."


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


# --------------------------------------------------------------------------------------------
# Link conditions


def _check_probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")


@dataclass(frozen=True)
class GilbertElliott:
    """Two-state burst loss (Gilbert-Elliott), stepped once per datagram.

    The channel starts in the good state. Each datagram is lost with the current state's loss
    probability, then the state moves on. The mean burst (bad-state sojourn) length is
    ``1 / p_bad_to_good`` datagrams.
    """

    p_good_to_bad: float
    "Probability of moving from good to bad after a datagram."

    p_bad_to_good: float
    "Probability of moving from bad back to good after a datagram."

    loss_in_bad: float = 1.0
    "Loss probability while in the bad state."

    loss_in_good: float = 0.0
    "Loss probability while in the good state."

    def __post_init__(self) -> None:
        for name in ("p_good_to_bad", "p_bad_to_good", "loss_in_bad", "loss_in_good"):
            _check_probability(name, getattr(self, name))

    @property
    def mean_loss(self) -> float:
        """The long-run loss rate, from the chain's stationary distribution."""
        total = self.p_good_to_bad + self.p_bad_to_good
        if total == 0.0:
            return self.loss_in_good  # the chain never leaves the good state
        share_bad = self.p_good_to_bad / total
        return share_bad * self.loss_in_bad + (1.0 - share_bad) * self.loss_in_good


@dataclass(frozen=True)
class LinkConditions:
    """What one direction of the network does to datagrams. The default is a perfect link.

    Instances are immutable specifications and may be shared between directions: the
    per-direction state (burst state, rule counters, random stream) lives in the network.
    """

    loss: float = 0.0
    "Independent loss probability per datagram."

    burst: GilbertElliott | None = None
    "Burst loss on top of ``loss``; a datagram is lost if either loses it."

    delay: float = 0.0
    "Minimum one-way delay in seconds."

    jitter: float = 0.0
    """Extra delay drawn uniformly from ``[0, jitter)`` per datagram. Like a real path (and
    netem), jitter larger than the spacing of datagrams reorders them."""

    reorder: float = 0.0
    "Probability that a datagram is held back by ``reorder_delay`` so later ones overtake it."

    reorder_delay: float = 0.010
    "The extra delay of a reordered datagram, in seconds."

    duplicate: float = 0.0
    """Probability that a delivered datagram arrives twice; the copy draws its own delay,
    reordering and bit flip, so it may arrive first."""

    mtu: int | None = None
    "Path MTU in bytes of UDP payload; larger datagrams vanish without notice (PMTU black hole)."

    bit_flip: float = 0.0
    "Probability that one uniformly chosen bit of a delivered copy is inverted."

    rules: Sequence[Rule] = ()
    "Targeted rules, applied before every random impairment (see :class:`Rule`)."

    def __post_init__(self) -> None:
        for name in ("loss", "reorder", "duplicate", "bit_flip"):
            _check_probability(name, getattr(self, name))
        for name in ("delay", "jitter", "reorder_delay"):
            if getattr(self, name) < 0.0:
                raise ValueError(f"{name} must not be negative")
        if self.mtu is not None and self.mtu < 0:
            raise ValueError("mtu must not be negative")
        # A tuple keeps the specification immutable even if a list was passed in.
        object.__setattr__(self, "rules", tuple(self.rules))


# --------------------------------------------------------------------------------------------
# Targeted rules


@dataclass(frozen=True)
class StreamFragment:
    """A handshake fragment header and its place among its message's fragments so far."""

    fragment: HandshakeFragment
    "The decoded fragment header."

    ordinal: int
    """0-based count of earlier fragments of the same message (same ``msg_type`` and
    ``message_seq``) in this direction since its first datagram, retransmitted copies
    included (network duplicates and injected datagrams are not counted). The first
    transmission of a message cut into three fragments has ordinals 0, 1, 2; its
    retransmission 3, 4, 5."""


@dataclass(frozen=True)
class Datagram:
    """A datagram as a targeted rule sees it: handed over by its sender, before impairment."""

    data: bytes
    "The UDP payload."

    src: Address
    "The sender's address."

    dst: Address
    "The destination address."

    index: int
    "0-based position among the datagrams sent in this direction (network copies excluded)."

    time: float
    "The virtual time at which it was sent."

    fragments: tuple[StreamFragment, ...]
    "Every epoch-0 handshake fragment it carries, with stream ordinals."

    cid_length: int = 0
    "The connection ID length used to dissect it."

    @cached_property
    def records(self) -> list[DissectedItem]:
        """The keyless dissection of :attr:`data`."""
        return dissect(self.data, cid_length=self.cid_length)


@dataclass(frozen=True)
class Match:
    """A predicate over :class:`Datagram`, with a description used in logs and stats.

    Matches compose: ``a & b``, ``a | b`` and ``~a``. They are pure functions of the datagram
    (counting state such as fragment ordinals is kept by the network), so one match can be
    shared by any number of rules and directions.
    """

    test: Callable[[Datagram], bool]
    "The predicate."

    description: str
    "How the match reads in a log line, e.g. ``'nth(2)'``."

    def __call__(self, datagram: Datagram) -> bool:
        return self.test(datagram)

    def __and__(self, other: Match) -> Match:
        return Match(lambda d: self(d) and other(d), f"({self} & {other})")

    def __or__(self, other: Match) -> Match:
        return Match(lambda d: self(d) or other(d), f"({self} | {other})")

    def __invert__(self) -> Match:
        return Match(lambda d: not self(d), f"~{self}")

    def __str__(self) -> str:
        return self.description


def nth(*indices: int) -> Match:
    """Datagrams at these 0-based positions of their direction (``nth(0)`` is the first)."""
    wanted = frozenset(indices)
    return Match(lambda d: d.index in wanted, f"nth({', '.join(map(str, indices))})")


def anything() -> Match:
    """Every datagram; with ``first=n`` a rule built on it catches the first n."""
    return Match(lambda d: True, "anything")


def where(test: Callable[[Datagram], bool], description: str | None = None) -> Match:
    """A match from any callable (the generic filter); it may inspect ``records`` or bytes."""
    return Match(test, description or str(getattr(test, "__name__", "where")))


def carries_handshake(
    msg_type: int | None = None,
    *,
    message_seq: int | None = None,
    fragment_index: int | None = None,
    fragment_offset: int | None = None,
) -> Match:
    """Datagrams that carry an epoch-0 handshake fragment with all of the given properties.

    - ``msg_type``: the handshake message type (e.g. ``HandshakeType.certificate``).
    - ``message_seq``: the handshake message sequence number.
    - ``fragment_index``: the fragment's ordinal among the fragments of its message seen so
      far in this direction (see :attr:`StreamFragment.ordinal`). ``fragment_index=1`` is the
      second fragment of the first transmission; retransmitted fragments count on, so such a
      rule hits once.
    - ``fragment_offset``: the fragment's ``fragment_offset``; it hits every transmission that
      keeps the same boundaries, so pair it with ``first=`` to let retransmissions through.

    Only plaintext (epoch 0) fragments are visible: an encrypted Finished is matched with
    :func:`carries_record` instead. A network drops whole datagrams, so everything else packed
    into a matching datagram is lost with it.
    """
    parts = []
    if msg_type is not None:
        parts.append(handshake_type_name(msg_type))
    if message_seq is not None:
        parts.append(f"message_seq={message_seq}")
    if fragment_index is not None:
        parts.append(f"fragment_index={fragment_index}")
    if fragment_offset is not None:
        parts.append(f"fragment_offset={fragment_offset}")

    def test(datagram: Datagram) -> bool:
        for seen in datagram.fragments:
            frag = seen.fragment
            if (
                (msg_type is None or frag.msg_type == msg_type)
                and (message_seq is None or frag.message_seq == message_seq)
                and (fragment_index is None or seen.ordinal == fragment_index)
                and (fragment_offset is None or frag.fragment_offset == fragment_offset)
            ):
                return True
        return False

    return Match(test, f"handshake({', '.join(parts)})")


def carries_record(content_type: int | None = None, *, epoch: int | None = None) -> Match:
    """Datagrams that carry a record with this outer content type and/or epoch.

    Covers records with the 13-byte header and ``tls12_cid`` ones; e.g.
    ``carries_record(ContentType.handshake, epoch=1)`` is the DTLS 1.2 encrypted Finished.
    """
    parts = []
    if content_type is not None:
        parts.append(f"type={content_type}")
    if epoch is not None:
        parts.append(f"epoch={epoch}")

    def test(datagram: Datagram) -> bool:
        return any(
            isinstance(item, DtlsRecord)
            and (content_type is None or item.content_type == content_type)
            and (epoch is None or item.epoch == epoch)
            for item in datagram.records
        )

    return Match(test, f"record({', '.join(parts)})")


@dataclass(frozen=True)
class Rule:
    """A targeted action on the datagrams of one direction that ``match`` selects.

    The rule acts on the first ``first`` matching datagrams (all of them if None) and lets
    later matches pass, so "drop only the first copy" lets the retransmission through. Each
    rule counts its own matches, independently of what other rules did to the datagram. Any
    acting drop rule drops the datagram; otherwise the ``extra_delay`` of every acting hold
    rule adds up.
    """

    match: Callable[[Datagram], bool]
    "Which datagrams; a :class:`Match` or any callable."

    first: int | None = None
    "Act only on the first n matching datagrams; None acts on every match."

    extra_delay: float | None = None
    "None drops the datagram; a number delivers it that many seconds late instead."

    name: str = ""
    "How the rule is named in logs and drop reasons; defaults to the match's description."

    @property
    def label(self) -> str:
        """The name used in the log: ``name``, or ``'rule <match>'``."""
        if self.name:
            return self.name
        described = getattr(self.match, "description", None)
        return f"rule {described or getattr(self.match, '__name__', 'where')}"


def drop(match: Callable[[Datagram], bool], *, first: int | None = None, name: str = "") -> Rule:
    """A rule that drops matching datagrams (the first ``first`` of them, if given)."""
    return Rule(match=match, first=first, name=name)


def hold(
    match: Callable[[Datagram], bool],
    seconds: float,
    *,
    first: int | None = None,
    name: str = "",
) -> Rule:
    """A rule that delivers matching datagrams ``seconds`` late (mbedTLS ``delay_srv=``)."""
    if seconds < 0.0:
        raise ValueError("seconds must not be negative")
    return Rule(match=match, first=first, extra_delay=seconds, name=name)


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


@dataclass
class DirectionStats:
    """Counters for one direction ``src -> dst``."""

    sent: int = 0
    "Datagrams the sender handed to the network (duplicates and injections excluded)."

    sent_bytes: int = 0
    "Their total size."

    delivered: int = 0
    "Copies the destination received (duplicates included)."

    delivered_bytes: int = 0
    "Their total size."

    duplicated: int = 0
    "Extra copies the network made."

    corrupted: int = 0
    "Delivered copies with a flipped bit."

    delayed: int = 0
    "Copies given extra delay by a hold rule or by reordering."

    injected: int = 0
    "Datagrams injected with :meth:`Network.inject`."

    dropped: Counter[str] = field(default_factory=Counter)
    "Dropped datagrams by reason (``'loss'``, ``'burst'``, ``'mtu'``, ``'no route'``, rules)."

    @property
    def dropped_total(self) -> int:
        """All dropped datagrams, whatever the reason."""
        return sum(self.dropped.values())


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


@dataclass
class _Direction:
    """Per-direction state; the :class:`LinkConditions` stay an immutable specification."""

    conditions: LinkConditions
    rng: random.Random
    stats: DirectionStats = field(default_factory=DirectionStats)
    next_index: int = 0
    in_bad_state: bool = False
    rule_counts: list[int] = field(default_factory=list)
    fragment_counts: Counter[tuple[int, int]] = field(default_factory=Counter)


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
        self._directions: dict[tuple[Address, Address], _Direction] = {}
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
        direction = self._direction(src, dst)
        direction.conditions = conditions
        direction.rule_counts = [0] * len(conditions.rules)

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

    def _direction(self, src: Address, dst: Address) -> _Direction:
        direction = self._directions.get((src, dst))
        if direction is None:
            # A string seed is hashed with SHA-512 by random.Random, so the stream does not
            # depend on PYTHONHASHSEED and is the same on every run and machine.
            stream_seed = f"{self.seed}|{src[0]}:{src[1]}>{dst[0]}:{dst[1]}"
            direction = _Direction(
                conditions=self._default,
                rng=random.Random(stream_seed),
                rule_counts=[0] * len(self._default.rules),
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
        direction = self._direction(src, dst)
        conditions = direction.conditions
        rng = direction.rng
        original = _InFlight(data, src, dst, direction.next_index, copy=0, reason="")
        direction.next_index += 1
        stats = direction.stats
        stats.sent += 1
        stats.sent_bytes += len(data)
        self._record(Action.SENT, original)

        # Always the same draws, in the same order, whatever the outcome (see module doc).
        u_loss = rng.random()
        u_burst_loss = rng.random()
        u_burst_move = rng.random()
        u_duplicate = rng.random()
        copy_draws = [(rng.random(), rng.random(), rng.random(), rng.random()) for _ in range(2)]

        # Fragment ordinals count every datagram of the direction, so a rule installed later
        # still sees "fragment_index" relative to the start of the conversation.
        datagram = self._observe(direction, original)
        drop_reason, extra_delay = "", 0.0
        if conditions.rules:
            drop_reason, extra_delay = self._apply_rules(direction, datagram)

        burst = conditions.burst
        burst_lost = False
        if burst is not None:
            loss_now = burst.loss_in_bad if direction.in_bad_state else burst.loss_in_good
            burst_lost = u_burst_loss < loss_now
            if direction.in_bad_state:
                direction.in_bad_state = u_burst_move >= burst.p_bad_to_good
            else:
                direction.in_bad_state = u_burst_move < burst.p_good_to_bad

        if not drop_reason:
            if conditions.mtu is not None and len(data) > conditions.mtu:
                drop_reason = "mtu"
            elif burst_lost:
                drop_reason = "burst"
            elif u_loss < conditions.loss:
                drop_reason = "loss"
        if drop_reason:
            stats.dropped[drop_reason] += 1
            self._record(Action.DROPPED, original, drop_reason)
            return

        copies = 1
        if u_duplicate < conditions.duplicate:
            copies = 2
            stats.duplicated += 1
            self._record(Action.DUPLICATED, original)
        for copy in range(copies):
            u_jitter, u_reorder, u_flip, u_bit = copy_draws[copy]
            delay = conditions.delay + conditions.jitter * u_jitter + extra_delay
            notes = ["held"] if extra_delay else []
            if u_reorder < conditions.reorder:
                delay += conditions.reorder_delay
                notes.append("reordered")
            if notes:
                stats.delayed += 1
            payload = data
            if data and u_flip < conditions.bit_flip:
                bit = min(int(u_bit * len(data) * 8), len(data) * 8 - 1)
                flipped = bytearray(data)
                flipped[bit // 8] ^= 0x80 >> (bit % 8)
                payload = bytes(flipped)
                stats.corrupted += 1
                notes.append("bit flip")
            flight = _InFlight(payload, src, dst, original.index, copy, ", ".join(notes))
            self._schedule(self.now + delay, flight)

    def _observe(self, direction: _Direction, flight: _InFlight) -> Datagram:
        """Dissect a datagram and give each handshake fragment its ordinal in the stream."""
        records = dissect(flight.data, cid_length=self.cid_length)
        seen: list[StreamFragment] = []
        for frag in handshake_fragments(records):
            key = (frag.msg_type, frag.message_seq)
            seen.append(StreamFragment(frag, direction.fragment_counts[key]))
            direction.fragment_counts[key] += 1
        datagram = Datagram(
            data=flight.data,
            src=flight.src,
            dst=flight.dst,
            index=flight.index,
            time=self.now,
            fragments=tuple(seen),
            cid_length=self.cid_length,
        )
        # Seed the cached dissection so matches that read ``records`` do not parse again.
        datagram.__dict__["records"] = records
        return datagram

    def _apply_rules(self, direction: _Direction, datagram: Datagram) -> tuple[str, float]:
        """Evaluate every rule; return (the first acting drop rule's label or '', extra delay).

        Every rule is evaluated even after a drop, so each rule's ``first`` budget counts its
        own matches whatever the other rules did.
        """
        drop_reason = ""
        extra_delay = 0.0
        for i, rule in enumerate(direction.conditions.rules):
            if not rule.match(datagram):
                continue
            if rule.first is not None and direction.rule_counts[i] >= rule.first:
                continue
            direction.rule_counts[i] += 1
            if rule.extra_delay is None:
                drop_reason = drop_reason or rule.label
            else:
                extra_delay += rule.extra_delay
        return drop_reason, extra_delay
