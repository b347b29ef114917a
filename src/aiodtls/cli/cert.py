"""``aiodtls cert``: make a self-signed certificate, or a CA and the certificates it issues,
as PEM files, and print how to use them and the fingerprint to pin.

Owns the command's options, file names and what it prints; the certificates themselves come
from :mod:`aiodtls.pki`.
"""

from __future__ import annotations

import argparse
import ipaddress
import shlex
import sys
from pathlib import Path
from typing import Any

from .. import pki

__all__ = ["add_parser", "run"]


def _ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IP address") from None


def _days(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"--days needs a whole number of days >= 1, got {text!r}")
    return int(text)


def _rsa_bits(text: str) -> int:
    if not text.isdigit() or int(text) < 2048:
        raise argparse.ArgumentTypeError(f"RSA keys need at least 2048 bits, got {text!r}")
    return int(text)


def add_parser(commands: Any) -> None:
    """Register the sub-command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "cert",
        help="make certificates and keys (PEM) for aiodtls server/client, print the fingerprint",
        description=(
            "Without --ca: one self-signed certificate (cert.pem, key.pem) that a client "
            "trusts with --ca cert.pem or pins with --fingerprint. With --ca: a CA (ca.pem, "
            "ca-key.pem) and a certificate it signed (cert.pem, key.pem); --client adds a "
            "client certificate (client.pem, client-key.pem). ECDSA P-256 unless --rsa."
        ),
    )
    parser.add_argument(
        "--out-dir", default=".", help="directory for the files (created; default: current)"
    )
    parser.add_argument(
        "--name",
        action="append",
        default=[],
        metavar="NAME",
        help="DNS name (or IP) the certificate is for (repeatable; default: localhost, "
        "127.0.0.1, ::1)",
    )
    parser.add_argument(
        "--ip", action="append", type=_ip, default=[], metavar="IP", help="IP address (repeatable)"
    )
    parser.add_argument(
        "--rsa",
        nargs="?",
        const=2048,
        type=_rsa_bits,
        metavar="BITS",
        help="RSA keys instead of ECDSA P-256 (default 2048 bits)",
    )
    parser.add_argument(
        "--days", type=_days, default=365, help="validity of the certificates (default 365)"
    )
    parser.add_argument("--ca", action="store_true", help="make a CA and certificates signed by it")
    parser.add_argument(
        "--client",
        action="store_true",
        help="with --ca: also a client certificate (client.pem, client-key.pem)",
    )
    parser.add_argument("--client-name", default="client", help="common name of --client")
    parser.add_argument(
        "--key-password", help="encrypt the private keys with this password (default: none)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Make the files and print what to do with them."""
    if args.client and not args.ca:
        print(
            "aiodtls cert: --client needs --ca (a client certificate is signed by the CA)",
            file=sys.stderr,
        )
        return 2
    names = [*args.name, *args.ip] or list(pki.DEFAULT_NAMES)
    kind, bits = ("rsa", args.rsa) if args.rsa else ("ecdsa", 2048)
    out = Path(args.out_dir)
    files: list[tuple[Path, str, Any]] = []  # (path, what, certificates or a key)
    try:
        if args.ca:
            ca = pki.certificate_authority(
                f"aiodtls CA for {names[0]}", kind=kind, rsa_bits=bits, days=max(args.days, 3650)
            )
            leaf = pki.issue(ca, names, kind=kind, rsa_bits=bits, days=args.days)
            files += [
                (out / "ca.pem", "CA certificate: peers trust it with --ca", [ca.certificate]),
                (out / "ca-key.pem", "CA private key: keep it to sign more", ca.key),
            ]
        else:
            leaf = pki.self_signed(names, kind=kind, rsa_bits=bits, days=args.days)
        files += [
            (out / "cert.pem", f"certificate for {', '.join(names)}", leaf.chain),
            (out / "key.pem", "its private key", leaf.key),
        ]
        if args.client:
            client = pki.issue(
                ca, [], kind=kind, rsa_bits=bits, days=args.days,
                common_name=args.client_name, client_only=True,
            )  # fmt: skip
            files += [
                (out / "client.pem", f"client certificate {args.client_name}", client.chain),
                (out / "client-key.pem", "its private key", client.key),
            ]
    except ValueError as exc:
        print(f"aiodtls cert: {exc}", file=sys.stderr)
        return 2

    existing = [str(path) for path, _, _ in files if path.exists()]
    if existing and not args.force:
        print(
            f"aiodtls cert: {', '.join(existing)} already exist(s): choose another --out-dir, "
            "or --force to overwrite",
            file=sys.stderr,
        )
        return 1
    try:
        out.mkdir(parents=True, exist_ok=True)
        for path, _, content in files:
            if isinstance(content, list):
                pki.write_certificates(path, content, overwrite=args.force)
            else:
                pki.write_private_key(
                    path, content, password=args.key_password, overwrite=args.force
                )
    except OSError as exc:
        print(f"aiodtls cert: cannot write {getattr(exc, 'filename', '') or exc}: "
              f"{exc.strerror or exc}", file=sys.stderr)  # fmt: skip
        return 1

    _report(args, files, leaf, names)
    return 0


def _report(
    args: argparse.Namespace,
    files: list[tuple[Path, str, Any]],
    leaf: pki.Credentials,
    names: list[str],
) -> None:
    until = leaf.certificate.not_valid_after_utc.strftime("%Y-%m-%d")
    kind = f"RSA-{args.rsa}" if args.rsa else "ECDSA P-256"
    for path, what, content in files:
        mode = " (mode 0600)" if not isinstance(content, list) else ""
        print(f"wrote {path}: {what}{mode}")
    print(f"{kind}, valid until {until}")
    print()
    print("Fingerprint of cert.pem (SDP form; paste it into --fingerprint or a=fingerprint):")
    print(pki.sdp_fingerprint(leaf.certificate))
    q = {path.name: shlex.quote(str(path)) for path, _, _ in files}
    host = names[0]
    target = f"[{host}]" if ":" in host else host
    if not _is_ip(host):
        target = "127.0.0.1" if host == "localhost" else host
    password = " --key-password ..." if args.key_password else ""
    trust = q["ca.pem"] if args.ca else q["cert.pem"]
    pin = shlex.quote(pki.format_fingerprint(pki.fingerprint(leaf.certificate)))
    print()
    print("Use them:")
    server = f"  aiodtls server --port 4433 --cert {q['cert.pem']} --key {q['key.pem']}{password}"
    if args.client:
        server += f" --ca {q['ca.pem']} --require-client-cert"
    print(server + " --echo")
    mine = openssl_mine = ""
    if args.client:
        mine = f" --cert {q['client.pem']} --key {q['client-key.pem']}{password}"
        openssl_mine = f" -cert {q['client.pem']} -key {q['client-key.pem']}"
    print(f"  echo hello | aiodtls client {target}:4433 --ca {trust} --server-name {host}{mine}")
    print(f"  echo hello | aiodtls client {target}:4433 --fingerprint {pin}{mine}")
    print(f"  openssl s_client -dtls1_2 -connect {target}:4433 -CAfile {trust}{openssl_mine}")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
