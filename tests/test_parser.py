"""The parser: statements, the syntax tree and its spans, and that it never crashes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rostermap.dsl import nodes as n
from rostermap.dsl import parse
from rostermap.dsl.parser import split_statements
from tests.fuzzing import fuzz_settings


def one_field(text: str) -> n.Expr:
    mapping, diagnostics = parse(f"profile p\noutput o.csv from users\n  c <- {text}\n")
    assert diagnostics == []
    return mapping.outputs[0].fields[0].value


def test_header_params_rules_and_outputs() -> None:
    text = (
        'profile demo "Demo product"\n'
        "oneroster 1.1, 1.2\n"
        "param year: int\n"
        'param schools: list[str] = []\n'
        'rule active = status in ("", "active")\n'
        "output users.csv from users\n"
        "  where active\n"
        "  key user_id\n"
        "  distinct\n"
        "  user_id <- sourcedId\n"
        '  "First Name" <- givenName\n'
        '  warn "no email" if email is empty\n'
    )
    mapping, diagnostics = parse(text, "demo.rmap")
    assert diagnostics == []
    assert mapping.profile is not None and mapping.profile.name.name == "demo"
    assert mapping.profile.title == "Demo product"
    assert [v.name for v in mapping.versions.versions] == ["1.1", "1.2"]  # type: ignore[union-attr]
    assert [p.name.name for p in mapping.params] == ["year", "schools"]
    assert str(mapping.params[1].type) == "list[str]"
    assert mapping.rules[0].name.name == "active"
    out = mapping.outputs[0]
    assert (out.file.name, out.entity.name) == ("users.csv", "users")
    assert out.distinct is not None and out.distinct.line == 9
    assert [f.column.name for f in out.fields] == ["user_id", "First Name"]
    assert [k.name for k in out.key] == ["user_id"]
    assert out.warns[0].message == "no email"


def test_a_parameter_naming_records() -> None:
    text = ("profile p\n"
            "param admins: list[str] = [] naming users by email ignoring case\n"
            "param orgs: list[str] naming orgs by sourcedId, identifier\n"
            "output o.csv from users\n  case <- sourcedId\n")
    mapping, diagnostics = parse(text)
    assert diagnostics == []
    admins, orgs = (p.naming for p in mapping.params)
    assert admins is not None and orgs is not None
    assert (admins.entity.name, [f.name for f in admins.fields], admins.ignore_case) == (
        "users", ["email"], True)
    assert (orgs.entity.name, [f.name for f in orgs.fields], orgs.ignore_case) == (
        "orgs", ["sourcedId", "identifier"], False)
    assert text[orgs.span.start:orgs.span.end] == "naming orgs by sourcedId, identifier"
    # `case` stays a name where the clause cannot be
    assert mapping.outputs[0].fields[0].column.name == "case"


def test_spans_point_at_the_text() -> None:
    text = "profile p\noutput o.csv from users\n  first_name <- givenName\n"
    mapping, _ = parse(text)
    value = mapping.outputs[0].fields[0].value
    assert isinstance(value, n.Name)
    assert (value.span.line, value.span.column) == (3, 17)
    assert text[value.span.start:value.span.end] == "givenName"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ('"a"', n.Literal),
        ("12", n.Literal),
        ("true", n.Literal),
        ("orgs[0].sourcedId", n.Attr),
        ("school.name", n.Attr),
        ("lower(email)", n.Call),
        ('if a = "x" then b else c', n.If),
        ('match role: "student" -> "S", else -> "T"', n.Match),
        ("[1, 2]", n.ListExpr),
        ('("a", "b")', n.ListExpr),
        ("a + b", n.Arith),
        ("-3", n.Literal),
    ],
)
def test_expression_kinds(text: str, kind: type) -> None:
    assert isinstance(one_field(text), kind)


def test_operator_precedence() -> None:
    value = one_field("not a = 1 and b in (1, 2) or c is not empty")
    assert isinstance(value, n.BoolOp) and value.op == "or"
    left = value.operands[0]
    assert isinstance(left, n.BoolOp) and left.op == "and"
    assert isinstance(left.operands[0], n.Not)
    assert isinstance(left.operands[1], n.In)
    assert isinstance(value.operands[1], n.IsEmpty) and value.operands[1].negated


def test_lookup_and_quantifier() -> None:
    value = one_field('min(user.sourcedId of enrollments where class = this and primary)')
    assert isinstance(value, n.Call)
    lookup = value.args[0]
    assert isinstance(lookup, n.Lookup) and lookup.entity.name == "enrollments"
    assert isinstance(lookup.where, n.BoolOp)
    quant = one_field("any of orgs in schools")
    assert isinstance(quant, n.Quantified) and quant.quantifier == "any"


def test_match_arms_with_alternatives_and_default() -> None:
    value = one_field('match role: "aide" | "proctor" -> "X", "student" -> "S", else -> ""')
    assert isinstance(value, n.Match)
    assert [a.patterns[0].value for a in value.arms] == ["aide", "student"]
    assert len(value.arms[0].patterns) == 2
    assert isinstance(value.default, n.Literal)


def test_string_escapes_are_decoded() -> None:
    value = one_field(r'"a \"quoted\" word\nnext"')
    assert isinstance(value, n.Literal) and value.value == 'a "quoted" word\nnext'


def test_statements_continue_over_lines() -> None:
    text = (
        "profile p\n"
        "output o.csv from classes\n"
        "  where status = \"active\" and\n"
        "        title != \"\"\n"
        "  where classCode != \"\"\n"
        "     or title != \"\"\n"
        "  t <- min(user.sourcedId of enrollments\n"
        "           where class = this)\n"
        "  u <- match classType:\n"
        '         "homeroom" -> "H",\n'
        '         "scheduled" -> "S"\n'
        "  v <- if title = \"\"\n"
        "       then classCode else title\n"
    )
    spans, _ = split_statements(text)
    assert len(spans) == 7
    mapping, diagnostics = parse(text)
    assert diagnostics == []
    out = mapping.outputs[0]
    assert len(out.wheres) == 2 and len(out.fields) == 3


def test_forgotten_bracket_does_not_swallow_the_next_statements() -> None:
    text = "profile p\noutput o.csv from users\n  a <- lower(email\n  b <- givenName\n"
    mapping, diagnostics = parse(text)
    assert [d.code for d in diagnostics] == ["RM104"]
    assert [f.column.name for f in mapping.outputs[0].fields] == ["b"]


def test_comments_are_kept_and_hash_in_strings_is_text() -> None:
    text = 'profile p # the profile\noutput o.csv from users\n  c <- "#1"  # a note\n'
    mapping, diagnostics = parse(text)
    assert diagnostics == []
    assert [c.text for c in mapping.comments] == ["# the profile", "# a note"]
    value = mapping.outputs[0].fields[0].value
    assert isinstance(value, n.Literal) and value.value == "#1"


def test_every_problem_of_a_file_is_reported() -> None:
    text = "profile p\noutput o.csv from users\n  a givenName\n  b <- (\n  c <- \"x\n  d <- ok\n"
    mapping, diagnostics = parse(text)
    assert [d.code for d in diagnostics] == ["RM103", "RM104", "RM102"]
    assert [f.column.name for f in mapping.outputs[0].fields] == ["d"]


_WORDS = st.sampled_from([
    "profile", "output", "from", "where", "key", "param", "rule", "match", "if", "then", "else",
    "and", "or", "not", "in", "is", "empty", "any", "of", "this", "users", "x", "a.b", "<-",
    "->", "=", "!=", "<", "(", ")", "[", "]", ",", ":", '"s"', '"', "1", "1.5", "#c", "\n",
    "  ", "|", "+", "-", ".", "users.csv", "true", "@", "\t", "\r\n",
])


@pytest.mark.fuzz
@fuzz_settings(300)
@given(st.lists(_WORDS, max_size=40).map(" ".join))
def test_any_token_soup_gives_a_tree_or_diagnostics(text: str) -> None:
    mapping, diagnostics = parse(text)
    assert isinstance(mapping, n.Mapping)
    for d in diagnostics:
        assert d.primary is not None
        assert 0 <= d.primary.span.start <= d.primary.span.end <= len(text)


@pytest.mark.fuzz
@fuzz_settings(200)
@given(st.text(max_size=200))
def test_any_text_gives_a_tree_or_diagnostics(text: str) -> None:
    mapping, diagnostics = parse(text)
    assert isinstance(mapping, n.Mapping)
    assert all(d.code.startswith("RM1") for d in diagnostics)
