"""Handshake signatures (ServerKeyExchange, CertificateVerify) by TLS signature scheme.

Owns the mapping from a :class:`~aiodtls.suites.SignatureScheme` to the
``cryptography`` algorithm, padding and hash, and which schemes a given key can produce.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from ..alerts import AlertDecryptError, AlertIllegalParameter
from ..suites import SignatureScheme

__all__ = [
    "certificate_verify_content13",
    "schemes13",
    "schemes_for_key",
    "sign",
    "verify",
    "verify13",
]

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

_HASH: dict[SignatureScheme, type[hashes.HashAlgorithm]] = {
    SignatureScheme.rsa_pkcs1_sha256: hashes.SHA256,
    SignatureScheme.rsa_pkcs1_sha384: hashes.SHA384,
    SignatureScheme.ecdsa_secp256r1_sha256: hashes.SHA256,
    SignatureScheme.ecdsa_secp384r1_sha384: hashes.SHA384,
    SignatureScheme.rsa_pss_rsae_sha256: hashes.SHA256,
    SignatureScheme.rsa_pss_rsae_sha384: hashes.SHA384,
}
_RSA_PSS = {SignatureScheme.rsa_pss_rsae_sha256, SignatureScheme.rsa_pss_rsae_sha384}
_RSA_PKCS1 = {SignatureScheme.rsa_pkcs1_sha256, SignatureScheme.rsa_pkcs1_sha384}
_ECDSA_CURVE: dict[SignatureScheme, type[ec.EllipticCurve]] = {
    SignatureScheme.ecdsa_secp256r1_sha256: ec.SECP256R1,
    SignatureScheme.ecdsa_secp384r1_sha384: ec.SECP384R1,
}
_RSA_SCHEMES = frozenset(_RSA_PSS | _RSA_PKCS1)
_CURVE_SCHEMES: dict[type[ec.EllipticCurve], frozenset[SignatureScheme]] = {
    curve: frozenset({scheme}) for scheme, curve in _ECDSA_CURVE.items()
}
"What an ECDSA key of each curve signs with."


PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


def _key_accepts(key: PublicKey, scheme: SignatureScheme) -> bool:
    """Whether a peer's ``key`` may have signed with ``scheme``."""
    if isinstance(key, rsa.RSAPublicKey):
        return scheme in _RSA_PSS or scheme in _RSA_PKCS1
    # TLS 1.2 does not bind the ECDSA hash to the curve (RFC 5246 §7.4.1.4.1), and peers such
    # as OpenSSL sign P-256 keys with SHA-384 when offered, so verification accepts any pair.
    # We sign with the TLS 1.3 pairing (``_signing_schemes``), which every peer accepts.
    return scheme in _ECDSA_CURVE


def _signing_schemes(key: PrivateKey) -> frozenset[SignatureScheme]:
    """The schemes ``key`` signs with: RSA any RSA scheme, ECDSA the scheme of its curve
    (the TLS 1.3 pairing, see ``_key_accepts``). Read off the private key (its type and
    curve), without deriving the public key."""
    if isinstance(key, rsa.RSAPrivateKey):
        return _RSA_SCHEMES
    return _CURVE_SCHEMES.get(type(key.curve), frozenset())


def schemes_for_key(
    key: PrivateKey, preferred: list[SignatureScheme], peer_offered: list[int] | None = None
) -> list[SignatureScheme]:
    """Schemes in ``preferred`` order that ``key`` can sign with and the peer accepts."""
    usable = _signing_schemes(key)
    return [
        s for s in preferred if s in usable and (peer_offered is None or int(s) in peer_offered)
    ]


def _rsa_padding(
    scheme: SignatureScheme, algorithm: hashes.HashAlgorithm
) -> padding.AsymmetricPadding:
    if scheme in _RSA_PSS:
        # RSA-PSS salt is the hash length (RFC 8446 §4.2.3).
        return padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.DIGEST_LENGTH)
    return padding.PKCS1v15()


def sign(key: PrivateKey, scheme: SignatureScheme, data: bytes) -> bytes:
    """Sign ``data`` with ``scheme``."""
    algorithm = _HASH[scheme]()
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, _rsa_padding(scheme, algorithm), algorithm)
    return key.sign(data, ec.ECDSA(algorithm))


def verify(
    public_key: CertificatePublicKeyTypes,
    scheme_value: int,
    allowed: list[SignatureScheme],
    signature: bytes,
    data: bytes,
) -> None:
    """Verify a peer signature; raise an alert if the scheme or signature is unacceptable."""
    try:
        scheme = SignatureScheme(scheme_value)
    except ValueError:
        raise AlertIllegalParameter(f"unsupported signature scheme {scheme_value:#06x}") from None
    if scheme not in allowed:
        raise AlertIllegalParameter(f"signature scheme {scheme.name} was not offered")
    if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise AlertIllegalParameter("certificate key type cannot sign handshakes")
    if not _key_accepts(public_key, scheme):
        raise AlertIllegalParameter(f"signature scheme {scheme.name} does not fit the key")
    algorithm = _HASH[scheme]()
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, _rsa_padding(scheme, algorithm), algorithm)
        else:
            public_key.verify(signature, data, ec.ECDSA(algorithm))
    except InvalidSignature:
        raise AlertDecryptError("handshake signature does not verify") from None


# -- TLS 1.3 CertificateVerify (RFC 8446 §4.4.3), as DTLS 1.3 uses it unchanged -------------

_CONTEXT_SERVER = b"TLS 1.3, server CertificateVerify"
_CONTEXT_CLIENT = b"TLS 1.3, client CertificateVerify"


def certificate_verify_content13(transcript_hash: bytes, *, server: bool) -> bytes:
    """What a TLS 1.3 CertificateVerify signs: 64 spaces, the context string, a zero byte
    and the transcript hash (RFC 8446 §4.4.3)."""
    context = _CONTEXT_SERVER if server else _CONTEXT_CLIENT
    return b" " * 64 + context + b"\x00" + transcript_hash


def schemes13(schemes: list[SignatureScheme]) -> list[SignatureScheme]:
    """The schemes TLS 1.3 allows for CertificateVerify: RSASSA-PKCS1-v1_5 is for
    certificates only in TLS 1.3 (RFC 8446 §4.2.3), so RSA keys sign with rsa_pss_rsae_*."""
    return [s for s in schemes if s not in _RSA_PKCS1]


def verify13(
    public_key: CertificatePublicKeyTypes,
    scheme_value: int,
    allowed: list[SignatureScheme],
    signature: bytes,
    data: bytes,
) -> None:
    """Verify a TLS 1.3 CertificateVerify: only :func:`schemes13`, and an ECDSA scheme binds
    the curve of the key (RFC 8446 §4.2.3); raise an alert otherwise."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        curve = (
            _ECDSA_CURVE.get(SignatureScheme(scheme_value))
            if scheme_value in _ECDSA_VALUES
            else None
        )
        if curve is not None and not isinstance(public_key.curve, curve):
            raise AlertIllegalParameter(
                f"signature scheme {SignatureScheme(scheme_value).name} does not fit a "
                f"{public_key.curve.name} key"
            )
    verify(public_key, scheme_value, schemes13(allowed), signature, data)


_ECDSA_VALUES = frozenset(int(s) for s in _ECDSA_CURVE)
