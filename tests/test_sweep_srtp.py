"""``Scenario(srtp=True)`` and ``aiodtls netsim --srtp``: DTLS-SRTP handshakes on the simulator
(issue 11), the same seeds as plain ones."""

from __future__ import annotations

import json
import subprocess
import sys

from aiodtls.srtp import SrtpProfile
from aiodtls.sweep import SRTP_PROFILES, Impairment, Scenario, run_handshake


def test_srtp_scenario_configures_use_srtp_on_both_sides() -> None:
    client, server = Scenario(psk=True, srtp=True).configurations()
    assert client.srtp_profiles == server.srtp_profiles == SRTP_PROFILES
    assert SRTP_PROFILES[0] is SrtpProfile.SRTP_AEAD_AES_128_GCM
    plain_client, plain_server = Scenario(psk=True).configurations()
    assert plain_client.srtp_profiles is None and plain_server.srtp_profiles is None


def test_srtp_handshakes_complete_and_carry_the_extension() -> None:
    # A client that offers use_srtp fails unless the server agrees, so completing means the
    # profile was negotiated; the hellos carry the extension, hence the extra bytes.
    for seed in range(5):
        srtp = run_handshake(Scenario(psk=True, srtp=True), seed)
        plain = run_handshake(Scenario(psk=True), seed)
        assert srtp.completed and plain.completed, (srtp, plain)
        assert srtp.bytes > plain.bytes, (srtp, plain)
    lossy = Scenario(psk=True, srtp=True, impairment=Impairment(loss=0.2))
    assert all(run_handshake(lossy, seed).completed for seed in range(20))


def test_netsim_cli_srtp_option() -> None:
    command = [sys.executable, "-m", "aiodtls", "netsim", "--runs", "10", "--psk"]
    command += ["--loss", "0.2", "--srtp", "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["parameters"]["srtp"] is True
    assert result["completed"] == result["runs"] == 10
    table = subprocess.run(command[:-1], capture_output=True, text=True, timeout=60)
    assert table.returncode == 0, table.stderr
    assert "DTLS-SRTP" in table.stdout.splitlines()[0]
