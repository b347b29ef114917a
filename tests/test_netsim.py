"""Tests for aiodtls.netsim: virtual time, each impairment, targeted rules, determinism.

The endpoints here are small fakes with the sans-I/O interface: a sender that retransmits a
scripted flight on its own doubling timer, an echo, a sink, a ticker. Times are dyadic
(0.25, 0.5, ...) so exact float equality is meaningful.
"""

from __future__ import annotations

import struct
from collections import Counter

import pytest

from aiodtls.dissect import dissect, handshake_fragments
from aiodtls.handshake.messages import HandshakeType
from aiodtls.netsim import (
    Action,
    Address,
    Datagram,
    DatagramEndpoint,
    GilbertElliott,
    LinkConditions,
    LogEntry,
    Network,
    Rule,
    RunResult,
    SimulationStalled,
    anything,
    carries_handshake,
    carries_record,
    drop,
    hold,
    nth,
    where,
)
from aiodtls.record.header import ContentType

A: Address = ("10.0.0.1", 5000)
B: Address = ("10.0.0.2", 4433)
C: Address = ("10.0.0.3", 6000)


# ---------------------------------------------------------------------------- fake endpoints


class Sink:
    """Records what arrives; never sends, has no timer."""

    def __init__(self) -> None:
        self.received: list[tuple[float, bytes, Address]] = []

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        self.received.append((now, data, addr))

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        return []

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        raise AssertionError("a sink has no timer")


class Echo(Sink):
    """Sends every datagram straight back to where it came from."""

    def __init__(self) -> None:
        super().__init__()
        self.queue: list[tuple[bytes, Address]] = []

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        super().receive_datagram(data, addr, now)
        self.queue.append((data, addr))

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        out, self.queue = self.queue, []
        return out


class FlightSender:
    """Sends a flight at t=start and resends all of it on a doubling timer until answered."""

    def __init__(
        self, peer: Address, flight: list[bytes], *, rto: float = 1.0, start: float = 0.0
    ) -> None:
        self.peer = peer
        self.flight = flight
        self.rto = rto
        self.timer: float | None = start
        self.queue: list[bytes] = []
        self.transmissions: list[float] = []
        self.answered_at: float | None = None
        self.received: list[tuple[float, bytes]] = []

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        self.received.append((now, data))
        if self.answered_at is None:
            self.answered_at = now
            self.timer = None

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        out, self.queue = self.queue, []
        return [(data, self.peer) for data in out]

    def get_timer(self) -> float | None:
        return self.timer

    def handle_timer(self, now: float) -> None:
        if self.transmissions:
            self.rto *= 2  # RFC 6347 §4.2.4.1: double on every expiry
        self.transmissions.append(now)
        self.queue.extend(self.flight)
        self.timer = now + self.rto


class Reassembler(Sink):
    """Collects handshake fragments (keeping them across retransmissions) and answers "done"
    to every datagram once every expected message is complete."""

    def __init__(self, expected: dict[int, int]) -> None:
        super().__init__()
        self.expected = expected  # message_seq -> length
        self.covered: dict[int, set[int]] = {seq: set() for seq in expected}
        self.completed_at: float | None = None
        self.queue: list[tuple[bytes, Address]] = []

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        super().receive_datagram(data, addr, now)
        for frag in handshake_fragments(dissect(data)):
            span = range(frag.fragment_offset, frag.fragment_offset + frag.fragment_length)
            self.covered.setdefault(frag.message_seq, set()).update(span)
        if all(len(self.covered[seq]) == n for seq, n in self.expected.items()):
            if self.completed_at is None:
                self.completed_at = now
            self.queue.append((b"done", addr))

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        out, self.queue = self.queue, []
        return out


class Ticker(Sink):
    """Sends ``count`` datagrams to ``peer``, one every ``interval``, starting at t=0.

    Payload: 4-byte index, padded to ``size`` bytes (a size list cycles)."""

    def __init__(
        self, peer: Address, count: int, *, interval: float = 0.0, size: int | list[int] = 4
    ) -> None:
        super().__init__()
        self.peer = peer
        self.count = count
        self.interval = interval
        self.sizes = size if isinstance(size, list) else [size]
        self.sent = 0
        self.timer: float | None = 0.0
        self.queue: list[bytes] = []

    def _payload(self, i: int) -> bytes:
        size = self.sizes[i % len(self.sizes)]
        return struct.pack("!I", i).ljust(size, b"\x00")

    def get_timer(self) -> float | None:
        return self.timer

    def handle_timer(self, now: float) -> None:
        if self.interval == 0.0:  # everything at once
            self.queue.extend(self._payload(i) for i in range(self.count))
            self.sent = self.count
        else:
            self.queue.append(self._payload(self.sent))
            self.sent += 1
        self.timer = now + self.interval if self.sent < self.count else None

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        out, self.queue = self.queue, []
        return [(data, self.peer) for data in out]


class TimerProbe(Sink):
    """Has a fixed schedule of deadlines and records when handle_timer is called."""

    def __init__(self, deadlines: list[float]) -> None:
        super().__init__()
        self.deadlines = list(deadlines)
        self.fired: list[float] = []

    def get_timer(self) -> float | None:
        return self.deadlines[0] if self.deadlines else None

    def handle_timer(self, now: float) -> None:
        self.fired.append(now)
        self.deadlines.pop(0)


class StuckTimer(Sink):
    """A buggy endpoint whose timer never moves past now."""

    def get_timer(self) -> float | None:
        return 1.0

    def handle_timer(self, now: float) -> None:
        pass


def index_of(data: bytes) -> int:
    return int(struct.unpack("!I", data[:4])[0])


# ---------------------------------------------------------------------------- DTLS-shaped bytes


def record(content_type: int, body: bytes, *, epoch: int = 0, seq: int = 0) -> bytes:
    return (
        struct.pack("!BHH", content_type, 0xFEFD, epoch)
        + seq.to_bytes(6, "big")
        + struct.pack("!H", len(body))
        + body
    )


def fragment(msg_type: int, body: bytes, *, message_seq: int, offset: int, length: int) -> bytes:
    return (
        bytes([msg_type])
        + length.to_bytes(3, "big")
        + struct.pack("!H", message_seq)
        + offset.to_bytes(3, "big")
        + len(body).to_bytes(3, "big")
        + body
    )


CERT_LENGTH = 1000


def server_flight() -> list[bytes]:
    """ServerHello, a 1000-byte Certificate cut in three, ServerHelloDone: three datagrams."""
    cert = bytes(CERT_LENGTH)

    def cert_part(offset: int, size: int) -> bytes:
        return fragment(
            HandshakeType.certificate,
            cert[offset : offset + size],
            message_seq=2,
            offset=offset,
            length=CERT_LENGTH,
        )

    server_hello = fragment(
        HandshakeType.server_hello, bytes(70), message_seq=1, offset=0, length=70
    )
    done = fragment(HandshakeType.server_hello_done, b"", message_seq=3, offset=0, length=0)
    return [
        record(22, server_hello + cert_part(0, 400), seq=1),
        record(22, cert_part(400, 400), seq=2),
        record(22, cert_part(800, 200), seq=3) + record(22, done, seq=4),
    ]


EXPECTED = {1: 70, 2: CERT_LENGTH, 3: 0}


def flight_network(
    forward: LinkConditions, backward: LinkConditions | None = None, seed: int = 0
) -> tuple[Network, FlightSender, Reassembler]:
    net = Network(seed=seed)
    sender = FlightSender(B, server_flight())
    receiver = Reassembler(EXPECTED)
    net.attach(sender, A, name="server")
    net.attach(receiver, B, name="client")
    net.set_link(A, B, forward, reverse=backward or LinkConditions(delay=forward.delay))
    return net, sender, receiver


# ---------------------------------------------------------------------------- clock and loop


def test_endpoints_satisfy_the_protocol() -> None:
    endpoints: list[DatagramEndpoint] = [Sink(), Echo(), FlightSender(B, []), Ticker(B, 1)]
    assert len(endpoints) == 4


def test_zero_delay_round_trip_happens_at_time_zero() -> None:
    net, sender, receiver = flight_network(LinkConditions())
    assert net.run() is RunResult.IDLE
    assert sender.answered_at == 0.0 and receiver.completed_at == 0.0
    assert net.now == 0.0
    assert sender.transmissions == [0.0]


def test_one_way_delay_is_exact() -> None:
    net, sender, receiver = flight_network(LinkConditions(delay=0.25))
    assert net.run() is RunResult.IDLE
    assert receiver.completed_at == 0.25
    assert sender.answered_at == 0.5
    assert all(now == 0.25 for now, _, _ in receiver.received)
    assert net.now == 0.5


def test_asymmetric_delay() -> None:
    net, sender, _ = flight_network(LinkConditions(delay=0.125), LinkConditions(delay=0.5))
    net.run()
    assert sender.answered_at == 0.625


def test_retransmission_on_timer_after_a_drop() -> None:
    net, sender, receiver = flight_network(LinkConditions(delay=0.25, rules=[drop(nth(1))]))
    assert net.run() is RunResult.IDLE
    assert sender.transmissions == [0.0, 1.0]
    assert receiver.completed_at == 1.25
    assert sender.answered_at == 1.5
    dropped = net.entries(Action.DROPPED)
    assert [(e.time, e.index, e.reason) for e in dropped] == [(0.0, 1, "rule nth(1)")]


def test_timers_fire_exactly_at_their_deadlines() -> None:
    net = Network()
    probe = TimerProbe([0.5, 1.5, 3.0, 3.0, 1000.0])
    net.attach(probe, A)
    assert net.run() is RunResult.IDLE
    assert probe.fired == [0.5, 1.5, 3.0, 3.0, 1000.0]
    assert net.now == 1000.0


def test_virtual_time_runs_far_without_waiting() -> None:
    net = Network()
    probe = TimerProbe([float(t) for t in range(0, 86_400, 60)])  # a virtual day
    net.attach(probe, A)
    net.run()
    assert len(probe.fired) == 1440 and net.now == 86_340.0


def test_run_until_is_absolute_and_inclusive() -> None:
    net = Network()
    probe = TimerProbe([1.0, 2.0, 3.0])
    net.attach(probe, A)
    assert net.run(until=2.0) is RunResult.TIME_LIMIT
    assert probe.fired == [1.0, 2.0]
    assert net.now == 2.0
    assert net.run(until=2.5) is RunResult.TIME_LIMIT
    assert net.now == 2.5
    assert net.run(until=10.0) is RunResult.IDLE
    assert probe.fired == [1.0, 2.0, 3.0] and net.now == 3.0


def test_run_until_never_moves_the_clock_back() -> None:
    net = Network(start=5.0)
    net.attach(TimerProbe([7.0]), A)
    assert net.run(until=1.0) is RunResult.TIME_LIMIT
    assert net.now == 5.0


def test_stop_callable() -> None:
    net, sender, _ = flight_network(LinkConditions(delay=0.25, loss=1.0))
    result = net.run(until=100.0, stop=lambda: len(sender.transmissions) >= 3)
    assert result is RunResult.STOPPED
    assert sender.transmissions == [0.0, 1.0, 3.0]
    assert net.now == 3.0
    assert net.run(stop=lambda: True) is RunResult.STOPPED  # checked before any step


def test_delivery_at_the_deadline_beats_the_timer() -> None:
    # The answer arrives exactly when the RTO expires: deliveries come first at one instant.
    net = Network()
    sender = FlightSender(B, [b"hello"], rto=0.5)
    net.attach(sender, A)
    net.attach(Echo(), B)
    net.set_link(A, B, LinkConditions(delay=0.25))
    net.run()
    assert sender.answered_at == 0.5
    assert sender.transmissions == [0.0]


def test_past_timer_fires_at_current_time() -> None:
    net = Network(start=10.0)
    probe = TimerProbe([2.0])
    net.attach(probe, A)
    net.run()
    assert probe.fired == [10.0] and net.now == 10.0


def test_stalled_timer_is_reported() -> None:
    net = Network(max_calls_per_instant=50)
    net.attach(StuckTimer(), A)
    with pytest.raises(SimulationStalled, match=r"t=1\.0"):
        net.run(until=5.0)


def test_zero_delay_ping_pong_livelock_is_reported() -> None:
    net = Network(max_calls_per_instant=1000)
    net.attach(Echo(), A)
    net.attach(Echo(), B)
    net.inject(b"ping", A, B)
    with pytest.raises(SimulationStalled):
        net.run()


def test_the_same_ping_pong_with_delay_runs_to_the_time_limit() -> None:
    net = Network()
    left, right = Echo(), Echo()
    net.attach(left, A)
    net.attach(right, B)
    net.set_link(A, B, LinkConditions(delay=0.5))
    net.inject(b"ping", A, B)
    assert net.run(until=10.0) is RunResult.TIME_LIMIT
    assert [t for t, _, _ in right.received] == [
        0.0,
        1.0,
        2.0,
        3.0,
        4.0,
        5.0,
        6.0,
        7.0,
        8.0,
        9.0,
        10.0,
    ]


# ---------------------------------------------------------------------------- topology


def test_attach_rejects_a_taken_address() -> None:
    net = Network()
    net.attach(Sink(), A)
    with pytest.raises(ValueError, match="already attached"):
        net.attach(Sink(), A)


def test_datagram_to_nobody_is_dropped_as_no_route() -> None:
    net = Network()
    net.attach(Ticker(C, 2), A)
    net.run()
    assert net.stats(A, C).dropped == Counter({"no route": 2})
    assert [e.reason for e in net.entries(Action.DROPPED)] == ["no route", "no route"]


def test_detach_drops_datagrams_in_flight() -> None:
    net = Network()
    net.attach(Ticker(B, 1), A)
    sink = Sink()
    net.attach(sink, B)
    net.set_conditions(A, B, LinkConditions(delay=1.0))
    net.run(until=0.5)
    assert net.pending == 1
    assert net.detach(B) is sink
    net.run()
    assert sink.received == [] and net.stats(A, B).dropped["no route"] == 1


def test_rebind_moves_an_endpoint_to_a_new_address() -> None:  # RFC 9146 §6, I5
    net = Network()
    client = Sink()
    net.attach(client, A, name="client")
    net.attach(Echo(), B, name="server")
    net.inject(b"one", A, B)
    net.run()
    assert client.received == [(0.0, b"one", B)]
    net.rebind(A, C)
    assert net.endpoint(C) is client
    net.inject(b"two", C, B)
    net.run()
    assert client.received[-1] == (0.0, b"two", B)
    assert net.stats(B, C).delivered == 1
    net.inject(b"three", B, A)  # the old address is gone
    net.run()
    assert net.stats(B, A).dropped["no route"] == 1
    with pytest.raises(ValueError):
        net.rebind(C, B)


def test_inject_bypasses_conditions() -> None:  # X14, X16: spoofed datagrams for attack tests
    net = Network()
    sink = Sink()
    net.attach(sink, B)
    net.set_conditions(C, B, LinkConditions(loss=1.0, mtu=1))
    net.inject(b"spoofed", C, B, delay=0.5)
    net.run()
    assert sink.received == [(0.5, b"spoofed", C)]
    stats = net.stats(C, B)
    assert stats.injected == 1 and stats.sent == 0 and stats.delivered == 1
    assert [e.reason for e in net.log] == ["injected", "injected"]


def test_conditions_getter_and_set_link_reverse() -> None:
    net = Network(default=LinkConditions(delay=0.125))
    forward = LinkConditions(delay=0.25)
    net.set_link(A, B, forward, reverse=LinkConditions(loss=0.5))
    assert net.conditions(A, B) is forward
    assert net.conditions(B, A).loss == 0.5
    assert net.conditions(A, C).delay == 0.125
    net.set_link(B, C, forward)
    assert net.conditions(C, B) is forward


def test_default_conditions_apply_to_unconfigured_directions() -> None:
    net = Network(default=LinkConditions(delay=0.25))
    sender = FlightSender(B, [b"x"])
    net.attach(sender, A)
    net.attach(Echo(), B)
    net.run()
    assert sender.answered_at == 0.5


# ---------------------------------------------------------------------------- impairments


def run_ticker(
    conditions: LinkConditions, count: int, *, seed: int = 1, interval: float = 0.0, size: int = 4
) -> tuple[Network, Sink]:
    net = Network(seed=seed)
    sink = Sink()
    net.attach(Ticker(B, count, interval=interval, size=size), A)
    net.attach(sink, B)
    net.set_conditions(A, B, conditions)
    net.run()
    return net, sink


def test_independent_loss_rate() -> None:
    net, sink = run_ticker(LinkConditions(loss=0.2), 20_000)
    stats = net.stats(A, B)
    assert stats.sent == 20_000
    assert stats.dropped["loss"] + stats.delivered == 20_000
    assert stats.dropped["loss"] / 20_000 == pytest.approx(0.2, abs=0.01)
    assert len(sink.received) == stats.delivered


def test_no_loss_and_total_loss() -> None:
    net, sink = run_ticker(LinkConditions(loss=0.0), 500)
    assert len(sink.received) == 500
    net, sink = run_ticker(LinkConditions(loss=1.0), 500)
    assert sink.received == [] and net.stats(A, B).dropped == Counter({"loss": 500})


def loss_runs(net: Network) -> list[int]:
    """Lengths of runs of consecutive lost datagram indices in direction A->B."""
    lost = sorted(e.index for e in net.entries(Action.DROPPED, src=A))
    runs: list[int] = []
    for i, index in enumerate(lost):
        if i and index == lost[i - 1] + 1:
            runs[-1] += 1
        else:
            runs.append(1)
    return runs


@pytest.mark.slow  # long: in the slow pass of .ci/run (README command's budget)
def test_gilbert_elliott_burst_loss() -> None:
    burst = GilbertElliott(p_good_to_bad=0.05, p_bad_to_good=0.25)
    assert burst.mean_loss == pytest.approx(0.05 / 0.30)
    net, _ = run_ticker(LinkConditions(burst=burst), 40_000)
    stats = net.stats(A, B)
    assert set(stats.dropped) == {"burst"}
    assert stats.dropped["burst"] / 40_000 == pytest.approx(burst.mean_loss, abs=0.015)
    runs = loss_runs(net)
    # Bad-state sojourns are geometric with mean 1 / p_bad_to_good = 4 datagrams.
    assert sum(runs) / len(runs) == pytest.approx(4.0, rel=0.1)

    # Independent loss at the same mean rate has runs of mean 1 / (1 - p) = 1.2.
    independent, _ = run_ticker(LinkConditions(loss=burst.mean_loss), 40_000)
    runs = loss_runs(independent)
    assert sum(runs) / len(runs) == pytest.approx(1.2, rel=0.05)


def test_gilbert_elliott_loss_in_good_state_and_partial_loss_in_bad() -> None:
    burst = GilbertElliott(0.1, 0.1, loss_in_bad=0.5, loss_in_good=0.1)
    assert burst.mean_loss == pytest.approx(0.3)
    net, _ = run_ticker(LinkConditions(burst=burst), 40_000)
    assert net.stats(A, B).dropped["burst"] / 40_000 == pytest.approx(0.3, abs=0.02)
    assert GilbertElliott(0.0, 0.0, loss_in_good=0.25).mean_loss == 0.25


def test_burst_and_independent_loss_combine() -> None:
    burst = GilbertElliott(0.02, 0.5)
    net, _ = run_ticker(LinkConditions(loss=0.1, burst=burst), 40_000)
    stats = net.stats(A, B)
    expected = 1 - (1 - 0.1) * (1 - burst.mean_loss)
    assert stats.dropped_total / 40_000 == pytest.approx(expected, abs=0.01)
    assert stats.dropped["burst"] > 0 and stats.dropped["loss"] > 0


def test_delay_with_jitter() -> None:
    _, sink = run_ticker(LinkConditions(delay=0.25, jitter=0.125), 5000)
    delays = [t for t, _, _ in sink.received]  # all sent at t=0
    assert min(delays) >= 0.25 and max(delays) < 0.375
    assert sum(delays) / len(delays) == pytest.approx(0.3125, abs=0.003)
    order = [index_of(data) for _, data, _ in sink.received]
    assert order != sorted(order)  # jitter reorders datagrams sent together
    assert sorted(order) == list(range(5000))


def test_reordering() -> None:  # X12
    conditions = LinkConditions(delay=0.25, reorder=0.1, reorder_delay=0.0055)
    net, sink = run_ticker(conditions, 5000, interval=0.001)
    reordered = {e.index for e in net.entries(Action.DELIVERED) if e.reason == "reordered"}
    assert len(reordered) / 5000 == pytest.approx(0.1, abs=0.015)
    assert net.stats(A, B).delayed == len(reordered)
    arrival = {index_of(data): t for t, data, _ in sink.received}
    for i in range(5000):
        expected = i * 0.001 + 0.25 + (0.0055 if i in reordered else 0.0)
        assert arrival[i] == pytest.approx(expected)
    order = [index_of(data) for _, data, _ in sink.received]
    # A reordered datagram is overtaken by the (up to) five sent after it.
    some = min(i for i in reordered if i + 6 < 5000 and not reordered & set(range(i + 1, i + 7)))
    assert order.index(some) == order.index(some + 5) + 1


def test_duplication() -> None:  # X7
    net, sink = run_ticker(LinkConditions(delay=0.25, jitter=0.01, duplicate=0.2), 5000)
    stats = net.stats(A, B)
    assert stats.duplicated / 5000 == pytest.approx(0.2, abs=0.015)
    assert stats.delivered == 5000 + stats.duplicated == len(sink.received)
    counts = Counter(index_of(data) for _, data, _ in sink.received)
    assert set(counts.values()) == {1, 2}
    assert sum(1 for n in counts.values() if n == 2) == stats.duplicated
    copies = [e for e in net.entries(Action.DELIVERED) if e.copy == 1]
    assert len(copies) == stats.duplicated
    assert len(net.entries(Action.DUPLICATED)) == stats.duplicated


def test_path_mtu_black_hole() -> None:  # P2: larger datagrams vanish silently
    net = Network()
    sizes = [100, 576, 577, 1200, 1500, 576]
    sink = Sink()
    net.attach(Ticker(B, 6, size=sizes), A)
    net.attach(sink, B)
    net.set_conditions(A, B, LinkConditions(mtu=576))
    net.run()
    assert [len(data) for _, data, _ in sink.received] == [100, 576, 576]
    assert net.stats(A, B).dropped == Counter({"mtu": 3})
    assert [e.size for e in net.entries(Action.DROPPED)] == [577, 1200, 1500]


def test_bit_flip_changes_exactly_one_bit() -> None:  # X20: corrupted copies
    net, sink = run_ticker(LinkConditions(bit_flip=1.0), 2000, size=64)
    assert net.stats(A, B).corrupted == 2000
    positions: Counter[int] = Counter()
    for sent, (_, got, _) in zip(net.entries(Action.SENT), sink.received, strict=True):
        diff = int.from_bytes(sent.data, "big") ^ int.from_bytes(got, "big")
        assert diff and diff & (diff - 1) == 0  # exactly one bit differs
        positions[diff.bit_length() // 8] += 1
    assert len(positions) > 50  # spread over the datagram, not one fixed place
    assert all(e.reason == "bit flip" for e in net.entries(Action.DELIVERED))


def test_bit_flip_rate_and_empty_datagrams() -> None:
    net, _ = run_ticker(LinkConditions(bit_flip=0.25), 8000, size=16)
    assert net.stats(A, B).corrupted / 8000 == pytest.approx(0.25, abs=0.015)
    net = Network()
    sink = Sink()
    net.attach(FlightSender(B, [b""] * 10), A)
    net.attach(sink, B)
    net.set_conditions(A, B, LinkConditions(bit_flip=1.0))
    net.run(until=0.5)  # an empty datagram has no bit to flip
    assert net.stats(A, B).corrupted == 0 and [d for _, d, _ in sink.received] == [b""] * 10


def test_invalid_conditions_are_rejected() -> None:
    with pytest.raises(ValueError, match="loss must be a probability"):
        LinkConditions(loss=1.5)
    with pytest.raises(ValueError, match="duplicate must be a probability"):
        LinkConditions(duplicate=-0.1)
    with pytest.raises(ValueError, match="bit_flip must be a probability"):
        LinkConditions(bit_flip=2.0)
    with pytest.raises(ValueError, match="reorder must be a probability"):
        LinkConditions(reorder=-1.0)
    with pytest.raises(ValueError, match="delay must not be negative"):
        LinkConditions(delay=-1.0)
    with pytest.raises(ValueError, match="jitter must not be negative"):
        LinkConditions(jitter=-0.5)
    with pytest.raises(ValueError, match="reorder_delay must not be negative"):
        LinkConditions(reorder_delay=-0.1)
    with pytest.raises(ValueError, match="mtu must not be negative"):
        LinkConditions(mtu=-1)
    with pytest.raises(ValueError):
        GilbertElliott(1.2, 0.5)
    with pytest.raises(ValueError):
        hold(anything(), -1.0)


def test_conditions_keep_rules_immutable() -> None:
    rules = [drop(nth(0))]
    conditions = LinkConditions(rules=rules)
    rules.append(drop(nth(1)))
    assert isinstance(conditions.rules, tuple) and len(conditions.rules) == 1


# ---------------------------------------------------------------------------- targeted rules


def test_drop_by_index() -> None:  # OpenSSL dtlstest: drop record i
    net, sink = run_ticker(LinkConditions(rules=[drop(nth(0, 2, 5))]), 8)
    assert [index_of(d) for _, d, _ in sink.received] == [1, 3, 4, 6, 7]
    assert net.stats(A, B).dropped == Counter({"rule nth(0, 2, 5)": 3})


def test_drop_each_datagram_in_turn_always_completes() -> None:  # OpenSSL test_dtls_drop_records
    for k in range(3):
        net, sender, receiver = flight_network(LinkConditions(delay=0.25, rules=[drop(nth(k))]))
        net.run()
        assert receiver.completed_at == 1.25 and sender.answered_at == 1.5
        assert net.stats(A, B).dropped_total == 1


def test_drop_fragment_by_stream_index() -> None:
    rule = drop(carries_handshake(HandshakeType.certificate, fragment_index=1))
    net, sender, receiver = flight_network(LinkConditions(delay=0.25, rules=[rule]))
    net.run()
    # Certificate fragment ordinals: 0, 1, 2 in the first transmission; the drop hits once.
    assert [e.index for e in net.entries(Action.DROPPED)] == [1]
    assert sender.transmissions == [0.0, 1.0]
    assert receiver.completed_at == 1.25
    assert net.entries(Action.DROPPED)[0].reason == (
        "rule handshake(Certificate, fragment_index=1)"
    )


def test_fragment_index_counts_retransmitted_copies() -> None:
    rules = [
        drop(nth(0, 1, 2)),  # the whole first transmission
        drop(carries_handshake(message_seq=2, fragment_index=4)),  # 2nd piece of the resend
    ]
    net, sender, receiver = flight_network(LinkConditions(delay=0.25, rules=rules))
    net.run()
    assert [e.index for e in net.entries(Action.DROPPED)] == [0, 1, 2, 4]
    assert sender.transmissions == [0.0, 1.0, 3.0]
    # Fragments survive retransmissions: only the missing piece had to arrive at 3.25.
    assert receiver.completed_at == 3.25 and sender.answered_at == 3.5


def test_fragment_ordinals_count_from_the_first_datagram() -> None:
    # A rule installed after the first transmission still counts its fragments.
    net, sender, _ = flight_network(
        LinkConditions(delay=0.25), LinkConditions(rules=[drop(anything())])
    )
    net.run(until=0.5)
    rule = drop(carries_handshake(HandshakeType.certificate, fragment_index=4))
    net.set_conditions(A, B, LinkConditions(delay=0.25, rules=[rule]))
    net.run(until=1.5)
    assert sender.transmissions == [0.0, 1.0]
    assert [e.index for e in net.entries(Action.DROPPED, src=A)] == [4]


def test_stream_fragments_are_visible_to_callbacks() -> None:
    seen: list[tuple[int, str, int, int]] = []

    def record_fragments(datagram: Datagram) -> bool:
        for sf in datagram.fragments:
            seen.append((datagram.index, sf.fragment.name, sf.fragment.fragment_offset, sf.ordinal))
        return False

    net, _, _ = flight_network(LinkConditions(rules=[Rule(record_fragments)]))
    net.run()
    assert seen == [
        (0, "ServerHello", 0, 0),
        (0, "Certificate", 0, 0),
        (1, "Certificate", 400, 1),
        (2, "Certificate", 800, 2),
        (2, "ServerHelloDone", 0, 0),
    ]


def test_drop_only_the_first_n_copies() -> None:
    rule = drop(carries_handshake(HandshakeType.certificate, fragment_offset=400), first=2)
    net, sender, receiver = flight_network(LinkConditions(delay=0.25, rules=[rule]))
    net.run()
    assert [e.index for e in net.entries(Action.DROPPED)] == [1, 4]
    assert sender.transmissions == [0.0, 1.0, 3.0]
    assert receiver.completed_at == 3.25


def test_drop_by_message_type_hits_every_copy_without_first() -> None:
    rule = drop(carries_handshake(HandshakeType.server_hello_done))
    net, sender, receiver = flight_network(LinkConditions(delay=0.25, rules=[rule]))
    assert net.run(until=20.0) is RunResult.TIME_LIMIT
    assert receiver.completed_at is None
    assert sender.transmissions == [0.0, 1.0, 3.0, 7.0, 15.0]
    assert [e.index for e in net.entries(Action.DROPPED)] == [2, 5, 8, 11, 14]


def test_message_seq_and_type_must_both_match() -> None:
    miss = carries_handshake(HandshakeType.certificate, message_seq=1)
    hit = carries_handshake(HandshakeType.server_hello, message_seq=1)
    net, _, _ = flight_network(LinkConditions(rules=[drop(miss, first=1), drop(hit, first=1)]))
    net.run()
    assert [(e.index, e.reason) for e in net.entries(Action.DROPPED)] == [
        (0, "rule handshake(ServerHello, message_seq=1)")
    ]


def test_rules_count_matches_independently() -> None:
    # Both rules match datagram 0; each spends its own budget, so one drop happens in total.
    rules = [drop(nth(0)), drop(carries_handshake(HandshakeType.server_hello), first=1)]
    net, sender, _ = flight_network(LinkConditions(rules=rules))
    net.run()
    assert [e.index for e in net.entries(Action.DROPPED)] == [0]
    assert net.entries(Action.DROPPED)[0].reason == "rule nth(0)"  # the first dropping rule
    assert sender.transmissions == [0.0, 1.0]


def test_generic_filter_callback_and_records() -> None:
    seen: list[int] = []

    def big_datagrams(datagram: Datagram) -> bool:
        seen.append(datagram.index)
        assert datagram.src == A and datagram.dst == B
        assert datagram.records == dissect(datagram.data)
        return len(datagram.data) > 440

    net, _, _ = flight_network(LinkConditions(rules=[drop(big_datagrams, first=1)]))
    net.run()
    assert seen[:3] == [0, 1, 2]
    assert [(e.index, e.reason) for e in net.entries(Action.DROPPED)] == [(0, "rule big_datagrams")]


def test_where_match_and_custom_rule_name() -> None:
    rule = drop(where(lambda d: d.data.startswith(b"\x00\x00\x00\x03")), name="drop #3")
    net, sink = run_ticker(LinkConditions(rules=[rule]), 5)
    assert [index_of(d) for _, d, _ in sink.received] == [0, 1, 2, 4]
    assert net.stats(A, B).dropped == Counter({"drop #3": 1})
    assert str(where(lambda d: True, "everything")) == "everything"


def test_rule_with_plain_callable_and_time_field() -> None:
    def after_one_second(datagram: Datagram) -> bool:
        return datagram.time >= 1.0

    net, sender, _ = flight_network(LinkConditions(rules=[Rule(after_one_second)]))
    net.set_conditions(B, A, LinkConditions(rules=[drop(anything())]))  # never answer
    net.run(until=4.0)
    assert sender.transmissions == [0.0, 1.0, 3.0]
    assert net.stats(A, B).dropped == Counter({"rule after_one_second": 6})


def test_match_composition() -> None:
    cert = carries_handshake(HandshakeType.certificate)
    hello = carries_handshake(HandshakeType.server_hello)
    both = cert & hello
    either = cert | hello
    neither = ~either
    assert str(both) == "(handshake(Certificate) & handshake(ServerHello))"
    assert str(neither) == "~(handshake(Certificate) | handshake(ServerHello))"
    net, _, _ = flight_network(LinkConditions(rules=[drop(both, first=1)]))
    net.run()
    assert [e.index for e in net.entries(Action.DROPPED)] == [0]
    net, _, _ = flight_network(LinkConditions(rules=[drop(neither, first=1)]))
    net.run()
    assert net.entries(Action.DROPPED) == []  # every datagram carries a Certificate part


def test_carries_record_by_type_and_epoch() -> None:  # X21: drop the encrypted Finished
    ccs = record(ContentType.change_cipher_spec, b"\x01", seq=5)
    finished = record(ContentType.handshake, bytes(40), epoch=1, seq=0)
    cke = record(
        22,
        fragment(HandshakeType.client_key_exchange, bytes(33), message_seq=2, offset=0, length=33),
    )
    net = Network()
    sender = FlightSender(B, [cke, ccs + finished])
    sink = Sink()
    net.attach(sender, A)
    net.attach(sink, B)
    rule = drop(carries_record(ContentType.handshake, epoch=1), first=1)
    net.set_conditions(A, B, LinkConditions(rules=[rule]))
    net.run(until=2.0)
    assert [e.index for e in net.entries(Action.DROPPED)] == [1]
    assert net.entries(Action.DROPPED)[0].reason == "rule record(type=22, epoch=1)"
    assert [(t, d) for t, d, _ in sink.received] == [(0.0, cke), (1.0, cke), (1.0, ccs + finished)]
    assert str(carries_record()) == "record()"


def test_hold_delays_a_named_message() -> None:  # X12: Finished before CCS; mbedTLS delay_srv
    ccs = record(ContentType.change_cipher_spec, b"\x01", seq=5)
    finished = record(ContentType.handshake, bytes(40), epoch=1, seq=0)
    net = Network()
    sink = Sink()
    net.attach(FlightSender(B, [ccs, finished]), A)
    net.attach(sink, B)
    rule = hold(carries_record(ContentType.change_cipher_spec), 0.5, first=1)
    net.set_conditions(A, B, LinkConditions(delay=0.25, rules=[rule]))
    net.run(until=0.9)
    assert [(t, d) for t, d, _ in sink.received] == [(0.25, finished), (0.75, ccs)]
    assert net.stats(A, B).delayed == 1
    assert [e.reason for e in net.entries(Action.DELIVERED)] == ["", "held"]


def test_hold_delays_add_up_and_drop_wins() -> None:
    rules = [hold(nth(0, 1), 0.25), hold(nth(0), 0.5), drop(nth(1))]
    _, sink = run_ticker(LinkConditions(rules=rules), 3)
    assert [(t, index_of(d)) for t, d, _ in sink.received] == [(0.0, 2), (0.75, 0)]


def test_shared_conditions_keep_separate_counters_per_direction() -> None:
    shared = LinkConditions(rules=[drop(anything(), first=1)])
    net = Network()
    sink = Sink()
    net.attach(Ticker(B, 3), A)
    net.attach(Ticker(B, 3), C)
    net.attach(sink, B)
    net.set_conditions(A, B, shared)
    net.set_conditions(C, B, shared)
    net.run()
    assert [(addr, index_of(d)) for _, d, addr in sink.received] == [
        (A, 1),
        (A, 2),
        (C, 1),
        (C, 2),
    ]


def test_set_conditions_restarts_rule_counters_but_keeps_indexes() -> None:
    net = Network()
    sink = Sink()
    ticker = Ticker(B, 6, interval=1.0)
    net.attach(ticker, A)
    net.attach(sink, B)
    net.set_conditions(A, B, LinkConditions(rules=[drop(anything(), first=1)]))
    net.run(until=2.5)  # datagrams 0, 1, 2 sent; 0 dropped
    net.set_conditions(A, B, LinkConditions(rules=[drop(anything(), first=1), drop(nth(4))]))
    net.run()
    assert [index_of(d) for _, d, _ in sink.received] == [1, 2, 5]


# ---------------------------------------------------------------------------- log and stats


def test_log_records_every_event_with_summaries() -> None:
    net, _, _ = flight_network(LinkConditions(delay=0.25, rules=[drop(nth(1))]))
    net.run()
    first = net.log[0]
    assert isinstance(first, LogEntry)
    assert (first.time, first.action, first.direction, first.index) == (
        0.0,
        Action.SENT,
        "server->client",
        0,
    )
    assert first.summary == ("HS ServerHello seq=1 [0+70/70], HS Certificate seq=2 [0+400/1000]")
    assert first.size == len(server_flight()[0])
    actions = Counter(e.action for e in net.log)
    # 6 flight datagrams sent, 1 dropped, 5 delivered; 5 "done" answers sent and delivered.
    # 6 flight datagrams sent, 1 dropped, 5 delivered; the second and third datagrams of the
    # retransmission complete the flight at 1.25, so 2 answers are sent and delivered.
    assert actions == Counter({Action.SENT: 8, Action.DELIVERED: 7, Action.DROPPED: 1})
    line = str(net.entries(Action.DROPPED)[0])
    assert line == (
        "  0.000000 server->client #1 dropped [rule nth(1)] 425B"
        " HS Certificate seq=2 [400+400/1000]"
    )
    timeline = net.timeline().splitlines()
    assert len(timeline) == len(net.log)
    assert "  1.500000 client->server #0 delivered 4B MALFORMED: truncated record header" in (
        timeline
    )


def test_log_names_default_to_addresses_and_marks_duplicates() -> None:
    net = Network(seed=3)
    net.attach(Ticker(B, 1), A)
    net.attach(Sink(), B)
    net.set_conditions(A, B, LinkConditions(duplicate=1.0))
    net.run()
    delivered = net.entries(Action.DELIVERED)
    assert [e.copy for e in sorted(delivered, key=lambda e: e.copy)] == [0, 1]
    copy = next(e for e in delivered if e.copy == 1)
    assert str(copy).startswith("  0.000000 10.0.0.1:5000->10.0.0.2:4433 #0' delivered")


def test_stats_per_direction() -> None:
    net, _, _ = flight_network(LinkConditions(delay=0.25, rules=[drop(nth(1))]))
    net.run()
    forward = net.stats(A, B)
    sizes = [len(d) for d in server_flight()]
    assert (forward.sent, forward.sent_bytes) == (6, 2 * sum(sizes))
    assert (forward.delivered, forward.delivered_bytes) == (5, 2 * sum(sizes) - sizes[1])
    assert forward.dropped == Counter({"rule nth(1)": 1}) and forward.dropped_total == 1
    backward = net.stats(B, A)
    assert (backward.sent, backward.delivered, backward.sent_bytes) == (2, 2, 8)
    assert set(net.all_stats()) == {(A, B), (B, A)}
    assert len(net.entries(src=B)) == 4 and len(net.entries(dst=B, action="sent")) == 6


def test_observer_and_keep_log_off() -> None:
    observed: list[LogEntry] = []
    net = Network(keep_log=False, observer=observed.append)
    net.attach(Ticker(B, 3), A)
    net.attach(Sink(), B)
    net.run()
    assert net.log == []
    assert [e.action for e in observed] == [Action.SENT] * 3 + [Action.DELIVERED] * 3
    quiet = Network(keep_log=False)
    quiet.attach(Ticker(B, 3), A)
    quiet.attach(Sink(), B)
    quiet.run()
    assert quiet.log == [] and quiet.stats(A, B).delivered == 3


def test_cid_length_is_used_for_summaries() -> None:
    cid_record = (
        struct.pack("!BHH", ContentType.tls12_cid, 0xFEFD, 1)
        + (7).to_bytes(6, "big")
        + b"\xca\xfe"
        + struct.pack("!H", 3)
        + b"abc"
    )
    net = Network(cid_length=2)
    net.attach(Sink(), B)
    net.inject(cid_record, A, B)
    net.run()
    assert net.log[-1].summary == "CID[cafe] e1#7 enc 3B"


# ---------------------------------------------------------------------------- determinism


def everything_at_once(seed: int | str, rules: tuple[Rule, ...] = ()) -> Network:
    conditions = LinkConditions(
        loss=0.1,
        burst=GilbertElliott(0.05, 0.3),
        delay=0.02,
        jitter=0.01,
        reorder=0.1,
        duplicate=0.1,
        mtu=600,
        bit_flip=0.05,
        rules=rules,
    )
    net = Network(seed=seed)
    sender = FlightSender(B, server_flight(), rto=0.5)
    net.attach(sender, A, name="server")
    net.attach(Reassembler(EXPECTED), B, name="client")
    net.set_link(A, B, conditions)
    net.run(until=120.0)
    return net


def fingerprint(net: Network) -> list[tuple[float, str, str, int, int, bytes, str]]:
    return [
        (e.time, e.action.value, e.direction, e.index, e.copy, e.data, e.reason) for e in net.log
    ]


def test_same_seed_same_log() -> None:
    assert fingerprint(everything_at_once(42)) == fingerprint(everything_at_once(42))
    assert everything_at_once(42).timeline() == everything_at_once(42).timeline()


def test_different_seeds_differ() -> None:
    logs = {tuple(fingerprint(everything_at_once(seed))) for seed in range(5)}
    assert len(logs) == 5


def test_string_seeds_work() -> None:
    assert fingerprint(everything_at_once("abc")) == fingerprint(everything_at_once("abc"))


def test_a_targeted_drop_does_not_reshuffle_later_random_fates() -> None:
    def fates(rules: tuple[Rule, ...]) -> dict[int, str]:
        net, _ = run_ticker(LinkConditions(loss=0.3, rules=rules), 200, seed=9)
        return {e.index: e.reason for e in net.entries(Action.DROPPED)}

    plain = fates(())
    targeted = fates((drop(nth(10)),))
    assert targeted[10] == "rule nth(10)"
    del targeted[10]
    plain.pop(10, None)
    assert plain == targeted


def test_directions_have_independent_random_streams() -> None:
    def lost_forward(with_backward_traffic: bool) -> list[int]:
        net = Network(seed=4)
        net.attach(Ticker(B, 300), A)
        net.attach(Ticker(A, 300 if with_backward_traffic else 0), B)
        net.set_link(A, B, LinkConditions(loss=0.3))
        net.run()
        return [e.index for e in net.entries(Action.DROPPED, src=A)]

    assert lost_forward(True) == lost_forward(False)


def test_many_lossy_runs_complete() -> None:  # mbedTLS "3d"-style sweep, in virtual time
    completed = 0
    for seed in range(200):
        net, _, receiver = flight_network(
            LinkConditions(delay=0.025, loss=0.3, duplicate=0.1, reorder=0.1),
            LinkConditions(delay=0.025, loss=0.3),
            seed=seed,
        )
        net.run(until=60.0)
        completed += receiver.completed_at is not None
    assert completed >= 198
