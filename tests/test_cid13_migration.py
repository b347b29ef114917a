"""DTLS 1.3 connection IDs after the handshake (RFC 9147 §9, §11): a peer that moves to a new
address with its CID, the endpoint routing unified headers by CID, and a NAT rebinding over
real loopback sockets (SPEC I3-I5, X23), as tests/test_connection_ids.py and
tests/test_cid_loopback.py do for DTLS 1.2."""

from __future__ import annotations

import asyncio

import pytest

from aiodtls import ConnectionState, DataReceived, DtlsConfiguration, DtlsConnection
from aiodtls.alerts import AlertDescription
from aiodtls.asyncio import connect, serve
from aiodtls.endpoint import DtlsEndpoint
from aiodtls.handshake.messages import HandshakeType
from aiodtls.handshake.messages.tls13 import (
    ConnectionIdUsage,
    NewConnectionId,
    encode_new_connection_id,
)
from aiodtls.handshake.state13 import MAX_ISSUED_CONNECTION_IDS
from aiodtls.handshake_phase13 import Dtls13State
from aiodtls.record.header import ContentType
from aiodtls.reliability.reassembly import HandshakeMessage
from aiodtls.suites import ProtocolVersion
from aiodtls.wire import peek_cid
from pairs import CLIENT_ADDR, SERVER_ADDR, Pair, handshake, psk_configs, psk_configs12
from test_cid_loopback import Nat, attacker_socket, echo, round_trip

V13 = (ProtocolVersion.DTLSv1_3,)
NEW_ADDR = ("127.0.0.1", 40001)
ATTACKER = ("203.0.113.9", 666)


def configs13(
    client_length: int | None, server_length: int | None
) -> tuple[DtlsConfiguration, DtlsConfiguration]:
    client, server = psk_configs()
    client.versions = server.versions = V13
    client.connection_id_length = client_length
    server.connection_id_length = server_length
    return client, server


def cid_pair13(client_length: int | None, server_length: int | None) -> Pair:
    pair = handshake(*configs13(client_length, server_length))
    assert pair.client.state == pair.server.state == ConnectionState.ESTABLISHED
    assert pair.client.protocol_version == "DTLSv1.3"
    return pair


def data_of(connection: DtlsConnection) -> list[bytes]:
    return [e.data for e in iter(connection.next_event, None) if isinstance(e, DataReceived)]


def sealed(pair: Pair, payload: bytes) -> bytes:
    pair.client.send(payload)
    ((datagram, _),) = pair.client.datagrams_to_send(pair.now)
    return datagram


# -- the keyless peek (the endpoint's routing) -----------------------------------------------


def test_peek_cid_reads_a_unified_header_with_the_c_bit() -> None:  # I3
    pair = cid_pair13(4, 6)
    datagram = sealed(pair, b"x")
    completed = pair.server_outcome.completed
    assert completed is not None and completed.connection_id is not None
    assert datagram[0] & 0xF0 == 0x30
    assert peek_cid(datagram, 6) == completed.connection_id
    assert peek_cid(datagram, 0) is None
    assert peek_cid(datagram[:7], 6) is None  # no room for a sequence number
    assert peek_cid(bytes((datagram[0] & ~0x10,)) + datagram[1:], 6) is None  # no C bit
    assert peek_cid(b"", 6) is None


# -- a peer that moves (I5, X23) -------------------------------------------------------------


def test_an_authenticated_newer_record_moves_the_peer() -> None:  # I5
    pair = cid_pair13(4, 4)
    pair.server.receive_datagram(sealed(pair, b"moved"), NEW_ADDR, pair.now)
    assert pair.server.peer_address == NEW_ADDR
    assert pair.server.stats.address_changes == 1
    assert data_of(pair.server) == [b"moved"]
    pair.server.send(b"reply")
    assert [addr for _, addr in pair.server.datagrams_to_send(pair.now)] == [NEW_ADDR]


@pytest.mark.parametrize(("client_length", "server_length"), [(None, None), (4, 0), (4, None)])
def test_without_a_server_cid_another_address_is_dropped(
    client_length: int | None, server_length: int | None
) -> None:  # I1, I5
    pair = cid_pair13(client_length, server_length)
    pair.server.receive_datagram(sealed(pair, b"moved"), NEW_ADDR, pair.now)
    assert pair.server.peer_address == CLIENT_ADDR
    assert data_of(pair.server) == []
    assert pair.server.stats.records_dropped["datagram from another address"] == 1


def test_a_replayed_record_from_a_new_address_changes_nothing() -> None:  # I5, X23
    pair = cid_pair13(4, 4)
    captured = sealed(pair, b"once")
    pair.server.receive_datagram(captured, CLIENT_ADDR, pair.now)
    assert data_of(pair.server) == [b"once"]
    pair.server.receive_datagram(captured, ATTACKER, pair.now)
    assert pair.server.peer_address == CLIENT_ADDR
    assert pair.server.stats.address_changes == 0
    assert data_of(pair.server) == []
    assert pair.server.stats.records_dropped["replayed or too old sequence number"] == 1
    assert pair.server.datagrams_to_send(pair.now) == []


def test_an_older_record_from_a_new_address_does_not_move_the_peer() -> None:  # I5
    """Reordered: the record is delivered, but the address moves only for the newest."""
    pair = cid_pair13(4, 4)
    older, newer = sealed(pair, b"older"), sealed(pair, b"newer")
    pair.server.receive_datagram(newer, CLIENT_ADDR, pair.now)
    pair.server.receive_datagram(older, NEW_ADDR, pair.now)
    assert data_of(pair.server) == [b"newer", b"older"]
    assert pair.server.peer_address == CLIENT_ADDR


def test_a_forged_record_from_a_new_address_changes_nothing() -> None:  # I5, X23
    pair = cid_pair13(4, 4)
    forged = bytearray(sealed(pair, b"genuine"))
    forged[-1] ^= 1
    pair.server.receive_datagram(bytes(forged), ATTACKER, pair.now)
    assert pair.server.peer_address == CLIENT_ADDR
    assert pair.server.stats.records_dropped["bad record tag"] == 1
    assert pair.server.datagrams_to_send(pair.now) == []


def test_a_record_with_another_cid_from_a_new_address_changes_nothing() -> None:  # I3, X23
    pair = cid_pair13(4, 4)
    other = bytearray(sealed(pair, b"genuine"))
    other[1] ^= 0xFF
    pair.server.receive_datagram(bytes(other), ATTACKER, pair.now)
    assert pair.server.peer_address == CLIENT_ADDR
    assert pair.server.stats.records_dropped["unknown connection ID"] == 1


@pytest.mark.parametrize(
    "datagram",
    [
        # A plaintext alert (DTLSPlaintext header), and a unified header without the C bit.
        bytes((ContentType.alert, 0xFE, 0xFD)) + bytes(8) + b"\x00\x02\x02\x28",
        bytes((0x2F,)) + bytes(40),
        b"",
    ],
)
def test_records_without_our_cid_from_a_new_address_are_dropped(datagram: bytes) -> None:
    # I3, I5
    pair = cid_pair13(4, 4)
    pair.server.receive_datagram(datagram, ATTACKER, pair.now)
    assert pair.server.state == ConnectionState.ESTABLISHED
    assert pair.server.peer_address == CLIENT_ADDR
    assert (
        pair.server.stats.records_dropped["record without connection ID from another address"] == 1
    )


def test_no_move_during_the_handshake() -> None:  # I5
    """Only an established connection follows its peer: during the handshake another
    address is just another address."""
    client_cfg, server_cfg = configs13(4, 4)
    client = DtlsConnection(configuration=client_cfg)
    server = DtlsConnection(configuration=server_cfg)
    client.connect(SERVER_ADDR, 0.0)
    for data, _ in client.datagrams_to_send(0.0):
        server.receive_datagram(data, CLIENT_ADDR, 0.0)
    answers = [d for d, _ in server.datagrams_to_send(0.0)]
    for data in answers:
        client.receive_datagram(data, SERVER_ADDR, 0.0)
    finished = [d for d, _ in client.datagrams_to_send(0.0)]
    assert finished
    for data in finished:
        server.receive_datagram(data, NEW_ADDR, 0.0)
    assert server.peer_address == CLIENT_ADDR
    assert server.state == ConnectionState.HANDSHAKING
    assert server.stats.records_dropped["datagram from another address"] == len(finished)


def test_a_raced_record_buys_no_amplification() -> None:  # I5, X23, RFC 9147 §11
    """A sniffer that races a fresh record from its own address wins the move, but what the
    server then sends there never exceeds what that address sent, and the real peer's next
    record moves it back."""
    pair = cid_pair13(4, 4)
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


def test_the_application_can_confirm_the_new_address() -> None:  # I5, RFC 9146 §6
    pair = cid_pair13(4, 4)
    pair.server.receive_datagram(sealed(pair, b"small"), NEW_ADDR, pair.now)
    pair.server.send(bytes(500))
    assert pair.server.datagrams_to_send(pair.now) == []
    pair.server.confirm_peer_address()
    pair.server.send(bytes(500))
    assert [a for _, a in pair.server.datagrams_to_send(pair.now)] == [NEW_ADDR]


def test_the_client_follows_a_server_that_moves() -> None:  # I5: symmetric
    pair = cid_pair13(4, 4)
    pair.server.send(b"from elsewhere")
    ((datagram, _),) = pair.server.datagrams_to_send(pair.now)
    pair.client.receive_datagram(datagram, NEW_ADDR, pair.now)
    assert pair.client.peer_address == NEW_ADDR
    assert data_of(pair.client) == [b"from elsewhere"]


# -- the endpoint routes DTLS 1.3 records by CID ---------------------------------------------


class EndpointPair:
    """A client DtlsConnection and a server DtlsEndpoint, in memory; ``client_addr`` is where
    the client's datagrams come from (a NAT can change it)."""

    def __init__(self, client_cfg: DtlsConfiguration, server_cfg: DtlsConfiguration) -> None:
        self.client = DtlsConnection(configuration=client_cfg)
        self.endpoint = DtlsEndpoint(server_cfg)
        self.client_addr = CLIENT_ADDR
        self.now = 0.0
        self.received: list[bytes] = []
        self.client.connect(SERVER_ADDR, self.now)

    def exchange(self) -> None:
        for _ in range(50):
            moved = False
            for data, _ in self.client.datagrams_to_send(self.now):
                moved = True
                self.endpoint.receive_datagram(data, self.client_addr, self.now)
            for data, addr in self.endpoint.datagrams_to_send(self.now):
                moved = True
                if addr == self.client_addr:
                    self.client.receive_datagram(data, SERVER_ADDR, self.now)
            while (item := self.endpoint.next_event()) is not None:
                if isinstance(item[1], DataReceived):
                    self.received.append(item[1].data)
            if not moved:
                return

    def server_connection(self) -> DtlsConnection:
        (connection,) = set(self.endpoint.connections.values())
        return connection


def established_endpoint_pair(cid_length: int | None) -> EndpointPair:
    pair = EndpointPair(*configs13(0, cid_length))
    pair.exchange()
    assert pair.client.state == ConnectionState.ESTABLISHED
    assert pair.server_connection().protocol_version == "DTLSv1.3"
    return pair


def test_endpoint_routes_dtls13_records_by_cid_from_a_new_address() -> None:  # I3, I5
    pair = established_endpoint_pair(4)
    connection = pair.server_connection()
    # The CID the endpoint chose is the one the connection negotiated (what it routes by).
    assert pair.endpoint._by_cid == {connection._v13.records.receive_cid: connection}  # type: ignore[union-attr]
    pair.client_addr = NEW_ADDR  # the NAT rebinds
    pair.client.send(b"after")
    pair.exchange()
    assert pair.received == [b"after"]
    assert connection.peer_address == NEW_ADDR
    assert pair.endpoint.connections == {NEW_ADDR: connection}
    assert pair.endpoint.stats.peer_address_changes == 1


def test_endpoint_counts_unknown_dtls13_cids() -> None:  # I3, X23
    pair = established_endpoint_pair(4)
    pair.client.send(b"x")
    ((datagram, _),) = pair.client.datagrams_to_send(pair.now)
    for i in range(3):
        forged = bytearray(datagram)
        forged[1] ^= 1 << i
        pair.endpoint.receive_datagram(bytes(forged), ATTACKER, pair.now)
    assert pair.endpoint.stats.unknown_connection_ids == 3
    assert pair.endpoint.datagrams_to_send(pair.now) == []


def test_endpoint_without_cids_loses_a_dtls13_peer_that_moves() -> None:  # the contrast
    pair = established_endpoint_pair(None)
    pair.client_addr = NEW_ADDR
    pair.client.send(b"after")
    pair.exchange()
    assert pair.received == []
    assert pair.endpoint.stats.dropped["not a ClientHello"] == 1


# -- real loopback sockets -------------------------------------------------------------------


def test_nat_rebinding_over_loopback_keeps_a_dtls13_session_with_cids() -> None:  # I5, X23
    async def main() -> None:
        client_cfg, server_cfg = configs13(0, 4)
        server = await serve("127.0.0.1", 0, configuration=server_cfg, handler=echo)
        nat = Nat(server.address)
        await nat.start()
        attacker, attacker_received = await attacker_socket()
        assert attacker.transport is not None
        try:
            async with connect("127.0.0.1", nat.inside[1], configuration=client_cfg) as session:
                assert session.handshake.protocol_version == "DTLSv1.3"
                assert session.handshake.peer_connection_id is not None
                assert await round_trip(session, b"before") == b"before"
                (connection,) = server.endpoint.connections.values()
                assert connection.peer_address == nat.outside
                await nat.rebind()
                for i in range(3):
                    assert await round_trip(session, b"after %d" % i) == b"after %d" % i
                assert connection.peer_address == nat.outside
                assert server.endpoint.stats.peer_address_changes == 1
                # A sniffer replays every protected record it captured from its own address.
                replays = [d for d in nat.captured if d[0] & 0xF0 == 0x30]
                assert len(replays) >= 4
                for data in replays:
                    attacker.transport.sendto(data, server.address)
                for i in range(2):
                    forged = bytearray(replays[-1])
                    forged[1] ^= 1 << i
                    attacker.transport.sendto(bytes(forged), server.address)
                assert await round_trip(session, b"still here") == b"still here"
                await asyncio.sleep(0.05)
                assert connection.peer_address == nat.outside
                assert server.endpoint.stats.peer_address_changes == 1
                assert server.endpoint.stats.unknown_connection_ids == 2
                assert attacker_received == []
                assert connection.stats.records_dropped["replayed or too old sequence number"]
        finally:
            attacker.transport.close()
            nat.close()
            server.close()
            await server.wait_closed()

    asyncio.run(main())


def test_nat_rebinding_over_loopback_loses_a_dtls13_session_without_cids() -> None:
    async def main() -> None:
        client_cfg, server_cfg = configs13(None, None)
        server = await serve("127.0.0.1", 0, configuration=server_cfg, handler=echo)
        nat = Nat(server.address)
        await nat.start()
        try:
            async with connect("127.0.0.1", nat.inside[1], configuration=client_cfg) as session:
                assert await round_trip(session, b"before") == b"before"
                await nat.rebind()
                with pytest.raises(asyncio.TimeoutError):
                    await round_trip(session, b"after", timeout=0.3)
                assert server.endpoint.stats.dropped["not a ClientHello"] >= 1
        finally:
            nat.close()
            server.close()
            await server.wait_closed()

    asyncio.run(main())


# -- RequestConnectionId / NewConnectionId (RFC 9147 §9; SPEC V14, V21) ----------------------


def _v13(connection: DtlsConnection) -> Dtls13State:
    v13 = connection._v13
    assert v13 is not None
    return v13


def _send_raw_post_handshake(connection: DtlsConnection, msg_type: int, body: bytes) -> None:
    """Send a post-handshake message past the API's checks (what a faulty peer does)."""
    handshake = _v13(connection).handshake
    entry = handshake._entry(msg_type, body, handshake.write_epoch)
    handshake._sink._send_post_handshake([entry])


def test_a_request_is_answered_with_spare_cids_that_the_peer_accepts() -> None:  # RFC 9147 §9
    pair = cid_pair13(4, 6)
    server_done = pair.server_outcome.completed
    assert server_done is not None and server_done.connection_id is not None
    retransmissions = pair.client.stats.retransmissions, pair.server.stats.retransmissions
    assert pair.client.request_connection_ids(3)
    assert not pair.client.request_connection_ids(1)  # V14: one unfulfilled at a time
    pair.drive()
    spares = pair.client.spare_peer_connection_ids
    assert len(spares) == 3 and len(set(spares)) == 3
    assert all(len(cid) == 6 and cid != server_done.connection_id for cid in spares)
    # Both post-handshake messages were acknowledged: nothing is retransmitted.
    assert pair.client._flight.acknowledged and pair.server._flight.acknowledged
    assert (pair.client.stats.retransmissions, pair.server.stats.retransmissions) == (
        retransmissions
    )
    # The request is fulfilled: another may go.
    assert pair.client.request_connection_ids(1)
    pair.drive()
    assert len(pair.client.spare_peer_connection_ids) == 4
    # The client switches to a spare (in order); the server takes records with it.
    assert pair.client.use_spare_connection_id()
    datagram = sealed(pair, b"with a spare")
    assert datagram[1:7] == spares[0]
    pair.server.receive_datagram(datagram, CLIENT_ADDR, pair.now)
    assert data_of(pair.server) == [b"with a spare"]
    assert pair.client.spare_peer_connection_ids == [
        *spares[1:],
        *pair.client.spare_peer_connection_ids[2:],
    ]


def test_a_spare_cid_from_a_new_address_moves_the_peer() -> None:  # I5, RFC 9147 §9
    pair = cid_pair13(4, 4)
    pair.client.request_connection_ids(1)
    pair.drive()
    assert pair.client.use_spare_connection_id()
    assert not pair.client.use_spare_connection_id()  # none left
    pair.server.receive_datagram(sealed(pair, b"new path"), NEW_ADDR, pair.now)
    assert pair.server.peer_address == NEW_ADDR
    assert data_of(pair.server) == [b"new path"]


def test_cids_given_out_are_bounded() -> None:  # RFC 9147 §9: fewer, including none
    pair = cid_pair13(4, 4)
    pair.client.request_connection_ids(255)
    pair.drive()
    assert len(pair.client.spare_peer_connection_ids) == MAX_ISSUED_CONNECTION_IDS
    assert pair.client.request_connection_ids(5)
    pair.drive()
    # Answered (the request is fulfilled) with no CID: the server gave all it gives.
    assert len(pair.client.spare_peer_connection_ids) == MAX_ISSUED_CONNECTION_IDS
    assert pair.client.request_connection_ids(1)
    assert pair.client.state == pair.server.state == ConnectionState.ESTABLISHED


def test_cid_immediate_switches_the_cid_we_send_at_once() -> None:  # RFC 9147 §9
    pair = cid_pair13(4, 4)
    new = [b"\xaa\xbb\xcc\xdd", b"\x01\x02\x03"]  # a spare may have another length
    _v13(pair.server).records.accept_cids(new[:1])  # as a server giving it does
    body = encode_new_connection_id(NewConnectionId(new, ConnectionIdUsage.cid_immediate))
    _send_raw_post_handshake(pair.server, HandshakeType.new_connection_id, body)
    pair.exchange()
    assert pair.client.state == ConnectionState.ESTABLISHED
    assert pair.client.spare_peer_connection_ids == [new[1]]
    datagram = sealed(pair, b"x")
    assert datagram[0] & 0xF0 == 0x30 and datagram[1:5] == new[0]
    pair.server.receive_datagram(datagram, CLIENT_ADDR, pair.now)
    assert data_of(pair.server) == [b"x"]
    # KeyUpdates keep it: the next epoch's records carry it too.
    pair.client.request_key_update()
    pair.drive()
    assert _v13(pair.client).records.write_epoch == 4
    assert sealed(pair, b"y")[1:5] == new[0]
    # A spare of another length: records still fit the MTU.
    assert pair.client.use_spare_connection_id()
    pair.client.send(bytes(pair.client.max_payload()))
    ((datagram, _),) = pair.client.datagrams_to_send(pair.now)
    assert datagram[1:4] == new[1]
    assert len(datagram) == pair.client.configuration.mtu


def test_one_new_connection_id_outstanding_at_a_time() -> None:  # V14
    """Requests that come faster than our answers are acknowledged: one answer in flight,
    one waiting for its ACK, and a request beyond is ignored (its record is ACKed as usual)."""
    pair = cid_pair13(4, 4)
    server = _v13(pair.server)
    for i in range(3):
        message = HandshakeMessage(HandshakeType.request_connection_id, 100 + i, b"\x01", 3)
        server.handshake.handle(message, pair.now)
    assert [e.msg_type for e in pair.server._flight.entries] == [HandshakeType.new_connection_id]
    assert server.queued is not None and len(server.queued) == 1
    pair.drive()
    assert len(pair.client.spare_peer_connection_ids) == 2
    assert pair.server._flight.acknowledged and not server.queued


@pytest.mark.parametrize(
    ("client_length", "server_length", "sender", "msg_type", "body"),
    [
        # No CIDs negotiated at all.
        (None, None, "client", HandshakeType.request_connection_id, b"\x01"),
        (None, None, "server", HandshakeType.new_connection_id, b"\x00\x02\x01\x07\x01"),
        # The server's CID is empty: the client may not ask for more of them ...
        (4, 0, "client", HandshakeType.request_connection_id, b"\x01"),
        # ... and the server, which receives none, may not give any.
        (4, 0, "server", HandshakeType.new_connection_id, b"\x00\x02\x01\x07\x01"),
        (0, 4, "client", HandshakeType.new_connection_id, b"\x00\x02\x01\x07\x01"),
    ],
)
def test_cid_messages_without_a_non_empty_cid_are_unexpected(
    client_length: int | None,
    server_length: int | None,
    sender: str,
    msg_type: int,
    body: bytes,
) -> None:  # V21
    pair = cid_pair13(client_length, server_length)
    source, target = (
        (pair.client, pair.server) if sender == "client" else (pair.server, pair.client)
    )
    _send_raw_post_handshake(source, msg_type, body)
    pair.drive()
    terminated = (pair.server_outcome if sender == "client" else pair.client_outcome).terminated
    assert terminated is not None and not terminated.by_peer
    assert terminated.alert == AlertDescription.unexpected_message
    assert target.state == ConnectionState.CLOSED


def test_the_api_refuses_what_the_peer_would_refuse() -> None:  # V21
    pair = cid_pair13(4, 0)  # the CID the client sends is empty
    with pytest.raises(RuntimeError, match="non-empty"):
        pair.client.request_connection_ids()
    assert not pair.client.use_spare_connection_id()
    assert pair.server.request_connection_ids()  # the server sends the client's 4 bytes
    plain = cid_pair13(None, None)
    with pytest.raises(RuntimeError):
        plain.client.request_connection_ids()
    client12, server12 = psk_configs12(connection_id_length=4)
    client12.connection_id_length = 4
    pair12 = handshake(client12, server12)
    with pytest.raises(RuntimeError, match=r"DTLS 1\.2"):
        pair12.client.request_connection_ids()


@pytest.mark.parametrize(
    "body",
    [
        b"\x00\x01\x00\x00",  # an empty CID, cid_immediate
        b"\x00\x00\x00",  # cid_immediate without a CID
        b"\x00\x02\x01\x07\x05",  # an unknown usage
    ],
)
def test_malformed_new_connection_ids_are_illegal(body: bytes) -> None:
    pair = cid_pair13(4, 4)
    _send_raw_post_handshake(pair.server, HandshakeType.new_connection_id, body)
    pair.drive()
    terminated = pair.client_outcome.terminated
    assert terminated is not None
    assert terminated.alert == AlertDescription.illegal_parameter


def test_endpoint_routes_the_cids_a_connection_gives_out() -> None:  # I3, RFC 9147 §9
    pair = established_endpoint_pair(4)
    connection = pair.server_connection()
    assert pair.client.request_connection_ids(2)
    pair.exchange()
    spares = pair.client.spare_peer_connection_ids
    assert len(spares) == 2
    assert all(pair.endpoint._by_cid[cid] is connection for cid in spares)
    # A new path with a new CID: the endpoint finds the connection by it.
    assert pair.client.use_spare_connection_id()
    pair.client_addr = NEW_ADDR
    pair.client.send(b"new path, new CID")
    pair.exchange()
    assert pair.received == [b"new path, new CID"]
    assert connection.peer_address == NEW_ADDR
    # Freed with the connection.
    pair.client.close()
    pair.exchange()
    pair.endpoint.handle_timer(pair.now + 3600)
    pair.endpoint.datagrams_to_send(pair.now + 3600)
    assert pair.endpoint._by_cid == {}


def test_an_asyncio_session_asks_for_spare_cids_and_moves_to_one() -> None:  # RFC 9147 §9
    # The session's request_connection_ids / use_spare_connection_id over real sockets: the
    # endpoint issues the spares (unique among its connections) and routes records that
    # carry one of them to the same association.
    async def main() -> None:
        client_cfg, server_cfg = configs13(0, 4)
        server = await serve("127.0.0.1", 0, configuration=server_cfg, handler=echo)
        try:
            async with connect("127.0.0.1", server.address[1], configuration=client_cfg) as session:
                first = session.handshake.peer_connection_id
                assert first is not None and len(first) == 4
                assert session.request_connection_ids(2)
                assert not session.request_connection_ids(1)  # one request at a time (V14)
                assert await round_trip(session, b"asked") == b"asked"
                for _ in range(20):
                    if len(session.connection.spare_peer_connection_ids) == 2:
                        break
                    await asyncio.sleep(0.01)
                spares = session.connection.spare_peer_connection_ids
                assert len(spares) == 2 and first not in spares
                assert session.use_spare_connection_id()
                assert await round_trip(session, b"with a spare") == b"with a spare"
                (connection,) = server.endpoint.connections.values()
                assert connection.stats.records_accepted > 0
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(main())
