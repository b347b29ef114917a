"""What the command line may contain, checked before anything touches the network.

Owns :class:`CliError` (a user mistake: one line saying what went wrong and what to do, and
the exit status) and the checks that raise it: ``argparse`` ``type=`` functions for
addresses, ports, hex keys, MTUs, durations and key-log paths, and the loading of PEM files
(certificate chains, private keys, trust anchors) with a message naming the option and the
file. ``aiodtls.cli.main`` prints a ``CliError`` as ``aiodtls <command>: error: <message>``.
"""

from __future__ import annotations

import argparse
import errno
import math
import os
from collections.abc import Callable
from typing import TextIO

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from ..configuration import MAX_MTU, MIN_MTU, DtlsConfiguration, KeyPassword
from ..pki import parse_fingerprint

__all__ = [
    "EXIT_RUNTIME",
    "EXIT_USAGE",
    "KEY_ADVICE",
    "CliError",
    "client_target",
    "describe_os_error",
    "fingerprint",
    "hex_key",
    "keylog_path",
    "load_certificates",
    "load_credentials",
    "load_trust_anchors",
    "mtu",
    "non_negative",
    "open_keylog",
    "port",
    "positive",
    "read_file",
    "server_port",
]

EXIT_RUNTIME = 1
"Exit status when the command line was fine but the run failed (network, peer, handshake)."

EXIT_USAGE = 2
"Exit status when the command line itself is wrong (as ``argparse`` does)."

KEY_ADVICE = (
    "only ECDSA and RSA keys are supported: make one with `aiodtls cert` or "
    "`openssl ecparam -genkey -name prime256v1`"
)
"What to do about a key of an unsupported type."


class CliError(Exception):
    """A user mistake or an environment problem, said in one line; not a bug."""

    def __init__(self, message: str, status: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.status = status


# -- argparse type= functions (they raise ArgumentTypeError; argparse names the option) --


def port(text: str, *, allow_zero: bool = False) -> int:
    """A UDP port number, 1..65535 (0 too when ``allow_zero``: any free port)."""
    low = 0 if allow_zero else 1
    if not text.isdigit() or not low <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"port must be a number from {low} to 65535, got {text!r}")
    return int(text)


def server_port(text: str) -> int:
    """The port to listen on: 0..65535 (0 picks a free one)."""
    return port(text, allow_zero=True)


def client_target(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` -> (host, port), port 1..65535."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    if host.startswith("["):
        if not host.endswith("]"):
            raise argparse.ArgumentTypeError(f"expected [IPV6]:PORT, got {text!r}")
        host = host[1:-1]
    elif ":" in host:
        raise argparse.ArgumentTypeError(
            f"an IPv6 address needs brackets: [{host}]:{port_text}, got {text!r}"
        )
    if not port_text:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, the port is missing in {text!r}")
    return host or "127.0.0.1", port(port_text)


def hex_key(text: str) -> bytes:
    """A non-empty key in hex (``:`` separators allowed)."""
    try:
        key = bytes.fromhex(text.replace(":", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected hex digits (e.g. 0102...0f10), got {text!r}"
        ) from None
    if not key:
        raise argparse.ArgumentTypeError("the key is empty")
    return key


def fingerprint(text: str) -> str:
    """A peer certificate fingerprint in any form :func:`aiodtls.pki.parse_fingerprint` reads."""
    try:
        parse_fingerprint(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def mtu(text: str) -> int:
    """An MTU the configuration accepts (``MIN_MTU``..``MAX_MTU``)."""
    if not text.isdigit() or not MIN_MTU <= int(text) <= MAX_MTU:
        raise argparse.ArgumentTypeError(
            f"must be a number of bytes from {MIN_MTU} to {MAX_MTU}, got {text!r}"
        )
    return int(text)


def cid_length(text: str) -> int:
    """A connection ID length (RFC 9146: 0..255 bytes; 0 = send CIDs but receive none)."""
    if not text.isdigit() or int(text) > 255:
        raise argparse.ArgumentTypeError(
            f"must be a connection ID length from 0 to 255 bytes, got {text!r}"
        )
    return int(text)


def non_negative(kind: Callable[[str], float] = float) -> Callable[[str], float]:
    """A number >= 0 of the given type (float or int)."""
    return _number(kind, 0.0, "must not be negative")


def positive(kind: Callable[[str], float] = float) -> Callable[[str], float]:
    """A number > 0 of the given type (float or int)."""
    return _number(kind, math.ulp(0.0), "must be more than 0")


def _number(kind: Callable[[str], float], least: float, rule: str) -> Callable[[str], float]:
    def check(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (least <= value < math.inf):  # also refuses NaN and infinity
            raise argparse.ArgumentTypeError(f"{rule}, got {text!r}")
        return value

    return check


def keylog_path(text: str) -> str:
    """A file the key log can be appended to: its directory must exist."""
    problem = _keylog_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def _keylog_problem(path: str) -> str | None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        return f"directory {directory} does not exist; create it or choose another file"
    if os.path.isdir(path):
        return f"{path} is a directory; give a file name"
    return None


def open_keylog(path: str, source: str) -> TextIO:
    """Open the key log for appending; ``source`` says where the path came from
    (``"--keylog "`` or ``"SSLKEYLOGFILE="``)."""
    problem = _keylog_problem(path)
    if problem:
        raise CliError(f"{source}{path}: {problem}")
    try:
        return open(path, "a")  # lives as long as the process
    except OSError as exc:
        raise CliError(f"{source}{path}: {describe_os_error(exc)}") from None


# -- files --


def describe_os_error(exc: OSError) -> str:
    """``what went wrong; what to do`` for a file or socket error."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOENT:
        return "no such file; check the path"
    if exc.errno == errno.EISDIR:
        return "is a directory; give a file"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied; check the file's permissions"
    if exc.errno == errno.EADDRINUSE:
        return "address already in use; stop the program using it or choose another port"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "not an address of this machine; use one of its addresses or 0.0.0.0"
    return f"{reason.rstrip('.')}"


def read_file(option: str, path: str) -> bytes:
    """The bytes of ``path`` given to ``option``, or a CliError naming both."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise CliError(f"{option} {path}: {describe_os_error(exc)}") from None


def _certificates(option: str, path: str, data: bytes) -> list[x509.Certificate]:
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise CliError(
            f"{option} {path}: no PEM certificate in it (expected '-----BEGIN CERTIFICATE-----'); "
            "convert a DER file with `openssl x509 -inform der -in FILE -out FILE.pem`"
        )
    try:
        return list(x509.load_pem_x509_certificates(data))
    except ValueError as exc:
        raise CliError(f"{option} {path}: a PEM certificate in it is damaged ({exc})") from None


def load_certificates(option: str, path: str) -> list[x509.Certificate]:
    """The PEM certificates in ``path`` given to ``option`` (e.g. ``--chain``)."""
    return _certificates(option, path, read_file(option, path))


def load_trust_anchors(config: DtlsConfiguration, path: str) -> None:
    """``--ca``: add the PEM certificates of ``path`` to ``config.ca_certificates``."""
    data = read_file("--ca", path)
    _certificates("--ca", path, data)
    config.load_verify_locations(cadata=data)


def load_credentials(
    config: DtlsConfiguration,
    certfile: str | None,
    keyfile: str | None,
    password: KeyPassword | None = None,
) -> None:
    """``--cert``/``--key``: load our chain and key into ``config``, or say what is wrong.

    The files are read and checked for PEM here, so that each message names the option;
    the key itself (password, type, match with the leaf, strength) is
    :meth:`DtlsConfiguration.load_cert_chain`'s to judge."""
    if certfile is None:
        if keyfile is not None:
            raise CliError(
                f"--key {keyfile} needs its certificate: give --cert too (or --rpk to "
                "present the key alone as a raw public key)"
            )
        return
    cert_data = read_file("--cert", certfile)
    _certificates("--cert", certfile, cert_data)
    if keyfile is None:
        if b"PRIVATE KEY-----" not in cert_data:
            raise CliError(f"--cert {certfile} holds no private key; give its key with --key")
        where = f"--cert {certfile}"
    else:
        if b"PRIVATE KEY-----" not in read_file("--key", keyfile):
            raise CliError(
                f"--key {keyfile}: no PEM private key in it (expected '-----BEGIN ... PRIVATE "
                "KEY-----'); give the key file that goes with --cert"
            )
        where = f"--key {keyfile}"
    try:
        config.load_cert_chain(certfile, keyfile, password)
    except UnsupportedAlgorithm as exc:
        raise CliError(f"{where}: {exc}; {KEY_ADVICE}") from None
    except ValueError as exc:
        advice = f"; {KEY_ADVICE}" if "only ECDSA and RSA" in str(exc) else ""
        if "min_rsa_key_size" in str(exc) or "min_ec_key_size" in str(exc):
            advice = "; use RSA-2048 or ECDSA P-256 or stronger"
        raise CliError(f"{where}: {exc}{advice}") from None
