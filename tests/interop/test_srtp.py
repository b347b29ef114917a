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

import pytest

from aiodtls.srtp import SrtpProfile

from .launch import (
    AIODTLS,
    GNUTLS,
    OPENSSL,
    echo,
    exchange_with_aiodtls_server,
    exchange_with_s_server,
)
from .peers import CASES, HANDSHAKE_FAILED, InteropFiles, PeerProcess, PeerSet, free_udp_port

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


def aiodtls_srtp_server(
    peers: PeerSet, files: InteropFiles, port: int, profiles: list[str], *, export: bool = False
) -> PeerProcess:
    """``aiodtls server --echo`` with the ECDSA chain, accepting ``profiles`` in its order of
    preference; ``export`` prints the keying material."""
    options = ["--srtp-profiles", ",".join(profiles), *(["--export-srtp"] * export)]
    return AIODTLS.server(peers, port, ECDSA, files, *options)


def our_export(peer: PeerProcess, profile: SrtpProfile) -> str:
    found = peer.wait_for(OUR_EXPORT, "stderr")
    assert found["profile"] == profile.openssl_name, peer.describe()
    assert int(found["n"]) == profile.keying_material_length
    assert len(found["hex"]) == 2 * profile.keying_material_length
    return found["hex"]


@pytest.mark.slow  # a profile matrix: in the slow pass of .ci/run
@pytest.mark.parametrize("profile", ALL, ids=[p.name for p in ALL])
def test_aiodtls_client_to_s_server_same_profile_and_keying_material(
    peers: PeerSet, interop_files: InteropFiles, profile: SrtpProfile
) -> None:
    port = free_udp_port()
    server = OPENSSL.server(peers, port, ECDSA, interop_files, *export_args(profile))
    client = AIODTLS.client(
        peers, port, ECDSA, interop_files, "--srtp-profiles", profile.name, "--export-srtp"
    )
    exchange_with_s_server(peers, client, server)
    assert f", SRTP {profile.name}" in client.stderr(), client.describe()
    assert server.wait_for(OPENSSL_PROFILE, "stdout")["profile"] == profile.openssl_name
    theirs = server.wait_for(OPENSSL_EXPORT, "stdout")["hex"]
    assert our_export(client, profile) == theirs, peers.describe()


@pytest.mark.slow  # a profile matrix: in the slow pass of .ci/run
@pytest.mark.parametrize("profile", ALL, ids=[p.name for p in ALL])
def test_s_client_to_aiodtls_server_same_profile_and_keying_material(
    peers: PeerSet, interop_files: InteropFiles, profile: SrtpProfile
) -> None:
    port = free_udp_port()
    # Our server accepts every profile, this one last: s_client offers only this one.
    others = [p.openssl_name for p in ALL if p != profile]
    server = aiodtls_srtp_server(
        peers, interop_files, port, [*others, profile.openssl_name], export=True
    )
    client = OPENSSL.client(peers, port, ECDSA, interop_files, *export_args(profile))
    exchange_with_aiodtls_server(peers, OPENSSL, client, server)
    assert f", SRTP {profile.name}" in server.stderr(), server.describe()
    assert client.wait_for(OPENSSL_PROFILE, "stdout")["profile"] == profile.openssl_name
    theirs = client.wait_for(OPENSSL_EXPORT, "stdout")["hex"]
    assert our_export(server, profile) == theirs, peers.describe()


def test_aiodtls_server_chooses_by_its_own_preference(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    port = free_udp_port()
    preference = ["SRTP_AEAD_AES_256_GCM", "SRTP_AEAD_AES_128_GCM", "SRTP_AES128_CM_HMAC_SHA1_80"]
    server = aiodtls_srtp_server(peers, interop_files, port, preference)
    client = OPENSSL.client(
        peers,
        port,
        ECDSA,
        interop_files,
        "-use_srtp",
        "SRTP_AES128_CM_SHA1_80:SRTP_AEAD_AES_128_GCM",
    )
    exchange_with_aiodtls_server(peers, OPENSSL, client, server)
    assert client.wait_for(OPENSSL_PROFILE, "stdout")["profile"] == "SRTP_AEAD_AES_128_GCM"
    assert ", SRTP SRTP_AEAD_AES_128_GCM" in server.stderr(), server.describe()


def test_no_common_profile_fails_the_handshake_with_a_reason(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    port = free_udp_port()
    server = aiodtls_srtp_server(peers, interop_files, port, ["SRTP_AEAD_AES_256_GCM"])
    client = OPENSSL.client(
        peers, port, ECDSA, interop_files, "-use_srtp", "SRTP_AES128_CM_SHA1_80"
    )
    client.close_stdin()
    assert client.wait_exit() != 0, peers.describe()
    assert "handshake failure" in client.stderr(), client.describe()
    failed = server.wait_for(HANDSHAKE_FAILED, "stderr").group(0)
    assert "no SRTP profile in common" in failed, server.describe()
    assert "SRTP_AES128_CM_HMAC_SHA1_80" in failed and "SRTP_AEAD_AES_256_GCM" in failed


def test_aiodtls_client_refuses_an_s_server_without_use_srtp(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    port = free_udp_port()
    server = OPENSSL.server(peers, port, ECDSA, interop_files)
    client = AIODTLS.client(
        peers, port, ECDSA, interop_files, "--srtp-profiles", "SRTP_AES128_CM_SHA1_80"
    )
    failed = client.wait_for(HANDSHAKE_FAILED, "stderr").group(0)
    assert "the server did not agree to DTLS-SRTP" in failed, client.describe()
    assert client.wait_exit() == 1, peers.describe()
    server.close_stdin()


# -- GnuTLS ----------------------------------------------------------------------------------


@pytest.mark.slow  # a profile matrix: in the slow pass of .ci/run
@pytest.mark.parametrize("profile", GNUTLS_PROFILES, ids=[p.name for p in GNUTLS_PROFILES])
def test_gnutls_cli_to_aiodtls_server_same_keying_material(
    peers: PeerSet, interop_files: InteropFiles, profile: SrtpProfile
) -> None:
    port = free_udp_port()
    accepted = ["SRTP_AEAD_AES_128_GCM", "SRTP_AES128_CM_SHA1_32", "SRTP_AES128_CM_SHA1_80"]
    server = aiodtls_srtp_server(peers, interop_files, port, accepted, export=True)
    client = GNUTLS.client(
        peers,
        port,
        ECDSA,
        interop_files,
        f"--srtp-profiles={profile.name}",
        "--keymatexport=EXTRACTOR-dtls_srtp",
        f"--keymatexportsize={profile.keying_material_length}",
        priority=None,
        debug=False,
        sni=False,
    )
    GNUTLS.wait_ready(client)
    client.close_stdin()
    client.wait_exit()
    assert client.wait_for(GNUTLS_PROFILE, "stdout")["profile"] == profile.name
    theirs = client.wait_for(GNUTLS_EXPORT, "stdout")["hex"].upper()
    assert our_export(server, profile) == theirs, peers.describe()


@pytest.mark.slow  # a profile matrix: in the slow pass of .ci/run
@pytest.mark.parametrize("profile", GNUTLS_PROFILES, ids=[p.name for p in GNUTLS_PROFILES])
def test_aiodtls_client_to_gnutls_serv_agrees_on_its_profile(
    peers: PeerSet, interop_files: InteropFiles, profile: SrtpProfile
) -> None:
    # gnutls-serv --udp prints no session details (no profile, no keying material), so this
    # direction checks the profile: our client offers both, gnutls-serv allows one; its
    # debug log shows the use_srtp it received and answered. The keying material is
    # compared in the gnutls-cli direction above.
    port = free_udp_port()
    server = GNUTLS.server(
        peers, port, ECDSA, interop_files, f"--srtp-profiles={profile.name}", priority=None
    )
    offer = ",".join(p.openssl_name for p in GNUTLS_PROFILES)
    client = AIODTLS.client(peers, port, ECDSA, interop_files, "--srtp-profiles", offer)
    echo(peers, AIODTLS, client, "hello over srtp-keyed dtls")
    assert f", SRTP {profile.name}" in client.stderr(), client.describe()
    server.wait_for(r"Parsing extension 'SRTP/14'")
    server.wait_for(r"Sending extension SRTP/14")
