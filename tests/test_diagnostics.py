"""Golden diagnostics: one mapping file per diagnostic code, its rendering snapshotted.

Each file in tests/cases/diagnostics is named after the code it must raise. The
test checks the code is raised (so a case cannot silently drift to another error)
and snapshots the full rendered text, caret and help lines included.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from types import ModuleType
from typing import get_args

import pytest

import rostermap
from rostermap.compiler import compile_mapping
from rostermap.dsl import codes
from rostermap.dsl.codes import CODES, Code, Draft, constructors, lookup
from rostermap.dsl.codes.rm4xx_data import CsvProblem
from rostermap.dsl.diagnostics import DataLocation, Diagnostic, Label, Severity, render, render_all
from rostermap.dsl.span import Source
from rostermap.runtime.engine.validate import CHECKED

CASES = sorted((Path(__file__).parent / "cases" / "diagnostics").glob("*.rmap"))


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_golden_diagnostic(case: Path, snapshot, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    # Cases name files they extend or import relative to themselves (in lib/).
    monkeypatch.chdir(case.parent.parent)
    text = case.read_text(encoding="utf-8")
    compiled = compile_mapping(text, f"{case.parent.name}/{case.name}")
    code = case.stem.split("_", 1)[0]
    assert code in {d.code for d in compiled.diagnostics}, render_all(
        compiled.diagnostics, compiled.source)
    assert render_all(compiled.diagnostics, compiled.source) == snapshot


def test_every_compile_time_code_has_a_golden_case() -> None:
    covered = {c.stem.split("_", 1)[0] for c in CASES}
    compile_time = {code for code in CODES if code[2] in "123"}
    assert compile_time - covered == set()


def test_errors_block_code_generation_and_warnings_do_not() -> None:
    failed = compile_mapping((CASES[0]).read_text(), "x")
    assert failed.code is None
    warned = compile_mapping(
        "profile p\noutput u.csv from users\n  where role = \"Teacher\"\n  id <- sourcedId\n")
    assert warned.code is not None
    assert [d.severity for d in warned.diagnostics] == [Severity.WARNING]


def test_did_you_mean_is_given_for_a_misspelt_field() -> None:
    compiled = compile_mapping("profile p\noutput u.csv from users\n  n <- givenname\n")
    (diagnostic,) = compiled.diagnostics
    assert diagnostic.code == "RM201"
    assert diagnostic.primary is not None
    assert (diagnostic.primary.span.line, diagnostic.primary.span.column) == (3, 8)
    assert "help: did you mean `givenName`?" in diagnostic.notes


def test_rendering_of_data_locations_and_json_form() -> None:
    where = DataLocation("users.csv", 4, "enabledUser")
    d = Diagnostic("RM407", "users.csv: bad value", location=where, notes=("note: lines 4",))
    assert render(d) == (
        "error[RM407]: users.csv: bad value\n"
        "  --> users.csv:4 (column enabledUser)\n"
        "  = note: lines 4"
    )
    assert d.to_dict() == {"code": "RM407", "severity": "error", "message": "users.csv: bad value",
                           "file": "users.csv", "line": 4, "field": "enabledUser",
                           "notes": ["note: lines 4"]}
    source = Source("abc\n\tdef\n", "m.rmap")
    span = source.span(5, 8)
    text = render(Diagnostic("RM201", "x", primary=Label(span, "here")), source)
    assert text.splitlines()[3:5] == ["2 |         def", "  |         ^^^ here"]


def test_unregistered_codes_are_refused() -> None:
    with pytest.raises(KeyError):
        Diagnostic("RM999", "nope")


# --- one place per diagnostic: entry, constructors and wording together ------------------

PACKAGE = Path(rostermap.__file__).parent
RANGE_MODULES = {"1": codes.rm1xx_syntax, "2": codes.rm2xx_names, "3": codes.rm3xx_types,
                 "4": codes.rm4xx_data, "5": codes.rm5xx_usage}
MODULES = (*RANGE_MODULES.values(), codes.rm44x_rest, codes.rm33x_lang, codes.rm47x_contracts,
           codes.rm52x_console, codes.rm35x_push)
COMPILE_TIME = re.compile(r"RM[123]\d\d")


def range_module(number: str) -> ModuleType:
    """The module of a code's entry and constructors: its range's, except that fetching
    from a REST API (RM440-RM459), the language's linked rules, conditions and contracts
    (RM330-RM339), the run's output contracts (RM470-RM479), impact and the console
    (RM525-RM529, RM480-RM489), and push outputs (RM350-RM359, RM491-RM499, RM530-RM539)
    have their own."""
    if "RM440" <= number <= "RM459":
        return codes.rm44x_rest
    if "RM330" <= number <= "RM339":
        return codes.rm33x_lang
    if "RM470" <= number <= "RM479":
        return codes.rm47x_contracts
    if "RM525" <= number <= "RM529" or "RM480" <= number <= "RM489":
        return codes.rm52x_console
    if "RM350" <= number <= "RM359" or "RM491" <= number <= "RM499" or (
            "RM530" <= number <= "RM539"):
        return codes.rm35x_push
    return RANGE_MODULES[number[2]]


def test_every_code_has_its_constructors_beside_its_entry() -> None:
    for number, entry in CODES.items():
        owned = constructors(number)
        assert owned, f"{number} has no constructor"
        module = range_module(number).__name__
        assert {c.__module__ for c in owned} <= {module}, f"{number}'s constructors are apart"
        assert entry is lookup(number)


def test_every_constructor_is_registered_and_exported() -> None:
    registered = {c for number in CODES for c in constructors(number)}
    defined = [fn for module in MODULES
               for _, fn in inspect.getmembers(module, inspect.isfunction)
               if fn.__module__ == module.__name__ and not fn.__name__.startswith("_")]
    assert defined and set(defined) == registered  # no unregistered helper builds diagnostics
    for fn in defined:
        assert getattr(codes, fn.__name__) is fn, f"{fn.__name__} is not in its __all__"


def direct_constructions(tree: ast.AST) -> list[tuple[int, str]]:
    """Where source builds a compile-time diagnostic without a constructor: a
    ``Diagnostic(...)`` call whose code is an RM1xx-RM3xx literal or not a literal at
    all, or any other RM1xx-RM3xx literal (a code handed to some helper)."""
    found: list[tuple[int, str]] = []
    in_calls: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if name != "Diagnostic":
            continue
        given = node.args[0] if node.args else next(
            (k.value for k in node.keywords if k.arg == "code"), None)
        if isinstance(given, ast.Constant) and isinstance(given.value, str):
            in_calls.add(id(given))
            if COMPILE_TIME.fullmatch(given.value):
                found.append((node.lineno, f"Diagnostic({given.value!r}, ...)"))
        else:
            found.append((node.lineno, "Diagnostic(<code not a literal>, ...)"))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and COMPILE_TIME.fullmatch(node.value) and id(node) not in in_calls):
            found.append((node.lineno, repr(node.value)))
    return found


def test_the_scan_finds_direct_constructions() -> None:
    bad = ast.parse('d = Diagnostic("RM201", "x")\n'
                    'e = diagnostics.Diagnostic(code, "x")\n'
                    'self.report("RM301", "cannot compare", span)\n'
                    'ok = Diagnostic("RM401", "a run-time code")\n')
    assert direct_constructions(bad) == [
        (1, "Diagnostic('RM201', ...)"), (2, "Diagnostic(<code not a literal>, ...)"),
        (3, "'RM301'")]


def test_compile_time_diagnostics_are_built_only_by_their_constructors() -> None:
    registry = PACKAGE / "dsl" / "codes" / "_registry.py"
    ranges = set((PACKAGE / "dsl" / "codes").glob("rm*.py"))
    found = []
    for path in sorted([*(PACKAGE / "dsl").rglob("*.py"), *(PACKAGE / "compiler").rglob("*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for line, what in direct_constructions(tree):
            in_place = (path == registry and what.startswith("Diagnostic(<")
                        or path in ranges and not what.startswith("Diagnostic("))
            if not in_place:  # the registry builds them all; ranges hold the entries' numbers
                found.append(f"{path.relative_to(PACKAGE)}:{line}: {what}")
    assert found == []


def test_a_constructor_gives_the_severity_its_entry_documents() -> None:
    assert codes.field_not_in_every_version("x", ["1.2"], ["1.1"], Source("x", "m").span(0, 1)
                                            ).severity is Severity.WARNING
    assert lookup("RM211").severity == "warning"
    assert lookup("RM404").diagnostic(Draft("x", severity=Severity.WARNING)).is_error is False
    with pytest.raises(ValueError, match="must say which"):
        lookup("RM404").diagnostic(Draft("x"))  # error or warning: the case decides
    with pytest.raises(ValueError, match="documented as error"):
        lookup("RM201").diagnostic(Draft("x", severity=Severity.WARNING))


def test_a_constructor_needs_a_registered_entry() -> None:
    stray = Code("RM201", "unknown field", "a second entry for a registered code")
    with pytest.raises(ValueError, match="not registered"):
        stray(lambda: Draft("x"))


# --- every module: diagnostics are built by the constructors alone --------------------

# The registry and its ranges, where the entries build diagnostics and name their codes
# (checked by the compile-time scan above). Every other module of the package calls a
# constructor with the facts.
REGISTRY = PACKAGE / "dsl" / "codes"
ANY_CODE = re.compile(r"RM\d\d\d")


def built_in_place(tree: ast.AST) -> list[tuple[int, str]]:
    """Where a module builds a diagnostic without a constructor: a ``Diagnostic(...)``
    or ``Draft(...)`` call, or a code literal anywhere but in a comparison (a code
    handed to a helper, or held for later). ``d.code == "RM448"`` tests a diagnostic
    and builds none."""
    found: list[tuple[int, str]] = []
    seen: set[int] = set()  # literals inside a comparison or a call found already
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            seen.update(id(inner) for operand in (node.left, *node.comparators)
                        for inner in ast.walk(operand))
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name in ("Diagnostic", "Draft"):
                found.append((node.lineno, f"{name}(...)"))
                seen.update(id(inner) for inner in ast.walk(node))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and ANY_CODE.fullmatch(node.value) and id(node) not in seen):
            found.append((node.lineno, repr(node.value)))
    return sorted(found)


def test_the_module_scan_finds_diagnostics_built_in_place() -> None:
    bad = ast.parse('d = Diagnostic("RM401", "x")\n'
                    'e = diagnostics.Diagnostic(code, "x")\n'
                    'f = lookup("RM448").diagnostic(Draft("x"))\n'
                    'code, problem = "RM440", "timed out"\n'
                    'LIMITS = frozenset({"RM416", "RM423"})\n'
                    'ok = d.code == "RM448" or d.code in ("RM416", "RM423")\n'
                    'fine = codes.source_not_found(path)\n')
    assert built_in_place(bad) == [
        (1, "Diagnostic(...)"), (2, "Diagnostic(...)"), (3, "'RM448'"), (3, "Draft(...)"),
        (4, "'RM440'"), (5, "'RM416'"), (5, "'RM423'")]


def test_modules_build_diagnostics_only_by_constructors() -> None:
    modules = [p for p in sorted(PACKAGE.rglob("*.py")) if not p.is_relative_to(REGISTRY)]
    parts = {p.relative_to(PACKAGE).parts[0] for p in modules}
    assert {"cli", "compiler", "devtools", "dsl", "runtime"} <= parts  # the walk reaches all
    found = []
    for path in modules:
        for line, what in built_in_place(ast.parse(path.read_text(encoding="utf-8"))):
            found.append(f"{path.relative_to(PACKAGE)}:{line}: {what}")
    assert found == []


def test_every_checked_kind_of_value_has_its_wording() -> None:
    for kind in sorted(CHECKED):  # a kind without one would fail the run that reports it
        diagnostic = codes.invalid_values("orgs.csv", "dateLastModified", kind, 1, [2], "x",
                                          hidden=False)
        assert diagnostic.message.startswith("orgs.csv: 1 value(s) of dateLastModified are not ")


def test_a_runtime_constructor_decides_an_error_or_a_warning_from_its_facts() -> None:
    assert codes.column_absent("users.csv", "sourcedId", "users", "sourcedId").is_error
    assert not codes.column_absent("users.csv", "email", "users", "email").is_error
    assert not codes.file_read_as_empty("demographics.csv", "pkg").is_error
    assert codes.file_absent("demographics", "demographics.csv", "pkg").is_error
    assert codes.header_too_long("users.csv", 16).is_error
    assert not codes.unnamed_column("users.csv", 3).is_error
    assert codes.files_in_folders(Path("d.zip"), ["a", "b"]).is_error
    assert not codes.files_in_a_folder(Path("d.zip"), "export").is_error


def test_every_kind_of_malformed_csv_has_its_wording() -> None:
    for problem in get_args(CsvProblem):  # the reader names each kind; each needs words
        diagnostic = codes.malformed_csv("users.csv", 4, problem, 131072)
        assert diagnostic.message.startswith("users.csv is not valid CSV at line 4: ")
