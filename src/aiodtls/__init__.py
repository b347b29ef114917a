"""aiodtls: pure-Python DTLS on ``cryptography``, with a sans-I/O core that owns its timers.

The public names are re-exported here; see ``docs/`` for guides.
"""

from __future__ import annotations

from .alerts import AlertDescription
from .configuration import DtlsConfiguration
from .connection import ConnectionState, DtlsConnection
from .endpoint import DtlsEndpoint
from .errors import (
    AlertReceived,
    CertificateVerificationError,
    ConnectionClosed,
    DtlsError,
    HandshakeAlertReceived,
    HandshakeError,
    HandshakePeerUnreachable,
    HandshakeTimeout,
    PeerUnreachable,
)
from .events import ConnectionTerminated, DataReceived, DtlsEvent, HandshakeCompleted
from .resumption import ServerSessionStore, Session
from .srtp import SrtpKeyingMaterial, SrtpProfile
from .suites import CipherSuite, NamedGroup, ProtocolVersion, SignatureScheme, Suite13
from .trace import TraceRecord

__all__ = [
    "AlertDescription",
    "AlertReceived",
    "CertificateVerificationError",
    "CipherSuite",
    "ConnectionClosed",
    "ConnectionState",
    "ConnectionTerminated",
    "DataReceived",
    "DtlsConfiguration",
    "DtlsConnection",
    "DtlsEndpoint",
    "DtlsError",
    "DtlsEvent",
    "HandshakeAlertReceived",
    "HandshakeCompleted",
    "HandshakeError",
    "HandshakePeerUnreachable",
    "HandshakeTimeout",
    "NamedGroup",
    "PeerUnreachable",
    "ProtocolVersion",
    "ServerSessionStore",
    "Session",
    "SignatureScheme",
    "SrtpKeyingMaterial",
    "SrtpProfile",
    "Suite13",
    "TraceRecord",
]

__version__ = "0.1.0"
