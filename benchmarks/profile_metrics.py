#!/usr/bin/env python3
"""Where each ``aiodtls bench`` metric's time goes: Python calls per operation and the share of
own time by module, under cProfile (deterministic counts; the shares drift a little).

    PYTHONPATH=<tree>/src python3 benchmarks/profile_metrics.py [--ops-scale 1.0]

Run it once per tree (before/after a change) and compare: the call counts are exact for a
given tree, so they show what a change removed even on a noisy machine. cProfile charges
every Python call, so Python-heavy code looks slower than it runs; the crypto share in the
bench's ``x floor`` column is the honest one. Metrics: handshake-p256, handshake-psk,
resumed-p256 (session ID), records-100, records-1000 (protect + unprotect, client to server)
and echo (asyncio loopback, both ends in this process).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
from collections import defaultdict
from collections.abc import Callable

from aiodtls.bench.peers import KINDS, aiodtls_configs, aiodtls_pair, aiodtls_records
from aiodtls.resumption import ServerSessionStore


def _module(filename: str) -> str:
    """A short name for where a profiled function lives."""
    if "aiodtls" in filename and filename.endswith(".py"):
        return filename.split("aiodtls/", 1)[-1].removeprefix("src/aiodtls/")
    if filename == "~":
        return "builtins and C extensions (cryptography)"
    if "asyncio" in filename:
        return "asyncio (stdlib)"
    return "other Python (stdlib)"


def profile(run: Callable[[], None], ops: int) -> tuple[float, list[tuple[str, float, float]]]:
    """(calls per operation, [(module, share of own time, calls per op)] largest first)."""
    profiler = cProfile.Profile()
    profiler.enable()
    run()
    profiler.disable()
    own: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    total_calls = 0
    # The raw entries, not pstats: pstats merges entries by (file, line, name), and two
    # generated functions (dataclass ``__init__``s are all ('<string>', 2, '__init__')) would
    # count as one, so the total would depend on import order.
    for entry in profiler.getstats():
        code = entry.code
        module = _module(code.co_filename if not isinstance(code, str) else "~")
        own[module] += entry.inlinetime
        calls[module] += entry.callcount
        total_calls += entry.callcount
    total = sum(own.values()) or 1.0
    rows = sorted(((m, own[m] / total, calls[m] / ops) for m in own), key=lambda r: -r[1])
    return total_calls / ops, rows


def handshakes(kind: str, n: int) -> Callable[[], None]:
    client, server = aiodtls_configs(KINDS[kind])
    aiodtls_pair(client, server)  # warm-up

    def run() -> None:
        for _ in range(n):
            aiodtls_pair(client, server)

    return run


def resumed(n: int) -> Callable[[], None]:
    client_cfg, server_cfg = aiodtls_configs(KINDS["p256"])
    server_cfg.session_store = ServerSessionStore()
    client_cfg.session_tickets = False
    client_cfg.session = aiodtls_pair(client_cfg, server_cfg)[0].session

    def run() -> None:
        for _ in range(n):
            if not aiodtls_pair(client_cfg, server_cfg)[0].session_resumed:
                raise RuntimeError("not resumed")

    return run


def records(size: int, n: int) -> Callable[[], None]:
    client, server = aiodtls_pair(*aiodtls_configs(KINDS["p256"]))
    payload = os.urandom(size)
    aiodtls_records(client, server, 100, payload)  # warm-up
    return lambda: aiodtls_records(client, server, n, payload)


def echo(n: int, callback: bool = False) -> tuple[Callable[[], None], Callable[[], None]]:
    """(run n round trips, close): the bench's echo, client and server in this process; with
    ``callback`` the server answers in ``DtlsProtocol.record_received`` instead of from its
    handler task (as the plain UDP echo answers in ``datagram_received``)."""
    from aiodtls.asyncio import DtlsServerProtocol, DtlsSession, connect, serve

    loop = asyncio.new_event_loop()
    client_cfg, server_cfg = aiodtls_configs(KINDS["p256"])
    payload = os.urandom(100)

    class CallbackEcho(DtlsServerProtocol):
        def record_received(self, session: DtlsSession, data: bytes) -> None:
            session.send(data)

    async def handler(session: DtlsSession) -> None:
        if callback:
            await session.wait_closed()
            return
        async for data in session:
            session.send(data)

    async def start() -> tuple[object, object]:
        server = await serve(
            "127.0.0.1",
            0,
            configuration=server_cfg,
            handler=handler,
            create_protocol=CallbackEcho if callback else DtlsServerProtocol,
        )
        client = connect("127.0.0.1", server.address[1], configuration=client_cfg)
        return server, client, await client.__aenter__()  # type: ignore[return-value]

    server, client_cm, session = loop.run_until_complete(start())  # type: ignore[misc]

    async def pings(count: int) -> None:
        for _ in range(count):
            session.send(payload)
            await session.recv()

    loop.run_until_complete(pings(50))  # warm-up

    def close() -> None:
        loop.run_until_complete(client_cm.__aexit__(None, None, None))
        loop.run_until_complete(server.__aexit__(None, None, None))
        loop.close()

    return (lambda: loop.run_until_complete(pings(n))), close


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops-scale", type=float, default=1.0, help="multiply the op counts")
    parser.add_argument("--top", type=int, default=6, help="modules shown per metric")
    args = parser.parse_args()
    scale = args.ops_scale
    plan: list[tuple[str, int, Callable[[int], Callable[[], None]]]] = [
        ("handshake-p256", 200, lambda n: handshakes("p256", n)),
        ("handshake-psk", 300, lambda n: handshakes("psk", n)),
        ("resumed-p256", 300, resumed),
        ("records-100", 20000, lambda n: records(100, n)),
        ("records-1000", 20000, lambda n: records(1000, n)),
    ]
    for name, ops, make in plan:
        n = max(1, int(ops * scale))
        per_op, rows = profile(make(n), n)
        print(f"{name}: {per_op:.1f} Python-visible calls per operation ({n} operations)")
        for module, share, calls in rows[: args.top]:
            print(f"    {share * 100:5.1f} %  {calls:8.1f} calls/op  {module}")
    n = max(1, int(2000 * scale))
    run, close = echo(n)
    try:
        per_op, rows = profile(run, n)
    finally:
        close()
    print(f"echo: {per_op:.1f} Python-visible calls per round trip ({n} round trips)")
    for module, share, calls in rows[: args.top]:
        print(f"    {share * 100:5.1f} %  {calls:8.1f} calls/op  {module}")


if __name__ == "__main__":
    main()
