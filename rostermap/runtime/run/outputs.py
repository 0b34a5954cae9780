"""Write output files so that a failed run leaves the previous files as they were.

Every file of a run is first written into a staging folder inside the output
folder (same filesystem, so the final moves are renames), flushed to disk, and only
when all of them are complete are they moved into place. A run that fails before
that point removes its staging folder and touches nothing else.

Moving several files is not one atomic step, so :func:`publish` is written to be
repeated: it moves whatever is still in the staging folder. A stateful run records
the staging folder in its state before it starts moving (the commit point), and a
run killed halfway is finished by the next one (``runtime.sync.state``). Files are
created readable by their owner only: they hold students' personal data.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Literal

import polars as pl

from rostermap.dsl import codes
from rostermap.runtime.errors import RunError, UsageError
from rostermap.runtime.report.model import Report, dumps, to_json

__all__ = [
    "FILE_MODE",
    "OWNER_FILE",
    "STAGING_PREFIX",
    "check_owner",
    "check_paths",
    "discard",
    "finish_publication",
    "owner_text",
    "publish",
    "stage",
    "write_frame",
    "write_outputs",
]

FILE_MODE = 0o600
STAGING_PREFIX = ".rostermap-staging-"
OWNER_FILE = ".rostermap-state"  # in an output folder: the sync state that publishes into it
JOURNAL = ".rostermap-publishing"  # in an output folder: the staging folder being published
# In a staging folder: what its publication replaces in the output folder (see stage()).
REPLACES = ".rostermap-replaces"


_SLICE = 1 << 18  # rows written at a time


def _write_csv(frame: pl.DataFrame, path: Path) -> None:
    # Empty text is written as an empty field (a,,b), never as "": importers differ
    # on whether "" is empty, and no product asks for it. A slice at a time, so that
    # the blanked copy of a large output is never whole in memory.
    with open(path, "wb") as handle:
        for start in range(0, max(frame.height, 1), _SLICE):
            blanks = frame.slice(start, _SLICE).with_columns(pl.col(pl.String).replace("", None))
            blanks.write_csv(handle, include_header=start == 0, line_terminator="\n",
                             quote_style="necessary", null_value="")


def write_frame(frame: pl.DataFrame, target: Path) -> None:
    """One output file, in the format its name says: CSV, JSON Lines or JSON."""
    if target.name.lower().endswith((".jsonl", ".ndjson")):
        frame.write_ndjson(target)
    elif target.name.lower().endswith(".json"):
        target.write_text(json.dumps(frame.to_dicts(), ensure_ascii=False, indent=1,
                                     default=str) + "\n", encoding="utf-8")
    else:
        _write_csv(frame, target)


def _private_dir(path: Path) -> None:
    """A folder (and its missing parents up to an existing one) only its owner can
    open, whatever the umask: what it holds is students' data."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(exist_ok=True)
        os.chmod(folder, 0o700)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def stage(
    out_dir: Path,
    files: Mapping[str, pl.DataFrame],
    documents: Mapping[str, str],
    folder: Path | None = None,
    replaces: tuple[str, ...] = (),
    bundle: str | None = None,
) -> Path:
    """Write every file into a staging folder (``folder``, or a new one inside
    ``out_dir``) and flush it to disk. Names may hold a subfolder (changes/users.csv).

    ``replaces`` are patterns of files in ``out_dir`` (``changes/run-*/*``) that this
    publication replaces: those it does not write itself are removed once its files
    are in place, so that no earlier run's file outlives the publication that ends it.
    ``bundle`` names a zip of the output files (not changes/, not the reports) written
    beside them: what a product that takes one upload is sent.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    if folder is None:
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out_dir))
    else:
        staging = folder
        shutil.rmtree(staging, ignore_errors=True)
        _private_dir(staging)
    try:
        written = []
        for name, frame in files.items():
            target = staging / name
            _private_dir(target.parent)
            write_frame(frame, target)
            written.append(target)
        for name, text in documents.items():
            target = staging / name
            _private_dir(target.parent)
            target.write_text(text, encoding="utf-8")
            written.append(target)
        if bundle is not None:
            target = staging / bundle
            _zip(target, sorted(name for name in files if "/" not in name), staging)
            written.append(target)
        if replaces:
            target = staging / REPLACES
            kept = sorted(name for name in (*files, *documents)
                          if any(fnmatchcase(name, p) for p in replaces))
            target.write_text(json.dumps({"patterns": replaces, "kept": kept}), encoding="utf-8")
            written.append(target)
        for path in written:
            os.chmod(path, FILE_MODE)
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
        for folder_ in {p.parent for p in written}:
            _fsync_dir(folder_)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def _zip(target: Path, names: list[str], folder: Path) -> None:
    """The files ``names`` of ``folder`` in one zip, the same bytes for the same files:
    entries in name order, with a fixed time, so that an unchanged roster gives an
    unchanged upload."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = FILE_MODE << 16
            with open(folder / name, "rb") as source, archive.open(entry, "w") as sink:
                shutil.copyfileobj(source, sink, 1 << 20)


def publish(staging: Path, out_dir: Path) -> list[Path]:
    """Move every file still in ``staging`` to the same place under ``out_dir``, then
    remove ``staging``. Safe to call again after an interruption."""
    moved = []
    if staging.is_dir():
        for path in sorted(p for p in staging.rglob("*") if p.is_file()):
            if path == staging / REPLACES:
                continue
            destination = out_dir / path.relative_to(staging)
            _private_dir(destination.parent)
            os.replace(path, destination)
            moved.append(destination)
        for folder in {d.parent for d in moved}:
            _fsync_dir(folder)
        _remove_replaced(staging, out_dir)
    shutil.rmtree(staging, ignore_errors=True)
    return moved


def _remove_replaced(staging: Path, out_dir: Path) -> None:
    """Remove the files of ``out_dir`` a publication replaces and does not write (see
    stage()), then the folders they leave empty. The list stays in the staging folder
    until the end, so that a publication finished again after a kill removes them too."""
    marker = staging / REPLACES
    if not marker.is_file():
        return
    plan = json.loads(marker.read_text(encoding="utf-8"))
    kept = set(plan["kept"])
    for pattern in plan["patterns"]:
        for path in sorted(out_dir.glob(pattern)):
            if path.is_file() and path.relative_to(out_dir).as_posix() not in kept:
                path.unlink()
                if not any(path.parent.iterdir()):
                    path.parent.rmdir()


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def write_outputs(out_dir: Path, files: Mapping[str, pl.DataFrame], report: Report,
                  bundle: str | None = None) -> list[Path]:
    """Write each output file, ``report.json`` and ``report.html`` into ``out_dir``, all
    or nothing (a run without state has its page too: people read it, not the JSON).

    Moving several files is not one step, so a journal in the folder names the staging
    folder while they move: a run killed then is finished by the next one into the
    folder (:func:`finish_publication`), never left as a mix of two runs.
    """
    from rostermap.runtime.report.html_report import render_html  # jinja2: when writing

    finish_publication(out_dir)
    data = to_json(report)
    reports = {"report.json": dumps(data), "report.html": render_html(data)}
    staging = stage(out_dir, files, reports, bundle=bundle)
    journal = out_dir / JOURNAL
    try:
        _write_synced(journal, staging.name)
    except BaseException:
        discard(staging)
        raise
    publish(staging, out_dir)
    journal.unlink()
    _fsync_dir(out_dir)
    return [out_dir / name for name in (*files, *([bundle] if bundle else []), *reports)]


def finish_publication(out_dir: Path) -> None:
    """Finish a killed run's publication into ``out_dir`` (the journal names its
    staging folder), and remove staging folders no publication needs: a killed run's
    personal data does not stay behind."""
    if not out_dir.is_dir():
        return
    journal = out_dir / JOURNAL
    pending = journal.read_text(encoding="utf-8").strip() if journal.exists() else ""
    if pending.startswith(STAGING_PREFIX) and "/" not in pending:
        publish(out_dir / pending, out_dir)
    journal.unlink(missing_ok=True)
    for folder in out_dir.glob(f"{STAGING_PREFIX}*"):
        discard(folder)


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    _fsync_dir(path.parent)


def check_paths(source: Path | str, out_dir: Path) -> None:
    """Refuse an output folder that is, holds or lies inside the source package:
    writing the outputs would change the files being read, or the next run's input."""
    if "://" in str(source):
        return
    src, out = Path(source).absolute().resolve(), out_dir.absolute().resolve()
    if out == src or out.is_relative_to(src) or src.is_relative_to(out):
        overlap: Literal["same", "inside", "around"] = (
            "same" if out == src else "inside" if out.is_relative_to(src) else "around")
        raise UsageError([codes.out_overlaps_source(out_dir, source, overlap)])


def owner_text(state: Path, profile: str, tenant: str | None) -> str:
    """The output folder's ownership note: which state publishes into it."""
    return json.dumps({"state": str(state.absolute()), "profile": profile,
                       "tenant": tenant}, indent=2) + "\n"


def check_owner(out_dir: Path, state: Path | None, new_state: bool = False) -> None:
    """Refuse an output folder another state publishes into (``state`` None: a run
    without state), or whose own state is gone, unless ``new_state``."""
    mark = out_dir / OWNER_FILE
    try:
        owner = json.loads(mark.read_text(encoding="utf-8")).get("state")
    except (FileNotFoundError, NotADirectoryError):
        return  # no state publishes there yet (or --out is not a folder: said later)
    except (OSError, ValueError, AttributeError) as error:
        raise RunError([codes.owner_file_unreadable(mark, error)]) from None
    if state is None:
        raise UsageError([codes.published_by_a_state(out_dir, mark, owner)])
    if owner != str(state.absolute()):
        raise UsageError([codes.published_by_another_state(out_dir, mark, owner)])
    if not state.exists() and not new_state:
        raise RunError([codes.publishing_state_gone(out_dir, state)])
