"""The abbreviated handshake under loss (issue 12 Must show 3): the reliability families of
tests/test_reliability.py, run on resumed handshakes.

In resumption the server's flight (ServerHello [NewSessionTicket] CCS Finished) is retransmitted
on its timer and the client sends the last flight, re-sending it whenever the server's repeats
(T4); every test checks that the handshake both completes and resumes.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import replace

import pytest

from aiodtls import DtlsConfiguration
from aiodtls.netsim import LinkConditions, drop, nth
from aiodtls.sweep import CLIENT_ADDRESS, SERVER_ADDRESS, Impairment, Scenario, summarize, sweep
from test_reliability import EXACT, Run, _global_drop, big_chain, simulate


@functools.cache
def resumable(psk: bool) -> Scenario:
    """The reliability tests' scenario (>4 KB RSA chain or PSK, MTU 576, exact timers) with
    a session made once by a lossless full handshake."""
    scenario = replace(big_chain(), psk=psk, policy=EXACT, mtu=576, resume=True)
    scenario.resumable_session()
    return scenario


def configs(psk: bool) -> tuple[DtlsConfiguration, DtlsConfiguration]:
    """A client holding the session and a server holding its store."""
    scenario = resumable(psk)
    client, server = scenario.configurations()
    server.session_store, client.session = scenario.resumable_session()
    return client, server


def assert_resumed(run: Run) -> None:
    assert run.completed, (run.client.terminated, run.server.terminated)
    done = run.client.completed
    assert done is not None and done.session_resumed
    assert run.server.completed is not None and run.server.completed.session_resumed


def lossless_counts(psk: bool) -> tuple[int, int]:
    """Datagrams each direction sends in a resumed handshake without loss."""
    run = simulate(*configs(psk))
    assert_resumed(run)
    return (
        run.net.stats(CLIENT_ADDRESS, SERVER_ADDRESS).sent,
        run.net.stats(SERVER_ADDRESS, CLIENT_ADDRESS).sent,
    )


def test_a_lossless_resumption_takes_two_round_trips_after_the_cookie() -> None:  # T1
    run = simulate(*configs(psk=False))
    assert_resumed(run)
    # CH, CH+cookie, CCS Finished | HVR (and its copy), SH CCS Finished: nothing resent.
    assert lossless_counts(False)[0] == 3
    assert run.client.connection.stats.retransmissions == 0
    assert run.server.connection.stats.retransmissions == 0
    # Two round trips of 31.25 ms: cookie, then resumption.
    assert run.client_done_at == pytest.approx(4 * 0.015625)


@pytest.mark.parametrize("psk", [False, True], ids=["ecdhe-4kB-chain", "psk"])
@pytest.mark.parametrize("direction", ["c2s", "s2c"])
def test_drop_each_datagram_in_turn(psk: bool, direction: str) -> None:  # Must show 3
    sent = lossless_counts(psk)[0 if direction == "c2s" else 1]
    for index in range(sent + 2):  # +2: indexes that only exist because of retransmissions
        lossy = LinkConditions(delay=0.015625, rules=[drop(nth(index))])
        if direction == "c2s":
            run = simulate(*configs(psk), c2s=lossy)
        else:
            run = simulate(*configs(psk), s2c=lossy)
        assert_resumed(run)


@pytest.mark.parametrize("psk", [False, True], ids=["ecdhe-4kB-chain", "psk"])
def test_drop_every_pair_among_the_first_12_datagrams(psk: bool) -> None:  # Must show 3
    # A resumed handshake is 5 or 6 datagrams; 12 covers every retransmission of one pair.
    for pair in itertools.combinations(range(12), 2):
        up, down = _global_drop(set(pair))
        run = simulate(
            *configs(psk),
            c2s=LinkConditions(delay=0.015625, rules=[up]),
            s2c=LinkConditions(delay=0.015625, rules=[down]),
        )
        assert_resumed(run)


def test_a_lost_client_final_flight_is_asked_for_by_the_server_timer() -> None:  # T4
    # c2s datagram 2 is the client's CCS Finished: the server's timer repeats its flight,
    # and that repeat makes the client send its last flight again.
    run = simulate(*configs(psk=True), c2s=LinkConditions(delay=0.015625, rules=[drop(nth(2))]))
    assert_resumed(run)
    assert run.server.connection.stats.retransmissions == 1
    assert run.client.connection.stats.retransmissions == 1
    assert [t.kind for t in run.retransmissions("server")] == ["retransmit"]


def test_the_client_keeps_its_final_flight_for_two_msl_only() -> None:  # T4
    client_cfg, server_cfg = configs(psk=True)
    client_cfg.idle_timeout = server_cfg.idle_timeout = None
    run = simulate(client_cfg, server_cfg)
    assert_resumed(run)
    client = run.client.connection
    timer = client.get_timer()
    assert timer is not None and timer == pytest.approx(run.net.now + 120.0, abs=0.2)
    client.handle_timer(timer)
    assert client.get_timer() is None
    # The server sent no final flight: it keeps nothing to resend, so it has no timer.
    assert run.server.connection.get_timer() is None


@pytest.mark.slow  # about 10 s: the slow pass of .ci/run
@pytest.mark.parametrize("psk", [False, True], ids=["ecdhe-5kB-chain", "psk"])
def test_2000_seeds_at_20_percent_loss_with_duplication_reordering_jitter(psk: bool) -> None:
    scenario = Scenario(
        impairment=Impairment(loss=0.2, duplicate=0.1, reorder=0.1, delay=0.025, jitter=0.01),
        mtu=576,
        psk=psk,
        chain_size=5000,
        resume=True,
    )
    runs = sweep(scenario, range(2000))
    summary = summarize(runs)
    assert summary.completed == 2000, summary.failures
    assert all(r.resumed for r in runs)
