"""Stateless cookie exchange (RFC 6347 §4.2.1, SPEC C1–C9).

Owns the cookie: an HMAC, under a rotating secret, over the client's address and the
ClientHello fields RFC 6347 §4.2.1 binds (version, random, session_id, cipher suites,
compression methods). Extensions are not covered: some clients change them in their second
ClientHello (pion adds supported_groups and ec_point_formats), and a cookie that covered them
would never verify for such a client. Verifying it needs no per-client state, so a server can
answer a spoofed ClientHello with a HelloVerifyRequest that is smaller than the request and
remember nothing (SPEC C1, X14). The previous secret stays valid for one rotation period.

:func:`check_client_hello` works on a raw datagram before any connection exists; it is what a
server endpoint runs for an unknown address.
"""

from __future__ import annotations

import enum
import hmac
import os
import struct
from dataclasses import dataclass

from ..alerts import Alert
from ..buffer import Buffer, BufferReadError
from ..drops import Drop
from ..record.header import (
    DTLS1_0,
    RECORD_HEADER_LENGTH,
    ContentType,
    encode_record_header,
    split_datagram,
)
from ..reliability.fragments import (
    HANDSHAKE_HEADER_LENGTH,
    encode_handshake_fragment,
    pull_handshake_header,
)
from .messages import (
    ClientHello,
    HandshakeType,
    HelloVerifyRequest,
    decode_client_hello,
    encode_hello_verify_request_body,
)

__all__ = [
    "COOKIE_LENGTH",
    "HELLO_VERIFY_COPIES",
    "ClientHelloCheck",
    "CookieCheck",
    "CookieSecrets",
    "ParsedClientHello",
    "Verdict",
    "check_client_hello",
    "encode_hello_verify_request",
    "hello_verify_copies",
    "parse_client_hello",
]

COOKIE_LENGTH = 20
"""A 5-byte stamp (issuing time, record number) and 15 bytes of truncated HMAC-SHA256. 20
bytes keeps OpenSSL's second ClientHello unfragmented at its 256-byte minimum MTU (a 32-byte
cookie makes it fragment, see research/interop-peers.md)."""
_STAMP = 5


def _address_bytes(addr: object) -> bytes:
    if isinstance(addr, tuple) and len(addr) >= 2:
        return f"{addr[0]}|{addr[1]}".encode()
    return repr(addr).encode()


class CookieSecrets:
    """The current and previous cookie secrets, rotated every ``rotation_period`` seconds.

    A cookie is ``issued || seq || mac``: ``issued`` is the issuing time in milliseconds (4
    bytes, modulo 2^32), ``seq`` the low byte of the record sequence number of the ClientHello
    it answers, and ``mac`` a 15-byte truncated HMAC-SHA256 over both, the peer address and
    the ClientHello fields. The time lets a cookie expire after ``max_age`` and gives the server
    a round-trip sample before its first flight, without state (``reliability.timer``); the
    sequence byte tells whether the ClientHello that returns the cookie is the client's very
    next record, i.e. no retransmission happened in between (Karn's rule).
    """

    def __init__(
        self,
        secret: bytes | None = None,
        rotation_period: float = 60.0,
        max_age: float | None = None,
    ) -> None:
        self._fixed = secret is not None
        self._current = secret or os.urandom(32)
        self._previous: bytes | None = None
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
        self._current = os.urandom(32)
        self._rotated_at = now

    @staticmethod
    def _mac(secret: bytes, stamp: bytes, addr: object, hello: ClientHello) -> bytes:
        address = _address_bytes(addr)
        suites = hello.cipher_suites
        data = b"".join(
            (
                stamp,
                len(address).to_bytes(2, "big"),
                address,
                hello.client_version.to_bytes(2, "big"),
                hello.random,
                bytes((len(hello.session_id),)),
                hello.session_id,
                # The number of suites, then the suites (one pack instead of one per suite).
                struct.pack(f"!H{len(suites)}H", len(suites), *suites),
                bytes((len(hello.compression_methods),)),
                hello.compression_methods,
            )
        )
        return hmac.digest(secret, data, "sha256")[: COOKIE_LENGTH - _STAMP]

    def make(
        self, addr: object, hello: ClientHello, now: float, record_sequence_number: int = 0
    ) -> bytes:
        """The cookie for ``hello`` (sent in record ``record_sequence_number``) from ``addr``."""
        self._maybe_rotate(now)
        stamp = (int(now * 1000) & 0xFFFFFFFF).to_bytes(4, "big") + bytes(
            (record_sequence_number & 0xFF,)
        )
        return stamp + self._mac(self._current, stamp, addr, hello)

    def check(
        self, addr: object, hello: ClientHello, now: float, record_sequence_number: int = 0
    ) -> CookieCheck:
        """Is ``hello.cookie`` ours, for this address and these fields, and not expired?"""
        self._maybe_rotate(now)
        cookie = hello.cookie
        if not cookie:
            return CookieCheck(False, reason="no cookie")
        if len(cookie) != COOKIE_LENGTH:
            return CookieCheck(False, reason=f"cookie of {len(cookie)} bytes, not ours")
        stamp, mac = cookie[:_STAMP], cookie[_STAMP:]
        ok = hmac.compare_digest(mac, self._mac(self._current, stamp, addr, hello))
        if self._previous is not None:
            ok |= hmac.compare_digest(mac, self._mac(self._previous, stamp, addr, hello))
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


@dataclass(frozen=True)
class CookieCheck:
    """The outcome of :meth:`CookieSecrets.check`."""

    valid: bool
    age: float | None = None
    "Seconds since the cookie was issued: at least one round trip."
    exact: bool = False
    "True if the ClientHello came straight back (no retransmission): the age is the round trip."
    reason: str = ""
    "Why the cookie is not valid (empty when it is)."


def encode_hello_verify_request(record_sequence_number: int, cookie: bytes) -> bytes:
    """A whole HelloVerifyRequest datagram.

    The record reuses the ClientHello's sequence number and the message uses message_seq 0
    (RFC 6347 §4.2.1, SPEC C3); versions are DTLS 1.0 as §4.2.1 recommends (SPEC C2).
    """
    body = encode_hello_verify_request_body(HelloVerifyRequest(DTLS1_0, cookie))
    fragment = encode_handshake_fragment(HandshakeType.hello_verify_request, 0, body)
    return (
        encode_record_header(
            ContentType.handshake, DTLS1_0, 0, record_sequence_number, len(fragment)
        )
        + fragment
    )


HELLO_VERIFY_COPIES = 2
"""Copies of each HelloVerifyRequest, sent back to back while together they are no larger
than the ClientHello they answer (so never an amplification). A stateless server cannot
resend, and a client such as OpenSSL's repeats its ClientHello only at 1, 3, 7, 15, 31 s:
under 30 % loss each way one exchange fails half the time, six in a row 1.8 % of the time,
and with two copies 0.2 % (docs/reliability.md, issue 9)."""


def hello_verify_copies(reply: bytes, request_size: int) -> int:
    """How many copies of the HelloVerifyRequest ``reply`` answer a ClientHello that arrived
    in ``request_size`` bytes: :data:`HELLO_VERIFY_COPIES` if together they fit, else one."""
    return HELLO_VERIFY_COPIES if HELLO_VERIFY_COPIES * len(reply) <= request_size else 1


def client_hello_size(body: bytes) -> int:
    """The smallest record that carries an unfragmented ClientHello ``body``: what a
    handshake that sees only the message knows of the datagram's size."""
    return RECORD_HEADER_LENGTH + HANDSHAKE_HEADER_LENGTH + len(body)


class Verdict(enum.Enum):
    """What to do with a datagram from an address that has no connection."""

    ACCEPT = "accept"
    "A ClientHello with a valid cookie (or cookies are off): create the connection."
    VERIFY = "verify"
    "A ClientHello without a valid cookie: send ``reply`` and forget the datagram."
    DROP = "drop"
    "Anything else: ignore it and keep no state."


@dataclass(frozen=True)
class ClientHelloCheck:
    """The outcome of :func:`check_client_hello`."""

    verdict: Verdict
    reply: bytes = b""
    "A VERIFY's HelloVerifyRequest datagram."
    copies: int = 0
    "How many times to send ``reply`` (:func:`hello_verify_copies`)."
    reason: str = ""
    "Why a DROP was dropped, or why a VERIFY's cookie was refused."


@dataclass(frozen=True)
class ParsedClientHello:
    """A ClientHello read from a raw datagram, before any state exists."""

    hello: ClientHello
    record_sequence_number: int
    datagram_size: int
    "Bytes of the datagram it came in."


def parse_client_hello(data: bytes) -> ParsedClientHello | str:
    """The ClientHello a datagram starts with, or why it is not one (SPEC C9).

    Only an epoch-0 record carrying a whole ClientHello in one fragment counts; every length
    is bounds-checked by the codecs.
    """
    for record in split_datagram(data):
        if isinstance(record, Drop):
            return str(record)
        if record.content_type != ContentType.handshake or record.epoch != 0:
            return "not an epoch-0 handshake record"
        buf = Buffer(record.fragment)
        try:
            header = pull_handshake_header(buf)
            if header.msg_type != HandshakeType.client_hello:
                return "not a ClientHello"
            if header.fragment_offset != 0 or header.fragment_length != header.length:
                return "fragmented ClientHello"
            hello = decode_client_hello(buf.pull_bytes(header.length))
        except (BufferReadError, Alert) as exc:
            return f"malformed ClientHello: {exc}"
        return ParsedClientHello(hello, record.sequence_number, len(data))
    return "empty datagram"


def check_client_hello(
    data: bytes | ParsedClientHello, addr: object, secrets: CookieSecrets | None, now: float
) -> ClientHelloCheck:
    """Classify a datagram from an address without a connection, keeping no state (SPEC C1).

    A ClientHello with a valid cookie (or any, with cookies off) is accepted; one without
    gets a HelloVerifyRequest; anything else, malformed included, is a DROP.
    """
    parsed = parse_client_hello(data) if isinstance(data, bytes) else data
    if isinstance(parsed, str):
        return ClientHelloCheck(Verdict.DROP, reason=parsed)
    hello, seq = parsed.hello, parsed.record_sequence_number
    if secrets is None:
        return ClientHelloCheck(Verdict.ACCEPT)
    check = secrets.check(addr, hello, now, seq)
    if check.valid:
        return ClientHelloCheck(Verdict.ACCEPT)
    cookie = secrets.make(addr, hello, now, seq)
    reply = encode_hello_verify_request(seq, cookie)
    copies = hello_verify_copies(reply, parsed.datagram_size)
    return ClientHelloCheck(Verdict.VERIFY, reply=reply, copies=copies, reason=check.reason)
