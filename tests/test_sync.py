"""The blocking API over real loopback sockets: timers run inside every blocking call."""

from __future__ import annotations

import threading

import pytest

from aiodtls.sync import DtlsError, DtlsServer, connect
from pairs import client_config, psk_configs, server_config


def test_blocking_client_and_server_with_several_peers() -> None:
    with DtlsServer("127.0.0.1", 0, configuration=server_config()) as server:
        port = server.address[1]
        results: dict[int, bytes | None] = {}

        def client(i: int) -> None:
            with connect("127.0.0.1", port, configuration=client_config(), timeout=10) as dtls:
                dtls.send(b"hello %d" % i)
                results[i] = dtls.recv(timeout=10)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        peers = [server.accept(timeout=10) for _ in range(3)]
        for peer in peers:
            data = peer.recv(timeout=10)
            assert data is not None and data.startswith(b"hello")
            peer.send(b"echo " + data)
        for t in threads:
            t.join(10)
        assert results == {i: b"echo hello %d" % i for i in range(3)}
        for peer in peers:
            assert peer.handshake is not None
            assert peer.recv(timeout=5) is None  # the client closed with close_notify
            assert peer.terminated is not None and peer.terminated.by_peer


def test_accept_times_out() -> None:
    with (
        DtlsServer("127.0.0.1", 0, configuration=server_config()) as server,
        pytest.raises(TimeoutError),
    ):
        server.accept(timeout=0.2)


def test_recv_times_out_with_none() -> None:
    with DtlsServer("127.0.0.1", 0, configuration=server_config()) as server:
        port = server.address[1]
        done = threading.Event()

        def serve() -> None:
            peer = server.accept(timeout=10)
            done.wait(10)
            peer.close()

        thread = threading.Thread(target=serve)
        thread.start()
        with connect("127.0.0.1", port, configuration=client_config(), timeout=10) as dtls:
            assert dtls.recv(timeout=0.2) is None
            assert dtls.terminated is None
            done.set()
        thread.join(10)


def test_failed_handshake_raises_with_the_reason() -> None:
    client_cfg, server_cfg = psk_configs(client_psk=b"\x02" * 16)
    with DtlsServer("127.0.0.1", 0, configuration=server_cfg) as server:
        port = server.address[1]
        thread = threading.Thread(target=server.serve_for, args=(3.0,))
        thread.start()
        with pytest.raises(DtlsError) as failure:
            connect("127.0.0.1", port, configuration=client_cfg, timeout=10)
        thread.join(10)
    assert failure.value.terminated is not None
    assert "bad_record_mac" in failure.value.terminated.reason
