"""A product's gradebook for a generated district, in OneRoster form.

Push profiles read what a product's gradebook exports: categories, lineItems (the
assignments) and results (the scores). This writes them for a package made by
``generate``: for every class still on the roster, ``per_class`` line items, and a
result for each of them for every student enrolled in the class. Categories are
named like a learning product's gradable types, plus a ``TEST`` category that only
some classes use (the PowerSchool push's category rule turns on it) and one type
the PowerSchool push leaves out. Everything follows from the seed: the same
arguments give the same bytes.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path

__all__ = ["CATEGORIES", "write_gradebook"]

# sourcedId -> title; "Homework" is not one of the gradable types the seed lists
CATEGORIES: dict[str, str] = {
    "cat-assignment": "Assignment",
    "cat-assessment": "Assessment",
    "cat-discussion": "Discussion",
    "cat-dropbox": "Dropbox",
    "cat-test": "TEST",
    "cat-homework": "Homework",
}
_LINE_ITEMS_11 = ("sourcedId", "status", "dateLastModified", "title", "description",
                  "assignDate", "dueDate", "classSourcedId", "categorySourcedId",
                  "gradingPeriodSourcedId", "resultValueMin", "resultValueMax")
_LINE_ITEMS_12 = ("sourcedId", "status", "dateLastModified", "title", "description",
                  "assignDate", "dueDate", "classSourcedId", "categorySourcedId",
                  "academicSessionSourcedId", "resultValueMin", "resultValueMax",
                  "schoolSourcedId")
_RESULTS = ("sourcedId", "status", "dateLastModified", "lineItemSourcedId", "studentSourcedId",
            "scoreStatus", "score", "scoreDate", "comment")
_TOPICS = ("Unit 1 quiz", "Reading response", "Lab report", "Chapter test", "Essay draft",
           "Problem set", "Project", "Discussion post")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _write(path: Path, header: tuple[str, ...], rows: Iterable[tuple[object, ...]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def write_gradebook(root: Path, version: str, seed: int, per_class: int,
                    school_year: int) -> dict[str, int]:
    """Write categories.csv, lineItems.csv and results.csv into a generated package's
    folder; returns the rows written per file."""
    rng = random.Random(f"gradebook-{seed}")
    classes = [c for c in _rows(root / "classes.csv") if c["status"] != "tobedeleted"]
    students: dict[str, list[str]] = {}
    for e in _rows(root / "enrollments.csv"):
        if e["role"] == "student" and e["status"] != "tobedeleted":
            students.setdefault(e["classSourcedId"], []).append(e["userSourcedId"])
    start = date(school_year - 1, 9, 1)
    categories = list(CATEGORIES)
    without_test = [c for c in categories if c != "cat-test"]
    items: list[tuple[object, ...]] = []
    results: list[tuple[object, ...]] = []
    for number, cls in enumerate(classes, 1):
        # a third of the classes have a TEST category in their gradebook
        pool = categories if number % 3 == 0 else without_test
        for i in range(1, per_class + 1):
            li = f"li-{number}-{i}"
            category = rng.choice(pool)
            assigned = start + timedelta(days=rng.randrange(0, 200))
            due = assigned + timedelta(days=rng.randrange(1, 15))
            points = rng.choice((10, 20, 25, 50, 100))
            topic = rng.choice(_TOPICS)
            title = f"{topic} {i}"
            description = "" if rng.random() < 0.3 else f"{topic} for {cls['title']}"
            term = cls["termSourcedIds"].split(",")[0]
            row: tuple[object, ...] = (li, "active", "", title, description, assigned.isoformat(),
                                       due.isoformat(), cls["sourcedId"], category, term, 0,
                                       points)
            items.append(row + ((cls["schoolSourcedId"],) if version == "1.2" else ()))
            for student in sorted(students.get(cls["sourcedId"], [])):
                graded = rng.random() >= 0.1
                score = round(rng.uniform(0.4, 1.0) * points, 1) if graded else ""
                results.append((f"res-{li}-{student}", "active", "", li, student,
                                "fully graded" if graded else "not submitted", score,
                                due.isoformat(), ""))
    counts = {
        "categories.csv": _write(root / "categories.csv",
                                 ("sourcedId", "status", "dateLastModified", "title"),
                                 ((k, "active", "", v) for k, v in CATEGORIES.items())),
        "lineItems.csv": _write(root / "lineItems.csv",
                                _LINE_ITEMS_12 if version == "1.2" else _LINE_ITEMS_11, items),
        "results.csv": _write(root / "results.csv", _RESULTS, results),
    }
    return counts
