"""Check a parsed mapping against the OneRoster data model and the language's types.

The checker resolves every name (field, parameter, rule, output), assigns types,
inlines named rules, ties each lookup to its outer record, and orders outputs so
that an output follows the outputs it tests membership in. It never raises: every
problem becomes a diagnostic and the expression is replaced by a typed "error"
constant of type ``any``, so one mistake does not cascade into ten.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rostermap.compiler import ir
from rostermap.compiler.push_check import check_order, check_push
from rostermap.dsl import codes, schema
from rostermap.dsl import nodes as n
from rostermap.dsl import types as t
from rostermap.dsl.diagnostics import Diagnostic, did_you_mean
from rostermap.dsl.limits import MAX_GRACE_DAYS, MAX_GRACE_RUNS
from rostermap.dsl.span import Source, Span
from rostermap.dsl.types import TODAY, parse_type
from rostermap.runtime.engine.functions import REGISTRY, Function

__all__ = ["TODAY", "check", "check_expression", "parse_type"]

_SCALAR_TYPES = t.SCALAR_TYPES


@dataclass(frozen=True)
class _Context:
    """Where an expression is read: the records in scope, innermost first."""

    scopes: tuple[schema.Entity, ...] = ()
    # The output's columns and their types, visible in `warn`, `counter` and `reject`.
    columns: tuple[tuple[str, t.Type], ...] = ()
    rules: tuple[str, ...] = ()  # the rules being expanded, to catch recursion
    # Values an enumerated field can still have after the output's `where` rules,
    # e.g. role in ("student", "teacher"): a `match` on it need not cover the rest.
    narrowed: tuple[tuple[str, frozenset[str]], ...] = ()
    # Inside a `define`: its parameters, bound to the caller's arguments.
    locals: tuple[tuple[str, ir.Expr], ...] = ()
    # In an output with `for each NAME in LIST`: the name, and the type of an item.
    item: tuple[str, t.Type] | None = None

    @property
    def in_lookup(self) -> bool:
        return len(self.scopes) > 1


_MISSING_ACTIONS = ("deactivate", "delete", "keep")

# What a run writes beside the outputs (changes/ and held/ are folders: no output
# name can be one, a file name has no slash).
_RESERVED_FILES = frozenset({"report.json", "report.html", "changes", "held"})
_LIMIT_ACTIONS = ("create", "update", "deactivate")


@dataclass
class _Checker:
    mapping: n.Mapping
    source: Source
    diagnostics: list[Diagnostic] = field(default_factory=list)
    versions: tuple[str, ...] = schema.VERSIONS
    params: dict[str, ir.ParamSpec] = field(default_factory=dict)
    rules: dict[str, n.RuleDecl] = field(default_factory=dict)
    defines: dict[str, n.DefineDecl] = field(default_factory=dict)
    outputs: dict[str, n.Output] = field(default_factory=dict)
    tables: dict[str, schema.Entity] = field(default_factory=dict)  # table parameters
    _reported: set[tuple[str, int, str]] = field(default_factory=set)
    _uses: list[str] = field(default_factory=list)  # outputs used by the output being checked
    _fallback: bool = False  # binding the first argument of coalesce/default
    # A rule or definition being applied to a linked record (`class.active`): its name,
    # kind, the linked entity and where it is applied; a field that entity lacks means
    # the rule is written for another entity (RM330).
    _through: tuple[str, str, schema.Entity, Span] | None = None
    broken: tuple[Span, ...] = ()  # where statements failed to parse

    # --- reporting -------------------------------------------------------------------
    def report(self, diagnostic: Diagnostic) -> None:
        # Rules are expanded at each use; report a problem inside one only once.
        start = diagnostic.primary.span.start if diagnostic.primary is not None else 0
        key = (diagnostic.code, start, diagnostic.message)
        if key in self._reported:
            return
        self._reported.add(key)
        self.diagnostics.append(diagnostic)

    def error_value(self, span: Span) -> ir.Const:
        return ir.Const(t.ANY, span, None)

    def text_of(self, span: Span) -> str:
        """The source text of a span, from the file it is in (extends and import bring
        nodes of other files)."""
        text = (span.source or self.source).text
        return re.sub(r"\s+", " ", text[span.start : span.end]).strip()

    # --- declarations ----------------------------------------------------------------
    def run(self) -> ir.CheckedMapping | None:
        m = self.mapping
        if m.library is not None:
            self.check_library()
            return None
        if m.profile is None:
            at = self.source.span(0, 0)
            self.report(codes.missing_profile(at))
        if m.versions is not None:
            versions = []
            for v in m.versions.versions:
                if v.name not in schema.VERSIONS:
                    self.report(codes.unknown_version(v.name, v.span))
                else:
                    versions.append(v.name)
            self.versions = tuple(versions) or schema.VERSIONS
        self.declare_params()
        self.declare_rules()
        self.declare_defines()
        self.declare_outputs()
        self.check_secrets()
        checked = [self.check_output(o) for o in self.outputs.values()]
        ordered = self.order_outputs([c for c in checked if c is not None])
        check_order(list(self.outputs.values()), self.report)
        requires = self.check_requires()
        if m.profile is None or any(d.is_error for d in self.diagnostics):
            return None
        return ir.CheckedMapping(
            requires=requires,
            profile=m.profile.name.name,
            title=m.profile.title or m.profile.name.name,
            versions=self.versions,
            params=tuple(self.params.values()),
            outputs=tuple(ordered),
            source_name=self.source.name,
            bundle=self.check_bundle(m.bundle, ordered),
        )

    def check_bundle(self, b: n.BundleDecl | None, outputs: Sequence[ir.CheckedOutput]
                     ) -> str | None:
        """`bundle NAME.zip`: a zip, named unlike every file the run writes."""
        if b is None:
            return None
        name = b.name.name
        taken = {o.name.lower() for o in outputs} | _RESERVED_FILES
        if not name.lower().endswith(".zip") or name.lower() in taken:
            self.report(codes.bad_bundle_name(name, b.name.span))
            return None
        return name

    def declare_params(self) -> None:
        for p in self.mapping.params:
            name = p.name.name
            if name in self.params:
                self.report(codes.duplicate_parameter(name, p.name.span))
                continue
            type_ = self.resolve_type(p.type)
            # A choice, or a list of one (`list["term" | "semester"]`): the texts it takes.
            choices = p.type.choices or (p.type.args[0].choices
                                         if p.type.name == "list" and len(p.type.args) == 1
                                         else ())
            default: Any = None
            if type_ is not None and type_.kind == "table":
                # A table parameter names a file; `= []` makes it optional (an empty table).
                empty = isinstance(p.default, n.ListExpr) and not p.default.items
                if p.default is not None and not empty:
                    self.report(codes.table_default(p.default.span))
                self.params[name] = ir.ParamSpec(name, type_, None, p.default is None,
                                                 p.span.line, columns=p.type.columns)
                self.tables[name] = _table_entity(name, p.type.columns)
                continue
            if p.default is not None and type_ is not None:
                value = self.bind(p.default, _Context())
                if isinstance(value, ir.Call) and value.function == "today" and type_ == t.DATE:
                    value = ir.Const(t.DATE, value.span, TODAY)  # resolved when the run starts
                if not isinstance(value, ir.Const) or value.type.kind == "any":
                    self.report(codes.default_not_constant(p.default.span))
                elif not _fits(value.type, type_):
                    self.report(codes.default_of_wrong_type(value.type, type_, p.default.span))
                elif choices and any(v not in choices for v in (
                        value.value if type_.is_list else (value.value,))):
                    self.report(codes.default_not_a_choice(str(p.type), p.default.span))
                else:
                    default = list(value.value) if type_.is_list else value.value
            if p.type.name == "secret" and p.default is not None:
                self.report(codes.secret_default(name, p.default.span))
            names, by = self.check_naming(p, type_) if p.naming is not None else ("", ())
            self.params[name] = ir.ParamSpec(
                name, type_ or t.ANY, default, p.default is None, p.span.line,
                choices=choices, secret=p.type.name == "secret", names=names,
                names_by=by, ignore_case=p.naming is not None and p.naming.ignore_case,
            )

    def check_naming(self, p: n.ParamDecl,
                     type_: t.Type | None) -> tuple[str, tuple[str, ...]]:
        """The entity and text fields whose records a parameter's values name; ("", ())
        when the declaration is wrong (reported)."""
        assert p.naming is not None
        naming = p.naming
        ok = True
        if type_ is not None and type_ not in (t.STR, t.list_of(t.STR)):
            self.report(codes.naming_not_text("the parameter", str(type_), p.type.span))
            ok = False
        entity = schema.entity(naming.entity.name)
        if entity is None:
            hint = did_you_mean(naming.entity.name, schema.ENTITIES)
            self.report(codes.unknown_entity(naming.entity.name, naming.entity.span, hint,
                                             schema.ENTITIES))
            return "", ()
        for f in naming.fields:
            spec = entity.fields.get(f.name)
            if spec is None:
                hint = did_you_mean(f.name, entity.fields)
                self.report(codes.unknown_field(f.name, entity.name, entity.record, f.span,
                                                hint))
                ok = False
            elif spec.type != t.STR:
                self.report(codes.naming_not_text(f"the field `{f.name}`", str(spec.type),
                                                  f.span))
                ok = False
        return (entity.name, tuple(f.name for f in naming.fields)) if ok else ("", ())

    def resolve_type(self, ref: n.TypeRef) -> t.Type | None:
        if ref.name == "choice" or ref.name == "secret":
            return t.STR
        if ref.columns:
            if ref.name != "table":
                self.report(codes.unknown_table_type(ref.name, ref.span))
                return None
            return t.Type("table")
        if ref.name == "list" and len(ref.args) == 1:
            inner = self.resolve_type(ref.args[0])
            return t.list_of(inner) if inner else None
        if ref.name in _SCALAR_TYPES and not ref.args:
            return _SCALAR_TYPES[ref.name]
        hint = did_you_mean(ref.name, [*_SCALAR_TYPES, "list", "secret"])
        self.report(codes.unknown_type(str(ref), ref.span, hint))
        return None

    def declare_rules(self) -> None:
        for r in self.mapping.rules:
            name = r.name.name
            if name in self.rules or name in self.params:
                self.report(codes.already_defined(name, r.name.span))
                continue
            self.rules[name] = r

    def check_requires(self) -> tuple[str, ...]:
        items: list[str] = []
        for r in self.mapping.requires:
            for ident in r.items:
                if ident.name in ("manifest", "bulk"):
                    items.append(ident.name)
                    continue
                entity = schema.entity(ident.name)
                if entity is None:
                    hint = did_you_mean(ident.name, [*schema.ENTITIES, "manifest", "bulk"])
                    self.report(codes.unknown_requirement(ident.name, ident.span, hint))
                    continue
                items.append(entity.name)
        return tuple(dict.fromkeys(items))

    def declare_defines(self) -> None:
        for d in self.mapping.defines:
            name = d.name.name
            if name in REGISTRY:
                self.report(codes.redefined_function(name, d.name.span))
                continue
            if name in self.defines:
                self.report(codes.already_defined(name, d.name.span))
                continue
            self.defines[name] = d

    def check_library(self) -> None:
        """A library file on its own: its definitions, which are checked where used."""
        m = self.mapping
        for statement in (*m.params, *m.outputs):
            self.report(codes.statement_in_library(statement.span))
        self.declare_rules()
        self.declare_defines()

    def declare_outputs(self) -> None:
        for o in self.mapping.outputs:
            if o.file.name.lower() in _RESERVED_FILES:
                self.report(codes.reserved_output_name(o.file.name, o.file.span))
                continue
            if o.file.name in self.outputs:
                first = self.outputs[o.file.name]
                self.report(codes.duplicate_output(o.file.name, o.file.span, first.file.span))
                continue
            self.outputs[o.file.name] = o

    # --- outputs ---------------------------------------------------------------------
    def lost_statements(self, o: n.Output) -> bool:
        """Whether a syntax error dropped statements from this output's block."""
        later = [x.span.start for x in self.mapping.outputs if x.span.start > o.span.start]
        end = min(later, default=len(self.source.text))
        return any(o.span.start < span.start < end for span in self.broken)

    def entity(self, name: str) -> schema.Entity | None:
        """An entity by name: a table parameter's, or one of OneRoster's."""
        return self.tables.get(name) or schema.entity(name)

    def check_secrets(self) -> None:
        """A secret parameter is written, whole, into columns of its own, and used
        nowhere else: in a rule, a key, a lookup or a transform it would reach the run
        state, the change files and the reports, which keep no secret. A column that
        is a secret is known by name, so the state stores nothing for it."""
        secrets = {name for name, p in self.params.items() if p.secret}
        if not secrets:
            return
        for body in (*(r.body for r in self.mapping.rules),
                     *(d.body for d in self.mapping.defines)):
            for name in _names(body, secrets):
                self.report(codes.secret_in_expression(name.name, name.span))
        for o in self.mapping.outputs:
            columns: set[str] = set()
            for f in o.fields:
                if isinstance(f.value, n.Name) and f.value.name in secrets:
                    columns.add(f.column.name)
                    continue
                for name in _names(f.value, secrets):
                    self.report(codes.secret_in_expression(name.name, name.span))
            for node in (*o.wheres, *o.warns, *o.counters, *o.rejects,
                         *([o.each] if o.each is not None else [])):
                for name in _names(node, secrets):
                    self.report(codes.secret_in_expression(name.name, name.span))
            for ident in (*o.key, *o.sort):
                if ident.name in columns:
                    self.report(codes.secret_in_key(ident.name, ident.span))

    def check_output(self, o: n.Output) -> ir.CheckedOutput | None:
        entity = self.entity(o.entity.name)
        if entity is None:
            hint = did_you_mean(o.entity.name, [*schema.ENTITIES, *self.tables])
            self.report(codes.unknown_entity(o.entity.name, o.entity.span, hint, schema.ENTITIES))
            return None
        self.check_entity_versions(entity, o.entity.span)
        self._uses = []
        ctx = _Context(scopes=(entity,))
        each: tuple[str, ir.Expr] | None = None
        if o.each is not None:
            items = self.bind(o.each.items, ctx)
            if items.type.kind != "any" and not items.type.is_list:
                self.report(codes.each_needs_list(items.type, o.each.items.span))
            elif o.each.name.name in entity.fields:
                self.report(codes.item_named_like_field(o.each.name.name, entity.name,
                                                        o.each.name.span))
            else:
                each = (o.each.name.name, items)
                ctx = dataclasses.replace(ctx, item=(o.each.name.name,
                                                     items.type.item or t.ANY))
        fmt = "json" if o.push is not None else output_format(o.file.name)
        wheres = []
        for w in o.wheres:
            test = self.condition(self.bind(w.test, ctx), w.test.span, "where")
            wheres.append(ir.WhereRule(w.span.line, self.text_of(w.span), test, w.report))
        ctx = dataclasses.replace(ctx, narrowed=_narrowing([w.test for w in wheres]))
        columns: list[ir.ColumnRule] = []
        seen: dict[str, n.FieldRule] = {}
        for f in o.fields:
            name = f.column.name
            if name in seen:
                self.report(codes.duplicate_column(name, f.column.span, seen[name].column.span))
                continue
            seen[name] = f
            value = self.bind(f.value, ctx)
            if fmt == "csv" and (value.type.is_list or value.type.kind == "object"):
                self.report(codes.value_in_column(name, value.type, self.text_of(f.value.span),
                                                  f.value.span))
            columns.append(ir.ColumnRule(name, f.span.line, self.text_of(f.span), value))
        if not o.fields and not self.lost_statements(o):
            self.report(codes.output_without_columns(o.file.name, o.file.span))
        warn_ctx = dataclasses.replace(ctx, columns=tuple((c.name, c.value.type) for c in columns))
        warns = [
            ir.WarnRule(w.span.line, w.message,
                        self.condition(self.bind(w.test, warn_ctx), w.test.span, "warn ... if"))
            for w in o.warns
        ]
        counters = [
            ir.CounterRule(c.label, c.span.line, None if c.test is None else self.condition(
                self.bind(c.test, warn_ctx), c.test.span, "counter ... if"))
            for c in o.counters
        ]
        rejects = [self.reject_rule(r, warn_ctx, columns) for r in o.rejects]
        missing, limits = self.check_sync(o, {c.name: c.value.type for c in columns})
        contracts = self.check_contracts(o, columns, fmt, missing)
        for ident in (*o.key, *o.sort):
            if ident.name not in seen:
                hint = did_you_mean(ident.name, seen)
                self.report(codes.unknown_column(ident.name, o.file.name, ident.span, hint))
        return ir.CheckedOutput(
            name=o.file.name,
            entity=entity.name,
            line=o.span.line,
            wheres=tuple(wheres),
            columns=tuple(columns),
            warns=tuple(warns),
            key=tuple(i.name for i in o.key),
            sort=tuple(i.name for i in o.sort),
            distinct=o.distinct is not None,
            allow_empty=o.allow_empty is not None,
            depends_on=tuple(dict.fromkeys(self._uses)),
            counters=tuple(counters),
            rejects=tuple(rejects),
            each=each,
            format=fmt,
            missing=missing,
            limits=limits,
            contracts=contracts,
            push=None if o.push is None else check_push(
                o, entity.name, {c.name: c.value.type for c in columns}, self.report),
            secrets=tuple((c.name, c.value.name) for c in columns
                          if isinstance(c.value, ir.ParamRead) and c.value.name in self.params
                          and self.params[c.value.name].secret),
        )

    def reject_rule(self, r: n.RejectDecl, ctx: _Context,
                    columns: list[ir.ColumnRule]) -> ir.RejectRule:
        """`reject REASON if TEST`. A reason that is not a literal is worked out for each
        record: text, and none of it personal data, for it is written into the report."""
        test = self.condition(self.bind(r.test, ctx), r.test.span, "reject ... if")
        reason = self.bind(r.reason, ctx)
        if isinstance(reason, ir.Const) and isinstance(reason.value, str):
            return ir.RejectRule(reason.value, r.span.line, test)
        if reason.type.kind != "any" and not reason.type.is_text:
            self.report(codes.reason_not_text(reason.type, r.reason.span))
        personal = _personal(reason, {c.name: c.value for c in columns})
        if personal is not None:
            self.report(codes.personal_data_in_reason(personal, r.reason.span))
        return ir.RejectRule(self.text_of(r.reason.span), r.span.line, test, reason)

    def check_sync(self, o: n.Output, types: dict[str, t.Type]
                   ) -> tuple[ir.MissingPolicy | None, tuple[tuple[str, float, bool, bool], ...]]:
        """`when missing` and `limit`: the words are few and fixed, so a typo is named.
        ``types`` are the output's columns, which `when missing ... with` may set."""
        def word(ident: n.Ident, allowed: tuple[str, ...], slot: codes.SyncWord) -> str | None:
            name = ident.name
            if name in allowed:
                return name
            if not name.endswith("s") and f"{name}s" in allowed:
                return f"{name}s"  # `after 1 run`
            hint = did_you_mean(name, allowed)
            self.report(codes.unknown_sync_word(name, slot, allowed, hint, ident.span))
            return None

        missing = None
        if o.missing is not None:
            m = o.missing
            action = word(m.action, _MISSING_ACTIONS, "missing action")
            unit = "runs" if m.unit is None else word(m.unit, ("runs", "days"), "grace unit")
            most = MAX_GRACE_RUNS if unit == "runs" else MAX_GRACE_DAYS
            if m.after is not None and unit is not None and not 1 <= m.after <= most:
                self.report(codes.grace_out_of_range(m.after, unit, m.span))
            elif action is not None and unit is not None:
                sets = self.check_departed_row(m, action, o, types)
                missing = ir.MissingPolicy(action, m.after or 0, unit, sets)
        limits = []
        for lim in o.limits:
            action = word(lim.action, _LIMIT_ACTIONS, "limit action")
            per = lim.per is None or word(lim.per, ("school",), "limit scope") is not None
            whole = lim.percent or lim.amount == int(lim.amount)
            if lim.amount < 0 or (lim.percent and lim.amount > 100) or not whole:
                self.report(codes.limit_out_of_range(lim.amount, lim.percent, lim.span))
            elif action is not None and per:
                limits.append((action, lim.amount, lim.percent, lim.per is not None))
        if (o.missing is not None or o.limits) and not o.key:
            first = o.missing.span if o.missing is not None else o.limits[0].span
            self.report(codes.change_set_without_key(o.file.name, first))
        return missing, tuple(limits)

    def check_departed_row(self, m: n.MissingDecl, action: str, o: n.Output,
                           types: dict[str, t.Type]) -> tuple[tuple[str, n.LiteralValue], ...]:
        """The columns `when missing ... with` sets on a departed row."""
        if m.sets and action == "keep":
            self.report(codes.departed_row_kept(m.sets[0].span))
            return ()
        keys = {k.name for k in o.key}
        sets: dict[str, n.LiteralValue] = {}
        for x in m.sets:
            name, value = x.column.name, x.value.value
            if name not in types:
                hint = did_you_mean(name, types)
                self.report(codes.unknown_column(name, o.file.name, x.column.span, hint))
            elif name in keys:
                self.report(codes.departed_row_key(name, x.column.span))
            elif name in sets:
                self.report(codes.repeated_in_output(f"{name} =", x.span))
            elif not t.comparable(types[name], _literal_type(value)):
                self.report(codes.departed_row_type(name, types[name], _literal_type(value),
                                                    x.value.span))
            else:
                sets[name] = value
        return tuple(sets.items())

    def check_contracts(self, o: n.Output, columns: list[ir.ColumnRule], fmt: str,
                        missing: ir.MissingPolicy | None) -> tuple[ir.Contract, ...]:
        """`expect` lines: columns of the output holding text (what the file writes),
        and no contract that the mapping's own departed rows would break."""
        by_name = {c.name: c for c in columns}
        contracts: list[ir.Contract] = []
        for x in o.expects:
            text = self.text_of(x.span)
            if x.kind is n.Expectation.COUNT:
                if (x.op == "<" and x.amount == 0) or (x.op == "<=" and x.amount < 0):
                    self.report(codes.contract_rows_op(x.op, x.amount, x.span))
                    continue
                contracts.append(ir.Contract(x.kind.value, x.span.line, text, op=x.op,
                                             amount=x.amount))
                continue
            known = True
            for ident in x.columns:
                column = by_name.get(ident.name)
                if column is None:
                    hint = did_you_mean(ident.name, by_name)
                    self.report(codes.unknown_column(ident.name, o.file.name, ident.span, hint))
                    known = False
                elif fmt != "csv" and (column.value.type.is_list
                                       or column.value.type.kind == "object"):
                    self.report(codes.contract_on_structured_column(
                        ident.name, column.value.type, ident.span))
                    known = False
            if not known:
                continue
            if x.kind is n.Expectation.ALLOWED and missing is not None:
                for name, value in missing.sets:
                    written = _written(value)
                    if name in {c.name for c in x.columns} and written not in x.values:
                        at = next(m.value.span for m in (o.missing.sets if o.missing else ())
                                  if m.column.name == name)
                        self.report(codes.departed_row_breaks_contract(name, written, x.values,
                                                                       at, x.span))
            personal = any(_personal(by_name[c.name].value, {}) is not None for c in x.columns)
            contracts.append(ir.Contract(x.kind.value, x.span.line, text,
                                         tuple(c.name for c in x.columns), x.values,
                                         personal=personal))
        return tuple(contracts)

    def order_outputs(self, checked: list[ir.CheckedOutput]) -> list[ir.CheckedOutput]:
        """Outputs in dependency order (file order among equals); cycles are reported."""
        by_name = {c.name: c for c in checked}
        done: list[ir.CheckedOutput] = []
        state: dict[str, str] = {}

        def visit(c: ir.CheckedOutput, path: tuple[str, ...]) -> None:
            if state.get(c.name) == "done":
                return
            if state.get(c.name) == "active":
                cycle = (*path[path.index(c.name):], c.name)
                self.report(codes.output_cycle(cycle, self.outputs[c.name].file.span))
                return
            state[c.name] = "active"
            for dep in c.depends_on:
                if dep in by_name:
                    visit(by_name[dep], (*path, c.name))
            state[c.name] = "done"
            done.append(c)

        for c in checked:
            visit(c, ())
        return done

    def check_entity_versions(self, entity: schema.Entity, span: Span) -> None:
        missing = [v for v in self.versions if v not in entity.versions]
        if missing:
            self.report(codes.entity_not_in_every_version(entity.name, entity.versions, missing,
                                                          span))

    # --- expressions -----------------------------------------------------------------
    def condition(self, value: ir.Expr, span: Span, construct: str) -> ir.Expr:
        """``value`` where a true/false value is needed, by ``construct`` (where, and, ...)."""
        if value.type.kind not in ("bool", "any"):
            self.report(codes.not_a_condition(construct, value.type, span))
            return self.error_value(span)
        return value

    def bind(self, e: n.Expr, ctx: _Context) -> ir.Expr:
        method = getattr(self, f"bind_{type(e).__name__}")
        result: ir.Expr = method(e, ctx)
        return result

    def bind_Literal(self, e: n.Literal, ctx: _Context) -> ir.Expr:
        return ir.Const(_literal_type(e.value), e.span, e.value)

    def bind_ObjectExpr(self, e: n.ObjectExpr, ctx: _Context) -> ir.Expr:
        seen: set[str] = set()
        entries = []
        for key, value in e.entries:
            if key.name in seen:
                self.report(codes.duplicate_key(key.name, key.span))
            seen.add(key.name)
            entries.append((key.name, self.bind(value, ctx)))
        return ir.ObjectOf(t.OBJECT, e.span, tuple(entries))

    def bind_ListExpr(self, e: n.ListExpr, ctx: _Context) -> ir.Expr:
        items = [self.bind(i, ctx) for i in e.items]
        item_type: t.Type | None = t.ANY
        for item in items:
            item_type = t.common(item_type, item.type) if item_type else None
        if item_type is None:
            self.report(codes.mixed_list(e.span))
            item_type = t.ANY
        if all(isinstance(i, ir.Const) for i in items):
            return ir.Const(t.list_of(item_type), e.span,
                            tuple(i.value for i in items if isinstance(i, ir.Const)))
        return ir.ListOf(t.list_of(item_type), e.span, tuple(items))

    def bind_This(self, e: n.This, ctx: _Context) -> ir.Expr:
        if not ctx.scopes:
            self.report(codes.this_outside_record(e.span))
            return self.error_value(e.span)
        scope = 1 if ctx.in_lookup else 0
        entity = ctx.scopes[scope]
        return ir.FieldRead(t.ref(entity.name), e.span, scope, entity.name, "sourcedId")

    def field_read(self, entity: schema.Entity, scope: int, name: str, span: Span) -> ir.Expr:
        f = entity.fields[name]
        missing = [v for v in self.versions if v not in f.versions]
        if missing and not self._fallback:
            self.report(codes.field_not_in_every_version(name, f.versions, missing, span))
        type_ = t.ref(entity.name) if name == "sourcedId" else f.type
        return ir.FieldRead(type_, span, scope, entity.name, name)

    def bind_Name(self, e: n.Name, ctx: _Context) -> ir.Expr:
        name = e.name
        local = dict(ctx.locals).get(name)
        if local is not None:
            return local
        column = dict(ctx.columns).get(name)
        if column is not None:
            return ir.OutColumn(column, e.span, name)
        if ctx.item is not None and ctx.item[0] == name and not ctx.in_lookup:
            return ir.ItemRead(ctx.item[1], e.span, name)
        entity = ctx.scopes[0] if ctx.scopes else None
        is_field = entity is not None and name in entity.fields
        other: Literal["parameter", "rule", "definition"] | None = (
            "parameter" if name in self.params else "rule" if name in self.rules
            else "definition" if name in self.defines and not self.defines[name].params
            else None)
        if entity is not None and is_field and other:
            self.report(codes.ambiguous_name(name, entity.name, other, e.span))
            return self.error_value(e.span)
        if entity is not None and is_field:
            return self.field_read(entity, 0, name, e.span)
        if name in self.params:
            spec = self.params[name]
            return ir.ParamRead(spec.type, e.span, name)
        if name in self.rules:
            return self.expand_rule(name, e.span, ctx)
        if name in self.defines and not self.defines[name].params:
            return self.expand_define(n.Call(e.span, n.Ident(e.span, name), ()), ctx)
        if entity is not None and name.lower() in (entity.name.lower(), entity.record.lower()):
            return self.bind_This(n.This(e.span), dataclasses.replace(ctx, scopes=ctx.scopes[:1]))
        if f"{name}" in self.outputs:
            self.report(codes.output_as_value(name, e.span))
            return self.error_value(e.span)
        return self.unknown_name(name, e.span, entity, ctx.locals)

    def unknown_name(self, name: str, span: Span, entity: schema.Entity | None,
                     ctx_locals: tuple[tuple[str, ir.Expr], ...] = ()) -> ir.Expr:
        if self._through is not None and entity is self._through[2]:
            rule, kind, target, used = self._through
            having = self.written_for(rule)
            self.report(codes.rule_for_other_entity(rule, kind, name, target.name,
                                                    target.record, having, used))
            return self.error_value(span)
        fields = list(entity.fields) if entity else []
        hint = did_you_mean(name, [*fields, *self.params, *self.rules, *self.defines,
                                   *dict(ctx_locals)])
        if entity is not None and (hint is None or hint in fields):
            self.report(codes.unknown_field(name, entity.name, entity.record, span, hint))
        else:
            self.report(codes.unknown_name(name, span, hint))
        return self.error_value(span)

    def expand_rule(self, name: str, span: Span, ctx: _Context) -> ir.Expr:
        rule = self.rules[name]
        if name in ctx.rules:
            self.report(codes.recursive_rule(name, (*ctx.rules, name), rule.name.span))
            return self.error_value(span)
        return self.bind(rule.body, dataclasses.replace(ctx, rules=(*ctx.rules, name)))

    def output_ref(self, e: n.Expr) -> str | None:
        """The output an expression names (``users.csv`` parses as a field path)."""
        text = _path_text(e)
        return text if text is not None and text in self.outputs else None

    def bind_Attr(self, e: n.Attr, ctx: _Context) -> ir.Expr:
        if (out := self.output_ref(e)) is not None:
            self.report(codes.output_as_value(out, e.span))
            return self.error_value(e.span)
        obj = e.obj
        entity = ctx.scopes[0] if ctx.scopes else None
        if isinstance(obj, n.Name) and obj.name == "param" and obj.name not in self.params:
            # param.X names a parameter even where a field has the same name.
            spec = self.params.get(e.attr.name)
            if spec is None:
                hint = did_you_mean(e.attr.name, self.params)
                self.report(codes.unknown_parameter(e.attr.name, e.attr.span, hint))
                return self.error_value(e.span)
            return ir.ParamRead(spec.type, e.span, spec.name)
        # `Users.username` (the seed tables' spelling) names a field of the record read.
        if (
            isinstance(obj, n.Name)
            and entity is not None
            and obj.name not in entity.fields
            and obj.name not in self.params
            and obj.name.lower() in (entity.name.lower(), entity.record.lower())
        ):
            obj = n.This(obj.span)
        base = self.bind(obj, ctx)
        name = e.attr.name
        if base.type.kind == "any":
            return self.error_value(e.span)
        if base.type.kind == "ref":
            target = schema.ENTITIES[base.type.entity or ""]
            if name == "sourcedId":
                return dataclasses.replace(base, span=e.span)
            if name not in target.fields and (
                    name in self.rules or name in self.defines and not self.defines[name].params):
                return self.through_reference(base, target, name, e, ctx)
            if name not in target.fields:
                linked = [r for r in (*self.rules, *self.defines)
                          if r in self.rules or not self.defines[r].params]
                hint = did_you_mean(name, [*target.fields, *linked])
                self.report(codes.unknown_field(name, target.name, target.record, e.attr.span,
                                                hint))
                return self.error_value(e.span)
            if isinstance(base, ir.FieldRead) and base.name == "sourcedId":
                # this.x reads the record itself, not a joined copy of it
                return self.field_read(target, base.scope, name, e.span)
            f = self.field_read(target, 0, name, e.span)
            return ir.Deref(f.type, e.span, base, target.name, name)
        if base.type.is_list and base.type.item and base.type.item.kind == "ref":
            return self.each_field(base, e, ctx)
        self.report(codes.no_fields(base.type, e.attr.span))
        return self.error_value(e.span)

    def written_for(self, rule: str) -> list[str]:
        """The entities that have every field a rule's body names (nested rules and
        definitions named in it included): what the rule can be applied to."""
        seen: set[str] = set()
        fields: set[str] = set()
        todo = [rule]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            body = self.rules[name].body if name in self.rules else self.defines[name].body
            declared = self.defines[name].params if name in self.defines else ()
            local = {p.name for p in declared}
            for found in _all_names(body):
                if found in self.rules or found in self.defines:
                    todo.append(found)
                elif found not in self.params and found not in local and found not in REGISTRY:
                    fields.add(found)
        return [e.name for e in schema.ENTITIES.values() if fields <= set(e.fields)]

    def through_reference(self, base: ir.Expr, target: schema.Entity, name: str, e: n.Attr,
                          ctx: _Context) -> ir.Expr:
        """``class.active``: a rule, or a definition without parameters, applied to the
        record a reference points to. Its body is checked as if written in an output of
        the linked entity, then each field it reads is read through the reference
        (``class.status``), so it means what writing those fields out would."""
        kind = "rule" if name in self.rules else "definition"
        body = self.rules[name].body if kind == "rule" else self.defines[name].body
        if name in ctx.rules:
            if kind == "rule":
                self.report(codes.recursive_rule(name, (*ctx.rules, name),
                                                 self.rules[name].name.span))
            else:
                self.report(codes.recursive_definition(name, (*ctx.rules, name),
                                                       self.defines[name].name.span))
            return self.error_value(e.span)
        outer, self._through = self._through, (name, kind, target, e.span)
        try:
            value = self.bind(body, _Context(scopes=(target,), rules=(*ctx.rules, name)))
        finally:
            self._through = outer
        if value.type.kind == "any":
            return self.error_value(e.span)
        held = _held_through(value)
        if held is not None:
            self.report(codes.rule_through_reference_holds(name, held, e.span))
            return self.error_value(e.span)
        return _via(value, base)

    def each_field(self, base: ir.Expr, e: n.Attr, ctx: _Context) -> ir.Expr:
        """``orgs.identifier``: the field of every record a list of references names,
        as a list (in the records' sourcedId order): a lookup through the list."""
        assert base.type.item is not None
        target = schema.ENTITIES[base.type.item.entity or ""]
        name = e.attr.name
        if name not in target.fields:
            hint = did_you_mean(name, target.fields)
            self.report(codes.unknown_field(name, target.name, target.record, e.attr.span, hint))
            return self.error_value(e.span)
        if name == "sourcedId":
            return dataclasses.replace(base, span=e.span)
        if ctx.in_lookup:
            self.report(codes.references_in_lookup(self.text_of(e.obj.span), name, e.span))
            return self.error_value(e.span)
        field = self.field_read(target, 0, name, e.attr.span)
        key = ir.FieldRead(t.ref(target.name), e.span, 0, target.name, "sourcedId")
        return ir.Lookup(t.list_of(field.type), e.span, target.name, field, None, key, base,
                         "outer")

    def bind_Index(self, e: n.Index, ctx: _Context) -> ir.Expr:
        base = self.bind(e.obj, ctx)
        if base.type.kind == "any":
            return self.error_value(e.span)
        if not base.type.is_list or base.type.item is None:
            self.report(codes.cannot_index(base.type, e.obj.span))
            return self.error_value(e.span)
        return ir.Index(base.type.item, e.span, base, e.index)

    def bind_Compare(self, e: n.Compare, ctx: _Context) -> ir.Expr:
        left, right = self.bind(e.left, ctx), self.bind(e.right, ctx)
        if not t.comparable(left.type, right.type) or (
            e.op not in ("=", "!=") and (left.type.is_list or left.type.kind == "bool")
        ):
            self.report(codes.cannot_compare(left.type, right.type, e.op, e.span))
            return self.error_value(e.span)
        self.check_enum(left, right)
        self.check_enum(right, left)
        return ir.Compare(t.BOOL, e.span, e.op, left, right)

    def check_enum(self, value: ir.Expr, other: ir.Expr) -> None:
        """Warn when a literal compared with an enumerated field can never match."""
        enum_name = value.type.enum
        if enum_name is None:
            return
        if isinstance(other, ir.ParamRead) and other.name in self.params:
            # A choice parameter (or a list of choices): its choices are the literals.
            literals: tuple[Any, ...] = self.params[other.name].choices
        elif isinstance(other, ir.Const):
            literals = other.value if isinstance(other.value, tuple) else (other.value,)
        else:
            return
        allowed = schema.ENUMS[enum_name]
        for literal in literals:
            if not isinstance(literal, str) or literal == "" or literal in allowed:
                continue
            if literal.startswith("ext:"):
                continue
            hint = did_you_mean(literal, allowed)
            self.report(codes.outside_enumeration(literal, enum_name, allowed, hint, other.span))

    def bind_In(self, e: n.In, ctx: _Context) -> ir.Expr:
        item = self.bind(e.item, ctx)
        if (out := self.output_ref(e.collection)) is not None:
            return self.membership(item, out, e, ctx)
        text = _path_text(e.collection)
        if text is not None and re.fullmatch(r"\w+\.(csv|jsonl|json|tsv|txt)", text):
            hint = did_you_mean(text, self.outputs)
            self.report(codes.unknown_output(text, e.collection.span, hint))
            return self.error_value(e.span)
        collection = self.bind(e.collection, ctx)
        if collection.type.kind == "any" or item.type.kind == "any":
            return self.error_value(e.span)
        if not collection.type.is_list or collection.type.item is None:
            self.report(codes.in_needs_list(collection.type, e.collection.span))
            return self.error_value(e.span)
        if not t.comparable(item.type, collection.type.item):
            self.report(codes.cannot_look_for(item.type, collection.type, e.span))
            return self.error_value(e.span)
        self.check_enum(item, collection)
        return ir.InList(t.BOOL, e.span, item, collection, e.negated)

    def membership(self, item: ir.Expr, out: str, e: n.In, ctx: _Context) -> ir.Expr:
        target = self.entity(self.outputs[out].entity.name)
        if item.type.kind == "any" or target is None:
            return self.error_value(e.span)
        if item.type.kind != "ref" or item.type.entity != target.name:
            self.report(codes.wrong_membership(out, target.name, target.record, item.type,
                                               e.item.span))
            return self.error_value(e.span)
        self._uses.append(out)
        return ir.Member(t.BOOL, e.span, item, out, e.negated)

    def bind_IsEmpty(self, e: n.IsEmpty, ctx: _Context) -> ir.Expr:
        return ir.IsEmpty(t.BOOL, e.span, self.bind(e.operand, ctx), e.negated)

    def bind_Quantified(self, e: n.Quantified, ctx: _Context) -> ir.Expr:
        items, collection = self.bind(e.items, ctx), self.bind(e.collection, ctx)
        for value, span in ((items, e.items.span), (collection, e.collection.span)):
            if value.type.kind != "any" and not value.type.is_list:
                self.report(codes.quantifier_needs_lists(e.quantifier, value.type, span))
                return self.error_value(e.span)
        if items.type.item and collection.type.item and not t.comparable(
            items.type.item, collection.type.item
        ):
            self.report(codes.cannot_compare_lists(items.type, collection.type, e.span))
            return self.error_value(e.span)
        return ir.Quant(t.BOOL, e.span, e.quantifier, items, collection)

    def bind_BoolOp(self, e: n.BoolOp, ctx: _Context) -> ir.Expr:
        operands = tuple(
            self.condition(self.bind(o, ctx), o.span, e.op) for o in e.operands
        )
        return (ir.And if e.op == "and" else ir.Or)(t.BOOL, e.span, operands)

    def bind_Not(self, e: n.Not, ctx: _Context) -> ir.Expr:
        operand = self.condition(self.bind(e.operand, ctx), e.operand.span, "not")
        return ir.Not(t.BOOL, e.span, operand)

    def bind_Arith(self, e: n.Arith, ctx: _Context) -> ir.Expr:
        left, right = self.bind(e.left, ctx), self.bind(e.right, ctx)
        if left.type.kind == "any" or right.type.kind == "any":
            return self.error_value(e.span)
        if left.type.is_number and right.type.is_number:
            kind = t.INT if left.type == right.type == t.INT else t.FLOAT
            return ir.Arith(kind, e.span, e.op, left, right)
        if e.op == "+" and left.type.is_text and right.type.is_text:
            return ir.Call(t.STR, e.span, "concat", (left, right))
        self.report(codes.cannot_compute(left.type, e.op, right.type, e.span))
        return self.error_value(e.span)

    def bind_Neg(self, e: n.Neg, ctx: _Context) -> ir.Expr:
        operand = self.bind(e.operand, ctx)
        if operand.type.kind != "any" and not operand.type.is_number:
            self.report(codes.cannot_negate(operand.type, e.span))
            return self.error_value(e.span)
        return ir.Neg(operand.type, e.span, operand)

    def branches(self, values: list[ir.Expr], span: Span) -> t.Type:
        result: t.Type | None = t.ANY
        for value in values:
            result = t.common(result, value.type) if result else None
        if result is None:
            self.report(codes.branch_types([v.type for v in values], span))
            return t.ANY
        return result

    def bind_If(self, e: n.If, ctx: _Context) -> ir.Expr:
        test = self.condition(self.bind(e.test, ctx), e.test.span, "if")
        then, orelse = self.bind(e.then, ctx), self.bind(e.orelse, ctx)
        return ir.IfElse(self.branches([then, orelse], e.span), e.span, test, then, orelse)

    def bind_Match(self, e: n.Match, ctx: _Context) -> ir.Expr:
        subject = self.bind(e.subject, ctx)
        arms: list[tuple[tuple[Any, ...], ir.Expr]] = []
        for arm in e.arms:
            patterns = []
            for p in arm.patterns:
                pattern = self.bind_Literal(p, ctx)
                if not t.comparable(subject.type, pattern.type):
                    self.report(codes.pattern_cannot_match(pattern.type, subject.type, p.span))
                self.check_enum(subject, pattern)
                patterns.append(p.value)
            arms.append((tuple(patterns), self.bind(arm.value, ctx)))
        default = self.bind(e.default, ctx) if e.default is not None else None
        if default is None and subject.type.enum is not None:
            possible = set(schema.ENUMS[subject.type.enum])
            if isinstance(subject, ir.FieldRead) and subject.scope == 0:
                possible &= dict(ctx.narrowed).get(subject.name, frozenset(possible))
            missed = sorted(possible - {p for patterns, _ in arms for p in patterns})
            if missed:
                self.report(codes.match_misses(subject.type.enum, missed, e.span))
        values = [v for _, v in arms] + ([default] if default is not None else [])
        return ir.MatchMap(self.branches(values, e.span), e.span, subject, tuple(arms), default)

    def expand_define(self, e: n.Call, ctx: _Context) -> ir.Expr:
        """A call of a `define`: its body, read where it is called, parameters bound."""
        d = self.defines[e.func.name]
        if e.func.name in ctx.rules:
            self.report(codes.recursive_definition(e.func.name, (*ctx.rules, e.func.name),
                                                   d.name.span))
            return self.error_value(e.span)
        if len(e.args) != len(d.params):
            self.report(codes.definition_arity(d.name.name, len(d.params), len(e.args), e.span,
                                               d.name.span))
            return self.error_value(e.span)
        args = [self.bind_lookup(a, ctx) if isinstance(a, n.Lookup) else self.bind(a, ctx)
                for a in e.args]
        inner = dataclasses.replace(
            ctx, rules=(*ctx.rules, e.func.name),
            locals=tuple((p.name, a) for p, a in zip(d.params, args, strict=True)),
        )
        return self.bind(d.body, inner)

    def bind_Call(self, e: n.Call, ctx: _Context) -> ir.Expr:
        name = e.func.name
        if name in self.defines:
            return self.expand_define(e, ctx)
        fn = REGISTRY.get(name)
        if fn is None:
            hint = did_you_mean(name, REGISTRY)
            self.report(codes.unknown_function(name, e.func.span, hint))
        args = []
        for i, a in enumerate(e.args):
            # coalesce(preferredGivenName, givenName): reading a field that some versions
            # lack, with a fallback, is deliberate; RM211 says nothing about it.
            self._fallback = name in ("coalesce", "default") and i < len(e.args) - 1
            try:
                args.append(self.bind_lookup(a, ctx) if isinstance(a, n.Lookup)
                            else self.bind(a, ctx))
            finally:
                self._fallback = False
        if fn is None:
            return self.error_value(e.span)
        if name == "resolves" and len(args) == 1:
            return self.resolves(args[0], e)
        if name == "guidref" and len(args) == 1:
            return self.guidref(args[0], e)
        if name in _EACH and len(args) == 1 and args[0].type.is_list:
            # lower(email_domains): the text functions apply to each item of a list.
            fn, name = REGISTRY[f"{name}_each"], f"{name}_each"
        returns = self.check_call(fn, args, e)
        if returns is None:
            return self.error_value(e.span)
        return ir.Call(returns, e.span, name, tuple(args))

    def guidref(self, ref: ir.Expr, e: n.Call) -> ir.Expr:
        """``guidref(school)``: a OneRoster GUIDRef object, {sourcedId, type}, for JSON
        outputs (a list of them for a list of references)."""
        kind = ref.type.item if ref.type.is_list else ref.type
        if ref.type.kind == "any":
            return self.error_value(e.span)
        if kind is None or kind.kind != "ref":
            self.report(codes.needs_reference("guidref", "object", ref.type, ref.span))
            return self.error_value(e.span)
        type_name = schema.ENTITIES[kind.entity or ""].guidref
        result = t.list_of(t.OBJECT) if ref.type.is_list else t.OBJECT
        return ir.Call(result, e.span, "guidref", (
            ref, ir.Const(t.STR, e.span, type_name), ir.Const(t.BOOL, e.span, ref.type.is_list)))

    def resolves(self, ref: ir.Expr, e: n.Call) -> ir.Expr:
        """``resolves(school)``: whether a reference (or every reference of a list) names
        a record the source holds. Written as a lookup on the referenced entity."""
        kind = ref.type.item if ref.type.is_list else ref.type
        if ref.type.kind == "any":
            return self.error_value(e.span)
        if kind is None or kind.kind != "ref":
            self.report(codes.needs_reference("resolves", "bool", ref.type, ref.span))
            return self.error_value(e.span)
        target = schema.ENTITIES[kind.entity or ""]
        key = ir.FieldRead(t.ref(target.name), e.span, 0, target.name, "sourcedId")
        lookup = ir.Lookup(t.list_of(key.type), e.span, target.name, key, None, key, ref,
                           "outer" if ref.type.is_list else "")
        found = ir.Call(t.INT, e.span, "count", (lookup,))
        if ref.type.is_list:
            wanted = ir.Call(t.INT, e.span, "count", (ref,))
            return ir.Compare(t.BOOL, e.span, "=", found, wanted)
        given = ir.IsEmpty(t.BOOL, e.span, ref, negated=True)
        exists = ir.Compare(t.BOOL, e.span, ">", found, ir.Const(t.INT, e.span, 0))
        return ir.And(t.BOOL, e.span, (given, exists))

    def check_call(self, fn: Function, args: list[ir.Expr], e: n.Call) -> t.Type | None:
        params = list(fn.params)
        if fn.variadic:
            params = params[:-1] + [params[-1]] * max(1, len(args) - len(params) + 1)
        if len(args) != len(params):
            self.report(codes.function_arity(fn, len(args), e.span))
            return None
        for arg, param in zip(args, params, strict=True):
            if isinstance(arg, ir.Lookup) and not param.startswith("list"):
                self.report(codes.lookup_into_one(fn.name, arg.span, functions_taking_lists()))
                return None
        typevar: t.Type | None = None
        for arg, param in zip(args, params, strict=True):
            if arg.type.kind == "any":
                continue
            if typevar is None and "T" in param:
                typevar = _bind_typevar(param, arg.type)
            expected = parse_type(param, typevar or t.ANY)
            if expected is not None and not _fits(arg.type, expected):
                self.report(codes.wrong_argument(fn, expected, arg.type, arg.span))
                return None
        for position in fn.constant:
            given = args[position]
            if given.type.kind == "any":
                continue
            if not isinstance(given, ir.Const):
                self.report(codes.literal_needed(fn, given.span))
                return None
        literals = [args[i] for i in fn.constant]
        if fn.check is not None and all(isinstance(a, ir.Const) for a in literals):
            found = fn.check(*(a.value for a in literals if isinstance(a, ir.Const)))
            if found is not None:
                index, problem = found
                self.report(codes.bad_literal(fn, problem, args[fn.constant[index]].span))
                return None
        return parse_type(fn.returns, typevar or t.ANY)

    def bind_Lookup(self, e: n.Lookup, ctx: _Context) -> ir.Expr:
        self.report(codes.lookup_outside_call(e.span, functions_taking_lists()))
        return self.error_value(e.span)

    def bind_lookup(self, e: n.Lookup, ctx: _Context) -> ir.Expr:
        target = self.entity(e.entity.name)
        if target is None:
            hint = did_you_mean(e.entity.name, [*schema.ENTITIES, *self.tables])
            self.report(codes.unknown_entity(e.entity.name, e.entity.span, hint, schema.ENTITIES))
            return self.error_value(e.span)
        if ctx.in_lookup:
            self.report(codes.nested_lookup(e.span))
            return self.error_value(e.span)
        if not ctx.scopes:
            self.report(codes.lookup_outside_record(e.span))
            return self.error_value(e.span)
        self.check_entity_versions(target, e.entity.span)
        inner = dataclasses.replace(ctx, scopes=(target, *ctx.scopes), columns=(),
                                    locals=tuple((k, ir.shift(v, +1)) for k, v in ctx.locals))
        value = self.bind(e.value, inner)
        if e.where is None:
            self.report(codes.lookup_without_where(target.name, e.span))
            return self.error_value(e.span)
        test = self.condition(self.bind(e.where, inner), e.where.span, "`where`")
        if test.type.kind == "any" or value.type.kind == "any":
            return self.error_value(e.span)
        found = _lookup_key(list(test.operands) if isinstance(test, ir.And) else [test])
        if found is None:
            self.report(codes.untied_lookup(target.name, e.where.span))
            return self.error_value(e.span)
        (inner_key, outer_key, explode), rest = found
        if 1 in ir.scopes(value):
            self.report(codes.value_from_outer_record(e.value.span))
            return self.error_value(e.span)
        own = [c for c in rest if 1 not in ir.scopes(c)]
        outer = [c for c in rest if 1 in ir.scopes(c)]
        where_span = e.where.span

        def conjunction(parts: list[ir.Expr]) -> ir.Expr | None:
            if not parts:
                return None
            return parts[0] if len(parts) == 1 else ir.And(t.BOOL, where_span, tuple(parts))

        return ir.Lookup(t.list_of(value.type), e.span, target.name, value, conjunction(own),
                         inner_key, outer_key, explode, conjunction(outer), self.text_of(e.span))


# --- helpers --------------------------------------------------------------------------------


def _lookup_key(
    conjuncts: list[ir.Expr],
) -> tuple[tuple[ir.Expr, ir.Expr, str], list[ir.Expr]] | None:
    """The condition that ties a lookup to its outer record, and the other conditions.

    The key is ``inner = outer`` (one record's field equals the other's), or
    ``inner in outer-list`` / ``outer in inner-list`` (many-to-many through a list
    of references such as ``sourcedId in this.orgs``); the third item says which
    side, if any, is a list to spread out: "", "outer" or "inner".
    """
    for i, c in enumerate(conjuncts):
        rest = conjuncts[:i] + conjuncts[i + 1:]
        if isinstance(c, ir.Compare) and c.op == "=":
            sides = (ir.scopes(c.left), ir.scopes(c.right))
            if sides == ({0}, {1}):
                return (c.left, ir.shift(c.right), ""), rest
            if sides == ({1}, {0}):
                return (c.right, ir.shift(c.left), ""), rest
        if isinstance(c, ir.InList) and not c.negated:
            sides = (ir.scopes(c.item), ir.scopes(c.collection))
            if sides == ({0}, {1}):
                return (c.item, ir.shift(c.collection), "outer"), rest
            if sides == ({1}, {0}):
                return (c.collection, ir.shift(c.item), "inner"), rest
    return None


_EACH = frozenset({"lower", "upper", "trim"})
_OF_REFERENCES = frozenset({"guidref"})  # a list of references too: see Checker.guidref


def functions_taking_lists() -> tuple[str, ...]:
    """The functions a lookup (many values) may be passed to, in the function table's
    order: those with a list parameter, the text functions (each item), guidref. The
    one source of RM308's help and of the docs' list of them."""
    return tuple(name for name, fn in REGISTRY.items()
                 if name in _EACH or name in _OF_REFERENCES
                 or any(p.startswith("list") for p in fn.params))


def output_format(file: str) -> str:
    """How an output is written, from its file name: JSON Lines, a JSON array, or CSV."""
    lower = file.lower()
    if lower.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    return "json" if lower.endswith(".json") else "csv"


def _table_entity(name: str, columns: tuple[str, ...]) -> schema.Entity:
    """The entity a table parameter's file is read as: its columns, all text, and a
    sourcedId (the file's own column, or the row's number) that orders its rows."""
    fields = {c: schema.Field(c, t.STR, c) for c in columns}
    fields.setdefault("sourcedId", schema.Field("sourcedId", t.STR, "sourcedId"))
    return schema.Entity(name, name, fields)


def _personal(e: ir.Expr, columns: dict[str, ir.Expr]) -> str | None:
    """The first personal or secret field whose value reaches an expression's value
    (`users.email`), if any: a table parameter's columns are taken for personal data, as
    explain takes them, all but its sourcedId (the row's). What only decides the value
    does not count: a lookup's condition, an `if`'s test, a count. An output's column
    is read through its own expression."""
    if isinstance(e, ir.FieldRead | ir.Deref):
        entity = schema.ENTITIES.get(e.entity)
        found = entity.fields.get(e.name) if entity is not None else None
        if found is not None and (found.pii or found.sensitive):
            return f"{e.entity}.{e.name}"
        if entity is None and e.name != "sourcedId":
            return f"{e.entity}.{e.name}"
    if e.type.kind in ("bool", "int", "float"):
        return None
    if isinstance(e, ir.OutColumn):
        column = columns.pop(e.name, None)  # popped: each column is read once
        return _personal(column, columns) if column is not None else None
    parts: tuple[ir.Expr | None, ...]
    if isinstance(e, ir.Lookup):
        parts = (e.value,)
    elif isinstance(e, ir.IfElse):
        parts = (e.then, e.orelse)
    elif isinstance(e, ir.MatchMap):
        parts = (*(value for _, value in e.arms), e.default)
    else:
        parts = tuple(ir.children(e))
    for part in parts:
        if part is not None and (read := _personal(part, columns)) is not None:
            return read
    return None


def _narrowing(tests: list[ir.Expr]) -> tuple[tuple[str, frozenset[str]], ...]:
    """The values ``where`` rules leave to enumerated fields (`f = "x"`, `f in (...)`)."""
    allowed: dict[str, frozenset[str]] = {}
    for test in tests:
        for c in test.operands if isinstance(test, ir.And) else (test,):
            field, values = None, None
            if isinstance(c, ir.InList) and not c.negated and isinstance(c.collection, ir.Const):
                field, values = c.item, c.collection.value
            elif isinstance(c, ir.Compare) and c.op == "=" and isinstance(c.right, ir.Const):
                field, values = c.left, (c.right.value,)
            if (isinstance(field, ir.FieldRead) and field.scope == 0
                    and field.type.enum is not None and values is not None):
                keep = frozenset(str(v) for v in values)
                allowed[field.name] = allowed.get(field.name, keep) & keep
    return tuple(sorted(allowed.items()))


def _held_through(e: ir.Expr) -> str | None:
    """What a rule's checked body holds that cannot be read through a reference: what
    belongs to the record an output reads (its lookups, its item)."""
    if isinstance(e, ir.Lookup):
        return "a lookup"
    if isinstance(e, ir.ItemRead | ir.OutColumn):
        return "a value of the output"
    for child in ir.children(e):
        if (found := _held_through(child)) is not None:
            return found
    return None


def _via(e: ir.Expr, ref: ir.Expr) -> ir.Expr:
    """A checked body that reads the record itself (scope 0) made to read the record
    ``ref`` points to: ``status`` becomes ``ref.status``, ``this`` becomes ``ref``."""
    if isinstance(e, ir.FieldRead) and e.scope == 0:
        if e.name == "sourcedId":
            return ref
        if isinstance(ref, ir.FieldRead) and ref.name == "sourcedId":
            return dataclasses.replace(e, scope=ref.scope)  # `this.active`: the record itself
        return ir.Deref(e.type, e.span, ref, e.entity, e.name)

    def inside(value: Any) -> Any:
        if isinstance(value, ir.Expr):
            return _via(value, ref)
        if isinstance(value, tuple):  # lists of expressions, match arms
            return tuple(inside(v) for v in value)
        return value

    changes = {f.name: inside(getattr(e, f.name))
               for f in dataclasses.fields(e) if f.name not in ("type", "span")}
    return dataclasses.replace(e, **changes)


def _written(value: n.LiteralValue) -> str:
    """A literal as an output file writes it (true, 12, text as is)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _literal_type(value: object) -> t.Type:
    if isinstance(value, bool):
        return t.BOOL
    if isinstance(value, int):
        return t.INT
    if isinstance(value, float):
        return t.FLOAT
    return t.STR


def _fits(actual: t.Type, expected: t.Type) -> bool:
    """Whether a value of ``actual`` type may be passed where ``expected`` is wanted."""
    if actual.kind == "any" or expected.kind == "any":
        return True
    if expected.is_list:
        return bool(
            actual.is_list and actual.item and expected.item and _fits(actual.item, expected.item)
        )
    if expected.kind == "str":
        return actual.is_text
    if expected.kind == "float":
        return actual.is_number
    if expected.kind == "ref":
        return actual.kind == "ref" and actual.entity == expected.entity
    return actual.kind == expected.kind


def _bind_typevar(param: str, actual: t.Type) -> t.Type | None:
    param = param.removesuffix("...")
    if param == "T":
        return actual
    if param.startswith("list[") and actual.is_list:
        return _bind_typevar(param[5:-1], actual.item or t.ANY)
    return None


def _path_text(e: n.Expr) -> str | None:
    if isinstance(e, n.Name):
        return e.name
    if isinstance(e, n.Attr):
        inner = _path_text(e.obj)
        return f"{inner}.{e.attr.name}" if inner is not None else None
    return None


def check_expression(
    expression: n.Expr, mapping: n.Mapping, source: Source
) -> tuple[ir.Expr, list[Diagnostic]]:
    """Check one expression that reads no record, with the mapping's parameters and rules."""
    checker = _Checker(mapping, source)
    checker.declare_params()
    checker.declare_rules()
    return checker.bind(expression, _Context()), checker.diagnostics


def check(
    mapping: n.Mapping, source: Source, syntax: Sequence[Diagnostic] = ()
) -> tuple[ir.CheckedMapping | None, list[Diagnostic]]:
    """Check a parsed mapping; the result is None when any error was found.

    ``syntax`` are the parser's diagnostics: where statements were lost, the
    checker does not add complaints that only follow from their absence.
    """
    broken = tuple(d.primary.span for d in syntax if d.primary is not None)
    checker = _Checker(mapping, source, broken=broken)
    checked = checker.run()
    return checked, checker.diagnostics


def _all_names(node: object) -> Iterator[str]:
    """Every bare name under a syntax node, outside lookups (which read other records)
    and outside the fields of references (`school.name` names `school` only)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, n.Name):
            yield item.name
        elif isinstance(item, n.Attr):
            stack.append(item.obj)
        elif isinstance(item, n.Call):
            stack.extend(item.args)
            yield item.func.name
        elif isinstance(item, n.Lookup):
            continue
        elif isinstance(item, tuple | list):
            stack.extend(item)
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            stack.extend(getattr(item, f.name) for f in dataclasses.fields(item))


def _names(node: object, wanted: set[str]) -> Iterator[n.Name]:
    """Every bare name in ``wanted`` anywhere under a syntax node."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, n.Name):
            if item.name in wanted:
                yield item
        elif isinstance(item, tuple | list):
            stack.extend(item)
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            stack.extend(getattr(item, f.name) for f in dataclasses.fields(item))
