"""A NAT rebinding on the simulator: does a session survive its client changing address?

Owns the experiment behind ``aiodtls netsim --rebind-at`` and the rebinding tests: a PSK
client pings a :class:`~aiodtls.endpoint.DtlsEndpoint` that echoes every record, on
:mod:`aiodtls.netsim` in virtual time, and at ``rebind_at`` the network moves the client to a
new address (``Network.rebind``), as a NAT does when its binding times out. With connection
IDs (RFC 9146) the server routes the client's records by CID and follows it to the new
address; without them the server cannot tell the client's records from a stranger's and the
session is lost. It adds no protocol behaviour; the connections are the real ones.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from .configuration import DtlsConfiguration
from .connection import ConnectionState, DtlsConnection
from .endpoint import DtlsEndpoint, EndpointStats
from .events import DataReceived, HandshakeCompleted
from .netsim import LinkConditions, Network
from .suites import ProtocolVersion

__all__ = [
    "CLIENT_ADDRESS",
    "REBOUND_CLIENT_ADDRESS",
    "SERVER_ADDRESS",
    "EchoEndpoint",
    "PingingClient",
    "RebindingRun",
    "simulate_rebinding",
]

CLIENT_ADDRESS = ("192.0.2.1", 50000)
"The simulated client's address before the rebinding (TEST-NET-1)."
REBOUND_CLIENT_ADDRESS = ("192.0.2.1", 61000)
"Where the NAT moves the simulated client (same host, a new port)."
SERVER_ADDRESS = ("192.0.2.2", 5684)
"The simulated server's address (the CoAP-over-DTLS port)."
PSK = b"rebinding-psk-16"


class PingingClient:
    """A client connection that sends ``ping N`` every ``interval`` seconds once established."""

    def __init__(self, connection: DtlsConnection, interval: float) -> None:
        self.connection = connection
        self.interval = interval
        self.next_ping: float | None = None
        self.sent: list[tuple[float, bytes]] = []
        self.echoes: list[tuple[float, bytes]] = []
        self.completed: HandshakeCompleted | None = None

    def receive_datagram(self, data: bytes, addr: tuple[str, int], now: float) -> None:
        """Feed the connection; note echoes and the handshake's end."""
        self.connection.receive_datagram(data, addr, now)
        self._pull(now)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, tuple[str, int]]]:
        """What the connection wants sent."""
        return self.connection.datagrams_to_send(now)

    def get_timer(self) -> float | None:
        """The connection's timer or the next ping, whichever is first."""
        timers = [t for t in (self.connection.get_timer(), self.next_ping) if t is not None]
        return min(timers) if timers else None

    def handle_timer(self, now: float) -> None:
        """Send the ping that is due, and fire the connection's timer if due."""
        if self.next_ping is not None and now >= self.next_ping:
            if self.connection.state == ConnectionState.ESTABLISHED:
                data = f"ping {len(self.sent)}".encode()
                self.connection.send(data)
                self.sent.append((now, data))
                self.next_ping = now + self.interval
            else:
                self.next_ping = None
        timer = self.connection.get_timer()
        if timer is not None and now >= timer:
            self.connection.handle_timer(now)
        self._pull(now)

    def _pull(self, now: float) -> None:
        while (event := self.connection.next_event()) is not None:
            if isinstance(event, HandshakeCompleted):
                self.completed = event
                self.next_ping = now
            elif isinstance(event, DataReceived):
                self.echoes.append((now, event.data))


class EchoEndpoint:
    """A server endpoint that sends every application record straight back."""

    def __init__(self, endpoint: DtlsEndpoint) -> None:
        self.endpoint = endpoint
        self.received: list[tuple[float, bytes]] = []

    def receive_datagram(self, data: bytes, addr: tuple[str, int], now: float) -> None:
        """Feed the endpoint and answer what it delivered."""
        self.endpoint.receive_datagram(data, addr, now)
        self._pull(now)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, tuple[str, int]]]:
        """What the endpoint wants sent."""
        return self.endpoint.datagrams_to_send(now)

    def get_timer(self) -> float | None:
        """The endpoint's timer."""
        return self.endpoint.get_timer()

    def handle_timer(self, now: float) -> None:
        """Fire the endpoint's timers."""
        self.endpoint.handle_timer(now)
        self._pull(now)

    def _pull(self, now: float) -> None:
        while (item := self.endpoint.next_event()) is not None:
            connection, event = item
            if isinstance(event, DataReceived) and not connection.closed:
                self.received.append((now, event.data))
                connection.send(b"echo " + event.data)
                self.endpoint.touch(connection)


@dataclass
class RebindingRun:
    """What happened around one simulated NAT rebinding."""

    cid_length: int | None
    "The ``connection_id_length`` both sides configured (None: no connection IDs)."
    rebind_at: float
    "Virtual time of the rebinding."
    negotiated: bool
    "Both sides agreed on connection IDs."
    pings_before: int
    "Pings the server received before the rebinding."
    echoes_before: int
    "Echoes the client received before the rebinding."
    pings_after: int
    "Pings the server received after the rebinding."
    echoes_after: int
    "Echoes the client received after the rebinding."
    sent_after: int
    "Pings the client sent after the rebinding."
    withheld: int = 0
    """Echoes the server did not send to the client's new, unproven address because they
    were larger than what came from it (``aiodtls.migration``)."""
    server_stats: EndpointStats = field(default_factory=EndpointStats)
    "The server endpoint's counters (``peer_address_changes``, ``dropped`` ...)."
    network: Network | None = field(default=None, repr=False)
    "The network, for its log and per-direction statistics."

    @property
    def survived(self) -> bool:
        """Data flowed both ways after the rebinding."""
        return self.pings_after > 0 and self.echoes_after > 0


def simulate_rebinding(
    *,
    cid_length: int | None,
    rebind_at: float = 5.0,
    duration: float = 10.0,
    interval: float = 0.5,
    delay: float = 0.025,
    loss: float = 0.0,
    seed: int = 0,
    before_rebind: Callable[[Network, PingingClient, EchoEndpoint], None] | None = None,
    versions: tuple[ProtocolVersion, ...] = (ProtocolVersion.DTLSv1_2,),
) -> RebindingRun:
    """Run a PSK session on the simulator and rebind the client at ``rebind_at``.

    Both sides allow ``versions``: DTLS 1.2 (RFC 9146 connection IDs) unless told otherwise,
    like ``aiodtls netsim``, whatever the configuration's default.

    ``before_rebind`` may inspect or tamper with the network just before the rebinding (the
    tests capture records there to replay them later).
    """
    client_config = DtlsConfiguration(
        is_client=True,
        psk=PSK,
        psk_identity=b"device",
        verify_mode=ssl.CERT_NONE,
        connection_id_length=cid_length,
        versions=versions,
    )
    server_config = DtlsConfiguration(
        is_client=False, psk=PSK, connection_id_length=cid_length, versions=versions
    )
    client = PingingClient(DtlsConnection(configuration=client_config), interval)
    server = EchoEndpoint(DtlsEndpoint(server_config))
    withheld: list[DtlsConnection] = []
    net = Network(seed, default=LinkConditions(delay=delay, loss=loss), cid_length=cid_length or 0)
    net.attach(client, CLIENT_ADDRESS, name="client")
    net.attach(server, SERVER_ADDRESS, name="server")
    client.connection.connect(SERVER_ADDRESS, 0.0)
    net.run(until=rebind_at)
    if before_rebind is not None:
        before_rebind(net, client, server)
    net.rebind(CLIENT_ADDRESS, REBOUND_CLIENT_ADDRESS)
    withheld.extend(server.endpoint.connections.values())
    net.run(until=duration)
    completed = client.completed
    return RebindingRun(
        cid_length=cid_length,
        rebind_at=rebind_at,
        negotiated=completed is not None and completed.peer_connection_id is not None,
        pings_before=sum(1 for t, _ in server.received if t < rebind_at),
        echoes_before=sum(1 for t, _ in client.echoes if t < rebind_at),
        pings_after=sum(1 for t, _ in server.received if t >= rebind_at),
        echoes_after=sum(1 for t, _ in client.echoes if t >= rebind_at),
        sent_after=sum(1 for t, _ in client.sent if t >= rebind_at),
        withheld=sum(c.stats.datagrams_withheld for c in withheld),
        server_stats=server.endpoint.stats,
        network=net,
    )
