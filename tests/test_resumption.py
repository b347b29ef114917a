"""Session resumption (issue 12): session IDs, RFC 5077 tickets, the abbreviated handshake.

Covers checklist T1 (the abbreviated flights), T4 (the client sends the last flight and
re-sends it when the server repeats; the server ignores a stray Finished), C8 (a cookie
exchange before resumption), E3 and X24 (EMS on resumption), and the limits of
``aiodtls.resumption.ServerSessionStore``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import pickle
import ssl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiodtls import (
    CipherSuite,
    ConnectionState,
    DtlsConfiguration,
    DtlsConnection,
    DtlsEndpoint,
    HandshakeCompleted,
    ServerSessionStore,
    Session,
)
from aiodtls import asyncio as dtls_asyncio
from aiodtls import sync as dtls_sync
from aiodtls.alerts import AlertDescription, AlertLevel
from aiodtls.buffer import BufferReadError
from aiodtls.handshake.flights import (
    ABBREVIATED,
    HELLO_VERIFY_REQUEST,
    RESUMED_SERVER_HELLO,
    SERVER_FINISHED,
    Flight,
    Side,
)
from aiodtls.handshake.messages import ExtensionType, HandshakeType
from aiodtls.handshake.server import ServerHandshake
from aiodtls.resumption import SessionState
from pairs import (
    CLIENT_ADDR,
    DTLS12_ONLY,
    PSK,
    PSK_IDENTITY,
    SERVER_ADDR,
    Deliver,
    Pair,
    client_auth_configs12,
    client_config12,
    psk_configs12,
    server_config12,
)
from test_attacks import (
    ALERT,
    CCS,
    HS,
    Extension,
    Spoofer,
    _edit_client_hello,
    _edit_server_hello,
    assert_refused,
    carries,
    inject,
    records_of,
    session_keys,
)
from test_endpoint import Harness

EMS = ExtensionType.extended_master_secret


def connect(
    client_cfg: DtlsConfiguration,
    server_cfg: DtlsConfiguration,
    *,
    at: float = 0.0,
    deliver: Deliver | None = None,
) -> Pair:
    """A whole handshake in memory that starts at ``at`` (virtual seconds)."""
    pair = Pair(
        DtlsConnection(configuration=client_cfg),
        DtlsConnection(configuration=server_cfg),
        now=at,
    )
    pair.client.connect(SERVER_ADDR, at)
    pair.drive(deliver, until=at + 300.0)
    return pair


def resumed(pair: Pair) -> bool:
    """Both sides completed, and both say whether they resumed the same way."""
    client, server = pair.client_outcome.completed, pair.server_outcome.completed
    assert client is not None, pair.client_outcome.terminated
    assert server is not None, pair.server_outcome.terminated
    assert client.session_resumed == server.session_resumed
    assert pair.client.session_resumed == client.session_resumed
    assert pair.server.session_resumed == server.session_resumed
    return client.session_resumed


def resuming(
    client_cfg: DtlsConfiguration, server_cfg: DtlsConfiguration, *, at: float = 0.0
) -> Pair:
    """A full handshake at ``at``; then ``client_cfg.session`` is its session."""
    first = connect(client_cfg, server_cfg, at=at)
    assert not resumed(first)
    assert first.client.session is not None
    client_cfg.session = first.client.session
    return first


def store_configs(
    kind: str, **store: object
) -> tuple[DtlsConfiguration, DtlsConfiguration, ServerSessionStore]:
    """A client and a server with a ``ServerSessionStore``: certificates or a PSK."""
    client, server = psk_configs12() if kind == "psk" else (client_config12(), server_config12())
    server.session_store = ServerSessionStore(**store)  # type: ignore[arg-type]
    return client, server, server.session_store


def flight_types(pair: Pair, direction: str) -> list[list[str]]:
    """Per datagram sent in ``direction``: the plaintext handshake messages and other records
    (``CCS``, ``protected handshake``)."""
    out = []
    for _, d, data in pair.sent:
        if d != direction:
            continue
        kinds = []
        for record in records_of(data):
            if record.content_type == CCS:
                kinds.append("CCS")
            elif record.content_type == HS and record.epoch > 0:
                kinds.append("protected handshake")
            elif record.content_type == HS:
                kinds += [t.name for t in HandshakeType if carries(data, t) and t.name not in kinds]
        out.append(kinds)
    return out


def wire_kinds(flight: Flight, *sent: HandshakeType) -> list[str]:
    """What :func:`flight_types` shows of ``flight`` (handshake/flights.py) sent in one
    datagram, with the optional messages in ``sent``."""
    kinds = []
    for carried in flight.carries:
        if carried.optional and carried.msg_type not in sent:
            continue
        if carried.msg_type is None:
            kinds.append("CCS")
        elif flight.epoch_of(carried.msg_type):
            kinds.append("protected handshake")
        else:
            kinds.append(carried.msg_type.name)
    return kinds


# -- the abbreviated handshake ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["certificates", "psk"])
@pytest.mark.parametrize("tickets", [True, False], ids=["ticket", "session-id"])
def test_the_abbreviated_handshake_resumes(kind: str, tickets: bool) -> None:  # T1, C8
    client, server, store = store_configs(kind, tickets=tickets)
    first = resuming(client, server)
    session = first.client.session
    assert session is not None and len(session.session_id) == 32
    assert (session.ticket is not None) == tickets
    assert len(store) == 1
    second = connect(client, server, at=10.0)
    assert resumed(second)
    # The abbreviated flights with the cookie exchange (C8: it happens on resumption too):
    # CH | HVR | CH+cookie | SH CCS Finished | CCS Finished (T1).
    flights = ABBREVIATED.sequence(cookie_exchange=True)
    assert flight_types(second, "c2s") == [
        wire_kinds(f) for f in flights if f.sender == Side.CLIENT
    ]
    *cookies, flight = flight_types(second, "s2c")
    hvr = wire_kinds(HELLO_VERIFY_REQUEST)
    assert cookies and all(c == hvr for c in cookies)  # copies: cookie.py
    assert flight == wire_kinds(RESUMED_SERVER_HELLO)
    first_done, second_done = first.client_outcome.completed, second.client_outcome.completed
    assert first_done is not None and second_done is not None
    assert second_done.cipher_suite == first_done.cipher_suite
    assert second_done.peer_certificates == first_done.peer_certificates
    assert second_done.psk_identity == first_done.psk_identity
    assert second_done.extended_master_secret
    assert second.server_outcome.completed is not None
    assert second.server_outcome.completed.psk_identity == first_done.psk_identity
    # New randoms, so new keys: data flows, and exporters differ from the first connection.
    second.client.send(b"ping")
    second.server.send(b"pong")
    second.exchange()
    assert second.server_outcome.data == [b"ping"] and second.client_outcome.data == [b"pong"]
    label = "EXPERIMENTAL-test"
    assert second.client.export_keying_material(label, 16) == second.server.export_keying_material(
        label, 16
    )
    assert second.client.export_keying_material(label, 16) != first.client.export_keying_material(
        label, 16
    )
    # The session can be resumed again.
    assert second.client.session is not None
    client.session = second.client.session
    assert resumed(connect(client, server, at=20.0))


def test_client_certificates_are_restored_and_checked_again() -> None:
    client, server = client_auth_configs12()
    server.session_store = ServerSessionStore()
    first = resuming(client, server)
    second = connect(client, server, at=1.0)
    assert resumed(second)
    done = second.server_outcome.completed
    assert done is not None and first.server_outcome.completed is not None
    assert done.peer_certificates == first.server_outcome.completed.peer_certificates
    assert done.peer_certificates
    # The server no longer trusts the client's root: a full handshake, which now fails.
    server.ca_certificates = []
    third = connect(client, server, at=2.0)
    assert third.client_outcome.completed is None
    assert third.server_outcome.terminated is not None
    assert third.server_outcome.terminated.alert != AlertDescription.handshake_failure


def test_without_a_store_the_server_does_a_full_handshake() -> None:
    client, server = client_config12(), server_config12()
    first = connect(client, server)
    assert not resumed(first)
    assert first.client.session is None  # no session ID, no ticket: nothing to resume
    # A session from another server is offered; this one does a full handshake instead.
    other = server_config12(session_store=ServerSessionStore())
    client.session = connect(client_config12(), other).client.session
    assert client.session is not None
    assert not resumed(connect(client, server, at=1.0))


def test_session_bytes_and_pickle_round_trip() -> None:
    client, server, _ = store_configs("psk")
    session = resuming(client, server).client.session
    assert session is not None
    assert Session.from_bytes(session.to_bytes()) == session
    assert pickle.loads(pickle.dumps(session)) == session
    assert session.state.master_secret.hex() not in repr(session)
    assert repr(session.state.master_secret)[2:-1] not in repr(session)
    client.session = Session.from_bytes(session.to_bytes())
    assert resumed(connect(client, server, at=1.0))
    for bad in (b"", b"\x02", session.to_bytes()[:-1], session.to_bytes() + b"\x00"):
        with pytest.raises(ValueError, match="not an aiodtls session"):
            Session.from_bytes(bad)


def test_the_key_log_has_the_resumed_master_secret() -> None:
    client, server, _ = store_configs("psk")
    resuming(client, server)
    client.key_log = io.StringIO()
    pair = connect(client, server, at=1.0)
    assert resumed(pair)
    assert client.session is not None
    (line,) = client.key_log.getvalue().splitlines()
    assert line.endswith(client.session.state.master_secret.hex())


# -- T4: the client sends the last flight -----------------------------------------------------


def _client_final_flight(direction: str, datagram: bytes) -> bool:
    return direction == "c2s" and any(r.content_type == CCS for r in records_of(datagram))


def test_a_lost_client_final_flight_is_resent_when_the_server_repeats() -> None:  # T4
    client, server, _ = store_configs("psk")
    resuming(client, server)
    lost: list[bytes] = []

    def drop_first(direction: str, datagram: bytes) -> list[bytes]:
        if _client_final_flight(direction, datagram) and not lost:
            lost.append(datagram)
            return []
        return [datagram]

    pair = connect(client, server, deliver=drop_first, at=1.0)
    assert resumed(pair)
    assert lost
    finals = [data for _, d, data in pair.sent if _client_final_flight(d, data)]
    assert len(finals) == 2  # the first was lost; the server's repeat asked for the second
    assert pair.server.stats.retransmissions == 1
    assert pair.client.stats.retransmissions == 1
    done = pair.server_outcome.completed
    assert done is not None and 0 < done.duration < 5.0  # one retransmission timeout


def test_the_server_ignores_a_stray_finished() -> None:  # T4, BoGo StrayRetransmitFinished
    client, server, _ = store_configs("certificates")
    resuming(client, server)
    pair = connect(client, server, at=1.0)
    assert resumed(pair)
    final = next(data for _, d, data in pair.sent if _client_final_flight(d, data))
    dropped = sum(pair.server.stats.records_dropped.values())
    pair.server.receive_datagram(final, CLIENT_ADDR, pair.now)
    assert pair.server.datagrams_to_send(pair.now) == []
    assert pair.server.state == ConnectionState.ESTABLISHED
    assert sum(pair.server.stats.records_dropped.values()) > dropped
    pair.collect()
    assert pair.server_outcome.terminated is None


# -- E3 / X24: the extended master secret on resumption ----------------------------------------


def test_server_aborts_an_ems_session_resumed_without_ems() -> None:  # E3, X24
    client, server, _ = store_configs("certificates")
    server.require_extended_master_secret = False  # so only E3 can refuse it
    resuming(client, server)
    pair = connect(client, server, at=1.0, deliver=_edit_client_hello(Extension(EMS, None)))
    assert_refused(pair, AlertDescription.handshake_failure, by="server", because="extended")


def _non_ems_session() -> tuple[DtlsConfiguration, DtlsConfiguration]:
    """A client holding a session whose master secret is not the extended one, which the
    server has cached (our client always offers EMS, so such a session is made by hand)."""
    client, server, store = store_configs("psk")
    client.require_extended_master_secret = server.require_extended_master_secret = False
    suite = int(CipherSuite.TLS_PSK_WITH_AES_128_GCM_SHA256)
    state = SessionState(suite, bytes(range(48)), False, 0.0, psk_identity=PSK_IDENTITY)
    store.remember(b"\x01" * 32, state, 0.0)
    client.session = Session(b"\x01" * 32, None, 0, state)
    return client, server


def test_server_does_a_full_handshake_for_a_non_ems_session_offered_with_ems() -> None:  # E3
    client, server = _non_ems_session()
    pair = connect(client, server, at=1.0)
    assert not resumed(pair)
    done = pair.client_outcome.completed
    assert done is not None and done.extended_master_secret


def test_client_aborts_a_resumption_that_drops_ems() -> None:  # E3, X24
    client, server, _ = store_configs("certificates")
    resuming(client, server)
    client.require_extended_master_secret = False  # so only E3 can refuse it
    pair = connect(client, server, at=1.0, deliver=_edit_server_hello(Extension(EMS, None)))
    assert_refused(pair, AlertDescription.handshake_failure, by="client", because="extended")


def test_client_aborts_a_resumption_that_adds_ems() -> None:  # E3
    client, server = _non_ems_session()

    strip = _edit_client_hello(Extension(EMS, None))
    add = _edit_server_hello(Extension(EMS, b""))

    def both(direction: str, datagram: bytes) -> list[bytes]:
        return [d for s in strip(direction, datagram) for d in add(direction, s)]

    pair = connect(client, server, at=1.0, deliver=both)
    assert_refused(pair, AlertDescription.handshake_failure, by="client", because="extended")


def test_client_aborts_a_resumption_with_another_suite() -> None:  # X24
    client, server, _ = store_configs("certificates")
    resuming(client, server)
    session = client.session
    assert session is not None
    other = (
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        if session.state.suite != CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        else CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    )
    edit = _edit_server_hello(lambda hello: dataclasses.replace(hello, cipher_suite=int(other)))
    pair = connect(client, server, at=1.0, deliver=edit)
    assert_refused(pair, AlertDescription.illegal_parameter, by="client", because="suite")


# -- what the server checks again ---------------------------------------------------------------


def test_a_suite_no_longer_allowed_means_a_full_handshake() -> None:
    client, server, _ = store_configs("certificates")
    resuming(client, server)
    assert client.session is not None
    used = CipherSuite(client.session.state.suite)
    server.cipher_suites = [s for s in server.effective_cipher_suites() if s != used]
    pair = connect(client, server, at=1.0)
    assert not resumed(pair)


def test_an_unknown_psk_identity_means_a_full_handshake() -> None:
    keys = {PSK_IDENTITY: PSK}
    client, server = psk_configs12()
    server.psk_lookup = keys.get
    server.session_store = ServerSessionStore()
    resuming(client, server)
    del keys[PSK_IDENTITY]
    keys[b"client2"] = PSK
    client.psk_identity = b"client2"
    pair = connect(client, server, at=1.0)
    assert not resumed(pair)
    assert pair.server.configuration.session_store is not None
    done = pair.server_outcome.completed
    assert done is not None and done.psk_identity == b"client2"


def test_another_alpn_means_a_full_handshake() -> None:
    client, server, _ = store_configs("psk")
    client.alpn_protocols = ["coap", "h2"]
    server.alpn_protocols = ["coap"]
    resuming(client, server)
    server.alpn_protocols = ["h2"]
    pair = connect(client, server, at=1.0)
    assert not resumed(pair)
    assert pair.client.alpn_protocol == "h2"


def test_a_session_for_another_server_name_is_not_offered() -> None:  # RFC 6066 §3
    client, server, _ = store_configs("certificates")
    resuming(client, server)
    client.server_name = "other.example"
    client.check_hostname = False
    pair = connect(client, server, at=1.0)
    assert not resumed(pair)


def test_a_tampered_or_foreign_ticket_means_a_full_handshake() -> None:
    client, server, store = store_configs("psk", session_ids=False)
    resuming(client, server)
    session = client.session
    assert session is not None and session.ticket is not None and session.session_id == b""
    for ticket in (
        session.ticket[:-1] + bytes([session.ticket[-1] ^ 1]),  # tag
        bytes([session.ticket[0] ^ 1]) + session.ticket[1:],  # key name
        session.ticket[:40],
    ):
        client.session = dataclasses.replace(session, ticket=ticket)
        assert not resumed(connect(client, server, at=1.0))
    # Another server (another ticket secret) cannot open it; one sharing the secret can.
    client.session = session
    server.session_store = ServerSessionStore(ticket_secret=bytes(32))
    assert not resumed(connect(client, server, at=1.0))
    shared = bytes(range(32))
    server.session_store = ServerSessionStore(ticket_secret=shared)
    client.session = None
    resuming(client, server)
    server.session_store = ServerSessionStore(ticket_secret=shared)  # "another process"
    assert resumed(connect(client, server, at=1.0))
    assert len(store) == 0


# -- store limits ---------------------------------------------------------------------------


def test_ticket_keys_rotate_and_the_previous_ones_still_decrypt() -> None:
    client, server, _ = store_configs(
        "psk", session_ids=False, ticket_key_rotation=100.0, session_lifetime=250.0
    )
    first = resuming(client, server)
    assert client.session is not None
    ticket = client.session.ticket
    assert ticket is not None
    # Same period: resumed, no new ticket.
    same = connect(client, server, at=50.0)
    assert resumed(same)
    assert same.client.session == client.session
    # Next period: the old key still decrypts; the ticket is renewed in the abbreviated flight
    # (SH NewSessionTicket CCS Finished, T1) under the new key, its lifetime unchanged.
    later = connect(client, server, at=150.0)
    assert resumed(later)
    assert flight_types(later, "s2c")[-1] == wire_kinds(
        RESUMED_SERVER_HELLO, HandshakeType.new_session_ticket
    )
    renewed = later.client.session
    assert renewed is not None and renewed.ticket is not None and renewed.ticket != ticket
    assert renewed.ticket[:16] != ticket[:16]  # another key name
    assert renewed.state.issued_at == 0.0 and renewed.ticket_lifetime_hint == 100
    # After session_lifetime, neither ticket resumes.
    client.session = renewed
    assert not resumed(connect(client, server, at=251.0))
    assert first.client.session is not None


def test_the_session_cache_is_bounded_by_count_and_lifetime() -> None:
    store = ServerSessionStore(max_sessions=2, session_lifetime=100.0, tickets=False)
    server = server_config12(session_store=store)
    sessions = []
    for at in (0.0, 1.0, 2.0):
        client = client_config12()
        resuming(client, server, at=at)
        sessions.append(client)
    assert len(store) == 2  # the oldest was evicted
    assert not resumed(connect(sessions[0], server, at=3.0))
    assert resumed(connect(sessions[2], server, at=4.0))
    # A later full handshake first drops the expired sessions.
    resuming(client_config12(), server, at=150.0)
    assert len(store) == 1
    assert not resumed(connect(sessions[2], server, at=151.0))


def test_offers_that_do_not_complete_a_handshake_never_fill_the_cache() -> None:
    store = ServerSessionStore(max_sessions=5)
    server = server_config12(session_store=store)
    client = client_config12()
    fake = Session(
        bytes(32),
        b"\x00" * 100,
        0,
        SessionState(int(CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256), bytes(48), True, 0),
    )
    client.session = dataclasses.replace(fake, state=dataclasses.replace(fake.state))
    client.session = dataclasses.replace(
        fake, state=dataclasses.replace(fake.state, server_name=client.server_name)
    )
    pair = connect(client, server)
    assert not resumed(pair)
    assert len(store) == 1  # only the completed full handshake


def test_store_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="max_sessions"):
        ServerSessionStore(max_sessions=-1)
    with pytest.raises(ValueError, match="positive"):
        ServerSessionStore(session_lifetime=0)
    with pytest.raises(ValueError, match="positive"):
        ServerSessionStore(ticket_key_rotation=-1)
    with pytest.raises(ValueError, match="32 bytes"):
        ServerSessionStore(ticket_secret=b"short")


def test_a_client_without_tickets_sends_no_session_ticket_extension() -> None:
    client, server, _ = store_configs("psk")
    client.session_tickets = False
    first = resuming(client, server)
    assert client.session is not None and client.session.ticket is None
    assert first.client.session is not None
    assert resumed(connect(client, server, at=1.0))


def test_psk_client_without_verification_is_fine() -> None:
    client, server = psk_configs12()
    assert client.verify_mode == ssl.CERT_NONE
    server.session_store = ServerSessionStore()
    resuming(client, server)
    assert resumed(connect(client, server, at=1.0))


# -- the drivers -----------------------------------------------------------------------------


def test_asyncio_and_sync_clients_resume_over_loopback() -> None:
    """``DtlsSession.session`` / ``DtlsSocket.session`` go back in as
    ``DtlsConfiguration.session``; ``session_resumed`` says what happened on both ends."""
    client, server = psk_configs12()
    server.session_store = ServerSessionStore()
    seen: list[bool] = []

    async def handler(session: dtls_asyncio.DtlsSession) -> None:
        seen.append(session.session_resumed)
        session.send(await session.recv())

    async def main() -> None:
        dtls_server = await dtls_asyncio.serve(
            "127.0.0.1", 0, configuration=server, handler=handler
        )
        async with dtls_server:
            port = dtls_server.address[1]
            resumed_flags = []
            for _ in range(2):
                async with dtls_asyncio.connect("127.0.0.1", port, configuration=client) as s:
                    s.send(b"x")
                    assert await s.recv() == b"x"
                    resumed_flags.append(s.session_resumed)
                    client.session = s.session

            # The blocking client, on its own thread, resumes the same session too.
            def blocking() -> bool:
                with dtls_sync.connect("127.0.0.1", port, configuration=client) as s:
                    s.send(b"y")
                    assert s.recv(timeout=5) == b"y"
                    return s.session_resumed

            resumed_flags.append(await asyncio.to_thread(blocking))
            assert resumed_flags == [False, True, True]

    asyncio.run(main())
    assert seen == [False, True, True]


def test_a_resuming_client_hello_without_cookie_gets_only_a_hello_verify_request() -> None:
    """SPEC X14: resuming or not, a ClientHello without a valid cookie leaves no state and is
    answered by HelloVerifyRequests no larger than it, whatever session it offers."""
    client, server, store = store_configs("psk")
    resuming(client, server)
    connection = DtlsConnection(configuration=client)
    connection.connect(SERVER_ADDR, 5.0)
    ((hello, _),) = connection.datagrams_to_send(5.0)
    target = DtlsConnection(configuration=server)
    target.receive_datagram(hello, CLIENT_ADDR, 5.0)
    replies = [data for data, _ in target.datagrams_to_send(5.0)]
    assert replies and all(carries(r, HandshakeType.hello_verify_request) for r in replies)
    assert all(len(r) <= len(hello) for r in replies)
    assert target.state == ConnectionState.HANDSHAKING and not target.session_resumed
    assert len(store) == 1


def test_the_full_handshake_carries_the_ticket_before_the_servers_finished() -> None:  # T1
    client, server, _ = store_configs("psk")
    first = connect(client, server)
    assert not resumed(first)
    ticket = HandshakeType.new_session_ticket
    assert flight_types(first, "s2c")[-1] == wire_kinds(SERVER_FINISHED, ticket)
    client.session_tickets = False
    assert flight_types(connect(client, server, at=1.0), "s2c")[-1] == wire_kinds(SERVER_FINISHED)


def test_a_promised_ticket_that_never_comes_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # RFC 5077 §3.3, H1
    # The ServerHello says a NewSessionTicket follows; this server then sends none.
    monkeypatch.setattr(ServerHandshake, "_send_new_session_ticket", lambda self, now: None)
    client, server, _ = store_configs("certificates")
    pair = connect(client, server)
    assert_refused(
        pair, AlertDescription.unexpected_message, by="client", because="NewSessionTicket"
    )


def test_a_non_empty_session_ticket_extension_in_the_server_hello_is_refused() -> None:
    edit = _edit_server_hello(Extension(ExtensionType.session_ticket, b"\x00"))
    pair = connect(client_config12(), server_config12(), deliver=edit)
    assert_refused(pair, AlertDescription.decode_error, by="client", because="SessionTicket")


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300))
def test_session_and_ticket_parsers_take_any_bytes(data: bytes) -> None:
    """Untrusted bytes (a ticket from the network, a stored session) never raise anything
    but the documented error."""
    with contextlib.suppress(ValueError):
        Session.from_bytes(data)
    with contextlib.suppress(BufferReadError):
        SessionState.decode(data)
    store = ServerSessionStore(ticket_secret=bytes(32))
    assert store.open_ticket(data, 0.0) is None
    key_name = store.seal_ticket(SessionState(0x00A8, bytes(48), True, 0.0), 0.0)[:16]
    assert store.open_ticket(key_name + data, 0.0) is None


def test_a_device_resumes_from_the_address_of_its_established_association() -> None:
    """An IoT device that reconnects from the same address and port: the endpoint runs the
    abbreviated handshake beside the old association, which it replaces once it completes
    (RFC 6347 §4.2.8)."""
    client, server, _ = store_configs("certificates")
    harness = Harness(DtlsEndpoint(server))
    address = ("192.0.2.7", 5684)
    first = DtlsConnection(configuration=client)
    first.connect(SERVER_ADDR, 0.0)
    harness.clients[address] = first
    harness.pump()
    assert first.session is not None and not first.session_resumed
    client.session = first.session
    harness.now = 1.0
    second = DtlsConnection(configuration=client)
    second.connect(SERVER_ADDR, 1.0)
    harness.clients[address] = second
    harness.pump()
    assert second.state == ConnectionState.ESTABLISHED and second.session_resumed
    completed = [e for _, e in harness.server_events if isinstance(e, HandshakeCompleted)]
    assert [e.session_resumed for e in completed] == [False, True]
    assert harness.endpoint.stats.replacements == 1
    second.send(b"after resumption")
    harness.pump()
    assert harness.endpoint.connections[address].session_resumed


def test_configuration_refuses_what_is_not_a_session_or_a_store() -> None:
    with pytest.raises(ValueError, match=r"Session.from_bytes"):
        DtlsConfiguration(versions=DTLS12_ONLY, session=b"stored bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ServerSessionStore"):
        DtlsConfiguration(versions=DTLS12_ONLY, is_client=False, session_store=object())  # type: ignore[arg-type]


# -- RFC 5246 §7.2.2: a fatal alert ends the session -------------------------------------------


@pytest.mark.parametrize("direction", ["c2s", "s2c"])
def test_a_session_ended_by_a_fatal_alert_is_not_resumed(direction: str) -> None:
    """ "Any connection terminated with a fatal alert MUST NOT be resumed" (RFC 5246 §7.2.2):
    the server drops the session from its cache when it receives or sends one, the client's
    ``session`` becomes None. A close_notify keeps it."""
    client, server, store = store_configs("certificates", tickets=False)
    client.key_log = io.StringIO()
    pair = connect(client, server)
    session = pair.client.session
    assert session is not None and len(store) == 1
    fatal = bytes((AlertLevel.fatal, AlertDescription.internal_error))
    inject(pair, direction, Spoofer(pair, session_keys(pair)).sealed(direction, ALERT, fatal))
    receiver = pair.server if direction == "c2s" else pair.client
    assert receiver.state == ConnectionState.CLOSED
    if direction == "c2s":
        assert len(store) == 0
        client.session = session
        assert not resumed(connect(client, server))  # a full handshake
    else:
        assert pair.client.session is None
    # The server sends one: a client's close_notify, then a record it cannot accept.
    client, server, store = store_configs("certificates", tickets=False)
    pair = connect(client, server)
    assert len(store) == 1
    pair.client.close()
    pair.exchange()
    assert len(store) == 1 and pair.client.session is not None


def test_a_server_that_fails_the_connection_forgets_its_session() -> None:
    """The server's own fatal alert (here after more warning alerts than it takes, 64: fatal
    unexpected_message) drops its cached session too."""
    client, server, store = store_configs("certificates", tickets=False)
    client.key_log = io.StringIO()
    pair = connect(client, server)
    assert len(store) == 1
    spoof = Spoofer(pair, session_keys(pair))
    warning = bytes((AlertLevel.warning, AlertDescription.user_canceled))
    inject(pair, "c2s", *(spoof.sealed("c2s", ALERT, warning) for _ in range(65)))
    ended = pair.server_outcome.terminated
    assert ended is not None and ended.alert == AlertDescription.unexpected_message
    assert not ended.by_peer
    assert len(store) == 0


def test_a_resumption_that_fails_with_a_fatal_alert_forgets_the_session() -> None:
    """A ClientHello with a session ID seen on the wire but without its master secret: the
    records it sends under the wrong keys end the handshake (bad_record_mac, "wrong key?"),
    and the server forgets the session, so its real client gets a full handshake (RFC 5246
    §7.2.2, as OpenSSL does; docs/resumption.md)."""
    client, server, store = store_configs("certificates", tickets=False)
    first = resuming(client, server)
    session = first.client.session
    assert session is not None and len(store) == 1
    impostor = client_config12(
        session=dataclasses.replace(
            session, state=dataclasses.replace(session.state, master_secret=bytes(48))
        )
    )
    failed = connect(impostor, server)
    ended = failed.server_outcome.terminated
    assert failed.server_outcome.completed is None
    assert ended is not None and ended.alert == AlertDescription.bad_record_mac
    assert len(store) == 0
    assert not resumed(connect(client, server))
