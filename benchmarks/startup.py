"""Start-up: a small district's stateless run, as a fresh process, and where its time goes.

Usage (from the project root, in the project's virtualenv):

    python benchmarks/startup.py [--students 10000] [--repeat 7] [--baseline DIR]

The command is benchmarks/run.py's ``rostermap run powerschool-learning --no-state``
on the same generated district (seed 1), with a warm compile cache (a first run
fills it, untimed). Each run is a fresh process measured with os.wait4; the best
and the median wall time are reported, with CPU time and peak RSS. ``--baseline
DIR`` measures another checkout too (another commit, with its own ``DIR/.venv`` if
it has one), its runs interleaved with this tree's, so that whatever else the
machine does falls on both alike; the load average is printed with the results.

Then, for each tree, the same run repeated inside one process, as a resident
run-many worker runs tenant after tenant (``runtime.sync.many.run_tenant``,
stateless): the first run pays the imports and the mapping's load, the later ones
only their work. Last, for this tree, one run with ``python -X importtime`` (the
imports, by top-level module) and one under a clock in each stage of
``runtime.run.pipeline``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from run import YEAR, district, google_domain  # noqa: E402 - benchmarks/run.py, beside this

STAGES = ("load_mapping", "load_inputs", "run_outputs", "_no_emptied_outputs",
          "check_contracts", "build_report", "write_outputs")
# Runs the CLI with a clock around each stage of a run (this tree only).
_STAGED = """
import sys, time
t0 = time.perf_counter()
import rostermap.cli.main as cli
t1 = time.perf_counter()
import polars
tp = time.perf_counter()
import rostermap.runtime.run.pipeline as pipeline
import rostermap.runtime.report.html_report as html_report
t2 = time.perf_counter()
spent = {}
def clocked(module, name, label):
    inner = getattr(module, name)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[label] = spent.get(label, 0.0) + time.perf_counter() - start
    setattr(module, name, wrapper)
names = sys.argv[1].split(",")
for name in names:
    clocked(pipeline, name, name)
clocked(html_report, "render_html", "report.html (render_html, within write_outputs)")
sys.argv = ["rostermap", *sys.argv[2:]]
try:
    cli.main()
except SystemExit:
    pass
t3 = time.perf_counter()
print(f"import of the command line (click, diagnostics): {1e3 * (t1 - t0):.0f} ms")
print(f"import of polars: {1e3 * (tp - t1):.0f} ms")
print(f"import of the rest of the runtime (engine, reports, jinja2): {1e3 * (t2 - tp):.0f} ms")
for name in [*names, "report.html (render_html, within write_outputs)"]:
    print(f"{name}: {1e3 * spent.get(name, 0.0):.0f} ms")
print(f"the run, all stages: {1e3 * (t3 - t2):.0f} ms")
"""

# The same run again and again in one process, as a resident worker runs tenants.
_RESIDENT = """
import json, sys, time
start = time.perf_counter()
from rostermap.runtime.sync.many import run_tenant
source, out, domain, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
times = []
for n in range(runs):
    result = run_tenant({"name": "t", "profile": "powerschool-learning", "source": source,
                         "out": f"{out}/{n}", "stateless": True,
                         "params": ["year=2026", f"google_domain={domain}"]})
    assert result.outcome == "success", result
    times.append(time.perf_counter() - start)
    start = time.perf_counter()
print(json.dumps(times))
"""


def interpreter(tree: Path) -> tuple[str, dict[str, str]]:
    """The Python that runs a checkout's code (its own .venv, else this one with the
    checkout first on the path), and the environment to run it in."""
    own = tree / ".venv" / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if tree.resolve() != ROOT:
        env["PYTHONPATH"] = str(tree)
    return (str(own) if own.exists() else sys.executable), env


def arguments(source: Path, out: Path, domain: str) -> list[str]:
    return ["run", "powerschool-learning", "--source", str(source), "--out", str(out),
            "--quiet", "--no-state", "--param", f"year={YEAR}", "--param",
            f"google_domain={domain}"]


def measure(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MB) of one fresh process."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    assert process.stderr is not None
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{process.stderr.read().decode()}")
    process.stderr.close()
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--baseline", type=Path,
                        help="another checkout to measure, interleaved with this one")
    args = parser.parse_args()
    source = district(args.students)
    domain = google_domain(source)
    trees = [("this tree", ROOT)] + ([("baseline", args.baseline.resolve())]
                                     if args.baseline else [])
    cache = tempfile.mkdtemp(prefix="rostermap-startup-cache-")
    runs: dict[str, list[tuple[float, float, float]]] = {label: [] for label, _ in trees}
    loads = [load()]
    with tempfile.TemporaryDirectory(prefix="rostermap-startup-") as scratch:
        for _, tree in trees:  # as installed (byte-compiled), and the compile cache warm
            python, env = interpreter(tree)
            subprocess.run([python, "-m", "compileall", "-q", "rostermap"], cwd=tree, env=env,
                           check=True, stdout=subprocess.DEVNULL)
            measure([python, "-m", "rostermap", *arguments(source, Path(scratch) / "warm",
                                                            domain)],
                    tree, {**env, "XDG_CACHE_HOME": cache})
        for attempt in range(args.repeat):
            for label, tree in trees:
                python, env = interpreter(tree)
                out = Path(scratch) / f"{label}-{attempt}".replace(" ", "-")
                m = measure([python, "-m", "rostermap", *arguments(source, out, domain)],
                            tree, {**env, "XDG_CACHE_HOME": cache})
                runs[label].append(m)
                print(f"{label:<10} {m[0]:.3f} s  cpu {m[1]:.3f} s  {m[2]:.0f} MB", flush=True)
        loads.append(load())
        resident: dict[str, list[float]] = {}
        for label, tree in trees:
            python, env = interpreter(tree)
            resident[label] = json.loads(subprocess.run(
                [python, "-c", _RESIDENT, str(source), str(Path(scratch) / f"resident-{label}"),
                 domain, str(args.repeat + 1)],
                cwd=tree, env={**env, "XDG_CACHE_HOME": cache}, check=True,
                capture_output=True, text=True).stdout)
        python, env = interpreter(ROOT)
        env = {**env, "XDG_CACHE_HOME": cache}
        imports = subprocess.run(
            [python, "-X", "importtime", "-m", "rostermap",
             *arguments(source, Path(scratch) / "importtime", domain)],
            cwd=ROOT, env=env, check=True, capture_output=True, text=True).stderr
        staged = subprocess.run(
            [python, "-c", _STAGED, ",".join(STAGES),
             *arguments(source, Path(scratch) / "staged", domain)],
            cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
    print()
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}; {args.students:,} "
          f"students; load average (1, 5, 15 min) before and after: {'; '.join(loads)}")
    print()
    print(f"| code | time (best of {args.repeat}) | median | CPU time (of the best) "
          "| peak RSS |")
    print("|---|---:|---:|---:|---:|")
    for label, measured in runs.items():
        best = min(measured)
        median = statistics.median(m[0] for m in measured)
        print(f"| {label} | {best[0]:.3f} s | {median:.3f} s | {best[1]:.3f} s "
              f"| {max(m[2] for m in measured):.0f} MB |")
    print()
    print(f"In one process (run_tenant, stateless, {args.repeat + 1} runs in a row):")
    print()
    print("| code | first run (imports, mapping load) | later runs: best | median |")
    print("|---|---:|---:|---:|")
    for label, times in resident.items():
        print(f"| {label} | {times[0]:.3f} s | {min(times[1:]):.3f} s "
              f"| {statistics.median(times[1:]):.3f} s |")
    print()
    print("Imports (this tree, python -X importtime, cumulative, by top-level module):")
    tops: list[tuple[int, str]] = []
    for line in imports.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        if cumulative.strip().isdigit() and not name.startswith("  "):
            tops.append((int(cumulative), name.strip()))
    print(f"  all: {sum(t for t, _ in tops) / 1000:.0f} ms")
    for micros, name in sorted(tops, reverse=True)[:6]:
        print(f"  {name}: {micros / 1000:.0f} ms")
    print()
    print("Stages (this tree, one run):")
    for line in staged.splitlines():
        print(f"  {line}")


if __name__ == "__main__":
    main()
