"""In-memory client/server pairs for handshake tests, on a scripted clock.

``drive(client, server)`` moves datagrams between two sans-I/O connections and fires their
timers in virtual time until both are settled; a ``deliver`` hook can drop or alter datagrams.
Nothing sleeps: virtual time only advances to the next timer.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiodtls import (
    ConnectionState,
    ConnectionTerminated,
    DataReceived,
    DtlsConfiguration,
    DtlsConnection,
    DtlsEvent,
    HandshakeCompleted,
    ProtocolVersion,
)
from certs import SERVER_NAME, CertifiedKey, client_chain, server_chain

CLIENT_ADDR = ("127.0.0.1", 40000)
SERVER_ADDR = ("127.0.0.1", 4433)
PSK = bytes.fromhex("0102030405060708090a0b0c0d0e0f10")
PSK_IDENTITY = b"client1"

DTLS12_ONLY: tuple[ProtocolVersion, ...] = (ProtocolVersion.DTLSv1_2,)
"""``versions`` of a side in a test of DTLS 1.2 behaviour (its suites, flights, messages, byte
counts): the default allows both versions, so two default sides speak DTLS 1.3."""

# deliver(direction, datagram) -> datagrams to actually deliver ("c2s" or "s2c")
Deliver = Callable[[str, bytes], list[bytes]]


def client_config(chain: CertifiedKey | None = None, **fields: Any) -> DtlsConfiguration:
    """A client that trusts the root of ``chain`` (default: the ECDSA server chain)."""
    chain = chain or server_chain("ecdsa")
    config = DtlsConfiguration(is_client=True, server_name=SERVER_NAME)
    config.ca_certificates = [chain.root]
    for name, value in fields.items():
        setattr(config, name, value)
    return config


def server_config(chain: CertifiedKey | None = None, **fields: Any) -> DtlsConfiguration:
    """A server presenting ``chain`` (default: the ECDSA server chain)."""
    chain = chain or server_chain("ecdsa")
    config = DtlsConfiguration(is_client=False)
    config.certificate_chain = chain.chain
    config.private_key = chain.key
    for name, value in fields.items():
        setattr(config, name, value)
    return config


def client_config12(chain: CertifiedKey | None = None, **fields: Any) -> DtlsConfiguration:
    """:func:`client_config` speaking DTLS 1.2 only: for tests of DTLS 1.2 behaviour."""
    return client_config(chain, **{"versions": DTLS12_ONLY, **fields})


def server_config12(chain: CertifiedKey | None = None, **fields: Any) -> DtlsConfiguration:
    """:func:`server_config` speaking DTLS 1.2 only: for tests of DTLS 1.2 behaviour."""
    return server_config(chain, **{"versions": DTLS12_ONLY, **fields})


def psk_configs(
    client_psk: bytes = PSK, server_psk: bytes = PSK, **server_fields: Any
) -> tuple[DtlsConfiguration, DtlsConfiguration]:
    """A PSK-only client and server."""
    client = DtlsConfiguration(
        is_client=True, psk=client_psk, psk_identity=PSK_IDENTITY, verify_mode=ssl.CERT_NONE
    )
    server = DtlsConfiguration(is_client=False, psk=server_psk, **server_fields)
    return client, server


def psk_configs12(
    client_psk: bytes = PSK, server_psk: bytes = PSK, **server_fields: Any
) -> tuple[DtlsConfiguration, DtlsConfiguration]:
    """:func:`psk_configs` speaking DTLS 1.2 only: for tests of DTLS 1.2 behaviour."""
    client, server = psk_configs(
        client_psk, server_psk, **{"versions": DTLS12_ONLY, **server_fields}
    )
    client.versions = DTLS12_ONLY
    return client, server


def client_auth_configs(
    verify_mode: ssl.VerifyMode = ssl.CERT_REQUIRED, with_certificate: bool = True
) -> tuple[DtlsConfiguration, DtlsConfiguration]:
    """A server that asks for a client certificate, and a client that has one (or not)."""
    chain = client_chain("ecdsa")
    client = client_config()
    if with_certificate:
        client.certificate_chain = chain.chain
        client.private_key = chain.key
    server = server_config(verify_mode=verify_mode)
    server.ca_certificates = [chain.root]
    return client, server


def client_auth_configs12(
    verify_mode: ssl.VerifyMode = ssl.CERT_REQUIRED, with_certificate: bool = True
) -> tuple[DtlsConfiguration, DtlsConfiguration]:
    """:func:`client_auth_configs` speaking DTLS 1.2 only: for tests of DTLS 1.2 behaviour."""
    client, server = client_auth_configs(verify_mode, with_certificate)
    client.versions = server.versions = DTLS12_ONLY
    return client, server


@dataclass
class Outcome:
    """What happened on one side."""

    events: list[DtlsEvent] = field(default_factory=list)

    @property
    def completed(self) -> HandshakeCompleted | None:
        """The HandshakeCompleted event, if any."""
        return next((e for e in self.events if isinstance(e, HandshakeCompleted)), None)

    @property
    def terminated(self) -> ConnectionTerminated | None:
        """The ConnectionTerminated event, if any."""
        return next((e for e in self.events if isinstance(e, ConnectionTerminated)), None)

    @property
    def data(self) -> list[bytes]:
        """Application data received, in order."""
        return [e.data for e in self.events if isinstance(e, DataReceived)]


@dataclass
class Pair:
    """A client and a server connection and what each reported."""

    client: DtlsConnection
    server: DtlsConnection
    client_outcome: Outcome = field(default_factory=Outcome)
    server_outcome: Outcome = field(default_factory=Outcome)
    now: float = 0.0
    sent: list[tuple[float, str, bytes]] = field(default_factory=list)
    "Every datagram sent: (time, direction, bytes), before any deliver hook."

    def collect(self) -> None:
        """Move pending events into the outcomes."""
        for conn, outcome in (
            (self.client, self.client_outcome),
            (self.server, self.server_outcome),
        ):
            while (event := conn.next_event()) is not None:
                outcome.events.append(event)

    def exchange(self, deliver: Deliver | None = None) -> bool:
        """Deliver everything both sides want to send now; True if anything moved."""
        moved = False
        for _ in range(100):
            batch = False
            for data, _addr in self.client.datagrams_to_send(self.now):
                batch = True
                self.sent.append((self.now, "c2s", data))
                for d in deliver("c2s", data) if deliver else [data]:
                    self.server.receive_datagram(d, CLIENT_ADDR, self.now)
            for data, _addr in self.server.datagrams_to_send(self.now):
                batch = True
                self.sent.append((self.now, "s2c", data))
                for d in deliver("s2c", data) if deliver else [data]:
                    self.client.receive_datagram(d, SERVER_ADDR, self.now)
            self.collect()
            if not batch:
                break
            moved = True
        return moved

    def drive(self, deliver: Deliver | None = None, until: float = 300.0) -> None:
        """Exchange and fire timers in virtual time until both settle or ``until``."""
        while True:
            self.exchange(deliver)
            if self.settled():
                return
            timers = [
                t for t in (self.client.get_timer(), self.server.get_timer()) if t is not None
            ]
            if not timers:
                return
            self.now = max(self.now, min(timers))
            if self.now > until:
                return
            for conn in (self.client, self.server):
                timer = conn.get_timer()
                if timer is not None and timer <= self.now:
                    conn.handle_timer(self.now)
            self.collect()

    def settled(self) -> bool:
        """Both ended, or both established with nothing in flight but a final flight."""
        states = {self.client.state, self.server.state}
        if states == {ConnectionState.CLOSED}:
            return True
        return (
            self.client.state == ConnectionState.ESTABLISHED
            and self.server.state == ConnectionState.ESTABLISHED
        ) or (ConnectionState.CLOSED in states and ConnectionState.HANDSHAKING not in states)


def make_pair(client_cfg: DtlsConfiguration, server_cfg: DtlsConfiguration) -> Pair:
    """Create the two connections; the client's first flight is queued at t=0."""
    pair = Pair(DtlsConnection(configuration=client_cfg), DtlsConnection(configuration=server_cfg))
    pair.client.connect(SERVER_ADDR, 0.0)
    return pair


def handshake(
    client_cfg: DtlsConfiguration, server_cfg: DtlsConfiguration, deliver: Deliver | None = None
) -> Pair:
    """Run a whole handshake in memory and return the pair."""
    pair = make_pair(client_cfg, server_cfg)
    pair.drive(deliver)
    return pair
