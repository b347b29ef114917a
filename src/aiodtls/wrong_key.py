"""Telling a wrong key (typically a wrong PSK) from forged records during a handshake.

Owns :class:`WrongKeyWatch`, the per-connection counts behind two early endings of a
handshake whose keys differ between the two ends, and the wrong-key hint of a handshake
timeout's reason. It decides nothing about records: the connection reports what happened
(a record failed or passed authentication, the peer repeated its flight, a copy of our
Finished went out) and asks the watch whether to give up. Not on the record path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .alerts import AlertBadRecordMac, AlertHandshakeFailure
from .handshake.messages import HandshakeType

if TYPE_CHECKING:
    from .reliability.flight import FlightEntry
    from .reliability.timer import RetransmissionTimer
    from .suites import SuiteInfo

# A client names a server that ignores its Finished (wrong PSK) only once the server has
# repeated its flight at least a timeout after this many copies of our Finished: with loss
# alone each of them would have had to be lost (at 30 % loss, 1 handshake in 15,000).
FINISHED_IGNORED_COPIES = 8


class WrongKeyWatch:
    """Tells a wrong key (typically a wrong PSK) from forged records during a handshake.

    Counts the peer's protected records that failed authentication, and the rounds (from one
    repeat of the peer's flight to the next) in which some failed and none authenticated.
    Only the real peer repeats its flight, and only its own Finished failing makes every
    round fail; forged records alone never do.

    A client also notes here when it sent each copy of its Finished and how often the server
    repeated the flight before it (:meth:`check_finished_ignored`).
    """

    __slots__ = ("authenticated", "copies", "failed", "failures", "ignored", "ignored_at", "rounds")

    def __init__(self) -> None:
        self.failures = 0
        "Protected records that failed authentication in this handshake."
        self.failed = self.authenticated = False
        self.rounds = 0
        self.ignored = 0
        "Client: times the server repeated the flight our Finished answers."
        self.ignored_at = float("-inf")
        self.copies: list[float] | None = None
        "Client, PSK: when each copy of our flight carrying Finished was sent."

    def record_failed(self) -> None:
        """A record of the peer's new epoch failed authentication."""
        self.failures += 1
        self.failed = True

    def peer_repeated(self) -> int:
        """Close a round; the number of failed rounds in a row so far."""
        if self.failed or self.authenticated:  # else nothing learned (a flight spans records)
            self.rounds = self.rounds + 1 if self.failed and not self.authenticated else 0
            self.failed = self.authenticated = False
        return self.rounds

    def on_peer_flight_repeat(self, limit: int) -> None:
        """The peer resends its current flight: we have not answered it.

        If between two such repeats some protected record of the peer failed authentication
        and none passed, the peer's Finished does not verify under our keys. After ``limit``
        (``wrong_key_repeats``) such rounds the keys differ (typically a wrong PSK) and
        waiting for the timeout would only hide it (RFC 6347 §4.1.2.7 allows a fatal
        bad_record_mac). Forged records alone cannot get here: only the real peer repeats its
        flight, and only its own Finished failing makes every round fail.
        """
        rounds = self.peer_repeated()
        if limit and rounds >= limit:
            raise AlertBadRecordMac(
                f"the peer repeated its flight {rounds} times and its protected "
                "records never authenticated: the keys differ (wrong PSK?)"
            )

    def check_finished_ignored(self, limit: int, timer: RetransmissionTimer, now: float) -> None:
        """Client, PSK suite: the server repeats the flight that our Finished answers.

        A server that cannot verify our Finished (a wrong PSK: OpenSSL, Mbed TLS, pion and
        wolfSSL drop it silently) sends no protected record and no alert; it only repeats its
        flight, on its own timer or after each of our copies. Repeats at least half a timeout
        apart count (a flight of several datagrams is one repeat). Once ``limit``
        (``wrong_key_repeats``) of them came, the last one a timeout or more after
        ``FINISHED_IGNORED_COPIES`` copies of our Finished (with loss alone each of them
        would have had to be lost), the handshake ends by name instead of at the timeout.
        Replayed copies of the server's flight (plaintext: anyone can send them) cannot do
        this alone: the real server's answer to the first copy of our Finished that arrives
        completes the handshake first. With certificates the keys cannot differ, so only PSK
        suites are watched.
        """
        if not limit or self.copies is None:
            return
        timeout = timer.base_rto() if timer.rtt_known else timer.policy.min_rto
        if now - self.ignored_at < timeout / 2:
            return
        self.ignored += 1
        self.ignored_at = now
        ignored = sum(1 for sent in self.copies if sent <= now - timeout)
        if self.ignored >= limit and ignored >= FINISHED_IGNORED_COPIES:
            raise AlertHandshakeFailure(
                f"the server kept repeating its flight after {ignored} copies of our Finished: "
                "it cannot verify our Finished, so the keys differ (wrong PSK?)"
            )

    def timeout_hint(
        self, *, is_client: bool, entries: Sequence[FlightEntry], suite: SuiteInfo | None
    ) -> str:
        """What to add to a handshake timeout's reason about the keys ('' if nothing):
        ``entries`` is our last flight, ``suite`` the one negotiated (if any)."""
        if self.failures:
            return (
                f"; {self.failures} records from the peer failed "
                "authentication (wrong PSK or keys?)"
            )
        if is_client and any(e.msg_type == HandshakeType.finished for e in entries):
            # GnuTLS drops a Finished it cannot verify and then says nothing at all.
            return "; the server answered our earlier flights but never our Finished (" + (
                "wrong PSK?)"
                if suite is not None and suite.key_exchange.uses_psk
                else "did it reject our certificate without an alert?)"
            )
        return ""
