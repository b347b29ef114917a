"""``aiodtls.asyncio.connect``: a DTLS client over a connected UDP socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from ..configuration import DtlsConfiguration
from ..connection import DtlsConnection
from ..errors import DtlsError, HandshakeTimeout
from ..events import ConnectionTerminated
from .session import DtlsProtocol, DtlsSession

__all__ = ["connect"]


@asynccontextmanager
async def connect(
    host: str,
    port: int,
    *,
    configuration: DtlsConfiguration,
    local_addr: tuple[str, int] | None = None,
    timeout: float | None = None,
    create_protocol: Callable[[DtlsConnection], DtlsProtocol] = DtlsProtocol,
) -> AsyncIterator[DtlsSession]:
    """Connect to a DTLS server and yield the session once the handshake has completed.

    The handshake is bounded by ``timeout`` seconds and by
    ``configuration.handshake_timeout`` (whichever is shorter); a failure raises a
    :class:`~aiodtls.errors.HandshakeError` saying why (:class:`~aiodtls.errors.HandshakeTimeout`
    when time runs out, :class:`~aiodtls.errors.HandshakePeerUnreachable` at once when nothing
    listens at (host, port)). Leaving the ``async with`` sends close_notify and closes the
    socket.

    ``create_protocol`` builds the protocol around the client connection: pass a subclass of
    :class:`DtlsProtocol` to hook into it (as aioquic's ``create_protocol``).
    """
    if not configuration.is_client:
        raise ValueError("connect() needs a client configuration")
    loop = asyncio.get_running_loop()
    connection = DtlsConnection(configuration=configuration)
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: create_protocol(connection), remote_addr=(host, port), local_addr=local_addr
    )
    try:
        session = protocol.start(transport.get_extra_info("peername"))
        try:
            await asyncio.wait_for(session.wait_handshake(), timeout)
        except asyncio.TimeoutError as exc:
            if isinstance(exc, DtlsError):  # the handshake's own HandshakeTimeout
                raise
            connection.abort("connect timeout")
            protocol.transmit()
            raise HandshakeTimeout(
                ConnectionTerminated(
                    alert=None,
                    reason=f"handshake timed out after {timeout:g} s (connect timeout)",
                    by_peer=False,
                    during_handshake=True,
                )
            ) from None
        yield session
    finally:
        if not connection.closed:
            connection.close()
            protocol.transmit()
        transport.close()
