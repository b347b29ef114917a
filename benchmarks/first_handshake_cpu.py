#!/usr/bin/env python3
"""CPU of each turn of a fresh CLI process's first handshake against its later ones.

Runs the configuration of ``benchmarks/real_latency.py`` (RSA-4096 -> RSA-4096 -> RSA-2048
chain verified against the root and the name ``localhost``, ECDHE-RSA-AES128-GCM-SHA256,
576-byte datagrams) with the real CLI commands, each in a process of its own, through a relay
in this process that holds every datagram 25 ms (``--delay``), as real_latency.py's does:
``aiodtls server --count N`` and one client process that runs ``aiodtls client`` N times in a
row (the CLI's ``main``, each time with a new socket and a new connection, stdin empty).
Handshake 1 is what a fresh process pays; handshakes 2..N the same code paths warm.

Inside each peer hooks on the selector's ``select``, ``socket.socket.recvfrom``/``sendto``
and the "handshake ok" line record ``time.process_time_ns()``, the minor page faults and the
garbage collections so far. A *turn* is the process's CPU from the selector's wake-up that
brought the first datagram it receives after it last sent to the first datagram of its
answer (when ``sendto`` is called), so it includes the processing of every datagram of the
flight::

    server: hvr (ClientHello -> HelloVerifyRequest), flight4, flight6
    client: ch2 (HelloVerifyRequest -> ClientHello), flight5, finish (-> "handshake ok")

``after`` is what the process spent from its answer's first datagram until it next received
(the rest of the flight, anything done after sending): CPU off the critical path of that turn.
Per-process CPU is ``CLOCK_PROCESS_CPUTIME_ID``: it does not count time spent waiting for a
CPU, so it is much less sensitive to the machine's load than wall-clock time (it still moves
by some 10 % with cache and frequency effects). Each row is the median over ``--processes``
pairs of fresh processes.

    python3 benchmarks/first_handshake_cpu.py --processes 7 --handshakes 3 --certs /tmp/lat-certs
    python3 benchmarks/first_handshake_cpu.py --processes 1 --profile flight5 --certs /tmp/lat-certs

``--profile TURN`` runs cProfile (timed with ``time.process_time``) over that turn in every
handshake of the reacting process and prints, per function, its own CPU in handshake 1 and
the mean of the later ones (means over the processes), the largest first-pass surplus first
(``--sort-warm``: the largest warm cost first). cProfile's own overhead is several times the
code's and evens out what a first pass costs more, so it tells where the time goes, not
what the first pass adds. ``--src`` runs another tree (``git archive REV src | tar -x``).
``--gc-freeze`` / ``--no-warm-up`` change the peers, to measure what ``gc.freeze()`` after
start-up or the CLI's ``warm_up_crypto`` are worth; ``--dry-runs N`` adds N complete
in-memory handshakes after the warm-up (what a first pass through the Python code costs;
a measure, not a remedy). ``--delay 0`` drops the relay's delay.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import heapq
import itertools
import json
import resource
import select
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

TURNS = {"server": ("hvr", "flight4", "flight6"), "client": ("ch2", "flight5", "finish")}
"Each side's turns of a lossless DTLS 1.2 full handshake with a cookie exchange, in order."


# --- inside a peer process --------------------------------------------------------------------


def run_peer(role: str, argv: list[str], repeat: int, log: Path, options: dict[str, Any]) -> int:
    """Run ``aiodtls <argv>`` (``repeat`` times for a client) with the hooks installed."""
    import cProfile
    import gc
    import selectors

    import aiodtls.cli.common as common
    from aiodtls.cli import main

    events: list[tuple[str, tuple[int, int, int], int, object]] = []

    def clock() -> tuple[int, int, int]:
        """CPU ns so far, minor page faults so far, garbage collections so far."""
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        return time.process_time_ns(), faults, sum(g["collections"] for g in gc.get_stats())

    profile_turn = options.get("profile")
    profiles: list[cProfile.Profile] = []
    state: dict[str, Any] = {"sent": True, "profiling": False, "handshake": 0, "woke": (0, 0, 0)}

    counts: dict[object, int] = {}

    def turn_begins(key: object) -> None:
        state["sent"] = False
        index = counts[key] = counts.get(key, 0) + 1
        if profile_turn is not None and TURNS[role][index - 1 : index] == (profile_turn,):
            profiles.append(cProfile.Profile(time.process_time))
            state["profiling"] = True
            profiles[-1].enable()

    def turn_ends() -> None:
        if state["profiling"]:
            profiles[-1].disable()
            state["profiling"] = False

    original_select = selectors.DefaultSelector.select

    def select(self: selectors.DefaultSelector, timeout: float | None = None) -> Any:
        ready = original_select(self, timeout)
        if ready:
            state["woke"] = clock()
        return ready

    selectors.DefaultSelector.select = select  # type: ignore[method-assign]
    original_recvfrom = socket.socket.recvfrom
    original_sendto = socket.socket.sendto

    def recvfrom(self: socket.socket, *args: Any) -> Any:
        result = original_recvfrom(self, *args)
        key = result[1][1] if role == "server" else state["handshake"]
        # A turn's CPU counts from the selector's wake-up that brought its first datagram.
        events.append(("recv", state["woke"] if state["sent"] else clock(), len(result[0]), key))
        if state["sent"]:
            turn_begins(key)
        return result

    def sendto(self: socket.socket, *args: Any) -> Any:
        if not state["sent"]:
            turn_ends()
        events.append(("send", clock(), len(args[0]), None))
        state["sent"] = True
        return original_sendto(self, *args)

    socket.socket.recvfrom = recvfrom  # type: ignore[method-assign,assignment]
    socket.socket.sendto = sendto  # type: ignore[method-assign,assignment]

    describe = common.describe_handshake

    def described(*args: Any, **kwargs: Any) -> None:
        if role == "client":
            turn_ends()
            events.append(("ok", clock(), 0, None))
            state["sent"] = True
        describe(*args, **kwargs)

    for module in ("aiodtls.cli.client", "aiodtls.cli.server"):
        __import__(module)
        sys.modules[module].describe_handshake = described  # type: ignore[attr-defined]
    warm = common.warm_up_crypto

    def warm_up(config: Any) -> None:
        if not options.get("no_warm_up"):
            warm(config)
        if options.get("dry_runs"):
            dry_runs(config, Path(options["certs"]), options["dry_runs"])
        if options.get("gc_freeze"):
            gc.collect()
            gc.freeze()

    for module in ("aiodtls.cli.client", "aiodtls.cli.server"):
        sys.modules[module].warm_up_crypto = warm_up  # type: ignore[attr-defined]

    status = 0
    for _ in range(repeat):
        state["handshake"] += 1
        events.append(("start", clock(), 0, None))
        state["sent"] = True
        status = main(argv) or status
    stats = []
    for profile in profiles:
        import pstats

        table = pstats.Stats(profile).stats  # type: ignore[attr-defined]
        stats.append({f"{f[2]} ({Path(f[0]).name}:{f[1]})": v[2] for f, v in table.items()})
    log.write_text(json.dumps({"events": events, "profiles": stats}))
    return status


def dry_runs(config: Any, certs: Path, count: int) -> None:
    """``count`` complete handshakes in memory between a copy of ``config`` and a peer (a
    client against a server holding the benchmark's chain; a server, without its session
    store, against a client that verifies nothing): how much a warm-up that ran the whole
    handshake could win. A measure only: the CLI could not do this (a client has no server
    its checks would accept)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from aiodtls.bench.peers import aiodtls_pair
    from aiodtls.configuration import DtlsConfiguration

    ours = copy.copy(config)
    if config.is_client:
        peer = DtlsConfiguration(is_client=False, versions=config.versions)
        peer.certificate_chain = x509.load_pem_x509_certificates((certs / "chain.pem").read_bytes())
        peer.private_key = load_pem_private_key((certs / "key.pem").read_bytes(), None)  # type: ignore[assignment]
    else:
        ours.session_store = None
        peer = DtlsConfiguration(
            is_client=True, verify_mode=ssl.CERT_NONE, versions=config.versions
        )
    peer.cipher_suites = list(config.cipher_suites)
    for _ in range(count):
        if config.is_client:
            aiodtls_pair(ours, peer)
        else:
            aiodtls_pair(peer, ours)


# --- the parent -------------------------------------------------------------------------------


class DelayRelay(threading.Thread):
    """Forward every datagram ``delay`` seconds late between the clients and the server (the
    path of real_latency.py without its bookkeeping), each client from a socket of its own so
    that the server tells them apart: with the delay each turn starts, as there, after the
    process slept for a round trip."""

    def __init__(self, server_port: int, delay: float) -> None:
        super().__init__(daemon=True)
        self.delay = delay
        self.server_port = server_port
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.port = self.front.getsockname()[1]
        self.backs: dict[Any, socket.socket] = {}
        self.stopped = False

    def _back(self, client: Any) -> socket.socket:
        if client not in self.backs:
            back = self.backs[client] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            back.connect(("127.0.0.1", self.server_port))
        return self.backs[client]

    def run(self) -> None:
        pending: list[tuple[float, int, socket.socket, bytes, Any]] = []
        order = itertools.count()
        while not self.stopped:
            now = time.monotonic()
            wait = min(0.05, pending[0][0] - now) if pending else 0.05
            watched = [self.front, *self.backs.values()]
            readable, _, _ = select.select(watched, [], [], max(0.0, wait))
            for sock in readable:
                data, addr = sock.recvfrom(65535)
                if sock is self.front:
                    target, to = self._back(addr), None
                else:
                    client = next(c for c, b in self.backs.items() if b is sock)
                    target, to = self.front, client
                due = time.monotonic() + self.delay
                heapq.heappush(pending, (due, next(order), target, data, to))
            now = time.monotonic()
            while pending and pending[0][0] <= now:
                _, _, target, data, to = heapq.heappop(pending)
                with contextlib.suppress(OSError):
                    if to is None:
                        target.send(data)
                    else:
                        target.sendto(data, to)

    def stop(self) -> None:
        """Stop forwarding and close the sockets."""
        self.stopped = True
        self.join()
        for sock in (self.front, *self.backs.values()):
            sock.close()


Turn = tuple[float, float, int, int]
"(CPU ms in the turn, CPU ms after its answer, minor page faults and collections in the turn)"


def handshakes(events: list[list[Any]], role: str) -> list[dict[str, Turn]]:
    """Per handshake, each of its turns.

    A turn opens at a received datagram when the process has sent since its last turn and
    closes at its next datagram sent (or "handshake ok"); the server's turns are grouped by
    the client's address, the client's by run of ``main``. The first three of each are the
    handshake's (a close_notify and its answer come after them)."""
    turns: dict[object, list[list[float]]] = {}
    open_turn: tuple[object, list[int]] | None = None
    answered: tuple[object, int] | None = None
    for kind, (cpu, faults, collections), _size, key in events:
        if kind == "start":
            open_turn = answered = None
        elif kind == "recv" and open_turn is None:
            if answered is not None and turns.get(answered[0]):
                turns[answered[0]][-1][1] = (cpu - answered[1]) / 1e6
            open_turn = (key, [cpu, faults, collections])
        elif kind in ("send", "ok") and open_turn is not None:
            start = open_turn[1]
            turns.setdefault(open_turn[0], []).append(
                [(cpu - start[0]) / 1e6, 0.0, faults - start[1], collections - start[2]]
            )
            answered, open_turn = (open_turn[0], cpu), None
    return [
        {
            name: (t[0], t[1], int(t[2]), int(t[3]))
            for name, t in zip(TURNS[role], found[:3], strict=True)
        }
        for found in turns.values()
        if len(found) >= 3
    ]


def run_pair(args: argparse.Namespace, creds: Any, env: dict[str, str], scratch: Path) -> Any:
    """One fresh server and one fresh client process; their logs."""
    from real_peers_loss import IANA_SUITE, SERVER_NAME

    options = json.dumps(
        {
            "profile": args.profile,
            "gc_freeze": args.gc_freeze,
            "no_warm_up": args.no_warm_up,
            "certs": str(creds.chain.parent),
            "dry_runs": args.dry_runs,
        }
    )
    me = [sys.executable, str(Path(__file__).resolve()), "--options", options]
    server_log, client_log = scratch / "server.json", scratch / "client.json"
    server_cmd = [
        *me, "--peer", "server", "--log", str(server_log), "--",
        "server", "--host", "127.0.0.1", "--port", "0", "--cert", str(creds.chain),
        "--key", str(creds.key), "--cipher", IANA_SUITE, "--mtu", "576", "--dtls12",
        "--count", str(args.handshakes),
    ]  # fmt: skip
    server = subprocess.Popen(server_cmd, env=env, stderr=subprocess.PIPE, text=True)
    assert server.stderr is not None
    port = ""
    for line in server.stderr:
        if line.startswith("listening on"):
            port = line.split(":")[-1].strip()
            break
    relay = DelayRelay(int(port), args.delay)
    relay.start()
    client_cmd = [
        *me, "--peer", "client", "--repeat", str(args.handshakes), "--log", str(client_log), "--",
        "client", f"127.0.0.1:{relay.port}", "--ca", str(creds.root), "--server-name", SERVER_NAME,
        "--cipher", IANA_SUITE, "--mtu", "576", "--wait", "0", "--dtls12",
    ]  # fmt: skip
    client = subprocess.run(
        client_cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120
    )
    server.wait(timeout=60)
    relay.stop()
    if client.returncode or server.returncode:
        raise SystemExit(f"a peer failed: client {client.returncode} {client.stderr[-2000:]}")
    return json.loads(server_log.read_text()), json.loads(client_log.read_text())


def print_profile(args: argparse.Namespace, runs: list[list[dict[str, float]]]) -> None:
    """Per function, its own CPU in the turn of handshake 1 and in the later ones (means over
    the processes), the functions whose first pass costs most over their warm pass first."""

    def mean(tables: list[dict[str, float]]) -> dict[str, float]:
        names = set().union(*tables)
        return {f: statistics.mean(t.get(f, 0.0) for t in tables) for f in names}

    first = mean([run[0] for run in runs])
    warm = mean([table for run in runs for table in run[1:]] or [run[0] for run in runs])
    names = sorted(set(first) | set(warm), key=lambda f: warm.get(f, 0) - first.get(f, 0))
    if args.sort_warm:
        names.sort(key=lambda f: -warm.get(f, 0))
    print(f"\n# {args.profile}: own CPU ms under cProfile, handshake 1 / later handshakes")
    print(f"{sum(first.values()) * 1e3:7.3f} {sum(warm.values()) * 1e3:7.3f}  total")
    for name in names[: args.top]:
        print(f"{first.get(name, 0) * 1e3:7.3f} {warm.get(name, 0) * 1e3:7.3f}  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=5, help="pairs of fresh processes")
    parser.add_argument("--handshakes", type=int, default=3, help="handshakes per process")
    parser.add_argument("--src", help="the aiodtls tree to run (default: this checkout's src)")
    parser.add_argument("--certs", help="directory keeping the chain (made on first use)")
    parser.add_argument(
        "--delay", type=float, default=0.025, help="one-way delay of the relay (default 0.025 s)"
    )
    parser.add_argument("--profile", choices=[t for ts in TURNS.values() for t in ts])
    parser.add_argument("--sort-warm", action="store_true", help="--profile: by warm cost")
    parser.add_argument("--top", type=int, default=25, help="rows of the --profile table")
    parser.add_argument("--gc-freeze", action="store_true", help="gc.freeze() after warm-up")
    parser.add_argument(
        "--dry-runs",
        type=int,
        default=0,
        metavar="N",
        help="after the warm-up, N complete in-memory handshakes (a measure, not a remedy)",
    )
    parser.add_argument("--no-warm-up", action="store_true", help="skip warm_up_crypto")
    parser.add_argument("--peer", choices=("server", "client"), help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--log", help=argparse.SUPPRESS)
    parser.add_argument("--options", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
        return run_peer(args.peer, rest, args.repeat, Path(args.log), json.loads(args.options))

    from real_peers_loss import REPO_ROOT, aiodtls_env, credentials

    env = aiodtls_env(Path(args.src) if args.src else REPO_ROOT / "src")
    rows: dict[tuple[str, int], list[Turn]] = {}
    runs: list[list[dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        creds = credentials(args.certs, scratch)
        for _ in range(args.processes):
            server_log, client_log = run_pair(args, creds, env, scratch)
            for role, log in (("server", server_log), ("client", client_log)):
                for number, turns in enumerate(handshakes(log["events"], role), 1):
                    for name, value in turns.items():
                        rows.setdefault((name, number), []).append(value)
                if args.profile in TURNS[role]:
                    runs.append(log["profiles"])
    order = ("hvr", "ch2", "flight4", "flight5", "flight6", "finish")
    numbers = range(1, args.handshakes + 1)
    print(
        f"# per turn, median of {args.processes} process pairs: CPU ms in the turn / after the"
        " answer, minor page faults, garbage collections"
    )
    print("| turn | " + " | ".join(f"handshake {n}" for n in numbers) + " |")
    print("|---|" + "---|" * len(numbers))
    totals = {n: [0.0, 0.0, 0.0, 0.0] for n in numbers}
    for name in order:
        cells = []
        for n in numbers:
            values = rows.get((name, n), [])
            medians = [statistics.median(v[i] for v in values) if values else 0 for i in range(4)]
            for i in range(4):
                totals[n][i] += medians[i]
            cells.append("{:.2f} / {:.2f}, {:g} pf, {:g} gc".format(*medians))
        print(f"| {name} | " + " | ".join(cells) + " |")
    sums = ["{:.2f} / {:.2f}, {:g} pf, {:g} gc".format(*totals[n]) for n in numbers]
    print("| sum | " + " | ".join(sums) + " |")
    if runs:
        print_profile(args, runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
