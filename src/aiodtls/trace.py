"""Structured trace of what a connection does: flights, retransmissions, drops, progress.

A connection calls its :class:`Tracer` at each step. The tracer forwards a
:class:`TraceRecord` to the configured callback and to the ``aiodtls.trace`` logger (at DEBUG).
Traces name what happened in protocol terms and never include key material: secrets leave the
library only through the explicit key-log option.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TraceCallback", "TraceRecord", "Tracer"]

logger = logging.getLogger("aiodtls.trace")


@dataclass
class TraceRecord:
    """One step of a connection's life."""

    time: float
    "The ``now`` the connection was given when this happened."

    kind: str
    "What happened, e.g. ``'flight_sent'``, ``'retransmit'``, ``'record_dropped'``."

    role: str
    "``'client'`` or ``'server'``."

    fields: dict[str, Any] = field(default_factory=dict)
    "Details, e.g. ``{'flight': 3, 'rto': 2.0}`` or ``{'reason': 'bad tag'}``."

    def __str__(self) -> str:
        details = " ".join(f"{k}={v}" for k, v in self.fields.items())
        return f"{self.time:10.3f} {self.role:6} {self.kind} {details}".rstrip()


TraceCallback = Callable[[TraceRecord], None]


class Tracer:
    """Fans trace records out to a callback and to the ``aiodtls.trace`` logger."""

    __slots__ = ("_callback", "_role", "now")

    def __init__(self, role: str, callback: TraceCallback | None) -> None:
        self._role = role
        self._callback = callback
        self.now = 0.0

    @property
    def enabled(self) -> bool:
        """True if anyone listens: callers skip building expensive fields otherwise."""
        return self._callback is not None or logger.isEnabledFor(logging.DEBUG)

    def __call__(self, kind: str, **fields: Any) -> None:
        if not self.enabled:
            return
        record = TraceRecord(time=self.now, kind=kind, role=self._role, fields=fields)
        if self._callback is not None:
            self._callback(record)
        logger.debug("%s", record)
