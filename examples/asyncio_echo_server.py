"""An asyncio DTLS echo server built on ``aiodtls.asyncio.serve``.

Every record a client sends comes straight back. Any number of clients are served at once
from one UDP socket; the library answers ClientHellos with stateless cookies, runs every
handshake and owns every retransmission timer, so the handler below only moves data.

Credentials, in order of preference:

- ``--psk HEX`` (and optionally ``--psk-identity NAME`` to accept only that identity);
- ``--cert chain.pem --key key.pem``;
- neither: a throwaway root -> intermediate -> leaf chain for ``localhost`` and ``127.0.0.1``
  is generated with :mod:`aiodtls.pki`; ``--write-root root.pem`` saves its root so that a
  client can trust it (``asyncio_echo_client.py --ca root.pem``).

Try it::

    python examples/asyncio_echo_server.py --port 4433 --write-root /tmp/root.pem
    python examples/asyncio_echo_client.py --port 4433 --ca /tmp/root.pem

``--port 0`` picks a free port; the ``listening on HOST:PORT`` line says which.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path

from aiodtls import DtlsConfiguration
from aiodtls.asyncio import DtlsSession, serve
from aiodtls.connection import NetworkAddress
from aiodtls.events import ConnectionTerminated
from aiodtls.pki import generate_chain


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=4433, help="UDP port (4433; 0 = any free)")
    parser.add_argument("--cert", help="PEM certificate chain, leaf first")
    parser.add_argument("--key", help="PEM private key of --cert")
    parser.add_argument("--psk", help="pre-shared key, hex")
    parser.add_argument("--psk-identity", help="accept only this PSK identity")
    parser.add_argument("--write-root", help="with no credentials: write the generated root here")
    parser.add_argument("--seconds", type=float, help="stop after this long (default: Ctrl-C)")
    return parser.parse_args(argv)


def make_configuration(args: argparse.Namespace) -> DtlsConfiguration:
    """A server configuration from the options (generating a throwaway chain if needed)."""
    config = DtlsConfiguration(is_client=False)
    if args.psk:
        key = bytes.fromhex(args.psk)
        if args.psk_identity is None:
            config.psk = key  # any identity gets this key
        else:
            expected = args.psk_identity.encode()
            config.psk_lookup = lambda identity: key if identity == expected else None
    if args.cert:
        config.load_cert_chain(args.cert, args.key)
    elif not args.psk:
        # Throwaway credentials: fine for an example, never for production.
        chain = generate_chain(names=("localhost", "127.0.0.1"))
        config.certificate_chain = chain.chain
        config.private_key = chain.key
        if args.write_root:
            Path(args.write_root).write_bytes(chain.root_pem())
            print(f"wrote the throwaway root CA to {args.write_root}", flush=True)
    return config


def peer_name(addr: NetworkAddress) -> str:
    """``host:port`` of a peer address."""
    return f"{addr[0]}:{addr[1]}"


async def echo(session: DtlsSession) -> None:
    """The per-peer handler: runs once the handshake has completed, until the peer leaves."""
    hs = session.handshake
    who = hs.psk_identity.decode(errors="replace") if hs.psk_identity else "certificate"
    print(f"{peer_name(session.peer_address)}: handshake ok, {hs.cipher_suite} ({who})", flush=True)
    # Iterating a session yields records until the association ends (close_notify, alert,
    # idle timeout); each record is sent back as one record.
    async for data in session:
        print(f"{peer_name(session.peer_address)}: echo {data!r}", flush=True)
        session.send(data)
    ending = await session.wait_closed()
    print(f"{peer_name(session.peer_address)}: closed ({ending.reason})", flush=True)


def handshake_failed(addr: NetworkAddress, ending: ConnectionTerminated) -> None:
    """Called for handshakes that got past the cookie exchange and then failed."""
    print(f"{peer_name(addr)}: handshake failed: {ending.reason}", flush=True)


async def main(args: argparse.Namespace) -> None:
    """Serve until ``--seconds`` pass or the task is cancelled (Ctrl-C)."""
    config = make_configuration(args)
    server = await serve(
        args.host,
        args.port,
        configuration=config,
        handler=echo,
        on_handshake_failure=handshake_failed,
    )
    host, port = server.address[:2]
    print(f"listening on {host}:{port}", flush=True)
    # Leaving the block sends close_notify to every peer and closes the socket.
    async with server:
        if args.seconds is None:
            await asyncio.Event().wait()  # forever; Ctrl-C cancels it
        else:
            await asyncio.sleep(args.seconds)


if __name__ == "__main__":
    arguments = parse_args()
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: close the peers and stop
        asyncio.run(main(arguments))
    print("server stopped", flush=True)
