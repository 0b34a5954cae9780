"""Explain gives the run's answer: for random records of generated districts, damaged
at random, under every built-in profile, explain's fate for a record in each output
is what the run wrote, rejected or left out, and a record left out for another names
one the run did leave out, for the reason the run gives."""

from __future__ import annotations

import csv
import datetime as dt
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from rostermap.devtools.generate import generate
from rostermap.runtime.engine.execute import OutputResult, Trace, run_outputs
from rostermap.runtime.run.explain import (
    Dependency,
    Explanation,
    Fate,
    RejectVerdict,
    RuleVerdict,
    explain_records,
)
from rostermap.runtime.run.loader import (
    builtin_folder,
    find_profiles,
    is_library,
    load_mapping,
    parse_params,
    resolve_profile,
)
from rostermap.runtime.run.pipeline import load_inputs, run

TODAY = dt.date(2026, 3, 2)


def _domain(root: Path) -> str:
    return _rows(root, "users")[0]["email"].partition("@")[2]


def _district_id(root: Path) -> str:
    return next(r["identifier"] for r in _rows(root, "orgs") if r["type"] == "district")


def _admin_email(root: Path) -> str:
    users = _rows(root, "users")
    return next((u["email"] for u in users if u.get("role") == "administrator"), users[0]["email"])


# Each built-in profile's parameters for a generated district (read from it).
PARAMS: dict[str, Callable[[Path], list[str]]] = {
    "canvas": lambda root: ["zone=America/Chicago"],
    "lingco": lambda root: [],
    "powerschool-learning": lambda root: ["year=2026", f"google_domain={_domain(root)}"],
    "powerschool-sis": lambda root: ["start_year=2025", f"sso_domains={_domain(root)}"],
    "formative": lambda root: [f"orgs={_district_id(root)}",
                               f"email_domains={_domain(root)},students.{_domain(root)}",
                               f"admins={_admin_email(root)}"],
    "linewize": lambda root: ["respect_academic_sessions=true", "respect_enrolment_date=true"],
}


def _rows(root: Path, name: str) -> list[dict[str, str]]:
    path = root / f"{name}.csv"
    if not path.exists():
        return []
    with path.open(encoding="utf-8-sig", newline="") as file:
        return list(csv.DictReader(file))


def _write(root: Path, name: str, rows: list[dict[str, str]]) -> None:
    with (root / f"{name}.csv").open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@dataclass(frozen=True)
class Damage:
    """A change to one record of a generated district: what makes records rejected,
    dropped, and left out for them."""

    file: str
    column: str
    value: str  # "" blank; "<swap>" swaps startDate and endDate; "<upper-twin>" another's username in upper case

    def apply(self, root: Path, pick: int) -> None:
        rows = _rows(root, self.file)
        if not rows or self.column not in rows[0]:
            return
        row = rows[pick % len(rows)]
        if self.value == "<swap>":
            row["startDate"], row["endDate"] = row["endDate"], row["startDate"]
        elif self.value == "<upper-twin>":
            row[self.column] = rows[(pick + 1) % len(rows)][self.column].upper()
        else:
            row[self.column] = self.value
        _write(root, self.file, rows)


DAMAGES = [
    Damage("users", "givenName", ""),
    Damage("users", "familyName", " "),
    Damage("users", "username", "<upper-twin>"),
    Damage("users", "username", ""),
    Damage("users", "enabledUser", "false"),
    Damage("users", "status", "tobedeleted"),
    Damage("academicSessions", "startDate", "<swap>"),
    Damage("academicSessions", "title", ""),
    Damage("courses", "title", ""),
    Damage("classes", "title", ""),
    Damage("classes", "schoolSourcedId", "sch-gone"),
    Damage("classes", "termSourcedIds", "as-gone"),
    Damage("classes", "status", "tobedeleted"),
    Damage("enrollments", "userSourcedId", "usr-gone"),
    Damage("enrollments", "status", "tobedeleted"),
    Damage("orgs", "type", "department"),
]


def _profiles() -> list[str]:
    """The built-in profiles that make files (a push profile writes to an API: there is
    no run of it to explain)."""
    builtin = builtin_folder().resolve()
    return sorted(name for name, path in find_profiles().items()
                  if path.resolve().parent == builtin and not is_library(path)
                  and not getattr(load_mapping(path).module, "PUSHES", None))


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ROSTERMAP_PARAM_DEFAULT_PASSWORD", "explain-run-secret")
    monkeypatch.delenv("ROSTERMAP_MAPPINGS", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./mappings: the built-in profiles only


def test_every_built_in_profile_is_covered() -> None:
    assert sorted(PARAMS) == _profiles()


def _district(seed: int, version: str, damages: list[tuple[Damage, int]],
              profile: str) -> Iterator[tuple[Path, list[str]]]:
    """A generated district, damaged, and the profile's parameters for it (read before
    the damage: an org no longer a district still names the district's scope)."""
    with tempfile.TemporaryDirectory(prefix="rostermap-explain-") as tmp:
        root = Path(tmp) / "district"
        generate(root, students=20, seed=seed, version=version)
        params = PARAMS[profile](root)
        for damage, pick in damages:
            damage.apply(root, pick)
        yield root, params


def _dependents(root: Path, results: list[OutputResult], cap: int) -> list[str]:
    """Records that name a record the run rejected: those most likely left out for it."""
    rejected = {j.record.partition("/")[2] for r in results for j in r.rejects}
    found: list[str] = []
    for entity in ("enrollments", "classes", "courses", "academicSessions", "users"):
        for row in _rows(root, entity):
            others = {v for k, v in row.items() if k != "sourcedId" for v in v.split(",")}
            if others & rejected:
                found.append(f"{entity}/{row['sourcedId']}")
    return found[:cap]


def _check_dependency(d: Dependency, results: dict[str, OutputResult]) -> None:
    """A record explain says was left out of an output is not in the run's output,
    and the reason given is the run's."""
    result = results[d.output]
    run_rejects = [f"line {j.line}: {j.reason}" for j in result.rejects if j.record == d.record]
    sourced_id = d.record.partition("/")[2]
    assert sourced_id not in set(result.records.to_list()), d
    if d.fate in (Fate.REJECTED,) or (d.fate is Fate.LEFT_OUT and d.why.startswith("rejected")):
        assert run_rejects and all(r in d.why for r in run_rejects), (d, run_rejects)
    else:
        assert not run_rejects, (d, run_rejects)
    for deeper in d.because:
        _check_dependency(deeper, results)


def check(e: Explanation, results: dict[str, OutputResult], distinct: set[str]) -> set[Fate]:
    """Explain's verdicts for one record against the run's outputs and rejects (of
    ``distinct`` outputs, rows alike are written once); the fates it gave."""
    record = f"{e.entity}/{e.sourced_id}"
    made_from = {name for name, r in results.items() if r.entity == e.entity}
    assert {o.output for o in e.outputs} == made_from
    fates: set[Fate] = set()
    for name in made_from:
        result = results[name]
        verdicts = [o for o in e.outputs if o.output == name]
        fates |= {o.fate for o in verdicts}
        written = any(o.fate is Fate.WRITTEN for o in verdicts)
        in_run = e.sourced_id in set(result.records.to_list())
        # a `distinct` output keeps one record per row alike: a record written may
        # share its row with one before it
        assert in_run == written or (written and name in distinct), (name, verdicts)
        run_rejects = sorted((j.line, j.reason) for j in result.rejects if j.record == record)
        explained = sorted({(j.line, j.reason) for o in verdicts for j in o.rejects})
        assert explained == run_rejects, (name, explained, run_rejects)
        for o in verdicts:
            if o.fate is Fate.LEFT_OUT:
                assert o.dependencies, o
            # a failed rule or reject that found a record not in another output (the run's
            # own membership column) left this one out for it
            failed: list[RejectVerdict | RuleVerdict] = [*o.rejects]
            if o.dropped_by is not None:
                failed.append(o.dropped_by)
            if any(value == "false" and name.startswith("in ")
                   for f in failed for name, value in f.values):
                assert o.fate is Fate.LEFT_OUT, o
            if o.fate in (Fate.DROPPED, Fate.LEFT_OUT) and not o.rejects:
                assert o.dropped_by is not None, o
            for d in o.dependencies:
                _check_dependency(d, results)
    return fates


def run_and_explain(profile: str, root: Path, params: list[str], records: list[str]
                    ) -> tuple[list[Explanation], dict[str, OutputResult], set[str]]:
    """A run of the profile (as `rostermap run --no-state` runs it) and explain's
    verdicts for ``records`` (and the records the run rejected, and those naming them);
    the run's results, and its distinct outputs."""
    result = run(profile, root, None, params, today=TODAY, allow_empty=True)
    module = load_mapping(resolve_profile(profile)).module
    distinct = {plan.name for plan in (build(dict(result.params)) for build in module.OUTPUTS)
                if plan.distinct}
    records = [*records, *sorted({j.record for r in result.outputs for j in r.rejects})[:6],
               *_dependents(root, result.outputs, 6)]
    explained = explain_records(profile, root, list(dict.fromkeys(records)), params, TODAY,
                                show_pii=True)
    return explained, {r.name: r for r in result.outputs}, distinct


@pytest.mark.parametrize("profile", sorted(PARAMS))
# No shrinking: a failure prints its district's seed and damages as drawn, and shrinking
# would run the profile hundreds of times.
@settings(max_examples=7, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(1, 40), version=st.sampled_from(["1.1", "1.2"]),
       damages=st.lists(st.tuples(st.sampled_from(DAMAGES), st.integers(0, 10_000)),
                        min_size=1, max_size=5),
       picks=st.lists(st.integers(0, 10_000), min_size=4, max_size=10))
# a district whose district org is no longer one, a class without terms, a course without a title
@example(seed=16, version="1.2", damages=[
    (Damage("users", "status", "tobedeleted"), 5200), (Damage("orgs", "type", "department"), 692),
    (Damage("classes", "termSourcedIds", "as-gone"), 1392),
    (Damage("courses", "title", ""), 2672), (Damage("orgs", "type", "department"), 8769)],
    picks=[9998, 4168, 258, 7401, 2924, 292, 134, 122, 2383, 3987])
def test_explain_gives_the_runs_verdict(profile: str, seed: int, version: str,
                                        damages: list[tuple[Damage, int]],
                                        picks: list[int]) -> None:
    for root, params in _district(seed, version, damages, profile):
        entities = ("users", "orgs", "classes", "courses", "enrollments", "academicSessions")
        population = [f"{entity}/{row['sourcedId']}" for entity in entities
                      for row in _rows(root, entity)]
        records = [population[p % len(population)] for p in picks]
        explained, results, distinct = run_and_explain(profile, root, params, records)
        for e in explained:
            check(e, results, distinct)


@pytest.mark.parametrize("profile", sorted(PARAMS))
def test_following_records_changes_nothing_the_run_writes(profile: str) -> None:
    """The trace explain asks of the engine only looks: rows, rejects and counts are
    those of a run without it."""
    damages = [(Damage("users", "givenName", ""), 3), (Damage("academicSessions", "startDate",
                                                              "<swap>"), 1)]
    for root, params in _district(5, "1.1", damages, profile):
        module = load_mapping(resolve_profile(profile)).module
        values = parse_params(module.PARAMS, params, TODAY)
        plain = run_outputs(module, load_inputs(module, root, values).tables, values)
        ids = frozenset(r["sourcedId"] for r in _rows(root, "users")[:5])
        trace = Trace({"users": ids})
        traced = run_outputs(module, load_inputs(module, root, values).tables, values,
                             trace=trace)
        for a, b in zip(plain, traced, strict=True):
            assert a.frame.equals(b.frame), a.name
            assert (a.read, a.kept, a.rules, a.rejects, a.warnings, a.counters) == (
                b.read, b.kept, b.rules, b.rejects, b.warnings, b.counters)
            assert a.records.equals(b.records)
