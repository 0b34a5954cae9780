"""The compile cache: an unchanged mapping is loaded, not compiled; any change to
what it is made of compiles it again; what is loaded is verified; entries live in
the user's cache folder only."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rostermap.compiler import pipeline
from rostermap.runtime.run import cache
from rostermap.runtime.run.loader import load_mapping
from tests.conftest import MAPPINGS


@pytest.fixture
def mappings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of powerschool-learning and the library it imports, and an empty cache."""
    folder = tmp_path / "mappings"
    folder.mkdir()
    for name in ("powerschool-learning.rmap", "oneroster-common.rmap"):
        shutil.copy(MAPPINGS / name, folder / name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("ROSTERMAP_NO_CACHE", raising=False)
    monkeypatch.chdir(tmp_path)
    return folder


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The mappings compiled from their text (not found in the cache)."""
    seen: list[str] = []
    real = pipeline.compile_mapping

    def counting(text: str, filename: str = "<mapping>", resolver=None):  # type: ignore[no-untyped-def]
        seen.append(Path(filename).name)
        return real(text, filename, resolver)

    monkeypatch.setattr(pipeline, "compile_mapping", counting)
    return seen


def entries(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "rostermap" / "compiled").glob("*.json"))


def test_an_unchanged_mapping_is_not_compiled_again(mappings: Path, compiles: list[str],
                                                    tmp_path: Path) -> None:
    first = load_mapping(mappings / "powerschool-learning.rmap")
    assert compiles == ["powerschool-learning.rmap"] and len(entries(tmp_path)) == 1
    second = load_mapping(mappings / "powerschool-learning.rmap")
    assert compiles == ["powerschool-learning.rmap"]  # the cache was hit
    assert second.compiled.code == first.compiled.code and second.sha256 == first.sha256
    assert [b.__name__ for b in second.module.OUTPUTS] == [
        b.__name__ for b in first.module.OUTPUTS]
    assert second.module.__name__ == "rostermap_compiled_powerschool_learning"


def test_a_change_to_the_mapping_or_an_import_compiles_again(mappings: Path,
                                                              compiles: list[str]) -> None:
    profile = mappings / "powerschool-learning.rmap"
    load_mapping(profile)
    profile.write_text(profile.read_text(encoding="utf-8") + "\n# a comment\n",
                       encoding="utf-8")
    load_mapping(profile)
    assert len(compiles) == 2
    library = mappings / "oneroster-common.rmap"
    library.write_text(library.read_text(encoding="utf-8").replace(
        'rule active = status in ("", "active")', 'rule active = status = "active"'),
        encoding="utf-8")
    changed = load_mapping(profile)
    assert len(compiles) == 3
    assert "fn.blank(col('status')) == 'active'" in (changed.compiled.code or "")
    load_mapping(profile)
    assert len(compiles) == 3


def test_a_new_file_that_shadows_an_import_compiles_again(mappings: Path, compiles: list[str],
                                                          tmp_path: Path) -> None:
    # The profile is beside its library; a library of the same name appearing first in
    # the search path (beside the profile) must be noticed.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.move(mappings / "powerschool-learning.rmap", elsewhere / "powerschool-learning.rmap")
    profile = elsewhere / "powerschool-learning.rmap"
    load_mapping(profile)  # oneroster-common from ./mappings
    shutil.copy(mappings / "oneroster-common.rmap", elsewhere / "oneroster-common.rmap")
    load_mapping(profile)
    assert len(compiles) == 2


def test_a_cached_module_is_verified_before_it_runs(mappings: Path, compiles: list[str],
                                                    tmp_path: Path) -> None:
    profile = mappings / "powerschool-learning.rmap"
    load_mapping(profile)
    [entry] = entries(tmp_path)
    data = json.loads(entry.read_text(encoding="utf-8"))
    data["code"] = data["code"].replace("import polars as pl",
                                        "import polars as pl\nimport os\nos.environ['PWNED'] = '1'")
    entry.write_text(json.dumps(data), encoding="utf-8")
    loaded = load_mapping(profile)
    assert len(compiles) == 2  # refused by rostermap.compiler.verify: compiled again
    assert "import os" not in (loaded.compiled.code or "")
    assert "import os" not in json.loads(entry.read_text(encoding="utf-8"))["code"]


def test_a_cached_module_is_verified_and_compiled_once_per_process(
        mappings: Path, compiles: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """verify compiles the tree it walks and the loader executes that code object;
    a process loading the same profile again (a resident worker) reuses it, each
    load into a module of its own."""
    import ast
    import builtins

    from rostermap.compiler import verify
    from rostermap.runtime.run import loader

    profile = mappings / "powerschool-learning.rmap"
    fresh = load_mapping(profile)  # compiled: the compiler's own code object runs
    assert fresh.compiled.bytecode is not None
    assert fresh.module.OUTPUTS[0].__code__.co_filename == "<compiled powerschool-learning.rmap>"
    loader._verified.cache_clear()
    verified: list[str] = []
    real_verify, real_compile = verify.verify, builtins.compile

    def counting(source: str, filename: str):  # type: ignore[no-untyped-def]
        verified.append(filename)
        return real_verify(source, filename)

    def compiling(source, filename, mode, flags=0, *args, **kwargs):  # type: ignore[no-untyped-def]
        if filename == "<compiled powerschool-learning.rmap>" and \
                not flags & ast.PyCF_ONLY_AST:  # ast.parse compiles to a tree only
            verified.append("compile")
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    monkeypatch.setattr(verify, "verify", counting)
    monkeypatch.setattr(builtins, "compile", compiling)
    try:
        first, second = load_mapping(profile), load_mapping(profile)
    finally:
        loader._verified.cache_clear()
    # verified once, and compiled once (by verify): not again to run, nor for the second
    assert compiles == ["powerschool-learning.rmap"]
    assert verified == ["<compiled powerschool-learning.rmap>", "compile"]
    assert first.module is not second.module
    assert first.module.OUTPUTS[0].__code__ is second.module.OUTPUTS[0].__code__
    assert first.module.OUTPUTS[0].__code__.co_filename == \
        fresh.module.OUTPUTS[0].__code__.co_filename


def test_the_cache_lives_in_the_users_cache_folder_only(mappings: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    assert cache.cache_dir() == tmp_path / "cache" / "rostermap" / "compiled"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "rostermap" / "compiled"
    shutil.rmtree(tmp_path / "home")  # made, private, by cache_dir()
    monkeypatch.setenv("ROSTERMAP_NO_CACHE", "1")
    assert cache.cache_dir() is None
    load_mapping(mappings / "powerschool-learning.rmap")
    assert not (tmp_path / "home").exists()
    assert sorted(p.name for p in mappings.iterdir()) == [
        "oneroster-common.rmap", "powerschool-learning.rmap"]


def test_the_grammar_tables_are_kept_in_the_private_cache_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lark's tables (a pickle) go to the user's cache folder, created 0700, and are
    used by the next parser; with caching off, nothing is written anywhere."""
    from rostermap.dsl import parser

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("ROSTERMAP_NO_CACHE", raising=False)
    parser._parser.cache_clear()
    try:
        parser._parser()
        folder = tmp_path / "cache" / "rostermap" / "grammar"
        (kept,) = folder.iterdir()
        assert folder.stat().st_mode & 0o777 == 0o700 and kept.stat().st_size > 0
        parser._parser.cache_clear()
        assert parser._parser().parse("id <- sourcedId\n") is not None  # loaded from it

        monkeypatch.setenv("ROSTERMAP_NO_CACHE", "1")
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "off"))
        parser._parser.cache_clear()
        parser._parser()
        assert not (tmp_path / "off").exists()
    finally:
        parser._parser.cache_clear()


def test_a_cache_folder_someone_else_could_write_to_is_not_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a cache holds gets executed: a folder writable by others, a link, a
    relative XDG_CACHE_HOME or no home at all turn caching off instead."""
    from rostermap.dsl import cachedir, parser

    monkeypatch.delenv("ROSTERMAP_NO_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "shared"))
    folder = cachedir.cache_folder("grammar")
    assert folder is not None and folder.stat().st_mode & 0o777 == 0o700
    planted = folder / "planted.cache"
    planted.write_bytes(b"not a pickle")
    folder.chmod(0o777)  # as if another user had made it
    assert cachedir.cache_folder("grammar") is None
    assert parser._grammar_cache() is False
    folder.chmod(0o700)
    (tmp_path / "shared" / "rostermap").chmod(0o775)
    assert cachedir.cache_folder("compiled") is None and cache.cache_dir() is None

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "linked"))
    (tmp_path / "linked").mkdir()
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    (tmp_path / "linked" / "rostermap").symlink_to(tmp_path / "elsewhere")
    assert cachedir.cache_folder("grammar") is None

    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    assert cachedir.cache_folder("grammar") is None

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert cachedir.cache_folder("grammar") is None


def test_report_pages_are_compiled_once_per_machine(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """report.html's template is compiled into the private cache folder and loaded
    from it by the next process; the page is the same either way, and an edited
    template, a damaged entry or a full disk only costs a compile."""
    import errno

    import jinja2
    from jinja2 import bccache

    from rostermap.runtime.report import html_report, template_cache
    from tests.conftest import CASES

    report = json.loads((CASES / "html_report" / "first-run.json").read_text(encoding="utf-8"))
    monkeypatch.delenv("ROSTERMAP_NO_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    compiled: list[str] = []
    real = jinja2.Environment.compile

    def counting(self: jinja2.Environment, source: str, name: str | None = None,
                 *args: object, **kwargs: object) -> object:
        compiled.append(str(name))
        return real(self, source, name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jinja2.Environment, "compile", counting)

    def page() -> str:
        html_report._template.cache_clear()  # as a new process would
        return html_report.render_html(report)

    try:
        first = page()
        assert compiled.count("report.html.jinja") == 1
        folder = tmp_path / "cache" / "rostermap" / "templates"
        assert folder.stat().st_mode & 0o777 == 0o700 and len(list(folder.iterdir())) == 2
        assert page() == first and compiled.count("report.html.jinja") == 1  # loaded

        for entry in folder.iterdir():
            entry.write_bytes(b"damaged")
        assert page() == first and compiled.count("report.html.jinja") == 2

        def full(*args: object, **kwargs: object) -> object:
            raise OSError(errno.ENOSPC, "No space left on device")

        for entry in folder.iterdir():
            entry.write_bytes(b"damaged")
        with monkeypatch.context() as disk:  # a full disk: rendered all the same
            disk.setattr(bccache.tempfile, "NamedTemporaryFile", full)
            assert page() == first and compiled.count("report.html.jinja") == 3
        assert [e.read_bytes() for e in folder.iterdir()] == [b"damaged", b"damaged"]

        # An edited template is compiled afresh, whatever the cache holds.
        templates = tmp_path / "templates"
        templates.mkdir()
        (templates / "page.jinja").write_text("one", encoding="utf-8")
        store = template_cache._Cache(str(folder), "options")

        def render() -> str:
            return jinja2.Environment(bytecode_cache=store, loader=jinja2.FileSystemLoader(
                templates)).get_template("page.jinja").render()

        assert (render(), render()) == ("one", "one") and compiled.count("page.jinja") == 1
        (templates / "page.jinja").write_text("two", encoding="utf-8")
        assert render() == "two" and compiled.count("page.jinja") == 2

        monkeypatch.setenv("ROSTERMAP_NO_CACHE", "1")
        assert template_cache.environment("rostermap.runtime.report",
                                          "templates").bytecode_cache is None
    finally:
        html_report._template.cache_clear()
