"""Errors of a run, carried as diagnostics so the CLI renders them like the compiler's."""

from __future__ import annotations

from collections.abc import Sequence

from rostermap.dsl.diagnostics import Diagnostic, render_all

__all__ = ["HELD", "LOCKED", "PARTIAL", "UNPUBLISHED", "RunError", "UsageError"]

# Exit codes of a run that finished but needs attention (a failed one: RunError's).
PARTIAL = 3  # its files were written, but some records were rejected
HELD = 4  # over a mass-change limit: nothing published until approved
LOCKED = 5  # another run of the same profile and tenant holds the state
UNPUBLISHED = 6  # committed, but its files could not be moved into --out: the next run does


class RunError(Exception):
    """The source data or the run cannot go on: nothing has been written.

    Exit code 1. ``diagnostics`` holds every problem found before giving up, each
    located in a source file (file, line, column) where it has a place.
    """

    exit_code = 1

    def __init__(self, diagnostics: Sequence[Diagnostic]):
        self.diagnostics = tuple(diagnostics)
        super().__init__(render_all(self.diagnostics))


class UsageError(RunError):
    """The command line asks for something impossible (exit code 2)."""

    exit_code = 2
