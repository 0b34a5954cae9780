"""Reuse: `extends` a profile, `import` a library, `define` helpers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from rostermap.cli.main import main
from rostermap.compiler import FileResolver, compile_mapping
from rostermap.runtime.run.loader import load_mapping, resolve_profile
from rostermap.runtime.run.pipeline import run
from tests.conftest import MAPPINGS

PARENT = """profile parent "Parent"
param year: int
param suffix: str = "-p"
rule kept = status = ""

output users.csv from users
  where kept
  key id
  id    <- sourcedId
  name  <- givenName
  code  <- concat(sourcedId, suffix)

output classes.csv from classes
  id <- sourcedId
"""

CHILD = """profile child "Child"
extends parent
import shared
param suffix: str = "-c"

output users.csv from users
  where role = "student"
  name  <- upper(givenName)
  label <- full_name(givenName, familyName)
  year  <- year

output orgs.csv from orgs
  where is_school
  id <- sourcedId
"""

SHARED = """library shared
rule is_school = type = "school"
rule kept = false
define full_name(first, last) = concat(first, " ", last)
"""


@pytest.fixture
def mappings(tmp_path: Path) -> Path:
    folder = tmp_path / "maps"
    folder.mkdir()
    for name, text in {"parent": PARENT, "child": CHILD, "shared": SHARED}.items():
        (folder / f"{name}.rmap").write_text(text)
    return folder


def test_child_overrides_and_extends_its_parent(mappings: Path, make_package: Callable[..., Path],
                                                tmp_path: Path) -> None:
    result = run(str(mappings / "child.rmap"), make_package(), tmp_path / "out", ["year=2026"])
    files = {p.name: p.read_text() for p in result.files if p.suffix == ".csv"}
    # users.csv: the parent's where (kept, not the library's), plus the child's; name
    # replaced in place, label and year appended; suffix default overridden.
    assert files["users.csv"] == (
        "id,name,code,label,year\nu1,SAM,u1-c,Sam Stu,2026\nu2,SUE,u2-c,Sue Stu,2026\n")
    assert files["classes.csv"] == "id\nc1\nc2\n"  # inherited as is
    assert files["orgs.csv"] == "id\ns1\ns2\n"  # the child's own output


def test_inherited_rules_keep_their_own_text(mappings: Path) -> None:
    """Rules and columns from the parent file carry the parent's text (the report's
    drops per rule and explain show it), not a slice of the child's file."""
    loaded = load_mapping(mappings / "child.rmap")
    users = next(build for build in loaded.module.OUTPUTS
                 if build({"year": 2026, "suffix": "-c"}).name == "users.csv")
    output = users({"year": 2026, "suffix": "-c"})
    assert [r.text for r in output.rules] == ["where kept", 'where role = "student"']


def test_effective_mapping_names_where_each_line_comes_from(mappings: Path) -> None:
    result = CliRunner().invoke(main, ["check", "--effective", str(mappings / "child.rmap")])
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert f"rule kept = status = \"\"  # {mappings / 'parent.rmap'}:4" in out
    assert f"# {mappings / 'shared.rmap'}:4" in out  # full_name
    assert f"param suffix: str = \"-c\"  # {mappings / 'child.rmap'}:4" in out
    assert out.index("name  <- upper(givenName)") < out.index("code  <- concat")


def test_a_library_checks_alone_and_is_not_a_profile(mappings: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(main, ["check", str(mappings / "shared.rmap")])
    assert result.exit_code == 0 and result.stdout.strip().endswith("ok")
    monkeypatch.setenv("ROSTERMAP_MAPPINGS", str(mappings))
    assert resolve_profile("child") == mappings / "child.rmap"
    with pytest.raises(Exception, match="no profile named `shared`"):
        resolve_profile("shared")


def test_errors_in_an_import_point_into_the_imported_file(mappings: Path) -> None:
    (mappings / "shared.rmap").write_text(SHARED + "rule broken = lowr(type) = \"x\"\n")
    text = "profile p\nimport shared\noutput o.csv from orgs\n  where broken\n  id <- sourcedId\n"
    compiled = compile_mapping(text, str(mappings / "p.rmap"), FileResolver())
    (diagnostic,) = compiled.diagnostics
    assert diagnostic.code == "RM204"
    assert diagnostic.primary is not None and diagnostic.primary.span.source is not None
    assert diagnostic.primary.span.source.name == str(mappings / "shared.rmap")


def test_mapping_version_covers_every_file_it_is_made_of(mappings: Path) -> None:
    before = load_mapping(mappings / "child.rmap").sha256
    (mappings / "shared.rmap").write_text(SHARED + "\n# a comment changes the version\n")
    assert load_mapping(mappings / "child.rmap").sha256 != before


def test_define_with_a_lookup_argument_and_recursion_is_refused(tmp_path: Path) -> None:
    text = ("profile p\ndefine teachers(xs) = join(sort(xs), \";\")\n"
            "define loop(x) = loop(x)\n"
            "output o.csv from classes\n"
            "  t <- teachers(user.sourcedId of enrollments where class = this)\n"
            "  l <- loop(title)\n")
    compiled = compile_mapping(text, "p.rmap")
    assert [d.code for d in compiled.diagnostics] == ["RM214"]
    fixed = compile_mapping(text.replace("  l <- loop(title)\n", ""), "p.rmap")
    assert fixed.ok


def test_shipped_profile_imports_the_shared_library() -> None:
    compiled = compile_mapping((MAPPINGS / "powerschool-learning.rmap").read_text(),
                               str(MAPPINGS / "powerschool-learning.rmap"))
    assert [Path(s.name).name for s in compiled.sources] == [
        "powerschool-learning.rmap", "oneroster-common.rmap"]
