"""Anti-replay window for one epoch (RFC 6347 §4.1.2.6, SPEC A1–A3).

Owns the sliding bitmap of sequence numbers already accepted. The record layer asks
:meth:`ReplayWindow.is_replay` before decrypting and calls :meth:`ReplayWindow.mark` only after
the record authenticated, so a forged far-future sequence number cannot move the window
(SPEC A2, CVE-2016-2181).
"""

from __future__ import annotations

__all__ = ["ReplayWindow"]


class ReplayWindow:
    """A bitmap of the last ``size`` sequence numbers below the highest one accepted."""

    __slots__ = ("_bits", "_mask", "_size", "top")

    def __init__(self, size: int = 64) -> None:
        if size < 32:
            raise ValueError("RFC 6347 §4.1.2.6 requires a window of at least 32")
        self._size = size
        self._mask = (1 << size) - 1
        self.top = -1
        """The highest sequence number accepted so far (-1: none); read-only outside. A plain
        attribute: the record layer reads it for every record (no replay above it)."""
        self._bits = 0  # bit i set <=> (top - i) accepted

    def is_replay(self, seq: int) -> bool:
        """True if ``seq`` is left of the window or was already accepted."""
        if seq > self.top:
            return False
        offset = self.top - seq
        return offset >= self._size or bool(self._bits >> offset & 1)

    def mark(self, seq: int) -> bool:
        """Record ``seq`` as accepted, sliding the window when it is new on the right; True
        if it did (``seq`` is the highest accepted so far)."""
        top = self.top
        if seq > top:
            shift = seq - top
            # A jump past the window forgets it entirely; never build a 2^48-bit integer.
            self._bits = (self._bits << shift | 1) & self._mask if shift < self._size else 1
            self.top = seq
            return True
        offset = top - seq
        if offset < self._size:
            self._bits |= 1 << offset
        return False
