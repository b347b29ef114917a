"""What the drivers for an application-owned datagram path share (WebRTC's ICE):
:class:`aiodtls.asyncio.DtlsOverDatagrams` and :class:`aiodtls.sync.DtlsPath`.

Owns the send callable's type, the one address such a path has, and the configuration
defaults of a path driver; no I/O and no protocol logic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from .configuration import DtlsConfiguration
from .connection import NetworkAddress

__all__ = ["PATH_ADDRESS", "SendDatagram", "with_path_defaults"]

SendDatagram = Callable[[bytes], object]
"Puts one datagram on the application's path (its return value is ignored)."

PATH_ADDRESS: NetworkAddress = ("dtls-path", 0)
"The address the connection gives its peer: the path has no other."


def with_path_defaults(
    configuration: DtlsConfiguration,
    cookie_exchange: bool | None,
    initial_rtt: float | None,
) -> DtlsConfiguration:
    """A copy of ``configuration`` for an application-owned path: the cookie exchange off
    unless asked for, and ``initial_rtt`` (when given) in its retransmission policy."""
    changes: dict[str, object] = {"cookie_exchange": bool(cookie_exchange)}
    if initial_rtt is not None:
        changes["retransmission"] = dataclasses.replace(
            configuration.retransmission, initial_rtt=initial_rtt
        )
    return dataclasses.replace(configuration, **changes)  # type: ignore[arg-type]
