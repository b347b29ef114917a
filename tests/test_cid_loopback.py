"""A NAT rebinding over real loopback sockets (issue 12, must show 2; I3, I5, X23).

An asyncio client talks to ``aiodtls.asyncio.serve`` through a tiny NAT in the test: the NAT
forwards the client's datagrams to the server from an outbound socket and the server's
answers back, and ``rebind()`` swaps the outbound socket for a new one (a new source port,
as a NAT does when its binding expires). The client never notices; with connection IDs the
server follows it, without them the session is lost.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aiodtls import DtlsConfiguration
from aiodtls.asyncio import DtlsSession, connect, serve
from aiodtls.record.cid import TLS12_CID
from pairs import psk_configs12

Address = tuple[str, int]


class _Socket(asyncio.DatagramProtocol):
    """A UDP socket that hands what it receives to a callback."""

    def __init__(self, on_datagram: Any) -> None:
        self.on_datagram = on_datagram
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.on_datagram(data, addr)


class Nat:
    """Client side at ``inside``; forwards to ``server`` from an outbound port it can change."""

    def __init__(self, server: Address) -> None:
        self.server = server
        self.client: Address | None = None
        self.captured: list[bytes] = []
        "Every datagram the client sent, as a sniffer on the path would see it."
        self._inside: _Socket | None = None
        self._outside: _Socket | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        _, self._inside = await loop.create_datagram_endpoint(
            lambda: _Socket(self._from_client), local_addr=("127.0.0.1", 0)
        )
        await self.rebind()

    @property
    def inside(self) -> Address:
        assert self._inside is not None and self._inside.transport is not None
        address: Address = self._inside.transport.get_extra_info("sockname")
        return address

    @property
    def outside(self) -> Address:
        assert self._outside is not None and self._outside.transport is not None
        address: Address = self._outside.transport.get_extra_info("sockname")
        return address

    async def rebind(self) -> None:
        """A new outbound port; the old binding is gone (what arrives there is lost)."""
        loop = asyncio.get_running_loop()
        old = self._outside
        _, self._outside = await loop.create_datagram_endpoint(
            lambda: _Socket(self._from_server), local_addr=("127.0.0.1", 0)
        )
        if old is not None and old.transport is not None:
            old.transport.close()

    def _from_client(self, data: bytes, addr: Address) -> None:
        self.client = addr
        self.captured.append(data)
        assert self._outside is not None and self._outside.transport is not None
        self._outside.transport.sendto(data, self.server)

    def _from_server(self, data: bytes, addr: Address) -> None:
        assert self._inside is not None and self._inside.transport is not None
        if self.client is not None:
            self._inside.transport.sendto(data, self.client)

    def close(self) -> None:
        for sock in (self._inside, self._outside):
            if sock is not None and sock.transport is not None:
                sock.transport.close()


async def attacker_socket() -> tuple[_Socket, list[bytes]]:
    received: list[bytes] = []
    _, sock = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: _Socket(lambda data, addr: received.append(data)), local_addr=("127.0.0.1", 0)
    )
    return sock, received


def configs(cid_length: int | None) -> tuple[DtlsConfiguration, DtlsConfiguration]:
    client, server = psk_configs12(connection_id_length=cid_length)
    client.connection_id_length = cid_length
    return client, server


async def echo(session: DtlsSession) -> None:
    async for data in session:
        session.send(data)


async def round_trip(session: DtlsSession, message: bytes, timeout: float = 2.0) -> bytes:
    session.send(message)
    return await session.recv(timeout)


def test_nat_rebinding_over_loopback_keeps_the_session_with_cids() -> None:  # I5, X23
    async def main() -> None:
        client_cfg, server_cfg = configs(4)
        server = await serve("127.0.0.1", 0, configuration=server_cfg, handler=echo)
        nat = Nat(server.address)
        await nat.start()
        attacker, attacker_received = await attacker_socket()
        assert attacker.transport is not None
        try:
            async with connect("127.0.0.1", nat.inside[1], configuration=client_cfg) as session:
                assert session.handshake.peer_connection_id is not None
                assert await round_trip(session, b"before") == b"before"
                (connection,) = server.endpoint.connections.values()
                assert connection.peer_address == nat.outside
                old_port = nat.outside
                await nat.rebind()
                assert nat.outside != old_port
                # Data keeps flowing both ways from the new port.
                for i in range(3):
                    assert await round_trip(session, b"after %d" % i) == b"after %d" % i
                assert connection.peer_address == nat.outside
                assert server.endpoint.stats.peer_address_changes == 1
                # A sniffer replays every record it captured, from its own address: the
                # peer does not move and the sniffer hears nothing.
                replays = [d for d in nat.captured if d[0] == TLS12_CID]
                assert len(replays) >= 4
                for data in replays:
                    attacker.transport.sendto(data, server.address)
                # Records with CIDs no connection owns are dropped and counted.
                for i in range(2):
                    forged = bytearray(replays[-1])
                    forged[11] ^= 1 << i
                    attacker.transport.sendto(bytes(forged), server.address)
                assert await round_trip(session, b"still here") == b"still here"
                await asyncio.sleep(0.05)
                assert connection.peer_address == nat.outside
                assert server.endpoint.stats.peer_address_changes == 1
                assert server.endpoint.stats.unknown_connection_ids == 2
                assert attacker_received == []
                assert connection.stats.records_dropped["replayed or too old sequence number"]
        finally:
            attacker.transport.close()
            nat.close()
            server.close()
            await server.wait_closed()

    asyncio.run(main())


@pytest.mark.parametrize("cid_length", [None, 0])
def test_nat_rebinding_over_loopback_loses_the_session_without_cids(
    cid_length: int | None,
) -> None:  # the contrast
    async def main() -> None:
        client_cfg, server_cfg = configs(cid_length)
        server = await serve("127.0.0.1", 0, configuration=server_cfg, handler=echo)
        nat = Nat(server.address)
        await nat.start()
        try:
            async with connect("127.0.0.1", nat.inside[1], configuration=client_cfg) as session:
                assert await round_trip(session, b"before") == b"before"
                await nat.rebind()
                with pytest.raises(asyncio.TimeoutError):
                    await round_trip(session, b"after", timeout=0.3)
                assert server.endpoint.stats.dropped["not a ClientHello"] >= 1
        finally:
            nat.close()
            server.close()
            await server.wait_closed()

    asyncio.run(main())


def test_nat_rebinding_with_the_blocking_client() -> None:  # I5
    """The same with ``aiodtls.sync.connect``: the blocking client just keeps sending."""
    from aiodtls import sync

    async def main() -> None:
        client_cfg, server_cfg = configs(8)
        server = await serve("127.0.0.1", 0, configuration=server_cfg, handler=echo)
        nat = Nat(server.address)
        await nat.start()
        loop = asyncio.get_running_loop()

        def blocking_client() -> list[bytes | None]:
            replies: list[bytes | None] = []
            with sync.connect("127.0.0.1", nat.inside[1], configuration=client_cfg) as sock:
                for i in range(4):
                    if i == 2:  # the NAT rebinds mid-session
                        asyncio.run_coroutine_threadsafe(nat.rebind(), loop).result(5)
                    sock.send(b"ping %d" % i)
                    replies.append(sock.recv(timeout=2.0))
            return replies

        try:
            replies = await asyncio.to_thread(blocking_client)
            assert replies == [b"ping %d" % i for i in range(4)]
            assert server.endpoint.stats.peer_address_changes == 1
        finally:
            nat.close()
            server.close()
            await server.wait_closed()

    asyncio.run(main())
