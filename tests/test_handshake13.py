"""DTLS 1.3 handshakes without records: two sans-I/O handshakes wired by a fake sink.

Each flight's entries go to the other side as reassembled ``HandshakeMessage`` objects (what
the connection hands a handshake), in their epochs. Covers the full handshake with ECDSA and
RSA-PSS chains, mutual authentication, the failures (bad signature, bad Finished, unknown CA,
missing client certificate), external PSK (psk_dhe_ke and psk_ke), HelloRetryRequest,
resumption with a NewSessionTicket and KeyUpdate. SPEC V-items: the DTLS 1.3 handshake.
"""

from __future__ import annotations

import io
import random
import ssl
from dataclasses import dataclass, field

import pytest
from cryptography import x509

from aiodtls import AlertDescription, DtlsConfiguration, NamedGroup
from aiodtls.alerts import Alert
from aiodtls.buffer import BufferReadError
from aiodtls.configuration import PrivateKey
from aiodtls.handshake.client import ClientHandshake
from aiodtls.handshake.client13 import ClientHandshake13
from aiodtls.handshake.cookie import Admit, Challenge, CookieDoor, CookieSecrets
from aiodtls.handshake.flights import DTLS13, Client13State, Server13State
from aiodtls.handshake.hello_retry import HelloRetryExchange
from aiodtls.handshake.messages import HandshakeType, decode_client_hello
from aiodtls.handshake.messages.tls13 import transcript_message
from aiodtls.handshake.server import ServerHandshake
from aiodtls.handshake.server13 import ServerHandshake13
from aiodtls.handshake.state13 import Handshake13
from aiodtls.record.protection13 import OpenedRecord13, RecordProtection13
from aiodtls.reliability.flight import FlightEntry
from aiodtls.reliability.reassembly import HandshakeMessage
from aiodtls.resumption import ServerSessionStore
from aiodtls.suites import ProtocolVersion, Suite13
from aiodtls.trace import Tracer, TraceRecord
from certs import client_chain, self_signed, server_chain
from pairs import PSK, PSK_IDENTITY, client_config, server_config, server_config12

V13 = (ProtocolVersion.DTLSv1_3,)


@dataclass
class FakeSink:
    """Records keys per epoch and the messages a handshake sends."""

    read: dict[int, RecordProtection13] = field(default_factory=dict)
    write: dict[int, RecordProtection13] = field(default_factory=dict)
    outbox: list[FlightEntry] = field(default_factory=list)
    flights: list[tuple[int, bool, list[FlightEntry]]] = field(default_factory=list)
    post_handshake: list[FlightEntry] = field(default_factory=list)

    def _install_read_keys13(self, epoch: int, protection: RecordProtection13) -> None:
        self.read[epoch] = protection

    def _install_write_keys13(self, epoch: int, protection: RecordProtection13) -> None:
        self.write[epoch] = protection

    def _send_flight(self, entries: list[FlightEntry], *, final: bool, flight_number: int) -> None:
        self.flights.append((flight_number, final, list(entries)))
        self.outbox.extend(entries)

    def _send_post_handshake(self, entries: list[FlightEntry]) -> None:
        self.post_handshake.extend(entries)
        self.outbox.extend(entries)

    def _issue_connection_ids13(self, count: int) -> list[bytes]:
        return [bytes((i,)) * 4 for i in range(count)]

    def _use_send_connection_id13(self, cid: bytes) -> None:
        pass


@dataclass
class Pair13:
    client: ClientHandshake13
    server: ServerHandshake13
    client_sink: FakeSink
    server_sink: FakeSink
    traces: list[TraceRecord]
    now: float = 0.0

    def pump(self) -> None:
        """Deliver every queued message both ways until nothing moves."""
        moved = True
        while moved:
            moved = False
            for sink, peer in ((self.client_sink, self.server), (self.server_sink, self.client)):
                while sink.outbox:
                    entry = sink.outbox.pop(0)
                    deliver(peer, entry, self.now)
                    moved = True


def deliver(handshake: Handshake13, entry: FlightEntry, now: float) -> None:
    message = HandshakeMessage(entry.msg_type, entry.message_seq, entry.body, entry.epoch)
    if isinstance(handshake, ServerHandshake13) and handshake.state == DTLS13.server.initial:
        try:
            hello = decode_client_hello(entry.body)
        except BufferReadError:
            return  # the cookie door drops what does not parse (cookie.parse_client_hello)
        handshake.start(hello, message, now)
    else:
        handshake.handle(message, now)


def make_pair(client: DtlsConfiguration, server: DtlsConfiguration, *, now: float = 0.0) -> Pair13:
    client.versions = server.versions = V13
    traces: list[TraceRecord] = []
    c_sink, s_sink = FakeSink(), FakeSink()
    c = ClientHandshake13(client, c_sink, Tracer("client", traces.append))
    s = ServerHandshake13(server, s_sink, Tracer("server", traces.append))
    c._trace.now = now
    return Pair13(c, s, c_sink, s_sink, traces, now)


def run(client: DtlsConfiguration, server: DtlsConfiguration, *, now: float = 0.0) -> Pair13:
    pair = make_pair(client, server, now=now)
    pair.client.start()
    pair.pump()
    return pair


def run_failing(client: DtlsConfiguration, server: DtlsConfiguration) -> tuple[Pair13, Alert]:
    """Run until one side raises; return the alert."""
    pair = make_pair(client, server)
    pair.client.start()
    with pytest.raises(Alert) as info:
        pair.pump()
    return pair, info.value


def assert_same_keys(writer: FakeSink, reader: FakeSink, epoch: int) -> None:
    """A record sealed with one side's write keys opens with the other's read keys."""
    record = writer.write[epoch].seal(23, b"hello 1.3", 5)
    opened = reader.read[epoch].open(record, 0, 5)
    assert isinstance(opened, OpenedRecord13), opened
    assert opened.content == b"hello 1.3" and opened.sequence_number == 5


def assert_complete(pair: Pair13) -> None:
    assert pair.client.complete and pair.server.complete
    assert pair.client.state == Client13State.CLIENT13_CONNECTED
    assert pair.server.state == Server13State.SERVER13_CONNECTED
    for epoch in (2, 3):
        assert_same_keys(pair.client_sink, pair.server_sink, epoch)
        assert_same_keys(pair.server_sink, pair.client_sink, epoch)
    assert pair.client.result.suite13 == pair.server.result.suite13
    assert pair.client.result.version == ProtocolVersion.DTLSv1_3
    label = b"EXPERIMENTAL-test"
    assert pair.client.export_keying_material(label, 32, b"x") == (
        pair.server.export_keying_material(label, 32, b"x")
    )


# -- full handshake with certificates -----------------------------------------------------


@pytest.mark.parametrize("kind", ["ecdsa", "rsa"])
def test_full_handshake_with_certificates(kind: str) -> None:
    chain = server_chain(kind)  # type: ignore[arg-type]
    pair = run(client_config(chain), server_config(chain))
    assert_complete(pair)
    assert pair.client.result.peer_certificates[0] == chain.certificate
    assert [f[0] for f in pair.client_sink.flights] == [1, 5]
    assert [f[0] for f in pair.server_sink.flights] == [4]
    assert pair.client_sink.flights[-1][1] is True  # the client's Finished flight is final
    # Flight 4: ServerHello in epoch 0, the rest in epoch 2 (RFC 9147 §5).
    server_flight = pair.server_sink.flights[0][2]
    assert [(e.msg_type, e.epoch) for e in server_flight] == [
        (HandshakeType.server_hello, 0),
        (HandshakeType.encrypted_extensions, 2),
        (HandshakeType.certificate, 2),
        (HandshakeType.certificate_verify, 2),
        (HandshakeType.finished, 2),
    ]
    assert [e.message_seq for e in server_flight] == [0, 1, 2, 3, 4]
    if kind == "rsa":
        cv = server_flight[3].body
        assert int.from_bytes(cv[:2], "big") in (0x0804, 0x0805)  # rsa_pss_rsae only


def test_transcript_is_tls_style() -> None:
    pair = run(client_config(), server_config())
    assert_complete(pair)
    first = pair.client_sink.flights[0][2][0]
    assert pair.server.transcript.startswith(
        transcript_message(HandshakeType.client_hello, first.body)
    )
    assert pair.client.transcript == pair.server.transcript


@pytest.mark.parametrize("suite", list(Suite13)[:4])
def test_each_suite(suite: Suite13) -> None:
    pair = run(client_config(cipher_suites13=[suite]), server_config())
    assert_complete(pair)
    assert pair.client.result.suite13 == suite


@pytest.mark.parametrize("group", list(NamedGroup))
def test_each_group(group: NamedGroup) -> None:
    pair = run(client_config(groups=[group]), server_config(groups=[group]))
    assert_complete(pair)
    assert pair.client.result.group == pair.server.result.group == group


def test_mutual_authentication_and_alpn() -> None:
    cchain = client_chain("ecdsa")
    client = client_config(
        certificate_chain=cchain.chain, private_key=cchain.key, alpn_protocols=["coap"]
    )
    server = server_config(
        verify_mode=ssl.CERT_REQUIRED, ca_certificates=[cchain.root], alpn_protocols=["h2", "coap"]
    )
    pair = run(client, server)
    assert_complete(pair)
    assert pair.server.result.peer_certificates[0] == cchain.certificate
    assert pair.client.result.alpn_protocol == pair.server.result.alpn_protocol == "coap"
    kinds = [e.msg_type for e in pair.client_sink.flights[-1][2]]
    assert kinds == [HandshakeType.certificate, HandshakeType.certificate_verify, 20]


def test_client_without_certificate_is_refused_when_required() -> None:
    server = server_config(verify_mode=ssl.CERT_REQUIRED, ca_certificates=[client_chain().root])
    _, alert = run_failing(client_config(), server)
    assert alert.description == AlertDescription.certificate_required


def test_client_without_certificate_when_optional() -> None:
    server = server_config(verify_mode=ssl.CERT_OPTIONAL, ca_certificates=[client_chain().root])
    pair = run(client_config(), server)
    assert_complete(pair)
    assert pair.server.result.peer_certificates == []


def test_unknown_ca_fails() -> None:
    _, alert = run_failing(client_config(server_chain("rsa")), server_config())
    assert alert.description in (AlertDescription.unknown_ca, AlertDescription.bad_certificate)


def test_self_signed_unknown() -> None:
    leaf = self_signed()
    server = server_config(leaf)
    _, alert = run_failing(client_config(server_chain()), server)
    assert alert.description in (AlertDescription.unknown_ca, AlertDescription.bad_certificate)


def _tamper(sink: FakeSink, msg_type: int) -> None:
    for entry in sink.outbox:
        if entry.msg_type == msg_type:
            body = bytearray(entry.body)
            body[-1] ^= 1
            entry.body = bytes(body)


def test_bad_server_signature_fails_with_decrypt_error() -> None:
    pair = make_pair(client_config(), server_config())
    pair.client.start()
    deliver(pair.server, pair.client_sink.outbox.pop(0), 0.0)
    _tamper(pair.server_sink, HandshakeType.certificate_verify)
    with pytest.raises(Alert) as info:
        pair.pump()
    assert info.value.description == AlertDescription.decrypt_error


def test_bad_server_finished_fails_with_decrypt_error() -> None:
    pair = make_pair(client_config(), server_config())
    pair.client.start()
    deliver(pair.server, pair.client_sink.outbox.pop(0), 0.0)
    _tamper(pair.server_sink, HandshakeType.finished)
    with pytest.raises(Alert) as info:
        pair.pump()
    assert info.value.description == AlertDescription.decrypt_error
    assert not pair.client.complete


def test_bad_client_finished_fails_with_decrypt_error() -> None:
    pair = make_pair(client_config(), server_config())
    pair.client.start()
    deliver(pair.server, pair.client_sink.outbox.pop(0), 0.0)
    while pair.server_sink.outbox:
        deliver(pair.client, pair.server_sink.outbox.pop(0), 0.0)
    _tamper(pair.client_sink, HandshakeType.finished)
    with pytest.raises(Alert) as info:
        pair.pump()
    assert info.value.description == AlertDescription.decrypt_error
    assert not pair.server.complete


def test_message_in_wrong_epoch_is_unexpected() -> None:
    pair = make_pair(client_config(), server_config())
    pair.client.start()
    deliver(pair.server, pair.client_sink.outbox.pop(0), 0.0)
    for entry in pair.server_sink.outbox:
        if entry.msg_type == HandshakeType.encrypted_extensions:
            entry.epoch = 0
    with pytest.raises(Alert) as info:
        pair.pump()
    assert info.value.description == AlertDescription.unexpected_message


def test_key_log_lines() -> None:
    log = io.StringIO()
    pair = run(client_config(key_log=log), server_config())
    assert_complete(pair)
    names = [line.split()[0] for line in log.getvalue().splitlines()]
    assert names == [
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0",
        "EXPORTER_SECRET",
    ]
    assert all(pair.client.client_random.hex() in line for line in log.getvalue().splitlines())


# -- HelloRetryRequest ----------------------------------------------------------------------


def test_hello_retry_request_for_another_group() -> None:
    client = client_config(groups=[NamedGroup.x25519, NamedGroup.secp384r1])
    server = server_config(groups=[NamedGroup.secp384r1])
    pair = run(client, server)
    assert_complete(pair)
    assert pair.client.result.group == NamedGroup.secp384r1
    assert [f[0] for f in pair.client_sink.flights] == [1, 3, 5]
    assert [f[0] for f in pair.server_sink.flights] == [2, 4]
    assert pair.client_sink.flights[1][2][0].message_seq == 1
    assert pair.server_sink.flights[1][2][0].message_seq == 1
    assert pair.client.transcript[0] == HandshakeType.message_hash
    assert pair.client.transcript == pair.server.transcript


def test_no_common_group_fails() -> None:
    client = client_config(groups=[NamedGroup.x25519])
    server = server_config(groups=[NamedGroup.secp384r1])
    _, alert = run_failing(client, server)
    assert alert.description == AlertDescription.handshake_failure


# -- external PSK ---------------------------------------------------------------------------


def psk_pair(**server_fields: object) -> tuple[DtlsConfiguration, DtlsConfiguration]:
    client = DtlsConfiguration(
        is_client=True, psk=PSK, psk_identity=PSK_IDENTITY, verify_mode=ssl.CERT_NONE
    )
    server = DtlsConfiguration(is_client=False, psk=PSK)
    for name, value in server_fields.items():
        setattr(server, name, value)
    return client, server


def test_external_psk_dhe() -> None:
    pair = run(*psk_pair())
    assert_complete(pair)
    assert pair.server.result.psk_identity == PSK_IDENTITY
    assert pair.client.result.psk_mode == pair.server.result.psk_mode == "psk_dhe_ke"
    kinds = [e.msg_type for e in pair.server_sink.flights[0][2]]
    assert kinds == [HandshakeType.server_hello, HandshakeType.encrypted_extensions, 20]


def test_external_psk_ke() -> None:
    client, server = psk_pair(psk_key_exchange_modes=("psk_ke",))
    client.psk_key_exchange_modes = ("psk_ke",)
    pair = run(client, server)
    assert_complete(pair)
    assert pair.client.result.psk_mode == "psk_ke"
    assert pair.client.result.group is None


def test_external_psk_lookup() -> None:
    client, server = psk_pair(psk=None, psk_lookup={PSK_IDENTITY: PSK}.get)
    pair = run(client, server)
    assert_complete(pair)


def test_wrong_psk_fails_with_decrypt_error() -> None:
    client, server = psk_pair(psk=bytes(16))
    _, alert = run_failing(client, server)
    assert alert.description == AlertDescription.decrypt_error  # the binder


def test_unknown_psk_identity() -> None:
    client, server = psk_pair(psk=None, psk_lookup=lambda identity: None)
    _, alert = run_failing(client, server)
    assert alert.description == AlertDescription.unknown_psk_identity


def test_psk_with_hello_retry_request() -> None:
    client, server = psk_pair(groups=[NamedGroup.secp256r1])
    pair = run(client, server)
    assert_complete(pair)
    assert [f[0] for f in pair.client_sink.flights] == [1, 3, 5]
    assert pair.client.result.psk_mode == "psk_dhe_ke"


# -- resumption -----------------------------------------------------------------------------


def test_resumption_with_new_session_ticket() -> None:
    store = ServerSessionStore()
    server = server_config(session_store=store)
    pair = run(client_config(), server, now=100.0)
    assert_complete(pair)
    assert [e.msg_type for e in pair.server_sink.post_handshake] == [
        HandshakeType.new_session_ticket
    ]
    assert pair.server_sink.post_handshake[0].epoch == 3
    session = pair.client.result.session
    assert session is not None and session.ticket
    again = run(client_config(session=session), server_config(session_store=store), now=101.0)
    assert_complete(again)
    assert again.client.result.resumed and again.server.result.resumed
    assert again.client.result.psk_mode == "psk_dhe_ke"
    assert again.client.result.peer_certificates == pair.client.result.peer_certificates
    # No certificate in the resumed flight 4.
    kinds = [e.msg_type for e in again.server_sink.flights[0][2]]
    assert HandshakeType.certificate not in kinds
    assert any(t.kind == "session_resumed" for t in again.traces)


def test_expired_ticket_is_not_offered() -> None:
    store = ServerSessionStore(session_lifetime=10)
    pair = run(client_config(), server_config(session_store=store), now=100.0)
    session = pair.client.result.session
    assert session is not None
    again = run(client_config(session=session), server_config(session_store=store), now=200.0)
    assert_complete(again)
    assert not again.client.result.resumed


def test_ticket_of_another_store_means_full_handshake() -> None:
    pair = run(client_config(), server_config(session_store=ServerSessionStore()), now=1.0)
    session = pair.client.result.session
    assert session is not None
    other = server_config(session_store=ServerSessionStore())
    again = run(client_config(session=session), other, now=2.0)
    assert_complete(again)
    assert not again.server.result.resumed and not again.client.result.resumed


# -- KeyUpdate ------------------------------------------------------------------------------


def test_key_update_both_ways() -> None:
    pair = run(client_config(), server_config())
    assert_complete(pair)
    pair.client.request_key_update()
    entry = pair.client_sink.post_handshake[-1]
    assert (entry.msg_type, entry.epoch) == (HandshakeType.key_update, 3)
    pair.pump()  # the server installs read 4 and answers with its own KeyUpdate
    assert 4 in pair.server_sink.read and 4 not in pair.client_sink.write
    answer = pair.server_sink.post_handshake[-1]
    assert answer.msg_type == HandshakeType.key_update and answer.body == b"\x00"
    pair.client.on_key_update_acked()  # the connection saw the ACK
    pair.server.on_key_update_acked()
    assert pair.client.write_epoch == pair.server.write_epoch == 4
    assert_same_keys(pair.client_sink, pair.server_sink, 4)
    assert_same_keys(pair.server_sink, pair.client_sink, 4)
    # A second round goes to epoch 5.
    pair.server.request_key_update(update_requested=False)
    pair.pump()
    pair.server.on_key_update_acked()
    assert_same_keys(pair.server_sink, pair.client_sink, 5)
    assert pair.client.read_epoch == 5 and pair.client.write_epoch == 4


def test_key_update_in_old_epoch_is_unexpected() -> None:
    pair = run(client_config(), server_config())
    pair.client.request_key_update()
    pair.client_sink.outbox[-1].epoch = 2
    with pytest.raises(Alert) as info:
        pair.pump()
    assert info.value.description == AlertDescription.unexpected_message


# -- stateless HelloRetryRequest with a cookie (the cookie door) ----------------------------


def _door_pair(
    client: DtlsConfiguration, server: DtlsConfiguration
) -> tuple[Pair13, CookieDoor, HelloRetryExchange]:
    pair = make_pair(client, server)
    exchange = HelloRetryExchange(server)
    return pair, CookieDoor(CookieSecrets(b"k" * 32), exchange), exchange


ADDR = ("192.0.2.1", 5684)


def _hrr_from(datagram: bytes) -> HandshakeMessage:
    body = datagram[13 + 12 :]
    assert datagram[13] == HandshakeType.server_hello
    return HandshakeMessage(HandshakeType.server_hello, 0, body, 0)


@pytest.mark.parametrize("server_groups", [None, [NamedGroup.secp384r1]])
def test_stateless_hello_retry_request_with_cookie(server_groups: list[NamedGroup] | None) -> None:
    server = server_config() if server_groups is None else server_config(groups=server_groups)
    client = client_config(groups=[NamedGroup.x25519, NamedGroup.secp384r1])
    pair, door, exchange = _door_pair(client, server)
    pair.client.start()
    ch1 = pair.client_sink.outbox.pop(0)
    verdict = door.admit(decode_client_hello(ch1.body), 0, 2000, ADDR, 1.0)
    assert isinstance(verdict, Challenge)
    pair.client.handle(_hrr_from(verdict.datagrams[0]), 1.0)  # flight 3
    ch2 = pair.client_sink.outbox.pop(0)
    assert ch2.message_seq == 1
    hello2 = decode_client_hello(ch2.body)
    admitted = door.admit(hello2, 1, 2000, ADDR, 1.1)
    assert isinstance(admitted, Admit)
    state = exchange.cookie_state(hello2)
    assert state is not None
    message = HandshakeMessage(ch2.msg_type, ch2.message_seq, ch2.body, 0)
    pair.server.start(hello2, message, 1.1, cookie_state=state)  # no state kept before
    assert pair.server_sink.flights[0][2][0].message_seq == 1  # ServerHello after the HRR
    pair.pump()
    assert_complete(pair)
    assert pair.client.transcript == pair.server.transcript
    if server_groups:
        assert pair.server.result.group == NamedGroup.secp384r1


def test_cookie_from_another_address_is_refused() -> None:
    pair, door, _ = _door_pair(client_config(), server_config())
    pair.client.start()
    ch1 = pair.client_sink.outbox.pop(0)
    verdict = door.admit(decode_client_hello(ch1.body), 0, 2000, ADDR, 1.0)
    assert isinstance(verdict, Challenge)
    pair.client.handle(_hrr_from(verdict.datagrams[0]), 1.0)
    hello2 = decode_client_hello(pair.client_sink.outbox.pop(0).body)
    again = door.admit(hello2, 1, 2000, ("192.0.2.2", 5684), 1.1)
    assert isinstance(again, Challenge) and again.refused


def test_door_answers_dtls12_hello_with_hello_verify_request() -> None:
    exchange = HelloRetryExchange(server_config())
    door = CookieDoor(CookieSecrets(b"k" * 32), exchange)
    hello = decode_client_hello(_dtls12_client_hello())
    verdict = door.admit(hello, 0, 2000, ADDR, 1.0)
    assert isinstance(verdict, Challenge)
    assert verdict.datagrams[0][13] == HandshakeType.hello_verify_request


def _dtls12_client_hello() -> bytes:
    from aiodtls.handshake.messages import ClientHello, encode_client_hello

    return encode_client_hello(
        ClientHello(0xFEFD, bytes(32), b"", b"", [0xC02B], b"\x00", [(10, b"\x00\x02\x00\x17")])
    )


def test_dtls12_server_marks_downgrade_when_it_speaks_dtls13() -> None:
    from aiodtls.handshake.messages.tls13 import DOWNGRADE_TLS12

    both = server_config12(versions=(ProtocolVersion.DTLSv1_2, ProtocolVersion.DTLSv1_3))
    only12 = server_config12()
    tracer = Tracer("server", None)
    marked = ServerHandshake(both, None, tracer)  # type: ignore[arg-type]
    plain = ServerHandshake(only12, None, tracer)  # type: ignore[arg-type]
    assert marked._new_server_random()[-8:] == DOWNGRADE_TLS12
    assert plain._new_server_random()[-8:] != DOWNGRADE_TLS12


def test_client_refuses_downgraded_server_hello() -> None:
    from aiodtls.handshake.messages import ServerHello, encode_server_hello
    from aiodtls.handshake.messages.tls13 import DOWNGRADE_TLS12

    pair = make_pair(client_config(), server_config())
    pair.client.start()
    hello = ServerHello(0xFEFD, bytes(24) + DOWNGRADE_TLS12, b"", 0x1301, 0, [])
    with pytest.raises(Alert) as info:
        pair.client.handle(HandshakeMessage(2, 0, encode_server_hello(hello), 0), 0.0)
    assert info.value.description == AlertDescription.illegal_parameter


# -- connection IDs (RFC 9147 §9) -----------------------------------------------------------


def test_connection_ids_in_hellos() -> None:
    pair = run(client_config(connection_id_length=4), server_config(connection_id_length=6))
    assert_complete(pair)  # the protections carry each side's CID
    c_ids, s_ids = pair.client.result.connection_ids, pair.server.result.connection_ids
    assert c_ids is not None and s_ids is not None
    assert len(c_ids[0]) == 4 and len(s_ids[0]) == 6
    assert c_ids == (s_ids[1], s_ids[0])
    sh = pair.server_sink.flights[0][2][0].body
    assert s_ids[0] in sh  # in the ServerHello, not EncryptedExtensions


def test_no_connection_ids_unless_both_ask() -> None:
    pair = run(client_config(connection_id_length=4), server_config())
    assert_complete(pair)
    assert pair.client.result.connection_ids is not None
    assert pair.client.result.connection_ids[1] is None


# -- malformed messages end in alerts, never in other exceptions (untrusted input) ----------


def _mutations(body: bytes, rng: random.Random) -> list[bytes]:
    out = [body[: rng.randrange(len(body))] if body else b"\x00", body + b"\x00"]
    for _ in range(6):
        data = bytearray(body or b"\x00")
        position = rng.randrange(len(data))
        data[position] ^= 1 << rng.randrange(8)
        out.append(bytes(data))
    return out


@pytest.mark.parametrize("scenario", ["certificate", "mutual", "psk", "hrr"])
def test_mutated_messages_raise_only_alerts(scenario: str) -> None:
    rng = random.Random(scenario)

    def configs() -> tuple[DtlsConfiguration, DtlsConfiguration]:
        if scenario == "psk":
            return psk_pair()
        if scenario == "hrr":
            return client_config(), server_config(groups=[NamedGroup.secp384r1])
        if scenario == "mutual":
            cchain = client_chain("ecdsa")
            return client_config(certificate_chain=cchain.chain, private_key=cchain.key), (
                server_config(verify_mode=ssl.CERT_REQUIRED, ca_certificates=[cchain.root])
            )
        return client_config(), server_config()

    for target in range(12):  # every message of the longest of these handshakes
        for variant in range(8):
            pair = make_pair(*configs())
            pair.client.start()
            count = 0
            try:
                moved = True
                while moved:
                    moved = False
                    for sink, peer in (
                        (pair.client_sink, pair.server),
                        (pair.server_sink, pair.client),
                    ):
                        while sink.outbox:
                            entry = sink.outbox.pop(0)
                            if count == target:
                                entry.body = _mutations(entry.body, rng)[variant]
                            count += 1
                            deliver(peer, entry, 0.0)
                            moved = True
            except Alert:
                pass


# -- a real DTLS 1.3 ClientHello (wolfSSL 5.7.2, tests/vectors13.py) -------


def test_server_accepts_wolfssl_psk_client_hello() -> None:
    """wolfSSL's external-PSK ClientHello (key shares for P-256 and ffdhe2048, psk_ke and
    psk_dhe_ke): the binder verifies and the server answers with psk_dhe_ke over P-256."""
    from test_messages13 import handshake_in_datagram, wolfssl_example_psk
    from vectors13 import WOLFSSL_PSK_CLIENT_HELLO_DATAGRAM

    _, seq, body = handshake_in_datagram(WOLFSSL_PSK_CLIENT_HELLO_DATAGRAM)
    server = DtlsConfiguration(
        is_client=False,
        versions=V13,
        psk=wolfssl_example_psk(),
        psk_identity=b"Client_identitySHA256",
    )
    sink = FakeSink()
    handshake = ServerHandshake13(server, sink, Tracer("server", None))
    message = HandshakeMessage(HandshakeType.client_hello, seq, body, 0)
    handshake.start(decode_client_hello(body), message, 0.0)
    assert handshake.result.psk_identity == b"Client_identitySHA256"
    assert handshake.result.psk_mode == "psk_dhe_ke"
    assert handshake.result.group == NamedGroup.secp256r1
    assert [e.msg_type for e in sink.flights[0][2]] == [2, 8, 20]
    assert 2 in sink.read and 2 in sink.write


def test_sni_callback_chooses_the_certificate() -> None:
    rsa = server_chain("rsa")
    names: list[str | None] = []

    def choose(name: str | None) -> tuple[list[x509.Certificate], PrivateKey] | None:
        names.append(name)
        return rsa.chain, rsa.key

    pair = run(client_config(rsa), server_config(sni_callback=choose))
    assert_complete(pair)
    assert names == ["localhost"]
    assert pair.client.result.peer_certificates[0] == rsa.certificate


def test_sni_callback_refusal_is_its_alert() -> None:
    server = server_config(sni_callback=lambda name: AlertDescription.unrecognized_name)
    _, alert = run_failing(client_config(), server)
    assert alert.description == AlertDescription.unrecognized_name


def test_server_never_echoes_legacy_session_id() -> None:
    """RFC 9147 §5: no compatibility mode; the ServerHello's legacy_session_id_echo is empty
    even when the ClientHello carried a (pre-1.3 cached) session ID; so is the HRR's."""
    from aiodtls.handshake.messages import decode_server_hello, encode_client_hello

    pair = make_pair(client_config(), server_config(groups=[NamedGroup.secp384r1]))
    pair.client.start()
    entry = pair.client_sink.outbox.pop(0)
    hello = decode_client_hello(entry.body)
    hello.session_id = b"\x07" * 32
    message = HandshakeMessage(1, 0, encode_client_hello(hello), 0)
    pair.server.start(hello, message, 0.0)
    hrr = decode_server_hello(pair.server_sink.outbox[0].body)
    assert hrr.session_id == b""


def test_resumption_checks_the_client_chain_again() -> None:
    """The client's certificate from the ticket is checked again on resumption (as DTLS 1.2
    does): still trusted, it is the resumed peer; no longer trusted, a full handshake follows."""
    cchain = client_chain("ecdsa")
    store = ServerSessionStore()

    def client() -> DtlsConfiguration:
        return client_config(certificate_chain=cchain.chain, private_key=cchain.key)

    def server(trusted: bool) -> DtlsConfiguration:
        roots = [cchain.root] if trusted else [server_chain().root]
        return server_config(
            session_store=store, verify_mode=ssl.CERT_REQUIRED, ca_certificates=roots
        )

    first = run(client(), server(True), now=10.0)
    assert_complete(first)
    session = first.client.result.session
    assert session is not None
    resumed = run(client_config(session=session), server(True), now=11.0)
    assert_complete(resumed)
    assert resumed.server.result.resumed
    assert resumed.server.result.peer_certificates[0] == cchain.certificate
    refused = make_pair(client_config(session=session), server(False), now=12.0)
    refused.client.start()
    with pytest.raises(Alert) as info:  # a full handshake, in which our chain is untrusted
        refused.pump()
    assert not refused.server.result.resumed
    assert info.value.description == AlertDescription.certificate_required


def test_dtls_srtp_in_encrypted_extensions() -> None:
    from aiodtls.srtp import SrtpProfile

    profiles = [SrtpProfile.SRTP_AEAD_AES_128_GCM, SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80]
    pair = run(
        client_config(srtp_profiles=profiles),
        server_config(srtp_profiles=[SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80]),
    )
    assert_complete(pair)
    assert pair.client.result.srtp_profile == SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80
    assert pair.server.result.srtp_profile == SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80
    ee = pair.server_sink.flights[0][2][1]
    assert ee.msg_type == HandshakeType.encrypted_extensions and b"\x00\x0e" in ee.body
    # A server without DTLS-SRTP ignores the offer, which the client refuses.
    _, alert = run_failing(client_config(srtp_profiles=profiles), server_config())
    assert alert.description == AlertDescription.handshake_failure


# -- a client that allows both versions: one ClientHello, DTLS 1.2 as the fall back ----------


class FakeSink12(FakeSink):
    """The DTLS 1.2 sink methods too (the connection implements both)."""

    def _install_read_keys(self, epoch: int, protection: object) -> None:
        self.read12 = getattr(self, "read12", 0) + 1

    def _install_write_keys(self, epoch: int, protection: object) -> None:
        self.write12 = getattr(self, "write12", 0) + 1

    def _hello_verify_request_received(self, sequence_number: int) -> bool:
        return True

    def _use_connection_ids(self, receive_cid: bytes, send_cid: bytes) -> None:
        pass


BOTH = (ProtocolVersion.DTLSv1_2, ProtocolVersion.DTLSv1_3)


def _dual_client(sink: FakeSink12) -> tuple[ClientHandshake13, ClientHandshake]:
    """A client that allows both versions: the DTLS 1.3 handshake offers the 1.2 one's
    ClientHello too (``start(also_offer=...)``)."""
    config = client_config(versions=BOTH)
    tracer = Tracer("client", None)
    return ClientHandshake13(config, sink, tracer), ClientHandshake(config, sink, tracer)


def test_dual_version_client_gets_dtls13_from_a_dtls13_server() -> None:
    sink = FakeSink12()
    client, client12 = _dual_client(sink)
    server_sink = FakeSink()
    server = ServerHandshake13(server_config(versions=V13), server_sink, Tracer("server", None))
    pair = Pair13(client, server, sink, server_sink, [])
    client.start(also_offer=client12.client_hello())
    hello = decode_client_hello(sink.outbox[0].body)
    assert 0xC02B in hello.cipher_suites and hello.cipher_suites[0] == 0x1301
    pair.pump()
    assert_complete(pair)


def _run12(
    sink: FakeSink12, server_config_: DtlsConfiguration
) -> tuple[ClientHandshake, ServerHandshake]:
    """A dual-version client against a DTLS 1.2 server: the 1.2 handshake adopts the
    ClientHello the 1.3 one sent, as the connection does on a 1.2 ServerHello."""
    client, client12 = _dual_client(sink)
    s_sink = FakeSink12()
    server = ServerHandshake(server_config_, s_sink, Tracer("server", None))
    client.start(also_offer=client12.client_hello())
    ch = sink.outbox.pop(0)
    message = HandshakeMessage(ch.msg_type, ch.message_seq, ch.body, 0)
    server.start(decode_client_hello(ch.body), message, 0.0)
    hello = client.sent_hello
    assert hello is not None and client.awaits_server_hello
    client12.adopt(hello, offered_dtls13=True)
    while s_sink.outbox or sink.outbox:
        for source, target in ((s_sink, client12), (sink, server)):
            while source.outbox:
                entry = source.outbox.pop(0)
                if entry.content_type == 22:  # not the ChangeCipherSpec
                    target.handle(
                        HandshakeMessage(
                            entry.msg_type, entry.message_seq, entry.body, entry.epoch
                        ),
                        0.0,
                    )
    return client12, server


def test_dual_version_client_falls_back_to_a_dtls12_server() -> None:
    current, server = _run12(FakeSink12(), server_config12())
    assert current.complete and server.complete
    assert current.result.suite == server.result.suite
    assert current.export_keying_material(b"x", 16, None) == server.export_keying_material(
        b"x", 16, None
    )


def test_dual_version_client_refuses_a_downgraded_server_hello() -> None:
    with pytest.raises(Alert) as info:  # a 1.3-capable server answered in 1.2: a downgrade
        _run12(FakeSink12(), server_config(versions=BOTH))
    assert info.value.description == AlertDescription.illegal_parameter


def test_key_update_waits_for_its_own_ack() -> None:
    """An ACK of another post-handshake message (a NewSessionTicket queued before it) does
    not move our write keys; the ACK of the KeyUpdate does (RFC 9147 §8, V20)."""
    pair = run(client_config(), server_config(session_store=ServerSessionStore()))
    ticket = pair.server_sink.post_handshake[-1]
    pair.server.request_key_update()
    key_update = pair.server_sink.post_handshake[-1]
    pair.server.on_key_update_acked([ticket])
    assert pair.server.write_epoch == 3
    pair.server.on_key_update_acked([key_update])
    assert pair.server.write_epoch == 4
