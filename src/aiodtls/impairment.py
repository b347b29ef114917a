"""Network impairments, shared by the simulator and the proxy: what a path does to datagrams.

Owns the *specification* of one direction of a path (:class:`LinkConditions`: loss, burst
loss, delay, jitter, reordering, duplication, a path MTU, bit flips, targeted :class:`Rule`
objects), the symmetric path the tools and sweeps name (:class:`Impairment`, one field per
command-line option) and the *decision* for each datagram (:class:`DirectionImpairment`),
with its per-direction state: the random stream, the burst state, rule counters, fragment
ordinals and counters. It does not move datagrams or keep time: :mod:`aiodtls.netsim` applies
the decisions in virtual time, the ``aiodtls proxy`` tool in real time, so both impair
identically.

Determinism: every datagram consumes the same fixed number of random draws whatever happens to
it, so the random fate of the k-th datagram of a direction depends only on the seed and k.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from .dissect import (
    DissectedItem,
    DtlsRecord,
    HandshakeFragment,
    dissect,
    handshake_fragments,
    handshake_type_name,
)

__all__ = [
    "Address",
    "Copy",
    "Datagram",
    "DirectionImpairment",
    "DirectionStats",
    "Fate",
    "GilbertElliott",
    "Impairment",
    "LinkConditions",
    "Match",
    "Rule",
    "StreamFragment",
    "anything",
    "carries_handshake",
    "carries_record",
    "drop",
    "hold",
    "nth",
    "nth_fragment",
    "where",
]

Address = tuple[str, int]
"A (host, port) pair."

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


def nth_fragment(msg_type: int, number: int) -> Match:
    """Datagrams carrying fragment ``number`` (1-based) of handshake message ``msg_type``.

    The fragment is identified in the message's first transmission; later transmissions
    match when they carry a fragment at the same offset (same boundaries), so with
    ``first=n`` a rule drops the first n copies and lets later retransmissions through.
    """
    if number < 1:
        raise ValueError("fragment numbers start at 1")
    target: dict[int, int] = {}  # message_seq -> fragment_offset of the wanted fragment

    def test(datagram: Datagram) -> bool:
        hit = False
        for seen in datagram.fragments:
            frag = seen.fragment
            if frag.msg_type != msg_type:
                continue
            if seen.ordinal == number - 1 and frag.message_seq not in target:
                target[frag.message_seq] = frag.fragment_offset
            if target.get(frag.message_seq) == frag.fragment_offset:
                hit = True
        return hit

    return Match(test, f"fragment {number} of {handshake_type_name(msg_type)}")


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
# The symmetric path that the tools name


@dataclass(frozen=True)
class Impairment:
    """A path that does the same to datagrams both ways, in the words of the command line.

    ``aiodtls netsim`` and ``aiodtls proxy`` build one from the same options
    (``--loss``, ``--burst``, ``--delay-ms``, ``--jitter-ms``, ``--reorder``, ``--duplicate``,
    ``--path-mtu``: :mod:`aiodtls.cli.impairment`), and :class:`aiodtls.sweep.Scenario` runs
    its seeds under one; :meth:`conditions` is the engine's view of one direction.
    Values are checked when :meth:`conditions` builds that view.
    """

    loss: float = 0.0
    "Independent loss probability per datagram (``LinkConditions.loss``)."

    burst: GilbertElliott | tuple[float, float] | None = None
    """Gilbert-Elliott burst loss on top of ``loss``; a ``(p good->bad, p bad->good)`` pair is
    a chain with total loss in the bad state."""

    delay: float = 0.025
    "One-way delay in seconds."

    jitter: float = 0.0
    "Extra one-way delay drawn uniformly from ``[0, jitter)`` seconds per datagram."

    reorder: float = 0.0
    "Probability that a datagram is held back so later ones overtake it."

    duplicate: float = 0.0
    "Probability that a delivered datagram arrives twice."

    path_mtu: int | None = None
    "Datagrams larger than this vanish (``LinkConditions.mtu``); None has no limit."

    def conditions(self, rules: Sequence[Rule] = ()) -> LinkConditions:
        """One direction of this path for the engine, with targeted ``rules`` added."""
        burst = self.burst
        return LinkConditions(
            loss=self.loss,
            burst=GilbertElliott(*burst) if isinstance(burst, tuple) else burst,
            delay=self.delay,
            jitter=self.jitter,
            reorder=self.reorder,
            duplicate=self.duplicate,
            mtu=self.path_mtu,
            rules=rules,
        )


# --------------------------------------------------------------------------------------------
# Statistics and decisions


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


@dataclass(frozen=True)
class Copy:
    """One copy of a datagram that will be delivered."""

    delay: float
    "Seconds from sending to delivery."
    data: bytes
    "The bytes delivered (a bit flip may have changed one)."
    notes: str = ""
    "``'held'``, ``'reordered'``, ``'bit flip'`` (comma separated), or empty."


@dataclass(frozen=True)
class Fate:
    """What a direction does with one datagram."""

    index: int
    "Its 0-based position among the datagrams of the direction."
    datagram: Datagram
    "How targeted rules saw it."
    dropped: str = ""
    "Why it is dropped (``'loss'``, ``'burst'``, ``'mtu'``, a rule label), or empty."
    copies: tuple[Copy, ...] = ()
    "What is delivered: one copy, two when duplicated, none when dropped."

    @property
    def duplicated(self) -> bool:
        """True if the network made a second copy."""
        return len(self.copies) > 1


class DirectionImpairment:
    """The state of one direction of a path and the decision for each datagram."""

    def __init__(
        self, conditions: LinkConditions, rng: random.Random, *, cid_length: int = 0
    ) -> None:
        self.rng = rng
        self.cid_length = cid_length
        self.stats = DirectionStats()
        self.next_index = 0
        self.in_bad_state = False
        self.fragment_counts: Counter[tuple[int, int]] = Counter()
        self.conditions = conditions

    @property
    def conditions(self) -> LinkConditions:
        """The conditions in force; setting new ones restarts the rule counters."""
        return self._conditions

    @conditions.setter
    def conditions(self, conditions: LinkConditions) -> None:
        self._conditions = conditions
        self.rule_counts = [0] * len(conditions.rules)

    def decide(self, data: bytes, src: Address, dst: Address, now: float) -> Fate:
        """Decide the fate of one datagram sent at ``now`` (and count it)."""
        conditions = self._conditions
        rng = self.rng
        index = self.next_index
        self.next_index += 1
        stats = self.stats
        stats.sent += 1
        stats.sent_bytes += len(data)

        # Always the same draws, in the same order, whatever the outcome (module doc).
        u_loss = rng.random()
        u_burst_loss = rng.random()
        u_burst_move = rng.random()
        u_duplicate = rng.random()
        copy_draws = [(rng.random(), rng.random(), rng.random(), rng.random()) for _ in range(2)]

        datagram = self._observe(data, src, dst, index, now)
        drop_reason, extra_delay = "", 0.0
        if conditions.rules:
            drop_reason, extra_delay = self._apply_rules(datagram)

        burst = conditions.burst
        burst_lost = False
        if burst is not None:
            loss_now = burst.loss_in_bad if self.in_bad_state else burst.loss_in_good
            burst_lost = u_burst_loss < loss_now
            if self.in_bad_state:
                self.in_bad_state = u_burst_move >= burst.p_bad_to_good
            else:
                self.in_bad_state = u_burst_move < burst.p_good_to_bad

        if not drop_reason:
            if conditions.mtu is not None and len(data) > conditions.mtu:
                drop_reason = "mtu"
            elif burst_lost:
                drop_reason = "burst"
            elif u_loss < conditions.loss:
                drop_reason = "loss"
        if drop_reason:
            stats.dropped[drop_reason] += 1
            return Fate(index, datagram, dropped=drop_reason)

        count = 1
        if u_duplicate < conditions.duplicate:
            count = 2
            stats.duplicated += 1
        copies = []
        for n in range(count):
            u_jitter, u_reorder, u_flip, u_bit = copy_draws[n]
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
            copies.append(Copy(delay, payload, ", ".join(notes)))
        return Fate(index, datagram, copies=tuple(copies))

    def _observe(self, data: bytes, src: Address, dst: Address, index: int, now: float) -> Datagram:
        """Dissect a datagram and give each handshake fragment its ordinal in the stream."""
        records = dissect(data, cid_length=self.cid_length)
        seen: list[StreamFragment] = []
        for frag in handshake_fragments(records):
            key = (frag.msg_type, frag.message_seq)
            seen.append(StreamFragment(frag, self.fragment_counts[key]))
            self.fragment_counts[key] += 1
        datagram = Datagram(
            data=data,
            src=src,
            dst=dst,
            index=index,
            time=now,
            fragments=tuple(seen),
            cid_length=self.cid_length,
        )
        # Seed the cached dissection so matches that read ``records`` do not parse again.
        datagram.__dict__["records"] = records
        return datagram

    def _apply_rules(self, datagram: Datagram) -> tuple[str, float]:
        """Evaluate every rule; return (the first acting drop rule's label or '', extra delay).

        Every rule is evaluated even after a drop, so each rule's ``first`` budget counts its
        own matches whatever the other rules did.
        """
        drop_reason = ""
        extra_delay = 0.0
        for i, rule in enumerate(self._conditions.rules):
            if not rule.match(datagram):
                continue
            if rule.first is not None and self.rule_counts[i] >= rule.first:
                continue
            self.rule_counts[i] += 1
            if rule.extra_delay is None:
                drop_reason = drop_reason or rule.label
            else:
                extra_delay += rule.extra_delay
        return drop_reason, extra_delay
