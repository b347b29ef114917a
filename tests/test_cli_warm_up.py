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


@pytest.mark.parametrize(
    "config",
    [
        pytest.param(server_config(rsa_chain()), id="rsa server"),
        pytest.param(server_config(server_chain("ecdsa")), id="ecdsa server"),
        pytest.param(client_config(rsa_chain()), id="client trusting an rsa root"),
        pytest.param(client_config(server_chain("ecdsa")), id="client trusting an ecdsa root"),
        pytest.param(client_config(self_signed("rsa")), id="client trusting a leaf"),
        pytest.param(psk_configs()[0], id="psk client"),
        pytest.param(DtlsConfiguration(is_client=True), id="nothing configured"),
    ],
)
def test_no_warm_up_step_fails_on_the_usual_configurations(
    config: DtlsConfiguration, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each step catches the refusals it expects (a made-up signature, an anchor that is not
    for the server name); the safety net that ignores the rest must not hide a broken step."""
    from aiodtls.cli import warm_up

    monkeypatch.setattr(warm_up, "_attempt", lambda step, config: step(config))
    warm_up_crypto(config)


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


def test_the_warm_up_never_calls_the_applications_verify_callback() -> None:
    """The trust anchor goes through the peer checks only without a verify_callback: the
    application's callback must only ever see chains real peers sent."""
    seen: list[object] = []

    def callback(chain: list[object], refusal: str | None) -> bool:
        seen.append((chain, refusal))
        return False

    client = client_config(rsa_chain(), verify_callback=callback)
    warm_up_crypto(client)
    assert seen == []


def test_the_warm_up_checks_a_trust_anchor_as_a_peer_chain_and_keeps_no_verdict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The client's warm-up runs the peer certificate checks on its first trust anchor (as
    if the server had sent it) and drops the verdict: a client that trusts a self-signed
    certificate directly still refuses a server with another one."""
    from aiodtls.handshake import certificates

    checked: list[tuple[int, bool]] = []
    real = certificates.check_peer_certificates

    def spy(chain_der: list[bytes], config: DtlsConfiguration, *, peer_is_server: bool) -> object:
        checked.append((len(chain_der), peer_is_server))
        return real(chain_der, config, peer_is_server=peer_is_server)

    monkeypatch.setattr(certificates, "check_peer_certificates", spy)
    trusted = self_signed("ecdsa")
    client = client_config(trusted, groups=[NamedGroup.x25519])
    warm_up_crypto(client)
    assert checked == [(1, True)]
    checked.clear()
    warm_up_crypto(client_config(trusted, verify_mode=ssl.CERT_NONE))
    warm_up_crypto(server_config(rsa_chain()))  # a server verifying no client: nothing to check
    assert checked == []
    pair = handshake(client, server_config(self_signed("rsa"), groups=[NamedGroup.x25519]))
    assert pair.client_outcome.completed is None
    assert "certificate verification failed" in str(pair.client_outcome.terminated)
