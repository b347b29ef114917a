"""Bit-flip and truncation sweep over every datagram of a live handshake (hardening item 12).

The handshake is ECDHE-ECDSA with the cookie exchange and a server that sends a
3-certificate chain (leaf, intermediate and root: flight 4 spans two datagrams). One run is
one live handshake in memory (``pairs.Pair``, virtual clock) in which exactly one datagram,
the ``index``-th sent in either direction, is changed in transit; every other datagram,
retransmissions included, arrives intact. Keys and randoms are fresh in every run, so each
mutant meets real, live state. A mutation is one bit flipped among the first 64 bytes of the
datagram (record header, handshake header and the start of the body) or the datagram cut to a
shorter length.

Each run goes on in virtual time until neither side is handshaking, then must have ended in
one of the ways the issue allows (SPEC X18, T8):

- both sides completed exactly once, the client authenticated the real server leaf, both
  export the same keying material, and one record each way then arrives exactly as sent;
- or a side ended with a named alert (``ConnectionTerminated.alert``) or a handshake timeout.

In every run no exception reaches the caller, no side reports data it was not sent, and no
side ends with the ``internal_error`` that ``DtlsConnection`` substitutes for an exception of
its own (the sweep would otherwise hide a crash behind a "named alert").

The default suite runs a deterministic sample (every 7th bit, every 11th length and the
header boundaries); the whole sweep is marked ``slow``. Two library bugs the sweep found have
regression tests at the end: a garbled key in a peer certificate ended in ``internal_error``
instead of ``bad_certificate``, and a flipped high bit of any epoch-0 record sequence number
poisoned the replay window, so the handshake timed out.

The timeouts left (about 70 of the 5,800 runs) come from a flipped bit in the handshake
header's ``length`` (upwards, still under the size cap) or ``message_seq`` of an epoch-0
message: reassembly keeps the first length it saw for a message_seq and drops the genuine
retransmissions that disagree (as OpenSSL does), or the two sides number the messages
differently from then on. Nothing authenticates epoch 0, so the issue allows these.
"""

from __future__ import annotations

import functools
import random
from collections import Counter
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from aiodtls import (
    AlertDescription,
    ConnectionState,
    DtlsConfiguration,
    DtlsConnection,
    HandshakeCompleted,
    ProtocolVersion,
)
from aiodtls.buffer import Buffer
from aiodtls.handshake.messages import (
    Certificate,
    HandshakeType,
    encode_message,
    push_certificate,
)
from aiodtls.record.header import (
    DTLS1_2,
    ContentType,
    RawRecord,
    encode_record_header,
    split_datagram,
)
from aiodtls.reliability.fragments import encode_handshake_fragment, pull_handshake_header
from certs import server_chain
from pairs import (
    CLIENT_ADDR,
    SERVER_ADDR,
    Outcome,
    Pair,
    client_config,
    client_config12,
    handshake,
    make_pair,
    server_config,
    server_config12,
)

FLIPPED_PREFIX = 64
"Bits are flipped in the first 64 bytes of a datagram only."

RUN_UNTIL = 300.0
"Virtual seconds a run may last: well past the 60 s handshake timeout."

HEADER_BOUNDARIES = (0, 1, 12, 13, 14, 24, 25, 26)
"Truncation lengths around the record header (13 bytes) and the handshake header (12 more)."


Versions = tuple[ProtocolVersion, ...]
DTLS12: Versions = (ProtocolVersion.DTLSv1_2,)
DTLS13: Versions = (ProtocolVersion.DTLSv1_3,)


def configurations(versions: Versions = DTLS12) -> tuple[DtlsConfiguration, DtlsConfiguration]:
    """A verifying client and a server that sends leaf, intermediate and root."""
    chain = server_chain("ecdsa")
    server = server_config(versions=versions)
    server.certificate_chain = [*chain.chain, chain.root]
    return client_config(versions=versions), server


@dataclass(frozen=True)
class Mutation:
    """One change to one datagram of the handshake."""

    index: int
    "Which datagram, counted in sending order over both directions from 0."
    kind: str
    "'flip' or 'truncate'."
    position: int
    "The bit to flip (0 is the top bit of byte 0), or how many bytes to keep."

    def apply(self, datagram: bytes) -> bytes:
        """The mutated datagram (a truncation always removes at least one byte)."""
        if self.kind == "flip":
            out = bytearray(datagram)
            out[self.position // 8] ^= 0x80 >> (self.position % 8)
            return bytes(out)
        return datagram[: min(self.position, len(datagram) - 1)]


@functools.cache
def reference_handshake(versions: Versions = DTLS12) -> tuple[tuple[str, int], ...]:
    """(direction, length) of every datagram of an unmutated handshake."""
    pair = handshake(*configurations(versions))
    assert pair.client.state == pair.server.state == ConnectionState.ESTABLISHED
    return tuple((direction, len(data)) for _, direction, data in pair.sent)


def mutations(index: int, kind: str, *, full: bool, versions: Versions = DTLS12) -> list[Mutation]:
    """Every mutation of datagram ``index`` of one kind, or a deterministic sample of them."""
    length = reference_handshake(versions)[index][1]
    if kind == "flip":
        bits = range(min(length, FLIPPED_PREFIX) * 8)
        chosen = bits if full else [b for b in bits if b % 7 == index % 7]
    else:
        lengths = range(length)
        chosen = (
            lengths
            if full
            else sorted({n for n in lengths if n % 11 == index % 11 or n in HEADER_BOUNDARIES})
        )
    return [Mutation(index, kind, position) for position in chosen]


# -- one run ---------------------------------------------------------------------------------


def internal_errors(outcome: Outcome) -> list[str]:
    """Reasons of terminations that hide an exception of the connection's own."""
    terminated = outcome.terminated
    if (
        terminated is not None
        and terminated.alert == AlertDescription.internal_error
        and not terminated.by_peer
    ):
        return [terminated.reason]
    return []


def run(mutation: Mutation, versions: Versions = DTLS12) -> str:
    """One live handshake with ``mutation`` applied in transit; checks every property and
    returns the outcome: 'completed', or the alerts and timeouts that ended it."""
    client_cfg, server_cfg = configurations(versions)
    pair = Pair(
        DtlsConnection(configuration=client_cfg, rng=random.Random(1)),
        DtlsConnection(configuration=server_cfg, rng=random.Random(2)),
    )
    pair.client.connect(SERVER_ADDR, 0.0)
    sent = 0

    def deliver(direction: str, datagram: bytes) -> list[bytes]:
        nonlocal sent
        index, sent = sent, sent + 1
        return [mutation.apply(datagram) if index == mutation.index else datagram]

    pair.drive(deliver, until=RUN_UNTIL)
    assert sent > mutation.index, "the mutated datagram was never sent"
    outcomes = {"client": pair.client_outcome, "server": pair.server_outcome}
    for side, conn in (("client", pair.client), ("server", pair.server)):
        outcome = outcomes[side]
        assert conn.state != ConnectionState.HANDSHAKING, f"{side} still handshaking"
        assert not internal_errors(outcome), f"{side}: {internal_errors(outcome)}"
        assert outcome.data == [], f"{side} delivered data nobody sent: {outcome.data!r}"
        completions = [e for e in outcome.events if isinstance(e, HandshakeCompleted)]
        assert len(completions) <= 1, f"{side} completed {len(completions)} times"
        if conn.state == ConnectionState.CLOSED:
            terminated = outcome.terminated
            assert terminated is not None, f"{side} closed without ConnectionTerminated"
            assert terminated.alert is not None or "timed out" in terminated.reason, terminated
    if pair.client.state == pair.server.state == ConnectionState.ESTABLISHED:
        check_established(pair)
        return "completed"
    ends = sorted(
        {
            "timeout" if t.alert is None else f"alert {t.alert.name}"
            for outcome in outcomes.values()
            if (t := outcome.terminated) is not None and not t.by_peer
        }
    )
    label = " + ".join(ends) or "closed by the peer"
    survivors = [side for side, o in outcomes.items() if o.terminated is None]
    return f"{survivors[0]} completed, {label}" if survivors else label


def check_established(pair: Pair) -> None:
    """Both completed on the real server chain with the same keys; data flows both ways."""
    completed = pair.client_outcome.completed
    assert completed is not None and pair.server_outcome.completed is not None
    assert completed.peer_certificates[0] == server_chain("ecdsa").certificate
    label, size = "EXPORTER-aiodtls-fuzz", 32
    assert pair.client.export_keying_material(label, size) == (
        pair.server.export_keying_material(label, size)
    )
    pair.client.send(b"client to server")
    pair.server.send(b"server to client")
    pair.exchange()
    assert pair.server_outcome.data == [b"client to server"]
    assert pair.client_outcome.data == [b"server to client"]


def sweep(index: int, kind: str, *, full: bool, versions: Versions = DTLS12) -> Counter[str]:
    """Run every selected mutation of one datagram; a failure names the mutation."""
    outcomes: Counter[str] = Counter()
    for mutation in mutations(index, kind, full=full, versions=versions):
        try:
            outcomes[run(mutation, versions)] += 1
        except AssertionError as exc:
            raise AssertionError(f"{mutation}: {exc}") from exc
    return outcomes


# -- the tests -------------------------------------------------------------------------------

DATAGRAMS = [
    pytest.param(index, id=f"{index}-{direction}")
    for index, (direction, _) in enumerate(reference_handshake())
]


def test_the_swept_handshake_has_both_directions_and_a_two_datagram_flight() -> None:
    """The sweep covers what the issue asks: the 3-certificate flight 4 needs two datagrams."""
    directions = [direction for direction, _ in reference_handshake()]
    assert directions.count("c2s") >= 3 and directions.count("s2c") >= 4
    assert len(configurations()[1].certificate_chain) == 3


@pytest.mark.parametrize("kind", ["flip", "truncate"])
@pytest.mark.parametrize("index", DATAGRAMS)
def test_sampled_mutations_complete_or_end_with_a_named_alert(index: int, kind: str) -> None:
    # X18, T8: a sample of the sweep below, for the default suite.
    outcomes = sweep(index, kind, full=False)
    assert sum(outcomes.values()) == len(mutations(index, kind, full=False))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["flip", "truncate"])
@pytest.mark.parametrize("index", DATAGRAMS)
def test_every_mutation_completes_or_ends_with_a_named_alert(index: int, kind: str) -> None:
    # X18, T8: every bit of the first 64 bytes, every truncation length.
    outcomes = sweep(index, kind, full=True)
    print(f"datagram {index} {kind}: {dict(outcomes.most_common())}")


@pytest.mark.slow  # 3 s, kept out of the README command (its 5-minute budget is nearly used)
@pytest.mark.parametrize("kind", ["flip", "truncate"])
def test_sampled_mutations_of_a_dtls13_handshake_complete_or_end_with_a_named_alert(
    kind: str,
) -> None:
    # X18, T8 for DTLS 1.3 (HelloRetryRequest and its copy, ACKs, unified headers). It found a
    # corrupt message_seq of the second ClientHello leaving the client alone "established".
    for index in range(len(reference_handshake(DTLS13))):
        outcomes = sweep(index, kind, full=False, versions=DTLS13)
        assert sum(outcomes.values()) == len(mutations(index, kind, full=False, versions=DTLS13))


def test_truncation_to_nothing_is_recovered_by_retransmission() -> None:
    # X18: an empty datagram is dropped and the flight is sent again.
    for index in range(len(reference_handshake())):
        assert run(Mutation(index, "truncate", 0)) == "completed"


# -- bugs found by the sweep -----------------------------------------------------------------


def _leaf_with_an_unloadable_key(corruption: str) -> x509.Certificate:
    """The server leaf with its key garbled so that the DER still parses but
    ``public_key()`` raises: an EC point off the curve (ValueError), the curve OID changed from
    1.2.840.10045.3.1.7 to 2.2.840.10045.3.1.7, or the key type OID from 1.2.840.10045.2.1 to
    1.2.840.10044.2.1 (both UnsupportedAlgorithm; the last one found by fuzz/)."""
    leaf = server_chain("ecdsa").certificate
    der = leaf.public_bytes(Encoding.DER)
    if corruption == "point-off-curve":
        point = leaf.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        at, value = der.index(point) + 1, der[der.index(point) + 1] ^ 1
    elif corruption == "unknown-curve":
        at, value = der.index(bytes.fromhex("06082a8648ce3d030107")) + 2, 0x52
    else:
        at, value = der.index(bytes.fromhex("06072a8648ce3d0201")) + 6, 0x3C
    return x509.load_der_x509_certificate(der[:at] + bytes((value,)) + der[at + 1 :])


@pytest.mark.parametrize("corruption", ["point-off-curve", "unknown-curve", "unknown-key-type"])
def test_certificate_with_an_unloadable_key_is_bad_certificate_not_internal_error(
    corruption: str,
) -> None:
    chain = server_chain("ecdsa")
    server = server_config()
    server.certificate_chain = [_leaf_with_an_unloadable_key(corruption), *chain.intermediates]
    pair = handshake(client_config(), server)
    terminated = pair.client_outcome.terminated
    assert terminated is not None and pair.client_outcome.completed is None
    assert terminated.alert == AlertDescription.bad_certificate, terminated


@pytest.mark.parametrize("victim", ["client", "server"])
def test_far_future_plaintext_record_does_not_block_the_handshake(victim: str) -> None:
    # X6: epoch 0 during the handshake is the current epoch.
    forged = encode_record_header(ContentType.change_cipher_spec, DTLS1_2, 0, (1 << 48) - 2, 1)
    pair = make_pair(*configurations())
    if victim == "client":
        pair.client.receive_datagram(forged + b"\x01", SERVER_ADDR, 0.0)
    else:
        pair.exchange(lambda direction, datagram: [])  # the server hears the client later
        pair.server.receive_datagram(forged + b"\x01", CLIENT_ADDR, 0.0)
    pair.drive(until=RUN_UNTIL)
    assert pair.client.state == pair.server.state == ConnectionState.ESTABLISHED, (
        pair.client_outcome.terminated,
        pair.server_outcome.terminated,
    )


# -- bugs found by fuzz/fuzz_datagrams.py ------------------------------------------------------


def _with_certificates(datagram: bytes, certificates: list[bytes]) -> bytes:
    """The datagram with its whole plaintext Certificate message carrying ``certificates``."""
    out = b""
    for record in split_datagram(datagram):
        assert isinstance(record, RawRecord)
        fragment = record.fragment
        if record.content_type == ContentType.handshake and record.epoch == 0:
            header = pull_handshake_header(Buffer(fragment))
            if header.msg_type == HandshakeType.certificate:
                assert header.fragment_length == header.length, "fragmented Certificate"
                body = encode_message(push_certificate, Certificate(certificates))
                fragment = encode_handshake_fragment(header.msg_type, header.message_seq, body)
        out += encode_record_header(
            record.content_type, record.version, record.epoch, record.sequence_number, len(fragment)
        )
        out += fragment
    return out


def test_certificate_with_an_invalid_version_is_bad_certificate_not_internal_error() -> None:
    chain = server_chain("ecdsa")
    leaf = chain.certificate.public_bytes(Encoding.DER)
    at = leaf.index(bytes.fromhex("a003020102")) + 4  # version [0] EXPLICIT INTEGER 2 (v3)
    certificates = [leaf[:at] + b"\x69" + leaf[at + 1 :]]
    certificates += [c.public_bytes(Encoding.DER) for c in chain.intermediates]

    def deliver(direction: str, datagram: bytes) -> list[bytes]:
        if direction == "s2c":
            datagram = _with_certificates(datagram, certificates)
        return [datagram]

    pair = handshake(client_config12(), server_config12(), deliver)
    terminated = pair.client_outcome.terminated
    assert terminated is not None and pair.client_outcome.completed is None
    assert terminated.alert == AlertDescription.bad_certificate, terminated
