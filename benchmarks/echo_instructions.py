#!/usr/bin/env python3
"""Run the ``aiodtls bench`` echo (or the plain-UDP echo it is compared with) for a given
number of round trips, both ends in this process, for counting instructions per round trip:

    for n in 200 1200; do
      PYTHONPATH=<tree>/src valgrind --tool=callgrind --callgrind-out-file=cg.$n \\
          "$(python3 -c 'import sys; print(sys.executable)')" \\
          benchmarks/echo_instructions.py aiodtls $n
    done
    # instructions per round trip = (total of cg.1200 - total of cg.200) / 1000
    # (callgrind_annotate cg.N | grep TOTALS); start-up and the handshake cancel out.

``aiodtls``: the bench's echo (a ``serve()`` handler task answers each record);
``aiodtls-callback``: the server answers in ``DtlsProtocol.record_received`` instead. ``plain``:
the plain asyncio UDP echo, the server answering inside ``datagram_received``.
``plain-task``: the same, the server answering from a task (the shape of a handler).
``--cpu`` prints the process CPU time and wall time per round trip instead (for paired runs
of two trees, alternating).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from profile_metrics import echo


def plain(count: int, from_task: bool) -> None:
    """``count`` round trips of 100 bytes through a plain asyncio UDP echo."""
    loop = asyncio.new_event_loop()
    payload = os.urandom(100)

    class Server(asyncio.DatagramProtocol):
        waiter: asyncio.Future[tuple[bytes, Any]] | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: Any = transport

        def datagram_received(self, data: bytes, addr: Any) -> None:
            if not from_task:
                self.transport.sendto(data, addr)
            elif self.waiter is not None and not self.waiter.done():
                self.waiter.set_result((data, addr))

    class Client(asyncio.DatagramProtocol):
        answer: asyncio.Future[bytes]

        def datagram_received(self, data: bytes, addr: Any) -> None:
            self.answer.set_result(data)

    async def main() -> None:
        server, protocol = await loop.create_datagram_endpoint(Server, local_addr=("127.0.0.1", 0))

        async def handler() -> None:
            while True:
                protocol.waiter = loop.create_future()
                data, addr = await protocol.waiter
                server.sendto(data, addr)

        task = loop.create_task(handler()) if from_task else None
        port = server.get_extra_info("sockname")[1]
        client, answers = await loop.create_datagram_endpoint(
            Client, remote_addr=("127.0.0.1", port)
        )
        for _ in range(count):
            answers.answer = loop.create_future()
            client.sendto(payload)
            if await answers.answer != payload:
                raise RuntimeError("the echo changed the payload")
        if task is not None:
            task.cancel()
        client.close()
        server.close()

    loop.run_until_complete(main())
    loop.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["aiodtls", "aiodtls-callback", "plain", "plain-task"])
    parser.add_argument("round_trips", type=int)
    parser.add_argument("--cpu", action="store_true", help="print CPU and wall µs per round trip")
    args = parser.parse_args()
    if args.kind.startswith("aiodtls"):
        # after 50 round trips of warm-up
        run, close = echo(args.round_trips, callback=args.kind == "aiodtls-callback")
    else:
        plain(50, args.kind == "plain-task")  # warm-up
        count = args.round_trips

        def run() -> None:
            plain(count, args.kind == "plain-task")

        def close() -> None:
            pass

    cpu, wall = time.process_time(), time.perf_counter()
    run()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    close()
    if args.cpu:
        n = args.round_trips
        print(f"CPU {cpu / n * 1e6:.1f} µs, wall {wall / n * 1e6:.1f} µs per round trip")


if __name__ == "__main__":
    main()
