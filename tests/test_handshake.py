"""Full handshakes in memory: every suite, group, authentication mode and failure path.

Covers issue 2 "Must show" item 2. Virtual time: a failure "within the handshake timeout" is
asserted on the scripted clock.
"""

from __future__ import annotations

import datetime
import ssl

import pytest

from aiodtls import AlertDescription, CipherSuite, ConnectionState, DtlsConfiguration, NamedGroup
from aiodtls.handshake.certificates import certificate_fingerprint
from aiodtls.handshake.flights import FULL, Flight, Side
from aiodtls.reliability.timer import RetransmissionPolicy
from aiodtls.suites import suite_info
from aiodtls.trace import TraceRecord
from certs import (
    client_chain,
    expired_leaf,
    not_yet_valid_leaf,
    self_signed,
    server_chain,
    wrong_name_leaf,
)
from pairs import (
    DTLS12_ONLY,
    PSK,
    PSK_IDENTITY,
    Pair,
    client_auth_configs12,
    client_config12,
    handshake,
    psk_configs12,
    server_config12,
)

ECDSA_SUITES = [
    CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
]
RSA_SUITES = [
    CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    CipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
]


def assert_established(pair: Pair) -> None:
    """Both sides completed and agree on what was negotiated."""
    assert pair.client.state == ConnectionState.ESTABLISHED, pair.client_outcome.terminated
    assert pair.server.state == ConnectionState.ESTABLISHED, pair.server_outcome.terminated
    c, s = pair.client_outcome.completed, pair.server_outcome.completed
    assert c is not None and s is not None
    assert c.cipher_suite == s.cipher_suite
    assert c.protocol_version == s.protocol_version == "DTLSv1.2"
    assert c.extended_master_secret and s.extended_master_secret  # E4
    assert pair.client.export_keying_material(
        "EXPERIMENTAL-test", 32, b"ctx"
    ) == pair.server.export_keying_material("EXPERIMENTAL-test", 32, b"ctx")


def assert_failed(
    pair: Pair,
    client_alert: AlertDescription | None,
    server_alert: AlertDescription | None,
    *,
    client_by_peer: bool,
) -> None:
    """Both sides ended during the handshake with the named alerts."""
    c, s = pair.client_outcome.terminated, pair.server_outcome.terminated
    assert c is not None and s is not None, (c, s)
    assert c.during_handshake and s.during_handshake
    assert c.alert == client_alert, c
    assert s.alert == server_alert, s
    assert c.by_peer == client_by_peer
    assert s.by_peer != client_by_peer
    assert pair.client_outcome.completed is None and pair.server_outcome.completed is None


@pytest.mark.parametrize("suite", ECDSA_SUITES)
@pytest.mark.parametrize("group", list(NamedGroup))
def test_ecdhe_ecdsa_every_suite_and_group(suite: CipherSuite, group: NamedGroup) -> None:
    pair = handshake(client_config12(cipher_suites=[suite], groups=[group]), server_config12())
    assert_established(pair)
    completed = pair.client_outcome.completed
    assert completed is not None
    assert completed.cipher_suite == suite.name
    assert completed.group == group.name
    assert [c.subject for c in completed.peer_certificates] == [
        c.subject for c in server_chain("ecdsa").chain
    ]
    assert completed.retransmissions == 0


@pytest.mark.parametrize("suite", RSA_SUITES)
@pytest.mark.parametrize("group", list(NamedGroup))
def test_ecdhe_rsa_every_suite_and_group(suite: CipherSuite, group: NamedGroup) -> None:
    chain = server_chain("rsa")
    pair = handshake(
        client_config12(chain, cipher_suites=[suite], groups=[group]), server_config12(chain)
    )
    assert_established(pair)
    completed = pair.server_outcome.completed
    assert completed is not None and completed.cipher_suite == suite.name
    assert completed.group == group.name


@pytest.mark.parametrize(
    "scheme_names",
    [
        ["rsa_pss_rsae_sha256"],
        ["rsa_pss_rsae_sha384"],
        ["rsa_pkcs1_sha256"],
        ["rsa_pkcs1_sha384"],
    ],
)
def test_rsa_signature_schemes(scheme_names: list[str]) -> None:
    from aiodtls import SignatureScheme

    schemes = [SignatureScheme[n] for n in scheme_names]
    chain = server_chain("rsa")
    pair = handshake(client_config12(chain, signature_schemes=schemes), server_config12(chain))
    assert_established(pair)


def test_server_prefers_its_own_suite_order() -> None:
    client = client_config12(cipher_suites=list(reversed(ECDSA_SUITES)))
    server = server_config12(cipher_suites=ECDSA_SUITES)
    pair = handshake(client, server)
    assert_established(pair)
    completed = pair.client_outcome.completed
    assert completed is not None and completed.cipher_suite == ECDSA_SUITES[0].name


def test_psk() -> None:
    client, server = psk_configs12(psk_identity_hint=b"hint")
    pair = handshake(client, server)
    assert_established(pair)
    completed = pair.server_outcome.completed
    assert completed is not None
    assert completed.cipher_suite == "TLS_PSK_WITH_AES_128_GCM_SHA256"
    assert completed.psk_identity == PSK_IDENTITY
    assert completed.group is None


def test_psk_lookup_by_identity() -> None:
    client, server = psk_configs12(server_psk=b"unused")
    server.psk = None
    server.psk_lookup = {PSK_IDENTITY: PSK}.get
    assert_established(handshake(client, server))


def test_wrong_psk_fails_by_name_on_both_sides_within_the_timeout() -> None:
    exact = RetransmissionPolicy(jitter=0)
    client, server = psk_configs12(client_psk=b"\x00" * 16, retransmission=exact)
    client.retransmission = exact
    pair = handshake(client, server)
    # The server sees the client's Finished fail authentication, then the client repeat its
    # flight twice (one RTO, then a doubled one later) with the Finished failing again each
    # time, and names the cause (R8). The in-memory link has no delay, so the measured RTT is
    # 0 and the timeout is the floor, min_rto: the repeats come at 0.1 and 0.3 s.
    assert_failed(
        pair,
        AlertDescription.bad_record_mac,
        AlertDescription.bad_record_mac,
        client_by_peer=True,
    )
    server_end = pair.server_outcome.terminated
    assert server_end is not None and "wrong PSK" in server_end.reason
    assert pair.now < server.handshake_timeout
    assert pair.now == pytest.approx(exact.min_rto * 3)


def test_wrong_psk_without_alert_times_out_with_a_reason() -> None:
    client, server = psk_configs12(client_psk=b"\x00" * 16, wrong_key_repeats=0)
    client.wrong_key_repeats = 0  # the client would name it too (tests/test_errors.py)
    client.handshake_timeout = server.handshake_timeout = 10.0
    pair = handshake(client, server)
    c, s = pair.client_outcome.terminated, pair.server_outcome.terminated
    assert c is not None and c.alert is None and "timed out" in c.reason
    assert s is not None and s.alert is None and "failed authentication" in s.reason
    assert pair.now == pytest.approx(10.0)


def test_unknown_psk_identity() -> None:  # K1
    client, server = psk_configs12()
    server.psk = None
    server.psk_lookup = {b"someone else": PSK}.get
    pair = handshake(client, server)
    assert_failed(
        pair,
        AlertDescription.unknown_psk_identity,
        AlertDescription.unknown_psk_identity,
        client_by_peer=True,
    )


def direction(flight: Flight) -> str:
    """Where the sender of ``flight`` sends it: ``c2s`` or ``s2c``."""
    return "c2s" if flight.sender == Side.CLIENT else "s2c"


def test_cookie_exchange_happens_by_default() -> None:  # C1, C3, C7
    records: list[TraceRecord] = []
    server = server_config12(trace=records.append)
    pair = handshake(client_config12(), server)
    assert_established(pair)
    kinds = [r.kind for r in records]
    assert kinds.count("hello_verify_request_sent") == 1
    # The full handshake's flights, one datagram each, the HVR twice (both copies fit in the
    # ClientHello's size).
    flights = FULL.sequence(cookie_exchange=True)
    expected = [direction(f) for f in flights for _ in range(2 if f.stateless else 1)]
    assert [d for _, d, _ in pair.sent] == expected


def test_cookie_exchange_can_be_disabled() -> None:
    pair = handshake(client_config12(), server_config12(cookie_exchange=False))
    assert_established(pair)
    flights = FULL.sequence(cookie_exchange=False)
    assert [d for _, d, _ in pair.sent] == [direction(f) for f in flights]


def test_client_authentication_required() -> None:  # H2
    client, server = client_auth_configs12()
    pair = handshake(client, server)
    assert_established(pair)
    completed = pair.server_outcome.completed
    assert completed is not None
    assert completed.peer_certificates[0] == client_chain("ecdsa").certificate


def test_client_authentication_rsa_client() -> None:
    client, server = client_auth_configs12()
    chain = client_chain("rsa")
    client.certificate_chain, client.private_key = chain.chain, chain.key
    server.ca_certificates = [chain.root]
    assert_established(handshake(client, server))


def test_client_without_certificate_when_required() -> None:  # H2, X11
    client, server = client_auth_configs12(with_certificate=False)
    pair = handshake(client, server)
    assert_failed(
        pair,
        AlertDescription.handshake_failure,
        AlertDescription.handshake_failure,
        client_by_peer=True,
    )


def test_client_without_certificate_when_optional() -> None:
    client, server = client_auth_configs12(ssl.CERT_OPTIONAL, with_certificate=False)
    pair = handshake(client, server)
    assert_established(pair)
    completed = pair.server_outcome.completed
    assert completed is not None and completed.peer_certificates == []


def test_untrusted_client_certificate() -> None:
    client, server = client_auth_configs12()
    server.ca_certificates = [server_chain("rsa").root]
    pair = handshake(client, server)
    assert_failed(
        pair,
        AlertDescription.bad_certificate,
        AlertDescription.bad_certificate,
        client_by_peer=True,
    )


def test_untrusted_server_certificate() -> None:
    client = client_config12(server_chain("rsa"))  # trusts the RSA root only
    pair = handshake(client, server_config12())
    assert_failed(
        pair,
        AlertDescription.bad_certificate,
        AlertDescription.bad_certificate,
        client_by_peer=False,
    )


@pytest.mark.parametrize("leaf", [expired_leaf, not_yet_valid_leaf])
def test_expired_or_not_yet_valid_server_certificate(leaf: object) -> None:
    assert callable(leaf)
    chain = leaf()
    pair = handshake(client_config12(chain), server_config12(chain))
    assert_failed(
        pair,
        AlertDescription.certificate_expired,
        AlertDescription.certificate_expired,
        client_by_peer=False,
    )


def test_expired_certificate_accepted_at_an_earlier_verification_time() -> None:
    chain = expired_leaf()
    when = max(c.not_valid_before_utc for c in [*chain.chain, chain.root])
    when += datetime.timedelta(minutes=1)
    assert when < chain.certificate.not_valid_after_utc
    pair = handshake(client_config12(chain, verification_time=when), server_config12(chain))
    assert_established(pair)


def test_wrong_server_name() -> None:
    chain = wrong_name_leaf()
    pair = handshake(client_config12(chain), server_config12(chain))
    assert_failed(
        pair,
        AlertDescription.bad_certificate,
        AlertDescription.bad_certificate,
        client_by_peer=False,
    )
    terminated = pair.client_outcome.terminated
    assert terminated is not None and "verification failed" in terminated.reason


def test_server_name_as_ip_address() -> None:
    assert_established(handshake(client_config12(server_name="127.0.0.1"), server_config12()))


def test_fingerprint_pinning_accepts_the_pinned_certificate() -> None:
    chain = self_signed()
    client = DtlsConfiguration(
        is_client=True,
        versions=DTLS12_ONLY,
        peer_fingerprints=[certificate_fingerprint(chain.certificate)],
    )
    assert_established(handshake(client, server_config12(chain)))


def test_fingerprint_pinning_rejects_another_certificate() -> None:
    chain = self_signed()
    client = DtlsConfiguration(
        is_client=True,
        versions=DTLS12_ONLY,
        peer_fingerprints=[certificate_fingerprint(server_chain().certificate)],
    )
    pair = handshake(client, server_config12(chain))
    assert_failed(
        pair,
        AlertDescription.bad_certificate,
        AlertDescription.bad_certificate,
        client_by_peer=False,
    )
    terminated = pair.client_outcome.terminated
    colon_hex = certificate_fingerprint(chain.certificate).hex(":").upper()
    assert terminated is not None and terminated.reason == (
        f"certificate fingerprint sha-256 {colon_hex} matches no pinned fingerprint"
    )


def test_insecure_client_accepts_any_certificate() -> None:
    client = DtlsConfiguration(is_client=True, verify_mode=ssl.CERT_NONE, versions=DTLS12_ONLY)
    assert_established(handshake(client, server_config12(self_signed())))


def test_verifying_client_needs_a_server_name() -> None:
    with pytest.raises(ValueError, match="server_name"):
        from aiodtls import DtlsConnection

        DtlsConnection(configuration=DtlsConfiguration(is_client=True))


def test_no_common_suite() -> None:
    client, _ = psk_configs12()
    pair = handshake(client, server_config12())  # server has no PSK
    assert_failed(
        pair,
        AlertDescription.handshake_failure,
        AlertDescription.handshake_failure,
        client_by_peer=True,
    )


def test_no_common_group() -> None:
    client = client_config12(groups=[NamedGroup.secp384r1])
    server = server_config12(groups=[NamedGroup.x25519])
    pair = handshake(client, server)
    assert_failed(
        pair,
        AlertDescription.handshake_failure,
        AlertDescription.handshake_failure,
        client_by_peer=True,
    )


def test_application_data_both_ways_and_close_notify() -> None:
    pair = handshake(client_config12(), server_config12())
    assert_established(pair)
    pair.client.send(b"ping")
    pair.exchange()
    pair.server.send(b"pong")
    pair.exchange()
    assert pair.server_outcome.data == [b"ping"]
    assert pair.client_outcome.data == [b"pong"]
    pair.client.close()
    pair.exchange()
    c, s = pair.client_outcome.terminated, pair.server_outcome.terminated
    assert c is not None and c.alert == AlertDescription.close_notify and not c.by_peer
    assert s is not None and s.alert == AlertDescription.close_notify and s.by_peer
    assert not c.during_handshake


@pytest.mark.parametrize("suite", list(CipherSuite))
def test_max_payload_fits_the_mtu_exactly(suite: CipherSuite) -> None:  # P1
    """OpenSSL's dtls_mtu_test oracle: a payload of max_payload() makes a datagram of exactly
    the MTU; one byte more is refused (it could not fit)."""
    for mtu in [*range(500, 530), 1400]:
        if suite_info(suite).key_exchange.uses_psk:
            client, server = psk_configs12()
        elif "RSA" in suite.name:
            chain = server_chain("rsa")
            client, server = client_config12(chain), server_config12(chain)
        else:
            client, server = client_config12(), server_config12()
        client.cipher_suites = server.cipher_suites = [suite]
        client.mtu = server.mtu = mtu
        pair = handshake(client, server)
        assert_established(pair)
        for conn in (pair.client, pair.server):
            size = conn.max_payload()
            conn.send(b"x" * size)
            ((datagram, _),) = conn.datagrams_to_send(pair.now)
            assert len(datagram) == mtu
            with pytest.raises(ValueError):
                conn.send(b"x" * (size + 1))


@pytest.mark.parametrize("kind", ["psk", "ecdsa"])
def test_connections_are_freed_without_the_cyclic_collector(kind: str) -> None:
    """Connections dropped after their handshake hold no reference cycle: reference counting
    frees them at once, instead of leaving every handshake's objects to the cyclic garbage
    collector (issue 13)."""
    import gc
    import weakref

    from aiodtls import DtlsConnection

    if kind == "psk":
        client_cfg, server_cfg = psk_configs12()
    else:
        client_cfg, server_cfg = client_config12(), server_config12()
    client = DtlsConnection(configuration=client_cfg)
    server = DtlsConnection(configuration=server_cfg)
    client.connect(("server", 1), 0.0)
    for _ in range(10):
        for data, _addr in client.datagrams_to_send(0.0):
            server.receive_datagram(data, ("client", 1), 0.0)
        for data, _addr in server.datagrams_to_send(0.0):
            client.receive_datagram(data, ("server", 1), 0.0)
    assert client.state == server.state == ConnectionState.ESTABLISHED
    assert client.export_keying_material("EXPERIMENTAL-test", 16, None)  # still works
    refs = [weakref.ref(client), weakref.ref(server)]
    gc.disable()
    try:
        del client, server
        assert [ref() for ref in refs] == [None, None]
    finally:
        gc.enable()
