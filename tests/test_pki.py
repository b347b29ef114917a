"""``aiodtls.pki`` as a public API, and ``aiodtls cert`` run as a user runs it (issue 10).

Certificates: self-signed leaves, a CA and the leaves it issues (ECDSA P-256 by default, RSA
on request, DNS names and IP addresses, validity), PEM files (keys 0600, no overwriting), and
fingerprints in every form people paste (RFC 8122 names, SDP lines, OpenSSL's output).
"""

from __future__ import annotations

import datetime
import os
import re
import ssl
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

import certs
from aiodtls import DtlsConfiguration, pki
from pairs import handshake

SRC = Path(__file__).resolve().parents[1] / "src"


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m aiodtls ARGS`` with this checkout's sources, as a user would run it."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "aiodtls", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def san(certificate: x509.Certificate) -> tuple[list[str], list[str]]:
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = names.get_values_for_type(x509.DNSName)
    ips = [str(ip) for ip in names.get_values_for_type(x509.IPAddress)]
    return dns, ips


def established_with(server: pki.Credentials, client: DtlsConfiguration) -> tuple[bool, str | None]:
    config = DtlsConfiguration(is_client=False)
    config.certificate_chain = server.chain
    config.private_key = server.key
    pair = handshake(client, config)
    terminated = pair.client_outcome.terminated
    return pair.client_outcome.completed is not None, None if terminated is None else (
        terminated.reason
    )


# --- making certificates -------------------------------------------------------------------


def test_self_signed_defaults_ecdsa_p256_for_this_host() -> None:
    creds = pki.self_signed()
    cert = creds.certificate
    assert isinstance(creds.key, ec.EllipticCurvePrivateKey)
    assert isinstance(creds.key.curve, ec.SECP256R1)
    assert cert.issuer == cert.subject
    assert san(cert) == (["localhost"], ["127.0.0.1", "::1"])
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert basic.ca is False
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usages and ExtendedKeyUsageOID.CLIENT_AUTH in usages
    days = (cert.not_valid_after_utc - cert.not_valid_before_utc).days
    assert 365 <= days <= 366
    assert creds.chain == [cert]


def test_self_signed_rsa_with_names_ips_and_validity() -> None:
    creds = pki.self_signed(["dtls.example", "10.0.0.7"], kind="rsa", rsa_bits=3072, days=7)
    assert isinstance(creds.key, rsa.RSAPrivateKey) and creds.key.key_size == 3072
    assert san(creds.certificate) == (["dtls.example"], ["10.0.0.7"])
    cert = creds.certificate
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc) < datetime.timedelta(days=8)


def test_refused_parameters_say_why() -> None:
    with pytest.raises(ValueError, match="2048"):
        pki.self_signed(kind="rsa", rsa_bits=1024)
    with pytest.raises(ValueError, match="'ecdsa' or 'rsa'"):
        pki.self_signed(kind="dsa")
    with pytest.raises(ValueError, match="days"):
        pki.self_signed(days=0)
    with pytest.raises(ValueError, match="not a DNS name"):
        pki.self_signed(["two words"])


def test_ca_issues_a_leaf_a_client_verifies_with_the_ca_only() -> None:
    ca = pki.certificate_authority("Test CA")
    leaf = pki.issue(ca, ["localhost"])
    assert leaf.certificate.issuer == ca.certificate.subject
    assert leaf.intermediates == ()  # a root issued it: nothing else to send
    assert ca.certificate.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    client = DtlsConfiguration(server_name="localhost", ca_certificates=[ca.certificate])
    assert established_with(leaf, client) == (True, None)
    # Another CA does not vouch for it.
    other = DtlsConfiguration(
        server_name="localhost", ca_certificates=[pki.certificate_authority().certificate]
    )
    assert established_with(leaf, other)[0] is False


def test_issue_under_an_intermediate_sends_the_intermediate() -> None:
    root = pki.certificate_authority("Root")
    key = pki.generate_key()
    now = datetime.datetime.now(datetime.timezone.utc)
    middle = (
        pki.ca_builder(key, x509.Name.from_rfc4514_string("CN=Intermediate"), path_length=0)
        .issuer_name(root.certificate.subject)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root.key.public_key()),
            critical=False,
        )
        .sign(root.key, hashes.SHA256())
    )
    leaf = pki.issue(pki.Credentials(middle, key, ()), ["localhost"])
    assert leaf.intermediates == (middle,)
    assert leaf.chain == [leaf.certificate, middle]
    client = DtlsConfiguration(server_name="localhost", ca_certificates=[root.certificate])
    assert established_with(leaf, client) == (True, None)
    # Without the intermediate the root alone cannot vouch for the leaf.
    alone = pki.Credentials(leaf.certificate, leaf.key)
    assert established_with(alone, client)[0] is False


def test_client_only_certificate_has_client_auth_only() -> None:
    ca = pki.certificate_authority()
    client = pki.issue(ca, [], common_name="device-7", client_only=True)
    usages = client.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    with pytest.raises(ValueError, match="at least one DNS name"):
        pki.issue(ca, [])


def test_leaf_does_not_outlive_its_ca() -> None:
    ca = pki.certificate_authority(days=10)
    leaf = pki.issue(ca, days=400)
    assert leaf.certificate.not_valid_after_utc <= ca.certificate.not_valid_after_utc


def test_pem_writers_protect_keys_and_never_overwrite(tmp_path: Path) -> None:
    creds = pki.self_signed()
    key_path = pki.write_private_key(tmp_path / "key.pem", creds.key)
    cert_path = pki.write_certificates(tmp_path / "cert.pem", creds.chain)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cert_path.stat().st_mode) == 0o644
    with pytest.raises(FileExistsError, match="already exists"):
        pki.write_private_key(key_path, pki.generate_key())
    assert key_path.read_bytes() == creds.key_pem()
    pki.write_private_key(key_path, creds.key, password="s3cret", overwrite=True)
    assert b"ENCRYPTED" in key_path.read_bytes()
    config = DtlsConfiguration(is_client=False)
    config.load_cert_chain(cert_path, key_path, password="s3cret")
    assert config.certificate_chain == [creds.certificate]


# --- fingerprints --------------------------------------------------------------------------

CERT = certs.self_signed().certificate
SHA256 = CERT.fingerprint(hashes.SHA256())


@pytest.mark.parametrize(
    "text",
    [
        "a=fingerprint:sha-256 " + SHA256.hex(":").upper(),
        "sha-256 " + SHA256.hex(":").upper(),
        "SHA-256 " + SHA256.hex(":").lower(),
        SHA256.hex(":").upper(),
        SHA256.hex(),
        SHA256.hex().upper(),
        "  " + SHA256.hex(" ") + "\n",
        "sha256 Fingerprint=" + SHA256.hex(":").upper(),  # openssl x509 -fingerprint -sha256
        "a=fingerprint: sha256 " + SHA256.hex(),
    ],
    ids=["sdp", "rfc8122", "upper-name", "colons", "hex", "HEX", "spaces", "openssl", "loose"],
)
def test_parse_fingerprint_reads_every_pasted_form(text: str) -> None:
    assert pki.parse_fingerprint(text) == pki.Fingerprint("sha-256", SHA256)


@pytest.mark.parametrize(
    ("algorithm", "hash_"),
    [
        ("sha-1", hashes.SHA1()),
        ("sha-224", hashes.SHA224()),
        ("sha-384", hashes.SHA384()),
        ("sha-512", hashes.SHA512()),
    ],
)
def test_other_hashes_by_name_and_by_length(algorithm: str, hash_: hashes.HashAlgorithm) -> None:
    digest = CERT.fingerprint(hash_)
    assert pki.fingerprint(CERT, algorithm) == digest
    assert pki.parse_fingerprint(f"a=fingerprint:{algorithm} {digest.hex(':')}") == (
        algorithm,
        digest,
    )
    assert pki.parse_fingerprint(digest.hex()).algorithm == algorithm
    assert pki.parse_fingerprint(digest.hex()).matches(CERT)
    assert not pki.parse_fingerprint(digest.hex()).matches(pki.self_signed().certificate)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("md5 " + "ab:" * 15 + "ab", "unsupported fingerprint hash 'md5'"),
        ("sha-256 " + "ab" * 20, "sha-256 fingerprint has 32 bytes, this one has 20"),
        ("ab" * 31, "31-byte fingerprint matches no supported hash"),
        ("not a fingerprint", "not a fingerprint"),
        ("", "not a fingerprint"),
    ],
)
def test_parse_fingerprint_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pki.parse_fingerprint(text)


def test_format_and_sdp_forms_round_trip() -> None:
    line = pki.sdp_fingerprint(CERT)
    assert line == "a=fingerprint:sha-256 " + SHA256.hex(":").upper()
    assert pki.format_fingerprint(SHA256) == "sha-256 " + SHA256.hex(":").upper()
    assert pki.format_fingerprint(SHA256, None) == SHA256.hex(":").upper()
    assert pki.parse_fingerprint(line) == ("sha-256", SHA256)
    assert str(pki.parse_fingerprint(line)) == line.removeprefix("a=fingerprint:")


# --- aiodtls cert --------------------------------------------------------------------------


def test_cert_command_default_self_signed(tmp_path: Path) -> None:
    result = cli("cert", "--out-dir", str(tmp_path / "pki"))
    assert result.returncode == 0, result.stderr
    cert_file, key_file = tmp_path / "pki" / "cert.pem", tmp_path / "pki" / "key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    (certificate,) = x509.load_pem_x509_certificates(cert_file.read_bytes())
    assert certificate.issuer == certificate.subject
    assert san(certificate) == (["localhost"], ["127.0.0.1", "::1"])
    key = serialization.load_pem_private_key(key_file.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    lines = result.stdout.splitlines()
    assert pki.sdp_fingerprint(certificate) in lines
    # It says how to use the files, with their paths.
    assert f"--cert {cert_file} --key {key_file}" in result.stdout
    assert f"--ca {cert_file} --server-name localhost" in result.stdout
    assert f"-CAfile {cert_file}" in result.stdout


@pytest.mark.slow  # long (README command budget): in the slow pass of .ci/run
def test_cert_command_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    assert cli("cert", "--out-dir", str(tmp_path)).returncode == 0
    before = (tmp_path / "key.pem").read_bytes()
    again = cli("cert", "--out-dir", str(tmp_path))
    assert again.returncode == 1
    assert "already exist" in again.stderr and "--force" in again.stderr
    assert "Traceback" not in again.stderr
    assert (tmp_path / "key.pem").read_bytes() == before
    forced = cli("cert", "--out-dir", str(tmp_path), "--force")
    assert forced.returncode == 0, forced.stderr
    assert (tmp_path / "key.pem").read_bytes() != before
    assert stat.S_IMODE((tmp_path / "key.pem").stat().st_mode) == 0o600


def test_cert_command_ca_with_server_and_client_rsa(tmp_path: Path) -> None:
    result = cli(
        "cert", "--out-dir", str(tmp_path), "--ca", "--client", "--rsa", "--days", "30",
        "--name", "dtls.example", "--ip", "192.0.2.5",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.pem").read_bytes())
    leaf = x509.load_pem_x509_certificate((tmp_path / "cert.pem").read_bytes())
    client = x509.load_pem_x509_certificate((tmp_path / "client.pem").read_bytes())
    assert leaf.issuer == ca.subject and client.issuer == ca.subject
    assert san(leaf) == (["dtls.example"], ["192.0.2.5"])
    assert isinstance(leaf.public_key(), rsa.RSAPublicKey)
    assert leaf.public_key().key_size == 2048  # type: ignore[union-attr]
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc < datetime.timedelta(days=31)
    for name in ("ca-key.pem", "key.pem", "client-key.pem"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    assert pki.sdp_fingerprint(leaf) in result.stdout.splitlines()
    assert "--require-client-cert" in result.stdout
    # The files work together: the client trusts the CA and the server the client.
    server = DtlsConfiguration(is_client=False, verify_mode=ssl.CERT_REQUIRED)
    server.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server.load_verify_locations(tmp_path / "ca.pem")
    client_config = DtlsConfiguration(server_name="dtls.example")
    client_config.load_verify_locations(tmp_path / "ca.pem")
    client_config.load_cert_chain(tmp_path / "client.pem", tmp_path / "client-key.pem")
    pair = handshake(client_config, server)
    assert pair.client_outcome.completed is not None, pair.client_outcome.terminated
    assert pair.server_outcome.completed is not None
    assert pair.server_outcome.completed.peer_certificates[0] == client


@pytest.mark.slow  # long (README command budget): in the slow pass of .ci/run
def test_cert_command_user_mistakes_are_one_line(tmp_path: Path) -> None:
    for args, message in [
        (["--ip", "not-an-ip"], "not an IP address"),
        (["--rsa", "1024"], "at least 2048"),
        (["--days", "0"], "--days"),
        (["--client"], "--client needs --ca"),
    ]:
        result = cli("cert", "--out-dir", str(tmp_path), *args)
        assert result.returncode == 2, (args, result.stdout)
        assert message in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())


def test_an_ip_name_goes_into_the_ip_addresses() -> None:
    assert san(pki.self_signed(["::1", "host.example"]).certificate) == (
        ["host.example"],
        ["::1"],
    )


# --- docs/certificates.md ------------------------------------------------------------------

DOC = Path(__file__).resolve().parents[1] / "docs" / "certificates.md"
FENCE = re.compile(r"^```python\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize(
    "code", FENCE.findall(DOC.read_text(encoding="utf-8")), ids=lambda code: code[:30]
)
def test_certificates_doc_snippets_run(code: str, tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_certificates_doc_has_snippets() -> None:
    assert len(FENCE.findall(DOC.read_text(encoding="utf-8"))) >= 3


def test_cert_command_key_password_encrypts_the_key(tmp_path: Path) -> None:
    result = cli("cert", "--out-dir", str(tmp_path), "--key-password", "pw 2")
    assert result.returncode == 0, result.stderr
    assert b"ENCRYPTED PRIVATE KEY" in (tmp_path / "key.pem").read_bytes()
    assert "--key-password ..." in result.stdout  # the printed server command needs it
    config = DtlsConfiguration(is_client=False)
    with pytest.raises(ValueError, match="is encrypted"):
        config.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    config.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem", b"pw 2")
