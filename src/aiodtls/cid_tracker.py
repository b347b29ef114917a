"""What an on-path observer learns of one client-server pair's connection IDs (RFC 9146).

Owns the per-pair state the keyless tools need to frame ``tls12_cid`` records: each
direction's CID length, learnt from the ``connection_id`` extension of the plaintext hellos,
the CID each direction's records carry, and the newest (epoch, sequence number) among the
client's ``tls12_cid`` records (which tells a NAT rebinding from a replay). Each hello carries
the CID its sender wants to *receive* (RFC 9146 §3), so the ClientHello fixes the length of
server-to-client CIDs and the ServerHello the length of client-to-server ones.

It frames nothing itself (:mod:`aiodtls.dissect` does) and decides nothing: the diagnosis and
the proxy draw the conclusions. Hellos it cannot see (fragmented, or sent before the observer
started) leave a length unknown, and :func:`aiodtls.dissect.dissect` then infers it per
datagram where the datagram allows.
"""

from __future__ import annotations

from .dissect import DissectedItem, DtlsRecord, UnframedCidRecord, dissect
from .drops import Drop, DropReason
from .handshake.messages import HandshakeType
from .record.header import ContentType

__all__ = ["DIRECTIONS", "ConnectionIdTracker"]

DIRECTIONS = ("c2s", "s2c")
"Client to server, server to client."

_UNFRAMEABLE = frozenset({DropReason.TRUNCATED_RECORD_HEADER, DropReason.RECORD_OVERRUNS_DATAGRAM})
"The reasons :func:`aiodtls.dissect.dissect` gives when it cannot frame a record."


class ConnectionIdTracker:
    """The connection IDs of one client-server pair, as far as its datagrams show them."""

    def __init__(self) -> None:
        self.cid_lengths: dict[str, int | None] = dict.fromkeys(DIRECTIONS)
        "Per direction, the CID length of its ``tls12_cid`` records; None until a hello says."
        self.connection_ids: dict[str, bytes | None] = dict.fromkeys(DIRECTIONS)
        """Per direction, the CID its records carry: negotiated in a hello, then as last seen
        in a ``tls12_cid`` record (``b""``: zero-length, records without CID)."""
        self.negotiated: bool | None = None
        "Whether the last ServerHello accepted connection IDs; None until one is seen."
        self.newest_client_record: tuple[int, int] | None = None
        "(epoch, sequence_number) of the newest ``tls12_cid`` record the client sent."

    def dissect(self, direction: str, datagram: bytes) -> list[DissectedItem]:
        """Dissect a datagram sent in ``direction`` with what is known of its CID length, and
        learn from it (its hellos, its ``tls12_cid`` records)."""
        cid_length = self.cid_lengths[direction]
        items = dissect(datagram, cid_length=cid_length)
        if cid_length is not None and _misframed(items):
            # The negotiated length does not frame it: a renegotiation (whose hellos are
            # encrypted) may have changed the CIDs (RFC 9146 §3). Infer, if that frames it.
            inferred = dissect(datagram, cid_length=None)
            if not _misframed(inferred):
                items = inferred
        for item in items:
            if isinstance(item, DtlsRecord):
                for fragment in item.fragments:
                    if fragment.is_whole and fragment.msg_type == HandshakeType.client_hello:
                        self._client_hello(fragment.connection_id)
                    elif fragment.is_whole and fragment.msg_type == HandshakeType.server_hello:
                        self._server_hello(fragment.connection_id)
                if item.content_type != ContentType.tls12_cid:
                    continue
                if item.connection_id is not None:
                    self.connection_ids[direction] = item.connection_id
            elif not isinstance(item, UnframedCidRecord):
                continue
            if direction == "c2s":
                number = (item.epoch, item.sequence_number)
                if self.newest_client_record is None or number > self.newest_client_record:
                    self.newest_client_record = number
        return items

    def _client_hello(self, connection_id: bytes | None) -> None:
        if connection_id is not None and connection_id == self.connection_ids["s2c"]:
            return  # a retransmitted ClientHello: nothing new
        # A new handshake starts: what the server will send is as the client asks; what the
        # client will send waits for the ServerHello.
        self.negotiated = None
        self.cid_lengths["c2s"] = None
        self.connection_ids["c2s"] = None
        self.cid_lengths["s2c"] = None if connection_id is None else len(connection_id)
        self.connection_ids["s2c"] = connection_id

    def _server_hello(self, connection_id: bytes | None) -> None:
        self.negotiated = connection_id is not None
        if connection_id is None:
            # RFC 9146 §3: no extension in the ServerHello, no CIDs either way. Lengths stay
            # unknown, so a tls12_cid record sent anyway is still framed by inference.
            self.cid_lengths = dict.fromkeys(DIRECTIONS)
            self.connection_ids = dict.fromkeys(DIRECTIONS)
            return
        self.cid_lengths["c2s"] = len(connection_id)
        self.connection_ids["c2s"] = connection_id


def _misframed(items: list[DissectedItem]) -> bool:
    return any(isinstance(item, Drop) and item.reason in _UNFRAMEABLE for item in items)
