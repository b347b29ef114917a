"""The DTLS 1.3 client handshake (RFC 9147 §5 on RFC 8446 §4): the work of each step.

Owns what the client computes and checks; its flights and states are written down in
``flights`` (``flights.CLIENT13``): 1 ClientHello | 3 ClientHello after a HelloRetryRequest
| 5 [Certificate CertificateVerify] Finished, then NewSessionTickets and KeyUpdates after the
handshake. It offers DTLS 1.3 only (supported_versions 0xFEFC), one key share for the first
configured group, and, when configured, an external PSK (``psk``/``psk_identity``) or a
DTLS 1.3 session to resume (``session``), with the configured ``psk_key_exchange_modes``
(psk_dhe_ke by default). Allowing psk_ke alone with an external PSK makes the ClientHello
PSK-only: no key_share, supported_groups nor signature_algorithms (RFC 8446 §9.2). When
only a PSK handshake can complete (psk_ke alone, or no way to accept a server certificate),
it offers only the suites whose hash one of its PSKs has (RFC 8446 §4.2.11).
"""

from __future__ import annotations

import os
import ssl
import struct
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from ..alerts import (
    Alert,
    AlertDecodeError,
    AlertDecryptError,
    AlertHandshakeFailure,
    AlertIllegalParameter,
    AlertProtocolVersion,
    AlertUnexpectedMessage,
    AlertUnsupportedCertificate,
    AlertUnsupportedExtension,
)
from ..buffer import BufferReadError
from ..configuration import DtlsConfiguration
from ..record.header import DTLS1_2
from ..reliability.reassembly import HandshakeMessage
from ..resumption import Session, SessionState
from ..srtp import SrtpProfile, describe_profiles
from ..suites import EXTERNAL_PSK_HASH, NamedGroup, ProtocolVersion, Suite13, suite13_hash
from ..trace import Tracer
from . import signatures
from .certificates import certificate_public_key, check_peer_certificates
from .client import ask_psk_client_callback, is_ip_address
from .flights import (
    CLIENT_FINISHED13,
    CLIENT_HELLO13,
    CLIENT_HELLO_RETRY13,
    DTLS13,
    Client13State,
)
from .keyexchange import EphemeralKey
from .keyschedule13 import KeySchedule13, finished_matches
from .messages import (
    EXT_ALPN,
    EXT_CONNECTION_ID,
    EXT_SERVER_NAME,
    EXT_SIGNATURE_ALGORITHMS,
    EXT_SUPPORTED_GROUPS,
    EXT_USE_SRTP,
    CertificateVerify,
    ClientHello,
    ExtensionType,
    HandshakeType,
    ServerHello,
    UseSrtp,
    decode_alpn,
    decode_certificate_verify,
    decode_server_hello,
    decode_uint16_list,
    decode_use_srtp,
    encode_alpn,
    encode_certificate_verify,
    encode_client_hello,
    encode_connection_id,
    encode_server_name,
    encode_uint16_list,
    encode_use_srtp,
    find_extension,
)
from .messages.tls13 import (
    DOWNGRADE_TLS11,
    DOWNGRADE_TLS12,
    HELLO_RETRY_REQUEST_RANDOM,
    Certificate13,
    CertificateEntry,
    KeyShareEntry,
    OfferedPsks,
    PskIdentity,
    PskKeyExchangeMode,
    decode_certificate13,
    decode_certificate_request13,
    decode_cookie_extension,
    decode_encrypted_extensions,
    decode_key_share_hello_retry,
    decode_key_share_server,
    decode_new_session_ticket13,
    decode_selected_psk,
    decode_supported_versions_server,
    encode_certificate13,
    encode_cookie_extension,
    encode_key_share_client,
    encode_offered_psks,
    encode_psk_key_exchange_modes,
    encode_supported_versions_client,
    message_hash,
    offered_psks_binders_length,
    transcript_message,
)
from .state13 import (
    AlertMissingExtension,
    Handshake13,
    Handshake13Sink,
    check_context_empty,
)

__all__ = ["Client13State", "ClientHandshake13", "is_session13", "selects_dtls13"]

_T = HandshakeType
_DER = Encoding.DER
_E = ExtensionType
_DTLS13 = int(ProtocolVersion.DTLSv1_3)
_MAX_TICKET_LIFETIME = 604800  # seconds, RFC 8446 §4.6.1
# connection_id: in the ServerHello for DTLS 1.3 (as wolfSSL places it; RFC 9146 §3).
_SERVER_HELLO_EXTENSIONS = frozenset(
    {
        int(_E.supported_versions),
        int(_E.key_share),
        int(_E.pre_shared_key),
        int(_E.connection_id),
    }
)
_HELLO_RETRY_EXTENSIONS = frozenset({int(_E.supported_versions), int(_E.key_share), int(_E.cookie)})
# RFC 8446 §4.2: what EncryptedExtensions may carry of what a ClientHello can offer.
_ENCRYPTED_EXTENSIONS = frozenset(
    {
        int(_E.server_name),
        int(_E.supported_groups),
        int(_E.application_layer_protocol_negotiation),
        int(_E.use_srtp),
        int(_E.early_data),
    }
)


def _psk_only_reason(configuration: DtlsConfiguration) -> str | None:
    """Why a DTLS 1.3 client with an external PSK can authenticate its server only by a PSK,
    or None when a certificate handshake may follow a declined PSK: psk_ke alone (no key
    share, which a certificate handshake needs), ``verify_mode`` CERT_NONE (a certificate
    would authenticate nothing: accepting one would let whoever lacks the PSK in, where DTLS
    1.2's PSK suites refuse it), or nothing to accept a certificate or raw key by (no trust
    anchor, pin nor ``verify_callback``: every chain would be refused)."""
    if "psk_dhe_ke" not in configuration.psk_key_exchange_modes:
        return "psk_key_exchange_modes ('psk_ke',)"
    if configuration.verify_callback is not None:
        return None  # the callback is the check, whatever verify_mode says
    if configuration.effective_verify_mode() == ssl.CERT_NONE:
        return "verify_mode CERT_NONE: a server certificate would authenticate nothing"
    if (
        configuration.ca_certificates
        or configuration.peer_fingerprints
        or configuration.peer_public_keys
    ):
        return None
    return "no ca_certificates, peer_fingerprints, peer_public_keys nor verify_callback"


def is_session13(session: Session | None) -> bool:
    """True if ``session`` comes from a DTLS 1.3 handshake (its suite is a TLS 1.3 one)."""
    return session is not None and session.state.suite in Suite13._value2member_map_


@dataclass
class _OfferedPsk:
    identity: bytes
    obfuscated_age: int
    key: bytes
    algorithm: hashes.HashAlgorithm
    external: bool
    session: Session | None = None


class ClientHandshake13(Handshake13):
    """Drives the client side of one DTLS 1.3 handshake."""

    is_client = True
    HANDSHAKE = DTLS13

    def __init__(
        self, configuration: DtlsConfiguration, sink: Handshake13Sink, tracer: Tracer
    ) -> None:
        configuration.validate()
        super().__init__(configuration, sink, tracer)
        self.state = DTLS13.client.initial
        self._suites = configuration.effective_suites13()
        self._groups = list(configuration.groups)
        if not self._groups:
            raise ValueError("no groups to offer a key share for")
        self._schemes = signatures.schemes13(list(configuration.signature_schemes))
        self._psk_modes = [PskKeyExchangeMode[m] for m in configuration.psk_key_exchange_modes]
        "The PSK key exchange modes we offer with a PSK, preferred first (RFC 8446 §4.2.9)."
        self._psk_only = False
        "No (EC)DHE and no certificates: the ClientHello carries the PSK alone (psk_ke)."
        self._psk_required: str | None = None
        """Why only our external PSK may authenticate the server (``_psk_only_reason``), when
        it is offered and a certificate cannot: a ServerHello that does not take it ends the
        handshake, and the ClientHello leaves out signature_algorithms."""
        self._offered_suites: list[int] = []
        "The DTLS 1.3 suites our ClientHello offers."
        self._ephemeral: EphemeralKey | None = None
        self._hello: ClientHello | None = None
        self._psks: list[_OfferedPsk] = []
        self._chosen_psk: _OfferedPsk | None = None
        self._retry_suite: int | None = None
        self._retried = False
        self._server_key: object = None
        self._certificate_request: tuple[bytes, list[int]] | None = None
        self._offered: set[int] = set()
        self._legacy: ClientHello | None = None
        if (
            (
                (configuration.psk is not None and configuration.psk_identity is not None)
                or configuration.psk_client_callback is not None
            )
            and not configuration.allows(ProtocolVersion.DTLSv1_2)
            and _psk_only_reason(configuration) is not None
        ):
            self._suites_for_psks({EXTERNAL_PSK_HASH.name})  # a configuration error: now

    # -- flight 1 ------------------------------------------------------------------------

    def start(self, also_offer: ClientHello | None = None) -> None:
        """Queue the first ClientHello (flight 1). ``also_offer`` is a DTLS 1.2 client's
        ClientHello: its suites and the extensions DTLS 1.2 needs join ours, with DTLS 1.2 in
        supported_versions after 1.3, so a DTLS 1.2 server can answer it too (the connection
        then hands over to the DTLS 1.2 handshake: :attr:`sent_hello`)."""
        self.client_random = os.urandom(32)
        self._psks = self._psks_to_offer(dual=also_offer is not None)
        self._legacy = also_offer
        # psk_ke alone with an external PSK: no certificate handshake can follow (it needs a
        # key share), so none is offered, as a DTLS 1.2 client with a PSK offers PSK suites
        # only. A ticket alone keeps the key share: a refused ticket falls back to a full
        # handshake. A ClientHello that also offers DTLS 1.2 keeps it too (its supported_groups
        # would otherwise arrive without the key_share RFC 8446 §9.2 pairs it with).
        self._psk_only = (
            PskKeyExchangeMode.psk_dhe_ke not in self._psk_modes
            and any(p.external for p in self._psks)
            and also_offer is None
        )
        self._ephemeral = None if self._psk_only else EphemeralKey(self._groups[0])
        external = any(p.external for p in self._psks)
        self._psk_required = _psk_only_reason(self.configuration) if external else None
        suites13 = self._suites
        if also_offer is None and self._psk_required is not None:
            # Only a PSK handshake can complete, and a suite whose hash none of our PSKs has
            # cannot carry one (RFC 8446 §4.2.11, §4.6.1): 2 bytes of dead weight per suite
            # in every copy of the ClientHello. RFC 8446 §4.1.2 asks for at least one suite
            # with the PSK's hash; which others to list is ours to choose.
            suites13 = self._suites_for_psks({p.algorithm.name for p in self._psks})
        self._offered_suites = [int(s) for s in suites13]
        suites = list(self._offered_suites)
        if also_offer is not None:
            suites += [s for s in also_offer.cipher_suites if s not in suites]
        self._hello = ClientHello(
            client_version=DTLS1_2,
            random=self.client_random,
            session_id=b"",
            cookie=b"",
            cipher_suites=suites,
            compression_methods=b"\x00",
            extensions=self._extensions(cookie=None),
        )
        self._send_hello(self._hello)
        self._flush(CLIENT_HELLO13)
        self.state = DTLS13.client.started

    def _extensions(self, cookie: bytes | None) -> list[tuple[int, bytes]]:
        config = self.configuration
        extensions: list[tuple[int, bytes]] = []
        # The name we connect to, SNI or not (an IP address is not sent): as in DTLS 1.2, the
        # connection's server_name and the session's, which a resumption checks.
        self.result.server_name = config.server_name
        if config.server_name and not is_ip_address(config.server_name):
            extensions.append((EXT_SERVER_NAME, encode_server_name(config.server_name)))
        versions = [_DTLS13] if self._legacy is None else [_DTLS13, DTLS1_2]
        extensions.append((_E.supported_versions, encode_supported_versions_client(versions)))
        if self._ephemeral is not None:
            # RFC 8446 §9.2: needed for (EC)DHE and certificates; a PSK-only (psk_ke)
            # ClientHello leaves all three out.
            share = KeyShareEntry(int(self._ephemeral.group), self._ephemeral.public_bytes())
            extensions.append(
                (EXT_SUPPORTED_GROUPS, encode_uint16_list([int(g) for g in self._groups]))
            )
            if self._psk_required is None or self._legacy is not None:
                # Only for a certificate (RFC 8446 §9.2 lets a ClientHello with
                # pre_shared_key leave it out: a server that declines the PSK then cannot
                # choose certificates, which we would refuse anyway).
                schemes = encode_uint16_list([int(s) for s in self._schemes])
                extensions.append((EXT_SIGNATURE_ALGORITHMS, schemes))
            extensions.append((_E.key_share, encode_key_share_client([share])))
        if config.alpn_protocols:
            names = [p.encode("ascii") for p in config.alpn_protocols]
            extensions.append((EXT_ALPN, encode_alpn(names)))
        if config.srtp_profiles:
            offer = UseSrtp([int(p) for p in config.srtp_profiles], config.srtp_mki)
            extensions.append((EXT_USE_SRTP, encode_use_srtp(offer)))
        cid = self._connection_id_to_offer()
        if cid is not None:
            extensions.append((EXT_CONNECTION_ID, encode_connection_id(cid)))
        if cookie is not None:
            extensions.append((_E.cookie, encode_cookie_extension(cookie)))
        if self._legacy is not None:
            # What a DTLS 1.2 server needs and DTLS 1.3 does not send (extended master
            # secret, renegotiation_info, point formats, SRTP, ...), before pre_shared_key.
            ours = {int(t) for t, _ in extensions}
            extensions += [(t, b) for t, b in self._legacy.extensions if int(t) not in ours]
        if self._psks:
            modes = [int(m) for m in self._psk_modes]
            extensions.append((_E.psk_key_exchange_modes, encode_psk_key_exchange_modes(modes)))
            # pre_shared_key last (RFC 8446 §4.2.11); binders filled in by _send_hello.
            placeholder = OfferedPsks(
                [PskIdentity(p.identity, p.obfuscated_age) for p in self._psks],
                [bytes(p.algorithm.digest_size) for p in self._psks],
            )
            extensions.append((_E.pre_shared_key, encode_offered_psks(placeholder)))
        self._offered = {int(t) for t, _ in extensions}
        return [(int(t), b) for t, b in extensions]

    def _psks_to_offer(self, *, dual: bool) -> list[_OfferedPsk]:
        """A DTLS 1.3 session to resume (if fresh and for this server name), then the
        external PSK (RFC 8446 §4.2.11: SHA-256 unless said otherwise). A ClientHello that
        also offers DTLS 1.2 (``dual``) goes without the external PSK when
        ``psk_client_callback`` has none without a hint: DTLS 1.2 asks it with the server's."""
        config = self.configuration
        offered: list[_OfferedPsk] = []
        session = config.session
        if session is not None and is_session13(session) and session.ticket:
            state = session.state
            age = self._trace.now - state.issued_at
            suite = Suite13(state.suite)
            if (
                0 <= age < session.ticket_lifetime_hint
                and state.server_name == (config.server_name or None)
                and suite in self._suites
            ):
                age_add = (
                    int.from_bytes(session.session_id[-4:], "big") if session.session_id else 0
                )
                offered.append(
                    _OfferedPsk(
                        session.ticket,
                        (int(age * 1000) + age_add) & 0xFFFFFFFF,
                        state.master_secret,
                        suite13_hash(suite),
                        external=False,
                        session=session,
                    )
                )
        if config.psk_client_callback is not None:
            # DTLS 1.3 has no identity hint: asked with None, as OpenSSL asks its TLS 1.2
            # callback for TLS 1.3 (a DTLS 1.2 handshake asks again with the server's hint).
            try:
                identity, key = ask_psk_client_callback(config, None)
            except AlertHandshakeFailure:  # None: no key without a hint
                if not dual:
                    raise
            else:
                offered.append(_OfferedPsk(identity, 0, key, EXTERNAL_PSK_HASH, True))
        elif config.psk is not None and config.psk_identity is not None:
            offered.append(_OfferedPsk(config.psk_identity, 0, config.psk, EXTERNAL_PSK_HASH, True))
        return offered

    def _suites_for_psks(self, hash_names: set[str]) -> list[Suite13]:
        """Our suites with the hash of one of our PSKs (``hash_names``); ``ValueError`` if
        none has: the configuration cannot complete a handshake."""
        suites = [s for s in self._suites if suite13_hash(s).name in hash_names]
        if not suites:
            reason = _psk_only_reason(self.configuration)
            raise ValueError(
                f"no DTLS 1.3 suite of {[s.name for s in self._suites]} has the hash of the "
                "PSK (SHA-256, RFC 8446 §4.2.11), this client's only way to authenticate the "
                f"server ({reason}): add a SHA-256 one to cipher_suites13, such as "
                "TLS_AES_128_GCM_SHA256"
            )
        return suites

    def _send_hello(self, hello: ClientHello) -> None:
        """Add the PSK binders (over the ClientHello up to them, RFC 8446 §4.2.11.2) and
        queue the ClientHello."""
        body = encode_client_hello(hello)
        if self._psks:
            placeholders = [bytes(p.algorithm.digest_size) for p in self._psks]
            truncated = transcript_message(_T.client_hello, body)[
                : -offered_psks_binders_length(placeholders)
            ]
            binders = []
            for psk in self._psks:
                h = hashes.Hash(psk.algorithm)
                h.update(bytes(self._transcript) + truncated)
                schedule = KeySchedule13(psk.algorithm, psk=psk.key)
                binders.append(
                    schedule.binder(external=psk.external, truncated_client_hello_hash=h.finalize())
                )
            offer = OfferedPsks(
                [PskIdentity(p.identity, p.obfuscated_age) for p in self._psks], binders
            )
            hello.extensions[-1] = (int(_E.pre_shared_key), encode_offered_psks(offer))
            body = encode_client_hello(hello)
        self._send(_T.client_hello, body, 0)

    @property
    def offers_dtls12(self) -> bool:
        """True if our ClientHello offers DTLS 1.2 as well (``start(also_offer=...)``)."""
        return self._legacy is not None

    @property
    def sent_hello(self) -> ClientHello | None:
        """The ClientHello we sent (the DTLS 1.2 handshake adopts it on a 1.2 answer)."""
        return self._hello

    @property
    def awaits_server_hello(self) -> bool:
        """True until the first ServerHello or HelloRetryRequest was taken."""
        return self.state == DTLS13.client.started and not self._retried

    # -- flight 2 or 4: HelloRetryRequest or ServerHello ----------------------------------

    def _on_server_hello(self, message: HandshakeMessage, now: float) -> None:
        hello = decode_server_hello(message.body)
        version = find_extension(hello.extensions, _E.supported_versions)
        if version is None:
            if hello.random[-8:] in (DOWNGRADE_TLS12, DOWNGRADE_TLS11):
                raise AlertIllegalParameter("server signals a downgrade from DTLS 1.3")
            raise AlertProtocolVersion(
                f"server chose version {hello.server_version:#06x}; we offered DTLS 1.3 only"
            )
        if decode_supported_versions_server(version) != _DTLS13:
            raise AlertIllegalParameter("server selected a version we did not offer")
        if hello.server_version != DTLS1_2:
            raise AlertIllegalParameter(f"ServerHello legacy_version {hello.server_version:#06x}")
        if hello.session_id != b"":
            raise AlertIllegalParameter("ServerHello does not echo our empty legacy_session_id")
        if hello.compression_method != 0:
            raise AlertIllegalParameter("server chose compression")
        if hello.cipher_suite not in self._offered_suites:
            raise AlertIllegalParameter(
                f"server chose a suite we did not offer: {hello.cipher_suite:#06x}"
            )
        retry = hello.random == HELLO_RETRY_REQUEST_RANDOM
        allowed = _HELLO_RETRY_EXTENSIONS if retry else _SERVER_HELLO_EXTENSIONS
        for ext_type, _ in hello.extensions:
            # A HelloRetryRequest's cookie is the server's to send (RFC 8446 §4.2.2).
            if ext_type not in self._offered and not (retry and ext_type == _E.cookie):
                raise AlertUnsupportedExtension(f"unsolicited extension {ext_type}")
            if ext_type not in allowed:
                raise AlertIllegalParameter(f"extension {ext_type} is not allowed in ServerHello")
        if retry:
            self._on_hello_retry_request(hello, message)
            return
        if self._retry_suite is not None and hello.cipher_suite != self._retry_suite:
            raise AlertIllegalParameter("ServerHello suite differs from the HelloRetryRequest's")
        self.result.suite13 = Suite13(hello.cipher_suite)
        algorithm = self._hash
        psk = self._selected_psk(find_extension(hello.extensions, _E.pre_shared_key), algorithm)
        share = find_extension(hello.extensions, _E.key_share)
        shared: bytes | None = None
        if share is not None:
            entry = decode_key_share_server(share)
            if self._ephemeral is None:  # RFC 8446 §4.2: an extension we did not send
                raise AlertUnsupportedExtension("ServerHello key_share to a PSK-only ClientHello")
            if psk is not None and PskKeyExchangeMode.psk_dhe_ke not in self._psk_modes:
                raise AlertHandshakeFailure("server chose psk_dhe_ke, which we did not offer")
            if entry.group != self._ephemeral.group:
                raise AlertIllegalParameter(f"server key share for group {entry.group}, not ours")
            shared = self._ephemeral.exchange(entry.key_exchange)
            self.result.group = self._ephemeral.group
        elif psk is None:
            raise AlertMissingExtension("ServerHello has neither key_share nor pre_shared_key")
        elif PskKeyExchangeMode.psk_ke not in self._psk_modes:
            raise AlertHandshakeFailure("server chose psk_ke, which we did not offer")
        if psk is None and self._psk_required is not None:
            raise AlertHandshakeFailure(
                "the server did not accept our PSK (unknown identity or key?), the only way "
                f"this client authenticates it ({self._psk_required})"
            )
        self._agree_connection_ids(find_extension(hello.extensions, EXT_CONNECTION_ID))
        self._chosen_psk = psk
        if psk is not None:
            self.result.psk_mode = "psk_dhe_ke" if shared is not None else "psk_ke"
        self._absorb(message)
        self._schedule = KeySchedule13(algorithm, psk=None if psk is None else psk.key)
        self._schedule.derive_handshake(shared, self._transcript_hash())
        self._install_handshake_keys()

    def _selected_psk(
        self, body: bytes | None, algorithm: hashes.HashAlgorithm
    ) -> _OfferedPsk | None:
        if body is None:
            return None
        index = decode_selected_psk(body)
        if index >= len(self._psks):
            raise AlertIllegalParameter(
                f"server selected PSK {index}, we offered {len(self._psks)}"
            )
        psk = self._psks[index]
        if psk.algorithm.name != algorithm.name:
            raise AlertIllegalParameter("server chose a suite whose hash does not fit the PSK")
        if psk.external:
            self.result.psk_identity = psk.identity
        else:
            self._resume(psk)
        return psk

    def _resume(self, psk: _OfferedPsk) -> None:
        assert psk.session is not None
        state = psk.session.state
        self.result.resumed = True
        self.result.peer_certificates = [
            x509.load_der_x509_certificate(der) for der in state.peer_certificates
        ]
        self.result.psk_identity = state.psk_identity
        self._trace("session_resumed", suite=Suite13(state.suite).name)

    def _on_hello_retry_request(self, hello: ServerHello, message: HandshakeMessage) -> None:
        """RFC 8446 §4.1.4: answer with flight 3, the ClientHello with the requested group's
        key share and the cookie."""
        assert self._hello is not None
        if self._retried:
            raise AlertUnexpectedMessage("a second HelloRetryRequest")
        self._retried = True
        self._retry_suite = hello.cipher_suite
        group_body = find_extension(hello.extensions, _E.key_share)
        cookie_body = find_extension(hello.extensions, _E.cookie)
        cookie = None if cookie_body is None else decode_cookie_extension(cookie_body)
        if group_body is not None:
            if self._ephemeral is None:  # RFC 8446 §4.2: an extension we did not send
                raise AlertUnsupportedExtension(
                    "HelloRetryRequest key_share to a PSK-only ClientHello"
                )
            group = decode_key_share_hello_retry(group_body)
            if group not in [int(g) for g in self._groups] or group == self._ephemeral.group:
                raise AlertIllegalParameter(f"HelloRetryRequest asks for group {group}")
            self._ephemeral = EphemeralKey(NamedGroup(group))
        elif cookie is None:
            raise AlertIllegalParameter("HelloRetryRequest that would not change the ClientHello")
        algorithm = suite13_hash(Suite13(hello.cipher_suite))
        # RFC 8446 §4.4.1: ClientHello1 is replaced by the message_hash message.
        self._transcript = bytearray(message_hash(algorithm, bytes(self._transcript)))
        self._absorb(message)
        # A PSK whose hash differs from the suite's cannot be used: offer only the others
        # (RFC 8446 §4.1.2). Each suite a PSK-only ClientHello offers fits one of its PSKs.
        self._psks = [p for p in self._psks if p.algorithm.name == algorithm.name]
        self._hello.extensions = self._extensions(cookie)
        self._trace(
            "hello_retry_request",
            group=None
            if group_body is None or self._ephemeral is None
            else self._ephemeral.group.name,
            cookie=cookie is not None,
        )
        self._send_hello(self._hello)
        self._flush(CLIENT_HELLO_RETRY13)

    def _after_server_hello(self) -> str:
        return "server_hello" if self._schedule is not None else "hello_retry"

    # -- flight 4 (epoch 2) --------------------------------------------------------------

    def _on_encrypted_extensions(self, message: HandshakeMessage, now: float) -> None:
        extensions = decode_encrypted_extensions(message.body).extensions
        for ext_type, _ in extensions:
            if ext_type not in self._offered:
                raise AlertUnsupportedExtension(f"unsolicited extension {ext_type}")
            if ext_type not in _ENCRYPTED_EXTENSIONS:
                raise AlertIllegalParameter(f"extension {ext_type} in EncryptedExtensions")
        self.result.alpn_protocol = self._selected_alpn(find_extension(extensions, EXT_ALPN))
        self._check_srtp(find_extension(extensions, EXT_USE_SRTP))
        self._absorb(message)

    def _selected_alpn(self, body: bytes | None) -> str | None:
        if body is None:
            return None
        names = decode_alpn(body)
        if len(names) != 1:
            raise AlertDecodeError(f"server selected {len(names)} ALPN protocols, not one")
        selected = names[0].decode("ascii", errors="replace")
        if selected not in (self.configuration.alpn_protocols or []):
            raise AlertIllegalParameter(f"server selected ALPN protocol {selected!r}, not offered")
        return selected

    def _check_srtp(self, body: bytes | None) -> None:
        """RFC 5764 §4.1.1 in EncryptedExtensions: one profile we offered and our MKI or
        none; a server ignoring our offer ends the handshake (as in DTLS 1.2)."""
        offered = [int(p) for p in self.configuration.srtp_profiles or []]
        if not offered:
            return
        if body is None:
            raise AlertHandshakeFailure(
                f"the server did not agree to DTLS-SRTP (we offered {describe_profiles(offered)})"
            )
        answer = decode_use_srtp(body)
        if len(answer.profiles) != 1:
            raise AlertDecodeError(f"server's use_srtp selects {len(answer.profiles)} profiles")
        if answer.profiles[0] not in offered:
            raise AlertIllegalParameter(
                f"server selected SRTP profile {describe_profiles(answer.profiles)[1:-1]}, "
                f"which we did not offer ({describe_profiles(offered)})"
            )
        if answer.mki and answer.mki != self.configuration.srtp_mki:
            raise AlertIllegalParameter("server's SRTP MKI differs from the one we offered")
        self.result.srtp_profile = SrtpProfile(answer.profiles[0])
        self.result.srtp_mki = answer.mki

    def _after_encrypted_extensions(self) -> str:
        return "psk" if self._chosen_psk is not None else "certificate"

    def _on_certificate_request(self, message: HandshakeMessage, now: float) -> None:
        request = decode_certificate_request13(message.body)
        check_context_empty(request.context, "CertificateRequest")
        body = find_extension(request.extensions, EXT_SIGNATURE_ALGORITHMS)
        if body is None:
            raise AlertMissingExtension("CertificateRequest without signature_algorithms")
        self._certificate_request = (request.context, decode_uint16_list(body))
        self._absorb(message)

    def _on_certificate(self, message: HandshakeMessage, now: float) -> None:
        certificate = decode_certificate13(message.body)
        check_context_empty(certificate.context, "server Certificate")
        if not certificate.entries:
            raise AlertDecodeError("the server sent an empty Certificate")  # RFC 8446 §4.4.2.4
        chain = check_peer_certificates(
            [e.data for e in certificate.entries], self.configuration, peer_is_server=True
        )
        key = certificate_public_key(chain[0])
        if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise AlertUnsupportedCertificate("the server's certificate key cannot sign")
        self._server_key = key
        self.result.peer_certificates = chain
        self._absorb(message)

    def _on_certificate_verify(self, message: HandshakeMessage, now: float) -> None:
        verify = decode_certificate_verify(message.body)
        key = self._server_key
        assert isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey)
        content = signatures.certificate_verify_content13(self._transcript_hash(), server=True)
        signatures.verify13(key, verify.signature_scheme, self._schemes, verify.signature, content)
        self._absorb(message)

    def _on_finished(self, message: HandshakeMessage, now: float) -> None:
        if not finished_matches(self._finished_data(from_client=False), message.body):
            raise AlertDecryptError("server Finished does not verify")
        self._absorb(message)
        schedule = self._schedule_()
        schedule.derive_application(self._transcript_hash())
        if self._certificate_request is not None:
            self._send_client_certificate(*self._certificate_request)
        self._send(_T.finished, self._finished_data(from_client=True), 2)
        schedule.derive_resumption(self._transcript_hash())
        self._install_application_read_keys()
        self._flush(CLIENT_FINISHED13)
        self._install_application_write_keys()
        self.complete = True

    def _send_client_certificate(self, context: bytes, server_schemes: list[int]) -> None:
        """Our Certificate (empty if we have none that fits) and CertificateVerify."""
        config = self.configuration
        key = config.private_key
        schemes = (
            signatures.schemes_for_key(key, self._schemes, server_schemes)
            if key is not None and config.certificate_chain
            else []
        )
        entries = (
            [CertificateEntry(c.public_bytes(_DER)) for c in config.certificate_chain]
            if schemes
            else []
        )
        self._send(_T.certificate, encode_certificate13(Certificate13(context, entries)), 2)
        if not schemes:
            return
        assert key is not None
        content = signatures.certificate_verify_content13(self._transcript_hash(), server=False)
        signature = signatures.sign(key, schemes[0], content)
        body = encode_certificate_verify(CertificateVerify(schemes[0], signature))
        self._send(_T.certificate_verify, body, 2)

    # -- after the handshake --------------------------------------------------------------

    def _on_new_session_ticket(self, message: HandshakeMessage, now: float) -> None:
        ticket = decode_new_session_ticket13(message.body)
        if ticket.lifetime > _MAX_TICKET_LIFETIME:
            raise AlertIllegalParameter(f"ticket lifetime {ticket.lifetime} s exceeds 7 days")
        if not ticket.ticket:
            raise AlertDecodeError("empty ticket")
        if ticket.lifetime == 0:
            return
        suite = self.result.suite13
        assert suite is not None
        state = SessionState(
            suite=int(suite),
            master_secret=self._schedule_().resumption_psk(ticket.nonce),
            extended_master_secret=False,
            issued_at=now,
            peer_certificates=tuple(c.public_bytes(_DER) for c in self.result.peer_certificates),
            psk_identity=self.result.psk_identity,
            alpn_protocol=self.result.alpn_protocol,
            server_name=self.result.server_name,
        )
        # session_id holds the ticket's age_add: DTLS 1.3 has no session IDs.
        self.result.session = Session(
            struct.pack("!I", ticket.age_add), ticket.ticket, ticket.lifetime, state
        )
        self._trace("new_session_ticket", lifetime=ticket.lifetime)


def selects_dtls13(server_hello_body: bytes) -> bool:
    """True if a ServerHello (or HelloRetryRequest) selects DTLS 1.3: its supported_versions
    names it (RFC 8446 §4.2.1). False for a DTLS 1.2 ServerHello, and for one that cannot be
    read (the DTLS 1.3 handshake then refuses it with the reason)."""
    try:
        hello = decode_server_hello(server_hello_body)
        version = find_extension(hello.extensions, _E.supported_versions)
        return version is not None and decode_supported_versions_server(version) == _DTLS13
    except (BufferReadError, Alert):
        return True  # let the DTLS 1.3 handshake report what is wrong with it
