"""RM5xx: run usage: parameters, profiles, records and files named on the command line.

The call sites are in rostermap.runtime (run.loader, run.explain, run.outputs,
sync.many) and, for reading a mapping file, rostermap.dsl; ``hint`` is a close spelling
of a misspelt name, or None when none is close.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

from rostermap.dsl.codes._registry import Draft, code
from rostermap.dsl.codes._wording import a, did_you_mean
from rostermap.dsl.diagnostics import DataLocation

__all__ = [
    "bad_param_value",
    "bad_record_argument",
    "mapping_file_missing",
    "mapping_not_utf8",
    "missing_parameter",
    "no_tenants",
    "out_overlaps_source",
    "param_item_not_a_choice",
    "param_not_a_choice",
    "param_not_declared",
    "param_not_name_value",
    "record_not_found",
    "secret_param_given",
    "tenant_incomplete",
    "tenants_file_unreadable",
    "tenants_share",
    "unknown_profile",
    "unknown_tenant_keys",
    "unreadable_mapping",
]


@code("RM501", "unknown parameter",
      "--param names a parameter the profile does not declare.")
def param_not_declared(name: str, hint: str | None, declared: Iterable[str]) -> Draft:
    """``declared`` are the profile's parameters, in the order it declares them."""
    listed = ", ".join(declared) or "(none)"
    return Draft(f"the profile has no parameter `{name}`",
                 notes=did_you_mean(hint) or (f"note: parameters: {listed}",))


@code("RM502", "missing parameter",
      "The profile declares a parameter without a default, and the run does not give it "
      "(a secret one in its environment variable).")
def missing_parameter(name: str, type_: str, variable: str | None) -> Draft:
    """``variable`` is the environment variable a secret parameter is read from; None for
    a parameter given with --param."""
    how = f"set the environment variable {variable}" if variable else f"pass --param {name}=<value>"
    return Draft(f"the profile needs parameter `{name}` ({type_})", notes=(f"help: {how}",))


_BAD_PARAMETER = code("RM503", "bad parameter value",
                      "--param is not name=value, gives a value that does not have the "
                      "parameter's type, or gives a secret parameter (secrets are read from "
                      "the environment).")


@_BAD_PARAMETER
def param_not_name_value(item: str) -> Draft:
    return Draft(f"--param `{item}` is not name=value")


@_BAD_PARAMETER
def secret_param_given(name: str, variable: str) -> Draft:
    """``variable`` is the environment variable the secret is read from."""
    return Draft(f"parameter `{name}` is a secret and is not given on the command line",
                 notes=(f"help: set the environment variable {variable}",))


def _choices(choices: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in choices)


@_BAD_PARAMETER
def param_not_a_choice(name: str, choices: Sequence[str], value: str,
                       hint: str | None) -> Draft:
    """``choices`` are the texts the parameter takes, as declared ("a" | "b")."""
    return Draft(f"parameter `{name}` is one of {_choices(choices)}, not {value!r}",
                 notes=did_you_mean(hint, "{!r}"))


@_BAD_PARAMETER
def param_item_not_a_choice(name: str, choices: Sequence[str], item: str,
                            hint: str | None) -> Draft:
    """A list parameter whose items are choices; ``item`` is the first that is none."""
    return Draft(f"parameter `{name}` lists {item!r}, which is not one of {_choices(choices)}",
                 notes=did_you_mean(hint, "{!r}") or (
                     "help: give the items separated by commas: "
                     f"--param {name}={','.join(choices[:2])}",))


@_BAD_PARAMETER
def bad_param_value(name: str, type_: str, value: str, reason: str) -> Draft:
    """``reason`` is the conversion's (invalid literal for int() ...)."""
    return Draft(f"parameter `{name}` takes {a(type_)}, not {value!r}", notes=(f"note: {reason}",))


_UNKNOWN_PROFILE = code("RM504", "unknown profile",
                        "PROFILE is a name in mappings/ or a path to a mapping file.")


@_UNKNOWN_PROFILE
def mapping_file_missing(path: str) -> Draft:
    return Draft(f"mapping file `{path}` does not exist")


@_UNKNOWN_PROFILE
def unknown_profile(name: str, hint: str | None, profiles: Iterable[str]) -> Draft:
    return Draft(f"no profile named `{name}`",
                 notes=did_you_mean(hint) or (
                     f"note: profiles: {', '.join(sorted(profiles)) or '(none found)'}",))


_RECORD_NOT_FOUND = code("RM505", "record not found",
                         "--record is <entity>/<sourcedId> of a record in the source.")


@_RECORD_NOT_FOUND
def bad_record_argument(record: str, hint: str | None, sourced_id: str) -> Draft:
    """``record`` does not name an entity and a sourcedId; ``hint`` is an entity close to
    what it names."""
    return Draft(f"--record `{record}` is not <entity>/<sourcedId>",
                 notes=did_you_mean(f"{hint}/{sourced_id or '<sourcedId>'}" if hint else None)
                 or ("help: e.g. --record users/stu-42",))


@_RECORD_NOT_FOUND
def record_not_found(file: str, entity: str, sourced_id: str, hint: str | None) -> Draft:
    """``hint`` is a sourcedId of ``file`` close to ``sourced_id``."""
    return Draft(f"{file} has no record with sourcedId `{sourced_id}`", location=DataLocation(file),
                 notes=did_you_mean(f"{entity}/{hint}" if hint else None))


_UNREADABLE_MAPPING = code("RM506", "unreadable mapping file",
                           "A mapping file cannot be read, or is not UTF-8 text.")


@_UNREADABLE_MAPPING
def unreadable_mapping(path: str, reason: str) -> Draft:
    """``reason`` is the operating system's (No such file or directory)."""
    return Draft(f"cannot read the mapping file `{path}`: {reason}", location=DataLocation(path))


@_UNREADABLE_MAPPING
def mapping_not_utf8(path: str, byte: int, line: int) -> Draft:
    return Draft(f"{path} is not UTF-8 (byte 0x{byte:02x} at line {line})",
                 location=DataLocation(path, line), notes=("help: save the mapping file as UTF-8",))


_BAD_TENANTS = code("RM507", "bad tenants file",
                    "run-many's TOML lists [[tenant]] entries, each with a distinct name, out "
                    "folder and state file, a profile and a source, and no other keys.")


def _tenants(path: Path, message: str) -> Draft:
    return Draft(f"{path.name}: {message}", location=DataLocation(str(path)),
                 notes=("help: the format is in docs/scaling.md",))


@_BAD_TENANTS
def tenants_file_unreadable(path: Path, reason: str) -> Draft:
    """``reason`` is the operating system's, or tomllib's (it names a line, not a value)."""
    return _tenants(path, f"cannot be read: {reason}")


@_BAD_TENANTS
def no_tenants(path: Path) -> Draft:
    return _tenants(path, "needs [[tenant]] entries (and an optional [defaults] table)")


@_BAD_TENANTS
def unknown_tenant_keys(path: Path, number: int, keys: Iterable[str]) -> Draft:
    """``number`` counts the file's [[tenant]] entries from 1."""
    return _tenants(path, f"tenant {number}: unknown key(s) {', '.join(keys)}")


@_BAD_TENANTS
def tenant_incomplete(path: Path, number: int, missing: Iterable[str]) -> Draft:
    return _tenants(path, f"tenant {number}: missing {', '.join(missing)}")


@_BAD_TENANTS
def tenants_share(path: Path, what: str, shared: Iterable[str]) -> Draft:
    """Several tenants have the same ``what`` (name, out folder, state file): ``shared``."""
    return _tenants(path, f"tenants share a {what}: {', '.join(shared)}")


@code("RM508", "output folder overlaps the source",
      "--out is the source package, inside it, or holds it: the outputs would change what "
      "is read.")
def out_overlaps_source(out_dir: Path, source: Path | str,
                        overlap: Literal["same", "inside", "around"]) -> Draft:
    """``out_dir`` is the ``source`` folder, lies inside it, or holds it (around)."""
    where = {"same": "is the source", "inside": "is inside the source",
             "around": "holds the source"}[overlap]
    return Draft(f"--out {out_dir} {where} {source}", location=DataLocation(str(out_dir)),
                 notes=("help: write the outputs into a folder apart from the OneRoster "
                        "package",))
