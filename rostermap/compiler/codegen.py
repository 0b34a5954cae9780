"""Plans to a readable Python module of polars expressions.

Expressions are never templated: each plan expression is emitted by the
``emit_<Class>`` method for its class, literals only through :func:`literal` (a
guarded ``repr``), identifiers only through :func:`rostermap.compiler.naming.mangle`, and
user text in comments only through :func:`comment`. jinja2 renders the fixed
skeleton of the module around the emitted code. The writer records which mapping
line produced each emitted line; the module carries that map as ``SOURCE_MAP``.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import math
from collections.abc import Iterator, Sequence
from typing import Any

import jinja2

from rostermap.compiler import ir, pushdown
from rostermap.compiler import plan as pl_
from rostermap.compiler.naming import mangle
from rostermap.compiler.version import VERSION
from rostermap.dsl import push
from rostermap.runtime.engine.functions import REGISTRY

__all__ = ["comment", "docstring", "emit_expression", "generate", "literal"]

# The module-level names of the template (compiler/templates/module.py.jinja).
_MODULE_NAMES = ("annotations", "PROFILE", "TITLE", "VERSIONS", "REQUIRES", "BUNDLE", "PARAMS",
                 "READS", "TABLES", "FILTERS", "OUTPUTS", "SOURCE_MAP", "PUSHES")
TODAY = "@today"  # the parameter through which the runtime passes the run's date
_WIDTH = 88


def literal(value: Any) -> str:
    """The Python source of a constant, refusing anything whose repr is not plain data."""
    if value is None or isinstance(value, bool | int | str):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot emit the number {value!r}")
        return repr(value)
    if isinstance(value, tuple | list):
        inner = ", ".join(literal(v) for v in value)
        return f"[{inner}]"
    raise TypeError(f"cannot emit a {type(value).__name__} as a literal")


def comment(text: str) -> str:
    """Mapping text made safe for a ``#`` comment: one line, every control escaped."""
    flat = " ".join(text.split())
    return flat.encode("unicode_escape").decode("ascii")


def docstring(text: str) -> str:
    """Mapping text made safe inside a triple-quoted docstring."""
    return comment(text).replace('"', "'")


class _Writer:
    """Lines of Python with indentation, and the mapping line each one came from."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.origins: list[int | None] = []
        self.level = 0

    def line(self, text: str = "", origin: int | None = None) -> None:
        pad = "    " * self.level
        for i, part in enumerate(text.split("\n")):
            self.lines.append(pad + part if part else "")
            self.origins.append(origin if origin is not None or i == 0 else self.origins[-1])

    @contextlib.contextmanager
    def indent(self) -> Iterator[None]:
        self.level += 1
        try:
            yield
        finally:
            self.level -= 1


def _indent(code: str) -> str:
    return code.replace("\n", "\n    ")


def _call(func: str, args: list[str]) -> str:
    """``func(a, b)`` on one line when it fits, else one argument per line."""
    one_line = f"{func}({', '.join(args)})"
    if len(one_line) <= _WIDTH and "\n" not in one_line:
        return one_line
    body = ",\n    ".join(_indent(a) for a in args)
    return f"{func}(\n    {body},\n)"


def _tuple(values: tuple[str, ...]) -> str:
    """A tuple literal of strings: ``('a',)`` or ``('a', 'b')``."""
    items = [literal(v) for v in values]
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


class _Emitter:
    """Plan expressions to polars expression source."""

    def emit(self, e: ir.Expr) -> str:
        """Source of a polars expression (constants wrapped in ``pl.lit``)."""
        code, is_expr = self.value(e)
        return code if is_expr else f"pl.lit({code})"

    def value(self, e: ir.Expr) -> tuple[str, bool]:
        """Source and whether it is a polars expression (else a plain Python value)."""
        method = getattr(self, f"emit_{type(e).__name__}")
        result: tuple[str, bool] = method(e)
        return result

    def text(self, e: ir.Expr) -> tuple[str, bool]:
        """A text value with missing read as empty, for comparisons."""
        code, is_expr = self.value(e)
        if e.type.is_text and is_expr:
            return f"fn.blank({code})", True
        return code, is_expr

    def condition(self, e: ir.Expr) -> str:
        """A true/false expression where missing counts as false."""
        code = self.emit(e)
        if isinstance(e, ir.FieldRead | pl_.ColumnRead | ir.Deref | ir.ParamRead | ir.Call):
            return f"{code}.fill_null(False)"
        return code

    # leaves -----------------------------------------------------------------------------
    def emit_Const(self, e: ir.Const) -> tuple[str, bool]:
        return literal(e.value), False

    def emit_ParamRead(self, e: ir.ParamRead) -> tuple[str, bool]:
        return f"p[{literal(e.name)}]", False

    def emit_FieldRead(self, e: ir.FieldRead) -> tuple[str, bool]:
        assert e.scope == 0, "outer reads are shifted by the checker"
        return f"col({literal(e.name)})", True

    def emit_ColumnRead(self, e: pl_.ColumnRead) -> tuple[str, bool]:
        return f"col({literal(e.name)})", True

    def emit_ItemRead(self, e: ir.ItemRead) -> tuple[str, bool]:
        return f"col({literal('each:' + e.name)})", True

    def emit_ObjectOf(self, e: ir.ObjectOf) -> tuple[str, bool]:
        fields = [f"{self.emit(v)}.alias({literal(k)})" for k, v in e.entries]
        return _call("pl.struct", fields), True

    def emit_OutColumn(self, e: ir.OutColumn) -> tuple[str, bool]:
        return f"col({literal('out:' + e.name)})", True

    def emit_ListOf(self, e: ir.ListOf) -> tuple[str, bool]:
        return _call("pl.concat_list", [f"[{', '.join(self.emit(i) for i in e.items)}]"]), True

    def emit_Index(self, e: ir.Index) -> tuple[str, bool]:
        return f"{self.emit(e.list)}.list.get({e.index}, null_on_oob=True)", True

    # operators --------------------------------------------------------------------------
    def emit_Compare(self, e: ir.Compare) -> tuple[str, bool]:
        (left, left_expr), (right, right_expr) = self.text(e.left), self.text(e.right)
        op = e.op
        if not left_expr and right_expr:
            left, right = right, left
            op = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)
        elif not left_expr:
            left = f"pl.lit({left})"
        if op in ("=", "!="):
            if e.left.type.is_text or e.right.type.is_text:
                return f"({left} {'==' if op == '=' else '!='} {right})", True
            method = "eq_missing" if op == "=" else "ne_missing"
            return f"{left}.{method}({right})", True
        return f"({left} {op} {right})", True

    def emit_InList(self, e: ir.InList) -> tuple[str, bool]:
        item, _ = self.text(e.item)
        item = item if _ else f"pl.lit({item})"
        collection, is_expr = self.value(e.collection)
        if is_expr:
            code = f"{collection}.list.contains({item}).fill_null(False)"
        else:
            code = f"{item}.is_in({collection})"
        return (f"~{code}" if e.negated else code), True

    def emit_Member(self, e: ir.Member) -> tuple[str, bool]:
        raise AssertionError("membership is planned into a derived column")

    def emit_IsEmpty(self, e: ir.IsEmpty) -> tuple[str, bool]:
        code, is_expr = self.value(e.operand)
        if not is_expr:
            test = f"not {code}" if e.operand.type.is_list else f"{code} in (None, '')"
            code = f"pl.lit({test})"
        elif e.operand.type.is_list:
            code = f"fn.is_empty_list({code})"
        elif e.operand.type.is_text:
            code = f"fn.is_blank({code})"
        else:
            code = f"{code}.is_null()"
        return (f"~{code}" if e.negated else code), True

    def emit_Quant(self, e: ir.Quant) -> tuple[str, bool]:
        collection, _ = self.value(e.collection)
        return f"fn.{e.quantifier}_in({self.emit(e.items)}, {collection})", True

    def _bool(self, operands: tuple[ir.Expr, ...], op: str, horizontal: str) -> str:
        parts = [self.condition(o) for o in operands]
        joined = f" {op} ".join(f"({p})" if " " in p and not p.startswith("(") else p
                                for p in parts)
        if len(joined) <= 60 and "\n" not in joined:
            return f"({joined})"
        return _call(horizontal, parts)

    def emit_And(self, e: ir.And) -> tuple[str, bool]:
        return self._bool(e.operands, "&", "pl.all_horizontal"), True

    def emit_Or(self, e: ir.Or) -> tuple[str, bool]:
        return self._bool(e.operands, "|", "pl.any_horizontal"), True

    def emit_Not(self, e: ir.Not) -> tuple[str, bool]:
        inner = self.condition(e.operand)
        if isinstance(e.operand, pl_.ColumnRead):
            inner = self.emit(e.operand)  # derived booleans are never missing
        return f"~{inner}" if inner.startswith(("(", "col(")) else f"~({inner})", True

    def emit_Arith(self, e: ir.Arith) -> tuple[str, bool]:
        left, right = self.emit(e.left), self.value(e.right)[0]
        return f"({left} {e.op} {right})", True

    def emit_Neg(self, e: ir.Neg) -> tuple[str, bool]:
        return f"(-{self.emit(e.operand)})", True

    def emit_IfElse(self, e: ir.IfElse) -> tuple[str, bool]:
        code = (
            f"pl.when({self.condition(e.test)})\n"
            f"    .then({_indent(self.emit(e.then))})\n"
            f"    .otherwise({_indent(self.emit(e.orelse))})"
        )
        return f"(\n    {_indent(code)}\n)", True

    def emit_MatchMap(self, e: ir.MatchMap) -> tuple[str, bool]:
        subject, _ = self.text(e.subject)
        lines = []
        for i, (patterns, value) in enumerate(e.arms):
            if len(patterns) == 1:
                test = f"{subject} == {literal(patterns[0])}"
                if e.subject.type.kind not in ("str", "ref"):
                    test = f"{subject}.eq_missing({literal(patterns[0])})"
            else:
                test = f"{subject}.is_in({literal(patterns)})"
            lines.append(f"{'pl' if i == 0 else ''}.when({test}).then({_indent(self.emit(value))})")
        default = self.emit(e.default) if e.default is not None else "None"
        lines.append(f".otherwise({_indent(default)})")
        return "(\n    " + "\n    ".join(lines) + "\n)", True

    def emit_Call(self, e: ir.Call) -> tuple[str, bool]:
        if e.function == "today":
            return f"pl.lit(p[{literal(TODAY)}])", True  # the run's date, for reproducible runs
        fn = REGISTRY[e.function]
        values = [self.value(a) for a in e.args]
        args = [code for code, _ in values]
        # lower(a list parameter) is computed on the Python list: a plain value, like it.
        plain = e.function.endswith("_each") and not values[0][1]
        return _call(f"fn.{fn.impl.__name__}", args), not plain

    def emit_Missing(self, e: pl_.Missing) -> tuple[str, bool]:
        return f"({self.emit(e.ref)}.is_not_null() & col({literal(e.found)}).is_null())", True

    def emit_Failed(self, e: pl_.Failed) -> tuple[str, bool]:
        fn = REGISTRY[e.call.function]
        assert fn.fails is not None
        args = [self.value(a)[0] for a in e.call.args]
        return _call(f"fn.{fn.fails.__name__}", args), True

    def emit_Lookup(self, e: ir.Lookup) -> tuple[str, bool]:
        raise AssertionError("lookups are planned into a derived column")

    def emit_Deref(self, e: ir.Deref) -> tuple[str, bool]:
        raise AssertionError("references are planned into joins")


class _Module:
    """One compiled module: emits the output functions with the writer."""

    def __init__(self, plan: pl_.Plan):
        self.plan = plan
        self.w = _Writer()
        self.x = _Emitter()
        # Names the module defines or uses besides the output functions: an output
        # named PARAMS.csv or open.csv must not replace one of them.
        self.names: set[str] = {"p", "pl", "fn", "col", "Check", "Column", "Counter", "Fail",
                                "Join", "Limit", "Lookup", "Member", "Missing", "Output", "Param",
                                "Rule", "Warn", *_MODULE_NAMES, *dir(builtins)}

    def steps(self, steps: tuple[pl_.Step, ...]) -> list[str]:
        return [self.step(s) for s in steps]

    def step(self, s: pl_.Step) -> str:
        if isinstance(s, pl_.JoinStep):
            fields = ", ".join(f"{literal(c)}: {literal(f)}" for c, f in s.fields)
            return _call("Join", [literal(s.entity), f"on={self.x.emit(s.on)}",
                                  f"fields={{{fields}}}", f"found={literal(s.found)}"])
        if isinstance(s, pl_.MemberStep):
            return _call("Member", [literal(s.name), literal(s.output),
                                    f"on={self.x.emit(s.on)}"])
        args = [
            literal(s.name),
            f"line={s.line}",
            f"text={literal(s.text)}",
            f"entity={literal(s.entity)}",
            f"key={self.x.emit(s.key)}",
            f"on={self.x.emit(s.on)}",
            f"value={self.x.emit(s.value)}",
            f"aggregate={literal(s.aggregate)}",
        ]
        if s.where is not None:
            args.append(f"where={self.x.condition(s.where)}")
        if s.steps:
            args.append(f"steps=({', '.join(self.steps(s.steps))},)")
        if s.explode:
            args.append(f"explode={literal(s.explode)}")
        if s.carry:
            carried = ", ".join(f"{literal(a)}: {self.x.emit(v)}" for a, v in s.carry)
            args.append(f"carry={{{carried}}}")
        if s.correlated is not None:
            args.append(f"also={self.x.condition(s.correlated)}")
        return _call("Lookup", args)

    def sequence(self, label: str, items: Sequence[tuple[str, int | None]]) -> None:
        """``label=(item, item,),`` with each item tagged by its mapping line."""
        if not items:
            return
        self.w.line(f"{label}=(")
        with self.w.indent():
            for code, origin in items:
                self.w.line(f"{code},", origin)
        self.w.line("),")

    def output(self, op: pl_.OutputPlan) -> str:
        out = op.output
        name = mangle(out.name, self.names)
        w = self.w
        w.line(f"def {name}(p: dict[str, object]) -> Output:", out.line)
        with w.indent():
            about = f"output {docstring(out.name)} from {out.entity} (mapping line {out.line})"
            w.line(f'"""{about}."""')
            w.line("return Output(", out.line)
            with w.indent():
                w.line(f"{literal(out.name)},")
                w.line(f"{literal(out.entity)},")
                w.line(f"line={out.line},")
                if out.format != "csv":
                    w.line(f"format={literal(out.format)},")
                if op.each is not None:
                    self.sequence("prelude", [(c, None) for c in self.steps(op.prelude)])
                    w.line(f"each=({literal(op.each[0])}, {self.x.emit(op.each[1])}),")
                self.sequence("before", [(c, None) for c in self.steps(op.before)])
                rules = []
                for r in op.rules:
                    args = [str(r.line), literal(r.text), self.x.condition(r.test)]
                    if r.report is not None:
                        args.append(f"report={literal(r.report)}")
                    rules.append((_call("Rule", args), r.line))
                self.sequence("rules", rules)
                self.sequence("after", [(c, None) for c in self.steps(op.after)])
                columns = []
                for c, failures in zip(op.columns, op.failures, strict=True):
                    args = [literal(c.name), str(c.line), self.x.emit(c.value)]
                    if failures:
                        fails = [_call("Fail", [self.x.emit(f.test), literal(f.reason)])
                                 for f in failures]
                        args.append(f"fails=({', '.join(fails)},)")
                    columns.append((_call("Column", args), c.line))
                self.sequence("columns", columns)
                warns = [(_call("Warn", [str(wr.line), literal(wr.message),
                                         self.x.condition(wr.test)]), wr.line) for wr in op.warns]
                self.sequence("warns", warns)
                checks = [(_call("Check", [str(r.line), literal(r.reason), self.x.condition(r.test)]
                                 + ([] if r.message is None
                                    else [f"message={self.x.emit(r.message)}"])), r.line)
                          for r in op.rejects]
                self.sequence("checks", checks)
                counters = [(_call("Counter", [literal(c.label), str(c.line)] + (
                    [] if c.test is None else [self.x.condition(c.test)])), c.line)
                    for c in op.counters]
                self.sequence("counters", counters)
                for label in ("key", "sort"):
                    values = getattr(out, label)
                    if values:
                        w.line(f"{label}={_tuple(values)},")
                if out.distinct:
                    w.line("distinct=True,")
                if out.allow_empty:
                    w.line("allow_empty=True,")
                if out.secrets:
                    pairs = ", ".join(_tuple(pair) for pair in out.secrets)
                    w.line(f"secrets=({pairs},),")
                if out.missing is not None:
                    m = out.missing
                    pairs = "".join(f"({literal(c)}, {literal(v)}), " for c, v in m.sets)
                    sets = f", sets=({pairs})" if m.sets else ""
                    w.line(f"missing=Missing({literal(m.action)}, after={m.after}, "
                           f"unit={literal(m.unit)}{sets}),")
                if out.limits:
                    limits = [_call("Limit", [literal(a), repr(float(n)), f"percent={pc}",
                                              f"per_school={ps}"])
                              for a, n, pc, ps in out.limits]
                    self.sequence("limits", [(limit, None) for limit in limits])
                expects = [(_call("Expect", [literal(c.kind), str(c.line), literal(c.text)]
                                  + ([f"columns={_tuple(c.columns)}"] if c.columns else [])
                                  + ([f"values={_tuple(c.values)}"] if c.values else [])
                                  + ([f"op={literal(c.op)}", f"amount={c.amount}"]
                                     if c.op else [])
                                  + (["personal=True"] if c.personal else [])), c.line)
                           for c in out.contracts]
                self.sequence("expects", expects)
                if out.depends_on:
                    w.line(f"depends_on={_tuple(out.depends_on)},")
            w.line(")")
        w.line()
        w.line()
        return name


def emit_expression(e: ir.Expr) -> str:
    """The polars source of one planned expression."""
    return _Emitter().emit(e)


@functools.cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("rostermap.compiler", "templates"),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template("module.py.jinja")


def generate(plan: pl_.Plan) -> str:
    """The Python source of the compiled module. Deterministic: same plan, same text."""
    m = plan.mapping
    module = _Module(plan)
    functions = [module.output(op) for op in plan.outputs]
    outputs_code = "\n".join(module.w.lines).rstrip() + "\n"
    params = "\n".join(
        f"    Param({literal(p.name)}, {literal(str(p.type))}, required={p.required}, "
        f"default={literal(p.default)}, line={p.line}"
        + (f", choices={_tuple(p.choices)}" if p.choices else "")
        + (f", columns={_tuple(p.columns)}" if p.columns else "")
        + (", secret=True" if p.secret else "")
        + (f", names={literal(p.names)}, names_by={_tuple(p.names_by)}" if p.names else "")
        + (", ignore_case=True" if p.ignore_case else "")
        + "),"
        for p in m.params
    )
    reads = "\n".join(f"    {literal(e)}: {_tuple(fs)}," for e, fs in plan.reads.items())
    filters = "\n".join(
        f"    {literal(e)}: {{" + ", ".join(f"{literal(f)}: {_tuple(tuple(sorted(vs)))}"
                                       for f, vs in conj.items()) + "},"
        for e, conj in pushdown.filters(plan).items()
    )
    context = dict(
        version=VERSION,
        source_name=comment(m.source_name),
        docstring=docstring(f"{m.title} ({m.profile}): the compiled transform."),
        profile=literal(m.profile),
        title=literal(m.title),
        versions=_tuple(m.versions),
        requires=_tuple(m.requires) if m.requires else "()",
        bundle=literal(m.bundle),
        params=params,
        reads=reads,
        tables="\n".join(f"    {literal(name)}: {_tuple(cols)}," for name, cols in
                         plan.tables.items()),
        filters=filters,
        outputs=outputs_code,
        output_list="\n".join(f"    {f}," for f in functions),
        source_map="{}",
        pushes=literal(push.encode(specs)) if (specs := [o.push for o in m.outputs
                                                         if o.push is not None]) else "",
    )
    text = _template().render(**context)
    first = outputs_code.split("\n", 1)[0]
    offset = text.split("\n").index(first) if functions else 0
    source_map = {
        offset + i + 1: origin for i, origin in enumerate(module.w.origins) if origin is not None
    }
    context["source_map"] = "{" + ", ".join(f"{k}: {v}" for k, v in source_map.items()) + "}"
    return _template().render(**context)
