#!/usr/bin/env python3
"""aiodtls next to pyOpenSSL, in the same process and run: handshakes/s and records/s.

Both sides run in memory (no sockets): a client and a server pass datagrams directly, so the
numbers are the protocol cost alone. Same suite (ECDHE-ECDSA P-256, AES-128-GCM), same
self-signed P-256 certificate, certificate verification off on both clients, cookie exchange
on for both servers. Results are ratios aiodtls / pyOpenSSL (higher is better for aiodtls).

    pip install pyopenssl
    python benchmarks/compare_pyopenssl.py [--handshakes 300] [--records 20000] [--size 1000]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import platform
import ssl
import time
from collections.abc import Callable

import cryptography
from cryptography.hazmat.primitives.asymmetric import ec

from aiodtls import (
    CipherSuite,
    ConnectionState,
    DataReceived,
    DtlsConfiguration,
    DtlsConnection,
    NamedGroup,
)
from aiodtls.pki import generate_chain

RECORD_HEADER = 13
CLIENT, SERVER = ("192.0.2.1", 1), ("192.0.2.2", 2)


# -- aiodtls ---------------------------------------------------------------------------------


def aiodtls_configs() -> tuple[DtlsConfiguration, DtlsConfiguration]:
    chain = generate_chain()  # P-256 keys
    assert isinstance(chain.key, ec.EllipticCurvePrivateKey)
    client = DtlsConfiguration(is_client=True, verify_mode=ssl.CERT_NONE)
    client.cipher_suites = [CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
    client.groups = [NamedGroup.secp256r1]
    server = DtlsConfiguration(is_client=False, private_key=chain.key)
    server.certificate_chain = [chain.leaf]
    return client, server


def aiodtls_pair(
    client_cfg: DtlsConfiguration, server_cfg: DtlsConfiguration
) -> tuple[DtlsConnection, DtlsConnection]:
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
    assert client.state == server.state == ConnectionState.ESTABLISHED
    while client.next_event() is not None or server.next_event() is not None:
        pass
    return client, server


def aiodtls_records(client: DtlsConnection, server: DtlsConnection, n: int, payload: bytes) -> None:
    for _ in range(n):
        client.send(payload)
        for data, _ in client.datagrams_to_send(0.0):
            server.receive_datagram(data, CLIENT, 0.0)
        event = server.next_event()
        assert isinstance(event, DataReceived)


# -- pyOpenSSL -------------------------------------------------------------------------------


def pyopenssl_contexts() -> tuple[object, object]:
    from OpenSSL import SSL

    chain = generate_chain()
    server_ctx = SSL.Context(SSL.DTLS_METHOD)
    server_ctx.use_certificate(chain.leaf)
    server_ctx.use_privatekey(chain.key)
    server_ctx.set_cipher_list(b"ECDHE-ECDSA-AES128-GCM-SHA256")
    server_ctx.set_options(SSL.OP_NO_QUERY_MTU | SSL.OP_NO_TICKET | SSL.OP_COOKIE_EXCHANGE)
    secret = os.urandom(32)

    def generate(conn: object) -> bytes:
        return hmac.new(secret, b"peer", hashlib.sha256).digest()[:16]

    server_ctx.set_cookie_generate_callback(generate)
    server_ctx.set_cookie_verify_callback(lambda conn, c: hmac.compare_digest(c, generate(conn)))
    client_ctx = SSL.Context(SSL.DTLS_METHOD)
    client_ctx.set_cipher_list(b"ECDHE-ECDSA-AES128-GCM-SHA256")
    client_ctx.set_options(SSL.OP_NO_QUERY_MTU | SSL.OP_NO_TICKET)
    client_ctx.set_verify(SSL.VERIFY_NONE, lambda *a: True)
    return server_ctx, client_ctx


def _move(src: object, dst: object) -> None:
    from OpenSSL import SSL

    while True:
        try:
            data = src.bio_read(65536)  # type: ignore[attr-defined]
        except SSL.WantReadError:
            return
        dst.bio_write(data)  # type: ignore[attr-defined]


def _step(conn: object) -> bool:
    from OpenSSL import SSL

    try:
        conn.do_handshake()  # type: ignore[attr-defined]
        return True
    except SSL.WantReadError:
        return False


def pyopenssl_pair(server_ctx: object, client_ctx: object) -> tuple[object, object]:
    from OpenSSL import SSL

    server = SSL.Connection(server_ctx, None)  # type: ignore[arg-type]
    server.set_accept_state()
    client = SSL.Connection(client_ctx, None)  # type: ignore[arg-type]
    client.set_connect_state()
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


def pyopenssl_records(client: object, server: object, n: int, payload: bytes) -> None:
    for _ in range(n):
        client.write(payload)  # type: ignore[attr-defined]
        _move(client, server)
        assert server.read(65536) == payload  # type: ignore[attr-defined]


# -- measurement -------------------------------------------------------------------------------


def rate(n: int, run: Callable[[], None]) -> float:
    """Operations per second of ``run`` doing ``n`` operations (best of 3)."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--handshakes", type=int, default=300)
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--size", type=int, default=1000)
    args = parser.parse_args()
    import OpenSSL

    client_cfg, server_cfg = aiodtls_configs()
    server_ctx, client_ctx = pyopenssl_contexts()
    payload = os.urandom(args.size)

    def ours() -> None:
        for _ in range(args.handshakes):
            aiodtls_pair(client_cfg, server_cfg)

    def theirs() -> None:
        for _ in range(args.handshakes):
            pyopenssl_pair(server_ctx, client_ctx)

    ours_hs, theirs_hs = rate(args.handshakes, ours), rate(args.handshakes, theirs)
    c, s = aiodtls_pair(client_cfg, server_cfg)
    ours_rec = rate(args.records, lambda: aiodtls_records(c, s, args.records, payload))
    pc, ps = pyopenssl_pair(server_ctx, client_ctx)
    theirs_rec = rate(args.records, lambda: pyopenssl_records(pc, ps, args.records, payload))

    openssl = OpenSSL.SSL.OpenSSL_version(OpenSSL.SSL.OPENSSL_VERSION).decode()
    print(
        f"Python {platform.python_version()}, cryptography {cryptography.__version__}, "
        f"pyOpenSSL {OpenSSL.__version__} ({openssl}), {platform.machine()}"
    )
    print(f"{'measure':40} {'aiodtls':>12} {'pyOpenSSL':>12} {'ratio':>8}")
    label = "full handshakes/s (cookie, ECDHE P-256)"
    print(f"{label:40} {ours_hs:12.0f} {theirs_hs:12.0f} {ours_hs / theirs_hs:8.3f}")
    label = f"{args.size}-byte records/s (client -> server)"
    print(f"{label:40} {ours_rec:12.0f} {theirs_rec:12.0f} {ours_rec / theirs_rec:8.3f}")


if __name__ == "__main__":
    main()
