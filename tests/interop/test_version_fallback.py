"""A client that allows DTLS 1.2 and 1.3 against real DTLS 1.2 servers (issue 14).

Our client offers both versions in one ClientHello (DTLS 1.3's, with DTLS 1.2's suites and
extensions merged in); OpenSSL's ``s_server -dtls1_2`` and ``gnutls-serv`` (no DTLS 1.3 in
either build) answer in DTLS 1.2, s_server with a HelloVerifyRequest whose cookie our client
returns in the same ClientHello, and the DTLS 1.2 handshake continues from it
(docs/dtls13.md, "Version negotiation").
"""

from __future__ import annotations

import pytest

from .launch import AIODTLS, CLIENT_LINE, GNUTLS, OPENSSL, echo, exchange_with_s_server
from .peers import CASES, InteropFiles, PeerSet, free_udp_port

pytestmark = pytest.mark.interop

BOTH = ("--versions", "1.2,1.3")
CASE = CASES[0]  # ECDHE-ECDSA with the interop chain


def test_a_client_allowing_both_versions_falls_back_to_s_server_dtls12(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    port = free_udp_port()
    server = OPENSSL.server(peers, port, CASE, interop_files, "-mtu", "1500")
    client = AIODTLS.client(peers, port, CASE, interop_files, *BOTH)
    handshake = exchange_with_s_server(peers, client, server)

    assert handshake["version"] == "DTLSv1.2"
    assert handshake["suite"] == CASE.suite
    assert "HelloVerifyRequest" in server.stdout(), server.describe()  # the cookie exchange


def test_a_client_allowing_both_versions_falls_back_to_gnutls_serv(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    port = free_udp_port()
    server = GNUTLS.server(peers, port, CASE, interop_files)
    client = AIODTLS.client(peers, port, CASE, interop_files, *BOTH)
    handshake = echo(peers, AIODTLS, client, CLIENT_LINE).groupdict()

    assert handshake["version"] == "DTLSv1.2", server.describe()
    assert handshake["suite"] == CASE.suite
