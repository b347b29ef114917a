"""Ephemeral ECDH for the ECDHE suites (RFC 8422, RFC 7748).

Owns key generation, the wire form of public keys (uncompressed points only) and the
validation of the peer's key: NIST points must be on the curve (``cryptography`` checks this
when decoding) and an all-zero X25519 result is refused (RFC 8422 §5.11, SPEC K3, X25).
"""

from __future__ import annotations

# X25519PrivateKey.generate() (and ECDSA(), for the signatures) imports cryptography's OpenSSL
# backend module on first use: 2-5 ms of CPU that a fresh process would otherwise spend
# between receiving a flight and answering it (the server's flight 4, the client's flight 5).
# Imported here, with the handshake, it is paid at start-up instead.
import cryptography.hazmat.backends.openssl.backend  # noqa: F401
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519

from ..alerts import AlertHandshakeFailure, AlertIllegalParameter
from ..suites import NamedGroup

__all__ = ["EphemeralKey"]

_CURVES: dict[NamedGroup, type[ec.EllipticCurve]] = {
    NamedGroup.secp256r1: ec.SECP256R1,
    NamedGroup.secp384r1: ec.SECP384R1,
}
_POINT_LENGTH = {NamedGroup.secp256r1: 65, NamedGroup.secp384r1: 97, NamedGroup.x25519: 32}


class EphemeralKey:
    """One side's ephemeral ECDH key for ``group``."""

    def __init__(self, group: NamedGroup) -> None:
        self.group = group
        self._x25519: x25519.X25519PrivateKey | None = None
        self._ec: ec.EllipticCurvePrivateKey | None = None
        if group == NamedGroup.x25519:
            self._x25519 = x25519.X25519PrivateKey.generate()
        else:
            self._ec = ec.generate_private_key(_CURVES[group]())

    def public_bytes(self) -> bytes:
        """Our public key as sent on the wire."""
        if self._x25519 is not None:
            return self._x25519.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        assert self._ec is not None
        return self._ec.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    def exchange(self, peer_public: bytes) -> bytes:
        """The shared secret Z (the x coordinate for NIST curves, RFC 8422 §5.10)."""
        if len(peer_public) != _POINT_LENGTH[self.group]:
            raise AlertIllegalParameter("ECDH public key has the wrong length")
        if self._x25519 is not None:
            try:
                peer = x25519.X25519PublicKey.from_public_bytes(peer_public)
                secret = self._x25519.exchange(peer)
            except ValueError as exc:
                raise AlertHandshakeFailure("X25519 exchange failed (low-order point)") from exc
            if not any(secret):
                raise AlertHandshakeFailure("X25519 shared secret is zero")
            return secret
        assert self._ec is not None
        if peer_public[0] != 4:
            # Compressed points are not negotiated (RFC 8422 §5.1.2), so refuse them.
            raise AlertIllegalParameter("EC point is not uncompressed")
        try:
            peer_ec = ec.EllipticCurvePublicKey.from_encoded_point(self._ec.curve, peer_public)
        except ValueError as exc:
            raise AlertIllegalParameter("EC point is not on the curve") from exc
        return self._ec.exchange(ec.ECDH(), peer_ec)
