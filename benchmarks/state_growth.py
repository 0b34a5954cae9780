"""The run state over a month of daily syncs: does it grow with the district or with
the number of runs?

Usage (from the project root, in the project's virtualenv):

    python benchmarks/state_growth.py --students 1000000 --days 30 --churn 0.01

A district is generated once (benchmarks/data/, seed 1, as benchmarks/run.py does).
Each day, ``--churn`` of its students leave (their user rows and enrollments go) and
as many arrive (copies of those rows under new sourcedIds, usernames and emails), so
that a day's sync deactivates and creates about 1% of the students and their
rosters. Each day is one `rostermap run powerschool-learning` sync (a fresh process,
measured with os.wait4) against the same state, its clock set to that day (so that
``--keep-departed`` counts days, not the minutes the benchmark takes).

Printed per day: the run's wall time and peak RSS, the rows created and deactivated,
the state file's size (after a WAL checkpoint), and its parts: snapshot rows and
bytes, stored source bytes, reports kept and their bytes, change-row bytes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import DATA, YEAR, district, google_domain  # noqa: E402

START = dt.datetime(2026, 9, 1, 5, 0, tzinfo=dt.UTC)


def churned(previous: Path, folder: Path, day: int, churn: float) -> None:
    """``previous`` with ``churn`` of its students replaced, written to ``folder``."""
    import polars as pl

    folder.mkdir(parents=True)
    for path in previous.iterdir():
        if path.name not in ("users.csv", "enrollments.csv"):
            os.link(path, folder / path.name)
    users = pl.read_csv(previous / "users.csv", infer_schema=False)
    enrollments = pl.read_csv(previous / "enrollments.csv", infer_schema=False)
    buckets = round(1 / churn)
    leaving = users.filter((pl.col("role") == "student")
                           & (pl.col("sourcedId").hash(seed=day) % buckets == 0))
    gone = leaving.get_column("sourcedId").implode()
    tag = f"-d{day}"
    arriving = leaving.with_columns(
        pl.col("sourcedId") + tag, pl.col("username") + tag,
        pl.col("email").str.replace("@", tag + "@", literal=True))
    moved = enrollments.filter(pl.col("userSourcedId").is_in(gone))
    pl.concat([users.filter(~pl.col("sourcedId").is_in(gone)), arriving]).write_csv(
        folder / "users.csv")
    pl.concat([enrollments.filter(~pl.col("userSourcedId").is_in(gone)),
               moved.with_columns(pl.col("sourcedId") + tag,
                                  pl.col("userSourcedId") + tag)]).write_csv(
        folder / "enrollments.csv")


def run_one(source: str, out: str, state: str, now: str, domain: str, keep_runs: int,
            keep_departed: int) -> None:
    """One day's sync, in this process: the library call `rostermap run` makes, with
    the clock set to the day."""
    from rostermap.runtime.sync.run import SyncOptions, sync
    from rostermap.runtime.sync.state import Retention

    result = sync("powerschool-learning", Path(source), Path(out),
                  [f"year={YEAR}", f"google_domain={domain}"],
                  SyncOptions(state=Path(state), retention=Retention(keep_runs, keep_departed)),
                  now=dt.datetime.fromisoformat(now))
    counts = result.report.sync.changes if result.report.sync else {}
    created = sum(c.get("create", 0) for c in counts.values())
    deactivated = sum(c.get("deactivate", 0) for c in counts.values())
    print(f"{result.outcome} {created} {deactivated}")


def parts(state: Path) -> dict[str, float]:
    """The state file's size and what it holds, after a WAL checkpoint."""
    import polars as pl

    db = sqlite3.connect(state)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    snapshot_rows = 0
    for (data,) in db.execute("SELECT data FROM snapshots"):
        snapshot_rows += pl.read_ipc(data, columns=["state"]).height
    one = lambda sql: db.execute(sql).fetchone()[0] or 0  # noqa: E731
    found = {
        "snapshot rows": snapshot_rows,
        "snapshots MB": one("SELECT sum(length(data)) FROM snapshots") / 1e6,
        "sources MB": one("SELECT sum(length(data)) FROM sources") / 1e6,
        "reports": one("SELECT count(*) FROM runs WHERE report IS NOT NULL"),
        "reports MB": one("SELECT sum(length(report)) FROM runs") / 1e6,
        "changes MB": one("SELECT sum(length(data)) FROM changes") / 1e6,
        "free MB": one("PRAGMA freelist_count") * one("PRAGMA page_size") / 1e6,
    }
    db.close()
    found["file MB"] = state.stat().st_size / 1e6
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--churn", type=float, default=0.01)
    parser.add_argument("--keep-runs", type=int, default=30)
    parser.add_argument("--keep-departed", type=int, default=180)
    parser.add_argument("--run-one", nargs=7, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_one:
        source, out, state, now, domain, keep_runs, keep_departed = args.run_one
        run_one(source, out, state, now, domain, int(keep_runs), int(keep_departed))
        return
    base = district(args.students)
    domain = google_domain(base)
    work = DATA / f"growth-{args.students}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    state, out = work / "state.sqlite", work / "out"
    print(f"`python benchmarks/state_growth.py --students {args.students} --days {args.days} "
          f"--churn {args.churn} --keep-runs {args.keep_runs} --keep-departed "
          f"{args.keep_departed}`\n")
    print("| day | run time | peak RSS | created | deactivated | state file | snapshot rows "
          "| snapshots | stored source | reports kept (size) | change rows | free pages |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    source = base
    for day in range(1, args.days + 1):
        if day > 1:
            folder = work / f"day-{day}"
            churned(source, folder, day, args.churn)
            if source != base:
                shutil.rmtree(source)
            source = folder
        now = (START + dt.timedelta(days=day - 1)).isoformat()
        argv = [sys.executable, __file__, "--run-one", str(source), str(out), str(state), now,
                domain, str(args.keep_runs), str(args.keep_departed)]
        began = time.perf_counter()
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - began
        assert process.stdout is not None
        outcome, created, deactivated = process.stdout.read().split()
        if os.waitstatus_to_exitcode(status) != 0 or outcome != "success":
            raise SystemExit(f"day {day}: {outcome}, exit {status}")
        p = parts(state)
        print(f"| {day} | {seconds:.1f} s | {usage.ru_maxrss / 1024:,.0f} MB | {int(created):,} "
              f"| {int(deactivated):,} | {p['file MB']:,.0f} MB | {p['snapshot rows']:,} "
              f"| {p['snapshots MB']:,.0f} MB | {p['sources MB']:,.0f} MB "
              f"| {p['reports']} ({p['reports MB']:,.1f} MB) | {p['changes MB']:,.1f} MB "
              f"| {p['free MB']:,.0f} MB |", flush=True)
    if source != base:
        shutil.rmtree(source)


if __name__ == "__main__":
    main()
