"""Every mistake on the ``aiodtls`` command line is one line on stderr and a non-zero exit.

Each case runs ``python -m aiodtls ...`` as a subprocess (the environment, PYTHONPATH
included, is inherited) and checks: the exit status (2 for a wrong command line, 1 for a run
that failed: port in use, host that does not resolve, address not on this machine), exactly
one non-empty line on stderr, starting ``aiodtls``, no "Traceback", and a phrase of the
expected message. The files the cases name are made in a temporary directory: a valid ECDSA
chain and key, keys of unsupported types (Ed25519, Ed448, DSA), an encrypted key, a key of
another certificate, a 1024-bit RSA leaf, a DER certificate and a file that is not PEM.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ed448, ed25519

from aiodtls import DtlsConfiguration, DtlsConnection
from certs import self_signed, server_chain, weak_rsa_leaf


@dataclass(frozen=True)
class Case:
    """One bad command line: ``{d}`` is the files' directory, ``{busy}`` a UDP port in use."""

    args: str
    phrase: str
    status: int = 2
    env: dict[str, str] = field(default_factory=dict)


SERVER = "server --port 0"
CLIENT = "client 127.0.0.1:9"
GOOD = "--cert {d}/chain.pem --key {d}/key.pem"

CASES: dict[str, Case] = {
    # -- files: missing, unreadable, not PEM --
    "cert-missing": Case(f"{SERVER} --cert {{d}}/missing.pem --key {{d}}/key.pem", "no such file"),
    "key-missing": Case(f"{SERVER} --cert {{d}}/chain.pem --key {{d}}/missing.pem", "no such file"),
    "cert-is-a-directory": Case(f"{SERVER} --cert {{d}} --key {{d}}/key.pem", "is a directory"),
    "cert-not-pem": Case(f"{SERVER} --cert {{d}}/junk.pem --key {{d}}/key.pem", "no PEM certif"),
    "cert-der": Case(f"{SERVER} --cert {{d}}/leaf.der --key {{d}}/key.pem", "-inform der"),
    "key-not-pem": Case(f"{SERVER} --cert {{d}}/chain.pem --key {{d}}/junk.pem", "no PEM private"),
    "ca-missing": Case(f"{CLIENT} --ca {{d}}/missing.pem", "--ca"),
    "ca-not-pem": Case(f"{CLIENT} --ca {{d}}/junk.pem", "no PEM certificate"),
    "chain-missing": Case(f"{SERVER} {GOOD} --chain {{d}}/missing.pem", "--chain"),
    # -- keys --
    "key-encrypted-no-password": Case(
        f"{SERVER} --cert {{d}}/chain.pem --key {{d}}/encrypted.pem", "encrypted"
    ),
    "key-ed25519": Case(
        f"{SERVER} --cert {{d}}/chain.pem --key {{d}}/ed25519.pem", "only ECDSA and RSA"
    ),
    "key-ed448": Case(f"{SERVER} --cert {{d}}/chain.pem --key {{d}}/ed448.pem", "only ECDSA"),
    "key-dsa": Case(f"{SERVER} --cert {{d}}/chain.pem --key {{d}}/dsa.pem", "only ECDSA and RSA"),
    "key-does-not-match-cert": Case(
        f"{SERVER} --cert {{d}}/chain.pem --key {{d}}/other-key.pem", "does not belong"
    ),
    "key-weak-rsa-1024": Case(
        f"{SERVER} --cert {{d}}/weak-chain.pem --key {{d}}/weak-key.pem", "min_rsa_key_size"
    ),
    "cert-without-key": Case(f"{SERVER} --cert {{d}}/chain.pem", "holds no private key"),
    "key-without-cert": Case(f"{SERVER} --key {{d}}/key.pem --psk 00", "give --cert"),
    "server-without-credentials": Case(SERVER, "no credentials"),
    # -- addresses and ports --
    "server-port-in-use": Case("server --port {busy} --psk 00", "already in use", status=1),
    "server-port-out-of-range": Case("server --port 70000 --psk 00", "0 to 65535"),
    "server-port-not-a-number": Case("server --port http --psk 00", "0 to 65535"),
    "server-host-unresolvable": Case(
        "server --host nosuch.invalid --port 0 --psk 00", "cannot resolve", status=1
    ),
    "server-host-not-local": Case(
        "server --host 192.0.2.1 --port 0 --psk 00", "not an address of this machine", status=1
    ),
    "client-port-out-of-range": Case("client 127.0.0.1:99999 --psk 00", "1 to 65535"),
    "client-port-zero": Case("client 127.0.0.1:0 --psk 00", "1 to 65535"),
    "client-no-port": Case("client 127.0.0.1 --psk 00", "HOST:PORT"),
    "client-ipv6-without-brackets": Case("client ::1:4433 --psk 00", "[::1]:4433"),
    "client-host-unresolvable": Case(
        "client nosuch.invalid:4433 --psk 00", "cannot resolve host", status=1
    ),
    # -- keys and fingerprints in hex --
    "psk-not-hex": Case(f"{CLIENT} --psk zz", "hex"),
    "psk-odd-length": Case(f"{CLIENT} --psk abc", "hex"),
    "psk-identity-without-psk": Case(f"{CLIENT} --psk-identity me --insecure", "needs --psk"),
    "fingerprint-not-hex": Case(f"{CLIENT} --fingerprint zz", "is not a fingerprint"),
    "fingerprint-too-short": Case(f"{CLIENT} --fingerprint ab:cd", "matches no supported hash"),
    # -- simulator --
    "netsim-runs-negative": Case("netsim --runs -1", "must be more than 0"),
    "netsim-profile-without-psk": Case("netsim --runs 1 --profile rfc7925", "needs --psk"),
    "netsim-cid-without-rebind": Case("netsim --cid 4", "go with --rebind-at"),
    "netsim-duration-before-rebind": Case(
        "netsim --rebind-at 5 --duration 4", "longer than --rebind-at"
    ),
    # -- impairment options (the same words in netsim and proxy: cli/impairment.py) --
    "netsim-loss-not-a-probability": Case("netsim --loss 1.5", "probability from 0 to 1"),
    "netsim-burst-one-number": Case("netsim --burst 0.5", "P_GOOD_TO_BAD:P_BAD_TO_GOOD"),
    "netsim-delay-not-a-number": Case("netsim --delay-ms soon", "D or D:JITTER"),
    "proxy-loss-not-a-number": Case("proxy --upstream 127.0.0.1:9 --loss lots", "probability"),
    "proxy-old-drop-not-a-probability": Case(
        "proxy --upstream 127.0.0.1:9 --drop 2", "probability from 0 to 1"
    ),
    "proxy-path-mtu-negative": Case("proxy --upstream 127.0.0.1:9 --path-mtu=-1", "negative"),
    # -- key log --
    "keylog-missing-directory": Case(f"{CLIENT} --psk 00 --keylog {{d}}/no/k.log", "does not"),
    "keylog-is-a-directory": Case(f"{CLIENT} --psk 00 --keylog {{d}}", "is a directory"),
    "sslkeylogfile-missing-directory": Case(
        f"{CLIENT} --psk 00", "SSLKEYLOGFILE=", env={"SSLKEYLOGFILE": "{d}/no/k.log"}
    ),
    # -- numbers --
    "mtu-too-small": Case(f"{CLIENT} --psk 00 --mtu 10", "228 to 65507"),
    "mtu-too-large": Case(f"{CLIENT} --psk 00 --mtu 70000", "228 to 65507"),
    "mtu-not-a-number": Case(f"{CLIENT} --psk 00 --mtu big", "228 to 65507"),
    "cid-too-long": Case(f"{CLIENT} --psk 00 --cid 256", "from 0 to 255 bytes"),
    "cid-not-a-number": Case("server --port 0 --psk 00 --cid four", "from 0 to 255 bytes"),
    "cipher-unknown": Case(f"{CLIENT} --psk 00 --cipher RC4", "unknown cipher suite"),
    "cipher-unknown-openssl-style": Case(
        f"{CLIENT} --psk 00 --cipher PSK-AES128-CBC-SHA", "unknown cipher suite"
    ),
    "profile-unknown": Case(f"{CLIENT} --psk 00 --profile iot", "invalid choice"),
    "handshake-timeout-negative": Case(f"{CLIENT} --psk 00 --handshake-timeout=-5", "more than 0"),
    "handshake-timeout-zero": Case(f"{CLIENT} --psk 00 --handshake-timeout 0", "more than 0"),
    "handshake-timeout-not-a-number": Case(
        f"{CLIENT} --psk 00 --handshake-timeout soon", "expected a number"
    ),
    "wait-negative": Case(f"{CLIENT} --psk 00 --wait=-1", "negative"),
    "reconnect-negative": Case(f"{CLIENT} --psk 00 --reconnect=-1", "negative"),
    "reconnect-not-a-number": Case(f"{CLIENT} --psk 00 --reconnect 2.5", "expected a number"),
    "count-negative": Case("server --port 0 --psk 00 --count=-1", "negative"),
    "idle-timeout-zero": Case("server --port 0 --psk 00 --idle-timeout 0", "more than 0"),
    # -- raw public keys (--rpk, --peer-key) --
    "rpk-client-without-peer-key": Case(f"{CLIENT} --rpk --key {{d}}/key.pem", "needs --peer-key"),
    "rpk-server-without-key": Case(f"{SERVER} --rpk", "--rpk needs our private key"),
    "rpk-key-not-pem": Case(f"{SERVER} --rpk --key {{d}}/junk.pem", "no readable PEM private"),
    "rpk-key-ed25519": Case(f"{SERVER} --rpk --key {{d}}/ed25519.pem", "only ECDSA and RSA"),
    "peer-key-not-a-pin": Case(f"{CLIENT} --peer-key nonsense", "neither a file nor the SHA"),
    "peer-key-file-not-a-key": Case(f"{CLIENT} --peer-key {{d}}/junk.pem", "no PEM public key"),
    "peer-key-and-insecure": Case(f"{CLIENT} --peer-key {'00' * 32} --insecure", "contradict"),
    # -- the command itself --
    "no-command": Case("", "required"),
    "unknown-command": Case("frobnicate", "invalid choice"),
    "unknown-option": Case(f"{CLIENT} --psk 00 --frob", "unrecognized arguments"),
    "client-without-target": Case("client --psk 00", "required"),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli-files")
    server_chain("ecdsa").write_pem(d)
    weak_rsa_leaf().write_pem(d, prefix="weak-")
    pem, pkcs8 = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
    plain = serialization.NoEncryption()

    def write_key(name: str, key: object, encryption: object = plain) -> None:
        data = key.private_bytes(pem, pkcs8, encryption)  # type: ignore[attr-defined]
        (d / name).write_bytes(data)

    write_key("ed25519.pem", ed25519.Ed25519PrivateKey.generate())
    write_key("ed448.pem", ed448.Ed448PrivateKey.generate())
    write_key("dsa.pem", dsa.generate_private_key(2048))
    write_key("other-key.pem", self_signed("ecdsa").key)
    write_key(
        "encrypted.pem",
        server_chain("ecdsa").key,
        serialization.BestAvailableEncryption(b"secret"),
    )
    (d / "leaf.der").write_bytes(
        server_chain("ecdsa").certificate.public_bytes(serialization.Encoding.DER)
    )
    (d / "junk.pem").write_text("this is not a PEM file\n")
    return d


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def run_cli(
    args: list[str], env: dict[str, str] | None = None, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ)
    environment.pop("SSLKEYLOGFILE", None)
    environment.pop("AIODTLS_TRACEBACK", None)
    environment.update(env or {})
    return subprocess.run(
        [*prefix, sys.executable, "-m", "aiodtls", *args],
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_at_least_31_cases() -> None:
    assert len(CASES) >= 31


@pytest.fixture(scope="module")
def results(files: Path, busy_port: int) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every case's run, four processes at a time (each is mostly interpreter start-up)."""

    def run(name: str) -> subprocess.CompletedProcess[str]:
        case = CASES[name]
        args = [a.format(d=files, busy=busy_port) for a in case.args.split()]
        env = {k: v.format(d=files) for k, v in case.env.items()}
        return run_cli(args, env)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(CASES, pool.map(run, CASES), strict=True))


@pytest.mark.slow  # ~25 s of process start-ups (the README command's 5-minute budget)
@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_line_and_a_non_zero_exit(
    name: str, results: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    case = CASES[name]
    result = results[name]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("aiodtls"), lines[0]
    assert ": error: " in lines[0], lines[0]
    assert case.phrase in lines[0], lines[0]
    assert result.returncode == case.status, (result.returncode, lines[0])


def test_unreadable_key_file(files: Path, tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_bytes((files / "key.pem").read_bytes())
    key.chmod(0)
    # Root reads any file: as root (CI), drop the capabilities that override permissions.
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv is not None, "setpriv (util-linux) is needed to test this as root"
        prefix = (setpriv, "--bounding-set=-dac_override,-dac_read_search")
    result = run_cli(
        ["server", "--port", "0", "--cert", str(files / "chain.pem"), "--key", str(key)],
        prefix=prefix,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"aiodtls server: error: --key {key}: permission denied; check the file's permissions"
    ]


def test_usage_error_names_the_option_and_the_help() -> None:
    """The argparse usage block is replaced by the one line (the message is argparse's)."""
    result = run_cli(["client", "127.0.0.1:4433", "--mtu", "10"])
    assert result.stderr == (
        "aiodtls client: error: argument --mtu: must be a number of bytes from 228 to 65507, "
        "got '10'; see 'aiodtls client --help'\n"
    )
    assert result.returncode == 2
    assert result.stdout == ""


def test_configuration_mtu_is_checked_when_built_and_when_a_connection_is_made() -> None:
    """mtu=20 is a ValueError naming the range, not MtuTooSmall from datagrams_to_send()."""
    with pytest.raises(ValueError, match=r"mtu 20 is outside 228\.\.65507"):
        DtlsConfiguration(is_client=True, mtu=20)
    config = DtlsConfiguration(is_client=True, psk=b"k", psk_identity=b"i")
    config.mtu = 20
    with pytest.raises(ValueError, match=r"mtu 20 is outside 228\.\.65507"):
        DtlsConnection(configuration=config)


def test_traceback_on_request(files: Path) -> None:
    """AIODTLS_TRACEBACK=1 shows where a one-line error came from (for bug reports)."""
    result = run_cli(
        ["server", "--port", "0", "--cert", str(files / "chain.pem"), "--key", str(files)],
        env={"AIODTLS_TRACEBACK": "1"},
    )
    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("aiodtls server: error: --key")
