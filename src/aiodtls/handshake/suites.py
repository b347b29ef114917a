"""The old import path of :mod:`aiodtls.suites`, kept for code written against it.

The suite, group and signature-scheme registries moved to :mod:`aiodtls.suites`, below both
``configuration`` and ``handshake`` (issue 14: the two no longer import each other). This
module owns nothing: it re-exports the same objects, so ``aiodtls.handshake.suites.CipherSuite
is aiodtls.suites.CipherSuite``. New code imports :mod:`aiodtls.suites`; nothing inside the
package imports this module.
"""

from __future__ import annotations

from ..suites import DEFAULT_CIPHER_SUITES as DEFAULT_CIPHER_SUITES
from ..suites import DEFAULT_GROUPS as DEFAULT_GROUPS
from ..suites import DEFAULT_PSK_CIPHER_SUITES as DEFAULT_PSK_CIPHER_SUITES
from ..suites import DEFAULT_SIGNATURE_SCHEMES as DEFAULT_SIGNATURE_SCHEMES
from ..suites import (
    CipherSuite,
    KeyExchange,
    NamedGroup,
    SignatureScheme,
    SuiteInfo,
    cipher_suite_from_name,
    openssl_name,
    suite_info,
)

# The defaults are re-exported too (the ``as`` form), documented where they are defined.
__all__ = [
    "CipherSuite",
    "KeyExchange",
    "NamedGroup",
    "SignatureScheme",
    "SuiteInfo",
    "cipher_suite_from_name",
    "openssl_name",
    "suite_info",
]
