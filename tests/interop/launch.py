"""Starting the real DTLS peers of the interop tests: one entry per implementation.

Owns how each peer is launched as a server or a client: its command line for a
:class:`~interop.peers.Case` (suite, key exchange, credentials), when it is ready (a server has
bound its UDP port; a client has printed :attr:`Implementation.ready`), the line exchanges the
tests run through it, and the skip (or CI failure) when its binary is missing. Every process
is started through a :class:`~interop.peers.PeerSet`, which stops it when the test ends, also
on failure. It does not own process plumbing (``peers.py``), what a test asserts about a
peer's output, or the in-process aiortc peer (``aiortc_peer.py``, which runs inside the test's
event loop and has no process to start).

The implementations: :data:`OPENSSL` (``openssl s_server``/``s_client -dtls1_2``),
:data:`GNUTLS` (``gnutls-serv``/``gnutls-cli --udp``), :data:`AIODTLS` (this checkout's CLI),
:data:`PYOPENSSL` (``pyopenssl_server.py`` and a small client script) and :data:`LIBCOAP`
(``coap-server``/``coap-client`` of one TLS build) and :data:`WOLFSSL` (the example server and
client of a wolfSSL source tree built with ``--enable-dtls13``, found through
``AIODTLS_WOLFSSL_DIR``; .ci/run builds it). A new peer is one more :class:`Implementation`:
its two argv builders, its ready line, and an entry in :data:`IMPLEMENTATIONS`.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from certs import SERVER_NAME, KeyKind

from .peers import (
    HANDSHAKE_OK,
    PSK_HEX,
    PSK_IDENTITY,
    Case,
    InteropFiles,
    PeerProcess,
    PeerSet,
    Stream,
    free_udp_port,
)

__all__ = [
    "AIODTLS",
    "GNUTLS",
    "IMPLEMENTATIONS",
    "LIBCOAP",
    "OPENSSL",
    "PYOPENSSL",
    "WOLFSSL",
    "WOLFSSL_DIR_VARIABLE",
    "WOLFSSL_PSK13_HEX",
    "WOLFSSL_PSK13_IDENTITY",
    "WOLFSSL_PSK_HEX",
    "WOLFSSL_PSK_IDENTITY",
    "WOLFSSL_REPLY",
    "WOLFSSL_SUITES13",
    "CasePriority",
    "Implementation",
    "aiodtls_client_to_gnutls_serv",
    "aiodtls_client_to_s_server",
    "coap_server_port",
    "echo",
    "exchange_with_aiodtls_server",
    "exchange_with_s_server",
    "peer_client_to_aiodtls_server",
    "reconnect_resumes",
    "require_binary",
    "require_pyopenssl",
    "require_wolfssl",
]

PYOPENSSL_SERVER = Path(__file__).with_name("pyopenssl_server.py")
"The pyOpenSSL DTLS server script (run with this interpreter)."

CasePriority = str | None | bool
"A GnuTLS ``--priority``: a string, None for none (GnuTLS's default), True for the case's."


def _required() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("AIODTLS_REQUIRE_INTEROP"))


def require_binary(name: str) -> str:
    """The path of peer binary ``name``; skips the test when it is missing.

    With ``CI`` or ``AIODTLS_REQUIRE_INTEROP`` set a missing binary fails the test instead:
    CI installs every peer (.ci/run), so a skip there would hide a gap.
    """
    path = shutil.which(name)
    if path is not None:
        return path
    _missing(f"interop peer {name!r} is not installed (Debian: openssl / gnutls-bin)")


def _missing(message: str) -> NoReturn:
    """Skip the test for a missing peer, or fail it under CI/AIODTLS_REQUIRE_INTEROP."""
    if _required():
        pytest.fail(message + " but CI/AIODTLS_REQUIRE_INTEROP requires it")
    pytest.skip(message)


def require_pyopenssl() -> None:
    """Skip without pyOpenSSL, or fail under CI/AIODTLS_REQUIRE_INTEROP (like the binaries)."""
    try:
        import OpenSSL.SSL  # noqa: F401
    except ImportError:
        _missing("pyOpenSSL is not installed (pip install pyopenssl)")


WOLFSSL_DIR_VARIABLE = "AIODTLS_WOLFSSL_DIR"
"The environment variable naming the built wolfSSL source tree (its root)."


def require_wolfssl() -> Path:
    """The root of a wolfSSL source tree whose example server and client are built; skips the
    test without one (``AIODTLS_WOLFSSL_DIR`` unset or not built), fails under CI instead."""
    root = os.environ.get(WOLFSSL_DIR_VARIABLE)
    if root:
        path = Path(root)
        if all(os.access(path / "examples" / e / e, os.X_OK) for e in ("server", "client")):
            return path
    _missing(
        f"wolfSSL's examples are not built (set {WOLFSSL_DIR_VARIABLE} to a wolfSSL source "
        "tree built with --enable-dtls13, as .ci/run does)"
    )


def _root(case: Case, files: InteropFiles | None, ca: Path | None) -> Path:
    """The trust anchor a client of ``case`` verifies against: ``ca``, else the case's root."""
    if ca is not None:
        return ca
    assert files is not None and case.kind is not None
    return files.server[case.kind].root


@dataclass(frozen=True)
class Implementation:
    """One DTLS implementation's server and client programs, and how to tell they are ready."""

    name: str
    "Short label."
    ready: re.Pattern[str]
    "What its client prints once the handshake completed."
    ready_stream: Stream
    "Where its client prints :attr:`ready`."

    def wait_ready(self, client: PeerProcess, timeout: float = 15.0) -> re.Match[str]:
        """Wait until ``client`` (started by :meth:`client`) completed its handshake."""
        return client.wait_for(self.ready, self.ready_stream, timeout)

    @staticmethod
    def _bound(server: PeerProcess, port: int) -> PeerProcess:
        server.wait_until_bound(port)
        return server


@dataclass(frozen=True)
class OpenSsl(Implementation):
    """``openssl s_server`` / ``s_client -dtls1_2``, stdin held open (s_server quits without)."""

    def server(
        self,
        peers: PeerSet,
        port: int,
        case: Case,
        files: InteropFiles,
        *options: str,
        trace: bool = True,
        pin_suite: bool = True,
    ) -> PeerProcess:
        """``s_server`` for one connection on 127.0.0.1:``port`` with ``case``'s credentials
        (PSK with the hint ``hint``, or the leaf, key and intermediates), bound when returned.
        ``trace`` adds ``-trace``, ``pin_suite`` the case's ``-cipher``."""
        argv = [require_binary("openssl"), "s_server", "-dtls1_2"]
        argv += ["-accept", f"127.0.0.1:{port}", "-naccept", "1"]
        argv += self._common(case, trace, pin_suite)
        if case.kind is None:
            argv += ["-nocert", "-psk", PSK_HEX, "-psk_identity", PSK_IDENTITY]
            argv += ["-psk_hint", "hint"]
        else:
            pem = files.server[case.kind]
            assert pem.intermediates is not None
            argv += ["-cert", str(pem.leaf), "-key", str(pem.key)]
            argv += ["-cert_chain", str(pem.intermediates)]
        return self._bound(peers.start("s_server", [*argv, *options]), port)

    def client(
        self,
        peers: PeerSet,
        port: int,
        case: Case,
        files: InteropFiles | None,
        *options: str,
        trace: bool = True,
        pin_suite: bool = True,
        ca: Path | None = None,
        server_name: str | None = SERVER_NAME,
    ) -> PeerProcess:
        """``s_client`` to 127.0.0.1:``port``: PSK, or verifying the chain against ``ca``
        (default: the case's root) and, unless ``server_name`` is None, that name."""
        argv = [require_binary("openssl"), "s_client", "-dtls1_2"]
        argv += ["-connect", f"127.0.0.1:{port}", *self._common(case, trace, pin_suite)]
        if case.kind is None:
            argv += ["-psk", PSK_HEX, "-psk_identity", PSK_IDENTITY]
        else:
            argv += ["-CAfile", str(_root(case, files, ca)), "-verify_return_error"]
            if server_name is not None:
                argv += ["-servername", server_name, "-verify_hostname", server_name]
        return peers.start("s_client", [*argv, *options])

    @staticmethod
    def _common(case: Case, trace: bool, pin_suite: bool) -> list[str]:
        return (["-trace"] if trace else []) + (["-cipher", case.openssl_cipher] * pin_suite)


@dataclass(frozen=True)
class GnuTls(Implementation):
    """``gnutls-serv --udp --echo`` (binds every address) / ``gnutls-cli --udp``."""

    def server(
        self,
        peers: PeerSet,
        port: int,
        case: Case | None,
        files: InteropFiles | None,
        *options: str,
        priority: CasePriority = True,
    ) -> PeerProcess:
        """``gnutls-serv -d 4`` on ``port`` with ``case``'s credentials (none when ``case`` is
        None: they are in ``options``), bound when returned."""
        argv = [require_binary("gnutls-serv"), "--udp", "--echo", "-p", str(port)]
        argv += [*self._priority(case, priority), "-d", "4"]
        argv += self._server_credentials(case, files)
        return self._bound(peers.start("gnutls-serv", [*argv, *options]), port)

    @staticmethod
    def _server_credentials(case: Case | None, files: InteropFiles | None) -> list[str]:
        if case is None:
            return []  # in the options
        assert files is not None
        if case.kind is None:
            return [f"--pskpasswd={files.gnutls_psk_file}", "--pskhint=hint"]
        pem = files.server[case.kind]
        # gnutls-serv also sends an optional CertificateRequest by default; our client
        # answers it with an empty Certificate.
        return [f"--x509certfile={pem.chain}", f"--x509keyfile={pem.key}"]

    def client(
        self,
        peers: PeerSet,
        port: int,
        case: Case | None,
        files: InteropFiles | None,
        *options: str,
        priority: CasePriority = True,
        debug: bool = True,
        sni: bool = True,
    ) -> PeerProcess:
        """``gnutls-cli`` to 127.0.0.1:``port``: PSK, or verifying the chain and the name
        (``sni`` also sends it); ``debug`` adds ``-d 4`` (slower: it logs every message)."""
        argv = [require_binary("gnutls-cli"), "--udp", "-p", str(port)]
        argv += [*self._priority(case, priority), *(["-d", "4"] * debug)]
        if case is not None and case.kind is None:
            argv += [f"--pskusername={PSK_IDENTITY}", f"--pskkey={PSK_HEX}"]
        elif case is not None:
            argv += [f"--x509cafile={_root(case, files, None)}"]
            argv += [f"--verify-hostname={SERVER_NAME}", *[f"--sni-hostname={SERVER_NAME}"] * sni]
        return peers.start("gnutls-cli", [*argv, *options, "127.0.0.1"])

    @staticmethod
    def _priority(case: Case | None, priority: CasePriority) -> list[str]:
        if priority is True:
            assert case is not None
            return ["--priority", case.gnutls_priority]
        return [] if priority is None or priority is False else ["--priority", priority]


@dataclass(frozen=True)
class Aiodtls(Implementation):
    """``aiodtls server`` / ``aiodtls client`` of this checkout (``python -m aiodtls``)."""

    def server(
        self,
        peers: PeerSet,
        port: int,
        case: Case | None,
        files: InteropFiles | None,
        *options: str,
        host: str | None = "127.0.0.1",
        echo: bool = True,
        name: str = "aiodtls-server",
    ) -> PeerProcess:
        """``aiodtls server [--echo]`` on ``host``:``port`` (the CLI's default host when
        None) with ``case``'s credentials (none when None), bound when returned."""
        args = ["server", *(["--host", host] if host else []), "--port", str(port)]
        args += ["--echo"] * echo
        if case is not None and case.kind is not None:
            assert files is not None
            pem = files.server[case.kind]
            args += ["--cert", str(pem.chain), "--key", str(pem.key)]
        elif case is not None:
            args += ["--psk", PSK_HEX, "--psk-identity", PSK_IDENTITY]
        return self._bound(peers.start_aiodtls(name, *args, *options), port)

    def client(
        self,
        peers: PeerSet,
        port: int,
        case: Case | None,
        files: InteropFiles | None,
        *options: str,
        name: str = "aiodtls-client",
        ca: Path | None = None,
    ) -> PeerProcess:
        """``aiodtls client 127.0.0.1:port`` with ``case``'s suite: PSK, or verifying the
        server's chain against ``ca`` (default: the case's root) and the name ``localhost``."""
        args = ["client", f"127.0.0.1:{port}"]
        if case is not None:  # else suite and credentials are in the options
            args += ["--cipher", case.suite]
            if case.kind is None:
                args += ["--psk", PSK_HEX, "--psk-identity", PSK_IDENTITY]
            else:
                args += ["--ca", str(_root(case, files, ca)), "--server-name", SERVER_NAME]
        return peers.start_aiodtls(name, *args, *options)

    def proxy(
        self, peers: PeerSet, upstream_port: int, *args: str, json_output: bool = False
    ) -> tuple[PeerProcess, int]:
        """``aiodtls proxy`` in front of 127.0.0.1:``upstream_port`` on a port it picks;
        returns the process and that port once it listens."""
        argv = ["proxy", "--listen", "127.0.0.1:0", "--upstream", f"127.0.0.1:{upstream_port}"]
        # The test's deadline kills it sooner; this only bounds a leaked process.
        argv += ["--duration", "40", *args, *(["--json"] * json_output)]
        proxy = peers.start_aiodtls("proxy", *argv)
        if json_output:
            listening = r'"type": "listening", "listen": "127\.0\.0\.1:(\d+)"'
            match = proxy.wait_for(listening, "stdout")
        else:
            match = proxy.wait_for(r"proxy listening on 127\.0\.0\.1:(\d+) ->", "stderr")
        return proxy, int(match.group(1))


@dataclass(frozen=True)
class PyOpenSsl(Implementation):
    """OpenSSL inside the ``cryptography`` wheel, driven through pyOpenSSL's memory BIOs."""

    def server(
        self, peers: PeerSet, port: int, kind: str, files: InteropFiles, *options: str
    ) -> PeerProcess:
        """``pyopenssl_server.py`` with the ``kind`` server chain, ready once it listens."""
        require_pyopenssl()
        pem = files.server[kind]
        argv = [sys.executable, str(PYOPENSSL_SERVER), str(port)]
        argv += ["--cert", str(pem.chain), "--key", str(pem.key), *options]
        server = peers.start("pyopenssl_server", argv)
        server.wait_for(r"listening on 127\.0\.0\.1:\d+", "stdout", timeout=10.0)
        return server

    def client(self, peers: PeerSet, port: int, ca: Path) -> PeerProcess:
        """:data:`PYOPENSSL_CLIENT` to 127.0.0.1:``port`` verifying against ``ca``."""
        require_pyopenssl()
        argv = [sys.executable, "-c", PYOPENSSL_CLIENT, str(port), str(ca)]
        return peers.start("pyopenssl-client", argv)


@dataclass(frozen=True)
class Libcoap(Implementation):
    """Debian's ``coap-server-<tls>`` / ``coap-client-<tls>``, one per TLS build."""

    def server(self, peers: PeerSet, build: str, *options: str) -> tuple[PeerProcess, int]:
        """``coap-server-<build> -A 127.0.0.1 -p P``; returns it, once DTLS (on P + 1) is
        bound, and the DTLS port."""
        binary = require_binary(f"coap-server-{build}")
        port = coap_server_port()
        argv = [binary, "-A", "127.0.0.1", "-p", str(port), *options]
        return self._bound(peers.start(f"coap-server-{build}", argv), port + 1), port + 1

    def client(self, peers: PeerSet, build: str, uri: str, *options: str) -> PeerProcess:
        """``coap-client-<build> -v 7 -B 1`` (it gives up after a second without answer)."""
        binary = require_binary(f"coap-client-{build}")
        argv = [binary, "-v", "7", "-B", "1", *options, uri]
        return peers.start(f"coap-client-{build}", argv)


WOLFSSL_PSK_HEX = "1a2b3c4d"
"The PSK wolfSSL's examples use for (D)TLS 1.2 (``wolfssl/test.h``: fixed, no option)."

WOLFSSL_PSK_IDENTITY = "Client_identity"
"The PSK identity wolfSSL's example client sends and its server requires."

_WOLFSSL_CIPHERS = {"PSK-AES128-CCM8": "PSK-AES128-CCM-8"}
"wolfSSL's ``-l`` names that differ from OpenSSL's."

WOLFSSL_REPLY = "I hear you fa shizzle!"
"What wolfSSL's example server answers to the first message (without ``-e``)."

WOLFSSL_PSK13_HEX = "0123456789abcdef" * 4
"""The 32-byte PSK wolfSSL's examples use for (D)TLS 1.3 (``wolfssl/test.h``: 0x01, then +0x22
a byte, wrapping to 0x01 past 0xff, i.e. 01 23 45 .. ef repeated; fixed, no option)."""

WOLFSSL_PSK13_IDENTITY = "Client_identity"
"""The (D)TLS 1.3 PSK identity of the example client with ``--openssl-psk`` (without it the client
appends the suite's hash name: ``Client_identitySHA256``). The example server accepts any identity
that starts with it."""

WOLFSSL_SUITES13 = {
    "TLS_AES_128_GCM_SHA256": "TLS13-AES128-GCM-SHA256",
    "TLS_AES_256_GCM_SHA384": "TLS13-AES256-GCM-SHA384",
    "TLS_CHACHA20_POLY1305_SHA256": "TLS13-CHACHA20-POLY1305-SHA256",
    "TLS_AES_128_CCM_SHA256": "TLS13-AES128-CCM-SHA256",
    "TLS_AES_128_CCM_8_SHA256": "TLS13-AES128-CCM-8-SHA256",
}
"wolfSSL's ``-l`` name of each TLS 1.3 suite (IANA name -> wolfSSL name)."


@dataclass(frozen=True)
class WolfSsl(Implementation):
    """wolfSSL's ``examples/server/server`` / ``examples/client/client -u``: one connection,
    one message each way (the client sends ``hello wolfssl!``, the server answers ``I hear you
    fa shizzle!``). ``version`` is ``-v``: ``3`` DTLS 1.2, ``4`` DTLS 1.3, ``d`` either.

    The examples look for ``certs/dh2048.pem`` to find wolfSSL's root and exit ("wolf root not
    found") without it, so the test's directory, their working directory, gets a ``certs`` link
    to the tree's."""

    def server(
        self,
        peers: PeerSet,
        port: int,
        case: Case,
        files: InteropFiles,
        *options: str,
        version: str = "3",
        pin_suite: bool = True,
    ) -> PeerProcess:
        """``server -u`` for one connection on 127.0.0.1:``port`` with ``case``'s credentials
        (PSK: the examples' own, :data:`WOLFSSL_PSK_HEX`), asking for no client certificate,
        bound when returned; ``pin_suite`` adds the case's ``-l``."""
        argv = [*self._program(peers, "server"), "-u", "-v", version, "-p", str(port), "-d"]
        argv += self._common(case, pin_suite)
        if case.kind is not None:
            pem = files.server[case.kind]
            argv += ["-c", str(pem.chain), "-k", str(pem.key)]
        return self._bound(peers.start("wolfssl-server", [*argv, *options]), port)

    def client(
        self,
        peers: PeerSet,
        port: int,
        case: Case,
        files: InteropFiles,
        *options: str,
        version: str = "3",
    ) -> PeerProcess:
        """``client -u`` to localhost:``port`` with the case's suite: PSK, or verifying the chain
        against the case's root and the name ``localhost`` (``-m``), sending no certificate."""
        argv = [*self._program(peers, "client"), "-u", "-v", version]
        argv += ["-h", SERVER_NAME, "-p", str(port), *self._common(case, True)]
        if case.kind is not None:
            argv += ["-A", str(_root(case, files, None)), "-m", "-x"]
        return peers.start("wolfssl-client", [*argv, *options])

    def server13(
        self,
        peers: PeerSet,
        port: int,
        files: InteropFiles,
        *options: str,
        kind: KeyKind | None = "ecdsa",
        version: str = "4",
        suite: str | None = None,
        client_ca: Path | None = None,
        resume: bool = False,
        key_update: bool = False,
        cookie: bool = True,
        group: str | None = None,
        echo: bool = False,
    ) -> PeerProcess:
        """``server -u -v 4`` (``version`` ``d``: DTLS 1.3 or 1.2) on 127.0.0.1:``port``, bound
        when returned, with the ``kind`` server chain or, for None, the examples' TLS 1.3 PSK
        (``-s``; :data:`WOLFSSL_PSK13_HEX`). ``suite`` pins one suite (an IANA name of
        :data:`WOLFSSL_SUITES13`). ``client_ca`` requires a client certificate under that root
        (``-A ca -F``; else ``-d``, none asked). ``resume`` serves a second connection that may
        resume (``-r``); ``key_update`` sends a KeyUpdate before its answer and reads a second
        message (``-U``); without ``cookie`` no HelloRetryRequest is sent (``-J n``; by default
        wolfSSL's DTLS 1.3 server answers every first ClientHello with an HRR carrying a
        cookie); ``group`` (``SECP384R1`` ...) is the only group the server accepts a key share
        for (``--force-curve``), which makes a client that offered another send a second
        ClientHello. ``echo`` sends every record back until the client closes (``-e``)
        instead of printing one message and answering :data:`WOLFSSL_REPLY`: wolfSSL's
        printing loop loses the message when another record (an ACK) is already waiting
        behind it (its peek overwrites the length read), so only the echo shows reliably
        what arrived; ``key_update`` needs the printing mode."""
        assert not (echo and key_update), "-U works only without -e"
        argv = [*self._program(peers, "server", line_buffered=True), "-u", "-v", version]
        argv += ["-p", str(port), *self._credentials13(files, kind, suite)]
        argv += ["-A", str(client_ca), "-F"] if client_ca is not None else ["-d"]
        argv += ["-r"] * resume + ["-U"] * key_update + ["-J", "n"] * (not cookie) + ["-e"] * echo
        argv += ["--force-curve", group] if group is not None else []
        return self._bound(peers.start("wolfssl-server", [*argv, *options]), port)

    def client13(
        self,
        peers: PeerSet,
        port: int,
        files: InteropFiles,
        *options: str,
        kind: KeyKind | None = "ecdsa",
        version: str = "4",
        suite: str | None = None,
        client_certificate: bool = False,
        resume: bool = False,
        key_update: bool = False,
        no_key_share: bool = False,
    ) -> PeerProcess:
        """``client -u -v 4`` to localhost:``port``: verifying the ``kind`` chain and the name
        ``localhost`` (``-A root -m``), or with the TLS 1.3 PSK for None (``-s --openssl-psk``:
        identity :data:`WOLFSSL_PSK13_IDENTITY`). ``client_certificate`` sends the interop
        client chain (else ``-x``). ``resume`` reconnects once with the ticket it got (``-r``);
        ``key_update`` sends a KeyUpdate (update_requested) before its message and a second
        message after the answer (``-I``); ``no_key_share`` offers an empty key_share, so the
        server must ask for one with a HelloRetryRequest (``-J``)."""
        argv = [*self._program(peers, "client", line_buffered=True), "-u", "-v", version]
        argv += ["-h", SERVER_NAME, "-p", str(port)]
        if kind is None:
            argv += ["-s", "--openssl-psk"]
        else:
            argv += ["-A", str(files.server[kind].root), "-m"]
            if client_certificate:
                argv += ["-c", str(files.client.chain), "-k", str(files.client.key)]
            else:
                argv += ["-x"]
        argv += ["-l", WOLFSSL_SUITES13[suite]] if suite is not None else []
        argv += ["-r"] * resume + ["-I"] * key_update + ["-J"] * no_key_share
        return peers.start("wolfssl-client", [*argv, *options])

    @staticmethod
    def _credentials13(files: InteropFiles, kind: KeyKind | None, suite: str | None) -> list[str]:
        argv = ["-l", WOLFSSL_SUITES13[suite]] if suite is not None else []
        if kind is None:
            return ["-s", *argv]
        pem = files.server[kind]
        return ["-c", str(pem.chain), "-k", str(pem.key), *argv]

    @staticmethod
    def cipher(case: Case) -> str:
        """wolfSSL's name of ``case``'s suite (OpenSSL's, but ``CCM-8`` for ``CCM8``)."""
        return _WOLFSSL_CIPHERS.get(case.openssl_cipher, case.openssl_cipher)

    @classmethod
    def _common(cls, case: Case, pin_suite: bool) -> list[str]:
        return ["-s"] * (case.kind is None) + ["-l", cls.cipher(case)] * pin_suite

    @staticmethod
    def _program(peers: PeerSet, name: str, *, line_buffered: bool = False) -> list[str]:
        """The example's argv; ``line_buffered`` runs it under ``stdbuf -oL`` (coreutils), so
        each line it prints reaches the test at once: a DTLS 1.3 server keeps running (and its
        piped stdout unflushed) until its NewSessionTicket is ACKed or the client closes."""
        root = require_wolfssl()
        certs = peers.directory / "certs"
        if not certs.exists():
            certs.symlink_to(root / "certs", target_is_directory=True)
        stdbuf = shutil.which("stdbuf") if line_buffered else None
        return [*([stdbuf, "-oL"] if stdbuf else []), str(root / "examples" / name / name)]


def coap_server_port() -> int:
    """A port P for ``coap-server -p P``: it takes UDP and TCP P and P+1 (DTLS on P+1)."""
    for _ in range(50):
        port = free_udp_port()
        try:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                for candidate in (port, port + 1):
                    with socket.socket(socket.AF_INET, kind) as probe:
                        probe.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise AssertionError("no two adjacent free ports for coap-server")


OPENSSL = OpenSsl("openssl", re.compile(r"Verify return code|Cipher is"), "stdout")
GNUTLS = GnuTls("gnutls", re.compile(r"Handshake was completed"), "stdout")
AIODTLS = Aiodtls("aiodtls", HANDSHAKE_OK, "stderr")
PYOPENSSL = PyOpenSsl("pyopenssl", re.compile(r"handshake ok"), "stdout")
LIBCOAP = Libcoap("libcoap", re.compile(r"session connected"), "both")
WOLFSSL = WolfSsl(
    "wolfssl",
    re.compile(r"SSL version is (?P<version>\S+)\s+SSL cipher suite is (?P<suite>\S+)"),
    "stdout",
)

IMPLEMENTATIONS: dict[str, Implementation] = {
    peer.name: peer for peer in (OPENSSL, GNUTLS, AIODTLS, PYOPENSSL, LIBCOAP, WOLFSSL)
}
"Every implementation by name."


def echo(
    peers: PeerSet, implementation: Implementation, client: PeerProcess, line: str
) -> re.Match[str]:
    """``client`` (of ``implementation``) finishes its handshake, sends ``line`` to an echo
    server, sees it come back on stdout, closes and exits 0. Returns its ready match."""
    ready = implementation.wait_ready(client)
    client.write_line(line)
    # The peers print what they receive, not what they send: the line on stdout is the echo.
    client.wait_for(re.escape(line), "stdout")
    client.close_stdin()
    assert client.wait_exit() == 0, peers.describe()
    return ready


CLIENT_LINE = "hello from aiodtls"
"What our client sends."
SERVER_LINE = "reply from openssl"
"What s_server answers through its stdin."


def exchange_with_s_server(
    peers: PeerSet, client: PeerProcess, server: PeerProcess
) -> dict[str, str]:
    """Our client sends a line, s_server prints it and answers through its stdin, our client
    prints the answer, then closes. Returns the client's "handshake ok" fields."""
    handshake = AIODTLS.wait_ready(client)
    client.write_line(CLIENT_LINE)
    server.wait_for(CLIENT_LINE, "stdout")
    server.write_line(SERVER_LINE)
    client.wait_for(SERVER_LINE, "stdout")
    client.close_stdin()
    assert client.wait_exit() == 0, peers.describe()
    return handshake.groupdict()


def exchange_with_aiodtls_server(
    peers: PeerSet, implementation: Implementation, client: PeerProcess, server: PeerProcess
) -> dict[str, str]:
    """A peer ``client`` echoes a line through our ``--echo`` server (:func:`echo`); returns
    the server's "handshake ok" fields."""
    echo(peers, implementation, client, f"hello from {implementation.name}")
    return AIODTLS.wait_ready(server).groupdict()


def aiodtls_client_to_s_server(
    peers: PeerSet, case: Case, files: InteropFiles
) -> tuple[dict[str, str], PeerProcess]:
    """Our client against ``s_server -mtu 1500`` for ``case``, data both ways
    (:func:`exchange_with_s_server`); returns our client's "handshake ok" fields and s_server."""
    port = free_udp_port()
    server = OPENSSL.server(peers, port, case, files, "-mtu", "1500")
    client = AIODTLS.client(peers, port, case, files)
    return exchange_with_s_server(peers, client, server), server


def aiodtls_client_to_gnutls_serv(
    peers: PeerSet, case: Case, files: InteropFiles
) -> tuple[dict[str, str], PeerProcess]:
    """Our client echoes a line through ``gnutls-serv`` for ``case``; returns our client's
    "handshake ok" fields and gnutls-serv."""
    port = free_udp_port()
    server = GNUTLS.server(peers, port, case, files)
    client = AIODTLS.client(peers, port, case, files)
    return echo(peers, AIODTLS, client, CLIENT_LINE).groupdict(), server


def peer_client_to_aiodtls_server(
    peers: PeerSet,
    implementation: OpenSsl | GnuTls,
    case: Case,
    files: InteropFiles,
    *server_options: str,
) -> tuple[dict[str, str], PeerProcess]:
    """``implementation``'s client echoes a line through our ``--echo`` server for ``case``;
    returns the server's "handshake ok" fields and the client."""
    port = free_udp_port()
    server = AIODTLS.server(peers, port, case, files, *server_options)
    client = implementation.client(peers, port, case, files)
    return exchange_with_aiodtls_server(peers, implementation, client, server), client


def reconnect_resumes(peers: PeerSet, case: Case, files: InteropFiles, port: int) -> None:
    """``aiodtls client --reconnect 2`` against a server on ``port``: both reconnections
    resumed the session, and the client exits 0."""
    client = AIODTLS.client(peers, port, case, files, "--reconnect", "2", "--wait", "0.2")
    client.wait_for(r"reconnect 2: ", "stderr")
    assert "reconnect 1: session resumed" in client.stderr(), client.describe()
    assert "reconnect 2: session resumed" in client.stderr(), client.describe()
    client.close_stdin()
    assert client.wait_exit() == 0, client.describe()


PYOPENSSL_CLIENT = """
import select, socket, sys, time
from OpenSSL import SSL
port, cafile = int(sys.argv[1]), sys.argv[2]
ctx = SSL.Context(SSL.DTLS_CLIENT_METHOD)
ctx.load_verify_locations(cafile)
ctx.set_verify(SSL.VERIFY_PEER, lambda *args: args[-1])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.connect(("127.0.0.1", port))
conn = SSL.Connection(ctx, None)
conn.set_connect_state()
conn.set_tlsext_host_name(b"localhost")
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    try:
        conn.do_handshake()
        break
    except SSL.WantReadError:
        pass
    while True:
        try:
            sock.send(conn.bio_read(65536))
        except SSL.WantReadError:
            break
    timeout = conn.DTLSv1_get_timeout() or 0.5
    if select.select([sock], [], [], timeout)[0]:
        conn.bio_write(sock.recv(65536))
    else:
        conn.DTLSv1_handle_timeout()
else:
    sys.exit("handshake timed out")
print("handshake ok", conn.get_cipher_name(), flush=True)
"""
"A pyOpenSSL DTLS client that drives its timer correctly (one datagram per bio_read)."
