"""DTLS 1.3 attack regressions for defects found by these tests and fixed (session 7): each
names its SPEC item, and its docstring says what happened before the fix and what must. In
the style of tests/test_attacks13.py (helpers in tests/attacks13.py).
"""

from __future__ import annotations

import pytest

from aiodtls import AlertDescription, ConnectionState, DtlsConfiguration
from aiodtls.handshake.messages import (
    ClientHello,
    ExtensionType,
    HandshakeType,
    KeyUpdateRequest,
    encode_key_update,
)
from aiodtls.record.layer13 import Opened13, RecordLayer13
from aiodtls.suites import Suite13
from attacks13 import (
    ALERT,
    APPLICATION_DATA,
    FATAL,
    HANDSHAKE,
    dropped,
    established13,
    fragment,
    make_pair13,
    next_message_seq,
    protection,
    rewrite_client_hello,
    set_legacy_cookie,
    terminated_with,
)
from pairs import CLIENT_ADDR, SERVER_ADDR

# -- V8: the HelloRetryRequest door ------------------------------------------------------------


def test_a_legacy_cookie_in_the_first_client_hello_is_illegal() -> None:  # V8
    """RFC 9147 §5.3: a DTLS 1.3 ClientHello with a non-empty legacy_cookie MUST be refused
    with illegal_parameter. Before the fix the HelloRetryRequest door ignores it in the first
    ClientHello and answers with a HelloRetryRequest (only the second ClientHello is checked,
    by ServerHandshake13._check_hello); here the handshake then dies of a transcript mismatch
    without any alert, by timeout."""
    p = make_pair13()
    p.drive(rewrite_client_hello(0, set_legacy_cookie))
    assert p.pair.server_outcome.completed is None
    assert terminated_with(p, "server") is AlertDescription.illegal_parameter


def test_a_forged_hello_retry_cookie_is_illegal() -> None:  # V8, X15 "invalid cookie"
    """RFC 9147 §5.1: "If a server receives a ClientHello with an invalid cookie, it MUST
    terminate the handshake with an illegal_parameter alert." Before the fix the door treats it as
    absent (SPEC C5, the DTLS 1.2 rule) and sends a new HelloRetryRequest each time; the
    client does not take it for a second HelloRetryRequest (it repeats message_seq 0) and
    keeps retransmitting until the handshake times out on both sides, without an alert."""

    def forge_cookie(hello: ClientHello) -> None:
        hello.extensions = [
            (t, (b"\x00\x20" + b"\x55" * 32) if t == ExtensionType.cookie else body)
            for t, body in hello.extensions
        ]

    p = make_pair13()
    p.drive(rewrite_client_hello(1, forge_cookie))
    assert p.pair.server_outcome.completed is None
    assert terminated_with(p, "server") is AlertDescription.illegal_parameter


def test_a_ccm8_only_client_finds_no_suite_at_a_default_server() -> None:  # V7
    """A client offering only TLS_AES_128_CCM_8_SHA256 (which servers do not allow by
    default) must be refused with handshake_failure (RFC 8446 §4.1.1). Before the fix the stateless
    door's HelloRetryRequest names TLS_AES_128_GCM_SHA256, which the client never offered
    (hello_retry.HelloRetryExchange._decide: ``choose_suite(...) or suites[0]``); the client
    then aborts with illegal_parameter (RFC 8446 §4.1.4), so the failure is reported by the
    wrong side with the wrong alert."""

    def ccm8(config: DtlsConfiguration) -> None:
        config.cipher_suites13 = [Suite13.TLS_AES_128_CCM_8_SHA256]

    p = make_pair13(client=ccm8)
    p.drive()
    assert p.pair.client_outcome.completed is None
    assert terminated_with(p, "server") is AlertDescription.handshake_failure


# -- V1, V2, V16: records after the handshake ---------------------------------------------------


def test_a_plaintext_client_hello_to_an_established_server_is_dropped() -> None:  # V1, X16
    """After the handshake nothing legitimate arrives in epoch 0. Before the fix a replayed epoch-0
    ClientHello reaches reassembly as a duplicate: it is not counted as dropped, and the
    server answers it with an ACK naming record (0, 0) (V17: ACK only what was processed;
    one datagram out for each replayed one). Should: epoch 0 no longer read once the
    handshake is over (RecordLayer13.discard_read(0)), the record counted in
    records_dropped, nothing sent."""
    p = established13()
    first = next(d for _, direction, d in p.pair.sent if direction == "c2s")
    before = dropped(p.server)
    p.server.receive_datagram(first, CLIENT_ADDR, p.pair.now)
    assert p.server.datagrams_to_send(p.pair.now) == []
    assert dropped(p.server) == before + 1
    assert p.server.state is ConnectionState.ESTABLISHED


@pytest.mark.parametrize("bits", [0, 1], ids=["epoch 4", "epoch 1"])
def test_unknown_epoch_bits_after_the_handshake_are_dropped(bits: int) -> None:  # V2, V16, X3
    """A record whose epoch bits name no installed epoch, after the handshake: before the fix it was
    held silently for keys that never come (up to 32 records / 32 KiB, until the connection
    ends), neither counted in records_dropped nor traced: the connection calls
    RecordLayer13.discard_held() only when it terminates, not when the handshake completes
    (the record layer's docstring says holding ends with the handshake). Should: dropped and
    counted (NO_KEYS_FOR_EPOCH_BITS)."""
    p = established13()
    forger = p.forger("SERVER_TRAFFIC_SECRET_0", 3)
    record = bytearray(forger.record(APPLICATION_DATA, b"epoch 3 data"))
    record[0] = (record[0] & ~0x03) | bits
    before = dropped(p.client)
    p.to_client(bytes(record))
    assert p.pair.client_outcome.data == []
    assert dropped(p.client) == before + 1
    v13 = p.client._v13
    assert v13 is not None and v13.records.held_records == 0
    assert p.round_trip()


@pytest.mark.parametrize("to", ["client", "server"])
def test_application_data_under_the_handshake_keys_is_not_delivered(to: str) -> None:  # V16
    """Epoch 2 protects handshake messages, alerts and ACKs only (RFC 9147 §6.1; SPEC V16: a
    message under the wrong epoch's keys is rejected, wolfSSL #8579). Before the fix,
    application data sealed with the peer's handshake traffic keys was delivered as
    DataReceived. Now: dropped and counted."""
    p = established13()
    if to == "client":
        forger = p.forger("SERVER_HANDSHAKE_TRAFFIC_SECRET", 2)
        p.to_client(forger.record(APPLICATION_DATA, b"under handshake keys"))
        outcome = p.pair.client_outcome
    else:
        forger = p.forger("CLIENT_HANDSHAKE_TRAFFIC_SECRET", 2)
        p.to_server(forger.record(APPLICATION_DATA, b"under handshake keys"))
        outcome = p.pair.server_outcome
    assert outcome.data == []


# -- V15, V17, X27: what goes out while refusing -------------------------------------------------


def test_nothing_but_the_alert_after_a_fatal_error() -> None:  # V15, V17
    """The client refuses the second of two KeyUpdates in one datagram (unexpected_message:
    a KeyUpdate in epoch 3 once epoch 4 is current). Before the fix it also sends an ACK after its
    fatal alert, naming both KeyUpdate records, the refused one included:
    _receive_datagram13 calls _send_ack after its try block whatever the state. Should:
    only the alert (V15; V17: ACK only processed records)."""
    p = established13()
    forger = p.forger("SERVER_TRAFFIC_SECRET_0", 3)
    seq = next_message_seq(p, "client")
    body = encode_key_update(KeyUpdateRequest.update_not_requested)
    p.client.receive_datagram(
        forger.record(HANDSHAKE, fragment(HandshakeType.key_update, seq, body))
        + forger.record(HANDSHAKE, fragment(HandshakeType.key_update, seq + 1, body)),
        SERVER_ADDR,
        p.pair.now,
    )
    assert p.client.state is ConnectionState.CLOSED
    reader = RecordLayer13()
    reader.install_read(3, protection(p.secrets()["CLIENT_TRAFFIC_SECRET_0"], 3))
    sent = [
        (item.content_type, item.payload)
        for data, _addr in p.client.datagrams_to_send(p.pair.now)
        for item in reader.open_datagram(data)
        if isinstance(item, Opened13)
    ]
    assert sent == [(ALERT, bytes((FATAL, AlertDescription.unexpected_message)))]


def test_sequence_numbers_running_out_while_answering_the_peer() -> None:  # X27
    """The client must ACK a KeyUpdate when its write epoch has no sequence number left.
    Before the fix, SequenceNumberExhausted raised out of receive_datagram into the caller
    (the ACK was sealed outside the try/except, and the delayed-ACK path of handle_timer had
    no guard either). Now the connection ends (ConnectionTerminated) and nothing raises."""
    p = established13()
    v13 = p.client._v13  # private: 2^64 records cannot be sent in a test
    assert v13 is not None
    v13.records.skip_write_sequence_numbers(3, 1 << 64)
    server = p.server._v13
    assert server is not None
    server.handshake.request_key_update(update_requested=False)
    ((data, _addr),) = p.server.datagrams_to_send(p.pair.now)
    p.client.receive_datagram(data, SERVER_ADDR, p.pair.now)  # must not raise
    p.pair.collect()
    assert p.client.state is ConnectionState.CLOSED
    assert p.pair.client_outcome.terminated is not None


def test_a_second_client_hello_with_another_message_seq_is_refused() -> None:  # V9, X15
    """A one-bit corruption of the second ClientHello's message_seq (found by the bit-flip
    sweep run on DTLS 1.3): the cookie still verified, the server numbered from the corrupt
    value and ignored the client's Finished, while the client, answered, completed; the
    server timed out. Now the server refuses it (RFC 9147 §5.2: it is 1 after a
    HelloRetryRequest), and neither side believes in a handshake the other abandoned."""

    def corrupt_second_hello(direction: str, data: bytes) -> list[bytes]:
        if direction == "c2s" and data[0] == HANDSHAKE and data[13] == 1 and data[18] == 1:
            data = data[:17] + bytes([data[17] ^ 0x80]) + data[18:]  # message_seq 0x8001
        return [data]

    p = make_pair13()
    p.drive(corrupt_second_hello)
    assert terminated_with(p, "server") is AlertDescription.illegal_parameter
    assert p.pair.client_outcome.completed is None
    ended = p.pair.client_outcome.terminated
    assert ended is not None and ended.by_peer
