"""An asyncio DTLS client built on ``aiodtls.asyncio.connect``: send N messages, get N echoes.

The handshake (and its retransmissions) is the library's job. Application data is not: DTLS
sends each record once, like UDP, so a lost message or a lost echo is simply gone. This client
therefore retries each message until its echo arrives, ignoring late echoes of earlier tries.

Against ``asyncio_echo_server.py``::

    python examples/asyncio_echo_client.py --port 4433 --ca /tmp/root.pem
    python examples/asyncio_echo_client.py --port 4433 --psk 000102030405060708090a0b0c0d0e0f

Exits 0 when every message came back, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from aiodtls import DtlsConfiguration
from aiodtls.asyncio import ConnectionClosed, DtlsSession, connect


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
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


async def wait_for_echo(session: DtlsSession, message: bytes) -> None:
    """Read records until ``message`` comes back, skipping stale echoes of earlier tries."""
    while await session.recv() != message:
        pass


async def echo_once(session: DtlsSession, message: bytes, wait: float, tries: int) -> bool:
    """Send ``message`` until its echo arrives (at most ``tries`` times)."""
    for _ in range(tries):
        session.send(message)
        try:
            await asyncio.wait_for(wait_for_echo(session, message), wait)
            return True
        except asyncio.TimeoutError:
            continue  # the message or its echo was lost: send it again
    return False


async def main(args: argparse.Namespace) -> int:
    """Connect, echo ``--count`` messages, close."""
    config = make_configuration(args)
    try:
        # The handshake runs inside connect(); leaving the block sends close_notify.
        async with connect(args.host, args.port, configuration=config) as session:
            hs = session.handshake
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
                if await echo_once(session, message, args.wait, args.tries):
                    echoed += 1
                    print(f"echo: {message.decode()}", flush=True)
                else:
                    print(f"no echo for {message.decode()}", flush=True)
    except ConnectionClosed as exc:
        # A failed handshake, or the server ended the association.
        print(f"connection failed: {exc}", flush=True)
        return 1
    print(f"{echoed}/{args.count} messages echoed", flush=True)
    return 0 if echoed == args.count else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
