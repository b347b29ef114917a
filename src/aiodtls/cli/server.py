"""``aiodtls server``: accept DTLS clients one after another; echo or print their records."""

from __future__ import annotations

import argparse
import ssl
import sys
from typing import Any

from cryptography import x509

from ..configuration import DtlsConfiguration
from ..sync import DtlsError, DtlsServer
from .common import (
    add_common_options,
    apply_common_options,
    describe_handshake,
    failure_line,
)

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    """Register the sub-command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "server", help="serve DTLS clients; print or echo what they send"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True)
    add_common_options(parser)
    parser.add_argument("--chain", help="PEM intermediate certificates sent after --cert")
    parser.add_argument(
        "--require-client-cert", action="store_true", help="request and verify a client cert"
    )
    parser.add_argument("--echo", action="store_true", help="send every record back")
    parser.add_argument(
        "--count", type=int, default=0, help="exit after this many clients (default: never)"
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=30.0,
        help="drop a client silent for this many seconds (default 30)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the server."""
    config = DtlsConfiguration(is_client=False)
    apply_common_options(args, config)
    if args.chain:
        with open(args.chain, "rb") as f:
            config.certificate_chain += x509.load_pem_x509_certificates(f.read())
    if args.psk and args.psk_identity is not None:
        # Only the named identity gets the key; without --psk-identity any identity does.
        expected, key = args.psk_identity.encode(), bytes.fromhex(args.psk)
        config.psk = None
        config.psk_lookup = lambda identity: key if identity == expected else None
    if args.require_client_cert:
        config.verify_mode = ssl.CERT_REQUIRED
    if not config.certificate_chain and config.psk is None and config.psk_lookup is None:
        print("server needs --cert/--key or --psk", file=sys.stderr)
        return 2
    served = 0
    with DtlsServer(args.host, args.port, configuration=config) as server:
        print(f"listening on {server.address[0]}:{server.address[1]}", file=sys.stderr, flush=True)
        while not args.count or served < args.count:
            try:
                dtls = server.accept()
            except DtlsError as exc:
                served += 1
                print(failure_line(exc), file=sys.stderr, flush=True)
                continue
            served += 1
            peer = dtls.connection.peer_address
            assert peer is not None
            assert dtls.handshake is not None
            if not args.quiet:
                describe_handshake(dtls.handshake, f"{peer[0]}:{peer[1]}")
            try:
                while (data := dtls.recv(timeout=args.idle_timeout)) is not None:
                    if args.echo:
                        dtls.send(data)
                    else:
                        sys.stdout.buffer.write(data + (b"" if data.endswith(b"\n") else b"\n"))
                        sys.stdout.flush()
            except DtlsError as exc:
                print(f"connection with {peer[0]}:{peer[1]} failed: {exc}", file=sys.stderr)
            finally:
                dtls.close()
    return 0
