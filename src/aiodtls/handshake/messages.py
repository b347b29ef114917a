"""Handshake message codecs (RFC 5246 §7.4, RFC 6347 §4.2, RFC 7627, RFC 8422, RFC 4279).

Codecs come in pairs, ``pull_x(buf) -> X`` and ``push_x(buf, x)``. A pull raises
``BufferReadError`` or an ``Alert`` on malformed input. The DTLS 12-byte handshake header is
here too; fragmentation and reassembly of it belong to ``reliability``.
"""

from __future__ import annotations

from enum import IntEnum

HANDSHAKE_HEADER_LENGTH = 12


class HandshakeType(IntEnum):
    """Handshake message types."""

    hello_request = 0
    client_hello = 1
    server_hello = 2
    hello_verify_request = 3
    new_session_ticket = 4
    certificate = 11
    server_key_exchange = 12
    certificate_request = 13
    server_hello_done = 14
    certificate_verify = 15
    client_key_exchange = 16
    finished = 20
