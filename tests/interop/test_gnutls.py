"""Interop with GnuTLS's ``gnutls-serv --udp --echo`` / ``gnutls-cli --udp`` over loopback.

Covers issue acceptance item 1 for GnuTLS: both directions, data both ways (echo), ECDHE-ECDSA
with a verified 3-certificate chain, ECDHE-RSA and PSK, the cookie exchange and the negotiated
suite seen by both ends. GnuTLS runs with ``-d 4``: its handshake log names the received
messages (HELLO VERIFY REQUEST, the second CLIENT HELLO with message_seq 1) and the suite.

GnuTLS sleeps ~50 ms per received handshake datagram, so each case takes about a second.
gnutls-serv binds every address (no bind option); the port is free on all of them.
"""

from __future__ import annotations

import pytest

from .launch import GNUTLS, aiodtls_client_to_gnutls_serv, peer_client_to_aiodtls_server
from .peers import CASE_MATRIX, Case, InteropFiles, PeerSet

pytestmark = pytest.mark.interop


# gnutls' names of what it negotiated, as printed in "- Description: (...)".
DESCRIPTION_PARTS = {
    "ecdsa": ("(DTLS1.2-X.509)", "(ECDSA-", "(AES-128-GCM)"),
    "rsa": ("(DTLS1.2-X.509)", "(RSA-", "(AES-128-GCM)"),
    None: ("(DTLS1.2", "(PSK)", "(AES-128-GCM)"),
}


@pytest.mark.parametrize("case", CASE_MATRIX)
def test_aiodtls_client_to_gnutls_serv(
    peers: PeerSet, interop_files: InteropFiles, case: Case
) -> None:
    # Issue acceptance item 1: aiodtls client -> gnutls-serv --udp --echo, data both ways;
    # SPEC C1/C3 (gnutls-serv requires a cookie by default), K1 (PSK).
    handshake, server = aiodtls_client_to_gnutls_serv(peers, case, interop_files)

    assert handshake["version"] == "DTLSv1.2"
    assert handshake["suite"] == case.suite
    server.wait_for(f"Cipher Suite: {case.gnutls_suite}")
    # The ClientHello gnutls-serv processes carries message_seq 1: it is the one that came
    # back with the cookie after a HelloVerifyRequest (RFC 6347 §4.2.2, SPEC C3).
    server.wait_for(r"CLIENT HELLO \(1\) was received\..*sequence: 1\b")


@pytest.mark.parametrize("case", CASE_MATRIX)
def test_gnutls_cli_to_aiodtls_server(
    peers: PeerSet, interop_files: InteropFiles, case: Case
) -> None:
    # Issue acceptance item 1: gnutls-cli --udp -> aiodtls server --echo, data both ways;
    # SPEC C1 (our server's cookie exchange), K1 (PSK).
    handshake, client = peer_client_to_aiodtls_server(peers, GNUTLS, case, interop_files)
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
