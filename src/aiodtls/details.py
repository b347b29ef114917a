"""What every session object says about its association, in one place.

``aiodtls.asyncio.DtlsSession``, ``aiodtls.sync.DtlsSocket`` and ``aiodtls.sync.DtlsPath`` all
wrap a :class:`~aiodtls.connection.DtlsConnection` and the :class:`HandshakeCompleted` event of
its handshake; :class:`SessionDetails` reads the agreed parameters and keys from those two, so
the drivers only supply ``connection`` and ``handshake``.
"""

from __future__ import annotations

from .connection import DtlsConnection, NetworkAddress
from .events import HandshakeCompleted
from .resumption import Session
from .srtp import SrtpKeyingMaterial, SrtpProfile

__all__ = ["SessionDetails"]


class SessionDetails:
    """Mixin: the handshake's results and the keying-material exporters of a session."""

    connection: DtlsConnection
    "The sans-I/O connection underneath."

    @property
    def handshake(self) -> HandshakeCompleted:
        """Details of the completed handshake; the driver says how it is obtained."""
        raise NotImplementedError

    @property
    def alpn_protocol(self) -> str | None:
        """The ALPN protocol agreed on (RFC 7301), or None."""
        return self.handshake.alpn_protocol

    @property
    def server_name(self) -> str | None:
        """Server: the host name the client sent (SNI), or None; client: ``server_name``."""
        return self.handshake.server_name

    @property
    def srtp_profile(self) -> SrtpProfile | None:
        """The DTLS-SRTP profile agreed on (RFC 5764), or None."""
        return self.handshake.srtp_profile

    def srtp_keying_material(self) -> SrtpKeyingMaterial:
        """SRTP master keys and salts for this side (docs/srtp.md); RuntimeError without an
        agreed profile."""
        return self.connection.srtp_keying_material()

    def export_keying_material(
        self, label: bytes | str, length: int, context: bytes | None = None
    ) -> bytes:
        """RFC 5705 keying material (e.g. ``'EXTRACTOR-dtls_srtp'``)."""
        return self.connection.export_keying_material(label, length, context)

    @property
    def session(self) -> Session | None:
        """Client: the session to pass as ``DtlsConfiguration.session`` to resume later, or
        None (docs/resumption.md)."""
        return self.connection.session

    @property
    def session_resumed(self) -> bool:
        """True when this handshake resumed an earlier session."""
        return self.handshake.session_resumed

    @property
    def peer_address(self) -> NetworkAddress:
        """The peer's address."""
        return self.connection.peer_address
