"""The command-line tools that run in-process: ``aiodtls demo`` and ``aiodtls netsim``."""

from __future__ import annotations

import json

import pytest

from aiodtls.cli import main


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
