"""DTLS-SRTP (RFC 5764, RFC 7714) in both roles, through the public API: the use_srtp
negotiation and its failures on in-memory pairs, the keying material by role, and the asyncio
and blocking APIs over loopback (issue 11)."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes

from aiodtls import AlertDescription, ConnectionTerminated, DtlsConfiguration, ProtocolVersion, pki
from aiodtls.asyncio import DtlsSession, connect, serve
from aiodtls.diagnose import HandshakeDiagnosis
from aiodtls.dissect import dissect, handshake_fragments, summarize
from aiodtls.srtp import EXPORTER_LABEL, SrtpKeyingMaterial, SrtpProfile
from aiodtls.sync import DtlsServer
from aiodtls.sync import connect as sync_connect
from certs import client_chain, self_signed, server_chain
from pairs import (
    DTLS12_ONLY,
    Deliver,
    Pair,
    client_config,
    client_config12,
    handshake,
    psk_configs,
    server_config,
    server_config12,
)

P80 = SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80
P32 = SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_32
GCM128 = SrtpProfile.SRTP_AEAD_AES_128_GCM
GCM256 = SrtpProfile.SRTP_AEAD_AES_256_GCM

# A ClientHello's use_srtp offering only SRTP_AES128_CM_HMAC_SHA1_80 with no MKI: type 14,
# length 5, profile list length 2, profile 0x0001, MKI length 0. A ServerHello selecting it
# carries the same bytes.
USE_SRTP_80 = b"\x00\x0e\x00\x05\x00\x02\x00\x01\x00"


def agreed(pair: Pair) -> tuple[SrtpProfile | None, SrtpProfile | None]:
    c, s = pair.client_outcome.completed, pair.server_outcome.completed
    assert c is not None and s is not None, (pair.client_outcome, pair.server_outcome)
    assert (c.srtp_profile, s.srtp_profile) == (pair.client.srtp_profile,
                                                pair.server.srtp_profile)  # fmt: skip
    return c.srtp_profile, s.srtp_profile


def ends(pair: Pair) -> tuple[ConnectionTerminated, ConnectionTerminated]:
    client_end, server_end = pair.client_outcome.terminated, pair.server_outcome.terminated
    assert client_end is not None and server_end is not None, (
        pair.client_outcome,
        pair.server_outcome,
    )
    assert pair.client_outcome.completed is None and pair.server_outcome.completed is None
    return client_end, server_end


def replace_in(direction: str, old: bytes, new: bytes) -> Deliver:
    def tamper(way: str, datagram: bytes) -> list[bytes]:
        if way == direction:
            datagram = datagram.replace(old, new)
        return [datagram]

    return tamper


# -- negotiation ---------------------------------------------------------------------------


def test_server_picks_the_first_of_its_own_list_that_the_client_offered() -> None:
    pair = handshake(
        client_config(srtp_profiles=[P80, GCM128, P32]),
        server_config(srtp_profiles=[GCM256, GCM128, P80]),
    )
    assert agreed(pair) == (GCM128, GCM128)
    assert isinstance(pair.client.srtp_profile, SrtpProfile)


@pytest.mark.parametrize("profile", list(SrtpProfile))
def test_every_profile_negotiates_with_keys_both_sides_agree_on(profile: SrtpProfile) -> None:
    pair = handshake(client_config(srtp_profiles=[profile]), server_config(srtp_profiles=[profile]))
    assert agreed(pair) == (profile, profile)
    client, server = pair.client.srtp_keying_material(), pair.server.srtp_keying_material()
    key_len, salt_len = {P80: (16, 14), P32: (16, 14), GCM128: (16, 12), GCM256: (32, 12)}[profile]
    for material in (client, server):
        assert material.profile == profile
        assert len(material.local_key) == len(material.remote_key) == key_len
        assert len(material.local_salt) == len(material.remote_salt) == salt_len
        assert material.local_master == material.local_key + material.local_salt
        assert material.remote_master == material.remote_key + material.remote_salt
    # What one side sends with is what the other receives with, and the directions differ.
    assert client.local_master == server.remote_master
    assert client.remote_master == server.local_master
    assert client.local_master != client.remote_master


def test_keying_material_follows_the_rfc_5764_layout() -> None:
    pair = handshake(client_config(srtp_profiles=[P80]), server_config(srtp_profiles=[P80]))
    exported = pair.client.export_keying_material("EXTRACTOR-dtls_srtp", 60)
    assert exported == pair.server.export_keying_material(EXPORTER_LABEL, 60)
    # client_write_key | server_write_key | client_write_salt | server_write_salt
    client_key, server_key = exported[:16], exported[16:32]
    client_salt, server_salt = exported[32:46], exported[46:60]
    assert pair.client.srtp_keying_material() == SrtpKeyingMaterial(
        P80, client_key, client_salt, server_key, server_salt
    )
    assert pair.server.srtp_keying_material() == SrtpKeyingMaterial(
        P80, server_key, server_salt, client_key, client_salt
    )


def test_srtp_works_with_psk_suites_too() -> None:
    client, server = psk_configs()
    client.srtp_profiles, server.srtp_profiles = [P32], [P32]
    pair = handshake(client, server)
    assert agreed(pair) == (P32, P32)


def test_no_srtp_when_the_client_does_not_offer_it() -> None:
    for server_list in ([P80], None):
        pair = handshake(client_config(), server_config(srtp_profiles=server_list))
        assert agreed(pair) == (None, None)
        assert not any(USE_SRTP_80 in d for _, _, d in pair.sent)
        with pytest.raises(RuntimeError, match="srtp_profiles on both sides"):
            pair.client.srtp_keying_material()


def test_a_server_without_srtp_profiles_ignores_the_offer_and_the_client_refuses() -> None:
    pair = handshake(client_config(srtp_profiles=[P80]), server_config())
    client_end, server_end = ends(pair)
    assert client_end.alert == AlertDescription.handshake_failure and not client_end.by_peer
    assert "the server did not agree to DTLS-SRTP" in client_end.reason
    assert server_end.alert == AlertDescription.handshake_failure and server_end.by_peer
    server_hellos = [d for _, direction, d in pair.sent if direction == "s2c"]
    assert server_hellos and not any(b"\x00\x0e\x00\x05" in d for d in server_hellos)


@pytest.mark.parametrize("versions", [DTLS12_ONLY, None], ids=["dtls1.2", "default"])
def test_no_common_profile_is_a_handshake_failure_naming_both_lists(
    versions: tuple[ProtocolVersion, ...] | None,
) -> None:
    # The default pair speaks DTLS 1.3: the server's refusal must come before its ServerHello
    # (it once came under handshake keys, and the client heard nothing until its timeout).
    pinned: dict[str, Any] = {} if versions is None else {"versions": versions}
    pair = handshake(
        client_config(srtp_profiles=[P80, P32], **pinned),
        server_config(srtp_profiles=[GCM128, GCM256], **pinned),
    )
    client_end, server_end = ends(pair)
    assert server_end.alert == AlertDescription.handshake_failure and not server_end.by_peer
    assert "no SRTP profile in common" in server_end.reason
    assert "SRTP_AES128_CM_HMAC_SHA1_80, SRTP_AES128_CM_HMAC_SHA1_32" in server_end.reason
    assert "SRTP_AEAD_AES_128_GCM, SRTP_AEAD_AES_256_GCM" in server_end.reason
    assert client_end.alert == AlertDescription.handshake_failure and client_end.by_peer


def test_unknown_profiles_offered_by_a_client_are_skipped() -> None:
    # The client's list becomes [0x00ff, 0x0001] (a profile nobody defined, then ours). The
    # altered ClientHello breaks the Finished check later; what matters is the ServerHello.
    pair = handshake(
        client_config12(srtp_profiles=[P32, P80]),
        server_config12(srtp_profiles=[P32, P80]),
        replace_in("c2s", b"\x00\x04\x00\x02\x00\x01\x00", b"\x00\x04\x00\xff\x00\x01\x00"),
    )
    assert any(USE_SRTP_80 in d for _, way, d in pair.sent if way == "s2c")
    server_end = pair.server_outcome.terminated
    assert server_end is not None and server_end.alert != AlertDescription.decode_error
    assert "SRTP" not in server_end.reason


def test_client_refuses_a_profile_it_did_not_offer() -> None:
    # The server's answer 0x0001 becomes 0x0002 (SRTP_AES128_CM_HMAC_SHA1_32).
    pair = handshake(
        client_config12(srtp_profiles=[P80]),
        server_config12(srtp_profiles=[P80]),
        replace_in("s2c", USE_SRTP_80, USE_SRTP_80[:7] + b"\x02\x00"),
    )
    client_end = pair.client_outcome.terminated
    assert client_end is not None and client_end.alert == AlertDescription.illegal_parameter
    assert (
        "SRTP_AES128_CM_HMAC_SHA1_32" in client_end.reason and "did not offer" in client_end.reason
    )
    assert not client_end.by_peer


def test_client_refuses_use_srtp_it_did_not_offer() -> None:
    # The ServerHello's ALPN answer "h2" (9 bytes) becomes a use_srtp of the same length: the
    # client offered ALPN but no use_srtp.
    alpn_h2 = b"\x00\x10\x00\x05\x00\x03\x02h2"
    pair = handshake(
        client_config12(alpn_protocols=["h2"]),
        server_config12(alpn_protocols=["h2"]),
        replace_in("s2c", alpn_h2, USE_SRTP_80),
    )
    client_end = pair.client_outcome.terminated
    assert client_end is not None and client_end.alert == AlertDescription.unsupported_extension
    assert client_end.reason == "unsolicited extension 14" and not client_end.by_peer


@pytest.mark.parametrize(
    "malformed",
    [
        pytest.param(b"\x00\x0e\x00\x05\x00\x01\x00\x01\x00", id="odd-list-length"),
        pytest.param(b"\x00\x0e\x00\x05\x00\x00\x00\x01\x00", id="empty-list"),
        pytest.param(b"\x00\x0e\x00\x05\x00\x02\x00\x01\x05", id="mki-overrun"),
    ],
)
@pytest.mark.parametrize("server_list", [[P80], None])
def test_a_malformed_offer_is_a_decode_error(
    malformed: bytes, server_list: list[SrtpProfile] | None
) -> None:
    pair = handshake(
        client_config(srtp_profiles=[P80]),
        server_config(srtp_profiles=server_list),
        replace_in("c2s", USE_SRTP_80, malformed),
    )
    server_end = pair.server_outcome.terminated
    assert server_end is not None and server_end.alert == AlertDescription.decode_error
    assert pair.server_outcome.completed is None and pair.client_outcome.completed is None


def test_a_malformed_answer_is_a_decode_error() -> None:
    pair = handshake(
        client_config12(srtp_profiles=[P80]),
        server_config12(srtp_profiles=[P80]),
        replace_in("s2c", USE_SRTP_80, USE_SRTP_80[:-1] + b"\x07"),
    )
    client_end = pair.client_outcome.terminated
    assert client_end is not None and client_end.alert == AlertDescription.decode_error


# -- MKI -----------------------------------------------------------------------------------


def test_the_client_mki_round_trips() -> None:
    mki = b"\x01\x02\x03"
    pair = handshake(
        client_config12(srtp_profiles=[GCM128], srtp_mki=mki),
        server_config12(srtp_profiles=[GCM128]),
    )
    assert agreed(pair) == (GCM128, GCM128)
    # The ClientHello offers it and the ServerHello echoes it: type 14, length 8,
    # list [0x0007], MKI length 3, the MKI.
    extension = b"\x00\x0e\x00\x08\x00\x02\x00\x07\x03" + mki
    assert any(extension in d for _, way, d in pair.sent if way == "c2s")
    assert any(extension in d for _, way, d in pair.sent if way == "s2c")
    assert pair.client.srtp_keying_material().mki == mki
    assert pair.server.srtp_keying_material().mki == mki


def test_client_refuses_an_mki_other_than_its_own() -> None:
    mki = b"\xaa\xbb"
    offered = b"\x00\x0e\x00\x07\x00\x02\x00\x01\x02" + mki
    pair = handshake(
        client_config12(srtp_profiles=[P80], srtp_mki=mki),
        server_config12(srtp_profiles=[P80]),
        replace_in("s2c", offered, offered[:-1] + b"\xcc"),
    )
    client_end = pair.client_outcome.terminated
    assert client_end is not None and client_end.alert == AlertDescription.illegal_parameter
    assert "MKI" in client_end.reason


# -- configuration and names ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"srtp_profiles": []}, "srtp_profiles is empty"),
        ({"srtp_profiles": [1]}, "not an SrtpProfile"),
        ({"srtp_profiles": ["SRTP_AES128_CM_HMAC_SHA1_80"]}, "not an SrtpProfile"),
        ({"srtp_mki": b"x" * 256}, "srtp_mki"),
        ({"srtp_mki": "abc"}, "srtp_mki"),
    ],
)
def test_invalid_srtp_settings_are_refused_with_a_clear_error(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        DtlsConfiguration(**fields)  # type: ignore[arg-type]


def test_profile_names_iana_and_openssl_spellings() -> None:
    assert [int(p) for p in SrtpProfile] == [0x0001, 0x0002, 0x0007, 0x0008]
    assert SrtpProfile.from_name("SRTP_AES128_CM_HMAC_SHA1_80") is P80
    assert SrtpProfile.from_name("SRTP_AES128_CM_SHA1_32") is P32
    assert SrtpProfile.from_name("srtp_aead_aes_256_gcm") is GCM256
    assert P80.openssl_name == "SRTP_AES128_CM_SHA1_80"
    assert GCM128.openssl_name == "SRTP_AEAD_AES_128_GCM"
    assert [p.keying_material_length for p in SrtpProfile] == [60, 60, 56, 88]
    with pytest.raises(ValueError, match="SRTP_AES128_CM_HMAC_SHA1_80"):
        SrtpProfile.from_name("SRTP_NULL_SHA1_80")


def test_keying_material_is_not_available_before_the_handshake_completes() -> None:
    from aiodtls import DtlsConnection

    connection = DtlsConnection(configuration=client_config(srtp_profiles=[P80]))
    connection.connect(("127.0.0.1", 4433), now=0.0)
    with pytest.raises(RuntimeError):
        connection.srtp_keying_material()


# -- asyncio and blocking APIs -------------------------------------------------------------


def test_asyncio_sessions_report_the_profile_and_keys() -> None:
    async def main() -> tuple[SrtpKeyingMaterial, SrtpKeyingMaterial, object, object]:
        seen: list[DtlsSession] = []

        async def handler(session: DtlsSession) -> None:
            seen.append(session)
            async for data in session:
                session.send(data)

        server = await serve(
            "127.0.0.1", 0, configuration=server_config(srtp_profiles=[GCM256]), handler=handler
        )
        try:
            cfg = client_config(srtp_profiles=[P80, GCM256])
            async with connect("127.0.0.1", server.address[1], configuration=cfg) as session:
                for _ in range(100):
                    if seen:
                        break
                    await asyncio.sleep(0.01)
                return (
                    session.srtp_keying_material(),
                    seen[0].srtp_keying_material(),
                    session.srtp_profile,
                    seen[0].srtp_profile,
                )
        finally:
            server.close()
            await server.wait_closed()

    client, server, client_profile, server_profile = asyncio.run(main())
    assert client_profile == server_profile == GCM256
    assert client.profile == GCM256 and len(client.local_master) == 44
    assert client.local_master == server.remote_master
    assert client.remote_master == server.local_master


def test_blocking_sockets_report_the_profile_and_keys() -> None:
    cfg = server_config(srtp_profiles=[P32])
    with DtlsServer("127.0.0.1", 0, configuration=cfg) as server:
        port = server.address[1]
        result: dict[str, object] = {}

        def client() -> None:
            cfg = client_config(srtp_profiles=[P32])
            with sync_connect("127.0.0.1", port, configuration=cfg, timeout=10) as dtls:
                result["profile"] = dtls.srtp_profile
                result["keys"] = dtls.srtp_keying_material()

        thread = threading.Thread(target=client)
        thread.start()
        peer = server.accept(timeout=10)
        thread.join(10)
        assert peer.srtp_profile == P32 and result["profile"] == P32
        keys = result["keys"]
        assert isinstance(keys, SrtpKeyingMaterial)
        assert keys.local_master == peer.srtp_keying_material().remote_master


# -- CLI -------------------------------------------------------------------------------------

EXPORT_LINE = re.compile(r"SRTP keying material \((\S+), (\d+) bytes\): ([0-9A-F]+)")


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "aiodtls", *args]


def cli_env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1] / "src"))


def test_cli_client_and_server_print_the_profile_and_the_same_keying_material(
    tmp_path: Path,
) -> None:
    files = server_chain("ecdsa").write_pem(tmp_path)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server_args = ["server", "--port", str(port), "--count", "1", "--export-srtp"]
    server_args += ["--cert", str(files.chain), "--key", str(files.key)]
    server_args += ["--srtp-profiles", "SRTP_AEAD_AES_256_GCM,SRTP_AES128_CM_HMAC_SHA1_80"]
    server = subprocess.Popen(cli(*server_args), env=cli_env(), stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        assert "listening" in server.stderr.readline()
        client_args = ["client", f"127.0.0.1:{port}", "--ca", str(files.root), "--export-srtp"]
        client_args += ["--server-name", "localhost"]
        client_args += ["--srtp-profiles", "srtp_aes128_cm_sha1_80,SRTP_AEAD_AES_256_GCM"]
        client = subprocess.run(
            cli(*client_args), env=cli_env(), stdin=subprocess.DEVNULL, capture_output=True,
            text=True, timeout=30,
        )  # fmt: skip
        assert client.returncode == 0, client.stderr
        assert server.wait(10) == 0
        server_err = server.stderr.read()
    finally:
        server.kill()
        server.wait()
    # The server's preference wins: AEAD_AES_256_GCM, 2 * (32 + 12) = 88 bytes.
    assert ", SRTP SRTP_AEAD_AES_256_GCM" in client.stderr
    assert ", SRTP SRTP_AEAD_AES_256_GCM" in server_err
    ours, theirs = EXPORT_LINE.search(client.stderr), EXPORT_LINE.search(server_err)
    assert ours is not None and theirs is not None, (client.stderr, server_err)
    assert ours.groups() == theirs.groups()
    assert ours.group(1) == "SRTP_AEAD_AES_256_GCM" and ours.group(2) == "88"
    assert len(ours.group(3)) == 176


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--srtp-profiles", "SRTP_NULL_SHA1_80"], "unknown SRTP profile 'SRTP_NULL_SHA1_80'"),
        (["--srtp-profiles", ","], "at least one SRTP profile"),
        (["--export-srtp"], "--export-srtp needs --srtp-profiles"),
    ],
)
def test_cli_srtp_mistakes_are_one_line_without_traceback(args: list[str], message: str) -> None:
    done = subprocess.run(
        cli("client", "127.0.0.1:9", "--insecure", *args), env=cli_env(),
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode != 0
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


# -- dissector and proxy timeline ----------------------------------------------------------


def test_the_dissector_and_the_proxy_timeline_name_use_srtp_in_hellos() -> None:
    pair = handshake(
        client_config12(srtp_profiles=[P80, GCM128]), server_config12(srtp_profiles=[GCM128])
    )
    assert agreed(pair) == (GCM128, GCM128)
    diagnosis = HandshakeDiagnosis()
    lines = [str(diagnosis.observe(t, way, d)) for t, way, d in pair.sent]
    offers = [line for line in lines if "ClientHello" in line]
    answers = [line for line in lines if "ServerHello seq" in line]
    assert len(offers) == 2  # before and after the cookie exchange
    for line in offers:
        assert "use_srtp=[SRTP_AES128_CM_HMAC_SHA1_80,SRTP_AEAD_AES_128_GCM]" in line, line
    assert answers and all("use_srtp=[SRTP_AEAD_AES_128_GCM]" in line for line in answers)
    first = dissect(pair.sent[0][2])
    fragment = handshake_fragments(first)[0]
    assert fragment.name == "ClientHello" and fragment.srtp_profiles == (0x0001, 0x0007)


def test_the_dissector_shows_no_use_srtp_without_it_and_never_raises_on_a_bad_one() -> None:
    pair = handshake(client_config(), server_config())
    assert not any("use_srtp" in summarize(d) for _, _, d in pair.sent)
    # A ClientHello whose use_srtp has an odd list length: the summary goes on without it.
    pair = handshake(client_config(srtp_profiles=[P80]), server_config(srtp_profiles=[P80]))
    hello = pair.sent[0][2]
    assert "use_srtp=[SRTP_AES128_CM_HMAC_SHA1_80]" in summarize(hello)
    tampered = hello.replace(USE_SRTP_80, b"\x00\x0e\x00\x05\x00\x01\x00\x01\x00")
    assert summarize(tampered).startswith("HS ClientHello")
    assert "use_srtp" not in summarize(tampered)
    # An unknown code point is shown in hex.
    unknown = hello.replace(USE_SRTP_80, b"\x00\x0e\x00\x05\x00\x02\x00\x42\x00")
    assert "use_srtp=[0x0042]" in summarize(unknown)


# -- WebRTC-style pins with DTLS-SRTP (issue 11 "must show") ---------------------------------

SERVER_ID, CLIENT_ID = self_signed("ecdsa"), self_signed("rsa")


def webrtc_pair(
    client_pins: list[str],
    server_pins: list[str],
    client_has_certificate: bool = True,
    versions: tuple[ProtocolVersion, ...] | None = None,
) -> Pair:
    """Self-signed certificates on both sides, each pinning the other's a=fingerprint line
    (no CA anywhere), both with DTLS-SRTP; both allow ``versions`` (None: the default)."""
    client = DtlsConfiguration(
        is_client=True, peer_fingerprints=client_pins, srtp_profiles=[P80, GCM128]
    )
    if client_has_certificate:
        client.certificate_chain, client.private_key = [CLIENT_ID.certificate], CLIENT_ID.key
    server = DtlsConfiguration(
        is_client=False, peer_fingerprints=server_pins, srtp_profiles=[GCM128, P80]
    )
    server.certificate_chain, server.private_key = [SERVER_ID.certificate], SERVER_ID.key
    if versions is not None:
        client.versions = server.versions = versions
    return handshake(client, server)


def test_pinned_peers_agree_on_srtp() -> None:
    pair = webrtc_pair(
        [pki.sdp_fingerprint(SERVER_ID.certificate)], [pki.sdp_fingerprint(CLIENT_ID.certificate)]
    )
    assert agreed(pair) == (GCM128, GCM128)
    assert pair.client.srtp_keying_material().local_master == (
        pair.server.srtp_keying_material().remote_master
    )


@pytest.mark.parametrize("refuser", ["client", "server"])
def test_a_fingerprint_mismatch_on_either_side_names_the_fingerprint(refuser: str) -> None:
    wrong = pki.sdp_fingerprint(client_chain().certificate)  # a certificate nobody presents
    right_server = pki.sdp_fingerprint(SERVER_ID.certificate)
    right_client = pki.sdp_fingerprint(CLIENT_ID.certificate)
    if refuser == "client":
        pair, seen = (
            webrtc_pair([wrong], [right_client], versions=DTLS12_ONLY),
            SERVER_ID.certificate,
        )
    else:
        pair, seen = (
            webrtc_pair([right_server], [wrong], versions=DTLS12_ONLY),
            CLIENT_ID.certificate,
        )
    client_end, server_end = ends(pair)
    mine, theirs = (client_end, server_end) if refuser == "client" else (server_end, client_end)
    colon_hex = seen.fingerprint(hashes.SHA256()).hex(":").upper()
    assert mine.alert == AlertDescription.bad_certificate and not mine.by_peer
    assert (
        mine.reason == f"certificate fingerprint sha-256 {colon_hex} matches no pinned fingerprint"
    )
    assert theirs.alert == AlertDescription.bad_certificate and theirs.by_peer


def test_a_pinning_server_refuses_a_client_without_a_certificate() -> None:
    pair = webrtc_pair(
        [pki.sdp_fingerprint(SERVER_ID.certificate)],
        [pki.sdp_fingerprint(CLIENT_ID.certificate)],
        client_has_certificate=False,
        versions=DTLS12_ONLY,
    )
    client_end, server_end = ends(pair)
    assert server_end.alert == AlertDescription.handshake_failure and not server_end.by_peer
    assert "client sent no certificate but peer_fingerprints requires one" in server_end.reason
    assert client_end.alert == AlertDescription.handshake_failure and client_end.by_peer
