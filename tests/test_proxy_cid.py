"""The diagnosis and the proxy with connection IDs (RFC 9146), from hand-built datagrams.

The records follow RFC 9146's wire format (tests/test_dissect.py's builders): hellos with
extension 54, then ``tls12_cid`` records whose bodies stand in for ciphertext; the tools only
read headers. Until aiodtls itself speaks CIDs these are the only CID sessions to watch.

- The diagnosis keeps CID records out of the garbage (no ``not_dtls``) and out of the
  handshake messages, except the Finished that follows a ChangeCipherSpec (SPEC I2).
- The proxy relays CID records unchanged; a client whose source port changes gets a new
  upstream socket (the server sees the new address, as behind a NAT) and, when its record is
  newer than any the client sent, the old address's diagnosis (``address_changed``); a
  replayed older record from another address is ``cid_replayed`` and moves nothing (SPEC I5).
"""

from __future__ import annotations

import asyncio

from aiodtls.diagnose import HandshakeDiagnosis
from aiodtls.handshake.flights import CLIENT_FINISHED, FULL
from aiodtls.impairment import LinkConditions, drop, where
from aiodtls.proxy import DtlsProxy
from test_dissect import (
    CCS,
    CLIENT_HELLO,
    CLIENT_KEY_EXCHANGE,
    HANDSHAKE,
    SERVER_HELLO,
    SERVER_HELLO_DONE,
    cid_record,
    client_hello_body,
    connection_id_extension,
    extensions_block,
    fragment,
    record,
    server_hello_body,
)
from test_proxy_fuzz import Inbox, Recorder
from test_proxy_limits import until

CLIENT_CID = bytes.fromhex("c1c2")
"The client's connection_id: the server puts it in its records."
SERVER_CID = bytes.fromhex("5e5e5e5e")
"The server's connection_id: the client puts it in its records."

CLIENT_HELLO_1 = record(
    HANDSHAKE,
    fragment(
        CLIENT_HELLO,
        client_hello_body() + extensions_block(connection_id_extension(CLIENT_CID)),
    ),
)
FLIGHT_4 = record(
    HANDSHAKE,
    fragment(SERVER_HELLO, server_hello_body(connection_id_extension(SERVER_CID)), message_seq=1)
    + fragment(SERVER_HELLO_DONE, b"", message_seq=2),
)
CLIENT_KEY_EXCHANGE_RECORD = record(
    HANDSHAKE, fragment(CLIENT_KEY_EXCHANGE, b"k" * 33, message_seq=1), seq=1
)


def flight_5(first_seq: int, finished_seq: int) -> bytes:
    """ClientKeyExchange, ChangeCipherSpec (epoch 0) and the Finished in a tls12_cid record."""
    return (
        record(HANDSHAKE, fragment(CLIENT_KEY_EXCHANGE, b"k" * 33, message_seq=1), seq=first_seq)
        + record(CCS, b"\x01", seq=first_seq + 1)
        + cid_record(SERVER_CID, b"F" * 40, epoch=1, seq=finished_seq)
    )


FLIGHT_5 = flight_5(1, 0)
FLIGHT_5_AGAIN = flight_5(3, 1)
FLIGHT_6 = record(CCS, b"\x01", seq=2) + cid_record(CLIENT_CID, b"f" * 40, epoch=1, seq=0)


def client_data(seq: int) -> bytes:
    return cid_record(SERVER_CID, b"a" * 24, epoch=1, seq=seq)


def server_data(seq: int) -> bytes:
    return cid_record(CLIENT_CID, b"b" * 24, epoch=1, seq=seq)


# --------------------------------------------------------------------------------------------
# The diagnosis


def test_cid_handshake_is_followed_to_completion() -> None:  # I2
    diagnosis = HandshakeDiagnosis()
    script = [
        ("c2s", CLIENT_HELLO_1),
        ("s2c", FLIGHT_4),
        ("c2s", FLIGHT_5),
        ("s2c", FLIGHT_6),
        ("c2s", client_data(1)),
    ]
    observations = [
        diagnosis.observe(0.01 * n, direction, data) for n, (direction, data) in enumerate(script)
    ]
    flights = [f.number for f in FULL.sequence(cookie_exchange=False)]
    assert [o.flight for o in observations] == [*flights, None]
    assert observations[0].summary.endswith("connection_id(54)=c1c2")
    assert observations[1].summary == (
        "HS ServerHello seq=1 [0+49/49] connection_id(54)=5e5e5e5e, "
        "HS ServerHelloDone seq=2 [0+0/0]"
    )
    assert observations[2].summary.endswith("| CCS | CID[5e5e5e5e] e1#0 enc 40B")
    assert observations[3].summary == "CCS | CID[c1c2] e1#0 enc 40B"
    # Application data in a tls12_cid record after both Finished flights ends the handshake.
    assert [f.kind for f in diagnosis.findings] == ["completed"]


def test_cid_finished_is_the_record_after_the_change_cipher_spec() -> None:  # I2
    """The Finished alone in its datagram is lost and never resent: the diagnosis names it,
    so it knew the tls12_cid record was the Finished although its type is encrypted."""
    diagnosis = HandshakeDiagnosis(patience=1.0)
    diagnosis.observe(0.0, "c2s", CLIENT_HELLO_1)
    diagnosis.observe(0.1, "s2c", FLIGHT_4)
    diagnosis.observe(0.2, "c2s", CLIENT_KEY_EXCHANGE_RECORD + record(CCS, b"\x01", seq=2))
    lost = diagnosis.observe(
        0.2, "c2s", cid_record(SERVER_CID, b"F" * 40, epoch=1, seq=0), "dropped", "loss"
    )
    assert lost.flight == CLIENT_FINISHED.number
    when = diagnosis.get_timer()
    assert when is not None
    diagnosis.handle_timer(when)
    [finding] = diagnosis.findings
    assert finding.kind == "no_retransmission" and finding.side == "client"
    assert "after the encrypted Finished was lost" in finding.message


def test_cid_records_mid_session_are_not_called_garbage() -> None:  # I3, X18
    """Regression: the diagnosis dissected every datagram with a CID length of 0, so a proxy
    started mid-session called each tls12_cid record 'not DTLS 1.2 (record length overruns
    datagram)'. Now the CID length is inferred and the records are named."""
    diagnosis = HandshakeDiagnosis(patience=0.5)
    to_server = diagnosis.observe(0.0, "c2s", client_data(8))
    to_client = diagnosis.observe(0.1, "s2c", server_data(9))
    assert to_server.summary == "CID[5e5e5e5e] e1#8 enc 24B (CID length inferred)"
    assert to_client.summary == "CID[c1c2] e1#9 enc 24B (CID length inferred)"
    assert to_server.flight is None and to_client.flight is None
    # Not a handshake message either: nothing is lost, pending or completed.
    diagnosis.observe(0.2, "c2s", client_data(10), "dropped", "loss")
    assert diagnosis.get_timer() is None
    assert diagnosis.findings == []


def test_address_change_is_a_move_only_for_a_newer_record() -> None:  # I5
    diagnosis = HandshakeDiagnosis()
    diagnosis.observe(0.0, "c2s", client_data(5))
    old, new = "10.0.0.1:5000", "10.0.0.1:6000"
    assert not diagnosis.note_address_change(
        1.0, old=old, new=new, connection_id=SERVER_CID, record=(1, 5)
    )
    assert diagnosis.note_address_change(
        1.0, old=old, new=new, connection_id=SERVER_CID, record=(1, 6)
    )
    replayed, moved = diagnosis.findings
    assert (replayed.kind, replayed.side) == ("cid_replayed", "client")
    assert replayed.details["newest"] == [1, 5]
    assert (moved.kind, moved.side) == ("address_changed", "client")
    assert moved.details == {
        "from": old,
        "to": new,
        "connection_id": "5e5e5e5e",
        "epoch": 1,
        "sequence_number": 6,
    }
    assert f"client address changed from {old} to {new}" in moved.message


# --------------------------------------------------------------------------------------------
# The proxy, between plain UDP sockets


async def _client(proxy_address: tuple[str, int]) -> tuple[asyncio.DatagramTransport, Inbox]:
    transport, inbox = await asyncio.get_running_loop().create_datagram_endpoint(
        Inbox, remote_addr=proxy_address
    )
    return transport, inbox


def test_proxy_relays_cid_records_and_follows_a_rebinding_client() -> None:  # I5
    """A CID session through the proxy; the client's source port changes (a new socket), then
    a third address replays an old record. Everything is relayed unchanged."""

    async def main() -> tuple[Recorder, list[str], list[tuple[bytes, tuple[str, int]]]]:
        loop = asyncio.get_running_loop()
        server_transport, server = await loop.create_datagram_endpoint(
            Inbox, local_addr=("127.0.0.1", 0)
        )
        recorder = Recorder()
        proxy = DtlsProxy(
            server_transport.get_extra_info("sockname")[:2],
            on_observation=recorder.observation,
            on_finding=recorder.finding,
        )
        proxy_address = await proxy.start("127.0.0.1", 0)
        first, first_inbox = await _client(proxy_address)
        second, second_inbox = await _client(proxy_address)
        third, _ = await _client(proxy_address)
        names = ["{}:{}".format(*t.get_extra_info("sockname")[:2]) for t in (first, second, third)]
        try:
            first.sendto(CLIENT_HELLO_1)
            await server.wait_for(1)
            server_transport.sendto(FLIGHT_4, server.received[0][1])
            await first_inbox.wait_for(1)
            first.sendto(FLIGHT_5)
            await server.wait_for(2)
            server_transport.sendto(FLIGHT_6, server.received[0][1])
            await first_inbox.wait_for(2)
            first.sendto(client_data(2))
            await server.wait_for(3)
            # NAT rebinding: the same session from a new source port.
            second.sendto(client_data(3))
            await server.wait_for(4)
            server_transport.sendto(server_data(1), server.received[3][1])
            await second_inbox.wait_for(1)
            # An old record replayed from yet another address.
            third.sendto(client_data(2))
            await server.wait_for(5)
            moved = proxy.flows[first.get_extra_info("sockname")[:2]]
            successor = proxy.flows[second.get_extra_info("sockname")[:2]]
            replayer = proxy.flows[third.get_extra_info("sockname")[:2]]
            assert moved.moved_to is successor and successor.diagnosis is moved.diagnosis
            assert moved.timer is None
            assert replayer.moved_to is None and replayer.diagnosis is not moved.diagnosis
            # One CID indexed, for the client's latest address: no more than one per flow.
            assert proxy._cid_flows == {SERVER_CID: successor}
            assert first_inbox.received == [(FLIGHT_4, proxy_address), (FLIGHT_6, proxy_address)]
            assert second_inbox.received == [(server_data(1), proxy_address)]
        finally:
            for transport in (first, second, third, server_transport):
                transport.close()
            proxy.close()
        return recorder, names, server.received

    recorder, names, received = asyncio.run(main())
    first, second, third = names
    assert [data for data, _ in received] == [
        CLIENT_HELLO_1,
        FLIGHT_5,
        client_data(2),
        client_data(3),
        client_data(2),
    ]
    upstream = [source for _, source in received]
    # The server sees the rebinding client, and the replayer, at new addresses (as with a NAT).
    assert upstream[0] == upstream[1] == upstream[2]
    assert len({upstream[0], upstream[3], upstream[4]}) == 3
    assert [(name, f.kind, f.side) for name, f in recorder.findings] == [
        (first, "completed", None),
        (second, "address_changed", "client"),
        (third, "cid_replayed", "client"),
    ]
    moved = recorder.findings[1][1]
    assert moved.details["from"] == first and moved.details["to"] == second
    # The new address carries on the session's timeline: its first datagram is C->S #3.
    rebound = [o for name, o in recorder.observations if name == second]
    assert [(o.direction, o.index) for o in rebound] == [("c2s", 3), ("s2c", 2)]
    assert rebound[0].summary == "CID[5e5e5e5e] e1#3 enc 24B"
    replay = [o for name, o in recorder.observations if name == third]
    assert [(o.direction, o.index) for o in replay] == [("c2s", 0)]


def test_rebinding_during_the_handshake_is_not_reported_as_a_hang() -> None:  # I5
    """The client's Finished flight is lost at its old address and resent from a new one: the
    old address's diagnosis must not wait for a retransmission that comes from elsewhere.
    Before the proxy followed rebinding clients, the old flow kept a pending loss whose timer
    named the client for never retransmitting flight 5 once ``patience`` passed."""

    async def main() -> Recorder:
        loop = asyncio.get_running_loop()
        server_transport, server = await loop.create_datagram_endpoint(
            Inbox, local_addr=("127.0.0.1", 0)
        )
        recorder = Recorder()
        lose_flight_5 = LinkConditions(rules=[drop(where(lambda d: d.data == FLIGHT_5))])
        proxy = DtlsProxy(
            server_transport.get_extra_info("sockname")[:2],
            c2s=lose_flight_5,
            patience=0.2,
            on_observation=recorder.observation,
            on_finding=recorder.finding,
        )
        proxy_address = await proxy.start("127.0.0.1", 0)
        first, first_inbox = await _client(proxy_address)
        second, second_inbox = await _client(proxy_address)
        try:
            first.sendto(CLIENT_HELLO_1)
            await server.wait_for(1)
            server_transport.sendto(FLIGHT_4, server.received[0][1])
            await first_inbox.wait_for(1)
            first.sendto(FLIGHT_5)  # dropped by the proxy
            second.sendto(FLIGHT_5_AGAIN)  # the retransmission, from a new port
            await server.wait_for(2)
            server_transport.sendto(FLIGHT_6, server.received[1][1])
            await second_inbox.wait_for(1)
            second.sendto(client_data(2))
            await server.wait_for(3)
            # Nothing is left pending at the old address: no timer that could call a hang.
            old = proxy.flows[first.get_extra_info("sockname")[:2]]
            assert old.timer is None and old.diagnosis.get_timer() is None
        finally:
            for transport in (first, second, server_transport):
                transport.close()
            proxy.close()
        return recorder

    recorder = asyncio.run(main())
    kinds = recorder.kinds()
    assert kinds == [("address_changed", "client"), ("completed", None)]
    completed = recorder.findings[-1][1]
    [recovered] = completed.details["recovered"]
    assert (recovered["side"], recovered["flight"]) == ("client", CLIENT_FINISHED.number)
    [retransmission] = [o for _, o in recorder.observations if o.size == len(FLIGHT_5_AGAIN)][1:]
    assert retransmission.retransmission_of == 1  # the lost flight 5, at the old address


def test_cid_index_is_bounded_by_the_client_table() -> None:
    """Per-client memory: one CID indexed per tracked client at most, so ``max_clients``
    bounds it, and it is forgotten with the client."""
    cap, clients = 3, 6

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server_transport, server = await loop.create_datagram_endpoint(
            Inbox, local_addr=("127.0.0.1", 0)
        )
        proxy = DtlsProxy(
            server_transport.get_extra_info("sockname")[:2],
            max_clients=cap,
            idle_timeout=0.05,
            on_notice=lambda _: None,
        )
        proxy_address = await proxy.start("127.0.0.1", 0)
        senders = [(await _client(proxy_address))[0] for _ in range(clients)]
        try:
            for n, sender in enumerate(senders):  # each its own CID, as a hostile sender might
                sender.sendto(cid_record(bytes([n]) * 4, b"x" * 20, seq=n))
            await until(lambda: proxy.counters.refused_datagrams == clients - cap, "refusals")
            await server.wait_for(cap)
            assert len(proxy._cid_flows) == cap
            assert all(proxy.flows[flow.client] is flow for flow in proxy._cid_flows.values())
            await until(lambda: not proxy.flows, "the idle clients are forgotten")
            assert proxy._cid_flows == {}
        finally:
            for transport in (*senders, server_transport):
                transport.close()
            proxy.close()

    asyncio.run(main())


def test_a_client_that_moves_twice_is_followed_to_its_latest_address() -> None:  # I5
    """Two rebindings in a row: the findings name each move, and what the server still sends
    to the first address (before it moved the peer) is reported with the latest address."""

    async def main() -> tuple[Recorder, list[str]]:
        loop = asyncio.get_running_loop()
        server_transport, server = await loop.create_datagram_endpoint(
            Inbox, local_addr=("127.0.0.1", 0)
        )
        recorder = Recorder()
        proxy = DtlsProxy(
            server_transport.get_extra_info("sockname")[:2],
            on_observation=recorder.observation,
            on_finding=recorder.finding,
        )
        proxy_address = await proxy.start("127.0.0.1", 0)
        clients = [await _client(proxy_address) for _ in range(3)]
        names = ["{}:{}".format(*t.get_extra_info("sockname")[:2]) for t, _ in clients]
        try:
            for seq, (transport, _) in enumerate(clients, start=5):
                transport.sendto(client_data(seq))
                await server.wait_for(seq - 4)
            # A late record from the server to the first address, then a finding it leads to.
            server_transport.sendto(FLIGHT_4, server.received[0][1])
            await clients[0][1].wait_for(1)
            first = proxy.flows[clients[0][0].get_extra_info("sockname")[:2]]
            assert proxy._current(first).name == names[2]
            first.diagnosis.note_address_change(
                9.0, old="a", new="b", connection_id=SERVER_CID, record=(1, 0)
            )
        finally:
            for transport, _ in clients:
                transport.close()
            server_transport.close()
            proxy.close()
        return recorder, names

    recorder, names = asyncio.run(main())
    moves = [(name, f.details["from"], f.details["to"]) for name, f in recorder.findings[:2]]
    assert moves == [(names[1], names[0], names[1]), (names[2], names[1], names[2])]
    assert [(name, f.kind) for name, f in recorder.findings[2:]] == [(names[2], "cid_replayed")]
    late = [(name, o.direction, o.index) for name, o in recorder.observations][-1]
    assert late == (names[0], "s2c", 0)  # the datagram went to the first address
