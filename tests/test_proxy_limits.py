"""The diagnosing proxy's limits and start-up errors (hardening defect 11).

- An upstream that cannot be resolved is reported once, at start, in one line, and the proxy
  exits non-zero: no traceback per client, no datagrams queued for a socket that can never
  open.
- The proxy tracks at most ``max_clients`` client addresses (``--max-clients``); datagrams
  from further new addresses are dropped, counted and reported, and tracked clients keep
  being relayed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aiodtls.proxy import DtlsProxy, ProxyStartError
from interop.peers import PeerSet, aiodtls_command, aiodtls_env

UNRESOLVABLE = "no-such-host.invalid"
"RFC 6761 §6.4: .invalid names never resolve."

DEADLINE = 20.0
"Seconds a subprocess test may take before its waits fail (a hang, not a slow machine)."


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[PeerSet]:
    """The CLI processes of one test; all of them are stopped when the test ends."""
    peer_set = PeerSet(tmp_path, time.monotonic() + DEADLINE)
    try:
        yield peer_set
    finally:
        peer_set.stop_all()


class Inbox(asyncio.DatagramProtocol):
    """A plain UDP socket that keeps what it receives (the proxy's upstream server)."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, tuple[str, int]]] = []

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.append((data, addr))


CTRL_C_ARMED = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)
"""Python code that restores SIGINT's default action, then execs its arguments in the same
process (same pid and process group)."""


def with_ctrl_c(argv: list[str]) -> list[str]:
    """``argv`` with Ctrl-C (SIGINT) working as from a terminal, whatever our parent does with it.

    A non-interactive shell starts a background job with SIGINT ignored (``pytest ... &``, a
    test loop run beside a load generator), its children inherit that across exec, and Python
    then leaves SIGINT ignored instead of raising KeyboardInterrupt: the proxy would run to
    its ``--duration``. (tests/test_examples.py resets it for its servers with ``preexec_fn``;
    :class:`PeerSet` starts the process here.)
    """
    return [sys.executable, "-c", CTRL_C_ARMED, *argv]


async def until(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Poll ``condition()`` until true; fail (not a speed check: a hang) after ``timeout``."""
    end = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() >= end:
            pytest.fail(f"timed out waiting until {what}")
        await asyncio.sleep(0.01)


# --------------------------------------------------------------------------------------------
# An upstream that cannot be resolved


@pytest.mark.parametrize("output", ["text", "json"])
def test_cli_unresolvable_upstream_is_one_line_and_a_non_zero_exit(
    peers: PeerSet, output: str
) -> None:
    """Defect 11: ``--upstream no-such-host.invalid:4433`` printed a traceback for every
    client and queued its datagrams forever; now it fails at start, in one line."""
    argv = ["proxy", "--listen", "127.0.0.1:0", "--upstream", f"{UNRESOLVABLE}:4433"]
    argv += ["--duration", "5"]  # only bounds the old behaviour, which ran to the end
    if output == "json":
        argv.append("--json")
    proxy = peers.start_aiodtls("proxy", *argv)
    code = proxy.wait_exit()
    stderr = proxy.stderr()
    assert code != 0, proxy.describe()
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, proxy.describe()
    assert f"{UNRESOLVABLE}:4433" in lines[0]
    assert "resolve" in lines[0]
    assert proxy.stdout() == ""


def test_start_raises_one_line_error_for_an_unresolvable_upstream() -> None:
    """The library API fails the same way, before binding anything."""

    async def main() -> None:
        proxy = DtlsProxy((UNRESOLVABLE, 4433))
        with pytest.raises(ProxyStartError) as failure:
            await proxy.start("127.0.0.1", 0)
        message = str(failure.value)
        assert "\n" not in message
        assert UNRESOLVABLE in message
        proxy.close()

    asyncio.run(main())


# --------------------------------------------------------------------------------------------
# The client table is capped


def test_client_table_never_grows_beyond_max_clients() -> None:
    """Defect 11: more client source ports than ``max_clients`` do not grow the table; the
    excess is dropped, counted and reported once, and tracked clients are still relayed."""
    cap, clients = 3, 8
    notices: list[str] = []

    async def main() -> list[tuple[bytes, tuple[str, int]]]:
        loop = asyncio.get_running_loop()
        server_transport, server = await loop.create_datagram_endpoint(
            Inbox, local_addr=("127.0.0.1", 0)
        )
        upstream = server_transport.get_extra_info("sockname")[:2]
        proxy = DtlsProxy(upstream, max_clients=cap, on_notice=notices.append)
        host, port = await proxy.start("127.0.0.1", 0)
        senders = [
            (
                await loop.create_datagram_endpoint(
                    asyncio.DatagramProtocol, remote_addr=(host, port)
                )
            )[0]
            for _ in range(clients)
        ]
        try:
            for n, sender in enumerate(senders[:cap]):
                sender.sendto(b"tracked %d" % n)
            await until(lambda: len(server.received) == cap, "the tracked clients are relayed")
            for n, sender in enumerate(senders[cap:], start=cap):
                sender.sendto(b"refused %d" % n)
            refused = clients - cap
            await until(lambda: proxy.counters.refused_datagrams == refused, "the rest are refused")
            assert len(proxy.flows) == cap
            # A tracked client is still relayed once the table is full; a refused one is not.
            senders[0].sendto(b"tracked again")
            senders[-1].sendto(b"refused again")
            await until(lambda: len(server.received) == cap + 1, "a tracked client is relayed")
            await until(lambda: proxy.counters.refused_datagrams == refused + 1, "still refused")
            assert len(proxy.flows) == cap
        finally:
            for sender in senders:
                sender.close()
            server_transport.close()
            proxy.close()
        return server.received

    received = asyncio.run(main())
    assert sorted(data for data, _ in received) == sorted(
        [b"tracked %d" % n for n in range(cap)] + [b"tracked again"]
    )
    assert len({source for _, source in received}) == cap  # one upstream socket per client
    assert len(notices) == 1, notices  # reported once, not once per datagram
    assert f"{cap} clients" in notices[0]


def test_max_clients_must_be_positive() -> None:
    with pytest.raises(ValueError):
        DtlsProxy(("127.0.0.1", 4433), max_clients=0)


def test_cli_max_clients_drops_and_reports_new_clients(peers: PeerSet) -> None:
    """``--max-clients 2`` over real sockets: two clients are relayed, two more are dropped,
    a line on stderr says so when it starts, and the total is printed on exit."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(DEADLINE)
        upstream = server.getsockname()[1]
        argv = aiodtls_command(
            *["proxy", "--listen", "127.0.0.1:0", "--upstream", f"127.0.0.1:{upstream}"],
            *["--max-clients", "2", "--quiet", "--duration", str(DEADLINE)],
        )
        proxy = peers.start("proxy", with_ctrl_c(argv), aiodtls_env())
        port = int(proxy.wait_for(r"proxy listening on 127\.0\.0\.1:(\d+)", "stderr").group(1))
        clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4)]
        try:
            for n, client in enumerate(clients):
                client.sendto(b"client %d" % n, ("127.0.0.1", port))
            # Datagrams from one socket to another arrive in order: once client 0's second
            # datagram is relayed, the proxy has handled every datagram sent before it.
            clients[0].sendto(b"client 0 again", ("127.0.0.1", port))
            received = [server.recvfrom(100)[0] for _ in range(3)]
        finally:
            for client in clients:
                client.close()
        assert sorted(received) == [b"client 0", b"client 0 again", b"client 1"]
        proxy.wait_for(r"client table full", "stderr")
        os.killpg(proxy.process.pid, signal.SIGINT)  # Ctrl-C: the normal way to stop
        assert proxy.wait_exit() == 0
    stderr = proxy.stderr()
    assert "Traceback" not in stderr
    assert stderr.count("client table full") == 1, proxy.describe()
    assert "2 datagrams from new clients dropped" in stderr, proxy.describe()
