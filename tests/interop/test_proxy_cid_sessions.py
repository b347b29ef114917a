"""Real aiodtls connection-ID sessions through ``aiodtls proxy`` (issue 12: the proxy and the
dissector understand CID records): the proxy learns both CID lengths from the hellos it
relays, names every tls12_cid record, and calls nothing garbage."""

from __future__ import annotations

import pytest

from .launch import AIODTLS
from .peers import HANDSHAKE_OK, PeerSet, free_udp_port
from .test_proxy import datagrams, finding, json_events, wait_for_event

pytestmark = pytest.mark.interop

PSK = "0102030405060708090a0b0c0d0e0f10"


@pytest.mark.parametrize(("client_cid", "server_cid"), [("3", "5"), ("0", "4")])
def test_proxy_names_the_tls12_cid_records_of_a_real_session(
    peers: PeerSet, client_cid: str, server_cid: str
) -> None:  # I2
    server_port = free_udp_port()
    AIODTLS.server(
        peers,
        server_port,
        None,
        None,
        "--psk",
        PSK,
        "--cid",
        server_cid,
        "--dtls12",
        name="aiodtls_server",
    )
    proxy, port = AIODTLS.proxy(peers, server_port, json_output=True)
    client = AIODTLS.client(
        peers,
        port,
        None,
        None,
        "--psk",
        PSK,
        "--cid",
        client_cid,
        "--dtls12",  # RFC 9146's tls12_cid records
        "--wait",
        "0.3",
        name="aiodtls_client",
    )
    for line in ("ping 1", "ping 2"):
        client.write_line(line)
    client.close_stdin()
    client.wait_for(HANDSHAKE_OK, "stderr")
    client.wait_for("ping 2", "stdout")
    assert client.wait_exit(5.0) == 0, client.describe()
    wait_for_event(proxy, finding("completed"), "completed finding", 5.0)
    events = json_events(proxy)
    relayed = datagrams(events)
    summaries = [d["summary"] for d in relayed]
    # Records to the server carry the server's CID (length server_cid), records to the
    # client the client's; a zero-length CID means plain records in that direction.
    to_server = [d["summary"] for d in relayed if d["direction"] == "c2s"]
    to_client = [d["summary"] for d in relayed if d["direction"] == "s2c"]
    assert any("CID[" in s for s in to_server), to_server
    assert any("CID[" in s for s in to_client) == (client_cid != "0"), to_client
    assert not any("inferred" in s or "unknown" in s for s in summaries), summaries
    kinds = {e["kind"] for e in events if e["type"] == "diagnosis"}
    assert not kinds & {"not_dtls", "garbage", "cid_replayed"}, kinds
