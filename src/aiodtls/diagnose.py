"""Diagnosis of DTLS 1.2 handshakes seen on the wire, without keys (DTLS 1.3: diagnose13).

Owns the interpretation of a datagram stream between two peers: which flight each datagram
belongs to, which datagrams are retransmissions (and of what, how long after the original),
what an impairment destroyed, and what each side did about it. From that it draws the
conclusions a person debugging a stuck handshake needs, as :class:`Finding` objects:

- ``recovered``: a side retransmitted a flight after part of it was lost (with the delay);
- ``no_retransmission``: a side did *not* retransmit within ``patience`` seconds after part
  of its flight was lost, i.e. it does not drive its retransmission timer (the Licode bug);
- ``completed``: the handshake finished, with the retransmissions and intervals observed;
- ``mtu``: datagrams over the path MTU; ``fragmented_client_hello``; ``refragmented``: a
  retransmission cut at different fragment boundaries; ``finished_not_answered``: one side
  keeps resending its Finished flight and the other never answers (a PSK or key mismatch);
  ``alert``: alerts and who sent them; ``not_dtls``: datagrams that are not DTLS;
  ``address_changed``: a ``tls12_cid`` record with the client's connection ID came from a new
  client address (a NAT rebinding, RFC 9146); ``cid_replayed``: one that was not newer than
  the client's newest record, so it must not move the peer (RFC 9146 §6, SPEC I5).

Flights are the handshake's own (:mod:`aiodtls.handshake.flights`): a message is attributed
to the flight of the table that carries it, in the shape the handshake turns out to take
(full or abbreviated: a message only one shape's flights carry decides, and a flight counts
only once the peer's flight it answers was seen). Which flights have no timer (the
HelloVerifyRequest, the final flight) and which flight is final come from the same table.

It is sans-I/O like the rest of aiodtls: the ``aiodtls proxy`` tool feeds it with
:meth:`HandshakeDiagnosis.observe` and drives :meth:`HandshakeDiagnosis.handle_timer`; tests feed
it directly. It only reads what :mod:`aiodtls.dissect` can see; epoch-1 records are opaque, so
an encrypted Finished counts as "a protected handshake record". With connection IDs the
Finished travels in a ``tls12_cid`` record whose real content type is encrypted too (RFC 9146
§4): the first ``tls12_cid`` record of the next epoch after a side's ChangeCipherSpec is taken
as its Finished, later ones as application data (or an alert: they cannot be told apart).

A DTLS 1.3 handshake (a ServerHello or HelloRetryRequest selecting it, or a unified-header
record after a ClientHello offering it) is handed over to
:class:`aiodtls.diagnose13.Diagnosis13` with the datagrams seen before; its module says what
an observer can and cannot read of DTLS 1.3.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .alerts import alert_name
from .cid_tracker import ConnectionIdTracker
from .diagnose13 import Diagnosis13, VersionWatch, shows_dtls12
from .dissect import (
    DtlsRecord,
    UnframedCidRecord,
    UnifiedRecord,
    handshake_type_name,
    summarize_items,
)
from .drops import Drop
from .handshake.flights import DTLS12, FULL, Flight, HandshakeShape
from .handshake.messages import HandshakeType
from .keylog13 import Decryptor13, KeyLog
from .record.header import ContentType

__all__ = ["Finding", "HandshakeDiagnosis", "Observation"]

SIDES = {"c2s": "client", "s2c": "server"}
_CLIENT_HELLO = HandshakeType.client_hello
_FINISHED = HandshakeType.finished
OTHER = {"client": "server", "server": "client"}


@dataclass(frozen=True)
class Finding:
    """One conclusion about a handshake."""

    time: float
    kind: str
    "``recovered``, ``no_retransmission``, ``completed``, ``mtu``, ``alert`` ..."
    side: str | None
    "``'client'``, ``'server'`` or None."
    message: str
    "The conclusion in one sentence."
    details: dict[str, Any] = field(default_factory=dict)
    "Machine-readable facts (times, counts, flights)."

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (``aiodtls proxy --json``)."""
        return {
            "type": "diagnosis",
            "time": round(self.time, 6),
            "kind": self.kind,
            "side": self.side,
            "message": self.message,
            **self.details,
        }


@dataclass(frozen=True)
class Observation:
    """What the diagnosis says about one datagram (for the timeline)."""

    time: float
    direction: str
    index: int
    size: int
    summary: str
    action: str
    "``forwarded``, ``dropped``, ``duplicated`` or ``delayed``."
    reason: str = ""
    retransmission_of: int | None = None
    "Index (same direction) of the datagram that first carried this content, if any."
    since_original: float | None = None
    flight: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (``aiodtls proxy --json``)."""
        return {
            "type": "datagram",
            "time": round(self.time, 6),
            "direction": self.direction,
            "index": self.index,
            "size": self.size,
            "summary": self.summary,
            "action": self.action,
            "reason": self.reason,
            "flight": self.flight,
            "retransmission_of": self.retransmission_of,
            "since_original": None
            if self.since_original is None
            else round(self.since_original, 6),
        }

    def __str__(self) -> str:
        arrow = "C->S" if self.direction == "c2s" else "S->C"
        line = f"{self.time:9.3f}  {arrow} #{self.index:<3} {self.size:5d} B  {self.summary}"
        if self.action != "forwarded":
            line += f"  ** {self.action.upper()}" + (f" ({self.reason})" if self.reason else "")
            line += " **"
        if self.retransmission_of is not None and self.since_original is not None:
            line += f"  [retransmission of #{self.retransmission_of}, +{self.since_original:.3f} s]"
        return line


@dataclass(frozen=True)
class _FragmentLabel:
    message: tuple[object, ...]
    position: int
    name: str
    message_seq: int


Label = _FragmentLabel | str
"What a lost datagram carried: a handshake fragment, or a short description."


@dataclass
class _Loss:
    time: float
    side: str
    "The side that must retransmit to recover."
    flight: int
    "The flight it must retransmit."
    label: Label
    sender: str
    "The side whose datagram was lost."
    recovered_at: float | None = None
    reported: bool = False


@dataclass
class _Flight:
    number: int
    side: str
    transmissions: list[float] = field(default_factory=list)
    delivered: list[bool] = field(default_factory=list)
    "Per transmission: did any of its datagrams get through?"
    current: set[tuple[object, ...]] = field(default_factory=set)


class HandshakeDiagnosis:
    """Watches one client's handshake (both directions) and produces findings."""

    def __init__(
        self,
        *,
        patience: float = 5.0,
        quiet: float = 1.0,
        on_finding: Callable[[Finding], None] | None = None,
        key_log: KeyLog | None = None,
    ) -> None:
        self.patience = patience
        "Seconds a side may take to retransmit after a loss before it is named."
        self.quiet = quiet
        "Seconds without a repeat of the flight before the final one that mean it arrived."
        self.findings: list[Finding] = []
        self._on_finding = on_finding
        self._start: float | None = None
        self._index = {"c2s": 0, "s2c": 0}
        self._first_seen: dict[tuple[object, ...], tuple[int, float]] = {}
        self._flights: dict[int, _Flight] = {}
        self._boundaries: dict[tuple[object, ...], set[tuple[int, int]]] = {}
        self._lengths: dict[tuple[object, ...], int] = {}
        self._losses: list[_Loss] = []
        self._completed = False
        self._failed = False
        self._shape: HandshakeShape | None = None
        "The handshake's shape (``flights``), once a message only it carries was seen."
        self._final_at: float | None = None
        "When the final flight was first delivered."
        self._quiet_since = 0.0
        "The last delivered final flight or repeat of the flight it answers."
        self._once: set[str] = set()
        self._mtu_drops: dict[str, int] = {}
        self.connection_ids = ConnectionIdTracker()
        "What this pair's hellos and records showed of their connection IDs (RFC 9146)."
        self._finished_due: dict[str, int] = {}
        "Per side, the epoch of its protected Finished after its ChangeCipherSpec, until seen."
        self._d13: Diagnosis13 | None = None
        "The DTLS 1.3 diagnosis, once the handshake shows that version."
        self._watch = VersionWatch()
        self.key_log = key_log
        "Secrets that open DTLS 1.3 records (``aiodtls proxy --keylog``), if given."
        self._early: list[tuple[float, str, list[Any], bytes, bool]] | None = []
        "Datagrams before the version shows (replayed into the DTLS 1.3 diagnosis)."

    @property
    def completed(self) -> bool:
        """True once the handshake is known to have finished."""
        return self._completed if self._d13 is None else self._d13.completed

    def _observe13(
        self, now: float, side: str, items: list[Any], data: bytes, action: str, reason: str
    ) -> Observation:
        """Hand the datagram to the DTLS 1.3 diagnosis (made, the earlier ones replayed)."""
        assert self._start is not None
        if self._d13 is None:
            decryptor = None if self.key_log is None else Decryptor13(self.key_log)
            self._d13 = Diagnosis13(
                self._add, patience=self.patience, start=self._start, decryptor=decryptor
            )
            self._d13.replaying = True
            for early in self._early or ():
                self._d13.observe(*early)
            self._d13.replaying = False
            self._early = None
        direction = "c2s" if side == "client" else "s2c"
        seen = self._d13.observe(now, side, items, data, action == "dropped")
        index = self._index[direction] - 1
        size = len(data)
        return Observation(now - self._start, direction, index, size, *seen.fields(action, reason))

    # -- input -----------------------------------------------------------------------------

    def observe(
        self, now: float, direction: str, data: bytes, action: str = "forwarded", reason: str = ""
    ) -> Observation:
        """Take one datagram sent in ``direction`` (``'c2s'``/``'s2c'``) and what the path
        did to it; return its timeline entry."""
        if self._start is None:
            self._start = now
        side = SIDES[direction]
        index = self._index[direction]
        self._index[direction] += 1
        items = self.connection_ids.dissect(direction, data)
        lost = action == "dropped"
        if self._d13 is not None or self._watch.shows_dtls13(items):
            return self._observe13(now, side, items, data, action, reason)
        if self._early is not None:
            self._early.append((now, side, items, data, lost))
            if shows_dtls12(items) or len(self._early) > 64:
                self._early = None  # DTLS 1.2 (or too long to replay)
        protected_data = False
        retransmission_of: int | None = None
        since: float | None = None
        flight_numbers: set[int] = set()
        described: list[Label] = []
        for item in items:
            if isinstance(item, (Drop, UnifiedRecord)):
                if isinstance(item, Drop) and item.offset == 0:
                    self._report_once(
                        f"not_dtls:{side}",
                        now,
                        "not_dtls",
                        side,
                        f"{side} sent a datagram that is not DTLS 1.2 ({item})",
                    )
                continue
            keys = self._keys(side, item)
            if not keys and _is_cid_record(item):
                protected_data = True  # application data or an alert: the type is encrypted
            for key, flight, label in keys:
                flight_numbers.add(flight)
                first = self._first_seen.get(key)
                if first is None:
                    self._first_seen[key] = (index, now)
                elif retransmission_of is None:
                    retransmission_of, since = first[0], now - first[1]
                self._track_flight(now, side, flight, key, delivered=not lost)
                if lost:
                    described.append(label)
            if isinstance(item, DtlsRecord):
                self._inspect(now, side, item)
        shape = self._shape or FULL
        if lost and described:
            for number in flight_numbers:
                spec = self._flight(side, number)
                answered = shape.previous(spec) if spec.timerless else None
                # The HelloVerifyRequest and the final flight have no timer of their own: the
                # peer recovers them by repeating its previous flight (RFC 6347 §4.2.4).
                if answered is not None:
                    owner, to_resend = answered.sender.value, answered.number
                else:
                    owner, to_resend = side, number
                self._losses.append(_Loss(now, owner, to_resend, described[0], side))
        if not lost and shape.final.number in flight_numbers:
            if self._final_at is None:
                self._final_at = now
            self._quiet_since = now
        if lost and reason == "mtu":
            self._mtu_drops[side] = max(self._mtu_drops.get(side, 0), len(data))
            self._report_once(
                f"mtu:{side}",
                now,
                "mtu",
                side,
                f"{side} sent a {len(data)}-byte datagram over the path MTU; it was dropped "
                "(watch whether later transmissions are smaller: MTU back-off)",
                {"size": len(data)},
            )
        answered = shape.previous(shape.final)
        if (
            not lost
            and answered is not None
            and answered.number in self._flights
            and shape.final.number in self._flights
            # The final flight's sender sends data right after it, arrived or not (the client
            # of a resumed handshake): only its receiver's data, or a delivered final flight,
            # shows that it got through.
            and (side != shape.final.sender.value or self._final_at is not None)
            and (
                protected_data
                or any(
                    isinstance(i, DtlsRecord) and i.content_type == ContentType.application_data
                    for i in items
                )
            )
        ):
            # Application data after both Finished flights: the handshake is over. (Without
            # them it is a stale session or noise, not this handshake's completion.)
            self._complete(now)
        return Observation(
            time=now - self._start,
            direction=direction,
            index=index,
            size=len(data),
            summary=summarize_items(items),
            action=action,
            reason=reason,
            retransmission_of=retransmission_of,
            since_original=since,
            flight=min(flight_numbers) if flight_numbers else None,
        )

    def note_address_change(
        self, now: float, *, old: str, new: str, connection_id: bytes, record: tuple[int, int]
    ) -> bool:
        """A ``tls12_cid`` record carrying the client's connection ID came from client address
        ``new`` rather than ``old``; ``record`` is its (epoch, sequence_number).

        A record newer than any the client sent is a move (``address_changed``, True): a NAT
        rebinding, or a forgery only the server can tell by authenticating it. One that is not
        newer is a replay or a reordered record (``cid_replayed``, False): RFC 9146 §6 (SPEC
        I5) forbids moving the peer for it.
        """
        cid = connection_id.hex()
        epoch, sequence_number = record
        details: dict[str, Any] = {
            "from": old,
            "to": new,
            "connection_id": cid,
            "epoch": epoch,
            "sequence_number": sequence_number,
        }
        newest = self.connection_ids.newest_client_record
        if newest is None or record > newest:
            self._add(
                now,
                "address_changed",
                "client",
                f"client address changed from {old} to {new}: its tls12_cid record (epoch "
                f"{epoch}, seq {sequence_number}) carries connection ID {cid}, seen from {old} "
                "before (a NAT rebinding); a server that routes by CID keeps the session and "
                "moves the peer once this newer record authenticates (RFC 9146 §6)",
                details,
            )
            return True
        self._add(
            now,
            "cid_replayed",
            "client",
            f"a tls12_cid record with connection ID {cid} (epoch {epoch}, seq "
            f"{sequence_number}) came from {new}, but the client at {old} already sent epoch "
            f"{newest[0]}, seq {newest[1]}: a replayed or reordered record, which must not "
            "move the peer address (RFC 9146 §6)",
            {**details, "newest": list(newest)},
        )
        return False

    def _keys(
        self, side: str, record: DtlsRecord | UnframedCidRecord
    ) -> list[tuple[tuple[object, ...], int, Label]]:
        """(content key, flight, description) for what the record carries."""
        if isinstance(record, UnframedCidRecord) or record.content_type == ContentType.tls12_cid:
            return self._cid_finished(side, record.epoch)
        out: list[tuple[tuple[object, ...], int, Label]] = []
        if record.content_type == ContentType.handshake and not record.encrypted:
            for frag in record.fragments:
                flight = self._flight_of(side, frag.msg_type, frag.cookie_length)
                if flight is None:
                    continue
                key = (
                    side,
                    frag.msg_type,
                    frag.message_seq,
                    frag.fragment_offset,
                    frag.fragment_length,
                )
                message = (side, frag.msg_type, frag.message_seq)
                self._boundaries.setdefault(message, set())
                self._lengths[message] = frag.length
                offsets = {o for o, _ in self._boundaries[message]} | {frag.fragment_offset}
                position = sorted(offsets).index(frag.fragment_offset) + 1
                label = _FragmentLabel(message, position, frag.name, frag.message_seq)
                out.append((key, flight, label))
        elif record.content_type == ContentType.handshake:
            out.append(self._encrypted_finished(side, record.epoch))
        elif record.content_type == ContentType.change_cipher_spec:
            self._finished_due[side] = record.epoch + 1
            flight = self._flight_of(side, None, None)
            if flight is not None:
                out.append(((side, "ccs", record.epoch), flight, "the ChangeCipherSpec"))
        return out

    def _encrypted_finished(self, side: str, epoch: int) -> tuple[tuple[object, ...], int, Label]:
        """(content key, flight, description) of a side's Finished, which is encrypted."""
        flight = self._flight_of(side, _FINISHED, None)
        assert flight is not None  # every shape has a Finished of each side
        return ((side, "protected-handshake", epoch), flight, "the encrypted Finished")

    def _flight_of(self, side: str, msg_type: int | None, cookie_length: int | None) -> int | None:
        """The number of the flight of ``side`` that carries ``msg_type`` (None: the
        ChangeCipherSpec), or None if no flight of the table carries it.

        Among the shapes still possible, a flight counts only once the peer's flight it
        answers was seen (a server's NewSessionTicket before the client's flight 5 belongs
        to the abbreviated handshake's flight 4, not to flight 6); a ClientHello with a cookie
        is flight 3. When the flights that fit belong to one shape, that is the handshake's.
        """
        shapes = (self._shape,) if self._shape is not None else DTLS12.shapes
        fits: list[tuple[HandshakeShape, Flight]] = []
        carrying: list[tuple[HandshakeShape, Flight]] = []
        for shape in shapes:
            for flight in shape.flights:
                if flight.sender.value != side or not flight.carries_message(msg_type):
                    continue
                if msg_type == _CLIENT_HELLO and flight.cookie_exchange != bool(cookie_length):
                    continue
                carrying.append((shape, flight))
                answered = shape.previous(flight)
                if answered is None or answered.cookie_exchange or answered.number in self._flights:
                    fits.append((shape, flight))
        fits = fits or carrying  # out of order (or noise): still name a flight
        if not fits:
            return None
        if self._shape is None and len({shape for shape, _ in fits}) == 1 and len(shapes) > 1:
            self._shape = fits[0][0]
        return min(flight.number for _, flight in fits)

    def _flight(self, side: str, number: int) -> Flight:
        """The table's flight ``number`` of ``side`` in the handshake's shape (the full one
        until the shape is known)."""
        for shape in (self._shape or FULL, *DTLS12.shapes):
            for flight in shape.flights:
                if flight.number == number and flight.sender.value == side:
                    return flight
        raise ValueError(f"no flight {number} of the {side}")

    def _cid_finished(self, side: str, epoch: int) -> list[tuple[tuple[object, ...], int, Label]]:
        """The Finished key if this ``tls12_cid`` record of ``epoch`` is the side's Finished.

        RFC 9146 §4 encrypts the real content type, but the Finished is the first record of
        the epoch after the side's ChangeCipherSpec, so that epoch names it; later records are
        application data (or alerts).
        """
        if self._finished_due.get(side) != epoch:
            return []
        del self._finished_due[side]
        return [self._encrypted_finished(side, epoch)]

    def _track_flight(
        self, now: float, side: str, number: int, key: tuple[object, ...], *, delivered: bool
    ) -> None:
        flight = self._flights.get(number)
        if flight is None:
            flight = self._flights[number] = _Flight(number, side)
        if not flight.transmissions or key in flight.current:
            if flight.transmissions and self._is_copy(side, number, flight):
                # A stateless server's copies of one answer (HELLO_VERIFY_COPIES), sent back
                # to back for the same request: one transmission, not a retransmission.
                flight.delivered[-1] = flight.delivered[-1] or delivered
                return
            # Content already sent in this transmission: a new transmission of the flight.
            if flight.transmissions:
                self._on_retransmission(now, flight)
            flight.transmissions.append(now)
            flight.delivered.append(False)
            flight.current = set()
        flight.current.add(key)
        if delivered:
            flight.delivered[-1] = True
        if len(key) == 5:  # a plaintext fragment: watch its boundaries
            message = key[:3]
            boundary = (int(key[3]), int(key[4]))  # type: ignore[call-overload]
            first = self._boundaries.setdefault(message, set())
            if len(flight.transmissions) == 1:
                first.add(boundary)
            elif first and boundary not in first and not self._completed:
                self._report_once(
                    f"refragmented:{message}",
                    now,
                    "refragmented",
                    side,
                    f"{side} cut its retransmission of {handshake_type_name(int(key[1]))} at "  # type: ignore[call-overload]
                    "different fragment boundaries; receivers that match fragments by offset "
                    "instead of covering bytes never complete it (pion before #1099)",
                )
        shape = self._shape or FULL
        answered = shape.previous(shape.final)
        if (
            answered is not None
            and number == answered.number
            and shape.final.number in self._flights
        ):
            # The peer repeats the flight the final one answers: either the final flight was
            # lost, or the repeat crossed it. Completion needs ``quiet`` seconds without a
            # repeat after a delivered final flight.
            self._quiet_since = now

    def _is_copy(self, side: str, number: int, flight: _Flight) -> bool:
        """Does a repeat of stateless ``flight`` answer no newer request than its last
        transmission did? A stateless side sends only in answer to a request, so such a
        repeat is a copy of that answer."""
        table = self._flight(side, number)
        if not table.stateless:
            return False
        answered = (self._shape or FULL).previous(table)
        request = None if answered is None else self._flights.get(answered.number)
        return request is None or request.transmissions[-1] <= flight.transmissions[-1]

    def _on_retransmission(self, now: float, flight: _Flight) -> None:
        for loss in self._losses:
            if (
                loss.recovered_at is None
                and loss.side == flight.side
                and loss.flight == flight.number
            ):
                loss.recovered_at = now
                if loss.reported:
                    self._add(
                        now,
                        "recovered",
                        flight.side,
                        f"{flight.side} finally retransmitted "
                        f"{self._flight(flight.side, flight.number).title} "
                        f"{now - loss.time:.3f} s after {self._describe(loss)} was lost",
                    )
        shape = self._shape or FULL
        answered = shape.previous(shape.final)  # the first flight with a Finished
        if (
            answered is not None
            and flight.number == answered.number
            and len(flight.transmissions) >= 4
            and shape.final.number not in self._flights
        ):
            sender, peer = flight.side, OTHER[flight.side]
            self._report_once(
                "finished_not_answered",
                now,
                "finished_not_answered",
                peer,
                f"the {sender} keeps resending its Finished flight and the {peer} never "
                f"answers: the {peer} cannot verify it (likely a PSK or key mismatch) or "
                "drops it",
                {f"{sender}_transmissions": len(flight.transmissions)},
            )

    def _inspect(self, now: float, side: str, record: DtlsRecord) -> None:
        for frag in record.fragments:
            if frag.msg_type == HandshakeType.client_hello and not frag.is_whole:
                self._report_once(
                    "fragmented_client_hello",
                    now,
                    "fragmented_client_hello",
                    "client",
                    f"the client fragmented its ClientHello ({frag.length} bytes, fragment "
                    f"{frag.fragment_offset}+{frag.fragment_length}); several servers "
                    "(mbedTLS 2.x, wolfSSL, stateless cookie checks) cannot reassemble it",
                    {"length": frag.length},
                )
        if record.content_type == ContentType.alert:
            if record.alert is not None:
                level, description = record.alert
                fatal = level == 2
                kind = "a fatal" if fatal else "a warning"
                text = f"{side} sent {kind} alert {alert_name(description)}"
                if fatal:
                    self._failed = True
            else:
                text = (
                    f"{side} sent an encrypted alert (close_notify or an error after the handshake)"
                )
            self._add(now, "alert", side, text)

    # -- time ------------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` has something to decide, or None."""
        if self._d13 is not None:
            return self._d13.get_timer()
        if self._completed or self._failed:
            return None
        times = [self._deadline(loss) for loss in self._losses if _pending(loss)]
        if self._final_at is not None:
            times.append(self._quiet_since + self.quiet)
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        """Name the side that did not retransmit in time; notice a quiet completion."""
        if self._d13 is not None:
            return self._d13.handle_timer(now)
        if self._completed or self._failed:
            return
        for loss in self._losses:
            if _pending(loss) and now >= self._deadline(loss):
                loss.reported = True
                prodded = self._repeats_of_peer_since(loss)
                extra = (
                    f", although the {OTHER[loss.side]} repeated its own flight {prodded} times"
                    if prodded
                    else ""
                )
                self._add(
                    now,
                    "no_retransmission",
                    loss.side,
                    f"{loss.side} never retransmitted "
                    f"{self._flight(loss.side, loss.flight).title} after "
                    f"{self._describe(loss)} was lost {now - loss.time:.1f} s ago{extra}: "
                    "it does not drive its retransmission timer",
                    {
                        "flight": loss.flight,
                        "lost": self._describe(loss),
                        "waited": round(now - loss.time, 3),
                    },
                )
        if self._final_at is not None and now >= self._quiet_since + self.quiet:
            self._complete(self._final_at)

    def _describe(self, loss: _Loss) -> str:
        label = loss.label
        if isinstance(label, str):
            text = label
        else:
            count = len(self._boundaries.get(label.message, ())) or label.position
            text = (
                f"fragment {label.position}/{max(count, label.position)} of {label.name} "
                f"(message_seq {label.message_seq})"
            )
        if loss.sender == loss.side:
            return text
        # "the ChangeCipherSpec" -> "the server's ChangeCipherSpec", not "the server's the ...".
        return f"the {loss.sender}'s {text.removeprefix('the ')}"

    def _deadline(self, loss: _Loss) -> float:
        """When silence after a loss becomes a finding: ``patience``, or longer once the side
        has shown a timer on this flight whose doubled interval is longer than that."""
        flight = self._flights.get(loss.flight)
        interval = 0.0
        if flight is not None and len(flight.transmissions) > 1:
            interval = flight.transmissions[-1] - flight.transmissions[-2]
        return loss.time + max(self.patience, 2.2 * interval)

    def _repeats_of_peer_since(self, loss: _Loss) -> int:
        """Repeats of the peer's flights that got through to this side after the loss."""
        peer = OTHER[loss.side]
        return sum(
            1
            for flight in self._flights.values()
            if flight.side == peer
            for t, delivered in zip(flight.transmissions[1:], flight.delivered[1:], strict=True)
            if t > loss.time and delivered
        )

    # -- conclusions -----------------------------------------------------------------------

    def _complete(self, now: float) -> None:
        if self._completed:
            return
        self._completed = True
        start = now if self._start is None else self._start
        retransmissions = {"client": 0, "server": 0}
        intervals: dict[str, list[float]] = {}
        for flight in self._flights.values():
            retransmissions[flight.side] += max(0, len(flight.transmissions) - 1)
            if len(flight.transmissions) > 1:
                times = flight.transmissions
                intervals[f"flight {flight.number}"] = [
                    round(b - a, 3) for a, b in itertools.pairwise(times)
                ]
        total = sum(retransmissions.values())
        recovered = [loss for loss in self._losses if loss.recovered_at is not None]
        parts = [
            f"handshake completed in {now - start:.3f} s after {total} retransmission"
            + ("" if total == 1 else "s")
            + f" (client {retransmissions['client']}, server {retransmissions['server']})"
        ]
        for loss in recovered:
            assert loss.recovered_at is not None
            parts.append(
                f"{loss.side} recovered from the loss of {self._describe(loss)} by retransmitting "
                f"{self._flight(loss.side, loss.flight).title} "
                f"after {loss.recovered_at - loss.time:.3f} s"
            )
        if intervals:
            parts.append(
                "retransmission intervals: "
                + "; ".join(
                    f"{k}: {', '.join(f'{v:.3f} s' for v in vs)}" for k, vs in intervals.items()
                )
            )
        self._add(
            now,
            "completed",
            None,
            "; ".join(parts),
            {
                "duration": round(now - start, 6),
                "retransmissions": retransmissions,
                "intervals": intervals,
                "recovered": [
                    {
                        "side": loss.side,
                        "flight": loss.flight,
                        "lost": self._describe(loss),
                        "after": round((loss.recovered_at or 0) - loss.time, 6),
                    }
                    for loss in recovered
                ],
            },
        )

    def _report_once(
        self,
        key: str,
        now: float,
        kind: str,
        side: str | None,
        message: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        if key in self._once:
            return
        self._once.add(key)
        self._add(now, kind, side, message, details)

    def _add(
        self,
        now: float,
        kind: str,
        side: str | None,
        message: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        start = now if self._start is None else self._start
        finding = Finding(now - start, kind, side, message, details or {})
        self.findings.append(finding)
        if self._on_finding is not None:
            self._on_finding(finding)


def _is_cid_record(record: DtlsRecord | UnframedCidRecord) -> bool:
    return isinstance(record, UnframedCidRecord) or record.content_type == ContentType.tls12_cid


def _pending(loss: _Loss) -> bool:
    return loss.recovered_at is None and not loss.reported
