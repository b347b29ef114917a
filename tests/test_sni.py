"""Server SNI (RFC 6066 §3): the name the client sent is exposed, and ``sni_callback`` chooses
the certificate per name; plus the PSK callbacks of both roles (issue 10)."""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from aiodtls import AlertDescription, DtlsConfiguration
from aiodtls.pki import generate_chain
from certs import server_chain
from pairs import (
    DTLS12_ONLY,
    PSK,
    PSK_IDENTITY,
    Pair,
    client_config,
    handshake,
    psk_configs12,
    server_config,
)

CHAIN_A = generate_chain(names=("a.example",))
CHAIN_B = generate_chain(kind="rsa", key_bits=(2048, 2048, 2048), names=("b.example",))
# The server_name extension as a client sends it for "localhost": type 0, length 14, list
# length 12, host_name (0) of length 9.
SNI_LOCALHOST = b"\x00\x00\x00\x0e\x00\x0c\x00\x00\x09localhost"


def verifying_client(name: str, root: Any) -> DtlsConfiguration:
    return DtlsConfiguration(server_name=name, ca_certificates=[root])


def completed_names(pair: Pair) -> tuple[str | None, str | None]:
    c, s = pair.client_outcome.completed, pair.server_outcome.completed
    assert c is not None and s is not None, (pair.client_outcome, pair.server_outcome)
    assert (pair.client.server_name, pair.server.server_name) == (c.server_name, s.server_name)
    return c.server_name, s.server_name


def test_the_server_reports_the_name_the_client_sent() -> None:
    assert completed_names(handshake(client_config(), server_config())) == (
        "localhost",
        "localhost",
    )


def test_a_client_connecting_by_ip_address_sends_no_name() -> None:
    seen: list[str | None] = []

    def callback(name: str | None) -> None:
        seen.append(name)

    pair = handshake(client_config(server_name="127.0.0.1"), server_config(sni_callback=callback))
    assert completed_names(pair) == ("127.0.0.1", None)
    assert seen == [None]


def test_two_names_get_two_certificates() -> None:
    chains = {
        "a.example": (CHAIN_A.chain, CHAIN_A.key),
        "b.example": (CHAIN_B.chain, CHAIN_B.key),
    }
    # Names the callback does not know get the default, "localhost" chain.
    server = server_config(sni_callback=lambda name: chains.get(name or ""))
    for name, chain in (("a.example", CHAIN_A), ("b.example", CHAIN_B)):
        pair = handshake(verifying_client(name, chain.root), server)
        assert completed_names(pair) == (name, name)
        assert pair.client.peer_certificates[0] == chain.leaf  # verified by the client
    # b.example's certificate is not a.example's: a client for b trusting only a's root fails.
    pair = handshake(verifying_client("b.example", CHAIN_A.root), server)
    client_end = pair.client_outcome.terminated
    assert client_end is not None and not client_end.by_peer
    assert "certificate verification failed" in client_end.reason
    # A name the callback does not know keeps the configured certificate.
    pair = handshake(verifying_client("localhost", server_chain("ecdsa").root), server)
    assert completed_names(pair) == ("localhost", "localhost")
    assert pair.client.peer_certificates[0] == server_chain("ecdsa").certificate


def test_a_server_may_have_no_certificate_but_the_callback() -> None:
    chains = {"a.example": (CHAIN_A.chain, CHAIN_A.key)}
    server = DtlsConfiguration(is_client=False, sni_callback=lambda name: chains.get(name or ""))
    pair = handshake(verifying_client("a.example", CHAIN_A.root), server)
    assert completed_names(pair) == ("a.example", "a.example")
    pair = handshake(verifying_client("localhost", CHAIN_A.root), server)
    server_end = pair.server_outcome.terminated
    assert server_end is not None and server_end.alert == AlertDescription.handshake_failure


def test_the_callback_can_refuse_a_name_with_unrecognized_name() -> None:
    def callback(name: str | None) -> AlertDescription:
        return AlertDescription.unrecognized_name

    pair = handshake(client_config(), server_config(sni_callback=callback))
    server_end, client_end = pair.server_outcome.terminated, pair.client_outcome.terminated
    assert server_end is not None and client_end is not None
    assert server_end.alert == client_end.alert == AlertDescription.unrecognized_name
    assert "'localhost'" in server_end.reason and client_end.by_peer


def raises(name: str | None) -> None:
    raise KeyError(name)


def returns_garbage(name: str | None) -> object:
    return "not a chain"


def returns_a_weak_key(name: str | None) -> object:
    weak = generate_chain(kind="rsa", key_bits=(2048, 2048, 1024), names=("localhost",))
    return weak.chain, weak.key


@pytest.mark.parametrize(
    ("callback", "reason"),
    [
        (raises, "sni_callback raised KeyError('localhost')"),
        (returns_garbage, "sni_callback returned str"),
        (returns_a_weak_key, "1024-bit RSA key"),
    ],
)
def test_a_failing_callback_ends_the_handshake_with_internal_error(
    callback: Any, reason: str
) -> None:
    pair = handshake(client_config(), server_config(sni_callback=callback))
    server_end, client_end = pair.server_outcome.terminated, pair.client_outcome.terminated
    assert server_end is not None and client_end is not None
    assert server_end.alert == AlertDescription.internal_error and reason in server_end.reason
    assert client_end.alert == AlertDescription.internal_error and client_end.by_peer


@pytest.mark.parametrize(
    "replacement",
    [
        SNI_LOCALHOST[:6] + b"\x01" + SNI_LOCALHOST[7:],  # name type 1, not host_name
        SNI_LOCALHOST[:9] + b"local\x00ost",  # NUL in the name
        SNI_LOCALHOST[:9] + b"localh\xc3\xa9t"[:9],  # not ASCII
    ],
)
def test_a_malformed_server_name_is_a_decode_error(replacement: bytes) -> None:
    assert len(replacement) == len(SNI_LOCALHOST)

    def tamper(direction: str, datagram: bytes) -> list[bytes]:
        if direction == "c2s":
            datagram = datagram.replace(SNI_LOCALHOST, replacement)
        return [datagram]

    pair = handshake(client_config(), server_config(), tamper)
    server_end = pair.server_outcome.terminated
    assert server_end is not None and server_end.alert == AlertDescription.decode_error
    assert "server_name" in server_end.reason or "host" in server_end.reason


# -- PSK callbacks ------------------------------------------------------------------------


def test_server_psk_lookup_serves_many_identities() -> None:
    keys = {b"device-%d" % i: bytes([i]) * 16 for i in range(3)}
    server = DtlsConfiguration(is_client=False, psk_lookup=keys.get)
    for identity, key in keys.items():
        client = DtlsConfiguration(psk=key, psk_identity=identity, verify_mode=ssl.CERT_NONE)
        pair = handshake(client, server)
        completed = pair.server_outcome.completed
        assert completed is not None and completed.psk_identity == identity
    client = DtlsConfiguration(psk=PSK, psk_identity=b"stranger", verify_mode=ssl.CERT_NONE)
    server_end = handshake(client, server).server_outcome.terminated
    assert server_end is not None and server_end.alert == AlertDescription.unknown_psk_identity


def test_client_callback_uses_the_server_hint() -> None:
    hints: list[bytes | None] = []
    keys = {b"gateway-7": (b"sensor-7", PSK)}

    def callback(hint: bytes | None) -> tuple[bytes, bytes] | None:
        hints.append(hint)
        return keys.get(hint) if hint is not None else None

    client = DtlsConfiguration(
        versions=DTLS12_ONLY, psk_client_callback=callback, verify_mode=ssl.CERT_NONE
    )
    server = DtlsConfiguration(
        versions=DTLS12_ONLY,
        is_client=False,
        psk_identity_hint=b"gateway-7",
        psk_lookup={b"sensor-7": PSK}.get,
    )
    pair = handshake(client, server)
    completed = pair.client_outcome.completed
    assert completed is not None and completed.psk_identity == b"sensor-7", pair.client_outcome
    assert hints == [b"gateway-7"]
    # Another server's hint: the callback has no key, the client says handshake_failure.
    server.psk_identity_hint = b"gateway-8"
    pair = handshake(client, server)
    client_end = pair.client_outcome.terminated
    assert client_end is not None and client_end.alert == AlertDescription.handshake_failure
    assert "b'gateway-8'" in client_end.reason


def test_client_callback_without_a_hint_gets_none() -> None:
    hints: list[bytes | None] = []

    def callback(hint: bytes | None) -> tuple[bytes, bytes]:
        hints.append(hint)
        return PSK_IDENTITY, PSK

    client = DtlsConfiguration(
        versions=DTLS12_ONLY, psk_client_callback=callback, verify_mode=ssl.CERT_NONE
    )
    _, server = psk_configs12()
    pair = handshake(client, server)
    assert pair.client_outcome.completed is not None and hints == [None]


@pytest.mark.parametrize("answer", [b"key", (b"id",), ("id", PSK), (b"", PSK), (b"id", b"")])
def test_client_callback_returning_garbage_is_internal_error(answer: object) -> None:
    def callback(hint: bytes | None) -> Any:
        return answer

    client = DtlsConfiguration(
        versions=DTLS12_ONLY, psk_client_callback=callback, verify_mode=ssl.CERT_NONE
    )
    _, server = psk_configs12()
    client_end = handshake(client, server).client_outcome.terminated
    assert client_end is not None and client_end.alert == AlertDescription.internal_error
    assert "psk_client_callback must return" in client_end.reason
