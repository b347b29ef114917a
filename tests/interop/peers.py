"""Running real DTLS peers (OpenSSL, GnuTLS, the aiodtls CLI) as child processes.

Owns process plumbing for the interop tests: free UDP ports, starting a peer with its stdin
held open (``openssl s_server`` quits or closes the connection when its stdin ends), capturing
stdout/stderr to files, waiting for a regular expression in that output under one deadline per
test, killing the whole process group afterwards, and a UDP relay that records datagram sizes.
It also holds the case table and the credentials every interop test shares. It knows nothing
about DTLS itself: what a peer must print is decided by the tests.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from certs import KeyKind, PemFiles, client_chain, server_chain

__all__ = [
    "CASES",
    "HANDSHAKE_FAILED",
    "HANDSHAKE_OK",
    "PSK_HEX",
    "PSK_IDENTITY",
    "REPO_ROOT",
    "Case",
    "Datagram",
    "InteropFiles",
    "PeerError",
    "PeerProcess",
    "PeerSet",
    "Stream",
    "UdpRelay",
    "aiodtls_command",
    "aiodtls_env",
    "free_udp_port",
    "is_hello_verify_request",
    "udp_port_bound",
    "write_interop_files",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
"The checkout the tests run from; its ``src/`` goes on PYTHONPATH for the CLI."

PSK_HEX = "0102030405060708090a0b0c0d0e0f10"
"The pre-shared key of the PSK cases, as hex (what every CLI takes)."

PSK_IDENTITY = "client1"
"The PSK identity of the PSK cases."

HANDSHAKE_OK = re.compile(
    r"handshake ok: (?P<version>\S+) (?P<suite>\S+) in (?P<ms>[0-9.]+) ms, "
    r"(?P<retransmissions>\d+) retransmissions?"
)
"The line the aiodtls CLI prints on stderr once a handshake completed."

HANDSHAKE_FAILED = re.compile(r"handshake failed: .+")
"The line the aiodtls CLI prints on stderr when a handshake fails."

Stream = Literal["stdout", "stderr", "both"]
"Which output of a peer a wait reads."


class PeerError(AssertionError):
    """A peer did not do what the test waited for; the message carries its output."""


@dataclass(frozen=True)
class Case:
    """One key-exchange/authentication combination run against every peer."""

    id: str
    "pytest id."
    suite: str
    "IANA name, as printed by aiodtls and passed to ``--cipher``."
    openssl_cipher: str
    "OpenSSL's name of the same suite (``-cipher``, ``CIPHER is ...``)."
    gnutls_kx: str
    "GnuTLS key-exchange priority keyword."
    gnutls_suite: str
    "GnuTLS's name of the suite as in its debug log (``Cipher Suite: ...``)."
    kind: KeyKind | None
    "Certificate key type, or None for PSK."
    gnutls_cipher: str = "AES-128-GCM"
    "GnuTLS cipher priority keyword (``gnutls-cli --list``)."

    @property
    def gnutls_priority(self) -> str:
        """A GnuTLS priority string that allows DTLS 1.2 with exactly this suite."""
        return (
            f"NORMAL:-VERS-ALL:+VERS-DTLS1.2:-CIPHER-ALL:+{self.gnutls_cipher}"
            f":-KX-ALL:+{self.gnutls_kx}"
        )


CASES = (
    Case(
        "ecdhe-ecdsa",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA",
        "GNUTLS_ECDHE_ECDSA_AES_128_GCM_SHA256",
        "ecdsa",
    ),
    Case(
        "ecdhe-rsa",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-RSA",
        "GNUTLS_ECDHE_RSA_AES_128_GCM_SHA256",
        "rsa",
    ),
    Case(
        "psk",
        "TLS_PSK_WITH_AES_128_GCM_SHA256",
        "PSK-AES128-GCM-SHA256",
        "PSK",
        "GNUTLS_PSK_AES_128_GCM_SHA256",
        None,
    ),
)
"The three combinations acceptance item 1 asks for, in each direction and with each peer."

CASE_MATRIX = tuple(
    pytest.param(case, id=case.id, marks=() if index == 0 else pytest.mark.slow)
    for index, case in enumerate(CASES)
)
"""CASES for ``parametrize``: the first in the README test command, the others (a real-peer
matrix) in the slow pass that .ci/run also runs."""


@dataclass(frozen=True)
class InteropFiles:
    """Credentials on disk, written once per test session."""

    server: dict[str, PemFiles]
    "Server chain (root -> intermediate -> leaf) per key kind (``ecdsa``, ``rsa``)."
    client: PemFiles
    "Client chain under its own root CA, for mutual authentication."
    gnutls_psk_file: Path
    "``gnutls-serv --pskpasswd`` file holding :data:`PSK_IDENTITY`: :data:`PSK_HEX`."


def write_interop_files(directory: Path) -> InteropFiles:
    """Write every credential the interop tests use into ``directory``."""
    server = {
        kind: server_chain(kind).write_pem(directory, f"server-{kind}-")
        for kind in ("ecdsa", "rsa")
    }
    client = client_chain("ecdsa").write_pem(directory, "client-")
    psk_file = directory / "gnutls-psk.txt"
    psk_file.write_text(f"{PSK_IDENTITY}:{PSK_HEX}\n")
    return InteropFiles(server=server, client=client, gnutls_psk_file=psk_file)


def aiodtls_command(*args: str) -> list[str]:
    """The argv that runs the aiodtls CLI of this checkout with the test's interpreter."""
    return [sys.executable, "-m", "aiodtls", *args]


def aiodtls_env() -> dict[str, str]:
    """The environment for the aiodtls CLI: this checkout's ``src/`` first on PYTHONPATH."""
    env = dict(os.environ)
    paths = [str(REPO_ROOT / "src")]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def free_udp_port() -> int:
    """A UDP port that is free on every IPv4 and IPv6 address.

    gnutls-serv binds 0.0.0.0 and :: (it has no bind-address option), so a port that is only
    free on 127.0.0.1 is not good enough.
    """
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as v4:
            v4.bind(("0.0.0.0", 0))
            port: int = v4.getsockname()[1]
            if not socket.has_ipv6:
                return port
            try:
                with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as v6:
                    v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    v6.bind(("::", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free UDP port found")


def udp_port_bound(port: int) -> bool | None:
    """Whether some socket is bound to local UDP ``port``; None if this OS cannot tell.

    Reads /proc/net/udp{,6} rather than probing with bind(): a probe could make the peer's
    own bind fail if it runs at the same moment.
    """
    tables = [Path("/proc/net/udp"), Path("/proc/net/udp6")]
    if not tables[0].exists():
        return None
    suffix = f":{port:04X}"
    for table in tables:
        with contextlib.suppress(OSError):
            for line in table.read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 1 and fields[1].endswith(suffix):
                    return True
    return False


def is_hello_verify_request(datagram: bytes) -> bool:
    """Whether ``datagram`` starts with a plaintext HelloVerifyRequest record.

    Record content type 22 (handshake) and, after the 13-byte record header, handshake
    type 3 (RFC 6347 §4.2.1). Evidence of a cookie exchange that does not rely on a peer's log.
    """
    return len(datagram) >= 25 and datagram[0] == 22 and datagram[13] == 3


def _kill_group(pid: int) -> None:
    """SIGKILL a process group; used by finalizers, so it must never raise."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


class PeerProcess:
    """A child process in its own process group, stdin held open, output captured to files.

    Create it through :meth:`PeerSet.start` so that it is stopped when the test ends.
    """

    def __init__(
        self,
        name: str,
        argv: list[str],
        directory: Path,
        deadline: float,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        "Short label used in file names and messages."
        self.argv = argv
        "The command line."
        self.deadline = deadline
        "time.monotonic() value after which every wait fails."
        self.stdout_path = directory / f"{name}.stdout"
        self.stderr_path = directory / f"{name}.stderr"
        self._stdout = self.stdout_path.open("wb")
        self._stderr = self.stderr_path.open("wb")
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=self._stdout,
            stderr=self._stderr,
            env=env,
            cwd=directory,
            start_new_session=True,
        )
        # Kills the group even if the test forgets to (or the interpreter exits early).
        self._finalizer = weakref.finalize(self, _kill_group, self.process.pid)

    # --- input -------------------------------------------------------------------------

    def write_line(self, line: str) -> None:
        """Send ``line`` plus a newline to the process's stdin."""
        stdin = self.process.stdin
        assert stdin is not None
        try:
            stdin.write(line.encode() + b"\n")
            stdin.flush()
        except (BrokenPipeError, ValueError) as exc:
            raise PeerError(f"cannot write to {self.name}: {exc}\n{self.describe()}") from exc

    def close_stdin(self) -> None:
        """Signal EOF on stdin (clients then close the connection and exit)."""
        stdin = self.process.stdin
        if stdin is not None and not stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                stdin.close()

    # --- output ------------------------------------------------------------------------

    def stdout(self) -> str:
        """Everything written to stdout so far."""
        return self.stdout_path.read_bytes().decode(errors="replace")

    def stderr(self) -> str:
        """Everything written to stderr so far."""
        return self.stderr_path.read_bytes().decode(errors="replace")

    def output(self, stream: Stream = "both") -> str:
        """stdout, stderr or both (stdout first)."""
        if stream == "stdout":
            return self.stdout()
        if stream == "stderr":
            return self.stderr()
        return self.stdout() + self.stderr()

    def describe(self, tail: int = 6000) -> str:
        """Command, state and the end of both outputs, for assertion messages."""
        code = self.process.poll()
        state = "running" if code is None else f"exited with {code}"
        parts = [f"--- {self.name}: {shlex.join(self.argv)} ({state})"]
        for label, text in (("stdout", self.stdout()), ("stderr", self.stderr())):
            if len(text) > tail:
                text = f"[... {len(text) - tail} characters cut ...]\n" + text[-tail:]
            parts.append(f"--- {self.name} {label}:\n{text.rstrip()}")
        return "\n".join(parts)

    # --- waiting -----------------------------------------------------------------------

    def _remaining(self, timeout: float) -> float:
        return max(0.0, min(timeout, self.deadline - time.monotonic()))

    def wait_for(
        self, pattern: str | re.Pattern[str], stream: Stream = "both", timeout: float = 15.0
    ) -> re.Match[str]:
        """Wait until ``pattern`` appears in the output and return the first match.

        Fails at once if the process exits without printing it.
        """
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        end = time.monotonic() + self._remaining(timeout)
        while True:
            exited = self.process.poll() is not None
            match = regex.search(self.output(stream))
            if match:
                return match
            if exited:
                raise PeerError(
                    f"{self.name} exited without printing {regex.pattern!r}\n{self.describe()}"
                )
            if time.monotonic() >= end:
                raise PeerError(
                    f"timed out waiting for {regex.pattern!r} from {self.name}\n{self.describe()}"
                )
            time.sleep(0.02)

    def wait_until_bound(self, port: int, timeout: float = 10.0) -> None:
        """Wait until some socket is bound to UDP ``port`` (the peer is ready)."""
        end = time.monotonic() + self._remaining(timeout)
        while True:
            if self.process.poll() is not None:
                raise PeerError(
                    f"{self.name} exited before binding UDP port {port}\n{self.describe()}"
                )
            bound = udp_port_bound(port)
            if bound is None:  # cannot tell on this OS: give the peer a moment
                time.sleep(0.5)
                return
            if bound:
                return
            if time.monotonic() >= end:
                raise PeerError(f"{self.name} did not bind UDP port {port}\n{self.describe()}")
            time.sleep(0.01)

    def wait_exit(self, timeout: float = 15.0) -> int:
        """Wait for the process to exit and return its exit code."""
        try:
            return self.process.wait(self._remaining(timeout))
        except subprocess.TimeoutExpired:
            raise PeerError(f"{self.name} did not exit in time\n{self.describe()}") from None

    def stop(self, grace: float = 2.0) -> int:
        """Terminate the process group (SIGTERM, then SIGKILL) and return the exit code."""
        self.close_stdin()
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                _kill_group(self.process.pid)
                self.process.wait()
        # Children the leader left behind in its group go too.
        self._finalizer()
        self._stdout.close()
        self._stderr.close()
        return self.process.returncode


@dataclass(frozen=True)
class Datagram:
    """One datagram seen by :class:`UdpRelay`."""

    direction: Literal["to_server", "to_client"]
    "Which way it went."
    data: bytes
    "Its payload."


class UdpRelay:
    """A UDP relay on 127.0.0.1 between one client and one server that records datagrams.

    Clients connect to :attr:`port`; everything is forwarded to ``server_port`` and the
    answers go back to the client that spoke last.
    """

    def __init__(self, server_port: int) -> None:
        self.datagrams: list[Datagram] = []
        "Every datagram relayed, in order."
        self._front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._front.bind(("127.0.0.1", 0))
        self.port: int = self._front.getsockname()[1]
        "Where clients send to."
        self._back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._back.connect(("127.0.0.1", server_port))
        self._client: tuple[str, int] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="udp-relay", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._front, selectors.EVENT_READ)
            selector.register(self._back, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select(0.05):
                    try:
                        if key.fileobj is self._front:
                            data, self._client = self._front.recvfrom(65535)
                            self._record("to_server", data)
                            self._back.send(data)
                        else:
                            data = self._back.recv(65535)
                            self._record("to_client", data)
                            if self._client is not None:
                                self._front.sendto(data, self._client)
                    except OSError:  # ICMP port unreachable from a peer that is gone
                        continue

    def _record(self, direction: Literal["to_server", "to_client"], data: bytes) -> None:
        with self._lock:
            self.datagrams.append(Datagram(direction, data))

    def sizes(self, direction: Literal["to_server", "to_client"]) -> list[int]:
        """Sizes of the datagrams relayed in ``direction``, in order."""
        with self._lock:
            return [len(d.data) for d in self.datagrams if d.direction == direction]

    def first(self, direction: Literal["to_server", "to_client"]) -> bytes:
        """The first datagram relayed in ``direction`` (empty if there was none)."""
        with self._lock:
            return next((d.data for d in self.datagrams if d.direction == direction), b"")

    def stop(self) -> None:
        """Stop relaying and close the sockets."""
        self._stopping.set()
        self._thread.join(2.0)
        self._front.close()
        self._back.close()


@dataclass
class PeerSet:
    """The processes and relays of one test, all sharing one deadline; stopped at teardown."""

    directory: Path
    "Where output files go."
    deadline: float
    "time.monotonic() value after which every wait fails."
    processes: list[PeerProcess] = field(default_factory=list)
    relays: list[UdpRelay] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> PeerProcess:
        """Start ``argv`` as a peer called ``name``."""
        process = PeerProcess(name, argv, self.directory, self.deadline, env)
        self.processes.append(process)
        return process

    def start_aiodtls(self, name: str, *args: str) -> PeerProcess:
        """Start the aiodtls CLI of this checkout with ``args``."""
        return self.start(name, aiodtls_command(*args), aiodtls_env())

    def relay(self, server_port: int) -> UdpRelay:
        """A recording relay in front of ``server_port``."""
        relay = UdpRelay(server_port)
        self.relays.append(relay)
        return relay

    def describe(self) -> str:
        """The output of every process, for assertion messages."""
        return "\n".join(process.describe() for process in self.processes)

    def stop_all(self) -> None:
        """Stop every process and relay (idempotent)."""
        for process in self.processes:
            process.stop()
        for relay in self.relays:
            relay.stop()
