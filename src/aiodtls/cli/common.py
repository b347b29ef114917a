"""Options shared by the client and server commands, and how they become a configuration."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TextIO

from ..configuration import DtlsConfiguration
from ..events import HandshakeCompleted
from ..handshake.suites import CipherSuite
from ..sync import DtlsError
from ..trace import TraceRecord
from . import checks

__all__ = [
    "add_common_options",
    "apply_common_options",
    "describe_handshake",
    "failure_line",
    "parse_address",
]


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", checks.port(port, allow_zero=True)


def _cipher(name: str) -> CipherSuite:
    key = name if name.startswith("TLS_") else f"TLS_{name}"
    try:
        return CipherSuite[key]
    except KeyError:
        names = ", ".join(s.name for s in CipherSuite)
        raise argparse.ArgumentTypeError(f"unknown cipher suite {name!r}; known: {names}") from None


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Options both roles take."""
    parser.add_argument("--psk", type=checks.hex_key, help="pre-shared key, hex")
    parser.add_argument("--psk-identity", help="PSK identity (client: sent; server: expected)")
    parser.add_argument("--cert", help="PEM certificate chain, leaf first")
    parser.add_argument("--key", help="PEM private key of --cert")
    parser.add_argument("--ca", help="PEM file of trusted CA certificates")
    parser.add_argument(
        "--mtu", type=checks.mtu, default=1400, help="largest UDP payload (default 1400)"
    )
    parser.add_argument(
        "--cipher",
        type=_cipher,
        action="append",
        help="allow only this suite (IANA name; repeatable)",
    )
    parser.add_argument(
        "--handshake-timeout", type=checks.positive(), default=60.0, help="seconds (default 60)"
    )
    parser.add_argument(
        "--keylog",
        type=checks.keylog_path,
        help="append NSS key log lines to this file (default: $SSLKEYLOGFILE if set)",
    )
    parser.add_argument("--trace", action="store_true", help="print the handshake trace on stderr")
    parser.add_argument("--quiet", action="store_true", help="no 'handshake ok' line")


def apply_common_options(args: argparse.Namespace, config: DtlsConfiguration) -> None:
    """Fill ``config`` from the shared options (a mistake raises ``checks.CliError``)."""
    checks.load_credentials(config, args.cert, args.key, getattr(args, "key_password", None))
    if args.ca:
        checks.load_trust_anchors(config, args.ca)
    if args.psk_identity is not None and not args.psk:
        raise checks.CliError("--psk-identity needs --psk: give the key too")
    if args.psk:
        config.psk = args.psk
        if args.psk_identity is not None:
            config.psk_identity = os.fsencode(args.psk_identity)
    if args.cipher:
        config.cipher_suites = list(args.cipher)
    config.mtu = args.mtu
    config.handshake_timeout = args.handshake_timeout
    if args.keylog:
        config.key_log = checks.open_keylog(args.keylog, "--keylog ")
    elif os.environ.get("SSLKEYLOGFILE"):  # opt-in by the environment only
        config.key_log = checks.open_keylog(os.environ["SSLKEYLOGFILE"], "SSLKEYLOGFILE=")
    if args.trace:
        config.trace = _print_trace


def _print_trace(record: TraceRecord) -> None:
    print(record, file=sys.stderr, flush=True)


def describe_handshake(event: HandshakeCompleted, peer: str = "", out: TextIO = sys.stderr) -> None:
    """The one-line success report."""
    who = f" (peer {peer})" if peer else ""
    print(
        f"handshake ok: {event.protocol_version} {event.cipher_suite} "
        f"in {event.duration * 1000:.1f} ms, {event.retransmissions} retransmissions{who}",
        file=out,
        flush=True,
    )


def failure_line(exc: DtlsError) -> str:
    """The one-line failure report: a timeout says so, an alert is named."""
    t = exc.terminated
    if t is not None and t.alert is None:
        return t.reason  # e.g. "handshake timed out after 7 retransmissions"
    if t is not None:
        return f"handshake failed: {t.reason}"
    return str(exc)
