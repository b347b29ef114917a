"""DTLS 1.3's cookie exchange on the wire: the stateless HelloRetryRequest (RFC 9147 §5.1,
RFC 8446 §4.2.2, §4.4.1).

Owns the part of the cookie door (``cookie``) that is particular to DTLS 1.3, beside DTLS
1.2's ``hello_verify``: where the client returns the cookie (the cookie extension of its
second ClientHello), what the cookie carries and binds, and the datagram that gives a new
cookie to the client (a HelloRetryRequest, with the key_share group the server wants when
the client's share is not for one it takes).

A stateless server must rebuild the transcript of the second ClientHello: message_hash
(ClientHello1) || HelloRetryRequest || ClientHello2 (RFC 8446 §4.4.1). So the cookie the
client echoes is ``door cookie || state``, where ``state`` is the suite and group the
HelloRetryRequest chose and the hash of ClientHello1; the door's MAC (``CookieSecrets``) covers
the client's address, the ClientHello fields a second ClientHello repeats (version, random,
legacy_session_id, suites, compression) and ``state``, so neither can be changed.
:meth:`HelloRetryExchange.cookie_state` gives the admitted ClientHello's state to
``ServerHandshake13.start(..., cookie_state=...)``, which rebuilds the HelloRetryRequest
byte for byte (``server13.hello_retry_request``).

A ClientHello that does not offer DTLS 1.3 gets DTLS 1.2's HelloVerifyRequest, so one door
serves a server that speaks both versions.

The door calls :meth:`HelloRetryExchange.read` and then, for a ClientHello without a valid
cookie, :meth:`HelloRetryExchange.challenge` for the same ClientHello, synchronously: the
piece keeps what ``read`` decided for ``challenge`` (one pending ClientHello, no other state).
"""

from __future__ import annotations

import struct

from cryptography.hazmat.primitives import hashes

from ..alerts import Alert, AlertHandshakeFailure, AlertIllegalParameter
from ..buffer import BufferReadError
from ..configuration import DtlsConfiguration
from ..record.header import DTLS1_2, ContentType, encode_record_header
from ..reliability.fragments import encode_handshake_fragment
from ..suites import EXTERNAL_PSK_HASH, NamedGroup, ProtocolVersion, Suite13, suite13_hash
from .cookie import COOKIE_LENGTH, CookieExchange
from .hello_verify import HELLO_VERIFY_REQUEST
from .messages import ClientHello, ExtensionType, HandshakeType, encode_client_hello
from .messages.extensions import find_extension
from .messages.tls13 import transcript_message
from .server13 import (
    HelloRetryState,
    choose_group,
    choose_suite,
    client_offers_dtls13,
    echoed_session_id,
    hello_retry_request,
    read_cookie,
)

__all__ = ["HelloRetryExchange", "cookie_exchange_for", "encode_hello_retry_request_datagram"]

_STATE = struct.Struct("!HH")  # suite, group (0: none asked)


def encode_hello_retry_request_datagram(
    record_sequence_number: int, state: HelloRetryState, session_id: bytes = b""
) -> bytes:
    """A whole HelloRetryRequest datagram: one DTLSPlaintext record of epoch 0 (version
    0xFEFD, RFC 9147 §4) reusing the ClientHello's record sequence number, as the
    HelloVerifyRequest does, and message_seq 0."""
    body = hello_retry_request(state, session_id)
    fragment = encode_handshake_fragment(HandshakeType.server_hello, 0, body)
    return (
        encode_record_header(
            ContentType.handshake, DTLS1_2, 0, record_sequence_number, len(fragment)
        )
        + fragment
    )


class HelloRetryExchange:
    """The DTLS 1.3 piece of the cookie door (``cookie.CookieExchange``) for one server
    configuration (its suites and groups decide what the HelloRetryRequest asks for)."""

    def __init__(self, configuration: DtlsConfiguration) -> None:
        self.configuration = configuration
        self._pending: tuple[ClientHello, HelloRetryState | None] | None = None

    def read(self, hello: ClientHello) -> tuple[bytes, bytes]:
        """(the door's part of the cookie ``hello`` returns, empty if none; the fields the
        cookie binds)."""
        if not client_offers_dtls13(hello):
            self._pending = (hello, None)
            return HELLO_VERIFY_REQUEST.read(hello)
        _, fields = HELLO_VERIFY_REQUEST.read(hello)
        try:
            wire = read_cookie(hello)
        except ValueError:  # a malformed cookie extension is no cookie
            wire = b""
        if wire:
            # A second ClientHello: the state is what the cookie says; the MAC tells if so.
            # Refused, it gets a new HelloRetryRequest like any ClientHello without a valid
            # cookie (SPEC C5), which a client refuses as a second one: the cookie of another
            # address, an expired one or a forged one ends there.
            self._pending = (hello, self._decide(hello))
            return wire[:COOKIE_LENGTH], fields + wire[COOKIE_LENGTH:]
        state = self._decide(hello)
        self._pending = (hello, state)
        return b"", fields + _encode_state(state)

    def _decide(self, hello: ClientHello) -> HelloRetryState:
        """What the HelloRetryRequest fixes: our suite, our group if the client's share is
        not for one we take, and the hash of ClientHello1 with the suite's hash."""
        config = self.configuration
        suites = config.effective_suites13()
        if (config.psk is not None or config.psk_lookup is not None) and find_extension(
            hello.extensions, ExtensionType.pre_shared_key
        ) is not None:
            # The client may offer our external PSK, which keys only SHA-256 suites (RFC 8446
            # §4.2.11: external PSKs "SHOULD influence cipher suite selection"): choose what
            # ServerHandshake13 would choose for it without a HelloRetryRequest. Another
            # suite would leave the second ClientHello without the PSK (§4.1.2).
            fits = EXTERNAL_PSK_HASH.name
            suites = [s for s in suites if suite13_hash(s).name == fits] + [
                s for s in suites if suite13_hash(s).name != fits
            ]
        suite = choose_suite(suites, hello) or suites[0]
        try:
            group, share = choose_group(config.groups, hello.extensions)
        except (Alert, BufferReadError):  # inconsistent shares: the handshake refuses them
            group, share = None, None
        digest = hashes.Hash(suite13_hash(suite))
        digest.update(transcript_message(HandshakeType.client_hello, encode_client_hello(hello)))
        return HelloRetryState(
            suite, group if share is None else None, digest.finalize(), cookie=b""
        )

    def challenge(self, record_sequence_number: int, cookie: bytes) -> bytes:
        """The datagram giving ``cookie`` to the client of the ClientHello just read."""
        assert self._pending is not None, "challenge() follows read() of the same ClientHello"
        hello, state = self._pending
        self._pending = None
        if state is None:
            return HELLO_VERIFY_REQUEST.challenge(record_sequence_number, cookie)
        wire = cookie + _encode_state(state)
        full = HelloRetryState(state.suite, state.group, state.client_hello1_hash, wire)
        echo = echoed_session_id(self.configuration, hello.session_id)
        return encode_hello_retry_request_datagram(record_sequence_number, full, echo)

    @property
    def amplification(self) -> int:
        """3 for a HelloRetryRequest (RFC 9147 §5.1: "SHOULD NOT send more than three times
        the received bytes" before the address is validated; SPEC V8), so that it goes
        twice like DTLS 1.2's HelloVerifyRequest (its loss would otherwise cost the client's
        blind timer: docs/reliability.md); 1 for a HelloVerifyRequest (SPEC X14)."""
        pending = self._pending
        return 3 if pending is not None and pending[1] is not None else 1

    def refusal(self, hello: ClientHello, cookie_refused: bool) -> Alert | None:
        """DTLS 1.3 refuses rather than challenges (RFC 9147 §5.1, §5.3; SPEC V8): a
        ClientHello whose cookie did not verify (illegal_parameter: a new HelloRetryRequest
        would repeat message_seq 0, which the client ignores, and both would time out), one
        with a non-empty legacy_cookie (illegal_parameter), and one without a suite we take
        (handshake_failure: a HelloRetryRequest may only name a suite the client offered).
        A ClientHello that offers only DTLS 1.2 is challenged as DTLS 1.2 does."""
        if not client_offers_dtls13(hello):
            return None
        if hello.cookie:
            return AlertIllegalParameter("a DTLS 1.3 ClientHello with a legacy_cookie")
        if cookie_refused:
            return AlertIllegalParameter("the HelloRetryRequest cookie does not verify")
        if choose_suite(self.configuration.effective_suites13(), hello) is None:
            return AlertHandshakeFailure("no DTLS 1.3 cipher suite in common")
        return None

    @staticmethod
    def cookie_state(hello: ClientHello) -> HelloRetryState | None:
        """The state the admitted second ClientHello's cookie carries (for
        ``ServerHandshake13.start``), or None if it has no DTLS 1.3 cookie."""
        try:
            wire = read_cookie(hello)
        except ValueError:
            return None
        return _decode_state(wire)


def _encode_state(state: HelloRetryState) -> bytes:
    group = 0 if state.group is None else int(state.group)
    return _STATE.pack(int(state.suite), group) + state.client_hello1_hash


def _decode_state(wire: bytes) -> HelloRetryState | None:
    rest = wire[COOKIE_LENGTH:]
    if len(rest) < _STATE.size:
        return None
    suite_value, group_value = _STATE.unpack_from(rest)
    try:
        suite = Suite13(suite_value)
        group = NamedGroup(group_value) if group_value else None
    except ValueError:
        return None
    digest = rest[_STATE.size :]
    if len(digest) != suite13_hash(suite).digest_size:
        return None
    return HelloRetryState(suite, group, digest, cookie=wire)


def cookie_exchange_for(configuration: DtlsConfiguration) -> CookieExchange:
    """The cookie exchange of a server's door: a HelloRetryRequest for a ClientHello that
    offers DTLS 1.3 when the configuration allows it (and a HelloVerifyRequest for the
    others), else DTLS 1.2's HelloVerifyRequest alone."""
    if ProtocolVersion.DTLSv1_3 in configuration.versions:
        return HelloRetryExchange(configuration)
    return HELLO_VERIFY_REQUEST
