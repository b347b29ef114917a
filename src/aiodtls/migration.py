"""A peer that changes address under connection IDs (RFC 9146 §6, SPEC I5, X23).

Owns what a connection sends to a peer address that it has not proven. The connection moves
its peer address only for an authenticated tls12_cid record newer (epoch, sequence number)
than any seen, so a replay never moves it (the record layer says which record is the newest).
But a sniffer that races a fresh record from its own (or a spoofed) address wins the move,
and DTLS 1.2 has no return-routability check that any peer implements (the RRC draft adds
one). So an address is proven only by the handshake (the cookie exchange, or the client's own
connect), and until the peer is back on a proven address, the bytes sent to its new address
never exceed the bytes of authenticated datagrams that came from it: such an attacker can
reflect no more than it sends (no amplification), and only until the real peer's next record
moves the address back. Datagrams over the budget are withheld (counted); application data
is datagram traffic and may be lost like any. RFC 9146 §6 leaves the reachability check to
the application: ``DtlsConnection.confirm_peer_address()`` is how it reports one (its
protocol got an answer from the peer there), which makes the current address proven.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AddressBudget"]


class AddressBudget:
    """The proven address of one connection, and the budget of its current unproven one."""

    __slots__ = ("proven", "received", "sent")

    def __init__(self, proven: Any) -> None:
        self.proven = proven
        "The address the handshake ran with; sends to it are never limited."
        self.received = 0
        "Bytes of datagrams with authenticated records from the current unproven address."
        self.sent = 0
        "Bytes sent to the current unproven address."

    def moved(self) -> None:
        """The peer moved to another address: its budget starts from what it brings."""
        self.received = self.sent = 0

    def on_received(self, addr: Any, size: int) -> None:
        """A datagram of ``size`` bytes with an authenticated record came from ``addr``."""
        if addr != self.proven:
            self.received += size

    def allow(self, addr: Any, size: int) -> bool:
        """May a datagram of ``size`` bytes go to ``addr`` now? Counts it if so."""
        if addr == self.proven:
            return True
        if self.sent + size > self.received:
            return False
        self.sent += size
        return True
