"""Tests for the datagrams of a DTLS 1.3 KeyUpdate exchange, through the public API
(``request_key_update``, ``receive_datagram``, ``datagrams_to_send``): RFC 9147 §7 and §8,
RFC 8446 §4.6.3 (SPEC V14, V18, V20).

The side asked to update answers with its own KeyUpdate and acknowledges the request in the
same datagram (the ACK ends it), both in its current epoch: the ACK goes in the highest
sending epoch available (§7), and the new one is not available until the answer itself is
acknowledged (§8). Two datagrams used to go out, the ACK second; wolfSSL 5.7.2 resends its
KeyUpdate when an ACK that leaves it out arrives first. The records are read with the
traffic secrets of the client's key log (as Wireshark reads them).
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes

from aiodtls import DtlsConnection
from aiodtls.handshake.keyschedule13 import DTLS13_LABEL_PREFIX, next_traffic_secret
from aiodtls.handshake.messages import HandshakeType, decode_ack
from aiodtls.record.layer13 import Opened13, RecordLayer13
from attacks13 import ACK, HANDSHAKE, Pair13, established13, protection
from pairs import CLIENT_ADDR, SERVER_ADDR

KEY_UPDATE = int(HandshakeType.key_update)
UPDATE_NOT_REQUESTED, UPDATE_REQUESTED = b"\x00", b"\x01"


def reader(p: Pair13, sender: DtlsConnection) -> RecordLayer13:
    """A record layer reading what ``sender`` seals in epochs 3 and 4 (its traffic secrets
    0 and 1, from the client's key log)."""
    name = "CLIENT_TRAFFIC_SECRET_0" if sender is p.client else "SERVER_TRAFFIC_SECRET_0"
    secret = p.secrets()[name]
    records = RecordLayer13(replay_protection=False)
    records.install_read(3, protection(secret, 3))
    following = next_traffic_secret(hashes.SHA256(), secret, prefix=DTLS13_LABEL_PREFIX)
    records.install_read(4, protection(following, 4))
    return records


def opened(records: RecordLayer13, datagram: bytes) -> list[Opened13]:
    out = []
    for item in records.open_datagram(datagram):
        assert isinstance(item, Opened13), item
        out.append(item)
    return out


def key_update(record: Opened13) -> bytes:
    """The request_update byte of the KeyUpdate that is the whole of ``record``."""
    payload = record.payload
    assert record.content_type == HANDSHAKE and payload[0] == KEY_UPDATE, record
    assert int.from_bytes(payload[1:4], "big") == len(payload) - 12 == 1  # one whole message
    return payload[12:]


def deliver(p: Pair13, sender: DtlsConnection, datagrams: list[bytes]) -> None:
    receiver = p.server if sender is p.client else p.client
    address = CLIENT_ADDR if sender is p.client else SERVER_ADDR
    for datagram in datagrams:
        receiver.receive_datagram(datagram, address, p.pair.now)


def send(p: Pair13, conn: DtlsConnection) -> list[bytes]:
    return [datagram for datagram, _ in conn.datagrams_to_send(p.pair.now)]


def fire_timer(p: Pair13, conn: DtlsConnection) -> None:
    deadline = conn.get_timer()
    assert deadline is not None
    p.pair.now = deadline
    conn.handle_timer(deadline)


@pytest.mark.parametrize("initiator", ["client", "server"])
def test_the_answering_key_update_carries_the_ack_of_the_request(initiator: str) -> None:
    p = established13()
    p.run()  # the ACK of the client's Finished
    asking = p.client if initiator == "client" else p.server
    answering = p.server if asking is p.client else p.client
    asking_records, answering_records = reader(p, asking), reader(p, answering)

    asking.request_key_update()
    request = send(p, asking)
    assert len(request) == 1
    [record] = opened(asking_records, request[0])
    assert (record.epoch, key_update(record)) == (3, UPDATE_REQUESTED)

    deliver(p, asking, request)
    answer = send(p, answering)
    # One datagram: the KeyUpdate answering (not asking back, RFC 8446 §4.6.3), then the
    # ACK of the request; both in epoch 3, which the asking side reads (§7, §8).
    assert len(answer) == 1
    update, ack = opened(answering_records, answer[0])
    assert (update.epoch, key_update(update)) == (3, UPDATE_NOT_REQUESTED)
    assert (ack.epoch, ack.content_type) == (3, ACK)
    assert decode_ack(ack.payload) == [record.record_number]
    assert update.sequence_number + 1 == ack.sequence_number

    deliver(p, answering, answer)
    # The asking side's KeyUpdate is acknowledged: it writes in epoch 4 from now on, the
    # ACK of the answer first, alone (nothing else is due).
    last = send(p, asking)
    assert len(last) == 1
    [final_ack] = opened(asking_records, last[0])
    assert (final_ack.epoch, final_ack.content_type) == (4, ACK)
    assert decode_ack(final_ack.payload) == [update.record_number]

    # The answering side waited for that ACK (§8): epoch 3 until it came, epoch 4 after.
    answering.send(b"before")
    [before] = opened(answering_records, send(p, answering)[0])
    assert (before.epoch, before.payload) == (3, b"before")
    deliver(p, asking, last)
    answering.send(b"after")
    [after] = opened(answering_records, send(p, answering)[0])
    assert (after.epoch, after.payload) == (4, b"after")
    assert send(p, answering) == send(p, asking) == []
    assert p.round_trip()


def test_a_lost_answer_is_resent_without_the_ack_and_the_request_acked_again() -> None:
    """Retransmissions are unchanged: a copy of the request is acknowledged at once, in a
    datagram of its own (the answer is waiting for its ACK, not due: §7, each copy is
    acknowledged), and the answering KeyUpdate goes again at its timer, alone (the ACK that
    ended its first datagram is no part of its flight)."""
    p = established13()
    p.run()
    client_records, server_records = reader(p, p.client), reader(p, p.server)
    p.client.request_key_update()
    deliver(p, p.client, send(p, p.client))
    assert len(send(p, p.server)) == 1  # the answer and its ACK: lost

    fire_timer(p, p.client)
    copy = send(p, p.client)
    [request] = opened(client_records, copy[0])
    assert (request.epoch, key_update(request)) == (3, UPDATE_REQUESTED)
    deliver(p, p.client, copy)
    [ack_only] = send(p, p.server)
    [ack] = opened(server_records, ack_only)
    assert (ack.epoch, ack.content_type) == (3, ACK)
    assert decode_ack(ack.payload) == [request.record_number]

    fire_timer(p, p.server)
    [resent] = send(p, p.server)
    [update] = opened(server_records, resent)
    assert (update.epoch, key_update(update)) == (3, UPDATE_NOT_REQUESTED)
    deliver(p, p.server, [ack_only, resent])
    [last] = send(p, p.client)
    [final_ack] = opened(client_records, last)
    assert (final_ack.epoch, decode_ack(final_ack.payload)) == (4, [update.record_number])
    deliver(p, p.client, [last])
    assert p.round_trip()
