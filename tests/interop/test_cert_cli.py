"""``aiodtls cert`` output used as it is (issue 10): by ``aiodtls server`` and by
``openssl s_client -CAfile`` (which verifies it: "Verify return code: 0 (ok)"), and its SDP
fingerprint line pasted into ``aiodtls client --fingerprint`` pins the server. Also the
client's ``--no-check-hostname``. Every process is a real CLI run with this checkout."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from aiodtls import DtlsConfiguration, pki

from . import launch
from .launch import AIODTLS, OPENSSL, echo
from .peers import (
    CASES,
    HANDSHAKE_FAILED,
    HANDSHAKE_OK,
    PeerProcess,
    PeerSet,
    aiodtls_command,
    aiodtls_env,
    free_udp_port,
)

LINE = "hello through aiodtls cert's files"


def make_cert(directory: Path, *args: str) -> str:
    """Run ``aiodtls cert`` into ``directory``; return its SDP fingerprint line."""
    result = subprocess.run(
        aiodtls_command("cert", "--out-dir", str(directory), *args),
        env=aiodtls_env(),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    match = re.search(r"^a=fingerprint:sha-256 [0-9A-F:]{95}$", result.stdout, re.MULTILINE)
    assert match is not None, result.stdout
    return match.group(0)


def start_server(peers: PeerSet, directory: Path, *extra: str) -> tuple[PeerProcess, int]:
    port = free_udp_port()
    cert = ["--cert", str(directory / "cert.pem"), "--key", str(directory / "key.pem")]
    return AIODTLS.server(peers, port, None, None, *cert, *extra, host=None), port


def s_client_through(peers: PeerSet, port: int, ca_file: Path, *extra: str) -> PeerProcess:
    client = OPENSSL.client(
        peers, port, CASES[0], None, *extra, ca=ca_file, trace=False, pin_suite=False
    )
    echo(peers, OPENSSL, client, LINE)
    return client


@pytest.mark.interop
def test_self_signed_cert_serves_openssl_s_client(peers: PeerSet, tmp_path: Path) -> None:
    make_cert(tmp_path)
    server, port = start_server(peers, tmp_path)
    client = s_client_through(peers, port, tmp_path / "cert.pem")
    assert "Verify return code: 0 (ok)" in client.stdout(), client.describe()
    server.wait_for(HANDSHAKE_OK, "stderr")


@pytest.mark.interop
def test_ca_made_cert_serves_openssl_s_client_with_a_client_certificate(
    peers: PeerSet, tmp_path: Path
) -> None:
    make_cert(tmp_path, "--ca", "--client")
    server, port = start_server(
        peers, tmp_path, "--ca", str(tmp_path / "ca.pem"), "--require-client-cert"
    )
    client = s_client_through(
        peers, port, tmp_path / "ca.pem",
        "-cert", str(tmp_path / "client.pem"), "-key", str(tmp_path / "client-key.pem"),
    )  # fmt: skip
    assert "Verify return code: 0 (ok)" in client.stdout(), client.describe()
    server.wait_for(HANDSHAKE_OK, "stderr")


def run_client(peers: PeerSet, port: int, *args: str) -> PeerProcess:
    client = AIODTLS.client(peers, port, None, None, *args)
    client.write_line(LINE)
    client.close_stdin()
    return client


@pytest.mark.slow  # long: in the slow pass of .ci/run (README command's budget)
def test_pasted_sdp_fingerprint_pins_the_server(peers: PeerSet, tmp_path: Path) -> None:
    line = make_cert(tmp_path / "server")
    other = make_cert(tmp_path / "other")
    _, port = start_server(peers, tmp_path / "server")

    client = run_client(peers, port, "--fingerprint", line)
    client.wait_for(HANDSHAKE_OK, "stderr")
    # The client shows the server's fingerprint in the same SDP form aiodtls cert printed.
    shown = client.wait_for(re.compile(r"server certificate (a=fingerprint:.+)"), "stderr")
    assert shown.group(1) == line.strip(), (shown.group(1), line)
    client.wait_for(LINE, "stdout")
    assert client.wait_exit() == 0, peers.describe()

    wrong = run_client(peers, port, "--fingerprint", other)
    assert wrong.wait_exit() != 0, peers.describe()
    failure = wrong.wait_for(HANDSHAKE_FAILED, "stderr").group(0)
    assert "matches no pinned fingerprint" in failure, failure


@pytest.mark.slow  # long: in the slow pass of .ci/run
def test_no_check_hostname_keeps_the_trust_check(peers: PeerSet, tmp_path: Path) -> None:
    make_cert(tmp_path / "server")
    make_cert(tmp_path / "other")
    _, port = start_server(peers, tmp_path / "server")
    ca = str(tmp_path / "server" / "cert.pem")

    # The README's steps: the certificate itself as --ca, checked with its name.
    readme = run_client(peers, port, "--ca", ca, "--server-name", "localhost")
    readme.wait_for(LINE, "stdout")
    assert readme.wait_exit() == 0, peers.describe()

    named = run_client(peers, port, "--ca", ca, "--server-name", "dtls.example")
    assert named.wait_exit() != 0, peers.describe()
    failure = named.wait_for(HANDSHAKE_FAILED, "stderr").group(0)
    assert "not 'dtls.example'" in failure and "check_hostname=False" in failure, failure

    unnamed = run_client(
        peers, port, "--ca", ca, "--server-name", "dtls.example", "--no-check-hostname"
    )
    unnamed.wait_for(LINE, "stdout")
    assert unnamed.wait_exit() == 0, peers.describe()

    untrusted = run_client(
        peers, port, "--ca", str(tmp_path / "other" / "cert.pem"), "--no-check-hostname"
    )
    assert untrusted.wait_exit() != 0, peers.describe()
    failure = untrusted.wait_for(HANDSHAKE_FAILED, "stderr").group(0)
    assert "is self-signed and not trusted" in failure, failure


@pytest.mark.slow  # long: in the slow pass of .ci/run (README command's budget)
def test_server_fingerprint_pins_the_client_certificate(peers: PeerSet, tmp_path: Path) -> None:
    make_cert(tmp_path, "--ca", "--client")
    client_pem = (tmp_path / "client.pem").read_bytes()
    pin = pki.sdp_fingerprint(x509.load_pem_x509_certificate(client_pem))
    other = pki.sdp_fingerprint(pki.self_signed().certificate)
    client_args = ["--ca", str(tmp_path / "ca.pem"), "--server-name", "localhost"]
    client_args += ["--cert", str(tmp_path / "client.pem")]
    client_args += ["--key", str(tmp_path / "client-key.pem")]

    _, port = start_server(peers, tmp_path, "--fingerprint", pin)
    client = run_client(peers, port, *client_args)
    client.wait_for(LINE, "stdout")
    assert client.wait_exit() == 0, peers.describe()

    refusing, port = start_server(peers, tmp_path, "--fingerprint", other)
    refused = run_client(peers, port, *client_args)
    assert refused.wait_exit() != 0, peers.describe()
    failure = refusing.wait_for(HANDSHAKE_FAILED, "stderr").group(0)
    assert "matches no pinned fingerprint" in failure, failure


def openssl_tutorial_pki(openssl: str, directory: Path) -> None:
    """A root CA and a server certificate the way tutorials make them with the openssl CLI:
    ``req -x509 -new`` (no keyUsage on the CA), then ``x509 -req -extfile`` for the SAN."""
    directory.mkdir()

    def run(*args: str) -> None:
        result = subprocess.run(
            [openssl, *args], cwd=directory, capture_output=True, text=True, timeout=30
        )
        assert result.returncode == 0, result.stderr

    (directory / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key")
    run("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=Tutorial Root CA",
        "-days", "30", "-out", "ca.pem")  # fmt: skip
    run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "key.pem")
    run("req", "-new", "-key", "key.pem", "-subj", "/CN=localhost", "-out", "server.csr")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "30", "-extfile", "ext.cnf", "-out", "cert.pem")  # fmt: skip
    run("verify", "-CAfile", "ca.pem", "cert.pem")  # OpenSSL accepts it


@pytest.mark.interop
@pytest.mark.slow  # long: in the slow pass of .ci/run (README command's budget)
def test_no_strict_x509_accepts_a_tutorial_root_without_key_usage(
    peers: PeerSet, tmp_path: Path
) -> None:
    # Issue 10: 'a tutorial root CA without keyUsage fails with "invalid extension:
    # 2.5.29.15" though `openssl verify` accepts it'.
    openssl_tutorial_pki(launch.require_binary("openssl"), tmp_path / "tutorial")
    _, port = start_server(peers, tmp_path / "tutorial")
    ca = str(tmp_path / "tutorial" / "ca.pem")

    strict = run_client(peers, port, "--ca", ca)
    assert strict.wait_exit() != 0, peers.describe()
    failure = strict.wait_for(HANDSHAKE_FAILED, "stderr").group(0)
    assert "CA certificate 'Tutorial Root CA' has no usable keyUsage" in failure, failure
    assert "--no-strict-x509" in failure, failure

    relaxed = run_client(peers, port, "--ca", ca, "--no-strict-x509")
    relaxed.wait_for(LINE, "stdout")
    assert relaxed.wait_exit() == 0, peers.describe()


def test_system_ca_loads_the_system_store(peers: PeerSet, tmp_path: Path) -> None:
    if DtlsConfiguration().load_default_certs() == 0:
        pytest.skip("no system CA certificates on this machine (Debian: ca-certificates)")
    make_cert(tmp_path)
    _, port = start_server(peers, tmp_path)
    # Without any trust anchor the client says so; with the system's, it has anchors (none
    # of which vouches for a certificate made a moment ago).
    bare = run_client(peers, port)
    assert bare.wait_exit() != 0, peers.describe()
    assert "no trust anchors" in bare.wait_for(HANDSHAKE_FAILED, "stderr").group(0)
    system = run_client(peers, port, "--system-ca")
    assert system.wait_exit() != 0, peers.describe()
    failure = system.wait_for(HANDSHAKE_FAILED, "stderr").group(0)
    assert "is self-signed and not trusted" in failure, failure
