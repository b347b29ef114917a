"""Configuration of a DTLS endpoint: one dataclass with safe defaults, plus loaders.

Defaults are the secure choice: AEAD suites only, the extended master secret required,
certificate verification on for clients, the stateless cookie exchange on for servers, peer
keys of at least RSA-2048 / P-256. Everything a user may weaken is an explicit field.
Contradictory or out-of-range settings raise ``ValueError`` (see :meth:`validate`).
"""

from __future__ import annotations

import datetime
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

from .handshake.suites import (
    DEFAULT_CIPHER_SUITES,
    DEFAULT_GROUPS,
    DEFAULT_SIGNATURE_SCHEMES,
    CipherSuite,
    NamedGroup,
    SignatureScheme,
)
from .reliability.timer import RetransmissionPolicy
from .trace import TraceCallback

__all__ = ["MAX_MTU", "MIN_MTU", "DtlsConfiguration", "PrivateKey", "PskLookup"]

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PskLookup = Callable[[bytes], bytes | None]
"Server side: maps a client's PSK identity to its key, or None if the identity is unknown."

MIN_MTU = 228
"""Smallest ``mtu`` accepted: OpenSSL's floor (a 256-byte datagram less IPv4 and UDP headers).
Below it a handshake flight splits into so many records that it is not worth supporting."""

MAX_MTU = 65507
"Largest ``mtu`` accepted: the largest UDP payload over IPv4 (65535 less IP and UDP headers)."


@dataclass
class DtlsConfiguration:
    """Everything a :class:`~aiodtls.connection.DtlsConnection` needs to know up front."""

    is_client: bool = True
    "True for the client role."

    server_name: str | None = None
    "Client: the host name to send (SNI) and to check the server certificate against."

    cipher_suites: list[CipherSuite] | None = None
    "Suites in preference order; None means the defaults that fit the configured credentials."

    groups: list[NamedGroup] = field(default_factory=lambda: list(DEFAULT_GROUPS))
    "ECDHE groups in preference order."

    signature_schemes: list[SignatureScheme] = field(
        default_factory=lambda: list(DEFAULT_SIGNATURE_SCHEMES)
    )
    "Signature schemes accepted from the peer and usable with our key, in preference order."

    certificate_chain: list[x509.Certificate] = field(default_factory=list)
    "Our certificate chain, leaf first (the server's, or the client's for client auth)."

    private_key: PrivateKey | None = field(default=None, repr=False)
    "The private key of the leaf certificate."

    verify_mode: ssl.VerifyMode | None = None
    """How the peer's certificate is checked. None means CERT_REQUIRED on a client and
    CERT_NONE (no client certificate requested) on a server, or CERT_REQUIRED on either side
    when ``peer_fingerprints`` is set. A server with CERT_OPTIONAL requests a certificate and
    verifies it when one is sent. CERT_NONE or CERT_OPTIONAL together with
    ``peer_fingerprints`` is a contradiction and raises ``ValueError``."""

    ca_certificates: list[x509.Certificate] = field(default_factory=list)
    "Trust anchors for chain validation (see :meth:`load_verify_locations`)."

    peer_fingerprints: list[bytes] = field(default_factory=list)
    """SHA-256 fingerprints (32 raw bytes each) of acceptable peer leaf certificates (WebRTC
    style pinning), on a client or a server. When set, a peer certificate is required (a
    server always sends CertificateRequest) and its leaf must match a pin: a matching leaf
    replaces chain validation, a missing certificate ends the handshake with
    ``handshake_failure``, any other leaf with ``bad_certificate``. PSK suites carry no
    certificates; a PSK authenticates the peer by itself. Requires ``verify_mode`` None or
    CERT_REQUIRED."""

    verification_time: datetime.datetime | None = None
    "The time certificates are validated at; None means now."

    min_rsa_key_size: int = 2048
    """Smallest RSA (and DSA) key, in bits, accepted in any certificate the peer sends, leaf
    or CA, whatever ``verify_mode`` or ``peer_fingerprints`` say; a smaller one ends the
    handshake with ``insufficient_security``. :meth:`load_cert_chain` refuses our own key
    below it too. Chain validation independently refuses CA keys under 2048 bits
    (``cryptography``'s Web PKI policy), so lowering this admits weak leaves only."""

    min_ec_key_size: int = 256
    """Smallest elliptic curve, in bits, accepted in any certificate the peer sends (and in
    our own key by :meth:`load_cert_chain`): the default admits P-256, P-384 and P-521 and
    refuses P-224, P-192 and other curves under 256 bits."""

    psk: bytes | None = field(default=None, repr=False)
    "Client: the pre-shared key (up to 64 bytes). Server: a single key for any identity."

    psk_identity: bytes | None = None
    "Client: the PSK identity to send (up to 128 bytes)."

    psk_identity_hint: bytes | None = None
    "Server: a hint sent in ServerKeyExchange."

    psk_lookup: PskLookup | None = None
    "Server: maps an identity to its key; takes precedence over ``psk``."

    require_extended_master_secret: bool = True
    "Refuse peers without RFC 7627 extended master secret (RFC 9325 §3.1)."

    cookie_exchange: bool = True
    "Server: answer a ClientHello without a valid cookie with HelloVerifyRequest."

    cookie_secret: bytes | None = field(default=None, repr=False)
    "Server: HMAC key for cookies; random when None (see ``handshake.cookie``)."

    mtu: int = 1400
    """The largest UDP payload we send, headers and AEAD overhead included; from
    :data:`MIN_MTU` (228) to :data:`MAX_MTU` (65507). One record carries at most 2^14 bytes
    of application data whatever the MTU (``DtlsConnection.max_payload``)."""

    retransmission: RetransmissionPolicy = field(default_factory=RetransmissionPolicy)
    """The retransmission timer policy (``reliability.timer``): initial and minimum timeouts,
    RTT adaptation, jitter, MTU back-off. ``RetransmissionPolicy.openssl()`` models OpenSSL."""

    handshake_timeout: float = 60.0
    "The handshake fails with a timeout if not complete after this many seconds."

    idle_timeout: float | None = 300.0
    """An established connection that hears nothing valid from its peer for this many seconds
    ends (``ConnectionTerminated`` with reason ``idle timeout``): DTLS has no keepalive, so
    this is how a vanished peer is noticed. Applications that stay silent longer send their
    own keepalives or raise it; None disables it."""

    max_handshake_message_size: int = 65536
    "Largest handshake message accepted from the peer (certificate chains are the big ones)."

    max_handshake_buffer: int = 262144
    "Bytes of fragments, future messages and early records buffered per connection."

    wrong_key_repeats: int = 2
    """Times the peer may repeat its flight while every protected record it sent in between
    failed authentication, before the handshake ends with ``bad_record_mac`` (a wrong PSK
    shows up this way, about two retransmission timeouts after the peer's Finished). Records
    that fail authentication are otherwise dropped silently, so forged ones cannot end a
    handshake. A PSK client also counts the server's repeats of the flight its Finished answers
    (servers that cannot verify it drop it silently) and ends with ``handshake_failure`` after
    this many, once the server had ignored at least 8 copies (docs/errors.md). 0 means never:
    the handshake then ends at ``handshake_timeout``."""

    replay_protection: bool = True
    "Drop records whose sequence number was already seen (RFC 6347 §4.1.2.6)."

    trace: TraceCallback | None = None
    "Receives a structured record of every handshake step and every dropped record."

    key_log: TextIO | None = None
    "Writes NSS key log lines (SSLKEYLOGFILE format) so captures can be decrypted."

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` for a contradictory or out-of-range setting.

        Runs when the configuration is built and again when a connection is created from it,
        so fields assigned after construction are checked too.
        """
        if not MIN_MTU <= self.mtu <= MAX_MTU:
            raise ValueError(f"mtu {self.mtu} is outside {MIN_MTU}..{MAX_MTU}")
        for pin in self.peer_fingerprints:
            if not isinstance(pin, bytes) or len(pin) != 32:
                raise ValueError(
                    f"peer_fingerprints entry {pin!r} is not a 32-byte SHA-256 digest "
                    "(raw bytes, e.g. bytes.fromhex(...))"
                )
        if self.peer_fingerprints and self.verify_mode not in (None, ssl.CERT_REQUIRED):
            # A pin is a promise that only that certificate gets in: a mode that lets a peer
            # without one in would silently break it (hardening issue, defect 1).
            raise ValueError(
                f"peer_fingerprints requires a peer certificate, but verify_mode is "
                f"{ssl.VerifyMode(self.verify_mode).name}: leave verify_mode None or CERT_REQUIRED"
            )
        if self.min_rsa_key_size < 1 or self.min_ec_key_size < 1:
            raise ValueError("min_rsa_key_size and min_ec_key_size must be positive")

    def key_strength_problem(self, key: object) -> str | None:
        """Why ``key`` (a public or private key) is weaker than the configured minimums, or
        None if it is strong enough or of a type without a size (Ed25519, Ed448)."""
        if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey | dsa.DSAPublicKey):
            kind = "RSA" if not isinstance(key, dsa.DSAPublicKey) else "DSA"
            if key.key_size < self.min_rsa_key_size:
                return (
                    f"a {key.key_size}-bit {kind} key, below min_rsa_key_size "
                    f"{self.min_rsa_key_size}"
                )
        elif (
            isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey)
            and key.curve.key_size < self.min_ec_key_size
        ):
            return (
                f"a {key.curve.key_size}-bit EC key ({key.curve.name}), below "
                f"min_ec_key_size {self.min_ec_key_size}"
            )
        return None

    def load_cert_chain(
        self, certfile: str, keyfile: str | None = None, password: bytes | None = None
    ) -> None:
        """Load our PEM certificate chain (leaf first) and its private key.

        ``keyfile`` may be omitted when ``certfile`` holds the key too. A key below
        ``min_rsa_key_size`` / ``min_ec_key_size`` raises ``ValueError``: a peer with the
        default policy would refuse it anyway. Nothing is changed when loading fails.
        """
        with open(certfile, "rb") as f:
            cert_data = f.read()
        chain = x509.load_pem_x509_certificates(cert_data)
        key_data = cert_data
        if keyfile is not None:
            with open(keyfile, "rb") as f:
                key_data = f.read()
        key = serialization.load_pem_private_key(key_data, password=password)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ValueError("only ECDSA and RSA private keys are supported")
        problem = self.key_strength_problem(key)
        if problem is not None:
            raise ValueError(f"our private key is {problem}")
        self.certificate_chain = chain
        self.private_key = key

    def load_verify_locations(self, cafile: str | None = None, cadata: bytes | None = None) -> None:
        """Add PEM trust anchors from a file and/or from bytes."""
        if cafile is not None:
            with open(cafile, "rb") as f:
                self.ca_certificates.extend(x509.load_pem_x509_certificates(f.read()))
        if cadata is not None:
            self.ca_certificates.extend(x509.load_pem_x509_certificates(cadata))

    def effective_verify_mode(self) -> ssl.VerifyMode:
        """The verify mode after applying the role's default: pins always require a
        certificate (even if ``verify_mode`` was weakened after :meth:`validate` ran)."""
        if self.peer_fingerprints:
            return ssl.CERT_REQUIRED
        if self.verify_mode is not None:
            return self.verify_mode
        return ssl.CERT_REQUIRED if self.is_client else ssl.CERT_NONE

    def effective_cipher_suites(self) -> list[CipherSuite]:
        """The suites to offer (client) or accept (server), given the credentials."""
        if self.cipher_suites is not None:
            return list(self.cipher_suites)
        suites: list[CipherSuite] = []
        has_psk = self.psk is not None or self.psk_lookup is not None
        if self.is_client:
            if has_psk:
                suites.append(CipherSuite.TLS_PSK_WITH_AES_128_GCM_SHA256)
            else:
                suites.extend(DEFAULT_CIPHER_SUITES)
            return suites
        suites.extend(DEFAULT_CIPHER_SUITES if self.private_key is not None else ())
        if has_psk:
            suites.append(CipherSuite.TLS_PSK_WITH_AES_128_GCM_SHA256)
        return suites
