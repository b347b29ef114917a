"""Interop with OpenSSL's ``s_server`` / ``s_client -dtls1_2`` over loopback UDP.

Covers issue acceptance item 1 for OpenSSL: both directions, data both ways, ECDHE-ECDSA with
a verified 3-certificate chain, ECDHE-RSA and PSK, the cookie exchange, the negotiated suite
seen by both ends, s_server's default 228-byte fragmentation, and mutual authentication.

OpenSSL runs with ``-trace``: its decoded handshake shows the HelloVerifyRequest (the cookie
exchange happened, SPEC C1) and the message lengths.
"""

from __future__ import annotations

import pytest

from .launch import (
    AIODTLS,
    OPENSSL,
    aiodtls_client_to_s_server,
    exchange_with_aiodtls_server,
    exchange_with_s_server,
    peer_client_to_aiodtls_server,
)
from .peers import (
    CASE_MATRIX,
    CASES,
    HANDSHAKE_FAILED,
    HANDSHAKE_OK,
    Case,
    InteropFiles,
    PeerProcess,
    PeerSet,
    free_udp_port,
    is_hello_verify_request,
)

pytestmark = pytest.mark.interop

# ECDSA server chain + a client certificate under the separate client CA.
MUTUAL = CASES[0]


def requiring_client_certificate(files: InteropFiles) -> tuple[str, ...]:
    """s_server options that demand a client certificate under the client CA."""
    return (
        "-mtu",
        "1500",
        "-Verify",
        "4",
        "-verify_return_error",
        "-CAfile",
        str(files.client.root),
    )


def assert_s_client_negotiated(client: PeerProcess, case: Case) -> None:
    """s_client's own view: DTLS 1.2, the pinned suite, a verified chain, a cookie exchange."""
    out = client.stdout()
    assert "Protocol  : DTLSv1.2" in out, client.describe()
    assert f"Cipher is {case.openssl_cipher}" in out, client.describe()
    if case.kind is not None:
        assert "Verify return code: 0 (ok)" in out, client.describe()
    assert "HelloVerifyRequest" in out, client.describe()  # SPEC C1: our server sent one


@pytest.mark.parametrize("case", CASE_MATRIX)
def test_aiodtls_client_to_s_server(
    peers: PeerSet, interop_files: InteropFiles, case: Case
) -> None:
    # Issue acceptance item 1: aiodtls client -> openssl s_server, data both ways;
    # SPEC C1/C3 (client completes the cookie exchange), K1 (PSK).
    handshake, server = aiodtls_client_to_s_server(peers, case, interop_files)

    assert handshake["version"] == "DTLSv1.2"
    assert handshake["suite"] == case.suite
    out = server.stdout()
    assert f"CIPHER is {case.openssl_cipher}" in out, server.describe()
    assert "HelloVerifyRequest" in out, server.describe()


@pytest.mark.parametrize("kind", ["ecdsa", "rsa"])
def test_aiodtls_client_reassembles_s_server_fragments(
    peers: PeerSet, interop_files: InteropFiles, kind: str
) -> None:
    # Issue acceptance item 1 (s_server's default 228-byte fragmentation of the 3-certificate
    # chain); SPEC F4 (reassembly of a fragmented Certificate), P2.
    case = next(c for c in CASES if c.kind == kind)
    port = free_udp_port()
    # No -mtu: s_server's unconnected socket falls back to OpenSSL's 256-byte minimum MTU.
    # (-listen would connect the socket and so disable the fragmentation.)
    server = OPENSSL.server(peers, port, case, interop_files)
    relay = peers.relay(port)
    client = AIODTLS.client(peers, relay.port, case, interop_files)
    handshake = exchange_with_s_server(peers, client, server)

    assert handshake["suite"] == case.suite
    out = server.stdout()
    assert "HelloVerifyRequest" in out, server.describe()
    assert is_hello_verify_request(relay.first("to_client")), relay.first("to_client").hex()
    certificate_length = int(server.wait_for(r"Certificate, Length=(\d+)", "stdout").group(1))
    sizes = relay.sizes("to_client")
    assert certificate_length > 2 * 228, out
    assert max(sizes) <= 228, sizes
    assert sum(1 for size in sizes if size == 228) >= certificate_length // 228, sizes


def test_aiodtls_client_to_s_server_listen(peers: PeerSet, interop_files: InteropFiles) -> None:
    # Issue acceptance item 1 with s_server -listen (stateless DTLSv1_listen cookie exchange);
    # SPEC C1/C3/C4: our client repeats its ClientHello with the cookie.
    case = CASES[0]
    port = free_udp_port()
    server = OPENSSL.server(peers, port, case, interop_files, "-mtu", "1500", "-listen")
    relay = peers.relay(port)
    client = AIODTLS.client(peers, relay.port, case, interop_files)
    handshake = exchange_with_s_server(peers, client, server)

    assert handshake["suite"] == case.suite
    assert f"CIPHER is {case.openssl_cipher}" in server.stdout(), server.describe()
    # DTLSv1_listen answers before the traced connection exists, so check the wire: the
    # server's first datagram is a HelloVerifyRequest.
    assert is_hello_verify_request(relay.first("to_client")), relay.first("to_client").hex()


def test_aiodtls_client_rejects_untrusted_chain(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    # Verification is real: trusting only the client CA, our client must refuse s_server's
    # chain (issue acceptance item 1, "verified" chain).
    case = MUTUAL
    port = free_udp_port()
    OPENSSL.server(peers, port, case, interop_files, "-mtu", "1500")
    client = AIODTLS.client(peers, port, case, interop_files, ca=interop_files.client.root)
    client.close_stdin()
    assert client.wait_exit() != 0, peers.describe()
    assert HANDSHAKE_FAILED.search(client.stderr()), client.describe()
    assert not HANDSHAKE_OK.search(client.stderr()), client.describe()


def test_aiodtls_client_certificate_to_s_server(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    # Issue acceptance item 1, mutual authentication (aiodtls client -> s_server -Verify);
    # SPEC H2 (client Certificate + CertificateVerify accepted by a strict peer).
    case = MUTUAL
    client_pem = interop_files.client
    port = free_udp_port()
    server = OPENSSL.server(
        peers, port, case, interop_files, *requiring_client_certificate(interop_files)
    )
    client = AIODTLS.client(
        peers,
        port,
        case,
        interop_files,
        "--cert",
        str(client_pem.chain),
        "--key",
        str(client_pem.key),
    )
    handshake = exchange_with_s_server(peers, client, server)

    assert handshake["suite"] == case.suite
    out = server.stdout()
    assert "subject=O = aiodtls tests, CN = client" in out, server.describe()
    assert "CertificateVerify" in out, server.describe()


def test_aiodtls_client_without_certificate_refused_by_s_server(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    # SPEC H2: a server that requires a client certificate refuses an empty Certificate;
    # our client reports "handshake failed" and exits non-zero.
    case = MUTUAL
    port = free_udp_port()
    OPENSSL.server(peers, port, case, interop_files, *requiring_client_certificate(interop_files))
    client = AIODTLS.client(peers, port, case, interop_files)
    client.close_stdin()
    assert client.wait_exit() != 0, peers.describe()
    assert HANDSHAKE_FAILED.search(client.stderr()), client.describe()


@pytest.mark.parametrize("case", CASE_MATRIX)
def test_s_client_to_aiodtls_server(
    peers: PeerSet, interop_files: InteropFiles, case: Case
) -> None:
    # Issue acceptance item 1: openssl s_client -> aiodtls server --echo, data both ways;
    # SPEC C1 (our server's cookie exchange is on by default), K1 (PSK).
    handshake, client = peer_client_to_aiodtls_server(peers, OPENSSL, case, interop_files)

    assert handshake["version"] == "DTLSv1.2"
    assert handshake["suite"] == case.suite
    assert_s_client_negotiated(client, case)


def test_s_client_certificate_to_aiodtls_server(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    # Issue acceptance item 1, mutual authentication (s_client -cert -> aiodtls server
    # --require-client-cert); SPEC H2.
    case = MUTUAL
    client_pem = interop_files.client
    assert client_pem.intermediates is not None
    port = free_udp_port()
    server = AIODTLS.server(
        peers, port, case, interop_files, "--ca", str(client_pem.root), "--require-client-cert"
    )
    client = OPENSSL.client(
        peers,
        port,
        case,
        interop_files,
        "-cert",
        str(client_pem.leaf),
        "-key",
        str(client_pem.key),
        "-cert_chain",
        str(client_pem.intermediates),
    )
    handshake = exchange_with_aiodtls_server(peers, OPENSSL, client, server)

    assert handshake["suite"] == case.suite
    assert_s_client_negotiated(client, case)
    out = client.stdout()
    assert "CertificateRequest" in out, client.describe()
    assert "CertificateVerify" in out, client.describe()


def test_s_client_without_certificate_refused_by_aiodtls_server(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    # SPEC H2: with --require-client-cert, no client certificate => fatal alert, no session.
    case = MUTUAL
    port = free_udp_port()
    server = AIODTLS.server(
        peers,
        port,
        case,
        interop_files,
        "--ca",
        str(interop_files.client.root),
        "--require-client-cert",
    )
    client = OPENSSL.client(peers, port, case, interop_files)
    assert client.wait_exit() != 0, peers.describe()
    assert "alert" in client.output().lower(), client.describe()
    assert not HANDSHAKE_OK.search(server.stderr()), server.describe()
