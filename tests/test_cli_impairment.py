"""One impairment vocabulary for ``aiodtls netsim`` and ``aiodtls proxy`` (issue 14).

Both commands take their impairment options from ``aiodtls.cli.impairment``: the same words
parse to the same :class:`~aiodtls.impairment.Impairment`, the proxy's one direction is that
impairment's :meth:`~aiodtls.impairment.Impairment.conditions` plus its targeted rules, and
the spellings from before (the proxy's ``--drop``, its ``--delay-ms D:JITTER``) still parse.
Bad values are covered as one-line errors in ``test_cli_errors.py``.
"""

from __future__ import annotations

import argparse
from types import ModuleType

import pytest

from aiodtls.cli import netsim, proxy
from aiodtls.cli.impairment import impairment
from aiodtls.impairment import GilbertElliott, Impairment

PROXY_REQUIRED = ("--upstream", "127.0.0.1:9")
SAME_WORDS = (
    "--loss", "0.1",
    "--burst", "0.05:0.5",
    "--delay-ms", "30",
    "--jitter-ms", "5",
    "--reorder", "0.2",
    "--duplicate", "0.3",
    "--path-mtu", "600",
)  # fmt: skip
EXPECTED = Impairment(
    loss=0.1,
    burst=GilbertElliott(0.05, 0.5),
    delay=0.030,
    jitter=0.005,
    reorder=0.2,
    duplicate=0.3,
    path_mtu=600,
)


def parse(command: ModuleType, *argv: str) -> argparse.Namespace:
    """``argv`` as the command's own parser reads it (its ``add_parser``, as ``aiodtls`` does)."""
    commands = argparse.ArgumentParser(prog="aiodtls").add_subparsers(dest="command")
    command.add_parser(commands)
    extra = PROXY_REQUIRED if command is proxy else ()
    return commands.choices[command.__name__.rsplit(".", 1)[1]].parse_args([*extra, *argv])


@pytest.mark.parametrize("command", [netsim, proxy])
def test_the_same_words_give_the_same_impairment(command: ModuleType) -> None:
    assert impairment(parse(command, *SAME_WORDS)) == EXPECTED


def test_the_proxy_direction_is_the_impairment_plus_its_targeted_rules() -> None:
    args = parse(proxy, *SAME_WORDS, "--drop-index", "2", "--drop-first", "1")
    impaired = proxy.conditions(args)
    assert impaired.rules and impaired.rules[0].first == 1
    assert impaired == EXPECTED.conditions(impaired.rules)
    assert (impaired.loss, impaired.mtu, impaired.jitter) == (0.1, 600, 0.005)


def test_only_the_default_delay_differs() -> None:
    # A simulated path needs an RTT of its own; a real path already has one.
    assert impairment(parse(netsim)) == Impairment(delay=0.025)
    assert impairment(parse(proxy)) == Impairment(delay=0.0)


@pytest.mark.parametrize("command", [netsim, proxy])
def test_delay_with_jitter_is_delay_and_jitter(command: ModuleType) -> None:
    short = impairment(parse(command, "--delay-ms", "40:10"))
    assert short == impairment(parse(command, "--delay-ms", "40", "--jitter-ms", "10"))
    assert (short.delay, short.jitter) == (0.040, 0.010)
    # The later option wins, as for any repeated option.
    assert impairment(parse(command, "--delay-ms", "40:10", "--jitter-ms", "2")).jitter == 0.002


def test_the_proxy_old_drop_is_loss() -> None:
    assert impairment(parse(proxy, "--drop", "0.25")) == impairment(parse(proxy, "--loss", "0.25"))
    assert parse(proxy, "--drop", "0.25", "--drop-index", "0").drop_index == [0]


def test_old_spellings_are_not_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse(proxy, "--help")
    text = capsys.readouterr().out
    assert "--loss P" in text and "--drop-message" in text
    assert "--drop P" not in text and "--drop D" not in text


def test_the_sweep_accepts_a_pair_for_burst_as_before() -> None:
    # aiodtls.sweep.Impairment is this class; a (p_gb, p_bg) pair still means the same chain.
    from aiodtls.sweep import Impairment as SweepImpairment

    assert SweepImpairment is Impairment
    pair = Impairment(loss=0.1, burst=(0.05, 0.5)).conditions()
    assert pair == Impairment(loss=0.1, burst=GilbertElliott(0.05, 0.5)).conditions()
