"""Options shared by the client and server commands, and how they become a configuration.

The protocol version has one vocabulary in every command that makes handshakes (``client``,
``server``, ``netsim``, ``demo``): ``--dtls12`` or ``--dtls13`` for one version (openssl's
``-dtls1_2``), ``--versions 1.2,1.3`` for a list. Without them ``client`` and ``server`` keep
the configuration's default (both versions: the newest both sides allow is negotiated), while
``netsim`` and ``demo`` run DTLS 1.2, which their documented measurements are of.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import sys
from collections.abc import Callable
from typing import TextIO

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, x25519

from ..configuration import DtlsConfiguration
from ..errors import DtlsError, HandshakeTimeout
from ..events import HandshakeCompleted
from ..record.protection import new_protection
from ..srtp import EXPORTER_LABEL, SrtpProfile
from ..suites import CipherSuite, ProtocolVersion, Suite13, cipher_suite_from_name, suite_info
from ..trace import TraceRecord
from . import checks, rawkeys

__all__ = [
    "add_common_options",
    "add_version_options",
    "apply_common_options",
    "describe_handshake",
    "describe_srtp_export",
    "failure_line",
    "parse_address",
    "parse_versions",
    "version_label",
    "warm_up_crypto",
]


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", checks.port(port, allow_zero=True)


def _cipher(name: str) -> CipherSuite | Suite13:
    wanted = name.strip().upper()
    for suite13 in Suite13:  # the TLS 1.3 suites have one name in IANA's and OpenSSL's lists
        if wanted in (suite13.name, suite13.name[4:]):
            return suite13
    try:
        return cipher_suite_from_name(name)
    except ValueError:
        names = ", ".join(s.name for s in (*CipherSuite, *Suite13))
        raise argparse.ArgumentTypeError(
            f"unknown cipher suite {name!r} (IANA, OpenSSL or GnuTLS name); known: {names}"
        ) from None


_VERSION_WORDS = {
    ProtocolVersion.DTLSv1_2: ("1.2", "12", "1_2", "dtls1.2", "dtls12", "dtls1_2", "dtlsv1.2"),
    ProtocolVersion.DTLSv1_3: ("1.3", "13", "1_3", "dtls1.3", "dtls13", "dtls1_3", "dtlsv1.3"),
}


def parse_versions(text: str) -> tuple[ProtocolVersion, ...]:
    """``--versions``: ``1.2``, ``1.3`` or both, comma-separated (``dtls1_3``, ``DTLSv1.3``
    spellings too), in the order given; a one-line error for anything else."""
    versions: list[ProtocolVersion] = []
    for word in text.split(","):
        wanted = word.strip().lower()
        found = [v for v, words in _VERSION_WORDS.items() if wanted in words]
        if not found:
            raise argparse.ArgumentTypeError(
                f"unknown DTLS version {word.strip()!r}: give 1.2, 1.3 or 1.2,1.3"
            )
        if found[0] not in versions:
            versions.append(found[0])
    return tuple(versions)


def add_version_options(
    parser: argparse.ArgumentParser,
    *,
    what: str = "this side",
    default: str = "both, the newest the peer allows is negotiated",
) -> None:
    """``--dtls12`` / ``--dtls13`` / ``--versions LIST`` (one of them), into ``args.versions``
    (None: the command's default, which ``default`` describes in the help)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--dtls12",
        dest="versions",
        action="store_const",
        const=(ProtocolVersion.DTLSv1_2,),
        help=f"{what} speaks DTLS 1.2 only (like openssl -dtls1_2)",
    )
    group.add_argument(
        "--dtls13",
        dest="versions",
        action="store_const",
        const=(ProtocolVersion.DTLSv1_3,),
        help=f"{what} speaks DTLS 1.3 only (RFC 9147)",
    )
    group.add_argument(
        "--versions",
        type=parse_versions,
        metavar="1.2,1.3",
        help=f"the DTLS versions {what} allows, e.g. 1.2,1.3 for both (default: {default})",
    )


def version_label(versions: tuple[ProtocolVersion, ...] | None) -> str:
    """``DTLS 1.2``, ``DTLS 1.3`` or ``DTLS 1.2/1.3`` for titles."""
    chosen = versions or (ProtocolVersion.DTLSv1_2,)
    names = sorted("1.3" if v == ProtocolVersion.DTLSv1_3 else "1.2" for v in chosen)
    return "DTLS " + "/".join(names)


def _alpn(name: str) -> str:
    if not name.isascii() or not 1 <= len(name) <= 255:
        raise argparse.ArgumentTypeError(f"ALPN protocol {name!r} is not 1..255 ASCII characters")
    return name


def _srtp_profiles(text: str) -> list[SrtpProfile]:
    names = [name for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one SRTP profile name")
    try:
        return [SrtpProfile.from_name(name) for name in names]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


DEFAULT_CLIENT_PSK_IDENTITY = b"Client_identity"
"The identity ``aiodtls client --psk`` sends without ``--psk-identity``: openssl s_client's."


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Options both roles take."""
    add_version_options(parser)
    parser.add_argument("--psk", type=checks.hex_key, help="pre-shared key, hex")
    parser.add_argument(
        "--psk-identity",
        help="PSK identity (client: sent, default Client_identity as openssl s_client; "
        "server: expected, default any)",
    )
    parser.add_argument("--cert", help="PEM certificate chain, leaf first")
    parser.add_argument("--key", help="PEM private key of --cert")
    parser.add_argument("--key-password", help="password of an encrypted --key (else prompted)")
    parser.add_argument(
        "--ca",
        help="PEM file of trusted CA certificates (or the peer's self-signed certificate)",
    )
    parser.add_argument(
        "--system-ca", action="store_true", help="also trust the system's CA certificates"
    )
    parser.add_argument(
        "--no-strict-x509",
        action="store_true",
        help="accept CA certificates without keyUsage (like openssl verify)",
    )
    parser.add_argument(
        "--fingerprint",
        action="append",
        type=checks.fingerprint,
        help="accept only a peer certificate with this fingerprint (repeatable; any form: "
        "'sha-256 AB:CD:..', an a=fingerprint: line, hex)",
    )
    parser.add_argument(
        "--mtu", type=checks.mtu, default=1400, help="largest UDP payload (default 1400)"
    )
    parser.add_argument(
        "--cipher",
        type=_cipher,
        action="append",
        help="allow only this suite, e.g. TLS_PSK_WITH_AES_128_CCM_8 or PSK-AES128-CCM8, or a "
        "DTLS 1.3 one, e.g. TLS_AES_128_GCM_SHA256 (IANA, OpenSSL or GnuTLS name; repeatable, "
        "in preference order)",
    )
    parser.add_argument(
        "--profile",
        choices=["rfc7925"],
        help="rfc7925: the IoT/CoAP profile of DTLS 1.2 (TLS_PSK_WITH_AES_128_CCM_8 with --psk, "
        "else TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8; secp256r1; a server accepts both); --cipher "
        "and --versions win",
    )
    parser.add_argument(
        "--handshake-timeout", type=checks.positive(), default=60.0, help="seconds (default 60)"
    )
    parser.add_argument(
        "--keylog",
        type=checks.keylog_path,
        help="append NSS key log lines to this file (default: $SSLKEYLOGFILE if set)",
    )
    parser.add_argument(
        "--alpn",
        type=_alpn,
        action="append",
        metavar="PROTOCOL",
        help="ALPN protocol to offer (client) or accept (server), by preference; repeatable",
    )
    parser.add_argument(
        "--srtp-profiles",
        type=_srtp_profiles,
        metavar="NAME[,NAME]",
        help="DTLS-SRTP profiles to offer (client) or accept (server), by preference "
        "(IANA or OpenSSL names, e.g. SRTP_AES128_CM_SHA1_80,SRTP_AEAD_AES_128_GCM)",
    )
    parser.add_argument(
        "--export-srtp",
        action="store_true",
        help="print the EXTRACTOR-dtls_srtp keying material (compare with OpenSSL's "
        "-keymatexport EXTRACTOR-dtls_srtp); needs --srtp-profiles",
    )
    rawkeys.add_options(parser)
    parser.add_argument(
        "--cid",
        type=checks.cid_length,
        metavar="LEN",
        help="negotiate connection IDs (RFC 9146): ask the peer for a CID of LEN bytes "
        "(0..255; 0 = send CIDs but receive none), so a NAT rebinding keeps the session",
    )
    parser.add_argument("--trace", action="store_true", help="print the handshake trace on stderr")
    parser.add_argument("--quiet", action="store_true", help="no 'handshake ok' line")


def apply_common_options(args: argparse.Namespace, config: DtlsConfiguration) -> None:
    """Fill ``config`` from the shared options (a mistake raises ``checks.CliError``)."""
    if args.versions:
        config.versions = tuple(args.versions)
        if tuple(args.versions) == (ProtocolVersion.DTLSv1_3,):
            only12 = [
                option
                for option, given in (
                    ("--rpk", args.rpk),
                    ("--profile", args.profile),
                )
                if given
            ]
            if only12:
                raise checks.CliError(
                    f"{only12[0]} needs DTLS 1.2: the DTLS 1.3 handshake does not negotiate it "
                    "(yet); drop --dtls13 or allow both with --versions 1.2,1.3"
                )
    if not rawkeys.apply_options(args, config, _key_password(args)):  # --rpk: a key alone
        checks.load_credentials(config, args.cert, args.key, _key_password(args))
    if args.ca:
        checks.load_trust_anchors(config, args.ca)
    if args.system_ca:
        config.load_default_certs()
    if args.no_strict_x509:
        config.strict_x509 = False
    if args.fingerprint:
        config.peer_fingerprints = list(args.fingerprint)
    if args.psk_identity is not None and not args.psk:
        raise checks.CliError("--psk-identity needs --psk: give the key too")
    if args.psk:
        config.psk = args.psk
        if args.psk_identity is not None:
            config.psk_identity = os.fsencode(args.psk_identity)
        elif config.is_client:
            config.psk_identity = DEFAULT_CLIENT_PSK_IDENTITY
    if args.cipher:
        # A TLS 1.3 suite restricts the DTLS 1.3 suites, a DTLS 1.2 one the DTLS 1.2 suites.
        suites12 = [s for s in args.cipher if not isinstance(s, Suite13)]
        suites13 = [s for s in args.cipher if isinstance(s, Suite13)]
        if suites12:
            config.cipher_suites = suites12
        if suites13:
            config.cipher_suites13 = suites13
    if args.profile == "rfc7925":
        profile = DtlsConfiguration.rfc7925(is_client=config.is_client, psk=config.psk)
        config.groups, config.signature_schemes = profile.groups, profile.signature_schemes
        if not args.cipher:
            config.cipher_suites = profile.cipher_suites
        if not args.versions:  # a DTLS 1.2 profile; --versions 1.2,1.3 still allows both
            config.versions = profile.versions
    if args.alpn:
        config.alpn_protocols = list(args.alpn)
    if args.export_srtp and not args.srtp_profiles:
        raise checks.CliError("--export-srtp needs --srtp-profiles: give the profiles too")
    if args.srtp_profiles:
        config.srtp_profiles = list(args.srtp_profiles)
    if args.cid is not None:
        config.connection_id_length = args.cid
    config.mtu = args.mtu
    config.handshake_timeout = args.handshake_timeout
    if args.keylog:
        config.key_log = checks.open_keylog(args.keylog, "--keylog ")
    elif os.environ.get("SSLKEYLOGFILE"):  # opt-in by the environment only
        config.key_log = checks.open_keylog(os.environ["SSLKEYLOGFILE"], "SSLKEYLOGFILE=")
    if args.trace:
        config.trace = _print_trace


_WARM_UP_MESSAGE = b"aiodtls: first use of the handshake's algorithms"


def warm_up_crypto(config: DtlsConfiguration) -> None:
    """Make, before the first datagram, the first uses of the algorithms a handshake needs.

    The first signature, verification, key exchange and AEAD of a process cost OpenSSL one-time
    set-up (about 1 ms of CPU each on this project's machines: it looks up the algorithm's
    implementation, and an RSA key computes its blinding and Montgomery values on its first
    private operation). In a command that makes or serves one handshake right after it
    starts, that set-up otherwise falls between receiving the peer's flight and answering it.
    Here it is paid once at start-up: our key signs a fixed message and checks the signature,
    a trust anchor's self-signature is checked, one X25519 exchange is made, and the AEAD of
    each suite we allow seals and opens one record under an all-zero key. Nothing is kept or
    sent, and a failure is ignored: the handshake itself decides, with every check it always
    makes.
    """
    _warm_up_signatures(config)
    with contextlib.suppress(Exception):
        x25519.X25519PrivateKey.generate().exchange(x25519.X25519PrivateKey.generate().public_key())
    with contextlib.suppress(Exception):
        for aead in {suite_info(suite).aead for suite in config.effective_cipher_suites()}:
            protection = new_protection(aead, bytes(aead.key_length), bytes(aead.fixed_iv_length))
            record = protection.seal(bytes(8), 22, 0xFEFD, _WARM_UP_MESSAGE)
            protection.open(bytes(8), 22, 0xFEFD, record)


def _warm_up_signatures(config: DtlsConfiguration) -> None:
    """The first private and public operation of our key, and a trust anchor's first check."""
    key = config.private_key
    with contextlib.suppress(Exception):
        if isinstance(key, rsa.RSAPrivateKey):
            pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
            signature = key.sign(_WARM_UP_MESSAGE, pss, hashes.SHA256())
            key.public_key().verify(signature, _WARM_UP_MESSAGE, pss, hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            ecdsa = ec.ECDSA(hashes.SHA256())
            signature = key.sign(_WARM_UP_MESSAGE, ecdsa)
            key.public_key().verify(signature, _WARM_UP_MESSAGE, ecdsa)
    for anchor in config.ca_certificates[:1]:
        with contextlib.suppress(Exception):  # not self-signed, or an unusual key: no matter
            anchor.verify_directly_issued_by(anchor)


def _key_password(args: argparse.Namespace) -> str | Callable[[], str]:
    """--key-password, else a prompt (asked only if the key is encrypted) on a terminal."""
    if args.key_password is not None:
        return str(args.key_password)
    key_file = args.key or args.cert

    def prompt() -> str:
        if not sys.stdin.isatty():
            raise checks.CliError(
                f"the private key in {key_file} is encrypted: give --key-password "
                "(no terminal to prompt on)"
            )
        return getpass.getpass(f"password of {key_file}: ")

    return prompt


def _print_trace(record: TraceRecord) -> None:
    print(record, file=sys.stderr, flush=True)


def describe_handshake(
    event: HandshakeCompleted,
    peer: str = "",
    out: TextIO = sys.stderr,
    *,
    cid_requested: bool = False,
) -> None:
    """The one-line success report; with ``cid_requested`` it says whether connection IDs
    were negotiated."""
    who = f" (peer {peer})" if peer else ""
    alpn = f", ALPN {event.alpn_protocol}" if event.alpn_protocol else ""
    srtp = f", SRTP {event.srtp_profile.name}" if event.srtp_profile is not None else ""
    cid = ""
    if event.peer_connection_id is not None:
        cid = (
            f", connection IDs: ours {event.connection_id.hex() or '(empty)'}"
            f" peer's {event.peer_connection_id.hex() or '(empty)'}"
            if event.connection_id is not None
            else ""
        )
    elif cid_requested:
        cid = ", connection IDs not negotiated (the peer did not send connection_id)"
    resumed = ", session resumed" if event.session_resumed else ""
    print(
        f"handshake ok: {event.protocol_version} {event.cipher_suite} "
        f"in {event.duration * 1000:.1f} ms, {event.retransmissions} retransmissions"
        f"{alpn}{srtp}{resumed}{cid}{who}",
        file=out,
        flush=True,
    )


def describe_srtp_export(
    profile: SrtpProfile | None, export: Callable[[bytes, int], bytes], out: TextIO = sys.stderr
) -> None:
    """--export-srtp: the EXTRACTOR-dtls_srtp bytes in OpenSSL's ``Keying material:`` form
    (upper-case hex, 2 * (key + salt) bytes: what ``-keymatexportlen`` takes)."""
    if profile is None:
        print("SRTP keying material: none (no SRTP profile was agreed)", file=out, flush=True)
        return
    length = profile.keying_material_length
    material = export(EXPORTER_LABEL, length)
    print(
        f"SRTP keying material ({profile.openssl_name}, {length} bytes): {material.hex().upper()}",
        file=out,
        flush=True,
    )


def failure_line(exc: DtlsError) -> str:
    """The one-line failure report: a timeout says so and what to check, an alert is named."""
    t = exc.terminated
    if isinstance(exc, HandshakeTimeout) and t is not None and "?" not in t.reason:
        # e.g. "handshake timed out after 7 retransmissions": nothing came back that helps.
        return (
            f"{t.reason}: is a DTLS server listening there, and does UDP get through? "
            "(--trace shows every datagram)"
        )
    if t is not None and t.alert is None:
        return t.reason
    if t is not None:
        return f"handshake failed: {t.reason}"
    return str(exc)
