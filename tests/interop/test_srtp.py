"""DTLS-SRTP (RFC 5764, RFC 7714) interop with OpenSSL and GnuTLS (issue 11).

- OpenSSL 3.0 ``s_server``/``s_client -use_srtp PROFILE -keymatexport EXTRACTOR-dtls_srtp
  -keymatexportlen N``, both directions, for every profile it offers (the four of
  ``SrtpProfile``): both ends report the same profile, and the keying material OpenSSL prints
  is byte-identical to what ``aiodtls ... --export-srtp`` prints.
- Our server's choice by its own preference, a ``handshake_failure`` that s_client sees when
  there is no common profile, and our client refusing an s_server that ignores use_srtp.
- GnuTLS 3.7 (``--srtp-profiles``, ``--keymatexport``) for the profiles it supports: the two
  AES128_CM ones (it refuses the AEAD names with "Syntax error"). ``gnutls-cli`` prints the
  profile and the keying material, compared byte for byte; ``gnutls-serv --udp`` prints
  neither, so against it the profile is checked from our side and its debug log.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from aiodtls.srtp import SrtpProfile
from certs import SERVER_NAME

from .peers import (
    CASES,
    HANDSHAKE_FAILED,
    InteropFiles,
    PeerProcess,
    PeerSet,
    aiodtls_client_args,
    free_udp_port,
)
from .test_openssl import (
    exchange_with_aiodtls_server,
    exchange_with_s_server,
    start_aiodtls_server,
    start_s_client,
    start_s_server,
)

pytestmark = pytest.mark.interop

ECDSA = CASES[0]
OUR_EXPORT = re.compile(
    r"SRTP keying material \((?P<profile>\S+), (?P<n>\d+) bytes\): (?P<hex>[0-9A-F]+)"
)
OPENSSL_EXPORT = re.compile(r"Keying material: (?P<hex>[0-9A-F]+)")
OPENSSL_PROFILE = re.compile(r"SRTP Extension negotiated, profile=(?P<profile>\S+)")
GNUTLS_EXPORT = re.compile(r"- Key material: (?P<hex>[0-9a-f]+)")
GNUTLS_PROFILE = re.compile(r"- SRTP profile: (?P<profile>\S+)")
ALL = list(SrtpProfile)
GNUTLS_PROFILES = [SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80, SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_32]


@pytest.fixture
def openssl(require_binary: Callable[[str], str]) -> str:
    """Path of the openssl binary (skips when missing outside CI)."""
    return require_binary("openssl")


def export_args(profile: SrtpProfile) -> list[str]:
    """OpenSSL's options for DTLS-SRTP with ``profile`` and its keying material printed."""
    return [
        "-use_srtp",
        profile.openssl_name,
        "-keymatexport",
        "EXTRACTOR-dtls_srtp",
        "-keymatexportlen",
        str(profile.keying_material_length),
    ]


def our_export(peer: PeerProcess, profile: SrtpProfile) -> str:
    found = peer.wait_for(OUR_EXPORT, "stderr")
    assert found["profile"] == profile.openssl_name, peer.describe()
    assert int(found["n"]) == profile.keying_material_length
    assert len(found["hex"]) == 2 * profile.keying_material_length
    return found["hex"]


@pytest.mark.parametrize("profile", ALL, ids=[p.name for p in ALL])
def test_aiodtls_client_to_s_server_same_profile_and_keying_material(
    peers: PeerSet, openssl: str, interop_files: InteropFiles, profile: SrtpProfile
) -> None:
    port = free_udp_port()
    server = start_s_server(peers, openssl, ECDSA, interop_files, port, *export_args(profile))
    args = aiodtls_client_args(ECDSA, interop_files, port)
    client = peers.start_aiodtls(
        "aiodtls-client", *args, "--srtp-profiles", profile.name, "--export-srtp"
    )
    exchange_with_s_server(peers, client, server)
    assert f", SRTP {profile.name}" in client.stderr(), client.describe()
    assert server.wait_for(OPENSSL_PROFILE, "stdout")["profile"] == profile.openssl_name
    theirs = server.wait_for(OPENSSL_EXPORT, "stdout")["hex"]
    assert our_export(client, profile) == theirs, peers.describe()


@pytest.mark.parametrize("profile", ALL, ids=[p.name for p in ALL])
def test_s_client_to_aiodtls_server_same_profile_and_keying_material(
    peers: PeerSet, openssl: str, interop_files: InteropFiles, profile: SrtpProfile
) -> None:
    port = free_udp_port()
    # Our server accepts every profile, this one last: s_client offers only this one.
    others = [p.openssl_name for p in ALL if p != profile]
    server = start_aiodtls_server(
        peers,
        ECDSA,
        interop_files,
        port,
        "--srtp-profiles",
        ",".join([*others, profile.openssl_name]),
        "--export-srtp",
    )
    client = start_s_client(peers, openssl, ECDSA, interop_files, port, *export_args(profile))
    exchange_with_aiodtls_server(peers, client, server)
    assert f", SRTP {profile.name}" in server.stderr(), server.describe()
    assert client.wait_for(OPENSSL_PROFILE, "stdout")["profile"] == profile.openssl_name
    theirs = client.wait_for(OPENSSL_EXPORT, "stdout")["hex"]
    assert our_export(server, profile) == theirs, peers.describe()


def test_aiodtls_server_chooses_by_its_own_preference(
    peers: PeerSet, openssl: str, interop_files: InteropFiles
) -> None:
    port = free_udp_port()
    server = start_aiodtls_server(
        peers,
        ECDSA,
        interop_files,
        port,
        "--srtp-profiles",
        "SRTP_AEAD_AES_256_GCM,SRTP_AEAD_AES_128_GCM,SRTP_AES128_CM_HMAC_SHA1_80",
    )
    client = start_s_client(
        peers,
        openssl,
        ECDSA,
        interop_files,
        port,
        "-use_srtp",
        "SRTP_AES128_CM_SHA1_80:SRTP_AEAD_AES_128_GCM",
    )
    exchange_with_aiodtls_server(peers, client, server)
    assert client.wait_for(OPENSSL_PROFILE, "stdout")["profile"] == "SRTP_AEAD_AES_128_GCM"
    assert ", SRTP SRTP_AEAD_AES_128_GCM" in server.stderr(), server.describe()


def test_no_common_profile_fails_the_handshake_with_a_reason(
    peers: PeerSet, openssl: str, interop_files: InteropFiles
) -> None:
    port = free_udp_port()
    server = start_aiodtls_server(
        peers, ECDSA, interop_files, port, "--srtp-profiles", "SRTP_AEAD_AES_256_GCM"
    )
    client = start_s_client(
        peers, openssl, ECDSA, interop_files, port, "-use_srtp", "SRTP_AES128_CM_SHA1_80"
    )
    client.close_stdin()
    assert client.wait_exit() != 0, peers.describe()
    assert "handshake failure" in client.stderr(), client.describe()
    failed = server.wait_for(HANDSHAKE_FAILED, "stderr").group(0)
    assert "no SRTP profile in common" in failed, server.describe()
    assert "SRTP_AES128_CM_HMAC_SHA1_80" in failed and "SRTP_AEAD_AES_256_GCM" in failed


def test_aiodtls_client_refuses_an_s_server_without_use_srtp(
    peers: PeerSet, openssl: str, interop_files: InteropFiles
) -> None:
    port = free_udp_port()
    server = start_s_server(peers, openssl, ECDSA, interop_files, port)
    args = aiodtls_client_args(ECDSA, interop_files, port)
    client = peers.start_aiodtls(
        "aiodtls-client", *args, "--srtp-profiles", "SRTP_AES128_CM_SHA1_80"
    )
    failed = client.wait_for(HANDSHAKE_FAILED, "stderr").group(0)
    assert "the server did not agree to DTLS-SRTP" in failed, client.describe()
    assert client.wait_exit() == 1, peers.describe()
    server.close_stdin()


# -- GnuTLS ----------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", GNUTLS_PROFILES, ids=[p.name for p in GNUTLS_PROFILES])
def test_gnutls_cli_to_aiodtls_server_same_keying_material(
    peers: PeerSet,
    require_binary: Callable[[str], str],
    interop_files: InteropFiles,
    profile: SrtpProfile,
) -> None:
    gnutls_cli = require_binary("gnutls-cli")
    port = free_udp_port()
    server = start_aiodtls_server(
        peers,
        ECDSA,
        interop_files,
        port,
        "--srtp-profiles",
        "SRTP_AEAD_AES_128_GCM,SRTP_AES128_CM_SHA1_32,SRTP_AES128_CM_SHA1_80",
        "--export-srtp",
    )
    argv = [
        gnutls_cli,
        "--udp",
        "-p",
        str(port),
        f"--x509cafile={interop_files.server['ecdsa'].root}",
        f"--verify-hostname={SERVER_NAME}",
        f"--srtp-profiles={profile.name}",
        "--keymatexport=EXTRACTOR-dtls_srtp",
        f"--keymatexportsize={profile.keying_material_length}",
        "127.0.0.1",
    ]
    client = peers.start("gnutls-cli", argv)
    client.wait_for("Handshake was completed", "stdout")
    client.close_stdin()
    client.wait_exit()
    assert client.wait_for(GNUTLS_PROFILE, "stdout")["profile"] == profile.name
    theirs = client.wait_for(GNUTLS_EXPORT, "stdout")["hex"].upper()
    assert our_export(server, profile) == theirs, peers.describe()


@pytest.mark.parametrize("profile", GNUTLS_PROFILES, ids=[p.name for p in GNUTLS_PROFILES])
def test_aiodtls_client_to_gnutls_serv_agrees_on_its_profile(
    peers: PeerSet,
    require_binary: Callable[[str], str],
    interop_files: InteropFiles,
    profile: SrtpProfile,
) -> None:
    # gnutls-serv --udp prints no session details (no profile, no keying material), so this
    # direction checks the profile: our client offers both, gnutls-serv allows one; its
    # debug log shows the use_srtp it received and answered. The keying material is
    # compared in the gnutls-cli direction above.
    gnutls_serv = require_binary("gnutls-serv")
    port = free_udp_port()
    pem = interop_files.server["ecdsa"]
    argv = [
        gnutls_serv,
        "--udp",
        "--echo",
        "-p",
        str(port),
        f"--x509certfile={pem.chain}",
        f"--x509keyfile={pem.key}",
        f"--srtp-profiles={profile.name}",
        "-d",
        "4",
    ]
    server = peers.start("gnutls-serv", argv)
    server.wait_until_bound(port)
    args = aiodtls_client_args(ECDSA, interop_files, port)
    offer = ",".join(p.openssl_name for p in GNUTLS_PROFILES)
    client = peers.start_aiodtls("aiodtls-client", *args, "--srtp-profiles", offer)
    client.wait_for(f", SRTP {profile.name}", "stderr")
    client.write_line("hello over srtp-keyed dtls")
    client.wait_for("hello over srtp-keyed dtls", "stdout")  # the echo
    client.close_stdin()
    assert client.wait_exit() == 0, peers.describe()
    server.wait_for(r"Parsing extension 'SRTP/14'")
    server.wait_for(r"Sending extension SRTP/14")
