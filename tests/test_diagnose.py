"""The diagnosis's flights (diagnose.py) follow the handshake's flight table (handshake/flights.py).

Real handshakes, their datagrams fed to :class:`HandshakeDiagnosis` as the proxy feeds it:
every datagram is attributed to the flight of the table that carries it, in the shape the
handshake took. The resumed (abbreviated) handshake has its own shape: the server's flight is
ServerHello [NewSessionTicket] ChangeCipherSpec Finished and the client's ChangeCipherSpec
Finished is the final flight (RFC 5077 §3.1, RFC 6347 §4.2.4), so its NewSessionTicket is not
a flight 6 and a lost final flight is recovered by the server's timer.
"""

from __future__ import annotations

import asyncio

from aiodtls.asyncio import DtlsSession, connect, serve
from aiodtls.diagnose import Finding, HandshakeDiagnosis, Observation
from aiodtls.handshake.flights import ABBREVIATED, FULL, RESUMED_SERVER_HELLO, Flight, Side
from aiodtls.impairment import LinkConditions, carries_record, drop
from aiodtls.proxy import DtlsProxy
from aiodtls.record.header import ContentType
from aiodtls.resumption import ServerSessionStore
from pairs import Pair, client_config12, server_config12
from test_resumption import connect as connect_pair
from test_resumption import resuming, store_configs

CCS = ContentType.change_cipher_spec


def lose_first(direction: str, content_type: int) -> tuple[list[bytes], object]:
    """A deliver hook for a pair that loses the first datagram of ``direction`` carrying a
    record of ``content_type``; returns (the lost datagrams, the hook)."""
    lost: list[bytes] = []

    def deliver(to: str, datagram: bytes) -> list[bytes]:
        if not lost and to == direction and content_type in _record_types(datagram):
            lost.append(datagram)
            return []
        return [datagram]

    return lost, deliver


def _record_types(datagram: bytes) -> set[int]:
    types, offset = set(), 0
    while offset + 13 <= len(datagram):
        types.add(datagram[offset])
        offset += 13 + int.from_bytes(datagram[offset + 11 : offset + 13], "big")
    return types


def diagnose(pair: Pair, lost: list[bytes]) -> tuple[list[Observation], HandshakeDiagnosis]:
    """Feed everything ``pair`` sent to a diagnosis, as a proxy would; run its timer out."""
    diagnosis = HandshakeDiagnosis()
    observations = []
    for now, direction, data in pair.sent:
        while (due := diagnosis.get_timer()) is not None and due <= now:
            diagnosis.handle_timer(due)
        action = "dropped" if data in lost else "forwarded"
        observations.append(diagnosis.observe(now, direction, data, action))
    while (due := diagnosis.get_timer()) is not None:
        diagnosis.handle_timer(due)
    return observations, diagnosis


def completed(diagnosis: HandshakeDiagnosis) -> Finding:
    (finding,) = [f for f in diagnosis.findings if f.kind == "completed"]
    return finding


def recovered(finding: Finding) -> list[tuple[str, int]]:
    """(side, flight) of each loss a ``completed`` finding says was recovered."""
    return [(r["side"], r["flight"]) for r in finding.details["recovered"]]


def sent_by(flight: Flight) -> tuple[str, int]:
    """(its sender, its number): how the diagnosis names ``flight``."""
    return flight.sender.value, flight.number


def renewing_ticket_resumption(deliver: object = None) -> Pair:
    """A resumed handshake whose server flight renews the ticket: ServerHello
    NewSessionTicket ChangeCipherSpec Finished (the ticket key rotated, T1)."""
    client, server, _ = store_configs(
        "psk", session_ids=False, ticket_key_rotation=100.0, session_lifetime=250.0
    )
    resuming(client, server)
    pair = connect_pair(client, server, at=150.0, deliver=deliver)  # type: ignore[arg-type]
    assert pair.client.session_resumed
    return pair


def test_the_resumed_flights_are_the_abbreviated_shape_of_the_table() -> None:
    pair = renewing_ticket_resumption()
    observations, diagnosis = diagnose(pair, [])
    server_flight = next(o for o in observations if "NewSessionTicket" in o.summary)
    assert server_flight.flight == ABBREVIATED.flights[3].number
    final = observations[-1]
    assert (final.direction, final.flight) == ("c2s", ABBREVIATED.final.number)
    assert ABBREVIATED.final.sender == Side.CLIENT
    assert [f.kind for f in diagnosis.findings] == ["completed"]


def test_a_lost_resumed_server_flight_has_no_phantom_flight_6() -> None:
    """Regression: the NewSessionTicket (and the CCS and Finished with it) of a resumed
    handshake were counted as flight 6, so one lost server flight showed two server
    retransmissions and intervals for a flight 6 that a resumed handshake does not have."""
    lost, deliver = lose_first("s2c", CCS)  # the server's only flight with a CCS
    pair = renewing_ticket_resumption(deliver)
    assert lost
    _, diagnosis = diagnose(pair, lost)
    done = completed(diagnosis)
    assert "flight 6" not in done.details["intervals"], done.message
    assert recovered(done) == [sent_by(RESUMED_SERVER_HELLO)]
    assert "flight 4 (ServerHello ... Finished)" in done.message
    assert not [f for f in diagnosis.findings if f.kind == "no_retransmission"]


def test_a_lost_resumed_client_final_flight_is_recovered_by_the_server() -> None:  # T4
    """The client's CCS Finished is the final flight of a resumed handshake: it has no timer,
    the server's repeat of its own flight brings it back, and the handshake completes when
    it arrives, not when the server's flight did."""
    lost, deliver = lose_first("c2s", CCS)
    pair = renewing_ticket_resumption(deliver)
    observations, diagnosis = diagnose(pair, lost)
    done = completed(diagnosis)
    assert recovered(done) == [sent_by(RESUMED_SERVER_HELLO)]
    assert "flight 6" not in done.details["intervals"]
    final = [o for o in observations if o.direction == "c2s" and o.flight == 5]
    assert [o.action for o in final] == ["dropped", "forwarded"]
    assert done.time == final[-1].time  # completed when the final flight got through


def test_the_full_handshake_keeps_its_six_flights() -> None:
    lost, deliver = lose_first("s2c", CCS)  # the server's final flight 6
    client, server, _ = store_configs("psk")
    pair = connect_pair(client, server, deliver=deliver)  # type: ignore[arg-type]
    observations, diagnosis = diagnose(pair, lost)
    numbers = [f.number for f in FULL.sequence(cookie_exchange=True)]
    assert sorted({o.flight for o in observations if o.flight is not None}) == numbers
    done = completed(diagnosis)
    # The final flight has no timer: the client's repeat of flight 5 brings it back.
    answered = FULL.previous(FULL.final)
    assert answered is not None
    assert recovered(done) == [sent_by(answered)]


# -- through the proxy --------------------------------------------------------------------


async def _echo(session: DtlsSession) -> None:
    async for data in session:
        session.send(data)


def test_proxy_diagnoses_a_resumed_handshake_whose_final_flight_is_lost() -> None:  # T4
    """The public path: a real session-ID resumption through ``DtlsProxy``, the client's
    final CCS Finished lost once. The proxy names the server as the side that recovered it
    (its flight 4 timer) and reports no flight 6."""
    findings: list[Finding] = []

    async def main() -> None:
        server_cfg = server_config12()
        server_cfg.session_store = ServerSessionStore()
        server = await serve("127.0.0.1", 0, configuration=server_cfg, handler=_echo)
        client_cfg = client_config12()
        client_cfg.session_tickets = False
        try:
            host, port = server.address[:2]
            async with connect(host, port, configuration=client_cfg) as first:
                first.send(b"ping")
                assert await first.recv() == b"ping"
                client_cfg.session = first.session
            proxy = DtlsProxy(
                server.address[:2],
                c2s=LinkConditions(rules=[drop(carries_record(CCS), first=1)]),
                on_finding=lambda _flow, finding: findings.append(finding),
            )
            proxy_host, proxy_port = await proxy.start("127.0.0.1", 0)
            try:
                async with connect(proxy_host, proxy_port, configuration=client_cfg) as second:
                    assert second.session_resumed
                    second.send(b"ping")
                    assert await second.recv() == b"ping"
                    for _ in range(100):
                        if any(f.kind == "completed" for f in findings):
                            break
                        await asyncio.sleep(0.05)
            finally:
                proxy.close()
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(asyncio.wait_for(main(), 20.0))
    (done,) = [f for f in findings if f.kind == "completed"]
    assert not [f for f in findings if f.kind == "no_retransmission"], findings
    assert recovered(done) == [sent_by(RESUMED_SERVER_HELLO)], findings
    assert "flight 6" not in done.message


def test_hello_verify_request_copies_are_not_retransmissions() -> None:  # C1, X14
    """A stateless server answers a ClientHello with back-to-back copies of one
    HelloVerifyRequest (``HELLO_VERIFY_COPIES``): a lossless handshake has no retransmission."""
    client, server, _ = store_configs("psk")
    pair = connect_pair(client, server)
    copies = [data for _, direction, data in pair.sent[:3] if direction == "s2c"]
    assert len(copies) == 2 and copies[0] == copies[1]
    _, diagnosis = diagnose(pair, [])
    assert completed(diagnosis).details["retransmissions"] == {"client": 0, "server": 0}


def test_a_hello_verify_request_answering_a_repeated_client_hello_is_counted() -> None:
    """Both copies lost: the client repeats its ClientHello, and the server's new answer is a
    second transmission of flight 2 (the copies of each answer count once)."""
    hvr: list[bytes] = []

    def deliver(to: str, datagram: bytes) -> list[bytes]:
        if to == "c2s" or len(hvr) >= 2 or datagram[13] != 3:  # 3: hello_verify_request
            return [datagram]
        hvr.append(datagram)
        return []

    client, server, _ = store_configs("psk")
    pair = connect_pair(client, server, deliver=deliver)
    _, diagnosis = diagnose(pair, hvr)
    assert completed(diagnosis).details["retransmissions"] == {"client": 1, "server": 1}
