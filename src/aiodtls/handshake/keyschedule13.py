"""TLS 1.3 key schedule as DTLS 1.3 uses it (RFC 8446 §7, RFC 9147 §5.9).

Owns HKDF-Extract, HKDF-Expand-Label with its label prefix as a parameter (``b"dtls13"`` for
DTLS 1.3, ``b"tls13 "`` for TLS 1.3), Derive-Secret, the whole secret ladder of RFC 8446 §7.1
(:class:`KeySchedule13`), traffic keys and IVs (§7.3) plus DTLS 1.3's record-number key
(RFC 9147 §4.2.3), KeyUpdate's next traffic secret (§7.2), Finished (§4.4.4), the exporter
(§7.5) and the resumption PSK of a ticket (§4.6.1).

It does not own the TLS 1.2 PRF (:mod:`.keyschedule`), transcript hashing (callers pass the
transcript hash) or record protection. Nothing here is wired into a handshake yet. Secrets
never appear in ``repr``/``str``; :meth:`KeySchedule13.key_log_lines` is their only way out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

# One constant-time comparison for 1.2 and 1.3 verify_data, and for 1.3 PSK binders.
from .keyschedule import finished_matches as finished_matches

__all__ = [
    "DTLS13_LABEL_PREFIX",
    "TLS13_LABEL_PREFIX",
    "KeySchedule13",
    "KeyScheduleStageError",
    "TrafficKeys",
    "derive_secret",
    "empty_transcript_hash",
    "export_keying_material",
    "finished_key",
    "finished_matches",
    "finished_verify_data",
    "hkdf_expand_label",
    "hkdf_extract",
    "hkdf_label",
    "next_traffic_secret",
    "resumption_psk",
    "traffic_keys",
]

# RFC 9147 §5.9: "dtls13", no trailing space, so that the label stays inside one hash
# block although "DTLS" is one letter longer than "TLS". RFC 8446 §7.1: "tls13 ".
DTLS13_LABEL_PREFIX = b"dtls13"
"The HKDF label prefix of DTLS 1.3 (RFC 9147 §5.9): no trailing space."
TLS13_LABEL_PREFIX = b"tls13 "
"The HKDF label prefix of TLS 1.3 (RFC 8446 §7.1), for the RFC 8448 test vectors."


class KeyScheduleStageError(RuntimeError):
    """A secret was asked for before the stage that derives it (a handshake bug, not input)."""


def hkdf_extract(algorithm: hashes.HashAlgorithm, salt: bytes | None, ikm: bytes) -> bytes:
    """HKDF-Extract (RFC 5869 §2.2): HMAC-Hash(salt, IKM); no salt means Hash.length zeros."""
    h = hmac.HMAC(salt if salt is not None else bytes(algorithm.digest_size), algorithm)
    h.update(ikm)
    return h.finalize()


def hkdf_label(label: bytes, context: bytes, length: int, *, prefix: bytes) -> bytes:
    """The HkdfLabel struct of RFC 8446 §7.1, serialized, with ``prefix`` before ``label``."""
    full = prefix + label
    # RFC 8446 §7.1: opaque label<7..255>, opaque context<0..255>, uint16 length.
    if not 7 <= len(full) <= 255:
        raise ValueError(f"HKDF label {full!r} is not 7..255 bytes")
    if len(context) > 255:
        raise ValueError("HKDF context longer than 255 bytes")
    if not 0 <= length < 1 << 16:
        raise ValueError(f"HKDF output length {length} does not fit a uint16")
    return length.to_bytes(2, "big") + bytes([len(full)]) + full + bytes([len(context)]) + context


def hkdf_expand_label(
    algorithm: hashes.HashAlgorithm,
    secret: bytes,
    label: bytes,
    context: bytes,
    length: int,
    *,
    prefix: bytes,
) -> bytes:
    """HKDF-Expand-Label(Secret, Label, Context, Length) of RFC 8446 §7.1."""
    info = hkdf_label(label, context, length, prefix=prefix)
    return HKDFExpand(algorithm, length, info).derive(secret)


def empty_transcript_hash(algorithm: hashes.HashAlgorithm) -> bytes:
    """Transcript-Hash of no messages: Hash("") (RFC 8446 §7.1, the ``""`` arguments)."""
    return hashes.Hash(algorithm).finalize()


def derive_secret(
    algorithm: hashes.HashAlgorithm,
    secret: bytes,
    label: bytes,
    transcript_hash: bytes,
    *,
    prefix: bytes,
) -> bytes:
    """Derive-Secret(Secret, Label, Messages), given Transcript-Hash(Messages) already."""
    return hkdf_expand_label(
        algorithm, secret, label, transcript_hash, algorithm.digest_size, prefix=prefix
    )


@dataclass(frozen=True)
class TrafficKeys:
    """One direction's record keys for one epoch (RFC 8446 §7.3, RFC 9147 §4.2.3)."""

    key: bytes = field(repr=False)
    """The AEAD key, ``key_length`` bytes."""
    iv: bytes = field(repr=False)
    """The per-epoch IV that record numbers are XORed into, ``iv_length`` bytes."""
    sn_key: bytes = field(repr=False)
    """The key that masks DTLS 1.3 record numbers, ``key_length`` bytes."""


def traffic_keys(
    algorithm: hashes.HashAlgorithm,
    traffic_secret: bytes,
    key_length: int,
    iv_length: int,
    *,
    prefix: bytes,
) -> TrafficKeys:
    """``key``, ``iv`` (RFC 8446 §7.3) and ``sn`` (RFC 9147 §4.2.3) from a traffic secret."""
    return TrafficKeys(
        key=hkdf_expand_label(algorithm, traffic_secret, b"key", b"", key_length, prefix=prefix),
        iv=hkdf_expand_label(algorithm, traffic_secret, b"iv", b"", iv_length, prefix=prefix),
        sn_key=hkdf_expand_label(algorithm, traffic_secret, b"sn", b"", key_length, prefix=prefix),
    )


def next_traffic_secret(
    algorithm: hashes.HashAlgorithm, traffic_secret: bytes, *, prefix: bytes
) -> bytes:
    """application_traffic_secret_N+1 after a KeyUpdate (RFC 8446 §7.2)."""
    return hkdf_expand_label(
        algorithm, traffic_secret, b"traffic upd", b"", algorithm.digest_size, prefix=prefix
    )


def finished_key(algorithm: hashes.HashAlgorithm, base_key: bytes, *, prefix: bytes) -> bytes:
    """finished_key of RFC 8446 §4.4.4 (also the PSK binder's key, §4.2.11.2)."""
    return hkdf_expand_label(
        algorithm, base_key, b"finished", b"", algorithm.digest_size, prefix=prefix
    )


def finished_verify_data(
    algorithm: hashes.HashAlgorithm, base_key: bytes, transcript_hash: bytes, *, prefix: bytes
) -> bytes:
    """verify_data = HMAC(finished_key, Transcript-Hash(...)) (RFC 8446 §4.4.4).

    ``base_key`` is the sender's handshake traffic secret for Finished, or the binder key for a
    PSK binder, whose transcript is the ClientHello truncated before the binders.
    """
    h = hmac.HMAC(finished_key(algorithm, base_key, prefix=prefix), algorithm)
    h.update(transcript_hash)
    return h.finalize()


def resumption_psk(
    algorithm: hashes.HashAlgorithm,
    resumption_master_secret: bytes,
    ticket_nonce: bytes,
    *,
    prefix: bytes,
) -> bytes:
    """The PSK a NewSessionTicket stands for (RFC 8446 §4.6.1)."""
    return hkdf_expand_label(
        algorithm,
        resumption_master_secret,
        b"resumption",
        ticket_nonce,
        algorithm.digest_size,
        prefix=prefix,
    )


def export_keying_material(
    algorithm: hashes.HashAlgorithm,
    exporter_master_secret: bytes,
    label: bytes,
    context: bytes,
    length: int,
    *,
    prefix: bytes,
) -> bytes:
    """TLS-Exporter(label, context_value, key_length) of RFC 8446 §7.5.

    Unlike RFC 5705, no context and an empty context are the same here (§7.5), so ``context``
    is plain bytes.
    """
    h = hashes.Hash(algorithm)
    h.update(context)
    label_secret = derive_secret(
        algorithm, exporter_master_secret, label, empty_transcript_hash(algorithm), prefix=prefix
    )
    return hkdf_expand_label(
        algorithm, label_secret, b"exporter", h.finalize(), length, prefix=prefix
    )


class KeySchedule13:
    """One connection's secrets, derived stage by stage as the handshake reaches them.

    The stages follow RFC 8446 §7.1: built with or without a PSK (early secret, binder keys),
    then :meth:`derive_early` on the ClientHello hash (0-RTT), :meth:`derive_handshake` with
    the (EC)DHE secret and the hash through ServerHello, :meth:`derive_application` with the
    hash through the server Finished, :meth:`derive_resumption` with the hash through the
    client Finished. Each transcript hash is computed by the caller. Asking for a secret before
    its stage raises :class:`KeyScheduleStageError`.
    """

    __slots__ = (
        "_client_application_traffic_secret",
        "_client_application_traffic_secret_0",
        "_client_early_traffic_secret",
        "_client_handshake_traffic_secret",
        "_early_exporter_master_secret",
        "_exporter_master_secret",
        "_handshake_secret",
        "_master_secret",
        "_resumption_master_secret",
        "_server_application_traffic_secret",
        "_server_application_traffic_secret_0",
        "_server_handshake_traffic_secret",
        "algorithm",
        "early_secret",
        "prefix",
    )

    def __init__(
        self,
        algorithm: hashes.HashAlgorithm,
        *,
        prefix: bytes = DTLS13_LABEL_PREFIX,
        psk: bytes | None = None,
    ) -> None:
        self.algorithm = algorithm
        """The suite's hash (SHA-256 or SHA-384)."""
        self.prefix = prefix
        """HKDF-Expand-Label's label prefix: :data:`DTLS13_LABEL_PREFIX` unless testing TLS."""
        zeros = bytes(algorithm.digest_size)
        # RFC 8446 §7.1: without a PSK the early secret is HKDF-Extract(0, 0).
        self.early_secret = hkdf_extract(algorithm, None, psk if psk is not None else zeros)
        """Early Secret = HKDF-Extract(0, PSK or zeros)."""
        self._client_early_traffic_secret: bytes | None = None
        self._early_exporter_master_secret: bytes | None = None
        self._handshake_secret: bytes | None = None
        self._client_handshake_traffic_secret: bytes | None = None
        self._server_handshake_traffic_secret: bytes | None = None
        self._master_secret: bytes | None = None
        self._client_application_traffic_secret: bytes | None = None
        self._server_application_traffic_secret: bytes | None = None
        # The _0 secrets stay for the key log: Wireshark steps KeyUpdates itself.
        self._client_application_traffic_secret_0: bytes | None = None
        self._server_application_traffic_secret_0: bytes | None = None
        self._exporter_master_secret: bytes | None = None
        self._resumption_master_secret: bytes | None = None

    def __repr__(self) -> str:
        return f"KeySchedule13({self.algorithm.name}, prefix={self.prefix!r}, stage={self.stage!r})"

    @property
    def stage(self) -> str:
        """The last stage derived: early, handshake, application or resumption."""
        if self._resumption_master_secret is not None:
            return "resumption"
        if self._master_secret is not None:
            return "application"
        if self._handshake_secret is not None:
            return "handshake"
        return "early"

    def _derive(self, secret: bytes, label: bytes, transcript_hash: bytes) -> bytes:
        return derive_secret(self.algorithm, secret, label, transcript_hash, prefix=self.prefix)

    def _derived(self, secret: bytes) -> bytes:
        """Derive-Secret(., "derived", ""): the salt of the next Extract."""
        return self._derive(secret, b"derived", empty_transcript_hash(self.algorithm))

    # -- early stage --------------------------------------------------------------------

    def binder_key(self, *, external: bool) -> bytes:
        """binder_key: "ext binder" for an external PSK, "res binder" for a resumption one."""
        label = b"ext binder" if external else b"res binder"
        return self._derive(self.early_secret, label, empty_transcript_hash(self.algorithm))

    def binder(self, *, external: bool, truncated_client_hello_hash: bytes) -> bytes:
        """The PSK binder over the ClientHello up to the binders (RFC 8446 §4.2.11.2)."""
        return finished_verify_data(
            self.algorithm,
            self.binder_key(external=external),
            truncated_client_hello_hash,
            prefix=self.prefix,
        )

    def derive_early(self, client_hello_hash: bytes) -> None:
        """client_early_traffic_secret and early_exporter_master_secret (0-RTT)."""
        self._client_early_traffic_secret = self._derive(
            self.early_secret, b"c e traffic", client_hello_hash
        )
        self._early_exporter_master_secret = self._derive(
            self.early_secret, b"e exp master", client_hello_hash
        )

    @property
    def client_early_traffic_secret(self) -> bytes:
        """Keys the client's 0-RTT records."""
        return _need(self._client_early_traffic_secret, "client_early_traffic_secret")

    @property
    def early_exporter_master_secret(self) -> bytes:
        """Exports keying material during 0-RTT."""
        return _need(self._early_exporter_master_secret, "early_exporter_master_secret")

    # -- handshake stage ----------------------------------------------------------------

    def derive_handshake(self, shared_secret: bytes | None, server_hello_hash: bytes) -> None:
        """Handshake Secret and both handshake traffic secrets.

        ``shared_secret`` is the (EC)DHE output, or ``None`` in psk_ke mode (zeros, §7.1);
        ``server_hello_hash`` covers ClientHello...ServerHello.
        """
        ikm = shared_secret if shared_secret is not None else bytes(self.algorithm.digest_size)
        hs = hkdf_extract(self.algorithm, self._derived(self.early_secret), ikm)
        self._handshake_secret = hs
        self._client_handshake_traffic_secret = self._derive(hs, b"c hs traffic", server_hello_hash)
        self._server_handshake_traffic_secret = self._derive(hs, b"s hs traffic", server_hello_hash)

    @property
    def handshake_secret(self) -> bytes:
        """Handshake Secret = HKDF-Extract(Derive-Secret(early, "derived", ""), (EC)DHE)."""
        return _need(self._handshake_secret, "handshake_secret")

    @property
    def client_handshake_traffic_secret(self) -> bytes:
        """Keys the client's handshake records; base key of the client Finished."""
        return _need(self._client_handshake_traffic_secret, "client_handshake_traffic_secret")

    @property
    def server_handshake_traffic_secret(self) -> bytes:
        """Keys the server's handshake records; base key of the server Finished."""
        return _need(self._server_handshake_traffic_secret, "server_handshake_traffic_secret")

    # -- application stage --------------------------------------------------------------

    def derive_application(self, server_finished_hash: bytes) -> None:
        """Master Secret, both application traffic secrets 0 and the exporter master secret.

        ``server_finished_hash`` covers ClientHello...server Finished.
        """
        master = hkdf_extract(
            self.algorithm,
            self._derived(self.handshake_secret),
            bytes(self.algorithm.digest_size),
        )
        self._master_secret = master
        client = self._derive(master, b"c ap traffic", server_finished_hash)
        server = self._derive(master, b"s ap traffic", server_finished_hash)
        self._client_application_traffic_secret = self._client_application_traffic_secret_0 = client
        self._server_application_traffic_secret = self._server_application_traffic_secret_0 = server
        self._exporter_master_secret = self._derive(master, b"exp master", server_finished_hash)

    @property
    def master_secret(self) -> bytes:
        """Master Secret = HKDF-Extract(Derive-Secret(handshake, "derived", ""), 0)."""
        return _need(self._master_secret, "master_secret")

    @property
    def client_application_traffic_secret(self) -> bytes:
        """client_application_traffic_secret_N: _0 until :meth:`update_client_traffic_secret`."""
        return _need(self._client_application_traffic_secret, "client_application_traffic_secret")

    @property
    def server_application_traffic_secret(self) -> bytes:
        """server_application_traffic_secret_N: _0 until :meth:`update_server_traffic_secret`."""
        return _need(self._server_application_traffic_secret, "server_application_traffic_secret")

    @property
    def exporter_master_secret(self) -> bytes:
        """The secret :meth:`export` derives from."""
        return _need(self._exporter_master_secret, "exporter_master_secret")

    def update_client_traffic_secret(self) -> bytes:
        """Step the client's application traffic secret after its KeyUpdate (§7.2)."""
        self._client_application_traffic_secret = next_traffic_secret(
            self.algorithm, self.client_application_traffic_secret, prefix=self.prefix
        )
        return self._client_application_traffic_secret

    def update_server_traffic_secret(self) -> bytes:
        """Step the server's application traffic secret after its KeyUpdate (§7.2)."""
        self._server_application_traffic_secret = next_traffic_secret(
            self.algorithm, self.server_application_traffic_secret, prefix=self.prefix
        )
        return self._server_application_traffic_secret

    def export(self, label: bytes, context: bytes, length: int) -> bytes:
        """TLS-Exporter over the exporter master secret (RFC 8446 §7.5)."""
        return export_keying_material(
            self.algorithm, self.exporter_master_secret, label, context, length, prefix=self.prefix
        )

    # -- resumption stage ---------------------------------------------------------------

    def derive_resumption(self, client_finished_hash: bytes) -> None:
        """resumption_master_secret; ``client_finished_hash`` covers through client Finished."""
        self._resumption_master_secret = self._derive(
            self.master_secret, b"res master", client_finished_hash
        )

    @property
    def resumption_master_secret(self) -> bytes:
        """The secret each NewSessionTicket's PSK derives from."""
        return _need(self._resumption_master_secret, "resumption_master_secret")

    def resumption_psk(self, ticket_nonce: bytes) -> bytes:
        """The PSK of the ticket with this nonce (RFC 8446 §4.6.1)."""
        return resumption_psk(
            self.algorithm, self.resumption_master_secret, ticket_nonce, prefix=self.prefix
        )

    # -- after the handshake -------------------------------------------------------------

    def release_handshake_secrets(self, *, keep_resumption: bool) -> None:
        """The handshake is over: forget the secrets only it needed (early, handshake and
        master secrets, the early and handshake traffic secrets). The application traffic
        secrets (KeyUpdate), their _0 values (key log), the exporter master secret and, with
        ``keep_resumption``, the resumption master secret stay. A forgotten secret reads as
        ``b""`` (the stage stays; asking for it raises :class:`KeyScheduleStageError`)."""
        released = b""
        self.early_secret = released
        if self._client_early_traffic_secret is not None:
            self._client_early_traffic_secret = released
        if self._early_exporter_master_secret is not None:
            self._early_exporter_master_secret = released
        if self._handshake_secret is not None:
            self._handshake_secret = released
            self._client_handshake_traffic_secret = released
            self._server_handshake_traffic_secret = released
        if self._master_secret is not None:
            self._master_secret = released
        if not keep_resumption and self._resumption_master_secret is not None:
            self._resumption_master_secret = released

    # -- the only way out ---------------------------------------------------------------

    def key_log_lines(self, client_random: bytes) -> list[str]:
        """NSS key log lines (as Wireshark reads them) for every secret derived so far.

        The one place secrets leave this object as text: write them only when the user asked
        for a key log.
        """
        named = (
            ("CLIENT_EARLY_TRAFFIC_SECRET", self._client_early_traffic_secret),
            ("EARLY_EXPORTER_SECRET", self._early_exporter_master_secret),
            ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", self._client_handshake_traffic_secret),
            ("SERVER_HANDSHAKE_TRAFFIC_SECRET", self._server_handshake_traffic_secret),
            ("CLIENT_TRAFFIC_SECRET_0", self._client_application_traffic_secret_0),
            ("SERVER_TRAFFIC_SECRET_0", self._server_application_traffic_secret_0),
            ("EXPORTER_SECRET", self._exporter_master_secret),
        )
        random = client_random.hex()
        return [f"{name} {random} {secret.hex()}\n" for name, secret in named if secret]


def _need(secret: bytes | None, name: str) -> bytes:
    if not secret:
        raise KeyScheduleStageError(
            f"{name} is not derived yet" if secret is None else f"{name} was released"
        )
    return secret
