"""Filter pushdown: which record filters a source may apply without changing any output."""

from __future__ import annotations

from rostermap.compiler import compile_mapping
from rostermap.compiler.pushdown import filters
from tests.conftest import MAPPINGS

ACTIVE = 'rule active = status in ("", "active")\n'


def pushed(body: str) -> dict[str, dict[str, frozenset[str]]]:
    compiled = compile_mapping(f"profile t\n{ACTIVE}{body}", "t.rmap")
    assert compiled.plan is not None, [d.message for d in compiled.diagnostics]
    return filters(compiled.plan)


def test_powerschool_learning_pushes_status_everywhere() -> None:
    path = MAPPINGS / "powerschool-learning.rmap"
    compiled = compile_mapping(path.read_text(), str(path))
    assert compiled.plan is not None
    found = filters(compiled.plan)
    assert {e: c["status"] for e, c in found.items()} == {
        e: frozenset({"", "active"}) for e in ("classes", "enrollments", "orgs", "users")}
    # rosters keep students and teachers, the primary-teacher lookup teachers: either
    assert found["enrollments"]["role"] == {"student", "teacher"}


def test_every_output_and_lookup_must_filter() -> None:
    assert pushed("output a.csv from users\n  where active\n  id <- sourcedId\n"
                  "output b.csv from users\n  id <- sourcedId\n") == {}
    assert pushed("output a.csv from classes\n  where active\n  id <- sourcedId\n"
                  "  n <- count(sourcedId of enrollments where class = this)\n"
                  "output b.csv from enrollments\n  where active\n  id <- sourcedId\n"
                  ) == {"classes": {"status": frozenset({"", "active"})}}


def test_membership_in_an_output_of_the_same_entity_carries_its_rules() -> None:
    found = pushed('output a.csv from users\n  where active and role = "student"\n'
                   "  id <- sourcedId\n"
                   "output b.csv from users\n  where this in a.csv\n  id <- sourcedId\n")
    assert found == {"users": {"status": frozenset({"", "active"})}}  # role: derived in 1.2


def test_a_join_into_an_entity_blocks_its_filter() -> None:
    found = pushed('output a.csv from orgs\n  where active\n  id <- sourcedId\n'
                   "output b.csv from classes\n  where active\n  id <- sourcedId\n"
                   "  school_name <- school.name\n")
    assert "orgs" not in found and "classes" in found


def test_only_plain_equalities_on_scalar_fields_are_pushed() -> None:
    found = pushed('output a.csv from classes\n  where active or title = "x"\n'
                   '  where classCode != "A"\n  where "09" in grades\n  id <- sourcedId\n')
    assert found == {}
    found = pushed('output a.csv from classes\n  where classType = "homeroom"\n'
                   '  where classType in ("homeroom", "scheduled")\n  id <- sourcedId\n')
    assert found == {"classes": {"classType": frozenset({"homeroom"})}}
