"""Interop with wolfSSL's example server and client (``-u``) built from Debian's source package.

DTLS 1.2 both directions with data both ways: ECDHE-ECDSA and ECDHE-RSA over the 3-certificate
chains (the wolfSSL client verifies the chain and the name ``localhost``), PSK with AES-128-GCM
and with CCM_8 (the examples' own PSK, ``wolfssl/test.h``). And a DTLS-1.3-only wolfSSL server
(``-v 4``): captured on loopback, it answers our DTLS 1.2 ClientHello with a HelloVerifyRequest,
then the ClientHello with the cookie with a fatal ``protocol_version`` alert (record version
DTLS 1.2, epoch 0); our client must end on one line naming that, without a traceback.

The wolfSSL tree comes from ``AIODTLS_WOLFSSL_DIR`` (.ci/run builds it with ``--enable-dtls13``,
shared/research/interop-peers.md §4); without it these tests skip, under CI they fail. Each
example program serves or makes one connection and exchanges one message each way: the client
sends ``hello wolfssl!``, the server prints ``Client message: ...`` and answers ``I hear you fa
shizzle!``; the client prints what it reads on a line of its own.
"""

from __future__ import annotations

import pytest

from .launch import (
    AIODTLS,
    CLIENT_LINE,
    WOLFSSL,
    WOLFSSL_PSK_HEX,
    WOLFSSL_PSK_IDENTITY,
    require_wolfssl,
)
from .peers import (
    CASES,
    HANDSHAKE_FAILED,
    Case,
    InteropFiles,
    PeerProcess,
    PeerSet,
    free_udp_port,
)
from .test_iot_suites import IOT_CASES

pytestmark = pytest.mark.interop

SLOW = {"ecdhe-rsa", "psk"}
"Cases left to .ci/run's slow pass: the README command keeps one chain and one PSK suite."

PSK_CCM8 = IOT_CASES[0]
"TLS_PSK_WITH_AES_128_CCM_8, the CoAP mandatory suite (wolfSSL: ``PSK-AES128-CCM-8``)."

WOLFSSL_CASES = [
    pytest.param(case, id=case.id, marks=pytest.mark.slow if case.id in SLOW else ())
    for case in [*CASES, PSK_CCM8]
]
"ECDHE-ECDSA and ECDHE-RSA over 3-certificate chains, PSK with AES-128-GCM and with CCM_8."

REPLY = "I hear you fa shizzle!"
"What wolfSSL's example server answers to the first message."

HELLO = "hello wolfssl!"
"What wolfSSL's example client sends."


@pytest.fixture(autouse=True)
def wolfssl_built() -> None:
    """Skip (fail under CI) before any peer starts when the wolfSSL tree is missing."""
    require_wolfssl()


def psk_options(case: Case) -> tuple[str, ...]:
    """Our CLI's options for ``case``'s suite with the examples' PSK and identity."""
    return (
        "--cipher",
        case.suite,
        "--psk",
        WOLFSSL_PSK_HEX,
        "--psk-identity",
        WOLFSSL_PSK_IDENTITY,
    )


def aiodtls_client(peers: PeerSet, port: int, case: Case, files: InteropFiles) -> PeerProcess:
    """``aiodtls client`` for ``case`` against a wolfSSL server on ``port`` (``--trace``)."""
    if case.kind is None:
        return AIODTLS.client(peers, port, None, None, *psk_options(case), "--trace")
    return AIODTLS.client(peers, port, case, files, "--trace")


def aiodtls_server(peers: PeerSet, port: int, case: Case, files: InteropFiles) -> PeerProcess:
    """``aiodtls server --echo`` for ``case`` on ``port``, accepting exactly its suite."""
    if case.kind is None:
        return AIODTLS.server(peers, port, None, None, *psk_options(case))
    return AIODTLS.server(peers, port, case, files, "--cipher", case.suite)


def exchange_with_wolfssl_server(
    peers: PeerSet, client: PeerProcess, server: PeerProcess
) -> dict[str, str]:
    """Our client sends a line, the wolfSSL server prints it and answers :data:`REPLY`, our
    client prints that, closes and exits 0. Returns its "handshake ok" fields."""
    handshake = AIODTLS.wait_ready(client)
    client.write_line(CLIENT_LINE)
    server.wait_for(f"Client message: {CLIENT_LINE}", "stdout")
    client.wait_for(REPLY, "stdout")
    client.close_stdin()
    assert client.wait_exit() == 0, peers.describe()
    return handshake.groupdict()


@pytest.mark.parametrize("case", WOLFSSL_CASES)
def test_aiodtls_client_to_wolfssl_server(
    peers: PeerSet, interop_files: InteropFiles, case: Case
) -> None:
    port = free_udp_port()
    server = WOLFSSL.server(peers, port, case, interop_files)
    client = aiodtls_client(peers, port, case, interop_files)

    handshake = exchange_with_wolfssl_server(peers, client, server)

    assert handshake["version"] == "DTLSv1.2"
    assert handshake["suite"] == case.suite
    # wolfSSL's server asks for a cookie first (RFC 6347 §4.2.1, SPEC C1/C3).
    assert "cookie_received" in client.stderr(), client.describe()
    assert f"SSL cipher suite is {case.suite}" in server.stdout(), server.describe()
    assert server.wait_exit() == 0, peers.describe()


@pytest.mark.parametrize("case", WOLFSSL_CASES)
def test_wolfssl_client_to_aiodtls_server(
    peers: PeerSet, interop_files: InteropFiles, case: Case
) -> None:
    port = free_udp_port()
    server = aiodtls_server(peers, port, case, interop_files)
    client = WOLFSSL.client(peers, port, case, interop_files)

    ready = WOLFSSL.wait_ready(client)
    client.wait_for(f"(?m)^{HELLO}$", "stdout")  # it prints what it reads: our --echo's
    assert client.wait_exit() == 0, peers.describe()

    assert ready["version"] == "DTLSv1.2"
    assert ready["suite"] == case.suite
    handshake = AIODTLS.wait_ready(server)
    assert handshake["version"] == "DTLSv1.2"
    assert handshake["suite"] == case.suite


def aiodtls_client_to_ecdsa_server(
    peers: PeerSet, files: InteropFiles, version: str, *options: str
) -> tuple[PeerProcess, PeerProcess]:
    """Our ECDSA client (the default versions, or ``options`` such as ``--dtls12``) and a
    wolfSSL server ``-v version`` with its own suite list."""
    port = free_udp_port()
    server = WOLFSSL.server(peers, port, CASES[0], files, version=version, pin_suite=False)
    return AIODTLS.client(peers, port, CASES[0], files, *options), server


def test_dtls12_only_aiodtls_client_against_dtls13_only_wolfssl_server_fails_cleanly(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    # A client that allows DTLS 1.2 alone meets a DTLS 1.3-only server: the refusal is named,
    # promptly. (The default client speaks DTLS 1.3 with it: tests/interop/test_wolfssl13.py.)
    client, server = aiodtls_client_to_ecdsa_server(peers, interop_files, "4", "--dtls12")

    failure = client.wait_for(HANDSHAKE_FAILED, "stderr").group(0)
    assert client.wait_exit() != 0, client.describe()
    assert failure == (
        "handshake failed: peer sent alert protocol_version (it does not accept DTLS 1.2)"
    ), client.describe()
    assert client.stderr().strip() == failure, client.describe()  # one line, no traceback
    server.wait_for("record layer version error", "stderr")
    assert server.wait_exit() != 0, server.describe()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("options", "expected"),
    [((), "DTLSv1.3"), (("--dtls12",), "DTLSv1.2")],
    ids=["default-client", "dtls12-client"],
)
def test_version_flexible_wolfssl_server_gives_aiodtls_the_newest_version_it_allows(
    peers: PeerSet, interop_files: InteropFiles, options: tuple[str, ...], expected: str
) -> None:
    # ``-v d``: the wolfSSL server allows DTLS 1.3 and 1.2. Our default client allows both
    # too and gets DTLS 1.3; with --dtls12 it gets DTLS 1.2.
    client, server = aiodtls_client_to_ecdsa_server(peers, interop_files, "d", *options)

    handshake = exchange_with_wolfssl_server(peers, client, server)

    assert handshake["version"] == expected
    assert f"SSL version is {expected}" in server.stdout(), server.describe()
