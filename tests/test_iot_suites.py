"""Handshakes in memory for the IoT suites of issue 12: CCM, CCM_8, ChaCha20-Poly1305, PSK
with AES-256-GCM and ECDHE_PSK, in both roles, with data both ways under each suite's record
protection; the RFC 7925 preset; a PSK server serving many device identities.

Covers checklist K1 (PSK and ECDHE_PSK premaster) and K2 (CCM) end to end; the record
constructions alone are in test_protection.py.
"""

from __future__ import annotations

import ssl

import pytest

from aiodtls import AlertDescription, CipherSuite, ConnectionState, DtlsConfiguration, NamedGroup
from aiodtls.dissect import dissect, handshake_fragments
from aiodtls.handshake.messages import HandshakeType
from aiodtls.record.header import encode_record_header
from aiodtls.suites import KeyExchange, cipher_suite_from_name, openssl_name, suite_info
from certs import server_chain
from pairs import (
    CLIENT_ADDR,
    DTLS12_ONLY,
    PSK,
    PSK_IDENTITY,
    Pair,
    client_config12,
    handshake,
    psk_configs12,
    server_config12,
)

PSK_SUITES = [
    CipherSuite.TLS_PSK_WITH_AES_128_CCM,
    CipherSuite.TLS_PSK_WITH_AES_128_CCM_8,
    CipherSuite.TLS_PSK_WITH_AES_256_GCM_SHA384,
    CipherSuite.TLS_PSK_WITH_CHACHA20_POLY1305_SHA256,
    CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256,
    CipherSuite.TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256,
]
ECDSA_SUITES = [
    CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM,
    CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8,
    CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
]
RSA_SUITES = [CipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256]


def assert_data_both_ways(pair: Pair, suite: CipherSuite) -> None:
    """Both ends completed with ``suite`` and one record crossed in each direction."""
    assert pair.client.state == ConnectionState.ESTABLISHED, pair.client_outcome.terminated
    assert pair.server.state == ConnectionState.ESTABLISHED, pair.server_outcome.terminated
    for outcome in (pair.client_outcome, pair.server_outcome):
        assert outcome.completed is not None
        assert outcome.completed.cipher_suite == suite.name
    pair.client.send(b"ping " + suite.name.encode())
    pair.server.send(b"pong " + suite.name.encode())
    pair.exchange()
    assert pair.server_outcome.data == [b"ping " + suite.name.encode()]
    assert pair.client_outcome.data == [b"pong " + suite.name.encode()]


def test_iana_values() -> None:
    # RFC 6655 §3, RFC 7251 §2, RFC 5487 §3.1, RFC 7905 §2, RFC 8442 §3.
    assert {s.name: int(s) for s in PSK_SUITES + ECDSA_SUITES + RSA_SUITES} == {
        "TLS_PSK_WITH_AES_128_CCM": 0xC0A4,
        "TLS_PSK_WITH_AES_128_CCM_8": 0xC0A8,
        "TLS_PSK_WITH_AES_256_GCM_SHA384": 0x00A9,
        "TLS_PSK_WITH_CHACHA20_POLY1305_SHA256": 0xCCAB,
        "TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256": 0xD001,
        "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256": 0xCCAC,
        "TLS_ECDHE_ECDSA_WITH_AES_128_CCM": 0xC0AC,
        "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8": 0xC0AE,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": 0xCCA9,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": 0xCCA8,
    }


@pytest.mark.parametrize("suite", PSK_SUITES)
def test_psk_suites(suite: CipherSuite) -> None:  # K1, K2
    client, server = psk_configs12(psk_identity_hint=b"gateway")
    client.cipher_suites = [suite]
    server.cipher_suites = list(PSK_SUITES)  # CCM_8 is in no default list
    pair = handshake(client, server)
    assert_data_both_ways(pair, suite)
    completed = pair.server_outcome.completed
    assert completed is not None and completed.psk_identity == PSK_IDENTITY
    ecdhe = suite_info(suite).key_exchange == KeyExchange.ECDHE_PSK
    assert completed.group == ("x25519" if ecdhe else None)


@pytest.mark.parametrize("group", list(NamedGroup))
def test_ecdhe_psk_every_group(group: NamedGroup) -> None:  # K1: other_secret = Z
    suite = CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256
    client, server = psk_configs12()
    client.cipher_suites = [suite]
    client.groups = [group]
    pair = handshake(client, server)
    assert_data_both_ways(pair, suite)
    completed = pair.client_outcome.completed
    assert completed is not None and completed.group == group.name


def test_ecdhe_psk_wrong_key_fails() -> None:
    client, server = psk_configs12(client_psk=b"\x00" * 16)
    client.cipher_suites = [CipherSuite.TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256]
    pair = handshake(client, server)
    assert pair.client.state == ConnectionState.CLOSED
    assert pair.server.state == ConnectionState.CLOSED
    assert pair.client_outcome.completed is None and pair.server_outcome.completed is None


@pytest.mark.parametrize("suite", ECDSA_SUITES)
def test_ecdhe_ecdsa_suites(suite: CipherSuite) -> None:
    pair = handshake(client_config12(cipher_suites=[suite]), server_config12(cipher_suites=[suite]))
    assert_data_both_ways(pair, suite)


@pytest.mark.parametrize("suite", RSA_SUITES)
def test_ecdhe_rsa_suites(suite: CipherSuite) -> None:
    chain = server_chain("rsa")
    pair = handshake(client_config12(chain, cipher_suites=[suite]), server_config12(chain))
    assert_data_both_ways(pair, suite)


def test_default_order_keeps_gcm_first() -> None:
    client = DtlsConfiguration(is_client=True, server_name="x")
    suites = client.effective_cipher_suites()
    assert suites[:4] == [
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        CipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ]
    psk_client, _ = psk_configs12()
    assert psk_client.effective_cipher_suites()[0] == CipherSuite.TLS_PSK_WITH_AES_128_GCM_SHA256
    every_default = suites + psk_client.effective_cipher_suites()
    assert not [s for s in every_default if s.name.endswith("_CCM_8")]  # chosen explicitly only


def test_default_psk_pair_negotiates_gcm() -> None:
    pair = handshake(*psk_configs12())
    assert_data_both_ways(pair, CipherSuite.TLS_PSK_WITH_AES_128_GCM_SHA256)


def test_rfc7925_psk_preset() -> None:
    client = DtlsConfiguration.rfc7925(
        is_client=True, psk=PSK, psk_identity=PSK_IDENTITY, verify_mode=ssl.CERT_NONE
    )
    server = DtlsConfiguration.rfc7925(is_client=False, psk=PSK)
    assert client.cipher_suites == [CipherSuite.TLS_PSK_WITH_AES_128_CCM_8]
    pair = handshake(client, server)
    assert_data_both_ways(pair, CipherSuite.TLS_PSK_WITH_AES_128_CCM_8)


def test_rfc7925_server_picks_ccm_8_from_a_default_client() -> None:
    # A client offering everything (GCM first) still gets the profile's suite.
    client, _ = psk_configs12()
    client.cipher_suites = [
        *client.effective_cipher_suites(),
        CipherSuite.TLS_PSK_WITH_AES_128_CCM_8,
    ]
    server = DtlsConfiguration.rfc7925(is_client=False, psk=PSK)
    assert_data_both_ways(handshake(client, server), CipherSuite.TLS_PSK_WITH_AES_128_CCM_8)


def test_rfc7925_certificate_preset() -> None:
    chain = server_chain("ecdsa")  # a P-256 key
    client = DtlsConfiguration.rfc7925(
        is_client=True, server_name="localhost", ca_certificates=[chain.root]
    )
    client.server_name = client_config12().server_name
    server = DtlsConfiguration.rfc7925(
        is_client=False, certificate_chain=chain.chain, private_key=chain.key
    )
    assert client.groups == [NamedGroup.secp256r1]
    pair = handshake(client, server)
    assert_data_both_ways(pair, CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8)
    completed = pair.client_outcome.completed
    assert completed is not None and completed.group == "secp256r1"


def test_rfc7925_explicit_fields_win() -> None:
    config = DtlsConfiguration.rfc7925(
        is_client=True,
        psk=PSK,
        psk_identity=b"a",
        cipher_suites=[CipherSuite.TLS_PSK_WITH_AES_128_CCM],
    )
    assert config.cipher_suites == [CipherSuite.TLS_PSK_WITH_AES_128_CCM]


# -- a PSK store: one server endpoint, many devices -----------------------------------------


def test_one_server_serves_a_thousand_device_identities() -> None:  # K1
    devices = {f"device-{n:04d}".encode(): n.to_bytes(2, "big") * 8 for n in range(1000)}
    lookups: list[bytes] = []

    def lookup(identity: bytes) -> bytes | None:
        lookups.append(identity)
        return devices.get(identity)

    server = DtlsConfiguration.rfc7925(is_client=False, psk_lookup=lookup, psk_identity_hint=b"gw")
    for identity in list(devices)[::111]:  # 10 of them, spread over the store
        client = DtlsConfiguration.rfc7925(
            is_client=True, psk=devices[identity], psk_identity=identity
        )
        pair = handshake(client, server)
        assert_data_both_ways(pair, CipherSuite.TLS_PSK_WITH_AES_128_CCM_8)
        completed = pair.server_outcome.completed
        assert completed is not None and completed.psk_identity == identity
    assert len(lookups) == 10  # once per handshake, after the cookie exchange


def test_unknown_device_identity_ends_with_unknown_psk_identity() -> None:  # K1
    devices = {b"device-0001": b"\x01" * 16}
    server = DtlsConfiguration.rfc7925(is_client=False, psk_lookup=devices.get)
    client = DtlsConfiguration.rfc7925(is_client=True, psk=b"\x02" * 16, psk_identity=b"intruder")
    pair = handshake(client, server)
    for outcome in (pair.client_outcome, pair.server_outcome):
        assert outcome.terminated is not None
        assert outcome.terminated.alert == AlertDescription.unknown_psk_identity


def test_device_with_another_devices_key_fails() -> None:
    devices = {b"device-0001": b"\x01" * 16, b"device-0002": b"\x02" * 16}
    server = DtlsConfiguration.rfc7925(is_client=False, psk_lookup=devices.get)
    client = DtlsConfiguration.rfc7925(
        is_client=True, psk=b"\x02" * 16, psk_identity=b"device-0001"
    )
    pair = handshake(client, server)
    assert pair.client_outcome.completed is None and pair.server_outcome.completed is None


def test_failing_psk_lookup_is_an_internal_error_not_an_exception() -> None:
    def lookup(identity: bytes) -> bytes | None:
        raise ConnectionError("device database unreachable")

    server = DtlsConfiguration.rfc7925(is_client=False, psk_lookup=lookup)
    client = DtlsConfiguration.rfc7925(is_client=True, psk=PSK, psk_identity=PSK_IDENTITY)
    pair = handshake(client, server)
    terminated = pair.server_outcome.terminated
    assert terminated is not None and terminated.alert == AlertDescription.internal_error
    assert "device database unreachable" in terminated.reason


@pytest.mark.parametrize(
    "suite",
    [CipherSuite.TLS_PSK_WITH_AES_128_CCM_8, CipherSuite.TLS_PSK_WITH_CHACHA20_POLY1305_SHA256],
)
def test_record_shorter_than_nonce_and_tag_is_dropped_and_counted(suite: CipherSuite) -> None:
    """K2: a protected record too short to hold the nonce and tag is dropped, counted, and
    the connection carries on."""
    client, server = psk_configs12(cipher_suites=[suite])
    client.cipher_suites = [suite]
    pair = handshake(client, server)
    overhead = suite_info(suite).aead.record_iv_length + suite_info(suite).tag_length
    short = encode_record_header(23, 0xFEFD, 1, 40, overhead - 1) + bytes(overhead - 1)
    pair.server.receive_datagram(short, CLIENT_ADDR, pair.now)
    assert sum(pair.server.stats.records_dropped.values()) == 1
    assert_data_both_ways(pair, suite)


@pytest.mark.parametrize(
    ("name", "suite"),
    [
        ("TLS_PSK_WITH_AES_128_CCM_8", CipherSuite.TLS_PSK_WITH_AES_128_CCM_8),
        ("PSK_WITH_AES_128_CCM_8", CipherSuite.TLS_PSK_WITH_AES_128_CCM_8),
        ("PSK-AES128-CCM8", CipherSuite.TLS_PSK_WITH_AES_128_CCM_8),
        ("psk-aes128-ccm8", CipherSuite.TLS_PSK_WITH_AES_128_CCM_8),
        ("TLS_PSK_AES_128_CCM_8", CipherSuite.TLS_PSK_WITH_AES_128_CCM_8),  # GnuTLS
        ("ECDHE-ECDSA-AES128-CCM8", CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8),
        ("ECDHE-PSK-CHACHA20-POLY1305", CipherSuite.TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256),
        (
            "TLS_ECDHE_RSA_CHACHA20_POLY1305",
            CipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
        ("PSK-AES256-GCM-SHA384", CipherSuite.TLS_PSK_WITH_AES_256_GCM_SHA384),
    ],
)
def test_suite_names_people_paste(name: str, suite: CipherSuite) -> None:
    assert cipher_suite_from_name(name) == suite


def test_unknown_suite_name() -> None:
    with pytest.raises(ValueError, match="unknown cipher suite"):
        cipher_suite_from_name("PSK-AES128-CBC-SHA")
    assert openssl_name(CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256) is None


@pytest.mark.parametrize(
    "suite",
    [CipherSuite.TLS_PSK_WITH_AES_128_CCM_8, CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256],
)
def test_longest_identity_and_key(suite: CipherSuite) -> None:  # K1: 128-byte identity, 64-byte key
    identity, key = b"i" * 128, bytes(range(64))
    client = DtlsConfiguration(
        is_client=True, psk=key, psk_identity=identity, cipher_suites=[suite], versions=DTLS12_ONLY
    )
    server = DtlsConfiguration(
        is_client=False, psk_lookup={identity: key}.get, cipher_suites=[suite], versions=DTLS12_ONLY
    )
    pair = handshake(client, server)
    assert_data_both_ways(pair, suite)
    completed = pair.server_outcome.completed
    assert completed is not None and completed.psk_identity == identity


def test_ecdhe_psk_hint_reaches_the_client_callback() -> None:
    suite = CipherSuite.TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256
    hints: list[bytes | None] = []

    def choose(hint: bytes | None) -> tuple[bytes, bytes]:
        hints.append(hint)
        return PSK_IDENTITY, PSK

    client = DtlsConfiguration(
        is_client=True, psk_client_callback=choose, cipher_suites=[suite], versions=DTLS12_ONLY
    )
    _, server = psk_configs12(psk_identity_hint=b"gateway-7")
    assert_data_both_ways(handshake(client, server), suite)
    assert hints == [b"gateway-7"]


def test_ecdhe_psk_group_not_offered_is_refused() -> None:  # K3
    """A ServerKeyExchange naming a group the client did not offer: illegal_parameter."""
    suite = CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256
    client, server = psk_configs12(psk_identity_hint=b"gw")
    client.cipher_suites = [suite]
    client.groups = [NamedGroup.x25519]

    def rewrite_group(direction: str, datagram: bytes) -> list[bytes]:
        data = bytearray(datagram)
        for fragment in handshake_fragments(dissect(datagram)):
            if direction == "s2c" and fragment.msg_type == HandshakeType.server_key_exchange:
                group_at = fragment.offset + 12 + 2 + len(b"gw") + 1  # header, hint, curve_type
                data[group_at : group_at + 2] = int(NamedGroup.secp256r1).to_bytes(2, "big")
        return [bytes(data)]

    pair = handshake(client, server, deliver=rewrite_group)
    terminated = pair.client_outcome.terminated
    assert terminated is not None and terminated.alert == AlertDescription.illegal_parameter
    assert "group we did not offer" in terminated.reason
