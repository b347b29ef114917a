"""Tests for aiodtls.dissect: keyless decoding of hand-built DTLS datagrams.

Every datagram here is assembled byte by byte with struct, independent of the library's own
encoders, so a bug in a codec cannot hide the same bug in the dissector.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiodtls.dissect import (
    MAX_FRAMING_CHECKS,
    DtlsRecord,
    HandshakeFragment,
    UnframedCidRecord,
    UnifiedRecord,
    describe,
    dissect,
    handshake_fragments,
    handshake_type_name,
    summarize,
)
from aiodtls.drops import Drop, DropReason

CLIENT_HELLO = 1
SERVER_HELLO = 2
HELLO_VERIFY_REQUEST = 3
CERTIFICATE = 11
SERVER_HELLO_DONE = 14
CLIENT_KEY_EXCHANGE = 16

CCS = 20
ALERT = 21
HANDSHAKE = 22
APPLICATION_DATA = 23
TLS12_CID = 25


def record(
    content_type: int,
    body: bytes,
    *,
    epoch: int = 0,
    seq: int = 0,
    version: int = 0xFEFD,
    length: int | None = None,
) -> bytes:
    """A 13-byte-header record; ``length`` overrides the length field to forge bad ones."""
    return (
        struct.pack("!BHH", content_type, version, epoch)
        + seq.to_bytes(6, "big")
        + struct.pack("!H", len(body) if length is None else length)
        + body
    )


def cid_record(cid: bytes, body: bytes, *, epoch: int = 1, seq: int = 0) -> bytes:
    """An RFC 9146 tls12_cid record: the CID sits between sequence number and length."""
    return (
        struct.pack("!BHH", TLS12_CID, 0xFEFD, epoch)
        + seq.to_bytes(6, "big")
        + cid
        + struct.pack("!H", len(body))
        + body
    )


def fragment(
    msg_type: int,
    body: bytes,
    *,
    message_seq: int = 0,
    offset: int = 0,
    length: int | None = None,
    fragment_length: int | None = None,
) -> bytes:
    """A handshake fragment: 12-byte header + body; header fields can be forged."""
    return (
        bytes([msg_type])
        + (len(body) if length is None else length).to_bytes(3, "big")
        + struct.pack("!H", message_seq)
        + offset.to_bytes(3, "big")
        + (len(body) if fragment_length is None else fragment_length).to_bytes(3, "big")
        + body
    )


def client_hello_body(cookie: bytes = b"", session_id: bytes = b"") -> bytes:
    """client_version, random, session_id, cookie, one suite, null compression."""
    return (
        b"\xfe\xfd"
        + bytes(range(32))
        + bytes([len(session_id)])
        + session_id
        + bytes([len(cookie)])
        + cookie
        + b"\x00\x02\xc0\x2b"
        + b"\x01\x00"
    )


def hello_verify_body(cookie: bytes) -> bytes:
    return b"\xfe\xff" + bytes([len(cookie)]) + cookie


# ---------------------------------------------------------------------------- records


def test_empty_datagram() -> None:
    assert dissect(b"") == []
    assert summarize(b"") == "empty"


def test_whole_client_hello_without_cookie() -> None:
    body = client_hello_body()
    data = record(HANDSHAKE, fragment(CLIENT_HELLO, body), seq=0, version=0xFEFF)
    [rec] = dissect(data)
    assert isinstance(rec, DtlsRecord)
    assert (rec.content_type, rec.version, rec.epoch, rec.sequence_number) == (22, 0xFEFF, 0, 0)
    assert rec.length == 12 + len(body)
    assert rec.offset == 0 and rec.header_length == 13
    assert not rec.encrypted
    assert rec.content_type_name == "handshake"
    [frag] = rec.fragments
    assert frag == HandshakeFragment(
        offset=13,
        msg_type=CLIENT_HELLO,
        length=len(body),
        message_seq=0,
        fragment_offset=0,
        fragment_length=len(body),
        cookie_length=0,
    )
    assert frag.is_whole and frag.has_cookie is False and frag.name == "ClientHello"
    assert summarize(data) == f"HS ClientHello seq=0 [0+{len(body)}/{len(body)}] cookie=0"


def test_client_hello_with_cookie_and_session_id() -> None:  # C4: cookie visible to observers
    body = client_hello_body(cookie=b"c" * 20, session_id=b"s" * 32)
    data = record(HANDSHAKE, fragment(CLIENT_HELLO, body, message_seq=1), seq=1)
    [frag] = handshake_fragments(dissect(data))
    assert frag.cookie_length == 20 and frag.has_cookie is True
    n = len(body)
    assert summarize(data) == f"HS ClientHello seq=1 [0+{n}/{n}] cookie=20"


def test_hello_verify_request_cookie_lengths() -> None:  # C6: cookies of length 0 and 255
    for cookie in (b"", b"k" * 32, b"k" * 255):
        data = record(HANDSHAKE, fragment(HELLO_VERIFY_REQUEST, hello_verify_body(cookie)))
        items = dissect(data)
        assert not any(isinstance(item, Drop) for item in items)
        [frag] = handshake_fragments(items)
        assert frag.cookie_length == len(cookie)
        assert frag.has_cookie is None  # has_cookie speaks of ClientHellos only
        assert summarize(data).endswith(f"cookie={len(cookie)}")
        assert summarize(data).startswith("HS HelloVerifyRequest seq=0")


def test_several_fragments_in_one_record_and_several_records() -> None:  # F4
    server_hello = fragment(SERVER_HELLO, b"h" * 70, message_seq=1)
    cert_part = fragment(CERTIFICATE, b"c" * 400, message_seq=2, length=1000)
    done = fragment(SERVER_HELLO_DONE, b"", message_seq=3)
    data = record(HANDSHAKE, server_hello + cert_part, seq=1) + record(HANDSHAKE, done, seq=2)
    items = dissect(data)
    assert [type(item) for item in items] == [DtlsRecord, DtlsRecord]
    first, second = items
    assert isinstance(first, DtlsRecord) and isinstance(second, DtlsRecord)
    assert [f.name for f in first.fragments] == ["ServerHello", "Certificate"]
    assert first.fragments[1].offset == 13 + 12 + 70
    assert not first.fragments[1].is_whole
    assert second.offset == 13 + len(server_hello) + len(cert_part)
    assert second.fragments[0].length == 0 and second.fragments[0].is_whole
    assert [f.message_seq for f in handshake_fragments(items)] == [1, 2, 3]
    assert summarize(data) == (
        "HS ServerHello seq=1 [0+70/70], HS Certificate seq=2 [0+400/1000]"
        " | HS ServerHelloDone seq=3 [0+0/0]"
    )


def test_finished_flight_encrypted_records_are_opaque() -> None:
    cke = fragment(CLIENT_KEY_EXCHANGE, b"k" * 33, message_seq=2)
    # An encrypted record whose body happens to look like a handshake header stays opaque.
    finished = record(HANDSHAKE, fragment(20, b"f" * 12), epoch=1, seq=0)
    data = record(HANDSHAKE, cke, seq=3) + record(CCS, b"\x01", seq=4) + finished
    items = dissect(data)
    assert len(items) == 3
    enc = items[2]
    assert isinstance(enc, DtlsRecord)
    assert enc.encrypted and enc.fragments == () and enc.epoch == 1
    assert summarize(data) == "HS ClientKeyExchange seq=2 [0+33/33] | CCS | HS e1#0 enc 24B"


def test_epoch0_alert_application_data_and_unknown_type() -> None:
    data = (
        record(ALERT, b"\x02\x28", seq=5)
        + record(APPLICATION_DATA, b"hello", seq=6)  # R10: plaintext app data is visible
        + record(99, b"??", seq=7)
        + record(APPLICATION_DATA, b"x" * 30, epoch=1, seq=0)
        + record(ALERT, b"y" * 26, epoch=1, seq=1)
    )
    items = dissect(data)
    assert all(isinstance(item, DtlsRecord) for item in items)
    alert = items[0]
    assert isinstance(alert, DtlsRecord) and alert.alert == (2, 40)
    unknown = items[2]
    assert isinstance(unknown, DtlsRecord) and unknown.content_type_name == "type99"
    assert summarize(data) == (
        "Alert fatal handshake_failure | APP e0#6 5B | type99 e0#7 2B | APP e1#0 enc 30B"
        " | Alert e1#1 enc 26B"
    )


def test_warning_alert_and_unregistered_alert_names() -> None:
    data = record(ALERT, b"\x01\x00") + record(ALERT, b"\x07\xfe")
    assert summarize(data) == "Alert warning close_notify | Alert level7 alert_254"


def test_sequence_number_and_epoch_use_full_width() -> None:  # R1: epoch(16) seq(48)
    data = record(APPLICATION_DATA, b"z", epoch=0xFFFF, seq=(1 << 48) - 1)
    [rec] = dissect(data)
    assert isinstance(rec, DtlsRecord)
    assert rec.epoch == 0xFFFF and rec.sequence_number == (1 << 48) - 1


def test_tls12_cid_record() -> None:  # I2, I3: outer type 25, CID length not on the wire
    cid = bytes.fromhex("deadbeef")
    data = cid_record(cid, b"e" * 30, epoch=1, seq=5) + record(APPLICATION_DATA, b"a" * 3)
    items = dissect(data, cid_length=4)
    first, second = items
    assert isinstance(first, DtlsRecord) and isinstance(second, DtlsRecord)
    assert first.content_type == TLS12_CID and first.connection_id == cid
    assert first.header_length == 17 and first.length == 30 and first.encrypted
    assert first.content_type_name == "tls12_cid"
    assert second.offset == 17 + 30
    assert summarize(data, cid_length=4) == "CID[deadbeef] e1#5 enc 30B | APP e0#0 3B"


def test_tls12_cid_with_zero_length_cid() -> None:
    data = cid_record(b"", b"e" * 5, epoch=2, seq=1)
    [rec] = dissect(data)
    assert isinstance(rec, DtlsRecord) and rec.connection_id == b""
    assert summarize(data) == "CID[-] e2#1 enc 5B"


def test_unified_header_all_flags() -> None:  # V2: 0b001CSLEE
    cid = b"\xab\xcd"
    body = b"q" * 20
    first_byte = 0x20 | 0x10 | 0x08 | 0x04 | 0x02  # C, S (16-bit seq), L, epoch bits 2
    unified = bytes([first_byte]) + cid + struct.pack("!HH", 0x1234, len(body)) + body
    data = unified + record(ALERT, b"\x02\x0a")
    items = dissect(data, cid_length=2)
    rec, after = items
    assert isinstance(rec, UnifiedRecord) and isinstance(after, DtlsRecord)
    assert rec.cid_present and rec.connection_id == cid
    assert rec.sequence_number_bits == 16 and rec.sequence_number == 0x1234
    assert rec.length_present and rec.length == 20 and rec.epoch_bits == 2
    assert rec.header_length == 1 + 2 + 2 + 2
    assert after.offset == len(unified)
    assert summarize(data, cid_length=2) == (
        "DTLS13 enc e&3=2 sn*=1234 20B cid=abcd | Alert fatal unexpected_message"
    )


def test_unified_header_without_length_runs_to_datagram_end() -> None:  # V2
    first_byte = 0x20 | 0x03  # no C, 8-bit seq, no L, epoch bits 3
    data = bytes([first_byte, 0x7F]) + b"r" * 17
    [rec] = dissect(data, cid_length=8)  # C clear: the CID length is irrelevant
    assert isinstance(rec, UnifiedRecord)
    assert not rec.cid_present and rec.connection_id is None
    assert rec.sequence_number_bits == 8 and rec.sequence_number == 0x7F
    assert not rec.length_present and rec.length == 17 and rec.epoch_bits == 3
    assert describe(rec) == "DTLS13 enc e&3=3 sn*=7f 17B (no length)"


def test_unified_header_with_c_bit_and_zero_cid_length() -> None:
    data = bytes([0x20 | 0x10 | 0x04, 0x01, 0x00, 0x01, 0xEE])
    [rec] = dissect(data)
    assert isinstance(rec, UnifiedRecord) and rec.connection_id == b""
    assert describe(rec) == "DTLS13 enc e&3=0 sn*=01 1B cid=-"


def test_handshake_type_names() -> None:
    assert handshake_type_name(3) == "HelloVerifyRequest"
    assert handshake_type_name(14) == "ServerHelloDone"
    assert handshake_type_name(200) == "type200"


# ---------------------------------------------------------------------------- fragments


def test_first_fragment_of_client_hello_shows_cookie_when_long_enough() -> None:
    body = client_hello_body(cookie=b"c" * 16)
    head = body[:36]  # version, random, session_id length 0, cookie length byte
    data = record(HANDSHAKE, fragment(CLIENT_HELLO, head, length=len(body)))
    [frag] = handshake_fragments(dissect(data))
    assert frag.cookie_length == 16 and not frag.is_whole
    assert summarize(data) == f"HS ClientHello seq=0 [0+36/{len(body)}] cookie=16"


def test_short_first_fragment_and_later_fragments_hide_the_cookie() -> None:
    body = client_hello_body(cookie=b"c" * 16)
    head = fragment(CLIENT_HELLO, body[:30], length=len(body))
    tail = fragment(CLIENT_HELLO, body[30:], length=len(body), offset=30)
    items = dissect(record(HANDSHAKE, head) + record(HANDSHAKE, tail, seq=1))
    assert not any(isinstance(item, Drop) for item in items)
    assert [f.cookie_length for f in handshake_fragments(items)] == [None, None]
    assert [f.has_cookie for f in handshake_fragments(items)] == [None, None]


def test_partial_fragment_cookie_may_continue_in_next_fragment() -> None:
    body = client_hello_body(cookie=b"c" * 100)
    head = fragment(CLIENT_HELLO, body[:60], length=len(body))
    items = dissect(record(HANDSHAKE, head))
    assert not any(isinstance(item, Drop) for item in items)
    assert handshake_fragments(items)[0].cookie_length == 100


# ---------------------------------------------------------------------------- malformed


def reasons(data: bytes, cid_length: int | None = 0) -> list[str]:
    return [str(i) for i in dissect(data, cid_length=cid_length) if isinstance(i, Drop)]


def test_truncated_record_header() -> None:  # X18
    good = record(HANDSHAKE, fragment(SERVER_HELLO_DONE, b""))
    for cut in range(1, 13):
        assert dissect(good[:cut]) == [Drop(DropReason("truncated record header"), offset=0)]
    assert summarize(good[:5]) == "MALFORMED: truncated record header"


def test_record_length_overruns_datagram() -> None:  # X18, R4
    data = record(APPLICATION_DATA, b"x" * 10, epoch=1, length=11)
    assert dissect(data) == [Drop(DropReason("record length overruns datagram"), offset=0)]


def test_good_record_then_trailing_garbage() -> None:  # X18: the good record is kept
    good = record(HANDSHAKE, fragment(SERVER_HELLO_DONE, b"", message_seq=3))
    items = dissect(good + b"\x16\xfe\xfd\x00")
    assert isinstance(items[0], DtlsRecord)
    assert items[1] == Drop(DropReason("truncated record header"), offset=len(good))
    assert summarize(good + b"junk") == (
        "HS ServerHelloDone seq=3 [0+0/0] | MALFORMED: truncated record header"
    )


def test_record_level_problem_ends_the_datagram() -> None:  # R4: cannot frame what follows
    bad = record(APPLICATION_DATA, b"x" * 4, epoch=1, length=400)
    items = dissect(record(CCS, b"\x01") + bad + record(CCS, b"\x01"))
    assert len(items) == 2 and isinstance(items[1], Drop)


def test_zero_length_records() -> None:  # X18 length 0, F7
    assert reasons(record(HANDSHAKE, b"")) == ["empty handshake record"]
    # A zero-length encrypted record is opaque: not our call whether it decrypts.
    assert reasons(record(APPLICATION_DATA, b"", epoch=1)) == []


def test_truncated_handshake_header_then_next_record_still_dissected() -> None:  # F7
    data = record(HANDSHAKE, b"\x01\x00\x00\x05\x00") + record(CCS, b"\x01", seq=1)
    items = dissect(data)
    assert isinstance(items[0], DtlsRecord) and items[0].fragments == ()
    assert items[1] == Drop(DropReason("truncated handshake header"), offset=13)
    assert isinstance(items[2], DtlsRecord) and items[2].content_type == CCS
    assert summarize(data) == "HS e0#0 5B | MALFORMED: truncated handshake header | CCS"


def test_fragment_followed_by_short_remainder() -> None:
    data = record(HANDSHAKE, fragment(SERVER_HELLO_DONE, b"", message_seq=3) + b"\x0e\x00")
    items = dissect(data)
    assert isinstance(items[0], DtlsRecord) and len(items[0].fragments) == 1
    assert items[1] == Drop(DropReason("truncated handshake header"), offset=25)


def test_handshake_fragment_overruns_record() -> None:  # F3, X1
    body = fragment(CERTIFICATE, b"c" * 10, length=100, fragment_length=50)
    assert reasons(record(HANDSHAKE, body)) == ["handshake fragment overruns record"]


def test_fragment_past_message_length_is_reported_and_kept() -> None:  # F3, X1
    body = fragment(CERTIFICATE, b"c" * 60, length=100, offset=50)
    items = dissect(record(HANDSHAKE, body))
    assert reasons(record(HANDSHAKE, body)) == ["handshake fragment extends past message length"]
    [frag] = handshake_fragments(items)
    assert (frag.fragment_offset, frag.fragment_length, frag.length) == (50, 60, 100)


def test_alert_and_ccs_of_wrong_size() -> None:  # F7, X19, X10
    assert reasons(record(ALERT, b"\x02")) == ["alert record of 1 bytes, not 2"]
    assert reasons(record(ALERT, b"\x02\x28\x00\x00")) == ["alert record of 4 bytes, not 2"]
    assert reasons(record(CCS, b"\x02")) == ["change_cipher_spec body is not 0x01"]
    assert reasons(record(CCS, b"\x01\x01")) == ["change_cipher_spec body is not 0x01"]
    assert reasons(record(CCS, b"")) == ["change_cipher_spec body is not 0x01"]
    assert summarize(record(ALERT, b"\x02")) == (
        "Alert e0#0 1B | MALFORMED: alert record of 1 bytes, not 2"
    )
    # Encrypted alerts and CCS are opaque, whatever their size.
    assert reasons(record(ALERT, b"\x02", epoch=1) + record(CCS, b"", epoch=1)) == []


def test_malformed_hello_verify_requests() -> None:  # C6, X15, X17
    overrun = b"\xfe\xff\x20" + b"k" * 10  # says 32 bytes of cookie, has 10
    assert reasons(record(HANDSHAKE, fragment(HELLO_VERIFY_REQUEST, overrun))) == [
        "cookie overruns HelloVerifyRequest"
    ]
    trailing = hello_verify_body(b"k" * 4) + b"extra"
    assert reasons(record(HANDSHAKE, fragment(HELLO_VERIFY_REQUEST, trailing))) == [
        "trailing bytes after HelloVerifyRequest"
    ]
    # Too short to reach the cookie length byte: nothing to say about the cookie.
    items = dissect(record(HANDSHAKE, fragment(HELLO_VERIFY_REQUEST, b"\xfe\xff")))
    assert handshake_fragments(items)[0].cookie_length is None


def test_malformed_client_hellos() -> None:  # C9, X15: mbedTLS cookie_parsing cases
    long_sid = b"\xfe\xfd" + bytes(32) + b"\x21" + b"s" * 33 + b"\x00" + b"\x00\x02\xc0\x2b\x01\x00"
    assert reasons(record(HANDSHAKE, fragment(CLIENT_HELLO, long_sid))) == [
        "ClientHello session_id longer than 32 bytes"
    ]
    ends_early = b"\xfe\xfd" + bytes(32) + b"\x02" + b"ss"
    assert reasons(record(HANDSHAKE, fragment(CLIENT_HELLO, ends_early))) == [
        "ClientHello ends before its cookie"
    ]
    cookie_overrun = b"\xfe\xfd" + bytes(32) + b"\x00" + b"\x40" + b"c" * 8
    assert reasons(record(HANDSHAKE, fragment(CLIENT_HELLO, cookie_overrun))) == [
        "cookie overruns ClientHello"
    ]


def test_truncated_unified_headers() -> None:  # V2, X18
    cid_seq_len = 0x20 | 0x10 | 0x08 | 0x04
    assert reasons(bytes([cid_seq_len, 1, 2]), cid_length=4) == [
        "truncated unified header (connection ID)"
    ]
    assert reasons(bytes([cid_seq_len, 1, 2, 3, 4, 5]), cid_length=4) == [
        "truncated unified header (sequence number)"
    ]
    assert reasons(bytes([cid_seq_len, 1, 2, 3, 4, 5, 6, 7]), cid_length=4) == [
        "truncated unified header (length)"
    ]
    assert reasons(bytes([cid_seq_len, 1, 2, 3, 4, 5, 6, 0, 9, 0xAA]), cid_length=4) == [
        "record length overruns datagram"
    ]
    assert reasons(bytes([0x20])) == ["truncated unified header (sequence number)"]


# ---------------------------------------------------------------------------- properties


@pytest.mark.slow  # 2,000 examples (3 s): in the slow pass of .ci/run
@settings(max_examples=2000)
@given(st.binary(max_size=400), st.none() | st.integers(min_value=0, max_value=32))
def test_dissect_never_raises_on_arbitrary_bytes(
    data: bytes, cid_length: int | None
) -> None:  # X18
    items = dissect(data, cid_length=cid_length)
    summarize(data, cid_length=cid_length)
    offsets = [item.offset for item in items]
    assert offsets == sorted(offsets)
    assert all(0 <= offset < max(len(data), 1) for offset in offsets)
    # Only the last item can be a record-level failure: nothing after it can be framed.
    record_level = {"truncated record header", "record length overruns datagram"}
    for item in items[:-1]:
        assert not (isinstance(item, Drop) and item.reason in record_level)


@st.composite
def plaintext_records(draw: st.DrawFn) -> tuple[bytes, list[tuple[int, int, int, int]]]:
    """A datagram of well-formed epoch-0 handshake records and the fragments they carry."""
    data = b""
    expected: list[tuple[int, int, int, int]] = []
    for seq in range(draw(st.integers(min_value=1, max_value=4))):
        body = b""
        for _ in range(draw(st.integers(min_value=1, max_value=3))):
            msg_type = draw(st.sampled_from([SERVER_HELLO, CERTIFICATE, SERVER_HELLO_DONE]))
            message_seq = draw(st.integers(min_value=0, max_value=0xFFFF))
            payload = draw(st.binary(max_size=40))
            offset = draw(st.integers(min_value=0, max_value=100))
            length = offset + len(payload) + draw(st.integers(min_value=0, max_value=100))
            body += fragment(
                msg_type, payload, message_seq=message_seq, offset=offset, length=length
            )
            expected.append((msg_type, message_seq, offset, len(payload)))
        data += record(HANDSHAKE, body, seq=seq)
    return data, expected


@given(plaintext_records())
def test_well_formed_datagrams_round_trip(
    case: tuple[bytes, list[tuple[int, int, int, int]]],
) -> None:
    data, expected = case
    items = dissect(data)
    assert not any(isinstance(item, Drop) for item in items)
    seen = [
        (f.msg_type, f.message_seq, f.fragment_offset, f.fragment_length)
        for f in handshake_fragments(items)
    ]
    assert seen == expected


@given(plaintext_records(), st.data())
def test_truncated_datagrams_keep_whole_records(
    case: tuple[bytes, list[tuple[int, int, int, int]]], data_strategy: st.DataObject
) -> None:  # X18, R4: a cut datagram keeps the records before the cut
    data, _ = case
    cut = data_strategy.draw(st.integers(min_value=0, max_value=len(data)))
    whole = [item for item in dissect(data) if isinstance(item, DtlsRecord)]
    items = dissect(data[:cut])
    records = [item for item in items if isinstance(item, DtlsRecord)]
    complete = [r for r in whole if r.offset + r.header_length + r.length <= cut]
    assert records == complete
    if cut not in {0, *(r.offset + r.header_length + r.length for r in whole)}:
        assert isinstance(items[-1], Drop)


# ---------------------------------------------------------------------------- connection IDs
# RFC 9146, by hand: extension 54 is ``opaque cid<0..255>``; a tls12_cid record is
# type(1)=25 version(2) epoch(2) seq(6) cid(N) length(2), N known only from the hellos.

CONNECTION_ID = 54


def extensions_block(*extensions: tuple[int, bytes]) -> bytes:
    body = b"".join(struct.pack("!HH", t, len(data)) + data for t, data in extensions)
    return struct.pack("!H", len(body)) + body


def connection_id_extension(cid: bytes) -> tuple[int, bytes]:
    return CONNECTION_ID, bytes([len(cid)]) + cid


def server_hello_body(*extensions: tuple[int, bytes]) -> bytes:
    """server_version, random, empty session_id, suite, null compression, extensions."""
    return b"\xfe\xfd" + bytes(32) + b"\x00" + b"\xc0\x2b" + b"\x00" + extensions_block(*extensions)


def test_client_hello_connection_id_extension_is_named() -> None:  # I1
    body = client_hello_body() + extensions_block(connection_id_extension(b"\xab\x12"))
    data = record(HANDSHAKE, fragment(CLIENT_HELLO, body))
    [rec] = dissect(data)
    assert isinstance(rec, DtlsRecord)
    [frag] = rec.fragments
    assert frag.connection_id == b"\xab\x12"
    assert summarize(data).endswith("cookie=0 connection_id(54)=ab12")


def test_server_hello_zero_length_connection_id() -> None:  # I1: "I send CIDs but want none"
    data = record(
        HANDSHAKE, fragment(SERVER_HELLO, server_hello_body(connection_id_extension(b"")))
    )
    [rec] = dissect(data)
    assert isinstance(rec, DtlsRecord)
    assert rec.fragments[0].connection_id == b""
    assert summarize(data) == "HS ServerHello seq=0 [0+45/45] connection_id(54)=-"


def test_hello_without_extension_or_fragmented_shows_no_connection_id() -> None:
    data = record(HANDSHAKE, fragment(SERVER_HELLO, server_hello_body()))
    assert handshake_fragments(dissect(data))[0].connection_id is None
    body = client_hello_body() + extensions_block(connection_id_extension(b"\x01"))
    first = fragment(CLIENT_HELLO, body[:40], length=len(body))
    assert handshake_fragments(dissect(record(HANDSHAKE, first)))[0].connection_id is None


def test_malformed_connection_id_extension_is_reported() -> None:  # X15
    for bad in (b"", b"\x03ab", b"\x01ab"):  # empty; length past the end; bytes left over
        body = client_hello_body() + extensions_block((CONNECTION_ID, bad))
        items = dissect(record(HANDSHAKE, fragment(CLIENT_HELLO, body)))
        assert isinstance(items[0], DtlsRecord) and items[0].fragments[0].connection_id is None
        assert [str(i) for i in items if isinstance(i, Drop)] == [
            "connection_id extension is not one cid<0..255>"
        ]


def test_cid_record_with_known_length_is_split() -> None:  # I2, I3
    cid = bytes.fromhex("ab12cd34")
    data = cid_record(cid, b"x" * 29, epoch=1, seq=5)
    [rec] = dissect(data, cid_length=4)
    assert isinstance(rec, DtlsRecord) and rec.connection_id == cid
    assert not rec.cid_length_inferred
    assert describe(rec) == "CID[ab12cd34] e1#5 enc 29B"


def test_lone_cid_record_of_unknown_length_is_inferred() -> None:  # I3
    cid = bytes.fromhex("ab12cd34")
    data = cid_record(cid, bytes(range(40)), epoch=1, seq=5)
    [rec] = dissect(data, cid_length=None)
    assert isinstance(rec, DtlsRecord)
    assert rec.connection_id == cid and rec.length == 40 and rec.header_length == 17
    assert rec.cid_length_inferred
    assert describe(rec) == "CID[ab12cd34] e1#5 enc 40B (CID length inferred)"


def test_inferred_length_frames_the_records_after_it() -> None:  # I3
    cid = b"\x07" * 6
    data = (
        record(CCS, b"\x01", seq=3)
        + cid_record(cid, b"f" * 40, epoch=1, seq=0)
        + cid_record(cid, b"a" * 25, epoch=1, seq=1)
    )
    ccs, finished, app = dissect(data, cid_length=None)
    assert isinstance(ccs, DtlsRecord) and ccs.content_type == CCS
    assert isinstance(finished, DtlsRecord) and isinstance(app, DtlsRecord)
    assert finished.connection_id == cid and app.connection_id == cid
    assert (finished.length, app.length) == (40, 25)
    assert app.offset == 14 + 13 + 6 + 40


def test_cid_record_of_unknown_length_that_two_lengths_fit() -> None:
    # Forged so that two CID lengths frame it exactly: then none is claimed.
    header = struct.pack("!BHH", TLS12_CID, 0xFEFD, 1) + (9).to_bytes(6, "big")
    # N=1: cid=aa, length at +12 = 0x0004 -> 4 bytes follow -> total 13+1+4 = 18
    # N=3: cid=aa0004, length at +14 = 0x0002 -> 2 bytes follow -> total 13+3+2 = 18
    data = header + b"\xaa" + b"\x00\x04" + b"\x00\x02" + b"zz"
    [item] = dissect(data, cid_length=None)
    assert item == UnframedCidRecord(
        offset=0, version=0xFEFD, epoch=1, sequence_number=9, candidates=(1, 3)
    )
    assert item.encrypted
    assert describe(item) == "tls12_cid e1#9, CID length unknown (1 or 3 would fit)"
    assert [type(i) for i in dissect(data, cid_length=3)] == [DtlsRecord]


def test_cid_record_that_no_length_frames_is_unframed_not_garbage() -> None:
    data = record(CCS, b"\x01") + struct.pack("!BHH", TLS12_CID, 0xFEFD, 1) + b"\xff" * 30
    ccs, item = dissect(data, cid_length=None)
    assert isinstance(ccs, DtlsRecord)
    assert isinstance(item, UnframedCidRecord) and item.candidates == ()
    assert item.offset == 14 and item.sequence_number == 0xFFFFFFFFFFFF
    assert summarize(data, cid_length=None) == (
        "CCS | tls12_cid e1#281474976710655, CID length unknown (no length frames the datagram)"
    )
    assert reasons(data[:20], cid_length=None) == ["truncated record header"]


def test_inference_gives_up_after_max_framing_checks() -> None:  # X18: bounded work
    """A forged datagram of empty records lets every 13th CID length frame it: inference
    walks the rest for MAX_FRAMING_CHECKS lengths, then leaves the record unframed."""
    data = struct.pack("!BHH", TLS12_CID, 0xFEFD, 1) + bytes(6) + b"\x00\x05"
    data += record(APPLICATION_DATA, b"", epoch=1) * 114
    [item] = dissect(data, cid_length=None)
    assert isinstance(item, UnframedCidRecord)
    assert item.candidates == tuple(13 * n for n in range(1, MAX_FRAMING_CHECKS + 1))


def test_unknown_length_leaves_other_records_alone() -> None:
    data = record(APPLICATION_DATA, b"abc", epoch=1) + record(ALERT, b"\x01\x00")
    assert dissect(data, cid_length=None) == dissect(data)


@settings(max_examples=100)
@given(
    st.binary(min_size=1, max_size=20),
    st.lists(st.binary(max_size=120), min_size=1, max_size=3),
    st.integers(min_value=1, max_value=0xFFFF),
)
def test_inferred_length_never_contradicts_the_true_one(
    cid: bytes, bodies: list[bytes], epoch: int
) -> None:  # I3: inference picks the true length or says it cannot
    data = b"".join(cid_record(cid, body, epoch=epoch, seq=n) for n, body in enumerate(bodies))
    items = dissect(data, cid_length=None)
    if isinstance(items[0], UnframedCidRecord):
        assert len(cid) in items[0].candidates
    else:
        assert all(isinstance(i, DtlsRecord) and i.cid_length_inferred for i in items)
        assert [i.connection_id for i in items if isinstance(i, DtlsRecord)] == [cid] * len(bodies)
