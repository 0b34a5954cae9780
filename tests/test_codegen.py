"""Code generation: readable, deterministic modules, and no way for mapping text to run."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from compiler import compile_mapping
from compiler.codegen import comment, literal
from compiler.naming import mangle
from compiler.verify import VerificationError, verify
from runtime.loader import is_library, load_mapping, resolver

MAPPINGS = sorted(p for p in (Path(__file__).resolve().parent.parent / "mappings").glob("*.rmap")
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
