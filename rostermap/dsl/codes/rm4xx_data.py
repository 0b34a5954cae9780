"""RM4xx: source data, and the sync state (RM460-RM465). Fetching from a REST API
(RM440-RM459) is in rm44x_rest.

Some of these codes' call sites (reading a CSV package, applying deltas, the sync
state) still build their Diagnostic themselves, so their entries own no constructor
yet, or none for those situations. To convert one, name its entry if it is not named
yet and decorate one constructor per situation beside it, the facts as parameters::

    _SOURCE_NOT_FOUND = code("RM401", "source not found", "--source names ...")

    @_SOURCE_NOT_FOUND
    def source_not_found(path: str) -> Draft:
        return Draft(f"no OneRoster package at {path}", location=DataLocation(path))

then add its name to ``__all__`` and call ``codes.source_not_found(path)`` where the
run used to write ``Diagnostic("RM401", ...)``. A code documented as
ERROR_OR_WARNING has its constructor set ``Draft.severity`` from the case.

``file`` is a source file as messages name it (users.csv, or a REST collection's
path); ``origin`` the package (its path or URL); ``lines`` the first few lines an
issue is on, which the notes list.
"""

from __future__ import annotations

from collections.abc import Sequence

from rostermap.dsl.codes._registry import ERROR_OR_WARNING, WARNING, Draft, code
from rostermap.dsl.codes._wording import a
from rostermap.dsl.diagnostics import DataLocation, Severity

__all__ = [
    "column_absent",
    "dangling_references",
    "delta_refused",
    "duplicate_ids",
    "file_absent",
    "file_read_as_empty",
    "file_required",
    "invalid_values",
    "manifest_required",
    "mapping_warning",
    "missing_ids",
    "no_runs_yet",
    "no_such_run",
    "param_column_absent",
    "param_file_empty",
    "param_file_missing",
    "records_dropped",
    "repeated_key",
    "roles_absent",
    "runs_out_of_order",
    "too_many_fetched",
    "transform_failed",
]


def _lines(lines: Sequence[int], more: bool = False) -> str:
    """The note that lists the lines an issue is on."""
    return f"note: lines {', '.join(map(str, lines))}{' and more' if more else ''}"


code("RM401", "source not found",
     "--source names a .zip or a folder of OneRoster CSV files.")

code("RM402", "no manifest",
     "The package has no manifest.csv; it is read as OneRoster 1.0.", WARNING)

code("RM403", "file missing",
     "manifest.csv lists a file that the package does not hold.", WARNING)

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
def param_column_absent(name: str, file: str, missing: Sequence[str],
                        columns: Sequence[str]) -> Draft:
    """Table parameter ``name`` declares ``columns``; its file lacks ``missing``."""
    return Draft(f"parameter {name}: {file} has no column {', '.join(missing)}",
                 location=DataLocation(file, 1, missing[0]),
                 notes=(f"note: the profile reads the columns {', '.join(columns)}",),
                 severity=Severity.ERROR)


code("RM406", "unknown column",
     "The header names a column OneRoster does not define.", WARNING)

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


code("RM408", "malformed CSV",
     "A row cannot be read as RFC 4180 CSV, or a value holds a NUL byte.")

code("RM409", "not UTF-8",
     "OneRoster CSV files are UTF-8.")


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
    ``target`` (org) that ``target_file`` does not hold."""
    return Draft(f"{file}: {count} {record} record(s) name {a(target)} that {target_file} does "
                 f"not hold, first at line {lines[0]}",
                 location=DataLocation(file, lines[0], column),
                 notes=(_lines(lines),))


_EMPTY_FILE = code("RM412", "empty file",
                   "A CSV file without a header row.")


@_EMPTY_FILE
def param_file_empty(name: str, file: str) -> Draft:
    """Table parameter ``name``'s file holds nothing, not even a header."""
    return Draft(f"parameter {name}: {file} is empty", location=DataLocation(file, 1))


code("RM413", "unsupported OneRoster version",
     "manifest.csv names a version other than 1.0, 1.1 or 1.2.")

code("RM414", "bad header",
     "The header has an empty or a repeated column name.", WARNING)

code("RM415", "extra fields",
     "A row has more fields than the header.")

code("RM416", "unsafe package",
     "A zip entry is outside the package root, or a file or zip entry is (or expands to) "
     "more than --max-file-bytes.", ERROR_OR_WARNING)

code("RM417", "delta file read as a snapshot",
     "The manifest marks a file `delta`; its rows are read as they stand, not applied to "
     "an earlier snapshot.", WARNING)


@code("RM418", "parameter file problem",
      "A table parameter names a file that cannot be read.")
def param_file_missing(name: str, path: str) -> Draft:
    return Draft(f"parameter {name}: no file `{path}`", location=DataLocation(path))


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
def too_many_fetched(path: str, limit: int) -> Draft:
    """An API collection pages on past --max-records."""
    return Draft(f"{path}: the provider serves more than {limit:,} records, the limit",
                 location=DataLocation(path),
                 notes=("help: raise the limit with --max-records if the collection is real",))


code("RM424", "value too long",
     "A value of a column the mapping reads is longer than --max-field-bytes allows.")

code("RM425", "unreadable zip entry",
     "A zip entry is damaged (cut short, bad checksum), encrypted, or compressed with a "
     "method other than deflate, bzip2 or lzma, or cannot be expanded (a full temporary "
     "folder).")

code("RM426", "two files for one name",
     "A package holds two files that name one entity (users.csv and Users.csv, or a zip "
     "entry twice): reading either would be a guess.")

code("RM427", "empty input or output",
     "An entity the mapping reads holds no record, or an output is left empty while its "
     "entity has records: an export cut short or a mistyped parameter looks like a "
     "district without students. `allow empty` in an output, or --allow-empty, says it "
     "is expected.")


@code("RM430", "transform failed",
      "A rule failed while transforming; the mapping line is named.")
def transform_failed(output: str, line: int, start: int, error: str) -> Draft:
    """The rule at mapping ``line`` of ``output`` (which starts at ``start``) failed with
    ``error``, polars' words with the values it quotes masked."""
    return Draft(f"{output}: the rule at mapping line {line} failed: {error}",
                 notes=(f"note: output {output} starts at mapping line {start}",))


code("RM431", "too many rejects",
     "More records were rejected than --max-rejects allows.")

# --- RM460-RM465: the sync state and the output folder -------------------------------

code("RM460", "state locked",
     "Another run of the same profile and tenant holds the state; runs wait with --wait, "
     "or exit with code 5.")

code("RM461", "state unreadable",
     "The state file is damaged, of another version, or belongs to another profile or "
     "tenant.")

_NO_SUCH_RUN = code("RM462", "no such run",
                    "A command names a state without runs, or a run it does not hold: "
                    "`approve`, `reject` and `diff` name runs that `rostermap runs` lists "
                    "(`diff` the earlier first); only a held run, not superseded by a later "
                    "one, can be approved or rejected.")


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
def runs_out_of_order(first: int, second: int) -> Draft:
    return Draft(f"run {first} is not before run {second}",
                 notes=("help: rostermap diff PROFILE EARLIER LATER",))

code("RM463", "output folder not writable",
     "The run's files could not be written or moved into --out (permissions, a full "
     "disk). Before the commit nothing changed; after it, the next command finishes "
     "publishing.")

code("RM464", "output folder owned by another state",
     "An output folder is published by one sync state, named in its .rostermap-state "
     "file: another state, or a run without state, is refused there.")

code("RM465", "state not writable",
     "The state file could not be written (permissions, a read-only file system, a full "
     "disk); the last committed state and the published files are as they were.")
