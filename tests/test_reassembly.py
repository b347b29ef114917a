"""Tests for aiodtls.reliability.reassembly: rebuilding handshake messages from fragments.

Covers SPEC F1–F5 and the fragment attacks X1–X5: any order, overlap, duplication and
re-fragmentation; strict message_seq order; bounded window, sizes and buffers.
"""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiodtls.budget import BufferBudget
from aiodtls.drops import Drop, DropReason
from aiodtls.reliability.fragments import encode_handshake_fragment
from aiodtls.reliability.reassembly import (
    MESSAGE_COST,
    RANGE_COST,
    FragmentStatus,
    HandshakeMessage,
    Reassembler,
)

NEW = FragmentStatus.NEW
DUPLICATE = FragmentStatus.DUPLICATE
OLD = FragmentStatus.OLD

CLIENT_HELLO = 1
SERVER_HELLO = 2
CERTIFICATE = 11
SERVER_HELLO_DONE = 14
FINISHED = 20

BODY = bytes(i * 7 % 256 for i in range(300))


def add(
    reassembler: Reassembler,
    body: bytes,
    start: int,
    end: int,
    *,
    message_seq: int = 0,
    msg_type: int = CERTIFICATE,
    epoch: int = 0,
    record_sequence_number: int = 0,
) -> FragmentStatus | Drop:
    """Add ``body[start:end]`` as a fragment of a message of ``len(body)`` bytes."""
    return reassembler.add_fragment(
        msg_type,
        len(body),
        message_seq,
        start,
        body[start:end],
        epoch,
        record_sequence_number,
    )


def charge(data: int, ranges: int = 1, messages: int = 1) -> int:
    """What buffered messages are charged: their bytes plus the bookkeeping."""
    return data + ranges * RANGE_COST + messages * MESSAGE_COST


def pop_all(reassembler: Reassembler) -> list[HandshakeMessage]:
    """Every message ready now, in order."""
    out = []
    while (message := reassembler.pop_message()) is not None:
        out.append(message)
    return out


def cuts(length: int, size: int) -> list[tuple[int, int]]:
    """[start, end) ranges of ``size`` bytes covering ``length``."""
    return [(start, min(start + size, length)) for start in range(0, length, size)]


# -- whole messages and order (F1, F2, F4) ---------------------------------------------------


def test_whole_message_in_one_fragment() -> None:
    """An unfragmented message is released at once and frees its buffer."""
    reassembler = Reassembler()
    assert add(reassembler, BODY, 0, len(BODY), record_sequence_number=9) == NEW
    assert reassembler.buffered_bytes == charge(len(BODY))
    assert reassembler.pop_message() == HandshakeMessage(CERTIFICATE, 0, BODY, 0, 9)
    assert reassembler.pop_message() is None
    assert reassembler.buffered_bytes == 0
    assert reassembler.next_seq == 1


def test_empty_message_completes_on_its_only_fragment() -> None:
    """A zero-length message (ServerHelloDone) is complete with one empty fragment."""
    reassembler = Reassembler()
    assert reassembler.add_fragment(SERVER_HELLO_DONE, 0, 0, 0, b"", 0) == NEW
    assert reassembler.pop_message() == HandshakeMessage(SERVER_HELLO_DONE, 0, b"", 0)


@pytest.mark.parametrize("order", ["in_order", "reversed", "shuffled"])
def test_fragments_in_any_order(order: str) -> None:
    """The message appears only when the last missing byte arrives (F4)."""
    pieces = cuts(len(BODY), 37)
    if order == "reversed":
        pieces.reverse()
    elif order == "shuffled":
        random.Random(7).shuffle(pieces)
    reassembler = Reassembler()
    for i, (start, end) in enumerate(pieces):
        assert reassembler.pop_message() is None
        assert add(reassembler, BODY, start, end, record_sequence_number=i) == NEW
    message = reassembler.pop_message()
    assert message is not None
    assert message.body == BODY
    assert message.record_sequence_number == len(pieces) - 1
    assert reassembler.buffered_bytes == 0


def test_overlapping_fragments() -> None:
    """Overlaps are merged; only fragments that add bytes count as new (F4)."""
    reassembler = Reassembler()
    assert add(reassembler, BODY, 0, 100) == NEW
    assert add(reassembler, BODY, 50, 150) == NEW
    assert add(reassembler, BODY, 20, 140) == DUPLICATE
    assert add(reassembler, BODY, 140, 300) == NEW
    assert [m.body for m in pop_all(reassembler)] == [BODY]


def test_duplicate_fragments() -> None:
    """The same fragment twice is a duplicate and changes nothing (F4, X7)."""
    reassembler = Reassembler()
    assert add(reassembler, BODY, 0, 150) == NEW
    assert add(reassembler, BODY, 0, 150) == DUPLICATE
    assert add(reassembler, BODY, 10, 20) == DUPLICATE
    assert reassembler.missing() == {0: [(150, 300)]}
    assert add(reassembler, BODY, 150, 300) == NEW
    assert [m.body for m in pop_all(reassembler)] == [BODY]


def test_refragmented_retransmission_fills_the_holes() -> None:
    """A retransmission cut at other boundaries completes a partial message (F4)."""
    reassembler = Reassembler()
    for start, end in cuts(len(BODY), 100)[::2]:  # first transmission: every other piece
        add(reassembler, BODY, start, end)
    assert reassembler.missing() == {0: [(100, 200)]}
    for start, end in cuts(len(BODY), 70):  # retransmission with a smaller MTU
        add(reassembler, BODY, start, end)
    assert [m.body for m in pop_all(reassembler)] == [BODY]


def test_whole_copy_mixed_with_fragments() -> None:
    """A complete copy after some fragments completes the message; later pieces are old (F4)."""
    reassembler = Reassembler()
    add(reassembler, BODY, 0, 40)
    add(reassembler, BODY, 200, 260)
    assert add(reassembler, BODY, 0, len(BODY)) == NEW
    assert add(reassembler, BODY, 100, 160) == DUPLICATE
    assert [m.body for m in pop_all(reassembler)] == [BODY]
    assert add(reassembler, BODY, 260, 300) == OLD


def test_several_messages_released_strictly_in_order() -> None:
    """A later complete message waits for the earlier one (F2)."""
    reassembler = Reassembler()
    assert add(reassembler, b"hello", 0, 5, message_seq=1, msg_type=SERVER_HELLO) == NEW
    assert add(reassembler, b"", 0, 0, message_seq=2, msg_type=SERVER_HELLO_DONE) == NEW
    assert reassembler.pop_message() is None
    assert add(reassembler, BODY, 0, 150, message_seq=0) == NEW
    assert reassembler.pop_message() is None
    assert add(reassembler, BODY, 150, 300, message_seq=0) == NEW
    messages = pop_all(reassembler)
    assert [(m.message_seq, m.msg_type) for m in messages] == [
        (0, CERTIFICATE),
        (1, SERVER_HELLO),
        (2, SERVER_HELLO_DONE),
    ]
    assert reassembler.next_seq == 3
    assert reassembler.buffered_bytes == 0


def test_earlier_messages_are_old() -> None:
    """After delivery, any fragment of that message_seq or below is OLD (F2, T2)."""
    reassembler = Reassembler()
    reassembler.restart_at(3)
    assert add(reassembler, b"fin", 0, 3, message_seq=3, msg_type=FINISHED) == NEW
    pop_all(reassembler)
    for seq in (0, 2, 3):
        assert add(reassembler, b"fin", 0, 3, message_seq=seq, msg_type=FINISHED) == OLD
    assert reassembler.buffered_bytes == 0


# -- window and checks (F2, F3, X1, X2, X5) --------------------------------------------------


def test_window_accepts_next_plus_six_and_drops_next_plus_seven() -> None:
    """Messages up to next+6 are buffered; next+7 is dropped, not an error (F2)."""
    reassembler = Reassembler()
    reassembler.restart_at(2)
    assert add(reassembler, b"x", 0, 1, message_seq=2 + 6) == NEW
    dropped = add(reassembler, b"x", 0, 1, message_seq=2 + 7)
    assert dropped == Drop(DropReason.BEYOND_WINDOW, (9, 2))
    assert str(dropped) == "message_seq 9 beyond window (next 2)"
    assert isinstance(add(reassembler, b"x", 0, 1, message_seq=0xFFFF), Drop)
    assert reassembler.buffered_bytes == charge(1)


def test_type_mismatch_is_dropped() -> None:
    """A fragment whose msg_type differs from the first fragment's is dropped (F3)."""
    reassembler = Reassembler()
    add(reassembler, BODY, 0, 100, msg_type=CERTIFICATE)
    assert isinstance(add(reassembler, BODY, 100, 300, msg_type=SERVER_HELLO), Drop)
    assert reassembler.missing() == {0: [(100, 300)]}


def test_length_mismatch_is_dropped() -> None:
    """A fragment that claims another total length is dropped (F3)."""
    reassembler = Reassembler()
    add(reassembler, BODY, 0, 100)
    assert isinstance(reassembler.add_fragment(CERTIFICATE, 400, 0, 100, BODY[100:300], 0), Drop)
    assert reassembler.missing() == {0: [(100, 300)]}
    assert reassembler.buffered_bytes == charge(100)


def test_epoch_mismatch_is_dropped() -> None:
    """Fragments of one message must come in one epoch (X8)."""
    reassembler = Reassembler()
    add(reassembler, BODY, 0, 100, epoch=0)
    assert isinstance(add(reassembler, BODY, 100, 300, epoch=1), Drop)


def test_fragment_past_the_length_is_dropped_without_writing() -> None:
    """X1 (CVE-2014-0195): length 50 [0..15], then offset 40 + 100 bytes: refused, no write."""
    reassembler = Reassembler()
    body = bytes(range(50))
    assert reassembler.add_fragment(CLIENT_HELLO, 50, 0, 0, body[:16], 0) == NEW
    overflow = b"\xee" * 100
    assert isinstance(reassembler.add_fragment(CLIENT_HELLO, 50, 0, 40, overflow, 0), Drop)
    assert reassembler.buffered_bytes == charge(16)
    assert reassembler.missing() == {0: [(16, 50)]}
    assert reassembler.add_fragment(CLIENT_HELLO, 50, 0, 16, body[16:], 0) == NEW
    message = reassembler.pop_message()
    assert message is not None
    assert message.body == body  # no 0xEE byte anywhere


def test_fragment_past_the_length_allocates_nothing() -> None:
    """An overflowing first fragment does not create a buffer (X1)."""
    reassembler = Reassembler()
    assert isinstance(reassembler.add_fragment(CLIENT_HELLO, 10, 0, 5, bytes(6), 0), Drop)
    assert isinstance(reassembler.add_fragment(CLIENT_HELLO, 0, 0, 1, b"", 0), Drop)
    assert reassembler.buffered_bytes == 0
    assert reassembler.missing() == {}


def test_length_over_max_message_size_is_dropped() -> None:
    """A message longer than the configured maximum is never allocated (X2)."""
    reassembler = Reassembler(max_message_size=1000)
    assert isinstance(reassembler.add_fragment(CERTIFICATE, 1001, 0, 0, b"x", 0), Drop)
    assert reassembler.buffered_bytes == 0
    assert reassembler.add_fragment(CERTIFICATE, 1000, 0, 0, b"x", 0) == NEW
    assert reassembler.buffered_bytes == charge(1)  # what arrived, not what is declared


def test_length_bomb_is_capped() -> None:
    """X2: length 0xFFFFFF with 1-byte fragments on next..next+15 allocates nothing."""
    reassembler = Reassembler()
    for seq in range(16):
        assert isinstance(reassembler.add_fragment(CERTIFICATE, 0xFFFFFF, seq, 0, b"x", 0), Drop)
    assert reassembler.buffered_bytes == 0
    assert reassembler.missing() == {}


def test_buffered_bytes_are_capped() -> None:
    """Fragments are refused once the buffer cap would be exceeded (F5, X2)."""
    cap = charge(600) + charge(400)
    reassembler = Reassembler(max_message_size=600, max_buffered_bytes=cap)
    assert reassembler.add_fragment(CERTIFICATE, 600, 0, 0, b"x", 0) == NEW
    assert reassembler.add_fragment(CERTIFICATE, 600, 1, 0, bytes(400), 0) == NEW
    assert reassembler.buffered_bytes == charge(401, ranges=2, messages=2)
    assert reassembler.add_fragment(CERTIFICATE, 600, 0, 1, bytes(599), 0) == NEW
    dropped = reassembler.add_fragment(CERTIFICATE, 600, 1, 400, bytes(200), 0)
    assert dropped == Drop(DropReason.REASSEMBLY_BUFFER_FULL)
    assert isinstance(reassembler.add_fragment(SERVER_HELLO_DONE, 600, 2, 0, bytes(100), 0), Drop)
    assert pop_all(reassembler)[0].message_seq == 0
    assert reassembler.buffered_bytes == charge(400)
    assert reassembler.add_fragment(CERTIFICATE, 600, 1, 400, bytes(200), 0) == NEW


def test_declared_lengths_cost_nothing() -> None:
    """X2: four 1-byte fragments declaring 64 KiB each are charged what arrived."""
    reassembler = Reassembler(max_message_size=65535)
    for seq in range(4):
        assert reassembler.add_fragment(CERTIFICATE, 65535, seq, 0, b"x", 0) == NEW
    assert reassembler.buffered_bytes == charge(4, ranges=4, messages=4)


def test_tiny_fragments_are_charged_for_their_bookkeeping() -> None:
    """Disjoint 1-byte fragments cost RANGE_COST each, so the cap bounds their number."""
    cap = MESSAGE_COST + 10 * (1 + RANGE_COST)
    reassembler = Reassembler(max_buffered_bytes=cap)
    accepted = [
        reassembler.add_fragment(CERTIFICATE, 1000, 0, offset, b"x", 0)
        for offset in range(0, 40, 2)
    ]
    assert accepted.count(NEW) == 10
    assert reassembler.buffered_bytes == cap
    # Filling a gap merges two ranges and frees their bookkeeping.
    assert reassembler.add_fragment(CERTIFICATE, 1000, 0, 1, b"x", 0) == NEW
    assert reassembler.buffered_bytes == cap - RANGE_COST + 1


def test_a_shared_budget_bounds_many_reassemblers() -> None:
    """F5: the endpoint-wide cap holds across connections and is returned on release."""
    budget = BufferBudget(3 * charge(100))
    reassemblers = [Reassembler(budget=budget) for _ in range(5)]
    statuses = [r.add_fragment(CERTIFICATE, 200, 0, 0, bytes(100), 0) for r in reassemblers]
    full = Drop(DropReason.ENDPOINT_REASSEMBLY_BUFFER_FULL)
    assert statuses == [NEW, NEW, NEW, full, full]
    assert budget.used == 3 * charge(100)
    reassemblers[1].clear()
    assert reassemblers[0].add_fragment(CERTIFICATE, 200, 0, 100, bytes(100), 0) == NEW
    assert reassemblers[0].pop_message() is not None
    reassemblers[2].restart_at(1)
    assert budget.used == 0
    assert reassemblers[3].add_fragment(CERTIFICATE, 200, 0, 0, bytes(100), 0) == NEW


def test_zero_length_fragments_do_not_allocate() -> None:
    """X4: empty fragments of a non-empty message neither allocate nor record ranges."""
    reassembler = Reassembler()
    for offset in range(0, 1000, 10):
        status = reassembler.add_fragment(CERTIFICATE, 1000, 1, offset, b"", 0)
        assert status != NEW
    assert reassembler.buffered_bytes == 0
    assert reassembler.missing() == {}
    add(reassembler, BODY, 0, 10)
    for _ in range(5000):
        assert add(reassembler, BODY, 5, 5) != NEW
    assert reassembler.missing() == {0: [(10, 300)]}


def test_no_merge_across_message_seq() -> None:
    """X5: seq 0 len 100 [0..49] and seq 1 len 200 [50..199] stay separate."""
    reassembler = Reassembler()
    assert reassembler.add_fragment(CERTIFICATE, 100, 0, 0, bytes(50), 0) == NEW
    assert reassembler.add_fragment(CERTIFICATE, 200, 1, 50, bytes(150), 0) == NEW
    assert reassembler.pop_message() is None
    assert reassembler.missing() == {0: [(50, 100)], 1: [(0, 50)]}
    assert reassembler.buffered_bytes == charge(200, ranges=2, messages=2)


# -- housekeeping (F5, X3) -------------------------------------------------------------------


def test_clear_frees_everything() -> None:
    """X3: after clear() nothing is buffered and the next expected seq is unchanged."""
    reassembler = Reassembler()
    add(reassembler, BODY, 0, 100, message_seq=1)
    add(reassembler, BODY, 0, 100, message_seq=3)
    reassembler.clear()
    assert reassembler.buffered_bytes == 0
    assert reassembler.missing() == {}
    assert reassembler.next_seq == 0
    assert reassembler.pop_message() is None


def test_restart_at_forgets_and_moves_next_seq() -> None:
    """A new handshake restarts message_seq numbering (F1)."""
    reassembler = Reassembler()
    add(reassembler, BODY, 0, 100, message_seq=2)
    reassembler.restart_at(0)
    assert reassembler.buffered_bytes == 0
    assert add(reassembler, b"ch", 0, 2, msg_type=CLIENT_HELLO) == NEW
    assert [m.body for m in pop_all(reassembler)] == [b"ch"]


def test_missing_reports_holes_per_message() -> None:
    """missing() lists the byte ranges still absent, sorted by message_seq."""
    reassembler = Reassembler()
    add(reassembler, BODY, 10, 20, message_seq=2)
    add(reassembler, BODY, 50, 60, message_seq=2)
    add(reassembler, BODY, 0, 300, message_seq=1)
    add(reassembler, BODY, 280, 300, message_seq=0)
    assert reassembler.missing() == {
        0: [(0, 280)],
        1: [],
        2: [(0, 10), (20, 50), (60, 300)],
    }


def test_fragment_count_per_message_is_capped() -> None:
    """More disjoint ranges than max_ranges_per_message are refused (F5)."""
    reassembler = Reassembler(max_ranges_per_message=4)
    for offset in (0, 10, 20, 30):
        assert add(reassembler, BODY, offset, offset + 1) == NEW
    assert add(reassembler, BODY, 40, 41) == Drop(DropReason.TOO_MANY_FRAGMENTS)
    assert reassembler.missing()[0][-1] == (31, 300)  # byte 40 was not written


def test_whole_copy_completes_a_message_at_the_range_cap() -> None:
    """A fragment that merges ranges does not add work and should be accepted (F4, F5)."""
    reassembler = Reassembler(max_ranges_per_message=4)
    for offset in (0, 10, 20, 30):
        add(reassembler, BODY, offset, offset + 1)
    assert add(reassembler, BODY, 0, len(BODY)) == NEW
    assert [m.body for m in pop_all(reassembler)] == [BODY]


def test_repeated_empty_message_is_a_duplicate() -> None:
    """Every byte (none) of the empty message was already there (F4)."""
    reassembler = Reassembler()
    assert reassembler.add_fragment(SERVER_HELLO_DONE, 0, 1, 0, b"", 0) == NEW
    assert reassembler.add_fragment(SERVER_HELLO_DONE, 0, 1, 0, b"", 0) == DUPLICATE


# -- property: any fragmentation, duplication and order --------------------------------------


@st.composite
def fragmented_flights(
    draw: st.DrawFn,
) -> tuple[list[tuple[int, bytes]], list[tuple[int, int, int]]]:
    """Up to 7 messages and a shuffled list of (message index, start, end) fragments."""
    messages = draw(
        st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=200)), min_size=1, max_size=7)
    )
    fragments: list[tuple[int, int, int]] = []
    for index, (_, body) in enumerate(messages):
        # A covering cut, then random extra (overlapping, duplicate) pieces.
        points = draw(st.lists(st.integers(1, max(len(body) - 1, 1)), max_size=6))
        bounds = sorted({0, len(body), *(p for p in points if p < len(body))})
        fragments += [(index, s, e) for s, e in itertools.pairwise(bounds)]
        if not body:
            fragments.append((index, 0, 0))
        for _ in range(draw(st.integers(0, 3))):
            start = draw(st.integers(0, len(body)))
            end = draw(st.integers(start, len(body)))
            if end > start or not body:
                fragments.append((index, start, end))
    return messages, draw(st.permutations(fragments))


@given(fragmented_flights())
@settings(max_examples=150, deadline=None)
def test_any_fragmentation_yields_the_original_messages(
    flight: tuple[list[tuple[int, bytes]], list[tuple[int, int, int]]],
) -> None:
    """Random cuts, overlaps, duplicates and order give back exactly the messages (F4)."""
    messages, fragments = flight
    reassembler = Reassembler()
    delivered: list[HandshakeMessage] = []
    for index, start, end in fragments:
        msg_type, body = messages[index]
        status = reassembler.add_fragment(msg_type, len(body), index, start, body[start:end], 0)
        assert not isinstance(status, Drop), str(status)
        delivered += pop_all(reassembler)
        assert reassembler.buffered_bytes >= 0
    assert [(m.msg_type, m.message_seq, m.body) for m in delivered] == [
        (msg_type, index, body) for index, (msg_type, body) in enumerate(messages)
    ]
    assert reassembler.buffered_bytes == 0
    assert reassembler.missing() == {}
    assert reassembler.next_seq == len(messages)


# -- whole messages without buffering (take_whole) --------------------------------------------


def whole(msg_type: int, message_seq: int, body: bytes) -> bytes:
    """A handshake record's payload that is exactly one whole message."""
    return encode_handshake_fragment(msg_type, message_seq, body)


def test_take_whole_releases_the_expected_message_at_once() -> None:
    """A whole message at next_seq comes back as add_fragment + pop_message would give it,
    with nothing buffered (empty messages too)."""
    taken = Reassembler()
    assert taken.take_whole(whole(CERTIFICATE, 0, BODY), 0, 9) == HandshakeMessage(
        CERTIFICATE, 0, BODY, 0, 9
    )
    assert taken.take_whole(whole(SERVER_HELLO_DONE, 1, b""), 0, 10) == HandshakeMessage(
        SERVER_HELLO_DONE, 1, b"", 0, 10
    )
    assert (taken.next_seq, taken.buffered_bytes, taken.missing()) == (2, 0, {})
    # Old now: a repeat goes through add_fragment, which reports it.
    assert taken.take_whole(whole(CERTIFICATE, 0, BODY), 0, 11) is None
    assert add(taken, BODY, 0, len(BODY)) == OLD


def test_take_whole_reads_the_header_and_takes_only_one_whole_message() -> None:
    """The record payload's header decides: a fragment (offset or length short of the
    message), a length that disagrees with the bytes, or more than one message in the record
    is None, nothing changed; the message type comes from the header."""
    reassembler = Reassembler()
    header = encode_handshake_fragment
    not_whole = [
        header(CERTIFICATE, 0, BODY, 1, 10),  # not at offset 0
        header(CERTIFICATE, 0, BODY, 0, 10),  # the first 10 bytes of 300
        whole(CERTIFICATE, 0, BODY) + b"x",  # a byte after the message
        whole(CERTIFICATE, 0, BODY)[:-1],  # a byte short
        whole(SERVER_HELLO, 0, b"ab") + whole(CERTIFICATE, 1, b"cd"),  # two messages
    ]
    for payload in not_whole:
        assert reassembler.take_whole(payload, 0, 0) is None
        assert (reassembler.next_seq, reassembler.buffered_bytes) == (0, 0)
    assert reassembler.take_whole(whole(FINISHED, 0, BODY[:12]), 1, 5) == HandshakeMessage(
        FINISHED, 0, BODY[:12], 1, 5
    )
    message = reassembler.take_whole(bytearray(whole(FINISHED, 1, b"xy")), 1, 6)
    assert message is not None and type(message.body) is bytes  # whatever the buffer type
    # The transcript's form of the message is the record payload itself, as bytes.
    assert type(message.encoded) is bytes and message.encoded == whole(FINISHED, 1, b"xy")
    reassembled = Reassembler()
    add(reassembled, BODY, 0, 10)
    add(reassembled, BODY, 10, len(BODY))
    assert pop_all(reassembled)[0].encoded == b""  # the handshake encodes it (state._absorb)


def test_take_whole_after_the_last_message_seq_takes_nothing() -> None:
    """After message_seq 65535 (a ClientHello may restart reassembly there) no message can
    be the next one: a header whose length field would carry the overflowing bit of 65536 is
    not taken, and add_fragment reports it as old, as it always did."""
    reassembler = Reassembler()
    reassembler.restart_at(0xFFFF)
    assert reassembler.take_whole(whole(CLIENT_HELLO, 0xFFFF, b"ab"), 0, 0) is not None
    assert reassembler.next_seq == 0x10000
    forged = encode_handshake_fragment(CERTIFICATE, 0, b"cd", 0, 2)
    forged = forged[:1] + (3).to_bytes(3, "big") + forged[4:]  # length 3 = 2 | (65536 >> 16)
    assert reassembler.take_whole(forged, 0, 0) is None
    assert reassembler.add_fragment(CERTIFICATE, 3, 0, 0, b"cd", 0) == OLD


def test_take_whole_leaves_everything_else_to_add_fragment() -> None:
    """Another message_seq, a message partly buffered, or one that a limit would refuse or
    that would need an eviction: None, nothing changed, and add_fragment decides as before."""
    reassembler = Reassembler(max_message_size=len(BODY) - 1)
    assert (
        reassembler.take_whole(whole(CERTIFICATE, 1, BODY[:10]), 0, 0) is None
    )  # a future message
    assert reassembler.take_whole(whole(CERTIFICATE, 0, BODY), 0, 0) is None  # over the size limit
    assert add(reassembler, BODY[:100], 0, 50) == NEW
    assert reassembler.take_whole(whole(CERTIFICATE, 0, BODY[:100]), 0, 0) is None  # partly there
    assert (reassembler.next_seq, reassembler.buffered_bytes) == (0, charge(50))
    assert add(reassembler, BODY[:100], 0, 100) == NEW  # the whole copy completes it
    assert pop_all(reassembler) == [HandshakeMessage(CERTIFICATE, 0, BODY[:100], 0)]

    capped = Reassembler(max_buffered_bytes=charge(100) + charge(10))
    assert add(capped, BODY[:10], 0, 10, message_seq=1) == NEW  # a future message buffered
    assert capped.take_whole(whole(CERTIFICATE, 0, BODY[:101]), 0, 0) is None  # needs an eviction
    assert capped.buffered_bytes == charge(10)
    assert add(capped, BODY[:101], 0, 101) == NEW  # add_fragment evicts seq 1 for it
    assert capped.missing() == {0: []}  # seq 1 evicted; seq 0 complete, waiting to be popped
    assert capped.take_whole(whole(CERTIFICATE, 1, bytes(charge(100) + 1)), 0, 0) is None
    assert capped.next_seq == 0  # seq 0 is still to be popped

    budget = BufferBudget(charge(100))
    budget.take(1)
    shared = Reassembler(budget=budget)
    assert shared.take_whole(whole(CERTIFICATE, 0, BODY[:100]), 0, 0) is None  # the budget is short
    assert isinstance(add(shared, BODY[:100], 0, 100), Drop)
    assert budget.used == 1
    budget.give(1)
    assert shared.take_whole(whole(CERTIFICATE, 0, BODY[:100]), 0, 0) is not None
    assert budget.used == 0


@given(fragmented_flights())
@settings(max_examples=150, deadline=None)
def test_whole_messages_taken_directly_mix_with_fragments(
    flight: tuple[list[tuple[int, bytes]], list[tuple[int, int, int]]],
) -> None:
    """The connection's order: try take_whole for every whole fragment, else add_fragment;
    then pop what is ready. Same messages, same order, nothing left (F1, F4)."""
    messages, fragments = flight
    reassembler = Reassembler()
    delivered: list[HandshakeMessage] = []
    for index, start, end in fragments:
        msg_type, body = messages[index]
        taken = None
        if start == 0 and end == len(body):
            taken = reassembler.take_whole(whole(msg_type, index, body), 0, 0)
        if taken is not None:
            delivered.append(taken)
        else:
            status = reassembler.add_fragment(msg_type, len(body), index, start, body[start:end], 0)
            assert not isinstance(status, Drop), str(status)
        delivered += pop_all(reassembler)
    assert [(m.msg_type, m.message_seq, m.body) for m in delivered] == [
        (msg_type, index, body) for index, (msg_type, body) in enumerate(messages)
    ]
    assert (reassembler.buffered_bytes, reassembler.missing()) == (0, {})
    assert reassembler.next_seq == len(messages)


# -- the connection's "reassembly" trace --------------------------------------------------


@pytest.mark.parametrize("mtu", [1400, 300])
def test_reassembly_trace_names_what_is_missing_only(mtu: int) -> None:
    """After a datagram that added fragments, the connection traces the bytes still missing
    of the peer's messages, and nothing when every message arrived whole (the connection
    looks at ``buffered_bytes`` before the trace)."""
    from aiodtls import ConnectionState
    from aiodtls.trace import TraceRecord
    from pairs import client_config12, handshake, server_config12

    seen: list[TraceRecord] = []
    client = client_config12(mtu=mtu, trace=seen.append)
    pair = handshake(client, server_config12(mtu=mtu))
    assert pair.client.state == pair.server.state == ConnectionState.ESTABLISHED
    missing = [record.fields["missing"] for record in seen if record.kind == "reassembly"]
    if mtu == 1400:
        assert missing == []
    else:  # the certificate flight comes in pieces
        assert missing and all(holes for m in missing for holes in m.values())
