"""The direct path of application data on an established connection (docs/performance.md,
"Record path"): ``RecordLayer.open_application_datagram`` and ``seal_application_data``, and
the early branches of ``DtlsConnection.receive_datagram`` and ``datagrams_to_send``.

The direct receive path must accept exactly what the general path (``split_datagram`` then
``RecordLayer.open``) accepts for a datagram of one application-data record, and change
nothing when it declines, for every AEAD and with connection IDs; the connection must then
drop, count and trace as before.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiodtls import CipherSuite, ConnectionState, DataReceived, DtlsConnection
from aiodtls.drops import Drop
from aiodtls.record.cid import TLS12_CID, cid_additional_data, encode_inner_plaintext
from aiodtls.record.header import (
    DTLS1_0,
    ContentType,
    RawRecord,
    encode_record_header,
    split_datagram,
)
from aiodtls.record.layer import RecordLayer
from aiodtls.record.protection import Aead, RecordProtection, new_protection
from pairs import CLIENT_ADDR, Pair, handshake, psk_configs12

AEADS = list(Aead)
CIDS = [b"", b"\x07\x07\x07"]
APPLICATION_DATA = ContentType.application_data


def protection(aead: Aead) -> RecordProtection:
    return new_protection(aead, bytes(range(aead.key_length)), bytes(aead.fixed_iv_length))


def layers(aead: Aead, cid: bytes) -> tuple[RecordLayer, RecordLayer, RecordLayer]:
    """A sender at epoch 1 and two receivers with the same keys (and CID, if any)."""
    sender, direct, general = RecordLayer(), RecordLayer(), RecordLayer()
    sender.install_write(1, protection(aead))
    sender.write_epoch = 1
    for receiver in (direct, general):
        receiver.install_read(1, protection(aead))
        receiver.discard_early()  # established: no next epoch is held
    if cid:
        sender.use_connection_ids(b"\x01", cid)
        for receiver in (direct, general):
            receiver.use_connection_ids(cid, b"\x01")
    return sender, direct, general


def general_path(layer: RecordLayer, datagram: bytes) -> list[tuple[str, object]]:
    """What the general path makes of ``datagram``: per record, its type and payload or why
    it was dropped."""
    results: list[tuple[str, object]] = []
    for item in split_datagram(datagram, len(layer.receive_cid)):
        if not isinstance(item, RawRecord):
            results.append(("malformed", item))
            break
        opened = layer.open(item)
        if isinstance(opened, Drop):
            results.append(("dropped", str(opened)))
            continue
        assert opened is not None  # nothing is held once established
        results.append(("opened", (opened.content_type, opened.payload)))
    return results


def direct_then_general(layer: RecordLayer, datagram: bytes) -> list[tuple[str, object]]:
    """What the connection does: the direct path, and the general one when it declines."""
    payload = layer.open_application_datagram(datagram)
    if isinstance(payload, Drop):  # only an authentication failure: the general path agrees
        assert payload.authentication_failed
        return [("dropped", str(payload))]
    if payload is None:
        return general_path(layer, datagram)
    return [("opened", (APPLICATION_DATA, payload))]


def sealed_as_dtls_1_0(sender: RecordLayer, payload: bytes) -> bytes:
    """An application-data record of the sender's keys with the DTLS 1.0 version, in the
    header and in the additional data: it authenticates, and must still be dropped."""
    state = sender._write[1]
    seq = state.next_sequence_number
    state.next_sequence_number += 1
    epoch_seq = ((1 << 48) | seq).to_bytes(8, "big")
    if not state.cid:
        fragment = state.protection.seal(epoch_seq, APPLICATION_DATA, DTLS1_0, payload)
        header = encode_record_header(APPLICATION_DATA, DTLS1_0, 1, seq, len(fragment))
        return header + fragment
    inner = encode_inner_plaintext(payload, APPLICATION_DATA)
    aad = cid_additional_data(DTLS1_0, epoch_seq, state.cid, len(inner))
    fragment = state.protection.seal(epoch_seq, TLS12_CID, DTLS1_0, inner, aad=aad)
    header = encode_record_header(TLS12_CID, DTLS1_0, 1, seq, len(fragment), state.cid)
    return header + fragment


def datagrams(sender: RecordLayer, data: st.DataObject) -> list[bytes]:
    """Records of the sender, and what a network or an attacker makes of them."""
    sealed = [sender.seal(APPLICATION_DATA, b"first")]
    for _ in range(data.draw(st.integers(0, 12), label="records")):
        kind = data.draw(st.sampled_from(["data", "data", "data", "alert", "skip", "version"]))
        if kind == "skip":  # far ahead: older records then fall off the window
            ahead = sender.next_sequence_number(1) + data.draw(st.integers(1, 100))
            sender.skip_write_sequence_numbers(1, ahead)
            continue
        if kind == "version":  # authentic, but DTLS 1.0 (only allowed in epoch 0)
            sealed.append(sealed_as_dtls_1_0(sender, data.draw(st.binary(max_size=40))))
            continue
        content_type = APPLICATION_DATA if kind == "data" else ContentType.alert
        payload = data.draw(st.binary(max_size=40)) if kind == "data" else b"\x01\x00"
        sealed.append(sender.seal(content_type, payload))
    out: list[bytes] = []
    for _ in range(data.draw(st.integers(1, 20), label="datagrams")):
        datagram = data.draw(st.sampled_from(sealed))
        change = data.draw(
            st.sampled_from(["as is", "as is", "flip", "cut", "extend", "two", "epoch 0"])
        )
        if change == "flip":
            position = data.draw(st.integers(0, len(datagram) - 1))
            bit = 1 << data.draw(st.integers(0, 7))
            flipped = bytes((datagram[position] ^ bit,))
            datagram = datagram[:position] + flipped + datagram[position + 1 :]
        elif change == "cut":
            datagram = datagram[: data.draw(st.integers(0, len(datagram) - 1))]
        elif change == "extend":
            datagram += data.draw(st.binary(min_size=1, max_size=20))
        elif change == "two":
            datagram += data.draw(st.sampled_from(sealed))
        elif change == "epoch 0":  # the same bytes claiming epoch 0
            datagram = datagram[:3] + b"\x00\x00" + datagram[5:]
        out.append(datagram)
    return out


@pytest.mark.parametrize("cid", CIDS, ids=["no CID", "CID"])
@pytest.mark.parametrize("aead", AEADS, ids=[a.name for a in AEADS])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_direct_path_accepts_what_the_general_path_accepts(
    aead: Aead, cid: bytes, data: st.DataObject
) -> None:
    sender, direct, general = layers(aead, cid)
    mine, theirs = direct._read[1].window, general._read[1].window
    for datagram in datagrams(sender, data):
        assert direct_then_general(direct, datagram) == general_path(general, datagram)
        # The direct path's in-order step leaves the window as ReplayWindow.mark does.
        assert (mine.top, mine._bits) == (theirs.top, theirs._bits)
    # Both windows moved alike (only after authentication).
    for seq in range(sender.next_sequence_number(1) + 2):
        assert direct._read[1].window.is_replay(seq) == general._read[1].window.is_replay(seq)


@pytest.mark.parametrize("cid", CIDS, ids=["no CID", "CID"])
@pytest.mark.parametrize("aead", AEADS, ids=[a.name for a in AEADS])
def test_direct_path_opens_application_data_and_declines_the_rest(aead: Aead, cid: bytes) -> None:
    sender, receiver, _ = layers(aead, cid)
    first = sender.seal_application_data(b"first", 1400)
    assert receiver.open_application_datagram(first) == b"first"
    assert receiver.open_application_datagram(first) is None  # a replay
    alert = sender.seal(ContentType.alert, b"\x01\x00")
    assert receiver.open_application_datagram(alert) is None  # not application data
    both = sender.seal_application_data(b"a", 1400) + sender.seal_application_data(b"b", 1400)
    assert receiver.open_application_datagram(both) is None  # two records
    tampered = bytearray(sender.seal_application_data(b"tampered", 1400))
    tampered[-1] ^= 1
    failed = receiver.open_application_datagram(bytes(tampered))
    assert isinstance(failed, Drop) and failed.authentication_failed
    # Declining or failing changed nothing: the general path still opens both records, once.
    assert [r[1] for r in general_path(receiver, both)] == [
        (APPLICATION_DATA, b"a"),
        (APPLICATION_DATA, b"b"),
    ]
    assert receiver.open_application_datagram(b"") is None
    assert receiver.open_application_datagram(first[:12]) is None


def test_seal_application_data_refuses_more_than_max_payload() -> None:
    sender, receiver, _ = layers(Aead.AES_128_GCM, b"")
    limit = sender.max_payload(200)
    assert receiver.open_application_datagram(
        sender.seal_application_data(bytes(limit), 200)
    ) == bytes(limit)
    with pytest.raises(ValueError, match=f"exceed max_payload\\(\\) = {limit}"):
        sender.seal_application_data(bytes(limit + 1), 200)
    assert sender.max_payload(65535) == 1 << 14
    with pytest.raises(ValueError, match="16384"):
        sender.seal_application_data(bytes((1 << 14) + 1), 65535)


def test_seal_application_data_is_seal() -> None:
    """The same bytes as the general seal on the same sequence number."""
    for aead in AEADS:
        for cid in CIDS:
            one, _, _ = layers(aead, cid)
            other, _, _ = layers(aead, cid)
            for payload in (b"", b"x", bytes(300)):
                assert one.seal_application_data(payload, 1400) == other.seal(
                    APPLICATION_DATA, payload
                )


# -- through the connection ----------------------------------------------------------------

SUITES = [
    CipherSuite.TLS_PSK_WITH_AES_128_GCM_SHA256,
    CipherSuite.TLS_PSK_WITH_AES_128_CCM,
    CipherSuite.TLS_PSK_WITH_AES_128_CCM_8,
    CipherSuite.TLS_PSK_WITH_CHACHA20_POLY1305_SHA256,
]


def established(suite: CipherSuite, cid_length: int | None, trace: list[object] | None) -> Pair:
    client, server = psk_configs12()
    for config in (client, server):
        config.cipher_suites = [suite]
        config.connection_id_length = cid_length
    if trace is not None:
        server.trace = trace.append
    pair = handshake(client, server)
    assert pair.client.state == pair.server.state == ConnectionState.ESTABLISHED
    return pair


def sent(connection: DtlsConnection, *payloads: bytes) -> bytes:
    """One record per payload, all in one datagram."""
    for payload in payloads:
        connection.send(payload)
    return b"".join(datagram for datagram, _ in connection.datagrams_to_send(0.0))


def received(connection: DtlsConnection) -> list[bytes]:
    return [e.data for e in iter(connection.next_event, None) if isinstance(e, DataReceived)]


@pytest.mark.parametrize("cid_length", [None, 4], ids=["no CID", "CID"])
@pytest.mark.parametrize("suite", SUITES, ids=[s.name for s in SUITES])
def test_connection_delivers_drops_counts_and_traces(
    suite: CipherSuite, cid_length: int | None
) -> None:
    trace: list[object] = []
    pair = established(suite, cid_length, trace)
    client, server = pair.client, pair.server
    stats = server.stats
    before = (stats.datagrams_received, stats.records_received, stats.records_accepted)
    first = sent(client, b"first")
    server.receive_datagram(first, CLIENT_ADDR, 1.0)
    assert received(server) == [b"first"]
    assert (stats.datagrams_received, stats.records_received, stats.records_accepted) == (
        before[0] + 1,
        before[1] + 1,
        before[2] + 1,
    )
    timer = server.get_timer()
    assert timer is None or timer >= 1.0
    trace.clear()
    server.receive_datagram(first, CLIENT_ADDR, 2.0)  # a replay
    tampered = bytearray(sent(client, b"tampered"))
    tampered[-1] ^= 1
    server.receive_datagram(bytes(tampered), CLIENT_ADDR, 2.0)
    assert received(server) == []
    assert stats.records_dropped["replayed or too old sequence number"] == 1
    assert stats.records_dropped["bad record tag"] == 1
    assert [getattr(r, "kind", None) for r in trace] == ["record_dropped", "record_dropped"]
    assert stats.records_accepted == before[2] + 1
    # Two records in one datagram (the general path) and an older one inside the window.
    late = sent(client, b"late")
    server.receive_datagram(sent(client, b"a", b"b"), CLIENT_ADDR, 3.0)
    server.receive_datagram(late, CLIENT_ADDR, 3.0)
    assert received(server) == [b"a", b"b", b"late"]
    assert server.state == ConnectionState.ESTABLISHED


def test_datagrams_to_send_returns_what_send_queued_in_order() -> None:
    pair = established(SUITES[0], None, [])
    assert pair.client.datagrams_to_send(0.0) == []
    for payload in (b"1", b"2", b"3"):
        pair.client.send(payload)
    out = pair.client.datagrams_to_send(0.0)
    assert len(out) == 3 and all(addr == pair.client.peer_address for _, addr in out)
    for datagram, _ in out:
        pair.server.receive_datagram(datagram, CLIENT_ADDR, 0.0)
    assert received(pair.server) == [b"1", b"2", b"3"]
    assert pair.client.stats.datagrams_sent >= 3


def test_without_replay_protection_a_repeat_is_delivered_again() -> None:
    """``replay_protection=False`` (SPEC A3's opt-out) holds on the direct path too."""
    sender = RecordLayer()
    sender.install_write(1, protection(Aead.AES_128_GCM))
    sender.write_epoch = 1
    receiver = RecordLayer(replay_protection=False)
    receiver.install_read(1, protection(Aead.AES_128_GCM))
    datagram = sender.seal_application_data(b"again", 1400)
    assert receiver.open_application_datagram(datagram) == b"again"
    assert receiver.open_application_datagram(datagram) == b"again"


@pytest.mark.parametrize("cid_length", [None, 4], ids=["no CID", "CID"])
def test_a_forged_datagram_costs_one_decryption_and_is_dropped_silently(
    cid_length: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without tracing, the direct path drops and counts a record that fails authentication
    itself: the general path does not decrypt it a second time (an attacker's datagram costs
    one AEAD call, as before the direct path)."""
    pair = established(SUITES[0], cid_length, None)
    client, server = pair.client, pair.server
    protection = server._records._read[1].protection
    opens: list[bytes] = []

    class CountingAead:
        """The epoch's AEAD, counting its decryptions (every path opens through it)."""

        def __init__(self, aead: Any) -> None:
            self.aead = aead

        def decrypt(self, nonce: bytes, data: bytes, aad: bytes) -> bytes:
            opens.append(nonce)
            return self.aead.decrypt(nonce, data, aad)  # type: ignore[no-any-return]

    monkeypatch.setattr(protection, "aead", CountingAead(protection.aead))
    stats = server.stats
    before = (stats.datagrams_received, stats.records_received, stats.records_accepted)
    forged = bytearray(sent(client, b"forged"))
    forged[-1] ^= 1
    server.receive_datagram(bytes(forged), CLIENT_ADDR, 1.0)
    assert len(opens) == 1
    assert received(server) == [] and server.state == ConnectionState.ESTABLISHED
    assert stats.records_dropped["bad record tag"] == 1
    assert (stats.datagrams_received, stats.records_received, stats.records_accepted) == (
        before[0] + 1,
        before[1] + 1,
        before[2],
    )
    server.receive_datagram(sent(client, b"after"), CLIENT_ADDR, 1.0)
    assert received(server) == [b"after"]
