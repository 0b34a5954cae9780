"""A TextMate grammar for mapping files, generated from the Lark grammar.

Editors (VS Code, Sublime Text, most others through TextMate bundles) highlight
with regular-expression grammars. Generating ours from ``grammar.lark`` keeps
them in step: every keyword the parser knows is classified here, and adding a
keyword to the language without classifying it fails the generator (and so the
test that compares the committed grammar with a fresh one).
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

from rostermap.runtime.engine.functions import REGISTRY

__all__ = ["grammar", "keywords", "render"]

SCOPE = "rostermap"
# Every keyword of grammar.lark, by the role it plays for a reader.
ROLES: dict[str, tuple[str, ...]] = {
    "keyword.other.declaration": (
        "profile", "library", "extends", "import", "oneroster", "require", "bundle", "param",
        "rule", "define", "output", "from", "naming", "ignoring", "case",
    ),
    "keyword.other.statement": ("where", "key", "sort", "by", "distinct", "allow", "empty",
                                "warn", "counter", "reject", "for", "each", "when", "missing",
                                "after", "with", "limit", "per", "expect", "unique", "rows"),
    "keyword.control": ("if", "then", "else", "match"),
    "keyword.operator.word": ("and", "or", "not", "in", "is", "empty", "any", "all", "none",
                              "of"),
    "constant.language": ("true", "false", "this"),
}
# push outputs (API writes): the block's word, then its statements
ROLES["keyword.other.declaration"] += ("push",)
ROLES["keyword.other.statement"] += ("send", "create", "capture", "body", "link", "to")


def keywords() -> set[str]:
    """The words the Lark grammar uses as keywords (its quoted literals that are words)."""
    text = resources.files("rostermap.dsl").joinpath("grammar.lark").read_text(encoding="utf-8")
    rules = "\n".join(line.split("//", 1)[0] for line in text.splitlines())
    return set(re.findall(r'"([a-z]+)"', rules))


def _words(words: tuple[str, ...]) -> str:
    return r"\b(" + "|".join(sorted(words, key=lambda w: (-len(w), w))) + r")\b"


def grammar() -> dict[str, Any]:
    """The grammar as a JSON-ready dict."""
    classified = {w for words in ROLES.values() for w in words}
    missing, stale = keywords() - classified, classified - keywords()
    if missing or stale:
        raise ValueError(f"classify keywords {sorted(missing)}; remove {sorted(stale)}")
    name = r"[A-Za-z_][A-Za-z0-9_]*"
    slug = r"[A-Za-z0-9][A-Za-z0-9_.\-]*"
    functions = tuple(REGISTRY)
    repository: dict[str, Any] = {
        "comment": {"name": f"comment.line.number-sign.{SCOPE}", "match": r"#.*$"},
        "string": {
            "name": f"string.quoted.double.{SCOPE}",
            "begin": '"',
            "end": '"|$',
            "patterns": [{"name": f"constant.character.escape.{SCOPE}", "match": r"\\."}],
        },
        "header": {
            "match": rf"^\s*(profile|library|extends|import)\s+({slug})",
            "captures": {"1": {"name": f"keyword.other.declaration.{SCOPE}"},
                         "2": {"name": f"entity.name.type.{SCOPE}"}},
        },
        "output": {
            "match": rf"^\s*(output)\s+({slug})\s+(from)\s+({name})",
            "captures": {"1": {"name": f"keyword.other.declaration.{SCOPE}"},
                         "2": {"name": f"entity.name.section.{SCOPE}"},
                         "3": {"name": f"keyword.other.declaration.{SCOPE}"},
                         "4": {"name": f"support.class.{SCOPE}"}},
        },
        "column": {
            "match": rf"^\s*({name})\s*(<-)",
            "captures": {"1": {"name": f"variable.other.member.{SCOPE}"},
                         "2": {"name": f"keyword.operator.assignment.{SCOPE}"}},
        },
        "definition": {
            "match": rf"^\s*(param|rule|define)\s+({name})",
            "captures": {"1": {"name": f"keyword.other.declaration.{SCOPE}"},
                         "2": {"name": f"entity.name.function.{SCOPE}"}},
        },
        "function": {
            "match": _words(functions) + r"(?=\s*\()",
            "captures": {"1": {"name": f"support.function.builtin.{SCOPE}"}},
        },
        "number": {"name": f"constant.numeric.{SCOPE}", "match": r"\b\d+(\.\d+)?\b"},
        "operator": {"name": f"keyword.operator.{SCOPE}",
                     "match": r"<-|->|!=|<=|>=|=|<|>|\+|-|\|"},
    }
    order = ["comment", "string", "header", "output", "definition", "column", "function"]
    for role, words in ROLES.items():
        key = role.rsplit(".", 1)[-1] if role != "constant.language" else "constant"
        repository[key] = {"name": f"{role}.{SCOPE}", "match": _words(words)}
        order.append(key)
    order += ["number", "operator"]
    return {
        "$schema": "https://raw.githubusercontent.com/martinring/tmlanguage/master/"
                   "tmlanguage.json",
        "name": "rostermap mapping",
        "scopeName": f"source.{SCOPE}",
        "fileTypes": ["rmap"],
        "patterns": [{"include": f"#{key}"} for key in order],
        "repository": repository,
    }


def render() -> str:
    """editors/rostermap.tmLanguage.json, as committed."""
    return json.dumps(grammar(), indent=2, ensure_ascii=False) + "\n"
