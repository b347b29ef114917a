"""The DTLS 1.2 server handshake (RFC 5246 §7.3, RFC 6347 §4.2): the work of each step.

Owns what the server computes and checks; the flights it sends and the states it goes
through are written down in ``flights`` (``flights.SERVER``): 2 HelloVerifyRequest (sent by
the cookie door, ``cookie``, before this handshake exists: the handshake starts from the
ClientHello the door admitted, :meth:`ServerHandshake.start`) | 4 ServerHello [Certificate]
[ServerKeyExchange] [CertificateRequest] ServerHelloDone | 6 [NewSessionTicket]
ChangeCipherSpec Finished, or, resuming a session (``resumption``), ServerHello
[NewSessionTicket] ChangeCipherSpec Finished, after which the client's ChangeCipherSpec
Finished ends the handshake. The table names the ``_on_*`` handler of each message a state
accepts (any other is ``unexpected_message``) and, where negotiated facts decide the next
state, the ``_after_*`` choice function.
"""

from __future__ import annotations

import os
import ssl
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ..alerts import (
    Alert,
    AlertDecodeError,
    AlertDecryptError,
    AlertDescription,
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
from ..record.protection import RecordProtection
from ..reliability.reassembly import HandshakeMessage
from ..srtp import describe_profiles
from ..suites import (
    TLS_EMPTY_RENEGOTIATION_INFO_SCSV,
    KeyExchange,
    NamedGroup,
    ProtocolVersion,
    SignatureScheme,
    suite_info,
)
from ..trace import Tracer
from . import signatures
from .certificates import certificate_public_key, check_peer_certificates
from .flights import (
    DTLS12,
    RESUMED_SERVER_HELLO,
    SERVER_FINISHED,
    SERVER_HELLO,
    ServerState,
)
from .keyexchange import EphemeralKey
from .keyschedule import finished_matches, psk_premaster_secret
from .messages import (
    CLIENT_CERTIFICATE_TYPE_ECDSA_SIGN,
    CLIENT_CERTIFICATE_TYPE_RSA_SIGN,
    EC_POINT_FORMAT_UNCOMPRESSED,
    EMPTY_RENEGOTIATION_INFO,
    EXT_ALPN,
    EXT_CONNECTION_ID,
    EXT_EC_POINT_FORMATS,
    EXT_EXTENDED_MASTER_SECRET,
    EXT_RENEGOTIATION_INFO,
    EXT_SERVER_NAME,
    EXT_SESSION_TICKET,
    EXT_SIGNATURE_ALGORITHMS,
    EXT_SUPPORTED_GROUPS,
    EXT_USE_SRTP,
    UNCOMPRESSED_POINTS_ONLY,
    CertificateRequest,
    ClientHello,
    EcdheParameters,
    ExtensionType,
    HandshakeType,
    ServerHello,
    ServerKeyExchangeEcdhe,
    ServerKeyExchangeEcdhePsk,
    ServerKeyExchangePsk,
    UseSrtp,
    decode_alpn,
    decode_certificate_verify,
    decode_client_key_exchange_ecdhe,
    decode_client_key_exchange_ecdhe_psk,
    decode_client_key_exchange_psk,
    decode_renegotiation_info,
    decode_server_name,
    decode_uint8_list,
    decode_uint16_list,
    decode_use_srtp,
    encode_alpn,
    encode_certificate_chain,
    encode_certificate_request,
    encode_connection_id,
    encode_new_session_ticket,
    encode_server_hello,
    encode_server_key_exchange_ecdhe,
    encode_server_key_exchange_ecdhe_psk,
    encode_server_key_exchange_psk,
    encode_use_srtp,
    find_extension,
)
from .messages.tls13 import DOWNGRADE_TLS12
from .rawkeys import (
    X509_BOTH_WAYS,
    CertificateType,
    CertificateTypes,
    check_configuration,
    check_peer_raw_public_key,
    decode_certificate_list,
    encode_certificate_type,
    encode_raw_public_key_certificate,
    select_client_type,
    select_server_type,
    trace_certificate_types,
)
from .resumption import NO_SERVER_RESUMPTION, ServerResumption
from .state import HandshakeSink, HandshakeStateMachine

__all__ = ["ServerHandshake", "ServerState", "ask_sni_callback"]


# Enum members the handshake's methods read, as module-level names: reading a member
# through its Enum class is a metaclass attribute lookup (about 0.1 us), and a
# handshake reads dozens (states set, message types sent, key exchanges compared).
_MSG_CERTIFICATE = HandshakeType.certificate
_MSG_CERTIFICATE_REQUEST = HandshakeType.certificate_request
_MSG_CERTIFICATE_VERIFY = HandshakeType.certificate_verify
_MSG_CLIENT_HELLO = HandshakeType.client_hello
_MSG_CLIENT_KEY_EXCHANGE = HandshakeType.client_key_exchange
_MSG_FINISHED = HandshakeType.finished
_MSG_NEW_SESSION_TICKET = HandshakeType.new_session_ticket
_MSG_SERVER_HELLO = HandshakeType.server_hello
_MSG_SERVER_HELLO_DONE = HandshakeType.server_hello_done
_MSG_SERVER_KEY_EXCHANGE = HandshakeType.server_key_exchange
_KX_ECDHE_ECDSA = KeyExchange.ECDHE_ECDSA
_KX_ECDHE_PSK = KeyExchange.ECDHE_PSK
_KX_PSK = KeyExchange.PSK
_CERT_RAW_PUBLIC_KEY = CertificateType.RawPublicKey
_CERT_X509 = CertificateType.X509
_SERVER = DTLS12.server


class ServerHandshake(HandshakeStateMachine):
    """Drives the server side of one handshake."""

    is_client: Literal[False] = False
    HANDSHAKE = DTLS12

    def __init__(
        self,
        configuration: DtlsConfiguration,
        sink: HandshakeSink,
        tracer: Tracer,
    ) -> None:
        configuration.validate()  # fields may have been assigned after construction
        check_configuration(configuration)
        super().__init__(configuration, sink, tracer)
        self.state = _SERVER.initial
        self._client_hello: ClientHello | None = None
        "The admitted ClientHello, from :meth:`start` until its step of the table ran."
        self._ephemeral: EphemeralKey | None = None
        self._signature_scheme: SignatureScheme | None = None
        self._client_public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey | None = None
        self._requested_schemes: list[SignatureScheme] = []
        self._cv_transcript = b""
        self._pending_write: RecordProtection | None = None
        self._sni_choice: tuple[list[x509.Certificate], PrivateKey] | None = None
        "The chain and key ``sni_callback`` chose; None means the configured ones."
        self._certificate_types = X509_BOTH_WAYS
        self._resumption = NO_SERVER_RESUMPTION
        self._offered: dict[int, bytes] = {}
        "The ClientHello's extensions by type (``_negotiate``'s), for the ServerHello's echoes."

    @property
    def cached_session_id(self) -> bytes:
        """The session ID under which the server's session cache holds (or will hold, once
        the handshake completes) this handshake's session; empty without a cache."""
        resumption = self._resumption
        return resumption.session_id if resumption.store is not None else b""

    def release(self) -> None:
        """Free handshake-only state (see HandshakeStateMachine.release)."""
        super().release()
        self._ephemeral = None
        self._client_public_key = None
        self._cv_transcript = b""
        self._pending_write = None
        self._sni_choice = None
        self._certificate_types = X509_BOTH_WAYS
        self._resumption = NO_SERVER_RESUMPTION
        self._offered = {}

    # -- flight 1/3 ----------------------------------------------------------------------

    def start(self, hello: ClientHello, message: HandshakeMessage, now: float) -> None:
        """Begin with ``hello``, the ClientHello the cookie door admitted (``cookie``; the
        connection runs the door): its cookie, if any, is verified already, and the round trip
        it measured and the record numbers it used are taken care of. ``message`` is the
        same ClientHello as received; it takes the table's ClientHello step like any message."""
        self._client_hello = hello
        self.handle(message, now)

    def _on_client_hello(self, message: HandshakeMessage, now: float) -> None:
        hello, self._client_hello = self._client_hello, None
        assert hello is not None  # only start() hands a ClientHello to the table
        # DTLS versions count down: 0xFEFD (1.2) < 0xFEFF (1.0). Never DTLS 1.0 (RFC 8996).
        if hello.client_version > DTLS1_2:
            raise AlertProtocolVersion(f"client offers only {hello.client_version:#06x}")
        if 0 not in hello.compression_methods:
            raise AlertIllegalParameter("client does not offer null compression")  # SPEC H4
        self.client_random = hello.random
        self._negotiate(hello)
        # Our message_seq continues from the ClientHello's: 1 after a cookie exchange (SPEC C3).
        self._send_seq = message.message_seq
        self._absorb(message)
        self._resumption = ServerResumption.on_client_hello(
            self.configuration, hello, self.result, now
        )
        if self._resumption.state is not None:
            self._send_abbreviated_flight(hello, now)
        else:
            self._send_flight_4(hello)

    def _after_client_hello(self) -> str:
        """Which case of the table's ClientHello row holds (``flights.SERVER``)."""
        if self.result.resumed:
            return "resumed"
        # Only a server that sent a CertificateRequest keeps the schemes it asked for.
        return "certificate_requested" if self._requested_schemes else "no_certificate_requested"

    def _negotiate(self, hello: ClientHello) -> None:
        config = self.configuration
        exts = hello.extensions
        # Types are unique (decoding refused duplicates, SPEC H4): one dict for the lookups.
        offered = self._offered = dict(exts)
        extension = offered.get
        ems = extension(EXT_EXTENDED_MASTER_SECRET)
        if ems is not None and ems != b"":
            raise AlertDecodeError("extended_master_secret must be empty")  # SPEC E2
        if ems is None and config.require_extended_master_secret:
            raise AlertHandshakeFailure("client does not support extended master secret")  # E4
        self.result.extended_master_secret = ems is not None
        renegotiation = extension(EXT_RENEGOTIATION_INFO)
        if renegotiation is not None and decode_renegotiation_info(renegotiation) != b"":
            raise AlertHandshakeFailure("non-empty renegotiation_info on an initial handshake")
        name = extension(EXT_SERVER_NAME)
        self.result.server_name = decode_server_name(name) if name is not None else None
        if config.sni_callback is not None:
            self._sni_choice = self._ask_sni_callback(self.result.server_name)
        self.result.alpn_protocol = self._select_alpn(extension(EXT_ALPN))
        self._select_srtp(extension(EXT_USE_SRTP))
        self._agree_connection_ids(extension(EXT_CONNECTION_ID))

        raw_groups = extension(EXT_SUPPORTED_GROUPS)
        # Without supported_groups, RFC 8422 §4 lets the server assume the client takes any
        # curve; secp256r1 is the one every ECC client implements.
        client_groups = (
            decode_uint16_list(raw_groups) if raw_groups is not None else [NamedGroup.secp256r1]
        )
        raw_schemes = extension(EXT_SIGNATURE_ALGORITHMS)
        client_schemes = decode_uint16_list(raw_schemes) if raw_schemes is not None else []
        point_formats = extension(EXT_EC_POINT_FORMATS)
        if point_formats is not None and EC_POINT_FORMAT_UNCOMPRESSED not in decode_uint8_list(
            point_formats
        ):
            raise AlertIllegalParameter("client does not accept uncompressed points")  # K3
        group = next((g for g in config.groups if int(g) in client_groups), None)
        chain, key = self._credentials()
        server_type = select_server_type(
            config, exts, has_chain=bool(chain), has_key=key is not None
        )

        for suite in config.effective_cipher_suites():
            if int(suite) not in hello.cipher_suites:
                continue
            info = suite_info(suite)
            if info.key_exchange.uses_psk:
                if config.psk is None and config.psk_lookup is None:
                    continue
                if info.key_exchange == _KX_ECDHE_PSK:
                    if group is None:
                        continue
                    self.result.group = group
                self.result.suite = info
                return
            wanted = (
                ec.EllipticCurvePrivateKey
                if info.key_exchange == _KX_ECDHE_ECDSA
                else rsa.RSAPrivateKey
            )
            if group is None or not isinstance(key, wanted):
                continue
            if not isinstance(server_type, CertificateType):
                continue
            schemes = signatures.schemes_for_key(key, config.signature_schemes, client_schemes)
            if not schemes:
                continue
            self.result.suite = info
            self.result.group = group
            self._signature_scheme = schemes[0]
            self._select_certificate_types(exts, server_type)
            return
        if isinstance(server_type, Alert):
            raise server_type
        raise AlertHandshakeFailure("no cipher suite in common")

    def _select_certificate_types(
        self, extensions: list[tuple[int, bytes]], server_type: CertificateType
    ) -> None:
        """RFC 7250 §4.2: answer each certificate type extension the client sent; the client's
        type only when we will request its certificate."""
        answers = []
        if find_extension(extensions, ExtensionType.server_certificate_type) is not None:
            answers.append(
                (ExtensionType.server_certificate_type, encode_certificate_type(server_type))
            )
        client_type = None
        mode = self.configuration.effective_verify_mode()
        if mode != ssl.CERT_NONE:
            client_type = select_client_type(
                self.configuration, extensions, required=mode == ssl.CERT_REQUIRED
            )
        if client_type is not None:
            answers.append(
                (ExtensionType.client_certificate_type, encode_certificate_type(client_type))
            )
        types = CertificateTypes(server_type, client_type or _CERT_X509, tuple(answers))
        if types != X509_BOTH_WAYS:
            self._certificate_types = types
        trace_certificate_types(self._trace, types)

    def _credentials(self) -> tuple[list[x509.Certificate], PrivateKey | None]:
        """The chain and key we present: what ``sni_callback`` chose, else the configured."""
        if self._sni_choice is not None:
            return self._sni_choice
        return self.configuration.certificate_chain, self.configuration.private_key

    def _ask_sni_callback(
        self, name: str | None
    ) -> tuple[list[x509.Certificate], PrivateKey] | None:
        """Ask ``sni_callback`` which chain and key to present for ``name`` (None: ours)."""
        return ask_sni_callback(self.configuration, name)

    def _select_alpn(self, body: bytes | None) -> str | None:
        """RFC 7301 §3.2: the first of our protocols that the client offered (``body``: its
        ALPN extension, None if absent)."""
        ours = self.configuration.alpn_protocols
        if body is None:
            return None
        offered = decode_alpn(body)  # malformed is a decode_error even if we do not use it
        if not ours:
            return None
        for protocol in ours:
            if protocol.encode("ascii") in offered:
                return protocol
        raise AlertNoApplicationProtocol(
            f"client offers ALPN {[p.decode('ascii', 'replace') for p in offered]}, "
            f"none of ours {ours}"
        )

    def _select_srtp(self, body: bytes | None) -> None:
        """RFC 5764 §4.1.1: the first of our profiles that the client offered (``body``: its
        use_srtp extension, None if absent); we echo the client's MKI (we will use it). No
        common profile ends the handshake when both sides configured DTLS-SRTP (the
        application needs it); without srtp_profiles we ignore the offer."""
        if body is None:
            return
        offer = decode_use_srtp(body)  # malformed is a decode_error even if we do not use it
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

    # -- flight 4 ------------------------------------------------------------------------

    def _send_abbreviated_flight(self, hello: ClientHello, now: float) -> None:
        """Resuming: ServerHello [NewSessionTicket] ChangeCipherSpec Finished (RFC 5246 §7.3,
        RFC 5077 §3.1). Keys come from the session's master secret and the new randoms."""
        assert self._resumption.state is not None and self.result.suite is not None
        self.server_random = self._new_server_random()
        self._send_server_hello(hello)
        read, write = self._establish_keys(b"", master_secret=self._resumption.state.master_secret)
        self._send_new_session_ticket(now)
        self._sink._install_read_keys(1, read)
        self._send_change_cipher_spec(write)
        self._send(
            _MSG_FINISHED,
            self._finished(from_client=False),
        )
        self._trace("session_resumed", suite=self.result.suite.name)
        self._flush(RESUMED_SERVER_HELLO)

    def _send_new_session_ticket(self, now: float) -> None:
        if self._resumption.issue_ticket:
            assert self._master_secret is not None
            ticket = self._resumption.new_session_ticket(self.result, self._master_secret, now)
            self._send(
                _MSG_NEW_SESSION_TICKET,
                encode_new_session_ticket(ticket),
            )

    def _new_server_random(self) -> bytes:
        """32 random bytes; a server that also speaks DTLS 1.3 ends them with the downgrade
        marker, so that a 1.3 client detects a forced fall back to 1.2 (RFC 8446 §4.1.3)."""
        random = os.urandom(32)
        if ProtocolVersion.DTLSv1_3 in self.configuration.versions:
            random = random[:24] + DOWNGRADE_TLS12
        return random

    def _send_flight_4(self, hello: ClientHello) -> None:
        self.server_random = self._new_server_random()
        self._send_server_hello(hello)
        self._send_key_exchange_messages()

    def _send_server_hello(self, hello: ClientHello) -> None:
        suite = self.result.suite
        assert suite is not None
        extensions: list[tuple[int, bytes]] = []
        # Only echo what the client offered (SPEC H4).
        if (
            EXT_RENEGOTIATION_INFO in self._offered
            or TLS_EMPTY_RENEGOTIATION_INFO_SCSV in hello.cipher_suites
        ):
            extensions.append((EXT_RENEGOTIATION_INFO, EMPTY_RENEGOTIATION_INFO))
        if self.result.extended_master_secret:
            extensions.append((EXT_EXTENDED_MASTER_SECRET, b""))
        if self.result.alpn_protocol is not None:
            extensions.append(
                (
                    EXT_ALPN,
                    encode_alpn([self.result.alpn_protocol.encode("ascii")]),
                )
            )
        if self.result.srtp_profile is not None:
            answer = UseSrtp([int(self.result.srtp_profile)], self.result.srtp_mki)
            extensions.append((EXT_USE_SRTP, encode_use_srtp(answer)))
        extensions.extend(self._certificate_types.answers)
        cids = self.result.connection_ids
        if cids is not None and cids[1] is not None:
            extensions.append((EXT_CONNECTION_ID, encode_connection_id(cids[0])))
        if suite.key_exchange != _KX_PSK and EXT_EC_POINT_FORMATS in self._offered:
            extensions.append((EXT_EC_POINT_FORMATS, UNCOMPRESSED_POINTS_ONLY))
        if self._resumption.issue_ticket:
            extensions.append((EXT_SESSION_TICKET, b""))  # RFC 5077 §3.2
        self._send(
            _MSG_SERVER_HELLO,
            encode_server_hello(
                ServerHello(
                    DTLS1_2,
                    self.server_random,
                    self._resumption.session_id,
                    int(suite.suite),
                    0,
                    extensions,
                ),
            ),
        )

    def _send_key_exchange_messages(self) -> None:
        config = self.configuration
        suite = self.result.suite
        assert suite is not None
        request_certificate = False
        if suite.key_exchange == _KX_PSK:
            if config.psk_identity_hint is not None:
                self._send(
                    _MSG_SERVER_KEY_EXCHANGE,
                    encode_server_key_exchange_psk(
                        ServerKeyExchangePsk(config.psk_identity_hint),
                    ),
                )
        elif suite.key_exchange == _KX_ECDHE_PSK:
            assert self.result.group is not None
            self._ephemeral = EphemeralKey(self.result.group)
            params = EcdheParameters(int(self.result.group), self._ephemeral.public_bytes())
            self._send(
                _MSG_SERVER_KEY_EXCHANGE,
                encode_server_key_exchange_ecdhe_psk(
                    ServerKeyExchangeEcdhePsk(config.psk_identity_hint or b"", params),
                ),
            )
        else:
            chain, key = self._credentials()
            assert key is not None
            if self._certificate_types.ours == _CERT_RAW_PUBLIC_KEY:
                body = encode_raw_public_key_certificate(key)
            else:
                body = encode_certificate_chain(chain)
            self._send(_MSG_CERTIFICATE, body)
            assert self.result.group is not None and self._signature_scheme is not None
            self._ephemeral = EphemeralKey(self.result.group)
            params = EcdheParameters(int(self.result.group), self._ephemeral.public_bytes())
            signature = signatures.sign(
                key,
                self._signature_scheme,
                self.client_random + self.server_random + params.encode(),
            )
            self._send(
                _MSG_SERVER_KEY_EXCHANGE,
                encode_server_key_exchange_ecdhe(
                    ServerKeyExchangeEcdhe(params, int(self._signature_scheme), signature),
                ),
            )
            # Pins make this CERT_REQUIRED (configuration.effective_verify_mode): a pinning
            # server that did not ask would let any client in (hardening issue, defect 1).
            request_certificate = config.effective_verify_mode() != ssl.CERT_NONE
        if request_certificate:
            self._requested_schemes = list(config.signature_schemes)
            self._send(
                _MSG_CERTIFICATE_REQUEST,
                encode_certificate_request(
                    CertificateRequest(
                        bytes(
                            (CLIENT_CERTIFICATE_TYPE_ECDSA_SIGN, CLIENT_CERTIFICATE_TYPE_RSA_SIGN)
                        ),
                        [int(s) for s in self._requested_schemes],
                    ),
                ),
            )
        self._send(_MSG_SERVER_HELLO_DONE, b"")
        self._flush(SERVER_HELLO)

    # -- flight 5 ------------------------------------------------------------------------

    def _on_certificate(self, message: HandshakeMessage, now: float) -> None:
        config = self.configuration
        raw = self._certificate_types.peer == _CERT_RAW_PUBLIC_KEY
        raw_key = (
            check_peer_raw_public_key(message.body, config, peer_is_server=False) if raw else None
        )
        der_chain = [] if raw else decode_certificate_list(message.body, "client")
        if raw_key is not None:
            self._client_public_key = self.result.peer_public_key = raw_key
        elif not der_chain:
            # RFC 5246 §7.4.6: a server that requires a certificate the client did not send
            # may answer with a fatal handshake_failure. (certificate_required, 116, is TLS 1.3
            # only and unknown to DTLS 1.2 peers.)
            if config.peer_public_keys:
                raise AlertHandshakeFailure(
                    "client sent no key or certificate but peer_public_keys requires one"
                )
            if config.peer_fingerprints:
                raise AlertHandshakeFailure(
                    "client sent no certificate but peer_fingerprints requires one"
                )
            if config.effective_verify_mode() == ssl.CERT_REQUIRED:
                raise AlertHandshakeFailure(
                    "client sent no certificate but verify_mode is CERT_REQUIRED"
                )  # SPEC H2
        else:
            chain = check_peer_certificates(der_chain, config, peer_is_server=False)
            key = certificate_public_key(chain[0])
            if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
                raise AlertUnsupportedCertificate("client certificate key cannot sign")
            self._client_public_key = key
            self.result.peer_certificates = chain
        self._absorb(message)

    def _on_client_key_exchange(self, message: HandshakeMessage, now: float) -> None:
        suite = self.result.suite
        assert suite is not None
        if suite.key_exchange == _KX_PSK:
            cke_psk = decode_client_key_exchange_psk(message.body)
            premaster = psk_premaster_secret(self._psk_for(cke_psk.identity))
        elif suite.key_exchange == _KX_ECDHE_PSK:
            cke_ecdhe_psk = decode_client_key_exchange_ecdhe_psk(message.body)
            psk = self._psk_for(cke_ecdhe_psk.identity)
            assert self._ephemeral is not None
            # RFC 5489 §2: the PSK premaster with other_secret = Z (SPEC K1).
            shared = self._ephemeral.exchange(cke_ecdhe_psk.public_key)
            premaster = psk_premaster_secret(psk, shared)
        else:
            cke = decode_client_key_exchange_ecdhe(message.body)
            assert self._ephemeral is not None
            premaster = self._ephemeral.exchange(cke.public_key)
        self._absorb(message)
        read, write = self._establish_keys(premaster)
        self._pending_write = write
        self._sink._install_read_keys(1, read)
        if self._client_public_key is not None:
            self._cv_transcript = self.transcript

    def _after_client_key_exchange(self) -> str:
        """A client that sent a certificate (or raw key) proves it with CertificateVerify."""
        if self._client_public_key is not None:
            return "client_certificate"
        return "no_client_certificate"

    def _psk_for(self, identity: bytes) -> bytes:
        """The key of the client's PSK identity: ``psk_lookup``'s answer, else ``psk``."""
        config = self.configuration
        if config.psk_lookup is None:
            psk = config.psk
        else:
            try:
                psk = config.psk_lookup(identity)
            except Exception as exc:
                # A failing device database is our problem, not the client's: internal_error.
                raise AlertInternalError(f"psk_lookup raised {exc!r} for {identity!r}") from None
        if psk is None:
            raise AlertUnknownPskIdentity(f"unknown PSK identity {identity!r}")  # SPEC K1
        if not isinstance(psk, bytes) or not psk:
            raise AlertInternalError(f"psk_lookup returned {type(psk).__name__}, not a key")
        self.result.psk_identity = identity
        return psk

    def _on_certificate_verify(self, message: HandshakeMessage, now: float) -> None:
        verify = decode_certificate_verify(message.body)
        assert self._client_public_key is not None
        signatures.verify(
            self._client_public_key,
            verify.signature_scheme,
            self._requested_schemes,
            verify.signature,
            self._cv_transcript,
        )
        self._absorb(message)

    def _on_finished(self, message: HandshakeMessage, now: float) -> None:
        # A Finished body is its verify_data (checked whole: any other length fails).
        if not finished_matches(self._finished(from_client=True), message.body):
            raise AlertDecryptError("client Finished does not verify")  # SPEC H3
        self._absorb(message)
        if self.result.resumed:
            # The client's CCS Finished was the last flight; ours is answered (SPEC T1).
            self.complete = True
            return
        assert self._master_secret is not None
        self._resumption.completed(self.result, self._master_secret, now)
        self._send_new_session_ticket(now)
        # Flight 6 is the final flight: re-sent only when the client repeats flight 5 (T4).
        assert self._pending_write is not None
        self._send_change_cipher_spec(self._pending_write)
        self._send(
            _MSG_FINISHED,
            self._finished(from_client=False),
        )
        self._flush(SERVER_FINISHED)
        self.complete = True


def ask_sni_callback(
    config: DtlsConfiguration, name: str | None
) -> tuple[list[x509.Certificate], PrivateKey] | None:
    """Ask ``config.sni_callback`` which chain and key to present for ``name`` (None: the
    configured ones); its refusal is the alert it names (both DTLS versions use this)."""
    assert config.sni_callback is not None
    try:
        answer = config.sni_callback(name)
    except Exception as exc:
        raise AlertInternalError(f"sni_callback raised {exc!r} for {name!r}") from None
    if answer is None:
        return None
    if isinstance(answer, AlertDescription):
        alert = Alert(f"sni_callback refused server name {name!r}")
        alert.description = answer
        raise alert
    if (
        isinstance(answer, tuple)
        and len(answer) == 2
        and isinstance(answer[0], list)
        and answer[0]
        and all(isinstance(c, x509.Certificate) for c in answer[0])
        and isinstance(answer[1], ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    ):
        problem = config.key_strength_problem(answer[1])
        if problem is not None:
            raise AlertInternalError(f"sni_callback gave {problem} for {name!r}")
        return answer[0], answer[1]
    raise AlertInternalError(
        f"sni_callback returned {type(answer).__name__} for {name!r}: expected "
        "(certificate chain, private key), None or an AlertDescription"
    )
