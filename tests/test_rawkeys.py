"""RFC 7250 raw public keys (issue 12, ``handshake/rawkeys.py``): the certificate type
extensions in both roles, the SubjectPublicKeyInfo Certificate, pins by key or by SHA-256,
and every refusal with its named alert."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from aiodtls import AlertDescription, DtlsConfiguration, DtlsConnection, pki
from aiodtls.alerts import Alert
from aiodtls.buffer import BufferReadError
from aiodtls.handshake import rawkeys, server
from aiodtls.handshake.messages import ExtensionType
from aiodtls.handshake.rawkeys import CertificateType
from aiodtls.trace import TraceRecord
from certs import client_chain, server_chain
from pairs import DTLS12_ONLY, PSK, Pair, handshake, psk_configs12

SERVER_KEY = server_chain("ecdsa").key
CLIENT_KEY = client_chain("ecdsa").key
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
SPKI = pki.subject_public_key_info(SERVER_KEY)
SERVER_SHA256 = hashlib.sha256(SPKI).digest()


def rpk_server(**fields: Any) -> DtlsConfiguration:
    """A server presenting only a raw key (no certificate at all)."""
    config = DtlsConfiguration(versions=DTLS12_ONLY, is_client=False, raw_public_key=True)
    config.private_key = SERVER_KEY
    for name, value in fields.items():
        setattr(config, name, value)
    return config


def rpk_client(*pins: object, **fields: Any) -> DtlsConfiguration:
    """A client accepting only the pinned raw keys (default: the server's)."""
    config = DtlsConfiguration(versions=DTLS12_ONLY, is_client=True)
    config.peer_public_keys = list(pins or [SERVER_KEY.public_key()])  # type: ignore[arg-type]
    for name, value in fields.items():
        setattr(config, name, value)
    return config


def mutual() -> tuple[DtlsConfiguration, DtlsConfiguration]:
    client = rpk_client(raw_public_key=True, private_key=CLIENT_KEY)
    return client, rpk_server(peer_public_keys=[CLIENT_KEY.public_key()])


def established(pair: Pair) -> bool:
    return pair.client_outcome.completed is not None and pair.server_outcome.completed is not None


def refused(pair: Pair) -> tuple[str, AlertDescription | None, str]:
    """(who refused, the alert, its reason) of a failed handshake."""
    for side, outcome in (("client", pair.client_outcome), ("server", pair.server_outcome)):
        ended = outcome.terminated
        if ended is not None and not ended.by_peer:
            return side, ended.alert, ended.reason
    raise AssertionError("nobody refused the handshake")


def exchange_data(pair: Pair) -> None:
    pair.client.send(b"ping")
    pair.exchange()
    pair.server.send(b"pong")
    pair.exchange()
    assert pair.server_outcome.data == [b"ping"] and pair.client_outcome.data == [b"pong"]


# -- handshakes that succeed -----------------------------------------------------------------


@pytest.mark.parametrize(
    "pin",
    [
        SERVER_KEY.public_key(),
        SPKI,
        "sha-256 " + SERVER_SHA256.hex(":"),
        SERVER_SHA256.hex(),
        SERVER_SHA256.hex(":").upper(),
        ("sha-256", SERVER_SHA256),
        pki.Fingerprint("sha-512", hashlib.sha512(SPKI).digest()),
    ],
    ids=["key", "spki-der", "rfc8122", "hex", "colons", "tuple", "sha-512"],
)
def test_server_only_raw_key_each_pin_form(pin: object) -> None:
    # R3, R4: the SPKI Certificate, checked against each form of pin.
    pair = handshake(rpk_client(pin), rpk_server())
    assert established(pair), pair.client_outcome.terminated
    done = pair.client_outcome.completed
    assert done is not None and done.peer_certificates == []
    assert done.peer_public_key is not None
    assert pki.subject_public_key_info(done.peer_public_key) == SPKI
    assert pair.client.peer_public_key == done.peer_public_key
    server_done = pair.server_outcome.completed
    assert server_done is not None and server_done.peer_public_key is None  # not requested
    assert done.cipher_suite.startswith("TLS_ECDHE_ECDSA_")
    exchange_data(pair)


def test_mutual_raw_keys() -> None:
    # R1, R3: both directions RawPublicKey; the CertificateVerify checked with the raw key.
    pair = handshake(*mutual())
    assert established(pair), pair.server_outcome.terminated
    server_done = pair.server_outcome.completed
    assert server_done is not None and server_done.peer_public_key is not None
    assert pki.public_key_fingerprint(server_done.peer_public_key) == pki.public_key_fingerprint(
        CLIENT_KEY
    )
    assert server_done.peer_certificates == []
    exchange_data(pair)


def test_no_client_type_answer_when_no_certificate_is_requested() -> None:
    # R1: the client offers its raw key, but a server that asks for no certificate leaves
    # client_certificate_type out of its ServerHello (RFC 7250 §4.2).
    records: list[TraceRecord] = []
    client = rpk_client(raw_public_key=True, private_key=CLIENT_KEY, trace=records.append)
    assert dict(rawkeys.client_hello_extensions(client))[ExtensionType.client_certificate_type]
    pair = handshake(client, rpk_server())
    assert established(pair)
    (record,) = [r for r in records if r.kind == "certificate_types"]
    assert record.fields == {"ours": "X509", "peer": "RawPublicKey"}
    server_done = pair.server_outcome.completed
    assert server_done is not None and server_done.peer_public_key is None


def test_rsa_raw_key_with_ecdhe_rsa() -> None:
    # R3: an RSA raw key goes with an ECDHE_RSA suite; the ServerKeyExchange verifies.
    rsa_key = server_chain("rsa").key
    server_cfg = rpk_server(private_key=rsa_key)
    pair = handshake(rpk_client(rsa_key.public_key()), server_cfg)
    done = pair.client_outcome.completed
    assert done is not None and done.cipher_suite.startswith("TLS_ECDHE_RSA_")
    assert done.peer_public_key is not None


def test_certificate_types_are_traced_on_both_sides() -> None:
    client_records: list[TraceRecord] = []
    server_records: list[TraceRecord] = []
    client, server_cfg = mutual()
    client.trace, server_cfg.trace = client_records.append, server_records.append
    assert established(handshake(client, server_cfg))
    for records in (client_records, server_records):
        (record,) = [r for r in records if r.kind == "certificate_types"]
        assert record.fields == {"ours": "RawPublicKey", "peer": "RawPublicKey"}


def test_raw_key_server_with_x509_client() -> None:
    # R1: the types are chosen per direction.
    chain = client_chain("ecdsa")
    client = rpk_client(certificate_chain=chain.chain, private_key=chain.key)
    server_cfg = rpk_server(verify_mode=ssl.CERT_REQUIRED, ca_certificates=[chain.root])
    pair = handshake(client, server_cfg)
    assert established(pair), pair.server_outcome.terminated
    server_done = pair.server_outcome.completed
    assert server_done is not None and server_done.peer_public_key is None
    assert server_done.peer_certificates[0] == chain.certificate
    exchange_data(pair)


def test_x509_server_with_raw_key_client() -> None:
    # R1
    chain = server_chain("ecdsa")
    client = DtlsConfiguration(
        versions=DTLS12_ONLY, is_client=True, server_name="localhost", raw_public_key=True
    )
    client.ca_certificates = [chain.root]
    client.private_key = CLIENT_KEY
    server_cfg = DtlsConfiguration(
        versions=DTLS12_ONLY, is_client=False, peer_public_keys=[CLIENT_KEY.public_key()]
    )
    server_cfg.certificate_chain, server_cfg.private_key = chain.chain, chain.key
    pair = handshake(client, server_cfg)
    assert established(pair), pair.server_outcome.terminated
    client_done, server_done = pair.client_outcome.completed, pair.server_outcome.completed
    assert client_done is not None and client_done.peer_certificates[0] == chain.certificate
    assert server_done is not None and server_done.peer_public_key is not None


def test_server_with_both_gives_x509_to_clients_without_raw_keys() -> None:
    chain = server_chain("ecdsa")
    both = rpk_server(certificate_chain=chain.chain)
    client = DtlsConfiguration(versions=DTLS12_ONLY, is_client=True, server_name="localhost")
    client.ca_certificates = [chain.root]
    pair = handshake(client, both)
    assert established(pair)
    done = pair.client_outcome.completed
    assert done is not None and done.peer_certificates and done.peer_public_key is None
    # ...and its raw key to one that pins it.
    pair = handshake(rpk_client(), rpk_server(certificate_chain=chain.chain))
    done = pair.client_outcome.completed
    assert done is not None and done.peer_public_key is not None


def test_psk_still_chosen_by_a_raw_key_server() -> None:
    client, _ = psk_configs12()
    server_cfg = rpk_server(psk=PSK)
    pair = handshake(client, server_cfg)
    assert established(pair)


# -- pins ----------------------------------------------------------------------------------


def test_client_refuses_a_raw_key_that_matches_no_pin() -> None:
    # R4
    side, alert, reason = refused(handshake(rpk_client(OTHER_KEY.public_key()), rpk_server()))
    assert (side, alert) == ("client", AlertDescription.bad_certificate)
    assert SERVER_SHA256.hex(":").upper() in reason and "matches no pinned key" in reason


def test_server_refuses_a_client_key_that_matches_no_pin() -> None:
    # R4
    client, server_cfg = mutual()
    server_cfg.peer_public_keys = [OTHER_KEY.public_key()]
    side, alert, reason = refused(handshake(client, server_cfg))
    assert (side, alert) == ("server", AlertDescription.bad_certificate)
    assert pki.format_fingerprint(pki.public_key_fingerprint(CLIENT_KEY), None) in reason


def test_weak_raw_key_is_insufficient_security() -> None:
    # R4
    side, alert, reason = refused(handshake(rpk_client(min_ec_key_size=384), rpk_server()))
    assert (side, alert) == ("client", AlertDescription.insufficient_security)
    assert "raw public key" in reason


def test_pinning_server_requires_a_key() -> None:
    # A client with nothing to present: the pinning server asks, and refuses the empty answer.
    client = DtlsConfiguration(versions=DTLS12_ONLY, is_client=True, raw_public_key=False)
    client.peer_public_keys = [SERVER_KEY.public_key()]
    server_cfg = rpk_server(peer_public_keys=[CLIENT_KEY.public_key()])
    side, alert, _ = refused(handshake(client, server_cfg))
    assert (side, alert) == ("server", AlertDescription.unsupported_certificate)


# -- no common certificate type (RFC 7250 §4.2) ------------------------------------------------


def test_client_accepting_only_raw_keys_meets_x509_only_server() -> None:
    # R2
    chain = server_chain("ecdsa")
    server_cfg = DtlsConfiguration(versions=DTLS12_ONLY, is_client=False)
    server_cfg.certificate_chain, server_cfg.private_key = chain.chain, chain.key
    side, alert, reason = refused(handshake(rpk_client(), server_cfg))
    assert (side, alert) == ("server", AlertDescription.unsupported_certificate)
    assert "no server certificate type in common" in reason


def test_x509_client_meets_raw_key_only_server() -> None:
    # R2
    client = DtlsConfiguration(versions=DTLS12_ONLY, is_client=True, server_name="localhost")
    client.ca_certificates = [server_chain("ecdsa").root]
    side, alert, reason = refused(handshake(client, rpk_server()))
    assert (side, alert) == ("server", AlertDescription.unsupported_certificate)
    assert "no server_certificate_type" in reason


def test_x509_client_meets_server_pinning_raw_keys_only() -> None:
    # R2
    chain = client_chain("ecdsa")
    client = rpk_client(certificate_chain=chain.chain, private_key=chain.key)
    side, alert, reason = refused(
        handshake(client, rpk_server(peer_public_keys=[CLIENT_KEY.public_key()]))
    )
    assert (side, alert) == ("server", AlertDescription.unsupported_certificate)
    assert "only an X.509 certificate" in reason


def test_client_refuses_a_server_that_ignores_the_extension(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # R2: a server without RFC 7250: no answer to server_certificate_type, an X.509 chain.
    def no_answer(self: server.ServerHandshake, extensions: object, server_type: object) -> None:
        self._certificate_types = rawkeys.X509_BOTH_WAYS

    monkeypatch.setattr(server.ServerHandshake, "_select_certificate_types", no_answer)
    chain = server_chain("ecdsa")
    pair = handshake(rpk_client(), rpk_server(certificate_chain=chain.chain))
    side, alert, reason = refused(pair)
    assert (side, alert) == ("client", AlertDescription.unsupported_certificate)
    assert "does not support raw public keys" in reason


def test_client_refuses_a_type_it_did_not_offer(monkeypatch: pytest.MonkeyPatch) -> None:
    # R2
    original = server.ServerHandshake._select_certificate_types

    def wrong(self: server.ServerHandshake, extensions: Any, server_type: Any) -> None:
        original(self, extensions, CertificateType.X509)

    monkeypatch.setattr(server.ServerHandshake, "_select_certificate_types", wrong)
    chain = server_chain("ecdsa")
    side, alert, reason = refused(
        handshake(rpk_client(), rpk_server(certificate_chain=chain.chain))
    )
    assert (side, alert) == ("client", AlertDescription.unsupported_certificate)
    assert "selected X509 for the server certificate, which we did not offer" in reason


# -- the Certificate message ---------------------------------------------------------------


def _x509_body(key: object) -> bytes:
    chain = server_chain("ecdsa")
    der = chain.certificate.public_bytes(serialization.Encoding.DER)
    entry = len(der).to_bytes(3, "big") + der
    return len(entry).to_bytes(3, "big") + entry


@pytest.mark.parametrize(
    ("body", "alert", "words"),
    [
        (_x509_body, AlertDescription.unsupported_certificate, "sent an X.509 certificate chain"),
        (
            lambda key: b"\x00\x00\x05" + b"\x30\x03\x02\x01\x00",
            AlertDescription.bad_certificate,
            "cannot parse the server's raw public key",
        ),
        (
            lambda key: b"\x00\x00\x09" + SPKI[:9] + b"junk",
            AlertDescription.decode_error,
            "malformed certificate",
        ),
    ],
    ids=["x509-chain", "bad-spki", "length-mismatch"],
)
def test_client_refuses_a_bad_raw_key_certificate(
    monkeypatch: pytest.MonkeyPatch, body: Any, alert: AlertDescription, words: str
) -> None:
    # R3
    monkeypatch.setattr(server, "encode_raw_public_key_certificate", body)
    side, got, reason = refused(handshake(rpk_client(), rpk_server()))
    assert (side, got) == ("client", alert)
    assert words in reason


def test_server_refuses_an_x509_chain_when_a_raw_key_was_negotiated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # R3
    from aiodtls.handshake import client as client_module

    monkeypatch.setattr(client_module, "encode_raw_public_key_certificate", _x509_body)
    side, alert, reason = refused(handshake(*mutual()))
    assert (side, alert) == ("server", AlertDescription.unsupported_certificate)
    assert "the client sent an X.509 certificate chain" in reason


def test_client_refuses_a_raw_key_when_x509_was_negotiated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # R3: the server sends its raw key although the client offered X.509 only.
    chain = server_chain("ecdsa")
    monkeypatch.setattr(
        server, "select_server_type", lambda *args, **kwargs: CertificateType.RawPublicKey
    )
    client = DtlsConfiguration(versions=DTLS12_ONLY, is_client=True, server_name="localhost")
    client.ca_certificates = [chain.root]
    side, alert, reason = refused(handshake(client, rpk_server(certificate_chain=chain.chain)))
    assert (side, alert) == ("client", AlertDescription.unsupported_certificate)
    assert "sent a raw public key, but X.509 certificates were negotiated" in reason


# -- wire format ---------------------------------------------------------------------------


def test_extension_bodies_follow_rfc7250() -> None:
    # R1: ClientHello: a list with a one-byte length; ServerHello: one byte (RFC 7250 §3).
    client, _ = mutual()
    extensions = dict(rawkeys.client_hello_extensions(client))
    assert extensions[ExtensionType.client_certificate_type] == b"\x01\x02"
    assert extensions[ExtensionType.server_certificate_type] == b"\x01\x02"
    both = rpk_client(raw_public_key=True, private_key=CLIENT_KEY)
    both.certificate_chain = client_chain("ecdsa").chain
    both.ca_certificates = [server_chain("ecdsa").root]
    extensions = dict(rawkeys.client_hello_extensions(both))
    assert extensions[ExtensionType.client_certificate_type] == b"\x02\x02\x00"
    assert extensions[ExtensionType.server_certificate_type] == b"\x02\x02\x00"
    assert rawkeys.encode_certificate_type(CertificateType.RawPublicKey) == b"\x02"
    assert rawkeys.decode_certificate_types(b"\x02\x02\x00") == [2, 0]
    for bad in (b"\x00", b"\x02\x02", b"\x01\x02\x00"):
        with pytest.raises(BufferReadError):
            rawkeys.decode_certificate_types(bad)
    for bad in (b"", b"\x02\x00"):
        with pytest.raises(BufferReadError):
            rawkeys.decode_certificate_type(bad)


def test_raw_key_certificate_is_one_length_and_the_spki() -> None:
    # R3
    body = rawkeys.encode_raw_public_key_certificate(SERVER_KEY)
    assert body == len(SPKI).to_bytes(3, "big") + SPKI


def test_configurations_without_raw_keys_send_no_extension() -> None:
    # R1: a list of X.509 alone is omitted.
    chain = client_chain("ecdsa")
    plain = DtlsConfiguration(versions=DTLS12_ONLY, is_client=True, raw_public_key=False)
    plain.certificate_chain, plain.private_key = chain.chain, chain.key
    assert rawkeys.client_hello_extensions(plain) == []


# -- configuration -------------------------------------------------------------------------


def test_bad_pins_and_contradictions_raise() -> None:
    with pytest.raises(ValueError, match="peer_public_keys entry: 32 bytes that are not"):
        DtlsConfiguration(versions=DTLS12_ONLY, peer_public_keys=[SERVER_SHA256])
    with pytest.raises(ValueError, match="peer_public_keys entry"):
        DtlsConfiguration(versions=DTLS12_ONLY, peer_public_keys=["sha-256 12:34"])
    with pytest.raises(ValueError, match="peer_public_keys requires the peer's key"):
        DtlsConfiguration(versions=DTLS12_ONLY, peer_public_keys=[SPKI], verify_mode=ssl.CERT_NONE)
    with pytest.raises(ValueError, match="peer_public_keys requires the peer's key"):
        DtlsConfiguration(
            versions=DTLS12_ONLY,
            is_client=False,
            peer_public_keys=[SPKI],
            verify_mode=ssl.CERT_OPTIONAL,
        )
    assert (
        DtlsConfiguration(
            versions=DTLS12_ONLY, is_client=False, peer_public_keys=[SPKI]
        ).effective_verify_mode()
        == ssl.CERT_REQUIRED
    )
    lonely = DtlsConfiguration(versions=DTLS12_ONLY, is_client=False, raw_public_key=True)
    with pytest.raises(ValueError, match="raw_public_key is set but there is no private_key"):
        DtlsConnection(configuration=lonely).receive_datagram(b"", ("127.0.0.1", 1), 0.0)
    client = DtlsConfiguration(versions=DTLS12_ONLY, raw_public_key=True, peer_public_keys=[SPKI])
    with pytest.raises(ValueError, match="raw_public_key is set but there is no private_key"):
        DtlsConnection(configuration=client).connect(("127.0.0.1", 1), 0.0)


def test_load_private_key(tmp_path: Any) -> None:
    path = tmp_path / "key.pem"
    pki.write_private_key(path, CLIENT_KEY)
    config = DtlsConfiguration(versions=DTLS12_ONLY, raw_public_key=True)
    config.load_private_key(path)
    assert config.private_key is not None
    assert pki.public_key_fingerprint(config.private_key) == pki.public_key_fingerprint(CLIENT_KEY)
    (tmp_path / "empty.pem").write_text("nothing")
    with pytest.raises(ValueError, match="no readable PEM private key"):
        config.load_private_key(tmp_path / "empty.pem")


def test_spki_fingerprint_of_key_and_certificate_agree() -> None:
    chain = server_chain("ecdsa")
    by_cert = pki.public_key_fingerprint(chain.certificate)
    assert by_cert == pki.public_key_fingerprint(chain.key) == SERVER_SHA256
    assert pki.as_public_key_pin(chain.key.public_key()) == pki.Fingerprint("sha-256", by_cert)


def test_the_example_in_the_certificates_guide_runs(tmp_path: Path) -> None:
    # docs/certificates.md, "Raw public keys": mutual raw keys over loopback, pinned by key
    # and by SHA-256 text. Run as a script, as tests/test_docs_snippets.py runs the guides.
    text = (Path(__file__).parent.parent / "docs" / "certificates.md").read_text()
    section = text.split("## Raw public keys (RFC 7250)", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"^```python\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
    assert code is not None
    env = dict(os.environ)
    src = str(Path(__file__).parent.parent / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    result = subprocess.run(
        [sys.executable, "-c", code.group(1)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 0, result.stderr


@settings(max_examples=120, deadline=None)
@given(st.binary(max_size=200) | st.binary(max_size=120).map(lambda b: SPKI[: len(b)] + b))
def test_any_certificate_body_is_a_key_or_a_named_refusal(body: bytes) -> None:
    # R3: untrusted bytes never raise anything but a decode error or an alert.
    config = rpk_client()
    for parse in (
        lambda: rawkeys.check_peer_raw_public_key(body, config, peer_is_server=True),
        lambda: rawkeys.decode_certificate_list(body, "server"),
        lambda: rawkeys.decode_certificate_types(body),
        lambda: rawkeys.decode_certificate_type(body),
    ):
        with contextlib.suppress(BufferReadError, Alert):
            parse()


def test_rfc7925_preset_with_raw_public_keys_negotiates_ecdhe_ecdsa_ccm_8() -> None:
    """CoAP's RawPublicKey mode end to end (RFC 7925 §4.4): the profile's suite with raw keys
    in both roles at MTU 256, data both ways."""
    from aiodtls.suites import CipherSuite

    client = DtlsConfiguration.rfc7925(
        is_client=True,
        raw_public_key=True,
        private_key=CLIENT_KEY,
        peer_public_keys=[SERVER_KEY.public_key()],
        mtu=256,
    )
    server = DtlsConfiguration.rfc7925(
        is_client=False,
        raw_public_key=True,
        private_key=SERVER_KEY,
        peer_public_keys=[CLIENT_KEY.public_key()],
        mtu=256,
    )
    pair = handshake(client, server)
    assert established(pair)
    for outcome in (pair.client_outcome, pair.server_outcome):
        completed = outcome.completed
        assert completed is not None
        assert completed.cipher_suite == CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8.name
    assert pair.client.peer_public_key is not None
    assert pki.subject_public_key_info(pair.client.peer_public_key) == SPKI
    exchange_data(pair)
    assert pair.server_outcome.data == [b"ping"]
    assert pair.client_outcome.data == [b"pong"]
