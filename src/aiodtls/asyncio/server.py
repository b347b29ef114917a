"""``aiodtls.asyncio.serve``: many DTLS peers on one UDP socket, one handler task each."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ..configuration import DtlsConfiguration
from ..connection import DtlsConnection, NetworkAddress
from ..endpoint import DtlsEndpoint
from ..events import ConnectionTerminated
from .session import DtlsProtocol, DtlsSession

__all__ = ["DtlsServer", "DtlsServerProtocol", "FailureCallback", "Handler", "serve"]

logger = logging.getLogger("aiodtls.asyncio")

Handler = Callable[[DtlsSession], Awaitable[None]]
"An async function called once per peer whose handshake completed."


FailureCallback = Callable[[NetworkAddress, ConnectionTerminated], None]
"Called with the peer address and the reason when a handshake (past the cookie) fails."


class DtlsServerProtocol(DtlsProtocol):
    """The protocol of :func:`serve`: one ``DtlsEndpoint``, one handler task per established
    peer. Subclass it and pass the subclass as ``serve(create_protocol=...)`` to hook in
    (e.g. override :meth:`session_established` or :meth:`handshake_failed`, calling super)."""

    def __init__(
        self, endpoint: DtlsEndpoint, handler: Handler, on_failure: FailureCallback | None
    ) -> None:
        super().__init__(endpoint)
        self._handler = handler
        self._on_failure = on_failure
        self.tasks: set[asyncio.Task[None]] = set()

    def handshake_failed(self, connection: DtlsConnection, event: ConnectionTerminated) -> None:
        if self._on_failure is not None:
            self._on_failure(connection.peer_address, event)

    def session_established(self, session: DtlsSession) -> None:
        task = asyncio.get_running_loop().create_task(self._run(session))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, session: DtlsSession) -> None:
        try:
            await self._handler(session)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("handler failed for %s", session.peer_address)
        finally:
            # The handler is done with the peer: close the association if it did not.
            session.close()


class DtlsServer:
    """A running server: its address, its sessions, and how to stop it."""

    def __init__(self, transport: asyncio.DatagramTransport, protocol: DtlsServerProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self.endpoint: DtlsEndpoint = protocol.core  # type: ignore[assignment]
        "The sans-I/O endpoint (connection table, counters)."

    @property
    def address(self) -> NetworkAddress:
        """The bound address, e.g. ``('127.0.0.1', 4433)``."""
        return self._transport.get_extra_info("sockname")

    @property
    def sessions(self) -> list[DtlsSession]:
        """Sessions of live associations (established or handshaking)."""
        return list(self._protocol.sessions.values())

    def close(self) -> None:
        """Send close_notify to every peer, stop the handlers and close the socket."""
        for session in list(self._protocol.sessions.values()):
            session.close()
        for task in list(self._protocol.tasks):
            task.cancel()
        self._transport.close()

    async def wait_closed(self) -> None:
        """Wait until every handler task has finished."""
        tasks = list(self._protocol.tasks)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self) -> DtlsServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        await self.wait_closed()


async def serve(
    host: str,
    port: int,
    *,
    configuration: DtlsConfiguration,
    handler: Handler,
    max_half_open: int = 1000,
    max_half_open_per_source: int = 64,
    on_handshake_failure: FailureCallback | None = None,
    create_protocol: type[DtlsServerProtocol] = DtlsServerProtocol,
) -> DtlsServer:
    """Serve DTLS on (host, port): ``handler(session)`` runs once per established peer.

    Peers are told apart by address; ClientHellos are answered statelessly until they return
    a valid cookie, and at most ``max_half_open`` handshakes run at once, at most
    ``max_half_open_per_source`` from one IPv4 address or IPv6 /64 (``DtlsEndpoint``).
    When the handler returns, the session is closed with close_notify.
    ``on_handshake_failure(address, event)`` hears about handshakes that failed.
    ``create_protocol`` is the protocol class, a subclass of :class:`DtlsServerProtocol`
    (as aioquic's hook); it is called as ``create_protocol(endpoint, handler,
    on_handshake_failure)``.
    """
    loop = asyncio.get_running_loop()
    endpoint = DtlsEndpoint(
        configuration,
        max_half_open=max_half_open,
        max_half_open_per_source=max_half_open_per_source,
    )
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: create_protocol(endpoint, handler, on_handshake_failure), local_addr=(host, port)
    )
    return DtlsServer(transport, protocol)


_ServerProtocol = DtlsServerProtocol  # the name it had before it was public
