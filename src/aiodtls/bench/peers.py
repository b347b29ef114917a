"""The two libraries driven in memory for ``aiodtls bench``, with the same settings.

Owns the handshake kinds (suite, group, credentials), spelled once for aiodtls and once for
pyOpenSSL, and the loops that complete a handshake or pass records between a client and a
server with no sockets. Both sides: cookie exchange on (off for the ``-nocookie`` metrics),
extended master secret on (OpenSSL's default), the client does not verify the certificate (it
still checks the server's signature on the key exchange), no session tickets (but for the
ticket resumption metric), the group forced on both sides. pyOpenSSL is
imported only inside its functions: it is optional. Nothing here reads a clock.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..configuration import DtlsConfiguration
from ..connection import ConnectionState, DtlsConnection
from ..events import DataReceived
from ..pki import CertificateChain, generate_chain
from ..suites import CipherSuite, NamedGroup, ProtocolVersion, SignatureScheme

__all__ = [
    "KINDS",
    "Kind",
    "aiodtls_configs",
    "aiodtls_pair",
    "aiodtls_records",
    "credentials",
    "pyopenssl_contexts",
    "pyopenssl_datagrams",
    "pyopenssl_forget",
    "pyopenssl_pair",
    "pyopenssl_records",
    "pyopenssl_resumed",
    "pyopenssl_step",
]

_DTLS12 = (ProtocolVersion.DTLSv1_2,)
"Both libraries speak DTLS 1.2 in the comparison (pyOpenSSL has no DTLS 1.3)."

CLIENT, SERVER = ("192.0.2.1", 1), ("192.0.2.2", 2)
PSK_KEY, PSK_IDENTITY = bytes(range(16)), b"bench"
RECORD_HEADER = 13
SIGNATURE_SCHEMES = (b"ecdsa_secp256r1_sha256", b"rsa_pss_rsae_sha256")
"The one scheme per key type both libraries offer and accept (names as both spell them)."


@dataclass(frozen=True)
class Kind:
    """One handshake configuration, spelled for both libraries."""

    label: str
    "How the table names it."
    suite: CipherSuite
    "The one suite both sides allow."
    openssl_cipher: bytes
    "The same suite in OpenSSL's cipher list syntax."
    group: NamedGroup | None
    "The ECDHE group forced on both sides (None: PSK)."
    openssl_group: bytes
    "The same group in OpenSSL's groups list syntax."
    also_offered: tuple[NamedGroup, bytes] | None
    """A group the client offers after ``group`` and the server never picks: OpenSSL serves
    a P-256 ECDSA certificate only to a client that lists P-256 (RFC 8422 §5.1.1)."""
    key: str
    "``ecdsa`` (P-256), ``rsa`` (2048 bits) or ``psk``."


KINDS: dict[str, Kind] = {
    "p256": Kind(
        "ECDHE-ECDSA P-256",
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        b"ECDHE-ECDSA-AES128-GCM-SHA256",
        NamedGroup.secp256r1,
        b"P-256",
        None,
        "ecdsa",
    ),
    "x25519": Kind(
        "ECDHE-ECDSA X25519",
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        b"ECDHE-ECDSA-AES128-GCM-SHA256",
        NamedGroup.x25519,
        b"X25519",
        (NamedGroup.secp256r1, b"P-256"),
        "ecdsa",
    ),
    "rsa2048": Kind(
        "ECDHE-RSA-2048 P-256",
        CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        b"ECDHE-RSA-AES128-GCM-SHA256",
        NamedGroup.secp256r1,
        b"P-256",
        None,
        "rsa",
    ),
    "psk": Kind(
        "PSK-AES128-GCM",
        CipherSuite.TLS_PSK_WITH_AES_128_GCM_SHA256,
        b"PSK-AES128-GCM-SHA256",
        None,
        b"",
        None,
        "psk",
    ),
}
"""Handshake kind (the tail of ``handshake-NAME``) -> its settings on both libraries."""

_credentials: dict[str, CertificateChain] = {}


def credentials(key: str) -> CertificateChain:
    """One chain per key type per process (RSA keys take a while to make); the leaf is sent."""
    if key not in _credentials:
        bits = (2048, 2048, 2048) if key == "rsa" else (256, 256, 256)
        _credentials[key] = generate_chain(kind=key, key_bits=bits)
    return _credentials[key]


def aiodtls_configs(
    kind: Kind, *, cookie: bool = True
) -> tuple[DtlsConfiguration, DtlsConfiguration]:
    """Client and server configurations: DTLS 1.2 alone (what pyOpenSSL is compared in), one
    suite and group, EMS on, the cookie exchange on unless ``cookie`` is False, no verification
    of the certificate by the client (its signature on the key exchange is)."""
    client = DtlsConfiguration(is_client=True, verify_mode=ssl.CERT_NONE, versions=_DTLS12)
    server = DtlsConfiguration(is_client=False, cookie_exchange=cookie, versions=_DTLS12)
    for config in (client, server):
        config.cipher_suites = [kind.suite]
        config.signature_schemes = [SignatureScheme[name.decode()] for name in SIGNATURE_SCHEMES]
        if kind.group is not None:
            config.groups = [kind.group]
    if kind.also_offered is not None:
        client.groups.append(kind.also_offered[0])
    if kind.key == "psk":
        client.psk, client.psk_identity, server.psk = PSK_KEY, PSK_IDENTITY, PSK_KEY
    else:
        chain = credentials(kind.key)
        server.private_key = chain.key
        server.certificate_chain = [chain.leaf]
    return client, server


def aiodtls_pair(
    client_cfg: DtlsConfiguration, server_cfg: DtlsConfiguration
) -> tuple[DtlsConnection, DtlsConnection]:
    """One complete handshake in memory; both connections established, events drained."""
    client = DtlsConnection(configuration=client_cfg)
    server = DtlsConnection(configuration=server_cfg)
    client.connect(SERVER, 0.0)
    for _ in range(10):
        moved = False
        for data, _ in client.datagrams_to_send(0.0):
            server.receive_datagram(data, CLIENT, 0.0)
            moved = True
        for data, _ in server.datagrams_to_send(0.0):
            client.receive_datagram(data, SERVER, 0.0)
            moved = True
        if not moved:
            break
    if not client.state == server.state == ConnectionState.ESTABLISHED:
        raise RuntimeError(f"aiodtls handshake did not complete: {client.state}, {server.state}")
    while client.next_event() is not None or server.next_event() is not None:
        pass
    return client, server


def aiodtls_records(client: DtlsConnection, server: DtlsConnection, n: int, payload: bytes) -> None:
    """``n`` records from client to server: protect, send, unprotect, deliver."""
    for _ in range(n):
        client.send(payload)
        for data, _ in client.datagrams_to_send(0.0):
            server.receive_datagram(data, CLIENT, 0.0)
        event = server.next_event()
        if not isinstance(event, DataReceived):
            raise RuntimeError(f"expected the record, got {event!r}")


# -- pyOpenSSL ---------------------------------------------------------------------------------


def pyopenssl_contexts(
    kind: Kind, *, resumption: str | None = None, cookie: bool = True
) -> tuple[Any, Any]:
    """Server and client ``SSL.Context`` with the same settings as :func:`aiodtls_configs`;
    ``resumption`` is None, ``"session_id"`` (a server-side cache) or ``"ticket"``."""
    from OpenSSL import SSL
    from OpenSSL._util import ffi, lib

    server_ctx = SSL.Context(SSL.DTLS_METHOD)
    client_ctx = SSL.Context(SSL.DTLS_METHOD)
    for ctx in (server_ctx, client_ctx):
        ctx.set_cipher_list(kind.openssl_cipher)
        ctx.set_options(SSL.OP_NO_QUERY_MTU)
        if resumption != "ticket":
            ctx.set_options(SSL.OP_NO_TICKET)
        groups = kind.openssl_group
        if ctx is client_ctx and kind.also_offered is not None:
            groups += b":" + kind.also_offered[1]
        # pyOpenSSL's set_tmp_ecdh takes no X25519; this is SSL_CTX_set1_groups_list.
        if groups and lib.SSL_CTX_set1_curves_list(ctx._context, groups) != 1:
            raise RuntimeError(f"OpenSSL refused the groups {groups!r}")
        if lib.SSL_CTX_set1_sigalgs_list(ctx._context, b":".join(SIGNATURE_SCHEMES)) != 1:
            raise RuntimeError("OpenSSL refused the signature schemes")
    if cookie:
        _pyopenssl_cookie(server_ctx)
    client_ctx.set_verify(SSL.VERIFY_NONE, lambda *a: True)
    if resumption == "session_id":
        server_ctx.set_session_id(b"aiodtls-bench")
        server_ctx.set_session_cache_mode(SSL.SESS_CACHE_SERVER)
    else:  # like aiodtls without a session_store: nothing is kept per handshake
        server_ctx.set_session_cache_mode(SSL.SESS_CACHE_OFF)
    if kind.key == "psk":
        _pyopenssl_psk(server_ctx, client_ctx, ffi, lib)
    else:
        chain = credentials(kind.key)
        server_ctx.use_certificate(chain.leaf)
        server_ctx.use_privatekey(chain.key)
    return server_ctx, client_ctx


def _pyopenssl_cookie(server_ctx: Any) -> None:
    """The cookie exchange, with an HMAC-SHA256 cookie made and checked in Python (pyOpenSSL
    has no default cookie callbacks; aiodtls's cookie is an HMAC too)."""
    from OpenSSL import SSL

    if SSL.OP_COOKIE_EXCHANGE is None:  # pyOpenSSL's name for a build without it
        raise RuntimeError("this OpenSSL has no DTLS cookie exchange")
    server_ctx.set_options(SSL.OP_COOKIE_EXCHANGE)
    secret = os.urandom(32)

    def generate(conn: object) -> bytes:
        return hmac.new(secret, b"peer", hashlib.sha256).digest()[:16]

    server_ctx.set_cookie_generate_callback(generate)
    server_ctx.set_cookie_verify_callback(lambda conn, c: hmac.compare_digest(c, generate(conn)))


def _pyopenssl_psk(server_ctx: Any, client_ctx: Any, ffi: Any, lib: Any) -> None:
    """The PSK callbacks (pyOpenSSL has no API for them): one key for the one identity."""

    def server_psk(ssl_: Any, identity: Any, psk: Any, max_psk: int) -> int:
        ffi.memmove(psk, PSK_KEY, len(PSK_KEY))
        return len(PSK_KEY)

    def client_psk(
        ssl_: Any, hint: Any, identity: Any, max_identity: int, psk: Any, max_psk: int
    ) -> int:
        ffi.memmove(identity, PSK_IDENTITY + b"\0", len(PSK_IDENTITY) + 1)
        ffi.memmove(psk, PSK_KEY, len(PSK_KEY))
        return len(PSK_KEY)

    server_callback = ffi.callback(
        "unsigned int(SSL *, const char *, unsigned char *, unsigned int)", server_psk
    )
    client_callback = ffi.callback(
        "unsigned int(SSL *, const char *, char *, unsigned int, unsigned char *, unsigned int)",
        client_psk,
    )
    lib.SSL_CTX_set_psk_server_callback(server_ctx._context, server_callback)
    lib.SSL_CTX_set_psk_client_callback(client_ctx._context, client_callback)
    # cffi frees a callback with its Python object: the contexts keep theirs.
    server_ctx.bench_psk_callback = server_callback
    client_ctx.bench_psk_callback = client_callback


def pyopenssl_datagrams(conn: Any) -> Iterator[bytes]:
    """The datagrams a pyOpenSSL connection has written to its memory BIO, in order."""
    from OpenSSL import SSL

    while True:
        try:
            yield conn.bio_read(65536)
        except SSL.WantReadError:
            return


def _move(src: Any, dst: Any) -> None:
    for data in pyopenssl_datagrams(src):
        dst.bio_write(data)


def pyopenssl_step(conn: Any) -> bool:
    """Advance a pyOpenSSL handshake with what its BIO holds; True once it has completed."""
    from OpenSSL import SSL

    try:
        conn.do_handshake()
        return True
    except SSL.WantReadError:
        return False


def pyopenssl_pair(server_ctx: Any, client_ctx: Any, session: Any = None) -> tuple[Any, Any]:
    """One complete pyOpenSSL handshake in memory (memory BIOs), resuming ``session`` if given."""
    from OpenSSL import SSL

    server = SSL.Connection(server_ctx, None)
    server.set_accept_state()
    client = SSL.Connection(client_ctx, None)
    client.set_connect_state()
    if session is not None:
        client.set_session(session)
    for conn in (client, server):
        conn.set_ciphertext_mtu(1400)  # memory BIOs cannot be asked for an MTU
    client_done = pyopenssl_step(client)
    server_done = False
    for _ in range(20):
        _move(client, server)
        server_done = pyopenssl_step(server) or server_done
        _move(server, client)
        client_done = pyopenssl_step(client) or client_done
        if client_done and server_done:
            _move(client, server)
            return client, server
    raise RuntimeError("pyOpenSSL handshake did not complete")


def pyopenssl_forget(*conns: Any) -> None:
    """Mark connections shut down without sending anything, as aiodtls's are simply dropped:
    OpenSSL takes the session of a connection freed otherwise out of the server's cache."""
    from OpenSSL import SSL

    for conn in conns:
        conn.set_shutdown(SSL.SENT_SHUTDOWN | SSL.RECEIVED_SHUTDOWN)


def pyopenssl_resumed(conn: Any) -> bool:
    """Whether a pyOpenSSL connection's handshake resumed a session."""
    from OpenSSL._util import lib

    return bool(lib.SSL_session_reused(conn._ssl))


def pyopenssl_records(client: Any, server: Any, n: int, payload: bytes) -> None:
    """``n`` records from client to server through pyOpenSSL."""
    for _ in range(n):
        client.write(payload)
        _move(client, server)
        if server.read(65536) != payload:
            raise RuntimeError("pyOpenSSL delivered something else")
