"""Push profiles end to end: a generated gradebook pushed over real HTTP to
``rostermap serve`` on 127.0.0.1, and what the server stored read back.

The expected bodies are built here from the gradebook's CSV files and the seed's
tables (seed 003, "Grade Mappings" and "Assignment Scores"), not from the profiles.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from rostermap.cli.main import main
from rostermap.devtools.generate import generate
from rostermap.devtools.serve import Fault, Server
from rostermap.runtime.errors import UsageError
from rostermap.runtime.redact import MASK
from rostermap.runtime.sources.config import Credentials, FetchOptions, SourceConfig
from rostermap.runtime.sync.push import PushOptions, push, watch

TYPES = {"Dropbox", "Assignment", "LTI_SCORM", "Discussion", "Wiki", "Assessment"}
FAST = FetchOptions(backoff=0.001, max_backoff=0.01, retries=2, timeout=10.0)
NONE = SourceConfig(Credentials("none"), FAST)
V11 = "/ims/oneroster/v1p1"


@pytest.fixture(scope="module")
def gradebook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gradebook") / "district"
    generate(out, students=20, seed=7, gradebook=2)
    return out


@pytest.fixture
def server(gradebook: Path) -> Iterator[Server]:
    with Server(gradebook, auth="none") as srv:
        yield srv


def rows(package: Path, name: str) -> list[dict[str, str]]:
    with (package / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def writes(srv: Server) -> list[tuple[str, str, int]]:
    return [(r.method, r.path, r.status) for r in srv.requests
            if r.method in ("POST", "PUT") and r.path != "/oauth/token"]


def number(text: str) -> float:
    return float(text)


# --- PowerSchool SIS --------------------------------------------------------------------

def expected_assignments(package: Path) -> dict[str, dict[str, object]]:
    """lineItem sourcedId -> the assignment body the seed's "Grade Mappings" make."""
    titles = {c["sourcedId"]: c["title"] for c in rows(package, "categories")}
    items = rows(package, "lineItems")
    with_test = {i["classSourcedId"] for i in items if titles[i["categorySourcedId"]] == "TEST"}
    out: dict[str, dict[str, object]] = {}
    for i in items:
        if titles[i["categorySourcedId"]] not in TYPES:
            continue
        out[i["sourcedId"]] = {
            "name": i["title"],
            "standardcalcdirection": "NONE",
            "assignment_section": {
                "sections_dcid": i["classSourcedId"],
                "name": i["title"],
                "description": i["description"] or i["title"],
                "duedate": i["dueDate"],
                "publish_option": "Immediately",
                "score_entry_points": number(i["resultValueMax"]),
                "extracreditpoints": 0,
                "weight": 1,
                "totalpointvalue": number(i["resultValueMax"]),
                "_onlinework": {"issubtypeopt1enabled": False},
                "_assignmentcategoryassociations": {
                    "teachercategoryid": "TEST" if i["classSourcedId"] in with_test
                    else "UNDEFINED",
                    "isprimary": True,
                },
            },
        }
    return out




def test_powerschool_push_stores_the_seed_fields_and_fixed_values(
        gradebook: Path, server: Server, tmp_path: Path) -> None:
    result = push("powerschool-grade-push", gradebook,
                  PushOptions(server.root, state=tmp_path / "s.sqlite", out=tmp_path / "out"),
                  config=NONE)
    assert result.report.outcome == "success"
    expected = expected_assignments(gradebook)
    assert len(expected) > 20 and {"TEST", "UNDEFINED"} <= {
        a["assignment_section"]["_assignmentcategoryassociations"]["teachercategoryid"]  # type: ignore[index]
        for a in expected.values()}
    stored = server.gradebook.assignments
    assert sorted(stored.values(), key=json.dumps) == sorted(expected.values(), key=json.dumps)
    # "score/assignment_id gradable.remote_gradable.external_id": the id the SIS made
    ids = {a["name"] + a["assignment_section"]["sections_dcid"]: made  # type: ignore[index,operator]
           for made, a in stored.items()}
    by_item = {li: ids[str(a["name"]) + str(a["assignment_section"]["sections_dcid"])]  # type: ignore[index]
               for li, a in expected.items()}
    scores = {(by_item[r["lineItemSourcedId"]], r["studentSourcedId"]): {
        "assignment_id": int(by_item[r["lineItemSourcedId"]]),
        "student_id": r["studentSourcedId"],
        "assignment_score": {"score_entered": number(r["score"])}}
        for r in rows(gradebook, "results") if r["score"] and r["lineItemSourcedId"] in by_item}
    assert server.gradebook.scores == scores
    # an assignment is created before its scores, and each once
    methods = [m for m, p, _ in writes(server)]
    assert methods.count("POST") == len(expected)
    assert methods.index("PUT") == len(expected)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert len(report["writes"]) == len(expected) + len(scores)
    assert {w["outcome"] for w in report["writes"]} == {"created", "written"}
    assert "score_entered" not in (tmp_path / "out" / "report.html").read_text()


def test_second_push_with_one_changed_score_sends_one_request(
        gradebook: Path, server: Server, tmp_path: Path) -> None:
    package = tmp_path / "district"
    shutil.copytree(gradebook, package)
    state = tmp_path / "s.sqlite"
    push("powerschool-grade-push", package, PushOptions(server.root, state=state), config=NONE)
    before = len(writes(server))
    unchanged = push("powerschool-grade-push", package, PushOptions(server.root, state=state),
                     config=NONE)
    assert len(writes(server)) == before and unchanged.report.writes == []

    results = rows(package, "results")
    changed = next(r for r in results if r["score"] and r["lineItemSourcedId"] in
                   expected_assignments(package))
    changed["score"] = "0.5"
    with (package / "results.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(results[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(results)
    again = push("powerschool-grade-push", package, PushOptions(server.root, state=state),
                 config=NONE)
    sent = writes(server)[before:]
    assert sent == [("PUT", "/ws/xte/score", 200)]
    assert [(w.push, w.key) for w in again.report.writes] == [("scores", changed["sourcedId"])]
    # "will overwrite the existing score"
    assert {s["assignment_score"]["score_entered"] for s in server.gradebook.scores.values()
            if s["student_id"] == changed["studentSourcedId"]} >= {0.5}


def test_a_failed_write_does_not_stop_the_others_and_the_rerun_duplicates_nothing(
        gradebook: Path, server: Server, tmp_path: Path) -> None:
    state = tmp_path / "s.sqlite"
    # the first assignment's create is answered 500: not retried (the target may have
    # made it), while the other writes go on; its scores wait
    server.faults.append(Fault.parse("500,entity=assignment,times=1"))
    config = NONE
    first = push("powerschool-grade-push", gradebook,
                 PushOptions(server.root, state=state, out=tmp_path / "out"), config=config)
    assert first.report.outcome == "partial" and first.exit_code == 3
    failed = [w for w in first.report.writes if w.outcome == "failed"]
    assert len(failed) == 1 and "injected fault 500" in failed[0].message
    assert failed[0].attempts == 1 and failed[0].status == 500
    skipped = [w for w in first.report.writes if w.outcome == "skipped"]
    assert skipped and all(w.push == "scores" for w in skipped)
    expected = expected_assignments(gradebook)
    assert len(server.gradebook.assignments) == len(expected) - 1
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["outcome"] == "partial"

    before = len(writes(server))
    second = push("powerschool-grade-push", gradebook, PushOptions(server.root, state=state),
                  config=config)
    assert second.report.outcome == "success"
    assert [m for m, _, _ in writes(server)[before:]] == ["POST"] + ["PUT"] * len(skipped)
    assert len(server.gradebook.assignments) == len(expected)


def test_a_push_cut_short_resumes_without_duplicate_assignments(
        gradebook: Path, server: Server, tmp_path: Path) -> None:
    state = tmp_path / "s.sqlite"
    # every score write fails (after its retries): the push stops short of the scores
    server.faults.append(Fault.parse("503,entity=score,times=0"))
    first = push("powerschool-grade-push", gradebook, PushOptions(server.root, state=state),
                 config=NONE)
    assert first.report.outcome == "partial" and server.gradebook.scores == {}
    made = dict(server.gradebook.assignments)
    server.faults.clear()
    second = push("powerschool-grade-push", gradebook, PushOptions(server.root, state=state),
                  config=NONE)
    assert second.report.outcome == "success"
    assert server.gradebook.assignments == made  # none created twice
    assert {w.push for w in second.report.writes} == {"scores"}


def test_a_create_is_not_retried_after_a_500_but_is_after_a_503(
        gradebook: Path, server: Server, tmp_path: Path) -> None:
    # A POST answered 500 may have made the record: sending it again could make two.
    server.faults.append(Fault.parse("500,entity=assignment,times=1"))
    first = push("powerschool-grade-push", gradebook,
                 PushOptions(server.root, state=tmp_path / "a.sqlite"), config=NONE)
    posts = [w for w in writes(server) if w[0] == "POST"]
    assert first.report.outcome == "partial"
    assert len(posts) == len(expected_assignments(gradebook))  # the refused one sent once
    # 503 says the request was not acted on: a create is retried, and succeeds.
    server.faults.clear()
    server.requests.clear()
    server.faults.append(Fault.parse("503,entity=assignment,times=1"))
    second = push("powerschool-grade-push", gradebook,
                  PushOptions(server.root, state=tmp_path / "b.sqlite"), config=NONE)
    assert second.report.outcome == "success"


def test_watch_pushes_when_the_gradebook_changes_and_not_otherwise(
        gradebook: Path, server: Server, tmp_path: Path) -> None:
    source = tmp_path / "gradebook"
    shutil.copytree(gradebook, source)
    pushed: list[int] = []
    looks = iter(range(4))

    def stop() -> bool:  # four looks at the source, the third after an edit
        n = next(looks, None)
        if n == 2:
            results = source / "results.csv"
            header, first, *rest = results.read_text(encoding="utf-8").splitlines()
            fields = first.split(",")
            fields[header.split(",").index("score")] = "9.75"
            results.write_text("\n".join([header, ",".join(fields), *rest]) + "\n",
                               encoding="utf-8")
        return n is None

    watch("powerschool-grade-push", source, PushOptions(server.root, state=tmp_path / "s"),
          0.01, lambda r: pushed.append(len(r.report.writes)), config=NONE, stop=stop)
    assert len(pushed) == 2 and pushed[0] > 0 and pushed[1] >= 1


# --- OneRoster ----------------------------------------------------------------------------

def test_oneroster_push_puts_line_items_and_results(
        gradebook: Path, server: Server, tmp_path: Path) -> None:
    server.faults.append(Fault.parse("429=0.01,entity=results,times=1"))
    result = push("oneroster-gradebook", gradebook,
                  PushOptions(server.root + V11, state=tmp_path / "s.sqlite"), config=NONE)
    assert result.report.outcome == "success"
    stored = server.gradebook.oneroster
    items = rows(gradebook, "lineItems")
    assert stored["lineItems"] == {i["sourcedId"]: {
        "sourcedId": i["sourcedId"], "status": "active", "title": i["title"],
        "description": i["description"] or i["title"], "assignDate": i["assignDate"],
        "dueDate": i["dueDate"],
        "class": {"sourcedId": i["classSourcedId"], "type": "class"},
        "category": {"sourcedId": i["categorySourcedId"], "type": "category"},
        "gradingPeriod": {"sourcedId": i["gradingPeriodSourcedId"], "type": "academicSession"},
        "resultValueMin": number(i["resultValueMin"]),
        "resultValueMax": number(i["resultValueMax"])} for i in items}
    assert stored["results"] == {r["sourcedId"]: {
        "sourcedId": r["sourcedId"], "status": "active",
        "lineItem": {"sourcedId": r["lineItemSourcedId"], "type": "lineItem"},
        "student": {"sourcedId": r["studentSourcedId"], "type": "user"},
        "scoreStatus": r["scoreStatus"], "scoreDate": r["scoreDate"],
        **({"score": number(r["score"])} if r["score"] else {})}
        for r in rows(gradebook, "results")}
    # every line item before any result; the 429 was retried
    paths = [p for _, p, s in writes(server) if s < 300]
    assert max(i for i, p in enumerate(paths) if "/lineItems/" in p) < min(
        i for i, p in enumerate(paths) if "/results/" in p)
    assert any(s == 429 for _, _, s in writes(server))
    again = push("oneroster-gradebook", gradebook,
                 PushOptions(server.root + V11, state=tmp_path / "s.sqlite"), config=NONE)
    assert again.report.writes == [] and again.report.counts["results"]["unchanged"] == len(
        stored["results"])


# --- the command --------------------------------------------------------------------------

SECRET = "push-secret-0123456789"


def test_cli_push_with_oauth2_from_the_environment_and_a_dry_run(
        gradebook: Path, tmp_path: Path) -> None:
    credentials = Credentials("oauth2", "push-client", SECRET)
    with Server(gradebook, auth="oauth2", credentials=credentials) as srv:
        env = {"ROSTERMAP_CLIENT_ID": "push-client", "ROSTERMAP_CLIENT_SECRET": SECRET,
               "ROSTERMAP_TOKEN_URL": srv.token_url, "ROSTERMAP_STATE_DIR": str(tmp_path / "st")}
        runner = CliRunner()
        dry = runner.invoke(main, ["push", "oneroster-gradebook", "--source", str(gradebook),
                                   "--target", srv.base_url, "--tenant", "maple", "--dry-run"],
                            env=env)
        assert dry.exit_code == 0, dry.output
        assert f"PUT {srv.base_url}/lineItems/li-1-1" in dry.output
        assert f"Authorization: Bearer {MASK}" in dry.output and SECRET not in dry.output
        assert writes(srv) == []
        args = ["push", "oneroster-gradebook", "--source", str(gradebook), "--target",
                srv.base_url, "--tenant", "maple", "--out", str(tmp_path / "out")]
        done = runner.invoke(main, args, env=env)
        assert done.exit_code == 0, done.output
        assert "push success" in done.output
        assert (tmp_path / "out" / "report.html").exists()
        assert SECRET not in (tmp_path / "out" / "report.json").read_text()
        sent = len(writes(srv))
        assert sent == len(rows(gradebook, "lineItems")) + len(rows(gradebook, "results"))
        again = runner.invoke(main, args, env=env)
        assert again.exit_code == 0 and len(writes(srv)) == sent
        assert "0 written" in again.output


def test_run_refuses_a_push_profile_and_push_a_file_profile(
        gradebook: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    ran = runner.invoke(main, ["run", "oneroster-gradebook", "--source", str(gradebook),
                               "--out", str(tmp_path / "o"), "--no-state"])
    assert ran.exit_code == 2 and "RM359" in ran.output
    with pytest.raises(UsageError) as refused:
        push("powerschool-sis", gradebook, PushOptions("http://127.0.0.1:9", dry_run=True,
                                                      state=tmp_path / "s"), config=NONE)
    assert refused.value.diagnostics[0].code == "RM530"


def test_a_push_statement_in_a_file_output_is_refused() -> None:
    from rostermap.compiler import compile_mapping

    compiled = compile_mapping('profile p\noutput l.csv from lineItems\n'
                               '  send PUT "/lineItems/{id}"\n  id <- sourcedId\n')
    assert [d.code for d in compiled.diagnostics] == ["RM359"]
    assert "is a file, not a push" in compiled.diagnostics[0].message


def test_the_push_page_s_examples_compile() -> None:
    import re

    from rostermap.compiler import compile_mapping

    page = (Path(__file__).resolve().parent.parent / "docs" / "push.md").read_text()
    blocks = re.findall(r"```rmap\n(.*?)```", page, flags=re.DOTALL)
    assert blocks
    for block in blocks:
        compiled = compile_mapping(block, "push.md")
        assert compiled.ok and not compiled.diagnostics, [d.message for d in compiled.diagnostics]
