"""``--cid LEN`` on ``aiodtls client``, ``aiodtls server`` and ``aiodtls netsim --rebind-at``
(issue 12): the commands say whether connection IDs were negotiated (I1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aiodtls.cli import main
from pairs import PSK, PSK_IDENTITY

PSK_ARGS = ["--psk", PSK.hex(), "--psk-identity", PSK_IDENTITY.decode()]
ENV = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1] / "src"))
ENV.pop("SSLKEYLOGFILE", None)


def client_and_server(client_cid: list[str], server_cid: list[str]) -> tuple[str, str]:
    """Run ``aiodtls server --echo --count 1`` and one ``aiodtls client``; their stderr."""
    command = [sys.executable, "-m", "aiodtls", "server", "--port", "0", "--count", "1"]
    server = subprocess.Popen(
        [*command, "--echo", *PSK_ARGS, *server_cid], env=ENV, stderr=subprocess.PIPE, text=True
    )
    try:
        assert server.stderr is not None
        first = server.stderr.readline()
        port = int(first.rsplit(":", 1)[1])
        target = f"127.0.0.1:{port}"
        client = subprocess.run(
            [
                sys.executable,
                "-m",
                "aiodtls",
                "client",
                target,
                *PSK_ARGS,
                "--wait",
                "0.3",
                *client_cid,
            ],
            env=ENV,
            input="hello\n",
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert client.returncode == 0, client.stderr
        assert client.stdout == "hello\n"
        assert server.wait(20) == 0
        return client.stderr, server.stderr.read()
    finally:
        server.kill()
        server.wait()


def test_client_and_server_print_the_negotiated_cids() -> None:  # I1
    client_err, server_err = client_and_server(["--cid", "2"], ["--cid", "4"])
    client_line = next(line for line in client_err.splitlines() if "handshake ok" in line)
    server_line = next(line for line in server_err.splitlines() if "handshake ok" in line)
    assert "connection IDs: ours " in client_line and "connection IDs: ours " in server_line
    ours, peers = client_line.split("ours ")[1].split(" peer's ")
    assert len(bytes.fromhex(ours)) == 2 and len(bytes.fromhex(peers[:8])) == 4
    assert f"ours {peers[:8]} peer's {ours}" in server_line


def test_client_says_when_the_server_does_not_negotiate_cids() -> None:  # I1
    client_err, server_err = client_and_server(["--cid", "0"], [])
    assert "connection IDs not negotiated" in client_err
    assert "connection IDs" not in server_err


def test_netsim_rebinding_shows_the_contrast(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["netsim", "--rebind-at", "2", "--cid", "4", "--json"]) == 0
    with_cids = json.loads(capsys.readouterr().out)
    assert with_cids["negotiated"] and with_cids["survived"]
    assert with_cids["pings_after"] == with_cids["sent_after"] == 4
    assert with_cids["peer_address_changes"] == 1
    assert main(["netsim", "--rebind-at", "2"]) == 0
    table = capsys.readouterr().out
    assert "no connection IDs (not negotiated)" in table
    assert "the session was lost" in table
    assert "4 not a ClientHello" in table
