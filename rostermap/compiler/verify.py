"""The post-condition on generated code: it compiles, and it only calls what it may.

Literals are emitted through a guarded repr and identifiers through mangle(), so
mapping text cannot become code by construction; this check makes the guarantee
observable. It walks the module's syntax tree and refuses any call that is not a
polars expression method, a runtime library function or a plan constructor, and
any name that the generated module does not define or import.
"""

from __future__ import annotations

import ast
import builtins
import types
from pathlib import PurePath

__all__ = ["VerificationError", "compiled_name", "verify"]

_ROOTS = frozenset({"pl", "fn", "col", "Check", "Column", "Counter", "Expect", "Fail", "Join",
                    "Limit",
                    "Lookup", "Member", "Missing", "Output", "Param", "Rule", "Warn", "p"})
_IMPORTS = frozenset({"__future__", "polars", "rostermap.runtime.engine",
                      "rostermap.runtime.engine.plans"})
_BUILTINS = frozenset({"dict", "str", "object", "None", "True", "False"})


class VerificationError(Exception):
    pass


def _root(node: ast.expr) -> ast.expr:
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node


def compiled_name(filename: str) -> str:
    """The file name a generated module's code carries (in tracebacks): the mapping's
    name, not its folder, so that a module compiled now and one loaded from the
    compile cache read alike."""
    return f"<compiled {PurePath(filename).name}>"


def verify(source: str, filename: str) -> types.CodeType:
    """The module's code object, compiled from the tree this walks; raises
    :class:`VerificationError` unless the module is plain, allowed code.

    The caller executes this code object rather than compiling the source again:
    what runs is then the very tree verified here, and a cached module is parsed and
    compiled once per load instead of twice.
    """
    try:
        tree = ast.parse(source, filename)
        code = compile(tree, filename, "exec")
    except SyntaxError as error:  # pragma: no cover - a code generator bug
        raise VerificationError(f"generated code does not compile: {error}") from error
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    defined |= {t.id for n in tree.body if isinstance(n, ast.Assign)
                for t in n.targets if isinstance(t, ast.Name)}
    allowed = _ROOTS | defined | _BUILTINS
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            if module not in _IMPORTS:
                raise VerificationError(f"line {node.lineno}: import of {module}")
        elif isinstance(node, ast.Call):
            root = _root(node.func)
            if not (isinstance(root, ast.Name) and root.id in allowed - {"p"}):
                raise VerificationError(f"line {node.lineno}: call of {ast.unparse(node.func)}")
        elif isinstance(node, ast.Name) and node.id not in allowed:
            if node.id in dir(builtins) or isinstance(node.ctx, ast.Load):
                raise VerificationError(f"line {node.lineno}: name {node.id}")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("__"):
            raise VerificationError(f"line {node.lineno}: dunder attribute {node.attr}")
        elif isinstance(node, ast.Lambda | ast.ClassDef | ast.AsyncFunctionDef | ast.Global):
            raise VerificationError(f"line {node.lineno}: {type(node).__name__}")
    return code
