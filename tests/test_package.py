"""The package a user installs: the wheel holds all of rostermap and nothing else,
the layers import only downwards, and the command finds its built-in profiles."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from rostermap.cli.main import main
from rostermap.compiler.version import VERSION
from rostermap.runtime.run.loader import builtin_folder, resolve_profile
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                    str(out), str(ROOT)], check=True, capture_output=True)
    (path,) = out.glob("rostermap-*.whl")
    return zipfile.ZipFile(path)


def tracked(under: str) -> list[str]:
    listing = subprocess.run(["git", "ls-files", under], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout
    return [line for line in listing.splitlines() if line]


def test_the_wheel_installs_one_top_level_name(wheel: zipfile.ZipFile) -> None:
    tops = {name.split("/")[0] for name in wheel.namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"rostermap"}


def test_every_file_of_the_package_is_in_the_wheel(wheel: zipfile.ZipFile) -> None:
    """Every subpackage, profile, schema, template and the grammar: a file missing here
    is a ModuleNotFoundError or a missing profile on a user's machine."""
    names = set(wheel.namelist())
    files = tracked("rostermap")
    assert "rostermap/runtime/sources/__init__.py" in files
    assert "rostermap/mappings/oneroster-common.rmap" in files
    assert [f for f in files if f not in names] == []
    packages = {str(p.parent.relative_to(ROOT)) for p in (ROOT / "rostermap").rglob("__init__.py")}
    assert {p for p in packages if f"{p}/__init__.py" not in names} == set()


def test_the_wheel_knows_its_version_and_entry_point(wheel: zipfile.ZipFile) -> None:
    (metadata,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    assert f"Version: {VERSION}\n" in wheel.read(metadata).decode()
    (entry,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    assert "rostermap = rostermap.cli.main:main" in wheel.read(entry).decode()


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter on the contracts in ``root``'s pyproject.toml, reading the package
    in ``root`` (the folder it runs in comes first on its path)."""
    script = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(script), "--no-cache"], cwd=root, capture_output=True,
                          text=True)


def test_the_layers_import_only_downwards() -> None:
    """The contracts in pyproject.toml: cli, devtools, runtime, compiler, dsl; inside the
    runtime, sync, run, report, engine, sources."""
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout
    assert "2 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(("module", "back_edge"), [
    ("rostermap/dsl/span.py", "import rostermap.compiler.naming"),
    ("rostermap/runtime/engine/tables.py", "import rostermap.runtime.sync.state"),
])
def test_a_back_edge_breaks_the_layers(tmp_path: Path, module: str, back_edge: str) -> None:
    shutil.copytree(ROOT / "rostermap", tmp_path / "rostermap",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    path = tmp_path / module
    path.write_text(path.read_text() + f"\n{back_edge}  # noqa\n")
    done = lint_imports(tmp_path)
    assert done.returncode == 1
    assert "1 broken" in done.stdout


def test_builtin_profiles_are_found_by_name_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ROSTERMAP_MAPPINGS", raising=False)
    path = resolve_profile("powerschool-learning")
    assert path.parent == builtin_folder()


def test_python_dash_m_rostermap_prints_the_version() -> None:
    done = subprocess.run([sys.executable, "-m", "rostermap", "--version"], capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == f"rostermap, version {VERSION}"


def test_profiles_lists_the_built_in_and_the_user_s_profiles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user's folder of profiles is listed beside the built-in ones, and a user's
    profile can import the shipped library."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "my-vendor.rmap").write_text(
        'profile my-vendor "My Vendor"\noneroster 1.1\nimport oneroster-common\n'
        'param year: int\n\noutput people.csv from users\n  where active\n'
        '  id <- sourcedId\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ROSTERMAP_MAPPINGS", str(mine))
    done = CliRunner().invoke(main, ["profiles"])
    assert done.exit_code == 0, done.output
    assert f"my-vendor  ({mine / 'my-vendor.rmap'})\n  My Vendor\n  OneRoster 1.1" in done.output
    assert "powerschool-learning  (built-in)" in done.output
    assert "  --param year  int  (required)" in done.output
    assert "  --param default_password  str  (secret: from $ROSTERMAP_PARAM_DEFAULT_PASSWORD)" \
        in done.output


def test_check_takes_profile_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(main, ["check", "powerschool-learning", "linewize"])
    assert done.exit_code == 0, done.output
    assert done.output.splitlines() == ["rostermap/mappings/powerschool-learning.rmap: ok",
                                        "rostermap/mappings/linewize.rmap: ok"]
    done = CliRunner().invoke(main, ["check", "powerschol-learning"])
    assert done.exit_code == 2 and "did you mean `powerschool-learning`?" in done.output
