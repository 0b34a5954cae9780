"""The formatter: canonical, idempotent, and it never changes what a file means."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rostermap.cli.main import main
from rostermap.dsl import nodes as n
from rostermap.dsl import parse
from rostermap.dsl.format import format_mapping, format_text
from rostermap.dsl.span import Span

ROOT = Path(__file__).resolve().parent.parent
# The golden cases that parse: RM1xx cases do not, nor RM332's (a match arm the parser
# refuses).
FILES = sorted([*ROOT.glob("rostermap/mappings/*.rmap"), *ROOT.glob("examples/**/*.rmap"),
                *(p for p in (ROOT / "tests" / "cases" / "diagnostics").glob("RM[23]*.rmap")
                  if not p.name.startswith("RM332"))])
DOC_BLOCKS = re.findall(r"```rmap\n(.*?)```", (ROOT / "docs" / "language.md").read_text(),
                        flags=re.S)


def shape(node: Any) -> Any:
    """A node as nested tuples without spans, to compare trees of two texts."""
    if isinstance(node, tuple | list):
        return tuple(shape(x) for x in node)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        if isinstance(node, n.Comment):
            return ("Comment", node.text)
        fields = [(f.name, shape(getattr(node, f.name))) for f in dataclasses.fields(node)
                  if f.name != "span" and not isinstance(getattr(node, f.name), Span)]
        return (type(node).__name__, tuple(fields))
    return node


def same_meaning(a: str, b: str) -> None:
    (ma, da), (mb, db) = parse(a), parse(b)
    assert da == [] and db == []
    assert shape(dataclasses.replace(ma, comments=())) == shape(
        dataclasses.replace(mb, comments=()))
    assert [c.text for c in ma.comments] == [c.text for c in mb.comments]


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_formatting_keeps_meaning_and_comments_and_is_idempotent(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    formatted = format_text(text)
    assert formatted is not None
    same_meaning(text, formatted)
    assert format_text(formatted) == formatted


@pytest.mark.parametrize("block", DOC_BLOCKS)
def test_documentation_examples_format(block: str) -> None:
    formatted = format_text(block)
    assert formatted is not None
    same_meaning(block, formatted)


def test_shipped_mappings_are_formatted() -> None:
    for path in ROOT.glob("rostermap/mappings/*.rmap"):
        assert format_text(path.read_text()) == path.read_text(), f"run rostermap fmt {path}"


def test_layout() -> None:
    text = ('profile p\nrule r=a and(b or c)\noutput o.csv from users\n'
            '  x<-givenName # the name\n  "first name"<-match role:"student"->"S",else->""\n'
            '  where  status="" # kept\n  key x\n')
    assert format_text(text) == (
        "profile p\n\n"
        "rule r = a and (b or c)\n\n"
        "output o.csv from users\n"
        '  where status = ""  # kept\n'
        "  key x\n\n"
        "  x            <- givenName  # the name\n"
        '  "first name" <- match role: "student" -> "S", else -> ""\n'
    )


def test_long_statements_are_broken_where_the_language_allows() -> None:
    long = " and ".join(f'title != "{w * 8}"' for w in "abcdefgh")
    text = (f"profile p\noutput o.csv from classes\n  where {long}\n"
            f"  t <- min(user.sourcedId of enrollments where class = this and {long})\n")
    formatted = format_text(text)
    assert formatted is not None
    assert max(len(line) for line in formatted.splitlines()) <= 100
    assert "\n        and title" in formatted
    assert "\n           where class = this\n" in formatted
    same_meaning(text, formatted)


def test_a_reject_reason_is_a_literal_or_an_expression() -> None:
    text = ('profile p\noutput o.csv from users\n  id <- sourcedId\n'
            '  reject "no email" if email is empty\n'
            '  reject "user "+sourcedId+" has no username" if username is empty\n'
            '  reject (if role = "student" then "a" else "b") if givenName is empty\n')
    formatted = format_text(text)
    assert formatted is not None
    assert formatted.splitlines()[-3:] == [
        '  reject "no email" if email is empty',
        '  reject "user " + sourcedId + " has no username" if username is empty',
        '  reject (if role = "student" then "a" else "b") if givenName is empty',
    ]
    same_meaning(text, formatted)


def test_fmt_command(tmp_path: Path) -> None:
    path = tmp_path / "m.rmap"
    path.write_text("profile p\noutput o.csv from users\n  x<-givenName\n")
    result = CliRunner().invoke(main, ["fmt", "--check", str(path)])
    assert result.exit_code == 1 and "would be reformatted" in result.stdout
    assert CliRunner().invoke(main, ["fmt", str(path)]).exit_code == 0
    assert path.read_text() == "profile p\n\noutput o.csv from users\n  x <- givenName\n"
    assert CliRunner().invoke(main, ["fmt", "--check", str(path)]).exit_code == 0


# --- property: parse(format(tree)) == tree, over generated trees -------------------------

NAMES = st.sampled_from(["status", "role", "orgs", "school", "title", "x", "y_2", "Users"])
TEXT = st.text(alphabet=st.sampled_from(list('ab "\\#\n\té→{}()<-,')), max_size=6)
NUMBERS = st.one_of(st.integers(-50, 10_000),
                    st.decimals(0, 100, places=2, allow_nan=False).map(float))
SPAN = Span(0, 0, 1, 1, 1, 1)


def lit(value: Any) -> n.Literal:
    return n.Literal(SPAN, value)


def ident(name: str) -> n.Ident:
    return n.Ident(SPAN, name)


LITERALS = st.one_of(TEXT, NUMBERS, st.booleans()).map(lit)
LEAVES = st.one_of(LITERALS, NAMES.map(lambda s: n.Name(SPAN, s)), st.just(n.This(SPAN)))


def _bool(op: str, operands: list[n.Expr]) -> n.BoolOp:
    flat: list[n.Expr] = []
    for o in operands:
        flat += list(o.operands) if isinstance(o, n.BoolOp) and o.op == op else [o]
    return n.BoolOp(SPAN, op, tuple(flat))


def _neg(e: n.Expr) -> n.Expr:
    if isinstance(e, n.Literal) and isinstance(e.value, int | float) and not isinstance(
            e.value, bool):
        return lit(-e.value)
    return n.Neg(SPAN, e)


def extend(inner: st.SearchStrategy[n.Expr]) -> st.SearchStrategy[n.Expr]:
    pairs = st.tuples(inner, inner)
    lookup = st.builds(lambda v, w: n.Lookup(SPAN, v, ident("enrollments"), w), inner,
                       st.none() | inner)
    arm = st.builds(lambda pats, v: n.Arm(SPAN, tuple(lit(p) for p in pats), v),
                    st.lists(st.one_of(TEXT, st.integers(-5, 5)), min_size=1, max_size=2), inner)
    return st.one_of(
        st.builds(lambda o, a: n.Attr(SPAN, o, ident(a)), inner, NAMES),
        st.builds(lambda o, i: n.Index(SPAN, o, i), inner, st.integers(0, 3)),
        st.builds(lambda f, args: n.Call(SPAN, ident(f), tuple(args)), NAMES,
                  st.lists(st.one_of(inner, lookup), max_size=3)),
        st.builds(lambda op, p: n.Compare(SPAN, op, *p),
                  st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), pairs),
        st.builds(lambda neg, p: n.In(SPAN, p[0], p[1], neg), st.booleans(), pairs),
        st.builds(lambda neg, e: n.IsEmpty(SPAN, e, neg), st.booleans(), inner),
        st.builds(lambda q, p: n.Quantified(SPAN, q, *p), st.sampled_from(["any", "all", "none"]),
                  pairs),
        st.builds(lambda op, ops: _bool(op, ops), st.sampled_from(["and", "or"]),
                  st.lists(inner, min_size=2, max_size=3)),
        st.builds(lambda e: n.Not(SPAN, e), inner),
        st.builds(lambda op, p: n.Arith(SPAN, op, *p), st.sampled_from(["+", "-"]), pairs),
        st.builds(_neg, inner),
        st.builds(lambda a, b, c: n.If(SPAN, a, b, c), inner, inner, inner),
        st.builds(lambda s, arms, d: n.Match(SPAN, s, tuple(arms), d), inner,
                  st.lists(arm, min_size=1, max_size=3), st.none() | inner),
        st.builds(lambda items: n.ListExpr(SPAN, tuple(items)), st.lists(inner, max_size=3)),
    )


EXPRESSIONS = st.recursive(LEAVES, extend, max_leaves=12)
COLUMNS = st.one_of(NAMES, st.sampled_from(["first name", "key", "from", "x-y", "é"]))


def mapping(fields: list[tuple[str, n.Expr]], wheres: list[n.Expr], rule: n.Expr) -> n.Mapping:
    # a reject whose reason is an expression (the rule's), printed and parsed back
    output = n.Output(SPAN, ident("o.csv"), ident("users"),
                      tuple(n.Where(SPAN, w) for w in wheres),
                      tuple(n.FieldRule(SPAN, ident(c), v) for c, v in fields),
                      rejects=(n.RejectDecl(SPAN, rule, n.Name(SPAN, "r")),))
    return n.Mapping(SPAN, n.ProfileDecl(SPAN, ident("p"), "T \"q\""), None,
                     (n.ParamDecl(SPAN, ident("y"), n.TypeRef(SPAN, "list", (
                         n.TypeRef(SPAN, "str"),)), n.ListExpr(SPAN, ())),),
                     (n.RuleDecl(SPAN, ident("r"), rule),), (output,))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(COLUMNS, EXPRESSIONS), min_size=1, max_size=3,
                unique_by=lambda f: f[0]),
       st.lists(EXPRESSIONS, max_size=2), EXPRESSIONS)
def test_printing_a_tree_and_parsing_it_gives_the_tree_back(
    fields: list[tuple[str, n.Expr]], wheres: list[n.Expr], rule: n.Expr
) -> None:
    tree = mapping(fields, wheres, rule)
    text = format_mapping(tree)
    parsed, diagnostics = parse(text)
    assert diagnostics == [], text
    assert shape(parsed) == shape(tree), text
    assert format_mapping(parsed) == text
