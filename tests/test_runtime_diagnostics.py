"""Golden runtime diagnostics: each RM4xx and RM5xx code provoked for real, its rendering
snapshotted (tests/__snapshots__/test_runtime_diagnostics.ambr).

test_diagnostics.py does this for the compiler's codes; here each case goes through the
code path a user's run takes: the command line (click's CliRunner on ``rostermap``),
whose stderr is what the user reads, or, for warnings, which a run reports in
report.json and its summary rather than on stderr, ``runtime.run.pipeline.run`` and
``render_all`` of the warnings it collected. Nothing of rostermap is mocked: CSV cases
read small packages, REST cases fetch from `rostermap serve`'s server on a loopback
port (faults injected the way test_rest.py injects them), state cases use real state
files and locks.

Rendered text is normalised before it is compared (temporary folders, the project
folder, ports, timings, process ids), so that the snapshots are the same on every run
and machine. A completeness test makes a new runtime code without a golden rendering
in some snapshot file fail.
"""

from __future__ import annotations

import http.server
import json
import re
import shutil
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from syrupy.assertion import SnapshotAssertion

from rostermap.cli.main import main
from rostermap.devtools.generate import generate
from rostermap.devtools.serve import Fault, Server
from rostermap.dsl.codes import CODES
from rostermap.dsl.diagnostics import render_all
from rostermap.runtime.run.pipeline import run
from rostermap.runtime.sources.config import Credentials, SourceConfig
from rostermap.runtime.sync.state import lock
from tests.conftest import (
    CASES,
    CLIENT_ID,
    EXAMPLE,
    ROOT,
    SECRET,
    fast_options,
    read_only,
    tiny_files,
)

HERE = CASES / "runtime_diagnostics"
PROBE = str(HERE / "probe.rmap")  # users keyed by role, through a filter on status
REJECTING = str(HERE / "rejecting.rmap")  # number(identifier) fails for every student
SNAPSHOTS = Path(__file__).resolve().parent / "__snapshots__"
WRONG_SECRET = "rm-wrong-secret-81d4"  # refused by the server; must not show either
FAST = {"retries": 2, "backoff": 0.01, "max_backoff": 0.05, "rate": 0, "timeout": 5,
        "page_size": 100}  # fetch settings: quick retries, no rate limit


@dataclass
class Ctx:
    """What a case needs: its temporary folder, and the fixtures it asks for."""

    tmp: Path
    request: pytest.FixtureRequest

    def package(self, files: dict[str, str] | None = None, name: str = "pkg") -> Path:
        make: Callable[..., Path] = self.request.getfixturevalue("make_package")
        return make(files, name=name)

    def serve(self, **options: object) -> Server:
        """The tiny package (unless ``package`` says otherwise) as a OneRoster API."""
        start: Callable[..., Server] = self.request.getfixturevalue("serve")
        options.setdefault("package", self.package(name="served"))
        return start(**options)

    def config(self, *, extra: str = "", **settings: object) -> Path:
        """A config file of fast fetch settings (and no credentials), then ``extra``."""
        path = self.tmp / "rostermap.toml"
        lines = [f"{key} = {value}\n" for key, value in {**FAST, **settings}.items()]
        path.write_text("[source]\n" + "".join(lines) + extra, encoding="utf-8")
        return path

    @property
    def out(self) -> str:
        return str(self.tmp / "out")


def cli(*args: str, exit: int, env: dict[str, str] | None = None) -> tuple[str, str]:
    """Run ``rostermap``; check the exit code; return (stdout, stderr)."""
    result = CliRunner().invoke(main, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        result.exception
    assert "Traceback" not in result.output
    assert result.exit_code == exit, result.output
    return result.stdout, result.stderr


def rest_config(server: Server, **options: object) -> SourceConfig:
    return SourceConfig(Credentials("oauth2", CLIENT_ID, SECRET, server.token_url),
                        fast_options(**options))


def warnings_of(code: str, profile: str, source: Path | str, params: tuple[str, ...] = (),
                config: SourceConfig | None = None) -> str:
    """The rendered warnings of ``code`` that a run (writing nothing) collected."""
    result = run(profile, source, None, params, config=config)
    assert result.inputs is not None
    return render_all(w for w in result.inputs.tables.warnings if w.code == code)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def with_manifest(*changes: tuple[str, str]) -> dict[str, str]:
    files = tiny_files()
    for old, new in changes:
        files["manifest.csv"] = files["manifest.csv"].replace(old, new)
    return files


CASE: dict[str, Callable[[Ctx], str]] = {}


def case(name: str) -> Callable[[Callable[[Ctx], str]], Callable[[Ctx], str]]:
    """Register a case: ``name`` is the code, with a suffix for a second wording."""

    def register(provoke: Callable[[Ctx], str]) -> Callable[[Ctx], str]:
        CASE[name] = provoke
        return provoke

    return register


# --- RM4xx: source data (CSV packages) ----------------------------------------------------


@case("RM414")
def _bad_header(ctx: Ctx) -> str:
    files = tiny_files()
    header, rows = files["users.csv"].split("\n", 1)
    header = header.replace(",middleName,", ",,").replace(",password", ",givenName")
    files["users.csv"] = f"{header}\n{rows}"
    return warnings_of("RM414", PROBE, ctx.package(files))


@case("RM417")
def _delta_read_as_snapshot(ctx: Ctx) -> str:
    files = with_manifest(("file.users,bulk", "file.users,delta"))
    return warnings_of("RM417", PROBE, ctx.package(files))


@case("RM418")
def _table_parameter_file_missing(ctx: Ctx) -> str:
    missing = ctx.tmp / "existing-users.csv"
    _, err = cli("run", "linewize", "--source", str(EXAMPLE), "--out", ctx.out, "--no-state",
                 "--param", f"existing={missing}", exit=1)
    return err


@case("RM418-unreadable")
def _table_parameter_file_unreadable(ctx: Ctx) -> str:
    # A file that exists and cannot be read, whoever runs the test (root included).
    _, err = cli("run", "linewize", "--source", str(EXAMPLE), "--out", ctx.out, "--no-state",
                 "--param", "existing=/proc/self/mem", exit=1)
    return err


@case("RM419")
def _delta_refused_by_a_bulk_profile(ctx: Ctx) -> str:
    files = with_manifest(("file.users,bulk", "file.users,delta"))
    _, err = cli("run", "lingco", "--source", str(ctx.package(files)), "--out", ctx.out,
                 "--no-state", exit=1)
    return err


@case("RM419-first-run")
def _delta_without_an_earlier_run(ctx: Ctx) -> str:
    files = with_manifest(("file.users,bulk", "file.users,delta"))
    _, err = cli("run", PROBE, "--source", str(ctx.package(files)), "--out", ctx.out,
                 "--state", str(ctx.tmp / "state.sqlite"), exit=1)
    return err


@case("RM421")
def _repeated_key(ctx: Ctx) -> str:
    # RM421 is not a Diagnostic but a count of an output's rows: the user sees it only
    # as a line of the run's summary (and in report.json).
    out, _ = cli("run", PROBE, "--source", str(ctx.package()), "--out", ctx.out,
                 "--no-state", exit=0)
    return out


@case("RM430")
def _transform_failed(ctx: Ctx) -> str:
    """RM430 is the net for a plan that fails on the data; no mapping the compiler
    accepts is known to (RM318 asks polars about patterns, formats and fills first).
    So the plan is written by hand, as the compiler writes them, with a column that
    fails on every record: text cast strictly to a number."""
    import polars as pl

    from rostermap.runtime.engine.execute import run_outputs
    from rostermap.runtime.engine.plans import Column, Output, col
    from rostermap.runtime.engine.tables import load_tables
    from rostermap.runtime.errors import RunError
    from rostermap.runtime.sources.csv_package import open_package

    plan = Output("users.csv", "users", line=5, columns=(
        Column("id", 6, col("sourcedId")),
        Column("number", 7, col("givenName").cast(pl.Int64, strict=True)),
    ))

    class Module:
        OUTPUTS = (lambda p: plan,)

    package = open_package(ctx.package())
    try:
        tables = load_tables(package, {"users": ("sourcedId", "givenName")})
    finally:
        package.close()
    with pytest.raises(RunError) as raised:
        run_outputs(Module, tables, {})  # type: ignore[arg-type]
    return render_all(raised.value.diagnostics)


@case("RM431")
def _too_many_rejects(ctx: Ctx) -> str:
    _, err = cli("run", REJECTING, "--source", str(ctx.package()), "--out", ctx.out,
                 "--no-state", "--max-rejects", "1", exit=1)
    return err


@case("RM490")
def _parameter_names_no_record(ctx: Ctx) -> str:
    # sch-1 is a sourcedId, 295185064190 an NCES id (identifier): only sch-99 names nothing
    return warnings_of("RM490", "linewize", EXAMPLE,
                       ("exclude_schools=sch-1,sch-99,295185064190",))


# --- RM440-RM456: a OneRoster REST API -----------------------------------------------------


def rest_run(ctx: Ctx, server: Server, *, source: str | None = None,
             env: dict[str, str] | None = None, page_size: int = 100) -> str:
    """A stateless run of the probe through the command line, which fails; its stderr."""
    _, err = cli("run", PROBE, "--source", source or server.base_url, "--out", ctx.out,
                 "--no-state", "--config", str(ctx.config(page_size=page_size)), exit=1,
                 env={"ROSTERMAP_TOKEN_URL": server.token_url, **(env or {})})
    return err


@case("RM440")
def _source_unreachable(ctx: Ctx) -> str:
    source = f"http://127.0.0.1:{free_port()}/ims/oneroster/v1p1"  # nothing listens there
    _, err = cli("run", PROBE, "--source", source, "--out", ctx.out, "--no-state",
                 "--config", str(ctx.config()), exit=1, env={"ROSTERMAP_AUTH": "none"})
    return err


@case("RM441")
def _credentials_refused(ctx: Ctx) -> str:
    return rest_run(ctx, ctx.serve(), env={"ROSTERMAP_CLIENT_SECRET": WRONG_SECRET})


@case("RM442")
def _request_keeps_failing(ctx: Ctx) -> str:
    return rest_run(ctx, ctx.serve(faults=("503,entity=users,times=0",)))


@case("RM443")
def _malformed_response(ctx: Ctx) -> str:
    return rest_run(ctx, ctx.serve(faults=("bad-json,entity=users,times=0",)))


@case("RM444")
def _insecure_url(ctx: Ctx) -> str:
    _, err = cli("run", PROBE, "--source", "http://sis.example.org/ims/oneroster/v1p1",
                 "--out", ctx.out, "--no-state", exit=2)
    return err


@case("RM445")
def _missing_credentials(ctx: Ctx) -> str:
    ctx.request.getfixturevalue("rest_env")  # a client id; no token URL, no other settings
    _, err = cli("run", PROBE, "--source", "https://sis.example.org/ims/oneroster/v1p1",
                 "--out", ctx.out, "--no-state", exit=2,
                 env={"ROSTERMAP_CLIENT_SECRET": ""})
    return err


@case("RM446")
def _record_rejected(ctx: Ctx) -> str:
    server = ctx.serve(version="1.2")
    users = server.data["users"]
    users.records[0]["enabledUser"] = "yes"  # not "true" or "false": 1 of 3 rejected
    users.encoded[0] = json.dumps(users.records[0]).encode()
    return warnings_of("RM446", PROBE, server.base_url,
                       config=rest_config(server, filter=False))


@case("RM447")
def _endpoint_not_found(ctx: Ctx) -> str:
    server = ctx.serve()
    return rest_run(ctx, server, source=server.root + "/ims/oneroster/v1p1/nothing-here")


@case("RM448")
def _incomplete_fetch(ctx: Ctx) -> str:
    # pages of 2 of the tiny package's 3 users: offset 2 serves offset 0's records again
    server = ctx.serve(faults=("ignore-offset,entity=users",))
    return rest_run(ctx, server, page_size=2)


@case("RM449")
def _filter_refused(ctx: Ctx) -> str:
    server = ctx.serve(faults=("reject-filter,entity=users",))
    return warnings_of("RM449", PROBE, server.base_url, config=rest_config(server))


@case("RM450")
def _page_size_capped(ctx: Ctx) -> str:
    server = ctx.serve(faults=("cap-page=2",))
    return warnings_of("RM450", PROBE, server.base_url, config=rest_config(server))


@case("RM451")
def _bad_setting(ctx: Ctx) -> str:
    _, err = cli("run", PROBE, "--source", "https://sis.example.org/ims/oneroster/v1p1",
                 "--out", ctx.out, "--no-state", "--config",
                 str(ctx.config(extra="page_sise = 10\n")), exit=2)
    return err


@case("RM452")
def _cannot_serve(ctx: Ctx) -> str:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        _, err = cli("serve", str(ctx.package()), "--port", str(port), "--auth", "none",
                     exit=2)
    return err


@case("RM453")
def _records_of_the_other_version(ctx: Ctx) -> str:
    server = ctx.serve(version="1.2", quirks=("int-booleans", "v11-paths"))
    assert server.base_url.endswith("/v1p1")
    return warnings_of("RM453", PROBE, server.base_url,
                       config=rest_config(server, compat=True))


@case("RM454")
def _most_records_rejected(ctx: Ctx) -> str:
    # a minimal provider that leaves out required fields: every record breaks the schema
    return rest_run(ctx, ctx.serve(version="1.2", quirks=("missing-required",)))


@case("RM455")
def _config_file_open_to_others(ctx: Ctx) -> str:
    config = ctx.tmp / "secret.toml"
    config.write_text('[source]\nclient_id = "a"\nclient_secret = "rm-file-secret-2b9e"\n',
                      encoding="utf-8")
    config.chmod(0o644)
    _, err = cli("run", PROBE, "--source", "https://sis.example.org/ims/oneroster/v1p1",
                 "--out", ctx.out, "--no-state", "--config", str(config), exit=2)
    assert "rm-file-secret-2b9e" not in err
    return err


@case("RM456")
def _redirect_not_followed(ctx: Ctx) -> str:
    return rest_run(ctx, ctx.serve(faults=("redirect,entity=users",)))


@case("RM426")
def _two_files_for_one_name(ctx: Ctx) -> str:
    files = tiny_files()
    files["Users.csv"] = files["users.csv"]
    _, err = cli("run", PROBE, "--source", str(ctx.package(files)), "--out", ctx.out,
                 "--no-state", exit=1)
    return err


@case("RM427")
def _entity_without_records(ctx: Ctx) -> str:
    files = tiny_files()
    files["users.csv"] = files["users.csv"].split("\n", 1)[0] + "\n"  # the header alone
    source = str(ctx.package(files))
    _, err = cli("run", PROBE, "--source", source, "--out", ctx.out, "--no-state", exit=1)
    assert not Path(ctx.out).exists()
    cli("run", PROBE, "--source", source, "--out", ctx.out, "--no-state", "--allow-empty",
        exit=0)
    return err


@case("RM427-emptied")
def _output_left_empty(ctx: Ctx) -> str:
    files = tiny_files()
    files["users.csv"] = files["users.csv"].replace(",,,true,", ",tobedeleted,,true,")
    _, err = cli("run", PROBE, "--source", str(ctx.package(files)), "--out", ctx.out,
                 "--no-state", exit=1)
    return err


# --- RM46x: run state ------------------------------------------------------------------------


@case("RM460")
def _state_locked(ctx: Ctx) -> str:
    state = ctx.tmp / "state.sqlite"
    with lock(state):  # another run holds it
        _, err = cli("run", PROBE, "--source", str(ctx.package()), "--out", ctx.out,
                     "--state", str(state), exit=5)
    return err


@case("RM461")
def _state_unreadable(ctx: Ctx) -> str:
    state = ctx.tmp / "state.sqlite"
    state.write_bytes(b"not a database" * 100)
    _, err = cli("run", PROBE, "--source", str(ctx.package()), "--out", ctx.out,
                 "--state", str(state), exit=1)
    return err


@case("RM462")
def _no_runs_yet(ctx: Ctx) -> str:
    _, err = cli("runs", PROBE, "--state", str(ctx.tmp / "none.sqlite"), exit=2)
    return err


@case("RM462-not-held")
def _approve_a_run_that_is_not_held(ctx: Ctx) -> str:
    state = str(ctx.tmp / "state.sqlite")
    cli("run", PROBE, "--source", str(ctx.package()), "--out", ctx.out, "--state", state,
        exit=0)
    _, err = cli("approve", PROBE, "1", "--state", state, exit=2)
    return err


@case("RM463")
def _output_folder_not_writable(ctx: Ctx) -> str:
    out = ctx.tmp / "out"
    out.write_text("a file, not a folder\n", encoding="utf-8")
    _, err = cli("run", PROBE, "--source", str(ctx.package()), "--out", str(out),
                 "--state", str(ctx.tmp / "state.sqlite"), exit=1)
    return err


@case("RM461-empty")
def _state_file_of_0_bytes(ctx: Ctx) -> str:
    state = ctx.tmp / "state.sqlite"
    state.touch()  # a restored backup cut short, a disk that lost the file's blocks
    _, err = cli("run", PROBE, "--source", str(ctx.package()), "--out", ctx.out,
                 "--state", str(state), exit=1)
    assert state.stat().st_size == 0 and not Path(ctx.out).exists()
    return err


@case("RM461-gone")
def _state_of_a_published_folder_is_gone(ctx: Ctx) -> str:
    state = ctx.tmp / "state.sqlite"
    args = ("run", PROBE, "--source", str(ctx.package()), "--out", ctx.out, "--state",
            str(state))
    cli(*args, exit=0)
    for path in ctx.tmp.glob("state.sqlite*"):
        path.unlink()
    _, err = cli(*args, exit=1)
    cli(*args, "--new-state", exit=0)  # said on purpose: a first run again
    return err


@case("RM463-unpublished")
def _committed_but_not_published(ctx: Ctx) -> str:
    state = ctx.tmp / "state.sqlite"
    (Path(ctx.out) / "users.csv").mkdir(parents=True)  # a folder where a file must go
    (Path(ctx.out) / "users.csv" / "keep").write_text("x")
    args = ("run", PROBE, "--source", str(ctx.package()), "--out", ctx.out, "--state",
            str(state))
    _, err = cli(*args, exit=6)
    shutil.rmtree(Path(ctx.out) / "users.csv")
    out, _ = cli(*args, exit=0)  # publishes run 1 first, keeping its changes apart
    assert "finished publishing run 1 first" in out
    assert (Path(ctx.out) / "changes" / "run-1" / "users.csv").exists()
    cli(*args, exit=0)  # the next publication replaces the changes/ kept apart
    assert not (Path(ctx.out) / "changes" / "run-1").exists()
    assert (Path(ctx.out) / "changes" / "users.csv").exists()
    return err


@case("RM464")
def _output_folder_of_another_state(ctx: Ctx) -> str:
    source = str(ctx.package())
    north, south = (str(ctx.tmp / f"{name}.sqlite") for name in ("north", "south"))
    cli("run", PROBE, "--source", source, "--out", ctx.out, "--state", north, exit=0)
    _, err = cli("run", PROBE, "--source", source, "--out", ctx.out, "--state", south, exit=2)
    return err


@case("RM464-no-state")
def _output_folder_of_a_state_and_a_run_without(ctx: Ctx) -> str:
    source = str(ctx.package())
    cli("run", PROBE, "--source", source, "--out", ctx.out, "--state",
        str(ctx.tmp / "north.sqlite"), exit=0)
    _, err = cli("run", PROBE, "--source", source, "--out", ctx.out, "--no-state", exit=2)
    return err


@case("RM465")
def _state_file_read_only(ctx: Ctx) -> str:
    state = ctx.tmp / "state.sqlite"
    args = ("run", PROBE, "--source", str(ctx.package()), "--out", ctx.out, "--state",
            str(state))
    cli(*args, exit=0)
    published = (Path(ctx.out) / "users.csv").read_bytes()
    with read_only(state):
        _, err = cli(*args, exit=1)
    assert (Path(ctx.out) / "users.csv").read_bytes() == published
    return err


# --- RM5xx: run usage ----------------------------------------------------------------------


@case("RM508")
def _out_inside_the_source(ctx: Ctx) -> str:
    source = ctx.package()
    _, err = cli("run", PROBE, "--source", str(source), "--out", str(source / "out"),
                 "--no-state", exit=2)
    assert not (source / "out").exists()
    return err



@case("RM503-list")
def _list_parameter_item_not_a_choice(ctx: Ctx) -> str:
    _, err = cli("run", "canvas", "--source", str(ctx.package()), "--out", ctx.out,
                 "--no-state", "--param", "term_types=term,semster", exit=2)
    assert not Path(ctx.out).exists()
    return err


@case("RM503-choice")
def _parameter_not_a_choice(ctx: Ctx) -> str:
    profile = ctx.tmp / "choice.rmap"
    profile.write_text('profile choice\nparam mode: "email" | "none" = "none"\n'
                       "output users.csv from users\n  id <- sourcedId\n", encoding="utf-8")
    _, err = cli("run", str(profile), "--source", str(ctx.package()), "--out", ctx.out,
                 "--no-state", "--param", "mode=emial", exit=2)
    return err


@case("RM502")
def _missing_parameter(ctx: Ctx) -> str:
    _, err = cli("run", "powerschool-learning", "--source", str(ctx.package()), "--out",
                 ctx.out, "--no-state", exit=2)
    return err


@case("RM504")
def _unknown_profile(ctx: Ctx) -> str:
    _, err = cli("run", "powerschool-lerning", "--source", str(ctx.package()), "--out",
                 ctx.out, "--no-state", exit=2)
    return err


@case("RM505")
def _record_not_found(ctx: Ctx) -> str:
    _, err = cli("explain", PROBE, "--source", str(ctx.package()), "--record",
                 "users/nobody", exit=2)
    return err


@case("RM505-syntax")
def _record_not_entity_slash_id(ctx: Ctx) -> str:
    _, err = cli("explain", PROBE, "--source", str(ctx.package()), "--record", "user/t1",
                 exit=2)
    return err


@case("RM507")
def _bad_tenants_file(ctx: Ctx) -> str:
    tenants = ctx.tmp / "tenants.toml"
    tenants.write_text('[[tenant]]\nname = "north"\nprofile = "probe"\nsource = "pkg"\n',
                       encoding="utf-8")
    _, err = cli("run-many", str(tenants), exit=2)
    return err


# --- RM47x: output contracts ------------------------------------------------------------------

# The tiny package's users: t1 (teacher), u1 and u2 (students), each with a username.
CONTRACTS = {
    "RM470": ('expect kind in ("student", "teacher", "ta")',
              'kind <- if role = "teacher" then "instructor" else role'),
    "RM471": ("expect note is not empty",
              'note <- if role = "student" then "" else "staff"'),
    "RM472": ("expect role unique", "role <- role"),
    "RM473": ("expect rows >= 10", "role <- role"),
}


def _contract_case(code: str) -> Callable[[Ctx], str]:
    def provoke(ctx: Ctx) -> str:
        expect, column = CONTRACTS[code]
        profile = ctx.tmp / "contracts.rmap"
        profile.write_text(f"profile contracts\n\noutput users.csv from users\n  {expect}\n\n"
                           f"  id <- sourcedId\n  {column}\n", encoding="utf-8")
        source = str(ctx.package())
        _, err = cli("run", str(profile), "--source", source, "--out", ctx.out, "--no-state",
                     exit=1)
        assert not Path(ctx.out).exists()  # nothing written
        return err

    return provoke


for _code in CONTRACTS:
    case(_code)(_contract_case(_code))


# --- the tests -------------------------------------------------------------------------------


def normalise(text: str, tmp: Path) -> str:
    """What varies between runs and machines, replaced by placeholders."""
    text = text.replace(str(tmp), "<tmp>").replace(str(ROOT), "<root>")
    text = re.sub(r"(127\.0\.0\.1|localhost):\d+", r"\1:<port>", text)
    text = re.sub(r" in \d+\.\d+s\b", " in <seconds>", text)
    return re.sub(r"pid \d+ since \S+", "pid <pid> since <time>", text)


# --- RM491-RM493, RM530: rostermap push ----------------------------------------------------


def _gradebook(ctx: Ctx) -> Path:
    out = ctx.tmp / "gradebook"
    if not out.exists():
        generate(out, students=4, seed=7, gradebook=1)
    return out


def _push(ctx: Ctx, target: str, *faults: str) -> str:
    """``rostermap push powerschool-grade-push`` (no auth, no retries) to ``target``; the
    lines it printed about writes that failed or were skipped, in a stable order."""
    env = {"ROSTERMAP_AUTH": "none", "ROSTERMAP_RETRIES": "0",
           "ROSTERMAP_STATE_DIR": str(ctx.tmp / "state")}
    _, err = cli("push", "powerschool-grade-push", "--source", str(_gradebook(ctx)),
                 "--target", target, "--tenant", "maple", exit=3, env=env)
    return "\n".join(sorted(line.strip() for line in err.splitlines() if "[RM49" in line))


@case("RM491")
def _write_failed(ctx: Ctx) -> str:
    with Server(_gradebook(ctx), auth="none") as srv:
        srv.faults.append(Fault.parse("500,entity=assignment,times=0"))
        return next(line for line in _push(ctx, srv.root).split("\n") if "RM491" in line)


@case("RM493")
def _dependency_not_written(ctx: Ctx) -> str:
    with Server(_gradebook(ctx), auth="none") as srv:
        srv.faults.append(Fault.parse("500,entity=assignment,times=0"))
        return next(line for line in _push(ctx, srv.root).split("\n") if "RM493" in line)


class _Forgetful(http.server.BaseHTTPRequestHandler):
    """A target that accepts every write and answers without the created record's id."""

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@case("RM492")
def _capture_missing(ctx: Ctx) -> str:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Forgetful)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        found = _push(ctx, f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
    return next(line for line in found.split("\n") if "RM492" in line)


@case("RM530")
def _not_a_push_profile(ctx: Ctx) -> str:
    _, err = cli("push", "canvas", "--source", str(EXAMPLE), "--target", "http://127.0.0.1:9",
                 "--tenant", "maple", exit=2,
                 env={"ROSTERMAP_AUTH": "none", "ROSTERMAP_STATE_DIR": str(ctx.tmp / "st")})
    return err


@pytest.mark.parametrize("name", sorted(CASE))
def test_runtime_diagnostic(name: str, tmp_path: Path, request: pytest.FixtureRequest,
                            snapshot: SnapshotAssertion) -> None:
    code = name.split("-", 1)[0]
    text = normalise(CASE[name](Ctx(tmp_path, request)), tmp_path)
    severity = CODES[code].severity
    if code == "RM421":
        shown = [f"[{code}]"]  # a summary line, see the case
    elif severity == "error or warning":
        shown = [f"error[{code}]", f"warning[{code}]"]
    else:
        shown = [f"{severity}[{code}]"]
    assert any(s in text for s in shown), text
    for secret in (SECRET, WRONG_SECRET):
        assert secret not in text
    assert text == snapshot


# Codes that cannot be provoked offline, with the reason (none so far).
EXCLUDED: dict[str, str] = {}


def test_every_runtime_code_has_a_golden_rendering() -> None:
    """Every RM4xx and RM5xx code appears in some snapshot (this file's, test_bad_input's,
    the profiles' ...): a new runtime code needs a case that renders it."""
    text = "\n".join(path.read_text(encoding="utf-8", errors="replace")
                     for path in sorted(SNAPSHOTS.rglob("*")) if path.is_file())
    runtime_codes = {code for code in CODES if code[2] in "45"}
    missing = sorted(code for code in runtime_codes - set(EXCLUDED)
                     if not re.search(rf"\b{code}\b", text))
    assert missing == []
    assert set(EXCLUDED) <= runtime_codes  # no stale exclusion
