"""Many tenants: tenants per hour for run-many (a process per tenant, resident workers)
and for the same tenants on a Dask LocalCluster.

Usage (from the project root, in the project's virtualenv with the bench extra):

    python benchmarks/many.py [--districts 100] [--students 10000] [--jobs 2] [--repeat 1]

N districts of S students are generated once (``rostermap generate --seed K``, K = 1..N,
OneRoster 1.1, untidy, as benchmarks/run.py's) into benchmarks/data/many-S/, and a
tenants file syncs each with powerschool-learning (its own state file and out folder,
as a service's nightly run would). Each way of running them is a fresh process,
measured with os.wait4, started from empty states and out folders:

- **run-many --isolate**: `rostermap run-many TENANTS --jobs J --isolate`, a fresh
  process per tenant;
- **run-many**: `rostermap run-many TENANTS --jobs J`, J resident workers;
- **Dask LocalCluster**: `python examples/scaling/dask_sync.py TENANTS --workers J`,
  J worker processes of one thread, the cluster started and stopped in the time.

Each does a first sync of every tenant (empty states), then a next sync (unchanged
sources, against the first): both are timed. Tenants per hour is N over the wall
time; peak RSS is that of the largest single process (os.wait4 reports the largest
of the process tree it waited for); a tenant's seconds are its run inside its worker
(`seconds` of the JSON results), start-up excluded. Every way's published files must
be byte-identical to the others', and every tenant must succeed, or the benchmark
fails. Ways run in turn within each repeat, so that whatever else the machine does
falls on all alike; the best of ``--repeat`` is reported.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
YEAR = "2026"
WAYS = {
    "isolate": "run-many --isolate (a process per tenant)",
    "resident": "run-many (resident workers)",
    "dask": "Dask LocalCluster",
}


@dataclass(frozen=True)
class Measured:
    way: str
    run: str  # "first sync" or "next sync"
    wall: float
    cpu: float
    rss_mb: float
    tenant_seconds: tuple[float, ...]

    def per_hour(self, tenants: int) -> float:
        return tenants / self.wall * 3600


def google_domain(source: Path) -> str:
    """The district's staff email domain (as benchmarks/run.py's), so that sso_id is
    exercised."""
    with open(source / "users.csv", encoding="utf-8-sig") as handle:
        for line in handle:
            if ",teacher," in line and "@" in line:
                return line.split("@", 1)[1].split(",", 1)[0]
    return "example.k12.us"


def generate(folder: Path, districts: int, students: int, jobs: int = 2) -> list[Path]:
    """Districts of ``students`` students, seeds 1..``districts``, generated once."""
    folder.mkdir(parents=True, exist_ok=True)

    def one(seed: int) -> Path:
        path = folder / f"district-{seed}"
        if not (path / "manifest.csv").exists():
            shutil.rmtree(path, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "rostermap", "generate", "--students",
                            str(students), "--seed", str(seed), "--out", str(path)],
                           check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
        return path

    with ThreadPoolExecutor(max(1, jobs)) as pool:
        return list(pool.map(one, range(1, districts + 1)))


def write_tenants(folder: Path, districts: list[Path]) -> Path:
    """A tenants file syncing each district into ``folder``'s out/ and state/."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ['[defaults]', 'profile = "powerschool-learning"', f"params = {{ year = {YEAR} }}"]
    for district in districts:
        name = district.name
        lines += ["", "[[tenant]]", f'name = "{name}"', f'source = "{district}"',
                  f'out = "out/{name}"', f'state = "state/{name}.sqlite"',
                  f'params = {{ google_domain = "{google_domain(district)}" }}']
    path = folder / "tenants.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def published(folder: Path) -> dict[str, str]:
    """The SHA-256 of every tenant's published CSV files, by tenant and name.

    Digests, not the files: the benchmark's own process stays small, and a process
    it starts (forked before exec) does not count its memory as the child's peak.
    """
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((folder / "out").glob("*/*.csv"))}


def command(way: str, tenants: Path, jobs: int) -> list[str]:
    if way == "dask":
        return [sys.executable, str(ROOT / "examples" / "scaling" / "dask_sync.py"),
                str(tenants), "--workers", str(jobs), "--json"]
    return [sys.executable, "-m", "rostermap", "run-many", str(tenants), "--jobs", str(jobs),
            "--json", *(["--isolate"] if way == "isolate" else [])]


def measure(way: str, run: str, argv: list[str], env: dict[str, str]) -> Measured:
    """One way's run of every tenant: wall and CPU time and peak RSS from os.wait4
    (its output goes to a file, so that nothing needs reading while it runs)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, errors = out.read().decode(), err.read().decode()
    results = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    failed = [r for r in results if r["outcome"] not in ("success", "partial")]
    if process.returncode != 0 or failed or not results:
        raise SystemExit(f"{way} ({run}) failed ({process.returncode}):\n"
                         f"{errors[-3000:]}\n{failed[:3]}")
    return Measured(way, run, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
                    tuple(r["seconds"] for r in results))


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--districts", type=int, default=100)
    parser.add_argument("--students", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=2, help="workers (default: 2)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--ways", default=",".join(WAYS),
                        help=f"which to measure, of {','.join(WAYS)}")
    args = parser.parse_args()
    ways = [w for w in args.ways.split(",") if w]
    unknown = set(ways) - set(WAYS)
    if unknown:
        raise SystemExit(f"unknown ways: {', '.join(sorted(unknown))}")
    begun = time.perf_counter()
    districts = generate(DATA / f"many-{args.students}", args.districts, args.students,
                         args.jobs)
    print(f"{len(districts)} districts of {args.students:,} students ready "
          f"({time.perf_counter() - begun:.0f} s)", flush=True)
    cache = tempfile.mkdtemp(prefix="rostermap-many-cache-")
    env = {k: v for k, v in os.environ.items() if k != "POLARS_MAX_THREADS"}
    env["XDG_CACHE_HOME"] = cache  # the compile cache: warmed below, shared by all
    subprocess.run([sys.executable, "-m", "rostermap", "run", "powerschool-learning",
                    "--source", str(districts[0]), "--out", str(Path(cache) / "warm"),
                    "--quiet", "--no-state", "--param", f"year={YEAR}", "--param",
                    f"google_domain={google_domain(districts[0])}"],
                   cwd=ROOT, env=env, check=True)
    measured: list[Measured] = []
    loads = [load()]
    files: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="rostermap-many-") as scratch:
        for attempt in range(args.repeat):
            for way in ways:
                folder = Path(scratch) / f"{way}-{attempt}"
                tenants = write_tenants(folder, districts)
                for run in ("first sync", "next sync"):
                    m = measure(way, run, command(way, tenants, args.jobs), env)
                    measured.append(m)
                    print(f"{WAYS[way]:<42} {run:<10} {m.wall:7.1f} s  "
                          f"{m.per_hour(len(districts)):8,.0f} tenants/h  "
                          f"cpu {m.cpu:7.1f} s  {m.rss_mb:5.0f} MB  load {load()}",
                          flush=True)
                found = published(folder)
                if len(found) != 6 * len(districts):
                    raise SystemExit(f"{way}: {len(found)} files, not {6 * len(districts)}")
                if files and found != next(iter(files.values())):
                    raise SystemExit(f"{way}'s files differ from {next(iter(files))}'s")
                files.setdefault(way, found)
                shutil.rmtree(folder)
        loads.append(load())
    shutil.rmtree(cache, ignore_errors=True)
    print()
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}; {len(districts)} "
          f"districts of {args.students:,} students, --jobs {args.jobs}; load average "
          f"(1, 5, 15 min) before and after: {'; '.join(loads)}")
    print()
    print(f"| way | run | wall time (best of {args.repeat}) | tenants/hour | CPU time "
          "| peak RSS (largest process) | a tenant in its worker (median, max) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for way in ways:
        for run in ("first sync", "next sync"):
            runs = [m for m in measured if m.way == way and m.run == run]
            best = min(runs, key=lambda m: m.wall)
            print(f"| {WAYS[way]} | {run} | {best.wall:.1f} s "
                  f"| {best.per_hour(len(districts)):,.0f} | {best.cpu:.1f} s "
                  f"| {max(m.rss_mb for m in runs):.0f} MB "
                  f"| {statistics.median(best.tenant_seconds):.2f} s, "
                  f"{max(best.tenant_seconds):.2f} s |")


if __name__ == "__main__":
    main()
