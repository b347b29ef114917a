#!/usr/bin/env python3
"""CPU of each turn of the benchmark's handshake in memory, back to back or with pauses.

The configurations of ``benchmarks/real_latency.py`` as the CLI builds them (see
``first_handshake_instructions.py``), after the CLI's warm-up, both sides in this process: the
server is a ``DtlsEndpoint`` (cookie exchange as ``aiodtls server``), the client a
``DtlsConnection``, and the datagrams of each flight are handed over directly. Each turn's
``time.process_time()`` is the reacting side's work on the whole flight (receive every
datagram, then take what it sends), the client's last turn ending at ``HandshakeCompleted``.
With ``--pause S`` the process sleeps S seconds before each turn, as a real peer waits a
round trip for its peer's flight: the work is the same, only the CPU's caches and branch
predictors have had time to forget it (and other processes to use them).

    python3 benchmarks/turn_cpu_in_memory.py --certs /tmp/lat-certs --handshakes 20
    python3 benchmarks/turn_cpu_in_memory.py --certs /tmp/lat-certs --handshakes 20 --pause 0.025
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

TURNS = ("hvr", "ch2", "flight4", "flight5", "flight6", "finish")
CLIENT_ADDRESS, SERVER_ADDRESS = ("127.0.0.1", 40001), ("127.0.0.1", 40002)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certs", help="directory keeping the chain (made on first use)")
    parser.add_argument("--handshakes", type=int, default=20)
    parser.add_argument("--pause", type=float, default=0.0, help="seconds slept before a turn")
    args = parser.parse_args()

    from first_handshake_instructions import cli_configurations
    from real_peers_loss import credentials

    from aiodtls.cli.common import warm_up_crypto
    from aiodtls.connection import DtlsConnection
    from aiodtls.endpoint import DtlsEndpoint, next_event

    with tempfile.TemporaryDirectory() as scratch:
        client_config, server_config = cli_configurations(
            credentials(args.certs, Path(scratch)).chain.parent
        )
    warm_up_crypto(server_config)
    warm_up_crypto(client_config)
    server = DtlsEndpoint(server_config)
    rows: list[list[float]] = []
    for _ in range(args.handshakes):
        client = DtlsConnection(configuration=client_config)
        client.connect(SERVER_ADDRESS, 0.0)
        flight = [data for data, _ in client.datagrams_to_send(0.0)]
        row: list[float] = []
        for index in range(len(TURNS)):
            if args.pause:
                time.sleep(args.pause)
            started = time.process_time()
            if index % 2 == 0:
                for data in flight:
                    server.receive_datagram(data, CLIENT_ADDRESS, 0.0)
                flight = [data for data, _ in server.datagrams_to_send(0.0)]
            else:
                for data in flight:
                    client.receive_datagram(data, SERVER_ADDRESS, 0.0)
                flight = [data for data, _ in client.datagrams_to_send(0.0)]
                while client.next_event() is not None:
                    pass
            row.append((time.process_time() - started) * 1e3)
        while next_event(server) is not None:
            pass
        rows.append(row)
    print(f"# CPU ms per turn, pause {args.pause} s before each turn")
    print("| handshake | " + " | ".join(TURNS) + " | sum |")
    print("|---|" + "---|" * (len(TURNS) + 1))
    medians = [statistics.median(row[i] for row in rows[1:]) for i in range(len(TURNS))]
    for label, values in (("first", rows[0]), (f"median of 2..{len(rows)}", medians)):
        cells = " | ".join(f"{v:.2f}" for v in values)
        print(f"| {label} | {cells} | {sum(values):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
