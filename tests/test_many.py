"""Many tenants' syncs: the tenants file, `rostermap run-many` and its resident
workers (reused, recycled, replaced after a real crash), and the same jobs on a Dask
LocalCluster of worker processes (offline)."""

from __future__ import annotations

import errno
import importlib.util
import json
import multiprocessing
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

from rostermap.cli.main import main
from rostermap.runtime.errors import UsageError
from rostermap.runtime.sync.many import (
    Recycle,
    Tenant,
    TenantResult,
    load_tenants,
    run_many,
    run_tenant,
)
from tests.conftest import EXAMPLE, ROOT

TENANTS = """
[defaults]
profile = "powerschool-learning"
params = {{ year = 2026, google_domain = "willowsprings.k12.us" }}

[[tenant]]
name = "whole"
source = "{source}"
out = "out/whole"

[[tenant]]
name = "broken"
source = "no-such-district"
out = "out/broken"

[[tenant]]
name = "high-school"
source = "{source}"
out = "out/high"
params = {{ schools = ["sch-3"] }}
today = 2026-09-01
"""


@pytest.fixture
def tenants_file(tmp_path: Path) -> Path:
    path = tmp_path / "tenants.toml"
    path.write_text(TENANTS.format(source=EXAMPLE), encoding="utf-8")
    return path


def test_the_tenants_file(tenants_file: Path, tmp_path: Path) -> None:
    whole, broken, high = load_tenants(tenants_file)
    assert whole == Tenant("whole", "powerschool-learning", str(EXAMPLE),
                           str(tmp_path / "out/whole"),
                           ("year=2026", "google_domain=willowsprings.k12.us"))
    assert broken.source == str(tmp_path / "no-such-district")
    assert high.params == ("year=2026", "google_domain=willowsprings.k12.us", "schools=sch-3")
    assert high.today == "2026-09-01"
    example = load_tenants(ROOT / "examples" / "scaling" / "tenants.toml")
    assert [t.name for t in example] == ["willow-springs", "willow-springs-high"]
    assert all(Path(t.source).resolve() == EXAMPLE.resolve() for t in example)


@pytest.mark.parametrize("text, message", [
    ("", "needs [[tenant]] entries"),
    ('[[tenant]]\nname = "a"\nprofile = "p"\nsource = "s"\n', "tenant 1: missing out"),
    ('[[tenant]]\nname = "a"\nprofile = "p"\nsource = "s"\nout = "o"\nparam = {}\n',
     "unknown key(s) param"),
    ('[defaults]\nprofile = "p"\nsource = "s"\n[[tenant]]\nname = "a"\nout = "o"\n'
     '[[tenant]]\nname = "b"\nout = "./o"\n', "tenants share a out folder"),
    ('[[tenant]]\nname = "a"\nprofile = "p"\nsource = "s"\nout = "o"\n'
     '[[tenant]]\nname = "a"\nprofile = "p"\nsource = "s"\nout = "p"\n', "share a name"),
    ("[[tenant]\n", "cannot be read"),
    ('[defaults]\nprofile = "p"\nsource = "s"\nstate = "one.sqlite"\n[[tenant]]\nname = "a"\n'
     'out = "o"\n[[tenant]]\nname = "b"\nout = "p"\n', "tenants share a state file"),
])
def test_a_bad_tenants_file_is_a_usage_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "tenants.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError) as raised:
        load_tenants(path)
    assert message in str(raised.value) and raised.value.diagnostics[0].code == "RM507"


def test_run_many_syncs_each_tenant_alone(tenants_file: Path, tmp_path: Path) -> None:
    # The broken tenant's out folder holds last night's files: they stay as they were.
    (tmp_path / "out" / "broken").mkdir(parents=True)
    (tmp_path / "out" / "broken" / "users.csv").write_text("last night\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["run-many", str(tenants_file), "--jobs", "2"])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["tenant", "outcome", "rows", "changes", "seconds"]
    assert lines[1].split()[:2] == ["whole", "success"]
    assert lines[2].split()[:2] == ["broken", "failed"] and "does not exist" in lines[2]
    assert lines[3].split()[:2] == ["high-school", "success"]
    assert lines[-1] == "3 tenant(s): 2 synced, 0 held, 1 failed"
    assert (tmp_path / "out" / "broken" / "users.csv").read_text(encoding="utf-8") == \
        "last night\n"
    expected = CliRunner().invoke(main, [
        "run", "powerschool-learning", "--source", str(EXAMPLE), "--out",
        str(tmp_path / "single"), "--quiet", "--param", "year=2026",
        "--param", "google_domain=willowsprings.k12.us"])
    assert expected.exit_code == 0, expected.output
    for name in ("users.csv", "classes.csv", "rosters.csv"):
        assert (tmp_path / "out" / "whole" / name).read_bytes() == \
            (tmp_path / "single" / name).read_bytes()
    high = (tmp_path / "out" / "high" / "organizations.csv").read_text(encoding="utf-8")
    assert high.splitlines()[1:] == [line for line in high.splitlines()[1:]
                                     if line.startswith("sch-3,")] and len(high.splitlines()) == 2


def test_each_tenant_keeps_its_own_state(tmp_path: Path) -> None:
    """A tenant's second run is a sync against its own first: nothing changed; a
    tenant whose district lost most of its students is held, alone."""
    shrunk = tmp_path / "shrunk"
    shutil.copytree(EXAMPLE, shrunk)
    path = tmp_path / "tenants.toml"
    path.write_text(TENANTS.format(source=EXAMPLE).split("[[tenant]]\nname = \"broken\"")[0]
                    + f'[[tenant]]\nname = "shrinking"\nsource = "{shrunk}"\n'
                    'out = "out/shrinking"\n', encoding="utf-8")
    first = CliRunner().invoke(main, ["run-many", str(path)])
    assert first.exit_code == 0, first.output
    assert [line.split()[:2] for line in first.output.splitlines()[1:3]] == [
        ["whole", "success"], ["shrinking", "success"]]
    users = (shrunk / "users.csv").read_text(encoding="utf-8").splitlines()
    (shrunk / "users.csv").write_text("\n".join(users[:len(users) // 3]) + "\n",
                                      encoding="utf-8")
    second = CliRunner().invoke(main, ["run-many", str(path)])
    assert second.exit_code == 4, second.output
    whole, shrinking = (line.split() for line in second.output.splitlines()[1:3])
    assert whole[:2] == ["whole", "success"] and whole[3:6] == ["+0", "~0", "-0"]
    assert shrinking[:2] == ["shrinking", "held"]
    assert "rostermap approve powerschool-learning 2 --tenant shrinking" in second.output
    assert second.output.splitlines()[-1] == "2 tenant(s): 1 synced, 1 held, 0 failed"


def test_run_many_exit_code_is_zero_when_all_succeed(tmp_path: Path) -> None:
    path = tmp_path / "tenants.toml"
    path.write_text(TENANTS.format(source=EXAMPLE).split("[[tenant]]\nname = \"broken\"")[0],
                    encoding="utf-8")
    result = CliRunner().invoke(main, ["run-many", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert '"outcome": "success"' in result.output


def test_run_tenant_takes_plain_data(tmp_path: Path) -> None:
    result = run_tenant({"name": "t", "profile": "powerschool-learning", "source": str(EXAMPLE),
                         "out": str(tmp_path / "o"), "params": ["year=2026"]})
    assert result.outcome == "success" and result.rows["users.csv"] > 0
    missing = run_tenant({"name": "t", "profile": "powerschool-learning",
                          "source": str(EXAMPLE), "out": str(tmp_path / "p"), "params": []})
    assert (missing.outcome, missing.exit_code) == ("failed", 2)
    assert "needs parameter `year`" in missing.message
    bad_day = run_tenant({"name": "t", "profile": "powerschool-learning",
                          "source": str(EXAMPLE), "out": str(tmp_path / "q"),
                          "params": ["year=2026"], "today": "2026-13-40"})
    assert (bad_day.outcome, bad_day.exit_code) == ("failed", 1)
    assert "ValueError" in bad_day.message and not (tmp_path / "q").exists()


def _load(path: Path) -> ModuleType:
    """A script of the project's (an example, a benchmark) as a module."""
    name = f"rostermap_script_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_same_jobs_on_a_dask_cluster(tmp_path: Path) -> None:
    """benchmarks/many.py's tenants (generated districts, each with its own state and
    out folder), synced by examples/scaling/dask_sync.py on a LocalCluster of two
    worker processes: every tenant's files are run-many's."""
    # A test extra: a partial install skips here, and fails under ROSTERMAP_STRICT=1.
    distributed = pytest.importorskip(
        "distributed", reason="distributed is not installed: pip install -e '.[test]'")
    bench = _load(ROOT / "benchmarks" / "many.py")
    example = _load(ROOT / "examples" / "scaling" / "dask_sync.py")
    districts = bench.generate(tmp_path / "districts", 3, 150)
    on_dask = bench.write_tenants(tmp_path / "dask", districts)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        results = example.sync(on_dask, client)
        assert len(set(client.run(os.getpid).values()) - {os.getpid()}) == 2  # processes
    assert [(r.name, r.outcome) for r in results] == [
        (f"district-{n}", "success") for n in (1, 2, 3)]
    local = bench.write_tenants(tmp_path / "local", districts)
    many = CliRunner().invoke(main, ["run-many", str(local), "--jobs", "2"])
    assert many.exit_code == 0, many.output
    synced = bench.published(tmp_path / "dask")
    assert len(synced) == 3 * 6 and synced == bench.published(tmp_path / "local")


def _tenants(tmp_path: Path, count: int, **overrides: object) -> list[Tenant]:
    return [Tenant(f"t{n}", "powerschool-learning", str(EXAMPLE), str(tmp_path / f"out{n}"),
                   ("year=2026", "google_domain=willowsprings.k12.us"), stateless=True,
                   **overrides)  # type: ignore[arg-type]
            for n in range(count)]


def test_a_worker_runs_tenants_in_turn_until_it_is_recycled(tmp_path: Path) -> None:
    """One resident worker per job runs tenant after tenant (the same files as its
    first); it is replaced after --recycle-after tenants or over --worker-memory, and
    --isolate gives every tenant a fresh process."""
    resident = run_many(_tenants(tmp_path / "resident", 3), jobs=1)
    assert [r.outcome for r in resident] == ["success"] * 3
    assert len({r.worker for r in resident}) == 1 and resident[0].worker > 0
    for name in ("users.csv", "classes.csv", "rosters.csv", "report.json"):
        first, last = (tmp_path / "resident" / f"out{n}" / name for n in (0, 2))
        if name == "report.json":  # its clock and folders differ; its counts do not
            assert json.loads(first.read_bytes())["outputs"] == \
                json.loads(last.read_bytes())["outputs"]
        else:
            assert first.read_bytes() == last.read_bytes()
    recycled = run_many(_tenants(tmp_path / "recycled", 3), jobs=1, recycle=Recycle(tenants=2))
    assert recycled[0].worker == recycled[1].worker != recycled[2].worker
    for recycle in (Recycle(memory_mb=1), Recycle(isolate=True)):
        fresh = run_many(_tenants(tmp_path / str(recycle), 2), jobs=1, recycle=recycle)
        assert [r.outcome for r in fresh] == ["success"] * 2
        assert fresh[0].worker != fresh[1].worker


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_tenant_that_kills_its_worker_fails_alone(tmp_path: Path) -> None:
    """A worker killed mid-tenant (as the out-of-memory killer would) fails that
    tenant only: a new worker runs the tenants after it."""
    stuck = tmp_path / "stuck.zip"
    os.mkfifo(stuck)  # opening it waits for a writer: the tenant is held mid-run
    tenants = _tenants(tmp_path, 3)
    tenants[1] = Tenant("stuck", "powerschool-learning", str(stuck), str(tmp_path / "stuck"),
                        tenants[1].params, stateless=True)
    results: list[TenantResult] = []
    pool = threading.Thread(target=lambda: results.extend(run_many(tenants, jobs=1)))
    pool.start()
    try:
        writer = _writer(stuck, pool)  # once the worker has opened it
        [worker] = [p for p in multiprocessing.active_children()
                    if p.name == "rostermap-worker"]
        os.kill(worker.pid or 0, signal.SIGKILL)
        pool.join(120)
        os.close(writer)
    finally:
        pool.join(120)
    first, killed, after = results
    assert (first.outcome, after.outcome) == ("success", "success")
    assert (killed.name, killed.outcome, killed.exit_code) == ("stuck", "failed", 1)
    assert killed.message == "worker process died (killed by SIGKILL)"
    assert first.worker == killed.worker != after.worker
    assert not (tmp_path / "stuck").exists()


def _writer(fifo: Path, pool: threading.Thread) -> int:
    """The FIFO opened for writing, as soon as a reader has it open (never waiting
    for ever: a pool that ended without opening it fails the test)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and pool.is_alive():
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as error:  # ENXIO: no reader yet
            if error.errno != errno.ENXIO:
                raise
            time.sleep(0.01)
    raise AssertionError("the worker never opened the stuck tenant's source")


def test_an_unexpected_error_is_its_workers_last_tenant(tmp_path: Path) -> None:
    """A tenant that ends in an error rostermap did not expect (a bug, a MemoryError)
    fails as a result, and its worker, which may hold broken state, is replaced."""
    tenants = _tenants(tmp_path, 3)
    tenants[1] = Tenant("odd", "powerschool-learning", str(EXAMPLE), str(tmp_path / "odd"),
                        tenants[1].params, stateless=True,
                        max_rejects="many")  # type: ignore[arg-type]
    first, odd, after = run_many(tenants, jobs=1)
    assert (first.outcome, odd.outcome, after.outcome) == ("success", "failed", "success")
    assert odd.message.startswith("TypeError") and first.worker == odd.worker != after.worker
