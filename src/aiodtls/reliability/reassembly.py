"""Reassembly of incoming handshake fragments into whole messages (RFC 6347 §4.2.3).

Owns, per message_seq inside a bounded window, the message body being rebuilt and an interval
set of the bytes covered so far. Fragments may overlap, repeat, arrive in any order, be cut
differently on retransmission, or mix with a whole copy of the message (SPEC F1–F4, X5):
coverage is a set of byte ranges, so each retransmission only has to supply what is still
missing. Every size is checked before anything is copied (SPEC F3, X1), and every buffer has a
cap (SPEC F5, X2, X4). Messages are released strictly in message_seq order. The usual record,
exactly the whole message expected next, is taken as it is (:meth:`Reassembler.take_whole`
reads its handshake header): nothing buffered, and its bytes kept as the transcript's form.

It does not know what messages mean and does not decide what an old message implies; it
reports it and the connection decides (SPEC T2, T4). A refused fragment comes back as a
:class:`~aiodtls.drops.Drop`, the one drop report of the record layer and the wire reader too,
which the connection counts and traces.
"""

from __future__ import annotations

import bisect
import enum
from dataclasses import dataclass, field

from ..budget import BufferBudget
from ..drops import Drop, DropReason
from .fragments import HANDSHAKE_HEADER_LENGTH

__all__ = [
    "MESSAGE_COST",
    "RANGE_COST",
    "FragmentStatus",
    "HandshakeMessage",
    "Reassembler",
]


@dataclass(slots=True)
class HandshakeMessage:
    """A whole handshake message as received.

    Slotted and not frozen (nothing changes one): one is built per received message, and a
    frozen dataclass sets each field through ``object.__setattr__``, several times slower.
    """

    msg_type: int
    message_seq: int
    body: bytes
    epoch: int
    "The epoch of the records that carried it (the handshake checks it, SPEC X8, X9)."
    record_sequence_number: int = 0
    "Record sequence number of the fragment that completed it (for the HVR, SPEC C3)."
    encoded: bytes = field(default=b"", compare=False, repr=False)
    """The message as the DTLS 1.2 transcript holds it (header and body, unfragmented, RFC
    6347 §4.2.6) when it arrived so, whole in one record: those very bytes
    (:meth:`Reassembler.take_whole`). Empty for a reassembled message, whose form the
    handshake encodes."""


class FragmentStatus(enum.Enum):
    """What a fragment did to the reassembly state."""

    NEW = "new"
    "It added bytes (or completed a message)."
    DUPLICATE = "duplicate"
    "Every byte was already there."
    OLD = "old"
    "It belongs to a message already delivered: the peer is repeating a flight."


RANGE_COST = 64
"""Bytes charged against the buffer caps for each disjoint byte range a message holds, on top
of its data: the bookkeeping of a fragment, so that a flood of tiny fragments is charged what
it costs."""
MESSAGE_COST = 128
"Bytes charged for each message being rebuilt, on top of its ranges."
_MAX_MESSAGE_SEQ = 0xFFFF
_BELOW_MSG_TYPE = (1 << 88) - 1
"The bits of a handshake header read as one number below its msg_type."


@dataclass(slots=True)
class _PartialMessage:
    """A message being rebuilt: the byte ranges received so far, each with its data.

    Memory follows what arrived, never the length the fragments declare (SPEC X2): a range is
    one ``bytearray`` that grows as adjacent fragments arrive.
    """

    msg_type: int
    length: int
    epoch: int
    starts: list[int] = field(default_factory=list)  # disjoint covered ranges, sorted
    ends: list[int] = field(default_factory=list)
    chunks: list[bytearray] = field(default_factory=list)  # the data of each range
    covered: int = 0
    charged: int = 0
    record_sequence_number: int = 0

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Indexes [i, j) of the ranges that touch or overlap [start, end)."""
        return bisect.bisect_left(self.ends, start), bisect.bisect_right(self.starts, end)

    def cost_of(self, i: int, j: int, start: int, end: int) -> int:
        """What adding [start, end) (touching ranges [i, j)) adds to the charge."""
        if i == j:
            return end - start + RANGE_COST
        new = max(end, self.ends[j - 1]) - min(start, self.starts[i])
        already = sum(self.ends[k] - self.starts[k] for k in range(i, j))
        return new - already - RANGE_COST * (j - i - 1)

    def add(self, i: int, j: int, offset: int, data: bytes) -> None:
        """Copy ``data`` at ``offset``, merging the touching ranges [i, j) into one."""
        start, end = offset, offset + len(data)
        if i == j:
            self.starts.insert(i, start)
            self.ends.insert(i, end)
            self.chunks.insert(i, bytearray(data))
            self.covered += end - start
            return
        last_start, last_end = self.starts[j - 1], self.ends[j - 1]
        suffix = self.chunks[j - 1][end - last_start :] if last_end > end else b""
        first_start = self.starts[i]
        if first_start < start:
            merged = self.chunks[i]  # grows in place: in-order fragments copy only themselves
            del merged[start - first_start :]
            merged += data
        else:
            merged = bytearray(data)
        merged += suffix
        new_start, new_end = min(start, first_start), max(end, last_end)
        self.covered += (new_end - new_start) - sum(
            self.ends[k] - self.starts[k] for k in range(i, j)
        )
        self.starts[i:j] = [new_start]
        self.ends[i:j] = [new_end]
        self.chunks[i:j] = [merged]

    def body(self) -> bytes:
        """The whole message (only once every byte is covered)."""
        return bytes(self.chunks[0]) if self.chunks else b""

    def missing(self) -> list[tuple[int, int]]:
        """Byte ranges not yet received."""
        holes = []
        pos = 0
        for s, e in zip(self.starts, self.ends, strict=True):
            if s > pos:
                holes.append((pos, s))
            pos = e
        if pos < self.length:
            holes.append((pos, self.length))
        return holes


class Reassembler:
    """Rebuilds the peer's handshake messages and releases them in order.

    ``buffered_bytes`` (read-only outside) is what the buffered messages are charged: the
    bytes received plus ``RANGE_COST`` per disjoint range and ``MESSAGE_COST`` per message;
    zero exactly when nothing is buffered. It never exceeds ``max_buffered_bytes``, nor may
    it push a shared ``budget`` past its limit. A plain attribute, not a property: the
    connection reads it after every message to know whether :meth:`pop_message` can have
    one.
    """

    __slots__ = (
        "_budget",
        "_max_buffered_bytes",
        "_max_message_size",
        "_max_ranges",
        "_partial",
        "_window",
        "buffered_bytes",
        "next_seq",
    )

    def __init__(
        self,
        *,
        max_message_size: int = 65536,
        max_buffered_bytes: int = 262144,
        window: int = 7,
        max_ranges_per_message: int = 1024,
        budget: BufferBudget | None = None,
    ) -> None:
        self.next_seq = 0
        "The message_seq of the next message to release."
        self._max_message_size = max_message_size
        self._max_buffered_bytes = max_buffered_bytes
        self._window = window
        self._max_ranges = max_ranges_per_message
        self._budget = budget
        self._partial: dict[int, _PartialMessage] = {}
        self.buffered_bytes = 0
        "Bytes charged for messages not yet released."

    def restart_at(self, message_seq: int) -> None:
        """Forget everything and expect ``message_seq`` next (a new handshake)."""
        self.clear()
        self.next_seq = message_seq

    def add_fragment(
        self,
        msg_type: int,
        length: int,
        message_seq: int,
        fragment_offset: int,
        fragment: bytes,
        epoch: int,
        record_sequence_number: int = 0,
    ) -> FragmentStatus | Drop:
        """Take one fragment (its header fields and bytes): what it did, or why it was
        refused."""
        if message_seq < self.next_seq:
            return FragmentStatus.OLD
        if message_seq >= self.next_seq + self._window:
            return Drop(DropReason.BEYOND_WINDOW, (message_seq, self.next_seq))
        # SPEC F3: check every bound before copying anything.
        end = fragment_offset + len(fragment)
        if end > length:
            return Drop(DropReason.FRAGMENT_PAST_MESSAGE_LENGTH)
        if length > self._max_message_size:
            return Drop(DropReason.MESSAGE_TOO_LONG, (length,))
        if not fragment and length:
            return FragmentStatus.DUPLICATE  # zero-length fragment: nothing to keep (X4)
        partial = self._partial.get(message_seq)
        if partial is None:
            partial = _PartialMessage(msg_type, length, epoch)
            cost = MESSAGE_COST
        elif partial.msg_type != msg_type or partial.length != length:
            return Drop(DropReason.FRAGMENT_DISAGREES)
        elif partial.epoch != epoch:
            return Drop(DropReason.FRAGMENT_EPOCHS_DIFFER)
        elif not length:
            return FragmentStatus.DUPLICATE  # a repeated empty message (e.g. ServerHelloDone)
        else:
            cost = 0
        if length:
            i, j = partial.span(fragment_offset, end)
            if i < j and partial.starts[i] <= fragment_offset and end <= partial.ends[i]:
                return FragmentStatus.DUPLICATE  # every byte is already there
            # A fragment that merges ranges (a whole copy, say) is always welcome (SPEC F4).
            if len(partial.starts) - (j - i) + 1 > self._max_ranges:
                return Drop(DropReason.TOO_MANY_FRAGMENTS)
            cost += partial.cost_of(i, j, fragment_offset, end)
        if message_seq == self.next_seq:
            # The message we wait for always gets room: future messages make way for it, so
            # forged future fragments cannot block the handshake by filling the buffer.
            self._make_room(cost)
        refused = self._charge(cost)
        if refused is not None:
            return refused
        if message_seq not in self._partial:
            self._partial[message_seq] = partial
        partial.charged += cost
        if length:
            partial.add(i, j, fragment_offset, fragment)
        partial.record_sequence_number = record_sequence_number
        return FragmentStatus.NEW

    def take_whole(
        self, payload: bytes | bytearray, epoch: int, record_sequence_number: int
    ) -> HandshakeMessage | None:
        """The common case without buffering: a handshake record's ``payload`` (at least
        the 12-byte header, which this reads) is exactly one whole message (one fragment at
        offset 0 with all of its bytes) whose message_seq is the one expected next, with
        nothing buffered for it. Returns the message, already released (``next_seq`` moves
        on), as :meth:`add_fragment` followed by :meth:`pop_message` would have.

        Returns None, and changes nothing, when the record needs the general path: other
        fragments or messages in it, another message_seq, parts of this message already
        buffered, or a message that the size limit or the buffer caps (before any eviction)
        would not let through at once. A HelloVerifyRequest, answered outside the sequence,
        is the caller's to keep from here.
        """
        length = len(payload) - HANDSHAKE_HEADER_LENGTH
        next_seq = self.next_seq
        # The header (reliability.fragments) as one 96-bit number: msg_type(8) length(24)
        # message_seq(16) fragment_offset(24) fragment_length(24). Below the type, a whole
        # next message reads as exactly this value: one comparison for the four fields (for
        # a message_seq that fits its 16 bits: after 65535 no message can be the next one).
        value = int.from_bytes(payload[:HANDSHAKE_HEADER_LENGTH], "big")
        if value & _BELOW_MSG_TYPE != (length << 64 | next_seq << 48 | length) or (
            next_seq > _MAX_MESSAGE_SEQ
        ):
            return None
        if length > self._max_message_size or next_seq in self._partial:
            return None
        # What add_fragment would charge it: it must fit both caps as they stand.
        cost = MESSAGE_COST + length + RANGE_COST if length else MESSAGE_COST
        if self.buffered_bytes + cost > self._max_buffered_bytes:
            return None
        budget = self._budget
        if budget is not None and budget.used + cost > budget.limit:
            return None
        self.next_seq = next_seq + 1
        # bytes(): a message is bytes whatever buffer type the datagram came in (it copies
        # no bytes again). The payload is the message's unfragmented form: kept as such.
        encoded = bytes(payload)
        return HandshakeMessage(
            value >> 88,
            next_seq,
            encoded[HANDSHAKE_HEADER_LENGTH:],
            epoch,
            record_sequence_number,
            encoded,
        )

    def _charge(self, cost: int) -> Drop | None:
        """Reserve ``cost`` bytes (negative: give some back) under both caps; the drop if a
        cap has no room."""
        if cost > 0:
            if self.buffered_bytes + cost > self._max_buffered_bytes:
                return Drop(DropReason.REASSEMBLY_BUFFER_FULL)
            if self._budget is not None and not self._budget.take(cost):
                return Drop(DropReason.ENDPOINT_REASSEMBLY_BUFFER_FULL)
        elif self._budget is not None:
            self._budget.give(-cost)
        self.buffered_bytes += cost
        return None

    def _make_room(self, cost: int) -> None:
        """Evict buffered future messages, the farthest first, until ``cost`` fits."""
        for seq in sorted(self._partial, reverse=True):
            fits_here = self.buffered_bytes + cost <= self._max_buffered_bytes
            fits_budget = self._budget is None or self._budget.used + cost <= self._budget.limit
            if (fits_here and fits_budget) or seq <= self.next_seq:
                return
            self._release(self._partial.pop(seq))

    def _release(self, partial: _PartialMessage) -> None:
        self.buffered_bytes -= partial.charged
        if self._budget is not None:
            self._budget.give(partial.charged)

    def pop_message(self) -> HandshakeMessage | None:
        """The next message in order if it is complete, else None."""
        partial = self._partial.get(self.next_seq)
        if partial is None or partial.covered != partial.length:
            return None
        del self._partial[self.next_seq]
        self._release(partial)
        message = HandshakeMessage(
            partial.msg_type,
            self.next_seq,
            partial.body(),
            partial.epoch,
            partial.record_sequence_number,
        )
        self.next_seq += 1
        return message

    def missing(self) -> dict[int, list[tuple[int, int]]]:
        """Per buffered message_seq, the byte ranges still missing (for the trace)."""
        return {seq: p.missing() for seq, p in sorted(self._partial.items())}

    def clear(self) -> None:
        """Free every buffer (the handshake is over; SPEC F5, X3)."""
        if not self._partial:  # usual: every message was whole and released
            return
        for partial in self._partial.values():
            self._release(partial)
        self._partial.clear()
