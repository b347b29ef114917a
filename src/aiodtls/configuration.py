"""Configuration of a DTLS endpoint: one dataclass with safe defaults, plus loaders.

Defaults are the secure choice: AEAD suites only, the extended master secret required,
certificate verification on for clients, the stateless cookie exchange on for servers.
Everything a user may weaken is an explicit field.
"""

from __future__ import annotations

import datetime
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

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

__all__ = ["DtlsConfiguration", "PrivateKey", "PskLookup"]

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PskLookup = Callable[[bytes], bytes | None]
"Server side: maps a client's PSK identity to its key, or None if the identity is unknown."


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

    private_key: PrivateKey | None = None
    "The private key of the leaf certificate."

    verify_mode: ssl.VerifyMode | None = None
    """How the peer's certificate is checked. None means CERT_REQUIRED on a client and
    CERT_NONE (no client certificate requested) on a server. A server with CERT_OPTIONAL
    requests a certificate and verifies it when one is sent."""

    ca_certificates: list[x509.Certificate] = field(default_factory=list)
    "Trust anchors for chain validation (see :meth:`load_verify_locations`)."

    peer_fingerprints: list[bytes] = field(default_factory=list)
    """SHA-256 fingerprints of acceptable peer leaf certificates (WebRTC style pinning). When
    set, a matching leaf replaces chain validation; anything else is rejected."""

    verification_time: datetime.datetime | None = None
    "The time certificates are validated at; None means now."

    psk: bytes | None = None
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

    cookie_secret: bytes | None = None
    "Server: HMAC key for cookies; random when None (see ``handshake.cookie``)."

    mtu: int = 1400
    "The largest UDP payload we send, headers and AEAD overhead included."

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

    max_handshake_auth_failures: int = 2
    """Protected handshake records that may fail authentication before the handshake ends
    with ``bad_record_mac`` (a wrong PSK shows up this way); 0 means never."""

    replay_protection: bool = True
    "Drop records whose sequence number was already seen (RFC 6347 §4.1.2.6)."

    trace: TraceCallback | None = None
    "Receives a structured record of every handshake step and every dropped record."

    key_log: TextIO | None = None
    "Writes NSS key log lines (SSLKEYLOGFILE format) so captures can be decrypted."

    def load_cert_chain(
        self, certfile: str, keyfile: str | None = None, password: bytes | None = None
    ) -> None:
        """Load our PEM certificate chain (leaf first) and its private key.

        ``keyfile`` may be omitted when ``certfile`` holds the key too.
        """
        with open(certfile, "rb") as f:
            cert_data = f.read()
        self.certificate_chain = x509.load_pem_x509_certificates(cert_data)
        key_data = cert_data
        if keyfile is not None:
            with open(keyfile, "rb") as f:
                key_data = f.read()
        key = serialization.load_pem_private_key(key_data, password=password)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ValueError("only ECDSA and RSA private keys are supported")
        self.private_key = key

    def load_verify_locations(self, cafile: str | None = None, cadata: bytes | None = None) -> None:
        """Add PEM trust anchors from a file and/or from bytes."""
        if cafile is not None:
            with open(cafile, "rb") as f:
                self.ca_certificates.extend(x509.load_pem_x509_certificates(f.read()))
        if cadata is not None:
            self.ca_certificates.extend(x509.load_pem_x509_certificates(cadata))

    def effective_verify_mode(self) -> ssl.VerifyMode:
        """The verify mode after applying the role's default."""
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
