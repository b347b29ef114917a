"""DTLS 1.3's message and extension codecs (``handshake/messages/tls13.py``) and the 1.2 hello
codecs reading 1.3 hellos.

The proof of byte-exactness is RFC 8448 (TLS 1.3 example traces): its messages are decoded,
re-encoded, framed with ``transcript_message`` and hashed, and the hashes must equal the
transcript hashes the RFC prints; a mistake in a codec, in the framing or in the copied hex
would change them. RFC 8448's hellos are TLS ones, without DTLS's legacy_cookie byte, so the
tests insert an empty cookie to read them with the DTLS ClientHello codec and take it out again
for the transcript. The rest: round trips (hypothesis), truncations, trailing bytes and the
floors the RFC's vector bounds set. SPEC: V1 (the 1.3 handshake's messages), V3 (HRR cookie).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from hypothesis import given, settings
from hypothesis import strategies as st

from aiodtls.alerts import Alert, AlertIllegalParameter
from aiodtls.buffer import BufferReadError
from aiodtls.handshake.keyschedule13 import KeySchedule13
from aiodtls.handshake.messages import (
    DOWNGRADE_TLS11,
    DOWNGRADE_TLS12,
    EXT_COOKIE,
    EXT_EARLY_DATA,
    EXT_KEY_SHARE,
    EXT_PRE_SHARED_KEY,
    EXT_PSK_KEY_EXCHANGE_MODES,
    EXT_SERVER_NAME,
    EXT_SIGNATURE_ALGORITHMS,
    EXT_SUPPORTED_GROUPS,
    EXT_SUPPORTED_VERSIONS,
    HELLO_RETRY_REQUEST_RANDOM,
    Certificate13,
    CertificateEntry,
    CertificateRequest13,
    ClientHello,
    ConnectionIdUsage,
    EncryptedExtensions,
    Extensions,
    ExtensionType,
    HandshakeType,
    KeyShareEntry,
    KeyUpdateRequest,
    NewConnectionId,
    NewSessionTicket13,
    OfferedPsks,
    PskIdentity,
    PskKeyExchangeMode,
    ServerHello,
    decode_ack,
    decode_certificate13,
    decode_certificate_authorities,
    decode_certificate_request13,
    decode_certificate_verify,
    decode_client_hello,
    decode_cookie_extension,
    decode_early_data_ticket,
    decode_encrypted_extensions,
    decode_key_share_client,
    decode_key_share_hello_retry,
    decode_key_share_server,
    decode_key_update,
    decode_new_connection_id,
    decode_new_session_ticket13,
    decode_offered_psks,
    decode_psk_key_exchange_modes,
    decode_request_connection_id,
    decode_selected_psk,
    decode_server_hello,
    decode_server_name,
    decode_supported_versions_client,
    decode_supported_versions_server,
    decode_uint16_list,
    encode_ack,
    encode_certificate13,
    encode_certificate_authorities,
    encode_certificate_request13,
    encode_certificate_verify,
    encode_client_hello,
    encode_cookie_extension,
    encode_early_data_ticket,
    encode_encrypted_extensions,
    encode_key_share_client,
    encode_key_share_hello_retry,
    encode_key_share_server,
    encode_key_update,
    encode_new_connection_id,
    encode_new_session_ticket13,
    encode_offered_psks,
    encode_psk_key_exchange_modes,
    encode_request_connection_id,
    encode_selected_psk,
    encode_server_hello,
    encode_supported_versions_client,
    encode_supported_versions_server,
    find_extension,
    message_hash,
    offered_psks_binders_length,
    transcript_message,
)
from vectors13 import (
    RFC8448_BINDER_HASH,
    RFC8448_CERTIFICATE,
    RFC8448_CERTIFICATE_VERIFY,
    RFC8448_CLIENT_FINISHED,
    RFC8448_CLIENT_HELLO,
    RFC8448_CLIENT_PUBLIC,
    RFC8448_ENCRYPTED_EXTENSIONS,
    RFC8448_HASH_THROUGH_CLIENT_FINISHED,
    RFC8448_HASH_THROUGH_SERVER_FINISHED,
    RFC8448_HASH_THROUGH_SERVER_HELLO,
    RFC8448_HELLO_RETRY_REQUEST,
    RFC8448_HRR_CLIENT_HELLO_1,
    RFC8448_HRR_CLIENT_HELLO_2,
    RFC8448_HRR_HASH_THROUGH_SERVER_HELLO,
    RFC8448_HRR_SERVER_HELLO,
    RFC8448_NEW_SESSION_TICKET,
    RFC8448_RESUMED_BINDER,
    RFC8448_RESUMED_CLIENT_HELLO,
    RFC8448_RESUMED_CLIENT_HELLO_HASH,
    RFC8448_RESUMED_ENCRYPTED_EXTENSIONS,
    RFC8448_RESUMED_SERVER_HELLO,
    RFC8448_SERVER_FINISHED,
    RFC8448_SERVER_HELLO,
    RFC8448_SERVER_PUBLIC,
    WOLFSSL_HELLO_RETRY_REQUEST_DATAGRAM,
    WOLFSSL_PSK_CLIENT_HELLO_DATAGRAM,
    unhex,
)

DECODE_ERRORS = (BufferReadError, Alert)

TLS13 = 0x0304
DTLS13 = 0xFEFC
X25519 = 0x001D
SECP256R1 = 0x0017
RSA_PSS_RSAE_SHA256 = 0x0804


def split_message(message: bytes) -> tuple[int, bytes]:
    """A whole TLS handshake message -> (type, body), its 3-byte length checked."""
    assert int.from_bytes(message[1:4], "big") == len(message) - 4
    return message[0], message[4:]


def dtls_client_hello(tls_body: bytes) -> ClientHello:
    """Read a TLS ClientHello body with the DTLS codec: an empty legacy_cookie goes in after
    legacy_session_id."""
    cookie_at = 35 + tls_body[34]
    return decode_client_hello(tls_body[:cookie_at] + b"\x00" + tls_body[cookie_at:])


def tls_client_hello(hello: ClientHello) -> bytes:
    """The TLS ClientHello body of a DTLS ClientHello with an empty cookie."""
    assert hello.cookie == b""
    body = encode_client_hello(hello)
    cookie_at = 35 + len(hello.session_id)
    assert body[cookie_at] == 0
    return body[:cookie_at] + body[cookie_at + 1 :]


def extension(extensions: Extensions, ext_type: int) -> bytes:
    body = find_extension(extensions, ext_type)
    assert body is not None, ext_type
    return body


def sha256(*messages: bytes) -> str:
    return hashlib.sha256(b"".join(messages)).hexdigest()


# -- The vocabulary ----------------------------------------------------------------------------


def test_handshake_types_of_dtls13() -> None:
    """RFC 8446 §4 and RFC 9147 §5.2's HandshakeType numbers."""
    assert [
        HandshakeType.end_of_early_data,
        HandshakeType.encrypted_extensions,
        HandshakeType.request_connection_id,
        HandshakeType.new_connection_id,
        HandshakeType.key_update,
        HandshakeType.message_hash,
    ] == [5, 8, 9, 10, 24, 254]


def test_extension_types_of_tls13() -> None:
    """RFC 8446 §4.2's ExtensionType numbers."""
    assert [
        ExtensionType.pre_shared_key,
        ExtensionType.early_data,
        ExtensionType.supported_versions,
        ExtensionType.cookie,
        ExtensionType.psk_key_exchange_modes,
        ExtensionType.certificate_authorities,
        ExtensionType.post_handshake_auth,
        ExtensionType.signature_algorithms_cert,
        ExtensionType.key_share,
    ] == [41, 42, 43, 44, 45, 47, 49, 50, 51]


def test_hello_retry_request_random_and_downgrade_sentinels() -> None:
    """RFC 8446 §4.1.3's fixed values."""
    assert (
        unhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
        == HELLO_RETRY_REQUEST_RANDOM
    )
    assert unhex("444f574e47524401") == DOWNGRADE_TLS12
    assert unhex("444f574e47524400") == DOWNGRADE_TLS11


def test_transcript_message_and_message_hash() -> None:
    """type || uint24 length || body; message_hash = 254, 00 00 Hash.length, Hash(CH1)."""
    assert (
        transcript_message(HandshakeType.finished, b"\xaa" * 3) == b"\x14\x00\x00\x03\xaa\xaa\xaa"
    )
    ch1 = transcript_message(HandshakeType.client_hello, b"hello")
    assert message_hash(hashes.SHA256(), ch1) == b"\xfe\x00\x00\x20" + hashlib.sha256(ch1).digest()
    assert message_hash(hashes.SHA384(), ch1) == b"\xfe\x00\x00\x30" + hashlib.sha384(ch1).digest()


# -- RFC 8448, byte-exact ----------------------------------------------------------------------


def test_rfc8448_client_hello_extensions() -> None:
    """RFC 8448 §3's ClientHello through the DTLS codec and the 1.3 extension codecs (V1)."""
    msg_type, body = split_message(RFC8448_CLIENT_HELLO)
    assert msg_type == HandshakeType.client_hello
    hello = dtls_client_hello(body)
    assert hello.cipher_suites == [0x1301, 0x1303, 0x1302]
    assert tls_client_hello(hello) == body
    exts = hello.extensions
    assert decode_supported_versions_client(extension(exts, EXT_SUPPORTED_VERSIONS)) == [TLS13]
    assert decode_key_share_client(extension(exts, EXT_KEY_SHARE)) == [
        KeyShareEntry(X25519, RFC8448_CLIENT_PUBLIC)
    ]
    modes = decode_psk_key_exchange_modes(extension(exts, EXT_PSK_KEY_EXCHANGE_MODES))
    assert modes == [PskKeyExchangeMode.psk_dhe_ke]
    assert decode_server_name(extension(exts, EXT_SERVER_NAME)) == "server"
    assert decode_uint16_list(extension(exts, EXT_SUPPORTED_GROUPS))[:2] == [X25519, SECP256R1]
    assert RSA_PSS_RSAE_SHA256 in decode_uint16_list(extension(exts, EXT_SIGNATURE_ALGORITHMS))
    # each 1.3 body re-encodes to the RFC's bytes
    assert encode_supported_versions_client([TLS13]) == extension(exts, EXT_SUPPORTED_VERSIONS)
    assert encode_key_share_client([KeyShareEntry(X25519, RFC8448_CLIENT_PUBLIC)]) == extension(
        exts, EXT_KEY_SHARE
    )
    assert encode_psk_key_exchange_modes(modes) == extension(exts, EXT_PSK_KEY_EXCHANGE_MODES)


def test_rfc8448_server_hello_extensions() -> None:
    """RFC 8448 §3's ServerHello: supported_versions and key_share read by the 1.2 hello codec
    and the 1.3 extension codecs."""
    msg_type, body = split_message(RFC8448_SERVER_HELLO)
    assert msg_type == HandshakeType.server_hello
    hello = decode_server_hello(body)
    assert (hello.cipher_suite, hello.compression_method) == (0x1301, 0)
    assert encode_server_hello(hello) == body
    assert [ext_type for ext_type, _ in hello.extensions] == [EXT_KEY_SHARE, EXT_SUPPORTED_VERSIONS]
    key_share = extension(hello.extensions, EXT_KEY_SHARE)
    assert decode_key_share_server(key_share) == KeyShareEntry(X25519, RFC8448_SERVER_PUBLIC)
    assert encode_key_share_server(KeyShareEntry(X25519, RFC8448_SERVER_PUBLIC)) == key_share
    versions = extension(hello.extensions, EXT_SUPPORTED_VERSIONS)
    assert decode_supported_versions_server(versions) == TLS13
    assert encode_supported_versions_server(TLS13) == versions


def test_rfc8448_server_flight_bodies() -> None:
    """EncryptedExtensions, Certificate and CertificateVerify of RFC 8448 §3, decoded."""
    _, ee_body = split_message(RFC8448_ENCRYPTED_EXTENSIONS)
    ee = decode_encrypted_extensions(ee_body)
    assert [ext_type for ext_type, _ in ee.extensions] == [
        EXT_SUPPORTED_GROUPS,
        28,
        EXT_SERVER_NAME,
    ]
    assert extension(ee.extensions, EXT_SERVER_NAME) == b""  # the server's ack of SNI
    _, cert_body = split_message(RFC8448_CERTIFICATE)
    certificate = decode_certificate13(cert_body)
    assert certificate.context == b""
    assert len(certificate.entries) == 1
    assert certificate.entries[0].extensions == []
    assert certificate.entries[0].data[:4] == b"\x30\x82\x01\xac"  # a 432-byte DER SEQUENCE
    assert len(certificate.entries[0].data) == 0x1B0
    _, cv_body = split_message(RFC8448_CERTIFICATE_VERIFY)
    verify = decode_certificate_verify(cv_body)
    assert verify.signature_scheme == RSA_PSS_RSAE_SHA256
    assert len(verify.signature) == 128


def test_rfc8448_transcript_hashes() -> None:
    """The proof: every message of RFC 8448 §3 decoded, re-encoded and framed with
    transcript_message gives the RFC's transcript hashes (V1)."""
    _, ch = split_message(RFC8448_CLIENT_HELLO)
    _, sh = split_message(RFC8448_SERVER_HELLO)
    _, ee = split_message(RFC8448_ENCRYPTED_EXTENSIONS)
    _, cert = split_message(RFC8448_CERTIFICATE)
    _, cv = split_message(RFC8448_CERTIFICATE_VERIFY)
    _, server_finished = split_message(RFC8448_SERVER_FINISHED)
    _, client_finished = split_message(RFC8448_CLIENT_FINISHED)
    transcript = [
        transcript_message(HandshakeType.client_hello, tls_client_hello(dtls_client_hello(ch))),
        transcript_message(
            HandshakeType.server_hello, encode_server_hello(decode_server_hello(sh))
        ),
    ]
    assert sha256(*transcript) == RFC8448_HASH_THROUGH_SERVER_HELLO
    transcript += [
        transcript_message(
            HandshakeType.encrypted_extensions,
            encode_encrypted_extensions(decode_encrypted_extensions(ee)),
        ),
        transcript_message(
            HandshakeType.certificate, encode_certificate13(decode_certificate13(cert))
        ),
        transcript_message(
            HandshakeType.certificate_verify,
            encode_certificate_verify(decode_certificate_verify(cv)),
        ),
        transcript_message(HandshakeType.finished, server_finished),
    ]
    assert sha256(*transcript) == RFC8448_HASH_THROUGH_SERVER_FINISHED
    transcript.append(transcript_message(HandshakeType.finished, client_finished))
    assert sha256(*transcript) == RFC8448_HASH_THROUGH_CLIENT_FINISHED


def test_rfc8448_new_session_ticket() -> None:
    """RFC 8448 §3's NewSessionTicket: lifetime 30 s, nonce 00 00, early_data 1024; its ticket
    is the identity the §4 ClientHello offers."""
    msg_type, body = split_message(RFC8448_NEW_SESSION_TICKET)
    assert msg_type == HandshakeType.new_session_ticket
    ticket = decode_new_session_ticket13(body)
    assert (ticket.lifetime, ticket.age_add, ticket.nonce) == (30, 0xFAD6AAC5, b"\x00\x00")
    assert len(ticket.ticket) == 0xB2
    assert decode_early_data_ticket(extension(ticket.extensions, EXT_EARLY_DATA)) == 1024
    assert encode_early_data_ticket(1024) == extension(ticket.extensions, EXT_EARLY_DATA)
    assert encode_new_session_ticket13(ticket) == body
    _, resumed = split_message(RFC8448_RESUMED_CLIENT_HELLO)
    offered = decode_offered_psks(
        extension(dtls_client_hello(resumed).extensions, EXT_PRE_SHARED_KEY)
    )
    assert offered.identities[0].identity == ticket.ticket


def test_rfc8448_resumed_client_hello_pre_shared_key() -> None:
    """RFC 8448 §4: pre_shared_key is last, one identity and one binder; the binder transcript
    is the ClientHello less offered_psks_binders_length bytes, whose hash the RFC prints."""
    msg_type, body = split_message(RFC8448_RESUMED_CLIENT_HELLO)
    assert msg_type == HandshakeType.client_hello
    hello = dtls_client_hello(body)
    assert tls_client_hello(hello) == body
    ext_type, psk_body = hello.extensions[-1]
    assert ext_type == EXT_PRE_SHARED_KEY
    offered = decode_offered_psks(psk_body)
    assert offered.identities == [PskIdentity(offered.identities[0].identity, 0xFAD6AACB)]
    assert offered.binders == [RFC8448_RESUMED_BINDER]
    assert encode_offered_psks(offered) == psk_body
    cut = offered_psks_binders_length(offered.binders)
    assert cut == 35
    assert sha256(RFC8448_RESUMED_CLIENT_HELLO[:-cut]) == RFC8448_BINDER_HASH
    assert sha256(RFC8448_RESUMED_CLIENT_HELLO) == RFC8448_RESUMED_CLIENT_HELLO_HASH
    assert extension(hello.extensions, EXT_EARLY_DATA) == b""


def test_rfc8448_resumed_server_hello_and_encrypted_extensions() -> None:
    """RFC 8448 §4: the server selects identity 0 and accepts early data."""
    _, body = split_message(RFC8448_RESUMED_SERVER_HELLO)
    hello = decode_server_hello(body)
    assert encode_server_hello(hello) == body
    assert decode_selected_psk(extension(hello.extensions, EXT_PRE_SHARED_KEY)) == 0
    assert encode_selected_psk(0) == extension(hello.extensions, EXT_PRE_SHARED_KEY)
    assert decode_key_share_server(extension(hello.extensions, EXT_KEY_SHARE)).group == X25519
    _, ee_body = split_message(RFC8448_RESUMED_ENCRYPTED_EXTENSIONS)
    ee = decode_encrypted_extensions(ee_body)
    assert extension(ee.extensions, EXT_EARLY_DATA) == b""
    assert encode_encrypted_extensions(ee) == ee_body


def test_rfc8448_hello_retry_request_and_message_hash() -> None:
    """RFC 8448 §5: the HelloRetryRequest (a ServerHello with the fixed random) asks for
    secp256r1 with a cookie; the second ClientHello echoes the cookie; message_hash standing
    for ClientHello1 gives the RFC's hash through the ServerHello (V3)."""
    _, ch1 = split_message(RFC8448_HRR_CLIENT_HELLO_1)
    _, hrr_body = split_message(RFC8448_HELLO_RETRY_REQUEST)
    _, ch2 = split_message(RFC8448_HRR_CLIENT_HELLO_2)
    _, sh = split_message(RFC8448_HRR_SERVER_HELLO)
    hrr = decode_server_hello(hrr_body)
    assert hrr.random == HELLO_RETRY_REQUEST_RANDOM
    assert decode_key_share_hello_retry(extension(hrr.extensions, EXT_KEY_SHARE)) == SECP256R1
    assert encode_key_share_hello_retry(SECP256R1) == extension(hrr.extensions, EXT_KEY_SHARE)
    assert (
        decode_supported_versions_server(extension(hrr.extensions, EXT_SUPPORTED_VERSIONS)) == TLS13
    )
    cookie = decode_cookie_extension(extension(hrr.extensions, EXT_COOKIE))
    assert len(cookie) == 0x72
    assert encode_cookie_extension(cookie) == extension(hrr.extensions, EXT_COOKIE)
    hello2 = dtls_client_hello(ch2)
    assert decode_cookie_extension(extension(hello2.extensions, EXT_COOKIE)) == cookie
    [share] = decode_key_share_client(extension(hello2.extensions, EXT_KEY_SHARE))
    assert (share.group, len(share.key_exchange), share.key_exchange[0]) == (SECP256R1, 65, 4)
    first = transcript_message(HandshakeType.client_hello, tls_client_hello(dtls_client_hello(ch1)))
    transcript = [
        message_hash(hashes.SHA256(), first),
        transcript_message(HandshakeType.server_hello, encode_server_hello(hrr)),
        transcript_message(HandshakeType.client_hello, tls_client_hello(hello2)),
        transcript_message(
            HandshakeType.server_hello, encode_server_hello(decode_server_hello(sh))
        ),
    ]
    assert sha256(*transcript) == RFC8448_HRR_HASH_THROUGH_SERVER_HELLO


def wolfssl_example_psk() -> bytes:
    """The external PSK wolfSSL's examples use for (D)TLS 1.3 (``wolfssl/test.h``)."""
    key, value = [], 0x01
    for _ in range(32):
        if value >= 0x100:
            value = 0x01
        key.append(value)
        value += 0x22
    return bytes(key)


def handshake_in_datagram(datagram: bytes) -> tuple[int, int, bytes]:
    """The one epoch-0 record of ``datagram`` holding one whole handshake message:
    (msg_type, message_seq, body)."""
    assert datagram[0] == 22 and datagram[1:3] == b"\xfe\xfd"
    assert int.from_bytes(datagram[11:13], "big") == len(datagram) - 13
    header, body = datagram[13:25], datagram[25:]
    length = int.from_bytes(header[1:4], "big")
    assert header[6:9] == b"\x00\x00\x00" and int.from_bytes(header[9:12], "big") == length
    assert length == len(body)
    return header[0], int.from_bytes(header[4:6], "big"), body


def test_wolfssl_dtls13_client_hello_and_its_psk_binder() -> None:
    """A real DTLS 1.3 ClientHello (wolfSSL) through the 1.2 hello codec and the 1.3 extension
    codecs; its binder verifies over transcript_message(ClientHello) less
    offered_psks_binders_length: DTLS 1.3 hashes the TLS framing (RFC 9147 §5.2) (V1)."""
    msg_type, message_seq, body = handshake_in_datagram(WOLFSSL_PSK_CLIENT_HELLO_DATAGRAM)
    assert (msg_type, message_seq) == (HandshakeType.client_hello, 0)
    hello = decode_client_hello(body)
    assert encode_client_hello(hello) == body
    assert (hello.client_version, hello.session_id, hello.cookie) == (0xFEFD, b"", b"")
    exts = hello.extensions
    assert decode_supported_versions_client(extension(exts, EXT_SUPPORTED_VERSIONS)) == [DTLS13]
    modes = decode_psk_key_exchange_modes(extension(exts, EXT_PSK_KEY_EXCHANGE_MODES))
    assert modes == [PskKeyExchangeMode.psk_ke, PskKeyExchangeMode.psk_dhe_ke]
    shares = decode_key_share_client(extension(exts, EXT_KEY_SHARE))
    assert [(share.group, len(share.key_exchange)) for share in shares] == [
        (SECP256R1, 65),
        (0x0100, 256),  # ffdhe2048
    ]
    ext_type, psk_body = exts[-1]
    assert ext_type == EXT_PRE_SHARED_KEY
    offered = decode_offered_psks(psk_body)
    assert offered.identities == [PskIdentity(b"Client_identitySHA256", 0)]
    schedule = KeySchedule13(hashes.SHA256(), psk=wolfssl_example_psk())
    whole = transcript_message(HandshakeType.client_hello, body)
    truncated = whole[: -offered_psks_binders_length(offered.binders)]
    binder = schedule.binder(
        external=True, truncated_client_hello_hash=hashlib.sha256(truncated).digest()
    )
    assert offered.binders == [binder]


def test_wolfssl_dtls13_hello_retry_request() -> None:
    """wolfSSL's HelloRetryRequest: legacy_version 0xFEFD, the fixed random, supported_versions
    0xFEFC and a cookie; no key_share when the offered group suits it (V3)."""
    msg_type, message_seq, body = handshake_in_datagram(WOLFSSL_HELLO_RETRY_REQUEST_DATAGRAM)
    assert (msg_type, message_seq) == (HandshakeType.server_hello, 0)
    hrr = decode_server_hello(body)
    assert encode_server_hello(hrr) == body
    assert (hrr.server_version, hrr.random, hrr.cipher_suite) == (
        0xFEFD,
        HELLO_RETRY_REQUEST_RANDOM,
        0x1301,
    )
    assert [ext_type for ext_type, _ in hrr.extensions] == [EXT_SUPPORTED_VERSIONS, EXT_COOKIE]
    versions = extension(hrr.extensions, EXT_SUPPORTED_VERSIONS)
    assert decode_supported_versions_server(versions) == DTLS13
    cookie = decode_cookie_extension(extension(hrr.extensions, EXT_COOKIE))
    assert encode_cookie_extension(cookie) == extension(hrr.extensions, EXT_COOKIE)


# -- 1.2 hello codecs on DTLS 1.3 hellos ------------------------------------------------------


def test_dtls13_client_hello_with_empty_cookie_through_the_12_codec() -> None:
    """A DTLS 1.3 ClientHello (legacy_version 0xFEFD, empty legacy_cookie, 1.3 suites and
    extensions, pre_shared_key last) round-trips through the 1.2 codec, order kept."""
    offered = OfferedPsks([PskIdentity(b"id", 0)], [b"\x11" * 32])
    hello = ClientHello(
        0xFEFD,
        b"\x01" * 32,
        b"",
        b"",
        [0x1301, 0x1302],
        b"\x00",
        [
            (EXT_SUPPORTED_VERSIONS, encode_supported_versions_client([DTLS13, 0xFEFD])),
            (EXT_KEY_SHARE, encode_key_share_client([KeyShareEntry(X25519, b"\x02" * 32)])),
            (EXT_COOKIE, encode_cookie_extension(b"c" * 40)),
            (EXT_PSK_KEY_EXCHANGE_MODES, encode_psk_key_exchange_modes([1])),
            (EXT_PRE_SHARED_KEY, encode_offered_psks(offered)),
        ],
    )
    body = encode_client_hello(hello)
    assert decode_client_hello(body) == hello
    assert body.endswith(b"\x00\x21\x20" + b"\x11" * 32)
    assert offered_psks_binders_length(offered.binders) == 35
    versions = decode_supported_versions_client(extension(hello.extensions, EXT_SUPPORTED_VERSIONS))
    assert versions == [DTLS13, 0xFEFD]


def test_dtls13_server_hello_and_hello_retry_request_through_the_12_codec() -> None:
    """ServerHello and HelloRetryRequest with supported_versions/key_share/cookie."""
    extension_lists: list[Extensions] = [
        [
            (EXT_SUPPORTED_VERSIONS, encode_supported_versions_server(DTLS13)),
            (EXT_KEY_SHARE, encode_key_share_server(KeyShareEntry(SECP256R1, b"\x04" * 65))),
        ],
        [
            (EXT_SUPPORTED_VERSIONS, encode_supported_versions_server(DTLS13)),
            (EXT_KEY_SHARE, encode_key_share_hello_retry(X25519)),
            (EXT_COOKIE, encode_cookie_extension(b"k" * 100)),
        ],
    ]
    for extensions in extension_lists:
        hello = ServerHello(0xFEFD, HELLO_RETRY_REQUEST_RANDOM, b"", 0x1301, 0, extensions)
        assert decode_server_hello(encode_server_hello(hello)) == hello


# -- Round trips ------------------------------------------------------------------------------

u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, 2**64 - 1)
extensions_st = st.lists(
    st.tuples(u16, st.binary(max_size=12)), max_size=4, unique_by=lambda e: e[0]
)
share_st = st.builds(KeyShareEntry, u16, st.binary(min_size=1, max_size=70))

ROUND_TRIPS: list[
    tuple[str, st.SearchStrategy[Any], Callable[[Any], bytes], Callable[[bytes], Any]]
] = [
    (
        "supported_versions_client",
        st.lists(u16, min_size=1, max_size=127),
        encode_supported_versions_client,
        decode_supported_versions_client,
    ),
    (
        "supported_versions_server",
        u16,
        encode_supported_versions_server,
        decode_supported_versions_server,
    ),
    (
        "key_share_client",
        st.lists(share_st, max_size=4, unique_by=lambda e: e.group),
        encode_key_share_client,
        decode_key_share_client,
    ),
    ("key_share_server", share_st, encode_key_share_server, decode_key_share_server),
    ("key_share_hello_retry", u16, encode_key_share_hello_retry, decode_key_share_hello_retry),
    (
        "cookie",
        st.binary(min_size=1, max_size=300),
        encode_cookie_extension,
        decode_cookie_extension,
    ),
    (
        "psk_key_exchange_modes",
        st.lists(st.integers(0, 255), min_size=1, max_size=5),
        encode_psk_key_exchange_modes,
        decode_psk_key_exchange_modes,
    ),
    (
        "offered_psks",
        st.integers(1, 3).flatmap(
            lambda n: st.builds(
                OfferedPsks,
                st.lists(
                    st.builds(PskIdentity, st.binary(min_size=1, max_size=40), u32),
                    min_size=n,
                    max_size=n,
                ),
                st.lists(st.binary(min_size=32, max_size=48), min_size=n, max_size=n),
            )
        ),
        encode_offered_psks,
        decode_offered_psks,
    ),
    ("selected_psk", u16, encode_selected_psk, decode_selected_psk),
    (
        "certificate_authorities",
        st.lists(st.binary(min_size=1, max_size=30), min_size=1, max_size=3),
        encode_certificate_authorities,
        decode_certificate_authorities,
    ),
    ("early_data_ticket", u32, encode_early_data_ticket, decode_early_data_ticket),
    (
        "encrypted_extensions",
        st.builds(EncryptedExtensions, extensions_st),
        encode_encrypted_extensions,
        decode_encrypted_extensions,
    ),
    (
        "certificate_request13",
        st.builds(
            CertificateRequest13,
            st.binary(max_size=8),
            st.lists(
                st.tuples(u16, st.binary(max_size=12)),
                min_size=1,
                max_size=4,
                unique_by=lambda e: e[0],
            ),
        ),
        encode_certificate_request13,
        decode_certificate_request13,
    ),
    (
        "certificate13",
        st.builds(
            Certificate13,
            st.binary(max_size=8),
            st.lists(
                st.builds(CertificateEntry, st.binary(min_size=1, max_size=60), extensions_st),
                max_size=3,
            ),
        ),
        encode_certificate13,
        decode_certificate13,
    ),
    (
        "new_session_ticket13",
        st.builds(
            NewSessionTicket13,
            u32,
            u32,
            st.binary(max_size=8),
            st.binary(min_size=1, max_size=60),
            extensions_st,
        ),
        encode_new_session_ticket13,
        decode_new_session_ticket13,
    ),
    ("key_update", st.sampled_from(KeyUpdateRequest), encode_key_update, decode_key_update),
    ("ack", st.lists(st.tuples(u64, u64), max_size=6), encode_ack, decode_ack),
    (
        "request_connection_id",
        st.integers(0, 255),
        encode_request_connection_id,
        decode_request_connection_id,
    ),
    (
        "new_connection_id",
        st.builds(
            NewConnectionId, st.lists(st.binary(max_size=20), max_size=4), st.integers(0, 255)
        ),
        encode_new_connection_id,
        decode_new_connection_id,
    ),
]
ROUND_TRIP_IDS = [name for name, *_ in ROUND_TRIPS]


@pytest.mark.parametrize(("name", "strategy", "encode", "decode"), ROUND_TRIPS, ids=ROUND_TRIP_IDS)
@given(data=st.data())
@settings(max_examples=40, deadline=None)
def test_round_trip(
    name: str,
    strategy: st.SearchStrategy[Any],
    encode: Callable[[Any], bytes],
    decode: Callable[[bytes], Any],
    data: st.DataObject,
) -> None:
    """decode(encode(x)) == x, and the encoding is canonical."""
    value = data.draw(strategy)
    body = encode(value)
    assert decode(body) == value
    assert encode(decode(body)) == body


@pytest.mark.parametrize(("name", "strategy", "encode", "decode"), ROUND_TRIPS, ids=ROUND_TRIP_IDS)
@given(data=st.data())
@settings(max_examples=25, deadline=None)
def test_truncations_and_trailing_bytes_are_refused(
    name: str,
    strategy: st.SearchStrategy[Any],
    encode: Callable[[Any], bytes],
    decode: Callable[[bytes], Any],
    data: st.DataObject,
) -> None:
    """Every strict prefix of a valid body, and the body with a byte appended, is a decode
    error: every length is checked against what contains it."""
    body = encode(data.draw(strategy))
    for end in range(len(body)):
        with pytest.raises(BufferReadError):
            decode(body[:end])
    with pytest.raises(BufferReadError):
        decode(body + data.draw(st.binary(min_size=1, max_size=3)))


@pytest.mark.parametrize(("name", "strategy", "encode", "decode"), ROUND_TRIPS, ids=ROUND_TRIP_IDS)
@given(data=st.data())
@settings(max_examples=40, deadline=None)
def test_mutated_bodies_raise_only_decode_errors(
    name: str,
    strategy: st.SearchStrategy[Any],
    encode: Callable[[Any], bytes],
    decode: Callable[[bytes], Any],
    data: st.DataObject,
) -> None:
    """Untrusted input: flipped bytes never raise anything but BufferReadError or an Alert."""
    mutated = bytearray(encode(data.draw(strategy)))
    if mutated:
        position = data.draw(st.integers(0, len(mutated) - 1))
        mutated[position] ^= data.draw(st.integers(1, 255))
    with contextlib.suppress(*DECODE_ERRORS):
        decode(bytes(mutated))


# -- Malformed: what the RFC's vector floors and rules forbid ---------------------------------


@pytest.mark.parametrize(
    ("decode", "body"),
    [
        (decode_supported_versions_client, b"\x00"),  # versions<2..254>: none
        (decode_supported_versions_client, b"\x03\x03\x04\x00"),  # odd length
        (decode_supported_versions_server, b"\x03\x04\x00"),
        (decode_key_share_client, b"\x00\x04\x00\x1d\x00\x00"),  # key_exchange<1..>: empty
        (decode_key_share_server, b"\x00\x1d\x00\x00"),
        (decode_key_share_server, b""),
        (decode_key_share_hello_retry, b"\x00"),
        (decode_cookie_extension, b"\x00\x00"),  # cookie<1..>: empty
        (decode_psk_key_exchange_modes, b"\x00"),  # ke_modes<1..255>: empty
        (decode_offered_psks, b"\x00\x00\x00\x21\x20" + b"\x00" * 32),  # identities<7..>: none
        (
            decode_offered_psks,
            b"\x00\x06\x00\x00\x00\x00\x00\x00\x00\x21\x20" + b"\x00" * 32,
        ),  # identity<1..>
        (decode_offered_psks, b"\x00\x07\x00\x01i\x00\x00\x00\x00\x00\x00"),  # binders<33..>: none
        (
            decode_offered_psks,
            b"\x00\x07\x00\x01i\x00\x00\x00\x00\x00\x20\x1f" + b"\x00" * 31,
        ),  # binder<32..>
        (
            decode_offered_psks,
            b"\x00\x07\x00\x01i\x00\x00\x00\x00\x00\x42" + (b"\x20" + b"\x00" * 32) * 2,
        ),  # two binders, one identity
        (decode_selected_psk, b"\x00"),
        (decode_certificate_authorities, b"\x00\x00"),  # authorities<3..>: none
        (decode_certificate_authorities, b"\x00\x02\x00\x00"),  # DistinguishedName<1..>
        (decode_early_data_ticket, b"\x00\x00\x04"),
        (decode_encrypted_extensions, b""),  # the block is never omitted in 1.3
        (decode_certificate_request13, b"\x00\x00\x00"),  # extensions<2..>: empty
        (decode_certificate_request13, b"\x00"),
        (decode_certificate13, b"\x00\x00\x00\x05\x00\x00\x00\x00\x00"),  # cert_data<1..>: empty
        (decode_certificate13, b"\x00\x00\x00\x04\x00\x00\x01\xaa"),  # entry without its extensions
        (
            decode_new_session_ticket13,
            b"\x00" * 8 + b"\x00" + b"\x00\x00" + b"\x00\x00",
        ),  # ticket<1..>
        (decode_new_session_ticket13, b"\x00" * 8 + b"\x00" + b"\x00\x01t"),  # no extension block
        (decode_key_update, b""),
        (decode_key_update, b"\x00\x00"),
        (decode_ack, b"\x00\x08" + b"\x00" * 8),  # record numbers are 16 bytes
        (decode_ack, b""),
        (decode_request_connection_id, b""),
        (decode_new_connection_id, b"\x00\x00"),  # no usage byte
        (decode_new_connection_id, b"\x00\x02\x05a\x00"),  # CID past its list
    ],
)
def test_malformed_bodies(decode: Callable[[bytes], Any], body: bytes) -> None:
    """Each is a decode_error."""
    with pytest.raises(BufferReadError):
        decode(body)


def test_key_update_with_an_unknown_request_is_illegal_parameter() -> None:
    """RFC 8446 §4.6.3: any value but 0 and 1 is illegal_parameter."""
    assert decode_key_update(b"\x01") is KeyUpdateRequest.update_requested
    with pytest.raises(AlertIllegalParameter):
        decode_key_update(b"\x02")


def test_two_key_shares_for_one_group_are_illegal_parameter() -> None:
    """RFC 8446 §4.2.8: clients MUST NOT offer two KeyShareEntry values for one group."""
    body = encode_key_share_client([KeyShareEntry(X25519, b"a"), KeyShareEntry(X25519, b"b")])
    with pytest.raises(AlertIllegalParameter):
        decode_key_share_client(body)


def test_an_empty_client_key_share_list_is_allowed() -> None:
    """RFC 8446 §4.2.8: client_shares<0..2^16-1>, empty to ask for a HelloRetryRequest."""
    assert decode_key_share_client(b"\x00\x00") == []


def test_duplicate_extensions_inside_1_3_blocks_are_refused() -> None:
    """The 1.2 block rule holds in EncryptedExtensions, CertificateEntry and NewSessionTicket."""
    twice: Extensions = [(EXT_EARLY_DATA, b""), (EXT_EARLY_DATA, b"")]
    for body, decode in (
        (encode_encrypted_extensions(EncryptedExtensions(twice)), decode_encrypted_extensions),
        (
            encode_certificate13(Certificate13(b"", [CertificateEntry(b"x", twice)])),
            decode_certificate13,
        ),
        (
            encode_new_session_ticket13(NewSessionTicket13(1, 2, b"", b"t", twice)),
            decode_new_session_ticket13,
        ),
    ):
        with pytest.raises(AlertIllegalParameter):
            decode(body)


def test_empty_messages_encode_their_blocks() -> None:
    """1.3 writes an empty extension block (00 00) where 1.2 would omit it."""
    assert encode_encrypted_extensions(EncryptedExtensions()) == b"\x00\x00"
    assert encode_certificate13(Certificate13(b"", [])) == b"\x00\x00\x00\x00"
    assert encode_certificate13(Certificate13(b"", [CertificateEntry(b"x")])) == unhex(
        "00 000006 000001 78 0000"
    )
    assert encode_ack([]) == b"\x00\x00"
    assert encode_ack([(2, 5)]) == unhex("0010 0000000000000002 0000000000000005")
    assert encode_new_connection_id(NewConnectionId([b"ab"], ConnectionIdUsage.cid_spare)) == unhex(
        "0003 02 6162 01"
    )
    assert encode_key_update(KeyUpdateRequest.update_not_requested) == b"\x00"
