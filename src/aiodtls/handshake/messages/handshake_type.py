"""The handshake message types (RFC 5246 §7.4, RFC 6347 §4.2.2, RFC 5077 §3.3, RFC 8446 §4,
RFC 9147 §5.2).

Owns ``HandshakeType``, the number in every handshake header: vocabulary shared by the
codecs, the fragment header, the state machines, the diagnosis and the dissector, and by
both protocol versions (DTLS 1.3's types, such as encrypted_extensions and key_update, join
this enum). The message bodies' codecs live in the sibling modules.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "HandshakeType",
]


class HandshakeType(IntEnum):
    """Handshake message types."""

    hello_request = 0
    client_hello = 1
    server_hello = 2
    hello_verify_request = 3
    new_session_ticket = 4
    end_of_early_data = 5
    "TLS 1.3 only: DTLS 1.3 does not use it (RFC 9147 §5.6)."
    encrypted_extensions = 8
    request_connection_id = 9
    "DTLS 1.3 (RFC 9147 §9)."
    new_connection_id = 10
    "DTLS 1.3 (RFC 9147 §9)."
    certificate = 11
    server_key_exchange = 12
    certificate_request = 13
    server_hello_done = 14
    certificate_verify = 15
    client_key_exchange = 16
    finished = 20
    key_update = 24
    message_hash = 254
    """Never sent: the synthetic message standing for ClientHello1 in the transcript after a
    HelloRetryRequest (RFC 8446 §4.4.1)."""
