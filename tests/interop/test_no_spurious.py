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

import sys
from collections.abc import Callable

import pytest

from certs import SERVER_NAME

from .peers import HANDSHAKE_OK, InteropFiles, PeerProcess, PeerSet, free_udp_port
from .test_proxy import require_pyopenssl

pytestmark = pytest.mark.interop

MTUS = ["1400", "300"]


def start_server(peers: PeerSet, files: InteropFiles, mtu: str) -> tuple[PeerProcess, int]:
    """``aiodtls server --echo`` with the RSA chain; returns it and its port."""
    port = free_udp_port()
    pem = files.server["rsa"]
    server = peers.start_aiodtls(
        "aiodtls-server",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--echo",
        "--cert",
        str(pem.chain),
        "--key",
        str(pem.key),
        "--mtu",
        mtu,
    )
    server.wait_until_bound(port)
    return server, port


def retransmissions(server: PeerProcess) -> int:
    """The count in the server's "handshake ok" line."""
    return int(server.wait_for(HANDSHAKE_OK, "stderr")["retransmissions"])


@pytest.mark.parametrize("mtu", MTUS)
def test_no_retransmission_to_gnutls_cli(
    peers: PeerSet,
    require_binary: Callable[[str], str],
    interop_files: InteropFiles,
    mtu: str,
) -> None:
    gnutls_cli = require_binary("gnutls-cli")
    server, port = start_server(peers, interop_files, mtu)
    argv = [
        gnutls_cli,
        "--udp",
        "-p",
        str(port),
        f"--x509cafile={interop_files.server['rsa'].root}",
        f"--verify-hostname={SERVER_NAME}",
        "127.0.0.1",
    ]
    client = peers.start("gnutls-cli", argv)
    client.wait_for("Handshake was completed", "stdout")
    client.close_stdin()
    assert client.wait_exit() == 0, peers.describe()
    assert retransmissions(server) == 0, peers.describe()


@pytest.mark.parametrize("mtu", MTUS)
def test_no_retransmission_to_s_client(
    peers: PeerSet,
    require_binary: Callable[[str], str],
    interop_files: InteropFiles,
    mtu: str,
) -> None:
    openssl = require_binary("openssl")
    server, port = start_server(peers, interop_files, mtu)
    argv = [
        openssl,
        "s_client",
        "-dtls1_2",
        "-connect",
        f"127.0.0.1:{port}",
        "-CAfile",
        str(interop_files.server["rsa"].root),
        "-verify_return_error",
        "-brief",
    ]
    client = peers.start("s_client", argv)
    client.close_stdin()
    assert client.wait_exit() == 0, peers.describe()
    assert retransmissions(server) == 0, peers.describe()


@pytest.mark.parametrize("mtu", MTUS)
def test_no_retransmission_to_a_pyopenssl_client(
    peers: PeerSet, interop_files: InteropFiles, mtu: str
) -> None:
    require_pyopenssl()
    server, port = start_server(peers, interop_files, mtu)
    client = peers.start(
        "pyopenssl-client",
        [
            sys.executable,
            "-c",
            PYOPENSSL_CLIENT,
            str(port),
            str(interop_files.server["rsa"].root),
        ],
    )
    assert client.wait_exit() == 0, peers.describe()
    assert retransmissions(server) == 0, peers.describe()


PYOPENSSL_CLIENT = """
import select, socket, sys, time
from OpenSSL import SSL
port, cafile = int(sys.argv[1]), sys.argv[2]
ctx = SSL.Context(SSL.DTLS_CLIENT_METHOD)
ctx.load_verify_locations(cafile)
ctx.set_verify(SSL.VERIFY_PEER, lambda *args: args[-1])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.connect(("127.0.0.1", port))
conn = SSL.Connection(ctx, None)
conn.set_connect_state()
conn.set_tlsext_host_name(b"localhost")
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    try:
        conn.do_handshake()
        break
    except SSL.WantReadError:
        pass
    while True:
        try:
            sock.send(conn.bio_read(65536))
        except SSL.WantReadError:
            break
    timeout = conn.DTLSv1_get_timeout() or 0.5
    if select.select([sock], [], [], timeout)[0]:
        conn.bio_write(sock.recv(65536))
    else:
        conn.DTLSv1_handle_timeout()
else:
    sys.exit("handshake timed out")
print("handshake ok", conn.get_cipher_name(), flush=True)
"""
"A pyOpenSSL DTLS client that drives its timer correctly (one datagram per bio_read)."
