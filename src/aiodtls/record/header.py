"""DTLS record header codec (RFC 6347 §4.1): content types, versions, the 13-byte header.

Owns the wire layout of a DTLSPlaintext/DTLSCiphertext header and the split of a datagram
into records. It does not decrypt, track epochs or check replay; ``record.layer`` does that.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum

from .cid import TLS12_CID

__all__ = [
    "DTLS1_0",
    "DTLS1_2",
    "MAX_CIPHERTEXT_LENGTH",
    "MAX_PLAINTEXT_LENGTH",
    "RECORD_HEADER_LENGTH",
    "ContentType",
    "RawRecord",
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


class ContentType(IntEnum):
    """Record content types."""

    change_cipher_spec = 20
    alert = 21
    handshake = 22
    application_data = 23
    tls12_cid = 25
    ack = 26


@dataclass(frozen=True)
class RawRecord:
    """One record as it sits on the wire, before any decryption."""

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
    return (
        bytes((content_type, version >> 8, version & 0xFF))
        + ((epoch << 48) | sequence_number).to_bytes(8, "big")
        + cid
        + length.to_bytes(2, "big")
    )


def split_datagram(data: bytes, cid_length: int = 0) -> Iterator[RawRecord | str]:
    """Split a datagram into records.

    Yields a :class:`RawRecord` per well-formed record, and a short reason string for the
    first malformed one, after which the rest of the datagram is dropped: a record never spans
    datagrams and a length that overruns the datagram cannot be trusted (SPEC R4, X18).
    A tls12_cid record's CID is ``cid_length`` bytes: the receiver's own length, since the
    wire does not say (RFC 9146 §4, SPEC I3).
    """
    pos = 0
    end = len(data)
    while pos < end:
        cid_len = cid_length if data[pos] == TLS12_CID else 0
        if end - pos < RECORD_HEADER_LENGTH + cid_len:
            yield "truncated record header"
            return
        length = (data[pos + 11 + cid_len] << 8) | data[pos + 12 + cid_len]
        body_start = pos + RECORD_HEADER_LENGTH + cid_len
        if body_start + length > end:
            yield "record length overruns datagram"
            return
        epoch_seq = int.from_bytes(data[pos + 3 : pos + 11], "big")
        yield RawRecord(
            content_type=data[pos],
            version=(data[pos + 1] << 8) | data[pos + 2],
            epoch=epoch_seq >> 48,
            sequence_number=epoch_seq & MAX_SEQUENCE_NUMBER,
            fragment=data[body_start : body_start + length],
            cid=data[pos + 11 : pos + 11 + cid_len],
        )
        pos = body_start + length
