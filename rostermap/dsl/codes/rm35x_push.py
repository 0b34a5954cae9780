"""Push outputs: RM350-RM359 (the profile), RM491-RM499 (the writes), RM530-RM539
(the `push` command).

A push output turns records into API writes instead of rows of a file (see
docs/push.md). The checker reports what a profile gets wrong about its requests
(compiler.check), the push runtime what the target did with each write
(runtime.sync.push), the command line what it was given (cli, runtime.sync.push).
"""

from __future__ import annotations

from collections.abc import Sequence

from rostermap.dsl.codes._registry import WARNING, Draft, code
from rostermap.dsl.codes._wording import a, did_you_mean
from rostermap.dsl.diagnostics import DataLocation, Label
from rostermap.dsl.span import Span
from rostermap.dsl.types import Type

__all__ = [
    "body_field_missing",
    "capture_missing",
    "dependency_failed",
    "link_not_after",
    "link_unknown_capture",
    "not_a_push_profile",
    "path_field_type",
    "path_field_unknown",
    "push_cycle",
    "push_needs_key",
    "push_profile_in_run",
    "unknown_method",
    "push_statement_in_file_output",
    "push_without_send",
    "unknown_push",
    "write_failed",
]


@code("RM350", "push body misses a required field",
      "The body a push sends (`body ROOT`) is one the checker knows (a OneRoster "
      "lineItem or result, a PowerSchool assignment or score), and a field the target "
      "requires has no column: a write without it is refused by the target, record by "
      "record.")
def body_field_missing(root: str, fields: Sequence[str], span: Span) -> Draft:
    """``fields`` are the required paths under ``root`` that no column makes."""
    listed = ", ".join(f"`{root}/{f}`" for f in fields)
    return Draft(f"the `{root}` body lacks required field(s) {listed}",
                 Label(span, f"{a(root)} without them is refused"),
                 notes=(f'help: add a column for each, e.g. "{root}/{fields[0]}" <- ...',))


@code("RM351", "unknown path field",
      "`{NAME}` in a request path stands for a column of the push, or for a value the "
      "push captures from its own earlier write; this name is neither.")
def path_field_unknown(name: str, hint: str | None, span: Span) -> Draft:
    return Draft(f"the path names `{{{name}}}`, which is neither a column nor a capture "
                 "of this push", Label(span, "not a column"), notes=did_you_mean(hint))


@code("RM352", "path field of the wrong type",
      "A value in a request path is text, a number or a date: a list, an object or a "
      "true/false value has no one spelling in a URL.")
def path_field_type(name: str, given: Type, span: Span) -> Draft:
    return Draft(f"`{{{name}}}` in the path is {a(given)}", Label(span, f"{a(given)}"),
                 notes=("help: put a text or number column in the path (join a list, or "
                        "take one of its items, first)",))


@code("RM353", "write dependency not declared",
      "A push links a column to another push's capture (`link COLUMN to PUSH.NAME`), so "
      "its writes need that push's writes first, but it does not say `after PUSH`.")
def link_not_after(push: str, target: str, span: Span) -> Draft:
    return Draft(f"`{push}` links to `{target}` but is not declared `after {target}`",
                 Label(span, f"needs the writes of {target} first"),
                 notes=(f"help: add `after {target}` to the push block",))


@code("RM354", "unknown push",
      "`after` and `link` name another push output of the profile.")
def unknown_push(name: str, hint: str | None, pushes: Sequence[str], span: Span) -> Draft:
    listed = ", ".join(pushes) or "(none)"
    return Draft(f"there is no push `{name}`", Label(span, "not a push of this profile"),
                 notes=did_you_mean(hint) or (f"note: pushes: {listed}",))


@code("RM355", "unknown capture",
      "`link COLUMN to PUSH.NAME` reads a value that push keeps from its responses "
      "(`capture NAME from ...`); that push captures no such value.")
def link_unknown_capture(push: str, name: str, captures: Sequence[str], span: Span) -> Draft:
    listed = ", ".join(captures) or "nothing"
    return Draft(f"`{push}` captures no `{name}`", Label(span, "not captured"),
                 notes=(f"note: {push} captures {listed}",))


@code("RM356", "push without request",
      "A push block says how each record is written: `send METHOD \"PATH\"` (and, for a "
      "target that makes the record's id, `create METHOD \"PATH\"` for its first write).")
def push_without_send(name: str, span: Span) -> Draft:
    return Draft(f"push `{name}` has no `send` line", Label(span, "how is it written?"),
                 notes=('help: add e.g. send PUT "/lineItems/{sourcedId}"',))


@code("RM357", "push needs a key",
      "The push state remembers what each record last sent, by the push's `key` "
      "columns: without a key an unchanged record could not be told from a new one.")
def push_needs_key(name: str, span: Span) -> Draft:
    return Draft(f"push `{name}` has no `key`", Label(span, "no key"),
                 notes=("help: add `key COLUMN`, a column that names the record "
                        "(its sourcedId)",))


@code("RM358", "push order cycle",
      "The pushes' `after` lines go round in a circle: no push could be written first.")
def push_cycle(cycle: Sequence[str], span: Span) -> Draft:
    return Draft("the pushes wait for each other: " + " -> ".join(cycle), Label(span))


_MISPLACED = code("RM359", "misplaced push statement",
                  "`send`, `create`, `capture`, `after`, `body` and `link` belong to a "
                  "`push` block (in an output file they mean nothing), and a request's "
                  "method is one that writes: POST, PUT or PATCH.")


@_MISPLACED
def push_statement_in_file_output(output: str, span: Span) -> Draft:
    return Draft(f"`{output}` is a file, not a push", Label(span, "a push statement"),
                 notes=("help: start the block with `push NAME from ENTITY`",))


@_MISPLACED
def unknown_method(method: str, span: Span) -> Draft:
    return Draft(f"`{method}` is not a method that writes", Label(span, "not POST, PUT or PATCH"),
                 notes=("help: send with POST, PUT or PATCH",))


@code("RM491", "write failed",
      "The target refused a write, or did not answer it after the retries (429 and 5xx "
      "are retried with backoff). The other writes went on; the record is written again "
      "by the next push, which sends only what did not succeed or has changed since.")
def write_failed(push: str, key: str, status: str, message: str) -> Draft:
    """``status`` is the HTTP status or the transport's error; ``message`` the target's
    own words (already redacted)."""
    return Draft(f"{push} {key}: the target answered {status}: {message}",
                 location=DataLocation(push),
                 notes=("note: the next push sends this record again",))


@code("RM492", "capture missing from response",
      "A write succeeded but its response lacks the value the push captures (`capture "
      "NAME from PATH`): the writes that link to it cannot be made.")
def capture_missing(push: str, key: str, name: str, path: str) -> Draft:
    return Draft(f"{push} {key}: the response has no `{path}` to capture as `{name}`",
                 location=DataLocation(push),
                 notes=("help: check the capture's path against the target's response",))


@code("RM493", "write skipped: dependency not written",
      "A write links to a record of an earlier push that has no captured value (its own "
      "write failed, or it was never written): it is left for the next push.", WARNING)
def dependency_failed(push: str, key: str, target: str, target_key: str) -> Draft:
    return Draft(f"{push} {key}: skipped, {target} {target_key} has not been written",
                 location=DataLocation(push),
                 notes=("note: the next push writes both",))


@code("RM530", "not a push profile",
      "`rostermap push` writes a profile's push outputs to an API; this profile has "
      "only output files (use `rostermap run`).")
def not_a_push_profile(profile: str) -> Draft:
    return Draft(f"profile `{profile}` has no push output",
                 notes=("help: run it with `rostermap run`",))


@_MISPLACED
def push_profile_in_run(profile: str) -> Draft:
    return Draft(f"profile `{profile}` pushes to an API; it makes no files",
                 notes=("help: run it with `rostermap push PROFILE --source ... "
                        "--target URL`",))
