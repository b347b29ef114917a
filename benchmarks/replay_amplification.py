#!/usr/bin/env python3
"""What replays of one sniffed ClientHello make a DTLS server send (SPEC X14).

A client passes the cookie exchange with a sans-I/O DtlsEndpoint; its cookie-bearing
ClientHello is then replayed COPIES times from its address over four minutes (twice the
cookie's lifetime) while the victim never answers. Reports the bytes of the server's flights
and of its HelloVerifyRequests, next to the ClientHello's size (docs/security.md).

    python benchmarks/replay_amplification.py [--copies 2000] [--kind ecdsa|rsa]
        [--max-unanswered N] [--rewrite-seq]
"""

from __future__ import annotations

import argparse
import dataclasses

from aiodtls import DtlsConfiguration, DtlsConnection
from aiodtls.endpoint import DtlsEndpoint
from aiodtls.handshake.messages import HandshakeType
from aiodtls.pki import generate_chain
from aiodtls.suites import ProtocolVersion

DTLS12 = (ProtocolVersion.DTLSv1_2,)
"Pinned: the numbers this script documents are DTLS 1.2's (the default allows 1.3 too)."

SERVER = ("192.0.2.1", 4433)
VICTIM = ("198.51.100.7", 40000)


def replay(
    copies: int, kind: str, limit: int | None, rewrite: bool
) -> tuple[int, int, int, int, int]:
    """(ClientHello bytes, first flight bytes, all flight bytes, HVRs, HVR bytes)."""
    bits = (2048, 2048, 2048) if kind == "rsa" else (256, 256, 256)
    chain = generate_chain(kind=kind, key_bits=bits)
    server = DtlsConfiguration(is_client=False, versions=DTLS12)
    server.certificate_chain = chain.chain
    server.private_key = chain.key
    if limit != -1:
        server.retransmission = dataclasses.replace(
            server.retransmission, max_unanswered_transmissions=limit
        )
    endpoint = DtlsEndpoint(server)
    client = DtlsConnection(
        configuration=DtlsConfiguration(server_name="localhost", versions=DTLS12)
    )
    client.connect(SERVER, 0.0)
    for data, _ in client.datagrams_to_send(0.0):
        endpoint.receive_datagram(data, VICTIM, 0.0)
    for reply, _ in endpoint.datagrams_to_send(0.0):
        client.receive_datagram(reply, SERVER, 0.0)
    ((hello, _),) = client.datagrams_to_send(0.0)
    endpoint.receive_datagram(hello, VICTIM, 0.0)
    first = sum(len(d) for d, _ in endpoint.datagrams_to_send(0.0))
    flights, hvrs, hvr_bytes = first, 0, 0
    tick = 0.01  # timers fire on this grid; copies arrive evenly over four minutes
    due = [240.0 * (i + 1) / copies for i in range(copies)]
    for step in range(1, int(360 / tick) + 1):  # then two more minutes of timers
        now = step * tick
        endpoint.handle_timer(now)
        while due and due[0] <= now:
            due.pop(0)
            copy = hello
            if rewrite:  # a new record number, as a real retransmission would have
                copy = hello[:5] + (100 + len(due)).to_bytes(6, "big") + hello[11:]
            endpoint.receive_datagram(copy, VICTIM, now)
        for datagram, _ in endpoint.datagrams_to_send(now):
            if datagram[13] == HandshakeType.hello_verify_request:
                hvrs, hvr_bytes = hvrs + 1, hvr_bytes + len(datagram)
            else:
                flights += len(datagram)
    return len(hello), first, flights, hvrs, hvr_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=2000)
    parser.add_argument("--kind", choices=["ecdsa", "rsa"], default="ecdsa")
    parser.add_argument(
        "--max-unanswered",
        type=int,
        default=-1,
        help="RetransmissionPolicy.max_unanswered_transmissions (default: the library's; "
        "0 means None, no limit)",
    )
    parser.add_argument(
        "--rewrite-seq",
        action="store_true",
        help="give every copy a new record sequence number (the header is not authenticated)",
    )
    args = parser.parse_args()
    limit = None if args.max_unanswered == 0 else args.max_unanswered
    for copies in (1, args.copies):
        hello, first, flights, hvrs, hvr_bytes = replay(copies, args.kind, limit, args.rewrite_seq)
        print(
            f"{copies} copies of a {hello}-byte ClientHello ({args.kind} chain, first flight "
            f"{first} bytes): flights {flights} bytes ({flights / hello:.0f}x the ClientHello), "
            f"{hvrs} HelloVerifyRequests of {hvr_bytes // max(hvrs, 1)} bytes"
        )


if __name__ == "__main__":
    main()
