"""RM330-RM339: rules through references, `match` used for conditions, output contracts.

What the checker (and, for a `match` arm, the parser) finds in these constructs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rostermap.dsl.codes._registry import Draft, code
from rostermap.dsl.diagnostics import Label
from rostermap.dsl.span import Span
from rostermap.dsl.types import Type

__all__ = [
    "condition_as_pattern",
    "contract_on_structured_column",
    "contract_rows_op",
    "departed_row_breaks_contract",
    "name_as_pattern",
    "rule_through_reference_holds",
    "rule_for_other_entity",
]


@code("RM330", "rule for another entity",
      "A rule or definition applied to a linked record (`class.active`) reads a field that "
      "the linked record's entity does not have: it is written for another entity.")
def rule_for_other_entity(rule: str, kind: str, field: str, entity: str, record: str,
                          written_for: Sequence[str], span: Span) -> Draft:
    """``kind`` is rule or definition; ``written_for`` the entities that have every field
    the rule reads (empty when none has)."""
    notes = [f"note: `{rule}` reads `{field}`, which {record} records do not have"]
    if written_for:
        notes.append(f"help: `{rule}` applies to {', '.join(written_for)}; apply it to a "
                     f"reference to one of those")
    return Draft(f"{kind} `{rule}` cannot be applied to {_a_record(record)}",
                 Label(span, f"a reference to {entity}"), notes=tuple(notes))


def _a_record(record: str) -> str:
    return f"an {record}" if record[0] in "aeiou" else f"a {record}"


@code("RM331", "rule through a reference reads what a reference cannot give",
      "A rule or definition applied to a linked record may read the linked record's fields, "
      "parameters, other rules and membership in outputs; not a lookup, which is tied to "
      "the record an output reads.")
def rule_through_reference_holds(rule: str, what: str, span: Span) -> Draft:
    """``what`` names the construct: a lookup, a membership test."""
    return Draft(f"`{rule}` holds {what}, so it cannot be applied through a reference",
                 Label(span, "applied to a linked record"),
                 notes=(f"help: write the condition on the reference's fields here, or give "
                        f"`{rule}` a parameter: define {rule}(r) = ... r.FIELD ...",))


_PATTERN = code("RM332", "condition as a match arm",
                "The arms of `match` compare its value with literal values (\"a\", 12, true). "
                "A choice between conditions is `if A then X else if B then Y else Z`.")


@_PATTERN
def condition_as_pattern(arm: str, span: Span) -> Draft:
    """``arm`` is the arm's text before `->` (`not active`)."""
    return Draft(f"`{arm}` is a condition; a `match` arm is a literal value",
                 Label(span, "not a literal"),
                 notes=("help: to choose by conditions, write "
                        "`if A then X else if B then Y else Z` (one arm per line)",))


@_PATTERN
def name_as_pattern(name: str, span: Span) -> Draft:
    """A bare word where a literal is needed: most often a text without its quotes."""
    return Draft(f"`{name}` is a name; a `match` arm is a literal value",
                 Label(span, "not a literal"),
                 notes=(f'help: for the text, write "{name}"; to choose by conditions, write '
                        f"`if A then X else if B then Y else Z`",))


@code("RM333", "contract on a structured column",
      "`expect ... in`, `is not empty` and `unique` compare a column's written text; a "
      "column of a JSON output that holds a list or an object has none.")
def contract_on_structured_column(column: str, type_: Type, span: Span) -> Draft:
    return Draft(f"column `{column}` holds {type_}, which `expect` cannot compare",
                 Label(span, "a list or object column"))


@code("RM334", "contract the mapping breaks",
      "An `expect ... in (...)` contract excludes a value the mapping itself writes: the "
      "value `when missing ... with` gives a departed row.")
def departed_row_breaks_contract(column: str, value: str, allowed: Iterable[str],
                                 span: Span, contract: Span) -> Draft:
    listed = ", ".join(f'"{v}"' for v in allowed)
    return Draft(f'a departed row gets {column} = "{value}", which the contract does not allow',
                 Label(span, "set here"), (Label(contract, f"allows {listed}"),),
                 notes=("help: add the value to the contract, or send another one",))


@code("RM335", "impossible row count",
      "`expect rows` compares the number of rows with a whole number: `expect rows > 0`, "
      "`expect rows >= 2`. `!=` and `=` are allowed too; `< 0` can never hold.")
def contract_rows_op(op: str, amount: int, span: Span) -> Draft:
    return Draft(f"`expect rows {op} {amount}` can never hold", Label(span, "never true"))
