"""The retransmission timer policy: how long to wait for the peer's answer to a flight.

Owns the retransmission timeout (RTO) and the path-MTU guess of one connection; it does not
send anything (``flight`` does).

The default policy (see docs/reliability.md for the reasoning and the measurements):

- Until a round trip has been measured, a flight waits ``initial_rto`` (1 s, RFC 6347
  §4.2.4.1 and RFC 9147 §5.8.2).
- A round trip is measured from the first transmission of a flight to the first new
  handshake fragment of the peer's answer, never from a retransmitted flight (Karn's rule:
  the answer could belong to either copy). The client measures ClientHello -> HelloVerify-
  Request; the server gets a sample from the cookie, which carries the time it was issued.
- Once measured, each new flight waits ``rtt_multiplier`` x the smoothed RTT (1.5, RFC 9147
  §5.8.2), never less than ``min_rto`` (the floor also covers the peer's processing time).
- A round trip known before the handshake (``initial_rtt``: WebRTC's ICE measures one) seeds
  the first timeout the way libwebrtc does, 2 x RTT clamped to 50 ms-3 s, and counts as known
  (no blind probe, no ``blind_max_rto`` cap) until a sample replaces it.
- Every expiry doubles the timeout (``max_rto`` cap); each new flight starts again from the
  RTT-based value.
- A random jitter of up to ``jitter`` x the timeout is added, so that the two peers' timers,
  and many clients after an outage, do not fire in lockstep.
- After ``mtu_backoff_after`` unanswered retransmissions of a flight, each further
  retransmission may use a smaller MTU (steps in ``MTU_STEPS``, never below ``min_mtu``),
  because a path that silently drops big datagrams looks exactly like loss (RFC 6347
  §4.1.1.1).

:meth:`RetransmissionPolicy.openssl` is a model of OpenSSL 3's default schedule, for comparison
(``aiodtls netsim --timers openssl``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = [
    "MTU_STEPS",
    "SEEDED_RTO_MAX",
    "SEEDED_RTO_MIN",
    "SEEDED_RTT_MULTIPLIER",
    "RetransmissionPolicy",
    "RetransmissionTimer",
    "seeded_rto",
]

MTU_STEPS = (1232, 548)
"""UDP payload sizes tried on MTU back-off: the IPv6 minimum link MTU (1280) and the IPv4
minimum reassembly size (576) less IP and UDP headers; the floor (``min_mtu``) comes last."""

SEEDED_RTT_MULTIPLIER = 2.0
"""The first timeout from a round trip known in advance is this many round trips, clamped
to ``SEEDED_RTO_MIN``..``SEEDED_RTO_MAX``: libwebrtc's rule
(``DtlsTransport::ConfigureHandshakeTimeout``: 2 x the ICE RTT, clamped to 50-3000 ms)."""

SEEDED_RTO_MIN = 0.05
"Floor of the seeded first timeout, in seconds (libwebrtc: 50 ms)."

SEEDED_RTO_MAX = 3.0
"Cap of the seeded first timeout, in seconds (libwebrtc: 3 s)."


def seeded_rto(rtt: float) -> float:
    """The first timeout of a flight when the round trip ``rtt`` (seconds) is known up front."""
    return min(SEEDED_RTO_MAX, max(SEEDED_RTO_MIN, SEEDED_RTT_MULTIPLIER * rtt))


@dataclass(frozen=True)
class RetransmissionPolicy:
    """Knobs of the retransmission timer."""

    initial_rto: float = 1.0
    "Timeout of a flight before any round trip has been measured, in seconds."

    min_rto: float = 0.1
    "Floor of the RTT-based timeout."

    initial_rtt: float | None = None
    """A round trip already known before the handshake, in seconds: WebRTC's ICE agent
    measures one with its connectivity checks. The first timeout of each flight is then
    :func:`seeded_rto` (2 x RTT clamped to 50 ms-3 s, as libwebrtc does) instead of the blind
    ``initial_rto``, the round trip counts as known (no ``probe``, no ``blind_max_rto``) and
    the first measured sample replaces it. None: nothing is known."""

    max_rto: float = 60.0
    "Cap of the doubled timeout."

    blind_max_rto: float | None = 2.0
    """Cap of the doubled timeout while nothing is known about the round trip (the client's
    first ClientHello): libwebrtc clamps its first DTLS timeout to 3 s the same way. Without
    it the blind schedule waits 16 and 32 s between tries and a path losing half the packets
    often never gets its first exchange through; the cost is a ClientHello every ~3 s (plus
    the probe) toward a server that is down, instead of ~12 tries in 60 s. None: up to
    ``max_rto``."""

    peer_processing: float = 0.4
    """Time the peer may need to process a flight carrying a certificate chain before it
    answers, on top of the round trip: verifying the chain, the key exchange, its own
    signature. Added, once the round trip is known, to the first timeout of such a flight
    until the answer starts to arrive (the rest of an answer is waited for with the round
    trip only; the other flights ask for little work and keep the round trip only). It grows
    to 1.25 x the longest processing time measured on this connection; an IoT device doing
    ECC in software may need 0.5-3 s."""

    peer_processing_per_datagram: float = 0.1
    """Time the peer may need per datagram of such a flight: receivers read datagrams one at a
    time, and some are slow at it (gnutls-cli answers a 9-datagram certificate flight after
    0.96 s on loopback, a 2-datagram one after 0.25 s)."""

    rtt_multiplier: float = 1.5
    "Timeout = this x smoothed RTT once measured; 0 disables RTT adaptation."

    jitter: float = 0.1
    "Up to this fraction of the timeout is added at random (0 for exact schedules)."

    probe: float | None = 0.25
    """While nothing is known about the round trip, every transmission of a one-datagram
    flight is followed by one more copy this many seconds later (the timer still runs from the
    transmission and doubles). A lost first datagram otherwise costs a whole ``initial_rto``,
    then two, then four; the flight this applies to is the client's first, one small
    datagram. None disables."""

    resend_on_peer_repeat: bool = True
    """Resend our flight when the peer repeats its previous one, at most once per base
    timeout and ``max_repeat_resends`` times per flight (the final flight: always)."""

    max_repeat_resends: int = 16
    """Peer-triggered resends of one flight. Two peers that each see the other repeat an old
    flight (a key mismatch) would otherwise answer each other until the deadline (pion/dtls
    #758); after this many, only the timer resends."""

    final_flight_copies: int = 2
    """On a lossy handshake (we retransmitted, or the peer repeated its flight), each
    transmission of the final flight is followed by this many copies a base timeout apart.
    The final flight has no timer of its own (RFC 6347 §4.2.4) and only the peer's backed-off
    timer recovers its loss, at a cost of seconds; the copies are ~75 bytes each."""

    progress_resets_timer: bool = True
    """When new bytes of the peer's next flight arrive, the path works and the rest is late or
    lost: drop the back-off and wait one base timeout from the last arrival before resending
    (which makes the peer resend, the only negative acknowledgement DTLS 1.2 has)."""

    answered_back_off_cap: float | None = 4.0
    """For the first ``ANSWERED_CAPPED_TIMEOUTS`` (16) expiries after the peer last answered one
    of our flights (part of its next flight arrived), our timer doubles at most to this
    multiple of the base timeout: the path demonstrably works, what is missing was lost, and
    the peer may resend only when we ask (OpenSSL ignores a repeat until its own timer has
    expired; a server resends its final flight only when asked). Then, or with None, it
    doubles up to ``max_rto`` as for silence."""

    mtu_backoff_after: int = 2
    "Unanswered retransmissions before the MTU is lowered; 0 disables MTU back-off."

    min_mtu: int = 512
    "MTU back-off never goes below this."

    max_timeouts: int | None = None
    "Give up after this many timer expiries of one flight (None: only the handshake deadline)."

    max_unanswered_transmissions: int | None = 24
    """A server sends its first flight at most this many times in all (timer, probe and the
    client's repeats together) until the client sends new handshake bytes; then it goes quiet
    and waits (a late answer still completes the handshake; ``handshake_timeout`` ends it). A
    sniffed ClientHello replayed from a victim's address looks exactly like a client repeating
    it, so this is what bounds the bytes replays can make a server send (docs/security.md).
    At 50 % loss each way a 10-datagram certificate flight needs about 24. None: no limit."""

    def __post_init__(self) -> None:
        rtt = self.initial_rtt
        if rtt is not None and not (isinstance(rtt, int | float) and 0 <= rtt < float("inf")):
            raise ValueError(
                f"initial_rtt must be a round trip in seconds (0 or more) or None, got {rtt!r}"
            )

    @classmethod
    def openssl(cls) -> RetransmissionPolicy:
        """A model of OpenSSL 3's defaults (``ssl/d1_lib.c``): 1 s doubling to 60 s, whole
        flight on the timer only, no RTT adaptation, no MTU back-off, and failure after 12
        timeouts (``DTLS1_TMO_ALERT_COUNT``)."""
        return cls(
            initial_rto=1.0,
            min_rto=1.0,
            max_rto=60.0,
            rtt_multiplier=0.0,
            jitter=0.0,
            probe=None,
            resend_on_peer_repeat=False,
            progress_resets_timer=False,
            final_flight_copies=0,
            mtu_backoff_after=0,
            answered_back_off_cap=None,
            blind_max_rto=None,
            peer_processing=0.0,
            peer_processing_per_datagram=0.0,
            max_timeouts=12,
            max_unanswered_transmissions=None,
        )


ANSWERED_CAPPED_TIMEOUTS = 16
"Expiries after the peer's last answer during which ``answered_back_off_cap`` applies."

# Jitter needs no secrecy and no per-connection generator (a Random object is 2.5 KB).
_SHARED_RNG = random.Random()


class RetransmissionTimer:
    """RTO state of one connection under a :class:`RetransmissionPolicy`.

    The base timeout is asked for several times per flight, so it is kept computed and
    recomputed only when what it depends on changes (a round-trip sample or bound; the
    policy is fixed for the timer's life).
    """

    __slots__ = (
        "_base_rto",
        "_rng",
        "_rtt_bound",
        "_srtt",
        "policy",
        "processing",
        "rto",
        "rtt_known",
    )

    def __init__(self, policy: RetransmissionPolicy, *, rng: random.Random | None = None):
        self.policy = policy
        self._rng = rng or _SHARED_RNG
        self._srtt: float | None = None
        self._rtt_bound: float | None = None
        # What _compute_base_rto() gives before any round trip is measured or bounded.
        self._base_rto = (
            policy.initial_rto if policy.initial_rtt is None else seeded_rto(policy.initial_rtt)
        )
        self.rto = self._base_rto
        "The timeout that applies to the next wait."
        self.processing = 0.0
        "The longest time the peer took to answer a flight, beyond the round trip (measured)."
        # An attribute kept up to date, not a property: read for every flight sent (timeit,
        # CPython 3.11: 32 ns to read the attribute, 450 ns to call the property).
        self.rtt_known = policy.initial_rtt is not None
        """True once a round trip has been measured or bounded, or was given up front
        (``initial_rtt``). Read-only outside."""

    @property
    def srtt(self) -> float | None:
        """Smoothed round-trip time, once measured."""
        return self._srtt

    @property
    def rtt_bound(self) -> float | None:
        """An upper bound of the round trip (the server's cookie age), until one is measured."""
        return self._rtt_bound

    def base_rto(self) -> float:
        """The timeout a new flight starts with."""
        return self._base_rto

    def _compute_base_rto(self) -> float:
        p = self.policy
        if p.rtt_multiplier <= 0:
            return p.initial_rto if p.initial_rtt is None else seeded_rto(p.initial_rtt)
        if self._srtt is not None:
            return min(p.max_rto, max(p.min_rto, p.rtt_multiplier * self._srtt))
        if self._rtt_bound is not None:
            # 1.5 x an upper bound of the RTT is never too eager; it can only be too patient.
            return min(p.initial_rto, max(p.min_rto, p.rtt_multiplier * self._rtt_bound))
        if p.initial_rtt is not None:
            return seeded_rto(p.initial_rtt)
        return p.initial_rto

    def on_rtt_bound(self, bound: float) -> None:
        """Record an upper bound of the round trip (used only until a sample arrives)."""
        if bound >= 0 and (self._rtt_bound is None or bound < self._rtt_bound):
            self._rtt_bound = bound
            self.rtt_known = True
            self._base_rto = self._compute_base_rto()

    def on_rtt_sample(self, sample: float) -> None:
        """Fold in one round-trip measurement (RFC 6298 smoothing, alpha = 1/8)."""
        if sample < 0:
            return
        self._srtt = sample if self._srtt is None else 0.875 * self._srtt + 0.125 * sample
        self.rtt_known = True
        self._base_rto = self._compute_base_rto()

    def start_flight(self) -> None:
        """A new flight begins: back to the base timeout."""
        self.rto = self._base_rto

    def allow_processing(self, datagrams: int) -> None:
        """Our flight of ``datagrams`` just went out for the first time: its first timeout
        also covers the peer's processing (``peer_processing``), once the round trip is known.
        Before that, ``initial_rto`` is the blind guess for both."""
        if self.rtt_known:
            p = self.policy
            allowance = max(p.peer_processing, 1.25 * self.processing)
            self.rto = self.base_rto() + allowance + p.peer_processing_per_datagram * datagrams

    def on_answer_delay(self, delay: float) -> None:
        """A flight sent once was first answered ``delay`` seconds after it went out: what
        the peer spent beyond the round trip is a sample of its processing time."""
        rtt = self._srtt if self._srtt is not None else (self.policy.initial_rtt or 0.0)
        self.processing = max(self.processing, delay - rtt)

    def reset_back_off(self) -> None:
        """The peer is making progress: return to the base timeout."""
        self.rto = min(self.rto, self._base_rto)

    def restart(self) -> float:
        """The peer answered: return to the base timeout (:meth:`reset_back_off`) and how
        long to wait from now (:meth:`wait`), in one call: this runs for every message and
        answer the peer sends."""
        rto = self.rto
        base = self._base_rto
        if base < rto:
            self.rto = rto = base
        jitter = self.policy.jitter
        if jitter <= 0:
            return rto
        return rto * (1 + jitter * self._rng.random())

    def back_off(self, *, answered: bool = False) -> None:
        """The timer expired: double the timeout, up to the cap (RFC 6347 §4.2.4.1); if the
        peer has ``answered`` the flight, up to ``answered_back_off_cap`` base timeouts."""
        cap = self.policy.max_rto
        if answered and self.policy.answered_back_off_cap is not None:
            cap = min(cap, self.policy.answered_back_off_cap * self.base_rto())
        if not self.rtt_known and self.policy.blind_max_rto is not None:
            cap = min(cap, self.policy.blind_max_rto)
        self.rto = min(self.rto * 2, max(cap, self.rto))

    def wait(self) -> float:
        """How long to wait from a transmission now: the timeout plus jitter (as
        :meth:`_jittered`, written out: this runs for every flight and every answer)."""
        jitter = self.policy.jitter
        if jitter <= 0:
            return self.rto
        return self.rto * (1 + jitter * self._rng.random())

    def wait_base(self) -> float:
        """The base timeout plus jitter (for waits that never back off)."""
        return self._jittered(self._base_rto)

    def _jittered(self, timeout: float) -> float:
        jitter = self.policy.jitter
        if jitter <= 0:
            return timeout
        return timeout * (1 + jitter * self._rng.random())

    def next_mtu(self, mtu: int, unanswered: int, largest_datagram: int) -> int:
        """The MTU for the next retransmission after ``unanswered`` ones went unanswered."""
        p = self.policy
        if not p.mtu_backoff_after or unanswered < p.mtu_backoff_after:
            return mtu
        for step in (*MTU_STEPS, p.min_mtu):
            # Only a step that actually makes the flight's datagrams smaller is worth a round.
            if step < mtu and step < largest_datagram and step >= p.min_mtu:
                return step
        return mtu
