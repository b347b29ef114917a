"""Issue 12 "Must show" 4: the RFC 7925 preset completes under 20 % loss at MTU 256.

The PSK + TLS_PSK_WITH_AES_128_CCM_8 handshake is swept over fixed seeds on the simulator
(exact virtual times, the numbers in docs/reliability.md), then application data crosses
both ways under the same loss. A PSK handshake of this profile is small (its largest
datagram is 106 bytes), so MTU 256 splits no message; the certificate mode of the same
profile (TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, P-256 chain) is the fragmented case and runs
the same loss with every Certificate message cut into fragments.
"""

from __future__ import annotations

import random

from aiodtls import ConnectionState, DtlsConfiguration, DtlsConnection
from aiodtls.dissect import dissect, handshake_fragments
from aiodtls.handshake.messages import HandshakeType
from aiodtls.netsim import Network
from aiodtls.sweep import (
    CLIENT_ADDRESS,
    SERVER_ADDRESS,
    Impairment,
    Scenario,
    SimulatedPeer,
    summarize,
    sweep,
)
from certs import server_chain

LOSS = Impairment(loss=0.2, delay=0.025)
SEEDS = range(500)
CCM_8 = "TLS_PSK_WITH_AES_128_CCM_8"


def psk_scenario() -> Scenario:
    """``aiodtls netsim --loss 0.2 --mtu 256 --psk --profile rfc7925``."""
    return Scenario(impairment=LOSS, mtu=256, psk=True, profile="rfc7925")


def test_psk_ccm_8_at_mtu_256_completes_under_20_percent_loss() -> None:  # issue 12 item 4
    summary = summarize(sweep(psk_scenario(), SEEDS))
    assert summary.completed == len(SEEDS), summary.failures
    # Exact virtual times (docs/reliability.md, "RFC 7925 preset").
    assert (round(summary.p50, 4), round(summary.p99, 4)) == (0.3563, 3.4442)


def run_with_data(
    client_cfg: DtlsConfiguration, server_cfg: DtlsConfiguration, seed: int
) -> tuple[SimulatedPeer, SimulatedPeer, Network]:
    """A handshake under 20 % loss, then 10 readings from the client that the server echoes,
    all over the same lossy path."""
    client = SimulatedPeer(DtlsConnection(configuration=client_cfg, rng=random.Random(seed)))
    server = SimulatedPeer(
        DtlsConnection(configuration=server_cfg, rng=random.Random(~seed)), echo=True
    )
    net = Network(seed=seed)
    net.attach(client, CLIENT_ADDRESS, name="client")
    net.attach(server, SERVER_ADDRESS, name="server")
    path = LOSS.conditions()
    net.set_link(CLIENT_ADDRESS, SERVER_ADDRESS, path, reverse=path)
    client.connection.connect(SERVER_ADDRESS, net.now)

    def settled() -> bool:
        states = (client.connection.state, server.connection.state)
        return ConnectionState.HANDSHAKING not in states

    net.run(until=60.0, stop=settled)
    if client.connection.state == ConnectionState.ESTABLISHED:
        for n in range(10):
            client.connection.send(f"reading {n}".encode())
        net.run(until=net.now + 1.0)
    return client, server, net


def assert_data_both_ways(client: SimulatedPeer, server: SimulatedPeer, suite: str) -> None:
    for peer in (client, server):
        assert peer.connection.state == ConnectionState.ESTABLISHED, peer.terminated
        assert peer.completed is not None and peer.completed.cipher_suite == suite
    got = [n for n in range(10) if server.received(f"reading {n}".encode())]
    echoed = [n for n in range(10) if client.received(f"reading {n}".encode())]
    assert got and echoed and set(echoed) <= set(got)


def test_psk_ccm_8_data_flows_both_ways_under_20_percent_loss() -> None:
    scenario = psk_scenario()
    for seed in range(50):
        client, server, _ = run_with_data(*scenario.configurations(), seed)
        assert_data_both_ways(client, server, CCM_8)


def test_certificate_mode_is_fragmented_at_mtu_256_and_completes_under_20_percent_loss() -> None:
    chain = server_chain("ecdsa")
    suite = "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8"
    for seed in range(30):
        client_cfg = DtlsConfiguration.rfc7925(
            is_client=True, server_name="localhost", ca_certificates=[chain.root], mtu=256
        )
        server_cfg = DtlsConfiguration.rfc7925(
            is_client=False, certificate_chain=chain.chain, private_key=chain.key, mtu=256
        )
        client, server, net = run_with_data(client_cfg, server_cfg, seed)
        assert_data_both_ways(client, server, suite)
        certificate_fragments = [
            fragment
            for entry in net.entries("sent", src=SERVER_ADDRESS)
            for fragment in handshake_fragments(dissect(entry.data))
            if fragment.msg_type == HandshakeType.certificate
        ]
        assert certificate_fragments
        assert all(f.fragment_length < f.length for f in certificate_fragments)
        assert max(e.size for e in net.entries("sent")) <= 256
