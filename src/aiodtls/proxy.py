"""A DTLS-aware UDP impairment proxy that diagnoses the handshakes passing through it.

Owns the relaying: one listening socket for clients, one upstream socket per client address
(so the server sees a distinct peer per client), and, per client and direction, the same
impairment engine as the simulator (:class:`aiodtls.impairment.DirectionImpairment`) applied
in real time, plus a :class:`aiodtls.diagnose.HandshakeDiagnosis` fed with every datagram and
its fate. It works between any two DTLS implementations: it needs no keys.

Limits (it faces whatever reaches its port): the upstream name is resolved once, at
:meth:`DtlsProxy.start`; at most ``max_clients`` client addresses are tracked at once, and
datagrams from further new addresses are dropped and counted (:class:`ProxyCounters`) until
an idle client is forgotten; at most ``max_backlog`` datagrams per client wait for its
upstream socket to open. Errors sending to the server are counted and reported in one line,
never raised.

Connection IDs (RFC 9146): records are relayed unchanged. A client whose address changes (a
NAT rebinding) gets a new flow and upstream socket like any new address, so the server sees
the new address too, exactly as behind a NAT. When the first datagram from that address
carries a ``tls12_cid`` record with a CID a tracked client used, newer than any record that
client sent, the new flow carries on the old one's diagnosis (findings, timers, the handshake
state), so a loss at the old address is not reported as a hang, and ``address_changed`` is
reported; an older record is reported as ``cid_replayed`` and does not move anything. The
proxy remembers one CID per tracked client, so this costs no more than ``max_clients`` CIDs.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .diagnose import Finding, HandshakeDiagnosis, Observation
from .dissect import DtlsRecord, dissect
from .impairment import Address, DirectionImpairment, LinkConditions
from .keylog13 import KeyLog

__all__ = [
    "DEFAULT_MAX_BACKLOG",
    "DEFAULT_MAX_CLIENTS",
    "DtlsProxy",
    "Flow",
    "ProxyCounters",
    "ProxyStartError",
]

logger = logging.getLogger("aiodtls.proxy")

ObservationCallback = Callable[["Flow", Observation], None]
FindingCallback = Callable[["Flow", Finding], None]
NoticeCallback = Callable[[str], None]

DEFAULT_MAX_CLIENTS = 1024
"Client addresses tracked at once unless told otherwise (``--max-clients``)."

DEFAULT_MAX_BACKLOG = 64
"Datagrams per client that may wait for its upstream socket to open."


class ProxyStartError(OSError):
    """The proxy cannot start; ``str()`` is one line fit to print (resolve or bind failed)."""


@dataclass
class ProxyCounters:
    """Datagrams the proxy dropped for its own reasons, not as an impairment."""

    refused_datagrams: int = 0
    "From a new client address while ``max_clients`` clients were tracked."
    backlog_dropped: int = 0
    "From a client whose upstream socket was not open yet and had ``max_backlog`` waiting."
    upstream_errors: int = 0
    "Toward the server, lost on an upstream socket that failed to open or reported an error."


@dataclass
class Flow:
    """Everything the proxy keeps for one client address."""

    client: Address
    c2s: DirectionImpairment
    s2c: DirectionImpairment
    diagnosis: HandshakeDiagnosis
    upstream: asyncio.DatagramTransport | None = None
    backlog: list[bytes] = field(default_factory=list)
    "Datagrams from the client waiting for the upstream socket to open (at most max_backlog)."
    last_seen: float = 0.0
    timer: asyncio.TimerHandle | None = None
    observing: bool = False
    held_findings: list[Finding] = field(default_factory=list)
    connection_id: bytes | None = None
    "The CID this client puts in its ``tls12_cid`` records (RFC 9146), once seen."
    moved_to: Flow | None = None
    """The flow of the client's next address once a newer ``tls12_cid`` record with its CID
    came from there (a NAT rebinding): that flow reports this diagnosis and drives its timer."""

    @property
    def name(self) -> str:
        """``host:port`` of the client."""
        return f"{self.client[0]}:{self.client[1]}"


class _ClientSide(asyncio.DatagramProtocol):
    def __init__(self, proxy: DtlsProxy) -> None:
        self._proxy = proxy

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self._proxy._from_client(data, addr)

    def error_received(self, exc: Exception) -> None:
        logger.debug("client side: %s", exc)


class _UpstreamSide(asyncio.DatagramProtocol):
    def __init__(self, proxy: DtlsProxy, flow: Flow) -> None:
        self._proxy = proxy
        self._flow = flow

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self._proxy._from_server(self._flow, data)

    def error_received(self, exc: Exception) -> None:
        # Usually ICMP port unreachable for an earlier datagram: the server is not up.
        self._proxy._upstream_error(self._flow, exc)


def _reason(exc: Exception) -> str:
    """``Name or service not known`` rather than ``[Errno -2] Name or service not known``."""
    strerror = exc.strerror if isinstance(exc, OSError) else None
    return strerror or str(exc) or type(exc).__name__


class DtlsProxy:
    """Relays UDP between clients and one upstream server, impairing and diagnosing.

    ``max_clients`` caps the client addresses tracked at once (each costs an upstream socket,
    a diagnosis and timers): a datagram from a new address while the table is full is dropped
    and counted in :attr:`counters`, and ``on_notice`` hears about it once per episode.
    Clients silent for ``idle_timeout`` seconds are forgotten (checked every
    ``idle_timeout`` seconds), which frees their place.
    """

    def __init__(
        self,
        upstream: Address,
        *,
        c2s: LinkConditions | None = None,
        s2c: LinkConditions | None = None,
        seed: int = 0,
        patience: float = 5.0,
        idle_timeout: float = 120.0,
        max_clients: int = DEFAULT_MAX_CLIENTS,
        max_backlog: int = DEFAULT_MAX_BACKLOG,
        on_observation: ObservationCallback | None = None,
        on_finding: FindingCallback | None = None,
        on_notice: NoticeCallback | None = None,
        key_log: KeyLog | None = None,
    ) -> None:
        if max_clients < 1:
            raise ValueError(f"max_clients must be at least 1, not {max_clients}")
        if max_backlog < 0:
            raise ValueError(f"max_backlog must not be negative, not {max_backlog}")
        self.upstream = upstream
        "The server as given (host name or address, port)."
        self.upstream_address: tuple[Any, ...] | None = None
        "The server's resolved socket address, set by :meth:`start`."
        self.c2s = c2s or LinkConditions()
        self.s2c = s2c or LinkConditions()
        self.seed = seed
        self.patience = patience
        self.idle_timeout = idle_timeout
        self.max_clients = max_clients
        "Client addresses tracked at once; datagrams from further new ones are dropped."
        self.max_backlog = max_backlog
        "Datagrams per client that may wait for its upstream socket to open."
        self.flows: dict[Address, Flow] = {}
        "Clients seen, by address (at most ``max_clients``)."
        self.counters = ProxyCounters()
        "What the proxy itself dropped, and why."
        self._cid_flows: dict[bytes, Flow] = {}
        "Tracked clients by the CID they send: at most one entry per flow."
        self.key_log = key_log
        "Secrets that open DTLS 1.3 records for the diagnoses (``--keylog``), if given."
        self._on_observation = on_observation
        self._on_finding = on_finding
        self._on_notice = on_notice
        self._noticed: set[str] = set()
        self._upstream_family = socket.AF_UNSPEC
        self._transport: asyncio.DatagramTransport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._openings: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> Address:
        """Resolve the upstream server, then bind the client-facing socket; returns the bound
        address.

        Raises :class:`ProxyStartError` if the upstream cannot be resolved or the address
        cannot be bound: resolving once here, rather than per client, means a bad name is
        one error at start and not one per client for as long as the proxy runs.
        """
        self._loop = asyncio.get_running_loop()
        upstream_host, upstream_port = self.upstream
        upstream_name = f"{upstream_host}:{upstream_port}"
        try:
            infos = await self._loop.getaddrinfo(
                upstream_host, upstream_port, type=socket.SOCK_DGRAM
            )
        except OSError as exc:
            raise ProxyStartError(
                f"cannot resolve upstream {upstream_name}: {_reason(exc)}"
            ) from exc
        if not infos:
            raise ProxyStartError(f"cannot resolve upstream {upstream_name}: no address")
        family, _, _, _, sockaddr = infos[0]
        self._upstream_family = family
        self.upstream_address = sockaddr
        try:
            transport, _ = await self._loop.create_datagram_endpoint(
                lambda: _ClientSide(self), local_addr=(host, port)
            )
        except OSError as exc:
            raise ProxyStartError(f"cannot listen on {host}:{port}: {_reason(exc)}") from exc
        self._transport = transport
        self._sweeper = self._loop.call_later(self.idle_timeout, self._sweep)
        address: Address = transport.get_extra_info("sockname")[:2]
        return address

    def close(self) -> None:
        """Stop relaying and close every socket."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        for flow in self.flows.values():
            self._close_flow(flow)
        self.flows.clear()
        self._cid_flows.clear()
        for task in self._openings:
            task.cancel()
        if self._transport is not None:
            self._transport.close()

    def _notice(self, kind: str, message: str) -> None:
        """Report ``message`` once per ``kind`` (until the kind is re-armed)."""
        if kind in self._noticed:
            return
        self._noticed.add(kind)
        if self._on_notice is not None:
            self._on_notice(message)
        else:
            logger.warning("%s", message)

    # -- relaying --------------------------------------------------------------------------

    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def _from_client(self, data: bytes, addr: Address) -> None:
        flow = self.flows.get(addr)
        if flow is None:
            if len(self.flows) >= self.max_clients:
                self.counters.refused_datagrams += 1
                self._notice(
                    "full",
                    f"client table full ({self.max_clients} clients): dropping datagrams "
                    f"from new clients, starting with {addr[0]}:{addr[1]}, until a tracked "
                    f"client has been silent for {self.idle_timeout:g} s",
                )
                return
            moved = self._cid_owner(data)
            flow = self._new_flow(addr)
            if moved is not None:
                self._follow(flow, *moved)
        flow.last_seen = self._now()
        self._relay(flow, "c2s", data)
        self._learn_cid(flow)

    def _from_server(self, flow: Flow, data: bytes) -> None:
        flow.last_seen = self._now()
        self._relay(flow, "s2c", data)
        self._learn_cid(flow)

    def _current(self, flow: Flow) -> Flow:
        """The flow that reports ``flow``'s diagnosis: its client's latest tracked address."""
        while flow.moved_to is not None and self.flows.get(flow.moved_to.client) is flow.moved_to:
            flow = flow.moved_to
        return flow

    def _cid_owner(self, data: bytes) -> tuple[Flow, bytes, tuple[int, int]] | None:
        """The tracked client whose CID the first such ``tls12_cid`` record in ``data`` carries,
        with that CID and the record's (epoch, sequence_number)."""
        for cid_length in {len(cid) for cid in self._cid_flows}:
            for item in dissect(data, cid_length=cid_length):
                if isinstance(item, DtlsRecord) and item.connection_id:
                    owner = self._cid_flows.get(item.connection_id)
                    if owner is not None:
                        return owner, item.connection_id, (item.epoch, item.sequence_number)
        return None

    def _follow(self, flow: Flow, old: Flow, cid: bytes, record: tuple[int, int]) -> None:
        """A new client address sent a ``tls12_cid`` record with ``old``'s CID: report it and,
        if the record is newer than any ``old`` sent, let ``flow`` carry on its diagnosis."""
        old.observing = True  # findings wait for this datagram's line (see _report)
        try:
            moved = old.diagnosis.note_address_change(
                self._now(), old=old.name, new=flow.name, connection_id=cid, record=record
            )
        finally:
            old.observing = False
        flow.held_findings.extend(old.held_findings)  # said after the new address's line
        old.held_findings.clear()
        if not moved:
            return
        flow.diagnosis = old.diagnosis
        old.moved_to = flow
        if old.timer is not None:
            old.timer.cancel()
            old.timer = None
        flow.connection_id = cid
        self._cid_flows[cid] = flow

    def _learn_cid(self, flow: Flow) -> None:
        """Index the client by the CID its records carry, once its datagrams show it."""
        owner = self._current(flow)
        cid = owner.diagnosis.connection_ids.connection_ids["c2s"]
        if not cid or self._cid_flows.get(cid) is owner:
            return
        if cid in self._cid_flows:
            # Another client's, e.g. an old record replayed from here: it must not take over
            # that client's place (only _follow moves a CID, for a newer record).
            return
        if owner.connection_id is not None and self._cid_flows.get(owner.connection_id) is owner:
            del self._cid_flows[owner.connection_id]
        owner.connection_id = cid
        self._cid_flows[cid] = owner

    def _new_flow(self, addr: Address) -> Flow:
        def finding(f: Finding) -> None:
            owner = self._current(flow)
            if owner.observing:
                owner.held_findings.append(f)  # reported after the datagram that caused it
            elif self._on_finding is not None:
                self._on_finding(owner, f)

        seed = f"{self.seed}|{addr[0]}:{addr[1]}"
        flow = Flow(
            client=addr,
            c2s=DirectionImpairment(self.c2s, random.Random(seed + "|c2s")),
            s2c=DirectionImpairment(self.s2c, random.Random(seed + "|s2c")),
            diagnosis=HandshakeDiagnosis(
                patience=self.patience, on_finding=finding, key_log=self.key_log
            ),
        )
        self.flows[addr] = flow
        assert self._loop is not None
        task = self._loop.create_task(self._open_upstream(flow))
        self._openings.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(self._openings.discard)
        return flow

    async def _open_upstream(self, flow: Flow) -> None:
        assert self._loop is not None
        assert self.upstream_address is not None, "start() resolves the upstream"
        try:
            transport, _ = await self._loop.create_datagram_endpoint(
                lambda: _UpstreamSide(self, flow),
                remote_addr=self.upstream_address,
                family=self._upstream_family,
            )
        except OSError as exc:
            # E.g. out of file descriptors or no route: forget the client (its next datagram
            # tries again) and say so once; the datagrams it sent meanwhile are lost.
            self._upstream_error(flow, exc, lost=len(flow.backlog))
            if self.flows.get(flow.client) is flow:
                self._close_flow(flow)
                del self.flows[flow.client]
            return
        if self.flows.get(flow.client) is not flow:
            transport.close()
            return
        flow.upstream = transport
        for data in flow.backlog:
            transport.sendto(data)
        flow.backlog.clear()

    def _upstream_error(self, flow: Flow, exc: Exception, lost: int = 1) -> None:
        """Count ``lost`` datagrams toward the server and say why, once per reason."""
        self.counters.upstream_errors += lost
        reason = _reason(exc)
        self._notice(
            f"upstream {reason}",
            f"cannot send to upstream {self.upstream[0]}:{self.upstream[1]} "
            f"for {flow.name}: {reason}",
        )

    def _relay(self, flow: Flow, direction: str, data: bytes) -> None:
        now = self._now()
        impairment = flow.c2s if direction == "c2s" else flow.s2c
        src, dst = (
            (flow.client, self.upstream) if direction == "c2s" else (self.upstream, flow.client)
        )
        fate = impairment.decide(data, src, dst, now)
        if not data:
            # asyncio's DatagramTransport.sendto() silently discards an empty payload, so an
            # empty datagram cannot be relayed: say so rather than claim it was forwarded.
            self._report(
                flow, now, direction, data, "dropped", "empty datagram (cannot be relayed)"
            )
            return
        if fate.dropped:
            action = "dropped"
        elif fate.duplicated:
            action = "duplicated"
        elif any(c.notes for c in fate.copies):
            action = "delayed"
        else:
            action = "forwarded"
        reason = fate.dropped or ", ".join(c.notes for c in fate.copies if c.notes)
        self._report(flow, now, direction, data, action, reason)
        assert self._loop is not None
        for copy in fate.copies:
            if copy.delay <= 0:
                self._deliver(flow, direction, copy.data)
            else:
                self._loop.call_later(copy.delay, self._deliver, flow, direction, copy.data)
        self._arm_diagnosis(flow)

    def _report(
        self, flow: Flow, now: float, direction: str, data: bytes, action: str, reason: str
    ) -> None:
        """Feed the diagnosis; report the datagram, then any finding it led to."""
        owner = self._current(flow)
        owner.observing = True
        try:
            observation = flow.diagnosis.observe(now, direction, data, action, reason)
        finally:
            owner.observing = False
        if self._on_observation is not None:
            self._on_observation(flow, observation)
        held, owner.held_findings = owner.held_findings, []
        if self._on_finding is not None:
            for finding in held:
                self._on_finding(owner, finding)

    def _deliver(self, flow: Flow, direction: str, data: bytes) -> None:
        if self.flows.get(flow.client) is not flow:
            return  # a delayed copy of a client forgotten meanwhile: its sockets are closed
        if direction == "s2c":
            if self._transport is not None and not self._transport.is_closing():
                self._transport.sendto(data, flow.client)
            return
        if flow.upstream is not None:
            # Send errors (ICMP port unreachable ...) come back through error_received.
            try:
                flow.upstream.sendto(data)
            except OSError as exc:
                self._upstream_error(flow, exc)
        elif len(flow.backlog) < self.max_backlog:
            flow.backlog.append(data)
        else:
            self.counters.backlog_dropped += 1
            self._notice(
                "backlog",
                f"{flow.name}: upstream socket not open yet and {self.max_backlog} datagrams "
                "already waiting: dropping more",
            )

    # -- diagnosis timers --------------------------------------------------------------------

    def _arm_diagnosis(self, flow: Flow) -> None:
        flow = self._current(flow)
        if flow.timer is not None:
            flow.timer.cancel()
            flow.timer = None
        when = flow.diagnosis.get_timer()
        if when is not None:
            assert self._loop is not None
            flow.timer = self._loop.call_at(when, self._diagnosis_due, flow)

    def _diagnosis_due(self, flow: Flow) -> None:
        flow.timer = None
        flow.diagnosis.handle_timer(self._now())
        self._arm_diagnosis(flow)

    def _sweep(self) -> None:
        """Forget clients silent for ``idle_timeout`` seconds."""
        now = self._now()
        for addr, flow in list(self.flows.items()):
            if now - flow.last_seen >= self.idle_timeout:
                self._close_flow(flow)
                del self.flows[addr]
        if len(self.flows) < self.max_clients:
            self._noticed.discard("full")  # report the next time it fills up
        assert self._loop is not None
        self._sweeper = self._loop.call_later(self.idle_timeout, self._sweep)

    def _close_flow(self, flow: Flow) -> None:
        if flow.connection_id is not None and self._cid_flows.get(flow.connection_id) is flow:
            del self._cid_flows[flow.connection_id]
        if flow.timer is not None:
            flow.timer.cancel()
        if flow.upstream is not None:
            flow.upstream.close()
        flow.backlog.clear()


def flow_dict(flow: Flow, payload: dict[str, Any]) -> dict[str, Any]:
    """A JSON event tagged with its client."""
    return {"flow": flow.name, **payload}
