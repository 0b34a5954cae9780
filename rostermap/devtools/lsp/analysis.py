"""What the language server knows about a place in a mapping file.

The server answers while the specialist types, so most answers cannot wait for a
file that checks: the record in scope, the dotted path under the cursor and the
statement being written are read from the text around the cursor, and names are
resolved against the model (``dsl.schema``), the function library's signatures and
the declarations of the last compile (its effective mapping: the file with what it
extends and imports). Offsets are character offsets into the document's text, as
spans are; the server converts them to the client's positions.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rostermap.dsl import nodes as n
from rostermap.dsl import schema
from rostermap.dsl import types as t
from rostermap.runtime.engine.functions import REGISTRY, Function

__all__ = [
    "Declaration",
    "Scope",
    "Signature",
    "Suggestion",
    "Target",
    "completions",
    "declarations",
    "hover",
    "reference_at",
    "scope_at",
    "signature_at",
]

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORD_CHAR = re.compile(r"[A-Za-z0-9_]")
# Statements that end an output block: what follows them is not read from its records.
_TOP_LEVEL = frozenset({"profile", "library", "extends", "import", "oneroster", "require",
                        "param", "rule", "define", "bundle"})
_OUTPUT = re.compile(r"\s*output\s+(?:\"[^\"]*\"|\S+)\s+from\s+([A-Za-z_]\w*)")
_FOR_EACH = re.compile(r"\s*for\s+each\s+([A-Za-z_]\w*)\s+in\s+([A-Za-z_][\w.]*)")
_REFERENCE = re.compile(r"(\s*(?:import|extends)\s+)(\"[^\"]*\"|\S*)")
# Where an entity's name goes: `output F from ENTITY`, `VALUE of ENTITY` (not `any of`).
_ENTITY_SLOT = re.compile(r"(?:\bfrom|(?<!any )(?<!all )(?<!none )\bof)\s+([A-Za-z_]\w*)?$")
_LOOKUP = re.compile(r"\bof\s+([A-Za-z_]\w*)")


@dataclass(frozen=True, slots=True)
class Declaration:
    """A rule, definition or parameter of the effective mapping, where it is written."""

    kind: str  # "rule" | "define" | "param"
    name: str
    node: n.RuleDecl | n.DefineDecl | n.ParamDecl

    @property
    def file(self) -> str | None:
        source = self.node.name.span.source
        return source.name if source is not None else None

    def text(self) -> str:
        """The declaration as written, with the comment lines just above it."""
        source = self.node.span.source
        if source is None:
            return self.kind + " " + self.name
        written = source.text[self.node.span.start:self.node.span.end]
        above: list[str] = []
        line = self.node.span.line - 1
        while line >= 1 and source.line_text(line).lstrip().startswith("#"):
            above.insert(0, source.line_text(line).lstrip().lstrip("#").strip())
            line -= 1
        return written + ("\n\n" + " ".join(above) if above else "")


def declarations(mapping: n.Mapping | None) -> dict[str, Declaration]:
    """The names a mapping declares, by name; the effective mapping's own win."""
    if mapping is None:
        return {}
    found: dict[str, Declaration] = {}
    for param in mapping.params:
        found[param.name.name] = Declaration("param", param.name.name, param)
    for define in mapping.defines:
        found[define.name.name] = Declaration("define", define.name.name, define)
    for rule in mapping.rules:
        found[rule.name.name] = Declaration("rule", rule.name.name, rule)
    return found


@dataclass(frozen=True, slots=True)
class Scope:
    """The records a name at some place reads.

    ``entity`` is the record read there: the output's, or a lookup's inside it;
    ``outer`` what ``this`` means (the output's record, around a lookup); ``each``
    the name of a ``for each`` and the type of its items.
    """

    entity: schema.Entity | None = None
    outer: schema.Entity | None = None
    each: tuple[str, t.Type] | None = None


def _code(line: str) -> str:
    """A line without its comment (a ``#`` outside quotes)."""
    quoted = False
    for i, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == "#" and not quoted:
            return line[:i]
    return line


def _output_block(lines: list[str], row: int) -> tuple[int, int] | None:
    """The first and last line (0-based) of the output block holding line ``row``."""
    start = None
    for i in range(row, -1, -1):
        words = _code(lines[i]).split()
        if not words:
            continue
        if words[0] == "output":
            start = i
            break
        if words[0] in _TOP_LEVEL:
            return None
    if start is None:
        return None
    end = len(lines) - 1
    for i in range(max(row, start) + 1, len(lines)):
        words = _code(lines[i]).split()
        if words and (words[0] in _TOP_LEVEL or words[0] == "output"):
            end = i - 1
            break
    return start, end


def _enclosing_groups(text: str, offset: int, floor: int) -> Iterator[tuple[int, int]]:
    """The bracketed groups around ``offset``, innermost first, as (start, end) offsets
    of their contents; ``floor`` bounds the search (the statement's start)."""
    depth = 0
    for i in range(offset - 1, floor - 1, -1):
        char = text[i]
        if char in ")]":
            depth += 1
        elif char in "([":
            if depth:
                depth -= 1
                continue
            level, end = 0, len(text)
            for j in range(offset, len(text)):
                if text[j] in "([":
                    level += 1
                elif text[j] in ")]":
                    if not level:
                        end = j
                        break
                    level -= 1
            yield i + 1, end


def _flat(text: str) -> str:
    """``text`` with what nested brackets hold blanked out, so that a search sees only
    its own level."""
    out: list[str] = []
    depth = 0
    for char in text:
        if char in "([":
            depth += 1
        out.append(char if depth == 0 else " ")
        if char in ")]":
            depth = max(0, depth - 1)
    return "".join(out)


def scope_at(text: str, offset: int) -> Scope:
    """The records read at ``offset``: its output's, or the innermost lookup's."""
    lines = text.split("\n")
    row = text.count("\n", 0, offset)
    block = _output_block(lines, row)
    if block is None:
        return Scope()
    header = _OUTPUT.match(_code(lines[block[0]]))
    outer = schema.entity(header.group(1)) if header else None
    each = None
    for i in range(block[0], block[1] + 1):
        found = _FOR_EACH.match(_code(lines[i]))
        if found is not None and outer is not None:
            item = _path_type(found.group(2).split("."), outer)
            if item is not None and item.is_list and item.item is not None:
                each = (found.group(1), item.item)
    line_start = text.rfind("\n", 0, offset) + 1
    statement_start = sum(len(line) + 1 for line in lines[:block[0]])
    groups = list(_enclosing_groups(text, offset, statement_start))
    groups.append((line_start, len(text) if text.find("\n", offset) < 0
                   else text.find("\n", offset)))
    for start, end in groups:
        for found in _LOOKUP.finditer(_flat(text[start:end])):
            looked_up = schema.entity(found.group(1))
            if looked_up is not None:
                return Scope(looked_up, outer, each)
    return Scope(outer, outer, each)


def _field_type(entity: schema.Entity, name: str) -> t.Type | None:
    found = entity.fields.get(name)
    return found.type if found is not None else None


def _target(typ: t.Type | None) -> schema.Entity | None:
    """The entity a reference, or a list of references, points to."""
    while typ is not None and typ.is_list:
        typ = typ.item
    if typ is not None and typ.kind == "ref" and typ.entity:
        return schema.entity(typ.entity)
    return None


def _path_type(path: list[str], entity: schema.Entity) -> t.Type | None:
    """The type of ``a.b.c`` read from a record of ``entity``."""
    current: schema.Entity | None = entity
    typ: t.Type | None = None
    for name in path:
        if current is None:
            return None
        typ = _field_type(current, name)
        current = _target(typ)
    return typ


@dataclass(frozen=True, slots=True)
class Target:
    """What a dotted path names: a field of an entity, an entity itself, a declaration,
    a function, or a ``for each`` item."""

    kind: str  # "field" | "entity" | "declaration" | "function" | "each"
    entity: schema.Entity | None = None
    field: schema.Field | None = None
    declaration: Declaration | None = None
    function: Function | None = None
    type: t.Type | None = None
    name: str = ""


def _first(name: str, scope: Scope, declared: dict[str, Declaration],
           called: bool) -> Target | None:
    if name == "this":
        who = scope.outer or scope.entity
        return Target("entity", entity=who) if who is not None else None
    if scope.each is not None and name == scope.each[0]:
        return Target("each", entity=_target(scope.each[1]), type=scope.each[1], name=name)
    if called and name in REGISTRY and name not in declared:
        return Target("function", function=REGISTRY[name])
    if scope.entity is not None and name in scope.entity.fields:
        return Target("field", entity=scope.entity, field=scope.entity.fields[name])
    if name in declared:
        return Target("declaration", declaration=declared[name])
    if name in REGISTRY:
        return Target("function", function=REGISTRY[name])
    return None


def _resolve(path: list[str], scope: Scope, declared: dict[str, Declaration],
             called: bool) -> Target | None:
    """What ``path`` names at a place with ``scope``."""
    target = _first(path[0], scope, declared, called and len(path) == 1)
    for name in path[1:]:
        if target is None:
            return None
        entity = target.entity if target.kind in ("entity", "each") else (
            _target(target.field.type) if target.field is not None else None)
        if entity is None or name not in entity.fields:
            return None
        target = Target("field", entity=entity, field=entity.fields[name])
    return target


def reference_at(text: str, offset: int) -> tuple[list[str], int, int]:
    """The dotted path that ends with the word at ``offset`` (``orgs[0].name`` is
    ``["orgs", "name"]``), and the word's start and end offsets."""
    start = offset
    while start > 0 and _WORD_CHAR.match(text[start - 1]):
        start -= 1
    end = offset
    while end < len(text) and _WORD_CHAR.match(text[end]):
        end += 1
    word = text[start:end]
    if not _WORD.fullmatch(word):
        return [], start, end
    return [*_prefix(text, start), word], start, end


def _prefix(text: str, at: int) -> list[str]:
    """The path of records before ``.`` at ``at - 1`` (``orgs[0].`` is ``["orgs"]``);
    empty when no dot precedes ``at``."""
    path: list[str] = []
    while at > 0 and text[at - 1] == ".":
        at -= 1
        if at > 0 and text[at - 1] == "]":  # an index: orgs[0].name
            opening = text.rfind("[", 0, at)
            if opening < 0:
                break
            at = opening
        if at > 0 and text[at - 1] == ")":
            # a call on a path, first(orgs).name: an item of the path's records
            called = re.search(r"[A-Za-z_]\w*\(\s*([A-Za-z_][\w.]*)\s*\)$",
                               text[max(0, at - 200):at])
            if called is not None:
                path[:0] = called.group(1).split(".")
            break
        found = re.search(r"[A-Za-z_][A-Za-z0-9_]*$", text[max(0, at - 200):at])
        if found is None:
            break
        path.insert(0, found.group())
        at -= len(found.group())
    return path


def _describe_type(typ: t.Type) -> str:
    if typ.enum:
        return f"{typ} (one of {', '.join(schema.ENUMS[typ.enum])})"
    return str(typ)


def _field_markdown(entity: schema.Entity, field: schema.Field) -> str:
    versions = ", ".join(sorted(field.versions))
    lines = [f"**{entity.name}.{field.name}**: `{field.type}`", ""]
    if field.doc:
        lines += [field.doc, ""]
    facts = [f"OneRoster {versions}"]
    if field.csv:
        facts.append(f"CSV column `{field.csv}`")
    if field.derived:
        facts.append(f"{', '.join(sorted(field.derived))}: derived from roles")
    if field.required:
        facts.append("required")
    if field.sensitive:
        facts.append("secret")
    elif field.pii:
        facts.append("personal data")
    lines.append("; ".join(facts) + ".")
    if field.type.enum:
        lines += ["", "One of: " + ", ".join(f"`{v}`" for v in schema.ENUMS[field.type.enum])]
    return "\n".join(lines)


def _entity_markdown(entity: schema.Entity) -> str:
    versions = ", ".join(sorted(entity.versions))
    fields = ", ".join(f"`{name}`" for name in entity.fields)
    text = f"**{entity.name}**: {entity.record} records (`{entity.file}`, OneRoster {versions})"
    return f"{text}\n\n{entity.doc}\n\nFields: {fields}" if entity.doc else (
        f"{text}\n\nFields: {fields}")


def _function_markdown(fn: Function) -> str:
    return f"```rmap\n{fn.call} → {fn.returns}\n```\n\n{fn.summary}"


def _declaration_markdown(declaration: Declaration) -> str:
    written, _, comment = declaration.text().partition("\n\n")
    where = Path(declaration.file).name if declaration.file else ""
    line = declaration.node.span.line
    lines = [f"```rmap\n{written}\n```"]
    if comment:
        lines += ["", comment]
    if where:
        lines += ["", f"{declaration.kind}, {where}:{line}"]
    return "\n".join(lines)


def hover(text: str, offset: int, declared: dict[str, Declaration]
          ) -> tuple[str, int, int] | None:
    """Markdown about the name at ``offset``, with the word's offsets; None for none."""
    path, start, end = reference_at(text, offset)
    if not path:
        return None
    before = text[text.rfind("\n", 0, start) + 1:start]
    if _ENTITY_SLOT.search(before) and len(path) == 1:
        entity = schema.entity(path[0])
        if entity is not None:
            return _entity_markdown(entity), start, end
    called = text[end:end + 1] == "("
    scope = scope_at(text, start)
    target = _resolve(path, scope, declared, called)
    if target is None and scope.entity is None and len(path) == 1:
        # a rule or definition reads the fields of whatever record uses it: each one
        found = [_field_markdown(e, e.fields[path[0]]) for e in schema.ENTITIES.values()
                 if path[0] in e.fields]
        return ("\n\n---\n\n".join(found), start, end) if found else None
    if target is None:
        return None
    if target.kind == "field" and target.entity is not None and target.field is not None:
        return _field_markdown(target.entity, target.field), start, end
    if target.kind == "entity" and target.entity is not None:
        return _entity_markdown(target.entity), start, end
    if target.kind == "each" and target.type is not None:
        return f"**{target.name}**: `{_describe_type(target.type)}` (for each item)", start, end
    if target.kind == "declaration" and target.declaration is not None:
        return _declaration_markdown(target.declaration), start, end
    if target.kind == "function" and target.function is not None:
        return _function_markdown(target.function), start, end
    return None


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One completion: the text to insert, what it is, and a line about it."""

    label: str
    kind: str  # "field" | "function" | "param" | "rule" | "define" | "entity" | "file" | ...
    detail: str = ""
    documentation: str = ""


def _field_suggestions(entity: schema.Entity) -> list[Suggestion]:
    return [Suggestion(f.name, "field", f"{entity.name}.{f.name}: {f.type}" + (
        "" if f.versions == schema.BOTH else f" (OneRoster {', '.join(sorted(f.versions))})"),
        _field_markdown(entity, f)) for f in entity.fields.values()]


def completions(text: str, offset: int, declared: dict[str, Declaration],
                mappings: list[str]) -> list[Suggestion]:
    """What may be written at ``offset``; ``mappings`` are the files ``import`` finds."""
    line_start = text.rfind("\n", 0, offset) + 1
    before = text[line_start:offset]
    if _REFERENCE.fullmatch(before):
        return [Suggestion(name, "file", "a mapping file") for name in mappings]
    if _ENTITY_SLOT.search(before):
        return [Suggestion(e.name, "entity", f"{e.record} records",
                           _entity_markdown(e)) for e in schema.ENTITIES.values()]
    path, start, _ = reference_at(text, offset)
    scope = scope_at(text, offset)
    if start > 0 and text[start - 1] == ".":
        # the path before the dot names the record whose fields may follow
        head = _prefix(text, start)
        target = _resolve(head, scope, declared, False) if head else None
        if target is None:
            return []
        entity = target.entity if target.kind in ("entity", "each") else (
            _target(target.field.type) if target.field is not None else None)
        return _field_suggestions(entity) if entity is not None else []
    found: list[Suggestion] = []
    if scope.entity is not None:
        found += _field_suggestions(scope.entity)
    else:  # a rule or definition reads the fields of whatever record uses it
        seen: set[str] = set()
        for entity in schema.ENTITIES.values():
            for suggestion in _field_suggestions(entity):
                if suggestion.label not in seen:
                    seen.add(suggestion.label)
                    found.append(suggestion)
    if scope.entity is not None or scope.outer is not None:
        found.append(Suggestion("this", "keyword", "the record being read"))
    if scope.each is not None:
        found.append(Suggestion(scope.each[0], "each", f"for each item: {scope.each[1]}"))
    for declaration in declared.values():
        found.append(Suggestion(declaration.name, declaration.kind,
                                declaration.text().partition("\n\n")[0].split("\n")[0],
                                _declaration_markdown(declaration)))
    for fn in REGISTRY.values():
        found.append(Suggestion(fn.name, "function", f"{fn.call} → {fn.returns}", fn.summary))
    return found


@dataclass(frozen=True, slots=True)
class Signature:
    """The call the cursor is in: its signature, its parameters and the one being
    written (0-based)."""

    label: str
    parameters: tuple[str, ...]
    active: int
    documentation: str = ""


def signature_at(text: str, offset: int, declared: dict[str, Declaration]
                 ) -> Signature | None:
    """The innermost call of a function or definition around ``offset``."""
    for start, _ in _enclosing_groups(text, offset, max(0, offset - 4000)):
        if text[start - 1] != "(":
            continue
        called = re.search(r"([A-Za-z_]\w*)\s*$", text[max(0, start - 101):start - 1])
        if called is None:
            continue
        name = called.group(1)
        written = _flat(text[start:offset]).count(",")
        found = declared.get(name)
        if found is not None and isinstance(found.node, n.DefineDecl):
            params = tuple(p.name for p in found.node.params)
            written_text, _, comment = found.text().partition("\n\n")
            return Signature(f"{name}({', '.join(params)})", params,
                             min(written, max(len(params) - 1, 0)), comment or written_text)
        if name in REGISTRY:
            fn = REGISTRY[name]
            last = max(len(fn.arguments) - 1, 0)
            return Signature(f"{fn.call} → {fn.returns}", fn.arguments, min(written, last),
                             fn.summary)
    return None
