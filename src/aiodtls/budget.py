"""A cap on buffered bytes shared by the connections of one server endpoint.

Each connection caps what it buffers for its peer during the handshake (reassembly, records
of the next epoch); a ``BufferBudget`` bounds the sum over all of them, so that many peers
that each stay under their own cap cannot together exhaust the server (SPEC F5).
"""

from __future__ import annotations

__all__ = ["BufferBudget"]


class BufferBudget:
    """A cap on buffered bytes shared by many reassemblers (a server endpoint's connections).

    Each reassembler still has its own cap; this one bounds their sum, so that many peers
    that each stay under their own cap cannot together exhaust the server (SPEC F5).
    """

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, amount: int) -> bool:
        """Reserve ``amount`` bytes if they fit under the limit."""
        if self.used + amount > self.limit:
            return False
        self.used += amount
        return True

    def give(self, amount: int) -> None:
        """Return bytes reserved earlier."""
        self.used -= amount
