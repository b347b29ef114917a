"""The old import path of :mod:`aiodtls.suites`, kept for code written against it.

The suite, group and signature-scheme registries moved to :mod:`aiodtls.suites`, below both
``configuration`` and ``handshake`` (issue 14: the two no longer import each other). This
module owns nothing: it re-exports the same objects, so ``aiodtls.handshake.suites.CipherSuite
is aiodtls.suites.CipherSuite``. New code imports :mod:`aiodtls.suites`; nothing inside the
package imports this module.
"""

from __future__ import annotations

# Every name of aiodtls.suites's __all__, without a second list here (documented there).
from ..suites import *  # noqa: F403
