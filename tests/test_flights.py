"""The flight and transition tables (handshake/flights.py) and the engine that reads them.

The tables are data, so these tests check them as data (every state reachable, every handler
and choice function a method of its role, every flight's sender the one whose handlers send
it) and check that the engine follows them: a message with no row is unexpected_message, and
a subclass's handler is the one dispatched to.
"""

from __future__ import annotations

import enum
import itertools
from typing import Any

import pytest

from aiodtls.alerts import AlertUnexpectedMessage
from aiodtls.handshake.client import ClientHandshake
from aiodtls.handshake.flights import (
    ABBREVIATED,
    DTLS12,
    FULL,
    HELLO_VERIFY_REQUEST,
    SERVER_FINISHED,
    SERVER_HELLO,
    ClientState,
    RoleTable,
    ServerState,
    Side,
)
from aiodtls.handshake.messages import HandshakeType
from aiodtls.handshake.server import ServerHandshake
from aiodtls.handshake.state import HandshakeStateMachine
from aiodtls.reliability.reassembly import HandshakeMessage
from aiodtls.suites import CipherSuite
from pairs import (
    client_auth_configs12,
    client_config12,
    handshake,
    make_pair,
    psk_configs12,
    server_config12,
)
from test_resumption import connect, resuming, store_configs

ROLES = [
    (DTLS12.client, ClientHandshake, ClientState),
    (DTLS12.server, ServerHandshake, ServerState),
]


@pytest.mark.parametrize(("table", "role", "states"), ROLES)
def test_every_state_is_reachable_and_every_name_is_a_method(
    table: RoleTable, role: type[HandshakeStateMachine], states: type[enum.Enum]
) -> None:
    reached = {table.initial, table.started}
    for steps in table.transitions.values():
        for step in steps.values():
            assert callable(getattr(role, step.handler)), step.handler
            assert (step.next is None) != (step.choose is None), step
            if step.choose is not None:
                assert callable(getattr(role, step.choose)), step.choose
            reached.update(step.next_states())
    assert reached == set(states)
    assert table.done not in table.transitions  # after the handshake nothing is accepted


def test_flights_alternate_between_the_sides_and_end_with_the_final_one() -> None:
    for shape in DTLS12.shapes:
        for cookie_exchange in (True, False):
            flights = shape.sequence(cookie_exchange=cookie_exchange)
            senders = [f.sender for f in flights]
            assert senders[0] == Side.CLIENT
            assert all(a != b for a, b in itertools.pairwise(senders)), shape.name
            assert [f.final for f in flights] == [False] * (len(flights) - 1) + [True]
            assert [f.number for f in flights] == sorted({f.number for f in flights})
    assert FULL.previous(SERVER_FINISHED) is FULL.flights[4]
    assert ABBREVIATED.final.sender == Side.CLIENT  # resuming, the client sends the last flight
    assert HELLO_VERIFY_REQUEST.timerless and not SERVER_HELLO.timerless
    assert SERVER_HELLO.title == "flight 4 (ServerHello ... ServerHelloDone)"


def test_only_finished_travels_in_the_next_epoch() -> None:  # SPEC X8
    epochs = {t: DTLS12.epoch_of(t) for t in HandshakeType}
    assert {t for t, e in epochs.items() if e} == {HandshakeType.finished}


def test_a_message_the_table_has_no_row_for_is_unexpected() -> None:  # SPEC H1
    pair = make_pair(client_config12(), server_config12())
    handshake = pair.client._handshake
    assert handshake is not None and handshake.state == DTLS12.client.started
    done = HandshakeMessage(HandshakeType.server_hello_done, 0, b"", 0, 0)
    with pytest.raises(AlertUnexpectedMessage, match="while waiting for the server's ServerHello"):
        handshake.handle(done, 0.0)
    assert handshake.state == DTLS12.client.started


def test_a_subclass_handler_is_the_one_dispatched_to() -> None:
    """The table names handlers; they are looked up on each class when it is created."""
    seen: list[int] = []

    class CountingServer(ServerHandshake):
        def _on_client_key_exchange(self, message: HandshakeMessage, now: float) -> None:
            seen.append(message.msg_type)
            super()._on_client_key_exchange(message, now)

    assert CountingServer._TRANSITIONS is not ServerHandshake._TRANSITIONS
    key = (ServerState.SERVER_EXPECT_CLIENT_KEY_EXCHANGE, HandshakeType.client_key_exchange)
    assert CountingServer._TRANSITIONS[key][0] is CountingServer._on_client_key_exchange
    assert ServerHandshake._TRANSITIONS[key][0] is ServerHandshake._on_client_key_exchange


def test_every_case_of_every_choice_is_taken_by_a_real_handshake(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The choice functions name exactly the table's cases: run the handshakes that reach each
    one (certificates with and without client authentication, PSK with and without a hint,
    ECDHE_PSK, resumption by session ID and by a renewed ticket) and record what they name."""
    taken: set[tuple[str, str]] = set()

    def spy(role: type[HandshakeStateMachine]) -> None:
        rows = dict(role._TRANSITIONS)
        for key, (handler, next_state, choice, cases, epoch) in rows.items():
            if choice is None:
                continue

            def recording(handshake: Any, choice: Any = choice) -> str:
                case: str = choice(handshake)
                taken.add((choice.__name__, case))
                return case

            rows[key] = (handler, next_state, recording, cases, epoch)
        monkeypatch.setattr(role, "_TRANSITIONS", rows)

    spy(ClientHandshake)
    spy(ServerHandshake)
    client, server = client_auth_configs12()
    handshake(client, server)
    handshake(client_config12(), server_config12())
    client, server = psk_configs12(psk_identity_hint=b"gateway")
    client.cipher_suites = [CipherSuite.TLS_PSK_WITH_AES_128_CCM]
    handshake(client, server)
    client, server = psk_configs12()
    client.cipher_suites = [CipherSuite.TLS_PSK_WITH_AES_128_CCM]
    handshake(client, server)
    client, server = psk_configs12()
    client.cipher_suites = [CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256]
    handshake(client, server)
    client, server, _ = store_configs("psk", tickets=False)  # resumed by session ID
    resuming(client, server)
    assert connect(client, server, at=10.0).client.session_resumed
    client, server, _ = store_configs(
        "psk", session_ids=False, ticket_key_rotation=100.0, session_lifetime=250.0
    )
    resuming(client, server)
    assert connect(client, server, at=150.0).client.session_resumed  # the ticket is renewed
    expected = {
        (step.choose, case)
        for table in (DTLS12.client, DTLS12.server)
        for steps in table.transitions.values()
        for step in steps.values()
        if step.choose is not None
        for case in step.cases
    }
    assert taken == expected
