"""ALPN (RFC 7301) in both roles, through the public API: in-memory pairs, the asyncio and the
blocking API over loopback (issue 10)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from aiodtls import AlertDescription, DtlsConfiguration, ProtocolVersion
from aiodtls.asyncio import DtlsSession, connect, serve
from aiodtls.sync import DtlsServer
from aiodtls.sync import connect as sync_connect
from pairs import (
    DTLS12_ONLY,
    Pair,
    client_config,
    client_config12,
    handshake,
    server_config,
    server_config12,
)

# The ALPN extension of a ClientHello / ServerHello offering or selecting just "h2":
# type 16, length 5, list length 3, name length 2, "h2".
ALPN_H2 = b"\x00\x10\x00\x05\x00\x03\x02h2"


def agreed(pair: Pair) -> tuple[str | None, str | None]:
    c, s = pair.client_outcome.completed, pair.server_outcome.completed
    assert c is not None and s is not None, (pair.client_outcome, pair.server_outcome)
    assert (c.alpn_protocol, s.alpn_protocol) == (pair.client.alpn_protocol,
                                                  pair.server.alpn_protocol)  # fmt: skip
    return c.alpn_protocol, s.alpn_protocol


def test_server_picks_the_first_of_its_own_list_that_the_client_offered() -> None:
    pair = handshake(
        client_config(alpn_protocols=["coap", "h2", "x"]),
        server_config(alpn_protocols=["spdy", "h2", "coap"]),
    )
    assert agreed(pair) == ("h2", "h2")


def test_no_alpn_unless_both_sides_configure_it() -> None:
    for client_list, server_list in ((["h2"], None), (None, ["h2"]), (None, None)):
        pair = handshake(
            client_config(alpn_protocols=client_list), server_config(alpn_protocols=server_list)
        )
        assert agreed(pair) == (None, None)
        server_hellos = [d for _, direction, d in pair.sent if direction == "s2c"]
        assert not any(ALPN_H2 in d for d in server_hellos)  # nothing echoed


@pytest.mark.parametrize("versions", [DTLS12_ONLY, None], ids=["dtls1.2", "default"])
def test_no_common_protocol_is_a_no_application_protocol_alert(
    versions: tuple[ProtocolVersion, ...] | None,
) -> None:  # RFC 7301 §3.2
    # The default pair speaks DTLS 1.3: the server's refusal must come before its ServerHello
    # (it once came under handshake keys, and the client heard nothing until its timeout).
    pinned: dict[str, Any] = {} if versions is None else {"versions": versions}
    pair = handshake(
        client_config(alpn_protocols=["h2"], **pinned),
        server_config(alpn_protocols=["coap"], **pinned),
    )
    server_end, client_end = pair.server_outcome.terminated, pair.client_outcome.terminated
    assert server_end is not None and client_end is not None
    assert server_end.alert == AlertDescription.no_application_protocol
    assert not server_end.by_peer and "none of ours" in server_end.reason
    assert client_end.alert == AlertDescription.no_application_protocol and client_end.by_peer


def test_client_refuses_a_protocol_it_did_not_offer() -> None:
    def tamper(direction: str, datagram: bytes) -> list[bytes]:
        if direction == "s2c":
            datagram = datagram.replace(ALPN_H2, ALPN_H2[:-1] + b"3")
        return [datagram]

    pair = handshake(
        client_config12(alpn_protocols=["h2"]), server_config12(alpn_protocols=["h2"]), tamper
    )
    client_end = pair.client_outcome.terminated
    assert client_end is not None and client_end.alert == AlertDescription.illegal_parameter
    assert "'h3'" in client_end.reason and not client_end.by_peer


def test_a_malformed_offer_is_a_decode_error() -> None:
    def tamper(direction: str, datagram: bytes) -> list[bytes]:
        if direction == "c2s":  # the name length 2 becomes 0: an empty name
            datagram = datagram.replace(ALPN_H2, ALPN_H2[:6] + b"\x00h2")
        return [datagram]

    pair = handshake(
        client_config(alpn_protocols=["h2"]), server_config(alpn_protocols=["h2"]), tamper
    )
    server_end = pair.server_outcome.terminated
    assert server_end is not None and server_end.alert == AlertDescription.decode_error


@pytest.mark.parametrize("value", [[], [""], ["é"], ["x" * 256], [b"h2"]])
def test_invalid_alpn_protocols_are_refused_with_a_clear_error(value: list[object]) -> None:
    with pytest.raises(ValueError, match="alpn_protocols"):
        DtlsConfiguration(alpn_protocols=value)  # type: ignore[arg-type]


def test_asyncio_sessions_report_alpn_and_server_name() -> None:
    async def main() -> tuple[str | None, str | None, str | None, str | None]:
        seen: list[DtlsSession] = []

        async def handler(session: DtlsSession) -> None:
            seen.append(session)
            async for data in session:
                session.send(data)

        server = await serve(
            "127.0.0.1",
            0,
            configuration=server_config(alpn_protocols=["coap"]),
            handler=handler,
        )
        try:
            cfg = client_config(alpn_protocols=["h2", "coap"])
            async with connect("127.0.0.1", server.address[1], configuration=cfg) as session:
                for _ in range(100):
                    if seen:
                        break
                    await asyncio.sleep(0.01)
                return (
                    session.alpn_protocol,
                    seen[0].alpn_protocol,
                    session.server_name,
                    seen[0].server_name,
                )
        finally:
            server.close()
            await server.wait_closed()

    assert asyncio.run(main()) == ("coap", "coap", "localhost", "localhost")


def test_blocking_sockets_report_alpn_and_server_name() -> None:
    with DtlsServer("127.0.0.1", 0, configuration=server_config(alpn_protocols=["coap"])) as server:
        port = server.address[1]
        result: dict[str, str | None] = {}

        def client() -> None:
            cfg = client_config(alpn_protocols=["coap"])
            with sync_connect("127.0.0.1", port, configuration=cfg, timeout=10) as dtls:
                result["alpn"], result["name"] = dtls.alpn_protocol, dtls.server_name

        thread = threading.Thread(target=client)
        thread.start()
        peer = server.accept(timeout=10)
        thread.join(10)
        assert (peer.alpn_protocol, peer.server_name) == ("coap", "localhost")
        assert result == {"alpn": "coap", "name": "localhost"}
