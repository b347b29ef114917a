"""Opening observed DTLS 1.3 records with an NSS key log, for the proxy's diagnosis.

Owns the one place an *observer* (``aiodtls proxy --keylog FILE``) turns key log lines back
into record keys: :class:`KeyLog` reads the lines that ``DtlsConfiguration.key_log`` (or any
TLS 1.3 stack's ``SSLKEYLOGFILE``) writes, and :class:`Decryptor13` opens one client-server
pair's unified-header records with them. It learns the client random from the ClientHello
and the suite from the ServerHello (both plaintext), derives the epoch's keys the way the
endpoints do (``[sender]_write_key``/``iv``/``sn``, RFC 8446 §7.3 with the "dtls13" labels,
RFC 9147 §4.2.3), reconstructs each record number from the masked bits and opens the record.

Epochs 2 (``*_HANDSHAKE_TRAFFIC_SECRET``) and 3 (``*_TRAFFIC_SECRET_0``) only: the secrets of
later epochs (after KeyUpdates) are not in a key log, and a record whose epoch bits say 0
(epoch 4, 8 ...) or 1 (early data, not logged by aiodtls) stays opaque. A record that does not
open (no line yet, another key, a forgery) stays opaque too: the decryptor never raises and
never decides anything; it only names what it could read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .alerts import Alert
from .buffer import BufferReadError
from .dissect import DissectedItem, DtlsRecord, UnifiedRecord
from .handshake.keyschedule13 import DTLS13_LABEL_PREFIX, traffic_keys
from .handshake.messages import HandshakeType, decode_ack
from .record.protection13 import OpenedRecord13, RecordProtection13
from .reliability.fragments import HANDSHAKE_HEADER_LENGTH, read_handshake_header
from .suites import Suite13, suite13_hash

__all__ = ["Decrypted13", "Decryptor13", "KeyLog"]

_LABELS = {
    ("client", 2): "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    ("server", 2): "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    ("client", 3): "CLIENT_TRAFFIC_SECRET_0",
    ("server", 3): "SERVER_TRAFFIC_SECRET_0",
}
_KEY_LENGTHS = {0x1301: 16, 0x1302: 32, 0x1303: 32, 0x1304: 16, 0x1305: 16}
_IV_LENGTH = 12
_CLIENT_RANDOM = slice(2, 34)
"Where the random sits in a ClientHello body: after client_version(2)."
_CONTENT_NAMES = {21: "Alert", 22: "HS", 23: "APP", 26: "ACK"}
_MAX_LINES = 100_000
"Lines a key log may hold before the rest is ignored (a proxy reads it again on each miss)."


class KeyLog:
    """NSS key log lines (``LABEL <client random hex> <secret hex>``), from a file read again
    when a secret is missing (the endpoints append while the handshake runs) or from text."""

    def __init__(self, path: str | os.PathLike[str] | None = None, text: str = "") -> None:
        self.path = path
        self._secrets: dict[tuple[str, bytes], bytes] = {}
        self._read = 0
        self._parse(text)

    def secret(self, label: str, client_random: bytes) -> bytes | None:
        """The secret logged under ``label`` for this client random, or None."""
        found = self._secrets.get((label, client_random))
        if found is None and self.path is not None:
            self._reload()
            found = self._secrets.get((label, client_random))
        return found

    def _reload(self) -> None:
        try:
            with open(self.path or "", encoding="ascii", errors="replace") as file:
                file.seek(self._read)
                text = file.read()
                self._read = file.tell()
        except OSError:
            return
        self._parse(text)

    def _parse(self, text: str) -> None:
        for line in text.splitlines():
            if len(self._secrets) >= _MAX_LINES:
                return
            parts = line.split()
            if len(parts) != 3 or line.startswith("#"):
                continue
            try:
                self._secrets[(parts[0], bytes.fromhex(parts[1]))] = bytes.fromhex(parts[2])
            except ValueError:
                continue


@dataclass(frozen=True)
class Decrypted13:
    """What one opened DTLS 1.3 record holds."""

    epoch: int
    sequence_number: int
    "The full record number, reconstructed from the masked bits."
    content_type: int
    "The real (inner) content type: 21 alert, 22 handshake, 23 application data, 26 ACK."
    length: int
    "Content bytes, padding and inner type removed."
    fragments: tuple[tuple[int, int, int, int, int], ...] = ()
    """(msg_type, length, message_seq, fragment_offset, fragment_length) of each handshake
    fragment (the same 12-byte header as in DTLS 1.2)."""
    acks: tuple[tuple[int, int], ...] | None = None
    "The record numbers of an ACK."
    alert: tuple[int, int] | None = None
    "(level, description) of an alert."

    def describe(self) -> str:
        """E.g. ``'e2#1 HS EncryptedExtensions seq=2 [0+23/23]'`` or ``'e3#0 ACK of e2#1'``."""
        text = f"e{self.epoch}#{self.sequence_number} {_CONTENT_NAMES.get(self.content_type, '?')}"
        if self.fragments:
            text += " " + ", ".join(
                f"{_name(t)} seq={seq} [{offset}+{flen}/{length}]"
                for t, length, seq, offset, flen in self.fragments
            )
        elif self.acks is not None:
            numbers = " ".join(f"e{e}#{n}" for e, n in self.acks) or "nothing"
            text += f" of {numbers}"
        elif self.alert is not None:
            text += f" level={self.alert[0]} description={self.alert[1]}"
        else:
            text += f" {self.length}B"
        return text


class Decryptor13:
    """Opens the unified-header records of one client-server pair with a :class:`KeyLog`."""

    def __init__(self, key_log: KeyLog) -> None:
        self.key_log = key_log
        self.client_random: bytes | None = None
        self.suite: int | None = None
        self._protections: dict[tuple[str, int], RecordProtection13] = {}
        self._next: dict[tuple[str, int], int] = {}

    def note(self, side: str, items: list[DissectedItem], data: bytes) -> None:
        """Learn the client random and the suite from a datagram's plaintext hellos."""
        for item in items:
            if not isinstance(item, DtlsRecord) or item.epoch != 0:
                continue
            for frag in item.fragments:
                if frag.msg_type == HandshakeType.client_hello and side == "client":
                    body = data[frag.offset + HANDSHAKE_HEADER_LENGTH :]
                    if frag.fragment_offset == 0 and len(body) >= _CLIENT_RANDOM.stop:
                        self.client_random = bytes(body[_CLIENT_RANDOM])
                elif frag.cipher_suite in _KEY_LENGTHS and not frag.hello_retry:
                    self.suite = frag.cipher_suite

    def open(self, side: str, data: bytes, record: UnifiedRecord) -> Decrypted13 | None:
        """The record ``side`` sent, opened, or None when it cannot be (yet)."""
        epoch = record.epoch_bits
        protection = self._protection(side, epoch, record.connection_id)
        if protection is None:
            return None
        key = (side, epoch)
        opened = protection.open_record(data, record, self._next.get(key, 0))
        if not isinstance(opened, OpenedRecord13):
            return None
        self._next[key] = max(self._next.get(key, 0), opened.sequence_number + 1)
        return _read(epoch, opened)

    def _protection(
        self, side: str, epoch: int, connection_id: bytes | None
    ) -> RecordProtection13 | None:
        found = self._protections.get((side, epoch))
        if found is not None:
            return found
        label = _LABELS.get((side, epoch))
        if label is None or self.client_random is None or self.suite is None:
            return None
        secret = self.key_log.secret(label, self.client_random)
        if secret is None:
            return None
        suite = self.suite
        try:
            keys = traffic_keys(
                suite13_hash(suite),
                secret,
                _KEY_LENGTHS[suite],
                _IV_LENGTH,
                prefix=DTLS13_LABEL_PREFIX,
            )
            protection = RecordProtection13(
                suite,
                key=keys.key,
                iv=keys.iv,
                sn_key=keys.sn_key,
                epoch=epoch,
                connection_id=connection_id or None,
                allow_ccm8=suite == Suite13.TLS_AES_128_CCM_8_SHA256,
            )
        except ValueError:  # a logged secret of the wrong length
            return None
        self._protections[(side, epoch)] = protection
        return protection


def _read(epoch: int, opened: OpenedRecord13) -> Decrypted13:
    content = opened.content
    fragments: list[tuple[int, int, int, int, int]] = []
    acks: tuple[tuple[int, int], ...] | None = None
    alert: tuple[int, int] | None = None
    if opened.content_type == 22:
        pos = 0
        while len(content) - pos >= HANDSHAKE_HEADER_LENGTH:
            header = read_handshake_header(content, pos)
            fragments.append(header)
            pos += HANDSHAKE_HEADER_LENGTH + header[4]
    elif opened.content_type == 26:
        try:
            acks = tuple(decode_ack(content))
        except (BufferReadError, Alert):
            acks = None
    elif opened.content_type == 21 and len(content) == 2:
        alert = (content[0], content[1])
    return Decrypted13(
        epoch,
        opened.sequence_number,
        opened.content_type,
        len(content),
        tuple(fragments),
        acks,
        alert,
    )


def _name(msg_type: int) -> str:
    try:
        return "".join(w.capitalize() for w in HandshakeType(msg_type).name.split("_"))
    except ValueError:
        return f"type{msg_type}"
