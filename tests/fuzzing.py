"""How long the fuzzers run: short in CI, as long as asked for by hand.

Every property test that feeds rostermap arbitrary input takes its example count
from :func:`examples`, scaled by ``ROSTERMAP_FUZZ_SCALE`` (default 1). CI runs the
default; the long run documented in SECURITY.md multiplies it::

    ROSTERMAP_FUZZ_SCALE=100 .venv/bin/python -m pytest -m fuzz -p no:cacheprovider

A failure prints the input that caused it (hypothesis shrinks it first); add it to
the test's explicit examples before fixing the bug, so it stays fixed.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings

__all__ = ["SCALE", "examples", "fuzz_settings"]

SCALE = float(os.environ.get("ROSTERMAP_FUZZ_SCALE", "1"))


def examples(n: int) -> int:
    """``n`` examples, scaled for a long run."""
    return max(1, round(n * SCALE))


def fuzz_settings(n: int, **more: Any) -> settings:
    """Settings for a fuzzer of ``n`` examples (scaled): no deadline, no slowness checks."""
    return settings(max_examples=examples(n), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much], **more)
