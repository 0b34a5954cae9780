"""The language server, over the real protocol.

One ``python -m rostermap lsp`` process serves the module; a small client here
speaks JSON-RPC to it over its stdin and stdout, framed as LSP frames messages
(``Content-Length`` headers), as an editor does. Nothing of the server is imported.
"""

from __future__ import annotations

import itertools
import json
import queue
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from tests.conftest import MAPPINGS, ROOT

# Long enough for a loaded machine to answer; reached only when the server is broken.
_PATIENCE = 60.0


class Client:
    """An editor's side of the protocol: requests, notifications, and what arrives."""

    def __init__(self, cwd: Path, log: IO[bytes]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rostermap", "lsp"], cwd=cwd, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=log)
        self.ids = itertools.count(1)
        self.responses: dict[int, queue.Queue[dict[str, Any]]] = {}
        self.notifications: queue.Queue[dict[str, Any]] = queue.Queue()
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        while True:
            length = None
            while (line := stream.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            if line == b"" or length is None:
                return
            message = json.loads(stream.read(length))
            if "id" in message and "method" not in message:
                self._box(message["id"]).put(message)
            elif "id" in message:  # a request from the server (registrations): accept it
                self._send({"jsonrpc": "2.0", "id": message["id"], "result": None})
            else:
                self.notifications.put(message)

    def _box(self, number: int) -> queue.Queue[dict[str, Any]]:
        with self.lock:
            return self.responses.setdefault(number, queue.Queue())

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message).encode("utf-8")
        stream = self.process.stdin
        assert stream is not None
        with self.lock:
            stream.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            stream.flush()

    def request(self, method: str, params: Any) -> Any:
        number = next(self.ids)
        self._send({"jsonrpc": "2.0", "id": number, "method": method, "params": params})
        answer = self._box(number).get(timeout=_PATIENCE)
        assert "error" not in answer, answer["error"]
        return answer["result"]

    def notify(self, method: str, params: Any) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def diagnostics(self, uri: str, version: int) -> list[dict[str, Any]]:
        """The diagnostics published for ``uri`` at ``version``: earlier ones are skipped."""
        while True:
            message = self.notifications.get(timeout=_PATIENCE)
            params = message.get("params", {})
            if (message["method"] == "textDocument/publishDiagnostics"
                    and params["uri"] == uri and params.get("version") == version):
                return list(params["diagnostics"])

    def open(self, path: Path, text: str | None = None) -> tuple[str, list[dict[str, Any]]]:
        uri = path.resolve().as_uri()
        text = path.read_text(encoding="utf-8") if text is None else text
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "rostermap", "version": 1, "text": text}})
        return uri, self.diagnostics(uri, 1)

    def close(self) -> None:
        self.request("shutdown", None)
        self.notify("exit", None)
        self.process.wait(timeout=_PATIENCE)
        self.reader.join(timeout=_PATIENCE)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lsp")


@pytest.fixture(scope="module")
def client(folder: Path) -> Iterator[Client]:
    with (folder / "server.log").open("wb") as log:
        client = Client(folder, log)
        result = client.request("initialize", {
            "processId": None, "rootUri": folder.as_uri(), "capabilities": {}})
        client.notify("initialized", {})
        capabilities = result["capabilities"]
        assert capabilities["hoverProvider"] and capabilities["definitionProvider"]
        assert capabilities["documentFormattingProvider"]
        assert "." in capabilities["completionProvider"]["triggerCharacters"]
        yield client
        client.close()
    assert client.process.returncode == 0


def _at(text: str, needle: str, nth: int = 0, shift: int = 0) -> dict[str, int]:
    """The LSP position of the ``nth`` occurrence of ``needle`` in ``text``, plus ``shift``."""
    offset = -1
    for _ in range(nth + 1):
        offset = text.index(needle, offset + 1)
    offset += shift
    line = text.count("\n", 0, offset)
    return {"line": line, "character": offset - (text.rfind("\n", 0, offset) + 1)}


PROFILE = """\
profile trial "Trial"
import oneroster-common
param year: int = 2026

rule teacher = role = "teacher"

output teachers.csv from users
  where enabled and teacher
  id      <- sourcedId
  name    <- full_name(givenName, familyName)
  school  <- first(orgs).name
  classes <- count(sourcedId of enrollments where user = this and active)
  year    <- year
"""


def test_diagnostics_are_checks_with_their_codes_ranges_and_severities(
        client: Client, folder: Path) -> None:
    path = folder / "broken.rmap"
    text = PROFILE.replace("givenName, familyName", "givenNme, familyName")
    path.write_text(text, encoding="utf-8")
    uri, published = client.open(path)
    # the same diagnostics as `rostermap check --format json`, code for code
    check = subprocess.run([sys.executable, "-m", "rostermap", "check", "--format", "json",
                            str(path)], capture_output=True, text=True, cwd=folder)
    expected = json.loads(check.stdout)
    assert [d["code"] for d in published] == [d["code"] for d in expected] == ["RM201"]
    (diagnostic,) = published
    assert diagnostic["severity"] == 1 and diagnostic["source"] == "rostermap"
    start = _at(text, "givenNme")
    assert diagnostic["range"] == {"start": start,
                                   "end": {**start, "character": start["character"] + 8}}
    assert expected[0]["line"] == start["line"] + 1
    assert expected[0]["column"] == start["character"] + 1
    assert diagnostic["message"].startswith(expected[0]["message"])
    assert "givenName" in diagnostic["message"]  # check's hint comes along

    # as you type: the fix clears them; a warning comes with its own severity
    fixed = text.replace("givenNme", "givenName").replace(
        "oneroster-common\n", "oneroster-common\noneroster 1.1\n").replace(
        "sourcedId\n", "sourcedId\n  pronouns <- pronouns\n", 1)
    client.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": 2},
        "contentChanges": [{"text": fixed}]})
    (warning,) = client.diagnostics(uri, 2)
    assert warning["code"] == "RM211" and warning["severity"] == 2
    assert warning["range"]["start"] == _at(fixed, "pronouns", 1)

    # an incremental edit: the server applies it to its copy, then checks that
    line = _at(fixed, "  pronouns")["line"]
    client.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": 3},
        "contentChanges": [{"range": {"start": {"line": line, "character": 0},
                                      "end": {"line": line + 1, "character": 0}},
                            "text": ""}]})
    assert client.diagnostics(uri, 3) == []


def test_positions_count_utf16_code_units(client: Client, folder: Path) -> None:
    # LSP columns are UTF-16 code units by default: an emoji is two, an accent one
    text = PROFILE.replace('  id      <- sourcedId', '  "Prénom 😀" <- givenNme')
    _, published = client.open(folder / "unicode.rmap", text)
    (diagnostic,) = published
    line = '  "Prénom 😀" <- '
    assert diagnostic["range"]["start"] == {"line": _at(text, "givenNme")["line"],
                                            "character": len(line.encode("utf-16-le")) // 2}
    assert diagnostic["range"]["end"]["character"] - diagnostic["range"]["start"][
        "character"] == len("givenNme")


def test_a_syntax_error_and_a_problem_in_an_imported_file(client: Client,
                                                           folder: Path) -> None:
    path = folder / "syntax.rmap"
    _, published = client.open(path, PROFILE.replace("where enabled", "where enabled and"))
    assert [d["code"] for d in published][:1] == ["RM101"]

    (folder / "mylib.rmap").write_text("library mylib\nrule odd = status = = 3\n",
                                       encoding="utf-8")
    text = PROFILE.replace("import oneroster-common", "import oneroster-common\nimport mylib")
    uri, published = client.open(folder / "importer.rmap", text)
    problems = [d for d in published if "mylib.rmap" in d["message"]]
    assert problems, published
    assert problems[0]["range"]["start"] == _at(text, "mylib")
    related = problems[0]["relatedInformation"][0]["location"]
    assert related["uri"] == (folder / "mylib.rmap").resolve().as_uri()
    assert related["range"]["start"]["line"] == 1
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


def _hover(client: Client, uri: str, position: dict[str, int]) -> str | None:
    found = client.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                  "position": position})
    if found is None:
        return None
    assert found["contents"]["kind"] == "markdown"
    return str(found["contents"]["value"])


def test_hover_shows_types_and_descriptions(client: Client, folder: Path) -> None:
    path = folder / "hover.rmap"
    uri, published = client.open(path, PROFILE)
    assert published == []
    field = _hover(client, uri, _at(PROFILE, "givenName", shift=3))
    assert field is not None and "users.givenName" in field and "`str`" in field
    assert "personal data" in field and "given (first) name" in field
    # a field read through a reference: first(orgs) is an org
    name = _hover(client, uri, _at(PROFILE, ".name", shift=2))
    assert name is not None and "orgs.name" in name
    # inside a lookup, names read the looked-up record
    user = _hover(client, uri, _at(PROFILE, "user = this"))
    assert user is not None and "enrollments.user" in user and "reference to users" in user
    # an enumeration lists its values
    role = _hover(client, uri, _at(PROFILE, "role ="))
    assert role is not None and "users.role" in role and "`teacher`" in role
    # the entity after `from`
    users = _hover(client, uri, _at(PROFILE, "from users", shift=6))
    assert users is not None and "**users**" in users
    # a function's signature and summary, from the function library
    count = _hover(client, uri, _at(PROFILE, "count("))
    assert count is not None and "count(" in count and "→ int" in count
    # a rule imported from the shipped library, as written, with its comment
    active = _hover(client, uri, _at(PROFILE, "and active", shift=5))
    assert active is not None and 'rule active = status in ("", "active")' in active
    assert "oneroster-common.rmap" in active
    # a parameter: the name `year` is the parameter (a function of that name is not called)
    year = _hover(client, uri, _at(PROFILE, "<- year", shift=3))
    assert year is not None and "param year: int = 2026" in year
    assert _hover(client, uri, _at(PROFILE, "teachers.csv")) is None
    # an import: the file it names
    common = _hover(client, uri, _at(PROFILE, "oneroster-common", shift=3))
    assert common is not None
    assert str((MAPPINGS / "oneroster-common.rmap").resolve()) in common


def test_definition_of_rules_defines_params_and_imports(client: Client, folder: Path) -> None:
    path = folder / "definition.rmap"
    uri, _ = client.open(path, PROFILE)

    def definition(position: dict[str, int]) -> Any:
        return client.request("textDocument/definition", {"textDocument": {"uri": uri},
                                                          "position": position})

    common = (MAPPINGS / "oneroster-common.rmap").resolve()
    library = common.read_text(encoding="utf-8")
    found = definition(_at(PROFILE, "full_name"))
    assert found["uri"] == common.as_uri()
    assert found["range"]["start"] == _at(library, "full_name")
    found = definition(_at(PROFILE, "and teacher", shift=5))
    assert found == {"uri": uri, "range": {"start": _at(PROFILE, "teacher ="),
                                           "end": _at(PROFILE, "teacher =", shift=7)}}
    assert definition(_at(PROFILE, "<- year", shift=3))["range"]["start"] == _at(
        PROFILE, "year:")
    # the import line opens the file it imports
    found = definition(_at(PROFILE, "oneroster-common", shift=4))
    assert found["uri"] == common.as_uri()
    assert definition(_at(PROFILE, "sourcedId")) is None


def test_definition_in_a_shipped_profile(client: Client, folder: Path) -> None:
    canvas = folder / "canvas-definition.rmap"  # each test has files of its own
    shutil.copy(MAPPINGS / "canvas.rmap", canvas)
    text = canvas.read_text(encoding="utf-8")
    uri, published = client.open(canvas)
    assert [d for d in published if d["severity"] == 1] == []
    found = client.request("textDocument/definition", {
        "textDocument": {"uri": uri}, "position": _at(text, "if active", shift=4)})
    assert found["uri"] == (MAPPINGS / "oneroster-common.rmap").resolve().as_uri()


def _labels(client: Client, uri: str, position: dict[str, int]) -> dict[str, dict[str, Any]]:
    found = client.request("textDocument/completion", {"textDocument": {"uri": uri},
                                                       "position": position})
    # the first of a label: a parameter comes before a function of the same name
    return {item["label"]: item for item in reversed(found["items"])}


def test_completion_of_fields_functions_and_parameters(client: Client, folder: Path) -> None:
    text = PROFILE + "  extra <- \n"
    uri, _ = client.open(folder / "completion.rmap", text)
    end = _at(text, "extra <- ", shift=9)
    items = _labels(client, uri, end)
    # the fields of the output's entity, with their types
    assert items["givenName"]["kind"] == 5 and "str" in items["givenName"]["detail"]
    assert "enabledUser" in items and "classType" not in items
    # the function library, with signatures
    assert items["concat"]["kind"] == 3 and "concat(" in items["concat"]["detail"]
    # the mapping's parameters, rules and (imported) definitions
    assert items["year"]["kind"] == 6 and "param year" in items["year"]["detail"]
    assert "teacher" in items and "active" in items and "full_name" in items

    # after a dot: the fields of the record the reference points to
    dotted = text.replace("  extra <- \n", "  extra <- first(orgs).\n")
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                             "contentChanges": [{"text": dotted}]})
    client.diagnostics(uri, 2)
    items = _labels(client, uri, _at(dotted, "orgs).", shift=6))
    assert set(items) == {"sourcedId", "status", "dateLastModified", "metadata", "name",
                          "type", "identifier", "parent"}
    # inside a lookup: the looked-up entity's fields
    items = _labels(client, uri, _at(dotted, "user = this"))
    assert "class" in items and "givenName" not in items
    # entities after `from` and `of`; mapping files after `import`
    items = _labels(client, uri, _at(dotted, "of enrollments", shift=3))
    assert "enrollments" in items and "academicSessions" in items
    items = _labels(client, uri, _at(dotted, "import ", shift=7))
    assert "oneroster-common" in items and "canvas" in items


def test_formatting_is_fmt(client: Client, folder: Path) -> None:
    messy = PROFILE.replace("id      <- sourcedId", "id <-   sourcedId")
    uri, _ = client.open(folder / "messy.rmap", messy)
    edits = client.request("textDocument/formatting", {
        "textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": True}})
    (edit,) = edits
    assert edit["range"]["start"] == {"line": 0, "character": 0}
    (folder / "fmt.rmap").write_text(messy, encoding="utf-8")
    subprocess.run([sys.executable, "-m", "rostermap", "fmt", "fmt.rmap"], cwd=folder,
                   check=True, capture_output=True)
    assert edit["newText"] == (folder / "fmt.rmap").read_text(encoding="utf-8")
    assert edit["newText"] != messy
    # formatted text needs no edit; a file that does not parse gets none
    assert client.request("textDocument/formatting", {
        "textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": True}}
    ) is not None
    uri, _ = client.open(folder / "unparsed.rmap", "profile x\noutput a.csv from\n")
    assert client.request("textDocument/formatting", {
        "textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": True}}) == []


def test_the_vscode_extension_starts_the_server() -> None:
    folder = ROOT / "editors" / "vscode"
    manifest = json.loads((folder / "package.json").read_text(encoding="utf-8"))
    assert manifest["main"] == "./extension.js"
    assert "vscode-languageclient" in manifest["dependencies"]
    assert "onLanguage:rostermap" in manifest.get("activationEvents", ["onLanguage:rostermap"])
    script = (folder / "extension.js").read_text(encoding="utf-8")
    assert '"lsp"' in script and "LanguageClient" in script
    # clients that add --stdio (vscode-languageclient's stdio transport does) are served;
    # the end of its input ends the server
    ended = subprocess.run([sys.executable, "-m", "rostermap", "lsp", "--stdio"], input=b"",
                           capture_output=True, timeout=_PATIENCE)
    assert ended.returncode == 0 and ended.stdout == b""


@pytest.mark.parametrize("profile", sorted(p.stem for p in MAPPINGS.glob("*.rmap")))
def test_every_shipped_profile_is_answered_everywhere(client: Client, folder: Path,
                                                      profile: str) -> None:
    """Hover and completion at places spread over each shipped profile: answers, never
    an error response (a request the server fails on would be one)."""
    path = folder / f"shipped-{profile}.rmap"
    shutil.copy(MAPPINGS / f"{profile}.rmap", path)
    text = path.read_text(encoding="utf-8")
    uri, published = client.open(path)
    assert [d for d in published if d["severity"] == 1] == []
    answered = 0
    for offset in range(0, len(text), 157):
        line = text.count("\n", 0, offset)
        position = {"line": line, "character": offset - (text.rfind("\n", 0, offset) + 1)}
        where = {"textDocument": {"uri": uri}, "position": position}
        answered += client.request("textDocument/hover", where) is not None
        client.request("textDocument/completion", where)
    assert answered > 0
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


def test_signature_help_names_the_parameter_being_written(client: Client,
                                                          folder: Path) -> None:
    text = PROFILE + '  padded <- pad(sourcedId, 8, \n  both <- full_name(givenName, \n'
    uri, _ = client.open(folder / "signature.rmap", text)

    def signature(needle: str) -> Any:
        return client.request("textDocument/signatureHelp", {
            "textDocument": {"uri": uri}, "position": _at(text, needle, shift=len(needle))})

    found = signature("pad(sourcedId, 8, ")
    (shown,) = found["signatures"]
    assert shown["label"].startswith("pad(") and found["activeParameter"] == 2
    assert [p["label"] for p in shown["parameters"]][1].endswith(": int")
    found = signature("full_name(givenName, ")
    assert found["signatures"][0]["label"] == "full_name(first, last)"
    assert found["activeParameter"] == 1
    assert signature("padded <- ") is None


def test_saving_a_library_checks_the_files_that_import_it_again(client: Client,
                                                                folder: Path) -> None:
    library = folder / "shared.rmap"
    library.write_text("library shared\nrule staff = role = \"teacher\"\n", encoding="utf-8")
    text = PROFILE.replace("import oneroster-common", "import oneroster-common\nimport shared")
    text = text.replace("rule teacher = role = \"teacher\"\n", "")
    text = text.replace("and teacher", "and staff")
    importer, published = client.open(folder / "importer-of-shared.rmap", text)
    assert published == []
    broken = "library shared\nrule staff = role = = \"teacher\"\n"
    library.write_text(broken, encoding="utf-8")
    uri, _ = client.open(library, broken)
    client.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
    again = client.diagnostics(importer, 1)
    assert again and "shared.rmap:2" in again[0]["message"]
    assert again[0]["range"]["start"] == _at(text, "shared")
