"""``--rpk`` and ``--peer-key``: RFC 7250 raw public keys on ``aiodtls client`` and
``aiodtls server`` (docs/cli.md, docs/certificates.md).

``--rpk`` presents our key (``--key``, or the key of ``--cert``) as a raw public key; a key
alone is enough. ``--peer-key`` (repeatable) pins the peer's raw key, by the SHA-256 of its
SubjectPublicKeyInfo or by a PEM file holding it (a public key, a certificate or a private
key): with it, the peer's raw key is accepted only if it matches. Mistakes are one-line
errors (``checks.CliError`` or argparse's).
"""

from __future__ import annotations

import argparse
import os
import sys

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from ..configuration import DtlsConfiguration, KeyPassword
from ..pki import PublicKeyPin, as_public_key_pin, format_fingerprint, public_key_fingerprint
from . import checks

__all__ = ["add_options", "apply_options", "describe_key", "peer_key"]


def peer_key(text: str) -> PublicKeyPin:
    """``--peer-key``: a PEM file with the peer's public key (or its certificate or private
    key), else the SHA-256 of its SubjectPublicKeyInfo in any form fingerprints take."""
    if os.path.exists(text):
        try:
            with open(text, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise argparse.ArgumentTypeError(f"{text}: {checks.describe_os_error(exc)}") from None
        key = _pem_public_key(data)
        if key is None:
            raise argparse.ArgumentTypeError(
                f"{text} holds no PEM public key, certificate or private key (-----BEGIN "
                "PUBLIC KEY-----, as `openssl pkey -pubout` writes)"
            )
        return key
    try:
        as_public_key_pin(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a file nor the SHA-256 of a public key (64 hex digits, "
            "':' allowed, or 'sha-256 AB:CD:..', as `aiodtls server --rpk` prints)"
        ) from None
    return text


def _pem_public_key(data: bytes) -> PublicKeyTypes | None:
    loaders = (
        serialization.load_pem_public_key,
        lambda d: x509.load_pem_x509_certificate(d).public_key(),
        lambda d: serialization.load_pem_private_key(d, password=None).public_key(),
    )
    for load in loaders:
        try:
            return load(data)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
    return None


def add_options(parser: argparse.ArgumentParser) -> None:
    """The raw public key options both roles take."""
    parser.add_argument(
        "--rpk",
        action="store_true",
        help="RFC 7250 raw public keys: present our --key (no certificate needed) as a raw key",
    )
    parser.add_argument(
        "--peer-key",
        action="append",
        type=peer_key,
        metavar="SHA256|FILE",
        help="accept the peer's raw public key only if it is this one: the SHA-256 of its "
        "SubjectPublicKeyInfo (hex or 'sha-256 AB:CD:..') or a PEM file with it (repeatable)",
    )


def apply_options(
    args: argparse.Namespace, config: DtlsConfiguration, password: KeyPassword
) -> bool:
    """Fill ``config`` from ``--rpk``/``--peer-key``; True if ``--key`` was loaded here
    (``--rpk`` with a key and no certificate), so the caller does not load it again."""
    loaded = False
    if args.rpk:
        if args.key is None and args.cert is None:
            raise checks.CliError("--rpk needs our private key: give --key (or --cert and --key)")
        if args.cert is None:
            checks.read_file("--key", args.key)
            try:
                config.load_private_key(args.key, password)
            except (ValueError, UnsupportedAlgorithm) as exc:
                raise checks.CliError(f"--key {args.key}: {exc}") from None
            loaded = True
        config.raw_public_key = True
    if args.peer_key:
        config.peer_public_keys = list(args.peer_key)
    return loaded


def describe_key(what: str, key: PublicKeyTypes | PrivateKeyTypes) -> None:
    """One line naming a raw public key by the SHA-256 that ``--peer-key`` takes."""
    digest = format_fingerprint(public_key_fingerprint(key), None)
    print(f"{what} raw public key sha-256 {digest}", file=sys.stderr, flush=True)
