"""Records per second fetched by `rostermap run` from `rostermap serve` on loopback.

Usage (from the project root, in the project's virtualenv):

    python benchmarks/rest.py --students 10000 --page-size 100 1000 [--repeat 3]
                              [--version 1.1] [--auth oauth2] [--concurrency 4]
                              [--baseline DIR]

The district is generated once into benchmarks/data/ (seed 1, as benchmarks/run.py).
The server is a separate `rostermap serve` process (so client and server do not
share a GIL); each measurement is a fresh `rostermap run --rate 0 --quiet`
process. Records/second is what the run's report.json says it fetched, over the
fetch's wall time (the collections are fetched at the same time, so the slowest
one's time); the whole run's time is printed beside it.

``--baseline DIR`` measures another checkout too (another commit, with its own
``DIR/.venv`` if it has one, so with its own dependencies), its runs interleaved
with this tree's, each repeat one of each in turn, so that whatever else the
machine does falls on both alike. The load average is printed with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"


def interpreter(tree: Path) -> tuple[str, dict[str, str]]:
    """The Python that runs a checkout's code (its own .venv, else this one with the
    checkout first on the path), and the environment to run it in."""
    own = tree / ".venv" / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if tree.resolve() != ROOT:
        env["PYTHONPATH"] = str(tree)
    return (str(own) if own.exists() else sys.executable), env


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def district(students: int) -> Path:
    path = DATA / f"district-{students}"
    if not (path / "manifest.csv").exists():
        shutil.rmtree(path, ignore_errors=True)
        DATA.mkdir(exist_ok=True)
        subprocess.run([sys.executable, "-m", "rostermap", "generate", "--students",
                        str(students), "--seed", "1", "--out", str(path)], check=True,
                       stdout=subprocess.DEVNULL)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=10_000)
    parser.add_argument("--page-size", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--version", default="1.1", choices=["1.1", "1.2"])
    parser.add_argument("--auth", default="oauth2", choices=["oauth2", "oauth1", "none"])
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--baseline", type=Path,
                        help="another checkout to measure, interleaved with this one")
    args = parser.parse_args()
    source = district(args.students)
    trees = [("this tree", ROOT)] + ([("baseline", args.baseline.resolve())]
                                     if args.baseline else [])
    for _, tree in trees:  # as installed: with byte-compiled modules
        python, tree_env = interpreter(tree)
        subprocess.run([python, "-m", "compileall", "-q", "rostermap"], cwd=tree, env=tree_env,
                       check=True, stdout=subprocess.DEVNULL)
    env = {**os.environ, "ROSTERMAP_CLIENT_ID": "bench",
           "ROSTERMAP_CLIENT_SECRET": secrets.token_urlsafe(16), "ROSTERMAP_AUTH": args.auth}
    server = subprocess.Popen(
        [sys.executable, "-m", "rostermap", "serve", str(source), "--version", args.version,
         "--auth", args.auth], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        urls: dict[str, str] = {}
        for line in server.stdout:
            if "URL:" in line:
                urls[line.split(":", 1)[0].strip()] = line.split()[-1]
            if line.startswith("Press Ctrl-C"):
                break
        if "token URL" in urls:
            env["ROSTERMAP_TOKEN_URL"] = urls["token URL"]
        rows = []
        loads = [load()]
        for size in args.page_size:
            best: dict[str, tuple[float, float, int]] = {}
            for _ in range(args.repeat):
                for label, tree in trees:
                    python, tree_env = interpreter(tree)
                    with tempfile.TemporaryDirectory() as out:
                        started = time.perf_counter()
                        subprocess.run(
                            [python, "-m", "rostermap", "run", "powerschool-learning",
                             "--source", urls["base URL"], "--out", out, "--quiet", "--rate",
                             "0", "--page-size", str(size), "--concurrency",
                             str(args.concurrency), "--param", "year=2026"],
                            env={**tree_env, **{k: v for k, v in env.items()
                                                if k.startswith("ROSTERMAP_")}},
                            cwd=tree, check=True)
                        total = time.perf_counter() - started
                        report = json.loads((Path(out) / "report.json").read_text())
                    fetch = report["source"]["fetch"]
                    records = sum(e["records"] for e in fetch.values())
                    wall = max(e["seconds"] for e in fetch.values())
                    if label not in best or wall < best[label][0]:
                        best[label] = (wall, total, records)
            for label, _ in trees:
                wall, total, records = best[label]
                rows.append((label, size, wall, total, records))
                print(f"{label}, page size {size:>5}: {records:,} records in {wall:.2f} s = "
                      f"{records / wall:,.0f} records/s (whole run {total:.2f} s)", flush=True)
            loads.append(load())
    finally:
        server.terminate()
        server.communicate(timeout=10)
    print()
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}; OneRoster {args.version}, "
          f"{args.auth}, concurrency {args.concurrency}, {args.students:,} students; "
          f"load average (1, 5, 15 min) before and after each page size: {'; '.join(loads)}")
    print()
    print(f"| code | page size | records fetched | fetch time (best of {args.repeat}) "
          "| records/s | whole run |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, size, wall, total, records in rows:
        print(f"| {label} | {size:,} | {records:,} | {wall:.2f} s | {records / wall:,.0f} "
              f"| {total:.2f} s |")


if __name__ == "__main__":
    main()
