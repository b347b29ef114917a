"""Benchmarks of aiodtls next to pyOpenSSL and the ``cryptography`` floor (``aiodtls bench``).

Owns the measurements of issue 13: what each contender does for one metric and how the runs
are timed. Every comparison is measured in ONE process and run: the contenders' batches take
turns (aiodtls, pyOpenSSL, floor, aiodtls, ...) so a machine whose speed drifts slows them
alike, and each rate is the median of those repetitions. Both libraries run in memory (no
sockets) with the same group, suite, certificate, cookie exchange (on), extended master
secret (on) and verification (off on the client, as the server's signature is still checked).

The *floor* of a metric is exactly the ``cryptography`` (and ``hmac``) calls that a handshake
or a record needs, timed alone: what a library with no protocol cost at all would reach.
Ratios: ``pyopenssl`` is aiodtls's rate over pyOpenSSL's (above 1: aiodtls is faster),
``floor`` is aiodtls's time over the floor's (how many times the bare crypto it costs),
``plain_udp`` is the asyncio echo's rate over the same echo without DTLS.

pyOpenSSL is optional (the ``test`` extra); without it the comparison column is empty. It does
not print or read a clock anywhere but :func:`interleave`. The command line is
``aiodtls.cli.bench``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import hmac
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
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .configuration import DtlsConfiguration
from .connection import ConnectionState, DtlsConnection
from .endpoint import DtlsEndpoint
from .events import DataReceived
from .handshake.suites import CipherSuite, NamedGroup
from .pki import CertificateChain, generate_chain
from .resumption import ServerSessionStore

__all__ = [
    "METRICS",
    "BenchSettings",
    "MetricResult",
    "environment",
    "interleave",
    "run_metrics",
]

CLIENT, SERVER = ("192.0.2.1", 1), ("192.0.2.2", 2)
PSK_KEY, PSK_IDENTITY = bytes(range(16)), b"bench"
RECORD_HEADER = 13
ECHO_PAYLOAD = 100


@dataclass(frozen=True)
class BenchSettings:
    """How much each metric does: a full run, or ``quick()`` for CI (seconds, no meaning)."""

    repetitions: int = 7
    "Timed batches of each contender, interleaved; the rate quoted is their median."
    handshakes: int = 40
    "Handshakes per batch."
    records: int = 5000
    "Records per batch."
    echoes: int = 400
    "Echo round trips per batch."
    connections: int = 1000
    "Established connections whose memory is measured."
    netsim_runs: int = 100
    "Simulated handshakes per batch."

    @classmethod
    def quick(cls) -> BenchSettings:
        """Tiny counts: every metric runs once through, in seconds."""
        return cls(repetitions=2, handshakes=2, records=20, echoes=5, connections=5, netsim_runs=2)


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

    @property
    def ratios(self) -> dict[str, float]:
        """``pyopenssl`` and ``plain_udp``: aiodtls's rate over theirs; ``floor``: aiodtls's
        time over the floor's (rates are per second, so the floor's rate over aiodtls's)."""
        out: dict[str, float] = {}
        if self.pyopenssl:
            out["pyopenssl"] = self.aiodtls / self.pyopenssl
        if self.plain_udp:
            out["plain_udp"] = self.aiodtls / self.plain_udp
        if self.floor:
            out["floor"] = self.floor / self.aiodtls
        return out

    def ratio_range(self, other: str) -> tuple[float, float] | None:
        """The smallest and largest aiodtls/other ratio of one repetition: the run's noise."""
        ours, theirs = self.samples.get("aiodtls"), self.samples.get(other)
        if not ours or not theirs:
            return None
        pairs = [a / b for a, b in zip(ours, theirs, strict=True)]
        return min(pairs), max(pairs)

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


def interleave(
    contenders: dict[str, tuple[int, Callable[[], None]]], repetitions: int
) -> dict[str, list[float]]:
    """Operations per second of each contender's batch, ``repetitions`` times, taking turns.

    Each contender is ``(operations in one batch, run one batch)``. One untimed batch each
    first (imports, caches, the allocator's pools); then the timed rounds.
    """
    for _, run in contenders.values():
        run()
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repetitions):
        for name, (count, run) in contenders.items():
            gc.collect()
            start = time.perf_counter()
            run()
            rates[name].append(count / (time.perf_counter() - start))
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


# -- credentials and settings shared by both libraries ---------------------------------------


@dataclass(frozen=True)
class Kind:
    """One handshake configuration, spelled for both libraries."""

    label: str
    suite: CipherSuite
    openssl_cipher: bytes
    group: NamedGroup | None
    "The ECDHE group forced on both sides (None: PSK)."
    openssl_group: bytes
    also_offered: tuple[NamedGroup, bytes] | None
    """A group the client offers after ``group`` and the server never picks: OpenSSL serves
    a P-256 ECDSA certificate only to a client that lists P-256 (RFC 8422 §5.1.1)."""
    key: str
    "``ecdsa`` (P-256), ``rsa`` (2048 bits) or ``psk``."


KINDS = {
    "p256": Kind(
        "ECDHE-ECDSA P-256",
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        b"ECDHE-ECDSA-AES128-GCM-SHA256",
        NamedGroup.secp256r1,
        b"P-256",
        None,
        "ecdsa",
    ),
    "x25519": Kind(
        "ECDHE-ECDSA X25519",
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        b"ECDHE-ECDSA-AES128-GCM-SHA256",
        NamedGroup.x25519,
        b"X25519",
        (NamedGroup.secp256r1, b"P-256"),
        "ecdsa",
    ),
    "rsa2048": Kind(
        "ECDHE-RSA-2048 P-256",
        CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        b"ECDHE-RSA-AES128-GCM-SHA256",
        NamedGroup.secp256r1,
        b"P-256",
        None,
        "rsa",
    ),
    "psk": Kind(
        "PSK-AES128-GCM",
        CipherSuite.TLS_PSK_WITH_AES_128_GCM_SHA256,
        b"PSK-AES128-GCM-SHA256",
        None,
        b"",
        None,
        "psk",
    ),
}

_chains: dict[str, CertificateChain] = {}


def _chain(key: str) -> CertificateChain:
    """One self-signed-style chain per key type per process (RSA keys take a while)."""
    if key not in _chains:
        bits = (2048, 2048, 2048) if key == "rsa" else (256, 256, 256)
        _chains[key] = generate_chain(kind=key, key_bits=bits)
    return _chains[key]


def aiodtls_configs(kind: Kind) -> tuple[DtlsConfiguration, DtlsConfiguration]:
    """Client and server configurations: one suite and group, cookie and EMS on, no
    verification of the certificate by the client (its signature on the key exchange is)."""
    client = DtlsConfiguration(is_client=True, verify_mode=ssl.CERT_NONE)
    server = DtlsConfiguration(is_client=False)
    for config in (client, server):
        config.cipher_suites = [kind.suite]
        if kind.group is not None:
            config.groups = [kind.group]
    if kind.also_offered is not None:
        client.groups.append(kind.also_offered[0])
    if kind.key == "psk":
        client.psk, client.psk_identity, server.psk = PSK_KEY, PSK_IDENTITY, PSK_KEY
    else:
        chain = _chain(kind.key)
        server.private_key = chain.key
        server.certificate_chain = [chain.leaf]
    return client, server


def aiodtls_pair(
    client_cfg: DtlsConfiguration, server_cfg: DtlsConfiguration
) -> tuple[DtlsConnection, DtlsConnection]:
    """One complete handshake in memory; both connections established, events drained."""
    client = DtlsConnection(configuration=client_cfg)
    server = DtlsConnection(configuration=server_cfg)
    client.connect(SERVER, 0.0)
    for _ in range(10):
        moved = False
        for data, _ in client.datagrams_to_send(0.0):
            server.receive_datagram(data, CLIENT, 0.0)
            moved = True
        for data, _ in server.datagrams_to_send(0.0):
            client.receive_datagram(data, SERVER, 0.0)
            moved = True
        if not moved:
            break
    if not client.state == server.state == ConnectionState.ESTABLISHED:
        raise RuntimeError(f"aiodtls handshake did not complete: {client.state}, {server.state}")
    while client.next_event() is not None or server.next_event() is not None:
        pass
    return client, server


def aiodtls_records(client: DtlsConnection, server: DtlsConnection, n: int, payload: bytes) -> None:
    """``n`` records from client to server: protect, send, unprotect, deliver."""
    for _ in range(n):
        client.send(payload)
        for data, _ in client.datagrams_to_send(0.0):
            server.receive_datagram(data, CLIENT, 0.0)
        event = server.next_event()
        if not isinstance(event, DataReceived):
            raise RuntimeError(f"expected the record, got {event!r}")


# -- pyOpenSSL ---------------------------------------------------------------------------------


def pyopenssl_contexts(kind: Kind, *, resumption: bool = False) -> tuple[Any, Any]:
    """Server and client ``SSL.Context`` with the same settings as :func:`aiodtls_configs`."""
    from OpenSSL import SSL
    from OpenSSL._util import ffi, lib

    server_ctx = SSL.Context(SSL.DTLS_METHOD)
    client_ctx = SSL.Context(SSL.DTLS_METHOD)
    for ctx in (server_ctx, client_ctx):
        ctx.set_cipher_list(kind.openssl_cipher)
        ctx.set_options(SSL.OP_NO_QUERY_MTU | SSL.OP_NO_TICKET)
        groups = kind.openssl_group
        if ctx is client_ctx and kind.also_offered is not None:
            groups += b":" + kind.also_offered[1]
        # pyOpenSSL's set_tmp_ecdh takes no X25519; this is SSL_CTX_set1_groups_list.
        if groups and lib.SSL_CTX_set1_curves_list(ctx._context, groups) != 1:
            raise RuntimeError(f"OpenSSL refused the groups {groups!r}")
    if SSL.OP_COOKIE_EXCHANGE is None:  # pyOpenSSL's name for a build without it
        raise RuntimeError("this OpenSSL has no DTLS cookie exchange")
    server_ctx.set_options(SSL.OP_COOKIE_EXCHANGE)
    secret = os.urandom(32)

    def generate(conn: object) -> bytes:
        return hmac.new(secret, b"peer", hashlib.sha256).digest()[:16]

    server_ctx.set_cookie_generate_callback(generate)
    server_ctx.set_cookie_verify_callback(lambda conn, c: hmac.compare_digest(c, generate(conn)))
    client_ctx.set_verify(SSL.VERIFY_NONE, lambda *a: True)
    if resumption:
        server_ctx.set_session_id(b"aiodtls-bench")
        server_ctx.set_session_cache_mode(SSL.SESS_CACHE_SERVER)
    else:  # like aiodtls without a session_store: nothing is kept per handshake
        server_ctx.set_session_cache_mode(SSL.SESS_CACHE_OFF)
    if kind.key == "psk":
        _pyopenssl_psk(server_ctx, client_ctx, ffi, lib)
    else:
        chain = _chain(kind.key)
        server_ctx.use_certificate(chain.leaf)
        server_ctx.use_privatekey(chain.key)
    return server_ctx, client_ctx


def _pyopenssl_psk(server_ctx: Any, client_ctx: Any, ffi: Any, lib: Any) -> None:
    """The PSK callbacks (pyOpenSSL has no API for them): one key for the one identity."""

    def server_psk(ssl_: Any, identity: Any, psk: Any, max_psk: int) -> int:
        ffi.memmove(psk, PSK_KEY, len(PSK_KEY))
        return len(PSK_KEY)

    def client_psk(
        ssl_: Any, hint: Any, identity: Any, max_identity: int, psk: Any, max_psk: int
    ) -> int:
        ffi.memmove(identity, PSK_IDENTITY + b"\0", len(PSK_IDENTITY) + 1)
        ffi.memmove(psk, PSK_KEY, len(PSK_KEY))
        return len(PSK_KEY)

    server_callback = ffi.callback(
        "unsigned int(SSL *, const char *, unsigned char *, unsigned int)", server_psk
    )
    client_callback = ffi.callback(
        "unsigned int(SSL *, const char *, char *, unsigned int, unsigned char *, unsigned int)",
        client_psk,
    )
    lib.SSL_CTX_set_psk_server_callback(server_ctx._context, server_callback)
    lib.SSL_CTX_set_psk_client_callback(client_ctx._context, client_callback)
    # cffi frees a callback with its Python object: the contexts keep theirs.
    server_ctx.bench_psk_callback = server_callback
    client_ctx.bench_psk_callback = client_callback


def _move(src: Any, dst: Any) -> None:
    from OpenSSL import SSL

    while True:
        try:
            data = src.bio_read(65536)
        except SSL.WantReadError:
            return
        dst.bio_write(data)


def _step(conn: Any) -> bool:
    from OpenSSL import SSL

    try:
        conn.do_handshake()
        return True
    except SSL.WantReadError:
        return False


def pyopenssl_pair(server_ctx: Any, client_ctx: Any, session: Any = None) -> tuple[Any, Any]:
    """One complete pyOpenSSL handshake in memory (memory BIOs), resuming ``session`` if given."""
    from OpenSSL import SSL

    server = SSL.Connection(server_ctx, None)
    server.set_accept_state()
    client = SSL.Connection(client_ctx, None)
    client.set_connect_state()
    if session is not None:
        client.set_session(session)
    for conn in (client, server):
        conn.set_ciphertext_mtu(1400)  # memory BIOs cannot be asked for an MTU
    client_done = _step(client)
    server_done = False
    for _ in range(20):
        _move(client, server)
        server_done = _step(server) or server_done
        _move(server, client)
        client_done = _step(client) or client_done
        if client_done and server_done:
            _move(client, server)
            return client, server
    raise RuntimeError("pyOpenSSL handshake did not complete")


def pyopenssl_forget(*conns: Any) -> None:
    """Mark connections shut down without sending anything, as aiodtls's are simply dropped:
    OpenSSL takes the session of a connection freed otherwise out of the server's cache."""
    from OpenSSL import SSL

    for conn in conns:
        conn.set_shutdown(SSL.SENT_SHUTDOWN | SSL.RECEIVED_SHUTDOWN)


def pyopenssl_resumed(conn: Any) -> bool:
    """Whether a pyOpenSSL connection's handshake resumed a session."""
    from OpenSSL._util import lib

    return bool(lib.SSL_session_reused(conn._ssl))


def pyopenssl_records(client: Any, server: Any, n: int, payload: bytes) -> None:
    """``n`` records from client to server through pyOpenSSL."""
    for _ in range(n):
        client.write(payload)
        _move(client, server)
        if server.read(65536) != payload:
            raise RuntimeError("pyOpenSSL delivered something else")


# -- the cryptography floor --------------------------------------------------------------------


def _prf(secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    """TLS 1.2 PRF with SHA-256 (RFC 5246 §5), one-shot HMACs: its bare cost."""
    seed = label + seed
    out, a = b"", seed
    while len(out) < length:
        a = hmac.digest(secret, a, "sha256")
        out += hmac.digest(secret, a + seed, "sha256")
    return out[:length]


def _key_schedule_and_finished(premaster: bytes, transcript: bytes, resumed: bool) -> None:
    """Both sides' master secret (EMS), key block, AEAD keys and Finished (each side computes
    its own and checks the peer's), and the two Finished records sealed and opened."""
    running = hashes.Hash(hashes.SHA256())
    running.update(transcript)
    randoms = os.urandom(64)
    aeads = []
    for _ in range(2):  # client, server
        if resumed:
            master = premaster
        else:
            session_hash = running.copy().finalize()
            master = _prf(premaster, b"extended master secret", session_hash, 48)
        block = _prf(master, b"key expansion", randoms, 40)
        aeads.append((AESGCM(block[:16]), AESGCM(block[16:32])))
        for label in (b"client finished", b"server finished"):
            _prf(master, label, running.copy().finalize(), 12)
    (client_write, client_read), (server_read, server_write) = aeads
    aad, nonce = bytes(RECORD_HEADER), bytes(12)
    server_read.decrypt(nonce, client_write.encrypt(nonce, bytes(16), aad), aad)
    client_read.decrypt(nonce, server_write.encrypt(nonce, bytes(16), aad), aad)


def _cookie() -> None:
    secret = b"\x01" * 32
    for _ in range(2):  # made for the first ClientHello, checked on the second
        hmac.digest(secret, bytes(100), "sha256")


def handshake_floor(kind: Kind) -> Callable[[], None]:
    """One handshake's crypto calls, both sides: cookie, ECDHE, signature, key schedule."""
    transcript = bytes(600 if kind.key == "psk" else 1500)
    if kind.key == "psk":
        premaster = bytes(2) + PSK_KEY + bytes(2) + PSK_KEY  # RFC 4279 §2 layout
        leaf_der = b""
    else:
        chain = _chain(kind.key)
        leaf_der = chain.leaf.public_bytes(serialization.Encoding.DER)
        server_key = chain.key
        premaster = b""

    def exchange() -> bytes:
        if kind.group == NamedGroup.x25519:
            a, b = x25519.X25519PrivateKey.generate(), x25519.X25519PrivateKey.generate()
            a_pub = a.public_key().public_bytes_raw()
            b_pub = b.public_key().public_bytes_raw()
            b.exchange(x25519.X25519PublicKey.from_public_bytes(a_pub))
            return a.exchange(x25519.X25519PublicKey.from_public_bytes(b_pub))
        c, s = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
        point = serialization.PublicFormat.UncompressedPoint
        c_pub = c.public_key().public_bytes(serialization.Encoding.X962, point)
        s_pub = s.public_key().public_bytes(serialization.Encoding.X962, point)
        curve = ec.SECP256R1()
        s.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(curve, c_pub))
        return c.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(curve, s_pub))

    def one() -> None:
        _cookie()
        secret = premaster
        if kind.key != "psk":
            secret = exchange()
            params = os.urandom(64 + 70)  # randoms and ServerECDHParams, signed
            public = x509.load_der_x509_certificate(leaf_der).public_key()
            if isinstance(server_key, rsa.RSAPrivateKey):
                pss = padding.PSS(padding.MGF1(hashes.SHA256()), hashes.SHA256().digest_size)
                signature = server_key.sign(params, pss, hashes.SHA256())
                assert isinstance(public, rsa.RSAPublicKey)
                public.verify(signature, params, pss, hashes.SHA256())
            else:
                signature = server_key.sign(params, ec.ECDSA(hashes.SHA256()))
                assert isinstance(public, ec.EllipticCurvePublicKey)
                public.verify(signature, params, ec.ECDSA(hashes.SHA256()))
        _key_schedule_and_finished(secret, transcript, resumed=False)

    return one


def resumed_floor() -> None:
    """One resumed handshake's crypto calls: cookie, key block, Finished, nothing else."""
    _cookie()
    _key_schedule_and_finished(os.urandom(48), bytes(400), resumed=True)


def records_floor(payload: bytes) -> Callable[[int], None]:
    """``n`` records' crypto: one AES-128-GCM seal and one open each."""
    aead = AESGCM(os.urandom(16))
    aad, nonce = bytes(RECORD_HEADER), bytes(12)

    def run(n: int) -> None:
        for _ in range(n):
            aead.decrypt(nonce, aead.encrypt(nonce, payload, aad), aad)

    return run


# -- the metrics -------------------------------------------------------------------------------


def _batch(n: int, one: Callable[[], object]) -> tuple[int, Callable[[], None]]:
    def run() -> None:
        for _ in range(n):
            one()

    return n, run


def measure_handshakes(name: str, settings: BenchSettings) -> MetricResult:
    """Full handshakes/s of one kind (``handshake-p256`` ...)."""
    kind = KINDS[name.removeprefix("handshake-")]
    client_cfg, server_cfg = aiodtls_configs(kind)
    contenders = {
        "aiodtls": _batch(settings.handshakes, lambda: aiodtls_pair(client_cfg, server_cfg))
    }
    note = _pyopenssl_missing() or ""
    if not note:
        server_ctx, client_ctx = pyopenssl_contexts(kind)
        contenders["pyopenssl"] = _batch(
            settings.handshakes, lambda: pyopenssl_pair(server_ctx, client_ctx)
        )
    contenders["floor"] = _batch(settings.handshakes, handshake_floor(kind))
    rates = interleave(contenders, settings.repetitions)
    label = f"full handshakes/s, {kind.label} (cookie, EMS)"
    return _result(name, label, "handshakes/s", rates, note)


def measure_resumed(name: str, settings: BenchSettings) -> MetricResult:
    """Resumed handshakes/s (session ID, no ticket on both), ECDHE-ECDSA P-256 sessions."""
    kind = KINDS["p256"]
    client_cfg, server_cfg = aiodtls_configs(kind)
    server_cfg.session_store = ServerSessionStore()
    client_cfg.session_tickets = False  # OpenSSL's side resumes by session ID too
    client, _ = aiodtls_pair(client_cfg, server_cfg)
    client_cfg.session = client.session

    def ours() -> None:
        client, _ = aiodtls_pair(client_cfg, server_cfg)
        if not client.session_resumed:
            raise RuntimeError("aiodtls did not resume the session")

    contenders = {"aiodtls": _batch(settings.handshakes, ours)}
    note = _pyopenssl_missing() or ""
    if not note:
        server_ctx, client_ctx = pyopenssl_contexts(kind, resumption=True)
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
    rates = interleave(contenders, settings.repetitions)
    label = "resumed handshakes/s, P-256 session (cookie, EMS, session ID)"
    return _result(name, label, "handshakes/s", rates, note)


def measure_records(name: str, settings: BenchSettings) -> MetricResult:
    """Records/s of one size (``records-1000`` ...), client to server, AES-128-GCM."""
    size = int(name.removeprefix("records-"))
    payload = os.urandom(size)
    kind = KINDS["p256"]
    n = settings.records
    client, server = aiodtls_pair(*aiodtls_configs(kind))
    contenders = {"aiodtls": (n, lambda: aiodtls_records(client, server, n, payload))}
    note = _pyopenssl_missing() or ""
    if not note:
        their_client, their_server = pyopenssl_pair(*pyopenssl_contexts(kind))
        contenders["pyopenssl"] = (
            n,
            lambda: pyopenssl_records(their_client, their_server, n, payload),
        )
    floor = records_floor(payload)
    contenders["floor"] = (n, lambda: floor(n))
    rates = interleave(contenders, settings.repetitions)
    label = f"{size}-byte records/s (protect + unprotect)"
    return _result(name, label, "records/s", rates, note)


def measure_echo(name: str, settings: BenchSettings) -> MetricResult:
    """Round trips/s of a 100-byte asyncio loopback echo, through aiodtls and plain UDP."""
    from .asyncio import DtlsSession, connect, serve

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
                "aiodtls": (n, lambda: loop.run_until_complete(dtls_pings(n))),
                "plain_udp": (n, lambda: loop.run_until_complete(plain_pings(n))),
            },
            settings.repetitions,
        )
    finally:
        loop.run_until_complete(stack.aclose())
        loop.close()
    label = f"asyncio loopback echo, {ECHO_PAYLOAD}-byte round trips/s (vs plain UDP)"
    return _result(name, label, "round trips/s", rates)


def memory_configurations(psk: bool) -> tuple[DtlsConfiguration, DtlsConfiguration]:
    """A client/server pair for the memory measurement: ECDHE-ECDSA with a throwaway chain
    whose root the client trusts, or PSK."""
    if psk:
        client = DtlsConfiguration(is_client=True, psk=PSK_KEY, psk_identity=PSK_IDENTITY)
        client.verify_mode = ssl.CERT_NONE
        return client, DtlsConfiguration(is_client=False, psk=PSK_KEY, idle_timeout=None)
    chain = generate_chain()
    client = DtlsConfiguration(is_client=True, server_name="localhost")
    client.ca_certificates = [chain.root]
    server = DtlsConfiguration(is_client=False, private_key=chain.key, idle_timeout=None)
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


def memory_per_connection(connections: int, *, psk: bool = False, cid: int | None = None) -> float:
    """Bytes a sans-I/O server endpoint holds per established connection (tracemalloc).

    ``connections`` in-memory clients complete their handshakes against one ``DtlsEndpoint``
    and are freed; what the server still holds, divided by their number, is the figure.
    """
    client_cfg, server_cfg = memory_configurations(psk)
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
    from .sweep import Scenario, run_handshake

    scenario = Scenario()  # RTT 50 ms, no loss, 5000-byte RSA chain
    seeds = iter(range(1 << 62))

    def one() -> None:
        if not run_handshake(scenario, next(seeds)).completed:
            raise RuntimeError("a simulated handshake did not complete")

    rates = interleave({"aiodtls": _batch(settings.netsim_runs, one)}, settings.repetitions)
    label = "netsim virtual handshakes per real second (RTT 50 ms, 5000 B RSA chain)"
    return _result(name, label, "handshakes/s", rates)


METRICS: dict[str, Callable[[str, BenchSettings], MetricResult]] = {
    "handshake-p256": measure_handshakes,
    "handshake-x25519": measure_handshakes,
    "handshake-rsa2048": measure_handshakes,
    "handshake-psk": measure_handshakes,
    "resumed-p256": measure_resumed,
    "records-64": measure_records,
    "records-100": measure_records,
    "records-1000": measure_records,
    "records-1200": measure_records,
    "echo": measure_echo,
    "memory": measure_memory,
    "netsim": measure_netsim,
}
"""Metric name -> the function that measures it (called with the name and the settings)."""


def run_metrics(names: list[str], settings: BenchSettings) -> Iterator[MetricResult]:
    """Measure each named metric in turn (each one's contenders interleaved)."""
    for name in names:
        yield METRICS[name](name, settings)
