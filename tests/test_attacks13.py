"""DTLS 1.3 attack regressions: the DTLS 1.3 rows of the attack catalogue (SPEC X26-X28) and
the protocol-violation items of SPEC §2 (V1-V21), end to end through real ``DtlsConnection``
pairs in memory (helpers in tests/attacks13.py).

The attacker either sits on the path without keys (rewrites, replays or invents datagrams)
or holds one side's traffic secrets (taken from the client's key log) and seals records of
its own, which models a malicious or broken peer. Every hostile input must be dropped
(counted in ``stats.records_dropped`` and traced) or end the connection with a named alert;
none raises into the caller, and none makes a connection send or keep more than a bounded
amount.

Covered elsewhere and not repeated here: the record layer alone (test_layer13: V1-V7 on
RecordLayer13), ACK bookkeeping alone (test_ack13: V12, V18, V19), the key schedule's labels
(test_keyschedule13: V15 "dtls13"), the transcript (test_handshake13: V9), DTLS 1.2 rows
(test_attacks).
"""

from __future__ import annotations

from typing import Any

import pytest

from aiodtls import AlertDescription, ConnectionState, DtlsConfiguration
from aiodtls.handshake.messages import (
    HandshakeType,
    HelloVerifyRequest,
    NewSessionTicket13,
    ServerHello,
    encode_ack,
    encode_hello_verify_request_body,
    encode_new_session_ticket13,
    encode_server_hello,
)
from aiodtls.suites import DEFAULT_SUITES13, Suite13
from attacks13 import (
    ACK,
    ALERT,
    APPLICATION_DATA,
    CHANGE_CIPHER_SPEC,
    FATAL,
    HANDSHAKE,
    V12,
    V13,
    Pair13,
    dropped,
    edit_server_hello,
    established13,
    fragment,
    make_pair13,
    next_message_seq,
    plain_messages,
    plaintext,
    rewrite_client_hello,
    rewrite_plain_messages,
    set_legacy_cookie,
    terminated_with,
)
from pairs import CLIENT_ADDR, SERVER_ADDR

# -- X26: messages not valid in DTLS 1.3 (or in DTLS 1.2) ------------------------------------


def test_hello_verify_request_to_a_dtls13_client_is_refused() -> None:  # X26, V8 "no HVR"
    p = make_pair13()
    hvr = encode_hello_verify_request_body(HelloVerifyRequest(0xFEFD, b"\x42" * 20))
    p.client.datagrams_to_send(0.0)  # the ClientHello goes nowhere
    p.to_client(plaintext(HANDSHAKE, fragment(HandshakeType.hello_verify_request, 0, hvr), 0))
    assert p.client.state is ConnectionState.CLOSED
    assert terminated_with(p, "client") is AlertDescription.protocol_version


def test_hello_retry_request_to_a_dtls12_client_is_refused() -> None:  # X26
    hrr_datagrams: list[bytes] = []

    def keep_hrr(direction: str, data: bytes) -> list[bytes]:
        if direction == "s2c" and not hrr_datagrams:
            hrr_datagrams.append(data)
        return [data]

    make = make_pair13()
    make.pair.exchange(keep_hrr)
    assert [m[0] for m in plain_messages(hrr_datagrams[0])] == [HandshakeType.server_hello]
    p = make_pair13(client_versions=V12)
    p.client.datagrams_to_send(0.0)
    p.to_client(hrr_datagrams[0])
    assert p.client.state is ConnectionState.CLOSED
    # A ServerHello with supported_versions the client never offered.
    assert terminated_with(p, "client") in (
        AlertDescription.unexpected_message,
        AlertDescription.unsupported_extension,
        AlertDescription.illegal_parameter,
    )


def test_end_of_early_data_is_unexpected() -> None:  # X26, V11 "no EndOfEarlyData"
    p = established13()
    forger = p.forger("CLIENT_TRAFFIC_SECRET_0", 3)
    seq = next_message_seq(p, "server")
    p.to_server(forger.record(HANDSHAKE, fragment(HandshakeType.end_of_early_data, seq, b"")))
    assert terminated_with(p, "server") is AlertDescription.unexpected_message
    assert p.pair.client_outcome.terminated is not None  # the alert reached the client


def test_end_of_early_data_during_the_handshake_is_unexpected() -> None:  # X26, V11
    """The client's Finished flight is replaced by an EndOfEarlyData under its handshake
    keys (where a 0-RTT client would send it, RFC 8446 §4.5)."""
    p = make_pair13()
    forged: list[bytes] = []

    def swap_finished(direction: str, data: bytes) -> list[bytes]:
        if direction == "c2s" and data[0] & 0xE0 == 0x20 and not forged:
            forger = p.forger("CLIENT_HANDSHAKE_TRAFFIC_SECRET", 2)
            forged.append(
                forger.record(HANDSHAKE, fragment(HandshakeType.end_of_early_data, 2, b""))
            )
            return forged
        return [data]

    p.drive(swap_finished)
    assert forged
    assert terminated_with(p, "server") is AlertDescription.unexpected_message
    assert p.pair.client_outcome.completed is not None
    assert p.pair.server_outcome.completed is None


def test_new_session_ticket_from_a_client_is_unexpected() -> None:  # X26 "unnegotiated NST"
    p = established13()
    forger = p.forger("CLIENT_TRAFFIC_SECRET_0", 3)
    ticket = encode_new_session_ticket13(NewSessionTicket13(3600, 7, b"\x00", b"ticket"))
    seq = next_message_seq(p, "server")
    p.to_server(forger.record(HANDSHAKE, fragment(HandshakeType.new_session_ticket, seq, ticket)))
    assert terminated_with(p, "server") is AlertDescription.unexpected_message


@pytest.mark.parametrize("epoch", [0, 1])
def test_an_ack_record_to_a_dtls12_connection_is_dropped(epoch: int) -> None:  # X26
    p = established13(client_versions=V12, server_versions=V12)
    before = dropped(p.client)
    ack = encode_ack([(epoch, 0)])
    p.to_client(plaintext(ACK, ack, 77, epoch=epoch))
    assert dropped(p.client) == before + 1
    assert p.client_trace.kinds("record_dropped") or p.client_trace.kinds("datagram_dropped")
    assert p.round_trip()


# -- V8: the HelloRetryRequest cookie exchange -------------------------------------------------


def test_the_cookie_exchange_is_a_hello_retry_request_no_bigger_than_3x() -> None:  # V8
    p = make_pair13()
    p.drive()
    assert p.both_established()
    first_c2s = next(d for _, direction, d in p.pair.sent if direction == "c2s")
    first_s2c = next(d for _, direction, d in p.pair.sent if direction == "s2c")
    ((msg_type, message_seq, body),) = plain_messages(first_s2c)
    assert msg_type == HandshakeType.server_hello and message_seq == 0  # an HRR, never an HVR
    assert b"\xcf\x21\xad\x74" in body[:40]  # the HelloRetryRequest random's first bytes
    assert len(first_s2c) <= 3 * len(first_c2s)


def test_a_legacy_cookie_in_the_second_client_hello_is_illegal() -> None:  # V8
    p = make_pair13()
    p.drive(rewrite_client_hello(1, set_legacy_cookie))
    assert p.pair.server_outcome.completed is None
    assert terminated_with(p, "server") is AlertDescription.illegal_parameter


def test_a_second_hello_retry_request_is_unexpected() -> None:  # V8
    hrr: list[bytes] = []

    def deliver(direction: str, data: bytes) -> list[bytes]:
        if direction != "s2c":
            return [data]
        messages = plain_messages(data)
        if not hrr:
            hrr.append(messages[0][2])
            return [data]
        if messages and messages[0][:2] == (HandshakeType.server_hello, 1):
            # The same HelloRetryRequest again, as the server's next message.
            return [plaintext(HANDSHAKE, fragment(HandshakeType.server_hello, 1, hrr[0]), 50)]
        return [data]

    p = make_pair13()
    p.drive(deliver)
    assert terminated_with(p, "client") is AlertDescription.unexpected_message


# -- V10: version negotiation, no middlebox compatibility mode, downgrade ----------------------


def test_the_client_hello_says_dtls13_only_in_supported_versions() -> None:  # V10
    from aiodtls.handshake.messages import ExtensionType, decode_client_hello
    from aiodtls.handshake.messages.tls13 import decode_supported_versions_client

    p = make_pair13()
    ((data, _addr),) = p.client.datagrams_to_send(0.0)
    ((_type, _seq, body),) = plain_messages(data)
    hello = decode_client_hello(body)
    assert hello.client_version == 0xFEFD
    assert hello.session_id == b"" and hello.cookie == b""
    versions = dict(hello.extensions)[ExtensionType.supported_versions]
    assert decode_supported_versions_client(versions) == [0xFEFC]
    assert data[1:3] == b"\xfe\xfd"  # V1: legacy_record_version {254, 253}


def test_a_server_echoing_a_session_id_is_refused() -> None:  # V10 (BoGo EchoSessionID)
    def echo(hello: Any) -> None:
        hello.session_id = b"\x01" * 32

    def deliver(direction: str, data: bytes) -> list[bytes]:
        messages = plain_messages(data)
        if direction == "s2c" and messages and messages[0][:2] == (HandshakeType.server_hello, 1):
            return [
                rewrite_plain_messages(data, HandshakeType.server_hello, edit_server_hello(echo))
            ]
        return [data]

    p = make_pair13()
    p.drive(deliver)
    assert terminated_with(p, "client") is AlertDescription.illegal_parameter
    assert p.pair.client_outcome.completed is None


def dtls12_server_hello_to_a_dtls13_client(random_tail: bytes) -> Pair13:
    """A DTLS 1.3-only client whose ClientHello is answered by a DTLS 1.2 ServerHello (no
    supported_versions; its random ending in ``random_tail``), as from a DTLS 1.2 server."""
    p = make_pair13()
    p.client.datagrams_to_send(0.0)  # the ClientHello goes nowhere
    hello = ServerHello(
        server_version=0xFEFD,
        random=b"\x11" * (32 - len(random_tail)) + random_tail,
        session_id=b"",
        cipher_suite=0xC02B,  # TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        compression_method=0,
        extensions=[],
    )
    body = encode_server_hello(hello)
    p.to_client(plaintext(HANDSHAKE, fragment(HandshakeType.server_hello, 0, body), 0))
    return p


def test_a_dtls12_server_hello_to_a_dtls13_only_client() -> None:  # X24, V10
    p = dtls12_server_hello_to_a_dtls13_client(b"\x11" * 8)
    assert terminated_with(p, "client") is AlertDescription.protocol_version


@pytest.mark.parametrize("tail", [b"DOWNGRD\x01", b"DOWNGRD\x00"])
def test_a_downgrade_sentinel_is_refused(tail: bytes) -> None:  # X24, V10, RFC 8446 §4.1.3
    p = dtls12_server_hello_to_a_dtls13_client(tail)
    assert terminated_with(p, "client") is AlertDescription.illegal_parameter


def test_a_version_flexible_client_gets_dtls13() -> None:  # V10 (fallback: test_versions.py)
    """A client allowing both versions offers both and gets DTLS 1.3 from a 1.3 server; its
    fallback to DTLS 1.2 and the sentinel check are in tests/test_versions.py."""
    p = make_pair13(client_versions=(V12[0], V13[0]))
    p.drive()
    completed = p.pair.client_outcome.completed
    assert completed is not None and completed.protocol_version == "DTLSv1.3"


# -- V1-V6, V16: records ------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [CHANGE_CIPHER_SPEC, APPLICATION_DATA, 0x40, 0xFF])
def test_first_bytes_20_23_and_others_are_dropped(content_type: int) -> None:  # V3
    p = established13()
    before = dropped(p.client)
    payload = b"\x01" if content_type == CHANGE_CIPHER_SPEC else b"plaintext data"
    p.to_client(plaintext(content_type, payload, 90))
    assert dropped(p.client) == before + 1
    assert p.pair.client_outcome.data == []
    assert p.round_trip()


def test_a_bad_first_byte_ends_only_its_datagram() -> None:  # V3, X18
    p = established13()
    forger = p.forger("SERVER_TRAFFIC_SECRET_0", 3)
    good = forger.record(APPLICATION_DATA, b"good")
    before = dropped(p.client)
    p.to_client(
        good + plaintext(APPLICATION_DATA, b"bad", 91) + forger.record(APPLICATION_DATA, b"after")
    )
    assert p.pair.client_outcome.data == [b"good"]
    assert dropped(p.client) == before + 1
    assert p.round_trip()


def test_plaintext_records_outside_epoch_0_are_dropped() -> None:  # V1, V16
    p = established13()
    before = dropped(p.client)
    p.to_client(plaintext(HANDSHAKE, fragment(HandshakeType.key_update, 5, b"\x00"), 3, epoch=3))
    p.to_client(plaintext(ALERT, bytes((FATAL, AlertDescription.internal_error)), 4, epoch=3))
    assert dropped(p.client) == before + 2
    assert p.round_trip()


def test_a_plaintext_alert_after_the_handshake_is_dropped() -> None:  # V1, X19
    p = established13()
    before = dropped(p.client)
    p.to_client(plaintext(ALERT, bytes((FATAL, AlertDescription.handshake_failure)), 92))
    assert p.client.state is ConnectionState.ESTABLISHED
    assert dropped(p.client) == before + 1
    assert p.round_trip()


def test_a_length_less_record_must_be_last() -> None:  # V2
    p = established13()
    forger = p.forger("SERVER_TRAFFIC_SECRET_0", 3)
    last = forger.record(APPLICATION_DATA, b"last", include_length=False)
    p.to_client(forger.record(APPLICATION_DATA, b"first") + last)
    assert p.pair.client_outcome.data == [b"first", b"last"]
    # A length-less record followed by another: the second becomes part of the first's
    # ciphertext, which then fails authentication: both are lost, nothing is delivered.
    before = dropped(p.client)
    p.to_client(
        forger.record(APPLICATION_DATA, b"no length", include_length=False)
        + forger.record(APPLICATION_DATA, b"follower")
    )
    assert p.pair.client_outcome.data == [b"first", b"last"]
    assert dropped(p.client) == before + 1
    assert p.round_trip()


def test_padding_after_the_inner_content_type_is_removed() -> None:  # V2
    p = established13()
    forger = p.forger("SERVER_TRAFFIC_SECRET_0", 3)
    record = forger.protection.seal(APPLICATION_DATA, b"padded", forger.seq, padding=300)
    p.to_client(record)
    assert p.pair.client_outcome.data == [b"padded"]


def test_overlapping_fragments_that_disagree() -> None:  # V11
    """A peer (with keys) sends one post-handshake message as two overlapping fragments whose
    common bytes differ (RFC 9147 §5.5: senders MUST NOT; the receiver MAY refuse with
    illegal_parameter): refused by name, or one version of the bytes is used; nothing else."""
    p = established13()
    forger = p.forger("SERVER_TRAFFIC_SECRET_0", 3)
    seq = next_message_seq(p, "client")
    ticket = encode_new_session_ticket13(NewSessionTicket13(3600, 7, b"\x00", b"T" * 40))
    other = ticket[:20] + bytes(b ^ 0xFF for b in ticket[20:30]) + ticket[30:]

    def piece(body: bytes, start: int, end: int) -> bytes:
        header = (
            bytes((HandshakeType.new_session_ticket,))
            + len(body).to_bytes(3, "big")
            + seq.to_bytes(2, "big")
            + start.to_bytes(3, "big")
            + (end - start).to_bytes(3, "big")
        )
        return header + body[start:end]

    p.to_client(
        forger.record(HANDSHAKE, piece(ticket, 0, 30)),
        forger.record(HANDSHAKE, piece(other, 15, len(other))),
    )
    end = p.pair.client_outcome.terminated
    if end is None:
        assert p.client.state is ConnectionState.ESTABLISHED
        assert p.round_trip()
    else:
        assert not end.by_peer
        assert end.alert in (AlertDescription.illegal_parameter, AlertDescription.decode_error)


def test_8_bit_sequence_numbers_are_accepted() -> None:  # V2 (S bit clear)
    p = established13()
    forger = p.forger("SERVER_TRAFFIC_SECRET_0", 3, seq=5)
    p.to_client(forger.record(APPLICATION_DATA, b"short seq", sequence_bits=8))
    assert p.pair.client_outcome.data == [b"short seq"]


def test_the_epoch_bits_of_the_handshake_epoch_fail_authentication() -> None:  # V2, V4, V16
    """An epoch-3 record relabelled as epoch 2 (still installed after the handshake) is
    opened with epoch 2's keys and fails."""
    p = established13()
    forger = p.forger("SERVER_TRAFFIC_SECRET_0", 3)
    record = bytearray(forger.record(APPLICATION_DATA, b"epoch 3 data"))
    record[0] = (record[0] & ~0x03) | 2
    before = dropped(p.client)
    p.to_client(bytes(record))
    assert p.pair.client_outcome.data == []
    assert dropped(p.client) == before + 1
    assert p.round_trip()


def test_the_cid_bit_without_a_negotiated_cid_is_dropped() -> None:  # V2, X23
    p = established13()
    forger = p.forger("SERVER_TRAFFIC_SECRET_0", 3)
    record = bytearray(forger.record(APPLICATION_DATA, b"cid?"))
    record[0] |= 0x10
    before = dropped(p.client)
    p.to_client(bytes(record))
    assert p.pair.client_outcome.data == []
    assert dropped(p.client) == before + 1


@pytest.mark.parametrize("offset", [1, 2], ids=["high byte", "low byte"])
def test_a_modified_masked_sequence_number_fails(offset: int) -> None:  # V5
    p = established13()
    forger = p.forger("SERVER_TRAFFIC_SECRET_0", 3)
    record = bytearray(forger.record(APPLICATION_DATA, b"masked"))
    record[offset] ^= 0x01
    before = dropped(p.client)
    p.to_client(bytes(record))
    assert p.pair.client_outcome.data == []
    assert dropped(p.client) == before + 1
    assert p.client.datagrams_to_send(p.pair.now) == []  # V6: no ACK, no alert
    assert p.round_trip()


def test_a_ciphertext_shorter_than_the_mask_sample_is_dropped() -> None:  # V5 "M"
    p = established13()
    before = dropped(p.client)
    p.to_client(bytes((0x2F, 0x12, 0x34, 0x00, 0x0F)) + b"\x00" * 15)
    assert dropped(p.client) == before + 1
    assert p.round_trip()


def test_a_replayed_record_is_delivered_once() -> None:  # V6, X7
    p = established13()
    p.server.send(b"once")
    ((data, _addr),) = p.server.datagrams_to_send(p.pair.now)
    before = dropped(p.client)
    p.to_client(data, data, data)
    assert p.pair.client_outcome.data == [b"once"]
    assert dropped(p.client) == before + 2
    assert p.round_trip()


def test_a_forged_far_future_record_does_not_move_the_window() -> None:  # V6, X6
    p = established13()
    forger = p.forger("SERVER_TRAFFIC_SECRET_0", 3)
    record = bytearray(forger.record(APPLICATION_DATA, b"x" * 32, seq=0x7FFF))
    record[-1] ^= 0xFF  # the tag no longer verifies
    before = dropped(p.client)
    p.to_client(bytes(record))
    assert dropped(p.client) == before + 1
    p.server.send(b"in order")
    p.pair.exchange()
    assert p.pair.client_outcome.data == [b"in order"]


def test_application_data_before_the_handshake_keys_is_not_delivered() -> None:  # V16, X9
    """Application data in epoch 0 (a plaintext record, first byte 23) while the client waits
    for the server's flight: dropped, and the handshake completes."""
    p = make_pair13()
    sent: list[bytes] = []

    def deliver(direction: str, data: bytes) -> list[bytes]:
        if direction == "s2c" and not sent:
            sent.append(data)
            return [plaintext(APPLICATION_DATA, b"early", 7), data]
        return [data]

    p.drive(deliver)
    assert p.both_established()
    assert p.pair.client_outcome.data == []


# -- V7: AEAD limits and CCM_8 ----------------------------------------------------------------


def test_ccm8_is_not_offered_by_default() -> None:  # V7
    assert Suite13.TLS_AES_128_CCM_8_SHA256 not in DEFAULT_SUITES13
    assert Suite13.TLS_AES_128_CCM_8_SHA256 not in DtlsConfiguration().effective_suites13()


def test_ccm8_is_never_negotiated_by_default() -> None:  # V7
    def ccm8(config: DtlsConfiguration) -> None:
        config.cipher_suites13 = [Suite13.TLS_AES_128_CCM_8_SHA256]

    p = make_pair13(client=ccm8)
    p.drive()
    assert p.pair.client_outcome.completed is None
    assert p.pair.server_outcome.completed is None
    assert p.client.state is ConnectionState.CLOSED
    assert p.server.state is ConnectionState.CLOSED


def test_a_forgery_flood_is_counted_and_costs_nothing_else() -> None:  # V7, X20
    p = established13()
    forger = p.forger("SERVER_TRAFFIC_SECRET_0", 3)
    forgeries = []
    for _ in range(200):
        record = bytearray(forger.record(APPLICATION_DATA, b"forged"))
        record[-1] ^= 0x01
        forgeries.append(bytes(record))
    before = dropped(p.client)
    for data in forgeries:
        p.client.receive_datagram(data, SERVER_ADDR, p.pair.now)
    assert dropped(p.client) == before + 200
    assert p.client.datagrams_to_send(p.pair.now) == []
    v13 = p.client._v13  # private: the per-key count has no public view
    assert v13 is not None and v13.records.failed_decryptions(3) == 200
    p.pair.collect()
    assert p.round_trip()


# -- V9: message_seq ----------------------------------------------------------------------------


def test_message_seq_continues_across_the_hello_retry_request() -> None:  # V9
    p = make_pair13()
    p.drive()
    hellos = [
        (direction, m[0], m[1]) for _, direction, data in p.pair.sent for m in plain_messages(data)
    ]
    assert hellos == [
        ("c2s", HandshakeType.client_hello, 0),
        ("s2c", HandshakeType.server_hello, 0),
        ("s2c", HandshakeType.server_hello, 0),  # the stateless HelloRetryRequest's copy
        ("c2s", HandshakeType.client_hello, 1),
        ("s2c", HandshakeType.server_hello, 1),
    ]


# -- V15: after close_notify ------------------------------------------------------------------


def test_data_after_close_notify_is_ignored() -> None:  # V15
    p = established13()
    forger = p.forger("SERVER_TRAFFIC_SECRET_0", 3)
    close = forger.record(ALERT, bytes((1, AlertDescription.close_notify)))
    after = forger.record(APPLICATION_DATA, b"after close")
    p.to_client(close + after)
    assert p.pair.client_outcome.data == []
    end = p.pair.client_outcome.terminated
    assert end is not None and end.alert is AlertDescription.close_notify and end.by_peer
    p.to_client(forger.record(APPLICATION_DATA, b"later"))
    assert p.pair.client_outcome.data == []


def test_alerts_are_not_retransmitted() -> None:  # V15
    p = established13()
    forger = p.forger("CLIENT_TRAFFIC_SECRET_0", 3)
    p.server.receive_datagram(
        forger.record(HANDSHAKE, fragment(HandshakeType.end_of_early_data, 9, b"")),
        CLIENT_ADDR,
        p.pair.now,
    )
    first = p.server.datagrams_to_send(p.pair.now)
    assert len(first) <= 1
    for t in (1.0, 10.0, 100.0):
        p.server.handle_timer(p.pair.now + t)
        assert p.server.datagrams_to_send(p.pair.now + t) == []


# -- X8, X11: handshake messages after the handshake -------------------------------------------

AFTER_THE_HANDSHAKE = [
    HandshakeType.client_hello,
    HandshakeType.server_hello,
    HandshakeType.hello_verify_request,
    HandshakeType.end_of_early_data,
    HandshakeType.encrypted_extensions,
    HandshakeType.certificate,
    HandshakeType.certificate_request,
    HandshakeType.certificate_verify,
    HandshakeType.finished,
    HandshakeType.message_hash,
    99,
]


@pytest.mark.parametrize("msg_type", AFTER_THE_HANDSHAKE)
@pytest.mark.parametrize("to", ["client", "server"])
def test_handshake_messages_after_the_handshake_are_unexpected(to: str, msg_type: int) -> None:
    """X8, X11 (DTLS 1.3): a peer (with keys) sends, under the application keys, a message
    that has no place after the handshake (a ClientHello included: DTLS 1.3 has no
    renegotiation; CertificateRequest without post_handshake_auth)."""
    p = established13()
    secret = "SERVER_TRAFFIC_SECRET_0" if to == "client" else "CLIENT_TRAFFIC_SECRET_0"
    forger = p.forger(secret, 3)
    seq = next_message_seq(p, to)
    record = forger.record(HANDSHAKE, fragment(msg_type, seq, b"\x00" * 40))
    if to == "client":
        p.to_client(record)
    else:
        p.to_server(record)
    assert terminated_with(p, to) is AlertDescription.unexpected_message


@pytest.mark.parametrize("epoch", [2, 3])
def test_a_client_hello_under_protection_is_refused(epoch: int) -> None:  # X8 (1.3 CH at epoch 2)
    p = established13()
    name = "CLIENT_HANDSHAKE_TRAFFIC_SECRET" if epoch == 2 else "CLIENT_TRAFFIC_SECRET_0"
    forger = p.forger(name, epoch)
    first = next(d for _, direction, d in p.pair.sent if direction == "c2s")
    ((_type, _seq, body),) = plain_messages(first)
    seq = next_message_seq(p, "server")
    p.to_server(forger.record(HANDSHAKE, fragment(HandshakeType.client_hello, seq, body)))
    assert p.pair.server_outcome.completed is not None
    end = p.pair.server_outcome.terminated
    if end is None:
        assert p.round_trip()
    else:
        assert not end.by_peer and end.alert is AlertDescription.unexpected_message
