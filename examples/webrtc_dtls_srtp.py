"""Two WebRTC-style peers: generated identities, fingerprints in SDP, roles from a=setup, the
DTLS-SRTP handshake over a datagram path the application owns, and SRTP with libsrtp.

Each peer makes an ephemeral certificate (as ``RTCPeerConnection.generateCertificate``
does) and puts its fingerprint and ``a=setup`` in its SDP: alice offers ``actpass``, bob
answers ``active``. Each reads the other's ``a=fingerprint:`` lines and pins them, and takes
its DTLS role from the two ``a=setup`` values. The "ICE" here is one UDP socket per peer that
also carries STUN: the application answers STUN itself and feeds only DTLS datagrams
(RFC 7983) to an :class:`aiodtls.asyncio.DtlsOverDatagrams`, which sends through the
application's socket and keeps every retransmission timer. The round trip the STUN check
measured seeds the first retransmission timeout, as libwebrtc does. Both offer DTLS-SRTP
profiles; once the handshake is done, each side keys a libsrtp session (pylibsrtp) with
``srtp_keying_material()``, and one RTP packet goes from bob to alice protected on the same
socket (RFC 7983 tells it from DTLS and STUN).

    pip install pylibsrtp
    python examples/webrtc_dtls_srtp.py [--lose N]

``--lose N`` makes each application drop its first N outgoing DTLS datagrams: the handshake
still completes, because the drivers' timers resend (the application never does).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Callable
from typing import cast

from pylibsrtp import Policy, Session

from aiodtls.asyncio import DtlsOverDatagrams
from aiodtls.demux import PacketKind, classify
from aiodtls.reliability.timer import seeded_rto
from aiodtls.srtp import SrtpKeyingMaterial, SrtpProfile
from aiodtls.webrtc import (
    Identity,
    answer_setup,
    dtls_role,
    generate_certificate,
    parse_fingerprint_lines,
)

PROFILES = [SrtpProfile.SRTP_AEAD_AES_128_GCM, SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80]
# One RTP packet: version 2, payload type 111 (Opus in browsers' SDPs), seq 1, ts 0, an SSRC.
RTP_HEADER = bytes([0x80, 111, 0, 1, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78])
STUN_MAGIC = b"\x21\x12\xa4\x42"


def sdp(identity: Identity, setup: str) -> str:
    """The DTLS part of a session description (a real one has ICE and media lines too)."""
    lines = ["v=0", "s=-", "m=application 9 UDP/DTLS/SCTP webrtc-datachannel"]
    lines += [f"a=setup:{setup}", identity.sdp_line("sha-256")]
    return "\r\n".join(lines) + "\r\n"


class IcePort(asyncio.DatagramProtocol):
    """A peer's socket: STUN handled here, DTLS to aiodtls, anything else dropped."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.dtls: DtlsOverDatagrams | None = None
        self.stun_responses: asyncio.Queue[bytes] = asyncio.Queue()
        self.rtp: asyncio.Queue[bytes] = asyncio.Queue()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the socket."""
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        """Demultiplex by first byte (RFC 7983)."""
        kind = classify(data)
        if kind is PacketKind.DTLS and self.dtls is not None:
            self.dtls.feed(data)
        elif kind is PacketKind.STUN and data[:2] == b"\x00\x01" and self.transport:
            self.transport.sendto(b"\x01\x01" + data[2:], addr)  # toy Binding Success
        elif kind is PacketKind.STUN:
            self.stun_responses.put_nowait(data)
        elif kind is PacketKind.RTP:
            self.rtp.put_nowait(data)  # SRTP: unprotected by the application's libsrtp

    async def check(self, remote: tuple[str, int]) -> float:
        """A (toy) ICE connectivity check; returns the measured round trip in seconds."""
        assert self.transport is not None
        transaction = os.urandom(12)
        for _ in range(5):
            started = time.monotonic()
            self.transport.sendto(b"\x00\x01\x00\x00" + STUN_MAGIC + transaction, remote)
            try:
                answer = await asyncio.wait_for(self.stun_responses.get(), 0.5)
            except asyncio.TimeoutError:
                continue
            if answer[8:] == transaction:
                return time.monotonic() - started
        raise TimeoutError("the ICE check got no answer")


def srtp_sessions(keys: SrtpKeyingMaterial) -> tuple[Session, Session]:
    """libsrtp sessions for one side: protect with our keys, unprotect with the peer's."""
    profile = int(keys.profile)  # libsrtp numbers profiles as IANA does
    tx = Policy(key=keys.local_master, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile)
    rx = Policy(key=keys.remote_master, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=profile)
    return Session(policy=tx), Session(policy=rx)


def lossy(send: Callable[[bytes], None], lose: int) -> Callable[[bytes], None]:
    """``send``, except that the first ``lose`` datagrams are dropped."""
    count = 0

    def maybe_send(datagram: bytes) -> None:
        nonlocal count
        count += 1
        if count > lose:
            send(datagram)

    return maybe_send


async def main(args: argparse.Namespace) -> None:
    """Signal, check connectivity, handshake, compare keys."""
    loop = asyncio.get_running_loop()
    alice, bob = generate_certificate(), generate_certificate()

    offer = sdp(alice, "actpass")  # alice offers
    answer = sdp(bob, answer_setup("actpass"))  # bob answers active (RFC 8842 recommends)
    print("offer:  a=setup:actpass, " + alice.sdp_line())
    print("answer: a=setup:active, " + bob.sdp_line())
    alice_role = dtls_role("actpass", "active")
    bob_role = dtls_role("active", "actpass")
    print(f"roles: alice is the DTLS {alice_role}, bob is the DTLS {bob_role}")

    ports = []
    for _ in range(2):
        transport, port = await loop.create_datagram_endpoint(IcePort, local_addr=("127.0.0.1", 0))
        ports.append((transport, port))
    (alice_t, alice_port), (bob_t, bob_port) = ports
    alice_addr, bob_addr = alice_t.get_extra_info("sockname"), bob_t.get_extra_info("sockname")
    try:
        rtt = await bob_port.check(alice_addr)
        print(f"ice: connectivity check answered, round trip {rtt * 1000:.2f} ms")
        first = seeded_rto(rtt) * 1000
        print(f"dtls: first retransmission timeout {first:.0f} ms (2 x RTT, within 50 ms-3 s)")

        alice_port.dtls = DtlsOverDatagrams(
            alice.configuration(
                parse_fingerprint_lines(answer), role=alice_role, srtp_profiles=PROFILES
            ),
            lossy(lambda datagram: alice_t.sendto(datagram, bob_addr), args.lose),
            initial_rtt=rtt,
        )
        bob_port.dtls = DtlsOverDatagrams(
            bob.configuration(
                parse_fingerprint_lines(offer), role=bob_role, srtp_profiles=PROFILES
            ),
            lossy(lambda datagram: bob_t.sendto(datagram, alice_addr), args.lose),
            initial_rtt=rtt,
        )
        alice_session, bob_session = await asyncio.gather(
            alice_port.dtls.handshake(10), bob_port.dtls.handshake(10)
        )
        hs = bob_session.handshake
        resent = hs.retransmissions + alice_session.handshake.retransmissions
        print(f"handshake ok: {hs.protocol_version} {hs.cipher_suite}, {resent} retransmissions")
        pinned = (
            bob_session.peer_certificates[0] == alice.certificate
            and alice_session.peer_certificates[0] == bob.certificate
        )
        print(f"each side holds the certificate its peer's SDP named: {'yes' if pinned else 'NO'}")

        # DTLS-SRTP: the agreed profile, and keys by role (RFC 5764 §4.2) into libsrtp.
        bob_keys, alice_keys = (
            bob_session.srtp_keying_material(),
            alice_session.srtp_keying_material(),
        )
        print(f"srtp profile: {bob_keys.profile.name}")
        bob_tx, _ = srtp_sessions(bob_keys)
        _, alice_rx = srtp_sessions(alice_keys)
        payload = b"twenty ms of audio"
        srtp = bob_tx.protect(RTP_HEADER + payload)
        bob_t.sendto(srtp, alice_addr)  # the same socket as DTLS and STUN
        received = alice_rx.unprotect(await asyncio.wait_for(alice_port.rtp.get(), 5))
        ok = received[12:] == payload and srtp[12:] != payload
        print(f"rtp: {len(srtp)}-byte SRTP packet unprotected by alice: {'yes' if ok else 'NO'}")

        bob_session.send(b"hello over the ICE path")
        print(f"alice received: {(await alice_session.recv(5)).decode()}")
        bob_port.dtls.close()
        alice_port.dtls.close()
    finally:
        alice_t.close()
        bob_t.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--lose", type=int, default=0, help="drop the first N DTLS datagrams each side sends"
    )
    asyncio.run(main(parser.parse_args()))
