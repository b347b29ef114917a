"""AEAD limits in DTLS 1.3 (RFC 9147 §4.5.3, SPEC V7): a key that rejected many forgeries is
replaced by a KeyUpdate before its integrity limit, and past the limit the connection ends.
TLS_AES_128_CCM_8_SHA256 (opt-in only) has the smallest limit, 2^7 failures, which a test can
reach."""

from __future__ import annotations

from aiodtls import AlertDescription, ConnectionState, ProtocolVersion, Suite13
from pairs import SERVER_ADDR, Pair, client_config, handshake, server_config

V13 = (ProtocolVersion.DTLSv1_3,)
CCM_8 = [Suite13.TLS_AES_128_CCM_8_SHA256]


def ccm8_pair() -> Pair:
    pair = handshake(
        client_config(versions=V13, cipher_suites13=CCM_8),
        server_config(versions=V13, cipher_suites13=CCM_8),
    )
    completed = pair.client_outcome.completed
    assert completed is not None and completed.cipher_suite == "TLS_AES_128_CCM_8_SHA256"
    return pair


def forgeries(pair: Pair, count: int) -> list[bytes]:
    """``count`` copies of a real server record, each with one ciphertext byte changed."""
    pair.server.send(b"a real record of the server's")
    ((record, _),) = pair.server.datagrams_to_send(pair.now)
    return [record[:-1] + bytes([(record[-1] + 1 + i) % 256]) for i in range(count)]


def test_forgeries_near_the_integrity_limit_start_a_key_update() -> None:  # V7
    pair = ccm8_pair()
    v13 = pair.client._v13
    assert v13 is not None and v13.records.write_epoch == 3
    for forged in forgeries(pair, 96):  # 3/4 of CCM_8's 2^7
        pair.client.receive_datagram(forged, SERVER_ADDR, pair.now)
    assert pair.client.state is ConnectionState.ESTABLISHED
    assert pair.client.stats.records_dropped["bad record tag"] == 96
    pair.drive()  # the KeyUpdate (update_requested) goes out, both sides move on
    assert v13.records.write_epoch == 4
    server_v13 = pair.server._v13
    assert server_v13 is not None and server_v13.records.write_epoch == 4
    pair.server.send(b"under the new key")
    pair.exchange()
    assert pair.client_outcome.data == [b"under the new key"]


def test_forgeries_past_the_integrity_limit_end_the_connection() -> None:  # V7
    pair = ccm8_pair()
    for forged in forgeries(pair, 129):  # more than 2^7 before any KeyUpdate could help
        pair.client.receive_datagram(forged, SERVER_ADDR, pair.now)
    pair.collect()
    ended = pair.client_outcome.terminated
    assert ended is not None
    assert ended.alert == AlertDescription.bad_record_mac
    assert "RFC 9147 §4.5.3" in ended.reason
