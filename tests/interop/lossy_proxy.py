"""A small seeded UDP impairment proxy for the interop tests: independent random loss.

Owns nothing but datagram forwarding: it listens on a loopback port, forwards every datagram
from a client to one upstream port through an upstream socket of that client's own (so a
server that ``connect()``s its socket to the client, like ``openssl s_server -listen``, sees
one stable address per client), sends the answers back from the listening socket, and drops
each datagram independently with probability ``loss`` per direction. It knows nothing about
DTLS. (A richer ``aiodtls proxy`` tool is a separate piece of work; this one is test-only.)

Loss is decided by one ``random.Random`` per direction, seeded from ``seed`` and the
direction's name, with one draw per datagram in arrival order. So the *n*-th datagram in a
direction is dropped or not as a pure function of ``(seed, direction, n)``
(:func:`drop_pattern` computes it in advance); only how many datagrams a run sends depends
on timing.

Typical use::

    with LossyProxy(upstream_port, loss=0.15, seed=7) as proxy:
        ...  # the client talks to 127.0.0.1:proxy.port
    assert proxy.stats.to_server.dropped > 0
"""

from __future__ import annotations

import contextlib
import random
import selectors
import socket
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal

__all__ = ["Direction", "DirectionStats", "LossyProxy", "ProxyStats", "drop_pattern"]

Direction = Literal["to_server", "to_client"]
"Which way a datagram travels: from a client to the upstream server, or back."

_MAX_DATAGRAM = 65535


def _direction_rng(seed: int, direction: Direction) -> random.Random:
    """The loss decisions of one direction (a str seed is hashed the same way in every run)."""
    return random.Random(f"lossy-proxy:{seed}:{direction}")


def drop_pattern(seed: int, direction: Direction, count: int, loss: float) -> list[bool]:
    """Whether each of the first ``count`` datagrams in ``direction`` is dropped.

    Exactly the decisions a :class:`LossyProxy` with this ``seed`` and ``loss`` makes, so a
    test can choose seeds that drop early datagrams in both directions.
    """
    rng = _direction_rng(seed, direction)
    return [rng.random() < loss for _ in range(count)]


@dataclass
class DirectionStats:
    """Counters of one direction."""

    forwarded: int = 0
    "Datagrams passed on."
    dropped: int = 0
    "Datagrams dropped on purpose."
    pattern: list[bool] = field(default_factory=list)
    "Per datagram in arrival order: True if it was dropped."

    @property
    def total(self) -> int:
        """Datagrams seen in this direction."""
        return self.forwarded + self.dropped


@dataclass
class ProxyStats:
    """Counters of both directions."""

    to_server: DirectionStats = field(default_factory=DirectionStats)
    "Client -> upstream server."
    to_client: DirectionStats = field(default_factory=DirectionStats)
    "Upstream server -> client."

    def summary(self) -> str:
        """One line for logs and assertion messages."""
        return (
            f"to_server {self.to_server.forwarded} forwarded / {self.to_server.dropped} dropped, "
            f"to_client {self.to_client.forwarded} forwarded / {self.to_client.dropped} dropped"
        )


class LossyProxy:
    """Forwards UDP between clients on loopback and one upstream port, dropping at random.

    Runs one daemon thread from :meth:`start` until :meth:`stop` (or the ``with`` block)
    ends; :meth:`stop` joins it and closes every socket.
    """

    def __init__(
        self,
        upstream_port: int,
        *,
        loss: float,
        seed: int,
        loss_to_client: float | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        """``loss`` applies to both directions unless ``loss_to_client`` overrides the
        server -> client direction."""
        if not 0.0 <= loss <= 1.0 or not 0.0 <= (loss_to_client or 0.0) <= 1.0:
            raise ValueError("loss is a probability")
        self.upstream: tuple[str, int] = (host, upstream_port)
        "Where datagrams from clients go."
        self.seed = seed
        "Seed of the loss decisions."
        self.loss: dict[Direction, float] = {
            "to_server": loss,
            "to_client": loss if loss_to_client is None else loss_to_client,
        }
        "Drop probability per direction."
        self._rng: dict[Direction, random.Random] = {
            direction: _direction_rng(seed, direction) for direction in self.loss
        }
        self._stats = ProxyStats()
        self._lock = threading.Lock()
        self._front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._front.bind((host, 0))
        self.port: int = self._front.getsockname()[1]
        "The port clients send to (on ``host``)."
        self._upstream_by_client: dict[tuple[str, int], socket.socket] = {}
        self._client_by_upstream: dict[socket.socket, tuple[str, int]] = {}
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> LossyProxy:
        """Start forwarding (once)."""
        if self._thread is not None:
            raise RuntimeError("the proxy was already started")
        self._selector.register(self._front, selectors.EVENT_READ)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._thread = threading.Thread(
            target=self._run, name=f"lossy-proxy-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop forwarding, join the thread and close every socket (idempotent)."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(5.0)
            if self._thread.is_alive():  # pragma: no cover - would be a bug in _run
                raise RuntimeError("the lossy proxy thread did not stop")
        self._selector.close()
        for sock in [self._front, self._wake_r, self._wake_w, *self._client_by_upstream]:
            sock.close()
        self._upstream_by_client.clear()
        self._client_by_upstream.clear()

    def __enter__(self) -> LossyProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- counters --------------------------------------------------------------------------

    @property
    def stats(self) -> ProxyStats:
        """A consistent copy of the counters so far."""
        with self._lock:
            return ProxyStats(
                DirectionStats(
                    self._stats.to_server.forwarded,
                    self._stats.to_server.dropped,
                    list(self._stats.to_server.pattern),
                ),
                DirectionStats(
                    self._stats.to_client.forwarded,
                    self._stats.to_client.dropped,
                    list(self._stats.to_client.pattern),
                ),
            )

    @property
    def clients(self) -> int:
        """How many client addresses have an upstream socket."""
        with self._lock:
            return len(self._upstream_by_client)

    # --- forwarding ------------------------------------------------------------------------

    def _drop(self, direction: Direction) -> bool:
        """Draw the fate of the next datagram in ``direction`` and count it."""
        with self._lock:
            dropped = self._rng[direction].random() < self.loss[direction]
            counters = getattr(self._stats, direction)
            assert isinstance(counters, DirectionStats)
            counters.pattern.append(dropped)
            if dropped:
                counters.dropped += 1
            else:
                counters.forwarded += 1
            return dropped

    def _upstream_for(self, client: tuple[str, int]) -> socket.socket:
        sock = self._upstream_by_client.get(client)
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.connect(self.upstream)
            self._selector.register(sock, selectors.EVENT_READ)
            with self._lock:
                self._upstream_by_client[client] = sock
                self._client_by_upstream[sock] = client
        return sock

    def _run(self) -> None:
        while not self._stopping.is_set():
            for key, _ in self._selector.select():
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self._wake_r:
                    return
                # OSError: ICMP port unreachable from a peer that is gone, or a send to one.
                with contextlib.suppress(OSError):
                    if sock is self._front:
                        data, client = self._front.recvfrom(_MAX_DATAGRAM)
                        upstream = self._upstream_for(client)
                        if not self._drop("to_server"):
                            upstream.send(data)
                    else:
                        data = sock.recv(_MAX_DATAGRAM)
                        if not self._drop("to_client"):
                            self._front.sendto(data, self._client_by_upstream[sock])
