"""The DTLS handshake fragment header (RFC 6347 §4.2.2): codec shared by both directions.

Every handshake message travels behind this 12-byte header, whole or cut into fragments.
Fragmentation (``flight``) writes it, reassembly (``reassembly``) is driven by it, and the
handshake transcript hashes each message in its unfragmented form (SPEC F6).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..buffer import Buffer

__all__ = [
    "HANDSHAKE_HEADER_LENGTH",
    "HandshakeHeader",
    "encode_handshake_fragment",
    "pull_handshake_header",
]

HANDSHAKE_HEADER_LENGTH = 12
"Bytes of a DTLS handshake message header (type, length, message_seq, fragment offset/length)."


@dataclass(frozen=True)
class HandshakeHeader:
    """msg_type, length(24), message_seq(16), fragment_offset(24), fragment_length(24)."""

    msg_type: int
    length: int
    message_seq: int
    fragment_offset: int
    fragment_length: int


def pull_handshake_header(buf: Buffer) -> HandshakeHeader:
    """Read the 12-byte header."""
    return HandshakeHeader(
        msg_type=buf.pull_uint8(),
        length=buf.pull_uint24(),
        message_seq=buf.pull_uint16(),
        fragment_offset=buf.pull_uint24(),
        fragment_length=buf.pull_uint24(),
    )


def encode_handshake_fragment(
    msg_type: int, message_seq: int, body: bytes, offset: int = 0, length: int | None = None
) -> bytes:
    """One fragment: the header plus ``body[offset:offset + length]``.

    With the defaults this is the whole, unfragmented message, which is also the form the
    transcript hashes (RFC 6347 §4.2.6, SPEC F6).
    """
    if length is None:
        length = len(body) - offset
    return (
        bytes((msg_type,))
        + len(body).to_bytes(3, "big")
        + message_seq.to_bytes(2, "big")
        + offset.to_bytes(3, "big")
        + length.to_bytes(3, "big")
        + body[offset : offset + length]
    )
