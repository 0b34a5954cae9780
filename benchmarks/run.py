"""rostermap against the code it replaces, side by side, on generated districts.

Usage (from the project root, in the project's virtualenv with the bench extra:
`pip install -e '.[bench]'`):

    python benchmarks/run.py --students 10000 100000 1000000 [--repeat 3]

For each size, a district is generated once into benchmarks/data/ (seed 1, OneRoster
1.1, untidy) and four implementations of the powerschool-learning profile run on it,
each as a fresh process, in turn (so that whatever else the machine does falls on all
of them alike):

- `rostermap run powerschool-learning` (read, validate, transform, write, report);
- benchmarks/handwritten_csv.py: Python's csv module and dicts, row by row;
- benchmarks/handwritten_polars.py: a polars script;
- benchmarks/interpreted_glom.py: the same transform interpreted per record by glom.

Each process is measured with os.wait4 (wall time, CPU time, peak RSS of that process
alone); time to first output is when the first of the six files appears in the
output folder (polled every 5 ms; rostermap moves its files into place together, at
the end, by design). The six files of every implementation must be byte-identical
to rostermap's, or the benchmark fails. Separately, every profile in mappings/ is
compiled in a fresh process (cold) and loaded from the compile cache (warm).

rostermap's first run per size starts with an empty compile cache; the best of
`--repeat` runs is reported, with the largest peak RSS. The interpreted
implementation runs once per size, and only up to --interpreted-max students (it
takes about 0.3 ms per record and field set: an hour at 1M students).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
FILES = ("users.csv", "users_custom.csv", "organizations.csv", "classes.csv",
         "classes_custom.csv", "rosters.csv")
YEAR = "2026"


@dataclass
class Impl:
    key: str
    label: str
    runs: list[Measure] = field(default_factory=list)

    @property
    def best(self) -> Measure:
        return min(self.runs, key=lambda m: m.wall)

    @property
    def rss(self) -> float:
        return max(m.rss for m in self.runs)


@dataclass(frozen=True)
class Measure:
    wall: float  # seconds
    cpu: float  # user + system seconds
    rss: float  # peak resident MB
    first: float  # seconds until the first output file appeared


def district(students: int) -> Path:
    path = DATA / f"district-{students}"
    if not (path / "manifest.csv").exists():
        shutil.rmtree(path, ignore_errors=True)
        DATA.mkdir(exist_ok=True)
        subprocess.run([sys.executable, "-m", "rostermap", "generate", "--students",
                        str(students), "--seed", "1", "--out", str(path)], check=True,
                       stdout=subprocess.DEVNULL, cwd=ROOT)
    return path


def google_domain(source: Path) -> str:
    """The district's staff email domain, so that sso_id is exercised."""
    with open(source / "users.csv", encoding="utf-8-sig") as handle:
        for line in handle:
            if ",teacher," in line and "@" in line:
                return line.split("@", 1)[1].split(",", 1)[0]
    return "example.k12.us"


def command(key: str, source: Path, out: Path, domain: str, state: Path | None = None
            ) -> list[str]:
    if key.startswith("rostermap"):
        # Without state, like for like with the scripts: read, transform, write. With
        # state (`sync`), also the change files against the last run and its report.
        stateful = ["--state", str(state)] if state else ["--no-state"]
        return [sys.executable, "-m", "rostermap", "run", "powerschool-learning",
                "--source", str(source), "--out", str(out), "--quiet", *stateful,
                "--param", f"year={YEAR}", "--param", f"google_domain={domain}"]
    script = HERE / f"{key}.py"
    return [sys.executable, str(script), str(source), str(out), "--year", YEAR,
            "--google-domain", domain]


def measure(argv: list[str], out: Path, env: dict[str, str]) -> Measure:
    """Run one process; wall, CPU, peak RSS, and when its first output file appeared."""
    first: list[float] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            if any((out / name).exists() for name in FILES):
                first.append(time.perf_counter())
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               cwd=ROOT, env=env)
    watcher.start()
    _, status, usage = os.wait4(process.pid, 0)
    end = time.perf_counter()
    stop.set()
    watcher.join()
    assert process.stderr is not None
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{process.stderr.read().decode()}")
    process.stderr.close()
    return Measure(end - start, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
                   (first[0] if first else end) - start)


def same_files(reference: Path, other: Path, label: str) -> None:
    for name in FILES:
        if (reference / name).read_bytes() != (other / name).read_bytes():
            raise SystemExit(f"{label}: {name} differs from rostermap's ({other / name})")


def compile_times(env: dict[str, str]) -> list[tuple[str, float, float, float]]:
    """Per profile, in ms, each in a fresh process: the very first compile (Lark builds
    the grammar's tables too), a compile of a new or changed mapping (the tables come
    from the grammar cache), and a load from the compile cache (verify and exec)."""
    probe = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from rostermap.runtime.run.loader import load_mapping\n"
        "from rostermap.compiler import pipeline\n"
        "t = time.perf_counter(); load_mapping(Path(sys.argv[1]));"
        " print(time.perf_counter() - t)\n"
    )
    rows = []
    from rostermap.runtime.run.loader import is_library

    for path in sorted((ROOT / "rostermap" / "mappings").glob("*.rmap")):
        if is_library(path):
            continue
        with tempfile.TemporaryDirectory() as cache:
            local = {**env, "XDG_CACHE_HOME": cache}
            times = []
            for step in ("first", "compile", "cached"):
                if step == "compile":
                    shutil.rmtree(Path(cache) / "rostermap" / "compiled")
                done = subprocess.run([sys.executable, "-c", probe, str(path)], cwd=ROOT,
                                      env=local, check=True, capture_output=True, text=True)
                times.append(float(done.stdout.strip()) * 1000)
        rows.append((path.stem, *times))
    return rows


def machine() -> str:
    memory = "?"
    try:
        with open("/proc/meminfo") as handle:
            kb = int(handle.readline().split()[1])
        memory = f"{kb / 1024**2:.0f} GiB"
    except OSError:
        pass
    import polars

    return (f"{platform.machine()}, {os.cpu_count()} cores, {memory}, Python "
            f"{platform.python_version()}, polars {polars.__version__}, "
            f"{time.strftime('%Y-%m-%d')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--interpreted-max", type=int, default=100_000,
                        help="largest district the interpreted implementation runs on")
    parser.add_argument("--only", choices=["interpreted_glom"],
                        help="run only this implementation (rostermap still runs once, as the "
                        "reference its files are compared with)")
    args = parser.parse_args()
    # As installed: with byte-compiled modules (a sandbox may turn .pyc files off).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-m", "compileall", "-q", "rostermap",
                    "benchmarks"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    cache = tempfile.mkdtemp(prefix="rostermap-bench-cache-")
    env["XDG_CACHE_HOME"] = cache
    results: dict[int, list[Impl]] = {}
    counts: dict[int, tuple[int, int]] = {}
    for students in args.students:
        source = district(students)
        domain = google_domain(source)
        with open(source / "users.csv", "rb") as u, open(source / "enrollments.csv", "rb") as e:
            counts[students] = (sum(1 for _ in u) - 1, sum(1 for _ in e) - 1)
        impls = [Impl("rostermap", "rostermap run"), Impl("handwritten_csv", "csv + dicts"),
                 Impl("handwritten_polars", "polars script"),
                 Impl("interpreted_glom", "glom, per record"),
                 Impl("rostermap_sync_first", "sync, first run"),
                 Impl("rostermap_sync_second", "sync, next run")]
        shutil.rmtree(cache, ignore_errors=True)  # rostermap's first run compiles
        with tempfile.TemporaryDirectory(prefix="rostermap-bench-") as scratch:
            reference = Path(scratch) / "reference"
            for attempt in range(args.repeat):
                for impl in impls:
                    if impl.key == "interpreted_glom" and (attempt or (
                            students > args.interpreted_max and args.only is None)):
                        continue
                    if args.only and impl.key not in (args.only, "rostermap"):
                        continue
                    if args.only and impl.key == "rostermap" and attempt:
                        continue
                    if args.only and impl.key.startswith("rostermap_sync"):
                        continue
                    out = Path(scratch) / f"{impl.key}-{attempt}"
                    state = None
                    if impl.key.startswith("rostermap_sync"):
                        # the next run syncs against the first run's state, in its out
                        state = Path(scratch) / f"state-{attempt}.sqlite"
                        out = Path(scratch) / f"sync-{attempt}"
                        if impl.key.endswith("first"):
                            state.unlink(missing_ok=True)
                        for stale in ("report.json", *FILES):
                            (out / stale).unlink(missing_ok=True)  # for the first-output watch
                    argv = command(impl.key, source, out, domain, state)
                    impl.runs.append(measure(argv, out, env))
                    if attempt == 0 and impl.key == "rostermap":
                        out.rename(reference)
                    elif attempt == 0:
                        same_files(reference, out, impl.label)
                    if impl.key != "rostermap_sync_first":
                        shutil.rmtree(out, ignore_errors=True)
                    m = impl.runs[-1]
                    print(f"{students:>9,} {impl.label:<17} {m.wall:7.2f} s  cpu {m.cpu:7.2f} s"
                          f"  {m.rss:7.0f} MB  first output {m.first:6.2f} s", flush=True)
        results[students] = impls
    compiled = compile_times(env) if args.only is None else []
    shutil.rmtree(cache, ignore_errors=True)
    print()
    print(f"Machine: {machine()}")
    print()
    print(report(results, counts, args.repeat))
    print()
    print("| profile | first compile on a machine | compile | load from compile cache |")
    print("|---|---:|---:|---:|")
    for name, first, cold, warm in compiled:
        print(f"| {name} | {first:.0f} ms | {cold:.0f} ms | {warm:.0f} ms |")


def report(results: dict[int, list[Impl]], counts: dict[int, tuple[int, int]],
           repeat: int) -> str:
    lines = [
        f"| students (users, enrollments) | implementation | time (best of {repeat}) | CPU time"
        " | peak RSS | first output |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for students, impls in results.items():
        users, enrollments = counts[students]
        for impl in impls:
            size = f"{students:,} ({users:,}, {enrollments:,})"
            if not impl.runs:
                lines.append(f"| {size} | {impl.label} | not run | | | |")
                continue
            best = impl.best
            runs = "" if len(impl.runs) == repeat else f" ({len(impl.runs)} run)"
            lines.append(f"| {size} | {impl.label} | {best.wall:.2f} s{runs} | {best.cpu:.2f} s"
                         f" | {impl.rss:,.0f} MB | {best.first:.2f} s |")
    lines += ["", "| students | time ÷ csv (≤ 0.3) | time ÷ polars (≤ 1.5) | glom ÷ rostermap "
              "(≥ 10) | RSS ÷ csv (≤ 0.7) |", "|---:|---:|---:|---:|---:|"]
    for students, impls in results.items():
        r, c, p, g = impls[:4]
        if not c.runs:
            continue
        glom = f"{g.best.wall / r.best.wall:.0f}×" if g.runs else "not run"
        lines.append(f"| {students:,} | {r.best.wall / c.best.wall:.2f} | "
                     f"{r.best.wall / p.best.wall:.2f} | {glom} | {r.rss / c.rss:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
