"""What the DTLS 1.3 client and server handshakes share (RFC 9147 §5 on RFC 8446 §4).

Owns the TLS-style transcript (type || uint24 length || body, without DTLS's message_seq and
fragment fields, RFC 9147 §5.2), the numbering of the messages we send, the key schedule
(:class:`~.keyschedule13.KeySchedule13` with the "dtls13" labels) and the epochs it keys
(2: handshake traffic, 3: application traffic secret 0, 4+: after each KeyUpdate), the
CertificateVerify content, Finished, the exporter, KeyUpdate (RFC 8446 §4.6.3, RFC 9147
§8), RequestConnectionId / NewConnectionId (RFC 9147 §9: which CIDs to give and to use; the
connection keeps them in its record layer) and the key log; and the one place the
handshake's state moves:
:meth:`Handshake13.handle` looks the (state, message) pair up in the role's table
(``flights.CLIENT13`` / ``flights.SERVER13``), checks the epoch the table gives, runs the
handler and sets the next state. The role classes in ``client13`` and ``server13`` hold the
handlers and choice functions.

The connection runs it through :class:`Handshake13Sink` (its own names, next to the DTLS 1.2
``state.HandshakeSink``): keys per epoch and direction, whole flights, and post-handshake
messages (NewSessionTicket, KeyUpdate) that are retransmitted until acknowledged.
"""

from __future__ import annotations

import enum
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from cryptography.hazmat.primitives import hashes

from ..alerts import (
    Alert,
    AlertDecodeError,
    AlertDescription,
    AlertIllegalParameter,
    AlertInternalError,
    AlertUnexpectedMessage,
)
from ..buffer import BufferReadError
from ..configuration import DtlsConfiguration
from ..record.header import ContentType
from ..record.protection13 import RecordProtection13
from ..reliability.flight import FlightEntry
from ..reliability.reassembly import HandshakeMessage
from ..suites import ProtocolVersion, Suite13, suite13_hash
from ..trace import Tracer
from .flights import POST_HANDSHAKE_TYPES13, Flight, HandshakeTable, message_title
from .keyschedule13 import KeySchedule13, finished_verify_data, traffic_keys
from .messages import HandshakeType, decode_connection_id
from .messages.tls13 import (
    ConnectionIdUsage,
    KeyUpdateRequest,
    NewConnectionId,
    decode_key_update,
    decode_new_connection_id,
    decode_request_connection_id,
    encode_key_update,
    encode_new_connection_id,
    encode_request_connection_id,
    transcript_message,
)
from .state import HandshakeResult, ReleasedSink, unexpected_message_reason

__all__ = [
    "AlertCertificateRequired",
    "AlertMissingExtension",
    "Handshake13",
    "Handshake13Sink",
    "HandshakeResult13",
]

_HANDSHAKE = int(ContentType.handshake)
_MSG_KEY_UPDATE = int(HandshakeType.key_update)
_FIRST_APPLICATION_EPOCH = 3
_KEY_LENGTH = {
    Suite13.TLS_AES_128_GCM_SHA256: 16,
    Suite13.TLS_AES_256_GCM_SHA384: 32,
    Suite13.TLS_CHACHA20_POLY1305_SHA256: 32,
    Suite13.TLS_AES_128_CCM_SHA256: 16,
    Suite13.TLS_AES_128_CCM_8_SHA256: 16,
}
_IV_LENGTH = 12
_MSG_REQUEST_CONNECTION_ID = int(HandshakeType.request_connection_id)
_MSG_NEW_CONNECTION_ID = int(HandshakeType.new_connection_id)

MAX_ISSUED_CONNECTION_IDS = 16
"""CIDs of ours one connection hands out in NewConnectionIds, in all (DTLS 1.3 retires none):
beyond, a RequestConnectionId gets fewer, or none (RFC 9147 §9 allows it)."""
MAX_SPARE_PEER_CONNECTION_IDS = 16
"Spare CIDs of the peer's kept; more are discarded (RFC 9147 §9 allows it)."
MAX_UNACKNOWLEDGED_CID_ANSWERS = 2
"""Our NewConnectionIds sent or waiting and not yet acknowledged: one in flight and one
waiting for it (a peer that asks again at once once it got the first); a RequestConnectionId
beyond is ignored, its record acknowledged as usual."""


class AlertMissingExtension(Alert):
    """missing_extension (RFC 8446 §6.2): a mandatory extension is absent."""

    description = AlertDescription.missing_extension


class AlertCertificateRequired(Alert):
    """certificate_required (RFC 8446 §6.2): the client sent no certificate, and one is
    required."""

    description = AlertDescription.certificate_required


class Handshake13Sink(Protocol):
    """What a DTLS 1.3 handshake asks of the connection that runs it (``connection13``)."""

    def _install_read_keys13(self, epoch: int, protection: RecordProtection13) -> None:
        """Start accepting records of ``epoch`` under ``protection``."""
        ...

    def _install_write_keys13(self, epoch: int, protection: RecordProtection13) -> None:
        """Make ``epoch`` available for sending; it becomes the epoch of new records."""
        ...

    def _send_flight(self, entries: list[FlightEntry], *, final: bool, flight_number: int) -> None:
        """Transmit a complete flight, replacing the previous one."""
        ...

    def _send_post_handshake(self, entries: list[FlightEntry]) -> None:
        """Transmit messages after the handshake (NewSessionTicket, KeyUpdate), retransmitted
        until acknowledged (RFC 9147 §5.8.4, §8)."""
        ...

    def _issue_connection_ids13(self, count: int) -> list[bytes]:
        """Up to ``count`` fresh CIDs of ours (as long as the negotiated one), accepted on
        records from now on (and routed to us by a server endpoint): for a NewConnectionId."""
        ...

    def _use_send_connection_id13(self, cid: bytes) -> None:
        """Records we send carry ``cid`` from now on (the peer's, RFC 9147 §9)."""
        ...


class _ReleasedSink13(ReleasedSink):
    """The sink of a released DTLS 1.3 handshake: nothing may call it (the DTLS 1.2 one's
    refusal, for the DTLS 1.3 callbacks too)."""

    def _install_read_keys13(self, epoch: int, protection: RecordProtection13) -> None:
        self._refuse()

    def _install_write_keys13(self, epoch: int, protection: RecordProtection13) -> None:
        self._refuse()

    def _send_post_handshake(self, entries: list[FlightEntry]) -> None:
        self._refuse()

    def _issue_connection_ids13(self, count: int) -> list[bytes]:
        self._refuse()

    def _use_send_connection_id13(self, cid: bytes) -> None:
        self._refuse()


@dataclass
class HandshakeResult13(HandshakeResult):
    """What a DTLS 1.3 handshake negotiated: :class:`~.state.HandshakeResult` (whose ``suite``
    stays None: it names DTLS 1.2 suites) plus the TLS 1.3 suite and the version."""

    suite13: Suite13 | None = None
    "The TLS 1.3 cipher suite."
    version: ProtocolVersion = ProtocolVersion.DTLSv1_3
    "Always DTLS 1.3 here."
    psk_mode: str | None = None
    "None (certificates), ``'psk_ke'`` or ``'psk_dhe_ke'`` when a PSK keyed the handshake."


Transition13 = tuple[
    Callable[[Any, HandshakeMessage, float], None],
    enum.Enum | None,
    Callable[[Any], str] | None,
    dict[str, enum.Enum],
    int,
]
"(handler, next state or None, choice function or None, next state per case, epoch)."


def _resolve(cls: type[Handshake13], table: HandshakeTable) -> dict[tuple[enum.Enum, int], Any]:
    role = table.client if cls.is_client else table.server
    resolved: dict[tuple[enum.Enum, int], Any] = {}
    for state, steps in role.transitions.items():
        for msg_type, step in steps.items():
            choice = getattr(cls, step.choose) if step.choose is not None else None
            resolved[state, int(msg_type)] = (
                getattr(cls, step.handler),
                step.next,
                choice,
                dict(step.cases),
                table.epoch_of(msg_type),
            )
    return resolved


class Handshake13:
    """Base of the DTLS 1.3 client and server handshakes."""

    is_client: ClassVar[bool] = True
    state: enum.Enum
    HANDSHAKE: ClassVar[HandshakeTable | None] = None
    "Set by each role: ``flights.DTLS13``."
    _TRANSITIONS: ClassVar[dict[tuple[enum.Enum, int], Transition13]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.HANDSHAKE is not None:
            cls._TRANSITIONS = _resolve(cls, cls.HANDSHAKE)

    def __init__(
        self, configuration: DtlsConfiguration, sink: Handshake13Sink, tracer: Tracer
    ) -> None:
        self.configuration = configuration
        self._sink: Handshake13Sink = sink
        self._trace = tracer
        self._transcript: bytearray | bytes = bytearray()
        "The handshake's messages (RFC 9147 §5.2); the empty bytes once it is released."
        self._send_seq = 0
        self._pending: list[FlightEntry] = []
        self._schedule: KeySchedule13 | None = None
        self._key_logged = 0
        self.client_random = b""
        self.result = HandshakeResult13()
        self.complete = False
        self._read_epoch = 0
        self._write_epoch = 0
        self._key_update_sent = False
        "Our KeyUpdate is waiting for its ACK (no second one until then)."
        self._key_update_entry: FlightEntry | None = None
        self.spare_peer_connection_ids: tuple[bytes, ...] = ()
        """CIDs the peer gave as spares (NewConnectionId, cid_spare), in the order given (a
        tuple: most connections have none, and the empty tuple is shared)."""
        self.connection_ids_requested = False
        "Our RequestConnectionId is unfulfilled: no NewConnectionId came since (V14)."
        self._cid_answers: tuple[FlightEntry, ...] = ()
        "Our NewConnectionIds not yet acknowledged."
        self._cids_issued = 0

    # -- dispatch ----------------------------------------------------------------------

    def handle(self, message: HandshakeMessage, now: float) -> None:
        """Process one whole, in-order message from the peer; raise an alert on error."""
        try:
            handler, next_state, choice, cases, epoch = self._TRANSITIONS[
                self.state, message.msg_type
            ]
        except KeyError:
            raise AlertUnexpectedMessage(
                unexpected_message_reason(message.msg_type, self.state.name)
            ) from None
        if message.msg_type in POST_HANDSHAKE_TYPES13:
            # The peer's current epoch: 3, or later after its KeyUpdates (RFC 9147 §8).
            if message.epoch != self._read_epoch:
                raise AlertUnexpectedMessage(
                    f"{message_title(message.msg_type)} in epoch {message.epoch}, "
                    f"not the current {self._read_epoch}"
                )
        elif message.epoch != epoch:
            raise AlertUnexpectedMessage(
                f"{message_title(message.msg_type)} in epoch {message.epoch}, not {epoch}"
            )
        try:
            handler(self, message, now)
        except BufferReadError as exc:
            raise AlertDecodeError(f"malformed {message_title(message.msg_type)}: {exc}") from None
        if choice is not None:
            next_state = cases[choice(self)]
        assert next_state is not None
        self.state = next_state

    # -- transcript and sending --------------------------------------------------------

    def _entry(self, msg_type: int, body: bytes, epoch: int) -> FlightEntry:
        """A message we send, numbered and, during the handshake, added to the transcript
        (RFC 8446 §4.4.1 lists the messages it covers: no post-handshake one)."""
        seq = self._send_seq
        if seq > 0xFFFF:
            # RFC 9147 §5.2: message_seq never wraps (only endless KeyUpdates get here).
            raise AlertInternalError("message_seq exhausted: no more handshake messages")
        self._send_seq += 1
        if not self.complete:
            self._transcript += transcript_message(msg_type, body)
        return FlightEntry(_HANDSHAKE, epoch, msg_type, seq, body)

    def _send(self, msg_type: int, body: bytes, epoch: int) -> None:
        """Queue a message of the flight being built."""
        self._pending.append(self._entry(msg_type, body, epoch))

    def _flush(self, flight: Flight) -> None:
        """Hand the queued messages to the connection as ``flight``."""
        entries, self._pending = self._pending, []
        self._sink._send_flight(entries, final=flight.final, flight_number=flight.number)

    def _absorb(self, message: HandshakeMessage) -> None:
        """Add a received message to the transcript (TLS style, RFC 9147 §5.2)."""
        self._transcript += transcript_message(message.msg_type, message.body)

    @property
    def _hash(self) -> hashes.HashAlgorithm:
        assert self.result.suite13 is not None
        return suite13_hash(self.result.suite13)

    def _transcript_hash(self) -> bytes:
        """Transcript-Hash of the messages so far with the suite's hash."""
        return hashlib.new(self._hash.name, self._transcript).digest()

    @property
    def transcript(self) -> bytes:
        """The TLS-style transcript so far."""
        return bytes(self._transcript)

    # -- connection IDs (RFC 9147 §9 with RFC 9146's extension) ---------------------------

    def _connection_id_to_offer(self) -> bytes | None:
        """The CID we ask the peer to put in our records: random bytes of the configured
        length unless the connection was given one (a server endpoint keeps them unique);
        None: no connection_id extension."""
        length = self.configuration.connection_id_length
        if length is None:
            return None
        chosen = self.result.connection_ids
        if chosen is None or len(chosen[0]) != length:
            chosen = self.result.connection_ids = (os.urandom(length), None)
        return chosen[0]

    def _agree_connection_ids(self, peer_extension: bytes | None) -> None:
        """Both hellos carried connection_id: records of epoch 2 on carry them."""
        ours = self._connection_id_to_offer()
        if peer_extension is None or ours is None:
            return
        peer = decode_connection_id(peer_extension)
        self.result.connection_ids = (ours, peer)
        self._trace("connection_ids", receive_length=len(ours), send_length=len(peer))

    # -- keys --------------------------------------------------------------------------

    def _protection(self, secret: bytes, epoch: int, *, write: bool) -> RecordProtection13:
        """The record protection of ``epoch`` from a traffic secret. With connection IDs
        (RFC 9147 §9, negotiated in the hellos), records we write carry the peer's CID and
        those we read ours (an empty CID means none)."""
        suite = self.result.suite13
        assert suite is not None
        cid: bytes | None = None
        if self.result.connection_ids is not None and self.result.connection_ids[1] is not None:
            ours, peer = self.result.connection_ids
            cid = (peer if write else ours) or None
        keys = traffic_keys(
            self._hash, secret, _KEY_LENGTH[suite], _IV_LENGTH, prefix=self._schedule_().prefix
        )
        return RecordProtection13(
            int(suite),
            key=keys.key,
            iv=keys.iv,
            sn_key=keys.sn_key,
            epoch=epoch,
            connection_id=cid,
            allow_ccm8=suite == Suite13.TLS_AES_128_CCM_8_SHA256,
        )

    def _schedule_(self) -> KeySchedule13:
        assert self._schedule is not None
        return self._schedule

    def _install_handshake_keys(self) -> None:
        """Epoch 2 both ways, right after ServerHello is in the transcript."""
        ks = self._schedule_()
        ours, theirs = (
            (ks.client_handshake_traffic_secret, ks.server_handshake_traffic_secret)
            if self.is_client
            else (ks.server_handshake_traffic_secret, ks.client_handshake_traffic_secret)
        )
        self._sink._install_read_keys13(2, self._protection(theirs, 2, write=False))
        self._sink._install_write_keys13(2, self._protection(ours, 2, write=True))
        self._read_epoch = self._write_epoch = 2
        self._log_keys()

    def _install_application_read_keys(self) -> None:
        ks = self._schedule_()
        theirs = (
            ks.server_application_traffic_secret
            if self.is_client
            else ks.client_application_traffic_secret
        )
        self._sink._install_read_keys13(3, self._protection(theirs, 3, write=False))
        self._read_epoch = 3

    def _install_application_write_keys(self) -> None:
        ks = self._schedule_()
        ours = (
            ks.client_application_traffic_secret
            if self.is_client
            else ks.server_application_traffic_secret
        )
        self._sink._install_write_keys13(3, self._protection(ours, 3, write=True))
        self._write_epoch = 3
        self._log_keys()

    def _log_keys(self) -> None:
        """NSS key log lines for the secrets derived since the last call (only when the user
        asked for a key log)."""
        key_log = self.configuration.key_log
        if key_log is None or self._schedule is None:
            return
        lines = self._schedule.key_log_lines(self.client_random)
        for line in lines[self._key_logged :]:
            key_log.write(line)
        key_log.flush()
        self._key_logged = len(lines)

    def _finished_data(self, *, from_client: bool) -> bytes:
        """verify_data of the Finished ``from_client`` (or the server) over the transcript
        so far (RFC 8446 §4.4.4)."""
        ks = self._schedule_()
        base = (
            ks.client_handshake_traffic_secret
            if from_client
            else ks.server_handshake_traffic_secret
        )
        return finished_verify_data(self._hash, base, self._transcript_hash(), prefix=ks.prefix)

    def export_keying_material(self, label: bytes, length: int, context: bytes | None) -> bytes:
        """TLS 1.3 exporter (RFC 8446 §7.5); only after the handshake completed. No context
        and an empty one are the same in TLS 1.3."""
        if not self.complete or self._schedule is None:
            raise RuntimeError("keying material is not available before the handshake completes")
        return self._schedule.export(label, context or b"", length)

    # -- KeyUpdate (RFC 8446 §4.6.3, RFC 9147 §8) ----------------------------------------

    @property
    def write_epoch(self) -> int:
        """The epoch our new records use."""
        return self._write_epoch

    @property
    def read_epoch(self) -> int:
        """The newest epoch we accept the peer's records in."""
        return self._read_epoch

    def request_key_update(self, *, update_requested: bool = True) -> None:
        """Send a KeyUpdate (asking the peer to update too, by default). Our write keys move
        to the next epoch only once it is acknowledged: the connection then calls
        :meth:`on_key_update_acked` (RFC 9147 §8). One at a time: while one is unacknowledged
        this does nothing."""
        if not self.complete:
            raise RuntimeError("KeyUpdate is only possible after the handshake")
        if self._key_update_sent:
            return
        request = (
            KeyUpdateRequest.update_requested
            if update_requested
            else KeyUpdateRequest.update_not_requested
        )
        self._key_update_sent = True
        entry = self._entry(_MSG_KEY_UPDATE, encode_key_update(request), self._write_epoch)
        self._key_update_entry = entry
        self._sink._send_post_handshake([entry])
        self._trace("key_update_sent", epoch=self._write_epoch, requested=update_requested)

    def on_key_update_acked(self, acknowledged: Sequence[FlightEntry] | None = None) -> None:
        """Our KeyUpdate was acknowledged: step our traffic secret and write in the next
        epoch. ``acknowledged``: the entries of the post-handshake flight an ACK completed;
        given, nothing happens unless our KeyUpdate is among them (an ACK of a
        NewSessionTicket sent before it must not move our keys)."""
        if not self._key_update_sent:
            return
        if acknowledged is not None and not any(e is self._key_update_entry for e in acknowledged):
            return
        self._key_update_sent = False
        ks = self._schedule_()
        secret = (
            ks.update_client_traffic_secret()
            if self.is_client
            else ks.update_server_traffic_secret()
        )
        self._write_epoch += 1
        self._sink._install_write_keys13(
            self._write_epoch, self._protection(secret, self._write_epoch, write=True)
        )
        self._trace("key_update_installed", direction="write", epoch=self._write_epoch)

    def _on_key_update(self, message: HandshakeMessage, now: float) -> None:
        request = decode_key_update(message.body)
        ks = self._schedule_()
        secret = (
            ks.update_server_traffic_secret()
            if self.is_client
            else ks.update_client_traffic_secret()
        )
        self._read_epoch += 1
        self._sink._install_read_keys13(
            self._read_epoch, self._protection(secret, self._read_epoch, write=False)
        )
        self._trace("key_update_received", epoch=self._read_epoch, requested=bool(request))
        if request == KeyUpdateRequest.update_requested:
            # RFC 8446 §4.6.3: answer with our own KeyUpdate, not requesting one back.
            self.request_key_update(update_requested=False)

    # -- connection IDs after the handshake (RFC 9147 §9, SPEC V14, V21) -----------------

    def _check_connection_ids(self, message: HandshakeMessage, index: int) -> bytes:
        """The non-empty negotiated CID that makes ``message`` legal: ours (``index`` 0: a
        RequestConnectionId asks for CIDs of ours, which the peer sends) or the peer's (1: a
        NewConnectionId gives CIDs of the peer's, allowed only if it receives one). Else
        unexpected_message (RFC 9147 §9, SPEC V21)."""
        cids = self.result.connection_ids
        cid = None if cids is None or cids[1] is None else cids[index]
        if not cid:
            whose = "ours" if index == 0 else "the peer's"
            raise AlertUnexpectedMessage(
                f"{message_title(message.msg_type)} without a non-empty connection ID "
                f"({whose}) negotiated"
            )
        return cid

    def _on_request_connection_id(self, message: HandshakeMessage, now: float) -> None:
        """The peer asks for ``num_cids`` CIDs of ours: a NewConnectionId (cid_spare) answers
        with fresh ones, fewer (or none) once :data:`MAX_ISSUED_CONNECTION_IDS` were given."""
        self._check_connection_ids(message, 0)
        wanted = decode_request_connection_id(message.body)
        if len(self._cid_answers) >= MAX_UNACKNOWLEDGED_CID_ANSWERS:
            # It asks again before it could have our answer (RFC 9147 §9: MUST NOT).
            self._trace("request_connection_id_ignored", num_cids=wanted)
            return
        count = min(wanted, MAX_ISSUED_CONNECTION_IDS - self._cids_issued)
        cids = self._sink._issue_connection_ids13(count) if count > 0 else []
        self._cids_issued += len(cids)
        body = encode_new_connection_id(NewConnectionId(cids, ConnectionIdUsage.cid_spare))
        entry = self._entry(_MSG_NEW_CONNECTION_ID, body, self._write_epoch)
        self._cid_answers += (entry,)
        self._sink._send_post_handshake([entry])
        self._trace("new_connection_id_sent", requested=wanted, sent=len(cids))

    def _on_new_connection_id(self, message: HandshakeMessage, now: float) -> None:
        """CIDs of the peer's: ``cid_immediate`` switches the CID we send to the first at
        once (the others are spares), ``cid_spare`` keeps them all for later
        (:meth:`use_spare_connection_id`)."""
        self._check_connection_ids(message, 1)
        new = decode_new_connection_id(message.body)
        if any(not cid for cid in new.cids):
            raise AlertIllegalParameter("NewConnectionId with an empty connection ID")
        if new.usage == ConnectionIdUsage.cid_immediate:
            if not new.cids:
                raise AlertIllegalParameter("NewConnectionId cid_immediate without a CID")
            self._switch_send_connection_id(new.cids[0])
            spares = new.cids[1:]
        elif new.usage == ConnectionIdUsage.cid_spare:
            spares = new.cids
        else:
            raise AlertIllegalParameter(f"NewConnectionId with usage {new.usage}")
        known = list(self.spare_peer_connection_ids)
        for cid in spares:
            if len(known) < MAX_SPARE_PEER_CONNECTION_IDS and cid not in known:
                known.append(cid)
        self.spare_peer_connection_ids = tuple(known)
        self.connection_ids_requested = False
        self._trace(
            "new_connection_id_received",
            usage=ConnectionIdUsage(new.usage).name,
            count=len(new.cids),
            spares=len(known),
        )

    def _switch_send_connection_id(self, cid: bytes) -> None:
        """Send ``cid`` from now on; later epochs (KeyUpdate) are keyed with it too."""
        cids = self.result.connection_ids
        assert cids is not None
        self.result.connection_ids = (cids[0], cid)
        self._sink._use_send_connection_id13(cid)

    def use_spare_connection_id(self) -> bool:
        """Send the peer's next spare CID from now on (RFC 9147 §9: "SHOULD use a new CID
        whenever sending on a new path", in the order given); False if there is none."""
        spares = self.spare_peer_connection_ids
        if not spares:
            return False
        self.spare_peer_connection_ids = spares[1:]
        self._switch_send_connection_id(spares[0])
        return True

    def request_connection_ids(self, count: int) -> bool:
        """Ask the peer for ``count`` (1-255) spare CIDs with a RequestConnectionId; False
        (nothing sent) while an earlier request is unfulfilled (RFC 9147 §9, SPEC V14).
        RuntimeError before the handshake completed or when the CID we send is empty or
        was not negotiated (SPEC V21: the peer would have to refuse it)."""
        if not self.complete:
            raise RuntimeError("RequestConnectionId is only possible after the handshake")
        if not 1 <= count <= 255:
            raise ValueError("num_cids is 1 to 255")
        cids = self.result.connection_ids
        if cids is None or not cids[1]:
            raise RuntimeError(
                "RequestConnectionId needs a non-empty connection ID of the peer's negotiated"
            )
        if self.connection_ids_requested:
            return False
        self.connection_ids_requested = True
        entry = self._entry(
            _MSG_REQUEST_CONNECTION_ID, encode_request_connection_id(count), self._write_epoch
        )
        self._sink._send_post_handshake([entry])
        self._trace("request_connection_id_sent", num_cids=count)
        return True

    def on_post_handshake_acked(self, acknowledged: Sequence[FlightEntry]) -> None:
        """A post-handshake flight of ours was acknowledged: a NewConnectionId among it is
        no longer outstanding."""
        if self._cid_answers:
            self._cid_answers = tuple(
                e for e in self._cid_answers if not any(e is a for a in acknowledged)
            )

    # -- lifetime ----------------------------------------------------------------------

    def release(self) -> None:
        """The handshake is over: free what only the handshake needed. The key schedule
        stays (exporter, KeyUpdate), without the secrets only the handshake used; a client
        keeps the resumption master secret for the tickets still to come, a server sent its
        ticket on the client Finished (``server13._send_ticket``) and needs it no more."""
        self._transcript = b""
        self._pending = []
        if self._schedule is not None:
            self._schedule.release_handshake_secrets(keep_resumption=self.is_client)

    def detach(self) -> None:
        """The connection is gone: drop the reference to it."""
        self._sink = _ReleasedSink13()


def check_context_empty(context: bytes, what: str) -> None:
    """During the handshake, certificate_request_context is empty (RFC 8446 §4.3.2)."""
    if context:
        raise AlertIllegalParameter(
            f"{what} has a certificate_request_context during the handshake"
        )
