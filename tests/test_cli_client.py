"""``aiodtls client`` and ``aiodtls server`` as subprocesses against a real peer.

The peer is an ``aiodtls.asyncio`` server run in a thread of the test (PSK, so no files), or
the ``aiodtls server`` command. Covers: the client exits 0 when the server closes the session
while the client's stdin is still open (it used to abort with "Fatal Python error:
_enter_buffered_busy", status 134, from a daemon thread blocked on stdin); a line longer than
one record arrives whole, as several records; ``SSLKEYLOGFILE`` is honoured by both commands
(and only when set; ``--keylog`` wins).
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from aiodtls import DtlsConfiguration, ServerSessionStore
from aiodtls.asyncio import DtlsSession, connect, serve
from pairs import PSK, PSK_IDENTITY

PSK_ARGS = ["--psk", PSK.hex(), "--psk-identity", PSK_IDENTITY.decode()]


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("SSLKEYLOGFILE", None)
    env.update(extra)
    return env


@contextmanager
def server_thread(
    handler: Callable[[DtlsSession], Awaitable[None]],
    session_store: ServerSessionStore | None = None,
) -> Iterator[int]:
    """An ``aiodtls.asyncio`` PSK server on 127.0.0.1 in a thread; yields its port."""
    ready = threading.Event()
    state: dict[str, object] = {}

    async def main() -> None:
        config = DtlsConfiguration(is_client=False, psk=PSK, session_store=session_store)
        stop = asyncio.Event()
        state["loop"], state["stop"] = asyncio.get_running_loop(), stop
        server = await serve("127.0.0.1", 0, configuration=config, handler=handler)
        state["port"] = server.address[1]
        ready.set()
        async with server:
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        port = state["port"]
        assert isinstance(port, int)
        yield port
    finally:
        loop, stop = state["loop"], state["stop"]
        assert isinstance(loop, asyncio.AbstractEventLoop) and isinstance(stop, asyncio.Event)
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)


def client(port: int, *args: str, **env: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "aiodtls", "client", f"127.0.0.1:{port}", *PSK_ARGS, *args]
    return subprocess.Popen(
        command,
        env=cli_env(**env),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_client_exits_0_when_the_server_closes_while_stdin_is_open() -> None:
    received: list[bytes] = []

    async def one_record_then_close(session: DtlsSession) -> None:
        received.append(await session.recv())
        # Returning closes the session with close_notify.

    with server_thread(one_record_then_close) as port:
        proc = client(port)
        assert proc.stdin is not None
        proc.stdin.write(b"hello\n")
        proc.stdin.flush()  # and stdin stays open: the client must not wait for its end
        try:
            status = proc.wait(timeout=20)
        finally:
            proc.kill()
            _, err = proc.communicate()
    assert received == [b"hello"]
    assert b"Fatal Python error" not in err, err
    assert status == 0, err
    assert b"handshake ok" in err


def test_long_line_arrives_whole_as_several_records() -> None:
    """3000 bytes on one line (the default MTU fits about 1360 per record) arrive as 3000."""
    line = bytes(97 + i % 26 for i in range(3000))
    records: list[bytes] = []

    async def collect(session: DtlsSession) -> None:
        async for data in session:
            records.append(data)

    with server_thread(collect) as port:
        proc = client(port, "--wait", "0.5")
        _, err = proc.communicate(line + b"\n", timeout=30)
    assert proc.returncode == 0, err
    assert b"".join(records) == line
    assert len(records) == 3, [len(r) for r in records]
    assert all(len(r) <= 1400 for r in records)


def test_lines_keep_their_boundaries() -> None:
    """Short lines are still one record each, without their newline."""
    records: list[bytes] = []

    async def collect(session: DtlsSession) -> None:
        async for data in session:
            records.append(data)

    with server_thread(collect) as port:
        proc = client(port, "--wait", "0.5")
        _, err = proc.communicate(b"one\ntwo\nthree", timeout=30)
    assert proc.returncode == 0, err
    assert records == [b"one", b"two", b"three"]


def keylog_lines(path: Path) -> list[str]:
    """One line per handshake: DTLS 1.2's CLIENT_RANDOM (the master secret) or DTLS 1.3's
    CLIENT_TRAFFIC_SECRET_0 (the default versions negotiate DTLS 1.3)."""
    firsts = ("CLIENT_RANDOM ", "CLIENT_TRAFFIC_SECRET_0 ")
    return [line for line in path.read_text().splitlines() if line.startswith(firsts)]


async def _noop(session: DtlsSession) -> None:
    await session.recv()


def test_client_honours_sslkeylogfile(tmp_path: Path) -> None:
    env_log, option_log = tmp_path / "env.log", tmp_path / "option.log"
    with server_thread(_noop) as port:
        proc = client(port, "--wait", "0.2", SSLKEYLOGFILE=str(env_log))
        _, err = proc.communicate(b"x\n", timeout=30)
        assert proc.returncode == 0, err
        assert len(keylog_lines(env_log)) == 1
        # --keylog wins over the environment.
        env_log.unlink()
        proc = client(
            port, "--wait", "0.2", "--keylog", str(option_log), SSLKEYLOGFILE=str(env_log)
        )
        _, err = proc.communicate(b"x\n", timeout=30)
        assert proc.returncode == 0, err
        assert len(keylog_lines(option_log)) == 1
        assert not env_log.exists()


def test_server_honours_sslkeylogfile(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "aiodtls", "server", "--port", "0", "--count", "1"]
    server = subprocess.Popen(
        [*command, "--psk", PSK.hex()],
        env=cli_env(SSLKEYLOGFILE=str(log)),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        first = server.stderr.readline()
        assert first.startswith("listening on 127.0.0.1:"), first
        port = int(first.rsplit(":", 1)[1])

        async def talk() -> None:
            config = DtlsConfiguration(is_client=True, psk=PSK, psk_identity=PSK_IDENTITY)
            config.verify_mode = ssl.CERT_NONE
            async with connect("127.0.0.1", port, configuration=config) as session:
                session.send(b"hi")

        asyncio.run(talk())
        assert server.wait(20) == 0
    finally:
        server.kill()
        server.wait()
    assert len(keylog_lines(log)) == 1


def test_a_line_written_in_pieces_is_one_record() -> None:
    """stdin is read as it comes: a line split across writes is held until its newline."""
    records: list[bytes] = []

    async def collect(session: DtlsSession) -> None:
        async for data in session:
            records.append(data)

    with server_thread(collect) as port:
        proc = client(port, "--wait", "0.5")
        assert proc.stdin is not None
        proc.stdin.write(b"hel")
        proc.stdin.flush()
        time.sleep(0.3)  # the client polls stdin every 20 ms: it sees "hel" alone first
        proc.stdin.write(b"lo\nworld\n")
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    assert records == [b"hello", b"world"]


def test_a_handshake_timeout_says_what_to_check() -> None:
    """A server that swallows every datagram (no ICMP, no answer): the one failure line says
    the handshake timed out and what to look at, and the exit status is 1."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        proc = client(port, "--handshake-timeout", "1")
        _, err = proc.communicate(b"", timeout=30)
    lines = err.decode().strip().splitlines()
    assert proc.returncode == 1, err
    assert len(lines) == 1, lines
    assert "handshake timed out after" in lines[0], lines
    assert "is a DTLS server listening there, and does UDP get through?" in lines[0], lines


def test_psk_without_an_identity_sends_openssl_s_client_default() -> None:
    """``aiodtls client --psk KEY`` alone used to offer PSK suites without an identity and fail
    with "PSK suite negotiated but no PSK configured"; it now sends s_client's default
    identity, which a server with a single key for any identity accepts."""
    identities: list[bytes | None] = []

    async def note_identity(session: DtlsSession) -> None:
        identities.append(session.handshake.psk_identity)

    with server_thread(note_identity) as port:
        command = [sys.executable, "-m", "aiodtls", "client", f"127.0.0.1:{port}"]
        proc = subprocess.Popen(
            [*command, "--psk", PSK.hex()],
            env=cli_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        _, err = proc.communicate(b"", timeout=30)
    assert proc.returncode == 0, err
    assert b"handshake ok" in err
    assert identities == [b"Client_identity"]


def test_a_client_psk_without_identity_is_named_at_connect() -> None:
    config = DtlsConfiguration(is_client=True, psk=PSK)

    async def attempt() -> None:
        async with connect("127.0.0.1", 9, configuration=config):
            pass

    with pytest.raises(ValueError, match="needs a psk_identity"):
        asyncio.run(attempt())


@pytest.mark.parametrize("resumption", [True, False], ids=["resuming-server", "no-store"])
def test_reconnect_says_whether_each_reconnection_resumed(resumption: bool) -> None:  # issue 12
    resumed: list[bool] = []

    async def note(session: DtlsSession) -> None:
        resumed.append(session.session_resumed)

    store = ServerSessionStore() if resumption else None
    with server_thread(note, session_store=store) as port:
        proc = client(port, "--reconnect", "2", "--wait", "0.2")
        _, err = proc.communicate(b"", timeout=30)
    assert proc.returncode == 0, err
    lines = [line for line in err.decode().splitlines() if line.startswith("reconnect")]
    assert len(lines) == 2, err
    if resumption:
        # Both sides keep the default versions: a DTLS 1.3 ticket resumes with the PSK.
        assert all(": session resumed (TLS_AES_128_GCM_SHA256, " in line for line in lines), lines
        assert resumed == [False, True, True]
    else:
        assert all(
            "full handshake, session not resumed (the server offered no" in line for line in lines
        )
        assert resumed == [False, False, False]


@pytest.mark.parametrize(
    ("client_versions", "expected"),
    [([], "DTLSv1.3"), (["--dtls12"], "DTLSv1.2")],
    ids=["default", "dtls12-client"],
)
def test_the_commands_follow_the_default_versions(
    client_versions: list[str], expected: str
) -> None:
    """``aiodtls client`` and ``aiodtls server`` without --dtls12/--dtls13/--versions allow both
    versions, as the library does: together they speak DTLS 1.3, and the default server
    answers a ``--dtls12`` client in DTLS 1.2."""
    command = [sys.executable, "-m", "aiodtls", "server", "--port", "0", "--count", "1"]
    server = subprocess.Popen(
        [*command, "--psk", PSK.hex(), "--echo"], env=cli_env(), stderr=subprocess.PIPE, text=True
    )
    try:
        assert server.stderr is not None
        first = server.stderr.readline()
        assert first.startswith("listening on 127.0.0.1:"), first
        proc = client(int(first.rsplit(":", 1)[1]), *client_versions, "--wait", "0.3")
        out, err = proc.communicate(b"hello\n", timeout=30)
        assert proc.returncode == 0, err
        assert out == b"hello\n"
        assert f"handshake ok: {expected} ".encode() in err
        assert server.wait(20) == 0
        assert f"handshake ok: {expected} " in server.stderr.read()
    finally:
        server.kill()
        server.wait()
