"""Benchmarks of aiodtls next to pyOpenSSL and the ``cryptography`` floor (``aiodtls bench``).

Owns the metrics of issue 13, which contenders each one compares and how they are timed.
Every comparison is measured in ONE process and run: the contenders' batches take turns
(aiodtls, pyOpenSSL, floor, aiodtls, ...) so a machine whose speed drifts slows them alike,
and each rate is the median of those repetitions. Both libraries run in memory (no sockets)
with the same group, suite, certificate, cookie exchange (on), extended master secret (on)
and verification (off on the client, as the server's signature is still checked).

The *floor* of a metric is exactly the ``cryptography`` (and ``hmac``) calls that a handshake
or a record needs, timed alone: what a library with no protocol cost at all would reach.
Ratios: ``pyopenssl`` is aiodtls's rate over pyOpenSSL's (above 1: aiodtls is faster),
``floor`` is aiodtls's time over the floor's (how many times the bare crypto it costs),
``plain_udp`` is the asyncio echo's rate over the same echo without DTLS.

pyOpenSSL is optional (the ``test`` extra); without it the comparison column is empty. What
each library does for a handshake or a record is ``aiodtls.bench.peers``; the floor's calls
are ``aiodtls.bench.floor``; this module times them (only :func:`interleave` reads a clock)
and holds the metrics. The command line is ``aiodtls.cli.bench``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import platform
import ssl
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import cryptography

from ..configuration import DtlsConfiguration
from ..connection import ConnectionState, DtlsConnection
from ..endpoint import DtlsEndpoint
from ..pki import generate_chain
from ..resumption import ServerSessionStore
from ..suites import ProtocolVersion
from .floor import handshake_floor, records_floor, resumed_floor
from .peers import (
    KINDS,
    PSK_IDENTITY,
    PSK_KEY,
    SERVER,
    aiodtls_configs,
    aiodtls_pair,
    aiodtls_records,
    pyopenssl_contexts,
    pyopenssl_forget,
    pyopenssl_pair,
    pyopenssl_records,
    pyopenssl_resumed,
)

__all__ = [
    "GOALS",
    "METRICS",
    "BenchSettings",
    "MetricResult",
    "environment",
    "interleave",
    "measure_handshakes",
    "measure_records",
    "memory_per_connection",
    "run_metrics",
]

ECHO_PAYLOAD = 100


@dataclass(frozen=True)
class BenchSettings:
    """How much each metric does: a full run, or ``quick()`` for CI (seconds, no meaning)."""

    repetitions: int = 15
    "Timed batches of each contender, interleaved; the rate quoted is their median."
    batch_seconds: float = 0.1
    """About how long one timed batch lasts: each contender's batch is sized from its untimed
    first batch, so the fast ones (the floor, plain UDP) are timed over as long as the slow."""
    handshakes: int = 20
    "Handshakes in the untimed first batch."
    records: int = 2500
    "Records in the untimed first batch."
    echoes: int = 200
    "Echo round trips in the untimed first batch."
    connections: int = 1000
    "Established connections whose memory is measured."
    netsim_runs: int = 20
    "Simulated handshakes in the untimed first batch."

    @classmethod
    def quick(cls) -> BenchSettings:
        """Tiny counts (timed batches of one operation): every metric runs, in seconds."""
        return cls(
            repetitions=2,
            batch_seconds=0.0,
            handshakes=2,
            records=20,
            echoes=5,
            connections=5,
            netsim_runs=2,
        )


@dataclass
class MetricResult:
    """One metric: each contender's median rate (or value), their samples, and the ratios."""

    name: str
    "The metric's name (``--metric NAME``)."
    label: str
    "What is measured, for the table."
    unit: str
    "The unit of the values, e.g. ``handshakes/s``."
    aiodtls: float
    "aiodtls's median."
    pyopenssl: float | None = None
    "pyOpenSSL's median, measured in the same run; None when not measured."
    floor: float | None = None
    "The ``cryptography`` floor's median (same unit); None when the metric has no floor."
    plain_udp: float | None = None
    "The asyncio echo without DTLS (the echo metric's comparison)."
    samples: dict[str, list[float]] = field(default_factory=dict)
    "Every repetition's value, per contender, in the order they were measured."
    note: str = ""
    "Why a comparison is missing, or what the metric leaves out."

    def paired(self, other: str) -> list[float]:
        """aiodtls's rate over ``other``'s in each repetition, in order (empty when ``other``
        was not measured). Both ran back to back, under the same load of the machine."""
        ours, theirs = self.samples.get("aiodtls", []), self.samples.get(other, [])
        return [a / b for a, b in zip(ours, theirs, strict=True)] if theirs else []

    @property
    def ratios(self) -> dict[str, float]:
        """The median over the repetitions of: ``pyopenssl`` and ``plain_udp``, aiodtls's rate
        over theirs; ``floor``, aiodtls's time over the floor's (the floor's rate over ours).
        Medians of per-repetition ratios, not ratios of the medians: a load that comes and goes
        during the run shifts both halves of a pair and cancels out."""
        out: dict[str, float] = {}
        for other in ("pyopenssl", "plain_udp", "floor"):
            pairs = self.paired(other)
            if pairs:
                out[other] = statistics.median(1 / r if other == "floor" else r for r in pairs)
        return out

    def ratio_range(self, other: str) -> tuple[float, float] | None:
        """The smallest and largest aiodtls/other ratio of one repetition: the run's noise."""
        pairs = self.paired(other)
        return (min(pairs), max(pairs)) if pairs else None

    def as_dict(self) -> dict[str, object]:
        """The raw numbers, for ``--json``."""
        out: dict[str, object] = {
            "label": self.label,
            "unit": self.unit,
            "aiodtls": self.aiodtls,
            "pyopenssl": self.pyopenssl,
            "floor": self.floor,
        }
        if self.plain_udp is not None:
            out["plain_udp"] = self.plain_udp
        out["samples"] = self.samples
        for other in ("pyopenssl", "plain_udp"):
            spread = self.ratio_range(other)
            if spread is not None:
                out[f"{other}_ratio_range"] = list(spread)
        if self.note:
            out["note"] = self.note
        return out


Batch = Callable[[int], None]
"Runs ``n`` operations of one contender (handshakes, records, round trips)."


def interleave(
    contenders: dict[str, tuple[int, Batch]], repetitions: int, batch_seconds: float
) -> dict[str, list[float]]:
    """Operations per second of each contender's batch, ``repetitions`` times, taking turns.

    Each contender is ``(operations in its untimed first batch, its batch)``. The first batch
    warms up (imports, caches, the allocator's pools) and sizes the timed ones: as many
    operations as took about ``batch_seconds`` (at least one).
    """
    sizes: dict[str, int] = {}
    for name, (first, run) in contenders.items():
        start = time.perf_counter()
        run(first)
        elapsed = max(time.perf_counter() - start, 1e-9)
        sizes[name] = max(1, round(first * batch_seconds / elapsed))
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repetitions):
        for name, (_, run) in contenders.items():
            gc.collect()
            start = time.perf_counter()
            run(sizes[name])
            rates[name].append(sizes[name] / (time.perf_counter() - start))
    return rates


def _result(
    name: str, label: str, unit: str, rates: dict[str, list[float]], note: str = ""
) -> MetricResult:
    medians = {who: statistics.median(values) for who, values in rates.items()}
    return MetricResult(
        name=name,
        label=label,
        unit=unit,
        aiodtls=medians["aiodtls"],
        pyopenssl=medians.get("pyopenssl"),
        floor=medians.get("floor"),
        plain_udp=medians.get("plain_udp"),
        samples=rates,
        note=note,
    )


def _pyopenssl_missing() -> str | None:
    try:
        import OpenSSL  # noqa: F401
    except ImportError:
        return "pyOpenSSL is not installed (pip install pyopenssl): aiodtls and the floor only"
    return None


def environment() -> dict[str, str]:
    """Versions and machine, printed above the table and kept in the JSON."""
    out = {
        "python": platform.python_version(),
        "cryptography": cryptography.__version__,
        "machine": platform.machine(),
        "cpus": str(os.cpu_count()),
    }
    if _pyopenssl_missing() is None:
        import OpenSSL
        from OpenSSL import SSL

        out["pyopenssl"] = OpenSSL.__version__
        out["openssl"] = SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode()
    return out


# -- the metrics -------------------------------------------------------------------------------


def _batch(first: int, one: Callable[[], object]) -> tuple[int, Batch]:
    """A contender whose operation is ``one()``, first run ``first`` times."""

    def run(n: int) -> None:
        for _ in range(n):
            one()

    return first, run


def measure_handshakes(name: str, settings: BenchSettings) -> MetricResult:
    """Full handshakes/s of one kind (``handshake-p256`` ...), with the cookie exchange unless
    the name ends in ``-nocookie``."""
    kind_name, _, variant = name.removeprefix("handshake-").partition("-")
    kind, cookie = KINDS[kind_name], variant != "nocookie"
    client_cfg, server_cfg = aiodtls_configs(kind, cookie=cookie)
    contenders = {
        "aiodtls": _batch(settings.handshakes, lambda: aiodtls_pair(client_cfg, server_cfg))
    }
    note = _pyopenssl_missing() or ""
    if not note:
        server_ctx, client_ctx = pyopenssl_contexts(kind, cookie=cookie)
        contenders["pyopenssl"] = _batch(
            settings.handshakes, lambda: pyopenssl_pair(server_ctx, client_ctx)
        )
    contenders["floor"] = _batch(settings.handshakes, handshake_floor(kind, cookie=cookie))
    rates = interleave(contenders, settings.repetitions, settings.batch_seconds)
    label = f"full handshakes/s, {kind.label} ({'cookie' if cookie else 'no cookie'}, EMS)"
    return _result(name, label, "handshakes/s", rates, note)


def measure_resumed(name: str, settings: BenchSettings) -> MetricResult:
    """Resumed handshakes/s of ECDHE-ECDSA P-256 sessions, by session ID (``resumed-p256``)
    or by RFC 5077 ticket (``resumed-p256-ticket``), the same mechanism on both libraries."""
    mechanism = "ticket" if name.endswith("-ticket") else "session_id"
    kind = KINDS["p256"]
    client_cfg, server_cfg = aiodtls_configs(kind)
    server_cfg.session_store = ServerSessionStore(
        session_ids=mechanism == "session_id", tickets=mechanism == "ticket"
    )
    client_cfg.session_tickets = mechanism == "ticket"
    client, _ = aiodtls_pair(client_cfg, server_cfg)
    client_cfg.session = client.session

    def ours() -> None:
        client, _ = aiodtls_pair(client_cfg, server_cfg)
        if not client.session_resumed:
            raise RuntimeError("aiodtls did not resume the session")

    contenders = {"aiodtls": _batch(settings.handshakes, ours)}
    note = _pyopenssl_missing() or ""
    if not note:
        server_ctx, client_ctx = pyopenssl_contexts(kind, resumption=mechanism)
        primer = pyopenssl_pair(server_ctx, client_ctx)
        pyopenssl_forget(*primer)
        session = primer[0].get_session()

        def theirs() -> None:
            client, server = pyopenssl_pair(server_ctx, client_ctx, session)
            pyopenssl_forget(client, server)
            if not pyopenssl_resumed(client):
                raise RuntimeError("pyOpenSSL did not resume the session")

        contenders["pyopenssl"] = _batch(settings.handshakes, theirs)
    contenders["floor"] = _batch(settings.handshakes, resumed_floor)
    rates = interleave(contenders, settings.repetitions, settings.batch_seconds)
    how = "ticket" if mechanism == "ticket" else "session ID"
    label = f"resumed handshakes/s, P-256 session (cookie, EMS, {how})"
    return _result(name, label, "handshakes/s", rates, note)


def measure_records(name: str, settings: BenchSettings) -> MetricResult:
    """Records/s of one size (``records-1000`` ...), client to server, AES-128-GCM."""
    size = int(name.removeprefix("records-"))
    payload = os.urandom(size)
    kind = KINDS["p256"]
    n = settings.records
    client, server = aiodtls_pair(*aiodtls_configs(kind))
    contenders: dict[str, tuple[int, Batch]] = {
        "aiodtls": (n, lambda count: aiodtls_records(client, server, count, payload))
    }
    note = _pyopenssl_missing() or ""
    if not note:
        their_client, their_server = pyopenssl_pair(*pyopenssl_contexts(kind))
        contenders["pyopenssl"] = (
            n,
            lambda count: pyopenssl_records(their_client, their_server, count, payload),
        )
    floor = records_floor(payload)
    contenders["floor"] = (n, floor)
    rates = interleave(contenders, settings.repetitions, settings.batch_seconds)
    label = f"{size}-byte records/s (protect + unprotect)"
    return _result(name, label, "records/s", rates, note)


def measure_echo(name: str, settings: BenchSettings) -> MetricResult:
    """Round trips/s of a 100-byte asyncio loopback echo, through aiodtls and plain UDP."""
    from ..asyncio import DtlsSession, connect, serve

    loop = asyncio.new_event_loop()
    payload = os.urandom(ECHO_PAYLOAD)
    client_cfg, server_cfg = aiodtls_configs(KINDS["p256"])

    async def echo(session: DtlsSession) -> None:
        async for data in session:
            session.send(data)

    class PlainEcho(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: Any = transport

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            self.transport.sendto(data, addr)

    class PlainClient(asyncio.DatagramProtocol):
        answer: asyncio.Future[bytes]

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            self.answer.set_result(data)

    async def start() -> tuple[contextlib.AsyncExitStack, DtlsSession, Any, PlainClient]:
        stack = contextlib.AsyncExitStack()
        server = await serve("127.0.0.1", 0, configuration=server_cfg, handler=echo)
        stack.push_async_callback(server.__aexit__)
        port = server.address[1]
        session = await stack.enter_async_context(
            connect("127.0.0.1", port, configuration=client_cfg)
        )
        plain_server, _ = await loop.create_datagram_endpoint(
            PlainEcho, local_addr=("127.0.0.1", 0)
        )
        stack.callback(plain_server.close)
        plain_port = plain_server.get_extra_info("sockname")[1]
        plain, protocol = await loop.create_datagram_endpoint(
            PlainClient, remote_addr=("127.0.0.1", plain_port)
        )
        stack.callback(plain.close)
        return stack, session, plain, protocol

    stack, session, plain, protocol = loop.run_until_complete(start())

    async def dtls_pings(n: int) -> None:
        for _ in range(n):
            session.send(payload)
            if await session.recv() != payload:
                raise RuntimeError("the echo changed the payload")

    async def plain_pings(n: int) -> None:
        for _ in range(n):
            protocol.answer = loop.create_future()
            plain.sendto(payload)
            if await protocol.answer != payload:
                raise RuntimeError("the echo changed the payload")

    n = settings.echoes
    try:
        rates = interleave(
            {
                "aiodtls": (n, lambda count: loop.run_until_complete(dtls_pings(count))),
                "plain_udp": (n, lambda count: loop.run_until_complete(plain_pings(count))),
            },
            settings.repetitions,
            settings.batch_seconds,
        )
    finally:
        loop.run_until_complete(stack.aclose())
        loop.close()
    label = f"asyncio loopback echo, {ECHO_PAYLOAD}-byte round trips/s (vs plain UDP)"
    return _result(name, label, "round trips/s", rates)


def memory_configurations(
    psk: bool, dtls13: bool = False
) -> tuple[DtlsConfiguration, DtlsConfiguration]:
    """A client/server pair for the memory measurement: ECDHE-ECDSA with a throwaway chain
    whose root the client trusts, or PSK; DTLS 1.2 (docs/scaling.md's figures) whatever the
    default versions, or DTLS 1.3 only with ``dtls13``."""
    versions = (ProtocolVersion.DTLSv1_3 if dtls13 else ProtocolVersion.DTLSv1_2,)
    if psk:
        client = DtlsConfiguration(
            is_client=True, psk=PSK_KEY, psk_identity=PSK_IDENTITY, versions=versions
        )
        client.verify_mode = ssl.CERT_NONE
        server = DtlsConfiguration(
            is_client=False, psk=PSK_KEY, idle_timeout=None, versions=versions
        )
        return client, server
    chain = generate_chain()
    client = DtlsConfiguration(is_client=True, server_name="localhost", versions=versions)
    client.ca_certificates = [chain.root]
    server = DtlsConfiguration(
        is_client=False, private_key=chain.key, idle_timeout=None, versions=versions
    )
    server.certificate_chain = chain.chain
    return client, server


def endpoint_handshake(
    endpoint: DtlsEndpoint, client_cfg: DtlsConfiguration, addr: tuple[str, int]
) -> None:
    """One complete in-memory handshake of a new client against the endpoint."""
    client = DtlsConnection(configuration=client_cfg)
    client.connect(SERVER, 0.0)
    for _ in range(20):
        moved = False
        for data, _ in client.datagrams_to_send(0.0):
            endpoint.receive_datagram(data, addr, 0.0)
            moved = True
        for data, to in endpoint.datagrams_to_send(0.0):
            if to == addr:
                client.receive_datagram(data, SERVER, 0.0)
                moved = True
        while endpoint.next_event() is not None:
            pass
        if not moved:
            break
    if client.state != ConnectionState.ESTABLISHED:
        raise RuntimeError(f"handshake with the endpoint did not complete: {client.state}")


def memory_per_connection(
    connections: int, *, psk: bool = False, cid: int | None = None, dtls13: bool = False
) -> float:
    """Bytes a sans-I/O server endpoint holds per established connection (tracemalloc).

    ``connections`` in-memory clients complete their handshakes against one ``DtlsEndpoint``
    and are freed; what the server still holds, divided by their number, is the figure.
    Both sides speak DTLS 1.2, or DTLS 1.3 only with ``dtls13``.
    """
    client_cfg, server_cfg = memory_configurations(psk, dtls13)
    client_cfg.connection_id_length = server_cfg.connection_id_length = cid
    endpoint = DtlsEndpoint(server_cfg)
    endpoint_handshake(endpoint, client_cfg, ("10.255.255.1", 1))  # warm-up: imports, caches
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for i in range(connections):
            address = f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"
            endpoint_handshake(endpoint, client_cfg, (address, 2))
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    total = sum(s.size_diff for s in after.compare_to(before, "filename"))
    return total / connections


def measure_memory(name: str, settings: BenchSettings) -> MetricResult:
    """KiB a server endpoint holds per established ECDHE-ECDSA connection."""
    kib = memory_per_connection(settings.connections) / 1024
    return MetricResult(
        name=name,
        label=f"memory per established connection, KiB ({settings.connections}, ECDHE-ECDSA)",
        unit="KiB",
        aiodtls=kib,
        samples={"aiodtls": [kib]},
        note="tracemalloc sees Python's allocations only: not measured for pyOpenSSL",
    )


def measure_netsim(name: str, settings: BenchSettings) -> MetricResult:
    """Simulated handshakes (``aiodtls netsim`` defaults) per real second."""
    from ..sweep import Scenario, run_handshake

    scenario = Scenario()  # RTT 50 ms, no loss, 5000-byte RSA chain
    seeds = iter(range(1 << 62))

    def one() -> None:
        if not run_handshake(scenario, next(seeds)).completed:
            raise RuntimeError("a simulated handshake did not complete")

    rates = interleave(
        {"aiodtls": _batch(settings.netsim_runs, one)},
        settings.repetitions,
        settings.batch_seconds,
    )
    label = "netsim virtual handshakes per real second (RTT 50 ms, 5000 B RSA chain)"
    return _result(name, label, "handshakes/s", rates)


METRICS: dict[str, Callable[[str, BenchSettings], MetricResult]] = {
    "handshake-p256": measure_handshakes,
    "handshake-x25519": measure_handshakes,
    "handshake-rsa2048": measure_handshakes,
    "handshake-psk": measure_handshakes,
    "handshake-p256-nocookie": measure_handshakes,
    "handshake-x25519-nocookie": measure_handshakes,
    "handshake-rsa2048-nocookie": measure_handshakes,
    "handshake-psk-nocookie": measure_handshakes,
    "resumed-p256": measure_resumed,
    "resumed-p256-ticket": measure_resumed,
    "records-64": measure_records,
    "records-100": measure_records,
    "records-1000": measure_records,
    "records-1200": measure_records,
    "echo": measure_echo,
    "memory": measure_memory,
    "netsim": measure_netsim,
}
"""Metric name -> the function that measures it (called with the name and the settings)."""


GOALS: dict[str, float] = {
    "handshake-p256": 1.0,
    "handshake-psk": 0.6,
    "records-100": 1.7,
    "records-1000": 1.7,
    "echo": 0.7,
}
"""Issue 13's goals: the least ratio aiodtls / pyOpenSSL (echo: / plain UDP) of a metric."""


def run_metrics(names: list[str], settings: BenchSettings) -> Iterator[MetricResult]:
    """Measure each named metric in turn (each one's contenders interleaved)."""
    for name in names:
        yield METRICS[name](name, settings)
