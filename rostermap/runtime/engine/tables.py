"""Load the typed OneRoster tables a compiled mapping reads, and check their integrity.

The result is one polars frame per entity with model-named, typed columns: the
shape every source (a CSV package, a REST API) produces, so mappings never see
where records came from. Loading reads only the fields the mapping declared in READS,
derives the 1.2 fields that 1.1 mappings expect (a user's ``role`` and ``orgs``
from ``roles.csv``), refuses duplicate sourcedIds, and warns about references to
records the package does not hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from rostermap.dsl import codes, schema
from rostermap.dsl.diagnostics import Diagnostic
from rostermap.runtime.engine.plans import Param
from rostermap.runtime.engine.validate import MAX_EXAMPLES, dtype, typed
from rostermap.runtime.errors import RunError
from rostermap.runtime.sources.csv_package import Package, diagnose
from rostermap.runtime.sources.raw import LINE, RawTable, Source

__all__ = [
    "LINE",
    "Tables",
    "all_distinct",
    "check_requires",
    "load_param_table",
    "load_tables",
    "optional_entities",
]

_DERIVED_FROM_ROLES = ("orgs", "role")


@dataclass
class Tables:
    """Typed frames by entity, with the file and line each record came from."""

    version: str
    frames: dict[str, pl.DataFrame]
    files: dict[str, str]
    warnings: list[Diagnostic] = field(default_factory=list)
    # Entities read through a filter (REST pushdown): references into them may name
    # records that were left out on purpose, so they are not reported as dangling.
    filtered: frozenset[str] = frozenset()

    # Records of entities released after their last use: the count is still reported.
    released: dict[str, int] = field(default_factory=dict)

    def frame(self, entity: str) -> pl.LazyFrame:
        return self.frames[entity].lazy()

    def count(self, entity: str) -> int:
        return self.released.get(entity, self.frames[entity].height)

    def release(self, entity: str) -> None:
        """Let an entity's records go (no later output reads them); its count stays."""
        if entity in self.frames and entity not in self.released:
            self.released[entity] = self.frames[entity].height
            self.frames[entity] = self.frames[entity].clear()


def _empty(entity: str, fields: tuple[str, ...]) -> pl.DataFrame:
    spec = schema.ENTITIES[entity]
    return pl.DataFrame(
        schema={LINE: pl.Int64, **{f: dtype(spec.fields[f].type) for f in fields}}
    )


def _roles_of_users(package: Source, users: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """A 1.1-style ``role`` and ``orgs`` for each 1.2 user, from roles.csv.

    ``role`` is the role of the user's primary role, preferring the one at the
    user's primaryOrg; ``orgs`` lists the orgs of all roles, the primary org first.
    Roles marked tobedeleted are not counted while the user has another. A user whose
    every role is tobedeleted has left every org: it keeps the role and orgs those
    records name, and its status reads tobedeleted, so that a profile removes the user
    from the product as it would one the users file marks so.
    """
    raw = package.read("roles", ("sourcedId", "status", "user", "roleType", "role", "org"))
    roles, problems = typed(raw)
    if problems:
        raise RunError(problems)
    gone = pl.col("status").fill_null("") == "tobedeleted"
    primary = users.select("sourcedId", pl.col("primaryOrg") if "primaryOrg" in users.columns
                           else pl.lit(None, dtype=pl.String).alias("primaryOrg"))
    ranked = roles.with_columns(gone.alias("_gone")).join(
        primary, left_on="user", right_on="sourcedId", how="left").sort(
        pl.col("_gone"),
        (pl.col("roleType") != "primary").fill_null(True),
        (pl.col("org") != pl.col("primaryOrg")).fill_null(True),
        pl.col("sourcedId"),
    )
    # A user's live roles when it has any, else its tobedeleted ones.
    counted = ranked.filter(pl.col("_gone") == pl.col("_gone").min().over("user"))
    by_user = counted.group_by("user", maintain_order=True).agg(
        pl.col("role").first().alias("role"),
        pl.col("org").sort_by(
            (pl.col("org") != pl.col("primaryOrg")).fill_null(True),
            (pl.col("roleType") != "primary").fill_null(True),
            pl.col("sourcedId"),
        ).unique(maintain_order=True).alias("orgs"),
        pl.col("_gone").first().alias("_gone"),
    )
    joined = users.drop([c for c in _DERIVED_FROM_ROLES if c in users.columns]).join(
        by_user, left_on="sourcedId", right_on="user", how="left"
    )
    if "status" in joined.columns:
        joined = joined.with_columns(
            pl.when(pl.col("_gone")).then(pl.lit("tobedeleted"))
            .otherwise(pl.col("status")).alias("status"))
    return joined.drop("_gone").with_columns(pl.col("orgs").fill_null([])), [raw.file]


def _absent_columns(raw: RawTable, fields: tuple[str, ...], layout: str) -> list[Diagnostic]:
    """A field the mapping reads whose column the file lacks: empty for every record.

    That is an error for sourcedId and a warning otherwise (exports leave optional
    columns out). A 1.2 user's role and orgs are not columns: they come from roles.csv.
    """
    spec = schema.ENTITIES[raw.entity]
    found = []
    for f in fields:
        if f in raw.columns or (raw.entity == "users" and layout == "1.2"
                                and f in _DERIVED_FROM_ROLES):
            continue
        if layout not in spec.fields[f].versions or spec.fields[f].csv is None:
            continue  # another version's field (RM211), or extensions (metadata)
        found.append(codes.column_absent(raw.file, spec.fields[f].csv or f, raw.entity, f))
    return found


def all_distinct(values: pl.Series) -> bool:
    """Whether no two of ``values`` are equal (two nulls are equal).

    Each value is hashed to 64 bits and the hashes are counted: equal values hash
    alike, so as many distinct hashes as values proves the values distinct, several
    times faster than counting distinct strings (6.5M enrollment sourcedIds: 0.2 s
    against 1.3 s). Only when two hashes agree (a duplicate, or two values that hash
    alike) are the values themselves counted.
    """
    return values.hash().n_unique() == values.len() or values.n_unique() == values.len()


def _duplicates(frame: pl.DataFrame, file: str) -> Diagnostic | None:
    ids = frame.get_column("sourcedId").drop_nulls()
    if all_distinct(ids):  # the usual case
        return None
    dupes = frame.filter(pl.col("sourcedId").is_duplicated() & pl.col("sourcedId").is_not_null())
    if dupes.height == 0:
        return None
    lines = dupes[LINE].head(MAX_EXAMPLES).to_list()
    return codes.duplicate_ids(file, dupes.height, dupes["sourcedId"][0], lines)


def _missing_ids(frame: pl.DataFrame, file: str) -> Diagnostic | None:
    if frame.get_column("sourcedId").null_count() == 0:
        return None
    missing = frame.filter(pl.col("sourcedId").is_null())
    if missing.height == 0:
        return None
    return codes.missing_ids(file, missing.height, missing[LINE][0])


def _dangling(tables: Tables, entities: Iterable[str]) -> list[Diagnostic]:
    """References from ``entities`` to records of loaded entities that do not exist.

    Every reference column's check is one query, and all run at once (polars spreads
    them over the cores): on a 1M-student district they were a tenth of the read.
    """
    checks: list[tuple[str, str, str, pl.LazyFrame]] = []
    for entity in entities:
        frame = tables.frames[entity]
        spec = schema.ENTITIES[entity]
        for name in frame.columns:
            f = spec.fields.get(name)
            if f is None or name == "sourcedId":
                continue
            target = f.type.entity or (f.type.item.entity if f.type.item else None)
            if target is None or target not in tables.frames or target in tables.filtered:
                continue
            refs = frame.lazy().select(LINE, pl.col(name).alias("ref"))
            if f.type.is_list:
                refs = refs.explode("ref")
            # A hash lookup, not an anti-join: it builds a set of the target's ids only,
            # where a join also hashes and gathers the referring side (memory).
            ids = tables.frames[target].get_column("sourcedId").implode()
            missing = refs.filter(pl.col("ref").is_not_null() & ~pl.col("ref").is_in(ids))
            lines = missing.select(pl.len().alias("n"), pl.col(LINE).head(MAX_EXAMPLES)
                                   .implode().alias("lines"))
            checks.append((entity, name, target, lines))
    found = []
    for (entity, name, target, _), result in zip(
            checks, pl.collect_all([c[3] for c in checks]), strict=True):
        count, lines = result["n"][0], result["lines"][0].to_list()
        if count:
            spec = schema.ENTITIES[entity]
            found.append(codes.dangling_references(
                tables.files[entity], spec.fields[name].csv or name, count, spec.record,
                schema.ENTITIES[target].record, tables.files[target], lines))
    return found


def _read_typed(package: Source, entity: str, fields: list[str]
                ) -> tuple[RawTable, pl.DataFrame, list[Diagnostic]]:
    """One entity's typed frame and the problems typing it found.

    A CSV package is read and typed a piece at a time (``Package.read_chunks``), so
    that the text of a large file and its typed frame are never whole in memory
    together. A piece with any problem sends the file back through the whole-file
    path, whose diagnostics (counts, first lines) are exact.
    """
    if isinstance(package, Package):
        noted = len(package.warnings)
        parts: list[pl.DataFrame] = []
        last: RawTable | None = None
        try:
            for piece in package.read_chunks(entity, fields):
                part, bad = typed(piece)
                if bad:
                    break
                parts.append(part)
                last = piece
            else:
                if last is not None:
                    frame = pl.concat(parts, how="vertical") if len(parts) > 1 else parts[0]
                    return RawTable(entity, last.file, last.frame.clear(), last.columns), \
                        frame, []
        except RunError as error:
            # A limit a package is refused for (unsafe package, too many records, a value
            # too long) is found exactly on the piece that crosses it, and reading the
            # whole file is what the limit spares.
            if any(d.code in ("RM416", "RM423", "RM424") for d in error.diagnostics):
                raise
        except pl.exceptions.PolarsError:
            pass
        del parts
        del package.warnings[noted:]  # the whole-file read notes them again
    raw = package.read(entity, fields)
    frame, bad = typed(raw)
    return raw, frame, bad


def load_tables(
    package: Source, reads: Mapping[str, tuple[str, ...]], filtered: frozenset[str] = frozenset(),
    optional: frozenset[str] = frozenset(),
) -> Tables:
    """The typed tables for ``reads`` (entity -> fields), or a RunError listing problems.

    ``filtered`` names the entities the source read through a filter; ``optional``
    those a package may lack (read as no records), as when a profile's ``require``
    names the files it cannot do without and leaves these out.
    """
    problems: list[Diagnostic] = []
    notes: list[Diagnostic] = []  # warnings, reported with the tables
    frames: dict[str, pl.DataFrame] = {}
    files: dict[str, str] = {}
    for entity, fields in reads.items():
        spec = schema.ENTITIES[entity]
        if not package.has(entity):
            if entity in optional:
                notes.append(codes.file_read_as_empty(spec.file, package.origin))
            elif package.version in spec.versions or package.version == "1.0":
                problems.append(codes.file_absent(spec.name, spec.file, package.origin))
            frames[entity] = _empty(entity, fields)
            files[entity] = spec.file
            continue
        wanted = list(fields)
        if entity == "users" and package.layout == "1.2":
            wanted = [*fields, "primaryOrg"] if "primaryOrg" not in fields else wanted
        raw, frame, bad = _read_typed(package, entity, wanted)
        absent = _absent_columns(raw, fields, package.layout)
        problems.extend(d for d in absent if d.is_error)
        notes.extend(d for d in absent if not d.is_error)
        problems.extend(bad)
        checks = [_duplicates(frame, raw.file)]
        if "sourcedId" in raw.columns:
            checks.insert(0, _missing_ids(frame, raw.file))
        for check in checks:
            if check is not None:
                problems.append(check)
        unread = [f for f in _DERIVED_FROM_ROLES if f in fields and f not in raw.columns]
        if entity == "users" and unread and package.layout == "1.2":
            if not package.has("roles"):
                problems.append(codes.roles_absent(unread, package.origin))
            else:
                frame, _ = _roles_of_users(package, frame)
        frames[entity] = frame.select(LINE, *fields)
        files[entity] = raw.file
    if problems:
        raise RunError(problems)
    tables = Tables(package.version, frames, files, [*package.warnings, *notes], filtered)
    tables.warnings.extend(_dangling(tables, [e for e in frames if package.has(e)]))
    return tables


def unnamed_values(params: Iterable[Param], values: Mapping[str, object],
                   tables: Tables) -> list[Diagnostic]:
    """RM490 for each parameter declared `naming ENTITY by FIELDS` that has values no
    record of the entity holds in those fields (compared ignoring case when declared
    so). An entity read through a REST filter holds only some records: it is not
    checked, nor a field the source's version lacks."""
    found = []
    for p in params:
        given = values.get(p.name)
        if not p.names or p.names in tables.filtered or p.names not in tables.frames:
            continue
        wanted = [given] if isinstance(given, str) else list(
            given if isinstance(given, list | tuple) else ())
        spec = schema.ENTITIES[p.names]
        by = [f for f in p.names_by if tables.version in spec.fields[f].versions]
        if not wanted or not by:
            continue
        frame = tables.frames[p.names]
        held = pl.concat([frame.get_column(f).cast(pl.String) for f in by]).drop_nulls()
        known = set(held.str.to_lowercase() if p.ignore_case else held)
        missing = [str(v) for v in dict.fromkeys(wanted)
                   if (str(v).lower() if p.ignore_case else str(v)) not in known]
        if missing:
            found.append(codes.param_names_nothing(p.name, p.names, by, missing,
                                                   tables.files.get(p.names, spec.file)))
    return found


def load_param_table(name: str, path: str | None, columns: tuple[str, ...]) -> pl.DataFrame:
    """A table parameter's CSV file, as text columns, with a sourcedId to order it by.

    The file needs a header with the declared columns (others are ignored); a file
    without a sourcedId column gets the row number, zero-padded, so that first()
    means the file's first row. No file (an optional parameter) is an empty table.
    """
    wanted = tuple(dict.fromkeys((*columns, "sourcedId")))
    if path is None:
        return pl.DataFrame(schema={LINE: pl.Int64, **{c: pl.String for c in wanted}})
    file = Path(path)
    if not file.is_file():
        raise RunError([codes.param_file_missing(name, path)])
    try:
        data = file.read_bytes()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise RunError([codes.param_file_unreadable(name, path, reason)]) from None
    try:
        frame = pl.read_csv(data, infer_schema=False, encoding="utf8",
                            truncate_ragged_lines=True)
    except pl.exceptions.NoDataError:
        raise RunError([codes.param_file_empty(name, file.name)]) from None
    except pl.exceptions.PolarsError as error:
        raise RunError([diagnose(data, file.name, str(error))]) from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise RunError([codes.param_column_absent(name, file.name, missing, columns)])
    frame = frame.with_row_index(LINE, offset=2).with_columns(pl.col(LINE).cast(pl.Int64))
    if "sourcedId" not in frame.columns:
        frame = frame.with_columns(pl.col(LINE).cast(pl.String).str.pad_start(10, "0")
                                   .alias("sourcedId"))
    return frame.select(LINE, *(pl.col(c).str.strip_chars() for c in wanted))


def optional_entities(requires: tuple[str, ...], reads: Mapping[str, object]) -> frozenset[str]:
    """The entities read that a package may lack: when a profile's ``require`` names
    files, the others it reads are optional; when it names none, none is."""
    named = {e for e in requires if e in schema.ENTITIES}
    return frozenset(e for e in reads if e not in named) if named else frozenset()


def check_requires(package: Source, requires: tuple[str, ...], applied: bool = False) -> None:
    """Refuse a source that lacks what the profile requires, before reading any record.

    A manifest and bulk files are about CSV packages; an API has neither. ``applied``:
    the package's deltas will be applied on the last run's records, which reads as
    the bulk package a ``bulk`` profile asks for.
    """
    problems: list[Diagnostic] = []
    csv = isinstance(package, Package)
    if "manifest" in requires and csv and package.version == "1.0":
        problems.append(codes.manifest_required(package.origin))
    if "bulk" in requires and isinstance(package, Package) and not applied:
        deltas = sorted(stem for stem, mode in package.modes.items() if mode == "delta")
        if deltas:
            problems.append(codes.delta_refused(deltas))
    for entity in requires:
        if entity in schema.ENTITIES and not package.has(entity):
            problems.append(codes.file_required(schema.ENTITIES[entity].file, package.origin))
    if problems:
        raise RunError(problems)
