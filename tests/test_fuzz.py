"""Fuzzing: whatever a package or a mapping file holds, rostermap ends cleanly.

A package ends in typed tables or in located RM4xx diagnostics (a RunError), and a
mapping text in a compiled, verified module or in diagnostics; nothing else may
escape, whatever the bytes. Inputs are built from the pieces real files are made
of (so the fuzzer reaches past the first check) as well as from raw bytes, and by
mutating valid packages and the project's own mapping files. Example counts come
from tests/fuzzing.py: short in CI, long by hand (see SECURITY.md).

Inputs the fuzzers found are kept as explicit examples.
"""

from __future__ import annotations

import io
import random
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from rostermap.compiler import compile_mapping
from rostermap.dsl.diagnostics import Diagnostic
from rostermap.runtime.engine.tables import load_tables
from rostermap.runtime.errors import RunError
from rostermap.runtime.run.loader import load_mapping, resolver
from rostermap.runtime.sources.csv_package import Limits, open_package
from tests.conftest import MAPPINGS, tiny_files
from tests.fuzzing import fuzz_settings

pytestmark = pytest.mark.fuzz

# What the powerschool-learning profile reads: a realistic set of fields to load.
READS = load_mapping(MAPPINGS / "powerschool-learning.rmap").module.READS
# Small limits, so that the fuzzer reaches them too.
LIMITS = Limits(max_file_bytes=4000, max_records=40, max_field_bytes=60)

_PIECES = st.sampled_from([
    b"u1", b"s1", b"c1", b",", b'"', b'""', b"\n", b"\r\n", b"\r", b" ", b"\t", b"\x00",
    b"\xef\xbb\xbf", b"\xff\xfe", b"\xe9", b"\xc3\xa9", b"\xf0\x9f\x8e\x93", b"true", b"TRUE",
    b"yes", b"2026-01-05", b"1/05/2023", b"student", b"teacher", b"metadata.x", b"sourcedId",
    b"userId", b"orgSourcedIds", b"role", b"primary", b"status", b"active", b"tobedeleted",
    b"schoolSourcedId", b"classSourcedId", b"userSourcedId", b"x" * 70,
])
_CSV = st.one_of(st.binary(max_size=200), st.lists(_PIECES, max_size=40).map(b"".join))
_NAMES = st.sampled_from([
    "manifest.csv", "users.csv", "orgs.csv", "classes.csv", "enrollments.csv", "roles.csv",
    "Users.CSV", "academicSessions.csv", "notes.txt", "a/users.csv", "../users.csv",
    "__MACOSX/._users.csv", ".hidden.csv", "b\\orgs.csv", "/abs.csv",
])
_MANIFESTS = st.sampled_from([
    b"propertyName,value\noneroster.version,1.1\n",
    b"propertyName,value\noneroster.version,1.2\nfile.roles,bulk\n",
    b"propertyName,value\noneroster.version,1.0\nfile.users,delta\n",
    b"propertyName,value\noneroster.version,9\n", b"", b"\xff\xfe", b"a\n\"b",
])


def check_outcome(load: object) -> None:
    """Run ``load``; it must give tables or a RunError of located RM4xx diagnostics."""
    try:
        load()  # type: ignore[operator]
    except RunError as error:
        assert error.diagnostics
        for d in error.diagnostics:
            assert isinstance(d, Diagnostic)
            assert d.code.startswith("RM4"), (d.code, d.message)
            assert d.location is not None and d.location.file, (d.code, d.message)


def load_folder_or_zip(files: dict[str, bytes], as_zip: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        if as_zip:
            path = root / "p.zip"
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
                for name, data in files.items():
                    archive.writestr(name, data)
        else:
            path = root / "p"
            path.mkdir()
            for name, data in files.items():
                if "/" not in name and "\\" not in name:
                    (path / name).write_bytes(data)

        def load() -> None:
            package = open_package(path, LIMITS)
            try:
                tables = load_tables(package, READS)
                for entity, frame in tables.frames.items():
                    lines = frame["__line"].to_list()
                    assert all(line >= 1 for line in lines if line is not None), entity
            finally:
                package.close()

        temporary = root / "temp"  # where zip entries are expanded, and must not stay
        temporary.mkdir()
        saved, tempfile.tempdir = tempfile.tempdir, str(temporary)
        try:
            check_outcome(load)
        finally:
            tempfile.tempdir = saved
        assert list(temporary.iterdir()) == []


@fuzz_settings(150)
@given(files=st.dictionaries(_NAMES, _CSV, max_size=5), manifest=_MANIFESTS,
       as_zip=st.booleans())
@example(files={"users.csv": b"sourcedId\n" + b"x" * 70 + b"\n"}, manifest=b"", as_zip=True)
def test_any_package_loads_or_fails_with_located_diagnostics(
    files: dict[str, bytes], manifest: bytes, as_zip: bool,
) -> None:
    load_folder_or_zip({**{"manifest.csv": manifest}, **files}, as_zip)


@fuzz_settings(150)
@given(users=_CSV, enrollments=_CSV, as_zip=st.booleans())
def test_any_users_and_enrollments_in_a_valid_package(users: bytes, enrollments: bytes,
                                                      as_zip: bool) -> None:
    files = {name: text.encode() for name, text in tiny_files().items()}
    header = files["users.csv"].split(b"\n", 1)[0] + b"\n"
    files["users.csv"] = header + users
    files["enrollments.csv"] = files["enrollments.csv"].split(b"\n", 1)[0] + b"\n" + enrollments
    load_folder_or_zip(files, as_zip)


def _tiny_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in tiny_files().items():
            archive.writestr(name, text)
    return buffer.getvalue()


TINY_ZIP = _tiny_zip()


@fuzz_settings(200)
@given(flips=st.lists(st.tuples(st.integers(0, len(TINY_ZIP) - 1), st.integers(0, 255)),
                      min_size=1, max_size=6),
       cut=st.one_of(st.none(), st.integers(0, len(TINY_ZIP))))
@example(flips=[(1253, 64)], cut=None)  # "zip file version 6.4": NotImplementedError
@example(flips=[(1126, 0)], cut=None)  # an entry without a name: IndexError in zipfile
def test_any_damage_to_a_zip_fails_cleanly(flips: list[tuple[int, int]], cut: int | None) -> None:
    data = bytearray(TINY_ZIP)
    for at, value in flips:
        data[at] = value
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "p.zip"
        path.write_bytes(bytes(data[:cut]))

        def load() -> None:
            package = open_package(path, Limits())
            try:
                load_tables(package, READS)
            finally:
                package.close()

        check_outcome(load)


# --- mapping files -----------------------------------------------------------------------

PROFILES = sorted(MAPPINGS.glob("*.rmap"))
_WORDS = ["profile", "output", "from", "where", "key", "param", "rule", "define", "match",
          "if", "then", "else", "and", "or", "not", "in", "is", "empty", "any", "of", "this",
          "users", "orgs", "x", "a.b", "<-", "->", "=", "!=", "(", ")", "[", "]", ",", ":",
          '"s"', '"', "1", "-1.5", "#", "\n", "  ", "|", "+", ".", "users.csv", "true", "@",
          "extends", "import", "require", "warn", "reject", "counter", "for", "each",
          "sort", "by", "distinct", "list[str]", "table(a, b)", "{", "}", "sourcedId",
          "count(", "first(", "today()", "\\", "\u202e", "\x1b[2J"]


def compiles_or_diagnoses(text: str, name: str) -> None:
    compiled = compile_mapping(text, name, resolver())
    if compiled.code is None:
        assert compiled.diagnostics or compiled.is_library
        for d in compiled.diagnostics:
            assert d.code[:3] in ("RM1", "RM2", "RM3"), (d.code, d.message)
    else:
        compile(compiled.code, name, "exec")  # and it was verified on the way


@fuzz_settings(300)
@given(st.text(max_size=300))
def test_any_text_compiles_or_gives_diagnostics(text: str) -> None:
    compiles_or_diagnoses(text, "<fuzz>")


@fuzz_settings(300)
@given(st.lists(st.sampled_from(_WORDS), max_size=50).map(" ".join))
def test_any_token_soup_compiles_or_gives_diagnostics(text: str) -> None:
    compiles_or_diagnoses("profile p\n" + text, "<fuzz>")


def _mutate(text: str, rng: random.Random, times: int) -> str:
    lines = text.split("\n")
    for _ in range(times):
        what = rng.randrange(6)
        at = rng.randrange(len(lines))
        if what == 0 and len(lines) > 1:
            del lines[at]
        elif what == 1:
            lines.insert(rng.randrange(len(lines)), lines[at])
        elif what == 2:
            other = rng.randrange(len(lines))
            lines[at], lines[other] = lines[other], lines[at]
        elif what == 3:
            words = lines[at].split(" ")
            words[rng.randrange(len(words))] = rng.choice(_WORDS)
            lines[at] = " ".join(words)
        elif what == 4:
            cut = rng.randrange(len(lines[at]) + 1)
            lines[at] = lines[at][:cut]
        else:
            cut = rng.randrange(len(lines[at]) + 1)
            lines[at] = lines[at][:cut] + rng.choice(_WORDS) + lines[at][cut:]
    return "\n".join(lines)


@fuzz_settings(120)
@given(profile=st.sampled_from(PROFILES), seed=st.integers(0, 2**32 - 1),
       times=st.integers(1, 6))
def test_any_mutation_of_a_real_mapping_compiles_or_gives_diagnostics(
    profile: Path, seed: int, times: int,
) -> None:
    text = _mutate(profile.read_text(encoding="utf-8"), random.Random(seed), times)
    compiles_or_diagnoses(text, str(profile))
