"""The DTLS 1.3 server handshake (RFC 9147 §5 on RFC 8446 §4): the work of each step.

Owns what the server computes and checks; its flights and states are written down in
``flights`` (``flights.SERVER13``): 2 HelloRetryRequest (when the client's key share is not
for a group we take, or, stateless, from the cookie door: ``hello_retry``) | 4 ServerHello,
then in epoch 2 EncryptedExtensions [CertificateRequest] [Certificate CertificateVerify]
Finished, then after the client's Finished a NewSessionTicket (when a ``session_store`` with
tickets is configured) and KeyUpdates. Certificates, an external PSK (``psk`` or
``psk_lookup``) or a ticket of ours authenticate the handshake.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from ..alerts import (
    Alert,
    AlertDecryptError,
    AlertHandshakeFailure,
    AlertIllegalParameter,
    AlertInternalError,
    AlertNoApplicationProtocol,
    AlertProtocolVersion,
    AlertUnknownPskIdentity,
    AlertUnsupportedCertificate,
)
from ..configuration import DtlsConfiguration, PrivateKey
from ..record.header import DTLS1_2
from ..reliability.reassembly import HandshakeMessage
from ..resumption import SessionState
from ..srtp import describe_profiles
from ..suites import (
    EXTERNAL_PSK_HASH,
    NamedGroup,
    ProtocolVersion,
    SignatureScheme,
    Suite13,
    suite13_hash,
)
from ..trace import Tracer
from . import signatures
from .certificates import certificate_public_key, check_peer_certificates
from .flights import DTLS13, HELLO_RETRY_REQUEST13, SERVER_HELLO13, Server13State
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
    decode_client_hello,
    decode_server_name,
    decode_uint16_list,
    decode_use_srtp,
    encode_alpn,
    encode_certificate_verify,
    encode_connection_id,
    encode_server_hello,
    encode_uint16_list,
    encode_use_srtp,
    find_extension,
)
from .messages.tls13 import (
    HELLO_RETRY_REQUEST_RANDOM,
    Certificate13,
    CertificateEntry,
    CertificateRequest13,
    EncryptedExtensions,
    KeyShareEntry,
    NewSessionTicket13,
    PskKeyExchangeMode,
    decode_certificate13,
    decode_cookie_extension,
    decode_key_share_client,
    decode_offered_psks,
    decode_psk_key_exchange_modes,
    decode_supported_versions_client,
    encode_certificate13,
    encode_certificate_request13,
    encode_cookie_extension,
    encode_encrypted_extensions,
    encode_key_share_hello_retry,
    encode_key_share_server,
    encode_new_session_ticket13,
    encode_selected_psk,
    encode_supported_versions_server,
    message_hash,
    offered_psks_binders_length,
    transcript_message,
)
from .server import ask_sni_callback
from .state13 import (
    AlertCertificateRequired,
    AlertMissingExtension,
    Handshake13,
    Handshake13Sink,
    check_context_empty,
)

__all__ = [
    "HelloRetryState",
    "Server13State",
    "ServerHandshake13",
    "choose_group",
    "choose_suite",
    "client_offers_dtls13",
    "echoed_session_id",
    "hello_retry_request",
    "read_cookie",
]

_T = HandshakeType
_E = ExtensionType
_DTLS13 = int(ProtocolVersion.DTLSv1_3)
_DER = Encoding.DER
_MAX_TICKET_LIFETIME = 604800
_PSK_MODE_VALUES = frozenset(int(m) for m in PskKeyExchangeMode)


def client_offers_dtls13(hello: ClientHello) -> bool:
    """True if ``hello`` lists DTLS 1.3 in supported_versions (malformed: False, the DTLS 1.2
    server then decides): which handshake a dual-version server runs."""
    body = find_extension(hello.extensions, _E.supported_versions)
    if body is None:
        return False
    try:
        return _DTLS13 in decode_supported_versions_client(body)
    except ValueError:
        return False


def _client_shares(extensions: list[tuple[int, bytes]]) -> dict[int, bytes]:
    """The ClientHello's key shares by group, checked against its supported_groups."""
    body = find_extension(extensions, _E.key_share)
    if body is None:
        return {}
    shares = decode_key_share_client(body)
    groups_body = find_extension(extensions, EXT_SUPPORTED_GROUPS)
    if groups_body is None:
        raise AlertMissingExtension("key_share without supported_groups")
    supported = decode_uint16_list(groups_body)
    by_group = {e.group: e.key_exchange for e in shares}
    if len(by_group) != len(shares):
        raise AlertIllegalParameter("two key shares for one group")
    for group in by_group:
        if group not in supported:
            raise AlertIllegalParameter(f"key share for a group not in supported_groups: {group}")
    return by_group


def choose_group(
    groups: Sequence[NamedGroup], extensions: list[tuple[int, bytes]]
) -> tuple[NamedGroup | None, bytes | None]:
    """Of ``groups`` (ours, preferred first), the first the client sent a key share for, with
    that share; else the first it supports, without a share (a HelloRetryRequest asks for
    it); else (None, None). Raises an alert for inconsistent key_share/supported_groups."""
    shares = _client_shares(extensions)
    for group in groups:
        if int(group) in shares:
            return group, shares[int(group)]
    body = find_extension(extensions, EXT_SUPPORTED_GROUPS)
    supported = [] if body is None else decode_uint16_list(body)
    for group in groups:
        if int(group) in supported:
            return group, None
    return None, None


def choose_suite(suites: Sequence[Suite13], hello: ClientHello) -> Suite13 | None:
    """Our most preferred suite that the client offers, or None."""
    offered = set(hello.cipher_suites)
    return next((s for s in suites if int(s) in offered), None)


@dataclass(frozen=True)
class HelloRetryState:
    """What a HelloRetryRequest fixed, for the ClientHello that answers it: the suite, the
    group (None: only a cookie was asked for), the hash of ClientHello1 and the cookie.
    A stateless server gets it back from the cookie (``hello_retry``)."""

    suite: Suite13
    group: NamedGroup | None
    client_hello1_hash: bytes
    cookie: bytes = b""


def echoed_session_id(configuration: DtlsConfiguration, session_id: bytes) -> bytes:
    """What a ServerHello or HelloRetryRequest echoes of the ClientHello's legacy_session_id:
    nothing (RFC 9147 §5), unless ``dtls13_echo_session_id`` is on for old wolfSSL clients."""
    return session_id if configuration.dtls13_echo_session_id else b""


def hello_retry_request(state: HelloRetryState, session_id: bytes = b"") -> bytes:
    """The HelloRetryRequest body for ``state`` (deterministic: a stateless server rebuilds
    the very bytes the client hashed). ``session_id`` is echoed only for old wolfSSL clients
    (``DtlsConfiguration.dtls13_echo_session_id``)."""
    extensions: list[tuple[int, bytes]] = [
        (int(_E.supported_versions), encode_supported_versions_server(_DTLS13))
    ]
    if state.group is not None:
        extensions.append((int(_E.key_share), encode_key_share_hello_retry(int(state.group))))
    if state.cookie:
        extensions.append((int(_E.cookie), encode_cookie_extension(state.cookie)))
    return encode_server_hello(
        ServerHello(
            DTLS1_2, HELLO_RETRY_REQUEST_RANDOM, session_id, int(state.suite), 0, extensions
        )
    )


@dataclass
class _AcceptedPsk:
    index: int
    key: bytes
    suite: Suite13
    mode: PskKeyExchangeMode
    identity: bytes
    state: SessionState | None


class ServerHandshake13(Handshake13):
    """Drives the server side of one DTLS 1.3 handshake."""

    is_client = False
    HANDSHAKE = DTLS13
    RETRY_WITH_COOKIE: ClassVar[bool] = False
    "A stateful HelloRetryRequest carries no cookie (the stateless door adds its own)."

    def __init__(
        self, configuration: DtlsConfiguration, sink: Handshake13Sink, tracer: Tracer
    ) -> None:
        configuration.validate()
        super().__init__(configuration, sink, tracer)
        self.state = DTLS13.server.initial
        self._client_hello: ClientHello | None = None
        self._retry: HelloRetryState | None = None
        self._psk: _AcceptedPsk | None = None
        self._certificate_requested = False
        self._client_key: object = None
        self._schemes = signatures.schemes13(list(configuration.signature_schemes))
        self._chain: list[x509.Certificate] = configuration.certificate_chain
        "The chain we present: ``sni_callback``'s choice, else the configured one."
        self._key: PrivateKey | None = configuration.private_key
        self._resumed_chain: list[x509.Certificate] = []

    # -- flight 1/3 ----------------------------------------------------------------------

    def start(
        self,
        hello: ClientHello,
        message: HandshakeMessage,
        now: float,
        *,
        cookie_state: HelloRetryState | None = None,
    ) -> None:
        """Begin with the ClientHello the cookie door admitted. ``cookie_state`` is what the
        door's HelloRetryRequest cookie carried (a stateless retry happened): the transcript
        starts with message_hash(ClientHello1) and that HelloRetryRequest, and ``hello`` is
        the second ClientHello (message_seq 1; our ServerHello is message_seq 1 too).

        Any other message_seq is refused (RFC 9147 §5.2: the first ClientHello is 0, the one
        after a HelloRetryRequest 1): the door does not bind it, and a server that numbered
        from it would ignore the client's every later message while the client, answered,
        completes (a one-bit corruption did that, found by fuzzing)."""
        expected = 0 if cookie_state is None else 1
        if message.message_seq != expected:
            raise AlertIllegalParameter(
                f"ClientHello with message_seq {message.message_seq}, not {expected}"
            )
        self._client_hello = hello
        if cookie_state is not None:
            self._retry = cookie_state
            self._begin_retry_transcript(cookie_state, hello.session_id)
            self._send_seq = 1
            self.state = Server13State.SERVER13_WAIT_SECOND_CLIENT_HELLO
        self.handle(message, now)

    def _begin_retry_transcript(self, state: HelloRetryState, session_id: bytes) -> None:
        digest = state.client_hello1_hash
        retry = hello_retry_request(state, echoed_session_id(self.configuration, session_id))
        self._transcript = bytearray(
            transcript_message(_T.message_hash, digest) + transcript_message(_T.server_hello, retry)
        )

    def _on_client_hello(self, message: HandshakeMessage, now: float) -> None:
        hello = self._client_hello or decode_client_hello(message.body)
        self._client_hello = None
        second = self.state == Server13State.SERVER13_WAIT_SECOND_CLIENT_HELLO
        extensions = hello.extensions
        self._check_hello(hello)
        self.client_random = hello.random
        sni = find_extension(extensions, EXT_SERVER_NAME)
        self.result.server_name = None if sni is None else decode_server_name(sni)
        if self.configuration.sni_callback is not None:
            chosen = ask_sni_callback(self.configuration, self.result.server_name)
            if chosen is not None:
                self._chain, self._key = chosen
        offered = set(hello.cipher_suites)
        suites = [s for s in self.configuration.effective_suites13() if int(s) in offered]
        if self._retry is not None:
            if int(self._retry.suite) not in offered:
                raise AlertIllegalParameter("second ClientHello drops the suite we chose")
            suites = [self._retry.suite]
        if not suites:
            raise AlertHandshakeFailure("no DTLS 1.3 cipher suite in common")
        group, share = self._select_group(extensions, second)
        psk = self._select_psk(hello, message, suites, dhe=group is not None, now=now)
        has_certificate = bool(self._chain) and self._key is not None
        if psk is None and not has_certificate:
            raise AlertHandshakeFailure("no PSK accepted and no certificate to authenticate with")
        suite = psk.suite if psk is not None else suites[0]
        dhe = psk is None or psk.mode == PskKeyExchangeMode.psk_dhe_ke
        if dhe and group is None:
            raise AlertHandshakeFailure("no key exchange group in common")
        if dhe and share is None:
            assert group is not None
            if second:
                raise AlertIllegalParameter("second ClientHello has no share for our group")
            self._send_hello_retry(hello, message, suite, group)
            return
        self.result.suite13 = suite
        self._psk = psk
        # Refusals of the ClientHello's ALPN, use_srtp or signature_algorithms come before the
        # ServerHello: raised later, their alert would be sealed under handshake keys the client
        # never derives.
        self.result.alpn_protocol = self._select_alpn(find_extension(extensions, EXT_ALPN))
        self._select_srtp(find_extension(extensions, EXT_USE_SRTP))
        scheme = None if psk is not None else self._select_signature_scheme(extensions)
        self._absorb(message)
        shared: bytes | None = None
        sh_extensions: list[tuple[int, bytes]] = [
            (int(_E.supported_versions), encode_supported_versions_server(_DTLS13))
        ]
        if dhe:
            assert group is not None and share is not None
            ephemeral = EphemeralKey(group)
            shared = ephemeral.exchange(share)
            self.result.group = group
            entry = KeyShareEntry(int(group), ephemeral.public_bytes())
            sh_extensions.append((int(_E.key_share), encode_key_share_server(entry)))
        if psk is not None:
            sh_extensions.append((int(_E.pre_shared_key), encode_selected_psk(psk.index)))
            self.result.psk_mode = psk.mode.name
        peer_cid = find_extension(extensions, EXT_CONNECTION_ID)
        ours = self._connection_id_to_offer() if peer_cid is not None else None
        if ours is not None:
            sh_extensions.append((int(EXT_CONNECTION_ID), encode_connection_id(ours)))
            self._agree_connection_ids(peer_cid)
        server_hello = ServerHello(
            # RFC 9147 §5: a DTLS server does not echo legacy_session_id (no compatibility
            # mode), unless configured for old wolfSSL clients.
            DTLS1_2,
            os.urandom(32),
            echoed_session_id(self.configuration, hello.session_id),
            int(suite),
            0,
            sh_extensions,
        )
        self._send(_T.server_hello, encode_server_hello(server_hello), 0)
        self._schedule = KeySchedule13(self._hash, psk=None if psk is None else psk.key)
        self._schedule.derive_handshake(shared, self._transcript_hash())
        self._install_handshake_keys()
        self._send_encrypted_flight(scheme)

    def _check_hello(self, hello: ClientHello) -> None:
        if not client_offers_dtls13(hello):
            raise AlertProtocolVersion("the client does not offer DTLS 1.3")
        if hello.cookie:
            raise AlertIllegalParameter("DTLS 1.3 ClientHello with a legacy_cookie")  # 9147 §5.3
        if hello.compression_methods != b"\x00":
            raise AlertIllegalParameter("ClientHello compression methods are not just null")
        types = [t for t, _ in hello.extensions]
        if _E.pre_shared_key in types and types[-1] != _E.pre_shared_key:
            raise AlertIllegalParameter("pre_shared_key is not the last extension")

    def _select_group(
        self, extensions: list[tuple[int, bytes]], second: bool
    ) -> tuple[NamedGroup | None, bytes | None]:
        """Our most preferred group the client supports, and its key share if it sent one
        (else a HelloRetryRequest asks for it). A second ClientHello must carry exactly the
        share we asked for (RFC 8446 §4.1.2)."""
        if self._retry is not None and self._retry.group is not None:
            shares = _client_shares(extensions)
            if list(shares) != [int(self._retry.group)]:
                raise AlertIllegalParameter("second ClientHello's key share is not the one asked")
            return self._retry.group, shares[int(self._retry.group)]
        return choose_group(self.configuration.groups, extensions)

    # -- PSK (RFC 8446 §4.2.11) ------------------------------------------------------------

    def _select_psk(
        self,
        hello: ClientHello,
        message: HandshakeMessage,
        suites: list[Suite13],
        *,
        dhe: bool,
        now: float,
    ) -> _AcceptedPsk | None:
        body = find_extension(hello.extensions, _E.pre_shared_key)
        if body is None:
            return None
        modes_body = find_extension(hello.extensions, _E.psk_key_exchange_modes)
        if modes_body is None:
            raise AlertMissingExtension("pre_shared_key without psk_key_exchange_modes")
        mode = self._select_psk_mode(decode_psk_key_exchange_modes(modes_body), dhe=dhe)
        if mode is None:
            return None
        offered = decode_offered_psks(body)
        unknown: list[bytes] = []
        for index, identity in enumerate(offered.identities):
            found = self._psk_for(identity.identity, now)
            if found is None:
                unknown.append(identity.identity)
                continue
            key, algorithm, state = found
            fitting = [s for s in suites if suite13_hash(s).name == algorithm.name]
            if not fitting:
                continue
            truncated = transcript_message(_T.client_hello, message.body)[
                : -offered_psks_binders_length(offered.binders)
            ]
            h = hashes.Hash(algorithm)
            h.update(bytes(self._transcript) + truncated)
            expected = KeySchedule13(algorithm, psk=key).binder(
                external=state is None, truncated_client_hello_hash=h.finalize()
            )
            if not finished_matches(expected, offered.binders[index]):
                raise AlertDecryptError("PSK binder does not verify")
            if state is None:
                self.result.psk_identity = identity.identity
            else:
                self._resume(state)
            self._trace("psk_selected", external=state is None, mode=mode.name)
            return _AcceptedPsk(index, key, fitting[0], mode, identity.identity, state)
        has_certificate = bool(self._chain)
        if (
            unknown
            and not has_certificate
            and (self.configuration.psk is not None or self.configuration.psk_lookup is not None)
        ):
            raise AlertUnknownPskIdentity(f"unknown PSK identity {unknown[0]!r}")
        return None

    def _select_psk_mode(self, offered: list[int], *, dhe: bool) -> PskKeyExchangeMode | None:
        """The first of our ``psk_key_exchange_modes`` the client offered (RFC 8446 §4.2.9:
        never one it did not), psk_dhe_ke only with a group in common (``dhe``). None: the PSK
        is declined, and a server with no certificate to fall back on ends the handshake."""
        allowed = [PskKeyExchangeMode[m] for m in self.configuration.psk_key_exchange_modes]
        for mode in allowed:
            if mode in offered and (dhe or mode != PskKeyExchangeMode.psk_dhe_ke):
                return mode
        if not any(mode in offered for mode in allowed) and not self._chain:
            names = [PskKeyExchangeMode(m).name for m in offered if m in _PSK_MODE_VALUES]
            raise AlertHandshakeFailure(
                f"no PSK key exchange mode in common: the client offers {names or offered}, "
                f"we allow {[m.name for m in allowed]}"
            )
        return None

    def _psk_for(
        self, identity: bytes, now: float
    ) -> tuple[bytes, hashes.HashAlgorithm, SessionState | None] | None:
        """(key, hash, session state for a ticket of ours) of an offered identity, or None."""
        config = self.configuration
        store = config.session_store
        if store is not None and config.session_tickets:
            opened = store.open_ticket(identity, now)
            if opened is not None:
                state = opened[0]
                if (
                    state.suite in Suite13._value2member_map_
                    and state.server_name == self._client_server_name()
                    and self._still_trusted(state)
                ):
                    return state.master_secret, suite13_hash(Suite13(state.suite)), state
                return None
        key = self._psk_for_identity(identity)
        return None if key is None else (key, EXTERNAL_PSK_HASH, None)

    def _psk_for_identity(self, identity: bytes) -> bytes | None:
        """The external PSK of ``identity``: ``psk_lookup``'s answer, else ``psk`` (for any
        identity, or only ``psk_identity`` when that is set)."""
        config = self.configuration
        if config.psk_lookup is not None:
            try:
                key = config.psk_lookup(identity)
            except Exception as exc:
                raise AlertInternalError(f"psk_lookup raised {exc!r} for {identity!r}") from None
        elif config.psk is not None and config.psk_identity in (None, identity):
            key = config.psk
        else:
            key = None
        if key is not None and (not isinstance(key, bytes) or not key):
            raise AlertInternalError(f"psk_lookup returned {type(key).__name__}, not a key")
        return key

    def _client_server_name(self) -> str | None:
        return self.result.server_name

    def _still_trusted(self, state: SessionState) -> bool:
        """Whether the identity a ticket proved still passes: the chain is checked again
        (trust, pins and validity may have changed, as for DTLS 1.2 resumption), a client
        without a certificate resumes only while none is required, and an external PSK
        identity must still be known."""
        config = self.configuration
        mode = config.effective_verify_mode()
        self._resumed_chain = []
        if state.psk_identity is not None:
            try:
                return self._psk_for_identity(state.psk_identity) is not None
            except AlertInternalError:
                return False
        if not state.peer_certificates:
            return mode != ssl.CERT_REQUIRED
        if mode == ssl.CERT_NONE:
            self._resumed_chain = [
                x509.load_der_x509_certificate(der) for der in state.peer_certificates
            ]
            return True
        try:
            self._resumed_chain = check_peer_certificates(
                list(state.peer_certificates), config, peer_is_server=False
            )
        except Alert:
            return False
        return True

    def _resume(self, state: SessionState) -> None:
        self.result.resumed = True
        self.result.peer_certificates = self._resumed_chain
        self.result.psk_identity = state.psk_identity
        self._trace("session_resumed", suite=Suite13(state.suite).name)

    # -- flight 2: HelloRetryRequest ---------------------------------------------------------

    def _send_hello_retry(
        self, hello: ClientHello, message: HandshakeMessage, suite: Suite13, group: NamedGroup
    ) -> None:
        algorithm = suite13_hash(suite)
        ch1 = transcript_message(_T.client_hello, message.body)
        digest = hashes.Hash(algorithm)
        digest.update(ch1)
        self._retry = HelloRetryState(suite, group, digest.finalize())
        self._transcript = bytearray(message_hash(algorithm, ch1))
        body = hello_retry_request(
            self._retry, echoed_session_id(self.configuration, hello.session_id)
        )
        self._send(_T.server_hello, body, 0)
        self._flush(HELLO_RETRY_REQUEST13)
        self._trace("hello_retry_request", group=group.name, cookie=False)

    def _after_client_hello(self) -> str:
        if self._schedule is None:
            return "hello_retry"
        if self._psk is not None:
            return "psk"
        return (
            "certificate_requested" if self._certificate_requested else "no_certificate_requested"
        )

    # -- flight 4 (epoch 2) --------------------------------------------------------------

    def _select_signature_scheme(
        self, client_extensions: list[tuple[int, bytes]]
    ) -> SignatureScheme:
        """The scheme our CertificateVerify uses: the first of ours the client accepts that
        fits our key."""
        schemes_body = find_extension(client_extensions, EXT_SIGNATURE_ALGORITHMS)
        if schemes_body is None:
            raise AlertMissingExtension("ClientHello without signature_algorithms")
        assert self._key is not None  # no PSK: has_certificate held
        usable = signatures.schemes_for_key(
            self._key, self._schemes, decode_uint16_list(schemes_body)
        )
        if not usable:
            raise AlertHandshakeFailure("no signature scheme in common for our key")
        return usable[0]

    def _send_encrypted_flight(self, scheme: SignatureScheme | None) -> None:
        """EncryptedExtensions, [CertificateRequest, Certificate, CertificateVerify with
        ``scheme``, when no PSK keyed the handshake], Finished."""
        config = self.configuration
        ee: list[tuple[int, bytes]] = []
        if self.result.alpn_protocol is not None:
            ee.append((int(EXT_ALPN), encode_alpn([self.result.alpn_protocol.encode("ascii")])))
        if self.result.srtp_profile is not None:
            answer = UseSrtp([int(self.result.srtp_profile)], self.result.srtp_mki)
            ee.append((int(EXT_USE_SRTP), encode_use_srtp(answer)))
        self._send(_T.encrypted_extensions, encode_encrypted_extensions(EncryptedExtensions(ee)), 2)
        if scheme is not None:
            key = self._key
            assert key is not None
            if config.effective_verify_mode() != ssl.CERT_NONE:
                self._certificate_requested = True
                request = CertificateRequest13(
                    b"",
                    [
                        (
                            int(EXT_SIGNATURE_ALGORITHMS),
                            encode_uint16_list([int(s) for s in self._schemes]),
                        )
                    ],
                )
                self._send(_T.certificate_request, encode_certificate_request13(request), 2)
            entries = [CertificateEntry(c.public_bytes(_DER)) for c in self._chain]
            self._send(_T.certificate, encode_certificate13(Certificate13(b"", entries)), 2)
            self._send_certificate_verify(key, scheme)
        self._send(_T.finished, self._finished_data(from_client=False), 2)
        self._schedule_().derive_application(self._transcript_hash())
        self._flush(SERVER_HELLO13)

    def _send_certificate_verify(
        self, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, scheme: SignatureScheme
    ) -> None:
        content = signatures.certificate_verify_content13(self._transcript_hash(), server=True)
        signature = signatures.sign(key, scheme, content)
        body = encode_certificate_verify(CertificateVerify(scheme, signature))
        self._send(_T.certificate_verify, body, 2)

    def _select_srtp(self, body: bytes | None) -> None:
        """RFC 5764 §4.1.1: the first of our profiles the client offered, echoing its MKI;
        none in common ends the handshake when we configured DTLS-SRTP (as in DTLS 1.2)."""
        if body is None:
            return
        offer = decode_use_srtp(body)
        ours = self.configuration.srtp_profiles
        if not ours:
            return
        for profile in ours:
            if int(profile) in offer.profiles:
                self.result.srtp_profile = profile
                self.result.srtp_mki = offer.mki
                return
        raise AlertHandshakeFailure(
            f"no SRTP profile in common: client offers {describe_profiles(offer.profiles)}, "
            f"we accept {describe_profiles([int(p) for p in ours])}"
        )

    def _select_alpn(self, body: bytes | None) -> str | None:
        """RFC 7301 §3.2: the first of our protocols that the client offered."""
        if body is None:
            return None
        offered = decode_alpn(body)
        ours = self.configuration.alpn_protocols
        if not ours:
            return None
        for protocol in ours:
            if protocol.encode("ascii") in offered:
                return protocol
        raise AlertNoApplicationProtocol(
            f"client offers ALPN {[p.decode('ascii', 'replace') for p in offered]}, "
            f"none of ours {ours}"
        )

    # -- flight 5 --------------------------------------------------------------------------

    def _on_certificate(self, message: HandshakeMessage, now: float) -> None:
        certificate = decode_certificate13(message.body)
        check_context_empty(certificate.context, "client Certificate")
        if not certificate.entries:
            if self.configuration.effective_verify_mode() == ssl.CERT_REQUIRED:
                raise AlertCertificateRequired("the client sent no certificate")
            self._absorb(message)
            return
        chain = check_peer_certificates(
            [e.data for e in certificate.entries], self.configuration, peer_is_server=False
        )
        key = certificate_public_key(chain[0])
        if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise AlertUnsupportedCertificate("the client's certificate key cannot sign")
        self._client_key = key
        self.result.peer_certificates = chain
        self._absorb(message)

    def _after_certificate(self) -> str:
        return "client_certificate" if self._client_key is not None else "no_client_certificate"

    def _on_certificate_verify(self, message: HandshakeMessage, now: float) -> None:
        verify = decode_certificate_verify(message.body)
        key = self._client_key
        assert isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey)
        content = signatures.certificate_verify_content13(self._transcript_hash(), server=False)
        signatures.verify13(key, verify.signature_scheme, self._schemes, verify.signature, content)
        self._absorb(message)

    def _on_finished(self, message: HandshakeMessage, now: float) -> None:
        if not finished_matches(self._finished_data(from_client=True), message.body):
            raise AlertDecryptError("client Finished does not verify")
        self._absorb(message)
        self._schedule_().derive_resumption(self._transcript_hash())
        self._install_application_read_keys()
        self._install_application_write_keys()
        self.complete = True
        self._send_ticket(now)

    def release(self) -> None:
        """The handshake is over: also forget the HelloRetryRequest state, the accepted PSK,
        the client's public key and the ClientHello (nothing after the handshake uses them)."""
        super().release()
        self._retry = None
        self._psk = None
        self._client_key = None
        self._client_hello = None
        self._resumed_chain = self.result.peer_certificates  # not a list of its own

    def _send_ticket(self, now: float) -> None:
        """A NewSessionTicket after the handshake (RFC 8446 §4.6.1), when tickets are on."""
        config = self.configuration
        store = config.session_store
        if store is None or not store.tickets or not config.session_tickets:
            return
        suite = self.result.suite13
        assert suite is not None
        nonce = b"\x00"
        state = SessionState(
            suite=int(suite),
            master_secret=self._schedule_().resumption_psk(nonce),
            extended_master_secret=False,
            issued_at=now,
            peer_certificates=tuple(c.public_bytes(_DER) for c in self.result.peer_certificates),
            psk_identity=self.result.psk_identity,
            alpn_protocol=self.result.alpn_protocol,
            server_name=self.result.server_name,
        )
        ticket = NewSessionTicket13(
            lifetime=min(int(store.session_lifetime), _MAX_TICKET_LIFETIME),
            age_add=int.from_bytes(os.urandom(4), "big"),
            nonce=nonce,
            ticket=store.seal_ticket(state, now),
        )
        entry = self._entry(_T.new_session_ticket, encode_new_session_ticket13(ticket), 3)
        self._sink._send_post_handshake([entry])
        self._trace("new_session_ticket", lifetime=ticket.lifetime)


def read_cookie(hello: ClientHello) -> bytes:
    """The cookie extension of a ClientHello (empty if none)."""
    body = find_extension(hello.extensions, _E.cookie)
    return b"" if body is None else decode_cookie_extension(body)
