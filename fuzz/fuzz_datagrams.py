"""Atheris target for the datagram entry points of ``DtlsConnection`` and ``DtlsEndpoint``.

Owns a coverage-guided fuzz loop over what the network can hand the sans-I/O core:
``receive_datagram``, then ``datagrams_to_send`` and ``handle_timer``. It does not check
protocol conformance beyond a few invariants; the tests do that.

The targets start at every stage of three recorded live handshakes (ECDHE-ECDSA with a
3-certificate chain and the cookie exchange, client authentication, PSK), each in DTLS 1.3 (the
default versions) and in DTLS 1.2: before the run
starts, each handshake is driven in memory and both connections are snapshotted (deep copies)
before every datagram, so a fuzz input can resume a client or a server in any state, including
established. The datagrams of the recorded handshake are material: an input may deliver one
of them verbatim, with a bit flipped, truncated, spliced with its own bytes, or with its
records shuffled, next to raw fuzz bytes. Two more targets are server endpoints: a fresh one
(the recorded second ClientHello carries a cookie valid for it) and one holding an
established association.

A crash is any exception out of those calls, and also:

- a ``ConnectionTerminated`` with ``internal_error`` whose reason starts with
  ``internal error:``: ``DtlsConnection.receive_datagram`` turns any exception of its own
  into that alert, so this is how a bug shows up through its catch-all (except the reasons
  of ``KNOWN_BUGS``, bugs already pinned by a strict xfail);
- a ``DataReceived`` before ``HandshakeCompleted`` on a connection that was handshaking;
- more than one ``HandshakeCompleted`` on one connection.

Run it with ``python3 fuzz/fuzz_datagrams.py -max_total_time=1800`` (see fuzz/README.md).
"""

from __future__ import annotations

import copy
import hashlib
import os
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import atheris  # type: ignore[import-untyped, unused-ignore]

with atheris.instrument_imports():
    import aiodtls
    from aiodtls import (
        AlertDescription,
        ConnectionState,
        ConnectionTerminated,
        DataReceived,
        DtlsConfiguration,
        DtlsConnection,
        DtlsEndpoint,
        DtlsEvent,
        HandshakeCompleted,
    )
    from aiodtls.record.header import RawRecord, split_datagram

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from certs import server_chain
from pairs import (
    CLIENT_ADDR,
    DTLS12_ONLY,
    SERVER_ADDR,
    client_auth_configs,
    client_config,
    psk_configs,
    server_config,
)

del aiodtls  # imported only so that the whole package is instrumented

COOKIE_SECRET = bytes(range(32))
"Fixed, so that the recorded second ClientHello's cookie is valid at a fresh endpoint too."

KNOWN_BUGS: tuple[str, ...] = ()
"""Prefixes of ``internal_error`` reasons of bugs already pinned by strict xfails, which are
then not crashes, so that a run goes on to find new ones (``AIODTLS_FUZZ_STRICT=1`` makes them
crashes again). Empty: the four this target and the bit-flip sweep found in the certificate
check (a key off its curve, an unknown curve, an unknown key type, an invalid X.509 version)
are fixed and have regression tests in tests/test_fuzz_bitflip.py."""
if os.environ.get("AIODTLS_FUZZ_STRICT") == "1":
    KNOWN_BUGS = ()

OTHER_ADDR = ("127.0.0.1", 40001)
MAX_OPERATIONS = 24


class FuzzCrash(Exception):
    """An invariant of the target broke (a crash for the fuzzer)."""


# -- recorded handshakes and snapshots -------------------------------------------------------


def _snapshot(obj: Any, *configurations: DtlsConfiguration) -> Any:
    """A deep copy that shares the AEAD contexts and the given configurations (neither is
    ever changed by a connection)."""
    memo: dict[int, Any] = {id(c): c for c in configurations}
    return copy.deepcopy(obj, memo)


# AESGCM contexts cannot be copied and are never mutated: copies share them.
def _share(x: object, memo: dict[int, Any]) -> object:
    return x


_AEAD_TYPES: list[type] = []
try:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    _AEAD_TYPES.append(AESGCM)
except ImportError:  # pragma: no cover
    pass
# DTLS 1.3's record-number mask keeps one AES-ECB encryptor per epoch (record/protection13.py):
# ECB carries nothing from one whole block to the next, so copies share it as well.
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402

_AEAD_TYPES.append(type(Cipher(algorithms.AES(bytes(16)), modes.ECB()).encryptor()))
for _type in _AEAD_TYPES:
    copy._deepcopy_dispatch[_type] = _share  # type: ignore[attr-defined]


# A running transcript hash cannot be pickled, and it is mutated: copies get their own.
def _copy_hash(x: Any, memo: dict[int, Any]) -> Any:
    return x.copy()


copy._deepcopy_dispatch[type(hashlib.sha256())] = _copy_hash  # type: ignore[attr-defined]

# Nor can a keyed HMAC (the DTLS 1.2 PRF's, keyschedule.PrfSecret): copies get their own.
from cryptography.hazmat.primitives import hashes, hmac  # noqa: E402

_HMAC_TYPE = type(hmac.HMAC(bytes(32), hashes.SHA256()))
copy._deepcopy_dispatch[_HMAC_TYPE] = _copy_hash  # type: ignore[attr-defined]


@dataclass
class Recording:
    """One live handshake: every datagram, and both connections before each one."""

    name: str
    datagrams: list[tuple[str, bytes]] = field(default_factory=list)
    "(direction, bytes) in sending order; direction is 'c2s' or 's2c'."
    stages: list[tuple[float, DtlsConnection, DtlsConnection]] = field(default_factory=list)
    "(now, client, server) before datagram k is delivered, then once after the handshake."


def _record(name: str, client_cfg: DtlsConfiguration, server_cfg: DtlsConfiguration) -> Recording:
    server_cfg.cookie_secret = COOKIE_SECRET
    client_cfg.mtu = server_cfg.mtu = 1400
    client = DtlsConnection(configuration=client_cfg, rng=random.Random(1))
    server = DtlsConnection(configuration=server_cfg, rng=random.Random(2))
    recording = Recording(name)
    now = 0.0
    client.connect(SERVER_ADDR, now)
    for _ in range(50):
        moved = False
        for sender, receiver, direction, source in (
            (client, server, "c2s", CLIENT_ADDR),
            (server, client, "s2c", SERVER_ADDR),
        ):
            for data, _addr in sender.datagrams_to_send(now):
                moved = True
                recording.stages.append(_snapshot((now, client, server)))
                recording.datagrams.append((direction, data))
                receiver.receive_datagram(data, source, now)
                # Events are the recording's: a snapshot starts with none pending.
                while client.next_event() is not None or server.next_event() is not None:
                    pass
        if not moved:
            break
    assert client.state == server.state == ConnectionState.ESTABLISHED, name
    recording.stages.append(_snapshot((now, client, server)))
    return recording


def _three_certificate_chain() -> tuple[DtlsConfiguration, DtlsConfiguration]:
    chain = server_chain("ecdsa")
    server = server_config()
    server.certificate_chain = [*chain.chain, chain.root]
    return client_config(), server


def _dtls12(pair: tuple[DtlsConfiguration, DtlsConfiguration]) -> tuple[DtlsConfiguration, ...]:
    for config in pair:
        config.versions = DTLS12_ONLY
    return pair


# The default versions negotiate DTLS 1.3; each handshake is recorded in DTLS 1.2 as well.
RECORDINGS = [
    _record("ecdhe-ecdsa", *_three_certificate_chain()),
    _record("client-auth", *client_auth_configs()),
    _record("psk", *psk_configs()),
    _record("ecdhe-ecdsa-dtls12", *_dtls12(_three_certificate_chain())),
    _record("client-auth-dtls12", *_dtls12(client_auth_configs())),
    _record("psk-dtls12", *_dtls12(psk_configs())),
]
MATERIAL: list[bytes] = [data for recording in RECORDINGS for _, data in recording.datagrams]
"Every recorded datagram, of every handshake, in both directions."


def _endpoint_fresh() -> tuple[float, DtlsEndpoint]:
    config = server_config(cookie_secret=COOKIE_SECRET)
    return 0.0, DtlsEndpoint(config, rng=random.Random(3))


def _endpoint_established() -> tuple[float, DtlsEndpoint]:
    """An endpoint with one established association (CLIENT_ADDR) and nothing pending."""
    now, endpoint = _endpoint_fresh()
    client = DtlsConnection(configuration=client_config(), rng=random.Random(4))
    client.connect(SERVER_ADDR, now)
    for _ in range(20):
        moved = False
        for data, _addr in client.datagrams_to_send(now):
            moved = True
            endpoint.receive_datagram(data, CLIENT_ADDR, now)
        for data, _addr in endpoint.datagrams_to_send(now):
            moved = True
            client.receive_datagram(data, SERVER_ADDR, now)
        if not moved:
            break
    assert client.state == ConnectionState.ESTABLISHED
    while endpoint.next_event() is not None:
        pass
    return now, _snapshot(endpoint)


ENDPOINTS = [_endpoint_fresh(), _endpoint_established()]


@dataclass(frozen=True)
class Target:
    """Where an input starts: a connection of a recording at a stage, or an endpoint."""

    recording: int
    stage: int
    role: str
    "'client', 'server' or 'endpoint' (then ``stage`` indexes ENDPOINTS)."


TARGETS = [
    Target(r, s, role)
    for r, recording in enumerate(RECORDINGS)
    for s in range(len(recording.stages))
    for role in ("client", "server")
] + [Target(-1, e, "endpoint") for e in range(len(ENDPOINTS))]


# -- datagram mutations ----------------------------------------------------------------------


def _records(data: bytes) -> list[bytes]:
    out = []
    for record in split_datagram(data):
        if not isinstance(record, RawRecord):
            break
        out.append(record.header + record.fragment)
    return out


def _mutate(fdp: Any, data: bytes) -> bytes:
    """A recorded datagram, changed in one of a few ways the input chooses."""
    kind = fdp.ConsumeIntInRange(0, 6)
    if kind == 0 or not data:
        return data
    if kind == 1:  # one bit flipped
        position = fdp.ConsumeIntInRange(0, len(data) * 8 - 1)
        out = bytearray(data)
        out[position // 8] ^= 1 << (position % 8)
        return bytes(out)
    if kind == 2:  # truncated
        return data[: fdp.ConsumeIntInRange(0, len(data) - 1)]
    if kind == 3:  # bytes overwritten by fuzz bytes
        position = fdp.ConsumeIntInRange(0, len(data) - 1)
        patch = bytes(fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 8)))
        return data[:position] + patch + data[position + len(patch) :]
    if kind == 4:  # fuzz bytes inserted
        position = fdp.ConsumeIntInRange(0, len(data))
        inserted = bytes(fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 16)))
        return data[:position] + inserted + data[position:]
    records = _records(data)
    if kind == 5 and records:  # records chosen and ordered by the input
        count = fdp.ConsumeIntInRange(1, 2 * len(records))
        return b"".join(records[fdp.ConsumeIntInRange(0, len(records) - 1)] for _ in range(count))
    # records of two recorded datagrams concatenated
    other: bytes = MATERIAL[fdp.ConsumeIntInRange(0, len(MATERIAL) - 1)]
    return data + other


# -- the loop --------------------------------------------------------------------------------


class Checker:
    """Checks the events of one connection as they come."""

    def __init__(self, handshaking: bool) -> None:
        self.handshaking = handshaking
        self.completed = 0

    def check(self, event: DtlsEvent) -> None:
        if isinstance(event, HandshakeCompleted):
            self.completed += 1
            if self.completed > 1 or not self.handshaking:
                raise FuzzCrash("HandshakeCompleted twice")
        elif isinstance(event, DataReceived):
            if self.handshaking and not self.completed:
                raise FuzzCrash("DataReceived before HandshakeCompleted")
        elif (
            isinstance(event, ConnectionTerminated)
            and event.alert == AlertDescription.internal_error
            and event.reason.startswith("internal error:")
            and not event.reason.startswith(KNOWN_BUGS)
        ):
            raise FuzzCrash(f"exception inside the connection: {event.reason}")


def _run_connection(fdp: Any, now: float, conn: DtlsConnection, source: tuple[str, int]) -> None:
    checker = Checker(conn.state == ConnectionState.HANDSHAKING)

    def drain() -> None:
        while (event := conn.next_event()) is not None:
            checker.check(event)

    def receive(data: bytes) -> None:
        conn.receive_datagram(data, source, now)
        drain()

    now = _operations(fdp, now, receive, conn.datagrams_to_send, conn.get_timer, conn.handle_timer)
    drain()


def _run_endpoint(fdp: Any, now: float, endpoint: DtlsEndpoint) -> None:
    checkers: dict[int, Checker] = {
        id(conn): Checker(conn.state == ConnectionState.HANDSHAKING)
        for conn in endpoint.connections.values()
    }
    sources = [CLIENT_ADDR, OTHER_ADDR]

    def drain() -> None:
        while (item := endpoint.next_event()) is not None:
            conn, event = item
            checkers.setdefault(id(conn), Checker(True)).check(event)

    def receive(data: bytes) -> None:
        endpoint.receive_datagram(data, sources[fdp.ConsumeIntInRange(0, 1)], now)
        drain()

    _operations(
        fdp, now, receive, endpoint.datagrams_to_send, endpoint.get_timer, endpoint.handle_timer
    )
    drain()


def _operations(
    fdp: Any,
    now: float,
    receive: Callable[[bytes], None],
    datagrams_to_send: Callable[[float], object],
    get_timer: Callable[[], float | None],
    handle_timer: Callable[[float], None],
) -> float:
    for _ in range(fdp.ConsumeIntInRange(1, MAX_OPERATIONS)):
        if fdp.remaining_bytes() == 0:
            break
        operation = fdp.ConsumeIntInRange(0, 4)
        if operation == 0:
            receive(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 1500)))
        elif operation == 1:
            receive(_mutate(fdp, MATERIAL[fdp.ConsumeIntInRange(0, len(MATERIAL) - 1)]))
        elif operation == 2:
            datagrams_to_send(now)
        elif operation == 3:
            timer = get_timer()
            if timer is not None:
                now = max(now, timer)
                handle_timer(now)
        else:
            now += fdp.ConsumeIntInRange(0, 200_000) / 1000
            handle_timer(now)
    # Let whatever the input started run out: collect output, fire due timers a few times.
    for _ in range(8):
        datagrams_to_send(now)
        timer = get_timer()
        if timer is None:
            break
        now = max(now, timer)
        handle_timer(now)
    return now


def test_one_input(data: bytes) -> None:
    """One fuzz input: pick a target, then a sequence of operations on it."""
    fdp = atheris.FuzzedDataProvider(data)
    target = TARGETS[fdp.ConsumeIntInRange(0, len(TARGETS) - 1)]
    if target.role == "endpoint":
        now, endpoint = _snapshot(ENDPOINTS[target.stage], ENDPOINTS[target.stage][1].configuration)
        _run_endpoint(fdp, now, endpoint)
        return
    stage = RECORDINGS[target.recording].stages[target.stage]
    now, client, server = _snapshot(stage, stage[1].configuration, stage[2].configuration)
    if target.role == "client":
        _run_connection(fdp, now, client, SERVER_ADDR)
    else:
        _run_connection(fdp, now, server, CLIENT_ADDR)


def main() -> None:
    """Run libFuzzer with the command-line arguments (``-max_total_time=...``, corpus dirs)."""
    print(
        f"{len(TARGETS)} targets from {len(RECORDINGS)} recorded handshakes "
        f"({', '.join(f'{r.name}: {len(r.datagrams)} datagrams' for r in RECORDINGS)}) "
        f"and {len(ENDPOINTS)} endpoints",
        flush=True,
    )
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
