"""Attack regressions: one test (or a small group) per row of the attack catalogue (SPEC §3)
and per protocol-violation item of SPEC §1 not covered elsewhere, end to end through real
``DtlsConnection`` pairs in memory.

Hostile input is made from real datagrams: a ``deliver`` hook holds or rewrites them, or
records are sealed with the session keys derived from the client's key log (the NSS
``CLIENT_RANDOM`` line and the randoms on the wire). Every test runs the connections through
``pairs.Pair``, so an exception raised into the caller fails the test; each one also checks the
events (HandshakeCompleted, ConnectionTerminated with the named alert, DataReceived).

Covered elsewhere and not repeated here: X7 (test_reliability), X14/X16/X29 and T9
(test_endpoint), X15 (test_cookie), record-layer X6/X13 and R4/R5 (test_record), the
Reassembler alone for X1–X5 (test_reassembly).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import ssl
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from aiodtls import (
    AlertDescription,
    ConnectionState,
    DtlsConfiguration,
    DtlsConnection,
    HandshakeCompleted,
    NamedGroup,
    SignatureScheme,
)
from aiodtls.alerts import AlertLevel
from aiodtls.buffer import Buffer
from aiodtls.connection import MAX_WARNING_ALERTS
from aiodtls.handshake import signatures
from aiodtls.handshake.flights import (
    CLIENT_FINISHED,
    DTLS12,
    FULL,
    SERVER_FINISHED,
    SERVER_HELLO,
    Flight,
    Side,
)
from aiodtls.handshake.keyschedule import derive_key_block
from aiodtls.handshake.messages import (
    ClientHello,
    ClientKeyExchangeEcdhe,
    ExtensionType,
    HandshakeType,
    HelloVerifyRequest,
    ServerHello,
    decode_message,
    encode_message,
    pull_client_hello,
    pull_server_hello,
    pull_server_key_exchange_ecdhe,
    push_client_hello,
    push_client_key_exchange_ecdhe,
    push_hello_verify_request,
    push_server_hello,
    push_server_key_exchange_ecdhe,
)
from aiodtls.record.header import (
    DTLS1_0,
    DTLS1_2,
    ContentType,
    RawRecord,
    encode_record_header,
    split_datagram,
)
from aiodtls.record.protection import AesGcmProtection
from aiodtls.reliability.fragments import (
    HANDSHAKE_HEADER_LENGTH,
    encode_handshake_fragment,
    pull_handshake_header,
)
from aiodtls.reliability.reassembly import MESSAGE_COST, RANGE_COST
from aiodtls.suites import TLS_FALLBACK_SCSV, CipherSuite, suite_info
from aiodtls.trace import TraceRecord
from certs import server_chain
from pairs import (
    CLIENT_ADDR,
    SERVER_ADDR,
    Deliver,
    Outcome,
    Pair,
    client_auth_configs12,
    client_config12,
    handshake,
    make_pair,
    server_config12,
)

HS = ContentType.handshake
APP = ContentType.application_data
ALERT = ContentType.alert
CCS = ContentType.change_cipher_spec
MAX_SEQ = (1 << 48) - 1

# -- wire helpers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """A whole handshake message as it sits in one unfragmented fragment."""

    msg_type: int
    message_seq: int
    body: bytes

    def encode(self) -> bytes:
        """The message as one unfragmented fragment."""
        return encode_handshake_fragment(self.msg_type, self.message_seq, self.body)


def records_of(datagram: bytes) -> list[RawRecord]:
    """The well-formed records of a datagram (ours always are)."""
    return [r for r in split_datagram(datagram) if isinstance(r, RawRecord)]


def record_bytes(record: RawRecord) -> bytes:
    """A record back on the wire."""
    return record.header + record.fragment


def plain_record(
    content_type: int, payload: bytes, seq: int, *, epoch: int = 0, version: int = DTLS1_2
) -> bytes:
    """An unprotected record (epoch 0, or a forged header for another epoch)."""
    return encode_record_header(content_type, version, epoch, seq, len(payload)) + payload


def raw_fragment(
    msg_type: int,
    length: int,
    message_seq: int,
    offset: int,
    data: bytes,
    fragment_length: int | None = None,
) -> bytes:
    """A handshake fragment whose header fields are whatever the attacker wants."""
    if fragment_length is None:
        fragment_length = len(data)
    return (
        bytes((msg_type,))
        + length.to_bytes(3, "big")
        + message_seq.to_bytes(2, "big")
        + offset.to_bytes(3, "big")
        + fragment_length.to_bytes(3, "big")
        + data
    )


def messages_in(record: RawRecord) -> list[Message]:
    """The whole messages carried by a plaintext handshake record."""
    buf = Buffer(record.fragment)
    out = []
    while not buf.eof():
        header = pull_handshake_header(buf)
        assert header.fragment_offset == 0 and header.fragment_length == header.length
        out.append(Message(header.msg_type, header.message_seq, buf.pull_bytes(header.length)))
    return out


def sent_messages(pair: Pair, direction: str, msg_type: int) -> list[Message]:
    """Every whole plaintext message of ``msg_type`` sent in ``direction`` so far."""
    return [
        m
        for _, d, data in pair.sent
        if d == direction
        for r in records_of(data)
        if r.content_type == HS and r.epoch == 0
        for m in messages_in(r)
        if m.msg_type == msg_type
    ]


def carries(datagram: bytes, msg_type: int) -> bool:
    """Does the datagram carry a plaintext fragment of ``msg_type``?"""
    for record in records_of(datagram):
        if record.content_type == HS and record.epoch == 0:
            buf = Buffer(record.fragment)
            while buf.remaining() >= HANDSHAKE_HEADER_LENGTH:
                header = pull_handshake_header(buf)
                if header.msg_type == msg_type:
                    return True
                buf.pull_bytes(min(header.fragment_length, buf.remaining()))
    return False


def has_epoch(datagram: bytes, epoch: int) -> bool:
    """Does the datagram carry a record of ``epoch``?"""
    return any(r.epoch == epoch for r in records_of(datagram))


def rewrite_messages(datagram: bytes, edit: Callable[[list[Message]], list[Message]]) -> bytes:
    """The datagram with ``edit`` applied to its plaintext handshake messages.

    The edited messages travel in one record on the first handshake record's sequence number;
    every other record (ChangeCipherSpec, protected Finished) keeps its place.
    """
    records = records_of(datagram)
    plain = [r for r in records if r.content_type == HS and r.epoch == 0]
    if not plain:
        return datagram
    messages = edit([m for r in plain for m in messages_in(r)])
    merged = plain_record(HS, b"".join(m.encode() for m in messages), plain[0].sequence_number)
    out = []
    for record in records:
        if record is plain[0]:
            out.append(merged)
        elif record not in plain:
            out.append(record_bytes(record))
    return b"".join(out)


def replace_body(
    msg_type: int, edit: Callable[[bytes], bytes]
) -> Callable[[list[Message]], list[Message]]:
    """An edit that rewrites the body of every message of ``msg_type``."""

    def apply(messages: list[Message]) -> list[Message]:
        return [replace(m, body=edit(m.body)) if m.msg_type == msg_type else m for m in messages]

    return apply


def renumber(messages: list[Message], first_seq: int) -> list[Message]:
    """Give ``messages`` consecutive message_seq values from ``first_seq``."""
    return [replace(m, message_seq=first_seq + i) for i, m in enumerate(messages)]


# -- delivery helpers ------------------------------------------------------------------------

Predicate = Callable[[str, bytes], bool]


def wire_messages(datagram: bytes) -> set[int | None]:
    """The handshake message types a datagram carries, as the flight table names them: a
    plaintext fragment's type, None for a ChangeCipherSpec, and for an encrypted handshake
    record the types the table sends under the new keys (Finished)."""
    out: set[int | None] = set()
    for record in records_of(datagram):
        if record.content_type == CCS:
            out.add(None)
        elif record.content_type == HS and record.epoch:
            out.update(t for t in HandshakeType if DTLS12.epoch_of(t))
        elif record.content_type == HS:
            buf = Buffer(record.fragment)
            while buf.remaining() >= HANDSHAKE_HEADER_LENGTH:
                header = pull_handshake_header(buf)
                out.add(header.msg_type)
                buf.pull_bytes(min(header.fragment_length, buf.remaining()))
    return out


def sent_in(flight: Flight) -> Predicate:
    """The datagrams of ``flight`` of the full handshake (handshake/flights.py): sent by its
    sender and carrying a message no other full-handshake flight of that sender carries."""
    direction = "c2s" if flight.sender == Side.CLIENT else "s2c"
    others = [f for f in FULL.flights if f.sender == flight.sender and f is not flight]
    own = {
        c.msg_type for c in flight.carries if not any(o.carries_message(c.msg_type) for o in others)
    }

    def predicate(to: str, datagram: bytes) -> bool:
        return to == direction and not own.isdisjoint(wire_messages(datagram))

    return predicate


flight_4 = sent_in(SERVER_HELLO)
"The server's ServerHello ... ServerHelloDone flight."
flight_5 = sent_in(CLIENT_FINISHED)
"The client's [Certificate] ClientKeyExchange [CertificateVerify] CCS Finished flight."
flight_6 = sent_in(SERVER_FINISHED)
"The server's [NewSessionTicket] CCS Finished flight."


def hello_verify_request(direction: str, datagram: bytes) -> bool:
    """The server's HelloVerifyRequest."""
    return direction == "s2c" and carries(datagram, HandshakeType.hello_verify_request)


def client_hello(direction: str, datagram: bytes) -> bool:
    """Either of the client's ClientHellos."""
    return direction == "c2s" and carries(datagram, HandshakeType.client_hello)


class Gate:
    """A deliver hook that holds back the datagrams matching ``predicate``."""

    def __init__(self, predicate: Predicate) -> None:
        self.predicate = predicate
        self.held: list[bytes] = []

    def __call__(self, direction: str, datagram: bytes) -> list[bytes]:
        if self.predicate(direction, datagram):
            self.held.append(datagram)
            return []
        return [datagram]


def rewriting(predicate: Predicate, edit: Callable[[bytes], bytes]) -> Deliver:
    """A deliver hook that passes every datagram matching ``predicate`` through ``edit``."""

    def deliver(direction: str, datagram: bytes) -> list[bytes]:
        return [edit(datagram) if predicate(direction, datagram) else datagram]

    return deliver


def hold(
    client_cfg: DtlsConfiguration, server_cfg: DtlsConfiguration, predicate: Predicate
) -> tuple[Pair, list[bytes]]:
    """Run a handshake until the datagrams matching ``predicate`` are held; nothing fires."""
    pair = make_pair(client_cfg, server_cfg)
    gate = Gate(predicate)
    pair.exchange(gate)
    assert gate.held, "the gate never closed"
    return pair, gate.held


def inject(pair: Pair, direction: str, *datagrams: bytes) -> None:
    """Hand ``datagrams`` to the receiving side as if they came from its peer."""
    receiver, source = (
        (pair.server, CLIENT_ADDR) if direction == "c2s" else (pair.client, SERVER_ADDR)
    )
    for datagram in datagrams:
        receiver.receive_datagram(datagram, source, pair.now)
    pair.collect()


def take(conn: DtlsConnection, pair: Pair) -> list[bytes]:
    """What ``conn`` wants to send now, taken off the wire (not delivered)."""
    out = [d for d, _ in conn.datagrams_to_send(pair.now)]
    pair.collect()
    return out


# -- keys and forged records -----------------------------------------------------------------


@dataclass
class SessionKeys:
    """The epoch-1 protections of a session, rebuilt from the client's key log."""

    client_write: AesGcmProtection
    server_write: AesGcmProtection


def session_keys(pair: Pair) -> SessionKeys:
    """Derive the session's record keys from the client's key log and the wire's randoms."""
    key_log = pair.client.configuration.key_log
    assert isinstance(key_log, io.StringIO), "configure the client with key_log=io.StringIO()"
    label, client_random, master_secret = key_log.getvalue().split()
    assert label == "CLIENT_RANDOM"
    (server_hello,) = sent_messages(pair, "s2c", HandshakeType.server_hello)
    hello = decode_message(server_hello.body, pull_server_hello)
    info = suite_info(CipherSuite(hello.cipher_suite))
    block = derive_key_block(
        info.prf_hash(),
        bytes.fromhex(master_secret),
        bytes.fromhex(client_random),
        hello.random,
        info.key_length,
        info.fixed_iv_length,
    )
    return SessionKeys(
        AesGcmProtection(block.client_write_key, block.client_write_iv),
        AesGcmProtection(block.server_write_key, block.server_write_iv),
    )


def seal(
    protection: AesGcmProtection, content_type: int, payload: bytes, seq: int, epoch: int = 1
) -> bytes:
    """A protected record, exactly as a peer holding ``protection`` would send it."""
    epoch_seq = ((epoch << 48) | seq).to_bytes(8, "big")
    fragment = protection.seal(epoch_seq, content_type, DTLS1_2, payload)
    return encode_record_header(content_type, DTLS1_2, epoch, seq, len(fragment)) + fragment


def unseal(protection: AesGcmProtection, record: RawRecord) -> bytes:
    """The plaintext of a protected record."""
    epoch_seq = ((record.epoch << 48) | record.sequence_number).to_bytes(8, "big")
    return protection.open(epoch_seq, record.content_type, record.version, record.fragment)


class Spoofer:
    """Builds hostile records for one pair on record numbers the real senders leave free.

    The numbers start 32 above the highest the genuine sender used in that epoch: far enough
    that its next records are never mistaken for replays, close enough that they stay inside
    the receiver's 64-record window (SPEC A1).
    """

    def __init__(self, pair: Pair, keys: SessionKeys | None = None) -> None:
        self.pair = pair
        self.keys = keys
        self._next: dict[tuple[str, int], int] = {}

    def seq(self, direction: str, epoch: int) -> int:
        """The next free record number for ``direction`` in ``epoch``."""
        key = (direction, epoch)
        if key not in self._next:
            used = [
                r.sequence_number
                for _, d, data in self.pair.sent
                if d == direction
                for r in records_of(data)
                if r.epoch == epoch
            ]
            self._next[key] = max(used, default=0) + 32
        seq = self._next[key]
        self._next[key] = seq + 1
        return seq

    def plain(self, direction: str, content_type: int, payload: bytes, *, epoch: int = 0) -> bytes:
        """An unprotected record (at another epoch it is a forgery with a garbage tag)."""
        return plain_record(content_type, payload, self.seq(direction, epoch), epoch=epoch)

    def sealed(self, direction: str, content_type: int, payload: bytes) -> bytes:
        """An epoch-1 record under the sending side's real keys."""
        assert self.keys is not None
        protection = self.keys.client_write if direction == "c2s" else self.keys.server_write
        return seal(protection, content_type, payload, self.seq(direction, 1))


def edit_protected_handshake(
    datagram: bytes, protection: AesGcmProtection, edit: Callable[[Message], Message | None]
) -> bytes:
    """The datagram with its protected handshake message (the Finished) decrypted, edited and
    sealed again on the same record number; an edit that returns ``None`` removes it."""
    out = []
    for record in records_of(datagram):
        if record.content_type == HS and record.epoch == 1:
            fragment = unseal(protection, record)
            header = pull_handshake_header(Buffer(fragment))
            message = Message(
                header.msg_type, header.message_seq, fragment[HANDSHAKE_HEADER_LENGTH:]
            )
            edited = edit(message)
            if edited is None:
                continue
            out.append(seal(protection, HS, edited.encode(), record.sequence_number))
        else:
            out.append(record_bytes(record))
    return b"".join(out)


def protected_finished(datagram: bytes, protection: AesGcmProtection) -> Message:
    """The decrypted Finished of a final flight."""
    found: list[Message] = []

    def keep(message: Message) -> Message:
        found.append(message)
        return message

    edit_protected_handshake(datagram, protection, keep)
    (finished,) = found
    assert finished.msg_type == HandshakeType.finished
    return finished


# -- outcome helpers -------------------------------------------------------------------------


def keyed_client(**fields: Any) -> DtlsConfiguration:
    """A client that writes its key log to memory (so tests can seal as either side)."""
    return client_config12(key_log=io.StringIO(), **fields)


def completions(outcome: Outcome) -> int:
    """How many HandshakeCompleted events a side reported."""
    return sum(isinstance(e, HandshakeCompleted) for e in outcome.events)


def assert_terminated(outcome: Outcome, alert: AlertDescription | None, *, by_peer: bool) -> None:
    """The side ended with ``alert`` during the handshake and never completed."""
    terminated = outcome.terminated
    assert terminated is not None, "no ConnectionTerminated"
    assert (terminated.alert, terminated.by_peer) == (alert, by_peer), terminated
    assert terminated.during_handshake, terminated
    assert outcome.completed is None
    assert not terminated.reason.startswith("internal error"), terminated


def assert_refused(pair: Pair, alert: AlertDescription, *, by: str, because: str = "") -> None:
    """``by`` ('client' or 'server') refused with ``alert`` (for a reason containing
    ``because``) and never completed; the peer heard the alert (the server may have completed:
    it sends the last flight)."""
    mine, theirs = (
        (pair.client_outcome, pair.server_outcome)
        if by == "client"
        else (pair.server_outcome, pair.client_outcome)
    )
    assert_terminated(mine, alert, by_peer=False)
    assert mine.terminated is not None and because in mine.terminated.reason, mine.terminated
    heard = theirs.terminated
    assert heard is not None and (heard.alert, heard.by_peer) == (alert, True), heard


def assert_alive(pair: Pair) -> None:
    """Both sides completed once, nothing ended, and data still flows both ways."""
    assert completions(pair.client_outcome) == completions(pair.server_outcome) == 1
    assert pair.client_outcome.terminated is None, pair.client_outcome.terminated
    assert pair.server_outcome.terminated is None, pair.server_outcome.terminated
    assert pair.client.state == pair.server.state == ConnectionState.ESTABLISHED
    seen_by_client, seen_by_server = len(pair.client_outcome.data), len(pair.server_outcome.data)
    pair.client.send(b"still there?")
    pair.server.send(b"still here")
    pair.exchange()
    assert pair.server_outcome.data[seen_by_server:] == [b"still there?"]
    assert pair.client_outcome.data[seen_by_client:] == [b"still here"]


def dropped(conn: DtlsConnection, reason_prefix: str) -> int:
    """Records ``conn`` dropped for a reason starting with ``reason_prefix``."""
    return sum(n for r, n in conn.stats.records_dropped.items() if r.startswith(reason_prefix))


def buffered(conn: DtlsConnection) -> int:
    """Bytes a connection holds for later: reassembly buffers plus next-epoch records.

    Read through private attributes: the byte counts are what X2/X3/F5 are about and the
    connection exposes no public view of them. Once the handshake is over the reassembler
    itself is gone (None), which holds nothing.
    """
    reassembler = conn._reassembler
    return (0 if reassembler is None else reassembler.buffered_bytes) + conn._records.early_bytes


def charge(data: int) -> int:
    """What reassembly charges for one partial message holding ``data`` bytes in one range."""
    return data + RANGE_COST + MESSAGE_COST


def established(client_cfg: DtlsConfiguration | None = None) -> tuple[Pair, Spoofer]:
    """A completed handshake (default configurations, client key log) and its spoofer."""
    pair = handshake(client_cfg or keyed_client(), server_config12())
    assert completions(pair.client_outcome) == completions(pair.server_outcome) == 1
    return pair, Spoofer(pair, session_keys(pair))


# -- X1-X5: hostile fragments, end to end ----------------------------------------------------


def test_overflowing_fragments_are_refused_mid_handshake() -> None:  # X1, F3
    """CVE-2014-0195 shapes against a client waiting for flight 4: refused, handshake goes on."""
    pair, held = hold(client_config12(), server_config12(), flight_4)
    spoof = Spoofer(pair)
    cert = HandshakeType.certificate
    # message_seq 6 is inside the client's window (next is 1) but unused by the server.
    hostile = [
        raw_fragment(cert, 50, 6, 0, b"A" * 16),  # a legal first piece: 50 bytes reserved
        raw_fragment(cert, 50, 6, 40, b"B" * 100),  # 40 + 100 > 50
        raw_fragment(cert, 200, 6, 40, b"C" * 100),  # same message_seq, another length
        raw_fragment(cert, 50, 6, 0, b"D" * 20, fragment_length=100),  # more than the record
    ]
    inject(pair, "s2c", *(spoof.plain("s2c", HS, f) for f in hostile))
    client = pair.client
    assert dropped(client, "fragment runs past the message length") == 1
    assert dropped(client, "fragment type or length disagrees") == 1
    assert dropped(client, "handshake fragment overruns its record") == 1
    assert buffered(client) == charge(16)  # the legal first piece, not its declared 50
    inject(pair, "s2c", *held)
    pair.drive()
    assert_alive(pair)
    assert buffered(client) == 0  # X3


def test_length_bomb_allocates_nothing() -> None:  # X2, F3, F5
    """length=0xFFFFFF in 1-byte fragments for message_seq next..next+15: nothing is kept."""
    pair, held = hold(client_config12(), server_config12(), flight_4)
    bomb = b"".join(
        raw_fragment(HandshakeType.certificate, 0xFFFFFF, seq, 0, b"\x00") for seq in range(1, 17)
    )
    inject(pair, "s2c", Spoofer(pair).plain("s2c", HS, bomb))
    assert buffered(pair.client) == 0
    assert dropped(pair.client, "message of 16777215 bytes exceeds the limit") == 7
    assert dropped(pair.client, "message_seq") == 9  # 8..16 lie beyond the 7-message window
    inject(pair, "s2c", *held)
    pair.drive()
    assert_alive(pair)


def test_reassembly_buffer_cap_holds_end_to_end() -> None:  # X2, F5
    """Pieces of maximum-size future messages fill the per-connection cap and no further, and
    the messages the client waits for still get in: future ones make way for them."""
    cap = charge(12_000) + charge(6_000)
    client = client_config12(max_handshake_buffer=cap)
    pair, held = hold(client, server_config12(), flight_4)
    spoof = Spoofer(pair)
    size = client.max_handshake_message_size
    for seq, length in ((6, 12_000), (7, 6_000), (5, 1)):  # unused by the server's flights
        piece = raw_fragment(HandshakeType.certificate, size, seq, 0, b"\x00" * length)
        inject(pair, "s2c", spoof.plain("s2c", HS, piece))
    assert buffered(pair.client) == cap == client.max_handshake_buffer
    assert dropped(pair.client, "reassembly buffer full") == 1
    inject(pair, "s2c", *held)
    pair.drive()
    assert_alive(pair)
    assert buffered(pair.client) == 0  # X3


def test_stale_buffers_are_freed_when_the_handshake_completes() -> None:  # X3, F5
    """Future messages on both sides and a next-epoch record are all released at completion."""
    pair, flight5 = hold(keyed_client(), server_config12(), flight_5)
    spoof = Spoofer(pair)
    # The server expects message_seq 2 (ClientKeyExchange) and 3 (Finished): 5 and 6 are free.
    for seq in (5, 6):
        piece = raw_fragment(HandshakeType.certificate, 1000, seq, 0, b"\x00" * 10)
        inject(pair, "c2s", spoof.plain("c2s", HS, piece))
    assert buffered(pair.server) == 2 * charge(10)
    gate = Gate(flight_6)
    inject(pair, "c2s", *flight5)
    pair.exchange(gate)
    assert buffered(pair.server) == 0
    # The client now reads epoch 1, so an epoch-2 record is held until its Finished arrives.
    inject(pair, "s2c", spoof.plain("s2c", APP, b"\x00" * 40, epoch=2))
    assert buffered(pair.client) > 0
    inject(pair, "s2c", *gate.held)
    assert buffered(pair.client) == 0
    assert_alive(pair)


def test_next_epoch_records_after_the_handshake_are_dropped_not_held() -> None:  # X3, F5, R9
    """Epoch 2 never comes in a connection that refuses renegotiation: nothing to hold for."""
    pair, spoof = established()
    before = sum(pair.server.stats.records_dropped.values())
    inject(pair, "c2s", spoof.plain("c2s", APP, b"\x00" * 40, epoch=2))
    assert buffered(pair.server) == 0
    assert sum(pair.server.stats.records_dropped.values()) == before + 1


def test_zero_length_fragments_are_ignored_in_bounded_time() -> None:  # X4, F3
    """Thousands of zero-length fragments, even for the expected message_seq, keep nothing."""
    pair, held = hold(client_config12(), server_config12(), flight_4)
    spoof = Spoofer(pair)
    empty = b"".join(
        raw_fragment(msg_type, 100 + seq, seq, offset, b"")
        for seq in range(1, 8)
        for msg_type, offset in ((HandshakeType.certificate, 0), (HandshakeType.server_hello, 50))
    )
    record = empty * (16000 // len(empty))  # ~1300 fragments per record
    inject(pair, "s2c", *(spoof.plain("s2c", HS, record) for _ in range(3)))
    assert buffered(pair.client) == 0
    assert pair.client_outcome.events == [] and take(pair.client, pair) == []
    inject(pair, "s2c", *held)
    pair.drive()
    assert_alive(pair)


def test_fragments_of_neighbouring_messages_never_merge() -> None:  # X5, F4
    """Type T seq S len 100 [0..49] then type T seq S+1 len 200 [50..199]: two partial messages."""
    pair, held = hold(keyed_client(), server_config12(), flight_5)
    spoof = Spoofer(pair)
    cke = HandshakeType.client_key_exchange
    inject(
        pair,
        "c2s",
        spoof.plain("c2s", HS, raw_fragment(cke, 100, 4, 0, b"\x01" * 50)),
        spoof.plain("c2s", HS, raw_fragment(cke, 200, 5, 50, b"\x02" * 150)),
    )
    assert buffered(pair.server) == charge(50) + charge(150)  # one per message_seq
    assert pair.server_outcome.events == [] and take(pair.server, pair) == []
    inject(pair, "c2s", *held)
    pair.drive()
    assert_alive(pair)
    assert buffered(pair.server) == 0


# -- X6: replay-window DoS -------------------------------------------------------------------


@pytest.mark.parametrize("seq", [MAX_SEQ - 1, MAX_SEQ])
def test_forged_far_future_record_does_not_block_the_epoch(seq: int) -> None:  # X6, A2
    """After the handshake: a garbage tag at seq 2^48-2 is dropped, later records still open."""
    pair, _ = established()
    forged = plain_record(APP, b"\x00" * 40, seq, epoch=1)
    inject(pair, "c2s", forged)
    inject(pair, "s2c", forged)
    assert dropped(pair.server, "bad record tag") == dropped(pair.client, "bad record tag") == 1
    assert_alive(pair)


def test_forged_far_future_next_epoch_record_during_the_handshake() -> None:  # X6, A2, R9
    """A next-epoch forgery held before the keys exist fails once they do; the Finished opens."""
    pair, flight5 = hold(keyed_client(), server_config12(), flight_5)
    inject(pair, "c2s", plain_record(HS, b"\x00" * 48, MAX_SEQ - 1, epoch=1))
    assert buffered(pair.server) > 0  # held: the server has no epoch-1 keys yet
    inject(pair, "c2s", *flight5)
    pair.drive()
    assert dropped(pair.server, "bad record tag") == 1
    assert_alive(pair)


# -- X8: epoch confusion ---------------------------------------------------------------------


def test_hello_verify_request_under_the_new_keys_is_refused() -> None:  # X8
    """An authenticated HVR at epoch 1 in place of the server's Finished: never completes."""
    pair, flight6 = hold(keyed_client(), server_config12(), flight_6)
    spoof = Spoofer(pair, session_keys(pair))
    body = encode_message(push_hello_verify_request, HelloVerifyRequest(DTLS1_0, b"\x07" * 20))
    hvr = encode_handshake_fragment(HandshakeType.hello_verify_request, 5, body)
    inject(pair, "s2c", spoof.sealed("s2c", HS, hvr))
    inject(pair, "s2c", *flight6)
    pair.exchange()
    assert_terminated(pair.client_outcome, AlertDescription.unexpected_message, by_peer=False)
    assert pair.server_outcome.terminated is not None
    assert pair.server_outcome.terminated.alert == AlertDescription.unexpected_message


def test_unauthenticated_hello_verify_request_at_epoch_1_is_dropped() -> None:  # X8
    """A plaintext HVR dressed as an epoch-1 record fails authentication and is dropped."""
    pair, flight6 = hold(client_config12(), server_config12(), flight_6)
    body = encode_message(push_hello_verify_request, HelloVerifyRequest(DTLS1_0, b"\x07" * 20))
    hvr = encode_handshake_fragment(HandshakeType.hello_verify_request, 5, body)
    inject(pair, "s2c", Spoofer(pair).plain("s2c", HS, hvr, epoch=1))
    inject(pair, "s2c", *flight6)
    pair.drive()
    assert dropped(pair.client, "bad record tag") == 1
    assert_alive(pair)


def test_client_hello_under_the_new_keys_during_the_handshake_is_refused() -> None:  # X8
    """An authenticated ClientHello at epoch 1 where the server expects Finished."""
    pair, (flight5,) = hold(keyed_client(), server_config12(), flight_5)
    spoof = Spoofer(pair, session_keys(pair))
    cke, ccs, _finished = records_of(flight5)
    inject(pair, "c2s", record_bytes(cke) + record_bytes(ccs))
    hello = sent_messages(pair, "c2s", HandshakeType.client_hello)[-1]
    inject(pair, "c2s", spoof.sealed("c2s", HS, replace(hello, message_seq=3).encode()))
    pair.exchange()
    assert_refused(
        pair,
        AlertDescription.unexpected_message,
        by="server",
        because="unexpected ClientHello while waiting for the client's Finished",
    )


def test_records_two_epochs_ahead_are_dropped() -> None:  # X8, R9
    """epoch+2 during the handshake (client at epoch 0) and after it (epoch 3): dropped."""
    pair, held = hold(client_config12(), server_config12(), flight_4)
    spoof = Spoofer(pair)
    inject(pair, "s2c", spoof.plain("s2c", HS, b"\x00" * 60, epoch=2))
    assert dropped(pair.client, "record from epoch 2 has no keys") == 1
    inject(pair, "s2c", *held)
    pair.drive()
    inject(pair, "c2s", spoof.plain("c2s", APP, b"\x00" * 60, epoch=3))
    assert dropped(pair.server, "record from epoch 3 has no keys") == 1
    assert_alive(pair)


def test_reflected_finished_does_not_complete_the_client() -> None:  # X8
    """The client's own flight 5 reflected back: its Finished is under the wrong keys."""
    pair, (flight5,) = hold(client_config12(), server_config12(), flight_5)
    inject(pair, "s2c", flight5)
    assert pair.client_outcome.events == []
    assert dropped(pair.client, "bad record tag") == 1
    inject(pair, "c2s", flight5)
    pair.drive()
    assert_alive(pair)


# -- X9: unprotected or early messages -------------------------------------------------------


@pytest.mark.parametrize("side", ["server", "client"])
def test_correct_finished_in_plaintext_never_completes(side: str) -> None:  # X9
    """The genuine verify_data, sent at epoch 0 instead of 1, is refused."""
    predicate = flight_5 if side == "server" else flight_6
    pair, (flight,) = hold(keyed_client(), server_config12(), predicate)
    keys = session_keys(pair)
    protection = keys.client_write if side == "server" else keys.server_write
    finished = protected_finished(flight, protection)
    stripped = edit_protected_handshake(flight, protection, lambda m: None)
    unprotected = Spoofer(pair).plain("c2s" if side == "server" else "s2c", HS, finished.encode())
    inject(pair, "c2s" if side == "server" else "s2c", stripped + unprotected)
    pair.exchange()
    assert_refused(
        pair, AlertDescription.unexpected_message, by=side, because="finished in epoch 0"
    )


def test_finished_instead_of_client_key_exchange_is_refused() -> None:  # X9, H1
    """TLS-Scanner's early Finished: the server expects ClientKeyExchange first."""
    pair, (flight5,) = hold(keyed_client(), server_config12(), flight_5)
    finished = protected_finished(flight5, session_keys(pair).client_write)

    def early(messages: list[Message]) -> list[Message]:
        return [replace(finished, message_seq=messages[0].message_seq)]

    inject(pair, "c2s", rewrite_messages(flight5, early))
    pair.exchange()
    assert_refused(
        pair,
        AlertDescription.unexpected_message,
        by="server",
        because="unexpected Finished while waiting for the client's ClientKeyExchange",
    )


def test_application_data_before_a_failed_finished_is_never_delivered() -> None:  # X9, R9
    """Epoch-1 data that precedes a Finished that does not verify is discarded with it."""
    pair, (flight5,) = hold(keyed_client(), server_config12(), flight_5)
    keys = session_keys(pair)
    early = Spoofer(pair, keys).sealed("c2s", APP, b"too early")

    def corrupt(message: Message) -> Message:
        return replace(message, body=bytes(b ^ 1 for b in message.body))

    bad_finished = edit_protected_handshake(flight5, keys.client_write, corrupt)
    cke, ccs, finished = records_of(bad_finished)
    inject(pair, "c2s", record_bytes(cke) + record_bytes(ccs) + early + record_bytes(finished))
    pair.exchange()
    assert_refused(
        pair, AlertDescription.decrypt_error, by="server", because="client Finished does not verify"
    )
    assert pair.server_outcome.data == []


def test_plaintext_application_data_is_never_delivered() -> None:  # X9, R10
    """Epoch-0 application data, during the handshake and after it: dropped."""
    pair, held = hold(client_config12(), server_config12(), flight_5)
    spoof = Spoofer(pair)
    inject(pair, "c2s", spoof.plain("c2s", APP, b"plaintext during"))
    inject(pair, "c2s", *held)
    pair.drive()
    inject(pair, "c2s", spoof.plain("c2s", APP, b"plaintext after"))
    inject(pair, "s2c", spoof.plain("s2c", APP, b"plaintext after"))
    assert dropped(pair.server, "application data in epoch 0") == 2
    assert dropped(pair.client, "application data in epoch 0") == 1
    assert pair.server_outcome.data == pair.client_outcome.data == []
    assert_alive(pair)


# -- X10: ChangeCipherSpec misuse -------------------------------------------------------------


def test_change_cipher_spec_before_the_client_hello_is_harmless() -> None:  # X10
    """A fresh server connection gets a CCS first: no alert, no state, the handshake works."""
    pair = make_pair(client_config12(), server_config12())
    inject(pair, "c2s", plain_record(CCS, b"\x01", 40))
    assert take(pair.server, pair) == [] and pair.server_outcome.events == []
    pair.drive()
    assert_alive(pair)


def test_repeated_change_cipher_spec_is_harmless() -> None:  # X10
    """Dozens of CCS records mid-handshake and after it (plaintext and protected)."""
    pair, held = hold(keyed_client(), server_config12(), flight_4)
    spoof = Spoofer(pair)
    inject(pair, "s2c", b"".join(spoof.plain("s2c", CCS, b"\x01") for _ in range(20)))
    inject(pair, "s2c", *held)
    pair.drive()
    spoof = Spoofer(pair, session_keys(pair))
    for direction in ("c2s", "s2c"):
        inject(pair, direction, b"".join(spoof.plain(direction, CCS, b"\x01") for _ in range(20)))
        inject(pair, direction, b"".join(spoof.sealed(direction, CCS, b"\x01") for _ in range(20)))
    assert take(pair.client, pair) == take(pair.server, pair) == []
    assert_alive(pair)


@pytest.mark.parametrize("body", [b"", b"\x00", b"\x02", b"\x01\x01"])
def test_malformed_change_cipher_spec_is_dropped(body: bytes) -> None:  # X10
    """A CCS whose body is not the single byte 0x01, in both directions mid-handshake."""
    pair, held = hold(client_config12(), server_config12(), flight_4)
    spoof = Spoofer(pair)
    inject(pair, "s2c", spoof.plain("s2c", CCS, body))
    inject(pair, "c2s", spoof.plain("c2s", CCS, body))
    assert dropped(pair.client, "malformed ChangeCipherSpec") == 1
    assert dropped(pair.server, "malformed ChangeCipherSpec") == 1
    inject(pair, "s2c", *held)
    pair.drive()
    assert_alive(pair)


# -- X11: state-machine bypass ----------------------------------------------------------------


def _client_auth(
    verify_mode: ssl.VerifyMode = ssl.CERT_REQUIRED,
) -> tuple[DtlsConfiguration, DtlsConfiguration]:
    client, server = client_auth_configs12(verify_mode)
    client.key_log = io.StringIO()
    return client, server


def _without(msg_type: int) -> Callable[[list[Message]], list[Message]]:
    def edit(messages: list[Message]) -> list[Message]:
        kept = [m for m in messages if m.msg_type != msg_type]
        return renumber(kept, messages[0].message_seq)

    return edit


def _empty_certificate(messages: list[Message]) -> list[Message]:
    return [
        replace(m, body=b"\x00\x00\x00") if m.msg_type == HandshakeType.certificate else m
        for m in messages
    ]


@pytest.mark.parametrize(
    ("verify_mode", "edit", "alert", "because"),
    [
        pytest.param(
            ssl.CERT_REQUIRED,
            _without(HandshakeType.certificate),
            "unexpected_message",
            "the client sent ClientKeyExchange without the Certificate this server requires",
            id="no-certificate",
        ),
        # An empty Certificate, but the CertificateVerify is still sent.
        pytest.param(
            ssl.CERT_REQUIRED,
            _empty_certificate,
            "handshake_failure",
            "client sent no certificate",
            id="empty-certificate-required",
        ),
        # With CERT_OPTIONAL the empty Certificate is fine, the orphan CertificateVerify is not
        # (the JSSE client-authentication bypass of USENIX'20).
        pytest.param(
            ssl.CERT_OPTIONAL,
            _empty_certificate,
            "unexpected_message",
            "the client sent a CertificateVerify but no certificate to verify it with",
            id="empty-certificate-optional",
        ),
    ],
)
def test_client_certificate_bypass_is_refused(
    verify_mode: ssl.VerifyMode,
    edit: Callable[[list[Message]], list[Message]],
    alert: str,
    because: str,
) -> None:  # X11, H2
    """The client's authentication messages stripped or emptied on the wire."""
    client, server = _client_auth(verify_mode)
    pair = make_pair(client, server)
    pair.drive(rewriting(flight_5, lambda d: rewrite_messages(d, edit)))
    assert_refused(pair, AlertDescription[alert], by="server", because=because)


def test_missing_certificate_verify_is_refused() -> None:  # X11, H2
    """CertificateVerify removed and the Finished renumbered into its place."""
    client, server = _client_auth()
    pair, (flight5,) = hold(client, server, flight_5)
    keys = session_keys(pair)
    without_cv = rewrite_messages(flight5, _without(HandshakeType.certificate_verify))
    renumbered = edit_protected_handshake(
        without_cv, keys.client_write, lambda m: replace(m, message_seq=m.message_seq - 1)
    )
    inject(pair, "c2s", renumbered)
    pair.exchange()
    assert_refused(
        pair,
        AlertDescription.unexpected_message,
        by="server",
        because="unexpected Finished while waiting for the client's CertificateVerify",
    )


def _mismatched_key_client() -> tuple[DtlsConfiguration, DtlsConfiguration]:
    """A client whose CertificateVerify is signed by a key that is not its certificate's."""
    client, server = client_auth_configs12()
    client.private_key = ec.generate_private_key(ec.SECP256R1())
    return client, server


def test_certificate_verify_by_another_key_is_refused() -> None:  # X11, H2
    """The client proves possession of a different key than the one it certified."""
    pair = handshake(*_mismatched_key_client())
    assert_refused(
        pair,
        AlertDescription.decrypt_error,
        by="server",
        because="handshake signature does not verify",
    )


def _certificate_request_twice(messages: list[Message]) -> list[Message]:
    out = []
    for m in messages:
        out.append(m)
        if m.msg_type == HandshakeType.certificate_request:
            out.append(m)
    return renumber(out, messages[0].message_seq)


def _certificate_request_first(messages: list[Message]) -> list[Message]:
    request = [m for m in messages if m.msg_type == HandshakeType.certificate_request]
    rest = [m for m in messages if m.msg_type != HandshakeType.certificate_request]
    return renumber(rest[:2] + request + rest[2:], messages[0].message_seq)


def _early_done(after: int) -> Callable[[list[Message]], list[Message]]:
    def edit(messages: list[Message]) -> list[Message]:
        done = [m for m in messages if m.msg_type == HandshakeType.server_hello_done]
        return renumber(messages[:after] + done, messages[0].message_seq)

    return edit


@pytest.mark.parametrize(
    ("edit", "because"),
    [
        pytest.param(
            _certificate_request_twice,
            "unexpected CertificateRequest while waiting for the server's ServerHelloDone",
            id="request-twice",
        ),
        pytest.param(
            _certificate_request_first,
            "unexpected CertificateRequest while waiting for the server's ServerKeyExchange",
            id="request-before-key-exchange",
        ),
        pytest.param(
            _early_done(after=1),
            "unexpected ServerHelloDone while waiting for the server's Certificate",
            id="done-after-hello",
        ),
        pytest.param(
            _early_done(after=2),
            "unexpected ServerHelloDone while waiting for the server's ServerKeyExchange",
            id="done-after-certificate",
        ),
    ],
)
def test_misordered_server_flight_is_refused(
    edit: Callable[[list[Message]], list[Message]], because: str
) -> None:  # X11, H1
    """CertificateRequest twice or too early, ServerHelloDone before the key exchange."""
    pair = make_pair(*client_auth_configs12())
    pair.drive(rewriting(flight_4, lambda d: rewrite_messages(d, edit)))
    assert_refused(pair, AlertDescription.unexpected_message, by="client", because=because)


@pytest.mark.parametrize("when", ["in-the-final-flight", "after-completion"])
def test_extra_finished_is_ignored(when: str) -> None:  # X11, T4
    """A second (authenticated) Finished from the server never completes anything twice."""
    pair, (flight6,) = hold(keyed_client(), server_config12(), flight_6)
    spoof = Spoofer(pair, session_keys(pair))
    extra = spoof.sealed("s2c", HS, Message(HandshakeType.finished, 6, b"\x00" * 12).encode())
    if when == "in-the-final-flight":
        inject(pair, "s2c", flight6 + extra)
    else:
        inject(pair, "s2c", flight6)
        inject(pair, "s2c", extra)
    assert dropped(pair.client, "handshake message after completion") == 1
    assert take(pair.client, pair) == []
    assert_alive(pair)


# -- X12, X21, X22: reordering and the key switch -------------------------------------------


@pytest.mark.parametrize(
    ("predicate", "order"),
    [(flight_5, order) for order in itertools.permutations(range(3))]
    + [(flight_6, order) for order in itertools.permutations(range(2))],
)
def test_any_record_order_inside_the_key_switch_datagram_completes(
    predicate: Predicate, order: tuple[int, ...]
) -> None:  # X12, T6
    """[ClientKeyExchange, CCS, Finished] and [CCS, Finished] in every order in one datagram."""

    def reorder(datagram: bytes) -> bytes:
        records = records_of(datagram)
        return b"".join(record_bytes(records[i]) for i in order)

    pair = handshake(client_config12(), server_config12(), rewriting(predicate, reorder))
    assert_alive(pair)


def test_application_data_before_the_servers_finished_is_delivered_once() -> None:  # X12
    """The server's first records overtake its Finished (and arrive twice): delivered once,
    after HandshakeCompleted."""
    pair, (flight6,) = hold(client_config12(), server_config12(), flight_6)
    pair.server.send(b"first")
    pair.server.send(b"second")
    data = take(pair.server, pair)
    inject(pair, "s2c", *data, *data)
    assert pair.client_outcome.events == []
    inject(pair, "s2c", flight6, *data)
    events = pair.client_outcome.events
    assert isinstance(events[0], HandshakeCompleted)
    assert pair.client_outcome.data == [b"first", b"second"]
    assert_alive(pair)


def test_application_data_between_ccs_and_finished_is_delivered_once() -> None:  # X22
    """CVE-2014-8176 shape: [CCS, AppData, Finished] in one datagram."""
    pair, (flight6,) = hold(client_config12(), server_config12(), flight_6)
    pair.server.send(b"in the gap")
    (data,) = take(pair.server, pair)
    ccs, finished = records_of(flight6)
    inject(pair, "s2c", record_bytes(ccs) + data + record_bytes(finished))
    inject(pair, "s2c", data)
    assert isinstance(pair.client_outcome.events[0], HandshakeCompleted)
    assert pair.client_outcome.data == [b"in the gap"]
    assert_alive(pair)


def test_lost_finished_is_retransmitted_under_the_old_keys_after_data() -> None:  # X21, T5
    """CVE-2013-6450: the server's Finished is lost and it has already sent data under the new
    keys; its retransmission (fresh record number, same epoch-1 keys) completes the client."""
    pair, (lost,) = hold(client_config12(), server_config12(), flight_6)
    pair.server.send(b"sent before the retransmission")
    pair.exchange()
    assert pair.client_outcome.events == []
    pair.drive()
    assert isinstance(pair.client_outcome.events[0], HandshakeCompleted)
    assert pair.client_outcome.data == [b"sent before the retransmission"]
    resent = [d for _, direction, d in pair.sent if flight_6(direction, d) and d != lost]
    (original_finished,) = [r for r in records_of(lost) if r.epoch == 1]
    resent_finished = [r for d in resent for r in records_of(d) if r.content_type == HS]
    assert resent_finished and all(r.epoch == 1 for r in resent_finished)
    assert all(r.sequence_number > original_finished.sequence_number + 1 for r in resent_finished)
    assert_alive(pair)


# -- X13, X18, X20: invalid records ----------------------------------------------------------


def _flip(data: bytes, position: int) -> bytes:
    return data[:position] + bytes((data[position] ^ 0x01,)) + data[position + 1 :]


def test_every_bad_tag_is_dropped_alike_and_counted() -> None:  # X13, R8
    """Each byte of nonce, ciphertext and tag flipped, every truncation, an extension, other
    seq or type: all dropped without an alert, each counted once; the genuine record opens."""
    pair, _ = established()
    pair.client.send(b"genuine payload")
    ((genuine,),) = [records_of(d) for d in take(pair.client, pair)]
    fragment = genuine.fragment
    forgeries = [replace(genuine, fragment=_flip(fragment, i)) for i in range(len(fragment))]
    forgeries += [replace(genuine, fragment=fragment[:n]) for n in range(len(fragment))]
    forgeries.append(replace(genuine, fragment=fragment + b"\x00"))
    forgeries.append(replace(genuine, sequence_number=genuine.sequence_number + 1))
    forgeries += [replace(genuine, content_type=t) for t in (CCS, ALERT, HS)]
    before = sum(pair.server.stats.records_dropped.values())
    for forgery in forgeries:
        inject(pair, "c2s", record_bytes(forgery))
    drops = pair.server.stats.records_dropped
    assert sum(drops.values()) - before == len(forgeries)
    assert set(drops) <= {"bad record tag", "record shorter than nonce and tag"}
    assert take(pair.server, pair) == [] and pair.server_outcome.data == []
    inject(pair, "c2s", record_bytes(genuine))
    assert pair.server_outcome.data == [b"genuine payload"]
    assert_alive(pair)


def test_malformed_records_around_a_good_one() -> None:  # X18, R4
    """Truncated header, overrunning length, empty record, unknown type, trailing garbage:
    every good record in the datagram is used, the rest dropped."""
    pair, _ = established()
    for i in range(5):
        pair.client.send(b"good %d" % i)
    good = take(pair.client, pair)
    datagrams = [
        good[0] + b"\x17\xfe\xfd\x00",  # trailing garbage shorter than a header
        good[1] + encode_record_header(APP, DTLS1_2, 1, 900, 500) + b"\x00" * 10,  # overrun
        plain_record(APP, b"", 901, epoch=1) + good[2],  # length 0
        plain_record(99, b"\x00" * 30, 902, epoch=1) + good[3],  # unknown content type
        b"\x16\xfe\xfd\x00\x00",  # a truncated header alone
        good[4],
    ]
    inject(pair, "c2s", *datagrams)
    assert pair.server_outcome.data == [b"good %d" % i for i in range(5)]
    server = pair.server
    assert dropped(server, "truncated record header") == 2
    assert dropped(server, "record length overruns datagram") == 1
    assert dropped(server, "record shorter than nonce and tag") == 1
    assert dropped(server, "unknown content type 99") == 1
    assert_alive(pair)


def test_trailing_garbage_after_a_handshake_flight_is_ignored() -> None:  # X18
    """Flights followed by a truncated header, then by an overrunning record, still complete."""
    garbage = iter([b"\x16\xfe", b"\x16\xfe\xfd\x00\x00\x00\x00\x00\x00\x00\x63\xff\xff\x00"])

    def deliver(direction: str, datagram: bytes) -> list[bytes]:
        if flight_4(direction, datagram) or flight_5(direction, datagram):
            return [datagram + next(garbage)]
        return [datagram]

    pair = handshake(client_config12(), server_config12(), deliver)
    assert dropped(pair.client, "truncated record header") == 1
    assert dropped(pair.server, "record length overruns datagram") == 1
    assert_alive(pair)


def test_corrupted_copy_before_each_record_after_the_handshake() -> None:  # X20, R8
    """mbedTLS bad_ad=1: every record is preceded by a corrupted copy; data still arrives, and
    the handshake-phase wrong_key_repeats does not end an established connection."""
    pair, _ = established()

    def bad_ad(direction: str, datagram: bytes) -> list[bytes]:
        if any(r.content_type == APP for r in records_of(datagram)):
            return [_flip(datagram, len(datagram) - 1), datagram]
        return [datagram]

    limit = pair.server.configuration.wrong_key_repeats
    count = 3 * limit + 1
    for i in range(count):
        pair.client.send(b"c%d" % i)
        pair.server.send(b"s%d" % i)
        pair.exchange(bad_ad)
    assert pair.server_outcome.data == [b"c%d" % i for i in range(count)]
    assert pair.client_outcome.data == [b"s%d" % i for i in range(count)]
    assert dropped(pair.server, "bad record tag") == dropped(pair.client, "bad record tag") == count
    assert_alive(pair)


# -- X17: HelloVerifyRequest abuse ------------------------------------------------------------


def _hvr_record(cookie: bytes, seq: int, message_seq: int = 0, version: int = DTLS1_0) -> bytes:
    body = encode_message(push_hello_verify_request, HelloVerifyRequest(version, cookie))
    fragment = encode_handshake_fragment(HandshakeType.hello_verify_request, message_seq, body)
    return plain_record(HS, fragment, seq, version=DTLS1_0)


def test_hello_verify_request_after_server_hello_is_ignored() -> None:  # X17, C6
    """HVRs (the server's own again, and one with a new 255-byte cookie) between ServerHello
    and the rest of flight 4 change nothing: the handshake completes on the first cookie."""
    pair, (flight4,) = hold(client_config12(), server_config12(), flight_4)
    spoof = Spoofer(pair)
    original, *copies = sent_messages(pair, "s2c", HandshakeType.hello_verify_request)
    assert all(copy.encode() == original.encode() for copy in copies)
    server_hello, *rest = records_of(flight4)
    inject(pair, "s2c", record_bytes(server_hello))
    inject(pair, "s2c", spoof.plain("s2c", HS, original.encode()))
    inject(pair, "s2c", _hvr_record(b"\x02" * 255, spoof.seq("s2c", 0)))
    assert pair.client_outcome.events == []
    inject(pair, "s2c", b"".join(record_bytes(r) for r in rest))
    pair.drive()
    assert_alive(pair)


def test_newest_hello_verify_request_wins() -> None:  # X17, C6
    """A spoofed HVR arrives just before the server's: the server's cookie must end up used."""
    spoofed = iter([True])

    def deliver(direction: str, datagram: bytes) -> list[bytes]:
        if hello_verify_request(direction, datagram) and next(spoofed, False):
            return [_hvr_record(b"\x66" * 20, 0), datagram]
        return [datagram]

    pair = handshake(client_config12(), server_config12(), deliver)
    assert_alive(pair)


def test_second_hello_verify_request_for_the_second_client_hello_is_answered() -> None:  # X17
    """The server rejects the first cookie and sends a new one (RFC 6347 §4.2.1)."""
    rejected = iter([True])

    def deliver(direction: str, datagram: bytes) -> list[bytes]:
        if (
            direction == "c2s"
            and carries(datagram, HandshakeType.client_hello)
            and records_of(datagram)[0].sequence_number == 1
            and next(rejected, False)
        ):
            # What a server whose cookie secret just rotated answers: a new HVR, no state.
            pair.client.receive_datagram(_hvr_record(b"\x42" * 20, 1, 1), SERVER_ADDR, pair.now)
            return []
        return [datagram]

    pair = make_pair(client_config12(), server_config12())
    pair.drive(deliver)
    assert_alive(pair)


@pytest.mark.parametrize(
    ("body", "alert"),
    [
        (b"\xfe\xff\x1e" + b"\x00" * 5, "decode_error"),  # cookie length past the end
        (b"\xfe\xff\x02\x00\x00\x00", "decode_error"),  # trailing byte
        (b"\xfe\xff", "decode_error"),  # no cookie length
        (b"", "decode_error"),
        (b"\x03\x03\x02\x00\x00", "illegal_parameter"),  # a TLS version, not DTLS
    ],
    ids=["cookie-past-end", "trailing-byte", "no-cookie-length", "empty", "tls-version"],
)
def test_malformed_hello_verify_request_is_fatal(body: bytes, alert: str) -> None:  # X17, C6
    """The client refuses a malformed HVR by name instead of looping on it."""

    def malform(datagram: bytes) -> bytes:
        (record,) = records_of(datagram)
        fragment = encode_handshake_fragment(HandshakeType.hello_verify_request, 0, body)
        return plain_record(HS, fragment, record.sequence_number, version=DTLS1_0)

    pair = handshake(client_config12(), server_config12(), rewriting(hello_verify_request, malform))
    assert_terminated(pair.client_outcome, AlertDescription[alert], by_peer=False)
    # The ClientHello, then the alert in answer to each copy of the HelloVerifyRequest.
    directions = [d for _, d, _ in pair.sent]
    assert directions[0] == "c2s" and directions.count("c2s") == 1 + directions.count("s2c")


# -- X19: alerts ----------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [b"\x02", b"\x02\x28\x02\x28", b""])
def test_alert_records_that_are_not_two_bytes_are_dropped(payload: bytes) -> None:  # X19, F7
    """Protected alerts of 0, 1 or 4 bytes (even starting 'fatal') end nothing."""
    pair, spoof = established()
    inject(pair, "s2c", spoof.sealed("s2c", ALERT, payload))
    inject(pair, "c2s", spoof.sealed("c2s", ALERT, payload))
    assert dropped(pair.client, "alert record is not 2 bytes") == 1
    assert dropped(pair.server, "alert record is not 2 bytes") == 1
    assert_alive(pair)


def test_warning_alert_flood_ends_the_connection_at_the_limit() -> None:  # X19, T8
    """Warnings are tolerated up to MAX_WARNING_ALERTS; one more ends the connection with a
    fatal alert the peer hears."""
    pair, spoof = established()
    warning = bytes((AlertLevel.warning, AlertDescription.user_canceled))
    inject(pair, "s2c", *(spoof.sealed("s2c", ALERT, warning) for _ in range(MAX_WARNING_ALERTS)))
    assert pair.client.state == ConnectionState.ESTABLISHED
    assert pair.client_outcome.terminated is None
    inject(pair, "s2c", spoof.sealed("s2c", ALERT, warning))
    ended = pair.client_outcome.terminated
    assert ended is not None and ended.alert is not None and not ended.by_peer
    assert not ended.during_handshake
    pair.exchange()
    heard = pair.server_outcome.terminated
    assert heard is not None and heard.by_peer and heard.alert == ended.alert


def test_fatal_alert_that_is_not_two_bytes_during_the_handshake_is_dropped() -> None:  # X19
    """A plaintext 1-byte 'fatal' mid-handshake is dropped; the handshake completes."""
    pair, held = hold(client_config12(), server_config12(), flight_4)
    inject(pair, "s2c", Spoofer(pair).plain("s2c", ALERT, b"\x02"))
    assert dropped(pair.client, "alert record is not 2 bytes") == 1
    inject(pair, "s2c", *held)
    pair.drive()
    assert_alive(pair)


# -- X24: downgrade ---------------------------------------------------------------------------


def _edit_client_hello(edit: Callable[[ClientHello], ClientHello]) -> Deliver:
    """Rewrite every ClientHello the same way, so the cookie still matches."""

    def body(raw: bytes) -> bytes:
        return encode_message(push_client_hello, edit(decode_message(raw, pull_client_hello)))

    return rewriting(
        client_hello, lambda d: rewrite_messages(d, replace_body(HandshakeType.client_hello, body))
    )


def _edit_server_hello(edit: Callable[[ServerHello], ServerHello]) -> Deliver:
    def body(raw: bytes) -> bytes:
        return encode_message(push_server_hello, edit(decode_message(raw, pull_server_hello)))

    return rewriting(
        flight_4, lambda d: rewrite_messages(d, replace_body(HandshakeType.server_hello, body))
    )


HelloT = TypeVar("HelloT", ClientHello, ServerHello)
EMS = ExtensionType.extended_master_secret


class Fields:
    """A hello edit that sets fields."""

    def __init__(self, **changes: Any) -> None:
        self.changes = changes

    def __call__(self, hello: HelloT) -> HelloT:
        return replace(hello, **self.changes)


@dataclass(frozen=True)
class Extension:
    """A hello edit that sets one extension's body (``None`` removes it; ``twice`` repeats
    it)."""

    ext_type: int
    body: bytes | None
    twice: bool = False

    def __call__(self, hello: HelloT) -> HelloT:
        kept = [(t, b) for t, b in hello.extensions if t != self.ext_type]
        if self.body is not None:
            kept += [(self.ext_type, self.body)] * (2 if self.twice else 1)
        return replace(hello, extensions=kept)


def _fallback_to_dtls10(hello: ClientHello) -> ClientHello:
    suites = [*hello.cipher_suites, TLS_FALLBACK_SCSV]
    return replace(hello, client_version=DTLS1_0, cipher_suites=suites)


def _hello_retry_request(hello: ServerHello) -> ServerHello:
    """A TLS 1.3 HelloRetryRequest: a ServerHello with the special random and
    supported_versions (43), which a DTLS 1.2 client never offered."""
    hrr = replace(hello, random=HELLO_RETRY_REQUEST_RANDOM)
    return Extension(43, b"\xfe\xfc")(hrr)


HELLO_RETRY_REQUEST_RANDOM = bytes.fromhex(
    "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"
)


@pytest.mark.parametrize(
    ("edit", "alert"),
    [
        pytest.param(Fields(client_version=DTLS1_0), "protocol_version", id="dtls1.0-only"),
        # RFC 7507 §3: protocol_version may stand in for inappropriate_fallback.
        pytest.param(_fallback_to_dtls10, "protocol_version", id="dtls1.0-fallback-scsv"),
        pytest.param(Extension(EMS, None), "handshake_failure", id="no-ems"),
        pytest.param(Extension(EMS, b"\x00"), "decode_error", id="non-empty-ems"),
        pytest.param(Extension(EMS, b"", twice=True), "illegal_parameter", id="duplicate-ems"),
        pytest.param(Fields(compression_methods=b"\x01"), "illegal_parameter", id="no-null"),
    ],
)
def test_downgraded_client_hello_is_refused(
    edit: Callable[[ClientHello], ClientHello], alert: str
) -> None:  # X24, H4, H6, E2, E4
    """The server refuses by name; the client hears the alert; nothing completes."""
    pair = handshake(client_config12(), server_config12(), _edit_client_hello(edit))
    assert_refused(pair, AlertDescription[alert], by="server")


@pytest.mark.parametrize(
    ("edit", "alert"),
    [
        pytest.param(Fields(server_version=DTLS1_0), "protocol_version", id="dtls1.0"),
        pytest.param(Extension(EMS, None), "handshake_failure", id="no-ems"),
        pytest.param(Extension(EMS, b"\x00"), "decode_error", id="non-empty-ems"),
        pytest.param(Extension(EMS, b"", twice=True), "illegal_parameter", id="duplicate-ems"),
        pytest.param(
            Extension(ExtensionType.session_ticket, b""),
            "unsupported_extension",
            id="unsolicited-session-ticket",
        ),
        pytest.param(Extension(0xAAAA, b""), "unsupported_extension", id="unsolicited-unknown"),
        pytest.param(Fields(compression_method=1), "illegal_parameter", id="compression"),
        pytest.param(_hello_retry_request, "unsupported_extension", id="hello-retry-request"),
    ],
)
def test_bad_server_hello_is_refused(
    edit: Callable[[ServerHello], ServerHello], alert: str
) -> None:  # X24, X26, H4, E2, E4
    """The client refuses a downgraded or malformed ServerHello by name. (The client does
    not ask for tickets, so a SessionTicket extension is unsolicited.)"""
    client = client_config12(session_tickets=False)
    pair = handshake(client, server_config12(), _edit_server_hello(edit))
    assert_refused(pair, AlertDescription[alert], by="client")


# -- X25: invalid EC points -------------------------------------------------------------------

P256_POINT = (
    ec.generate_private_key(ec.SECP256R1())
    .public_key()
    .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
)
P256_COMPRESSED = (
    ec.generate_private_key(ec.SECP256R1())
    .public_key()
    .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
)
P384_POINT = (
    ec.generate_private_key(ec.SECP384R1())
    .public_key()
    .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
)

INVALID_POINTS = [
    (NamedGroup.secp256r1, _flip(P256_POINT, 64), "illegal_parameter"),  # off the curve
    (NamedGroup.secp256r1, P256_COMPRESSED, "illegal_parameter"),
    (NamedGroup.secp256r1, P256_POINT[1:], "illegal_parameter"),  # 64 bytes, no prefix
    (NamedGroup.secp256r1, b"\x00", "illegal_parameter"),  # the point at infinity
    (NamedGroup.secp256r1, b"\x04" + bytes(64), "illegal_parameter"),  # (0, 0)
    (NamedGroup.secp384r1, _flip(P384_POINT, 96), "illegal_parameter"),
    (NamedGroup.x25519, bytes(32), "handshake_failure"),  # all zero
    (NamedGroup.x25519, b"\x01" + bytes(31), "handshake_failure"),  # order 4
    (
        NamedGroup.x25519,
        bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
        "handshake_failure",  # order 8
    ),
    (NamedGroup.x25519, bytes(31), "illegal_parameter"),
]
POINT_IDS = [
    "p256-off-curve",
    "p256-compressed",
    "p256-no-prefix",
    "p256-infinity",
    "p256-zero",
    "p384-off-curve",
    "x25519-zero",
    "x25519-order-4",
    "x25519-order-8",
    "x25519-short",
]


def _only_plaintext_alerts_after(pair: Pair, direction: str, flight: Predicate) -> bool:
    """After ``flight``, ``direction`` sent nothing but epoch-0 alerts (no keys were used)."""
    later = list(itertools.dropwhile(lambda s: not flight(s[1], s[2]), pair.sent))[1:]
    records = [r for _, d, data in later if d == direction for r in records_of(data)]
    return bool(records) and all(r.content_type == ALERT and r.epoch == 0 for r in records)


@pytest.mark.parametrize(("group", "point", "alert"), INVALID_POINTS, ids=POINT_IDS)
def test_invalid_point_in_client_key_exchange(
    group: NamedGroup, point: bytes, alert: str
) -> None:  # X25, K3
    """The server refuses the point before deriving anything: its alert is plaintext."""
    cke = encode_message(push_client_key_exchange_ecdhe, ClientKeyExchangeEcdhe(point))
    edit = replace_body(HandshakeType.client_key_exchange, lambda _: cke)
    deliver = rewriting(flight_5, lambda d: rewrite_messages(d, edit))
    pair = handshake(client_config12(groups=[group]), server_config12(), deliver)
    assert_refused(pair, AlertDescription[alert], by="server")
    assert _only_plaintext_alerts_after(pair, "s2c", flight_5)


@pytest.mark.parametrize(("group", "point", "alert"), INVALID_POINTS, ids=POINT_IDS)
def test_invalid_point_in_server_key_exchange(
    group: NamedGroup, point: bytes, alert: str
) -> None:  # X25, K3
    """A correctly signed ServerKeyExchange with a bad point: the client sends no key
    exchange and no Finished, only a plaintext alert."""
    key = server_chain("ecdsa").key
    pair = make_pair(client_config12(groups=[group]), server_config12())

    def resign(datagram: bytes) -> bytes:
        hello = sent_messages(pair, "c2s", HandshakeType.client_hello)[-1]
        client_random = decode_message(hello.body, pull_client_hello).random
        (server_hello,) = sent_messages(pair, "s2c", HandshakeType.server_hello)
        server_random = decode_message(server_hello.body, pull_server_hello).random

        def body(raw: bytes) -> bytes:
            ske = decode_message(raw, pull_server_key_exchange_ecdhe)
            params = replace(ske.params, public_key=point)
            signed = client_random + server_random + params.encode()
            scheme = SignatureScheme(ske.signature_scheme)
            ske = replace(ske, params=params, signature=signatures.sign(key, scheme, signed))
            return encode_message(push_server_key_exchange_ecdhe, ske)

        return rewrite_messages(datagram, replace_body(HandshakeType.server_key_exchange, body))

    pair.drive(rewriting(flight_4, resign))
    assert_refused(pair, AlertDescription[alert], by="client")
    assert _only_plaintext_alerts_after(pair, "c2s", flight_4)


# -- H3, H5: Finished and renegotiation -------------------------------------------------------


@pytest.mark.parametrize("side", ["server", "client"])
def test_wrong_finished_verify_data_is_decrypt_error(side: str) -> None:  # H3
    """A Finished that authenticates as a record but carries the wrong verify_data."""
    pair, (flight,) = hold(
        keyed_client(), server_config12(), flight_5 if side == "server" else flight_6
    )
    keys = session_keys(pair)
    protection = keys.client_write if side == "server" else keys.server_write

    def corrupt(message: Message) -> Message:
        return replace(message, body=_flip(message.body, 11))

    inject(
        pair,
        "c2s" if side == "server" else "s2c",
        edit_protected_handshake(flight, protection, corrupt),
    )
    pair.exchange()
    assert_refused(
        pair, AlertDescription.decrypt_error, by=side, because="Finished does not verify"
    )


def _traced(config: DtlsConfiguration) -> list[TraceRecord]:
    records: list[TraceRecord] = []
    config.trace = records.append
    return records


@pytest.mark.parametrize("direction", ["s2c", "c2s"])
def test_renegotiation_is_refused_with_a_warning(direction: str) -> None:  # H5
    """A HelloRequest to the client, a ClientHello to the server, under the session keys: the
    answer is warning no_renegotiation and the connection goes on."""
    client, server = keyed_client(), server_config12()
    peer_trace = _traced(server if direction == "s2c" else client)
    pair = handshake(client, server)
    spoof = Spoofer(pair, session_keys(pair))
    if direction == "s2c":
        request = Message(HandshakeType.hello_request, 0, b"")
    else:
        request = sent_messages(pair, "c2s", HandshakeType.client_hello)[0]
    inject(pair, direction, spoof.sealed(direction, HS, request.encode()))
    pair.exchange()
    warnings = [r.fields["description"] for r in peer_trace if r.kind == "warning_alert"]
    assert warnings == ["no_renegotiation"]
    assert_alive(pair)


# -- R9, H5: epoch-0 records after the handshake ----------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "payload", "reason"),
    [
        (ALERT, bytes((AlertLevel.fatal, AlertDescription.handshake_failure)), "plaintext alert"),
        (ALERT, bytes((AlertLevel.warning, AlertDescription.close_notify)), "plaintext alert"),
        (APP, b"plaintext data", "application data in epoch 0"),
        (
            HS,
            Message(HandshakeType.hello_request, 0, b"").encode(),
            "handshake message after completion",
        ),
        (
            HS,
            Message(HandshakeType.server_hello, 9, b"\x00" * 38).encode(),
            "handshake message after completion",
        ),
        (HS, b"\x00" * 5, "handshake record shorter than its header"),
    ],
    ids=["fatal-alert", "close-notify", "app-data", "hello-request", "new-message", "short"],
)
def test_epoch_0_records_after_the_handshake_are_ignored(
    content_type: int, payload: bytes, reason: str
) -> None:  # R9, H5, R10
    """Unauthenticated records after the handshake change nothing and provoke no answer."""
    pair, spoof = established()
    inject(pair, "s2c", spoof.plain("s2c", content_type, payload))
    assert dropped(pair.client, reason) == 1
    assert take(pair.client, pair) == []
    assert_alive(pair)


def test_unnegotiated_new_session_ticket_is_refused() -> None:  # X26, H1
    """A NewSessionTicket that was never negotiated, in front of the server's Finished."""
    pair, (flight6,) = hold(client_config12(), server_config12(), flight_6)
    ticket = Message(HandshakeType.new_session_ticket, 5, b"\x00\x00\x00\x00\x00\x00")
    inject(pair, "s2c", Spoofer(pair).plain("s2c", HS, ticket.encode()) + flight6)
    pair.exchange()
    assert_refused(
        pair,
        AlertDescription.unexpected_message,
        by="client",
        because="unexpected NewSessionTicket while waiting for the server's Finished",
    )


def test_dtls13_ack_record_is_dropped() -> None:  # X26, X28
    """Content type 26 (ACK) means nothing in DTLS 1.2: dropped, mid-handshake and after."""
    pair, held = hold(client_config12(), server_config12(), flight_4)
    spoof = Spoofer(pair)
    inject(pair, "s2c", spoof.plain("s2c", ContentType.ack, b"\x00\x00"))
    inject(pair, "s2c", *held)
    pair.drive()
    inject(pair, "c2s", spoof.plain("c2s", ContentType.ack, b"\x00\x10" + bytes(16), epoch=1))
    assert dropped(pair.client, "unknown content type 26") == 1
    assert dropped(pair.server, "unknown content type 26") == 1
    assert_alive(pair)


# -- T8, X27: alerts that go missing, sequence exhaustion ------------------------------------


def test_lost_fatal_alert_is_sent_again_when_the_offending_flight_repeats() -> None:  # T8
    """The server's decrypt_error is lost; the client's retransmitted flight 5 must draw it."""
    lost = iter([True])

    def drop_first_alert(direction: str, datagram: bytes) -> list[bytes]:
        if (
            direction == "s2c"
            and records_of(datagram)[0].content_type == ALERT
            and next(lost, False)
        ):
            return []
        return [datagram]

    client, server = _mismatched_key_client()
    pair = handshake(client, server, drop_first_alert)
    assert_refused(pair, AlertDescription.decrypt_error, by="server")
    assert pair.now < client.handshake_timeout / 2


def test_sequence_number_exhaustion_closes_instead_of_raising() -> None:  # X27, R3
    """The last sequence number is used; the next send must not escape as a foreign error."""
    pair, _ = established()
    # 2^48 records cannot be sent in a test: jump the client's counter to the end.
    pair.client._records.skip_write_sequence_numbers(1, MAX_SEQ)
    pair.client.send(b"last")
    pair.exchange()
    assert pair.server_outcome.data[-1:] == [b"last"]
    with contextlib.suppress(ConnectionError):  # the documented error is fine
        pair.client.send(b"one too many")
    pair.collect()
    assert pair.client.state == ConnectionState.CLOSED
    assert pair.client_outcome.terminated is not None
