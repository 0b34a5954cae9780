"""Text to syntax tree, with every syntax error reported in the specialist's terms.

The file is first cut into statements by the line rules of the language (a
statement continues inside brackets, after a trailing comma or operator, and before
a leading ``and``/``or``/``then``/``else``). Each statement is then parsed on its
own by the LALR parser. Cutting first means one bad line yields one diagnostic and
the rest of the file is still checked, which LALR error recovery would not give.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import lark
from lark import Lark, Token, Transformer, Tree, UnexpectedInput, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken, VisitError

from rostermap.dsl import codes, limits
from rostermap.dsl import nodes as n
from rostermap.dsl.cachedir import cache_folder
from rostermap.dsl.diagnostics import Diagnostic, did_you_mean
from rostermap.dsl.span import Source, Span

__all__ = ["parse", "split_statements"]

# Words that begin a statement. Inside brackets they still end the statement above
# (a forgotten `)` should not swallow the rest of the file), except `where`, which
# also introduces the condition of a lookup written over several lines.
STATEMENT_WORDS = frozenset(
    {"profile", "library", "extends", "import", "oneroster", "require", "param", "rule",
     "define",
     "output", "where", "key", "sort", "distinct", "warn", "counter", "reject", "for",
     "when", "limit", "allow", "expect"}
) | frozenset({"push", "send", "create", "capture", "after", "body", "link"})  # push outputs
_CONTINUE_AFTER = frozenset(
    {",", "<-", "->", "=", "!=", "<", "<=", ">", ">=", "+", "-", "|", ":", "(", "[",
     "and", "or", "not", "in", "is", "if", "then", "else", "of", "where"}
)
_CONTINUE_BEFORE = frozenset({"and", "or", "then", "else", "if"})
_OPEN, _CLOSE = "([{", ")]}"

_SCAN = re.compile(
    r"""
    (?P<nl>\n)
  | (?P<space>[ \t\f\r]+)
  | (?P<comment>\#[^\r\n]*)
  | (?P<string>"(?:[^"\\\r\n]|\\[^\r\n])*"?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><-|->|!=|<=|>=|.)
    """,
    re.VERBOSE,
)


@dataclass
class _Line:
    tokens: list[tuple[str, int, int]] = field(default_factory=list)  # (text, start, end)


def _scan_lines(text: str) -> tuple[list[_Line], list[n.Comment], Source]:
    source = Source(text)
    lines: list[_Line] = [_Line()]
    comments: list[n.Comment] = []
    for match in _SCAN.finditer(text):
        kind = match.lastgroup
        if kind == "nl":
            lines.append(_Line())
        elif kind == "comment":
            comments.append(n.Comment(source.span(match.start(), match.end()), match.group()))
        elif kind != "space":
            lines[-1].tokens.append((match.group(), match.start(), match.end()))
    return [line for line in lines if line.tokens], comments, source


def _starts_statement(line: _Line, inside_brackets: bool) -> bool:
    first = line.tokens[0][0]
    if first in STATEMENT_WORDS:
        return not (inside_brackets and first == "where")
    second = line.tokens[1][0] if len(line.tokens) > 1 else ""
    return second == "<-" and (first[0].isalpha() or first[0] in '_"')


def split_statements(text: str) -> tuple[list[tuple[int, int]], list[n.Comment]]:
    """Offsets ``(start, end)`` of each statement, and the comments of the file."""
    lines, comments, _ = _scan_lines(text)
    statements: list[tuple[int, int]] = []
    depth = 0
    last = ""
    for line in lines:
        first = line.tokens[0][0]
        if not statements:
            joined = False
        elif depth > 0:
            joined = not _starts_statement(line, inside_brackets=True)
        else:
            joined = (last in _CONTINUE_AFTER or first in _CONTINUE_BEFORE) and not (
                _starts_statement(line, inside_brackets=False)
            )
        if not joined:
            depth = 0
            statements.append((line.tokens[0][1], line.tokens[-1][2]))
        else:
            statements[-1] = (statements[-1][0], line.tokens[-1][2])
        for token, _, _ in line.tokens:
            if token in _OPEN:
                depth += 1
            elif token in _CLOSE:
                depth = max(0, depth - 1)
        last = line.tokens[-1][0]
    return statements, comments


@functools.cache
def _parser() -> Lark:
    return Lark.open_from_package(
        "rostermap.dsl",
        "grammar.lark",
        parser="lalr",
        lexer="contextual",
        start="statement",
        propagate_positions=True,
        maybe_placeholders=True,
        cache=_grammar_cache(),
    )


def _grammar_cache() -> str | bool:
    """Where Lark keeps the grammar's LALR tables between processes: building them is
    most of a cold compile (100 ms of 230 on the largest profile). Lark checks the
    grammar's hash before using them, and builds them again if the file is unusable;
    ``dsl.cachedir`` makes sure no one else can have written it."""
    folder = cache_folder("grammar")
    if folder is None:
        return False
    python = "".join(map(str, sys.version_info[:2]))
    return str(folder / f"lark-{lark.__version__}-py{python}.cache")


# --- statements before they are grouped into outputs ----------------------------------


@dataclass(frozen=True, slots=True)
class _OutputHeader:
    span: Span
    file: n.Ident
    entity: n.Ident
    push: bool = False  # `push NAME from ENTITY`: the rows become API writes


@dataclass(frozen=True, slots=True)
class _PushPart:
    """A statement of a push block: after, body (the others are nodes of their own)."""

    span: Span
    kind: str  # after | body
    names: tuple[n.Ident, ...]


@dataclass(frozen=True, slots=True)
class _Columns:
    span: Span
    kind: str  # "key" | "sort"
    columns: tuple[n.Ident, ...]


@dataclass(frozen=True, slots=True)
class _Distinct:
    span: Span


@dataclass(frozen=True, slots=True)
class _AllowEmpty:
    span: Span


class _SyntaxProblem(Exception):
    def __init__(self, diagnostic: Diagnostic):
        self.diagnostic = diagnostic


@v_args(meta=True)
class _ToNodes(Transformer[Token, Any]):
    """Lark tree to nodes; methods are named after the grammar's rules and aliases."""

    def __init__(self, source: Source, base: int):
        super().__init__()
        self.source = source
        self.base = base

    # spans ------------------------------------------------------------------------
    def _span(self, meta: Any) -> Span:
        return self.source.span(self.base + meta.start_pos, self.base + meta.end_pos)

    def _tok(self, token: Token) -> Span:
        start = self.base + (token.start_pos or 0)
        end = self.base + (token.end_pos or start)
        return self.source.span(start, end)

    def _ident(self, token: Token) -> n.Ident:
        return n.Ident(self._tok(token), str(token))

    def _text(self, token: Token) -> str:
        try:
            value = json.loads(str(token))
        except json.JSONDecodeError:
            raise _SyntaxProblem(codes.invalid_escape(self._tok(token))) from None
        assert isinstance(value, str)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: no file can hold it
            lone = codes.invalid_escape(self._tok(token), lone_surrogate=True)
            raise _SyntaxProblem(lone) from None
        return value

    # statements ---------------------------------------------------------------------
    def profile(self, meta: Any, c: list[Any]) -> n.ProfileDecl:
        slug, title = c
        text = self._text(title) if title else None
        return n.ProfileDecl(self._span(meta), self._ident(slug), text)

    def require(self, meta: Any, c: list[Token]) -> n.RequireDecl:
        return n.RequireDecl(self._span(meta), tuple(self._ident(t) for t in c))

    def bundle(self, meta: Any, c: list[Token]) -> n.BundleDecl:
        return n.BundleDecl(self._span(meta), self._ident(c[0]))

    def oneroster(self, meta: Any, c: list[Token]) -> n.VersionsDecl:
        return n.VersionsDecl(self._span(meta), tuple(self._ident(t) for t in c))

    def library(self, meta: Any, c: list[Token]) -> n.LibraryDecl:
        return n.LibraryDecl(self._span(meta), self._ident(c[0]))

    def _reference(self, kind: str, meta: Any, token: Token) -> n.Reference:
        name = self._text(token) if token.type == "STRING" else str(token)
        return n.Reference(self._span(meta), kind, n.Ident(self._tok(token), name))

    def extends(self, meta: Any, c: list[Token]) -> n.Reference:
        return self._reference("extends", meta, c[0])

    def import_(self, meta: Any, c: list[Token]) -> n.Reference:
        return self._reference("import", meta, c[0])

    def define(self, meta: Any, c: list[Any]) -> n.DefineDecl:
        name, *params, body = c
        idents = tuple(self._ident(p) for p in params if p is not None)
        return n.DefineDecl(self._span(meta), self._ident(name), idents, body)

    def param(self, meta: Any, c: list[Any]) -> n.ParamDecl:
        name, type_, default, naming = c
        return n.ParamDecl(self._span(meta), self._ident(name), type_, default, naming)

    def naming(self, meta: Any, c: list[Any]) -> n.ParamNaming:
        entity, *fields, ignore_case = c
        return n.ParamNaming(self._span(meta), self._ident(entity),
                             tuple(self._ident(f) for f in fields), ignore_case is not None)

    def ignoring_case(self, meta: Any, c: list[Any]) -> bool:
        return True

    def type(self, meta: Any, c: list[Any]) -> n.TypeRef:
        name, *args = c
        return n.TypeRef(self._span(meta), str(name), tuple(a for a in args if a is not None))

    def choice_type(self, meta: Any, c: list[Token]) -> n.TypeRef:
        return n.TypeRef(self._span(meta), "choice", choices=tuple(self._text(t) for t in c))

    def table_type(self, meta: Any, c: list[Token]) -> n.TypeRef:
        name, *columns = c
        return n.TypeRef(self._span(meta), str(name), columns=tuple(str(x) for x in columns))

    def rule(self, meta: Any, c: list[Any]) -> n.RuleDecl:
        name, body = c
        return n.RuleDecl(self._span(meta), self._ident(name), body)

    def output(self, meta: Any, c: list[Token]) -> _OutputHeader:
        file, entity = c
        return _OutputHeader(self._span(meta), self._ident(file), self._ident(entity))

    # push outputs -------------------------------------------------------------------
    def push(self, meta: Any, c: list[Token]) -> _OutputHeader:
        name, entity = c
        return _OutputHeader(self._span(meta), self._ident(name), self._ident(entity), True)

    def _request(self, kind: str, meta: Any, c: list[Token]) -> n.RequestDecl:
        method, path = c
        return n.RequestDecl(self._span(meta), kind, self._ident(method), self._text(path))

    def send(self, meta: Any, c: list[Token]) -> n.RequestDecl:
        return self._request("send", meta, c)

    def create(self, meta: Any, c: list[Token]) -> n.RequestDecl:
        return self._request("create", meta, c)

    def capture(self, meta: Any, c: list[Token]) -> n.CaptureDecl:
        name, path = c
        return n.CaptureDecl(self._span(meta), self._ident(name), self._text(path))

    def after(self, meta: Any, c: list[Token]) -> _PushPart:
        return _PushPart(self._span(meta), "after", tuple(self._ident(x) for x in c))

    def body(self, meta: Any, c: list[n.Ident]) -> _PushPart:
        return _PushPart(self._span(meta), "body", tuple(c))

    def link(self, meta: Any, c: list[Any]) -> n.LinkDecl:
        column, push, capture = c
        return n.LinkDecl(self._span(meta), column, self._ident(push), self._ident(capture))

    def where(self, meta: Any, c: list[Any]) -> n.Where:
        test, report = c
        return n.Where(self._span(meta), test, self._text(report) if report else None)

    def for_each(self, meta: Any, c: list[Any]) -> n.ForEach:
        name, items = c
        return n.ForEach(self._span(meta), self._ident(name), items)

    def counter(self, meta: Any, c: list[Any]) -> n.CounterDecl:
        label, test = c
        return n.CounterDecl(self._span(meta), self._text(label), test)

    def reject(self, meta: Any, c: list[Any]) -> n.RejectDecl:
        reason, test = c
        return n.RejectDecl(self._span(meta), reason, test)

    def key(self, meta: Any, c: list[n.Ident]) -> _Columns:
        return _Columns(self._span(meta), "key", tuple(c))

    def sort(self, meta: Any, c: list[n.Ident]) -> _Columns:
        return _Columns(self._span(meta), "sort", tuple(c))

    def missing(self, meta: Any, c: list[Any]) -> n.MissingDecl:
        action, after, unit, sets = c
        return n.MissingDecl(self._span(meta), self._ident(action),
                             None if after is None else int(after),
                             None if unit is None else self._ident(unit),
                             () if sets is None else tuple(sets))

    def missing_with(self, meta: Any, c: list[n.MissingSet]) -> list[n.MissingSet]:
        return c

    def missing_set(self, meta: Any, c: list[Any]) -> n.MissingSet:
        column, value = c
        return n.MissingSet(self._span(meta), column, value)

    def limit(self, meta: Any, c: list[Any]) -> n.LimitDecl:
        action, amount, percent, per = c
        return n.LimitDecl(self._span(meta), self._ident(action), float(amount),
                           percent is not None, None if per is None else self._ident(per))

    def expect(self, meta: Any, c: list[Any]) -> n.ExpectDecl:
        *columns, (kind, values, op, amount) = c
        return n.ExpectDecl(self._span(meta), tuple(columns), kind, values, op, amount)

    def expect_in(self, meta: Any, c: list[Token]) -> tuple[n.Expectation, tuple[str, ...],
                                                           str, int]:
        return n.Expectation.ALLOWED, tuple(self._text(t) for t in c), "", 0

    def expect_filled(self, meta: Any, c: list[Any]) -> tuple[n.Expectation, tuple[str, ...],
                                                             str, int]:
        return n.Expectation.FILLED, (), "", 0

    def expect_unique(self, meta: Any, c: list[Any]) -> tuple[n.Expectation, tuple[str, ...],
                                                             str, int]:
        return n.Expectation.UNIQUE, (), "", 0

    def expect_count(self, meta: Any, c: list[Token]) -> n.ExpectDecl:
        op, amount = c
        span = self._span(meta)
        at = self.source.text.index("rows", span.start)
        rows = n.Ident(self.source.span(at, at + len("rows")), "rows")
        return n.ExpectDecl(span, (rows,), n.Expectation.COUNT, (), str(op), int(amount))

    def distinct(self, meta: Any, c: list[Any]) -> _Distinct:
        return _Distinct(self._span(meta))

    def allow_empty(self, meta: Any, c: list[Any]) -> _AllowEmpty:
        return _AllowEmpty(self._span(meta))

    def warn(self, meta: Any, c: list[Any]) -> n.WarnDecl:
        message, test = c
        return n.WarnDecl(self._span(meta), self._text(message), test)

    def field(self, meta: Any, c: list[Any]) -> n.FieldRule:
        column, _arrow, value = c
        return n.FieldRule(self._span(meta), column, value)

    def column(self, meta: Any, c: list[Token]) -> n.Ident:
        (token,) = c
        name = self._text(token) if token.type == "STRING" else str(token)
        return n.Ident(self._tok(token), name)

    # expressions --------------------------------------------------------------------
    def string(self, meta: Any, c: list[Token]) -> n.Literal:
        return n.Literal(self._span(meta), self._text(c[0]))

    def number(self, meta: Any, c: list[Token]) -> n.Literal:
        text = str(c[0])
        return n.Literal(self._span(meta), float(text) if "." in text else int(text))

    def negative_number(self, meta: Any, c: list[Token]) -> n.Literal:
        value = self.number(meta, c).value
        assert isinstance(value, int | float)
        return n.Literal(self._span(meta), -value)

    def true(self, meta: Any, c: list[Any]) -> n.Literal:
        return n.Literal(self._span(meta), True)

    def false(self, meta: Any, c: list[Any]) -> n.Literal:
        return n.Literal(self._span(meta), False)

    def this(self, meta: Any, c: list[Any]) -> n.This:
        return n.This(self._span(meta))

    def name(self, meta: Any, c: list[Token]) -> n.Name:
        return n.Name(self._span(meta), str(c[0]))

    def call(self, meta: Any, c: list[Any]) -> n.Call:
        func, args = c
        return n.Call(self._span(meta), self._ident(func), tuple(args or ()))

    def arguments(self, meta: Any, c: list[n.Expr]) -> tuple[n.Expr, ...]:
        return tuple(c)

    def lookup(self, meta: Any, c: list[Any]) -> n.Lookup:
        value, entity, where = c
        return n.Lookup(self._span(meta), value, self._ident(entity), where)

    def list_literal(self, meta: Any, c: list[Any]) -> n.ListExpr:
        return n.ListExpr(self._span(meta), tuple(item for item in c if item is not None))

    def entry(self, meta: Any, c: list[Any]) -> tuple[n.Ident, n.Expr]:
        key, value = c
        name = self._text(key) if key.type == "STRING" else str(key)
        return n.Ident(self._tok(key), name), value

    def object_literal(self, meta: Any, c: list[Any]) -> n.ObjectExpr:
        return n.ObjectExpr(self._span(meta), tuple(e for e in c if e is not None))

    def attr(self, meta: Any, c: list[Any]) -> n.Attr:
        obj, name = c
        return n.Attr(self._span(meta), obj, self._ident(name))

    def index(self, meta: Any, c: list[Any]) -> n.Index:
        obj, position = c
        return n.Index(self._span(meta), obj, int(position))

    def negate(self, meta: Any, c: list[n.Expr]) -> n.Expr:
        (operand,) = c
        if isinstance(operand, n.Literal) and isinstance(operand.value, int | float):
            if not isinstance(operand.value, bool):
                return n.Literal(self._span(meta), -operand.value)
        return n.Neg(self._span(meta), operand)

    def add(self, meta: Any, c: list[n.Expr]) -> n.Arith:
        return n.Arith(self._span(meta), "+", c[0], c[1])

    def subtract(self, meta: Any, c: list[n.Expr]) -> n.Arith:
        return n.Arith(self._span(meta), "-", c[0], c[1])

    def compare(self, meta: Any, c: list[Any]) -> n.Compare:
        left, op, right = c
        return n.Compare(self._span(meta), str(op), left, right)

    def in_(self, meta: Any, c: list[n.Expr]) -> n.In:
        return n.In(self._span(meta), c[0], c[1], negated=False)

    def not_in(self, meta: Any, c: list[n.Expr]) -> n.In:
        return n.In(self._span(meta), c[0], c[1], negated=True)

    def is_empty(self, meta: Any, c: list[n.Expr]) -> n.IsEmpty:
        return n.IsEmpty(self._span(meta), c[0], negated=False)

    def is_not_empty(self, meta: Any, c: list[n.Expr]) -> n.IsEmpty:
        return n.IsEmpty(self._span(meta), c[0], negated=True)

    def any_of(self, meta: Any, c: list[n.Expr]) -> n.Quantified:
        return n.Quantified(self._span(meta), "any", c[0], c[1])

    def all_of(self, meta: Any, c: list[n.Expr]) -> n.Quantified:
        return n.Quantified(self._span(meta), "all", c[0], c[1])

    def none_of(self, meta: Any, c: list[n.Expr]) -> n.Quantified:
        return n.Quantified(self._span(meta), "none", c[0], c[1])

    def not_(self, meta: Any, c: list[n.Expr]) -> n.Not:
        return n.Not(self._span(meta), c[0])

    def _bool(self, op: str, meta: Any, c: list[n.Expr]) -> n.BoolOp:
        flat: list[n.Expr] = []
        for operand in c:
            if isinstance(operand, n.BoolOp) and operand.op == op:
                flat.extend(operand.operands)
            else:
                flat.append(operand)
        return n.BoolOp(self._span(meta), op, tuple(flat))

    def and_expr(self, meta: Any, c: list[n.Expr]) -> n.BoolOp:
        return self._bool("and", meta, c)

    def or_expr(self, meta: Any, c: list[n.Expr]) -> n.BoolOp:
        return self._bool("or", meta, c)

    def if_expr(self, meta: Any, c: list[n.Expr]) -> n.If:
        return n.If(self._span(meta), c[0], c[1], c[2])

    def arm(self, meta: Any, c: list[Any]) -> n.Arm:
        *patterns, _arrow, value = c
        return n.Arm(self._span(meta), tuple(patterns), value)

    def default_arm(self, meta: Any, c: list[Any]) -> n.Arm:
        _arrow, value = c
        return n.Arm(self._span(meta), (), value)

    def match(self, meta: Any, c: list[Any]) -> n.Match:
        subject, *arms = c
        defaults = [arm for arm in arms if not arm.patterns]
        if defaults and (len(defaults) > 1 or arms[-1].patterns):
            raise _SyntaxProblem(codes.misplaced_else(defaults[0].span))
        default = defaults[0].value if defaults else None
        return n.Match(self._span(meta), subject, tuple(a for a in arms if a.patterns), default)


# --- syntax errors in the specialist's words -------------------------------------------

_WORDS = {
    "ARROW_IN": "`<-`",
    "ARROW": "`->`",
    "NAME": "a name",
    "STRING": 'a string in "double quotes"',
    "NUMBER": "a number",
    "INT": "a whole number",
    "COMPARE": "a comparison such as `=`",
    "FILENAME": "a file name",
    "SLUG": "a profile name",
    "VERSION": "a version such as 1.2",
    "COMMA": "`,`",
    "LPAR": "`(`",
    "RPAR": "`)`",
    "LSQB": "`[`",
    "RSQB": "`]`",
    "COLON": "`:`",
    "DOT": "`.`",
    "EQUAL": "`=`",
    "VBAR": "`|`",
    "PLUS": "`+`",
    "MINUS": "`-`",
    "$END": "the end of the statement",
}
_EXPRESSION_STARTS = {"NAME", "STRING", "NUMBER", "LPAR", "LSQB", "TRUE", "FALSE", "THIS"}
_OPERATORS = {"PLUS", "MINUS", "COMPARE", "DOT", "LSQB", "IN", "IS", "AND", "OR", "NOT", "OF"}


def _describe(terminal: str) -> str:
    if terminal in _WORDS:
        return _WORDS[terminal]
    return f"`{terminal.lower()}`"


def _expected_words(expected: set[str]) -> str:
    names = set(expected)
    words: list[str] = []
    if _EXPRESSION_STARTS & names and len(_EXPRESSION_STARTS & names) >= 3:
        words.append("an expression")
        names -= _EXPRESSION_STARTS | {"MINUS", "NOT", "IF", "ANY", "ALL", "NONE", "MATCH"}
    if len(_OPERATORS & names) >= 3:
        words.append("an operator")
        names -= _OPERATORS
    words += sorted(_describe(t) for t in names if not t.startswith("__"))
    if not words:
        return "something else"
    if len(words) > 6:
        words = words[:6] + ["..."]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _found(token: Token) -> str:
    if token.type == "$END":
        return "the end of the statement"
    if token.type == "STRING":
        return f"the string {token}"
    return f"`{token}`"


def _unclosed_bracket(text: str, base: int) -> int | None:
    """The offset of the first bracket left open in a statement, strings skipped."""
    stack: list[int] = []
    for match in _SCAN.finditer(text):
        token = match.group()
        if match.lastgroup != "op":
            continue
        if token in _OPEN:
            stack.append(base + match.start())
        elif token in _CLOSE and stack:
            stack.pop()
    return stack[0] if stack else None


def _syntax_diagnostic(
    error: UnexpectedInput, text: str, base: int, source: Source
) -> Diagnostic:
    words = [m for m in _SCAN.finditer(text) if m.lastgroup not in ("space", "comment", "nl")]
    if isinstance(error, UnexpectedCharacters):
        at = base + (error.pos_in_stream or 0)
        if error.char == '"':
            line_end = text.find("\n", error.pos_in_stream)
            return codes.unterminated_string(
                source.span(at, base + line_end if line_end >= 0 else base + len(text)))
        return codes.unexpected_character(error.char, source.span(at, at + 1))
    assert isinstance(error, UnexpectedToken | UnexpectedEOF)
    token: Token = error.token if isinstance(error, UnexpectedToken) else Token("$END", "")
    expected = set(error.expected) if isinstance(error, UnexpectedToken) else set()
    if token.type == "$END" or token.start_pos is None:
        at = base + len(text)
        span = source.span(at, at)
    else:
        span = source.span(base + token.start_pos, base + (token.end_pos or token.start_pos))
    first = words[0].group() if words else ""
    second = words[1].group() if len(words) > 1 else ""

    if token.type == "$END" and (open_at := _unclosed_bracket(text, base)) is not None:
        return codes.unclosed_bracket(source.text[open_at], source.span(open_at, open_at + 1),
                                      span)
    if "ARROW_IN" in expected and len(words) >= 2 and words[0].lastgroup in ("word", "string"):
        suggestion = did_you_mean(first, STATEMENT_WORDS) if first not in STATEMENT_WORDS else None
        if suggestion and suggestion != first:
            return codes.unknown_statement(first, source.span(base, base + len(first)), suggestion)
        return codes.missing_arrow(first.strip('"'), _found(token), span)
    if first in STATEMENT_WORDS and second == "<-":
        return codes.keyword_as_column(first, source.span(base, base + len(first)))
    before = [m.group() for m in words if base + m.end() <= span.start]
    if {"STRING", "NUMBER", "TRUE", "FALSE"} <= expected and "NAME" not in expected and (
            "match" in before):
        return _condition_as_pattern(token, text, base, source, words)
    if token.type == "MATCH" or (before and before[-1] == "match"):
        if token.type != "MATCH":
            at = base + [m for m in words if base + m.end() <= span.start][-1].start()
            span = source.span(at, at + len("match"))
        return codes.unparenthesized_match(span)
    if token.type == "$END":
        return codes.unexpected_end(_expected_words(expected), span)
    two_values = token.type in _EXPRESSION_STARTS and len(_OPERATORS & expected) >= 3
    return codes.unexpected_word(_expected_words(expected), _found(token), span, two_values)


def _condition_as_pattern(token: Token, text: str, base: int, source: Source,
                          words: list[re.Match[str]]) -> Diagnostic:
    """A `match` arm that is not a literal (`match true: not active -> ...`): the arm,
    up to its `->` (or the next `,`), is a condition or a name."""
    start = base + (token.start_pos or 0)
    end = start
    for m in words:
        if base + m.start() < start:
            continue
        if m.group() in ("->", ","):
            break
        end = base + m.end()
    span = source.span(start, max(end, start + len(token)))
    arm = source.text[span.start:span.end]
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", arm) and arm not in ("not", "this", "if"):
        return codes.name_as_pattern(arm, span)
    return codes.condition_as_pattern(re.sub(r"\s+", " ", arm), span)


class _OutOfBounds(Exception):
    """A statement past one of the bounds in ``dsl.limits``; carries its diagnostic."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def _check_bounds(tree: Tree[Token], source: Source, start: int, end: int) -> None:
    """Refuse a statement too deep, a literal too long or a number too large before the
    tree is transformed: transforming, checking and generating recurse once per level."""
    deepest = 0
    stack: list[tuple[Tree[Token], int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        for child in node.children:
            if isinstance(child, Tree):
                stack.append((child, depth + 1))
            elif isinstance(child, Token) and child.start_pos is not None:
                at = source.span(start + child.start_pos, start + child.start_pos + len(child))
                if child.type == "STRING" and len(child) > limits.MAX_LITERAL + 2:
                    raise _OutOfBounds(codes.too_long_literal(len(child) - 2, at))
                if child.type in ("INT", "NUMBER") and float(child) > limits.MAX_INT:
                    raise _OutOfBounds(codes.number_too_large(str(child), at))
    if deepest > limits.MAX_DEPTH:
        raise _OutOfBounds(codes.too_deep(deepest, source.span(start, end)))


def _parse_statement(source: Source, start: int, end: int) -> Any:
    text = source.text[start:end]
    tree = _parser().parse(text)
    _check_bounds(tree, source, start, end)
    return _ToNodes(source, start).transform(tree)


def _statements(source: Source, diagnostics: list[Diagnostic]) -> Iterator[Any]:
    spans, _ = split_statements(source.text)
    for start, end in spans:
        try:
            yield _parse_statement(source, start, end)
        except UnexpectedInput as error:
            diagnostics.append(_syntax_diagnostic(error, source.text[start:end], start, source))
        except _OutOfBounds as error:
            diagnostics.append(error.diagnostic)
        except VisitError as error:
            if isinstance(error.orig_exc, _SyntaxProblem):
                diagnostics.append(error.orig_exc.diagnostic)
            else:
                raise


def parse(text: str, filename: str = "<mapping>") -> tuple[n.Mapping, list[Diagnostic]]:
    """Parse a mapping file; the tree holds every statement that parsed.

    A statement that fails to parse is left out and reported, so the checker can
    still look at the rest (its own diagnostics then only add to the syntax ones).
    """
    source = Source(text, filename)
    diagnostics: list[Diagnostic] = []
    _, comments = split_statements(text)
    header: dict[str, Any] = {}  # profile, library, oneroster, extends: once each
    imports: list[n.Reference] = []
    requires: list[n.RequireDecl] = []
    params: list[n.ParamDecl] = []
    rules: list[n.RuleDecl] = []
    defines: list[n.DefineDecl] = []
    outputs: list[dict[str, Any]] = []

    for statement in _statements(source, diagnostics):
        word = _HEADER_WORDS.get(type(statement))
        if isinstance(statement, n.Reference):
            word = statement.kind
        if word is not None:
            if word in header or outputs or (word in ("profile", "library") and (
                    "profile" in header or "library" in header)):
                diagnostics.append(codes.misplaced_header(word, statement.span))
            elif word == "import":
                imports.append(statement)
            else:
                header[word] = statement
        elif isinstance(statement, n.RequireDecl):
            requires.append(statement)
        elif isinstance(statement, n.ParamDecl):
            params.append(statement)
        elif isinstance(statement, n.RuleDecl):
            rules.append(statement)
        elif isinstance(statement, n.DefineDecl):
            defines.append(statement)
        elif isinstance(statement, _OutputHeader):
            if len(outputs) == limits.MAX_OUTPUTS:
                diagnostics.append(codes.too_many_outputs(statement.span))
                break  # the rest is not parsed: a file this size is not a profile
            outputs.append({"header": statement, "wheres": [], "fields": [], "warns": [],
                            "key": (), "sort": (), "distinct": None, "allow_empty": None,
                            "counters": [], "rejects": [], "each": None, "missing": None,
                            "limits": [], "expects": [],
                            "push": {} if statement.push else None})
        elif not outputs:
            diagnostics.append(codes.statement_outside_output(statement.span))
        elif isinstance(statement, n.RequestDecl | n.CaptureDecl | n.LinkDecl | _PushPart):
            _add_push_part(outputs[-1], statement, diagnostics)
        elif isinstance(statement, n.Where):
            outputs[-1]["wheres"].append(statement)
        elif isinstance(statement, n.FieldRule):
            outputs[-1]["fields"].append(statement)
        elif isinstance(statement, n.WarnDecl):
            outputs[-1]["warns"].append(statement)
        elif isinstance(statement, n.CounterDecl):
            outputs[-1]["counters"].append(statement)
        elif isinstance(statement, n.RejectDecl):
            outputs[-1]["rejects"].append(statement)
        elif isinstance(statement, n.ForEach):
            if outputs[-1]["each"] is not None:
                diagnostics.append(codes.repeated_in_output("for each", statement.span))
            outputs[-1]["each"] = statement
        elif isinstance(statement, n.MissingDecl):
            if outputs[-1]["missing"] is not None:
                diagnostics.append(codes.repeated_in_output("when missing", statement.span))
            outputs[-1]["missing"] = statement
        elif isinstance(statement, n.LimitDecl):
            outputs[-1]["limits"].append(statement)
        elif isinstance(statement, n.ExpectDecl):
            outputs[-1]["expects"].append(statement)
        elif isinstance(statement, _Distinct):
            outputs[-1]["distinct"] = statement.span
        elif isinstance(statement, _AllowEmpty):
            outputs[-1]["allow_empty"] = statement.span
        elif isinstance(statement, _Columns):
            outputs[-1][statement.kind] = outputs[-1][statement.kind] + statement.columns

    built = tuple(
        n.Output(
            o["header"].span,
            o["header"].file,
            o["header"].entity,
            tuple(o["wheres"]),
            tuple(o["fields"]),
            tuple(o["warns"]),
            o["key"],
            o["sort"],
            o["distinct"],
            tuple(o["counters"]),
            tuple(o["rejects"]),
            o["each"],
            o["missing"],
            tuple(o["limits"]),
            o["allow_empty"],
            tuple(o["expects"]),
            _push_decl(o["header"].span, o["push"]),
        )
        for o in outputs
    )
    whole = source.span(0, len(text))
    mapping = n.Mapping(whole, header.get("profile"), header.get("oneroster"), tuple(params),
                        tuple(rules), built, tuple(comments), tuple(defines),
                        header.get("library"), header.get("extends"), tuple(imports),
                        tuple(requires), header.get("bundle"))
    return mapping, diagnostics


def _add_push_part(output: dict[str, Any], part: Any, diagnostics: list[Diagnostic]) -> None:
    """File a push statement under its block; in a file output it has no meaning."""
    push: dict[str, Any] | None = output["push"]
    if push is None:
        diagnostics.append(codes.push_statement_in_file_output(output["header"].file.name,
                                                               part.span))
        return
    if isinstance(part, n.RequestDecl) or (isinstance(part, _PushPart) and part.kind == "body"):
        slot = part.kind
        if slot in push:
            diagnostics.append(codes.repeated_in_output(slot, part.span))
            return
        push[slot] = part if isinstance(part, n.RequestDecl) else part.names[0]
    elif isinstance(part, _PushPart):
        push["after"] = push.get("after", ()) + part.names
    elif isinstance(part, n.CaptureDecl):
        push["captures"] = push.get("captures", ()) + (part,)
    else:
        push["links"] = push.get("links", ()) + (part,)


def _push_decl(span: Span, push: dict[str, Any] | None) -> n.PushDecl | None:
    if push is None:
        return None
    return n.PushDecl(span, push.get("send"), push.get("create"), push.get("captures", ()),
                      push.get("after", ()), push.get("body"), push.get("links", ()))


_HEADER_WORDS: dict[type, str] = {
    n.ProfileDecl: "profile",
    n.LibraryDecl: "library",
    n.VersionsDecl: "oneroster",
    n.BundleDecl: "bundle",
}
