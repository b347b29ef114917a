"""Tests for aiodtls.cid_tracker: an observer learns each direction's CID length (RFC 9146).

The hellos and records are built by hand (tests/test_dissect.py's builders), so the tracker
is checked against the RFC's wire format, not against aiodtls's own encoders.
"""

from __future__ import annotations

from aiodtls.cid_tracker import ConnectionIdTracker
from aiodtls.dissect import DissectedItem, DtlsRecord, UnframedCidRecord, describe
from test_dissect import (
    APPLICATION_DATA,
    CLIENT_HELLO,
    HANDSHAKE,
    SERVER_HELLO,
    cid_record,
    client_hello_body,
    connection_id_extension,
    extensions_block,
    fragment,
    record,
    server_hello_body,
)

CLIENT_CID = bytes.fromhex("c1c2")
"What the client asks to receive: the server puts it in its records (2 bytes)."
SERVER_CID = bytes.fromhex("5e5e5e5e")
"What the server asks to receive: the client puts it in its records (4 bytes)."


def client_hello(cid: bytes | None) -> bytes:
    extensions = () if cid is None else (connection_id_extension(cid),)
    body = client_hello_body() + (extensions_block(*extensions) if extensions else b"")
    return record(HANDSHAKE, fragment(CLIENT_HELLO, body))


def server_hello(cid: bytes | None) -> bytes:
    extensions = () if cid is None else (connection_id_extension(cid),)
    return record(HANDSHAKE, fragment(SERVER_HELLO, server_hello_body(*extensions)))


def only_record(items: list[DissectedItem]) -> DtlsRecord:
    [item] = items
    assert isinstance(item, DtlsRecord)
    return item


def test_each_hello_sets_the_length_of_the_other_direction() -> None:  # I1, I3
    tracker = ConnectionIdTracker()
    tracker.dissect("c2s", client_hello(CLIENT_CID))
    assert tracker.cid_lengths == {"c2s": None, "s2c": 2}
    tracker.dissect("s2c", server_hello(SERVER_CID))
    assert tracker.cid_lengths == {"c2s": 4, "s2c": 2}
    assert tracker.negotiated is True
    assert tracker.connection_ids == {"c2s": SERVER_CID, "s2c": CLIENT_CID}

    from_client = only_record(tracker.dissect("c2s", cid_record(SERVER_CID, b"\x00" * 30)))
    assert from_client.connection_id == SERVER_CID and not from_client.cid_length_inferred
    from_server = only_record(tracker.dissect("s2c", cid_record(CLIENT_CID, b"s" * 20, seq=3)))
    assert from_server.connection_id == CLIENT_CID and from_server.length == 20
    assert describe(from_server) == "CID[c1c2] e1#3 enc 20B"


def test_newest_client_record_is_the_highest_epoch_and_sequence() -> None:  # I5
    tracker = ConnectionIdTracker()
    tracker.dissect("s2c", server_hello(SERVER_CID))
    for epoch, seq in ((1, 4), (1, 9), (1, 2)):
        tracker.dissect("c2s", cid_record(SERVER_CID, b"a" * 10, epoch=epoch, seq=seq))
    tracker.dissect("s2c", cid_record(SERVER_CID, b"b" * 10, epoch=3, seq=50))  # not the client
    assert tracker.newest_client_record == (1, 9)
    tracker.dissect("c2s", cid_record(SERVER_CID, b"a" * 10, epoch=2, seq=0))
    assert tracker.newest_client_record == (2, 0)


def test_zero_length_cid_means_records_without_cid() -> None:  # I1: "send CIDs but want none"
    tracker = ConnectionIdTracker()
    tracker.dissect("c2s", client_hello(b""))
    tracker.dissect("s2c", server_hello(SERVER_CID))
    assert tracker.cid_lengths == {"c2s": 4, "s2c": 0}
    # RFC 9146 §4: the server sends ordinary records to a client that wants no CID.
    plain = only_record(tracker.dissect("s2c", record(APPLICATION_DATA, b"x" * 9, epoch=1)))
    assert plain.content_type == APPLICATION_DATA and plain.length == 9


def test_server_hello_without_extension_means_no_cids() -> None:
    tracker = ConnectionIdTracker()
    tracker.dissect("c2s", client_hello(CLIENT_CID))
    tracker.dissect("s2c", server_hello(None))
    assert tracker.negotiated is False
    assert tracker.cid_lengths == {"c2s": None, "s2c": None}
    # A tls12_cid record sent anyway (SPEC I3: the receiver drops it) is still framed.
    rec = only_record(tracker.dissect("c2s", cid_record(b"\x01\x02\x03", b"q" * 40)))
    assert rec.connection_id == b"\x01\x02\x03" and rec.cid_length_inferred


def test_retransmitted_client_hello_keeps_what_the_server_hello_said() -> None:
    tracker = ConnectionIdTracker()
    tracker.dissect("c2s", client_hello(CLIENT_CID))
    tracker.dissect("s2c", server_hello(SERVER_CID))
    tracker.dissect("c2s", client_hello(CLIENT_CID))  # the client timed out and resent it
    assert tracker.cid_lengths == {"c2s": 4, "s2c": 2}
    tracker.dissect("c2s", client_hello(b"\x99"))  # a new handshake with another CID
    assert tracker.cid_lengths == {"c2s": None, "s2c": 1}
    assert tracker.negotiated is None


def test_without_hellos_the_length_is_inferred_and_the_cid_remembered() -> None:
    tracker = ConnectionIdTracker()  # started mid-session: no hello seen
    rec = only_record(tracker.dissect("c2s", cid_record(SERVER_CID, b"z" * 33, seq=7)))
    assert rec.cid_length_inferred and rec.connection_id == SERVER_CID
    assert tracker.connection_ids["c2s"] == SERVER_CID
    assert tracker.cid_lengths["c2s"] is None  # one datagram's inference is not adopted
    assert tracker.newest_client_record == (1, 7)
    # A datagram no single length frames is still a client record with a readable number.
    ambiguous = b"\x19\xfe\xfd\x00\x02" + (8).to_bytes(6, "big") + b"\xaa\x00\x04\x00\x02zz"
    [item] = tracker.dissect("c2s", ambiguous)
    assert isinstance(item, UnframedCidRecord)
    assert tracker.newest_client_record == (2, 8)


def test_a_cid_of_another_length_than_negotiated_is_inferred() -> None:
    """A renegotiation's hellos are encrypted, so a new CID length can appear unannounced:
    the old length misframes the record, and inference frames it instead of 'malformed'."""
    tracker = ConnectionIdTracker()
    tracker.dissect("s2c", server_hello(SERVER_CID))
    longer = bytes.fromhex("0102030405060708")
    rec = only_record(tracker.dissect("c2s", cid_record(longer, b"r" * 30, epoch=2)))
    assert rec.connection_id == longer and rec.cid_length_inferred
    assert tracker.cid_lengths["c2s"] == 4  # still what the handshake said
