"""Pinning with the fingerprints people paste (issue 10): ``peer_fingerprints`` takes hex with
or without colons in any case, the RFC 8122 ``sha-256 AB:..`` form, an SDP
``a=fingerprint:`` line, SHA-1 to SHA-512, raw 32-byte SHA-256 digests and
``pki.Fingerprint`` pairs; the peer's leaf is hashed with each pin's own algorithm."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes

from aiodtls import AlertDescription, DtlsConfiguration, pki
from certs import client_chain, self_signed
from pairs import Pair, client_config, handshake, server_config

SERVER = self_signed()
LEAF = SERVER.certificate
SHA256 = LEAF.fingerprint(hashes.SHA256())


def pinned_client(*pins: object) -> DtlsConfiguration:
    return DtlsConfiguration(is_client=True, peer_fingerprints=list(pins))  # type: ignore[arg-type]


def established(pair: Pair) -> bool:
    return pair.client_outcome.completed is not None and pair.server_outcome.completed is not None


@pytest.mark.parametrize(
    "pin",
    [
        SHA256,
        pki.sdp_fingerprint(LEAF),
        "sha-256 " + SHA256.hex(":"),
        SHA256.hex(":").upper(),
        SHA256.hex(),
        "SHA256 Fingerprint=" + SHA256.hex(":").upper(),
        "sha-1 " + LEAF.fingerprint(hashes.SHA1()).hex(":"),
        LEAF.fingerprint(hashes.SHA224()).hex(),
        "a=fingerprint:sha-384 " + LEAF.fingerprint(hashes.SHA384()).hex(":").upper(),
        "sha-512 " + LEAF.fingerprint(hashes.SHA512()).hex(),
        pki.Fingerprint("sha-512", LEAF.fingerprint(hashes.SHA512())),
        ("sha-384", LEAF.fingerprint(hashes.SHA384())),
    ],
    ids=[
        "raw-bytes", "sdp-line", "rfc8122", "colons", "hex", "openssl", "sha-1", "sha-224-hex",
        "sha-384-sdp", "sha-512", "Fingerprint", "tuple",
    ],
)  # fmt: skip
def test_each_pasted_form_pins_the_server(pin: object) -> None:
    assert established(handshake(pinned_client(pin), server_config(SERVER)))


@pytest.mark.parametrize(
    "pin",
    [
        pki.sdp_fingerprint(client_chain().certificate),
        "sha-1 " + client_chain().certificate.fingerprint(hashes.SHA1()).hex(),
        "sha-512 " + client_chain().certificate.fingerprint(hashes.SHA512()).hex(),
    ],
    ids=["sha-256", "sha-1", "sha-512"],
)
def test_a_pin_of_another_certificate_refuses_with_bad_certificate(pin: str) -> None:
    pair = handshake(pinned_client(pin), server_config(SERVER))
    terminated = pair.client_outcome.terminated
    assert terminated is not None and terminated.alert == AlertDescription.bad_certificate
    assert terminated.reason == (
        f"certificate fingerprint sha-256 {SHA256.hex(':').upper()} matches no pinned fingerprint"
    )


def test_one_matching_pin_among_several_is_enough() -> None:
    other = pki.sdp_fingerprint(client_chain().certificate)
    assert established(handshake(pinned_client(other, SHA256.hex()), server_config(SERVER)))


def test_a_server_pins_a_client_with_a_pasted_line() -> None:
    chain = client_chain()
    client = client_config(certificate_chain=chain.chain, private_key=chain.key)
    server = server_config(peer_fingerprints=[pki.sdp_fingerprint(chain.certificate)])
    pair = handshake(client, server)
    assert established(pair)
    assert pair.server_outcome.completed is not None
    assert pair.server_outcome.completed.peer_certificates[0] == chain.certificate


@pytest.mark.parametrize(
    ("pin", "message"),
    [
        ("md5 " + "00" * 16, "unsupported fingerprint hash 'md5'"),
        ("sha-256 " + "00" * 20, "sha-256 fingerprint has 32 bytes"),
        ("zz:zz", "not a fingerprint"),
        (b"\x00" * 20, "32-byte SHA-256"),
        (("sha-256", b"\x00" * 20), "sha-256 digest is 32"),
    ],
)
def test_a_malformed_pin_is_a_configuration_error(pin: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"peer_fingerprints entry: .*{message}"):
        pinned_client(pin)
