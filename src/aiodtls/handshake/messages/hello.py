"""Hello messages: ClientHello, HelloVerifyRequest and ServerHello (RFC 5246 §7.4.1,
RFC 6347 §4.2.1).

Owns their codecs. DTLS 1.3 keeps the ClientHello and ServerHello wire format (its
HelloRetryRequest is a ServerHello with a fixed random, RFC 8446 §4.1.3), so these serve both
versions; the HelloVerifyRequest is DTLS 1.2's cookie exchange only. The extensions inside
the hellos are ``extensions``'.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from ...buffer import Buffer, BufferReadError
from .extensions import Extensions, _extension_list, encode_extensions
from .vectors import (
    _U16,
    _check_room,
    _no_trailing_bytes,
    _opaque,
    _vector,
)

__all__ = [
    "ClientHello",
    "HelloVerifyRequest",
    "ServerHello",
    "decode_client_hello",
    "decode_hello_verify_request",
    "decode_server_hello",
    "encode_client_hello",
    "encode_client_hello_with_cookie",
    "encode_hello_verify_request_body",
    "encode_server_hello",
    "pull_client_hello",
    "pull_hello_verify_request",
    "pull_server_hello",
    "push_client_hello",
    "push_hello_verify_request",
    "push_server_hello",
]

_U16_U8 = struct.Struct("!HB")
_HELLO_START_AND_LENGTH = struct.Struct("!H32sB")
"version, random and session_id's length: the fixed start of both hellos."


@dataclass
class ClientHello:
    """ClientHello (RFC 6347 §4.2.1: with a cookie)."""

    client_version: int
    random: bytes
    session_id: bytes
    cookie: bytes
    cipher_suites: list[int]
    compression_methods: bytes
    extensions: Extensions = field(default_factory=list)


def _optional_extensions(body: bytes, pos: int, end: int) -> tuple[Extensions, int]:
    """A hello's extension block at ``pos``, absent if the body ends there (RFC 5246 §7.4.1.2):
    the extensions and where the block ends."""
    if pos == end:
        return [], pos
    start = pos + 2
    if start > end:
        raise BufferReadError("need 2 bytes, 1 left")
    pos = start + (body[pos] << 8 | body[pos + 1])  # the extension block's end
    if pos > end:
        raise BufferReadError(f"block of {pos - start} bytes, {end - start} left")
    return _extension_list(body, start, pos), pos


def decode_client_hello(body: bytes) -> ClientHello:
    """A ClientHello body: version, random, session_id<0..32>, cookie<0..255>, cipher
    suites<2..>, compression methods<1..>, optional extension block.

    One pass over ``body`` with the bounds checks written out (the vectors' helpers cost a
    call, a tuple and a frame per field; this runs for both of a DTLS 1.2 handshake's
    ClientHellos): each length is checked to fit before its bytes are sliced, since slicing
    past the end of ``bytes`` would silently return fewer.
    """
    end = len(body)
    if end < 36:  # version, random, session_id's length, cookie's length
        raise BufferReadError(f"ClientHello of {end} bytes")
    version, random, size = _HELLO_START_AND_LENGTH.unpack_from(body)
    pos = 35 + size  # session_id's end
    if pos + 1 > end:
        raise BufferReadError(f"session_id of {size} bytes, {end - 35} left")
    session_id = body[35:pos]
    start = pos + 1
    pos = start + body[pos]  # cookie's end
    if pos + 2 > end:
        raise BufferReadError(f"cookie of {pos - start} bytes, {end - start} left")
    cookie = body[start:pos]
    size = body[pos] << 8 | body[pos + 1]
    start = pos + 2
    pos = start + size  # cipher suites' end
    if pos + 1 > end:
        raise BufferReadError(f"cipher suites of {size} bytes, {end - start} left")
    if size % 2 or not size:
        raise BufferReadError("bad uint16 list length")
    cipher_suites = list(struct.unpack_from(f"!{size >> 1}H", body, start))
    start = pos + 1
    pos = start + body[pos]  # compression methods' end
    if pos > end:
        raise BufferReadError(f"compression methods of {pos - start} bytes, {end - start} left")
    compression_methods = body[start:pos]
    extensions, pos = _optional_extensions(body, pos, end)
    if len(session_id) > 32 or not compression_methods:
        raise BufferReadError("bad session_id or compression_methods")
    if pos != end:
        raise BufferReadError("trailing bytes")
    return ClientHello(
        version, random, session_id, cookie, cipher_suites, compression_methods, extensions
    )


def encode_client_hello(hello: ClientHello) -> bytes:
    """A ClientHello body (OverflowError for a vector too long for its length).

    One join of the fields and their lengths, without a call per vector."""
    session_id = hello.session_id
    cookie = hello.cookie
    suites = hello.cipher_suites
    methods = hello.compression_methods
    return b"".join(
        (
            _U16.pack(hello.client_version),
            hello.random,
            len(session_id).to_bytes(1, "big"),
            session_id,
            len(cookie).to_bytes(1, "big"),
            cookie,
            (2 * len(suites)).to_bytes(2, "big"),
            struct.pack(f"!{len(suites)}H", *suites),
            len(methods).to_bytes(1, "big"),
            methods,
            encode_extensions(hello.extensions),
        )
    )


def encode_client_hello_with_cookie(body: bytes, hello: ClientHello, cookie: bytes) -> bytes:
    """The ClientHello body ``body`` (``hello`` encoded) with ``cookie`` in place of
    ``hello.cookie``: the bytes ``encode_client_hello`` makes for ``hello`` with that
    cookie, without encoding the suites and extensions again (a client answering a
    HelloVerifyRequest changes nothing else, RFC 6347 §4.2.1)."""
    start = 35 + len(hello.session_id)  # version, random, session_id<0..32>
    return body[:start] + _vector(1, cookie) + body[start + 1 + len(hello.cookie) :]


def pull_client_hello(buf: Buffer) -> ClientHello:
    """Read a ClientHello body (the rest of ``buf``)."""
    return decode_client_hello(buf.pull_bytes(buf.remaining()))


def push_client_hello(buf: Buffer, hello: ClientHello) -> None:
    """Write a ClientHello body."""
    buf.push_bytes(encode_client_hello(hello))


@dataclass
class HelloVerifyRequest:
    """HelloVerifyRequest (RFC 6347 §4.2.1)."""

    server_version: int
    cookie: bytes


def decode_hello_verify_request(body: bytes) -> HelloVerifyRequest:
    """A HelloVerifyRequest body: version, cookie<0..255>."""
    end = len(body)
    _check_room(0, 2, end)
    (version,) = _U16.unpack_from(body)
    cookie, pos = _opaque(body, 2, 1, end)
    _no_trailing_bytes(pos, end)
    return HelloVerifyRequest(version, cookie)


def encode_hello_verify_request_body(hvr: HelloVerifyRequest) -> bytes:
    """A HelloVerifyRequest body (``hello_verify.encode_hello_verify_request`` makes the
    datagram)."""
    return _U16.pack(hvr.server_version) + _vector(1, hvr.cookie)


def pull_hello_verify_request(buf: Buffer) -> HelloVerifyRequest:
    """Read a HelloVerifyRequest body (the rest of ``buf``)."""
    return decode_hello_verify_request(buf.pull_bytes(buf.remaining()))


def push_hello_verify_request(buf: Buffer, hvr: HelloVerifyRequest) -> None:
    """Write a HelloVerifyRequest body."""
    buf.push_bytes(encode_hello_verify_request_body(hvr))


@dataclass
class ServerHello:
    """ServerHello."""

    server_version: int
    random: bytes
    session_id: bytes
    cipher_suite: int
    compression_method: int
    extensions: Extensions = field(default_factory=list)


def decode_server_hello(body: bytes) -> ServerHello:
    """A ServerHello body: version, random, session_id<0..32>, suite, compression method,
    optional extension block. One pass with the bounds checks written out, as
    ``decode_client_hello``."""
    end = len(body)
    if end < 35:  # version, random, session_id's length
        raise BufferReadError(f"ServerHello of {end} bytes")
    version, random, size = _HELLO_START_AND_LENGTH.unpack_from(body)
    start = 35 + size  # session_id's end
    if start + 3 > end:
        raise BufferReadError(f"session_id of {size} bytes and suite, {end - 35} left")
    session_id = body[35:start]
    suite, compression = _U16_U8.unpack_from(body, start)
    pos = start + 3
    extensions, pos = _optional_extensions(body, pos, end)
    if size > 32:
        raise BufferReadError("session_id too long")
    if pos != end:
        raise BufferReadError("trailing bytes")
    return ServerHello(version, random, session_id, suite, compression, extensions)


def encode_server_hello(hello: ServerHello) -> bytes:
    """A ServerHello body."""
    return b"".join(
        (
            _U16.pack(hello.server_version),
            hello.random,
            _vector(1, hello.session_id),
            _U16_U8.pack(hello.cipher_suite, hello.compression_method),
            encode_extensions(hello.extensions),
        )
    )


def pull_server_hello(buf: Buffer) -> ServerHello:
    """Read a ServerHello body (the rest of ``buf``)."""
    return decode_server_hello(buf.pull_bytes(buf.remaining()))


def push_server_hello(buf: Buffer, hello: ServerHello) -> None:
    """Write a ServerHello body."""
    buf.push_bytes(encode_server_hello(hello))
