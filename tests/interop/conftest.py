"""Fixtures of the interop tests: credentials on disk, peer processes, binary checks.

Every test gets a :class:`~interop.peers.PeerSet` whose processes share one deadline
(:data:`TEST_DEADLINE` seconds), so a hung peer fails its test well within 30 s, and whose
process groups are killed at teardown whatever happened.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .peers import InteropFiles, PeerSet, write_interop_files

TEST_DEADLINE = 25.0
"Seconds a single interop test may take before every wait in it fails."


@pytest.fixture(scope="session")
def interop_files(tmp_path_factory: pytest.TempPathFactory) -> InteropFiles:
    """Certificates, keys and the PSK file, written once per session."""
    return write_interop_files(tmp_path_factory.mktemp("interop-pki"))


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[PeerSet]:
    """The processes of one test; all of them are stopped when the test ends."""
    peer_set = PeerSet(tmp_path, time.monotonic() + TEST_DEADLINE)
    try:
        yield peer_set
    finally:
        peer_set.stop_all()


@pytest.fixture(scope="session")
def require_binary() -> Callable[[str], str]:
    """Returns a function that resolves a peer binary or skips the test when it is missing.

    With ``CI`` or ``AIODTLS_REQUIRE_INTEROP`` set in the environment a missing binary fails
    the test instead: CI installs every peer (.ci/run), so a skip there would hide a gap.
    """

    def resolve(name: str) -> str:
        path = shutil.which(name)
        if path is not None:
            return path
        message = f"interop peer {name!r} is not installed (Debian: openssl / gnutls-bin)"
        if os.environ.get("CI") or os.environ.get("AIODTLS_REQUIRE_INTEROP"):
            pytest.fail(message + " but CI/AIODTLS_REQUIRE_INTEROP requires it")
        pytest.skip(message)

    return resolve
