"""Regression tests for three defects of the hardening issue, on real endpoint pairs.

- Defect 1: fingerprint pins on a server were not enforced (no CertificateRequest was sent,
  so a client without a certificate, or with any certificate, got in). Pins now mean "a peer
  certificate is required and its leaf must match a pin", on either side.
- Defect 7: ``max_payload()`` ignored the 2^14 plaintext limit of a record, so with a large
  MTU ``send()`` accepted records the peer then dropped (SPEC R5); the receiving side's
  limits are checked end to end here too. ``mtu`` is range-checked.
- Defect 8: peer certificates with weak keys (RSA-1024, curves under P-256) were accepted;
  ``min_rsa_key_size`` / ``min_ec_key_size`` now refuse them whatever the verify mode.

Each test drives sans-I/O ``DtlsConnection`` pairs exchanging real datagrams (``pairs``).
"""

from __future__ import annotations

import io
import os
import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes

from aiodtls import AlertDescription, CipherSuite, ConnectionState, DtlsConfiguration
from aiodtls.buffer import Buffer
from aiodtls.connection import DtlsConnection
from aiodtls.handshake.certificates import certificate_fingerprint
from aiodtls.handshake.keyschedule import derive_key_block
from aiodtls.handshake.messages import HandshakeType
from aiodtls.record.header import (
    DTLS1_2,
    MAX_CIPHERTEXT_LENGTH,
    MAX_PLAINTEXT_LENGTH,
    ContentType,
    RawRecord,
    encode_record_header,
    split_datagram,
)
from aiodtls.record.protection import AesGcmProtection
from aiodtls.reliability.fragments import pull_handshake_header
from aiodtls.suites import suite_info
from certs import (
    KeyKind,
    client_chain,
    server_chain,
    weak_ec_intermediate_chain,
    weak_rsa_leaf,
)
from pairs import CLIENT_ADDR, DTLS12_ONLY, Pair, client_config12, handshake, server_config12


def assert_established(pair: Pair) -> None:
    """Both sides completed the handshake."""
    assert pair.client.state == ConnectionState.ESTABLISHED, pair.client_outcome.terminated
    assert pair.server.state == ConnectionState.ESTABLISHED, pair.server_outcome.terminated


def assert_refused(pair: Pair, alert: AlertDescription, *, by_client: bool, reason: str) -> None:
    """The refusing side ended the handshake with ``alert`` and a reason containing
    ``reason``; its peer ended on receiving that alert."""
    refuser = pair.client_outcome if by_client else pair.server_outcome
    peer = pair.server_outcome if by_client else pair.client_outcome
    mine, theirs = refuser.terminated, peer.terminated
    assert mine is not None and theirs is not None, (mine, theirs)
    assert pair.client_outcome.completed is None and pair.server_outcome.completed is None
    assert mine.alert == alert and not mine.by_peer and mine.during_handshake, mine
    assert reason in mine.reason, mine.reason
    assert theirs.alert == alert and theirs.by_peer and theirs.during_handshake, theirs


def pinning_server(pinned: bytes | None = None) -> DtlsConfiguration:
    """A server that pins the ECDSA client leaf (or ``pinned``) and sets nothing else."""
    pin = pinned if pinned is not None else certificate_fingerprint(client_chain().certificate)
    return server_config12(peer_fingerprints=[pin])


def with_client_certificate(config: DtlsConfiguration, kind: str) -> DtlsConfiguration:
    """``config`` presenting the client leaf of ``kind`` ("ecdsa" or "rsa")."""
    chain = client_chain("ecdsa" if kind == "ecdsa" else "rsa")
    config.certificate_chain, config.private_key = chain.chain, chain.key
    return config


# -- Defect 1: pins on the server require a matching client certificate ---------------------


def test_pinning_server_refuses_a_client_without_a_certificate() -> None:
    # RFC 5246 §7.4.6: a server that requires a certificate the client did not send may
    # answer with a fatal handshake_failure (DTLS 1.2 has no certificate_required alert).
    pair = handshake(client_config12(), pinning_server())
    assert_refused(
        pair,
        AlertDescription.handshake_failure,
        by_client=False,
        reason="client sent no certificate but peer_fingerprints requires one",
    )


def test_pinning_server_refuses_a_client_with_another_certificate() -> None:
    pair = handshake(with_client_certificate(client_config12(), "rsa"), pinning_server())
    assert_refused(
        pair, AlertDescription.bad_certificate, by_client=False, reason="matches no pinned"
    )
    terminated = pair.server_outcome.terminated
    assert terminated is not None
    colon_hex = certificate_fingerprint(client_chain("rsa").certificate).hex(":").upper()
    assert terminated.reason == (
        f"certificate fingerprint sha-256 {colon_hex} matches no pinned fingerprint"
    )


def test_pinning_server_accepts_the_pinned_client_certificate() -> None:
    # No ca_certificates on the server: the pin alone authenticates the client.
    pair = handshake(with_client_certificate(client_config12(), "ecdsa"), pinning_server())
    assert_established(pair)
    completed = pair.server_outcome.completed
    assert completed is not None
    assert completed.peer_certificates[0] == client_chain().certificate


def test_pins_make_certificates_required_by_default() -> None:
    pin = certificate_fingerprint(client_chain().certificate)
    server = DtlsConfiguration(versions=DTLS12_ONLY, is_client=False, peer_fingerprints=[pin])
    assert server.effective_verify_mode() == ssl.CERT_REQUIRED
    assert (
        DtlsConfiguration(versions=DTLS12_ONLY, is_client=False).effective_verify_mode()
        == ssl.CERT_NONE
    )


@pytest.mark.parametrize("mode", [ssl.CERT_NONE, ssl.CERT_OPTIONAL])
@pytest.mark.parametrize("is_client", [True, False])
def test_pins_with_a_weaker_verify_mode_are_a_configuration_error(
    mode: ssl.VerifyMode, is_client: bool
) -> None:
    pin = certificate_fingerprint(client_chain().certificate)
    with pytest.raises(ValueError, match="peer_fingerprints"):
        DtlsConfiguration(
            versions=DTLS12_ONLY, is_client=is_client, peer_fingerprints=[pin], verify_mode=mode
        )
    # Set after construction: refused when the connection is created.
    config = DtlsConfiguration(versions=DTLS12_ONLY, is_client=is_client, verify_mode=mode)
    config.peer_fingerprints = [pin]
    with pytest.raises(ValueError, match="peer_fingerprints"):
        DtlsConnection(configuration=config)


def test_a_pin_that_is_not_a_sha256_digest_is_a_configuration_error() -> None:
    hex_pin = certificate_fingerprint(client_chain().certificate).hex().encode()
    with pytest.raises(ValueError, match="32-byte SHA-256"):
        DtlsConfiguration(versions=DTLS12_ONLY, is_client=False, peer_fingerprints=[hex_pin])


# -- Defect 7: the 2^14 plaintext limit ------------------------------------------------------


def large_mtu_pair(**fields: Any) -> Pair:
    """An established ECDSA pair whose MTU (60000) is far above one record's 2^14 limit."""
    pair = handshake(client_config12(mtu=60000, **fields), server_config12(mtu=60000))
    assert_established(pair)
    return pair


def test_max_payload_is_capped_at_the_record_plaintext_limit() -> None:  # R5
    pair = large_mtu_pair()
    for sender in (pair.client, pair.server):
        assert sender.max_payload() == MAX_PLAINTEXT_LENGTH
        with pytest.raises(ValueError, match="max_payload"):
            sender.send(b"x" * (MAX_PLAINTEXT_LENGTH + 1))
        assert sender.datagrams_to_send(pair.now) == []
        payload = os.urandom(MAX_PLAINTEXT_LENGTH)
        sender.send(payload)
        pair.exchange()
    assert [len(d) for d in pair.server_outcome.data] == [MAX_PLAINTEXT_LENGTH]
    assert [len(d) for d in pair.client_outcome.data] == [MAX_PLAINTEXT_LENGTH]
    assert pair.server.stats.records_dropped == {}
    # The second copy of the HelloVerifyRequest is the only record the client drops.
    assert pair.client.stats.records_dropped == {"repeated plaintext record": 1}


def client_write_protection(pair: Pair, key_log: io.StringIO) -> AesGcmProtection:
    """The client's epoch-1 write keys, rebuilt from its NSS key log line and the randoms
    seen on the wire: what a peer that ignores the limits would seal with."""
    (line,) = key_log.getvalue().splitlines()
    _, client_random_hex, master_secret_hex = line.split()
    server_random = None
    for _, direction, datagram in pair.sent:
        for record in split_datagram(datagram):
            if direction != "s2c" or not isinstance(record, RawRecord) or record.epoch != 0:
                continue
            if record.content_type != ContentType.handshake:
                continue
            buf = Buffer(record.fragment)
            header = pull_handshake_header(buf)
            if header.msg_type == HandshakeType.server_hello:
                server_random = buf.pull_bytes(2 + 32)[2:]
    assert server_random is not None
    completed = pair.client_outcome.completed
    assert completed is not None
    suite = suite_info(CipherSuite[completed.cipher_suite])
    block = derive_key_block(
        suite.prf_hash(),
        bytes.fromhex(master_secret_hex),
        bytes.fromhex(client_random_hex),
        server_random,
        suite.key_length,
        suite.fixed_iv_length,
    )
    return AesGcmProtection(block.client_write_key, block.client_write_iv)


def forged_record(protection: AesGcmProtection | None, seq: int, payload: bytes) -> bytes:
    """An epoch-1 application-data record: sealed under ``protection``, or ``payload`` as
    the raw fragment when None."""
    epoch_seq = ((1 << 48) | seq).to_bytes(8, "big")
    fragment = (
        payload
        if protection is None
        else protection.seal(epoch_seq, ContentType.application_data, DTLS1_2, payload)
    )
    header = encode_record_header(ContentType.application_data, DTLS1_2, 1, seq, len(fragment))
    return header + fragment


def test_receiver_drops_records_over_the_plaintext_and_ciphertext_limits() -> None:  # R5
    key_log = io.StringIO()
    pair = large_mtu_pair(key_log=key_log)
    protection = client_write_protection(pair, key_log)
    seq = 1 << 20  # far above anything the client used: fresh for the replay window
    oversize = [
        forged_record(protection, seq, bytes(MAX_PLAINTEXT_LENGTH + 1)),
        forged_record(None, seq + 1, os.urandom(MAX_CIPHERTEXT_LENGTH + 1)),
    ]
    for datagram in oversize:
        pair.server.receive_datagram(datagram, CLIENT_ADDR, pair.now)
    pair.collect()
    assert pair.server.state == ConnectionState.ESTABLISHED
    assert pair.server_outcome.data == []
    assert pair.server.stats.records_dropped == {"plaintext too long": 1, "record too long": 1}
    # The forged keys are the real ones: exactly 2^14 bytes under them is delivered.
    payload = os.urandom(MAX_PLAINTEXT_LENGTH)
    pair.server.receive_datagram(forged_record(protection, seq + 2, payload), CLIENT_ADDR, 0)
    pair.collect()
    assert pair.server_outcome.data == [payload]


@pytest.mark.parametrize("mtu", [0, 227, 65508, 1 << 20])
def test_mtu_out_of_range_is_a_configuration_error(mtu: int) -> None:
    with pytest.raises(ValueError, match="mtu"):
        DtlsConfiguration(versions=DTLS12_ONLY, mtu=mtu)
    config = client_config12()
    config.mtu = mtu
    with pytest.raises(ValueError, match="mtu"):
        DtlsConnection(configuration=config)


@pytest.mark.parametrize("mtu", [228, 65507])
def test_mtu_at_the_bounds_is_accepted(mtu: int) -> None:
    assert_established(handshake(client_config12(mtu=mtu), server_config12(mtu=mtu)))


# -- Defect 8: minimum key sizes of peer certificates ----------------------------------------


def weak_server(**fields: Any) -> DtlsConfiguration:
    """A server presenting the RSA-1024 leaf (its own key is set directly, not loaded)."""
    return server_config12(weak_rsa_leaf("server"), **fields)


@pytest.mark.parametrize("policy", ["chain", "pin", "cert_none"])
def test_client_refuses_a_server_leaf_with_an_rsa_1024_key(policy: str) -> None:
    chain = weak_rsa_leaf("server")
    if policy == "chain":
        client = client_config12(chain)
    elif policy == "pin":
        client = DtlsConfiguration(
            versions=DTLS12_ONLY, peer_fingerprints=[certificate_fingerprint(chain.certificate)]
        )
    else:
        client = DtlsConfiguration(versions=DTLS12_ONLY, verify_mode=ssl.CERT_NONE)
    pair = handshake(client, weak_server())
    assert_refused(
        pair,
        AlertDescription.insufficient_security,
        by_client=True,
        reason="has a 1024-bit RSA key, below min_rsa_key_size 2048",
    )


def test_client_with_a_lower_minimum_accepts_an_rsa_1024_server_leaf() -> None:
    client = client_config12(weak_rsa_leaf("server"), min_rsa_key_size=1024)
    assert_established(handshake(client, weak_server()))


def weak_client_auth(mode: ssl.VerifyMode | None) -> tuple[DtlsConfiguration, DtlsConfiguration]:
    """A client with the RSA-1024 client leaf and a server that asks for a certificate, by
    chain validation (``mode``) or, for None, by pinning that leaf."""
    chain = weak_rsa_leaf("client")
    client = client_config12()
    client.certificate_chain, client.private_key = chain.chain, chain.key
    if mode is None:
        server = server_config12(peer_fingerprints=[certificate_fingerprint(chain.certificate)])
    else:
        server = server_config12(verify_mode=mode, ca_certificates=[chain.root])
    return client, server


@pytest.mark.parametrize("mode", [ssl.CERT_REQUIRED, ssl.CERT_OPTIONAL, None])
def test_server_refuses_a_client_certificate_with_an_rsa_1024_key(
    mode: ssl.VerifyMode | None,
) -> None:
    pair = handshake(*weak_client_auth(mode))
    assert_refused(
        pair,
        AlertDescription.insufficient_security,
        by_client=False,
        reason="client certificate CN=client,O=aiodtls tests has a 1024-bit RSA key",
    )


def test_server_with_a_lower_minimum_accepts_an_rsa_1024_client_certificate() -> None:
    client, server = weak_client_auth(ssl.CERT_REQUIRED)
    server.min_rsa_key_size = 1024
    pair = handshake(client, server)
    assert_established(pair)
    completed = pair.server_outcome.completed
    assert completed is not None
    assert completed.peer_certificates[0] == weak_rsa_leaf("client").certificate


@pytest.mark.parametrize("pinned", [False, True])
def test_a_ca_below_p256_in_the_sent_chain_is_refused(pinned: bool) -> None:
    # Neither the pin (the leaf is P-256) nor CERT_NONE looks at the intermediate; the key
    # policy does.
    chain = weak_ec_intermediate_chain()
    pins = [certificate_fingerprint(chain.certificate)] if pinned else []
    client = DtlsConfiguration(
        versions=DTLS12_ONLY, verify_mode=None if pinned else ssl.CERT_NONE, peer_fingerprints=pins
    )
    pair = handshake(client, server_config12(chain))
    assert_refused(
        pair,
        AlertDescription.insufficient_security,
        by_client=True,
        reason="has a 224-bit EC key (secp224r1), below min_ec_key_size 256",
    )
    client.min_ec_key_size = 224
    assert_established(handshake(client, server_config12(chain)))


def test_load_cert_chain_refuses_our_own_rsa_1024_key(tmp_path: Path) -> None:
    files = weak_rsa_leaf("server").write_pem(tmp_path)
    config = DtlsConfiguration(versions=DTLS12_ONLY, is_client=False)
    with pytest.raises(ValueError, match="1024-bit RSA key, below min_rsa_key_size 2048"):
        config.load_cert_chain(str(files.chain), str(files.key))
    assert config.private_key is None and config.certificate_chain == []
    config.min_rsa_key_size = 1024
    config.load_cert_chain(str(files.chain), str(files.key))
    assert config.certificate_chain[0].fingerprint(hashes.SHA256()) == weak_rsa_leaf(
        "server"
    ).certificate.fingerprint(hashes.SHA256())


@pytest.mark.parametrize("kind", ["ecdsa", "rsa"])
def test_default_test_certificates_meet_the_minimums(kind: KeyKind) -> None:
    chain = server_chain(kind)
    assert_established(handshake(client_config12(chain), server_config12(chain)))
