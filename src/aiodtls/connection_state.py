"""A connection's life-cycle state and the address type drivers use.

Below both :mod:`aiodtls.connection` and the handshake phase it inherits
(:mod:`aiodtls.handshake_phase`), so neither imports the other for them;
``aiodtls.connection`` re-exports both names, the path users know.
"""

from __future__ import annotations

import enum
from typing import Any

__all__ = ["ConnectionState", "NetworkAddress"]

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
