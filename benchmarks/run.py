"""Time and peak memory of `rostermap run` on generated districts.

Usage (from the project root, in the project's virtualenv):

    python benchmarks/run.py --students 10000 100000 [--repeat 3] [--profile powerschool-learning]

Districts are generated once into benchmarks/data/ (seed 1) and reused. Each run is
a fresh `rostermap run` process, measured with os.wait4 (wall time, peak RSS of
that process alone). The table printed at the end goes into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"


def district(students: int) -> Path:
    path = DATA / f"district-{students}"
    if not (path / "manifest.csv").exists():
        shutil.rmtree(path, ignore_errors=True)
        DATA.mkdir(exist_ok=True)
        subprocess.run([sys.executable, "-m", "runtime.cli", "generate", "--students",
                        str(students), "--seed", "1", "--out", str(path)], check=True,
                       stdout=subprocess.DEVNULL)
    return path


def measure(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident MB of one process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{process.stderr.read().decode()}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", default="powerschool-learning")
    args = parser.parse_args()
    rows = []
    for students in args.students:
        source = district(students)
        runs = []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as out:
                runs.append(measure([sys.executable, "-m", "runtime.cli", "run", args.profile,
                                     "--source", str(source), "--out", out, "--quiet",
                                     "--param", "year=2026",
                                     "--param", "google_domain=example.k12.us"]))
        best = min(runs)
        rows.append((students, best[0], max(r[1] for r in runs)))
        print(f"{students:>9} students: {best[0]:.2f} s, {rows[-1][2]:.0f} MB", flush=True)
    print()
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}")
    print()
    print(f"| students | `rostermap run {args.profile}` (best of {args.repeat}) | peak RSS |")
    print("|---:|---:|---:|")
    for students, seconds, mb in rows:
        print(f"| {students:,} | {seconds:.2f} s | {mb:.0f} MB |")


if __name__ == "__main__":
    main()
