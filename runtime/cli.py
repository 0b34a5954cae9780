"""The ``rostermap`` command: run, check, compile, generate.

Exit codes: 0 success, 1 mapping or data errors (nothing written), 2 usage errors
(bad options or parameters), 3 a partial run (files written without the records
some column rule could not compute; they are listed in report.json). Diagnostics
go to stderr; the run summary to stdout.
click provides the parsing, ``--help`` and the usage exit code.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import sys
from pathlib import Path

import click

from compiler import compile_mapping
from compiler.naming import mangle
from dsl.diagnostics import DiagnosticError, render_all
from runtime.errors import RunError

__all__ = ["PARTIAL", "main"]

PARTIAL = 3  # the exit code of a run that wrote its files but rejected some records


def _fail(diagnostics: object, source: object = None, code: int = 1) -> None:
    click.echo(render_all(diagnostics, source), err=True)  # type: ignore[arg-type]
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option("0.1.0", prog_name="rostermap")
def main() -> None:
    """Turn OneRoster rosters into learning products' import files.

    A profile is a mapping file (mappings/<name>.rmap) that says, column by column,
    how a product's import files are made from OneRoster records.
    """


@main.command()
@click.argument("profile")
@click.option("--source", required=True, type=click.Path(path_type=Path),
              help="A OneRoster CSV package: a .zip or a folder.")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="The folder to write the import files and report.json into.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A profile parameter; repeat for several. Lists are comma-separated.")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="The run's date (YYYY-MM-DD) for today() and date parameters that default "
              "to it; default: the machine's date. Set it to repeat a run exactly.")
@click.option("--max-rejects", type=click.IntRange(min=0), default=None, metavar="N",
              help="Fail the run (writing nothing) when more than N records are rejected.")
@click.option("--quiet", is_flag=True, help="Print nothing but errors.")
def run(profile: str, source: Path, out_dir: Path, params: tuple[str, ...],
        today: dt.datetime | None, max_rejects: int | None, quiet: bool) -> None:
    """Run PROFILE (a name in mappings/ or a mapping file) over a OneRoster source."""
    from runtime.report import summary
    from runtime.run import run as run_profile

    try:
        result = run_profile(profile, source, out_dir, params,
                             today=today.date() if today else None, max_rejects=max_rejects)
    except DiagnosticError as error:
        _fail(error.diagnostics, error.source)
    except RunError as error:
        _fail(error.diagnostics, code=error.exit_code)
    else:
        if not quiet:
            click.echo(summary(result.report))
            click.echo(f"  wrote {len(result.files)} files to {out_dir}")
        if result.report["outcome"] == "partial":
            sys.exit(PARTIAL)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False,
                                                                   path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              help="json prints one object per diagnostic, for editors and CI.")
@click.option("--effective", is_flag=True,
              help="Print each mapping as it is after `extends` and `import`, every line "
              "marked with the file and line it comes from.")
def check(files: tuple[Path, ...], fmt: str, effective: bool) -> None:
    """Parse and check mapping files; exit 1 if any has an error."""
    from dsl.format import format_mapping
    from runtime.loader import resolver

    failed = False
    records = []
    for path in files:
        compiled = compile_mapping(path.read_text(encoding="utf-8"), str(path), resolver())
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
            click.echo(f"{path}: {verdict}" + (f" ({counts})" if counts else ""))
    if fmt == "json":
        click.echo(json.dumps(records, indent=2))
    sys.exit(1 if failed else 0)


@main.command()
@click.argument("profile")
@click.option("--source", required=True, type=click.Path(path_type=Path),
              help="The OneRoster source, as for `run`.")
@click.option("--record", required=True, metavar="ENTITY/SOURCEDID",
              help="The record to explain, e.g. users/stu-42.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A profile parameter, as for `run`.")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="The run's date, as for `run`.")
@click.option("--show-pii", is_flag=True,
              help="Show the values of personal fields (names, emails...); hidden by default.")
def explain(profile: str, source: Path, record: str, params: tuple[str, ...],
            today: dt.datetime | None, show_pii: bool) -> None:
    """Show what PROFILE does with one record: each rule's verdict, each column's value."""
    from runtime.explain import explain as explain_record
    from runtime.explain import render

    try:
        result = explain_record(profile, source, record, params,
                                today.date() if today else None, show_pii)
    except DiagnosticError as error:
        _fail(error.diagnostics, error.source)
    except RunError as error:
        _fail(error.diagnostics, code=error.exit_code)
    else:
        click.echo(render(result))


@main.command("fmt")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False,
                                                                   path_type=Path))
@click.option("--check", "check_only", is_flag=True,
              help="Change nothing; exit 1 if a file is not in canonical layout (for CI).")
def fmt(files: tuple[Path, ...], check_only: bool) -> None:
    """Rewrite mapping files in the canonical layout, keeping every comment."""
    from dsl.format import format_text

    unformatted = False
    for path in files:
        text = path.read_text(encoding="utf-8")
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


@main.command("compile")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("build"), show_default=True, help="Folder for the Python module.")
def compile_(file: Path, out_dir: Path) -> None:
    """Compile a mapping file to a readable Python module."""
    compiled = compile_mapping(file.read_text(encoding="utf-8"), str(file))
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
def generate(students: int, seed: int, out: Path, as_zip: bool, version: str) -> None:
    """Generate a realistic, untidy OneRoster CSV district for trials and benchmarks."""
    from runtime.generate import generate as make

    try:
        summary = make(out, students=students, seed=seed, version=version, as_zip=as_zip)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    click.echo(f"wrote {summary}")


if __name__ == "__main__":
    main()
