"""Many simulated handshakes under one impairment, and their statistics.

Owns the experiment behind ``aiodtls netsim`` and the reliability tests: build one client and
one server configuration, run a handshake per seed on :mod:`aiodtls.netsim`, and summarise
completion, time to handshake, retransmissions and bytes. It adds no protocol behaviour; the
connections are the real ones.
"""

from __future__ import annotations

import random
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from cryptography.hazmat.primitives.serialization import Encoding

from .configuration import DtlsConfiguration
from .connection import ConnectionState, DtlsConnection
from .events import ConnectionTerminated, DataReceived, DtlsEvent, HandshakeCompleted
from .impairment import Impairment
from .netsim import Network
from .pki import CertificateChain, generate_chain
from .reliability.timer import RetransmissionPolicy
from .resumption import ServerSessionStore, Session
from .srtp import SrtpProfile
from .suites import DEFAULT_PSK_CIPHER_SUITES, KeyExchange, ProtocolVersion, suite_info

__all__ = [
    "CLIENT_ADDRESS",
    "SERVER_ADDRESS",
    "SRTP_PROFILES",
    "HandshakeRun",
    "Impairment",
    "Scenario",
    "SimulatedPeer",
    "SweepSummary",
    "certificate_message_size",
    "chain_of_size",
    "percentile",
    "run_handshake",
    "summarize",
    "sweep",
]

CLIENT_ADDRESS = ("192.0.2.1", 50000)
"The simulated client's address (TEST-NET-1)."
SERVER_ADDRESS = ("192.0.2.2", 4433)
"The simulated server's address (TEST-NET-1)."

SRTP_PROFILES = [SrtpProfile.SRTP_AEAD_AES_128_GCM, SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80]
"""The SRTP profiles both sides configure with ``Scenario(srtp=True)``: what browsers and aiortc
offer first among the profiles every libsrtp build has."""


class SimulatedPeer:
    """A connection as a :class:`~aiodtls.netsim.DatagramEndpoint` that keeps its events.

    With ``echo`` it sends every application record it receives straight back.
    """

    def __init__(self, connection: DtlsConnection, *, echo: bool = False) -> None:
        self.connection = connection
        self.events: list[DtlsEvent] = []
        self._echo = echo

    def receive_datagram(self, data: bytes, addr: tuple[str, int], now: float) -> None:
        """Feed the connection and keep its events."""
        self.connection.receive_datagram(data, addr, now)
        self._pull()

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, tuple[str, int]]]:
        """What the connection wants sent."""
        return self.connection.datagrams_to_send(now)

    def get_timer(self) -> float | None:
        """The connection's timer."""
        return self.connection.get_timer()

    def handle_timer(self, now: float) -> None:
        """Fire the connection's timer and keep its events."""
        self.connection.handle_timer(now)
        self._pull()

    def _pull(self) -> None:
        while (event := self.connection.next_event()) is not None:
            self.events.append(event)
            if self._echo and isinstance(event, DataReceived):
                self.connection.send(event.data)

    def received(self, data: bytes) -> bool:
        """True if an application record with exactly ``data`` arrived."""
        return any(isinstance(e, DataReceived) and e.data == data for e in self.events)

    @property
    def completed(self) -> HandshakeCompleted | None:
        """The HandshakeCompleted event, if the handshake completed."""
        return next((e for e in self.events if isinstance(e, HandshakeCompleted)), None)

    @property
    def terminated(self) -> ConnectionTerminated | None:
        """The ConnectionTerminated event, if the connection ended."""
        return next((e for e in self.events if isinstance(e, ConnectionTerminated)), None)


def certificate_message_size(chain: list[bytes]) -> int:
    """Size of a Certificate message body carrying these DER certificates."""
    return 3 + sum(3 + len(der) for der in chain)


def chain_of_size(target: int, *, key_bits: int = 2048) -> tuple[CertificateChain, list[bytes]]:
    """An RSA chain whose Certificate message (leaf, intermediate, root) is about ``target``
    bytes or more: subjectAltNames are added to the leaf, as on a CDN certificate.

    RSA keeps every size fixed from run to run (ECDSA signatures vary by a byte or two), so
    simulations that cut the message into fragments are reproducible.
    """
    names: tuple[str, ...] = ("localhost", "127.0.0.1")
    while True:
        chain = generate_chain(kind="rsa", key_bits=(key_bits, key_bits, key_bits), names=names)
        ders = [c.public_bytes(Encoding.DER) for c in (*chain.chain, chain.root)]
        size = certificate_message_size(ders)
        if size >= target:
            return chain, ders
        # Each extra name costs its length plus a 2-byte DER header.
        extra = max(1, (target - size) // 28 + 1)
        names = (*names, *(f"edge{len(names) + i:03d}.cdn.example.net" for i in range(extra)))


@dataclass
class Scenario:
    """Everything fixed across the seeds of a sweep."""

    impairment: Impairment = field(default_factory=Impairment)
    mtu: int = 1400
    "The MTU both endpoints are configured with."
    psk: bool = False
    psk_dhe: bool | None = None
    """With ``psk``, whether the key exchange adds (EC)DHE (forward secrecy), so that DTLS 1.2
    and 1.3 can be compared like for like. None: each version's defaults (DTLS 1.2 offers
    :data:`~aiodtls.suites.DEFAULT_PSK_CIPHER_SUITES` and the server picks the plain
    TLS_PSK_WITH_AES_128_GCM_SHA256; DTLS 1.3 psk_dhe_ke). False: no (EC)DHE in either, the
    defaults' plain PSK suites alone in DTLS 1.2 and ``psk_key_exchange_modes=("psk_ke",)``
    on both DTLS 1.3 sides. True: the defaults' ECDHE_PSK suites alone in DTLS 1.2, psk_dhe_ke
    in DTLS 1.3."""
    chain_size: int = 5000
    policy: RetransmissionPolicy = field(default_factory=RetransmissionPolicy)
    timeout: float = 60.0
    srtp: bool = False
    "DTLS-SRTP: both sides configure :data:`SRTP_PROFILES` (``use_srtp`` in both hellos)."
    profile: str | None = None
    """``"rfc7925"``: both sides use :meth:`DtlsConfiguration.rfc7925`'s suites, group and
    signature scheme (with ``psk``: TLS_PSK_WITH_AES_128_CCM_8). Needs ``psk`` (the generated
    chain is RSA, which the profile does not allow)."""
    resume: bool = False
    """Measure resumed (abbreviated) handshakes: one lossless full handshake, made once per
    scenario, gives the client a session (and a ticket) of the server's
    ``ServerSessionStore``; every seed's handshake then resumes it."""
    versions: tuple[ProtocolVersion, ...] = (ProtocolVersion.DTLSv1_2,)
    """The protocol versions both sides allow: ``(ProtocolVersion.DTLSv1_3,)`` measures DTLS
    1.3 handshakes (ACKs) over the same paths, seeds and credentials as DTLS 1.2 ones."""
    _resumption: tuple[ServerSessionStore, Session] | None = field(default=None, repr=False)
    _credentials: tuple[CertificateChain, list[bytes]] | None = field(default=None, repr=False)

    def configurations(self) -> tuple[DtlsConfiguration, DtlsConfiguration]:
        """Fresh client and server configurations (credentials are generated once)."""
        client = DtlsConfiguration(is_client=True)
        server = DtlsConfiguration(is_client=False)
        for config in (client, server):
            config.mtu = self.mtu
            config.retransmission = self.policy
            config.handshake_timeout = self.timeout
            config.versions = self.versions
            if self.srtp:
                config.srtp_profiles = list(SRTP_PROFILES)
        if self.profile is not None and not self.psk:
            raise ValueError(f"profile {self.profile!r} needs psk=True (the sweep's chain is RSA)")
        if self.psk_dhe is not None and (not self.psk or self.profile is not None):
            raise ValueError("psk_dhe chooses the key exchange of psk=True without a profile")
        if self.psk:
            client.psk = server.psk = bytes(range(16))
            client.psk_identity = b"sweep"
            client.verify_mode = ssl.CERT_NONE
            if self.profile == "rfc7925":
                for config in (client, server):
                    profile = DtlsConfiguration.rfc7925(is_client=config.is_client, psk=config.psk)
                    config.cipher_suites = profile.cipher_suites
                    config.groups, config.signature_schemes = (
                        profile.groups,
                        profile.signature_schemes,
                    )
            if self.psk_dhe is not None:
                client.cipher_suites = [
                    s
                    for s in DEFAULT_PSK_CIPHER_SUITES
                    if (suite_info(s).key_exchange == KeyExchange.ECDHE_PSK) == self.psk_dhe
                ]
                modes = ("psk_dhe_ke",) if self.psk_dhe else ("psk_ke",)
                client.psk_key_exchange_modes = server.psk_key_exchange_modes = modes
            return client, server
        if self._credentials is None:
            self._credentials = chain_of_size(self.chain_size)
        chain, _ = self._credentials
        client.server_name = "localhost"
        client.ca_certificates = [chain.root]
        server.private_key = chain.key
        server.certificate_chain = [*chain.chain, chain.root]
        return client, server

    def resumable_session(self) -> tuple[ServerSessionStore, Session]:
        """The server's store and the client's session that ``resume`` runs resume."""
        if self._resumption is None:
            primer = replace(self, resume=False, impairment=Impairment())
            client, server = primer.configurations()
            store = ServerSessionStore()
            server.session_store = store
            peer, _, _ = _simulate(primer, client, server, seed=0)
            session = peer.connection.session
            if session is None:
                raise RuntimeError("the full handshake that makes the session did not complete")
            self._resumption = (store, session)
        return self._resumption

    def with_versions(self, *versions: ProtocolVersion) -> Scenario:
        """The same scenario (and credentials) with both sides allowing ``versions``."""
        return replace(self, versions=versions)

    def with_policy(self, policy: RetransmissionPolicy) -> Scenario:
        """The same scenario (and credentials) under another timer policy."""
        return replace(self, policy=policy)


@dataclass(frozen=True)
class HandshakeRun:
    """The outcome of one simulated handshake."""

    seed: int
    completed: bool
    time: float
    "Virtual seconds until the client completed (the timeout if it did not)."
    retransmissions: int
    "Flight retransmissions by both sides."
    bytes: int
    "UDP payload bytes sent by both sides."
    datagrams: int
    reason: str = ""
    "Why it failed, if it did."
    resumed: bool = False
    "The handshake resumed a session (``Scenario.resume``)."
    retransmitted_bytes: int = 0
    "Bytes of the flight retransmissions of both sides (in :attr:`bytes` too; ACKs are not)."


def run_handshake(scenario: Scenario, seed: int) -> HandshakeRun:
    """One handshake over the simulated path with ``seed``."""
    client_cfg, server_cfg = scenario.configurations()
    if scenario.resume:
        server_cfg.session_store, client_cfg.session = scenario.resumable_session()
    client, server, net = _simulate(scenario, client_cfg, server_cfg, seed)
    up, down = net.stats(CLIENT_ADDRESS, SERVER_ADDRESS), net.stats(SERVER_ADDRESS, CLIENT_ADDRESS)
    done = client.completed
    ok = done is not None and server.connection.state == ConnectionState.ESTABLISHED
    ended = client.terminated or server.terminated
    return HandshakeRun(
        seed=seed,
        completed=ok,
        time=done.duration if ok and done is not None else scenario.timeout,
        retransmissions=client.connection.stats.retransmissions
        + server.connection.stats.retransmissions,
        bytes=up.sent_bytes + down.sent_bytes,
        datagrams=up.sent + down.sent,
        reason="" if ok else (ended.reason if ended else "no completion before the deadline"),
        resumed=done is not None and done.session_resumed,
        retransmitted_bytes=client.connection._flight.retransmitted_bytes
        + server.connection._flight.retransmitted_bytes,
    )


def _simulate(
    scenario: Scenario, client_cfg: DtlsConfiguration, server_cfg: DtlsConfiguration, seed: int
) -> tuple[SimulatedPeer, SimulatedPeer, Network]:
    """Run one handshake between these configurations on the scenario's path."""
    client = SimulatedPeer(
        DtlsConnection(configuration=client_cfg, rng=random.Random(f"client-{seed}"))
    )
    server = SimulatedPeer(
        DtlsConnection(configuration=server_cfg, rng=random.Random(f"server-{seed}"))
    )
    net = Network(seed=seed, keep_log=False)
    net.attach(client, CLIENT_ADDRESS, name="client")
    net.attach(server, SERVER_ADDRESS, name="server")
    path = scenario.impairment.conditions()
    net.set_link(CLIENT_ADDRESS, SERVER_ADDRESS, path, reverse=path)

    def settled() -> bool:
        c, s = client.connection.state, server.connection.state
        if ConnectionState.CLOSED in (c, s):
            return True
        return c == ConnectionState.ESTABLISHED and s == ConnectionState.ESTABLISHED

    client.connection.connect(SERVER_ADDRESS, net.now)
    net.run(until=scenario.timeout + 1, stop=settled)
    return client, server, net


def percentile(sorted_values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) with linear interpolation between closest ranks."""
    if not sorted_values:
        return float("nan")
    pos = q * (len(sorted_values) - 1)
    low = int(pos)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (pos - low)


@dataclass(frozen=True)
class SweepSummary:
    """Statistics over the runs of a sweep. Times count a failed run as the timeout."""

    runs: int
    completed: int
    p50: float
    p90: float
    p99: float
    max: float
    mean: float
    retransmissions: float
    "Mean flight retransmissions per handshake (both sides)."
    bytes: float
    "Mean bytes on the wire per handshake (both sides)."
    failures: list[str]
    retransmitted_bytes: float = 0.0
    "Mean bytes of flight retransmissions per handshake (both sides)."

    @property
    def completion_rate(self) -> float:
        """Completed / runs."""
        return self.completed / self.runs if self.runs else 0.0

    def as_dict(self) -> dict[str, object]:
        """The JSON form used by ``aiodtls netsim --json``."""
        return {
            "runs": self.runs,
            "completed": self.completed,
            "completion_rate": self.completion_rate,
            "p50": self.p50,
            "p90": self.p90,
            "p99": self.p99,
            "max": self.max,
            "mean": self.mean,
            "retransmissions": self.retransmissions,
            "bytes": self.bytes,
            "retransmitted_bytes": self.retransmitted_bytes,
        }


def summarize(runs: Iterable[HandshakeRun]) -> SweepSummary:
    """Summarise a sweep."""
    runs = list(runs)
    times = sorted(r.time for r in runs)
    n = len(runs) or 1
    return SweepSummary(
        runs=len(runs),
        completed=sum(r.completed for r in runs),
        p50=percentile(times, 0.5),
        p90=percentile(times, 0.9),
        p99=percentile(times, 0.99),
        max=times[-1] if times else float("nan"),
        mean=sum(times) / n,
        retransmissions=sum(r.retransmissions for r in runs) / n,
        bytes=sum(r.bytes for r in runs) / n,
        failures=[f"seed {r.seed}: {r.reason}" for r in runs if not r.completed],
        retransmitted_bytes=sum(r.retransmitted_bytes for r in runs) / n,
    )


def sweep(
    scenario: Scenario, seeds: Iterable[int], progress: Callable[[int], None] | None = None
) -> list[HandshakeRun]:
    """Run one handshake per seed; ``progress(done)`` is called after each."""
    runs = []
    for i, seed in enumerate(seeds, 1):
        runs.append(run_handshake(scenario, seed))
        if progress is not None:
            progress(i)
    return runs
