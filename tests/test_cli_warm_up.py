"""Latency of a fresh process's first handshake (issue 13): no import and no check skipped.

A command that makes or serves one handshake right after it starts must not pay one-time
costs between receiving a flight and answering it: the first handshake of a fresh process
imports nothing, and ``warm_up_crypto`` (run by ``aiodtls client`` and ``aiodtls server``
before their first datagram) leaves the configuration as it was, so every check still runs.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aiodtls.cli.common import warm_up_crypto
from aiodtls.configuration import DtlsConfiguration
from aiodtls.suites import NamedGroup
from certs import rsa_chain, self_signed, server_chain
from pairs import client_config, handshake, psk_configs, server_config

TESTS = Path(__file__).resolve().parent


def test_a_fresh_process_imports_nothing_during_its_first_handshake() -> None:
    """X25519 and ECDSA first imported cryptography's OpenSSL backend inside the handshake
    (2-5 ms of CPU between the peer's flight and the answer); the handshake package now
    brings it, so the modules before the first handshake are all it uses."""
    script = textwrap.dedent(
        """
        import sys
        from certs import rsa_chain
        from pairs import client_config, handshake, server_config
        from aiodtls.suites import NamedGroup
        chain = rsa_chain()
        client = client_config(chain, groups=[NamedGroup.x25519])
        server = server_config(chain, groups=[NamedGroup.x25519])
        before = set(sys.modules)
        pair = handshake(client, server)
        assert pair.client_outcome.completed is not None, pair.client_outcome
        print(sorted(set(sys.modules) - before))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=TESTS,
        env={**os.environ, "PYTHONPATH": f"{TESTS}:{TESTS.parent / 'src'}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def _state(config: DtlsConfiguration) -> dict[str, object]:
    return {name: (list(v) if isinstance(v, list) else v) for name, v in vars(config).items()}


@pytest.mark.parametrize(
    "config",
    [
        pytest.param(server_config(rsa_chain()), id="rsa server"),
        pytest.param(server_config(server_chain("ecdsa")), id="ecdsa server"),
        pytest.param(client_config(rsa_chain()), id="client trusting a root"),
        pytest.param(client_config(self_signed("ecdsa")), id="client trusting a leaf"),
        pytest.param(
            client_config(rsa_chain(), ca_certificates=rsa_chain().intermediates),
            id="client trusting an intermediate",
        ),
        pytest.param(psk_configs()[0], id="psk client"),
        pytest.param(DtlsConfiguration(is_client=True), id="nothing configured"),
    ],
)
def test_warm_up_changes_nothing_in_the_configuration(config: DtlsConfiguration) -> None:
    before = _state(config)
    warm_up_crypto(config)
    assert _state(config) == before


def test_after_the_warm_up_a_wrong_chain_is_still_refused() -> None:
    """Verification stays on: a client that trusts another root refuses the server."""
    client = client_config(server_chain("ecdsa"), groups=[NamedGroup.x25519])
    server = server_config(rsa_chain(), groups=[NamedGroup.x25519])
    warm_up_crypto(client)
    warm_up_crypto(server)
    assert client.effective_verify_mode() == ssl.CERT_REQUIRED
    pair = handshake(client, server)
    assert pair.client_outcome.completed is None
    assert "certificate verification failed" in str(pair.client_outcome.terminated)
