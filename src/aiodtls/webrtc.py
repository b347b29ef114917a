"""WebRTC glue around DTLS: the identity a peer generates, its fingerprints in SDP, and the
DTLS role that ``a=setup`` gives (RFC 8827, RFC 8122, RFC 5763, RFC 8842). No SRTP here.

- :func:`generate_certificate` makes what a browser makes for ``RTCPeerConnection``: an
  ephemeral ECDSA P-256 self-signed certificate with a random common name, valid from a day
  ago for 30 days (aiortc's ``RTCCertificate.generateCertificate`` and libwebrtc do the same),
  as an :class:`Identity`.
- :meth:`Identity.fingerprints` gives the ``a=fingerprint:`` values for SHA-1 to SHA-512;
  :func:`parse_fingerprint_lines` reads every ``a=fingerprint:`` line of a remote SDP back.
- :meth:`Identity.configuration` builds a client or server
  :class:`~aiodtls.configuration.DtlsConfiguration` that presents the identity and accepts
  only a peer whose certificate matches one of the remote fingerprints, in both roles (a
  certificate is required; the server requests the client's). There is no cookie exchange:
  ICE has already checked the peer's address. The versions are the configuration's default,
  DTLS 1.2 and 1.3: a peer that speaks only DTLS 1.2 (aiortc, on pyOpenSSL) gets DTLS 1.2
  from the same ClientHello (tests/interop/test_aiortc.py).
- Of remote fingerprints with several hash functions only the strongest set counts
  (:func:`strongest_fingerprints`, RFC 8122 §5).
- :func:`dtls_role` turns the local and remote ``a=setup:`` values into the DTLS role, and
  :func:`answer_setup` picks the answerer's value.

Fingerprints, their forms and the pin check itself are :mod:`aiodtls.pki`'s and the
handshake's; this module only puts them together the way WebRTC uses them.
"""

from __future__ import annotations

import datetime
import re
import secrets
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from cryptography import x509

from .configuration import DtlsConfiguration, PrivateKey
from .pki import (
    FINGERPRINT_ALGORITHMS,
    Fingerprint,
    as_fingerprint,
    fingerprint,
    format_fingerprint,
    generate_key,
    parse_fingerprint,
    self_signed,
)
from .reliability.timer import RetransmissionPolicy

__all__ = [
    "CERTIFICATE_DAYS",
    "SETUP_VALUES",
    "DtlsRole",
    "Identity",
    "answer_setup",
    "dtls_role",
    "generate_certificate",
    "parse_fingerprint_lines",
    "strongest_fingerprints",
]

CERTIFICATE_DAYS = 30
"How long a generated certificate is valid: 30 days, as in libwebrtc and aiortc."

_BACKDATE = datetime.timedelta(days=1)
"Valid from a day ago, as libwebrtc and aiortc make it: peers with a slow clock accept it."

DtlsRole = Literal["client", "server"]
"The DTLS role: ``'client'`` sends the ClientHello, ``'server'`` answers it."

SETUP_VALUES = ("active", "passive", "actpass", "holdconn")
"The values of ``a=setup:`` (RFC 4145 §4)."


@dataclass(frozen=True)
class Identity:
    """A WebRTC peer's certificate and key, as ``RTCCertificate`` holds them."""

    certificate: x509.Certificate
    "The self-signed certificate sent in the handshake."
    key: PrivateKey
    "Its private key."

    @property
    def expires(self) -> datetime.datetime:
        """When the certificate stops being valid (UTC), like ``RTCCertificate.expires``."""
        return self.certificate.not_valid_after_utc

    def fingerprint(self, algorithm: str = "sha-256") -> str:
        """The ``a=fingerprint:`` value for one hash (RFC 8122 §5): ``sha-256 AB:CD:...``."""
        return format_fingerprint(fingerprint(self.certificate, algorithm), algorithm)

    def fingerprints(self) -> list[str]:
        """The ``a=fingerprint:`` values for every supported hash, SHA-1 to SHA-512, like
        ``RTCCertificate.getFingerprints()``. Browsers put the SHA-256 one in their SDP."""
        return [self.fingerprint(name) for name in FINGERPRINT_ALGORITHMS]

    def sdp_line(self, algorithm: str = "sha-256") -> str:
        """The SDP attribute line: ``a=fingerprint:sha-256 AB:CD:...``."""
        return "a=fingerprint:" + self.fingerprint(algorithm)

    def configuration(
        self,
        remote_fingerprints: Iterable[str | Fingerprint | bytes | tuple[str, bytes]],
        *,
        role: DtlsRole | None = None,
        is_client: bool | None = None,
        initial_rtt: float | None = None,
        **fields: Any,
    ) -> DtlsConfiguration:
        """A configuration for one end of a WebRTC DTLS association.

        It presents this identity and accepts only a peer certificate matching one of
        ``remote_fingerprints`` (the values of the remote SDP's ``a=fingerprint:`` lines, or
        :func:`parse_fingerprint_lines`' result; of several hash functions only the strongest
        counts, :func:`strongest_fingerprints`), whichever the role: ``verify_mode`` is
        ``CERT_REQUIRED`` and a server requests the client's certificate. The role is
        ``role`` (from :func:`dtls_role`) or ``is_client``. There is no cookie exchange (ICE
        has checked the address; browsers do not use one) and no idle timeout: media flows
        beside DTLS as SRTP, so the association may carry nothing for a whole call, and ICE
        consent freshness (RFC 7675) is what tells a vanished peer. ``initial_rtt`` is ICE's round
        trip in seconds, which seeds the first retransmission timeout
        (``RetransmissionPolicy.initial_rtt``). Other keyword arguments set configuration
        fields (e.g. ``handshake_timeout``).
        """
        if (role is None) == (is_client is None):
            raise ValueError("give the DTLS role: role='client'/'server' or is_client=")
        if role is not None and role not in ("client", "server"):
            raise ValueError(f"role must be 'client' or 'server', got {role!r}")
        client = role == "client" if role is not None else bool(is_client)
        pins = strongest_fingerprints(as_fingerprint(pin) for pin in _pins(remote_fingerprints))
        if not pins:
            raise ValueError(
                "no remote fingerprint: WebRTC authenticates the peer only by the "
                "a=fingerprint: lines of its SDP; pass them (parse_fingerprint_lines(sdp))"
            )
        configuration = DtlsConfiguration(
            is_client=client,
            certificate_chain=[self.certificate],
            private_key=self.key,
            peer_fingerprints=pins,
            verify_mode=ssl.CERT_REQUIRED,
            cookie_exchange=False,
            retransmission=RetransmissionPolicy(initial_rtt=initial_rtt),
            idle_timeout=None,
        )
        for name, value in fields.items():
            if not hasattr(configuration, name):
                raise TypeError(f"DtlsConfiguration has no field {name!r}")
            setattr(configuration, name, value)
        configuration.validate()
        return configuration


def strongest_fingerprints(pins: Iterable[Fingerprint]) -> list[Fingerprint]:
    """The fingerprints that use the strongest hash function among ``pins`` (RFC 8122 §5:
    the endpoint selects the set that uses its most preferred hash function and the peer's
    certificate must match one of that set). A peer offering ``sha-1`` and ``sha-256`` lines
    is checked against the ``sha-256`` ones only, so a weak hash cannot stand in for the
    strong one."""
    found = list(pins)
    if not found:
        return []
    order = list(FINGERPRINT_ALGORITHMS)  # sha-1 ... sha-512, weakest first
    best = max(order.index(pin.algorithm) for pin in found)
    return [pin for pin in found if order.index(pin.algorithm) == best]


def _pins(
    remote: Iterable[str | Fingerprint | bytes | tuple[str, bytes]],
) -> list[str | Fingerprint | bytes | tuple[str, bytes]]:
    if isinstance(remote, str | bytes):
        raise TypeError(
            "remote_fingerprints is a list of fingerprints; for SDP text use "
            "parse_fingerprint_lines(sdp), for one value wrap it in a list"
        )
    return list(remote)


def generate_certificate(*, days: int = CERTIFICATE_DAYS) -> Identity:
    """A new ephemeral WebRTC identity: an ECDSA P-256 key and a self-signed certificate with
    a random common name (32 hex digits), valid from a day ago for ``days`` days
    (``RTCPeerConnection.generateCertificate`` with its defaults)."""
    credentials = self_signed(
        (),
        key=generate_key("ecdsa"),
        common_name=secrets.token_hex(16),
        days=days,
        backdate=_BACKDATE,
    )
    return Identity(credentials.certificate, credentials.key)


_FINGERPRINT_LINE = re.compile(r"^\s*a\s*=\s*fingerprint\s*:(.*)$", re.IGNORECASE | re.MULTILINE)


def parse_fingerprint_lines(sdp: str) -> list[Fingerprint]:
    """Every ``a=fingerprint:`` line of an SDP (session and media level), in order, as
    :class:`~aiodtls.pki.Fingerprint` values ready for ``peer_fingerprints``.

    Raises ``ValueError`` naming the line when one cannot be read (an unknown hash such as
    MD5 included), and when the SDP has none: a peer without a fingerprint cannot be
    authenticated (RFC 8122 §5).
    """
    found: list[Fingerprint] = []
    for match in _FINGERPRINT_LINE.finditer(sdp):
        value = match.group(1).strip()
        try:
            found.append(parse_fingerprint(value))
        except ValueError as exc:
            raise ValueError(f"a=fingerprint:{value}: {exc}") from None
    if not found:
        raise ValueError("the SDP has no a=fingerprint: line: the peer cannot be authenticated")
    return found


def _setup(value: str, which: str) -> str:
    text = value.strip().lower() if isinstance(value, str) else ""
    text = re.sub(r"^a\s*=\s*setup\s*:\s*", "", text)
    if text not in SETUP_VALUES:
        raise ValueError(
            f"{which} a=setup value {value!r} is not one of active, passive, actpass, holdconn"
        )
    return text


def dtls_role(local_setup: str, remote_setup: str) -> DtlsRole:
    """The local DTLS role from both ``a=setup:`` values (RFC 5763 §5, RFC 8842 §5).

    ``active`` is the DTLS client, ``passive`` the server. The offerer says ``actpass`` and
    the answerer picks ``active`` (recommended) or ``passive``; so ``actpass`` on one side
    takes the role the other side left. ``'a=setup:active'`` lines are accepted too.
    Raises ``ValueError`` for combinations without exactly one client: both ``actpass`` (the
    answer must choose), both ``active`` or both ``passive``, and ``holdconn`` (no
    connection yet).
    """
    local, remote = _setup(local_setup, "local"), _setup(remote_setup, "remote")
    if "holdconn" in (local, remote):
        side = "local" if local == "holdconn" else "remote"
        raise ValueError(f"the {side} side says holdconn: no DTLS connection is wanted yet")
    if local == remote:
        if local == "actpass":
            raise ValueError(
                "both sides say actpass: the answer must pick active or passive "
                "(answer_setup(offer) picks active, as RFC 8842 recommends)"
            )
        raise ValueError(
            f"both sides say {local}: one must be active (DTLS client) and the other passive "
            "(DTLS server)"
        )
    if local == "active" or remote == "passive":
        return "client"
    return "server"


def answer_setup(offer_setup: str) -> str:
    """The ``a=setup:`` value an answerer puts in its answer: ``active`` to an ``actpass``
    or ``passive`` offer (RFC 8842 §5.2 recommends active), ``passive`` to an ``active``
    one. ``holdconn`` and unknown values raise ``ValueError``."""
    offer = _setup(offer_setup, "offer")
    if offer == "holdconn":
        raise ValueError("the offer says holdconn: no DTLS connection is wanted yet")
    return "passive" if offer == "active" else "active"
