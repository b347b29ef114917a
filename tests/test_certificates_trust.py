"""Trusting the certificates people have (issue 10): a self-signed certificate trusted
directly, ``check_hostname=False`` with the chain still validated, the system store,
``strict_x509=False`` for tutorial CAs without keyUsage, and refusal reasons that name the
certificate and say what to do. Every case runs a whole in-memory handshake.
"""

from __future__ import annotations

import datetime
import ssl
import warnings
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from aiodtls import AlertDescription, DtlsConfiguration, DtlsConnection, pki
from certs import client_chain, self_signed, server_chain, wrong_name_leaf
from pairs import (
    Pair,
    client_auth_configs12,
    client_config,
    handshake,
    server_config,
)

NOW = datetime.datetime.now(datetime.timezone.utc)


def ok(pair: Pair) -> None:
    assert pair.client_outcome.completed is not None, pair.client_outcome.terminated
    assert pair.server_outcome.completed is not None, pair.server_outcome.terminated


def refused(pair: Pair, *, by_client: bool = True) -> str:
    """The refusing side's reason; it sent bad_certificate."""
    outcome = pair.client_outcome if by_client else pair.server_outcome
    terminated = outcome.terminated
    assert terminated is not None and not terminated.by_peer, terminated
    assert terminated.alert == AlertDescription.bad_certificate, terminated
    assert pair.client_outcome.completed is None
    return terminated.reason


def serving(creds: pki.Credentials) -> DtlsConfiguration:
    return server_config(certificate_chain=creds.chain, private_key=creds.key)


def openssl_req_x509(
    names: list[str], *, ca: bool = True, key_usage: bool = False, cn: str = "localhost"
) -> pki.Credentials:
    """What ``openssl req -x509 -addext subjectAltName=...`` makes: self-signed,
    basicConstraints cA=TRUE (OpenSSL's v3_ca section), SKI/AKI, no keyUsage, no EKU."""
    key = pki.generate_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=30))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), False)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names:
        alt = [x509.DNSName(n) for n in names]
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    if key_usage:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, critical=True)
    return pki.Credentials(builder.sign(key, hashes.SHA256()), key)


def trusting(*anchors: x509.Certificate, **fields: object) -> DtlsConfiguration:
    config = DtlsConfiguration(is_client=True, server_name="localhost")
    config.ca_certificates = list(anchors)
    for name, value in fields.items():
        setattr(config, name, value)
    return config


# --- a self-signed certificate trusted directly --------------------------------------------


def test_openssl_req_x509_certificate_given_as_ca_is_trusted_directly(tmp_path: Path) -> None:
    # Issue 10: "a self-signed `openssl req -x509` certificate given as --ca fails with
    # basicConstraints.cA must not be asserted in an EE certificate".
    creds = openssl_req_x509(["localhost"])
    (tmp_path / "cert.pem").write_bytes(creds.chain_pem())
    client = DtlsConfiguration(server_name="localhost")
    client.load_verify_locations(tmp_path / "cert.pem")
    ok(handshake(client, serving(creds)))


def test_aiodtls_self_signed_certificate_given_as_ca_is_trusted_directly() -> None:
    creds = pki.self_signed()
    ok(handshake(trusting(server_chain().root, creds.certificate), serving(creds)))


def test_directly_trusted_certificate_still_needs_the_right_name_and_dates() -> None:
    creds = openssl_req_x509(["localhost"])
    reason = refused(handshake(trusting(creds.certificate, server_name="other.example"),
                               serving(creds)))  # fmt: skip
    assert "is for localhost, not 'other.example'" in reason
    later = trusting(creds.certificate, verification_time=NOW + datetime.timedelta(days=60))
    pair = handshake(later, serving(creds))
    assert pair.client_outcome.terminated is not None
    assert pair.client_outcome.terminated.alert == AlertDescription.certificate_expired


def test_a_different_self_signed_certificate_with_the_same_name_is_not_trusted() -> None:
    trusted = openssl_req_x509(["localhost"])
    impostor = openssl_req_x509(["localhost"])  # same subject, another key
    reason = refused(handshake(trusting(trusted.certificate), serving(impostor)))
    assert reason.startswith("certificate verification failed: ")
    assert "'localhost' is a CA certificate (basicConstraints cA" in reason
    assert "a trusted certificate is also named 'localhost', but it is another" in reason
    # The same with aiodtls cert's certificates (cA=FALSE: cryptography words it otherwise).
    mine, remade = pki.self_signed(), pki.self_signed()
    reason = refused(handshake(trusting(mine.certificate), serving(remade)))
    assert "'localhost' is self-signed and not trusted (a trusted certificate" in reason


def test_a_ca_used_as_a_leaf_without_being_trusted_says_what_to_do() -> None:
    creds = openssl_req_x509(["localhost"])
    reason = refused(handshake(trusting(server_chain().root), serving(creds)))
    assert "is a CA certificate (basicConstraints cA" in reason
    assert "trust exactly that certificate with --ca" in reason


# --- check_hostname=False ------------------------------------------------------------------


def test_check_hostname_false_accepts_another_name_but_keeps_the_chain_check() -> None:
    chain = wrong_name_leaf()
    strict = refused(handshake(client_config(), server_config(chain)))
    assert "is for wrong.example, not 'localhost'" in strict
    assert "check_hostname=False" in strict
    ok(handshake(client_config(check_hostname=False), server_config(chain)))
    # Without the name, the chain must still lead to a trust anchor...
    untrusted = client_config(client_chain(), check_hostname=False)
    assert "not a trust anchor" in refused(handshake(untrusted, server_config(chain)))
    # ... and no server_name is needed at all.
    no_name = DtlsConfiguration(check_hostname=False, ca_certificates=[server_chain().root])
    ok(handshake(no_name, server_config()))
    with pytest.raises(ValueError, match="server_name"):
        DtlsConnection(configuration=DtlsConfiguration(ca_certificates=[server_chain().root]))


def test_check_hostname_false_still_requires_a_certificate_meant_for_servers() -> None:
    # A client-only certificate (EKU clientAuth) is no server certificate, name or not.
    ca = pki.certificate_authority()
    client_only = pki.issue(ca, ["localhost"], client_only=True)
    config = trusting(ca.certificate, check_hostname=False)
    reason = refused(handshake(config, serving(client_only)))
    assert "not for servers (serverAuth)" in reason


# --- strict_x509=False ---------------------------------------------------------------------


def tutorial_root() -> pki.Credentials:
    """A root CA as tutorials make it (``openssl req -x509 -new -key ca.key``): no keyUsage."""
    return openssl_req_x509([], cn="Tutorial Root CA")


def test_ca_without_key_usage_is_refused_strictly_with_a_hint() -> None:
    # Issue 10: 'a tutorial root CA without keyUsage fails with "invalid extension:
    # 2.5.29.15" though `openssl verify` accepts it'.
    root = tutorial_root()
    leaf = pki.issue(root, ["localhost"])
    reason = refused(handshake(trusting(root.certificate), serving(leaf)))
    assert "CA certificate 'Tutorial Root CA' has no usable keyUsage" in reason
    assert "strict_x509=False" in reason and "--no-strict-x509" in reason
    ok(handshake(trusting(root.certificate, strict_x509=False), serving(leaf)))


def test_relaxed_policy_still_refuses_a_ca_whose_key_usage_forbids_signing() -> None:
    key = pki.generate_key()
    base = openssl_req_x509([], cn="Odd CA")
    name = base.certificate.subject
    usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
    root = pki.Credentials(
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256()),
        key,
    )
    leaf = pki.issue(root, ["localhost"])
    refused(handshake(trusting(root.certificate, strict_x509=False), serving(leaf)))


# --- the system trust store ----------------------------------------------------------------


def test_load_default_certs_reads_the_system_store() -> None:
    paths = ssl.get_default_verify_paths()
    if not (paths.cafile or paths.capath):
        pytest.skip("no system CA store on this machine")
    config = DtlsConfiguration()
    added = config.load_default_certs()
    assert added == len(config.ca_certificates) > 0
    # The Debian bundle (ca-certificates) is the same store: every root in it is loaded.
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if bundle.exists():
        loaded = {c.public_bytes(serialization.Encoding.DER) for c in config.ca_certificates}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # some old roots have a negative serial
            sample = x509.load_pem_x509_certificates(bundle.read_bytes())[:5]
        assert all(c.public_bytes(serialization.Encoding.DER) in loaded for c in sample)
    # Loading again adds nothing: duplicates are skipped.
    assert config.load_default_certs() == 0


def test_load_default_certs_follows_ssl_cert_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = server_chain()
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(chain.root_pem() + b"junk between certificates\n" + chain.root_pem())
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "none"))
    config = DtlsConfiguration(server_name="localhost")
    assert config.load_default_certs() == 1
    ok(handshake(config, server_config()))


# --- reasons a person can act on ------------------------------------------------------------


def test_untrusted_ca_names_the_root_to_give() -> None:
    # Was: "candidates exhausted: all candidates exhausted with no interior errors".
    reason = refused(handshake(client_config(client_chain()), server_config()))
    assert "candidates exhausted" not in reason
    assert "'aiodtls test server root CA (ecdsa)' with --ca / load_verify_locations" in reason


def test_missing_intermediate_says_the_peer_must_send_it() -> None:
    chain = server_chain()
    server = server_config(certificate_chain=[chain.certificate])  # leaf only
    reason = refused(handshake(client_config(), server))
    assert "was issued by 'aiodtls test server intermediate CA (ecdsa)'" in reason
    assert "nor sent by the server" in reason
    assert "the server must send it after its own certificate" in reason


def test_untrusted_client_certificate_names_its_ca() -> None:
    # Was: "chain construction exceeds max depth".
    client, server = client_auth_configs12()
    server.ca_certificates = [server_chain().root]  # not the client's CA
    reason = refused(handshake(client, server), by_client=False)
    assert "exceeds max depth" not in reason
    assert "sent by the client" in reason
    assert "'aiodtls test client root CA (ecdsa)' with --ca" in reason


def test_untrusted_self_signed_certificate_says_how_to_trust_it() -> None:
    reason = refused(handshake(client_config(), server_config(self_signed())))
    assert "is self-signed and not trusted" in reason
    assert "--ca" in reason and "pin its fingerprint" in reason


def test_no_trust_anchor_at_all_says_what_to_give() -> None:
    config = DtlsConfiguration(server_name="localhost")
    reason = refused(handshake(config, server_config()))
    assert "no trust anchors" in reason and "load_default_certs" in reason


def test_server_certificate_without_server_auth_is_explained() -> None:
    ca = pki.certificate_authority()
    leaf = pki.issue(ca, ["localhost"], client_only=True)
    reason = refused(handshake(trusting(ca.certificate), serving(leaf)))
    assert "not for servers (serverAuth)" in reason


def intermediate_with_eku(root: pki.Credentials, usage: x509.ObjectIdentifier) -> pki.Credentials:
    key = pki.generate_key()
    certificate = (
        pki.ca_builder(key, x509.Name.from_rfc4514_string("CN=Intermediate"), path_length=0)
        .issuer_name(root.certificate.subject)
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(hours=1))
        .not_valid_after(NOW + datetime.timedelta(days=30))
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root.key.public_key()), False
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .sign(root.key, hashes.SHA256())
    )
    return pki.Credentials(certificate, key)


def test_check_hostname_false_accepts_an_intermediate_limited_to_servers() -> None:
    # Web PKI intermediates often carry EKU serverAuth only; checking a server without its
    # name must not apply the client-certificate rule to them.
    root = pki.certificate_authority("Root")
    leaf = pki.issue(intermediate_with_eku(root, ExtendedKeyUsageOID.SERVER_AUTH), ["localhost"])
    for check in (True, False):
        ok(handshake(trusting(root.certificate, check_hostname=check), serving(leaf)))


def test_an_intermediate_not_for_servers_is_named() -> None:
    root = pki.certificate_authority("Root")
    leaf = pki.issue(intermediate_with_eku(root, ExtendedKeyUsageOID.CLIENT_AUTH), ["localhost"])
    for check in (True, False):
        reason = refused(handshake(trusting(root.certificate, check_hostname=check), serving(leaf)))
        assert "CA certificate 'Intermediate' above the server certificate 'localhost'" in reason
        assert "not for servers (serverAuth)" in reason
