"""``load_cert_chain`` with the keys people have (issue 10): a key that is not the
certificate's is refused at load time (it used to fail every handshake with
``decrypt_error``), and encrypted keys take a password (bytes, str or a function, as in
``ssl``), from the library and from the CLI (``--key-password``, or an error without a
terminal to prompt on)."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aiodtls import DtlsConfiguration, pki
from certs import server_chain
from pairs import client_config, handshake

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    creds = pki.self_signed()
    paths = {
        "cert": pki.write_certificates(tmp_path / "cert.pem", creds.chain),
        "key": pki.write_private_key(tmp_path / "key.pem", creds.key),
        "other_key": pki.write_private_key(tmp_path / "other.pem", pki.generate_key()),
        "encrypted": pki.write_private_key(tmp_path / "enc.pem", creds.key, password="pw 1"),
    }
    return paths


def test_a_key_that_is_not_the_certificates_is_refused_naming_both_files(
    files: dict[str, Path],
) -> None:
    config = DtlsConfiguration(is_client=False)
    with pytest.raises(ValueError) as info:
        config.load_cert_chain(files["cert"], files["other_key"])
    message = str(info.value)
    assert str(files["other_key"]) in message and str(files["cert"]) in message
    assert "does not belong to the certificate" in message
    assert config.certificate_chain == [] and config.private_key is None  # nothing changed


def test_a_matching_key_loads_and_serves(files: dict[str, Path]) -> None:
    config = DtlsConfiguration(is_client=False)
    config.load_cert_chain(files["cert"], files["key"])
    client = client_config(ca_certificates=config.certificate_chain[:1])
    pair = handshake(client, config)
    assert pair.client_outcome.completed is not None, pair.client_outcome.terminated


@pytest.mark.parametrize("password", [b"pw 1", "pw 1", lambda: "pw 1", lambda: b"pw 1"])
def test_encrypted_key_with_its_password(files: dict[str, Path], password: object) -> None:
    config = DtlsConfiguration(is_client=False)
    config.load_cert_chain(files["cert"], files["encrypted"], password)  # type: ignore[arg-type]
    assert config.private_key is not None


def test_encrypted_key_without_or_with_a_wrong_password(files: dict[str, Path]) -> None:
    config = DtlsConfiguration(is_client=False)
    with pytest.raises(ValueError, match=r"enc\.pem is encrypted: give its password"):
        config.load_cert_chain(files["cert"], files["encrypted"])
    with pytest.raises(ValueError, match=r"cannot decrypt the private key in .*enc\.pem: wrong"):
        config.load_cert_chain(files["cert"], files["encrypted"], "wrong")
    assert config.private_key is None


def test_password_function_is_called_only_for_an_encrypted_key(files: dict[str, Path]) -> None:
    calls: list[int] = []

    def password() -> str:
        calls.append(1)
        return "pw 1"

    config = DtlsConfiguration(is_client=False)
    config.load_cert_chain(files["cert"], files["key"], password)
    assert calls == []
    config.load_cert_chain(files["cert"], files["encrypted"], password)
    assert calls == [1]


def test_files_that_hold_no_pem_say_so(tmp_path: Path, files: dict[str, Path]) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not pem\n")
    config = DtlsConfiguration(is_client=False)
    with pytest.raises(ValueError, match=r"junk\.pem holds no PEM certificate"):
        config.load_cert_chain(junk, files["key"])
    with pytest.raises(ValueError, match=r"junk\.pem holds no readable PEM private key"):
        config.load_cert_chain(files["cert"], junk)
    with pytest.raises(ValueError, match=r"junk\.pem holds no PEM certificate"):
        config.load_verify_locations(junk)


def aiodtls(*args: str) -> list[str]:
    return [sys.executable, "-m", "aiodtls", *args]


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
    return env


def test_cli_key_password_decrypts_and_no_terminal_gives_an_error(
    files: dict[str, Path],
) -> None:
    cert, key = str(files["cert"]), str(files["encrypted"])
    # Without --key-password and without a terminal: an error naming the option, no prompt.
    # (How the CLI prints errors is not this test's business; that it says this is.)
    result = subprocess.run(
        aiodtls("server", "--port", "0", "--cert", cert, "--key", key),
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    assert "is encrypted: give --key-password" in result.stderr
    assert "listening" not in result.stderr
    # With the password the server starts (then waits for clients: it is stopped here).
    argv = aiodtls("server", "--port", "0", "--cert", cert, "--key", key)
    server = subprocess.Popen(
        [*argv, "--key-password", "pw 1"],
        env=cli_env(),
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        assert line.startswith("listening on 127.0.0.1:"), line
    finally:
        server.kill()
        server.wait()


def test_server_chain_keys_still_load(tmp_path: Path) -> None:
    paths = server_chain().write_pem(tmp_path)
    config = DtlsConfiguration(is_client=False)
    config.load_cert_chain(paths.chain, paths.key)
    assert len(config.certificate_chain) == 2


def test_cli_prompts_for_the_password_on_a_terminal(files: dict[str, Path]) -> None:
    # stdin is a pseudo-terminal (the process has no controlling terminal, so getpass uses
    # stdin with echo off).
    import pty

    master, slave = pty.openpty()
    argv = aiodtls("server", "--port", "0", "--cert", str(files["cert"]))
    server = subprocess.Popen(
        [*argv, "--key", str(files["encrypted"])],
        env=cli_env(),
        stdin=slave,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    os.close(slave)
    try:
        assert server.stderr is not None
        seen, typed = "", False
        deadline = time.monotonic() + 20
        while "listening on 127.0.0.1:" not in seen and time.monotonic() < deadline:
            if not typed and "password of " in seen:
                # Typed after the prompt: getpass flushes what was typed before it.
                os.write(master, b"pw 1\n")
                typed = True
            ready, _, _ = select.select([server.stderr], [], [], 0.2)
            if ready:
                chunk = os.read(server.stderr.fileno(), 4096).decode(errors="replace")
                if not chunk:
                    break
                seen += chunk
        assert typed, seen  # it asked
        assert "listening on 127.0.0.1:" in seen, seen  # and the key decrypted
    finally:
        server.kill()
        server.wait()
        os.close(master)
