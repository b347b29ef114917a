"""The DTLS record header codec, under the record layer's import path.

The wire layout itself (content types, versions, the 13-byte header, the tls12_cid header,
:class:`RawRecord` and the one datagram splitter) lives in :mod:`aiodtls.wire`, the single
keyless reader that the record layer, the dissector, the proxy and the simulator share. This
module re-exports it so that ``aiodtls.record.header`` keeps working; it owns nothing itself.
"""

from __future__ import annotations

# Every name of the codec, under the old path. No __all__ here: the names are documented
# (and their docstrings checked) where they are defined.
from ..wire import *  # noqa: F403
