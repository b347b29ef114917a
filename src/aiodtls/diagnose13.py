"""Diagnosis of DTLS 1.3 handshakes seen on the wire, without keys (RFC 9147).

Owns what :mod:`aiodtls.diagnose` cannot read the DTLS 1.2 way once a handshake turns out to
be DTLS 1.3: which flight of :data:`~aiodtls.handshake.flights.DTLS13` each datagram carries,
which datagrams are retransmissions, what a loss destroyed and who must recover it, the ACKs
and the selective resends they cause, and when the handshake completed.
:class:`~aiodtls.diagnose.HandshakeDiagnosis` hands a handshake over to :class:`Diagnosis13`
when it sees a ServerHello or HelloRetryRequest selecting DTLS 1.3 or a unified-header record
(and replays the datagrams it saw before), and builds the timeline entries from what
:meth:`Diagnosis13.observe` returns.

What an observer without keys can tell in DTLS 1.3 and what it cannot:

- The ClientHello, the HelloRetryRequest and the ServerHello travel in the clear (epoch 0),
  so flights 1 to 3 and the first record of flight 4 are named exactly, and a repeated
  plaintext message is a retransmission, as in DTLS 1.2.
- Everything after them has the unified header: the content type is encrypted and the
  sequence number masked (RFC 9147 §4.2.3), so a record is known only by its sender, the two
  low bits of its epoch and its size. Retransmitted records are re-encrypted under new record
  numbers, so no byte matches the original. Records are attributed by epoch and phase (the
  server's epoch-2 records are flight 4, the client's flight 5), and a new transmission of a
  flight is a new burst of its records: after the peer sent something in between (an ACK, a
  repeated flight) or after a silence of :data:`BURST_GAP` seconds.
- An ACK (RFC 9147 §7) is told by its size alone: its plaintext is a 2-byte length and 16
  bytes per record number, plus the inner content type and the AEAD tag (16 bytes, 8 for
  TLS_AES_128_CCM_8_SHA256, read from the ServerHello). A handshake record of exactly such a
  size, or a padded ACK, is taken for the other; which records an ACK covers is not visible.
- The server's first epoch-3 record after a delivered client Finished flight shows that the
  server verified that Finished (its ACK of it, a NewSessionTicket, or data; a server that
  sends data before the client's Finished, RFC 8446 §2 "0.5-RTT", would complete it early).
  A NewSessionTicket, application data, a KeyUpdate or an alert after that look alike.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .alerts import alert_name
from .dissect import DissectedItem, DtlsRecord, UnifiedRecord, describe
from .drops import Drop
from .handshake.flights import DTLS13
from .handshake.messages import HandshakeType
from .keylog13 import Decrypted13, Decryptor13

__all__ = [
    "BURST_GAP",
    "DTLS13_VERSION",
    "Diagnosis13",
    "Seen13",
    "VersionWatch",
    "selects_dtls13",
    "shows_dtls12",
]

DTLS13_VERSION = 0xFEFC
"The DTLS 1.3 code point in supported_versions (RFC 9147 §5.3)."

BURST_GAP = 0.05
"""Seconds of silence after which a side's next records of the same flight are taken for a
new transmission (a flight's datagrams leave back to back; a timer waits far longer)."""

_CCM_8 = 0x1305
_OTHER = {"client": "server", "server": "client"}
_FLIGHTS = {(f.sender.value, f.number): f for f in DTLS13.flights()}
_ENCRYPTED_LABELS = {
    "server": "an encrypted record of flight 4 (EncryptedExtensions ... Finished)",
    "client": "an encrypted record of the client's Finished flight",
}

AddFinding = Callable[[float, str, "str | None", str, "dict[str, Any] | None"], None]
"""``add(now, kind, side, message, details)``: how findings leave (the diagnosis's ``_add``)."""


def selects_dtls13(items: list[DissectedItem], *, offered: bool = True) -> bool:
    """Does this datagram show a DTLS 1.3 handshake: a ServerHello or HelloRetryRequest that
    selects DTLS 1.3, or (once a ClientHello ``offered`` it) a record with the unified header?
    Without the offer, a first byte ``0b001xxxxx`` is as likely garbage as a DTLS 1.3 record."""
    for item in items:
        if isinstance(item, UnifiedRecord) and offered:
            return True
        if isinstance(item, DtlsRecord):
            for frag in item.fragments:
                if frag.msg_type == HandshakeType.server_hello and frag.versions == (
                    DTLS13_VERSION,
                ):
                    return True
    return False


class VersionWatch:
    """Tells when a handshake shows DTLS 1.3 (:func:`selects_dtls13`), remembering whether a
    ClientHello offered it."""

    def __init__(self) -> None:
        self.offered = False

    def shows_dtls13(self, items: list[DissectedItem]) -> bool:
        """Note the datagram's ClientHellos; True if it shows DTLS 1.3."""
        for item in items:
            if isinstance(item, DtlsRecord):
                for frag in item.fragments:
                    if frag.msg_type == HandshakeType.client_hello and frag.versions:
                        self.offered = self.offered or DTLS13_VERSION in frag.versions
        return selects_dtls13(items, offered=self.offered)


def shows_dtls12(items: list[DissectedItem]) -> bool:
    """Does this datagram settle the version as DTLS 1.2: a HelloVerifyRequest, or a
    ServerHello that does not select DTLS 1.3?"""
    return any(
        frag.msg_type == HandshakeType.hello_verify_request
        or (frag.msg_type == HandshakeType.server_hello and frag.versions != (DTLS13_VERSION,))
        for item in items
        if isinstance(item, DtlsRecord)
        for frag in item.fragments
    )


@dataclass(frozen=True)
class Seen13:
    """What :meth:`Diagnosis13.observe` tells the timeline about one datagram."""

    summary: str
    flight: int | None
    retransmission_of: int | None
    since_original: float | None

    def fields(
        self, action: str, reason: str
    ) -> tuple[str, str, str, int | None, float | None, int | None]:
        """The :class:`~aiodtls.diagnose.Observation` fields after ``size``, in order."""
        return (
            self.summary,
            action,
            reason,
            self.retransmission_of,
            self.since_original,
            self.flight,
        )


@dataclass
class _Transmission:
    time: float
    first_index: int
    records: int = 0
    size: int = 0
    delivered: bool = False


@dataclass
class _Flight:
    number: int
    side: str
    transmissions: list[_Transmission] = field(default_factory=list)
    plaintext: set[tuple[object, ...]] = field(default_factory=set)
    "Plaintext messages (type, message_seq, fragment offset) in the current transmission."
    last_time: float = 0.0
    peer_since: bool = False
    "The peer sent something after this flight's last datagram."
    acked_before: bool = False
    "A delivered ACK of the peer came after the previous transmission."

    @property
    def title(self) -> str:
        return _FLIGHTS[(self.side, self.number)].title


@dataclass
class _Loss:
    time: float
    side: str
    "The side that must send again to recover."
    flight: int
    label: str
    sender: str
    recovered_at: float | None = None
    reported: bool = False

    def describe(self) -> str:
        if self.sender == self.side:
            return self.label
        label = self.label.removeprefix("the ").removeprefix("an ").removeprefix("a ")
        return f"the {self.sender}'s {label}"


class Diagnosis13:
    """Watches one DTLS 1.3 handshake (both directions) and reports findings via ``add``."""

    def __init__(
        self,
        add: AddFinding,
        *,
        patience: float,
        start: float,
        decryptor: Decryptor13 | None = None,
    ) -> None:
        self._add = add
        self.decryptor = decryptor
        "Opens the encrypted records when a key log has their secrets (``--keylog``)."
        self._opened: dict[int, Decrypted13] = {}
        self.patience = patience
        self._start = start
        self._flights: dict[tuple[str, int], _Flight] = {}
        self._losses: list[_Loss] = []
        self._tag = 16
        self._finished_delivered = False
        self.completed = False
        self.failed = False
        self._acks = {"client": 0, "server": 0}
        self._delivered_acks: dict[str, list[float]] = {"client": [], "server": []}
        "When each side's ACKs that got through were sent (what asked the other to resend)."
        self._selective: list[dict[str, Any]] = []
        self._index = {"client": 0, "server": 0}
        self.replaying = False
        "While the datagrams seen before the hand-over are replayed: no findings."
        self._now = start
        self._once: set[str] = set()

    # -- input -----------------------------------------------------------------------------

    def observe(
        self,
        now: float,
        side: str,
        items: list[DissectedItem],
        data: bytes,
        lost: bool,
    ) -> Seen13:
        """One datagram ``side`` sent (``lost``: the path dropped it)."""
        index = self._index[side]
        self._index[side] += 1
        self._now = now
        size = len(data)
        self._opened = {}
        if self.decryptor is not None:
            self.decryptor.note(side, items, data)
            for item in items:
                if isinstance(item, UnifiedRecord):
                    opened = self.decryptor.open(side, data, item)
                    if opened is not None:
                        self._opened[item.offset] = opened
        classified = [(item, *self._classify(side, item)) for item in items]
        # A record of an ACK's size next to a flight's records, or in the same burst, is
        # taken for part of that flight (sizes alone collide now and then).
        flight_here = next((k for _, k, _ in classified if isinstance(k, int) and k >= 4), None)
        parts: list[str] = []
        touched: dict[int, list[str]] = {}
        acks = 0
        for item, kind, label in classified:
            opened = self._opened.get(item.offset) if isinstance(item, UnifiedRecord) else None
            if opened is not None:
                pass  # decrypted: the kind is known, not guessed
            elif kind == "ack" and isinstance(item, UnifiedRecord) and item.epoch_bits == 2:
                number = flight_here or (4 if side == "server" else 5)
                flight = self._flights.get((side, number))
                bursting = flight is not None and now - flight.last_time <= BURST_GAP
                if flight_here is not None or (bursting and not self._peer_spoke(side, number)):
                    kind, label = number, _ENCRYPTED_LABELS[side]
            if isinstance(kind, int) and (side, kind) not in _FLIGHTS:
                kind = "out of place"  # e.g. a ClientHello from the server: no flight of ours
            text = describe(item)
            if opened is not None:
                text += f" = {opened.describe()}"
            if isinstance(kind, int):
                touched.setdefault(kind, []).append(label)
                text += f" [flight {kind}]"
            elif kind == "ack" and self.completed:
                text += " [ACK?]"  # after the handshake, data of an ACK's size looks alike
            elif kind == "ack":
                acks += 1
                text += " [ACK]"
            elif kind:
                text += f" [{kind}]"
            parts.append(text)
        peer = _OTHER[side]
        for flight in self._flights.values():
            if flight.side == peer:
                flight.peer_since = True
                if acks and not lost:
                    flight.acked_before = True
        retransmission_of: int | None = None
        since: float | None = None
        for number, labels in sorted(touched.items()):
            first = self._track(now, side, number, index, items, len(labels), size, lost)
            if first is not None and retransmission_of is None:
                retransmission_of, since = first.first_index, now - first.time
            if lost:
                self._lose(now, side, number, labels[0])
        if acks:
            self._acks[side] += acks
            if lost:
                self._lose_ack(now, side)
            else:
                self._delivered_acks[side].append(now)
        if not lost and side == "client" and 5 in touched:
            self._finished_delivered = True
        if (
            not lost
            and side == "server"
            and self._finished_delivered
            and any(isinstance(i, UnifiedRecord) and i.epoch_bits == 3 for i in items)
        ):
            self._complete(now)
        return Seen13(
            summary=" | ".join(parts) or "empty",
            flight=min(touched) if touched else None,
            retransmission_of=retransmission_of,
            since_original=since,
        )

    def _classify(self, side: str, item: DissectedItem) -> tuple[int | str | None, str]:
        """(flight number, ``'ack'``, another word, or None; a label) for one record."""
        if isinstance(item, Drop):
            if item.offset == 0 and f"not_dtls:{side}" not in self._once:
                self._once.add(f"not_dtls:{side}")
                self._finding(
                    self._now, "not_dtls", side, f"{side} sent a datagram that is not DTLS ({item})"
                )
            return None, ""
        if isinstance(item, DtlsRecord):
            if item.acks is not None:
                return "ack", "the ACK"
            if item.alert is not None:
                self._alert(side, item.alert)
                return "alert", "an alert"
            for frag in item.fragments:
                if frag.msg_type == HandshakeType.server_hello:
                    if frag.cipher_suite == _CCM_8:
                        self._tag = 8
                    if frag.hello_retry:
                        return 2, "the HelloRetryRequest"
                    return 4, "the ServerHello"
                if frag.msg_type == HandshakeType.client_hello:
                    # RFC 9147 §5.2: the ClientHello after a HelloRetryRequest has
                    # message_seq 1, the first (and its retransmissions) 0.
                    if frag.message_seq > 0:
                        return 3, "the second ClientHello"
                    return 1, "the ClientHello"
            return None, ""
        if not isinstance(item, UnifiedRecord):  # a tls12_cid record: no DTLS 1.3 record
            return None, ""
        opened = self._opened.get(item.offset)
        if opened is not None:
            return self._classify_opened(side, opened)
        epoch = item.epoch_bits
        if _looks_like_ack(item.length, self._tag):
            return "ack", "the ACK"
        if epoch == 2:
            return (4 if side == "server" else 5), _ENCRYPTED_LABELS[side]
        return ("post-handshake/data" if self.completed else "data"), ""

    def _classify_opened(self, side: str, opened: Decrypted13) -> tuple[int | str | None, str]:
        """The kind of a record the key log opened: exact."""
        if opened.content_type == 26:
            return "ack", "the ACK"
        if opened.content_type == 21:
            if opened.alert is not None:
                self._alert(side, opened.alert, encrypted=True)
            return "alert", "an alert"
        if opened.content_type != 22:
            return "data", ""
        types = {fragment[0] for fragment in opened.fragments}
        if types & {HandshakeType.new_session_ticket, HandshakeType.key_update}:
            return "post-handshake", ""
        if side == "server":
            return 4, f"the server's {_names(types)} (flight 4)"
        return 5, f"the client's {_names(types)} (flight 5)"

    def _peer_spoke(self, side: str, number: int) -> bool:
        flight = self._flights.get((side, number))
        return flight is not None and flight.peer_since

    def _track(
        self,
        now: float,
        side: str,
        number: int,
        index: int,
        items: list[DissectedItem],
        records: int,
        size: int,
        lost: bool,
    ) -> _Transmission | None:
        """Count the datagram in its flight's transmission; the first transmission if this
        one starts a retransmission."""
        flight = self._flights.get((side, number))
        if flight is None:
            flight = self._flights[(side, number)] = _Flight(number, side)
        plaintext: set[tuple[object, ...]] = {
            (frag.msg_type, frag.message_seq, frag.fragment_offset)
            for item in items
            if isinstance(item, DtlsRecord)
            for frag in item.fragments
        }
        for opened in self._opened.values():  # decrypted fragments repeat like plaintext ones
            plaintext |= {(f[0], f[2], f[3]) for f in opened.fragments}
        new = (
            not flight.transmissions
            or bool(plaintext & flight.plaintext)
            or flight.peer_since
            or now - flight.last_time > BURST_GAP
        )
        retransmission: _Transmission | None = None
        if new and flight.transmissions and self._is_copy(flight):
            # The stateless door's copies of one HelloRetryRequest (HELLO_VERIFY_COPIES), sent
            # back to back for the same ClientHello: one transmission, not a retransmission.
            current = flight.transmissions[-1]
            current.delivered = current.delivered or not lost
            flight.last_time = now
            return None
        if new:
            if flight.transmissions:
                retransmission = flight.transmissions[0]
                previous = flight.transmissions[-1]
            flight.transmissions.append(_Transmission(now, index))
            flight.plaintext = set()
            if retransmission is not None:
                self._on_retransmission(now, flight, previous)
        current = flight.transmissions[-1]
        current.records += records
        current.size += size
        current.delivered = current.delivered or not lost
        flight.plaintext |= plaintext
        flight.last_time = now
        flight.peer_since = False
        return retransmission

    def _is_copy(self, flight: _Flight) -> bool:
        """Does a repeat of a stateless flight answer no newer request than its last
        transmission did? A stateless side sends only in answer to a request."""
        if not _FLIGHTS[(flight.side, flight.number)].stateless:
            return False
        request = self._flights.get(("client", 1))
        last = flight.transmissions[-1].time
        return request is None or request.transmissions[-1].time <= last

    def _on_retransmission(self, now: float, flight: _Flight, previous: _Transmission) -> None:
        for loss in self._losses:
            if loss.recovered_at is None and (loss.side, loss.flight) == (
                flight.side,
                flight.number,
            ):
                loss.recovered_at = now
                if loss.reported:
                    self._finding(
                        now,
                        "recovered",
                        flight.side,
                        f"{flight.side} finally retransmitted {flight.title} "
                        f"{now - loss.time:.3f} s after {loss.describe()} was lost",
                    )
        if flight.acked_before:
            self._selective.append({"side": flight.side, "flight": flight.number, "time": now})
        flight.acked_before = False
        if (
            flight.side == "client"
            and flight.number == 5
            and len(flight.transmissions) >= 4
            and not self.completed
            and "finished_not_answered" not in self._once
        ):
            self._once.add("finished_not_answered")
            self._finding(
                now,
                "finished_not_answered",
                "server",
                "the client keeps resending its Finished flight and the server never answers "
                "in epoch 3: the server cannot verify it (likely a PSK or key mismatch) or "
                "drops it",
                {"client_transmissions": len(flight.transmissions)},
            )

    def _lose(self, now: float, side: str, number: int, label: str) -> None:
        spec = _FLIGHTS[(side, number)]
        if spec.stateless:  # the HelloRetryRequest: the client repeats its ClientHello
            self._losses.append(_Loss(now, "client", 1, label, side))
        else:  # DTLS 1.3 retransmits every other flight on a timer, the final one too
            self._losses.append(_Loss(now, side, number, label, side))

    def _lose_ack(self, now: float, side: str) -> None:
        """A lost ACK: its receiver recovers by retransmitting the flight it acknowledged
        (then gets a new ACK), the newest flight of the peer seen so far."""
        peer = _OTHER[side]
        numbers = [n for (s, n) in self._flights if s == peer]
        if numbers and not self.completed:
            self._losses.append(_Loss(now, peer, max(numbers), "ACK", side))

    def _alert(self, side: str, alert: tuple[int, int], *, encrypted: bool = False) -> None:
        level, description = alert
        fatal = level == 2
        if fatal:
            self.failed = True
        kind = "a fatal" if fatal else "a warning"
        how = "encrypted, opened with the key log" if encrypted else "in the clear"
        self._finding(
            self._now,
            "alert",
            side,
            f"{side} sent {kind} alert {alert_name(description)} ({how})",
        )

    # -- time ------------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` has something to decide, or None."""
        if self.completed or self.failed:
            return None
        times = [self._deadline(loss) for loss in self._losses if _pending(loss)]
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        """Name the side that did not retransmit within the patience."""
        if self.completed or self.failed:
            return
        for loss in self._losses:
            if _pending(loss) and now >= self._deadline(loss):
                loss.reported = True
                title = _FLIGHTS[(loss.side, loss.flight)].title
                prodded = sum(
                    1
                    for flight in self._flights.values()
                    if flight.side != loss.side
                    for t in flight.transmissions[1:]
                    if t.time > loss.time and t.delivered
                )
                asked = sum(1 for t in self._delivered_acks[_OTHER[loss.side]] if t > loss.time)
                extra = (
                    f", although the {_OTHER[loss.side]} repeated its flight {prodded} times"
                    if prodded
                    else f", although the {_OTHER[loss.side]} acknowledged what it had "
                    f"{asked} times"
                    if asked
                    else ""
                )
                self._finding(
                    now,
                    "no_retransmission",
                    loss.side,
                    f"{loss.side} never retransmitted {title} after {loss.describe()} was lost "
                    f"{now - loss.time:.1f} s ago{extra}: it does not drive its retransmission "
                    "timer (DTLS 1.3: read from the records' epochs, counts and sizes)",
                    {
                        "flight": loss.flight,
                        "lost": loss.describe(),
                        "waited": round(now - loss.time, 3),
                    },
                )

    def _deadline(self, loss: _Loss) -> float:
        flight = self._flights.get((loss.side, loss.flight))
        interval = 0.0
        if flight is not None and len(flight.transmissions) > 1:
            interval = flight.transmissions[-1].time - flight.transmissions[-2].time
        return loss.time + max(self.patience, 2.2 * interval)

    # -- conclusions -----------------------------------------------------------------------

    def _complete(self, now: float) -> None:
        if self.completed:
            return
        self.completed = True
        retransmissions = {"client": 0, "server": 0}
        intervals: dict[str, list[float]] = {}
        for flight in self._flights.values():
            times = [t.time for t in flight.transmissions]
            retransmissions[flight.side] += max(0, len(times) - 1)
            if len(times) > 1:
                intervals[f"flight {flight.number}"] = [
                    round(b - a, 3) for a, b in itertools.pairwise(times)
                ]
        total = sum(retransmissions.values())
        recovered = [loss for loss in self._losses if loss.recovered_at is not None]
        parts = [
            f"DTLS 1.3 handshake completed in {now - self._start:.3f} s after {total} "
            f"retransmission{'' if total == 1 else 's'} (client {retransmissions['client']}, "
            f"server {retransmissions['server']}); ACKs: client {self._acks['client']}, "
            f"server {self._acks['server']}"
        ]
        for loss in recovered:
            assert loss.recovered_at is not None
            parts.append(
                f"{loss.side} recovered from the loss of {loss.describe()} by retransmitting "
                f"{_FLIGHTS[(loss.side, loss.flight)].title} after "
                f"{loss.recovered_at - loss.time:.3f} s"
            )
        for resend in self._selective:
            flight = self._flights[(resend["side"], resend["flight"])]
            sizes = [t.records for t in flight.transmissions]
            parts.append(
                f"{resend['side']} resent flight {resend['flight']} after the "
                f"{_OTHER[resend['side']]}'s ACK (records per transmission: "
                f"{', '.join(map(str, sizes))})"
            )
        if intervals:
            parts.append(
                "retransmission intervals: "
                + "; ".join(
                    f"{k}: {', '.join(f'{v:.3f} s' for v in vs)}" for k, vs in intervals.items()
                )
            )
        self._finding(
            now,
            "completed",
            None,
            "; ".join(parts),
            {
                "version": "DTLS 1.3",
                "duration": round(now - self._start, 6),
                "retransmissions": retransmissions,
                "intervals": intervals,
                "acks": dict(self._acks),
                "ack_driven_resends": len(self._selective),
                "recovered": [
                    {
                        "side": loss.side,
                        "flight": loss.flight,
                        "lost": loss.describe(),
                        "after": round((loss.recovered_at or 0) - loss.time, 6),
                    }
                    for loss in recovered
                ],
            },
        )

    def _finding(
        self,
        now: float,
        kind: str,
        side: str | None,
        message: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        if self.replaying:
            return
        self._add(now, kind, side, message, details)


def _looks_like_ack(length: int, tag: int) -> bool:
    """Is an encrypted record of ``length`` bytes the size of an unpadded ACK of at least one
    record: a 2-byte length, 16 bytes per record number, the inner content type and the tag
    (RFC 9147 §7)? (An empty ACK is legal but rare; a short data record would look like it.)"""
    body = length - tag - 1 - 2
    return body > 0 and body % 16 == 0


def _pending(loss: _Loss) -> bool:
    return loss.recovered_at is None and not loss.reported


def _names(types: set[int]) -> str:
    names = []
    for msg_type in sorted(types):
        try:
            names.append("".join(w.capitalize() for w in HandshakeType(msg_type).name.split("_")))
        except ValueError:
            names.append(f"type{msg_type}")
    return "/".join(names) or "handshake record"
