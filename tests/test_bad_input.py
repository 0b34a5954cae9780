"""The bad-input matrix: one broken, hostile or untidy source per file in tests/bad_input/.

Each case is a TOML file: the package (the tiny valid package of tests/conftest.py
with files replaced, added or removed, as a folder or a zip), the command line, and
what must happen: the exit code and the code of the first diagnostic. The whole
message is a snapshot (tests/__snapshots__/test_bad_input.ambr), so a change of
wording shows in review. Every case also checks what no case may do: print a
traceback, write into --out when it fails (the last run's files stay as they were),
leave a staging folder or a temporary file behind, or change the source.

Case keys (all optional but ``about``, ``exit`` and ``code``):

    about    what the case is, one line
    exit     the expected exit code: 1 refused, 2 usage, 0 or 3 read (tolerated input)
    code     the first error's code; for a tolerated input (exit 0), the first warning's
             beyond those of the untouched package, "" for none
    profile  a profile name (default powerschool-learning), or
    mapping  the text of a mapping file to run instead (written as case.rmap)
    mapping_encoding  the encoding that mapping file is written in (default utf-8)
    params   --param values (default ["year=2026"])
    args     more options, e.g. ["--max-records", "2"]
    base     "tiny" (default), "tiny-1.2" (its 1.2 form) or "none" (no files)
    zip      write the package as a .zip (default false: a folder)
    zip_folder  the folder inside the zip that holds every file (default: the root)
    raw      the --source file's whole text instead of a package (a "zip" that is not)
    same_as_tidy  the output files equal those of the untouched base package
    [files]  name = text | false (remove) | {text, encoding} | {hex} |
             {head, pad, times, tail}: head + pad * times + tail (large files)
    [[patch]]  zip header fields to overwrite: {entry, local = {offset = value},
             central = {offset = value}}, to make encrypted or lying entries
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import tempfile
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rostermap.cli.main import main
from rostermap.runtime.run.outputs import OWNER_FILE
from tests.conftest import tiny_files

CASES = sorted((Path(__file__).resolve().parent / "bad_input").glob("*.toml"))
KEYS = {"about", "exit", "code", "profile", "mapping", "mapping_encoding", "params", "args",
        "base", "zip", "zip_folder", "raw", "same_as_tidy", "files", "patch"}
# The 4-byte fields of zip headers (CRC, sizes), by offset; the others are 2 bytes.
WIDE = {"local": {14, 18, 22}, "central": {16, 20, 24}}
LAST_RUN = "last run\n"
TERMINAL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")  # what --out holds before the case runs


def tiny_12() -> dict[str, str]:
    """The tiny package as OneRoster 1.2: users' role and orgs in roles.csv."""
    files = tiny_files()
    files["manifest.csv"] = (files["manifest.csv"].replace("oneroster.version,1.1",
                                                           "oneroster.version,1.2")
                             + "file.roles,bulk\n")
    users = (
        "sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,"
        "familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password,"
        "userMasterIdentifier,preferredGivenName,preferredMiddleName,preferredFamilyName,"
        "primaryOrgSourcedId,pronouns\n"
        "t1,,,true,tina,,Tina,Teach,,T-1,tina@d.org,,,,,,,,,,s1,\n"
        "u1,,,true,sam,,Sam,Stu,,S-1,sam@d.org,,,,09,,,,,,s1,\n"
        "u2,,,true,sue,,Sue,Stu,,S-2,sue@other.org,,,,07,,,,,,s2,\n"
    )
    files["users.csv"] = users
    files["roles.csv"] = (
        "sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,"
        "orgSourcedId,userProfileSourcedId\n"
        "r1,,,t1,primary,teacher,,,s1,\nr2,,,u1,primary,student,,,s1,\n"
        "r3,,,u2,primary,student,,,s2,\n"
    )
    return files


def load_case(path: Path) -> dict[str, Any]:
    case = tomllib.loads(path.read_text(encoding="utf-8"))
    unknown = set(case) - KEYS
    assert not unknown, f"{path.name}: unknown keys {unknown}"
    assert {"about", "exit", "code"} <= set(case), f"{path.name}: about, exit, code"
    return case


def content(spec: Any) -> bytes:
    if isinstance(spec, str):
        return spec.encode("utf-8")
    if "hex" in spec:
        return bytes.fromhex(spec["hex"])
    if "pad" in spec:
        return (spec.get("head", "") + spec["pad"] * spec["times"] + spec.get("tail", "")
                ).encode("utf-8")
    return str(spec["text"]).encode(spec.get("encoding", "utf-8"))


def package_files(case: dict[str, Any]) -> dict[str, bytes]:
    base = case.get("base", "tiny")
    files: dict[str, bytes] = {
        name: text.encode("utf-8")
        for name, text in {"tiny": tiny_files, "tiny-1.2": tiny_12,
                           "none": dict}[base]().items()
    }
    for name, spec in case.get("files", {}).items():
        if spec is False:
            del files[name]
        else:
            files[name] = content(spec)
    return files


def patch_zip(path: Path, patches: list[dict[str, Any]]) -> None:
    """Overwrite fields of entries' local and central headers (offset -> value)."""
    data = bytearray(path.read_bytes())
    for patch in patches:
        for signature, name_at, key in ((b"PK\x03\x04", (26, 30), "local"),
                                        (b"PK\x01\x02", (28, 46), "central")):
            at = 0
            while (at := data.find(signature, at)) != -1:
                size = struct.unpack_from("<H", data, at + name_at[0])[0]
                name = bytes(data[at + name_at[1]: at + name_at[1] + size]).decode()
                if name == patch["entry"]:
                    for offset, value in patch.get(key, {}).items():
                        layout = "<I" if int(offset) in WIDE[key] else "<H"
                        struct.pack_into(layout, data, at + int(offset), value)
                at += 4
    path.write_bytes(bytes(data))


def write_package(root: Path, files: dict[str, bytes], as_zip: bool,
                  patches: list[dict[str, Any]], raw: str | None = None,
                  folder: str = "") -> Path:
    if raw is not None:
        path = root / "district.zip"
        path.write_text(raw, encoding="utf-8")
        return path
    if as_zip:
        path = root / "district.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in files.items():
                archive.writestr(f"{folder}/{name}" if folder else name, data)
        patch_zip(path, patches)
        return path
    path = root / "district"
    path.mkdir()
    for name, data in files.items():
        (path / name).write_bytes(data)
    return path


def digest(path: Path) -> str:
    """A fingerprint of a file or folder's names and bytes."""
    h = hashlib.sha256()
    for item in sorted([path] if path.is_file() else path.rglob("*")):
        h.update(str(item.relative_to(path.parent)).encode())
        if item.is_file():
            h.update(item.read_bytes())
    return h.hexdigest()


def invoke(profile: str, source: Path, out: Path, case: dict[str, Any]) -> Any:
    params = [f"--param={p}" for p in case.get("params", ["year=2026"])]
    return CliRunner().invoke(main, ["run", profile, "--source", str(source), "--out", str(out),
                                     *params, *case.get("args", [])])


def normalise(text: str, root: Path) -> str:
    text = text.replace(str(root), "<tmp>")
    return re.sub(r" in \d+\.\d+s", " in <seconds>", text)


@pytest.mark.parametrize("path", CASES, ids=[c.stem for c in CASES])
def test_bad_input(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                   snapshot) -> None:  # type: ignore[no-untyped-def]
    case = load_case(path)
    temporary = tmp_path / "temp"  # the run's temporary files go here, and must not stay
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    source = write_package(tmp_path, package_files(case), case.get("zip", False),
                           case.get("patch", []), case.get("raw"), case.get("zip_folder", ""))
    profile = case.get("profile", "powerschool-learning")
    if "mapping" in case:
        mapping = tmp_path / "case.rmap"
        mapping.write_bytes(case["mapping"].encode(case.get("mapping_encoding", "utf-8")))
        profile = str(mapping)
    out = tmp_path / "out"
    out.mkdir()
    (out / "users.csv").write_text(LAST_RUN)
    before = digest(source)

    result = invoke(profile, source, out, case)

    # never a traceback: exits are deliberate, with a rendered diagnostic
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        result.exception
    assert "Traceback" not in result.stdout + result.stderr
    # nothing a file holds can act on the terminal: control characters come out escaped
    assert not TERMINAL.search(result.stdout + result.stderr), repr(result.stderr)
    assert result.exit_code == case["exit"], result.stdout + result.stderr
    # nothing left behind, the source untouched
    assert list(temporary.iterdir()) == []
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.name != OWNER_FILE]
    assert digest(source) == before
    stderr = normalise(result.stderr, tmp_path)
    if case["exit"] in (1, 2):
        assert [p.name for p in out.iterdir()] == ["users.csv"]
        assert (out / "users.csv").read_text() == LAST_RUN
        errors = re.findall(r"^error\[(RM\d+)\]", stderr, re.M)
        assert errors and errors[0] == case["code"], stderr
        # located: every data error names its file (and line, where it has one)
        for block in stderr.split("\n\n"):
            if block.startswith("error[RM4"):
                assert "\n  --> " in block, block
        assert stderr == snapshot
        return
    # tolerated input: read, with a warning (the tidy package's own warnings aside)
    tidy_root = tmp_path / "tidy"
    tidy_root.mkdir()
    tidy_source = write_package(tidy_root, package_files({"base": case.get("base", "tiny")}),
                                False, [])
    tidy = tmp_path / "tidy-out"
    assert invoke(profile, tidy_source, tidy, case).exit_code == 0
    expected = json.loads((tidy / "report.json").read_text())["warnings"]
    warnings = [w for w in json.loads((out / "report.json").read_text())["warnings"]
                if w not in expected]
    found = [w["code"] for w in warnings]
    assert found[:1] == ([case["code"]] if case["code"] else []), found
    listed = [f"[{w['code']}] {w['message']} (at {w.get('file')}"
              + (f":{w['line']})" if w.get("line") else ")") for w in warnings]
    assert normalise("\n".join(listed), tmp_path) == snapshot
    if case.get("same_as_tidy"):
        for file in tidy.iterdir():  # the import files (the reports and changes/ differ)
            if file.is_file() and file.name not in ("report.json", "report.html", OWNER_FILE):
                assert (out / file.name).read_bytes() == file.read_bytes(), file.name
