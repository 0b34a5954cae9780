"""Print a mapping in one canonical layout, keeping every comment.

The layout: the header, parameters, rules, then each output block with its
``where``/``key``/``sort by``/``distinct`` lines first, the column rules with their
``<-`` aligned, then ``warn`` lines. A statement too long for one line is broken
where the language lets a statement continue (inside brackets, before ``then``,
``else``, ``and``, ``or``). Comments stay with the statement they were written
above (or beside). Formatting is idempotent, and parsing the result gives the same
tree as parsing the input: both are tested.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from rostermap.dsl import nodes as n
from rostermap.dsl.parser import STATEMENT_WORDS, parse
from rostermap.dsl.span import Span

__all__ = ["format_mapping", "format_text", "print_expression"]

WIDTH = 96
_MAX_ALIGN = 24
_KEYWORDS = STATEMENT_WORDS | {
    "from", "by", "if", "then", "else", "match", "and", "or", "not", "in", "is", "empty",
    "any", "all", "none", "of", "this", "true", "false",
}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Binding strength, loosest first, as in grammar.lark.
MATCH, TEST, OR, AND, NOT, COMPARE, SUM, UNARY, POSTFIX, ATOM = range(10)


def _string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _literal(value: n.LiteralValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _string(value)
    return repr(value)


def column_name(name: str) -> str:
    """A column as written: bare when it is a plain name, else quoted."""
    plain = _IDENTIFIER.fullmatch(name) and name not in _KEYWORDS
    return name if plain else _string(name)


def _level(e: n.Expr) -> int:
    match e:
        case n.Match():
            return MATCH
        case n.If():
            return TEST
        case n.BoolOp(op="or"):
            return OR
        case n.BoolOp(op="and"):
            return AND
        case n.Not():
            return NOT
        case n.Compare() | n.In() | n.IsEmpty() | n.Quantified():
            return COMPARE
        case n.Arith():
            return SUM
        case n.Neg():
            return UNARY
        case n.Literal(value=value) if _literal(value).startswith("-"):  # -3, and -0.0 too
            return UNARY
        case n.Attr() | n.Index():
            return POSTFIX
        case n.Lookup():
            return TEST
    return ATOM


def print_expression(e: n.Expr, at_least: int = MATCH) -> str:
    """An expression on one line, in brackets where binding requires them."""
    text = _print(e)
    return f"({text})" if _level(e) < at_least else text


def _print(e: n.Expr) -> str:
    p = print_expression
    match e:
        case n.Literal(value=value):
            return _literal(value)
        case n.Name(name=name):
            return name
        case n.This():
            return "this"
        case n.ObjectExpr(entries=entries):
            fields = ", ".join(f"{column_name(k.name)}: {p(v, TEST)}" for k, v in entries)
            return f"{{{fields}}}"
        case n.ListExpr(items=items):
            listed = ", ".join(p(i, TEST) for i in items)
            return f"({listed})" if len(items) > 1 else f"[{listed}]"
        case n.Attr(obj=obj, attr=attr):
            return f"{p(obj, POSTFIX)}.{attr.name}"
        case n.Index(obj=obj, index=index):
            return f"{p(obj, POSTFIX)}[{index}]"
        case n.Call(func=func, args=args):
            return f"{func.name}({', '.join(p(a, TEST) for a in args)})"
        case n.Lookup(value=value, entity=entity, where=where):
            tail = f" where {p(where, TEST)}" if where is not None else ""
            return f"{p(value, TEST)} of {entity.name}{tail}"
        case n.Compare(op=op, left=left, right=right):
            return f"{p(left, SUM)} {op} {p(right, SUM)}"
        case n.In(item=item, collection=collection, negated=negated):
            return f"{p(item, SUM)} {'not in' if negated else 'in'} {p(collection, SUM)}"
        case n.IsEmpty(operand=operand, negated=negated):
            return f"{p(operand, SUM)} is {'not empty' if negated else 'empty'}"
        case n.Quantified(quantifier=q, items=items, collection=collection):
            return f"{q} of {p(items, SUM)} in {p(collection, SUM)}"
        case n.BoolOp(op=op, operands=operands):
            inner = AND if op == "or" else NOT
            return f" {op} ".join(p(o, inner) for o in operands)
        case n.Not(operand=operand):
            return f"not {p(operand, NOT)}"
        case n.Arith(op=op, left=left, right=right):
            return f"{p(left, SUM)} {op} {p(right, UNARY)}"
        case n.Neg(operand=operand):
            return f"-{p(operand, UNARY)}"
        case n.If(test=test, then=then, orelse=orelse):
            return f"if {p(test, TEST)} then {p(then, TEST)} else {p(orelse, TEST)}"
        case n.Match(subject=subject, arms=arms, default=default):
            parts = [_arm(a) for a in arms]
            if default is not None:
                parts.append(f"else -> {p(default, TEST)}")
            return f"match {p(subject, OR)}: {', '.join(parts)}"
    raise TypeError(f"cannot print {type(e).__name__}")


def _arm(arm: n.Arm) -> str:
    patterns = " | ".join(_literal(pat.value) for pat in arm.patterns)
    return f"{patterns} -> {print_expression(arm.value, TEST)}"


def _broken(e: n.Expr, indent: int) -> str:
    """An expression that does not fit on one line, broken where statements may go on.

    ``indent`` is the column the expression starts at; continuation lines are
    indented relative to it.
    """
    pad = " " * indent
    match e:
        case n.Match(subject=subject, arms=arms, default=default):
            parts = [_arm(a) for a in arms]
            if default is not None:
                parts.append(f"else -> {print_expression(default, TEST)}")
            lines = ",\n".join(f"{pad}    {part}" for part in parts)
            return f"match {print_expression(subject, OR)}:\n{lines}"
        case n.If(orelse=n.If()):
            # A multi-way choice: one arm per line, `else if` under `if`.
            chain: list[str] = []
            tail: n.Expr = e
            while isinstance(tail, n.If):
                head = "else if" if chain else "if"
                chain.append(f"{head} {print_expression(tail.test, TEST)} "
                             f"then {print_expression(tail.then, TEST)}")
                tail = tail.orelse
            chain.append(f"else {print_expression(tail, TEST)}")
            return f"\n{pad}".join(chain)
        case n.If(test=test, then=then, orelse=orelse):
            return (f"if {print_expression(test, TEST)}\n"
                    f"{pad}then {print_expression(then, TEST)}\n"
                    f"{pad}else {print_expression(orelse, TEST)}")
        case n.BoolOp(op=op, operands=operands):
            inner = AND if op == "or" else NOT
            first, *rest = (print_expression(o, inner) for o in operands)
            return first + "".join(f"\n{pad}{op} {o}" for o in rest)
        case n.Call(func=func, args=args) if any(_has_lookup(a) for a in args):
            inside = indent + len(func.name) + 1
            parts = []
            for a in args:
                if isinstance(a, n.Lookup) and a.where is not None:
                    head = f"{print_expression(a.value, TEST)} of {a.entity.name}"
                    where = _fitting(a.where, inside + len("where "))
                    parts.append(f"{head}\n{' ' * inside}where {where}")
                elif isinstance(a, n.Call) and _has_lookup(a):
                    parts.append(_broken(a, inside))
                else:
                    parts.append(print_expression(a, TEST))
            if len(parts) > 1 and "\n" in parts[0]:
                # join(sort(... lookup ...), ";"): the later arguments on their own line
                return f"{func.name}({parts[0]},\n{' ' * inside}{', '.join(parts[1:])})"
            return f"{func.name}({', '.join(parts)})"
    return print_expression(e)


def _has_lookup(e: n.Expr) -> bool:
    if isinstance(e, n.Lookup):
        return True
    return isinstance(e, n.Call) and any(_has_lookup(a) for a in e.args)


def _fitting(e: n.Expr, indent: int) -> str:
    """The expression on one line if it fits after ``indent`` columns, else broken."""
    one = print_expression(e, TEST)
    if indent + len(one) <= WIDTH or not isinstance(e, n.BoolOp | n.If | n.Call):
        return one
    broken = _broken(e, indent)
    return f"({broken})" if _level(e) < TEST else broken


def _fit(prefix: str, e: n.Expr) -> str:
    """``prefix`` followed by the expression, broken over lines when it is too long."""
    one = prefix + print_expression(e)
    if len(one) <= WIDTH:
        return one
    return prefix + _broken(e, len(prefix))


# --- statements and their comments -----------------------------------------------------


@dataclass
class _Statement:
    span: Span
    text: str  # may hold several lines
    comments_before: list[str]
    comment_after: str = ""

    def lines(self, indent: str, comment_column: int = 0) -> list[str]:
        out = [f"{indent}{c}" if c else "" for c in self.comments_before]
        body = [f"{indent}{line}" if i == 0 else line for i, line in
                enumerate(self.text.split("\n"))]
        if self.comment_after:
            last = body[-1]
            body[-1] = f"{last.ljust(comment_column - 2)}  {self.comment_after}"
        return out + body


_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")


def _reference(ref: n.Reference) -> str:
    name = ref.target.name
    return f"{ref.kind} {name if _SLUG.fullmatch(name) else _string(name)}"


def _header_statements(m: n.Mapping) -> list[tuple[Span, str]]:
    items: list[tuple[Span, str]] = []
    if m.profile is not None:
        title = f" {_string(m.profile.title)}" if m.profile.title is not None else ""
        items.append((m.profile.span, f"profile {m.profile.name.name}{title}"))
    if m.library is not None:
        items.append((m.library.span, f"library {m.library.name.name}"))
    if m.extends is not None:
        items.append((m.extends.span, _reference(m.extends)))
    if m.versions is not None:
        versions = ", ".join(v.name for v in m.versions.versions)
        items.append((m.versions.span, f"oneroster {versions}"))
    items += [(ref.span, _reference(ref)) for ref in m.imports]
    items += [(r.span, "require " + ", ".join(i.name for i in r.items)) for r in m.requires]
    if m.bundle is not None:
        items.append((m.bundle.span, f"bundle {m.bundle.name.name}"))
    return items


def _param(p: n.ParamDecl) -> str:
    default = f" = {print_expression(p.default)}" if p.default is not None else ""
    naming = ""
    if p.naming is not None:
        fields = ", ".join(f.name for f in p.naming.fields)
        case = " ignoring case" if p.naming.ignore_case else ""
        naming = f" naming {p.naming.entity.name} by {fields}{case}"
    return f"param {p.name.name}: {p.type}{default}{naming}"


def _expect(x: n.ExpectDecl) -> str:
    if x.kind is n.Expectation.COUNT:
        return f"expect rows {x.op} {x.amount}"
    # A column named `rows` is quoted where `expect rows` would read as the row count.
    columns = ", ".join(_string(c.name) if c.name == "rows" else column_name(c.name)
                        for c in x.columns)
    if x.kind is n.Expectation.ALLOWED:
        return f"expect {columns} in ({', '.join(_string(v) for v in x.values)})"
    return f"expect {columns} {x.kind.value}"


def format_mapping(mapping: n.Mapping, origins: bool = False) -> str:
    """The canonical text of a parsed mapping (with the comments it carries).

    With ``origins``, comments are replaced by the file and line each statement comes
    from: the view of an effective mapping, after ``extends`` and ``import``.
    """
    statements: list[tuple[str, _Statement]] = []  # (group, statement)

    def add(group: str, span: Span, text: str) -> _Statement:
        statement = _Statement(span, text, [])
        statements.append((group, statement))
        return statement

    for span, text in _header_statements(mapping):
        add("header", span, text)
    for p in mapping.params:
        add("params", p.span, _param(p))
    for r in mapping.rules:
        add("rules", r.span, _fit(f"rule {r.name.name} = ", r.body))
    for d in mapping.defines:
        params = f"({', '.join(p.name for p in d.params)})" if d.params else ""
        add("defines", d.span, _fit(f"define {d.name.name}{params} = ", d.body))
    for i, o in enumerate(mapping.outputs):
        group = f"output{i}"
        word = "push" if o.push is not None else "output"
        add(group, o.span, f"{word} {o.file.name} from {o.entity.name}")
        if o.each is not None:
            add(group, o.each.span, _fit(f"  for each {o.each.name.name} in ", o.each.items
                                         ).removeprefix("  "))
        for w in o.wheres:
            text = _fit("  where ", w.test).removeprefix("  ")
            if w.report is not None:
                text += f" else warn {_string(w.report)}"
            add(group, w.span, text)
        if o.key:
            add(group, o.key[0].span.to(o.key[-1].span),
                "key " + ", ".join(column_name(k.name) for k in o.key))
        if o.sort:
            add(group, o.sort[0].span.to(o.sort[-1].span),
                "sort by " + ", ".join(column_name(k.name) for k in o.sort))
        if o.distinct is not None:
            add(group, o.distinct, "distinct")
        if o.allow_empty is not None:
            add(group, o.allow_empty, "allow empty")
        if o.missing is not None:
            m = o.missing
            after = f" after {m.after} {m.unit.name if m.unit else 'runs'}" if m.after else ""
            sets = ", ".join(f"{column_name(x.column.name)} = {_literal(x.value.value)}"
                             for x in m.sets)
            add(group, m.span, f"when missing {m.action.name}{after}"
                               + (f" with {sets}" if sets else ""))
        for lim in o.limits:
            amount = f"{lim.amount:g}{'%' if lim.percent else ''}"
            per = f" per {lim.per.name}" if lim.per else ""
            add(group, lim.span, f"limit {lim.action.name} {amount}{per}")
        for x in o.expects:
            add(group, x.span, _expect(x))
        for span, text in _push_statements(o.push):
            add(group, span, text)
        names = [column_name(f.column.name) for f in o.fields]
        width = min(max((len(x) for x in names), default=0), _MAX_ALIGN)
        for f, name in zip(o.fields, names, strict=True):
            prefix = f"  {name.ljust(width)} <- "
            add(group + ".fields", f.span, _fit(prefix, f.value).removeprefix("  "))
        for warn in o.warns:
            add(group + ".warns", warn.span,
                _fit(f"  warn {_string(warn.message)} if ", warn.test).removeprefix("  "))
        for rejection in o.rejects:
            add(group + ".warns", rejection.span,
                _fit(f"  reject {print_expression(rejection.reason, SUM)} if ", rejection.test
                     ).removeprefix("  "))
        for c in o.counters:
            head = f"  counter {_string(c.label)}"
            text = _fit(f"{head} if ", c.test) if c.test is not None else head
            add(group + ".warns", c.span, text.removeprefix("  "))

    if origins:
        for _, s in statements:
            if s.span.source is not None:
                s.comment_after = f"# {s.span.source.name}:{s.span.line}"
        trailing: list[str] = []
    else:
        trailing = _attach_comments(mapping, [s for _, s in statements])
    out: list[str] = []
    previous = ""
    columns = _comment_columns(statements)
    for group, statement in statements:
        header_alone = (out and out[-1].startswith(("output ", "push "))
                        and previous.startswith("output"))
        if previous and group != previous and not header_alone:
            out.append("")
            if group.startswith("output") and "." not in group and previous.startswith("output"):
                out.append("")  # two blank lines between output blocks
        previous = group
        column = columns[group].get(id(statement), 0)
        lines = statement.lines(_indent(group, statement), column)
        if lines and lines[0] == "" and (not out or out[-1] == ""):
            lines = lines[1:]  # the group already starts after a blank line
        out += lines
    if trailing:
        out += [""] + trailing if out else trailing
    return "\n".join(line.rstrip() for line in out) + "\n"


def _indent(group: str, statement: _Statement) -> str:
    inside = group.startswith("output") and not statement.text.startswith(("output ", "push "))
    return "  " if inside else ""


def _push_statements(p: n.PushDecl | None) -> list[tuple[Span, str]]:
    """A push block's own statements, in the canonical order: after, body, the
    requests, captures, links."""
    if p is None:
        return []
    out: list[tuple[Span, str]] = []
    if p.after:
        out.append((p.after[0].span.to(p.after[-1].span),
                    "after " + ", ".join(a.name for a in p.after)))
    if p.body is not None:
        out.append((p.body.span, f"body {column_name(p.body.name)}"))
    for r in (p.create, p.send):
        if r is not None:
            out.append((r.span, f"{r.kind} {r.method.name} {_string(r.path)}"))
    out += [(c.span, f"capture {c.name.name} from {_string(c.path)}") for c in p.captures]
    out += [(x.span, f"link {column_name(x.column.name)} to {x.push.name}.{x.capture.name}")
            for x in p.links]
    return out


def _comment_columns(statements: list[tuple[str, _Statement]]) -> dict[str, dict[int, int]]:
    """Per group, the column each statement's trailing comment starts at.

    Comments of a group line up after its longest line, except where that would
    push a comment past the width; those statements keep their comment two spaces
    after the code, and the rest line up after the longest of them.
    """
    rows: dict[str, list[tuple[int, int, int]]] = {}  # group -> (id, code end, comment)
    for group, s in statements:
        last = (_indent(group, s) + s.text).rsplit("\n", 1)[-1]
        rows.setdefault(group, []).append((id(s), len(last), len(s.comment_after)))
    columns: dict[str, dict[int, int]] = {}
    for group, entries in rows.items():
        commented = [e for e in entries if e[2]]
        aligned = sorted(commented, key=lambda e: e[1])
        while aligned and max(e[1] for e in aligned) + 2 + max(e[2] for e in aligned) > WIDTH:
            aligned.pop()  # the longest line comments on its own
        column = max((e[1] for e in aligned), default=0) + 2
        columns[group] = {e[0]: column for e in aligned}
    return columns


def _attach_comments(mapping: n.Mapping, statements: list[_Statement]) -> list[str]:
    """Give each comment to the statement on its line, or the next one below it.

    Returns the comments below the last statement, which end the file.
    """
    ordered = sorted(statements, key=lambda s: s.span.start)
    leftover: list[n.Comment] = []
    previous_line: dict[int, int] = {}  # statement -> line of its last leading comment
    for comment in mapping.comments:
        line = comment.span.line
        owner = next((s for s in ordered if s.span.line <= line <= s.span.end_line
                      and comment.span.start > s.span.start), None)
        if owner is not None:
            owner.comment_after = " ".join(filter(None, (owner.comment_after, comment.text)))
            continue
        below = next((s for s in ordered if s.span.start > comment.span.start), None)
        if below is None:
            leftover.append(comment)
            continue
        above = previous_line.get(id(below))
        if above is not None and below.comments_before and line - above > 1:
            below.comments_before.append("")  # keep paragraphs of comments apart
        if above is None:
            before = [s.span.end_line for s in ordered if s.span.start < comment.span.start]
            if before and line - max(before) > 1:
                below.comments_before.append("")  # a blank line above the comment block
        below.comments_before.append(comment.text)
        previous_line[id(below)] = line
    for s in ordered:
        last = previous_line.get(id(s))
        if last is not None and s.span.line - last > 1:
            s.comments_before.append("")  # a blank line between the comments and the code
    return [c.text for c in leftover]


def format_text(text: str, filename: str = "<mapping>") -> str | None:
    """The canonical text of a mapping file, or None when it does not parse."""
    mapping, diagnostics = parse(text, filename)
    if diagnostics:
        return None
    return format_mapping(mapping)
