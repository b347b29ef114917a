"""``aiodtls netsim``: many handshakes on the simulator under one impairment, with statistics.

Everything runs in virtual time (``aiodtls.netsim``), so a thousand lossy handshakes take
seconds. ``--timers openssl`` runs the same seeds with a model of OpenSSL's default
retransmission schedule; ``--timers both`` runs both and prints the ratio. ``--rebind-at T``
runs one session instead, whose client a NAT moves to a new port at T (``aiodtls.rebinding``):
with ``--cid LEN`` it survives, without it is lost. Both sides speak DTLS 1.2 unless told
otherwise (the figures of docs/reliability.md are DTLS 1.2 measurements), whatever the
library's default: ``--dtls13`` (or ``--versions 1.2,1.3``, the vocabulary of ``aiodtls
client``/``server``) sets the versions both sides allow, so the sweep measures DTLS 1.3
handshakes with their ACK-driven retransmission.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from dataclasses import dataclass
from typing import Any

from ..configuration import DtlsConfiguration
from ..connection import DtlsConnection
from ..impairment import Impairment
from ..netsim import Network
from ..rebinding import RebindingRun, simulate_rebinding
from ..reliability.timer import RetransmissionPolicy
from ..resumption import ServerSessionStore, Session
from ..suites import ProtocolVersion
from ..sweep import (
    CLIENT_ADDRESS,
    SERVER_ADDRESS,
    HandshakeRun,
    Scenario,
    SimulatedPeer,
    SweepSummary,
    summarize,
    sweep,
)
from . import checks
from .common import add_version_options, version_label
from .impairment import add_impairment_options, impairment

__all__ = ["add_parser"]

_PRIMER_LEAD = 10.0
"Virtual seconds between the DTLS 1.3 primer's ticket and the measured handshakes."

POLICIES = {"aiodtls": RetransmissionPolicy(), "openssl": RetransmissionPolicy.openssl()}


@dataclass
class VersionedScenario(Scenario):
    """A sweep scenario whose two sides allow ``versions`` (``--dtls13``, ``--versions``)."""

    versions: tuple[ProtocolVersion, ...] = (ProtocolVersion.DTLSv1_2,)

    def configurations(self) -> tuple[DtlsConfiguration, DtlsConfiguration]:
        """The scenario's configurations, both allowing :attr:`versions`."""
        client, server = super().configurations()
        client.versions = server.versions = self.versions
        return client, server

    def resumable_session(self) -> tuple[ServerSessionStore, Session]:
        """As :meth:`Scenario.resumable_session`, for DTLS 1.3 too. A DTLS 1.3 server sends
        its ticket after the handshake (RFC 8446 §4.6.1), so the lossless primer runs on
        until it arrives; and a DTLS 1.3 client offers a ticket only if its age is not
        negative, so the primer runs 10 virtual seconds before the seeds' handshakes (which
        start at 0), as a session made earlier would."""
        if self._resumption is None and ProtocolVersion.DTLSv1_3 in self.versions:
            primer = dataclasses.replace(self, resume=False, impairment=Impairment())
            client_cfg, server_cfg = primer.configurations()
            store = ServerSessionStore()
            server_cfg.session_store = store
            client = SimulatedPeer(DtlsConnection(configuration=client_cfg))
            server = SimulatedPeer(DtlsConnection(configuration=server_cfg))
            net = Network(seed=0, keep_log=False, start=-_PRIMER_LEAD)
            net.attach(client, CLIENT_ADDRESS, name="client")
            net.attach(server, SERVER_ADDRESS, name="server")
            client.connection.connect(SERVER_ADDRESS, net.now)
            net.run(until=net.now + 5.0, stop=lambda: client.connection.session is not None)
            session = client.connection.session
            if session is None:
                raise RuntimeError("the full handshake that makes the session gave no ticket")
            self._resumption = (store, session)
        return super().resumable_session()


def add_parser(commands: Any) -> None:
    """Register the sub-command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "netsim", help="run many simulated handshakes under an impairment and report statistics"
    )
    parser.add_argument(
        "--runs", type=checks.positive(int), default=1000, help="handshakes (default 1000)"
    )
    parser.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    add_impairment_options(parser, delay_ms=25.0)  # the same both ways
    parser.add_argument("--mtu", type=int, default=1400, help="endpoint MTU (default 1400)")
    parser.add_argument(
        "--chain-size", type=int, default=5000, help="Certificate message bytes (default 5000)"
    )
    parser.add_argument("--psk", action="store_true", help="PSK instead of certificates")
    parser.add_argument(
        "--psk-kx",
        choices=["dhe", "plain"],
        help="with --psk, the same key exchange in either version: dhe = ECDHE_PSK suites "
        "(DTLS 1.2) / psk_dhe_ke (DTLS 1.3); plain = PSK suites / psk_ke, no forward secrecy "
        "(default: each version's defaults; docs/reliability.md compares them)",
    )
    add_version_options(
        parser, what="each side", default="1.2, what docs/reliability.md's figures measure"
    )
    parser.add_argument(
        "--profile",
        choices=["rfc7925"],
        help="rfc7925: both sides use the RFC 7925 preset (with --psk: TLS_PSK_WITH_AES_128_CCM_8)",
    )
    parser.add_argument(
        "--srtp",
        action="store_true",
        help="DTLS-SRTP: both sides negotiate use_srtp (AEAD_AES_128_GCM, AES128_CM_SHA1_80)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="measure resumed handshakes: one lossless full handshake makes a session (and a "
        "ticket) that every seed's handshake resumes",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="handshake deadline (s)")
    parser.add_argument(
        "--timers",
        choices=["aiodtls", "openssl", "both"],
        default="aiodtls",
        help="retransmission policy: ours, a model of OpenSSL's, or both on the same seeds",
    )
    parser.add_argument(
        "--max-unanswered",
        type=int,
        metavar="N",
        help="aiodtls timers: transmissions of the server's first flight before the client "
        "answers (RetransmissionPolicy.max_unanswered_transmissions, default "
        f"{RetransmissionPolicy().max_unanswered_transmissions})",
    )
    parser.add_argument(
        "--rebind-at",
        type=checks.positive(),
        metavar="T",
        help="instead of the sweep: one PSK session pinging an echo server every 0.5 s, whose "
        "client a NAT moves to a new port at virtual time T; prints what flowed before and after",
    )
    parser.add_argument(
        "--cid",
        type=checks.cid_length,
        metavar="LEN",
        help="with --rebind-at: both sides negotiate connection IDs of LEN bytes (RFC 9146)",
    )
    parser.add_argument(
        "--duration",
        type=checks.positive(),
        metavar="S",
        help="with --rebind-at: virtual seconds the session runs (default 2 x T)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--plot", metavar="FILE.png", help="draw time-to-handshake CDFs")
    parser.set_defaults(run=run)


def _progress(label: str, total: int) -> Any:
    if not sys.stderr.isatty():
        return None

    def show(done: int) -> None:
        width = 40
        filled = width * done // total
        bar = "#" * filled + "." * (width - filled)
        end = "\n" if done == total else ""
        print(f"\r{label:8} [{bar}] {done}/{total}", end=end, file=sys.stderr, flush=True)

    return show


def run(args: argparse.Namespace) -> int:
    """Run the sweep(s), or the rebinding session, and report."""
    if args.rebind_at is None:
        if args.cid is not None or args.duration is not None:
            raise checks.CliError("--cid and --duration go with --rebind-at T (the rebinding run)")
    else:
        return _run_rebinding(args)
    if args.psk_kx and (not args.psk or args.profile):
        raise checks.CliError("--psk-kx goes with --psk, without --profile (which fixes the suite)")
    if args.profile and not args.psk:
        raise checks.CliError(
            f"--profile {args.profile} needs --psk (the simulated certificate chain is RSA)"
        )
    versions = tuple(args.versions or (ProtocolVersion.DTLSv1_2,))
    if ProtocolVersion.DTLSv1_3 in versions and (args.timers != "aiodtls" or args.profile):
        raise checks.CliError(
            "--timers openssl/both and --profile model DTLS 1.2 peers: drop them with --dtls13"
        )
    base: Scenario = VersionedScenario(
        versions=versions,
        impairment=impairment(args),
        mtu=args.mtu,
        psk=args.psk,
        psk_dhe=None if args.psk_kx is None else args.psk_kx == "dhe",
        chain_size=args.chain_size,
        timeout=args.timeout,
        srtp=args.srtp,
        profile=args.profile,
        resume=args.resume,
    )
    names = ["aiodtls", "openssl"] if args.timers == "both" else [args.timers]
    seeds = range(args.seed, args.seed + args.runs)
    results: dict[str, list[HandshakeRun]] = {}
    for name in names:
        policy = POLICIES[name]
        if name == "aiodtls" and args.max_unanswered is not None:
            policy = dataclasses.replace(policy, max_unanswered_transmissions=args.max_unanswered)
        scenario = base.with_policy(policy)
        results[name] = sweep(scenario, seeds, _progress(name, args.runs))
        base = scenario  # the credentials generated for the first run are reused
    summaries = {name: summarize(runs) for name, runs in results.items()}
    parameters = {
        "loss": args.loss,
        "burst": [args.burst.p_good_to_bad, args.burst.p_bad_to_good] if args.burst else None,
        "delay_ms": args.delay_ms,
        "jitter_ms": args.jitter_ms,
        "reorder": args.reorder,
        "duplicate": args.duplicate,
        "path_mtu": args.path_mtu,
        "mtu": args.mtu,
        "credentials": "psk" if args.psk else f"rsa chain, {args.chain_size} B",
        "psk_kx": args.psk_kx,
        "seeds": [args.seed, args.seed + args.runs - 1],
        "timeout": args.timeout,
        "srtp": args.srtp,
        "profile": args.profile,
        "resume": args.resume,
        "versions": version_label(versions),
    }
    if args.json:
        primary = summaries[names[0]]
        out: dict[str, object] = {**primary.as_dict(), "timers": names[0]}
        if args.resume:
            out["resumed"] = sum(r.resumed for r in results[names[0]])
        out["parameters"] = parameters
        if len(names) == 2:
            other = summaries[names[1]]
            out[names[1]] = other.as_dict()
            out["p99_ratio"] = primary.p99 / other.p99 if other.p99 else None
        print(json.dumps(out, indent=2))
    else:
        _print_table(args, summaries)
        if args.resume:
            for name, runs in results.items():
                print(f"{name}: {sum(r.resumed for r in runs)}/{len(runs)} resumed the session")
    if args.plot:
        return _plot(args.plot, results, parameters)
    return 0


def _run_rebinding(args: argparse.Namespace) -> int:
    duration = args.duration if args.duration is not None else 2 * args.rebind_at
    if duration <= args.rebind_at:
        raise checks.CliError(f"--duration {duration:g} must be longer than --rebind-at")
    result = simulate_rebinding(
        cid_length=args.cid,
        rebind_at=args.rebind_at,
        duration=duration,
        delay=args.delay_ms / 1000,
        loss=args.loss,
        seed=args.seed,
        versions=tuple(args.versions or (ProtocolVersion.DTLSv1_2,)),
    )
    if args.json:
        print(json.dumps(_rebinding_dict(result), indent=2))
        return 0
    cids = "no connection IDs" if args.cid is None else f"connection IDs of {args.cid} bytes"
    agreed = "negotiated" if result.negotiated else "not negotiated"
    print(
        f"NAT rebinding at t={args.rebind_at:g} s of {duration:g} s, {cids} ({agreed}), "
        f"{args.loss:.0%} loss, RTT {2 * args.delay_ms:g} ms, seed {args.seed}"
    )
    print(f"{'':14} {'pings':>6} {'echoes':>7}")
    print(f"{'before':14} {result.pings_before:>6} {result.echoes_before:>7}")
    withheld = (
        f", {result.withheld} echoes withheld: larger than what the new address had sent"
        if result.withheld
        else ""
    )
    print(
        f"{'after':14} {result.pings_after:>6} {result.echoes_after:>7}  "
        f"({result.sent_after} pings sent{withheld})"
    )
    stats = result.server_stats
    dropped = ", ".join(f"{n} {reason}" for reason, n in stats.dropped.items()) or "none"
    print(
        f"server: {stats.peer_address_changes} peer address changes, "
        f"{stats.unknown_connection_ids} unknown CIDs, dropped from unknown addresses: {dropped}"
    )
    print("the session survived the rebinding" if result.survived else "the session was lost")
    return 0


def _rebinding_dict(result: RebindingRun) -> dict[str, object]:
    stats = result.server_stats
    return {
        "cid_length": result.cid_length,
        "rebind_at": result.rebind_at,
        "negotiated": result.negotiated,
        "pings_before": result.pings_before,
        "echoes_before": result.echoes_before,
        "pings_after": result.pings_after,
        "echoes_after": result.echoes_after,
        "sent_after": result.sent_after,
        "withheld": result.withheld,
        "peer_address_changes": stats.peer_address_changes,
        "unknown_connection_ids": stats.unknown_connection_ids,
        "dropped": dict(stats.dropped),
        "survived": result.survived,
    }


def _print_table(args: argparse.Namespace, summaries: dict[str, SweepSummary]) -> None:
    path = f"{args.loss:.0%} loss"
    if args.burst:
        b = args.burst
        path += f", burst loss {b.p_good_to_bad:g} -> bad, {b.p_bad_to_good:g} -> good"
    extras = [
        f"{label} {value:.0%}"
        for label, value in (("reorder", args.reorder), ("duplicate", args.duplicate))
        if value
    ]
    if args.jitter_ms:
        extras.append(f"jitter {args.jitter_ms:g} ms")
    if args.path_mtu:
        extras.append(f"path MTU {args.path_mtu}")
    credentials = "PSK" if args.psk else f"{args.chain_size} B certificate chain"
    if args.psk_kx:
        credentials += " with (EC)DHE" if args.psk_kx == "dhe" else " without (EC)DHE"
    if args.versions:
        credentials = f"{version_label(tuple(args.versions))}, {credentials}"
    if args.srtp:
        credentials += ", DTLS-SRTP"
    if args.profile:
        credentials += f", profile {args.profile}"
    if args.resume:
        credentials += ", resumed session"
    print(
        f"{args.runs} handshakes: {', '.join([path, *extras])}, RTT {2 * args.delay_ms:g} ms, "
        f"MTU {args.mtu}, {credentials}, seeds {args.seed}..{args.seed + args.runs - 1}"
    )
    print("time to handshake in virtual seconds; a failed run counts as the deadline")
    print(
        f"{'timers':8} {'completed':>11} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8} "
        f"{'retrans/hs':>11} {'bytes/hs':>9}"
    )
    for name, s in summaries.items():
        print(
            f"{name:8} {s.completed:>5}/{s.runs:<5} {s.p50:8.3f} {s.p90:8.3f} {s.p99:8.3f} "
            f"{s.max:8.3f} {s.retransmissions:11.2f} {s.bytes:9.0f}"
        )
    if len(summaries) == 2:
        ours, theirs = summaries["aiodtls"], summaries["openssl"]
        print(f"p99 ratio aiodtls/openssl: {ours.p99 / theirs.p99:.3f}")
    for name, s in summaries.items():
        for failure in s.failures[:5]:
            print(f"  {name} failed: {failure}")


def _plot(path: str, results: dict[str, list[HandshakeRun]], parameters: dict[str, Any]) -> int:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("--plot needs matplotlib: pip install 'aiodtls[plot]'", file=sys.stderr)
        return 2
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, runs in results.items():
        times = sorted(r.time for r in runs if r.completed)
        n = len(runs)
        ax.step(times, [(i + 1) / n for i in range(len(times))], where="post", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("time to handshake (virtual seconds, log scale)")
    ax.set_ylabel("fraction of handshakes completed")
    ax.set_title(
        f"{parameters['loss']:.0%} loss, RTT {2 * parameters['delay_ms']:g} ms, "
        f"MTU {parameters['mtu']}, {parameters['credentials']}"
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot written to {path}", file=sys.stderr)
    return 0
