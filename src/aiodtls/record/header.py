"""DTLS record header codec (RFC 6347 §4.1): content types, versions, the 13-byte header.

Owns the wire layout of a DTLSPlaintext/DTLSCiphertext header and the split of a datagram
into records. It does not decrypt, track epochs or check replay; ``record.layer`` does that.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from enum import IntEnum

from .cid import TLS12_CID

__all__ = [
    "DTLS1_0",
    "DTLS1_2",
    "MAX_CIPHERTEXT_LENGTH",
    "MAX_PLAINTEXT_LENGTH",
    "RECORD_HEADER",
    "RECORD_HEADER_LENGTH",
    "ContentType",
    "RawRecord",
    "cid_record_header",
    "encode_record_header",
    "split_datagram",
]

DTLS1_0 = 0xFEFF
"The record-layer version field of DTLS 1.0 (also sent in early records, RFC 6347 §4.1)."
DTLS1_2 = 0xFEFD
"The record-layer version field of DTLS 1.2."
RECORD_HEADER_LENGTH = 13
"Bytes of a DTLS 1.2 record header: type, version, epoch, sequence number, length."
MAX_PLAINTEXT_LENGTH = 1 << 14
"Most application or handshake bytes one record carries (2^14)."
MAX_CIPHERTEXT_LENGTH = MAX_PLAINTEXT_LENGTH + 2048  # RFC 5246 §6.2.3
"Longest record body accepted from the network (RFC 5246 §6.2.3)."
MAX_SEQUENCE_NUMBER = (1 << 48) - 1
RECORD_HEADER = struct.Struct("!BHQH")
"The header without a CID: type, version, epoch || sequence number as one 64-bit number, length."
_HEADER_BEFORE_CID = struct.Struct("!BHQ")
_LENGTH = struct.Struct("!H")


@functools.cache  # one per CID length in use (at most 256)
def cid_record_header(cid_length: int) -> struct.Struct:
    """The header of a tls12_cid record whose CID is ``cid_length`` bytes: type, version,
    epoch || sequence number, CID, length (RFC 9146 §4), to unpack in one call."""
    return struct.Struct(f"!BHQ{cid_length}sH")


class ContentType(IntEnum):
    """Record content types."""

    change_cipher_spec = 20
    alert = 21
    handshake = 22
    application_data = 23
    tls12_cid = 25
    ack = 26


# Not frozen: a frozen dataclass sets each field through object.__setattr__, about 4-5 times
# the cost of building this slotted one, once per received record (docs/performance.md).
@dataclass(slots=True)
class RawRecord:
    """One record as it sits on the wire, before any decryption. Treat it as read-only."""

    content_type: int
    version: int
    epoch: int
    sequence_number: int
    fragment: bytes
    "The protected (or, at epoch 0, plain) payload after the header."
    cid: bytes = b""
    "The connection ID of a tls12_cid record (RFC 9146 §4); empty for other records."

    @property
    def header(self) -> bytes:
        """The header bytes as received (13, plus the CID of a tls12_cid record)."""
        return encode_record_header(
            self.content_type,
            self.version,
            self.epoch,
            self.sequence_number,
            len(self.fragment),
            self.cid,
        )


def encode_record_header(
    content_type: int,
    version: int,
    epoch: int,
    sequence_number: int,
    length: int,
    cid: bytes = b"",
) -> bytes:
    """The header: type, version, epoch(16), sequence_number(48), then the connection ID of a
    tls12_cid record (no length of its own, RFC 9146 §4), then length(16)."""
    seq_num = (epoch << 48) | sequence_number
    if cid:
        return _HEADER_BEFORE_CID.pack(content_type, version, seq_num) + cid + _LENGTH.pack(length)
    return RECORD_HEADER.pack(content_type, version, seq_num, length)


def split_datagram(data: bytes, cid_length: int = 0) -> list[RawRecord | str]:
    """Split a datagram into records.

    Returns a :class:`RawRecord` per well-formed record, then a short reason string for the
    first malformed one, after which the rest of the datagram is dropped: a record never spans
    datagrams and a length that overruns the datagram cannot be trusted (SPEC R4, X18).
    A tls12_cid record's CID is ``cid_length`` bytes: the receiver's own length, since the
    wire does not say (RFC 9146 §4, SPEC I3).
    """
    items: list[RawRecord | str] = []
    pos = 0
    end = len(data)
    while pos < end:
        cid_len = cid_length if data[pos] == TLS12_CID else 0
        body_start = pos + RECORD_HEADER_LENGTH + cid_len
        if body_start > end:
            items.append("truncated record header")
            break
        if cid_len:
            content_type, version, seq_num = _HEADER_BEFORE_CID.unpack_from(data, pos)
            (length,) = _LENGTH.unpack_from(data, body_start - 2)
            cid = data[pos + 11 : pos + 11 + cid_len]
        else:
            content_type, version, seq_num, length = RECORD_HEADER.unpack_from(data, pos)
            cid = b""
        next_pos = body_start + length
        if next_pos > end:
            items.append("record length overruns datagram")
            break
        items.append(
            RawRecord(
                content_type,
                version,
                seq_num >> 48,
                seq_num & MAX_SEQUENCE_NUMBER,
                data[body_start:next_pos],
                cid,
            )
        )
        pos = next_pos
    return items
