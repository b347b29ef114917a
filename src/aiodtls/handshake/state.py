"""What the client and server handshakes share: transcript, flights, keys, results.

Owns the transcript (every message of the handshake in unfragmented form, minus the first
ClientHello and the HelloVerifyRequest, SPEC C7, F6), the numbering of the messages we send,
the current write epoch, the master secret and the negotiated parameters, and the one place
the handshake's state moves: :meth:`HandshakeStateMachine.handle` looks the (state, message)
pair up in the role's transition table (``flights``), runs the handler the table names and
sets the state the table gives. The two role classes in ``client`` and ``server`` hold the
handlers and choice functions; this base gives them one way to send a message, switch epochs,
derive keys and hand a finished flight to the connection through the :class:`HandshakeSink`
interface.
"""

from __future__ import annotations

import enum
import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, NoReturn, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ..alerts import AlertDecodeError, AlertUnexpectedMessage
from ..buffer import BufferReadError
from ..configuration import DtlsConfiguration
from ..record.header import ContentType
from ..record.protection import RecordProtection, new_protection
from ..reliability.flight import FlightEntry
from ..reliability.fragments import MAX_MESSAGE_LENGTH
from ..reliability.reassembly import HandshakeMessage
from ..resumption import Session
from ..srtp import SrtpProfile
from ..suites import NamedGroup, SuiteInfo
from ..trace import Tracer
from .flights import Flight, HandshakeTable, message_title
from .keyschedule import (
    PrfSecret,
    compute_finished,
    compute_master_secret,
    derive_key_block,
    export_keying_material,
)
from .messages import HandshakeType, decode_connection_id

# Read once: a member read off an Enum class costs ~0.2 us in CPython 3.11, and these are
# read for every message sent or received.
_HANDSHAKE = ContentType.handshake
_CHANGE_CIPHER_SPEC = ContentType.change_cipher_spec

# The suites' PRF hashes, looked up instead of made per use: a hash algorithm object holds no
# state (and making one costs more than a Python call); hashlib's constructor for the
# running transcript hash, three times cheaper than ``hashlib.new`` by name.
_PRF_ALGORITHMS: dict[type[hashes.HashAlgorithm], hashes.HashAlgorithm] = {
    hashes.SHA256: hashes.SHA256(),
    hashes.SHA384: hashes.SHA384(),
}
_HASHLIB_CONSTRUCTORS: dict[type[hashes.HashAlgorithm], Callable[[], hashlib._Hash]] = {
    hashes.SHA256: hashlib.sha256,
    hashes.SHA384: hashlib.sha384,
}

__all__ = ["HandshakeResult", "HandshakeSink", "HandshakeStateMachine", "ReleasedSink"]


class HandshakeSink(Protocol):
    """What a handshake asks of the connection that runs it.

    The names start with an underscore on purpose: ``DtlsConnection`` implements them, and
    they are callbacks for the handshake only, not part of the connection's public API
    (``docs/api-surface.md``).
    """

    def _install_read_keys(self, epoch: int, protection: RecordProtection) -> None:
        """Start accepting records of ``epoch`` under ``protection``."""
        ...

    def _install_write_keys(self, epoch: int, protection: RecordProtection) -> None:
        """Make ``epoch`` available for sending; the flight entries say when it is used."""
        ...

    def _send_flight(self, entries: list[FlightEntry], *, final: bool, flight_number: int) -> None:
        """Transmit a complete flight, replacing the previous one."""
        ...

    def _hello_verify_request_received(self, sequence_number: int) -> bool:
        """A HelloVerifyRequest answering our epoch-0 record ``sequence_number`` came: the
        peer's messages restart at message_seq 1 (RFC 6347 §4.2.2). True if that record
        belongs to the flight we are currently sending."""
        ...

    def _use_connection_ids(self, receive_cid: bytes, send_cid: bytes) -> None:
        """Both sides sent connection_id (RFC 9146): records of epoch 1 on carry them."""
        ...


@dataclass
class HandshakeResult:
    """What was negotiated; complete once the handshake is."""

    suite: SuiteInfo | None = None
    group: NamedGroup | None = None
    peer_certificates: list[x509.Certificate] = field(default_factory=list)
    peer_public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey | None = None
    "The peer's RFC 7250 raw public key, when it authenticated with one."
    psk_identity: bytes | None = None
    extended_master_secret: bool = False
    server_name: str | None = None
    alpn_protocol: str | None = None
    srtp_profile: SrtpProfile | None = None
    srtp_mki: bytes = b""
    connection_ids: tuple[bytes, bytes | None] | None = None
    """Connection IDs (RFC 9146): (the CID we ask the peer to send, the CID the peer asks us
    to send, None unless both sides sent connection_id). One field, not two: a tenth
    attribute would grow every connection's result by a dict resize (docs/scaling.md)."""
    resumed: bool = False
    "True when this handshake resumed an earlier session (abbreviated handshake)."
    session: Session | None = None
    "Client: the session to resume next time, once complete (None if the server gave none)."


class ReleasedSink:
    """The sink of a handshake that is over (:meth:`HandshakeStateMachine.release`): a
    completed handshake is never handed another message, so nothing may call it."""

    def _refuse(self) -> NoReturn:
        raise RuntimeError("the handshake is over: it has no connection to act on")

    def _install_read_keys(self, epoch: int, protection: RecordProtection) -> None:
        self._refuse()

    def _install_write_keys(self, epoch: int, protection: RecordProtection) -> None:
        self._refuse()

    def _send_flight(self, entries: list[FlightEntry], *, final: bool, flight_number: int) -> None:
        self._refuse()

    def _hello_verify_request_received(self, sequence_number: int) -> bool:
        self._refuse()

    def _use_connection_ids(self, receive_cid: bytes, send_cid: bytes) -> None:
        self._refuse()


_RELEASED_SINK = ReleasedSink()


Transition = tuple[
    Callable[[Any, HandshakeMessage, float], None],
    enum.Enum | None,
    Callable[[Any], str] | None,
    Mapping[str, enum.Enum],
    int,
]
"""A row of a role's table resolved against its class: (handler, next state or None, choice
function or None, next state per case, the epoch the message must come in)."""


def resolve_transitions(
    cls: type[HandshakeStateMachine], handshake: HandshakeTable
) -> dict[tuple[enum.Enum, int], Transition]:
    """The rows of the role's table in ``handshake``, with the handler and choice names
    looked up on ``cls`` once, when the class is created: a subclass that overrides a handler
    is dispatched to, and a message costs one dict lookup instead of a ``getattr`` per name."""
    table = handshake.client if cls.is_client else handshake.server
    resolved: dict[tuple[enum.Enum, int], Transition] = {}
    for state, steps in table.transitions.items():
        for msg_type, step in steps.items():
            choice = getattr(cls, step.choose) if step.choose is not None else None
            resolved[state, int(msg_type)] = (
                getattr(cls, step.handler),
                step.next,
                choice,
                step.cases,
                handshake.epoch_of(msg_type),
            )
    return resolved


class HandshakeStateMachine:
    """Base of the client and server handshakes."""

    is_client: bool = True
    state: enum.Enum
    HANDSHAKE: ClassVar[HandshakeTable | None] = None
    "Set by each role: the flights and transition tables of its protocol (``flights``)."
    _TRANSITIONS: ClassVar[dict[tuple[enum.Enum, int], Transition]] = {}
    "The role's table resolved against the class (:func:`resolve_transitions`)."

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.HANDSHAKE is not None:
            cls._TRANSITIONS = resolve_transitions(cls, cls.HANDSHAKE)

    def __init__(self, configuration: DtlsConfiguration, sink: HandshakeSink, tracer: Tracer):
        self.configuration = configuration
        self._sink = sink
        self._trace = tracer
        self._transcript = bytearray()
        self._transcript_hasher: hashlib._Hash | None = None
        self._transcript_hashed = 0
        self._send_seq = 0
        self._write_epoch = 0
        self._pending: list[FlightEntry] = []
        self.client_random = b""
        self.server_random = b""
        self._master_secret: bytes | None = None
        # The master secret keyed for the PRF once, for the key block and both Finished;
        # dropped when the handshake ends (the exporter keys it anew).
        self._master_prf: PrfSecret | None = None
        self.result = HandshakeResult()
        self.complete = False

    # -- dispatch ----------------------------------------------------------------------

    def handle(self, message: HandshakeMessage, now: float) -> None:
        """Process one whole, in-order message from the peer; raise an alert on error.

        The role's table (``flights``) says whether the current state accepts the message,
        which handler does the work and which state follows: the one place the state moves.
        """
        try:
            handler, next_state, choice, cases, expected_epoch = self._TRANSITIONS[
                self.state, message.msg_type
            ]
        except KeyError:
            raise AlertUnexpectedMessage(
                unexpected_message_reason(message.msg_type, self.state.name)
            ) from None  # SPEC H1
        # Only Finished travels under the new keys in a DTLS 1.2 handshake; anything else in
        # another epoch is an injection or a confused peer (SPEC X8, X9).
        if message.epoch != expected_epoch:
            raise AlertUnexpectedMessage(
                f"{_message_name(message.msg_type)} in epoch {message.epoch}"
            )
        try:
            handler(self, message, now)
        except BufferReadError as exc:
            raise AlertDecodeError(f"malformed {_message_name(message.msg_type)}: {exc}") from None
        if choice is not None:
            next_state = cases[choice(self)]  # a negotiated fact decides (the table's cases)
        assert next_state is not None
        self.state = next_state

    # -- connection IDs (RFC 9146 §3) ---------------------------------------------------

    def _connection_id_to_offer(self) -> bytes | None:
        """The CID we ask for in our hello: random bytes of the configured length unless the
        connection was given one (a server endpoint keeps them unique); None: no extension."""
        length = self.configuration.connection_id_length
        if length is None:
            return None
        chosen = self.result.connection_ids
        if chosen is None or len(chosen[0]) != length:
            chosen = self.result.connection_ids = (os.urandom(length), None)
        return chosen[0]

    def _agree_connection_ids(self, peer_extension: bytes | None) -> None:
        """The peer's connection_id (or None if it sent none): CIDs are used only when both
        sides sent the extension (SPEC I1)."""
        ours = self._connection_id_to_offer()
        if peer_extension is None or ours is None:
            return
        peer = decode_connection_id(peer_extension)  # malformed: decode_error
        self.result.connection_ids = (ours, peer)
        self._sink._use_connection_ids(ours, peer)
        self._trace("connection_ids", receive_length=len(ours), send_length=len(peer))

    # -- sending -----------------------------------------------------------------------

    def _send(self, msg_type: HandshakeType, body: bytes) -> None:
        seq = self._send_seq
        self._send_seq = seq + 1
        length = len(body)
        if length > MAX_MESSAGE_LENGTH:
            raise OverflowError(f"a handshake message of {length} bytes exceeds 2^24 - 1")
        # Encoded once, unfragmented: the transcript's form, and what the flight sends
        # whenever the message fits its datagram whole. The 12-byte header is packed here as
        # one 96-bit integer in fragments.handshake_header's layout (fragment offset 0,
        # fragment length = length): one call less per message.
        encoded = (msg_type << 88 | length << 64 | seq << 48 | length).to_bytes(12, "big") + body
        self._pending.append(
            FlightEntry(_HANDSHAKE, self._write_epoch, msg_type, seq, body, encoded)
        )
        self._transcript += encoded

    def _send_change_cipher_spec(self, protection: RecordProtection) -> None:
        self._pending.append(FlightEntry(_CHANGE_CIPHER_SPEC, self._write_epoch))
        self._write_epoch += 1
        self._sink._install_write_keys(self._write_epoch, protection)

    def _flush(self, flight: Flight) -> None:
        """Hand the messages queued since the last flight to the connection as ``flight``."""
        entries, self._pending = self._pending, []
        self._sink._send_flight(entries, final=flight.final, flight_number=flight.number)

    def _absorb(self, message: HandshakeMessage) -> None:
        """Add a received message to the transcript, as if it had not been fragmented: as it
        arrived if it came whole in one record (``message.encoded``), else with the header
        packed as in :meth:`_send` (the length came from a 24-bit field)."""
        encoded = message.encoded
        if encoded:
            self._transcript += encoded
            return
        body = message.body
        length = len(body)
        self._transcript += (
            message.msg_type << 88 | length << 64 | message.message_seq << 48 | length
        ).to_bytes(12, "big")
        self._transcript += body

    def _reset_transcript(self) -> None:
        """Start the transcript again (the client, after a HelloVerifyRequest, SPEC C7)."""
        self._transcript.clear()
        self._transcript_hasher = None
        self._transcript_hashed = 0

    def _transcript_hash(self) -> bytes:
        """The hash of the transcript so far, with the suite's PRF hash.

        A running hash: the algorithm is known only from the ServerHello, so it starts at the
        first call (the extended master secret's session hash at the ClientKeyExchange, or the
        first Finished) and afterwards absorbs only the bytes added since; each result is
        taken from a copy, so the running hash goes on. The standard library's hashlib (OpenSSL
        in C), by its constructor (``hashlib.new`` by name costs three times as much): its
        calls do no Python-level type checks.
        """
        hasher = self._transcript_hasher
        if hasher is None:
            suite = self.result.suite
            assert suite is not None
            constructor = _HASHLIB_CONSTRUCTORS.get(suite.prf_hash)
            hasher = self._transcript_hasher = (
                constructor() if constructor is not None else hashlib.new(suite.prf_hash().name)
            )
        hasher.update(self._transcript[self._transcript_hashed :])
        self._transcript_hashed = len(self._transcript)
        return hasher.copy().digest()

    @property
    def transcript(self) -> bytes:
        """Handshake messages so far (what CertificateVerify signs)."""
        return bytes(self._transcript)

    # -- keys --------------------------------------------------------------------------

    def _establish_keys(
        self, premaster_secret: bytes, *, master_secret: bytes | None = None
    ) -> tuple[RecordProtection, RecordProtection]:
        """Derive the master secret (extended if negotiated) and the epoch-1 protections.

        Call right after the ClientKeyExchange is in the transcript: the extended master
        secret hashes exactly up to it (RFC 7627 §3, SPEC E1). Returns (read, write).
        A resumed handshake passes the session's ``master_secret`` instead (RFC 5246 §7.3).
        """
        suite = self.result.suite
        assert suite is not None
        algorithm = suite.prf_hash()
        session_hash = self._transcript_hash() if self.result.extended_master_secret else None
        self._master_secret = master_secret or compute_master_secret(
            algorithm,
            premaster_secret,
            session_hash=session_hash,
            client_random=self.client_random,
            server_random=self.server_random,
        )
        self._master_prf = PrfSecret(algorithm, self._master_secret)
        aead = suite.aead  # its lengths read off it: SuiteInfo's properties are Python frames
        block = derive_key_block(
            algorithm,
            self._master_prf,
            self.client_random,
            self.server_random,
            aead.key_length,
            aead.fixed_iv_length,
        )
        client = new_protection(aead, block.client_write_key, block.client_write_iv)
        server = new_protection(aead, block.server_write_key, block.server_write_iv)
        if self.configuration.key_log is not None:
            # NSS key log format, read by Wireshark; written only when the user asked.
            self.configuration.key_log.write(
                f"CLIENT_RANDOM {self.client_random.hex()} {self._master_secret.hex()}\n"
            )
            self.configuration.key_log.flush()
        return (server, client) if self.is_client else (client, server)

    def _finished(self, *, from_client: bool) -> bytes:
        suite = self.result.suite
        assert suite is not None and self._master_prf is not None
        return compute_finished(
            _PRF_ALGORITHMS.get(suite.prf_hash) or suite.prf_hash(),
            self._master_prf,
            from_client=from_client,
            handshake_hash=self._transcript_hash(),
        )

    def release(self) -> None:
        """The handshake is over: free what only the handshake needed (the transcript,
        ephemeral keys, parsed messages). The master secret stays for the exporter."""
        self._reset_transcript()
        self._pending = []
        self._master_prf = None
        # The connection holds this handshake (for its result and the exporter) and the
        # handshake held the connection: letting go of it here leaves no reference cycle, so
        # a connection dropped after its handshake is freed at once by reference counting
        # instead of waiting for (and costing time in) the cyclic garbage collector.
        self._sink = _RELEASED_SINK

    def export_keying_material(self, label: bytes, length: int, context: bytes | None) -> bytes:
        """RFC 5705 exporter; only after the handshake completed (SPEC S4)."""
        if not self.complete or self._master_secret is None or self.result.suite is None:
            raise RuntimeError("keying material is not available before the handshake completes")
        return export_keying_material(
            self.result.suite.prf_hash(),
            self._master_secret,
            self.client_random,
            self.server_random,
            label,
            length,
            context,
        )


# What each state of the client and server handshakes waits for, in words.
_WAITING_FOR = {
    "CLIENT_START": "the start of the handshake",
    "CLIENT_EXPECT_SERVER_HELLO": "the server's ServerHello",
    "CLIENT_EXPECT_CERTIFICATE": "the server's Certificate",
    "CLIENT_EXPECT_SERVER_KEY_EXCHANGE": "the server's ServerKeyExchange",
    "CLIENT_EXPECT_PSK_HINT_OR_SERVER_HELLO_DONE": (
        "the server's ServerKeyExchange (PSK identity hint) or ServerHelloDone"
    ),
    "CLIENT_EXPECT_CERTIFICATE_REQUEST_OR_SERVER_HELLO_DONE": (
        "the server's CertificateRequest or ServerHelloDone"
    ),
    "CLIENT_EXPECT_SERVER_HELLO_DONE": "the server's ServerHelloDone",
    "CLIENT_EXPECT_NEW_SESSION_TICKET": "the server's NewSessionTicket",
    "CLIENT_EXPECT_FINISHED": "the server's Finished",
    "CLIENT_POST_HANDSHAKE": "nothing (the handshake is over)",
    "SERVER_EXPECT_CLIENT_HELLO": "the client's ClientHello",
    "SERVER_EXPECT_CERTIFICATE": "the client's Certificate",
    "SERVER_EXPECT_CLIENT_KEY_EXCHANGE": "the client's ClientKeyExchange",
    "SERVER_EXPECT_CERTIFICATE_VERIFY": "the client's CertificateVerify",
    "SERVER_EXPECT_FINISHED": "the client's Finished",
    "SERVER_POST_HANDSHAKE": "nothing (the handshake is over)",
}

# Combinations that have a known cause, said in words a person can act on.
_KNOWN_CAUSES: dict[tuple[str, int], str] = {
    ("SERVER_EXPECT_CERTIFICATE", HandshakeType.client_key_exchange): (
        "the client sent ClientKeyExchange without the Certificate this server requires"
    ),
    ("SERVER_EXPECT_FINISHED", HandshakeType.certificate_verify): (
        "the client sent a CertificateVerify but no certificate to verify it with"
    ),
}


def unexpected_message_reason(msg_type: int, state: str) -> str:
    """Why a message of ``msg_type`` cannot be accepted in the state named ``state``, in
    words: e.g. ``"unexpected ServerHelloDone while waiting for the server's Certificate"``."""
    known = _KNOWN_CAUSES.get((state, msg_type))
    if known is not None:
        return known
    waiting = _WAITING_FOR.get(state, state)
    return f"unexpected {message_title(msg_type)} while waiting for {waiting}"


def _message_name(msg_type: int) -> str:
    try:
        return HandshakeType(msg_type).name
    except ValueError:
        return f"handshake message {msg_type}"
