"""``aiodtls client HOST:PORT``: send stdin lines as records, print what comes back."""

from __future__ import annotations

import argparse
import queue
import ssl
import sys
import threading
import time
from typing import Any

from ..configuration import DtlsConfiguration
from ..handshake.certificates import certificate_fingerprint
from ..sync import DtlsError, connect
from .common import (
    add_common_options,
    apply_common_options,
    describe_handshake,
    failure_line,
    parse_address,
)

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    """Register the sub-command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "client", help="connect to a DTLS server; stdin lines go out as records"
    )
    parser.add_argument("target", type=parse_address, metavar="HOST:PORT")
    add_common_options(parser)
    parser.add_argument(
        "--insecure", action="store_true", help="do not verify the server certificate"
    )
    parser.add_argument(
        "--no-check-hostname",
        action="store_true",
        help="verify the server's chain but not that it is for the server name",
    )
    parser.add_argument("--server-name", help="name to verify (default: HOST)")
    parser.add_argument(
        "--wait",
        type=float,
        default=1.0,
        help="after stdin ends, seconds of silence to wait for replies (default 1)",
    )
    parser.set_defaults(run=run)


def _stdin_lines(out: queue.Queue[bytes | None]) -> None:
    for line in sys.stdin.buffer:
        out.put(line.rstrip(b"\n"))
    out.put(None)


def run(args: argparse.Namespace) -> int:
    """Run the client."""
    host, port = args.target
    config = DtlsConfiguration(is_client=True)
    apply_common_options(args, config)
    config.server_name = args.server_name or host
    if args.insecure and args.fingerprint:
        print("--insecure and --fingerprint contradict each other: give one", file=sys.stderr)
        return 2
    if args.insecure:
        config.verify_mode = ssl.CERT_NONE
    if args.no_check_hostname:
        config.check_hostname = False
    if args.psk and not args.cert and not args.ca and not args.fingerprint:
        config.verify_mode = ssl.CERT_NONE  # a PSK authenticates the server by itself
    try:
        dtls = connect(host, port, configuration=config, timeout=args.handshake_timeout + 1)
    except DtlsError as exc:
        print(failure_line(exc), file=sys.stderr, flush=True)
        return 1
    except (OSError, ValueError) as exc:
        print(f"handshake failed: {exc}", file=sys.stderr, flush=True)
        return 1
    if not args.quiet:
        describe_handshake(dtls.handshake)
        if dtls.handshake.peer_certificates:
            leaf = dtls.handshake.peer_certificates[0]
            fingerprint = certificate_fingerprint(leaf).hex()
            print(f"server certificate sha256 {fingerprint}", file=sys.stderr, flush=True)
    lines: queue.Queue[bytes | None] = queue.Queue()
    threading.Thread(target=_stdin_lines, args=(lines,), daemon=True).start()
    stdin_open = True
    quiet_since = time.monotonic()
    try:
        while True:
            while stdin_open:
                try:
                    line = lines.get_nowait()
                except queue.Empty:
                    break
                if line is None:
                    stdin_open = False
                    quiet_since = time.monotonic()
                else:
                    dtls.send(line[: dtls.connection.max_payload()])
            data = dtls.recv(timeout=0.02)
            if data is not None:
                sys.stdout.buffer.write(data + (b"" if data.endswith(b"\n") else b"\n"))
                sys.stdout.flush()
                quiet_since = time.monotonic()
            elif dtls.terminated is not None:
                break
            if not stdin_open and time.monotonic() - quiet_since >= args.wait:
                break
    except DtlsError as exc:
        print(f"connection failed: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        dtls.close()
    return 0
