"""``aiodtls server``: serve any number of DTLS clients at once; echo or print their records."""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import socket
import ssl
import sys
from typing import Any

from ..asyncio import DtlsSession, serve
from ..configuration import DtlsConfiguration
from ..connection import NetworkAddress
from ..events import ConnectionTerminated
from ..resumption import ServerSessionStore
from . import checks, rawkeys
from .common import (
    add_common_options,
    apply_common_options,
    describe_handshake,
    describe_srtp_export,
    warm_up_crypto,
)

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    """Register the sub-command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "server", help="serve DTLS clients; print or echo what they send"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=checks.server_port, required=True, help="UDP port (0: any free one)"
    )
    add_common_options(parser)
    parser.add_argument("--chain", help="PEM intermediate certificates sent after --cert")
    parser.add_argument(
        "--require-client-cert", action="store_true", help="request and verify a client cert"
    )
    parser.add_argument("--echo", action="store_true", help="send every record back")
    parser.add_argument(
        "--count",
        type=checks.non_negative(int),
        default=0,
        help="exit after this many handshakes (completed or failed) have ended (default: never)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=checks.positive(),
        default=60.0,
        help="end a connection silent for this many seconds (default 60)",
    )
    parser.add_argument(
        "--max-half-open",
        type=checks.positive(int),
        default=1000,
        help="most handshakes in progress at once",
    )
    parser.add_argument(
        "--max-half-open-per-source",
        type=checks.positive(int),
        default=64,
        help="most handshakes in progress from one IPv4 address or IPv6 /64",
    )
    parser.add_argument(
        "--no-resumption",
        action="store_true",
        help="keep no session cache and issue no tickets (resumption is on by default)",
    )
    parser.set_defaults(run=run)


def _configuration(args: argparse.Namespace) -> DtlsConfiguration:
    config = DtlsConfiguration(is_client=False)
    apply_common_options(args, config)
    if not args.no_resumption:
        config.session_store = ServerSessionStore()  # session IDs and tickets, defaults
    if args.chain:
        if not args.cert:
            raise checks.CliError(f"--chain {args.chain} needs --cert (the leaf) and --key")
        config.certificate_chain += checks.load_certificates("--chain", args.chain)
    if args.psk and args.psk_identity is not None:
        # Only the named identity gets the key; without --psk-identity any identity does.
        expected, key = os.fsencode(args.psk_identity), args.psk
        config.psk = None
        config.psk_lookup = lambda identity: key if identity == expected else None
    if args.require_client_cert:
        config.verify_mode = ssl.CERT_REQUIRED
    config.idle_timeout = args.idle_timeout
    return config


def run(args: argparse.Namespace) -> int:
    """Run the server until interrupted (or ``--count`` handshakes have ended)."""
    config = _configuration(args)
    credentials = config.certificate_chain or config.raw_public_key
    if not credentials and config.psk is None and config.psk_lookup is None:
        raise checks.CliError(
            "no credentials; give --cert and --key (make them with `aiodtls cert` or openssl), "
            "--rpk and --key, or --psk"
        )
    warm_up_crypto(config)
    try:
        return asyncio.run(_serve(args, config))
    except socket.gaierror as exc:
        raise checks.CliError(
            f"cannot resolve --host {args.host!r} ({exc.strerror}); give an address of this "
            "machine, e.g. 127.0.0.1 or 0.0.0.0",
            checks.EXIT_RUNTIME,
        ) from None
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
            raise
        reason = checks.describe_os_error(exc)
        if exc.errno == errno.EACCES:
            reason = "permission denied; ports below 1024 need privileges, choose another --port"
        raise checks.CliError(
            f"cannot listen on {args.host}:{args.port}: {reason}", checks.EXIT_RUNTIME
        ) from None


def _peer(addr: NetworkAddress) -> str:
    return f"{addr[0]}:{addr[1]}"


async def _serve(args: argparse.Namespace, config: DtlsConfiguration) -> int:
    ended = 0
    finished = asyncio.Event()

    def count_one() -> None:
        nonlocal ended
        ended += 1
        if args.count and ended >= args.count:
            finished.set()

    async def handle(session: DtlsSession) -> None:
        if not args.quiet:
            describe_handshake(
                session.handshake, _peer(session.peer_address), cid_requested=args.cid is not None
            )
            if session.handshake.peer_public_key is not None:
                rawkeys.describe_key("client", session.handshake.peer_public_key)
        if args.export_srtp:
            describe_srtp_export(session.srtp_profile, session.export_keying_material)
        try:
            async for data in session:
                if args.echo:
                    session.send(data)
                else:
                    sys.stdout.buffer.write(data + (b"" if data.endswith(b"\n") else b"\n"))
                    sys.stdout.flush()
            ending = await session.wait_closed()
            if ending.alert is None or ending.alert.name != "close_notify":
                print(
                    f"connection with {_peer(session.peer_address)} ended: {ending.reason}",
                    file=sys.stderr,
                    flush=True,
                )
        finally:
            count_one()

    def handshake_failed(addr: NetworkAddress, ending: ConnectionTerminated) -> None:
        reason = ending.reason if ending.alert is None else f"handshake failed: {ending.reason}"
        print(f"{reason} (peer {_peer(addr)})", file=sys.stderr, flush=True)
        count_one()

    server = await serve(
        args.host,
        args.port,
        configuration=config,
        handler=handle,
        max_half_open=args.max_half_open,
        max_half_open_per_source=args.max_half_open_per_source,
        on_handshake_failure=handshake_failed,
    )
    host, port = server.address[:2]
    print(f"listening on {host}:{port}", file=sys.stderr, flush=True)
    if config.raw_public_key and config.private_key is not None:
        rawkeys.describe_key("our", config.private_key)  # what clients pin with --peer-key
    async with server:
        await finished.wait()
    return 0
