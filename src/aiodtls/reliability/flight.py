"""Outgoing flights: sending and retransmission (RFC 6347 §4.2.4).

Owns the flight this endpoint last sent, its datagrams (planned by ``reliability.flight_plan``:
fragmentation to the MTU and packing), and when it is sent again. A flight is a list of
:class:`FlightEntry` (handshake messages and the ChangeCipherSpec) with the epoch each must be
sent in, so a retransmission uses the original epoch and keys on fresh record sequence numbers
(SPEC T5).

The plan of datagrams (fragment boundaries and packing, ``reliability.flight_plan``) is computed
once per MTU and reused for every retransmission, so the peer's reassembly sees the same
fragments again unless the MTU changes (SPEC F4, issue 3).

States follow RFC 6347 §4.2.4: SENDING (datagrams are due), WAITING (timer armed for the
peer's answer), FINISHED (the final flight was sent; it is only re-sent when the peer repeats
its flight, SPEC T4), and IDLE (nothing in flight).

DTLS 1.3 (``FlightSender(acks=True)``, RFC 9147 §5.8, §7.2, SPEC V12, V19) adds ACKs: the sender
notes the record number (epoch, sequence number) of every handshake fragment it seals, and
:meth:`FlightSender.on_ack` marks the fragments an ACK names as received. A retransmission then
carries only the bytes not acknowledged, cut and packed afresh; an ACK that leaves part of the
flight unacknowledged brings that part out at once (once per transmission), and a flight
acknowledged whole is never sent again: WAITING without a timer for the peer's next flight, or
IDLE for a final flight, which in DTLS 1.3 is retransmitted on its timer until acknowledged
(the client's Finished flight, post-handshake messages) rather than parked in FINISHED. The
ACK of ours that is due as a flight goes out may end the flight's last datagram (the
``trailer`` of :meth:`FlightSender.datagrams`); it is no part of the flight.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from typing import Protocol

from ..record.header import ContentType
from ..trace import Tracer
from .flight_plan import (
    FlightEntry,
    MtuTooSmall,
    Piece,
    PlannedRecord,
    covers,
    gaps,
    pieces_of,
    plan_datagrams,
    plan_unacknowledged,
)
from .timer import ANSWERED_CAPPED_TIMEOUTS, RetransmissionTimer

__all__ = [
    "FlightEntry",
    "FlightSender",
    "FlightState",
    "MtuTooSmall",
    "PlannedRecord",
    "RecordSealer",
    "plan_datagrams",
    "plan_unacknowledged",
]

# Module-level names: reading a member off an Enum class costs ~0.2 µs in CPython 3.11.
_HANDSHAKE = ContentType.handshake
# HandshakeType values (the handshake layer sits above this one):
_CLIENT_HELLO = 1
_CERTIFICATE = 11


class RecordSealer(Protocol):
    """What a flight needs of a record layer: the DTLS 1.2 ``RecordLayer`` and the DTLS 1.3
    ``RecordLayer13`` both provide it."""

    def seal(
        self,
        content_type: int,
        payload: bytes,
        epoch: int | None = None,
        *,
        ends_datagram: bool = False,
    ) -> bytes:
        """One record of ``payload`` in ``epoch`` on its next sequence number; one that
        ``ends_datagram`` may leave out its length (DTLS 1.3's unified header)."""
        ...

    def overhead(self, epoch: int | None = None) -> int:
        """Bytes one record in ``epoch`` adds to its payload."""
        ...

    def next_sequence_number(self, epoch: int) -> int:
        """The sequence number the next record of ``epoch`` will get."""
        ...


class FlightState(enum.Enum):
    """RFC 6347 §4.2.4 states of the sending side."""

    IDLE = "idle"
    SENDING = "sending"
    WAITING = "waiting"
    FINISHED = "finished"


# Compared several times per datagram sent or received: module-level names (see above).
_IDLE = FlightState.IDLE
_SENDING = FlightState.SENDING
_WAITING = FlightState.WAITING
_FINISHED = FlightState.FINISHED


class FlightSender:
    """The current outgoing flight, its retransmissions and the datagram plan they use.

    Slotted: every connection has one, and a server keeps it with its final flight for two
    minutes after the handshake (docs/scaling.md).
    """

    __slots__ = (
        "_acked",
        "_acks",
        "_answered",
        "_attempt",
        "_copies_left",
        "_entries",
        "_final",
        "_first_sent_at",
        "_hold_back",
        "_largest_sent",
        "_last_sent_at",
        "_newest_acked",
        "_peer_alive",
        "_plan",
        "_plan_mtu",
        "_probe_due",
        "_record_sent_at",
        "_repeat_resends",
        "_sending_copy",
        "_sent_count",
        "_sent_pieces",
        "_timeouts",
        "_timeouts_since_answer",
        "_timer_started_at",
        "_trace",
        "deadline",
        "flight_number",
        "mtu",
        "retransmissions",
        "retransmitted_bytes",
        "state",
        "timeouts_exhausted",
        "timer",
        "transmission_limit",
    )

    def __init__(
        self,
        *,
        timer: RetransmissionTimer,
        mtu: int,
        tracer: Tracer,
        record_times: bool = True,
        acks: bool = False,
    ) -> None:
        """``record_times``: note when each record of a ClientHello flight was sent, for
        :meth:`on_record_answered` (only a client needs it: a HelloVerifyRequest answers its
        ClientHello's record).
        ``acks``: DTLS 1.3, the peer acknowledges records (:meth:`on_ack`); flights then
        carry handshake messages only."""
        self.state = _IDLE
        self.timer = timer
        self.mtu = mtu
        "The MTU the flight is cut for (lowered by MTU back-off)."
        self.deadline: float | None = None
        "When the flight is retransmitted unless the peer answers first."
        self.retransmissions = 0
        "Retransmissions of every flight so far."
        self.retransmitted_bytes = 0
        "Bytes of the datagrams of those retransmissions (ACKs are not counted)."
        self.flight_number = 0
        self.timeouts_exhausted = False
        "True once the policy's ``max_timeouts`` expiries of one flight have passed."
        self.transmission_limit: int | None = None
        """Most transmissions of the current flight until the peer makes progress (set by a
        server connection for its first flight; see ``max_unanswered_transmissions``)."""
        # Empty tuples for "none": an empty list costs 56 bytes per connection.
        self._entries: Sequence[FlightEntry] = ()
        self._plan: Sequence[list[PlannedRecord]] = ()
        self._plan_mtu = 0
        self._first_sent_at: float | None = None
        self._last_sent_at: float | None = None
        self._attempt = 0
        self._timeouts = 0
        self._timeouts_since_answer = 0
        self._answered = False
        self._peer_alive = False  # the peer answered some flight of ours (this or an earlier)
        self._largest_sent = 0
        self._probe_due = False
        self._timer_started_at: float | None = None
        self._repeat_resends = 0
        self._copies_left = 0
        self._sending_copy = False
        self._record_sent_at: dict[tuple[int, int], float] | None = {} if record_times else None
        self._final = False
        self._trace = tracer
        self._acks = acks
        # ACK mode's two containers exist only in ACK mode (a DTLS 1.2 connection would keep
        # them empty for its whole life): every use of them is under ``self._acks``.
        self._sent_pieces: dict[tuple[int, int], tuple[tuple[Piece, ...], float, int]]
        """ACK mode: record number -> the fragments it carried, when it went out, and its
        place in the order of records sent (for this flight; popped once acknowledged)."""
        self._acked: dict[int, list[tuple[int, int]]]
        "ACK mode: message_seq -> the (offset, length) fragments acknowledged."
        if acks:
            self._sent_pieces = {}
            self._acked = {}
        self._sent_count = 0
        self._newest_acked = -1
        "ACK mode: the send order of the latest-sent record acknowledged so far."
        self._hold_back: set[Piece] | None = None
        "ACK mode: fragments still in flight, left out of the ACK-triggered resend."

    @property
    def final(self) -> bool:
        """True if the current flight is the last of the handshake (no timer, SPEC T4)."""
        return self._final and bool(self._entries)

    @property
    def entries(self) -> Sequence[FlightEntry]:
        """The messages of the current flight."""
        return self._entries

    def start(self, entries: list[FlightEntry], *, final: bool, flight_number: int) -> None:
        """Send a new flight (replacing the previous one)."""
        self._entries = entries
        self._plan = ()
        self._plan_mtu = 0
        self._attempt = 0
        self._timeouts = 0
        self._timeouts_since_answer = 0
        self._answered = False
        self._first_sent_at = None
        self._probe_due = False
        self._repeat_resends = 0
        if self._record_sent_at:
            self._record_sent_at.clear()
        if self._acks:
            if any(e.content_type != _HANDSHAKE for e in entries):
                raise ValueError("a flight acknowledged by ACKs carries handshake messages only")
            self._sent_pieces = {}
            self._acked = {}
            self._sent_count = 0
            self._newest_acked = -1
            self._hold_back = None
        self.flight_number = flight_number
        self.timer.start_flight()
        self._final = final
        self.state = _SENDING

    def take_over_answered(self, entries: Sequence[FlightEntry], number: int, now: float) -> None:
        """Carry on with ``entries``, sent by another sender and partly answered: the ClientHello
        of a DTLS 1.3 client falling back to DTLS 1.2 on a ServerHello. Only the peer's whole
        flight answers it (RFC 6347 §4.2.4): resent one timeout from ``now`` unless it comes."""
        self.start(list(entries), final=False, flight_number=number)
        self.state = _WAITING
        self._first_sent_at = self._last_sent_at = now
        self.on_peer_answer(now)
        self.deadline = self.deadline or now + self.timer.wait()  # without progress_resets

    def forget(self) -> None:
        """Drop the flight entirely (handshake over, or the final flight's linger ended)."""
        self.state = _IDLE
        self.deadline = None
        self._entries = ()
        self._plan = ()
        if self._record_sent_at:
            self._record_sent_at.clear()
        if self._acks:
            self._sent_pieces = {}
            self._acked = {}
            self._hold_back = None

    @property
    def acknowledged(self) -> bool:
        """ACK mode: every byte of the current flight was acknowledged (RFC 9147 §7.2)."""
        return bool(self._entries) and self._acks and not self._unacknowledged_messages()

    def _unacknowledged_messages(self) -> list[FlightEntry]:
        acked = self._acked
        return [e for e in self._entries if gaps(len(e.body), acked.get(e.message_seq, []))]

    def on_ack(self, record_numbers: Iterable[tuple[int, int]], now: float) -> bool:
        """The peer's ACK named ``record_numbers`` (epoch, sequence number): the fragments
        those records of ours carried arrived (RFC 9147 §7.2: a record is acknowledged if it
        appears in any ACK; numbers we never sent, or sent for an earlier flight, are
        ignored). Returns True when the whole flight is now acknowledged: no more
        retransmissions (WAITING without a timer for the peer's next flight, IDLE for a final
        flight). An ACK that leaves part of it unacknowledged has the part that must be lost
        sent again now (§5.8.1: "retransmits the unacknowledged portion"): the fragments
        whose last copy went out before a record the peer acknowledged, or more than 9/8 of
        a round trip ago. Those sent after it may still be on their way, and an out-of-order
        ACK (§7.1) would otherwise have the whole rest of a long flight sent twice; the timer,
        re-armed at one base timeout (the peer is waiting, not processing), resends them if
        they were lost. An ACK that names nothing new while part of the flight is missing is
        the peer's repeat of a stalled flight's ACK (``reliability.ack13``): the rest goes
        again, at most once per base timeout.

        The newest record of the first ACK of a flight sent once gives a round trip sample:
        its record number belongs to one transmission only (no Karn ambiguity)."""
        if not self._acks or not self._entries:
            return False
        sent = self._sent_pieces
        newly = False
        newest_order, newest_sent_at = -1, 0.0
        for number in record_numbers:
            found = sent.pop(number, None)
            if found is None:
                continue
            pieces, sent_at, order = found
            for message_seq, offset, length in pieces:
                self._acked.setdefault(message_seq, []).append((offset, length))
            if order > newest_order:
                newest_order, newest_sent_at = order, sent_at
            newly = True
        if newly:
            self._newest_acked = max(self._newest_acked, newest_order)
            if not self._answered and self._attempt == 0:
                # The newest record acknowledged, of a flight sent once: after a
                # retransmission the ACK may be the peer's repeat of a stalled flight's ACK
                # (reliability.ack13), or come once keys from a resent record let it read
                # older ones -- both far later than one round trip.
                self._answered = True
                self._sample(now - newest_sent_at)
        if not newly:
            if self._unacknowledged_messages() and self.state == _WAITING:
                # The peer still lacks part of the flight and nothing we sent since its last
                # ACK arrived: it repeats its ACK when its flight stalls (reliability.ack13).
                # Resend the rest, at most once per base timeout (a duplicated ACK, or one
                # overtaking our resend, arrives sooner).
                last = self._last_sent_at
                if last is None or now - last >= self.timer.base_rto():
                    self._retransmit("repeated ACK", lower_mtu=False)
            return self.acknowledged
        self._peer_alive = True
        self.transmission_limit = None
        self._timeouts_since_answer = 0
        if not self._unacknowledged_messages():
            # RFC 9147 §5.8.1: "cancels all retransmissions of that flight".
            self.deadline = None
            self._probe_due = False
            self.state = _IDLE if self._final else _WAITING
            if self._trace.enabled:
                self._trace("flight_acknowledged", flight=self.flight_number)
            return True
        self.timer.reset_back_off()
        if self.state == _WAITING:
            # The peer is waiting for the rest, not processing the flight: whatever is still
            # unacknowledged goes again one base timeout from now at the latest (the first
            # timeout of a certificate flight also allowed for the peer's processing, 1.5 s
            # by default, which a lost last datagram would otherwise cost in full).
            wait = now + self.timer.wait()
            if self.deadline is None or wait < self.deadline:
                self.deadline = wait
            newest = self._newest_acked
            # Sent after the newest acknowledged record: maybe still on its way, unless it
            # went out more than 9/8 of a round trip ago (QUIC's time threshold, RFC 9002
            # §6.1.2: the peer's ACK, sent after its delay, would have named it).
            srtt = self.timer.srtt
            overdue = None if srtt is None else now - 1.125 * srtt
            in_flight = {
                piece
                for pieces, sent_at, order in sent.values()
                if order > newest and (overdue is None or sent_at > overdue)
                for piece in pieces
            }
            acked = self._acked
            if any(
                piece not in in_flight and not covers(acked.get(piece[0], []), piece)
                for pieces, _, _ in sent.values()
                for piece in pieces
            ):
                self._hold_back = in_flight
                self._retransmit("partial ACK", lower_mtu=False)
        return False

    def on_peer_progress(self, now: float) -> None:
        """New handshake bytes from the peer arrived while we wait for its flight.

        The first arrival measures the round trip, but only for a flight sent once (Karn's
        rule: after a retransmission the answer may belong to either copy). Every arrival
        then restarts the timer at the base timeout (policy ``progress_resets_timer``): if the
        peer's flight stalls incomplete, our retransmission one timeout later makes the peer
        resend it, and the reassembler keeps what already arrived. A pending probe is
        cancelled: the flight got through, and the round trip is no longer unknown.
        """
        if self.state != _WAITING:
            return
        self.transmission_limit = None
        if not self._answered and self._attempt == 0 and self._first_sent_at is not None:
            self._sample(now - self._first_sent_at)
            self.timer.on_answer_delay(now - self._first_sent_at)
        if self._acks and not self._final and self._entries:
            if not self._unacknowledged_messages():
                return  # acknowledged already
            # DTLS 1.3: the peer's next flight implicitly acknowledges ours whole (RFC 9147
            # §7.2): no more retransmissions; if the peer's flight stalls, our ACKs of it
            # (reliability.ack13) have the peer resend the rest. Final flights (the client's
            # Finished, post-handshake messages) need an explicit ACK (§5.8.1).
            self._answered = self._peer_alive = True
            for entry in self._entries:
                self._acked[entry.message_seq] = [(0, len(entry.body))]
            self._sent_pieces = {}
            self.deadline = None
            self._probe_due = False
            if self._trace.enabled:
                self._trace("flight_acknowledged", flight=self.flight_number, implicit=True)
            return
        self.on_peer_answer(now)

    def on_peer_answer(self, now: float) -> None:
        """Something of the peer's next flight arrived (new handshake bytes, its
        ChangeCipherSpec, a record of the next epoch): the path works. Restart the timer at
        the base timeout and cap the back-off for a few expiries (policy
        ``answered_back_off_cap``). Unlike new handshake bytes, this takes no RTT sample and
        does not lift ``transmission_limit``: a plaintext ChangeCipherSpec is easy to forge."""
        if self.state != _WAITING:
            return
        self._answered = self._peer_alive = True
        self._timeouts_since_answer = 0
        timer = self.timer
        if timer.policy.progress_resets_timer:
            self._probe_due = False
            self.deadline = now + timer.restart()

    def on_record_answered(self, epoch: int, sequence_number: int, now: float) -> bool:
        """The peer answered one specific record of ours (a HelloVerifyRequest echoes the
        ClientHello's record number, RFC 6347 §4.2.1): an exact round trip even if the flight
        was retransmitted, because we know which copy was answered. Returns True if the
        record belongs to the current flight."""
        record_times = self._record_sent_at
        sent_at = None if record_times is None else record_times.get((epoch, sequence_number))
        if sent_at is None:
            return False
        self._peer_alive = True
        if not self._answered:
            self._answered = True
            self._sample(now - sent_at)
        return True

    def mark_peer_alive(self) -> None:
        """The peer answered us before this flight (a server's cookie came back): back-offs
        are capped as after an answer (``answered_back_off_cap``)."""
        self._peer_alive = True

    @property
    def peer_alive(self) -> bool:
        """Whether the peer has answered some flight of ours (or :meth:`mark_peer_alive`)."""
        return self._peer_alive

    def _sample(self, rtt: float) -> None:
        self.timer.on_rtt_sample(rtt)
        if self._trace.enabled:
            self._trace(
                "rtt_sample",
                flight=self.flight_number,
                rtt=round(rtt, 6),
                base_rto=round(self.timer.base_rto(), 6),
            )

    def on_timer(self, now: float) -> None:
        """Fire the retransmission timer if it is due."""
        if self.deadline is None or now < self.deadline:
            return
        if self.state == _FINISHED:
            self._sending_copy = True
            self._retransmit("copy of the final flight (lossy path)")
            return
        if self.state != _WAITING:
            return
        if self._probe_due and not self._at_transmission_limit():
            self._retransmit("probe (round trip unknown)")
            return
        if self._at_transmission_limit():
            # Sent as often as an unanswered flight may be: go quiet but keep the state, so
            # that a late answer still completes the handshake (its deadline ends it otherwise).
            self.deadline = None
            return
        self._timeouts += 1
        limit = self.timer.policy.max_timeouts
        if limit is not None and self._timeouts > limit:
            self.timeouts_exhausted = True
            self.deadline = None
            return
        # RFC 6347 §4.2.4.1: double on each expiry, up to the cap (a lower one just after the
        # peer answered: the path works).
        self._timeouts_since_answer += 1
        self.timer.back_off(
            answered=self._peer_alive and self._timeouts_since_answer <= ANSWERED_CAPPED_TIMEOUTS
        )
        self._retransmit("timeout")

    def on_peer_repeat(self, now: float) -> None:
        """The peer repeated its previous flight: resend ours, at most once per timeout.

        The limits stop two peers that both see "repeats" (e.g. after a PSK mismatch) from
        flooding each other, as pion's unlimited version did (pion/dtls#758). The final flight
        is always answered this way: it has no timer of its own (SPEC T4).
        """
        if self.state not in (_WAITING, _FINISHED) or not self._entries:
            return
        if self._acks and self._acked:
            # RFC 9147 §5.8.1: a repeated flight is answered only when "none of the
            # messages that it sent in response to that flight have been acknowledged".
            return
        policy = self.timer.policy
        if not self._final and (
            not policy.resend_on_peer_repeat or self._repeat_resends >= policy.max_repeat_resends
        ):
            return
        # The back-off is for silence; a repeating peer is alive, so the round trip paces us
        # (before one is known, the floor: a base timeout of 1 s would ignore the peer).
        spacing = self.timer.base_rto() if self.timer.rtt_known else policy.min_rto
        if self._last_sent_at is not None and now - self._last_sent_at < spacing:
            return
        if self._at_transmission_limit():
            return
        self._repeat_resends += 1
        self._retransmit("peer repeated its flight")

    def _at_transmission_limit(self) -> bool:
        limit = self.transmission_limit
        return limit is not None and self._attempt + 1 >= limit

    def _retransmit(self, why: str, *, lower_mtu: bool = True) -> None:
        self.retransmissions += 1
        self._attempt += 1
        if lower_mtu and self._largest_sent:
            mtu = self.timer.next_mtu(self.mtu, self._attempt - 1, self._largest_sent)
            if mtu != self.mtu:
                if self._trace.enabled:
                    self._trace("mtu_reduced", flight=self.flight_number, old=self.mtu, new=mtu)
                self.mtu = mtu
        if self._trace.enabled:
            self._trace(
                "retransmit",
                flight=self.flight_number,
                attempt=self._attempt,
                why=why,
                rto=round(self.timer.rto, 6),
            )
        self.state = _SENDING
        self.deadline = None  # due now; datagrams() arms the next wait

    def datagrams(
        self, records: RecordSealer, now: float, *, trailer: PlannedRecord | None = None
    ) -> list[bytes]:
        """The datagrams due now (none unless SENDING); arms the timer after sending.

        ACK mode: ``trailer`` (epoch, content type, content) is a record that is not the
        flight's -- the ACK due as the flight goes out (RFC 9147 §7) -- sealed after the
        flight's records in its last datagram if it fits within the MTU there, else alone in
        a datagram after the flight's. Either way it leaves now, and it is never sent again
        with a retransmission (nor counted in ``retransmitted_bytes``)."""
        if self.state != _SENDING:
            return []
        if trailer is not None and not self._acks:
            raise ValueError("only a flight acknowledged by ACKs carries an ACK")
        if self._acks and (self._acked or self._hold_back):
            acknowledged = self._acked
            if self._hold_back:
                acknowledged = {seq: list(ranges) for seq, ranges in acknowledged.items()}
                for message_seq, offset, length in self._hold_back:
                    acknowledged.setdefault(message_seq, []).append((offset, length))
            self._hold_back = None
            plan: Sequence[list[PlannedRecord]] = plan_unacknowledged(
                self._entries, acknowledged, self.mtu, records.overhead, coalesce=True
            )
        else:
            plan = self._plan
            if self._plan_mtu != self.mtu or not plan:
                plan = self._plan = plan_datagrams(
                    self._entries, self.mtu, records.overhead, coalesce=self._acks
                )
                self._plan_mtu = self.mtu
        record_times = self._record_sent_at
        entries = self._entries
        if record_times is not None and (not entries or entries[0].msg_type != _CLIENT_HELLO):
            # Only a ClientHello's record is ever answered by its number: a HelloVerifyRequest
            # is taken only while a ClientHello is the flight in progress, and a
            # HelloRetryRequest names an epoch-0 record, which only a ClientHello flight has.
            record_times = None
        seal = records.seal
        out = []
        largest = 0
        trailing = b""
        if self._acks:
            sent_pieces = self._sent_pieces
            # The index of the datagram the trailer ends (-1: none has room, it goes alone).
            carrier = -1
            if trailer is not None and plan:
                overhead = records.overhead
                room = self.mtu - sum(overhead(e) + len(p) for e, _, p in plan[-1])
                if overhead(trailer[0]) + len(trailer[2]) <= room:
                    carrier = len(plan) - 1
            for position, planned in enumerate(plan):
                sealed = []
                # DTLS 1.3: the datagram's last record leaves out its length (RFC 9147 §4).
                last = -1 if position == carrier else len(planned) - 1
                for index, (epoch, content_type, payload) in enumerate(planned):
                    number = (epoch, records.next_sequence_number(epoch))
                    sent_pieces[number] = (pieces_of(payload), now, self._sent_count)
                    self._sent_count += 1
                    if record_times is not None:
                        record_times[number] = now
                    sealed.append(seal(content_type, payload, epoch, ends_datagram=index == last))
                if position == carrier:
                    assert trailer is not None
                    trailing = seal(trailer[1], trailer[2], trailer[0], ends_datagram=True)
                    sealed.append(trailing)
                datagram = b"".join(sealed)
                if len(datagram) > largest:
                    largest = len(datagram)
                out.append(datagram)
        else:
            for planned in plan:
                sealed = []
                for epoch, content_type, payload in planned:
                    if record_times is not None:
                        record_times[(epoch, records.next_sequence_number(epoch))] = now
                    sealed.append(seal(content_type, payload, epoch))
                datagram = b"".join(sealed)
                if len(datagram) > largest:
                    largest = len(datagram)
                out.append(datagram)
        if self._final and not self._acks:
            # A final flight lingers for minutes and is rarely sent again: keep its entries
            # only, without their encodings. Planning is deterministic, so a resend at this
            # MTU is cut the same way, from the bodies, into the same bytes.
            self._plan = ()
            for entry in self._entries:
                entry.encoded = b""
        self._last_sent_at = now
        self._largest_sent = largest
        if self._attempt:
            self.retransmitted_bytes += sum(len(d) for d in out) - len(trailing)
        if self._first_sent_at is None:
            self._first_sent_at = now
        if self._final and not self._acks:
            self.state = _FINISHED
            if self._sending_copy:
                self._sending_copy = False
                self._copies_left -= 1
            else:
                # The first transmission, or one for a repeating peer: on a lossy handshake it
                # is followed by copies (``final_flight_copies``).
                lossy = self.retransmissions > 0 or self._repeat_resends > 0
                self._copies_left = self.timer.policy.final_flight_copies if lossy else 0
            self.deadline = now + self.timer.wait_base() if self._copies_left > 0 else None
        else:
            self.state = _WAITING
            probe = self.timer.policy.probe
            if self._probe_due:
                # The probe went out; the regular timeout still runs from the transmission.
                self._probe_due = False
                assert self._timer_started_at is not None
                self.deadline = self._timer_started_at + self.timer.wait()
            elif probe is not None and not self.timer.rtt_known and len(out) == 1:
                self._probe_due = True
                self._timer_started_at = now
                self.deadline = now + probe
            else:
                if self._attempt == 0 and not self._answered:
                    # A certificate chain for the peer to verify: the first timeout allows for
                    # that work. (A loop here, not a method or any() over a generator: this
                    # runs for every flight sent.)
                    for entry in self._entries:
                        if entry.msg_type == _CERTIFICATE and len(entry.body) > 3:
                            self.timer.allow_processing(len(out))
                            break
                self.deadline = now + self.timer.wait()
        if self._trace.enabled:
            self._trace(
                "flight_sent",
                flight=self.flight_number,
                attempt=self._attempt,
                datagrams=len(out),
                bytes=sum(len(d) for d in out),
                mtu=self.mtu,
                timeout=None if self.deadline is None else round(self.deadline - now, 6),
            )
        if trailer is not None and not trailing:
            out.append(seal(trailer[1], trailer[2], trailer[0], ends_datagram=True))
        return out
