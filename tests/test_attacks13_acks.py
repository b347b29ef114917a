"""DTLS 1.3 attack regressions, part 2: ACK misuse (SPEC X28, V17), the ACKs of the final
flight (V12, V18), KeyUpdate (V14, V20), connection-ID messages (V21) and wrap-around (X27),
end to end through real ``DtlsConnection`` pairs in memory (helpers in tests/attacks13.py;
part 1, tests/test_attacks13.py, says what the attacker may do and what is covered
elsewhere).
"""

from __future__ import annotations

import pytest

from aiodtls import AlertDescription, ConnectionState
from aiodtls.handshake.messages import (
    HandshakeType,
    KeyUpdateRequest,
    encode_ack,
    encode_key_update,
)
from aiodtls.record.layer13 import Opened13, RecordLayer13
from attacks13 import (
    ACK,
    APPLICATION_DATA,
    HANDSHAKE,
    Pair13,
    drop_reasons,
    dropped,
    established13,
    fragment,
    make_pair13,
    next_message_seq,
    plaintext,
    protection,
    terminated_with,
)
from pairs import CLIENT_ADDR, SERVER_ADDR

# -- V17, X28: ACK misuse ----------------------------------------------------------------------


def client_key_update_in_flight(p: Pair13) -> tuple[int, int]:
    """The client sends a KeyUpdate that the server never gets (private: the connection has
    no public KeyUpdate call yet); returns the record number it went out on."""
    v13 = p.client._v13
    assert v13 is not None
    record_number = (3, v13.records.next_sequence_number(3))
    v13.handshake.request_key_update()
    sent = p.client.datagrams_to_send(p.pair.now)
    assert len(sent) == 1 and sent[0][0][0] & 0x03 == 3  # in epoch 3, still
    return record_number


def key_update_pending(p: Pair13) -> bool:
    """The client's KeyUpdate is still unacknowledged: its write epoch has not moved."""
    v13 = p.client._v13
    assert v13 is not None
    return v13.records.write_epoch == 3


def test_a_plaintext_ack_is_dropped() -> None:  # V17, X28
    p = established13()
    record_number = client_key_update_in_flight(p)
    before = dropped(p.client)
    p.to_client(plaintext(ACK, encode_ack([record_number]), 93))
    assert dropped(p.client) == before + 1
    # After the handshake the record layer reads no plaintext at all; an ACK in plaintext
    # during it is dropped as one (the connection's rule).
    assert "record from epoch 0 has no keys" in drop_reasons(p.client)
    assert key_update_pending(p)


def test_an_ack_of_unsent_records_changes_nothing() -> None:  # V17, X28
    p = established13()
    client_key_update_in_flight(p)
    forger = p.forger("SERVER_TRAFFIC_SECRET_0", 3)
    p.to_client(forger.record(ACK, encode_ack([(0, 999), (2, 5000), (3, 5000)])))
    assert p.client.state is ConnectionState.ESTABLISHED
    assert key_update_pending(p)
    assert p.client.datagrams_to_send(p.pair.now) == []


def test_duplicate_and_reversed_ack_entries_still_acknowledge() -> None:  # V17, V19, X28
    p = established13()
    record_number = client_key_update_in_flight(p)
    forger = p.forger("SERVER_TRAFFIC_SECRET_0", 3)
    unsent = (3, record_number[1] + 7)
    p.to_client(forger.record(ACK, encode_ack([unsent, record_number, record_number, (2, 0)])))
    assert p.client.state is ConnectionState.ESTABLISHED
    assert not key_update_pending(p)  # acknowledged: the new write keys are in use (V20)
    p.to_client(forger.record(ACK, encode_ack([record_number])))  # and once more: a no-op
    assert p.client.state is ConnectionState.ESTABLISHED


def test_an_ack_naming_a_higher_epoch_than_its_own_is_illegal() -> None:  # V17, X28
    p = established13()
    forger = p.forger("SERVER_TRAFFIC_SECRET_0", 3)
    p.to_client(forger.record(ACK, encode_ack([(3, 0), (4, 0)])))
    assert terminated_with(p, "client") is AlertDescription.illegal_parameter


def test_an_ack_under_the_handshake_keys_naming_epoch_3_is_illegal() -> None:  # V17, X28
    p = established13()
    forger = p.forger("SERVER_HANDSHAKE_TRAFFIC_SECRET", 2)
    p.to_client(forger.record(ACK, encode_ack([(3, 0)])))
    assert terminated_with(p, "client") is AlertDescription.illegal_parameter


@pytest.mark.parametrize("body", [b"\x00", b"\x00\x10" + b"\x00" * 15, b"\x00\x01\x00"])
def test_a_malformed_ack_is_a_decode_error(body: bytes) -> None:  # V17
    p = established13()
    forger = p.forger("SERVER_TRAFFIC_SECRET_0", 3)
    p.to_client(forger.record(ACK, body))
    assert terminated_with(p, "client") is AlertDescription.decode_error


def test_a_huge_ack_costs_nothing_out_of_proportion() -> None:  # X28
    p = established13()
    client_key_update_in_flight(p)
    forger = p.forger("SERVER_TRAFFIC_SECRET_0", 3)
    numbers = [(3, n) for n in range(10_000, 10_000 + 1000)]  # 16,002 bytes: one full record
    p.to_client(forger.record(ACK, encode_ack(numbers)))
    assert p.client.state is ConnectionState.ESTABLISHED
    assert key_update_pending(p)
    assert p.client.datagrams_to_send(p.pair.now) == []


def test_an_ack_before_the_version_is_known_is_dropped() -> None:  # V17 (bis), X28
    """An epoch-0 ACK to a server that has no ClientHello yet, and to a client waiting for
    the server's first answer: dropped, and the handshake then completes."""
    p = make_pair13()
    ((hello, _addr),) = p.client.datagrams_to_send(0.0)
    before_c = dropped(p.client)
    p.client.receive_datagram(plaintext(ACK, encode_ack([(0, 0)]), 0), SERVER_ADDR, 0.0)
    assert dropped(p.client) == before_c + 1
    p.server.receive_datagram(plaintext(ACK, encode_ack([(0, 0)]), 0), CLIENT_ADDR, 0.0)
    assert p.server.datagrams_to_send(0.0) == []
    assert p.server.state is not ConnectionState.CLOSED
    p.server.receive_datagram(hello, CLIENT_ADDR, 0.0)
    p.drive()
    assert p.both_established()


def test_a_forged_plaintext_ack_does_not_stop_the_client_hello_retransmission() -> None:
    """V17, X28: during the handshake a plaintext ACK of the ClientHello is dropped, so the
    lost ClientHello is still retransmitted and the handshake completes."""
    p = make_pair13()
    lost: list[bytes] = []

    def deliver(direction: str, data: bytes) -> list[bytes]:
        if direction == "c2s" and not lost:
            lost.append(data)
            p.client.receive_datagram(
                plaintext(ACK, encode_ack([(0, 0)]), 0), SERVER_ADDR, p.pair.now
            )
            return []
        return [data]

    p.drive(deliver)
    assert p.both_established()
    assert "plaintext ACK (anyone could forge it)" in drop_reasons(p.client)


# -- V12, V18, V19: ACKs of the final flight ---------------------------------------------------


def test_the_server_acknowledges_every_copy_of_the_client_finished() -> None:  # V12, V18
    p = make_pair13()
    acks_lost: list[bytes] = []

    def lose_first_ack(direction: str, data: bytes) -> list[bytes]:
        if direction == "s2c" and p.server.state is ConnectionState.ESTABLISHED and not acks_lost:
            acks_lost.append(data)
            return []
        return [data]

    p.run(lose_first_ack)
    assert p.both_established() and acks_lost
    server_acks = p.server_trace.kinds("ack_sent")
    assert len(server_acks) == 2  # the lost one, then one for the retransmitted Finished
    # Each names the copy it answers (a retransmission has a new record number, RFC 9147 §4).
    assert all(len(a.fields["records"]) == 1 for a in server_acks)
    assert {a.fields["records"][0][0] for a in server_acks} == {2}
    assert len(p.client_trace.kinds("retransmit")) == 1
    timer = p.client.get_timer()
    assert timer is None or timer > 60.0  # nothing in flight


# -- V14, V20: KeyUpdate ------------------------------------------------------------------------


def test_a_second_key_update_waits_for_the_first_ack() -> None:  # V14, V20
    p = established13()
    held: list[bytes] = []

    def hold_s2c(direction: str, data: bytes) -> list[bytes]:
        if direction == "s2c":
            held.append(data)
            return []
        return [data]

    v13 = p.client._v13  # private: no public KeyUpdate call on the connection yet
    assert v13 is not None
    v13.handshake.request_key_update()
    v13.handshake.request_key_update()
    p.pair.exchange(hold_s2c)
    assert len(p.client_trace.kinds("key_update_sent")) == 1
    # V20: not acknowledged, so data still goes out under the old keys.
    p.client.send(b"old keys")
    ((data, _addr),) = p.client.datagrams_to_send(p.pair.now)
    assert data[0] & 0x03 == 3
    p.server.receive_datagram(data, CLIENT_ADDR, p.pair.now)
    p.pair.collect()
    assert p.pair.server_outcome.data == [b"old keys"]
    # The server answered with its own KeyUpdate and an ACK; once they arrive the client
    # moves to epoch 4 and may send its next KeyUpdate.
    p.to_client(*held)
    p.pair.drive()
    assert v13.records.write_epoch == 4
    assert p.round_trip()
    v13.handshake.request_key_update()
    p.pair.drive()
    assert len(p.client_trace.kinds("key_update_sent")) == 2
    assert v13.records.write_epoch == 5
    assert p.round_trip()


def test_old_read_keys_stay_until_the_new_ones_work() -> None:  # V20
    """A record the client sent under the old keys before its KeyUpdate arrives after the
    update completed: the server still opens it (once)."""
    p = established13()
    p.client.send(b"sent under epoch 3")
    ((late, _addr),) = p.client.datagrams_to_send(p.pair.now)
    v13 = p.client._v13  # private: no public KeyUpdate call on the connection yet
    assert v13 is not None
    v13.handshake.request_key_update()
    p.run()
    assert v13.records.write_epoch == 4
    p.to_server(late, late)
    assert p.pair.server_outcome.data == [b"sent under epoch 3"]
    assert p.round_trip()


def test_key_updates_from_a_peer_that_does_not_wait_for_acks() -> None:  # V14, V20, X27
    """A peer (with keys) sends KeyUpdate after KeyUpdate without waiting for ACKs: each one
    steps the read epoch; at most two read epochs are kept and the answers go one at a
    time, so the cost stays bounded."""
    p = established13()
    forger = p.forger("SERVER_TRAFFIC_SECRET_0", 3)
    seq = next_message_seq(p, "client")
    body = encode_key_update(KeyUpdateRequest.update_requested)
    p.client.receive_datagram(
        b"".join(
            forger.record(HANDSHAKE, fragment(HandshakeType.key_update, seq + i, body))
            for i in range(20)
        ),
        SERVER_ADDR,
        p.pair.now,
    )
    p.pair.collect()
    v13 = p.client._v13
    assert v13 is not None
    # The first KeyUpdate moves the read epoch to 4: the second, still in epoch 3, is
    # refused by name; at most one KeyUpdate of ours went out.
    assert terminated_with(p, "client") is AlertDescription.unexpected_message
    assert len(p.client_trace.kinds("key_update_sent")) <= 1
    assert v13.records.held_records == 0


def test_a_key_update_with_a_bad_request_value_is_illegal() -> None:  # V14
    p = established13()
    forger = p.forger("SERVER_TRAFFIC_SECRET_0", 3)
    seq = next_message_seq(p, "client")
    p.to_client(forger.record(HANDSHAKE, fragment(HandshakeType.key_update, seq, b"\x02")))
    assert terminated_with(p, "client") is AlertDescription.illegal_parameter


# -- V21: connection-ID messages without connection IDs ----------------------------------------


@pytest.mark.parametrize(
    ("msg_type", "body"),
    [
        (HandshakeType.new_connection_id, b"\x00\x05\x04\x01\x02\x03\x04\x00"),
        (HandshakeType.request_connection_id, b"\x01"),
    ],
)
def test_connection_id_messages_without_connection_ids_are_unexpected(
    msg_type: int, body: bytes
) -> None:  # V21
    p = established13()
    forger = p.forger("SERVER_TRAFFIC_SECRET_0", 3)
    seq = next_message_seq(p, "client")
    p.to_client(forger.record(HANDSHAKE, fragment(msg_type, seq, body)))
    assert terminated_with(p, "client") is AlertDescription.unexpected_message


# -- X27: wrap-around -----------------------------------------------------------------------


def test_the_connection_closes_before_its_sequence_numbers_wrap() -> None:  # X27, V16
    """Protected DTLS 1.3 records have 64-bit sequence numbers (RFC 9147 §4: only plaintext
    ones stop at 2^48-1): the last one is sent, the next send closes the connection."""
    p = established13()
    v13 = p.client._v13  # private: 2^64 records cannot be sent in a test
    assert v13 is not None
    v13.records.skip_write_sequence_numbers(3, (1 << 64) - 1)
    p.client.send(b"the last one")
    ((last, _addr),) = p.client.datagrams_to_send(p.pair.now)
    assert last[0] & 0x03 == 3
    with pytest.raises(ConnectionError):
        p.client.send(b"one too many")
    assert p.client.state is ConnectionState.CLOSED
    assert p.client.datagrams_to_send(p.pair.now) == []
    p.pair.collect()
    assert p.pair.client_outcome.terminated is not None


def test_a_forged_record_number_near_2_48_is_dropped() -> None:  # X27, V4, V6
    """Its 16 low bits reconstruct to a number near the expected one (RFC 9147 §4.2.2), so
    it fails authentication: no jump of the window, and the association goes on."""
    p = established13()
    forger = p.forger("SERVER_TRAFFIC_SECRET_0", 3)
    before = dropped(p.client)
    p.to_client(forger.record(APPLICATION_DATA, b"far", seq=(1 << 48) - 2))
    assert p.pair.client_outcome.data == []
    assert dropped(p.client) == before + 1
    assert p.round_trip()


@pytest.mark.parametrize("epoch", [0xFFFE, 0xFFFF, 0x10000, 0x10001])
def test_epochs_past_16_bits_do_not_wrap(epoch: int) -> None:  # X27, V16
    """DTLS 1.3 epochs are 64-bit (RFC 9147 §4): the record layer and ACKs carry epochs past
    0xFFFF without truncation (a 16-bit epoch would wrap after 65,532 KeyUpdates)."""
    from aiodtls.handshake.messages import decode_ack

    secret = bytes(range(32))
    writer, reader = RecordLayer13(), RecordLayer13()
    writer.install_write(epoch, protection(secret, epoch))
    reader.install_read(epoch, protection(secret, epoch))
    (opened,) = reader.open_datagram(writer.seal(APPLICATION_DATA, b"epoch"))
    assert isinstance(opened, Opened13)
    assert (opened.epoch, opened.payload) == (epoch, b"epoch")
    assert decode_ack(encode_ack([(epoch, 5)])) == [(epoch, 5)]
