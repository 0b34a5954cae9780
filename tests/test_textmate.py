"""The editors' TextMate grammar: current with the Lark grammar, and it highlights right."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from rostermap.compiler.textmate import ROLES, grammar, keywords, render
from tests.conftest import ROOT

COMMITTED = ROOT / "editors" / "vscode" / "rostermap.tmLanguage.json"


def test_committed_grammar_is_current() -> None:
    """Run `python scripts/update_docs.py` when this fails."""
    assert COMMITTED.read_text(encoding="utf-8") == render()


def test_every_keyword_of_the_language_has_a_role() -> None:
    classified = {w for words in ROLES.values() for w in words}
    assert keywords() == classified
    assert {"where", "match", "extends", "define", "this", "of"} <= keywords()


def scopes(line: str) -> list[tuple[str, str]]:
    """Tokens of a line and their scope names: the pattern matching earliest wins,
    earlier patterns win ties, as TextMate does (begin/end rules as one match)."""
    g = grammar()
    rules = [g["repository"][p["include"][1:]] for p in g["patterns"]]
    compiled: list[tuple[re.Pattern[str], dict[str, Any]]] = []
    for rule in rules:
        pattern = rule.get("match") or f'{rule["begin"]}(?:[^"\\\\]|\\\\.)*(?:"|$)'
        compiled.append((re.compile(pattern, re.M), rule))
    out, at = [], 0
    while at < len(line):
        best = None
        for pattern, rule in compiled:
            m = pattern.search(line, at)
            if m and m.end() > m.start() and (best is None or m.start() < best[0].start()):
                best = (m, rule)
        if best is None:
            break
        m, rule = best
        if "captures" in rule:
            for group, capture in rule["captures"].items():
                out.append((m.group(int(group)), capture["name"]))
        else:
            out.append((m.group(), rule["name"]))
        at = m.end()
    return out


@pytest.mark.parametrize(("line", "expected"), [
    ("  first_name <- lower(givenName)  # the seed's name",
     [("first_name", "variable.other.member"), ("<-", "keyword.operator.assignment"),
      ("lower", "support.function.builtin"), ("# the seed's name", "comment.line")]),
    ('  where status in ("", "active") and not primary',
     [("where", "keyword.other.statement"), ("in", "keyword.operator.word"),
      ('""', "string.quoted"), ('"active"', "string.quoted"), ("and", "keyword.operator.word"),
      ("not", "keyword.operator.word")]),
    ("output users.csv from users",
     [("output", "keyword.other.declaration"), ("users.csv", "entity.name.section"),
      ("from", "keyword.other.declaration"), ("users", "support.class")]),
    ('profile powerschool-learning "PowerSchool Learning"',
     [("profile", "keyword.other.declaration"), ("powerschool-learning", "entity.name.type"),
      ('"PowerSchool Learning"', "string.quoted")]),
    ('  t <- match role: "student" -> "S", else -> ""',
     [("t", "variable.other.member"), ("<-", "keyword.operator.assignment"),
      ("match", "keyword.control"), ('"student"', "string.quoted"), ("->", "keyword.operator"),
      ('"S"', "string.quoted"), ("else", "keyword.control"), ("->", "keyword.operator"),
      ('""', "string.quoted")]),
    ('  x <- "a # not a comment \\" still" # a comment',
     [("x", "variable.other.member"), ("<-", "keyword.operator.assignment"),
      ('"a # not a comment \\" still"', "string.quoted"), ("# a comment", "comment.line")]),
    ("rule active = this in users.csv and count(x) > 2",
     [("rule", "keyword.other.declaration"), ("active", "entity.name.function"),
      ("=", "keyword.operator"), ("this", "constant.language"), ("in", "keyword.operator.word"),
      ("and", "keyword.operator.word"), ("count", "support.function.builtin"),
      (">", "keyword.operator"), ("2", "constant.numeric")]),
])
def test_highlighting(line: str, expected: list[tuple[str, str]]) -> None:
    found = [(text, scope.removesuffix(".rostermap")) for text, scope in scopes(line)]
    for (text, scope), (got_text, got_scope) in zip(expected, found, strict=True):
        assert got_text == text and got_scope.startswith(scope), (found, expected)


def test_committed_file_is_valid_json_for_editors() -> None:
    data = json.loads(COMMITTED.read_text())
    assert data["scopeName"] == "source.rostermap" and data["fileTypes"] == ["rmap"]
