"""The public surface of ``DtlsConnection`` is exactly the documented API (issue 10).

``docs/api-surface.md`` lists every public name in a table; these tests compare the class (and
a live instance, for attributes set in ``__init__``) against it, so a new public name, or a
handshake callback made public again, fails here until it is documented.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from aiodtls import DtlsConnection, HandshakeCompleted
from aiodtls.asyncio import DtlsSession
from aiodtls.sync import DtlsSocket
from pairs import client_config, handshake, server_config

DOC = Path(__file__).resolve().parent.parent / "docs" / "api-surface.md"
HANDSHAKE_CALLBACKS = {
    "install_read_keys",
    "install_write_keys",
    "send_flight",
    "hello_verify_request_received",
    "use_connection_ids",
}


def documented_names() -> set[str]:
    """The first-column names of the table under ``## `DtlsConnection` ``."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## `DtlsConnection`", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE))


def public_names(obj: object) -> set[str]:
    return {name for name in dir(obj) if not name.startswith("_")}


def test_dtls_connection_public_names_are_the_documented_api() -> None:
    documented = documented_names()
    assert len(documented) >= 15, documented  # the table was found and parsed
    pair = handshake(client_config(), server_config())
    for connection in (pair.client, pair.server):
        assert public_names(connection) == documented, (
            f"undocumented: {public_names(connection) - documented}, "
            f"documented but missing: {documented - public_names(connection)}"
        )


def test_handshake_callbacks_are_not_public() -> None:
    assert not HANDSHAKE_CALLBACKS & public_names(DtlsConnection)
    # They still exist, privately, for the handshake (HandshakeSink).
    assert all(hasattr(DtlsConnection, f"_{name}") for name in HANDSHAKE_CALLBACKS)


def test_placeholders_that_were_always_empty_are_gone() -> None:
    fields = {f.name for f in dataclasses.fields(HandshakeCompleted)}
    # session_resumed is back since issue 12, set truthfully (tests/test_resumption.py).
    assert {"alpn_protocol", "server_name", "srtp_profile", "session_resumed"} <= fields
    for cls in (DtlsSession, DtlsSocket):
        assert hasattr(cls, "session_resumed") and hasattr(cls, "session")
        assert hasattr(cls, "alpn_protocol") and hasattr(cls, "server_name")
        assert hasattr(cls, "srtp_profile") and hasattr(cls, "srtp_keying_material")
