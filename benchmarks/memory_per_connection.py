#!/usr/bin/env python3
"""Memory held by a DTLS server per established connection, measured with tracemalloc.

Creates N in-memory clients against one sans-I/O DtlsEndpoint (no sockets), completes every
handshake, frees the clients, and reports what the server still holds divided by N.

    python benchmarks/memory_per_connection.py [--connections 1000] [--psk] [--cid LEN]
"""

from __future__ import annotations

import argparse
import gc
import ssl
import tracemalloc

from aiodtls import ConnectionState, DtlsConfiguration, DtlsConnection
from aiodtls.endpoint import DtlsEndpoint
from aiodtls.pki import generate_chain

SERVER = ("192.0.2.1", 4433)


def configurations(psk: bool) -> tuple[DtlsConfiguration, DtlsConfiguration]:
    """A client/server pair: ECDHE-ECDSA with a throwaway chain, or PSK."""
    if psk:
        key = bytes(range(16))
        client = DtlsConfiguration(is_client=True, psk=key, psk_identity=b"bench")
        client.verify_mode = ssl.CERT_NONE
        return client, DtlsConfiguration(is_client=False, psk=key, idle_timeout=None)
    chain = generate_chain()
    client = DtlsConfiguration(is_client=True, server_name="localhost")
    client.ca_certificates = [chain.root]
    server = DtlsConfiguration(is_client=False, private_key=chain.key, idle_timeout=None)
    server.certificate_chain = chain.chain
    return client, server


def handshake(endpoint: DtlsEndpoint, client_cfg: DtlsConfiguration, addr: tuple[str, int]) -> None:
    """One complete in-memory handshake against the endpoint."""
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
    assert client.state == ConnectionState.ESTABLISHED


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--psk", action="store_true")
    parser.add_argument("--cid", type=int, help="both sides negotiate connection IDs of LEN bytes")
    args = parser.parse_args()
    client_cfg, server_cfg = configurations(args.psk)
    client_cfg.connection_id_length = server_cfg.connection_id_length = args.cid
    endpoint = DtlsEndpoint(server_cfg)
    handshake(endpoint, client_cfg, ("10.255.255.1", 1))  # warm-up: imports, caches
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for i in range(args.connections):
        handshake(endpoint, client_cfg, (f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", 2))
    gc.collect()
    after = tracemalloc.take_snapshot()
    total = sum(s.size_diff for s in after.compare_to(before, "filename"))
    n = args.connections
    kind = "PSK" if args.psk else "ECDHE-ECDSA"
    if args.cid is not None:
        kind += f" + {args.cid}-byte CID"
    print(f"{n} established {kind} connections: {total / n / 1024:.2f} KiB per connection")


if __name__ == "__main__":
    main()
