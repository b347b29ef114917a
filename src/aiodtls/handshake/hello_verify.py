"""DTLS 1.2's cookie exchange on the wire: the HelloVerifyRequest (RFC 6347 §4.2.1).

Owns the part of the cookie door (``cookie``) that is particular to DTLS 1.2: where the client
returns the cookie (the ClientHello's ``cookie`` field), which ClientHello fields the cookie
binds, and the datagram that carries a new cookie to the client. It keeps no secret and makes
no decision; :class:`cookie.CookieDoor` does both, the same way for every version. DTLS 1.3's
HelloRetryRequest cookie (RFC 9147 §5.1) will be a second piece of this shape beside it.

The client's side of the exchange is ``ClientHandshake.receive_hello_verify_request``.
"""

from __future__ import annotations

import struct

from ..record.header import DTLS1_0, ContentType, encode_record_header
from ..reliability.fragments import HANDSHAKE_HEADER_LENGTH, handshake_header
from .messages import ClientHello, HandshakeType

__all__ = ["HELLO_VERIFY_REQUEST", "HelloVerifyRequestExchange", "encode_hello_verify_request"]


def encode_hello_verify_request(record_sequence_number: int, cookie: bytes) -> bytes:
    """A whole HelloVerifyRequest datagram.

    The record reuses the ClientHello's sequence number and the message uses message_seq 0
    (RFC 6347 §4.2.1, SPEC C3); versions are DTLS 1.0 as §4.2.1 recommends (SPEC C2).
    The body is ``messages.encode_hello_verify_request_body``'s, written in place: version,
    cookie<0..255> (OverflowError for a longer cookie).
    """
    length = 3 + len(cookie)
    return b"".join(
        (
            encode_record_header(
                _HANDSHAKE, DTLS1_0, 0, record_sequence_number, HANDSHAKE_HEADER_LENGTH + length
            ),
            handshake_header(_HELLO_VERIFY_REQUEST, length, 0, 0, length),
            _SERVER_VERSION,
            len(cookie).to_bytes(1, "big"),
            cookie,
        )
    )


_HANDSHAKE = int(ContentType.handshake)
_HELLO_VERIFY_REQUEST = int(HandshakeType.hello_verify_request)
_SERVER_VERSION = DTLS1_0.to_bytes(2, "big")


class HelloVerifyRequestExchange:
    """The DTLS 1.2 piece of the cookie door (``cookie.CookieExchange``)."""

    @staticmethod
    def read(hello: ClientHello) -> tuple[bytes, bytes]:
        """(the cookie ``hello`` returns, the fields the cookie binds).

        The fields are those RFC 6347 §4.2.1 has the client repeat: version, random,
        session_id, cipher suites and compression methods (SPEC C4). Extensions are not
        covered: some clients change them in their second ClientHello (pion adds
        supported_groups and ec_point_formats), and a cookie that covered them would never
        verify for such a client.
        """
        suites = hello.cipher_suites
        fields = b"".join(
            (
                hello.client_version.to_bytes(2, "big"),
                hello.random,
                bytes((len(hello.session_id),)),
                hello.session_id,
                # The number of suites, then the suites (one pack instead of one per suite).
                struct.pack(f"!H{len(suites)}H", len(suites), *suites),
                bytes((len(hello.compression_methods),)),
                hello.compression_methods,
            )
        )
        return hello.cookie, fields

    challenge = staticmethod(encode_hello_verify_request)
    "The HelloVerifyRequest datagram carrying a cookie."

    amplification = 1
    "A HelloVerifyRequest and its copy are never larger than the ClientHello (SPEC X14)."

    @staticmethod
    def refusal(hello: ClientHello, cookie_refused: bool) -> None:
        """Never: DTLS 1.2 answers a ClientHello whose cookie is not valid with a new
        HelloVerifyRequest, whatever it carried (SPEC C5)."""
        return None


HELLO_VERIFY_REQUEST = HelloVerifyRequestExchange()
"The DTLS 1.2 cookie exchange, the door's default."
