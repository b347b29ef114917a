"""Test-wide settings.

Hypothesis: no per-example deadline (CI machines are slower and busier than a laptop, and a
timing failure would say nothing about the code), and a fixed seed under CI so a run can be
reproduced exactly.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("default", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True)
settings.load_profile(
    "ci" if os.environ.get("CI") or os.environ.get("AIODTLS_REQUIRE_INTEROP") else "default"
)
