"""report.html: the run's report laid out for people, escaped, capped, and readable in a browser."""

from __future__ import annotations

import copy
import json
import struct
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from rostermap.runtime.redact import forget_all, register
from rostermap.runtime.report.html_report import MAX_RECORDS, MAX_ROWS, render_html
from tests.conftest import CASES

FIXTURES = CASES / "html_report"
HOSTILE = "<script>alert(1)</script>"
SECTIONS = ["run", "held", "outputs", "changes", "rejects", "warnings", "counters", "history",
            "about"]


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


# A small DOM from html.parser, enough to find sections, tables and their cells.

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)

    def walk(self) -> Iterator[Node]:
        yield self
        for c in self.children:
            if isinstance(c, Node):
                yield from c.walk()

    def all(self, tag: str | None = None, cls: str | None = None) -> list[Node]:
        return [n for n in self.walk() if (tag is None or n.tag == tag)
                and (cls is None or cls in n.attrs.get("class", "").split())]

    def by_id(self, id_: str) -> Node | None:
        return next((n for n in self.walk() if n.attrs.get("id") == id_), None)

    @property
    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text for c in self.children]
        return " ".join(" ".join(parts).split())

    def rows(self) -> list[list[str]]:
        """A table's body rows as the text of their cells."""
        (body,) = self.all("tbody")
        return [[c.text for c in tr.children if isinstance(c, Node)] for tr in body.all("tr")]


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if any(n.tag == tag for n in self.stack[1:]):
            while self.stack.pop().tag != tag:
                pass

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root


def section(dom: Node, id_: str) -> Node:
    node = dom.by_id(id_)
    assert node is not None, f"no #{id_}"
    return node


def table_with(node: Node, header: str) -> Node:
    """The table in ``node`` whose header row names ``header``."""
    for table in node.all("table"):
        if any(th.text == header for th in table.all("th") if th.attrs.get("scope") == "col"):
            return table
    raise AssertionError(f"no table with a {header!r} column")


def row(table: Node, first: str) -> list[str]:
    return next(r for r in table.rows() if r[0] == first)


# Content

def test_header_shows_the_run_and_its_outcome() -> None:
    dom = parse(render_html(fixture("held")))
    header = section(dom, "run")
    assert "powerschool-learning" in header.text
    assert [b.text for b in dom.all(cls="badge")] == ["held"]
    assert "badge-held" in dom.all(cls="badge")[0].attrs["class"]
    for shown in ("examples/district", "1.1", "0.163", "2026-11-25 13:19:39 UTC",
                  "7 (base: run 6)"):
        assert shown in header.text
    (started, _) = header.all("time")
    assert started.attrs["datetime"] == "2026-11-25T13:19:39+00:00"


def test_sections_come_in_order() -> None:
    html = render_html(fixture("held"))
    positions = [html.index(f'id="{s}"') for s in SECTIONS]
    assert positions == sorted(positions)


def test_counts_per_output_and_the_rules_that_dropped_records() -> None:
    outputs = section(parse(render_html(fixture("held"))), "outputs")
    counts = table_with(outputs, "Rows written")
    assert row(counts, "users.csv") == ["users.csv", "users", "231", "124", "0", "124"]
    assert row(counts, "rosters.csv") == ["rosters.csv", "enrollments", "420", "400", "0", "400"]
    rules = table_with(outputs, "Rule").rows()
    assert ["users.csv", "25", 'where role in ("student", "teacher")', "100"] in rules
    assert not any(r[2] == "where schools is empty or any of orgs in schools" for r in rules)
    assert "5 other rules dropped nothing." in outputs.text
    assert "users.csv 231" in outputs.text


def test_held_banner_names_each_exceeded_limit_and_the_commands() -> None:
    dom = parse(render_html(fixture("held")))
    banner = section(dom, "held")
    assert "Run held: nothing was published" in banner.text
    assert [li.text for li in banner.all("li")] == [
        "users.csv: 12 of 40 rows of school sch-1 would be deactivated (30%), "
        "over the limit of 20% per school",
        "users.csv: 14 of 120 rows would be deactivated (11.7%), over the limit of 10%",
    ]
    assert [c.text for c in banner.all("code")] == [
        "rostermap approve powerschool-learning 7", "rostermap reject powerschool-learning 7"]


def test_limits_within_bounds_are_listed_but_not_in_the_banner() -> None:
    report = fixture("held")
    report["sync"]["guard"]["limits"].append(
        {"output": "rosters.csv", "action": "delete", "limit": "5%", "school": None,
         "count": 0, "base": 400, "share": 0, "exceeded": False})
    dom = parse(render_html(report))
    assert len(section(dom, "held").all("li")) == 2
    limits = table_with(section(dom, "changes"), "Limit")
    assert row(limits, "rosters.csv") == ["rosters.csv", "delete", "all schools", "0", "400",
                                          "0%", "5%", "within"]
    assert [r[-1] for r in limits.rows()] == ["over", "over", "within"]


def test_changes_per_output_and_per_school() -> None:
    changes = section(parse(render_html(fixture("held"))), "changes")
    assert "Compared with run 6." in changes.text
    table = table_with(changes, "Postponed")
    heads = [th.text for th in table.all("th") if th.attrs.get("scope") == "col"]
    assert heads == ["Output", "Create", "Update", "Deactivate", "Delete", "Reactivate",
                     "Unchanged", "Missing", "Kept", "Postponed"]
    assert row(table, "users.csv") == ["users.csv", "3", "5", "14", "0", "1", "102", "2", "0", "0"]
    schools = table_with(changes, "Deactivated share")
    assert row(schools, "sch-1") == ["sch-1", "40", "1", "2", "12", "0", "0", "30%"]
    assert row(schools, "sch-2") == ["sch-2", "42", "2", "3", "2", "0", "1", "4.8%"]
    over = [td.text for td in schools.all("td", cls="over")]
    assert over == ["30%"]


def test_rejects_and_warnings() -> None:
    dom = parse(render_html(fixture("held")))
    rejects = table_with(section(dom, "rejects"), "Reason")
    assert row(rejects, "users/stu-57") == [
        "users/stu-57", "transform", "users.csv", "email() cannot read the record's value",
        "powerschool-learning.rmap:31"]
    warnings = table_with(section(dom, "warnings"), "Code")
    assert row(warnings, "RM420") == ["RM420", "class has no primary teacher",
                                      "classes.csv, mapping line 81", "2",
                                      "classes/cls-10 , classes/cls-35"]
    assert row(warnings, "RM411")[2] == "enrollments.csv, line 244, userSourcedId"
    assert "note: lines 244" in row(warnings, "RM411")[1]


def test_a_source_reject_points_at_its_field() -> None:
    report = fixture("stateless")
    report["rejects"] = [{"kind": "source", "record": "users/u-9", "entity": "users",
                          "sourcedId": "u-9", "field": "enabledUser",
                          "reason": "'maybe' is not of type 'boolean'"}]
    rejects = table_with(section(parse(render_html(report)), "rejects"), "Reason")
    assert rejects.rows() == [["users/u-9", "source", "users",
                               "'maybe' is not of type 'boolean'", "field enabledUser"]]


def test_counters_and_footer() -> None:
    dom = parse(render_html(fixture("held")))
    counters = table_with(section(dom, "counters"), "Counter")
    assert counters.rows() == [["users.csv", "students", "100"], ["users.csv", "teachers", "24"]]
    about = section(dom, "about")
    assert "0.1.0" in about.text
    assert "/work/main/mappings/powerschool-learning.rmap" in about.text
    (sha,) = [c for c in about.all("code") if c.attrs.get("title")]
    assert sha.text == "4b4b95f26246" and sha.attrs["title"].startswith(sha.text)
    assert table_with(about, "Parameter").rows() == [
        ["year", "2026"], ["google_domain", "willowsprings.k12.us"], ["today", "2026-03-02"],
        ["schools", "[]"]]


def test_long_lists_are_capped_and_the_rest_counted() -> None:
    report = fixture("held")
    report["rejects"] = [{"kind": "transform", "record": f"users/u-{i}", "output": "users.csv",
                          "at": "m.rmap:3", "reason": "bad"} for i in range(MAX_ROWS + 250)]
    report["warnings"][1]["examples"] = [f"classes/c-{i}" for i in range(MAX_RECORDS + 5)]
    report["sync"]["schools"]["users.csv"] = {
        f"s-{i}": {"before": 10, "deactivate": 1} for i in range(MAX_ROWS + 3)}
    dom = parse(render_html(report))
    rejects = section(dom, "rejects")
    assert len(table_with(rejects, "Reason").rows()) == MAX_ROWS
    assert "… and 250 more rejects, not shown here: see report.json." in rejects.text
    assert f"Rejects ({MAX_ROWS + 250})" in rejects.text
    named = row(table_with(section(dom, "warnings"), "Code"), "RM420")[-1]
    assert named.count("classes/c-") == MAX_RECORDS and named.endswith("and 5 more")
    changes = section(dom, "changes")
    assert len(table_with(changes, "Deactivated share").rows()) == MAX_ROWS
    assert "… and 3 more schools" in changes.text


def test_hostile_text_is_escaped_everywhere() -> None:
    report = fixture("held")
    attribute = '" onmouseover="alert(1)'
    report["profile"] = HOSTILE
    report["mapping_sha256"] = attribute
    report["outputs"]["users.csv"]["dropped"][0]["rule"] = HOSTILE
    report["rejects"][0].update(record=HOSTILE, reason=HOSTILE, at=attribute)
    report["warnings"][0]["message"] = HOSTILE
    report["counters"] = {HOSTILE: {HOSTILE: 1}}
    report["params"][HOSTILE] = HOSTILE
    sync = report["sync"]
    sync["schools"]["users.csv"][HOSTILE] = {"before": 5, "deactivate": 5}
    sync["guard"]["limits"][0]["school"] = HOSTILE
    sync["guard"]["approve"] = HOSTILE
    sync["changes"][HOSTILE] = {"create": 1}
    sync["history"][-1]["rows"][HOSTILE] = 5
    sync["history"][-1]["changes"][HOSTILE] = {"create": 5}

    html = render_html(report)
    assert "<script" not in html.lower()
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 15
    dom = parse(html)
    assert dom.all("script") == []
    assert not [n for n in dom.walk() if any(a.startswith("on") for a in n.attrs)]
    assert HOSTILE in section(dom, "held").text
    assert HOSTILE in dom.all("title")[0].text
    assert any(t.text == f"{HOSTILE}: rows per run" for t in dom.all("title"))


def test_registered_secrets_are_masked() -> None:
    report = fixture("stateless")
    report["params"]["token"] = "s3cr3t-value"
    register("s3cr3t-value")
    try:
        html = render_html(report)
    finally:
        forget_all()
    assert "s3cr3t-value" not in html and "[redacted]" in html


def test_the_page_is_self_contained() -> None:
    html = render_html(fixture("held"))
    dom = parse(html)
    assert dom.all("script") == [] and dom.all("link") == [] and dom.all("img") == []
    assert {a.attrs["href"][0] for a in dom.all("a")} == {"#"}
    assert "url(" not in html and "@import" not in html
    assert html.replace('xmlns="http://www.w3.org/2000/svg"', "").count("http") == 0
    assert "@media print" in html


# Without sync state, on a first run, with little history

def test_a_stateless_run_has_no_sync_parts() -> None:
    dom = parse(render_html(fixture("stateless")))
    assert dom.by_id("held") is None
    assert [b.text for b in dom.all(cls="badge")] == ["success"]
    assert "stateless" in section(dom, "run").text
    assert "kept no sync state" in section(dom, "changes").text
    assert "no history of runs" in section(dom, "history").text
    assert dom.all("svg") == []
    assert "Tenant" not in section(dom, "about").text


def test_a_first_run_charts_just_itself() -> None:
    dom = parse(render_html(fixture("first-run")))
    assert "1 (first run)" in section(dom, "run").text
    assert [b.text for b in dom.all(cls="badge")] == ["success"]
    changes = section(dom, "changes")
    assert "First run" in changes.text
    assert row(table_with(changes, "Create"), "rosters.csv")[1] == "400"
    history = section(dom, "history")
    assert "Only this run is recorded so far" in history.text
    charts = history.all("svg")
    assert len(charts) == 12  # rows and changes of six outputs
    for svg in charts:
        assert len(svg.all("circle")) + len(svg.all("rect")) >= 1
        assert [t.text for t in svg.all("text", cls="current")] == ["1"]


def test_a_sync_section_with_nothing_in_it() -> None:
    report = fixture("stateless")
    report["sync"] = {"history": []}
    dom = parse(render_html(report))
    assert "No run recorded yet." in section(dom, "history").text
    assert "The report lists no changes." in section(dom, "changes").text
    assert dom.all("svg") == []


def test_even_an_empty_report_renders() -> None:
    dom = parse(render_html({}))
    assert [b.text for b in dom.all(cls="badge")] == ["unknown"]
    assert "The report lists no output." in section(dom, "outputs").text


def test_dry_run_badge_and_banner() -> None:
    report = fixture("first-run")
    report["sync"]["outcome"] = "dry-run"
    dom = parse(render_html(report))
    assert [b.text for b in dom.all(cls="badge")] == ["dry-run"]
    assert "Dry run: nothing was published" in section(dom, "dry-run").text


def test_charts_show_the_runs_and_mark_the_current_one() -> None:
    history = section(parse(render_html(fixture("held"))), "history")
    rows, _, changes, _ = history.all("svg")
    assert rows.all("title")[0].text == "users.csv: rows per run"
    assert rows.all("desc")[0].text.endswith("run 7 (this run, held): 124 rows")
    assert [t.text for t in rows.all("text", cls="tick") if "y" in t.attrs
            and t.attrs.get("text-anchor") == "middle"] == ["3", "4", "5", "6", "7"]
    assert [t.text for t in rows.all("text", cls="current")] == ["7"]
    (current,) = rows.all("circle", cls="current")
    assert current.all("title")[0].text == "run 7 (this run, held): 124 rows"
    assert {t.text for t in rows.all("text", cls="axis-label")} == {"run", "rows"}
    assert changes.all("title")[0].text == "users.csv: changes per run"
    bars = [r.all("title")[0].text for r in changes.all("rect")]
    assert bars[-3:] == ["run 7 (this run, held): 3 created", "run 7 (this run, held): 5 updated",
                         "run 7 (this run, held): 14 deactivated"]
    assert [t.text for t in changes.all("text", cls="note")] == ["22"]


def test_the_current_run_is_charted_when_history_leaves_it_out() -> None:
    report = fixture("held")
    report["sync"]["history"] = report["sync"]["history"][:-1]
    rows = section(parse(render_html(report)), "history").all("svg")[0]
    assert rows.all("circle", cls="current")[0].all("title")[0].text == \
        "run 7 (this run, held): 124 rows"


def test_many_runs_are_thinned_to_the_last_ones() -> None:
    report = fixture("held")
    report["sync"]["history"] = [
        {"run": n, "outcome": "success", "rows": {"users.csv": 100 + n},
         "changes": {"users.csv": {"create": 1}}} for n in range(1, 101)]
    report["sync"]["run"] = 100
    rows, changes = section(parse(render_html(report)), "history").all("svg")
    assert len(rows.all("circle")) == 30
    assert len(changes.all("rect")) == 12
    labels = [t.text for t in rows.all("text", cls="tick") if t.attrs.get("text-anchor") == "middle"]
    assert labels[-1] == "100" and len(labels) <= 10


# The page as a whole

class HtmlSnapshot(SingleFileSnapshotExtension):
    """The page snapshotted as an .html file, so reviewers can open it."""

    file_extension = "html"
    _write_mode = WriteMode.TEXT


def test_held_run_page(snapshot) -> None:  # type: ignore[no-untyped-def]
    assert render_html(fixture("held")) == snapshot.use_extension(HtmlSnapshot)


def test_rendering_does_not_change_the_report() -> None:
    report = fixture("held")
    before = copy.deepcopy(report)
    render_html(report)
    assert report == before


def test_chromium_renders_the_page(chromium: str, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(fixture("held")), encoding="utf-8")
    shot = tmp_path / "report.png"
    common = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
              f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    subprocess.run([*common, f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri()],
                   capture_output=True, timeout=60, check=True)

    shown = parse(dom)
    counts = table_with(section(shown, "outputs"), "Rows written")
    assert row(counts, "users.csv")[-1] == "124"
    assert "Run held: nothing was published" in section(shown, "held").text
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (1280, 2000)
    assert len(png) > 50_000  # a blank page of that size is a few kilobytes


def test_the_compiled_page_template_is_kept_in_the_private_cache_folder(
        tmp_path: Path, monkeypatch: Any) -> None:
    """jinja2's compiled template (code, executed when loaded) goes to the user's cache
    folder, created 0700, and the next process renders the same page from it; with
    caching off nothing is written."""
    from rostermap.runtime.report import html_report

    report = {"profile": "p", "outputs": []}
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("ROSTERMAP_NO_CACHE", raising=False)
    html_report._template.cache_clear()
    try:
        page = render_html(report)
        folder = tmp_path / "cache" / "rostermap" / "templates"
        kept = list(folder.iterdir())  # the page's template and those it includes
        assert folder.stat().st_mode & 0o777 == 0o700 and kept
        assert all(p.stat().st_size > 0 for p in kept)
        html_report._template.cache_clear()
        assert render_html(report) == page  # from the cache

        monkeypatch.setenv("ROSTERMAP_NO_CACHE", "1")
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "off"))
        html_report._template.cache_clear()
        assert render_html(report) == page
        assert not (tmp_path / "off").exists()
    finally:
        html_report._template.cache_clear()
