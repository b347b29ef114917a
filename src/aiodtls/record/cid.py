"""Connection ID framing of DTLS 1.2 records (RFC 9146 §4, §5.3; SPEC I2–I4).

Owns the three things a negotiated connection ID changes in a record: the tls12_cid(25)
header (the CID sits between the sequence number and the length, with no length of its own:
the receiver knows it because it chose it), the inner plaintext ``content || real_type ||
zeros`` that hides the real content type, and the AEAD additional data that binds the CID.
It does not decide when a CID is used (``record.layer``) nor route datagrams by it
(``endpoint``). The header's layout and :func:`peek_cid` live with the one reader of the wire,
:mod:`aiodtls.wire`, and are re-exported here.
"""

from __future__ import annotations

from ..wire import MAX_CID_LENGTH as MAX_CID_LENGTH  # re-exported, documented in wire
from ..wire import TLS12_CID as TLS12_CID
from ..wire import peek_cid

__all__ = [
    "cid_additional_data",
    "decode_inner_plaintext",
    "encode_inner_plaintext",
    "peek_cid",
]


_SEQ_NUM_PLACEHOLDER = b"\xff" * 8


def cid_additional_data(version: int, epoch_seq: bytes, cid: bytes, inner_length: int) -> bytes:
    """The AEAD additional data of a tls12_cid record (RFC 9146 §5.3, SPEC I4):
    seq_num_placeholder || tls12_cid || cid_length || tls12_cid || version || epoch || seq ||
    cid || length_of_DTLSInnerPlaintext."""
    return (
        _SEQ_NUM_PLACEHOLDER
        + bytes((TLS12_CID, len(cid), TLS12_CID, version >> 8, version & 0xFF))
        + epoch_seq
        + cid
        + inner_length.to_bytes(2, "big")
    )


def encode_inner_plaintext(content: bytes, real_type: int, padding: int = 0) -> bytes:
    """DTLSInnerPlaintext: content || real_type || ``padding`` zero bytes (RFC 9146 §4)."""
    return content + bytes((real_type,)) + bytes(padding)


def decode_inner_plaintext(inner: bytes) -> tuple[int, bytes] | None:
    """(real_type, content) of a DTLSInnerPlaintext, or None when it holds no non-zero byte
    (RFC 9146 §4: there is then no content type)."""
    stripped = inner.rstrip(b"\x00")
    if not stripped:
        return None
    return stripped[-1], stripped[:-1]
