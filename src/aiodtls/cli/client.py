"""``aiodtls client HOST:PORT``: send stdin lines as records, print what comes back.

Each line of stdin (without its newline) goes out as one record; a line longer than one
record's payload (``DtlsConnection.max_payload()``, about 1360 bytes at the default MTU) goes
out as several records, in order. stdin is read without a thread (``select`` and ``os.read``
on its descriptor between polls of the connection), so nothing is left blocked on it when the
session ends: the client exits 0 as soon as the server closes with close_notify, even while
stdin is still open.
"""

from __future__ import annotations

import argparse
import os
import select
import socket
import ssl
import sys
import time
from typing import Any

from ..configuration import DtlsConfiguration
from ..pki import fingerprint, format_fingerprint
from ..sync import DtlsError, connect
from . import checks, rawkeys
from .common import (
    add_common_options,
    apply_common_options,
    describe_handshake,
    describe_srtp_export,
    failure_line,
    warm_up_crypto,
)

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    """Register the sub-command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "client", help="connect to a DTLS server; stdin lines go out as records"
    )
    parser.add_argument(
        "target", type=checks.client_target, metavar="HOST:PORT", help="or [IPV6]:PORT"
    )
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
        "--reconnect",
        type=checks.non_negative(int),
        default=0,
        metavar="N",
        help="after the first handshake, reconnect N times resuming its session and print "
        "whether each resumed (like openssl s_client -reconnect)",
    )
    parser.add_argument(
        "--wait",
        type=checks.non_negative(),
        default=1.0,
        help="after stdin ends, seconds of silence to wait for replies (default 1)",
    )
    parser.set_defaults(run=run)


class _StdinRecords:
    """stdin as records, read without blocking and without a thread."""

    def __init__(self) -> None:
        self.open = True
        "False once stdin has ended (or cannot be read)."
        self._pending = b""
        self._fd = -1
        try:
            if sys.stdin is not None:
                self._fd = sys.stdin.fileno()
        except (OSError, ValueError):  # no real descriptor (closed, or replaced in-process)
            pass
        if self._fd < 0:
            self.open = False

    def _readable(self) -> bool:
        try:
            ready, _, _ = select.select([self._fd], [], [], 0)
        except (OSError, ValueError):  # a descriptor select cannot watch: just read it
            return True
        return bool(ready)

    def poll(self, limit: int) -> list[bytes]:
        """The records available now: whole lines, cut into pieces of at most ``limit`` bytes
        (a partial line is held until its newline, unless it already fills a record)."""
        if not self.open or not self._readable():
            return []
        try:
            chunk = os.read(self._fd, 65536)
        except BlockingIOError:  # stdin inherited in non-blocking mode: nothing yet
            return []
        except OSError:
            chunk = b""
        if not chunk:
            self.open = False
        self._pending += chunk
        records: list[bytes] = []
        *lines, self._pending = self._pending.split(b"\n")
        if not self.open and self._pending:
            lines.append(self._pending)  # the last line had no newline
            self._pending = b""
        for line in lines:
            records.extend(_pieces(line, limit))
        while len(self._pending) >= limit:  # a long line still coming: send what fills records
            records.append(self._pending[:limit])
            self._pending = self._pending[limit:]
        return records


def _pieces(line: bytes, limit: int) -> list[bytes]:
    if not line:
        return [b""]
    return [line[i : i + limit] for i in range(0, len(line), limit)]


_TICKET_WAIT = 1.0
"Seconds ``--reconnect`` waits for a DTLS 1.3 server's NewSessionTicket."


def _await_ticket(dtls: Any) -> None:
    """A DTLS 1.3 server sends its ticket after the handshake (RFC 8446 §4.6.1): read until
    it arrives (what else arrives is printed) or :data:`_TICKET_WAIT` seconds pass."""
    if dtls.handshake.protocol_version != "DTLSv1.3":
        return
    deadline = time.monotonic() + _TICKET_WAIT
    while dtls.session is None and dtls.terminated is None and time.monotonic() < deadline:
        data = dtls.recv(timeout=0.02)
        if data is not None:
            sys.stdout.buffer.write(data + (b"" if data.endswith(b"\n") else b"\n"))
            sys.stdout.flush()


def _resolve(host: str, port: int) -> str:
    """The address to connect to, or a one-line error for a host that does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise checks.CliError(
            f"cannot resolve host {host!r} ({exc.strerror}); check the name or give an IP address",
            checks.EXIT_RUNTIME,
        ) from None
    return str(infos[0][4][0])


def run(args: argparse.Namespace) -> int:
    """Run the client."""
    host, port = args.target
    config = DtlsConfiguration(is_client=True)
    apply_common_options(args, config)
    config.server_name = args.server_name or host
    if args.insecure and args.fingerprint:
        raise checks.CliError("--insecure and --fingerprint contradict each other: give one")
    if args.insecure and args.peer_key:
        raise checks.CliError("--insecure and --peer-key contradict each other: give one")
    if args.rpk and not (args.peer_key or args.ca or args.fingerprint or args.insecure):
        raise checks.CliError(
            "--rpk on a client needs --peer-key: the server's raw public key (its SHA-256, "
            "which `aiodtls server --rpk` prints) or a PEM file with it"
        )
    if args.insecure:
        config.verify_mode = ssl.CERT_NONE
    if args.no_check_hostname:
        config.check_hostname = False
    if args.psk and not args.cert and not args.ca and not args.fingerprint and not args.peer_key:
        config.verify_mode = ssl.CERT_NONE  # a PSK authenticates the server by itself
    address = _resolve(host, port)
    warm_up_crypto(config)
    try:
        dtls = connect(address, port, configuration=config, timeout=args.handshake_timeout + 1)
    except DtlsError as exc:
        print(failure_line(exc), file=sys.stderr, flush=True)
        return 1
    except (OSError, ValueError) as exc:
        print(f"handshake failed: {exc}", file=sys.stderr, flush=True)
        return 1
    if not args.quiet:
        describe_handshake(dtls.handshake, cid_requested=args.cid is not None)
        if dtls.handshake.peer_certificates:
            leaf = dtls.handshake.peer_certificates[0]
            # The SDP form (RFC 8122) that --fingerprint takes back as it is.
            pin = format_fingerprint(fingerprint(leaf))
            print(f"server certificate a=fingerprint:{pin}", file=sys.stderr, flush=True)
        if dtls.handshake.peer_public_key is not None:
            rawkeys.describe_key("server", dtls.handshake.peer_public_key)
    for attempt in range(1, int(args.reconnect) + 1):
        # Each reconnection is a new association from a new socket, offering the session
        # the previous one ended with (docs/resumption.md).
        _await_ticket(dtls)
        config.session = dtls.session
        dtls.close()
        try:
            dtls = connect(address, port, configuration=config, timeout=args.handshake_timeout + 1)
        except DtlsError as exc:
            print(f"reconnect {attempt}: {failure_line(exc)}", file=sys.stderr, flush=True)
            return 1
        except (OSError, ValueError) as exc:
            print(f"reconnect {attempt}: handshake failed: {exc}", file=sys.stderr, flush=True)
            return 1
        outcome = (
            "session resumed"
            if dtls.session_resumed
            else "full handshake, session not resumed"
            + ("" if config.session is not None else " (the server offered no session)")
        )
        print(
            f"reconnect {attempt}: {outcome} ({dtls.handshake.cipher_suite}, "
            f"{dtls.handshake.duration * 1000:.1f} ms)",
            file=sys.stderr,
            flush=True,
        )
    if args.export_srtp:
        describe_srtp_export(dtls.srtp_profile, dtls.connection.export_keying_material)
    stdin = _StdinRecords()
    quiet_since = time.monotonic()
    try:
        while True:
            was_open = stdin.open
            for record in stdin.poll(dtls.connection.max_payload()):
                dtls.send(record)
            if was_open and not stdin.open:
                quiet_since = time.monotonic()
            data = dtls.recv(timeout=0.02)
            if data is not None:
                sys.stdout.buffer.write(data + (b"" if data.endswith(b"\n") else b"\n"))
                sys.stdout.flush()
                quiet_since = time.monotonic()
            elif dtls.terminated is not None:
                break
            if not stdin.open and time.monotonic() - quiet_since >= args.wait:
                break
    except DtlsError as exc:
        print(f"connection failed: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        dtls.close()
    return 0
