"""A connection's life-cycle state, its counters and the address type drivers use.

Below both :mod:`aiodtls.connection` and the handshake phase it inherits
(:mod:`aiodtls.handshake_phase`), so neither imports the other for them;
``aiodtls.connection`` re-exports these names, the path users know.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ConnectionSlots", "ConnectionState", "ConnectionStats", "NetworkAddress"]

NetworkAddress = Any
"A socket address as the I/O driver uses it, e.g. ``('127.0.0.1', 4433)``."


class ConnectionState(enum.Enum):
    """Life cycle of a connection."""

    HANDSHAKING = "handshaking"
    ESTABLISHED = "established"
    CLOSED = "closed"


# The record path compares states once or more per record, and reading a member off an Enum
# class costs ~0.2 µs in CPython 3.11 (EnumType defines __getattr__, which slows every class
# attribute lookup): the connection and its handshake phase compare with these names instead.
HANDSHAKING = ConnectionState.HANDSHAKING
ESTABLISHED = ConnectionState.ESTABLISHED
CLOSED = ConnectionState.CLOSED


@dataclass(slots=True)
class ConnectionStats:
    """Counters for diagnostics; drops are keyed by reason (slotted: one per connection)."""

    datagrams_received: int = 0
    datagrams_sent: int = 0
    records_received: int = 0
    records_accepted: int = 0
    "Records that passed the record layer: authenticated (from epoch 1 on) and not replays."
    records_dropped: Counter[str] = field(default_factory=Counter)
    retransmissions: int = 0
    address_changes: int = 0
    "Times the peer's address moved (connection IDs, RFC 9146 §6)."
    datagrams_withheld: int = 0
    "Datagrams not sent to an unproven new peer address: over its budget (see ``migration``)."


class ConnectionSlots:
    """The one base of ``DtlsConnection``'s parts (its handshake phases and negotiated
    properties, each a mixin with empty ``__slots__``) that names the connection's attributes.

    A connection is slotted: its 30 attributes in an instance dict took 1.5 KiB once they
    outgrew CPython's shared-key dicts (29 keys in 3.11), 8 bytes each as slots, whatever is
    added later (docs/scaling.md). Each part declares the types of the attributes it uses.
    """

    __slots__ = (
        "__weakref__",  # drivers and tests may hold a connection weakly
        "_address_budget",
        "_datagrams",
        "_door",
        "_early_application",
        "_early_application_bytes",
        "_events",
        "_fatal_alert",
        "_fatal_alert_repeats",
        "_fatal_alert_until",
        "_flight",
        "_handshake",
        "_handshake_deadline",
        "_held_records",
        "_last_heard",
        "_linger_deadline",
        "_now",
        "_peer_address",
        "_peer_flight_start",
        "_reassembler",
        "_reassembly_progressed",
        "_records",
        "_session_id",
        "_started_at",
        "_trace",
        "_v13",
        "_warning_alerts",
        "_wrong_key",
        "configuration",
        "is_client",
        "state",
        "stats",
    )
