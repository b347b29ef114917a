"""DTLS 1.2 key exchange messages: ServerKeyExchange and ClientKeyExchange for ECDHE, PSK
and ECDHE_PSK (RFC 8422 §5.4, §5.7, RFC 4279 §2, RFC 5489 §2).

Owns their codecs and the ECDH parameters inside them. TLS 1.2 only: DTLS 1.3 carries its
key exchange in the key_share extension (``extensions``). The ECDH arithmetic and the checks
on a peer's point are ``handshake.keyexchange``'s.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ...alerts import AlertIllegalParameter
from ...buffer import Buffer, BufferReadError
from .vectors import (
    _U16,
    _check_room,
    _decode_opaque8,
    _decode_opaque16,
    _no_trailing_bytes,
    _opaque,
    _vector,
)

__all__ = [
    "EC_CURVE_TYPE_NAMED_CURVE",
    "ClientKeyExchangeEcdhe",
    "ClientKeyExchangeEcdhePsk",
    "ClientKeyExchangePsk",
    "EcdheParameters",
    "ServerKeyExchangeEcdhe",
    "ServerKeyExchangeEcdhePsk",
    "ServerKeyExchangePsk",
    "decode_client_key_exchange_ecdhe",
    "decode_client_key_exchange_ecdhe_psk",
    "decode_client_key_exchange_psk",
    "decode_server_key_exchange_ecdhe",
    "decode_server_key_exchange_ecdhe_psk",
    "decode_server_key_exchange_psk",
    "encode_client_key_exchange_ecdhe",
    "encode_client_key_exchange_ecdhe_psk",
    "encode_client_key_exchange_psk",
    "encode_server_key_exchange_ecdhe",
    "encode_server_key_exchange_ecdhe_psk",
    "encode_server_key_exchange_psk",
    "pull_client_key_exchange_ecdhe",
    "pull_client_key_exchange_ecdhe_psk",
    "pull_client_key_exchange_psk",
    "pull_server_key_exchange_ecdhe",
    "pull_server_key_exchange_ecdhe_psk",
    "pull_server_key_exchange_psk",
    "push_client_key_exchange_ecdhe",
    "push_client_key_exchange_ecdhe_psk",
    "push_client_key_exchange_psk",
    "push_server_key_exchange_ecdhe",
    "push_server_key_exchange_ecdhe_psk",
    "push_server_key_exchange_psk",
]

EC_CURVE_TYPE_NAMED_CURVE = 3
"ECCurveType named_curve (RFC 8422 §5.4), the only curve type accepted."

_U8_U16 = struct.Struct("!BH")


@dataclass
class EcdheParameters:
    """ServerECDHParams (RFC 8422 §5.4) for a named curve."""

    group: int
    public_key: bytes

    def encode(self) -> bytes:
        """The params as they are signed and sent."""
        return _U8_U16.pack(EC_CURVE_TYPE_NAMED_CURVE, self.group) + _vector(1, self.public_key)


def _ecdhe_parameters(data: bytes, pos: int, end: int) -> tuple[EcdheParameters, int]:
    """ServerECDHParams (RFC 8422 §5.4) at ``pos``, and the offset after them."""
    _check_room(pos, 1, end)
    if data[pos] != EC_CURVE_TYPE_NAMED_CURVE:
        # Explicit curves are forbidden (RFC 8422 §5.4, SPEC K3).
        raise AlertIllegalParameter("only named curves are supported")
    _check_room(pos, 3, end)
    (group,) = _U16.unpack_from(data, pos + 1)
    public_key, pos = _opaque(data, pos + 3, 1, end)
    if not public_key:
        raise BufferReadError("empty ECDH public key")
    return EcdheParameters(group, public_key), pos


@dataclass
class ServerKeyExchangeEcdhe:
    """ServerKeyExchange for ECDHE_ECDSA and ECDHE_RSA: params and their signature."""

    params: EcdheParameters
    signature_scheme: int
    signature: bytes


def decode_server_key_exchange_ecdhe(body: bytes) -> ServerKeyExchangeEcdhe:
    """An ECDHE ServerKeyExchange body: params, signature scheme, signature<0..2^16-1>."""
    end = len(body)
    params, pos = _ecdhe_parameters(body, 0, end)
    _check_room(pos, 2, end)
    (scheme,) = _U16.unpack_from(body, pos)
    signature, pos = _opaque(body, pos + 2, 2, end)
    _no_trailing_bytes(pos, end)
    return ServerKeyExchangeEcdhe(params, scheme, signature)


def encode_server_key_exchange_ecdhe(message: ServerKeyExchangeEcdhe) -> bytes:
    """An ECDHE ServerKeyExchange body."""
    return b"".join(
        (
            message.params.encode(),
            _U16.pack(message.signature_scheme),
            _vector(2, message.signature),
        )
    )


def pull_server_key_exchange_ecdhe(buf: Buffer) -> ServerKeyExchangeEcdhe:
    """Read an ECDHE ServerKeyExchange body (the rest of ``buf``)."""
    return decode_server_key_exchange_ecdhe(buf.pull_bytes(buf.remaining()))


def push_server_key_exchange_ecdhe(buf: Buffer, message: ServerKeyExchangeEcdhe) -> None:
    """Write an ECDHE ServerKeyExchange body."""
    buf.push_bytes(encode_server_key_exchange_ecdhe(message))


@dataclass
class ServerKeyExchangePsk:
    """ServerKeyExchange for plain PSK: the identity hint (RFC 4279 §2)."""

    identity_hint: bytes


def decode_server_key_exchange_psk(body: bytes) -> ServerKeyExchangePsk:
    """A PSK ServerKeyExchange body: psk_identity_hint<0..2^16-1>."""
    return ServerKeyExchangePsk(_decode_opaque16(body))


def encode_server_key_exchange_psk(message: ServerKeyExchangePsk) -> bytes:
    """A PSK ServerKeyExchange body."""
    return _vector(2, message.identity_hint)


def pull_server_key_exchange_psk(buf: Buffer) -> ServerKeyExchangePsk:
    """Read a PSK ServerKeyExchange body (the rest of ``buf``)."""
    return decode_server_key_exchange_psk(buf.pull_bytes(buf.remaining()))


def push_server_key_exchange_psk(buf: Buffer, message: ServerKeyExchangePsk) -> None:
    """Write a PSK ServerKeyExchange body."""
    buf.push_bytes(encode_server_key_exchange_psk(message))


@dataclass
class ClientKeyExchangeEcdhe:
    """ClientKeyExchange for ECDHE: the client's ephemeral public key."""

    public_key: bytes


def decode_client_key_exchange_ecdhe(body: bytes) -> ClientKeyExchangeEcdhe:
    """An ECDHE ClientKeyExchange body: the point<1..255>."""
    public_key = _decode_opaque8(body)
    if not public_key:
        raise BufferReadError("empty ECDH public key")
    return ClientKeyExchangeEcdhe(public_key)


def encode_client_key_exchange_ecdhe(message: ClientKeyExchangeEcdhe) -> bytes:
    """An ECDHE ClientKeyExchange body."""
    return _vector(1, message.public_key)


def pull_client_key_exchange_ecdhe(buf: Buffer) -> ClientKeyExchangeEcdhe:
    """Read an ECDHE ClientKeyExchange body (the rest of ``buf``)."""
    return decode_client_key_exchange_ecdhe(buf.pull_bytes(buf.remaining()))


def push_client_key_exchange_ecdhe(buf: Buffer, message: ClientKeyExchangeEcdhe) -> None:
    """Write an ECDHE ClientKeyExchange body."""
    buf.push_bytes(encode_client_key_exchange_ecdhe(message))


@dataclass
class ClientKeyExchangePsk:
    """ClientKeyExchange for plain PSK: the identity (RFC 4279 §2)."""

    identity: bytes


def decode_client_key_exchange_psk(body: bytes) -> ClientKeyExchangePsk:
    """A PSK ClientKeyExchange body: psk_identity<0..2^16-1>."""
    return ClientKeyExchangePsk(_decode_opaque16(body))


def encode_client_key_exchange_psk(message: ClientKeyExchangePsk) -> bytes:
    """A PSK ClientKeyExchange body."""
    return _vector(2, message.identity)


def pull_client_key_exchange_psk(buf: Buffer) -> ClientKeyExchangePsk:
    """Read a PSK ClientKeyExchange body (the rest of ``buf``)."""
    return decode_client_key_exchange_psk(buf.pull_bytes(buf.remaining()))


def push_client_key_exchange_psk(buf: Buffer, message: ClientKeyExchangePsk) -> None:
    """Write a PSK ClientKeyExchange body."""
    buf.push_bytes(encode_client_key_exchange_psk(message))


@dataclass
class ServerKeyExchangeEcdhePsk:
    """ServerKeyExchange for ECDHE_PSK (RFC 5489 §2): the identity hint (possibly empty)
    and the ECDH parameters, unsigned (the PSK authenticates them through Finished)."""

    identity_hint: bytes
    params: EcdheParameters


def decode_server_key_exchange_ecdhe_psk(body: bytes) -> ServerKeyExchangeEcdhePsk:
    """An ECDHE_PSK ServerKeyExchange body: psk_identity_hint<0..2^16-1>, params."""
    end = len(body)
    hint, pos = _opaque(body, 0, 2, end)
    params, pos = _ecdhe_parameters(body, pos, end)
    _no_trailing_bytes(pos, end)
    return ServerKeyExchangeEcdhePsk(hint, params)


def encode_server_key_exchange_ecdhe_psk(message: ServerKeyExchangeEcdhePsk) -> bytes:
    """An ECDHE_PSK ServerKeyExchange body."""
    return _vector(2, message.identity_hint) + message.params.encode()


def pull_server_key_exchange_ecdhe_psk(buf: Buffer) -> ServerKeyExchangeEcdhePsk:
    """Read an ECDHE_PSK ServerKeyExchange body (the rest of ``buf``)."""
    return decode_server_key_exchange_ecdhe_psk(buf.pull_bytes(buf.remaining()))


def push_server_key_exchange_ecdhe_psk(buf: Buffer, message: ServerKeyExchangeEcdhePsk) -> None:
    """Write an ECDHE_PSK ServerKeyExchange body."""
    buf.push_bytes(encode_server_key_exchange_ecdhe_psk(message))


@dataclass
class ClientKeyExchangeEcdhePsk:
    """ClientKeyExchange for ECDHE_PSK (RFC 5489 §2): identity, then the ephemeral key."""

    identity: bytes
    public_key: bytes


def decode_client_key_exchange_ecdhe_psk(body: bytes) -> ClientKeyExchangeEcdhePsk:
    """An ECDHE_PSK ClientKeyExchange body: psk_identity<0..2^16-1>, point<1..255>."""
    end = len(body)
    identity, pos = _opaque(body, 0, 2, end)
    public_key, pos = _opaque(body, pos, 1, end)
    if not public_key:
        raise BufferReadError("empty ECDH public key")
    _no_trailing_bytes(pos, end)
    return ClientKeyExchangeEcdhePsk(identity, public_key)


def encode_client_key_exchange_ecdhe_psk(message: ClientKeyExchangeEcdhePsk) -> bytes:
    """An ECDHE_PSK ClientKeyExchange body."""
    return _vector(2, message.identity) + _vector(1, message.public_key)


def pull_client_key_exchange_ecdhe_psk(buf: Buffer) -> ClientKeyExchangeEcdhePsk:
    """Read an ECDHE_PSK ClientKeyExchange body (the rest of ``buf``)."""
    return decode_client_key_exchange_ecdhe_psk(buf.pull_bytes(buf.remaining()))


def push_client_key_exchange_ecdhe_psk(buf: Buffer, message: ClientKeyExchangeEcdhePsk) -> None:
    """Write an ECDHE_PSK ClientKeyExchange body."""
    buf.push_bytes(encode_client_key_exchange_ecdhe_psk(message))
