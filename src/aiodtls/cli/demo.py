"""``aiodtls demo``: a client and a server handshaking over a simulated bad network.

Everything runs in one process on the deterministic simulator (``aiodtls.netsim``): no sockets,
no real waiting. The output is the handshake's timeline (every datagram, what it carried and
whether the network lost it, each retransmission with its timeout, reassembly progress) and a
summary, then a short echo exchange. The same ``--seed`` gives the same output. Both sides
speak DTLS 1.2, whatever the library's default: the demo shows how DTLS 1.2 recovers a lost
fragment of a big flight (whole-flight resends, the classic failure of timerless servers).

``--dtls13`` runs a DTLS 1.3 handshake instead (RFC 9147) and shows what its ACKs do: the
receiver of a partly lost flight acknowledges the records it has, and the sender resends only
the others; the timeline names each ACK and each resend with its size. Then the same path,
seed and credentials carry a DTLS 1.2 handshake, which resends whole flights, and a table puts
the two side by side (the seed fixes each datagram's fate by its position in its direction,
so the two runs see the same loss pattern over different traffic).
"""

from __future__ import annotations

import argparse
import functools
import random
import re
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from ..configuration import DtlsConfiguration
from ..connection import ConnectionState, DtlsConnection
from ..events import ConnectionTerminated, HandshakeCompleted
from ..netsim import Action, LinkConditions, LogEntry, Network
from ..pki import CertificateChain, generate_chain
from ..suites import ProtocolVersion
from ..sweep import CLIENT_ADDRESS as CLIENT
from ..sweep import SERVER_ADDRESS as SERVER
from ..sweep import SRTP_PROFILES, SimulatedPeer, certificate_message_size
from ..trace import TraceRecord

__all__ = ["add_parser"]

_MASKED_SEQUENCE = re.compile(r" sn\*=[0-9a-f]+")
"The masked sequence bits of a DTLS 1.3 record in a dissected summary."

_SHOWN_TRACES = {
    "retransmit",
    "hello_verify_request_sent",
    "cookie_received",
    "reassembly",
    "handshake_complete",
    "terminated",
    "mtu_reduced",
}


def add_parser(commands: Any) -> None:
    """Register the sub-command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "demo",
        help="a DTLS 1.2 handshake over a simulated lossy path and its timeline (--dtls13: 1.3)",
    )
    parser.add_argument("--seed", type=int, default=1, help="simulator seed (default 1)")
    parser.add_argument(
        "--loss", type=float, default=0.25, help="loss probability each way (default 0.25)"
    )
    parser.add_argument("--rtt-ms", type=float, default=100.0, help="round-trip time (default 100)")
    parser.add_argument("--mtu", type=int, default=576, help="UDP payload limit (default 576)")
    parser.add_argument("--psk", action="store_true", help="use a pre-shared key, no certificates")
    parser.add_argument(
        "--srtp",
        action="store_true",
        help="negotiate DTLS-SRTP (use_srtp) and show the agreed profile and key sizes",
    )
    parser.add_argument("--messages", type=int, default=3, help="echo messages after the handshake")
    parser.add_argument(
        "--dtls13",
        action="store_true",
        help="a DTLS 1.3 handshake (its ACK-driven recovery), then DTLS 1.2 on the same path "
        "side by side",
    )
    parser.set_defaults(run=run)


def _configs(
    args: argparse.Namespace, pki: CertificateChain | None = None
) -> tuple[DtlsConfiguration, DtlsConfiguration, str]:
    """Both sides DTLS 1.2 (the demo shows DTLS 1.2's flights; ``--dtls13`` sets DTLS 1.3)."""
    if args.psk:
        key = bytes(range(16))
        client = DtlsConfiguration(is_client=True, psk=key, psk_identity=b"demo", versions=_V12)
        server = DtlsConfiguration(is_client=False, psk=key, versions=_V12)
        return client, server, "PSK (no certificates)"
    pki = pki or _chain()
    client = DtlsConfiguration(is_client=True, server_name="localhost", versions=_V12)
    client.ca_certificates = [pki.root]
    server = DtlsConfiguration(is_client=False, private_key=pki.key, versions=_V12)
    server.certificate_chain = [*pki.chain, pki.root]
    size = certificate_message_size(
        [c.public_bytes(Encoding.DER) for c in server.certificate_chain]
    )
    if getattr(args, "dtls13", False):
        # RFC 8446 §4.4.2: a certificate_request_context byte, and an extensions length
        # (empty) after each certificate.
        size += 1 + 2 * len(server.certificate_chain)
    return client, server, f"a fresh 3-level RSA chain; its Certificate message is {size} bytes"


_V12 = (ProtocolVersion.DTLSv1_2,)


def _chain() -> CertificateChain:
    # A chain the size of a real CDN certificate: RSA-4096 root and intermediate, a leaf with
    # many names, and the root sent too, as many servers do.
    names = ("localhost", "127.0.0.1", *(f"edge{i:02d}.cdn.demo.example" for i in range(40)))
    return generate_chain(kind="rsa", key_bits=(4096, 4096, 2048), names=names)


class _Timeline:
    """Collects network and protocol events and prints them in time order."""

    def __init__(self, *, dtls13: bool = False) -> None:
        self.lines: list[tuple[float, int, str]] = []
        self._sent: dict[tuple[str, int, int], int] = {}
        self._dtls13 = dtls13
        self.counts = _Counts()

    def on_network(self, entry: LogEntry) -> None:
        key = (entry.direction, entry.index, entry.copy)
        arrow = "client -> server" if entry.src == CLIENT else "server -> client"
        if entry.action == Action.SENT:
            self._sent[key] = len(self.lines)
            summary = entry.summary
            if self._dtls13:
                # Masked record numbers change with the (random) keys: left out, so that the
                # same seed prints the same timeline.
                summary = _MASKED_SEQUENCE.sub("", summary)
            self.lines.append(
                (entry.time, len(self.lines), f"{arrow}  {entry.size:4d} B  {summary}")
            )
        elif entry.action == Action.DROPPED:
            t, n, text = self.lines[self._sent[key]]
            self.lines[self._sent[key]] = (t, n, f"{text}   ** LOST ({entry.reason}) **")

    def on_trace(self, record: TraceRecord) -> None:
        self.counts.on_trace(record)
        if self._dtls13:
            text = _describe13(record)
            if text is not None:
                self.lines.append((record.time, len(self.lines), f"    {text}"))
                return
        if record.kind not in _SHOWN_TRACES:
            return
        f = record.fields
        if record.kind == "retransmit":
            text = (
                f"{record.role} retransmits flight {f['flight']} ({f['why']}), "
                f"next RTO {f['rto']} s"
            )
        elif record.kind == "reassembly":
            holes = ", ".join(
                f"message {seq}: {sum(e - s for s, e in ranges)} B missing"
                for seq, ranges in f["missing"].items()
            )
            text = f"{record.role} reassembling: {holes}"
        elif record.kind == "handshake_complete":
            text = f"{record.role} handshake complete ({f['suite']})"
        else:
            details = " ".join(f"{k}={v}" for k, v in f.items())
            text = f"{record.role} {record.kind.replace('_', ' ')} {details}".rstrip()
        self.lines.append((record.time, len(self.lines), f"    {text}"))

    def print(self) -> None:
        lines = sorted(self.lines)
        for i, (t, _, text) in enumerate(lines):
            following = lines[i + 1] if i + 1 < len(lines) else None
            if (
                following is not None
                and "reassembling" in text
                and following[0] == t
                and following[2].split(" reassembling")[0] == text.split(" reassembling")[0]
            ):
                continue  # several datagrams at one instant: show where reassembly got to
            print(f"  {t * 1000:9.1f} ms  {text}")
        self.lines.clear()


def _network(
    args: argparse.Namespace,
    client_cfg: DtlsConfiguration,
    server_cfg: DtlsConfiguration,
    timeline: _Timeline,
    *,
    observe: bool = True,
) -> tuple[Network, SimulatedPeer, SimulatedPeer]:
    """The simulated path with a client and an echo server on it (not started)."""
    for cfg in (client_cfg, server_cfg):
        cfg.mtu = args.mtu
        cfg.trace = timeline.on_trace
    one_way = args.rtt_ms / 2000
    path = LinkConditions(loss=args.loss, delay=one_way)
    net = Network(seed=args.seed, observer=timeline.on_network if observe else None)
    # Seeded jitter: the same --seed prints the same timeline.
    client = SimulatedPeer(
        DtlsConnection(configuration=client_cfg, rng=random.Random(f"client-{args.seed}"))
    )
    server = SimulatedPeer(
        DtlsConnection(configuration=server_cfg, rng=random.Random(f"server-{args.seed}")),
        echo=True,
    )
    net.attach(client, CLIENT, name="client")
    net.attach(server, SERVER, name="server")
    net.set_link(CLIENT, SERVER, path, reverse=path)
    return net, client, server


def _handshake(
    net: Network, client: SimulatedPeer, server: SimulatedPeer, client_cfg: DtlsConfiguration
) -> None:
    def settled() -> bool:
        states = {client.connection.state, server.connection.state}
        return ConnectionState.HANDSHAKING not in states

    client.connection.connect(SERVER, net.now)
    net.run(until=client_cfg.handshake_timeout + 1, stop=settled)


def run(args: argparse.Namespace) -> int:
    """Run the demo."""
    pki = None if args.psk else _chain()
    client_cfg, server_cfg, credentials = _configs(args, pki)
    if args.dtls13:
        client_cfg.versions = server_cfg.versions = (ProtocolVersion.DTLSv1_3,)
    timeline = _Timeline(dtls13=args.dtls13)
    net, client, server = _network(args, client_cfg, server_cfg, timeline)

    if args.dtls13:
        print(
            "aiodtls demo: a DTLS 1.3 handshake over a simulated bad path, "
            "then DTLS 1.2 on the same path"
        )
    else:
        print("aiodtls demo: a DTLS 1.2 handshake over a simulated bad path")
    print(
        f"  path: {args.loss:.0%} loss each way, RTT {args.rtt_ms:.0f} ms, MTU {args.mtu} B; "
        f"seed {args.seed}"
    )
    print(f"  credentials: {credentials}")
    print()
    print("timeline (virtual time):")

    if args.srtp:
        client_cfg.srtp_profiles = server_cfg.srtp_profiles = list(SRTP_PROFILES)
    _handshake(net, client, server, client_cfg)
    timeline.print()
    print()
    completed = [e for e in client.events if isinstance(e, HandshakeCompleted)]
    if not completed or server.connection.state != ConnectionState.ESTABLISHED:
        ended = [e for e in client.events + server.events if isinstance(e, ConnectionTerminated)]
        print(f"handshake FAILED: {ended[0].reason if ended else 'no result'}")
        return 1
    done = completed[0]
    up = net.stats(CLIENT, SERVER)
    down = net.stats(SERVER, CLIENT)
    print("summary:")
    print(f"  handshake complete after {done.duration * 1000:.0f} ms (virtual time)")
    print(f"  {done.protocol_version} {done.cipher_suite}, group {done.group}")
    if done.srtp_profile is not None:
        keys = client.connection.srtp_keying_material()
        print(
            f"  DTLS-SRTP {done.srtp_profile.name}: master key {len(keys.local_key)} B + salt "
            f"{len(keys.local_salt)} B each way (client and server derived the same)"
            if keys.remote_master == server.connection.srtp_keying_material().local_master
            else "  DTLS-SRTP keys DIFFER between client and server"
        )
    print(
        f"  retransmissions: client {client.connection.stats.retransmissions}, "
        f"server {server.connection.stats.retransmissions}"
    )
    print(
        f"  datagrams: client sent {up.sent} ({up.dropped_total} lost, {up.sent_bytes} B), "
        f"server sent {down.sent} ({down.dropped_total} lost, {down.sent_bytes} B)"
    )
    print()
    if args.dtls13:
        _compare_with_dtls12(args, pki, done.duration, timeline.counts, net)
        print()
    print("echo (DTLS does not retransmit application data: the application retries):")
    return _echo(net, client, args.messages)


def _echo(net: Network, client: SimulatedPeer, count: int) -> int:
    for i in range(1, count + 1):
        message = f"hello #{i}".encode()
        started = net.now
        for attempt in range(1, 11):
            client.connection.send(message)
            net.run(until=net.now + 0.5, stop=functools.partial(client.received, message))
            if client.received(message):
                rtt = (net.now - started) * 1000
                print(f"  {message.decode()}: echoed after {attempt} attempt(s), {rtt:.0f} ms")
                break
        else:
            print(f"  {message.decode()}: no echo after 10 attempts")
            return 1
    client.connection.close()
    net.run(until=net.now + 1)
    return 0


@dataclass
class _Counts:
    """What one handshake resent and acknowledged, from its traces."""

    resent_datagrams: int = 0
    resent_bytes: int = 0
    acks_sent: int = 0
    flights_resent: int = 0

    def on_trace(self, record: TraceRecord) -> None:
        f = record.fields
        if record.kind == "flight_sent" and f.get("attempt", 0):
            self.resent_datagrams += int(f.get("datagrams", 0))
            self.resent_bytes += int(f.get("bytes", 0))
        elif record.kind == "retransmit":
            self.flights_resent += 1
        elif record.kind == "ack_sent":
            self.acks_sent += 1


def _records(numbers: list[list[int]]) -> str:
    """``[[2, 0], [2, 1], [2, 2], [0, 5]]`` -> ``e2#0-2 e0#5``: record numbers, runs joined."""
    runs: list[list[int]] = []
    for epoch, seq in sorted((int(e), int(n)) for e, n in numbers):
        if runs and runs[-1][0] == epoch and runs[-1][2] == seq - 1:
            runs[-1][2] = seq
        else:
            runs.append([epoch, seq, seq])
    return " ".join(f"e{e}#{a}" if a == b else f"e{e}#{a}-{b}" for e, a, b in runs)


def _describe13(record: TraceRecord) -> str | None:
    """The DTLS 1.3 timeline's words for a trace, or None to use the DTLS 1.2 ones."""
    f = record.fields
    who = record.role
    if record.kind == "ack_sent":
        return f"{who} sends an ACK of records {_records(f['records'])} (epoch {f['epoch']})"
    if record.kind == "ack_received":
        return f"{who} receives an ACK of records {_records(f['records'])}"
    if record.kind == "flight_acknowledged":
        return f"{who}: flight {f['flight']} fully acknowledged, its timer stops"
    if record.kind == "flight_sent" and f.get("attempt", 0):
        return (
            f"{who} resends {f['datagrams']} datagram(s), {f['bytes']} B, of flight {f['flight']}"
        )
    if record.kind == "retransmit":
        return f"{who} retransmission of flight {f['flight']} ({f['why']}), next RTO {f['rto']} s"
    if record.kind == "hello_verify_request_sent":  # the stateless door's HelloRetryRequest
        return f"{who} answers with a HelloRetryRequest carrying a cookie (keeps no state)"
    if record.kind == "hello_retry_request":
        asked = [
            *([f"key share {f['group']}"] if f.get("group") else []),
            *(["the cookie"] if f.get("cookie") else []),
        ]
        if who == "server":
            return f"{who} sends a HelloRetryRequest asking for {' and '.join(asked) or '?'}"
        return f"{who} sends its ClientHello again with {' and '.join(asked) or '?'}"
    return None


def _compare_with_dtls12(
    args: argparse.Namespace,
    pki: CertificateChain | None,
    duration13: float,
    counts13: _Counts,
    net13: Network,
) -> None:
    """The same path, seed and credentials with DTLS 1.2, in a table next to DTLS 1.3."""
    client_cfg, server_cfg, _ = _configs(args, pki)
    if args.srtp:
        client_cfg.srtp_profiles = server_cfg.srtp_profiles = list(SRTP_PROFILES)
    quiet = _Timeline()
    net, client, server = _network(args, client_cfg, server_cfg, quiet, observe=False)
    _handshake(net, client, server, client_cfg)
    completed = [e for e in client.events if isinstance(e, HandshakeCompleted)]
    duration12 = f"{completed[0].duration * 1000:.0f}" if completed else "failed"

    def sent(network: Network) -> tuple[int, int]:
        up, down = network.stats(CLIENT, SERVER), network.stats(SERVER, CLIENT)
        return up.sent + down.sent, up.sent_bytes + down.sent_bytes

    rows = [
        ("handshake time (ms, virtual)", f"{duration13 * 1000:.0f}", duration12),
        ("flight retransmissions", counts13.flights_resent, quiet.counts.flights_resent),
        ("datagrams resent", counts13.resent_datagrams, quiet.counts.resent_datagrams),
        ("bytes resent", counts13.resent_bytes, quiet.counts.resent_bytes),
        ("datagrams sent in all", sent(net13)[0], sent(net)[0]),
        ("bytes sent in all", sent(net13)[1], sent(net)[1]),
        ("ACK records sent", counts13.acks_sent, "(none in 1.2)"),
    ]
    print("DTLS 1.3 next to DTLS 1.2 (same path, seed and credentials; the handshake only):")
    print(f"  {'':30} {'DTLS 1.3':>10} {'DTLS 1.2':>14}")
    for label, ours, theirs in rows:
        print(f"  {label:30} {ours!s:>10} {theirs!s:>14}")
    print(
        "  DTLS 1.3 resends only the records the peer's ACKs do not cover; DTLS 1.2 resends "
        "whole flights"
    )
