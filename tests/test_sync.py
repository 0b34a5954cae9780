"""Sync runs: change sets between runs, deactivation policies, guards, deltas, history.

The district here is built in Python (three schools of a teacher and twenty
students, a class each) so that each test edits exactly what it means to, and the
expected change rows are written out by hand.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from rostermap.cli.main import main
from rostermap.runtime.engine.plans import Missing
from rostermap.runtime.errors import RunError, UsageError
from rostermap.runtime.sync.changes import current_rows, diff
from rostermap.runtime.sync.run import SyncOptions, SyncResult, approve, reject, sync
from rostermap.runtime.sync.state import Retention, Store
from tests.conftest import CASES, EXAMPLE

MAPPING = str(CASES / "sync" / "sync-test.rmap")
TODAY = dt.date(2026, 3, 2)
USER_HEADER = ("sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,"
               "userIds,givenName,familyName,middleName,identifier,email,sms,phone,"
               "agentSourcedIds,grades,password")
CLASS_HEADER = ("sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,"
                "classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,"
                "periods")
ENROLLMENT_HEADER = ("sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,"
                     "userSourcedId,role,primary,beginDate,endDate")


@dataclass
class District:
    """Records by sourcedId, as {column: value}; written as a OneRoster 1.1 package."""

    users: dict[str, dict[str, str]] = field(default_factory=dict)
    classes: dict[str, dict[str, str]] = field(default_factory=dict)
    enrollments: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def three_schools(cls) -> District:
        d = cls()
        for s in ("s1", "s2", "s3"):
            d.user(f"t-{s}", s, "teacher", "Terry", s.upper())
            d.classes[f"c-{s}"] = {"title": f"Homeroom {s}", "schoolSourcedId": s}
            d.enroll(f"c-{s}", f"t-{s}", "teacher")
            for i in range(1, 21):
                d.user(f"u-{s}-{i:02}", s, "student", f"Kid{i}", f"Family{s}", "09")
                d.enroll(f"c-{s}", f"u-{s}-{i:02}", "student")
        return d

    def user(self, sid: str, school: str, role: str, given: str, family: str,
             grade: str = "") -> None:
        self.users[sid] = {"orgSourcedIds": school, "role": role, "givenName": given,
                           "familyName": family, "grades": grade, "enabledUser": "true"}

    def enroll(self, class_id: str, user_id: str, role: str) -> None:
        school = self.classes[class_id]["schoolSourcedId"]
        self.enrollments[f"e-{class_id}-{user_id}"] = {
            "classSourcedId": class_id, "userSourcedId": user_id, "role": role,
            "schoolSourcedId": school}

    def drop_user(self, sid: str) -> None:
        del self.users[sid]
        for e in [e for e, r in self.enrollments.items() if r["userSourcedId"] == sid]:
            del self.enrollments[e]

    def files(self) -> dict[str, str]:
        return {
            "manifest.csv": "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n"
                            "file.orgs,bulk\nfile.users,bulk\nfile.classes,bulk\n"
                            "file.enrollments,bulk\nfile.academicSessions,bulk\n",
            "orgs.csv": "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n"
                        "d1,,,District,district,,\ns1,,,One,school,,d1\ns2,,,Two,school,,d1\n"
                        "s3,,,Three,school,,d1\n",
            "academicSessions.csv": "sourcedId,status,dateLastModified,title,type,startDate,"
                                    "endDate,parentSourcedId,schoolYear\n"
                                    "y1,,,2025-2026,schoolYear,2025-08-15,2026-06-15,,2026\n",
            "users.csv": _table(USER_HEADER, self.users),
            "classes.csv": _table(CLASS_HEADER, {k: {"termSourcedIds": "y1", "classType":
                                                      "scheduled", **v}
                                                  for k, v in self.classes.items()}),
            "enrollments.csv": _table(ENROLLMENT_HEADER, self.enrollments),
        }

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True)
        for name, text in self.files().items():
            (folder / name).write_text(text, encoding="utf-8")
        return folder


def _table(header: str, records: dict[str, dict[str, str]]) -> str:
    columns = header.split(",")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for sid, record in records.items():
        writer.writerow([sid if c == "sourcedId" else record.get(c, "") for c in columns])
    return out.getvalue()


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


class Runner:
    """Runs of the sync-test profile over successive versions of a district."""

    def __init__(self, tmp_path: Path, name: str = "a"):
        self.tmp = tmp_path
        self.out = tmp_path / f"out-{name}"
        self.options = SyncOptions(state=tmp_path / f"state-{name}.sqlite")
        self.count = 0

    def __call__(self, district: District | Path, **kw: object) -> SyncResult:
        self.count += 1
        source = district if isinstance(district, Path) else district.write(
            self.tmp / f"pkg-{self.out.name}-{self.count}")
        options = kw.pop("options", self.options)
        return sync(MAPPING, source, self.out, (), options, today=TODAY, **kw)  # type: ignore[arg-type]

    def changes(self, output: str) -> list[tuple[str, str, str]]:
        """(action, key, changed) rows of a change file; the key is the first column."""
        rows = read_csv(self.out / "changes" / output)
        return [(r["action"], list(r.values())[2], r["changed"]) for r in rows]

    def ids(self, output: str, column: str = "id") -> list[str]:
        return sorted(r[column] for r in read_csv(self.out / output))


@pytest.fixture
def runner(tmp_path: Path) -> Runner:
    return Runner(tmp_path)


# --- change sets ---------------------------------------------------------------------------


def test_first_run_creates_every_row(runner: Runner) -> None:
    result = runner(District.three_schools())
    assert result.outcome == "success" and result.run == 1
    counts = result.report.sync.changes["users.csv"]
    assert counts["create"] == 63 and counts["update"] == counts["deactivate"] == 0
    assert {a for a, _, _ in runner.changes("users.csv")} == {"create"}
    assert result.report.sync.base_run is None


def test_two_runs_with_edits_give_exactly_the_expected_change_rows(runner: Runner) -> None:
    d = District.three_schools()
    runner(d)
    d.users["u-s1-03"]["givenName"] = "Renamed"
    d.users["u-s1-07"]["grades"] = "10"
    d.users["u-s1-08"]["familyName"] = "Other"
    d.users["u-s1-08"]["givenName"] = "Name"
    d.drop_user("u-s2-05")
    d.user("u-new", "s3", "student", "New", "Kid", "09")
    d.enroll("c-s3", "u-new", "student")
    result = runner(d)
    assert result.outcome == "success" and result.report.sync.base_run == 1
    assert runner.changes("users.csv") == [
        ("create", "u-new", ""),
        ("update", "u-s1-03", "first"),
        ("update", "u-s1-07", "grade"),
        ("update", "u-s1-08", "first;last"),
        ("deactivate", "u-s2-05", ""),
    ]
    # a deactivate row carries the row as it was last published
    (gone,) = [r for r in read_csv(runner.out / "changes" / "users.csv")
               if r["action"] == "deactivate"]
    assert gone == {"action": "deactivate", "changed": "", "id": "u-s2-05", "first": "Kid5",
                    "last": "Familys2", "school": "s2", "grade": "09"}
    # enrollments: `when missing delete after 2 runs`, so the missing one is held over
    assert runner.changes("enrollments.csv") == [("create", "c-s3", "")]
    assert "u-s2-05" in runner.ids("enrollments.csv", "user_id")
    counts = result.report.sync.changes["enrollments.csv"]
    assert counts["missing"] == 1 and counts["unchanged"] == 62
    written = result.report.outputs["enrollments.csv"]
    assert (written.rows, written.carried) == (64, 1)  # the file holds the carried row
    assert "u-s2-05" not in runner.ids("users.csv")


def test_grace_of_two_runs_then_delete_and_a_record_that_comes_back(runner: Runner) -> None:
    d = District.three_schools()
    runner(d)
    d.drop_user("u-s2-05")
    runner(d)
    result = runner(d)  # the second run without it: now deleted
    assert runner.changes("enrollments.csv") == [("delete", "c-s2", "")]
    assert "u-s2-05" not in runner.ids("enrollments.csv", "user_id")
    assert runner.changes("users.csv") == []
    assert result.report.sync.changes["users.csv"]["unchanged"] == 62
    # it comes back: a deactivated user is reactivated, a deleted enrollment created
    d.user("u-s2-05", "s2", "student", "Kid5", "Familys2", "10")
    d.enroll("c-s2", "u-s2-05", "student")
    runner(d)
    assert runner.changes("users.csv") == [("reactivate", "u-s2-05", "grade")]
    assert runner.changes("enrollments.csv") == [("create", "c-s2", "")]


def test_a_row_back_within_its_grace_period_is_no_change(runner: Runner) -> None:
    d = District.three_schools()
    runner(d)
    held_out = District.three_schools()
    held_out.drop_user("u-s1-01")
    held_out.users["u-s1-01"] = d.users["u-s1-01"]  # the user stays; the enrollment goes
    runner(held_out)
    assert runner.changes("enrollments.csv") == []
    runner(d)
    assert runner.changes("enrollments.csv") == []
    # back, its grace starts again: missing once more is one run missing, not two
    result = runner(held_out)
    assert runner.changes("enrollments.csv") == []
    assert result.report.sync.changes["enrollments.csv"]["missing"] == 1
    assert "u-s1-01" in runner.ids("enrollments.csv", "user_id")


def test_keep_is_additive_only(runner: Runner) -> None:
    d = District.three_schools()
    runner(d)
    del d.classes["c-s3"]
    for e in [e for e, r in d.enrollments.items() if r["classSourcedId"] == "c-s3"]:
        del d.enrollments[e]
    result = runner(d)
    assert runner.changes("classes.csv") == []
    assert runner.ids("classes.csv") == ["c-s1", "c-s2", "c-s3"]  # still published
    assert result.report.sync.changes["classes.csv"]["kept"] == 1


def test_an_incomplete_run_postpones_deactivations(runner: Runner) -> None:
    d = District.three_schools()
    runner(d)
    d.drop_user("u-s1-02")
    d.users["u-s1-09"]["familyName"] = ""  # rejected: the run is partial
    result = runner(d)
    assert result.outcome == "partial"
    counts = result.report.sync.changes["users.csv"]
    assert counts["deactivate"] == 0 and counts["postponed"] == 2
    assert runner.changes("users.csv") == []
    assert {"u-s1-02", "u-s1-09"} <= set(runner.ids("users.csv"))
    assert result.report.sync.postponed_note is not None
    d.users["u-s1-09"]["familyName"] = "Back"
    runner(d)  # complete again: now it is deactivated
    assert runner.changes("users.csv") == [("update", "u-s1-09", "last"),
                                           ("deactivate", "u-s1-02", "")]


def test_grace_in_days_follows_the_clock() -> None:
    """`after 3 days` counts from the first run that missed the row."""
    frame = pl.DataFrame({"id": ["a", "b"]})
    policy = Missing("deactivate", after=3, unit="days")
    start = dt.datetime(2026, 3, 2, 4, 22, tzinfo=dt.UTC)
    snapshot = diff("o", None, frame, current_rows(frame, ("id",), pl.Series(["s1"] * 2),
                                                   "csv"), policy, 1, start, False, key=("id",)).snapshot
    gone = frame.head(1)
    rows = current_rows(gone, ("id",), pl.Series(["s1"]), "csv")
    for run, hours, expected in ((2, 24, "missing"), (3, 72, "missing"),
                                 (4, 95, "missing"), (5, 96, "deactivate")):
        step = diff("o", snapshot, gone, rows, policy, run,
                    start + dt.timedelta(hours=hours), False, key=("id",))
        assert step.counts[expected] == 1, hours
        assert step.full.get_column("id").to_list() == (
            ["a", "b"] if expected == "missing" else ["a"])
        snapshot = step.snapshot


def test_rows_in_place_and_rows_moved_are_diffed_alike() -> None:
    """A run whose keys stand where the snapshot has them is compared row by row, in
    place; the same rows in another order are matched by key: the same changes."""
    first = pl.DataFrame({"id": ["a", "b", "c"], "v": ["1", "2", "3"]})
    at = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    schools = pl.Series(["s1"] * 3)
    snapshot = diff("o", None, first, current_rows(first, ("id",), schools, "csv"), Missing(),
                    1, at, False, key=("id",)).snapshot
    edited = first.with_columns(pl.when(pl.col("id") == "b").then(pl.lit("9"))
                                .otherwise(pl.col("v")).alias("v"))
    for frame in (edited, edited.reverse(), edited.head(2)):
        step = diff("o", snapshot, frame, current_rows(frame, ("id",), schools.head(
            frame.height), "csv", stored=snapshot), Missing(), 2, at, False, key=("id",))
        changes = sorted(step.changes.select("action", "id", "changed").rows())
        gone = [("deactivate", "c", "")] if frame.height == 2 else []
        assert changes == sorted([("update", "b", "v"), *gone]), frame
        assert not step.unchanged
    same = diff("o", snapshot, first, current_rows(first, ("id",), schools, "csv",
                                                   stored=snapshot), Missing(), 2, at, False,
                key=("id",))
    assert same.unchanged and same.counts["unchanged"] == 3
    assert same.snapshot.equals(snapshot)


def test_schools_are_text_and_a_state_with_lists_still_reads() -> None:
    """Schools are kept joined by U+001F (a list column doubled the memory of a large
    output's diff); a snapshot stored with lists, as before, is read the same way."""
    frame = pl.DataFrame({"id": ["a", "b", "c"]})
    schools = pl.Series(["s1\x1fs2", "s2", None])
    first = diff("o", None, frame, current_rows(frame, ("id",), schools, "csv"), Missing(),
                 1, dt.datetime(2026, 3, 2, tzinfo=dt.UTC), False, key=("id",)).snapshot
    assert first.schema["schools"] == pl.String
    as_lists = first.with_columns(pl.col("schools").str.split("\x1f"))
    gone = frame.head(1)
    for stored in (first, as_lists):
        step = diff("o", stored, gone, current_rows(gone, ("id",), schools.head(1), "csv"),
                    Missing(), 2, dt.datetime(2026, 3, 3, tzinfo=dt.UTC), False, key=("id",))
        assert step.counts["deactivate"] == 2
        assert step.schools == {
            "s1": {"before": 1, "create": 0, "reactivate": 0, "update": 0, "deactivate": 0,
                   "delete": 0},
            "s2": {"before": 2, "create": 0, "reactivate": 0, "update": 0, "deactivate": 1,
                   "delete": 0}}


def test_dry_run_writes_nothing(runner: Runner, tmp_path: Path) -> None:
    d = District.three_schools()
    result = runner(d, options=SyncOptions(state=runner.options.state, dry_run=True))
    assert result.outcome == "dry-run" and result.report.sync.changes["users.csv"][
        "create"] == 63
    assert not runner.out.exists() and not runner.options.state.exists()  # type: ignore[union-attr]
    runner(d)
    before = runner.options.state.read_bytes()  # type: ignore[union-attr]
    listing = sorted(p.name for p in runner.out.rglob("*"))
    d.drop_user("u-s1-01")
    dry = runner(d, options=SyncOptions(state=runner.options.state, dry_run=True))
    assert dry.report.sync.changes["users.csv"]["deactivate"] == 1
    assert runner.options.state.read_bytes() == before  # type: ignore[union-attr]
    assert sorted(p.name for p in runner.out.rglob("*")) == listing


def test_changes_only_writes_no_full_files(runner: Runner) -> None:
    runner(District.three_schools(), options=SyncOptions(state=runner.options.state,
                                                         changes_only=True))
    names = sorted(str(p.relative_to(runner.out)) for p in runner.out.rglob("*") if p.is_file())
    assert names == [".rostermap-state", "changes/classes.csv", "changes/enrollments.csv",
                     "changes/users.csv", "report.html", "report.json"]


# --- the mass-change guard -----------------------------------------------------------------


def _lose_a_third_of_s1(d: District) -> None:
    for i in range(1, 8):  # 7 of s1's 21 users: 33% of the school, 11% of the district
        d.drop_user(f"u-s1-{i:02}")


def test_deactivating_30_percent_of_a_school_is_held_then_approved(runner: Runner) -> None:
    d = District.three_schools()
    runner(d)
    published = (runner.out / "users.csv").read_text()
    _lose_a_third_of_s1(d)
    held = runner(d)
    assert held.outcome == "held" and held.report.outcome == "held"
    guard = held.report.sync.guard
    exceeded = [limit for limit in guard.limits if limit.exceeded]
    # enrollments go too, but `when missing delete after 2 runs` keeps them for now
    assert {(x.output, x.school, x.count, x.base) for x in exceeded} == {
        ("users.csv", "s1", 7, 21), ("users.csv", None, 7, 63)}
    assert guard.approve.startswith(f"rostermap approve sync-test {held.run}")
    # nothing published, the state unchanged; the preview is in held/RUN
    assert (runner.out / "users.csv").read_text() == published
    folder = runner.out / "held" / str(held.run)
    assert (folder / "report.html").exists() and (folder / "changes" / "users.csv").exists()
    assert len([r for r in read_csv(folder / "changes" / "users.csv")
                if r["action"] == "deactivate"]) == 7
    store = Store(runner.options.state, "sync-test", None)  # type: ignore[arg-type]
    assert store.last_committed().id == 1  # type: ignore[union-attr]
    store.close()
    approved = approve(MAPPING, held.run, runner.options)  # type: ignore[arg-type]
    assert approved.outcome == "approved"
    assert not folder.exists()
    assert len(read_csv(runner.out / "users.csv")) == 56
    assert json.loads((runner.out / "report.json").read_text())["sync"]["outcome"] == "approved"
    assert runner(d).report.sync.changes["users.csv"]["unchanged"] == 56  # new baseline


def test_a_rejected_run_leaves_everything_as_it_was(runner: Runner) -> None:
    d = District.three_schools()
    runner(d)
    _lose_a_third_of_s1(d)
    held = runner(d)
    reject(MAPPING, held.run, runner.options)  # type: ignore[arg-type]
    assert not (runner.out / "held" / str(held.run)).exists()
    with pytest.raises(UsageError, match=f"run {held.run} is not held: its outcome is rejected"):
        approve(MAPPING, held.run, runner.options)  # type: ignore[arg-type]
    again = runner(d)  # the same export again: held again, against run 1
    assert again.outcome == "held" and again.report.sync.base_run == 1


def test_a_later_run_supersedes_a_held_one(runner: Runner) -> None:
    d = District.three_schools()
    runner(d)
    broken = District.three_schools()
    _lose_a_third_of_s1(broken)
    held = runner(broken)
    assert runner(d).outcome == "success"  # the export was fixed
    with pytest.raises(UsageError, match="superseded"):
        approve(MAPPING, held.run, runner.options)  # type: ignore[arg-type]


def test_a_header_that_changed_case_changes_nothing(runner: Runner) -> None:
    """The Edlink incident: a header whose case changed maps nothing, and everything
    looks deleted. Headers are matched case-insensitively, so nothing changes."""
    d = District.three_schools()
    runner(d)
    files = d.files()
    files["users.csv"] = files["users.csv"].replace("role", "ROLE", 1)
    folder = runner.tmp / "renamed"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    result = runner(folder)
    assert result.outcome == "success"
    assert result.report.sync.changes["users.csv"]["unchanged"] == 63


def test_a_school_whose_export_came_in_empty_is_held(runner: Runner) -> None:
    d = District.three_schools()
    runner(d)
    for sid in [u for u, r in d.users.items() if r["orgSourcedIds"] == "s2"]:
        d.drop_user(sid)
    result = runner(d)
    assert result.outcome == "held"
    assert "users.csv: 21 of 21 rows of school s2 would be deactivated (100%), over the limit " \
        "of deactivate 20% per school" in [b.describe() for b in result.verdict.exceeded]  # type: ignore[union-attr]


def test_limits_in_the_mapping_replace_the_defaults(tmp_path: Path) -> None:
    mapping = tmp_path / "strict.rmap"
    mapping.write_text(Path(MAPPING).read_text().replace(
        "  when missing deactivate\n", "  when missing deactivate\n  limit update 1\n"
        "  limit deactivate 50% per school\n"))
    d = District.three_schools()
    options = SyncOptions(state=tmp_path / "s.sqlite")
    sync(str(mapping), d.write(tmp_path / "p1"), tmp_path / "o", (), options, today=TODAY)
    _lose_a_third_of_s1(d)  # 33% of s1: within 50% per school, but 11% of users: held
    d.users["u-s2-01"]["givenName"] = "A"
    d.users["u-s2-02"]["givenName"] = "B"
    result = sync(str(mapping), d.write(tmp_path / "p2"), tmp_path / "o", (), options,
                  today=TODAY)
    exceeded = {(x.output, x.action, x.limit, x.school)
                for x in result.report.sync.guard.limits if x.exceeded}
    assert ("users.csv", "update", "1", None) in exceeded
    assert ("users.csv", "deactivate", "10%", None) in exceeded
    assert not any(x[2] == "50% per school" for x in exceeded)


# --- delta packages ------------------------------------------------------------------------


def _delta(before: District, after: District, folder: Path) -> Path:
    """The OneRoster delta package that turns ``before`` into ``after``."""
    def changed(old: dict[str, dict[str, str]], new: dict[str, dict[str, str]]
                ) -> dict[str, dict[str, str]]:
        rows = {k: {**v, "status": "active"} for k, v in new.items() if old.get(k) != v}
        rows.update({k: {**v, "status": "tobedeleted"} for k, v in old.items() if k not in new})
        return rows

    files = after.files()
    files["manifest.csv"] = files["manifest.csv"].replace(
        "file.users,bulk", "file.users,delta").replace(
        "file.enrollments,bulk", "file.enrollments,delta").replace(
        "file.classes,bulk", "file.classes,delta").replace(
        "file.orgs,bulk", "file.orgs,absent").replace(
        "file.academicSessions,bulk", "file.academicSessions,absent")
    files["users.csv"] = _table(USER_HEADER, changed(before.users, after.users))
    files["enrollments.csv"] = _table(ENROLLMENT_HEADER,
                                      changed(before.enrollments, after.enrollments))
    classes = {k: {"termSourcedIds": "y1", "classType": "scheduled", **v}
               for k, v in after.classes.items()}
    old_classes = {k: {"termSourcedIds": "y1", "classType": "scheduled", **v}
                   for k, v in before.classes.items()}
    files["classes.csv"] = _table(CLASS_HEADER, changed(old_classes, classes))
    del files["orgs.csv"], files["academicSessions.csv"]
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_a_delta_package_equals_its_bulk_equivalent(tmp_path: Path) -> None:
    before = District.three_schools()
    after = District.three_schools()
    after.users["u-s1-03"]["givenName"] = "Renamed"
    after.drop_user("u-s2-05")
    after.user("u-new", "s3", "student", "New", "Kid", "09")
    after.enroll("c-s3", "u-new", "student")
    after.classes["c-s2"]["title"] = "Renamed class"
    bulk, delta = Runner(tmp_path, "bulk"), Runner(tmp_path, "delta")
    bulk(before)
    delta(before)
    bulk(after)
    delta_package = _delta(before, after, tmp_path / "delta-pkg")
    assert "tobedeleted" in (delta_package / "users.csv").read_text()
    result = delta(delta_package)
    assert result.outcome == "success"
    for name in ("users.csv", "enrollments.csv", "classes.csv", "changes/users.csv",
                 "changes/enrollments.csv", "changes/classes.csv"):
        assert (delta.out / name).read_text() == (bulk.out / name).read_text(), name
    # and the next delta applies on the merged records
    later = District.three_schools()
    later.users = {k: dict(v) for k, v in after.users.items()}
    later.classes, later.enrollments = after.classes, dict(after.enrollments)
    later.users["u-s3-01"]["familyName"] = "Again"
    bulk(later)
    delta(_delta(after, later, tmp_path / "delta-2"))
    assert (delta.out / "users.csv").read_text() == (bulk.out / "users.csv").read_text()
    assert delta.changes("users.csv") == [("update", "u-s3-01", "last")]


def test_a_bulk_package_is_kept_as_its_files_and_a_delta_applies_on_them(
        tmp_path: Path) -> None:
    """After a bulk package the state keeps each file as it was read (compressed), from
    a zip as from a folder; a delta package then reads like its bulk equivalent."""
    import zipfile

    import zstandard

    before, after = District.three_schools(), District.three_schools()
    after.users["u-s1-03"]["givenName"] = "Renamed"
    after.drop_user("u-s2-05")
    folder = before.write(tmp_path / "before")
    package = tmp_path / "before.zip"
    with zipfile.ZipFile(package, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, path.name)
    zipped, bulk = Runner(tmp_path, "zip"), Runner(tmp_path, "bulk")
    zipped(package)
    with contextlib.closing(Store(zipped.options.state, "sync-test", None)) as store:  # type: ignore[arg-type]
        stored = store.source()
    assert stored is not None and stored.files["users"] == "users.csv"
    users = zstandard.ZstdDecompressor().decompress(stored.blobs["users"],
                                                    max_output_size=1 << 24)
    assert users == (folder / "users.csv").read_bytes()
    assert stored.frame("users").get_column("givenName").to_list()[:2] == ["Terry", "Kid1"]
    bulk(before)
    bulk(after)
    zipped(_delta(before, after, tmp_path / "delta"))
    for name in ("users.csv", "changes/users.csv", "enrollments.csv"):
        assert (zipped.out / name).read_text() == (bulk.out / name).read_text(), name


def test_a_file_unchanged_since_the_last_run_is_not_read_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder's file kept by the last run and untouched since (by its fingerprint) is
    not compressed or stored again; one written since is, even at the same size with
    its modification time put back; and one written just before the run is not
    fingerprinted at all."""
    import zstandard

    from rostermap.runtime.sources import delta

    folder = District.three_schools().write(tmp_path / "district")
    users = folder / "users.csv"
    runner = Runner(tmp_path)

    def stored() -> tuple[dict[str, str], int, bytes]:
        with contextlib.closing(Store(runner.options.state, "sync-test", None)) as store:  # type: ignore[arg-type]
            run, data = store.db.execute(
                "SELECT run, data FROM sources WHERE entity = 'users'").fetchone()
            return store.source_files(), run, data

    runner(folder)  # the files were just written: not fingerprinted
    assert "users" not in stored()[0]
    monkeypatch.setattr(delta, "SETTLED", 0.0)
    runner(folder)  # read again, stored alike (same bytes), fingerprinted now
    files, run, _ = stored()
    assert "users" in files and run == 1
    runner(folder)
    assert stored()[1:2] == (1,) and runner.changes("users.csv") == []
    before = users.stat()
    users.write_text(users.read_text().replace("Kid1,", "Kix1,", 1))
    os.utime(users, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert users.stat().st_size == before.st_size
    runner(folder)
    _, run, data = stored()
    assert run == 4
    assert zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 24) == \
        users.read_bytes()
    assert runner.changes("users.csv") == [("update", "u-s1-01", "first")]


def test_a_held_run_keeps_aside_the_stored_files_it_did_not_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A held run whose classes file is the one the state keeps (not read again) keeps
    the stored copy aside with the files it read; approved, the state holds them all."""
    import shutil

    import zstandard

    from rostermap.runtime.sources import delta

    monkeypatch.setattr(delta, "SETTLED", 0.0)
    d = District.three_schools()
    folder = d.write(tmp_path / "district")
    runner = Runner(tmp_path)
    runner(folder)
    _lose_a_third_of_s1(d)
    changed = d.write(tmp_path / "changed")
    for name in ("users.csv", "enrollments.csv"):  # classes.csv and the rest untouched
        shutil.copyfile(changed / name, folder / name)
    held = runner(folder)
    assert held.outcome == "held"
    approve(MAPPING, held.run, runner.options)  # type: ignore[arg-type]
    with contextlib.closing(Store(runner.options.state, "sync-test", None)) as store:  # type: ignore[arg-type]
        rows = store.db.execute("SELECT entity, file, data FROM sources").fetchall()
        assert "classes" in store.source_files()
    assert {r["entity"] for r in rows} == {"users", "classes", "enrollments"}
    for entity, name, data in rows:
        kept = zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 24)
        assert kept == (folder / name).read_bytes(), entity


def test_a_damaged_stored_file_refuses_the_delta_with_its_entity_named(
        tmp_path: Path) -> None:
    before, after = District.three_schools(), District.three_schools()
    after.drop_user("u-s1-01")
    runner = Runner(tmp_path)
    runner(before)
    store = Store(runner.options.state, "sync-test", None)  # type: ignore[arg-type]
    data = store.db.execute("SELECT data FROM sources WHERE entity = 'users'").fetchone()[0]
    store.db.execute("UPDATE sources SET data = ? WHERE entity = 'users'",
                     (data[:4] + b"\x00" * (len(data) - 4),))
    store.close()
    with pytest.raises(RunError, match="stored users records are damaged"):
        runner(_delta(before, after, tmp_path / "d"))
    assert {a for a, _, _ in runner.changes("users.csv")} == {"create"}  # the first run's


def test_a_delta_package_without_an_earlier_run_is_refused(tmp_path: Path) -> None:
    before, after = District.three_schools(), District.three_schools()
    after.drop_user("u-s1-01")
    runner = Runner(tmp_path)
    with pytest.raises(RunError, match="RM419|no earlier run") as caught:
        runner(_delta(before, after, tmp_path / "d"))
    assert "send a full (bulk) package first" in str(caught.value.diagnostics[0].notes)
    assert not (runner.out / "users.csv").exists()


# --- state and history ---------------------------------------------------------------------


def test_the_state_belongs_to_one_profile_and_tenant(runner: Runner) -> None:
    runner(District.three_schools())
    with pytest.raises(UsageError, match="belongs to profile sync-test and an --out folder"):
        sync("powerschool-learning", EXAMPLE, runner.tmp / "x", ["year=2026"],
             runner.options, today=TODAY)
    other = SyncOptions(tenant="north")
    result = sync(MAPPING, runner.tmp / "pkg-out-a-1", runner.tmp / "north", (), other,
                  today=TODAY)
    assert result.run == 1  # a tenant of its own, in the default state folder


def test_a_damaged_state_file_is_a_clear_error(runner: Runner) -> None:
    runner.options.state.write_bytes(b"not a database" * 100)  # type: ignore[union-attr]
    with pytest.raises(RunError, match="RM461|cannot be read"):
        runner(District.three_schools())


def test_failed_runs_are_recorded_and_change_nothing(runner: Runner) -> None:
    d = District.three_schools()
    runner(d)
    published = (runner.out / "users.csv").read_text()
    broken = runner.tmp / "broken"
    d.write(broken)
    users = (broken / "users.csv").read_text()
    (broken / "users.csv").write_text(users + "x" + "," * 20 + "extra\n")  # RM415
    with pytest.raises(RunError):
        runner(broken)
    assert (runner.out / "users.csv").read_text() == published
    store = Store(runner.options.state, "sync-test", None)  # type: ignore[arg-type]
    runs = store.runs()
    store.close()
    assert [r.outcome for r in runs] == ["failed", "success"]
    assert runs[0].error and "RunError" in runs[0].error
    assert runner(d).report.sync.base_run == 1


def test_runs_and_diff_commands(runner: Runner) -> None:
    d = District.three_schools()
    runner(d)
    d.users["u-s1-03"]["givenName"] = "Renamed"
    runner(d)
    d.users["u-s1-03"]["familyName"] = "Twice"
    d.drop_user("u-s2-05")
    d.user("u-new", "s3", "student", "New", "Kid")
    runner(d)
    state = ["--state", str(runner.options.state)]
    cli = CliRunner()
    listed = cli.invoke(main, ["runs", MAPPING, *state])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].split() == ["run", "started", "outcome", "rows", "changes"]
    assert [line.split()[0] for line in lines[1:]] == ["3", "2", "1"]
    assert "1 create" in lines[1] and "1 deactivate" in lines[1]
    shown = cli.invoke(main, ["diff", MAPPING, "1", "3", *state, "--output", "users.csv"])
    assert shown.exit_code == 0, shown.output
    assert shown.output.splitlines() == [
        "changes from run 1 to run 3:",
        "  users.csv: 1 create, 1 update, 1 deactivate",
        "    create     u-new",
        "    update     u-s1-03 (first, last)",
        "    deactivate u-s2-05",
    ]
    assert "Kid5" not in shown.output  # keys and column names, never values
    none = cli.invoke(main, ["diff", MAPPING, "2", "2", *state])
    assert none.exit_code == 2
    missing = cli.invoke(main, ["runs", MAPPING, "--state", str(runner.tmp / "none.sqlite")])
    assert missing.exit_code == 2 and "no runs of sync-test" in missing.output


def test_cli_exit_codes_held_approve_and_reject(tmp_path: Path) -> None:
    d = District.three_schools()
    first, second = d.write(tmp_path / "p1"), tmp_path / "p2"
    _lose_a_third_of_s1(d)
    d.write(second)
    cli = CliRunner()
    common = ["--out", str(tmp_path / "o"), "--state", str(tmp_path / "s.sqlite"),
              "--today", "2026-03-02"]
    assert cli.invoke(main, ["run", MAPPING, "--source", str(first), *common]).exit_code == 0
    held = cli.invoke(main, ["run", MAPPING, "--source", str(second), *common])
    assert held.exit_code == 4, held.output
    assert "held" in held.output
    approved = cli.invoke(main, ["approve", MAPPING, "2", "--state", str(tmp_path / "s.sqlite")])
    assert approved.exit_code == 0 and "run 2 approved" in approved.output
    again = cli.invoke(main, ["approve", MAPPING, "2", "--state", str(tmp_path / "s.sqlite")])
    assert again.exit_code == 2 and "run 2 is not held: its outcome is approved" in again.output
    dry = cli.invoke(main, ["run", MAPPING, "--source", str(first), *common, "--dry-run"])
    assert dry.exit_code == 0 and "dry run: nothing was written" in dry.output
    log = tmp_path / "sync.log"
    logged = cli.invoke(main, ["run", MAPPING, "--source", str(first), *common, "--quiet",
                               "--log", str(log)])
    assert logged.exit_code == 0 and logged.output == ""
    assert "run 3 of sync-test (--state " in log.read_text()
    assert "Kid" not in log.read_text()


def test_report_html_of_a_held_run_opens_in_chromium(runner: Runner, chromium: str) -> None:
    d = District.three_schools()
    runner(d)
    _lose_a_third_of_s1(d)
    held = runner(d)
    page = runner.out / "held" / str(held.run) / "report.html"
    dom = subprocess.run([chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert "Run held" in dom and "users.csv" in dom
    assert "7 of 21 rows of school s1 would be deactivated (33.3%)" in dom


DEPARTED = """profile departed "Departed rows sent as deleted"
output users.csv from users
  key id
  when missing delete after 2 runs with status = "deleted", note = "left"
  limit deactivate 100%
  limit deactivate 100% per school

  id     <- sourcedId
  name   <- givenName
  status <- "active"
  note   <- ""
"""


def test_when_missing_with_sends_the_departed_row_once_as_it_says(tmp_path: Path) -> None:
    mapping = tmp_path / "departed.rmap"
    mapping.write_text(DEPARTED, encoding="utf-8")
    out, options = tmp_path / "out", SyncOptions(state=tmp_path / "departed.sqlite")
    d = District.three_schools()

    def run(count: int) -> dict[str, dict[str, str]]:
        result = sync(str(mapping), d.write(tmp_path / f"pkg-{count}"), out, (), options,
                      today=TODAY)
        assert result.outcome.exit_code == 0
        return {r["id"]: r for r in read_csv(out / "users.csv")}

    run(1)
    d.drop_user("u-s1-01")
    within_grace = run(2)  # carried over as last published: nothing is sent yet
    assert within_grace["u-s1-01"]["status"] == "active"
    assert read_csv(out / "changes" / "users.csv") == []
    departed = run(3)
    assert departed["u-s1-01"] == {"id": "u-s1-01", "name": "Kid1", "status": "deleted",
                                        "note": "left"}
    assert [r for r in departed.values() if r["status"] != "active"] == [departed["u-s1-01"]]
    assert [(r["action"], r["id"], r["status"], r["note"])
            for r in read_csv(out / "changes" / "users.csv")] == [
        ("delete", "u-s1-01", "deleted", "left")]
    report = json.loads((out / "report.json").read_text())["outputs"]["users.csv"]
    assert (report["rows"], report.get("carried", 0), report["departed"]) == (63, 0, 1)
    after = run(4)  # sent once: the product has been told
    assert "u-s1-01" not in after and read_csv(out / "changes" / "users.csv") == []
    d.user("u-s1-01", "s1", "student", "Kid1", "Familys1", "09")
    back = run(5)
    assert back["u-s1-01"]["status"] == "active"
    assert [(r["action"], r["id"], r["status"]) for r in read_csv(out / "changes" / "users.csv")
            ] == [("create", "u-s1-01", "active")]


# --- retention -------------------------------------------------------------------------------


def test_older_runs_keep_their_counts_and_lose_their_details(tmp_path: Path) -> None:
    runner = Runner(tmp_path)
    runner.options = SyncOptions(state=runner.options.state, retention=Retention(runs=2))
    district = District.three_schools()
    for i in range(4):
        district.users["u-s1-01"]["givenName"] = f"Name{i}"
        runner(district)
    with contextlib.closing(Store(runner.options.state, "sync-test", None)) as store:  # type: ignore[arg-type]
        assert [r.id for r in store.runs()] == [4, 3, 2, 1]
        assert store.report(1) is None and store.report(2) is None
        assert store.report(3) is not None and store.report(4) is not None
        assert store.changes(2) == {} and set(store.changes(3)) >= {"users.csv"}
        assert store.run(2).changes["users.csv"]["update"] == 1  # type: ignore[union-attr]


def test_a_row_departed_longer_than_the_retention_comes_back_created(tmp_path: Path) -> None:
    runner = Runner(tmp_path)
    runner.options = SyncOptions(state=runner.options.state, retention=Retention(days=30))
    start = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    before, after = District.three_schools(), District.three_schools()
    after.drop_user("u-s1-01")
    runner(before, now=start)
    runner(after, now=start + dt.timedelta(days=1))
    assert ("deactivate", "u-s1-01", "") in runner.changes("users.csv")
    runner(after, now=start + dt.timedelta(days=20))  # remembered: still in the snapshot
    runner(before, now=start + dt.timedelta(days=25))
    assert ("reactivate", "u-s1-01", "") in runner.changes("users.csv")
    runner(after, now=start + dt.timedelta(days=26))
    runner(after, now=start + dt.timedelta(days=60))  # forgotten now
    with contextlib.closing(Store(runner.options.state, "sync-test", None)) as store:  # type: ignore[arg-type]
        snapshot = store.snapshot("users.csv")
    assert snapshot is not None and "u-s1-01" not in snapshot.get_column("c:id").to_list()
    runner(before, now=start + dt.timedelta(days=61))
    assert ("create", "u-s1-01", "") in runner.changes("users.csv")
