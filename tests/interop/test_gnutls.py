"""Interop with GnuTLS's ``gnutls-serv --udp --echo`` / ``gnutls-cli --udp`` over loopback.

Covers issue acceptance item 1 for GnuTLS: both directions, data both ways (echo), ECDHE-ECDSA
with a verified 3-certificate chain, ECDHE-RSA and PSK, the cookie exchange and the negotiated
suite seen by both ends. GnuTLS runs with ``-d 4``: its handshake log names the received
messages (HELLO VERIFY REQUEST, the second CLIENT HELLO with message_seq 1) and the suite.

GnuTLS sleeps ~50 ms per received handshake datagram, so each case takes about a second.
gnutls-serv binds every address (no bind option); the port is free on all of them.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from certs import SERVER_NAME

from .peers import (
    CASES,
    HANDSHAKE_OK,
    PSK_HEX,
    PSK_IDENTITY,
    Case,
    InteropFiles,
    PeerSet,
    aiodtls_client_args,
    aiodtls_server_args,
    free_udp_port,
)

pytestmark = pytest.mark.interop

CLIENT_LINE = "hello from aiodtls"
PEER_CLIENT_LINE = "hello from gnutls-cli"

# gnutls' names of what it negotiated, as printed in "- Description: (...)".
DESCRIPTION_PARTS = {
    "ecdsa": ("(DTLS1.2-X.509)", "(ECDSA-", "(AES-128-GCM)"),
    "rsa": ("(DTLS1.2-X.509)", "(RSA-", "(AES-128-GCM)"),
    None: ("(DTLS1.2", "(PSK)", "(AES-128-GCM)"),
}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_aiodtls_client_to_gnutls_serv(
    peers: PeerSet,
    require_binary: Callable[[str], str],
    interop_files: InteropFiles,
    case: Case,
) -> None:
    # Issue acceptance item 1: aiodtls client -> gnutls-serv --udp --echo, data both ways;
    # SPEC C1/C3 (gnutls-serv requires a cookie by default), K1 (PSK).
    gnutls_serv = require_binary("gnutls-serv")
    port = free_udp_port()
    argv = [
        gnutls_serv,
        "--udp",
        "--echo",
        "-p",
        str(port),
        "--priority",
        case.gnutls_priority,
        "-d",
        "4",
    ]
    if case.kind is None:
        argv.append(f"--pskpasswd={interop_files.gnutls_psk_file}")
    else:
        pem = interop_files.server[case.kind]
        # gnutls-serv also sends an optional CertificateRequest by default; our client
        # answers it with an empty Certificate.
        argv += [f"--x509certfile={pem.chain}", f"--x509keyfile={pem.key}"]
    server = peers.start("gnutls-serv", argv)
    server.wait_until_bound(port)

    client = peers.start_aiodtls("aiodtls-client", *aiodtls_client_args(case, interop_files, port))
    handshake = client.wait_for(HANDSHAKE_OK, "stderr")
    client.write_line(CLIENT_LINE)
    client.wait_for(CLIENT_LINE, "stdout")  # the echo
    client.close_stdin()
    assert client.wait_exit() == 0, peers.describe()

    assert handshake["version"] == "DTLSv1.2"
    assert handshake["suite"] == case.suite
    server.wait_for(f"Cipher Suite: {case.gnutls_suite}")
    # The ClientHello gnutls-serv processes carries message_seq 1: it is the one that came
    # back with the cookie after a HelloVerifyRequest (RFC 6347 §4.2.2, SPEC C3).
    server.wait_for(r"CLIENT HELLO \(1\) was received\..*sequence: 1\b")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_gnutls_cli_to_aiodtls_server(
    peers: PeerSet,
    require_binary: Callable[[str], str],
    interop_files: InteropFiles,
    case: Case,
) -> None:
    # Issue acceptance item 1: gnutls-cli --udp -> aiodtls server --echo, data both ways;
    # SPEC C1 (our server's cookie exchange), K1 (PSK).
    gnutls_cli = require_binary("gnutls-cli")
    port = free_udp_port()
    server = peers.start_aiodtls("aiodtls-server", *aiodtls_server_args(case, interop_files, port))
    server.wait_until_bound(port)

    argv = [gnutls_cli, "--udp", "-p", str(port), "--priority", case.gnutls_priority, "-d", "4"]
    if case.kind is None:
        argv += [f"--pskusername={PSK_IDENTITY}", f"--pskkey={PSK_HEX}"]
    else:
        argv += [
            f"--x509cafile={interop_files.server[case.kind].root}",
            f"--verify-hostname={SERVER_NAME}",
            f"--sni-hostname={SERVER_NAME}",
        ]
    client = peers.start("gnutls-cli", [*argv, "127.0.0.1"])
    client.wait_for("Handshake was completed", "stdout")
    client.write_line(PEER_CLIENT_LINE)
    # gnutls-cli does not print what it sends, so the line in its stdout is the echo.
    client.wait_for(PEER_CLIENT_LINE, "stdout")
    client.close_stdin()
    assert client.wait_exit() == 0, peers.describe()

    handshake = server.wait_for(HANDSHAKE_OK, "stderr")
    assert handshake["version"] == "DTLSv1.2"
    assert handshake["suite"] == case.suite
    out = client.output()
    description = client.wait_for(r"- Description: (.*)", "stdout").group(1)
    for part in DESCRIPTION_PARTS[case.kind]:
        assert part in description, client.describe()
    assert f"Cipher Suite: {case.gnutls_suite}" in out, client.describe()
    if case.kind is not None:
        assert "The certificate is trusted" in out, client.describe()
    assert "HELLO VERIFY REQUEST (3) was received" in out, client.describe()  # SPEC C1
