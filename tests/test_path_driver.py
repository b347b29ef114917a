"""Drivers for a datagram path the application owns (issue 11: WebRTC's ICE): the
application feeds DTLS datagrams in and gives a send callable; aiodtls owns the timers."""

from __future__ import annotations

import asyncio
import os
import queue
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

import pytest

from aiodtls.asyncio import DtlsOverDatagrams
from aiodtls.demux import PacketKind, classify
from aiodtls.errors import CertificateVerificationError, HandshakeError, HandshakeTimeout
from aiodtls.srtp import SrtpProfile
from aiodtls.sync import DtlsPath
from aiodtls.webrtc import Identity, dtls_role, generate_certificate
from pairs import DTLS12_ONLY

T = TypeVar("T")
SRTP_LABEL = "EXTRACTOR-dtls_srtp"


def run(main: Callable[[], Awaitable[T]], limit: float = 30.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(main(), limit)

    return asyncio.run(bounded())


@pytest.fixture(scope="module")
def identities() -> tuple[Identity, Identity]:
    return generate_certificate(), generate_certificate()


class Wire:
    """An in-memory path: each side's send delivers to the other side's feed on the next
    loop iteration, after ``drop(direction, index)`` had its say."""

    def __init__(self, drop: Callable[[str, int], bool] = lambda d, i: False) -> None:
        self.drop = drop
        self.ends: dict[str, DtlsOverDatagrams] = {}
        self.sent = {"a2b": 0, "b2a": 0}
        self.dropped = {"a2b": 0, "b2a": 0}

    def sender(self, direction: str) -> Callable[[bytes], None]:
        loop = asyncio.get_running_loop()
        target = "b" if direction == "a2b" else "a"

        def send(datagram: bytes) -> None:
            index = self.sent[direction]
            self.sent[direction] += 1
            if self.drop(direction, index):
                self.dropped[direction] += 1
                return
            loop.call_soon(self.ends[target].feed, datagram)

        return send


def pair(
    identities: tuple[Identity, Identity], wire: Wire, *, initial_rtt: float | None = None
) -> tuple[DtlsOverDatagrams, DtlsOverDatagrams]:
    """Two peers that exchanged SDP: a offered actpass, b answered active (the client)."""
    a, b = identities
    a_role, b_role = dtls_role("actpass", "active"), dtls_role("active", "actpass")
    # The server first: the client's ClientHello goes out as soon as it exists.
    wire.ends["a"] = DtlsOverDatagrams(
        a.configuration([b.fingerprint()], role=a_role), wire.sender("a2b"), initial_rtt=initial_rtt
    )
    wire.ends["b"] = DtlsOverDatagrams(
        b.configuration([a.fingerprint()], role=b_role), wire.sender("b2a"), initial_rtt=initial_rtt
    )
    return wire.ends["a"], wire.ends["b"]


def test_two_drivers_back_to_back_handshake_and_exchange_data(
    identities: tuple[Identity, Identity],
) -> None:
    async def main() -> None:
        server, client = pair(identities, Wire())
        assert not server.connection.is_client and client.connection.is_client
        s_session, c_session = await asyncio.gather(server.handshake(5), client.handshake(5))
        assert c_session.peer_certificates[0] == identities[0].certificate
        assert s_session.peer_certificates[0] == identities[1].certificate
        assert c_session.export_keying_material(SRTP_LABEL, 60) == (
            s_session.export_keying_material(SRTP_LABEL, 60)
        )
        c_session.send(b"ping")
        assert await s_session.recv(5) == b"ping"
        s_session.send(b"pong")
        assert await c_session.recv(5) == b"pong"
        client.close()
        assert (await server.session.wait_closed()).reason is not None
        server.close()
        assert client.closed and server.closed

    run(main)


@pytest.mark.parametrize("lost", [1, 3])
def test_the_handshake_completes_when_the_first_datagrams_are_lost(
    identities: tuple[Identity, Identity], lost: int
) -> None:
    """Nothing in the application retransmits: the drivers' own timers recover the loss."""

    async def main() -> tuple[int, int]:
        wire = Wire(lambda direction, index: index < lost)  # both directions
        server, client = pair(identities, wire, initial_rtt=0.01)
        await asyncio.gather(server.handshake(20), client.handshake(20))
        assert wire.dropped == {"a2b": lost, "b2a": lost}
        return client.session.handshake.retransmissions, server.session.handshake.retransmissions

    client_retransmissions, server_retransmissions = run(main)
    assert client_retransmissions + server_retransmissions >= 1


def test_send_errors_are_lost_datagrams(identities: tuple[Identity, Identity]) -> None:
    """An OSError from send() (a socket that is down for a moment) is a lost datagram."""

    async def main() -> None:
        a, b = identities
        wire = Wire()
        deliver = wire.sender("b2a")
        failures = 0

        def flaky(datagram: bytes) -> None:
            nonlocal failures
            if failures < 2:
                failures += 1
                raise OSError("network is down (for a moment)")
            deliver(datagram)

        wire.ends["a"] = server = DtlsOverDatagrams(
            a.configuration([b.fingerprint()], role="server"), wire.sender("a2b")
        )
        wire.ends["b"] = client = DtlsOverDatagrams(
            b.configuration([a.fingerprint()], role="client"), flaky, initial_rtt=0.01
        )
        await asyncio.gather(server.handshake(10), client.handshake(10))
        assert failures == 2
        assert client.session.handshake.retransmissions >= 2

    run(main)


def test_a_wrong_pin_fails_the_handshake_on_both_sides(
    identities: tuple[Identity, Identity],
) -> None:
    async def main() -> None:
        a, b = identities
        wire = Wire()
        # DTLS 1.2: its client learns of the refusal within the handshake (a DTLS 1.3 client
        # has completed by the time the server refuses its certificate).
        wire.ends["a"] = server = DtlsOverDatagrams(
            a.configuration(
                [generate_certificate().fingerprint()], role="server", versions=DTLS12_ONLY
            ),
            wire.sender("a2b"),
        )
        wire.ends["b"] = client = DtlsOverDatagrams(
            b.configuration([a.fingerprint()], role="client", versions=DTLS12_ONLY),
            wire.sender("b2a"),
        )
        with pytest.raises(CertificateVerificationError, match="fingerprint"):
            await server.handshake(5)
        with pytest.raises(HandshakeError, match="bad_certificate"):  # the server's alert
            await client.handshake(5)

    run(main)


def test_a_silent_path_ends_in_a_handshake_timeout(identities: tuple[Identity, Identity]) -> None:
    async def main() -> list[bytes]:
        a, b = identities
        sent: list[bytes] = []
        client = DtlsOverDatagrams(
            b.configuration([a.fingerprint()], role="client", handshake_timeout=0.5),
            sent.append,
            initial_rtt=0.02,
        )
        with pytest.raises(HandshakeTimeout):
            await client.handshake()
        assert client.closed
        return sent

    sent = run(main)
    # Resent on the seeded timer (40 ms, doubling) with no help from the application.
    assert len(sent) >= 3 and all(classify(d) is PacketKind.DTLS for d in sent)


# -- a real UDP socket shared with STUN (RFC 7983) --------------------------------------------


class SharedSocket(asyncio.DatagramProtocol):
    """An ICE-like socket: STUN answered here, DTLS handed to the driver, the rest dropped."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.dtls: DtlsOverDatagrams | None = None
        self.stun_answers: asyncio.Queue[bytes] = asyncio.Queue()
        self.kinds: list[PacketKind] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        kind = classify(data)
        self.kinds.append(kind)
        if kind is PacketKind.DTLS and self.dtls is not None:
            self.dtls.feed(data)
        elif kind is PacketKind.STUN and data[:2] == b"\x00\x01" and self.transport is not None:
            self.transport.sendto(b"\x01\x01" + data[2:], addr)  # toy Binding Success
        elif kind is PacketKind.STUN:
            self.stun_answers.put_nowait(data)


def test_over_a_udp_socket_shared_with_stun(identities: tuple[Identity, Identity]) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        a, b = identities
        sockets = []
        for _ in range(2):
            transport, protocol = await loop.create_datagram_endpoint(
                SharedSocket, local_addr=("127.0.0.1", 0)
            )
            sockets.append((transport, protocol))
        (ta, pa), (tb, pb) = sockets
        addr_a, addr_b = ta.get_extra_info("sockname"), tb.get_extra_info("sockname")
        try:
            # ICE connectivity check first, on the same ports.
            transaction = os.urandom(12)
            tb.sendto(b"\x00\x01\x00\x00\x21\x12\xa4\x42" + transaction, addr_a)
            answer = await asyncio.wait_for(pb.stun_answers.get(), 5)
            assert answer[:2] == b"\x01\x01" and answer.endswith(transaction)
            pa.dtls = DtlsOverDatagrams(
                a.configuration([b.fingerprint()], role="server"),
                lambda d: ta.sendto(d, addr_b),
            )
            pb.dtls = DtlsOverDatagrams(
                b.configuration([a.fingerprint()], role="client"),
                lambda d: tb.sendto(d, addr_a),
            )
            await asyncio.gather(pa.dtls.handshake(10), pb.dtls.handshake(10))
            pb.dtls.session.send(b"over ICE")
            assert await pa.dtls.session.recv(5) == b"over ICE"
            # Interleaved STUN after the handshake still goes to the application.
            tb.sendto(b"\x00\x01\x00\x00\x21\x12\xa4\x42" + transaction, addr_a)
            await asyncio.wait_for(pb.stun_answers.get(), 5)
            assert PacketKind.STUN in pa.kinds and PacketKind.DTLS in pa.kinds
            pb.dtls.close()
            pa.dtls.close()
        finally:
            ta.close()
            tb.close()

    run(main)


# -- the blocking flavour -------------------------------------------------------------------


class BlockingWire:
    """An in-memory path between two DtlsPath objects: a delivery thread per direction, so
    send() never calls into the other side while holding its own lock."""

    def __init__(self, drop: Callable[[str, int], bool] = lambda d, i: False) -> None:
        self.drop = drop
        self.ends: dict[str, DtlsPath] = {}
        self.queues: dict[str, queue.Queue[bytes | None]] = {
            "a2b": queue.Queue(),
            "b2a": queue.Queue(),
        }
        self.sent = {"a2b": 0, "b2a": 0}
        self.threads = [
            threading.Thread(target=self._deliver, args=(d,), daemon=True) for d in self.queues
        ]

    def sender(self, direction: str) -> Callable[[bytes], None]:
        def send(datagram: bytes) -> None:
            index = self.sent[direction]
            self.sent[direction] += 1
            if not self.drop(direction, index):
                self.queues[direction].put(datagram)

        return send

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        for q in self.queues.values():
            q.put(None)
        for thread in self.threads:
            thread.join(5)

    def _deliver(self, direction: str) -> None:
        target = "b" if direction == "a2b" else "a"
        while (datagram := self.queues[direction].get()) is not None:
            self.ends[target].feed(datagram)


@pytest.mark.parametrize("timer_thread", [True, False], ids=["timer-thread", "no-thread"])
@pytest.mark.parametrize("lost", [0, 2])
def test_blocking_drivers_back_to_back(
    identities: tuple[Identity, Identity], timer_thread: bool, lost: int
) -> None:
    """Without a timer thread, wait_handshake() and recv() run the timers while they wait."""
    a, b = identities
    wire = BlockingWire(lambda direction, index: index < lost)
    profiles = [SrtpProfile.SRTP_AEAD_AES_128_GCM, SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80]
    server = wire.ends["a"] = DtlsPath(
        a.configuration([b.fingerprint()], role="server", srtp_profiles=profiles),
        wire.sender("a2b"),
        initial_rtt=0.01,
        timer_thread=timer_thread,
    )
    client = wire.ends["b"] = DtlsPath(
        b.configuration([a.fingerprint()], role="client", srtp_profiles=profiles[::-1]),
        wire.sender("b2a"),
        initial_rtt=0.01,
        timer_thread=timer_thread,
    )
    wire.start()
    try:
        done: list[object] = []
        waiter = threading.Thread(target=lambda: done.append(server.wait_handshake(10)))
        waiter.start()
        client_done = client.wait_handshake(10)
        waiter.join(10)
        assert len(done) == 1 and client_done.peer_certificates[0] == a.certificate
        assert server.handshake.peer_certificates[0] == b.certificate
        if lost:
            assert client_done.retransmissions + server.handshake.retransmissions >= 1
        assert client.export_keying_material(SRTP_LABEL, 60) == server.export_keying_material(
            SRTP_LABEL, 60
        )
        # DTLS-SRTP over the application's path: the server's preference wins, and each side's
        # local master key is the other's remote one.
        keys, peer_keys = client.srtp_keying_material(), server.srtp_keying_material()
        assert keys.profile == peer_keys.profile == SrtpProfile.SRTP_AEAD_AES_128_GCM
        assert (keys.local_master, keys.remote_master) == (
            peer_keys.remote_master,
            peer_keys.local_master,
        )
        client.send(b"ping")
        assert server.recv(5) == b"ping"
        server.send(b"pong")
        assert client.recv(5) == b"pong"
        client.close()
        assert server.recv(5) is None  # close_notify: a clean end
        assert server.terminated is not None and server.terminated.by_peer
    finally:
        client.close()
        server.close()
        wire.stop()


def test_the_blocking_timer_thread_retransmits_while_the_application_does_nothing(
    identities: tuple[Identity, Identity],
) -> None:
    a, b = identities
    sent: list[bytes] = []
    client = DtlsPath(
        b.configuration([a.fingerprint()], role="client", handshake_timeout=0.4),
        sent.append,
        initial_rtt=0.02,
    )
    try:
        deadline = time.monotonic() + 5
        while client.terminated is None and time.monotonic() < deadline:
            time.sleep(0.02)  # nobody calls into the path
        assert client.terminated is not None and "timed out" in client.terminated.reason
        assert len(sent) >= 3  # 40 ms, then doubling, until the 0.4 s deadline
        with pytest.raises(HandshakeTimeout):
            client.wait_handshake(1)
    finally:
        client.close()


def test_without_a_thread_handle_timers_retransmits(identities: tuple[Identity, Identity]) -> None:
    a, b = identities
    sent: list[bytes] = []
    client = DtlsPath(
        b.configuration([a.fingerprint()], role="client"),
        sent.append,
        initial_rtt=0.02,
        timer_thread=False,
    )
    assert len(sent) == 1
    first = client.next_timer()
    assert first is not None
    time.sleep(0.1)
    assert len(sent) == 1  # no thread: nothing happens by itself
    after = client.handle_timers()
    assert len(sent) == 2 and after is not None and after > first
    client.close()


# -- a path whose send() calls straight into the peer --------------------------------------


def test_asyncio_send_may_call_the_peers_feed_directly(
    identities: tuple[Identity, Identity],
) -> None:
    """The simplest in-memory path: send() is the other side's feed(). The answer comes back
    into our feed() while we are still sending; it is processed right after."""

    async def main() -> None:
        a, b = identities
        ends: dict[str, DtlsOverDatagrams] = {}
        depth = 0

        def to(name: str) -> Callable[[bytes], None]:
            def send(datagram: bytes) -> None:
                nonlocal depth
                depth += 1
                if name in ends:  # bob's first ClientHello goes out before alice knows him
                    ends[name].feed(datagram)
                depth -= 1

            return send

        ends["a"] = DtlsOverDatagrams(
            a.configuration([b.fingerprint()], role="server"), to("b"), initial_rtt=0.01
        )
        ends["b"] = DtlsOverDatagrams(
            b.configuration([a.fingerprint()], role="client"), to("a"), initial_rtt=0.01
        )
        server, client = await asyncio.gather(ends["a"].handshake(5), ends["b"].handshake(5))
        client.send(b"direct")
        assert await server.recv(5) == b"direct"
        server.send(b"back")
        assert await client.recv(5) == b"back"
        assert depth == 0
        ends["b"].close()
        ends["a"].close()

    run(main)


def test_blocking_send_may_call_the_peers_feed_directly(
    identities: tuple[Identity, Identity],
) -> None:
    a, b = identities
    ends: dict[str, DtlsPath] = {}

    def to(name: str) -> Callable[[bytes], None]:
        return lambda datagram: ends[name].feed(datagram) if name in ends else None

    ends["a"] = server = DtlsPath(
        a.configuration([b.fingerprint()], role="server"), to("b"), initial_rtt=0.01
    )
    ends["b"] = client = DtlsPath(
        b.configuration([a.fingerprint()], role="client"), to("a"), initial_rtt=0.01
    )
    try:
        assert client.wait_handshake(5).peer_certificates[0] == a.certificate
        assert server.wait_handshake(5).peer_certificates[0] == b.certificate
        client.send(b"direct")
        assert server.recv(5) == b"direct"
        server.send(b"back")
        assert client.recv(5) == b"back"
    finally:
        client.close()
        server.close()


def test_the_cookie_exchange_is_off_unless_asked_for(identities: tuple[Identity, Identity]) -> None:
    """WebRTC does not use HelloVerifyRequest; cookie_exchange=True turns it back on."""

    async def flights(cookie_exchange: bool | None) -> tuple[bool, int]:
        a, b = identities
        wire = Wire()
        wire.ends["a"] = server = DtlsOverDatagrams(
            a.configuration([b.fingerprint()], role="server"),
            wire.sender("a2b"),
            cookie_exchange=cookie_exchange,
        )
        wire.ends["b"] = client = DtlsOverDatagrams(
            b.configuration([a.fingerprint()], role="client"), wire.sender("b2a")
        )
        await asyncio.gather(server.handshake(5), client.handshake(5))
        return server.connection.configuration.cookie_exchange, wire.sent["b2a"]

    async def main() -> None:
        off, sent_off = await flights(None)
        on, sent_on = await flights(True)
        assert (off, on) == (False, True)
        assert sent_on == sent_off + 1  # the ClientHello again, with the cookie

    run(main)


def test_handshake_timeout_argument(identities: tuple[Identity, Identity]) -> None:
    async def main() -> None:
        a, b = identities
        client = DtlsOverDatagrams(b.configuration([a.fingerprint()], role="client"), len)
        with pytest.raises(HandshakeTimeout, match=r"after 0.2 s \(handshake timeout\)"):
            await client.handshake(0.2)
        assert client.closed

    run(main)


def test_blocking_drivers_over_real_udp_sockets(identities: tuple[Identity, Identity]) -> None:
    """DtlsPath over two UDP sockets on 127.0.0.1, each read by the application's own receive
    thread that feeds what arrives, as an ICE agent's socket loop would; sendto is the send."""
    a, b = identities
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.05)
    sa, sb = sockets
    addr_a, addr_b = sa.getsockname(), sb.getsockname()
    server = DtlsPath(
        a.configuration([b.fingerprint()], role="server"), lambda d: sa.sendto(d, addr_b)
    )
    client = DtlsPath(
        b.configuration([a.fingerprint()], role="client"), lambda d: sb.sendto(d, addr_a)
    )
    stop = threading.Event()

    def receive(sock: socket.socket, path: DtlsPath) -> None:
        while not stop.is_set():
            try:
                data = sock.recv(2048)
            except (TimeoutError, OSError):
                continue
            path.feed(data)

    readers = [
        threading.Thread(target=receive, args=(sa, server), daemon=True),
        threading.Thread(target=receive, args=(sb, client), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        done: list[object] = []
        waiter = threading.Thread(target=lambda: done.append(server.wait_handshake(10)))
        waiter.start()
        assert client.wait_handshake(10).peer_certificates[0] == a.certificate
        waiter.join(10)
        assert len(done) == 1 and server.handshake.peer_certificates[0] == b.certificate
        client.send(b"over a real socket")
        assert server.recv(5) == b"over a real socket"
        server.send(b"and back")
        assert client.recv(5) == b"and back"
        client.close()
        assert server.recv(5) is None  # close_notify
    finally:
        client.close()
        server.close()
        stop.set()
        for reader in readers:
            reader.join(5)
        for sock in sockets:
            sock.close()
