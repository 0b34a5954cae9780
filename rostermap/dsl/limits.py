"""How large a mapping may be: bounds well past any real profile, so that a hostile
or broken file is a located diagnostic instead of a RecursionError, a MemoryError or
a module Python refuses to compile.

Real profiles nest expressions a few levels deep, have a dozen outputs and import
one library; the bounds leave room for a hundred times that.
"""

from __future__ import annotations

# Levels of a statement's syntax tree: a call counts two, an operator, `not`, `if` or
# a list one. Downstream passes recurse once per level and the generated module nests
# a parenthesis per level, which Python refuses past 200.
MAX_DEPTH = 100
MAX_LITERAL = 64 * 1024  # characters of one string literal
MAX_INT = 10**15  # the largest whole number written in a mapping (any sign)
MAX_OUTPUTS = 1_000  # outputs in one mapping file
MAX_IMPORTS = 16  # files in a chain of `extends` and `import`
MAX_GRACE_RUNS = 10_000  # `when missing ... after N runs`
MAX_GRACE_DAYS = 36_600  # `when missing ... after N days`: a hundred years
