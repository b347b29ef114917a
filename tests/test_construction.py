"""What building a connection makes, and what it shares (docs/design.md, "Building and
finishing a handshake (hsbuild, session 10)").

Objects shared by every connection must never change; parts only one protocol version uses
are made only for it. Counts of constructor calls, no timing.
"""

from __future__ import annotations

import ssl

import pytest

from aiodtls import DtlsConfiguration
from aiodtls.bench.peers import KINDS, aiodtls_configs, aiodtls_pair
from aiodtls.connection import DtlsConnection
from aiodtls.record import layer
from aiodtls.record.layer import RecordLayer
from aiodtls.reliability import flight
from aiodtls.reliability.flight import FlightSender
from aiodtls.reliability.timer import RetransmissionPolicy, RetransmissionTimer


def test_epoch_0_read_state_is_shared_and_never_changes() -> None:
    """Every record layer reads epoch 0 through one shared state; epoch 0 has no replay
    window (SPEC X6), so handshakes, whose flights are epoch-0 records, leave it as it was."""
    first, second = RecordLayer(), RecordLayer()
    assert first._read[0] is second._read[0] is layer._PLAINTEXT_READ
    assert first._write[0] is not second._write[0]  # sequence numbers are per connection
    for _ in range(3):
        aiodtls_pair(*aiodtls_configs(KINDS["psk"]))
    window = layer._PLAINTEXT_READ.window
    assert (window.top, window._bits) == (-1, 0)


def test_epoch_0_write_state_is_what_use_cid_gives_without_a_cid() -> None:
    state = RecordLayer()._write[0]
    assert (state.cid, state.overhead, state.epoch_bits) == (b"", 13, 0)


def test_a_dtls12_flight_sender_has_no_ack_mode_containers() -> None:
    timer = RetransmissionTimer(RetransmissionPolicy())
    sender = FlightSender(
        timer=timer,
        mtu=1200,
        tracer=DtlsConnection(configuration=aiodtls_configs(KINDS["psk"])[0])._trace,
    )
    assert not hasattr(sender, "_sent_pieces") and not hasattr(sender, "_acked")
    acking = FlightSender(timer=timer, mtu=1200, tracer=sender._trace, acks=True)
    assert acking._sent_pieces == {} and acking._acked == {}


def test_a_dtls13_client_makes_two_flight_senders_sharing_one_timer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The DTLS 1.2 one (its fallback's timer and MTU come from it) and the ACK-mode one it
    speaks DTLS 1.3 with; a third, discarded at once, was made before."""
    made: list[FlightSender] = []
    original = flight.FlightSender.__init__

    def counting(self: FlightSender, **kwargs: object) -> None:
        made.append(self)
        original(self, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(flight.FlightSender, "__init__", counting)
    configuration = DtlsConfiguration(
        is_client=True, psk=bytes(16), psk_identity=b"c", verify_mode=ssl.CERT_NONE
    )
    connection = DtlsConnection(configuration=configuration)
    assert connection._v13 is not None
    assert len(made) == 2 and made[1] is connection._flight and made[1]._acks
    assert made[0].timer is made[1].timer


@pytest.mark.parametrize("initial_rtt", [None, 0.01, 0.2, 5.0])
@pytest.mark.parametrize("rtt_multiplier", [0.0, 1.5])
def test_a_new_timer_starts_from_what_compute_base_rto_gives(
    initial_rtt: float | None, rtt_multiplier: float
) -> None:
    policy = RetransmissionPolicy(initial_rtt=initial_rtt, rtt_multiplier=rtt_multiplier)
    timer = RetransmissionTimer(policy)
    assert timer.base_rto() == timer._compute_base_rto() == timer.rto
