"""aiodtls against aiortc (pyOpenSSL's DTLS and libsrtp) for DTLS-SRTP, both roles (issue 11).

aiortc's ``RTCDtlsTransport`` with its own ``RTCCertificate`` runs on a loopback UDP socket
(``aiortc_peer.LoopbackIceTransport``, a minimal stand-in for its ICE transport: the ICE role
decides the DTLS role, ``controlling`` = server). aiodtls runs its asyncio API
(``serve``/``connect``) on its own socket, with a ``create_protocol`` hook that demultiplexes
SRTP/SRTCP from DTLS by the first byte (RFC 7983). Each test checks:

- fingerprints on both sides: aiortc's ``start()`` gets the SHA-256 fingerprint of aiodtls's
  certificate, aiodtls pins aiortc's certificate with ``peer_fingerprints`` (the text of
  ``RTCCertificate.getFingerprints()``); a wrong pin fails the handshake on either side;
- the SRTP profile both sides negotiated, for each profile aiortc offers;
- RTP and RTCP each way: aiortc protects with its libsrtp session (``_send_rtp``, the path of
  ``RTCRtpSender``) and aiodtls's side unprotects with ``pylibsrtp`` keyed from
  ``session.srtp_keying_material()``; aiodtls's side protects, and aiortc's own session
  unprotects and routes the packets to a receiver registered in its RTP router.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import pylibsrtp
import pytest
from aiortc import RTCDtlsFingerprint
from aiortc.rtp import RtcpRrPacket, RtpPacket

from aiodtls import DtlsConfiguration, DtlsConnection, HandshakeError
from aiodtls.asyncio import DtlsSession, connect, serve
from aiodtls.pki import Credentials, fingerprint, format_fingerprint, self_signed
from aiodtls.srtp import SrtpProfile

from .aiortc_peer import (
    AiortcPeer,
    LibsrtpSessions,
    MediaClientProtocol,
    MediaServerProtocol,
    parse_rtcp,
    rtcp_receiver_report,
    rtp_packet,
)
from .launch import AIODTLS
from .peers import PeerSet, free_udp_port
from .test_proxy import (
    LOSE_CERTIFICATE_FRAGMENT_ONCE,
    datagrams,
    finding,
    json_events,
    wait_for_event,
)

pytestmark = pytest.mark.interop

T = TypeVar("T")

AIORTC_PROFILES = [
    SrtpProfile.SRTP_AEAD_AES_256_GCM,
    SrtpProfile.SRTP_AEAD_AES_128_GCM,
    SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80,
]
"What aiortc offers (and accepts), in its order (``aiortc.rtcdtlstransport.SRTP_PROFILES``)."

AIORTC_SSRC = 0x11223344
"The SSRC aiortc's side sends RTP and RTCP as."
AIODTLS_SSRC = 0x55667788
"The SSRC aiodtls's side sends RTP and RTCP as."

WAIT = 10.0
"Seconds any single step may take (loopback handshakes take well under one)."


async def within(awaitable: Awaitable[T]) -> T:
    return await asyncio.wait_for(awaitable, WAIT)


def sha256_pin(credentials: Credentials) -> str:
    return format_fingerprint(fingerprint(credentials.certificate))


def aiodtls_config(
    is_client: bool, credentials: Credentials, peer: AiortcPeer, profiles: list[SrtpProfile]
) -> DtlsConfiguration:
    """aiodtls with an ECDSA certificate (aiortc only allows ECDHE-ECDSA suites) pinning
    aiortc's certificate by the fingerprint text aiortc itself gives. The versions are the
    default, DTLS 1.2 and 1.3: aiortc's OpenSSL answers in DTLS 1.2 (``exchange_media``)."""
    sha256 = [f for f in peer.fingerprints if f.startswith("sha-256 ")]
    assert len(sha256) == 1, peer.fingerprints
    return DtlsConfiguration(
        is_client=is_client,
        certificate_chain=credentials.chain,
        private_key=credentials.key,
        peer_fingerprints=sha256,
        srtp_profiles=profiles,
    )


@dataclass
class Association:
    """Both ends of one completed DTLS-SRTP association."""

    aiortc: AiortcPeer
    session: DtlsSession
    send_media: Callable[[bytes], None]
    "Send a datagram from aiodtls's socket to aiortc."
    media: asyncio.Queue[tuple[bytes, Any]]
    "SRTP/SRTCP datagrams aiodtls's socket received."

    @classmethod
    def of(
        cls,
        peer: AiortcPeer,
        session: DtlsSession,
        protocol: MediaClientProtocol | MediaServerProtocol,
    ) -> Association:
        """The association of ``session``, whose socket is ``protocol``'s, with ``peer``."""

        def send_media(data: bytes) -> None:
            protocol.send_media(data, session.peer_address)

        return cls(peer, session, send_media, protocol.media)


@asynccontextmanager
async def aiortc_client_aiodtls_server(
    profiles: list[SrtpProfile], aiortc_pin: RTCDtlsFingerprint | None = None
) -> AsyncIterator[Association]:
    """aiortc (ICE controlled: DTLS client) -> aiodtls ``serve()``."""
    credentials = self_signed(kind="ecdsa")
    peer = await AiortcPeer.open("controlled", receive_ssrc=AIODTLS_SSRC, send_ssrc=AIORTC_SSRC)
    sessions: asyncio.Queue[DtlsSession] = asyncio.Queue()
    done = asyncio.Event()

    async def handler(session: DtlsSession) -> None:
        sessions.put_nowait(session)
        await done.wait()

    MediaServerProtocol.instances.clear()
    server = await serve(
        "127.0.0.1",
        0,
        configuration=aiodtls_config(False, credentials, peer, profiles),
        handler=handler,
        create_protocol=MediaServerProtocol,
    )
    (protocol,) = MediaServerProtocol.instances
    try:
        peer.ice.peer = ("127.0.0.1", server.address[1])
        if aiortc_pin is None:
            await within(peer.start(credentials.certificate))
        else:
            await within(peer.start_with(aiortc_pin))
        session = await within(sessions.get())
        yield Association.of(peer, session, protocol)
    finally:
        done.set()
        await peer.close()
        server.close()
        await server.wait_closed()


@asynccontextmanager
async def aiodtls_client_aiortc_server(
    profiles: list[SrtpProfile],
    aiodtls_pins: list[str] | None = None,
    *,
    aiortc_port: int = 0,
    via_port: int | None = None,
) -> AsyncIterator[Association]:
    """aiodtls ``connect()`` -> aiortc (ICE controlling: DTLS server) on ``aiortc_port``,
    through 127.0.0.1:``via_port`` (a proxy in front of it) when given."""
    credentials = self_signed(kind="ecdsa")
    peer = await AiortcPeer.open(
        "controlling", receive_ssrc=AIODTLS_SSRC, send_ssrc=AIORTC_SSRC, port=aiortc_port
    )
    config = aiodtls_config(True, credentials, peer, profiles)
    if aiodtls_pins is not None:
        config.peer_fingerprints = aiodtls_pins
    protocols: list[MediaClientProtocol] = []

    def make_protocol(connection: DtlsConnection) -> MediaClientProtocol:
        protocols.append(MediaClientProtocol(connection))
        return protocols[-1]

    aiortc_started = asyncio.ensure_future(peer.start(credentials.certificate))
    try:
        async with connect(
            "127.0.0.1",
            peer.ice.address[1] if via_port is None else via_port,
            configuration=config,
            timeout=WAIT,
            create_protocol=make_protocol,
        ) as session:
            await within(aiortc_started)
            (protocol,) = protocols
            yield Association.of(peer, session, protocol)
    finally:
        aiortc_started.cancel()
        await peer.close()


async def exchange_media(association: Association, profile: SrtpProfile) -> None:
    """Both sides agree on ``profile`` and on each other's certificate; one RTP and one RTCP
    packet each way, protected by one side's libsrtp and unprotected by the other's."""
    peer, session = association.aiortc, association.session
    assert peer.dtls.state == "connected", peer.states
    assert session.srtp_profile is profile
    assert session.connection.configuration.versions == DtlsConfiguration().versions  # both
    assert session.protocol_version == "DTLSv1.2"  # aiortc speaks DTLS 1.2 only
    assert peer.srtp_profile is profile
    # aiodtls saw aiortc's certificate, and aiortc pinned aiodtls's (it is "connected").
    expected = peer.certificate.getFingerprints()[0]
    assert expected.algorithm == "sha-256"
    seen = format_fingerprint(fingerprint(session.peer_certificates[0]), None)
    assert seen == expected.value

    material = session.srtp_keying_material()
    assert material.profile is profile
    srtp = LibsrtpSessions.from_material(material)

    # aiodtls -> aiortc: RTP and RTCP protected here, unprotected and routed by aiortc.
    plain_rtp = rtp_packet(AIODTLS_SSRC, 1, b"RTP from aiodtls")
    protected = srtp.tx.protect(plain_rtp)
    assert b"RTP from aiodtls" not in protected
    association.send_media(protected)
    received = await within(peer.receiver.rtp.get())
    assert (received.ssrc, received.sequence_number, received.payload) == (
        AIODTLS_SSRC,
        1,
        b"RTP from aiodtls",
    )
    association.send_media(
        srtp.tx.protect_rtcp(rtcp_receiver_report(AIODTLS_SSRC, AIORTC_SSRC, 41))
    )
    report = await within(peer.receiver.rtcp.get())
    assert isinstance(report, RtcpRrPacket)
    assert report.ssrc == AIODTLS_SSRC
    assert [(r.ssrc, r.highest_sequence) for r in report.reports] == [(AIORTC_SSRC, 41)]

    # aiortc -> aiodtls: protected by aiortc's session, unprotected with aiodtls's keys.
    await peer.send(rtp_packet(AIORTC_SSRC, 7, b"RTP from aiortc"))
    data, _ = await within(association.media.get())
    assert b"RTP from aiortc" not in data
    packet = RtpPacket.parse(srtp.rx.unprotect(data))
    assert (packet.ssrc, packet.sequence_number, packet.payload) == (
        AIORTC_SSRC,
        7,
        b"RTP from aiortc",
    )
    await peer.send(rtcp_receiver_report(AIORTC_SSRC, AIODTLS_SSRC, 1))
    data, _ = await within(association.media.get())
    (rr,) = parse_rtcp(srtp.rx.unprotect_rtcp(data))
    assert isinstance(rr, RtcpRrPacket)
    assert rr.ssrc == AIORTC_SSRC
    assert [(r.ssrc, r.highest_sequence) for r in rr.reports] == [(AIODTLS_SSRC, 1)]

    # Keys of the wrong direction do not unprotect: the two directions are keyed apart.
    await peer.send(rtp_packet(AIORTC_SSRC, 8, b"again"))
    data, _ = await within(association.media.get())
    wrong = LibsrtpSessions.from_material(
        type(material)(
            material.profile,
            material.remote_key,
            material.remote_salt,
            material.local_key,
            material.local_salt,
        )
    )
    with pytest.raises(pylibsrtp.Error):
        wrong.rx.unprotect(data)


@pytest.mark.parametrize("profile", AIORTC_PROFILES, ids=lambda p: p.name)
def test_aiortc_client_to_aiodtls_server(profile: SrtpProfile) -> None:
    async def main() -> None:
        async with aiortc_client_aiodtls_server([profile]) as association:
            await exchange_media(association, profile)

    asyncio.run(main())


@pytest.mark.parametrize("profile", AIORTC_PROFILES, ids=lambda p: p.name)
def test_aiodtls_client_to_aiortc_server(profile: SrtpProfile) -> None:
    async def main() -> None:
        async with aiodtls_client_aiortc_server([profile]) as association:
            await exchange_media(association, profile)

    asyncio.run(main())


def test_aiodtls_server_preference_decides_among_aiortcs_offer() -> None:
    """aiortc offers AES-256-GCM first; an aiodtls server preferring SHA1_80 gets SHA1_80."""
    preferred = [SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80, SrtpProfile.SRTP_AEAD_AES_256_GCM]

    async def main() -> None:
        async with aiortc_client_aiodtls_server(preferred) as association:
            await exchange_media(association, SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80)

    asyncio.run(main())


def test_aiortc_rejects_an_aiodtls_certificate_that_does_not_match_its_fingerprint() -> None:
    other = sha256_pin(self_signed(kind="ecdsa")).split(" ", 1)[1]

    async def run() -> list[str]:
        peer_states: list[str] = []
        credentials = self_signed(kind="ecdsa")
        peer = await AiortcPeer.open("controlled", receive_ssrc=1, send_ssrc=2)
        server = await serve(
            "127.0.0.1",
            0,
            configuration=aiodtls_config(False, credentials, peer, AIORTC_PROFILES),
            handler=lambda session: asyncio.sleep(0),
        )
        try:
            peer.ice.peer = ("127.0.0.1", server.address[1])
            await within(peer.start_with(RTCDtlsFingerprint("sha-256", other)))
            peer_states = list(peer.states)
        finally:
            await peer.close()
            server.close()
            await server.wait_closed()
        return peer_states

    states = asyncio.run(run())
    assert states == ["connecting", "failed"]


def test_aiodtls_rejects_an_aiortc_certificate_that_does_not_match_its_pin() -> None:
    wrong_pin = sha256_pin(self_signed(kind="ecdsa"))

    async def main() -> None:
        with pytest.raises(HandshakeError, match="fingerprint") as raised:
            async with aiodtls_client_aiortc_server(AIORTC_PROFILES, aiodtls_pins=[wrong_pin]):
                pass
        assert raised.value is not None

    asyncio.run(main())


# --------------------------------------------------------------------------------------------
# The Licode scenario with SRTP: aiortc as the DTLS server behind ``aiodtls proxy``
#
# aiortc reads its memory BIO with one ``bio_read(1500)`` per flight, so OpenSSL's records
# (cut for its 256-byte minimum MTU: the ~350-byte Certificate in three fragments) leave in ONE
# UDP datagram of ~780 bytes. ``--drop-message Certificate:2`` therefore drops the datagram that
# holds fragment 2 of the Certificate, which is the whole of flight 4: the proxy reports the
# first lost message (ServerHello). Two more losses show the other side recovering: the
# client's flight 5 (its Certificate), and aiortc's last flight (CCS, Finished), which aiortc
# does not resend by a timer once it considers the handshake done.
#
# In the first case two 1 s timers race: aiortc's for flight 4, started when flight 4 left
# (a few ms after the ClientHello), and the aiodtls client's for its ClientHello, started
# when that left, lengthened by a random 0-10 % jitter (docs/reliability.md). When the jitter
# is smaller than that head start (a few percent of runs, more under load, when the head
# start grows) the client's timer expires first and it sends its ClientHello a third time,
# just before aiortc's flight 4 arrives. OpenSSL discards a repeated ClientHello (message_seq
# below the one it expects), so that copy changes nothing else. Both orders are correct; the
# test takes the order from the datagrams it saw.

LICODE_CASES = {
    "server-certificate-fragment": (
        ("--direction", "s2c", *LOSE_CERTIFICATE_FRAGMENT_ONCE),
        "server",
        4,
        {"client": 1, "server": 1},
    ),
    "client-certificate": (
        ("--direction", "c2s", "--drop-message", "Certificate", "--drop-first", "1"),
        "client",
        5,
        {"client": 1, "server": 0},
    ),
    "server-finished": (
        ("--direction", "s2c", "--drop-index", "1", "--drop-first", "1"),
        "client",
        5,
        {"client": 1, "server": 1},
    ),
}
"Proxy rules, who must recover, by retransmitting which flight, and retransmissions by side."


SLOW = pytest.mark.slow


@pytest.mark.parametrize(
    "case",
    [
        name if name == "server-certificate-fragment" else pytest.param(name, marks=SLOW)
        for name in LICODE_CASES
    ],
)
def test_licode_scenario_aiortc_server_behind_the_proxy(case: str, peers: PeerSet) -> None:
    """Issue 11 Must show 2: aiodtls client -> ``aiodtls proxy`` (one loss) -> aiortc as DTLS
    server. The handshake completes, SRTP works through the proxy, and the proxy's
    ``completed`` finding names who recovered by retransmitting what."""
    rules, recovering_side, flight, retransmissions = LICODE_CASES[case]
    aiortc_port = free_udp_port()
    proxy, port = AIODTLS.proxy(peers, aiortc_port, *rules, json_output=True)
    profile = SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80

    async def main() -> None:
        async with aiodtls_client_aiortc_server(
            [profile], aiortc_port=aiortc_port, via_port=port
        ) as association:
            await exchange_media(association, profile)

    asyncio.run(main())

    completed = wait_for_event(proxy, finding("completed"), "completed finding", 10.0)
    events = json_events(proxy)
    if case == "server-certificate-fragment":
        # The ClientHello, the client's probe 0.25 s later, and a third copy if the client's
        # own 1 s timer expired before aiortc's (see above). Either way it is the client's only
        # retransmitted flight, and aiortc resent flight 4 exactly once.
        hellos = [
            d
            for d in datagrams(events)
            if d["direction"] == "c2s" and d["summary"].startswith("HS ClientHello")
        ]
        assert len(hellos) in (2, 3), hellos
        retransmissions = {"client": len(hellos) - 1, "server": 1}
        assert sorted(completed["intervals"]) == ["flight 1", "flight 4"], completed
        assert len(completed["intervals"]["flight 1"]) == len(hellos) - 1, completed
    assert completed["retransmissions"] == retransmissions, completed
    [recovered] = completed["recovered"]
    assert recovered["side"] == recovering_side, completed
    assert recovered["flight"] == flight, completed
    dropped = [d for d in datagrams(events) if d["action"] == "dropped"]
    assert len(dropped) == 1, dropped
    if case == "server-certificate-fragment":
        # The whole flight went in one datagram: ServerHello ... ServerHelloDone.
        assert "Certificate seq=1" in dropped[0]["summary"], dropped
        assert "ServerHello seq=0" in dropped[0]["summary"], dropped
        # aiortc's OpenSSL resent flight 4 when its own 1 s timer expired (aiodtls's early
        # probe of its ClientHello came before that and did not prompt it; OpenSSL ignores a
        # repeated ClientHello, so a third copy from the client's timer did not either).
        assert 0.8 <= recovered["after"] <= 1.6, completed
    else:
        # aiodtls's client resent flight 5 by its timer (initial 1 s less the RTT-based
        # shortening of docs/reliability.md; well under aiortc's 1 s).
        assert recovered["after"] < 1.6, completed
    if case == "server-finished":
        assert "the loss of the server's ChangeCipherSpec" in completed["message"], completed
    assert not any(finding("no_retransmission")(e) for e in events)
