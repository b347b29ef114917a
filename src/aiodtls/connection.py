"""The sans-I/O DTLS connection: the one object an I/O driver talks to.

``DtlsConnection`` never reads a clock, sleeps or touches a socket. Time comes in as ``now``
and datagrams as bytes; what it wants done goes out through three pulls:
:meth:`~DtlsConnection.datagrams_to_send`, :meth:`~DtlsConnection.get_timer` and
:meth:`~DtlsConnection.next_event`.

It owns the glue between the layers: records are opened by the ``record`` layer and
dispatched by content type, application data and alerts are taken here, and the timers,
the address the peer may move to and the end of the connection are kept here. It is also
the single place where an :class:`~aiodtls.alerts.Alert` raised anywhere below becomes an
alert record and a ``ConnectionTerminated`` event, and where invalid input is dropped,
counted and traced.

Handshake records are the handshake phase's (:mod:`aiodtls.handshake_phase`, a mixin
``DtlsConnection`` inherits): fragments go to ``reliability.reassembly``, a server's
ClientHellos through the cookie door (``handshake.cookie``), whole messages to the
``handshake`` state machine, and flights back out through ``reliability.flight``. Telling a
wrong key from forged records is :mod:`aiodtls.wrong_key`'s. ``ConnectionState`` and
``NetworkAddress`` live in :mod:`aiodtls.connection_state` and are re-exported here.
"""

from __future__ import annotations

import contextlib
import random
import ssl

from .alerts import (
    Alert,
    AlertDescription,
    AlertInternalError,
    AlertLevel,
    AlertUnexpectedMessage,
    alert_name,
    alert_reason,
)
from .budget import BufferBudget
from .configuration import DtlsConfiguration
from .connection_state import CLOSED as _CLOSED
from .connection_state import ESTABLISHED as _ESTABLISHED
from .connection_state import HANDSHAKING as _HANDSHAKING
from .connection_state import ConnectionState, ConnectionStats, NetworkAddress
from .drops import AUTHENTICATION_FAILURES, Drop, DropReason
from .errors import unreachable_reason
from .events import ConnectionTerminated, DataReceived, DtlsEvent, HandshakeCompleted
from .handshake.client import ClientHandshake
from .handshake.client13 import ClientHandshake13
from .handshake.cookie import Admit, CookieDoor, CookieSecrets
from .handshake.hello_retry import cookie_exchange_for
from .handshake.server import ServerHandshake
from .handshake.state import HandshakeResult
from .handshake_phase import FINAL_FLIGHT_LINGER as FINAL_FLIGHT_LINGER
from .handshake_phase import Dtls12HandshakePhase
from .handshake_phase13 import Dtls13HandshakePhase, Dtls13State, starts_in_dtls13
from .migration import AddressBudget
from .negotiated import NegotiatedProperties
from .record.cid import TLS12_CID
from .record.header import ContentType, RawRecord, split_datagram
from .record.layer import OpenedRecord, RecordLayer, SequenceNumberExhausted
from .reliability.flight import FlightSender, FlightState
from .reliability.reassembly import Reassembler
from .reliability.timer import RetransmissionTimer
from .suites import NamedGroup, ProtocolVersion, suite_info
from .trace import Tracer
from .wrong_key import FINISHED_IGNORED_COPIES as FINISHED_IGNORED_COPIES
from .wrong_key import WrongKeyWatch

__all__ = ["ConnectionState", "ConnectionStats", "DtlsConnection", "NetworkAddress"]

# Application records from the new epoch that arrive before the handshake completes are held
# (SPEC X22) up to this many bytes.
MAX_EARLY_APPLICATION_BYTES = 65536

# After sending a fatal alert, answer the peer's repeats with it again, at most this many
# times and for this long (SPEC T8).
FATAL_ALERT_REPEATS = 4
FATAL_ALERT_LINGER = 30.0

# Warning alerts other than close_notify are ignored, but a peer that floods them is cut off
# (SPEC X19).
MAX_WARNING_ALERTS = 64

# The record path compares content types once or more per record: module-level names, not
# Enum members read each time (why: connection_state.py, where the states' names are).
_HANDSHAKE = ContentType.handshake
_CHANGE_CIPHER_SPEC = ContentType.change_cipher_spec
_ALERT = ContentType.alert
_APPLICATION_DATA = ContentType.application_data
_FLIGHT_SENDING = FlightState.SENDING


class DtlsConnection(NegotiatedProperties, Dtls12HandshakePhase, Dtls13HandshakePhase):
    """One DTLS association, client or server, as a sans-I/O state machine.

    A client calls :meth:`connect`; a server connection is created for one peer address and
    starts when that peer's ClientHello is passed to :meth:`receive_datagram`.
    """

    __slots__ = ()  # the attributes are ConnectionSlots'

    def __init__(
        self,
        *,
        configuration: DtlsConfiguration,
        admitted: Admit | None = None,
        rng: random.Random | None = None,
        buffer_budget: BufferBudget | None = None,
        connection_id: bytes | None = None,
    ) -> None:
        """Create a connection.

        ``admitted`` is the cookie door's verdict on the ClientHello a server endpoint creates
        the connection for (it feeds that datagram next): the connection does not check that
        ClientHello again. ``buffer_budget`` is the endpoint's cap on the handshake bytes all
        its connections buffer; ``connection_id`` is the CID it asks for (unique in the
        endpoint) when ``connection_id_length`` is set. ``rng`` is the source of timer jitter
        only (keys always come from the operating system); pass a seeded one for reproducible
        simulations.
        """
        self.configuration = configuration
        self.is_client = configuration.is_client
        self._trace = Tracer("client" if self.is_client else "server", configuration.trace)
        self.state = _HANDSHAKING
        self.stats = ConnectionStats()
        self._records = RecordLayer(
            replay_protection=configuration.replay_protection,
            max_early_bytes=min(32768, configuration.max_handshake_buffer),
            budget=buffer_budget,
        )
        # None once the handshake is over: what it buffered, and the object, are freed.
        self._reassembler: Reassembler | None = Reassembler(
            max_message_size=configuration.max_handshake_message_size,
            max_buffered_bytes=configuration.max_handshake_buffer,
            budget=buffer_budget,
        )
        self._flight = FlightSender(
            timer=RetransmissionTimer(configuration.retransmission, rng=rng),
            mtu=configuration.mtu,
            tracer=self._trace,
            record_times=self.is_client,  # a HelloVerifyRequest answers the ClientHello's
        )
        self._peer_address: NetworkAddress | None = None
        # Plain lists, not deques: an empty deque costs ~600 bytes and these stay tiny.
        self._events: list[DtlsEvent] = []
        self._datagrams: list[bytes] = []
        # Rarely used: made on first use (a record held for keys, early application data).
        self._held_records: list[RawRecord] | None = None
        self._early_application: list[bytes] | None = None
        self._early_application_bytes = 0
        self._warning_alerts = 0
        self._reassembly_progressed = False
        self._peer_flight_start = 0
        self._last_heard = 0.0
        self._fatal_alert: AlertDescription | None = None
        self._session_id = b""  # a DTLS 1.2 server's cached session (_forget_session)
        self._fatal_alert_repeats = 0
        self._fatal_alert_until: float | None = None
        self._started_at: float | None = None
        self._handshake_deadline: float | None = None
        self._linger_deadline: float | None = None
        self._now = 0.0
        self._wrong_key = WrongKeyWatch()
        self._address_budget: AddressBudget | None = None  # set once CIDs are negotiated
        # Keep this class under 30 attributes: CPython shares the keys of instance dicts only
        # up to 30, and one more costs every connection about 1.6 KiB (docs/scaling.md).
        # (The handshake phase it inherits declares what it uses of these and adds none.)
        self._handshake: ClientHandshake | ServerHandshake
        # A server's front door until a ClientHello is admitted, then None (always None for a
        # client): the cookie door, or the endpoint's verdict on the ClientHello it feeds next.
        self._door: CookieDoor | Admit | None = None
        # The DTLS 1.3 state (handshake_phase13), None while the connection speaks DTLS 1.2.
        self._v13: Dtls13State | None = None
        if self.is_client:
            if (
                configuration.effective_verify_mode() != ssl.CERT_NONE
                and not configuration.peer_fingerprints
                and not configuration.peer_public_keys  # raw keys have no name to check
                and configuration.check_hostname
                and configuration.server_name is None
                and any(
                    suite_info(s).key_exchange.uses_certificate
                    for s in configuration.effective_cipher_suites()
                )
            ):
                raise ValueError(
                    "a client that verifies certificates needs server_name "
                    "(or check_hostname=False, peer_fingerprints, or verify_mode=CERT_NONE)"
                )
            self._handshake = ClientHandshake(configuration, self, self._trace)
            if starts_in_dtls13(configuration):  # its ACK-mode flight sender too
                self._start_dtls13(ClientHandshake13(configuration, self, self._trace))
        else:
            self._handshake = ServerHandshake(configuration, self, self._trace)
            if admitted is not None:
                self._door = admitted
            else:  # without an endpoint: a door of its own
                self._door = CookieDoor(
                    CookieSecrets(configuration.cookie_secret)
                    if configuration.cookie_exchange
                    else None,
                    exchange=cookie_exchange_for(configuration),
                )
        if connection_id is not None:
            self._result.connection_ids = (connection_id, None)

    # -- public API ----------------------------------------------------------------------

    def connect(self, addr: NetworkAddress, now: float) -> None:
        """Client: start the handshake with the server at ``addr``."""
        if not self.is_client:
            raise RuntimeError("connect() is for clients")
        self._set_now(now)
        self._peer_address = addr
        self._start_handshake_clock(now)
        if self._v13 is not None:
            handshake = self._v13.handshake
            assert isinstance(handshake, ClientHandshake13)
            legacy = self._handshake
            assert isinstance(legacy, ClientHandshake)
            both = self.configuration.allows(ProtocolVersion.DTLSv1_2)
            try:
                handshake.start(also_offer=legacy.client_hello() if both else None)
            except Alert as alert:  # psk_client_callback refused or failed: nothing was sent
                self._terminate(alert.description, alert.reason, by_peer=False)
                return
            cids = handshake.result.connection_ids
            if cids is not None:
                # The CID we offered frames the server's records before its keys (and the
                # agreement) arrive: EncryptedExtensions shares a datagram with ServerHello.
                self._v13.records.receive_cid = cids[0]
            return
        assert isinstance(self._handshake, ClientHandshake)
        self._handshake.start()

    def receive_datagram(self, data: bytes, addr: NetworkAddress, now: float) -> None:
        """Process one datagram received from ``addr``."""
        if self._v13 is not None:
            self._receive_datagram13(data, addr, now)
            return
        self._now = self._trace.now = now  # _set_now, without a call per datagram
        if self.state is _ESTABLISHED and addr == self._peer_address and not self._held_records:
            # A datagram of one application-data record, the established connection's usual
            # input, is opened directly; None (anything else, or anything wrong: nothing has
            # changed) leaves it to the general path below, which drops, counts and traces.
            try:
                payload = self._records.open_application_datagram(data)
            except Exception:  # a bug of ours: the general path ends the connection for it
                payload = None
            if type(payload) is Drop:
                # It did not authenticate: dropped silently (RFC 6347 §4.1.2.7) and not
                # opened a second time below, so forged datagrams cost one AEAD call each.
                # A trace wants the record's numbers, which the general path reports
                # (decrypting it again).
                if not self._trace.enabled:
                    self.stats.datagrams_received += 1
                    self.stats.records_received += 1
                    self._drop(payload)
                    return
            elif payload is not None:
                stats = self.stats
                stats.datagrams_received += 1
                stats.records_received += 1
                stats.records_accepted += 1
                self._last_heard = now
                self._events.append(DataReceived(payload))
                if self._address_budget is not None:
                    self._address_budget.on_received(addr, len(data))
                return
        if self.state == _CLOSED:
            self._repeat_fatal_alert(addr)
            return
        self.stats.datagrams_received += 1
        if self._peer_address is None and isinstance(self._handshake, ServerHandshake):
            # A server connection belongs to the address of its first datagram.
            self._peer_address = addr
            self._start_handshake_clock(now)
        moving = addr != self._peer_address
        if moving and (not self._records.receive_cid or self.state != _ESTABLISHED):
            self._drop(Drop(DropReason.OTHER_ADDRESS))
            return
        accepted = self.stats.records_accepted
        try:
            for record in split_datagram(data, len(self._records.receive_cid)):
                if type(record) is Drop:
                    self._drop(record)
                    break
                if moving and record.content_type != TLS12_CID:
                    # From a new address only what carries our CID can be the peer (SPEC I3).
                    self._drop(Drop(DropReason.OTHER_ADDRESS_WITHOUT_CID), record)
                    continue
                if self._receive_record(record) and moving:
                    moving = False
                    self._move_peer(addr)
                while self._held_records and self.state != _CLOSED:
                    self._receive_record(self._held_records.pop(0))
                if self.state == _CLOSED:
                    break
        except Alert as alert:
            self._fail(alert)
        except SequenceNumberExhausted as exc:
            self._fail(AlertInternalError(str(exc)))
        except Exception as exc:
            # Network input must never raise into the application: a bug of ours ends this
            # connection with internal_error instead.
            self._fail(AlertInternalError(f"internal error: {exc!r}"))
        if self._address_budget is not None:
            self._credit_address(addr, len(data), accepted)
        if self._reassembly_progressed:
            self._reassembly_progressed = False
            reassembler = self._reassembler
            # Nothing buffered (whole messages, the usual case): nothing missing to trace.
            if reassembler is not None and reassembler.buffered_bytes and self._trace.enabled:
                self._trace_reassembly(reassembler)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, NetworkAddress]]:
        """Everything that should be sent now, as (datagram, address) pairs."""
        self._now = self._trace.now = now  # _set_now, without a call per datagram
        budget = self._address_budget
        if (
            self.state is _ESTABLISHED
            and self._flight.state is not _FLIGHT_SENDING
            and (budget is None or self._peer_address == budget.proven)
        ):
            # Established with nothing to retransmit and no unproven address to limit: what
            # send() and alerts queued, as it is.
            self.stats.retransmissions = self._flight.retransmissions
            datagrams = self._datagrams
            if not datagrams:
                return []
            self._datagrams = []
            self.stats.datagrams_sent += len(datagrams)
            peer = self._peer_address
            if len(datagrams) == 1:  # the usual case: no list comprehension (a frame in 3.11)
                return [(datagrams[0], peer)]
            return [(d, peer) for d in datagrams]
        if self._flight.state is not _FLIGHT_SENDING and not self._datagrams:
            # Handshaking and waiting for the peer (most calls): nothing is due.
            self.stats.retransmissions = self._flight.retransmissions
            return []
        try:
            v13 = self._v13
            datagrams = self._flight.datagrams(self._records if v13 is None else v13.records, now)
        except SequenceNumberExhausted as exc:
            self._fail(AlertInternalError(str(exc)))
            datagrams = []
        if self._datagrams:
            # Established, the flight has nothing to send: take the list as it is.
            datagrams = datagrams + self._datagrams if datagrams else self._datagrams
            self._datagrams = []
        copies = self._wrong_key.copies
        if copies is not None and datagrams and self.state == _HANDSHAKING:
            copies.append(now)  # a copy of the flight carrying our Finished
        budget = self._address_budget
        if budget is not None and datagrams and self._peer_address != budget.proven:
            allowed = [d for d in datagrams if budget.allow(self._peer_address, len(d))]
            if len(allowed) != len(datagrams):
                self.stats.datagrams_withheld += len(datagrams) - len(allowed)
                self._trace("datagrams_withheld", count=len(datagrams) - len(allowed))
            datagrams = allowed
        self.stats.datagrams_sent += len(datagrams)
        self.stats.retransmissions = self._flight.retransmissions
        peer = self._peer_address
        if len(datagrams) == 1:  # most flights: no list comprehension (a frame in 3.11)
            return [(datagrams[0], peer)]
        return [(d, peer) for d in datagrams]

    def get_timer(self) -> float | None:
        """The absolute time at which :meth:`handle_timer` must be called, or None: the
        earliest of the flight's retransmission, the handshake deadline, the final flight's
        linger and the idle timeout (once closed: the end of the fatal alert's repeats).

        Drivers read it after every datagram, so it builds nothing and calls nothing."""
        state = self.state
        if state is _CLOSED:
            return self._fatal_alert_until
        when = self._flight.deadline
        linger = self._linger_deadline
        if linger is not None and (when is None or linger < when):
            when = linger
        if self._v13 is not None:
            ack = self._v13.acks.deadline  # a delayed ACK
            if ack is not None and (when is None or ack < when):
                when = ack
        if state is _ESTABLISHED:
            # The handshake deadline ended with the handshake; the idle timeout runs instead
            # (_idle_deadline, written out here).
            timeout = self.configuration.idle_timeout
            if timeout is not None:
                idle = self._last_heard + timeout
                if when is None or idle < when:
                    when = idle
            return when
        handshake = self._handshake_deadline
        if handshake is not None and (when is None or handshake < when):
            when = handshake
        return when

    def handle_timer(self, now: float) -> None:
        """Run whatever timers are due at ``now``."""
        self._set_now(now)
        if self.state == _CLOSED:
            if self._fatal_alert_until is not None and now >= self._fatal_alert_until:
                self._fatal_alert_until = None
            return
        if self._handshake_deadline is not None and now >= self._handshake_deadline:
            self._terminate(None, self._timeout_reason(), by_peer=False)
            return
        idle = self._idle_deadline()
        if idle is not None and now >= idle:
            self._terminate(None, "idle timeout", by_peer=False)
            return
        if self._linger_deadline is not None and now >= self._linger_deadline:
            self._linger_deadline = None
            self._flight.forget()
        if self._v13 is not None:
            self._on_timer13(self._v13, now)
        self._flight.on_timer(now)
        if self._flight.timeouts_exhausted and self.state == _HANDSHAKING:
            self._terminate(None, self._timeout_reason(), by_peer=False)

    def next_event(self) -> DtlsEvent | None:
        """Pop the next event, or None when there is none."""
        return self._events.pop(0) if self._events else None

    def send(self, data: bytes) -> None:
        """Send ``data`` as one application-data record (at most :meth:`max_payload` bytes;
        ``ValueError`` if larger)."""
        if self.state is not _ESTABLISHED:
            raise ConnectionError(f"cannot send data while {self.state.value}")
        try:
            # ValueError above max_payload(), as documented.
            v13 = self._v13
            if v13 is None:
                # Copied only if not bytes: type(b) is a specialized call in 3.11, bytes(b) not.
                payload = data if type(data) is bytes else bytes(data)
                record = self._records.seal_application_data(payload, self.configuration.mtu)
            else:
                record = v13.records.seal(
                    _APPLICATION_DATA, self._checked_payload(data), ends_datagram=True
                )
                if v13.records.needs_key_update:  # SPEC V7: a new key before the limit
                    v13.handshake.request_key_update()
        except SequenceNumberExhausted as exc:
            # SPEC R3: never wrap; without renegotiation the only way out is to close.
            self._terminate(None, str(exc), by_peer=False)
            raise ConnectionError(f"connection closed: {exc}") from None
        self._datagrams.append(record)

    def request_key_update(self, update_requested: bool = True) -> None:
        """DTLS 1.3: move our sending keys to the next epoch with a KeyUpdate (RFC 8446
        §4.6.3, RFC 9147 §8), by default asking the peer to update its keys too. The new keys
        are used once the peer acknowledges the KeyUpdate; one at a time (a call while one is
        unacknowledged does nothing). ``RuntimeError`` before the handshake completed or on a
        DTLS 1.2 connection (which has no KeyUpdate)."""
        if self._v13 is None:
            raise RuntimeError("KeyUpdate is DTLS 1.3's: this connection speaks DTLS 1.2")
        if self.state is not _ESTABLISHED:
            raise RuntimeError(f"cannot update keys while {self.state.value}")
        self._v13.handshake.request_key_update(update_requested=update_requested)

    def close(self) -> None:
        """Send close_notify and end the connection."""
        if self.state == _CLOSED:
            return
        self._send_alert(AlertLevel.warning, AlertDescription.close_notify)
        self._terminate(AlertDescription.close_notify, "closed by the application", by_peer=False)

    def abort(self, reason: str) -> None:
        """End the connection at once, without telling the peer.

        Used when the peer is known to have moved on (a server endpoint replaces the
        association after the peer started a new handshake from the same address).
        """
        if not self.closed:
            self._terminate(None, reason, by_peer=True)

    def peer_unreachable(self, now: float, error: BaseException | None = None) -> None:
        """The driver learned that the peer is unreachable (an ICMP port or host unreachable
        surfaced as ``error`` on a connected socket): end the connection at once, without
        waiting for retransmissions or the idle timeout. Ignored once closed."""
        self._set_now(now)
        if self.closed:
            return
        reason = unreachable_reason(
            self._peer_address,
            error,
            heard=self.stats.records_accepted > 0,
            established=self.state == _ESTABLISHED,
        )
        self._terminate(None, reason, by_peer=True, unreachable=True)

    def confirm_peer_address(self) -> None:
        """The application has proof that the peer receives at its current address (its
        protocol got an answer to something sent there): lift the limit on what is sent to
        a new address the peer moved to with connection IDs (RFC 9146 §6 leaves this check
        to the application; docs/connection-ids.md). Harmless when there is nothing to lift."""
        if self._address_budget is not None:
            self._address_budget.proven = self._peer_address

    def max_payload(self) -> int:
        """Largest application payload of one record: what fits the MTU
        (``DTLS_get_data_mtu``), and never more than the 2^14 bytes a peer accepts."""
        if self._v13 is not None:
            return self._v13.records.max_payload(self.configuration.mtu)
        return self._records.max_payload(self.configuration.mtu)

    @property
    def closed(self) -> bool:
        """True once the connection has ended."""
        return self.state == _CLOSED

    @property
    def peer_address(self) -> NetworkAddress | None:
        """The peer's address."""
        return self._peer_address

    @property
    def path_mtu(self) -> int:
        """The MTU handshake flights are cut for now (lowered by MTU back-off)."""
        return self._flight.mtu

    def _checked_payload(self, data: bytes) -> bytes:
        """``data`` as bytes, if one record can carry it (ValueError otherwise)."""
        limit = self.max_payload()
        if len(data) > limit:
            raise ValueError(f"{len(data)} bytes do not fit one record: at most {limit}")
        return bytes(data)

    # -- receiving -----------------------------------------------------------------------

    def _credit_address(self, addr: NetworkAddress, size: int, accepted_before: int) -> None:
        """A datagram of ``size`` bytes from ``addr`` whose records were accepted (more than
        ``accepted_before``): what the peer's current address brought, for the budget of
        what may go to an unproven one (``migration``; either version)."""
        budget = self._address_budget
        if (
            budget is not None
            and addr == self._peer_address
            and self.stats.records_accepted != accepted_before
        ):
            budget.on_received(addr, size)

    def _move_peer(self, addr: NetworkAddress) -> None:
        """An authenticated tls12_cid record newer than any seen came from ``addr``: the peer
        moved (RFC 9146 §6, SPEC I5). What we send there is bounded until it is proven."""
        self._trace("peer_address_changed", old=str(self._peer_address), new=str(addr))
        self._peer_address = addr
        self.stats.address_changes += 1
        if self._address_budget is not None:
            self._address_budget.moved()

    def _receive_record(self, raw: RawRecord) -> bool:
        """Process one record; True if it authenticated and is the newest protected record
        so far (what may move the peer's address, SPEC I5)."""
        self.stats.records_received += 1
        record = self._records.open(raw)
        if type(record) is Drop:
            self._drop(record, raw)
            if self.state == _HANDSHAKING and record.reason in AUTHENTICATION_FAILURES:
                # Dropped silently, whoever sent it (RFC 6347 §4.1.2.7): anyone who knows the
                # peer's address can forge such a record, so it must not end a handshake.
                self._wrong_key.record_failed()
            return False
        if record is None:
            self._trace("record_held", epoch=raw.epoch, seq=raw.sequence_number)
            self._flight.on_peer_answer(self._now)  # the peer is already in its next epoch
            return False
        self.stats.records_accepted += 1
        self._last_heard = self._now
        if record.epoch and self.state == _HANDSHAKING:
            self._wrong_key.authenticated = True
        content_type = record.content_type  # one of the four: the record layer checked
        if content_type == _APPLICATION_DATA:
            self._receive_application_data(record)
        elif content_type == _HANDSHAKE:
            self._receive_handshake(record)
        elif content_type == _CHANGE_CIPHER_SPEC:
            self._receive_change_cipher_spec(record)
        else:
            self._receive_alert(record)
        return record.newest

    def _receive_change_cipher_spec(self, record: OpenedRecord) -> None:
        if record.payload != b"\x01":
            self._drop(Drop(DropReason.MALFORMED_CHANGE_CIPHER_SPEC), record)  # SPEC X10
            return
        # The epoch is explicit in every DTLS record, so the CCS carries no information we
        # act on: a Finished is accepted only in epoch 1 under keys we derived ourselves,
        # whether or not its CCS arrived first (SPEC T6: reordered CCS/Finished completes).
        if self._trace.enabled:
            self._trace("change_cipher_spec_received", epoch=record.epoch)
        if self.state == _HANDSHAKING:
            # Part of the peer's answer to our flight: the path works (its Finished may be
            # what was lost), so keep asking at the base pace.
            self._flight.on_peer_answer(self._now)

    def _receive_alert(self, record: OpenedRecord) -> None:
        if len(record.payload) != 2:
            self._drop(Drop(DropReason.ALERT_NOT_2_BYTES), record)  # SPEC F7, X19
            return
        if self.state == _ESTABLISHED and record.epoch == 0:
            # Plaintext alerts after the handshake are unauthenticated: anyone could forge them.
            self._drop(Drop(DropReason.PLAINTEXT_ALERT_AFTER_HANDSHAKE), record)
            return
        level, description = record.payload
        if description == AlertDescription.close_notify:
            self._send_alert(AlertLevel.warning, AlertDescription.close_notify)
            self._terminate(AlertDescription.close_notify, "peer sent close_notify", by_peer=True)
            return
        if level == AlertLevel.fatal:
            self._forget_session()
            self._terminate(
                _alert_or_none(description),
                alert_reason(description),
                by_peer=True,
            )
            return
        self._warning_alerts += 1
        self._trace("warning_alert", description=alert_name(description))
        if self._warning_alerts > MAX_WARNING_ALERTS:
            self._fail(AlertUnexpectedMessage("too many warning alerts from the peer"))

    def _receive_application_data(self, record: OpenedRecord) -> None:
        if record.epoch == 0:
            self._drop(Drop(DropReason.APPLICATION_DATA_IN_EPOCH_0), record)  # SPEC R10
            return
        if self.state == _ESTABLISHED:
            self._events.append(DataReceived(record.payload))
            return
        # Keys exist but the peer's Finished has not been verified yet (SPEC R9, X22).
        if self._early_application_bytes + len(record.payload) > MAX_EARLY_APPLICATION_BYTES:
            self._drop(Drop(DropReason.EARLY_APPLICATION_DATA_FULL), record)
            return
        budget = self._records.budget
        if budget is not None and not budget.take(len(record.payload)):
            self._drop(Drop(DropReason.ENDPOINT_EARLY_APPLICATION_DATA_FULL), record)
            return
        if self._early_application is None:
            self._early_application = []
        self._early_application.append(record.payload)
        self._early_application_bytes += len(record.payload)

    # -- state changes -------------------------------------------------------------------

    def _announce_completion(
        self, result: HandshakeResult, version: str, suite: str, ems: bool
    ) -> None:
        """The handshake completed (either version): the event, the trace, and the
        application data that arrived early, in that order."""
        cids = result.connection_ids
        if cids is not None and cids[1] is None:
            cids = None  # we asked, the peer did not: not negotiated
        self._events.append(
            HandshakeCompleted(
                protocol_version=version,
                cipher_suite=suite,
                group=_GROUP_NAMES[result.group] if result.group is not None else None,
                peer_certificates=list(result.peer_certificates),
                peer_public_key=result.peer_public_key,
                psk_identity=result.psk_identity,
                alpn_protocol=result.alpn_protocol,
                srtp_profile=result.srtp_profile,
                server_name=result.server_name,
                extended_master_secret=ems,
                connection_id=None if cids is None else cids[0],
                peer_connection_id=None if cids is None else cids[1],
                session_resumed=result.resumed,
                duration=self._now - self._started_at if self._started_at is not None else 0.0,
                retransmissions=self._flight.retransmissions,
            )
        )
        if self._trace.enabled:
            self._trace(
                "handshake_complete",
                version=version,
                suite=suite,
                retransmissions=self._flight.retransmissions,
            )
        if self._early_application is not None:  # else nothing is held or charged
            self._events.extend(DataReceived(data) for data in self._early_application)
            self._free_early_application()

    def _free_early_application(self) -> None:
        if self._records.budget is not None:
            self._records.budget.give(self._early_application_bytes)
        self._early_application = None
        self._early_application_bytes = 0

    def _fail(self, alert: Alert) -> None:
        """End the connection because of ``alert`` raised while processing input."""
        if self.state == _CLOSED:
            return
        self._send_alert(AlertLevel.fatal, alert.description)
        self._forget_session()
        self._terminate(alert.description, alert.reason, by_peer=False)
        # Alerts are not retransmitted, but if the peer repeats what we refused, our alert was
        # probably lost: say it again (RFC 6347 §4.2.7, SPEC T8), a few times, for a while.
        self._fatal_alert = alert.description
        self._fatal_alert_repeats = FATAL_ALERT_REPEATS
        self._fatal_alert_until = self._now + FATAL_ALERT_LINGER

    def _repeat_fatal_alert(self, addr: NetworkAddress) -> None:
        if (
            self._fatal_alert is None
            or self._fatal_alert_until is None
            or self._fatal_alert_repeats <= 0
            or addr != self._peer_address
        ):
            return
        self._fatal_alert_repeats -= 1
        self._send_alert(AlertLevel.fatal, self._fatal_alert)

    def _terminate(
        self,
        alert: AlertDescription | None,
        reason: str,
        *,
        by_peer: bool,
        unreachable: bool = False,
    ) -> None:
        during_handshake = self.state == _HANDSHAKING
        self.state = _CLOSED
        self._flight.forget()
        self._handshake_deadline = None
        self._linger_deadline = None
        self._free_reassembler()
        self._records.discard_early()
        if self._v13 is not None:
            self._v13.records.discard_held()
        self._free_early_application()
        self._trace("terminated", alert=alert.name if alert else None, reason=reason)
        self._events.append(
            ConnectionTerminated(
                alert=alert,
                reason=reason,
                by_peer=by_peer,
                during_handshake=during_handshake,
                unreachable=unreachable,
            )
        )

    def _send_alert(self, level: AlertLevel, description: AlertDescription) -> None:
        if self._peer_address is None:
            return
        # Alerts are never retransmitted (RFC 6347 §4.2.7, SPEC T8).
        records = self._records if self._v13 is None else self._v13.records
        with contextlib.suppress(SequenceNumberExhausted):
            self._datagrams.append(
                records.seal(_ALERT, bytes((level, description)), ends_datagram=True)
            )

    # -- helpers -------------------------------------------------------------------------

    def _set_now(self, now: float) -> None:
        self._now = now
        self._trace.now = now

    def _start_handshake_clock(self, now: float) -> None:
        self._started_at = now
        self._handshake_deadline = now + self.configuration.handshake_timeout

    def _idle_deadline(self) -> float | None:
        timeout = self.configuration.idle_timeout
        if timeout is None or self.state != _ESTABLISHED:
            return None
        return self._last_heard + timeout

    def _drop(self, drop: Drop, record: RawRecord | OpenedRecord | None = None) -> None:
        """Count and trace input not taken: ``record``, or the datagram if None (SPEC R8)."""
        reason = str(drop)  # the public counter key and trace field: the drop's text
        self.stats.records_dropped[reason] += 1
        if self._trace.enabled:
            if record is not None:
                self._trace(
                    "record_dropped",
                    reason=reason,
                    type=record.content_type,
                    epoch=record.epoch,
                    seq=record.sequence_number,
                )
            else:
                self._trace("datagram_dropped", reason=reason)


_GROUP_NAMES = {group: group.name for group in NamedGroup}
"Each group's name, read once: an Enum member's ``name`` is a property (Python frames)."


def _alert_or_none(value: int) -> AlertDescription | None:
    try:
        return AlertDescription(value)
    except ValueError:
        return None
