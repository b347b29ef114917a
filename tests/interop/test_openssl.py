"""Interop with OpenSSL's ``s_server`` / ``s_client -dtls1_2`` over loopback UDP.

Covers issue acceptance item 1 for OpenSSL: both directions, data both ways, ECDHE-ECDSA with
a verified 3-certificate chain, ECDHE-RSA and PSK, the cookie exchange, the negotiated suite
seen by both ends, s_server's default 228-byte fragmentation, and mutual authentication.

OpenSSL runs with ``-trace``: its decoded handshake shows the HelloVerifyRequest (the cookie
exchange happened, SPEC C1) and the message lengths.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from certs import SERVER_NAME

from .peers import (
    CASES,
    HANDSHAKE_FAILED,
    HANDSHAKE_OK,
    PSK_HEX,
    PSK_IDENTITY,
    Case,
    InteropFiles,
    PeerProcess,
    PeerSet,
    aiodtls_client_args,
    aiodtls_server_args,
    free_udp_port,
    is_hello_verify_request,
)

pytestmark = pytest.mark.interop

CLIENT_LINE = "hello from aiodtls"
SERVER_LINE = "reply from openssl"
PEER_CLIENT_LINE = "hello from openssl s_client"

# ECDSA server chain + a client certificate under the separate client CA.
MUTUAL = CASES[0]


@pytest.fixture
def openssl(require_binary: Callable[[str], str]) -> str:
    """Path of the openssl binary (skips when missing outside CI)."""
    return require_binary("openssl")


def start_s_server(
    peers: PeerSet,
    openssl: str,
    case: Case,
    files: InteropFiles,
    port: int,
    *extra: str,
) -> PeerProcess:
    """``openssl s_server -dtls1_2`` for one connection, pinned to ``case``'s suite."""
    argv = [
        openssl,
        "s_server",
        "-dtls1_2",
        "-accept",
        f"127.0.0.1:{port}",
        "-naccept",
        "1",
        "-trace",
        "-cipher",
        case.openssl_cipher,
    ]
    if case.kind is None:
        argv += ["-nocert", "-psk", PSK_HEX, "-psk_identity", PSK_IDENTITY, "-psk_hint", "hint"]
    else:
        pem = files.server[case.kind]
        argv += [
            "-cert",
            str(pem.leaf),
            "-key",
            str(pem.key),
            "-cert_chain",
            str(pem.intermediates),
        ]
    server = peers.start("s_server", [*argv, *extra])
    server.wait_until_bound(port)
    return server


def start_s_client(
    peers: PeerSet,
    openssl: str,
    case: Case,
    files: InteropFiles,
    port: int,
    *extra: str,
) -> PeerProcess:
    """``openssl s_client -dtls1_2`` pinned to ``case``'s suite, verifying chain and name."""
    argv = [
        openssl,
        "s_client",
        "-dtls1_2",
        "-connect",
        f"127.0.0.1:{port}",
        "-trace",
        "-cipher",
        case.openssl_cipher,
    ]
    if case.kind is None:
        argv += ["-psk", PSK_HEX, "-psk_identity", PSK_IDENTITY]
    else:
        argv += [
            "-CAfile",
            str(files.server[case.kind].root),
            "-verify_return_error",
            "-servername",
            SERVER_NAME,
            "-verify_hostname",
            SERVER_NAME,
        ]
    return peers.start("s_client", [*argv, *extra])


def start_aiodtls_server(
    peers: PeerSet, case: Case, files: InteropFiles, port: int, *extra: str
) -> PeerProcess:
    """``aiodtls server --echo`` for ``case``, ready for clients."""
    server = peers.start_aiodtls("aiodtls-server", *aiodtls_server_args(case, files, port), *extra)
    server.wait_until_bound(port)
    return server


def exchange_with_s_server(
    peers: PeerSet, client: PeerProcess, server: PeerProcess
) -> dict[str, str]:
    """Our client sends a line, s_server prints it and answers through its stdin, our client
    prints the answer, then closes. Returns the client's "handshake ok" fields."""
    handshake = client.wait_for(HANDSHAKE_OK, "stderr")
    client.write_line(CLIENT_LINE)
    server.wait_for(CLIENT_LINE, "stdout")
    server.write_line(SERVER_LINE)
    client.wait_for(SERVER_LINE, "stdout")
    client.close_stdin()
    assert client.wait_exit() == 0, peers.describe()
    return handshake.groupdict()


def exchange_with_aiodtls_server(
    peers: PeerSet, client: PeerProcess, server: PeerProcess
) -> dict[str, str]:
    """s_client sends a line, our ``--echo`` server returns it, s_client prints it and
    closes. Returns the server's "handshake ok" fields."""
    client.wait_for(r"Verify return code|Cipher is", "stdout")
    client.write_line(PEER_CLIENT_LINE)
    # s_client does not print what it sends, so the line in its stdout is the echo.
    client.wait_for(PEER_CLIENT_LINE, "stdout")
    client.close_stdin()
    assert client.wait_exit() == 0, peers.describe()
    return server.wait_for(HANDSHAKE_OK, "stderr").groupdict()


def assert_s_client_negotiated(client: PeerProcess, case: Case) -> None:
    """s_client's own view: DTLS 1.2, the pinned suite, a verified chain, a cookie exchange."""
    out = client.stdout()
    assert "Protocol  : DTLSv1.2" in out, client.describe()
    assert f"Cipher is {case.openssl_cipher}" in out, client.describe()
    if case.kind is not None:
        assert "Verify return code: 0 (ok)" in out, client.describe()
    assert "HelloVerifyRequest" in out, client.describe()  # SPEC C1: our server sent one


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_aiodtls_client_to_s_server(
    peers: PeerSet, openssl: str, interop_files: InteropFiles, case: Case
) -> None:
    # Issue acceptance item 1: aiodtls client -> openssl s_server, data both ways;
    # SPEC C1/C3 (client completes the cookie exchange), K1 (PSK).
    port = free_udp_port()
    server = start_s_server(peers, openssl, case, interop_files, port, "-mtu", "1500")
    client = peers.start_aiodtls("aiodtls-client", *aiodtls_client_args(case, interop_files, port))
    handshake = exchange_with_s_server(peers, client, server)

    assert handshake["version"] == "DTLSv1.2"
    assert handshake["suite"] == case.suite
    out = server.stdout()
    assert f"CIPHER is {case.openssl_cipher}" in out, server.describe()
    assert "HelloVerifyRequest" in out, server.describe()


@pytest.mark.parametrize("kind", ["ecdsa", "rsa"])
def test_aiodtls_client_reassembles_s_server_fragments(
    peers: PeerSet, openssl: str, interop_files: InteropFiles, kind: str
) -> None:
    # Issue acceptance item 1 (s_server's default 228-byte fragmentation of the 3-certificate
    # chain); SPEC F4 (reassembly of a fragmented Certificate), P2.
    case = next(c for c in CASES if c.kind == kind)
    port = free_udp_port()
    # No -mtu: s_server's unconnected socket falls back to OpenSSL's 256-byte minimum MTU.
    # (-listen would connect the socket and so disable the fragmentation.)
    server = start_s_server(peers, openssl, case, interop_files, port)
    relay = peers.relay(port)
    client = peers.start_aiodtls(
        "aiodtls-client", *aiodtls_client_args(case, interop_files, relay.port)
    )
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


def test_aiodtls_client_to_s_server_listen(
    peers: PeerSet, openssl: str, interop_files: InteropFiles
) -> None:
    # Issue acceptance item 1 with s_server -listen (stateless DTLSv1_listen cookie exchange);
    # SPEC C1/C3/C4: our client repeats its ClientHello with the cookie.
    case = CASES[0]
    port = free_udp_port()
    server = start_s_server(peers, openssl, case, interop_files, port, "-mtu", "1500", "-listen")
    relay = peers.relay(port)
    client = peers.start_aiodtls(
        "aiodtls-client", *aiodtls_client_args(case, interop_files, relay.port)
    )
    handshake = exchange_with_s_server(peers, client, server)

    assert handshake["suite"] == case.suite
    assert f"CIPHER is {case.openssl_cipher}" in server.stdout(), server.describe()
    # DTLSv1_listen answers before the traced connection exists, so check the wire: the
    # server's first datagram is a HelloVerifyRequest.
    assert is_hello_verify_request(relay.first("to_client")), relay.first("to_client").hex()


def test_aiodtls_client_rejects_untrusted_chain(
    peers: PeerSet, openssl: str, interop_files: InteropFiles
) -> None:
    # Verification is real: trusting only the client CA, our client must refuse s_server's
    # chain (issue acceptance item 1, "verified" chain).
    case = MUTUAL
    port = free_udp_port()
    start_s_server(peers, openssl, case, interop_files, port, "-mtu", "1500")
    args = aiodtls_client_args(case, interop_files, port)
    args[args.index("--ca") + 1] = str(interop_files.client.root)
    client = peers.start_aiodtls("aiodtls-client", *args)
    client.close_stdin()
    assert client.wait_exit() != 0, peers.describe()
    assert HANDSHAKE_FAILED.search(client.stderr()), client.describe()
    assert not HANDSHAKE_OK.search(client.stderr()), client.describe()


def test_aiodtls_client_certificate_to_s_server(
    peers: PeerSet, openssl: str, interop_files: InteropFiles
) -> None:
    # Issue acceptance item 1, mutual authentication (aiodtls client -> s_server -Verify);
    # SPEC H2 (client Certificate + CertificateVerify accepted by a strict peer).
    case = MUTUAL
    client_pem = interop_files.client
    port = free_udp_port()
    server = start_s_server(
        peers,
        openssl,
        case,
        interop_files,
        port,
        "-mtu",
        "1500",
        "-Verify",
        "4",
        "-verify_return_error",
        "-CAfile",
        str(client_pem.root),
    )
    client = peers.start_aiodtls(
        "aiodtls-client",
        *aiodtls_client_args(case, interop_files, port),
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
    peers: PeerSet, openssl: str, interop_files: InteropFiles
) -> None:
    # SPEC H2: a server that requires a client certificate refuses an empty Certificate;
    # our client reports "handshake failed" and exits non-zero.
    case = MUTUAL
    port = free_udp_port()
    start_s_server(
        peers,
        openssl,
        case,
        interop_files,
        port,
        "-mtu",
        "1500",
        "-Verify",
        "4",
        "-verify_return_error",
        "-CAfile",
        str(interop_files.client.root),
    )
    client = peers.start_aiodtls("aiodtls-client", *aiodtls_client_args(case, interop_files, port))
    client.close_stdin()
    assert client.wait_exit() != 0, peers.describe()
    assert HANDSHAKE_FAILED.search(client.stderr()), client.describe()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_s_client_to_aiodtls_server(
    peers: PeerSet, openssl: str, interop_files: InteropFiles, case: Case
) -> None:
    # Issue acceptance item 1: openssl s_client -> aiodtls server --echo, data both ways;
    # SPEC C1 (our server's cookie exchange is on by default), K1 (PSK).
    port = free_udp_port()
    server = start_aiodtls_server(peers, case, interop_files, port)
    client = start_s_client(peers, openssl, case, interop_files, port)
    handshake = exchange_with_aiodtls_server(peers, client, server)

    assert handshake["version"] == "DTLSv1.2"
    assert handshake["suite"] == case.suite
    assert_s_client_negotiated(client, case)


def test_s_client_certificate_to_aiodtls_server(
    peers: PeerSet, openssl: str, interop_files: InteropFiles
) -> None:
    # Issue acceptance item 1, mutual authentication (s_client -cert -> aiodtls server
    # --require-client-cert); SPEC H2.
    case = MUTUAL
    client_pem = interop_files.client
    assert client_pem.intermediates is not None
    port = free_udp_port()
    server = start_aiodtls_server(
        peers, case, interop_files, port, "--ca", str(client_pem.root), "--require-client-cert"
    )
    client = start_s_client(
        peers,
        openssl,
        case,
        interop_files,
        port,
        "-cert",
        str(client_pem.leaf),
        "-key",
        str(client_pem.key),
        "-cert_chain",
        str(client_pem.intermediates),
    )
    handshake = exchange_with_aiodtls_server(peers, client, server)

    assert handshake["suite"] == case.suite
    assert_s_client_negotiated(client, case)
    out = client.stdout()
    assert "CertificateRequest" in out, client.describe()
    assert "CertificateVerify" in out, client.describe()


def test_s_client_without_certificate_refused_by_aiodtls_server(
    peers: PeerSet, openssl: str, interop_files: InteropFiles
) -> None:
    # SPEC H2: with --require-client-cert, no client certificate => fatal alert, no session.
    case = MUTUAL
    port = free_udp_port()
    server = start_aiodtls_server(
        peers,
        case,
        interop_files,
        port,
        "--ca",
        str(interop_files.client.root),
        "--require-client-cert",
    )
    client = start_s_client(peers, openssl, case, interop_files, port)
    assert client.wait_exit() != 0, peers.describe()
    assert "alert" in client.output().lower(), client.describe()
    assert not HANDSHAKE_OK.search(server.stderr()), server.describe()
