"""RFC 7983 first-byte demultiplexing (SPEC D1)."""

from __future__ import annotations

import pytest

from aiodtls.demux import PacketKind, classify


@pytest.mark.parametrize(
    ("first_byte", "kind"),
    [
        (0, PacketKind.STUN),
        (3, PacketKind.STUN),
        (4, PacketKind.UNKNOWN),
        (15, PacketKind.UNKNOWN),
        (16, PacketKind.ZRTP),
        (19, PacketKind.ZRTP),
        (20, PacketKind.DTLS),
        (22, PacketKind.DTLS),
        (25, PacketKind.DTLS),
        (32, PacketKind.DTLS),
        (63, PacketKind.DTLS),
        (64, PacketKind.TURN_CHANNEL),
        (79, PacketKind.TURN_CHANNEL),
        (80, PacketKind.UNKNOWN),
        (127, PacketKind.UNKNOWN),
        (128, PacketKind.RTP),
        (191, PacketKind.RTP),
        (192, PacketKind.UNKNOWN),
        (255, PacketKind.UNKNOWN),
    ],
)
def test_boundaries(first_byte: int, kind: PacketKind) -> None:  # D1
    assert classify(bytes((first_byte, 0, 0))) is kind


def test_empty_datagram_is_unknown() -> None:
    assert classify(b"") is PacketKind.UNKNOWN
