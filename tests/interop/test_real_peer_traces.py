"""The traced real-process failures of issue 9, replayed through the benchmark's seeded relay.

``benchmarks/real_peers_loss.py`` runs real client and server processes through a seeded UDP
relay (30 % loss each way, RTT 50 ms, 576-byte datagrams, a 3-certificate RSA chain). At
8d75aaf, ``openssl s_client`` against an aiodtls server failed with seeds 17 and 22: the
server used up its transmissions of the certificate flight while only parts of the client's
flight 5 arrived (a held epoch-1 Finished, a ChangeCipherSpec), ended the handshake, and the
client's later complete copies reached a server that had forgotten it (docs/reliability.md).
The same seeds give the same drop decisions per datagram index, so this reruns those cases;
the server now goes quiet at its limit instead and the handshakes complete. Seed 30 failed
before any handshake state existed: every ClientHello of s_client (0, 1, 3, 7.3, 15.5, 31.6 s)
or the HelloVerifyRequest answering it was lost; the server now sends two copies of each
HelloVerifyRequest (within the ClientHello's size) and it completes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = [pytest.mark.interop, pytest.mark.slow]

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "real_peers_loss.py"


def test_traced_s_client_failures_at_30_percent_loss_now_complete(
    require_binary: Callable[[str], str], tmp_path: Path
) -> None:
    require_binary("openssl")
    out = tmp_path / "runs.json"
    argv = [sys.executable, str(BENCHMARK), "--loss", "0.3", "--seeds", "17,22,30"]
    argv += ["--pairing", "openssl-aiodtls", "--quiet", "--json", str(out)]
    argv += ["--base-port", "22000"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    runs = json.loads(out.read_text())["runs"]
    assert {r["seed"]: r["completed"] for r in runs} == {17: True, 22: True, 30: True}, runs
