"""The DTLS record header codec, under the record layer's import path.

The wire layout itself (content types, versions, the 13-byte header, the tls12_cid header,
:class:`RawRecord` and the one datagram splitter) lives in :mod:`aiodtls.wire`, the single
keyless reader that the record layer, the dissector, the proxy and the simulator share. This
module re-exports it so that ``aiodtls.record.header`` keeps working; it owns nothing itself.
"""

from __future__ import annotations

from ..wire import (
    DTLS1_0,
    DTLS1_2,
    MAX_CIPHERTEXT_LENGTH,
    MAX_PLAINTEXT_LENGTH,
    MAX_SEQUENCE_NUMBER,
    RECORD_HEADER,
    RECORD_HEADER_LENGTH,
    ContentType,
    RawRecord,
    cid_record_header,
    encode_record_header,
    split_datagram,
)

__all__ = [
    "DTLS1_0",
    "DTLS1_2",
    "MAX_CIPHERTEXT_LENGTH",
    "MAX_PLAINTEXT_LENGTH",
    "MAX_SEQUENCE_NUMBER",
    "RECORD_HEADER",
    "RECORD_HEADER_LENGTH",
    "ContentType",
    "RawRecord",
    "cid_record_header",
    "encode_record_header",
    "split_datagram",
]
