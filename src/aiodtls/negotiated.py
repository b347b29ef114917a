"""What the handshake negotiated, as a connection's properties (either protocol version).

Owns :class:`NegotiatedProperties`, a mixin ``DtlsConnection`` inherits: the peer's
certificates or raw key, ALPN, DTLS-SRTP and its keys, the server name, the session to resume,
whether one was, and the protocol version, read from the handshake that ran (DTLS 1.2's, or
DTLS 1.3's in the connection's ``_v13``). Like the handshake phases it declares what it uses
of the connection and adds no attribute (docs/design.md, "seam-connection").
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .connection_state import ConnectionSlots
from .handshake.client import ClientHandshake
from .handshake.server import ServerHandshake
from .handshake.state import HandshakeResult
from .handshake_phase13 import Dtls13State
from .resumption import Session
from .srtp import SrtpKeyingMaterial, SrtpProfile, keying_material

__all__ = ["NegotiatedProperties"]


class NegotiatedProperties(ConnectionSlots):
    """The negotiated parameters of ``DtlsConnection`` (a mixin: no state of its own)."""

    __slots__ = ()

    is_client: bool
    _handshake: ClientHandshake | ServerHandshake
    _v13: Dtls13State | None

    def export_keying_material(
        self, label: bytes | str, length: int, context: bytes | None = None
    ) -> bytes:
        """RFC 5705 keying material exporter (RFC 8446 §7.5 in DTLS 1.3), once the handshake
        completed."""
        if isinstance(label, str):
            label = label.encode("ascii")
        if self._v13 is not None:
            return self._v13.handshake.export_keying_material(label, length, context)
        return self._handshake.export_keying_material(label, length, context)

    @property
    def protocol_version(self) -> str | None:
        """``"DTLSv1.3"`` or ``"DTLSv1.2"`` once known (a DTLS 1.3 handshake is under way, or
        the handshake completed), else None."""
        if self._v13 is not None:
            return "DTLSv1.3"
        return "DTLSv1.2" if self._handshake.complete else None

    @property
    def peer_certificates(self) -> list[x509.Certificate]:
        """The peer's certificate chain, leaf first (empty before the handshake completes)."""
        return self._result.peer_certificates

    @property
    def peer_public_key(self) -> ec.EllipticCurvePublicKey | rsa.RSAPublicKey | None:
        """The peer's RFC 7250 raw public key, when it authenticated with one (else None)."""
        return self._result.peer_public_key

    @property
    def alpn_protocol(self) -> str | None:
        """The ALPN protocol both sides agreed on (RFC 7301), or None (not configured on
        both sides, or the handshake has not completed)."""
        return self._result.alpn_protocol

    @property
    def srtp_profile(self) -> SrtpProfile | None:
        """The DTLS-SRTP profile agreed on (RFC 5764), or None (not configured on both sides,
        or the handshake has not completed)."""
        return self._result.srtp_profile

    def srtp_keying_material(self) -> SrtpKeyingMaterial:
        """The SRTP master keys and salts for this side (RFC 5764 §4.2): ``local_*`` protect
        what we send. Raises RuntimeError before the handshake completes or without an
        agreed ``srtp_profile``."""
        profile = self._result.srtp_profile
        if profile is None:
            raise RuntimeError(
                "no DTLS-SRTP profile was agreed: configure srtp_profiles on both sides"
            )
        return keying_material(self, profile, is_client=self.is_client, mki=self._result.srtp_mki)

    @property
    def server_name(self) -> str | None:
        """Server: the host name the client asked for (SNI), or None if it sent none.
        Client: the configured ``server_name``. None before the ClientHello."""
        return self._result.server_name

    @property
    def session(self) -> Session | None:
        """Client: the session to resume later (``DtlsConfiguration.session``), once the
        handshake completed and if the server offered resumption; None otherwise and on a
        server. Like ``ssl.SSLSocket.session``."""
        return self._result.session

    @property
    def session_resumed(self) -> bool:
        """True when the handshake resumed an earlier session (``ssl``'s ``session_reused``)."""
        return self._result.resumed

    @property
    def _result(self) -> HandshakeResult:
        """What the handshake negotiated, in whichever version it ran."""
        v13 = self._v13
        return self._handshake.result if v13 is None else v13.handshake.result
