"""RM4xx: source data, and the sync state and output folder (RM460-RM465). Fetching
from a REST API (RM440-RM459) is in rm44x_rest.

The call sites are in rostermap.runtime: reading a CSV package (sources.csv_package),
applying a delta package (sources.delta), checking the records read (engine.tables,
engine.validate), the run (run.pipeline, run.outputs) and the sync state (sync.state,
sync.run). A code documented as ERROR_OR_WARNING has each constructor set
``Draft.severity`` from its case.

``file`` is a source file as messages name it (users.csv, or a REST collection's
path); ``origin`` the package (its path, its name or its URL); ``lines`` the first few
lines an issue is on, which the notes list; ``path`` a file on disk as the operating
system names it; ``state`` a sync state's file; ``out_dir`` the run's --out folder.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePath
from typing import Literal, Protocol

from rostermap.dsl.codes._registry import ERROR_OR_WARNING, WARNING, Draft, code
from rostermap.dsl.codes._wording import a, did_you_mean
from rostermap.dsl.diagnostics import DataLocation, Severity

__all__ = [
    "absent_file_present",
    "param_names_nothing",
    "column_absent",
    "column_read_as",
    "column_repeated",
    "dangling_references",
    "delta_read_as_snapshot",
    "delta_refused",
    "delta_version_differs",
    "delta_without_base",
    "delta_without_ids",
    "duplicate_ids",
    "entity_empty",
    "extra_fields",
    "file_absent",
    "file_not_utf8",
    "file_read_as",
    "file_read_as_empty",
    "file_required",
    "file_too_large",
    "file_utf16",
    "files_in_a_folder",
    "files_in_folders",
    "files_unpublished",
    "header_too_long",
    "held_files_gone",
    "invalid_values",
    "link_outside_package",
    "listed_file_missing",
    "malformed_csv",
    "manifest_required",
    "manifest_too_large",
    "mapping_warning",
    "missing_ids",
    "no_csv_files",
    "no_header",
    "no_manifest",
    "no_runs_yet",
    "no_state_named",
    "no_such_run",
    "not_a_file",
    "not_a_state",
    "not_a_zip",
    "nul_byte",
    "nul_in_value",
    "out_not_writable",
    "output_emptied",
    "owner_file_unreadable",
    "param_column_absent",
    "param_file_empty",
    "param_file_missing",
    "param_file_unreadable",
    "published_by_a_state",
    "published_by_another_state",
    "publishing_state_gone",
    "records_dropped",
    "records_swallowed",
    "repeated_key",
    "roles_absent",
    "run_based_on_older",
    "run_not_held",
    "runs_out_of_order",
    "source_not_found",
    "state_damaged",
    "state_data_damaged",
    "state_locked",
    "state_not_writable",
    "state_of_another",
    "state_schema_differs",
    "stored_records_damaged",
    "too_many_fetched",
    "too_many_records",
    "too_many_rejects",
    "transform_failed",
    "two_files_for_one_name",
    "unknown_header_columns",
    "unnamed_column",
    "unreadable_csv",
    "unsupported_version",
    "value_too_long",
    "zip_bomb",
    "zip_entry_damaged",
    "zip_entry_encrypted",
    "zip_entry_method",
    "zip_entry_outside",
    "zip_entry_too_large",
    "zip_entry_unexpandable",
    "zip_entry_unnamed",
    "zip_ratio_too_high",
]

# How a row or value that csv cannot read is broken, as the reader recognises
# csv.Error's text (which speaks of its own API and changes between Python versions,
# so it is never shown): a line ended by a lone CR, a quoted value never closed, text
# after a closing quote, a value past csv's field size limit, or something else.
CsvProblem = Literal["lone CR", "unclosed quote", "text after quote", "past field limit",
                     "unreadable"]


class RuleDrops(Protocol):
    """A rule of an output and the records it dropped (the engine's RuleCount)."""

    @property
    def line(self) -> int: ...
    @property
    def text(self) -> str: ...
    @property
    def dropped(self) -> int: ...


def _lines(lines: Sequence[int], more: bool = False) -> str:
    """The note that lists the lines an issue is on."""
    return f"note: lines {', '.join(map(str, lines))}{' and more' if more else ''}"


def _named(origin: str) -> str:
    """A package as a message names it: its file name, without the folders."""
    return PurePath(origin).name


_SOURCE_NOT_FOUND = code("RM401", "source not found",
                         "--source names a .zip or a folder of OneRoster CSV files: it does "
                         "not exist, is not a readable zip, or holds no CSV file.")


@_SOURCE_NOT_FOUND
def source_not_found(path: Path) -> Draft:
    return Draft(f"source `{path}` does not exist",
                 notes=("help: --source names a .zip or a folder of OneRoster CSV files",))


@_SOURCE_NOT_FOUND
def not_a_zip(path: Path, error: str) -> Draft:
    """``error`` is zipfile's (File is not a zip file)."""
    return Draft(f"{path.name} is not a readable zip: {error}", location=DataLocation(str(path)))


@_SOURCE_NOT_FOUND
def no_csv_files(path: Path) -> Draft:
    return Draft(f"`{path}` holds no CSV files", location=DataLocation(str(path)))


@code("RM402", "no manifest",
      "The package has no manifest.csv; it is read as OneRoster 1.0.", WARNING)
def no_manifest(origin: str) -> Draft:
    return Draft("the package has no manifest.csv; it is read as OneRoster 1.0",
                 location=DataLocation(origin))


_MANIFEST_DIFFERS = code("RM403", "file missing",
                         "manifest.csv lists a file as bulk or delta that the package does "
                         "not hold, or marks absent a file that it holds (which is read).",
                         WARNING)


@_MANIFEST_DIFFERS
def listed_file_missing(file: str, mode: str, manifest: str) -> Draft:
    """manifest.csv (``manifest``, as the package spells it) marks ``file`` ``mode``
    (bulk, delta)."""
    return Draft(f"manifest.csv lists {file} as {mode}, but the package has no such file",
                 location=DataLocation(manifest))


@_MANIFEST_DIFFERS
def absent_file_present(file: str, manifest: str) -> Draft:
    return Draft(f"manifest.csv marks {file} absent, but the package has it; it is read",
                 location=DataLocation(manifest))

_FILE_ABSENT = code("RM404", "file needed by the mapping is absent",
                    "The mapping reads an entity whose file the package does not provide, or "
                    "the profile's `require` names a file (or manifest.csv) that it lacks: an "
                    "error; a warning (read as empty) when `require` names the files the "
                    "profile needs and not this one.", ERROR_OR_WARNING)


@_FILE_ABSENT
def file_absent(entity: str, file: str, origin: str) -> Draft:
    return Draft(f"the mapping reads {entity}, but the package has no {file}",
                 location=DataLocation(origin),
                 notes=(f"help: add {file} to the package and to manifest.csv",),
                 severity=Severity.ERROR)


@_FILE_ABSENT
def file_read_as_empty(file: str, origin: str) -> Draft:
    """The profile's ``require`` leaves this file out: the package may lack it."""
    return Draft(f"the package has no {file}; the profile reads it as empty",
                 location=DataLocation(origin), severity=Severity.WARNING)


@_FILE_ABSENT
def roles_absent(fields: Sequence[str], origin: str) -> Draft:
    """A 1.2 package's users read ``fields`` (role, orgs) from roles.csv."""
    return Draft(f"a OneRoster 1.2 package gives users' {' and '.join(fields)} in roles.csv, "
                 "which this package lacks", location=DataLocation(origin),
                 notes=("help: add roles.csv, as the 1.2 CSV binding requires",),
                 severity=Severity.ERROR)


@_FILE_ABSENT
def manifest_required(origin: str) -> Draft:
    return Draft("the profile requires manifest.csv, which the package lacks",
                 location=DataLocation(origin),
                 notes=("help: a OneRoster 1.1 or 1.2 package starts with manifest.csv",),
                 severity=Severity.ERROR)


@_FILE_ABSENT
def file_required(file: str, origin: str) -> Draft:
    return Draft(f"the profile requires {file}, which the package lacks",
                 location=DataLocation(origin), severity=Severity.ERROR)


_COLUMN_MISSING = code("RM405", "required column missing",
                       "A file lacks a column the mapping reads. Most are warnings (the field "
                       "is empty for every record); a missing sourcedId, also in a delta file, "
                       "and a table parameter's declared columns are errors.",
                       ERROR_OR_WARNING)


@_COLUMN_MISSING
def column_absent(file: str, column: str, entity: str, field: str) -> Draft:
    """``column`` is the field's name in the file's header."""
    return Draft(f"{file} has no column {column}; {field} is empty for every record",
                 location=DataLocation(file, 1, column),
                 notes=(f"note: the mapping reads {entity}.{field}",),
                 severity=Severity.ERROR if field == "sourcedId" else Severity.WARNING)


@_COLUMN_MISSING
def delta_without_ids(file: str) -> Draft:
    """A delta file's records replace stored ones by sourcedId: without it, none can."""
    return Draft(f"{file} is a delta but has no sourcedId column",
                 location=DataLocation(file, 1, "sourcedId"), severity=Severity.ERROR)


@_COLUMN_MISSING
def param_column_absent(name: str, file: str, missing: Sequence[str],
                        columns: Sequence[str]) -> Draft:
    """Table parameter ``name`` declares ``columns``; its file lacks ``missing``."""
    return Draft(f"parameter {name}: {file} has no column {', '.join(missing)}",
                 location=DataLocation(file, 1, missing[0]),
                 notes=(f"note: the profile reads the columns {', '.join(columns)}",),
                 severity=Severity.ERROR)


_UNKNOWN_COLUMN = code("RM406", "unknown column",
                       "The header names a column OneRoster does not define (it is ignored), "
                       "or a column or a file whose name differs from OneRoster's only in case "
                       "(it is read as OneRoster's).", WARNING)

_EXTENSION_HELP = "help: extension columns are named metadata.<name>"


def _short(name: str, limit: int = 60) -> str:
    """A column name as a message shows it: a name of thousands of characters is a
    broken header, and the message stays readable."""
    return name if len(name) <= limit else f"{name[:limit]}… ({len(name):,} characters)"


@_UNKNOWN_COLUMN
def unknown_header_columns(file: str, unknown: Sequence[str], hints: Mapping[str, str]
                           ) -> Draft:
    """``unknown`` are the columns OneRoster does not define, in the header's order;
    ``hints`` gives those with a close spelling of a column it does define."""
    shown = ", ".join(f"`{_short(c)}`" for c in unknown[:20])
    more = f" and {len(unknown) - 20} more" if len(unknown) > 20 else ""
    what = (f"unknown column {shown} is ignored" if len(unknown) == 1 else
            f"{len(unknown)} unknown columns are ignored: {shown}{more}")
    helps: tuple[str, ...]
    if len(unknown) == 1:
        helps = did_you_mean(hints.get(unknown[0])) or (_EXTENSION_HELP,)
    else:
        helps = (*(f"help: `{c}`: did you mean `{h}`?" for c, h in list(hints.items())[:5]),
                 _EXTENSION_HELP)
    return Draft(f"{file}: {what}", location=DataLocation(file, 1, unknown[0]), notes=helps)


@_UNKNOWN_COLUMN
def column_read_as(file: str, column: str, read_as: str) -> Draft:
    """``column`` is OneRoster's ``read_as`` spelt with other case."""
    return Draft(f"{file}: column `{column}` read as `{read_as}`",
                 location=DataLocation(file, 1, column),
                 notes=("note: OneRoster column names are case-sensitive",))


@_UNKNOWN_COLUMN
def file_read_as(file: str, read_as: str) -> Draft:
    """``file`` is OneRoster's ``read_as`` (users.csv) spelt with other case."""
    return Draft(f"file `{file}` read as `{read_as}`", location=DataLocation(file),
                 notes=("note: file names are case-sensitive",))


_INVALID_VALUE = code("RM407", "invalid value",
                      "A value does not have its field's type (boolean, date, ...), or a "
                      "record has no sourcedId.")

# What a value of each checked kind of field looks like, as "are not ..." says it.
_EXPECTED = {
    "bool": "true or false",
    "int": "a whole number",
    "float": "a number",
    "date": "a date written YYYY-MM-DD",
    "datetime": "a date-time such as 2026-01-31T18:25:43.511Z",
}


@_INVALID_VALUE
def invalid_values(file: str, column: str, kind: str, count: int, lines: Sequence[int],
                   first: object, hidden: bool) -> Draft:
    """``count`` values of a field of ``kind`` (bool, int, float, date, datetime) do not
    parse; ``first`` is the first of them, quoted unless ``hidden`` (personal records,
    sensitive fields)."""
    shown = "the first" if hidden else f"the first, {first!r},"
    return Draft(f"{file}: {count} value(s) of {column} are not {_EXPECTED[kind]}; {shown} is "
                 f"at line {lines[0]}", location=DataLocation(file, lines[0], column),
                 notes=(_lines(lines, count > len(lines)),))


@_INVALID_VALUE
def missing_ids(file: str, count: int, line: int) -> Draft:
    return Draft(f"{file}: {count} record(s) have no sourcedId, first at line {line}",
                 location=DataLocation(file, line, "sourcedId"))


_MALFORMED_CSV = code("RM408", "malformed CSV",
                      "A row cannot be read as RFC 4180 CSV (a quote never closed, or one "
                      "whose value swallows whole records), or a value holds a NUL byte.")

_QUOTE_HELP = 'help: a value containing `"` must be quoted, with the quote doubled'


@_MALFORMED_CSV
def malformed_csv(file: str, line: int, problem: CsvProblem, field_limit: int) -> Draft:
    """The row that starts at ``line`` is broken; ``field_limit`` is the longest value
    the csv module reads (past it, a quote is probably never closed)."""
    said, help_ = {
        "lone CR": ("lines end with a lone carriage return (CR)",
                    "help: save the file with LF or CRLF line endings"),
        "unclosed quote": ("a quoted value starts on this line and is never closed",
                           _QUOTE_HELP),
        "text after quote": ("text follows the closing quote of a value", _QUOTE_HELP),
        # A quote that is never closed runs on to the end of the file: a long file
        # passes the limit before its end is reached.
        "past field limit": (f"a value runs on past {field_limit:,} characters, so a quote "
                             "in it is probably never closed", _QUOTE_HELP),
        "unreadable": ("its quotes or line endings cannot be read", _QUOTE_HELP),
    }[problem]
    return Draft(f"{file} is not valid CSV at line {line}: {said}",
                 location=DataLocation(file, line), notes=(help_,))


@_MALFORMED_CSV
def records_swallowed(file: str, start: int, end: int) -> Draft:
    """A quoted value from line ``start`` to ``end`` holds lines that are whole records."""
    return Draft(f"{file}: a value spans lines {start} to {end} and holds whole records: a "
                 f"quote opened at line {start} runs on to line {end}",
                 location=DataLocation(file, start),
                 notes=("note: the records between would be read as one value, and lost",
                        _QUOTE_HELP))


@_MALFORMED_CSV
def nul_byte(file: str, line: int) -> Draft:
    return Draft(f"{file} contains a NUL byte at line {line}", location=DataLocation(file, line))


@_MALFORMED_CSV
def nul_in_value(file: str, line: int, column: str) -> Draft:
    return Draft(f"{file} contains a NUL byte at line {line}, in {column}",
                 location=DataLocation(file, line, column),
                 notes=("help: a NUL byte is not text; the export is damaged or not a CSV file",))


@_MALFORMED_CSV
def unreadable_csv(file: str, reason: str) -> Draft:
    """polars refused the file and the csv module finds nothing wrong: ``reason`` is
    polars', of which the first line is shown."""
    return Draft(f"{file} could not be read: {reason.splitlines()[0]}",
                 location=DataLocation(file))


_NOT_UTF8 = code("RM409", "not UTF-8",
                 "OneRoster CSV files are UTF-8; a file is in another encoding (Latin-1, "
                 "Windows-1252, UTF-16).")


@_NOT_UTF8
def file_not_utf8(file: str, byte: int, line: int) -> Draft:
    """``byte`` is the first that does not decode, on ``line``."""
    return Draft(f"{file} is not UTF-8 (byte 0x{byte:02x} at line {line})",
                 location=DataLocation(file, line),
                 notes=("help: export the file as UTF-8; Latin-1 and Windows-1252 exports "
                        "must be converted",))


@_NOT_UTF8
def file_utf16(file: str) -> Draft:
    return Draft(f"{file} is UTF-16, not UTF-8", location=DataLocation(file, 1),
                 notes=("help: save the file as UTF-8 (with or without BOM)",))


@code("RM410", "duplicate sourcedId",
      "Two records of one file share a sourcedId.")
def duplicate_ids(file: str, count: int, first: str, lines: Sequence[int]) -> Draft:
    """``count`` records share a sourcedId with another; ``first`` is the first such id."""
    return Draft(f"{file}: {count} records share a sourcedId with another record, first "
                 f"{first!r} at line {lines[0]}",
                 location=DataLocation(file, lines[0], "sourcedId"),
                 notes=(_lines(lines), "help: every record of a file needs its own sourcedId"))


@code("RM411", "dangling reference",
      "A record refers to a record the package does not hold.", WARNING)
def dangling_references(file: str, column: str, count: int, record: str, target: str,
                        target_file: str, lines: Sequence[int]) -> Draft:
    """``count`` records (a ``record`` is one: user) of ``file`` name in ``column`` a
    ``target`` (org) that ``target_file`` does not hold. Both are the source's files,
    and the message says so: ``users.csv`` alone reads like an output of the same name."""
    return Draft(f"{file}: {count} {record} record(s) name {a(target)} that the source's "
                 f"{target_file} does not hold, first at line {lines[0]}",
                 location=DataLocation(file, lines[0], column),
                 notes=(_lines(lines),))


_EMPTY_FILE = code("RM412", "empty file",
                   "A CSV file, or a table parameter's file, without a header row.")


@_EMPTY_FILE
def no_header(file: str) -> Draft:
    return Draft(f"{file} has no header row", location=DataLocation(file, 1),
                 notes=("help: a OneRoster file starts with its column names; leave a file "
                        "out and mark it absent in manifest.csv rather than sending it empty",))


@_EMPTY_FILE
def param_file_empty(name: str, file: str) -> Draft:
    """Table parameter ``name``'s file holds nothing, not even a header."""
    return Draft(f"parameter {name}: {file} is empty", location=DataLocation(file, 1))


@code("RM413", "unsupported OneRoster version",
      "manifest.csv names a version other than 1.0, 1.1 or 1.2.")
def unsupported_version(version: str, manifest: str) -> Draft:
    """``version`` is manifest.csv's oneroster.version, blank if it gives none."""
    return Draft(f"manifest.csv names OneRoster version `{version or '(blank)'}`",
                 location=DataLocation(manifest, None, "oneroster.version"),
                 notes=("help: rostermap reads OneRoster 1.0, 1.1 and 1.2 packages",))


_BAD_HEADER = code("RM414", "bad header",
                   "The header has an empty or a repeated column name, or two spellings of "
                   "one column (a warning: one is read), or its row is too long to be a "
                   "header (an error).", ERROR_OR_WARNING)


@_BAD_HEADER
def header_too_long(file: str, limit: int) -> Draft:
    """The first line runs past ``limit`` bytes without ending."""
    return Draft(f"{file}: the header row is longer than {limit:,} bytes",
                 location=DataLocation(file, 1),
                 notes=("note: the file is probably not a OneRoster CSV file",),
                 severity=Severity.ERROR)


@_BAD_HEADER
def unnamed_column(file: str, number: int) -> Draft:
    """``number`` counts the header's columns from 1."""
    return Draft(f"{file}: column {number} has no name and is ignored",
                 location=DataLocation(file, 1), severity=Severity.WARNING)


@_BAD_HEADER
def column_repeated(file: str, column: str, read: str) -> Draft:
    """``column`` is ignored: it repeats ``read``, or is another spelling of it."""
    why = ("repeats an earlier column; the first is read" if column == read else
           f"is another spelling of `{read}`, which is read")
    return Draft(f"{file}: column `{column}` {why}", location=DataLocation(file, 1, column),
                 severity=Severity.WARNING)


@code("RM415", "extra fields",
      "A row has more fields than the header.")
def extra_fields(file: str, count: int, width: int, lines: Sequence[int]) -> Draft:
    """``count`` rows have more fields than the header's ``width``."""
    return Draft(f"{file}: {count} row(s) have more fields than the header's {width}, first "
                 f"at line {lines[0]}", location=DataLocation(file, lines[0]),
                 notes=(_lines(lines), "help: a value with a comma must be in double quotes"))


_UNSAFE = code("RM416", "unsafe package",
               "A file or zip entry is, or expands to, more than --max-file-bytes, or a zip "
               "entry expands far past its compressed size (a zip bomb); a zip entry points "
               "outside the package, or a folder package's file links outside it or is not "
               "a regular file. A zip whose files are in one folder, not at its root, is a "
               "warning; in several folders, an error.", ERROR_OR_WARNING)

_FILE_BYTES_HELP = "help: raise the limit with --max-file-bytes if the file is real"


@_UNSAFE
def file_too_large(file: str, limit: int) -> Draft:
    return Draft(f"{file} is larger than the limit of {limit:,} bytes (--max-file-bytes)",
                 location=DataLocation(file), notes=(_FILE_BYTES_HELP,),
                 severity=Severity.ERROR)


@_UNSAFE
def manifest_too_large(file: str, limit: int) -> Draft:
    """manifest.csv runs past ``limit`` bytes, far more than any real manifest."""
    return Draft(f"{file} is larger than {limit:,} bytes: not a manifest",
                 location=DataLocation(file),
                 notes=("note: a manifest is a few dozen short lines",), severity=Severity.ERROR)


@_UNSAFE
def zip_bomb(origin: str, entry: str, ratio: int, compressed: int) -> Draft:
    """Expanding ``entry`` went past ``ratio`` times its ``compressed`` size."""
    return Draft(f"{origin}: entry `{entry}` expands past {ratio} times its {compressed:,} "
                 "compressed bytes: a zip bomb", location=DataLocation(origin),
                 severity=Severity.ERROR)


@_UNSAFE
def zip_entry_too_large(path: Path, entry: str, size: int, limit: int) -> Draft:
    """The zip's directory says ``entry`` expands to ``size`` bytes."""
    return Draft(f"{path.name}: entry `{entry}` would expand to {size:,} bytes, past the "
                 f"limit of {limit:,}", location=DataLocation(str(path)),
                 notes=(_FILE_BYTES_HELP,), severity=Severity.ERROR)


@_UNSAFE
def zip_ratio_too_high(path: Path, entry: str, size: int, compressed: int) -> Draft:
    """The zip's directory says ``entry`` expands to ``size`` bytes from ``compressed``,
    a ratio past the one a real CSV file compresses by."""
    return Draft(f"{path.name}: entry `{entry}` would expand {size:,} bytes from "
                 f"{compressed:,}: a zip bomb", location=DataLocation(str(path)),
                 severity=Severity.ERROR)


@_UNSAFE
def zip_entry_outside(path: Path, entry: str) -> Draft:
    """``entry`` is an absolute path, or climbs out with ``..``."""
    return Draft(f"{path.name}: entry `{entry}` points outside the package",
                 location=DataLocation(str(path)), severity=Severity.ERROR)


@_UNSAFE
def files_in_folders(path: Path, folders: Iterable[str]) -> Draft:
    return Draft(f"{path.name}: files are spread over several folders "
                 f"({', '.join(sorted(folders))})", location=DataLocation(str(path)),
                 notes=("help: put the CSV files at the root of the zip",),
                 severity=Severity.ERROR)


@_UNSAFE
def files_in_a_folder(path: Path, folder: str) -> Draft:
    """Every file of the zip is in ``folder``: it is read from there."""
    return Draft(f"{path.name}: files are in folder `{folder}`, not at the root",
                 location=DataLocation(str(path)), severity=Severity.WARNING)


@_UNSAFE
def link_outside_package(path: Path, target: Path) -> Draft:
    """``path``, a CSV file of a folder package, is a link that resolves to ``target``."""
    return Draft(f"`{path.name}` links outside the package, to {target}",
                 location=DataLocation(str(path)),
                 notes=("note: a package is read from inside its folder only",
                        "help: copy the file into the folder instead of linking it"),
                 severity=Severity.ERROR)


@_UNSAFE
def not_a_file(path: Path) -> Draft:
    """``path``, a CSV file of a folder package, is not a regular file."""
    return Draft(f"`{path.name}` is not a regular file (a pipe, a device, a socket or a "
                 "broken link)", location=DataLocation(str(path)), severity=Severity.ERROR)


@code("RM417", "delta file read as a snapshot",
      "The manifest marks a file `delta`; its rows are read as they stand, not applied to "
      "an earlier snapshot.", WARNING)
def delta_read_as_snapshot(file: str, manifest: str) -> Draft:
    return Draft(f"manifest.csv marks {file} as a delta; its rows are read as a complete "
                 "snapshot", location=DataLocation(manifest),
                 notes=("note: records a delta leaves out are not carried over from an "
                        "earlier run",))


_PARAM_FILE = code("RM418", "parameter file problem",
                   "A table parameter names a file that cannot be read.")


@_PARAM_FILE
def param_file_missing(name: str, path: str) -> Draft:
    return Draft(f"parameter {name}: no file `{path}`", location=DataLocation(path))


@_PARAM_FILE
def param_file_unreadable(name: str, path: str, reason: str) -> Draft:
    """``reason`` is the operating system's, e.g. "Permission denied"."""
    return Draft(f"parameter {name}: `{path}` cannot be read ({reason})",
                 location=DataLocation(path))


_DELTA_REFUSED = code("RM419", "delta package refused",
                      "A package of delta files is refused: the profile requires full (bulk) "
                      "files, or there is no earlier run of the same OneRoster version to "
                      "apply the changes to.")


@_DELTA_REFUSED
def delta_refused(deltas: Sequence[str]) -> Draft:
    """The profile requires bulk files; manifest.csv marks ``deltas`` (users, ...) delta."""
    return Draft(f"the profile reads full (bulk) files only, but manifest.csv marks "
                 f"{', '.join(deltas)} as delta", location=DataLocation("manifest.csv"),
                 notes=("help: export a full package (every file.* bulk or absent)",))


@_DELTA_REFUSED
def delta_without_base(deltas: Sequence[str]) -> Draft:
    """manifest.csv marks ``deltas`` delta, and the state holds no earlier records."""
    return Draft(f"manifest.csv marks {', '.join(deltas)} as delta, and there is no earlier "
                 "run to apply the changes to", location=DataLocation("manifest.csv"),
                 notes=("help: send a full (bulk) package first; later runs take deltas",
                        "note: runs of the same --tenant and profile share their state"))


@_DELTA_REFUSED
def delta_version_differs(version: str, stored: str) -> Draft:
    """The delta package is OneRoster ``version``; the records it applies to ``stored``."""
    return Draft(f"this delta package is OneRoster {version}, but the stored snapshot is "
                 f"{stored}", location=DataLocation("manifest.csv"),
                 notes=("help: send a full (bulk) package to start over",))


@code("RM420", "mapping warning",
      "A `warn` rule of the mapping matched records.", WARNING)
def mapping_warning(message: str) -> Draft:
    """``message`` is the rule's own, as the mapping words it."""
    return Draft(message)


@code("RM421", "repeated key",
      "Several rows of an output have the same `key` columns.", WARNING)
def repeated_key(count: int, key: Sequence[str]) -> Draft:
    return Draft(f"{count} rows share their key ({', '.join(key)}) with another row")


@code("RM422", "records dropped with a reason",
      "A `where ... else warn` rule dropped these records; each is named in the report.", WARNING)
def records_dropped(message: str) -> Draft:
    """``message`` is the rule's own, as the mapping words it."""
    return Draft(message)


_TOO_MANY_RECORDS = code("RM423", "too many records",
                         "A file has more rows, or an API collection more records, than "
                         "--max-records allows.")


@_TOO_MANY_RECORDS
def too_many_records(file: str, limit: int, line: int) -> Draft:
    """``line`` is the last line read, past the limit."""
    return Draft(f"{file} has more than {limit:,} records, the limit",
                 location=DataLocation(file, line),
                 notes=("help: raise the limit with --max-records if the file is real",))


@_TOO_MANY_RECORDS
def too_many_fetched(path: str, limit: int) -> Draft:
    """An API collection pages on past --max-records."""
    return Draft(f"{path}: the provider serves more than {limit:,} records, the limit",
                 location=DataLocation(path),
                 notes=("help: raise the limit with --max-records if the collection is real",))


@code("RM424", "value too long",
      "A value of a column the mapping reads is longer than --max-field-bytes allows.")
def value_too_long(file: str, column: str, line: int, length: int, limit: int) -> Draft:
    """The value of ``column`` at ``line`` is ``length`` bytes."""
    return Draft(f"{file}: a value of {column} at line {line} is {length:,} bytes, past the "
                 f"limit of {limit:,}", location=DataLocation(file, line, column),
                 notes=("help: raise the limit with --max-field-bytes if the value is real",))


_ZIP_ENTRY = code("RM425", "unreadable zip entry",
                  "A zip entry is damaged (cut short, bad checksum, no name), encrypted, or "
                  "compressed with a method other than deflate, bzip2 or lzma, or cannot be "
                  "expanded (a full temporary folder).")

_PLAIN_ZIP_HELP = ("help: export the package again as a plain zip (no password, deflate "
                   "compression)")
_DAMAGED_ZIP_HELP = "help: the zip is damaged; export or download it again"


@_ZIP_ENTRY
def zip_entry_unexpandable(origin: str, entry: str, reason: str) -> Draft:
    """Writing ``entry`` into the temporary folder failed; ``reason`` is the operating
    system's (No space left on device)."""
    return Draft(f"{_named(origin)}: entry `{entry}` cannot be expanded: {reason}",
                 location=DataLocation(origin),
                 notes=("note: zip entries are expanded into a private temporary folder; "
                        "check its free space ($TMPDIR)",))


@_ZIP_ENTRY
def zip_entry_encrypted(origin: str, entry: str) -> Draft:
    return Draft(f"{origin}: entry `{entry}` is encrypted", location=DataLocation(origin),
                 notes=(_PLAIN_ZIP_HELP,))


@_ZIP_ENTRY
def zip_entry_method(origin: str, entry: str, method: int) -> Draft:
    """``method`` is the zip's number for the entry's compression."""
    return Draft(f"{origin}: entry `{entry}` uses compression method {method}, which "
                 "rostermap cannot read", location=DataLocation(origin),
                 notes=(_PLAIN_ZIP_HELP,))


@_ZIP_ENTRY
def zip_entry_damaged(origin: str, entry: str, error: str) -> Draft:
    """``error`` is zipfile's or the decompressor's (Bad CRC-32 for file ...)."""
    return Draft(f"{origin}: entry `{entry}` is damaged ({error})", location=DataLocation(origin),
                 notes=("help: the zip was cut short or changed after it was made; export or "
                        "download it again",))


@_ZIP_ENTRY
def zip_entry_unnamed(path: Path) -> Draft:
    return Draft(f"{path.name}: an entry has no name", location=DataLocation(str(path)),
                 notes=(_DAMAGED_ZIP_HELP,))


@code("RM426", "two files for one name",
      "A package holds two files that name one entity (users.csv and Users.csv, or a zip "
      "entry twice): reading either would be a guess.")
def two_files_for_one_name(origin: str, first: str, second: str) -> Draft:
    return Draft(f"{origin} holds `{first}` and `{second}`: two files for one name",
                 location=DataLocation(origin),
                 notes=("note: reading either would be a guess; names are compared without "
                        "regard to case, as Windows and macOS do",
                        "help: export the package again, or remove the file that is not meant"))


_EMPTY = code("RM427", "empty input or output",
              "An entity the mapping reads holds no record, or an output is left empty while "
              "its entity has records: an export cut short or a mistyped parameter looks like "
              "a district without students. `allow empty` in an output, or --allow-empty, "
              "says it is expected.")

_EMPTY_HELP = ("help: if the district really has none, say so: `allow empty` in the output, "
               "or --allow-empty for this run")


@_EMPTY
def entity_empty(file: str, entity: str) -> Draft:
    return Draft(f"{file} holds no {entity} records", location=DataLocation(file),
                 notes=("note: the mapping reads them; an empty roster would look complete "
                        "to the product", _EMPTY_HELP))


@_EMPTY
def output_emptied(output: str, read: int, entity: str, rules: Iterable[RuleDrops]) -> Draft:
    """``read`` records of ``entity`` went into ``output``, and its ``rules`` (with what
    each dropped) or its columns' checks left none."""
    dropping = [f"{r.dropped:,} by line {r.line} ({r.text})" for r in rules if r.dropped]
    why = ("note: dropped " + "; ".join(dropping[:3]) if dropping else
           "note: every record was rejected or left out by the columns' checks")
    return Draft(f"{output} is empty, though {read:,} {entity} records were read",
                 location=DataLocation(output), notes=(why, _EMPTY_HELP))


@code("RM430", "transform failed",
      "A rule failed while transforming; the mapping line is named.")
def transform_failed(output: str, line: int, start: int, error: str) -> Draft:
    """The rule at mapping ``line`` of ``output`` (which starts at ``start``) failed with
    ``error``, polars' words with the values it quotes masked."""
    return Draft(f"{output}: the rule at mapping line {line} failed: {error}",
                 notes=(f"note: output {output} starts at mapping line {start}",))


@code("RM431", "too many rejects",
      "More records were rejected than --max-rejects allows.")
def too_many_rejects(count: int, limit: int, first: str, reason: str, mapping: str,
                     line: int) -> Draft:
    """``first`` (users/stu-1) is the first record rejected, for ``reason``, by the rule
    at ``line`` of the ``mapping`` file."""
    return Draft(f"{count} records were rejected, more than --max-rejects {limit}; nothing "
                 "was written", notes=(f"note: the first: {first}: {reason} ({mapping}:{line})",))

# --- RM460-RM465: the sync state and the output folder -------------------------------


@code("RM460", "state locked",
      "Another run of the same profile and tenant holds the state; runs wait with --wait, "
      "or exit with code 5.")
def state_locked(state: Path, holder: str) -> Draft:
    """``holder`` is what the run holding the lock wrote in it (pid N since TIME), or
    empty when it is not known yet."""
    return Draft("another run of this profile and tenant is in progress",
                 location=DataLocation(str(state)),
                 notes=((f"note: held by {holder}",) if holder else ()) + (
                     "help: wait for it to finish, or pass --wait SECONDS to queue",))


_STATE_UNREADABLE = code("RM461", "state unreadable",
                         "The state file, or the source records it keeps for delta packages, "
                         "is damaged; the file is not a rostermap state, is of another "
                         "version, or belongs to another profile or tenant; or the state that "
                         "publishes into --out is gone.")

_RESTORE_HELP = "help: restore it from a backup, or pass --new-state to start afresh"


@_STATE_UNREADABLE
def not_a_state(state: Path, what: str) -> Draft:
    """``what`` the file is instead (0 bytes, not a SQLite database ...)."""
    return Draft(f"{state} is not a rostermap state: {what}", location=DataLocation(str(state)),
                 notes=("note: it is not taken for a first run: that would deactivate nothing "
                        "the product has and create everything again",
                        "help: restore it from a backup, or pass --new-state to start afresh "
                        "(the file is kept beside it as .broken-TIME)"))


@_STATE_UNREADABLE
def state_damaged(state: Path, error: str) -> Draft:
    """``error`` is SQLite's (database disk image is malformed)."""
    return Draft(f"the state file is damaged: {error}", location=DataLocation(str(state)),
                 notes=(_RESTORE_HELP,))


@_STATE_UNREADABLE
def state_data_damaged(state: Path, error: str) -> Draft:
    """A blob of the state does not decode; ``error`` is the decoder's, its type first."""
    return Draft(f"the state file holds damaged data: {error}", location=DataLocation(str(state)),
                 notes=(_RESTORE_HELP,))


@_STATE_UNREADABLE
def stored_records_damaged(entity: str, error: Exception) -> Draft:
    """The source records of ``entity`` that the state keeps do not decode."""
    return Draft(f"the run state's stored {entity} records are damaged: "
                 f"{type(error).__name__}: {error}",
                 notes=("note: they are what a delta package is applied on",
                        "help: restore the state from a backup, or send a full (bulk) "
                        "package with --new-state"))


@_STATE_UNREADABLE
def state_schema_differs(state: Path, schema: object, reads: str) -> Draft:
    """The file says its schema is ``schema``; this rostermap ``reads`` another."""
    return Draft(f"the state file has schema {schema}, this rostermap reads {reads}",
                 location=DataLocation(str(state)))


def _whose(profile: object, tenant: object) -> str:
    """A state's owner; without a tenant, the --out folder names the state."""
    return f"profile {profile} and " + (f"tenant {tenant}" if tenant else "an --out folder")


@_STATE_UNREADABLE
def state_of_another(state: Path, owner: tuple[object, object], profile: str,
                     tenant: str) -> Draft:
    """``owner`` is the (profile, tenant) the file belongs to; the run is of ``profile``
    and ``tenant`` (empty without one)."""
    return Draft(f"the state file belongs to {_whose(*owner)}, not {_whose(profile, tenant)}",
                 location=DataLocation(str(state)),
                 notes=("help: give each profile and tenant its own --state file",))


@_STATE_UNREADABLE
def publishing_state_gone(out_dir: Path, state: Path) -> Draft:
    """``out_dir``'s .rostermap-state names ``state``, which does not exist."""
    return Draft(f"the state that published {out_dir} is gone: {state}",
                 location=DataLocation(str(state)),
                 notes=("note: a first run now would see no earlier rows and deactivate none "
                        "of those the product has",
                        "help: restore the state file from a backup, or pass --new-state to "
                        "start afresh (every row is then a create)"))


_NO_SUCH_RUN = code("RM462", "no such run",
                    "A command names no state, a state without runs, or a run it does not "
                    "hold: `approve`, `reject` and `diff` name runs that `rostermap runs` "
                    "lists (`diff` the earlier first); only a held run that no later run has "
                    "superseded or committed after can be approved or rejected, and approved "
                    "only while its staged files are there.")


@_NO_SUCH_RUN
def no_state_named() -> Draft:
    return Draft("which state? name the run's --out folder, its --tenant or its --state",
                 notes=("note: a run without --tenant keeps its state by its --out folder",))


@_NO_SUCH_RUN
def no_runs_yet(profile: str, named: str, state: str) -> Draft:
    """``named`` is the state as the command named it (--tenant T, --out DIR); ``state``
    is its file."""
    return Draft(f"no runs of {profile} for {named} yet", location=DataLocation(state),
                 notes=("help: `rostermap run` makes the first; --state, --tenant and --out "
                        "name another state",))


@_NO_SUCH_RUN
def no_such_run(run: int, state: str) -> Draft:
    """``state`` is the state file that lacks run ``run``."""
    return Draft(f"there is no run {run}", location=DataLocation(state),
                 notes=("help: `rostermap runs` lists them",))


@_NO_SUCH_RUN
def run_not_held(run: int, outcome: str, state: str) -> Draft:
    return Draft(f"run {run} is not held: its outcome is {outcome}",
                 location=DataLocation(state),
                 notes=("note: a held run can be approved or rejected until a later run "
                        "commits or is held (it is then superseded)",))


@_NO_SUCH_RUN
def run_based_on_older(run: int, base: int, last: int, state: str) -> Draft:
    """Held run ``run``'s changes are against run ``base``; run ``last`` committed since."""
    return Draft(f"run {run} was computed against run {base}, but run {last} has committed "
                 "since", location=DataLocation(state))


@_NO_SUCH_RUN
def held_files_gone(folder: Path, run: int) -> Draft:
    """``folder`` is where held run ``run``'s files were staged."""
    return Draft(f"the files of held run {run} are gone from {folder}",
                 location=DataLocation(str(folder)), notes=("help: reject it and run again",))


@_NO_SUCH_RUN
def runs_out_of_order(first: int, second: int) -> Draft:
    return Draft(f"run {first} is not before run {second}",
                 notes=("help: rostermap diff PROFILE EARLIER LATER",))


_OUT_NOT_WRITABLE = code("RM463", "output folder not writable",
                         "The run's files could not be written or moved into --out "
                         "(permissions, a full disk). Before the commit nothing changed; "
                         "after it, the next command finishes publishing.")

_WRITE_HELP = ("help: --out names a folder: check that it is not a file, its permissions "
               "and the free space")


@_OUT_NOT_WRITABLE
def out_not_writable(out_dir: Path, error: OSError) -> Draft:
    """Writing into ``out_dir`` failed before the commit; ``error`` names the file."""
    return Draft(f"cannot write the run's files into {out_dir}: {error.strerror or error}",
                 location=DataLocation(str(error.filename or out_dir)),
                 notes=("note: nothing was published; the state is as it was", _WRITE_HELP))


@_OUT_NOT_WRITABLE
def files_unpublished(out_dir: Path, error: OSError, run: int | None) -> Draft:
    """Run ``run`` (None: an earlier one, found unpublished) committed, and moving its
    files into ``out_dir`` failed."""
    which = f"run {run} is" if run is not None else "an earlier run is"
    return Draft(f"{which} committed, but its files could not be moved into {out_dir}: "
                 f"{error.strerror or error}",
                 location=DataLocation(str(error.filename2 or error.filename or out_dir)),
                 notes=("note: the state counts the run; its files wait in a staging folder, "
                        "and the next run, approve or reject publishes them first (its "
                        "changes/ kept as changes/run-N/)", _WRITE_HELP))


_OUT_OWNED = code("RM464", "output folder owned by another state",
                  "An output folder is published by one sync state, named in its "
                  ".rostermap-state file: another state, or a run without state, is refused "
                  "there, as is any run while that file cannot be read.")


@_OUT_OWNED
def owner_file_unreadable(mark: Path, error: Exception) -> Draft:
    """``mark`` is the folder's .rostermap-state."""
    return Draft(f"{mark} cannot be read: {error}", location=DataLocation(str(mark)),
                 notes=("help: it names the state that publishes into this folder; remove "
                        "it only if no state does",))


@_OUT_OWNED
def published_by_a_state(out_dir: Path, mark: Path, owner: object) -> Draft:
    """A run without state would write into ``out_dir``, which ``owner`` publishes into."""
    return Draft(f"{out_dir} is published by a sync state; a run without state would "
                 "overwrite its files behind its back", location=DataLocation(str(mark)),
                 notes=(f"note: the state is {owner}",
                        "help: run without --no-state, or write into another --out"))


@_OUT_OWNED
def published_by_another_state(out_dir: Path, mark: Path, owner: object) -> Draft:
    return Draft(f"{out_dir} is published by another state: {owner}",
                 location=DataLocation(str(mark)),
                 notes=("note: two states publishing into one folder would each take the "
                        "other's rows for changes",
                        "help: pass the --tenant or --state of that state, or another --out"))


@code("RM465", "state not writable",
      "The state file could not be written (permissions, a read-only file system, a full "
      "disk); the last committed state and the published files are as they were.")
def state_not_writable(state: Path, error: str) -> Draft:
    """``error`` is SQLite's (attempt to write a readonly database)."""
    return Draft(f"cannot write the state file: {error}", location=DataLocation(str(state)),
                 notes=("note: the last committed state and the published files are as they "
                        "were; nothing of this run was published",
                        "help: check the file's and its folder's permissions and the free "
                        "space, then run again"))


@code("RM490", "parameter value names no record",
      "A parameter declared `naming ENTITY by FIELD` has a value that no record of the "
      "source has in any of those fields: most often a typo, which would select, exclude "
      "or promote nothing while the run looks right.", WARNING)
def param_names_nothing(name: str, entity: str, by: Sequence[str], values: Sequence[str],
                        file: str) -> Draft:
    """``values`` of parameter ``name`` match no record of ``entity`` (read from
    ``file``) in the fields ``by``."""
    fields = " or ".join(by)
    shown = ", ".join(repr(v) for v in values[:5]) + (", ..." if len(values) > 5 else "")
    return Draft(f"parameter `{name}`: {len(values)} value(s) name no record of {entity} "
                 f"by {fields}: {shown}",
                 location=DataLocation(file),
                 notes=(f"help: check the spelling against {file}'s {fields}; a value that "
                        "names nothing is ignored",))
