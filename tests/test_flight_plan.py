"""Tests for plan_datagrams in aiodtls.reliability.flight: cutting a flight to the MTU.

Every datagram must fit the MTU, the records must reassemble to the original messages, and
the plan must be the same every time it is computed (SPEC P2, F4, T5, T6).
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiodtls import ConnectionState, DtlsConfiguration
from aiodtls.buffer import Buffer
from aiodtls.record.header import ContentType
from aiodtls.reliability.flight import (
    FlightEntry,
    MtuTooSmall,
    PlannedRecord,
    plan_datagrams,
)
from aiodtls.reliability.fragments import (
    HANDSHAKE_HEADER_LENGTH,
    HandshakeHeader,
    pull_handshake_header,
)
from aiodtls.reliability.reassembly import FragmentStatus, HandshakeMessage, Reassembler
from aiodtls.reliability.timer import RetransmissionPolicy
from aiodtls.sweep import chain_of_size
from pairs import handshake as run_handshake

HANDSHAKE = ContentType.handshake
CCS = ContentType.change_cipher_spec

CERTIFICATE = 11
SERVER_HELLO_DONE = 14
CLIENT_KEY_EXCHANGE = 16
FINISHED = 20


def overhead(epoch: int) -> int:
    """Record header, plus GCM nonce and tag from epoch 1 on."""
    return 13 if epoch == 0 else 13 + 24


def handshake(
    message_seq: int, size: int, *, epoch: int = 0, msg_type: int = CERTIFICATE
) -> FlightEntry:
    """A handshake entry with a recognisable body of ``size`` bytes."""
    body = bytes((message_seq * 31 + i) % 251 for i in range(size))
    return FlightEntry(HANDSHAKE, epoch, msg_type, message_seq, body)


def ccs(epoch: int = 0) -> FlightEntry:
    """A ChangeCipherSpec entry."""
    return FlightEntry(CCS, epoch)


def datagram_size(datagram: list[PlannedRecord]) -> int:
    """Bytes on the wire once every record is sealed."""
    return sum(overhead(epoch) + len(payload) for epoch, _, payload in datagram)


def fragments_of(payload: bytes) -> list[tuple[HandshakeHeader, bytes]]:
    """The (header, fragment) pairs of a handshake record: one, or several when coalesced."""
    buf = Buffer(payload)
    out = []
    while buf.remaining():
        header = pull_handshake_header(buf)
        out.append((header, buf.pull_bytes(header.fragment_length)))
    return out


def reassemble(plan: list[list[PlannedRecord]]) -> tuple[list[HandshakeMessage], list[int]]:
    """Feed every handshake record to a Reassembler; also return the CCS epochs in order."""
    reassembler = Reassembler()
    seqs = [
        pull_handshake_header(Buffer(payload)).message_seq
        for datagram in plan
        for _, content_type, payload in datagram
        if content_type == HANDSHAKE
    ]
    reassembler.restart_at(min(seqs, default=0))
    messages: list[HandshakeMessage] = []
    ccs_epochs: list[int] = []
    for datagram in plan:
        for epoch, content_type, payload in datagram:
            if content_type == CCS:
                assert payload == b"\x01"
                ccs_epochs.append(epoch)
                continue
            assert content_type == HANDSHAKE
            assert len(payload) <= 2**14  # R5
            for header, fragment in fragments_of(payload):
                status = reassembler.add_fragment(
                    header.msg_type,
                    header.length,
                    header.message_seq,
                    header.fragment_offset,
                    fragment,
                    epoch,
                )
                assert status == FragmentStatus.NEW
                while (message := reassembler.pop_message()) is not None:
                    messages.append(message)
    assert reassembler.buffered_bytes == 0
    return messages, ccs_epochs


def check_plan(
    entries: list[FlightEntry], mtu: int, *, coalesce: bool = False
) -> list[list[PlannedRecord]]:
    """Plan ``entries`` and check every invariant that must hold for any MTU."""
    plan = plan_datagrams(entries, mtu, overhead, coalesce=coalesce)
    assert all(datagram for datagram in plan)
    for datagram in plan:
        assert datagram_size(datagram) <= mtu
    messages, ccs_epochs = reassemble(plan)
    expected = [e for e in entries if not e.is_change_cipher_spec]
    assert [(m.msg_type, m.message_seq, m.body, m.epoch) for m in messages] == [
        (e.msg_type, e.message_seq, e.body, e.epoch) for e in expected
    ]
    assert ccs_epochs == [e.epoch for e in entries if e.is_change_cipher_spec]
    # stable across retransmissions
    assert plan_datagrams(entries, mtu, overhead, coalesce=coalesce) == plan
    return plan


# -- basic plans -----------------------------------------------------------------------------


def test_small_flight_fits_one_datagram() -> None:
    """Messages that fit together share one datagram, one record each, in order (P2)."""
    entries = [handshake(1, 80), handshake(2, 0, msg_type=SERVER_HELLO_DONE)]
    plan = check_plan(entries, 1400)
    assert len(plan) == 1
    assert [len(payload) for _, _, payload in plan[0]] == [12 + 80, 12]


def test_final_client_flight_with_ccs() -> None:
    """CKE (epoch 0), CCS (epoch 0), Finished (epoch 1) keep their order and epochs (T6)."""
    entries = [
        handshake(2, 65, msg_type=CLIENT_KEY_EXCHANGE),
        ccs(0),
        handshake(3, 12, epoch=1, msg_type=FINISHED),
    ]
    plan = check_plan(entries, 1400)
    assert [(epoch, content_type) for epoch, content_type, _ in plan[0]] == [
        (0, HANDSHAKE),
        (0, CCS),
        (1, HANDSHAKE),
    ]
    assert plan[0][1][2] == b"\x01"


def test_large_message_is_fragmented_to_fill_each_datagram() -> None:
    """A message larger than the MTU is cut; every cut datagram is exactly MTU bytes (P2)."""
    plan = check_plan([handshake(0, 3000)], 500)
    sizes = [datagram_size(d) for d in plan]
    assert sizes[:-1] == [500] * (len(plan) - 1)
    assert sizes[-1] <= 500
    assert len(plan) == -(-3000 // (500 - 13 - HANDSHAKE_HEADER_LENGTH))


def test_fragment_headers_are_contiguous() -> None:
    """Fragments of one message carry its full length and consecutive offsets (F1)."""
    plan = plan_datagrams([handshake(4, 1000)], 300, overhead)
    offset = 0
    for datagram in plan:
        for _, _, payload in datagram:
            header = pull_handshake_header(Buffer(payload))
            assert (header.message_seq, header.length) == (4, 1000)
            assert header.fragment_offset == offset
            offset += header.fragment_length
    assert offset == 1000


def test_short_tail_room_starts_the_message_in_the_next_datagram() -> None:
    """A fragment under 32 bytes is not squeezed in after another record (P2)."""
    first = handshake(0, 400 - 13 - 12 - 13 - 12 - 20)  # leaves 20 bytes of payload room
    plan = check_plan([first, handshake(1, 100)], 400)
    assert len(plan) == 2
    assert len(plan[0]) == 1


def test_mtu_too_small_is_refused() -> None:
    """An MTU that cannot carry one byte of fragment raises MtuTooSmall (P2)."""
    for mtu in (0, 1, 13, 25):
        with pytest.raises(MtuTooSmall):
            plan_datagrams([handshake(0, 10)], mtu, overhead)
    with pytest.raises(MtuTooSmall):
        plan_datagrams([ccs(0), handshake(1, 12, epoch=1, msg_type=FINISHED)], 40, overhead)
    assert issubclass(MtuTooSmall, ValueError)


def test_smallest_workable_mtu_sends_one_byte_per_record() -> None:
    """At header + 1 byte the plan still works, one byte per datagram."""
    plan = check_plan([handshake(0, 5)], 13 + 12 + 1)
    assert len(plan) == 5


def test_ccs_that_cannot_fit_raises_mtu_too_small() -> None:
    """No datagram may exceed the MTU, CCS included (P2)."""
    with pytest.raises(MtuTooSmall):
        plan_datagrams([ccs(0)], 10, overhead)


# -- properties ------------------------------------------------------------------------------


@st.composite
def flights(draw: st.DrawFn, max_size: int = 5000) -> list[FlightEntry]:
    """1–6 handshake messages at epoch 0, optionally followed by CCS and an epoch-1 message."""
    sizes = draw(st.lists(st.integers(0, max_size), min_size=1, max_size=6))
    entries = [handshake(seq, size) for seq, size in enumerate(sizes)]
    if draw(st.booleans()):
        entries.append(ccs(0))
        entries.append(handshake(len(sizes), draw(st.integers(0, 300)), epoch=1, msg_type=FINISHED))
    return entries


@given(entries=flights(), mtu=st.integers(200, 1500))
@settings(max_examples=150, deadline=None)
def test_every_plan_fits_the_mtu_and_reassembles(entries: list[FlightEntry], mtu: int) -> None:
    """For any MTU and sizes: datagrams ≤ MTU, exact reassembly, stable plan (P2, F4, T5)."""
    plan = check_plan(entries, mtu)
    for datagram in plan[:-1]:
        _, content_type, payload = datagram[-1]
        if content_type == HANDSHAKE:
            header = pull_handshake_header(Buffer(payload))
            if header.fragment_offset + header.fragment_length < header.length:
                # A message continued in the next datagram fills this one completely.
                assert datagram_size(datagram) == mtu


@given(entries=flights(max_size=600), mtu=st.integers(0, 199))
@settings(max_examples=100, deadline=None)
def test_small_mtus_fit_or_raise(entries: list[FlightEntry], mtu: int) -> None:
    """Small MTUs: MtuTooSmall exactly when no fragment byte fits, else a valid plan."""
    smallest = max(  # an empty message fits in its headers (hypothesis found that case)
        overhead(e.epoch) + HANDSHAKE_HEADER_LENGTH + min(1, len(e.body))
        for e in entries
        if not e.is_change_cipher_spec
    )
    if mtu < smallest:
        with pytest.raises(MtuTooSmall):
            plan_datagrams(entries, mtu, overhead)
    else:
        check_plan(entries, mtu)


def test_no_record_carries_more_than_2_to_the_14_bytes_whatever_the_mtu() -> None:  # R5
    """With a 60000-byte MTU a 40 KB certificate chain still goes out in records of at most
    2^14 plaintext bytes, packed several to a datagram (the peer drops longer ones)."""
    plan = check_plan([handshake(1, 40_000), handshake(2, 100)], mtu=60_000)
    sizes = [len(payload) for datagram in plan for _, _, payload in datagram]
    assert max(sizes) == 2**14
    assert len(plan) == 1


def test_handshake_with_a_huge_mtu_and_a_20_kb_chain_needs_no_retransmission() -> None:
    chain, _ = chain_of_size(20_000)
    policy = RetransmissionPolicy(mtu_backoff_after=0)
    client = DtlsConfiguration(
        server_name="localhost", ca_certificates=[chain.root], mtu=60_000, retransmission=policy
    )
    server = DtlsConfiguration(
        is_client=False,
        certificate_chain=chain.chain,
        private_key=chain.key,
        mtu=60_000,
        retransmission=policy,
    )
    pair = run_handshake(client, server)
    assert pair.client.state == pair.server.state == ConnectionState.ESTABLISHED
    assert pair.server.stats.retransmissions == 0


# -- coalescing (DTLS 1.3) -------------------------------------------------------------------

ENCRYPTED_EXTENSIONS = 8


def test_coalesced_messages_of_one_epoch_share_a_record() -> None:
    """DTLS 1.3's server flight: the ServerHello alone in epoch 0 (a key change ends a record,
    RFC 8446 §5.1), EncryptedExtensions, Certificate, CertificateVerify and Finished in one
    epoch-2 record, whose overhead is paid once (RFC 6347 §4.2.3, RFC 9147 §5.5)."""
    entries = [
        handshake(1, 70),
        handshake(2, 2, epoch=2, msg_type=ENCRYPTED_EXTENSIONS),
        handshake(3, 300, epoch=2),
        handshake(4, 72, epoch=2),
        handshake(5, 32, epoch=2, msg_type=FINISHED),
    ]
    plan = check_plan(entries, 1400, coalesce=True)
    assert [(epoch, len(fragments_of(payload))) for epoch, _, payload in plan[0]] == [
        (0, 1),
        (2, 4),
    ]
    separate = check_plan(entries, 1400)
    assert datagram_size(separate[0]) - datagram_size(plan[0]) == 3 * overhead(2)


def test_a_coalesced_record_continues_a_message_the_next_datagram_ends() -> None:
    """A message too big for the room left is cut as without coalescing: its first fragment
    joins the record, the rest starts the next datagram, every datagram fills the MTU."""
    plan = check_plan([handshake(0, 100, epoch=2), handshake(1, 1000, epoch=2)], 500, coalesce=True)
    assert [len(datagram) for datagram in plan] == [1, 1, 1]
    assert [datagram_size(d) for d in plan[:-1]] == [500, 500]
    assert [len(fragments_of(plan[0][0][2]))] == [2]


@given(
    sizes=st.lists(st.tuples(st.integers(0, 3000), st.sampled_from([0, 2, 3])), max_size=6),
    mtu=st.integers(200, 1500),
)
@settings(max_examples=150, deadline=None)
def test_every_coalesced_plan_fits_the_mtu_and_reassembles(
    sizes: list[tuple[int, int]], mtu: int
) -> None:
    """For any MTU, sizes and epochs: datagrams ≤ MTU, exact reassembly, stable plan, and no
    two neighbouring records of a datagram in one epoch (they would have been one record)."""
    entries = [handshake(seq, size, epoch=epoch) for seq, (size, epoch) in enumerate(sizes)]
    for datagram in check_plan(entries, mtu, coalesce=True):
        epochs = [epoch for epoch, _, _ in datagram]
        assert all(a != b for a, b in itertools.pairwise(epochs))


def test_a_coalesced_record_never_carries_more_than_2_to_the_14_bytes() -> None:  # R5
    """Two messages that fill 2^14 bytes together start a second record at a 60000-byte MTU."""
    half = (2**14 - 2 * HANDSHAKE_HEADER_LENGTH) // 2
    plan = check_plan(
        [handshake(0, half, epoch=2), handshake(1, half + 1, epoch=2)], 60_000, coalesce=True
    )
    assert [len(fragments_of(payload)) for _, _, payload in plan[0]] == [2, 1]
