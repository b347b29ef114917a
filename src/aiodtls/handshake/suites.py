"""Registries of what the handshake can negotiate: cipher suites, groups, signature schemes.

Owns the numbers and the per-suite facts (key exchange, AEAD, PRF hash). It does no
cryptography itself: ``record.protection`` builds the AEAD, ``keyschedule`` runs the PRF and
``keyexchange`` / ``signatures`` do the public-key work.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum

from cryptography.hazmat.primitives import hashes

__all__ = [
    "DEFAULT_CIPHER_SUITES",
    "DEFAULT_GROUPS",
    "DEFAULT_SIGNATURE_SCHEMES",
    "CipherSuite",
    "KeyExchange",
    "NamedGroup",
    "SignatureScheme",
    "SuiteInfo",
    "suite_info",
]


class CipherSuite(IntEnum):
    """TLS 1.2 cipher suites (IANA values). Only AEAD suites exist here by design."""

    TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 = 0xC02B
    TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 = 0xC02C
    TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 = 0xC02F
    TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 = 0xC030
    TLS_PSK_WITH_AES_128_GCM_SHA256 = 0x00A8


# Signalling values that may appear in a ClientHello's suite list.
TLS_EMPTY_RENEGOTIATION_INFO_SCSV = 0x00FF
TLS_FALLBACK_SCSV = 0x5600


class KeyExchange(Enum):
    """How the premaster secret is agreed and who is authenticated by what."""

    ECDHE_ECDSA = "ECDHE_ECDSA"
    ECDHE_RSA = "ECDHE_RSA"
    PSK = "PSK"


@dataclass(frozen=True)
class SuiteInfo:
    """What a cipher suite means."""

    suite: CipherSuite
    key_exchange: KeyExchange
    key_length: int
    "AES key length in bytes."
    prf_hash: type[hashes.HashAlgorithm]
    "Hash of the TLS 1.2 PRF, the transcript and the Finished message."
    fixed_iv_length: int = 4
    "Implicit part of the GCM nonce taken from the key block (RFC 5288 §3)."
    record_iv_length: int = 8
    "Explicit per-record nonce carried on the wire."
    tag_length: int = 16

    @property
    def name(self) -> str:
        """The IANA name."""
        return self.suite.name


_SUITES = {
    info.suite: info
    for info in (
        SuiteInfo(
            CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            KeyExchange.ECDHE_ECDSA,
            16,
            hashes.SHA256,
        ),
        SuiteInfo(
            CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            KeyExchange.ECDHE_ECDSA,
            32,
            hashes.SHA384,
        ),
        SuiteInfo(
            CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            KeyExchange.ECDHE_RSA,
            16,
            hashes.SHA256,
        ),
        SuiteInfo(
            CipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            KeyExchange.ECDHE_RSA,
            32,
            hashes.SHA384,
        ),
        SuiteInfo(
            CipherSuite.TLS_PSK_WITH_AES_128_GCM_SHA256,
            KeyExchange.PSK,
            16,
            hashes.SHA256,
        ),
    )
}


def suite_info(suite: CipherSuite) -> SuiteInfo:
    """The facts about ``suite``."""
    return _SUITES[suite]


class NamedGroup(IntEnum):
    """Supported groups for ECDHE (RFC 8422, RFC 7748)."""

    secp256r1 = 23
    secp384r1 = 24
    x25519 = 29


class SignatureScheme(IntEnum):
    """TLS 1.2 signature_algorithms values (RFC 8446 §4.2.3 code points)."""

    rsa_pkcs1_sha256 = 0x0401
    rsa_pkcs1_sha384 = 0x0501
    ecdsa_secp256r1_sha256 = 0x0403
    ecdsa_secp384r1_sha384 = 0x0503
    rsa_pss_rsae_sha256 = 0x0804
    rsa_pss_rsae_sha384 = 0x0805


DEFAULT_CIPHER_SUITES: tuple[CipherSuite, ...] = (
    CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    CipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
)
"Certificate suites offered by default; PSK suites are added when a PSK is configured."

DEFAULT_GROUPS: tuple[NamedGroup, ...] = (
    NamedGroup.x25519,
    NamedGroup.secp256r1,
    NamedGroup.secp384r1,
)
"Key exchange groups offered (client) or accepted (server), most preferred first."

DEFAULT_SIGNATURE_SCHEMES: tuple[SignatureScheme, ...] = (
    SignatureScheme.ecdsa_secp256r1_sha256,
    SignatureScheme.ecdsa_secp384r1_sha384,
    SignatureScheme.rsa_pss_rsae_sha256,
    SignatureScheme.rsa_pss_rsae_sha384,
    SignatureScheme.rsa_pkcs1_sha256,
    SignatureScheme.rsa_pkcs1_sha384,
)
"Signature schemes offered and accepted, most preferred first."
