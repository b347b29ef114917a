"""Reassembly of incoming handshake fragments into whole messages (RFC 6347 §4.2.3).

Owns, per message_seq inside a bounded window, the message body being rebuilt and an interval
set of the bytes covered so far. Fragments may overlap, repeat, arrive in any order, be cut
differently on retransmission, or mix with a whole copy of the message (SPEC F1–F4, X5):
coverage is a set of byte ranges, so each retransmission only has to supply what is still
missing. Every size is checked before anything is copied (SPEC F3, X1), and every buffer has a
cap (SPEC F5, X2, X4). Messages are released strictly in message_seq order.

It does not know what messages mean and does not decide what an old message implies; it
reports it and the connection decides (SPEC T2, T4).
"""

from __future__ import annotations

import bisect
import enum
from dataclasses import dataclass, field

__all__ = ["FragmentStatus", "HandshakeMessage", "Reassembler"]


@dataclass(frozen=True)
class HandshakeMessage:
    """A whole handshake message as received."""

    msg_type: int
    message_seq: int
    body: bytes
    epoch: int
    "The epoch of the records that carried it (the handshake checks it, SPEC X8, X9)."
    record_sequence_number: int = 0
    "Record sequence number of the fragment that completed it (for the HVR, SPEC C3)."


class FragmentStatus(enum.Enum):
    """What a fragment did to the reassembly state."""

    NEW = "new"
    "It added bytes (or completed a message)."
    DUPLICATE = "duplicate"
    "Every byte was already there."
    OLD = "old"
    "It belongs to a message already delivered: the peer is repeating a flight."
    DROPPED = "dropped"
    "It was refused; ``Reassembler.last_drop_reason`` says why."


@dataclass
class _PartialMessage:
    msg_type: int
    length: int
    epoch: int
    body: bytearray
    starts: list[int] = field(default_factory=list)  # disjoint covered ranges, sorted
    ends: list[int] = field(default_factory=list)
    covered: int = 0
    record_sequence_number: int = 0

    def _span(self, start: int, end: int) -> tuple[int, int]:
        """Indexes [i, j) of the ranges that touch or overlap [start, end)."""
        return bisect.bisect_left(self.ends, start), bisect.bisect_right(self.starts, end)

    def ranges_after(self, offset: int, length: int) -> int:
        """How many disjoint ranges there would be after adding this fragment."""
        i, j = self._span(offset, offset + length)
        return len(self.starts) - (j - i) + 1

    def add(self, offset: int, data: bytes) -> bool:
        """Copy ``data`` at ``offset``; True if any new byte got covered."""
        start, end = offset, offset + len(data)
        # Ranges touching or overlapping [start, end) merge into one (O(log n) search, the
        # merge removes what it absorbs, so a message costs O(n log n) over n fragments).
        i, j = self._span(start, end)
        if i < j and self.starts[i] <= start and end <= self.ends[i]:
            return False  # already fully covered
        new_start = min(start, self.starts[i]) if i < j else start
        new_end = max(end, self.ends[j - 1]) if i < j else end
        already = sum(self.ends[k] - self.starts[k] for k in range(i, j))
        self.body[start:end] = data
        self.starts[i:j] = [new_start]
        self.ends[i:j] = [new_end]
        self.covered += (new_end - new_start) - already
        return True

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
    """Rebuilds the peer's handshake messages and releases them in order."""

    def __init__(
        self,
        *,
        max_message_size: int = 65536,
        max_buffered_bytes: int = 262144,
        window: int = 7,
        max_ranges_per_message: int = 1024,
    ) -> None:
        self.next_seq = 0
        "The message_seq of the next message to release."
        self._max_message_size = max_message_size
        self._max_buffered_bytes = max_buffered_bytes
        self._window = window
        self._max_ranges = max_ranges_per_message
        self._partial: dict[int, _PartialMessage] = {}
        self._buffered = 0
        self.last_drop_reason = ""

    @property
    def buffered_bytes(self) -> int:
        """Bytes allocated for messages not yet released."""
        return self._buffered

    def restart_at(self, message_seq: int) -> None:
        """Forget everything and expect ``message_seq`` next (a new handshake)."""
        self._partial.clear()
        self._buffered = 0
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
    ) -> FragmentStatus:
        """Take one fragment (its header fields and bytes)."""
        if message_seq < self.next_seq:
            return FragmentStatus.OLD
        if message_seq >= self.next_seq + self._window:
            return self._drop(f"message_seq {message_seq} beyond window (next {self.next_seq})")
        # SPEC F3: check every bound before copying anything.
        if fragment_offset + len(fragment) > length:
            return self._drop("fragment runs past the message length")
        if length > self._max_message_size:
            return self._drop(f"message of {length} bytes exceeds the limit")
        if not fragment and length:
            return FragmentStatus.DUPLICATE  # zero-length fragment: nothing to keep (X4)
        partial = self._partial.get(message_seq)
        if partial is not None and length == 0:
            return FragmentStatus.DUPLICATE  # a repeated empty message (e.g. ServerHelloDone)
        if partial is None:
            if self._buffered + length > self._max_buffered_bytes:
                return self._drop("reassembly buffer full")
            partial = _PartialMessage(msg_type, length, epoch, bytearray(length))
            self._partial[message_seq] = partial
            self._buffered += length
        elif partial.msg_type != msg_type or partial.length != length:
            return self._drop("fragment type or length disagrees with earlier fragments")
        elif partial.epoch != epoch:
            return self._drop("fragments of one message in different epochs")
        # A fragment that merges ranges (a whole copy, say) is always welcome (SPEC F4).
        if partial.ranges_after(fragment_offset, len(fragment)) > self._max_ranges:
            return self._drop("too many fragments for one message")
        if not partial.add(fragment_offset, fragment) and length:
            return FragmentStatus.DUPLICATE
        partial.record_sequence_number = record_sequence_number
        return FragmentStatus.NEW

    def _drop(self, reason: str) -> FragmentStatus:
        self.last_drop_reason = reason
        return FragmentStatus.DROPPED

    def pop_message(self) -> HandshakeMessage | None:
        """The next message in order if it is complete, else None."""
        partial = self._partial.get(self.next_seq)
        if partial is None or partial.covered != partial.length:
            return None
        del self._partial[self.next_seq]
        self._buffered -= partial.length
        message = HandshakeMessage(
            partial.msg_type,
            self.next_seq,
            bytes(partial.body),
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
        self._partial.clear()
        self._buffered = 0
