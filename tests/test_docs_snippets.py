"""The Python blocks of the guides in ``docs/guide-*.md`` run, so the docs cannot rot.

A fenced block whose info string is exactly ``python`` must be a self-contained program: it
is run as a script (``sys.executable``, ``PYTHONPATH=src``, a fresh temporary directory, a
20 s timeout) and must exit 0; snippets state their facts with ``assert``. A fragment that is
not meant to run is fenced as ``python-skip`` (or ``text``); any other ``py...`` info string
is refused, so that a typo cannot silently skip a block.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDES = sorted((ROOT / "docs").glob("guide-*.md"))
EXPECTED_GUIDES = {"guide-asyncio.md", "guide-sync.md", "guide-sans-io.md", "guide-netsim.md"}
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
RUNNABLE, SKIPPED = "python", "python-skip"


def fenced_blocks(path: Path) -> list[tuple[str, str, int]]:
    """(info string, code, line number) of every fenced block in a Markdown file."""
    text = path.read_text(encoding="utf-8")
    return [
        (m.group(1).strip(), m.group(2), text.count("\n", 0, m.start()) + 1)
        for m in FENCE.finditer(text)
    ]


def python_blocks() -> list[object]:
    """Every runnable block of every guide, as a pytest parameter named ``guide:line``."""
    return [
        pytest.param(code, id=f"{path.name}:{line}")
        for path in GUIDES
        for info, code, line in fenced_blocks(path)
        if info == RUNNABLE
    ]


def test_every_guide_exists_and_has_a_runnable_block() -> None:
    assert {path.name for path in GUIDES} >= EXPECTED_GUIDES
    for path in GUIDES:
        assert any(info == RUNNABLE for info, _, _ in fenced_blocks(path)), path.name


def test_python_fences_are_runnable_or_explicitly_skipped() -> None:
    for path in GUIDES:
        for info, _, line in fenced_blocks(path):
            if info.startswith("py"):
                assert info in (RUNNABLE, SKIPPED), f"{path.name}:{line}: ```{info}"


@pytest.mark.parametrize("code", python_blocks())
def test_snippet_runs(code: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    script = tmp_path / "snippet.py"
    script.write_text(code, encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
    )
    where = request.node.callspec.id
    assert result.returncode == 0, f"{where}\n{result.stdout}\n{result.stderr}"
