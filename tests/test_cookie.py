"""Tests for aiodtls.handshake.cookie: the stateless front door a server's ClientHellos pass.

Datagrams are built by hand from the message codecs and ``encode_record_header`` and go
through ``CookieDoor.receive``; the cookie is always taken from the HelloVerifyRequest the
door's challenge carries, as a client would.
Covers SPEC C1–C5, C9, X14, X15 and the "Stateless listen" / "Cookie parsing" cases of §5.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiodtls.buffer import Buffer
from aiodtls.connection import ConnectionState, DtlsConnection
from aiodtls.drops import Drop
from aiodtls.endpoint import DtlsEndpoint
from aiodtls.handshake.cookie import Admit, Challenge, CookieCheck, CookieDoor, CookieSecrets
from aiodtls.handshake.messages import (
    ClientHello,
    ExtensionType,
    HandshakeType,
    encode_message,
    encode_uint16_list,
    pull_hello_verify_request,
    push_client_hello,
)
from aiodtls.record.header import (
    DTLS1_0,
    DTLS1_2,
    ContentType,
    RawRecord,
    encode_record_header,
    split_datagram,
)
from aiodtls.reliability.fragments import encode_handshake_fragment, pull_handshake_header
from aiodtls.trace import TraceRecord
from pairs import client_config, handshake, server_config

ADDR = ("192.0.2.1", 4433)
SERVER = ("192.0.2.100", 4433)
SECRET = bytes(range(32))
NOW = 1000.0


def hello(cookie: bytes = b"", **changes: object) -> ClientHello:
    """A typical DTLS 1.2 ClientHello, with ``changes`` applied."""
    base = ClientHello(
        client_version=DTLS1_2,
        random=bytes(range(32)),
        session_id=b"",
        cookie=cookie,
        cipher_suites=[0xC02B, 0xC02F, 0x00FF],
        compression_methods=b"\x00",
        extensions=[
            (ExtensionType.supported_groups, encode_uint16_list([23, 29])),
            (ExtensionType.extended_master_secret, b""),
        ],
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def datagram(
    message: ClientHello | bytes,
    *,
    seq: int = 0,
    epoch: int = 0,
    version: int = DTLS1_2,
    content_type: int = ContentType.handshake,
    msg_type: int = HandshakeType.client_hello,
    message_seq: int = 0,
    offset: int = 0,
    fragment_length: int | None = None,
) -> bytes:
    """One record carrying ``message`` (a ClientHello or a raw body) as a handshake fragment."""
    body = message if isinstance(message, bytes) else encode_message(push_client_hello, message)
    fragment = encode_handshake_fragment(msg_type, message_seq, body, offset, fragment_length)
    return encode_record_header(content_type, version, epoch, seq, len(fragment)) + fragment


def through_door(
    data: bytes, addr: object, keys: CookieSecrets | None, now: float
) -> Admit | Challenge | Drop:
    """The door's verdict on ``data`` from ``addr`` (``keys`` None: cookies off)."""
    return CookieDoor(keys).receive(data, addr, now)


def reply_of(result: Admit | Challenge | Drop) -> bytes:
    """The one HelloVerifyRequest a challenge sends (all copies are the same datagram)."""
    assert isinstance(result, Challenge)
    assert len(set(result.datagrams)) == 1
    return result.datagrams[0]


def secrets() -> CookieSecrets:
    """Cookie secrets with a fixed key, so nothing rotates behind the test's back."""
    return CookieSecrets(SECRET)


def cookie_from(reply: bytes, request_seq: int = 0) -> bytes:
    """Check that ``reply`` is a well-formed HelloVerifyRequest datagram; return its cookie."""
    records = list(split_datagram(reply))
    assert len(records) == 1
    record = records[0]
    assert isinstance(record, RawRecord)
    assert record.content_type == ContentType.handshake
    assert record.version == DTLS1_0  # C2
    assert record.epoch == 0
    assert record.sequence_number == request_seq  # C3
    buf = Buffer(record.fragment)
    header = pull_handshake_header(buf)
    assert header.msg_type == HandshakeType.hello_verify_request
    assert header.message_seq == 0  # C3
    assert header.fragment_offset == 0
    assert header.fragment_length == header.length == buf.remaining()
    hvr = pull_hello_verify_request(buf)
    assert buf.eof()
    assert hvr.server_version == DTLS1_0  # C2
    assert 0 < len(hvr.cookie) <= 255
    return hvr.cookie


def get_cookie(
    keys: CookieSecrets, message: ClientHello | None = None, addr: object = ADDR
) -> bytes:
    """Run the first ClientHello through the check and return the cookie it was given."""
    result = through_door(datagram(message or hello()), addr, keys, NOW)
    return cookie_from(reply_of(result))


def second_hello(cookie: bytes, **changes: object) -> bytes:
    """The ClientHello that returns ``cookie``: record seq 1, message_seq 1 (C3)."""
    return datagram(hello(cookie, **changes), seq=1, message_seq=1)


# -- first ClientHello: VERIFY (C1–C3, X14) ------------------------------------------------


@pytest.mark.parametrize("seq", [0, 1, 7, 0x1234, (1 << 48) - 1])
def test_no_cookie_gets_a_hello_verify_request_on_the_same_sequence_number(seq: int) -> None:
    """A cookieless ClientHello is answered with an HVR whose record seq echoes it (C1, C3)."""
    result = through_door(datagram(hello(), seq=seq), ADDR, secrets(), NOW)
    assert isinstance(result, Challenge)
    cookie_from(reply_of(result), request_seq=seq)


def test_dtls10_record_version_is_accepted_on_the_first_client_hello() -> None:
    """OpenSSL sends its first ClientHello in a 0xFEFF record (R1, C2)."""
    result = through_door(datagram(hello(), version=DTLS1_0), ADDR, secrets(), NOW)
    assert isinstance(result, Challenge)
    cookie_from(reply_of(result))


@pytest.mark.parametrize(
    "message",
    [
        hello(),
        hello(extensions=[], cipher_suites=[0xC02B]),
        hello(session_id=bytes(32), cipher_suites=list(range(100))),
    ],
    ids=["typical", "minimal", "large"],
)
def test_reply_is_not_larger_than_the_request(message: ClientHello) -> None:
    """The HVR never amplifies a spoofed ClientHello (X14)."""
    request = datagram(message)
    result = through_door(request, ADDR, secrets(), NOW)
    assert isinstance(result, Challenge)
    assert sum(map(len, result.datagrams)) <= len(request)


# -- second ClientHello: ACCEPT (C4) -------------------------------------------------------


def test_valid_cookie_is_accepted() -> None:
    """The ClientHello repeated with the HVR's cookie is accepted (C4)."""
    keys = secrets()
    cookie = get_cookie(keys)
    assert isinstance(through_door(second_hello(cookie), ADDR, keys, NOW), Admit)


def test_cookie_check_keeps_no_state() -> None:
    """Another instance with the same secret accepts the cookie: nothing was remembered (C1)."""
    cookie = get_cookie(secrets())
    assert isinstance(through_door(second_hello(cookie), ADDR, secrets(), NOW), Admit)


def test_cookies_off_accepts_any_well_formed_client_hello() -> None:
    """With no secrets, every well-formed ClientHello is accepted."""
    assert isinstance(through_door(datagram(hello()), ADDR, None, NOW), Admit)


@pytest.mark.parametrize(
    "addr",
    [("192.0.2.1", 4434), ("192.0.2.2", 4433), ("2001:db8::1", 4433, 0, 0)],
    ids=["other_port", "other_address", "ipv6"],
)
def test_cookie_for_another_address_or_port_is_refused(addr: object) -> None:
    """The cookie binds the client's IP address and port (C4, X15)."""
    keys = secrets()
    cookie = get_cookie(keys, addr=ADDR)
    result = through_door(second_hello(cookie), addr, keys, NOW)
    assert isinstance(result, Challenge)
    cookie_from(reply_of(result), request_seq=1)


@pytest.mark.parametrize(
    "changes",
    [
        {"random": bytes(32)},
        {"cipher_suites": [0xC02B]},
        {"session_id": b"\x01" * 32},
        {"compression_methods": b"\x00\x01"},
        {"client_version": DTLS1_0},
    ],
    ids=["random", "suites", "session_id", "compression", "version"],
)
def test_changed_client_hello_fields_invalidate_the_cookie(changes: dict[str, object]) -> None:
    """A ClientHello changed after the HVR gets a new HVR, not a connection (C4, C5, X15)."""
    keys = secrets()
    cookie = get_cookie(keys)
    result = through_door(second_hello(cookie, **changes), ADDR, keys, NOW)
    assert isinstance(result, Challenge)
    assert "does not match" in result.reason


def test_cookie_ignores_changed_extensions() -> None:
    """RFC 6347 §4.2.1 binds version, random, session_id, suites and compression, not the
    extensions: pion adds supported_groups and ec_point_formats to its second ClientHello
    (issue 9 item 5), and such a client must get past the cookie."""
    keys = secrets()
    cookie = get_cookie(keys)
    changed = [(ExtensionType.extended_master_secret, b""), (ExtensionType.supported_groups, b"")]
    result = through_door(second_hello(cookie, extensions=changed), ADDR, keys, NOW)
    assert isinstance(result, Admit)


def test_bad_cookies_are_treated_as_absent() -> None:
    """Truncated, extended, flipped or garbage cookies get a new HVR (C5, X15)."""
    keys = secrets()
    cookie = get_cookie(keys)
    flipped = bytes([cookie[0] ^ 1]) + cookie[1:]
    last_flipped = cookie[:-1] + bytes([cookie[-1] ^ 0x80])
    for bad in (
        cookie[:-1],
        cookie + b"\x00",
        flipped,
        last_flipped,
        bytes(len(cookie)),
        b"\xff" * 255,
        b"x",
    ):
        result = through_door(second_hello(bad), ADDR, keys, NOW)
        assert isinstance(result, Challenge), bad.hex()
        assert cookie_from(reply_of(result), request_seq=1)


def test_previous_secret_is_accepted_after_one_rotation_only() -> None:
    """Cookies survive one rotate(), not two (C4)."""
    keys = secrets()
    cookie = get_cookie(keys)
    keys.rotate(NOW)
    assert isinstance(through_door(second_hello(cookie), ADDR, keys, NOW), Admit)
    keys.rotate(NOW)
    assert isinstance(through_door(second_hello(cookie), ADDR, keys, NOW), Challenge)


def test_new_cookie_after_rotation_is_accepted() -> None:
    """After a rotation the HVR carries a cookie under the new secret (C4)."""
    keys = secrets()
    keys.rotate(NOW)
    cookie = get_cookie(keys)
    keys.rotate(NOW)
    assert isinstance(through_door(second_hello(cookie), ADDR, keys, NOW), Admit)


def test_automatic_rotation_retires_old_cookies() -> None:
    """A random secret rotates every period; a cookie outlives one rotation, not two (C4)."""
    keys = CookieSecrets(rotation_period=60.0)
    cookie = cookie_from(reply_of(through_door(datagram(hello()), ADDR, keys, 0.0)))
    assert isinstance(through_door(second_hello(cookie), ADDR, keys, 30.0), Admit)
    assert isinstance(through_door(second_hello(cookie), ADDR, keys, 61.0), Admit)
    assert isinstance(through_door(second_hello(cookie), ADDR, keys, 122.0), Challenge)


def test_secrets_are_independent() -> None:
    """A cookie from one server's secret is not valid at another's (C4)."""
    cookie = get_cookie(secrets())
    other = CookieSecrets(bytes(32))
    assert isinstance(through_door(second_hello(cookie), ADDR, other, NOW), Challenge)


# -- DROP: anything but one whole epoch-0 ClientHello (C9, §5) -------------------------------


def assert_dropped(data: bytes) -> None:
    """The datagram is dropped, with no reply, whatever the cookie configuration."""
    for keys in (secrets(), None):
        result = through_door(data, ADDR, keys, NOW)
        assert isinstance(result, Drop)
        assert result.reason


def test_first_fragment_of_a_client_hello_is_dropped() -> None:
    """A ClientHello split across records is not reassembled statelessly (C9)."""
    body = encode_message(push_client_hello, hello())
    assert_dropped(datagram(body, fragment_length=40))


def test_later_fragment_alone_is_dropped() -> None:
    """ "second fragment alone ⇒ DROP" (§5 Stateless listen)."""
    body = encode_message(push_client_hello, hello())
    assert_dropped(datagram(body, offset=40))


@pytest.mark.parametrize(
    "content_type",
    [
        ContentType.change_cipher_spec,
        ContentType.alert,
        ContentType.application_data,
        ContentType.tls12_cid,
        0,
    ],
)
def test_non_handshake_record_is_dropped(content_type: int) -> None:
    """Only handshake records are looked at (C9, X14)."""
    assert_dropped(datagram(hello(), content_type=content_type))


@pytest.mark.parametrize("epoch", [1, 2, 0xFFFF])
def test_client_hello_in_a_later_epoch_is_dropped(epoch: int) -> None:
    """A ClientHello under epoch ≥ 1 is not a new handshake (X8)."""
    assert_dropped(datagram(hello(), epoch=epoch))


@pytest.mark.parametrize(
    "msg_type",
    [HandshakeType.server_hello, HandshakeType.hello_verify_request, HandshakeType.finished],
)
def test_other_handshake_messages_are_dropped(msg_type: int) -> None:
    """Only a ClientHello can start an association."""
    assert_dropped(datagram(hello(), msg_type=msg_type))


def test_eleven_byte_datagram_is_dropped() -> None:
    """A datagram shorter than a record header (§5: 11-byte record)."""
    assert_dropped(datagram(hello())[:11])


def test_record_shorter_than_a_handshake_header_is_dropped() -> None:
    """A handshake record whose body is 11 bytes cannot hold the 12-byte header (F7)."""
    fragment = datagram(hello())[13 : 13 + 11]
    assert_dropped(encode_record_header(ContentType.handshake, DTLS1_2, 0, 0, 11) + fragment)


def test_empty_datagram_is_dropped() -> None:
    """Nothing to look at."""
    assert_dropped(b"")


def test_cut_mid_cookie_is_dropped() -> None:
    """A datagram cut inside the cookie: the record length overruns it (§5)."""
    keys = secrets()
    full = second_hello(get_cookie(keys))
    cut = full[: 13 + 12 + 2 + 32 + 1 + 1 + 5]
    for data in (cut, full[:-1]):
        assert isinstance(through_door(data, ADDR, keys, NOW), Drop)


def test_record_length_overrunning_the_datagram_is_dropped() -> None:
    """The record header claims more bytes than the datagram holds (R4, C9)."""
    data = bytearray(datagram(hello()))
    data[11:13] = (len(data) - 13 + 1).to_bytes(2, "big")
    assert_dropped(bytes(data))


def test_handshake_length_beyond_the_record_is_dropped() -> None:
    """length = frag_length but larger than the record body (mbedTLS one-byte overread)."""
    body = encode_message(push_client_hello, hello())
    fragment = encode_handshake_fragment(HandshakeType.client_hello, 0, body)
    fragment = fragment[:1] + (len(body) + 1).to_bytes(3, "big") + fragment[4:9]
    fragment += (len(body) + 1).to_bytes(3, "big") + body
    record = encode_record_header(ContentType.handshake, DTLS1_2, 0, 0, len(fragment)) + fragment
    assert_dropped(record)


def client_hello_bytes(
    session_id_length: int | None = None, cookie_length: int | None = None, cookie: bytes = b""
) -> bytes:
    """A ClientHello body with optionally forged session_id / cookie length bytes."""
    body = bytearray(encode_message(push_client_hello, hello(cookie)))
    if session_id_length is not None:
        body[34] = session_id_length
    if cookie_length is not None:
        body[35] = cookie_length
    return bytes(body)


@pytest.mark.parametrize(
    "body",
    [
        client_hello_bytes(cookie_length=255),  # cookie length past the end (X15)
        client_hello_bytes(cookie_length=200),
        client_hello_bytes(session_id_length=255),  # sid_len overflow
        client_hello_bytes(session_id_length=33),  # session_id > 32 bytes
        client_hello_bytes()[:-1],  # extension block one byte short
        client_hello_bytes() + b"\x00",  # trailing byte after the extensions
        client_hello_bytes()[:34],  # cut after the random
    ],
    ids=[
        "cookie_len_255",
        "cookie_len_200",
        "sid_len_255",
        "sid_len_33",
        "short",
        "trailing",
        "cut",
    ],
)
def test_malformed_client_hello_bodies_are_dropped(body: bytes) -> None:
    """mbedTLS ``cookie_parsing``: every malformed length is a DROP, never an overread (C9)."""
    assert_dropped(datagram(body))


def test_duplicate_extensions_are_dropped() -> None:
    """An Alert from the codec (duplicate extension) is also a silent DROP here (H4, C9)."""
    duplicated = hello(
        extensions=[
            (ExtensionType.extended_master_secret, b""),
            (ExtensionType.extended_master_secret, b""),
        ]
    )
    assert_dropped(datagram(duplicated))


# -- fuzzing ----------------------------------------------------------------------------------


def check_never_raises(data: bytes) -> None:
    """Run the check with and without secrets; only valid verdicts, small replies."""
    for keys in (secrets(), None):
        result = through_door(data, ADDR, keys, NOW)
        assert isinstance(result, Admit | Challenge | Drop)
        if isinstance(result, Challenge):
            assert sum(map(len, result.datagrams)) <= len(data)  # X14


@given(st.binary(max_size=300))
@settings(max_examples=200, deadline=None)
def test_check_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    """Arbitrary datagrams are classified, never crash the listener (C9)."""
    check_never_raises(data)


@given(st.data())
@settings(max_examples=200, deadline=None)
def test_check_never_raises_on_mutated_client_hellos(data: st.DataObject) -> None:
    """Valid ClientHello datagrams with bytes flipped, cut or inserted (C9)."""
    keys = secrets()
    base = bytearray(
        second_hello(get_cookie(keys)) if data.draw(st.booleans()) else datagram(hello())
    )
    for _ in range(data.draw(st.integers(1, 3))):
        position = data.draw(st.integers(0, len(base) - 1)) if base else 0
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip" and base:
            base[position] ^= data.draw(st.integers(1, 255))
        elif action == "cut":
            del base[position:]
        else:
            base[position:position] = data.draw(st.binary(min_size=1, max_size=3))
    check_never_raises(bytes(base))


# -- one door: a cookie is verified once per accepted ClientHello -----------------------------


class CountingChecks:
    """Wraps ``CookieSecrets.check`` to count the checks, and the valid ones."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.valid = 0
        check = CookieSecrets.check

        def counting(secrets: CookieSecrets, *args: Any, **kwargs: Any) -> CookieCheck:
            result = check(secrets, *args, **kwargs)
            self.calls += 1
            self.valid += result.valid
            return result

        monkeypatch.setattr(CookieSecrets, "check", counting)


def endpoint_handshake(endpoint: DtlsEndpoint) -> DtlsConnection:
    """A client's handshake with ``endpoint``, lossless, at t = 0; returns the client."""
    client = DtlsConnection(configuration=client_config())
    client.connect(SERVER, 0.0)
    for _ in range(10):
        for data, _addr in client.datagrams_to_send(0.0):
            endpoint.receive_datagram(data, ADDR, 0.0)
        for data, _addr in endpoint.datagrams_to_send(0.0):
            client.receive_datagram(data, SERVER, 0.0)
    return client


def test_bare_server_connection_verifies_the_cookie_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server DtlsConnection without an endpoint passes each ClientHello through its own
    door until one is admitted; its handshake does not check the cookie again (C1, C4). The
    cookie's age becomes the server's first round-trip sample."""
    checks = CountingChecks(monkeypatch)
    records: list[TraceRecord] = []
    pair = handshake(client_config(), server_config(trace=records.append))
    assert pair.server_outcome.completed is not None
    assert (checks.calls, checks.valid) == (2, 1)  # the cookieless ClientHello, then ours
    kinds = [r.kind for r in records]
    assert kinds.count("hello_verify_request_sent") == 1
    cookie_samples = [
        r for r in records if r.kind == "rtt_sample" and r.fields.get("source") == "cookie"
    ]
    assert len(cookie_samples) == 1


def test_endpoint_connection_verifies_the_cookie_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The endpoint's door admits the ClientHello and the connection it creates starts from
    that verdict: one check per ClientHello, one valid one per handshake (C1, C4), and the
    cookie's age still reaches the new connection's timer."""
    checks = CountingChecks(monkeypatch)
    records: list[TraceRecord] = []
    endpoint = DtlsEndpoint(server_config(trace=records.append))
    assert endpoint_handshake(endpoint).state is ConnectionState.ESTABLISHED
    assert endpoint.stats.connections_created == endpoint.stats.hello_verify_requests == 1
    assert (checks.calls, checks.valid) == (2, 1)
    cookie_samples = [
        r for r in records if r.kind == "rtt_sample" and r.fields.get("source") == "cookie"
    ]
    assert len(cookie_samples) == 1


@pytest.mark.parametrize("endpoint", [False, True], ids=["bare", "endpoint"])
def test_cookies_off_checks_nothing(monkeypatch: pytest.MonkeyPatch, endpoint: bool) -> None:
    """``cookie_exchange=False``: the door admits the first ClientHello without a check."""
    checks = CountingChecks(monkeypatch)
    config = server_config(cookie_exchange=False)
    if endpoint:
        server = DtlsEndpoint(config)
        assert endpoint_handshake(server).state is ConnectionState.ESTABLISHED
        assert server.stats.hello_verify_requests == 0
    else:
        assert handshake(client_config(), config).server_outcome.completed is not None
    assert checks.calls == 0


# -- the encodings, byte for byte (the door's fast paths build them in place) -----------------


def test_cookie_is_the_truncated_hmac_of_stamp_address_and_fields() -> None:
    """A cookie is its 5-byte stamp and the first 15 bytes of HMAC-SHA256 under the secret
    over the stamp, the length-prefixed address and the bound fields (the secret's keyed
    HMAC is copied per cookie; the value is the plain HMAC's)."""
    import hmac

    secret = b"\x5a" * 32
    keys = CookieSecrets(secret)
    fields = b"fields"
    cookie = keys.make(ADDR, fields, NOW, record_sequence_number=0x1FF)
    stamp = (int(NOW * 1000) & 0xFFFFFFFF).to_bytes(4, "big") + b"\xff"
    address = b"192.0.2.1|4433"
    mac = hmac.digest(secret, stamp + len(address).to_bytes(2, "big") + address + fields, "sha256")
    assert cookie == stamp + mac[:15]
    assert keys.check(ADDR, cookie, fields, NOW, record_sequence_number=0x200).valid


@pytest.mark.parametrize("seq", [0, 5, (1 << 48) - 1])
@pytest.mark.parametrize("cookie_length", [0, 20, 255])
def test_hello_verify_request_datagram_layout(seq: int, cookie_length: int) -> None:
    """The HelloVerifyRequest datagram is one epoch-0 DTLS 1.0 record with message_seq 0,
    its body version and cookie<0..255> (C2, C3); a longer cookie does not fit."""
    from aiodtls.handshake.hello_verify import encode_hello_verify_request

    cookie = bytes(range(cookie_length))
    body = b"\xfe\xff" + bytes((cookie_length,)) + cookie
    fragment = encode_handshake_fragment(HandshakeType.hello_verify_request, 0, body)
    expected = encode_record_header(ContentType.handshake, DTLS1_0, 0, seq, len(fragment))
    assert encode_hello_verify_request(seq, cookie) == expected + fragment
    with pytest.raises(OverflowError):
        encode_hello_verify_request(seq, bytes(256))
