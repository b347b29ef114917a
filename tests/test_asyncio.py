"""The asyncio API over real loopback sockets (issue 4 items 1 and 5).

Loss is injected the way aioquic's tests do it: by patching the datagram transport's
``sendto`` so that a seeded fraction of datagrams, in both directions, never leaves.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
from asyncio import selector_events
from collections.abc import Iterator
from typing import Any

import pytest

from aiodtls.asyncio import ConnectionClosed, DtlsSession, connect, serve
from aiodtls.events import ConnectionTerminated
from pairs import client_config, psk_configs12, server_config


@pytest.fixture
def lossy_sendto(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Drop 20 % of every datagram sent by any asyncio datagram transport."""
    rng = random.Random(20)
    counts = {"sent": 0, "dropped": 0}
    transport_class: Any = getattr(selector_events, "_SelectorDatagramTransport")  # noqa: B009
    original = transport_class.sendto

    def sendto(self: Any, data: bytes, addr: Any = None) -> None:
        counts["sent"] += 1
        if rng.random() < 0.2:
            counts["dropped"] += 1
            return
        original(self, data, addr)

    monkeypatch.setattr(transport_class, "sendto", sendto)
    yield counts


async def echo(session: DtlsSession) -> None:
    async for data in session:
        session.send(data)


async def echo_round_trip(session: DtlsSession, message: bytes) -> int:
    """Send until the echo comes back (DTLS does not retransmit application data)."""
    for attempt in range(1, 50):
        session.send(message)
        try:
            reply = await asyncio.wait_for(session.recv(), 0.3)
        except asyncio.TimeoutError:
            continue
        if reply == message:
            return attempt
    raise AssertionError(f"no echo for {message!r}")


@pytest.mark.slow  # long: in the slow pass of .ci/run
def test_200_concurrent_clients_under_20_percent_loss(lossy_sendto: dict[str, int]) -> None:
    """Issue 4 item 1: one server socket, 200 clients, loss both ways."""

    async def main() -> None:
        server = await serve("127.0.0.1", 0, configuration=server_config(), handler=echo)
        port = server.address[1]

        async def client(i: int) -> tuple[str, int]:
            async with connect("127.0.0.1", port, configuration=client_config()) as session:
                attempts = 0
                for n in range(3):
                    attempts += await echo_round_trip(session, b"client %d message %d" % (i, n))
                return session.cipher_suite, attempts

        results = await asyncio.gather(*(client(i) for i in range(200)))
        assert len(results) == 200
        # Both sides keep the default versions: DTLS 1.3.
        assert {suite for suite, _ in results} == {"TLS_AES_128_GCM_SHA256"}
        assert server.endpoint.stats.connections_created >= 200
        server.close()
        await server.wait_closed()

    asyncio.run(asyncio.wait_for(main(), 120))
    assert lossy_sendto["dropped"] > 0.15 * lossy_sendto["sent"]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_close_notify_ends_both_sides_and_nothing_leaks() -> None:  # issue 4 item 5
    fds_before = open_fds()

    async def main() -> None:
        tasks_before = asyncio.all_tasks()
        endings: list[ConnectionTerminated] = []

        async def handler(session: DtlsSession) -> None:
            await echo(session)
            endings.append(await session.wait_closed())

        server = await serve("127.0.0.1", 0, configuration=server_config(), handler=handler)
        async with connect("127.0.0.1", server.address[1], configuration=client_config()) as s:
            assert await echo_round_trip(s, b"hi") == 1
            s.close()
            ending = await s.wait_closed()
            assert ending.alert is not None and ending.alert.name == "close_notify"
            assert not ending.by_peer
            with pytest.raises(ConnectionClosed):
                await s.recv()
        for _ in range(50):
            if endings:
                break
            await asyncio.sleep(0.01)
        (server_end,) = endings
        assert server_end.by_peer is True
        assert server_end.alert is not None and server_end.alert.name == "close_notify"
        assert server.endpoint.connections == {}
        server.close()
        await server.wait_closed()
        await asyncio.sleep(0)
        assert asyncio.all_tasks() == tasks_before

    asyncio.run(main())
    assert open_fds() == fds_before


def test_a_vanished_peer_is_detected_by_the_idle_timeout() -> None:  # issue 4 item 5
    async def main() -> None:
        endings: list[ConnectionTerminated] = []

        async def handler(session: DtlsSession) -> None:
            await echo(session)
            endings.append(await session.wait_closed())

        config = server_config(idle_timeout=0.3)
        server = await serve("127.0.0.1", 0, configuration=config, handler=handler)
        async with connect("127.0.0.1", server.address[1], configuration=client_config()) as s:
            await echo_round_trip(s, b"hello")
            # The client disappears without close_notify (its socket goes away).
            s.connection.abort("test: vanish")
        for _ in range(100):
            if endings:
                break
            await asyncio.sleep(0.02)
        (ending,) = endings
        assert ending.reason == "idle timeout"
        assert server.endpoint.connections == {}
        server.close()
        await server.wait_closed()

    asyncio.run(main())


def test_traffic_keeps_the_idle_timer_moving_and_it_still_fires_after_the_last_record() -> None:
    """The driver leaves its loop timer at the first idle deadline while records move it
    later (issue 13): when that timer fires it must re-arm for the new deadline, not end
    the association, and once traffic stops the timeout still ends both sides."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        endings: list[ConnectionTerminated] = []

        async def handler(session: DtlsSession) -> None:
            await echo(session)
            endings.append(await session.wait_closed())

        server_cfg = server_config(idle_timeout=0.4)
        server = await serve("127.0.0.1", 0, configuration=server_cfg, handler=handler)
        client_cfg = client_config(idle_timeout=0.4)
        async with connect("127.0.0.1", server.address[1], configuration=client_cfg) as s:
            started = last_record = loop.time()
            while last_record - started < 1.2:  # three idle periods of steady traffic
                await asyncio.sleep(0.1)
                await echo_round_trip(s, b"keep alive")
                last_record = loop.time()
            assert not s.closed and server.endpoint.connections
            ending = await asyncio.wait_for(s.wait_closed(), 10)
            assert ending.reason == "idle timeout"
            assert loop.time() - last_record >= 0.35  # not at a deadline from before
            with pytest.raises(ConnectionClosed):
                await s.recv()
        for _ in range(250):
            if endings:
                break
            await asyncio.sleep(0.02)
        assert [e.reason for e in endings] == ["idle timeout"]
        server.close()
        await server.wait_closed()

    asyncio.run(main())


def test_concurrent_readers_a_cancelled_one_and_a_close_while_waiting() -> None:
    """recv() waits on a future of its own: cancelling one reader leaves the others
    waiting, a record wakes one that gets it, and the end of the association wakes the
    rest with ConnectionClosed (once what was received has been read)."""

    async def main() -> None:
        server = await serve("127.0.0.1", 0, configuration=server_config(), handler=echo)
        async with connect("127.0.0.1", server.address[1], configuration=client_config()) as s:
            await echo_round_trip(s, b"ready")
            first = asyncio.ensure_future(s.recv())
            second = asyncio.ensure_future(s.recv())
            timed = asyncio.ensure_future(s.recv(timeout=0.05))
            await asyncio.sleep(0.01)
            first.cancel()
            with pytest.raises(TimeoutError):
                await timed
            s.send(b"one record")
            assert await asyncio.wait_for(second, 10) == b"one record"
            assert first.cancelled()
            waiting = asyncio.ensure_future(s.recv())
            await asyncio.sleep(0.01)
            s.close()
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(waiting, 10)
        server.close()
        await server.wait_closed()

    asyncio.run(main())


def test_failed_handshake_is_reported_to_the_server_and_raises_on_the_client() -> None:
    async def main() -> None:
        failures: list[str] = []
        client_cfg, server_cfg = psk_configs12(client_psk=b"\x01" * 16)
        server = await serve(
            "127.0.0.1",
            0,
            configuration=server_cfg,
            handler=echo,
            on_handshake_failure=lambda addr, event: failures.append(event.reason),
        )
        with pytest.raises(ConnectionClosed) as failure:
            async with connect("127.0.0.1", server.address[1], configuration=client_cfg):
                pass
        assert "bad_record_mac" in str(failure.value)
        await asyncio.sleep(0.05)
        assert failures and "wrong PSK" in failures[0]
        server.close()
        await server.wait_closed()

    asyncio.run(main())


def test_server_close_tells_every_peer() -> None:
    async def main() -> None:
        server = await serve("127.0.0.1", 0, configuration=server_config(), handler=echo)
        async with connect("127.0.0.1", server.address[1], configuration=client_config()) as s:
            await echo_round_trip(s, b"x")
            server.close()
            await server.wait_closed()
            ending = await asyncio.wait_for(s.wait_closed(), 2)
            assert ending.by_peer and ending.alert is not None
            assert ending.alert.name == "close_notify"

    asyncio.run(main())


def test_a_client_restarting_on_the_same_port_replaces_its_old_session() -> None:  # T9
    """Over real sockets: a client that vanished (no close_notify) and reconnects from the
    same address gets a new session at once; the old session stays up while the new handshake
    runs and ends, with a reason, once it completed (RFC 6347 §4.2.8)."""

    async def main() -> None:
        sessions: list[DtlsSession] = []
        endings: list[ConnectionTerminated] = []

        async def handler(session: DtlsSession) -> None:
            sessions.append(session)
            await echo(session)
            endings.append(await session.wait_closed())

        server = await serve("127.0.0.1", 0, configuration=server_config(), handler=handler)
        port = server.address[1]
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        local = probe.getsockname()
        probe.close()
        async with connect("127.0.0.1", port, configuration=client_config(), local_addr=local) as s:
            await echo_round_trip(s, b"first life")
            s.connection.abort("test: the client process dies")
        await asyncio.sleep(0.05)  # the transport closes its socket on the next loop turn
        async with connect("127.0.0.1", port, configuration=client_config(), local_addr=local) as s:
            await echo_round_trip(s, b"second life")
            for _ in range(100):
                if endings:
                    break
                await asyncio.sleep(0.02)
            assert len(sessions) == 2
            (ending,) = endings
            assert "new handshake" in ending.reason
            assert server.endpoint.connections[local] is sessions[1].connection
        server.close()
        await server.wait_closed()

    asyncio.run(main())


def test_a_server_protocol_can_take_records_in_its_callback() -> None:
    """``DtlsProtocol.record_received`` (the hook): a server answers each record inside the
    protocol's callback, with no handler task woken per record; the records it takes never
    reach ``recv()``, and what it passes on to ``super()`` does."""
    from aiodtls.asyncio import DtlsServerProtocol

    seen_by_handler: list[bytes] = []

    class Echo(DtlsServerProtocol):
        def record_received(self, session: DtlsSession, data: bytes) -> None:
            if data.startswith(b"queue:"):
                super().record_received(session, data)
            else:
                session.send(b"echo:" + data)

    async def handler(session: DtlsSession) -> None:
        async for data in session:
            seen_by_handler.append(data)

    async def main() -> None:
        client_cfg, server_cfg = psk_configs12()
        async with await serve(
            "127.0.0.1", 0, configuration=server_cfg, handler=handler, create_protocol=Echo
        ) as server:
            port = server.address[1]
            async with connect("127.0.0.1", port, configuration=client_cfg) as session:
                for n in range(5):
                    session.send(b"ping %d" % n)
                    assert await asyncio.wait_for(session.recv(), 5) == b"echo:ping %d" % n
                session.send(b"queue:for the handler")
                for _ in range(100):
                    if seen_by_handler:
                        break
                    await asyncio.sleep(0.01)
        assert seen_by_handler == [b"queue:for the handler"]

    asyncio.run(main())


def test_a_client_protocol_can_take_records_in_its_callback() -> None:
    """The same hook on a client's protocol (``connect(create_protocol=...)``)."""
    from aiodtls.asyncio import DtlsProtocol

    taken: list[bytes] = []

    class Taker(DtlsProtocol):
        def record_received(self, session: DtlsSession, data: bytes) -> None:
            taken.append(data)

    async def main() -> None:
        client_cfg, server_cfg = psk_configs12()
        async with await serve("127.0.0.1", 0, configuration=server_cfg, handler=echo) as server:
            port = server.address[1]
            async with connect(
                "127.0.0.1", port, configuration=client_cfg, create_protocol=Taker
            ) as session:
                session.send(b"one")
                session.send(b"two")
                for _ in range(100):
                    if len(taken) == 2:
                        break
                    await asyncio.sleep(0.01)
                assert taken == [b"one", b"two"]
                with pytest.raises(TimeoutError):
                    await session.recv(timeout=0.05)  # taken by the hook, not queued

    asyncio.run(main())


def test_a_record_hook_that_raises_is_logged_and_the_session_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An exception of the application's ``record_received`` does not reach the driver: it
    is logged, that record is lost, and the next records are handled."""
    from aiodtls.asyncio import DtlsServerProtocol

    class Fragile(DtlsServerProtocol):
        def record_received(self, session: DtlsSession, data: bytes) -> None:
            if data == b"boom":
                raise ValueError("the application's bug")
            session.send(b"echo:" + data)

    async def until_closed(session: DtlsSession) -> None:
        await session.wait_closed()

    async def main() -> None:
        client_cfg, server_cfg = psk_configs12()
        async with await serve(
            "127.0.0.1", 0, configuration=server_cfg, handler=until_closed, create_protocol=Fragile
        ) as server:
            port = server.address[1]
            async with connect("127.0.0.1", port, configuration=client_cfg) as session:
                session.send(b"boom")
                session.send(b"after")
                assert await asyncio.wait_for(session.recv(), 5) == b"echo:after"

    with caplog.at_level("ERROR", logger="aiodtls.asyncio"):
        asyncio.run(main())
    assert "record_received failed" in caplog.text
    assert "the application's bug" in caplog.text
