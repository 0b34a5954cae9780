"""Every report.json a test writes is checked against the published JSON Schema.

A pytest plugin (registered in conftest.py): at the end of the session it reads every
report.json under the session's temporary folders, and fails the session, naming
each file, if one does not validate against docs/report.schema.json. A test that
writes a report need not remember to check it; a field added without the schema
being regenerated fails here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

SCHEMA = Path(__file__).resolve().parent.parent / "docs" / "report.schema.json"
# a push's report.json says so ("kind": "push") and has a schema of its own
PUSH_SCHEMA = SCHEMA.with_name("push-report.schema.json")


def invalid_reports(root: Path) -> Iterator[str]:
    """Each report.json under ``root`` that breaks the schema, with its first problem."""
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    pushes = jsonschema.Draft202012Validator(json.loads(PUSH_SCHEMA.read_text()))
    for path in sorted(root.rglob("report.json")):
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            yield f"{path}: not JSON: {error}"
            continue
        checker = pushes if isinstance(report, dict) and report.get("kind") == "push" else (
            validator)
        error = jsonschema.exceptions.best_match(checker.iter_errors(report))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(top)"
            yield f"{path}: {where}: {error.message}"


@pytest.fixture(autouse=True, scope="session")
def reports_match_the_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    yield
    problems = list(invalid_reports(tmp_path_factory.getbasetemp()))
    assert not problems, "reports that break docs/report.schema.json:\n" + "\n".join(problems)
