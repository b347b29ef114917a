"""DTLS 1.3 interop with wolfSSL 5.7.2's example server and client (issue 14, SPEC V1-V20).

Our DTLS 1.3 client (``DtlsConfiguration(versions=(ProtocolVersion.DTLSv1_3,))`` through the
blocking API, in this process) against wolfSSL's ``server -u -v 4``, and wolfSSL's
``client -u -v 4`` against our DTLS 1.3 server (a :class:`~aiodtls.sync.DtlsServer` here),
each with data both ways:

- certificates: ECDSA P-256 and an RSA chain (CertificateVerify rsa_pss_rsae_sha256), and
  client authentication (CertificateRequest, the client's Certificate and CertificateVerify);
- external PSK: wolfSSL's own TLS 1.3 test key (:data:`~interop.launch.WOLFSSL_PSK13_HEX`,
  identity ``Client_identity``) with TLS_AES_128_GCM_SHA256;
- HelloRetryRequest with a cookie (wolfSSL's DTLS 1.3 server sends one to every first
  ClientHello by default; our server does with ``cookie_exchange``) and for a key share in
  another group, checked on the wire through a recording relay;
- resumption with the NewSessionTicket of the first connection (our client; wolfSSL 5.7.2's
  client cannot resume with our server, which does not echo its legacy_session_id: pinned);
- KeyUpdate started by either side, seen on the wire as records of epoch 4 both ways;
- the version-flexible wolfSSL server (``-v d``) negotiating DTLS 1.3 with our client, and our
  server allowing both versions answering ``openssl s_client -dtls1_2`` and wolfSSL's DTLS 1.2
  client with DTLS 1.2 (ServerHello.random ending in ``DOWNGRD\\x01``, RFC 8446 §4.1.3) and its
  DTLS 1.3 client with DTLS 1.3.

And wolfSSL with itself, for the wire facts those tests rely on: its server asks every client
for a cookie, its resuming client sends a 32-byte legacy_session_id that must come back, its
version-flexible server marks a DTLS 1.2 answer with the downgrade sentinel, a KeyUpdate moves
both sides to epoch 4.

wolfSSL's behaviour on the wire (HRR message_seq, ACK timing and order, NewSessionTicket,
KeyUpdate) is written down in the notes of issue 14 (wolfssl13.md); the wolfSSL tree comes
from ``AIODTLS_WOLFSSL_DIR`` as for test_wolfssl.py (skipped without it, failing under CI).
The example server reads one message, prints ``Client message: ...`` and answers
``I hear you fa shizzle!``; the example client sends ``hello wolfssl!`` and prints the answer.
"""

from __future__ import annotations

import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, Protocol, cast

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

import aiodtls.sync as sync
from aiodtls import DtlsConfiguration, NamedGroup, ProtocolVersion, ServerSessionStore, Suite13
from aiodtls.configuration import PrivateKey
from aiodtls.handshake.cookie import HELLO_VERIFY_COPIES
from aiodtls.handshake.messages.hello import (
    ClientHello,
    ServerHello,
    decode_client_hello,
    decode_server_hello,
)
from aiodtls.wire import UNIFIED_FIRST_BYTES, RawRecord, split_datagram

from .launch import (
    OPENSSL,
    WOLFSSL,
    WOLFSSL_PSK13_HEX,
    WOLFSSL_PSK13_IDENTITY,
    require_wolfssl,
)
from .peers import (
    CASES,
    Datagram,
    InteropFiles,
    PeerProcess,
    PeerSet,
    UdpRelay,
    free_udp_port,
)

# A real-peer matrix (about 40 wolfSSL runs): the slow pass of .ci/run, like the long sweeps.
pytestmark = [pytest.mark.interop, pytest.mark.slow]

DTLS13 = (ProtocolVersion.DTLSv1_3,)
"Only DTLS 1.3."
BOTH = (ProtocolVersion.DTLSv1_2, ProtocolVersion.DTLSv1_3)
"DTLS 1.2 and 1.3."
AES128 = Suite13.TLS_AES_128_GCM_SHA256

REPLY = b"I hear you fa shizzle!"
"What wolfSSL's example server answers to the first message."
HELLO = b"hello wolfssl!"
"What wolfSSL's example client sends (again after a KeyUpdate with ``-I``)."
RESUMING = b"resuming wolfssl!"
"What wolfSSL's example client sends on its resumed connection (``-r``)."
LINE = b"hello from aiodtls"
"What our client sends."

HRR_RANDOM = bytes.fromhex("CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C")
"ServerHello.random of a HelloRetryRequest: SHA-256 of 'HelloRetryRequest' (RFC 8446 §4.1.3)."
DOWNGRADE_TLS12 = b"DOWNGRD\x01"
"The last 8 bytes of a (D)TLS 1.3 server's random when it negotiates 1.2 (RFC 8446 §4.1.3)."
COOKIE, KEY_SHARE, PRE_SHARED_KEY = 44, 51, 41
"Extension numbers (RFC 8446 §4.2)."

SUITES13 = [
    pytest.param(AES128, id="aes128gcm"),
    pytest.param(Suite13.TLS_AES_256_GCM_SHA384, id="aes256gcm", marks=pytest.mark.slow),
    pytest.param(Suite13.TLS_CHACHA20_POLY1305_SHA256, id="chacha20", marks=pytest.mark.slow),
    pytest.param(Suite13.TLS_AES_128_CCM_SHA256, id="aes128ccm", marks=pytest.mark.slow),
    pytest.param(Suite13.TLS_AES_128_CCM_8_SHA256, id="aes128ccm8", marks=pytest.mark.slow),
]
"Every TLS 1.3 suite, each pinned on both sides (wolfSSL ``-l``, our ``cipher_suites13``)."

KINDS = ["ecdsa", pytest.param("rsa", marks=pytest.mark.slow)]
"The server chains: ECDSA P-256 (README pass) and RSA (slow pass)."


@pytest.fixture(autouse=True)
def wolfssl_built() -> None:
    """Skip (fail under CI) before any peer starts when the wolfSSL tree is missing."""
    require_wolfssl()


def certificates(path: Path) -> list[x509.Certificate]:
    """Every certificate of a PEM file, in order."""
    return x509.load_pem_x509_certificates(path.read_bytes())


def private_key(path: Path) -> PrivateKey:
    """The (unencrypted) private key of a PEM file."""
    return cast(PrivateKey, load_pem_private_key(path.read_bytes(), None))


def client13(
    files: InteropFiles, kind: Literal["ecdsa", "rsa"] = "ecdsa", **settings: Any
) -> DtlsConfiguration:
    """Our DTLS-1.3-only client verifying the ``kind`` server chain and the name localhost."""
    base = DtlsConfiguration(
        versions=DTLS13,
        ca_certificates=certificates(files.server[kind].root),
        server_name="localhost",
        handshake_timeout=10.0,
    )
    return replace(base, **settings)


def server13(
    files: InteropFiles, kind: Literal["ecdsa", "rsa"] = "ecdsa", **settings: Any
) -> DtlsConfiguration:
    """Our DTLS-1.3-only server with the ``kind`` chain."""
    base = DtlsConfiguration(
        is_client=False,
        versions=DTLS13,
        certificate_chain=certificates(files.server[kind].chain),
        private_key=private_key(files.server[kind].key),
        handshake_timeout=10.0,
    )
    return replace(base, **settings)


def psk13(*, is_client: bool) -> DtlsConfiguration:
    """Our DTLS 1.3 side with wolfSSL's TLS 1.3 test PSK and identity, AES-128-GCM only."""
    return DtlsConfiguration(
        is_client=is_client,
        versions=DTLS13,
        cipher_suites13=[AES128],
        psk=bytes.fromhex(WOLFSSL_PSK13_HEX),
        psk_identity=WOLFSSL_PSK13_IDENTITY.encode(),
        verify_mode=ssl.CERT_NONE if is_client else None,
        handshake_timeout=10.0,
    )


def connect(port: int, configuration: DtlsConfiguration) -> sync.DtlsSocket:
    """Our client's handshake with 127.0.0.1:``port`` (blocking)."""
    return sync.connect("127.0.0.1", port, configuration=configuration, timeout=12.0)


def exchange_with_wolfssl_server(dtls: sync.DtlsSocket, line: bytes = LINE) -> None:
    """We send ``line`` to wolfSSL's echo server (``server13(echo=True)``) and read it back."""
    dtls.send(line)
    reply = dtls.recv(timeout=10.0)
    assert reply == line, (reply, dtls.terminated)


def read_until(dtls: sync.DtlsSocket, condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Read (answering with ACKs, KeyUpdates) what the peer sends until ``condition()``; no
    application data may arrive meanwhile and the association must stay up."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not reached in {timeout} s"
        assert dtls.recv(timeout=0.05) is None, "application data came first"
        assert dtls.terminated is None, dtls.terminated


def exchange_with_replying_server(
    dtls: sync.DtlsSocket, server: PeerProcess, line: bytes = LINE
) -> None:
    """We send ``line``; wolfSSL's printing server answers :data:`REPLY`, which we read, and
    prints the line.

    Only once its NewSessionTicket is in (our ACK of it leaves at once, RFC 9147 §7.1), so
    that nothing of ours follows the line before wolfSSL has read it: its ``ServerRead``
    prints nothing when another datagram is already queued behind the message (its zero-byte
    ``wolfSSL_peek`` processes that record and overwrites the length read;
    :meth:`~interop.launch.WolfSsl.server13`). Sent at once, the line raced that ACK, which
    under CPU load reached the server's socket before wolfSSL had read the line."""
    read_until(dtls, lambda: dtls.session is not None)
    dtls.send(line)
    reply = dtls.recv(timeout=10.0)
    assert reply is not None and REPLY in reply, (reply, dtls.terminated, server.describe())
    server.wait_for(f"Client message: {line.decode()}", "stdout")


def assert_dtls13(dtls: sync.DtlsSocket, peer: PeerProcess) -> None:
    """Both sides agree: DTLS 1.3 and the same suite (wolfSSL prints its view first)."""
    ready = WOLFSSL.wait_ready(peer)
    assert dtls.handshake.protocol_version == "DTLSv1.3", dtls.handshake
    assert ready["version"] == "DTLSv1.3", peer.describe()
    assert dtls.handshake.cipher_suite == ready["suite"], peer.describe()


def close_and_wait(dtls: sync.DtlsSocket, peer: PeerProcess) -> None:
    """Our close_notify, then the wolfSSL peer exits 0."""
    dtls.close()
    assert peer.wait_exit() == 0, peer.describe()


def serve_one(server: sync.DtlsServer, peer: PeerProcess) -> tuple[sync.DtlsSocket, list[bytes]]:
    """Accept the next handshake of ``peer`` and echo every record until it closes; returns
    the socket and what the peer sent. Fails with the peer's output once it has exited
    without a handshake (or after 15 s)."""
    deadline = time.monotonic() + 15.0
    while True:
        try:
            dtls = server.accept(timeout=0.5)
            break
        except TimeoutError:
            if peer.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"no handshake with {peer.name}:\n{peer.describe()}")
    received: list[bytes] = []
    while (data := dtls.recv(timeout=10.0)) is not None:
        received.append(data)
        dtls.send(data)
    assert dtls.terminated is not None, f"no close_notify after {received!r}"
    return dtls, received


# --- what the relay saw ------------------------------------------------------------------------

Direction = Literal["to_server", "to_client"]


class DroppingRelay:
    """A UDP relay on 127.0.0.1 in front of ``server_port`` (one client) that records every
    datagram it receives, forwarded or not, and drops those whose 1-based index in their
    direction is in ``drop``, and the first for which ``drop_first`` is true: the loss of one
    chosen datagram, the same in every run."""

    def __init__(
        self,
        server_port: int,
        drop: Collection[tuple[Direction, int]] = (),
        *,
        drop_first: Callable[[Datagram], bool] | None = None,
    ) -> None:
        self.datagrams: list[Datagram] = []
        "Every datagram received, dropped ones included, in order."
        self.dropped: list[Datagram] = []
        "The datagrams not forwarded."
        self._drop = set(drop)
        self._drop_first = drop_first
        self._counts: dict[Direction, int] = {"to_server": 0, "to_client": 0}
        self._front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._front.bind(("127.0.0.1", 0))
        self.port: int = self._front.getsockname()[1]
        "Where the client sends to."
        self._back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._back.connect(("127.0.0.1", server_port))
        self._client: tuple[str, int] | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dropping-relay", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._front, selectors.EVENT_READ)
            selector.register(self._back, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select(0.05):
                    try:
                        if key.fileobj is self._front:
                            data, self._client = self._front.recvfrom(65535)
                            if self._keep("to_server", data):
                                self._back.send(data)
                        else:
                            data = self._back.recv(65535)
                            if self._keep("to_client", data) and self._client is not None:
                                self._front.sendto(data, self._client)
                    except OSError:  # ICMP port unreachable from a peer that is gone
                        continue

    def _keep(self, direction: Direction, data: bytes) -> bool:
        self._counts[direction] += 1
        datagram = Datagram(direction, data)
        self.datagrams.append(datagram)
        if (direction, self._counts[direction]) in self._drop or (
            self._drop_first is not None and self._drop_first(datagram)
        ):
            if (direction, self._counts[direction]) not in self._drop:
                self._drop_first = None  # only the first match
            self.dropped.append(datagram)
            return False
        return True

    def __enter__(self) -> DroppingRelay:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._thread.join(2.0)
        self._front.close()
        self._back.close()


Relay = UdpRelay | DroppingRelay


def plaintext_handshake(relay: Relay, direction: Direction) -> Iterator[tuple[int, int, bytes]]:
    """(msg_type, message_seq, body) of every whole epoch-0 handshake message relayed in
    ``direction`` (DTLSPlaintext records; unified-header records are not read)."""
    for datagram in list(relay.datagrams):
        if datagram.direction != direction:
            continue
        for record in split_datagram(datagram.data, pause_at=UNIFIED_FIRST_BYTES):
            if not isinstance(record, RawRecord) or record.content_type != 22 or record.epoch:
                continue
            fragment, pos = record.fragment, 0
            while pos + 12 <= len(fragment):
                length = int.from_bytes(fragment[pos + 1 : pos + 4], "big")
                offset = int.from_bytes(fragment[pos + 6 : pos + 9], "big")
                size = int.from_bytes(fragment[pos + 9 : pos + 12], "big")
                if offset == 0 and size == length:
                    seq = int.from_bytes(fragment[pos + 4 : pos + 6], "big")
                    yield fragment[pos], seq, fragment[pos + 12 : pos + 12 + size]
                pos += 12 + size


def client_hellos(relay: Relay) -> list[tuple[int, ClientHello]]:
    """(message_seq, ClientHello) of each ClientHello relayed, retransmissions included."""
    return [
        (seq, decode_client_hello(body))
        for kind, seq, body in plaintext_handshake(relay, "to_server")
        if kind == 1
    ]


def server_hellos(relay: Relay) -> list[tuple[int, ServerHello]]:
    """(message_seq, ServerHello) of each ServerHello or HelloRetryRequest relayed."""
    return [
        (seq, decode_server_hello(body))
        for kind, seq, body in plaintext_handshake(relay, "to_client")
        if kind == 2
    ]


def hello_retry_requests(relay: Relay) -> list[tuple[int, ServerHello]]:
    """The HelloRetryRequests among :func:`server_hellos`."""
    return [(seq, hello) for seq, hello in server_hellos(relay) if hello.random == HRR_RANDOM]


def extension(hello: ClientHello | ServerHello, kind: int) -> bytes | None:
    """The body of extension ``kind`` of ``hello``, or None."""
    return dict(hello.extensions).get(kind)


def unified_epoch_bits(relay: Relay, direction: Direction) -> set[int]:
    """The two low epoch bits of every unified-header record relayed in ``direction``
    (RFC 9147 §4: ``0b001CSLEE``; no connection IDs here)."""
    bits: set[int] = set()
    for datagram in list(relay.datagrams):
        if datagram.direction != direction:
            continue
        data, pos = datagram.data, 0
        while pos < len(data):
            first = data[pos]
            if first in UNIFIED_FIRST_BYTES:
                bits.add(first & 0x03)
                header = 1 + (2 if first & 0x08 else 1) + (2 if first & 0x04 else 0)
                length = (
                    int.from_bytes(data[pos + header - 2 : pos + header], "big")
                    if first & 0x04
                    else len(data) - pos - header
                )
                pos += header + length
            elif len(data) - pos >= 13:
                pos += 13 + int.from_bytes(data[pos + 11 : pos + 13], "big")
            else:
                break
    return bits


class _KeyUpdating(Protocol):
    def request_key_update(self) -> None: ...


def request_key_update(dtls: sync.DtlsSocket) -> None:
    """Ask for a KeyUpdate(update_requested) on our side (the DTLS 1.3 connection's
    ``request_key_update()``, docs of issue 14); it leaves with our next record."""
    cast(_KeyUpdating, dtls.connection).request_key_update()


# --- our client -> wolfSSL's DTLS 1.3 server ---------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_aiodtls13_client_to_wolfssl13_server(
    peers: PeerSet, interop_files: InteropFiles, kind: Literal["ecdsa", "rsa"]
) -> None:  # V1, V2, V9
    port = free_udp_port()
    server = WOLFSSL.server13(peers, port, interop_files, kind=kind, echo=True)

    dtls = connect(port, client13(interop_files, kind))
    exchange_with_wolfssl_server(dtls)

    assert_dtls13(dtls, server)
    assert len(dtls.handshake.peer_certificates) == 2  # leaf and intermediate
    close_and_wait(dtls, server)


@pytest.mark.parametrize("suite", SUITES13)
def test_aiodtls13_client_to_wolfssl13_server_with_each_suite(
    peers: PeerSet, interop_files: InteropFiles, suite: Suite13
) -> None:
    port = free_udp_port()
    server = WOLFSSL.server13(peers, port, interop_files, suite=suite.name, echo=True)

    dtls = connect(port, client13(interop_files, cipher_suites13=[suite]))
    exchange_with_wolfssl_server(dtls)

    assert_dtls13(dtls, server)
    assert dtls.handshake.cipher_suite == suite.name
    close_and_wait(dtls, server)


def test_aiodtls13_client_authenticates_to_wolfssl13_server(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    port = free_udp_port()
    client_pem = interop_files.client
    server = WOLFSSL.server13(peers, port, interop_files, client_ca=client_pem.root, echo=True)

    configuration = client13(
        interop_files,
        certificate_chain=certificates(client_pem.chain),
        private_key=private_key(client_pem.key),
    )
    dtls = connect(port, configuration)
    exchange_with_wolfssl_server(dtls)

    assert_dtls13(dtls, server)
    close_and_wait(dtls, server)


def test_aiodtls13_client_psk_to_wolfssl13_server(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    port = free_udp_port()
    server = WOLFSSL.server13(peers, port, interop_files, kind=None, suite=AES128.name, echo=True)

    dtls = connect(port, psk13(is_client=True))
    exchange_with_wolfssl_server(dtls)

    assert_dtls13(dtls, server)
    assert dtls.handshake.peer_certificates == []
    close_and_wait(dtls, server)


def test_aiodtls13_client_answers_wolfssl13_hello_retry_request_with_cookie(
    peers: PeerSet, interop_files: InteropFiles
) -> None:  # V8: wolfSSL's DTLS 1.3 server always asks for a cookie first
    port = free_udp_port()
    server = WOLFSSL.server13(peers, port, interop_files, echo=True)
    relay = peers.relay(port)

    dtls = connect(relay.port, client13(interop_files))
    exchange_with_wolfssl_server(dtls)
    assert_dtls13(dtls, server)
    close_and_wait(dtls, server)

    (hrr_seq, hrr), *more = hello_retry_requests(relay)
    assert not more
    cookie = extension(hrr, COOKIE)
    assert cookie, hrr.extensions
    hellos = client_hellos(relay)
    assert [seq for seq, _ in hellos] == [0, 1], hellos  # message_seq continues after the HRR
    first, second = hellos[0][1], hellos[1][1]
    assert first.cookie == second.cookie == b""  # legacy_cookie stays empty (RFC 9147 §5.3)
    assert extension(first, COOKIE) is None
    assert extension(second, COOKIE) == cookie
    assert hrr_seq == 0
    assert [seq for seq, hello in server_hellos(relay) if hello.random != HRR_RANDOM] == [1]


def test_aiodtls13_client_sends_the_key_share_wolfssl13_asks_for(
    peers: PeerSet, interop_files: InteropFiles
) -> None:  # V8, V9: HRR naming a group the first ClientHello had no key share for
    port = free_udp_port()
    server = WOLFSSL.server13(peers, port, interop_files, group="SECP384R1", echo=True)
    relay = peers.relay(port)

    groups = [NamedGroup.x25519, NamedGroup.secp256r1, NamedGroup.secp384r1]
    dtls = connect(relay.port, client13(interop_files, groups=groups))
    exchange_with_wolfssl_server(dtls)
    assert_dtls13(dtls, server)
    close_and_wait(dtls, server)

    (_, hrr), *more = hello_retry_requests(relay)
    assert not more
    assert extension(hrr, KEY_SHARE) == NamedGroup.secp384r1.to_bytes(2, "big")
    key_share = extension(client_hellos(relay)[-1][1], KEY_SHARE)
    assert key_share is not None
    assert key_share[2:4] == NamedGroup.secp384r1.to_bytes(2, "big")  # its one entry


def test_aiodtls13_client_resumes_with_wolfssl13_ticket(
    peers: PeerSet, interop_files: InteropFiles
) -> None:  # V10 (no session ID from us), V18 (we ACK its NewSessionTicket)
    port = free_udp_port()
    server = WOLFSSL.server13(peers, port, interop_files, resume=True, echo=True)

    first = connect(port, client13(interop_files))
    exchange_with_wolfssl_server(first)
    assert_dtls13(first, server)
    session = first.session  # wolfSSL's NewSessionTicket came before its answer
    assert session is not None
    assert not first.session_resumed
    first.close()

    second = connect(port, client13(interop_files, session=session))
    exchange_with_wolfssl_server(second, b"hello again")
    assert second.session_resumed
    server.wait_for("SSL reused session", "stdout")
    close_and_wait(second, server)


def test_aiodtls13_client_answers_wolfssl13_key_update(
    peers: PeerSet, interop_files: InteropFiles
) -> None:  # V14, V20: the server's KeyUpdate(update_requested) before its answer (-U)
    port = free_udp_port()
    server = WOLFSSL.server13(peers, port, interop_files, key_update=True)
    relay = peers.relay(port)

    dtls = connect(relay.port, client13(interop_files))
    exchange_with_replying_server(dtls, server)
    assert_dtls13(dtls, server)
    # -U reads a second message: by then we answered the KeyUpdate with ours.
    exchange_second_message(dtls, server)
    close_and_wait(dtls, server)

    # Each side moved to epoch 4 (low bits 0) once the other ACKed its KeyUpdate.
    assert 0 in unified_epoch_bits(relay, "to_client"), relay.datagrams
    assert 0 in unified_epoch_bits(relay, "to_server"), relay.datagrams


def test_aiodtls13_client_key_update_with_wolfssl13_server(
    peers: PeerSet, interop_files: InteropFiles
) -> None:  # V14, V20: our KeyUpdate(update_requested); wolfSSL answers with its own
    port = free_udp_port()
    server = WOLFSSL.server13(peers, port, interop_files, echo=True)
    relay = peers.relay(port)

    dtls = connect(relay.port, client13(interop_files))
    assert_dtls13(dtls, server)
    request_key_update(dtls)
    exchange_with_wolfssl_server(dtls)
    dtls.recv(timeout=0.5)  # the ACK of our KeyUpdate and wolfSSL's own KeyUpdate
    close_and_wait(dtls, server)

    assert 0 in unified_epoch_bits(relay, "to_server"), relay.datagrams
    assert 0 in unified_epoch_bits(relay, "to_client"), relay.datagrams


def exchange_second_message(dtls: sync.DtlsSocket, server: PeerProcess) -> None:
    """The second message ``server -U`` reads (it prints it, answers nothing and closes).

    Sent once wolfSSL has ACKed our KeyUpdate (the answer to its own, which we ACKed at once),
    so under our epoch 4 keys; by then nothing of ours is left to follow the message (see
    :func:`exchange_with_replying_server`). Its close_notify, read before we close, comes
    under its epoch 4 keys: the relay has seen both switches."""
    v13 = dtls.connection._v13
    assert v13 is not None
    read_until(dtls, lambda: v13.records.write_epoch == 4)
    dtls.send(b"after the key update")
    server.wait_for("Client message: after the key update", "stdout")
    assert dtls.recv(timeout=10.0) is None
    assert dtls.terminated is not None and dtls.terminated.by_peer, dtls.terminated


@pytest.mark.parametrize("versions", [DTLS13, BOTH], ids=["dtls13", "both"])
def test_aiodtls13_client_gets_dtls13_from_version_flexible_wolfssl_server(
    peers: PeerSet, interop_files: InteropFiles, versions: tuple[ProtocolVersion, ...]
) -> None:  # V10, H6: ``-v d`` accepts DTLS 1.2 and 1.3 and picks 1.3
    port = free_udp_port()
    server = WOLFSSL.server13(peers, port, interop_files, version="d", echo=True)

    dtls = connect(port, client13(interop_files, versions=versions))
    exchange_with_wolfssl_server(dtls)

    assert_dtls13(dtls, server)
    close_and_wait(dtls, server)


def test_aiodtls13_client_reads_the_answer_of_a_wolfssl13_server_that_then_exits(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    # The printing server answers, sends close_notify and exits at once. The ACK we send for its
    # NewSessionTicket meanwhile comes back as an ICMP port unreachable, which Linux reports on
    # the next receive BEFORE the answer and the close_notify still queued: those must still
    # be read, the association ending cleanly (seen lost with ``-v d``, notes §14).
    port = free_udp_port()
    server = WOLFSSL.server13(peers, port, interop_files, version="d")

    dtls = connect(port, client13(interop_files))
    dtls.send(LINE)
    reply = dtls.recv(timeout=10.0)
    assert reply is not None and REPLY in reply, (reply, dtls.terminated, server.describe())
    assert dtls.recv(timeout=10.0) is None
    assert dtls.terminated is not None and dtls.terminated.by_peer, dtls.terminated
    assert server.wait_exit() == 0, server.describe()


# --- wolfSSL's DTLS 1.3 client -> our server ----------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_wolfssl13_client_to_aiodtls13_server(
    peers: PeerSet, interop_files: InteropFiles, kind: Literal["ecdsa", "rsa"]
) -> None:  # V1, V2, V9
    port = free_udp_port()
    with sync.DtlsServer("127.0.0.1", port, configuration=server13(interop_files, kind)) as srv:
        client = WOLFSSL.client13(peers, port, interop_files, kind=kind)
        dtls, received = serve_one(srv, client)

    assert received == [HELLO], received
    client.wait_for(f"(?m)^{HELLO.decode()}$", "stdout")  # it prints our echo
    assert client.wait_exit() == 0, client.describe()
    assert_dtls13(dtls, client)


def test_wolfssl13_client_authenticates_to_aiodtls13_server(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    port = free_udp_port()
    configuration = server13(
        interop_files,
        verify_mode=ssl.CERT_REQUIRED,
        ca_certificates=certificates(interop_files.client.root),
    )
    with sync.DtlsServer("127.0.0.1", port, configuration=configuration) as srv:
        client = WOLFSSL.client13(peers, port, interop_files, client_certificate=True)
        dtls, received = serve_one(srv, client)

    assert received == [HELLO], received
    assert client.wait_exit() == 0, client.describe()
    assert_dtls13(dtls, client)
    assert len(dtls.handshake.peer_certificates) == 2  # the client's leaf and intermediate


def test_wolfssl13_client_psk_to_aiodtls13_server(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    port = free_udp_port()
    with sync.DtlsServer("127.0.0.1", port, configuration=psk13(is_client=False)) as srv:
        client = WOLFSSL.client13(peers, port, interop_files, kind=None, suite=AES128.name)
        dtls, received = serve_one(srv, client)

    assert received == [HELLO], received
    assert client.wait_exit() == 0, client.describe()
    assert_dtls13(dtls, client)
    assert dtls.handshake.psk_identity == WOLFSSL_PSK13_IDENTITY.encode()


def test_aiodtls13_server_sends_wolfssl13_client_hello_retry_request_with_cookie(
    peers: PeerSet, interop_files: InteropFiles
) -> None:  # V8: our server's stateless cookie exchange (on by default)
    port = free_udp_port()
    with sync.DtlsServer("127.0.0.1", port, configuration=server13(interop_files)) as srv:
        relay = peers.relay(port)
        client = WOLFSSL.client13(peers, relay.port, interop_files)
        dtls, received = serve_one(srv, client)

    assert received == [HELLO], received
    assert client.wait_exit() == 0, client.describe()
    assert_dtls13(dtls, client)
    # The stateless door sends its answer twice, back to back, when both copies together are
    # no larger than the ClientHello (HELLO_VERIFY_COPIES, issue 9): the same record twice.
    hrrs = hello_retry_requests(relay)
    assert 1 <= len(hrrs) <= HELLO_VERIFY_COPIES and all(h == hrrs[0] for h in hrrs), hrrs
    hrr_seq, hrr = hrrs[0]
    assert hrr_seq == 0
    cookie = extension(hrr, COOKIE)
    assert cookie, hrr.extensions
    hellos = client_hellos(relay)
    assert [seq for seq, _ in hellos] == [0, 1], hellos
    assert extension(hellos[1][1], COOKIE) == cookie
    # RFC 9147 §5: a DTLS 1.3 server does not echo legacy_session_id (wolfSSL sends none here).
    assert all(hello.session_id == b"" for _, hello in server_hellos(relay))


def test_aiodtls13_server_asks_wolfssl13_client_for_a_key_share(
    peers: PeerSet, interop_files: InteropFiles
) -> None:  # V8, V9: wolfSSL's ``-J`` offers an empty key_share
    port = free_udp_port()
    with sync.DtlsServer("127.0.0.1", port, configuration=server13(interop_files)) as srv:
        relay = peers.relay(port)
        client = WOLFSSL.client13(peers, relay.port, interop_files, no_key_share=True)
        dtls, received = serve_one(srv, client)

    assert received == [HELLO], received
    assert client.wait_exit() == 0, client.describe()
    assert_dtls13(dtls, client)
    hrrs = hello_retry_requests(relay)
    assert 1 <= len(hrrs) <= HELLO_VERIFY_COPIES and all(h == hrrs[0] for h in hrrs), hrrs
    selected = extension(hrrs[0][1], KEY_SHARE)
    assert selected is not None and len(selected) == 2, hrrs
    second = client_hellos(relay)[-1][1]
    key_share = extension(second, KEY_SHARE)
    assert key_share is not None and key_share[2:4] == selected


def test_wolfssl13_client_cannot_resume_since_our_server_does_not_echo_its_session_id(
    peers: PeerSet, interop_files: InteropFiles
) -> None:  # V10, V18
    # wolfSSL's resuming client sends a 32-byte legacy_session_id and, up to 5.9.0, refuses a
    # HelloRetryRequest or ServerHello that does not echo it (-425 "The security parameter is
    # invalid"; wolfSSL PR #10007 stopped its server echoing, PR #10492 calls such clients
    # buggy and fixes them in 5.9.1). Our server follows RFC 9147 §5 and does not echo: the
    # first connection and its NewSessionTicket work, the resumption is refused by the
    # client. Should aiodtls ever offer a compatibility echo, this test turns into a
    # resumption test (``second.session_resumed``).
    port = free_udp_port()
    configuration = server13(interop_files, session_store=ServerSessionStore())
    with sync.DtlsServer("127.0.0.1", port, configuration=configuration) as srv:
        relay = peers.relay(port)
        client = WOLFSSL.client13(peers, relay.port, interop_files, "--waitTicket", resume=True)
        first, received_first = serve_one(srv, client)
        deadline = time.monotonic() + 10.0
        while client.process.poll() is None and time.monotonic() < deadline:
            srv.serve_for(0.2)  # answer its resuming ClientHello
        assert client.wait_exit() != 0, client.describe()

    assert received_first == [HELLO], received_first
    assert not first.session_resumed
    assert_dtls13(first, client)
    assert "Session Ticket CB: ticketSz" in client.stdout(), client.describe()  # ours arrived
    assert "wolfSSL_connect resume error -425" in client.stderr(), client.describe()
    (_, resuming), *_ = [hello for hello in client_hellos(relay) if hello[1].session_id]
    assert len(resuming.session_id) == 32 and extension(resuming, PRE_SHARED_KEY) is not None
    assert all(hello.session_id == b"" for _, hello in server_hellos(relay))


def test_wolfssl13_client_key_update_with_aiodtls13_server(
    peers: PeerSet, interop_files: InteropFiles
) -> None:  # V14, V20: ``-I``: KeyUpdate(update_requested) first, a 2nd message after the echo
    port = free_udp_port()
    with sync.DtlsServer("127.0.0.1", port, configuration=server13(interop_files)) as srv:
        relay = peers.relay(port)
        client = WOLFSSL.client13(peers, relay.port, interop_files, key_update=True)
        dtls, received = serve_one(srv, client)

    assert received == [HELLO, HELLO], received
    assert client.wait_exit() == 0, client.describe()
    assert_dtls13(dtls, client)
    assert 0 in unified_epoch_bits(relay, "to_server"), relay.datagrams  # its epoch 4
    # Ours: our answering KeyUpdate took effect once wolfSSL acknowledged it (RFC 9147 §8).
    # Whether a record of ours went out in epoch 4 depends on that ACK overtaking our echo of
    # its second message (a race CI lost once), so the keys are checked, not the wire.
    v13 = dtls.connection._v13
    assert v13 is not None and v13.records.write_epoch == 4


# --- our server allowing DTLS 1.2 and 1.3 --------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "expected"), [("3", "DTLSv1.2"), ("4", "DTLSv1.3"), ("d", "DTLSv1.3")]
)
def test_dual_version_aiodtls_server_answers_each_wolfssl_client_in_its_version(
    peers: PeerSet, interop_files: InteropFiles, version: str, expected: str
) -> None:  # H6
    port = free_udp_port()
    configuration = server13(interop_files, versions=BOTH)
    with sync.DtlsServer("127.0.0.1", port, configuration=configuration) as srv:
        relay = peers.relay(port)
        client = WOLFSSL.client13(peers, relay.port, interop_files, version=version)
        dtls, received = serve_one(srv, client)

    assert received == [HELLO], received
    assert client.wait_exit() == 0, client.describe()
    ready = WOLFSSL.wait_ready(client)
    assert dtls.handshake.protocol_version == ready["version"] == expected, client.describe()
    final = [hello for _, hello in server_hellos(relay) if hello.random != HRR_RANDOM]
    if expected == "DTLSv1.2":  # a 1.3-capable server that settles for 1.2 says so
        assert final and final[-1].random.endswith(DOWNGRADE_TLS12), final


def test_dual_version_aiodtls_server_answers_s_client_dtls12(
    peers: PeerSet, interop_files: InteropFiles
) -> None:  # H6: OpenSSL has no DTLS 1.3; our server must still serve its DTLS 1.2
    port = free_udp_port()
    configuration = server13(interop_files, versions=BOTH)
    with sync.DtlsServer("127.0.0.1", port, configuration=configuration) as srv:
        relay = peers.relay(port)
        client = OPENSSL.client(peers, relay.port, CASES[0], interop_files)
        dtls = srv.accept(timeout=15.0)
        OPENSSL.wait_ready(client)
        client.write_line("hello from openssl")
        assert dtls.recv(timeout=10.0) == b"hello from openssl\n"
        dtls.send(b"reply from aiodtls\n")
        client.wait_for("reply from aiodtls", "stdout")
        client.close_stdin()
        assert client.wait_exit() == 0, client.describe()

    assert dtls.handshake.protocol_version == "DTLSv1.2"
    assert dtls.handshake.cipher_suite == CASES[0].suite
    final = [hello for _, hello in server_hellos(relay) if hello.random != HRR_RANDOM]
    assert final and final[-1].random.endswith(DOWNGRADE_TLS12), final


# --- one lost datagram: ACKs and retransmissions ---------------------------------------------


def epoch2_datagrams(relay: Relay, direction: Direction) -> int:
    """How many datagrams relayed (or dropped) in ``direction`` start with a record of epoch 2."""
    return sum(
        1
        for datagram in list(relay.datagrams)
        if datagram.direction == direction
        and datagram.data[0] in UNIFIED_FIRST_BYTES
        and datagram.data[0] & 0x03 == 2
    )


def test_aiodtls13_client_acks_around_a_lost_wolfssl13_certificate(
    peers: PeerSet, interop_files: InteropFiles
) -> None:  # V12, V17, V18, V19
    port = free_udp_port()
    server = WOLFSSL.server13(peers, port, interop_files, echo=True)
    # wolfSSL sends one handshake message per datagram: HRR, ServerHello, EncryptedExtensions,
    # Certificate, CertificateVerify, Finished; the 4th is lost.
    with DroppingRelay(port, [("to_client", 4)]) as relay:
        dtls = connect(relay.port, client13(interop_files))
        exchange_with_wolfssl_server(dtls)
        assert_dtls13(dtls, server)
        close_and_wait(dtls, server)

    (lost,) = relay.dropped
    assert lost.data[0] in UNIFIED_FIRST_BYTES and lost.data[0] & 0x03 == 2
    # Our ACK named every record we had, the ServerHello's (epoch 0) included: wolfSSL resent
    # at once what was missing (the Certificate, perhaps the Finished if it came after our ACK)
    # instead of its whole flight with the ServerHello on its 1 s timer.
    assert [seq for seq, hello in server_hellos(relay) if hello.random != HRR_RANDOM] == [1]
    assert 5 <= epoch2_datagrams(relay, "to_client") <= 6, relay.datagrams


def test_aiodtls13_client_survives_a_lost_ack_of_its_finished(
    peers: PeerSet, interop_files: InteropFiles
) -> None:  # V12, V18: the server's ACK of our Finished (its 7th datagram) is lost
    port = free_udp_port()
    server = WOLFSSL.server13(peers, port, interop_files, echo=True)
    with DroppingRelay(port, [("to_client", 7)]) as relay:
        dtls = connect(relay.port, client13(interop_files))
        exchange_with_wolfssl_server(dtls)
        assert_dtls13(dtls, server)
        close_and_wait(dtls, server)

    (lost,) = relay.dropped
    assert lost.data[0] in UNIFIED_FIRST_BYTES and lost.data[0] & 0x03 == 3  # the epoch-3 ACK


def carries_server_hello(datagram: Datagram) -> bool:
    """A datagram to the client that starts with a ServerHello (not a HelloRetryRequest)."""
    data = datagram.data
    return (
        datagram.direction == "to_client"
        and len(data) >= 13 + 12 + 34
        and data[0] == 22
        and data[13] == 2
        and data[13 + 12 + 2 : 13 + 12 + 34] != HRR_RANDOM
    )


def test_aiodtls13_server_recovers_when_its_server_hello_to_wolfssl13_is_lost(
    peers: PeerSet, interop_files: InteropFiles
) -> None:  # V12: against itself wolfSSL's client then resends both ClientHellos
    port = free_udp_port()
    with (
        sync.DtlsServer("127.0.0.1", port, configuration=server13(interop_files)) as srv,
        DroppingRelay(port, drop_first=carries_server_hello) as relay,
    ):
        client = WOLFSSL.client13(peers, relay.port, interop_files)
        dtls, received = serve_one(srv, client)

    assert received == [HELLO], received
    assert client.wait_exit() == 0, client.describe()
    assert_dtls13(dtls, client)
    (lost,) = relay.dropped
    assert carries_server_hello(lost)
    # Whoever's timer fires first: our flight again, or wolfSSL's ClientHellos again (both of
    # them, as it does against itself): a stale ClientHello must not disturb our server.
    seqs = [seq for seq, _ in client_hellos(relay)]
    assert seqs[:2] == [0, 1] and set(seqs) == {0, 1}, seqs


# --- wolfSSL with itself: the wire facts the tests above rely on ---------------------------------


def wolfssl_pair(
    peers: PeerSet,
    files: InteropFiles,
    server: dict[str, Any],
    client: dict[str, Any],
    *client_options: str,
) -> tuple[UdpRelay, PeerProcess]:
    """wolfSSL's client through a recording relay to wolfSSL's server, both exited 0."""
    port = free_udp_port()
    wolfssl_server = WOLFSSL.server13(peers, port, files, **server)
    relay = peers.relay(port)
    wolfssl_client = WOLFSSL.client13(peers, relay.port, files, *client_options, **client)
    assert wolfssl_client.wait_exit() == 0, peers.describe()
    assert wolfssl_server.wait_exit() == 0, peers.describe()
    return relay, wolfssl_client


def test_wolfssl13_server_asks_every_client_for_a_cookie(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    relay, client = wolfssl_pair(peers, interop_files, {}, {})

    assert WOLFSSL.wait_ready(client)["version"] == "DTLSv1.3"
    (hrr_seq, hrr), *more = hello_retry_requests(relay)
    assert not more and hrr_seq == 0 and extension(hrr, COOKIE)
    assert extension(hrr, KEY_SHARE) is None  # its first key share was fine: cookie only
    assert [seq for seq, _ in client_hellos(relay)] == [0, 1]
    assert [seq for seq, _ in server_hellos(relay)] == [0, 1]  # HRR, then ServerHello


def test_wolfssl13_client_resumes_with_a_legacy_session_id_the_server_echoes(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    # Why our server must echo legacy_session_id for a wolfSSL client to resume: it sends 32
    # bytes and rejects a ServerHello without them ("Server sent different session id").
    relay, client = wolfssl_pair(
        peers, interop_files, {"resume": True}, {"resume": True}, "--waitTicket"
    )

    assert "SSL reused session" in client.stdout(), client.describe()
    resumed = client_hellos(relay)[2:]
    assert [len(hello.session_id) for _, hello in resumed] == [32, 32]
    assert all(
        hello.session_id == resumed[0][1].session_id for _, hello in server_hellos(relay)[2:]
    )


def test_version_flexible_wolfssl13_server_marks_its_dtls12_answer(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    relay, client = wolfssl_pair(peers, interop_files, {"version": "d"}, {"version": "3"})

    assert WOLFSSL.wait_ready(client)["version"] == "DTLSv1.2"
    assert not hello_retry_requests(relay)  # a DTLS 1.2 ClientHello gets a HelloVerifyRequest
    (_, hello), *more = server_hellos(relay)
    assert not more and hello.random.endswith(DOWNGRADE_TLS12)


def test_wolfssl13_key_update_moves_both_sides_to_epoch_4(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    relay, _ = wolfssl_pair(peers, interop_files, {}, {"key_update": True})

    assert unified_epoch_bits(relay, "to_server") == {2, 3, 0}
    assert unified_epoch_bits(relay, "to_client") == {2, 3, 0}


# --- connection IDs (RFC 9147 §9; wolfSSL 5.7.2 takes CIDs of at most 2 bytes) ------------------


def test_aiodtls13_client_with_connection_ids_to_wolfssl13_server(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    port = free_udp_port()
    server = WOLFSSL.server13(peers, port, interop_files, "--cid", "SV", echo=True)

    dtls = connect(port, client13(interop_files, connection_id_length=2))
    exchange_with_wolfssl_server(dtls)

    assert_dtls13(dtls, server)
    assert dtls.handshake.peer_connection_id == b"SV"
    assert dtls.handshake.connection_id is not None and len(dtls.handshake.connection_id) == 2
    close_and_wait(dtls, server)


def test_wolfssl13_client_with_connection_ids_to_aiodtls13_server(
    peers: PeerSet, interop_files: InteropFiles
) -> None:
    port = free_udp_port()
    configuration = server13(interop_files, connection_id_length=2)
    with sync.DtlsServer("127.0.0.1", port, configuration=configuration) as srv:
        client = WOLFSSL.client13(peers, port, interop_files, "--cid", "CL")
        dtls, received = serve_one(srv, client)

    assert received == [HELLO], received
    assert client.wait_exit() == 0, client.describe()
    assert_dtls13(dtls, client)
    assert dtls.handshake.peer_connection_id == b"CL"
    assert dtls.handshake.connection_id is not None and len(dtls.handshake.connection_id) == 2


def test_wolfssl13_client_resumes_with_aiodtls13_ticket_when_the_server_echoes_its_session_id(
    peers: PeerSet, interop_files: InteropFiles
) -> None:  # V18: resumption both ways; the echo is the opt-in for wolfSSL clients < 5.9.1
    port = free_udp_port()
    configuration = server13(
        interop_files, session_store=ServerSessionStore(), dtls13_echo_session_id=True
    )
    with sync.DtlsServer("127.0.0.1", port, configuration=configuration) as srv:
        relay = peers.relay(port)
        client = WOLFSSL.client13(peers, relay.port, interop_files, "--waitTicket", resume=True)
        first, received_first = serve_one(srv, client)
        second, received_second = serve_one(srv, client)

    assert received_first == [HELLO], received_first
    assert received_second == [RESUMING], received_second
    assert client.wait_exit() == 0, client.describe()
    assert "SSL reused session" in client.stdout(), client.describe()
    assert not first.session_resumed
    assert second.session_resumed
    assert_dtls13(second, client)
    (_, resuming), *_ = [hello for hello in client_hellos(relay) if hello[1].session_id]
    assert any(hello.session_id == resuming.session_id for _, hello in server_hellos(relay))
