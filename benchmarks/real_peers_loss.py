#!/usr/bin/env python3
"""Real DTLS 1.2 handshakes between real processes through a seeded lossy relay.

Every handshake runs one client process and one server process -- the aiodtls CLI
(``python -m aiodtls client/server``) or the OpenSSL CLI (``openssl s_client/s_server``), in all
four pairings -- with its own UDP impairment relay in this process between them. The relay drops
each datagram with probability LOSS independently in each direction (one seeded
``random.Random`` per direction, one draw per datagram in arrival order, as
``tests/interop/lossy_proxy.py`` does) and delays every datagram it forwards by 25 ms (RTT
50 ms). Both endpoints are configured for 576-byte datagrams (aiodtls ``--mtu 576``, OpenSSL
``-mtu 604``: the link MTU, minus 28 bytes of IPv4 and UDP headers), and the relay reports the
largest datagram it saw. The server sends a leaf and an intermediate of an RSA-4096 root ->
RSA-4096 intermediate -> RSA-2048 leaf chain (``aiodtls.pki``; a 2,473-byte Certificate
message); the client verifies it against the root and the name ``localhost``. The suite is
ECDHE-RSA-AES128-GCM-SHA256 on both sides.

Time to handshake runs from the moment the relay receives the client's first datagram to the
moment the client process prints that it finished ("handshake ok" from aiodtls; the ``-state``
line "read finished" or the ``-brief`` summary from s_client), both on this process's monotonic
clock: the same method for every pairing, accurate to a few milliseconds, and without process
start-up. A handshake that has not finished 60 s after the first datagram fails, and so does one
whose client exits first or whose server exits without the client finishing (s_server's
documented abort after ``-listen``, see ../shared/research/openssl-under-loss.md); a failed run
counts as 60 s in the percentiles, as ``aiodtls netsim`` does. After every run both processes
are killed (process group, SIGKILL) and reaped, the relay's sockets are closed, and the ports are
checked to be free.

The drop decision for the n-th datagram of a direction depends only on (seed, direction, n);
which datagram is the n-th depends on the endpoints' timers, so a seed is reproducible only up
to timing (aiodtls also adds a random 0-10 % to each timeout).

    python benchmarks/real_peers_loss.py --aiodtls-rev HEAD   # the full benchmark, ~7 min
    python benchmarks/real_peers_loss.py --loss 0.3 --runs 10 --pairing aiodtls-openssl
    python benchmarks/real_peers_loss.py --format markdown --json results.json
    python benchmarks/real_peers_loss.py --trace-seed 17 --pairing openssl-aiodtls --loss 0.3

``--aiodtls-rev`` runs the aiodtls processes from a git revision exported to a temporary
directory, so that edits to the working tree during the run cannot change what is measured.
Up to ``--parallel`` handshakes (default 8) run at once on distinct ports; process start-ups
are serialised (see :func:`run_handshake`), and per-seed times then agree with one-at-a-time
runs to within the aiodtls timers' random jitter.

``--trace-seed`` runs one handshake with aiodtls ``--trace`` (OpenSSL always has ``-state``)
and prints one timeline: every datagram at the relay (time, direction, size, dropped or
forwarded, a keyless decode from ``aiodtls.dissect``) interleaved with what both processes
printed. aiodtls trace lines keep their own monotonic timestamps, which are on the same clock.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from aiodtls.dissect import summarize as summarize_datagram
from aiodtls.pki import generate_chain
from aiodtls.sweep import percentile

REPO_ROOT = Path(__file__).resolve().parents[1]
"The checkout whose ``src/`` the aiodtls processes run."

ONE_WAY_DELAY = 0.025
"Seconds the relay holds every forwarded datagram (RTT 50 ms)."

DATAGRAM_MTU = 576
"Largest UDP payload both endpoints are configured for."

OPENSSL_LINK_MTU = DATAGRAM_MTU + 28
"OpenSSL's ``-mtu`` is the link MTU: the UDP payload plus 20 bytes of IPv4 and 8 of UDP."

CAP = 60.0
"Seconds after the client's first datagram by which the handshake must have finished."

START_TIMEOUT = 20.0
"Seconds a server may take to bind its port, or a client to send its first datagram."

SERVER_EXIT_GRACE = 0.5
"After the server exits, how long the client may still finish (datagrams in the relay)."

SERVER_NAME = "localhost"
IANA_SUITE = "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
OPENSSL_SUITE = "ECDHE-RSA-AES128-GCM-SHA256"
DEFAULT_LOSSES = (0.0, 0.1, 0.2, 0.3)

Implementation = Literal["aiodtls", "openssl"]
Direction = Literal["c2s", "s2c"]

PAIRINGS: dict[str, tuple[Implementation, Implementation]] = {
    "aiodtls-aiodtls": ("aiodtls", "aiodtls"),
    "aiodtls-openssl": ("aiodtls", "openssl"),
    "openssl-aiodtls": ("openssl", "aiodtls"),
    "openssl-openssl": ("openssl", "openssl"),
}
"Pairing name (client-server) -> (client implementation, server implementation)."

CLIENT_DONE: dict[Implementation, re.Pattern[str]] = {
    "aiodtls": re.compile(r"^handshake ok: "),
    # -state prints "read finished" even when s_client finishes the handshake inside SSL_read
    # and never prints its -brief summary (openssl-under-loss.md, behaviour 3).
    "openssl": re.compile(r"SSL_connect:SSLv3/TLS read finished|^CONNECTION ESTABLISHED"),
}
"A line the client prints once its handshake finished (server Finished verified)."

ARROWS: dict[Direction, str] = {"c2s": "c->s", "s2c": "s->c"}


# --- credentials ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    """The PEM files of the benchmark's chain."""

    leaf: Path
    intermediate: Path
    chain: Path
    "Leaf then intermediate: what the server sends."
    key: Path
    root: Path
    certificate_message: int
    "Bytes of the server's Certificate message body."


def write_credentials(directory: Path) -> Credentials:
    """A fresh RSA-4096 root -> RSA-4096 intermediate -> RSA-2048 leaf chain in ``directory``."""
    chain = generate_chain(kind="rsa", key_bits=(4096, 4096, 2048), names=(SERVER_NAME,))
    paths = Credentials(
        leaf=directory / "leaf.pem",
        intermediate=directory / "intermediate.pem",
        chain=directory / "chain.pem",
        key=directory / "key.pem",
        root=directory / "root.pem",
        certificate_message=3 + sum(3 + len(c.public_bytes(Encoding.DER)) for c in chain.chain),
    )
    paths.leaf.write_bytes(chain.leaf.public_bytes(Encoding.PEM))
    paths.intermediate.write_bytes(chain.intermediates[0].public_bytes(Encoding.PEM))
    paths.chain.write_bytes(chain.chain_pem())
    paths.key.write_bytes(chain.key_pem())
    paths.root.write_bytes(chain.root_pem())
    return paths


def load_credentials(directory: Path) -> Credentials:
    """The files :func:`write_credentials` wrote earlier into ``directory``."""
    chain = x509.load_pem_x509_certificates((directory / "chain.pem").read_bytes())
    return Credentials(
        leaf=directory / "leaf.pem",
        intermediate=directory / "intermediate.pem",
        chain=directory / "chain.pem",
        key=directory / "key.pem",
        root=directory / "root.pem",
        certificate_message=3 + sum(3 + len(c.public_bytes(Encoding.DER)) for c in chain),
    )


def credentials(certs: str | None, scratch: Path) -> Credentials:
    """The chain kept in ``certs`` (made there on first use), or a fresh one in ``scratch``."""
    if not certs:
        return write_credentials(scratch)
    directory = Path(certs)
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "chain.pem").exists():
        return load_credentials(directory)
    return write_credentials(directory)


# --- the relay --------------------------------------------------------------------------------


@dataclass
class DirectionStats:
    """What the relay saw in one direction."""

    datagrams: int = 0
    dropped: int = 0
    bytes: int = 0
    largest: int = 0


@dataclass(frozen=True)
class RelayEvent:
    """One datagram at the relay (kept in trace mode only)."""

    time: float
    "Monotonic arrival time."
    direction: Direction
    index: int
    "1-based position in its direction: the index of its loss draw."
    size: int
    dropped: bool
    summary: str
    "Keyless decode: record types, epochs, handshake fragments."


@dataclass(frozen=True)
class CpuMark:
    """A peer process's CPU time at one of its datagrams (read from /proc/PID/schedstat)."""

    time: float
    role: str
    "'client' or 'server'."
    event: str
    "'sent' (the relay received a datagram from it), 'delivered' (the relay is about to send "
    "it one) or 'finished' (the client printed its success line)."
    run_ns: int
    "Nanoseconds it has run on a CPU so far."
    wait_ns: int
    "Nanoseconds it has been runnable but waiting for a CPU so far."


def schedstat(pid: int) -> tuple[int, int]:
    """(ns on a CPU, ns waiting for one) of a process's main thread, 0s if unknown."""
    try:
        fields = Path(f"/proc/{pid}/schedstat").read_text().split()
        return int(fields[0]), int(fields[1])
    except (OSError, ValueError, IndexError):
        return 0, 0


class _RelaySide(asyncio.DatagramProtocol):
    def __init__(self, relay: LossyRelay, direction: Direction) -> None:
        self._relay = relay
        self._direction = direction

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self._relay.arrived(self._direction, data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable: a peer that is not (or no longer) there. Loss, as on a path.
        pass


class LossyRelay:
    """One client <-> one server: seeded independent loss per direction and a fixed delay.

    The client sends to 127.0.0.1:``port``; datagrams go to the server from one connected
    socket, so a server that connects its socket to the client (``s_server -listen``) sees one
    stable peer address.
    """

    def __init__(self, seed: int, loss: float, *, delay: float, keep_log: bool) -> None:
        self.seed = seed
        self.loss = loss
        self.delay = delay
        self._rng: dict[Direction, random.Random] = {
            d: random.Random(f"real-peers-loss:{seed}:{d}") for d in ("c2s", "s2c")
        }
        self.stats: dict[Direction, DirectionStats] = {
            "c2s": DirectionStats(),
            "s2c": DirectionStats(),
        }
        self.log: list[RelayEvent] | None = [] if keep_log else None
        self.arrivals: list[tuple[float, Direction, int]] = []
        "(monotonic time, direction, size) of every datagram: cheap enough to keep always."
        self.watched: dict[str, int] = {}
        "Role ('client', 'server') -> pid whose CPU time is read at each of its datagrams."
        self.cpu_marks: list[CpuMark] = []
        self.first_client_datagram: float | None = None
        "Monotonic time the client's first datagram arrived."
        self.first_datagram = asyncio.Event()
        self.port = 0
        self._client: tuple[str, int] | None = None
        self._front: asyncio.DatagramTransport | None = None
        self._upstream: asyncio.DatagramTransport | None = None
        self._pending: list[asyncio.TimerHandle] = []
        self._loop = asyncio.get_running_loop()

    async def start(self, server_port: int) -> None:
        """Bind the client-facing port and connect to the server."""
        self._front, _ = await self._loop.create_datagram_endpoint(
            lambda: _RelaySide(self, "c2s"), local_addr=("127.0.0.1", 0)
        )
        self._upstream, _ = await self._loop.create_datagram_endpoint(
            lambda: _RelaySide(self, "s2c"), remote_addr=("127.0.0.1", server_port)
        )
        self.port = self._front.get_extra_info("sockname")[1]

    def arrived(self, direction: Direction, data: bytes, addr: tuple[str, int]) -> None:
        """Draw the datagram's fate; forward it ``delay`` later unless it is dropped."""
        now = self._loop.time()
        if direction == "c2s":
            if self._client is None:
                self._client = addr
                self.first_client_datagram = now
                self.first_datagram.set()
            elif addr != self._client:
                return  # not the benchmark's client
        self.arrivals.append((now, direction, len(data)))
        if self.watched:
            self.mark("client" if direction == "c2s" else "server", "sent", now)
        stats = self.stats[direction]
        dropped = self._rng[direction].random() < self.loss
        stats.datagrams += 1
        stats.bytes += len(data)
        stats.largest = max(stats.largest, len(data))
        stats.dropped += dropped
        if self.log is not None:
            summary = summarize_datagram(data)
            self.log.append(
                RelayEvent(now, direction, stats.datagrams, len(data), dropped, summary)
            )
        if not dropped:
            self._pending.append(
                self._loop.call_at(now + self.delay, self._deliver, direction, data)
            )

    def mark(self, role: str, event: str, now: float) -> None:
        """Note the CPU time ``role``'s process has used so far (if it is watched)."""
        pid = self.watched.get(role)
        if pid is not None:
            run, wait = schedstat(pid)
            self.cpu_marks.append(CpuMark(now, role, event, run, wait))

    def _deliver(self, direction: Direction, data: bytes) -> None:
        if self.watched:
            self.mark("server" if direction == "c2s" else "client", "delivered", self._loop.time())
        if direction == "c2s" and self._upstream is not None:
            self._upstream.sendto(data)
        elif direction == "s2c" and self._front is not None and self._client is not None:
            self._front.sendto(data, self._client)

    def close(self) -> None:
        """Drop what is still in flight and close both sockets."""
        for handle in self._pending:
            handle.cancel()
        self._pending.clear()
        for transport in (self._front, self._upstream):
            if transport is not None:
                transport.close()
        self._front = self._upstream = None


# --- processes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutputLine:
    """One line a peer printed, stamped when this process read it."""

    time: float
    stream: str
    text: str


_EXIT_NOISE = re.compile(r"^(\d+ [\w ]+( \(.*\))?|shutting down SSL|CONNECTION CLOSED)$")
"s_server's goodbye: session cache counters such as '1 server accepts (SSL_accept())'."


class PeerProcess:
    """A child process in its own process group, its stdin held open, its output read by line.

    ``s_server`` quits (or closes the connection) when its stdin ends, so nobody's stdin ends
    before :meth:`stop` kills the group.
    """

    def __init__(
        self,
        implementation: Implementation,
        role: str,
        argv: Sequence[str],
        on_line: Callable[[PeerProcess, OutputLine], None],
    ) -> None:
        self.implementation = implementation
        self.role = role
        self.argv = list(argv)
        self.lines: list[OutputLine] = []
        self.started = 0.0
        self.exited = asyncio.Event()
        self._on_line = on_line
        self._process: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._waiter: asyncio.Task[None] | None = None

    async def start(self, env: dict[str, str]) -> None:
        """Spawn the process and start reading its output."""
        self.started = asyncio.get_running_loop().time()
        self._process = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        assert self._process.stdout is not None and self._process.stderr is not None
        self._readers = [
            asyncio.create_task(self._read("stdout", self._process.stdout)),
            asyncio.create_task(self._read("stderr", self._process.stderr)),
        ]
        self._waiter = asyncio.create_task(self._wait())

    async def _read(self, stream: str, reader: asyncio.StreamReader) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                raw = await reader.readline()
            except ValueError:  # a line over the reader's limit: take what is there
                raw = await reader.read(1 << 16)
            if not raw:
                return
            line = OutputLine(loop.time(), stream, raw.decode("utf-8", "replace").rstrip())
            self.lines.append(line)
            self._on_line(self, line)

    async def _wait(self) -> None:
        assert self._process is not None
        await self._process.wait()
        # Let the readers take the last lines before anyone looks at why it exited.
        await asyncio.gather(*self._readers, return_exceptions=True)
        self.exited.set()

    @property
    def pid(self) -> int | None:
        """Process id, once started."""
        return None if self._process is None else self._process.pid

    @property
    def returncode(self) -> int | None:
        """Exit status, or None while it runs."""
        return None if self._process is None else self._process.returncode

    def tail(self, count: int = 3) -> str:
        """Its last non-empty output lines, joined, for failure reasons (without the session
        cache statistics s_server prints when it exits)."""
        texts = [
            text
            for line in self.lines
            if (text := line.text.strip()) and not _EXIT_NOISE.match(text)
        ]
        return " / ".join(texts[-count:])

    async def stop(self) -> None:
        """Kill the whole process group and reap it (idempotent)."""
        process = self._process
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        if process.stdin is not None:
            process.stdin.close()
        await asyncio.gather(*self._readers, return_exceptions=True)
        await self.exited.wait()


def bound_udp_ports() -> set[int]:
    """Local ports of every UDP socket on this machine (/proc/net/udp and udp6).

    Read from /proc rather than probed with bind(), which could steal the port from a peer that
    is about to bind it.
    """
    ports: set[int] = set()
    for table in (Path("/proc/net/udp"), Path("/proc/net/udp6")):
        with contextlib.suppress(OSError):
            for row in table.read_text().splitlines()[1:]:
                local = row.split()[1]
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


@dataclass(frozen=True)
class Testbed:
    """What every handshake of a benchmark shares."""

    credentials: Credentials
    env: dict[str, str]
    "Environment of the child processes: the aiodtls source tree first on PYTHONPATH."
    aiodtls: str
    "Which aiodtls runs: a short commit, with '+local changes' for an edited working tree."


def aiodtls_env(src: Path) -> dict[str, str]:
    """The environment of the child processes: ``src`` first on PYTHONPATH."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _git(*args: str) -> bytes:
    return subprocess.run(
        ["git", "-C", str(REPO_ROOT), *args], capture_output=True, check=True
    ).stdout


def export_revision(rev: str, directory: Path) -> tuple[Path, str]:
    """``src/`` of git revision ``rev`` written under ``directory``: (its path, short commit).

    Other work can change the working tree while a long benchmark runs; an exported revision
    cannot.
    """
    commit = _git("rev-parse", "--short", f"{rev}^{{commit}}").decode().strip()
    with tarfile.open(fileobj=io.BytesIO(_git("archive", "--format=tar", commit, "src"))) as tar:
        tar.extractall(directory, filter="data")
    return directory / "src", commit


def working_tree_label() -> str:
    """The short HEAD commit, marked when ``src/`` has uncommitted changes."""
    try:
        commit = _git("rev-parse", "--short", "HEAD").decode().strip()
        dirty = _git("status", "--porcelain", "--", "src").strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}+local changes" if dirty else commit


def server_argv(
    implementation: Implementation,
    port: int,
    creds: Credentials,
    *,
    trace: bool,
    openssl_trace: bool = False,
) -> list[str]:
    """The command line of a server on 127.0.0.1:``port`` that sends leaf + intermediate."""
    if implementation == "aiodtls":
        argv = [
            sys.executable, "-m", "aiodtls", "server", "--host", "127.0.0.1", "--port", str(port),
            "--cert", str(creds.chain), "--key", str(creds.key), "--cipher", IANA_SUITE, "--dtls12",
            "--mtu", str(DATAGRAM_MTU),
            # The benchmark's 60 s cap decides, not the server's own deadline.
            "--handshake-timeout", str(CAP + 10),
        ]  # fmt: skip
        return [*argv, "--trace"] if trace else argv
    # -listen: without it a lost HelloVerifyRequest kills s_server (interop-peers.md §6).
    argv = [
        "openssl", "s_server", "-dtls1_2", "-listen", "-accept", f"127.0.0.1:{port}",
        "-naccept", "1", "-mtu", str(OPENSSL_LINK_MTU), "-state",
        "-cert", str(creds.leaf), "-cert_chain", str(creds.intermediate), "-key", str(creds.key),
        "-cipher", OPENSSL_SUITE,
    ]  # fmt: skip
    return _openssl_traced(argv) if openssl_trace else argv


def client_argv(
    implementation: Implementation,
    port: int,
    creds: Credentials,
    *,
    trace: bool,
    openssl_trace: bool = False,
) -> list[str]:
    """The command line of a client of 127.0.0.1:``port`` that verifies the chain and name."""
    if implementation == "aiodtls":
        argv = [
            sys.executable, "-m", "aiodtls", "client", f"127.0.0.1:{port}",
            "--ca", str(creds.root), "--server-name", SERVER_NAME, "--cipher", IANA_SUITE,
            "--dtls12", "--mtu", str(DATAGRAM_MTU), "--handshake-timeout", str(CAP + 10),
        ]  # fmt: skip
        return [*argv, "--trace"] if trace else argv
    argv = [
        "openssl", "s_client", "-dtls1_2", "-connect", f"127.0.0.1:{port}",
        "-mtu", str(OPENSSL_LINK_MTU), "-state", "-brief",
        "-CAfile", str(creds.root), "-verify_return_error",
        "-servername", SERVER_NAME, "-verify_hostname", SERVER_NAME,
        "-cipher", OPENSSL_SUITE,
    ]  # fmt: skip
    return _openssl_traced(argv) if openssl_trace else argv


def _openssl_traced(argv: list[str]) -> list[str]:
    # -trace writes to stdout through stdio, fully buffered on a pipe: stdbuf makes it
    # unbuffered so that every line is stamped when it was printed (-state goes to stderr).
    # Not the default in trace mode: printing a retransmitted fragment of the Certificate
    # message, -trace fails to parse it and leaves ASN.1 errors in the error queue, where the
    # next SSL_get_error finds them and turns a harmless WANT_READ into a fatal "ERROR".
    traced = [*argv, "-trace"]
    stdbuf = shutil.which("stdbuf")
    return [stdbuf, "-o0", *traced] if stdbuf else traced


# --- one handshake ----------------------------------------------------------------------------


@dataclass
class RunResult:
    """One handshake."""

    pairing: str
    loss: float
    seed: int
    completed: bool
    time: float
    "Seconds from the client's first datagram to the client's success line (CAP if failed)."
    reason: str = ""
    "Why it failed."
    startup: float | None = None
    "Seconds from spawning the client to its first datagram."
    c2s: DirectionStats = field(default_factory=DirectionStats)
    s2c: DirectionStats = field(default_factory=DirectionStats)
    arrivals: list[tuple[float, str, int]] = field(default_factory=list)
    "With ``keep_arrivals``: (seconds after the client's first datagram, direction, size) of "
    "every datagram at the relay, for benchmarks/real_latency.py."
    cpu_marks: list[CpuMark] = field(default_factory=list)
    "With ``keep_arrivals``: both processes' CPU times at their datagrams (times as above)."


@dataclass
class TraceOutput:
    """What trace mode keeps beyond the result."""

    relay: list[RelayEvent]
    client: PeerProcess
    server: PeerProcess
    t0: float


async def run_handshake(
    pairing: str,
    loss: float,
    seed: int,
    server_port: int,
    testbed: Testbed,
    *,
    startup_gate: asyncio.Lock | None = None,
    trace: bool = False,
    openssl_trace: bool = False,
    keep_arrivals: bool = False,
) -> tuple[RunResult, TraceOutput | None]:
    """One handshake between fresh processes through a fresh relay; everything is torn down
    (processes killed and reaped, sockets closed) before this returns.

    From spawning the server to the client's first datagram the run holds ``startup_gate``:
    starting a Python process costs a few hundred ms of CPU, and on a small machine several at
    once would slow down the handshakes in progress beside them (on 2 cores, 8 unserialised
    runs added ~80 ms to a lossless handshake; serialised, see docs/reliability.md).
    """
    client_impl, server_impl = PAIRINGS[pairing]
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    finished_at: list[float] = []

    def client_line(peer: PeerProcess, line: OutputLine) -> None:
        if not finished_at and CLIENT_DONE[client_impl].search(line.text):
            finished_at.append(line.time)
            relay.mark("client", "finished", line.time)
            done.set()

    if server_port in bound_udp_ports():
        raise RuntimeError(f"UDP port {server_port} is in use; pick another --base-port")
    creds, env = testbed.credentials, testbed.env
    server = PeerProcess(
        server_impl,
        "server",
        server_argv(server_impl, server_port, creds, trace=trace, openssl_trace=openssl_trace),
        lambda p, line: None,
    )
    relay = LossyRelay(seed, loss, delay=ONE_WAY_DELAY, keep_log=trace)
    client: PeerProcess | None = None
    result = RunResult(pairing, loss, seed, completed=False, time=CAP)
    try:
        async with startup_gate or asyncio.Lock():
            await server.start(env)
            deadline = loop.time() + START_TIMEOUT
            while server_port not in bound_udp_ports():
                if server.exited.is_set():
                    raise RuntimeError(f"server exited before binding: {server.tail()}")
                if loop.time() > deadline:
                    raise RuntimeError("server did not bind its port")
                await asyncio.sleep(0.02)
            await relay.start(server_port)
            if keep_arrivals and server.pid is not None:
                relay.watched["server"] = server.pid
            client = PeerProcess(
                client_impl,
                "client",
                client_argv(
                    client_impl, relay.port, creds, trace=trace, openssl_trace=openssl_trace
                ),
                client_line,
            )
            await client.start(env)
            if keep_arrivals and client.pid is not None:
                relay.watched["client"] = client.pid
            result.reason = await _wait_for_first_datagram(relay, client)
        if not result.reason:
            result.reason = await _wait_for_outcome(relay, client, server, done)
        if relay.first_client_datagram is not None:
            result.startup = relay.first_client_datagram - client.started
        if finished_at and relay.first_client_datagram is not None:
            elapsed = finished_at[0] - relay.first_client_datagram
            if elapsed <= CAP:
                result.completed, result.time, result.reason = True, elapsed, ""
    finally:
        relay.close()
        if client is not None:
            await client.stop()
        await server.stop()
    result.c2s, result.s2c = relay.stats["c2s"], relay.stats["s2c"]
    if keep_arrivals and relay.first_client_datagram is not None:
        t0 = relay.first_client_datagram
        result.arrivals = [(when - t0, direction, size) for when, direction, size in relay.arrivals]
        result.cpu_marks = [
            CpuMark(m.time - t0, m.role, m.event, m.run_ns, m.wait_ns) for m in relay.cpu_marks
        ]
    await _check_released(server_port, relay.port)
    traced = None
    if trace and client is not None and relay.log is not None:
        t0 = relay.first_client_datagram or client.started
        traced = TraceOutput(relay.log, client, server, t0)
    return result, traced


async def _wait_for_first_datagram(relay: LossyRelay, client: PeerProcess) -> str:
    """Wait until the client's first datagram reached the relay; '' or why it did not."""
    waits = [
        asyncio.ensure_future(relay.first_datagram.wait()),
        asyncio.ensure_future(client.exited.wait()),
    ]
    await asyncio.wait(waits, timeout=START_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
    for waiter in waits:
        waiter.cancel()
    if relay.first_datagram.is_set():
        return ""
    if client.exited.is_set():
        return f"client exited ({client.returncode}) before sending: {client.tail()}"
    return f"the client sent nothing in {START_TIMEOUT:g} s: {client.tail()}"


async def _wait_for_outcome(
    relay: LossyRelay, client: PeerProcess, server: PeerProcess, done: asyncio.Event
) -> str:
    """Wait until the client finished, the cap passed or a process ended; '' or why not."""
    assert relay.first_client_datagram is not None
    deadline = relay.first_client_datagram + CAP
    loop = asyncio.get_running_loop()
    waits = {
        "done": asyncio.ensure_future(done.wait()),
        "client": asyncio.ensure_future(client.exited.wait()),
        "server": asyncio.ensure_future(server.exited.wait()),
    }
    try:
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return f"not finished after {CAP:g} s"
            await asyncio.wait(
                waits.values(), timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            if done.is_set():
                return ""
            if client.exited.is_set():
                return f"client exited ({client.returncode}): {client.tail()}"
            if server.exited.is_set():
                # A final flight may still be in the relay when the server ends.
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(done.wait(), SERVER_EXIT_GRACE)
                if done.is_set():
                    return ""
                return f"server exited ({server.returncode}): {server.tail()}"
    finally:
        for waiter in waits.values():
            waiter.cancel()


async def _check_released(*ports: int) -> None:
    """Wait (briefly) until none of ``ports`` is bound any more; complain if one stays."""
    for _ in range(50):
        if not set(ports) & bound_udp_ports():
            return
        await asyncio.sleep(0.02)
    print(
        f"warning: UDP ports {sorted(set(ports) & bound_udp_ports())} still bound", file=sys.stderr
    )


# --- many handshakes --------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One handshake to run."""

    pairing: str
    loss: float
    seed: int


async def run_jobs(
    jobs: list[Job], testbed: Testbed, parallel: int, base_port: int, progress: bool
) -> list[RunResult]:
    """Run ``jobs`` with ``parallel`` workers, worker i's servers on ``base_port + i``."""
    queue: asyncio.Queue[Job] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    results: list[RunResult] = []
    started = time.monotonic()
    startup_gate = asyncio.Lock()

    async def worker(index: int) -> None:
        while True:
            try:
                job = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            result, _ = await run_handshake(
                job.pairing,
                job.loss,
                job.seed,
                base_port + index,
                testbed,
                startup_gate=startup_gate,
            )
            results.append(result)
            if progress:
                outcome = (
                    f"{result.time:7.3f} s" if result.completed else f"FAILED: {result.reason}"
                )
                print(
                    f"[{len(results):4}/{len(jobs)} {time.monotonic() - started:6.0f} s] "
                    f"{job.pairing} loss {job.loss:.2f} seed {job.seed}: {outcome}",
                    file=sys.stderr,
                    flush=True,
                )

    await asyncio.gather(*(worker(i) for i in range(min(parallel, len(jobs)))))
    order = {job: i for i, job in enumerate(jobs)}
    results.sort(key=lambda r: order[Job(r.pairing, r.loss, r.seed)])
    return results


@dataclass(frozen=True)
class LevelSummary:
    """One pairing at one loss level."""

    pairing: str
    loss: float
    runs: int
    completed: int
    p50: float
    p90: float
    p99: float
    max: float
    mean: float
    applied_loss_c2s: float
    applied_loss_s2c: float
    datagrams_c2s: float
    "Mean datagrams per handshake from the client."
    datagrams_s2c: float
    largest_c2s: int
    largest_s2c: int
    failed: list[str]
    "'seed N: reason' per failed run."


def summarize_level(runs: list[RunResult]) -> LevelSummary:
    """Percentiles with a failed run counted as the cap, as ``aiodtls netsim`` does."""
    times = sorted(r.time if r.completed else CAP for r in runs)
    n = len(runs)

    def rate(direction: Direction) -> float:
        seen = sum(getattr(r, direction).datagrams for r in runs)
        return sum(getattr(r, direction).dropped for r in runs) / seen if seen else 0.0

    return LevelSummary(
        pairing=runs[0].pairing,
        loss=runs[0].loss,
        runs=n,
        completed=sum(r.completed for r in runs),
        p50=percentile(times, 0.5),
        p90=percentile(times, 0.9),
        p99=percentile(times, 0.99),
        max=times[-1],
        mean=sum(times) / n,
        applied_loss_c2s=rate("c2s"),
        applied_loss_s2c=rate("s2c"),
        datagrams_c2s=sum(r.c2s.datagrams for r in runs) / n,
        datagrams_s2c=sum(r.s2c.datagrams for r in runs) / n,
        largest_c2s=max(r.c2s.largest for r in runs),
        largest_s2c=max(r.s2c.largest for r in runs),
        failed=[f"seed {r.seed}: {r.reason}" for r in runs if not r.completed],
    )


def summarize_all(results: list[RunResult]) -> list[LevelSummary]:
    """One summary per (pairing, loss), in the order the results came."""
    groups: dict[tuple[str, float], list[RunResult]] = {}
    for r in results:
        groups.setdefault((r.pairing, r.loss), []).append(r)
    return [summarize_level(runs) for runs in groups.values()]


def pairing_label(pairing: str) -> str:
    """'aiodtls-openssl' -> 'aiodtls -> s_server'."""
    client, server = PAIRINGS[pairing]
    left = "aiodtls client" if client == "aiodtls" else "s_client"
    right = "aiodtls server" if server == "aiodtls" else "s_server"
    return f"{left} -> {right}"


def print_text(summaries: list[LevelSummary]) -> None:
    """The table for a terminal."""
    print(
        f"{'pairing (client -> server)':32} {'loss':>5} {'completed':>9} {'p50':>7} {'p90':>7} "
        f"{'p99':>7} {'max':>7} {'mean':>7}  {'dgrams c>s/s>c':>14}  {'largest':>7}"
    )
    previous = ""
    for s in summaries:
        label = pairing_label(s.pairing) if s.pairing != previous else ""
        previous = s.pairing
        print(
            f"{label:32} {s.loss:5.0%} {s.completed:>4}/{s.runs:<4} {s.p50:7.3f} {s.p90:7.3f} "
            f"{s.p99:7.3f} {s.max:7.3f} {s.mean:7.3f}  "
            f"{s.datagrams_c2s:6.1f}/{s.datagrams_s2c:<7.1f}  {max(s.largest_c2s, s.largest_s2c):7}"
        )
    _print_failures(summaries)


def print_markdown(summaries: list[LevelSummary]) -> None:
    """The table for docs/reliability.md."""
    print(
        "| client → server | loss each way | completed | p50 s | p90 s | p99 s | max s | "
        "datagrams c→s / s→c | largest datagram |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for s in summaries:
        print(
            f"| {pairing_label(s.pairing).replace('->', '→')} | {s.loss:.0%} "
            f"| {s.completed}/{s.runs} | {s.p50:.3f} | {s.p90:.3f} | {s.p99:.3f} | {s.max:.3f} "
            f"| {s.datagrams_c2s:.1f} / {s.datagrams_s2c:.1f} "
            f"| {max(s.largest_c2s, s.largest_s2c)} |"
        )
    _print_failures(summaries)


def _print_failures(summaries: list[LevelSummary]) -> None:
    failures = [(s, f) for s in summaries for f in s.failed]
    if failures:
        print()
    for s, failure in failures:
        print(f"failed: {pairing_label(s.pairing)}, loss {s.loss:.0%}, {failure}")


# --- trace mode -------------------------------------------------------------------------------

_AIODTLS_TRACE = re.compile(r"^\s*(\d+\.\d{3}) (.*)$")
_OPENSSL_RECORD = re.compile(r"^(Sent|Received) Record$")
_OPENSSL_EPOCH = re.compile(r"epoch=(\d+), sequence_number=([0-9a-fA-F]+)")
_OPENSSL_TYPE = re.compile(r"Content Type = (\w+)")
_OPENSSL_MESSAGE = re.compile(r"^\s+(\w+), Length=(\d+)$")
_OPENSSL_FRAGMENT = re.compile(r"message_seq=(\d+), fragment_offset=(\d+), fragment_length=(\d+)")
_OPENSSL_ALERT = re.compile(r"^\s+(Level=.*)$")
_SHORT_TYPES = {"Handshake": "HS", "ChangeCipherSpec": "CCS", "ApplicationData": "APP"}


def condense_openssl_trace(lines: list[OutputLine]) -> list[tuple[float, str]]:
    """OpenSSL ``-trace`` output as one line per burst of records sent or received.

    A burst is consecutive records in the same direction printed within 2 ms of each other;
    each record is ``e<epoch>#<seq> <type>`` plus the messages the trace decoded in it (a sent
    message is printed whole after its last record). Field details and certificate dumps are
    left out; stderr (``-state``) and s_server's own messages are kept as they are.
    """
    out: list[tuple[float, str]] = []
    burst: list[str] = []
    verb, burst_time, last_time = "", 0.0, 0.0
    skipping_until = ""

    def flush() -> None:
        if burst:
            count = f"{len(burst)} records" if len(burst) > 1 else "record"
            out.append((burst_time, f"{verb.lower()} {count}: {'; '.join(burst)}"))
            burst.clear()

    for line in lines:
        text = line.text
        if line.stream != "stdout":
            if text.strip():
                out.append((line.time, text))
            continue
        if skipping_until:
            if text.startswith(skipping_until):
                skipping_until = ""
        elif text == "------details-----":
            skipping_until = "------------------"
        elif text.startswith("-----BEGIN"):
            skipping_until = "-----END"
        elif record := _OPENSSL_RECORD.match(text):
            if record.group(1) != verb or line.time - last_time > 0.002:
                flush()
                verb, burst_time = record.group(1), line.time
            burst.append("?")
            last_time = line.time
        elif not text or text.startswith(" ") or text == "Header:":
            if not burst:
                continue
            if epoch := _OPENSSL_EPOCH.search(text):
                burst[-1] = f"e{epoch.group(1)}#{int(epoch.group(2), 16)}"
            elif (kind := _OPENSSL_TYPE.search(text)) and text.startswith("  Content"):
                burst[-1] += " " + _SHORT_TYPES.get(kind.group(1), kind.group(1))
            elif message := _OPENSSL_MESSAGE.match(text):
                burst[-1] += f" {message.group(1)}"
            elif fragment := _OPENSSL_FRAGMENT.search(text):
                seq, offset, length = fragment.groups()
                burst[-1] += f" seq={seq} [{offset}+{length}]"
            elif alert := _OPENSSL_ALERT.match(text):
                burst[-1] += f" {alert.group(1)}"
        else:
            flush()
            out.append((line.time, text))
    flush()
    return out


def timeline(traced: TraceOutput) -> list[str]:
    """Relay datagrams and both processes' output, on one clock starting at the client's first
    datagram. aiodtls trace lines carry their own monotonic time; other lines are stamped when
    they were read."""
    rows: list[tuple[float, int, str]] = []
    for event in traced.relay:
        fate = "DROP" if event.dropped else "fwd "
        rows.append(
            (
                event.time,
                len(rows),
                f"relay  {ARROWS[event.direction]} #{event.index:<3} {event.size:4} B {fate} "
                f"{event.summary}",
            )
        )
    for peer, tag in ((traced.client, "client"), (traced.server, "server")):
        if peer.implementation == "openssl":
            for when, text in condense_openssl_trace(peer.lines):
                rows.append((when, len(rows), f"{tag:6} {text}"))
            continue
        for line in peer.lines:
            when, text = line.time, line.text
            match = _AIODTLS_TRACE.match(text)
            if match and abs(float(match.group(1)) - traced.t0) < 3600:
                when, text = float(match.group(1)), match.group(2)
            rows.append((when, len(rows), f"{tag:6} {text}"))
    rows.sort()
    return [f"{when - traced.t0:9.3f}  {text}" for when, _, text in rows]


async def trace_one(args: argparse.Namespace, testbed: Testbed) -> int:
    """``--trace-seed``: one traced handshake and its timeline."""
    (loss,) = args.loss
    (pairing,) = args.pairing
    result, traced = await run_handshake(
        pairing,
        loss,
        args.trace_seed,
        args.base_port,
        testbed,
        trace=True,
        openssl_trace=args.openssl_trace,
    )
    assert traced is not None
    lines = timeline(traced)
    header = [
        f"# {pairing_label(pairing)}, loss {loss:.0%} each way, seed {args.trace_seed}, "
        f"RTT {2 * ONE_WAY_DELAY * 1000:g} ms, MTU {DATAGRAM_MTU}, aiodtls {testbed.aiodtls}",
        f"# client: {' '.join(traced.client.argv)}",
        f"# server: {' '.join(traced.server.argv)}",
        "# times in seconds from the relay's first client datagram; relay lines: direction, "
        "index of the loss draw, size, DROP or fwd (forwarded 25 ms later), decode",
    ]
    outcome = (
        f"# completed in {result.time:.3f} s" if result.completed else f"# FAILED: {result.reason}"
    )
    stats = (
        f"# relay: c->s {result.c2s.datagrams} datagrams ({result.c2s.dropped} dropped, largest "
        f"{result.c2s.largest} B), s->c {result.s2c.datagrams} ({result.s2c.dropped} dropped, "
        f"largest {result.s2c.largest} B)"
    )
    text = "\n".join([*header, *lines, outcome, stats]) + "\n"
    print(text, end="")
    if args.trace_dir:
        directory = Path(args.trace_dir)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "timeline.txt").write_text(text)
        for peer, name in ((traced.client, "client"), (traced.server, "server")):
            (directory / f"{name}-{PAIRINGS[pairing][name == 'server']}.log").write_text(
                "".join(
                    f"{line.time - traced.t0:9.3f} {line.stream} {line.text}\n"
                    for line in peer.lines
                )
            )
        print(f"# logs written to {directory}", file=sys.stderr)
    return 0 if result.completed else 1


# --- command line -----------------------------------------------------------------------------


def _seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        low, sep, high = part.partition("-")
        try:
            seeds.extend(range(int(low), int(high) + 1) if sep else [int(low)])
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected seeds like 0-39 or 3,17,20: {text!r}"
            ) from None
    return seeds


def _losses(text: str) -> list[float]:
    try:
        losses = [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected loss levels like 0,0.1,0.2: {text!r}") from None
    if not all(0.0 <= x < 1.0 for x in losses):
        raise argparse.ArgumentTypeError("loss levels are probabilities below 1")
    return losses


def _pairings(text: str) -> list[str]:
    names = list(PAIRINGS) if text == "all" else text.split(",")
    unknown = [n for n in names if n not in PAIRINGS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown pairing(s) {unknown}; known: {list(PAIRINGS)}")
    return names


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="Real-process DTLS 1.2 handshakes (aiodtls CLI and OpenSSL CLI, all four "
        "pairings) through a seeded lossy UDP relay: RTT 50 ms, 576-byte datagrams, a "
        "3-certificate RSA chain, 60 s cap. Prints completed/runs and p50/p90/p99 seconds "
        "from the client's first datagram to the finished handshake (a failed run counts as 60 s).",
        epilog="Pairings are CLIENT-SERVER: " + ", ".join(PAIRINGS) + ". A relay, a server and a "
        "client per handshake; every process is killed and every port freed after each run.",
    )
    parser.add_argument(
        "--loss", type=_losses, default=list(DEFAULT_LOSSES),
        help="loss levels, each way, comma-separated (default 0,0.1,0.2,0.3)",
    )  # fmt: skip
    parser.add_argument(
        "--runs", type=int, default=40, help="handshakes per pairing and level (default 40)"
    )
    parser.add_argument(
        "--first-seed", type=int, default=0, help="seeds are FIRST..FIRST+RUNS-1 (default 0)"
    )
    parser.add_argument(
        "--seeds",
        type=_seeds,
        help="explicit seeds instead, e.g. 0-39 or 5,17,30 (overrides --runs)",
    )
    parser.add_argument(
        "--pairing", type=_pairings, default=list(PAIRINGS),
        help="comma-separated CLIENT-SERVER pairings or 'all' (default all)",
    )  # fmt: skip
    parser.add_argument(
        "--parallel", type=int, default=8,
        help="handshakes at once, each with its own relay, processes and ports (default 8)",
    )  # fmt: skip
    parser.add_argument(
        "--base-port", type=int, default=21000,
        help="worker i's servers listen on BASE+i (default 21000, below the ephemeral range)",
    )  # fmt: skip
    parser.add_argument(
        "--format", choices=["text", "markdown"], default="text", help="table format (default text)"
    )
    parser.add_argument(
        "--json", metavar="PATH", nargs="?", const="-",
        help="write parameters, per-level summaries and every run as JSON to PATH (stdout if "
        "no PATH, instead of the table)",
    )  # fmt: skip
    parser.add_argument(
        "--certs", metavar="DIR", help="write the chain here (default: a temporary directory)"
    )
    parser.add_argument(
        "--aiodtls-rev", metavar="REV",
        help="run the aiodtls client and server of this git revision (exported with git archive) "
        "instead of this working tree, which others may be editing (default: the working tree)",
    )  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress line per run on stderr")
    parser.add_argument(
        "--trace-seed", type=int, metavar="SEED",
        help="run one traced handshake (needs one --pairing and one --loss) and print its timeline",
    )  # fmt: skip
    parser.add_argument(
        "--trace-dir", metavar="DIR", help="with --trace-seed: also write the logs here"
    )
    parser.add_argument(
        "--openssl-trace", action="store_true",
        help="with --trace-seed: also give s_client/s_server -trace (decodes every record, but "
        "under loss it can make s_server or s_client fail where they otherwise would not)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.trace_seed is not None and (len(args.loss) != 1 or len(args.pairing) != 1):
        parser.error("--trace-seed needs exactly one --pairing and one --loss")
    if args.parallel < 1 or args.runs < 1:
        parser.error("--parallel and --runs are at least 1")
    return args


def _openssl_version() -> str:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        return subprocess.run(
            ["openssl", "version"], capture_output=True, text=True, check=True
        ).stdout.strip()
    return "unknown"


async def main_async(args: argparse.Namespace) -> int:
    """Run the benchmark (or one traced handshake)."""
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rpl-")))
        creds = credentials(args.certs, scratch)
        if args.aiodtls_rev:
            src, label = export_revision(args.aiodtls_rev, scratch / "aiodtls")
        else:
            src, label = REPO_ROOT / "src", working_tree_label()
        testbed = Testbed(creds, aiodtls_env(src), label)
        if args.trace_seed is not None:
            return await trace_one(args, testbed)
        seeds = args.seeds or list(range(args.first_seed, args.first_seed + args.runs))
        # Longest levels first, so the slow runs do not all end up at the tail.
        jobs = [
            Job(pairing, loss, seed)
            for loss in sorted(args.loss, reverse=True)
            for pairing in args.pairing
            for seed in seeds
        ]
        started = time.monotonic()
        results = await run_jobs(jobs, testbed, args.parallel, args.base_port, not args.quiet)
        wall = time.monotonic() - started
    results.sort(
        key=lambda r: (args.pairing.index(r.pairing), args.loss.index(r.loss), seeds.index(r.seed))
    )
    summaries = summarize_all(results)
    parameters = {
        "date": time.strftime("%Y-%m-%d"),
        "aiodtls": testbed.aiodtls,
        "openssl": _openssl_version(),
        "python": sys.version.split()[0],
        "losses": args.loss,
        "seeds": seeds,
        "pairings": args.pairing,
        "parallel": args.parallel,
        "one_way_delay": ONE_WAY_DELAY,
        "datagram_mtu": DATAGRAM_MTU,
        "openssl_link_mtu": OPENSSL_LINK_MTU,
        "certificate_message": creds.certificate_message,
        "suite": IANA_SUITE,
        "cap": CAP,
        "wall_seconds": round(wall, 1),
    }
    if args.json is not None:
        document = {
            "parameters": parameters,
            "summaries": [asdict(s) for s in summaries],
            "runs": [asdict(r) for r in results],
        }
        text = json.dumps(document, indent=2)
        if args.json == "-":
            print(text)
            return 0
        Path(args.json).write_text(text + "\n")
    print(
        f"{len(results)} handshakes in {wall:.0f} s ({min(args.parallel, len(jobs))} at once), "
        "aiodtls "
        f"{testbed.aiodtls}, {parameters['openssl']}, {parameters['date']}: "
        f"RTT {2 * ONE_WAY_DELAY * 1000:g} ms, datagrams <= {DATAGRAM_MTU} B, "
        f"{creds.certificate_message} B Certificate message (RSA leaf + intermediate), "
        f"seeds {_seed_text(seeds)}"
    )
    print("seconds from the client's first datagram to its finished handshake; failed = 60 s")
    (print_markdown if args.format == "markdown" else print_text)(summaries)
    return 0


def _seed_text(seeds: list[int]) -> str:
    if seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}..{seeds[-1]}"
    return ",".join(map(str, seeds))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
