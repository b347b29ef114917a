"""Every script in ``examples/`` runs for real over loopback UDP.

Each example is a subprocess (``sys.executable``, ``PYTHONPATH=src``) with a timeout; servers
bind port 0 and the test reads the port from their ``listening on HOST:PORT`` line, so runs
never collide. Servers are stopped with SIGINT (what Ctrl-C sends) and killed if they do not
stop, whatever the test's outcome.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiodtls.pki import generate_chain

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TIMEOUT = 20.0
PSK = "000102030405060708090a0b0c0d0e0f"
CLIENTS = ("asyncio_echo_client.py", "blocking_client.py")


def example_env() -> dict[str, str]:
    """The environment of an example: the package from ``src``, unbuffered output."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def default_sigint() -> None:
    """Let Ctrl-C (SIGINT) raise KeyboardInterrupt in the child even if our parent ignores it
    (a shell does that for background jobs, and Python then keeps it ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_example(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run an example to completion and capture its output."""
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        env=example_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


class ServerProcess:
    """``asyncio_echo_server.py`` in a subprocess; a thread collects its output lines."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(EXAMPLES / "asyncio_echo_server.py"), "--port", "0", *args],
            env=example_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=default_sigint if sys.platform != "win32" else None,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            self.port = int(self.wait_for("listening on ").rpartition(":")[2])
        except BaseException:
            self.kill()
            raise

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float = TIMEOUT) -> str:
        """The next output line that contains ``text`` (earlier lines are skipped)."""
        while True:
            try:
                line = self._queue.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no {text!r} line; output so far: {self.lines}") from None
            if line is None:
                raise AssertionError(f"server exited before {text!r}: {self.lines}")
            if text in line:
                return line

    def stop(self) -> str:
        """Ctrl-C the server, wait for it to exit, and return everything it printed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=TIMEOUT)
        finally:
            self.kill()
        self._reader.join(timeout=TIMEOUT)
        return "\n".join(self.lines)

    def wait(self) -> int:
        """Wait for the server to exit by itself; its exit code."""
        code = self.process.wait(timeout=TIMEOUT)
        self._reader.join(timeout=TIMEOUT)
        return code

    def kill(self) -> None:
        """Make sure the process is gone."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def start_server() -> Iterator[type[ServerProcess]]:
    """Start example servers; any still running at the end of the test are killed."""
    started: list[ServerProcess] = []

    class Tracked(ServerProcess):
        def __init__(self, *args: str) -> None:
            super().__init__(*args)
            started.append(self)

    yield Tracked
    for server in started:
        server.kill()


DEFAULT_SUITE = "TLS_AES_128_GCM_SHA256"
"""What the examples negotiate: they keep the default versions, so DTLS 1.3, with a
certificate or a PSK alike."""


def assert_echoed(result: subprocess.CompletedProcess[str], count: int = 3) -> None:
    """The client's handshake line, one echo per message, a clean exit."""
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f"handshake ok: DTLSv1.3 {DEFAULT_SUITE} in " in out
    assert " retransmissions" in out
    for i in range(1, count + 1):
        assert f"echo: message {i}\n" in out
    assert f"{count}/{count} messages echoed" in out


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_help(name: str) -> None:
    result = run_example(name, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:")


def test_clients_with_a_throwaway_chain(start_server: type[ServerProcess], tmp_path: Path) -> None:
    root = tmp_path / "root.pem"
    server = start_server("--write-root", str(root))
    assert root.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    for client in CLIENTS:
        result = run_example(client, "--port", str(server.port), "--ca", str(root))
        assert_echoed(result)
        assert "server certificate: CN=localhost" in result.stdout
        server.wait_for("closed (peer sent close_notify)")
    out = server.stop()
    assert out.count(f": handshake ok, {DEFAULT_SUITE}") == 2
    assert out.count(": echo b'message 3'") >= 2
    assert out.count("closed (peer sent close_notify)") == 2
    assert out.endswith("server stopped")
    assert server.process.returncode == 0


@pytest.mark.slow  # long (README command budget): in the slow pass of .ci/run
def test_clients_with_a_psk(start_server: type[ServerProcess]) -> None:
    server = start_server("--psk", PSK, "--psk-identity", "client1")
    port = str(server.port)
    for client in CLIENTS:
        result = run_example(client, "--port", port, "--psk", PSK, "--count", "2")
        assert_echoed(result, count=2)
        assert "psk identity: client1" in result.stdout
        server.wait_for("closed (peer sent close_notify)")
        # Another identity is refused by name.
        refused = run_example(client, "--port", port, "--psk", PSK, "--psk-identity", "eve")
        assert refused.returncode == 1
        assert "connection failed: peer sent alert unknown_psk_identity" in refused.stdout
        server.wait_for("handshake failed: unknown PSK identity b'eve'")
    out = server.stop()
    assert out.count(f": handshake ok, {DEFAULT_SUITE} (client1)") == 2
    assert out.count("handshake failed: unknown PSK identity b'eve'") == 2


@pytest.mark.slow  # long (README command budget): in the slow pass of .ci/run
def test_server_with_certificate_files(start_server: type[ServerProcess], tmp_path: Path) -> None:
    chain, stranger = generate_chain(), generate_chain()
    (tmp_path / "chain.pem").write_bytes(chain.chain_pem())
    (tmp_path / "key.pem").write_bytes(chain.key_pem())
    (tmp_path / "root.pem").write_bytes(chain.root_pem())
    (tmp_path / "other-root.pem").write_bytes(stranger.root_pem())
    server = start_server("--cert", str(tmp_path / "chain.pem"), "--key", str(tmp_path / "key.pem"))
    port = str(server.port)
    result = run_example("blocking_client.py", "--port", port, "--ca", str(tmp_path / "root.pem"))
    assert_echoed(result)
    # A client that trusts another root refuses the server's chain.
    other = str(tmp_path / "other-root.pem")
    refused = run_example("asyncio_echo_client.py", "--port", port, "--ca", other)
    assert refused.returncode == 1
    assert "connection failed: certificate verification failed" in refused.stdout
    server.wait_for("handshake failed: peer sent alert bad_certificate")
    assert "server stopped" in server.stop()


def test_server_stops_after_seconds(start_server: type[ServerProcess]) -> None:
    server = start_server("--psk", PSK, "--seconds", "0.2")
    assert server.wait() == 0
    assert server.lines[-1] == "server stopped"


def test_own_socket_webrtc_style() -> None:
    result = run_example("own_socket_webrtc_style.py")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "stun: binding response from 127.0.0.1:" in out
    assert f"handshake ok: DTLSv1.3 {DEFAULT_SUITE} in " in out
    assert "echo: hello over a shared port" in out
    for name, size in (("key", 16), ("salt", 14)):
        for side in ("client", "server"):
            line = next(x for x in out.splitlines() if x.startswith(f"srtp {side} write {name}:"))
            assert len(bytes.fromhex(line.split(":")[1].strip())) == size
    assert "server derived the same keying material: yes" in out
    assert "stun 1" in out and "dtls " in out
