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
from collections.abc import Callable

import pytest

from certs import SERVER_NAME

from .peers import (
    CASES,
    PSK_HEX,
    PSK_IDENTITY,
    Case,
    InteropFiles,
    PeerSet,
    aiodtls_client_args,
    aiodtls_server_args,
    free_udp_port,
)

# Beyond the OpenSSL matrix, so in the slow pass (CI runs it): ~5 s of real peers.
pytestmark = [pytest.mark.interop, pytest.mark.slow]

ECDSA, PSK = CASES[0], CASES[2]
TICKETS = pytest.mark.parametrize("tickets", [True, False], ids=["ticket", "session-id"])


def priority(case: Case, tickets: bool) -> str:
    return case.gnutls_priority + ("" if tickets else ":%NO_TICKETS")


@TICKETS
@pytest.mark.parametrize("case", [ECDSA, PSK], ids=["ecdhe-ecdsa", "psk"])
def test_gnutls_cli_resume_against_aiodtls_server(
    peers: PeerSet,
    require_binary: Callable[[str], str],
    interop_files: InteropFiles,
    case: Case,
    tickets: bool,
) -> None:
    gnutls_cli = require_binary("gnutls-cli")
    port = free_udp_port()
    server = peers.start_aiodtls("aiodtls-server", *aiodtls_server_args(case, interop_files, port))
    server.wait_until_bound(port)
    argv = [gnutls_cli, "--udp", "-p", str(port), "--priority", priority(case, tickets)]
    if case.kind is None:
        argv += [f"--pskusername={PSK_IDENTITY}", f"--pskkey={PSK_HEX}"]
    else:
        argv += [
            f"--x509cafile={interop_files.server[case.kind].root}",
            f"--verify-hostname={SERVER_NAME}",
            f"--sni-hostname={SERVER_NAME}",
        ]
    client = peers.start("gnutls-cli", [*argv, "--resume", "127.0.0.1"])
    client.wait_for("This is a resumed session", "stdout")
    server.wait_for(r"handshake ok: DTLSv1\.2 .*session resumed", "stderr")
    client.close_stdin()
    client.wait_exit()


@TICKETS
def test_aiodtls_client_reconnect_resumes_against_gnutls_serv(
    peers: PeerSet,
    require_binary: Callable[[str], str],
    interop_files: InteropFiles,
    tickets: bool,
) -> None:
    gnutls_serv = require_binary("gnutls-serv")
    port = free_udp_port()
    argv = [
        gnutls_serv,
        "--udp",
        "--echo",
        "-p",
        str(port),
        "--priority",
        priority(PSK, tickets),
        f"--pskpasswd={interop_files.gnutls_psk_file}",
        "-d",
        "4",
    ]
    server = peers.start("gnutls-serv", argv)
    server.wait_until_bound(port)
    args = aiodtls_client_args(PSK, interop_files, port)
    client = peers.start_aiodtls("aiodtls-client", *args, "--reconnect", "2", "--wait", "0.2")
    client.wait_for(r"reconnect 2: ", "stderr")
    assert "reconnect 1: session resumed" in client.stderr(), client.describe()
    assert "reconnect 2: session resumed" in client.stderr(), client.describe()
    client.close_stdin()
    assert client.wait_exit() == 0, client.describe()
    returned = re.findall(
        r"Parsing extension 'Session Ticket/35' \(([1-9]\d*) bytes\)", server.output()
    )
    assert len(returned) == (2 if tickets else 0), server.describe()
