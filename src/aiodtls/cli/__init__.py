"""The ``aiodtls`` command: one sub-command per module in this package, imported on demand.

:data:`COMMANDS` maps each sub-command to its module and its one-line help; only the module
of the command being run is imported (``aiodtls client`` never loads the simulator, the proxy
or the diagnosis code), and ``aiodtls --help`` imports none. Each module has
``add_parser(commands)`` registering its parser with ``run(args) -> int`` as the default.

:func:`main` is the error boundary: a user mistake (a bad option, an unreadable or wrong file,
a port in use, a host that does not resolve) is printed as ONE line,
``aiodtls <command>: error: <what went wrong>; <what to do>``, with exit status 2 when the
command line is wrong and 1 when the run failed; never a traceback. Set ``AIODTLS_TRACEBACK=1``
to see the traceback behind such a line.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

__all__ = ["COMMANDS", "main"]

COMMANDS: dict[str, tuple[str, str]] = {
    "bench": (
        "aiodtls.cli.bench",
        "measure handshakes, records, echo, memory next to pyOpenSSL and the crypto floor",
    ),
    "cert": (
        "aiodtls.cli.cert",
        "make certificates and keys (PEM) for aiodtls server/client, print the fingerprint",
    ),
    "client": ("aiodtls.cli.client", "connect to a DTLS server; stdin lines go out as records"),
    "demo": (
        "aiodtls.cli.demo",
        "a DTLS 1.2 handshake over a simulated lossy path and its timeline (--dtls13: 1.3)",
    ),
    "netsim": (
        "aiodtls.cli.netsim",
        "run many simulated handshakes (DTLS 1.2 unless --dtls13/--versions) under an "
        "impairment and report statistics",
    ),
    "proxy": (
        "aiodtls.cli.proxy",
        "a UDP proxy that impairs a DTLS path and diagnoses the handshakes through it",
    ),
    "server": ("aiodtls.cli.server", "serve DTLS clients; print or echo what they send"),
}
"""Sub-command -> (module, one-line help for ``aiodtls --help``); one line adds a command."""


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose usage errors are one line (no usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see '{self.prog} --help'\n")


class _Version(argparse.Action):
    """``--version``: print ``aiodtls <version>`` (looked up only when asked)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from .. import __version__

        print(f"aiodtls {__version__}")
        parser.exit()


def _chosen(argv: Sequence[str]) -> str | None:
    """The sub-command named on the command line (the first word that is not an option)."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def _parser(chosen: str | None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="aiodtls", description="Pure-Python DTLS 1.2 and 1.3 tools built on aiodtls."
    )
    parser.add_argument(
        "--version", action=_Version, nargs=0, help="print the version of aiodtls and exit"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        if name == chosen:
            importlib.import_module(module).add_parser(commands)
        else:  # listed in --help, never parsed: only the chosen command's module is loaded
            commands.add_parser(name, help=help_text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aiodtls`` console script and ``python -m aiodtls``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = _chosen(argv)
    args = _parser(chosen).parse_args(argv)
    from .checks import CliError, describe_os_error

    prog = f"aiodtls {args.command}"
    try:
        result: int = args.run(args)
    except KeyboardInterrupt:
        return 130
    except CliError as exc:
        _traceback_if_asked()
        print(f"{prog}: error: {exc}", file=sys.stderr, flush=True)
        return exc.status
    except OSError as exc:  # files and sockets the checks did not name (DtlsError included)
        _traceback_if_asked()
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{prog}: error: {where}{describe_os_error(exc)}", file=sys.stderr, flush=True)
        return 1
    except ValueError as exc:  # a configuration value the checks let through
        _traceback_if_asked()
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(
            f"{prog}: error: {message}; see '{prog} --help'",
            file=sys.stderr,
            flush=True,
        )
        return 2
    sys.stdout.flush()
    return result


def _traceback_if_asked() -> None:
    if os.environ.get("AIODTLS_TRACEBACK"):
        import traceback

        traceback.print_exc()
