"""aiortc as a DTLS-SRTP peer of aiodtls over loopback UDP (issue 11), for the interop tests.

What this owns:

- :class:`LoopbackIceTransport`: the least of aiortc's ``RTCIceTransport`` that
  ``RTCDtlsTransport`` uses (``role``, ``async _recv()``, ``async _send()``), over one real
  asyncio UDP socket with one fixed peer. ``role`` decides aiortc's DTLS role the way ORTC
  does: ``"controlling"`` is the DTLS server, ``"controlled"`` the client.
- :class:`AiortcPeer`: an ``RTCDtlsTransport`` with its own ``RTCCertificate`` on such a
  socket, with a fake RTP receiver and RTCP sender registered in aiortc's router so that what
  its libsrtp session unprotects is recorded as parsed packets.
- The aiodtls side's media demultiplexing: :class:`MediaClientProtocol` and
  :func:`media_server_protocol` are ``create_protocol`` hooks of ``aiodtls.asyncio.connect``
  and ``serve`` that hand DTLS datagrams (RFC 7983 first byte 20-63) to aiodtls and queue
  SRTP/SRTCP (128-191) for the test, which unprotects them with pylibsrtp and the keys of
  ``session.srtp_keying_material()``.
- RTP and RTCP packets built with ``aiortc.rtp``.

aiortc's RTP hooks used here (``_register_rtp_receiver``, ``_register_rtp_sender``,
``_send_rtp``, ``_ssl``) are private to aiortc but stable since 1.0; they are what its own
``RTCRtpSender``/``RTCRtpReceiver`` call.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, cast

import pylibsrtp
from aiortc import (
    RTCCertificate,
    RTCDtlsFingerprint,
    RTCDtlsParameters,
    RTCDtlsTransport,
    RTCRtpCodecParameters,
)
from aiortc.rtcrtpparameters import (
    RTCRtpDecodingParameters,
    RTCRtpReceiveParameters,
    RTCRtpSendParameters,
)
from aiortc.rtp import RtcpPacket, RtcpReceiverInfo, RtcpRrPacket, RtpPacket
from cryptography import x509

from aiodtls import DtlsEndpoint
from aiodtls.asyncio import DtlsProtocol
from aiodtls.asyncio.server import DtlsServerProtocol, FailureCallback, Handler
from aiodtls.demux import PacketKind, classify
from aiodtls.pki import fingerprint, format_fingerprint
from aiodtls.srtp import SrtpKeyingMaterial, SrtpProfile

PAYLOAD_TYPE = 111
"The RTP payload type of the test stream (opus's usual dynamic type)."

LIBSRTP_PROFILES = {
    SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_32: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
    SrtpProfile.SRTP_AEAD_AES_128_GCM: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    SrtpProfile.SRTP_AEAD_AES_256_GCM: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
}
"aiodtls's profiles as libsrtp's profile numbers."


# -- aiortc's side ---------------------------------------------------------------------------


class LoopbackIceTransport(asyncio.DatagramProtocol):
    """A stand-in for ``RTCIceTransport``: one UDP socket, one peer, no STUN."""

    def __init__(self, role: str) -> None:
        self.role = role
        "``controlling`` (aiortc is the DTLS server) or ``controlled`` (the client)."
        self.peer: tuple[str, int] | None = None
        "Where ``_send`` sends; the first sender's address when unset (a server)."
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._transport: asyncio.DatagramTransport | None = None

    @classmethod
    async def open(cls, role: str, port: int = 0) -> LoopbackIceTransport:
        """Bind a loopback UDP socket on ``port`` (0: an ephemeral one)."""
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_datagram_endpoint(
            lambda: cls(role), local_addr=("127.0.0.1", port)
        )
        return protocol

    @property
    def address(self) -> tuple[str, int]:
        assert self._transport is not None
        host, port = self._transport.get_extra_info("sockname")[:2]
        return host, port

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if self.peer is None:
            self.peer = (addr[0], addr[1])
        if (addr[0], addr[1]) == self.peer:
            self._queue.put_nowait(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._queue.put_nowait(None)

    async def _recv(self) -> bytes:
        data = await self._queue.get()
        if data is None:
            self._queue.put_nowait(None)
            raise ConnectionError("the loopback socket is closed")
        return data

    async def _send(self, data: bytes) -> None:
        if self._transport is None or self._transport.is_closing() or self.peer is None:
            raise ConnectionError("the loopback socket is closed or has no peer")
        self._transport.sendto(data, self.peer)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class RecordingReceiver:
    """An RTP receiver and RTCP sender in aiortc's router that records what it is handed."""

    def __init__(self, ssrc: int) -> None:
        self._ssrc = ssrc
        self.rtp: asyncio.Queue[RtpPacket] = asyncio.Queue()
        self.rtcp: asyncio.Queue[Any] = asyncio.Queue()

    def _handle_disconnect(self) -> None:
        pass

    async def _handle_rtcp_packet(self, packet: Any) -> None:
        self.rtcp.put_nowait(packet)

    async def _handle_rtp_packet(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        self.rtp.put_nowait(packet)


@dataclass
class AiortcPeer:
    """aiortc's ``RTCDtlsTransport`` on a :class:`LoopbackIceTransport`."""

    ice: LoopbackIceTransport
    dtls: RTCDtlsTransport
    certificate: RTCCertificate
    receiver: RecordingReceiver
    states: list[str] = field(default_factory=list)

    @classmethod
    async def open(
        cls, role: str, *, receive_ssrc: int, send_ssrc: int, port: int = 0
    ) -> AiortcPeer:
        """A peer on UDP ``port`` whose ICE ``role`` decides its DTLS role; it records RTP
        from ``receive_ssrc`` and RTCP reports about ``send_ssrc``."""
        ice = await LoopbackIceTransport.open(role, port)
        certificate = RTCCertificate.generateCertificate()
        dtls = RTCDtlsTransport(ice, [certificate])  # type: ignore[arg-type]
        receiver = RecordingReceiver(send_ssrc)
        dtls._register_rtp_receiver(
            receiver,
            RTCRtpReceiveParameters(
                codecs=[
                    RTCRtpCodecParameters(
                        mimeType="audio/opus", clockRate=48000, channels=2, payloadType=PAYLOAD_TYPE
                    )
                ],
                encodings=[RTCRtpDecodingParameters(ssrc=receive_ssrc, payloadType=PAYLOAD_TYPE)],
            ),
        )
        dtls._register_rtp_sender(receiver, RTCRtpSendParameters())
        peer = cls(ice, dtls, certificate, receiver)
        dtls.on("statechange", lambda: peer.states.append(dtls.state))
        return peer

    @property
    def fingerprints(self) -> list[str]:
        """aiortc's own fingerprints of its certificate, as ``sha-256 AB:CD:...`` text."""
        return [f"{f.algorithm} {f.value}" for f in self.certificate.getFingerprints()]

    async def start(self, remote_certificate: x509.Certificate) -> None:
        """Run aiortc's handshake, pinning ``remote_certificate`` by its SHA-256 fingerprint."""
        value = format_fingerprint(fingerprint(remote_certificate), None)
        await self.start_with(RTCDtlsFingerprint(algorithm="sha-256", value=value))

    async def start_with(self, pin: RTCDtlsFingerprint) -> None:
        """Run aiortc's handshake expecting a peer certificate with fingerprint ``pin``."""
        await self.dtls.start(RTCDtlsParameters(fingerprints=[pin]))

    @property
    def srtp_profile(self) -> SrtpProfile:
        """The profile aiortc's OpenSSL selected."""
        assert self.dtls._ssl is not None, "the handshake has not started"
        name = self.dtls._ssl.get_selected_srtp_profile().decode()
        return SrtpProfile.from_name(name)

    async def send(self, packet: bytes) -> None:
        """Protect with aiortc's libsrtp session and send (``RTCRtpSender``'s path)."""
        await self.dtls._send_rtp(packet)

    async def close(self) -> None:
        await self.dtls.stop()
        self.ice.close()


# -- aiodtls's side ----------------------------------------------------------------------------


class _MediaDemux(asyncio.DatagramProtocol):
    """Queues SRTP/SRTCP datagrams and keeps the transport to send them on; hands the rest
    to the DTLS protocol after it in the MRO."""

    media: asyncio.Queue[tuple[bytes, Any]]
    media_transport: asyncio.DatagramTransport | None

    def _init_media(self) -> None:
        self.media = asyncio.Queue()
        self.media_transport = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.media_transport = cast(asyncio.DatagramTransport, transport)
        super().connection_made(self.media_transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if classify(data) is PacketKind.RTP:
            self.media.put_nowait((data, addr))
        else:
            super().datagram_received(data, addr)

    def send_media(self, data: bytes, addr: Any) -> None:
        assert self.media_transport is not None
        self.media_transport.sendto(data, addr)


class MediaClientProtocol(_MediaDemux, DtlsProtocol):
    """``connect(create_protocol=...)``: DTLS to aiodtls, SRTP/SRTCP to :attr:`media`."""

    def __init__(self, core: Any) -> None:
        super().__init__(core)
        self._init_media()


class MediaServerProtocol(_MediaDemux, DtlsServerProtocol):
    """``serve(create_protocol=...)``: DTLS to aiodtls, SRTP/SRTCP to :attr:`media`."""

    instances: list[MediaServerProtocol] = []
    "Every instance made (the test finds its server's protocol here)."

    def __init__(
        self,
        endpoint: DtlsEndpoint,
        handler: Handler,
        on_handshake_failure: FailureCallback | None,
    ) -> None:
        super().__init__(endpoint, handler, on_handshake_failure)
        self._init_media()
        MediaServerProtocol.instances.append(self)


@dataclass
class LibsrtpSessions:
    """The aiodtls side's libsrtp sessions, keyed from ``srtp_keying_material()``."""

    tx: pylibsrtp.Session
    rx: pylibsrtp.Session

    @classmethod
    def from_material(cls, material: SrtpKeyingMaterial) -> LibsrtpSessions:
        profile = LIBSRTP_PROFILES[material.profile]
        tx = pylibsrtp.Session(
            pylibsrtp.Policy(
                key=material.local_master,
                ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
                srtp_profile=profile,
            )
        )
        rx = pylibsrtp.Session(
            pylibsrtp.Policy(
                key=material.remote_master,
                ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND,
                srtp_profile=profile,
            )
        )
        return cls(tx, rx)


# -- packets -------------------------------------------------------------------------------------


def rtp_packet(ssrc: int, sequence_number: int, payload: bytes) -> bytes:
    """A plain RTP packet (12-byte header, marker off) of the test payload type."""
    return RtpPacket(
        payload_type=PAYLOAD_TYPE,
        sequence_number=sequence_number,
        timestamp=960 * sequence_number,
        ssrc=ssrc,
        payload=payload,
    ).serialize()


def rtcp_receiver_report(ssrc: int, about_ssrc: int, highest_sequence: int) -> bytes:
    """A plain RTCP RR from ``ssrc`` with one report block about ``about_ssrc``."""
    report = RtcpReceiverInfo(
        ssrc=about_ssrc,
        fraction_lost=0,
        packets_lost=0,
        highest_sequence=highest_sequence,
        jitter=7,
        lsr=0,
        dlsr=0,
    )
    return bytes(RtcpRrPacket(ssrc=ssrc, reports=[report]))


def parse_rtcp(data: bytes) -> list[Any]:
    """RTCP packets of a compound datagram (``aiortc.rtp``)."""
    return list(RtcpPacket.parse(data))
