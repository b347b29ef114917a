"""Tests for aiodtls.wire (the one keyless reader of datagrams) and aiodtls.drops (the one
drop report): the connection and the dissector frame every datagram alike (R4, X18)."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

import aiodtls.dissect
import aiodtls.record.header
from aiodtls import DtlsConnection, wire
from aiodtls.dissect import DtlsRecord, UnifiedRecord, dissect
from aiodtls.drops import AUTHENTICATION_FAILURES, Drop, DropReason
from aiodtls.handshake.cookie import ParsedClientHello, parse_client_hello
from aiodtls.wire import UNIFIED_FIRST_BYTES, RawRecord, split_datagram
from pairs import SERVER_ADDR, client_config

FRAMING = {DropReason.TRUNCATED_RECORD_HEADER, DropReason.RECORD_OVERRUNS_DATAGRAM}


@st.composite
def datagrams(draw: st.DrawFn) -> bytes:
    """Records with plausible headers (tls12_cid ones with CIDs of 0 to 6 bytes, unified
    headers, unknown types), lengths off by a little or a lot, and a cut anywhere."""
    parts = []
    for _ in range(draw(st.integers(0, 5))):
        first = draw(st.sampled_from([20, 21, 22, 23, 25, 0x2C, 0x3F, 99]))
        body = draw(st.binary(max_size=40))
        if first in UNIFIED_FIRST_BYTES:
            parts.append(bytes([first]) + draw(st.binary(max_size=8)) + body)
            continue
        length = max(0, len(body) + draw(st.sampled_from([0, 0, 1, -1, 100])))
        header = bytes([first]) + draw(st.sampled_from([b"\xfe\xfd", b"\xfe\xff"]))
        header += draw(st.binary(min_size=8, max_size=8))
        if first == 25:
            header += draw(st.binary(min_size=0, max_size=6))
        parts.append(header + length.to_bytes(2, "big") + body)
    data = b"".join(parts)
    return data[: draw(st.integers(0, len(data)))] if draw(st.booleans()) else data


def framed(items: list[RawRecord | Drop]) -> list[tuple[object, ...]]:
    """(offset, type, version, epoch, seq, length, cid) per record, (offset, reason) per drop."""
    out: list[tuple[object, ...]] = []
    offset = 0
    for item in items:
        if isinstance(item, Drop):
            out.append((item.offset, item.reason))
            break
        length = len(item.fragment)
        out.append(
            (offset, item.content_type, item.version, item.epoch, item.sequence_number, length)
            + ((item.cid,) if item.content_type == wire.TLS12_CID else (None,))
        )
        offset += wire.RECORD_HEADER_LENGTH + len(item.cid) + length
    return out


@given(st.one_of(datagrams(), st.binary(max_size=120)), st.integers(0, 6))
@settings(max_examples=500)
def test_dissector_frames_as_the_connection_does(data: bytes, cid_length: int) -> None:  # X18
    """Up to the first DTLS 1.3 unified header (which a DTLS 1.2 receiver does not frame),
    the dissector sees the records and the framing failure the connection sees."""
    observed: list[tuple[object, ...]] = []
    for item in dissect(data, cid_length=cid_length):
        if isinstance(item, Drop) and item.reason not in FRAMING:
            continue  # a finding inside a plaintext body: not framing
        if isinstance(item, UnifiedRecord | Drop) and data[item.offset] in UNIFIED_FIRST_BYTES:
            break
        if isinstance(item, DtlsRecord):
            observed.append(
                (
                    item.offset,
                    item.content_type,
                    item.version,
                    item.epoch,
                    item.sequence_number,
                    item.length,
                    item.connection_id,
                )
            )
        elif isinstance(item, Drop):
            observed.append((item.offset, item.reason))
    expected = framed(split_datagram(data, cid_length, 0, UNIFIED_FIRST_BYTES))
    assert observed == expected


def test_split_datagram_starts_and_pauses_where_told() -> None:
    record = wire.encode_record_header(22, wire.DTLS1_2, 0, 1, 2) + b"ab"
    unified = b"\x2c\x00\x01\x00"
    data = record + unified + record
    (last,) = split_datagram(data, 0, len(record) + len(unified))
    assert last == RawRecord(22, wire.DTLS1_2, 0, 1, b"ab")
    assert framed(split_datagram(data, 0, 0, UNIFIED_FIRST_BYTES)) == [
        (0, 22, wire.DTLS1_2, 0, 1, 2, None)
    ]
    # Without pausing, the connection frames it as a 13-byte header of an unknown type (which
    # the record layer then drops).
    second = split_datagram(data)[1]
    assert isinstance(second, RawRecord) and second.content_type == 0x2C


def test_old_import_paths_are_the_one_reader() -> None:
    assert aiodtls.record.header.split_datagram is wire.split_datagram
    assert aiodtls.record.header.RawRecord is wire.RawRecord
    assert aiodtls.dissect.Malformed is Drop
    assert aiodtls.dissect.UnifiedRecord is wire.UnifiedRecord


def test_drop_vocabulary_is_enumerated_and_readable() -> None:
    texts = [reason.value for reason in DropReason]
    assert len(texts) == len(set(texts)) == len(DropReason.__members__)  # no aliases
    for reason in DropReason:
        fields = [f for _, f, _, _ in string.Formatter().parse(reason.value) if f is not None]
        drop = Drop(reason, tuple(range(len(fields))))
        assert str(drop) == drop.text
        assert ("{" not in str(drop)) and (not fields or str(drop) != reason.value)
        assert drop.authentication_failed == (reason in AUTHENTICATION_FAILURES)
    assert str(Drop(DropReason.BAD_VERSION, (0xFEFF,))) == "bad record version 0xfeff"
    assert str(Drop(DropReason.TRUNCATED_RECORD_HEADER)) == "truncated record header"
    assert DropReason("bad record tag") is DropReason.BAD_TAG  # protection errors map by text


def test_client_hello_peek_matches_the_reader() -> None:
    """The endpoint's cheap routing peeks agree with the full reader on a real ClientHello,
    and turn away what the reader would not take (another epoch, another type, too short)."""
    client = DtlsConnection(configuration=client_config())
    client.connect(SERVER_ADDR, 0.0)
    [(hello, _addr)] = client.datagrams_to_send(0.0)
    assert isinstance(parse_client_hello(hello), ParsedClientHello)
    assert wire.starts_with_plain_client_hello(hello)
    assert wire.starts_in_epoch_zero(hello)
    epoch_one = hello[:3] + b"\x00\x01" + hello[5:]
    assert not wire.starts_in_epoch_zero(epoch_one)
    assert not wire.starts_with_plain_client_hello(epoch_one)
    not_a_hello = hello[:13] + b"\x02" + hello[14:]
    assert not wire.starts_with_plain_client_hello(not_a_hello)
    assert not isinstance(parse_client_hello(not_a_hello), ParsedClientHello)
    assert not wire.starts_with_plain_client_hello(hello[:25])
    assert not wire.starts_with_plain_client_hello(bytes([23]) + hello[1:])
