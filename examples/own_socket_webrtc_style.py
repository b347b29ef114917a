"""An application that owns its UDP socket and shares it with DTLS, as WebRTC does.

WebRTC multiplexes STUN, DTLS and SRTP on one port and tells them apart by the first byte of
each datagram (RFC 7983). Here the application creates the socket itself, sorts every
datagram with :func:`aiodtls.demux.classify`, answers (toy) STUN binding requests on its own,
and hands only the DTLS datagrams to an :class:`aiodtls.asyncio.DtlsProtocol` whose core is a
client ``DtlsConnection``. The protocol sends through the application's transport and keeps
the retransmission timer, so the handshake needs nothing else from the application.

The remote side is an ``aiodtls.asyncio.serve`` server in the same process, with a throwaway
certificate that the client pins by SHA-256 fingerprint (as an SDP ``a=fingerprint`` line
would), plus a plain UDP socket standing in for the remote ICE agent's STUN checks. Once the
handshake is done, both sides derive DTLS-SRTP keying material (RFC 5764 §4.2) with the
RFC 5705 exporter and the example checks that they agree. (The ``use_srtp`` extension itself
is not negotiated by this version of aiodtls; the keys are derived the same way.)

    python examples/own_socket_webrtc_style.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections import Counter
from typing import cast

from cryptography.hazmat.primitives import hashes

from aiodtls import DtlsConfiguration, DtlsConnection
from aiodtls.asyncio import DtlsProtocol, DtlsSession, serve
from aiodtls.connection import NetworkAddress
from aiodtls.demux import PacketKind, classify
from aiodtls.pki import generate_chain

SRTP_LABEL = "EXTRACTOR-dtls_srtp"  # RFC 5764 §4.2
SRTP_KEY, SRTP_SALT = 16, 14  # SRTP_AES128_CM_HMAC_SHA1_80: 2 keys + 2 salts = 60 bytes


class SharedPort(asyncio.DatagramProtocol):
    """The application's socket: STUN is answered here, DTLS goes to aiodtls (RFC 7983)."""

    def __init__(self, dtls: DtlsProtocol) -> None:
        self.dtls = dtls
        self.transport: asyncio.DatagramTransport | None = None
        self.seen: Counter[str] = Counter()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep our transport and lend it to DTLS, which only needs ``sendto(data, addr)``."""
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.dtls.connection_made(transport)

    def datagram_received(self, data: bytes, addr: NetworkAddress) -> None:
        """Demultiplex by first byte."""
        kind = classify(data)
        self.seen[kind.value] += 1
        if kind is PacketKind.DTLS:
            self.dtls.datagram_received(data, addr)
        elif kind is PacketKind.STUN and data[:2] == b"\x00\x01" and self.transport is not None:
            # Toy STUN: a Binding Request (0x0001) gets a Binding Success Response (0x0101)
            # with the same transaction ID. A real agent would add XOR-MAPPED-ADDRESS.
            self.transport.sendto(b"\x01\x01" + data[2:], addr)
        # RTP/RTCP would go to the SRTP layer here; UNKNOWN must be dropped (RFC 7983 §7).

    def error_received(self, exc: Exception) -> None:
        """ICMP errors: a client's association ends at once if the peer is unreachable."""
        self.dtls.error_received(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        """The socket closed: DTLS sessions end too."""
        self.dtls.connection_lost(exc)


class StunPeer(asyncio.DatagramProtocol):
    """The remote ICE agent, reduced to sending one Binding Request and awaiting the answer."""

    def __init__(self) -> None:
        self.answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: NetworkAddress) -> None:
        """Take the first answer."""
        if not self.answer.done():
            self.answer.set_result(data)


async def check_stun(app_address: NetworkAddress) -> None:
    """Send a (header-only) STUN Binding Request to the application's port; await its answer."""
    loop = asyncio.get_running_loop()
    transport, peer = await loop.create_datagram_endpoint(StunPeer, local_addr=("127.0.0.1", 0))
    transaction_id = os.urandom(12)
    request = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + transaction_id  # type, length, cookie
    try:
        for _ in range(5):  # STUN retransmits too
            transport.sendto(request, app_address)
            try:
                answer = await asyncio.wait_for(asyncio.shield(peer.answer), 0.5)
                break
            except asyncio.TimeoutError:
                continue
        else:
            raise TimeoutError("no answer to the STUN binding request")
        assert answer[:2] == b"\x01\x01" and answer[8:] == transaction_id
        print(f"stun: binding response from {app_address[0]}:{app_address[1]}", flush=True)
    finally:
        transport.close()


async def main(args: argparse.Namespace) -> None:
    """Run the remote server, then the application with its own socket, then compare keys."""
    loop = asyncio.get_running_loop()

    # -- the remote side: a server with a throwaway certificate ---------------------------
    chain = generate_chain()
    server_config = DtlsConfiguration(is_client=False)
    server_config.certificate_chain, server_config.private_key = chain.chain, chain.key
    remote_keys: asyncio.Future[bytes] = loop.create_future()

    async def remote_handler(session: DtlsSession) -> None:
        remote_keys.set_result(session.export_keying_material(SRTP_LABEL, 60))
        async for data in session:  # echo until the client closes
            session.send(data)

    server = await serve("127.0.0.1", 0, configuration=server_config, handler=remote_handler)

    # -- the application: its own socket, a client core, WebRTC-style pinning -------------
    client_config = DtlsConfiguration(is_client=True)
    client_config.peer_fingerprints = [chain.leaf.fingerprint(hashes.SHA256())]
    dtls = DtlsProtocol(DtlsConnection(configuration=client_config))
    transport, app = await loop.create_datagram_endpoint(
        lambda: SharedPort(dtls), local_addr=("127.0.0.1", args.port)
    )
    try:
        # Start the handshake: the protocol sends the ClientHello and arms the retransmission
        # timer. From here on, datagram_received drives everything.
        session = dtls.start(server.address)
        await check_stun(transport.get_extra_info("sockname"))  # meanwhile, on the same port
        await asyncio.wait_for(session.wait_handshake(), 10)
        hs = session.handshake
        print(
            f"handshake ok: {hs.protocol_version} {hs.cipher_suite} "
            f"in {hs.duration * 1000:.1f} ms, {hs.retransmissions} retransmissions",
            flush=True,
        )

        # Application data is not retransmitted by DTLS: retry until the echo arrives.
        for _ in range(5):
            session.send(b"hello over a shared port")
            try:
                reply = await asyncio.wait_for(session.recv(), 0.5)
                print(f"echo: {reply.decode()}", flush=True)
                break
            except asyncio.TimeoutError:
                continue

        # DTLS-SRTP keying material: client key | server key | client salt | server salt.
        material = session.export_keying_material(SRTP_LABEL, 60)
        k = SRTP_KEY
        print(f"srtp client write key:  {material[:k].hex()}")
        print(f"srtp server write key:  {material[k : 2 * k].hex()}")
        print(f"srtp client write salt: {material[2 * k : 2 * k + SRTP_SALT].hex()}")
        print(f"srtp server write salt: {material[2 * k + SRTP_SALT :].hex()}")
        same = material == await asyncio.wait_for(remote_keys, 5)
        print(f"server derived the same keying material: {'yes' if same else 'NO'}")
        session.close()
    finally:
        transport.close()
        server.close()
        await server.wait_closed()
    print("demultiplexed: " + ", ".join(f"{k} {n}" for k, n in sorted(app.seen.items())))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="the application's UDP port (any)")
    asyncio.run(main(parser.parse_args()))
