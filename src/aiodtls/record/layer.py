"""The record layer of one association: epochs, sequence numbers, replay, protection.

Owns, per direction and epoch, the :class:`~aiodtls.record.protection.RecordProtection` in use;
the next sequence number to send (SPEC R2, R3); a replay window per read epoch (SPEC A1–A3);
and a small bounded buffer of records that arrive for the next epoch before its keys exist
(SPEC R9, X12: a Finished that overtakes the ClientKeyExchange). It does not know what records
mean; the connection routes opened records by content type.

Every record passes through here, so the per-record work is kept flat: each write epoch holds
what its records share (epoch bits, CID, overhead), a record is sealed with one AEAD call and
one ``struct`` pack for its header, and no per-record object is built beyond the plain
:class:`OpenedRecord` (docs/performance.md, "Record path"). An established connection's
application data takes a direct path: :meth:`RecordLayer.seal_application_data` and
:meth:`RecordLayer.open_application_datagram`, which builds no :class:`RawRecord` either and
declines, changing nothing, whatever it does not accept, for :meth:`RecordLayer.open` to judge.

Once the handshake negotiated connection IDs (RFC 9146, :meth:`RecordLayer.use_connection_ids`),
protected records travel as tls12_cid records (framing and additional data in ``record.cid``):
we send the peer's CID, and accept protected records only with our own (SPEC I2–I4).

Invalid input comes back as a :class:`~aiodtls.drops.Drop` saying why (the one drop report
the wire reader and reassembly give too). The caller counts and traces it and carries on: per
RFC 6347 §4.1.2.7 an invalid record is silently discarded (SPEC R8).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag

from ..alerts import AlertUnexpectedMessage
from ..budget import BufferBudget
from ..drops import Drop, DropReason
from ..wire import (
    DTLS1_0,
    DTLS1_2,
    MAX_CIPHERTEXT_LENGTH,
    MAX_PLAINTEXT_LENGTH,
    MAX_SEQUENCE_NUMBER,
    RECORD_HEADER,
    RECORD_HEADER_LENGTH,
    TLS12_CID,
    ContentType,
    RawRecord,
    cid_record_header,
    encode_record_header,
)
from .cid import cid_additional_data, decode_inner_plaintext, encode_inner_plaintext
from .protection import (
    _ADDITIONAL_DATA,
    _HEADER_AND_EXPLICIT_NONCE,
    _SALT_AND_EXPLICIT_NONCE,
    NullProtection,
    RecordProtection,
    RecordProtectionError,
)
from .replay import ReplayWindow

__all__ = [
    "OpenedRecord",
    "RecordLayer",
    "SequenceNumberExhausted",
]

_APPLICATION_DATA = int(ContentType.application_data)  # a plain int: no Enum lookup per record
# The direct path's struct calls, bound once: CPython 3.11 compiles ``NAME.method(...)`` as an
# attribute load (a new bound method per call) when NAME was imported, not as a method call.
_unpack_record_header = RECORD_HEADER.unpack_from
_pack_record_header = RECORD_HEADER.pack
_pack_additional_data = _ADDITIONAL_DATA.pack
_pack_nonce = _SALT_AND_EXPLICIT_NONCE.pack
_pack_header_and_nonce = _HEADER_AND_EXPLICIT_NONCE.pack
_KNOWN_CONTENT_TYPES = frozenset(
    {
        ContentType.change_cipher_spec,
        ContentType.alert,
        ContentType.handshake,
        ContentType.application_data,
    }
)


class SequenceNumberExhausted(Exception):
    """The write epoch ran out of sequence numbers; the connection must close (SPEC R3)."""


@dataclass(slots=True)  # not frozen: see RawRecord
class OpenedRecord:
    """An authenticated, decrypted record. Treat it as read-only."""

    content_type: int
    epoch: int
    sequence_number: int
    payload: bytes
    newest: bool = field(default=False, compare=False)
    "Protected, and newer (epoch, sequence number) than any record accepted before (SPEC I5)."


class _ReadEpoch:
    """Read state of one epoch: its keys and its replay window. Slotted: every connection
    keeps one per epoch it reads for as long as it lives."""

    __slots__ = ("protection", "window")

    def __init__(self, protection: RecordProtection) -> None:
        self.protection = protection
        self.window = ReplayWindow()


class _WriteEpoch:
    """Write state of one epoch: its keys, next sequence number, and what every record of it
    shares, worked out once: the epoch bits of its sequence numbers, the CID it carries, and
    its overhead (so ``max_payload`` costs one lookup per send)."""

    __slots__ = ("cid", "epoch_bits", "next_sequence_number", "overhead", "protection")

    def __init__(self, epoch: int, protection: RecordProtection, send_cid: bytes) -> None:
        self.protection = protection
        self.next_sequence_number = 0
        self.epoch_bits = epoch << 48
        self.cid = b""
        self.overhead = RECORD_HEADER_LENGTH + protection.overhead
        if epoch:  # RFC 9146 §4: never in plaintext (SPEC I2)
            self.use_cid(send_cid)

    def use_cid(self, cid: bytes) -> None:
        # A tls12_cid record adds the CID to the header and the real type to the plaintext.
        self.cid = cid
        self.overhead = RECORD_HEADER_LENGTH + self.protection.overhead
        if cid:
            self.overhead += len(cid) + 1


PLAIN_SEEN = 64
"Recent epoch-0 record numbers remembered to drop exact repeats (no window: SPEC X6)."

_PLAINTEXT = NullProtection()
"Epoch 0's protection, which holds nothing: one for every connection."
_PLAINTEXT_READ = _ReadEpoch(_PLAINTEXT)
"""Epoch 0's read state, shared by every connection: nothing in it changes, as epoch 0 has no
replay window (its recent record numbers are each layer's ``_plain_seen``, SPEC X6)."""


class RecordLayer:
    """Read and write state of one DTLS association."""

    def __init__(
        self,
        *,
        replay_protection: bool = True,
        max_early_bytes: int = 32768,
        budget: BufferBudget | None = None,
    ) -> None:
        self._replay_protection = replay_protection
        self._budget = budget
        self._plain_seen: dict[int, None] = {}  # recent epoch-0 sequence numbers, oldest first
        self._read: dict[int, _ReadEpoch] = {0: _PLAINTEXT_READ}
        self._write: dict[int, _WriteEpoch] = {0: _WriteEpoch(0, _PLAINTEXT, b"")}
        self._highest_read_epoch = 0
        self.write_epoch = 0
        "The epoch new records are sent in."
        self._early: list[RawRecord] = []
        self._early_bytes = 0
        self._max_early_bytes = max_early_bytes
        self._hold_next_epoch = True
        self.receive_cid: bytes = b""
        "The connection ID protected records to us carry (ours; empty: none, RFC 9146)."
        self.send_cid: bytes = b""
        "The connection ID our protected records carry (the peer's; empty: none)."

    def use_connection_ids(self, receive_cid: bytes, send_cid: bytes) -> None:
        """The handshake negotiated connection IDs (RFC 9146 §3): from epoch 1 on, accept
        protected records only with ``receive_cid`` and send ours with ``send_cid``. An empty
        one means plain records in that direction (a zero-length CID, SPEC I1)."""
        self.receive_cid = receive_cid
        self.send_cid = send_cid
        for epoch, state in self._write.items():
            if epoch:
                state.use_cid(send_cid)

    # -- reading ---------------------------------------------------------------------------

    def open_application_datagram(self, data: bytes) -> bytes | Drop | None:
        """The application data of ``data`` when the datagram is exactly one protected
        application_data record of the newest read epoch (a tls12_cid record with our CID once
        CIDs are in use) that authenticates, is not a replay and is not too long: the replay
        window has then moved past it. The :class:`~aiodtls.drops.Drop` :meth:`open` would
        give when such a record does not authenticate. Otherwise None, and nothing has
        changed.

        This is an established connection's path for each datagram of application data: one
        header unpack, the replay check, one AEAD open, without the objects of
        :func:`~aiodtls.record.header.split_datagram` and :meth:`open`. It accepts only what
        :meth:`open` accepts: on None the caller takes that general path, which applies the
        same checks again and drops, counts and traces what fails them.
        """
        epoch = self._highest_read_epoch
        size = len(data)
        cid = self.receive_cid
        if cid:
            body = RECORD_HEADER_LENGTH + len(cid)
            if size < body:
                return None
            content_type, version, seq_num, record_cid, length = cid_record_header(
                len(cid)
            ).unpack_from(data)
            if content_type != TLS12_CID or record_cid != cid:
                return None
        else:
            body = RECORD_HEADER_LENGTH
            if size < body:
                return None
            content_type, version, seq_num, length = _unpack_record_header(data)
            if content_type != _APPLICATION_DATA:
                return None
        if (
            not epoch
            or seq_num >> 48 != epoch
            or version != DTLS1_2
            or length != size - body
            or length > MAX_CIPHERTEXT_LENGTH
        ):
            return None
        state = self._read[epoch]
        window = state.window
        seq = seq_num & MAX_SEQUENCE_NUMBER
        top = window.top
        # Above the highest accepted number is never a replay: the in-order case asks no more.
        if seq <= top and self._replay_protection and window.is_replay(seq):
            return None
        if cid:
            try:
                payload = self._open_cid_application_data(state, seq_num, version, data, body)
            except RecordProtectionError as exc:
                # Forged or damaged: the general path would fail this same open (every check
                # before it passed), so it is reported here instead of being decrypted twice.
                return Drop(DropReason(str(exc)))
            if payload is None or len(payload) > MAX_PLAINTEXT_LENGTH:
                return None
        else:
            # The protection's open, written out (one frame less per record): the nonce is
            # the salt and the explicit nonce as received (GCM/CCM, RFC 5288 §3), or the IV
            # XOR the record number (ChaCha20, RFC 7905 §2); the additional data RFC 5246's.
            protection = state.protection
            aead = protection.aead
            plain_length = size - body - protection.overhead
            if aead is None:
                return None
            if plain_length < 0:
                return Drop(DropReason.SHORTER_THAN_NONCE_AND_TAG)  # SPEC K2
            salt = protection.salt
            try:
                if salt:
                    explicit_end = body + 8
                    payload = aead.decrypt(
                        salt + data[body:explicit_end],
                        data[explicit_end:],
                        _pack_additional_data(seq_num, content_type, version, plain_length),
                    )
                else:
                    payload = aead.decrypt(
                        (protection.iv ^ seq_num).to_bytes(12, "big"),
                        data[body:],
                        _pack_additional_data(seq_num, content_type, version, plain_length),
                    )
            except InvalidTag:
                # Forged or damaged: the general path would fail this same open (every check
                # before it passed), so it is reported here instead of being decrypted twice.
                return Drop(DropReason.BAD_TAG)
            if plain_length > MAX_PLAINTEXT_LENGTH:  # the AEAD's plaintext is this long
                return None
        # Only now, after authentication, may the window move (SPEC A2). The next number in
        # order (the usual case) slides it by one: ReplayWindow.mark's step written out, one
        # call less per record (the direct-path tests check the window moves as mark moves it).
        if seq == top + 1:
            window._bits = (window._bits << 1 | 1) & window._mask
            window.top = seq
        else:
            window.mark(seq)
        return payload

    @staticmethod
    def _open_cid_application_data(
        state: _ReadEpoch, seq_num: int, version: int, data: bytes, body: int
    ) -> bytes | None:
        """The application data of the tls12_cid record ``data`` (header up to ``body``
        checked by the caller), None if its inner type is another one or none (RFC 9146 §4,
        §5.3); raises :class:`RecordProtectionError` if it does not authenticate."""
        protection = state.protection
        inner_length = len(data) - body - protection.overhead
        if inner_length < 0:
            return None
        epoch_seq = seq_num.to_bytes(8, "big")
        cid = data[RECORD_HEADER_LENGTH - 2 : body - 2]
        aad = cid_additional_data(version, epoch_seq, cid, inner_length)
        inner = decode_inner_plaintext(
            protection.open(epoch_seq, TLS12_CID, version, data[body:], aad=aad)
        )
        if inner is None or inner[0] != _APPLICATION_DATA:
            return None
        return inner[1]

    def open(self, record: RawRecord) -> OpenedRecord | Drop | None:
        """Authenticate and decrypt ``record``.

        Returns None when the record belongs to the next epoch whose keys are not installed
        yet: it is held and handed back by :meth:`install_read`. Returns a
        :class:`~aiodtls.drops.Drop` for anything invalid, having changed nothing.
        """
        content_type = record.content_type
        epoch = record.epoch
        version = record.version
        fragment = record.fragment
        if content_type == TLS12_CID:
            # SPEC I3: only under keys, only when we asked for a CID, only with ours.
            if not self.receive_cid:
                return Drop(DropReason.CID_NOT_NEGOTIATED)
            if epoch == 0:
                return Drop(DropReason.CID_IN_EPOCH_0)
            if record.cid != self.receive_cid:
                return Drop(DropReason.UNKNOWN_CID)
        elif content_type not in _KNOWN_CONTENT_TYPES:
            return Drop(DropReason.UNKNOWN_CONTENT_TYPE, (content_type,))
        elif epoch != 0 and self.receive_cid:
            return Drop(DropReason.MISSING_CID)
        if version != DTLS1_2 and not (epoch == 0 and version == DTLS1_0):
            return Drop(DropReason.BAD_VERSION, (version,))
        # RFC 5246 §6.2.3: a longer ciphertext is a record_overflow; DTLS discards it instead
        # (RFC 6347 §4.1.2.7), before spending a decryption on it.
        if len(fragment) > MAX_CIPHERTEXT_LENGTH:
            return Drop(DropReason.RECORD_TOO_LONG)  # SPEC R5
        state = self._read.get(epoch)
        if state is None:
            if epoch == self._highest_read_epoch + 1 and self._hold_next_epoch:
                return self._hold_early(record)
            return Drop(DropReason.NO_KEYS, (epoch,))
        seq = record.sequence_number
        # Epoch 0 has no integrity: anyone can send a plaintext record with any sequence
        # number, so a sliding window there would let one forged far-future record make every
        # real one "too old" (SPEC X6). Only exact repeats of a recent number are dropped
        # (network duplicates and verbatim replays, which would otherwise read as the peer
        # repeating its flight); a peer's real retransmissions always take new numbers.
        protected = epoch != 0
        if self._replay_protection:
            if protected and state.window.is_replay(seq):
                return Drop(DropReason.REPLAYED)
            if not protected and seq in self._plain_seen:
                return Drop(DropReason.REPEATED_PLAINTEXT)
        if not protected:
            payload = fragment  # epoch 0 is plaintext (NullProtection): nothing to open
        else:
            epoch_seq = ((epoch << 48) | seq).to_bytes(8, "big")
            aad = None
            if content_type == TLS12_CID:
                inner_length = len(fragment) - state.protection.overhead
                if inner_length < 0:
                    return Drop(DropReason.SHORTER_THAN_PROTECTION)
                aad = cid_additional_data(version, epoch_seq, record.cid, inner_length)
            try:
                payload = state.protection.open(epoch_seq, content_type, version, fragment, aad=aad)
            except RecordProtectionError as exc:
                return Drop(DropReason(str(exc)))  # its texts are reasons of the vocabulary
            if aad is not None:
                inner = decode_inner_plaintext(payload)
                if inner is None:
                    # Authenticated, so the peer itself is broken (RFC 9146 §4).
                    raise AlertUnexpectedMessage("tls12_cid record with no inner content type")
                content_type, payload = inner
                if content_type not in _KNOWN_CONTENT_TYPES:
                    return Drop(DropReason.UNKNOWN_INNER_CONTENT_TYPE, (content_type,))
        if len(payload) > MAX_PLAINTEXT_LENGTH:
            return Drop(DropReason.PLAINTEXT_TOO_LONG)  # SPEC R5, RFC 5246 §6.2.1
        # Only now, after authentication, may the window move (SPEC A2).
        newest = False
        if protected:
            # Newer than any seen: no later epoch has keys, and right of this epoch's window.
            moved = state.window.mark(seq)
            newest = moved and epoch == self._highest_read_epoch
        else:
            self._plain_seen[seq] = None
            if len(self._plain_seen) > PLAIN_SEEN:
                del self._plain_seen[next(iter(self._plain_seen))]
        return OpenedRecord(content_type, epoch, seq, payload, newest)

    def _hold_early(self, record: RawRecord) -> Drop | None:
        """Keep ``record`` for its epoch's keys (None), or the drop if there is no room."""
        size = len(record.fragment) + RECORD_HEADER_LENGTH
        if self._early_bytes + size > self._max_early_bytes:
            return Drop(DropReason.EARLY_BUFFER_FULL)  # SPEC F5
        if self._budget is not None and not self._budget.take(size):
            return Drop(DropReason.ENDPOINT_EARLY_BUFFER_FULL)
        self._early.append(record)
        self._early_bytes += size
        return None

    def install_read(self, epoch: int, protection: RecordProtection) -> list[RawRecord]:
        """Start accepting records of ``epoch``; returns held records to process now."""
        self._read[epoch] = _ReadEpoch(protection)
        self._highest_read_epoch = max(self._highest_read_epoch, epoch)
        ready = [r for r in self._early if r.epoch == epoch]
        self._free_early()
        return ready

    def has_read_epoch(self, epoch: int) -> bool:
        """True if records of ``epoch`` can be opened."""
        return epoch in self._read

    @property
    def budget(self) -> BufferBudget | None:
        """The endpoint-wide cap this connection's buffers draw on, if any."""
        return self._budget

    @property
    def early_bytes(self) -> int:
        """Bytes of next-epoch records held for later."""
        return self._early_bytes

    def discard_early(self) -> None:
        """The handshake is over: free held next-epoch records and hold no more, since no
        further epoch comes without renegotiation (SPEC F5, X3)."""
        if self._early:  # usually none: a handshake's records come in order
            self._free_early()
        self._hold_next_epoch = False
        self._plain_seen = {}  # its recent record numbers too: the handshake's plaintext is over

    def _free_early(self) -> None:
        if self._budget is not None:
            self._budget.give(self._early_bytes)
        self._early = []
        self._early_bytes = 0

    # -- writing ---------------------------------------------------------------------------

    def install_write(self, epoch: int, protection: RecordProtection) -> None:
        """Make ``epoch`` available for sending (it becomes current with ``write_epoch``)."""
        self._write[epoch] = _WriteEpoch(epoch, protection, self.send_cid)

    def overhead(self, epoch: int | None = None) -> int:
        """Header plus protection expansion of one record in ``epoch`` (default: current)."""
        return self._write[self.write_epoch if epoch is None else epoch].overhead

    def max_payload(self, mtu: int) -> int:
        """Largest plaintext of one record in the current write epoch that fits a datagram of
        ``mtu`` bytes and that a peer accepts: never over 2^14 (RFC 5246 §6.2.1, SPEC R5),
        which :meth:`open` enforces on our side too."""
        return min(MAX_PLAINTEXT_LENGTH, mtu - self._write[self.write_epoch].overhead)

    def seal_application_data(self, payload: bytes, mtu: int) -> bytes:
        """``DtlsConnection.send``'s one call: one application_data record of ``payload`` in
        the current write epoch, refused with ``ValueError`` above :meth:`max_payload` for
        ``mtu``. Without a CID it is sealed right here, as :meth:`seal` would; with one (or in
        the plaintext epoch 0), :meth:`seal` does it."""
        state = self._write[self.write_epoch]
        length = len(payload)
        if length > mtu - state.overhead or length > MAX_PLAINTEXT_LENGTH:
            limit = min(MAX_PLAINTEXT_LENGTH, mtu - state.overhead)
            raise ValueError(
                f"{length} bytes exceed max_payload() = {limit} (the smaller of what fits "
                f"the MTU {mtu} and the 16384-byte record limit)"
            )
        protection = state.protection
        aead = protection.aead
        if state.cid or aead is None:
            return self.seal(_APPLICATION_DATA, payload)
        seq = state.next_sequence_number
        if seq > MAX_SEQUENCE_NUMBER:
            raise SequenceNumberExhausted(
                f"epoch {state.epoch_bits >> 48} has used every sequence number"
            )
        state.next_sequence_number = seq + 1
        # The protection's seal_record, written out (one frame less per record): header ||
        # explicit nonce (the record number, never random: SPEC R6) || ciphertext || tag for
        # GCM/CCM; header || ciphertext || tag, the nonce the IV XOR the record number, for
        # ChaCha20. The additional data is RFC 5246's.
        seq_num = state.epoch_bits | seq
        aad = _pack_additional_data(seq_num, _APPLICATION_DATA, DTLS1_2, length)
        salt = protection.salt
        if salt:
            sealed = aead.encrypt(_pack_nonce(salt, seq_num), payload, aad)
            header = _pack_header_and_nonce(
                _APPLICATION_DATA, DTLS1_2, seq_num, 8 + len(sealed), seq_num
            )
            return header + sealed
        sealed = aead.encrypt((protection.iv ^ seq_num).to_bytes(12, "big"), payload, aad)
        return _pack_record_header(_APPLICATION_DATA, DTLS1_2, seq_num, len(sealed)) + sealed

    def seal(
        self,
        content_type: int,
        payload: bytes,
        epoch: int | None = None,
        *,
        ends_datagram: bool = False,
    ) -> bytes:
        """Build one record of ``payload`` on the next sequence number of ``epoch``.

        Retransmissions call this again, so every copy gets a fresh sequence number while the
        epoch and keys stay those of the original (SPEC R2, T5). ``ends_datagram`` changes
        nothing: a DTLS 1.2 record header always carries its length.
        """
        state = self._write[self.write_epoch if epoch is None else epoch]
        seq = state.next_sequence_number
        if seq > MAX_SEQUENCE_NUMBER:
            raise SequenceNumberExhausted(
                f"epoch {state.epoch_bits >> 48} has used every sequence number"
            )
        state.next_sequence_number = seq + 1
        seq_num = state.epoch_bits | seq
        if not seq_num >> 48:
            # Epoch 0 is plaintext: the header, then the payload as it is (NullProtection's
            # seal_record, without the call: most handshake records are sent in epoch 0).
            return _pack_record_header(content_type, DTLS1_2, seq_num, len(payload)) + payload
        cid = state.cid
        if cid:
            epoch_seq = seq_num.to_bytes(8, "big")
            inner = encode_inner_plaintext(payload, content_type)
            aad = cid_additional_data(DTLS1_2, epoch_seq, cid, len(inner))
            fragment = state.protection.seal(epoch_seq, TLS12_CID, DTLS1_2, inner, aad=aad)
            epoch = state.epoch_bits >> 48
            return encode_record_header(TLS12_CID, DTLS1_2, epoch, seq, len(fragment), cid) + (
                fragment
            )
        return state.protection.seal_record(seq_num, content_type, payload)

    def skip_write_sequence_numbers(self, epoch: int, next_sequence_number: int) -> None:
        """Never send a sequence number below ``next_sequence_number`` in ``epoch``."""
        state = self._write[epoch]
        state.next_sequence_number = max(state.next_sequence_number, next_sequence_number)

    def next_sequence_number(self, epoch: int) -> int:
        """The sequence number the next record of ``epoch`` will get."""
        return self._write[epoch].next_sequence_number
