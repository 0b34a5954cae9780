"""Every command that takes a mapping finds it, and what it extends and imports, alike.

A profile outside any mappings folder imports a library of $ROSTERMAP_MAPPINGS and
the built-in oneroster-common; a second profile is named by name only. Each command
must resolve both the way `run` does (runtime.run.loader.resolve_profile and
compile_profile).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from rostermap.cli.main import main
from tests.conftest import EXAMPLE

LIBRARY = """\
library district-shared

rule student = role = "student"
"""

PROFILE = """\
profile elsewhere "A profile outside mappings/"
import oneroster-common
import district-shared

output students.csv from users
  where active and student
  key id

  id   <- sourcedId
  name <- full_name(givenName, familyName)
"""


@pytest.fixture
def profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """(the path of a profile outside mappings/, the name of one in $ROSTERMAP_MAPPINGS)."""
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "district-shared.rmap").write_text(LIBRARY, encoding="utf-8")
    (shared / "named-elsewhere.rmap").write_text(
        PROFILE.replace("profile elsewhere", "profile named-elsewhere"), encoding="utf-8")
    monkeypatch.setenv("ROSTERMAP_MAPPINGS", str(shared))
    folder = tmp_path / "work" / "profiles"
    folder.mkdir(parents=True)
    path = folder / "elsewhere.rmap"
    path.write_text(PROFILE, encoding="utf-8")
    monkeypatch.chdir(tmp_path / "work")
    return path, "named-elsewhere"


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def arguments(profiles: tuple[Path, str]) -> list[str]:
    path, name = profiles
    return [str(path), "profiles/elsewhere.rmap", name]


def test_check(profiles: tuple[Path, str]) -> None:
    for profile in arguments(profiles):
        code, out, err = invoke("check", profile)
        assert code == 0 and ": ok" in out, err


def test_compile(profiles: tuple[Path, str], tmp_path: Path) -> None:
    for i, profile in enumerate(arguments(profiles)):
        code, out, err = invoke("compile", profile, "-o", str(tmp_path / f"build{i}"))
        assert code == 0, err
        assert "RM220" not in err and err == ""
        (module,) = (tmp_path / f"build{i}").glob("*.py")
        assert "students.csv" in module.read_text(encoding="utf-8")


def test_compile_names_a_missing_profile(profiles: tuple[Path, str]) -> None:
    code, _, err = invoke("compile", "named-elsewere")
    assert code == 2 and "did you mean `named-elsewhere`?" in err
    code, _, err = invoke("compile", "profiles/nothing.rmap")
    assert code == 2 and "RM5" in err


def test_run_without_state(profiles: tuple[Path, str], tmp_path: Path) -> None:
    for i, profile in enumerate(arguments(profiles)):
        out_dir = tmp_path / f"out{i}"
        code, out, err = invoke("run", profile, "--source", str(EXAMPLE), "--out", str(out_dir),
                                "--no-state")
        assert code == 0, err
        assert (out_dir / "students.csv").read_text(encoding="utf-8").startswith("id,name\n")


def test_run_as_a_sync(profiles: tuple[Path, str], tmp_path: Path) -> None:
    for i, profile in enumerate(arguments(profiles)):
        code, _, err = invoke("run", profile, "--source", str(EXAMPLE), "--out",
                              str(tmp_path / f"out{i}"), "--tenant", f"t{i}")
        assert code == 0, err
        code, out, err = invoke("runs", profile, "--tenant", f"t{i}")
        assert code == 0 and "success" in out, err


def test_explain(profiles: tuple[Path, str]) -> None:
    for profile in arguments(profiles):
        code, out, err = invoke("explain", profile, "--source", str(EXAMPLE), "--record",
                                "users/stu-14")
        assert code == 0, err
        assert "students.csv" in out


def test_fmt(profiles: tuple[Path, str]) -> None:
    for profile in arguments(profiles):
        code, out, err = invoke("fmt", "--check", profile)
        assert code == 0, out + err


def test_run_many(profiles: tuple[Path, str], tmp_path: Path) -> None:
    path, name = profiles
    tenants = tmp_path / "work" / "tenants.toml"
    tenants.write_text(
        f'[[tenant]]\nname = "by-path"\nprofile = "profiles/elsewhere.rmap"\n'
        f'source = "{EXAMPLE.as_posix()}"\nout = "out/a"\n\n'
        f'[[tenant]]\nname = "by-name"\nprofile = "{name}"\n'
        f'source = "{EXAMPLE.as_posix()}"\nout = "out/b"\n', encoding="utf-8")
    code, out, err = invoke("run-many", str(tenants))
    assert code == 0, out + err
    assert (tmp_path / "work" / "out" / "a" / "students.csv").exists()
    assert (tmp_path / "work" / "out" / "b" / "students.csv").exists()


def test_profiles_lists_the_named_one(profiles: tuple[Path, str]) -> None:
    code, out, err = invoke("profiles")
    assert code == 0, out + err
    assert "named-elsewhere" in out and "does not compile" not in out
