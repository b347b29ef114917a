"""DTLS 1.3 with an external PSK and no (EC)DHE (psk_ke, RFC 8446 §4.2.9) against wolfSSL
5.7.2's examples, both ways: ``DtlsConfiguration.psk_key_exchange_modes=("psk_ke",)`` on our
side, ``-K`` (``wolfSSL_CTX_no_dhe_psk``: "Key Exchange for PSK not using (EC)DHE") on
wolfSSL's. A recording relay shows what crossed: no key share either way, and our PSK-only
ClientHello (no supported_groups, key_share, signature_algorithms; RFC 8446 §9.2).

The wolfSSL tree comes from ``AIODTLS_WOLFSSL_DIR`` as for test_wolfssl13.py (skipped without
it, failing under CI); slow pass, like that matrix.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

import aiodtls.sync as sync
from aiodtls.handshake.messages.hello import decode_client_hello, decode_server_hello
from aiodtls.handshake.messages.tls13 import decode_psk_key_exchange_modes
from aiodtls.suites import DEFAULT_SUITES13, Suite13

from .launch import WOLFSSL, WOLFSSL_PSK13_IDENTITY, require_wolfssl
from .peers import InteropFiles, PeerSet, free_udp_port
from .test_wolfssl13 import (
    AES128,
    HELLO,
    HRR_RANDOM,
    KEY_SHARE,
    assert_dtls13,
    close_and_wait,
    connect,
    exchange_with_wolfssl_server,
    plaintext_handshake,
    psk13,
    serve_one,
)

pytestmark = [pytest.mark.interop, pytest.mark.slow]

SUPPORTED_GROUPS, SIGNATURE_ALGORITHMS, PSK_KEY_EXCHANGE_MODES = 10, 13, 45
"Extension numbers (RFC 8446 §4.2)."
PSK_KE_ONLY = ("psk_ke",)


@pytest.fixture(autouse=True)
def wolfssl_built() -> None:
    """Skip (fail under CI) before any peer starts when the wolfSSL tree is missing."""
    require_wolfssl()


def test_aiodtls13_psk_ke_client_to_wolfssl13_no_dhe_psk_server(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    port = free_udp_port()
    server = WOLFSSL.server13(
        peers, port, interop_files, "-K", kind=None, suite=AES128.name, echo=True
    )
    relay = peers.relay(port)

    config = replace(psk13(is_client=True), psk_key_exchange_modes=PSK_KE_ONLY)
    dtls = connect(relay.port, config)
    exchange_with_wolfssl_server(dtls)

    assert_dtls13(dtls, server)
    assert dtls.handshake.group is None
    hellos = [
        decode_client_hello(b) for t, _, b in plaintext_handshake(relay, "to_server") if t == 1
    ]
    assert hellos
    for hello in hellos:  # the first and, after wolfSSL's cookie HRR, the second
        types = [t for t, _ in hello.extensions]
        assert not {KEY_SHARE, SUPPORTED_GROUPS, SIGNATURE_ALGORITHMS} & set(types), types
        (modes,) = [b for t, b in hello.extensions if t == PSK_KEY_EXCHANGE_MODES]
        assert decode_psk_key_exchange_modes(modes) == [0]  # psk_ke
    answers = [
        decode_server_hello(b) for t, _, b in plaintext_handshake(relay, "to_client") if t == 2
    ]
    (server_hello,) = [h for h in answers if h.random != HRR_RANDOM]
    assert KEY_SHARE not in [t for t, _ in server_hello.extensions]
    close_and_wait(dtls, server)


def test_aiodtls13_psk_ke_client_offers_wolfssl13_only_the_suites_of_the_psk_hash(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    """With the default suites our PSK-only ClientHello leaves out TLS_AES_256_GCM_SHA384
    (the PSK's hash is SHA-256, RFC 8446 §4.2.11): a wolfSSL server pinned to ChaCha20
    negotiates it from the shorter list, after its cookie HelloRetryRequest too."""
    port = free_udp_port()
    chacha20 = Suite13.TLS_CHACHA20_POLY1305_SHA256
    server = WOLFSSL.server13(
        peers, port, interop_files, "-K", kind=None, suite=chacha20.name, echo=True
    )
    relay = peers.relay(port)

    config = replace(
        psk13(is_client=True), psk_key_exchange_modes=PSK_KE_ONLY, cipher_suites13=None
    )
    dtls = connect(relay.port, config)
    exchange_with_wolfssl_server(dtls)

    assert_dtls13(dtls, server)
    assert dtls.handshake.cipher_suite == chacha20.name
    hellos = [
        decode_client_hello(b) for t, _, b in plaintext_handshake(relay, "to_server") if t == 1
    ]
    assert len(hellos) >= 2  # the first and, after wolfSSL's cookie HRR, the second
    sha256_suites = [int(s) for s in DEFAULT_SUITES13 if s != Suite13.TLS_AES_256_GCM_SHA384]
    assert all(hello.cipher_suites == sha256_suites for hello in hellos)
    close_and_wait(dtls, server)


def test_wolfssl13_no_dhe_psk_client_to_aiodtls13_psk_ke_server(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    port = free_udp_port()
    config = replace(psk13(is_client=False), psk_key_exchange_modes=PSK_KE_ONLY)
    with sync.DtlsServer("127.0.0.1", port, configuration=config) as srv:
        relay = peers.relay(port)
        client = WOLFSSL.client13(
            peers, relay.port, interop_files, "-K", kind=None, suite=AES128.name
        )
        dtls, received = serve_one(srv, client)

    assert received == [HELLO], received
    assert client.wait_exit() == 0, client.describe()
    assert_dtls13(dtls, client)
    assert dtls.handshake.psk_identity == WOLFSSL_PSK13_IDENTITY.encode()
    assert dtls.handshake.group is None
    answers = [
        decode_server_hello(b) for t, _, b in plaintext_handshake(relay, "to_client") if t == 2
    ]
    (server_hello,) = [h for h in answers if h.random != HRR_RANDOM]
    assert KEY_SHARE not in [t for t, _ in server_hello.extensions]


def test_wolfssl13_default_psk_client_gets_psk_ke_from_a_psk_ke_only_server(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    """wolfSSL's default PSK client offers psk_ke as well as psk_dhe_ke (with a key share):
    our psk_ke-only server selects psk_ke."""
    port = free_udp_port()
    config = replace(psk13(is_client=False), psk_key_exchange_modes=PSK_KE_ONLY)
    with sync.DtlsServer("127.0.0.1", port, configuration=config) as srv:
        client = WOLFSSL.client13(peers, port, interop_files, kind=None, suite=AES128.name)
        dtls, received = serve_one(srv, client)
    assert received == [HELLO], received
    assert client.wait_exit() == 0, client.describe()
    assert dtls.handshake.group is None


def test_wolfssl13_only_psk_dhe_ke_client_is_refused_by_a_psk_ke_only_server(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    """wolfSSL's --onlyPskDheKe client offers psk_dhe_ke alone: no mode in common, and our
    server has no certificate to fall back on, so it ends the handshake (handshake_failure,
    40), which wolfSSL reports."""
    port = free_udp_port()
    config = replace(psk13(is_client=False), psk_key_exchange_modes=PSK_KE_ONLY)
    with sync.DtlsServer("127.0.0.1", port, configuration=config) as srv:
        client = WOLFSSL.client13(
            peers, port, interop_files, "--onlyPskDheKe", kind=None, suite=AES128.name
        )
        with pytest.raises(TimeoutError):
            srv.accept(timeout=3.0)  # the blocking server reads datagrams while it accepts
    assert client.wait_exit() == 1, client.describe()
    client.wait_for("wolfSSL_connect error -313, received alert fatal error")
