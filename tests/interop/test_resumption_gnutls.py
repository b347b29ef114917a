"""Session resumption with GnuTLS over loopback UDP (issue 12), tickets and session IDs.

- ``gnutls-cli --udp --resume`` against ``aiodtls server``: it connects, then connects again
  offering the session and prints ``This is a resumed session``; our server prints
  ``session resumed``. ``%NO_TICKETS`` in the priority string makes it resume by session ID.
- ``aiodtls client --reconnect 2`` against ``gnutls-serv --udp``: our client prints
  ``session resumed`` twice; with tickets gnutls-serv's debug log shows the two non-empty
  SessionTicket extensions it was handed back.
"""

from __future__ import annotations

import re

import pytest

from .launch import AIODTLS, GNUTLS, reconnect_resumes
from .peers import CASES, Case, InteropFiles, PeerSet, free_udp_port

# Beyond the OpenSSL matrix, so in the slow pass (CI runs it): ~5 s of real peers.
pytestmark = [pytest.mark.interop, pytest.mark.slow]

ECDSA, PSK = CASES[0], CASES[2]
TICKETS = pytest.mark.parametrize("tickets", [True, False], ids=["ticket", "session-id"])


def priority(case: Case, tickets: bool) -> str:
    return case.gnutls_priority + ("" if tickets else ":%NO_TICKETS")


@TICKETS
@pytest.mark.parametrize("case", [ECDSA, PSK], ids=["ecdhe-ecdsa", "psk"])
def test_gnutls_cli_resume_against_aiodtls_server(
    peers: PeerSet, interop_files: InteropFiles, case: Case, tickets: bool
) -> None:
    port = free_udp_port()
    server = AIODTLS.server(peers, port, case, interop_files)
    client = GNUTLS.client(
        peers, port, case, interop_files, "--resume", priority=priority(case, tickets), debug=False
    )
    client.wait_for("This is a resumed session", "stdout")
    server.wait_for(r"handshake ok: DTLSv1\.2 .*session resumed", "stderr")
    client.close_stdin()
    client.wait_exit()


@TICKETS
def test_aiodtls_client_reconnect_resumes_against_gnutls_serv(
    peers: PeerSet, interop_files: InteropFiles, tickets: bool
) -> None:
    port = free_udp_port()
    server = GNUTLS.server(peers, port, PSK, interop_files, priority=priority(PSK, tickets))
    reconnect_resumes(peers, PSK, interop_files, port)
    returned = re.findall(
        r"Parsing extension 'Session Ticket/35' \(([1-9]\d*) bytes\)", server.output()
    )
    assert len(returned) == (2 if tickets else 0), server.describe()
