"""Resolve ``extends`` and ``import``: one effective mapping from several files.

A profile can start from another (``extends``) and override what differs for its
product or district, and can take shared rules and definitions from library files
(``import``). This stage loads those files, merges them into one tree, and leaves
every node's span pointing into the file it came from, so diagnostics and
``rostermap check --effective`` name the right file and line.

Merging, child over parent:
- parameters, rules and definitions: a child's replaces the parent's of the same
  name; imported rules and definitions are defaults that any rule or definition of
  the profile itself (or of a profile it extends) replaces;
- outputs: a child's output of the same file adds its ``where`` rules and ``warn``
  lines to the parent's, replaces columns of the same name in place and appends
  new ones, and replaces ``key``/``sort by``, ``when missing`` and the ``limit``s
  when it gives them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from rostermap.dsl import codes
from rostermap.dsl import nodes as n
from rostermap.dsl.diagnostics import Diagnostic, did_you_mean
from rostermap.dsl.files import read_mapping
from rostermap.dsl.limits import MAX_IMPORTS
from rostermap.dsl.parser import parse
from rostermap.dsl.span import Source

__all__ = ["FileResolver", "Resolver", "read_mapping", "resolve"]

EXTENSION = ".rmap"
Resolver = Callable[[str, Source], Source | None]
_Named = TypeVar("_Named", n.ParamDecl, n.RuleDecl, n.DefineDecl)


@dataclass
class FileResolver:
    """Finds ``name`` (or a relative path) next to the file that names it, then in
    ``dirs``: the mapping folders."""

    dirs: Sequence[Path] = ()

    def candidates(self, origin: Source) -> list[Path]:
        here = Path(origin.name).parent
        return list(dict.fromkeys([here, *self.dirs]))

    def __call__(self, name: str, origin: Source) -> Source | None:
        for folder in self.candidates(origin):
            path = folder / name if name.endswith(EXTENSION) else folder / f"{name}{EXTENSION}"
            if path.is_file():
                return Source(read_mapping(path), str(path))
        return None

    def known(self, origin: Source) -> list[str]:
        return sorted({p.stem for folder in self.candidates(origin) if folder.is_dir()
                       for p in folder.glob(f"*{EXTENSION}")})


@dataclass(frozen=True)
class _Layer:
    """A mapping merged with its parents, its own definitions apart from imported ones."""

    mapping: n.Mapping
    rules: tuple[n.RuleDecl, ...]  # imported by it or by a profile it extends
    defines: tuple[n.DefineDecl, ...]

    def flat(self) -> n.Mapping:
        """The mapping with imported definitions under its own."""
        return dataclasses.replace(
            self.mapping,
            rules=_override(self.rules, self.mapping.rules),
            defines=_override(self.defines, self.mapping.defines),
        )


@dataclass
class _Resolution:
    resolver: Resolver
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)

    def load(self, ref: n.Reference, origin: Source, stack: tuple[str, ...],
             found: Source | None = None) -> _Layer | None:
        found = found or self.resolver(ref.target.name, origin)
        if found is None:
            known = self.resolver.known(origin) if isinstance(self.resolver, FileResolver) else []
            hint = did_you_mean(ref.target.name, known)
            self.diagnostics.append(codes.mapping_not_found(
                ref.target.name, ref.kind, ref.target.span, hint, origin.name))
            return None
        key = _identity(found.name)
        if key in stack:
            cycle = [Path(s).name for s in (*stack, key)]
            self.diagnostics.append(codes.mapping_cycle(cycle, ref.target.span))
            return None
        if len(stack) >= MAX_IMPORTS:
            chain = [Path(s).name for s in (*stack, key)]
            self.diagnostics.append(codes.imports_too_deep(chain, ref.target.span))
            return None
        mapping, problems = parse(found.text, found.name)
        self.diagnostics.extend(problems)
        if key not in {_identity(s.name) for s in self.sources}:
            self.sources.append(found)
        return self.layer(mapping, found, (*stack, key))

    def layer(self, m: n.Mapping, source: Source, stack: tuple[str, ...]) -> _Layer:
        """``m`` with its parent merged in, and what it and its parents import."""
        imported_rules: list[n.RuleDecl] = []
        imported_defines: list[n.DefineDecl] = []
        imported: set[str] = set()
        for ref in m.imports:
            found = self.resolver(ref.target.name, source)
            if found is not None:  # one file, however its imports spell it: read once
                if _identity(found.name) in imported:
                    continue
                imported.add(_identity(found.name))
            loaded = self.load(ref, source, stack, found)
            if loaded is None:
                continue
            library = loaded.flat()
            if library.library is None or library.outputs or library.params:
                self.diagnostics.append(codes.not_a_library(ref.target.name, ref.target.span))
                continue
            imported_rules += self.no_clash(imported_rules, library.rules, ref)
            imported_defines += self.no_clash(imported_defines, library.defines, ref)
        own = _Layer(dataclasses.replace(m, imports=()), tuple(imported_rules),
                     tuple(imported_defines))
        if m.extends is None:
            return own
        parent = self.load(m.extends, source, stack)
        if parent is None:
            return dataclasses.replace(own, mapping=dataclasses.replace(own.mapping,
                                                                        extends=None))
        if parent.mapping.profile is None:
            self.diagnostics.append(codes.not_a_profile(m.extends.target.name,
                                                        m.extends.target.span))
            return dataclasses.replace(own, mapping=dataclasses.replace(own.mapping,
                                                                        extends=None))
        return _Layer(self.merge(parent.mapping, own.mapping),
                      _override(parent.rules, own.rules),
                      _override(parent.defines, own.defines))

    def no_clash(self, have: Sequence[_Named], new: Iterable[_Named],
                 ref: n.Reference) -> list[_Named]:
        names = {d.name.name: d for d in have}
        kept = []
        for d in new:
            if d.name.name in names:
                self.diagnostics.append(codes.clashing_imports(
                    d.name.name, ref.target.span, names[d.name.name].name.span))
                continue
            kept.append(d)
        return kept

    def merge(self, parent: n.Mapping, child: n.Mapping) -> n.Mapping:
        outputs = {o.file.name: o for o in parent.outputs}
        for o in child.outputs:
            base = outputs.get(o.file.name)
            if base is None:
                outputs[o.file.name] = o
                continue
            if base.entity.name != o.entity.name:
                self.diagnostics.append(codes.override_of_other_entity(
                    o.file.name, base.entity.name, o.entity.name, o.entity.span,
                    base.entity.span))
                continue
            columns = {f.column.name: f for f in base.fields}
            for f in o.fields:
                columns[f.column.name] = f  # replaces in place, or appends
            outputs[o.file.name] = dataclasses.replace(
                base,
                wheres=base.wheres + o.wheres,
                fields=tuple(columns.values()),
                warns=base.warns + o.warns,
                counters=base.counters + o.counters,
                each=o.each or base.each,
                rejects=base.rejects + o.rejects,
                key=o.key or base.key,
                sort=o.sort or base.sort,
                distinct=o.distinct or base.distinct,
                allow_empty=o.allow_empty or base.allow_empty,
                missing=o.missing or base.missing,
                limits=o.limits or base.limits,
                expects=base.expects + o.expects,
            )
        return dataclasses.replace(
            child,
            versions=child.versions or parent.versions,
            requires=parent.requires + child.requires,
            bundle=child.bundle or parent.bundle,
            params=_override(parent.params, child.params),
            rules=_override(parent.rules, child.rules),
            defines=_override(parent.defines, child.defines),
            outputs=tuple(outputs.values()),
            extends=None,
        )


def _identity(name: str) -> str:
    """A mapping file as one file, however it is spelt (./x.rmap, x, a link to it)."""
    return str(Path(name).resolve())


def _override(base: Iterable[_Named], mine: Iterable[_Named]) -> tuple[_Named, ...]:
    merged = {d.name.name: d for d in base}
    for d in mine:
        merged[d.name.name] = d
    return tuple(merged.values())


def resolve(
    mapping: n.Mapping, source: Source, resolver: Resolver | None = None
) -> tuple[n.Mapping, list[Diagnostic], list[Source]]:
    """The effective mapping, the problems found resolving it, and the files it used."""
    resolution = _Resolution(resolver or FileResolver())
    effective = resolution.layer(mapping, source, (_identity(source.name),)).flat()
    return effective, resolution.diagnostics, [source, *resolution.sources]
