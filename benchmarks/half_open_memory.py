#!/usr/bin/env python3
"""Memory a DTLS server holds for half-open handshakes fed length bombs (tracemalloc).

N clients from N sources pass the cookie exchange against one sans-I/O DtlsEndpoint and go
silent; each then sends BOMBS records of 26 bytes, each carrying one byte of a handshake
message that declares 64 KiB (SPEC X2). Reports what the server's traced memory grew by, with
and without the fragments (docs/security.md).

    python benchmarks/half_open_memory.py [--handshakes 1000] [--bombs 4]
"""

from __future__ import annotations

import argparse
import gc
import tracemalloc

from aiodtls import DtlsConfiguration, DtlsConnection
from aiodtls.endpoint import DtlsEndpoint
from aiodtls.handshake.messages import HandshakeType
from aiodtls.pki import generate_chain
from aiodtls.record.header import ContentType, encode_record_header
from aiodtls.suites import ProtocolVersion

DTLS12 = (ProtocolVersion.DTLSv1_2,)
"Pinned: the numbers this script documents are DTLS 1.2's (the default allows 1.3 too)."

SERVER = ("192.0.2.1", 4433)


def bomb(message_seq: int) -> bytes:
    """A 26-byte record: one byte of a ClientKeyExchange that declares 65535 bytes."""
    fragment = (
        bytes((HandshakeType.client_key_exchange,))
        + (65535).to_bytes(3, "big")
        + message_seq.to_bytes(2, "big")
        + bytes(3)
        + (1).to_bytes(3, "big")
        + b"\x00"
    )
    header = encode_record_header(ContentType.handshake, 0xFEFD, 0, 10 + message_seq, 13)
    return header + fragment


def measure(handshakes: int, bombs: int) -> tuple[float, int, int]:
    """(MiB the server grew by, half-open handshakes, bytes charged to its budget)."""
    chain = generate_chain()
    server = DtlsConfiguration(is_client=False, versions=DTLS12)
    server.certificate_chain = chain.chain
    server.private_key = chain.key
    client_config = DtlsConfiguration(is_client=True, server_name="localhost", versions=DTLS12)
    client_config.ca_certificates = [chain.root]
    endpoint = DtlsEndpoint(server)
    records = [bomb(2 + i) for i in range(bombs)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(handshakes):
        addr = (f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", 5000)
        client = DtlsConnection(configuration=client_config)
        client.connect(SERVER, 0.0)
        for data, _ in client.datagrams_to_send(0.0):  # ClientHello
            endpoint.receive_datagram(data, addr, 0.0)
        for reply, _ in endpoint.datagrams_to_send(0.0):  # HelloVerifyRequest
            client.receive_datagram(reply, SERVER, 0.0)
        for data, _ in client.datagrams_to_send(0.0):  # ClientHello with the cookie
            endpoint.receive_datagram(data, addr, 0.0)
        endpoint.datagrams_to_send(0.0)  # flight 4, never delivered
        for record in records:
            endpoint.receive_datagram(record, addr, 0.0)
    del client
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return grown / 2**20, endpoint.half_open, endpoint.buffered_handshake_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--handshakes", type=int, default=1000)
    parser.add_argument("--bombs", type=int, default=4)
    args = parser.parse_args()
    for bombs in (0, args.bombs):
        mib, half_open, charged = measure(args.handshakes, bombs)
        print(
            f"{half_open} half-open handshakes, {bombs} length-bomb fragments each: "
            f"server grew by {mib:.1f} MiB ({charged} bytes charged to the reassembly budget)"
        )


if __name__ == "__main__":
    main()
