"""``aiodtls.asyncio.connect``: a DTLS client over a connected UDP socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ..configuration import DtlsConfiguration
from ..connection import DtlsConnection
from .session import DtlsProtocol, DtlsSession

__all__ = ["connect"]


@asynccontextmanager
async def connect(
    host: str,
    port: int,
    *,
    configuration: DtlsConfiguration,
    local_addr: tuple[str, int] | None = None,
) -> AsyncIterator[DtlsSession]:
    """Connect to a DTLS server and yield the session once the handshake has completed.

    The handshake is bounded by ``configuration.handshake_timeout``; a failure raises
    :class:`~aiodtls.asyncio.ConnectionClosed` with the reason. Leaving the ``async with``
    sends close_notify and closes the socket.
    """
    if not configuration.is_client:
        raise ValueError("connect() needs a client configuration")
    loop = asyncio.get_running_loop()
    connection = DtlsConnection(configuration=configuration)
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: DtlsProtocol(connection), remote_addr=(host, port), local_addr=local_addr
    )
    try:
        session = protocol.start(transport.get_extra_info("peername"))
        await session.wait_handshake()
        yield session
    finally:
        if not connection.closed:
            connection.close()
            protocol.transmit()
        transport.close()
