"""``aiodtls proxy``: impair the path between two DTLS peers and say what went wrong.

Example (the Licode case: lose one fragment of the server's certificate flight, once)::

    aiodtls proxy --listen 127.0.0.1:4444 --upstream 127.0.0.1:4433 \\
        --direction s2c --drop-message Certificate:2 --drop-first 1

Then point the client at 127.0.0.1:4444. Every datagram is printed with what it carries and
what the proxy did to it; findings (who retransmitted, who never did, how the handshake ended)
are printed as they are reached. ``--json`` prints one JSON object per line instead
(schema in docs/debugging-hangs.md).

Connection-ID (RFC 9146) records are relayed unchanged; a client whose address changes
mid-session carries on its timeline at the new address (``address_changed``).

The upstream name is resolved once, at start: if that fails the proxy exits with status 1
and one line on stderr. At most --max-clients client addresses are tracked at once;
datagrams from further new clients are dropped, said once on stderr, and counted in a
summary printed on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from typing import Any

from ..diagnose import Finding, Observation
from ..handshake.messages import HandshakeType
from ..impairment import LinkConditions, Rule, drop, nth, nth_fragment
from ..keylog13 import KeyLog
from ..proxy import DEFAULT_MAX_CLIENTS, DtlsProxy, Flow, ProxyStartError, flow_dict
from .common import parse_address
from .impairment import add_impairment_options, impairment

__all__ = ["add_parser"]


def _message_type(text: str) -> tuple[HandshakeType, int]:
    name, _, number = text.partition(":")
    wanted = name.replace("_", "").lower()
    for member in HandshakeType:
        if member.name.replace("_", "") == wanted:
            try:
                return member, int(number or "1")
            except ValueError:
                break
    names = ", ".join("".join(p.title() for p in m.name.split("_")) for m in HandshakeType)
    raise argparse.ArgumentTypeError(f"expected TYPE[:N] with TYPE one of {names}")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def add_parser(commands: Any) -> None:
    """Register the sub-command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "proxy",
        help="a UDP proxy that impairs a DTLS path and diagnoses the handshakes through it",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--listen", type=parse_address, default=("127.0.0.1", 0), metavar="HOST:PORT"
    )
    parser.add_argument("--upstream", type=parse_address, required=True, metavar="HOST:PORT")
    parser.add_argument(
        "--direction", choices=["c2s", "s2c", "both"], default="both", help="where to impair"
    )
    # --drop P was this command's spelling of --loss P: scripts that use it keep working.
    add_impairment_options(parser, delay_ms=0.0, old_spellings=[("--drop", "loss")])
    parser.add_argument(
        "--drop-message",
        type=_message_type,
        action="append",
        default=[],
        metavar="TYPE[:N]",
        help="drop fragment N (1-based) of handshake message TYPE, e.g. Certificate:2",
    )
    parser.add_argument(
        "--drop-index",
        type=int,
        action="append",
        default=[],
        metavar="I",
        help="drop the I-th datagram (0-based) of each client in the impaired direction(s)",
    )
    parser.add_argument(
        "--drop-first",
        type=int,
        help="targeted drops act on the first N matching datagrams only (retransmissions pass)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--patience",
        type=float,
        default=5.0,
        help="seconds a side may take to retransmit after a loss before it is named (default 5)",
    )
    parser.add_argument(
        "--max-clients",
        type=_positive,
        default=DEFAULT_MAX_CLIENTS,
        metavar="N",
        help="client addresses tracked at once; datagrams from further new clients are "
        f"dropped and counted (default {DEFAULT_MAX_CLIENTS})",
    )
    parser.add_argument(
        "--keylog",
        metavar="FILE",
        help="an NSS key log (SSLKEYLOGFILE) the endpoints write: DTLS 1.3 records are opened "
        "and named (EncryptedExtensions, Finished, ACK ...) instead of guessed from their sizes",
    )
    parser.add_argument("--duration", type=float, help="exit after this many seconds")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--quiet", action="store_true", help="findings only, no datagram lines")
    parser.set_defaults(run=run)


def conditions(args: argparse.Namespace) -> LinkConditions:
    """The impairment of one impaired direction: the shared options and the targeted rules."""
    rules: list[Rule] = [
        drop(nth_fragment(t, n), first=args.drop_first) for t, n in args.drop_message
    ]
    if args.drop_index:
        rules.append(drop(nth(*args.drop_index), first=args.drop_first))
    return impairment(args).conditions(rules)


def run(args: argparse.Namespace) -> int:
    """Run the proxy until interrupted or ``--duration`` passes."""
    impaired = conditions(args)
    c2s = impaired if args.direction in ("c2s", "both") else LinkConditions()
    s2c = impaired if args.direction in ("s2c", "both") else LinkConditions()

    def emit(obj: dict[str, Any]) -> None:
        print(json.dumps(obj), flush=True)

    def on_observation(flow: Flow, observation: Observation) -> None:
        if args.json:
            emit(flow_dict(flow, observation.as_dict()))
        elif not args.quiet:
            prefix = f"[{flow.name}] " if len(proxy.flows) > 1 else ""
            print(f"{prefix}{observation}", flush=True)

    def on_finding(flow: Flow, finding: Finding) -> None:
        if args.json:
            emit(flow_dict(flow, finding.as_dict()))
        else:
            who = f" [{finding.side}]" if finding.side else ""
            print(f">> {flow.name} {finding.kind}{who}: {finding.message}", flush=True)

    def on_notice(message: str) -> None:
        print(f"proxy: {message}", file=sys.stderr, flush=True)

    proxy = DtlsProxy(
        args.upstream,
        c2s=c2s,
        s2c=s2c,
        seed=args.seed,
        patience=args.patience,
        max_clients=args.max_clients,
        on_observation=on_observation,
        on_finding=on_finding,
        on_notice=on_notice,
        key_log=None if args.keylog is None else KeyLog(args.keylog),
    )

    async def main() -> int:
        try:
            host, port = await proxy.start(*args.listen)
        except ProxyStartError as exc:
            proxy.close()
            print(f"aiodtls proxy: {exc}", file=sys.stderr, flush=True)
            return 1
        upstream = f"{args.upstream[0]}:{args.upstream[1]}"
        if args.json:
            emit({"type": "listening", "listen": f"{host}:{port}", "upstream": upstream})
        else:
            print(f"proxy listening on {host}:{port} -> {upstream}", file=sys.stderr, flush=True)
        try:
            if args.duration is None:
                await asyncio.Event().wait()
            else:
                await asyncio.sleep(args.duration)
        finally:
            proxy.close()
        return 0

    code = 0
    # main() already closed every socket; Ctrl-C is the normal way to stop.
    with contextlib.suppress(KeyboardInterrupt):
        code = asyncio.run(main())
    _print_counters(proxy, args.max_clients)
    return code


def _print_counters(proxy: DtlsProxy, max_clients: int) -> None:
    """On exit, what the proxy dropped for its own reasons (never an impairment)."""
    counters = proxy.counters
    lines = [
        (
            counters.refused_datagrams,
            f"datagrams from new clients dropped (--max-clients {max_clients} reached)",
        ),
        (counters.backlog_dropped, "datagrams dropped waiting for an upstream socket to open"),
        (counters.upstream_errors, "datagrams toward the upstream lost to socket errors"),
    ]
    for count, what in lines:
        if count:
            print(f"proxy: {count} {what}", file=sys.stderr, flush=True)
