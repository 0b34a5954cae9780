"""Many tenants' syncs on a Dask cluster: one task per tenant.

    pip install -e '.[bench]'     # dask[distributed] is not a runtime dependency
    python examples/scaling/dask_sync.py examples/scaling/tenants.toml [--scheduler tcp://host:8786]

Without --scheduler, a local cluster of processes on this machine; with it, the
workers of an existing cluster, each with rostermap installed and the tenants'
sources and output folders at the same paths (a shared or object-store-backed file
system). The tasks are `rostermap.runtime.sync.many.run_tenant`, exactly what `rostermap run-many`
runs: plain data in and out, never raising, so a tenant that fails is a result, not
a lost task. docs/scaling.md says why Dask, and what to set on a real cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from dask.distributed import Client, LocalCluster

from rostermap.runtime.sync.many import (
    TenantResult,
    as_dict,
    exit_code,
    load_tenants,
    render,
    run_tenant,
)


def sync(tenants_file: Path, client: Client, retries: int = 0) -> list[TenantResult]:
    """Every tenant's sync as a task on ``client``'s cluster, in the file's order.

    Each task is keyed by the tenant's name (one sync per tenant at a time) and marked
    impure (a sync reads a source that changes). ``retries`` re-runs a task whose
    worker died; a sync that failed is a result, and is not retried.
    """
    tenants = load_tenants(tenants_file)
    futures = client.map(run_tenant, tenants, key=[f"sync-{t.name}" for t in tenants],
                         pure=False, retries=retries)
    return list(client.gather(futures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tenants_file", type=Path)
    parser.add_argument("--scheduler", help="address of an existing Dask scheduler")
    parser.add_argument("--workers", type=int, default=2, help="local cluster: processes")
    parser.add_argument("--json", action="store_true", help="print the results as JSON lines")
    args = parser.parse_args()
    if args.scheduler:
        with Client(args.scheduler) as client:
            results = sync(args.tenants_file, client, retries=1)
    else:
        # As run-many does: each worker's polars gets its share of the cores, not a
        # thread per core each (the workers inherit this environment).
        os.environ.setdefault("POLARS_MAX_THREADS",
                              str(max(1, (os.cpu_count() or 1) // max(1, args.workers))))
        with LocalCluster(n_workers=args.workers, threads_per_worker=1,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            results = sync(args.tenants_file, client, retries=1)
    if args.json:
        print("\n".join(json.dumps(as_dict(r)) for r in results))
    else:
        print(render(results))
    sys.exit(exit_code(results))


if __name__ == "__main__":
    main()
