"""The ``aiodtls`` command: one sub-command per module in this package."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import cert, client, demo, netsim, proxy, server

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aiodtls`` console script and ``python -m aiodtls``."""
    parser = argparse.ArgumentParser(
        prog="aiodtls", description="Pure-Python DTLS 1.2 tools built on aiodtls."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo.add_parser(commands)
    cert.add_parser(commands)
    client.add_parser(commands)
    netsim.add_parser(commands)
    proxy.add_parser(commands)
    server.add_parser(commands)
    args = parser.parse_args(argv)
    try:
        result: int = args.run(args)
    except KeyboardInterrupt:
        return 130
    sys.stdout.flush()
    return result
