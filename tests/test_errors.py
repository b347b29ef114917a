"""Errors a person can catch and understand (issue 10, part A), through the public APIs.

One exception hierarchy (``aiodtls.errors``) raised alike by ``aiodtls.asyncio`` and
``aiodtls.sync``; ``connect(timeout=)`` and ``recv(timeout=)``; ICMP port unreachable ending
a client's handshake or session at once; a client naming a server that ignores its Finished
(wrong PSK); wrapping an application's own socket and protocol class. Real loopback sockets;
a vanishing server is an ``aiodtls server`` process killed with SIGKILL (no close_notify).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import aiodtls
import aiodtls.asyncio as aio
import aiodtls.sync as sync
from aiodtls import (
    AlertDescription,
    AlertReceived,
    CertificateVerificationError,
    ConnectionClosed,
    DtlsConfiguration,
    DtlsConnection,
    DtlsError,
    HandshakeAlertReceived,
    HandshakeError,
    HandshakePeerUnreachable,
    HandshakeTimeout,
    PeerUnreachable,
)
from aiodtls.errors import exception_for
from aiodtls.record.header import ContentType, RawRecord, split_datagram
from interop.peers import aiodtls_command, aiodtls_env, free_udp_port, udp_port_bound
from pairs import (
    PSK,
    PSK_IDENTITY,
    client_config,
    handshake,
    psk_configs,
    psk_configs12,
    server_config,
)

# -- helpers ---------------------------------------------------------------------------------


def closed_port() -> int:
    """A loopback UDP port nothing listens on (bound, read, closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@contextlib.contextmanager
def silent_port() -> Iterator[int]:
    """A loopback UDP port that is bound but never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


@contextlib.contextmanager
def vanishing_server() -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """An ``aiodtls server --echo`` (PSK) process; the test kills it when it wants."""
    port = free_udp_port()
    argv = aiodtls_command(
        "server", "--port", str(port), "--echo", "--psk", PSK.hex(), "--psk-identity", "client1"
    )
    process = subprocess.Popen(
        argv,
        env=aiodtls_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while not udp_port_bound(port):
            assert process.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        yield port, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(5)


def kill(process: subprocess.Popen[bytes]) -> None:
    """Kill without letting it send anything (no close_notify), and wait until it is gone."""
    process.send_signal(signal.SIGKILL)
    process.wait(5)


def psk_client() -> DtlsConfiguration:
    return psk_configs()[0]


def fatal_alert_record(description: int) -> bytes:
    """A plaintext DTLS 1.2 fatal alert record (epoch 0, sequence 0)."""
    header = bytes([ContentType.alert, 0xFE, 0xFD]) + bytes(8) + (2).to_bytes(2, "big")
    return header + bytes([2, description])


def hello_verify_request() -> bytes:
    """A plaintext HelloVerifyRequest record with a one-byte cookie."""
    body = b"\xfe\xff\x01c"
    fragment = bytes([3]) + len(body).to_bytes(3, "big") + bytes(5) + len(body).to_bytes(3, "big")
    payload = fragment + body
    return (
        bytes([ContentType.handshake, 0xFE, 0xFF])
        + bytes(8)
        + len(payload).to_bytes(2, "big")
        + payload
    )


class _Answer(asyncio.DatagramProtocol):
    """A fake server: answers the first datagram with ``reply``, then optionally vanishes."""

    def __init__(self, reply: bytes, vanish: bool = False) -> None:
        self.reply = reply
        self.vanish = vanish
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.transport is None:
            return
        self.transport.sendto(self.reply, addr)
        if self.vanish:
            self.transport.close()
            self.transport = None


async def echo(session: aio.DtlsSession) -> None:
    async for data in session:
        session.send(data)


# -- the hierarchy ---------------------------------------------------------------------------


def test_one_hierarchy_shared_by_both_apis_and_the_old_names() -> None:
    # The old names are the same classes, so existing except clauses keep working.
    assert sync.DtlsError is DtlsError
    assert aio.ConnectionClosed is ConnectionClosed
    assert issubclass(DtlsError, ConnectionError)
    assert issubclass(HandshakeTimeout, TimeoutError)
    for cls in (HandshakeError, AlertReceived, PeerUnreachable):
        assert issubclass(cls, ConnectionClosed)
    for cls in (HandshakeTimeout, CertificateVerificationError):
        assert issubclass(cls, HandshakeError)
    assert issubclass(HandshakeAlertReceived, AlertReceived)
    assert issubclass(HandshakeAlertReceived, HandshakeError)
    assert issubclass(HandshakePeerUnreachable, PeerUnreachable)
    assert issubclass(HandshakePeerUnreachable, HandshakeError)
    assert "Alert" not in aiodtls.__all__
    assert "AlertDescription" in aiodtls.__all__
    assert {"DtlsError", "HandshakeError", "PeerUnreachable", "AlertReceived"} <= set(
        aiodtls.__all__
    )


def test_every_ending_maps_to_exactly_one_class() -> None:
    T = aiodtls.ConnectionTerminated
    cases = [
        (T(AlertDescription.close_notify, "peer sent close_notify", True), ConnectionClosed),
        (T(AlertDescription.close_notify, "closed", False, True), HandshakeError),
        (T(None, "idle timeout", False), ConnectionClosed),
        (T(None, "handshake timed out after 3 retransmissions", False, True), HandshakeTimeout),
        (T(AlertDescription.unknown_ca, "not trusted", False, True), CertificateVerificationError),
        (T(AlertDescription.handshake_failure, "no suite", False, True), HandshakeError),
        (T(AlertDescription.bad_certificate, "peer sent alert bad_certificate", True, True),
         HandshakeAlertReceived),
        (T(None, "peer sent alert alert_200", True), AlertReceived),
        (T(None, "nothing is listening", True, True, unreachable=True), HandshakePeerUnreachable),
        (T(None, "the peer went away", True, False, unreachable=True), PeerUnreachable),
        (T(None, "the transport was closed", True), ConnectionClosed),
    ]  # fmt: skip
    for terminated, cls in cases:
        exc = exception_for(terminated)
        assert type(exc) is cls, (terminated, type(exc))
        assert exc.terminated is terminated
    assert exception_for(cases[7][0]).alert_name == "alert_200"  # type: ignore[attr-defined]


# -- ICMP port unreachable -------------------------------------------------------------------


def test_sync_client_aimed_at_a_closed_port_fails_in_under_a_second() -> None:
    port = closed_port()
    start = time.monotonic()
    with pytest.raises(HandshakePeerUnreachable) as failure:
        sync.connect("127.0.0.1", port, configuration=psk_client())
    assert time.monotonic() - start < 1.0
    assert str(failure.value) == (
        f"nothing is listening at 127.0.0.1:{port} (ICMP port unreachable): is the server running?"
    )


def test_asyncio_client_aimed_at_a_closed_port_fails_in_under_a_second() -> None:
    port = closed_port()

    async def main() -> float:
        start = time.monotonic()
        with pytest.raises(HandshakePeerUnreachable) as failure:
            async with aio.connect("127.0.0.1", port, configuration=psk_client()):
                pass
        assert f"nothing is listening at 127.0.0.1:{port}" in str(failure.value)
        return time.monotonic() - start

    assert asyncio.run(main()) < 1.0


def test_cli_client_aimed_at_a_closed_port_says_so_in_under_a_second() -> None:
    port = closed_port()
    start = time.monotonic()
    done = subprocess.run(
        aiodtls_command("client", f"127.0.0.1:{port}", "--psk", PSK.hex()),
        env=aiodtls_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    elapsed = time.monotonic() - start  # includes starting Python
    assert done.returncode == 1
    assert f"nothing is listening at 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr
    assert elapsed < 10  # the handshake alone would wait 60 s


def test_peer_that_stops_answering_mid_handshake_is_named() -> None:
    # The peer answers the ClientHello (a HelloVerifyRequest), then closes its socket, as Mbed
    # TLS, wolfSSL and GnuTLS do when they give up without an alert.
    async def main() -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Answer(hello_verify_request(), vanish=True), local_addr=("127.0.0.1", 0)
        )
        port = transport.get_extra_info("sockname")[1]
        with pytest.raises(HandshakePeerUnreachable) as failure:
            async with aio.connect("127.0.0.1", port, configuration=psk_client(), timeout=10):
                pass
        assert str(failure.value).startswith(
            f"the peer stopped answering during the handshake: 127.0.0.1:{port} is unreachable"
        )
        transport.close()

    asyncio.run(main())


def test_sync_session_whose_server_died_ends_on_the_next_recv() -> None:
    with vanishing_server() as (port, process):
        dtls = sync.connect("127.0.0.1", port, configuration=psk_client(), timeout=10)
        dtls.send(b"ping")
        assert dtls.recv(timeout=10) == b"ping"
        kill(process)
        dtls.send(b"anyone?")  # the datagram that meets the closed port
        with pytest.raises(PeerUnreachable) as failure:
            dtls.recv(timeout=10)  # raises, not None after 10 s: the ICMP error ended it
        assert not isinstance(failure.value, HandshakeError)
        assert str(failure.value) == (
            f"the peer went away: 127.0.0.1:{port} is unreachable (ICMP port unreachable)"
        )
        with pytest.raises(PeerUnreachable):
            dtls.send(b"again")
        dtls.close()


def test_sync_session_reads_what_the_peer_sent_before_it_went_away() -> None:
    # wolfSSL's DTLS 1.3 server exits right after its answer: the answer is in our socket's
    # queue when the ICMP error of our next datagram (an ACK) arrives, and Linux reports the
    # error first. The answer must still be read, and the error end the session after it.
    with vanishing_server() as (port, process):
        dtls = sync.connect("127.0.0.1", port, configuration=psk_client(), timeout=10)
        dtls.send(b"ping")
        time.sleep(0.5)  # the echo is queued in our socket, not yet read
        kill(process)
        dtls.send(b"anyone?")  # meets the closed port: the ICMP error is queued after the echo
        time.sleep(0.2)
        assert dtls.recv(timeout=10) == b"ping"
        with pytest.raises(PeerUnreachable):
            dtls.recv(timeout=10)
        dtls.close()


def test_asyncio_session_whose_server_died_ends_on_the_next_recv() -> None:
    async def main(port: int, process: subprocess.Popen[bytes]) -> None:
        async with aio.connect("127.0.0.1", port, configuration=psk_client(), timeout=10) as s:
            s.send(b"ping")
            assert await s.recv(timeout=10) == b"ping"
            kill(process)
            s.send(b"anyone?")
            with pytest.raises(PeerUnreachable) as failure:
                await s.recv(timeout=10)
            assert "the peer went away" in str(failure.value)
            with pytest.raises(PeerUnreachable):
                s.send(b"again")

    with vanishing_server() as (port, process):
        asyncio.run(main(port, process))


def test_a_vanished_client_does_not_disturb_the_sync_server() -> None:
    server_cfg = psk_configs()[1]
    with sync.DtlsServer("127.0.0.1", 0, configuration=server_cfg) as server:
        port = server.address[1]
        gone_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        gone_sock.connect(("127.0.0.1", port))
        # wrap_socket blocks in the handshake, so the server must run meanwhile: a thread.
        accepted: list[sync.DtlsSocket] = []
        thread = threading.Thread(target=lambda: accepted.append(server.accept(timeout=10)))
        thread.start()
        gone = sync.wrap_socket(gone_sock, configuration=psk_client(), timeout=10)
        assert gone.handshake.psk_identity == PSK_IDENTITY
        thread.join(10)
        (peer,) = accepted
        gone_sock.close()  # the client vanishes without close_notify
        peer.send(b"to nobody")  # the server's datagram meets a closed port
        thread = threading.Thread(target=lambda: accepted.append(server.accept(timeout=10)))
        thread.start()
        with sync.connect("127.0.0.1", port, configuration=psk_client(), timeout=10) as other:
            thread.join(10)
            other.send(b"still there?")
            assert accepted[1].recv(timeout=10) == b"still there?"
        assert peer.terminated is None  # nothing ended the vanished peer's association


def test_a_vanished_client_does_not_disturb_the_asyncio_server() -> None:
    async def main() -> None:
        client_cfg, server_cfg = psk_configs()
        sessions: list[aio.DtlsSession] = []

        async def keep(session: aio.DtlsSession) -> None:
            sessions.append(session)
            await echo(session)

        server = await aio.serve("127.0.0.1", 0, configuration=server_cfg, handler=keep)
        port = server.address[1]
        gone_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        gone_sock.connect(("127.0.0.1", port))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(
            None, lambda: sync.wrap_socket(gone_sock, configuration=client_cfg, timeout=10)
        )
        gone_sock.close()  # the client vanishes without close_notify
        while not sessions:
            await asyncio.sleep(0.01)
        sessions[0].send(b"to nobody")  # meets a closed port
        await asyncio.sleep(0.1)
        async with aio.connect("127.0.0.1", port, configuration=client_cfg, timeout=10) as s:
            s.send(b"still there?")
            assert await s.recv(timeout=10) == b"still there?"
        assert not sessions[0].closed
        server.close()
        await server.wait_closed()

    asyncio.run(main())


# -- timeouts --------------------------------------------------------------------------------


def test_sync_connect_timeout_raises_handshake_timeout() -> None:
    with silent_port() as port:
        start = time.monotonic()
        with pytest.raises(HandshakeTimeout) as failure:
            sync.connect("127.0.0.1", port, configuration=psk_client(), timeout=0.3)
        assert time.monotonic() - start < 5  # not the 60 s handshake_timeout
    assert isinstance(failure.value, TimeoutError)
    assert "0.3 s" in str(failure.value)


def test_asyncio_connect_timeout_raises_handshake_timeout() -> None:
    async def main(port: int) -> None:
        with pytest.raises(HandshakeTimeout) as failure:
            async with aio.connect("127.0.0.1", port, configuration=psk_client(), timeout=0.3):
                pass
        assert isinstance(failure.value, TimeoutError)
        assert "0.3 s" in str(failure.value)

    with silent_port() as port:
        start = time.monotonic()
        asyncio.run(main(port))
        assert time.monotonic() - start < 5


def test_handshake_timeout_of_the_configuration_is_a_handshake_timeout_too() -> None:
    config = psk_client()
    config.handshake_timeout = 0.5
    with silent_port() as port, pytest.raises(HandshakeTimeout) as failure:
        sync.connect("127.0.0.1", port, configuration=config)
    assert "handshake timed out after" in str(failure.value)


def test_asyncio_recv_timeout_raises_and_the_session_goes_on() -> None:
    async def main() -> None:
        client_cfg, server_cfg = psk_configs()
        server = await aio.serve("127.0.0.1", 0, configuration=server_cfg, handler=echo)
        async with aio.connect("127.0.0.1", server.address[1], configuration=client_cfg) as s:
            with pytest.raises(TimeoutError) as failure:
                await s.recv(timeout=0.1)
            assert not isinstance(failure.value, DtlsError)
            s.send(b"after")
            assert await s.recv(timeout=10) == b"after"
        server.close()
        await server.wait_closed()

    asyncio.run(main())


def test_sync_recv_timeout_returns_none_and_clean_close_too() -> None:
    client_cfg, server_cfg = psk_configs()
    with sync.DtlsServer("127.0.0.1", 0, configuration=server_cfg) as server:
        accepted: list[sync.DtlsSocket] = []
        thread = threading.Thread(target=lambda: accepted.append(server.accept(timeout=10)))
        thread.start()
        dtls = sync.connect("127.0.0.1", server.address[1], configuration=client_cfg, timeout=10)
        thread.join(10)
        assert dtls.recv(timeout=0.1) is None and dtls.terminated is None  # a timeout
        accepted[0].close()
        assert dtls.recv(timeout=10) is None  # a clean close
        assert dtls.terminated is not None
        assert dtls.terminated.alert == AlertDescription.close_notify
        with pytest.raises(ConnectionClosed) as failure:
            dtls.send(b"late")
        assert type(failure.value) is ConnectionClosed and failure.value.clean
        dtls.close()


def test_asyncio_recv_after_a_clean_close_raises_connection_closed_itself() -> None:
    async def main() -> None:
        client_cfg, server_cfg = psk_configs()

        async def close_at_once(session: aio.DtlsSession) -> None:
            session.close()

        server = await aio.serve("127.0.0.1", 0, configuration=server_cfg, handler=close_at_once)
        async with aio.connect("127.0.0.1", server.address[1], configuration=client_cfg) as s:
            with pytest.raises(ConnectionClosed) as failure:
                await s.recv(timeout=10)
            assert type(failure.value) is ConnectionClosed
            assert failure.value.clean and failure.value.by_peer
        server.close()
        await server.wait_closed()

    asyncio.run(main())


# -- failures by name ------------------------------------------------------------------------


def test_certificate_verification_error_carries_the_verifiers_reason() -> None:
    async def main() -> None:
        server = await aio.serve("127.0.0.1", 0, configuration=server_config(), handler=echo)
        client_cfg = client_config()
        client_cfg.server_name = "wrong.example"
        with pytest.raises(CertificateVerificationError) as failure:
            async with aio.connect("127.0.0.1", server.address[1], configuration=client_cfg):
                pass
        exc = failure.value
        assert exc.alert == AlertDescription.bad_certificate
        # The verifier's reason, said in words (docs/certificates.md): the name it was for.
        assert "is for localhost, 127.0.0.1, not 'wrong.example'" in exc.reason
        assert exc.reason == exc.terminated.reason
        server.close()
        await server.wait_closed()

    asyncio.run(main())


def test_alert_during_the_handshake_is_both_alert_received_and_handshake_error() -> None:
    client_cfg, server_cfg = psk_configs()
    server_cfg.psk = None
    server_cfg.psk_lookup = {b"someone else": PSK}.get
    with sync.DtlsServer("127.0.0.1", 0, configuration=server_cfg) as server:
        thread = threading.Thread(target=server.serve_for, args=(1.5,))  # fails in ms
        thread.start()
        try:
            with pytest.raises(HandshakeAlertReceived) as failure:
                sync.connect("127.0.0.1", server.address[1], configuration=client_cfg, timeout=10)
        finally:
            thread.join(10)
    exc = failure.value
    assert isinstance(exc, AlertReceived) and isinstance(exc, HandshakeError)
    assert exc.alert == AlertDescription.unknown_psk_identity
    assert exc.alert_name == "unknown_psk_identity"
    assert str(exc) == "peer sent alert unknown_psk_identity (it does not know our PSK identity)"


@pytest.mark.parametrize(
    ("value", "name", "member"),
    [
        (41, "no_certificate", AlertDescription.no_certificate),
        (116, "certificate_required", AlertDescription.certificate_required),
        (200, "alert_200", None),
    ],
)
def test_alerts_outside_the_common_set_are_named(
    value: int, name: str, member: AlertDescription | None
) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Answer(fatal_alert_record(value)), local_addr=("127.0.0.1", 0)
        )
        port = transport.get_extra_info("sockname")[1]
        with pytest.raises(HandshakeAlertReceived) as failure:
            async with aio.connect("127.0.0.1", port, configuration=psk_client(), timeout=10):
                pass
        assert failure.value.alert == member
        assert failure.value.alert_name == name
        assert str(failure.value).startswith(f"peer sent alert {name}")
        transport.close()

    asyncio.run(main())


# -- a server that ignores our Finished (wrong PSK) ------------------------------------------


def test_client_names_a_server_that_silently_drops_its_finished() -> None:
    # The server drops the Finished it cannot verify and just repeats its flight, as OpenSSL
    # does (wrong_key_repeats=0 keeps it from naming the problem itself).
    client, server = psk_configs12(client_psk=b"\x00" * 16, wrong_key_repeats=0)
    ended: list[float] = []
    client.trace = lambda r: ended.append(r.time) if r.kind == "terminated" else None
    pair = handshake(client, server)
    c = pair.client_outcome.terminated
    assert c is not None and c.alert == AlertDescription.handshake_failure
    assert c.reason.endswith("it cannot verify our Finished, so the keys differ (wrong PSK?)")
    assert type(exception_for(c)) is HandshakeError
    # In memory the RTO is min_rto (0.1 s): named within a few of them, not at the 60 s timeout.
    assert ended and ended[0] < 1.0


def test_lost_finished_copies_are_not_taken_for_a_wrong_psk() -> None:
    # The right PSK, but the first seven copies of the client's Finished flight are lost
    # while the server keeps repeating its flight: the handshake must still complete.
    lost = {"count": 0}

    def deliver(direction: str, data: bytes) -> list[bytes]:
        if direction == "c2s" and lost["count"] < 7:
            records = [r for r in split_datagram(data) if isinstance(r, RawRecord)]
            if any(r.content_type == ContentType.change_cipher_spec for r in records):
                lost["count"] += 1
                return []
        return [data]

    client, server = psk_configs12(wrong_key_repeats=0)
    pair = handshake(client, server, deliver)
    assert lost["count"] == 7
    assert pair.client_outcome.completed is not None, pair.client_outcome.terminated


# -- the application's own socket and protocol -----------------------------------------------


def test_sync_wrap_socket_and_server_from_socket() -> None:
    client_cfg, server_cfg = psk_configs()
    server_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server_sock.bind(("127.0.0.1", 0))
    with sync.DtlsServer.from_socket(server_sock, configuration=server_cfg) as server:
        assert server.address == server_sock.getsockname()
        accepted: list[sync.DtlsSocket] = []
        thread = threading.Thread(target=lambda: accepted.append(server.accept(timeout=10)))
        thread.start()
        client_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client_sock.bind(("127.0.0.1", 0))  # e.g. a fixed local port the application chose
        with sync.wrap_socket(
            client_sock, configuration=client_cfg, server_address=server.address, timeout=10
        ) as dtls:
            thread.join(10)
            dtls.send(b"over my socket")
            assert accepted[0].recv(timeout=10) == b"over my socket"
            assert accepted[0].peer_address == client_sock.getsockname()
            assert dtls.handshake.psk_identity == PSK_IDENTITY
        assert client_sock.fileno() == -1  # closed with the DtlsSocket that owned it
    with pytest.raises(ValueError, match="client configuration"):
        sync.wrap_socket(socket.socket(socket.AF_INET, socket.SOCK_DGRAM), configuration=server_cfg)


def test_asyncio_create_protocol_hooks() -> None:
    events: list[str] = []

    class CountingClient(aio.DtlsProtocol):
        def datagram_received(self, data: bytes, addr: Any) -> None:
            events.append("client datagram")
            super().datagram_received(data, addr)

    class Server(aio.DtlsServerProtocol):
        def session_established(self, session: aio.DtlsSession) -> None:
            events.append("server session")
            super().session_established(session)

    async def main() -> None:
        client_cfg, server_cfg = psk_configs()
        server = await aio.serve(
            "127.0.0.1", 0, configuration=server_cfg, handler=echo, create_protocol=Server
        )

        def make(connection: DtlsConnection) -> aio.DtlsProtocol:
            return CountingClient(connection)

        async with aio.connect(
            "127.0.0.1", server.address[1], configuration=client_cfg, create_protocol=make
        ) as s:
            s.send(b"hooked")
            assert await s.recv(timeout=10) == b"hooked"
        server.close()
        await server.wait_closed()

    asyncio.run(main())
    assert "server session" in events and "client datagram" in events


def test_the_errors_page_example_runs() -> None:
    # docs/errors.md is not a guide-*.md (tests/test_docs_snippets.py), so its runnable block
    # is run here.
    text = (Path(__file__).resolve().parent.parent / "docs" / "errors.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1
    done = subprocess.run(
        [sys.executable, "-c", blocks[0]],
        env=aiodtls_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert "nothing is listening at 127.0.0.1:" in done.stdout
