"""Failures against real peers that used to end only at the 60 s handshake timeout (issue 10).

A client with a wrong PSK: ``openssl s_server`` drops the Finished it cannot decrypt and keeps
repeating its own flight on its timer (1, 2, 4 s ...); the aiodtls client must name that
("wrong PSK?") long before its handshake timeout. ``gnutls-serv`` 3.7 drops the Finished and
then says nothing at all, so only the timeout can end the handshake; its reason must still
point at the PSK.
"""

from __future__ import annotations

import ssl
import time

import pytest

import aiodtls.sync as sync
from aiodtls import DtlsConfiguration, HandshakeError, HandshakeTimeout

from .launch import GNUTLS, OPENSSL
from .peers import CASES, PSK_IDENTITY, InteropFiles, PeerSet, free_udp_port

pytestmark = pytest.mark.interop

PSK_CASE = CASES[2]
WRONG_PSK = bytes.fromhex("0f" * 16)


def wrong_psk_client(handshake_timeout: float) -> DtlsConfiguration:
    return DtlsConfiguration(
        is_client=True,
        psk=WRONG_PSK,
        psk_identity=PSK_IDENTITY.encode(),
        verify_mode=ssl.CERT_NONE,
        handshake_timeout=handshake_timeout,
    )


@pytest.mark.slow  # long: in the slow pass of .ci/run (README command's budget)
def test_wrong_psk_against_s_server_is_named_before_the_timeout(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    port = free_udp_port()
    OPENSSL.server(peers, port, PSK_CASE, interop_files)
    start = time.monotonic()
    with pytest.raises(HandshakeError) as failure:
        sync.connect("127.0.0.1", port, configuration=wrong_psk_client(20.0))
    assert not isinstance(failure.value, HandshakeTimeout), failure.value
    assert str(failure.value).endswith("so the keys differ (wrong PSK?)"), failure.value
    assert time.monotonic() - start < 20.0  # before the handshake timeout


@pytest.mark.slow  # long: in the slow pass of .ci/run
def test_wrong_psk_against_silent_gnutls_serv_times_out_pointing_at_the_psk(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    port = free_udp_port()
    GNUTLS.server(peers, port, PSK_CASE, interop_files)
    with pytest.raises(HandshakeTimeout) as failure:
        sync.connect("127.0.0.1", port, configuration=wrong_psk_client(4.0))
    assert str(failure.value).endswith(
        "the server answered our earlier flights but never our Finished (wrong PSK?)"
    ), failure.value
