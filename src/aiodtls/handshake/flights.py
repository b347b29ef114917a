"""The DTLS 1.2 handshake written down as data: its flights and its state transitions.

Owns what a handshake looks like, not what it computes. The flights of each handshake shape
(full or abbreviated, with or without the cookie exchange; RFC 6347 §4.2.4, RFC 5077 §3.1),
which side sends each and which messages each carries (optional ones marked), and, per role,
the transition table: in state S, on message M, the role's handler does the work and the state
becomes S', or, where S' depends on a negotiated fact (a certificate requested, a PSK suite, a
resumed session), the case that a choice function named in the table picks.

The engine (``state``, ``client``, ``server``) dispatches through these tables: a message a
state has no row for is ``unexpected_message``. The diagnosis (:mod:`aiodtls.diagnose`) names
flights and attributes wire messages to them with the same flights, and the tests read them
instead of restating the sequence. Modelled on h11's transition tables and pion/dtls's flight
list (flight0 ... flight6, flight4b and flight5b for resumption). The shape is
version-neutral: DTLS 1.3 adds its own :class:`HandshakeTable` next to :data:`DTLS12`.

Flight numbers count as if the cookie exchange happened (RFC 6347 §4.2.4, figure 1): the
server's first real flight is 4 with or without flights 2 and 3. The abbreviated handshake
keeps that count, so its server flight is 4 and the client's final one 5 (pion's 4b and 5b).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from .messages import HandshakeType

__all__ = [
    "ABBREVIATED",
    "CLIENT",
    "CLIENT13",
    "CLIENT_FINISHED",
    "CLIENT_FINISHED13",
    "CLIENT_HELLO",
    "CLIENT_HELLO13",
    "CLIENT_HELLO_RETRY13",
    "CLIENT_HELLO_WITH_COOKIE",
    "DTLS12",
    "DTLS13",
    "FULL",
    "FULL13",
    "HELLO_RETRY_REQUEST13",
    "HELLO_VERIFY_REQUEST",
    "KEY_UPDATE13",
    "NEW_CONNECTION_ID13",
    "NEW_SESSION_TICKET13",
    "POST_HANDSHAKE13",
    "POST_HANDSHAKE_TYPES13",
    "REQUEST_CONNECTION_ID13",
    "RESUMED_CLIENT_FINISHED",
    "RESUMED_SERVER_HELLO",
    "SERVER",
    "SERVER13",
    "SERVER_FINISHED",
    "SERVER_HELLO",
    "SERVER_HELLO13",
    "Carried",
    "Client13State",
    "ClientState",
    "Flight",
    "HandshakeShape",
    "HandshakeTable",
    "RoleTable",
    "Server13State",
    "ServerState",
    "Side",
    "Step",
    "choose",
    "goto",
    "message_title",
]


class Side(enum.Enum):
    """Who sends a flight."""

    CLIENT = "client"
    SERVER = "server"


def message_title(msg_type: int) -> str:
    """The RFC's name of a handshake message, e.g. ``ClientKeyExchange``."""
    try:
        return "".join(part.capitalize() for part in HandshakeType(msg_type).name.split("_"))
    except ValueError:
        return f"handshake message {msg_type}"


@dataclass(frozen=True)
class Carried:
    """One message a flight carries."""

    msg_type: HandshakeType | None
    "The handshake message, or None for the ChangeCipherSpec (a record type of its own)."
    optional: bool = False
    when: str = ""
    "For an optional message: when it is sent."
    epoch: int | None = None
    """The epoch it travels in, when the flight says so (DTLS 1.3: 0, 2 or 3); None: counted
    from the flight's ChangeCipherSpecs (DTLS 1.2)."""

    @property
    def name(self) -> str:
        """``ServerHello``, ``ChangeCipherSpec`` ..."""
        return "ChangeCipherSpec" if self.msg_type is None else message_title(self.msg_type)


@dataclass(frozen=True)
class Flight:
    """One flight: what one side sends before it waits for the other (RFC 6347 §4.2.4)."""

    number: int
    "As RFC 6347 §4.2.4 counts them, the cookie exchange included (1-6 in DTLS 1.2)."
    sender: Side
    carries: tuple[Carried, ...]
    "The messages in the order they are sent."
    final: bool = False
    """The last flight of the handshake: no timer; it is resent when the peer repeats its own
    flight (RFC 6347 §4.2.4, SPEC T4)."""
    stateless: bool = False
    "Sent without keeping state (the HelloVerifyRequest): no timer either."
    cookie_exchange: bool = False
    "Only there when the server asks for a cookie (flights 2 and 3)."
    summary: str = ""
    "Words for its messages; by default the required ones (``ServerHello ... Finished``)."

    def __post_init__(self) -> None:
        if not self.summary:
            names = [c.name for c in self.carries if not c.optional]
            text = ", ".join(names) if len(names) <= 2 else f"{names[0]} ... {names[-1]}"
            object.__setattr__(self, "summary", text)

    @property
    def title(self) -> str:
        """``flight 4 (ServerHello ... ServerHelloDone)``."""
        return f"flight {self.number} ({self.summary})"

    @property
    def timerless(self) -> bool:
        """Nobody retransmits it on a timer: the peer gets it again by repeating its previous
        flight (the HelloVerifyRequest, the final flight)."""
        return self.final or self.stateless

    def carries_message(self, msg_type: int | None) -> bool:
        """True if this flight carries ``msg_type`` (None: the ChangeCipherSpec)."""
        return any(c.msg_type == msg_type for c in self.carries)

    def epoch_of(self, msg_type: int | None) -> int:
        """The epoch ``msg_type`` travels in, counted from this flight's first: one more after
        the ChangeCipherSpec (in DTLS 1.2 only Finished, SPEC X8)."""
        epoch = 0
        for carried in self.carries:
            if carried.msg_type == msg_type:
                return epoch if carried.epoch is None else carried.epoch
            if carried.msg_type is None:
                epoch += 1
        raise ValueError(f"{self.title} does not carry {msg_type}")


@dataclass(frozen=True)
class HandshakeShape:
    """One way a handshake runs: its flights in order, the cookie exchange included."""

    name: str
    flights: tuple[Flight, ...]

    def sequence(self, *, cookie_exchange: bool) -> tuple[Flight, ...]:
        """The flights sent, without flights 2 and 3 when the server asks for no cookie."""
        return tuple(f for f in self.flights if cookie_exchange or not f.cookie_exchange)

    @property
    def final(self) -> Flight:
        """The last flight."""
        return self.flights[-1]

    def previous(self, flight: Flight) -> Flight | None:
        """The flight ``flight`` answers (the peer's last before it), None for the first. Its
        sender repeats it when ``flight`` is lost and ``flight`` is :attr:`Flight.timerless`."""
        index = self.flights.index(flight)
        return self.flights[index - 1] if index else None


@dataclass(frozen=True)
class Step:
    """A row of a transition table: the handler that does the work, then the next state."""

    handler: str
    "The role's method that handles the message: ``handler(message, now)``."
    next: enum.Enum | None = None
    "The next state, when no negotiated fact decides it."
    choose: str | None = None
    "Else the role's method that names the case that holds: a key of ``cases``."
    cases: Mapping[str, enum.Enum] = field(default_factory=dict)
    "The next state for each case ``choose`` can name."

    def next_states(self) -> tuple[enum.Enum, ...]:
        """Every state this step can lead to."""
        return (self.next,) if self.next is not None else tuple(self.cases.values())


def goto(handler: str, state: enum.Enum) -> Step:
    """On this message, ``handler`` works and the state becomes ``state``."""
    return Step(handler, next=state)


def choose(handler: str, choice: str, **cases: enum.Enum) -> Step:
    """On this message, ``handler`` works and ``choice`` names which of ``cases`` holds."""
    return Step(handler, choose=choice, cases=cases)


@dataclass(frozen=True)
class RoleTable:
    """One role's state machine as data (h11's style)."""

    side: Side
    initial: enum.Enum
    "The state a new handshake of this role starts in."
    started: enum.Enum
    "The state once the role sent its first flight of its own accord (the client's start())."
    done: enum.Enum
    "The state after the handshake."
    transitions: Mapping[enum.Enum, Mapping[int, Step]]
    "Per state, the step for each message it accepts; a message not listed is unexpected."


@dataclass(frozen=True)
class HandshakeTable:
    """Everything the tables say about one protocol version."""

    version: str
    shapes: tuple[HandshakeShape, ...]
    "The full handshake first."
    client: RoleTable
    server: RoleTable

    def flights(self, sender: Side | None = None) -> tuple[Flight, ...]:
        """Every distinct flight of every shape (of ``sender`` only, if given), in order."""
        seen: dict[Flight, None] = {}
        for shape in self.shapes:
            for flight in shape.flights:
                if sender is None or flight.sender == sender:
                    seen[flight] = None
        return tuple(seen)

    def epoch_of(self, msg_type: int) -> int:
        """The epoch a handshake message of ``msg_type`` travels in, relative to the
        handshake's first (0 for a type no flight carries)."""
        for flight in self.flights():
            if flight.carries_message(msg_type):
                return flight.epoch_of(msg_type)
        return 0


# -- DTLS 1.2: the flights ------------------------------------------------------------------

_T = HandshakeType
_CLIENT, _SERVER = Side.CLIENT, Side.SERVER
_CCS = Carried(None)

CLIENT_HELLO = Flight(1, _CLIENT, (Carried(_T.client_hello),))
"Flight 1: the client's first ClientHello (RFC 6347 §4.2.4)."
HELLO_VERIFY_REQUEST = Flight(
    2, _SERVER, (Carried(_T.hello_verify_request),), stateless=True, cookie_exchange=True
)
"Flight 2: the stateless server's HelloVerifyRequest with a cookie (RFC 6347 §4.2.1)."
CLIENT_HELLO_WITH_COOKIE = Flight(
    3,
    _CLIENT,
    (Carried(_T.client_hello),),
    cookie_exchange=True,
    summary="ClientHello with cookie",
)
"Flight 3: the ClientHello again, carrying the cookie."
SERVER_HELLO = Flight(
    4,
    _SERVER,
    (
        Carried(_T.server_hello),
        Carried(_T.certificate, optional=True, when="a certificate suite"),
        Carried(_T.server_key_exchange, optional=True, when="an ECDHE suite, or a PSK hint"),
        Carried(_T.certificate_request, optional=True, when="the server verifies clients"),
        Carried(_T.server_hello_done),
    ),
    summary="ServerHello ... ServerHelloDone",
)
"Flight 4 of a full handshake: ServerHello through ServerHelloDone."
CLIENT_FINISHED = Flight(
    5,
    _CLIENT,
    (
        Carried(_T.certificate, optional=True, when="the server asked for one"),
        Carried(_T.client_key_exchange),
        Carried(_T.certificate_verify, optional=True, when="the client sent a certificate"),
        _CCS,
        Carried(_T.finished),
    ),
    summary="ClientKeyExchange ... Finished",
)
"Flight 5 of a full handshake: the client's key exchange, ChangeCipherSpec and Finished."
SERVER_FINISHED = Flight(
    6,
    _SERVER,
    (
        Carried(_T.new_session_ticket, optional=True, when="the ServerHello promised a ticket"),
        _CCS,
        Carried(_T.finished),
    ),
    final=True,
)
"Flight 6, the last of a full handshake: [NewSessionTicket] ChangeCipherSpec Finished."
RESUMED_SERVER_HELLO = Flight(
    4,
    _SERVER,
    (
        Carried(_T.server_hello),
        Carried(_T.new_session_ticket, optional=True, when="the ServerHello promised a ticket"),
        _CCS,
        Carried(_T.finished),
    ),
)
"The server's flight of an abbreviated handshake (RFC 5246 §7.3, RFC 5077 §3.1; pion's 4b)."
RESUMED_CLIENT_FINISHED = Flight(5, _CLIENT, (_CCS, Carried(_T.finished)), final=True)
"The client's last flight of an abbreviated handshake (pion's 5b)."

FULL = HandshakeShape(
    "full handshake",
    (
        CLIENT_HELLO,
        HELLO_VERIFY_REQUEST,
        CLIENT_HELLO_WITH_COOKIE,
        SERVER_HELLO,
        CLIENT_FINISHED,
        SERVER_FINISHED,
    ),
)
"The full handshake's flights in order (RFC 6347 §4.2.4); without cookie, 2 and 3 drop out."
ABBREVIATED = HandshakeShape(
    "abbreviated handshake",
    (
        CLIENT_HELLO,
        HELLO_VERIFY_REQUEST,
        CLIENT_HELLO_WITH_COOKIE,
        RESUMED_SERVER_HELLO,
        RESUMED_CLIENT_FINISHED,
    ),
)
"The abbreviated (resumed) handshake's flights in order (RFC 5246 §7.3, RFC 5077)."


# -- DTLS 1.2: the states and transitions ---------------------------------------------------


class ClientState(enum.Enum):
    """Where the client is in the handshake."""

    CLIENT_START = enum.auto()
    CLIENT_EXPECT_SERVER_HELLO = enum.auto()
    CLIENT_EXPECT_CERTIFICATE = enum.auto()
    CLIENT_EXPECT_SERVER_KEY_EXCHANGE = enum.auto()
    CLIENT_EXPECT_PSK_HINT_OR_SERVER_HELLO_DONE = enum.auto()
    CLIENT_EXPECT_CERTIFICATE_REQUEST_OR_SERVER_HELLO_DONE = enum.auto()
    CLIENT_EXPECT_SERVER_HELLO_DONE = enum.auto()
    CLIENT_EXPECT_NEW_SESSION_TICKET = enum.auto()
    CLIENT_EXPECT_FINISHED = enum.auto()
    CLIENT_POST_HANDSHAKE = enum.auto()

    # Members are singletons compared by identity, so the identity hash agrees with equality;
    # Enum's own __hash__ is Python code, run for every message (handle() looks the state up
    # in the dispatch table).
    __hash__ = object.__hash__


class ServerState(enum.Enum):
    """Where the server is in the handshake."""

    SERVER_EXPECT_CLIENT_HELLO = enum.auto()
    SERVER_EXPECT_CERTIFICATE = enum.auto()
    SERVER_EXPECT_CLIENT_KEY_EXCHANGE = enum.auto()
    SERVER_EXPECT_CERTIFICATE_VERIFY = enum.auto()
    SERVER_EXPECT_FINISHED = enum.auto()
    SERVER_POST_HANDSHAKE = enum.auto()

    __hash__ = object.__hash__


_C = ClientState
_S = ServerState

# Flight 4 is complete: the handler sends flight 5; then NewSessionTicket if the ServerHello
# promised one (RFC 5077 §3.3), and Finished.
_SERVER_HELLO_DONE = choose(
    "_on_server_hello_done",
    "_after_server_keys",
    ticket_promised=_C.CLIENT_EXPECT_NEW_SESSION_TICKET,
    no_ticket=_C.CLIENT_EXPECT_FINISHED,
)

CLIENT = RoleTable(
    side=_CLIENT,
    initial=_C.CLIENT_START,
    started=_C.CLIENT_EXPECT_SERVER_HELLO,
    done=_C.CLIENT_POST_HANDSHAKE,
    transitions={
        _C.CLIENT_EXPECT_SERVER_HELLO: {
            # Flight 2, a HelloVerifyRequest, is not a row: it is answered (with flight 3)
            # outside the message sequence, by ClientHandshake.receive_hello_verify_request,
            # and the state stays (SPEC C6).
            _T.server_hello: choose(
                "_on_server_hello",
                "_after_server_hello",
                resumed_with_ticket=_C.CLIENT_EXPECT_NEW_SESSION_TICKET,
                resumed=_C.CLIENT_EXPECT_FINISHED,
                psk=_C.CLIENT_EXPECT_PSK_HINT_OR_SERVER_HELLO_DONE,
                # RFC 5489 §2: no certificates; the ServerKeyExchange is always sent.
                ecdhe_psk=_C.CLIENT_EXPECT_SERVER_KEY_EXCHANGE,
                certificate=_C.CLIENT_EXPECT_CERTIFICATE,
            ),
        },
        _C.CLIENT_EXPECT_CERTIFICATE: {
            _T.certificate: goto("_on_certificate", _C.CLIENT_EXPECT_SERVER_KEY_EXCHANGE),
        },
        _C.CLIENT_EXPECT_SERVER_KEY_EXCHANGE: {
            _T.server_key_exchange: choose(
                "_on_server_key_exchange",
                "_after_server_key_exchange",
                psk_hint=_C.CLIENT_EXPECT_SERVER_HELLO_DONE,
                signed=_C.CLIENT_EXPECT_CERTIFICATE_REQUEST_OR_SERVER_HELLO_DONE,
            ),
        },
        _C.CLIENT_EXPECT_PSK_HINT_OR_SERVER_HELLO_DONE: {
            _T.server_key_exchange: goto(
                "_on_server_key_exchange", _C.CLIENT_EXPECT_SERVER_HELLO_DONE
            ),
            _T.server_hello_done: _SERVER_HELLO_DONE,
        },
        _C.CLIENT_EXPECT_CERTIFICATE_REQUEST_OR_SERVER_HELLO_DONE: {
            _T.certificate_request: goto(
                "_on_certificate_request", _C.CLIENT_EXPECT_SERVER_HELLO_DONE
            ),
            _T.server_hello_done: _SERVER_HELLO_DONE,
        },
        _C.CLIENT_EXPECT_SERVER_HELLO_DONE: {
            _T.server_hello_done: _SERVER_HELLO_DONE,
        },
        _C.CLIENT_EXPECT_NEW_SESSION_TICKET: {
            _T.new_session_ticket: goto("_on_new_session_ticket", _C.CLIENT_EXPECT_FINISHED),
        },
        _C.CLIENT_EXPECT_FINISHED: {
            # Resumed, the handler sends the final flight (RESUMED_CLIENT_FINISHED).
            _T.finished: goto("_on_finished", _C.CLIENT_POST_HANDSHAKE),
        },
    },
)
"The DTLS 1.2 client's transitions: per state, each accepted message's handler and next state."

SERVER = RoleTable(
    side=_SERVER,
    initial=_S.SERVER_EXPECT_CLIENT_HELLO,
    started=_S.SERVER_EXPECT_CLIENT_HELLO,
    done=_S.SERVER_POST_HANDSHAKE,
    transitions={
        _S.SERVER_EXPECT_CLIENT_HELLO: {
            # Only the ClientHello the cookie door admitted gets here (ServerHandshake.start):
            # the handler answers with flight 4, or (resuming) the abbreviated flight 4.
            _T.client_hello: choose(
                "_on_client_hello",
                "_after_client_hello",
                resumed=_S.SERVER_EXPECT_FINISHED,
                certificate_requested=_S.SERVER_EXPECT_CERTIFICATE,
                no_certificate_requested=_S.SERVER_EXPECT_CLIENT_KEY_EXCHANGE,
            ),
        },
        _S.SERVER_EXPECT_CERTIFICATE: {
            _T.certificate: goto("_on_certificate", _S.SERVER_EXPECT_CLIENT_KEY_EXCHANGE),
        },
        _S.SERVER_EXPECT_CLIENT_KEY_EXCHANGE: {
            _T.client_key_exchange: choose(
                "_on_client_key_exchange",
                "_after_client_key_exchange",
                client_certificate=_S.SERVER_EXPECT_CERTIFICATE_VERIFY,
                no_client_certificate=_S.SERVER_EXPECT_FINISHED,
            ),
        },
        _S.SERVER_EXPECT_CERTIFICATE_VERIFY: {
            _T.certificate_verify: goto("_on_certificate_verify", _S.SERVER_EXPECT_FINISHED),
        },
        _S.SERVER_EXPECT_FINISHED: {
            # A full handshake: the handler sends the final flight 6.
            _T.finished: goto("_on_finished", _S.SERVER_POST_HANDSHAKE),
        },
    },
)
"The DTLS 1.2 server's transitions: per state, each accepted message's handler and next state."

DTLS12 = HandshakeTable("DTLS 1.2", (FULL, ABBREVIATED), CLIENT, SERVER)
"The DTLS 1.2 handshake (RFC 6347 §4.2, RFC 5246 §7.3, RFC 5077)."


# -- DTLS 1.3: the flights ------------------------------------------------------------------
#
# RFC 9147 §5 on RFC 8446 §2: no ChangeCipherSpec; each message says its epoch (0 in the
# clear, 2 under the handshake traffic keys, 3 under the application traffic keys). Flights
# 2 and 3 are there only when the server answers with a HelloRetryRequest (another group,
# or a cookie). The client's last flight is acknowledged by the server (RFC 9147 §7).


def _c13(msg_type: HandshakeType, epoch: int, when: str = "") -> Carried:
    return Carried(msg_type, optional=bool(when), when=when, epoch=epoch)


CLIENT_HELLO13 = Flight(1, _CLIENT, (_c13(_T.client_hello, 0),))
"Flight 1 of DTLS 1.3: the ClientHello with key_share (RFC 9147 §5.3, RFC 8446 §4.1.2)."
HELLO_RETRY_REQUEST13 = Flight(
    2,
    _SERVER,
    (_c13(_T.server_hello, 0),),
    stateless=True,
    cookie_exchange=True,
    summary="HelloRetryRequest",
)
"""Flight 2: a HelloRetryRequest (a ServerHello with the special random, RFC 8446 §4.1.4):
another group, a cookie (RFC 9147 §5.1), or both. Never retransmitted: the client repeats
its ClientHello."""
CLIENT_HELLO_RETRY13 = Flight(
    3,
    _CLIENT,
    (_c13(_T.client_hello, 0),),
    cookie_exchange=True,
    summary="ClientHello after HelloRetryRequest",
)
"Flight 3: the ClientHello again, with the requested key share and the cookie."
SERVER_HELLO13 = Flight(
    4,
    _SERVER,
    (
        _c13(_T.server_hello, 0),
        _c13(_T.encrypted_extensions, 2),
        _c13(_T.certificate_request, 2, "the server verifies clients"),
        _c13(_T.certificate, 2, "certificate authentication (no PSK)"),
        _c13(_T.certificate_verify, 2, "certificate authentication (no PSK)"),
        _c13(_T.finished, 2),
    ),
    summary="ServerHello ... Finished",
)
"Flight 4: ServerHello in the clear, then EncryptedExtensions ... Finished in epoch 2."
CLIENT_FINISHED13 = Flight(
    5,
    _CLIENT,
    (
        _c13(_T.certificate, 2, "the server asked for one"),
        _c13(_T.certificate_verify, 2, "the client sent a certificate"),
        _c13(_T.finished, 2),
    ),
    final=True,
    summary="Finished",
)
"""Flight 5, the client's last: [Certificate CertificateVerify] Finished in epoch 2. The
server acknowledges it with an ACK (RFC 9147 §5.8.3, §7)."""
NEW_SESSION_TICKET13 = Flight(6, _SERVER, (_c13(_T.new_session_ticket, 3),))
"After the handshake, the server's NewSessionTicket (RFC 8446 §4.6.1), acknowledged by an ACK."
KEY_UPDATE13 = Flight(
    7, _CLIENT, (_c13(_T.key_update, 3),), summary="KeyUpdate (either side, epoch 3 or later)"
)
"""After the handshake, a KeyUpdate from either side (RFC 8446 §4.6.3, RFC 9147 §8); sent in
the sender's current epoch (3 or later), acknowledged by an ACK."""
REQUEST_CONNECTION_ID13 = Flight(
    8,
    _CLIENT,
    (_c13(_T.request_connection_id, 3),),
    summary="RequestConnectionId (either side, with a non-empty CID to send)",
)
"""After the handshake, a RequestConnectionId from either side (RFC 9147 §9): only when the
CID it sends is not empty, one unfulfilled at a time; acknowledged by an ACK."""
NEW_CONNECTION_ID13 = Flight(
    9,
    _SERVER,
    (_c13(_T.new_connection_id, 3),),
    summary="NewConnectionId (either side, with a non-empty CID of its own)",
)
"""After the handshake, a NewConnectionId from either side (RFC 9147 §9): the answer to a
RequestConnectionId (spare CIDs); only when the sender's own CID is not empty, one
outstanding at a time; acknowledged by an ACK."""

FULL13 = HandshakeShape(
    "DTLS 1.3 handshake",
    (
        CLIENT_HELLO13,
        HELLO_RETRY_REQUEST13,
        CLIENT_HELLO_RETRY13,
        SERVER_HELLO13,
        CLIENT_FINISHED13,
    ),
)
"""The DTLS 1.3 handshake, with certificates or a PSK (external or resumption): without a
HelloRetryRequest, flights 2 and 3 drop out."""
POST_HANDSHAKE13 = HandshakeShape(
    "DTLS 1.3 post-handshake messages",
    (NEW_SESSION_TICKET13, KEY_UPDATE13, REQUEST_CONNECTION_ID13, NEW_CONNECTION_ID13),
)
"Messages after the handshake, each acknowledged on its own."


# -- DTLS 1.3: the states and transitions ---------------------------------------------------


class Client13State(enum.Enum):
    """Where the DTLS 1.3 client is (RFC 8446 Appendix A.1)."""

    CLIENT13_START = enum.auto()
    CLIENT13_WAIT_SERVER_HELLO = enum.auto()
    CLIENT13_WAIT_ENCRYPTED_EXTENSIONS = enum.auto()
    CLIENT13_WAIT_CERTIFICATE_OR_REQUEST = enum.auto()
    CLIENT13_WAIT_CERTIFICATE = enum.auto()
    CLIENT13_WAIT_CERTIFICATE_VERIFY = enum.auto()
    CLIENT13_WAIT_FINISHED = enum.auto()
    CLIENT13_CONNECTED = enum.auto()

    __hash__ = object.__hash__


class Server13State(enum.Enum):
    """Where the DTLS 1.3 server is (RFC 8446 Appendix A.2)."""

    SERVER13_WAIT_CLIENT_HELLO = enum.auto()
    SERVER13_WAIT_SECOND_CLIENT_HELLO = enum.auto()
    SERVER13_WAIT_CERTIFICATE = enum.auto()
    SERVER13_WAIT_CERTIFICATE_VERIFY = enum.auto()
    SERVER13_WAIT_FINISHED = enum.auto()
    SERVER13_CONNECTED = enum.auto()

    __hash__ = object.__hash__


_C13 = Client13State
_S13 = Server13State

CLIENT13 = RoleTable(
    side=_CLIENT,
    initial=_C13.CLIENT13_START,
    started=_C13.CLIENT13_WAIT_SERVER_HELLO,
    done=_C13.CLIENT13_CONNECTED,
    transitions={
        _C13.CLIENT13_WAIT_SERVER_HELLO: {
            # A HelloRetryRequest is a ServerHello with the special random: the handler
            # answers it with flight 3 and waits for the real one (a second one is refused).
            _T.server_hello: choose(
                "_on_server_hello",
                "_after_server_hello",
                hello_retry=_C13.CLIENT13_WAIT_SERVER_HELLO,
                server_hello=_C13.CLIENT13_WAIT_ENCRYPTED_EXTENSIONS,
            ),
        },
        _C13.CLIENT13_WAIT_ENCRYPTED_EXTENSIONS: {
            _T.encrypted_extensions: choose(
                "_on_encrypted_extensions",
                "_after_encrypted_extensions",
                psk=_C13.CLIENT13_WAIT_FINISHED,
                certificate=_C13.CLIENT13_WAIT_CERTIFICATE_OR_REQUEST,
            ),
        },
        _C13.CLIENT13_WAIT_CERTIFICATE_OR_REQUEST: {
            _T.certificate_request: goto("_on_certificate_request", _C13.CLIENT13_WAIT_CERTIFICATE),
            _T.certificate: goto("_on_certificate", _C13.CLIENT13_WAIT_CERTIFICATE_VERIFY),
        },
        _C13.CLIENT13_WAIT_CERTIFICATE: {
            _T.certificate: goto("_on_certificate", _C13.CLIENT13_WAIT_CERTIFICATE_VERIFY),
        },
        _C13.CLIENT13_WAIT_CERTIFICATE_VERIFY: {
            _T.certificate_verify: goto("_on_certificate_verify", _C13.CLIENT13_WAIT_FINISHED),
        },
        _C13.CLIENT13_WAIT_FINISHED: {
            # The handler sends flight 5 and installs the application keys.
            _T.finished: goto("_on_finished", _C13.CLIENT13_CONNECTED),
        },
        _C13.CLIENT13_CONNECTED: {
            _T.new_session_ticket: goto("_on_new_session_ticket", _C13.CLIENT13_CONNECTED),
            _T.key_update: goto("_on_key_update", _C13.CLIENT13_CONNECTED),
            _T.request_connection_id: goto("_on_request_connection_id", _C13.CLIENT13_CONNECTED),
            _T.new_connection_id: goto("_on_new_connection_id", _C13.CLIENT13_CONNECTED),
        },
    },
)
"The DTLS 1.3 client's transitions."

SERVER13 = RoleTable(
    side=_SERVER,
    initial=_S13.SERVER13_WAIT_CLIENT_HELLO,
    started=_S13.SERVER13_WAIT_CLIENT_HELLO,
    done=_S13.SERVER13_CONNECTED,
    transitions={
        _S13.SERVER13_WAIT_CLIENT_HELLO: {
            # The handler answers with a HelloRetryRequest (flight 2) or flight 4.
            _T.client_hello: choose(
                "_on_client_hello",
                "_after_client_hello",
                hello_retry=_S13.SERVER13_WAIT_SECOND_CLIENT_HELLO,
                psk=_S13.SERVER13_WAIT_FINISHED,
                certificate_requested=_S13.SERVER13_WAIT_CERTIFICATE,
                no_certificate_requested=_S13.SERVER13_WAIT_FINISHED,
            ),
        },
        _S13.SERVER13_WAIT_SECOND_CLIENT_HELLO: {
            _T.client_hello: choose(
                "_on_client_hello",
                "_after_client_hello",
                psk=_S13.SERVER13_WAIT_FINISHED,
                certificate_requested=_S13.SERVER13_WAIT_CERTIFICATE,
                no_certificate_requested=_S13.SERVER13_WAIT_FINISHED,
            ),
        },
        _S13.SERVER13_WAIT_CERTIFICATE: {
            _T.certificate: choose(
                "_on_certificate",
                "_after_certificate",
                client_certificate=_S13.SERVER13_WAIT_CERTIFICATE_VERIFY,
                no_client_certificate=_S13.SERVER13_WAIT_FINISHED,
            ),
        },
        _S13.SERVER13_WAIT_CERTIFICATE_VERIFY: {
            _T.certificate_verify: goto("_on_certificate_verify", _S13.SERVER13_WAIT_FINISHED),
        },
        _S13.SERVER13_WAIT_FINISHED: {
            _T.finished: goto("_on_finished", _S13.SERVER13_CONNECTED),
        },
        _S13.SERVER13_CONNECTED: {
            _T.key_update: goto("_on_key_update", _S13.SERVER13_CONNECTED),
            _T.request_connection_id: goto("_on_request_connection_id", _S13.SERVER13_CONNECTED),
            _T.new_connection_id: goto("_on_new_connection_id", _S13.SERVER13_CONNECTED),
        },
    },
)
"The DTLS 1.3 server's transitions."

DTLS13 = HandshakeTable("DTLS 1.3", (FULL13, POST_HANDSHAKE13), CLIENT13, SERVER13)
"The DTLS 1.3 handshake (RFC 9147 §5 on RFC 8446 §4)."

POST_HANDSHAKE_TYPES13 = frozenset(
    {
        int(_T.new_session_ticket),
        int(_T.key_update),
        int(_T.request_connection_id),
        int(_T.new_connection_id),
    }
)
"""Messages after the handshake: they come in the sender's current epoch (3 or later after
KeyUpdates), so only a lower bound is checked."""
