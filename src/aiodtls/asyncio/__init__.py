"""asyncio API: ``connect()`` for clients, ``serve()`` for servers, ``DtlsProtocol`` for
applications that own their socket, and ``DtlsOverDatagrams`` for applications that own the
whole datagram path (WebRTC's ICE). The library owns every retransmission timer."""

from .client import connect
from .path import DtlsOverDatagrams
from .server import DtlsServer, DtlsServerProtocol, Handler, serve
from .session import ConnectionClosed, DtlsProtocol, DtlsSession

__all__ = [
    "ConnectionClosed",
    "DtlsOverDatagrams",
    "DtlsProtocol",
    "DtlsServer",
    "DtlsServerProtocol",
    "DtlsSession",
    "Handler",
    "connect",
    "serve",
]
