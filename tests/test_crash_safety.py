"""Crash safety of sync runs: a run killed at any moment never corrupts state or outputs.

The issue's acceptance test is "a random SIGKILL loop (at least 50 kills) never
corrupts state or outputs". SIGKILL because it is the one death no handler sees:
what a run leaves then is exactly what the disk holds, and only ``Store.recover``
and ``orphan_staging`` (run by the next command) stand between it and the
district's import files.

Every run here is a real ``rostermap run`` process of ``powerschool-learning`` over
variants of examples/district. No grace period is configured, so a run's full files
depend on its variant only; changes/ depends on the run before it, so it is checked
against the report and the full files of the same run instead.

The mapping files are copied into the test's folder at the start, so an edit of
mappings/ made while the test runs cannot make two runs of a variant differ.
``ROSTERMAP_CRASH_SEED`` reproduces a failing loop (the kill times are drawn from
it; where they land still depends on the machine's speed, which is why the loop
records the phase of every kill).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rostermap.runtime.errors import RunError
from rostermap.runtime.run import outputs
from rostermap.runtime.run.outputs import STAGING_PREFIX
from rostermap.runtime.sync.changes import ACTIONS, key_text
from rostermap.runtime.sync.run import SyncOptions, sync
from rostermap.runtime.sync.state import Store, lock, orphan_staging
from tests.conftest import EXAMPLE, MAPPINGS, ROOT

PROFILE = "powerschool-learning"
TENANT = None  # the runs name no --tenant: their state is --state
PARAMS = ("--param", "year=2026", "--param", "google_domain=willowsprings.k12.us",
          "--today", "2026-03-02")
# Each output's key columns, to tell a deactivated row from one still published.
KEYS: dict[str, tuple[str, ...]] = {
    "users.csv": ("user_id",),
    "users_custom.csv": ("user_id",),
    "organizations.csv": ("organization_id",),
    "classes.csv": ("class_id",),
    "classes_custom.csv": ("class_id",),
    "rosters.csv": ("class_id", "user_id"),
}
OUTPUTS = tuple(KEYS)
DOCUMENTS = ("report.json", "report.html", ".rostermap-state")  # the last: the owner note
PUBLISHED = frozenset((*OUTPUTS, *(f"changes/{o}" for o in OUTPUTS), *DOCUMENTS))
COMMITTED = ("success", "partial", "approved")

KILLS = 50  # the minimum
MAX_ATTEMPTS = 110  # runs started, killed or not, before the loop gives up on its quotas
MIN_BEFORE_COMMIT = 3  # kills that must land while the run is recorded as running
MIN_AFTER_COMMIT = 1  # kills that must land once the run has committed
SEED = int(os.environ.get("ROSTERMAP_CRASH_SEED", "20260302"))

# The phases a kill can land in, read from the state the killed run left.
STARTING = "starting (no run recorded yet)"
BEFORE_COMMIT = "before commit (running)"
PUBLISHING = "between commit and publish (publishing=1)"
AFTER = "after publish (committed)"
PHASES = (STARTING, BEFORE_COMMIT, PUBLISHING, AFTER)


# --- the district's variants ------------------------------------------------------------


def _edit_csv(path: Path, edit: Callable[[dict[str, str]], dict[str, str] | None],
              add: Sequence[dict[str, str]] = ()) -> None:
    """Rewrite a source file record by record: ``edit`` returns the record, or None to
    drop it; ``add`` appends records (missing columns are empty)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or ())
        records = [r for r in (edit(dict(row)) for row in reader) if r is not None]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, header, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows([*records, *add])


def _record(path: Path, sourced_id: str) -> dict[str, str]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return next(r for r in csv.DictReader(handle) if r["sourcedId"] == sourced_id)


def _variant_renamed(folder: Path) -> None:
    """Two students leave (schools 1 and 3), two are renamed, a class is retitled."""
    names = {"stu-1": ("givenName", "Arjuna"), "stu-57": ("familyName", "Okafor-Lindqvist")}

    def users(r: dict[str, str]) -> dict[str, str] | None:
        if r["sourcedId"] in ("stu-3", "stu-95"):
            return None
        if r["sourcedId"] in names:
            column, value = names[r["sourcedId"]]
            r[column] = value
        return r

    def classes(r: dict[str, str]) -> dict[str, str]:
        if r["sourcedId"] == "cls-2":
            r["title"] = "Mathematics Grade 2 - Period 3"
        return r

    _edit_csv(folder / "users.csv", users)
    _edit_csv(folder / "classes.csv", classes)


def _variant_moved(folder: Path) -> None:
    """Two students of school 2 leave, one arrives (enrolled as stu-2 is), an email changes."""
    newcomer = _record(folder / "users.csv", "stu-2") | {
        "sourcedId": "stu-900", "username": "casey.newcomer90", "identifier": "900900",
        "userIds": "{LDAP:casey.newcomer90}", "givenName": "Casey", "familyName": "Newcomer",
        "email": "casey.newcomer90@students.willowsprings.k12.us"}

    def users(r: dict[str, str]) -> dict[str, str] | None:
        if r["sourcedId"] in ("stu-58", "stu-59"):
            return None
        if r["sourcedId"] == "stu-10":
            r["email"] = "aaliyah.gl@students.willowsprings.k12.us"
        return r

    with (folder / "enrollments.csv").open(encoding="utf-8-sig", newline="") as handle:
        theirs = [r for r in csv.DictReader(handle) if r["userSourcedId"] == "stu-2"][:2]
    enrollments = [r | {"sourcedId": f"enr-900-{i}", "userSourcedId": "stu-900"}
                   for i, r in enumerate(theirs)]
    _edit_csv(folder / "users.csv", users, [newcomer])
    _edit_csv(folder / "enrollments.csv", lambda r: r, enrollments)


def make_variants(root: Path) -> list[Path]:
    """The example district as is, and two edits of it whose changes against each other
    stay well under the mass-change guard's limits (10% of an output, 20% of a school),
    so that no run, in whatever order the kills let them commit, is held."""
    variants = []
    for name, edit in (("original", None), ("renamed", _variant_renamed),
                       ("moved", _variant_moved)):
        folder = root / name
        shutil.copytree(EXAMPLE, folder)
        if edit is not None:
            edit(folder)
        variants.append(folder)
    return variants


def pin_mappings(root: Path) -> Path:
    """A copy of the mapping files; the profile is run from it (see the module docstring)."""
    folder = root / "mappings"
    folder.mkdir()
    for path in MAPPINGS.glob("*.rmap"):
        shutil.copy2(path, folder / path.name)
    return folder / f"{PROFILE}.rmap"


# --- running rostermap ------------------------------------------------------------------


@dataclass
class Harness:
    """Where a test's runs go, and how to start one as its own process."""

    root: Path
    profile: Path
    out: Path
    state: Path
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def make(cls, root: Path, profile: Path) -> Harness:
        env = dict(os.environ, ROSTERMAP_STATE_DIR=str(root / "state-dir"),
                   PYTHONDONTWRITEBYTECODE="1")
        return cls(root, profile, root / "out", root / "state" / "run.sqlite", env)

    def command(self, source: Path, out: Path | None = None, state: Path | None = None,
                extra: Sequence[str] = ()) -> list[str]:
        return [sys.executable, "-m", "rostermap", "run", str(self.profile),
                "--source", str(source), "--out", str(out or self.out),
                "--state", str(state or self.state), *PARAMS, *extra]

    def start(self, command: list[str], cwd: Path = ROOT) -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, cwd=cwd, env=self.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)

    def store(self) -> Store:
        """The state, opened as a command opens it; that runs no recovery by itself."""
        return Store(self.state, PROFILE, TENANT)


def finish(process: subprocess.Popen[bytes], timeout: float = 60) -> tuple[int, str]:
    try:
        process.wait(timeout)
    finally:
        if process.returncode is None:
            process.kill()
            process.wait()
    assert process.stderr is not None
    with process.stderr:
        return process.returncode, process.stderr.read().decode("utf-8", "replace")


def run_to_end(harness: Harness, command: list[str], cwd: Path = ROOT) -> float:
    """Run a command that must succeed; its duration, start-up included."""
    began = time.monotonic()
    code, stderr = finish(harness.start(command, cwd))
    assert code == 0, f"{' '.join(command)} exited {code}:\n{stderr}"
    return time.monotonic() - began


@dataclass
class Expected:
    """Each variant's full files, from an unkilled first run of it; the run's duration."""

    by_source: dict[str, dict[str, bytes]]
    durations: list[float]

    def files(self, source: str) -> dict[str, bytes]:
        assert source in self.by_source, f"a run of an unknown source {source}"
        return self.by_source[source]


def expected_outputs(harness: Harness, variants: list[Path]) -> Expected:
    by_source, durations = {}, []
    for i, variant in enumerate(variants):
        out, state = harness.root / f"expected-{i}", harness.root / f"expected-{i}.sqlite"
        durations.append(run_to_end(harness, harness.command(variant, out, state)))
        by_source[str(variant)] = {o: (out / o).read_bytes() for o in OUTPUTS}
    return Expected(by_source, durations)


@dataclass(frozen=True)
class District:
    """The pinned profile, the variants, and their expected files, shared by the tests."""

    profile: Path
    variants: list[Path]
    expected: Expected

    def harness(self, root: Path) -> Harness:
        return Harness.make(root, self.profile)


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> District:
    root = tmp_path_factory.mktemp("district")
    profile = pin_mappings(root)
    variants = make_variants(root)
    return District(profile, variants, expected_outputs(Harness.make(root, profile), variants))


# --- the invariants ---------------------------------------------------------------------


def check_state(harness: Harness) -> None:
    """Invariant A: the SQLite file is sound, opens as a state, and holds whole commits.

    A commit writes the snapshots of the outputs that changed, the change rows and the
    run's row in one transaction: every output the run row says changed must have its
    snapshot and change rows from that run, and no snapshot may come from a run that
    did not commit (a torn or leaked commit).
    """
    if not harness.state.exists():
        return
    db = sqlite3.connect(harness.state)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        db.close()
    store = harness.store()
    try:
        runs = store.runs(1000)
        committed = {r.id for r in runs if r.outcome in COMMITTED}
        last = store.last_committed()
        snapshot_runs = dict(store.db.execute("SELECT output, run FROM snapshots").fetchall())
        assert set(snapshot_runs.values()) <= committed, f"snapshots of runs {snapshot_runs}"
        if last is None:
            assert snapshot_runs == {} and store.source() is None
            return
        assert set(store.snapshots()) == set(OUTPUTS)  # and every blob decodes
        assert store.source() is not None
        stored = store.changes(last.id)
        for output, counts in last.changes.items():
            if any(counts.values()):
                assert snapshot_runs[output] == last.id, f"{output}: not run {last.id}'s snapshot"
            found = Counter(stored[output]["action"]) if output in stored else Counter()
            assert found == +Counter(counts), f"stored change rows of {output}: {dict(found)}"
        publishing = [r.id for r in runs if r.publishing]
        assert publishing in ([], [last.id]), f"runs {publishing} publishing, last {last.id}"
    finally:
        store.close()


def files_in(out: Path) -> set[str]:
    """The files in OUT, outside staging folders."""
    if not out.is_dir():
        return set()
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()
            and not p.relative_to(out).parts[0].startswith(STAGING_PREFIX)}


def read_csv(data: bytes) -> tuple[list[str], list[tuple[str, ...]]]:
    """A CSV file's header and rows; every row must be whole (as long as the header)."""
    text = data.decode("utf-8")
    assert text.endswith("\n"), "the file does not end with a line break: cut short"
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header, body = rows[0], [tuple(r) for r in rows[1:]]
    assert all(len(r) == len(header) for r in body), "a row of the wrong length"
    return header, body


def check_changes(out: Path, output: str, counts: dict[str, int]) -> None:
    """changes/OUTPUT belongs with OUTPUT and the report: its header, its count per
    action, its created and updated rows published, its deactivated keys not."""
    header, rows = read_csv((out / output).read_bytes())
    change_header, changes = read_csv((out / "changes" / output).read_bytes())
    assert change_header == ["action", "changed", *header], f"changes/{output} header"
    found = Counter(r[0] for r in changes)
    assert found == +Counter({a: counts[a] for a in ACTIONS}), (
        f"changes/{output} has {dict(found)}, the report says {counts}")
    published = set(rows)
    key = [header.index(k) for k in KEYS[output]]
    keys = {tuple(r[i] for i in key) for r in rows}
    for change in changes:
        row = change[2:]
        if change[0] in ("create", "reactivate", "update"):
            assert row in published, f"changes/{output}: {change} is not in {output}"
        else:
            assert tuple(row[i] for i in key) not in keys, f"{output} still has {change}"


def check_report(out: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert (out / "report.html").read_text(encoding="utf-8").endswith("</html>\n")
    return report


def check_published(harness: Harness, expected: Expected, staging_allowed: bool) -> None:
    """OUT holds exactly what one committed run wrote, the last one (Invariant B).

    Right after a kill, before any recovery, this must already hold unless a run is
    left publishing; only leftover staging folders may be there (``staging_allowed``).
    """
    out = harness.out
    staging = sorted(p.name for p in out.glob(f"{STAGING_PREFIX}*")) if out.is_dir() else []
    assert staging_allowed or not staging, f"staging folders left in OUT: {staging}"
    store = harness.store()
    try:
        last = store.last_committed()
        assert last is None or not last.publishing
        present = files_in(out)
        if last is None:
            assert present == set(), f"files published before any commit: {present}"
            return
        # A run that published an earlier committed run first keeps that run's change
        # files as changes/run-N/: the product may not have read them.
        kept = {p for p in present if re.fullmatch(r"changes/run-\d+/[^/]+", p)}
        assert present - kept == PUBLISHED, (
            f"OUT holds {sorted((present - kept) ^ PUBLISHED)} wrongly")
        report = check_report(out)
        late = report["sync"].get("published_late") or []
        assert kept == ({f"changes/run-{late[-1]}/{o}" for o in OUTPUTS} if late else set()), (
            f"OUT keeps {sorted(kept)} of runs published late, the report says {late}")
        assert report["sync"]["run"] == last.id, (
            f"report.json is run {report['sync']['run']}'s, the last committed is {last.id}")
        assert report["sync"]["outcome"] == last.outcome
        assert report["source"]["path"] == last.source
        for output, data in expected.files(last.source).items():
            assert (out / output).read_bytes() == data, f"{output} is not run {last.id}'s"
            counts = report["sync"]["changes"][output]
            assert {a: counts[a] for a in ACTIONS} == last.changes[output]
            assert last.rows[output] == len(read_csv(data)[1])
            check_changes(out, output, counts)
        check_snapshots(out, store)
    finally:
        store.close()


def check_snapshots(out: Path, store: Store) -> None:
    """The state's snapshots hold, as published, exactly the keys OUT's files hold."""
    for output, snapshot in store.snapshots().items():
        header, rows = read_csv((out / output).read_bytes())
        key = [header.index(k) for k in KEYS[output]]
        published = {"\x1f".join(r[i] for i in key) for r in rows}
        live = snapshot.filter(snapshot["state"] == "present").select(
            key_text([f"c:{k}" for k in KEYS[output]])).to_series().to_list()
        assert set(live) == published, f"{output}: the snapshot and the file differ"


def check_half_published(harness: Harness, expected: Expected) -> None:
    """A run left publishing: OUT mixes its files with the run before's, file by file,
    and every file is whole (the moves are renames)."""
    store = harness.store()
    try:
        pending = store.last_committed()
        assert pending is not None and pending.publishing
        before = next((r for r in store.runs(1000)
                       if r.id < pending.id and r.outcome in COMMITTED), None)
        allowed = [expected.files(pending.source)]
        if before is not None:
            allowed.append(expected.files(before.source))
        for output in OUTPUTS:
            if (harness.out / output).exists():
                data = (harness.out / output).read_bytes()
                assert any(data == files[output] for files in allowed), f"{output} is mixed"
            if (harness.out / "changes" / output).exists():
                read_csv((harness.out / "changes" / output).read_bytes())
        if (harness.out / "report.json").exists():
            json.loads((harness.out / "report.json").read_text(encoding="utf-8"))
    finally:
        store.close()


def recover(harness: Harness) -> list[str]:
    """What the next command does first, under the lock (which a killed run released)."""
    with lock(harness.state):
        store = harness.store()
        try:
            done = store.recover()
            orphan_staging(harness.out, store)
        finally:
            store.close()
    return done


def last_run_id(harness: Harness) -> int:
    if not harness.state.exists():
        return 0
    store = harness.store()
    try:
        runs = store.runs(1)
        return runs[0].id if runs else 0
    finally:
        store.close()


def publishing(harness: Harness) -> bool:
    """Whether a committed run's files are still to be moved into OUT."""
    if not harness.state.exists():
        return False
    store = harness.store()
    try:
        return any(r.publishing for r in store.runs(1000))
    finally:
        store.close()


def phase_of(harness: Harness, started_after: int) -> str:
    """Where a kill landed, by what the killed run left in the state."""
    if not harness.state.exists():
        return STARTING
    store = harness.store()
    try:
        runs = [r for r in store.runs(5) if r.id > started_after]
    finally:
        store.close()
    if not runs:
        return STARTING
    assert len(runs) == 1, f"one process made runs {[r.id for r in runs]}"
    record = runs[0]
    if record.outcome == "running":
        return BEFORE_COMMIT
    assert record.outcome in COMMITTED, f"a killed run is {record.outcome}: {record.error}"
    return PUBLISHING if record.publishing else AFTER


# --- 1. the SIGKILL loop ----------------------------------------------------------------


def verify(harness: Harness, expected: Expected, recover_now: bool) -> None:
    """Invariants A and B after a run, killed or not; recovery first if ``recover_now``,
    else only what must hold before any recovery.

    Before the first run has opened the state there is none, and nothing to check or
    recover: the test does not create it, so that runs are also killed creating it.
    """
    if not harness.state.exists():
        assert files_in(harness.out) == set()
        return
    check_state(harness)
    if publishing(harness):
        check_half_published(harness, expected)
    else:
        check_published(harness, expected, staging_allowed=True)
    if recover_now:
        recover(harness)
        check_state(harness)
        check_published(harness, expected, staging_allowed=False)


def test_sigkill_at_random_moments_never_corrupts_state_or_outputs(
        tmp_path: Path, district: District) -> None:
    """At least 50 runs killed at random moments; after each, the state is sound and,
    once recovered, OUT is exactly one committed run's files.

    The first 50 kill times are uniform over 1.2 runs' time. A run is mostly Python's
    start-up, so most of them land before anything is recorded, a few after the commit,
    and hardly any in the short window between the commit and the end of the moves
    (test 2 covers it deterministically). If too few landed before or after the commit,
    further kills are drawn from the second half of a run only, until they have.

    Recovery alternates: after even attempts the test recovers as the next command
    would; after odd ones it leaves it to the next run, so that runs also recover what
    killed runs left (and are themselves killed while doing so). A run that is not
    killed, the run after a kill, must succeed.
    """
    harness = district.harness(tmp_path)
    variants, expected = district.variants, district.expected
    duration = statistics.median(expected.durations)
    rng = random.Random(SEED)
    uniform: Counter[str] = Counter()
    tail: Counter[str] = Counter()
    completed = attempts = 0
    began = time.monotonic()

    def quotas_met() -> bool:
        phases = uniform + tail
        return (phases[BEFORE_COMMIT] >= MIN_BEFORE_COMMIT
                and phases[PUBLISHING] + phases[AFTER] >= MIN_AFTER_COMMIT)

    while uniform.total() < KILLS or not quotas_met():
        assert attempts < MAX_ATTEMPTS, f"quotas not met after {attempts} runs: {uniform + tail}"
        kills = uniform if uniform.total() < KILLS else tail
        low = 0.0 if kills is uniform else 0.5 * duration
        delay = rng.uniform(low, 1.2 * duration)
        variant = variants[attempts % len(variants)]
        where = f"attempt {attempts} (seed {SEED}, {variant.name}, kill at {delay:.3f}s)"
        before = last_run_id(harness)
        process = harness.start(harness.command(variant))
        try:
            process.wait(delay)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
        code, stderr = finish(process)
        if code == -signal.SIGKILL:
            kills[phase_of(harness, before)] += 1
        else:
            assert code == 0, f"{where}: the run exited {code}:\n{stderr}"
            completed += 1
        try:
            verify(harness, expected, recover_now=attempts % 2 == 0)
        except AssertionError as error:
            raise AssertionError(f"{where}: {error}") from error
        attempts += 1
    # The last word: a run that is not killed succeeds and leaves the right files.
    run_to_end(harness, harness.command(variants[attempts % len(variants)]))
    verify(harness, expected, recover_now=False)
    store = harness.store()
    try:
        outcomes = Counter(r.outcome for r in store.runs(1000))
    finally:
        store.close()
    print(f"\ncrash loop (seed {SEED}): {attempts} runs in {time.monotonic() - began:.1f}s: "
          f"{uniform.total()} killed at uniform times in [0, {1.2 * duration:.2f}s], "
          f"{tail.total()} in [{0.5 * duration:.2f}s, {1.2 * duration:.2f}s], "
          f"{completed} completed (one run takes {duration:.2f}s)")
    for phase in PHASES:
        print(f"  killed {phase:<45} {uniform[phase]:3d} uniform  {tail[phase]:3d} tail")
    print(f"  run outcomes in the state: {dict(outcomes)}")
    assert outcomes["running"] == 0 and outcomes["failed"] == 0
    assert outcomes["interrupted"] == (uniform + tail)[BEFORE_COMMIT]


# --- 2. the publish window, deterministically -------------------------------------------

# Run the CLI, with SIGKILL sent to itself at a chosen point of the run.
KILL_AT = """
import os, signal, sys

import rostermap.runtime.run.outputs
import rostermap.runtime.sync.state

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

class Os:
    # rostermap.runtime.run.outputs' os, whose second os.replace kills: one file is moved.
    calls = 0

    def __getattr__(self, name):
        return getattr(os, name)

    def replace(self, source, target):
        Os.calls += 1
        if Os.calls == 2:
            die()
        os.replace(source, target)

point = sys.argv[1]
if point == "publish":
    rostermap.runtime.run.outputs.os = Os()
elif point == "commit":
    rostermap.runtime.sync.state.Store.commit = die
elif point == "published":
    rostermap.runtime.sync.state.Store.published = die
from rostermap.cli.main import main
main(sys.argv[2:], prog_name="rostermap")
"""


@pytest.mark.parametrize(("point", "phase"), [
    ("commit", BEFORE_COMMIT),  # staging written, the transaction not begun
    ("publish", PUBLISHING),  # committed, one file of 14 moved
    ("published", PUBLISHING),  # committed, every file moved, not yet marked published
])
def test_a_run_killed_at_a_fixed_point_is_finished_by_the_next_command(
        tmp_path: Path, district: District, point: str, phase: str) -> None:
    """The publish window without timing luck: the run kills itself there.

    The next command, a dry run (which recovers and writes nothing else), must leave
    OUT as the last committed run wrote it; the run after it computes its changes
    against that run (same variant: no changes).
    """
    harness = district.harness(tmp_path)
    original, renamed = district.variants[:2]
    expected = district.expected
    run_to_end(harness, harness.command(original))
    killer = [sys.executable, "-c", KILL_AT, point, *harness.command(renamed)[3:]]
    code, stderr = finish(harness.start(killer))
    assert code == -signal.SIGKILL, stderr
    check_state(harness)
    assert phase_of(harness, 1) == phase
    store = harness.store()
    try:
        killed = store.run(2)
        assert killed is not None
    finally:
        store.close()
    staging = Path(killed.staging) if killed.staging else None
    if point == "publish":
        assert staging is not None and staging.is_dir()
        left = {p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file()}
        # the first file, in name order, is moved; the list of what it replaces stays
        assert left == PUBLISHED - {".rostermap-state"} | {".rostermap-replaces"}
        _, rows = read_csv((harness.out / "changes" / "classes.csv").read_bytes())
        assert {r[0] for r in rows} == {"create"}, "changes/classes.csv is not still run 1's"
        assert check_report(harness.out)["sync"]["run"] == 1
        check_half_published(harness, expected)
    elif point == "published":
        assert files_in(harness.out) == PUBLISHED
    else:
        check_published(harness, expected, staging_allowed=True)
        assert any(harness.out.glob(f"{STAGING_PREFIX}*"))
    run_to_end(harness, harness.command(renamed, extra=("--dry-run",)))
    check_state(harness)
    check_published(harness, expected, staging_allowed=point == "commit")
    committed = 2 if phase == PUBLISHING else 1
    report = check_report(harness.out)
    assert report["sync"]["run"] == committed
    run_to_end(harness, harness.command(renamed))
    check_state(harness)
    check_published(harness, expected, staging_allowed=False)
    report = check_report(harness.out)
    assert report["sync"]["base_run"] == committed
    if committed == 2:
        assert all(not any(report["sync"]["changes"][o][a] for a in ACTIONS) for o in OUTPUTS)


class _Replace:
    """``runtime.run.outputs``' ``os``, whose second ``replace`` raises: one file is moved."""

    def __init__(self, error: type[BaseException]):
        self.error, self.calls = error, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def replace(self, source: Path, target: Path) -> None:
        self.calls += 1
        if self.calls == 2:
            raise self.error("simulated")
        os.replace(source, target)


@pytest.mark.parametrize("error", [KeyboardInterrupt, PermissionError])
def test_an_exception_after_the_commit_point_leaves_the_run_committed(
        tmp_path: Path, district: District, monkeypatch: pytest.MonkeyPatch,
        error: type[BaseException]) -> None:
    """Ctrl-C, or an OSError while the files move, must not un-commit the run.

    Test 2 kills the run in the same place; here an exception stops it, so the run's
    own error handling runs. Reproduction: sync run 1 of the example district; sync
    run 2 of a variant with ``runtime.run.outputs.os.replace`` raising on its 2nd call;
    then ``Store.recover()``.
    """
    harness = district.harness(tmp_path)
    original, renamed = district.variants[:2]
    options = SyncOptions(state=harness.state)
    params = ["year=2026", "google_domain=willowsprings.k12.us"]
    today = dt.date(2026, 3, 2)
    sync(str(harness.profile), original, harness.out, params, options, today=today)
    with monkeypatch.context() as patch, pytest.raises((error, RunError)):
        patch.setattr(outputs, "os", _Replace(error))
        sync(str(harness.profile), renamed, harness.out, params, options, today=today)
    store = harness.store()
    try:
        record = store.run(2)
        assert record is not None and record.publishing
        snapshots = dict(store.db.execute("SELECT output, run FROM snapshots").fetchall())
        assert snapshots["users.csv"] == 2  # committed: the state is run 2's
        assert record.outcome == "success", f"the committed run 2 is now {record.outcome}"
        store.recover()
        last = store.last_committed()
        assert last is not None
        report = check_report(harness.out)
        assert report["sync"]["run"] == last.id
    finally:
        store.close()


def test_a_relative_out_folder_is_recovered_from_any_working_folder(
        tmp_path: Path, district: District) -> None:
    """cron and systemd start commands in another folder than a person's shell: the
    next command finishes a killed run's publication wherever it starts.

    Reproduction: in folder A, ``rostermap run ... --out out`` (run 1), then run 2
    killed after moving one file (KILL_AT publish); then a ``--dry-run`` in folder B.
    """
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.mkdir()
    elsewhere.mkdir()
    harness = district.harness(tmp_path)
    harness.out = here / "out"
    original, renamed = district.variants[:2]

    def command(source: Path, *extra: str) -> list[str]:
        return ["run", str(harness.profile), "--source", str(source), "--out", "out",
                "--state", str(harness.state), *PARAMS, *extra]

    run_to_end(harness, [sys.executable, "-m", "rostermap", *command(original)], here)
    code, stderr = finish(harness.start(
        [sys.executable, "-c", KILL_AT, "publish", *command(renamed)], here))
    assert code == -signal.SIGKILL, stderr
    assert publishing(harness)
    run_to_end(harness, [sys.executable, "-m", "rostermap", *command(renamed, "--dry-run")],
               elsewhere)
    check_state(harness)
    check_published(harness, district.expected, staging_allowed=True)


# --- 3. the lock ------------------------------------------------------------------------


def test_a_locked_state_exits_5_and_wait_queues_behind_the_lock(
        tmp_path: Path, district: District) -> None:
    """Two runs of one profile and tenant never interleave: the second exits 5 at once,
    naming the state and its holder, or with --wait runs once the lock is free."""
    harness = district.harness(tmp_path)
    command = harness.command(EXAMPLE)
    with lock(harness.state):
        began = time.monotonic()
        code, stderr = finish(harness.start(command))
        reached = time.monotonic() - began  # start-up, then the lock
    assert code == 5, stderr
    assert "another run of this profile and tenant is in progress" in stderr
    assert str(harness.state) in stderr
    assert f"pid {os.getpid()}" in stderr  # who holds it
    assert not harness.out.exists() and not harness.state.exists()

    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock(harness.state):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        began = time.monotonic()
        process = harness.start([*command, "--wait", "5"])
        time.sleep(reached + 1.0)  # it has been waiting for about a second
        assert process.poll() is None, "the run did not wait for the lock"
        assert not harness.state.exists()
    finally:
        release.set()
        holder.join()
    code, stderr = finish(process)
    assert code == 0, stderr
    assert time.monotonic() - began >= reached + 1.0
    check_state(harness)
    report = check_report(harness.out)
    assert (report["sync"]["run"], report["sync"]["outcome"]) == (1, "success")
