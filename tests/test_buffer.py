"""Tests for aiodtls.buffer: big-endian integers, opaque vectors and length-prefixed blocks."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiodtls.buffer import Buffer, BufferReadError


def test_integers_are_written_big_endian() -> None:
    """Each push_uintN appends exactly N/8 bytes, most significant first."""
    buf = Buffer()
    buf.push_uint8(0x01)
    buf.push_uint16(0x0203)
    buf.push_uint24(0x040506)
    buf.push_uint32(0x0708090A)
    buf.push_uint48(0x0B0C0D0E0F10)
    assert buf.data == bytes(range(1, 17))
    assert len(buf) == 16


def test_integers_read_back_in_order() -> None:
    """pull_uintN reads what push_uintN wrote and moves the cursor by N/8 bytes."""
    buf = Buffer(bytes(range(1, 17)))
    assert buf.pull_uint8() == 0x01
    assert buf.tell() == 1
    assert buf.pull_uint16() == 0x0203
    assert buf.pull_uint24() == 0x040506
    assert buf.pull_uint32() == 0x0708090A
    assert buf.pull_uint48() == 0x0B0C0D0E0F10
    assert buf.eof()
    assert buf.remaining() == 0


@given(
    st.integers(0, 0xFF),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, (1 << 48) - 1),
)
@settings(max_examples=100)
def test_integer_round_trip_property(a: int, b: int, c: int, d: int, e: int) -> None:
    """Any in-range value survives push then pull."""
    buf = Buffer()
    buf.push_uint8(a)
    buf.push_uint16(b)
    buf.push_uint24(c)
    buf.push_uint32(d)
    buf.push_uint48(e)
    reader = Buffer(buf.data)
    assert (
        reader.pull_uint8(),
        reader.pull_uint16(),
        reader.pull_uint24(),
        reader.pull_uint32(),
        reader.pull_uint48(),
    ) == (a, b, c, d, e)
    assert reader.eof()


@pytest.mark.parametrize(
    ("size", "method"),
    [
        (0, "pull_uint8"),
        (1, "pull_uint16"),
        (2, "pull_uint24"),
        (3, "pull_uint32"),
        (5, "pull_uint48"),
    ],
)
def test_short_integer_read_raises_without_moving(size: int, method: str) -> None:
    """Reading an integer with too few bytes left raises and leaves the cursor in place."""
    buf = Buffer(bytes(size))
    with pytest.raises(BufferReadError):
        getattr(buf, method)()
    assert buf.tell() == 0
    assert buf.remaining() == size


def test_pull_bytes_exact_and_past_end() -> None:
    """pull_bytes returns exactly n bytes; asking for more than is left raises."""
    buf = Buffer(b"abcdef")
    assert buf.pull_bytes(0) == b""
    assert buf.pull_bytes(4) == b"abcd"
    with pytest.raises(BufferReadError):
        buf.pull_bytes(3)
    assert buf.pull_bytes(2) == b"ef"
    assert buf.eof()


def test_pull_bytes_negative_length_raises() -> None:
    """A negative length is an error, never a slice from the end."""
    with pytest.raises(BufferReadError):
        Buffer(b"abc").pull_bytes(-1)


def test_buffer_read_error_is_a_value_error() -> None:
    """Callers catching ValueError also see decode errors."""
    assert issubclass(BufferReadError, ValueError)


@pytest.mark.parametrize("length_size", [1, 2, 3])
def test_opaque_round_trip(length_size: int) -> None:
    """push_opaque writes a length prefix of the given size; pull_opaque reads it back."""
    for value in (b"", b"x", bytes(range(200))):
        buf = Buffer()
        buf.push_opaque(length_size, value)
        assert buf.data[:length_size] == len(value).to_bytes(length_size, "big")
        reader = Buffer(buf.data)
        assert reader.pull_opaque(length_size) == value
        assert reader.eof()


def test_opaque_with_length_past_end_raises() -> None:
    """A vector whose declared length overruns the input is a decode error."""
    with pytest.raises(BufferReadError):
        Buffer(b"\x05abc").pull_opaque(1)
    with pytest.raises(BufferReadError):
        Buffer(b"\x00").pull_opaque(2)


def test_push_block_fills_in_the_length() -> None:
    """The length prefix of a block is the number of bytes written inside it."""
    buf = Buffer()
    with buf.push_block(2):
        buf.push_bytes(b"hello")
        with buf.push_block(1):
            buf.push_uint16(7)
    assert buf.data == b"\x00\x08hello\x02\x00\x07"


def test_push_block_empty() -> None:
    """An empty block is just a zero length."""
    buf = Buffer()
    with buf.push_block(3):
        pass
    assert buf.data == b"\x00\x00\x00"


def test_push_block_too_long_for_its_length_field_raises() -> None:
    """A block that cannot be described by its length prefix is refused."""
    buf = Buffer()
    with pytest.raises(ValueError), buf.push_block(1):
        buf.push_bytes(bytes(256))


def test_pull_block_yields_length_and_must_be_consumed_exactly() -> None:
    """The body of a pull_block consumes exactly the declared length."""
    buf = Buffer(b"\x00\x03abcZ")
    with buf.pull_block(2) as length:
        assert length == 3
        assert buf.pull_bytes(3) == b"abc"
    assert buf.pull_bytes(1) == b"Z"


def test_pull_block_with_bytes_left_over_raises() -> None:
    """A block whose reader stops early is a decode error."""
    buf = Buffer(b"\x03abcZ")
    with pytest.raises(BufferReadError), buf.pull_block(1):
        buf.pull_bytes(2)


def test_pull_block_limits_reads_to_the_block() -> None:
    """Inside a block a reader cannot run into the following field."""
    buf = Buffer(b"\x02abcd")
    with pytest.raises(BufferReadError), buf.pull_block(1):
        buf.pull_bytes(3)


def test_pull_block_limit_is_restored_after_an_error() -> None:
    """After a failed block the outer limit applies again."""
    buf = Buffer(b"\x02abcd")
    with pytest.raises(BufferReadError), buf.pull_block(1):
        buf.pull_bytes(3)
    assert buf.remaining() == 4
    assert buf.pull_bytes(4) == b"abcd"


def test_pull_block_remaining_and_eof_are_relative_to_the_block() -> None:
    """remaining() and eof() inside a block stop at its end."""
    buf = Buffer(b"\x02abcd")
    with buf.pull_block(1):
        assert buf.remaining() == 2
        buf.pull_bytes(2)
        assert buf.eof()
    assert not buf.eof()
    assert buf.remaining() == 2


def test_pull_block_longer_than_input_raises() -> None:
    """A block length that overruns the input is refused before the body runs."""
    buf = Buffer(b"\x00\x10abc")
    entered = False
    with pytest.raises(BufferReadError), buf.pull_block(2):
        entered = True
    assert not entered


def test_nested_blocks_cannot_exceed_the_outer_block() -> None:
    """An inner block that claims more than the outer block holds is refused."""
    buf = Buffer(b"\x02\x05abcdef")
    with pytest.raises(BufferReadError), buf.pull_block(1), buf.pull_block(1):
        pass


def test_nested_blocks_round_trip() -> None:
    """Nested blocks written with push_block read back with pull_block."""
    buf = Buffer()
    with buf.push_block(2):
        for item in (b"a", b"bc", b""):
            buf.push_opaque(1, item)
    reader = Buffer(buf.data)
    items = []
    with reader.pull_block(2):
        while not reader.eof():
            items.append(reader.pull_opaque(1))
    assert items == [b"a", b"bc", b""]
    assert reader.eof()


def test_reader_and_writer_share_the_data() -> None:
    """Writing appends after received bytes and the read limit stays where it was."""
    buf = Buffer(b"ab")
    buf.push_bytes(b"cd")
    assert buf.data == b"abcd"
    assert buf.pull_bytes(2) == b"ab"
    assert buf.eof()


def test_push_integer_out_of_range_raises() -> None:
    """A value that does not fit its field is never silently truncated."""
    with pytest.raises((ValueError, OverflowError)):
        Buffer().push_uint8(256)
    with pytest.raises((ValueError, OverflowError)):
        Buffer().push_uint16(1 << 16)
    with pytest.raises((ValueError, OverflowError)):
        Buffer().push_uint24(1 << 24)
    with pytest.raises((ValueError, OverflowError)):
        Buffer().push_uint48(1 << 48)


@given(st.binary(max_size=64), st.lists(st.sampled_from(["u8", "u16", "u24", "op1", "blk1"])))
@settings(max_examples=200)
def test_reads_on_arbitrary_bytes_only_raise_buffer_read_error(data: bytes, ops: list[str]) -> None:
    """Any sequence of reads over any input either succeeds or raises BufferReadError."""
    buf = Buffer(data)
    try:
        for op in ops:
            if op == "u8":
                buf.pull_uint8()
            elif op == "u16":
                buf.pull_uint16()
            elif op == "u24":
                buf.pull_uint24()
            elif op == "op1":
                buf.pull_opaque(1)
            else:
                with buf.pull_block(1) as n:
                    buf.pull_bytes(n)
    except BufferReadError:
        pass
    assert 0 <= buf.tell() <= len(data)
