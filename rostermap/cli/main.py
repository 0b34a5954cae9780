"""The ``rostermap`` command: run, check, compile, generate, serve, lsp.

Exit codes: 0 success, 1 mapping, data or fetch errors (nothing written), 2 usage
errors (bad options or parameters), 3 a partial run (files written without the
records that were rejected; they are listed in report.json), 4 a held run (over a
mass-change limit: nothing published until approved), 5 another run of the same
profile and tenant holds the state. Diagnostics go to
stderr; the run summary to stdout; the fetch progress to stderr, on a terminal only.
Everything printed passes through ``runtime.redact``. No option takes a credential:
they come from the environment or the config file, never from the visible command
line. click provides the parsing, ``--help`` and the usage exit code.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from rostermap.compiler.naming import mangle
from rostermap.dsl.diagnostics import DiagnosticError, printable, render_all
from rostermap.dsl.files import read_mapping
from rostermap.runtime.errors import HELD, PARTIAL, RunError
from rostermap.runtime.redact import redact

# polars' allocator (jemalloc) keeps freed memory for ten seconds by default, so a run's
# resident size is that of every intermediate frame it ever had. Returning it within
# half a second lowers a 1M-student run's peak RSS by a sixth at no measured cost in
# time. Set before polars is imported (the commands import it lazily); a value
# in the environment wins.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:500,muzzy_decay_ms:0")
__all__ = ["PARTIAL", "main"]



def _fail(diagnostics: object, source: object = None, code: int = 1) -> NoReturn:
    click.echo(redact(render_all(diagnostics, source)), err=True)  # type: ignore[arg-type]
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rostermap", prog_name="rostermap")
def main() -> None:
    """Turn OneRoster rosters into learning products' import files.

    A profile is a mapping file (mappings/<name>.rmap) that says, column by column,
    how a product's import files are made from OneRoster records.
    """


@main.command()
@click.argument("profile")
@click.option("--source", required=True,
              help="A OneRoster CSV package (a .zip or a folder), or a OneRoster API base URL "
                   "such as https://sis.example.org/ims/oneroster/v1p1.")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="The folder to write the import files and report.json into.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A profile parameter; repeat for several. Lists are comma-separated.")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="The run's date (YYYY-MM-DD) for today() and date parameters that default "
              "to it; default: the machine's date. Set it to repeat a run exactly.")
@click.option("--max-rejects", type=click.IntRange(min=0), default=None, metavar="N",
              help="Fail the run (writing nothing) when more than N records are rejected.")
@click.option("--quiet", is_flag=True, help="Print nothing but errors; no progress display.")
@click.option("--max-file-bytes", type=click.IntRange(min=1), metavar="N",
              help="CSV source: refuse a file, or a zip entry once expanded, larger than N "
              "bytes (default 8 GiB).")
@click.option("--max-records", type=click.IntRange(min=1), metavar="N",
              help="Refuse a file of more than N rows, or an API collection of more than N "
              "records (default 20 million).")
@click.option("--max-field-bytes", type=click.IntRange(min=1), metavar="N",
              help="CSV source: refuse a value longer than N bytes in a column the profile "
              "reads (default 1 MiB).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="API source: a TOML file whose [source] section holds credentials and "
                   "settings (default: $ROSTERMAP_CONFIG).")
@click.option("--page-size", type=click.IntRange(min=1), help="API source: records per page "
              "asked for (default 1000; a provider's smaller cap is detected).")
@click.option("--concurrency", type=click.IntRange(min=1),
              help="API source: requests in flight at once (default 4).")
@click.option("--rate", type=click.FloatRange(min=0),
              help="API source: requests per second per host (default 10; 0: no limit).")
@click.option("--timeout", type=click.FloatRange(min=0.01),
              help="API source: seconds to wait for a connection or data (default 30).")
@click.option("--retries", type=click.IntRange(min=0),
              help="API source: further attempts of a failed request (default 5).")
@click.option("--compat/--strict", default=None,
              help="API source: accept minimal providers' JSON (default: strict).")
@click.option("--filter/--no-filter", "filter_", default=None,
              help="API source: push the mapping's filters to the provider (default: on).")
@click.option("--http2/--http1", default=None, help="API source: use HTTP/2 (default: off).")
@click.option("--state", "state", type=click.Path(dir_okay=False, path_type=Path),
              help="The run state (SQLite) that change sets are computed against; default: "
              "$ROSTERMAP_STATE_DIR or the user data folder, then PROFILE/TENANT.sqlite, or "
              "without --tenant a file of the --out folder's.")
@click.option("--tenant", default=None,
              help="The district or customer this run is for: each has its own state "
              "(default: the state follows the --out folder).")
@click.option("--new-state", is_flag=True,
              help="Start the state afresh where it is missing but the --out folder was "
              "published by it, or where the file is not a state (it is kept aside).")
@click.option("--no-state", is_flag=True,
              help="Only transform: no state, no changes/, no guards (a one-off export).")
@click.option("--dry-run", is_flag=True,
              help="Compute the outputs, the changes and the guards' verdict; write nothing.")
@click.option("--allow-empty", is_flag=True,
              help="Go on when an entity read holds no record, or an output is left empty "
              "while its entity has records (default: stop, exit 1).")
@click.option("--changes-only", is_flag=True,
              help="Write changes/ and the reports, not the full files.")
@click.option("--wait", type=click.FloatRange(min=0), default=0.0, metavar="SECONDS",
              help="Wait this long for another run of the same profile and tenant to end "
              "(default: exit 5 at once).")
@click.option("--keep-runs", type=click.IntRange(min=1), default=30, show_default=True,
              help="The last N runs keep their report and change rows in the state; older "
              "ones keep their outcome and counts.")
@click.option("--keep-departed", type=click.IntRange(min=1), default=180, show_default=True,
              metavar="DAYS", help="Remember rows deactivated or deleted this many days: one "
              "that comes back later is created, not reactivated.")
@click.option("--log", "log_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Append a line per run (outcome, counts; no personal data) to this file.")
def run(profile: str, source: str, out_dir: Path, params: tuple[str, ...],
        today: dt.datetime | None, max_rejects: int | None, quiet: bool,
        max_file_bytes: int | None, max_records: int | None, max_field_bytes: int | None,
        config_path: Path | None, page_size: int | None, concurrency: int | None,
        rate: float | None, timeout: float | None, retries: int | None, compat: bool | None,
        filter_: bool | None, http2: bool | None, state: Path | None, tenant: str | None,
        new_state: bool, no_state: bool, dry_run: bool, allow_empty: bool, changes_only: bool,
        wait: float, keep_runs: int, keep_departed: int,
        log_file: Path | None) -> None:
    """Run PROFILE (a name in mappings/ or a mapping file) over a OneRoster source.

    Each run is compared with the last one of the same profile and tenant: changes/
    lists what to create, update and deactivate, and a run that would change too
    much is held (exit code 4) until `rostermap approve` or `rostermap reject`.

    An API source authenticates with ROSTERMAP_CLIENT_ID, ROSTERMAP_CLIENT_SECRET and
    ROSTERMAP_TOKEN_URL (OAuth 2; without a token URL, OAuth 1 signing), or the
    [source] section of --config; see docs/rest.md.
    """
    from contextlib import AbstractContextManager, nullcontext

    from rostermap.runtime.report.json_report import summary
    from rostermap.runtime.run.pipeline import run as run_profile
    from rostermap.runtime.sources.config import load_config
    from rostermap.runtime.sources.csv_package import Limits
    from rostermap.runtime.sources.raw import is_url

    if no_state and (dry_run or changes_only or state or tenant or new_state):
        raise click.UsageError("--no-state cannot be combined with --state, --tenant, "
                               "--new-state, --dry-run or --changes-only")
    _log_to(log_file)
    try:
        config = None
        display: AbstractContextManager[Any] = nullcontext(None)
        if is_url(source):
            from rostermap.cli.progress import progress  # rich and the HTTP stack: APIs only

            config = load_config(config_path, {
                "page_size": page_size, "concurrency": concurrency, "rate": rate,
                "timeout": timeout, "retries": retries, "compat": compat, "filter": filter_,
                "http2": http2, "max_records": max_records})
            display = progress(quiet)
        limits = Limits(**{k: v for k, v in (("max_file_bytes", max_file_bytes),
                                             ("max_records", max_records),
                                             ("max_field_bytes", max_field_bytes))
                           if v is not None})
        day = today.date() if today else None
        with display as observer:
            if no_state:
                result = run_profile(profile, source, out_dir, params, limits=limits,
                                     config=config, observer=observer, today=day,
                                     max_rejects=max_rejects, allow_empty=allow_empty)
                report, files, folder = result.report, result.files, out_dir
            else:
                from rostermap.runtime.sync.run import SyncOptions, sync
                from rostermap.runtime.sync.state import Retention

                options = SyncOptions(state, tenant, dry_run, changes_only, wait, new_state,
                                      retention=Retention(keep_runs, keep_departed))
                synced = sync(profile, source, out_dir, params, options, limits=limits,
                              today=day, max_rejects=max_rejects, config=config,
                              observer=observer, allow_empty=allow_empty)
                report, files = synced.report, synced.files
                folder = synced.folder or out_dir
    except DiagnosticError as error:
        _fail(error.diagnostics, error.source)
    except RunError as error:
        _fail(error.diagnostics, code=error.exit_code)
    if not quiet:
        click.echo(printable(summary(report)))
        if dry_run:
            click.echo("  dry run: nothing was written")
        else:
            click.echo(f"  wrote {len(files)} files to {folder}")
            for zipped in (f for f in files if f.suffix == ".zip"):
                click.echo(f"  upload {zipped}: the import files, zipped")
    sys.exit(report.outcome.exit_code)


@main.command("push")
@click.argument("profile")
@click.option("--source", required=True,
              help="The product's gradebook as a OneRoster CSV package (categories, "
                   "lineItems, results, and what the profile reads beside them).")
@click.option("--target", required=True,
              help="The base URL of the API to write to (https://, or http:// to a "
                   "loopback address).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="The folder to write report.json and report.html into.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A profile parameter; repeat for several.")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="The run's date for today(); default: the machine's date.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="A TOML file whose [source] section holds the target's credentials and "
                   "settings (default: $ROSTERMAP_CONFIG).")
@click.option("--timeout", type=click.FloatRange(min=0.01),
              help="Seconds to wait for a connection or an answer (default 30).")
@click.option("--retries", type=click.IntRange(min=0),
              help="Further attempts of a write answered 429 or 5xx (default 5).")
@click.option("--state", "state", type=click.Path(dir_okay=False, path_type=Path),
              help="The push state (SQLite): what each record last sent and what the "
                   "target gave back; default: the tenant's, else the --out folder's.")
@click.option("--tenant", default=None, help="The district this push is for: each has its "
              "own state.")
@click.option("--dry-run", is_flag=True,
              help="Print the requests the push would make (secrets masked); send nothing, "
                   "change no state.")
@click.option("--watch", "every", type=click.FloatRange(min=0.1), default=None,
              metavar="SECONDS", help="Keep running: look at the source every SECONDS and push "
              "again each time it changes (until interrupted).")
@click.option("--quiet", is_flag=True, help="Print nothing but errors.")
def push_(profile: str, source: str, target: str, out_dir: Path | None, params: tuple[str, ...],
          today: dt.datetime | None, config_path: Path | None, timeout: float | None,
          retries: int | None, state: Path | None, tenant: str | None, dry_run: bool,
          every: float | None, quiet: bool) -> None:
    """Write PROFILE's push outputs, made from a gradebook, to the API at --target.

    Only what changed since the last successful push of the same profile and tenant
    is sent; a rerun after a failure resumes. Credentials are read as for API
    sources (ROSTERMAP_CLIENT_ID, ROSTERMAP_CLIENT_SECRET, ROSTERMAP_TOKEN_URL, or
    the [source] section of --config); see docs/push.md. Exit codes: 0 every write
    done, 3 some failed (they are sent again next time), 1 errors, 2 usage errors.
    """
    from rostermap.runtime.sources.config import load_config
    from rostermap.runtime.sync.push import PushOptions, PushResult, watch
    from rostermap.runtime.sync.push import push as run_push

    if out_dir is None and not dry_run and state is None and tenant is None:
        raise click.UsageError("name the push's --out folder (its report), --tenant or --state")
    if every is not None and dry_run:
        raise click.UsageError("--watch cannot be combined with --dry-run")

    def show(result: PushResult) -> None:
        for request in result.requests:
            click.echo(printable(request))
        if quiet:
            return
        r = result.report
        for name, c in r.counts.items():
            click.echo(f"  {name}: {c['records']} records, {c['unchanged']} unchanged, "
                       f"{c['written']} {'to send' if dry_run else 'written'}, "
                       f"{c['failed']} failed, {c['skipped']} skipped")
        for w in r.writes:
            if w.outcome.value in ("failed", "skipped"):
                level = "warning" if w.outcome.value == "skipped" else "error"
                click.echo(printable(f"  {level}[{w.code}]: {w.message}"), err=True)
        click.echo(f"  push {r.outcome}" + (f"; report in {out_dir}" if result.files else ""))

    options = PushOptions(target, state, tenant, dry_run, out_dir)
    try:
        config = load_config(config_path, {"timeout": timeout, "retries": retries})
        if every is not None:
            try:
                watch(profile, source, options, every, show, params, config)
            except KeyboardInterrupt:
                sys.exit(0)
        result = run_push(profile, source, options, params, config,
                          today.date() if today else None)
    except DiagnosticError as error:
        _fail(error.diagnostics, error.source)
    except RunError as error:
        _fail(error.diagnostics, code=error.exit_code)
    show(result)
    sys.exit(result.exit_code)


def _log_to(log_file: Path | None) -> None:
    """Send the run's log lines (no personal data, secrets masked) to a file."""
    if log_file is None:
        return
    import logging

    from rostermap.runtime.redact import install_log_redaction

    install_log_redaction()
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("rostermap")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _state_options(state: Path | None, tenant: str | None, out: Path | None,
                   wait: float = 0.0) -> Any:
    from rostermap.runtime.sync.run import SyncOptions

    return SyncOptions(state=state, tenant=tenant, wait=wait, out=out)


_STATE_OPTIONS = [
    click.option("--state", "state", type=click.Path(dir_okay=False, path_type=Path),
                 help="The run state file, as for `run`."),
    click.option("--tenant", default=None, help="The tenant, as for `run`."),
    click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
                 help="The output folder of the runs, where they named no --tenant."),
]


def _with_state(command: Any) -> Any:
    for option in reversed(_STATE_OPTIONS):
        command = option(command)
    return command


@main.command()
@click.argument("profile")
@_with_state
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="How many runs to list, newest first.")
def runs(profile: str, state: Path | None, tenant: str | None, out: Path | None,
         limit: int) -> None:
    """List the runs of PROFILE for a tenant: when, outcome, rows and changes."""
    from rostermap.runtime.sync.history import open_state, runs_table

    try:
        with open_state(profile, _state_options(state, tenant, out)) as store:
            click.echo(printable(redact(runs_table(store.runs(limit), store.reviews()))))
    except RunError as error:
        _fail(error.diagnostics, code=error.exit_code)


@main.command("diff")
@click.argument("profile")
@click.argument("first", type=click.IntRange(min=0))
@click.argument("second", type=click.IntRange(min=0))
@_with_state
@click.option("--output", "only", multiple=True, help="Only this output; repeat for several.")
def diff_(profile: str, first: int, second: int, state: Path | None, tenant: str | None,
          out: Path | None, only: tuple[str, ...]) -> None:
    """What changed between two runs of PROFILE: created, updated and deactivated rows,
    by key, with the columns that changed."""
    from rostermap.runtime.sync.history import net_changes, open_state, render_diff

    try:
        with open_state(profile, _state_options(state, tenant, out)) as store:
            click.echo(printable(redact(render_diff(net_changes(store, first, second, only),
                                                    first, second))))
    except RunError as error:
        _fail(error.diagnostics, code=error.exit_code)


@main.command()
@click.argument("profile")
@click.argument("run_id", metavar="RUN", type=click.IntRange(min=1))
@_with_state
@click.option("--wait", type=click.FloatRange(min=0), default=0.0, metavar="SECONDS",
              help="Wait this long for a running sync to end.")
@click.option("--note", default="", help="Why: recorded in the state with who and when.")
def approve(profile: str, run_id: int, state: Path | None, tenant: str | None,
            out: Path | None, wait: float, note: str) -> None:
    """Publish held run RUN of PROFILE, and make it the run the next one compares with."""
    from rostermap.runtime.sync.run import approve as approve_run

    try:
        result = approve_run(profile, run_id, _state_options(state, tenant, out, wait),
                             note=note)
    except RunError as error:
        _fail(error.diagnostics, code=error.exit_code)
    click.echo(f"run {run_id} approved: published {len(result.files)} files to {result.folder}")


@main.command()
@click.argument("profile")
@click.argument("run_id", metavar="RUN", type=click.IntRange(min=1))
@_with_state
@click.option("--wait", type=click.FloatRange(min=0), default=0.0, metavar="SECONDS",
              help="Wait this long for a running sync to end.")
@click.option("--note", default="", help="Why: recorded in the state with who and when.")
def reject(profile: str, run_id: int, state: Path | None, tenant: str | None,
           out: Path | None, wait: float, note: str) -> None:
    """Drop held run RUN of PROFILE: nothing of it is published or kept."""
    from rostermap.runtime.sync.run import reject as reject_run

    try:
        reject_run(profile, run_id, _state_options(state, tenant, out, wait), note=note)
    except RunError as error:
        _fail(error.diagnostics, code=error.exit_code)
    click.echo(f"run {run_id} rejected: the last approved or committed run stays current")


class _Percent(click.ParamType):  # type: ignore[type-arg]
    """``5%`` or ``5``: a share of an output's rows, in percent."""

    name = "N%"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        if isinstance(value, float):
            return value
        try:
            number = float(str(value).strip().removesuffix("%"))
        except ValueError:
            self.fail(f"{value!r} is not a percentage such as 5%", param, ctx)
        if not 0 <= number <= 100:
            self.fail(f"{value!r} is not between 0% and 100%", param, ctx)
        return number


def _write_impact(folder: Path | None, documents: dict[str, str]) -> None:
    if folder is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in documents.items():
        target = folder / name
        target.write_text(text, encoding="utf-8")
        target.chmod(0o600)  # sample rows are students' rows, masked or not
    click.echo(f"  wrote {', '.join(documents)} to {folder}")


@main.command()
@click.argument("profile")
@click.argument("edited", metavar="EDITED.rmap",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", default=None,
              help="Compare on this OneRoster source, as for `run`; default: the records the "
              "tenant's last committed run stored (--tenant, --state or --out).")
@_with_state
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A profile parameter; default: those of the tenant's last run.")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="The date both mappings run on, as for `run`.")
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write impact.json and impact.html into this folder.")
@click.option("--fail-over", type=_Percent(), default=None,
              help="Exit 4 when an output's rows that appear, disappear or change exceed "
              "this share of its rows (a pre-deploy gate in CI).")
@click.option("--show-pii", is_flag=True,
              help="Show personal values in sample rows (masked by default).")
def impact(profile: str, edited: Path, source: str | None, state: Path | None,
           tenant: str | None, out: Path | None, params: tuple[str, ...],
           today: dt.datetime | None, report_dir: Path | None, fail_over: float | None,
           show_pii: bool) -> None:
    """What EDITED.rmap would change against PROFILE's current mapping, row by row.

    Both mappings run on the same records: a tenant's last committed run's stored
    source records, or --source. Per output, the rows that appear, disappear and
    change (and which columns), with masked samples; the rules whose drops moved;
    new warnings and rejects. Nothing is published and no state changes. Exit 0, or
    4 over --fail-over.
    """
    from rostermap.runtime.report.impact import encode, render_html, summary
    from rostermap.runtime.sync.impact import impact as compare

    if source is None and not (state or tenant or out):
        raise click.UsageError("name the records: --tenant, --state, --out or --source")
    try:
        result = compare(profile, str(edited), source,
                         _state_options(state, tenant, out) if source is None else None,
                         params, today.date() if today else None, show_pii, fail_over)
    except DiagnosticError as error:
        _fail(error.diagnostics, error.source)
    except RunError as error:
        _fail(error.diagnostics, code=error.exit_code)
    click.echo(printable(summary(result.impact)))
    _write_impact(report_dir, {"impact.json": encode(result.impact),
                               "impact.html": render_html(result.impact)})
    sys.exit(HELD if result.impact.over else 0)


@main.command("run-many")
@click.argument("tenants_file", metavar="TENANTS.toml",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Tenants synced at once: worker processes, each running tenants in turn.")
@click.option("--isolate", is_flag=True,
              help="Run each tenant in a fresh process of its own (no resident workers).")
@click.option("--recycle-after", "recycle_after", type=click.IntRange(min=1), default=100,
              show_default=True, metavar="N",
              help="Replace a worker with a fresh process after N tenants.")
@click.option("--worker-memory", "worker_memory", type=click.IntRange(min=1), default=1024,
              show_default=True, metavar="MB",
              help="Replace a worker whose resident memory after a tenant is over MB.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON lines.")
@click.option("--impact", "edited", metavar="NEW.rmap", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Sync nothing: compare NEW.rmap with the current mapping for every tenant "
              "of its profile, on each tenant's stored records (see `rostermap impact`).")
@click.option("--fail-over", type=_Percent(), default=None,
              help="With --impact: exit 4 when any tenant's output changes by more than this.")
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="With --impact: write impact.json and impact.html into this folder.")
@click.option("--show-pii", is_flag=True, help="With --impact: personal values unmasked.")
def run_many(tenants_file: Path, jobs: int, isolate: bool, recycle_after: int,
             worker_memory: int, as_json: bool, edited: Path | None, fail_over: float | None,
             report_dir: Path | None, show_pii: bool) -> None:
    """Run many tenants' syncs (a [[tenant]] per district in TENANTS.toml).

    Each tenant runs `rostermap run` (a sync against the tenant's own state) in a
    worker process, JOBS at a time; a worker runs tenants in turn and is replaced
    after --recycle-after tenants, over --worker-memory, or when its tenant crashed
    it. One tenant's failure, crash or held run leaves the others' files alone.
    Exit 1 if any tenant failed, else 4 if any was held, else 3 if any was partial,
    else 0. The file's format is in docs/scaling.md.
    """
    from rostermap.runtime.sync.many import (
        Recycle,
        TenantResult,
        as_dict,
        exit_code,
        load_tenants,
        render,
        run_many,
    )

    try:
        tenants = load_tenants(tenants_file)
    except RunError as error:
        _fail(error.diagnostics, code=error.exit_code)
    if edited is not None:
        _impact_many(tenants, tenants_file, edited, jobs, fail_over, report_dir, show_pii,
                     as_json)

    def show(result: TenantResult) -> None:
        if as_json:
            click.echo(json.dumps(as_dict(result)))

    results = run_many(tenants, jobs, show, Recycle(recycle_after, worker_memory, isolate))
    if not as_json:
        click.echo(redact(render(results)))
    sys.exit(exit_code(results))


def _impact_many(tenants: Any, tenants_file: Path, edited: Path, jobs: int,
                 fail_over: float | None, report_dir: Path | None, show_pii: bool,
                 as_json: bool) -> NoReturn:
    from rostermap.runtime.report.impact import encode_many, render_many_html, summary_many
    from rostermap.runtime.sync.impact import impact_many

    try:
        many = impact_many(tenants, tenants_file, str(edited), jobs, fail_over, show_pii)
    except DiagnosticError as error:
        _fail(error.diagnostics, error.source)
    except RunError as error:
        _fail(error.diagnostics, code=error.exit_code)
    click.echo(encode_many(many) if as_json else printable(summary_many(many)))
    _write_impact(report_dir, {"impact.json": encode_many(many),
                               "impact.html": render_many_html(many)})
    failed = any(t.impact is None for t in many.tenants)
    sys.exit(1 if failed else HELD if many.over else 0)


@main.command()
@click.argument("profiles", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              help="json prints one object per diagnostic, for editors and CI.")
@click.option("--effective", is_flag=True,
              help="Print each mapping as it is after `extends` and `import`, every line "
              "marked with the file and line it comes from.")
def check(profiles: tuple[str, ...], fmt: str, effective: bool) -> None:
    """Parse and check mapping files (paths, or profile names); exit 1 if any has an error."""
    from rostermap.dsl.format import format_mapping
    from rostermap.runtime.run.loader import compile_profile, resolve_profile, shown_path

    try:
        files = [resolve_profile(p) for p in profiles]
    except RunError as error:
        _fail(error.diagnostics, code=error.exit_code)
    failed = False
    records = []
    for path in files:
        try:
            compiled = compile_profile(path)
        except DiagnosticError as error:  # the file, or one it imports, cannot be read
            click.echo(redact(render_all(error.diagnostics)), err=True)
            failed = True
            continue
        if effective and compiled.effective is not None:
            click.echo(format_mapping(compiled.effective, origins=True))
        failed |= not compiled.ok
        if fmt == "json":
            records += [d.to_dict(compiled.source) for d in compiled.diagnostics]
        elif compiled.diagnostics:
            click.echo(render_all(compiled.diagnostics, compiled.source), err=True)
        if fmt == "text":
            errors = sum(d.is_error for d in compiled.diagnostics)
            warnings = len(compiled.diagnostics) - errors
            counts = ", ".join(f"{n} {word}(s)" for n, word in ((errors, "error"),
                                                                  (warnings, "warning")) if n)
            verdict = "ok" if compiled.ok else "failed"
            click.echo(f"{shown_path(path)}: {verdict}" + (f" ({counts})" if counts else ""))
    if fmt == "json":
        click.echo(json.dumps(records, indent=2))
    sys.exit(1 if failed else 0)


@main.command("profiles")
def list_profiles() -> None:
    """List the profiles found by name: built-in ones and those in ./mappings or
    $ROSTERMAP_MAPPINGS, with their title, OneRoster versions and parameters."""
    from rostermap.runtime.run.loader import builtin_folder, find_profiles, load_mapping

    builtin = builtin_folder().resolve()
    broken = False
    for name, path in find_profiles().items():
        where = "built-in" if path.resolve().parent == builtin else str(path)
        try:
            module = load_mapping(path).module
        except (DiagnosticError, RunError) as error:
            broken = True
            click.echo(f"{name}  ({where})\n  does not compile: "
                       f"{error.diagnostics[0].code} {error.diagnostics[0].message}\n")
            continue
        click.echo(f"{name}  ({where})\n  {module.TITLE}\n"
                   f"  OneRoster {', '.join(module.VERSIONS)}")
        for param in module.PARAMS:
            click.echo(f"  --param {param.name}  {param.type}  ({_given(param)})")
        click.echo("")
    sys.exit(1 if broken else 0)


def _given(param: Any) -> str:
    """How a parameter gets its value, as `rostermap profiles` lists it."""
    from rostermap.runtime.run.loader import secret_variable

    if param.secret:
        return f"secret: from ${secret_variable(param.name)}"
    if param.required:
        return "required"
    if param.columns:
        return f"optional: a CSV file with {', '.join(param.columns)}"
    if param.default == "@today":
        return "default: the run's date (--today)"
    if param.default in ([], None, ""):
        return "optional"
    if isinstance(param.default, bool):
        return f"default: {str(param.default).lower()}"
    if isinstance(param.default, str):
        return f"default: {json.dumps(param.default)}"
    return f"default: {param.default}"


@main.command()
@click.argument("profile")
@click.option("--source", required=True, type=click.Path(path_type=Path),
              help="The OneRoster source, as for `run`.")
@click.option("--record", "records", required=True, multiple=True, metavar="ENTITY/SOURCEDID",
              help="The record to explain, e.g. users/stu-42; may repeat (one run for all).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A profile parameter, as for `run`.")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="The run's date, as for `run`.")
@click.option("--show-pii", is_flag=True,
              help="Show the values of personal fields (names, emails...); hidden by default.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              help="json prints a list with one object per record, for tools.")
def explain(profile: str, source: Path, records: tuple[str, ...], params: tuple[str, ...],
            today: dt.datetime | None, show_pii: bool, fmt: str) -> None:
    """Show what a run of PROFILE does with a record, and why: per output, written,
    dropped by a rule, rejected, or left out because a record it depends on was."""
    from rostermap.runtime.run.explain import as_json, explain_records, render

    try:
        results = explain_records(profile, source, records, params,
                                  today.date() if today else None, show_pii)
    except DiagnosticError as error:
        _fail(error.diagnostics, error.source)
    except RunError as error:
        _fail(error.diagnostics, code=error.exit_code)
    else:
        if fmt == "json":  # json.dumps escapes control characters itself
            click.echo(redact(json.dumps([as_json(r) for r in results], indent=2,
                                         ensure_ascii=False)))
            return
        # a secret parameter's value, if a column shows it; control characters of the data
        click.echo(printable(redact("\n\n".join(render(r) for r in results))))


@main.command("fmt")
@click.argument("profiles", nargs=-1, required=True)
@click.option("--check", "check_only", is_flag=True,
              help="Change nothing; exit 1 if a file is not in canonical layout (for CI).")
def fmt(profiles: tuple[str, ...], check_only: bool) -> None:
    """Rewrite mapping files (paths, or profile names) in the canonical layout, keeping
    every comment."""
    from rostermap.dsl.format import format_text
    from rostermap.runtime.run.loader import resolve_profile

    try:
        files = [resolve_profile(p) for p in profiles]
    except RunError as error:
        _fail(error.diagnostics, code=error.exit_code)
    unformatted = False
    for path in files:
        try:
            text = read_mapping(path)
        except DiagnosticError as error:
            _fail(error.diagnostics)
        formatted = format_text(text, str(path))
        if formatted is None:
            click.echo(f"{path}: does not parse; run `rostermap check {path}`", err=True)
            sys.exit(1)
        if formatted == text:
            continue
        unformatted = True
        if check_only:
            click.echo(f"{path}: would be reformatted:")
            diff = difflib.unified_diff(text.splitlines(keepends=True),
                                        formatted.splitlines(keepends=True),
                                        f"{path}", f"{path} (formatted)")
            click.echo("".join(diff), nl=False)
        else:
            path.write_text(formatted, encoding="utf-8")
            click.echo(f"{path}: reformatted")
    sys.exit(1 if unformatted and check_only else 0)


@main.command()
@click.option("--stdio", is_flag=True, hidden=True,
              help="Accepted for clients that pass it: stdio is the only transport.")
def lsp(stdio: bool) -> None:
    """Run the language server on stdin and stdout, for editors (see editors/vscode):
    check's diagnostics as you type, hover, go to definition, completion, fmt on save."""
    from rostermap.devtools.lsp import serve

    serve()


@main.command("compile")
@click.argument("profile")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("build"), show_default=True, help="Folder for the Python module.")
def compile_(profile: str, out_dir: Path) -> None:
    """Compile a mapping file (a path, or a profile name) to a readable Python module;
    its extends and imports are found as `run` finds them."""
    from rostermap.runtime.run.loader import compile_profile, resolve_profile

    try:
        file = resolve_profile(profile)
        compiled = compile_profile(file)
    except RunError as error:
        _fail(error.diagnostics, code=error.exit_code)
    except DiagnosticError as error:
        _fail(error.diagnostics)
    if compiled.diagnostics:
        click.echo(render_all(compiled.diagnostics, compiled.source), err=True)
    if compiled.code is None or compiled.checked is None:
        sys.exit(1)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{mangle(compiled.checked.profile)}.py"
    target.write_text(compiled.code, encoding="utf-8")
    click.echo(f"{file} -> {target}")


@main.command()
@click.option("--students", type=click.IntRange(min=1), required=True,
              help="How many students the district has.")
@click.option("--seed", type=int, default=1, show_default=True,
              help="The same seed gives the same district, byte for byte.")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True,
              help="A new folder, or the .zip to write with --zip.")
@click.option("--zip", "as_zip", is_flag=True, help="Write a .zip package instead of a folder.")
@click.option("--version", "version", type=click.Choice(["1.1", "1.2"]), default="1.1",
              show_default=True, help="The OneRoster version to write.")
@click.option("--gradebook", type=click.IntRange(min=0), default=0, show_default=True,
              help="Also write a gradebook (categories, lineItems, results): this many line "
                   "items per class, each scored for every student of the class.")
def generate(students: int, seed: int, out: Path, as_zip: bool, version: str,
             gradebook: int) -> None:
    """Generate a realistic, untidy OneRoster CSV district for trials and benchmarks."""
    from rostermap.devtools.generate import generate as make

    try:
        summary = make(out, students=students, seed=seed, version=version, as_zip=as_zip,
                       gradebook=gradebook)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    click.echo(f"wrote {summary}")


@main.command()
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="The port on 127.0.0.1; 0 picks a free one.")
@click.option("--version", "version", type=click.Choice(["1.1", "1.2"]), default=None,
              help="The OneRoster version to serve (default: the package's).")
@click.option("--auth", type=click.Choice(["oauth2", "oauth1", "none"]), default="oauth2",
              show_default=True, help="How clients authenticate, with the credentials in "
              "ROSTERMAP_CLIENT_ID and ROSTERMAP_CLIENT_SECRET.")
@click.option("--fault", "faults", multiple=True,
              metavar="KIND[=VALUE][,entity=E][,offset=N][,times=N]",
              help="Inject a fault: 429 (=Retry-After seconds), 500, 502, 503, 504, slow "
                   "(=seconds), truncate, bad-json, reset, stall (=seconds), trickle (=seconds "
                   "a byte), html, redirect, expire-token (=seconds after issue), "
                   "ignore-filter, reject-filter, ignore-offset, cap-page (=size), no-count. "
                   "offset: only "
                   "that page; times: per distinct request (default 1; 0: always). Repeat "
                   "for several.")
@click.option("--quirk", "quirks", multiple=True,
              type=click.Choice(["json-booleans", "int-booleans", "bare-guidrefs",
                                 "empty-arrays", "datetime-dates", "missing-required", "nulls",
                                 "v11-paths"]),
              help="Serve a minimal provider's JSON shapes; repeat for several.")
@click.option("--token-lifetime", type=click.FloatRange(min=1), default=3600.0,
              show_default=True, help="Seconds an OAuth 2 token is valid.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="A TOML file whose [source] section holds the accepted credentials.")
@click.option("--verbose", is_flag=True, help="Log each request to stderr.")
def serve(source: Path, port: int, version: str | None, auth: str, faults: tuple[str, ...],
          quirks: tuple[str, ...], token_lifetime: float, config_path: Path | None,
          verbose: bool) -> None:
    """Serve a OneRoster CSV package as a OneRoster 1.1 or 1.2 REST API on 127.0.0.1.

    For trying a profile against an API, and for tests. Stop it with Ctrl-C.
    """
    import logging

    from rostermap.devtools.serve import Fault, Server
    from rostermap.runtime.redact import install_log_redaction
    from rostermap.runtime.sources.config import Credentials, load_config

    install_log_redaction()
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(message)s", stream=sys.stderr)

    try:
        parsed = [Fault.parse(spec) for spec in faults]
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--fault") from None
    try:
        credentials = load_config(config_path).credentials if auth != "none" else Credentials()
        server = Server(source, version, auth, credentials, port, parsed, quirks,
                        token_lifetime)
    except RunError as error:
        _fail(error.diagnostics, code=error.exit_code)
    click.echo(f"rostermap serve: {source} (OneRoster {server.package_version} CSV) as a "
               f"OneRoster {server.version} API")
    click.echo(f"  base URL:  {server.base_url}")
    if auth == "oauth2":
        click.echo(f"  token URL: {server.token_url}")
    click.echo(f"  auth:      {auth}" + (" (client id and secret from ROSTERMAP_CLIENT_ID and "
                                          "ROSTERMAP_CLIENT_SECRET)" if auth != "none" else ""))
    for fault in parsed:
        click.echo(f"  fault:     {fault}")
    for quirk in quirks:
        click.echo(f"  quirk:     {quirk}")
    click.echo("Press Ctrl-C to stop.")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass



@main.command()
@click.option("--tenants", "tenants_file", metavar="TENANTS.toml",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Show the states of this tenants file's tenants.")
@click.option("--states", "folder", type=click.Path(file_okay=False, path_type=Path),
              help="Show every state in this folder (default: $ROSTERMAP_STATE_DIR or the "
              "user data folder, where runs keep them).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on; any but a loopback one needs --tls-cert and "
              "--tls-key, or --behind-proxy.")
@click.option("--port", type=click.IntRange(0, 65535), default=8484, show_default=True,
              help="The port; 0 picks a free one.")
@click.option("--tls-cert", type=click.Path(dir_okay=False, path_type=Path),
              help="Serve HTTPS with this PEM certificate chain.")
@click.option("--tls-key", type=click.Path(dir_okay=False, path_type=Path),
              help="The private key of --tls-cert.")
@click.option("--behind-proxy", is_flag=True,
              help="A TLS proxy on this machine serves the console: trust its "
              "X-Forwarded headers, mark cookies Secure.")
@click.option("--show-pii", is_flag=True,
              help="Show personal values (keys of change rows, sample rows); masked by "
              "default.")
@click.option("--hash-password", is_flag=True,
              help="Ask for a password and print its hash for "
              "$ROSTERMAP_CONSOLE_PASSWORD_HASH, then exit.")
def console(tenants_file: Path | None, folder: Path | None, host: str, port: int,
            tls_cert: Path | None, tls_key: Path | None, behind_proxy: bool, show_pii: bool,
            hash_password: bool) -> None:
    """A web console over the run states: every tenant's last run, held runs to
    approve or reject, run history, reports and change files, a mapping's impact.

    Every page needs a session: log in with the one-time token printed here, or the
    password whose hash is in $ROSTERMAP_CONSOLE_PASSWORD_HASH. Stop it with Ctrl-C.
    """
    from rostermap.devtools.console import Console, Settings
    from rostermap.devtools.console import hash_password as make_hash

    if hash_password:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        click.echo(make_hash(password))
        return
    if tenants_file is not None and folder is not None:
        raise click.UsageError("--tenants and --states name one set of states: give one")
    try:
        app = Console(Settings(tenants_file, folder, show_pii), host, port, tls_cert, tls_key,
                      behind_proxy)
    except RunError as error:
        _fail(error.diagnostics, code=error.exit_code)
    except OSError as error:
        raise click.UsageError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    click.echo(f"rostermap console: {app.url}/login")
    if app.token:
        click.echo(f"  one-time login token: {app.token}")
    click.echo(f"  personal values: {'shown' if show_pii else 'masked'}. Press Ctrl-C to stop.")
    app.serve()
