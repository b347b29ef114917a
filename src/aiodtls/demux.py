"""First-byte demultiplexing of a shared UDP port (RFC 7983 §7, SPEC D1).

WebRTC sends STUN, DTLS, TURN channel data and SRTP/SRTCP over one 5-tuple; the first byte of
each datagram tells them apart. An application that owns such a socket classifies each
datagram and feeds only the DTLS ones to ``aiodtls.asyncio.DtlsProtocol`` (or a
``DtlsConnection``).
"""

from __future__ import annotations

import enum

__all__ = ["PacketKind", "classify"]


class PacketKind(enum.Enum):
    """What a datagram on a shared port carries."""

    STUN = "stun"
    ZRTP = "zrtp"
    DTLS = "dtls"
    TURN_CHANNEL = "turn-channel"
    RTP = "rtp"
    "RTP or RTCP (SRTP/SRTCP once DTLS-SRTP keys exist)."
    UNKNOWN = "unknown"
    "Anything else: RFC 7983 says to drop it."


def classify(datagram: bytes) -> PacketKind:
    """Classify a datagram by its first byte (RFC 7983 §7)."""
    if not datagram:
        return PacketKind.UNKNOWN
    b = datagram[0]
    if b <= 3:
        return PacketKind.STUN
    if 16 <= b <= 19:
        return PacketKind.ZRTP
    if 20 <= b <= 63:
        # 20-63 also covers DTLS 1.3's unified header (0b001xxxxx = 32-63).
        return PacketKind.DTLS
    if 64 <= b <= 79:
        return PacketKind.TURN_CHANNEL
    if 128 <= b <= 191:
        return PacketKind.RTP
    return PacketKind.UNKNOWN
