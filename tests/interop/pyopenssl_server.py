"""A DTLS 1.2 server on pyOpenSSL, over a UDP socket, for the ``aiodtls proxy`` tests (issue 5).

Run as a script (``python tests/interop/pyopenssl_server.py PORT --cert chain.pem --key
key.pem``). It is the peer of shared/research/interop-peers.md Appendix E, reduced to a server:
OpenSSL (the copy inside the ``cryptography`` wheel) runs on memory BIOs and this program moves
the datagrams, exactly like an application that embeds OpenSSL's DTLS (WebRTC gateways such as
Licode do). That is why it can reproduce the Licode bug: OpenSSL retransmits a DTLS flight only
when the application calls ``DTLSv1_handle_timeout()`` after ``DTLSv1_get_timeout()`` expires,
and by default this server never does. ``--drive-timer`` makes it a correct application.

What it does:

- a stateless cookie exchange (``DTLSv1_listen``) whose cookie is an HMAC of the client address
  (keyed per process), ``--cookie-length`` bytes long (20 like ``s_server``; 32 like mbedTLS and
  wolfSSL, which makes ``openssl s_client -mtu 256`` fragment its second ClientHello);
- the handshake with the PEM chain of ``--cert``, fragmented for ``--mtu`` bytes of UDP payload
  (``set_ciphertext_mtu``);
- then it echoes application data (``echo:`` + data) until the client closes (close_notify)
  or ``--lifetime`` seconds pass.

pyOpenSSL's memory BIOs are byte streams, so the datagram boundaries OpenSSL meant are lost:
:func:`pack_records` splits what OpenSSL wrote into DTLS records and packs them into datagrams of
at most ``--mtu`` bytes, as OpenSSL's own datagram BIO would have sent them.

Output (stdout, one line per event, flushed): ``listening on HOST:PORT``, ``cookie sent to
HOST:PORT``, ``client HOST:PORT passed the cookie check``, ``handshake ok VERSION CIPHER``,
``got: DATA``, ``closed``; ``handshake failed: ...`` or ``lifetime over`` end it with exit
status 1 or 2.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import select
import socket
import sys
import time
from collections.abc import Iterator

from OpenSSL import SSL

__all__ = ["main", "pack_records", "split_records"]

Address = tuple[str, int]

RECORD_HEADER = 13
"DTLS 1.2 record header: type, version, epoch, sequence number, length (RFC 6347 §4.1)."


def split_records(data: bytes) -> Iterator[bytes]:
    """The DTLS records in a byte stream written by OpenSSL (a trailing partial record too)."""
    offset = 0
    while offset < len(data):
        if len(data) - offset < RECORD_HEADER:
            yield data[offset:]
            return
        length = int.from_bytes(data[offset + 11 : offset + 13], "big")
        end = offset + RECORD_HEADER + length
        yield data[offset:end]
        offset = end


def pack_records(data: bytes, mtu: int) -> list[bytes]:
    """Records packed, in order, into datagrams of at most ``mtu`` bytes (a larger record
    goes alone)."""
    datagrams: list[bytes] = []
    current = b""
    for record in split_records(data):
        if current and len(current) + len(record) > mtu:
            datagrams.append(current)
            current = b""
        current += record
    if current:
        datagrams.append(current)
    return datagrams


class Server:
    """One DTLS server connection on a UDP socket, driven by hand."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.deadline = time.monotonic() + args.lifetime
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((args.host, args.port))
        self.peer: Address | None = None
        self._secret = os.urandom(32)
        self.context = SSL.Context(SSL.DTLS_SERVER_METHOD)
        # The MTU is ours to set: memory BIOs cannot be queried (OpenSSL would fall back to 256).
        self.context.set_options(SSL.OP_NO_QUERY_MTU)
        self.context.use_certificate_chain_file(args.cert)
        self.context.use_privatekey_file(args.key)
        self.context.set_cookie_generate_callback(lambda conn: self._cookie())
        self.context.set_cookie_verify_callback(
            lambda conn, cookie: hmac.compare_digest(cookie, self._cookie())
        )
        self.conn = self._new_connection()

    def _new_connection(self) -> SSL.Connection:
        conn = SSL.Connection(self.context, None)  # memory BIOs
        conn.set_ciphertext_mtu(self.args.mtu)
        conn.set_accept_state()
        return conn

    def _cookie(self) -> bytes:
        """Stateless cookie: HMAC of the address of the datagram being processed."""
        assert self.peer is not None
        digest = hmac.new(self._secret, f"{self.peer[0]}:{self.peer[1]}".encode(), "sha512")
        cookie = digest.digest()
        while len(cookie) < self.args.cookie_length:
            cookie += hashlib.sha512(cookie).digest()
        return cookie[: self.args.cookie_length]

    # -- datagrams -----------------------------------------------------------------------

    def flush(self) -> None:
        """Send whatever OpenSSL wrote, as datagrams of at most ``--mtu`` bytes."""
        written = b""
        while True:
            try:
                written += self.conn.bio_read(65536)
            except SSL.WantReadError:
                break
        if written and self.peer is not None:
            for datagram in pack_records(written, self.args.mtu):
                self.sock.sendto(datagram, self.peer)

    def receive(self, timeout: float | None) -> tuple[bytes, Address] | None:
        """The next datagram, or None after ``timeout`` seconds; exits at the lifetime."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            say("lifetime over")
            sys.exit(2)
        wait = remaining if timeout is None else min(timeout, remaining)
        readable, _, _ = select.select([self.sock], [], [], wait)
        if not readable:
            return None
        data, addr = self.sock.recvfrom(65536)
        return data, (addr[0], addr[1])

    # -- phases --------------------------------------------------------------------------

    def listen(self) -> None:
        """Stateless cookie exchange: answer ClientHellos until one returns a valid cookie."""
        while True:
            received = self.receive(None)
            if received is None:
                continue
            data, self.peer = received
            self.conn.bio_write(data)
            try:
                self.conn.DTLSv1_listen()
            except SSL.WantReadError:  # answered with a HelloVerifyRequest, or ignored
                self.flush()
                say(f"cookie sent to {self.peer[0]}:{self.peer[1]}")
                continue
            except SSL.Error as exc:  # e.g. a fragmented ClientHello: start afresh
                say(f"listen: {exc}")
                self.flush()
                self.conn = self._new_connection()
                continue
            say(f"client {self.peer[0]}:{self.peer[1]} passed the cookie check")
            return

    def first_datagram(self) -> None:
        """Without a cookie exchange (``--no-cookie``, as WebRTC servers run): the first
        datagram's sender is the peer."""
        received = None
        while received is None:
            received = self.receive(None)
        data, self.peer = received
        self.conn.bio_write(data)
        say(f"client {self.peer[0]}:{self.peer[1]} (no cookie exchange)")

    def handshake(self) -> None:
        """Run the handshake; OpenSSL's retransmission timer is driven only with
        ``--drive-timer``."""
        while True:
            try:
                self.conn.do_handshake()
            except SSL.WantReadError:
                pass
            except SSL.Error as exc:
                self.flush()
                say(f"handshake failed: {exc}")
                sys.exit(1)
            else:
                self.flush()
                return
            self.flush()
            timeout = self.conn.DTLSv1_get_timeout() if self.args.drive_timer else None
            received = self.receive(timeout)
            if received is not None:
                data, addr = received
                if addr == self.peer:
                    self.conn.bio_write(data)
            elif self.args.drive_timer:
                # RFC 6347 §4.2.4: the timer expired, OpenSSL resends the flight.
                self.conn.DTLSv1_handle_timeout()

    def echo(self) -> None:
        """Echo application data until close_notify."""
        while True:
            try:
                data = self.conn.recv(65536)
            except SSL.WantReadError:
                self.flush()
                received = self.receive(None)
                if received is not None and received[1] == self.peer:
                    self.conn.bio_write(received[0])
                continue
            except SSL.ZeroReturnError:
                self.conn.shutdown()
                self.flush()
                say("closed")
                return
            except SSL.Error as exc:
                self.flush()
                say(f"connection failed: {exc}")
                sys.exit(1)
            say("got: " + data.decode(errors="replace").rstrip("\n"))
            self.conn.send(b"echo:" + data)
            self.flush()


def say(line: str) -> None:
    """One line of output, flushed at once (the tests wait for these lines)."""
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Serve one DTLS connection."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--cert", required=True, help="PEM chain, leaf first")
    parser.add_argument("--key", required=True, help="PEM private key of the leaf")
    parser.add_argument("--mtu", type=int, default=576, help="UDP payload size (default 576)")
    parser.add_argument("--cookie-length", type=int, default=20, help="bytes (default 20)")
    parser.add_argument("--no-cookie", action="store_true", help="no HelloVerifyRequest")
    parser.add_argument(
        "--drive-timer",
        action="store_true",
        help="call DTLSv1_handle_timeout() when DTLSv1_get_timeout() expires (default: never)",
    )
    parser.add_argument("--lifetime", type=float, default=30.0, help="exit after this long")
    args = parser.parse_args(argv)
    server = Server(args)
    host, port = server.sock.getsockname()[:2]
    timer = "driven" if args.drive_timer else "never driven"
    say(f"listening on {host}:{port} (retransmission timer {timer})")
    if args.no_cookie:
        server.first_datagram()
    else:
        server.listen()
    server.handshake()
    say(f"handshake ok {server.conn.get_protocol_version_name()} {server.conn.get_cipher_name()}")
    server.echo()
    return 0


if __name__ == "__main__":
    sys.exit(main())
