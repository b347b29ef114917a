"""The TLS presentation language on bytes (RFC 5246 §4): what every message codec is made of.

Owns the bounds-checked readers and the writers of length-prefixed vectors and uint lists,
which the codecs of both protocol versions are written with, and ``decode_message`` /
``encode_message``, which run a ``pull_x`` / ``push_x`` codec over a whole body through a
:class:`~aiodtls.buffer.Buffer`. It knows no message or extension: those are the siblings'.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import TypeVar

from ...buffer import Buffer, BufferReadError

__all__ = [
    "decode_message",
    "encode_message",
]

T = TypeVar("T")

# A decoder walks ``data`` with an offset ``pos`` and never reads at or beyond ``end`` (the end of
# the message or of the block being read): every helper checks its bytes are there first, since
# slicing past the end of ``bytes`` would silently return fewer.

_U16 = struct.Struct("!H")


def _check_room(pos: int, size: int, end: int) -> None:
    """Raise unless ``size`` bytes from ``pos`` fit before ``end``."""
    if pos + size > end:
        raise BufferReadError(f"need {size} bytes, {end - pos} left")


def _length(data: bytes, pos: int, size: int, end: int) -> int:
    """The big-endian length prefix of ``size`` (1, 2 or 3) bytes at ``pos``."""
    if pos + size > end:
        raise BufferReadError(f"need {size} bytes, {end - pos} left")
    if size == 1:
        return data[pos]
    if size == 2:
        return data[pos] << 8 | data[pos + 1]
    return int.from_bytes(data[pos : pos + size], "big")


def _opaque(data: bytes, pos: int, size: int, end: int) -> tuple[bytes, int]:
    """The vector ``opaque x<..>`` whose ``size``-byte length is at ``pos``, and the offset
    after it. (The length is read here rather than through ``_length``: this runs for
    nearly every field of every message.)"""
    start = pos + size
    if start > end:
        raise BufferReadError(f"need {size} bytes, {end - pos} left")
    if size == 1:
        stop = start + data[pos]
    elif size == 2:
        stop = start + (data[pos] << 8 | data[pos + 1])
    else:
        stop = start + int.from_bytes(data[pos:start], "big")
    if stop > end:
        raise BufferReadError(f"vector of {stop - start} bytes, {end - start} left")
    return data[start:stop], stop


def _uint16_list(data: bytes, min_items: int) -> list[int]:
    """The uint16 values of a list body (its length prefix already read)."""
    if len(data) % 2 or len(data) < 2 * min_items:
        raise BufferReadError("bad uint16 list length")
    return list(struct.unpack(f"!{len(data) // 2}H", data))


def _no_trailing_bytes(pos: int, end: int) -> None:
    """A whole body must be consumed exactly."""
    if pos != end:
        raise BufferReadError("trailing bytes")


def _vector(size: int, value: bytes) -> bytes:
    """``value`` behind its ``size``-byte length (OverflowError if it does not fit)."""
    return len(value).to_bytes(size, "big") + value


def _uint16_vector(values: Sequence[int]) -> bytes:
    """A uint16 list with its 2-byte length."""
    return _vector(2, struct.pack(f"!{len(values)}H", *values))


def _decode(body: bytes, pull: Callable[[Buffer], T]) -> T:
    buf = Buffer(body)
    value = pull(buf)
    if not buf.eof():
        raise BufferReadError("trailing bytes")
    return value


def _pull_uint16_list(buf: Buffer, min_items: int = 0) -> list[int]:
    return _uint16_list(buf.pull_opaque(2), min_items)


def _decode_opaque8(body: bytes) -> bytes:
    """A body that is exactly one opaque<0..255>."""
    end = len(body)
    value, pos = _opaque(body, 0, 1, end)
    _no_trailing_bytes(pos, end)
    return value


def _decode_opaque16(body: bytes) -> bytes:
    """A body that is exactly one opaque<0..2^16-1>."""
    end = len(body)
    value, pos = _opaque(body, 0, 2, end)
    _no_trailing_bytes(pos, end)
    return value


def decode_message(body: bytes, pull: Callable[[Buffer], T]) -> T:
    """Decode a whole message body with ``pull``; trailing bytes are a decode error."""
    return _decode(body, pull)


def encode_message(push: Callable[[Buffer, T], None], message: T) -> bytes:
    """Encode a message body with ``push``."""
    buf = Buffer()
    push(buf, message)
    return buf.data
