"""No datagram sent for nothing: an aiodtls server retransmits nothing to real clients on
lossless loopback (issue 9 item 3).

Real clients take time to process a certificate flight: ``gnutls-cli`` reads about one
datagram per 0.1 s and answered a 9-datagram flight after 0.96 s (measured here), far more than
a loopback round trip. The server's first timeout for such a flight therefore allows for the
peer's processing (``RetransmissionPolicy.peer_processing`` and
``peer_processing_per_datagram``); before that it retransmitted to ``gnutls-cli`` 1-3 times per
handshake. Each case uses the 3-certificate RSA chain, at the default MTU and at MTU 300
(11 datagrams), and reads the retransmission count from the server's "handshake ok" line.
"""

from __future__ import annotations

import pytest

from .launch import AIODTLS, GNUTLS, OPENSSL, PYOPENSSL
from .peers import CASES, HANDSHAKE_OK, InteropFiles, PeerProcess, PeerSet, free_udp_port

pytestmark = pytest.mark.interop

RSA = CASES[1]
"The 3-certificate RSA chain."


@pytest.fixture(params=["1400", "300"])
def server(
    request: pytest.FixtureRequest, peers: PeerSet, interop_files: InteropFiles
) -> tuple[PeerProcess, int]:
    """``aiodtls server --echo`` with the RSA chain at each MTU; returns it and its port."""
    port = free_udp_port()
    return AIODTLS.server(peers, port, RSA, interop_files, "--mtu", request.param), port


def assert_no_retransmission(peers: PeerSet, server: PeerProcess, client: PeerProcess) -> None:
    """``client`` ends its handshake (stdin closed) and exits 0; ``server`` retransmitted
    nothing to it (the count in its "handshake ok" line)."""
    client.close_stdin()
    assert client.wait_exit() == 0, peers.describe()
    retransmissions = int(server.wait_for(HANDSHAKE_OK, "stderr")["retransmissions"])
    assert retransmissions == 0, peers.describe()


def test_no_retransmission_to_gnutls_cli(
    peers: PeerSet, interop_files: InteropFiles, server: tuple[PeerProcess, int]
) -> None:
    client = GNUTLS.client(
        peers, server[1], RSA, interop_files, priority=None, debug=False, sni=False
    )
    GNUTLS.wait_ready(client)
    assert_no_retransmission(peers, server[0], client)


def test_no_retransmission_to_s_client(
    peers: PeerSet, interop_files: InteropFiles, server: tuple[PeerProcess, int]
) -> None:
    client = OPENSSL.client(
        peers,
        server[1],
        RSA,
        interop_files,
        "-brief",
        trace=False,
        pin_suite=False,
        server_name=None,
    )
    assert_no_retransmission(peers, server[0], client)


def test_no_retransmission_to_a_pyopenssl_client(
    peers: PeerSet, interop_files: InteropFiles, server: tuple[PeerProcess, int]
) -> None:
    ca = interop_files.server["rsa"].root
    assert_no_retransmission(peers, server[0], PYOPENSSL.client(peers, server[1], ca))
