"""``DtlsConfiguration.verify_callback`` (issue 10): called with the peer's chain and the
built-in verdict (None, or the reason it refused); its answer decides, an exception it raises
refuses without reaching the application, and weak keys stay refused whatever it says."""

from __future__ import annotations

import ssl

from cryptography import x509

from aiodtls import AlertDescription, pki
from certs import client_chain, self_signed, server_chain, weak_rsa_leaf
from pairs import Pair, client_auth_configs, client_config, handshake, server_config

Calls = list[tuple[list[x509.Certificate], str | None]]


def recorder(calls: Calls, answer: bool) -> object:
    def callback(chain: list[x509.Certificate], error: str | None) -> bool:
        calls.append((chain, error))
        return answer

    return callback


def client_end(pair: Pair) -> tuple[AlertDescription | None, str | None]:
    t = pair.client_outcome.terminated
    return (None, None) if t is None else (t.alert, t.reason)


def test_called_with_the_chain_and_none_when_verification_passed() -> None:
    calls: Calls = []
    pair = handshake(client_config(verify_callback=recorder(calls, True)), server_config())
    assert pair.client_outcome.completed is not None
    assert calls == [(server_chain().chain, None)]


def test_returning_false_refuses_a_valid_chain() -> None:
    calls: Calls = []
    pair = handshake(client_config(verify_callback=recorder(calls, False)), server_config())
    assert client_end(pair) == (
        AlertDescription.bad_certificate,
        "verify_callback refused the certificate",
    )
    assert len(calls) == 1


def test_returning_true_accepts_a_chain_verification_refused() -> None:
    # The application's own trust decision, e.g. a fingerprint learned later from signaling.
    calls: Calls = []
    expected = self_signed().certificate
    config = client_config(verify_callback=recorder(calls, True))
    pair = handshake(config, server_config(self_signed()))
    assert pair.client_outcome.completed is not None
    ((chain, error),) = calls
    assert chain == [expected]
    assert error is not None and "is self-signed and not trusted" in error


def test_the_refusal_keeps_its_alert_when_the_callback_agrees() -> None:
    calls: Calls = []
    config = client_config(
        verify_callback=recorder(calls, False),
        verification_time=server_chain().root.not_valid_after_utc,
    )
    pair = handshake(config, server_config())
    alert, reason = client_end(pair)
    assert alert == AlertDescription.certificate_expired
    assert calls and calls[0][1] == reason


def test_an_exception_in_the_callback_refuses_and_does_not_escape() -> None:
    def broken(chain: list[x509.Certificate], error: str | None) -> bool:
        raise RuntimeError("database down")

    pair = handshake(client_config(verify_callback=broken), server_config())
    assert client_end(pair) == (
        AlertDescription.bad_certificate,
        "verify_callback refused the certificate: RuntimeError: database down",
    )


def test_with_cert_none_it_is_the_only_check() -> None:
    calls: Calls = []
    wanted = pki.fingerprint(self_signed().certificate)

    def pin(chain: list[x509.Certificate], error: str | None) -> bool:
        calls.append((chain, error))
        return pki.fingerprint(chain[0]) == wanted

    config = client_config(verify_mode=ssl.CERT_NONE, verify_callback=pin)
    assert handshake(config, server_config(self_signed())).client_outcome.completed is not None
    assert calls[0][1] is None
    refused = handshake(config, server_config())
    assert client_end(refused)[0] == AlertDescription.bad_certificate


def test_a_server_callback_sees_the_client_chain() -> None:
    client, server = client_auth_configs()
    calls: Calls = []
    server.verify_callback = recorder(calls, True)  # type: ignore[assignment]
    pair = handshake(client, server)
    assert pair.server_outcome.completed is not None
    assert calls == [(client_chain().chain, None)]


def test_weak_keys_are_refused_before_the_callback() -> None:
    calls: Calls = []
    chain = weak_rsa_leaf()
    config = client_config(server_chain("rsa"), verify_callback=recorder(calls, True))
    config.min_rsa_key_size = 2048
    pair = handshake(config, server_config(chain))
    assert client_end(pair)[0] == AlertDescription.insufficient_security
    assert calls == []
