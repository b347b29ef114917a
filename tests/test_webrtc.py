"""aiodtls.webrtc: the WebRTC identity, fingerprints in SDP, pins in both roles, and the DTLS
role from a=setup (issue 11)."""

from __future__ import annotations

import datetime
import re
import ssl

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from aiodtls import AlertDescription, DtlsConfiguration, ProtocolVersion
from aiodtls.pki import FINGERPRINT_ALGORITHMS, Fingerprint, as_fingerprint, parse_fingerprint
from aiodtls.webrtc import (
    Identity,
    answer_setup,
    dtls_role,
    generate_certificate,
    parse_fingerprint_lines,
    strongest_fingerprints,
)
from pairs import DTLS12_ONLY, handshake
from test_examples import run_example


@pytest.fixture(scope="module")
def alice() -> Identity:
    return generate_certificate()


@pytest.fixture(scope="module")
def bob() -> Identity:
    return generate_certificate()


# -- the identity ---------------------------------------------------------------------------


def test_generated_certificate_is_ephemeral_p256_self_signed_like_a_browser(
    alice: Identity, bob: Identity
) -> None:
    cert = alice.certificate
    assert isinstance(alice.key, ec.EllipticCurvePrivateKey)
    assert alice.key.curve.name == "secp256r1"
    assert cert.issuer == cert.subject
    cert.verify_directly_issued_by(cert)  # self-signed with its own key
    (cn,) = [a.value for a in cert.subject]
    assert re.fullmatch(r"[0-9a-f]{32}", str(cn))
    assert bob.certificate.subject != cert.subject  # a random name each time
    now = datetime.datetime.now(datetime.timezone.utc)
    back = now - cert.not_valid_before_utc
    assert datetime.timedelta(hours=23) < back < datetime.timedelta(hours=25)
    ahead = alice.expires - now
    assert datetime.timedelta(days=29, hours=23) < ahead <= datetime.timedelta(days=30)


def test_fingerprints_cover_every_hash_in_rfc_8122_form(alice: Identity) -> None:
    values = alice.fingerprints()
    assert [v.split()[0] for v in values] == ["sha-1", "sha-224", "sha-256", "sha-384", "sha-512"]
    for value in values:
        algorithm, hex_text = value.split(" ")
        assert re.fullmatch(r"([0-9A-F]{2}:)*[0-9A-F]{2}", hex_text)
        assert len(hex_text.split(":")) == FINGERPRINT_ALGORITHMS[algorithm]
        assert parse_fingerprint(value).matches(alice.certificate)
    assert alice.sdp_line() == "a=fingerprint:" + values[2]


def test_fingerprint_lines_are_read_from_a_whole_sdp(alice: Identity, bob: Identity) -> None:
    sdp = "\r\n".join(
        [
            "v=0",
            "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
            "s=-",
            alice.sdp_line("sha-256"),
            "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
            "a=setup:actpass",
            "A=Fingerprint:" + bob.fingerprint("sha-512"),
            "",
        ]
    )
    found = parse_fingerprint_lines(sdp)
    assert [f.algorithm for f in found] == ["sha-256", "sha-512"]
    assert found[0].matches(alice.certificate) and found[1].matches(bob.certificate)
    assert all(isinstance(f, Fingerprint) for f in found)


def test_an_sdp_without_a_readable_fingerprint_is_refused() -> None:
    with pytest.raises(ValueError, match="no a=fingerprint: line"):
        parse_fingerprint_lines("v=0\r\na=setup:actpass\r\n")
    with pytest.raises(ValueError, match=r"a=fingerprint:md5 AB:CD.*unsupported fingerprint hash"):
        parse_fingerprint_lines("a=fingerprint:md5 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89")


# -- pins enforced in both roles ------------------------------------------------------------


def test_both_roles_pin_and_present_their_identity(alice: Identity, bob: Identity) -> None:
    client = alice.configuration(bob.fingerprints(), role="client")
    server = bob.configuration(parse_fingerprint_lines(alice.sdp_line()), role="server")
    assert client.is_client and not server.is_client
    for cfg in (client, server):
        assert cfg.effective_verify_mode() == ssl.CERT_REQUIRED
        assert cfg.cookie_exchange is False
        assert cfg.idle_timeout is None  # SRTP flows beside DTLS; ICE consent tells liveness
    pair = handshake(client, server)
    done_c, done_s = pair.client_outcome.completed, pair.server_outcome.completed
    assert done_c is not None and done_s is not None
    assert done_c.peer_certificates[0] == bob.certificate
    assert done_s.peer_certificates[0] == alice.certificate  # the server asked for it


def test_the_server_refuses_a_client_whose_certificate_is_not_pinned(
    alice: Identity, bob: Identity
) -> None:
    mallory = generate_certificate()
    client = mallory.configuration([bob.fingerprint()], is_client=True)
    server = bob.configuration([alice.fingerprint()], is_client=False)
    pair = handshake(client, server)
    ended = pair.server_outcome.terminated
    assert pair.server_outcome.completed is None and ended is not None
    assert ended.alert == AlertDescription.bad_certificate


@pytest.mark.parametrize(
    ("versions", "alert"),
    [
        (DTLS12_ONLY, AlertDescription.handshake_failure),
        # The default: DTLS 1.3, whose alert for it is certificate_required (RFC 8446 §4.4.2.4).
        (None, AlertDescription.certificate_required),
    ],
    ids=["dtls1.2", "default"],
)
def test_the_server_refuses_a_client_without_a_certificate(
    bob: Identity, versions: tuple[ProtocolVersion, ...] | None, alert: AlertDescription
) -> None:
    client = DtlsConfiguration(is_client=True, peer_fingerprints=[bob.fingerprint()])
    server = bob.configuration([generate_certificate().fingerprint()], role="server")
    if versions is not None:
        client.versions = server.versions = versions
    pair = handshake(client, server)
    ended = pair.server_outcome.terminated
    assert pair.server_outcome.completed is None and ended is not None
    assert ended.alert == alert


def test_the_client_refuses_a_server_whose_certificate_is_not_pinned(
    alice: Identity, bob: Identity
) -> None:
    client = alice.configuration([generate_certificate().fingerprint()], role="client")
    server = bob.configuration([alice.fingerprint()], role="server")
    pair = handshake(client, server)
    ended = pair.client_outcome.terminated
    assert pair.client_outcome.completed is None and ended is not None
    assert ended.alert == AlertDescription.bad_certificate


def test_configuration_needs_a_role_and_a_fingerprint(alice: Identity) -> None:
    with pytest.raises(ValueError, match="give the DTLS role"):
        alice.configuration([alice.fingerprint()])
    with pytest.raises(ValueError, match="no remote fingerprint"):
        alice.configuration([], role="client")
    with pytest.raises(TypeError, match="parse_fingerprint_lines"):
        alice.configuration(alice.sdp_line(), role="client")
    with pytest.raises(ValueError, match="not a fingerprint"):
        alice.configuration(["zz"], role="client")
    cfg = alice.configuration([alice.fingerprint()], role="server", initial_rtt=0.03, mtu=1200)
    assert cfg.retransmission.initial_rtt == 0.03 and cfg.mtu == 1200


# -- the role from a=setup --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "remote", "role"),
    [
        ("actpass", "active", "server"),  # we offered, the answerer chose to be the client
        ("actpass", "passive", "client"),
        ("active", "actpass", "client"),  # we answered active (recommended)
        ("passive", "actpass", "server"),
        ("active", "passive", "client"),
        ("passive", "active", "server"),
        ("a=setup:ACTIVE", " a=setup:actpass ", "client"),
    ],
)
def test_role_from_setup(local: str, remote: str, role: str) -> None:
    assert dtls_role(local, remote) == role
    other = "server" if role == "client" else "client"
    assert dtls_role(remote, local) == other  # the peer's view is the opposite


@pytest.mark.parametrize(
    ("local", "remote", "message"),
    [
        ("actpass", "actpass", "both sides say actpass: the answer must pick"),
        ("active", "active", "both sides say active"),
        ("passive", "passive", "both sides say passive"),
        ("holdconn", "actpass", "the local side says holdconn"),
        ("active", "holdconn", "the remote side says holdconn"),
        ("client", "actpass", "local a=setup value 'client' is not one of"),
        ("active", "", "remote a=setup value '' is not one of"),
    ],
)
def test_invalid_setup_combinations_raise(local: str, remote: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        dtls_role(local, remote)


def test_answer_setup() -> None:
    assert answer_setup("actpass") == "active"
    assert answer_setup("a=setup:passive") == "active"
    assert answer_setup("active") == "passive"
    for offer in ("actpass", "passive", "active"):
        assert {dtls_role(offer, answer_setup(offer)), dtls_role(answer_setup(offer), offer)} == {
            "client",
            "server",
        }
    with pytest.raises(ValueError, match="holdconn"):
        answer_setup("holdconn")


# -- the example ----------------------------------------------------------------------------


@pytest.mark.parametrize("lose", [0, 2])
def test_example_webrtc_dtls_srtp(lose: int) -> None:
    result = run_example("webrtc_dtls_srtp.py", "--lose", str(lose))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "roles: alice is the DTLS server, bob is the DTLS client" in out
    offer = r"^offer:  a=setup:actpass, a=fingerprint:sha-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}$"
    assert re.search(offer, out, re.MULTILINE)
    assert "ice: connectivity check answered" in out
    assert re.search(r"first retransmission timeout (\d+) ms", out)
    found = re.search(
        r"handshake ok: DTLSv1.3 TLS_AES_128_GCM_SHA256, (\d+) retransmissions",
        out,
    )
    assert found is not None
    if lose:
        assert int(found.group(1)) >= 2  # each side resent on its own timer
    assert "each side holds the certificate its peer's SDP named: yes" in out
    assert "srtp profile: SRTP_AEAD_AES_128_GCM" in out
    assert re.search(r"^rtp: \d+-byte SRTP packet unprotected by alice: yes$", out, re.MULTILINE)
    assert "alice received: hello over the ICE path" in out


def test_only_the_strongest_hash_counts(alice: Identity, bob: Identity) -> None:
    """RFC 8122 §5: with sha-1 and sha-256 lines, the sha-256 set decides."""
    other = generate_certificate()
    weak_right = parse_fingerprint(alice.fingerprint("sha-1"))
    strong_wrong = parse_fingerprint(other.fingerprint("sha-256"))
    assert strongest_fingerprints([weak_right, strong_wrong]) == [strong_wrong]
    server = bob.configuration([alice.fingerprint()], role="server")
    client = alice.configuration([bob.fingerprint()], role="client")
    refused = bob.configuration([weak_right, strong_wrong], role="server")
    assert list(refused.peer_fingerprints) == [strong_wrong]
    pair = handshake(client, refused)
    assert pair.server_outcome.completed is None  # a sha-1 match is not enough
    accepted = bob.configuration(
        [alice.fingerprint("sha-1"), alice.fingerprint("sha-512"), other.fingerprint("sha-512")],
        role="server",
    )
    assert [as_fingerprint(p).algorithm for p in accepted.peer_fingerprints] == [
        "sha-512",
        "sha-512",
    ]
    pair = handshake(alice.configuration([bob.fingerprint()], role="client"), accepted)
    assert pair.server_outcome.completed is not None
    pair = handshake(client, server)
    assert pair.server_outcome.completed is not None
