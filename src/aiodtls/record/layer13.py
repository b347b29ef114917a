"""The DTLS 1.3 record layer of one association: epochs, sequence numbers, replay, AEAD limits.

Owns, per direction and epoch, the :class:`~aiodtls.record.protection13.RecordProtection13` in
use, the next sequence number to send, a replay window per read epoch, the count of records
sealed and of records that failed authentication under each key (RFC 9147 §4.5.3, SPEC V7),
and a small bounded store of records that arrive before their epoch's keys (the server's
EncryptedExtensions in the datagram that carries its ServerHello, a client's first
application data overtaking its Finished).

Epoch 0 is plaintext: DTLSPlaintext records with the 13-byte header, whose
``legacy_record_version`` is sent as {254, 253} and ignored on receipt (RFC 9147 §4: "MUST be
ignored for all purposes"). Epochs 1 and up use the unified header and record number
encryption (SPEC V1-V5). A received datagram is framed once, by
:func:`~aiodtls.wire.split_datagram13` (demultiplexing by first byte, RFC 9147 §4.1), then
each protected record's epoch is the installed read epoch whose two low bits match the
header's (§4.2.2: during the handshake they name the key unambiguously; after it, the most
recent epoch with those bits). At most two protected read epochs are kept, the newest and
the one before it (reordering across a KeyUpdate, and RFC 9147 §8: the old keys stay until
the new ones have opened a record; :meth:`RecordLayer13.discard_read` drops one earlier).

It does not know what records mean: the connection routes the :class:`Opened13` records by
content type, and decides what to do when :attr:`RecordLayer13.needs_key_update` or
:attr:`RecordLayer13.integrity_limit_exceeded` says so. Every record that fails comes back as
a :class:`~aiodtls.drops.Drop` (RFC 9147 §4.5.2: invalid records are silently discarded), and
nothing here raises on network input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ..budget import BufferBudget
from ..drops import Drop, DropReason
from ..wire import (
    DTLS1_2,
    DTLS13_PLAINTEXT_TYPES,
    MAX_PLAINTEXT_LENGTH,
    MAX_SEQUENCE_NUMBER,
    RECORD_HEADER_LENGTH,
    RawRecord,
    UnifiedRecord,
    encode_record_header,
    split_datagram13,
)
from .layer import PLAIN_SEEN, SequenceNumberExhausted
from .protection13 import MAX_SEQUENCE_NUMBER_13, RecordProtection13
from .replay import ReplayWindow

__all__ = [
    "AEAD_LIMITS",
    "KEY_UPDATE_AT",
    "AeadLimitReached",
    "AeadLimits",
    "Opened13",
    "RecordLayer13",
]


_LENGTH_FIELD = 2
"The unified header's length, which the last record of a datagram leaves out (RFC 9147 §4)."


@dataclass(frozen=True, slots=True)
class Opened13:
    """One DTLS 1.3 record that was accepted: authenticated (or epoch-0 plaintext), no replay."""

    epoch: int
    "The full epoch: 0 for plaintext, else the read epoch whose keys opened it."

    sequence_number: int
    "The full record sequence number (48 bits in epoch 0, reconstructed 64 bits otherwise)."

    content_type: int
    "The real content type: the header's in epoch 0, the inner plaintext's otherwise."

    payload: bytes
    "The record's content, padding removed."

    @property
    def record_number(self) -> tuple[int, int]:
        """(epoch, sequence_number): the RecordNumber an ACK names (RFC 9147 §4)."""
        return (self.epoch, self.sequence_number)


@dataclass(frozen=True, slots=True)
class AeadLimits:
    """How many records one key may protect, and how many forgeries one key may reject."""

    confidentiality: int
    "Records sealed under one key before a KeyUpdate is needed (RFC 8446 §5.5, RFC 9147 §4.5.3)."

    integrity: int
    "Records that may fail authentication under one key (RFC 9147 §4.5.3)."


AEAD_LIMITS: Final[Mapping[int, AeadLimits]] = {
    # AES-GCM: 2^24.5 full-size records (RFC 8446 §5.5); 2^36 failures (RFC 9147 §4.5.3).
    0x1301: AeadLimits(int(2**24.5), 1 << 36),
    0x1302: AeadLimits(int(2**24.5), 1 << 36),
    # ChaCha20-Poly1305: "the record sequence number would wrap before the safety limit is
    # reached" (RFC 8446 §5.5); 2^36 failures.
    0x1303: AeadLimits(MAX_SEQUENCE_NUMBER_13, 1 << 36),
    # AES-CCM: 2^23 records, 2^23.5 failures (RFC 9147 §4.5.3, Appendix B).
    0x1304: AeadLimits(1 << 23, int(2**23.5)),
    # AES-CCM-8: the same 2^23 for confidentiality; for forgeries the analysis gives 2^7
    # (Appendix B.3), which invites a cheap denial of service: the suite is opt-in only
    # (RFC 9147 §4.5.3: "MUST NOT be used in DTLS without additional safeguards"), and a
    # deployment with such safeguards passes its own limits to RecordLayer13.
    0x1305: AeadLimits(1 << 23, 1 << 7),
}
"The usage limits of each TLS 1.3 suite's AEAD, keyed by the suite number."

KEY_UPDATE_AT: Final = 0.75
"""The share of a limit at which :attr:`RecordLayer13.needs_key_update` turns true: RFC 9147
§4.5.3 says to update "before reaching this limit", so well before it."""

_PROTECTED_READ_EPOCHS = 2
"Protected read epochs kept at once: the newest and the previous one."
_PROTECTED_WRITE_EPOCHS = 2
"Protected write epochs kept at once (a retransmission uses its flight's original epoch)."


class AeadLimitReached(SequenceNumberExhausted):
    """The write epoch sealed as many records as its AEAD allows (RFC 8446 §5.5): a KeyUpdate
    had to come first; the connection must close (as when sequence numbers run out)."""


_NO_CIDS: frozenset[bytes] = frozenset()


class _ReadEpoch13:
    __slots__ = ("epoch", "failed", "integrity_limit", "protection", "window")

    def __init__(self, protection: RecordProtection13, limits: AeadLimits) -> None:
        self.epoch = protection.epoch
        self.protection = protection
        self.window = ReplayWindow()
        self.failed = 0
        self.integrity_limit = limits.integrity


class _WriteEpoch13:
    __slots__ = ("limit", "next_sequence_number", "overhead", "protection", "sealed")

    def __init__(self, protection: RecordProtection13 | None, limits: AeadLimits | None) -> None:
        self.protection = protection
        self.next_sequence_number = 0
        self.sealed = 0
        self.limit = MAX_SEQUENCE_NUMBER if limits is None else limits.confidentiality
        "Records this key may seal (RFC 8446 §5.5); epoch 0 is bounded by its 48 bits only."
        self.overhead = RECORD_HEADER_LENGTH if protection is None else protection.overhead


class RecordLayer13:
    """Read and write state of one DTLS 1.3 association (see the module docstring).

    ``max_held_records`` and ``max_held_bytes`` bound the records kept for a read epoch whose
    keys are not installed yet (``budget``, if given, is the endpoint-wide cap they also draw
    on); ``aead_limits`` replaces :data:`AEAD_LIMITS` (e.g. a deployment of
    TLS_AES_128_CCM_8_SHA256 with its own safeguards).
    """

    # Slotted, and no empty containers kept per connection where a shared one does: a server
    # holds one of these per established connection (docs/scaling.md).
    __slots__ = (
        "_budget",
        "_held",
        "_held_bytes",
        "_hold",
        "_limits",
        "_max_held_bytes",
        "_max_held_records",
        "_other_receive_cids",
        "_plain_seen",
        "_read_by_bits",
        "_read_plaintext",
        "_replay_protection",
        "_write",
        "highest_read_epoch",
        "integrity_limit_exceeded",
        "receive_cid",
        "write_epoch",
    )

    def __init__(
        self,
        *,
        replay_protection: bool = True,
        max_held_records: int = 32,
        max_held_bytes: int = 32768,
        budget: BufferBudget | None = None,
        aead_limits: Mapping[int, AeadLimits] | None = None,
    ) -> None:
        self._replay_protection = replay_protection
        self._limits = AEAD_LIMITS if aead_limits is None else aead_limits
        self._budget = budget
        self._read_by_bits: list[_ReadEpoch13 | None] = [None, None, None, None]
        """The protected read epochs, by the two low bits the unified header carries: at most
        one per bits (an older one is dropped), so also the table by full epoch
        (:meth:`_read_state`; a list of 4 costs 88 B, a dict 224)."""
        self._read_plaintext = True
        # Recent epoch-0 sequence numbers, oldest first; None once plaintext is over.
        self._plain_seen: dict[int, None] | None = {}
        self._write: dict[int, _WriteEpoch13] = {0: _WriteEpoch13(None, None)}
        self._held: list[tuple[int, bytes]] = []  # (epoch bits, the record's bytes)
        self._held_bytes = 0
        self._max_held_records = max_held_records
        self._max_held_bytes = max_held_bytes
        self._hold = True
        self.write_epoch = 0
        "The newest installed write epoch: where records go unless a caller names another."
        self.highest_read_epoch = 0
        "The newest installed read epoch."
        self.receive_cid: bytes = b""
        "The connection ID records to us carry (ours; empty: none negotiated)."
        self._other_receive_cids: set[bytes] | frozenset[bytes] = _NO_CIDS
        """CIDs of ours besides :attr:`receive_cid`, given in NewConnectionIds (RFC 9147 §9):
        a shared empty frozenset until the first (an empty set costs each connection 216 B)."""
        self.integrity_limit_exceeded = False
        """True once the newest read epoch's key rejected more forgeries than its AEAD allows
        (RFC 9147 §4.5.3: the connection SHOULD close). An older epoch that does so is just
        dropped: a KeyUpdate already replaced it."""

    # -- keys ------------------------------------------------------------------------------

    def install_read(self, epoch: int, protection: RecordProtection13) -> list[bytes]:
        """Start accepting records of ``epoch`` (1 or more); returns the held records whose
        epoch bits are this epoch's, to pass to :meth:`open_held` now (in arrival order).

        The previous protected read epoch stays; older ones, and one with the same two low
        bits, are dropped (their records could not be told apart)."""
        if epoch < 1 or protection.epoch != epoch:
            raise ValueError(f"read keys for epoch {protection.epoch} installed as {epoch}")
        bits = epoch & 0x03
        older = self._read_by_bits[bits]
        if older is not None:
            self._forget_read(older.epoch)
        if protection.connection_id is not None:
            # Connection IDs were negotiated (in the hellos): records to us carry ours.
            self.receive_cid = protection.connection_id
        state = _ReadEpoch13(protection, self._limit(protection.suite))
        self._read_by_bits[bits] = state
        while True:
            epochs = [s.epoch for s in self._read_by_bits if s is not None]
            if len(epochs) <= _PROTECTED_READ_EPOCHS:
                break
            self._forget_read(min(epochs))
        self.highest_read_epoch = max(self.highest_read_epoch, epoch)
        ready = [raw for held_bits, raw in self._held if held_bits == bits]
        if ready:
            self._held = [(b, raw) for b, raw in self._held if b != bits]
            released = sum(len(raw) for raw in ready)
            self._held_bytes -= released
            if self._budget is not None:
                self._budget.give(released)
        return ready

    def install_write(self, epoch: int, protection: RecordProtection13) -> None:
        """Make ``epoch`` (1 or more) the write epoch. The previous protected write epoch stays
        for retransmissions in it (RFC 9147 §4.2.1: "using the same epoch and keying
        material as the original transmission"); older ones are dropped."""
        if epoch < 1 or protection.epoch != epoch:
            raise ValueError(f"write keys for epoch {protection.epoch} installed as {epoch}")
        self._write[epoch] = _WriteEpoch13(protection, self._limit(protection.suite))
        protected = sorted(e for e in self._write if e)
        for old in protected[:-_PROTECTED_WRITE_EPOCHS]:
            del self._write[old]
        self.write_epoch = max(self.write_epoch, epoch)

    def accept_cids(self, cids: list[bytes]) -> None:
        """Also accept records that carry one of ``cids``: CIDs of ours the peer may switch
        to (a NewConnectionId we sent, RFC 9147 §9). They are as long as
        :attr:`receive_cid` (the wire carries no length: framing uses that one)."""
        if any(len(cid) != len(self.receive_cid) for cid in cids) or not self.receive_cid:
            raise ValueError("new connection IDs have the length of the negotiated one")
        self._other_receive_cids = self._other_receive_cids.union(cids)

    def accepts_cid(self, cid: bytes) -> bool:
        """True if records carrying ``cid`` are ours."""
        return cid == self.receive_cid or cid in self._other_receive_cids

    def use_send_cid(self, cid: bytes) -> None:
        """Records we write from now on, retransmissions included, carry ``cid`` (the peer
        gave it in a NewConnectionId, RFC 9147 §9)."""
        for state in self._write.values():
            if state.protection is not None:
                state.protection.connection_id = cid
                state.overhead = state.protection.overhead

    def has_read_epoch(self, epoch: int) -> bool:
        """True if records of ``epoch`` can be opened."""
        return self._read_state(epoch) is not None if epoch else self._read_plaintext

    def has_write_epoch(self, epoch: int) -> bool:
        """True if records of ``epoch`` can be sealed."""
        return epoch in self._write

    def discard_read(self, epoch: int) -> None:
        """Stop accepting records of ``epoch`` (0: plaintext, e.g. once the handshake is over;
        an old epoch whose reordering time passed)."""
        if epoch == 0:
            self._read_plaintext = False
            self._plain_seen = None
        elif self._read_state(epoch) is not None:
            self._forget_read(epoch)

    def rest_read(self, epoch: int) -> None:
        """Records of ``epoch`` are still accepted but rarely come (the handshake's once it is
        over: a repeated client Finished): its keys give up what they can make again."""
        state = self._read_state(epoch)
        if state is not None:
            state.protection.rest()

    def discard_write(self, epoch: int) -> None:
        """Forget the keys of write ``epoch`` (no retransmission will need them)."""
        if epoch != self.write_epoch:
            self._write.pop(epoch, None)

    def discard_held(self) -> None:
        """Free the held records and hold no more: the handshake is over, and a peer sends
        under new keys only after its KeyUpdate was ACKed, that is processed (RFC 9147 §8)."""
        if self._budget is not None:
            self._budget.give(self._held_bytes)
        self._held = []
        self._held_bytes = 0
        self._hold = False

    def _limit(self, suite: int) -> AeadLimits:
        limits = self._limits.get(suite)
        if limits is None:
            raise ValueError(f"no AEAD limits for suite 0x{suite:04x}")
        return limits

    def _read_state(self, epoch: int) -> _ReadEpoch13 | None:
        """The installed read ``epoch`` (1 or more), or None."""
        state = self._read_by_bits[epoch & 0x03]
        return state if state is not None and state.epoch == epoch else None

    def _forget_read(self, epoch: int) -> None:
        if self._read_state(epoch) is not None:
            self._read_by_bits[epoch & 0x03] = None

    # -- reading ---------------------------------------------------------------------------

    @property
    def held_records(self) -> int:
        """Records kept for a read epoch whose keys are not installed yet."""
        return len(self._held)

    @property
    def held_bytes(self) -> int:
        """Bytes of those records."""
        return self._held_bytes

    def open_datagram(self, data: bytes) -> list[Opened13 | Drop]:
        """Every record of ``data`` in order: an :class:`Opened13` for each accepted, a
        :class:`~aiodtls.drops.Drop` for each refused. A record for a read epoch not yet
        installed is held (see :meth:`install_read`) and left out of the list.

        Framing stops at the first record that cannot be framed (its drop is last); a record
        that fails authentication is dropped alone; a record with another association's CID
        ends the datagram (RFC 9147 §4: "the rest of the datagram MUST be discarded")."""
        out: list[Opened13 | Drop] = []
        for item in split_datagram13(data, len(self.receive_cid)):
            if type(item) is RawRecord:
                out.append(self._open_plaintext(item))
            elif type(item) is UnifiedRecord:
                result = self._open_unified(data, item)
                if result is None:
                    continue
                out.append(result)
                if type(result) is Drop and result.reason is DropReason.UNKNOWN_CID:
                    break
            else:
                assert type(item) is Drop
                out.append(item)
        return out

    def open_held(self, record: bytes) -> list[Opened13 | Drop]:
        """Open a record :meth:`install_read` handed back (one record alone is a datagram)."""
        return self.open_datagram(record)

    def _open_plaintext(self, record: RawRecord) -> Opened13 | Drop:
        """An epoch-0 DTLSPlaintext record: no integrity, so only exact repeats of a recent
        sequence number are dropped, never a window that one forged far-future number would
        move (SPEC X6, as the DTLS 1.2 layer)."""
        if record.epoch != 0:
            return Drop(DropReason.PLAINTEXT_OUTSIDE_EPOCH_0, (record.epoch,))
        if not self._read_plaintext:
            return Drop(DropReason.NO_KEYS, (0,))
        if len(record.fragment) > MAX_PLAINTEXT_LENGTH:
            return Drop(DropReason.RECORD_TOO_LONG)
        seq = record.sequence_number
        seen = self._plain_seen
        if self._replay_protection and seen is not None:
            if seq in seen:
                return Drop(DropReason.REPEATED_PLAINTEXT)
            seen[seq] = None
            if len(seen) > PLAIN_SEEN:
                del seen[next(iter(seen))]
        return Opened13(0, seq, record.content_type, record.fragment)

    def _open_unified(self, data: bytes, record: UnifiedRecord) -> Opened13 | Drop | None:
        """A DTLSCiphertext record: its epoch by the header's bits, deprotected, then checked
        against that epoch's replay window, which moves only now (RFC 9147 §4.5.1)."""
        bits = record.flags & 0x03
        state = self._read_by_bits[bits]
        if state is None:
            return self._hold_record(bits, data, record)
        window = state.window
        opened = state.protection.open_record(
            data, record, window.top + 1, self._other_receive_cids
        )
        if type(opened) is Drop:
            if opened.reason is DropReason.BAD_TAG:
                return self._failed(state, opened)
            return opened
        assert not isinstance(opened, Drop)
        seq = opened.sequence_number
        if self._replay_protection:
            if window.is_replay(seq):
                return Drop(DropReason.REPLAYED, offset=record.offset)
            window.mark(seq)
        return Opened13(state.epoch, seq, opened.content_type, opened.content)

    def _failed(self, state: _ReadEpoch13, drop: Drop) -> Drop:
        """Count a record that failed authentication under ``state``'s key (RFC 9147 §4.5.3:
        "MUST count"); past the limit the key is dropped, and if it was the newest one the
        connection is told to close."""
        state.failed += 1
        if state.failed <= state.integrity_limit:
            return drop
        self._forget_read(state.epoch)
        if state.epoch == self.highest_read_epoch:
            self.integrity_limit_exceeded = True
        return Drop(DropReason.AEAD_INTEGRITY_LIMIT, (state.epoch,), drop.offset)

    def _hold_record(self, bits: int, data: bytes, record: UnifiedRecord) -> Drop | None:
        """Keep the record for its epoch's keys (None), or the drop saying why not."""
        if not self._hold:
            return Drop(DropReason.NO_KEYS_FOR_EPOCH_BITS, (bits,), record.offset)
        raw = data[record.offset : record.offset + record.header_length + record.length]
        size = len(raw)
        if (
            len(self._held) >= self._max_held_records
            or self._held_bytes + size > self._max_held_bytes
        ):
            return Drop(DropReason.EARLY_BUFFER_FULL, offset=record.offset)
        if self._budget is not None and not self._budget.take(size):
            return Drop(DropReason.ENDPOINT_EARLY_BUFFER_FULL, offset=record.offset)
        self._held.append((bits, raw))
        self._held_bytes += size
        return None

    # -- AEAD limits (RFC 9147 §4.5.3, SPEC V7) --------------------------------------------

    def sealed_records(self, epoch: int) -> int:
        """Records sealed in write ``epoch`` so far (0 if it is not installed)."""
        state = self._write.get(epoch)
        return 0 if state is None else state.sealed

    def failed_decryptions(self, epoch: int) -> int:
        """Records that failed authentication under read ``epoch``'s key (0 if not installed)."""
        state = self._read_state(epoch) if epoch else None
        return 0 if state is None else state.failed

    @property
    def needs_key_update(self) -> bool:
        """True when a KeyUpdate with update_requested is due: the write epoch sealed, or
        the newest read epoch rejected, :data:`KEY_UPDATE_AT` of what its AEAD allows."""
        write = self._write[self.write_epoch]
        if write.protection is not None and write.sealed >= KEY_UPDATE_AT * write.limit:
            return True
        read = self._read_by_bits[self.highest_read_epoch & 0x03]
        return (
            read is not None
            and read.epoch == self.highest_read_epoch
            and read.failed >= KEY_UPDATE_AT * read.integrity_limit
        )

    # -- writing ---------------------------------------------------------------------------

    def overhead(self, epoch: int | None = None) -> int:
        """Bytes one record in ``epoch`` (default: the write epoch) adds to its content: the
        13-byte header in epoch 0; the unified header, inner type and tag otherwise."""
        return self._write[self.write_epoch if epoch is None else epoch].overhead

    def max_payload(self, mtu: int) -> int:
        """The most content one record in the write epoch carries alone in a datagram of
        ``mtu`` bytes (so without its length field once protected: :meth:`seal`'s
        ``ends_datagram``): never over 2^14 (RFC 8446 §5.1)."""
        state = self._write[self.write_epoch]
        room = mtu - state.overhead + (0 if state.protection is None else _LENGTH_FIELD)
        return min(MAX_PLAINTEXT_LENGTH, room)

    def next_sequence_number(self, epoch: int) -> int:
        """The sequence number the next record of ``epoch`` will get."""
        return self._write[epoch].next_sequence_number

    def skip_write_sequence_numbers(self, epoch: int, next_sequence_number: int) -> None:
        """Continue ``epoch`` at ``next_sequence_number`` at the least: a stateless server's
        HelloRetryRequest reused the ClientHello's record number (as a HelloVerifyRequest
        does, SPEC C3), so the peer's epoch-0 replay check must never see it again."""
        state = self._write[epoch]
        state.next_sequence_number = max(state.next_sequence_number, next_sequence_number)

    def seal(
        self,
        content_type: int,
        payload: bytes,
        epoch: int | None = None,
        *,
        ends_datagram: bool = False,
    ) -> bytes:
        """One record of ``payload`` on the next sequence number of ``epoch`` (default: the
        write epoch). Epoch 0: DTLSPlaintext (version {254, 253}, epoch 0, 48-bit sequence
        number; alert, handshake or ack only, RFC 9147 §4.1). Otherwise: the unified header
        with a 16-bit sequence number, and the length unless the record ``ends_datagram``
        (RFC 9147 §4: the last record of a datagram may omit it; 2 bytes saved).

        Raises :class:`~aiodtls.record.layer.SequenceNumberExhausted` when the epoch has no
        sequence number left, :class:`AeadLimitReached` when its key sealed all it may."""
        if epoch is None:
            epoch = self.write_epoch
        state = self._write[epoch]
        seq = state.next_sequence_number
        protection = state.protection
        if protection is None:
            if content_type not in DTLS13_PLAINTEXT_TYPES:
                raise ValueError(f"content type {content_type} is never sent in plaintext")
            if seq > MAX_SEQUENCE_NUMBER:
                raise SequenceNumberExhausted("epoch 0 has used every sequence number")
            state.next_sequence_number = seq + 1
            header = encode_record_header(content_type, DTLS1_2, 0, seq, len(payload))
            return header + payload
        if state.sealed >= state.limit:
            raise AeadLimitReached(f"epoch {epoch} sealed as many records as its AEAD allows")
        if seq > MAX_SEQUENCE_NUMBER_13:
            raise SequenceNumberExhausted(f"epoch {epoch} has used every sequence number")
        record = protection.seal(content_type, payload, seq, include_length=not ends_datagram)
        state.next_sequence_number = seq + 1
        state.sealed += 1
        return record
