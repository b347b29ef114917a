#!/usr/bin/env python3
"""DTLS-SRTP handshakes between aiodtls and aiortc through a seeded lossy relay (issue 11).

Pairings, each over its own relay on loopback, all in this process's asyncio loop:

- ``aiodtls-aiortc``: aiodtls ``connect()`` (client) -> aiortc ``RTCDtlsTransport`` as DTLS
  server (ICE controlling), DTLS-SRTP (aiortc always negotiates it; aiodtls offers
  AEAD_AES_128_GCM and AES128_CM_SHA1_80);
- ``aiortc-aiodtls``: aiortc as DTLS client (ICE controlled) -> aiodtls ``serve()``, DTLS-SRTP;
- ``aiodtls-aiodtls``: aiodtls -> aiodtls, plain DTLS (the baseline);
- ``aiodtls-aiodtls-srtp``: aiodtls -> aiodtls with DTLS-SRTP.

Every side uses an ECDSA P-256 self-signed certificate and pins the peer's SHA-256 fingerprint
(WebRTC style; aiortc only allows ECDHE-ECDSA suites). aiodtls endpoints use ``mtu=576``;
aiortc's OpenSSL cuts records for its 256-byte minimum MTU but sends each flight as one
datagram (~780 bytes). The relay drops each datagram with probability LOSS independently in
each direction, with one ``random.Random`` per direction seeded from (seed, direction) and one
draw per datagram in arrival order (as ``tests/interop/lossy_proxy.py``), and delays each
forwarded datagram by 25 ms (RTT 50 ms). Time to handshake runs from the relay's first datagram
to the client's completion (``connect()`` yielding the session; aiortc's ``start()``
returning ``connected``), on the loop's clock. A run that has not completed after 60 s fails
and counts as 60 s in the percentiles (as ``aiodtls netsim``).

    PYTHONPATH=src python3 benchmarks/aiortc_loss.py                # 40 seeds, 20 % loss
    PYTHONPATH=src python3 benchmarks/aiortc_loss.py --runs 10 --pairing aiodtls-aiortc
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from aiodtls import DtlsConfiguration, HandshakeError
from aiodtls.asyncio import DtlsSession, connect, serve
from aiodtls.pki import Credentials, fingerprint, format_fingerprint, self_signed
from aiodtls.suites import ProtocolVersion
from aiodtls.sweep import SRTP_PROFILES, percentile
from interop.aiortc_peer import AiortcPeer

DTLS12 = (ProtocolVersion.DTLSv1_2,)
"Pinned: the numbers this script documents are DTLS 1.2's (the default allows 1.3 too)."

DEADLINE = 60.0
DELAY = 0.025
MTU = 576
PAIRINGS = ["aiodtls-aiortc", "aiortc-aiodtls", "aiodtls-aiodtls", "aiodtls-aiodtls-srtp"]


class Relay:
    """A seeded lossy relay for one client: listen socket <-> upstream socket."""

    def __init__(self, upstream: tuple[str, int], loss: float, seed: int) -> None:
        self.upstream = upstream
        self.loss = loss
        self.rng = {d: random.Random(f"lossy-proxy:{seed}:{d}") for d in ("to_server", "to_client")}
        self.first: float | None = None
        self.client: tuple[str, int] | None = None
        self.dropped = {"to_server": 0, "to_client": 0}
        self.forwarded = {"to_server": 0, "to_client": 0}
        self.listen: Any = None
        self.up: Any = None

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        relay = self

        class Listen(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                if relay.first is None:
                    relay.first = loop.time()
                relay.client = (addr[0], addr[1])
                relay.forward("to_server", data)

        class Up(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                relay.forward("to_client", data)

        self.listen, _ = await loop.create_datagram_endpoint(Listen, local_addr=("127.0.0.1", 0))
        self.up, _ = await loop.create_datagram_endpoint(Up, remote_addr=self.upstream)
        return int(self.listen.get_extra_info("sockname")[1])

    def forward(self, direction: str, data: bytes) -> None:
        if self.rng[direction].random() < self.loss:
            self.dropped[direction] += 1
            return
        self.forwarded[direction] += 1
        loop = asyncio.get_running_loop()
        if direction == "to_server":
            loop.call_later(DELAY, self._send_up, data)
        else:
            loop.call_later(DELAY, self._send_back, data)

    def _send_up(self, data: bytes) -> None:
        if not self.up.is_closing():
            self.up.sendto(data)

    def _send_back(self, data: bytes) -> None:
        if not self.listen.is_closing() and self.client is not None:
            self.listen.sendto(data, self.client)

    def close(self) -> None:
        self.listen.close()
        self.up.close()


class Failed(Exception):
    """aiortc's handshake ended without connecting."""


@dataclass
class Run:
    seed: int
    completed: bool
    time: float
    profile: str | None
    dropped: dict[str, int]
    reason: str = ""


def pin(credentials: Credentials) -> str:
    return format_fingerprint(fingerprint(credentials.certificate))


def aiodtls_config(
    is_client: bool, credentials: Credentials, peer_pin: str, srtp: bool
) -> DtlsConfiguration:
    return DtlsConfiguration(
        is_client=is_client,
        certificate_chain=credentials.chain,
        private_key=credentials.key,
        peer_fingerprints=[peer_pin],
        srtp_profiles=list(SRTP_PROFILES) if srtp else None,
        mtu=MTU,
        handshake_timeout=DEADLINE,
        versions=DTLS12,  # the documented numbers are DTLS 1.2 (aiortc speaks nothing else)
    )


def aiortc_pin(peer: AiortcPeer) -> str:
    return next(f for f in peer.fingerprints if f.startswith("sha-256 "))


async def aiodtls_server(
    credentials: Credentials, peer_pin: str, srtp: bool, sessions: asyncio.Queue[DtlsSession]
) -> Any:
    done = asyncio.Event()

    async def handler(session: DtlsSession) -> None:
        sessions.put_nowait(session)
        await done.wait()

    server = await serve(
        "127.0.0.1",
        0,
        configuration=aiodtls_config(False, credentials, peer_pin, srtp),
        handler=handler,
    )
    return server, done


async def run_once(pairing: str, seed: int, loss: float) -> Run:
    loop = asyncio.get_running_loop()
    mine, theirs = self_signed(kind="ecdsa"), self_signed(kind="ecdsa")
    cleanup: list[Callable[[], Awaitable[None] | None]] = []
    relay: Relay | None = None
    profile: str | None = None
    try:
        if pairing == "aiodtls-aiortc":
            peer = await AiortcPeer.open("controlling", receive_ssrc=1, send_ssrc=2)
            cleanup.append(peer.close)
            relay = Relay(peer.ice.address, loss, seed)
            port = await relay.start()
            started = asyncio.ensure_future(peer.start(mine.certificate))

            def cancel_start() -> None:
                started.cancel()

            cleanup.append(cancel_start)
            config = aiodtls_config(True, mine, aiortc_pin(peer), True)
            async with connect("127.0.0.1", port, configuration=config) as session:
                finished = loop.time()
                profile = session.srtp_profile.name if session.srtp_profile else None
                await asyncio.wait_for(asyncio.shield(started), 5.0)
                assert peer.dtls.state == "connected", peer.states
        elif pairing == "aiortc-aiodtls":
            peer = await AiortcPeer.open("controlled", receive_ssrc=1, send_ssrc=2)
            cleanup.append(peer.close)
            sessions: asyncio.Queue[DtlsSession] = asyncio.Queue()
            server, done = await aiodtls_server(mine, aiortc_pin(peer), True, sessions)
            cleanup.append(server.close)
            cleanup.append(done.set)
            relay = Relay(("127.0.0.1", server.address[1]), loss, seed)
            port = await relay.start()
            peer.ice.peer = ("127.0.0.1", port)
            await asyncio.wait_for(peer.start(mine.certificate), DEADLINE)
            finished = loop.time()
            if peer.dtls.state != "connected":
                raise Failed(f"aiortc's DTLS states: {peer.states}")
            profile = peer.srtp_profile.name
        else:
            srtp = pairing.endswith("-srtp")
            sessions = asyncio.Queue()
            server, done = await aiodtls_server(mine, pin(theirs), srtp, sessions)
            cleanup.append(server.close)
            cleanup.append(done.set)
            relay = Relay(("127.0.0.1", server.address[1]), loss, seed)
            port = await relay.start()
            config = aiodtls_config(True, theirs, pin(mine), srtp)
            async with connect("127.0.0.1", port, configuration=config) as session:
                finished = loop.time()
                profile = session.srtp_profile.name if session.srtp_profile else None
        assert relay.first is not None
        return Run(seed, True, finished - relay.first, profile, dict(relay.dropped))
    except (HandshakeError, Failed, asyncio.TimeoutError, AssertionError) as exc:
        dropped = dict(relay.dropped) if relay else {}
        return Run(seed, False, DEADLINE, profile, dropped, f"{type(exc).__name__}: {exc}")
    finally:
        for step in reversed(cleanup):
            result = step()
            if asyncio.iscoroutine(result):
                await result
        if relay is not None:
            relay.close()


async def run_pairing(pairing: str, seeds: range, loss: float, parallel: int) -> list[Run]:
    limit = asyncio.Semaphore(parallel)

    async def one(seed: int) -> Run:
        async with limit:
            return await run_once(pairing, seed, loss)

    return list(await asyncio.gather(*(one(seed) for seed in seeds)))


def summary(runs: list[Run]) -> dict[str, Any]:
    times = sorted(r.time for r in runs)
    return {
        "runs": len(runs),
        "completed": sum(r.completed for r in runs),
        "p50": percentile(times, 0.5),
        "p90": percentile(times, 0.9),
        "p99": percentile(times, 0.99),
        "max": times[-1],
        "profiles": sorted({r.profile or "none" for r in runs if r.completed}),
        "failures": [f"seed {r.seed}: {r.reason}" for r in runs if not r.completed],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--loss", type=float, default=0.2)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--pairing", choices=PAIRINGS, action="append")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    seeds = range(args.seed, args.seed + args.runs)
    results: dict[str, list[Run]] = {}
    print(
        f"{args.runs} handshakes per pairing, seeds {seeds.start}..{seeds.stop - 1}, "
        f"{args.loss:.0%} loss each way, RTT {2 * DELAY * 1000:g} ms, aiodtls mtu {MTU}"
    )
    print(f"{'pairing':22} {'completed':>9} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7}  profiles")
    for pairing in args.pairing or PAIRINGS:
        runs = asyncio.run(run_pairing(pairing, seeds, args.loss, args.parallel))
        results[pairing] = runs
        s = summary(runs)
        print(
            f"{pairing:22} {s['completed']:>4}/{s['runs']:<4} {s['p50']:7.3f} {s['p90']:7.3f} "
            f"{s['p99']:7.3f} {s['max']:7.3f}  {', '.join(s['profiles'])}",
            flush=True,
        )
        for failure in s["failures"][:5]:
            print(f"  failed: {failure}")
    if args.json:
        data = {
            p: {"summary": summary(r), "runs": [asdict(x) for x in r]} for p, r in results.items()
        }
        Path(args.json).write_text(json.dumps(data, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
