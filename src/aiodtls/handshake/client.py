"""The DTLS 1.2 client handshake (RFC 5246 §7.3, RFC 6347 §4.2): the work of each step.

Owns what the client computes and checks; the flights it sends and the states it goes
through are written down in ``flights`` (``flights.CLIENT``): 1 ClientHello | 3 ClientHello
with cookie | 5 [Certificate] ClientKeyExchange [CertificateVerify] ChangeCipherSpec Finished,
or, resuming (``resumption``), the final ChangeCipherSpec Finished after the server's
ServerHello [NewSessionTicket] ChangeCipherSpec Finished. The table names the ``_on_*``
handler of each message a state accepts (any other is ``unexpected_message``, SPEC H1) and,
where negotiated facts decide the next state, the ``_after_*`` choice function.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Literal

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ..alerts import (
    AlertDecodeError,
    AlertDecryptError,
    AlertHandshakeFailure,
    AlertIllegalParameter,
    AlertInternalError,
    AlertProtocolVersion,
    AlertUnsupportedCertificate,
    AlertUnsupportedExtension,
)
from ..buffer import BufferReadError
from ..configuration import DtlsConfiguration
from ..drops import Drop, DropReason
from ..record.header import DTLS1_0, DTLS1_2
from ..record.protection import RecordProtection
from ..reliability.fragments import HandshakeHeader
from ..reliability.reassembly import HandshakeMessage
from ..srtp import SrtpProfile, describe_profiles
from ..suites import (
    CipherSuite,
    KeyExchange,
    NamedGroup,
    SignatureScheme,
    suite_info,
)
from ..trace import Tracer
from . import signatures
from .certificates import certificate_public_key, check_peer_certificates
from .flights import (
    CLIENT_FINISHED,
    CLIENT_HELLO,
    CLIENT_HELLO_WITH_COOKIE,
    DTLS12,
    RESUMED_CLIENT_FINISHED,
    ClientState,
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
    CertificateVerify,
    ClientHello,
    ClientKeyExchangeEcdhe,
    ClientKeyExchangeEcdhePsk,
    ClientKeyExchangePsk,
    ExtensionType,
    HandshakeType,
    ServerHello,
    UseSrtp,
    decode_alpn,
    decode_certificate_request,
    decode_hello_verify_request,
    decode_new_session_ticket,
    decode_renegotiation_info,
    decode_server_hello,
    decode_server_key_exchange_ecdhe,
    decode_server_key_exchange_ecdhe_psk,
    decode_server_key_exchange_psk,
    decode_uint8_list,
    decode_use_srtp,
    encode_alpn,
    encode_certificate_chain,
    encode_certificate_verify,
    encode_client_hello,
    encode_client_hello_with_cookie,
    encode_client_key_exchange_ecdhe,
    encode_client_key_exchange_ecdhe_psk,
    encode_client_key_exchange_psk,
    encode_connection_id,
    encode_server_name,
    encode_uint16_list,
    encode_use_srtp,
    find_extension,
)
from .messages.tls13 import DOWNGRADE_TLS11, DOWNGRADE_TLS12
from .rawkeys import (
    X509_BOTH_WAYS,
    CertificateType,
    CertificateTypes,
    check_configuration,
    check_peer_raw_public_key,
    check_selected_type,
    client_hello_extensions,
    decode_certificate_list,
    decode_certificate_types,
    encode_raw_public_key_certificate,
    trace_certificate_types,
)
from .resumption import NO_CLIENT_RESUMPTION, ClientResumption
from .state import HandshakeSink, HandshakeStateMachine

__all__ = ["ClientHandshake", "ClientState", "ask_psk_client_callback", "is_ip_address"]


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
_CLIENT = DTLS12.client
_EXPECT_SERVER_HELLO = ClientState.CLIENT_EXPECT_SERVER_HELLO
# The members by wire value: calling an Enum class (``CipherSuite(value)``) runs two Python
# frames of the enum module; a dict lookup runs none.
_SUITES_BY_VALUE = {int(suite): suite for suite in CipherSuite}
_GROUPS_BY_VALUE = {int(group): group for group in NamedGroup}


class ClientHandshake(HandshakeStateMachine):
    """Drives the client side of one handshake."""

    is_client: Literal[True] = True
    HANDSHAKE = DTLS12
    _hello_body = b""
    "Our ClientHello (``_hello``) as sent: the one with the cookie is made from it."

    def __init__(self, configuration: DtlsConfiguration, sink: HandshakeSink, tracer: Tracer):
        configuration.validate()  # fields may have been assigned after construction
        if (
            configuration.psk is not None
            and configuration.psk_identity is None
            and configuration.psk_client_callback is None
        ):
            raise ValueError(
                "a client with a psk needs a psk_identity (the name the server looks its key "
                "up by; openssl s_client sends 'Client_identity'), or a psk_client_callback"
            )
        check_configuration(configuration)
        super().__init__(configuration, sink, tracer)
        self.state = _CLIENT.initial
        self._suites = configuration.effective_cipher_suites()
        if not self._suites:
            raise ValueError("no cipher suites to offer: configure a PSK or use the defaults")
        self._hello: ClientHello | None = None
        self._ephemeral: EphemeralKey | None = None
        self._server_public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey | None = None
        self._server_ecdh_public: bytes | None = None
        self._certificate_request: CertificateRequest | None = None
        self._offered_extensions: set[int] = set()
        self._psk_hint: bytes | None = None
        self._certificate_types = X509_BOTH_WAYS
        self.cookie_exchanges = 0
        self._offered_dtls13 = False
        self._resumption = ClientResumption.offer(configuration, self._suites)
        self._server_hello: ServerHello | None = None
        self._pending_write: RecordProtection | None = None

    # -- flight 1 ------------------------------------------------------------------------

    def start(self) -> None:
        """Queue the first ClientHello."""
        self._hello = self.client_hello()
        self._hello_body = encode_client_hello(self._hello)
        self._send(_MSG_CLIENT_HELLO, self._hello_body)
        self._flush(CLIENT_HELLO)
        self.state = _CLIENT.started

    def adopt(self, hello: ClientHello, offered_dtls13: bool) -> None:
        """Take over after a ClientHello another handshake sent (a DTLS 1.3 client that also
        offered DTLS 1.2, whose server answered in DTLS 1.2): ``hello`` as our first
        ClientHello, already sent, so the server's answer continues from it. A server that
        also speaks DTLS 1.3 and still chose 1.2 is a downgrade (RFC 8446 §4.1.3): the
        ServerHello's random says so, and it is refused."""
        self.client_random = hello.random
        self.result.server_name = self.configuration.server_name
        self._offered_extensions = {t for t, _ in hello.extensions}
        self._offered_dtls13 = offered_dtls13
        self._hello = hello
        self._hello_body = encode_client_hello(hello)
        self._send(_MSG_CLIENT_HELLO, self._hello_body)
        self._pending = []  # sent already: only the transcript and the numbering take it
        self.state = _CLIENT.started

    def client_hello(self) -> ClientHello:
        """The ClientHello this handshake offers (DTLS 1.2's suites and extensions); a DTLS
        1.3 client that also offers DTLS 1.2 sends them in its own (``client13``)."""
        config = self.configuration
        self.client_random = os.urandom(32)
        uses_ecdhe = any(suite_info(s).key_exchange != _KX_PSK for s in self._suites)
        extensions: list[tuple[int, bytes]] = []
        if config.server_name and not is_ip_address(config.server_name):
            extensions.append((EXT_SERVER_NAME, encode_server_name(config.server_name)))
        if uses_ecdhe:
            extensions.append((EXT_SUPPORTED_GROUPS, encode_uint16_list(config.groups)))
            extensions.append((EXT_EC_POINT_FORMATS, UNCOMPRESSED_POINTS_ONLY))
        # Also with PSK suites alone, which never sign: without its 14 bytes a plain-PSK
        # ClientHello (92 B) no longer holds two 48-byte HelloVerifyRequests, which a server
        # sends only within the bytes it received (X14), and one lost copy costs the blind
        # timer (tried in session 9: p99 at 20 % loss 1.671 -> 3.349 s, docs/reliability.md).
        extensions.append((EXT_SIGNATURE_ALGORITHMS, encode_uint16_list(config.signature_schemes)))
        if config.alpn_protocols:
            extensions.append(
                (
                    EXT_ALPN,
                    encode_alpn([p.encode("ascii") for p in config.alpn_protocols]),
                )
            )
        if config.srtp_profiles:
            offer = UseSrtp([int(p) for p in config.srtp_profiles], config.srtp_mki)
            extensions.append((EXT_USE_SRTP, encode_use_srtp(offer)))
        if uses_ecdhe:
            extensions.extend(client_hello_extensions(config))  # RFC 7250 raw public keys
        cid = self._connection_id_to_offer()
        if cid is not None:
            extensions.append((EXT_CONNECTION_ID, encode_connection_id(cid)))
        extensions.append((EXT_EXTENDED_MASTER_SECRET, b""))
        extensions.append((EXT_RENEGOTIATION_INFO, EMPTY_RENEGOTIATION_INFO))
        if self._resumption.ticket_extension is not None:
            extensions.append((EXT_SESSION_TICKET, self._resumption.ticket_extension))
        self.result.server_name = config.server_name
        self._offered_extensions = {t for t, _ in extensions}
        return ClientHello(
            client_version=DTLS1_2,
            random=self.client_random,
            session_id=self._resumption.session_id,
            cookie=b"",
            cipher_suites=[int(s) for s in self._suites],
            compression_methods=b"\x00",
            extensions=extensions,
        )

    def release(self) -> None:
        """Free handshake-only state (see HandshakeStateMachine.release)."""
        super().release()
        self._hello = None
        self._hello_body = b""
        self._ephemeral = None
        self._server_public_key = None
        self._server_ecdh_public = None
        self._certificate_request = None
        self._certificate_types = X509_BOTH_WAYS
        self._server_hello = None
        self._pending_write = None
        self._resumption = NO_CLIENT_RESUMPTION

    # -- flight 2: HelloVerifyRequest ----------------------------------------------------

    def receive_hello_verify_request(
        self, header: HandshakeHeader, body: bytes, record_sequence_number: int, now: float
    ) -> Drop | None:
        """The client's whole side of the cookie exchange: a HelloVerifyRequest fragment
        (``header``, ``body``) that came in record ``record_sequence_number`` while no
        ServerHello has. Returns why it was dropped, or None; raises an alert if it is
        malformed (SPEC C6).

        It is answered outside the message sequence, so it is not a row of the table
        (``flights.CLIENT``) and the state stays: the newest one wins whatever its message_seq
        (SPEC C6; OpenSSL numbers a second one 1), and the server numbers its ServerHello after
        our new ClientHello, so the peer's messages restart at 1. It comes before any keys
        exist, so in epoch 0.
        """
        if header.fragment_offset != 0 or header.fragment_length != header.length:
            return Drop(DropReason.FRAGMENTED_HELLO_VERIFY_REQUEST)
        try:
            hvr = decode_hello_verify_request(body)
        except BufferReadError as exc:
            raise AlertDecodeError(f"malformed hello_verify_request: {exc}") from None
        # RFC 6347 §4.2.1: the HVR version is not a negotiation (SPEC C2), but it must be DTLS.
        if hvr.server_version not in (DTLS1_0, DTLS1_2):
            raise AlertIllegalParameter(f"HelloVerifyRequest version {hvr.server_version:#06x}")
        assert self._hello is not None
        # An HVR carries the record number of the ClientHello it answers (RFC 6347 §4.2.1);
        # the server's messages restart at 1, whichever ClientHello it answers.
        answers_current = self._sink._hello_verify_request_received(record_sequence_number)
        if self.cookie_exchanges and not answers_current:
            # It answers a ClientHello we sent before the one in flight (a retransmitted or
            # duplicated first ClientHello): the server may already be using our current
            # cookie, and switching would split the transcripts.
            return None
        if hvr.cookie == self._hello.cookie:
            return None
        # The newest HelloVerifyRequest wins (SPEC C6): it answers the ClientHello carrying
        # our cookie, so the server refused that cookie (a rotated secret, a restart). The
        # ClientHello carrying the new one is again message_seq 1 (RFC 6347 §4.2.2).
        self.cookie_exchanges += 1
        self._trace("cookie_received", cookie_length=len(hvr.cookie))
        # The first ClientHello and the HVR are not part of the transcript (SPEC C7).
        self._reset_transcript()
        # The same ClientHello with the cookie (RFC 6347 §4.2.1): its bytes but the cookie's.
        body = encode_client_hello_with_cookie(self._hello_body, self._hello, hvr.cookie)
        self._hello.cookie = hvr.cookie
        self._hello_body = body
        self._send_seq = 1
        self._send(_MSG_CLIENT_HELLO, body)
        self._flush(CLIENT_HELLO_WITH_COOKIE)
        return None

    @property
    def expects_server_hello(self) -> bool:
        """True while a HelloVerifyRequest may still come
        (:meth:`receive_hello_verify_request`)."""
        return self.state == _EXPECT_SERVER_HELLO

    # -- flight 4 ------------------------------------------------------------------------

    def _on_server_hello(self, message: HandshakeMessage, now: float) -> None:
        hello = decode_server_hello(message.body)
        if hello.server_version != DTLS1_2:
            raise AlertProtocolVersion(f"server chose version {hello.server_version:#06x}")
        suite = _SUITES_BY_VALUE.get(hello.cipher_suite)
        if suite is None or suite not in self._suites:
            raise AlertIllegalParameter(
                f"server chose a suite we did not offer: {hello.cipher_suite:#06x}"
            )
        if hello.compression_method != 0:
            raise AlertIllegalParameter("server chose compression")
        if self._offered_dtls13 and hello.random[-8:] in (DOWNGRADE_TLS12, DOWNGRADE_TLS11):
            # RFC 8446 §4.1.3 (SPEC H6, V10): the server speaks DTLS 1.3 too, so something
            # between us removed it from our offer.
            raise AlertIllegalParameter("downgrade: the server speaks DTLS 1.3 but chose 1.2")
        for ext_type, _ in hello.extensions:
            if ext_type not in self._offered_extensions:
                raise AlertUnsupportedExtension(f"unsolicited extension {ext_type}")  # SPEC H4
        # Types are unique (decoding refused duplicates, SPEC H4): one dict for the lookups.
        extension = dict(hello.extensions).get
        ems = extension(EXT_EXTENDED_MASTER_SECRET)
        if ems is not None and ems != b"":
            raise AlertDecodeError("extended_master_secret must be empty")  # SPEC E2
        if ems is None and self.configuration.require_extended_master_secret:
            raise AlertHandshakeFailure("server does not support extended master secret")  # E4
        renegotiation = extension(EXT_RENEGOTIATION_INFO)
        if renegotiation is not None and decode_renegotiation_info(renegotiation) != b"":
            raise AlertHandshakeFailure("non-empty renegotiation_info on an initial handshake")
        point_formats = extension(EXT_EC_POINT_FORMATS)
        if point_formats is not None and EC_POINT_FORMAT_UNCOMPRESSED not in decode_uint8_list(
            point_formats
        ):
            raise AlertIllegalParameter("server does not accept uncompressed points")  # K3
        self.result.alpn_protocol = self._selected_alpn(hello.extensions)
        self._check_srtp(hello.extensions)
        self._agree_connection_ids(extension(EXT_CONNECTION_ID))
        self.server_random = hello.random
        self.result.suite = suite_info(suite)
        self.result.extended_master_secret = ems is not None
        if self.result.suite.key_exchange != _KX_PSK:
            self._check_certificate_types(hello.extensions)
        self._absorb(message)
        self._server_hello = hello
        master_secret = self._resumption.on_server_hello(hello, self.result)
        if master_secret is not None:
            # Abbreviated handshake (RFC 5246 §7.3): the server's CCS and Finished follow.
            read, self._pending_write = self._establish_keys(b"", master_secret=master_secret)
            self._sink._install_read_keys(1, read)
            self._trace("session_resumed", suite=self.result.suite.name)

    def _after_server_hello(self) -> str:
        """Which case of the table's ServerHello row holds (``flights.CLIENT``)."""
        if self._resumption.resumed:
            return "resumed_with_ticket" if self._resumption.expect_ticket else "resumed"
        assert self.result.suite is not None
        key_exchange = self.result.suite.key_exchange
        if key_exchange == _KX_PSK:
            return "psk"
        return "ecdhe_psk" if key_exchange == _KX_ECDHE_PSK else "certificate"

    def _selected_alpn(self, extensions: list[tuple[int, bytes]]) -> str | None:
        """The protocol the server selected (RFC 7301 §3.1): exactly one of those we offered
        (the extension is only there if we offered it: unsolicited ones are refused)."""
        body = find_extension(extensions, EXT_ALPN)
        if body is None:
            return None
        names = decode_alpn(body)
        if len(names) != 1:
            raise AlertDecodeError(f"server selected {len(names)} ALPN protocols, not one")
        offered = self.configuration.alpn_protocols or []
        selected = names[0].decode("ascii", errors="replace")
        if selected not in offered:
            raise AlertIllegalParameter(f"server selected ALPN protocol {selected!r}, not offered")
        return selected

    def _check_certificate_types(self, extensions: list[tuple[int, bytes]]) -> None:
        """RFC 7250 §4.2: the type the server selected for each direction must be one we
        offered; a missing answer means X.509."""
        offers = dict(client_hello_extensions(self.configuration))
        x509_only = [_CERT_X509]
        ours = peer = _CERT_X509
        for direction, ext_type in (
            ("server", ExtensionType.server_certificate_type),
            ("client", ExtensionType.client_certificate_type),
        ):
            offer = offers.get(ext_type)
            offered = [CertificateType(t) for t in decode_certificate_types(offer)] if offer else []
            selected = find_extension(extensions, ext_type)
            if direction == "server":
                peer = check_selected_type(selected, offered or x509_only, direction)
            elif selected is not None:  # absent: we send X.509 (or nothing) if asked
                ours = check_selected_type(selected, offered, direction)
        types = CertificateTypes(ours, peer)
        if types != X509_BOTH_WAYS:
            self._certificate_types = types
        trace_certificate_types(self._trace, types)

    def _check_srtp(self, extensions: list[tuple[int, bytes]]) -> None:
        """RFC 5764 §4.1.1: the server's use_srtp carries one profile we offered and either
        our MKI or an empty one. A server that ignores our offer ends the handshake: we only
        offer DTLS-SRTP when the application needs it."""
        offered = self.configuration.srtp_profiles
        if not offered:
            return  # we did not offer use_srtp, so an answer was refused as unsolicited
        body = find_extension(extensions, EXT_USE_SRTP)
        if body is None:
            raise AlertHandshakeFailure(
                f"the server did not agree to DTLS-SRTP (we offered "
                f"{describe_profiles([int(p) for p in offered])}): configure srtp_profiles "
                "on the server, or leave them unset here"
            )
        answer = decode_use_srtp(body)
        if len(answer.profiles) != 1:
            raise AlertDecodeError(
                f"server's use_srtp selects {len(answer.profiles)} profiles, not one"
            )
        chosen = answer.profiles[0]
        if chosen not in [int(p) for p in offered]:
            raise AlertIllegalParameter(
                f"server selected SRTP profile {describe_profiles([chosen])[1:-1]}, which we "
                f"did not offer (we offered {describe_profiles([int(p) for p in offered])})"
            )
        if answer.mki and answer.mki != self.configuration.srtp_mki:
            raise AlertIllegalParameter("server's SRTP MKI differs from the one we offered")
        self.result.srtp_profile = SrtpProfile(chosen)
        self.result.srtp_mki = answer.mki

    def _on_certificate(self, message: HandshakeMessage, now: float) -> None:
        assert self.result.suite is not None
        key: object
        if self._certificate_types.peer == _CERT_RAW_PUBLIC_KEY:
            raw = check_peer_raw_public_key(message.body, self.configuration, peer_is_server=True)
            if raw is None:
                raise AlertHandshakeFailure("the server sent no raw public key")
            key = self.result.peer_public_key = raw
        else:
            chain = check_peer_certificates(
                decode_certificate_list(message.body, "server"),
                self.configuration,
                peer_is_server=True,
            )
            key = certificate_public_key(chain[0])
            self.result.peer_certificates = chain
        wanted = (
            ec.EllipticCurvePublicKey
            if self.result.suite.key_exchange == _KX_ECDHE_ECDSA
            else rsa.RSAPublicKey
        )
        if not isinstance(key, wanted):
            raise AlertUnsupportedCertificate("certificate key does not match the cipher suite")
        self._server_public_key = key
        self._absorb(message)

    def _on_server_key_exchange(self, message: HandshakeMessage, now: float) -> None:
        assert self.result.suite is not None
        if self.result.suite.key_exchange == _KX_PSK:
            ske_psk = decode_server_key_exchange_psk(message.body)
            self._psk_hint = ske_psk.identity_hint  # for psk_client_callback
            self._absorb(message)
            return
        if self.result.suite.key_exchange == _KX_ECDHE_PSK:
            # Unsigned: a server without the PSK cannot produce our Finished (RFC 5489 §2).
            ske_ecdhe_psk = decode_server_key_exchange_ecdhe_psk(message.body)
            self._psk_hint = ske_ecdhe_psk.identity_hint or None
            params = ske_ecdhe_psk.params
            self._accept_server_ecdh(self._offered_group(params.group), params.public_key)
            self._absorb(message)
            return
        ske = decode_server_key_exchange_ecdhe(message.body)
        group = self._offered_group(ske.params.group)
        assert self._server_public_key is not None
        signatures.verify(
            self._server_public_key,
            ske.signature_scheme,
            self.configuration.signature_schemes,
            ske.signature,
            self.client_random + self.server_random + ske.params.encode(),
        )
        self._accept_server_ecdh(group, ske.params.public_key)
        self._absorb(message)

    def _after_server_key_exchange(self) -> str:
        """A PSK suite's ServerKeyExchange is an unsigned hint, after which only
        ServerHelloDone comes; a signed one may be followed by a CertificateRequest."""
        assert self.result.suite is not None
        return "psk_hint" if self.result.suite.key_exchange.uses_psk else "signed"

    def _offered_group(self, value: int) -> NamedGroup:
        """The server's ECDH group, which must be one we offered."""
        group = _GROUPS_BY_VALUE.get(value)
        if group is None or group not in self.configuration.groups:
            raise AlertIllegalParameter(f"server chose a group we did not offer: {value}")
        return group

    def _accept_server_ecdh(self, group: NamedGroup, public_key: bytes) -> None:
        """Keep the server's ephemeral key and make ours in the same group."""
        self.result.group = group
        self._ephemeral = EphemeralKey(group)
        self._server_ecdh_public = public_key

    def _on_certificate_request(self, message: HandshakeMessage, now: float) -> None:
        self._certificate_request = decode_certificate_request(message.body)
        self._absorb(message)

    def _on_server_hello_done(self, message: HandshakeMessage, now: float) -> None:
        if message.body:
            raise AlertDecodeError("ServerHelloDone is not empty")
        self._absorb(message)
        self._send_flight_5()

    def _after_server_keys(self) -> str:
        """The server's last messages: NewSessionTicket if its ServerHello promised one
        (RFC 5077 §3.3), then Finished."""
        return "ticket_promised" if self._resumption.expect_ticket else "no_ticket"

    def _on_new_session_ticket(self, message: HandshakeMessage, now: float) -> None:
        self._resumption.new_ticket = decode_new_session_ticket(message.body)
        self._absorb(message)

    # -- flight 5 ------------------------------------------------------------------------

    def _client_credentials(self) -> SignatureScheme | None:
        """The scheme to sign CertificateVerify with, or None to send no certificate."""
        request = self._certificate_request
        key = self.configuration.private_key
        raw = self._certificate_types.ours == _CERT_RAW_PUBLIC_KEY
        if request is None or key is None or not (raw or self.configuration.certificate_chain):
            return None
        wanted_type = (
            CLIENT_CERTIFICATE_TYPE_ECDSA_SIGN
            if isinstance(key, ec.EllipticCurvePrivateKey)
            else CLIENT_CERTIFICATE_TYPE_RSA_SIGN
        )
        if wanted_type not in request.certificate_types:
            return None
        schemes = signatures.schemes_for_key(
            key, self.configuration.signature_schemes, request.signature_algorithms
        )
        return schemes[0] if schemes else None

    def _psk_credentials(self) -> tuple[bytes, bytes]:
        """(identity, key): from ``psk_client_callback`` given the server's hint, else the
        configured ``psk_identity`` and ``psk``."""
        config = self.configuration
        if config.psk_client_callback is None:
            if config.psk is None or config.psk_identity is None:
                raise AlertHandshakeFailure("PSK suite negotiated but no PSK configured")
            return config.psk_identity, config.psk
        return ask_psk_client_callback(config, self._psk_hint)

    def _send_flight_5(self) -> None:
        config = self.configuration
        suite = self.result.suite
        assert suite is not None
        scheme = self._client_credentials()
        if self._certificate_request is not None:
            chain = config.certificate_chain if scheme is not None else []
            body = encode_certificate_chain(chain)
            if scheme is not None and self._certificate_types.ours == _CERT_RAW_PUBLIC_KEY:
                assert config.private_key is not None
                body = encode_raw_public_key_certificate(config.private_key)
            self._send(_MSG_CERTIFICATE, body)
        if suite.key_exchange == _KX_PSK:
            identity, psk = self._psk_credentials()
            self.result.psk_identity = identity
            self._send(
                _MSG_CLIENT_KEY_EXCHANGE,
                encode_client_key_exchange_psk(ClientKeyExchangePsk(identity)),
            )
            premaster = psk_premaster_secret(psk)
        elif suite.key_exchange == _KX_ECDHE_PSK:
            identity, psk = self._psk_credentials()
            self.result.psk_identity = identity
            assert self._ephemeral is not None and self._server_ecdh_public is not None
            # RFC 5489 §2: the PSK premaster with other_secret = Z (SPEC K1).
            shared = self._ephemeral.exchange(self._server_ecdh_public)
            premaster = psk_premaster_secret(psk, shared)
            self._send(
                _MSG_CLIENT_KEY_EXCHANGE,
                encode_client_key_exchange_ecdhe_psk(
                    ClientKeyExchangeEcdhePsk(identity, self._ephemeral.public_bytes()),
                ),
            )
        else:
            assert self._ephemeral is not None and self._server_ecdh_public is not None
            premaster = self._ephemeral.exchange(self._server_ecdh_public)
            self._send(
                _MSG_CLIENT_KEY_EXCHANGE,
                encode_client_key_exchange_ecdhe(
                    ClientKeyExchangeEcdhe(self._ephemeral.public_bytes()),
                ),
            )
        read, write = self._establish_keys(premaster)
        if scheme is not None:
            assert config.private_key is not None
            signature = signatures.sign(config.private_key, scheme, self.transcript)
            self._send(
                _MSG_CERTIFICATE_VERIFY,
                encode_certificate_verify(CertificateVerify(scheme, signature)),
            )
        self._send_change_cipher_spec(write)
        self._send(
            _MSG_FINISHED,
            self._finished(from_client=True),
        )
        self._sink._install_read_keys(1, read)
        self._flush(CLIENT_FINISHED)

    # -- flight 6 ------------------------------------------------------------------------

    def _on_finished(self, message: HandshakeMessage, now: float) -> None:
        # A Finished body is its verify_data (checked whole: any other length fails).
        if not finished_matches(self._finished(from_client=False), message.body):
            raise AlertDecryptError("server Finished does not verify")  # SPEC H3
        self._absorb(message)
        if self._resumption.resumed:
            # Resumed: our CCS and Finished are the last flight, re-sent whenever the server
            # repeats its own (SPEC T4), like the server's flight 6 of a full handshake.
            assert self._pending_write is not None
            self._send_change_cipher_spec(self._pending_write)
            self._send(
                _MSG_FINISHED,
                self._finished(from_client=True),
            )
            self._flush(RESUMED_CLIENT_FINISHED)
        assert self._server_hello is not None and self._master_secret is not None
        self.result.session = self._resumption.session_after(
            self._server_hello, self.result, self._master_secret, now
        )
        self.complete = True


def ask_psk_client_callback(config: DtlsConfiguration, hint: bytes | None) -> tuple[bytes, bytes]:
    """(identity, key) from ``config.psk_client_callback`` for the server's identity ``hint``
    (None: it sent none, and always in DTLS 1.3, which has no hint, as OpenSSL calls its
    TLS 1.2 callback for TLS 1.3). Its exception, or an answer that is not (identity, key),
    ends the handshake with internal_error; None with handshake_failure."""
    callback = config.psk_client_callback
    assert callback is not None
    try:
        answer = callback(hint)
    except Exception as exc:
        raise AlertInternalError(f"psk_client_callback raised {exc!r}") from None
    if answer is None:
        raise AlertHandshakeFailure(
            f"psk_client_callback has no key for the server's hint {hint!r}"
        )
    if (
        not isinstance(answer, tuple)
        or len(answer) != 2
        or not all(isinstance(x, bytes) for x in answer)
        or not 0 < len(answer[0]) < 65536
        or not answer[1]
    ):
        raise AlertInternalError(
            "psk_client_callback must return (identity, key) as non-empty bytes, or None"
        )
    return answer[0], answer[1]


def is_ip_address(name: str) -> bool:
    """True for an IP literal: a name SNI must not carry (RFC 6066 §3); both versions'
    clients ask."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True
