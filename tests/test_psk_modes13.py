"""``DtlsConfiguration.psk_key_exchange_modes``: the DTLS 1.3 PSK key exchange modes
(RFC 8446 §4.2.9) a client offers and a server selects, and the PSK-only (psk_ke) ClientHello.

Pairs of real connections in memory (``pairs``), the server's cookie exchange on (the
stateless HelloRetryRequest, which asks for no group when the client sends no key share).
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence

import pytest

from aiodtls import ConnectionTerminated, DtlsConfiguration, DtlsConnection
from aiodtls.alerts import AlertDescription
from aiodtls.handshake import server13
from aiodtls.handshake.messages import ClientHello, ExtensionType, decode_client_hello
from aiodtls.handshake.messages.tls13 import (
    PskKeyExchangeMode,
    decode_psk_key_exchange_modes,
)
from aiodtls.resumption import ServerSessionStore
from aiodtls.suites import DEFAULT_SUITES13, ProtocolVersion, Suite13
from aiodtls.sweep import Scenario
from certs import server_chain
from pairs import PSK, PSK_IDENTITY, SERVER_ADDR, Pair, client_config, handshake, server_config

V13 = (ProtocolVersion.DTLSv1_3,)
_E = ExtensionType


def psk13(
    client_modes: Sequence[str] = ("psk_dhe_ke",), server_modes: Sequence[str] = ("psk_dhe_ke",)
) -> tuple[DtlsConfiguration, DtlsConfiguration]:
    """A DTLS 1.3 PSK-only client and server allowing these modes."""
    client = DtlsConfiguration(
        is_client=True,
        psk=PSK,
        psk_identity=PSK_IDENTITY,
        verify_mode=ssl.CERT_NONE,
        versions=V13,
        psk_key_exchange_modes=client_modes,
    )
    server = DtlsConfiguration(
        is_client=False, psk=PSK, versions=V13, psk_key_exchange_modes=server_modes
    )
    return client, server


def first_client_hello(config: DtlsConfiguration, now: float = 0.0) -> tuple[int, ClientHello]:
    """(datagram size, ClientHello) of the client's first flight."""
    connection = DtlsConnection(configuration=config)
    connection.connect(SERVER_ADDR, now)
    ((datagram, _),) = connection.datagrams_to_send(now)
    return len(datagram), decode_client_hello(datagram[13 + 12 :])


def offered_modes(hello: ClientHello) -> list[int]:
    (body,) = [b for t, b in hello.extensions if t == _E.psk_key_exchange_modes]
    return decode_psk_key_exchange_modes(body)


# -- the option -----------------------------------------------------------------------------


def test_default_is_psk_dhe_ke_alone() -> None:
    assert DtlsConfiguration().psk_key_exchange_modes == ("psk_dhe_ke",)


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        (["psk_ke"], ("psk_ke",)),
        ("psk_ke", ("psk_ke",)),
        (("psk_ke", "psk_dhe_ke"), ("psk_ke", "psk_dhe_ke")),
        (["psk_dhe_ke", "psk_ke"], ("psk_dhe_ke", "psk_ke")),
    ],
)
def test_modes_are_normalized_to_a_tuple(given: Sequence[str], normalized: tuple[str]) -> None:
    assert DtlsConfiguration(psk_key_exchange_modes=given).psk_key_exchange_modes == normalized


@pytest.mark.parametrize(
    "given", [(), ("psk_ke", "psk_ke"), ("psk",), ("PSK_KE",), (0,), (1, 0), None, 1]
)
def test_invalid_modes_are_refused(given: object) -> None:
    with pytest.raises(ValueError, match="psk_key_exchange_modes"):
        DtlsConfiguration(psk_key_exchange_modes=given)  # type: ignore[arg-type]
    config = DtlsConfiguration()
    config.psk_key_exchange_modes = given  # type: ignore[assignment]
    with pytest.raises(ValueError, match="psk_key_exchange_modes"):
        config.validate()  # as a connection made from it does


# -- what the client sends ------------------------------------------------------------------


def test_psk_ke_alone_sends_a_psk_only_client_hello() -> None:
    """RFC 8446 §9.2: with pre_shared_key, supported_groups, key_share and
    signature_algorithms are not required; without (EC)DHE no certificate handshake can
    follow, so none of them is sent, nor TLS_AES_256_GCM_SHA384, which the PSK's SHA-256
    cannot key: 138 bytes where the default sends 208."""
    client, _ = psk13(client_modes=("psk_ke",))
    size, hello = first_client_hello(client)
    assert [t for t, _ in hello.extensions] == [
        _E.supported_versions,
        _E.psk_key_exchange_modes,
        _E.pre_shared_key,
    ]
    assert offered_modes(hello) == [PskKeyExchangeMode.psk_ke]
    default_size, default = first_client_hello(psk13()[0])
    extensions = {t for t, _ in default.extensions}
    assert {_E.key_share, _E.supported_groups} <= extensions
    # CERT_NONE: only the PSK authenticates the server, so no signature_algorithms.
    assert _E.signature_algorithms not in extensions
    assert offered_modes(default) == [PskKeyExchangeMode.psk_dhe_ke]
    # The sweep's PSK identity ("sweep", 5 bytes) makes these 138 and 192 (209 before this
    # option, when psk_ke was offered too; 140 while the PSK-only one offered the SHA-384
    # suite too; 208 while the psk_dhe_ke one still offered SHA-384 and signature_algorithms,
    # which a CERT_NONE client has no use for); this one is 7 bytes ("client1").
    assert (size, default_size) == (140, 194)
    assert (
        first_client_hello(Scenario(psk=True, psk_dhe=False, versions=V13).configurations()[0])[0]
        == 138
    )


def test_both_modes_are_offered_in_the_configured_order_with_a_key_share() -> None:
    client, _ = psk13(client_modes=("psk_ke", "psk_dhe_ke"))
    _, hello = first_client_hello(client)
    assert offered_modes(hello) == [PskKeyExchangeMode.psk_ke, PskKeyExchangeMode.psk_dhe_ke]
    assert _E.key_share in {t for t, _ in hello.extensions}


def test_a_client_also_offering_dtls12_keeps_its_key_share() -> None:
    """Its DTLS 1.2 extensions bring supported_groups, which RFC 8446 §9.2 pairs with
    key_share: the ClientHello stays a full one, psk_ke the only mode offered."""
    client, _ = psk13(client_modes=("psk_ke",))
    client.versions = (ProtocolVersion.DTLSv1_2, ProtocolVersion.DTLSv1_3)
    _, hello = first_client_hello(client)
    types = {t for t, _ in hello.extensions}
    assert {_E.key_share, _E.supported_groups} <= types
    assert offered_modes(hello) == [PskKeyExchangeMode.psk_ke]


# -- the suites a PSK-only ClientHello offers -----------------------------------------------

SHA256_SUITES = [s for s in DEFAULT_SUITES13 if s != Suite13.TLS_AES_256_GCM_SHA384]


def no_certificates_client(**fields: object) -> DtlsConfiguration:
    """A DTLS 1.3 client with an external PSK that verifies certificates (the default) but
    has no trust anchor, pin nor verify_callback: no server certificate can pass."""
    config = DtlsConfiguration(is_client=True, psk=PSK, psk_identity=PSK_IDENTITY, versions=V13)
    for name, value in fields.items():
        setattr(config, name, value)
    return config


def test_a_psk_only_client_hello_offers_only_the_suites_of_its_psks_hash() -> None:
    """RFC 8446 §4.2.11: an external PSK has one hash (SHA-256 unless set), and the server
    must pick a suite with it; with no certificate to fall back on, TLS_AES_256_GCM_SHA384
    could never be chosen: 2 bytes saved in each copy of the ClientHello."""
    _, hello = first_client_hello(psk13(client_modes=("psk_ke",))[0])
    assert hello.cipher_suites == [int(s) for s in SHA256_SUITES]


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"psk_key_exchange_modes": ("psk_ke",)}, id="psk_ke"),
        pytest.param({}, id="psk_dhe_ke-no-anchor"),
        pytest.param({"verify_mode": ssl.CERT_OPTIONAL}, id="cert_optional-no-anchor"),
        pytest.param({"verify_mode": ssl.CERT_NONE}, id="cert_none"),
    ],
)
def test_a_client_that_can_authenticate_only_by_its_psk_offers_only_its_suites(
    fields: dict[str, object],
) -> None:
    """Also with psk_dhe_ke: a client that verifies certificates with nothing to verify them
    by refuses every certificate handshake, so the SHA-384 suite is as dead. Against a server
    preferring it, the handshake now completes on a suite it offered; before, the server's
    stateless cookie HelloRetryRequest chose TLS_AES_256_GCM_SHA384 (it looks at no PSK),
    which left the client no PSK to offer, and the handshake failed."""
    client = no_certificates_client(**fields)
    _, hello = first_client_hello(client)
    assert hello.cipher_suites == [int(s) for s in SHA256_SUITES]
    server = DtlsConfiguration(
        is_client=False,
        psk=PSK,
        versions=V13,
        psk_key_exchange_modes=client.psk_key_exchange_modes,
        cipher_suites13=[Suite13.TLS_AES_256_GCM_SHA384, Suite13.TLS_CHACHA20_POLY1305_SHA256],
    )
    done = handshake(client, server).client_outcome.completed
    assert done is not None and done.cipher_suite == "TLS_CHACHA20_POLY1305_SHA256"


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"ca_certificates": [server_chain("ecdsa").root]}, id="anchor"),
        pytest.param({"verify_callback": lambda chain, refusal: True}, id="verify_callback"),
        pytest.param({"peer_public_keys": [server_chain("ecdsa").key.public_key()]}, id="raw"),
        pytest.param({"versions": (ProtocolVersion.DTLSv1_2, ProtocolVersion.DTLSv1_3)}, id="1.2"),
    ],
)
def test_a_client_that_can_fall_back_to_certificates_keeps_every_suite(
    fields: dict[str, object],
) -> None:
    """A certificate handshake (or DTLS 1.2) can follow a declined PSK: any suite may carry
    it, so the configured list goes out whole."""
    _, hello = first_client_hello(no_certificates_client(**fields))
    assert [s for s in hello.cipher_suites if s in Suite13._value2member_map_] == [
        int(s) for s in DEFAULT_SUITES13
    ]


def test_a_ticket_keeps_the_suites_of_its_own_hash() -> None:
    """RFC 8446 §4.6.1: a ticket resumes with a suite of its connection's hash, here SHA-384:
    next to the external PSK's SHA-256 every default suite fits one PSK, and the server
    resumes the ticket on it. (Without the cookie exchange: the stateless HelloRetryRequest
    picks the server's first suite, TLS_AES_128_GCM_SHA256, and the second ClientHello then
    offers the external PSK alone, RFC 8446 §4.1.2.)"""
    store = ServerSessionStore()
    aes256 = [Suite13.TLS_AES_256_GCM_SHA384]
    first = handshake(
        client_config(versions=V13, cipher_suites13=aes256),
        server_config(versions=V13, session_store=store, cipher_suites13=aes256),
    )
    session = first.client.session
    assert session is not None and session.ticket
    client = no_certificates_client(psk_key_exchange_modes=("psk_ke",), session=session)
    client.server_name = first.client.configuration.server_name
    _, hello = first_client_hello(client, now=10.0)
    assert hello.cipher_suites == [int(s) for s in DEFAULT_SUITES13]
    server = server_config(
        versions=V13,
        session_store=store,
        psk=PSK,
        psk_key_exchange_modes=("psk_ke",),
        cookie_exchange=False,
    )
    pair = Pair(DtlsConnection(configuration=client), DtlsConnection(configuration=server))
    pair.now = 10.0
    pair.client.connect(SERVER_ADDR, pair.now)
    pair.drive()
    done = pair.client_outcome.completed
    assert done is not None and done.session_resumed
    assert done.cipher_suite == "TLS_AES_256_GCM_SHA384"


@pytest.mark.parametrize("fields", [{"psk_key_exchange_modes": ("psk_ke",)}, {}])
def test_no_suite_for_the_psks_hash_is_a_configuration_error(fields: dict[str, object]) -> None:
    """Before, the server's refusal arrived a round trip later and blamed the server ("the
    server chose a suite whose hash does not fit our PSK") or said nothing of the PSK."""
    client = no_certificates_client(cipher_suites13=[Suite13.TLS_AES_256_GCM_SHA384], **fields)
    with pytest.raises(ValueError, match=r"has the hash of the PSK \(SHA-256") as raised:
        DtlsConnection(configuration=client)
    assert "\n" not in str(raised.value)
    assert "add a SHA-256 one to cipher_suites13" in str(raised.value)
    client.versions = (ProtocolVersion.DTLSv1_2, ProtocolVersion.DTLSv1_3)
    DtlsConnection(configuration=client)  # DTLS 1.2 may still carry the PSK


# -- both sides -----------------------------------------------------------------------------


def test_psk_ke_on_both_sides_completes_without_a_key_exchange_group() -> None:
    pair = handshake(*psk13(client_modes=("psk_ke",), server_modes=("psk_ke",)))
    for outcome in (pair.client_outcome, pair.server_outcome):
        done = outcome.completed
        assert done is not None and done.protocol_version == "DTLSv1.3"
        assert done.group is None and done.psk_identity == PSK_IDENTITY
    assert pair.client._v13 is not None and pair.server._v13 is not None
    sizes = [len(d) for _, direction, d in pair.sent if direction == "c2s"]
    # The cookie exchange: the HelloRetryRequest asks for no group, only the cookie back.
    assert sizes[:2] == [140, 140 + 62]
    pair.client.send(b"ping")
    pair.exchange()
    assert pair.server_outcome.data == [b"ping"]


def test_psk_dhe_ke_is_the_default_on_both_sides() -> None:
    pair = handshake(*psk13())
    done = pair.client_outcome.completed
    assert done is not None and done.group is not None


@pytest.mark.parametrize(
    ("server_modes", "group"),
    [(("psk_ke", "psk_dhe_ke"), False), (("psk_dhe_ke", "psk_ke"), True), (("psk_ke",), False)],
)
def test_the_server_selects_the_first_of_its_modes_the_client_offered(
    server_modes: tuple[str, ...], group: bool
) -> None:
    client, server = psk13(client_modes=("psk_dhe_ke", "psk_ke"), server_modes=server_modes)
    pair = handshake(client, server)
    done = pair.client_outcome.completed
    assert done is not None and (done.group is not None) is group
    server_done = pair.server_outcome.completed
    assert server_done is not None and (server_done.group is not None) is group


@pytest.mark.parametrize(
    ("client_modes", "server_modes"),
    [(("psk_ke",), ("psk_dhe_ke",)), (("psk_dhe_ke",), ("psk_ke",))],
)
def test_a_server_refuses_a_mode_it_does_not_allow_with_handshake_failure(
    client_modes: tuple[str, ...], server_modes: tuple[str, ...]
) -> None:
    """RFC 8446 §4.2.9: a server never selects a mode the client did not list. With no mode
    in common and no certificate to fall back on, it ends the handshake (handshake_failure)
    and says why."""
    pair = handshake(*psk13(client_modes=client_modes, server_modes=server_modes))
    ended = pair.server_outcome.terminated
    assert ended is not None and ended.alert == AlertDescription.handshake_failure
    assert ended.reason is not None
    assert (
        f"no PSK key exchange mode in common: the client offers {list(client_modes)}, "
        f"we allow {list(server_modes)}"
    ) in ended.reason
    client_ended = pair.client_outcome.terminated
    assert client_ended is not None and client_ended.alert == AlertDescription.handshake_failure
    assert pair.client_outcome.completed is None


def test_a_server_with_a_certificate_declines_the_psk_and_falls_back_to_it() -> None:
    """No mode in common: the PSK is ignored, as RFC 8446 §4.2.11 lets a server do; the
    client's key share carries a certificate handshake instead."""
    client = client_config(versions=V13, psk=PSK, psk_identity=PSK_IDENTITY)
    server = server_config(versions=V13, psk=PSK, psk_key_exchange_modes=("psk_ke",))
    pair = handshake(client, server)
    done = pair.client_outcome.completed
    assert done is not None and done.psk_identity is None and done.peer_certificates


def test_a_psk_only_client_meets_a_certificate_server_without_the_mode() -> None:
    client, _ = psk13(client_modes=("psk_ke",))
    server = server_config(versions=V13, psk=PSK)  # psk_dhe_ke only
    pair = handshake(client, server)
    ended = pair.server_outcome.terminated
    assert ended is not None and ended.alert == AlertDescription.handshake_failure
    assert ended.reason is not None and "no key exchange group in common" in ended.reason


def test_the_client_refuses_a_server_selecting_a_mode_it_did_not_offer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client resuming a ticket keeps its key share (a refused ticket falls back to a full
    handshake): a server that answers psk_ke-only with psk_dhe_ke breaks RFC 8446 §4.2.9."""
    store = ServerSessionStore()
    first = handshake(client_config(versions=V13), server_config(versions=V13, session_store=store))
    session = first.client.session
    assert session is not None and session.ticket
    client = client_config(versions=V13, session=session, psk_key_exchange_modes=("psk_ke",))
    _, hello = first_client_hello(client, now=10.0)
    assert offered_modes(hello) == [PskKeyExchangeMode.psk_ke]
    assert _E.key_share in {t for t, _ in hello.extensions}

    def resumed(server_modes: Sequence[str]) -> Pair:
        server = server_config(
            versions=V13, session_store=store, psk_key_exchange_modes=server_modes
        )
        client = client_config(versions=V13, session=session, psk_key_exchange_modes=("psk_ke",))
        pair = Pair(DtlsConnection(configuration=client), DtlsConnection(configuration=server))
        pair.now = 10.0
        pair.client.connect(SERVER_ADDR, pair.now)
        pair.drive()
        return pair

    good = resumed(("psk_dhe_ke", "psk_ke"))
    done = good.client_outcome.completed
    assert done is not None and done.session_resumed and done.group is None

    def always_dhe(self: object, offered: list[int], *, dhe: bool) -> PskKeyExchangeMode:
        return PskKeyExchangeMode.psk_dhe_ke

    monkeypatch.setattr(server13.ServerHandshake13, "_select_psk_mode", always_dhe)
    bad = resumed(("psk_dhe_ke",))
    ended = bad.client_outcome.terminated
    assert ended is not None and ended.alert == AlertDescription.handshake_failure
    assert ended.reason is not None and "psk_dhe_ke, which we did not offer" in ended.reason


# -- the sweep's like-for-like pairs --------------------------------------------------------


@pytest.mark.parametrize(("psk_dhe", "modes"), [(False, ("psk_ke",)), (True, ("psk_dhe_ke",))])
def test_sweep_psk_dhe_pins_both_versions_key_exchange(
    psk_dhe: bool, modes: tuple[str, ...]
) -> None:
    client, server = Scenario(psk=True, psk_dhe=psk_dhe).configurations()
    assert client.psk_key_exchange_modes == server.psk_key_exchange_modes == modes
    assert client.cipher_suites
    assert all(("ECDHE" in s.name) is psk_dhe for s in client.cipher_suites)
    default_client, _ = Scenario(psk=True).configurations()
    assert default_client.cipher_suites is None


def test_sweep_psk_dhe_needs_a_psk_and_no_profile() -> None:
    with pytest.raises(ValueError, match="psk_dhe"):
        Scenario(psk_dhe=False).configurations()
    with pytest.raises(ValueError, match="psk_dhe"):
        Scenario(psk=True, psk_dhe=False, profile="rfc7925").configurations()


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"verify_mode": ssl.CERT_NONE}, id="cert_none"),
        pytest.param({}, id="no-anchor"),
    ],
)
def test_a_server_without_our_psk_cannot_complete_a_certificate_handshake(
    fields: dict[str, object],
) -> None:
    """Security: a client whose only way to authenticate the server is its PSK (here
    ``verify_mode=CERT_NONE``, the usual PSK set-up, or nothing to verify a certificate by)
    refuses a server that declines the PSK and offers a certificate instead: anyone with a
    certificate could otherwise stand in for the PSK holder. DTLS 1.2 refuses such a server
    by its PSK suites; DTLS 1.3 completed the certificate handshake, unauthenticated, before.
    The ClientHello also leaves out signature_algorithms (RFC 8446 §9.2), so a conforming
    server declines rather than tries."""
    client = no_certificates_client(**fields)
    _, hello = first_client_hello(client)
    assert _E.signature_algorithms not in {t for t, _ in hello.extensions}
    impostor = server_config(versions=V13)  # a certificate, and no PSK
    pair = handshake(client, impostor)
    assert pair.client_outcome.completed is None and pair.server_outcome.completed is None
    # A client that also offers DTLS 1.2 sends signature_algorithms (for DTLS 1.2): the
    # server answers in DTLS 1.3 with its certificate, and the client refuses it by name.
    dual = no_certificates_client(versions=(ProtocolVersion.DTLSv1_2, ProtocolVersion.DTLSv1_3))
    for name, value in fields.items():
        setattr(dual, name, value)
    pair = handshake(dual, impostor)
    ended = pair.client_outcome.terminated
    assert pair.client_outcome.completed is None
    assert ended is not None and ended.alert == AlertDescription.handshake_failure
    assert ended.reason is not None and "did not accept our PSK" in ended.reason


def test_the_stateless_hello_retry_request_picks_a_suite_the_external_psk_keys() -> None:
    """A client that can also take a certificate offers every suite; a server preferring
    TLS_AES_256_GCM_SHA384 chose it in its cookie HelloRetryRequest without looking at the
    PSK, the second ClientHello had to drop the SHA-256 PSK (RFC 8446 §4.1.2) and the
    handshake went on with the certificate. The door now chooses as the server would without
    it (RFC 8446 §4.2.11: external PSKs "SHOULD influence cipher suite selection")."""
    client = client_config(versions=V13, psk=PSK, psk_identity=PSK_IDENTITY)
    server = server_config(
        versions=V13,
        psk=PSK,
        cipher_suites13=[Suite13.TLS_AES_256_GCM_SHA384, Suite13.TLS_AES_128_GCM_SHA256],
    )
    done = handshake(client, server).client_outcome.completed
    assert done is not None and done.psk_identity == PSK_IDENTITY
    assert done.cipher_suite == "TLS_AES_128_GCM_SHA256"
    # Without a PSK in the ClientHello the server's preference stands.
    done = handshake(client_config(versions=V13), server).client_outcome.completed
    assert done is not None and done.cipher_suite == "TLS_AES_256_GCM_SHA384"


# -- psk_client_callback in DTLS 1.3 ---------------------------------------------------------


def test_psk_client_callback_is_asked_without_a_hint_for_dtls13() -> None:
    """DTLS 1.3 has no identity hint: the callback is asked with None, as OpenSSL asks its
    TLS 1.2 callback for TLS 1.3. Before, a default client (both versions) offered no PSK in
    its DTLS 1.3 part, and a default PSK server, answering in DTLS 1.3, refused it."""
    hints: list[bytes | None] = []

    def callback(hint: bytes | None) -> tuple[bytes, bytes] | None:
        hints.append(hint)
        return PSK_IDENTITY, PSK

    client = DtlsConfiguration(psk_client_callback=callback, verify_mode=ssl.CERT_NONE)
    server = DtlsConfiguration(is_client=False, psk=PSK)
    done = handshake(client, server).client_outcome.completed
    assert done is not None and done.protocol_version == "DTLSv1.3"
    assert done.psk_identity == PSK_IDENTITY and hints == [None]


def test_a_dual_version_client_whose_callback_needs_the_hint_still_gets_dtls12() -> None:
    """A callback that answers only a DTLS 1.2 server's hint: the DTLS 1.3 part goes without
    the PSK, and a DTLS 1.2 server with a hint gets it asked again, with the hint."""
    hints: list[bytes | None] = []

    def callback(hint: bytes | None) -> tuple[bytes, bytes] | None:
        hints.append(hint)
        return (PSK_IDENTITY, PSK) if hint == b"gateway-7" else None

    client = DtlsConfiguration(psk_client_callback=callback, verify_mode=ssl.CERT_NONE)
    server = DtlsConfiguration(
        is_client=False,
        psk=PSK,
        psk_identity_hint=b"gateway-7",
        versions=(ProtocolVersion.DTLSv1_2,),
    )
    done = handshake(client, server).client_outcome.completed
    assert done is not None and done.protocol_version == "DTLSv1.2"
    assert hints == [None, b"gateway-7"]


@pytest.mark.parametrize(
    ("answer", "alert", "reason"),
    [
        (None, AlertDescription.handshake_failure, "has no key for the server's hint None"),
        (RuntimeError("no key store"), AlertDescription.internal_error, "raised RuntimeError"),
        ((b"", PSK), AlertDescription.internal_error, "must return (identity, key)"),
    ],
)
def test_a_dtls13_client_whose_callback_fails_ends_before_sending(
    answer: object, alert: AlertDescription, reason: str
) -> None:
    """DTLS 1.3 alone: no PSK, no way to authenticate; the connection ends at connect() with
    the reason, and nothing goes out."""

    def callback(hint: bytes | None) -> object:
        if isinstance(answer, Exception):
            raise answer
        return answer

    client = DtlsConfiguration(
        psk_client_callback=callback,  # type: ignore[arg-type]
        verify_mode=ssl.CERT_NONE,
        versions=V13,
    )
    connection = DtlsConnection(configuration=client)
    connection.connect(SERVER_ADDR, 0.0)
    assert connection.datagrams_to_send(0.0) == []
    events = []
    while (event := connection.next_event()) is not None:
        events.append(event)
    [ended] = events
    assert isinstance(ended, ConnectionTerminated) and ended.alert == alert
    assert reason in ended.reason
