"""Helpers of the DTLS 1.3 attack tests (tests/test_attacks13*.py): an in-memory DTLS 1.3
pair, and an attacker who either rewrites the datagrams on the path (no keys) or holds the
traffic secrets of one side (from the client's NSS key log, as Wireshark reads them) and seals
records of its own with :class:`~aiodtls.record.protection13.RecordProtection13`.

Every helper goes through the public connection API (``receive_datagram``,
``datagrams_to_send``, ``next_event``, ``stats``); the only private attribute the tests read
is ``DtlsConnection._v13`` where no public API exists yet (asking for a KeyUpdate, moving a
sequence number close to 2^48), and they say so where they do.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes

from aiodtls import AlertDescription, ConnectionState, DtlsConfiguration, DtlsConnection
from aiodtls.handshake.keyschedule13 import DTLS13_LABEL_PREFIX, traffic_keys
from aiodtls.handshake.messages import (
    ClientHello,
    ServerHello,
    decode_client_hello,
    decode_server_hello,
    encode_client_hello,
    encode_server_hello,
)
from aiodtls.record.protection13 import RecordProtection13
from aiodtls.reliability.fragments import encode_handshake_fragment, read_handshake_header
from aiodtls.suites import ProtocolVersion
from aiodtls.trace import TraceRecord
from aiodtls.wire import DTLS1_2, RawRecord, UnifiedRecord, encode_record_header, split_datagram13
from pairs import CLIENT_ADDR, SERVER_ADDR, Deliver, Pair, client_config, server_config

V13 = (ProtocolVersion.DTLSv1_3,)
V12 = (ProtocolVersion.DTLSv1_2,)
BOTH = (ProtocolVersion.DTLSv1_2, ProtocolVersion.DTLSv1_3)

HANDSHAKE = 22
ALERT = 21
APPLICATION_DATA = 23
ACK = 26
CHANGE_CIPHER_SPEC = 20
FATAL = 2

AES_128_GCM = 0x1301
FORGED_SEQ = 1000
"Where forged records start: unused by the real peer, near enough for 16-bit reconstruction."
REAL_SEQ_AFTER_FORGERY = 1 << 14
"Where the real sender continues once records were forged in its name (see Pair13.forger)."


@dataclass
class Traced:
    """A trace callback keeping what it is given."""

    records: list[TraceRecord] = field(default_factory=list)

    def __call__(self, record: TraceRecord) -> None:
        self.records.append(record)

    def kinds(self, kind: str) -> list[TraceRecord]:
        """The records of ``kind``."""
        return [r for r in self.records if r.kind == kind]


@dataclass
class Pair13:
    """A DTLS 1.3 pair, the client's key log and both sides' traces."""

    pair: Pair
    key_log: io.StringIO
    client_trace: Traced
    server_trace: Traced

    @property
    def client(self) -> DtlsConnection:
        return self.pair.client

    @property
    def server(self) -> DtlsConnection:
        return self.pair.server

    def drive(self, deliver: Deliver | None = None, until: float = 300.0) -> None:
        self.pair.drive(deliver, until)

    def run(self, deliver: Deliver | None = None, until: float = 60.0) -> None:
        """Exchange and fire timers in virtual time until no timer is left before ``until``
        (unlike ``Pair.drive``, not stopping once both sides are established)."""
        pair = self.pair
        while True:
            pair.exchange(deliver)
            timers = [t for t in (self.client.get_timer(), self.server.get_timer()) if t]
            if not timers or min(timers) > until:
                return
            pair.now = max(pair.now, min(timers))
            for conn in (self.client, self.server):
                timer = conn.get_timer()
                if timer is not None and timer <= pair.now:
                    conn.handle_timer(pair.now)
            pair.collect()

    def secrets(self) -> dict[str, bytes]:
        """The client's key log: secret name -> secret."""
        out = {}
        for line in self.key_log.getvalue().splitlines():
            name, _random, secret = line.split()
            out[name] = bytes.fromhex(secret)
        return out

    def forger(self, secret_name: str, epoch: int, seq: int = FORGED_SEQ) -> Forger:
        """An attacker sealing records with the traffic secret ``secret_name`` (a key log name,
        e.g. ``SERVER_TRAFFIC_SECRET_0``) as ``epoch``, from sequence number ``seq`` on.

        The real sender of that secret then continues at :data:`REAL_SEQ_AFTER_FORGERY`, so
        its own records neither repeat a forged record number nor fall behind the replay
        window a forged record moved (private: ``_v13``, no public API moves them)."""
        real = self.server if secret_name.startswith("SERVER") else self.client
        v13 = real._v13
        assert v13 is not None
        if v13.records.has_write_epoch(epoch):
            v13.records.skip_write_sequence_numbers(epoch, REAL_SEQ_AFTER_FORGERY)
        return Forger(protection(self.secrets()[secret_name], epoch), seq)

    def to_client(self, *datagrams: bytes) -> None:
        """Deliver datagrams to the client as if from the server, then let both react."""
        for data in datagrams:
            self.client.receive_datagram(data, SERVER_ADDR, self.pair.now)
        self.pair.collect()
        self.pair.exchange()

    def to_server(self, *datagrams: bytes) -> None:
        """Deliver datagrams to the server as if from the client, then let both react."""
        for data in datagrams:
            self.server.receive_datagram(data, CLIENT_ADDR, self.pair.now)
        self.pair.collect()
        self.pair.exchange()

    def both_established(self) -> bool:
        return (
            self.client.state is ConnectionState.ESTABLISHED
            and self.server.state is ConnectionState.ESTABLISHED
        )

    def round_trip(self, data: bytes = b"still alive") -> bool:
        """Application data both ways arrives (once): the association survived."""
        before_c = len(self.pair.client_outcome.data)
        before_s = len(self.pair.server_outcome.data)
        self.client.send(data)
        self.server.send(data[::-1])
        self.pair.exchange()
        return self.pair.server_outcome.data[before_s:] == [data] and self.pair.client_outcome.data[
            before_c:
        ] == [data[::-1]]


def protection(secret: bytes, epoch: int, suite: int = AES_128_GCM) -> RecordProtection13:
    """The record protection of ``epoch`` from one traffic secret (AES-128-GCM, SHA-256)."""
    keys = traffic_keys(hashes.SHA256(), secret, 16, 12, prefix=DTLS13_LABEL_PREFIX)
    return RecordProtection13(suite, key=keys.key, iv=keys.iv, sn_key=keys.sn_key, epoch=epoch)


@dataclass
class Forger:
    """Seals records of one epoch on sequence numbers of its own."""

    protection: RecordProtection13
    seq: int

    def record(
        self,
        content_type: int,
        payload: bytes,
        *,
        seq: int | None = None,
        include_length: bool = True,
        sequence_bits: int = 16,
    ) -> bytes:
        if seq is None:
            seq = self.seq
            self.seq += 1
        return self.protection.seal(
            content_type,
            payload,
            seq,
            include_length=include_length,
            sequence_bits=sequence_bits,
        )


def make_pair13(
    *,
    client_versions: tuple[ProtocolVersion, ...] = V13,
    server_versions: tuple[ProtocolVersion, ...] = BOTH,
    client: Callable[[DtlsConfiguration], None] | None = None,
    server: Callable[[DtlsConfiguration], None] | None = None,
) -> Pair13:
    """A client and a server (not yet driven); ``client``/``server`` adjust the configs."""
    log = io.StringIO()
    client_trace, server_trace = Traced(), Traced()
    client_cfg = client_config(versions=client_versions, key_log=log, trace=client_trace)
    server_cfg = server_config(versions=server_versions, trace=server_trace)
    if client is not None:
        client(client_cfg)
    if server is not None:
        server(server_cfg)
    pair = Pair(DtlsConnection(configuration=client_cfg), DtlsConnection(configuration=server_cfg))
    pair.client.connect(SERVER_ADDR, 0.0)
    return Pair13(pair, log, client_trace, server_trace)


def established13(
    *,
    client_versions: tuple[ProtocolVersion, ...] = V13,
    server_versions: tuple[ProtocolVersion, ...] = BOTH,
    client: Callable[[DtlsConfiguration], None] | None = None,
    server: Callable[[DtlsConfiguration], None] | None = None,
) -> Pair13:
    """A pair after its handshake (asserted: DTLS 1.3 unless only DTLS 1.2 is allowed)."""
    p = make_pair13(
        client_versions=client_versions,
        server_versions=server_versions,
        client=client,
        server=server,
    )
    p.drive()
    assert p.both_established(), (p.pair.client_outcome.events, p.pair.server_outcome.events)
    completed = p.pair.client_outcome.completed
    expected = "DTLSv1.2" if client_versions == V12 else "DTLSv1.3"
    assert completed is not None and completed.protocol_version == expected
    return p


def plaintext(content_type: int, payload: bytes, seq: int, *, epoch: int = 0) -> bytes:
    """A DTLSPlaintext record (13-byte header, version {254, 253})."""
    return encode_record_header(content_type, DTLS1_2, epoch, seq, len(payload)) + payload


def fragment(msg_type: int, message_seq: int, body: bytes) -> bytes:
    """A whole handshake message as one DTLS fragment (12-byte header)."""
    return encode_handshake_fragment(msg_type, message_seq, body)


def dropped(conn: DtlsConnection) -> int:
    """Records (or datagrams) the connection dropped so far, all reasons."""
    return sum(conn.stats.records_dropped.values())


def drop_reasons(conn: DtlsConnection) -> set[str]:
    return set(conn.stats.records_dropped)


def rewrite_plain_messages(
    datagram: bytes, msg_type: int, rewrite: Callable[[bytes], bytes]
) -> bytes:
    """The datagram with each whole epoch-0 handshake message of ``msg_type`` rewritten
    (``rewrite(body) -> body``); other records are kept byte for byte."""
    out = bytearray()
    for item in split_datagram13(datagram):
        if type(item) is RawRecord:
            payload = item.fragment
            if item.content_type == HANDSHAKE and item.epoch == 0:
                header = read_handshake_header(payload)
                if header.msg_type == msg_type and header.fragment_length == header.length:
                    body = payload[12 : 12 + header.length]
                    payload = (
                        fragment(msg_type, header.message_seq, rewrite(body))
                        + payload[12 + header.length :]
                    )
            out += plaintext(item.content_type, payload, item.sequence_number, epoch=item.epoch)
        elif type(item) is UnifiedRecord:
            out += datagram[item.offset : item.offset + item.header_length + item.length]
        else:
            raise AssertionError(f"our own datagram does not frame: {item}")
    return bytes(out)


def plain_messages(datagram: bytes) -> list[tuple[int, int, bytes]]:
    """(msg_type, message_seq, body) of each whole epoch-0 handshake message."""
    out = []
    for item in split_datagram13(datagram):
        if type(item) is RawRecord and item.content_type == HANDSHAKE and item.epoch == 0:
            header = read_handshake_header(item.fragment)
            if header.fragment_length == header.length:
                out.append(
                    (header.msg_type, header.message_seq, item.fragment[12:][: header.length])
                )
    return out


def edit_client_hello(edit: Callable[[ClientHello], None]) -> Callable[[bytes], bytes]:
    def rewrite(body: bytes) -> bytes:
        hello = decode_client_hello(body)
        edit(hello)
        return encode_client_hello(hello)

    return rewrite


def edit_server_hello(edit: Callable[[ServerHello], None]) -> Callable[[bytes], bytes]:
    def rewrite(body: bytes) -> bytes:
        hello = decode_server_hello(body)
        edit(hello)
        return encode_server_hello(hello)

    return rewrite


def terminated_with(p: Pair13, side: str) -> AlertDescription | None:
    """The alert that ended ``side`` ("client"/"server") by its own decision, else None."""
    outcome = p.pair.client_outcome if side == "client" else p.pair.server_outcome
    end = outcome.terminated
    assert end is not None, f"the {side} did not end: {outcome.events}"
    assert not end.by_peer, f"the {side} ended because of the peer: {end}"
    return end.alert


def next_message_seq(p: Pair13, side: str) -> int:
    """The next handshake message_seq ``side`` expects from its peer (private: reassembly has
    no public view; a forged message must carry it to reach the handshake)."""
    conn = p.client if side == "client" else p.server
    reassembler = conn._reassembler
    if reassembler is None:  # established, between post-handshake messages
        assert conn._v13 is not None
        return conn._v13.next_message_seq
    return reassembler.next_seq


def rewrite_client_hello(message_seq: int, edit: Callable[[ClientHello], None]) -> Deliver:
    """A deliver hook editing the client's ClientHello of ``message_seq`` on the path."""

    def deliver(direction: str, data: bytes) -> list[bytes]:
        if direction == "c2s":
            messages = plain_messages(data)
            if messages and messages[0][:2] == (1, message_seq):  # client_hello
                return [rewrite_plain_messages(data, 1, edit_client_hello(edit))]
        return [data]

    return deliver


def set_legacy_cookie(hello: ClientHello) -> None:
    """Give a DTLS 1.3 ClientHello a legacy_cookie (RFC 9147 §5.3: MUST be empty)."""
    hello.cookie = b"\x99" * 16
