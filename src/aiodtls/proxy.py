"""A DTLS-aware UDP impairment proxy that diagnoses the handshakes passing through it.

Owns the relaying: one listening socket for clients, one upstream socket per client address
(so the server sees a distinct peer per client), and, per client and direction, the same
impairment engine as the simulator (:class:`aiodtls.impairment.DirectionImpairment`) applied
in real time, plus a :class:`aiodtls.diagnose.HandshakeDiagnosis` fed with every datagram and
its fate. It works between any two DTLS implementations: it needs no keys.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .diagnose import Finding, HandshakeDiagnosis, Observation
from .impairment import Address, DirectionImpairment, LinkConditions

__all__ = ["DtlsProxy", "Flow"]

logger = logging.getLogger("aiodtls.proxy")

ObservationCallback = Callable[["Flow", Observation], None]
FindingCallback = Callable[["Flow", Finding], None]


@dataclass
class Flow:
    """Everything the proxy keeps for one client address."""

    client: Address
    c2s: DirectionImpairment
    s2c: DirectionImpairment
    diagnosis: HandshakeDiagnosis
    upstream: asyncio.DatagramTransport | None = None
    backlog: list[bytes] = field(default_factory=list)
    "Datagrams from the client waiting for the upstream socket to open."
    last_seen: float = 0.0
    timer: asyncio.TimerHandle | None = None
    observing: bool = False
    held_findings: list[Finding] = field(default_factory=list)

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
        logger.debug("upstream side of %s: %s", self._flow.name, exc)


class DtlsProxy:
    """Relays UDP between clients and one upstream server, impairing and diagnosing."""

    def __init__(
        self,
        upstream: Address,
        *,
        c2s: LinkConditions | None = None,
        s2c: LinkConditions | None = None,
        seed: int = 0,
        patience: float = 5.0,
        idle_timeout: float = 120.0,
        on_observation: ObservationCallback | None = None,
        on_finding: FindingCallback | None = None,
    ) -> None:
        self.upstream = upstream
        self.c2s = c2s or LinkConditions()
        self.s2c = s2c or LinkConditions()
        self.seed = seed
        self.patience = patience
        self.idle_timeout = idle_timeout
        self.flows: dict[Address, Flow] = {}
        "Clients seen, by address."
        self._on_observation = on_observation
        self._on_finding = on_finding
        self._transport: asyncio.DatagramTransport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweeper: asyncio.TimerHandle | None = None

    async def start(self, host: str, port: int) -> Address:
        """Bind the client-facing socket; returns the bound address."""
        self._loop = asyncio.get_running_loop()
        transport, _ = await self._loop.create_datagram_endpoint(
            lambda: _ClientSide(self), local_addr=(host, port)
        )
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
        if self._transport is not None:
            self._transport.close()

    # -- relaying --------------------------------------------------------------------------

    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def _from_client(self, data: bytes, addr: Address) -> None:
        flow = self.flows.get(addr)
        if flow is None:
            flow = self._new_flow(addr)
        flow.last_seen = self._now()
        self._relay(flow, "c2s", data)

    def _from_server(self, flow: Flow, data: bytes) -> None:
        flow.last_seen = self._now()
        self._relay(flow, "s2c", data)

    def _new_flow(self, addr: Address) -> Flow:
        def finding(f: Finding) -> None:
            if flow.observing:
                flow.held_findings.append(f)  # reported after the datagram that caused it
            elif self._on_finding is not None:
                self._on_finding(flow, f)

        seed = f"{self.seed}|{addr[0]}:{addr[1]}"
        flow = Flow(
            client=addr,
            c2s=DirectionImpairment(self.c2s, random.Random(seed + "|c2s")),
            s2c=DirectionImpairment(self.s2c, random.Random(seed + "|s2c")),
            diagnosis=HandshakeDiagnosis(patience=self.patience, on_finding=finding),
        )
        self.flows[addr] = flow
        assert self._loop is not None
        self._loop.create_task(self._open_upstream(flow))
        return flow

    async def _open_upstream(self, flow: Flow) -> None:
        assert self._loop is not None
        transport, _ = await self._loop.create_datagram_endpoint(
            lambda: _UpstreamSide(self, flow), remote_addr=self.upstream
        )
        if self.flows.get(flow.client) is not flow:
            transport.close()
            return
        flow.upstream = transport
        for data in flow.backlog:
            transport.sendto(data)
        flow.backlog.clear()

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
        flow.observing = True
        try:
            observation = flow.diagnosis.observe(now, direction, data, action, reason)
        finally:
            flow.observing = False
        if self._on_observation is not None:
            self._on_observation(flow, observation)
        held, flow.held_findings = flow.held_findings, []
        if self._on_finding is not None:
            for finding in held:
                self._on_finding(flow, finding)

    def _deliver(self, flow: Flow, direction: str, data: bytes) -> None:
        if direction == "s2c":
            if self._transport is not None:
                self._transport.sendto(data, flow.client)
        elif flow.upstream is not None:
            flow.upstream.sendto(data)
        else:
            flow.backlog.append(data)

    # -- diagnosis timers --------------------------------------------------------------------

    def _arm_diagnosis(self, flow: Flow) -> None:
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
        assert self._loop is not None
        self._sweeper = self._loop.call_later(self.idle_timeout, self._sweep)

    def _close_flow(self, flow: Flow) -> None:
        if flow.timer is not None:
            flow.timer.cancel()
        if flow.upstream is not None:
            flow.upstream.close()


def flow_dict(flow: Flow, payload: dict[str, Any]) -> dict[str, Any]:
    """A JSON event tagged with its client."""
    return {"flow": flow.name, **payload}
