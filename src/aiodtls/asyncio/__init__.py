"""asyncio API: ``connect()`` for clients, ``serve()`` for servers, and ``DtlsProtocol`` for
applications that own their socket. The library owns every retransmission timer."""

from .client import connect
from .server import DtlsServer, DtlsServerProtocol, Handler, serve
from .session import ConnectionClosed, DtlsProtocol, DtlsSession

__all__ = [
    "ConnectionClosed",
    "DtlsProtocol",
    "DtlsServer",
    "DtlsServerProtocol",
    "DtlsSession",
    "Handler",
    "connect",
    "serve",
]
