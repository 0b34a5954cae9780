"""Find a profile's mapping, compile it, load the module, and type its parameters.

Compiled modules are executed from the compiler's own output in memory, never
imported from a path a user or a mapping names, so what runs is always what the
compiler just verified.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
import threading
import types
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rostermap.compiler import verify
from rostermap.compiler.naming import mangle
from rostermap.compiler.result import Compiled
from rostermap.dsl import codes
from rostermap.dsl.diagnostics import Diagnostic, DiagnosticError, did_you_mean
from rostermap.dsl.files import read_mapping
from rostermap.dsl.span import Source
from rostermap.dsl.types import TODAY, parse_type
from rostermap.runtime.engine.plans import Param
from rostermap.runtime.errors import UsageError
from rostermap.runtime.redact import register
from rostermap.runtime.run import cache

if TYPE_CHECKING:
    from rostermap.compiler import FileResolver

__all__ = ["Loaded", "builtin_folder", "compile_profile", "find_profiles", "load_mapping",
           "looks_like_path", "mapping_dirs", "parse_params", "resolve_profile", "shown_path"]

EXTENSION = ".rmap"


def builtin_folder() -> Path:
    """The profiles that ship with rostermap: package data, found wherever it is installed."""
    return Path(str(resources.files("rostermap") / "mappings"))


def shown_path(path: Path, relative: bool = False) -> str:
    """A mapping's path as messages show it: a built-in profile by its place in the
    package (the same in a checkout and an install), any other as given, or with
    ``relative`` relative to here."""
    resolved = path.resolve()
    builtin = builtin_folder().resolve()
    if resolved.is_relative_to(builtin):
        return f"rostermap/mappings/{resolved.relative_to(builtin).as_posix()}"
    return os.path.relpath(path) if relative and path.is_absolute() else str(path)


def mapping_dirs() -> list[Path]:
    """Where profile names are looked up: $ROSTERMAP_MAPPINGS, ./mappings, the built-in ones.

    The built-in folder comes last, so a user's profile of the same name wins, and a
    user's profiles can import the shipped ``oneroster-common``.
    """
    dirs = [Path(p) for p in os.environ.get("ROSTERMAP_MAPPINGS", "").split(os.pathsep) if p]
    dirs += [Path.cwd() / "mappings", builtin_folder()]
    return list(dict.fromkeys(d for d in dirs if d.is_dir()))


def resolver() -> FileResolver:
    """Finds the files a mapping extends or imports: beside it, then in the mapping folders."""
    from rostermap.compiler import FileResolver

    return FileResolver(mapping_dirs())


def is_library(path: Path) -> bool:
    """Whether a mapping file is a library (shared definitions), not a profile."""
    try:
        text = read_mapping(path)
    except DiagnosticError:
        return False  # not read as a profile's name; naming it fails with the reason
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words:
            return words[0] == "library"
    return False


def find_profiles() -> dict[str, Path]:
    """Every profile found by name, in lookup order: a name found twice is the first's."""
    names: dict[str, Path] = {}
    for folder in mapping_dirs():
        for candidate in sorted(folder.glob(f"*{EXTENSION}")):
            if not is_library(candidate):
                names.setdefault(candidate.stem, candidate)
    return names


def looks_like_path(profile: str) -> bool:
    """Whether a mapping argument names a file rather than a profile."""
    return Path(profile).suffix == EXTENSION or os.sep in profile or "/" in profile


def resolve_profile(profile: str) -> Path:
    """The mapping file a command's PROFILE argument means: a path as given, or a
    profile name looked up in $ROSTERMAP_MAPPINGS, ./mappings, then the built-in
    profiles. Every command that takes a mapping finds it here, and compiles it
    with ``compile_profile`` (or ``load_mapping``), so that one that works with
    ``check`` works with ``run``, ``compile``, ``explain`` and the rest."""
    path = Path(profile)
    if looks_like_path(profile):
        if path.is_file():
            return path
        raise UsageError([codes.mapping_file_missing(profile)])
    names = find_profiles()
    if profile in names:
        return names[profile]
    raise UsageError([codes.unknown_profile(profile, did_you_mean(profile, names), names)])


def compile_profile(path: Path, text: str | None = None,
                    dirs: list[Path] | None = None) -> Compiled:
    """Compile a mapping file (``text``, when already read), its ``extends`` and
    ``import`` looked up beside it, then in the mapping folders (``dirs``, by default
    ``mapping_dirs()``): what a run compiles. Raises DiagnosticError when the file, or
    one it names, cannot be read."""
    from rostermap.compiler import FileResolver, compile_mapping

    source = read_mapping(path) if text is None else text
    return compile_mapping(source, str(path), FileResolver(mapping_dirs() if dirs is None
                                                           else dirs))


@dataclass(frozen=True)
class Loaded:
    path: Path
    compiled: Compiled
    module: types.ModuleType
    sha256: str


# One compile at a time in a process. Tenants synced on threads (run-many, a Dask
# worker) load their profiles at once; CPython's AST construction is not safe across
# threads before 3.12 ("AST constructor recursion depth mismatch" from ast.parse or
# compile), and a profile compiled twice at once is work done twice anyway.
_LOADING = threading.Lock()


def load_mapping(path: Path) -> Loaded:
    """Compile a mapping file and execute the module; errors raise DiagnosticError.

    A mapping compiled before, unchanged, comes from the compile cache
    (``runtime.run.cache``, the user's cache folder only) and is verified again before it
    runs; a clean compile is put there.
    """
    with _LOADING:
        return _load(path)


@functools.lru_cache(maxsize=32)
def _verified(source: str, filename: str) -> types.CodeType:
    """A cached module's code, verified: once per process for the same text.

    Verification is a function of the text alone, so a process that loads the same
    profile again (a resident run-many worker, a Dask worker) reuses the code object
    it verified, and each tenant execs it into a fresh module. What fails
    verification raises every time (exceptions are not cached).
    """
    return verify.verify(source, filename)


def _load(path: Path) -> Loaded:
    text = read_mapping(path)
    dirs = mapping_dirs()
    filename = verify.compiled_name(str(path))
    hit = cache.lookup(path, text, dirs)
    code: types.CodeType | None = None
    if hit is not None:
        try:
            code = _verified(hit.code, filename)  # what runs is always verified compiler output
        except verify.VerificationError:
            hit = None  # not what the compiler writes: compile again, and replace it
    if hit is not None:
        compiled = Compiled(Source(text, str(path)), (), code=hit.code, sources=hit.sources)
    else:
        compiled = compile_profile(path, text, dirs)
        if compiled.code is None:
            raise DiagnosticError(compiled.diagnostics, compiled.source)
        if not compiled.diagnostics:  # warnings are shown on every run: not cached
            cache.store(path, text, dirs, compiled.code, compiled.sources)
        code = compiled.bytecode
    assert code is not None
    module = types.ModuleType("rostermap_compiled")
    exec(code, module.__dict__)  # noqa: S102 - our own verified output, see module docstring
    module.__name__ = f"rostermap_compiled_{mangle(str(module.PROFILE))}"
    # The version of a mapping is that of every file it is made of.
    digest = hashlib.sha256()
    for source in compiled.sources:
        name = Path(source.name).name  # not the folder: the same mapping anywhere
        digest.update(name.encode("utf-8") + b"\0" + source.text.encode("utf-8") + b"\0")
    return Loaded(path, compiled, module, digest.hexdigest())


def secret_variable(name: str) -> str:
    """The environment variable a secret parameter is read from (PARAM_ keeps it apart
    from the source's own ROSTERMAP_CLIENT_SECRET and the like)."""
    return f"ROSTERMAP_PARAM_{name.upper()}"


def _convert(raw: str, type_text: str) -> Any:
    type_ = parse_type(type_text)
    assert type_ is not None
    if type_.is_list:
        assert type_.item is not None
        return [_convert(part.strip(), str(type_.item)) for part in raw.split(",") if part.strip()]
    if type_.kind == "int":
        return int(raw)
    if type_.kind == "float":
        return float(raw)
    if type_.kind == "bool":
        lowered = raw.strip().lower()
        if lowered not in ("true", "false", "1", "0"):
            raise ValueError("expected true or false")
        return lowered in ("true", "1")
    if type_.kind == "date":
        return dt.date.fromisoformat(raw.strip())
    return raw


def parse_params(
    declared: Iterable[Param], given: Iterable[str], today: dt.date | None = None
) -> dict[str, Any]:
    """Typed parameter values from ``name=value`` strings; problems are usage errors.

    ``today`` is the run's date (default: the machine's): ``today()`` in a mapping and
    a date parameter defaulting to it read this value, so a run can be repeated.
    """
    specs = {p.name: p for p in declared}
    pairs: list[tuple[str, str]] = []
    problems: list[Diagnostic] = []
    for item in given:
        name, sep, value = item.partition("=")
        if not sep:
            problems.append(codes.param_not_name_value(item))
            continue
        pairs.append((name.strip(), value))
    values: dict[str, Any] = {}
    for name, value in pairs:
        if name not in specs:
            problems.append(codes.param_not_declared(name, did_you_mean(name, specs), specs))
            continue
        spec = specs[name]
        if spec.secret:
            problems.append(codes.secret_param_given(name, secret_variable(name)))
            continue
        listed = spec.type.startswith("list[")
        if spec.choices and not listed and value not in spec.choices:
            problems.append(codes.param_not_a_choice(name, spec.choices, value,
                                                     did_you_mean(value, spec.choices)))
            continue
        if spec.choices and listed:
            # Each item of a list of choices: a typo would otherwise match nothing, and
            # the run would write empty files without a word.
            wrong = [item.strip() for item in value.split(",")
                     if item.strip() and item.strip() not in spec.choices]
            if wrong:
                problems.append(codes.param_item_not_a_choice(
                    name, spec.choices, wrong[0], did_you_mean(wrong[0], spec.choices)))
                continue
        if spec.columns:
            values[name] = value  # a file, read with the source (rostermap.runtime.engine.tables)
            continue
        try:
            values[name] = _convert(value, specs[name].type)
        except ValueError as error:
            problems.append(codes.bad_param_value(name, specs[name].type, value, str(error)))
    given = {name for name, _ in pairs}
    values[TODAY] = today or dt.date.today()
    for name, spec in specs.items():
        if spec.secret and secret_variable(name) in os.environ:
            values[name] = os.environ[secret_variable(name)]
            register(values[name])  # masked in everything printed, logged or reported
        if name in values:
            continue
        if spec.required and name not in given:  # given but refused: reported above
            problems.append(codes.missing_parameter(
                name, spec.type, secret_variable(name) if spec.secret else None))
        elif spec.default == TODAY:
            values[name] = values[TODAY]
        else:
            values[name] = list(spec.default) if isinstance(spec.default, list) else spec.default
    if problems:
        raise UsageError(problems)
    return values
