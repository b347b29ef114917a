#!/usr/bin/env python3
"""Full in-memory handshakes, timed or profiled: where a handshake's time goes.

A client and a server pass datagrams directly (no sockets, virtual time 0), as in
``compare_pyopenssl.py``: ECDHE-ECDSA P-256 with AES-128-GCM (cookie exchange and extended
master secret on, certificate verification off), or PSK-AES128-GCM. Prints handshakes/s, or
with ``--profile`` the cProfile table of the timed handshakes.

    python benchmarks/handshake_profile.py [--suite ecdsa|psk] [--handshakes 300] [--profile]

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
    ConnectionState,
    DtlsConfiguration,
    DtlsConnection,
    NamedGroup,
)
from aiodtls.pki import generate_chain

CLIENT, SERVER = ("192.0.2.1", 1), ("192.0.2.2", 2)


def configurations(suite: str) -> tuple[DtlsConfiguration, DtlsConfiguration]:
    """(client, server) for ``suite``: "ecdsa" or "psk"."""
    if suite == "psk":
        client = DtlsConfiguration(
            is_client=True, psk=bytes(16), psk_identity=b"client", verify_mode=ssl.CERT_NONE
        )
        client.cipher_suites = [CipherSuite.TLS_PSK_WITH_AES_128_GCM_SHA256]
        return client, DtlsConfiguration(is_client=False, psk=bytes(16))
    chain = generate_chain()  # P-256 keys
    assert isinstance(chain.key, ec.EllipticCurvePrivateKey)
    client = DtlsConfiguration(is_client=True, verify_mode=ssl.CERT_NONE)
    client.cipher_suites = [CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
    client.groups = [NamedGroup.secp256r1]
    server = DtlsConfiguration(is_client=False, private_key=chain.key)
    server.certificate_chain = [chain.leaf]
    return client, server


def handshake(client_config: DtlsConfiguration, server_config: DtlsConfiguration) -> None:
    """One full handshake between two new connections, both ends in memory."""
    client = DtlsConnection(configuration=client_config)
    server = DtlsConnection(configuration=server_config)
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
    assert client.state == server.state == ConnectionState.ESTABLISHED
    while client.next_event() is not None or server.next_event() is not None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=("ecdsa", "psk"), default="ecdsa")
    parser.add_argument("--handshakes", type=int, default=300)
    parser.add_argument("--profile", action="store_true", help="print a cProfile table")
    parser.add_argument("--sort", default="tottime", help="cProfile sort key (tottime)")
    args = parser.parse_args()
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
