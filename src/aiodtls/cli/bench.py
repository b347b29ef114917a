"""``aiodtls bench``: aiodtls next to pyOpenSSL and the ``cryptography`` floor, in one run.

The measuring is ``aiodtls.bench``; this module picks the metrics, prints the table or the
JSON object, and says which comparisons could not be made (no pyOpenSSL installed).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

from ..bench import GOALS, METRICS, BenchSettings, MetricResult, environment, run_metrics
from . import checks

__all__ = ["add_parser", "print_table"]


def add_parser(commands: Any) -> None:
    """Register the sub-command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "bench",
        help="measure handshakes, records, echo, memory next to pyOpenSSL and the crypto floor",
        description="Measure aiodtls, pyOpenSSL (same group, suite, cookie, EMS and "
        "verification settings) and the bare cryptography calls in one run: batches "
        "interleaved, medians quoted. Ratios: aiodtls/pyOpenSSL rate (above 1: aiodtls is "
        "faster) and aiodtls time / floor time.",
    )
    parser.add_argument(
        "--metric",
        action="append",
        choices=sorted(METRICS),
        metavar="NAME",
        help=f"measure only this metric (repeatable): {', '.join(METRICS)}",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny counts: runs every metric in seconds; the numbers mean nothing (CI)",
    )
    parser.add_argument(
        "--repetitions",
        type=checks.positive(int),
        metavar="N",
        help=f"interleaved timed batches of each contender (default {BenchSettings().repetitions})",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--plot",
        metavar="FILE",
        help="also draw the ratios, their spread and the goals to FILE (.png, .svg or .pdf; "
        "needs matplotlib: pip install 'aiodtls[plot]')",
    )
    parser.add_argument(
        "--from-json",
        metavar="FILE",
        help="measure nothing: draw --plot from an earlier run's --json output",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Measure the chosen metrics and print them (or draw an earlier run: ``--from-json``)."""
    if args.from_json is not None:
        if args.plot is None:
            print("aiodtls bench: --from-json only draws a plot: add --plot FILE", file=sys.stderr)
            return 2
        try:
            with open(args.from_json, encoding="utf-8") as file:
                report = json.load(file)
            if not isinstance(report, dict) or not {"metrics", "ratios"} <= set(report):
                raise ValueError("it has no 'metrics' and 'ratios'")
        except (OSError, ValueError) as exc:
            print(
                f"aiodtls bench: cannot read {args.from_json} as an 'aiodtls bench --json' "
                f"output ({exc})",
                file=sys.stderr,
            )
            return 2
        return _plot(report, args.plot)
    settings = BenchSettings.quick() if args.quick else BenchSettings()
    if args.repetitions is not None:
        settings = dataclasses.replace(settings, repetitions=args.repetitions)
    names = args.metric or list(METRICS)
    results = []
    for result in run_metrics(names, settings):
        if sys.stderr.isatty():
            print(f"measured {result.name}", file=sys.stderr, flush=True)
        results.append(result)
    report = {
        "environment": environment(),
        "settings": dataclasses.asdict(settings),
        "metrics": {r.name: r.as_dict() for r in results},
        "ratios": {r.name: r.ratios for r in results},
        "goals": {r.name: GOALS[r.name] for r in results if r.name in GOALS},
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(results, settings)
    return _plot(report, args.plot) if args.plot is not None else 0


def _plot(report: dict[str, Any], path: str) -> int:
    """Draw the run's ratios to ``path``; a missing matplotlib or an unwritable file is one
    line and exit status 2."""
    from ..bench.plot import plot_ratios

    try:
        plot_ratios(report, path)
    except ImportError:
        print(
            "aiodtls bench: --plot needs matplotlib: pip install 'aiodtls[plot]'", file=sys.stderr
        )
        return 2
    except (OSError, ValueError) as exc:
        print(f"aiodtls bench: cannot draw {path}: {exc}", file=sys.stderr)
        return 2
    print(f"plot written to {path}", file=sys.stderr)
    return 0


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def print_table(results: list[MetricResult], settings: BenchSettings) -> None:
    """The human-readable report: versions, how it was measured, one row per metric."""
    env = environment()
    openssl = (
        f"pyOpenSSL {env['pyopenssl']} ({env['openssl']})" if "pyopenssl" in env else "no pyOpenSSL"
    )
    print(
        f"Python {env['python']}, cryptography {env['cryptography']}, {openssl}, "
        f"{env['machine']}, {env['cpus']} CPUs"
    )
    print(
        f"medians of {settings.repetitions} interleaved repetitions; ratio = aiodtls / pyOpenSSL "
        "(echo: / plain UDP) in each repetition, median and min-max; x floor = aiodtls time / "
        "time of the bare crypto calls"
    )
    width = max(len(r.label) for r in results)
    print(
        f"{'metric':{width}} {'aiodtls':>9} {'pyOpenSSL':>9} {'ratio':>17} {'floor':>9} "
        f"{'x floor':>7} {'goal':>5}"
    )
    notes: list[str] = []
    for r in results:
        other = "plain_udp" if r.plain_udp is not None else "pyopenssl"
        ratio = r.ratios.get(other)
        spread = r.ratio_range(other)
        ratio_text = "-" if ratio is None else f"{ratio:.2f}"
        if ratio is not None and spread is not None:
            ratio_text += f" ({spread[0]:.2f}-{spread[1]:.2f})"
        floor = r.ratios.get("floor")
        print(
            f"{r.label:{width}} {_number(r.aiodtls):>9} "
            f"{_number(r.plain_udp if other == 'plain_udp' else r.pyopenssl):>9} "
            f"{ratio_text:>17} {_number(r.floor):>9} "
            f"{'-' if floor is None else f'{floor:.1f}x':>7} "
            f"{f'{GOALS[r.name]:.1f}' if r.name in GOALS else '-':>5}"
        )
        if r.note and r.note not in notes:
            notes.append(r.note)
    for note in notes:
        print(f"note: {note}")
