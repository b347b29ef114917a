"""The DTLS handshake fragment header (RFC 6347 §4.2.2): codec shared by both directions.

Every handshake message travels behind this 12-byte header, whole or cut into fragments.
Fragmentation (``flight``) writes it, reassembly (``reassembly``) is driven by it, and the
handshake transcript hashes each message in its unfragmented form (SPEC F6).
"""

from __future__ import annotations

from typing import NamedTuple

from ..buffer import Buffer

__all__ = [
    "HANDSHAKE_HEADER_LENGTH",
    "MAX_MESSAGE_LENGTH",
    "HandshakeHeader",
    "encode_handshake_fragment",
    "handshake_header",
    "pull_handshake_header",
    "read_handshake_header",
]

HANDSHAKE_HEADER_LENGTH = 12
"Bytes of a DTLS handshake message header (type, length, message_seq, fragment offset/length)."

MAX_MESSAGE_LENGTH = 0xFFFFFF
"The longest handshake message body: its length is a 24-bit field."


class HandshakeHeader(NamedTuple):
    """msg_type, length(24), message_seq(16), fragment_offset(24), fragment_length(24).

    A named tuple rather than a frozen dataclass: one is built per received fragment, and a
    tuple is built in one step instead of one ``object.__setattr__`` per field.
    """

    msg_type: int
    length: int
    message_seq: int
    fragment_offset: int
    fragment_length: int


_new_tuple = tuple.__new__


def pull_handshake_header(buf: Buffer) -> HandshakeHeader:
    """Read the 12-byte header."""
    return read_handshake_header(buf.pull_bytes(HANDSHAKE_HEADER_LENGTH))


def read_handshake_header(data: bytes, offset: int = 0) -> HandshakeHeader:
    """The header in the 12 bytes of ``data`` at ``offset`` (the caller checked they are
    there): for a record's payload read in place, without a :class:`Buffer`."""
    # The 12 bytes read as one 96-bit integer and split: one read instead of five.
    value = int.from_bytes(data[offset : offset + HANDSHAKE_HEADER_LENGTH], "big")
    # Built as HandshakeHeader._make builds it (tuple.__new__ with the five fields): the
    # named tuple's own __new__ is a Python function, one more frame per fragment.
    return _new_tuple(
        HandshakeHeader,
        (
            value >> 88,
            (value >> 64) & 0xFFFFFF,
            (value >> 48) & 0xFFFF,
            (value >> 24) & 0xFFFFFF,
            value & 0xFFFFFF,
        ),
    )


def handshake_header(
    msg_type: int, length: int, message_seq: int, fragment_offset: int, fragment_length: int
) -> bytes:
    """The 12-byte header, built as one 96-bit integer (the layout ``pull_handshake_header``
    splits)."""
    if length > MAX_MESSAGE_LENGTH:
        raise OverflowError(f"a handshake message of {length} bytes exceeds 2^24 - 1")
    value = (
        msg_type << 88 | length << 64 | message_seq << 48 | fragment_offset << 24 | fragment_length
    )
    return value.to_bytes(HANDSHAKE_HEADER_LENGTH, "big")


def encode_handshake_fragment(
    msg_type: int, message_seq: int, body: bytes, offset: int = 0, length: int | None = None
) -> bytes:
    """One fragment: the header plus ``body[offset:offset + length]``.

    With the defaults this is the whole, unfragmented message, which is also the form the
    transcript hashes (RFC 6347 §4.2.6, SPEC F6).
    """
    if length is None:
        length = len(body) - offset
    header = handshake_header(msg_type, len(body), message_seq, offset, length)
    return header + body[offset : offset + length]
