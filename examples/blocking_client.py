"""A blocking DTLS client built on ``aiodtls.sync.connect``: send N messages, get N echoes.

No asyncio and no threads: every blocking call (``connect``, ``recv``) waits on the socket
*and* on the connection's retransmission timer, so the handshake survives loss without the
application driving any timer. Application data is not retransmitted by DTLS, so each message
is resent until its echo arrives.

Against ``asyncio_echo_server.py``::

    python examples/blocking_client.py --port 4433 --ca /tmp/root.pem
    python examples/blocking_client.py --port 4433 --psk 000102030405060708090a0b0c0d0e0f

Exits 0 when every message came back, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time

from aiodtls import DtlsConfiguration
from aiodtls.sync import DtlsError, DtlsSocket, connect


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (the same as ``asyncio_echo_client.py``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="server address (127.0.0.1)")
    parser.add_argument("--port", type=int, default=4433, help="server port (4433)")
    parser.add_argument("--ca", help="PEM file of the CA(s) that signed the server certificate")
    parser.add_argument("--server-name", default="localhost", help="name to verify (localhost)")
    parser.add_argument("--psk", help="pre-shared key, hex (instead of --ca)")
    parser.add_argument("--psk-identity", default="client1", help="PSK identity (client1)")
    parser.add_argument("--count", type=int, default=3, help="messages to send (3)")
    parser.add_argument("--wait", type=float, default=0.5, help="seconds before a retry (0.5)")
    parser.add_argument("--tries", type=int, default=10, help="attempts per message (10)")
    parser.add_argument("--timeout", type=float, default=10.0, help="handshake limit (10 s)")
    args = parser.parse_args(argv)
    if not args.ca and not args.psk:
        parser.error("give --ca (certificates) or --psk")
    return args


def make_configuration(args: argparse.Namespace) -> DtlsConfiguration:
    """A client configuration: verify the server's chain, or authenticate with a PSK."""
    if args.psk:
        return DtlsConfiguration(
            is_client=True, psk=bytes.fromhex(args.psk), psk_identity=args.psk_identity.encode()
        )
    config = DtlsConfiguration(is_client=True, server_name=args.server_name)
    config.load_verify_locations(args.ca)
    return config


def echo_once(dtls: DtlsSocket, message: bytes, wait: float, tries: int) -> bool:
    """Send ``message`` until its echo arrives (at most ``tries`` times)."""
    for _ in range(tries):
        dtls.send(message)
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            # None means nothing arrived in time (or the peer closed cleanly).
            reply = dtls.recv(timeout=left)
            if reply == message:
                return True
            if reply is None and dtls.terminated is not None:
                return False  # the server closed the association
            # Anything else is a stale echo of an earlier message or try.
    return False


def main(args: argparse.Namespace) -> int:
    """Connect, echo ``--count`` messages, close."""
    config = make_configuration(args)
    try:
        # connect() returns once the handshake has completed (or raises DtlsError).
        with connect(args.host, args.port, configuration=config, timeout=args.timeout) as dtls:
            hs = dtls.handshake
            assert hs is not None  # set whenever connect() returns
            print(
                f"handshake ok: {hs.protocol_version} {hs.cipher_suite} "
                f"in {hs.duration * 1000:.1f} ms, {hs.retransmissions} retransmissions",
                flush=True,
            )
            if hs.peer_certificates:
                print(f"server certificate: {hs.peer_certificates[0].subject.rfc4514_string()}")
            if hs.psk_identity is not None:
                print(f"psk identity: {hs.psk_identity.decode(errors='replace')}")
            echoed = 0
            for i in range(1, args.count + 1):
                message = f"message {i}".encode()
                if echo_once(dtls, message, args.wait, args.tries):
                    echoed += 1
                    print(f"echo: {message.decode()}", flush=True)
                else:
                    print(f"no echo for {message.decode()}", flush=True)
            # Leaving the block sends close_notify and closes the socket.
    except DtlsError as exc:
        # A failed handshake (named alert or timeout), or the association failed later.
        print(f"connection failed: {exc}", flush=True)
        return 1
    print(f"{echoed}/{args.count} messages echoed", flush=True)
    return 0 if echoed == args.count else 1


if __name__ == "__main__":
    sys.exit(main(parse_args()))
