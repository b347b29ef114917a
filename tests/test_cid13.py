"""Connection IDs in DTLS 1.3 (RFC 9147 §9): negotiated with the connection_id extension in the
hellos, carried in the unified header (its C bit) of every record from epoch 2 on."""

from __future__ import annotations

from aiodtls import ProtocolVersion
from pairs import client_config, handshake, server_config

V13 = (ProtocolVersion.DTLSv1_3,)


def test_connection_ids_are_negotiated_and_carried_by_every_protected_record() -> None:
    pair = handshake(
        client_config(versions=V13, connection_id_length=4),
        server_config(versions=V13, connection_id_length=6),
    )
    client, server = pair.client_outcome.completed, pair.server_outcome.completed
    assert client is not None and server is not None
    assert client.protocol_version == "DTLSv1.3"
    # The server's EncryptedExtensions, in the datagram of its ServerHello, carries the
    # client's CID before the client has keys: framed with the CID it offered, not dropped
    # (it was, and cost every CID handshake a retransmission).
    # (The one drop allowed: the HelloRetryRequest's back-to-back copy, an exact repeat.)
    assert pair.client.stats.records_dropped == {"repeated plaintext record": 1}
    assert not pair.server.stats.records_dropped
    assert client.retransmissions == server.retransmissions == 0
    assert client.connection_id is not None and len(client.connection_id) == 4
    assert server.connection_id is not None and len(server.connection_id) == 6
    assert client.peer_connection_id == server.connection_id
    assert server.peer_connection_id == client.connection_id

    pair.client.send(b"to the server")
    pair.server.send(b"to the client")
    sent = len(pair.sent)
    pair.exchange()
    assert pair.server_outcome.data == [b"to the server"]
    assert pair.client_outcome.data == [b"to the client"]
    for _, direction, datagram in pair.sent[sent:]:
        cid = server.connection_id if direction == "c2s" else client.connection_id
        assert datagram[0] & 0xF0 == 0x30  # unified header with the C bit
        assert datagram[1 : 1 + len(cid)] == cid


def test_without_connection_ids_on_one_side_records_carry_none() -> None:
    pair = handshake(
        client_config(versions=V13, connection_id_length=4), server_config(versions=V13)
    )
    completed = pair.client_outcome.completed
    assert completed is not None and completed.connection_id is None
    pair.client.send(b"plain")
    sent = len(pair.sent)
    pair.exchange()
    assert pair.server_outcome.data == [b"plain"]
    assert all(d[0] & 0xF0 == 0x20 for _, _, d in pair.sent[sent:])
