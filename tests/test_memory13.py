"""Memory a server holds per established DTLS 1.3 connection (issue 13's goal, docs/scaling.md).

The measurement is ``aiodtls.bench.memory_per_connection`` with ``dtls13=True``, what
``python3 benchmarks/memory_per_connection.py --dtls13`` prints: tracemalloc, everything the
server endpoint holds after N in-memory handshakes, divided by N.
"""

from __future__ import annotations

import pytest

from aiodtls.bench import memory_configurations, memory_per_connection
from aiodtls.connection import DtlsConnection
from aiodtls.handshake_phase13 import Dtls13State
from aiodtls.record.layer13 import RecordLayer13
from attacks13 import established13


@pytest.mark.slow  # long (README command budget): in the slow pass of .ci/run
def test_memory_per_established_dtls13_connection_meets_issue_13_goal() -> None:
    """At most 6 KiB per established DTLS 1.3 connection, as for DTLS 1.2. It took 11.43 KiB
    (200 connections) while a DTLS 1.3 connection kept its DTLS 1.2 handshake and record
    layer, the handshake's secrets, write epochs and per-epoch closures, a reassembler and
    eager empty containers after its handshake."""
    per_connection = memory_per_connection(200, dtls13=True)
    assert per_connection <= 6 * 1024, per_connection


def test_the_dtls13_state_of_a_connection_is_slotted() -> None:
    """One of each per connection: no instance dict."""
    client_cfg, _ = memory_configurations(psk=True, dtls13=True)
    connection = DtlsConnection(configuration=client_cfg)
    v13 = connection._v13
    assert isinstance(v13, Dtls13State) and isinstance(v13.records, RecordLayer13)
    assert not hasattr(v13, "__dict__")
    assert not hasattr(v13.records, "__dict__")


def test_post_handshake_messages_do_not_grow_the_released_transcript() -> None:
    """KeyUpdates (and NewSessionTickets, NewConnectionIds) after the handshake are not part
    of its transcript (RFC 8446 §4.4.1): each KeyUpdate used to add its bytes to the released
    transcript, for as long as the connection lived. Reassembly comes back for them."""
    p = established13()
    for side in (p.client, p.server):
        v13 = side._v13
        assert v13 is not None and v13.handshake._transcript == b""
        assert side._reassembler is None  # nothing buffered between post-handshake messages
    for _ in range(3):
        p.client.request_key_update()
        p.run()
        p.server.request_key_update()
        p.run()
    for side in (p.client, p.server):
        v13 = side._v13
        assert v13 is not None and v13.handshake._transcript == b""
        assert v13.records.write_epoch == 3 + 6  # its own 3 and the 3 the peer asked for
    assert p.round_trip()
