"""The DTLS 1.3 phase of a :class:`~aiodtls.connection.DtlsConnection` (RFC 9147).

Owns what a connection does differently once it speaks DTLS 1.3, as
:class:`Dtls13HandshakePhase`, a mixin ``DtlsConnection`` inherits beside the DTLS 1.2 phase:
the choice of DTLS 1.3 (a client that allows only it; a server whose admitted ClientHello
offers it), the record path (unified headers, record number encryption and per-epoch keys
are ``record.layer13``'s), the ACKs (which of the peer's records to acknowledge and when is
``reliability.ack13``'s; which of ours the peer acknowledged, ``reliability.flight``'s in ACK
mode), the sink callbacks of ``handshake.client13`` / ``server13``, post-handshake messages
(NewSessionTicket, KeyUpdate: one at a time, each until acknowledged) and the completion of a
DTLS 1.3 handshake.

A DTLS 1.3 connection keeps its own state in one attribute, ``_v13`` (a :class:`Dtls13State`;
None while the connection speaks DTLS 1.2). Everything both versions share stays the
connection's and is used as is: events, alerts, stats, the handshake and idle deadlines, the
flight sender and reassembly (``_receive_fragments`` hands whole messages to
:meth:`Dtls13HandshakePhase._deliver_messages13`). Like the DTLS 1.2 phase, this mixin
declares what it uses of the connection and adds no attribute (docs/design.md,
"seam-connection").
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .alerts import (
    Alert,
    AlertBadRecordMac,
    AlertDecodeError,
    AlertDescription,
    AlertInternalError,
    AlertLevel,
    AlertProtocolVersion,
)
from .budget import BufferBudget
from .buffer import BufferReadError
from .configuration import DtlsConfiguration
from .connection_state import CLOSED as _CLOSED
from .connection_state import ESTABLISHED as _ESTABLISHED
from .connection_state import HANDSHAKING as _HANDSHAKING
from .connection_state import ConnectionSlots, ConnectionState, ConnectionStats, NetworkAddress
from .drops import Drop, DropReason
from .events import DtlsEvent
from .handshake.client import ClientHandshake
from .handshake.client13 import ClientHandshake13, is_session13, selects_dtls13
from .handshake.cookie import Admit
from .handshake.hello_retry import HelloRetryExchange
from .handshake.messages import HandshakeType, decode_ack, encode_ack
from .handshake.messages.tls13 import HELLO_RETRY_REQUEST_RANDOM
from .handshake.server import ServerHandshake
from .handshake.server13 import ServerHandshake13, client_offers_dtls13
from .handshake.state import HandshakeResult
from .migration import AddressBudget
from .record.layer import OpenedRecord, RecordLayer
from .record.layer13 import Opened13, RecordLayer13
from .record.protection13 import RecordProtection13
from .reliability.ack13 import AckTracker, ack_capacity, ack_epoch, check_ack_epochs
from .reliability.flight import FlightEntry, FlightSender, FlightState
from .reliability.fragments import HandshakeHeader
from .reliability.reassembly import HandshakeMessage, Reassembler
from .suites import ProtocolVersion
from .trace import Tracer

__all__ = ["Dtls13HandshakePhase", "Dtls13State", "starts_in_dtls13"]

_HANDSHAKE = 22
_ALERT = 21
_APPLICATION_DATA = 23
_ACK = 26  # RFC 9147 §7
_FINISHED = HandshakeType.finished
_SERVER_HELLO = HandshakeType.server_hello
_HELLO_VERIFY_REQUEST = HandshakeType.hello_verify_request
_FIRST_HANDSHAKE_EPOCH = 2
_DTLS13 = ProtocolVersion.DTLSv1_3
_FIRST_APPLICATION_EPOCH = 3
_IDLE = FlightState.IDLE
_SENDING = FlightState.SENDING
_UNIFIED_WITH_CID = 0x30  # the high nibble of a unified header's first byte with the C bit


_RELEASED_RECORDS = RecordLayer()
"""The DTLS 1.2 record layer of every DTLS 1.3 connection once its handshake completed: one
shared, empty layer that holds nothing (``_release_dtls12_state``)."""
_RELEASED_RECORDS.discard_early()
_RELEASED_SERVER_HANDSHAKE = ServerHandshake.__new__(ServerHandshake)
"""The DTLS 1.2 handshake of every DTLS 1.3 server connection once its handshake completed:
an instance that never ran ``__init__``, so holds nothing (``_release_dtls12_state``)."""


def starts_in_dtls13(configuration: DtlsConfiguration) -> bool:
    """True for a client whose ClientHello is DTLS 1.3's: one that allows DTLS 1.3, unless it
    resumes a DTLS 1.2 session (then it offers DTLS 1.2 alone, as that session was) or uses
    raw public keys (RFC 7250, which our DTLS 1.3 handshake does not negotiate). One that
    allows both offers both and falls back to DTLS 1.2 if the server answers in it."""
    if not configuration.is_client or not configuration.allows(ProtocolVersion.DTLSv1_3):
        return False
    if not configuration.allows(ProtocolVersion.DTLSv1_2):
        return True
    session = configuration.session
    uses_raw_keys = configuration.raw_public_key or bool(configuration.peer_public_keys)
    return (session is None or is_session13(session)) and not uses_raw_keys


def admits_dtls13(configuration: DtlsConfiguration, admitted: Admit) -> bool:
    """True if a server answers the ClientHello its door admitted in DTLS 1.3: the client
    offers it and the configuration allows it."""
    # ``in versions``, not allows(): one call fewer on every server handshake.
    return _DTLS13 in configuration.versions and client_offers_dtls13(admitted.hello)


@dataclass(slots=True)
class Dtls13State:
    """What a DTLS 1.3 connection has on top of the state both versions share."""

    records: RecordLayer13
    handshake: ClientHandshake13 | ServerHandshake13
    acks: AckTracker
    queued: list[list[FlightEntry]] | None = None
    """Post-handshake messages waiting for the flight in progress to be acknowledged (V14);
    None while there are none (an empty list would cost each connection 56 B)."""
    released: list[bytes] | None = None
    """Records the record layer held for keys that are now installed, opened once the record
    being processed is done (never from inside the handshake that installed the keys); None
    while there are none."""
    cid_issuer: Callable[[int], list[bytes]] | None = None
    """Where fresh CIDs of ours come from (a server endpoint's, unique among its connections
    and routed to this one); None: random ones, unique in this connection."""
    newest: tuple[int, int] = (0, -1)
    """The record number (epoch, sequence number) of the newest protected record accepted:
    only a newer one may move the peer's address (RFC 9146 §6, RFC 9147 §9, SPEC I5)."""
    next_message_seq: int = 0
    """After the handshake, while the connection holds no reassembler (none buffers anything
    between post-handshake messages): the peer's next message_seq, where the one made for
    the next handshake record starts."""
    budget: BufferBudget | None = None
    "The endpoint-wide cap that reassembler draws on (the one the connection was given)."


class Dtls13HandshakePhase(ConnectionSlots):
    """The DTLS 1.3 part of ``DtlsConnection`` (a mixin: no state of its own)."""

    __slots__ = ()

    # What the phase uses of the connection, which sets them all in __init__.
    configuration: DtlsConfiguration
    is_client: bool
    state: ConnectionState
    stats: ConnectionStats
    _trace: Tracer
    _reassembler: Reassembler | None
    _records: RecordLayer
    _handshake: ClientHandshake | ServerHandshake
    _flight: FlightSender
    _v13: Dtls13State | None
    _events: list[DtlsEvent]
    _datagrams: list[bytes]
    _peer_address: NetworkAddress | None
    _address_budget: AddressBudget | None
    _peer_flight_start: int
    _early_application: list[bytes] | None
    _now: float
    _last_heard: float
    _handshake_deadline: float | None
    _started_at: float | None

    if TYPE_CHECKING:  # methods of the connection (declared only: the class has no stubs)

        def _drop(self, drop: Drop, record: OpenedRecord | None = None) -> None: ...
        def _fail(self, alert: Alert) -> None: ...
        def _send_alert(self, level: AlertLevel, description: AlertDescription) -> None: ...
        def _receive_alert(self, record: OpenedRecord) -> None: ...
        def _receive_application_data(self, record: OpenedRecord) -> None: ...
        def _receive_fragments(self, record: OpenedRecord) -> None: ...
        def _repeat_fatal_alert(self, addr: NetworkAddress) -> None: ...
        def _free_early_application(self) -> None: ...
        def _deliver_messages(self, message: HandshakeMessage | None) -> None: ...
        def _credit_address(
            self, addr: NetworkAddress, size: int, accepted_before: int
        ) -> None: ...
        def _announce_completion(
            self, result: HandshakeResult, version: str, suite: str, ems: bool
        ) -> None: ...
        def _move_peer(self, addr: NetworkAddress) -> None: ...
        def _send_flight(
            self, entries: list[FlightEntry], *, final: bool, flight_number: int
        ) -> None: ...

    # -- becoming DTLS 1.3 ------------------------------------------------------------------

    def _new_flight_sender13(self) -> FlightSender:
        """The flight sender of a DTLS 1.3 connection: ACK mode, the same timer, and what
        the old one knew of the peer (a server's cookie came back: its back-offs are capped
        as after an answer, as in DTLS 1.2)."""
        old = self._flight
        sender = FlightSender(
            timer=old.timer,
            mtu=old.mtu,
            tracer=self._trace,
            record_times=self.is_client,  # a HelloRetryRequest echoes a ClientHello's number
            acks=True,
        )
        if old.peer_alive:
            sender.mark_peer_alive()
        return sender

    def _start_dtls13(self, handshake: ClientHandshake13 | ServerHandshake13) -> Dtls13State:
        """Speak DTLS 1.3 from now on, with ``handshake``."""
        self._flight = self._new_flight_sender13()
        v13 = self._v13 = Dtls13State(
            RecordLayer13(replay_protection=self.configuration.replay_protection),
            handshake,
            AckTracker(self._flight.timer),
            budget=self._records.budget,
        )
        return v13

    def _start_server13(self, admitted: Admit, message: HandshakeMessage) -> None:
        """A server's admitted ClientHello offers DTLS 1.3 and we allow it: answer in 1.3.
        Its cookie (if the door sent a HelloRetryRequest) tells how the transcript starts."""
        v13 = self._start_dtls13(ServerHandshake13(self.configuration, self, self._trace))
        # The CID a server endpoint chose (unique among its connections, what it routes by)
        # was given to the DTLS 1.2 handshake the connection was created with.
        v13.handshake.result.connection_ids = self._handshake.result.connection_ids
        # The HelloRetryRequest reused the ClientHello's record number (as a HVR does, SPEC
        # C3): continue after it so the client's epoch-0 replay check never sees one twice.
        v13.records.skip_write_sequence_numbers(0, message.record_sequence_number + 1)
        handshake = v13.handshake
        assert isinstance(handshake, ServerHandshake13)
        handshake.start(
            admitted.hello,
            message,
            self._now,
            cookie_state=HelloRetryExchange.cookie_state(admitted.hello),
        )

    def _fall_back_to_dtls12(self, v13: Dtls13State) -> None:
        """A client that offered both versions got a DTLS 1.2 answer (a HelloVerifyRequest,
        or a ServerHello without supported_versions): the DTLS 1.2 handshake takes over from
        the ClientHello we sent, and the connection speaks DTLS 1.2 from here on."""
        handshake = v13.handshake
        assert isinstance(handshake, ClientHandshake13)
        hello = handshake.sent_hello
        assert hello is not None
        legacy = self._handshake
        assert isinstance(legacy, ClientHandshake)
        self._v13 = None
        old = self._flight
        self._flight = FlightSender(
            timer=old.timer, mtu=old.mtu, tracer=self._trace, record_times=True
        )
        self._records.skip_write_sequence_numbers(0, v13.records.next_sequence_number(0))
        legacy.adopt(hello, offered_dtls13=True)
        if old.entries and not old.final:
            # The ServerHello that made us fall back counted as DTLS 1.3's implicit ACK of
            # the ClientHello (RFC 9147 §7.2); in DTLS 1.2 only the server's whole flight
            # answers it: until then the ClientHello is resent on timeout. (A
            # HelloVerifyRequest starts the next flight at once, replacing this one.)
            self._flight.take_over_answered(old.entries, old.flight_number, self._now)
        handshake.detach()
        if self._trace.enabled:
            self._trace("version_fallback", version="DTLSv1.2")

    def _hello_verify_request12(self, message: HandshakeMessage) -> None:
        """A HelloVerifyRequest that made us fall back: the DTLS 1.2 client takes it."""
        legacy = self._handshake
        assert isinstance(legacy, ClientHandshake)
        body = message.body
        header = HandshakeHeader(message.msg_type, len(body), message.message_seq, 0, len(body))
        dropped = legacy.receive_hello_verify_request(
            header, body, message.record_sequence_number, self._now
        )
        if dropped is not None:
            self._drop(dropped)

    def _answers_in_dtls12(self, message: HandshakeMessage, v13: Dtls13State) -> bool:
        """True if ``message`` is the DTLS 1.2 answer of a server to a client that offered
        both versions: a HelloVerifyRequest, or a ServerHello that does not select 1.3."""
        handshake = v13.handshake
        if not isinstance(handshake, ClientHandshake13) or not handshake.awaits_server_hello:
            return False
        if message.msg_type == _HELLO_VERIFY_REQUEST:
            return True
        return message.msg_type == _SERVER_HELLO and not selects_dtls13(message.body)

    # -- the sink of the DTLS 1.3 handshake (Handshake13Sink) ---------------------------------

    def _install_read_keys13(self, epoch: int, protection: RecordProtection13) -> None:
        """Called by the handshake: accept records of ``epoch``, and open those held for it."""
        v13 = self._v13
        assert v13 is not None
        ready = v13.records.install_read(epoch, protection)
        if ready:
            if v13.released is None:
                v13.released = ready
            else:
                v13.released.extend(ready)

    def _install_write_keys13(self, epoch: int, protection: RecordProtection13) -> None:
        """Called by the handshake: new records go out in ``epoch``."""
        v13 = self._v13
        assert v13 is not None
        v13.records.install_write(epoch, protection)

    def _send_post_handshake(self, entries: list[FlightEntry]) -> None:
        """Called by the handshake after completion (NewSessionTicket, KeyUpdate): sent like a
        flight and retransmitted until acknowledged, one at a time (RFC 9147 §5.8.4, V14):
        while a flight of ours is unacknowledged the messages wait in ``queued``. A server's
        handshake flight counts as acknowledged once the client's Finished arrived."""
        v13 = self._v13
        assert v13 is not None
        flight = self._flight
        answered = flight.acknowledged or (
            not self.is_client and any(e.msg_type == _FINISHED for e in flight.entries)
        )
        if flight.state is not _IDLE and flight.entries and not answered:
            if v13.queued is None:
                v13.queued = [entries]
            else:
                v13.queued.append(entries)
            return
        # final: acknowledged explicitly only, never by what the peer sends next (§7.2).
        flight.start(entries, final=True, flight_number=flight.flight_number + 1)

    def _issue_connection_ids13(self, count: int) -> list[bytes]:
        """Called by the handshake answering a RequestConnectionId: up to ``count`` fresh CIDs
        of ours, accepted from now on (RFC 9147 §9)."""
        v13 = self._v13
        assert v13 is not None
        records = v13.records
        if v13.cid_issuer is not None:
            cids = v13.cid_issuer(count)
        else:
            cids = []
            length = len(records.receive_cid)
            for _ in range(64 * count):
                if len(cids) == count:
                    break
                cid = os.urandom(length)
                if not records.accepts_cid(cid) and cid not in cids:
                    cids.append(cid)
        records.accept_cids(cids)
        return cids

    def _use_send_connection_id13(self, cid: bytes) -> None:
        """Called by the handshake: the peer's NewConnectionId (cid_immediate), or the
        application taking a spare: records we send carry ``cid`` from now on."""
        v13 = self._v13
        assert v13 is not None
        v13.records.use_send_cid(cid)
        if self._trace.enabled:
            self._trace("send_connection_id_changed", length=len(cid))

    # -- connection IDs: the application's and the endpoint's (RFC 9147 §9) ------------------

    def request_connection_ids(self, count: int = 1) -> bool:
        """DTLS 1.3: ask the peer for ``count`` spare connection IDs with a
        RequestConnectionId (RFC 9147 §9); they arrive in a NewConnectionId
        (:attr:`spare_peer_connection_ids`). False, and nothing sent, while an earlier
        request is unfulfilled. ``RuntimeError`` on a DTLS 1.2 connection, before the
        handshake completed, or when the CID we send is empty or not negotiated."""
        v13 = self._v13
        if v13 is None:
            raise RuntimeError("RequestConnectionId is DTLS 1.3's: this connection speaks DTLS 1.2")
        if self.state is not _ESTABLISHED:
            raise RuntimeError(f"cannot request connection IDs while {self.state.value}")
        return v13.handshake.request_connection_ids(count)

    def use_spare_connection_id(self) -> bool:
        """DTLS 1.3: send the peer's next spare connection ID from now on (RFC 9147 §9: a new
        CID for a new path, e.g. after the application changed network); False if the peer
        gave none (or none is left)."""
        v13 = self._v13
        if v13 is None or self.state is not _ESTABLISHED:
            return False
        return v13.handshake.use_spare_connection_id()

    @property
    def spare_peer_connection_ids(self) -> list[bytes]:
        """DTLS 1.3: the spare connection IDs the peer gave (NewConnectionId), in order."""
        v13 = self._v13
        return [] if v13 is None else list(v13.handshake.spare_peer_connection_ids)

    def _issue_connection_ids_from(self, issuer: Callable[[int], list[bytes]]) -> None:
        """A server endpoint's: fresh CIDs of this connection come from ``issuer`` (unique
        among the endpoint's connections, and routed here). Nothing for DTLS 1.2."""
        if self._v13 is not None:
            self._v13.cid_issuer = issuer

    # -- receiving ------------------------------------------------------------------------------

    def _receive_datagram13(self, data: bytes, addr: NetworkAddress, now: float) -> None:
        """One datagram of a DTLS 1.3 connection: each of its records, in order."""
        self._now = self._trace.now = now
        if self.state is _CLOSED:
            self._repeat_fatal_alert(addr)
            return
        self.stats.datagrams_received += 1
        v13 = self._v13
        assert v13 is not None
        records = v13.records
        moving = addr != self._peer_address
        if moving:
            # Only a peer that carries our (non-empty) CID may be at another address, and
            # only after the handshake (RFC 9147 §9, SPEC I3, I5).
            if not records.receive_cid or self.state is not _ESTABLISHED:
                self._drop(Drop(DropReason.OTHER_ADDRESS))
                return
            if not data or data[0] & 0xF0 != _UNIFIED_WITH_CID:
                self._drop(Drop(DropReason.OTHER_ADDRESS_WITHOUT_CID))
                return
        accepted = self.stats.records_accepted
        try:
            for item in records.open_datagram(data):
                if (
                    moving
                    and type(item) is Opened13
                    and item.epoch
                    and (item.epoch, item.sequence_number) > v13.newest
                ):
                    # Authenticated (it opened), not a replay (the window passed it), carries
                    # our CID (the record layer requires it) and newer than any before: the
                    # peer is there now. What we send there stays bounded (migration).
                    moving = False
                    self._move_peer(addr)
                self._receive_opened13(item, v13)
                while v13.released and self.state is not _CLOSED:
                    held_record = v13.released.pop(0)
                    if not v13.released:
                        v13.released = None
                    for held in records.open_held(held_record):
                        self._receive_opened13(held, v13)
                if self.state is _CLOSED:
                    return  # after a fatal alert nothing else goes out, no ACK either
            if v13.acks.ack_due(now):
                self._send_ack(v13)
            if self.state is _ESTABLISHED:
                self._check_aead_limits(v13)
        except Alert as alert:
            self._fail(alert)
        except Exception as exc:
            # Network input must never raise into the application: a bug of ours ends this
            # connection with internal_error instead (SequenceNumberExhausted included).
            self._fail(_internal_error(exc))
        if self._address_budget is not None:
            self._credit_address(addr, len(data), accepted)

    def _receive_opened13(self, item: Opened13 | Drop, v13: Dtls13State) -> None:
        """One record the record layer opened (or refused), dispatched by content type."""
        stats = self.stats
        stats.records_received += 1
        if type(item) is Drop:
            self._drop(item)
            return
        assert type(item) is Opened13
        stats.records_accepted += 1
        if item.epoch:
            number = (item.epoch, item.sequence_number)
            if number > v13.newest:
                v13.newest = number
        self._last_heard = self._now
        record = OpenedRecord(item.content_type, item.epoch, item.sequence_number, item.payload)
        content_type = record.content_type
        if content_type == _APPLICATION_DATA:
            if 0 < record.epoch < _FIRST_APPLICATION_EPOCH:
                # Under the handshake keys (RFC 9147 §6.1: application data goes in epoch 3 or
                # later); epoch 0 is the DTLS 1.2 rule's drop below.
                self._drop(
                    Drop(DropReason.APPLICATION_DATA_UNDER_HANDSHAKE_KEYS, (record.epoch,)), record
                )
                return
            self._receive_application_data(record)
        elif content_type == _HANDSHAKE:
            self._receive_handshake13(record, v13)
        elif content_type == _ACK:
            self._receive_ack(record, v13)
        elif content_type == _ALERT:
            self._receive_alert(record)
        else:  # DTLS 1.3 has no ChangeCipherSpec (RFC 9147 §5: no compatibility mode)
            self._drop(Drop(DropReason.CHANGE_CIPHER_SPEC_IN_DTLS13), record)

    def _receive_ack(self, record: OpenedRecord, v13: Dtls13State) -> None:
        """The peer acknowledged records of ours (RFC 9147 §7.2). Plaintext ACKs are dropped:
        anyone could forge one to stop our retransmissions (SPEC X28)."""
        if record.epoch == 0:
            self._drop(Drop(DropReason.PLAINTEXT_ACK), record)
            return
        try:
            numbers = decode_ack(record.payload)
        except BufferReadError as exc:
            raise AlertDecodeError(f"malformed ACK: {exc}") from None
        check_ack_epochs(numbers, record.epoch)  # V17: illegal_parameter
        if self._trace.enabled:
            self._trace("ack_received", records=[list(n) for n in numbers])
        flight = self._flight
        if not flight.on_ack(numbers, self._now):
            return
        # The flight is acknowledged: if it carried our KeyUpdate, its new keys may now be
        # used (RFC 9147 §8) -- not on the ACK of an earlier flight while the KeyUpdate
        # waited in ``queued`` --, and the next post-handshake message may go.
        v13.handshake.on_key_update_acked(flight.entries)
        v13.handshake.on_post_handshake_acked(flight.entries)
        if v13.queued:
            entries = v13.queued.pop(0)
            if not v13.queued:
                v13.queued = None
            self._send_post_handshake(entries)

    def _receive_handshake13(self, record: OpenedRecord, v13: Dtls13State) -> None:
        """A handshake record: its fragments go through reassembly (``_receive_fragments``,
        shared with DTLS 1.2, which hands whole messages on to :meth:`_deliver_messages13`);
        its record number goes to the ACK tracker."""
        if record.epoch == 0 and self.is_client and _carries_hello_retry_request(record.payload):
            # Like a HelloVerifyRequest, a stateless HelloRetryRequest goes out on the record
            # number of the ClientHello it answers: an exact round trip sample even after
            # retransmissions (a number we did not send is ignored). Before reassembly, which
            # counts it as an answer of unknown age.
            self._flight.on_record_answered(0, record.sequence_number, self._now)
        payload = record.payload
        if len(payload) < 6 or int.from_bytes(payload[4:6], "big") >= self._peer_flight_start:
            # Not a repeat of the peer's flight before the one ours answered (RFC 9147 §7:
            # an ACK covers the current flight; our flight acknowledged that one implicitly).
            v13.acks.on_record(record.epoch, record.sequence_number, self._now)
        if self.state is _ESTABLISHED:
            self._reassembler13(v13)
        self._receive_fragments(record)

    def _deliver_messages13(self, message: HandshakeMessage | None, v13: Dtls13State) -> None:
        """Hand ``message`` (if any), then each message reassembly completed in order, to the
        DTLS 1.3 handshake: during the handshake and after it (post-handshake messages)."""
        while self.state is not _CLOSED:
            if message is None:
                reassembler = self._reassembler
                message = None if reassembler is None else reassembler.pop_message()
                if message is None:
                    break
            if self._answers_in_dtls12(message, v13):
                if not self.configuration.allows(ProtocolVersion.DTLSv1_2):
                    if message.msg_type == _HELLO_VERIFY_REQUEST:
                        raise AlertProtocolVersion(
                            "the server answered in DTLS 1.2, which this client does not allow"
                        )
                    # A DTLS 1.2 ServerHello: the DTLS 1.3 handshake refuses it, checking the
                    # downgrade sentinel first (RFC 8446 §4.1.3).
                    v13.handshake.handle(message, self._now)
                    return
                self._fall_back_to_dtls12(v13)
                if message.msg_type == _HELLO_VERIFY_REQUEST:
                    self._hello_verify_request12(message)
                else:
                    self._deliver_messages(message)  # to the DTLS 1.2 handshake now
                return
            handshake = v13.handshake
            handshake.handle(message, self._now)
            message = None
            if handshake.complete and self.state is _HANDSHAKING:
                self._complete_handshake13(v13)

    def _send_ack(self, v13: Dtls13State) -> None:
        """Acknowledge what the tracker holds, in one ACK record (RFC 9147 §7). None before
        the handshake keys exist: until then the peer may not be known to speak DTLS 1.3
        (rfc9147bis §7), and its flight's answer is ours.

        If a flight of ours is due too (our KeyUpdate answering the peer's, a NewSessionTicket
        as the client's Finished is acknowledged, a post-handshake message the peer's ACK let
        go), both leave now in one go: the ACK ends the flight's last datagram if it fits
        there (``FlightSender.datagrams``' trailer), instead of a datagram of its own that
        could arrive first -- wolfSSL resends its KeyUpdate on an ACK that leaves it out."""
        records = v13.records
        # After the handshake the highest available sending epoch (§7): our current one, also
        # while our KeyUpdate waits for its ACK (§8: no record under its keys until then).
        epoch = ack_epoch(records.write_epoch)
        if epoch < _FIRST_HANDSHAKE_EPOCH:
            v13.acks.deadline = None
            return
        flight = self._flight
        room = flight.mtu - records.overhead(epoch)
        numbers = v13.acks.take_ack(max_records=ack_capacity(room), max_epoch=epoch, now=self._now)
        ack = encode_ack(numbers)
        if flight.state is _SENDING:
            self._datagrams.extend(flight.datagrams(records, self._now, trailer=(epoch, _ACK, ack)))
        else:
            self._datagrams.append(records.seal(_ACK, ack, epoch, ends_datagram=True))
        if self._trace.enabled:
            self._trace("ack_sent", epoch=epoch, records=[list(n) for n in numbers])

    def _check_aead_limits(self, v13: Dtls13State) -> None:
        """RFC 9147 §4.5.3 (SPEC V7): a key near its limit (records sealed, or forgeries it
        rejected) is replaced by a KeyUpdate asking the peer to update too; a read key whose
        forgeries passed its integrity limit before that ends the connection."""
        records = v13.records
        if records.integrity_limit_exceeded:
            raise AlertBadRecordMac(
                "too many records failed authentication under one key (RFC 9147 §4.5.3)"
            )
        if records.needs_key_update:
            v13.handshake.request_key_update()  # does nothing while one is unacknowledged

    # -- timers -----------------------------------------------------------------------------

    def _on_timer13(self, v13: Dtls13State, now: float) -> None:
        """A delayed ACK whose time came."""
        if self.state is not _CLOSED and v13.acks.ack_due(now):
            try:
                self._send_ack(v13)
            except Exception as exc:  # the epoch's sequence numbers ran out (X27)
                self._fail(_internal_error(exc))

    # -- the end of the handshake -------------------------------------------------------------

    def _complete_handshake13(self, v13: Dtls13State) -> None:
        """The DTLS 1.3 handshake completed. Unlike DTLS 1.2 nothing lingers: a client's
        Finished flight is retransmitted until the server acknowledges it (RFC 9147 §5.8.1),
        the server acknowledges it (and each copy of it), and reassembly stays for
        post-handshake messages."""
        self.state = _ESTABLISHED
        self._handshake_deadline = None
        handshake = v13.handshake
        handshake.release()
        # Plaintext is over (a replayed ClientHello is dropped and counted, never ACKed), and
        # so is holding records for keys to come: unknown epoch bits are dropped from now on.
        v13.records.discard_read(0)
        v13.records.discard_held()
        # The handshake's read epoch stays for a repeated final flight (its ACK lost), which
        # rarely comes: its keys rest meanwhile.
        v13.records.rest_read(_FIRST_HANDSHAKE_EPOCH)
        if v13.records.receive_cid:
            # Our CID is not empty: the peer may now come from another address (RFC 9147
            # §9); until it is proven there, what we send it is bounded (aiodtls.migration).
            self._address_budget = AddressBudget(self._peer_address)
        if self.is_client:
            # No flight of ours goes out in epoch 0 again (the last one is in epoch 2).
            v13.records.discard_write(0)
        else:
            v13.acks.flight_complete(self._now, acknowledge=True)
            if any(e.msg_type == _FINISHED for e in self._flight.entries):
                self._flight.forget()  # the client's Finished answered our flight
                # Nothing goes out in epochs 0 and 2 again: the handshake flight is answered,
                # and ACKs and post-handshake messages go in epoch 3 (RFC 9147 §7). Read epoch
                # 2 stays: the client's Finished may come again (its ACK lost) and is ACKed.
                v13.records.discard_write(0)
                v13.records.discard_write(_FIRST_HANDSHAKE_EPOCH)
        v13.acks.handshake_complete()
        result = handshake.result
        suite = result.suite13
        assert suite is not None
        # The TLS 1.3 key schedule binds the transcript: what extended master secret is for.
        self._announce_completion(result, "DTLSv1.3", suite.name, True)
        self._release_dtls12_state()
        self._rest_reassembler(v13)

    def _release_dtls12_state(self) -> None:
        """The DTLS 1.3 handshake completed: what the connection made for DTLS 1.2 before the
        version was known (its handshake, its record layer) serves no more -- a DTLS 1.3
        connection never goes back, and everything that reads them checks ``_v13`` first --
        and is let go like a DTLS 1.2 handshake's state at its completion (docs/scaling.md).
        A server's handshake becomes a shared ``ServerHandshake`` that holds no state (only
        its class is looked at: a client's is asked whether it expects a ServerHello, when a
        HelloVerifyRequest comes, so a client keeps its own, released); the record layer
        becomes the shared empty one (its later uses: ``budget``, None once early
        application data was delivered, and ``discard_early``, nothing to discard)."""
        self._handshake.release()
        if not self.is_client:
            self._handshake = _RELEASED_SERVER_HANDSHAKE
        self._records.discard_early()  # gives what it held back to the endpoint's budget
        self._records = _RELEASED_RECORDS

    def _rest_reassembler(self, v13: Dtls13State) -> None:
        """Between post-handshake messages (rare: tickets, KeyUpdates, CIDs) an established
        connection holds no reassembler when it buffers nothing: like a DTLS 1.2 connection
        after its handshake. :meth:`_reassembler13` makes one again, at the same place."""
        reassembler = self._reassembler
        if reassembler is not None and not reassembler.buffered_bytes:
            v13.next_message_seq = reassembler.next_seq
            self._reassembler = None

    def _reassembler13(self, v13: Dtls13State) -> Reassembler:
        """The connection's reassembler, made again after :meth:`_rest_reassembler`."""
        reassembler = self._reassembler
        if reassembler is None:
            configuration = self.configuration
            reassembler = self._reassembler = Reassembler(
                max_message_size=configuration.max_handshake_message_size,
                max_buffered_bytes=configuration.max_handshake_buffer,
                budget=v13.budget,
            )
            reassembler.next_seq = v13.next_message_seq
        return reassembler


def _carries_hello_retry_request(payload: bytes) -> bool:
    """Does this handshake record start with the first fragment of a ServerHello whose random
    is the HelloRetryRequest one (RFC 8446 §4.1.3)? (12-byte fragment header, then
    legacy_version(2), random(32).)"""
    return (
        len(payload) >= 46
        and payload[0] == _SERVER_HELLO
        and payload[6:9] == b"\x00\x00\x00"
        and payload[14:46] == HELLO_RETRY_REQUEST_RANDOM
    )


def _internal_error(exc: Exception) -> Alert:
    """The alert a bug of ours (or an epoch out of sequence numbers) ends the connection
    with: network input never raises into the application."""
    return AlertInternalError(f"internal error: {exc!r}")
