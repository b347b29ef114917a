"""Resumption inside one handshake: which session to offer or accept, and what it restores.

The client offers ``DtlsConfiguration.session`` (its session ID and/or RFC 5077 ticket) and
learns from the ServerHello whether the server resumed it (it echoes our session ID). The server
opens the ticket or looks the session ID up in ``DtlsConfiguration.session_store`` and resumes
only if everything that matters still holds (suite, EMS per SPEC E3, server name, ALPN, SRTP,
PSK identity, client certificate, lifetime); anything unusable means a full handshake, except an
EMS session offered without EMS, which RFC 7627 §5.3 says to abort. The messages and flights
stay in ``client`` and ``server``; the stored bytes in :mod:`aiodtls.resumption`.
"""

from __future__ import annotations

import os
import ssl

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_public_key,
)

from ..alerts import Alert, AlertDecodeError, AlertHandshakeFailure, AlertIllegalParameter
from ..configuration import DtlsConfiguration
from ..resumption import MAX_TICKET_LENGTH, ServerSessionStore, Session, SessionState
from ..suites import CipherSuite, suite_info
from .certificates import check_peer_certificates
from .messages import ClientHello, ExtensionType, NewSessionTicket, ServerHello, find_extension
from .rawkeys import check_peer_raw_public_key
from .state import HandshakeResult

__all__ = [
    "NO_CLIENT_RESUMPTION",
    "NO_SERVER_RESUMPTION",
    "ClientResumption",
    "ServerResumption",
    "session_state",
]


def session_state(result: HandshakeResult, master_secret: bytes, issued_at: float) -> SessionState:
    """What a completed handshake leaves to resume from."""
    assert result.suite is not None
    return SessionState(
        suite=int(result.suite.suite),
        master_secret=master_secret,
        extended_master_secret=result.extended_master_secret,
        issued_at=issued_at,
        peer_certificates=tuple(c.public_bytes(Encoding.DER) for c in result.peer_certificates),
        psk_identity=result.psk_identity,
        alpn_protocol=result.alpn_protocol,
        srtp_profile=int(result.srtp_profile) if result.srtp_profile is not None else None,
        srtp_mki=result.srtp_mki,
        server_name=result.server_name,
        peer_public_key=(
            None
            if result.peer_public_key is None
            else result.peer_public_key.public_bytes(
                Encoding.DER, PublicFormat.SubjectPublicKeyInfo
            )
        ),
    )


PeerIdentity = tuple[list[x509.Certificate], ec.EllipticCurvePublicKey | rsa.RSAPublicKey | None]
"What a resumed handshake takes over as the peer's proven identity: its chain or raw key."


def _restore(state: SessionState, result: HandshakeResult, identity: PeerIdentity) -> None:
    result.suite = suite_info(CipherSuite(state.suite))
    result.group = None
    result.peer_certificates, result.peer_public_key = identity
    result.psk_identity = state.psk_identity
    result.extended_master_secret = state.extended_master_secret
    result.resumed = True


# -- server ---------------------------------------------------------------------------------


class ServerResumption:
    """The server's resumption decisions for one handshake."""

    def __init__(self, store: ServerSessionStore | None) -> None:
        self.store = store
        self.state: SessionState | None = None
        "The session being resumed; None for a full handshake."
        self.session_id = b""
        "The session ID of our ServerHello."
        self.issue_ticket = False
        "Whether our last flight carries a NewSessionTicket (and the ServerHello says so)."

    @classmethod
    def on_client_hello(
        cls,
        config: DtlsConfiguration,
        hello: ClientHello,
        result: HandshakeResult,
        now: float,
    ) -> ServerResumption:
        """Decide after ``_negotiate`` filled ``result`` from ``hello``; on resumption
        ``result`` is overwritten with the session's parameters. Raises only for SPEC E3."""
        store = config.session_store
        if store is None:
            return NO_SERVER_RESUMPTION
        decision = cls(store)
        ticket = find_extension(hello.extensions, ExtensionType.session_ticket)
        wants_ticket = ticket is not None and store.tickets
        candidate: SessionState | None = None
        renew = False
        # RFC 5077 §3.4: we say "resumed" by echoing the client's session ID, so a ticket
        # offered without one is not resumed (a full handshake issues a new ticket).
        if ticket and hello.session_id:
            opened = store.open_ticket(ticket, now)
            if opened is not None:
                candidate, renew = opened
        if candidate is None and hello.session_id:
            candidate = store.lookup(hello.session_id, now)
        identity = _usable_on_server(config, hello, result, candidate) if candidate else None
        if candidate is not None and identity is not None:
            decision.state = candidate
            decision.session_id = hello.session_id
            # A ticket from an older key gets a fresh one; its lifetime still counts from the
            # full handshake (issued_at is kept), so every session ends at session_lifetime.
            decision.issue_ticket = wants_ticket and renew
            _restore(candidate, result, identity)
            return decision
        decision.session_id = store.new_session_id()
        decision.issue_ticket = wants_ticket
        return decision

    def new_session_ticket(
        self, result: HandshakeResult, master_secret: bytes, now: float
    ) -> NewSessionTicket:
        """The NewSessionTicket of our last flight."""
        assert self.store is not None
        state = self.state or session_state(result, master_secret, now)
        remaining = state.issued_at + self.store.session_lifetime - now
        return NewSessionTicket(max(0, int(remaining)), self.store.seal_ticket(state, now))

    def completed(self, result: HandshakeResult, master_secret: bytes, now: float) -> None:
        """A full handshake completed: cache the session under our session ID."""
        if self.store is not None and self.state is None and self.session_id:
            self.store.remember(self.session_id, session_state(result, master_secret, now), now)


NO_SERVER_RESUMPTION = ServerResumption(None)
"""The decision of every handshake without a store, and of every finished one (shared, so a
connection keeps no per-connection object for it; never modified)."""


def _usable_on_server(
    config: DtlsConfiguration,
    hello: ClientHello,
    result: HandshakeResult,
    state: SessionState,
) -> PeerIdentity | None:
    """The client's identity to restore if ``state`` may be resumed for ``hello``, else None."""
    # SPEC E3 (RFC 7627 §5.3): an EMS session offered without EMS is an attack or a broken
    # client: abort. A session without EMS offered with it: a full handshake.
    if state.extended_master_secret and not result.extended_master_secret:
        raise AlertHandshakeFailure(
            "client resumes an extended-master-secret session without extended_master_secret"
        )
    if result.extended_master_secret != state.extended_master_secret:
        return None
    suites = [int(s) for s in config.effective_cipher_suites()]
    if state.suite not in suites or state.suite not in hello.cipher_suites:
        return None
    if (
        state.server_name != result.server_name  # RFC 6066 §3
        or state.alpn_protocol != result.alpn_protocol
        or state.srtp_profile != (int(result.srtp_profile) if result.srtp_profile else None)
    ):
        return None
    if state.psk_identity is not None:
        try:
            key = (
                config.psk_lookup(state.psk_identity)
                if config.psk_lookup is not None
                else config.psk
            )
        except Exception:
            return None
        if key is None:
            return None  # the identity is no longer known
    mode = config.effective_verify_mode()
    if state.peer_public_key is not None:
        # A raw key (RFC 7250): it must still match a pin (pins may have changed since).
        body = len(state.peer_public_key).to_bytes(3, "big") + state.peer_public_key
        try:
            raw_key = check_peer_raw_public_key(body, config, peer_is_server=False)
        except Alert:
            return None
        return ([], raw_key) if raw_key is not None else None
    if not state.peer_certificates:
        return None if mode == ssl.CERT_REQUIRED else ([], None)
    if mode == ssl.CERT_NONE:
        return [x509.load_der_x509_certificate(der) for der in state.peer_certificates], None
    try:  # trust, pins and validity may have changed since: check the chain again
        chain = check_peer_certificates(list(state.peer_certificates), config, peer_is_server=False)
    except Alert:
        return None
    return chain, None


# -- client ---------------------------------------------------------------------------------


class ClientResumption:
    """The client's offer of a session and what the server made of it."""

    def __init__(self, offered: Session | None, session_id: bytes, ticket: bytes | None) -> None:
        self.offered = offered
        "The session we offer, if any."
        self.session_id = session_id
        "The session ID of our ClientHello."
        self.ticket_extension = ticket
        "The body of our SessionTicket extension (our ticket, or empty to ask for one)."
        self.resumed = False
        self.expect_ticket = False
        "The ServerHello promised a NewSessionTicket."
        self.new_ticket: NewSessionTicket | None = None

    @classmethod
    def offer(cls, config: DtlsConfiguration, suites: list[CipherSuite]) -> ClientResumption:
        """What our ClientHello carries: ``config.session`` if it fits this handshake."""
        session = config.session
        if session is not None and not _usable_on_client(config, suites, session):
            session = None
        ask = b"" if config.session_tickets else None
        if session is None:
            return cls(None, b"", ask)
        if session.ticket is not None and config.session_tickets:
            # RFC 5077 §3.4: a session ID with the ticket lets the server say it resumed.
            return cls(session, session.session_id or os.urandom(32), session.ticket)
        if not session.session_id:
            return cls(None, b"", ask)
        return cls(session, session.session_id, ask)

    def on_server_hello(self, hello: ServerHello, result: HandshakeResult) -> bytes | None:
        """Whether the server resumed: the master secret to use, or None (full handshake).
        Raises on a resumption that contradicts the session (SPEC E3, X24)."""
        ticket = find_extension(hello.extensions, ExtensionType.session_ticket)
        if ticket is not None and ticket != b"":
            raise AlertDecodeError("the ServerHello's SessionTicket extension is not empty")
        self.expect_ticket = ticket is not None
        session = self.offered
        if session is None or not hello.session_id or hello.session_id != self.session_id:
            return None
        state = session.state
        if hello.cipher_suite != state.suite:
            raise AlertIllegalParameter("server resumed the session with another cipher suite")
        if result.extended_master_secret != state.extended_master_secret:
            # RFC 7627 §5.3: any EMS mismatch on resumption aborts, on the client (SPEC E3).
            raise AlertHandshakeFailure(
                "server resumed the session with a different extended_master_secret"
            )
        chain = [x509.load_der_x509_certificate(der) for der in state.peer_certificates]
        key = None if state.peer_public_key is None else load_der_public_key(state.peer_public_key)
        if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | None):
            raise AlertIllegalParameter("the session's raw public key cannot sign")  # not ours
        _restore(state, result, (chain, key))
        self.resumed = True
        return state.master_secret

    def session_after(
        self, hello: ServerHello, result: HandshakeResult, master_secret: bytes, now: float
    ) -> Session | None:
        """The session to resume next time, once the handshake completed."""
        ticket = self.new_ticket
        if self.resumed and self.offered is not None:
            if ticket is None:
                return self.offered
            return Session(
                self.offered.session_id, ticket.ticket, ticket.ticket_lifetime_hint,
                self.offered.state,
            )  # fmt: skip
        if not hello.session_id and ticket is None:
            return None
        return Session(
            hello.session_id,
            ticket.ticket if ticket is not None else None,
            ticket.ticket_lifetime_hint if ticket is not None else 0,
            session_state(result, master_secret, now),
        )


def _usable_on_client(
    config: DtlsConfiguration, suites: list[CipherSuite], session: Session
) -> bool:
    state = session.state
    return (
        state.suite in [int(s) for s in suites]
        and state.server_name == config.server_name
        and (state.extended_master_secret or not config.require_extended_master_secret)
        and (session.ticket is None or len(session.ticket) <= MAX_TICKET_LENGTH)
        and (session.ticket is not None or bool(session.session_id))
    )


NO_CLIENT_RESUMPTION = ClientResumption(None, b"", None)
"What a finished client handshake keeps of its offer: nothing (shared, never modified)."
