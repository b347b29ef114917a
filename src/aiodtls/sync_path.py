"""Blocking DTLS over a datagram path the application owns (WebRTC's ICE), with threads.

The blocking twin of :class:`aiodtls.asyncio.DtlsOverDatagrams`: the application hands each
DTLS datagram it received from its path to :meth:`DtlsPath.feed` (from any thread, e.g. its
receive loop) and gives a ``send(datagram)`` callable; aiodtls owns every timer.

Who runs the timers:

- By default a daemon thread per association sleeps until the connection's next deadline
  and runs it (retransmissions, the handshake deadline, the idle timeout). It ends when the
  association has ended or :meth:`DtlsPath.close` is called.
- With ``timer_thread=False`` there is no thread. The blocking calls (:meth:`wait_handshake`,
  :meth:`recv`) run the timers while they wait; at any other time the application must call
  :meth:`DtlsPath.handle_timers` no later than :meth:`DtlsPath.next_timer` (a
  ``time.monotonic()`` value), e.g. from its own poll loop, or nothing is retransmitted.

A lock serialises everything; ``send`` is called with it held (it must not block for long,
and must not wait for another thread that is calling into the same association). As in the
asyncio driver, there are no addresses (the path is the peer) and the cookie exchange is off
unless asked for.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable

from .alerts import AlertDescription
from .configuration import DtlsConfiguration
from .connection import DtlsConnection
from .details import SessionDetails
from .errors import HandshakeTimeout, exception_for
from .events import ConnectionTerminated, DataReceived, HandshakeCompleted
from .path import PATH_ADDRESS, SendDatagram, with_path_defaults

__all__ = ["DtlsPath"]


def _clock() -> float:
    return time.monotonic()


class DtlsPath(SessionDetails):
    """One DTLS association over an application-owned path, with blocking calls.

    A client sends its ClientHello at once; a server waits for the client's. ``initial_rtt``
    (seconds, from ICE) seeds the first retransmission timeout; ``cookie_exchange`` None
    means off. See the module docstring for ``timer_thread``.
    """

    def __init__(
        self,
        configuration: DtlsConfiguration,
        send: SendDatagram,
        *,
        initial_rtt: float | None = None,
        cookie_exchange: bool | None = None,
        timer_thread: bool = True,
    ) -> None:
        configuration = with_path_defaults(configuration, cookie_exchange, initial_rtt)
        self.connection = DtlsConnection(configuration=configuration)
        "The sans-I/O connection underneath."
        self._send = send
        self._changed = threading.Condition(threading.RLock())
        self._received: deque[bytes] = deque()
        self._handshake: HandshakeCompleted | None = None
        self._stopped = False
        self.terminated: ConnectionTerminated | None = None
        "Set once the association has ended."
        with self._changed:
            if configuration.is_client:
                self.connection.connect(PATH_ADDRESS, _clock())
            self._flush()
        self._thread: threading.Thread | None = None
        if timer_thread:
            self._thread = threading.Thread(
                target=self._run_timers, name="aiodtls-path-timers", daemon=True
            )
            self._thread.start()

    # -- from the application's path -------------------------------------------------------

    def feed(self, datagram: bytes) -> None:
        """One DTLS datagram received from the path (any thread). Never raises for what the
        peer sent: garbage is dropped, a fatal problem ends the association."""
        with self._changed:
            self.connection.receive_datagram(datagram, PATH_ADDRESS, _clock())
            self._flush()

    def next_timer(self) -> float | None:
        """When :meth:`handle_timers` must run next (``time.monotonic()``), or None."""
        with self._changed:
            return self.connection.get_timer()

    def handle_timers(self) -> float | None:
        """Run the timers that are due now and return :meth:`next_timer` (only needed with
        ``timer_thread=False``)."""
        with self._changed:
            timer = self.connection.get_timer()
            if timer is not None and _clock() >= timer:
                self.connection.handle_timer(_clock())
                self._flush()
            return self.connection.get_timer()

    # -- the association -------------------------------------------------------------------

    @property
    def handshake(self) -> HandshakeCompleted:
        """Details of the completed handshake (suite, peer certificates ...)."""
        if self._handshake is None:
            raise RuntimeError("the handshake has not completed")
        return self._handshake

    def wait_handshake(self, timeout: float | None = None) -> HandshakeCompleted:
        """Block until the handshake completes (at most ``timeout`` seconds besides
        ``configuration.handshake_timeout``). Raises the
        :class:`~aiodtls.errors.HandshakeError` of a failure
        (:class:`~aiodtls.errors.HandshakeTimeout` when time runs out)."""
        done = self._wait(lambda: self._handshake is not None, timeout)
        if self._handshake is not None:
            return self._handshake
        if self.terminated is not None:
            raise exception_for(self.terminated)
        assert not done and timeout is not None
        with self._changed:
            self.connection.abort("handshake timeout")
            self._flush()
        raise HandshakeTimeout(
            ConnectionTerminated(
                alert=None,
                reason=f"handshake timed out after {timeout:g} s (handshake timeout)",
                by_peer=False,
                during_handshake=True,
            )
        )

    def send(self, data: bytes) -> None:
        """Send one application record (DTLS does not retransmit application data). Raises
        the :mod:`aiodtls.errors` class of how the association ended, if it has."""
        with self._changed:
            if self.terminated is not None:
                raise exception_for(self.terminated)
            self.connection.send(data)
            self._flush()

    def recv(self, timeout: float | None = None) -> bytes | None:
        """The next record, waiting at most ``timeout`` seconds (None: for ever). Returns
        None when ``timeout`` passes and once the association ended cleanly (check
        :attr:`terminated`); raises the :mod:`aiodtls.errors` class of any other ending."""
        self._wait(lambda: bool(self._received), timeout)
        with self._changed:
            if self._received:
                return self._received.popleft()
            t = self.terminated
            if t is not None and t.alert != AlertDescription.close_notify:
                raise exception_for(t)
            return None

    def close(self) -> None:
        """Send close_notify (if the association is up) and stop the timers (idempotent)."""
        with self._changed:
            if not self.connection.closed:
                self.connection.close()
                self._flush()
            self._stopped = True
            self._changed.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)

    @property
    def closed(self) -> bool:
        """True once the association has ended."""
        return self.terminated is not None

    def __enter__(self) -> DtlsPath:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- inside ----------------------------------------------------------------------------

    def _flush(self) -> None:
        """Send what is due and take the events (the lock is held)."""
        for data, _addr in self.connection.datagrams_to_send(_clock()):
            with contextlib.suppress(OSError):  # a lost datagram, as on UDP: timers recover it
                self._send(data)
        while (event := self.connection.next_event()) is not None:
            if isinstance(event, HandshakeCompleted):
                self._handshake = event
            elif isinstance(event, DataReceived):
                self._received.append(event.data)
            elif isinstance(event, ConnectionTerminated):
                self.terminated = event
        self._changed.notify_all()

    def _wait(self, ready: Callable[[], bool], timeout: float | None) -> bool:
        """Wait until ``ready()`` or the end of the association, running due timers."""
        deadline = None if timeout is None else _clock() + timeout
        with self._changed:
            while True:
                if ready() or self.terminated is not None:
                    return True
                now = _clock()
                if deadline is not None and now >= deadline:
                    return False
                timer = self.connection.get_timer()
                if timer is not None and now >= timer:
                    self.connection.handle_timer(now)
                    self._flush()
                    continue
                waits = [t - now for t in (timer, deadline) if t is not None]
                self._changed.wait(min(waits) if waits else None)

    def _run_timers(self) -> None:
        with self._changed:
            while not self._stopped:
                timer = self.connection.get_timer()
                if timer is None and self.connection.closed:
                    return
                now = _clock()
                if timer is not None and now >= timer:
                    self.connection.handle_timer(now)
                    self._flush()
                    continue
                self._changed.wait(None if timer is None else timer - now)
