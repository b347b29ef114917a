"""Interop of issue 10's negotiation features with OpenSSL ``s_server`` / ``s_client``.

- ALPN (RFC 7301) both directions: ``aiodtls client --alpn`` against ``s_server -alpn`` and
  ``s_client -alpn`` against ``aiodtls server --alpn``, and the ``no_application_protocol``
  alert s_client receives when nothing matches.
- SNI: ``s_client -servername`` against an aiodtls server whose ``sni_callback`` serves a
  certificate per name; s_client verifies the chain and the host name.
- PSK identity hint: ``s_server -psk_hint`` against an aiodtls client whose
  ``psk_client_callback`` picks the identity and key from the hint.

The two callbacks have no CLI option, so those aiodtls peers are small scripts (below) run
with this checkout on ``PYTHONPATH``, like the CLI peers.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from aiodtls.pki import generate_chain

from .launch import AIODTLS, OPENSSL, echo, exchange_with_aiodtls_server, exchange_with_s_server
from .peers import (
    CASES,
    PSK_HEX,
    PSK_IDENTITY,
    InteropFiles,
    PeerSet,
    aiodtls_env,
    free_udp_port,
)

pytestmark = pytest.mark.interop

ECDSA = CASES[0]
PSK_CASE = CASES[2]

SNI_SERVER = """
import sys
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from aiodtls import DtlsConfiguration
from aiodtls.sync import DtlsServer

port, specs = int(sys.argv[1]), sys.argv[2:]
chains = {}
for spec in specs:
    name, chain, key = spec.split("=")
    with open(chain, "rb") as f:
        certs = x509.load_pem_x509_certificates(f.read())
    with open(key, "rb") as f:
        chains[name] = (certs, load_pem_private_key(f.read(), None))
asked = []

def sni(name):
    asked.append(name)
    return chains.get(name)

config = DtlsConfiguration(is_client=False, sni_callback=sni)
config.certificate_chain, config.private_key = next(iter(chains.values()))
with DtlsServer("127.0.0.1", port, configuration=config) as server:
    print("listening", flush=True)
    peer = server.accept(timeout=20)
    print(f"server_name {peer.server_name} asked {asked}", flush=True)
    data = peer.recv(timeout=20)
    if data is not None:
        peer.send(data)
    peer.recv(timeout=5)
"""

PSK_HINT_CLIENT = """
import ssl, sys
from aiodtls import DtlsConfiguration
from aiodtls.sync import connect

port, hint, identity, key = sys.argv[1], sys.argv[2].encode(), sys.argv[3], sys.argv[4]

def callback(received):
    print(f"hint {received!r}", flush=True)
    return (identity.encode(), bytes.fromhex(key)) if received == hint else None

config = DtlsConfiguration(psk_client_callback=callback, verify_mode=ssl.CERT_NONE)
with connect("127.0.0.1", int(port), configuration=config, timeout=20) as dtls:
    print(f"psk_identity {dtls.handshake.psk_identity!r}", flush=True)
    dtls.send(b"hello from the psk callback\\n")
    dtls.recv(timeout=5)  # s_server does not answer: give the record time to arrive
"""


def test_aiodtls_client_alpn_to_s_server(peers: PeerSet, interop_files: InteropFiles) -> None:
    port = free_udp_port()
    server = OPENSSL.server(peers, port, ECDSA, interop_files, "-alpn", "h2,coap")
    client = AIODTLS.client(peers, port, ECDSA, interop_files, "--alpn", "coap", "--alpn", "h2")
    exchange_with_s_server(peers, client, server)
    # s_server prefers its own order: h2.
    assert ", ALPN h2" in client.stderr(), client.describe()
    out = server.stdout()
    assert "ALPN protocols advertised by the client: coap, h2" in out, server.describe()
    assert "ALPN protocols selected: h2" in out, server.describe()


def test_s_client_alpn_to_aiodtls_server(peers: PeerSet, interop_files: InteropFiles) -> None:
    port = free_udp_port()
    server = AIODTLS.server(peers, port, ECDSA, interop_files, "--alpn", "coap", "--alpn", "h2")
    client = OPENSSL.client(peers, port, ECDSA, interop_files, "-alpn", "h2,coap")
    exchange_with_aiodtls_server(peers, OPENSSL, client, server)
    # Our server prefers its own order: coap.
    assert "ALPN protocol: coap" in client.stdout(), client.describe()
    assert ", ALPN coap" in server.stderr(), server.describe()


def test_s_client_with_no_common_alpn_gets_no_application_protocol(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    port = free_udp_port()
    server = AIODTLS.server(peers, port, ECDSA, interop_files, "--alpn", "coap")
    client = OPENSSL.client(peers, port, ECDSA, interop_files, "-alpn", "h2")
    assert client.wait_exit() != 0, peers.describe()
    assert "no application protocol" in client.stderr(), client.describe()
    server.wait_for(r"handshake failed: client offers ALPN \['h2'\]", "stderr")


def test_s_client_servername_gets_the_certificate_for_its_name(
    peers: PeerSet, tmp_path: Path
) -> None:
    names = ("a.example", "b.example")
    files = {name: generate_chain(names=(name,)) for name in names}  # one root per name
    specs = []
    for name, chain in files.items():
        (tmp_path / f"{name}.chain.pem").write_bytes(chain.chain_pem())
        (tmp_path / f"{name}.key.pem").write_bytes(chain.key_pem())
        (tmp_path / f"{name}.root.pem").write_bytes(chain.root_pem())
        specs.append(f"{name}={tmp_path / f'{name}.chain.pem'}={tmp_path / f'{name}.key.pem'}")
    port = free_udp_port()
    server = peers.start(
        "sni-server", [sys.executable, "-c", SNI_SERVER, str(port), *specs], aiodtls_env()
    )
    server.wait_until_bound(port)
    name = "b.example"  # not the default (first) chain: only the callback can choose it
    client = OPENSSL.client(
        peers,
        port,
        ECDSA,
        None,
        ca=tmp_path / f"{name}.root.pem",
        server_name=name,
        trace=False,
        pin_suite=False,
    )
    echo(peers, OPENSSL, client, "hello by name")
    assert "Verify return code: 0 (ok)" in client.stdout(), client.describe()
    server.wait_for(r"server_name b\.example asked \['b\.example'\]", "stdout")


def test_aiodtls_psk_client_callback_uses_s_server_hint(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    port = free_udp_port()
    server = OPENSSL.server(peers, port, PSK_CASE, interop_files, "-mtu", "1500")
    # OPENSSL.server sends "-psk_hint hint" for the PSK case.
    client = peers.start(
        "psk-client",
        [sys.executable, "-c", PSK_HINT_CLIENT, str(port), "hint", PSK_IDENTITY, PSK_HEX],
        aiodtls_env(),
    )
    client.wait_for(r"psk_identity b'client1'", "stdout")
    server.wait_for("hello from the psk callback", "stdout")
    assert "hint b'hint'" in client.stdout(), client.describe()
    assert f"CIPHER is {PSK_CASE.openssl_cipher}" in server.stdout(), server.describe()
