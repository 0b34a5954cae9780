"""What tests/conftest.py decides about the suite itself: ROSTERMAP_STRICT=1 turns a
skip into a failure that names the skip's reason, the corpus tests skip (even in strict mode) without
ROSTERMAP_CORPUS and fail with a wrong one, and the browser tests find Chromium.

Each case runs a small test file in a pytest session of its own (pytest's pytester),
whose conftest takes the hooks and fixtures from the suite's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import tests.conftest
from tests.conftest import CORPUS_PARTS, _corpus

CONFTEST = """
from tests.conftest import (chromium, corpus, pytest_collection_modifyitems, pytest_configure,
                            pytest_make_collect_report, pytest_runtest_makereport)
"""
SKIPPING = """
import pytest

@pytest.fixture
def absent():
    pytest.skip("the fixture has nothing to give")

def test_passes():
    pass

def test_skips_in_the_body():
    pytest.skip("no widget here")

@pytest.mark.skipif(True, reason="a marker says so")
def test_skipped_by_a_marker():
    pass

def test_skipped_by_a_fixture(absent):
    pass

@pytest.mark.xfail(reason="known to fail", strict=True)
def test_expected_to_fail():
    assert False
"""


@pytest.fixture
def session(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester whose sessions use the suite's hooks and fixtures, and whose strict
    mode and corpus are set by each test, not inherited from the outer run."""
    pytester.makeconftest(CONFTEST)
    # The sessions run in this process: syrupy keeps its session in a module global,
    # which one of theirs would take over from the suite's (the suite's snapshots of
    # skipped tests would then count as unused). Hypothesis' plugin takes a second to
    # set up, in every session. These sessions need neither.
    pytester.makeini("[pytest]\naddopts = -p no:syrupy -p no:hypothesispytest "
                     "-p no:cacheprovider\n")
    monkeypatch.delenv("ROSTERMAP_STRICT", raising=False)
    monkeypatch.setattr(tests.conftest, "CORPUS", None)
    return pytester


def test_skips_are_skips_without_strict_mode(session: pytest.Pytester) -> None:
    session.makepyfile(SKIPPING)
    result = session.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=3, xfailed=1)
    result.stdout.fnmatch_lines(["*no widget here*", "*a marker says so*",
                                 "*the fixture has nothing to give*"])
    assert result.ret == pytest.ExitCode.OK


@pytest.mark.parametrize("value", ["", "0", "true", "yes"])
def test_only_1_turns_strict_mode_on(session: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                     value: str) -> None:
    monkeypatch.setenv("ROSTERMAP_STRICT", value)
    session.makepyfile(SKIPPING)
    session.runpytest().assert_outcomes(passed=1, skipped=3, xfailed=1)


def test_strict_mode_fails_every_skip_naming_its_reason(session: pytest.Pytester,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROSTERMAP_STRICT", "1")
    session.makepyfile(SKIPPING)
    result = session.runpytest()
    # A skip in the test's body fails it; one before the body (a marker, a fixture)
    # fails its setup, which pytest counts as an error. An xfail is not a skip.
    result.assert_outcomes(passed=1, failed=1, errors=2, xfailed=1)
    result.stdout.fnmatch_lines_random([
        "*skipped, and ROSTERMAP_STRICT=1 allows no skip: no widget here*",
        "*skipped, and ROSTERMAP_STRICT=1 allows no skip: a marker says so*",
        "*skipped, and ROSTERMAP_STRICT=1 allows no skip: the fixture has nothing to give*",
    ])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_strict_mode_fails_a_module_that_skips_while_collected(
    session: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = 'import pytest\npytest.importorskip("no_such_module_here")\n\ndef test_x():\n    pass\n'
    session.makepyfile(source)
    session.runpytest().assert_outcomes(skipped=1)
    monkeypatch.setenv("ROSTERMAP_STRICT", "1")
    result = session.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ROSTERMAP_STRICT=1 allows no skip: could not import "
                                 "'no_such_module_here'*"])


# --- the corpus ------------------------------------------------------------------------------

USES_CORPUS = """
import pytest

def test_reads_the_corpus(corpus):
    assert (corpus / "oneroster-samples").is_dir()

def test_does_not(request):
    assert "corpus" not in request.node.keywords
"""


@pytest.mark.parametrize("strict", ["", "1"])
def test_corpus_tests_skip_without_the_variable_even_in_strict_mode(
        session: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, strict: str) -> None:
    # a user's clone has no corpus: its tests are not run, and strict mode passes
    monkeypatch.setenv("ROSTERMAP_STRICT", strict)
    session.makepyfile(USES_CORPUS)
    result = session.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*set ROSTERMAP_CORPUS to a folder holding "
                                 "oneroster-samples/ and oneroster-schemas/*"])



@pytest.mark.parametrize("parts", [(), ("oneroster-samples",)])
def test_corpus_tests_fail_when_the_variable_names_no_corpus(
    session: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    parts: tuple[str, ...],
) -> None:
    folder = tmp_path / "corpus"
    for part in parts:
        (folder / part).mkdir(parents=True)
    monkeypatch.setattr(tests.conftest, "CORPUS", folder)
    session.makepyfile(USES_CORPUS)
    result = session.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([f"*ROSTERMAP_CORPUS is set to {folder}, which does not hold "
                                 "*oneroster-schemas/*"])


def test_corpus_tests_run_and_are_marked_with_a_corpus(session: pytest.Pytester,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    for part in CORPUS_PARTS:
        (tmp_path / "corpus" / part).mkdir(parents=True)
    monkeypatch.setattr(tests.conftest, "CORPUS", tmp_path / "corpus")
    session.makepyfile(USES_CORPUS)
    session.runpytest().assert_outcomes(passed=2)
    session.runpytest("-m", "corpus").assert_outcomes(passed=1, deselected=1)
    session.runpytest("-m", "not corpus").assert_outcomes(passed=1, deselected=1)


def test_the_variable_names_the_corpus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ROSTERMAP_CORPUS", raising=False)
    assert _corpus() is None
    monkeypatch.setenv("ROSTERMAP_CORPUS", "  ")
    assert _corpus() is None
    monkeypatch.setenv("ROSTERMAP_CORPUS", str(tmp_path))
    assert _corpus() == tmp_path
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ROSTERMAP_CORPUS", "data")
    assert _corpus() == tmp_path / "data"


# --- Chromium ----------------------------------------------------------------------------------

USES_CHROMIUM = """
def test_opens_a_browser(chromium):
    print("browser:", chromium)
"""


def test_browser_tests_skip_without_chromium(session: pytest.Pytester,
                                             monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    session.makepyfile(USES_CHROMIUM)
    result = session.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*no chromium, chromium-browser or google-chrome executable "
                                 "on PATH (Debian: apt-get install chromium)*"])
    monkeypatch.setenv("ROSTERMAP_STRICT", "1")
    session.runpytest().assert_outcomes(errors=1)


@pytest.mark.parametrize("name", ["chromium", "chromium-browser", "google-chrome"])
def test_browser_tests_get_the_first_chromium_on_path(session: pytest.Pytester,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path, name: str) -> None:
    browser = tmp_path / name
    browser.write_text("#!/bin/sh\n")
    browser.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    session.makepyfile(USES_CHROMIUM)
    result = session.runpytest("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*browser: {browser}"])
