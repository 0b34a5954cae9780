"""RM1xx: syntax. The parser's problems, in the words of the people who write mappings."""

from __future__ import annotations

from rostermap.dsl import limits
from rostermap.dsl.codes._registry import Draft, code
from rostermap.dsl.codes._wording import did_you_mean
from rostermap.dsl.diagnostics import Label
from rostermap.dsl.span import Span

__all__ = [
    "number_too_large",
    "too_deep",
    "too_long_literal",
    "too_many_outputs",
    "invalid_escape",
    "keyword_as_column",
    "misplaced_else",
    "misplaced_header",
    "missing_arrow",
    "missing_profile",
    "repeated_in_output",
    "statement_outside_output",
    "unclosed_bracket",
    "unexpected_character",
    "unexpected_end",
    "unexpected_word",
    "unknown_statement",
    "unparenthesized_match",
    "unterminated_string",
]


@code("RM100", "unexpected character",
      "A character that cannot start any word of the language.")
def unexpected_character(char: str, span: Span) -> Draft:
    return Draft(f"unexpected character {char!r}", Label(span, "not part of the language"))


_SYNTAX_ERROR = code("RM101", "syntax error",
                     "The parser met a word it did not expect at this place.")


@_SYNTAX_ERROR
def unexpected_word(expected: str, found: str, span: Span, two_values: bool = False) -> Draft:
    """``expected`` and ``found`` describe grammar words (`<-`, a name, the string "x")."""
    notes = ("help: two values in a row need an operator or a comma between them",)
    return Draft(f"expected {expected}, found {found}", Label(span, "unexpected here"),
                 notes=notes if two_values else ())


@_SYNTAX_ERROR
def unknown_statement(word: str, span: Span, hint: str | None) -> Draft:
    return Draft(f"unknown statement `{word}`", Label(span, "not a statement"),
                 notes=did_you_mean(hint))


@_SYNTAX_ERROR
def unparenthesized_match(span: Span) -> Draft:
    return Draft("`match` must be in parentheses here", Label(span, "this match"),
                 notes=("help: `match` stands alone after `<-`, `=` or `where`; elsewhere "
                        "write (match x: ...)",))


@_SYNTAX_ERROR
def misplaced_else(span: Span) -> Draft:
    return Draft("`else` must be the last arm of `match`, and appear once",
                 Label(span, "this `else` arm"))


@code("RM102", "unterminated string", "A string literal must end with `\"` on the same line.")
def unterminated_string(span: Span) -> Draft:
    return Draft("unterminated string", Label(span, "this string never ends"),
                 notes=('help: close the string with `"` on the same line',))


@code("RM103", "missing `<-`", "A column rule is `column <- expression`.")
def missing_arrow(column: str, found: str, span: Span) -> Draft:
    return Draft(f"expected `<-` after the column name `{column}`, found {found}",
                 Label(span, "expected `<-` here"),
                 notes=("help: a column rule reads `column <- expression`",))


_UNEXPECTED_END = code("RM104", "unexpected end of statement",
                       "The statement ended inside an expression or bracket.")


@_UNEXPECTED_END
def unclosed_bracket(bracket: str, opened: Span, end: Span) -> Draft:
    return Draft(f"`{bracket}` is never closed", Label(opened, "opened here"),
                 secondary=(Label(end, "statement ends here"),))


@_UNEXPECTED_END
def unexpected_end(expected: str, span: Span) -> Draft:
    return Draft(f"expected {expected}, found the end of the statement",
                 Label(span, "statement ends here"))


@code("RM105", "invalid string escape",
      "Strings take JSON's escapes: `\\\"` `\\\\` `\\/` `\\b` `\\f` `\\n` `\\r` `\\t` and "
      "`\\uXXXX`; a surrogate (`\\uD800` to `\\uDFFF`) only as half of a pair.")
def invalid_escape(span: Span, lone_surrogate: bool = False) -> Draft:
    if lone_surrogate:
        return Draft("invalid escape in string", Label(span, "half of a surrogate pair"),
                     notes=("help: \\uD800 to \\uDFFF come in pairs; write the character "
                            "itself",))
    return Draft("invalid escape in string", Label(span, "not a valid escape"),
                 notes=('help: write \\" for a quote, \\\\ for a backslash, \\n for a new line',))


@code("RM106", "statement outside an output",
      "`where`, `key`, `sort by`, `distinct`, `for each`, `warn`, `counter`, `reject`, "
      "`when missing`, `limit` and column rules belong to the `output` block above them.")
def statement_outside_output(span: Span) -> Draft:
    return Draft("this statement belongs inside an output", Label(span, "no `output` line above"),
                 notes=("help: start the block with `output <file> from <entity>`",))


_DUPLICATE_HEADER = code(
    "RM107", "duplicate header",
    "`profile` (or `library`), `oneroster` and `extends` appear once, and they and "
    "`import` come before the first output; an output has one `for each` and one "
    "`when missing` at most.")


@_DUPLICATE_HEADER
def misplaced_header(word: str, span: Span) -> Draft:
    return Draft(f"`{word}` must appear once, before the first output", Label(span, "misplaced"))


@_DUPLICATE_HEADER
def repeated_in_output(statement: str, span: Span) -> Draft:
    return Draft(f"an output has one `{statement}` at most", Label(span, "a second one"))


@code("RM108", "missing profile",
      "A mapping file names its profile with `profile <name>`; a library file starts with "
      "`library <name>` instead.")
def missing_profile(span: Span) -> Draft:
    return Draft("the mapping has no `profile` line", Label(span),
                 notes=("help: start the file with `profile <name> \"<title>\"`",))


@code("RM109", "keyword used as a column",
      "A column named like a statement word (`key`, `where`, ...) must be quoted.")
def keyword_as_column(word: str, span: Span) -> Draft:
    return Draft(f"`{word}` is a keyword and cannot name a column as it is",
                 Label(span, "keyword"), notes=(f'help: quote the column name: "{word}" <- ...',))


# --- RM110-RM113: the bounds of a mapping (rostermap/dsl/limits.py) ----------------------


@code("RM110", "expression nested too deep",
      f"A statement's syntax tree is at most {limits.MAX_DEPTH} levels deep: a call counts "
      "two, an operator (each term of a chain), `not`, `if` or a list one.")
def too_deep(depth: int, span: Span) -> Draft:
    return Draft(f"this statement nests {depth} levels deep, past the limit of "
                 f"{limits.MAX_DEPTH}", Label(span, "too deep"),
                 notes=("help: name parts of it with `define` or `rule`; a long chain of `+` "
                        "is concat(a, b, c, ...)",))


@code("RM111", "string literal too long",
      f"A string literal holds at most {limits.MAX_LITERAL:,} characters.")
def too_long_literal(length: int, span: Span) -> Draft:
    return Draft(f"this string is {length:,} characters long, past the limit of "
                 f"{limits.MAX_LITERAL:,}", Label(span, "too long"),
                 notes=("help: a long list of values belongs in a table parameter (a CSV "
                        "file given with --param)",))


@code("RM112", "number too large",
      f"A whole number in a mapping is at most {limits.MAX_INT:,} (either sign).")
def number_too_large(text: str, span: Span) -> Draft:
    return Draft(f"`{text}` is past the largest number a mapping may hold, "
                 f"{limits.MAX_INT:,}", Label(span, "too large"))


@code("RM113", "too many outputs",
      f"A mapping file has at most {limits.MAX_OUTPUTS:,} outputs.")
def too_many_outputs(span: Span) -> Draft:
    return Draft(f"this mapping has more than {limits.MAX_OUTPUTS:,} outputs; the rest are "
                 "not read", Label(span, "one too many"),
                 notes=("note: a product imports a handful of files; a file this size is "
                        "probably generated by mistake",))
