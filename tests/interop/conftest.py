"""Fixtures of the interop tests: credentials on disk, peer processes, binary checks.

Starting the peers themselves is :mod:`interop.launch`'s.

Every test gets a :class:`~interop.peers.PeerSet` whose processes share one deadline
(:data:`TEST_DEADLINE` seconds), so a hung peer fails its test well within 30 s, and whose
process groups are killed at teardown whatever happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from . import launch
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
    """:func:`~interop.launch.require_binary`: a peer binary's path, or skip (fail in CI)."""
    return launch.require_binary
