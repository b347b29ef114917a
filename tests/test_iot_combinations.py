"""Issue 12's features together, as a CoAP gateway uses them: a device that resumes its
session over the RFC 7925 suite, with connection IDs, and with raw public keys. Each feature
has its own test file; these check that they compose (the abbreviated handshake negotiates
CIDs again, a resumed raw-key session still knows the key it pinned, and so on)."""

from __future__ import annotations

from aiodtls import (
    CipherSuite,
    ConnectionState,
    DataReceived,
    DtlsConfiguration,
    DtlsConnection,
    ServerSessionStore,
    pki,
)
from aiodtls.record.cid import TLS12_CID
from certs import client_chain, server_chain
from pairs import PSK, PSK_IDENTITY, SERVER_ADDR, Pair

MOVED = ("127.0.0.1", 40999)


def run(client: DtlsConfiguration, server: DtlsConfiguration, at: float) -> Pair:
    pair = Pair(DtlsConnection(configuration=client), DtlsConnection(configuration=server), now=at)
    pair.client.connect(SERVER_ADDR, at)
    pair.drive(until=at + 300.0)
    assert pair.client.state == pair.server.state == ConnectionState.ESTABLISHED
    return pair


def data_of(connection: DtlsConnection) -> list[bytes]:
    return [e.data for e in iter(connection.next_event, None) if isinstance(e, DataReceived)]


def first_then_resumed(client: DtlsConfiguration, server: DtlsConfiguration) -> tuple[Pair, Pair]:
    first = run(client, server, 0.0)
    assert not first.client.session_resumed
    client.session = first.client.session
    second = run(client, server, 10.0)
    assert second.client.session_resumed and second.server.session_resumed
    return first, second


def test_a_device_resumes_over_the_rfc7925_psk_suite_with_connection_ids() -> None:
    client = DtlsConfiguration.rfc7925(
        is_client=True, psk=PSK, psk_identity=PSK_IDENTITY, connection_id_length=0, mtu=256
    )
    server = DtlsConfiguration.rfc7925(is_client=False, psk=PSK, connection_id_length=4, mtu=256)
    server.session_store = ServerSessionStore()
    _, second = first_then_resumed(client, server)
    completed = second.client_outcome.completed
    assert completed is not None
    assert completed.cipher_suite == CipherSuite.TLS_PSK_WITH_AES_128_CCM_8.name
    # The abbreviated handshake negotiated CIDs again: the device writes tls12_cid records
    # with the server's 4-byte CID and may move.
    assert completed.peer_connection_id is not None and len(completed.peer_connection_id) == 4
    second.client.send(b"reading 21.5")
    ((datagram, _),) = second.client.datagrams_to_send(second.now)
    assert datagram[0] == TLS12_CID
    second.server.receive_datagram(datagram, MOVED, second.now)
    assert data_of(second.server) == [b"reading 21.5"]
    assert second.server.peer_address == MOVED


def test_a_resumed_raw_public_key_session_keeps_the_identity_it_proved() -> None:
    server_key, client_key = server_chain("ecdsa").key, client_chain("ecdsa").key
    client = DtlsConfiguration.rfc7925(
        is_client=True,
        raw_public_key=True,
        private_key=client_key,
        peer_public_keys=[server_key.public_key()],
    )
    server = DtlsConfiguration.rfc7925(
        is_client=False,
        raw_public_key=True,
        private_key=server_key,
        peer_public_keys=[client_key.public_key()],
    )
    server.session_store = ServerSessionStore()
    first, second = first_then_resumed(client, server)
    completed = second.client_outcome.completed
    assert completed is not None
    assert completed.cipher_suite == CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8.name
    # The abbreviated handshake sends no keys: each side takes the key the full handshake
    # pinned from the session (and the server checks it against today's pins).
    for side in ("client", "server"):
        resumed_key = getattr(second, side).peer_public_key
        original = getattr(first, side).peer_public_key
        assert resumed_key is not None and original is not None
        assert pki.subject_public_key_info(resumed_key) == pki.subject_public_key_info(original)
    second.client.send(b"up")
    second.exchange()
    assert second.server_outcome.data == [b"up"]


def test_a_raw_key_unpinned_since_is_not_resumed() -> None:
    server_key, client_key = server_chain("ecdsa").key, client_chain("ecdsa").key
    client = DtlsConfiguration(
        is_client=True,
        raw_public_key=True,
        private_key=client_key,
        peer_public_keys=[server_key.public_key()],
    )
    server = DtlsConfiguration(
        is_client=False,
        raw_public_key=True,
        private_key=server_key,
        peer_public_keys=[client_key.public_key()],
        session_store=ServerSessionStore(),
    )
    first = run(client, server, 0.0)
    client.session = first.client.session
    # The device's key is revoked: the server pins another one now. Its session must not
    # resume; the full handshake then refuses the key.
    server.peer_public_keys = [server_key.public_key()]
    second = Pair(
        DtlsConnection(configuration=client), DtlsConnection(configuration=server), now=10.0
    )
    second.client.connect(SERVER_ADDR, 10.0)
    second.drive(until=310.0)
    assert second.server_outcome.completed is None
    ended = second.server_outcome.terminated
    assert ended is not None and "matches no pinned key" in ended.reason
