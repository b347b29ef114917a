"""Session resumption state: what a resumable session holds, the client's ``Session`` and the
server's ``ServerSessionStore`` (RFC 5246 §7.3 session IDs, RFC 5077 session tickets).

Owns the bytes of a session (one codec, used for the server's tickets and for
``Session.to_bytes``), the server's bounded session cache and its ticket keys (derived per
rotation period from one secret, so processes sharing the secret share the keys). It does not
decide whether a session may be resumed: ``handshake.resumption`` does that with the
handshake's configuration. Times are the ``now`` of the driver's clock (``loop.time()``), like
every time in the core; nothing here reads a clock.
"""

from __future__ import annotations

import hmac
import os
import struct
from collections import OrderedDict
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .buffer import Buffer, BufferReadError

__all__ = [
    "MAX_TICKET_LENGTH",
    "ServerSessionStore",
    "Session",
    "SessionState",
]

_STATE_VERSION = 2
_SESSION_VERSION = 1
TICKET_KEY_NAME_LENGTH = 16
"RFC 5077 §4 recommended ticket layout: key_name (16) || IV || AEAD(state)."
TICKET_IV_LENGTH = 12
TICKET_TAG_LENGTH = 16
MAX_TICKET_LENGTH = 4096
"""Longest ticket a server accepts or a client keeps (an SSL session of OpenSSL with a client
certificate chain fits; anything longer is not decrypted: a full handshake follows)."""
MAX_SESSION_ID_LENGTH = 32


@dataclass(frozen=True)
class SessionState:
    """Everything a resumed handshake takes from the original one, as negotiated."""

    suite: int
    "The cipher suite code point; a resumption must use the same one."
    master_secret: bytes = field(repr=False)
    "The 48-byte master secret the resumed keys and Finished derive from."
    extended_master_secret: bool
    "Whether the master secret is the RFC 7627 extended one (SPEC E3)."
    issued_at: float
    "When the full handshake completed, on the driver's clock."
    peer_certificates: tuple[bytes, ...] = ()
    "The peer's chain as it was verified, leaf first, DER."
    psk_identity: bytes | None = None
    "The PSK identity of a PSK suite."
    alpn_protocol: str | None = None
    "The ALPN protocol agreed on, if any."
    srtp_profile: int | None = None
    "The DTLS-SRTP profile agreed on, if any."
    srtp_mki: bytes = b""
    "The SRTP MKI agreed on."
    server_name: str | None = None
    "The host name of the handshake (SNI); RFC 6066 §3 forbids resuming under another."
    peer_public_key: bytes | None = None
    "The peer's RFC 7250 raw public key as it was pinned (SubjectPublicKeyInfo, DER)."

    def encode(self) -> bytes:
        """The state as bytes (inside a ticket, or in ``Session.to_bytes``)."""
        buf = Buffer()
        buf.push_uint8(_STATE_VERSION)
        buf.push_uint16(self.suite)
        buf.push_opaque(1, self.master_secret)
        buf.push_uint8(int(self.extended_master_secret))
        buf.push_bytes(struct.pack("!d", self.issued_at))
        with buf.push_block(3):
            for der in self.peer_certificates:
                buf.push_opaque(3, der)
        _push_optional(buf, 2, self.psk_identity)
        _push_optional(buf, 1, None if self.alpn_protocol is None else self.alpn_protocol.encode())
        buf.push_uint16(self.srtp_profile or 0)
        buf.push_opaque(1, self.srtp_mki)
        _push_optional(buf, 1, None if self.server_name is None else self.server_name.encode())
        _push_optional(buf, 2, self.peer_public_key)
        return buf.data

    @classmethod
    def pull(cls, buf: Buffer) -> SessionState:
        """Read a state written by :meth:`encode`; ``BufferReadError`` if malformed."""
        if buf.pull_uint8() != _STATE_VERSION:
            raise BufferReadError("unknown session state version")
        suite = buf.pull_uint16()
        master_secret = buf.pull_opaque(1)
        # 48 bytes in DTLS 1.2; a DTLS 1.3 ticket's resumption PSK is its hash's length.
        if len(master_secret) != 48 and not (
            0x1301 <= suite <= 0x1305 and len(master_secret) == 32
        ):
            raise BufferReadError("master secret is not 48 bytes")
        ems = buf.pull_uint8()
        if ems > 1:
            raise BufferReadError("bad extended_master_secret flag")
        (issued_at,) = struct.unpack("!d", buf.pull_bytes(8))
        chain: list[bytes] = []
        with buf.pull_block(3):
            while not buf.eof():
                chain.append(buf.pull_opaque(3))
        psk_identity = _pull_optional(buf, 2)
        alpn = _pull_optional(buf, 1)
        srtp_profile = buf.pull_uint16()
        srtp_mki = buf.pull_opaque(1)
        server_name = _pull_optional(buf, 1)
        peer_public_key = _pull_optional(buf, 2)
        try:
            return cls(
                suite=suite,
                master_secret=master_secret,
                extended_master_secret=bool(ems),
                issued_at=issued_at,
                peer_certificates=tuple(chain),
                psk_identity=psk_identity,
                alpn_protocol=None if alpn is None else alpn.decode("ascii"),
                srtp_profile=srtp_profile or None,
                srtp_mki=srtp_mki,
                server_name=None if server_name is None else server_name.decode("ascii"),
                peer_public_key=peer_public_key,
            )
        except UnicodeDecodeError as exc:
            raise BufferReadError("non-ASCII name in session state") from exc

    @classmethod
    def decode(cls, data: bytes) -> SessionState:
        """The state in ``data``, which holds nothing else."""
        buf = Buffer(data)
        state = cls.pull(buf)
        if not buf.eof():
            raise BufferReadError("trailing bytes after the session state")
        return state


def _push_optional(buf: Buffer, length_size: int, value: bytes | None) -> None:
    buf.push_uint8(value is not None)
    buf.push_opaque(length_size, value or b"")


def _pull_optional(buf: Buffer, length_size: int) -> bytes | None:
    present = buf.pull_uint8()
    value = buf.pull_opaque(length_size)
    if present > 1 or (not present and value):
        raise BufferReadError("bad optional field")
    return value if present else None


@dataclass(frozen=True)
class Session:
    """A client's resumable session: pass it back as ``DtlsConfiguration.session``.

    Opaque to applications. It pickles, and :meth:`to_bytes` / :meth:`from_bytes` give a
    compact form for a gateway that persists sessions across restarts. It holds the master
    secret: store it as you would a key.
    """

    session_id: bytes
    "The server's session ID (empty when the server keeps no session cache)."
    ticket: bytes | None
    "The server's RFC 5077 ticket, or None."
    ticket_lifetime_hint: int
    "Seconds the server says the ticket lives (0: unspecified)."
    state: SessionState
    "What was negotiated."

    def to_bytes(self) -> bytes:
        """The session as bytes; :meth:`from_bytes` reads them back."""
        buf = Buffer()
        buf.push_uint8(_SESSION_VERSION)
        buf.push_opaque(1, self.session_id)
        _push_optional(buf, 2, self.ticket)
        buf.push_uint32(self.ticket_lifetime_hint)
        buf.push_bytes(self.state.encode())
        return buf.data

    @classmethod
    def from_bytes(cls, data: bytes) -> Session:
        """A session written by :meth:`to_bytes`; ``ValueError`` if ``data`` is not one."""
        try:
            buf = Buffer(data)
            if buf.pull_uint8() != _SESSION_VERSION:
                raise BufferReadError("unknown session version")
            session_id = buf.pull_opaque(1)
            ticket = _pull_optional(buf, 2)
            hint = buf.pull_uint32()
            state = SessionState.pull(buf)
            if not buf.eof():
                raise BufferReadError("trailing bytes")
        except BufferReadError as exc:
            raise ValueError(f"not an aiodtls session: {exc}") from None
        if len(session_id) > MAX_SESSION_ID_LENGTH:
            raise ValueError("not an aiodtls session: session ID longer than 32 bytes")
        return cls(session_id, ticket, hint, state)


@dataclass(frozen=True)
class _TicketKey:
    name: bytes
    aead: AESGCM
    period: int


class ServerSessionStore:
    """The resumption state a server shares across all its connections.

    Set one as ``DtlsConfiguration.session_store`` of a server; every connection made from
    that configuration uses it. It holds

    - a session cache (session IDs): at most ``max_sessions`` sessions, each for
      ``session_lifetime`` seconds; the oldest is evicted first. Only sessions whose
      handshake completed are stored, so its memory is bounded whatever clients send.
    - ticket keys (RFC 5077): one AES-256-GCM key per ``ticket_key_rotation`` seconds,
      derived with HKDF from ``ticket_secret`` (random when None). New tickets use the
      current period's key; keys of earlier periods still decrypt until every ticket they
      made has expired (``session_lifetime`` later). Processes given the same
      ``ticket_secret`` (and clocks of one machine) accept each other's tickets.

    ``session_ids`` or ``tickets`` False turns that mechanism off.
    """

    def __init__(
        self,
        *,
        max_sessions: int = 10000,
        session_lifetime: float = 7200.0,
        ticket_key_rotation: float = 3600.0,
        ticket_secret: bytes | None = None,
        session_ids: bool = True,
        tickets: bool = True,
    ) -> None:
        if max_sessions < 0:
            raise ValueError("max_sessions must be 0 or more")
        if not session_lifetime > 0 or not ticket_key_rotation > 0:
            raise ValueError("session_lifetime and ticket_key_rotation must be positive")
        if ticket_secret is not None and len(ticket_secret) < 32:
            raise ValueError("ticket_secret must be at least 32 bytes")
        self.max_sessions = max_sessions
        "Most sessions the cache holds."
        self.session_lifetime = session_lifetime
        "Seconds a session (cached or in a ticket) can be resumed after its full handshake."
        self.ticket_key_rotation = ticket_key_rotation
        "Seconds each ticket key is the one new tickets use."
        self.session_ids = session_ids
        "Whether full handshakes get a session ID and the cache is used."
        self.tickets = tickets
        "Whether tickets are issued to clients that ask and accepted from them."
        self._secret = ticket_secret if ticket_secret is not None else os.urandom(32)
        self._sessions: OrderedDict[bytes, SessionState] = OrderedDict()
        self._keys: dict[int, _TicketKey] = {}

    # -- session IDs -------------------------------------------------------------------

    def __len__(self) -> int:
        """Sessions in the cache."""
        return len(self._sessions)

    def new_session_id(self) -> bytes:
        """A fresh random session ID (32 bytes), or empty when session IDs are off."""
        return os.urandom(32) if self.session_ids and self.max_sessions else b""

    def remember(self, session_id: bytes, state: SessionState, now: float) -> None:
        """Cache a completed session under ``session_id`` (evicting expired, then oldest)."""
        if not session_id or not self.session_ids or not self.max_sessions:
            return
        self._expire(now)
        self._sessions[session_id] = state
        self._sessions.move_to_end(session_id)
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)

    def lookup(self, session_id: bytes, now: float) -> SessionState | None:
        """The cached session for ``session_id``, if it is there and not expired."""
        if not session_id or not self.session_ids:
            return None
        state = self._sessions.get(session_id)
        if state is None or not self.fresh(state, now):
            return None
        return state

    def forget(self, session_id: bytes) -> None:
        """Drop a session from the cache."""
        self._sessions.pop(session_id, None)

    def fresh(self, state: SessionState, now: float) -> bool:
        """True while ``state`` is within ``session_lifetime`` of its full handshake."""
        return now < state.issued_at + self.session_lifetime

    def _expire(self, now: float) -> None:
        # Insertion order is issue order, and every session lives equally long.
        while self._sessions:
            session_id, state = next(iter(self._sessions.items()))
            if self.fresh(state, now):
                break
            del self._sessions[session_id]

    # -- tickets -----------------------------------------------------------------------

    def _period(self, now: float) -> int:
        return int(now // self.ticket_key_rotation)

    def _key(self, period: int) -> _TicketKey:
        key = self._keys.get(period)
        if key is None:
            material = HKDF(
                algorithm=hashes.SHA256(),
                length=TICKET_KEY_NAME_LENGTH + 32,
                salt=None,
                info=b"aiodtls ticket key " + period.to_bytes(8, "big", signed=True),
            ).derive(self._secret)
            key = _TicketKey(material[:TICKET_KEY_NAME_LENGTH], AESGCM(material[16:]), period)
            self._keys[period] = key
        return key

    def _usable_keys(self, now: float) -> list[_TicketKey]:
        """The current key and those of earlier periods whose tickets may still be alive."""
        current = self._period(now)
        back = int(self.session_lifetime // self.ticket_key_rotation) + 1
        periods = range(current - back, current + 1)
        for stale in [p for p in self._keys if p not in periods]:
            del self._keys[stale]  # at most ``back + 1`` keys are ever kept
        return [self._key(p) for p in periods]

    def seal_ticket(self, state: SessionState, now: float) -> bytes:
        """A ticket for ``state``: key_name || IV || AES-GCM(state), with the key of the
        current period (RFC 5077 §4)."""
        key = self._key(self._period(now))
        iv = os.urandom(TICKET_IV_LENGTH)
        return key.name + iv + key.aead.encrypt(iv, state.encode(), key.name)

    def open_ticket(self, ticket: bytes, now: float) -> tuple[SessionState, bool] | None:
        """The state in ``ticket`` and whether its key is older than the current one, or None
        if it does not decrypt, is malformed or has expired."""
        if not self.tickets or not (
            TICKET_KEY_NAME_LENGTH + TICKET_IV_LENGTH + TICKET_TAG_LENGTH
            < len(ticket)
            <= MAX_TICKET_LENGTH
        ):
            return None
        name = ticket[:TICKET_KEY_NAME_LENGTH]
        found: _TicketKey | None = None
        for key in self._usable_keys(now):
            # Every name is compared, in constant time, whichever matches.
            if hmac.compare_digest(key.name, name):
                found = key
        if found is None:
            return None
        iv = ticket[TICKET_KEY_NAME_LENGTH : TICKET_KEY_NAME_LENGTH + TICKET_IV_LENGTH]
        try:
            plaintext = found.aead.decrypt(
                iv, ticket[TICKET_KEY_NAME_LENGTH + TICKET_IV_LENGTH :], name
            )
            state = SessionState.decode(plaintext)
        except (InvalidTag, BufferReadError):
            return None
        if not self.fresh(state, now):
            return None
        return state, found.period != self._period(now)
