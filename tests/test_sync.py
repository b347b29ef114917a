"""The blocking API over real loopback sockets: timers run inside every blocking call."""

from __future__ import annotations

import contextlib
import os
import resource
import threading
from collections.abc import Iterator

import pytest

from aiodtls.sync import DtlsError, DtlsServer, connect
from pairs import client_config, psk_configs12, server_config


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
    client_cfg, server_cfg = psk_configs12(client_psk=b"\x02" * 16)
    with DtlsServer("127.0.0.1", 0, configuration=server_cfg) as server:
        port = server.address[1]
        thread = threading.Thread(target=server.serve_for, args=(1.5,))  # fails in ms
        thread.start()
        with pytest.raises(DtlsError) as failure:
            connect("127.0.0.1", port, configuration=client_cfg, timeout=10)
        thread.join(10)
    assert failure.value.terminated is not None
    assert "bad_record_mac" in failure.value.terminated.reason


FD_SETSIZE = 1024
"select(2)'s limit: a descriptor numbered this or higher cannot be passed to select.select."


@contextlib.contextmanager
def descriptors_above_fd_setsize() -> Iterator[None]:
    """Hold enough open descriptors that every new socket is numbered above FD_SETSIZE."""
    wanted = FD_SETSIZE + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted + 64:
        if hard != resource.RLIM_INFINITY and hard < wanted + 64:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is too low")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted + 64, hard))
    null = os.open(os.devnull, os.O_RDONLY)
    held = [null]
    try:
        while held[-1] <= wanted:
            held.append(os.dup(null))
        probe = os.dup(null)  # descriptors are allocated lowest-free first
        os.close(probe)
        assert probe > FD_SETSIZE
        yield
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_handshake_and_echo_with_socket_numbers_above_fd_setsize() -> None:
    """Hardening defect 9: a process with over 1,024 open files could not use aiodtls.sync
    (select.select raised 'filedescriptor out of range in select()')."""
    with (
        descriptors_above_fd_setsize(),
        DtlsServer("127.0.0.1", 0, configuration=server_config()) as server,
    ):
        port = server.address[1]
        echoed: list[bytes | None] = []

        def client() -> None:
            with connect("127.0.0.1", port, configuration=client_config(), timeout=10) as dtls:
                dtls.send(b"above FD_SETSIZE")
                echoed.append(dtls.recv(timeout=10))

        thread = threading.Thread(target=client)
        thread.start()
        try:
            peer = server.accept(timeout=10)
            data = peer.recv(timeout=10)
            assert data == b"above FD_SETSIZE"
            peer.send(b"echo " + data)
            assert peer.recv(timeout=10) is None  # the client closed with close_notify
        finally:
            thread.join(10)
        assert echoed == [b"echo above FD_SETSIZE"]
