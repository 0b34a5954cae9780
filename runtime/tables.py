"""Load the typed OneRoster tables a compiled mapping reads, and check their integrity.

The result is one polars frame per entity with model-named, typed columns: the
shape every source (a CSV package, a REST API) produces, so mappings never see
where records came from. Loading reads only the fields the mapping declared in READS,
derives the 1.2 fields that 1.1 mappings expect (a user's ``role`` and ``orgs``
from ``roles.csv``), refuses duplicate sourcedIds, and warns about references to
records the package does not hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from compiler import schema
from dsl.diagnostics import DataLocation, Diagnostic, Severity
from runtime.errors import RunError
from runtime.sources.raw import LINE, Source
from runtime.validate import MAX_EXAMPLES, dtype, typed

__all__ = ["LINE", "Tables", "load_tables"]

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

    def frame(self, entity: str) -> pl.LazyFrame:
        return self.frames[entity].lazy()

    def count(self, entity: str) -> int:
        return self.frames[entity].height


def _empty(entity: str, fields: tuple[str, ...]) -> pl.DataFrame:
    spec = schema.ENTITIES[entity]
    return pl.DataFrame(
        schema={LINE: pl.Int64, **{f: dtype(spec.fields[f].type) for f in fields}}
    )


def _roles_of_users(package: Source, users: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """A 1.1-style ``role`` and ``orgs`` for each 1.2 user, from roles.csv.

    ``role`` is the role of the user's primary role, preferring the one at the
    user's primaryOrg; ``orgs`` lists the orgs of all roles, the primary org first.
    Roles marked tobedeleted are not counted.
    """
    raw = package.read("roles", ("sourcedId", "status", "user", "roleType", "role", "org"))
    roles, problems = typed(raw)
    if problems:
        raise RunError(problems)
    roles = roles.filter(pl.col("status").fill_null("") != "tobedeleted")
    primary = users.select("sourcedId", pl.col("primaryOrg") if "primaryOrg" in users.columns
                           else pl.lit(None, dtype=pl.String).alias("primaryOrg"))
    ranked = roles.join(primary, left_on="user", right_on="sourcedId", how="left").sort(
        (pl.col("roleType") != "primary").fill_null(True),
        (pl.col("org") != pl.col("primaryOrg")).fill_null(True),
        pl.col("sourcedId"),
    )
    by_user = ranked.group_by("user", maintain_order=True).agg(
        pl.col("role").first().alias("role"),
        pl.col("org").sort_by(
            (pl.col("org") != pl.col("primaryOrg")).fill_null(True), pl.col("sourcedId")
        ).unique(maintain_order=True).alias("orgs"),
    )
    joined = users.drop([c for c in _DERIVED_FROM_ROLES if c in users.columns]).join(
        by_user, left_on="sourcedId", right_on="user", how="left"
    )
    return joined.with_columns(pl.col("orgs").fill_null([])), [raw.file]


def _duplicates(frame: pl.DataFrame, file: str) -> Diagnostic | None:
    dupes = frame.filter(pl.col("sourcedId").is_duplicated() & pl.col("sourcedId").is_not_null())
    if dupes.height == 0:
        return None
    lines = dupes[LINE].head(MAX_EXAMPLES).to_list()
    first = dupes["sourcedId"][0]
    return Diagnostic(
        "RM410",
        f"{file}: {dupes.height} records share a sourcedId with another record, first "
        f"{first!r} at line {lines[0]}",
        location=DataLocation(file, lines[0], "sourcedId"),
        notes=(f"note: lines {', '.join(map(str, lines))}",
               "help: every record of a file needs its own sourcedId"),
    )


def _missing_ids(frame: pl.DataFrame, file: str) -> Diagnostic | None:
    missing = frame.filter(pl.col("sourcedId").is_null())
    if missing.height == 0:
        return None
    line = missing[LINE][0]
    return Diagnostic("RM407", f"{file}: {missing.height} record(s) have no sourcedId, first "
                      f"at line {line}", location=DataLocation(file, line, "sourcedId"))


def _dangling(tables: Tables, entity: str) -> list[Diagnostic]:
    """References from ``entity`` to records of loaded entities that do not exist."""
    spec = schema.ENTITIES[entity]
    frame = tables.frames[entity]
    found = []
    for name in frame.columns:
        f = spec.fields.get(name)
        if f is None or name == "sourcedId":
            continue
        target = f.type.entity or (f.type.item.entity if f.type.item else None)
        if target is None or target not in tables.frames or target in tables.filtered:
            continue
        refs = frame.select(LINE, pl.col(name).alias("ref"))
        if f.type.is_list:
            refs = refs.explode("ref")
        ids = tables.frames[target].select(pl.col("sourcedId").alias("ref"))
        missing = refs.filter(pl.col("ref").is_not_null()).join(ids, on="ref", how="anti")
        if missing.height:
            lines = missing[LINE].head(MAX_EXAMPLES).to_list()
            column = f.csv or name
            found.append(Diagnostic(
                "RM411",
                f"{tables.files[entity]}: {missing.height} {spec.record} record(s) name a "
                f"{schema.ENTITIES[target].record} that {tables.files[target]} does not hold, "
                f"first at line {lines[0]}",
                Severity.WARNING,
                location=DataLocation(tables.files[entity], lines[0], column),
                notes=(f"note: lines {', '.join(map(str, lines))}",),
            ))
    return found


def load_tables(
    package: Source, reads: Mapping[str, tuple[str, ...]], filtered: frozenset[str] = frozenset()
) -> Tables:
    """The typed tables for ``reads`` (entity -> fields), or a RunError listing problems.

    ``filtered`` names the entities the source read through a filter.
    """
    problems: list[Diagnostic] = []
    frames: dict[str, pl.DataFrame] = {}
    files: dict[str, str] = {}
    for entity, fields in reads.items():
        spec = schema.ENTITIES[entity]
        if not package.has(entity):
            if package.version in spec.versions or package.version == "1.0":
                problems.append(Diagnostic(
                    "RM404", f"the mapping reads {spec.name}, but the package has no {spec.file}",
                    location=DataLocation(package.origin),
                    notes=(f"help: add {spec.file} to the package and to manifest.csv",)))
            frames[entity] = _empty(entity, fields)
            files[entity] = spec.file
            continue
        wanted = list(fields)
        if entity == "users" and package.layout == "1.2":
            wanted = [*fields, "primaryOrg"] if "primaryOrg" not in fields else wanted
        raw = package.read(entity, wanted)
        frame, bad = typed(raw)
        problems.extend(bad)
        for check in (_missing_ids(frame, raw.file), _duplicates(frame, raw.file)):
            if check is not None:
                problems.append(check)
        unread = [f for f in _DERIVED_FROM_ROLES if f in fields and f not in raw.columns]
        if entity == "users" and unread and package.layout == "1.2":
            if not package.has("roles"):
                problems.append(Diagnostic(
                    "RM404", f"a OneRoster 1.2 package gives users' {' and '.join(unread)} in "
                    "roles.csv, which this package lacks", location=DataLocation(package.origin),
                    notes=("help: add roles.csv, as the 1.2 CSV binding requires",)))
            else:
                frame, _ = _roles_of_users(package, frame)
        frames[entity] = frame.select(LINE, *fields)
        files[entity] = raw.file
    if problems:
        raise RunError(problems)
    tables = Tables(package.version, frames, files, list(package.warnings), filtered)
    for entity in frames:
        if package.has(entity):
            tables.warnings.extend(_dangling(tables, entity))
    return tables
