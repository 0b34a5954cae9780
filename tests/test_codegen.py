"""Code generation: readable, deterministic modules, and no way for mapping text to run."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import polars as pl
import pytest

from rostermap.compiler import compile_mapping
from rostermap.compiler.codegen import comment, literal
from rostermap.compiler.naming import mangle
from rostermap.compiler.verify import VerificationError, verify
from rostermap.runtime.engine.functions import REGISTRY
from rostermap.runtime.engine.plans import col
from rostermap.runtime.run.loader import is_library, load_mapping, resolver

MAPPINGS = sorted(p for p in (Path(__file__).resolve().parent.parent / "rostermap" / "mappings").glob("*.rmap")
                  if not is_library(p))


@pytest.mark.parametrize("mapping", MAPPINGS, ids=[m.stem for m in MAPPINGS])
def test_generated_module_snapshot(mapping: Path, py_snapshot) -> None:  # type: ignore[no-untyped-def]
    compiled = compile_mapping(mapping.read_text(), f"mappings/{mapping.name}", resolver())
    assert compiled.code is not None, compiled.diagnostics
    assert compiled.code == py_snapshot


@pytest.mark.parametrize("mapping", MAPPINGS, ids=[m.stem for m in MAPPINGS])
def test_generation_is_deterministic(mapping: Path) -> None:
    first = compile_mapping(mapping.read_text(), str(mapping)).code
    second = compile_mapping(mapping.read_text(), str(mapping)).code
    assert first == second


def test_source_map_names_the_mapping_line() -> None:
    text = ("profile p\n\noutput u.csv from users\n  where status = \"active\"\n"
            "  user_id <- sourcedId\n  mail <- lower(email)\n")
    compiled = compile_mapping(text, "p.rmap")
    assert compiled.code is not None
    lines = compiled.code.splitlines()
    namespace: dict[str, object] = {}
    exec(compile(compiled.code, "<m>", "exec"), namespace)
    source_map = namespace["SOURCE_MAP"]
    assert isinstance(source_map, dict)
    for python_line, mapping_line in source_map.items():
        code = lines[python_line - 1]
        if "Column('mail'" in code:
            assert mapping_line == 6
        if "Column('user_id'" in code:
            assert mapping_line == 5
    assert {4, 5, 6} <= set(source_map.values())


HOSTILE = [
    '"); import os; os.system("touch pwned") #',
    "'''\nimport os\n'''",
    '"""\n__import__("os").system("touch pwned")\n"""',
    "\\x00\\u2028 line\\nbreak",
    "${jndi:ldap://x}",
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_strings_come_out_as_data(hostile: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    escaped = hostile.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    text = (
        f'profile p "{escaped}"\n'
        f'param x: str = "{escaped}"\n'
        f'rule r = title != "{escaped}"\n'
        "output out.csv from classes\n"
        "  where r\n"
        f'  "{escaped}" <- "{escaped}"\n'
        f'  warn "{escaped}" if title = "{escaped}"\n'
        f"  # {escaped}\n"
    )
    compiled = compile_mapping(text, "hostile.rmap")
    assert compiled.code is not None, compiled.diagnostics
    tree = ast.parse(compiled.code)
    constants = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    assert hostile in constants
    calls = {ast.unparse(n.func).split("(")[0].split(".")[0] for n in ast.walk(tree)
             if isinstance(n, ast.Call)}
    assert calls <= {"pl", "fn", "col", "Output", "Rule", "Column", "Warn", "Param"}
    monkeypatch.chdir(tmp_path)
    mapping = tmp_path / "hostile.rmap"
    mapping.write_text(text)
    loaded = load_mapping(mapping)
    for build in loaded.module.OUTPUTS:
        build({"x": ""})
    assert not (tmp_path / "pwned").exists()


def test_verify_refuses_code_that_does_more_than_plans() -> None:
    compiled = compile_mapping("profile p\noutput u.csv from users\n  id <- sourcedId\n", "p")
    assert compiled.code is not None
    verify(compiled.code, "ok")
    for tampered in (
        compiled.code + "\nimport os\n",
        compiled.code + "\nopen('x')\n",
        compiled.code + "\nX = (lambda: 1)()\n",
        compiled.code.replace("col('sourcedId')", "col('sourcedId').__class__"),
        compiled.code + "\nY = eval('1')\n",
        # Calls on anything but the plan vocabulary, each refused by the call rule
        # alone (no import, builtin, lambda or dunder name to catch it otherwise).
        compiled.code + "\nZ = '{0.x}'.format(1)\n",
        compiled.code + "\nZ = p.x()\n",
        compiled.code + "\nZ = (1).bit_length()\n",
    ):
        with pytest.raises(VerificationError):
            verify(tampered, "tampered")


def test_literals_and_comments_and_names_are_guarded() -> None:
    assert literal("a'b\"c") == repr("a'b\"c")
    assert literal(("x", 1, True)) == "['x', 1, True]"
    with pytest.raises(TypeError):
        literal(object())
    with pytest.raises(ValueError):
        literal(float("nan"))
    assert "\n" not in comment("a\nb\r\nc\u2028d")
    assert mangle("users.csv") == "users_csv"
    assert mangle("class") == "class_"
    assert mangle("2024 roster.csv") == "_2024_roster_csv"
    taken: set[str] = set()
    assert [mangle("a.csv", taken), mangle("a_csv", taken)] == ["a_csv", "a_csv_2"]
    assert mangle("é; import os").isidentifier()


# --- every place mapping text reaches the generated module ---------------------------------

MORE_HOSTILE = [
    *HOSTILE,
    "{{ 7 * 7 }}{% raw %}{%- for x in () %}",  # jinja renders the module's skeleton
    "{__import__('os').system('touch pwned')}%(x)s",  # format strings
    "\u202e\u2066evil\u2069 \x1b[2J\u0085\u2029",  # bidi overrides, terminal escapes, breaks
    "a" * 5000,
]
# Identifiers a mapping may use (NAME tokens) that mean something to Python or to the module.
HOSTILE_NAMES = ["__import__", "eval", "exec", "open", "os", "p", "pl", "fn", "col", "Output",
                 "PARAMS", "OUTPUTS", "__builtins__", "__class__", "globals", "annotations"]
# Output file names (FILENAME tokens) that would collide with the module's own names.
HOSTILE_FILES = ["PARAMS", "READS", "OUTPUTS", "SOURCE_MAP", "open", "pl", "col", "p",
                 "__init__.py", "eval.csv", "_.csv"]


def quoted(text: str) -> str:
    """A mapping string literal holding ``text``: every character it cannot hold as it
    is escaped (\\uXXXX), so any text can be planted."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable() and ch.isascii() or ch.isalpha():
            out.append(ch)
        else:
            out.append(f"\\u{ord(ch):04x}")
    return '"' + "".join(out) + '"'


def hostile_mapping(h: str, name: str, file: str) -> str:
    """A mapping that plants ``h`` (text), ``name`` (identifiers) and ``file`` (output
    names) in every place where mapping text reaches generated code."""
    s = quoted(h)
    comment_text = h.replace("\n", " ").encode("utf-8", "backslashreplace").decode("utf-8")
    return f"""
profile hostile-{name.strip('_') or 'x'} {s}  # {comment_text}
oneroster 1.1, 1.2
param {name}: str = {s}
param choice_{name}: {s} | "b" = {s}
param list_{name}: list[str] = [{s}, "x"]
param table_{name}: table({name}, other) = []
rule rule_{name} = title != {s} and {name} != ""
define define_{name}(x) = concat(x, {s})

output {file} from classes
  where rule_{name} else warn {s}
  where title not in list_{name}
  key {s}
  sort by {s}
  {s} <- define_{name}(title)
  {name} <- concat({s}, choice_{name})
  matched <- count(other of table_{name} where other = this.title)
  warn {s} if title = {s}
  reject {s} if title = concat({s}, "!")
  counter {s} if title = {s}
  counter {s}

output {name}.jsonl from classes
  where this in {file}
  data <- {{{s}: title, {name}: {s}, nested: {{{s}: [{s}]}}}}
  school <- guidref(school)
"""


# What generated code may call: the runtime's function library, the plan vocabulary,
# polars, and the functions the module defines for its outputs.
FN_NAMES = {f.impl.__name__ for f in REGISTRY.values()} | {
    f.fails.__name__ for f in REGISTRY.values() if f.fails is not None} | {
    "blank", "is_blank", "is_empty_list", "any_in", "all_in", "none_in"}  # codegen's helpers
PLAN_NAMES = {"Check", "Column", "Counter", "Expect", "Fail", "Join", "Limit", "Lookup",
              "Member", "Missing", "Output", "Param", "Rule", "Warn", "col"}


def assert_only_runtime_calls(code: str) -> set[str]:
    """Walk the module's syntax tree: every call is the runtime's, every name is known.
    Returns the string constants, where the planted text must be."""
    tree = ast.parse(code)
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assigned = {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                if isinstance(t, ast.Name)}
    imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    assert [ast.unparse(n) for n in imports] == [
        "from __future__ import annotations", "import polars as pl",
        "from rostermap.runtime.engine import functions as fn",
        f"from rostermap.runtime.engine.plans import {', '.join(sorted(PLAN_NAMES - {'col'}) + ['col'])}",
    ]
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            while isinstance(func, ast.Attribute) and not (
                    isinstance(func.value, ast.Name) and func.value.id in ("fn", "pl")):
                func = func.value if not isinstance(func.value, ast.Call) else func.value.func
            if isinstance(func, ast.Attribute):
                assert isinstance(func.value, ast.Name)
                if func.value.id == "fn":
                    assert func.attr in FN_NAMES, ast.unparse(node)
                else:
                    assert not func.attr.startswith("_"), ast.unparse(node)
            else:
                assert isinstance(func, ast.Name), ast.unparse(node)
                assert func.id in PLAN_NAMES | {"pl"}, ast.unparse(node)
        elif isinstance(node, ast.Name):
            assert node.id in PLAN_NAMES | defined | assigned | {
                "pl", "fn", "p", "dict", "str", "object"}, node.id
        elif isinstance(node, ast.Attribute):
            assert not node.attr.startswith("__"), ast.unparse(node)
        assert not isinstance(node, ast.Lambda | ast.ClassDef | ast.Global | ast.Nonlocal
                              | ast.AsyncFunctionDef | ast.Await | ast.Yield | ast.Delete)
    for function in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
        assert function.name.isascii() and function.name.isidentifier()
        assert function.name not in assigned | PLAN_NAMES | {"pl", "fn", "p"}
        assert function.name not in dir(__builtins__), function.name
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
            and isinstance(n.value, str)}


@pytest.mark.parametrize("hostile", MORE_HOSTILE, ids=range(len(MORE_HOSTILE)))
def test_hostile_text_everywhere_stays_data(hostile: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    text = hostile_mapping(hostile, "x", "out.csv")
    compiled = compile_mapping(text, f"{tmp_path}/{hostile[:40]}.rmap")
    assert compiled.code is not None, [d.message for d in compiled.diagnostics]
    constants = assert_only_runtime_calls(compiled.code)
    assert hostile in constants  # carried as a string, not as code
    for line in compiled.code.splitlines():  # and in comments only escaped, on one line
        if line.lstrip().startswith("#") and hostile.strip() and "\n" not in hostile:
            assert "\x1b" not in line and "\u202e" not in line
    compile(compiled.code, "<generated>", "exec")
    monkeypatch.chdir(tmp_path)
    mapping = tmp_path / "hostile.rmap"
    mapping.write_text(text, encoding="utf-8")
    loaded = load_mapping(mapping)
    outputs = [build(dict.fromkeys(("x", "choice_x", "list_x", "table_x"), ""))
               for build in loaded.module.OUTPUTS]
    assert [o.name for o in outputs] == ["out.csv", "x.jsonl"]
    assert loaded.module.TITLE == hostile
    assert [p.default for p in loaded.module.PARAMS][:2] == [hostile, hostile]
    assert list(tmp_path.iterdir()) == [mapping]  # nothing ran: no file, no bytecode


def test_a_lone_surrogate_is_an_invalid_escape() -> None:
    # Found by the test below: it compiled, then polars refused the column name mid-run.
    compiled = compile_mapping('profile p\noutput o.csv from users\n  "\\ud800" <- "x"\n', "p")
    assert [d.code for d in compiled.diagnostics] == ["RM105"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_identifiers_are_mangled(name: str) -> None:
    compiled = compile_mapping(hostile_mapping("text", name, "out.csv"), "h.rmap")
    assert compiled.code is not None, [d.message for d in compiled.diagnostics]
    constants = assert_only_runtime_calls(compiled.code)
    assert {name, f"{name}.jsonl"} <= constants  # the names are data: p['eval'], 'eval.jsonl'


@pytest.mark.parametrize("file", HOSTILE_FILES)
def test_output_names_cannot_replace_the_module_s_names(file: str) -> None:
    compiled = compile_mapping(hostile_mapping("text", "x", file), "h.rmap")
    assert compiled.code is not None, [d.message for d in compiled.diagnostics]
    assert_only_runtime_calls(compiled.code)
    namespace: dict[str, object] = {}
    exec(compile(compiled.code, "<m>", "exec"), namespace)  # noqa: S102 - the compiler's output
    assert isinstance(namespace["PARAMS"], tuple) and isinstance(namespace["OUTPUTS"], tuple)
    assert isinstance(namespace["READS"], dict) and isinstance(namespace["SOURCE_MAP"], dict)
    assert namespace["pl"] is pl and namespace["col"] is col


def test_compiled_modules_come_from_the_compiler_never_from_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A mapping's folder (or one it names) holding Python files named like the module,
    the profile or an import: none is imported or executed, and nothing is written."""
    evil = "import pathlib\npathlib.Path('pwned').write_text('x')\n"
    (tmp_path / "lib").mkdir()
    for name in ("rostermap_compiled_p.py", "p.py", "lib.py", "lib.rmap.py", "__init__.py",
                 "lib/common.py", "sitecustomize.py"):
        (tmp_path / name).write_text(evil)
    (tmp_path / "lib" / "common.rmap").write_text("library common\nrule r = true\n")
    mapping = tmp_path / "p.rmap"
    mapping.write_text('profile p\nimport "lib/common"\noutput out.csv from users\n'
                       "  where r\n  id <- sourcedId\n")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    loaded = load_mapping(mapping)
    assert loaded.module.__spec__ is None and not hasattr(loaded.module, "__file__")
    assert loaded.module.__name__ not in sys.modules
    assert [o.name for o in (b({}) for b in loaded.module.OUTPUTS)] == ["out.csv"]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert not (tmp_path / "pwned").exists()
