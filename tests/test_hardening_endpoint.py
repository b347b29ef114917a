"""Hardening of the server endpoint against active attackers (issue 8, defects 2-6 and 10).

Each test drives a real ``DtlsEndpoint`` with the datagrams real ``DtlsConnection`` clients
produce, on a virtual clock, and plays the attacker with copies of what it could sniff or
forge: a replayed cookie-bearing ClientHello (SPEC X16, T9), a client that restarts
mid-handshake, length bombs spread over many half-open handshakes (X2, F5), a flood of
half-open handshakes from one source (X29), replayed ClientHellos as an amplifier (X14) and
forged protected records during a handshake (R8, X20).
"""

from __future__ import annotations

import ipaddress
import tracemalloc

import pytest

from aiodtls import (
    ConnectionState,
    DataReceived,
    DtlsConfiguration,
    DtlsConnection,
    HandshakeCompleted,
)
from aiodtls.budget import BufferBudget
from aiodtls.endpoint import DtlsEndpoint
from aiodtls.events import ConnectionTerminated
from aiodtls.handshake.messages import HandshakeType
from aiodtls.handshake.messages.tls13 import HELLO_RETRY_REQUEST_RANDOM
from aiodtls.record.header import ContentType, encode_record_header
from aiodtls.reliability.reassembly import MESSAGE_COST, RANGE_COST
from pairs import SERVER_ADDR, Pair, client_config, client_config12, server_config, server_config12
from test_attacks import Gate, flight_6, inject, take
from test_endpoint import SERVER, Harness

Address = tuple[str, int]


def cookie_exchange(
    harness: Harness, addr: Address, configuration: DtlsConfiguration | None = None
) -> tuple[DtlsConnection, bytes]:
    """Start a client at ``addr`` (``pairs.client_config()`` unless given) and run the cookie
    exchange by hand; return the client and its cookie-bearing ClientHello, which the
    endpoint has accepted (flight 4 not delivered)."""
    client = harness.add_client(addr, configuration)
    for data, _ in client.datagrams_to_send(harness.now):
        harness.endpoint.receive_datagram(data, addr, harness.now)
    for reply, to in harness.endpoint.datagrams_to_send(harness.now):
        if to == addr:
            client.receive_datagram(reply, SERVER, harness.now)
    ((hello, _),) = client.datagrams_to_send(harness.now)
    harness.endpoint.receive_datagram(hello, addr, harness.now)
    return client, hello


def start_second_handshake(harness: Harness, addr: Address) -> None:
    """Another client on ``addr`` (a new random) passes the cookie exchange; the server's
    first flight to it is discarded."""
    intruder = DtlsConnection(configuration=client_config())
    intruder.connect(SERVER, harness.now)
    for data, _ in intruder.datagrams_to_send(harness.now):
        harness.endpoint.receive_datagram(data, addr, harness.now)
    for reply, _ in harness.endpoint.datagrams_to_send(harness.now):
        intruder.receive_datagram(reply, SERVER, harness.now)
    for data, _ in intruder.datagrams_to_send(harness.now):
        harness.endpoint.receive_datagram(data, addr, harness.now)
    harness.endpoint.datagrams_to_send(harness.now)


def sent_to(harness: Harness, addr: Address) -> int:
    """Bytes the endpoint sends to ``addr`` now (the datagrams are consumed)."""
    return sum(len(d) for d in datagrams_to(harness, addr))


def datagrams_to(harness: Harness, addr: Address) -> list[bytes]:
    """The datagrams the endpoint sends to ``addr`` now."""
    return [d for d, to in harness.endpoint.datagrams_to_send(harness.now) if to == addr]


def run_silently(harness: Harness, addr: Address, until: float, step: float = 0.05) -> int:
    """Fire the endpoint's timers up to ``until`` with nobody answering; bytes sent to addr."""
    total = 0
    while harness.now < until:
        harness.now = min(until, harness.now + step)
        harness.endpoint.handle_timer(harness.now)
        total += sent_to(harness, addr)
    return total


# -- defect 2: a replayed ClientHello never costs the established session ----------------


def test_replayed_cookie_client_hello_does_not_end_the_established_session() -> None:  # X16
    harness = Harness(DtlsEndpoint(server_config()))
    addr = ("10.0.0.7", 7000)
    client, hello = cookie_exchange(harness, addr)
    harness.pump()
    assert client.state == ConnectionState.ESTABLISHED
    session = harness.endpoint.connections[addr]
    assert session.state == ConnectionState.ESTABLISHED
    # An attacker who sniffed the cookie-bearing ClientHello replays it from the client's
    # address, again and again (the client ignores what the server answers).
    for _ in range(50):
        harness.endpoint.receive_datagram(hello, addr, harness.now)
        for data, _ in harness.endpoint.datagrams_to_send(harness.now):
            client.receive_datagram(data, SERVER, harness.now)
        harness.now += 0.5
        harness.endpoint.handle_timer(harness.now)
    assert harness.endpoint.connections[addr] is session
    assert session.state == ConnectionState.ESTABLISHED
    assert not [e for c, e in harness.server_events if isinstance(e, ConnectionTerminated)]
    client.send(b"still here")
    harness.pump()
    assert (session, DataReceived(b"still here")) in harness.server_events
    assert client.state == ConnectionState.ESTABLISHED


def test_half_done_new_handshake_does_not_end_the_established_session() -> None:  # T9
    """A new handshake from the same address, cookie and all, that never finishes (here: its
    client goes silent after its ClientHello) leaves the old association in place, before and
    after the new one times out."""
    harness = Harness(DtlsEndpoint(server_config(handshake_timeout=10.0)))
    addr = ("10.0.0.8", 8000)
    old_client = harness.add_client(addr)
    harness.pump()
    session = harness.endpoint.connections[addr]
    start_second_handshake(harness, addr)  # cookie and all, then silent
    for moment in (1.0, 20.0):  # during the new handshake, and after it timed out
        harness.now += moment
        harness.endpoint.handle_timer(harness.now)
        harness.endpoint.datagrams_to_send(harness.now)
        old_client.send(b"at %.0f" % harness.now)
        harness.pump()
        assert harness.endpoint.connections[addr] is session
        assert (session, DataReceived(b"at %.0f" % harness.now)) in harness.server_events
    assert session.state == ConnectionState.ESTABLISHED


# -- defect 3: a client that restarts mid-handshake gets in at once ---------------------


def test_client_restarting_mid_handshake_on_the_same_address_is_not_locked_out() -> None:
    harness = Harness(DtlsEndpoint(server_config()))
    addr = ("10.0.0.9", 9000)
    cookie_exchange(harness, addr)
    harness.endpoint.datagrams_to_send(harness.now)  # flight 4 is lost, then the app crashes
    del harness.clients[addr]
    harness.now += 0.5
    restarted = harness.add_client(addr)  # same address, new random
    harness.pump()
    assert restarted.state == ConnectionState.ESTABLISHED
    assert harness.now == 0.5
    completed = [c for c, e in harness.server_events if isinstance(e, HandshakeCompleted)]
    assert completed == [harness.endpoint.connections[addr]]
    assert harness.endpoint.half_open == 0


# -- defect 4: memory grows with the bytes received, not with declared lengths -----------


def fragment_record(message_seq: int, data: bytes, declared: int, record_seq: int) -> bytes:
    """An epoch-0 record with one ClientKeyExchange fragment: ``data`` at offset 0 of a
    message that declares ``declared`` bytes."""
    fragment = (
        bytes((HandshakeType.client_key_exchange,))
        + declared.to_bytes(3, "big")
        + message_seq.to_bytes(2, "big")
        + bytes(3)
        + len(data).to_bytes(3, "big")
        + data
    )
    header = encode_record_header(ContentType.handshake, 0xFEFD, 0, record_seq, len(fragment))
    return header + fragment


def bomb_fragments(count: int = 4) -> list[bytes]:
    """Records of 26 bytes that each carry one byte of a message declaring 64 KiB."""
    return [fragment_record(2 + i, b"\x00", 65535, 10 + i) for i in range(count)]


@pytest.mark.slow  # long: in the slow pass of .ci/run
def test_1000_half_open_handshakes_fed_length_bombs_stay_under_32_mib() -> None:  # X2, F5
    endpoint = DtlsEndpoint(server_config())  # 1000 sources, default limits
    harness = Harness(endpoint)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    bombs = bomb_fragments()
    for i in range(1000):
        addr = (f"10.{i // 256}.{i % 256}.1", 5000)
        cookie_exchange(harness, addr)
        del harness.clients[addr]
        endpoint.datagrams_to_send(harness.now)
        for record in bombs:
            endpoint.receive_datagram(record, addr, harness.now)
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert endpoint.half_open == 1000
    assert grown < 32 * 2**20, grown


def test_endpoint_wide_cap_on_buffered_handshake_bytes() -> None:  # F5
    cap = 50_000
    endpoint = DtlsEndpoint(server_config(), max_buffered_handshake_bytes=cap)
    harness = Harness(endpoint)
    for i in range(20):
        addr = (f"10.5.{i}.1", 5000)
        cookie_exchange(harness, addr)
        del harness.clients[addr]
        for seq in range(2, 6):
            endpoint.receive_datagram(
                fragment_record(seq, bytes(1000), 60000, seq), addr, harness.now
            )
    assert endpoint.buffered_handshake_bytes <= cap
    assert endpoint.buffered_handshake_bytes > cap - (1000 + RANGE_COST + MESSAGE_COST)
    # A real client still completes: its messages fit in what is left or are released.
    good = harness.add_client(("10.6.0.1", 6000))
    harness.pump()
    assert good.state == ConnectionState.ESTABLISHED


# -- defect 5: one source cannot take every half-open slot -------------------------------


def test_one_source_cannot_fill_the_half_open_table() -> None:  # X29
    """With the default per-source limit (64), 300 sockets of one host take 64 of the 200
    slots, and another host still gets in."""
    endpoint = DtlsEndpoint(server_config(), max_half_open=200)
    harness = Harness(endpoint)
    for port in range(1000, 1300):
        cookie_exchange(harness, ("10.7.0.1", port))
        harness.silent.add(("10.7.0.1", port))
    assert endpoint.half_open == 64
    assert endpoint.stats.half_open_refused_per_source == 300 - 64
    good = harness.add_client(("10.8.0.1", 4000))
    harness.pump()
    assert good.state == ConnectionState.ESTABLISHED


def test_ipv6_sources_are_limited_per_64_prefix() -> None:  # X29
    endpoint = DtlsEndpoint(server_config(), max_half_open=100)
    harness = Harness(endpoint)
    prefix = ipaddress.IPv6Address("2001:db8:1:2::")
    for i in range(100):
        addr = (str(prefix + (i << 16) + 1), 5000)  # same /64, different host parts
        cookie_exchange(harness, addr)
        harness.silent.add(addr)
    assert endpoint.half_open == 64
    other = harness.add_client(("2001:db8:1:3::1", 5000))  # another /64
    harness.pump()
    assert other.state == ConnectionState.ESTABLISHED


# -- defect 6: replays of one ClientHello cannot make the server send without bound ------


VERSIONS = {"dtls12": (client_config12, server_config12), "dtls13": (client_config, server_config)}
"The test server and client of each version: DTLS 1.3 is what the defaults negotiate."


def is_stateless_reply(datagram: bytes) -> bool:
    """What the door sends for a ClientHello it does not admit: a HelloVerifyRequest, a
    HelloRetryRequest (a ServerHello whose random is RFC 8446's fixed value) or, in DTLS 1.3,
    the alert refusing a cookie that no longer verifies (RFC 9147 §5.1)."""
    if datagram[0] == ContentType.alert:
        return True
    msg_type = datagram[13]
    if msg_type == HandshakeType.hello_verify_request:
        return True
    return msg_type == HandshakeType.server_hello and datagram[27:59] == HELLO_RETRY_REQUEST_RANDOM


def replayed_bytes(copies: int, version: str) -> tuple[int, int, int]:
    """An attacker replays one sniffed cookie-bearing ClientHello ``copies`` times from the
    victim's address over four minutes (twice the cookie's lifetime); the victim never
    answers. Returns the bytes of the server's handshake flights, the bytes and the number of
    its stateless replies (HelloVerifyRequests, HelloRetryRequests), and how many copies were
    answered with them."""
    client_cfg, server_cfg = VERSIONS[version]
    harness = Harness(DtlsEndpoint(server_cfg()))
    victim = ("10.0.0.10", 10000)
    _, hello = cookie_exchange(harness, victim, client_cfg())
    del harness.clients[victim]
    flights = sent_to(harness, victim)
    # What a stateless reply may cost, all its copies together: no more than the ClientHello
    # in DTLS 1.2 (X14), three times it in DTLS 1.3 (RFC 9147 §5.1, SPEC V8).
    allowed = len(hello) * (1 if version == "dtls12" else 3)
    reply_bytes = replies = 0
    interval = 240.0 / copies
    for _ in range(copies):
        flights += run_silently(harness, victim, harness.now + interval, step=min(interval, 0.25))
        harness.endpoint.receive_datagram(hello, victim, harness.now)
        answer = datagrams_to(harness, victim)
        stateless = [d for d in answer if is_stateless_reply(d)]
        assert sum(map(len, stateless)) <= allowed
        reply_bytes += sum(map(len, stateless))
        replies += bool(stateless)
        flights += sum(len(d) for d in answer if not is_stateless_reply(d))
    flights += run_silently(harness, victim, harness.now + 120.0, step=0.25)
    return flights, reply_bytes, replies


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_replayed_client_hello_cannot_amplify_without_bound(version: str) -> None:  # X14, V8
    """Whatever the number of copies, one sniffed ClientHello makes the server send at most
    ``max_unanswered_transmissions`` copies of its first flight (docs/security.md), cut for
    the smallest MTU back-off may reach. Once the cookie expired, each copy gets at most
    stateless replies within the version's amplification limit."""
    policy = VERSIONS[version][1]().retransmission
    assert policy.max_unanswered_transmissions is not None
    bound = policy.max_unanswered_transmissions * first_flight_bytes(version, mtu=policy.min_mtu)
    once, _, _ = replayed_bytes(1, version)
    many, reply_bytes, replies = replayed_bytes(2000, version)
    assert once <= bound
    assert many <= bound
    # Only copies that arrive after the cookie's 120 s lifetime are answered statelessly.
    assert 0 < replies <= 2000 / 2 + 1 and reply_bytes > 0


def first_flight_bytes(version: str, mtu: int) -> int:
    """Bytes of the test server's first flight in ``version`` (ServerHello ... ServerHelloDone,
    or ServerHello ... Finished)."""
    client_cfg, server_cfg = VERSIONS[version]
    harness = Harness(DtlsEndpoint(server_cfg(mtu=mtu)))
    cookie_exchange(harness, ("10.0.0.11", 1), client_cfg())
    return sent_to(harness, ("10.0.0.11", 1))


# -- defect 10: forged protected records do not end a handshake --------------------------


def test_forged_protected_records_during_the_handshake_do_not_end_it() -> None:  # R8, X20
    harness = Harness(DtlsEndpoint(server_config()))
    addr = ("10.0.0.12", 12000)
    client, _ = cookie_exchange(harness, addr)
    for data, _ in harness.endpoint.datagrams_to_send(harness.now):
        client.receive_datagram(data, SERVER, harness.now)
    # The server now waits for the client's Finished flight. An off-path attacker who knows
    # the client's address sends epoch-1 garbage first, many times.
    for seq in range(10):
        forged = encode_record_header(ContentType.handshake, 0xFEFD, 1, seq, 40) + bytes(40)
        harness.endpoint.receive_datagram(forged, addr, harness.now)
    harness.pump()
    assert client.state == ConnectionState.ESTABLISHED
    assert harness.endpoint.connections[addr].state == ConnectionState.ESTABLISHED


# -- configuration --------------------------------------------------------------------------


def test_secrets_stay_out_of_the_configuration_repr() -> None:
    """A configuration logged by accident does not leak the PSK, the cookie key or the
    private key (secrets leave the library only through ``key_log``)."""
    config = server_config(psk=b"\x42" * 16, cookie_secret=b"\x17" * 32)
    text = repr(config)
    assert "psk=" not in text and "cookie_secret=" not in text and "private_key=" not in text
    assert "4242" not in text and "\\x42" not in text


def test_endpoint_checks_its_configuration_up_front() -> None:
    """A bad setting assigned after construction fails when the endpoint is built, not when a
    peer's ClientHello arrives."""
    config = server_config()
    config.mtu = 10
    try:
        DtlsEndpoint(config)
    except ValueError as exc:
        assert "mtu" in str(exc)
    else:
        raise AssertionError("DtlsEndpoint accepted mtu=10")


def test_endpoint_wide_cap_counts_held_next_epoch_records() -> None:  # F5, R9
    """Records of the next epoch held during handshakes draw on the same endpoint budget."""
    cap = 20_000
    endpoint = DtlsEndpoint(server_config12(), max_buffered_handshake_bytes=cap)
    harness = Harness(endpoint)
    for i in range(10):
        addr = (f"10.9.{i}.1", 5000)
        cookie_exchange(harness, addr)
        del harness.clients[addr]
        for seq in range(3):
            record = encode_record_header(ContentType.handshake, 0xFEFD, 1, seq, 1000)
            endpoint.receive_datagram(record + bytes(1000), addr, harness.now)
    assert cap - 1013 < endpoint.buffered_handshake_bytes <= cap
    dropped = sum(
        c.stats.records_dropped["the endpoint's buffer for early records is full"]
        for c in endpoint.connections.values()
    )
    assert dropped == 30 - endpoint.buffered_handshake_bytes // 1013
    harness.advance(harness.now + 61.0)  # every handshake times out: all of it is given back
    assert endpoint.buffered_handshake_bytes == 0


def test_replays_after_a_forged_alert_cannot_restart_the_handshake() -> None:  # X14
    """An off-path attacker ends the half-open handshake with a forged plaintext fatal alert
    (DTLS 1.2 cannot stop that), then replays the sniffed ClientHello to get a fresh one, and
    again: each round would cost the server a whole first flight. The ClientHello is spent
    once; the rounds get nothing."""
    harness = Harness(DtlsEndpoint(server_config()))
    victim = ("10.0.0.13", 13000)
    _, hello = cookie_exchange(harness, victim)
    del harness.clients[victim]
    first = sent_to(harness, victim)
    later = 0
    for round_ in range(50):
        alert = encode_record_header(ContentType.alert, 0xFEFD, 0, 100 + round_, 2) + b"\x02\x28"
        harness.endpoint.receive_datagram(alert, victim, harness.now)
        later += sent_to(harness, victim)
        harness.now += 0.2
        harness.endpoint.receive_datagram(hello, victim, harness.now)
        later += sent_to(harness, victim)
    assert harness.endpoint.stats.connections_created == 1
    assert later == 0, later / first


def test_endpoint_wide_cap_counts_early_application_data() -> None:  # F5, X22
    """Application data that arrives before the peer's Finished is held against the shared
    budget too, and given back once delivered."""
    budget = BufferBudget(2100)  # room for flight 4, then for 2 of 3 records and Finished
    client = DtlsConnection(configuration=client_config12(), buffer_budget=budget)
    pair = Pair(client, DtlsConnection(configuration=server_config12()))
    client.connect(SERVER_ADDR, 0.0)
    gate = Gate(flight_6)
    pair.exchange(gate)
    (flight6,) = gate.held
    for i in range(3):
        pair.server.send(bytes([i]) * 900)
    early = take(pair.server, pair)
    inject(pair, "s2c", *early)
    assert budget.used == 1800
    assert client.stats.records_dropped["the endpoint's buffer for early application data is full"]
    inject(pair, "s2c", flight6)
    assert pair.client_outcome.data == [b"\x00" * 900, b"\x01" * 900]
    assert budget.used == 0


def test_failed_new_handshake_beside_a_session_sends_its_alert_and_costs_nothing() -> None:
    """A new handshake from the address of an established association that fails (here: a
    malformed ClientKeyExchange) answers with its fatal alert like any failed handshake; the
    association carries on (T9)."""
    harness = Harness(DtlsEndpoint(server_config12()))
    addr = ("10.0.0.14", 14000)
    client = harness.add_client(addr)
    harness.pump()
    session = harness.endpoint.connections[addr]
    start_second_handshake(harness, addr)
    harness.endpoint.receive_datagram(fragment_record(2, b"\xff" * 5, 5, 3), addr, harness.now)
    replies = datagrams_to(harness, addr)
    assert [d[0] for d in replies] == [ContentType.alert]
    assert replies[0][-2] == 2  # fatal
    client.send(b"unharmed")
    harness.pump()
    assert harness.endpoint.connections[addr] is session
    assert (session, DataReceived(b"unharmed")) in harness.server_events
    assert harness.endpoint.half_open == 0


def test_a_newer_second_handshake_supersedes_the_previous_one_without_leaking() -> None:  # T9
    """Two new handshakes in a row from the address of an established association: the
    second replaces the first (which ends), the association stays, nothing is left behind."""
    harness = Harness(DtlsEndpoint(server_config()))
    addr = ("10.0.0.15", 15000)
    harness.add_client(addr)
    harness.pump()
    session = harness.endpoint.connections[addr]
    start_second_handshake(harness, addr)
    start_second_handshake(harness, addr)
    assert harness.endpoint.half_open == 1
    assert harness.endpoint.connections[addr] is session
    assert len(harness.endpoint._randoms) == 2  # the session's and the newest handshake's
    events = [e for _, e in iter(harness.endpoint.next_event, None)]
    superseded = [
        e for e in events if isinstance(e, ConnectionTerminated) and "superseded" in e.reason
    ]
    assert len(superseded) == 1
