"""Session tickets: the DTLS 1.2 NewSessionTicket (RFC 5077 §3.3).

Owns its codec. DTLS 1.3's NewSessionTicket (RFC 8446 §4.6.1: nonce, age_add, extensions)
is a different message and belongs next to it; what a ticket holds and when one is accepted
is ``handshake.resumption``'s.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ...buffer import Buffer
from .vectors import _check_room, _no_trailing_bytes, _opaque, _vector

__all__ = [
    "NewSessionTicket",
    "decode_new_session_ticket",
    "encode_new_session_ticket",
    "pull_new_session_ticket",
    "push_new_session_ticket",
]

_U32 = struct.Struct("!I")


@dataclass
class NewSessionTicket:
    """NewSessionTicket (RFC 5077 §3.3): the ticket and how long the server says it lives."""

    ticket_lifetime_hint: int
    ticket: bytes


def decode_new_session_ticket(body: bytes) -> NewSessionTicket:
    """A NewSessionTicket body: lifetime hint (uint32), ticket<0..2^16-1>."""
    end = len(body)
    _check_room(0, 4, end)
    (lifetime,) = _U32.unpack_from(body)
    ticket, pos = _opaque(body, 4, 2, end)
    _no_trailing_bytes(pos, end)
    return NewSessionTicket(lifetime, ticket)


def encode_new_session_ticket(message: NewSessionTicket) -> bytes:
    """A NewSessionTicket body."""
    return message.ticket_lifetime_hint.to_bytes(4, "big") + _vector(2, message.ticket)


def pull_new_session_ticket(buf: Buffer) -> NewSessionTicket:
    """Read a NewSessionTicket body (the rest of ``buf``)."""
    return decode_new_session_ticket(buf.pull_bytes(buf.remaining()))


def push_new_session_ticket(buf: Buffer, message: NewSessionTicket) -> None:
    """Write a NewSessionTicket body."""
    buf.push_bytes(encode_new_session_ticket(message))
