"""PowerSchool Learning's six import files, by hand: Python's csv module and dicts.

The first bar rostermap must beat: the script an integration engineer
writes for one vendor, row by row, reading a OneRoster 1.1 CSV package. It gives
the same bytes as `rostermap run powerschool-learning` (the benchmark checks), so it
applies the same reading rules: values trimmed, statuses, roles and booleans read
case-insensitively, lists split on commas, rows sorted, missing values empty.
It does not validate, report, or warn; rostermap does.

    python benchmarks/handwritten_csv.py SOURCE OUT --year 2026 [--google-domain D]
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Iterator
from pathlib import Path

ACTIVE = ("", "active")


def rows(source: Path, name: str) -> Iterator[dict[str, str]]:
    with open(source / name, encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            yield {key.strip(): (value or "").strip() for key, value in row.items() if key}


def split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def true(value: str) -> bool:
    return value.lower() in ("true", "1")


def write(out: Path, name: str, header: list[str], body: list[tuple[str, ...]]) -> None:
    body.sort()
    with open(out / name, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--year", type=int, required=True)
    parser.add_argument("--google-domain", default="")
    parser.add_argument("--schools", default="")
    args = parser.parse_args()
    source, out = args.source, args.out
    out.mkdir(parents=True, exist_ok=True)
    schools = set(split(args.schools))
    google = args.google_domain.lower()

    users, users_custom = [], []
    user_ids = set()
    for u in rows(source, "users.csv"):
        role = u.get("role", "").lower()
        orgs = split(u.get("orgSourcedIds", ""))
        if u.get("status", "").lower() not in ACTIVE or u.get("enabledUser", "").lower() in (
                "false", "0"):
            continue
        if role not in ("student", "teacher"):
            continue
        if schools and not schools.intersection(orgs):
            continue
        email = u.get("email", "")
        at = email.rfind("@")
        sso = email if google and at >= 0 and email[at + 1:].lower() == google else ""
        sid = u["sourcedId"]
        users.append((sid, u.get("givenName", ""), u.get("familyName", ""),
                      u.get("username", ""), email, "S" if role == "student" else "T",
                      orgs[0] if orgs else "", "0", sso))
        users_custom.append((sid, u.get("identifier", ""), "", ""))
        user_ids.add(sid)
    write(out, "users.csv", ["user_id", "first_name", "last_name", "login", "email",
                             "user_type", "organization_id", "blocked", "sso_id"], users)
    write(out, "users_custom.csv", ["user_id", "field1", "field2", "field3"], users_custom)

    organizations = [
        (o["sourcedId"], o.get("name", "")) for o in rows(source, "orgs.csv")
        if o.get("status", "").lower() in ACTIVE and (not schools or o["sourcedId"] in schools)
    ]
    write(out, "organizations.csv", ["organization_id", "name"], organizations)

    # One pass over enrollments: each class's primary teachers (of users.csv), and the
    # roster rows.
    teacher: dict[str, str] = {}
    roster = []
    for e in rows(source, "enrollments.csv"):
        if e.get("status", "").lower() not in ACTIVE:
            continue
        role = e.get("role", "").lower()
        cls, user = e.get("classSourcedId", ""), e.get("userSourcedId", "")
        if role == "teacher" and true(e.get("primary", "")) and user in user_ids:
            if cls not in teacher or user < teacher[cls]:
                teacher[cls] = user
        if role in ("student", "teacher") and user in user_ids:
            roster.append((cls, user, "S" if role == "student" else "T"))

    classes, classes_custom = [], []
    class_ids = set()
    for c in rows(source, "classes.csv"):
        school = c.get("schoolSourcedId", "")
        if c.get("status", "").lower() not in ACTIVE or (schools and school not in schools):
            continue
        sid = c["sourcedId"]
        classes.append((sid, c.get("title", ""), c.get("classCode", ""), str(args.year),
                        teacher.get(sid, ""), school))
        classes_custom.append((sid, ",".join(split(c.get("grades", ""))), "", ""))
        class_ids.add(sid)
    write(out, "classes.csv", ["class_id", "name", "code", "year", "teacher_id",
                               "organization_id"], classes)
    write(out, "classes_custom.csv", ["class_id", "field1", "field2", "field3"], classes_custom)

    rosters = list({row for row in roster if row[0] in class_ids})
    write(out, "rosters.csv", ["class_id", "user_id", "role"], rosters)


if __name__ == "__main__":
    main()
