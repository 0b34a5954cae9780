"""Shared fixtures: project paths, a package builder, and a syrupy extension for .py files.

Also what decides which tests run where: the real sample corpus (ROSTERMAP_CORPUS),
a Chromium for the browser tests, and ROSTERMAP_STRICT=1, under which a skip fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import zipfile
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

# The hooks and fixtures below are tested with pytest's `pytester` (tests/test_conftest.py).
# pytester tests the strict-skip hook; tests.reports checks every written report.json.
pytest_plugins = ["pytester", "tests.reports"]

ROOT = Path(__file__).resolve().parent.parent
MAPPINGS = ROOT / "rostermap" / "mappings"
EXAMPLE = ROOT / "examples" / "district"
CASES = Path(__file__).resolve().parent / "cases"
# Small packages and REST responses written for the suite: each shows, in records of
# its own, a quirk of real exports (tests/fixtures/README.md says which).
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SAMPLES = FIXTURES / "samples"


# --- where the suite runs: the corpus, Chromium, strict mode ------------------------------

# The public sample corpus (real exports and the OneRoster OpenAPI document) is not part
# of the project and its licences do not allow copying it in; the tests over it run only
# where ROSTERMAP_CORPUS names a folder holding these.
CORPUS_PARTS = ("oneroster-samples", "oneroster-schemas")


def _corpus() -> Path | None:
    value = os.environ.get("ROSTERMAP_CORPUS", "").strip()
    return Path(value).expanduser().absolute() if value else None


CORPUS: Path | None = _corpus()


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The real sample corpus, for the tests over it (marked ``corpus``).

    Without ROSTERMAP_CORPUS they skip, even under ROSTERMAP_STRICT=1: a user's clone
    has no corpus. With it set, a
    folder that is missing or lacks a part fails them instead, so that a wrong path
    in CI cannot quietly turn them into skips.
    """
    if CORPUS is None:
        pytest.skip("the real sample corpus is not here: set ROSTERMAP_CORPUS to a folder "
                    f"holding {' and '.join(p + '/' for p in CORPUS_PARTS)} to run this test")
    missing = [part for part in CORPUS_PARTS if not (CORPUS / part).is_dir()]
    if missing:
        pytest.fail(f"ROSTERMAP_CORPUS is set to {CORPUS}, which does not hold "
                    f"{' or '.join(p + '/' for p in missing)}", pytrace=False)
    return CORPUS


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of a Chromium (or Chrome) executable, for the tests that open a page in
    a browser. Without one they skip on a developer's machine; CI installs Debian's
    chromium and runs with ROSTERMAP_STRICT=1, where a skip fails."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    pytest.skip("no chromium, chromium-browser or google-chrome executable on PATH "
                "(Debian: apt-get install chromium)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "corpus: runs over the real sample corpus (needs ROSTERMAP_CORPUS)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests over the corpus, so that ``-m corpus`` selects them (or leaves
    them out)."""
    for item in items:
        if "corpus" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.corpus)


def pytest_report_header() -> str:
    return (f"corpus: {CORPUS}" if CORPUS is not None else
            "corpus: not here (ROSTERMAP_CORPUS unset): the tests over it skip")


def _strict() -> bool:
    """Whether a skip fails the run: CI sets ROSTERMAP_STRICT=1, where every test has
    what it needs, so a test that skips there is a test that silently stopped running."""
    return os.environ.get("ROSTERMAP_STRICT", "").strip() == "1"


def _strict_failure(longrepr: object) -> str:
    """The failure text of a skip under strict mode, naming the skip's reason."""
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else longrepr
    reason = str(reason).removeprefix("Skipped: ")
    return f"skipped, and ROSTERMAP_STRICT=1 allows no skip: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport,
                                                                        pytest.TestReport]:
    """Under ROSTERMAP_STRICT=1, a test that ends skipped (a skip marker, a fixture
    that skips, pytest.skip in the test) is reported failed, with the skip's reason.
    An expected failure (xfail) is not a skip and is left as it is."""
    report = yield
    # Without the corpus (a user's clone) its tests have nothing to run on: that skip
    # is no test silently stopped running, and CI, which has the corpus, sets the
    # variable (a wrong one fails them).
    absent_corpus = CORPUS is None and "corpus" in item.keywords
    if report.skipped and not hasattr(report, "wasxfail") and _strict() and not absent_corpus:
        report.outcome = "failed"
        report.longrepr = _strict_failure(report.longrepr)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """The same for a whole module that skips while it is collected."""
    report = yield
    if report.skipped and _strict():
        report.outcome = "failed"
        report.longrepr = _strict_failure(report.longrepr)
    return report


# --- isolation, snapshots and packages -------------------------------------------------


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The compile cache of the whole session lives in a temporary folder, not the
    user's: tests neither read stale entries nor leave any behind."""
    folder = tmp_path_factory.mktemp("xdg-cache")
    os.environ["XDG_CACHE_HOME"] = str(folder)
    return folder


class PythonSnapshot(SingleFileSnapshotExtension):
    """Generated modules snapshotted as real .py files, so reviewers diff Python."""

    file_extension = "py"
    _write_mode = WriteMode.TEXT


class TextSnapshot(SingleFileSnapshotExtension):
    """Output files snapshotted as themselves (CSV text)."""

    file_extension = "txt"
    _write_mode = WriteMode.TEXT


@pytest.fixture(autouse=True)
def _own_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's runs keep their state in a folder of their own, never the user's."""
    monkeypatch.setenv("ROSTERMAP_STATE_DIR", str(tmp_path_factory.mktemp("state")))


@pytest.fixture
def py_snapshot(snapshot):  # type: ignore[no-untyped-def]
    return snapshot.use_extension(PythonSnapshot)


@pytest.fixture
def text_snapshot(snapshot):  # type: ignore[no-untyped-def]
    return snapshot.use_extension(TextSnapshot)


MANIFEST_11 = (
    "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n"
    "file.academicSessions,bulk\nfile.orgs,bulk\nfile.courses,absent\nfile.classes,bulk\n"
    "file.users,bulk\nfile.enrollments,bulk\nfile.demographics,absent\n"
)

ORGS = "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n" \
    "d1,,,District,district,,\ns1,,,North High,school,0001,d1\ns2,,,South Middle,school,0002,d1\n"
USERS = (
    "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,"
    "givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password\n"
    "t1,,,true,s1,teacher,tina,,Tina,Teach,,T-1,tina@d.org,,,,,\n"
    "u1,,,true,s1,student,sam,,Sam,Stu,,S-1,sam@d.org,,,,09,\n"
    "u2,,,true,s2,student,sue,,Sue,Stu,,S-2,sue@other.org,,,,07,\n"
)
CLASSES = (
    "sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,"
    "location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods\n"
    'c1,,,Algebra,"09,10",k1,ALG,scheduled,,s1,y1,,,1\n'
    "c2,,,Science,07,k2,SCI,scheduled,,s2,y1,,,2\n"
)
ENROLLMENTS = (
    "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,"
    "primary,beginDate,endDate\n"
    "e1,,,c1,s1,t1,teacher,true,,\ne2,,,c1,s1,u1,student,,,\ne3,,,c2,s2,u2,student,,,\n"
)
SESSIONS = (
    "sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear\n"
    "y1,,,2025-2026,schoolYear,2025-08-15,2026-06-15,,2026\n"
)


def tiny_files() -> dict[str, str]:
    """A minimal valid 1.1 package: two schools, a teacher, two students."""
    return {
        "manifest.csv": MANIFEST_11,
        "orgs.csv": ORGS,
        "users.csv": USERS,
        "classes.csv": CLASSES,
        "enrollments.csv": ENROLLMENTS,
        "academicSessions.csv": SESSIONS,
    }


@pytest.fixture
def make_package(tmp_path: Path) -> Callable[..., Path]:
    """Write a package (folder or zip) from {file name: text or bytes}."""

    def make(files: dict[str, str | bytes] | None = None, *, as_zip: bool = False,
             name: str = "pkg") -> Path:
        files = dict(tiny_files() if files is None else files)
        if as_zip:
            path = tmp_path / f"{name}.zip"
            with zipfile.ZipFile(path, "w") as archive:
                for file, body in files.items():
                    archive.writestr(file, body)
            return path
        folder = tmp_path / name
        folder.mkdir()
        for file, body in files.items():
            data = body.encode("utf-8") if isinstance(body, str) else body
            (folder / file).write_bytes(data)
        return folder

    return make


@pytest.fixture
def sample_package(tmp_path: Path) -> Callable[..., Path]:
    """One of the suite's own sample packages (tests/fixtures/samples/), as its folder
    or zipped into a temporary file (the form the real exports it imitates come in)."""

    def get(name: str, *, as_zip: bool = False) -> Path:
        folder = SAMPLES / name
        if not folder.is_dir():
            raise FileNotFoundError(f"no sample package {name!r} in {SAMPLES}")
        if not as_zip:
            return folder
        path = tmp_path / f"{name}.zip"
        with zipfile.ZipFile(path, "w") as archive:
            for file in sorted(folder.iterdir()):
                archive.write(file, file.name)
        return path

    return get


# --- OneRoster REST: a real server on a free loopback port --------------------------------

CLIENT_ID = "rostermap-test-client"
SECRET = "rm-secret-3f9c1e7a55d2b0c4"  # planted: no output of the suite may contain it


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """When the whole run ends: no file any test wrote holds the planted secret."""
    yield
    leaked = [str(p) for p in tmp_path_factory.getbasetemp().rglob("*")
              if p.is_file() and not p.is_symlink() and SECRET.encode() in p.read_bytes()]
    assert leaked == [], f"the planted REST secret was written to {leaked}"


@pytest.fixture
def rest_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Credentials in the environment, where the client and the server read them."""
    from rostermap.runtime import redact

    env = {"ROSTERMAP_CLIENT_ID": CLIENT_ID, "ROSTERMAP_CLIENT_SECRET": SECRET}
    for key in ("ROSTERMAP_TOKEN_URL", "ROSTERMAP_AUTH", "ROSTERMAP_SIGNATURE_METHOD",
                "ROSTERMAP_CONFIG", "ROSTERMAP_SCOPE", "ROSTERMAP_ONEROSTER_VERSION"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    redact.register(SECRET)
    return env


@pytest.fixture
def serve(rest_env: dict[str, str]):  # type: ignore[no-untyped-def]
    """Start `rostermap serve`'s server in-process; every one started is stopped after."""
    from rostermap.devtools.serve import Fault, Server
    from rostermap.runtime.sources.config import Credentials

    started: list[Server] = []

    def start(package: Path = EXAMPLE, version: str | None = "1.1", auth: str = "oauth2",
              faults: tuple[str, ...] = (), quirks: tuple[str, ...] = (),
              token_lifetime: float = 3600.0) -> Server:
        credentials = Credentials(auth, CLIENT_ID, SECRET)
        server = Server(package, version, auth, credentials, 0,
                        [Fault.parse(f) for f in faults], quirks, token_lifetime)
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()


def fast_options(**changes: object):  # type: ignore[no-untyped-def]
    """Fetch options for tests: small pages, no rate limit, quick backoff."""
    from dataclasses import replace

    from rostermap.runtime.sources.config import FetchOptions

    base = FetchOptions(page_size=100, rate=0, backoff=0.01, max_backoff=0.05, timeout=5.0,
                        retries=3)
    return replace(base, **changes)


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """A file no one may write: read-only for a user, immutable (chattr) for root, whom
    permissions do not stop."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)
    else:
        path.chmod(0o400)
    try:
        yield
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(0o600)
