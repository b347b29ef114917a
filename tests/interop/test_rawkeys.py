"""RFC 7250 raw public keys with GnuTLS 3.7 (``--rawpkfile`` / ``--rawpkkeyfile``) over
loopback, both directions (issue 12): ECDSA P-256 keys, ECDHE_ECDSA with AES-128-GCM, data
both ways through the echo, server-only and mutual raw keys, and a pin that does not match;
and Debian's libcoap (``coap-client-gnutls -M``, ``coap-server-gnutls -M``) in CoAP's
RawPublicKey mode, both directions, the server answering a real CoAP GET.

GnuTLS enables raw keys per direction in its priority string (``+CTYPE-SRV-RAWPK``: the
server's certificate may be a raw key, ``+CTYPE-CLI-RAWPK``: the client's). gnutls-cli 3.7.9
cannot pin a server's raw key (``--tofu`` fails on one with "ASN1 parser: Error in TAG"), so
it runs with ``--insecure -V`` and the test compares the key it prints with ours; gnutls-serv
does not check a client's raw key either, so its log shows which type it selected and the
size of the Certificate it got. Our side always checks its pin (``--peer-key``).

OpenSSL 3.0, the other peer here, has no RFC 7250 (``openssl s_client -help`` lists no
``-enable_server_rpk``; that came with 3.2): see docs/certificates.md.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from aiodtls import pki
from certs import client_chain, server_chain

from .launch import AIODTLS, GNUTLS, LIBCOAP, echo
from .peers import HANDSHAKE_FAILED, HANDSHAKE_OK, PeerProcess, PeerSet, free_udp_port

pytestmark = pytest.mark.interop

GNUTLS_PRIORITY = "NORMAL:-VERS-ALL:+VERS-DTLS1.2:-CIPHER-ALL:+AES-128-GCM:-KX-ALL:+ECDHE-ECDSA"
SUITE = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
LINE = "hello over raw public keys"


@dataclass(frozen=True)
class RawKeyFiles:
    """One side's P-256 key as GnuTLS and aiodtls take it."""

    key: Path
    "The private key, PKCS#8 PEM (``--rawpkkeyfile``, ``--key``)."
    public: Path
    "The SubjectPublicKeyInfo, PEM (``--rawpkfile``, ``--peer-key FILE``)."
    sha256: str
    "The SHA-256 of the SubjectPublicKeyInfo as ``AB:CD:..`` (``--peer-key``, our output)."
    public_pem: str
    "The PEM text of the public key (what ``gnutls-cli -V`` prints)."


def _write(directory: Path, name: str, key: object) -> RawKeyFiles:
    assert hasattr(key, "private_bytes") and hasattr(key, "public_key")
    key_path = directory / f"{name}-key.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public_path = directory / f"{name}-public.pem"
    public_path.write_bytes(pem)
    sha256 = pki.format_fingerprint(pki.public_key_fingerprint(key.public_key()), None)
    return RawKeyFiles(key_path, public_path, sha256, pem.decode())


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RawKeyFiles]:
    directory = tmp_path_factory.mktemp("raw-keys")
    return {
        "server": _write(directory, "server", server_chain("ecdsa").key),
        "client": _write(directory, "client", client_chain("ecdsa").key),
    }


def _gnutls_serv(peers: PeerSet, port: int, server: RawKeyFiles, *, mutual: bool) -> PeerProcess:
    priority = GNUTLS_PRIORITY + ":+CTYPE-SRV-RAWPK" + (":+CTYPE-CLI-RAWPK" if mutual else "")
    options = [f"--rawpkfile={server.public}", f"--rawpkkeyfile={server.key}"]
    options += ["--require-client-cert"] * mutual
    return GNUTLS.server(peers, port, None, None, *options, priority=priority)


@pytest.mark.parametrize("mutual", [False, True], ids=["server-key", "mutual"])
def test_aiodtls_client_to_gnutls_serv(
    peers: PeerSet, keys: dict[str, RawKeyFiles], mutual: bool
) -> None:
    # RFC 7250 §4.1/4.2 with a real server: we offer server_certificate_type [RawPublicKey]
    # (and client_certificate_type when mutual); gnutls-serv selects it and sends its SPKI.
    port = free_udp_port()
    server = _gnutls_serv(peers, port, keys["server"], mutual=mutual)
    args = ["--peer-key", keys["server"].sha256]
    if mutual:
        args += ["--rpk", "--key", str(keys["client"].key)]
    client = AIODTLS.client(peers, port, None, None, *args)
    handshake = echo(peers, AIODTLS, client, LINE)
    assert handshake["suite"] == SUITE
    client.wait_for(f"server raw public key sha-256 {keys['server'].sha256}", "stderr")
    server.wait_for("Selected server certificate type Raw Public Key")
    if mutual:
        server.wait_for("Selected client certificate type Raw Public Key")
        # 3 bytes of length and the 91-byte SPKI of a P-256 key: a raw key, not a chain.
        server.wait_for(r"CERTIFICATE \(11\) was received\. Length 94\b")


@pytest.mark.slow  # long: in the slow pass of .ci/run
def test_aiodtls_client_refuses_gnutls_serv_key_that_is_not_pinned(
    peers: PeerSet, keys: dict[str, RawKeyFiles]
) -> None:
    port = free_udp_port()
    server = _gnutls_serv(peers, port, keys["server"], mutual=False)
    client = AIODTLS.client(peers, port, None, None, "--peer-key", keys["client"].sha256)
    failed = client.wait_for(HANDSHAKE_FAILED, "stderr").group(0)
    assert f"raw public key sha-256 {keys['server'].sha256} matches no pinned key" in failed
    assert client.wait_exit() != 0
    server.wait_for(re.escape("Error in handshake(): A TLS fatal alert has been received."))


def _gnutls_cli(peers: PeerSet, port: int, client: RawKeyFiles | None) -> PeerProcess:
    priority = GNUTLS_PRIORITY + ":+CTYPE-SRV-RAWPK"
    options = ["--insecure", "-V"]
    if client is not None:
        priority += ":+CTYPE-CLI-RAWPK"
        options += [f"--rawpkfile={client.public}", f"--rawpkkeyfile={client.key}"]
    return GNUTLS.client(peers, port, None, None, *options, priority=priority, debug=False)


def _aiodtls_server(
    peers: PeerSet, port: int, keys: dict[str, RawKeyFiles], pin: str | None
) -> PeerProcess:
    options = ["--rpk", "--key", str(keys["server"].key)]
    options += ["--peer-key", pin] if pin is not None else []
    server = AIODTLS.server(peers, port, None, None, *options)
    server.wait_for(f"our raw public key sha-256 {keys['server'].sha256}", "stderr")
    return server


@pytest.mark.parametrize("mutual", [False, True], ids=["server-key", "mutual"])
def test_gnutls_cli_to_aiodtls_server(
    peers: PeerSet, keys: dict[str, RawKeyFiles], mutual: bool
) -> None:
    port = free_udp_port()
    pin = str(keys["client"].public) if mutual else None  # pinned by its PEM file
    server = _aiodtls_server(peers, port, keys, pin)
    client = _gnutls_cli(peers, port, keys["client"] if mutual else None)
    echo(peers, GNUTLS, client, LINE)

    handshake = server.wait_for(HANDSHAKE_OK, "stderr")
    assert handshake["suite"] == SUITE
    out = client.output()
    assert "- Certificate type: Raw Public Key" in out, client.describe()
    # The key gnutls-cli received is ours, byte for byte.
    assert keys["server"].public_pem.strip() in out, client.describe()
    description = client.wait_for(r"- Description: (.*)", "stdout").group(1)
    # GnuTLS names the client's type, then the server's: "X.509-Raw Public Key" when only
    # the server used a raw key, "Raw Public Key" alone when both did.
    expected = "(DTLS1.2-Raw Public Key)" if mutual else "(DTLS1.2-X.509-Raw Public Key)"
    assert expected in description, client.describe()
    if mutual:
        server.wait_for(f"client raw public key sha-256 {keys['client'].sha256}", "stderr")


@pytest.mark.slow  # long: in the slow pass of .ci/run
def test_aiodtls_server_refuses_gnutls_cli_key_that_is_not_pinned(
    peers: PeerSet, keys: dict[str, RawKeyFiles]
) -> None:
    port = free_udp_port()
    server = _aiodtls_server(peers, port, keys, keys["server"].sha256)  # not the client's
    client = _gnutls_cli(peers, port, keys["client"])
    client.wait_for(r"Received alert \[42\]")  # bad_certificate
    failed = server.wait_for(HANDSHAKE_FAILED, "stderr").group(0)
    assert f"client's raw public key sha-256 {keys['client'].sha256} matches no pinned" in failed


def test_libcoap_client_in_raw_public_key_mode(
    peers: PeerSet, keys: dict[str, RawKeyFiles], tmp_path: Path
) -> None:
    # CoAP's RawPublicKey mode (RFC 7252 §9.1.3.2): Debian's libcoap client on GnuTLS, with
    # its key pair in one PEM file (-M), against aiodtls server --rpk pinning that key. The
    # CoAP request travels as a DTLS record and comes back through the echo (as bytes: no
    # CoAP server answers it); the handshake and the pins are the check.
    both = tmp_path / "client-rpk.pem"
    both.write_text(keys["client"].key.read_text() + keys["client"].public_pem)
    port = free_udp_port()
    server = _aiodtls_server(peers, port, keys, keys["client"].sha256)
    client = LIBCOAP.client(peers, "gnutls", f"coaps://127.0.0.1:{port}/rpk", "-M", str(both))
    handshake = server.wait_for(HANDSHAKE_OK, "stderr")
    assert handshake["suite"].startswith("TLS_ECDHE_ECDSA_")
    server.wait_for(f"client raw public key sha-256 {keys['client'].sha256}", "stderr")
    client.wait_for("'RPK' presented by server")
    client.wait_for(r"DTLS: GnuTLS established[\s\S]*DTLS: received \d+ bytes")


def test_aiodtls_client_gets_a_coap_answer_from_libcoap_server_over_raw_keys(
    peers: PeerSet, keys: dict[str, RawKeyFiles], tmp_path: Path
) -> None:
    # The other direction: aiodtls client --rpk --peer-key against Debian's coap-server on
    # GnuTLS with its key pair (-M), mutual raw keys with the RFC 7925 profile's CCM_8 suite,
    # and a real CoAP exchange over it: a confirmable GET / (RFC 7252 §3: ver 1, CON, no
    # token, 0.01 GET, message ID 0x1234) answered by an ACK 2.05 carrying libcoap's greeting.
    both = tmp_path / "server-rpk.pem"
    both.write_text(keys["server"].key.read_text() + keys["server"].public_pem)
    _, port = LIBCOAP.server(peers, "gnutls", "-M", str(both))
    client = AIODTLS.client(
        peers,
        port,
        None,
        None,
        "--rpk",
        "--key",
        str(keys["client"].key),
        "--peer-key",
        str(keys["server"].public),
        "--profile",
        "rfc7925",
    )
    # RFC 7925 §4.4: raw keys with TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, the mode CoAP mandates.
    handshake = client.wait_for(HANDSHAKE_OK, "stderr")
    assert handshake["suite"] == "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8"
    client.wait_for(f"server raw public key sha-256 {keys['server'].sha256}", "stderr")
    client.write_line("\x40\x01\x12\x34")
    # ACK (0x60), 2.05 Content (0x45), our message ID; then the payload.
    client.wait_for(re.escape("\x60\x45\x12\x34"), "stdout")
    client.wait_for("This is a test server made with libcoap", "stdout")
    client.close_stdin()
    assert client.wait_exit() == 0, peers.describe()


def test_openssl_has_raw_public_keys_only_from_3_2(require_binary: Callable[[str], str]) -> None:
    # docs/certificates.md says OpenSSL 3.0 (Debian 12's) has no RFC 7250, so there is no
    # OpenSSL interop for raw keys: check it against the openssl installed here.
    openssl = require_binary("openssl")
    version = subprocess.run([openssl, "version"], capture_output=True, text=True).stdout
    found = re.match(r"OpenSSL (\d+)\.(\d+)", version)
    assert found is not None, version
    helps = subprocess.run([openssl, "s_client", "-help"], capture_output=True, text=True)
    has_rpk = "-enable_server_rpk" in helps.stdout + helps.stderr
    assert has_rpk == ((int(found.group(1)), int(found.group(2))) >= (3, 2)), version
