"""The impairment options of ``aiodtls netsim`` and ``aiodtls proxy``: one vocabulary.

Owns the option names, their syntax and their meaning, and the building of an
:class:`~aiodtls.impairment.Impairment` from the parsed arguments; the commands own
everything else (the proxy's targeted ``--drop-*`` rules and ``--direction``, the
simulator's endpoints). The same word means the same thing in both commands:

========================================  ====================================================
``--loss P``                              independent loss probability per datagram
``--burst P_GOOD_TO_BAD:P_BAD_TO_GOOD``   Gilbert-Elliott burst loss on top (all lost while
                                          bad)
``--delay-ms D[:JITTER]``                 one-way delay in ms (``:JITTER`` is ``--jitter-ms``)
``--jitter-ms J``                         extra one-way delay, uniform in ``[0, J)`` ms
``--reorder P``                           probability a datagram is held back and overtaken
``--duplicate P``                         probability a datagram arrives twice
``--path-mtu N``                          datagrams larger than ``N`` bytes vanish
========================================  ====================================================

Each applies to every impaired direction (both in the simulator; ``--direction`` in the
proxy). Only the default delay differs: a simulated path needs one (25 ms), a real path has
its own (0). Spellings from before the vocabulary was shared still parse, hidden from
``--help`` (the proxy's ``--drop P`` is ``--loss P``). A bad value is an argparse error: one
line, exit status 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ..impairment import GilbertElliott, Impairment
from . import checks

__all__ = ["add_impairment_options", "burst", "impairment", "probability"]


def probability(text: str) -> float:
    """A probability, 0..1."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise argparse.ArgumentTypeError(f"expected a probability from 0 to 1, got {text!r}")
    return value


def burst(text: str) -> GilbertElliott:
    """``P_GOOD_TO_BAD:P_BAD_TO_GOOD``: a Gilbert-Elliott chain losing all while bad."""
    try:
        good_to_bad, bad_to_good = (probability(x) for x in text.split(":"))
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(
            f"expected P_GOOD_TO_BAD:P_BAD_TO_GOOD, two probabilities, got {text!r}"
        ) from None
    return GilbertElliott(good_to_bad, bad_to_good)


def _delay(text: str) -> tuple[float, float | None]:
    """``D`` or ``D:JITTER`` in milliseconds, neither negative."""
    delay, colon, jitter = text.partition(":")
    try:
        values = (float(delay), float(jitter) if colon else None)
    except ValueError:
        values = (-1.0, None)
    if not all(v is None or 0.0 <= v < float("inf") for v in values):
        raise argparse.ArgumentTypeError(f"expected D or D:JITTER in milliseconds, got {text!r}")
    return values


class _DelayAction(argparse.Action):
    """``--delay-ms D[:JITTER]``: the delay, and the jitter when given (as ``--jitter-ms``)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        assert isinstance(values, tuple)
        delay, jitter = values
        namespace.delay_ms = delay
        if jitter is not None:
            namespace.jitter_ms = jitter


def add_impairment_options(
    parser: argparse.ArgumentParser,
    *,
    delay_ms: float,
    old_spellings: Sequence[tuple[str, str]] = (),
) -> None:
    """Add the impairment options to ``parser``, with a default one-way delay of
    ``delay_ms``; each ``(option, dest)`` of ``old_spellings`` is a hidden alias."""
    group = parser.add_argument_group(
        "impairment", "what the path does to datagrams, in each impaired direction"
    )

    def chance(option: str, what: str) -> argparse.Action:
        return group.add_argument(
            option, type=probability, default=0.0, metavar="P", help=f"{what} (default 0)"
        )

    added = {
        "loss": chance("--loss", "independent loss probability per datagram"),
        "burst": group.add_argument(
            "--burst",
            type=burst,
            metavar="P_GOOD_TO_BAD:P_BAD_TO_GOOD",
            help="Gilbert-Elliott burst loss on top of --loss (all lost while bad)",
        ),
        "delay_ms": group.add_argument(
            "--delay-ms",
            type=_delay,
            action=_DelayAction,
            default=delay_ms,
            metavar="D[:JITTER]",
            help=f"one-way delay in ms (default {delay_ms:g}); D:JITTER also sets --jitter-ms",
        ),
        "jitter_ms": group.add_argument(
            "--jitter-ms",
            type=checks.non_negative(),
            default=0.0,
            metavar="J",
            help="extra one-way delay drawn uniformly from [0, J) ms (default 0)",
        ),
        "reorder": chance("--reorder", "probability that a datagram is overtaken by later ones"),
        "duplicate": chance("--duplicate", "probability that a datagram arrives twice"),
        "path_mtu": group.add_argument(
            "--path-mtu",
            type=checks.non_negative(int),
            metavar="N",
            help="datagrams larger than N bytes vanish (a path MTU black hole)",
        ),
    }
    for spelling, dest in old_spellings:
        original = added[dest]
        assert original.type is not None  # every option above parses its value
        group.add_argument(
            spelling,
            dest=dest,
            type=original.type,
            action=type(original),
            default=argparse.SUPPRESS,
            help=argparse.SUPPRESS,
        )


def impairment(args: argparse.Namespace) -> Impairment:
    """The path the impairment options describe."""
    return Impairment(
        loss=args.loss,
        burst=args.burst,
        delay=args.delay_ms / 1000,
        jitter=args.jitter_ms / 1000,
        reorder=args.reorder,
        duplicate=args.duplicate,
        path_mtu=args.path_mtu,
    )
