"""A CoAP client from Debian's libcoap (``coap-client-openssl``, ``coap-client-gnutls``) in PSK
mode against ``aiodtls server --profile rfc7925`` (issue 12, "Peers and checks").

coap-client offers its TLS library's PSK suites (GCM first with OpenSSL); the server's RFC 7925
preset accepts only TLS_PSK_WITH_AES_128_CCM_8, so that is what is negotiated. The proof is
the server's "handshake ok" line naming the suite, and the CoAP GET that arrives (decrypted
under CCM_8) on the server's stdout. The request is not answered: aiodtls is no CoAP server,
so coap-client gives up after ``-B 1`` second. The GnuTLS build runs in the slow pass (the
default run's time budget).
"""

from __future__ import annotations

import pytest

from .launch import AIODTLS, LIBCOAP
from .peers import HANDSHAKE_OK, PeerSet, free_udp_port

pytestmark = pytest.mark.interop

IDENTITY = "sensor-17"
KEY = "secretPSK"
"coap-client takes the key as text; the aiodtls CLI takes it as hex."


@pytest.mark.parametrize(
    "build",
    [
        pytest.param("openssl", id="coap-client-openssl"),
        pytest.param("gnutls", id="coap-client-gnutls", marks=pytest.mark.slow),
    ],
)
def test_coap_client_psk_handshake_uses_ccm_8(peers: PeerSet, build: str) -> None:
    port = free_udp_port()
    server = AIODTLS.server(
        peers,
        port,
        None,
        None,
        "--psk",
        KEY.encode().hex(),
        "--psk-identity",
        IDENTITY,
        "--profile",
        "rfc7925",
        "--count",
        "1",
        echo=False,
    )
    uri = f"coaps://127.0.0.1:{port}/sensors/temp"
    client = LIBCOAP.client(peers, build, uri, "-k", KEY, "-u", IDENTITY)

    handshake = server.wait_for(HANDSHAKE_OK, "stderr")
    assert handshake["version"] == "DTLSv1.2"
    assert handshake["suite"] == "TLS_PSK_WITH_AES_128_CCM_8"
    # The CoAP request (the Uri-Path "sensors", "temp") crossed under CCM_8.
    server.wait_for("sensors", "stdout")
    assert client.wait_exit() == 0, peers.describe()
