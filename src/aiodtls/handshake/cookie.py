"""The server's one front door for ClientHellos: the stateless cookie exchange (RFC 6347
§4.2.1, SPEC C1–C9).

Owns the decision what to do with a ClientHello before any handshake exists for it, and the
cookie that decision rests on. :class:`CookieDoor` takes a parsed ClientHello, the address it
came from and the time, and returns one of three verdicts:

- :class:`Admit`: the ClientHello returned a valid cookie (or cookies are off). It carries
  the verified hello and what the cookie tells (its age: a round trip, for the first RTO).
  Only now may a server create state; the server handshake starts from this hello and never
  looks at a cookie itself.
- :class:`Challenge`: no valid cookie. It carries the reply datagrams (a new cookie, sent
  twice when both copies together are no larger than the request, X14); the server sends them
  and forgets the ClientHello.
- ``drops.Drop``: not a ClientHello the door can take (malformed, fragmented, another epoch),
  in the library's one drop vocabulary.

Every server goes through the same door: ``DtlsEndpoint`` for a datagram from an unknown
address (its connections are created with the door's :class:`Admit`), and a server
``DtlsConnection`` without an endpoint for each ClientHello until one is admitted. So a
cookie is verified exactly once per accepted ClientHello.

The door is version-neutral. What is particular to a protocol version (where the client
returns the cookie, which ClientHello fields the cookie binds, the datagram that carries a new
one) is a :class:`CookieExchange` piece: DTLS 1.2's HelloVerifyRequest is in
``hello_verify``; DTLS 1.3's HelloRetryRequest cookie will be another.

The cookie itself (:class:`CookieSecrets`) is an HMAC, under a rotating secret, over the
client's address and the bound fields. Verifying it needs no per-client state, so a server can
answer a spoofed ClientHello with a reply smaller than the request and remember nothing
(SPEC C1, X14). The previous secret stays valid for one rotation period.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as keyed_hmac

from ..alerts import Alert
from ..buffer import Buffer, BufferReadError
from ..drops import Drop, DropReason
from ..record.header import DTLS1_2, ContentType, encode_record_header, split_datagram
from ..reliability.fragments import pull_handshake_header
from .hello_verify import HELLO_VERIFY_REQUEST
from .messages import ClientHello, HandshakeType, decode_client_hello

__all__ = [
    "COOKIE_LENGTH",
    "HELLO_VERIFY_COPIES",
    "Admit",
    "Challenge",
    "CookieCheck",
    "CookieDoor",
    "CookieExchange",
    "CookieSecrets",
    "ParsedClientHello",
    "alert_datagram",
    "hello_verify_copies",
    "parse_client_hello",
]

COOKIE_LENGTH = 20
"""A 5-byte stamp (issuing time, record number) and 15 bytes of truncated HMAC-SHA256. 20
bytes keeps OpenSSL's second ClientHello unfragmented at its 256-byte minimum MTU (a 32-byte
cookie makes it fragment, see research/interop-peers.md)."""
_STAMP = 5


def _address_bytes(addr: object) -> bytes:
    """The peer address as the MAC covers it: length-prefixed, so that no address and fields
    can pass for another address and other fields."""
    address = (
        f"{addr[0]}|{addr[1]}" if isinstance(addr, tuple) and len(addr) >= 2 else repr(addr)
    ).encode()
    return len(address).to_bytes(2, "big") + address


def _keyed(secret: bytes) -> keyed_hmac.HMAC:
    """An HMAC-SHA256 keyed with ``secret``, never finalized: each MAC works on a copy."""
    return keyed_hmac.HMAC(secret, hashes.SHA256())


class CookieSecrets:
    """The current and previous cookie secrets, rotated every ``rotation_period`` seconds.

    A cookie is ``issued || seq || mac``: ``issued`` is the issuing time in milliseconds (4
    bytes, modulo 2^32), ``seq`` the low byte of the record sequence number of the ClientHello
    it answers, and ``mac`` a 15-byte truncated HMAC-SHA256 over both, the peer address and
    the ClientHello fields the version's :class:`CookieExchange` binds (``fields``). The time
    lets a cookie expire after ``max_age`` and gives the server a round-trip sample before its
    first flight, without state (``reliability.timer``); the sequence byte tells whether the
    ClientHello that returns the cookie is the client's very next record, i.e. no
    retransmission happened in between (Karn's rule).

    Each secret's HMAC is keyed once (when the secret is made) and every cookie is the MAC
    of a copy of it: keying an HMAC costs about as much as a whole MAC of a keyed copy.
    """

    def __init__(
        self,
        secret: bytes | None = None,
        rotation_period: float = 60.0,
        max_age: float | None = None,
    ) -> None:
        self._fixed = secret is not None
        self._current = _keyed(secret or os.urandom(32))
        self._previous: keyed_hmac.HMAC | None = None
        self._rotation_period = rotation_period
        self._max_age = 2 * rotation_period if max_age is None else max_age
        self._rotated_at: float | None = None

    @property
    def max_age(self) -> float:
        """Seconds a cookie stays valid after it was issued."""
        return self._max_age

    def _maybe_rotate(self, now: float) -> None:
        if self._fixed:
            return
        if self._rotated_at is None:
            self._rotated_at = now
        elif now - self._rotated_at >= self._rotation_period:
            self.rotate(now)

    def rotate(self, now: float) -> None:
        """Start a new secret; cookies of the previous one stay valid until the next rotation."""
        self._previous = self._current
        self._current = _keyed(os.urandom(32))
        self._rotated_at = now

    @staticmethod
    def _mac(secret: keyed_hmac.HMAC, stamp: bytes, bound: bytes) -> bytes:
        """The truncated HMAC-SHA256 of ``stamp + bound`` under ``secret`` (keyed: a copy)."""
        mac = secret.copy()
        mac.update(stamp + bound)
        return mac.finalize()[: COOKIE_LENGTH - _STAMP]

    def make(
        self, addr: object, fields: bytes, now: float, record_sequence_number: int = 0
    ) -> bytes:
        """The cookie for a ClientHello with the bound ``fields``, sent from ``addr`` in record
        ``record_sequence_number``."""
        self._maybe_rotate(now)
        stamp = (int(now * 1000) & 0xFFFFFFFF).to_bytes(4, "big") + bytes(
            (record_sequence_number & 0xFF,)
        )
        return stamp + self._mac(self._current, stamp, _address_bytes(addr) + fields)

    def check(
        self,
        addr: object,
        cookie: bytes,
        fields: bytes,
        now: float,
        record_sequence_number: int = 0,
    ) -> CookieCheck:
        """Is ``cookie`` ours, for this address and these bound fields, and not expired?"""
        self._maybe_rotate(now)
        if not cookie:
            return CookieCheck(False, reason="no cookie")
        if len(cookie) != COOKIE_LENGTH:
            return CookieCheck(False, reason=f"cookie of {len(cookie)} bytes, not ours")
        stamp, mac = cookie[:_STAMP], cookie[_STAMP:]
        bound = _address_bytes(addr) + fields
        ok = hmac.compare_digest(mac, self._mac(self._current, stamp, bound))
        if self._previous is not None:
            ok |= hmac.compare_digest(mac, self._mac(self._previous, stamp, bound))
        if not ok:
            return CookieCheck(
                False,
                reason="cookie does not match: another address, changed ClientHello fields "
                "(version, random, session_id, suites, compression) or a retired secret",
            )
        age = ((int(now * 1000) - int.from_bytes(stamp[:4], "big")) & 0xFFFFFFFF) / 1000
        if age > self._max_age:
            return CookieCheck(False, age, reason=f"cookie expired ({age:.1f} s old)")
        follows = (record_sequence_number - 1) & 0xFF == stamp[4]
        return CookieCheck(True, age, exact=follows)


@dataclass(slots=True)
class CookieCheck:
    """The outcome of :meth:`CookieSecrets.check` (slotted and not frozen, like the door's
    verdicts: a frozen dataclass sets each field through ``object.__setattr__``)."""

    valid: bool
    age: float | None = None
    "Seconds since the cookie was issued: at least one round trip."
    exact: bool = False
    "True if the ClientHello came straight back (no retransmission): the age is the round trip."
    reason: str = ""
    "Why the cookie is not valid (empty when it is)."


HELLO_VERIFY_COPIES = 2
"""Copies of each HelloVerifyRequest, sent back to back while together they are no larger
than the ClientHello they answer (so never an amplification). A stateless server cannot
resend, and a client such as OpenSSL's repeats its ClientHello only at 1, 3, 7, 15, 31 s:
under 30 % loss each way one exchange fails half the time, six in a row 1.8 % of the time,
and with two copies 0.2 % (docs/reliability.md, issue 9)."""


def hello_verify_copies(reply: bytes, request_size: int, amplification: int = 1) -> int:
    """How many copies of the stateless ``reply`` answer a ClientHello that arrived in
    ``request_size`` bytes: :data:`HELLO_VERIFY_COPIES` if together they are at most
    ``amplification`` times the request (1 for DTLS 1.2: never larger, SPEC X14; 3 for DTLS
    1.3's HelloRetryRequest, RFC 9147 §5.1, SPEC V8), else one."""
    fits = HELLO_VERIFY_COPIES * len(reply) <= amplification * request_size
    return HELLO_VERIFY_COPIES if fits else 1


@dataclass(slots=True)
class ParsedClientHello:
    """A ClientHello read from a raw datagram (:func:`parse_client_hello`), with the record
    it came in. Slotted and not frozen, like ``reassembly.HandshakeMessage``."""

    hello: ClientHello
    record_sequence_number: int
    datagram_size: int
    "Bytes of the datagram it came in (what a stateless reply must not exceed, X14)."


@dataclass(slots=True)
class Admit:
    """The door's verdict for a ClientHello that may start a handshake."""

    admitted: ClassVar[Literal[True]] = True
    "Tells the verdicts (and a door) apart without an isinstance call: ``if verdict.admitted``."
    hello: ClientHello
    "The admitted ClientHello: the server handshake starts from it."
    record_sequence_number: int
    "The record it came in."
    cookie: CookieCheck | None
    """What the cookie told (its age: at least one round trip, exactly one if ``exact``);
    None when cookies are off."""


@dataclass(slots=True)
class Challenge:
    """The door's verdict for a ClientHello without a valid cookie: send ``datagrams`` to its
    address and forget it (SPEC C1, C5)."""

    admitted: ClassVar[Literal[False]] = False
    datagrams: list[bytes]
    "The reply, once or twice (:func:`hello_verify_copies`), never more than the request (X14)."
    cookie: bytes
    "The new cookie the reply carries."
    reason: str
    "Why the ClientHello's cookie was not valid (``no cookie`` when it had none)."
    refused: bool
    "True if the ClientHello returned a cookie and the door refused it (issue 9 item 5)."
    alert: Alert | None = None
    """Set when the version refuses the ClientHello outright rather than challenge it (DTLS
    1.3: an invalid cookie, a non-empty legacy_cookie, no suite in common): ``datagrams`` is
    then that fatal alert, and a connection that runs the door ends with it."""


class CookieExchange(Protocol):
    """What one protocol version's cookie exchange tells the door (``hello_verify`` for
    DTLS 1.2's HelloVerifyRequest)."""

    def read(self, hello: ClientHello) -> tuple[bytes, bytes]:
        """(the cookie ``hello`` returns, empty if none; the fields the cookie binds)."""
        ...

    def challenge(self, record_sequence_number: int, cookie: bytes) -> bytes:
        """The datagram that gives ``cookie`` to the client whose ClientHello came in record
        ``record_sequence_number``."""
        ...

    @property
    def amplification(self) -> int:
        """How many times the request's size the challenge of the ClientHello just read may
        take, its copies together (:func:`hello_verify_copies`)."""
        ...

    def refusal(self, hello: ClientHello, cookie_refused: bool) -> Alert | None:
        """The alert that refuses ``hello`` (whose cookie is not valid) instead of a new
        challenge, or None to challenge it (``cookie_refused``: it returned a cookie that
        did not verify)."""
        ...


class CookieDoor:
    """The one stateless front door a ClientHello passes before a server keeps any state.

    ``secrets`` None turns cookies off: every ClientHello is admitted. ``exchange`` is the
    version's piece (:data:`hello_verify.HELLO_VERIFY_REQUEST` by default).
    """

    __slots__ = ("exchange", "secrets")
    admitted: ClassVar[Literal[False]] = False
    "A door has admitted nothing yet (a connection holds a door, or the endpoint's Admit)."

    def __init__(
        self, secrets: CookieSecrets | None, exchange: CookieExchange = HELLO_VERIFY_REQUEST
    ) -> None:
        self.secrets = secrets
        self.exchange = exchange

    @property
    def max_age(self) -> float | None:
        """Seconds an admitted ClientHello's cookie stays valid (how long a copy of it could
        pass the door again); None when cookies are off."""
        return None if self.secrets is None else self.secrets.max_age

    def admit(
        self, hello: ClientHello, record_sequence_number: int, size: int, addr: object, now: float
    ) -> Admit | Challenge:
        """Admit the parsed ``hello`` that came from ``addr`` in record
        ``record_sequence_number`` of a ``size``-byte datagram, or challenge it; keeps no
        state (SPEC C1). A ClientHello with an invalid cookie is treated as one without (C5).
        """
        secrets = self.secrets
        if secrets is None:
            return Admit(hello, record_sequence_number, None)
        cookie, fields = self.exchange.read(hello)
        seq = record_sequence_number
        check = secrets.check(addr, cookie, fields, now, seq)
        if check.valid:
            return Admit(hello, seq, check)
        refusal = self.exchange.refusal(hello, bool(cookie))
        if refusal is not None:
            reply = alert_datagram(seq, refusal.description)
            return Challenge([reply], b"", refusal.reason, refused=bool(cookie), alert=refusal)
        new = secrets.make(addr, fields, now, seq)
        amplification = self.exchange.amplification  # of the ClientHello read, before challenge
        reply = self.exchange.challenge(seq, new)
        copies = hello_verify_copies(reply, size, amplification)
        return Challenge([reply] * copies, new, check.reason, refused=bool(cookie))

    def receive(self, data: bytes, addr: object, now: float) -> Admit | Challenge | Drop:
        """The door for a raw datagram from an address without a connection: its first
        record must be a whole epoch-0 ClientHello (:func:`parse_client_hello`). (The
        endpoint parses first and calls :meth:`admit` itself: it looks at the ClientHello's
        random before the door, to route a repeat to the handshake it started.)"""
        parsed = parse_client_hello(data)
        if isinstance(parsed, Drop):
            return parsed
        return self.admit(parsed.hello, parsed.record_sequence_number, len(data), addr, now)


def parse_client_hello(data: bytes) -> ParsedClientHello | Drop:
    """The ClientHello a datagram starts with, or why it is not one (SPEC C9).

    Only an epoch-0 record carrying a whole ClientHello in one fragment counts; every length
    is bounds-checked by the codecs.
    """
    for record in split_datagram(data):
        if isinstance(record, Drop):
            return record
        if record.content_type != ContentType.handshake or record.epoch != 0:
            return Drop(DropReason.NOT_EPOCH_0_HANDSHAKE)
        buf = Buffer(record.fragment)
        try:
            header = pull_handshake_header(buf)
            if header.msg_type != HandshakeType.client_hello:
                return Drop(DropReason.NOT_A_CLIENT_HELLO)
            if header.fragment_offset != 0 or header.fragment_length != header.length:
                return Drop(DropReason.FRAGMENTED_CLIENT_HELLO)
            hello = decode_client_hello(buf.pull_bytes(header.length))
        except (BufferReadError, Alert) as exc:
            return Drop(DropReason.MALFORMED_CLIENT_HELLO, (str(exc),))
        return ParsedClientHello(hello, record.sequence_number, len(data))
    return Drop(DropReason.EMPTY_DATAGRAM)


def alert_datagram(record_sequence_number: int, description: int) -> bytes:
    """A stateless fatal alert in plaintext: one DTLSPlaintext record of epoch 0 reusing the
    ClientHello's record number, as a challenge does (15 bytes: never more than the request)."""
    return encode_record_header(ContentType.alert, DTLS1_2, 0, record_sequence_number, 2) + bytes(
        (2, description)
    )
