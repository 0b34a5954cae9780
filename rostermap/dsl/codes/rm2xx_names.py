"""RM2xx: names. Fields, entities, parameters, rules, outputs and the mappings that
``extends`` and ``import`` name."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from rostermap.dsl import limits
from rostermap.dsl.codes._registry import WARNING, Draft, code
from rostermap.dsl.codes._wording import a, did_you_mean
from rostermap.dsl.diagnostics import Label
from rostermap.dsl.span import Span
from rostermap.dsl.types import SCALAR_TYPES

__all__ = [
    "imports_too_deep",
    "already_defined",
    "ambiguous_name",
    "clashing_imports",
    "duplicate_column",
    "duplicate_key",
    "duplicate_output",
    "duplicate_parameter",
    "entity_not_in_every_version",
    "field_not_in_every_version",
    "item_named_like_field",
    "lookup_outside_record",
    "mapping_cycle",
    "mapping_not_found",
    "not_a_library",
    "not_a_profile",
    "override_of_other_entity",
    "recursive_definition",
    "recursive_rule",
    "redefined_function",
    "statement_in_library",
    "this_outside_record",
    "unknown_column",
    "unknown_entity",
    "unknown_field",
    "unknown_function",
    "unknown_name",
    "unknown_output",
    "unknown_parameter",
    "unknown_requirement",
    "unknown_table_type",
    "unknown_type",
    "unknown_version",
]


@code("RM201", "unknown field",
      "The name is not a field of the record read: of its OneRoster entity, or a column "
      "of its table parameter.")
def unknown_field(name: str, entity: str, record: str, span: Span, hint: str | None) -> Draft:
    """``entity`` is the entity's name (users), ``record`` what one record is (user)."""
    return Draft(f"`{name}` is not a field of {entity}", Label(span, f"not a field of {record}"),
                 notes=did_you_mean(hint))


_UNKNOWN_ENTITY = code("RM202", "unknown entity",
                       "`from` and `of` name a OneRoster entity such as users, or a table "
                       "parameter; `require` names entities, `manifest` or `bulk`.")


@_UNKNOWN_ENTITY
def unknown_entity(name: str, span: Span, hint: str | None, entities: Iterable[str]) -> Draft:
    return Draft(f"unknown entity `{name}`", Label(span, "not a OneRoster entity"),
                 notes=did_you_mean(hint) or (f"help: entities are {', '.join(sorted(entities))}",))


@_UNKNOWN_ENTITY
def unknown_requirement(name: str, span: Span, hint: str | None) -> Draft:
    return Draft(f"`require` takes manifest, bulk or entities, not `{name}`",
                 Label(span, "unknown"), notes=did_you_mean(hint))


_UNKNOWN_NAME = code("RM203", "unknown name",
                     "A name is a field, a parameter, a rule or definition, an argument of "
                     "the `define` it is in, the `for each` item, or, in `warn`, `counter` "
                     "and `reject`, a column of the output; `param.<name>` names a parameter.")


@_UNKNOWN_NAME
def unknown_name(name: str, span: Span, hint: str | None) -> Draft:
    return Draft(f"unknown name `{name}`",
                 Label(span, "not a field, parameter, rule or definition"),
                 notes=did_you_mean(hint))


@_UNKNOWN_NAME
def unknown_parameter(name: str, span: Span, hint: str | None) -> Draft:
    return Draft(f"the profile has no parameter `{name}`", Label(span, "not a parameter"),
                 notes=did_you_mean(hint, "`param.{}`"))


@code("RM204", "unknown function",
      "The function is neither in the rostermap function library nor a `define` of the "
      "mapping.")
def unknown_function(name: str, span: Span, hint: str | None) -> Draft:
    return Draft(f"unknown function `{name}`", Label(span, "not in the function library"),
                 notes=did_you_mean(hint))


@code("RM205", "unknown output", "Membership tests name another output of this mapping.")
def unknown_output(name: str, span: Span, hint: str | None) -> Draft:
    return Draft(f"no output is named `{name}`", Label(span, "not an output of this mapping"),
                 notes=did_you_mean(hint))


@code("RM206", "duplicate output", "Two outputs write the same file.")
def duplicate_output(name: str, span: Span, first: Span) -> Draft:
    return Draft(f"output `{name}` is written twice", Label(span, "written again here"),
                 secondary=(Label(first, "first here"),),
                 notes=("help: a file is made by one output block: put the two blocks' "
                        "`where` lines and columns in one, or give this one another file "
                        "name (a profile that `extends` this one may repeat the block to "
                        "change it)",))


_DUPLICATE_COLUMN = code("RM207", "duplicate column",
                         "An output sets the same column twice, or an object the same key.")


@_DUPLICATE_COLUMN
def duplicate_column(name: str, span: Span, first: Span) -> Draft:
    return Draft(f"column `{name}` is set twice", Label(span, "set again here"),
                 secondary=(Label(first, "first set here"),))


@_DUPLICATE_COLUMN
def duplicate_key(name: str, span: Span) -> Draft:
    return Draft(f"key `{name}` is set twice", Label(span, "again here"))


_DUPLICATE_DEFINITION = code("RM208", "duplicate definition",
                             "A parameter is declared twice, a rule takes the name of a "
                             "parameter or rule, or a definition the name of a definition or "
                             "of a library function.")


@_DUPLICATE_DEFINITION
def duplicate_parameter(name: str, span: Span) -> Draft:
    return Draft(f"parameter `{name}` is declared twice", Label(span, "declared again here"))


@_DUPLICATE_DEFINITION
def already_defined(name: str, span: Span) -> Draft:
    return Draft(f"`{name}` is already defined", Label(span, "defined again here"))


@_DUPLICATE_DEFINITION
def redefined_function(name: str, span: Span) -> Draft:
    return Draft(f"`{name}` is a function of the library", Label(span, "defined again here"),
                 notes=("help: choose another name",))


_AMBIGUOUS_NAME = code("RM209", "ambiguous name",
                       "A name is both a field and a parameter, rule or definition, or a "
                       "`for each` item is named like a field.")


@_AMBIGUOUS_NAME
def ambiguous_name(name: str, entity: str, other: Literal["parameter", "rule", "definition"],
                   span: Span) -> Draft:
    way_out = (f", param.{name} for the parameter" if other == "parameter"
               else f", or rename the {other}")
    return Draft(f"`{name}` is both a field of {entity} and {a(other)}", Label(span, "ambiguous"),
                 notes=(f"help: write this.{name} for the field{way_out}",))


@_AMBIGUOUS_NAME
def item_named_like_field(name: str, entity: str, span: Span) -> Draft:
    return Draft(f"`{name}` is a field of {entity}",
                 Label(span, "choose another name for the items"))


@code("RM210", "unknown OneRoster version", "Supported versions are 1.1 and 1.2.")
def unknown_version(version: str, span: Span) -> Draft:
    return Draft(f"unknown OneRoster version {version}",
                 Label(span, "not a version rostermap reads"),
                 notes=("help: write 1.1, 1.2 or both",))


_NOT_IN_EVERY_VERSION = code(
    "RM211", "field not in every declared version",
    "The entity or field exists in only some of the OneRoster versions the profile "
    "declares; sources of the others usually lack it. A field read with a fallback (an "
    "argument of coalesce or default other than the last) is not warned about.", WARNING)


@_NOT_IN_EVERY_VERSION
def entity_not_in_every_version(entity: str, versions: Iterable[str], missing: Sequence[str],
                                span: Span) -> Draft:
    return Draft(f"{entity} exists only in OneRoster {', '.join(sorted(versions))}",
                 Label(span, f"absent from {', '.join(missing)}"))


@_NOT_IN_EVERY_VERSION
def field_not_in_every_version(name: str, versions: Iterable[str], missing: Sequence[str],
                               span: Span) -> Draft:
    return Draft(f"`{name}` is a OneRoster {', '.join(sorted(versions))} field; "
                 f"{' and '.join(missing)} sources usually lack it",
                 Label(span, f"missing in most {', '.join(missing)} sources"),
                 notes=(f"help: give a fallback, e.g. coalesce({name}, ...): a field read with "
                        "a fallback is not warned about",))


@code("RM212", "unknown column",
      "`key`, `sort by`, `when missing ... with` and `expect` name columns of the same "
      "output.")
def unknown_column(name: str, output: str, span: Span, hint: str | None) -> Draft:
    return Draft(f"`{name}` is not a column of {output}", Label(span, "no such column"),
                 notes=did_you_mean(hint))


# The types a parameter may have, from the types the checker knows (dsl.types).
_TYPES = f"{', '.join(SCALAR_TYPES)}, list[...] of those, secret"
_UNKNOWN_TYPE = code("RM213", "unknown type",
                     f"Parameter types are {_TYPES}, a choice "
                     "of strings (`\"a\" \\| \"b\"`) and table(column, ...).")


@_UNKNOWN_TYPE
def unknown_type(written: str, span: Span, hint: str | None) -> Draft:
    return Draft(f"unknown type `{written}`", Label(span, "not a type"),
                 notes=did_you_mean(hint) or (f"help: types are {_TYPES}, \"a\" | \"b\" and "
                                              "table(...)",))


@_UNKNOWN_TYPE
def unknown_table_type(name: str, span: Span) -> Draft:
    return Draft(f"unknown type `{name}(...)`", Label(span, "not a type"),
                 notes=("help: a CSV file parameter is table(column, ...)",))


_RECURSIVE_RULE = code("RM214", "recursive rule",
                       "A rule or definition cannot use itself, directly or through others.")


@_RECURSIVE_RULE
def recursive_rule(name: str, chain: Sequence[str], span: Span) -> Draft:
    """``chain`` is the rules expanded on the way, ending with ``name`` again."""
    return Draft(f"rule `{name}` uses itself", Label(span, f"through {' -> '.join(chain)}"))


@_RECURSIVE_RULE
def recursive_definition(name: str, chain: Sequence[str], span: Span) -> Draft:
    return Draft(f"`{name}` uses itself", Label(span, f"through {' -> '.join(chain)}"))


_NO_RECORD = code("RM215", "`this` outside a record",
                  "`this` and lookups need the record an output reads: a parameter's default "
                  "has none.")


@_NO_RECORD
def this_outside_record(span: Span) -> Draft:
    return Draft("`this` is only meaningful inside an output", Label(span))


@_NO_RECORD
def lookup_outside_record(span: Span) -> Draft:
    return Draft("a lookup needs a record to relate to", Label(span))


# --- extends and import ----------------------------------------------------------------


@code("RM220", "mapping not found",
      "`extends` and `import` name a mapping file next to this one or in the mapping folders.")
def mapping_not_found(name: str, kind: str, span: Span, hint: str | None, origin: str) -> Draft:
    """``kind`` is the statement (extends, import); ``origin`` the file that names it."""
    return Draft(f"cannot find the mapping `{name}` to {kind}", Label(span, "no such mapping file"),
                 notes=did_you_mean(hint) or
                 (f"note: looked next to {origin} and in the mapping folders",))


@code("RM221", "extends or imports in a cycle",
      "Mappings cannot extend or import each other in a circle.")
def mapping_cycle(files: Sequence[str], span: Span) -> Draft:
    """``files`` is the chain of file names, ending where it began."""
    return Draft(f"mappings extend or import each other in a cycle: {' -> '.join(files)}",
                 Label(span, "part of the cycle"))


@code("RM222", "override of a different entity",
      "An output that overrides the parent's must be made from the same entity.")
def override_of_other_entity(output: str, parent_entity: str, entity: str, span: Span,
                             parent_span: Span) -> Draft:
    return Draft(f"{output} is made from {parent_entity} in the profile it extends, not from "
                 f"{entity}", Label(span, "a different entity"),
                 secondary=(Label(parent_span, "the parent's"),))


_NOT_LIBRARY_OR_PROFILE = code("RM223", "not a library or not a profile",
                               "`import` takes a library file (rules, definitions and imports "
                               "only); `extends` takes a profile.")


@_NOT_LIBRARY_OR_PROFILE
def statement_in_library(span: Span) -> Draft:
    return Draft("a library holds only rules, definitions and imports",
                 Label(span, "not allowed in a library"),
                 notes=("help: move it into the profiles that import the library",))


@_NOT_LIBRARY_OR_PROFILE
def not_a_library(name: str, span: Span) -> Draft:
    return Draft(f"`{name}` is not a library", Label(span, "imported here"),
                 notes=("help: a library file starts with `library <name>` and holds only "
                        "rules, definitions and imports; use `extends` for a profile",))


@_NOT_LIBRARY_OR_PROFILE
def not_a_profile(name: str, span: Span) -> Draft:
    return Draft(f"`{name}` is not a profile", Label(span, "extended here"),
                 notes=("help: `extends` names a profile; a library is imported",))


@code("RM224", "clashing imports", "Two imported libraries define the same name.")
def clashing_imports(name: str, span: Span, first: Span) -> Draft:
    return Draft(f"`{name}` is defined by two imported libraries", Label(span, "second import"),
                 secondary=(Label(first, "first definition"),),
                 notes=("help: define it in this mapping to say which one applies",))


@code("RM225", "extends and imports nested too deep",
      f"A chain of `extends` and `import` holds at most {limits.MAX_IMPORTS} files.")
def imports_too_deep(files: Sequence[str], span: Span) -> Draft:
    return Draft(f"extends and imports nest {len(files)} files deep, past the limit of "
                 f"{limits.MAX_IMPORTS}: {' -> '.join(files[:4])} -> ...",
                 Label(span, "one too many"))
