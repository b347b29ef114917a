"""Session resumption with OpenSSL 3.0 over loopback UDP (issue 12: session IDs and tickets).

Both directions, each with RFC 5077 tickets and with session IDs only (``-no_ticket``):

- ``openssl s_client -dtls1_2 -reconnect`` against ``aiodtls server``: s_client prints
  ``Reused, TLSv1.2`` for each resumed reconnection, our server ``session resumed``.
- ``s_client -sess_out`` then ``s_client -sess_in`` (a session carried across processes).
- ``aiodtls client --reconnect 2`` against ``openssl s_server -dtls1_2``: our client prints
  ``session resumed``, s_server ``Reused session-id`` per resumed connection and, in its exit
  statistics, ``session cache hits``; with tickets its cache stays empty (``0 items``), which
  shows the ticket (not a cached session ID) was what resumed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .launch import AIODTLS, OPENSSL, reconnect_resumes
from .peers import CASES, Case, InteropFiles, PeerSet, free_udp_port

pytestmark = pytest.mark.interop

ECDSA, PSK = CASES[0], CASES[2]
TICKETS = pytest.mark.parametrize("tickets", [True, False], ids=["ticket", "session-id"])


def times(pattern: str, count: int) -> re.Pattern[str]:
    """``pattern`` at least ``count`` times."""
    return re.compile(f"(?:{pattern}[\\s\\S]*?){{{count}}}")


@TICKETS
@pytest.mark.parametrize(
    "case", [ECDSA, pytest.param(PSK, marks=pytest.mark.slow)], ids=["ecdhe-ecdsa", "psk"]
)
def test_s_client_reconnect_resumes_against_aiodtls_server(
    peers: PeerSet, interop_files: InteropFiles, case: Case, tickets: bool
) -> None:
    port = free_udp_port()
    server = AIODTLS.server(peers, port, case, interop_files)
    extra = ["-reconnect"] + ([] if tickets else ["-no_ticket"])
    client = OPENSSL.client(peers, port, case, interop_files, *extra)
    # s_client -reconnect: one full handshake, then five reconnections offering the session.
    client.wait_for(times(r"Reused, TLSv1\.2, Cipher is " + case.openssl_cipher, 5), "stdout")
    server.wait_for(times(r"handshake ok: DTLSv1\.2 .*session resumed", 5), "stderr")
    new = re.findall(r"^New, ", client.stdout(), re.MULTILINE)
    assert len(new) == 1, client.describe()
    # With tickets the server issued one (s_client prints it); -no_ticket asks for none.
    assert ("TLS session ticket:" in client.stdout()) == tickets, client.describe()


@pytest.mark.parametrize("tickets", [True, False], ids=["ticket", "session-id"])
def test_s_client_sess_out_then_sess_in_resumes(
    peers: PeerSet, interop_files: InteropFiles, tmp_path: Path, tickets: bool
) -> None:
    port = free_udp_port()
    server = AIODTLS.server(peers, port, ECDSA, interop_files)
    session_file = tmp_path / "session.pem"
    no_ticket = [] if tickets else ["-no_ticket"]
    first = OPENSSL.client(
        peers, port, ECDSA, interop_files, "-sess_out", str(session_file), *no_ticket
    )
    first.wait_for(r"New, TLSv1\.2", "stdout")
    first.close_stdin()
    first.wait_exit()
    assert session_file.read_text().startswith("-----BEGIN SSL SESSION PARAMETERS-----")
    second = OPENSSL.client(
        peers, port, ECDSA, interop_files, "-sess_in", str(session_file), *no_ticket
    )
    second.wait_for(r"Reused, TLSv1\.2, Cipher is " + ECDSA.openssl_cipher, "stdout")
    second.close_stdin()
    second.wait_exit()
    server.wait_for(r"handshake ok: .*session resumed", "stderr")


@TICKETS
@pytest.mark.parametrize(
    "case", [ECDSA, pytest.param(PSK, marks=pytest.mark.slow)], ids=["ecdhe-ecdsa", "psk"]
)
def test_aiodtls_client_reconnect_resumes_against_s_server(
    peers: PeerSet, interop_files: InteropFiles, case: Case, tickets: bool
) -> None:
    port = free_udp_port()
    extra = ["-naccept", "3"] + ([] if tickets else ["-no_ticket"])
    server = OPENSSL.server(peers, port, case, interop_files, *extra)
    reconnect_resumes(peers, case, interop_files, port)
    server.wait_for(times("Reused session-id", 2), "stdout")
    stats = server.wait_for(r"(\d+) items in the session cache", "stdout")
    server.wait_for(r"2 session cache hits", "stdout")
    # Tickets carry the session themselves: s_server caches nothing, yet resumed twice.
    assert stats.group(1) == ("0" if tickets else "1"), server.describe()
