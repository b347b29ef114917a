"""What ``aiodtls`` loads to start, ``--version``, ``--help``, and the package metadata.

The start-up test checks imports, not time (timing figures are in docs/cli.md): after
``aiodtls client --help`` or ``aiodtls server --help`` has run, none of the simulator, proxy
or diagnosis modules are in ``sys.modules``, and ``aiodtls --help`` imports no sub-command
module at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import aiodtls
from aiodtls.cli import COMMANDS

ROOT = Path(__file__).parents[1]

# aiodtls.pki is not here: it is the public certificate API, and the configuration reads
# fingerprints with it.
HEAVY = (
    "aiodtls.netsim",
    "aiodtls.proxy",
    "aiodtls.diagnose",
    "aiodtls.impairment",
    "aiodtls.sweep",
    "aiodtls.dissect",
    "aiodtls.cli.demo",
    "aiodtls.cli.netsim",
    "aiodtls.cli.proxy",
    "aiodtls.cli.impairment",
)


def modules_after(*argv: str) -> set[str]:
    """The ``aiodtls`` modules loaded once ``main(argv)`` has run, in a fresh interpreter."""
    script = (
        "import json, sys\n"
        "from aiodtls.cli import main\n"
        "try:\n"
        f"    main({list(argv)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stdout = sys.__stdout__\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('aiodtls'))\n"
        "print('\\nMODULES ' + json.dumps(loaded))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    line = result.stdout.rsplit("MODULES ", 1)[1]
    return set(json.loads(line))


@pytest.mark.parametrize("command", ["client", "server"])
def test_client_and_server_do_not_load_the_simulator_proxy_or_diagnosis(command: str) -> None:
    loaded = modules_after(command, "--help")
    assert f"aiodtls.cli.{command}" in loaded  # the check sees what was imported
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_top_level_help_imports_no_sub_command() -> None:
    loaded = modules_after("--help")
    assert not {module for module, _ in COMMANDS.values()} & loaded


def test_top_level_help_lists_every_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aiodtls", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    for name, (_, help_text) in COMMANDS.items():
        assert f"{name}    " in result.stdout or f"{name} " in result.stdout
        assert help_text[:30] in " ".join(result.stdout.split())


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_in_the_table_has_its_help(name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aiodtls", name, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: aiodtls {name}")


def test_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aiodtls", "--version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert result.stdout == f"aiodtls {aiodtls.__version__}\n"
    pyproject = (ROOT / "pyproject.toml").read_text()
    # One source for the version: the package's __version__ (no tomllib on Python 3.10).
    assert 'dynamic = ["version"]' in pyproject
    assert 'version = { attr = "aiodtls.__version__" }' in pyproject


def test_license_in_the_metadata() -> None:
    """The project's public address is not known inside this repository (no remote, no
    mention anywhere), so ``[project.urls]`` is left out rather than invented."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    license_text = (ROOT / "LICENSE").read_text()
    assert 'license = { text = "BSD-3-Clause" }' in pyproject
    assert "BSD 3-Clause License" in license_text
    assert '"License :: OSI Approved :: BSD License"' in pyproject


def test_readme_recommends_a_virtual_environment_and_links_the_cli_and_api_docs() -> None:
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    assert quick_start.strip().splitlines() == [
        "python3 -m pip install -q . && python3 -m aiodtls demo",
        "python3 -m pip install -q '.[test]' && python3 -m pytest -q",
    ]
    assert "python3 -m venv .venv && . .venv/bin/activate" in readme
    assert "docs/cli.md" in readme and "docs/api.md" in readme
    for page in ("docs/cli.md", "docs/api.md"):
        assert os.path.exists(ROOT / page)
