"""How a flight is cut into records and packed into datagrams (RFC 6347 §4.2.3, RFC 9147
§5.5): the flight's entries, the datagram plan of a whole flight, and (DTLS 1.3) the plan of
only the bytes no ACK covered, with the range arithmetic that needs.

It plans only: sealing, sending and retransmitting the plan is ``reliability.flight``'s, which
re-exports these names. Planning is deterministic, so a flight planned again at the same MTU is
cut into the same records (SPEC F4).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..record.header import MAX_PLAINTEXT_LENGTH, ContentType
from .fragments import HANDSHAKE_HEADER_LENGTH, encode_handshake_fragment, handshake_header

__all__ = [
    "FlightEntry",
    "MtuTooSmall",
    "Piece",
    "PlannedRecord",
    "covers",
    "gaps",
    "pieces_of",
    "plan_datagrams",
    "plan_unacknowledged",
]

# A fragment smaller than this is not worth a record of its own at the end of a datagram;
# the message starts in the next datagram instead.
_MIN_FRAGMENT = 32
_MAX_FRAGMENT = MAX_PLAINTEXT_LENGTH - HANDSHAKE_HEADER_LENGTH
# Module-level names: reading a member off an Enum class costs ~0.2 µs in CPython 3.11.
_HANDSHAKE = ContentType.handshake
_CHANGE_CIPHER_SPEC = ContentType.change_cipher_spec


@dataclass(slots=True)
class FlightEntry:
    """One message of a flight: a handshake message or a ChangeCipherSpec.

    Slotted and not frozen: the handshake builds one per message it sends, and the entries of
    a final flight stay with the connection while it lingers (dropping their ``encoded``).
    """

    content_type: int
    epoch: int
    msg_type: int = 0
    message_seq: int = 0
    body: bytes = b""
    encoded: bytes = b""
    """The whole message as one unfragmented record carries it (header, then body) when the
    handshake encoded it already for its transcript: the planner sends these bytes as they
    are. Empty: the planner builds them."""

    @property
    def is_change_cipher_spec(self) -> bool:
        """True for the ChangeCipherSpec entry."""
        return self.content_type == ContentType.change_cipher_spec


PlannedRecord = tuple[int, int, bytes]
"(epoch, content type, plaintext payload) of one record."

Piece = tuple[int, int, int]
"(message_seq, fragment_offset, fragment_length) of one handshake fragment sent (ACK mode)."


class MtuTooSmall(ValueError):
    """The MTU cannot carry even one byte of a handshake fragment."""


def plan_datagrams(
    entries: Sequence[FlightEntry],
    mtu: int,
    overhead: Callable[[int], int],
    *,
    coalesce: bool = False,
) -> list[list[PlannedRecord]]:
    """Cut ``entries`` into records and pack the records into datagrams of at most ``mtu``.

    ``overhead(epoch)`` is the record header plus protection expansion in that epoch. Each
    datagram holds as many whole records as fit; a message that does not fit the room left is
    fragmented, and the rest continues in the next datagram.

    ``coalesce`` (DTLS 1.3): a handshake fragment joins the datagram's last record when that
    record is a handshake record of the same epoch: "multiple handshake messages may be placed
    in the same record, provided that there is room and that they are part of the same flight"
    (RFC 6347 §4.2.3, kept by RFC 9147 §5.5), and the record's overhead (22 bytes with a
    unified header and an AEAD tag) is paid once. Key changes stay on record boundaries, as
    RFC 8446 §5.1 requires: only messages of one epoch share a record. (Written out with
    local names rather than a packing object: this runs for every flight sent.)
    """
    datagrams: list[list[PlannedRecord]] = []
    current: list[PlannedRecord] = []
    room = mtu
    joinable = -1  # the epoch of current[-1] when a handshake fragment may join it
    # A record's overhead in the entry's epoch, asked once per run of entries of one epoch
    # (a flight changes epoch at most once); no helper closures either.
    overhead_epoch, record_overhead = -1, 0
    for entry in entries:
        epoch = entry.epoch
        if epoch != overhead_epoch:
            overhead_epoch, record_overhead = epoch, overhead(epoch)
        if entry.content_type == _CHANGE_CIPHER_SPEC:
            need = record_overhead + 1
            if need > room:
                if current:
                    datagrams.append(current)
                current, room = [], mtu
            if need > room:
                raise MtuTooSmall(f"MTU {mtu} cannot carry a ChangeCipherSpec")
            current.append((epoch, _CHANGE_CIPHER_SPEC, b"\x01"))
            room -= need
            joinable = -1
            continue
        size = len(entry.body)
        if joinable == epoch:
            framing, in_record = HANDSHAKE_HEADER_LENGTH, _MAX_FRAGMENT - len(current[-1][2])
        else:
            framing, in_record = record_overhead + HANDSHAKE_HEADER_LENGTH, _MAX_FRAGMENT
        if size <= room - framing and size <= in_record:
            # The whole message fits the room left (the usual case): one record or the end of
            # one, the message as the handshake encoded it, or its header built here and the
            # body appended without slicing a copy of it.
            payload = entry.encoded or (
                handshake_header(entry.msg_type, size, entry.message_seq, 0, size) + entry.body
            )
            if joinable == epoch:
                current[-1] = (epoch, _HANDSHAKE, current[-1][2] + payload)
            else:
                current.append((epoch, _HANDSHAKE, payload))
            room -= framing + size
            if coalesce:
                joinable = epoch if len(current[-1][2]) < _MAX_FRAGMENT else -1
            continue
        offset = 0
        while True:
            if joinable == epoch:
                framing, in_record = HANDSHAKE_HEADER_LENGTH, _MAX_FRAGMENT - len(current[-1][2])
            else:
                framing, in_record = record_overhead + HANDSHAKE_HEADER_LENGTH, _MAX_FRAGMENT
            remaining = size - offset
            # A record carries at most 2^14 bytes (SPEC R5), whatever the MTU allows.
            length = min(remaining, room - framing, in_record)
            whole = length == remaining
            record_full = length == in_record < room - framing
            if whole or record_full or length >= _MIN_FRAGMENT or (not current and length > 0):
                # The fragment goes here: as a record of its own, or joining the last one.
                fragment = _fragment(entry, offset, length)
                if joinable == epoch:
                    current[-1] = (epoch, _HANDSHAKE, current[-1][2] + fragment)
                else:
                    current.append((epoch, _HANDSHAKE, fragment))
                room -= framing + length
                joinable = epoch if coalesce and len(current[-1][2]) < _MAX_FRAGMENT else -1
                offset += length
                if whole:
                    break
                if not record_full:  # (a full record ended: the rest starts a new one)
                    datagrams.append(current)
                    current, room, joinable = [], mtu, -1
                continue
            if not current:
                raise MtuTooSmall(f"MTU {mtu} cannot carry a handshake fragment")
            datagrams.append(current)  # too little room left: the next datagram
            current, room, joinable = [], mtu, -1
    if current:
        datagrams.append(current)
    return datagrams


def _fragment(entry: FlightEntry, offset: int, length: int) -> bytes:
    """Handshake header and body of ``entry.body[offset:offset + length]``."""
    return encode_handshake_fragment(entry.msg_type, entry.message_seq, entry.body, offset, length)


def pieces_of(payload: bytes) -> tuple[Piece, ...]:
    """The (message_seq, fragment_offset, fragment_length) of each handshake fragment of a
    planned record, read back from their 12-byte fragment headers (RFC 9147 §5.2)."""
    pieces = []
    position = 0
    while position < len(payload):
        length = int.from_bytes(payload[position + 9 : position + 12], "big")
        pieces.append(
            (
                int.from_bytes(payload[position + 4 : position + 6], "big"),
                int.from_bytes(payload[position + 6 : position + 9], "big"),
                length,
            )
        )
        position += HANDSHAKE_HEADER_LENGTH + length
    return tuple(pieces)


def gaps(size: int, acknowledged: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The (offset, length) ranges of a ``size``-byte message that no acknowledged fragment
    of ``acknowledged`` (offset, length) covers; an empty message is covered by any ACK of it."""
    if size == 0:
        return [] if acknowledged else [(0, 0)]
    gaps = []
    covered = 0
    for offset, length in sorted(acknowledged):
        if offset > covered:
            gaps.append((covered, offset - covered))
        covered = max(covered, offset + length)
    if covered < size:
        gaps.append((covered, size - covered))
    return gaps


def covers(acknowledged: list[tuple[int, int]], piece: Piece) -> bool:
    """Do the acknowledged (offset, length) fragments of a message cover ``piece`` (another
    record may have carried the same bytes)?"""
    _, start, length = piece
    if length == 0:
        return bool(acknowledged)
    end = start + length
    for offset, size in sorted(acknowledged):
        if offset > start:
            return False
        start = max(start, offset + size)
        if start >= end:
            return True
    return start >= end


def plan_unacknowledged(
    entries: Sequence[FlightEntry],
    acknowledged: dict[int, list[tuple[int, int]]],
    mtu: int,
    overhead: Callable[[int], int],
    *,
    coalesce: bool = False,
) -> list[list[PlannedRecord]]:
    """As :func:`plan_datagrams` (``coalesce`` too), for only the bytes of each handshake
    message that no ACK covered (``acknowledged``: message_seq -> the (offset, length)
    fragments ACKed): each missing range is cut anew to the room left, records packed into
    datagrams of at most ``mtu`` (RFC 9147 §5.5: retransmitted fragments may differ in size,
    never in bytes)."""
    datagrams: list[list[PlannedRecord]] = []
    current: list[PlannedRecord] = []
    room = mtu
    joinable = -1  # as in plan_datagrams
    for entry in entries:
        epoch = entry.epoch
        for start, missing in gaps(len(entry.body), acknowledged.get(entry.message_seq, [])):
            offset, end = start, start + missing
            while True:
                if joinable == epoch:
                    framing = HANDSHAKE_HEADER_LENGTH
                    in_record = _MAX_FRAGMENT - len(current[-1][2])
                else:
                    framing, in_record = overhead(epoch) + HANDSHAKE_HEADER_LENGTH, _MAX_FRAGMENT
                length = min(end - offset, room - framing, in_record)
                whole = length == end - offset
                if length < 0 or (not whole and length < _MIN_FRAGMENT):
                    # Too little room for a worthwhile fragment: the next datagram; in an
                    # empty one any fragment will do, if one fits at all.
                    if current:
                        datagrams.append(current)
                        current, room, joinable = [], mtu, -1
                        continue
                    if length <= 0:
                        raise MtuTooSmall(f"MTU {mtu} cannot carry a handshake fragment")
                fragment = _fragment(entry, offset, length)
                if joinable == epoch:
                    current[-1] = (epoch, _HANDSHAKE, current[-1][2] + fragment)
                else:
                    current.append((epoch, _HANDSHAKE, fragment))
                room -= framing + length
                joinable = epoch if coalesce and len(current[-1][2]) < _MAX_FRAGMENT else -1
                offset += length
                if whole:
                    break
    if current:
        datagrams.append(current)
    return datagrams
