"""The retransmission timer policy (reliability/timer.py) on its own."""

from __future__ import annotations

import random

import pytest

from aiodtls import DtlsConnection
from aiodtls.netsim import LinkConditions, Network, Rule, drop, nth, where
from aiodtls.reliability.timer import (
    MTU_STEPS,
    RetransmissionPolicy,
    RetransmissionTimer,
    seeded_rto,
)
from aiodtls.sweep import CLIENT_ADDRESS, SERVER_ADDRESS, SimulatedPeer
from pairs import client_config, server_config


def test_initial_timeout_doubles_to_the_cap() -> None:  # T3
    timer = RetransmissionTimer(RetransmissionPolicy(jitter=0, blind_max_rto=None))
    timer.start_flight()
    seen = []
    for _ in range(10):
        seen.append(timer.wait())
        timer.back_off()
    assert seen == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]


def test_blind_timeout_doubles_to_two_seconds_only() -> None:  # issue 9 item 4
    """Before any round trip is known the back-off stops at ``blind_max_rto`` (2 s; libwebrtc
    clamps its first DTLS timeout to 3 s); once one is known, the usual cap applies."""
    timer = RetransmissionTimer(RetransmissionPolicy(jitter=0))
    timer.start_flight()
    seen = []
    for _ in range(5):
        seen.append(timer.wait())
        timer.back_off()
    assert seen == [1, 2, 2, 2, 2]
    timer.on_rtt_sample(0.4)
    timer.start_flight()
    seen = []
    for _ in range(10):
        seen.append(round(timer.wait(), 6))
        timer.back_off()
    assert seen == [0.6, 1.2, 2.4, 4.8, 9.6, 19.2, 38.4, 60, 60, 60]


def test_a_certificate_flight_allows_for_the_peers_processing() -> None:  # issue 9 item 3
    """Once the round trip is known, the first timeout of a flight with a certificate chain
    adds ``peer_processing`` and ``peer_processing_per_datagram`` per datagram; it then
    doubles from there, and a measured longer processing time raises it."""
    timer = RetransmissionTimer(RetransmissionPolicy(jitter=0))
    timer.allow_processing(9)
    assert timer.wait() == 1.0  # round trip unknown: the blind initial timeout covers it
    timer.on_rtt_sample(0.002)
    timer.start_flight()
    timer.allow_processing(9)
    assert timer.wait() == pytest.approx(0.1 + 0.4 + 0.9)
    timer.on_answer_delay(0.802)
    timer.start_flight()
    timer.allow_processing(2)
    assert timer.wait() == pytest.approx(0.1 + 1.25 * 0.8 + 0.2)


def test_rtt_sample_sets_one_and_a_half_rtt_with_a_floor() -> None:  # RFC 9147 §5.8.2
    timer = RetransmissionTimer(RetransmissionPolicy(jitter=0))
    timer.on_rtt_sample(0.4)
    assert timer.base_rto() == pytest.approx(0.6)
    timer.start_flight()
    assert timer.wait() == pytest.approx(0.6)
    fast = RetransmissionTimer(RetransmissionPolicy(jitter=0))
    fast.on_rtt_sample(0.001)
    assert fast.base_rto() == 0.1  # min_rto


def test_rtt_is_smoothed() -> None:
    timer = RetransmissionTimer(RetransmissionPolicy(jitter=0))
    timer.on_rtt_sample(0.2)
    timer.on_rtt_sample(1.0)
    assert timer.srtt == pytest.approx(0.875 * 0.2 + 0.125 * 1.0)


def test_an_rtt_bound_never_makes_the_timer_longer_than_the_initial_one() -> None:
    timer = RetransmissionTimer(RetransmissionPolicy(jitter=0))
    timer.on_rtt_bound(5.0)
    assert timer.base_rto() == 1.0
    timer.on_rtt_bound(0.2)
    assert timer.base_rto() == pytest.approx(0.3)
    timer.on_rtt_sample(0.1)  # a real sample wins over the bound
    assert timer.base_rto() == pytest.approx(0.15)


def test_progress_resets_the_back_off() -> None:
    timer = RetransmissionTimer(RetransmissionPolicy(jitter=0))
    timer.on_rtt_sample(0.2)
    timer.start_flight()
    timer.back_off()
    timer.back_off()
    assert timer.rto == pytest.approx(1.2)
    timer.reset_back_off()
    assert timer.rto == pytest.approx(0.3)


@pytest.mark.parametrize("jitter", [0.0, 0.1])
def test_restart_is_reset_back_off_then_wait(jitter: float) -> None:
    """restart(), the flight's one call per message of the peer, gives what reset_back_off()
    and wait() give, drawing the same jitter from the generator."""
    timers = [
        RetransmissionTimer(RetransmissionPolicy(jitter=jitter), rng=random.Random(7))
        for _ in range(2)
    ]
    for timer in timers:
        timer.on_rtt_sample(0.2)
        timer.start_flight()
    for backed_off in (2, 0):
        for timer in timers:
            for _ in range(backed_off):
                timer.back_off()
        timers[0].reset_back_off()
        assert timers[1].restart() == timers[0].wait()
        assert timers[1].rto == timers[0].rto


def test_openssl_model_ignores_the_rtt() -> None:
    timer = RetransmissionTimer(RetransmissionPolicy.openssl())
    timer.on_rtt_sample(0.05)
    assert timer.base_rto() == 1.0
    assert timer.wait() == 1.0


@pytest.mark.parametrize("seed", range(20))
def test_jitter_is_at_most_ten_percent_and_never_negative(seed: int) -> None:
    timer = RetransmissionTimer(RetransmissionPolicy(), rng=random.Random(seed))
    timer.start_flight()
    for _ in range(5):
        assert timer.rto <= timer.wait() <= timer.rto * 1.1
        timer.back_off()


def test_mtu_back_off_steps() -> None:  # P2
    timer = RetransmissionTimer(RetransmissionPolicy())
    assert timer.next_mtu(1400, unanswered=1, largest_datagram=1400) == 1400
    assert timer.next_mtu(1400, unanswered=2, largest_datagram=1400) == MTU_STEPS[0]
    assert timer.next_mtu(1232, unanswered=3, largest_datagram=1232) == MTU_STEPS[1]
    assert timer.next_mtu(548, unanswered=4, largest_datagram=548) == 512
    assert timer.next_mtu(512, unanswered=5, largest_datagram=512) == 512  # the floor
    # A step that would not shrink any datagram of the flight is skipped.
    assert timer.next_mtu(1400, unanswered=2, largest_datagram=600) == 548
    assert timer.next_mtu(1400, unanswered=2, largest_datagram=200) == 1400


def test_mtu_back_off_can_be_disabled() -> None:
    timer = RetransmissionTimer(RetransmissionPolicy.openssl())
    assert timer.next_mtu(1400, unanswered=9, largest_datagram=1400) == 1400


# -- a round trip known up front (issue 11: ICE measures one) -------------------------------


@pytest.mark.parametrize(
    ("rtt", "first"),
    [(0.05, 0.1), (0.2, 0.4), (0.01, 0.05), (0.0, 0.05), (1.5, 3.0), (10.0, 3.0)],
    ids=["50ms", "200ms", "clamped-up", "zero", "at-cap", "clamped-down"],
)
def test_initial_rtt_seeds_the_first_timeout_like_libwebrtc(rtt: float, first: float) -> None:
    """2 x RTT, clamped to 50 ms-3 s (libwebrtc's DtlsTransport::ConfigureHandshakeTimeout)."""
    timer = RetransmissionTimer(RetransmissionPolicy(jitter=0, initial_rtt=rtt))
    assert timer.rtt_known
    timer.start_flight()
    assert timer.wait() == pytest.approx(first)
    assert seeded_rto(rtt) == pytest.approx(first)


def test_a_seeded_timer_doubles_past_the_blind_cap_and_a_sample_replaces_the_seed() -> None:
    timer = RetransmissionTimer(RetransmissionPolicy(jitter=0, initial_rtt=0.5))
    timer.start_flight()
    seen = []
    for _ in range(4):
        seen.append(round(timer.wait(), 6))
        timer.back_off()
    assert seen == [1.0, 2.0, 4.0, 8.0]  # no blind_max_rto (2 s): the round trip is known
    timer.on_rtt_sample(0.1)
    timer.start_flight()
    assert timer.wait() == pytest.approx(0.15)  # 1.5 x the measured RTT, as usual


def test_without_initial_rtt_nothing_changes() -> None:
    timer = RetransmissionTimer(RetransmissionPolicy(jitter=0))
    assert not timer.rtt_known
    timer.start_flight()
    assert timer.wait() == 1.0


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "0.1"])
def test_initial_rtt_must_be_a_round_trip(bad: object) -> None:
    with pytest.raises(ValueError, match="initial_rtt must be a round trip in seconds"):
        RetransmissionPolicy(initial_rtt=bad)  # type: ignore[arg-type]


def _seeded_run(
    initial_rtt: float | None, *, c2s_rules: list[Rule], s2c_rules: list[Rule] | None = None
) -> tuple[Network, SimulatedPeer, SimulatedPeer]:
    """A pinned, cookie-less (WebRTC-style) handshake on the simulator, 25 ms each way."""
    policy = RetransmissionPolicy(jitter=0.0, initial_rtt=initial_rtt)
    client_cfg = client_config(retransmission=policy)
    server_cfg = server_config(retransmission=policy, cookie_exchange=False)
    client = SimulatedPeer(DtlsConnection(configuration=client_cfg))
    server = SimulatedPeer(DtlsConnection(configuration=server_cfg))
    net = Network(seed=1)
    net.attach(client, CLIENT_ADDRESS, name="client")
    net.attach(server, SERVER_ADDRESS, name="server")
    net.set_link(
        CLIENT_ADDRESS,
        SERVER_ADDRESS,
        LinkConditions(delay=0.025, rules=c2s_rules),
        reverse=LinkConditions(delay=0.025, rules=s2c_rules or []),
    )
    client.connection.connect(SERVER_ADDRESS, net.now)
    net.run(until=30.0, stop=lambda: client.completed is not None and server.completed is not None)
    return net, client, server


def _sent(net: Network, src: tuple[str, int]) -> list[float]:
    return [round(e.time, 9) for e in net.log if e.src == src and e.action.value == "sent"]


def test_a_lost_client_hello_is_resent_after_the_seeded_timeout_not_the_blind_second() -> None:
    net, client, server = _seeded_run(0.05, c2s_rules=[drop(nth(0))])
    assert client.completed is not None and server.completed is not None
    times = _sent(net, CLIENT_ADDRESS)
    assert times[:2] == [0.0, 0.1]  # 2 x 50 ms; no 0.25 s probe, no 1 s blind wait
    # The same loss without a known round trip: the probe 0.25 s later recovers it.
    net, client, _ = _seeded_run(None, c2s_rules=[drop(nth(0))])
    assert _sent(net, CLIENT_ADDRESS)[:2] == [0.0, 0.25]


def test_the_seeded_timeout_is_clamped_at_both_ends_on_the_simulator() -> None:
    everything = drop(where(lambda d: True, "everything"))
    net, _, _ = _seeded_run(0.001, c2s_rules=[everything])
    assert _sent(net, CLIENT_ADDRESS)[:3] == [0.0, 0.05, 0.15]  # 50 ms floor, then doubling
    net, _, _ = _seeded_run(5.0, c2s_rules=[everything])
    assert _sent(net, CLIENT_ADDRESS)[:3] == [0.0, 3.0, 9.0]  # 3 s cap, then doubling


def test_a_seeded_server_times_its_certificate_flight_from_the_seed() -> None:
    """Without a cookie the server measures no round trip; with the seed its first timer is
    2 x RTT plus the certificate-processing allowance (0.4 s + 0.1 s per datagram), and no
    blind probe. The client's repeats are lost here, so only the server's own timer acts."""
    lost_repeats = [drop(nth(1)), drop(nth(2)), drop(nth(3))]
    net, _, server = _seeded_run(0.05, c2s_rules=lost_repeats, s2c_rules=[drop(nth(0))])
    assert server.completed is not None
    assert _sent(net, SERVER_ADDRESS)[:2] == [0.025, 0.625]  # 0.1 + 0.4 + 0.1
    net, _, server = _seeded_run(None, c2s_rules=lost_repeats, s2c_rules=[drop(nth(0))])
    assert _sent(net, SERVER_ADDRESS)[:3] == [0.025, 0.275, 1.025]  # blind: probe, then 1 s
