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
from rostermap.dsl.format import WIDTH, format_mapping, format_text
from rostermap.dsl.span import Span

ROOT = Path(__file__).resolve().parent.parent
# The golden cases that parse: RM1xx cases do not, nor RM332's (a match arm the parser
# refuses).
SHIPPED = sorted([*ROOT.glob("rostermap/mappings/*.rmap"), *ROOT.glob("examples/**/*.rmap")])
FILES = sorted([*SHIPPED, *(p for p in (ROOT / "tests" / "cases" / "diagnostics").glob("RM[23]*.rmap")
                            if not p.name.startswith("RM332"))])
DOC_BLOCKS = [(f"{doc.name}#{i}", block) for doc in sorted((ROOT / "docs").glob("*.md"))
              for i, block in enumerate(re.findall(r"```rmap\n(.*?)```", doc.read_text(),
                                                   flags=re.S))]


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


@pytest.mark.parametrize(("name", "block"), DOC_BLOCKS, ids=[b[0] for b in DOC_BLOCKS])
def test_documentation_examples_are_in_the_canonical_layout(name: str, block: str) -> None:
    """Every example in docs/ is as `fmt` writes it: the docs show the layout fmt keeps."""
    assert format_text(block) == block, f"{name}: write the example as rostermap fmt does"
    assert max(len(line) for line in block.splitlines()) <= WIDTH, name


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_mappings_are_formatted_and_within_the_width(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert format_text(text) == text, f"run rostermap fmt {path}"
    long = [i for i, line in enumerate(text.splitlines(), 1) if len(line) > WIDTH]
    assert not long, f"{path.name}: lines {long} are over {WIDTH} columns"


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
    assert max(len(line) for line in formatted.splitlines()) <= WIDTH
    assert "\n        and title" in formatted
    assert "\n           where class = this\n" in formatted
    same_meaning(text, formatted)


def layout_of(text: str) -> str:
    formatted = format_text(text)
    assert formatted is not None
    same_meaning(text, formatted)
    assert format_text(formatted) == formatted
    return formatted


def test_a_condition_too_long_breaks_before_then_else_and_or() -> None:
    condition = " and ".join(f'{f}.status in ("", "active")' for f in ("user", "class", "school"))
    text = (f'profile p\noutput o.csv from enrollments\n'
            f'  s <- if exists(sourcedId of enrollments where class = this.class and user = '
            f'this.user and role = this.role) and {condition} then "active" else "deleted"\n')
    assert layout_of(text).endswith(
        '  s <- if exists(sourcedId of enrollments\n'
        '                 where class = this.class and user = this.user and role = this.role)\n'
        '          and user.status in ("", "active")\n'
        '          and class.status in ("", "active")\n'
        '          and school.status in ("", "active")\n'
        '       then "active"\n'
        '       else "deleted"\n')


def test_a_statement_that_fits_stays_on_one_line() -> None:
    text = 'profile p\noutput o.csv from users\n  s <- if enabledUser then "a" else "b"\n'
    assert layout_of(text).endswith('  s <- if enabledUser then "a" else "b"\n')


def test_a_break_the_author_made_is_kept() -> None:
    text = ('profile p\noutput o.csv from users\n  where role = "student"\n'
            '        or role = "teacher"\n  x <- join(orgs.name,\n "; ")\n')
    formatted = layout_of(text)
    assert '  where role = "student"\n        or role = "teacher"\n' in formatted
    assert '  x <- join(orgs.name,\n            "; ")\n' in formatted


def test_else_if_chains_have_one_arm_per_line() -> None:
    text = ('profile p\noutput o.csv from users\n  x <- if role = "student" then "s" '
            'else if role = "teacher" then "t" else if role = "aide" then "a" else ""\n')
    assert layout_of(text).endswith(
        '  x <- if role = "student" then "s"\n'
        '       else if role = "teacher" then "t"\n'
        '       else if role = "aide" then "a"\n'
        '       else ""\n')


def test_reasons_and_warnings_put_their_condition_on_a_line_of_their_own() -> None:
    text = ('profile p\noutput o.csv from users\n  id <- sourcedId\n'
            '  reject "login_id used by another user (ignoring case)" if count(sourcedId of '
            'users where lower(username) = lower(this.username)) > 1\n'
            '  where role in ("student", "teacher") or enabledUser else warn "listed as an '
            'admin, not an administrator in OneRoster: not imported"\n')
    formatted = layout_of(text)
    assert ('  where role in ("student", "teacher") or enabledUser\n'
            '        else warn "listed as an admin, not an administrator in OneRoster: not '
            'imported"\n') in formatted
    assert ('  reject "login_id used by another user (ignoring case)"\n'
            '      if count(sourcedId of users where lower(username) = lower(this.username)) > 1\n'
            ) in formatted


def test_lists_are_written_in_brackets_and_alternatives_in_parentheses() -> None:
    text = ('profile p\nparam t: list[str] = ("term", "semester")\nparam u: list[str] = []\n'
            'output o.csv from users\n  where role in ["student", "teacher"]\n  x <- role\n')
    formatted = layout_of(text)
    assert 'param t: list[str] = ["term", "semester"]\nparam u: list[str] = []\n' in formatted
    assert '  where role in ("student", "teacher")\n' in formatted


def test_a_comment_that_does_not_fit_beside_goes_above() -> None:
    comment = "# " + "why " * 19 + "why"
    text = (f'profile p\noutput o.csv from users\n  id <- sourcedId\n'
            f'  name <- concat(givenName, " ", familyName, " ", middleName)  {comment}\n')
    formatted = layout_of(text)
    assert f"  {comment}\n  name <- concat(" in formatted
    assert max(len(line) for line in formatted.splitlines()) <= WIDTH


def test_rules_and_definitions_keep_their_order() -> None:
    text = ('profile p\ndefine d(x) = lower(x)\nrule r = d(role) = "student"\n'
            'output o.csv from users\n  where r\n  x <- role\n')
    assert layout_of(text).startswith(
        'profile p\n\ndefine d(x) = lower(x)\nrule r = d(role) = "student"\n\noutput')


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


MAPPINGS = st.builds(mapping,
                     st.lists(st.tuples(COLUMNS, EXPRESSIONS), min_size=1, max_size=3,
                              unique_by=lambda f: f[0]),
                     st.lists(EXPRESSIONS, max_size=2), EXPRESSIONS)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MAPPINGS)
def test_printing_a_tree_and_parsing_it_gives_the_tree_back(tree: n.Mapping) -> None:
    text = format_mapping(tree)
    parsed, diagnostics = parse(text)
    assert diagnostics == [], text
    assert shape(parsed) == shape(tree), text
    assert format_mapping(parsed) == text


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MAPPINGS, st.integers(10, 160))
def test_formatting_any_layout_keeps_the_tree_and_is_idempotent(tree: n.Mapping,
                                                                width: int) -> None:
    """An author's layout (the mapping laid out to another width, broken elsewhere):
    fmt gives the same tree, and fmt of that is itself."""
    authored = format_mapping(tree, width=width)
    formatted = format_text(authored)
    assert formatted is not None, authored
    assert shape(parse(formatted)[0]) == shape(parse(authored)[0]) == shape(tree), formatted
    assert format_text(formatted) == formatted, authored


def test_a_break_that_would_start_a_statement_is_not_made() -> None:
    # `limit` first on a line would begin a `limit` statement: the call stays whole
    args = ", ".join(['"' + "a" * 20 + '"'] * 5)
    text = f'profile p\ndefine limit = "x"\noutput o.csv from users\n  x <- concat({args}, limit)\n'
    assert layout_of(text).endswith(f"  x <- concat({args}, limit)\n")
