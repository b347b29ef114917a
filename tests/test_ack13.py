"""Tests for DTLS 1.3 ACKs: the sending side in reliability.flight (``FlightSender(acks=True)``,
``plan_unacknowledged``) and the receiving side in reliability.ack13 (``AckTracker``);
RFC 9147 §5.8.1, §7, §7.1, §7.2 (SPEC V12, V17, V18, V19, X28)."""

from __future__ import annotations

import pytest

from aiodtls.alerts import AlertIllegalParameter
from aiodtls.handshake.messages import decode_ack, encode_ack
from aiodtls.record.layer import RecordLayer
from aiodtls.record.layer13 import Opened13, RecordLayer13
from aiodtls.record.protection13 import RecordProtection13
from aiodtls.reliability.ack13 import (
    ACK_DELAY_FRACTION,
    MAX_TRACKED,
    AckTracker,
    ack_capacity,
    ack_epoch,
    check_ack_epochs,
)
from aiodtls.reliability.flight import (
    FlightEntry,
    FlightSender,
    FlightState,
    MtuTooSmall,
    plan_datagrams,
    plan_unacknowledged,
)
from aiodtls.reliability.fragments import HANDSHAKE_HEADER_LENGTH
from aiodtls.reliability.timer import RetransmissionPolicy, RetransmissionTimer
from aiodtls.resumption import ServerSessionStore
from aiodtls.suites import ProtocolVersion
from aiodtls.trace import Tracer
from pairs import client_config, make_pair, server_config

HANDSHAKE = 22
ACK = 26
CERTIFICATE, CERTIFICATE_VERIFY, FINISHED = 11, 15, 20
POLICY = RetransmissionPolicy(jitter=0.0, probe=None)
Piece = tuple[int, int, int]
RecordNumber = tuple[int, int]


def keys(epoch: int) -> RecordProtection13:
    return RecordProtection13(
        0x1301, key=bytes(range(16)), iv=bytes(12), sn_key=bytes(range(1, 17)), epoch=epoch
    )


def entry(message_seq: int, size: int, msg_type: int = CERTIFICATE, epoch: int = 2) -> FlightEntry:
    body = bytes((message_seq * 37 + i) % 251 for i in range(size))
    return FlightEntry(HANDSHAKE, epoch, msg_type, message_seq, body)


def client_flight() -> list[FlightEntry]:
    """A client's final flight: Certificate (big), CertificateVerify, Finished."""
    return [entry(1, 2500), entry(2, 80, CERTIFICATE_VERIFY), entry(3, 32, FINISHED)]


class Link:
    """A sender's record layer and the peer's, with epoch 2 keys both ways round."""

    def __init__(self) -> None:
        self.writer = RecordLayer13()
        self.writer.install_write(2, keys(2))
        self.reader = RecordLayer13(replay_protection=False)
        self.reader.install_read(2, keys(2))

    def records(self, datagrams: list[bytes]) -> list[tuple[RecordNumber, Piece, bytes]]:
        """(record number, (message_seq, offset, length), fragment bytes) of every fragment
        of every record (a record carries several when messages of one epoch were coalesced)."""
        out = []
        for datagram in datagrams:
            for item in self.reader.open_datagram(datagram):
                assert isinstance(item, Opened13), item
                payload = item.payload
                while payload:
                    piece = (
                        int.from_bytes(payload[4:6], "big"),
                        int.from_bytes(payload[6:9], "big"),
                        int.from_bytes(payload[9:12], "big"),
                    )
                    end = HANDSHAKE_HEADER_LENGTH + piece[2]
                    out.append((item.record_number, piece, payload[HANDSHAKE_HEADER_LENGTH:end]))
                    payload = payload[end:]
        return out


def sender(*, mtu: int = 1000) -> FlightSender:
    return FlightSender(
        timer=RetransmissionTimer(POLICY),
        mtu=mtu,
        tracer=Tracer("client", None),
        record_times=False,
        acks=True,
    )


def covered(records: list[tuple[RecordNumber, Piece, bytes]]) -> dict[int, set[int]]:
    """message_seq -> the body offsets the records carry."""
    out: dict[int, set[int]] = {}
    for _, (message_seq, offset, length), _ in records:
        out.setdefault(message_seq, set()).update(range(offset, offset + length))
    return out


def unacknowledged(
    sent: list[tuple[RecordNumber, Piece, bytes]], acked: list[tuple[RecordNumber, Piece, bytes]]
) -> dict[int, set[int]]:
    """message_seq -> the body offsets ``sent`` carried and no record of ``acked`` did."""
    done = covered(acked)
    gaps = {seq: offsets - done.get(seq, set()) for seq, offsets in covered(sent).items()}
    return {seq: offsets for seq, offsets in gaps.items() if offsets}


def check_bytes(
    records: list[tuple[RecordNumber, Piece, bytes]], entries: list[FlightEntry]
) -> None:
    """Retransmitted fragments carry the original bytes (RFC 9147 §5.5, SPEC V11)."""
    bodies = {e.message_seq: e.body for e in entries}
    for _, (message_seq, offset, length), fragment in records:
        assert fragment == bodies[message_seq][offset : offset + length]


def state(flight: FlightSender) -> FlightState:
    """The flight's state, read afresh (mypy would keep an earlier comparison's narrowing)."""
    return flight.state


# -- the sending side -----------------------------------------------------------------------


def test_a_partial_ack_then_a_timeout_resend_exactly_the_unacknowledged_records() -> None:
    # V12, V19, RFC 9147 §5.8.1 and §7.2.
    link, flight, entries = Link(), sender(), client_flight()
    flight.start(entries, final=True, flight_number=5)
    first = link.records(flight.datagrams(link.writer, 0.0))
    numbers = list(dict.fromkeys(number for number, _, _ in first))
    assert len(numbers) >= 3
    assert state(flight) is FlightState.WAITING  # a final flight waits for its ACK in 1.3
    # Records 0 and 2 arrived (with every message a record carries), record 1 was lost.
    acked = [record for record in first if record[0] in numbers[0:3:2]]
    assert not flight.on_ack(numbers[0:3:2], 0.1)
    lost = [record for record in first if record[0] == numbers[1]]
    missing = unacknowledged(first, acked)
    # The partial ACK brings out at once what it shows lost (sent before an acknowledged
    # record), not the last record, which may still arrive ...
    assert state(flight) is FlightState.SENDING
    resent = link.records(flight.datagrams(link.writer, 0.1))
    assert covered(resent) == covered(lost)
    check_bytes(resent, entries)
    # ... and the timeout after it everything not acknowledged, nothing more.
    assert flight.deadline is not None
    flight.on_timer(flight.deadline)
    again = link.records(flight.datagrams(link.writer, 5.0))
    assert covered(again) == missing
    check_bytes(again, entries)
    assert {n for n, _, _ in again}.isdisjoint({n for n, _, _ in resent})  # fresh numbers


def test_an_ack_of_nothing_new_resends_nothing() -> None:
    link, flight = Link(), sender()
    flight.start(client_flight(), final=False, flight_number=5)
    first = link.records(flight.datagrams(link.writer, 0.0))
    assert not flight.on_ack([first[-1][0]], 0.1)
    assert state(flight) is FlightState.SENDING
    flight.datagrams(link.writer, 0.1)
    assert not flight.on_ack([first[-1][0], (2, 999), (7, 0)], 0.2)  # a repeat, unknown ones
    assert state(flight) is FlightState.WAITING


def test_records_sent_after_the_newest_acknowledged_one_are_not_resent_at_once() -> None:
    # An out-of-order ACK (the peer saw a gap, §7.1) must not have the rest of a long
    # flight, still on its way, sent twice.
    link, flight = Link(), sender(mtu=400)
    flight.start(client_flight(), final=False, flight_number=5)
    first = link.records(flight.datagrams(link.writer, 0.0))
    assert not flight.on_ack([first[0][0]], 0.1)  # nothing shown lost yet
    assert state(flight) is FlightState.WAITING and flight.retransmissions == 0
    assert not flight.on_ack([first[3][0]], 0.1)  # records 1 and 2 were overtaken: lost
    assert state(flight) is FlightState.SENDING
    resent = link.records(flight.datagrams(link.writer, 0.1))
    assert covered(resent) == covered(first[1:3])
    # The resent copies are now the newest: acknowledging a later original is no loss (nor
    # are the originals after it, sent less than 9/8 of the round trip, 0.1 s, ago).
    assert not flight.on_ack([first[4][0]], 0.11)
    assert state(flight) is FlightState.WAITING and flight.retransmissions == 1


def test_a_full_ack_stops_the_timer() -> None:  # V19
    link, flight = Link(), sender()
    flight.start(client_flight(), final=False, flight_number=4)
    records = link.records(flight.datagrams(link.writer, 0.0))
    assert flight.deadline is not None
    assert flight.on_ack([number for number, _, _ in records], 0.05)
    assert flight.acknowledged
    assert state(flight) is FlightState.WAITING and flight.deadline is None
    flight.on_timer(100.0)
    assert flight.datagrams(link.writer, 100.0) == []
    assert flight.on_ack([records[0][0]], 0.06)  # still whole


def test_a_fully_acknowledged_final_flight_goes_idle() -> None:
    link, flight = Link(), sender()
    flight.start(client_flight(), final=True, flight_number=5)
    records = link.records(flight.datagrams(link.writer, 0.0))
    half = len(records) // 2
    assert not flight.on_ack([n for n, _, _ in records[:half]], 0.1)
    link.records(flight.datagrams(link.writer, 0.1))
    assert flight.on_ack([n for n, _, _ in records[half:]], 0.2)
    assert state(flight) is FlightState.IDLE and flight.deadline is None


def test_acks_across_retransmissions_count() -> None:
    # A fragment counts as received whichever copy's record number the ACK names (§7.2).
    link, flight, entries = Link(), sender(), client_flight()
    flight.start(entries, final=False, flight_number=5)
    first = link.records(flight.datagrams(link.writer, 0.0))
    assert flight.deadline is not None
    flight.on_timer(flight.deadline)
    second = link.records(flight.datagrams(link.writer, 1.0))
    assert [piece for _, piece, _ in first] == [piece for _, piece, _ in second]
    mixed = [first[i][0] if i % 2 else second[i][0] for i in range(len(first))]
    assert flight.on_ack(mixed, 1.1)


def test_the_first_ack_gives_a_round_trip_sample() -> None:
    link, flight = Link(), sender()
    flight.start(client_flight(), final=True, flight_number=5)
    records = link.records(flight.datagrams(link.writer, 1.0))
    flight.on_ack([n for n, _, _ in records], 1.2)
    assert flight.timer.srtt == pytest.approx(0.2)


def test_a_repeated_peer_flight_is_answered_only_while_nothing_is_acknowledged() -> None:
    link, flight = Link(), sender()
    flight.start(client_flight(), final=False, flight_number=3)
    records = link.records(flight.datagrams(link.writer, 0.0))
    flight.on_peer_repeat(1.0)
    assert state(flight) is FlightState.SENDING
    link.records(flight.datagrams(link.writer, 1.0))
    flight.on_ack([records[0][0]], 1.1)
    link.records(flight.datagrams(link.writer, 1.1))
    flight.on_peer_repeat(3.0)
    assert state(flight) is FlightState.WAITING


def test_an_ack_flight_carries_handshake_messages_only() -> None:
    flight = sender()
    with pytest.raises(ValueError):
        flight.start([FlightEntry(20, 0)], final=False, flight_number=1)


def test_forget_drops_the_ack_state() -> None:
    link, flight = Link(), sender()
    flight.start(client_flight(), final=False, flight_number=5)
    records = link.records(flight.datagrams(link.writer, 0.0))
    flight.forget()
    assert not flight.on_ack([n for n, _, _ in records], 0.1)
    assert not flight.acknowledged


def test_dtls_1_2_mode_ignores_acks_and_keeps_its_final_flight_state() -> None:
    records = RecordLayer()
    flight = FlightSender(
        timer=RetransmissionTimer(POLICY), mtu=1000, tracer=Tracer("server", None)
    )
    entries = [entry(5, 400, epoch=0), entry(6, 12, FINISHED, epoch=0)]
    flight.start(entries, final=True, flight_number=6)
    datagrams = flight.datagrams(records, 0.0)
    assert state(flight) is FlightState.FINISHED and flight.deadline is None
    assert not flight.on_ack([(0, 0), (0, 1)], 0.1)
    assert not flight.acknowledged
    assert state(flight) is FlightState.FINISHED
    plan = plan_datagrams(entries, 1000, records.overhead)
    assert [len(d) for d in datagrams] == [
        sum(13 + len(payload) for _, _, payload in planned) for planned in plan
    ]


def test_flights_seal_through_either_record_layer() -> None:
    # FlightSender is typed against RecordSealer: RecordLayer and RecordLayer13 both fit.
    for layer in (RecordLayer(), RecordLayer13()):
        flight = FlightSender(
            timer=RetransmissionTimer(POLICY), mtu=1000, tracer=Tracer("client", None)
        )
        flight.start([entry(0, 100, 1, epoch=0)], final=False, flight_number=1)
        [datagram] = flight.datagrams(layer, 0.0)
        assert datagram[0] == HANDSHAKE and len(datagram) == 13 + 12 + 100


# -- an ACK due as a flight goes out (RFC 9147 §7) -------------------------------------------


def content_types(link: Link, datagrams: list[bytes]) -> list[list[int]]:
    """The content types of each datagram's records, in order."""
    out = []
    for datagram in datagrams:
        items = link.reader.open_datagram(datagram)
        assert all(isinstance(item, Opened13) for item in items), items
        out.append([item.content_type for item in items if isinstance(item, Opened13)])
    return out


def test_an_ack_due_as_the_flight_goes_out_ends_its_last_datagram() -> None:
    link, flight, entries = Link(), sender(mtu=600), client_flight()
    alone = plan_datagrams(entries, 600, link.writer.overhead, coalesce=True)
    flight.start(entries, final=True, flight_number=5)
    ack = encode_ack([(2, 7)])
    datagrams = flight.datagrams(link.writer, 0.0, trailer=(2, ACK, ack))
    types = content_types(link, datagrams)
    assert len(datagrams) == len(alone) and all(len(d) <= 600 for d in datagrams)
    assert [t[:-1] if t[-1] == ACK else t for t in types] == [
        [HANDSHAKE] * len(planned) for planned in alone
    ]
    assert types[-1][-1] == ACK and sum(t.count(ACK) for t in types) == 1
    last = link.reader.open_datagram(datagrams[-1])[-1]
    assert isinstance(last, Opened13) and decode_ack(last.payload) == [(2, 7)]
    # The ACK is no part of the flight: not resent, not counted as retransmitted bytes.
    timeout = flight.deadline
    assert timeout is not None
    flight.on_timer(timeout)
    resent = flight.datagrams(link.writer, timeout)
    assert all(ACK not in t for t in content_types(link, resent))
    assert flight.retransmitted_bytes == sum(len(d) for d in resent)


def test_an_ack_with_no_room_in_the_flight_goes_alone_after_it() -> None:
    link, flight = Link(), sender(mtu=600)
    full = 600 - link.writer.overhead(2) - HANDSHAKE_HEADER_LENGTH  # the datagram is full
    flight.start([entry(1, full, FINISHED)], final=True, flight_number=5)
    datagrams = flight.datagrams(link.writer, 0.0, trailer=(2, ACK, encode_ack([(2, 3)])))
    assert content_types(link, datagrams) == [[HANDSHAKE], [ACK]]
    assert len(datagrams[0]) == 600 - 2  # still the datagram's last record: no length
    [record] = link.records(datagrams[:1])
    assert flight.on_ack([record[0]], 0.1) and state(flight) is FlightState.IDLE


def test_only_an_ack_mode_flight_carries_an_ack() -> None:
    flight = FlightSender(timer=RetransmissionTimer(POLICY), mtu=1000, tracer=Tracer("c", None))
    flight.start([entry(0, 100, 1, epoch=0)], final=False, flight_number=1)
    with pytest.raises(ValueError, match="ACK"):
        flight.datagrams(RecordLayer(), 0.0, trailer=(0, ACK, encode_ack([])))


def test_a_new_session_ticket_carries_the_ack_of_the_clients_finished() -> None:
    # The server's ticket goes as the client's Finished completes the handshake, which it
    # acknowledges at once (§5.8.1): one datagram, not two; the client ACKs the ticket.
    v13 = (ProtocolVersion.DTLSv1_3,)
    pair = make_pair(
        client_config(versions=v13),
        server_config(versions=v13, session_store=ServerSessionStore()),
    )
    pair.drive()
    assert pair.client_outcome.completed and pair.server_outcome.completed
    server_sent = [data for _, direction, data in pair.sent if direction == "s2c"]
    # The HelloRetryRequest and its copy, the server's flight, then the ticket and the ACK.
    assert len(server_sent) == 4
    assert pair.client._flight.deadline is None  # its Finished: acknowledged
    assert pair.server._flight.deadline is None  # its ticket: acknowledged


# -- plan_unacknowledged ----------------------------------------------------------------------


def overhead(epoch: int) -> int:
    return 13 if epoch == 0 else 22


@pytest.mark.parametrize("mtu", [200, 576, 1200, 1500])
def test_the_unacknowledged_plan_covers_exactly_the_gaps_and_fits(mtu: int) -> None:
    entries = client_flight()
    acknowledged = {1: [(0, 700), (1000, 300)], 3: [(0, 32)]}
    plan = plan_unacknowledged(entries, acknowledged, mtu, overhead)
    carried: dict[int, list[int]] = {}
    for datagram in plan:
        assert sum(overhead(epoch) + len(payload) for epoch, _, payload in datagram) <= mtu
        for _, _, payload in datagram:
            seq = int.from_bytes(payload[4:6], "big")
            offset = int.from_bytes(payload[6:9], "big")
            length = int.from_bytes(payload[9:12], "big")
            body = next(e.body for e in entries if e.message_seq == seq)
            assert payload[12:] == body[offset : offset + length]
            carried.setdefault(seq, []).extend(range(offset, offset + length))
    assert sorted(carried[1]) == [*range(700, 1000), *range(1300, 2500)]
    assert sorted(carried[2]) == list(range(80))
    assert 3 not in carried


def test_an_empty_message_is_resent_until_acknowledged() -> None:
    entries = [FlightEntry(HANDSHAKE, 3, 5, 7, b"")]
    [[(_, _, payload)]] = plan_unacknowledged(entries, {}, 100, overhead)
    assert len(payload) == HANDSHAKE_HEADER_LENGTH
    assert plan_unacknowledged(entries, {7: [(0, 0)]}, 100, overhead) == []


def test_the_unacknowledged_plan_refuses_a_hopeless_mtu() -> None:
    with pytest.raises(MtuTooSmall):
        plan_unacknowledged(client_flight(), {}, 30, overhead)


# -- the receiving side: AckTracker ---------------------------------------------------------


def tracker(rto: float = 1.0) -> AckTracker:
    timer = RetransmissionTimer(RetransmissionPolicy(jitter=0.0, initial_rto=rto))
    return AckTracker(timer)


def test_a_partial_flight_is_acknowledged_after_a_quarter_of_the_timer() -> None:  # V18
    acks = tracker(rto=2.0)
    acks.on_record(2, 0, 10.0)
    acks.on_record(2, 2, 10.1)  # the deadline runs from the flight's first record
    assert acks.deadline == pytest.approx(10.0 + ACK_DELAY_FRACTION * 2.0)
    assert not acks.ack_due(10.4)
    assert acks.ack_due(10.5)
    assert acks.take_ack() == [(2, 0), (2, 2)]
    assert acks.deadline is None and not acks.ack_due(20.0)


def test_an_out_of_order_record_is_acknowledged_at_once() -> None:  # §7.1
    acks = tracker()
    acks.on_record(2, 0, 1.0)
    acks.on_record(2, 3, 1.1, out_of_order=True)
    assert acks.ack_due(1.1)


def test_a_flight_answered_by_ours_is_not_acknowledged() -> None:  # V18: implicit ACK
    acks = tracker()
    acks.on_record(0, 1, 1.0)
    acks.flight_complete(1.0)
    assert acks.deadline is None and acks.pending == []


def test_the_clients_final_flight_is_acknowledged_at_once_and_again_when_repeated() -> None:
    # V12, V18: the server ACKs the client's final flight, and each retransmission of it.
    acks = tracker()
    acks.on_record(2, 0, 1.0)
    acks.on_record(2, 1, 1.0)
    acks.flight_complete(1.0, acknowledge=True)
    assert acks.ack_due(1.0)
    assert acks.take_ack(max_epoch=3) == [(2, 0), (2, 1)]
    acks.on_record(2, 2, 3.0)  # the client's copy: the ACK was lost
    assert acks.ack_due(3.0)
    assert acks.take_ack(max_epoch=3) == [(2, 0), (2, 1), (2, 2)]


def test_post_handshake_records_are_acknowledged_at_once_and_once() -> None:  # V18, §7
    acks = tracker()
    acks.handshake_complete()
    acks.on_record(3, 7, 50.0)  # NewSessionTicket
    assert acks.ack_due(50.0)
    assert acks.take_ack() == [(3, 7)]
    acks.on_record(3, 9, 60.0)  # KeyUpdate
    assert acks.take_ack() == [(3, 9)]


def test_an_ack_names_no_record_above_its_epoch() -> None:  # V17
    acks = tracker()
    acks.handshake_complete()
    acks.on_record(3, 1, 0.0)
    acks.on_record(4, 0, 0.0)
    assert acks.take_ack(max_epoch=3) == [(3, 1)]
    assert acks.deadline is None  # (4, 0) waits for an ACK in epoch 4, not a loop of ACKs
    assert acks.take_ack(max_epoch=4) == [(4, 0)]


def test_a_capped_ack_favours_records_not_yet_acknowledged() -> None:  # §7.1
    acks = tracker()
    for seq in range(4):
        acks.on_record(2, seq, 0.0)
    assert acks.take_ack(max_records=2) == [(2, 0), (2, 1)]
    assert acks.deadline is not None  # two new numbers did not fit: another ACK is due
    assert acks.take_ack(max_records=2) == [(2, 2), (2, 3)]
    assert acks.deadline is None
    acks.on_record(2, 4, 1.0)
    assert acks.take_ack(max_records=3) == [(2, 2), (2, 3), (2, 4)]  # new, then the newest


def test_an_empty_ack_for_a_record_not_yet_deprotected() -> None:  # §7.1
    acks = tracker(rto=1.0)
    acks.on_undecryptable(2.0)
    assert not acks.ack_due(2.1)
    assert acks.ack_due(2.25)
    assert acks.take_ack() == []


def test_reset_forgets_the_flight() -> None:
    acks = tracker()
    acks.on_record(2, 0, 0.0)
    acks.flight_complete(0.0, acknowledge=True)
    acks.reset()
    acks.on_record(2, 5, 1.0)
    assert acks.deadline == pytest.approx(1.25)  # delayed again: a new flight
    assert acks.pending == [(2, 5)]


def test_the_tracker_remembers_a_bounded_number_of_records() -> None:
    acks = tracker()
    for seq in range(MAX_TRACKED + 10):
        acks.on_record(2, seq, 0.0)
    assert len(acks.pending) == MAX_TRACKED
    assert acks.pending[-1] == (2, MAX_TRACKED + 9)


def test_ack_epoch_capacity_and_checks() -> None:  # V17, X28
    assert ack_epoch(0) == 0 and ack_epoch(2) == 2 and ack_epoch(3) == 3
    assert ack_epoch(1) == 0  # never in epoch 1 (rfc9147bis §7)
    assert ack_capacity(2 + 16 * 3) == 3 and ack_capacity(2 + 16 * 3 - 1) == 2
    assert ack_capacity(1) == 0 and ack_capacity(1 << 20) == 0xFFFF // 16
    check_ack_epochs([(2, 0), (3, 5)], 3)
    with pytest.raises(AlertIllegalParameter):
        check_ack_epochs([(2, 0), (4, 0)], 3)


# -- both sides together --------------------------------------------------------------------


def test_a_lossy_flight_completes_through_acks() -> None:
    link, flight, entries = Link(), sender(mtu=600), client_flight()
    acks = tracker()
    flight.start(entries, final=True, flight_number=5)
    datagrams = flight.datagrams(link.writer, 0.0)
    assert len(datagrams) >= 3
    delivered = link.records(datagrams[1:])  # the first datagram is lost
    for number, _, _ in delivered:
        acks.on_record(*number, 0.01)
    due = acks.deadline
    assert due is not None
    assert not flight.on_ack(acks.take_ack(max_epoch=2), due)
    resent = link.records(flight.datagrams(link.writer, 0.3))
    assert covered(resent) == covered(link.records(datagrams[:1]))
    for number, _, _ in resent:
        acks.on_record(*number, 0.31)
    acks.flight_complete(0.31, acknowledge=True)
    assert flight.on_ack(acks.take_ack(max_epoch=3), 0.32)
    assert state(flight) is FlightState.IDLE
