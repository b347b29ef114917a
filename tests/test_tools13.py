"""The tools understand DTLS 1.3 (issue 14): dissection, diagnosis, the key log, netsim, the CLI.

Handshakes run on the deterministic simulator (no sockets, virtual time): a DTLS 1.3 client
and server (ECDSA chain from tests/certs), the server's stateless door answering with a
HelloRetryRequest carrying a cookie (RFC 9147 §5.1).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes

from aiodtls.asyncio import DtlsSession, connect, serve
from aiodtls.cli import main
from aiodtls.cli.common import add_common_options, apply_common_options, parse_versions
from aiodtls.configuration import DtlsConfiguration
from aiodtls.connection import ConnectionState, DtlsConnection
from aiodtls.diagnose import Finding, HandshakeDiagnosis, Observation
from aiodtls.dissect import DtlsRecord, UnifiedRecord, describe, dissect, handshake_fragments
from aiodtls.handshake.keyschedule13 import DTLS13_LABEL_PREFIX, traffic_keys
from aiodtls.handshake.messages import HELLO_RETRY_REQUEST_RANDOM, HandshakeType, encode_ack
from aiodtls.keylog13 import KeyLog
from aiodtls.netsim import (
    Action,
    LinkConditions,
    LogEntry,
    Network,
    carries_unified,
    drop,
    nth,
)
from aiodtls.proxy import DtlsProxy
from aiodtls.record.protection13 import OpenedRecord13, RecordProtection13
from aiodtls.suites import ProtocolVersion, Suite13
from aiodtls.sweep import CLIENT_ADDRESS as CLIENT
from aiodtls.sweep import SERVER_ADDRESS as SERVER
from aiodtls.sweep import SimulatedPeer
from aiodtls.wire import encode_record_header
from certs import SERVER_NAME, server_chain

DTLS13 = (ProtocolVersion.DTLSv1_3,)
DELAY = 0.05


def configs(
    versions: tuple[ProtocolVersion, ...] = DTLS13,
    server_versions: tuple[ProtocolVersion, ...] | None = None,
    mtu: int = 1400,
) -> tuple[DtlsConfiguration, DtlsConfiguration]:
    chain = server_chain("ecdsa")
    client = DtlsConfiguration(is_client=True, server_name=SERVER_NAME, versions=versions)
    client.ca_certificates = [chain.root]
    server = DtlsConfiguration(is_client=False, versions=server_versions or versions)
    server.certificate_chain = chain.chain
    server.private_key = chain.key
    client.mtu = server.mtu = mtu
    return client, server


class MutePeer(SimulatedPeer):
    """A server that sends its first ``budget`` datagrams and then never again: no timer,
    no answer to ACKs or repeated flights (a peer that never retransmits)."""

    budget = 4

    def get_timer(self) -> float | None:
        return None

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, tuple[str, int]]]:
        out = super().datagrams_to_send(now)
        kept = out[: max(0, self.budget)]
        self.budget -= len(out)
        return kept


def handshake(
    client_cfg: DtlsConfiguration,
    server_cfg: DtlsConfiguration,
    *,
    down: LinkConditions | None = None,
    up: LinkConditions | None = None,
    server_peer: type[SimulatedPeer] = SimulatedPeer,
    until: float = 30.0,
) -> tuple[Network, SimulatedPeer, SimulatedPeer]:
    net = Network(seed=1)
    client = SimulatedPeer(DtlsConnection(configuration=client_cfg, rng=random.Random(1)))
    server = server_peer(DtlsConnection(configuration=server_cfg, rng=random.Random(2)))
    net.attach(client, CLIENT, name="client")
    net.attach(server, SERVER, name="server")
    net.set_link(
        CLIENT,
        SERVER,
        up or LinkConditions(delay=DELAY),
        reverse=down or LinkConditions(delay=DELAY),
    )
    client.connection.connect(SERVER, net.now)

    def settled() -> bool:
        states = {client.connection.state, server.connection.state}
        return ConnectionState.HANDSHAKING not in states

    net.run(until=until, stop=settled)
    net.run(until=net.now + 0.5)  # the last ACK
    return net, client, server


def sent(net: Network, src: tuple[str, int] | None = None) -> list[LogEntry]:
    return net.entries(Action.SENT, src=src)


def diagnose(
    net: Network, *, tail: float = 30.0, key_log: KeyLog | None = None
) -> tuple[HandshakeDiagnosis, list[Observation]]:
    """Feed the simulator's log to a diagnosis as the proxy would, timers included."""
    diagnosis = HandshakeDiagnosis(patience=5.0, key_log=key_log)
    observations: list[Observation] = []
    dropped = {(e.direction, e.index, e.copy) for e in net.entries(Action.DROPPED)}

    def run_timers(until: float) -> None:
        timer = diagnosis.get_timer()
        while timer is not None and timer <= until:
            diagnosis.handle_timer(timer)
            timer = diagnosis.get_timer()

    for entry in sent(net):
        run_timers(entry.time)
        lost = (entry.direction, entry.index, entry.copy) in dropped
        direction = "c2s" if entry.src == CLIENT else "s2c"
        action = "dropped" if lost else "forwarded"
        observations.append(diagnosis.observe(entry.time, direction, entry.data, action))
    run_timers(net.now + tail)
    return diagnosis, observations


def kinds(diagnosis: HandshakeDiagnosis) -> list[str]:
    return [f.kind for f in diagnosis.findings]


# -- dissect ---------------------------------------------------------------------------------


def test_dissect_names_the_dtls13_hellos_and_the_hello_retry_request() -> None:
    net, client, _ = handshake(*configs())
    assert client.completed is not None and client.completed.protocol_version == "DTLSv1.3"
    first_c, second_c = sent(net, CLIENT)[:2]
    hrr, hrr_copy, flight4 = sent(net, SERVER)[:3]  # the HelloRetryRequest goes twice
    assert hrr_copy.data == hrr.data
    [hello] = handshake_fragments(dissect(first_c.data))
    assert hello.name == "ClientHello" and hello.message_seq == 0
    assert hello.versions == (0xFEFC,) and hello.cookie_extension_length is None
    [retry] = handshake_fragments(dissect(hrr.data))
    assert retry.msg_type == HandshakeType.server_hello and retry.hello_retry
    assert retry.name == "HelloRetryRequest"
    assert hrr.data[13 + 12 + 2 : 13 + 12 + 34] == HELLO_RETRY_REQUEST_RANDOM
    assert retry.versions == (0xFEFC,) and retry.cookie_extension_length
    [hello2] = handshake_fragments(dissect(second_c.data))
    assert hello2.message_seq == 1
    assert hello2.cookie_extension_length == retry.cookie_extension_length
    items = dissect(flight4.data)
    [server_hello] = handshake_fragments(items)
    assert server_hello.name == "ServerHello" and not server_hello.hello_retry
    assert server_hello.versions == (0xFEFC,)
    assert server_hello.cipher_suite == Suite13.TLS_AES_128_GCM_SHA256
    encrypted = [i for i in items if isinstance(i, UnifiedRecord)]
    assert encrypted and all(i.epoch_bits == 2 for i in encrypted)
    # The datagram's last record leaves out its length (RFC 9147 §4), the others keep it.
    assert [i.length_present for i in encrypted] == [True] * (len(encrypted) - 1) + [False]
    assert describe(encrypted[0]).startswith("DTLS13 enc e&3=2 sn*=")
    assert "HelloRetryRequest seq=0" in first_line(hrr.summary)
    assert "versions=[1.3] cookie(44)=" in hrr.summary


def first_line(text: str) -> str:
    return text.splitlines()[0]


def test_dissect_reads_a_plaintext_ack_record() -> None:  # RFC 9147 §7
    body = encode_ack([(0, 5), (2, 1)])
    data = encode_record_header(26, 0xFEFD, 0, 7, len(body)) + body
    [record] = dissect(data)
    assert isinstance(record, DtlsRecord) and record.acks == ((0, 5), (2, 1))
    assert describe(record) == "ACK e0#7 of e0#5 e2#1"
    [broken] = dissect(encode_record_header(26, 0xFEFD, 0, 8, 3) + b"\x00\x10\x00")
    assert isinstance(broken, DtlsRecord) and broken.acks is None  # never raises


# -- key log ---------------------------------------------------------------------------------


def test_key_log_has_the_tls13_labels_and_they_open_the_records() -> None:
    client_cfg, server_cfg = configs()
    client_cfg.key_log, server_cfg.key_log = io.StringIO(), io.StringIO()
    net, _, _ = handshake(client_cfg, server_cfg)
    assert isinstance(client_cfg.key_log, io.StringIO)
    assert isinstance(server_cfg.key_log, io.StringIO)
    lines = client_cfg.key_log.getvalue().splitlines()
    assert sorted(lines) == sorted(server_cfg.key_log.getvalue().splitlines())
    secrets = {}
    for line in lines:
        label, random_hex, secret = line.split()
        secrets[label] = bytes.fromhex(secret)
        # NSS key log: keyed by the client random of the (first) ClientHello.
        assert random_hex == sent(net, CLIENT)[0].data[13 + 12 + 2 : 13 + 12 + 34].hex()
    assert set(secrets) == {
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0",
        "EXPORTER_SECRET",
    }
    # What Wireshark does with them: the server's first epoch-2 record is its
    # EncryptedExtensions, and its epoch-3 record after the client's Finished an ACK.
    flight4 = sent(net, SERVER)[2].data  # after the HelloRetryRequest and its copy
    first = next(i for i in dissect(flight4) if isinstance(i, UnifiedRecord))
    opened = open_record(secrets["SERVER_HANDSHAKE_TRAFFIC_SECRET"], 2, flight4, first.offset)
    assert opened == (22, HandshakeType.encrypted_extensions)
    last = sent(net, SERVER)[-1].data
    ack = next(i for i in dissect(last) if isinstance(i, UnifiedRecord))
    assert ack.epoch_bits == 3
    assert open_record(secrets["SERVER_TRAFFIC_SECRET_0"], 3, last, ack.offset)[0] == 26


def open_record(secret: bytes, epoch: int, data: bytes, offset: int) -> tuple[int, int]:
    """(inner content type, first content byte) of the record at ``offset``."""
    keys = traffic_keys(hashes.SHA256(), secret, 16, 12, prefix=DTLS13_LABEL_PREFIX)
    protection = RecordProtection13(
        int(Suite13.TLS_AES_128_GCM_SHA256),
        key=keys.key,
        iv=keys.iv,
        sn_key=keys.sn_key,
        epoch=epoch,
    )
    opened = protection.open(data, offset, 0)
    assert isinstance(opened, OpenedRecord13), opened
    return opened.content_type, opened.content[0]


# -- diagnosis -------------------------------------------------------------------------------


def test_diagnosis_of_a_clean_dtls13_handshake() -> None:
    net, _, _ = handshake(*configs())
    diagnosis, _ = diagnose(net)
    assert diagnosis.completed
    [done] = diagnosis.findings
    assert done.kind == "completed" and done.message.startswith("DTLS 1.3 handshake completed")
    assert done.details["version"] == "DTLS 1.3"
    assert done.details["retransmissions"] == {"client": 0, "server": 0}
    assert done.details["acks"] == {"client": 0, "server": 1}  # the ACK of the Finished


def test_diagnosis_sees_the_ack_driven_resend_of_a_lost_record() -> None:  # V12
    # MTU 576: flight 4 takes four datagrams; the third is lost once. The client's ACK
    # names what it has and the server resends the one missing record, not the flight.
    net, client, _ = handshake(
        *configs(mtu=576), down=LinkConditions(delay=DELAY, rules=[drop(nth(3))])
    )
    assert client.completed is not None
    diagnosis, _ = diagnose(net)
    assert kinds(diagnosis) == ["completed"]
    [done] = diagnosis.findings
    assert done.details["ack_driven_resends"] == 1
    assert done.details["retransmissions"]["server"] == 1
    [recovered] = done.details["recovered"]
    assert recovered["side"] == "server" and recovered["flight"] == 4
    assert "encrypted record of flight 4" in recovered["lost"]
    assert "resent flight 4 after the client's ACK" in done.message
    assert re.search(r"records per transmission: \d+, 1\)", done.message)


def test_diagnosis_a_lost_ack_of_the_finished_is_recovered_by_the_client() -> None:  # V18
    net, client, _ = handshake(
        *configs(), down=LinkConditions(delay=DELAY, rules=[drop(carries_unified(3), first=1)])
    )
    assert client.completed is not None
    diagnosis, _ = diagnose(net)
    [done] = diagnosis.findings
    assert done.kind == "completed"
    [recovered] = done.details["recovered"]
    assert recovered == {
        "side": "client",
        "flight": 5,
        "lost": "the server's ACK",
        "after": recovered["after"],
    }
    assert done.details["retransmissions"] == {"client": 1, "server": 0}


def test_diagnosis_names_a_dtls13_peer_that_never_retransmits() -> None:
    net, _, _ = handshake(
        *configs(mtu=576),
        down=LinkConditions(delay=DELAY, rules=[drop(nth(3))]),
        server_peer=MutePeer,
        until=12.0,
    )
    diagnosis, _ = diagnose(net)
    assert not diagnosis.completed
    [verdict] = [f for f in diagnosis.findings if f.kind == "no_retransmission"]
    assert verdict.side == "server" and verdict.details["flight"] == 4
    assert "server never retransmitted flight 4 (ServerHello ... Finished)" in verdict.message
    # The client does not repeat its ClientHello (the records of flight 4 that arrived
    # acknowledge it, V19): its ACKs name what it has, and the server ignores them.
    assert "although the client acknowledged what it had" in verdict.message
    assert "epochs, counts and sizes" in verdict.message


def test_diagnosis_stays_dtls12_when_dtls12_is_negotiated() -> None:
    both = (ProtocolVersion.DTLSv1_2, ProtocolVersion.DTLSv1_3)
    net, client, _ = handshake(*configs((ProtocolVersion.DTLSv1_2,), server_versions=both))
    assert client.completed is not None and client.completed.protocol_version == "DTLSv1.2"
    diagnosis, _ = diagnose(net)
    assert diagnosis.completed
    assert not diagnosis.findings[-1].message.startswith("DTLS 1.3")


# -- netsim and its CLI ----------------------------------------------------------------------


def test_carries_unified_targets_encrypted_records_by_epoch() -> None:
    net, _, _ = handshake(
        *configs(), down=LinkConditions(delay=DELAY, rules=[drop(carries_unified(2))])
    )
    lost = net.entries(Action.DROPPED, src=SERVER)
    assert lost and all("DTLS13 enc e&3=2" in e.summary for e in lost)
    assert all("unified(epoch&3=2)" in e.reason for e in lost)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_netsim_dtls13_sweep(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "netsim", "--runs", "8", "--loss", "0.1", "--dtls13", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["completed"] == 8
    assert result["parameters"]["versions"] == "DTLS 1.3"


def test_netsim_dtls13_resumes_a_ticket(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "netsim", "--runs", "3", "--psk", "--dtls13", "--resume")
    assert code == 0
    assert "DTLS 1.3, PSK, resumed session" in out
    assert "aiodtls: 3/3 resumed the session" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["netsim", "--dtls13", "--timers", "both"], "--timers openssl/both and --profile"),
        (["netsim", "--dtls13", "--dtls12"], "not allowed with argument"),
        (["netsim", "--versions", "1.4"], "unknown DTLS version '1.4'"),
        (["client", "127.0.0.1:9", "--versions", "tls1.3"], "unknown DTLS version"),
        (["client", "127.0.0.1:9", "--dtls13", "--rpk", "--key", "k.pem"], "--rpk needs DTLS"),
    ],
)
def test_version_mistakes_are_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_parse_versions_spellings() -> None:
    v12, v13 = ProtocolVersion.DTLSv1_2, ProtocolVersion.DTLSv1_3
    assert parse_versions("1.3") == (v13,)
    assert parse_versions("1.2,1.3") == (v12, v13)
    assert parse_versions("dtls1_3, DTLSv1.2") == (v13, v12)
    assert parse_versions("1.3,1.3") == (v13,)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_versions("1.1")


def options(argv: Iterable[str], *, is_client: bool = True) -> DtlsConfiguration:
    parser = argparse.ArgumentParser()
    add_common_options(parser)
    config = DtlsConfiguration(is_client=is_client)
    apply_common_options(parser.parse_args(list(argv)), config)
    return config


def test_client_and_server_options_choose_the_versions_and_13_suites() -> None:
    assert options([]).versions == (  # the configuration's default
        ProtocolVersion.DTLSv1_2,
        ProtocolVersion.DTLSv1_3,
    )
    assert options(["--dtls12"]).versions == (ProtocolVersion.DTLSv1_2,)
    assert options(["--dtls13"]).versions == (ProtocolVersion.DTLSv1_3,)
    both = options(["--versions", "1.2,1.3"], is_client=False)
    assert both.versions == (ProtocolVersion.DTLSv1_2, ProtocolVersion.DTLSv1_3)
    config = options(
        [
            "--versions",
            "1.2,1.3",
            "--cipher",
            "TLS_AES_256_GCM_SHA384",
            "--cipher",
            "PSK-AES128-CCM8",
        ]
    )
    assert config.cipher_suites13 == [Suite13.TLS_AES_256_GCM_SHA384]
    assert config.cipher_suites is not None and len(config.cipher_suites) == 1


@pytest.mark.slow  # 3.5 s: two demo runs
def test_demo_dtls13_shows_acks_next_to_dtls12(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "demo", "--dtls13", "--seed", "1", "--messages", "1")
    assert code == 0
    again_code, again, _ = run_cli(capsys, "demo", "--dtls13", "--seed", "1", "--messages", "1")
    assert again_code == 0 and again == out  # the same seed, the same output
    assert out.startswith("aiodtls demo: a DTLS 1.3 handshake over a simulated bad path")
    assert "HelloRetryRequest" in out and "sn*=" not in out
    assert "client sends an ACK of records" in out
    assert "server receives an ACK of records" in out
    assert "DTLSv1.3 TLS_AES_128_GCM_SHA256" in out
    assert "DTLS 1.3 next to DTLS 1.2 (same path, seed and credentials" in out
    table = out.split("DTLS 1.3 next to DTLS 1.2")[1]
    resent = next(line for line in table.splitlines() if "bytes resent" in line).split()
    assert int(resent[-2]) < int(resent[-1])  # this seed: 1.3 resends fewer bytes
    assert "echoed after" in out


def test_the_dtls13_trace_names_acks_and_holds_no_secret() -> None:
    client_cfg, server_cfg = configs(mtu=576)
    records: list[str] = []
    client_cfg.key_log = io.StringIO()
    client_cfg.trace = server_cfg.trace = lambda record: records.append(str(record))
    handshake(client_cfg, server_cfg, down=LinkConditions(delay=DELAY, rules=[drop(nth(3))]))
    text = "\n".join(records)
    assert "ack_sent" in text and "ack_received" in text and "flight_acknowledged" in text
    assert isinstance(client_cfg.key_log, io.StringIO)
    for line in client_cfg.key_log.getvalue().splitlines():
        secret = line.split()[2]
        assert secret not in text and secret[:16] not in text


def test_diagnosis_with_a_key_log_opens_the_records() -> None:
    # aiodtls proxy --keylog FILE: the records are named, not guessed from their sizes.
    client_cfg, server_cfg = configs(mtu=576)
    client_cfg.key_log = io.StringIO()
    net, _, _ = handshake(
        client_cfg, server_cfg, down=LinkConditions(delay=DELAY, rules=[drop(nth(3))])
    )
    assert isinstance(client_cfg.key_log, io.StringIO)
    key_log = KeyLog(text=client_cfg.key_log.getvalue())
    diagnosis, observations = diagnose(net, key_log=key_log)
    text = "\n".join(str(o) for o in observations)
    assert "= e2#0 HS EncryptedExtensions seq=2" in text
    assert "HS Finished seq=" in text and " ACK of e0#" in text
    assert "= e3#0 ACK of e2#" in text  # the server's ACK of the client's Finished
    [done] = diagnosis.findings
    assert done.kind == "completed" and done.details["ack_driven_resends"] == 1
    assert done.details["recovered"][0]["lost"] == "the server's Certificate (flight 4)"
    # Without the key log the same handshake reads the same way, from sizes alone.
    guessed, _ = diagnose(net)
    keyless = dict(guessed.findings[0].details, recovered=None)
    assert keyless == dict(done.details, recovered=None)


def test_key_log_reads_a_growing_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.log"
    path.write_text("# comment\nCLIENT_RANDOM zz 00\n")
    log = KeyLog(path)
    assert log.secret("SERVER_TRAFFIC_SECRET_0", b"\x01" * 32) is None
    with path.open("a") as file:
        file.write(f"SERVER_TRAFFIC_SECRET_0 {'01' * 32} {'ab' * 32}\n")
    assert log.secret("SERVER_TRAFFIC_SECRET_0", b"\x01" * 32) == b"\xab" * 32


def test_a_record_of_flight_4_implicitly_acknowledges_the_client_hello() -> None:  # V19
    # Found by the DTLS 1.3 diagnosis (fixed): the ServerHello and part of flight 4 arrive,
    # the client ACKs them, and it used to resend its second ClientHello on its timer for as
    # long as the server stayed silent, although the ServerHello acknowledged it.
    net, _, _ = handshake(
        *configs(mtu=576),
        down=LinkConditions(delay=DELAY, rules=[drop(nth(3))]),
        server_peer=MutePeer,
        until=5.0,
    )
    server_hello_at = next(
        e.time for e in net.entries(Action.DELIVERED, src=SERVER) if "HS ServerHello" in e.summary
    )
    late_hellos = [
        e for e in sent(net, CLIENT) if e.time > server_hello_at and "ClientHello" in e.summary
    ]
    assert late_hellos == []


@pytest.mark.slow  # 2 s each: real processes on loopback
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(["--server-name", "localhost"], id="by-name"),
        # Fixed: a client connected to an IP address (no SNI) never offered its ticket.
        pytest.param([], id="by-ip-address"),
    ],
)
def test_cli_client_and_server_speak_dtls13_and_resume(name: list[str]) -> None:
    # Real sockets on loopback: `aiodtls server --dtls13` and `aiodtls client --dtls13
    # --reconnect 2`; the client waits for the NewSessionTicket a DTLS 1.3 server sends
    # after the handshake before it reconnects.
    env = {k: v for k, v in os.environ.items() if k != "SSLKEYLOGFILE"}
    aiodtls = [sys.executable, "-m", "aiodtls"]
    common = ["--psk", "00112233445566778899aabbccddeeff", "--dtls13"]
    server = subprocess.Popen(
        [*aiodtls, "server", "--port", "0", *common, "--echo", "--count", "3"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert server.stderr is not None
        listening = server.stderr.readline().decode()
        assert listening.startswith("listening on 127.0.0.1:"), listening
        port = listening.strip().rsplit(":", 1)[1]
        client = subprocess.run(
            [*aiodtls, "client", f"127.0.0.1:{port}", *common, *name, "--reconnect", "2"],
            env=env,
            input=b"hello\n",
            capture_output=True,
            timeout=60,
        )
    finally:
        server.kill()
        server.wait(10)
    err = client.stderr.decode()
    assert client.returncode == 0, err
    assert client.stdout == b"hello\n"
    assert err.startswith("handshake ok: DTLSv1.3 TLS_AES_128_GCM_SHA256")
    reconnects = [line for line in err.splitlines() if line.startswith("reconnect")]
    assert len(reconnects) == 2 and all(": session resumed (TLS_AES_" in r for r in reconnects)


def test_the_proxy_diagnoses_dtls13_and_opens_records_with_a_key_log(tmp_path: Path) -> None:
    # DtlsProxy between asyncio endpoints on loopback; both write the key log file the proxy
    # reads (`aiodtls proxy --keylog FILE`). The server's third datagram is dropped once.
    key_file = tmp_path / "keys.log"
    observations: list[Observation] = []
    findings: list[Finding] = []

    async def main() -> None:
        client_cfg, server_cfg = configs(mtu=576)
        with key_file.open("a") as keys:
            client_cfg.key_log = server_cfg.key_log = keys

            async def echo(session: DtlsSession) -> None:
                async for data in session:
                    session.send(data)

            server = await serve("127.0.0.1", 0, configuration=server_cfg, handler=echo)
            proxy = DtlsProxy(
                server.address,
                s2c=LinkConditions(rules=[drop(nth(2), first=1)]),
                on_observation=lambda _, o: observations.append(o),
                on_finding=lambda _, f: findings.append(f),
                key_log=KeyLog(key_file),
            )
            host, port = await proxy.start("127.0.0.1", 0)
            try:
                async with server, connect(host, port, configuration=client_cfg) as session:
                    assert session.protocol_version == "DTLSv1.3"
                    session.send(b"ping")
                    assert await session.recv(timeout=5) == b"ping"
                    await asyncio.sleep(0.2)  # the server's ACK and ticket
            finally:
                proxy.close()

    asyncio.run(main())
    text = "\n".join(str(o) for o in observations)
    assert "** DROPPED (rule nth(2)) **" in text
    assert "= e2#0 HS EncryptedExtensions" in text and " HS Finished seq=" in text
    assert "APP 4B [data]" in text  # the echoed ping, opened
    [done] = [f for f in findings if f.kind == "completed"]
    assert done.details["version"] == "DTLS 1.3"
    assert done.details["retransmissions"]["server"] >= 1
    assert not [f for f in findings if f.kind == "no_retransmission"]


def test_the_dtls13_diagnosis_survives_hostile_datagrams() -> None:  # X18
    # After a real handshake's datagrams (so the DTLS 1.3 diagnosis and its key-log
    # decryptor are active), random and bit-flipped datagrams never raise.
    client_cfg, server_cfg = configs(mtu=576)
    client_cfg.key_log = io.StringIO()
    net, _, _ = handshake(client_cfg, server_cfg)
    assert isinstance(client_cfg.key_log, io.StringIO)
    rng = random.Random(7)
    genuine = [e.data for e in sent(net)]
    for key_log in (None, KeyLog(text=client_cfg.key_log.getvalue())):
        diagnosis = HandshakeDiagnosis(patience=1.0, key_log=key_log)
        for i, data in enumerate(genuine):
            diagnosis.observe(i * 0.01, "c2s" if i % 2 == 0 else "s2c", data)
        now = 1.0
        for _ in range(400):
            now += 0.01
            noisy = bytearray(rng.choice(genuine))
            for _ in range(rng.randrange(1, 4)):
                noisy[rng.randrange(len(noisy))] ^= 1 << rng.randrange(8)
            if rng.random() < 0.3:
                noisy = bytearray([rng.randrange(0x20, 0x40)]) + rng.randbytes(rng.randrange(40))
            direction = rng.choice(["c2s", "s2c"])
            action = rng.choice(["forwarded", "dropped"])
            observation = diagnosis.observe(now, direction, bytes(noisy), action)
            assert observation.size == len(noisy)
            timer = diagnosis.get_timer()
            if timer is not None and timer <= now:
                diagnosis.handle_timer(now)


# Fixed: the record layer did not read the CIDs the handshake negotiated, and dropped every
# record that carried one ('DTLS 1.3 record with a connection ID none was negotiated for').
@pytest.mark.parametrize(("client_cid", "server_cid"), [(4, 4), (4, 3), (0, 4)])
def test_a_dtls13_handshake_with_connection_ids_completes(client_cid: int, server_cid: int) -> None:
    client_cfg, server_cfg = configs()
    client_cfg.connection_id_length = client_cid
    server_cfg.connection_id_length = server_cid
    _, client, server = handshake(client_cfg, server_cfg, until=10.0)
    assert client.connection.state == server.connection.state == ConnectionState.ESTABLISHED
    assert client.completed is not None and client.completed.peer_connection_id is not None


def test_two_copies_of_the_hello_retry_request_are_one_transmission() -> None:
    # The stateless door (DtlsEndpoint) sends its HelloRetryRequest twice, back to back
    # (HELLO_VERIFY_COPIES): the diagnosis counts no retransmission for that.
    net, client, _ = handshake(*configs())
    assert client.completed is not None
    entries = sent(net)
    hello_retry = next(e for e in entries if "HelloRetryRequest" in e.summary)
    diagnosis = HandshakeDiagnosis()
    for entry in entries:
        direction = "c2s" if entry.src == CLIENT else "s2c"
        diagnosis.observe(entry.time, direction, entry.data)
        if entry is hello_retry:
            copy = diagnosis.observe(entry.time, direction, entry.data)
            assert copy.retransmission_of is None and copy.flight == 2
    [done] = diagnosis.findings
    assert done.details["retransmissions"] == {"client": 0, "server": 0}


@pytest.mark.slow  # long: in the slow pass of .ci/run (README command's budget)
def test_demo_runs_dtls_srtp_over_dtls13(capsys: pytest.CaptureFixture[str]) -> None:
    """DTLS 1.3 negotiates use_srtp (RFC 9147 keeps RFC 5764's extension): the demo's --srtp
    with --dtls13 derives the same SRTP keys on both sides instead of being refused."""
    assert main(["demo", "--dtls13", "--srtp"]) == 0
    out = capsys.readouterr().out
    assert "DTLSv1.3" in out
    assert "DTLS-SRTP SRTP_AEAD_AES_128_GCM" in out and "client and server derived the same" in out
