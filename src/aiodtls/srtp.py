"""DTLS-SRTP (RFC 5764, RFC 7714): the SRTP protection profiles and the keying material.

This module owns what DTLS-SRTP means to an application: :class:`SrtpProfile` (the four
profiles, their IANA code points and key/salt lengths), parsing profile names as people write
them (IANA's ``SRTP_AES128_CM_HMAC_SHA1_80`` or OpenSSL's ``SRTP_AES128_CM_SHA1_80``), and
:func:`keying_material`, which exports ``EXTRACTOR-dtls_srtp`` and splits it by role as
RFC 5764 §4.2 lays it out. The ``use_srtp`` extension itself is encoded in
``handshake/messages/extensions.py`` and negotiated in ``handshake/client.py`` /
``handshake/server.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

EXPORTER_LABEL = b"EXTRACTOR-dtls_srtp"
"The RFC 5705 exporter label of DTLS-SRTP (RFC 5764 §4.2)."

MAX_MKI_LENGTH = 255
"srtp_mki is opaque<0..255> (RFC 5764 §4.1.1)."


class SrtpProfile(IntEnum):
    """An SRTP protection profile, by its IANA value (RFC 5764 §4.1.2, RFC 7714 §14.2)."""

    SRTP_AES128_CM_HMAC_SHA1_80 = 0x0001
    SRTP_AES128_CM_HMAC_SHA1_32 = 0x0002
    SRTP_AEAD_AES_128_GCM = 0x0007
    SRTP_AEAD_AES_256_GCM = 0x0008

    @property
    def key_length(self) -> int:
        """Bytes of SRTP master key (RFC 5764 §4.1.2; RFC 7714 §12)."""
        return 32 if self is SrtpProfile.SRTP_AEAD_AES_256_GCM else 16

    @property
    def salt_length(self) -> int:
        """Bytes of SRTP master salt: 14 for AES-CM, 12 for AEAD_AES_*_GCM."""
        return 14 if self.value in (0x0001, 0x0002) else 12

    @property
    def keying_material_length(self) -> int:
        """Bytes exported: 2 * (key + salt), what OpenSSL's ``-keymatexportlen`` takes."""
        return 2 * (self.key_length + self.salt_length)

    @property
    def openssl_name(self) -> str:
        """The name OpenSSL's ``-use_srtp`` takes (``SRTP_AES128_CM_SHA1_80`` ...)."""
        return self.name.replace("_HMAC_SHA1", "_SHA1")

    @classmethod
    def from_name(cls, name: str) -> SrtpProfile:
        """The profile called ``name``: the IANA name or OpenSSL's spelling, any case.
        Raises ValueError naming the accepted names."""
        wanted = name.strip().upper()
        for profile in cls:
            if wanted in (profile.name, profile.openssl_name):
                return profile
        raise ValueError(
            f"unknown SRTP profile {name!r}: use one of "
            + ", ".join(p.name for p in cls)
            + " (or OpenSSL's spelling, e.g. SRTP_AES128_CM_SHA1_80)"
        )


def describe_profiles(values: list[int]) -> str:
    """Profile code points as names where known (hex otherwise), for reasons and dumps."""
    names = []
    for value in values:
        try:
            names.append(SrtpProfile(value).name)
        except ValueError:
            names.append(f"{value:#06x}")
    return "[" + ", ".join(names) + "]"


@dataclass(frozen=True)
class SrtpKeyingMaterial:
    """The SRTP master keys and salts of one side of a DTLS-SRTP association.

    ``local_*`` protect what this side sends, ``remote_*`` what it receives: for the client
    local is the client_write key and salt, for the server the server_write ones (RFC 5764
    §4.2). ``local_master``/``remote_master`` (key followed by salt) are what libsrtp takes,
    e.g. ``pylibsrtp.Policy(key=material.local_master, ssrc_type=Policy.SSRC_ANY_OUTBOUND)``.
    """

    profile: SrtpProfile
    "The negotiated protection profile."

    local_key: bytes
    "Master key of what this side sends (client: client_write_SRTP_master_key)."

    local_salt: bytes
    "Master salt of what this side sends."

    remote_key: bytes
    "Master key of what this side receives (client: server_write_SRTP_master_key)."

    remote_salt: bytes
    "Master salt of what this side receives."

    mki: bytes = b""
    "The MKI both sides agreed to use (the client's, echoed by the server), or empty."

    @property
    def local_master(self) -> bytes:
        """Master key + master salt for SRTP this side sends."""
        return self.local_key + self.local_salt

    @property
    def remote_master(self) -> bytes:
        """Master key + master salt for SRTP this side receives."""
        return self.remote_key + self.remote_salt


class _Exporter(Protocol):
    """Anything with an RFC 5705 exporter (a connection, session or socket)."""

    def export_keying_material(
        self, label: bytes | str, length: int, context: bytes | None = None
    ) -> bytes: ...


def split_keying_material(
    profile: SrtpProfile, exported: bytes, *, is_client: bool, mki: bytes = b""
) -> SrtpKeyingMaterial:
    """Split ``EXTRACTOR-dtls_srtp`` output as RFC 5764 §4.2 lays it out: client_write_key,
    server_write_key, client_write_salt, server_write_salt."""
    k, s = profile.key_length, profile.salt_length
    if len(exported) != 2 * (k + s):
        raise ValueError(f"{profile.name} needs {2 * (k + s)} bytes, got {len(exported)}")
    client_key, server_key = exported[:k], exported[k : 2 * k]
    client_salt, server_salt = exported[2 * k : 2 * k + s], exported[2 * k + s :]
    if is_client:
        return SrtpKeyingMaterial(profile, client_key, client_salt, server_key, server_salt, mki)
    return SrtpKeyingMaterial(profile, server_key, server_salt, client_key, client_salt, mki)


def keying_material(
    exporter: _Exporter, profile: SrtpProfile, *, is_client: bool, mki: bytes = b""
) -> SrtpKeyingMaterial:
    """Export and split the SRTP keying material of ``profile`` for this side's role."""
    exported = exporter.export_keying_material(EXPORTER_LABEL, profile.keying_material_length)
    return split_keying_material(profile, exported, is_client=is_client, mki=mki)
