#!/usr/bin/env python3
"""Memory of ``ServerSessionStore``'s session cache, and the size of a ticket (issue 12).

Caches 10,000 PSK sessions (identity ``device-NNNNNN``, ALPN ``coap``, extended master
secret) under random 32-byte session IDs and reports the bytes ``tracemalloc`` sees per
session, then the size of one ticket for such a session and for one with a client
certificate chain (the test suite's ECDSA client chain: leaf and intermediate).

Run: ``PYTHONPATH=src python3 benchmarks/session_store_memory.py``
"""

from __future__ import annotations

import os
import sys
import tracemalloc
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from aiodtls import ServerSessionStore
from aiodtls.resumption import SessionState

SESSIONS = 10_000


def main() -> None:
    store = ServerSessionStore(max_sessions=SESSIONS)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    state = None
    for i in range(SESSIONS):
        state = SessionState(
            0x00A8,
            os.urandom(48),
            True,
            0.0,
            psk_identity=b"device-%06d" % i,
            alpn_protocol="coap",
        )
        store.remember(os.urandom(32), state, 0.0)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert state is not None and len(store) == SESSIONS
    print(f"{(after - before) / SESSIONS:.0f} bytes per cached PSK session ({SESSIONS} sessions)")
    print(f"ticket for a PSK session: {len(store.seal_ticket(state, 0.0))} bytes")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from certs import client_chain

    chain = tuple(c.public_bytes(Encoding.DER) for c in client_chain("ecdsa").chain)
    with_certificates = SessionState(0xC02B, os.urandom(48), True, 0.0, peer_certificates=chain)
    size = len(store.seal_ticket(with_certificates, 0.0))
    print(f"ticket for a session with a {len(chain)}-certificate client chain: {size} bytes")


if __name__ == "__main__":
    main()
