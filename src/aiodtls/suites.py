"""Registries of what the handshake can negotiate: cipher suites, groups, signature schemes.

Owns the numbers and the per-suite facts (key exchange, AEAD, PRF hash). It does no
cryptography itself: ``record.protection`` builds the AEAD, ``keyschedule`` runs the PRF and
``keyexchange`` / ``signatures`` do the public-key work.

It sits below both ``configuration`` (which names the suites, groups and schemes a peer
offers) and ``handshake`` (which negotiates them), so neither imports the other through it;
``tests/test_layout.py`` keeps the package free of import cycles. It was
``aiodtls.handshake.suites``, which still re-exports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum

from cryptography.hazmat.primitives import hashes

from .record.protection import Aead

__all__ = [
    "DEFAULT_CIPHER_SUITES",
    "DEFAULT_GROUPS",
    "DEFAULT_PSK_CIPHER_SUITES",
    "DEFAULT_SIGNATURE_SCHEMES",
    "DEFAULT_SUITES13",
    "EXTERNAL_PSK_HASH",
    "CipherSuite",
    "KeyExchange",
    "NamedGroup",
    "ProtocolVersion",
    "SignatureScheme",
    "Suite13",
    "SuiteInfo",
    "cipher_suite_from_name",
    "openssl_name",
    "suite13_hash",
    "suite_info",
]


class ProtocolVersion(IntEnum):
    """The DTLS versions (their wire numbers: RFC 6347 §4.1, RFC 9147 §5.3)."""

    DTLSv1_2 = 0xFEFD
    DTLSv1_3 = 0xFEFC


class Suite13(IntEnum):
    """The TLS 1.3 cipher suites DTLS 1.3 negotiates (RFC 8446 B.4): an AEAD and a hash each.

    TLS_AES_128_CCM_8_SHA256 is negotiated only when a configuration lists it explicitly: its
    8-byte tag is not recommended for general use (TLS registry)."""

    TLS_AES_128_GCM_SHA256 = 0x1301
    TLS_AES_256_GCM_SHA384 = 0x1302
    TLS_CHACHA20_POLY1305_SHA256 = 0x1303
    TLS_AES_128_CCM_SHA256 = 0x1304
    TLS_AES_128_CCM_8_SHA256 = 0x1305


DEFAULT_SUITES13 = (
    Suite13.TLS_AES_128_GCM_SHA256,
    Suite13.TLS_AES_256_GCM_SHA384,
    Suite13.TLS_CHACHA20_POLY1305_SHA256,
    Suite13.TLS_AES_128_CCM_SHA256,
)
"""The DTLS 1.3 suites offered and accepted unless a configuration says otherwise (no CCM_8)."""


EXTERNAL_PSK_HASH = hashes.SHA256()
"""The hash of a DTLS 1.3 external PSK: SHA-256, as RFC 8446 §4.2.11 has it when none was set
with the PSK (a configuration sets none); it keys only the suites of that hash."""


def suite13_hash(suite: Suite13 | int) -> hashes.HashAlgorithm:
    """The hash of a TLS 1.3 suite's key schedule (SHA-384 for AES-256-GCM, else SHA-256)."""
    if suite == Suite13.TLS_AES_256_GCM_SHA384:
        return hashes.SHA384()
    return hashes.SHA256()


class CipherSuite(IntEnum):
    """TLS 1.2 cipher suites (IANA values). Only AEAD suites exist here by design."""

    TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 = 0xC02B  # RFC 5289
    TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 = 0xC02C
    TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 = 0xC02F
    TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 = 0xC030
    TLS_PSK_WITH_AES_128_GCM_SHA256 = 0x00A8  # RFC 5487
    TLS_PSK_WITH_AES_256_GCM_SHA384 = 0x00A9
    TLS_PSK_WITH_AES_128_CCM = 0xC0A4  # RFC 6655
    TLS_PSK_WITH_AES_128_CCM_8 = 0xC0A8
    TLS_ECDHE_ECDSA_WITH_AES_128_CCM = 0xC0AC  # RFC 7251
    TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 = 0xC0AE
    TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 = 0xCCA8  # RFC 7905
    TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 = 0xCCA9
    TLS_PSK_WITH_CHACHA20_POLY1305_SHA256 = 0xCCAB
    TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256 = 0xCCAC
    TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256 = 0xD001  # RFC 8442


# Signalling values that may appear in a ClientHello's suite list.
TLS_EMPTY_RENEGOTIATION_INFO_SCSV = 0x00FF
TLS_FALLBACK_SCSV = 0x5600


class KeyExchange(Enum):
    """How the premaster secret is agreed and who is authenticated by what."""

    ECDHE_ECDSA = "ECDHE_ECDSA"
    ECDHE_RSA = "ECDHE_RSA"
    PSK = "PSK"
    ECDHE_PSK = "ECDHE_PSK"
    "RFC 5489: an unsigned ECDH exchange whose secret is mixed with the PSK."

    uses_psk: bool
    "The peers authenticate each other with a pre-shared key (no certificates)."
    uses_certificate: bool
    "The server authenticates with a certificate and signs its ECDH parameters."

    def __init__(self, value: str) -> None:
        # Plain member attributes, set once per member, rather than properties: they are
        # read several times per handshake, and a property's getter is a Python frame.
        self.uses_psk = value in ("PSK", "ECDHE_PSK")
        self.uses_certificate = value in ("ECDHE_ECDSA", "ECDHE_RSA")


@dataclass(frozen=True)
class SuiteInfo:
    """What a cipher suite means."""

    suite: CipherSuite
    key_exchange: KeyExchange
    aead: Aead
    "The record protection; it fixes the key, implicit IV, explicit nonce and tag lengths."
    prf_hash: type[hashes.HashAlgorithm]
    "Hash of the TLS 1.2 PRF, the transcript and the Finished message."

    @property
    def name(self) -> str:
        """The IANA name."""
        return self.suite.name

    @property
    def key_length(self) -> int:
        """Bytes of each write key taken from the key block."""
        return self.aead.key_length

    @property
    def fixed_iv_length(self) -> int:
        """Bytes of each implicit IV taken from the key block (the salt, or ChaCha20's IV)."""
        return self.aead.fixed_iv_length

    @property
    def tag_length(self) -> int:
        """Bytes of the AEAD tag on every record."""
        return self.aead.tag_length


_SUITE_LIST = (
    (
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        KeyExchange.ECDHE_ECDSA,
        Aead.AES_128_GCM,
    ),
    (
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        KeyExchange.ECDHE_ECDSA,
        Aead.AES_256_GCM,
    ),
    (CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, KeyExchange.ECDHE_RSA, Aead.AES_128_GCM),
    (CipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, KeyExchange.ECDHE_RSA, Aead.AES_256_GCM),
    (CipherSuite.TLS_PSK_WITH_AES_128_GCM_SHA256, KeyExchange.PSK, Aead.AES_128_GCM),
    (CipherSuite.TLS_PSK_WITH_AES_256_GCM_SHA384, KeyExchange.PSK, Aead.AES_256_GCM),
    (CipherSuite.TLS_PSK_WITH_AES_128_CCM, KeyExchange.PSK, Aead.AES_128_CCM),
    (CipherSuite.TLS_PSK_WITH_AES_128_CCM_8, KeyExchange.PSK, Aead.AES_128_CCM_8),
    (CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM, KeyExchange.ECDHE_ECDSA, Aead.AES_128_CCM),
    (CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, KeyExchange.ECDHE_ECDSA, Aead.AES_128_CCM_8),
    (
        CipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        KeyExchange.ECDHE_RSA,
        Aead.CHACHA20_POLY1305,
    ),
    (
        CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        KeyExchange.ECDHE_ECDSA,
        Aead.CHACHA20_POLY1305,
    ),
    (CipherSuite.TLS_PSK_WITH_CHACHA20_POLY1305_SHA256, KeyExchange.PSK, Aead.CHACHA20_POLY1305),
    (
        CipherSuite.TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256,
        KeyExchange.ECDHE_PSK,
        Aead.CHACHA20_POLY1305,
    ),
    (CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256, KeyExchange.ECDHE_PSK, Aead.AES_128_GCM),
)

# The PRF hash is in the suite's name: SHA384 where it says so, else SHA-256 (RFC 5289,
# RFC 6655 §4 and RFC 7251 §2 for CCM, RFC 7905 §2 for ChaCha20-Poly1305).
_SUITES = {
    suite: SuiteInfo(
        suite,
        key_exchange,
        aead,
        hashes.SHA384 if suite.name.endswith("_SHA384") else hashes.SHA256,
    )
    for suite, key_exchange, aead in _SUITE_LIST
}


def suite_info(suite: CipherSuite) -> SuiteInfo:
    """The facts about ``suite``."""
    return _SUITES[suite]


# OpenSSL's names (``openssl ciphers -V``), which people paste from OpenSSL configurations.
# TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256 has none: OpenSSL does not implement it.
_OPENSSL_NAMES = {
    CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: "ECDHE-ECDSA-AES128-GCM-SHA256",
    CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: "ECDHE-ECDSA-AES256-GCM-SHA384",
    CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: "ECDHE-RSA-AES128-GCM-SHA256",
    CipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: "ECDHE-RSA-AES256-GCM-SHA384",
    CipherSuite.TLS_PSK_WITH_AES_128_GCM_SHA256: "PSK-AES128-GCM-SHA256",
    CipherSuite.TLS_PSK_WITH_AES_256_GCM_SHA384: "PSK-AES256-GCM-SHA384",
    CipherSuite.TLS_PSK_WITH_AES_128_CCM: "PSK-AES128-CCM",
    CipherSuite.TLS_PSK_WITH_AES_128_CCM_8: "PSK-AES128-CCM8",
    CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM: "ECDHE-ECDSA-AES128-CCM",
    CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8: "ECDHE-ECDSA-AES128-CCM8",
    CipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-RSA-CHACHA20-POLY1305",
    CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
    CipherSuite.TLS_PSK_WITH_CHACHA20_POLY1305_SHA256: "PSK-CHACHA20-POLY1305",
    CipherSuite.TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-PSK-CHACHA20-POLY1305",
}


def openssl_name(suite: CipherSuite) -> str | None:
    """OpenSSL's name of ``suite`` (e.g. ``PSK-AES128-CCM8``), or None if OpenSSL has none."""
    return _OPENSSL_NAMES.get(suite)


def _gnutls_name(suite: CipherSuite) -> str:
    # GnuTLS drops "WITH" and ChaCha20's "SHA256": TLS_PSK_AES_128_CCM_8,
    # TLS_ECDHE_PSK_CHACHA20_POLY1305 (gnutls-cli --list).
    return suite.name.replace("_WITH_", "_").replace("_POLY1305_SHA256", "_POLY1305")


def cipher_suite_from_name(name: str) -> CipherSuite:
    """The suite called ``name``: its IANA name (with or without ``TLS_``), OpenSSL's name or
    GnuTLS's name, in any case. Raises ``ValueError`` for an unknown name."""
    wanted = name.strip().upper()
    for suite in CipherSuite:
        names = {suite.name, suite.name[4:], _gnutls_name(suite), _OPENSSL_NAMES.get(suite, "")}
        if wanted in names:
            return suite
    raise ValueError(f"unknown cipher suite {name!r}")


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
    CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    CipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM,
)
"""Certificate suites offered by default, most preferred first: GCM, then ChaCha20-Poly1305,
then CCM. The CCM_8 suites (64-bit tag) are never in a default list: they are chosen
explicitly or through ``DtlsConfiguration.rfc7925``. PSK suites are added when a PSK is
configured."""

DEFAULT_PSK_CIPHER_SUITES: tuple[CipherSuite, ...] = (
    CipherSuite.TLS_PSK_WITH_AES_128_GCM_SHA256,
    CipherSuite.TLS_PSK_WITH_AES_256_GCM_SHA384,
    CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256,
    CipherSuite.TLS_PSK_WITH_CHACHA20_POLY1305_SHA256,
    CipherSuite.TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256,
    CipherSuite.TLS_PSK_WITH_AES_128_CCM,
)
"PSK suites offered (or accepted) when a PSK is configured, most preferred first."

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
