"""The one report of dropped or malformed input: :class:`Drop`, and its vocabulary.

Owns the names of every reason the library gives for not taking a piece of network input:
the wire reader (:mod:`aiodtls.wire`: a record header cut short, a length past the datagram),
the record layer (version, epoch, replay, authentication), reassembly (window, caps,
disagreeing fragments), the connection's routing (address, content type by state) and the
keyless dissector's findings inside plaintext (:mod:`aiodtls.dissect`). It decides nothing:
each of those returns a :class:`Drop` where it used to raise, set ``last_drop_reason`` or
append a string, and the caller counts and traces it (RFC 6347 §4.1.2.7: invalid records are
silently discarded, SPEC R8; untrusted input never raises, SPEC X18).

The text of a drop (``str(drop)``) is what ``ConnectionStats.records_dropped`` counts and what
the ``record_dropped`` / ``datagram_dropped`` trace events carry; those texts are public and
stay as they were before this vocabulary existed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import final

__all__ = ["AUTHENTICATION_FAILURES", "Drop", "DropReason"]


class DropReason(str, enum.Enum):
    """Why input was dropped (or, for the dissector, found malformed). The value is the text,
    or a ``str.format`` template for :attr:`Drop.args` where a number or detail completes it."""

    # -- the wire reader: framing a datagram into records (SPEC R4, X18) -------------------
    TRUNCATED_RECORD_HEADER = "truncated record header"
    RECORD_OVERRUNS_DATAGRAM = "record length overruns datagram"
    TRUNCATED_UNIFIED_CID = "truncated unified header (connection ID)"
    TRUNCATED_UNIFIED_SEQUENCE_NUMBER = "truncated unified header (sequence number)"
    TRUNCATED_UNIFIED_LENGTH = "truncated unified header (length)"

    # -- the record layer (record.layer) ---------------------------------------------------
    CID_NOT_NEGOTIATED = "tls12_cid record without a negotiated connection ID"
    CID_IN_EPOCH_0 = "tls12_cid record in epoch 0"
    UNKNOWN_CID = "unknown connection ID"
    UNKNOWN_CONTENT_TYPE = "unknown content type {}"
    MISSING_CID = "protected record without the connection ID"
    BAD_VERSION = "bad record version {:#06x}"
    RECORD_TOO_LONG = "record too long"  # SPEC R5
    NO_KEYS = "record from epoch {} has no keys"
    REPLAYED = "replayed or too old sequence number"  # SPEC A1-A3
    REPEATED_PLAINTEXT = "repeated plaintext record"  # SPEC X6
    SHORTER_THAN_PROTECTION = "record shorter than its protection"
    SHORTER_THAN_NONCE_AND_TAG = "record shorter than nonce and tag"  # SPEC K2
    BAD_TAG = "bad record tag"
    UNKNOWN_INNER_CONTENT_TYPE = "unknown inner content type {}"
    PLAINTEXT_TOO_LONG = "plaintext too long"  # SPEC R5
    EARLY_BUFFER_FULL = "early-epoch buffer full"  # SPEC F5
    ENDPOINT_EARLY_BUFFER_FULL = "the endpoint's buffer for early records is full"

    # -- DTLS 1.3 record protection (record.protection13, RFC 9147 §4; the reasons above
    # serve it too where the condition is the same: BAD_TAG, MISSING_CID, UNKNOWN_CID,
    # RECORD_TOO_LONG, PLAINTEXT_TOO_LONG, UNKNOWN_INNER_CONTENT_TYPE) -------------------
    NOT_UNIFIED_HEADER = "not a DTLS 1.3 ciphertext record (first byte {:#04x})"  # §4.1
    UNIFIED_CID_NOT_NEGOTIATED = "DTLS 1.3 record with a connection ID none was negotiated for"
    EPOCH_BITS_MISMATCH = "DTLS 1.3 record epoch bits {} are not this epoch's {}"  # §4.2.2
    SHORTER_THAN_SEQUENCE_SAMPLE = "DTLS 1.3 ciphertext shorter than the 16-byte sample"  # §4.2.3
    NO_INNER_CONTENT_TYPE = "DTLS 1.3 inner plaintext is all zeros (no content type)"

    # -- the DTLS 1.3 record layer (record.layer13, RFC 9147 §4.1, §4.2.2) ------------------
    NOT_A_DTLS13_RECORD = "first byte {:#04x} is no DTLS 1.3 record"  # §4.1: as failed deprotection
    PLAINTEXT_OUTSIDE_EPOCH_0 = "DTLSPlaintext record in epoch {}"  # §4: epoch 0 only
    NO_KEYS_FOR_EPOCH_BITS = "DTLS 1.3 record with epoch bits {} has no keys"
    AEAD_INTEGRITY_LIMIT = "epoch {} reached its limit of failed decryptions"  # §4.5.3
    CHANGE_CIPHER_SPEC_IN_DTLS13 = "ChangeCipherSpec in DTLS 1.3"  # RFC 9147 §5: none
    PLAINTEXT_ACK = "plaintext ACK (anyone could forge it)"  # SPEC X28

    # -- reassembly (reliability.reassembly, SPEC F1-F5, X1-X5) ----------------------------
    BEYOND_WINDOW = "message_seq {} beyond window (next {})"
    FRAGMENT_PAST_MESSAGE_LENGTH = "fragment runs past the message length"
    MESSAGE_TOO_LONG = "message of {} bytes exceeds the limit"
    FRAGMENT_DISAGREES = "fragment type or length disagrees with earlier fragments"
    FRAGMENT_EPOCHS_DIFFER = "fragments of one message in different epochs"
    TOO_MANY_FRAGMENTS = "too many fragments for one message"
    REASSEMBLY_BUFFER_FULL = "reassembly buffer full"
    ENDPOINT_REASSEMBLY_BUFFER_FULL = "the endpoint's reassembly buffer is full"

    # -- the cookie door (handshake.cookie): a datagram from an address without a connection --
    EMPTY_DATAGRAM = "empty datagram"
    NOT_EPOCH_0_HANDSHAKE = "not an epoch-0 handshake record"
    NOT_A_CLIENT_HELLO = "not a ClientHello"
    FRAGMENTED_CLIENT_HELLO = "fragmented ClientHello"
    MALFORMED_CLIENT_HELLO = "malformed ClientHello: {}"  # SPEC C9
    NOT_THE_ADMITTED_CLIENT_HELLO = "not the ClientHello the endpoint admitted"

    # -- the connection: routing and content by state ---------------------------------------
    OTHER_ADDRESS = "datagram from another address"
    OTHER_ADDRESS_WITHOUT_CID = "record without connection ID from another address"  # SPEC I3
    EMPTY_HANDSHAKE_RECORD = "empty handshake record"
    HANDSHAKE_RECORD_SHORT = "handshake record shorter than its header"  # SPEC F7
    HANDSHAKE_FRAGMENT_OVERRUNS = "handshake fragment overruns its record"  # SPEC F3
    FRAGMENTED_HELLO_VERIFY_REQUEST = "fragmented HelloVerifyRequest"
    HANDSHAKE_AFTER_COMPLETION = "handshake message after completion"
    MALFORMED_CHANGE_CIPHER_SPEC = "malformed ChangeCipherSpec"  # SPEC X10
    ALERT_NOT_2_BYTES = "alert record is not 2 bytes"  # SPEC F7, X19
    PLAINTEXT_ALERT_AFTER_HANDSHAKE = "plaintext alert after the handshake"
    APPLICATION_DATA_IN_EPOCH_0 = "application data in epoch 0"  # SPEC R10
    APPLICATION_DATA_UNDER_HANDSHAKE_KEYS = "application data in epoch {}"  # RFC 9147 §6.1
    EARLY_APPLICATION_DATA_FULL = "early application data buffer full"
    ENDPOINT_EARLY_APPLICATION_DATA_FULL = (
        "the endpoint's buffer for early application data is full"
    )

    # -- the dissector: what a keyless observer finds malformed inside plaintext -----------
    # (reported, never dropped: the observer only describes; it also uses the reasons
    # above where the condition is the same, e.g. an empty handshake record)
    DISSECT_TRUNCATED_HANDSHAKE_HEADER = "truncated handshake header"
    DISSECT_FRAGMENT_OVERRUNS_RECORD = "handshake fragment overruns record"
    DISSECT_FRAGMENT_PAST_MESSAGE_LENGTH = "handshake fragment extends past message length"
    DISSECT_ALERT_LENGTH = "alert record of {} bytes, not 2"
    DISSECT_CHANGE_CIPHER_SPEC_BODY = "change_cipher_spec body is not 0x01"
    DISSECT_CID_EXTENSION = "connection_id extension is not one cid<0..255>"
    DISSECT_HVR_COOKIE_OVERRUNS = "cookie overruns HelloVerifyRequest"
    DISSECT_HVR_TRAILING_BYTES = "trailing bytes after HelloVerifyRequest"
    DISSECT_SESSION_ID_TOO_LONG = "ClientHello session_id longer than 32 bytes"
    DISSECT_CLIENT_HELLO_ENDS_BEFORE_COOKIE = "ClientHello ends before its cookie"
    DISSECT_CLIENT_HELLO_COOKIE_OVERRUNS = "cookie overruns ClientHello"


AUTHENTICATION_FAILURES = frozenset(
    {
        DropReason.SHORTER_THAN_PROTECTION,
        DropReason.SHORTER_THAN_NONCE_AND_TAG,
        DropReason.BAD_TAG,
        # RFC 9147 §4.2.3: "as if they had failed deprotection"
        DropReason.SHORTER_THAN_SEQUENCE_SAMPLE,
    }
)
"Reasons that mean a record did not authenticate (counted apart: it may mean a key mismatch)."


@final  # so that ``type(x) is Drop`` narrows both ways (the record path's cheap test)
@dataclass(frozen=True, slots=True)
class Drop:
    """One piece of input not taken, and why. ``str(drop)`` is its text (see the module)."""

    reason: DropReason
    "What went wrong, from the enumerated vocabulary."

    args: tuple[int | str, ...] = ()
    """What the reason's template leaves open: a content type, an epoch, a version, or the
    words of a decoder's error (a future ``malformed ClientHello: {}``)."""

    offset: int = 0
    "Where in the datagram the problem starts, when a reader reports it (the dissector)."

    def __str__(self) -> str:
        text: str = self.reason._value_  # the member's own attribute: no Enum property call
        return text.format(*self.args) if self.args else text

    @property
    def text(self) -> str:
        """The reason in words: what the counters key on and the trace carries."""
        return str(self)

    @property
    def authentication_failed(self) -> bool:
        """True if the record did not authenticate (a forgery, damage or a wrong key)."""
        return self.reason in AUTHENTICATION_FAILURES
