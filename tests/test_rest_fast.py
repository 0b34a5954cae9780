"""The one-pass page reader: the same chunk as the per-record path, and never looser."""

from __future__ import annotations

import copy
import json
from dataclasses import asdict
from typing import Any

import pytest

from rostermap.devtools.serve import build_records
from rostermap.dsl import schema
from rostermap.runtime.sources.rest_records import DTYPES, RecordReader, _fast_plan, validator
from tests.conftest import FIXTURES
from tests.test_rest_records import OWN, sample

EXAMPLE = FIXTURES.parent.parent / "examples" / "district"
BASE = "http://127.0.0.1:8080/ims/oneroster/v1p1"


def _reader(entity: str, version: str) -> RecordReader:
    return RecordReader(entity, list(schema.ENTITIES[entity].fields), version, compat=False)


def _body(entity: str, records: list[Any]) -> bytes:
    return json.dumps({entity: records}).encode()


def _served(version: str) -> dict[str, list[dict[str, Any]]]:
    return build_records(EXAMPLE, version, BASE)[1]


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_every_record_type_has_a_fast_path(version: str) -> None:
    """Each translation is complete, so a valid page never pays the per-record check."""
    for entity in DTYPES:
        if version in schema.ENTITIES[entity].versions:
            assert _fast_plan(version, entity) is not None, entity


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_a_valid_page_reads_as_record_by_record(version: str) -> None:
    for entity, records in _served(version).items():
        reader = _reader(entity, version)
        body = _body(entity, records)
        fast = reader.read_page(body)
        assert fast is not None, entity
        assert asdict(fast) == asdict(reader.read(json.loads(body)[entity])), entity


def test_real_shapes_read_the_same_or_go_record_by_record() -> None:
    """1.2 samples with JSON booleans and empty role arrays: refused by the schema, so
    the fast path declines and the per-record path rejects and explains."""
    for entity in ("orgs", "users", "classes", "enrollments"):
        records = sample(OWN, entity)
        reader = _reader(entity, "1.2")
        slow = reader.read(records)
        fast = reader.read_page(_body(entity, records))
        if slow.rejects:
            assert fast is None, entity
        else:
            assert fast is not None and asdict(fast) == asdict(slow), entity


ODD: list[Any] = [None, "", "x", "x\ny", " ", 0, 1, 1.5, 2**70, True, False, [], [None], {},
                  {"sourcedId": "x"}, ["a", "b"], "2026-02-30", "2026-02-28", "2024-02-29",
                  "2026-01-01T00:00:00Z", "2026-01-01T00:00:00", "2026-01-01 00:00:00Z",
                  "2026-01-01T00:00:00Z\n", "http://a/b", "http://a b", "a:b\nc:d", "ext:x",
                  "ext:", "active", "tobedeleted", "inactive", "true", "TRUE", "2026",
                  "teacher", "student", "org", "primary"]


def _mutants(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The record with each property (and each nested one) missing, or odd, or one more."""
    out: list[dict[str, Any]] = [{**record, "unexpected": "x"}]
    for key, value in record.items():
        out.append({k: v for k, v in record.items() if k != key})
        out.extend({**record, key: odd} for odd in ODD)
        nested = value[0] if isinstance(value, list) and value else value
        if isinstance(nested, dict):
            for inner in nested:
                for odd in [*ODD, "missing"]:
                    changed = copy.deepcopy(record)
                    target = changed[key][0] if isinstance(value, list) else changed[key]
                    if odd == "missing":
                        del target[inner]
                    else:
                        target[inner] = odd
                    out.append(changed)
    return out


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_the_fast_path_accepts_nothing_the_schema_refuses(version: str) -> None:
    """Every property of a record of each type, changed every odd way: when the fast
    path accepts the page, the schema accepts the record and the chunks agree."""
    refused = accepted = 0
    for entity, records in _served(version).items():
        reader = _reader(entity, version)
        check = validator(version, entity, False)
        seen: set[str] = set()
        for record in records:  # a record of each shape (1.2 users: with and without roles)
            shape = json.dumps(sorted(record))
            if shape in seen:
                continue
            seen.add(shape)
            for mutant in _mutants(record):
                body = _body(entity, [record, mutant])
                fast = reader.read_page(body)
                if fast is None:
                    refused += 1
                    continue
                accepted += 1
                assert check.ok(mutant), (entity, mutant)
                slow = reader.read(json.loads(body)[entity])
                assert not slow.rejects and asdict(fast) == asdict(slow), (entity, mutant)
    assert refused > 1000 and accepted > 100  # both ways exercised


def test_json_the_fast_decoder_does_not_read_goes_record_by_record() -> None:
    reader = _reader("orgs", "1.1")
    for body in (b"{", b'{"orgs": [NaN]}', b"\xef\xbb\xbf{\"orgs\": []}", b'{"orgs": null}',
                 b"[]", '{"orgs": []}'.encode("utf-16")):
        assert reader.read_page(body) is None
    assert reader.read_page(b'{"orgs": [], "other": 1}') is not None


def test_compat_mode_always_reads_record_by_record() -> None:
    reader = RecordReader("orgs", ["sourcedId"], "1.1", compat=True)
    assert reader.read_page(_body("orgs", _served("1.1")["orgs"])) is None
