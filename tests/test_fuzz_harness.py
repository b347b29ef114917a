"""The atheris target (fuzz/fuzz_datagrams.py) starts and runs: it snapshots live connections
by deep copy before every datagram, so any state a connection grows that cannot be copied
(the running transcript hash did, unnoticed) breaks the fuzz campaign of docs/security.md."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

TARGET = Path(__file__).resolve().parent.parent / "fuzz" / "fuzz_datagrams.py"


@pytest.mark.slow
def test_fuzz_target_records_its_handshakes_and_runs() -> None:
    if importlib.util.find_spec("atheris") is None:
        if os.environ.get("CI") or os.environ.get("AIODTLS_REQUIRE_INTEROP"):
            pytest.fail("atheris is not installed, but CI requires the fuzz target to run")
        pytest.skip("atheris is not installed (pip install '.[fuzz]')")
    done = subprocess.run(
        [sys.executable, str(TARGET), "-runs=300", "-seed=1"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Done 300 runs" in done.stderr
