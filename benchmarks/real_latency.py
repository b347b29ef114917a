#!/usr/bin/env python3
"""Lossless real-process handshake latency, and where each side spends it.

The path of ``benchmarks/real_peers_loss.py`` (a relay holding every datagram 25 ms each way,
RTT 50 ms; 576-byte datagrams; the RSA-4096 -> RSA-4096 -> RSA-2048 chain, verified by the
client against the root and the name ``localhost``; ECDHE-RSA-AES128-GCM-SHA256) without loss,
one handshake at a time, the contenders taking turns: round r runs seed r of every contender
(aiodtls -> aiodtls, s_client -> s_server, the mixed pairings; with several
``--aiodtls-rev`` every aiodtls pairing once per revision) before round r+1, so a machine
whose load drifts slows them alike. Time to handshake is as in real_peers_loss.py: from the
relay's receipt of the client's first datagram to the client printing that it finished.

Besides the total, every run is cut into the turns of the handshake from the relay's
timestamps. Consecutive datagrams in one direction form a burst (a flight); a side's
*reaction* to a burst is the time from that burst's last datagram reaching it (the relay's
receipt + 25 ms) to the first datagram of its answer reaching the relay, and ``finish`` is the
client's reaction to the server's last flight (to its "finished" line). In a lossless
handshake the turns are::

    hvr      server: ClientHello -> HelloVerifyRequest
    ch2      client: HelloVerifyRequest -> ClientHello with the cookie
    flight4  server: ClientHello -> ServerHello ... ServerHelloDone (ECDHE key, RSA signature)
    flight5  client: flight 4 -> ClientKeyExchange, CCS, Finished (chain verification, ECDHE)
    flight6  server: flight 5 -> [NewSessionTicket,] CCS, Finished
    finish   client: flight 6 -> "handshake finished" line

so the total is 3 RTT + the six reactions + the time the bursts take to write. A run whose
bursts do not have this shape (a retransmission) is counted in the total but not in the turns.

For each turn the relay also reads the reacting process's ``/proc/PID/schedstat`` (the same
for OpenSSL and aiodtls, nothing runs inside the peers): the CPU time it used from the
delivery of the flight it answers to its answer's first datagram, and the time it spent
runnable but waiting for a CPU, so a slow turn can be told apart as work or as load. The
client's start-up (spawn to first datagram, outside the measured time) is reported too.

    python benchmarks/real_latency.py --runs 20 --aiodtls-rev HEAD
    python benchmarks/real_latency.py --runs 20 --aiodtls-rev 73c9b0d --aiodtls-rev HEAD
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from real_peers_loss import (
    ONE_WAY_DELAY,
    PAIRINGS,
    REPO_ROOT,
    RunResult,
    Testbed,
    _openssl_version,
    aiodtls_env,
    credentials,
    export_revision,
    pairing_label,
    run_handshake,
    working_tree_label,
)

from aiodtls.sweep import percentile

TURNS = ("hvr", "ch2", "flight4", "flight5", "flight6", "finish")
"The reactions of a lossless handshake, in order (see the module docstring)."
REACTING = ("server", "client", "server", "client", "server", "client")
"Which side each turn belongs to."


@dataclass(frozen=True)
class Contender:
    """One pairing run from one aiodtls revision (OpenSSL-only pairings have no revision)."""

    pairing: str
    revision: str
    "Short commit of the aiodtls side, '' for s_client -> s_server."
    testbed: Testbed

    @property
    def label(self) -> str:
        """'aiodtls client -> s_server @ 73c9b0d'."""
        at = f" @ {self.revision}" if self.revision else ""
        return f"{pairing_label(self.pairing)}{at}"


@dataclass
class Sample:
    """One handshake: its total and its turns (None if the bursts were irregular)."""

    contender: str
    seed: int
    completed: bool
    total: float
    turns: dict[str, float] | None
    cpu: dict[str, tuple[float, float]] | None
    "Per turn: (seconds the reacting process ran on a CPU, seconds it waited for one)."
    spans: float
    "Seconds the bursts took from their first datagram to their last, summed."
    startup: float | None
    "Seconds from spawning the client to its first datagram (not part of ``total``)."
    arrivals: list[tuple[float, str, int]] = field(default_factory=list)


def bursts(arrivals: Sequence[tuple[float, str, int]]) -> list[tuple[str, float, float]]:
    """(direction, first time, last time) of each run of datagrams in one direction."""
    out: list[tuple[str, float, float]] = []
    for when, direction, _size in arrivals:
        if out and out[-1][0] == direction:
            out[-1] = (direction, out[-1][1], when)
        else:
            out.append((direction, when, when))
    return out


def turns_of(result: RunResult) -> tuple[dict[str, float] | None, float]:
    """The six reactions of a lossless handshake (None if its bursts are not the six
    flights), and the summed burst spans."""
    flights = bursts(result.arrivals)
    spans = sum(last - first for _, first, last in flights)
    if not result.completed or [d for d, _, _ in flights] != ["c2s", "s2c"] * 3:
        return None, spans
    reactions = [nxt[1] - (prev[2] + ONE_WAY_DELAY) for prev, nxt in itertools.pairwise(flights)]
    reactions.append(result.time - (flights[-1][2] + ONE_WAY_DELAY))
    return dict(zip(TURNS, reactions, strict=True)), spans


def cpu_of_turns(result: RunResult) -> dict[str, tuple[float, float]] | None:
    """Per turn, what the reacting process did from the delivery of the flight it answers
    to its answer's first datagram (the client's last turn: to its "finished" line, read a
    little after it was printed): (seconds on a CPU, seconds runnable but waiting for one),
    from /proc/PID/schedstat. None if the run was not the six flights or marks are missing."""
    flights = bursts(result.arrivals)
    if not result.completed or [d for d, _, _ in flights] != ["c2s", "s2c"] * 3:
        return None
    ends = [first for _, first, _ in flights[1:]] + [result.time]
    out: dict[str, tuple[float, float]] = {}
    for turn, role, end in zip(TURNS, REACTING, ends, strict=True):
        event = "finished" if turn == "finish" else "sent"
        mine = [m for m in result.cpu_marks if m.role == role]
        stop = next((m for m in mine if m.event == event and m.time >= end), None)
        delivered = [m for m in mine if m.event == "delivered" and m.time <= end]
        if stop is None or not delivered or not stop.run_ns:
            return None
        start = delivered[-1]
        out[turn] = ((stop.run_ns - start.run_ns) / 1e9, (stop.wait_ns - start.wait_ns) / 1e9)
    return out


async def measure(
    contenders: list[Contender], seeds: list[int], base_port: int, progress: bool
) -> list[Sample]:
    """Round-robin: every contender once per seed, one handshake at a time.

    The relay runs in this process, so its garbage collector is run between handshakes and
    kept off during them (a full collection here took 36 ms, a pause in every forwarded
    datagram's 25 ms)."""
    samples: list[Sample] = []
    for seed in seeds:
        for contender in contenders:
            gc.collect()
            gc.disable()
            try:
                result, _ = await run_handshake(
                    contender.pairing, 0.0, seed, base_port, contender.testbed, keep_arrivals=True
                )
            finally:
                gc.enable()
            turns, spans = turns_of(result)
            samples.append(
                Sample(
                    contender.label,
                    seed,
                    result.completed,
                    result.time,
                    turns,
                    cpu_of_turns(result),
                    spans,
                    result.startup,
                    result.arrivals,
                )
            )
            if progress:
                outcome = f"{result.time:.3f} s" if result.completed else f"FAILED {result.reason}"
                print(f"seed {seed:3} {contender.label}: {outcome}", file=sys.stderr, flush=True)
    return samples


@dataclass(frozen=True)
class Summary:
    """One contender's medians."""

    contender: str
    runs: int
    completed: int
    p50: float
    p90: float
    turns: dict[str, float]
    "Median of each turn over the regular runs."
    cpu: dict[str, float]
    "Median CPU seconds of the reacting process in each turn."
    wait: dict[str, float]
    "Median seconds the reacting process waited for a CPU in each turn."
    spans: float
    startup: float
    "Median seconds from spawning the client to its first datagram."
    regular: int
    "Runs whose bursts were the six flights."


def summarize(contender: str, samples: list[Sample]) -> Summary:
    """Percentiles of the total (a failure counts as 60 s) and medians of the turns."""
    mine = [s for s in samples if s.contender == contender]
    totals = sorted(s.total for s in mine)
    regular = [s.turns for s in mine if s.turns is not None]
    cpus = [s.cpu for s in mine if s.cpu is not None]
    return Summary(
        contender,
        len(mine),
        sum(s.completed for s in mine),
        percentile(totals, 0.5),
        percentile(totals, 0.9),
        {t: percentile(sorted(r[t] for r in regular), 0.5) if regular else 0.0 for t in TURNS},
        {t: percentile(sorted(c[t][0] for c in cpus), 0.5) if cpus else 0.0 for t in TURNS},
        {t: percentile(sorted(c[t][1] for c in cpus), 0.5) if cpus else 0.0 for t in TURNS},
        percentile(sorted(s.spans for s in mine), 0.5),
        percentile(sorted(s.startup for s in mine if s.startup is not None), 0.5),
        len(regular),
    )


def print_markdown(summaries: list[Summary]) -> None:
    """Two tables: totals and the median of each turn in milliseconds; then, per turn, the
    reacting process's median CPU time and its median wait for a CPU."""
    head = " | ".join(f"{t} ms" for t in TURNS)
    print(f"| client → server | completed | p50 s | p90 s | {head} | bursts ms | client start s |")
    print("|---|---|---|---|" + "---|" * len(TURNS) + "---|---|")
    for s in summaries:
        turns = " | ".join(f"{s.turns[t] * 1000:.1f}" for t in TURNS)
        print(
            f"| {s.contender.replace('->', '→')} | {s.completed}/{s.runs} | {s.p50:.3f} "
            f"| {s.p90:.3f} | {turns} | {s.spans * 1000:.1f} | {s.startup:.3f} |"
        )
    print()
    head = " | ".join(f"{t} {side}" for t, side in zip(TURNS, REACTING, strict=True))
    print(f"| CPU / waiting for a CPU, ms (median) | {head} |")
    print("|---|" + "---|" * len(TURNS))
    for s in summaries:
        cells = " | ".join(f"{s.cpu[t] * 1000:.1f} / {s.wait[t] * 1000:.1f}" for t in TURNS)
        print(f"| {s.contender.replace('->', '→')} | {cells} |")


def load_average() -> str:
    """/proc/loadavg's three figures."""
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "unknown"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="Lossless real-process DTLS 1.2 handshakes (RTT 50 ms, RSA 3-certificate "
        "chain), the pairings taking turns; p50/p90, the median time each side takes to "
        "answer each flight, and the CPU time it used (and waited for) meanwhile."
    )
    parser.add_argument("--runs", type=int, default=20, help="handshakes per contender (20)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument(
        "--pairing",
        default=",".join(PAIRINGS),
        help="comma-separated CLIENT-SERVER pairings (default: all four)",
    )
    parser.add_argument(
        "--aiodtls-rev",
        action="append",
        metavar="REV",
        help="aiodtls revision to run (git archive); repeat to compare revisions in the same "
        "rounds (default: the working tree)",
    )
    parser.add_argument("--certs", metavar="DIR", help="keep the chain here (else temporary)")
    parser.add_argument("--base-port", type=int, default=21100)
    parser.add_argument("--json", metavar="PATH", help="also write every run here")
    parser.add_argument("--quiet", action="store_true", help="no line per run on stderr")
    args = parser.parse_args(argv)
    args.pairing = args.pairing.split(",")
    unknown = [p for p in args.pairing if p not in PAIRINGS]
    if unknown:
        parser.error(f"unknown pairing(s) {unknown}; known: {list(PAIRINGS)}")
    return args


async def main_async(args: argparse.Namespace) -> int:
    """Build the contenders, run the rounds, print the table."""
    with tempfile.TemporaryDirectory(prefix="rlat-") as scratch_name:
        scratch = Path(scratch_name)
        creds = credentials(args.certs, scratch)
        trees: list[tuple[str, Testbed]] = []
        for index, rev in enumerate(args.aiodtls_rev or [None]):
            if rev is None:
                label = working_tree_label()
                trees.append((label, Testbed(creds, aiodtls_env(REPO_ROOT / "src"), label)))
            else:
                src, label = export_revision(rev, scratch / f"rev{index}")
                trees.append((label, Testbed(creds, aiodtls_env(src), label)))
        contenders: list[Contender] = []
        for pairing in args.pairing:
            if "aiodtls" in PAIRINGS[pairing]:
                contenders += [Contender(pairing, label, bed) for label, bed in trees]
            else:
                contenders.append(Contender(pairing, "", trees[0][1]))
        seeds = list(range(args.first_seed, args.first_seed + args.runs))
        load_before, started = load_average(), time.monotonic()
        samples = await measure(contenders, seeds, args.base_port, not args.quiet)
        wall, load_after = time.monotonic() - started, load_average()
    summaries = [summarize(c.label, samples) for c in contenders]
    print(
        f"{len(samples)} handshakes in {wall:.0f} s, one at a time, contenders in turn; "
        f"{_openssl_version()}; Python {sys.version.split()[0]}; {os.cpu_count()} CPUs; "
        f"load average {load_before} before, {load_after} after; {time.strftime('%Y-%m-%d %H:%M')}"
    )
    print_markdown(summaries)
    if args.json:
        document = {
            "summaries": [asdict(s) for s in summaries],
            "samples": [asdict(s) for s in samples],
        }
        Path(args.json).write_text(json.dumps(document, indent=1) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
