"""The picture of an ``aiodtls bench`` run (``aiodtls bench --plot FILE``): each metric's
ratio, its spread over the repetitions and its goal, drawn with matplotlib (the ``plot``
extra, imported only here).

Owns how a run's ratios become a figure; it reads the JSON form of a run (what ``--json``
prints), so an earlier run can be drawn again without measuring (``--from-json``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["plot_ratios"]


def _rows(report: Mapping[str, Any]) -> list[tuple[str, float, float, float, float | None]]:
    """(label, ratio, lowest, highest, goal) of every metric that has a comparison, in the
    run's order: aiodtls / pyOpenSSL, or aiodtls / plain UDP for the echo."""
    rows = []
    goals = report.get("goals", {})
    for name, metric in report["metrics"].items():
        ratios = report["ratios"].get(name, {})
        other = "plain_udp" if "plain_udp" in ratios else "pyopenssl"
        if other not in ratios:
            continue
        low, high = metric.get(f"{other}_ratio_range", [ratios[other]] * 2)
        rows.append((metric["label"], ratios[other], low, high, goals.get(name)))
    return rows


def plot_ratios(report: Mapping[str, Any], path: str) -> int:
    """Draw ``report`` (the ``--json`` object of one run) to ``path`` (PNG, SVG or PDF, by its
    suffix); returns how many metrics were drawn. Raises ImportError without matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _rows(report)
    if not rows:
        raise ValueError("the run has no metric compared with pyOpenSSL or plain UDP")
    labels = [row[0] for row in rows]
    ratios = [row[1] for row in rows]
    below = [row[1] - row[2] for row in rows]
    above = [row[3] - row[1] for row in rows]
    figure, axes = plt.subplots(figsize=(10, 0.45 * len(rows) + 1.6))
    positions = list(range(len(rows)))[::-1]
    colours = [
        "tab:green" if row[4] is not None and row[1] >= row[4] else "tab:blue" for row in rows
    ]
    axes.barh(positions, ratios, xerr=[below, above], color=colours, capsize=3)
    for position, row in zip(positions, rows, strict=True):
        axes.text(row[3] + 0.02, position, f"{row[1]:.2f}", va="center", fontsize=8)
        if row[4] is not None:
            axes.plot([row[4]] * 2, [position - 0.4, position + 0.4], color="tab:red", lw=2)
    axes.axvline(1.0, color="black", lw=0.8)
    right = max(max(row[3] for row in rows), max((row[4] or 0.0) for row in rows), 1.0)
    axes.set_xlim(0.0, right * 1.12)
    axes.set_yticks(positions, labels, fontsize=8)
    axes.set_xlabel(
        "aiodtls rate / pyOpenSSL rate (echo: / plain asyncio UDP)\n"
        "bar: median, whisker: min-max of the repetitions, red: goal, green: goal met"
    )
    env = report.get("environment", {})
    axes.set_title(
        f"aiodtls bench: Python {env.get('python', '?')}, cryptography "
        f"{env.get('cryptography', '?')}, {env.get('openssl', 'no pyOpenSSL')}",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return len(rows)
