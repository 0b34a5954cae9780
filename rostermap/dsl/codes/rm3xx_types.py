"""RM3xx: types and profile rules. What the checker finds once every name is known."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from rostermap.dsl import limits
from rostermap.dsl.codes._registry import WARNING, Draft, code
from rostermap.dsl.codes._wording import Signature, a, did_you_mean, signature
from rostermap.dsl.diagnostics import Label
from rostermap.dsl.span import Span
from rostermap.dsl.types import Type

__all__ = [
    "bad_bundle_name",
    "departed_row_key",
    "departed_row_kept",
    "departed_row_type",
    "secret_in_expression",
    "secret_in_key",
    "personal_data_in_reason",
    "reason_not_text",
    "grace_out_of_range",
    "bad_literal",
    "branch_types",
    "cannot_compare",
    "cannot_compare_lists",
    "cannot_compute",
    "cannot_index",
    "cannot_look_for",
    "cannot_negate",
    "SyncWord",
    "change_set_without_key",
    "default_not_a_choice",
    "default_not_constant",
    "default_of_wrong_type",
    "definition_arity",
    "each_needs_list",
    "function_arity",
    "in_needs_list",
    "limit_out_of_range",
    "literal_needed",
    "lookup_into_one",
    "lookup_outside_call",
    "lookup_without_where",
    "match_misses",
    "mixed_list",
    "needs_reference",
    "nested_lookup",
    "no_fields",
    "not_a_condition",
    "output_as_value",
    "output_cycle",
    "outside_enumeration",
    "output_without_columns",
    "pattern_cannot_match",
    "quantifier_needs_lists",
    "references_in_lookup",
    "reserved_output_name",
    "secret_default",
    "table_default",
    "unknown_sync_word",
    "untied_lookup",
    "value_from_outer_record",
    "value_in_column",
    "wrong_argument",
    "wrong_membership",
    "naming_not_text",
]

_MISMATCHED_TYPES = code("RM301", "mismatched types",
                         "Values of incompatible types meet: the sides of a comparison, of "
                         "`in` or of `any of`/`all of`/`none of`, the operands of + and -, a "
                         "`match` pattern and its subject, or the items of one list.")


@_MISMATCHED_TYPES
def cannot_compare(left: Type, right: Type, op: str, span: Span) -> Draft:
    return Draft(f"cannot compare {a(left)} with {a(right)} using `{op}`",
                 Label(span, f"{left} {op} {right}"))


@_MISMATCHED_TYPES
def cannot_look_for(item: Type, collection: Type, span: Span) -> Draft:
    return Draft(f"cannot look for {a(item)} in {a(collection)}", Label(span, "mismatched types"))


@_MISMATCHED_TYPES
def cannot_compare_lists(items: Type, collection: Type, span: Span) -> Draft:
    return Draft(f"cannot compare {a(items)} with {a(collection)}", Label(span, "mismatched types"))


@_MISMATCHED_TYPES
def cannot_compute(left: Type, op: str, right: Type, span: Span) -> Draft:
    return Draft(f"cannot compute {left} {op} {right}", Label(span, "mismatched types"),
                 notes=("help: + adds numbers or joins text; - subtracts numbers",))


@_MISMATCHED_TYPES
def cannot_negate(operand: Type, span: Span) -> Draft:
    return Draft(f"cannot negate {a(operand)}", Label(span, "not a number"))


@_MISMATCHED_TYPES
def pattern_cannot_match(pattern: Type, subject: Type, span: Span) -> Draft:
    return Draft(f"{a(pattern)} pattern cannot match {a(subject)}", Label(span, "mismatched types"))


@_MISMATCHED_TYPES
def mixed_list(span: Span) -> Draft:
    return Draft("a list's items must have one type", Label(span, "items of different types"))


@code("RM302", "not a condition",
      "`where`, `if`, `and`, `or`, `not` and the `if` of `warn`, `counter` and `reject` need "
      "true/false values.")
def not_a_condition(construct: str, given: Type, span: Span) -> Draft:
    """``construct`` is what needs the condition, as written: where, and, warn ... if."""
    return Draft(f"`{construct}` needs a condition, but this is {a(given)}",
                 Label(span, f"{a(given)}, not true/false"),
                 notes=("help: compare it, e.g. `x = \"value\"` or `x is not empty`",))


@code("RM303", "list in a scalar column",
      "A CSV column holds one value: use first(...) or join(..., \",\") to turn a list into "
      "one; an object needs a JSON output.")
def value_in_column(column: str, given: Type, value_text: str, span: Span) -> Draft:
    """``value_text`` is the column's expression as written, for the suggested fix."""
    message = f"`{column}` would hold {a(given)}, but a CSV column holds one value"
    if not given.is_list:
        return Draft(message, Label(span, "an object"),
                     notes=("help: objects are written to JSON outputs: name the file .json or "
                            ".jsonl",))
    return Draft(message, Label(span, "a list"),
                 notes=(f"help: write first(...) for one item, or join(..., \",\") for all of "
                        f"them: {column} <- join({value_text}, \",\")",))


_BAD_ARGUMENTS = code("RM304", "bad function arguments",
                      "The call does not match the function's signature, or the definition's "
                      "parameters: the number or the types of its arguments.")


@_BAD_ARGUMENTS
def function_arity(fn: Signature, given: int, span: Span) -> Draft:
    count = len(fn.params)
    return Draft(f"{fn.name} takes {count}{' or more' if fn.variadic else ''} argument"
                 f"{'s' if count != 1 else ''}, not {given}",
                 Label(span, "wrong number of arguments"), notes=(f"note: {signature(fn)}",))


@_BAD_ARGUMENTS
def wrong_argument(fn: Signature, expected: Type, given: Type, span: Span) -> Draft:
    return Draft(f"{fn.name} expects {a(expected)} here, not {a(given)}", Label(span, a(given)),
                 notes=(f"note: {signature(fn)}",))


@_BAD_ARGUMENTS
def needs_reference(function: str, returns: str, given: Type, span: Span) -> Draft:
    """guidref and resolves, whose argument is any reference (or list of references)."""
    return Draft(f"{function} takes a reference, not {a(given)}", Label(span, "not a reference"),
                 notes=(f"note: {function}(reference) -> {returns}",))


@_BAD_ARGUMENTS
def definition_arity(name: str, expected: int, given: int, span: Span, definition: Span) -> Draft:
    return Draft(f"{name} takes {expected} argument(s), not {given}",
                 Label(span, "wrong number of arguments"),
                 secondary=(Label(definition, "defined here"),))


_NOT_A_LIST = code("RM305", "not a list",
                   "`for each`, indexing and `any of`/`all of`/`none of` need a list.")


@_NOT_A_LIST
def each_needs_list(given: Type, span: Span) -> Draft:
    return Draft(f"`for each` needs a list, not {a(given)}", Label(span, "not a list"))


@_NOT_A_LIST
def cannot_index(given: Type, span: Span) -> Draft:
    return Draft(f"{a(given)} cannot be indexed", Label(span, "not a list"))


@_NOT_A_LIST
def quantifier_needs_lists(quantifier: str, given: Type, span: Span) -> Draft:
    return Draft(f"`{quantifier} of` needs lists, not {a(given)}", Label(span, "not a list"))


@code("RM306", "no such attribute", "Only references to other records have fields.")
def no_fields(given: Type, span: Span) -> Draft:
    return Draft(f"{a(given)} has no fields", Label(span, "no such attribute"),
                 notes=("help: only references to other records (such as school or class) have "
                        "fields",))


_UNCORRELATED_LOOKUP = code(
    "RM307", "uncorrelated lookup",
    "A lookup's `where` needs, among its `and`ed conditions, one that ties the looked-up "
    "records to the record it is read for: `A = B` or `A in B`, one side reading only the "
    "looked-up record and the other only the outer one (`class = this`, `user = "
    "this.user`, `lower(username) = lower(this.username)`, `sourcedId in this.orgs`, "
    "`this in agents`). Its other conditions may read both. Its value is read from the "
    "looked-up records.")


@_UNCORRELATED_LOOKUP
def lookup_without_where(entity: str, span: Span) -> Draft:
    return Draft("a lookup needs `where` to relate its records to this one",
                 Label(span, "no `where`"),
                 notes=(f"help: e.g. `... of {entity} where class = this`",))


@_UNCORRELATED_LOOKUP
def untied_lookup(entity: str, span: Span) -> Draft:
    return Draft("this lookup is not tied to the record it is read for",
                 Label(span, "no `<field> = this`"),
                 notes=("help: add a condition such as `class = this`, `user = this.user` or "
                        f"`sourcedId in this.orgs`; {entity} records are matched by it",))


@_UNCORRELATED_LOOKUP
def value_from_outer_record(span: Span) -> Draft:
    return Draft("a lookup's value is read from the looked-up records",
                 Label(span, "uses the outer record"))


_LOOKUP_OUTSIDE_FUNCTION = code("RM308", "lookup outside a function",
                                "A lookup yields many values: pass it to a function that takes "
                                "a list (its parameter is `list[...]` in the function table of "
                                "docs/language.md; the message names each).")


@_LOOKUP_OUTSIDE_FUNCTION
def lookup_into_one(function: str, span: Span, takers: Sequence[str]) -> Draft:
    """``takers``: the functions that take a list (``check.functions_taking_lists``)."""
    return Draft(f"a lookup gives many values, but {function} takes one",
                 Label(span, "many values"),
                 notes=(f"help: reduce it first with a function that takes a list: "
                        f"{', '.join(takers)}",))


@_LOOKUP_OUTSIDE_FUNCTION
def lookup_outside_call(span: Span, takers: Sequence[str]) -> Draft:
    return Draft("a lookup gives many values: pass it to a function", Label(span),
                 notes=(f"help: a function that takes a list: {', '.join(takers)}",))


@code("RM309", "membership of the wrong kind",
      "`x in out.csv` needs a reference to the entity that out.csv is made from.")
def wrong_membership(output: str, entity: str, record: str, given: Type, span: Span) -> Draft:
    return Draft(f"{output} is made of {entity}, but this is {a(given)}",
                 Label(span, f"not a reference to {record}"),
                 notes=(f"help: test a reference to {a(record)}, e.g. `user in {output}` or "
                        f"`this in {output}`",))


@code("RM310", "outputs depend on each other in a cycle", "Membership tests must form no cycle.")
def output_cycle(outputs: Sequence[str], span: Span) -> Draft:
    """``outputs`` is the chain of outputs, ending where it began."""
    return Draft(f"outputs depend on each other: {' -> '.join(outputs)}",
                 Label(span, "part of the cycle"))


@code("RM311", "value outside the enumeration",
      "OneRoster defines the values of this field; a literal outside them (and not an "
      "`ext:` extension) can never match.", WARNING)
def outside_enumeration(value: str, enum: str, allowed: Sequence[str], hint: str | None,
                        span: Span) -> Draft:
    spelling = hint is not None and hint.lower() == value.lower()
    return Draft(f'"{value}" is not a value of {enum}',
                 Label(span, "values are read in OneRoster's spelling" if spelling
                       else "never matches"),
                 notes=(*did_you_mean(hint, '"{}"'),
                        f"note: {enum} is one of {', '.join(allowed)}"))


@code("RM312", "mismatched branch types", "All branches of `if` or `match` give one type.")
def branch_types(types: Iterable[Type], span: Span) -> Draft:
    kinds = ", ".join(sorted({str(t) for t in types}))
    return Draft(f"the branches give different types ({kinds})", Label(span, "one type expected"))


_BAD_DEFAULT = code("RM313", "bad parameter default",
                    "A parameter's default is a constant of the declared type (one of its "
                    "choices, for a choice); a table parameter's default can only be [], and a "
                    "secret has none.")


@_BAD_DEFAULT
def default_not_constant(span: Span) -> Draft:
    return Draft("a parameter default must be a constant", Label(span, "not a constant"))


@_BAD_DEFAULT
def default_of_wrong_type(given: Type, declared: Type, span: Span) -> Draft:
    return Draft(f"the default is {a(given)}, not {a(declared)}",
                 Label(span, f"expected {declared}"))


@_BAD_DEFAULT
def default_not_a_choice(choices: str, span: Span) -> Draft:
    """``choices`` is the declared type as written: "a" | "b"."""
    return Draft(f"the default is not one of {choices}", Label(span, "not a choice"))


@_BAD_DEFAULT
def table_default(span: Span) -> Draft:
    return Draft("a table parameter's default can only be []", Label(span, "not []"),
                 notes=("help: write = [] for an optional file (no rows)",))


@_BAD_DEFAULT
def secret_default(name: str, span: Span) -> Draft:
    return Draft("a secret parameter has no default", Label(span, "a secret in the mapping file"),
                 notes=("help: secrets come from the environment "
                        f"(ROSTERMAP_PARAM_{name.upper()}), never from a file",))


@code("RM314", "output without columns", "An output needs at least one column rule.")
def output_without_columns(output: str, span: Span) -> Draft:
    return Draft(f"output `{output}` has no columns",
                 Label(span, "no `column <- value` lines below"),
                 notes=("help: add a line such as `user_id <- sourcedId`",))


_NESTED_LOOKUP = code("RM315", "nested lookup",
                      "A lookup cannot contain another lookup, not even through a rule (rules "
                      "are expanded where they are used), nor follow a list of references "
                      "(orgs.name); write the inner records to an output and test membership "
                      "in it instead.")


@_NESTED_LOOKUP
def nested_lookup(span: Span) -> Draft:
    return Draft("a lookup cannot contain another lookup", Label(span),
                 notes=("help: write the inner records to an output of their own and test "
                        "membership in it, e.g. `user in teachers.csv`",))


@_NESTED_LOOKUP
def references_in_lookup(path: str, field: str, span: Span) -> Draft:
    """``path`` is the list of references as written (user.orgs), ``field`` the field read."""
    return Draft("a list of references cannot be followed inside a lookup", Label(span),
                 notes=(f"help: pick one first, e.g. {path}[0].{field}",))


_IN_NEEDS_LIST = code("RM316", "`in` needs a list",
                      "The right side of `in` is a list, a list parameter or another output, "
                      "and an output is only read there.")


@_IN_NEEDS_LIST
def in_needs_list(given: Type, span: Span) -> Draft:
    return Draft(f"`in` needs a list on its right, not {a(given)}", Label(span, "not a list"),
                 notes=('help: write a list such as ("a", "b"), a list parameter or another '
                        "output",))


@_IN_NEEDS_LIST
def output_as_value(output: str, span: Span) -> Draft:
    return Draft(f"`{output}` is an output; only `in` can test it", Label(span),
                 notes=(f"help: write `... in {output}`",))


_BAD_LITERAL = code("RM318", "bad literal argument",
                    "Some arguments (patterns, date formats, pad's fill) are literals the "
                    "compiler checks.")


@_BAD_LITERAL
def literal_needed(fn: Signature, span: Span) -> Draft:
    return Draft(f"{fn.name} needs a literal here", Label(span, "not a literal"),
                 notes=(f"note: {signature(fn)}",))


@_BAD_LITERAL
def bad_literal(fn: Signature, problem: str, span: Span) -> Draft:
    """``problem`` is the function's own check of the literal (an invalid pattern, ...)."""
    return Draft(problem, Label(span, "this argument"), notes=(f"note: {signature(fn)}",))


@code("RM319", "match misses values",
      "A `match` over an enumeration covers every value the field can have (after the "
      "output's `where` rules), or has `else`.")
def match_misses(enum: str, missed: Sequence[str], span: Span) -> Draft:
    return Draft(f"this match over {enum} misses {', '.join(missed)}",
                 Label(span, "not every value has an arm"),
                 notes=('help: add arms for them, or `else -> ""` to leave them empty',
                        "note: a `where` rule such as role in (...) limits the values a match "
                        "must cover"))


# The words of `when missing` and `limit`, as the checker asks for them.
SyncWord = Literal["missing action", "grace unit", "limit action", "limit scope"]
_SYNC_WORDS: dict[SyncWord, str] = {
    "missing action": "a `when missing` action",
    "grace unit": "runs or days",
    "limit action": "a `limit` action",
    "limit scope": "what a limit is per",
}


@code("RM320", "unknown sync word",
      "`when missing` takes deactivate, delete or keep, and `after N runs` or `after N days`; "
      "`limit` takes create, update or deactivate, and `per school`.")
def unknown_sync_word(word: str, slot: SyncWord, allowed: Sequence[str], hint: str | None,
                      span: Span) -> Draft:
    choices = (f"help: the only choice is `{allowed[0]}`" if len(allowed) == 1
               else f"help: one of {', '.join(allowed)}")
    return Draft(f"`{word}` is not {_SYNC_WORDS[slot]}", Label(span, "unknown here"),
                 notes=did_you_mean(hint) or (choices,))


@code("RM321", "limit out of range",
      "A `limit` is a whole count of rows (0 or more) or a share from 0% to 100%.")
def limit_out_of_range(amount: float, percent: bool, span: Span) -> Draft:
    return Draft(f"`{amount:g}{'%' if percent else ''}` is not a limit",
                 Label(span, "out of range"),
                 notes=("help: a number of rows, such as 50, or a share from 0% to 100%",))


@code("RM322", "change set without a key",
      "An output with `when missing` or `limit` but no `key` tells rows apart by all their "
      "columns: a changed row is a deactivation and a creation, never an update.", WARNING)
def change_set_without_key(output: str, span: Span) -> Draft:
    return Draft(f"{output} has no `key`: rows are told apart by all their columns",
                 Label(span, "needs a key to see updates"),
                 notes=("help: add `key <column>` with the column that identifies a row, such as "
                        "key user_id",))


@code("RM323", "reserved output name",
      "`report.json`, `report.html`, `changes` and `held` are what every run writes beside "
      "its outputs, in any letter case.")
def reserved_output_name(name: str, span: Span) -> Draft:
    stem, dot, extension = name.rpartition(".")
    other = f"{stem}_export.{extension}" if dot else f"{name}_export"
    return Draft(f"`{name}` is a file every run writes itself", Label(span, "reserved"),
                 notes=(f"help: name the output otherwise, such as `{other}`",))


@code("RM324", "grace period out of range",
      f"`when missing ... after N runs` takes 1 to {limits.MAX_GRACE_RUNS:,} runs, and "
      f"`after N days` 1 to {limits.MAX_GRACE_DAYS:,} days.")
def grace_out_of_range(amount: int, unit: str, span: Span) -> Draft:
    most = limits.MAX_GRACE_RUNS if unit == "runs" else limits.MAX_GRACE_DAYS
    return Draft(f"a grace period of {amount:,} {unit} is out of range", Label(span, "here"),
                 notes=(f"help: from 1 to {most:,} {unit}",))


@code("RM325", "secret used in an expression",
      "A secret parameter is only written whole into a column (`password <- "
      "default_password`): in a rule, a lookup or a transform it would reach the run state, "
      "the change files and the reports.")
def secret_in_expression(name: str, span: Span) -> Draft:
    return Draft(f"the secret `{name}` is used in an expression", Label(span, "a secret"),
                 notes=("note: the state, the change files and the reports keep no secret; "
                        "a value made from one would carry it there",
                        f"help: write it whole into a column of its own: `column <- {name}`"))


@code("RM326", "secret column in a key",
      "A column holding a secret cannot be a `key` or `sort by` column: keys are stored "
      "in the run state and the change files.")
def secret_in_key(column: str, span: Span) -> Draft:
    return Draft(f"`{column}` holds a secret and cannot be a key or sort column",
                 Label(span, "a secret column"),
                 notes=("help: key the output by the record's id (sourcedId, username)",))


_DEPARTED_ROW = code("RM327", "departed row setting",
                     "`when missing ... with COLUMN = VALUE` sets columns of the row a product "
                     "is sent for a record that left: not a `key` column (the row would no "
                     "longer name what left), not with `keep` (nothing is sent), and a value "
                     "of the column's type.")


@_DEPARTED_ROW
def departed_row_key(column: str, span: Span) -> Draft:
    return Draft(f"`{column}` is a key column: the departed row must keep it",
                 Label(span, "a key column"),
                 notes=("help: set a column such as `status`; the key names the row that left",))


@_DEPARTED_ROW
def departed_row_kept(span: Span) -> Draft:
    return Draft("`when missing keep` sends no departed row to set columns of",
                 Label(span, "nothing is sent"),
                 notes=("help: `when missing deactivate with ...` or `delete with ...`",))


@_DEPARTED_ROW
def departed_row_type(column: str, column_type: Type, value: Type, span: Span) -> Draft:
    return Draft(f"`{column}` holds {a(str(column_type))}, not {a(str(value))}",
                 Label(span, f"{a(str(value))}"))


@code("RM328", "bad bundle name",
      "`bundle` names a .zip file that no output and no file every run writes has.")
def bad_bundle_name(name: str, span: Span) -> Draft:
    return Draft(f"`{name}` cannot be the bundle", Label(span, "not a new .zip name"),
                 notes=("help: a name ending in .zip that no output has, such as "
                        "`import.zip`",))


_BAD_REASON = code("RM329", "bad reject reason",
                   "A `reject` reason is text: a literal, or a text expression worked out for "
                   "each record, such as `\"matches \" + join(ids, \", \")`. It is written into "
                   "report.json, which names records by id: it may not read personal data "
                   "(names, emails, usernames, identifiers, and a table parameter's columns but "
                   "its sourcedId, as explain hides them) or a secret.")


@_BAD_REASON
def reason_not_text(given: Type, span: Span) -> Draft:
    return Draft(f"a reject reason is text, not {a(given)}", Label(span, f"{a(given)}"),
                 notes=("help: make it text, e.g. text(...) or join(..., \", \")",))


@_BAD_REASON
def personal_data_in_reason(field: str, span: Span) -> Draft:
    """``field`` is entity.field, the first personal or secret field the reason reads."""
    return Draft(f"the reject reason reads `{field}`, which is personal data",
                 Label(span, "written into report.json"),
                 notes=("note: reports name records by id and hold no personal data",
                        "help: name records by their sourcedId or another id instead"))


@code("RM340", "naming on a parameter that is not text",
      "`naming ENTITY by FIELD` says each value of a parameter names a record by a text "
      "field; the parameter is `str` or `list[str]`, and the fields are text.")
def naming_not_text(what: str, given: str, span: Span) -> Draft:
    """``what`` is "the parameter" or "the field `email`", ``given`` its type."""
    return Draft(f"`naming` needs text: {what} is {a(given)}", Label(span, f"{a(given)}"),
                 notes=("help: name records by a text field, such as sourcedId or email, "
                        "from a str or list[str] parameter",))
