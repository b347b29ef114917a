#!/usr/bin/env python3
"""Full in-memory handshakes, timed or profiled: where a handshake's time goes.

A client and a server pass datagrams directly (no sockets, virtual time 0), as in
``compare_pyopenssl.py``: ECDHE-ECDSA P-256 with AES-128-GCM (cookie exchange and extended
master secret on, certificate verification off), or PSK-AES128-GCM. Prints handshakes/s, or
with ``--profile`` the cProfile table of the timed handshakes.

    python benchmarks/handshake_profile.py [--suite ecdsa|psk|resumed] [--handshakes 300]
                                           [--profile]

``resumed``: the ECDHE-ECDSA configuration resuming one session by session ID (the bench's
resumed-p256). For instruction counts, run it under ``valgrind --tool=callgrind`` with
``--handshakes 10`` and ``--handshakes 50``: (I50 - I10) / 40 is one handshake, start-up,
key generation and the warm-up cancelling out (docs/performance.md).

To compare two trees, run it alternately with ``PYTHONPATH=<tree>/src`` for each and compare
the medians (the numbers drift with the machine; only ratios taken side by side mean much).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import ssl
import time

from cryptography.hazmat.primitives.asymmetric import ec

from aiodtls import (
    CipherSuite,
    DtlsConfiguration,
    NamedGroup,
)
from aiodtls.bench.peers import aiodtls_pair
from aiodtls.pki import generate_chain
from aiodtls.resumption import ServerSessionStore
from aiodtls.suites import ProtocolVersion

DTLS12 = (ProtocolVersion.DTLSv1_2,)
"Pinned: the numbers this script documents are DTLS 1.2's (the default allows 1.3 too)."


def configurations(suite: str) -> tuple[DtlsConfiguration, DtlsConfiguration]:
    """(client, server) for ``suite``: "ecdsa" or "psk"."""
    if suite == "psk":
        client = DtlsConfiguration(
            is_client=True,
            psk=bytes(16),
            psk_identity=b"client",
            verify_mode=ssl.CERT_NONE,
            versions=DTLS12,
        )
        client.cipher_suites = [CipherSuite.TLS_PSK_WITH_AES_128_GCM_SHA256]
        return client, DtlsConfiguration(is_client=False, psk=bytes(16), versions=DTLS12)
    chain = generate_chain()  # P-256 keys
    assert isinstance(chain.key, ec.EllipticCurvePrivateKey)
    client = DtlsConfiguration(is_client=True, verify_mode=ssl.CERT_NONE, versions=DTLS12)
    client.cipher_suites = [CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
    client.groups = [NamedGroup.secp256r1]
    server = DtlsConfiguration(is_client=False, private_key=chain.key, versions=DTLS12)
    server.certificate_chain = [chain.leaf]
    return client, server


def resuming_configurations() -> tuple[DtlsConfiguration, DtlsConfiguration]:
    """(client, server) of the "ecdsa" suite, the client holding a session the server keeps
    (by session ID, no tickets): every handshake between them is an abbreviated one."""
    client, server = configurations("ecdsa")
    server.session_store = ServerSessionStore()
    client.session_tickets = False
    client.session = aiodtls_pair(client, server)[0].session
    return client, server


def handshake(client_config: DtlsConfiguration, server_config: DtlsConfiguration) -> None:
    """One handshake between two new connections, both ends in memory."""
    aiodtls_pair(client_config, server_config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=("ecdsa", "psk", "resumed"), default="ecdsa")
    parser.add_argument("--handshakes", type=int, default=300)
    parser.add_argument("--profile", action="store_true", help="print a cProfile table")
    parser.add_argument("--sort", default="tottime", help="cProfile sort key (tottime)")
    args = parser.parse_args()
    if args.suite == "resumed":
        client_config, server_config = resuming_configurations()
        if not aiodtls_pair(client_config, server_config)[0].session_resumed:
            raise RuntimeError("the session was not resumed")
    else:
        client_config, server_config = configurations(args.suite)
    for _ in range(20):  # warm-up: imports, caches
        handshake(client_config, server_config)
    profile = cProfile.Profile() if args.profile else None
    start = time.perf_counter()
    if profile is not None:
        profile.enable()
    for _ in range(args.handshakes):
        handshake(client_config, server_config)
    if profile is not None:
        profile.disable()
    elapsed = time.perf_counter() - start
    print(f"{args.suite}: {args.handshakes / elapsed:.0f} handshakes/s")
    if profile is not None:
        pstats.Stats(profile).sort_stats(args.sort).print_stats(40)


if __name__ == "__main__":
    main()
