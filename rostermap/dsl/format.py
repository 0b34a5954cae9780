"""Print a mapping in one canonical layout, keeping every comment.

The layout: the header, the parameters, then the rules and definitions (in the
order written), each section after a blank line; then each output block, two blank
lines between blocks, with its ``for each``/``where``/``key``/``sort by``/... lines
first, the column rules with their ``<-`` aligned after a blank line, then, after
another, the ``warn``/``reject``/``counter`` lines.

Each statement is described as a document (``dsl.layout``) that says where it may
break: before ``then``/``else``, ``and``/``or``, a lookup's ``where``, ``else warn``
and the ``if`` of ``warn``/``reject``/``counter``; after the commas of arguments,
lists and ``match`` arms. Every such place is one where the language lets a
statement go on. Lines are laid out to ``WIDTH``: a statement that fits stays on one
line, one that does not is broken, loosest structure first; an ``else if`` chain has
one arm per line. Comments stay with the statement they were written above (or
beside). Formatting is idempotent, and parsing the result gives the same tree as
parsing the input: both are tested, and a statement whose broken form would not
read back as one statement is written on one line.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rostermap.dsl import layout as lay
from rostermap.dsl import nodes as n
from rostermap.dsl.layout import Doc, concat, group, hard_line, join, line
from rostermap.dsl.parser import STATEMENT_WORDS, parse, split_statements
from rostermap.dsl.span import Span

__all__ = ["WIDTH", "expression_doc", "format_mapping", "format_text", "print_expression"]

WIDTH = 100
_MAX_ALIGN = 24
_KEYWORDS = STATEMENT_WORDS | {
    "from", "by", "if", "then", "else", "match", "and", "or", "not", "in", "is", "empty",
    "any", "all", "none", "of", "this", "true", "false",
}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ARM_INDENT = 4  # match arms, and a `warn`/`reject`/`counter` condition, when broken

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
    return lay.flat(expression_doc(e, at_least))


# --- expressions as documents ----------------------------------------------------------


def expression_doc(e: n.Expr, at_least: int = MATCH) -> Doc:
    """The expression's document, in brackets when it binds looser than ``at_least``."""
    build = _EXPRESSIONS.get(type(e))
    if build is None:  # a node type the language gained: its document goes in _EXPRESSIONS
        raise TypeError(f"cannot format {type(e).__name__}")
    doc = build(e)
    return concat("(", lay.Align(doc), ")") if _level(e) < at_least else doc


def _x(e: n.Expr, at_least: int = MATCH) -> Doc:
    return expression_doc(e, at_least)


def _apart(nodes: Sequence[n.Node]) -> bool:
    """Whether the author broke the line between two of these parts: the group that
    holds them stays broken."""
    return any(b.span.line > a.span.end_line for a, b in itertools.pairwise(nodes))


def _items(items: tuple[n.Expr, ...], opening: str, closing: str) -> Doc:
    """Items between brackets: on one line, or one per line under the first."""
    return group(opening, lay.Align(join(concat(",", line()), (_x(i, TEST) for i in items))),
                 closing, broken=_apart(items))


def _collection(e: n.Expr) -> Doc:
    """The right of `in`: a list of two or more alternatives is written `("a", "b")`."""
    if isinstance(e, n.ListExpr) and len(e.items) > 1:
        return _items(e.items, "(", ")")
    return _x(e, SUM)


def _chain(first: Doc, rest: list[tuple[str, Doc]], before: bool, broken: bool) -> Doc:
    """Operands joined by operators: all on one line, or one per line, lined up.

    ``before``: the line breaks before the operator (``and``, ``or``), else after it
    (``+``, ``-``): where a statement may go on either way.
    """
    parts: list[Doc | str] = [first]
    for op, operand in rest:
        parts += [line(), f"{op} ", operand] if before else [f" {op}", line(), operand]
    return lay.Group(lay.Align(concat(*parts)), broken)


def _bool(e: n.BoolOp) -> Doc:
    inner = AND if e.op == "or" else NOT
    first, *rest = (_x(o, inner) for o in e.operands)
    return _chain(first, [(e.op, lay.Align(o)) for o in rest], True, _apart(e.operands))


def _arith(e: n.Arith) -> Doc:
    rest: list[tuple[str, Doc]] = []
    operands: list[n.Expr] = []
    left: n.Expr = e
    while isinstance(left, n.Arith):  # a + b - c: one chain, broken after its operators
        rest.insert(0, (left.op, _x(left.right, UNARY)))
        operands.insert(0, left.right)
        left = left.left
    return _chain(_x(left, SUM), rest, False, _apart([left, *operands]))


def _if(e: n.If) -> Doc:
    arms: list[tuple[n.Expr, n.Expr]] = [(e.test, e.then)]
    last: n.Expr = e.orelse
    while isinstance(last, n.If):
        arms.append((last.test, last.then))
        last = last.orelse
    if len(arms) == 1:
        return lay.Group(lay.Align(concat(
            "if ", lay.Align(_x(e.test, TEST)), line(), "then ", lay.Align(_x(e.then, TEST)),
            line(), "else ", lay.Align(_x(e.orelse, TEST)))), _apart([e.test, e.then, e.orelse]))
    # else if: one arm per line, each `then` under its `if` when the arm is broken
    parts: list[Doc | str] = []
    for test, value in arms:
        if parts:
            parts += [hard_line(), "else "]
        parts.append(group(lay.Align(concat("if ", lay.Align(_x(test, TEST)), line(), "then ",
                                            lay.Align(_x(value, TEST)))),
                           broken=_apart([test, value])))
    parts += [hard_line(), "else ", lay.Align(_x(last, TEST))]
    return lay.Align(concat(*parts))


def _arm(patterns: str, value: n.Expr, broken: bool) -> Doc:
    return group(patterns, " ->", lay.Indent(_ARM_INDENT, concat(line(), _x(value, TEST))),
                 broken=broken)


def _match(e: n.Match) -> Doc:
    arms = [_arm(" | ".join(_literal(p.value) for p in a.patterns), a.value,
                 _apart([a.patterns[-1], a.value])) for a in e.arms]
    if e.default is not None:
        arms.append(_arm("else", e.default, False))
    listed = join(concat(",", line()), arms)
    parts: list[n.Node] = [e.subject, *e.arms] + ([e.default] if e.default else [])
    return lay.Align(group("match ", _x(e.subject, OR), ":",
                           lay.Indent(_ARM_INDENT, concat(line(), listed)), broken=_apart(parts)))


def _lookup(e: n.Lookup) -> Doc:
    head = concat(_x(e.value, TEST), f" of {e.entity.name}")
    if e.where is None:
        return head
    return lay.Group(lay.Align(concat(head, line(), "where ", lay.Align(_x(e.where, TEST)))),
                     _apart([e.entity, e.where]))


def _call(e: n.Call) -> Doc:
    return _items(e.args, f"{e.func.name}(", ")")


def _object(e: n.ObjectExpr) -> Doc:
    entries = (concat(f"{column_name(k.name)}: ", lay.Align(_x(v, TEST))) for k, v in e.entries)
    return group("{", lay.Align(join(concat(",", line()), entries)), "}",
                 broken=_apart([v for _, v in e.entries]))


# Each expression node's document, by node type; with _level, what a new kind of
# expression adds to the formatter.
_EXPRESSIONS: dict[type, Callable[[Any], Doc]] = {
    n.Literal: lambda e: lay.Text(_literal(e.value)),
    n.Name: lambda e: lay.Text(e.name),
    n.This: lambda e: lay.Text("this"),
    n.ObjectExpr: _object,
    n.ListExpr: lambda e: _items(e.items, "[", "]"),
    n.Attr: lambda e: concat(_x(e.obj, POSTFIX), f".{e.attr.name}"),
    n.Index: lambda e: concat(_x(e.obj, POSTFIX), f"[{e.index}]"),
    n.Call: _call,
    n.Lookup: _lookup,
    n.Compare: lambda e: concat(_x(e.left, SUM), f" {e.op} ", _x(e.right, SUM)),
    n.In: lambda e: concat(_x(e.item, SUM), " not in " if e.negated else " in ",
                           _collection(e.collection)),
    n.IsEmpty: lambda e: concat(_x(e.operand, SUM),
                                " is not empty" if e.negated else " is empty"),
    n.Quantified: lambda e: concat(f"{e.quantifier} of ", _x(e.items, SUM), " in ",
                                   _collection(e.collection)),
    n.BoolOp: _bool,
    n.Not: lambda e: concat("not ", _x(e.operand, NOT)),
    n.Arith: _arith,
    n.Neg: lambda e: concat("-", _x(e.operand, UNARY)),
    n.If: _if,
    n.Match: _match,
}


# --- statements and their comments -----------------------------------------------------


@dataclass
class _Statement:
    span: Span
    doc: Doc
    indent: int  # 2 inside an output block
    comments_before: list[str] = field(default_factory=list)
    comments_after: list[str] = field(default_factory=list)
    text: str = ""  # laid out, set once every statement is known; may hold several lines

    def lay_out(self, width: int) -> None:
        text = lay.render(self.doc, width, self.indent)
        if "\n" in text and len(split_statements(text)[0]) != 1:
            # a broken line would start a statement of its own (a name such as `key`
            # first on a line): one line reads back as one statement
            text = lay.flat(self.doc)
        self.text = text

    @property
    def last_line(self) -> str:
        return (" " * self.indent + self.text).rsplit("\n", 1)[-1]

    def lines(self, comment_column: int) -> list[str]:
        pad = " " * self.indent
        out = [f"{pad}{c}" if c else "" for c in self.comments_before]
        body = [f"{pad}{text}" if i == 0 else text for i, text in
                enumerate(self.text.split("\n"))]
        if self.comments_after:
            body[-1] = f"{body[-1].ljust(comment_column - 2)}  {self.comments_after[0]}"
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


def _after(head: str, e: n.Expr) -> Doc:
    """``head`` then an expression whose broken lines line up under its start."""
    return concat(head, lay.Align(_x(e)))


def _conditional(head: Doc | str, test: n.Expr) -> Doc:
    """``head if TEST``: the ``if`` goes to a line of its own first when it is too long."""
    return group(head, lay.Indent(_ARM_INDENT, concat(line(), "if ", lay.Align(_x(test)))))


def _param(p: n.ParamDecl) -> Doc:
    head = f"param {p.name.name}: {p.type}"
    naming = ""
    if p.naming is not None:
        fields = ", ".join(f.name for f in p.naming.fields)
        case = " ignoring case" if p.naming.ignore_case else ""
        naming = f" naming {p.naming.entity.name} by {fields}{case}"
    if p.default is None:
        return lay.Text(head + naming)
    return concat(_after(f"{head} = ", p.default), naming)


def _expect(x: n.ExpectDecl) -> Doc:
    if x.kind is n.Expectation.COUNT:
        return lay.Text(f"expect rows {x.op} {x.amount}")
    # A column named `rows` is quoted where `expect rows` would read as the row count.
    columns = ", ".join(_string(c.name) if c.name == "rows" else column_name(c.name)
                        for c in x.columns)
    if x.kind is n.Expectation.ALLOWED:
        return group(f"expect {columns} in (",
                     lay.Align(join(concat(",", line()), (lay.Text(_string(v)) for v in x.values))),
                     ")")
    return lay.Text(f"expect {columns} {x.kind.value}")


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


def _where(w: n.Where) -> Doc:
    if w.report is None:
        return _after("where ", w.test)
    return concat("where ", lay.Align(group(_x(w.test), line(),
                                            f"else warn {_string(w.report)}")))


def _columns(word: str, columns: tuple[n.Ident, ...]) -> Doc:
    return group(word, lay.Align(join(concat(",", line()),
                                      (lay.Text(column_name(c.name)) for c in columns))))


def _missing(m: n.MissingDecl) -> Doc:
    after = f" after {m.after} {m.unit.name if m.unit else 'runs'}" if m.after else ""
    head = f"when missing {m.action.name}{after}"
    if not m.sets:
        return lay.Text(head)
    sets = (lay.Text(f"{column_name(x.column.name)} = {_literal(x.value.value)}")
            for x in m.sets)
    return group(head, " with ", lay.Align(join(concat(",", line()), sets)))


def _limit(lim: n.LimitDecl) -> Doc:
    amount = f"{lim.amount:g}{'%' if lim.percent else ''}"
    per = f" per {lim.per.name}" if lim.per else ""
    return lay.Text(f"limit {lim.action.name} {amount}{per}")


def _output(o: n.Output, add: Callable[[str, Span, Doc], None], group_name: str) -> None:
    """An output block's statements, in the canonical order, into their groups."""
    word = "push" if o.push is not None else "output"
    add(group_name, o.span, lay.Text(f"{word} {o.file.name} from {o.entity.name}"))
    if o.each is not None:
        add(group_name, o.each.span, _after(f"for each {o.each.name.name} in ", o.each.items))
    for w in o.wheres:
        add(group_name, w.span, _where(w))
    if o.key:
        add(group_name, o.key[0].span.to(o.key[-1].span), _columns("key ", o.key))
    if o.sort:
        add(group_name, o.sort[0].span.to(o.sort[-1].span), _columns("sort by ", o.sort))
    if o.distinct is not None:
        add(group_name, o.distinct, lay.Text("distinct"))
    if o.allow_empty is not None:
        add(group_name, o.allow_empty, lay.Text("allow empty"))
    if o.missing is not None:
        add(group_name, o.missing.span, _missing(o.missing))
    for lim in o.limits:
        add(group_name, lim.span, _limit(lim))
    for x in o.expects:
        add(group_name, x.span, _expect(x))
    for span, text in _push_statements(o.push):
        add(group_name, span, lay.Text(text))
    names = [column_name(f.column.name) for f in o.fields]
    width = min(max((len(x) for x in names), default=0), _MAX_ALIGN)
    for f, name in zip(o.fields, names, strict=True):
        add(group_name + ".fields", f.span, _after(f"{name.ljust(width)} <- ", f.value))
    for warn in o.warns:
        add(group_name + ".warns", warn.span, _conditional(f"warn {_string(warn.message)}",
                                                           warn.test))
    for rejection in o.rejects:
        reason = concat("reject ", _x(rejection.reason, SUM))
        add(group_name + ".warns", rejection.span, _conditional(reason, rejection.test))
    for c in o.counters:
        head = f"counter {_string(c.label)}"
        add(group_name + ".warns", c.span,
            lay.Text(head) if c.test is None else _conditional(head, c.test))


def format_mapping(mapping: n.Mapping, origins: bool = False, width: int = WIDTH) -> str:
    """The canonical text of a parsed mapping (with the comments it carries).

    With ``origins``, comments are replaced by the file and line each statement comes
    from: the view of an effective mapping, after ``extends`` and ``import``. The
    canonical width is ``WIDTH``; tests lay mappings out to other widths.
    """
    statements: list[tuple[str, _Statement]] = []  # (group, statement)

    def add(group_name: str, span: Span, doc: Doc) -> None:
        indent = 2 if group_name.startswith("output") and statements_in(group_name) else 0
        statements.append((group_name, _Statement(span, doc, indent)))

    def statements_in(group_name: str) -> bool:
        return any(g.split(".")[0] == group_name.split(".")[0] for g, _ in statements)

    for span, text in _header_statements(mapping):
        add("header", span, lay.Text(text))
    for p in mapping.params:
        add("params", p.span, _param(p))
    definitions: list[n.RuleDecl | n.DefineDecl] = [*mapping.rules, *mapping.defines]
    for d in sorted(definitions, key=lambda d: d.span.start):  # as written: stable
        if isinstance(d, n.RuleDecl):
            add("rules", d.span, _after(f"rule {d.name.name} = ", d.body))
        else:
            params = f"({', '.join(p.name for p in d.params)})" if d.params else ""
            add("rules", d.span, _after(f"define {d.name.name}{params} = ", d.body))
    for i, o in enumerate(mapping.outputs):
        _output(o, add, f"output{i}")
    for _, s in statements:
        s.lay_out(width)

    if origins:
        for _, s in statements:
            if s.span.source is not None:
                s.comments_after = [f"# {s.span.source.name}:{s.span.line}"]
        trailing: list[str] = []
    else:
        trailing = _attach_comments(mapping, [s for _, s in statements])
    out: list[str] = []
    previous = ""
    columns = _comment_columns(statements, width, movable=not origins)
    for group_name, statement in statements:
        header_alone = (out and out[-1].startswith(("output ", "push "))
                        and previous.startswith("output"))
        if previous and group_name != previous and not header_alone:
            out.append("")
            if "." not in group_name and group_name.startswith("output") and previous.startswith(
                    "output"):
                out.append("")  # two blank lines between output blocks
        previous = group_name
        lines = statement.lines(columns.get(id(statement), 0))
        if lines and lines[0] == "" and (not out or out[-1] == ""):
            lines = lines[1:]  # the group already starts after a blank line
        out += lines
    if trailing:
        out += [""] + trailing if out else trailing
    return "\n".join(text.rstrip() for text in out) + "\n"


def _comment_columns(statements: list[tuple[str, _Statement]], width: int,
                     movable: bool = True) -> dict[int, int]:
    """The column each statement's trailing comment starts at, by statement.

    Comments of a group line up after its longest line, except where that would
    push a comment past the width; those statements keep their comment two spaces
    after the code, and the rest line up after the longest of them. A comment that
    does not fit even so, or one of several written beside a statement broken over
    lines, goes above the statement instead (unless not ``movable``: the origins of an
    effective mapping's lines stay beside them, whatever their length).
    """
    rows: dict[str, list[tuple[_Statement, int, int]]] = {}  # group -> (statement, end, size)
    for group_name, s in statements:
        if movable and (len(s.comments_after) > 1 or (
                s.comments_after and len(s.last_line) + 2 + len(s.comments_after[0]) > width)):
            s.comments_before += s.comments_after
            s.comments_after = []
        size = len(s.comments_after[0]) if s.comments_after else 0
        rows.setdefault(group_name, []).append((s, len(s.last_line), size))
    columns: dict[int, int] = {}
    for entries in rows.values():
        commented = [e for e in entries if e[2]]
        aligned = sorted(commented, key=lambda e: e[1])
        while aligned and max(e[1] for e in aligned) + 2 + max(e[2] for e in aligned) > width:
            aligned.pop()  # the longest line comments on its own
        column = max((e[1] for e in aligned), default=0) + 2
        columns.update({id(e[0]): column for e in aligned})
        columns.update({id(e[0]): e[1] + 2 for e in commented if id(e[0]) not in columns})
    return columns


def _attach_comments(mapping: n.Mapping, statements: list[_Statement]) -> list[str]:
    """Give each comment to the statement on its line, or the next one below it.

    Returns the comments below the last statement, which end the file.
    """
    ordered = sorted(statements, key=lambda s: s.span.start)
    leftover: list[n.Comment] = []
    previous_line: dict[int, int] = {}  # statement -> line of its last leading comment
    for comment in mapping.comments:
        line_number = comment.span.line
        owner = next((s for s in ordered if s.span.line <= line_number <= s.span.end_line
                      and comment.span.start > s.span.start), None)
        if owner is not None:
            owner.comments_after.append(comment.text)
            continue
        below = next((s for s in ordered if s.span.start > comment.span.start), None)
        if below is None:
            leftover.append(comment)
            continue
        above = previous_line.get(id(below))
        if above is not None and below.comments_before and line_number - above > 1:
            below.comments_before.append("")  # keep paragraphs of comments apart
        if above is None:
            before = [s.span.end_line for s in ordered if s.span.start < comment.span.start]
            if before and line_number - max(before) > 1:
                below.comments_before.append("")  # a blank line above the comment block
        below.comments_before.append(comment.text)
        previous_line[id(below)] = line_number
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
