"""Connection IDs (RFC 9146) end to end: negotiation, a peer that moves, the server endpoint
routing by CID, and a NAT rebinding on the simulator (I1–I5, X23; issue 12, must show 2)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiodtls import ConnectionState, DataReceived, DtlsConfiguration, DtlsConnection
from aiodtls.endpoint import DtlsEndpoint
from aiodtls.netsim import Action, Network
from aiodtls.rebinding import (
    REBOUND_CLIENT_ADDRESS,
    EchoEndpoint,
    PingingClient,
    RebindingRun,
    simulate_rebinding,
)
from aiodtls.rebinding import (
    SERVER_ADDRESS as SERVER_ADDR_SIM,
)
from aiodtls.record.cid import TLS12_CID
from aiodtls.record.header import ContentType, RawRecord, split_datagram
from aiodtls.suites import CipherSuite
from pairs import CLIENT_ADDR, DTLS12_ONLY, SERVER_ADDR, Pair, handshake, psk_configs12

NEW_ADDR = ("127.0.0.1", 40001)
ATTACKER = ("203.0.113.9", 666)


def cid_pair(client_length: int | None, server_length: int | None) -> Pair:
    client, server = psk_configs12()
    client.connection_id_length = client_length
    server.connection_id_length = server_length
    pair = handshake(client, server)
    assert pair.client.state == pair.server.state == ConnectionState.ESTABLISHED
    return pair


def data_of(connection: DtlsConnection) -> list[bytes]:
    return [e.data for e in iter(connection.next_event, None) if isinstance(e, DataReceived)]


def sealed(pair: Pair, payload: bytes) -> bytes:
    pair.client.send(payload)
    ((datagram, _),) = pair.client.datagrams_to_send(pair.now)
    return datagram


# -- negotiation (I1) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client_length", "server_length", "negotiated"),
    [(None, None, False), (4, None, False), (None, 4, False), (4, 8, True), (0, 0, True)],
)
def test_cids_are_used_only_when_both_sides_send_the_extension(
    client_length: int | None, server_length: int | None, negotiated: bool
) -> None:  # I1
    pair = cid_pair(client_length, server_length)
    client_done = pair.client_outcome.completed
    server_done = pair.server_outcome.completed
    assert client_done is not None and server_done is not None
    if not negotiated:
        assert client_done.connection_id is None and client_done.peer_connection_id is None
        assert server_done.connection_id is None and server_done.peer_connection_id is None
        return
    assert client_done.connection_id is not None and server_done.connection_id is not None
    assert len(client_done.connection_id) == client_length
    assert len(server_done.connection_id) == server_length
    assert client_done.peer_connection_id == server_done.connection_id
    assert server_done.peer_connection_id == client_done.connection_id


def test_configuration_refuses_a_cid_length_over_255() -> None:  # I1
    with pytest.raises(ValueError, match="connection_id_length"):
        DtlsConfiguration(versions=DTLS12_ONLY, is_client=True, connection_id_length=256)
    with pytest.raises(ValueError, match="connection_id_length"):
        DtlsConfiguration(versions=DTLS12_ONLY, is_client=True, connection_id_length=-1)


def test_the_handshake_itself_uses_cid_records_from_epoch_1() -> None:  # I2
    client, server = psk_configs12()
    client.connection_id_length = 3
    server.connection_id_length = 6
    pair = handshake(client, server)
    by_epoch: dict[tuple[str, int], set[int]] = {}
    for _, direction, datagram in pair.sent:
        for record in split_datagram(datagram, 6 if direction == "c2s" else 3):
            assert isinstance(record, RawRecord)
            by_epoch.setdefault((direction, record.epoch), set()).add(record.content_type)
    # Epoch 0 is plaintext (never a CID); the Finished of both sides is a tls12_cid record.
    assert by_epoch[("c2s", 1)] == by_epoch[("s2c", 1)] == {TLS12_CID}
    assert TLS12_CID not in by_epoch[("c2s", 0)] | by_epoch[("s2c", 0)]


@pytest.mark.parametrize(("client_length", "server_length"), [(0, 4), (4, 0), (1, 255)])
def test_data_flows_both_ways_with_zero_length_and_long_cids(
    client_length: int, server_length: int
) -> None:  # I1, I2
    pair = cid_pair(client_length, server_length)
    datagram = sealed(pair, b"up")
    assert (datagram[0] == TLS12_CID) == (server_length > 0)
    pair.server.receive_datagram(datagram, CLIENT_ADDR, pair.now)
    assert data_of(pair.server) == [b"up"]
    pair.server.send(b"down")
    ((back, _),) = pair.server.datagrams_to_send(pair.now)
    assert (back[0] == TLS12_CID) == (client_length > 0)
    pair.client.receive_datagram(back, SERVER_ADDR, pair.now)
    assert data_of(pair.client) == [b"down"]


@pytest.mark.parametrize(
    "suite",
    [
        CipherSuite.TLS_PSK_WITH_AES_128_CCM_8,
        CipherSuite.TLS_PSK_WITH_CHACHA20_POLY1305_SHA256,
        CipherSuite.TLS_PSK_WITH_AES_256_GCM_SHA384,
    ],
)
def test_cid_records_with_every_record_construction(suite: CipherSuite) -> None:  # I2, I4
    # CCM_8 (8-byte tag), ChaCha20 (no explicit nonce) and GCM: the inner length in the
    # RFC 9146 additional data is the fragment less each construction's own overhead.
    client, server = psk_configs12()
    client.cipher_suites = server.cipher_suites = [suite]
    client.connection_id_length, server.connection_id_length = 3, 5
    pair = handshake(client, server)
    assert pair.client.state == pair.server.state == ConnectionState.ESTABLISHED
    completed = pair.client_outcome.completed
    assert completed is not None and completed.cipher_suite == suite.name
    datagram = sealed(pair, b"up")
    assert datagram[0] == TLS12_CID
    pair.server.receive_datagram(datagram, NEW_ADDR, pair.now)
    assert data_of(pair.server) == [b"up"]
    assert pair.server.peer_address == NEW_ADDR
    pair.server.send(b"down")
    ((back, _),) = pair.server.datagrams_to_send(pair.now)
    assert back[0] == TLS12_CID
    pair.client.receive_datagram(back, SERVER_ADDR, pair.now)
    assert data_of(pair.client) == [b"down"]


def test_max_payload_still_fits_the_mtu_with_a_cid() -> None:  # I2
    pair = cid_pair(16, 16)
    pair.client.send(bytes(pair.client.max_payload()))
    ((datagram, _),) = pair.client.datagrams_to_send(pair.now)
    assert len(datagram) == pair.client.configuration.mtu


# -- a peer that moves (I5, X23) -------------------------------------------------------------


def test_an_authenticated_newer_record_moves_the_peer() -> None:  # I5
    pair = cid_pair(4, 4)
    pair.server.receive_datagram(sealed(pair, b"moved"), NEW_ADDR, pair.now)
    assert pair.server.peer_address == NEW_ADDR
    assert pair.server.stats.address_changes == 1
    assert data_of(pair.server) == [b"moved"]
    pair.server.send(b"reply")
    assert [addr for _, addr in pair.server.datagrams_to_send(pair.now)] == [NEW_ADDR]


def test_without_cids_another_address_is_dropped() -> None:  # I5
    pair = cid_pair(None, None)
    pair.server.receive_datagram(sealed(pair, b"moved"), NEW_ADDR, pair.now)
    assert pair.server.peer_address == CLIENT_ADDR
    assert pair.server.stats.records_dropped["datagram from another address"] == 1


def test_a_zero_length_server_cid_cannot_follow_the_client() -> None:  # I1, I5
    """The server asked for no CID: the client's records carry none, so another address is
    just another address."""
    pair = cid_pair(4, 0)
    pair.server.receive_datagram(sealed(pair, b"moved"), NEW_ADDR, pair.now)
    assert pair.server.peer_address == CLIENT_ADDR
    assert data_of(pair.server) == []


def test_a_replayed_record_from_a_new_address_changes_nothing() -> None:  # I5, X23
    pair = cid_pair(4, 4)
    captured = sealed(pair, b"once")
    pair.server.receive_datagram(captured, CLIENT_ADDR, pair.now)
    assert data_of(pair.server) == [b"once"]
    pair.server.receive_datagram(captured, ATTACKER, pair.now)
    assert pair.server.peer_address == CLIENT_ADDR
    assert data_of(pair.server) == []
    assert pair.server.stats.records_dropped["replayed or too old sequence number"] == 1
    assert pair.server.datagrams_to_send(pair.now) == []


def test_an_older_record_from_a_new_address_does_not_move_the_peer() -> None:  # I5
    """Reordered: the record is delivered, but the address moves only for the newest."""
    pair = cid_pair(4, 4)
    older, newer = sealed(pair, b"older"), sealed(pair, b"newer")
    pair.server.receive_datagram(newer, CLIENT_ADDR, pair.now)
    pair.server.receive_datagram(older, NEW_ADDR, pair.now)
    assert data_of(pair.server) == [b"newer", b"older"]
    assert pair.server.peer_address == CLIENT_ADDR


def test_a_forged_record_from_a_new_address_changes_nothing() -> None:  # I5, X23
    pair = cid_pair(4, 4)
    forged = bytearray(sealed(pair, b"genuine"))
    forged[-1] ^= 1
    pair.server.receive_datagram(bytes(forged), ATTACKER, pair.now)
    assert pair.server.peer_address == CLIENT_ADDR
    assert pair.server.stats.records_dropped["bad record tag"] == 1
    assert pair.server.datagrams_to_send(pair.now) == []


def test_plaintext_from_a_new_address_is_dropped() -> None:  # I3, I5
    pair = cid_pair(4, 4)
    alert = bytes((ContentType.alert, 0xFE, 0xFD)) + bytes(8) + b"\x00\x02\x02\x28"
    pair.server.receive_datagram(alert, ATTACKER, pair.now)
    assert pair.server.state == ConnectionState.ESTABLISHED
    assert pair.server.peer_address == CLIENT_ADDR
    assert (
        pair.server.stats.records_dropped["record without connection ID from another address"] == 1
    )


def test_a_raced_record_buys_no_amplification() -> None:  # I5, X23
    """A sniffer that races a fresh record from its own address wins the move (DTLS 1.2 has
    no proof of reachability), but what the server then sends there never exceeds what that
    address sent, and the real peer's next record moves it back."""
    pair = cid_pair(4, 4)
    raced = sealed(pair, b"x")
    pair.server.receive_datagram(raced, ATTACKER, pair.now)
    assert pair.server.peer_address == ATTACKER
    pair.server.receive_datagram(raced, CLIENT_ADDR, pair.now)  # the original: a replay now
    assert pair.server.peer_address == ATTACKER
    for size in (10, 100, 1000):
        pair.server.send(bytes(size))
    sent = pair.server.datagrams_to_send(pair.now)
    assert sum(len(d) for d, _ in sent) <= len(raced)
    assert pair.server.stats.datagrams_withheld == 3 - len(sent)
    pair.server.receive_datagram(sealed(pair, b"back"), CLIENT_ADDR, pair.now)
    assert pair.server.peer_address == CLIENT_ADDR
    pair.server.send(bytes(1000))
    assert [addr for _, addr in pair.server.datagrams_to_send(pair.now)] == [CLIENT_ADDR]


def test_a_new_address_may_receive_what_it_sent() -> None:  # I5, X23
    pair = cid_pair(4, 4)
    first = sealed(pair, bytes(50))
    pair.server.receive_datagram(first, NEW_ADDR, pair.now)
    pair.server.send(bytes(50))
    assert [a for _, a in pair.server.datagrams_to_send(pair.now)] == [NEW_ADDR]
    pair.server.send(bytes(50))
    assert pair.server.datagrams_to_send(pair.now) == []  # budget spent
    pair.server.receive_datagram(sealed(pair, bytes(50)), NEW_ADDR, pair.now)
    pair.server.send(bytes(50))
    assert [a for _, a in pair.server.datagrams_to_send(pair.now)] == [NEW_ADDR]
    assert pair.server.stats.datagrams_withheld == 1


# -- the server endpoint routes by CID ---------------------------------------------------------


def test_nat_rebinding_on_netsim_keeps_the_session_with_cids() -> None:  # I5, must show 2
    run = simulate_rebinding(cid_length=4, rebind_at=5.0, duration=10.0)
    assert run.negotiated
    assert run.pings_before == run.echoes_before == 10
    # Every ping after the rebinding reached the server; every echo the budget let out came
    # back (the last one is in flight at the end).
    assert run.pings_after == run.sent_after == 10
    assert run.echoes_after >= 8
    assert run.server_stats.peer_address_changes == 1
    assert run.network is not None
    assert run.network.stats(SERVER_ADDR_SIM, REBOUND_CLIENT_ADDRESS).delivered >= 8


@pytest.mark.parametrize("cid_length", [None, 0])
def test_nat_rebinding_on_netsim_loses_the_session_without_cids(cid_length: int | None) -> None:
    """The contrast: without a CID the server cannot tell the client's records from a
    stranger's, so nothing flows after the rebinding."""
    run = simulate_rebinding(cid_length=cid_length, rebind_at=5.0, duration=10.0)
    assert run.pings_before == run.echoes_before == 10
    assert run.sent_after == 10 and run.pings_after == run.echoes_after == 0
    assert run.server_stats.dropped["not a ClientHello"] == 10


def _captured_client_records(net: Network) -> list[bytes]:
    return [
        e.data
        for e in net.log
        if e.action == Action.SENT and e.direction == "client->server" and e.data[0] == TLS12_CID
    ]


def test_replay_from_a_new_address_on_netsim_does_not_move_the_peer() -> None:  # I5, X23
    """A sniffer replays every record it captured from another address, after the rebinding
    too: the peer stays where its newest record came from and nothing goes to the sniffer."""
    captured: list[bytes] = []

    def capture(net: Network, client: PingingClient, server: EchoEndpoint) -> None:
        captured.extend(_captured_client_records(net))
        for data in captured:
            net.inject(data, ATTACKER, SERVER_ADDR_SIM)

    run = simulate_rebinding(cid_length=4, before_rebind=capture)
    assert run.network is not None
    net = run.network
    for data in captured:  # and once more after the rebinding
        net.inject(data, ATTACKER, SERVER_ADDR_SIM, delay=0.01)
    net.run(until=net.now + 1.0)
    assert len(captured) >= 10
    assert net.stats(SERVER_ADDR_SIM, ATTACKER).sent == 0
    server = net.endpoint(SERVER_ADDR_SIM)
    assert isinstance(server, EchoEndpoint)
    (connection,) = server.endpoint.connections.values()
    assert connection.peer_address == REBOUND_CLIENT_ADDRESS
    assert run.server_stats.peer_address_changes == 1
    assert run.survived


def test_unknown_cids_are_dropped_and_counted() -> None:  # I3, must show 2
    run = simulate_rebinding(cid_length=4, duration=6.0)
    assert run.network is not None
    net = run.network
    (record,) = _captured_client_records(net)[-1:]
    for i in range(3):
        forged = bytearray(record)
        forged[11] ^= 1 << i  # another CID, same length
        net.inject(bytes(forged), ATTACKER, SERVER_ADDR_SIM)
    net.run(until=net.now + 0.1)
    assert run.server_stats.unknown_connection_ids == 3
    assert net.stats(SERVER_ADDR_SIM, ATTACKER).sent == 0


def test_endpoint_cids_are_unique_and_freed() -> None:  # I1
    _, server = psk_configs12(connection_id_length=1)
    endpoint = DtlsEndpoint(server, max_half_open=400)
    cids = {endpoint._new_connection_id() for _ in range(20)}
    assert None not in cids
    # With every one-byte CID taken, no connection is created (and none shares a CID).
    endpoint._by_cid = {bytes((i,)): DtlsConnection(configuration=server) for i in range(256)}
    assert endpoint._new_connection_id() is None


def test_server_routes_by_cid_over_netsim_with_loss() -> None:  # I5
    """A rebinding under 10 % loss both ways: the session survives."""
    run = simulate_rebinding(cid_length=8, loss=0.1, seed=3, duration=20.0)
    assert run.negotiated and run.survived


def test_the_application_can_confirm_the_new_address() -> None:  # I5, RFC 9146 §6
    """Its protocol got an answer from the peer at the new address: the limit is lifted."""
    pair = cid_pair(4, 4)
    pair.server.receive_datagram(sealed(pair, b"small"), NEW_ADDR, pair.now)
    pair.server.send(bytes(500))
    assert pair.server.datagrams_to_send(pair.now) == []
    pair.server.confirm_peer_address()
    pair.server.send(bytes(500))
    assert [a for _, a in pair.server.datagrams_to_send(pair.now)] == [NEW_ADDR]
    # A connection without CIDs has nothing to lift.
    plain = cid_pair(None, None)
    plain.server.confirm_peer_address()
    assert plain.server.peer_address == CLIENT_ADDR


def _rebinding_failures(seeds: range, loss: float) -> list[int]:
    """Seeds whose session did not carry data both ways after the rebinding."""
    return [
        seed
        for seed in seeds
        if not simulate_rebinding(
            cid_length=4, loss=loss, seed=seed, rebind_at=15.0, duration=30.0
        ).survived
    ]


def test_rebinding_under_20_percent_loss_50_seeds() -> None:  # I5
    assert _rebinding_failures(range(50), 0.2) == []


@pytest.mark.slow
def test_rebinding_under_20_percent_loss_2000_seeds() -> None:  # I5
    assert _rebinding_failures(range(2000), 0.2) == []


@given(body=st.binary(max_size=64), port=st.integers(1, 65535), real_cid=st.booleans())
@settings(max_examples=200, deadline=None)
def test_random_cid_datagrams_never_raise_nor_move_the_peer(
    body: bytes, port: int, real_cid: bool
) -> None:  # I3, I5, X23
    run = _established_run()
    assert run.network is not None
    server = run.network.endpoint(SERVER_ADDR_SIM)
    assert isinstance(server, EchoEndpoint)
    (connection,) = server.endpoint.connections.values()
    cid = connection._records.receive_cid if real_cid else b"\x00\x01\x02\x03"
    datagram = bytes((TLS12_CID, 0xFE, 0xFD)) + bytes(8) + cid + body
    server.endpoint.receive_datagram(datagram, ("198.51.100.7", port), run.network.now)
    assert connection.state == ConnectionState.ESTABLISHED
    assert connection.peer_address == REBOUND_CLIENT_ADDRESS
    assert server.endpoint.datagrams_to_send(run.network.now) == []


_RUNS: list[RebindingRun] = []


def _established_run() -> RebindingRun:
    if not _RUNS:
        _RUNS.append(simulate_rebinding(cid_length=4, rebind_at=1.0, duration=2.0))
    return _RUNS[0]
