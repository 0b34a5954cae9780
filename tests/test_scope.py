"""Scope is a guarantee: no emitted row of any profile belongs to a record outside it.

For random generated districts (1.1 and 1.2) and random scope parameters (schools,
orgs, email domains, excluded schools, drawn from the district's own ids and
identifiers plus ids it does not have), every row of every output of the four
profiles that take a scope is checked against an oracle written here from the
vendors' rules, independently of the mappings: a user is in a school's scope
through its orgs, a class through its school, an enrollment through both, and the
lists of ids inside rows (formative's school_ids, linewize's teacher_ids) name
only records in scope. Districts are small and examples few; the long fuzz run
(see tests/fuzzing.py) scales them.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rostermap.devtools.generate import generate
from rostermap.runtime.engine.execute import run_outputs
from rostermap.runtime.engine.tables import Tables, load_tables
from rostermap.runtime.run.loader import Loaded, load_mapping, parse_params
from rostermap.runtime.run.pipeline import load_inputs
from rostermap.runtime.sources.csv_package import open_package
from tests.conftest import MAPPINGS
from tests.fuzzing import fuzz_settings

pytestmark = pytest.mark.fuzz

TODAY = dt.date(2025, 10, 1)
ALSO = {"orgs": ("sourcedId", "identifier", "parent", "type"),
        "users": ("sourcedId", "orgs", "role", "email", "agents"),
        "classes": ("sourcedId", "school"),
        "enrollments": ("sourcedId", "class", "user")}
SEEDS = st.integers(1, 6)  # few districts, each generated once per run
VERSIONS = st.sampled_from(["1.1", "1.2"])


@functools.cache
def profile(name: str) -> Loaded:
    return load_mapping(MAPPINGS / f"{name}.rmap")


@pytest.fixture(scope="module")
def districts(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int, str], Path]:
    root = tmp_path_factory.mktemp("districts")

    @functools.cache
    def district(seed: int, version: str) -> Path:
        path = root / f"{version}-{seed}"
        generate(path, students=24, seed=seed, version=version)
        return path

    return district


_tables: dict[tuple[str, int, str], Tables] = {}


@dataclass
class District:
    """The typed tables of a district, as plain sets and maps for the oracle."""

    tables: Tables

    def rows(self, entity: str) -> list[dict[str, Any]]:
        return self.tables.frames[entity].to_dicts()

    @functools.cached_property
    def users(self) -> dict[str, dict[str, Any]]:
        return {u["sourcedId"]: u for u in self.rows("users")}

    @functools.cached_property
    def orgs(self) -> dict[str, dict[str, Any]]:
        return {o["sourcedId"]: o for o in self.rows("orgs")}

    @functools.cached_property
    def classes(self) -> dict[str, dict[str, Any]]:
        return {c["sourcedId"]: c for c in self.rows("classes")}

    def ids(self) -> list[str]:
        """What a district specialist would type: org ids and identifiers."""
        values = {o["sourcedId"] for o in self.orgs.values()}
        values |= {o["identifier"] for o in self.orgs.values() if o["identifier"]}
        return sorted(values)

    def domains(self) -> list[str]:
        return sorted({u["email"].rsplit("@", 1)[1].lower() for u in self.users.values()
                       if u["email"] and "@" in u["email"]})


def run(name: str, seed: int, version: str, districts: Callable[[int, str], Path],
        params: list[str]) -> tuple[District, dict[str, pl.DataFrame]]:
    """The oracle's view of the district, and the profile's output files."""
    module = profile(name).module
    with mock.patch.dict(os.environ, {"ROSTERMAP_PARAM_DEFAULT_PASSWORD": "pw-for-scope"}):
        values = parse_params(module.PARAMS, params, TODAY)
    key = (name, seed, version)
    if key not in _tables:
        _tables[key] = load_inputs(module, districts(seed, version), values).tables
    results = run_outputs(module, _tables[key], values)
    return district_of(districts, seed, version), {r.name: r.frame for r in results}


def column(frame: pl.DataFrame, name: str) -> list[str]:
    return [v for v in frame[name].to_list() if v is not None]


def listed(frame: pl.DataFrame, name: str, separator: str) -> set[str]:
    return {i for v in column(frame, name) for i in v.split(separator) if i}


def choose(data: st.DataObject, pool: list[str], label: str) -> list[str]:
    return data.draw(st.lists(st.sampled_from([*pool, "no-such-id"]), max_size=4, unique=True),
                     label=label)


@fuzz_settings(15)
@given(seed=SEEDS, version=VERSIONS, data=st.data())
def test_powerschool_learning_stays_in_its_schools(
    districts: Callable[[int, str], Path], seed: int, version: str, data: st.DataObject,
) -> None:
    schools = choose(data, profile_ids(districts, seed, version), "schools")
    d, out = run("powerschool-learning", seed, version, districts,
                 ["year=2026", f"schools={','.join(schools)}"])
    scope = set(schools)

    def user_in(u: str) -> bool:
        return not scope or bool(set(d.users[u]["orgs"]) & scope)

    def class_in(c: str) -> bool:
        return not scope or d.classes[c]["school"] in scope

    for name in ("users.csv", "users_custom.csv"):
        assert all(user_in(u) for u in column(out[name], "user_id")), name
    assert not scope or set(column(out["organizations.csv"], "organization_id")) <= scope
    for name in ("classes.csv", "classes_custom.csv"):
        assert all(class_in(c) for c in column(out[name], "class_id")), name
    for row in out["rosters.csv"].iter_rows(named=True):
        assert class_in(row["class_id"]) and user_in(row["user_id"]), row
    assert set(column(out["classes.csv"], "organization_id")) <= (scope or set(d.orgs))


@fuzz_settings(15)
@given(seed=SEEDS, version=VERSIONS, data=st.data())
def test_powerschool_sis_stays_in_its_schools(
    districts: Callable[[int, str], Path], seed: int, version: str, data: st.DataObject,
) -> None:
    schools = choose(data, profile_ids(districts, seed, version), "schools")
    d, out = run("powerschool-sis", seed, version, districts,
                 ["start_year=2020", f"schools={','.join(schools)}"])
    scope = set(schools)

    def in_schools(u: str) -> bool:
        return not scope or bool(set(d.users[u]["orgs"]) & scope)

    def user_in(u: str) -> bool:
        """A student or teacher of the schools, or a parent linked to such a student."""
        user = d.users[u]
        if user["role"] in ("parent", "guardian"):
            children = set(user["agents"]) | {s for s, o in d.users.items()
                                               if u in o["agents"]}
            return any(in_schools(c) and d.users[c]["role"] == "student"
                       for c in children if c in d.users)
        return in_schools(u)

    users = column(out["users.csv"], "external_id")
    assert all(user_in(u) for u in users)
    assert set(column(out["user_levels.csv"], "external_id")) <= set(users)
    for row in out["parent_child.csv"].iter_rows(named=True):
        assert {row["parent_id"], row["child_id"]} <= set(users), row
    assert not scope or set(column(out["organizations.csv"], "organization_id")) <= scope
    classes = column(out["classes.csv"], "class_id")
    assert all(not scope or d.classes[c]["school"] in scope for c in classes)
    assert set(column(out["classes.csv"], "teacher_id")) <= set(users)
    for row in out["rosters.csv"].iter_rows(named=True):
        assert row["class_id"] in classes and row["user_id"] in users, row


@fuzz_settings(15)
@given(seed=SEEDS, version=VERSIONS, data=st.data())
def test_formative_stays_in_its_orgs_and_email_domains(
    districts: Callable[[int, str], Path], seed: int, version: str, data: st.DataObject,
) -> None:
    sample = district_of(districts, seed, version)
    orgs = choose(data, sample.ids(), "orgs")
    domains = choose(data, sample.domains(), "email_domains")
    d, out = run("formative", seed, version, districts,
                 [f"orgs={','.join(orgs)}", f"email_domains={','.join(domains)}"])
    wanted = set(orgs)

    def org_in(o: str) -> bool:
        """The org, or one of its ancestors (the profile reads 11 of them), is listed."""
        for _ in range(12):
            org = d.orgs.get(o)
            if org is None:
                return False
            if {org["sourcedId"], org["identifier"]} & wanted:
                return True
            o = org["parent"] or ""
        return False

    def on_a_domain(email: str) -> bool:
        """On a listed domain, or a subdomain of one (the profile reads 8 levels)."""
        labels = email.rsplit("@", 1)[-1].lower().split(".")
        return "@" in email and any(".".join(labels[i:]) in {x.lower() for x in domains}
                                    for i in range(min(9, len(labels))))

    def user_in(u: str) -> bool:
        return (any(org_in(o) for o in d.users[u]["orgs"])
                and on_a_domain(d.users[u]["email"] or ""))

    org_ids = column(out["orgs.csv"], "id")
    assert all(org_in(o) for o in org_ids)
    users = column(out["users.csv"], "id")
    assert all(user_in(u) for u in users)
    assert listed(out["users.csv"], "school_ids", ";") <= set(org_ids)
    classes = column(out["classes.csv"], "id")
    assert all(d.classes[c]["school"] in org_ids for c in classes)
    assert listed(out["classes.csv"], "teacher_ids", ";") <= set(users)
    for row in out["enrollments.csv"].iter_rows(named=True):
        assert row["class_id"] in classes and row["user_id"] in users, row


@fuzz_settings(15)
@given(seed=SEEDS, version=VERSIONS, data=st.data())
def test_linewize_leaves_out_its_excluded_schools(
    districts: Callable[[int, str], Path], seed: int, version: str, data: st.DataObject,
) -> None:
    excluded = set(choose(data, district_of(districts, seed, version).ids(), "exclude"))
    d, out = run("linewize", seed, version, districts,
                 [f"exclude_schools={','.join(sorted(excluded))}"])

    def org_out(o: str) -> bool:
        org = d.orgs.get(o)
        return org is None or bool({org["sourcedId"], org["identifier"]} & excluded)

    users = column(out["users.csv"], "id")
    assert all(not all(org_out(o) for o in d.users[u]["orgs"]) for u in users)
    assert not any(org_out(s) for s in column(out["users.csv"], "school_id"))
    classes = column(out["classes.csv"], "id")
    assert not any(org_out(d.classes[c]["school"]) for c in classes)
    assert not any(org_out(s) for s in column(out["classes.csv"], "school_id"))
    for ids in ("teacher_ids", "student_ids"):
        assert listed(out["classes.csv"], ids, ";") <= set(users)


def district_of(districts: Callable[[int, str], Path], seed: int, version: str) -> District:
    """The district as the oracle reads it (the fields of ALSO)."""
    key = ("oracle", seed, version)
    if key not in _tables:
        package = open_package(districts(seed, version))
        try:
            _tables[key] = load_tables(package, ALSO)
        finally:
            package.close()
    return District(_tables[key])


def profile_ids(districts: Callable[[int, str], Path], seed: int, version: str) -> list[str]:
    return sorted(district_of(districts, seed, version).orgs)
