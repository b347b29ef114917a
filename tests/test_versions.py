"""Version negotiation between DTLS 1.2 and DTLS 1.3 (issue 14; SPEC H6, V10).

A configuration allows DTLS 1.2, DTLS 1.3 or both (``DtlsConfiguration.versions``). A client
that allows both sends one ClientHello offering both and continues in whichever the server
picks; a server that allows both answers each ClientHello in the newest version it offers.
A server that speaks DTLS 1.3 marks a DTLS 1.2 ServerHello's random (RFC 8446 §4.1.3), and a
client that offered 1.3 refuses such a ServerHello: something removed 1.3 from its offer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from aiodtls import (
    AlertDescription,
    DtlsConfiguration,
    DtlsConnection,
    ProtocolVersion,
    SignatureScheme,
    SrtpProfile,
)
from certs import server_chain
from pairs import Pair, client_config, handshake, psk_configs, server_config

V12 = (ProtocolVersion.DTLSv1_2,)
V13 = (ProtocolVersion.DTLSv1_3,)
BOTH = (ProtocolVersion.DTLSv1_2, ProtocolVersion.DTLSv1_3)
_SUPPORTED_VERSIONS = b"\x00\x2b"
_UNKNOWN_EXTENSION = b"\xfa\xfa"


def run(
    client: Sequence[ProtocolVersion], server: Sequence[ProtocolVersion], *, cookie: bool = True
) -> Pair:
    return handshake(
        client_config(versions=client),
        server_config(versions=server, cookie_exchange=cookie),
    )


@pytest.mark.parametrize(
    ("client", "server", "expected"),
    [
        (BOTH, V13, "DTLSv1.3"),
        (BOTH, BOTH, "DTLSv1.3"),
        (V13, BOTH, "DTLSv1.3"),
        (BOTH, V12, "DTLSv1.2"),
        (V12, BOTH, "DTLSv1.2"),
        (V12, V12, "DTLSv1.2"),
    ],
    ids=["both-13", "both-both", "13-both", "both-12", "12-both", "12-12"],
)
@pytest.mark.parametrize("cookie", [True, False], ids=["cookie", "no-cookie"])
def test_each_pair_of_allowed_versions_agrees_on_the_newest_common_one(
    client: tuple[ProtocolVersion, ...],
    server: tuple[ProtocolVersion, ...],
    expected: str,
    cookie: bool,
) -> None:
    pair = run(client, server, cookie=cookie)
    for outcome in (pair.client_outcome, pair.server_outcome):
        completed = outcome.completed
        assert completed is not None, outcome.events
        assert completed.protocol_version == expected
    pair.client.send(b"ping")
    pair.exchange()
    assert pair.server_outcome.data == [b"ping"]


def test_a_client_that_falls_back_to_dtls12_resends_the_same_hello_with_the_cookie() -> None:
    # The DTLS 1.2 server's HelloVerifyRequest binds the first ClientHello's fields (version,
    # random, suites): the second one must carry the same ones, DTLS 1.3's included.
    pair = run(BOTH, V12, cookie=True)
    hellos = [data for _, direction, data in pair.sent if direction == "c2s"][:2]
    assert len(hellos) == 2
    assert _SUPPORTED_VERSIONS in hellos[0] and _SUPPORTED_VERSIONS in hellos[1]
    assert pair.client_outcome.completed is not None
    assert pair.client.stats.retransmissions == 0


def test_a_dtls13_only_client_refuses_a_dtls12_server_with_protocol_version() -> None:
    pair = run(V13, V12)
    ended = pair.client_outcome.terminated
    assert ended is not None and ended.alert == AlertDescription.protocol_version
    assert ended.reason == "the server answered in DTLS 1.2, which this client does not allow"
    assert pair.server_outcome.terminated is not None
    assert pair.server_outcome.terminated.alert == AlertDescription.protocol_version


def test_a_dtls13_only_server_refuses_a_dtls12_client_with_protocol_version() -> None:
    pair = run(V12, V13)
    ended = pair.server_outcome.terminated
    assert ended is not None and ended.alert == AlertDescription.protocol_version
    assert ended.reason == "the client offers DTLS 1.2 only, which this server does not allow"
    assert pair.client_outcome.completed is None


def test_a_stripped_dtls13_offer_is_caught_by_the_downgrade_sentinel() -> None:  # H6, V10
    # An attacker renames the ClientHello's supported_versions (same length, an unknown type):
    # a server that allows both sees a DTLS 1.2 client and says in its random that it speaks
    # DTLS 1.3; the client, which offered 1.3, refuses the ServerHello.
    offer = b"\x00\x05\x04\xfe\xfc\xfe\xfd"  # length 5: DTLS 1.3 and DTLS 1.2

    def strip(direction: str, data: bytes) -> list[bytes]:
        if direction == "c2s" and data[0] == 22 and data[13] == 1:  # a ClientHello
            assert _SUPPORTED_VERSIONS + offer in data
            data = data.replace(_SUPPORTED_VERSIONS + offer, _UNKNOWN_EXTENSION + offer)
        return [data]

    pair = handshake(client_config(versions=BOTH), server_config(versions=BOTH), strip)
    ended = pair.client_outcome.terminated
    assert ended is not None, pair.client_outcome.events
    assert ended.alert == AlertDescription.illegal_parameter
    assert ended.reason == "downgrade: the server speaks DTLS 1.3 but chose 1.2"
    assert pair.client_outcome.completed is None


def test_a_psk_client_that_allows_both_versions_gets_dtls13_from_a_psk_server() -> None:
    client, server = psk_configs()
    client.versions = BOTH
    server.versions = BOTH
    pair = handshake(client, server)
    assert pair.client_outcome.completed is not None
    assert pair.client_outcome.completed.protocol_version == "DTLSv1.3"
    server_completed = pair.server_outcome.completed
    assert server_completed is not None
    assert server_completed.psk_identity == pair.client_outcome.completed.psk_identity


def test_protocol_version_and_key_update_through_the_connection() -> None:  # V14, V20
    pair = run(V13, V13)
    assert pair.client.protocol_version == pair.server.protocol_version == "DTLSv1.3"
    pair.client.request_key_update()
    pair.client.request_key_update()  # one at a time: ignored until the first is ACKed
    pair.drive()
    # Both moved on: the client's KeyUpdate asked the server to update too.
    pair.client.send(b"after")
    pair.server.send(b"both")
    pair.exchange()
    assert pair.server_outcome.data == [b"after"]
    assert pair.client_outcome.data == [b"both"]
    assert pair.client._v13 is not None and pair.server._v13 is not None
    assert pair.client._v13.records.write_epoch == 4
    assert pair.server._v13.records.write_epoch == 4


def test_key_update_is_refused_on_dtls12_and_before_completion() -> None:
    pair = run(V12, V12)
    assert pair.client.protocol_version == "DTLSv1.2"
    with pytest.raises(RuntimeError, match=r"speaks DTLS 1\.2"):
        pair.client.request_key_update()
    fresh = DtlsConnection(configuration=client_config(versions=V13))
    assert fresh.protocol_version == "DTLSv1.3"  # it offers DTLS 1.3 only
    with pytest.raises(RuntimeError, match="while handshaking"):
        fresh.request_key_update()


def test_the_hello_retry_request_goes_twice_within_three_times_the_request() -> None:  # V8
    # RFC 9147 §5.1: before the address is validated a server sends at most three times what
    # it received. The HelloRetryRequest (133 bytes) goes twice like DTLS 1.2's
    # HelloVerifyRequest, whose copies stay within the request itself (SPEC X14).
    for versions in (V13, V12):
        pair = run(versions, versions)
        first_hello = pair.sent[0]
        assert first_hello[1] == "c2s"
        replies = []
        for _, direction, data in pair.sent[1:]:
            if direction == "c2s":
                break
            replies.append(data)
        assert len(replies) == 2 and replies[0] == replies[1]
        limit = 3 if versions == V13 else 1
        assert sum(map(len, replies)) <= limit * len(first_hello[2])


def test_dtls_srtp_over_dtls13_gives_both_sides_the_same_keys() -> None:
    # use_srtp travels in the ClientHello and EncryptedExtensions; the keys come from the
    # TLS 1.3 exporter with RFC 5764's label.
    profile = [SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80]
    pair = handshake(
        client_config(versions=V13, srtp_profiles=profile),
        server_config(versions=V13, srtp_profiles=profile),
    )
    completed = pair.client_outcome.completed
    assert completed is not None and completed.protocol_version == "DTLSv1.3"
    assert completed.srtp_profile == SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80
    client, server = pair.client.srtp_keying_material(), pair.server.srtp_keying_material()
    assert (client.local_key, client.local_salt) == (server.remote_key, server.remote_salt)
    assert (client.remote_key, client.remote_salt) == (server.local_key, server.local_salt)
    assert client.local_key != client.remote_key


def test_versions_are_normalized_and_checked_by_the_configuration() -> None:
    # The wire numbers work too (typed as ProtocolVersion, which they are equal to).
    assert DtlsConfiguration(versions=[0xFEFC, 0xFEFD]).versions == (  # type: ignore[list-item]
        ProtocolVersion.DTLSv1_3,
        ProtocolVersion.DTLSv1_2,
    )
    bad_values: list[list[object]] = [[], ["1.3"], [0x0303]]
    for bad in bad_values:
        with pytest.raises(ValueError, match="versions lists one or both"):
            DtlsConfiguration(versions=bad)  # type: ignore[arg-type]


# -- the default: both versions (issue 14) ----------------------------------------------------


def test_the_default_allows_both_versions() -> None:
    for is_client in (True, False):
        assert DtlsConfiguration(is_client=is_client).versions == BOTH
        assert DtlsConfiguration(is_client=is_client).allows(ProtocolVersion.DTLSv1_2)
    # The RFC 7925 preset is a DTLS 1.2 profile, and says so.
    assert DtlsConfiguration.rfc7925(is_client=True, psk=b"k" * 16).versions == V12


def default_client(**fields: Any) -> DtlsConfiguration:
    """A client whose ``versions`` is left at the default (only trust and name are set)."""
    config = client_config(**fields)
    assert config.versions == BOTH
    return config


def default_server(**fields: Any) -> DtlsConfiguration:
    """A server whose ``versions`` is left at the default (only its credentials are set)."""
    config = server_config(**fields)
    assert config.versions == BOTH
    return config


def negotiated(pair: Pair) -> tuple[str, str]:
    c, s = pair.client_outcome.completed, pair.server_outcome.completed
    assert c is not None and s is not None, (pair.client_outcome, pair.server_outcome)
    assert c.protocol_version == s.protocol_version
    return c.protocol_version, c.cipher_suite


def test_a_default_client_and_a_default_server_speak_dtls13() -> None:
    pair = handshake(default_client(), default_server())
    assert negotiated(pair) == ("DTLSv1.3", "TLS_AES_128_GCM_SHA256")
    assert pair.client.protocol_version == pair.server.protocol_version == "DTLSv1.3"


def test_a_default_psk_pair_speaks_dtls13() -> None:
    client, server = psk_configs()
    assert client.versions == server.versions == BOTH
    pair = handshake(client, server)
    assert negotiated(pair) == ("DTLSv1.3", "TLS_AES_128_GCM_SHA256")


@pytest.mark.parametrize("cookie", [True, False], ids=["cookie", "no-cookie"])
def test_a_default_client_falls_back_to_a_dtls12_only_server(cookie: bool) -> None:
    pair = handshake(default_client(), server_config(versions=V12, cookie_exchange=cookie))
    assert negotiated(pair) == ("DTLSv1.2", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
    # One ClientHello offering both (and, after a HelloVerifyRequest, the same one with the
    # cookie): the client never starts over with a DTLS 1.2-only hello.
    hellos = [d for _, way, d in pair.sent if way == "c2s" and d[0] == 22 and d[13] == 1]
    assert hellos and all(_SUPPORTED_VERSIONS in d for d in hellos)


@pytest.mark.parametrize("cookie", [True, False], ids=["cookie", "no-cookie"])
def test_a_default_server_answers_a_dtls12_only_client_in_dtls12(cookie: bool) -> None:
    pair = handshake(client_config(versions=V12), default_server(cookie_exchange=cookie))
    assert negotiated(pair) == ("DTLSv1.2", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
    # A server that speaks DTLS 1.3 too marks its DTLS 1.2 random (RFC 8446 §4.1.3); a client
    # that offered only DTLS 1.2 does not look at the marker.
    # The record header (13 bytes), the handshake header (12), server_version (2), random.
    server_hello = next(d for _, way, d in pair.sent if way == "s2c" and d[13] == 2)
    assert server_hello[25 + 2 + 24 : 25 + 2 + 32] == b"DOWNGRD\x01"


def test_a_default_client_with_raw_public_keys_offers_dtls12_alone() -> None:
    """Our DTLS 1.3 handshake has no RFC 7250 raw public keys: a client that uses them offers
    DTLS 1.2 only, so a default server (which would otherwise pick DTLS 1.3 and find no
    certificate to send) answers in DTLS 1.2."""
    chain = server_chain("ecdsa")
    client = DtlsConfiguration(peer_public_keys=[chain.key.public_key()])
    server = DtlsConfiguration(is_client=False, raw_public_key=True, private_key=chain.key)
    pair = handshake(client, server)
    assert negotiated(pair)[0] == "DTLSv1.2"
    hello = next(d for _, way, d in pair.sent if way == "c2s")
    assert _SUPPORTED_VERSIONS not in hello


def test_dtls13_server_refuses_a_client_accepting_no_scheme_for_its_key_in_plaintext() -> None:
    """A DTLS 1.3 server whose key fits none of the client's signature_algorithms ends the
    handshake before its ServerHello, so the client hears the handshake_failure at once; it
    was sealed under handshake keys the client never derives, and the client waited for its
    handshake timeout."""
    pair = handshake(
        client_config(signature_schemes=[SignatureScheme.rsa_pss_rsae_sha256]), server_config()
    )
    server_end, client_end = pair.server_outcome.terminated, pair.client_outcome.terminated
    assert server_end is not None and client_end is not None
    assert server_end.alert == AlertDescription.handshake_failure and not server_end.by_peer
    assert "no signature scheme in common" in (server_end.reason or "")
    assert client_end.alert == AlertDescription.handshake_failure and client_end.by_peer
