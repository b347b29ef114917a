"""``aiodtls bench`` (aiodtls/bench/, cli/bench.py): the structure of what it reports.

Nothing here asserts a speed: ``--quick`` counts are far too small to mean anything, and the
machine running the tests is shared.
"""

from __future__ import annotations

import json
import pathlib

import pytest

import aiodtls.bench
from aiodtls import ConnectionState, DtlsConnection
from aiodtls.bench import METRICS, MetricResult, peers
from aiodtls.cli import main
from pairs import handshake


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = main(["bench", *argv])
    return status, capsys.readouterr().out


@pytest.mark.slow  # 8 s: a whole quick bench run (the README command's 5-minute budget)
def test_quick_json_has_every_metric_with_its_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run(capsys, "--quick", "--json")
    assert status == 0
    report = json.loads(out)
    assert set(report["metrics"]) == set(report["ratios"]) == set(METRICS)
    assert report["settings"]["repetitions"] == 2
    assert {"python", "cryptography", "pyopenssl", "openssl"} <= set(report["environment"])
    for name, metric in report["metrics"].items():
        assert metric["aiodtls"] > 0, name
        assert len(metric["samples"]["aiodtls"]) >= 1
        ratios = report["ratios"][name]
        if name.startswith(("handshake-", "resumed-", "records-")):
            # pyOpenSSL (a test dependency) and the floor, measured in the same run
            assert metric["pyopenssl"] > 0 and metric["floor"] > 0, name
            low, high = metric["pyopenssl_ratio_range"]
            assert low <= ratios["pyopenssl"] <= high
            assert ratios["floor"] > 0
            assert len(metric["samples"]["pyopenssl"]) == 2
        elif name == "echo":
            assert set(ratios) == {"plain_udp"}
            low, high = metric["plain_udp_ratio_range"]
            assert low <= ratios["plain_udp"] <= high
        else:  # memory, netsim: aiodtls alone
            assert ratios == {} and metric["pyopenssl"] is None and metric["floor"] is None


def test_without_pyopenssl_the_table_says_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aiodtls.bench, "_pyopenssl_missing", lambda: "pyOpenSSL is not installed")
    status, out = run(capsys, "--quick", "--metric", "handshake-psk", "--metric", "records-100")
    assert status == 0
    lines = out.splitlines()
    psk = next(line for line in lines if line.startswith("full handshakes/s, PSK-AES128-GCM"))
    assert psk.split()[-5:-3] == ["-", "-"]  # no pyOpenSSL rate, no ratio; the floor is there
    assert psk.split()[-2].endswith("x")
    assert psk.split()[-1] == "0.6"  # issue 13's goal for it
    assert "note: pyOpenSSL is not installed" in lines
    assert not any(line.startswith("asyncio") for line in lines)  # only the metrics asked for


def test_ratios_are_medians_of_the_repetitions_ratios() -> None:
    result = MetricResult(
        name="records-100",
        label="",
        unit="records/s",
        aiodtls=100.0,
        pyopenssl=50.0,
        floor=400.0,
        samples={
            "aiodtls": [90.0, 110.0, 100.0],
            "pyopenssl": [60.0, 50.0, 50.0],
            "floor": [450.0, 330.0, 400.0],
        },
    )
    # 1.5, 2.2, 2.0 times pyOpenSSL's rate; 5, 3 and 4 times the floor's time
    assert result.ratios == {"pyopenssl": 2.0, "floor": 4.0}
    assert result.ratio_range("pyopenssl") == (1.5, 2.2)
    assert result.ratio_range("plain_udp") is None


def test_an_unknown_metric_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--metric", "nonsense"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize("kind", sorted(peers.KINDS))
def test_both_libraries_negotiate_the_same_suite_and_group(kind: str) -> None:
    """Issue 13: the old comparison let OpenSSL pick X25519 while aiodtls used P-256."""
    pytest.importorskip("OpenSSL")
    from OpenSSL._util import ffi, lib

    settings = peers.KINDS[kind]
    ours = handshake(*peers.aiodtls_configs(settings)).client_outcome.completed
    theirs, _ = peers.pyopenssl_pair(*peers.pyopenssl_contexts(settings))
    assert ours is not None
    assert ours.cipher_suite == settings.suite.name
    assert theirs.get_cipher_name() == settings.openssl_cipher.decode()
    group = lib.SSL_get0_group_name(theirs._ssl)
    if settings.group is None:
        assert ours.group is None and group == ffi.NULL
    else:
        assert ours.group == ffi.string(group).decode() == settings.group.name


@pytest.mark.parametrize("kind", sorted(peers.KINDS))
def test_each_library_completes_the_handshake_with_the_other(kind: str) -> None:
    """Crossed pairs complete with these settings, aiodtls requiring the extended master
    secret: OpenSSL's side uses EMS too, and both cookie exchanges work."""
    pytest.importorskip("OpenSSL")
    from OpenSSL import SSL

    settings = peers.KINDS[kind]
    client_cfg, server_cfg = peers.aiodtls_configs(settings)
    assert client_cfg.require_extended_master_secret and server_cfg.require_extended_master_secret
    server_ctx, client_ctx = peers.pyopenssl_contexts(settings)
    for ours, theirs in (
        (DtlsConnection(configuration=client_cfg), SSL.Connection(server_ctx, None)),
        (DtlsConnection(configuration=server_cfg), SSL.Connection(client_ctx, None)),
    ):
        theirs.set_ciphertext_mtu(1400)
        if ours.configuration is client_cfg:
            theirs.set_accept_state()
            ours.connect(peers.SERVER, 0.0)
        else:
            theirs.set_connect_state()
        peer = peers.SERVER if ours.configuration is client_cfg else peers.CLIENT
        for _ in range(10):
            peers.pyopenssl_step(theirs)
            for data in peers.pyopenssl_datagrams(theirs):
                ours.receive_datagram(data, peer, 0.0)
            for data, _ in ours.datagrams_to_send(0.0):
                theirs.bio_write(data)
        assert ours.state == ConnectionState.ESTABLISHED
        assert peers.pyopenssl_step(theirs)


@pytest.mark.parametrize("cookie", [True, False])
@pytest.mark.parametrize("kind", ["p256", "psk"])
def test_both_servers_make_the_same_cookie_choice(kind: str, cookie: bool) -> None:
    """The ``-nocookie`` metrics turn the cookie exchange off on both libraries: each server's
    first answer is a HelloVerifyRequest (handshake type 3) exactly when it is on."""
    pytest.importorskip("OpenSSL")
    from OpenSSL import SSL

    settings = peers.KINDS[kind]
    client_cfg, server_cfg = peers.aiodtls_configs(settings, cookie=cookie)
    client, server = (
        DtlsConnection(configuration=client_cfg),
        DtlsConnection(configuration=server_cfg),
    )
    client.connect(peers.SERVER, 0.0)
    for data, _ in client.datagrams_to_send(0.0):
        server.receive_datagram(data, peers.CLIENT, 0.0)
    ours = server.datagrams_to_send(0.0)[0][0]

    server_ctx, client_ctx = peers.pyopenssl_contexts(settings, cookie=cookie)
    their_server, their_client = SSL.Connection(server_ctx, None), SSL.Connection(client_ctx, None)
    their_server.set_accept_state()
    their_client.set_connect_state()
    for conn in (their_server, their_client):
        conn.set_ciphertext_mtu(1400)
    peers.pyopenssl_step(their_client)
    for data in peers.pyopenssl_datagrams(their_client):
        their_server.bio_write(data)
    peers.pyopenssl_step(their_server)
    theirs = next(peers.pyopenssl_datagrams(their_server))
    hello_verify_request = 3
    for first in (ours, theirs):  # record header 13 bytes, then the handshake type
        assert (first[13] == hello_verify_request) is cookie


@pytest.mark.slow  # long (README command budget): in the slow pass of .ci/run
def test_plot_draws_the_run_and_an_earlier_json(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """``--plot`` draws this run's ratios; ``--from-json`` draws an earlier ``--json`` run
    without measuring (matplotlib is in the test extra)."""
    picture, again, saved = tmp_path / "run.png", tmp_path / "again.svg", tmp_path / "run.json"
    status, out = run(
        capsys,
        "--quick",
        "--json",
        "--metric",
        "records-100",
        "--metric",
        "echo",
        "--plot",
        str(picture),
    )
    assert status == 0
    assert picture.read_bytes().startswith(b"\x89PNG")
    report = json.loads(out)
    assert report["goals"] == {"records-100": 1.7, "echo": 0.7}
    saved.write_text(out)
    status, _ = run(capsys, "--from-json", str(saved), "--plot", str(again))
    assert status == 0
    assert b"<svg" in again.read_bytes()


def test_plot_usage_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    (tmp_path / "bad.json").write_text("{}")
    for argv, says in (
        (["--from-json", str(tmp_path / "bad.json")], "add --plot FILE"),
        (["--from-json", str(tmp_path / "bad.json"), "--plot", "x.png"], "cannot read"),
        (["--from-json", str(tmp_path / "none.json"), "--plot", "x.png"], "cannot read"),
    ):
        assert main(["bench", *argv]) == 2
        err = capsys.readouterr().err
        assert says in err and len(err.strip().splitlines()) == 1, err
