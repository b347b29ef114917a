#!/usr/bin/env python3
"""Memory held by a DTLS server per established connection, measured with tracemalloc.

Creates N in-memory clients against one sans-I/O DtlsEndpoint (no sockets), completes every
handshake, frees the clients, and reports what the server still holds divided by N
(``aiodtls.bench.memory_per_connection``, also the ``memory`` metric of ``aiodtls bench``).

    python benchmarks/memory_per_connection.py [--connections 1000] [--psk] [--cid LEN] [--dtls13]
"""

from __future__ import annotations

import argparse

from aiodtls.bench import memory_per_connection


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--psk", action="store_true")
    parser.add_argument("--cid", type=int, help="both sides negotiate connection IDs of LEN bytes")
    parser.add_argument("--dtls13", action="store_true", help="both sides speak DTLS 1.3 only")
    args = parser.parse_args()
    per_connection = memory_per_connection(
        args.connections, psk=args.psk, cid=args.cid, dtls13=args.dtls13
    )
    kind = ("DTLS 1.3 " if args.dtls13 else "DTLS 1.2 ") + ("PSK" if args.psk else "ECDHE-ECDSA")
    if args.cid is not None:
        kind += f" + {args.cid}-byte CID"
    print(
        f"{args.connections} established {kind} connections: "
        f"{per_connection / 1024:.2f} KiB per connection"
    )


if __name__ == "__main__":
    main()
