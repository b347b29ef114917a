"""State-machine fuzzing in the style of DTLS-Fuzzer (hardening item 13; SPEC X8-X12, X22).

A scripted peer plays the other role against a real ``DtlsConnection`` (the implementation
under test, IUT) and turns abstract inputs into datagrams, as the mapper of DTLS-Fuzzer
(Fiterau-Brostean et al., USENIX Security 2020) does. Messages are built with the library's own
codecs (``handshake.messages``, ``record.header``, ``reliability.fragments``) and the peer holds
real keys: it runs the ECDHE exchange, keeps the transcript of what it sent and received since
its last ClientHello, derives the (extended) master secret and the epoch-1 record keys, signs
what it has to sign, and so can send a correct Finished whenever the sequence so far makes one
possible. The IUT's answers are read back after every input (cookies, randoms, key shares,
the peer's own Finished) so the next input is computed against the IUT's real state.

Alphabets (``ClientInput`` for a scripted client against a server IUT, ``ServerInput`` for a
scripted server against a client IUT) mix valid and invalid steps: hellos with and without the
right cookie, every handshake message of the role, an empty Certificate, a ServerKeyExchange
signed by the wrong key, ChangeCipherSpec, a correct and a wrong Finished, application data in
epoch 0 and 1, warning, fatal and close_notify alerts, a verbatim replay of the last datagram,
a retransmission of everything sent since the last hello, and a timeout (virtual time jumps
to the IUT's timer). Hypothesis draws sequences either freely from the alphabet or as a valid
handshake with random insertions, deletions, replacements and swaps, so that both shallow and
deep states are reached.

Properties, checked after every input:

- nothing raises out of ``receive_datagram``, ``handle_timer`` or ``datagrams_to_send``, and
  the IUT never ends with the ``internal_error`` its catch-all substitutes for an exception;
- no ``DataReceived`` before ``HandshakeCompleted``; each delivered record is one the peer
  sealed under the real epoch-1 keys, and none is delivered twice;
- ``HandshakeCompleted`` at most once, and only if the peer ran a valid handshake: since its
  last ClientHello (one with the right cookie) it sent, in order, the messages the IUT's
  configuration requires (for a server requiring client certificates: a non-empty Certificate
  and a CertificateVerify; for a client: ServerHello, the real Certificate, a correctly signed
  ServerKeyExchange and ServerHelloDone), then a correct Finished under the real keys; and the
  IUT then exports the same keying material as the peer.

Roles: a server connection (with and without required client certificates), a server
endpoint (``DtlsEndpoint``, stateless cookie exchange in front), and a client connection (with
and without a certificate of its own). The default suite runs a moderate budget per role;
``slow`` runs a large one. The scripted peers speak DTLS 1.2 only and the IUTs keep the
default versions (DTLS 1.2 and 1.3): a client IUT offers both and falls back on the scripted
server's answer, a server IUT answers the DTLS 1.2-only ClientHello in DTLS 1.2, so the fuzz
covers the state machines a default configuration runs against a DTLS 1.2 peer.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import hypothesis
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiodtls import (
    AlertDescription,
    ConnectionState,
    ConnectionTerminated,
    DataReceived,
    DtlsConfiguration,
    DtlsConnection,
    DtlsEndpoint,
    DtlsEvent,
    HandshakeCompleted,
)
from aiodtls.buffer import Buffer
from aiodtls.endpoint import next_event
from aiodtls.handshake import signatures
from aiodtls.handshake.keyexchange import EphemeralKey
from aiodtls.handshake.keyschedule import (
    compute_finished,
    compute_master_secret,
    derive_key_block,
    export_keying_material,
)
from aiodtls.handshake.messages import (
    EC_POINT_FORMAT_UNCOMPRESSED,
    Certificate,
    CertificateRequest,
    CertificateVerify,
    ClientHello,
    ClientKeyExchangeEcdhe,
    EcdheParameters,
    ExtensionType,
    Finished,
    HandshakeType,
    ServerHello,
    ServerKeyExchangeEcdhe,
    decode_message,
    encode_message,
    encode_renegotiation_info,
    encode_uint8_list,
    encode_uint16_list,
    pull_client_hello,
    pull_client_key_exchange_ecdhe,
    pull_hello_verify_request,
    pull_server_hello,
    pull_server_key_exchange_ecdhe,
    push_certificate,
    push_certificate_request,
    push_certificate_verify,
    push_client_hello,
    push_client_key_exchange_ecdhe,
    push_finished,
    push_hello_verify_request,
    push_server_hello,
    push_server_key_exchange_ecdhe,
)
from aiodtls.handshake.messages import HelloVerifyRequest as HelloVerifyRequestMessage
from aiodtls.record.header import (
    DTLS1_0,
    DTLS1_2,
    ContentType,
    RawRecord,
    encode_record_header,
    split_datagram,
)
from aiodtls.record.protection import AesGcmProtection, RecordProtectionError
from aiodtls.reliability.fragments import encode_handshake_fragment, pull_handshake_header
from aiodtls.suites import CipherSuite, NamedGroup, SignatureScheme
from certs import client_chain, server_chain
from pairs import CLIENT_ADDR, SERVER_ADDR, client_auth_configs, client_config, server_config

SUITE = CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
GROUP = NamedGroup.secp256r1
SCHEME = SignatureScheme.ecdsa_secp256r1_sha256
PRF_HASH = hashes.SHA256
KEY_LENGTH, IV_LENGTH = 16, 4
EXPORTER_LABEL, EXPORTER_LENGTH = b"EXPORTER-aiodtls-state-fuzz", 32

MAX_INPUTS = 14
"Longest input sequence drawn (DTLS-Fuzzer learns with words of similar length)."

DEFAULT_EXAMPLES = 150
"Hypothesis examples per role and configuration in the default suite (about a second each)."
SLOW_EXAMPLES = 15000
"Hypothesis examples per role and configuration under ``-m slow``."


class ClientInput(enum.Enum):
    """What a scripted client can send to a server IUT."""

    CLIENT_HELLO = "ClientHello"
    CLIENT_HELLO_WITH_COOKIE = "ClientHello(cookie)"
    CERTIFICATE = "Certificate"
    EMPTY_CERTIFICATE = "Certificate(empty)"
    CLIENT_KEY_EXCHANGE = "ClientKeyExchange"
    CERTIFICATE_VERIFY = "CertificateVerify"
    CHANGE_CIPHER_SPEC = "ChangeCipherSpec"
    FINISHED = "Finished"
    WRONG_FINISHED = "Finished(wrong)"
    APPLICATION_DATA_0 = "ApplicationData(epoch 0)"
    APPLICATION_DATA_1 = "ApplicationData(epoch 1)"
    WARNING_ALERT = "Alert(warning)"
    FATAL_ALERT = "Alert(fatal)"
    CLOSE_NOTIFY = "Alert(close_notify)"
    REPLAY = "replay last datagram"
    RETRANSMIT = "retransmit since hello"
    TIMEOUT = "timeout"


class ServerInput(enum.Enum):
    """What a scripted server can send to a client IUT."""

    HELLO_VERIFY_REQUEST = "HelloVerifyRequest"
    SERVER_HELLO = "ServerHello"
    CERTIFICATE = "Certificate"
    EMPTY_CERTIFICATE = "Certificate(empty)"
    SERVER_KEY_EXCHANGE = "ServerKeyExchange"
    WRONGLY_SIGNED_SERVER_KEY_EXCHANGE = "ServerKeyExchange(wrong key)"
    CERTIFICATE_REQUEST = "CertificateRequest"
    SERVER_HELLO_DONE = "ServerHelloDone"
    CHANGE_CIPHER_SPEC = "ChangeCipherSpec"
    FINISHED = "Finished"
    WRONG_FINISHED = "Finished(wrong)"
    APPLICATION_DATA_0 = "ApplicationData(epoch 0)"
    APPLICATION_DATA_1 = "ApplicationData(epoch 1)"
    WARNING_ALERT = "Alert(warning)"
    FATAL_ALERT = "Alert(fatal)"
    CLOSE_NOTIFY = "Alert(close_notify)"
    REPLAY = "replay last datagram"
    RETRANSMIT = "retransmit since hello"
    TIMEOUT = "timeout"


Input = ClientInput | ServerInput

# -- the scripted peer's record layer --------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One record the peer sent, kept so that it can be sent again on a fresh record number."""

    content_type: int
    epoch: int
    payload: bytes


@dataclass(frozen=True)
class Message:
    """A whole handshake message the peer received."""

    msg_type: int
    message_seq: int
    body: bytes
    epoch: int
    record_sequence_number: int

    def encode(self) -> bytes:
        """The unfragmented form, as the transcript hashes it."""
        return encode_handshake_fragment(self.msg_type, self.message_seq, self.body)


class PeerRecords:
    """Epochs, record numbers, keys and fragment reassembly of the scripted peer.

    Epoch 1 records are sealed under ``write_keys`` when the peer has derived them; before
    that, an epoch-1 record is sent as plaintext behind an epoch-1 header (a garbage tag, as
    a confused or hostile peer would).
    """

    def __init__(self) -> None:
        self.write_epoch = 0
        self.next_sequence_number: dict[int, int] = {}
        self.write_keys: AesGcmProtection | None = None
        self.read_keys: AesGcmProtection | None = None
        self._fragments: dict[tuple[int, int, int], dict[int, bytes]] = {}
        self._done: set[tuple[int, int, bytes]] = set()

    def record(
        self, content_type: int, payload: bytes, epoch: int, seq: int | None = None
    ) -> bytes:
        """One record on the next record number of ``epoch`` (or on ``seq``)."""
        if seq is None:
            seq = self.next_sequence_number.get(epoch, 0)
        self.next_sequence_number[epoch] = max(self.next_sequence_number.get(epoch, 0), seq + 1)
        fragment = payload
        if epoch == 1 and self.write_keys is not None:
            epoch_seq = ((epoch << 48) | seq).to_bytes(8, "big")
            fragment = self.write_keys.seal(epoch_seq, content_type, DTLS1_2, payload)
        version = DTLS1_0 if content_type == ContentType.handshake and epoch == 0 else DTLS1_2
        return encode_record_header(content_type, version, epoch, seq, len(fragment)) + fragment

    def read(self, datagram: bytes) -> Iterator[tuple[RawRecord, bytes]]:
        """The records of an IUT datagram this peer can read: (record, plaintext).

        Lazily: a record is opened only after the caller handled the ones before it, which
        may have given the peer its keys (a ClientKeyExchange ahead of the Finished)."""
        for raw in split_datagram(datagram):
            if not isinstance(raw, RawRecord):
                return
            payload = raw.fragment
            if raw.epoch == 1:
                if self.read_keys is None:
                    continue
                epoch_seq = ((raw.epoch << 48) | raw.sequence_number).to_bytes(8, "big")
                try:
                    payload = self.read_keys.open(
                        epoch_seq, raw.content_type, raw.version, raw.fragment
                    )
                except RecordProtectionError:
                    continue
            elif raw.epoch != 0:
                continue
            yield raw, payload

    def messages(self, raw: RawRecord, payload: bytes) -> list[Message]:
        """Whole handshake messages completed by the fragments of one record; a message the
        peer has already seen whole (a retransmission) is not reported again."""
        out = []
        buf = Buffer(payload)
        while buf.remaining() >= 12:
            header = pull_handshake_header(buf)
            data = buf.pull_bytes(min(header.fragment_length, buf.remaining()))
            key = (header.msg_type, header.message_seq, header.length)
            parts = self._fragments.setdefault(key, {})
            parts[header.fragment_offset] = data
            body = _assemble(parts, header.length)
            if body is None:
                continue
            del self._fragments[key]
            identity = (header.msg_type, header.message_seq, body)
            if identity in self._done:
                continue
            self._done.add(identity)
            out.append(
                Message(header.msg_type, header.message_seq, body, raw.epoch, raw.sequence_number)
            )
        return out

    def forget_messages(self) -> None:
        """A new handshake attempt: messages seen before may legitimately come again."""
        self._done.clear()
        self._fragments.clear()


def _assemble(parts: dict[int, bytes], length: int) -> bytes | None:
    """The whole body once the fragments cover it without a gap, else None."""
    body = bytearray(length)
    covered = 0
    for offset in sorted(parts):
        data = parts[offset]
        if offset > covered or offset + len(data) > length:
            return None
        body[offset : offset + len(data)] = data
        covered = max(covered, offset + len(data))
    return bytes(body) if covered == length else None


def _key_block(
    master_secret: bytes, client_random: bytes, server_random: bytes
) -> tuple[AesGcmProtection, AesGcmProtection]:
    """(client_write, server_write) protections of a session."""
    block = derive_key_block(
        PRF_HASH(), master_secret, client_random, server_random, KEY_LENGTH, IV_LENGTH
    )
    return (
        AesGcmProtection(block.client_write_key, block.client_write_iv),
        AesGcmProtection(block.server_write_key, block.server_write_iv),
    )


def _hash(transcript: bytes) -> bytes:
    digest = hashes.Hash(PRF_HASH())
    digest.update(transcript)
    return digest.finalize()


def _der(chain: list[x509.Certificate]) -> list[bytes]:
    return [c.public_bytes(Encoding.DER) for c in chain]


# -- scripted peers --------------------------------------------------------------------------


class ScriptedPeer:
    """What both scripted roles share: records, transcript, alerts, data, bookkeeping."""

    def __init__(self) -> None:
        self.records = PeerRecords()
        self.transcript = bytearray()
        self.master_secret: bytes | None = None
        self.client_random = b""
        self.server_random = b""
        self.send_seq = 0
        self.since_hello: list[Input] = []
        "Inputs sent since the last ClientHello (the current handshake attempt)."
        self.valid_handshake = False
        "True once a Finished went out that completes a valid handshake from the peer's side."
        self.sealed_payloads: set[bytes] = set()
        "Application data sent under the real epoch-1 keys."
        self.last_datagram = b""
        self.attempt: list[Sent] = []
        "Handshake and ChangeCipherSpec records sent since the last hello (for RETRANSMIT)."
        self._app_counter = 0

    # Sending.

    def handshake_record(self, msg_type: int, body: bytes) -> bytes:
        """A whole message on the next message_seq, in the current epoch and the transcript."""
        message = encode_handshake_fragment(msg_type, self.send_seq, body)
        self.send_seq += 1
        self.transcript += message
        epoch = self.records.write_epoch
        self.attempt.append(Sent(ContentType.handshake, epoch, message))
        return self.records.record(ContentType.handshake, message, epoch)

    def change_cipher_spec(self) -> bytes:
        """ChangeCipherSpec; what follows goes out in the next epoch."""
        epoch = self.records.write_epoch
        self.attempt.append(Sent(ContentType.change_cipher_spec, epoch, b"\x01"))
        datagram = self.records.record(ContentType.change_cipher_spec, b"\x01", epoch)
        self.records.write_epoch += 1
        return datagram

    def finished(self, *, from_client: bool, correct: bool, valid: bool) -> bytes:
        """A Finished over the transcript (or 12 wrong bytes); ``valid`` says whether the
        handshake so far was a valid one, in which case this Finished completes it."""
        if correct and self.master_secret is not None:
            verify_data = compute_finished(
                PRF_HASH(),
                self.master_secret,
                from_client=from_client,
                handshake_hash=_hash(bytes(self.transcript)),
            )
            keyed = self.records.write_epoch == 1 and self.records.write_keys is not None
            self.valid_handshake |= valid and keyed
        else:
            verify_data = os.urandom(12)
        return self.handshake_record(
            HandshakeType.finished, encode_message(push_finished, Finished(verify_data))
        )

    def application_data(self, epoch: int) -> bytes:
        """A record of data no other record carries, in ``epoch``."""
        self._app_counter += 1
        payload = f"application data {self._app_counter} at epoch {epoch}".encode()
        if epoch == 1 and self.records.write_keys is not None:
            self.sealed_payloads.add(payload)
        return self.records.record(ContentType.application_data, payload, epoch)

    def alert(self, level: int, description: AlertDescription) -> bytes:
        """An alert in the current epoch."""
        payload = bytes((level, description))
        return self.records.record(ContentType.alert, payload, self.records.write_epoch)

    def retransmission(self) -> bytes:
        """Everything sent since the last hello, again, on fresh record numbers."""
        return b"".join(
            self.records.record(sent.content_type, sent.payload, sent.epoch)
            for sent in self.attempt
        )

    def common(self, symbol: Input) -> bytes | None:
        """The inputs both roles share; None if ``symbol`` is role-specific."""
        name = symbol.name
        if name == "CHANGE_CIPHER_SPEC":
            return self.change_cipher_spec()
        if name == "APPLICATION_DATA_0":
            return self.application_data(0)
        if name == "APPLICATION_DATA_1":
            return self.application_data(1)
        if name == "WARNING_ALERT":
            return self.alert(1, AlertDescription.no_renegotiation)
        if name == "FATAL_ALERT":
            return self.alert(2, AlertDescription.handshake_failure)
        if name == "CLOSE_NOTIFY":
            return self.alert(1, AlertDescription.close_notify)
        if name == "REPLAY":
            return self.last_datagram
        if name == "RETRANSMIT":
            return self.retransmission()
        return None

    def derive_keys(self, premaster_secret: bytes, *, client: bool) -> None:
        """Extended master secret over the transcript up to the ClientKeyExchange."""
        self.master_secret = compute_master_secret(
            PRF_HASH(),
            premaster_secret,
            session_hash=_hash(bytes(self.transcript)),
            client_random=self.client_random,
            server_random=self.server_random,
        )
        client_write, server_write = _key_block(
            self.master_secret, self.client_random, self.server_random
        )
        self.records.write_keys, self.records.read_keys = (
            (client_write, server_write) if client else (server_write, client_write)
        )

    def exported(self) -> bytes | None:
        """Keying material the peer derives, to compare with the IUT's."""
        if self.master_secret is None:
            return None
        return export_keying_material(
            PRF_HASH(),
            self.master_secret,
            self.client_random,
            self.server_random,
            EXPORTER_LABEL,
            EXPORTER_LENGTH,
            None,
        )

    def sent_in_order(self, *required: Input) -> bool:
        """Did the current attempt send ``required`` in this order (other inputs between)?"""
        position = 0
        for symbol in self.since_hello:
            if position < len(required) and symbol == required[position]:
                position += 1
        return position == len(required)

    # Implemented by the roles.

    def send(self, symbol: Input) -> bytes:
        """The datagram that carries ``symbol``."""
        raise NotImplementedError

    def absorb(self, datagram: bytes) -> None:
        """Learn from a datagram of the IUT (cookie, randoms, key shares, transcript)."""
        raise NotImplementedError


class ScriptedClient(ScriptedPeer):
    """A client whose every step is an input; it drives a server IUT."""

    def __init__(self, *, certificate_required: bool) -> None:
        super().__init__()
        self.certificate_required = certificate_required
        self.client_random = os.urandom(32)
        self.cookie: bytes | None = None
        self.hello_had_cookie = False
        self.ephemeral = EphemeralKey(GROUP)
        self.server_public: bytes | None = None
        self.chain = client_chain("ecdsa")
        self.hello = ClientHello(
            client_version=DTLS1_2,
            random=self.client_random,
            session_id=b"",
            cookie=b"",
            cipher_suites=[int(SUITE)],
            compression_methods=b"\x00",
            extensions=[
                (ExtensionType.supported_groups, encode_uint16_list([GROUP])),
                (ExtensionType.ec_point_formats, encode_uint8_list([0])),
                (ExtensionType.signature_algorithms, encode_uint16_list([SCHEME])),
                (ExtensionType.extended_master_secret, b""),
                (ExtensionType.renegotiation_info, encode_renegotiation_info()),
            ],
        )

    def send(self, symbol: Input) -> bytes:
        assert isinstance(symbol, ClientInput)
        datagram = self.common(symbol)
        if datagram is None:
            datagram = self._send(symbol)
        if symbol in (ClientInput.CLIENT_HELLO, ClientInput.CLIENT_HELLO_WITH_COOKIE):
            self.since_hello = [symbol]
        else:
            self.since_hello.append(symbol)
        self.last_datagram = datagram
        return datagram

    def _send(self, symbol: ClientInput) -> bytes:
        if symbol in (ClientInput.CLIENT_HELLO, ClientInput.CLIENT_HELLO_WITH_COOKIE):
            with_cookie = symbol == ClientInput.CLIENT_HELLO_WITH_COOKIE
            # Without a HelloVerifyRequest yet, "the right cookie" cannot exist: a made-up one.
            self.hello.cookie = (self.cookie or bytes(20)) if with_cookie else b""
            self.hello_had_cookie = with_cookie and self.cookie is not None
            # A new attempt: the transcript restarts with this hello (SPEC C7), and only a
            # Finished of this attempt may complete it (an endpoint starts a new association).
            self.valid_handshake = False
            self.transcript = bytearray()
            self.attempt = []
            self.records.forget_messages()
            self.master_secret = None
            return self.handshake_record(
                HandshakeType.client_hello, encode_message(push_client_hello, self.hello)
            )
        if symbol in (ClientInput.CERTIFICATE, ClientInput.EMPTY_CERTIFICATE):
            chain = self.chain.chain if symbol == ClientInput.CERTIFICATE else []
            return self.handshake_record(
                HandshakeType.certificate,
                encode_message(push_certificate, Certificate(_der(chain))),
            )
        if symbol == ClientInput.CLIENT_KEY_EXCHANGE:
            datagram = self.handshake_record(
                HandshakeType.client_key_exchange,
                encode_message(
                    push_client_key_exchange_ecdhe,
                    ClientKeyExchangeEcdhe(self.ephemeral.public_bytes()),
                ),
            )
            if self.server_public is not None and self.server_random:
                self.derive_keys(self.ephemeral.exchange(self.server_public), client=True)
            return datagram
        if symbol == ClientInput.CERTIFICATE_VERIFY:
            signature = signatures.sign(self.chain.key, SCHEME, bytes(self.transcript))
            return self.handshake_record(
                HandshakeType.certificate_verify,
                encode_message(push_certificate_verify, CertificateVerify(SCHEME, signature)),
            )
        if symbol in (ClientInput.FINISHED, ClientInput.WRONG_FINISHED):
            required = [ClientInput.CLIENT_HELLO_WITH_COOKIE]
            if self.certificate_required:
                required.append(ClientInput.CERTIFICATE)
            required.append(ClientInput.CLIENT_KEY_EXCHANGE)
            if self.certificate_required:
                required.append(ClientInput.CERTIFICATE_VERIFY)
            valid = self.hello_had_cookie and self.sent_in_order(*required)
            return self.finished(
                from_client=True, correct=symbol == ClientInput.FINISHED, valid=valid
            )
        raise AssertionError(symbol)

    def absorb(self, datagram: bytes) -> None:
        for raw, payload in self.records.read(datagram):
            if raw.content_type != ContentType.handshake:
                continue
            for message in self.records.messages(raw, payload):
                if message.msg_type == HandshakeType.hello_verify_request:
                    hvr = decode_message(message.body, pull_hello_verify_request)
                    self.cookie = hvr.cookie
                    continue
                if message.msg_type == HandshakeType.finished:
                    continue
                self.transcript += message.encode()
                if message.msg_type == HandshakeType.server_hello:
                    self.server_random = decode_message(message.body, pull_server_hello).random
                elif message.msg_type == HandshakeType.server_key_exchange:
                    ske = decode_message(message.body, pull_server_key_exchange_ecdhe)
                    self.server_public = ske.params.public_key


class ScriptedServer(ScriptedPeer):
    """A server whose every step is an input; it drives a client IUT."""

    def __init__(self) -> None:
        super().__init__()
        self.server_random = os.urandom(32)
        self.ephemeral = EphemeralKey(GROUP)
        self.chain = server_chain("ecdsa")
        self.hello_record_sequence_number = 0
        self.hello: Message | None = None
        self.client_finished = False

    def send(self, symbol: Input) -> bytes:
        assert isinstance(symbol, ServerInput)
        datagram = self.common(symbol)
        if datagram is None:
            datagram = self._send(symbol)
        self.since_hello.append(symbol)
        self.last_datagram = datagram
        return datagram

    def _send(self, symbol: ServerInput) -> bytes:
        if symbol == ServerInput.HELLO_VERIFY_REQUEST:
            # Stateless: record number of the ClientHello, message_seq 0 (RFC 6347 §4.2.1).
            body = encode_message(
                push_hello_verify_request, HelloVerifyRequestMessage(DTLS1_0, os.urandom(20))
            )
            fragment = encode_handshake_fragment(HandshakeType.hello_verify_request, 0, body)
            return self.records.record(
                ContentType.handshake, fragment, 0, seq=self.hello_record_sequence_number
            )
        if symbol == ServerInput.SERVER_HELLO:
            extensions: list[tuple[int, bytes]] = [
                (ExtensionType.renegotiation_info, encode_renegotiation_info()),
                (ExtensionType.extended_master_secret, b""),
                (ExtensionType.ec_point_formats, encode_uint8_list([EC_POINT_FORMAT_UNCOMPRESSED])),
            ]
            hello = ServerHello(DTLS1_2, self.server_random, b"", int(SUITE), 0, extensions)
            return self.handshake_record(
                HandshakeType.server_hello, encode_message(push_server_hello, hello)
            )
        if symbol in (ServerInput.CERTIFICATE, ServerInput.EMPTY_CERTIFICATE):
            chain = self.chain.chain if symbol == ServerInput.CERTIFICATE else []
            return self.handshake_record(
                HandshakeType.certificate,
                encode_message(push_certificate, Certificate(_der(chain))),
            )
        if symbol in (
            ServerInput.SERVER_KEY_EXCHANGE,
            ServerInput.WRONGLY_SIGNED_SERVER_KEY_EXCHANGE,
        ):
            params = EcdheParameters(int(GROUP), self.ephemeral.public_bytes())
            key = (
                self.chain.key
                if symbol == ServerInput.SERVER_KEY_EXCHANGE
                else client_chain("ecdsa").key
            )
            signature = signatures.sign(
                key, SCHEME, self.client_random + self.server_random + params.encode()
            )
            return self.handshake_record(
                HandshakeType.server_key_exchange,
                encode_message(
                    push_server_key_exchange_ecdhe,
                    ServerKeyExchangeEcdhe(params, int(SCHEME), signature),
                ),
            )
        if symbol == ServerInput.CERTIFICATE_REQUEST:
            request = CertificateRequest(bytes((64, 1)), [int(SCHEME)])
            return self.handshake_record(
                HandshakeType.certificate_request,
                encode_message(push_certificate_request, request),
            )
        if symbol == ServerInput.SERVER_HELLO_DONE:
            return self.handshake_record(HandshakeType.server_hello_done, b"")
        if symbol in (ServerInput.FINISHED, ServerInput.WRONG_FINISHED):
            valid = self.client_finished and self.sent_in_order(
                ServerInput.SERVER_HELLO,
                ServerInput.CERTIFICATE,
                ServerInput.SERVER_KEY_EXCHANGE,
                ServerInput.SERVER_HELLO_DONE,
            )
            return self.finished(
                from_client=False, correct=symbol == ServerInput.FINISHED, valid=valid
            )
        raise AssertionError(symbol)

    def absorb(self, datagram: bytes) -> None:
        for raw, payload in self.records.read(datagram):
            if raw.content_type != ContentType.handshake:
                continue
            for message in self.records.messages(raw, payload):
                if message.msg_type == HandshakeType.client_hello and message.epoch == 0:
                    self._new_hello(message)
                    continue
                self.transcript += message.encode()
                if message.msg_type == HandshakeType.client_key_exchange:
                    public = decode_message(message.body, pull_client_key_exchange_ecdhe).public_key
                    self.derive_keys(self.ephemeral.exchange(public), client=False)
                elif message.msg_type == HandshakeType.finished:
                    self.client_finished = True

    def _new_hello(self, message: Message) -> None:
        """The client (re)started: answer it from a clean slate (what a real server does
        with the ClientHello that carries its cookie). A retransmitted hello changes nothing
        but the record number a HelloVerifyRequest must echo."""
        self.hello_record_sequence_number = message.record_sequence_number
        if self.hello is not None and (self.hello.message_seq, self.hello.body) == (
            message.message_seq,
            message.body,
        ):
            return
        self.hello = message
        self.client_random = decode_message(message.body, pull_client_hello).random
        self.transcript = bytearray(message.encode())
        self.send_seq = message.message_seq
        self.since_hello = []
        self.attempt = []
        self.master_secret = None
        self.client_finished = False
        self.valid_handshake = False
        self.records.write_keys = self.records.read_keys = None
        self.records.forget_messages()
        # The HelloVerifyRequest reuses the hello's record number; never reuse it again.
        self.records.next_sequence_number[0] = max(
            self.records.next_sequence_number.get(0, 0), message.record_sequence_number + 1
        )


# -- running a sequence ----------------------------------------------------------------------


IUT = DtlsConnection | DtlsEndpoint
"A connection of either role, or a server endpoint (the peer is then its only client)."


@dataclass
class Run:
    """One IUT and its scripted peer, fed one abstract input at a time."""

    iut: IUT
    peer: ScriptedPeer
    now: float = 0.0
    events: list[tuple[DtlsConnection, DtlsEvent]] = field(default_factory=list)
    "Events of the IUT, with the connection that reported each (an endpoint has several)."
    log: list[str] = field(default_factory=list)
    "What happened, for the failure message."
    reported: int = 0
    checked: int = 0
    completed: set[int] = field(default_factory=set)
    "ids of the connections that reported HandshakeCompleted."
    delivered: set[bytes] = field(default_factory=set)

    @property
    def is_client(self) -> bool:
        """True when the IUT is a client."""
        return isinstance(self.iut, DtlsConnection) and self.iut.is_client

    @property
    def state(self) -> ConnectionState | None:
        """The state of the IUT's association with the peer (None: an endpoint has none)."""
        if isinstance(self.iut, DtlsConnection):
            return self.iut.state
        connection = self.iut.connections.get(CLIENT_ADDR)
        return connection.state if connection is not None else None

    def start(self) -> None:
        """A client IUT sends its first ClientHello."""
        if isinstance(self.iut, DtlsConnection) and self.iut.is_client:
            self.iut.connect(SERVER_ADDR, self.now)
        self.pump()

    def step(self, symbol: Input) -> None:
        """One input: the peer's datagram into the IUT (or its timer), answers back, checks."""
        if symbol.name == "TIMEOUT":
            timer = self.iut.get_timer()
            if timer is not None:
                self.now = max(self.now, timer)
                self.iut.handle_timer(self.now)
        else:
            datagram = self.peer.send(symbol)
            source = SERVER_ADDR if self.is_client else CLIENT_ADDR
            self.iut.receive_datagram(datagram, source, self.now)
        self.pump()
        state = self.state.value if self.state is not None else "no connection"
        self.log.append(f"{symbol.value} -> {state} {self._new_events()}")
        self.check()

    def pump(self) -> None:
        """Everything the IUT wants to send goes to the peer; its events are collected."""
        for datagram, _addr in self.iut.datagrams_to_send(self.now):
            self.peer.absorb(datagram)
        while (item := next_event(self.iut)) is not None:
            self.events.append(item)

    def finish(self) -> None:
        """Run the IUT's timers out (the peer stays silent) until it is done or quiet."""
        for _ in range(40):
            if self.state != ConnectionState.HANDSHAKING or self.iut.get_timer() is None:
                break
            self.step(ServerInput.TIMEOUT if self.is_client else ClientInput.TIMEOUT)
        self.check()

    def _new_events(self) -> str:
        new = self.events[self.reported :]
        self.reported = len(self.events)
        return ", ".join(_describe(e) for _, e in new)

    def check(self) -> None:
        """Every property of the module docstring, on the events not checked yet."""
        for connection, event in self.events[self.checked :]:
            self.checked += 1
            trace = "\n  ".join(self.log)
            if isinstance(event, HandshakeCompleted):
                assert id(connection) not in self.completed, f"completed twice:\n  {trace}"
                self.completed.add(id(connection))
                assert self.peer.valid_handshake, (
                    f"completed without a valid handshake from the peer:\n  {trace}"
                )
                exported = connection.export_keying_material(EXPORTER_LABEL, EXPORTER_LENGTH)
                assert exported == self.peer.exported(), f"keys differ:\n  {trace}"
            elif isinstance(event, DataReceived):
                assert id(connection) in self.completed, f"data before completion:\n  {trace}"
                assert event.data in self.peer.sealed_payloads, (
                    f"delivered data the peer never sealed: {event.data!r}\n  {trace}"
                )
                assert event.data not in self.delivered, (
                    f"delivered twice: {event.data!r}\n  {trace}"
                )
                self.delivered.add(event.data)
            elif isinstance(event, ConnectionTerminated):
                assert not (event.alert == AlertDescription.internal_error and not event.by_peer), (
                    f"exception inside the connection ({event.reason}):\n  {trace}"
                )


def _describe(event: DtlsEvent) -> str:
    if isinstance(event, ConnectionTerminated):
        return f"ConnectionTerminated({event.reason})"
    if isinstance(event, DataReceived):
        return f"DataReceived({event.data!r})"
    return type(event).__name__


def run_sequence(role: Role, inputs: Sequence[Input]) -> Run:
    """Feed ``inputs`` to a fresh IUT through a fresh scripted peer; check after each."""
    config = role.iut_config()
    iut: IUT = DtlsEndpoint(config) if role.endpoint else DtlsConnection(configuration=config)
    run = Run(iut, role.make_peer())
    run.start()
    for symbol in inputs:
        run.step(symbol)
    run.finish()
    return run


# -- roles and configurations ----------------------------------------------------------------


@dataclass(frozen=True)
class Role:
    """An IUT configuration, the scripted peer that plays against it and its alphabet."""

    name: str
    iut_config: Callable[[], DtlsConfiguration]
    make_peer: Callable[[], ScriptedPeer]
    alphabet: tuple[Input, ...]
    valid: tuple[Input, ...]
    "A valid handshake from the peer's side, which the IUT must complete."
    endpoint: bool = False
    "The IUT is a ``DtlsEndpoint`` with this configuration instead of a connection."


def _server_requiring_certificates() -> DtlsConfiguration:
    return client_auth_configs()[1]


def _client_with_certificate() -> DtlsConfiguration:
    return client_auth_configs()[0]


def word(alphabet: type[ClientInput] | type[ServerInput], names: str) -> tuple[Input, ...]:
    """Inputs by name: ``word(ClientInput, "CLIENT_HELLO FINISHED")``."""
    return tuple(alphabet[name] for name in names.split())


ROLES = {
    role.name: role
    for role in (
        Role(
            "server",
            server_config,
            lambda: ScriptedClient(certificate_required=False),
            tuple(ClientInput),
            word(
                ClientInput,
                "CLIENT_HELLO CLIENT_HELLO_WITH_COOKIE CLIENT_KEY_EXCHANGE CHANGE_CIPHER_SPEC "
                "FINISHED APPLICATION_DATA_1",
            ),
        ),
        Role(
            "endpoint",
            server_config,
            lambda: ScriptedClient(certificate_required=False),
            tuple(ClientInput),
            word(
                ClientInput,
                "CLIENT_HELLO CLIENT_HELLO_WITH_COOKIE CLIENT_KEY_EXCHANGE CHANGE_CIPHER_SPEC "
                "FINISHED APPLICATION_DATA_1",
            ),
            endpoint=True,
        ),
        Role(
            "server-requiring-client-certificates",
            _server_requiring_certificates,
            lambda: ScriptedClient(certificate_required=True),
            tuple(ClientInput),
            word(
                ClientInput,
                "CLIENT_HELLO CLIENT_HELLO_WITH_COOKIE CERTIFICATE CLIENT_KEY_EXCHANGE "
                "CERTIFICATE_VERIFY CHANGE_CIPHER_SPEC FINISHED APPLICATION_DATA_1",
            ),
        ),
        Role(
            "client",
            client_config,
            ScriptedServer,
            tuple(ServerInput),
            word(
                ServerInput,
                "HELLO_VERIFY_REQUEST SERVER_HELLO CERTIFICATE SERVER_KEY_EXCHANGE "
                "SERVER_HELLO_DONE CHANGE_CIPHER_SPEC FINISHED APPLICATION_DATA_1",
            ),
        ),
        Role(
            "client-with-certificate",
            _client_with_certificate,
            ScriptedServer,
            tuple(ServerInput),
            word(
                ServerInput,
                "SERVER_HELLO CERTIFICATE SERVER_KEY_EXCHANGE CERTIFICATE_REQUEST "
                "SERVER_HELLO_DONE CHANGE_CIPHER_SPEC FINISHED APPLICATION_DATA_1",
            ),
        ),
    )
}


@st.composite
def input_sequences(draw: st.DrawFn, role: Role) -> list[Input]:
    """Free words over the alphabet, or the valid handshake with a few random edits."""
    symbols = st.sampled_from(role.alphabet)
    if draw(st.booleans()):
        return draw(st.lists(symbols, max_size=MAX_INPUTS))
    word = list(role.valid)
    for _ in range(draw(st.integers(0, 3))):
        edit = draw(st.sampled_from(["insert", "delete", "replace", "swap", "duplicate"]))
        at = draw(st.integers(0, max(len(word) - 1, 0)))
        if edit == "insert":
            word.insert(at, draw(symbols))
        elif not word:
            continue
        elif edit == "delete":
            del word[at]
        elif edit == "replace":
            word[at] = draw(symbols)
        elif edit == "swap" and at + 1 < len(word):
            word[at], word[at + 1] = word[at + 1], word[at]
        elif edit == "duplicate":
            word.insert(at, word[at])
    return word[: MAX_INPUTS + 4]


# -- the tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_the_valid_handshake_completes_and_delivers(role: str) -> None:
    # The scripted peer is sound: its valid word completes, keys agree, data flows once.
    run = run_sequence(ROLES[role], ROLES[role].valid)
    assert run.state == ConnectionState.ESTABLISHED, "\n".join(run.log)
    assert [type(e) for _, e in run.events] == [HandshakeCompleted, DataReceived]


INVALID_WORDS = [
    # X9: Finished in epoch 0 (no ChangeCipherSpec), and Finished before the key exchange.
    ("server", "CLIENT_HELLO CLIENT_HELLO_WITH_COOKIE CLIENT_KEY_EXCHANGE FINISHED"),
    ("server", "CLIENT_HELLO CLIENT_HELLO_WITH_COOKIE CHANGE_CIPHER_SPEC FINISHED"),
    # X15: a made-up cookie.
    ("server", "CLIENT_HELLO_WITH_COOKIE CLIENT_KEY_EXCHANGE CHANGE_CIPHER_SPEC FINISHED"),
    # X11: no Certificate, an empty one, no CertificateVerify.
    (
        "server-requiring-client-certificates",
        "CLIENT_HELLO CLIENT_HELLO_WITH_COOKIE CLIENT_KEY_EXCHANGE CHANGE_CIPHER_SPEC FINISHED",
    ),
    (
        "server-requiring-client-certificates",
        "CLIENT_HELLO CLIENT_HELLO_WITH_COOKIE EMPTY_CERTIFICATE CLIENT_KEY_EXCHANGE "
        "CHANGE_CIPHER_SPEC FINISHED",
    ),
    (
        "server-requiring-client-certificates",
        "CLIENT_HELLO CLIENT_HELLO_WITH_COOKIE CERTIFICATE CLIENT_KEY_EXCHANGE CHANGE_CIPHER_SPEC "
        "FINISHED",
    ),
    # X11: a server that skips its Certificate, or signs with another key.
    ("client", "SERVER_HELLO SERVER_KEY_EXCHANGE SERVER_HELLO_DONE CHANGE_CIPHER_SPEC FINISHED"),
    (
        "client",
        "SERVER_HELLO CERTIFICATE WRONGLY_SIGNED_SERVER_KEY_EXCHANGE SERVER_HELLO_DONE "
        "CHANGE_CIPHER_SPEC FINISHED",
    ),
    # X9, X22: application data around a wrong Finished.
    (
        "client",
        "SERVER_HELLO CERTIFICATE SERVER_KEY_EXCHANGE SERVER_HELLO_DONE CHANGE_CIPHER_SPEC "
        "APPLICATION_DATA_1 WRONG_FINISHED APPLICATION_DATA_1",
    ),
]


@pytest.mark.parametrize(("role", "names"), INVALID_WORDS)
def test_invalid_handshakes_never_complete(role: str, names: str) -> None:
    # X9, X11: fixed words from the catalogue; the fuzz below explores the rest.
    alphabet = ServerInput if ROLES[role].alphabet[0] in ServerInput else ClientInput
    run = run_sequence(ROLES[role], word(alphabet, names))
    assert not any(isinstance(e, HandshakeCompleted | DataReceived) for _, e in run.events), (
        "\n".join(run.log)
    )


def _outcome(run: Run) -> str:
    terminated = next((e for _, e in run.events if isinstance(e, ConnectionTerminated)), None)
    prefix = "completed, " if run.completed else ""
    if terminated is None:
        return prefix + (run.state.value if run.state is not None else "no connection")
    if terminated.alert is None:
        return prefix + ("timeout" if "timed out" in terminated.reason else terminated.reason)
    return f"{prefix}{'received' if terminated.by_peer else 'sent'} {terminated.alert.name}"


def _fuzz(role: Role, examples: int) -> None:
    @settings(
        max_examples=examples,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(inputs=input_sequences(role))
    def fuzz(inputs: list[Input]) -> None:
        run = run_sequence(role, inputs)
        # For --hypothesis-show-statistics: how deep the words got.
        hypothesis.event(f"IUT outcome: {_outcome(run)}")

    fuzz()


@pytest.mark.parametrize("role", ROLES)
def test_state_fuzz(role: str) -> None:
    # X8-X12, X22: random words of valid and invalid inputs, moderate budget.
    _fuzz(ROLES[role], DEFAULT_EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize("role", ROLES)
def test_state_fuzz_large_budget(role: str) -> None:
    # X8-X12, X22: the same, with a large budget.
    _fuzz(ROLES[role], SLOW_EXAMPLES)
