"""Configuration of a DTLS endpoint: one dataclass with safe defaults, plus loaders.

Defaults are the secure choice: AEAD suites only, the extended master secret required,
certificate verification on for clients, the stateless cookie exchange on for servers, peer
keys of at least RSA-2048 / P-256. Everything a user may weaken is an explicit field.
Contradictory or out-of-range settings raise ``ValueError`` (see :meth:`validate`).
"""

from __future__ import annotations

import datetime
import os
import re
import ssl
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

from .alerts import AlertDescription
from .pki import PublicKeyPin, as_fingerprint, as_public_key_pin
from .reliability.timer import RetransmissionPolicy
from .resumption import ServerSessionStore, Session
from .srtp import MAX_MKI_LENGTH, SrtpProfile
from .suites import (
    DEFAULT_CIPHER_SUITES,
    DEFAULT_GROUPS,
    DEFAULT_PSK_CIPHER_SUITES,
    DEFAULT_SIGNATURE_SCHEMES,
    DEFAULT_SUITES13,
    CipherSuite,
    NamedGroup,
    ProtocolVersion,
    SignatureScheme,
    Suite13,
)
from .trace import TraceCallback

__all__ = [
    "MAX_MTU",
    "MIN_MTU",
    "DtlsConfiguration",
    "KeyPassword",
    "PrivateKey",
    "PskClientCallback",
    "PskLookup",
    "SniCallback",
    "VerifyCallback",
]

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PskLookup = Callable[[bytes], bytes | None]
"Server side: maps a client's PSK identity to its key, or None if the identity is unknown."

PskClientCallback = Callable[[bytes | None], tuple[bytes, bytes] | None]
"""Client side: maps the server's PSK identity hint (None if it sent none) to the
(identity, key) to use, or None when this client has no key for that server."""

SniCallback = Callable[
    [str | None], tuple[list[x509.Certificate], PrivateKey] | AlertDescription | None
]
"""Server side: called with the host name the client sent (SNI), or None, before the server
picks its certificate. Returns a (chain, key) pair to present for that name, None to keep
``certificate_chain``/``private_key``, or an :class:`~aiodtls.alerts.AlertDescription`
(e.g. ``unrecognized_name``) to refuse the handshake with that alert."""

VerifyCallback = Callable[[list[x509.Certificate], str | None], bool]
"""Called with the peer's chain (leaf first, as sent) and the reason the built-in checks
refused it, or None if they accepted it; returns True to accept, False to refuse. See
:attr:`DtlsConfiguration.verify_callback`."""

KeyPassword = bytes | str | Callable[[], bytes | str]
"A private key's password, or (like ``ssl``) a function called only if the key is encrypted."

_Pin = TypeVar("_Pin")

MIN_MTU = 228
"""Smallest ``mtu`` accepted: OpenSSL's floor (a 256-byte datagram less IPv4 and UDP headers).
Below it a handshake flight splits into so many records that it is not worth supporting."""

MAX_MTU = 65507
"Largest ``mtu`` accepted: the largest UDP payload over IPv4 (65535 less IP and UDP headers)."


_VERSION_TUPLES = frozenset(
    {
        (ProtocolVersion.DTLSv1_2,),
        (ProtocolVersion.DTLSv1_3,),
        (ProtocolVersion.DTLSv1_2, ProtocolVersion.DTLSv1_3),
        (ProtocolVersion.DTLSv1_3, ProtocolVersion.DTLSv1_2),
    }
)
"The normalized values of ``DtlsConfiguration.versions``."

_PSK_MODE_TUPLES = frozenset(
    {("psk_dhe_ke",), ("psk_ke",), ("psk_dhe_ke", "psk_ke"), ("psk_ke", "psk_dhe_ke")}
)
"The values ``DtlsConfiguration.psk_key_exchange_modes`` accepts (names of RFC 8446 §4.2.9)."


@dataclass
class DtlsConfiguration:
    """Everything a :class:`~aiodtls.connection.DtlsConnection` needs to know up front."""

    is_client: bool = True
    "True for the client role."

    server_name: str | None = None
    "Client: the host name to send (SNI) and to check the server certificate against."

    cipher_suites: list[CipherSuite] | None = None
    "Suites in preference order; None means the defaults that fit the configured credentials."

    versions: Sequence[ProtocolVersion] = (ProtocolVersion.DTLSv1_2, ProtocolVersion.DTLSv1_3)
    """The DTLS versions this side accepts: DTLS 1.2, DTLS 1.3, or both (the default, like
    OpenSSL's ``DTLS_method``: the highest version both sides allow is negotiated). A server
    that allows both answers each ClientHello in the newest version the client offers; a client
    that allows both offers DTLS 1.3 and falls back to DTLS 1.2 when the server answers so."""

    dtls13_echo_session_id: bool = False
    """Server, DTLS 1.3: echo the ClientHello's legacy_session_id in the ServerHello and
    HelloRetryRequest. Off: RFC 9147 §5 has no echo (no middlebox compatibility mode). On only
    for wolfSSL DTLS 1.3 clients before 5.9.1, which send a 32-byte legacy_session_id when they
    resume and abort unless it comes back (wolfSSL's own servers have the same switch,
    WOLFSSL_DTLS13_5_9_0_COMPAT)."""

    cipher_suites13: list[Suite13] | None = None
    """DTLS 1.3 suites in preference order; None means :data:`~aiodtls.suites.DEFAULT_SUITES13`
    (TLS_AES_128_CCM_8_SHA256 only when listed here)."""

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

    peer_fingerprints: Sequence[bytes | str | tuple[str, bytes]] = field(default_factory=list)
    """Fingerprints of acceptable peer leaf certificates (WebRTC style pinning), on a client
    or a server. Each is text in any form people paste (``aiodtls.pki.parse_fingerprint``:
    ``'a=fingerprint:sha-256 AB:CD:...'``, ``'sha-256 AB:..'``, hex with or without colons,
    SHA-1 to SHA-512), 32 raw bytes of a SHA-256 digest, or an ``(algorithm, digest)`` pair
    such as ``aiodtls.pki.Fingerprint``; the peer's leaf is hashed with each pin's algorithm.
    When set, a peer certificate is required (a server always sends CertificateRequest) and
    its leaf must match a pin: a matching leaf replaces chain validation, a missing
    certificate ends the handshake with ``handshake_failure``, any other leaf with
    ``bad_certificate``. PSK suites carry no certificates; a PSK authenticates the peer by
    itself. Requires ``verify_mode`` None or CERT_REQUIRED."""

    raw_public_key: bool = False
    """Present our ``private_key`` as an RFC 7250 raw public key (its SubjectPublicKeyInfo)
    instead of a certificate chain to peers that accept one; no certificate is needed
    (:meth:`load_private_key`). With a ``certificate_chain`` too, a peer that does not accept
    raw keys gets the chain. A connection without ``private_key`` raises ``ValueError``.
    Raw keys and how to pin them: docs/certificates.md."""

    peer_public_keys: Sequence[PublicKeyPin] = field(default_factory=list)
    """The peer raw public keys (RFC 7250) we accept, on a client or a server: public key
    objects, their DER SubjectPublicKeyInfo (bytes), or the SHA-256 of that DER as text
    (``'sha-256 AB:CD:...'``, hex; ``aiodtls.pki.public_key_fingerprint``) or as an
    ``(algorithm, digest)`` pair (``aiodtls.pki.as_public_key_pin``). When set, we accept a raw
    key from the peer, the peer must authenticate (a server always sends CertificateRequest,
    as with ``peer_fingerprints``), and a raw key that matches no pin ends the handshake with
    ``bad_certificate`` naming its SHA-256. An X.509 peer certificate is still accepted if
    ``ca_certificates``, ``peer_fingerprints`` or ``verify_callback`` say how to check it;
    otherwise only pinned raw keys get in. Requires ``verify_mode`` None or CERT_REQUIRED."""

    check_hostname: bool = True
    """Client: check that the server certificate is for ``server_name``. False skips only
    the name: the chain must still lead to a trust anchor, be valid now and be meant for a
    server (extendedKeyUsage serverAuth, if present); ``server_name`` may then be None."""

    strict_x509: bool = True
    """Validate chains with the Web PKI extension rules of ``cryptography``. False accepts,
    like ``openssl verify``, CA certificates without a keyUsage extension (common in
    tutorial-made roots); a keyUsage that is present must still allow keyCertSign."""

    verify_callback: VerifyCallback | None = None
    """Called when the peer sent a certificate chain, once it has been checked (pins, trust,
    validity, name), with the chain as sent (leaf first) and the reason the built-in checks
    refused it (the text the handshake would end with) or None if they accepted it; with
    ``verify_mode=CERT_NONE`` they accept any chain. Return True to accept the chain, False to
    refuse it: the handshake then ends with ``bad_certificate`` (or the refusal's own alert).
    An exception it raises refuses the chain too, its message becoming the reason; it never
    reaches the application. An unparseable certificate or a key below the minimum sizes is
    refused before it is called."""

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
    """Server: the PSK callback for servers with many clients: called with the identity the
    client sent, returns that client's key, or None for an unknown identity (the handshake
    then ends with ``unknown_psk_identity``). Takes precedence over ``psk``."""

    psk_client_callback: PskClientCallback | None = None
    """Client: called with the server's identity hint (``psk_identity_hint`` of the server,
    None if it sent none) and returns the (identity, key) to use, or None to end the
    handshake with ``handshake_failure``. When set, it replaces ``psk``/``psk_identity``
    (like ``SSLContext.set_psk_client_callback`` in Python 3.13). DTLS 1.3 has no hint: its
    ClientHello asks with None (as OpenSSL does for TLS 1.3); a ClientHello that also offers
    DTLS 1.2 goes without the PSK in its DTLS 1.3 part if that answer is None."""

    psk_key_exchange_modes: Sequence[str] = ("psk_dhe_ke",)
    """DTLS 1.3: the PSK key exchange modes (RFC 8446 §4.2.9) this side allows with an
    external PSK or a resumption ticket, preferred first: ``"psk_dhe_ke"`` (the default: the
    PSK and an (EC)DHE key share, forward secret) and ``"psk_ke"`` (the PSK alone: no forward
    secrecy, like DTLS 1.2's plain PSK suites; for constrained devices, RFC 7925 / RFC 9147
    IoT profiles, whose ClientHello then carries no key share). A client offers these modes; a
    server selects the first of its own the client offered (``psk_dhe_ke`` only when the client
    sent a key share for a group it takes or can be asked for one), else declines the PSK (and
    with no certificate to fall back on ends the handshake with ``handshake_failure``). A
    client allowing ``("psk_ke",)`` alone with an external PSK and DTLS 1.3 alone sends no
    key_share, supported_groups nor signature_algorithms (RFC 8446 §9.2: a ClientHello with
    pre_shared_key needs neither): the handshake is then PSK-only, like a DTLS 1.2 client with
    a PSK, which offers only PSK suites. DTLS 1.2 ignores this field."""

    alpn_protocols: list[str] | None = None
    """Application protocols (RFC 7301), in preference order, e.g. ``["coap"]``. A client
    offers them; a server picks the first of its own list that the client offered, and ends
    the handshake with ``no_application_protocol`` if the client offered ALPN but none of
    these. The result is ``HandshakeCompleted.alpn_protocol``. None: no ALPN."""

    srtp_profiles: list[SrtpProfile] | None = None
    """DTLS-SRTP protection profiles (RFC 5764), in preference order. A client offers them
    in ``use_srtp``; a server picks the first of its own list that the client offered and
    ends the handshake with ``handshake_failure`` if none is; a client whose server does not
    agree to DTLS-SRTP ends it too. The result is ``HandshakeCompleted.srtp_profile``; the
    keys are ``srtp_keying_material()``. None: no DTLS-SRTP (docs/srtp.md)."""

    srtp_mki: bytes = b""
    """Client: the SRTP Master Key Identifier offered in ``use_srtp`` (0..255 bytes). A
    server echoes the client's MKI, meaning it will use it."""

    connection_id_length: int | None = None
    """Connection IDs (RFC 9146, docs/connection-ids.md): the length (0..255) of the CID we
    ask the peer to put in the records it sends us; we pick its random bytes (a server
    endpoint keeps them unique). 0 means "I send CIDs but want none". They are used only when
    both sides send the extension; a peer whose address changes (a NAT rebinding) then keeps
    its session. None: do not negotiate."""

    sni_callback: SniCallback | None = None
    """Server: chooses the certificate per host name the client asked for (SNI); see
    :data:`SniCallback`. The name is ``HandshakeCompleted.server_name`` either way."""

    session: Session | None = None
    """Client: a session to resume, taken from an earlier connection's ``session`` (or
    ``Session.from_bytes``). The server may resume it (``session_resumed``) or do a full
    handshake; a session for another ``server_name`` or suite is not offered
    (docs/resumption.md)."""

    session_tickets: bool = True
    "Client: ask servers for RFC 5077 session tickets (an empty SessionTicket extension)."

    session_store: ServerSessionStore | None = None
    """Server: the session cache and ticket keys shared by every connection made from this
    configuration; None (the default) turns resumption off (docs/resumption.md)."""

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
        versions = self.versions
        if type(versions) is not tuple or versions not in _VERSION_TUPLES:
            # Normalized once (a list, or plain numbers): validate() runs per connection.
            try:
                versions = tuple(ProtocolVersion(v) for v in versions)
            except (TypeError, ValueError):
                versions = ()
            if not versions:
                raise ValueError("versions lists one or both of ProtocolVersion.DTLSv1_2, DTLSv1_3")
            self.versions = versions
        modes = self.psk_key_exchange_modes
        if type(modes) is not tuple or modes not in _PSK_MODE_TUPLES:
            # Normalized once to a tuple of names, like versions: validate() runs per connection.
            if isinstance(modes, str):
                modes = (modes,)
            normalized = tuple(modes) if isinstance(modes, Sequence) else ()
            if normalized not in _PSK_MODE_TUPLES:
                raise ValueError(
                    f"psk_key_exchange_modes {self.psk_key_exchange_modes!r} lists one or both "
                    "of 'psk_dhe_ke' (forward secret, the default) and 'psk_ke' (no forward "
                    "secrecy), each once"
                )
            self.psk_key_exchange_modes = normalized
        if self.cipher_suites13 is not None and not self.cipher_suites13:
            raise ValueError("cipher_suites13 is None (the defaults) or lists at least one suite")
        # A pin is a promise that only that certificate (or key) gets in: a verify_mode that
        # lets a peer without one in would silently break it (hardening issue, defect 1).
        # Checked only when set: validate() runs for every connection made.
        if self.peer_fingerprints:
            _check_pins(
                "peer_fingerprints",
                self.peer_fingerprints,
                as_fingerprint,
                "a peer certificate",
                self.verify_mode,
            )
        if self.peer_public_keys:
            _check_pins(
                "peer_public_keys",
                self.peer_public_keys,
                as_public_key_pin,
                "the peer's key",
                self.verify_mode,
            )
        if self.min_rsa_key_size < 1 or self.min_ec_key_size < 1:
            raise ValueError("min_rsa_key_size and min_ec_key_size must be positive")
        if self.alpn_protocols is not None:
            if not self.alpn_protocols:
                raise ValueError("alpn_protocols is empty: give at least one name, or None")
            for name in self.alpn_protocols:
                if not isinstance(name, str) or not name.isascii() or not 1 <= len(name) <= 255:
                    raise ValueError(
                        f"alpn_protocols entry {name!r} is not an ASCII name of 1..255 "
                        "characters (e.g. 'coap')"
                    )
        if self.srtp_profiles is not None:
            if not self.srtp_profiles:
                raise ValueError("srtp_profiles is empty: give at least one profile, or None")
            for profile in self.srtp_profiles:
                if not isinstance(profile, SrtpProfile):
                    raise ValueError(
                        f"srtp_profiles entry {profile!r} is not an SrtpProfile "
                        "(e.g. SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80)"
                    )
        if not isinstance(self.srtp_mki, bytes) or len(self.srtp_mki) > MAX_MKI_LENGTH:
            raise ValueError(f"srtp_mki must be bytes of at most {MAX_MKI_LENGTH} bytes")
        if self.connection_id_length is not None and not (
            isinstance(self.connection_id_length, int) and 0 <= self.connection_id_length <= 255
        ):
            raise ValueError(
                f"connection_id_length {self.connection_id_length!r} is outside 0..255 "
                "(None: no connection IDs)"
            )
        if self.session is not None and not isinstance(self.session, Session):
            raise ValueError(
                f"session must be an aiodtls Session, not {type(self.session).__name__} "
                "(stored bytes: Session.from_bytes(data))"
            )
        if self.session_store is not None and not isinstance(
            self.session_store, ServerSessionStore
        ):
            raise ValueError("session_store must be a ServerSessionStore")

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
        self,
        certfile: str | os.PathLike[str],
        keyfile: str | os.PathLike[str] | None = None,
        password: KeyPassword | None = None,
    ) -> None:
        """Load our PEM certificate chain (leaf first) and its private key.

        ``keyfile`` may be omitted when ``certfile`` holds the key too. An encrypted key needs
        ``password``: bytes, str, or (like ``ssl``) a function returning one, called only when
        the key is encrypted. ``ValueError`` says what is wrong, naming the files: no
        certificate, an encrypted key without a password or with a wrong one, a key that is
        not the certificate's, or a key below ``min_rsa_key_size`` / ``min_ec_key_size`` (a
        peer with the default policy would refuse it anyway). Nothing is changed when
        loading fails.
        """
        with open(certfile, "rb") as f:
            cert_data = f.read()
        try:
            chain = x509.load_pem_x509_certificates(cert_data)
        except ValueError:
            raise ValueError(
                f"{os.fspath(certfile)} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
            ) from None
        key_path = os.fspath(keyfile if keyfile is not None else certfile)
        key_data = cert_data
        if keyfile is not None:
            with open(keyfile, "rb") as f:
                key_data = f.read()
        key = _load_private_key(key_data, key_path, password)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ValueError(f"{key_path}: only ECDSA and RSA private keys are supported")
        spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        if key.public_key().public_bytes(*spki) != chain[0].public_key().public_bytes(*spki):
            raise ValueError(
                f"the private key in {key_path} does not belong to the certificate in "
                f"{os.fspath(certfile)} ({_subject_text(chain[0])}): give the key that was "
                "made with that certificate, and the leaf first in the certificate file"
            )
        problem = self.key_strength_problem(key)
        if problem is not None:
            raise ValueError(f"our private key is {problem}")
        self.certificate_chain = chain
        self.private_key = key

    def load_private_key(
        self, keyfile: str | os.PathLike[str], password: KeyPassword | None = None
    ) -> None:
        """Load our PEM private key alone, for ``raw_public_key`` (no certificate needed).

        ``ValueError`` says what is wrong, as :meth:`load_cert_chain` does: no key, an
        encrypted key without a password or with a wrong one, a key that is neither ECDSA nor
        RSA, or one below the minimum sizes. Nothing is changed when loading fails."""
        path = os.fspath(keyfile)
        with open(keyfile, "rb") as f:
            key = _load_private_key(f.read(), path, password)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ValueError(f"{path}: only ECDSA and RSA private keys are supported")
        problem = self.key_strength_problem(key)
        if problem is not None:
            raise ValueError(f"our private key is {problem}")
        self.private_key = key

    def load_verify_locations(
        self, cafile: str | os.PathLike[str] | None = None, cadata: bytes | None = None
    ) -> None:
        """Add PEM trust anchors from a file and/or from bytes.

        A CA certificate anchors the chains it issued. A self-signed end-entity certificate
        (``aiodtls cert``'s default, or ``openssl req -x509``) is trusted directly, the way
        browsers pin one: a peer presenting exactly that certificate is accepted (its
        validity and, on a client, its name are still checked).
        """
        if cafile is not None:
            with open(cafile, "rb") as f:
                data = f.read()
            try:
                self.ca_certificates.extend(x509.load_pem_x509_certificates(data))
            except ValueError:
                raise ValueError(
                    f"{os.fspath(cafile)} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
                ) from None
        if cadata is not None:
            self.ca_certificates.extend(x509.load_pem_x509_certificates(cadata))

    def load_default_certs(self) -> int:
        """Add the system's trusted CA certificates (as ``ssl`` finds them: the
        ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` variables, else OpenSSL's default file and
        directory, e.g. ``/etc/ssl/certs`` on Debian). Returns how many were added;
        certificates already present, or that ``cryptography`` cannot parse, are skipped."""
        paths = ssl.get_default_verify_paths()
        files: list[str] = []
        if paths.cafile:
            files.append(paths.cafile)
        if paths.capath and os.path.isdir(paths.capath):
            for entry in sorted(os.listdir(paths.capath)):
                full = os.path.join(paths.capath, entry)
                if os.path.isfile(full):
                    files.append(full)
        seen = {c.public_bytes(serialization.Encoding.DER) for c in self.ca_certificates}
        added = 0
        for path in files:
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            for block in _PEM_CERTIFICATE.findall(data):
                try:
                    with warnings.catch_warnings():
                        # Old roots with a negative serial: still loaded, but warned about.
                        warnings.simplefilter("ignore")
                        certificate = x509.load_pem_x509_certificate(block)
                except ValueError:
                    continue
                der = certificate.public_bytes(serialization.Encoding.DER)
                if der not in seen:
                    seen.add(der)
                    self.ca_certificates.append(certificate)
                    added += 1
        return added

    def effective_verify_mode(self) -> ssl.VerifyMode:
        """The verify mode after applying the role's default: pins always require a
        certificate (even if ``verify_mode`` was weakened after :meth:`validate` ran)."""
        if self.peer_fingerprints or self.peer_public_keys:
            return ssl.CERT_REQUIRED
        if self.verify_mode is not None:
            return self.verify_mode
        return ssl.CERT_REQUIRED if self.is_client else ssl.CERT_NONE

    def effective_suites13(self) -> list[Suite13]:
        """The DTLS 1.3 suites to offer (client) or accept (server), in preference order."""
        if self.cipher_suites13 is not None:
            return [Suite13(s) for s in self.cipher_suites13]
        return list(DEFAULT_SUITES13)

    def allows(self, version: ProtocolVersion) -> bool:
        """True if this side accepts ``version``."""
        return version in self.versions

    def effective_cipher_suites(self) -> list[CipherSuite]:
        """The suites to offer (client) or accept (server), given the credentials."""
        if self.cipher_suites is not None:
            return list(self.cipher_suites)
        suites: list[CipherSuite] = []
        has_psk = self.psk is not None or self.psk_lookup is not None
        if self.is_client:
            has_psk = has_psk or self.psk_client_callback is not None
            if has_psk:
                suites.extend(DEFAULT_PSK_CIPHER_SUITES)
            else:
                suites.extend(DEFAULT_CIPHER_SUITES)
            return suites
        has_certificate = self.private_key is not None or self.sni_callback is not None
        suites.extend(DEFAULT_CIPHER_SUITES if has_certificate else ())
        if has_psk:
            suites.extend(DEFAULT_PSK_CIPHER_SUITES)
        return suites

    @classmethod
    def rfc7925(cls, is_client: bool = True, **fields: object) -> DtlsConfiguration:
        """A configuration of the RFC 7925 (IoT / CoAP) profile: the mandatory suites only,
        secp256r1 and ECDSA with SHA-256; every other field as given in ``fields``.

        RFC 7925 §4.3 makes TLS_PSK_WITH_AES_128_CCM_8 mandatory for PSK and §4.4 / §5
        TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 with secp256r1 and ecdsa_secp256r1_sha256 for raw
        public keys and certificates. A client offers the PSK suite when a PSK credential
        (``psk``, ``psk_lookup`` or ``psk_client_callback``) is among ``fields``, else the
        ECDHE_ECDSA one; a server accepts both and picks what its credentials allow. The
        profile is one of DTLS 1.2, so ``versions`` is DTLS 1.2 alone. Fields given explicitly
        (e.g. ``cipher_suites``, ``versions``) win over the profile's."""
        has_psk = any(
            fields.get(name) is not None for name in ("psk", "psk_lookup", "psk_client_callback")
        )
        profile: dict[str, object] = {
            "versions": (ProtocolVersion.DTLSv1_2,),  # RFC 7925 profiles (D)TLS 1.2
            "groups": [NamedGroup.secp256r1],
            "signature_schemes": [SignatureScheme.ecdsa_secp256r1_sha256],
        }
        if is_client:
            profile["cipher_suites"] = [
                CipherSuite.TLS_PSK_WITH_AES_128_CCM_8
                if has_psk
                else CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8
            ]
        else:
            profile["cipher_suites"] = [
                CipherSuite.TLS_PSK_WITH_AES_128_CCM_8,
                CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8,
            ]
        profile.update(fields)
        return cls(is_client=is_client, **profile)  # type: ignore[arg-type]


_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.+?-----END CERTIFICATE-----", re.DOTALL
)


def _check_pins(
    name: str,
    pins: Sequence[_Pin],
    parse: Callable[[_Pin], object],
    needs: str,
    verify_mode: ssl.VerifyMode | None,
) -> None:
    """Raise ``ValueError`` naming field ``name`` if one of ``pins`` does not ``parse``, or if
    ``verify_mode`` would let in a peer without ``needs``."""
    for pin in pins:
        try:
            parse(pin)
        except ValueError as exc:
            raise ValueError(f"{name} entry: {exc}") from None
    if verify_mode not in (None, ssl.CERT_REQUIRED):
        raise ValueError(
            f"{name} requires {needs}, but verify_mode is "
            f"{ssl.VerifyMode(verify_mode).name}: leave verify_mode None or CERT_REQUIRED"
        )


def _subject_text(certificate: x509.Certificate) -> str:
    try:
        return certificate.subject.rfc4514_string()
    except ValueError:
        return "(unreadable subject)"


def _load_private_key(data: bytes, path: str, password: KeyPassword | None) -> object:
    """The PEM private key in ``data`` (from file ``path``), decrypted if need be."""
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:
        pass  # encrypted: a password is needed
    except ValueError:
        raise ValueError(
            f"{path} holds no readable PEM private key (-----BEGIN PRIVATE KEY-----)"
        ) from None
    if password is None:
        raise ValueError(
            f"the private key in {path} is encrypted: give its password "
            "(load_cert_chain(password=...), CLI --key-password or the prompt)"
        )
    secret = password() if callable(password) else password
    if isinstance(secret, str):
        secret = secret.encode()
    try:
        return serialization.load_pem_private_key(data, password=secret)
    except (ValueError, TypeError):
        raise ValueError(f"cannot decrypt the private key in {path}: wrong password") from None
