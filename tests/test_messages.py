"""Tests for aiodtls.handshake.messages and aiodtls.reliability.fragments: the message codecs.

Every message dataclass and extension codec must survive ``pull(push(x)) == x``; malformed
input must raise ``BufferReadError`` or an ``Alert``, and nothing else, for any bytes at all.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiodtls.alerts import Alert, AlertIllegalParameter
from aiodtls.buffer import Buffer, BufferReadError
from aiodtls.handshake import messages
from aiodtls.handshake.messages import (
    Certificate,
    CertificateRequest,
    CertificateVerify,
    ClientHello,
    ClientKeyExchangeEcdhe,
    ClientKeyExchangeEcdhePsk,
    ClientKeyExchangePsk,
    EcdheParameters,
    Extensions,
    ExtensionType,
    Finished,
    HandshakeType,
    HelloVerifyRequest,
    NewSessionTicket,
    ServerHello,
    ServerKeyExchangeEcdhe,
    ServerKeyExchangeEcdhePsk,
    ServerKeyExchangePsk,
    decode_connection_id,
    decode_message,
    decode_renegotiation_info,
    decode_server_name,
    decode_uint8_list,
    decode_uint16_list,
    decode_use_srtp,
    encode_client_hello,
    encode_client_hello_with_cookie,
    encode_connection_id,
    encode_message,
    encode_renegotiation_info,
    encode_server_name,
    encode_uint8_list,
    encode_uint16_list,
    find_extension,
    pull_certificate,
    pull_certificate_request,
    pull_certificate_verify,
    pull_client_hello,
    pull_client_key_exchange_ecdhe,
    pull_client_key_exchange_ecdhe_psk,
    pull_client_key_exchange_psk,
    pull_extensions,
    pull_finished,
    pull_hello_verify_request,
    pull_new_session_ticket,
    pull_server_hello,
    pull_server_key_exchange_ecdhe,
    pull_server_key_exchange_ecdhe_psk,
    pull_server_key_exchange_psk,
    push_certificate,
    push_certificate_request,
    push_certificate_verify,
    push_client_hello,
    push_client_key_exchange_ecdhe,
    push_client_key_exchange_ecdhe_psk,
    push_client_key_exchange_psk,
    push_extensions,
    push_finished,
    push_hello_verify_request,
    push_new_session_ticket,
    push_server_hello,
    push_server_key_exchange_ecdhe,
    push_server_key_exchange_ecdhe_psk,
    push_server_key_exchange_psk,
)
from aiodtls.reliability import fragments
from aiodtls.reliability.fragments import (
    HANDSHAKE_HEADER_LENGTH,
    HandshakeHeader,
    encode_handshake_fragment,
    pull_handshake_header,
)

RANDOM = bytes(range(32))
HELLO_PREFIX = b"\xfe\xfd" + RANDOM
"version and random: the fixed start of both hellos."

# -- strategies ------------------------------------------------------------------------------

uint8 = st.integers(0, 0xFF)
uint16 = st.integers(0, 0xFFFF)


def opaque(max_size: int, min_size: int = 0) -> st.SearchStrategy[bytes]:
    """Bytes of a vector whose length field can hold them."""
    return st.binary(min_size=min_size, max_size=max_size)


extensions_strategy: st.SearchStrategy[Extensions] = st.lists(
    st.tuples(uint16, opaque(40)), max_size=6, unique_by=lambda ext: ext[0]
)

client_hellos = st.builds(
    ClientHello,
    client_version=uint16,
    random=st.binary(min_size=32, max_size=32),
    session_id=opaque(32),
    cookie=opaque(255),
    cipher_suites=st.lists(uint16, min_size=1, max_size=20),
    compression_methods=opaque(10, min_size=1),
    extensions=extensions_strategy,
)
hello_verify_requests = st.builds(HelloVerifyRequest, server_version=uint16, cookie=opaque(255))
server_hellos = st.builds(
    ServerHello,
    server_version=uint16,
    random=st.binary(min_size=32, max_size=32),
    session_id=opaque(32),
    cipher_suite=uint16,
    compression_method=uint8,
    extensions=extensions_strategy,
)
certificates = st.builds(Certificate, certificates=st.lists(opaque(300, min_size=1), max_size=4))
certificate_requests = st.builds(
    CertificateRequest,
    certificate_types=opaque(5, min_size=1),
    signature_algorithms=st.lists(uint16, min_size=1, max_size=10),
    certificate_authorities=st.lists(opaque(60), max_size=4),
)
server_key_exchanges_ecdhe = st.builds(
    ServerKeyExchangeEcdhe,
    params=st.builds(EcdheParameters, group=uint16, public_key=opaque(255, min_size=1)),
    signature_scheme=uint16,
    signature=opaque(300),
)
server_key_exchanges_psk = st.builds(ServerKeyExchangePsk, identity_hint=opaque(200))
client_key_exchanges_ecdhe = st.builds(ClientKeyExchangeEcdhe, public_key=opaque(255, min_size=1))
client_key_exchanges_psk = st.builds(ClientKeyExchangePsk, identity=opaque(200))
server_key_exchanges_ecdhe_psk = st.builds(
    ServerKeyExchangeEcdhePsk,
    identity_hint=opaque(200),
    params=st.builds(EcdheParameters, group=uint16, public_key=opaque(255, min_size=1)),
)
client_key_exchanges_ecdhe_psk = st.builds(
    ClientKeyExchangeEcdhePsk, identity=opaque(200), public_key=opaque(255, min_size=1)
)
certificate_verifies = st.builds(CertificateVerify, signature_scheme=uint16, signature=opaque(300))
finisheds = st.builds(Finished, verify_data=opaque(48))
new_session_tickets = st.builds(
    NewSessionTicket, ticket_lifetime_hint=st.integers(0, 2**32 - 1), ticket=opaque(400)
)

CODECS: list[tuple[str, st.SearchStrategy[Any], Callable[..., None], Callable[[Buffer], Any]]] = [
    ("client_hello", client_hellos, push_client_hello, pull_client_hello),
    ("hello_verify_request", hello_verify_requests, push_hello_verify_request,
     pull_hello_verify_request),
    ("server_hello", server_hellos, push_server_hello, pull_server_hello),
    ("certificate", certificates, push_certificate, pull_certificate),
    ("certificate_request", certificate_requests, push_certificate_request,
     pull_certificate_request),
    ("server_key_exchange_ecdhe", server_key_exchanges_ecdhe, push_server_key_exchange_ecdhe,
     pull_server_key_exchange_ecdhe),
    ("server_key_exchange_psk", server_key_exchanges_psk, push_server_key_exchange_psk,
     pull_server_key_exchange_psk),
    ("client_key_exchange_ecdhe", client_key_exchanges_ecdhe, push_client_key_exchange_ecdhe,
     pull_client_key_exchange_ecdhe),
    ("client_key_exchange_psk", client_key_exchanges_psk, push_client_key_exchange_psk,
     pull_client_key_exchange_psk),
    ("server_key_exchange_ecdhe_psk", server_key_exchanges_ecdhe_psk,
     push_server_key_exchange_ecdhe_psk, pull_server_key_exchange_ecdhe_psk),
    ("client_key_exchange_ecdhe_psk", client_key_exchanges_ecdhe_psk,
     push_client_key_exchange_ecdhe_psk, pull_client_key_exchange_ecdhe_psk),
    ("certificate_verify", certificate_verifies, push_certificate_verify,
     pull_certificate_verify),
    ("finished", finisheds, push_finished, pull_finished),
    ("new_session_ticket", new_session_tickets, push_new_session_ticket,
     pull_new_session_ticket),  # issue 12, RFC 5077 §3.3
]  # fmt: skip


# -- round trips of every message -------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "push", "pull"), [codec[1:] for codec in CODECS], ids=[c[0] for c in CODECS]
)
@given(data=st.data())
@settings(max_examples=40, deadline=None)
def test_every_message_round_trips(
    strategy: st.SearchStrategy[Any],
    push: Callable[..., None],
    pull: Callable[[Buffer], Any],
    data: st.DataObject,
) -> None:
    """pull(push(x)) == x, the whole body is consumed, and re-encoding is byte-identical."""
    message = data.draw(strategy)
    body = encode_message(push, message)
    assert decode_message(body, pull) == message
    assert encode_message(push, decode_message(body, pull)) == body


def _whole_body_codec(name: str) -> tuple[Callable[[bytes], Any], Callable[[Any], bytes]]:
    """decode_<name> and encode_<name> (the HelloVerifyRequest's encoder is ``..._body``:
    ``cookie.encode_hello_verify_request`` makes the whole datagram)."""
    encoder = "encode_hello_verify_request_body" if name == "hello_verify_request" else None
    return getattr(messages, f"decode_{name}"), getattr(messages, encoder or f"encode_{name}")


@pytest.mark.parametrize(
    ("name", "strategy", "push", "pull"),
    [c for c in CODECS if c[0] != "finished"],
    ids=[c[0] for c in CODECS if c[0] != "finished"],
)
@given(data=st.data())
@settings(max_examples=30, deadline=None)
def test_whole_body_codecs_match_buffer_codecs(
    name: str,
    strategy: st.SearchStrategy[Any],
    push: Callable[..., None],
    pull: Callable[[Buffer], Any],
    data: st.DataObject,
) -> None:
    """decode_x / encode_x read and write exactly what pull_x / push_x do, and a decoder
    refuses a truncated or extended body as decode_message does."""
    decode, encode = _whole_body_codec(name)
    message = data.draw(strategy)
    body = encode_message(push, message)
    assert encode(message) == body
    assert decode(body) == message
    for bad in (body[: data.draw(st.integers(0, max(len(body) - 1, 0)))], body + b"\x00"):
        outcomes = []
        for decoder in (decode, lambda b: decode_message(b, pull)):
            try:
                outcomes.append(decoder(bad))
            except (BufferReadError, Alert) as exc:
                outcomes.append(type(exc))
        assert outcomes[0] == outcomes[1]


CODEC_MODULES: list[ModuleType] = [
    importlib.import_module(info.name)
    for info in pkgutil.iter_modules(messages.__path__, f"{messages.__name__}.")
]
"Every module of the messages package: a codec added to any of them is found and fuzzed below."


def defined_functions(modules: Iterable[ModuleType]) -> list[tuple[str, Callable[..., Any]]]:
    """The functions ``modules`` define (not those they import), by name."""
    return sorted(
        (name, value)
        for module in modules
        for name, value in vars(module).items()
        if inspect.isfunction(value) and value.__module__ == module.__name__
    )


def test_the_package_index_re_exports_every_public_name() -> None:
    """Each module of the package lists in ``__all__`` every public name it defines, no name
    is in two, and ``from aiodtls.handshake.messages import X`` gives the object its module
    owns."""
    owners: dict[str, ModuleType] = {}
    for module in CODEC_MODULES:
        defined = set()
        for node in ast.parse(inspect.getsource(module)).body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                defined.add(node.name)
            elif isinstance(node, ast.Assign):
                defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
        public = {name for name in defined if not name.startswith("_")} - {"T"}  # T: a TypeVar
        assert sorted(module.__all__) == sorted(public), module.__name__
        assert not public & owners.keys(), module.__name__
        owners.update(dict.fromkeys(public, module))
    for name, module in owners.items():
        assert getattr(messages, name) is getattr(module, name)


def test_every_pull_function_has_a_round_trip_codec() -> None:
    """No message pull_* in the messages package is left out of CODECS."""
    covered = {pull.__name__ for _, _, _, pull in CODECS} | {"pull_extensions"}
    defined = {name for name, _ in defined_functions(CODEC_MODULES) if name.startswith("pull_")}
    assert defined <= covered


def test_client_hello_without_cookie_or_extensions() -> None:
    """A first ClientHello: empty cookie, no extension block at all (C1)."""
    hello = ClientHello(0xFEFD, RANDOM, b"", b"", [0xC02B, 0x00FF], b"\x00")
    body = encode_message(push_client_hello, hello)
    assert body == (
        b"\xfe\xfd" + RANDOM + b"\x00" + b"\x00" + b"\x00\x04\xc0\x2b\x00\xff" + b"\x01\x00"
    )
    assert decode_message(body, pull_client_hello) == hello


def test_client_hello_with_cookie_and_extensions() -> None:
    """A second ClientHello carries the cookie after the session_id (C4)."""
    extensions: Extensions = [
        (ExtensionType.extended_master_secret, b""),
        (ExtensionType.supported_groups, encode_uint16_list([23, 29])),
    ]
    hello = ClientHello(0xFEFD, RANDOM, b"\x01" * 32, b"\xcc" * 20, [0xC02B], b"\x00", extensions)
    body = encode_message(push_client_hello, hello)
    assert body[34:35] == b"\x20"
    assert body[67:88] == b"\x14" + b"\xcc" * 20
    assert decode_message(body, pull_client_hello) == hello


@pytest.mark.parametrize("session_id", [b"", b"\x01" * 32])
@pytest.mark.parametrize("old_cookie", [b"", b"\xcc" * 20])
@pytest.mark.parametrize("cookie", [b"", b"\x07" * 20, b"\x08" * 255])
def test_client_hello_with_cookie_is_the_hello_encoded_with_it(
    session_id: bytes, old_cookie: bytes, cookie: bytes
) -> None:
    """The client's second ClientHello, made from the first one's bytes, is byte for byte
    the ClientHello encoded with the new cookie; a cookie over 255 bytes does not fit."""
    extensions: Extensions = [(ExtensionType.extended_master_secret, b"")]
    hello = ClientHello(0xFEFD, RANDOM, session_id, old_cookie, [0xC02B], b"\x00", extensions)
    body = encode_client_hello(hello)
    with pytest.raises(OverflowError):
        encode_client_hello_with_cookie(body, hello, bytes(256))
    again = encode_client_hello_with_cookie(body, hello, cookie)
    hello.cookie = cookie
    assert again == encode_client_hello(hello)


def test_empty_extension_block_reads_as_no_extensions() -> None:
    """An explicit empty block (00 00) and an absent one both mean no extensions."""
    hello = ClientHello(0xFEFD, RANDOM, b"", b"", [0xC02B], b"\x00")
    body = encode_message(push_client_hello, hello)
    assert decode_message(body + b"\x00\x00", pull_client_hello).extensions == []
    assert decode_message(body, pull_client_hello).extensions == []


@pytest.mark.parametrize("cookie_length", [0, 1, 20, 32, 255])
def test_hello_verify_request_cookie_lengths(cookie_length: int) -> None:
    """Cookies of length 0 and 255 encode and decode (C6)."""
    hvr = HelloVerifyRequest(0xFEFF, bytes(range(cookie_length)))
    body = encode_message(push_hello_verify_request, hvr)
    assert body == b"\xfe\xff" + bytes((cookie_length,)) + hvr.cookie
    assert decode_message(body, pull_hello_verify_request) == hvr


def test_hello_verify_request_cookie_over_255_cannot_be_encoded() -> None:
    """A 256-byte cookie does not fit cookie<0..2^8-1> and is never truncated (C6, X17)."""
    with pytest.raises((OverflowError, ValueError)):
        encode_message(push_hello_verify_request, HelloVerifyRequest(0xFEFF, bytes(256)))


def test_server_hello_layout() -> None:
    """version, random, session_id, suite, compression, extensions."""
    hello = ServerHello(
        0xFEFD, RANDOM, b"\x07" * 32, 0xC02F, 0, [(ExtensionType.renegotiation_info, b"\x00")]
    )
    body = encode_message(push_server_hello, hello)
    assert body[:2] == b"\xfe\xfd"
    assert body[35:67] == b"\x07" * 32
    assert body[67:70] == b"\xc0\x2f\x00"
    assert body[70:] == b"\x00\x05\xff\x01\x00\x01\x00"
    assert decode_message(body, pull_server_hello) == hello


def test_certificate_layout() -> None:
    """certificate_list<0..2^24-1> of ASN.1Cert<1..2^24-1>."""
    message = Certificate([b"leaf", b"ca"])
    body = encode_message(push_certificate, message)
    assert body == b"\x00\x00\x0c" + b"\x00\x00\x04leaf" + b"\x00\x00\x02ca"
    assert decode_message(body, pull_certificate) == message
    assert decode_message(b"\x00\x00\x00", pull_certificate) == Certificate([])


def test_certificate_request_layout() -> None:
    """types<1..255>, signature algorithms<2..>, authorities<0..>."""
    message = CertificateRequest(b"\x40\x01", [0x0403, 0x0804], [b"dn1"])
    body = encode_message(push_certificate_request, message)
    assert body == b"\x02\x40\x01" + b"\x00\x04\x04\x03\x08\x04" + b"\x00\x05\x00\x03dn1"
    assert decode_message(body, pull_certificate_request) == message


def test_ecdhe_server_key_exchange_layout() -> None:
    """named_curve(3), group, point<1..255>, scheme, signature<0..2^16-1> (K3)."""
    params = EcdheParameters(23, b"\x04" + bytes(64))
    assert params.encode() == b"\x03\x00\x17\x41" + b"\x04" + bytes(64)
    message = ServerKeyExchangeEcdhe(params, 0x0403, b"sig")
    body = encode_message(push_server_key_exchange_ecdhe, message)
    assert body == params.encode() + b"\x04\x03\x00\x03sig"
    assert decode_message(body, pull_server_key_exchange_ecdhe) == message


def test_psk_and_key_exchange_layouts() -> None:
    """PSK hint and identity use uint16 lengths; the ECDHE client key a uint8 length (K1)."""
    assert encode_message(push_server_key_exchange_psk, ServerKeyExchangePsk(b"hint")) == (
        b"\x00\x04hint"
    )
    assert (
        encode_message(push_client_key_exchange_psk, ClientKeyExchangePsk(b"id")) == b"\x00\x02id"
    )
    assert encode_message(push_client_key_exchange_ecdhe, ClientKeyExchangeEcdhe(b"\x04abc")) == (
        b"\x04\x04abc"
    )
    identity = bytes(128)  # RFC 4279 §5.3: identities up to 128 bytes
    assert decode_message(
        encode_message(push_client_key_exchange_psk, ClientKeyExchangePsk(identity)),
        pull_client_key_exchange_psk,
    ) == ClientKeyExchangePsk(identity)


def test_certificate_verify_and_finished_layouts() -> None:
    """CertificateVerify: scheme + signature<0..2^16-1>; Finished: raw verify_data."""
    body = encode_message(push_certificate_verify, CertificateVerify(0x0804, b"s"))
    assert body == b"\x08\x04\x00\x01s"
    assert encode_message(push_finished, Finished(bytes(12))) == bytes(12)
    assert decode_message(bytes(12), pull_finished) == Finished(bytes(12))


# -- extension codecs ------------------------------------------------------------------------


@given(extensions_strategy)
@settings(max_examples=60)
def test_extension_block_round_trips(extensions: Extensions) -> None:
    """push_extensions / pull_extensions keep order and bodies."""
    buf = Buffer()
    push_extensions(buf, extensions)
    if not extensions:
        assert buf.data == b""
    reader = Buffer(buf.data)
    assert pull_extensions(reader) == extensions
    assert reader.eof()


def test_find_extension() -> None:
    """find_extension returns the body or None."""
    extensions: Extensions = [(0, b"a"), (23, b"")]
    assert find_extension(extensions, 23) == b""
    assert find_extension(extensions, 0) == b"a"
    assert find_extension(extensions, 10) is None


@given(
    st.text(
        alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=100
    )
)
@settings(max_examples=50)
def test_server_name_round_trips(name: str) -> None:
    """server_name carries one ASCII host_name."""
    assert decode_server_name(encode_server_name(name)) == name


def test_server_name_layout_and_strict_decoding() -> None:
    """server_name_list<1..> of (type 0, host_name<1..>); like OpenSSL, exactly one host_name
    entry is accepted (RFC 6066 §3): an empty list, another name type, a second entry, an
    empty, NUL-carrying or over-long name are malformed."""
    assert encode_server_name("a.b") == b"\x00\x06\x00\x00\x03a.b"
    for body in (
        b"\x00\x00",  # empty list
        b"\x00\x04\x07\x00\x01x",  # unknown name type
        b"\x00\x09" + b"\x00\x00\x01x" + b"\x00\x00\x02ok",  # two names
        b"\x00\x03\x00\x00\x00",  # empty host_name
        b"\x00\x05\x00\x00\x02a\x00",  # NUL
        b"\x01\x03\x00\x01\x00" + b"a" * 256,  # 256 bytes
    ):
        with pytest.raises(BufferReadError):
            decode_server_name(body)
    assert decode_server_name(b"\x01\x02\x00\x00\xff" + b"a" * 255) == "a" * 255


def test_server_name_non_ascii_is_a_decode_error() -> None:
    """A host_name with a non-ASCII byte raises BufferReadError, not UnicodeDecodeError."""
    with pytest.raises(BufferReadError):
        decode_server_name(b"\x00\x05\x00\x00\x02\xc3\xa9")


@given(st.lists(uint16, min_size=1, max_size=40))
@settings(max_examples=50)
def test_uint16_list_round_trips(values: list[int]) -> None:
    """supported_groups / signature_algorithms."""
    body = encode_uint16_list(values)
    assert body[:2] == (2 * len(values)).to_bytes(2, "big")
    assert decode_uint16_list(body) == values


@given(st.lists(uint8, min_size=1, max_size=40))
@settings(max_examples=50)
def test_uint8_list_round_trips(values: list[int]) -> None:
    """ec_point_formats."""
    body = encode_uint8_list(values)
    assert body[0] == len(values)
    assert decode_uint8_list(body) == values


@given(opaque(255))
@settings(max_examples=50)
def test_renegotiation_info_round_trips(value: bytes) -> None:
    """renegotiated_connection<0..255> (RFC 5746 §3.2, H5)."""
    assert decode_renegotiation_info(encode_renegotiation_info(value)) == value


@pytest.mark.parametrize("cid", [b"", b"\x01", bytes(range(255))])
def test_connection_id_round_trips(cid: bytes) -> None:
    """connection_id is cid<0..255>; empty means "send me none" (I1)."""
    assert encode_connection_id(cid) == bytes((len(cid),)) + cid
    assert decode_connection_id(encode_connection_id(cid)) == cid


def test_renegotiation_info_default_is_empty() -> None:
    """An initial handshake sends a single zero byte."""
    assert encode_renegotiation_info() == b"\x00"


# -- handshake header and fragments (F1, F6) -------------------------------------------------


def test_handshake_fragment_layout() -> None:
    """type, length(24), message_seq(16), offset(24), frag_length(24), body (F1)."""
    body = bytes(range(10))
    whole = encode_handshake_fragment(HandshakeType.finished, 0x0102, body)
    assert whole == bytes.fromhex("1400000a010200000000000a") + body
    part = encode_handshake_fragment(HandshakeType.finished, 3, body, 4, 5)
    assert part == bytes.fromhex("1400000a0003000004000005") + body[4:9]
    tail = encode_handshake_fragment(HandshakeType.finished, 3, body, 7)
    assert tail[9:12] == b"\x00\x00\x03"
    assert tail[12:] == body[7:]


@given(
    msg_type=uint8,
    message_seq=uint16,
    body=st.binary(max_size=300),
    data=st.data(),
)
@settings(max_examples=80)
def test_handshake_header_round_trips(
    msg_type: int, message_seq: int, body: bytes, data: st.DataObject
) -> None:
    """pull_handshake_header reads what encode_handshake_fragment wrote (F1)."""
    offset = data.draw(st.integers(0, len(body)))
    length = data.draw(st.integers(0, len(body) - offset))
    encoded = encode_handshake_fragment(msg_type, message_seq, body, offset, length)
    buf = Buffer(encoded)
    header = pull_handshake_header(buf)
    assert header == HandshakeHeader(msg_type, len(body), message_seq, offset, length)
    assert buf.tell() == HANDSHAKE_HEADER_LENGTH
    assert buf.pull_bytes(buf.remaining()) == body[offset : offset + length]


def test_short_handshake_header_is_an_error() -> None:
    """Fewer than 12 bytes cannot be a handshake header (F7)."""
    for size in range(HANDSHAKE_HEADER_LENGTH):
        with pytest.raises(BufferReadError):
            pull_handshake_header(Buffer(bytes(size)))


# -- malformed input -------------------------------------------------------------------------


def client_hello_body(extension_block: bytes = b"") -> bytes:
    """A minimal ClientHello body followed by ``extension_block`` verbatim."""
    return b"\xfe\xfd" + RANDOM + b"\x00\x00" + b"\x00\x02\xc0\x2b" + b"\x01\x00" + extension_block


def test_duplicate_extension_in_client_hello_is_illegal_parameter() -> None:
    """Two extensions of one type (H4)."""
    block = b"\x00\x08" + b"\x00\x17\x00\x00" + b"\x00\x17\x00\x00"
    with pytest.raises(AlertIllegalParameter):
        decode_message(client_hello_body(block), pull_client_hello)


def test_duplicate_extension_in_server_hello_is_illegal_parameter() -> None:
    """The same check applies to the ServerHello (H4)."""
    body = (
        b"\xfe\xfd"
        + RANDOM
        + b"\x00"
        + b"\xc0\x2b\x00"
        + b"\x00\x0a"
        + b"\xff\x01\x00\x01\x00"
        + b"\xff\x01\x00\x01\x00"
    )
    with pytest.raises(AlertIllegalParameter):
        decode_message(body, pull_server_hello)


@pytest.mark.parametrize("curve_type", [1, 2, 0, 4, 255])
def test_explicit_curve_is_illegal_parameter(curve_type: int) -> None:
    """explicit_prime(1), explicit_char2(2) and anything but named_curve(3) (K3)."""
    body = bytes((curve_type,)) + b"\x00\x17\x01\x04" + b"\x04\x03\x00\x00"
    with pytest.raises(AlertIllegalParameter):
        decode_message(body, pull_server_key_exchange_ecdhe)


@pytest.mark.parametrize(
    ("pull", "body"),
    [
        (pull_client_hello, client_hello_body()),
        (pull_hello_verify_request, b"\xfe\xff\x00"),
        (pull_certificate_verify, b"\x04\x03\x00\x00"),
        (pull_client_key_exchange_psk, b"\x00\x01a"),
        (pull_client_key_exchange_ecdhe, b"\x01\x04"),
        (pull_server_key_exchange_psk, b"\x00\x00"),
        (pull_certificate, b"\x00\x00\x00"),
    ],
)
def test_trailing_bytes_are_a_decode_error(pull: Callable[[Buffer], Any], body: bytes) -> None:
    """A whole message with bytes left over is refused by decode_message."""
    decode_message(body, pull)
    with pytest.raises(BufferReadError):
        decode_message(body + b"\x00", pull)


@pytest.mark.parametrize(
    ("pull", "body"),
    [
        # session_id of 33 bytes
        (pull_client_hello, HELLO_PREFIX + b"\x21" + bytes(33) + b"\x00\x00\x02\xc0\x2b\x01\x00"),
        # no compression methods
        (pull_client_hello, b"\xfe\xfd" + RANDOM + b"\x00\x00\x00\x02\xc0\x2b\x00"),
        # empty and odd-length cipher suite lists
        (pull_client_hello, b"\xfe\xfd" + RANDOM + b"\x00\x00\x00\x00\x01\x00"),
        (pull_client_hello, b"\xfe\xfd" + RANDOM + b"\x00\x00\x00\x03\xc0\x2b\x00\x01\x00"),
        # cookie length past the end (C9)
        (pull_client_hello, b"\xfe\xfd" + RANDOM + b"\x00\xff\x00"),
        # extension block with a byte left over / an extension overrunning the block
        (pull_client_hello, client_hello_body(b"\x00\x05\x00\x17\x00\x00\x00")),
        (pull_client_hello, client_hello_body(b"\x00\x04\x00\x17\x00\x05")),
        (pull_server_hello, b"\xfe\xfd" + RANDOM + b"\x21" + bytes(33) + b"\xc0\x2b\x00"),
        (pull_hello_verify_request, b"\xfe\xff\x05abc"),
        (pull_certificate, b"\x00\x00\x03\x00\x00\x00"),  # empty certificate entry
        (pull_certificate, b"\x00\x00\x05\x00\x00\x04ab"),
        (pull_certificate_request, b"\x00\x00\x02\x04\x03\x00\x00"),  # no types
        (pull_certificate_request, b"\x01\x40\x00\x00\x00\x00"),  # no algorithms
        (pull_server_key_exchange_ecdhe, b"\x03\x00\x17\x00\x04\x03\x00\x00"),  # empty point
        (pull_client_key_exchange_ecdhe, b"\x00"),
        (pull_certificate_verify, b"\x04\x03\x00\x05ab"),
    ],
)  # fmt: skip
def test_malformed_messages_raise_buffer_read_error(
    pull: Callable[[Buffer], Any], body: bytes
) -> None:
    """Bad lengths and empty mandatory vectors are decode errors."""
    with pytest.raises(BufferReadError):
        decode_message(body, pull)


@pytest.mark.parametrize(
    ("decode", "body"),
    [
        (decode_uint16_list, b"\x00\x00"),
        (decode_uint16_list, b"\x00\x03\x00\x17\x00"),
        (decode_uint16_list, b"\x00\x02\x00\x17\x00"),
        (decode_uint8_list, b"\x00"),
        (decode_uint8_list, b"\x02\x00"),
        (decode_renegotiation_info, b""),
        (decode_connection_id, b""),  # I1: no cid length
        (decode_connection_id, b"\x02a"),  # I1: cid past the end
        (decode_connection_id, b"\x00\x00"),  # trailing byte
        (decode_renegotiation_info, b"\x00\x00"),
        (decode_server_name, b"\x00\x04\x00\x00\x05a"),
        (decode_server_name, b""),
        (decode_use_srtp, b"\x00\x00\x00"),  # empty profile list
        (decode_use_srtp, b"\x00\x01\x00\x00"),  # odd profile list length
        (decode_use_srtp, b"\x00\x02\x00\x01\x02a"),  # MKI past the end
        (decode_use_srtp, b"\x00\x02\x00\x01"),  # no MKI length
        (decode_use_srtp, b"\x00\x02\x00\x01\x00\x00"),  # trailing byte
    ],
)
def test_malformed_extension_bodies_raise_buffer_read_error(
    decode: Callable[[bytes], Any], body: bytes
) -> None:
    """Extension decoders refuse empty mandatory lists, bad lengths and trailing bytes."""
    with pytest.raises(BufferReadError):
        decode(body)


# -- fuzzing: only decode errors escape ------------------------------------------------------

DECODE_ERRORS = (BufferReadError, Alert)

PULL_FUNCTIONS: list[Callable[[Buffer], Any]] = [
    value
    for name, value in defined_functions([*CODEC_MODULES, fragments])
    if name.lstrip("_").startswith("pull_")
]
DECODE_FUNCTIONS: list[Callable[[bytes], Any]] = [
    value
    for name, value in defined_functions(CODEC_MODULES)
    if name.startswith("decode_") and name != "decode_message"
]


def test_fuzz_tables_cover_the_codecs() -> None:
    """The discovered function lists include every codec named in this file."""
    names = {f.__name__ for f in PULL_FUNCTIONS}
    assert {c[3].__name__ for c in CODECS} <= names
    assert {"pull_extensions", "pull_handshake_header", "_pull_uint16_list"} <= names
    message_decoders = {"decode_" + c[3].__name__.removeprefix("pull_") for c in CODECS}
    assert {f.__name__ for f in DECODE_FUNCTIONS} == {
        "decode_alpn",
        "decode_server_name",
        "decode_uint16_list",
        "decode_uint8_list",
        "decode_renegotiation_info",
        "decode_use_srtp",
        "decode_connection_id",
    } | (message_decoders - {"decode_finished"}) | {  # a Finished body is its verify_data
        name for name in messages.tls13.__all__ if name.startswith("decode_")
    }  # DTLS 1.3's codecs: tests/test_messages13.py


@pytest.mark.parametrize("pull", PULL_FUNCTIONS, ids=lambda f: f.__name__)
@given(data=st.binary(max_size=120))
@settings(max_examples=150, deadline=None)
def test_fuzz_pull_functions(pull: Callable[[Buffer], Any], data: bytes) -> None:
    """Any bytes: a pull returns, or raises BufferReadError or an Alert; nothing else."""
    with contextlib.suppress(*DECODE_ERRORS):
        pull(Buffer(data))
    with contextlib.suppress(*DECODE_ERRORS):
        decode_message(data, pull)


@pytest.mark.parametrize("decode", DECODE_FUNCTIONS, ids=lambda f: f.__name__)
@given(data=st.binary(max_size=80))
@settings(max_examples=150, deadline=None)
def test_fuzz_decode_functions(decode: Callable[[bytes], Any], data: bytes) -> None:
    """Any bytes: an extension decoder returns or raises BufferReadError / Alert."""
    with contextlib.suppress(*DECODE_ERRORS):
        decode(data)


def push_extension_block(buf: Buffer, extensions: Extensions) -> None:
    """push_extensions with a block even when empty, so mutations have bytes to work on."""
    push_extensions(buf, extensions or [(ExtensionType.extended_master_secret, b"")])


MUTATION_CODECS = [c[1:] for c in CODECS] + [
    (extensions_strategy, push_extension_block, pull_extensions)
]


@pytest.mark.parametrize(
    ("strategy", "push", "pull"),
    MUTATION_CODECS,
    ids=[c[0] for c in CODECS] + ["extensions"],
)
@given(data=st.data())
@settings(max_examples=40, deadline=None)
def test_fuzz_mutated_valid_messages(
    strategy: st.SearchStrategy[Any],
    push: Callable[..., None],
    pull: Callable[[Buffer], Any],
    data: st.DataObject,
) -> None:
    """Valid encodings with bytes flipped, cut or inserted only raise decode errors."""
    mutated = bytearray(encode_message(push, data.draw(strategy)))
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        position = data.draw(st.integers(0, max(len(mutated) - 1, 0)))
        if action == "flip" and mutated:
            mutated[position] ^= data.draw(st.integers(1, 255))
        elif action == "cut":
            del mutated[position:]
        else:
            mutated[position:position] = data.draw(st.binary(min_size=1, max_size=4))
    with contextlib.suppress(*DECODE_ERRORS):
        decode_message(bytes(mutated), pull)
