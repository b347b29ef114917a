"""The command-line tools that run in-process: ``aiodtls demo`` and ``aiodtls netsim``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiodtls.cli import main
from aiodtls.suites import ProtocolVersion
from aiodtls.sweep import Impairment, Scenario, summarize, sweep


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_demo_is_deterministic_for_a_seed(capsys: pytest.CaptureFixture[str]) -> None:
    code, first = run(capsys, "demo", "--seed", "3")
    assert code == 0
    again_code, again = run(capsys, "demo", "--seed", "3")
    assert again_code == 0
    assert first == again
    assert "handshake complete after" in first
    assert "echoed after" in first
    assert "LOST" in first  # 25 % loss each way: this seed loses datagrams
    assert "retransmits flight" in first
    assert "Certificate message is" in first


def test_demo_with_psk(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "demo", "--psk", "--loss", "0", "--messages", "1")
    assert code == 0
    assert "TLS_PSK_WITH_AES_128_GCM_SHA256" in out
    assert "retransmissions: client 0, server 0" in out


def test_demo_with_srtp(capsys: pytest.CaptureFixture[str]) -> None:  # issue 11
    code, out = run(capsys, "demo", "--psk", "--srtp", "--loss", "0.2", "--messages", "1")
    assert code == 0
    assert "use_srtp=[" in out  # the timeline's dissected hellos name the offer
    assert (
        "DTLS-SRTP SRTP_AEAD_AES_128_GCM: master key 16 B + salt 12 B each way "
        "(client and server derived the same)"
    ) in out


def test_netsim_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(
        capsys, "netsim", "--runs", "20", "--loss", "0.1", "--psk", "--timers", "both", "--json"
    )
    assert code == 0
    result = json.loads(out)
    for key in ("runs", "completed", "p50", "p90", "p99", "max", "retransmissions", "bytes"):
        assert key in result
    assert result["runs"] == 20
    assert result["timers"] == "aiodtls"
    assert result["openssl"]["runs"] == 20
    assert result["p99_ratio"] == pytest.approx(result["p99"] / result["openssl"]["p99"])


def test_netsim_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "netsim", "--runs", "10", "--psk", "--loss", "0.2")
    assert code == 0
    assert "10 handshakes: 20% loss" in out
    assert "aiodtls" in out and "p99" in out


def test_netsim_resume(capsys: pytest.CaptureFixture[str]) -> None:  # issue 12
    code, out = run(capsys, "netsim", "--runs", "10", "--psk", "--loss", "0.2", "--resume")
    assert code == 0
    assert "PSK, resumed session" in out
    assert "aiodtls: 10/10 resumed the session" in out
    code, out = run(capsys, "netsim", "--runs", "5", "--psk", "--resume", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["resumed"] == 5 and result["parameters"]["resume"] is True


def test_cli_server_serves_clients_concurrently(tmp_path: Path) -> None:  # issue 4
    """``aiodtls server`` runs on asyncio: several clients are served at the same time."""
    import asyncio
    import os
    import socket
    import subprocess
    import sys

    from aiodtls.asyncio import connect
    from certs import server_chain
    from pairs import client_config

    files = server_chain("ecdsa").write_pem(tmp_path)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1] / "src"))
    command = [sys.executable, "-m", "aiodtls", "server", "--port", str(port), "--echo"]
    command += ["--cert", str(files.chain), "--key", str(files.key), "--count", "5"]
    server = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        assert "listening" in server.stderr.readline()

        async def one(i: int) -> bytes:
            async with connect("127.0.0.1", port, configuration=client_config()) as session:
                # All five sessions are open at once before any of them closes.
                await asyncio.sleep(0.2)
                session.send(b"client %d" % i)
                return await asyncio.wait_for(session.recv(), 5)

        async def main() -> list[bytes]:
            return await asyncio.gather(*(one(i) for i in range(5)))

        assert asyncio.run(main()) == [b"client %d" % i for i in range(5)]
        assert server.wait(10) == 0
        assert server.stderr.read().count("handshake ok:") == 5
    finally:
        server.kill()
        server.wait()


def test_netsim_psk_kx_compares_the_versions_like_for_like(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--psk-kx plain`` is ``Scenario.psk_dhe=False`` (PSK suites in DTLS 1.2, psk_ke in DTLS
    1.3), the comparison of docs/reliability.md: the CLI's numbers are the library's."""
    argv = ["netsim", "--runs", "100", "--psk", "--psk-kx", "plain", "--loss", "0.2"]
    code, out = run(capsys, *argv, "--mtu", "576", "--dtls13", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["parameters"]["psk_kx"] == "plain"
    expected = summarize(
        sweep(
            Scenario(
                impairment=Impairment(loss=0.2, delay=0.025),
                mtu=576,
                psk=True,
                psk_dhe=False,
                versions=(ProtocolVersion.DTLSv1_3,),
            ),
            range(100),
        )
    )
    assert result["retransmitted_bytes"] == pytest.approx(expected.retransmitted_bytes)
    assert result["p99"] == pytest.approx(expected.p99)
    code, out = run(capsys, *argv, "--dtls13")
    assert code == 0 and "PSK without (EC)DHE" in out
    assert main(["netsim", "--psk-kx", "dhe"]) == 2  # needs --psk
