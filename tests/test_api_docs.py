"""The API reference builds from the docstrings, and every public name has one.

Runs ``docs/build_api.py`` (the command docs/api.md gives) into a temporary directory with
pdoc, in a subprocess: it must succeed, write a page per module and list no public name
without a docstring. A second test gives the docstring check a module with undocumented
names, so it is known to catch them.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("pdoc")

BUILD = Path(__file__).parents[1] / "docs" / "build_api.py"


def build_api() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_api", BUILD)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # 10 s of pdoc: run by .ci/run's slow pass
def test_api_reference_builds_and_every_public_name_has_a_docstring(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(BUILD), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    missing = [line for line in result.stderr.splitlines() if line.startswith("no docstring")]
    assert missing == []
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "index.html").exists()
    for page in ("aiodtls.html", "aiodtls/asyncio.html", "aiodtls/sync.html"):
        assert (tmp_path / page).exists(), page
    configuration = (tmp_path / "aiodtls" / "configuration.html").read_text()
    assert "load_cert_chain" in configuration
    assert "Load our PEM certificate chain" in configuration  # the method's docstring


def test_docstring_check_finds_undocumented_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "undocumented_example.py").write_text(
        '"""A module."""\n'
        '__all__ = ["LIMIT", "Thing", "helper"]\n'
        "LIMIT = 3\n"
        "class Thing:\n"
        "    def method(self) -> None:\n"
        "        pass\n"
        "def helper() -> None:\n"
        "    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    missing = build_api().missing_docstrings(["undocumented_example"])
    assert sorted(missing) == [
        "undocumented_example.LIMIT",
        "undocumented_example.Thing",
        "undocumented_example.Thing.method",
        "undocumented_example.helper",
    ]
