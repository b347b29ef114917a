"""The receiving side of DTLS 1.3 ACKs: which of the peer's records to acknowledge, and when
(RFC 9147 §7, §7.1, §5.8.1; SPEC V17, V18, X28).

Owns the record numbers (epoch, sequence number) of the peer's handshake records received in
the current flight, and the deadline of the next ACK. The rules it applies, from RFC 9147:

- only records of content type handshake that were processed or buffered are listed (§7:
  never one discarded as out of order, nor one that could not be deprotected): the connection
  calls :meth:`AckTracker.on_record` only for those;
- an ACK covers the current flight only (§7): a new flight's first record, or the start of
  our own answer, clears the list (:meth:`AckTracker.flight_complete` without
  ``acknowledge``, :meth:`AckTracker.reset`);
- a partial flight is acknowledged after a delay: a timer of 1/4 of the current retransmit
  timer from the flight's first record (§7.1, "one approach"), or at once when a record
  arrives out of order (§7.1, RECOMMENDED);
- a flight answered by our next flight is implicitly acknowledged and gets no ACK (§7.1: all
  handshake flights but the client's final one); the client's final flight and every
  post-handshake message (NewSessionTicket, KeyUpdate) MUST be acknowledged, at once here,
  and so is each retransmission of them (§5.8.1: the server in FINISHED answers a
  retransmitted final flight with its ACK again);
- after the handshake, each record is acknowledged once and an ACK may cover several flights
  (§7);
- the numbers go out in increasing order (§7), as many as fit, those not yet acknowledged
  first (§7.1);
- an ACK is sent in the highest current sending epoch, never epoch 1 (the RFC 9147 erratum
  8107 / rfc9147bis: epoch 0 instead), and names no record of a higher epoch than its own
  (§7: "equal to or higher than the record which is being acknowledged"; rfc9147bis §7.2:
  the receiver of such an ACK aborts with illegal_parameter): :func:`ack_epoch` and the
  ``max_epoch`` of :meth:`AckTracker.take_ack`;
- no ACK at all, not even an empty one, before the peer is known to speak DTLS 1.3, and ACKs
  received in epoch 0 before then are ignored (rfc9147bis §7): the connection's to enforce.

It encodes nothing (the ACK body is ``handshake.messages.tls13``'s) and sends nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from ..alerts import AlertIllegalParameter
from .timer import RetransmissionTimer

__all__ = [
    "ACK_DELAY_FRACTION",
    "RECORD_NUMBER_LENGTH",
    "AckTracker",
    "ack_capacity",
    "ack_epoch",
    "check_ack_epochs",
]

ACK_DELAY_FRACTION: Final = 0.25
"The delay of an ACK for a partial flight, as a share of the current retransmit timer (§7.1)."
RECORD_NUMBER_LENGTH: Final = 16
"One RecordNumber in an ACK: uint64 epoch, uint64 sequence_number (RFC 9147 §4)."
MAX_TRACKED: Final = 256
"Most record numbers remembered (a flight of a few dozen records needs far fewer)."

RecordNumber = tuple[int, int]


def ack_capacity(room: int) -> int:
    """How many record numbers an ACK body fits in ``room`` bytes (a 2-byte length, then 16
    bytes each; at most 2^16-1 bytes of them)."""
    return max(0, min(room - 2, 0xFFFF) // RECORD_NUMBER_LENGTH)


def ack_epoch(write_epoch: int) -> int:
    """The epoch an ACK goes out in: the highest current sending epoch (RFC 9147 §7: SHOULD
    during the handshake, MUST after it), except epoch 1, early data, where epoch 0 is used
    instead (rfc9147bis §7, erratum 8107)."""
    return 0 if write_epoch == 1 else write_epoch


def check_ack_epochs(record_numbers: Iterable[RecordNumber], epoch: int) -> None:
    """Raise :class:`~aiodtls.alerts.AlertIllegalParameter` if an ACK received in ``epoch``
    names a record of a higher epoch (rfc9147bis §7.2: "MUST terminate the connection with an
    illegal_parameter alert"; SPEC V17, X28)."""
    for record_epoch, _ in record_numbers:
        if record_epoch > epoch:
            raise AlertIllegalParameter(
                f"ACK in epoch {epoch} acknowledges a record of epoch {record_epoch}"
            )


class AckTracker:
    """The peer's records to acknowledge and when (see the module docstring).

    ``timer`` is the connection's retransmission timer: a partial flight's ACK waits
    :data:`ACK_DELAY_FRACTION` of its current value.
    """

    __slots__ = ("_explicit", "_numbers", "_post_handshake", "_repeats", "deadline", "timer")

    def __init__(self, timer: RetransmissionTimer) -> None:
        self.timer = timer
        self._numbers: dict[RecordNumber, bool] = {}
        "Record number -> already named in an ACK we sent; in arrival order."
        self._explicit = False
        "The current flight was complete and must be acknowledged (so must its repeats)."
        self._post_handshake = False
        self._repeats = 0
        "ACKs sent for the current flight since it last made progress (the repeat back-off)."
        self.deadline: float | None = None
        "When an ACK is due (None: none is)."

    @property
    def pending(self) -> list[RecordNumber]:
        """The record numbers an ACK would name now, in increasing order."""
        return sorted(self._numbers)

    def on_record(
        self, epoch: int, sequence_number: int, now: float, *, out_of_order: bool = False
    ) -> None:
        """A handshake record of the peer was processed or buffered. ``out_of_order``: it
        carried a message or fragment that is not the next expected one (an ACK is due at
        once, §7.1); otherwise an ACK is due after the delay, or at once if the flight must
        be acknowledged (its repeats, and every post-handshake message)."""
        number = (epoch, sequence_number)
        if number not in self._numbers:
            self._numbers[number] = False
            self._repeats = 0
            if len(self._numbers) > MAX_TRACKED:
                self._forget_one()
        if self._explicit or self._post_handshake or out_of_order:
            self.deadline = now
        else:
            delayed = now + ACK_DELAY_FRACTION * self.timer.rto
            if self.deadline is None or delayed < self.deadline:
                self.deadline = delayed

    def on_undecryptable(self, now: float) -> None:
        """A record of the peer's flight could not be deprotected yet (e.g. EncryptedExtensions
        before the ServerHello): arm the delay, so that an ACK, empty if need be, tells the
        peer to retransmit sooner than its timer (§7.1). Only once DTLS 1.3 is selected."""
        if self.deadline is None:
            self.deadline = now + ACK_DELAY_FRACTION * self.timer.rto

    def flight_complete(self, now: float, *, acknowledge: bool = False) -> None:
        """The peer's whole flight arrived. Without ``acknowledge`` our next flight answers it
        (an implicit ACK, §7.1): the list is cleared and no ACK is sent. With it (the server
        received the client's final flight; a post-handshake flight), the ACK is due now and
        the flight's later retransmissions are acknowledged again at once."""
        if acknowledge:
            self._explicit = True
            self.deadline = now
        else:
            self.reset()

    def handshake_complete(self) -> None:
        """The handshake is over: from now on every handshake record (NewSessionTicket,
        KeyUpdate, a repeated final flight) is acknowledged at once, each once (§7)."""
        self._post_handshake = True

    def reset(self) -> None:
        """Forget the current flight (the peer's next flight starts, or ours answers it)."""
        self._numbers = {}
        self._explicit = False
        self._repeats = 0
        self.deadline = None

    def ack_due(self, now: float) -> bool:
        """Is an ACK due at ``now``?"""
        return self.deadline is not None and now >= self.deadline

    def take_ack(
        self,
        *,
        max_records: int | None = None,
        max_epoch: int | None = None,
        now: float | None = None,
    ) -> list[RecordNumber]:
        """The record numbers for the ACK to send now, in increasing order (§7). At most
        ``max_records`` (see :func:`ack_capacity`): numbers not yet acknowledged first (the
        oldest of them first: they have waited longest), then the newest acknowledged ones
        (§7.1); none above ``max_epoch``, the epoch the ACK goes in (those wait for a later
        ACK). The list may be empty (an empty ACK). The deadline is cleared, unless more new
        numbers remain than fitted: then another ACK is due at once.

        During the handshake the numbers stay, so a later ACK of the same flight repeats
        them (a lost ACK costs nothing); after it, each record is acknowledged once.

        With ``now``, an ACK of a flight still incomplete during the handshake is repeated if
        nothing new arrives: one base retransmission timeout later, doubling each time (up
        to the policy's ``max_rto``). The sender answers a repeated ACK by resending what it
        does not name (``FlightSender.on_ack``): a lost ACK, or a lost resend, costs a timeout
        of the receiver's, not the sender's (which, for a certificate flight, also allows for
        the receiver's processing)."""
        eligible = [
            number for number in self._numbers if max_epoch is None or number[0] <= max_epoch
        ]
        chosen = eligible
        if max_records is not None and len(eligible) > max_records:
            fresh = [n for n in eligible if not self._numbers[n]]
            stale = [n for n in eligible if self._numbers[n]]
            chosen = fresh[:max_records]
            if len(chosen) < max_records:
                chosen = stale[len(stale) - (max_records - len(chosen)) :] + chosen
        for number in chosen:
            if self._post_handshake:
                del self._numbers[number]
            else:
                self._numbers[number] = True
        if self._post_handshake and not self._numbers:
            # An emptied dict keeps the room the handshake's flights made (224 B against
            # 64 for a new one), held by every established connection.
            self._numbers = {}
        if len(chosen) == len(eligible) or all(self._numbers.get(n, True) for n in eligible):
            self.deadline = None  # else more than one ACK's worth is new: the next is due too
            if now is not None and not self._explicit and not self._post_handshake:
                timer = self.timer
                repeat = timer.base_rto() * 2**self._repeats
                self.deadline = now + min(repeat, max(timer.policy.max_rto, timer.base_rto()))
                self._repeats += 1
        return sorted(chosen)

    def _forget_one(self) -> None:
        """Drop the oldest number already acknowledged, else the oldest one."""
        for number, acknowledged in self._numbers.items():
            if acknowledged:
                del self._numbers[number]
                return
        del self._numbers[next(iter(self._numbers))]
