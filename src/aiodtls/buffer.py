"""Byte buffer used by every codec: big-endian integers and length-prefixed blocks.

Owns only the mechanics of reading and writing wire bytes. It knows nothing about records or
messages; codecs in ``record`` and ``handshake`` build on it. A read past the end, or a block
whose declared length does not match what its reader consumed, raises :class:`BufferReadError`,
which the connection turns into a dropped record or a ``decode_error`` alert.
"""

from __future__ import annotations

import struct
from types import TracebackType

__all__ = ["Buffer", "BufferReadError"]


class BufferReadError(ValueError):
    """Raised when input is shorter than its encoding says, or a block has bytes left over."""


_UINT32 = struct.Struct("!I")


class Buffer:
    """A read cursor over received bytes, or an append-only writer (or both).

    Reading starts at offset 0 of ``data``; writing appends at the end.
    """

    __slots__ = ("_data", "_limit", "_pos")

    def __init__(self, data: bytes = b"") -> None:
        # A reader keeps the bytes it was given (no copy, and a slice of bytes is already
        # bytes, so ``pull_bytes`` copies once); a writer holds a bytearray (``_writer``).
        self._data: bytes | bytearray = bytes(data) if data else bytearray()
        self._pos = 0
        self._limit = len(self._data)

    # -- reading ---------------------------------------------------------------------------

    def eof(self) -> bool:
        """True when every byte up to the current read limit has been consumed."""
        return self._pos >= self._limit

    def remaining(self) -> int:
        """Bytes left to read before the current read limit."""
        return self._limit - self._pos

    def tell(self) -> int:
        """The read offset."""
        return self._pos

    def _take(self, n: int) -> int:
        """Advance past ``n`` bytes and return where they start."""
        start = self._pos
        if n < 0 or start + n > self._limit:
            raise BufferReadError(f"need {n} bytes, {self._limit - start} left")
        self._pos = start + n
        return start

    def pull_bytes(self, n: int) -> bytes:
        """Read exactly ``n`` bytes."""
        start = self._take(n)
        return bytes(self._data[start : start + n])

    def pull_uint8(self) -> int:
        """Read one byte."""
        return self._data[self._take(1)]

    def pull_uint16(self) -> int:
        """Read a big-endian 16-bit integer."""
        start = self._take(2)
        return self._data[start] << 8 | self._data[start + 1]

    def pull_uint24(self) -> int:
        """Read a big-endian 24-bit integer."""
        start = self._take(3)
        return int.from_bytes(self._data[start : start + 3], "big")

    def pull_uint32(self) -> int:
        """Read a big-endian 32-bit integer."""
        value: int = _UINT32.unpack_from(self._data, self._take(4))[0]
        return value

    def pull_uint48(self) -> int:
        """Read a big-endian 48-bit integer (DTLS record sequence numbers)."""
        start = self._take(6)
        return int.from_bytes(self._data[start : start + 6], "big")

    def _pull_length(self, length_size: int) -> int:
        """Read the length prefix of a vector or block (1, 2 or 3 bytes)."""
        if length_size == 1:
            return self._data[self._take(1)]
        if length_size == 2:
            start = self._take(2)
            return self._data[start] << 8 | self._data[start + 1]
        start = self._take(length_size)
        return int.from_bytes(self._data[start : start + length_size], "big")

    def pull_opaque(self, length_size: int) -> bytes:
        """Read a vector ``opaque x<0..2^(8*length_size)-1>``."""
        return self.pull_bytes(self._pull_length(length_size))

    def pull_block(self, length_size: int) -> _PullBlock:
        """Read a length-prefixed block; the body must consume it exactly.

        Use as ``with buf.pull_block(2) as length:``. Inside the ``with`` the read limit is
        the end of the block, so a reader cannot run past it into the next field.
        """
        n = self._pull_length(length_size)
        end = self._pos + n
        if end > self._limit:
            raise BufferReadError(f"block of {n} bytes, {self._limit - self._pos} left")
        return _PullBlock(self, n, end)

    # -- writing ---------------------------------------------------------------------------

    @property
    def data(self) -> bytes:
        """Everything written (and received) so far."""
        return bytes(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def _writer(self) -> bytearray:
        """The bytes as a growable bytearray (a reader that is written to becomes one)."""
        data = self._data
        if isinstance(data, bytes):
            data = self._data = bytearray(data)
        return data

    def push_bytes(self, value: bytes) -> None:
        """Append raw bytes."""
        self._writer().extend(value)

    def push_uint8(self, value: int) -> None:
        """Append one byte."""
        self._writer().append(value)

    def push_uint16(self, value: int) -> None:
        """Append a big-endian 16-bit integer."""
        self._writer().extend(value.to_bytes(2, "big"))

    def push_uint24(self, value: int) -> None:
        """Append a big-endian 24-bit integer."""
        self._writer().extend(value.to_bytes(3, "big"))

    def push_uint32(self, value: int) -> None:
        """Append a big-endian 32-bit integer."""
        self._writer().extend(value.to_bytes(4, "big"))

    def push_uint48(self, value: int) -> None:
        """Append a big-endian 48-bit integer."""
        self._writer().extend(value.to_bytes(6, "big"))

    def push_opaque(self, length_size: int, value: bytes) -> None:
        """Append a vector ``opaque x<0..2^(8*length_size)-1>``."""
        data = self._writer()
        data += len(value).to_bytes(length_size, "big")
        data += value

    def push_block(self, length_size: int) -> _PushBlock:
        """Write a length-prefixed block: ``with buf.push_block(2): ...``; the length is
        filled in when the block closes."""
        return _PushBlock(self._writer(), length_size)


class _PullBlock:
    """The ``with`` of :meth:`Buffer.pull_block`: narrows the read limit to the block and, on
    a normal exit, checks the block was consumed exactly.

    A small class rather than a ``@contextmanager`` generator: codecs open about a dozen
    blocks per handshake, and a generator-based context manager costs several times more.
    """

    __slots__ = ("_buf", "_end", "_length", "_outer")

    def __init__(self, buf: Buffer, length: int, end: int) -> None:
        self._buf = buf
        self._length = length
        self._end = end
        self._outer = buf._limit

    def __enter__(self) -> int:
        self._buf._limit = self._end
        return self._length

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        buf = self._buf
        buf._limit = self._outer
        if exc_type is None and buf._pos != self._end:
            raise BufferReadError(f"{self._end - buf._pos} bytes left over in block")


class _PushBlock:
    """The ``with`` of :meth:`Buffer.push_block`: reserves the length field on entry and
    fills it in on a normal exit (a class for the same reason as :class:`_PullBlock`)."""

    __slots__ = ("_data", "_length_size", "_start")

    def __init__(self, data: bytearray, length_size: int) -> None:
        self._data = data
        self._length_size = length_size
        self._start = len(data)

    def __enter__(self) -> None:
        self._data += bytes(self._length_size)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            return
        size, start = self._length_size, self._start
        n = len(self._data) - start - size
        if n >= 1 << (8 * size):
            raise ValueError(f"block of {n} bytes does not fit a {size}-byte length")
        self._data[start : start + size] = n.to_bytes(size, "big")
