#!/usr/bin/env python3
"""Instructions of a fresh process's first handshake against its second, under callgrind.

The configurations of ``benchmarks/real_latency.py`` as the CLI builds them (``aiodtls
server`` and ``aiodtls client`` options: RSA-4096 -> RSA-4096 -> RSA-2048 chain verified
against the root and the name ``localhost``, ECDHE-RSA-AES128-GCM-SHA256, 576-byte
datagrams), both sides in one process and in memory (``aiodtls.bench.peers.aiodtls_pair``),
after the CLI's ``warm_up_crypto`` of each side. The process runs under ``valgrind
--tool=callgrind`` three times, making 0, 1 and 2 handshakes: the differences are the
instructions of the start-up, of the first handshake and of the second. Instruction counts
do not depend on the machine's load (a few thousand move with hash seeds and random keys), so
they tell whether the first handshake does *work* the second does not (an algorithm's first
use in OpenSSL, a cache the library fills); what they cannot show is a first pass's cache and
branch-predictor misses, which ``first_handshake_cpu.py`` sees as CPU time.

    python3 benchmarks/first_handshake_instructions.py --certs /tmp/lat-certs
    python3 benchmarks/first_handshake_instructions.py --certs /tmp/lat-certs --src /tmp/old/src

Each callgrind run takes about a minute.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


def cli_configurations(certs: Path) -> tuple[Any, Any]:
    """(client, server) configurations of the benchmark's options, built as the CLI does."""
    from real_peers_loss import IANA_SUITE, SERVER_NAME

    from aiodtls.cli import _parser
    from aiodtls.cli.common import apply_common_options
    from aiodtls.cli.server import _configuration
    from aiodtls.configuration import DtlsConfiguration

    common = ["--cipher", IANA_SUITE, "--mtu", "576", "--dtls12"]
    key = ["--cert", str(certs / "chain.pem"), "--key", str(certs / "key.pem")]
    server_args = _parser("server").parse_args(["server", "--port", "0", *key, *common])
    client_args = _parser("client").parse_args(
        ["client", "127.0.0.1:4433", "--ca", str(certs / "root.pem"), *common]
    )
    server = _configuration(server_args)
    client = DtlsConfiguration(is_client=True)
    apply_common_options(client_args, client)
    client.server_name = SERVER_NAME
    return client, server


def run_child(certs: Path, handshakes: int, warm_up: bool) -> None:
    """Build both configurations the CLI's way, warm them up, make ``handshakes``."""
    from aiodtls.bench.peers import aiodtls_pair
    from aiodtls.cli.common import warm_up_crypto

    client, server = cli_configurations(certs)
    if warm_up:
        warm_up_crypto(server)
        warm_up_crypto(client)
    for _ in range(handshakes):
        aiodtls_pair(client, server)


def instructions(args: argparse.Namespace, handshakes: int, certs: Path) -> int:
    """Instructions of one child process making ``handshakes``."""
    src = Path(args.src) if args.src else Path(__file__).resolve().parents[1] / "src"
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONHASHSEED": "0"}
    with tempfile.TemporaryDirectory() as tmp:
        child = [sys.executable, str(Path(__file__).resolve()), "--child", str(handshakes)]
        child += ["--certs", str(certs), *(["--no-warm-up"] if args.no_warm_up else [])]
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.out", *child],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    found = re.search(r"Collected : (\d+)", out.stderr)
    if found is None:
        raise SystemExit(f"no instruction count from callgrind:\n{out.stderr[-2000:]}")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certs", help="directory keeping the chain (made on first use)")
    parser.add_argument("--src", help="the aiodtls tree to run (default: this checkout's src)")
    parser.add_argument("--no-warm-up", action="store_true", help="skip warm_up_crypto")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        run_child(Path(args.certs), args.child, not args.no_warm_up)
        return 0

    from real_peers_loss import credentials

    with tempfile.TemporaryDirectory() as scratch:
        certs = credentials(args.certs, Path(scratch)).chain.parent
        # Once without callgrind: the tree's modules compiled to .pyc before anything counts.
        src = Path(args.src) if args.src else Path(__file__).resolve().parents[1] / "src"
        subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child", "1", "--certs", str(certs)],
            env={**os.environ, "PYTHONPATH": str(src)},
            check=True,
        )
        counts = [instructions(args, n, certs) for n in range(3)]
    print(f"start-up and warm-up: {counts[0] / 1e6:.2f} M instructions")
    print(f"first handshake (both sides): {(counts[1] - counts[0]) / 1e6:.2f} M")
    print(f"second handshake (both sides): {(counts[2] - counts[1]) / 1e6:.2f} M")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
