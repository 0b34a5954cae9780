"""Records per second fetched by `rostermap run` from `rostermap serve` on loopback.

Usage (from the project root, in the project's virtualenv):

    python benchmarks/rest.py --students 10000 --page-size 100 1000 [--repeat 3]
                              [--version 1.1] [--auth oauth2] [--concurrency 4]

The district is generated once into benchmarks/data/ (seed 1, as benchmarks/run.py).
The server is a separate `rostermap serve` process (so client and server do not
share a GIL); each measurement is a fresh `rostermap run --rate 0 --quiet`
process. Records/second is what the run's report.json says it fetched, over the
fetch's wall time (the collections are fetched at the same time, so the slowest
one's time); the whole run's time is printed beside it.
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
DATA = HERE / "data"


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
    args = parser.parse_args()
    source = district(args.students)
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
        for size in args.page_size:
            best: tuple[float, float, int] | None = None
            for _ in range(args.repeat):
                with tempfile.TemporaryDirectory() as out:
                    started = time.perf_counter()
                    subprocess.run(
                        [sys.executable, "-m", "rostermap", "run", "powerschool-learning",
                         "--source", urls["base URL"], "--out", out, "--quiet", "--rate", "0",
                         "--page-size", str(size), "--concurrency", str(args.concurrency),
                         "--param", "year=2026"], env=env, check=True)
                    total = time.perf_counter() - started
                    fetch = json.loads((Path(out) / "report.json").read_text())["source"]["fetch"]
                records = sum(e["records"] for e in fetch.values())
                wall = max(e["seconds"] for e in fetch.values())
                if best is None or wall < best[0]:
                    best = (wall, total, records)
            assert best is not None
            rows.append((size, *best))
            print(f"page size {size:>5}: {best[2]:,} records in {best[0]:.2f} s = "
                  f"{best[2] / best[0]:,.0f} records/s (whole run {best[1]:.2f} s)", flush=True)
    finally:
        server.terminate()
        server.communicate(timeout=10)
    print()
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}; OneRoster {args.version}, "
          f"{args.auth}, concurrency {args.concurrency}, {args.students:,} students")
    print()
    print(f"| page size | records fetched | fetch time (best of {args.repeat}) | records/s "
          "| whole run |")
    print("|---:|---:|---:|---:|---:|")
    for size, wall, total, records in rows:
        print(f"| {size:,} | {records:,} | {wall:.2f} s | {records / wall:,.0f} | {total:.2f} s |")


if __name__ == "__main__":
    main()
