"""aiodtls: pure-Python DTLS on ``cryptography``, with a sans-I/O core that owns its timers.

The public names are re-exported here; see ``docs/`` for guides.
"""

from __future__ import annotations

from .alerts import Alert, AlertDescription
from .configuration import DtlsConfiguration
from .connection import ConnectionState, DtlsConnection
from .endpoint import DtlsEndpoint
from .events import ConnectionTerminated, DataReceived, DtlsEvent, HandshakeCompleted
from .handshake.suites import CipherSuite, NamedGroup, SignatureScheme
from .trace import TraceRecord

__all__ = [
    "Alert",
    "AlertDescription",
    "CipherSuite",
    "ConnectionState",
    "ConnectionTerminated",
    "DataReceived",
    "DtlsConfiguration",
    "DtlsConnection",
    "DtlsEndpoint",
    "DtlsEvent",
    "HandshakeCompleted",
    "NamedGroup",
    "SignatureScheme",
    "TraceRecord",
]

__version__ = "0.1.0"
