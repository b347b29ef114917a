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

DECODE_ERRORS = (BufferReadError, Alert)

TLS13 = 0x0304
DTLS13 = 0xFEFC
X25519 = 0x001D
SECP256R1 = 0x0017
RSA_PSS_RSAE_SHA256 = 0x0804


def unhex(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


# -- RFC 8448 §3: Simple 1-RTT Handshake (whole handshake messages, header included) ----------

RFC8448_CLIENT_HELLO = unhex(
    """
    010000c00303cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece700000613
    0113031302010000910000000b0009000006736572766572ff01000100000a00140012001d0017001800
    190100010101020103010400230000003300260024001d002099381de560e4bd43d23d8e435a7dbafeb3
    c06e51c13cae4d5413691e529aaf2c002b0003020304000d0020001e0403050306030203080408050806
    04010501060102010402050206020202002d00020101001c00024001
    """
)
RFC8448_SERVER_HELLO = unhex(
    """
    020000560303a6af06a4121860dc5e6e60249cd34c95930c8ac5cb1434dac155772ed3e2692800130100
    002e00330024001d0020c9828876112095fe66762bdbf7c672e156d6cc253b833df1dd69b1b04e751f0f
    002b00020304
    """
)
RFC8448_ENCRYPTED_EXTENSIONS = unhex(
    """
    080000240022000a00140012001d00170018001901000101010201030104001c0002400100000000
    """
)
RFC8448_CERTIFICATE = unhex(
    """
    0b0001b9000001b50001b0308201ac30820115a003020102020102300d06092a864886f70d01010b0500
    300e310c300a06035504031303727361301e170d3136303733303031323335395a170d32363037333030
    31323335395a300e310c300a0603550403130372736130819f300d06092a864886f70d01010105000381
    8d0030818902818100b4bb498f8279303d980836399b36c6988c0c68de55e1bdb826d3901a2461eafd2d
    e49a91d015abbc9a95137ace6c1af19eaa6af98c7ced43120998e187a80ee0ccb0524b1b018c3e0b6326
    4d449a6d38e22a5fda430846748030530ef0461c8ca9d9efbfae8ea6d1d03e2bd193eff0ab9a8002c474
    28a6d35a8d88d79f7f1e3f0203010001a31a301830090603551d1304023000300b0603551d0f04040302
    05a0300d06092a864886f70d01010b05000381810085aad2a0e5b9276b908c65f73a7267170618a54c5f
    8a7b337d2df7a594365417f2eae8f8a58c8f8172f9319cf36b7fd6c55b80f21a03015156726096fd335e
    5e67f2dbf102702e608ccae6bec1fc63a42a99be5c3eb7107c3c54e9b9eb2bd5203b1c3b84e0a8b2f759
    409ba3eac9d91d402dcc0cc8f8961229ac9187b42b4de10000
    """
)
RFC8448_CERTIFICATE_VERIFY = unhex(
    """
    0f000084080400805a747c5d88fa9bd2e55ab085a61015b7211f824cd484145ab3ff52f1fda8477b0b7a
    bc90db78e2d33a5c141a078653fa6bef780c5ea248eeaaa785c4f394cab6d30bbe8d4859ee511f602957
    b15411ac027671459e46445c9ea58c181e818e95b8c3fb0bf3278409d3be152a3da5043e063dda65cdf5
    aea20d53dfacd42f74f3
    """
)
RFC8448_SERVER_FINISHED = unhex(
    "140000209b9b141d906337fbd2cbdce71df4deda4ab42c309572cb7fffee5454b78f0718"
)
RFC8448_CLIENT_FINISHED = unhex(
    "14000020a8ec436d677634ae525ac1fcebe11a039ec17694fac6e98527b642f2edd5ce61"
)
RFC8448_NEW_SESSION_TICKET = unhex(
    """
    040000c90000001efad6aac502000000b22c035d829359ee5ff7af4ec900000000262a6494dc486d2c8a
    34cb33fa90bf1b0070ad3c498883c9367c09a2be785abc55cd226097a3a982117283f82a03a143efd3ff
    5dd36d64e861be7fd61d2827db279cce145077d454a3664d4e6da4d29ee03725a6a4dafcd0fc67d2aea7
    0529513e3da2677fa5906c5b3f7d8f92f228bda40dda721470f9fbf297b5aea617646fac5c03272e9707
    27c621a79141ef5f7de6505e5bfbc388e93343694093934ae4d3570008002a000400000400
    """
)
RFC8448_CLIENT_PUBLIC = unhex("99381de560e4bd43d23d8e435a7dbafeb3c06e51c13cae4d5413691e529aaf2c")
RFC8448_SERVER_PUBLIC = unhex("c9828876112095fe66762bdbf7c672e156d6cc253b833df1dd69b1b04e751f0f")
RFC8448_HASH_THROUGH_SERVER_HELLO = (
    "860c06edc07858ee8e78f0e7428c58edd6b43f2ca3e6e95f02ed063cf0e1cad8"
)
RFC8448_HASH_THROUGH_SERVER_FINISHED = (
    "9608102a0f1ccc6db6250b7b7e417b1a000eaada3daae4777a7686c9ff83df13"
)
RFC8448_HASH_THROUGH_CLIENT_FINISHED = (
    "209145a96ee8e2a122ff810047cc952684658d6049e86429426db87c54ad143d"
)

# -- RFC 8448 §4: Resumed 0-RTT Handshake ------------------------------------------------------

RFC8448_RESUMED_CLIENT_HELLO_PREFIX = unhex(
    """
    010001fc03031bc3ceb6bbe39cff938355b5a50adb6db21b7a6af649d7b4bc419d7876487d9500000613
    0113031302010001cd0000000b0009000006736572766572ff01000100000a00140012001d0017001800
    1901000101010201030104003300260024001d0020e4ffb68ac05f8d96c99da26698346c6be16482badd
    dafe051a66b4f18d668f0b002a0000002b0003020304000d0020001e0403050306030203080408050806
    04010501060102010402050206020202002d00020101001c000240010015005700000000000000000000
    000000000000000000000000000000000000000000000000000000000000000000000000000000000000
    0000000000000000000000000000000000000000000000000000000000000000000000002900dd00b800
    b22c035d829359ee5ff7af4ec900000000262a6494dc486d2c8a34cb33fa90bf1b0070ad3c498883c936
    7c09a2be785abc55cd226097a3a982117283f82a03a143efd3ff5dd36d64e861be7fd61d2827db279cce
    145077d454a3664d4e6da4d29ee03725a6a4dafcd0fc67d2aea70529513e3da2677fa5906c5b3f7d8f92
    f228bda40dda721470f9fbf297b5aea617646fac5c03272e970727c621a79141ef5f7de6505e5bfbc388
    e93343694093934ae4d357fad6aacb
    """
)
RFC8448_RESUMED_BINDER = unhex("3add4fb2d8fdf822a0ca3cf7678ef5e88dae990141c5924d57bb6fa31b9e5f9d")
RFC8448_RESUMED_CLIENT_HELLO = (
    RFC8448_RESUMED_CLIENT_HELLO_PREFIX + b"\x00\x21\x20" + RFC8448_RESUMED_BINDER
)
RFC8448_BINDER_HASH = "63224b2e4573f2d3454ca84b9d009a04f6be9e05711a8396473aefa01e924a14"
RFC8448_RESUMED_CLIENT_HELLO_HASH = (
    "08ad0fa05d7c7233b1775ba2ff9f4c5b8b59276b7f227f13a976245f5d960913"
)
RFC8448_RESUMED_SERVER_HELLO = unhex(
    """
    0200005c03033ccfd2dec890222763472ae8136777c9d7358777bb66e91ea5122495f559ea2d00130100
    003400290002000000330024001d0020121761ee42c333e1b9e77b60dd57c2053cd94512ab47f115e86e
    ff50942cea31002b00020304
    """
)
RFC8448_RESUMED_ENCRYPTED_EXTENSIONS = unhex(
    """
    080000280026000a00140012001d00170018001901000101010201030104001c0002400100000000002a
    0000
    """
)

# -- RFC 8448 §5: HelloRetryRequest (secp256r1 asked for, with a cookie) -----------------------

RFC8448_HRR_CLIENT_HELLO_1 = unhex(
    """
    010000b00303b0b1c5a5aa37c5919f2ed1d5c6fff7fcb7849716945a2b8cee9258a346677b6f00000613
    0113031302010000810000000b0009000006736572766572ff01000100000a00080006001d0017001800
    3300260024001d0020e8e8e3f3b93a25ed97a14a7dcacb8a272c6288e585c6484d05262fcad062ad1f00
    2b0003020304000d0020001e040305030603020308040805080604010501060102010402050206020202
    002d00020101001c00024001
    """
)
RFC8448_HELLO_RETRY_REQUEST = unhex(
    """
    020000ac0303cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c00130100
    0084003300020017002c0074007271dcd04bb88bc3189119398a00000000eefafc76c146b823b096f8aa
    cad365dd0030953f4edf625636e5f21bb2e23fcc654b1b5b40318d10d137abcbb87574e36e8a1f025f7d
    fa5d6e50781b5eda4aa15b0c8be778257d16aa3030e9e7841dd9e4c0342267e8ca0caf571fb2b7cff0f9
    34b0002b00020304
    """
)
RFC8448_HRR_CLIENT_HELLO_2 = unhex(
    """
    010001fc0303b0b1c5a5aa37c5919f2ed1d5c6fff7fcb7849716945a2b8cee9258a346677b6f00000613
    0113031302010001cd0000000b0009000006736572766572ff01000100000a00080006001d0017001800
    33004700450017004104a6da7392ec591e17abfd535964b99894d13befb221b3def2ebe3830eac8f0151
    812677c4d6d2237e85cf01d6910cfb83954e76ba7352830534159897e8065780002b0003020304000d00
    20001e040305030603020308040805080604010501060102010402050206020202002c0074007271dcd0
    4bb88bc3189119398a00000000eefafc76c146b823b096f8aacad365dd0030953f4edf625636e5f21bb2
    e23fcc654b1b5b40318d10d137abcbb87574e36e8a1f025f7dfa5d6e50781b5eda4aa15b0c8be778257d
    16aa3030e9e7841dd9e4c0342267e8ca0caf571fb2b7cff0f934b0002d00020101001c00024001001500
    af0000000000000000000000000000000000000000000000000000000000000000000000000000000000
    000000000000000000000000000000000000000000000000000000000000000000000000000000000000
    000000000000000000000000000000000000000000000000000000000000000000000000000000000000
    000000000000000000000000000000000000000000000000000000000000000000000000000000000000
    0000000000000000
    """
)
RFC8448_HRR_SERVER_HELLO = unhex(
    """
    020000770303bb341d847fd789c47c387172dc0c9bf147fccacb5043d86ca4c598d3ff571b9800130100
    004f003300450017004104583e054b7a66672ae020ad9d2686fcc85b5ad41a134a0f03ee72b893052bd8
    5b4c8de6776f5b04ac07d83540eab3e3d9c547bc6528c4317d294686093a6cad7d002b00020304
    """
)
RFC8448_HRR_HASH_THROUGH_SERVER_HELLO = (
    "8aa8e828ec2f8a884fec95a3139de01c15a3daa7ff5bfc3f4bfcc21b438d7bf8"
)


# -- wolfSSL 5.7.2 (--enable-dtls13), captured on the wire ------------------------------------
# ``examples/client/client -u -v 4 -s`` (external PSK): one datagram, one record, the ClientHello
# whole; its PSK is test.h's 32 bytes 01 23 45 ... for identity "Client_identitySHA256".
# ``examples/server/server -u -v 4`` answering a ClientHello without a cookie: HelloRetryRequest.

WOLFSSL_PSK_CLIENT_HELLO_DATAGRAM = unhex(
    """
    16fefd00000000000000000215010002090000000000000209fefd8943e809c50d7430f8ff68dfe483cf
    01a813c8e7714d9b861070a70f9dbd7db600000004130100aa010001db002d0003020001002b000302fe
    fc000d001c001a0603050304030806080b0805080a080408090601050104010301000a000e000c001900
    180017001d00150100001600000033014b014900170041044408778dbec7ca8ec807bb11292d73c4d2f2
    5753d9c8118248aaa31861342458b02938279ad7085d012b4d0981adc0adc2abd2a9eaa0a150afecfca0
    2ccb9ab201000100356a90f99afd7fd306ad88da79eb8e81134d9b6b7af6fe912f08809fa1e6c7a42523
    a9e5cf5f3e83192deb4e11938ae72d6efc861ea4ced2c3cbb4c06b13840e44dd11086d7029f3f7da5ed7
    fb3c93a3b1294071856c16131e8a9425f8a74ecc0aee8a5e6a2c3a2d5410afeba0e2d7264c300a75bddf
    1e5d19dc7c4fc96883a51c891168d5341f3f3ed730b6243d2a3cecc4c196c36ef6117ce34303ceb39963
    71070a61b06fa42cff8d2dd8fd7672fad5f69f11858fd89a7b07d2f34db778b54b7bedcedf7e346696a9
    f3c74b6a22af7f6372ebc8e0229b1aea6426b8dcd9077b5a1ae497da729e8092ae32b5dbcb280d56de1b
    2861243026ba9bf842a96bdd0023000000290040001b0015436c69656e745f6964656e74697479534841
    32353600000000002120055602734988e55fbe0f3078782795013f372a7559fbd93fcb54e1e36444ce60
    """
)
WOLFSSL_HELLO_RETRY_REQUEST_DATAGRAM = unhex(
    """
    16fefd00000000000000000083020000770000000000000077fefdcf21ad74e59a6111be1d8c021e65b8
    91c2a211167abb8c5e079e09e2c8a8339c00130100004f002b0002fefc002c0045004320be3bc847dcb4
    7c9341032e7b2ef651ecb5ca092171e2687165a0eab60a76efd91301b2305ed5c7427a7583b1b7229a04
    0ccb9c0d97e635b4e94dd7900405e0e9df56
    """
)


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
