"""Handshake message codecs (RFC 5246 §7.4, RFC 6347 §4.2, RFC 7627, RFC 8422, RFC 4279,
RFC 8446 §4, RFC 9147).

Codecs come in pairs on whole bodies, ``decode_x(body) -> X`` and ``encode_x(x) -> bytes``, for
messages and for extension bodies alike. A decoder reads with ``struct`` and slices at known
offsets (a handful of calls per message, not one buffer call per field), checks every length
against the end of what contains it, and raises ``BufferReadError`` (a ``decode_error``) or an
``Alert`` on malformed input, trailing bytes included. An encoder joins the packed fields once.

``pull_x(buf)`` / ``push_x(buf, x)`` are the same codecs on a :class:`~aiodtls.buffer.Buffer`
(a pull reads the rest of the buffer as one message body), for ``decode_message`` /
``encode_message`` and code written against them. The 12-byte handshake header and the
fragmentation and reassembly around it belong to ``reliability``.

This package is split along the lines a second protocol version adds to, and this module is
its index: it defines nothing and re-exports every public name, so
``from aiodtls.handshake.messages import X`` reads the same object as the module that owns X.

- ``handshake_type``: ``HandshakeType``, the vocabulary of both versions.
- ``vectors``: the presentation language every codec is written with, and
  ``decode_message`` / ``encode_message``.
- ``extensions``: ``ExtensionType``, the extension block and every extension body.
- ``hello``: ClientHello, HelloVerifyRequest, ServerHello.
- ``keyexchange``: DTLS 1.2's ServerKeyExchange and ClientKeyExchange.
- ``authentication``: Certificate, CertificateRequest, CertificateVerify, Finished.
- ``tickets``: DTLS 1.2's NewSessionTicket.
- ``tls13``: DTLS 1.3's messages (EncryptedExtensions, its Certificate, CertificateRequest,
  NewSessionTicket, KeyUpdate, NewConnectionId), its hello extension bodies, the ACK body
  and the transcript framing.
"""

from __future__ import annotations

from .authentication import *  # noqa: F403
from .extensions import *  # noqa: F403
from .handshake_type import *  # noqa: F403
from .hello import *  # noqa: F403
from .keyexchange import *  # noqa: F403
from .tickets import *  # noqa: F403
from .tls13 import *  # noqa: F403
from .vectors import *  # noqa: F403
