"""The DTLS 1.2 handshake phase of a :class:`~aiodtls.connection.DtlsConnection`.

Owns what the connection does from its first handshake record until the handshake is over,
as :class:`Dtls12HandshakePhase`, a mixin ``DtlsConnection`` inherits: the ``HandshakeSink``
callbacks the handshake state machine calls (keys, flights, the HelloVerifyRequest,
connection IDs), the intake of handshake records (a whole message straight to the
handshake, anything else through reassembly, a server's ClientHellos through the cookie
door first), the handshake records that still come after completion, the completion itself,
the reason a handshake that timed out gives, and the session a fatal alert ends (RFC 5246
§7.2.2).

It does not own the record path (opening records, application data, alerts), the timers or
the connection's state beyond the switch to ESTABLISHED: those stay in ``connection``, which
this module never imports. The connection attributes and methods the phase uses are declared
below, so mypy checks this class on its own; a declaration makes no attribute, and the mixin
adds none (docs/design.md, "seam-connection").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .alerts import AlertDecodeError, AlertDescription, AlertLevel, AlertProtocolVersion
from .buffer import Buffer, BufferReadError
from .configuration import DtlsConfiguration
from .connection_state import ESTABLISHED as _ESTABLISHED
from .connection_state import HANDSHAKING as _HANDSHAKING
from .connection_state import ConnectionSlots, ConnectionState, NetworkAddress
from .drops import Drop, DropReason
from .events import DtlsEvent
from .handshake.client import ClientHandshake
from .handshake.cookie import Admit, Challenge, CookieDoor
from .handshake.messages import HandshakeType, decode_client_hello
from .handshake.server import ServerHandshake
from .handshake.state import HandshakeResult
from .handshake_phase13 import Dtls13State, admits_dtls13
from .migration import AddressBudget
from .record.header import RECORD_HEADER_LENGTH, RawRecord
from .record.layer import OpenedRecord, RecordLayer
from .record.protection import RecordProtection
from .reliability.flight import FlightEntry, FlightSender, FlightState
from .reliability.fragments import (
    HANDSHAKE_HEADER_LENGTH,
    pull_handshake_header,
    read_handshake_header,
)
from .reliability.reassembly import FragmentStatus, HandshakeMessage, Reassembler
from .suites import CipherSuite, ProtocolVersion
from .trace import Tracer
from .wrong_key import WrongKeyWatch

__all__ = ["FINAL_FLIGHT_LINGER", "Dtls12HandshakePhase"]

FINAL_FLIGHT_LINGER = 120.0
"""Seconds the sender of the final flight keeps it to answer a peer that repeats its own
flight: 2 x MSL with the 60 s MSL of RFC 6347 §4.2.4 (SPEC T4)."""

# Module-level names, not Enum members read per record (why: connection_state.py).
_HELLO_VERIFY_REQUEST = HandshakeType.hello_verify_request
_CLIENT_HELLO = HandshakeType.client_hello
_FINISHED = HandshakeType.finished
_CLIENT_HELLO_RECORD_OVERHEAD = RECORD_HEADER_LENGTH + HANDSHAKE_HEADER_LENGTH
_NEW = FragmentStatus.NEW
_DTLS12 = ProtocolVersion.DTLSv1_2
# Each suite's name, read once: an Enum member's ``name`` is a property (Python frames).
_SUITE_NAMES = {suite: suite.name for suite in CipherSuite}
_OLD = FragmentStatus.OLD


class Dtls12HandshakePhase(ConnectionSlots):
    """The DTLS 1.2 handshake phase of ``DtlsConnection`` (a mixin: no state of its own).

    A DTLS 1.3 handshake phase would be a sibling mixin with the same entry points
    (``_receive_handshake``, ``_timeout_reason`` and its own sink callbacks), chosen by the
    connection per protocol version (docs/design.md).
    """

    __slots__ = ()

    # What the phase uses of the connection, which sets them all in __init__.
    configuration: DtlsConfiguration
    is_client: bool
    state: ConnectionState
    _trace: Tracer
    _records: RecordLayer
    _reassembler: Reassembler | None
    _flight: FlightSender
    _handshake: ClientHandshake | ServerHandshake
    _door: CookieDoor | Admit | None
    _peer_address: NetworkAddress | None
    _events: list[DtlsEvent]
    _datagrams: list[bytes]
    _held_records: list[RawRecord] | None
    _early_application: list[bytes] | None
    _reassembly_progressed: bool
    _peer_flight_start: int
    _started_at: float | None
    _handshake_deadline: float | None
    _linger_deadline: float | None
    _now: float
    _wrong_key: WrongKeyWatch
    _address_budget: AddressBudget | None
    _v13: Dtls13State | None
    _session_id: bytes

    if TYPE_CHECKING:  # methods of the connection (declared only: the class has no stubs)

        def _drop(self, drop: Drop, record: RawRecord | OpenedRecord | None = None) -> None: ...
        def _send_alert(self, level: AlertLevel, description: AlertDescription) -> None: ...
        def _free_early_application(self) -> None: ...
        def _announce_completion(
            self, result: HandshakeResult, version: str, suite: str, ems: bool
        ) -> None: ...
        def _deliver_messages13(
            self, message: HandshakeMessage | None, v13: Dtls13State
        ) -> None: ...
        def _new_flight_sender13(self) -> FlightSender: ...
        def _start_server13(self, admitted: Admit, message: HandshakeMessage) -> None: ...

    # -- HandshakeSink: callbacks of the handshake, private to the package ----------------

    def _install_read_keys(self, epoch: int, protection: RecordProtection) -> None:
        """Called by the handshake: accept ``epoch`` and replay records held for it."""
        held = self._records.install_read(epoch, protection)
        if held:
            self._held_records = (self._held_records or []) + held

    def _install_write_keys(self, epoch: int, protection: RecordProtection) -> None:
        """Called by the handshake when it sends ChangeCipherSpec."""
        self._records.install_write(epoch, protection)
        self._records.write_epoch = epoch

    def _send_flight(self, entries: list[FlightEntry], *, final: bool, flight_number: int) -> None:
        """Called by the handshake with a complete flight."""
        if self._v13 is not None:
            # Our flight answers the peer's: an implicit ACK of it (RFC 9147 §7.1).
            self._v13.acks.reset()
        first = self._flight.flight_number == 0
        self._flight.start(entries, final=final, flight_number=flight_number)
        if self.is_client:
            # Only a PSK can differ between the two ends: watch the flight with our Finished.
            suite = self._handshake.result.suite
            if suite is not None and suite.key_exchange.uses_psk:
                for entry in entries:  # a loop, not any() over a generator (a frame each)
                    if entry.msg_type == _FINISHED:
                        self._wrong_key.copies = []
                        break
        if first and not self.is_client:
            # Until the client answers, its ClientHello may be a replay: bound what it costs.
            policy = self.configuration.retransmission
            self._flight.transmission_limit = policy.max_unanswered_transmissions
        # Messages numbered below this belong to flights the peer sent before ours, so seeing
        # one again means the peer did not get our flight. Messages from here up to what we
        # have already read are parts of the peer's current flight that it is resending.
        assert self._reassembler is not None  # flights are sent only during the handshake
        self._peer_flight_start = self._reassembler.next_seq

    def _hello_verify_request_received(self, sequence_number: int) -> bool:
        """Called by the client handshake: a HelloVerifyRequest echoes our record number, and
        the server numbers its next message 1, whatever came before (RFC 6347 §4.2.2)."""
        assert self._reassembler is not None  # while handshaking
        self._reassembler.restart_at(1)
        return self._flight.on_record_answered(0, sequence_number, self._now)

    def _use_connection_ids(self, receive_cid: bytes, send_cid: bytes) -> None:
        """Called by the handshake when both sides sent connection_id (RFC 9146)."""
        self._records.use_connection_ids(receive_cid, send_cid)
        if receive_cid:  # only then can the peer's address change under us
            self._address_budget = AddressBudget(self._peer_address)

    # -- handshake records ---------------------------------------------------------------

    def _receive_handshake(self, record: OpenedRecord) -> None:
        """Handshake records during the handshake: a record that is exactly the whole message
        expected next (the usual case) goes straight to the handshake; anything else goes
        through reassembly (:meth:`_receive_fragments`)."""
        if self.state == _ESTABLISHED:
            self._receive_handshake_after_completion(record)
            return
        payload = record.payload
        if (
            len(payload) >= HANDSHAKE_HEADER_LENGTH
            and payload[0] != _HELLO_VERIFY_REQUEST  # answered outside the sequence
        ):
            assert self._reassembler is not None  # while handshaking
            message = self._reassembler.take_whole(payload, record.epoch, record.sequence_number)
            if message is not None:
                self._flight.on_peer_progress(self._now)
                self._deliver_messages(message)
                self._reassembly_progressed = True
                return
        self._receive_fragments(record)

    def _receive_fragments(self, record: OpenedRecord) -> None:
        """The general case: every fragment of the record goes to reassembly, old ones tell
        whether the peer repeats a flight, and the messages completed in order go on to the
        handshake."""
        payload = record.payload
        if not payload:
            self._drop(Drop(DropReason.EMPTY_HANDSHAKE_RECORD), record)  # RFC 5246 §6.2.1
            return
        reassembler = self._reassembler
        assert reassembler is not None  # while handshaking
        progressed = False
        repeated = False
        repeating_current = False
        position, end = 0, len(payload)
        while position < end:
            if end - position < HANDSHAKE_HEADER_LENGTH:
                self._drop(Drop(DropReason.HANDSHAKE_RECORD_SHORT), record)  # SPEC F7
                break
            header = read_handshake_header(payload, position)
            position += HANDSHAKE_HEADER_LENGTH
            if header.fragment_length > end - position:
                self._drop(Drop(DropReason.HANDSHAKE_FRAGMENT_OVERRUNS), record)  # SPEC F3
                break
            fragment = payload[position : position + header.fragment_length]
            position += header.fragment_length
            msg_type = header.msg_type
            if (
                msg_type == _HELLO_VERIFY_REQUEST
                and isinstance(self._handshake, ClientHandshake)
                and self._handshake.expects_server_hello
            ):
                # Outside the message sequence: the client handshake takes it whole (SPEC C6).
                dropped = self._handshake.receive_hello_verify_request(
                    header, fragment, record.sequence_number, self._now
                )
                if dropped is not None:
                    self._drop(dropped, record)
                continue
            if (
                msg_type == _CLIENT_HELLO
                and header.message_seq != reassembler.next_seq
                and self._door is not None
            ):
                # Before the door admits a ClientHello the server keeps no state, so any
                # ClientHello (a first one again after a lost HVR, or the one with the cookie)
                # starts afresh.
                reassembler.restart_at(header.message_seq)
            status = reassembler.add_fragment(
                msg_type,
                header.length,
                header.message_seq,
                header.fragment_offset,
                fragment,
                record.epoch,
                record.sequence_number,
            )
            if status is _NEW:
                progressed = True
                self._flight.on_peer_progress(self._now)
            elif type(status) is Drop:
                self._drop(status, record)
            elif status is _OLD and header.message_seq < self._peer_flight_start:
                repeated = True
            else:  # OLD or DUPLICATE
                repeating_current = True
        if repeated and not progressed:
            # The peer is repeating its previous flight: ours was (partly) lost (SPEC T2).
            if self.is_client:
                self._wrong_key.check_finished_ignored(
                    self.configuration.wrong_key_repeats, self._flight.timer, self._now
                )
            self._flight.on_peer_repeat(self._now)
        elif repeating_current and not progressed:
            self._wrong_key.on_peer_flight_repeat(self.configuration.wrong_key_repeats)
        self._deliver_messages(None)
        if progressed:
            self._reassembly_progressed = True

    def _deliver_messages(self, message: HandshakeMessage | None) -> None:
        """Hand ``message`` (if any), then each message reassembly has completed in order,
        to the handshake, for as long as the handshake goes on. A DTLS 1.3 connection's go
        to its own handshake (``handshake_phase13``)."""
        if self._v13 is not None:
            self._deliver_messages13(message, self._v13)
            return
        while self.state == _HANDSHAKING:
            if message is None:
                reassembler = self._reassembler
                assert reassembler is not None  # while handshaking
                if not reassembler.buffered_bytes:
                    break  # nothing buffered: no message to pop (the usual case)
                message = reassembler.pop_message()
                if message is None:
                    break
            if self._door is None:
                self._handshake.handle(message, self._now)
            else:
                self._through_door(message)
            message = None
            if self._handshake.complete:
                self._complete_handshake()

    def _through_door(self, message: HandshakeMessage) -> None:
        """A server's message before a ClientHello was admitted. A ClientHello goes through
        the cookie door (``handshake.cookie``), once: a challenge is sent and the ClientHello
        forgotten (SPEC C1, C5); an admitted one starts the server handshake, already
        verified. Any other message is unexpected (SPEC H1)."""
        door = self._door
        assert door is not None  # called only before a ClientHello was admitted
        if message.msg_type != _CLIENT_HELLO:
            self._handshake.handle(message, self._now)  # raises unexpected_message
            return
        verdict: Admit | Challenge
        if not door.admitted:  # our own door
            try:
                hello = decode_client_hello(message.body)
            except BufferReadError as exc:
                raise AlertDecodeError(f"malformed client_hello: {exc}") from None
            # The datagram's size is not known here: the smallest record that carries it.
            size = _CLIENT_HELLO_RECORD_OVERHEAD + len(message.body)
            verdict = door.admit(
                hello, message.record_sequence_number, size, self._peer_address, self._now
            )
        elif door.record_sequence_number == message.record_sequence_number:
            verdict = door  # the endpoint's door admitted this ClientHello
        else:
            self._drop(Drop(DropReason.NOT_THE_ADMITTED_CLIENT_HELLO))
            return
        if not verdict.admitted:
            if verdict.alert is not None:
                raise verdict.alert  # refused outright (DTLS 1.3): our fatal alert says why
            self._datagrams.extend(verdict.datagrams)
            if self._trace.enabled:
                self._trace(
                    "hello_verify_request_sent",
                    cookie_length=len(verdict.cookie),
                    refused=verdict.reason,
                )
            return
        self._door = None
        # A ClientHello that offers DTLS 1.3, to a server that allows it, is answered in 1.3:
        # with ACKs from the first flight on.
        dtls13 = admits_dtls13(self.configuration, verdict)
        if dtls13:
            self._flight = self._new_flight_sender13()
        cookie = verdict.cookie
        if cookie is not None and cookie.age is not None:
            # The cookie went out with our challenge: its age is one round trip if the
            # ClientHello came straight back, else an upper bound of it. Either way the timer
            # of our first (and biggest) flight need not start from the blind 1 s.
            if cookie.exact:
                self._flight.timer.on_rtt_sample(cookie.age)
            else:
                self._flight.timer.on_rtt_bound(cookie.age)
            self._flight.mark_peer_alive()
            if self._trace.enabled:
                self._trace(
                    "rtt_sample", source="cookie", rtt=round(cookie.age, 6), exact=cookie.exact
                )
        # Statelessly we may already have used record numbers up to the ClientHello's for
        # challenges (SPEC C3); continue after it so the client's replay window never sees a
        # number twice (what OpenSSL does after DTLSv1_listen). Done first, so that even an
        # alert refusing this ClientHello gets through.
        self._records.skip_write_sequence_numbers(0, message.record_sequence_number + 1)
        if dtls13:
            self._start_server13(verdict, message)
            return
        if _DTLS12 not in self.configuration.versions:
            raise AlertProtocolVersion(
                "the client offers DTLS 1.2 only, which this server does not allow"
            )
        handshake = self._handshake
        assert not handshake.is_client  # a server's (no isinstance call)
        handshake.start(verdict.hello, message, self._now)

    def _trace_reassembly(self, reassembler: Reassembler) -> None:
        """Trace what is still missing of the peer's messages after new fragments arrived."""
        missing = {seq: h for seq, h in reassembler.missing().items() if h}
        if missing:
            self._trace("reassembly", missing=missing)

    def _receive_handshake_after_completion(self, record: OpenedRecord) -> None:
        """Handshake records after completion: retransmissions, or renegotiation attempts."""
        if len(record.payload) < HANDSHAKE_HEADER_LENGTH:
            self._drop(Drop(DropReason.HANDSHAKE_RECORD_SHORT), record)
            return
        header = pull_handshake_header(Buffer(record.payload[:HANDSHAKE_HEADER_LENGTH]))
        renegotiation = (
            HandshakeType.hello_request if self.is_client else HandshakeType.client_hello
        )
        if record.epoch > 0 and header.msg_type == renegotiation:
            # Renegotiation is never done (SPEC H5): refuse it with a warning.
            self._send_alert(AlertLevel.warning, AlertDescription.no_renegotiation)
            return
        if header.message_seq < self._peer_flight_start and header.msg_type != renegotiation:
            # The peer did not get our final flight and repeats its own (SPEC T4); the client
            # simply ignores a repeated final flight from the server.
            if self._flight.state == FlightState.FINISHED:
                self._flight.on_peer_repeat(self._now)
            return
        self._drop(Drop(DropReason.HANDSHAKE_AFTER_COMPLETION), record)

    # -- the end of the handshake ---------------------------------------------------------

    def _complete_handshake(self) -> None:
        self.state = _ESTABLISHED
        self._handshake_deadline = None
        if isinstance(self._handshake, ServerHandshake):
            self._session_id = self._handshake.cached_session_id  # for _forget_session
        self._handshake.release()
        self._wrong_key.copies = None
        self._free_reassembler()
        self._records.discard_early()
        if self._flight.final:
            # We sent the last flight: keep it to answer a peer that did not get it (T4).
            self._linger_deadline = self._now + FINAL_FLIGHT_LINGER
        else:
            self._flight.forget()
        result = self._handshake.result
        assert result.suite is not None
        self._announce_completion(
            result, "DTLSv1.2", _SUITE_NAMES[result.suite.suite], result.extended_master_secret
        )

    def _forget_session(self) -> None:
        """A fatal alert ends the connection: its DTLS 1.2 session may not be resumed (RFC
        5246 §7.2.2, "MUST NOT be resumed"). A server drops it from its session cache (a
        ticket, held by the client, cannot be recalled); a client's :attr:`session` becomes
        None. DTLS 1.3 has no such rule (RFC 8446 §6.2) and keeps its tickets."""
        if self._v13 is not None:
            return
        if self.is_client:
            self._handshake.result.session = None
            return
        store = self.configuration.session_store
        session_id = self._session_id
        handshake = self._handshake
        if not session_id and isinstance(handshake, ServerHandshake):
            session_id = handshake.cached_session_id  # a handshake that failed (a resumption)
        if store is not None and session_id:
            store.forget(session_id)

    def _free_reassembler(self) -> None:
        """The handshake is over: give back what reassembly buffered, and drop it."""
        if self._reassembler is not None:
            self._reassembler.clear()
            self._reassembler = None

    def _timeout_reason(self) -> str:
        count = self._flight.retransmissions
        reason = f"handshake timed out after {count} retransmission{'' if count == 1 else 's'}"
        return reason + self._wrong_key.timeout_hint(
            is_client=self.is_client,
            entries=self._flight.entries,
            suite=self._handshake.result.suite,
        )
