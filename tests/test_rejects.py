"""A rule that cannot be computed for a record rejects that record, not the run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from rostermap.cli.main import PARTIAL, main
from rostermap.runtime.errors import RunError
from rostermap.runtime.report.model import to_json
from rostermap.runtime.run.pipeline import run
from tests.conftest import tiny_files

MAPPING = """profile rejecting
output users.csv from users
  where role = "student"
  id <- sourcedId
  code <- number(identifier)
  school <- orgs[0].name
"""


@pytest.fixture
def setup(tmp_path: Path, make_package: Callable[..., Path]) -> tuple[Path, Path]:
    mapping = tmp_path / "rejecting.rmap"
    mapping.write_text(MAPPING)
    files = tiny_files()
    files["users.csv"] = files["users.csv"].replace(",S-1,", ",41,").replace(",S-2,", ",x2,")
    files["users.csv"] += "u3,,,true,s9,student,sol,,Sol,Stu,,43,,,,,,\n"
    return mapping, make_package(files)


def test_rejected_records_are_left_out_and_reported(setup: tuple[Path, Path],
                                                    tmp_path: Path) -> None:
    mapping, package = setup
    result = run(str(mapping), package, tmp_path / "out")
    assert (tmp_path / "out" / "users.csv").read_text() == "id,code,school\nu1,41,North High\n"
    report = to_json(result.report)
    assert report["outcome"] == "partial"
    assert report["outputs"]["users.csv"]["rejected"] == 2
    assert report["rejects"] == [
        {"kind": "transform", "record": "users/u2", "output": "users.csv",
         "at": f"{mapping}:5", "reason": "number(identifier) cannot read the record's value"},
        {"kind": "transform", "record": "users/u3", "output": "users.csv",
         "at": f"{mapping}:6", "reason": "orgs[0] names an org that the source's orgs.csv does not hold"},
    ]


def test_partial_runs_have_their_own_exit_code(setup: tuple[Path, Path], tmp_path: Path) -> None:
    mapping, package = setup
    result = CliRunner().invoke(main, ["run", str(mapping), "--source", str(package),
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == PARTIAL == 3
    assert "2 record(s) rejected" in result.stdout
    assert "users/u2: number(identifier) cannot read the record's value" in result.stdout


def test_too_many_rejects_fail_the_run_and_write_nothing(setup: tuple[Path, Path],
                                                         tmp_path: Path) -> None:
    mapping, package = setup
    with pytest.raises(RunError) as raised:
        run(str(mapping), package, tmp_path / "out", max_rejects=1)
    assert raised.value.diagnostics[0].code == "RM431"
    assert not (tmp_path / "out").exists()
    result = CliRunner().invoke(main, ["run", str(mapping), "--source", str(package),
                                       "--out", str(tmp_path / "out"), "--max-rejects", "2"])
    assert result.exit_code == PARTIAL


def test_rejects_in_one_output_do_not_reach_outputs_built_on_it(
    tmp_path: Path, make_package: Callable[..., Path]
) -> None:
    mapping = tmp_path / "m.rmap"
    mapping.write_text(MAPPING + "output rosters.csv from enrollments\n"
                       "  where user in users.csv\n  user <- user.sourcedId\n")
    files = tiny_files()
    files["users.csv"] = files["users.csv"].replace(",S-1,", ",bad,").replace(",S-2,", ",2,")
    result = run(str(mapping), make_package(files), None)
    rosters = next(r for r in result.outputs if r.name == "rosters.csv")
    assert rosters.frame.rows() == [("u2",)]
