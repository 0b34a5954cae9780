"""PowerSchool Learning's six import files, interpreted per record with glom.

What compiling buys: the same transform written as data for a
general-purpose mapping library, glom, which walks the spec for every record (a
dict from csv.DictReader). Filters, columns and the primary-teacher lookup are glom
specs; the driver only reads records, applies specs, keeps ids for membership
tests and sorts. Same bytes as `rostermap run powerschool-learning` (the benchmark
checks).

    python benchmarks/interpreted_glom.py SOURCE OUT --year 2026 [--google-domain D]
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from glom import SKIP, Coalesce, Val, glom

ACTIVE = ("", "active")


def text(field: str) -> tuple[Any, ...]:
    """A field, trimmed, blank when absent."""
    return (Coalesce(field, default=""), str.strip)


def lowered(field: str) -> tuple[Any, ...]:
    return (*text(field), str.lower)


def items(field: str) -> tuple[Any, ...]:
    return (*text(field), lambda v: [p.strip() for p in v.split(",") if p.strip()])


def spec(params: dict[str, Any]) -> dict[str, Any]:
    """The mapping, as glom specs: per output, a `where` spec (true to keep) and a row."""
    schools = set(params["schools"])
    google = params["google_domain"].lower()

    def in_schools(field: str) -> tuple[Any, ...]:
        return (*text(field), lambda v: not schools or v in schools)

    def sso(email: str) -> str:
        at = email.rfind("@")
        return email if google and at >= 0 and email[at + 1:].lower() == google else ""

    role_letter = {"student": "S", "teacher": "T"}
    return {
        "users.csv": {
            "from": "users.csv",
            "where": {
                "active": (lowered("status"), lambda v: v in ACTIVE),
                "enabled": (lowered("enabledUser"), lambda v: v not in ("false", "0")),
                "role": (lowered("role"), lambda v: v in role_letter),
                "schools": (items("orgSourcedIds"),
                            lambda v: not schools or bool(schools.intersection(v))),
            },
            "row": {
                "user_id": text("sourcedId"),
                "first_name": text("givenName"),
                "last_name": text("familyName"),
                "login": text("username"),
                "email": text("email"),
                "user_type": (lowered("role"), role_letter.get),
                "organization_id": (items("orgSourcedIds"), lambda v: v[0] if v else ""),
                "blocked": Val("0"),
                "sso_id": (text("email"), sso),
            },
        },
        "users_custom.csv": {
            "from": "users.csv",
            "member": ("sourcedId", "users.csv"),
            "row": {"user_id": text("sourcedId"), "field1": text("identifier"),
                    "field2": Val(""), "field3": Val("")},
        },
        "organizations.csv": {
            "from": "orgs.csv",
            "where": {"active": (lowered("status"), lambda v: v in ACTIVE),
                      "schools": in_schools("sourcedId")},
            "row": {"organization_id": text("sourcedId"), "name": text("name")},
        },
        "classes.csv": {
            "from": "classes.csv",
            "where": {"active": (lowered("status"), lambda v: v in ACTIVE),
                      "schools": in_schools("schoolSourcedId")},
            "row": {
                "class_id": text("sourcedId"),
                "name": text("title"),
                "code": text("classCode"),
                "year": Val(str(params["year"])),
                "teacher_id": (text("sourcedId"), lambda v: min(
                    (u for u in params["teachers"].get(v, ())
                     if u in params["emitted"]["users.csv"]), default="")),
                "organization_id": text("schoolSourcedId"),
            },
        },
        "classes_custom.csv": {
            "from": "classes.csv",
            "member": ("sourcedId", "classes.csv"),
            "row": {"class_id": text("sourcedId"), "field1": (items("grades"), ",".join),
                    "field2": Val(""), "field3": Val("")},
        },
        "rosters.csv": {
            "from": "enrollments.csv",
            "where": {"active": (lowered("status"), lambda v: v in ACTIVE),
                      "role": (lowered("role"), lambda v: v in role_letter)},
            "member": ("classSourcedId", "classes.csv", "userSourcedId", "users.csv"),
            "distinct": True,
            "row": {"class_id": text("classSourcedId"), "user_id": text("userSourcedId"),
                    "role": (lowered("role"), role_letter.get)},
        },
    }


# The primary-teacher lookup: min(user of enrollments where class = this and role =
# "teacher" and primary and active and user in users.csv), as a `where` spec and the key
# and value it groups (the membership is tested when classes.csv is made).
PRIMARY_TEACHER = {
    "where": {
        "active": (lowered("status"), lambda v: v in ACTIVE),
        "teacher": (lowered("role"), lambda v: v == "teacher"),
        "primary": (lowered("primary"), lambda v: v in ("true", "1")),
        "user": (text("userSourcedId"), bool),
    },
    "key": text("classSourcedId"),
    "value": text("userSourcedId"),
}


def records(source: Path, name: str) -> Iterator[dict[str, str]]:
    with open(source / name, encoding="utf-8-sig", newline="") as handle:
        yield from csv.DictReader(handle)


def interpret(source: Path, out: Path, params: dict[str, Any]) -> None:
    teachers: dict[str, set[str]] = {}
    for record in records(source, "enrollments.csv"):
        if all(glom(record, PRIMARY_TEACHER["where"]).values()):
            cls = glom(record, PRIMARY_TEACHER["key"])
            user = glom(record, PRIMARY_TEACHER["value"])
            teachers.setdefault(cls, set()).add(user)
    emitted: dict[str, set[str]] = {}
    params = {**params, "teachers": teachers, "emitted": emitted}
    for name, output in spec(params).items():
        where = output.get("where", {})
        member = output.get("member", ())
        tests = [(member[i], member[i + 1]) for i in range(0, len(member), 2)]
        row_spec = output["row"]
        rows = []
        ids = set()
        for record in records(source, output["from"]):
            verdicts = glom(record, where) if where else {}
            if not all(verdicts.values()):
                continue
            if any(glom(record, text(field)) not in emitted[other] for field, other in tests):
                continue
            row = glom(record, row_spec)
            if row is SKIP:
                continue
            rows.append(tuple(row.values()))
            ids.add(glom(record, text("sourcedId")))
        emitted[name] = ids
        if output.get("distinct"):
            rows = list(set(rows))
        rows.sort()
        with open(out / name, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(list(row_spec))
            writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--year", type=int, required=True)
    parser.add_argument("--google-domain", default="")
    parser.add_argument("--schools", default="")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    interpret(args.source, args.out, {
        "year": args.year, "google_domain": args.google_domain,
        "schools": [s.strip() for s in args.schools.split(",") if s.strip()],
    })


if __name__ == "__main__":
    main()
