"""Never publish a wrong roster: each way a package, a folder or a run could make a
roster that is silently wrong either gives the right roster or stops with a located
diagnostic, writes nothing and leaves the earlier files as they were.

Every case runs the command as a user does (``rostermap run`` through click), into an
output folder that holds an earlier run's file, and checks the exit code, the code
of the first error, that the earlier file is untouched and that no temporary file
stays behind.
"""

from __future__ import annotations

import os
import re
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from rostermap.cli.main import main
from rostermap.runtime.errors import RunError
from rostermap.runtime.sources.csv_package import open_package
from tests.conftest import tiny_files

EARLIER = "user_id\nfrom-an-earlier-run\n"
PROFILE = "powerschool-learning"


def run(source: Path, out: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["run", PROFILE, "--source", str(source), "--out",
                                       str(out), "--param", "year=2026", *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.stderr


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "users.csv").write_text(EARLIER)
    return folder


@pytest.fixture(autouse=True)
def private_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The run's temporary files go here, and none may stay."""
    folder = tmp_path / "temp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def refused(code: int, stderr: str, expected: str, out: Path, temp: Path) -> None:
    assert code in (1, 2), stderr
    errors = re.findall(r"^error\[(RM\d+)\]", stderr, re.M)
    assert errors[:1] == [expected], stderr
    assert (out / "users.csv").read_text() == EARLIER
    assert sorted(p.name for p in out.iterdir()) == ["users.csv"]
    assert list(temp.iterdir()) == []


def test_a_stray_quote_that_swallows_records_is_refused_at_its_line(
        make_package: Callable[..., Path], out: Path, private_temp: Path) -> None:
    files = tiny_files()
    # `"Room 1` opens a quote; `Music"` two lines on closes it: valid CSV, one record
    # where there were three
    files["classes.csv"] = files["classes.csv"].replace(
        "c2,,,Science,07,k2,SCI,scheduled,,", 'c2,,,Science,07,k2,SCI,scheduled,"Room 1,') + (
        "c3,,,Art,07,k1,ART,scheduled,,s1,y1,,,3\n"
        'c4,,,Music",07,k1,MUS,scheduled,,s1,y1,,,4\n')
    code, err = run(make_package(files), out, "--no-state")
    refused(code, err, "RM408", out, private_temp)
    assert "classes.csv: a value spans lines 3 to 5 and holds whole records" in err
    # a quote closed, then text: the csv reader says where
    files["classes.csv"] = files["classes.csv"].replace('Music",07', 'Music"x,07')
    code, err = run(make_package(files, name="other"), out, "--no-state")
    refused(code, err, "RM408", out, private_temp)


def test_a_quoted_value_with_a_line_break_is_read(make_package: Callable[..., Path],
                                                  out: Path) -> None:
    files = tiny_files()
    files["users.csv"] = files["users.csv"].replace(",Sam,Stu,", ',"Sam\nAlex",Stu,')
    code, err = run(make_package(files), out, "--no-state")
    assert code == 0, err
    assert '"Sam\nAlex"' in (out / "users.csv").read_text()


def test_a_damaged_zip_entry_is_never_read_again(tmp_path: Path, out: Path,
                                                 private_temp: Path) -> None:
    """A bad checksum fails the run, a stateless one and explain alike, and the part
    expanded before the failure is not left for a later read to take for the file."""
    path = tmp_path / "district.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, body in tiny_files().items():
            archive.writestr(name, body)
    data = bytearray(path.read_bytes())
    at = data.find(b"u2,,,true,s2")
    data[at] = ord("v")  # the bytes change, the CRC in the headers does not
    path.write_bytes(bytes(data))
    code, err = run(path, out, "--no-state")
    refused(code, err, "RM425", out, private_temp)
    package = open_package(path)
    try:
        for _ in range(2):  # the second read fails the same way: nothing was kept
            with pytest.raises(RunError, match="RM425"):
                package.read("users", ("sourcedId",))
    finally:
        package.close()
    result = CliRunner().invoke(main, ["explain", PROFILE, "--source", str(path), "--record",
                                       "users/u1", "--param", "year=2026"])
    assert result.exit_code == 1 and "error[RM425]" in result.stderr
    assert list(private_temp.iterdir()) == []


def test_a_header_longer_than_64_kib_is_read_whole(make_package: Callable[..., Path],
                                                   out: Path) -> None:
    files = tiny_files()
    header, rest = files["users.csv"].split("\n", 1)
    padding = ",".join(f"metadata.pad{i:05d}" for i in range(6000))  # 100 KB before them
    files["users.csv"] = padding + "," + header + "\n" + "".join(
        "," * 6000 + line + "\n" for line in rest.splitlines())
    code, err = run(make_package(files), out, "--no-state")
    assert code == 0, err
    assert "RM405" not in err
    users = (out / "users.csv").read_text()
    assert "sam@d.org" in users and "tina@d.org" in users


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_a_folder_package_reads_nothing_from_outside_itself(
        make_package: Callable[..., Path], tmp_path: Path, out: Path, private_temp: Path,
        kind: str) -> None:
    other = make_package(name="other-district")
    package = make_package()
    (package / "users.csv").unlink()
    if kind == "symlink":
        (package / "users.csv").symlink_to(other / "users.csv")
    else:
        os.mkfifo(package / "users.csv")
    code, err = run(package, out, "--no-state")
    refused(code, err, "RM416", out, private_temp)


def test_a_link_inside_the_package_is_read(make_package: Callable[..., Path],
                                           out: Path) -> None:
    package = make_package()
    (package / "exports").mkdir()
    (package / "users.csv").rename(package / "exports" / "users-2026.csv")
    (package / "users.csv").symlink_to(Path("exports") / "users-2026.csv")
    code, err = run(package, out, "--no-state")
    assert code == 0, err


def test_two_files_for_one_name_are_refused(make_package: Callable[..., Path], tmp_path: Path,
                                            out: Path, private_temp: Path) -> None:
    files: dict[str, str | bytes] = dict(tiny_files())
    files["Users.csv"] = str(files["users.csv"]).replace("sue@other.org", "someone@else.org")
    code, err = run(make_package(files), out, "--no-state")
    refused(code, err, "RM426", out, private_temp)
    path = tmp_path / "twice.zip"
    with zipfile.ZipFile(path, "w") as archive, pytest.warns(UserWarning, match="Duplicate"):
        for name, body in tiny_files().items():
            archive.writestr(name, body)
        archive.writestr("users.csv", tiny_files()["users.csv"].replace("u2,", "u9,"))
    code, err = run(path, out, "--no-state")
    refused(code, err, "RM426", out, private_temp)


@pytest.mark.parametrize("same", [True, False])
def test_out_and_source_overlapping_is_a_usage_error(make_package: Callable[..., Path],
                                                     private_temp: Path, same: bool) -> None:
    package = make_package()
    before = {p.name: p.read_bytes() for p in package.iterdir()}
    target = package if same else package / "out"
    code, err = run(package, target, "--no-state")
    assert code == 2 and "error[RM508]" in err
    assert {p.name: p.read_bytes() for p in package.iterdir()} == before


def test_the_1_1_column_wins_over_its_1_0_spelling(make_package: Callable[..., Path],
                                                   out: Path) -> None:
    """A 1.1 export that still carries the 1.0 userId (before identifier) reads
    identifier, and says which it left; a 1.0 `grade` column is read as grades."""
    files = tiny_files()
    files["users.csv"] = files["users.csv"].replace(
        "sourcedId,", "userId,sourcedId,", 1).replace("\nt1,", "\nOLD-T,t1,").replace(
        "\nu1,", "\nOLD-1,u1,").replace("\nu2,", "\nOLD-2,u2,")
    files["classes.csv"] = files["classes.csv"].replace(",grades,", ",grade,", 1)
    code, err = run(make_package(files), out, "--no-state", "--param", "google_domain=d.org")
    assert code == 0, err
    report = (out / "report.json").read_text()
    assert "column `userId` is another spelling of `identifier`, which is read" in report
    assert "OLD-" not in (out / "users.csv").read_text()


def test_unknown_columns_are_one_warning_per_file(make_package: Callable[..., Path],
                                                  out: Path) -> None:
    files = tiny_files()
    extra = [f"ext_field{i}" for i in range(13)]
    header, rest = files["users.csv"].split("\n", 1)
    files["users.csv"] = ",".join([header, *extra]) + "\n" + "".join(
        line + "," * 13 + "\n" for line in rest.splitlines())
    code, err = run(make_package(files), out, "--no-state")
    assert code == 0, err
    report = (out / "report.json").read_text()
    assert report.count('"RM406"') == 1
    assert "users.csv: 13 unknown columns are ignored: `ext_field0`" in report


def test_an_output_emptied_by_a_parameter_is_refused(make_package: Callable[..., Path],
                                                     out: Path, private_temp: Path) -> None:
    """A mistyped school id leaves every file empty: the run stops before a product
    deactivates everyone, unless the operator says an empty roster is meant."""
    package = make_package()
    code, err = run(package, out, "--no-state", "--param", "schools=s-typo")
    refused(code, err, "RM427", out, private_temp)
    code, err = run(package, out, "--no-state", "--param", "schools=s-typo", "--allow-empty")
    assert code == 0, err
