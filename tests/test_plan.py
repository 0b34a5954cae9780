"""The checker's output and the planner: what each output reads and in which steps."""

from __future__ import annotations

from rostermap.compiler import compile_mapping, ir
from rostermap.compiler import plan as p


def planned(body: str, header: str = "") -> p.Plan:
    compiled = compile_mapping(f"profile t\n{header}{body}", "t.rmap")
    assert compiled.plan is not None, [d.message for d in compiled.diagnostics]
    return compiled.plan


def test_reads_only_the_fields_used() -> None:
    plan = planned("output o.csv from classes\n  where school.name != \"\"\n"
                   "  id <- sourcedId\n  t <- title\n")
    assert plan.reads == {"classes": ("school", "sourcedId", "title"),
                          "orgs": ("name", "sourcedId")}


def test_joins_for_rules_run_before_the_filter_and_the_rest_after() -> None:
    plan = planned(
        "output o.csv from classes\n"
        "  where school.type = \"school\"\n"
        "  id <- sourcedId\n"
        "  school_name <- school.name\n"
        "  course <- course.title\n"
        "  n <- count(sourcedId of enrollments where class = this)\n"
    )
    (out,) = plan.outputs
    assert len(out.before) == 1
    join = out.before[0]
    assert isinstance(join, p.JoinStep) and join.entity == "orgs"
    # the school join made for the rule also carries the column's field: one join, two fields
    assert join.fields == (("school.type", "type"), ("school.name", "name"))
    kinds = [type(s).__name__ for s in out.after]
    assert kinds == ["JoinStep", "LookupStep"]
    lookup = out.after[1]
    assert isinstance(lookup, p.LookupStep) and lookup.aggregate == "count"


def test_lookup_is_tied_by_its_key_and_filtered_by_the_rest() -> None:
    plan = planned("output o.csv from classes\n"
                   "  t <- min(user.sourcedId of enrollments where role = \"teacher\" "
                   "and this = class and primary)\n")
    (step,) = plan.outputs[0].after
    assert isinstance(step, p.LookupStep)
    assert isinstance(step.key, ir.FieldRead) and step.key.name == "class"
    assert isinstance(step.on, ir.FieldRead) and (step.on.name, step.on.scope) == ("sourcedId", 0)
    assert isinstance(step.where, ir.And) and len(step.where.operands) == 2
    assert step.aggregate == "min"


def test_correlation_through_a_field_of_the_outer_record() -> None:
    plan = planned("output o.csv from enrollments\n"
                   "  classmates <- count(sourcedId of enrollments where class = this.class)\n")
    (step,) = plan.outputs[0].after
    assert isinstance(step, p.LookupStep)
    assert isinstance(step.on, ir.FieldRead) and step.on.name == "class"


def test_same_expression_is_one_derived_column() -> None:
    plan = planned("output o.csv from classes\n"
                   "  a <- school.name\n  b <- lower(school.name)\n  c <- school.parent.name\n")
    steps = plan.outputs[0].after
    assert [s.entity for s in steps if isinstance(s, p.JoinStep)] == ["orgs", "orgs"]
    first, second = steps
    assert isinstance(first, p.JoinStep) and isinstance(second, p.JoinStep)
    assert [c for c, _ in first.fields] == ["school.name", "school.parent"]
    assert second.fields == (("school.parent.name", "name"),)


def test_outputs_follow_the_outputs_they_use() -> None:
    plan = planned(
        "output rosters.csv from enrollments\n  where user in users.csv\n  u <- user.sourcedId\n"
        "output users.csv from users\n  id <- sourcedId\n"
    )
    assert [o.output.name for o in plan.outputs] == ["users.csv", "rosters.csv"]
    assert plan.outputs[1].output.depends_on == ("users.csv",)
    (member,) = plan.outputs[1].before
    assert isinstance(member, p.MemberStep) and member.output == "users.csv"


def test_rules_are_inlined_where_used() -> None:
    plan = planned("output o.csv from users\n  where ok\n  id <- sourcedId\n",
                   header='rule ok = status = "" and role = "student"\n')
    (rule,) = plan.outputs[0].rules
    assert isinstance(rule.test, ir.And)
    assert rule.text == "where ok"


def test_a_definition_called_with_other_arguments_is_another_lookup() -> None:
    # A `define` is expanded at each call: its lookup is at one place in the file, but
    # enrolments_of(user) and enrolments_of(class) are two lookups, not one column.
    plan = planned("output o.csv from enrollments\n"
                   "  a <- enrolments_of(user)\n  b <- enrolments_of(class)\n"
                   "  c <- enrolments_of(user)\n",
                   "define enrolments_of(who) = count(sourcedId of enrollments where user = who)\n")
    steps = [s for s in plan.outputs[0].after if isinstance(s, p.LookupStep)]
    assert [s.on.name for s in steps if isinstance(s.on, ir.FieldRead)] == ["user", "class"]
    columns = [c.value for c in plan.outputs[0].columns]
    assert columns[0] == columns[2] != columns[1]
