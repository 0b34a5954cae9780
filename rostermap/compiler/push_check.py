"""The checks of push outputs: their requests, body, key, captures, links and order.

``check_push`` looks at one push block once its columns are typed; ``check_order``
at all of them together (``after`` and ``link`` name other pushes). Both report
through the checker's ``report`` and return what the runtime needs
(``dsl.push.PushSpec``), or None where an error leaves nothing to run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from rostermap.dsl import codes, schema
from rostermap.dsl import nodes as n
from rostermap.dsl import types as t
from rostermap.dsl.diagnostics import Diagnostic, did_you_mean
from rostermap.dsl.push import METHODS, Capture, Link, PushSpec, Request, path_fields

__all__ = ["check_order", "check_push"]

Report = Callable[[Diagnostic], None]


def _request(r: n.RequestDecl, columns: Mapping[str, t.Type], captures: set[str],
             report: Report) -> Request | None:
    ok = True
    if r.method.name.upper() not in METHODS:
        report(codes.unknown_method(r.method.name, r.method.span))
        ok = False
    for name in path_fields(r.path):
        if name in captures:
            continue
        if name not in columns:
            report(codes.path_field_unknown(name, did_you_mean(name, [*columns, *captures]),
                                            r.span))
            ok = False
            continue
        given = columns[name]
        if given.is_list or given.kind in ("object", "bool"):
            report(codes.path_field_type(name, given, r.span))
            ok = False
    return Request(r.method.name.upper(), r.path) if ok else None


def check_push(o: n.Output, entity: str, columns: Mapping[str, t.Type],
               report: Report) -> PushSpec | None:
    """One push block; ``columns`` are its columns' types, in order."""
    p = o.push
    assert p is not None
    name = o.file.name
    ok = True
    if not o.key:
        report(codes.push_needs_key(name, o.file.span))
        ok = False
    captured = {c.name.name for c in p.captures}
    send = None
    if p.send is None:
        report(codes.push_without_send(name, o.file.span))
    else:
        # a record's later writes know what its first one captured; its first does not
        send = _request(p.send, columns, captured if p.create is not None else set(), report)
    create = None if p.create is None else _request(p.create, columns, set(), report)
    if p.body is not None and (required := schema.PUSH_BODIES.get(p.body.name)):
        root = p.body.name
        made = [c.removeprefix(f"{root}/") for c in columns if c.startswith(f"{root}/")]
        lacking = [f for f in required
                   if not any(m == f or m.startswith(f"{f}/") for m in made)]
        if lacking:
            report(codes.body_field_missing(root, lacking, p.body.span))
            ok = False
    for link in p.links:
        if link.column.name not in columns:
            report(codes.unknown_column(link.column.name, name, link.column.span,
                                        did_you_mean(link.column.name, columns)))
            ok = False
    if send is None or (p.create is not None and create is None) or not ok:
        return None
    return PushSpec(
        name=name, entity=entity, send=send, key=tuple(k.name for k in o.key), create=create,
        captures=tuple(Capture(c.name.name, c.path) for c in p.captures),
        after=tuple(a.name for a in p.after), body=p.body.name if p.body else None,
        links=tuple(Link(x.column.name, x.push.name, x.capture.name) for x in p.links))


def check_order(outputs: Sequence[n.Output], report: Report) -> None:
    """``after`` and ``link`` name pushes of the profile, links are declared ``after``,
    captures linked to exist, and the ``after`` lines leave a push to write first."""
    pushes = {o.file.name: o for o in outputs if o.push is not None}
    for o in pushes.values():
        assert o.push is not None
        after = {a.name for a in o.push.after}
        for a in o.push.after:
            if a.name not in pushes:
                report(codes.unknown_push(a.name, did_you_mean(a.name, pushes), list(pushes),
                                          a.span))
        for link in o.push.links:
            target = pushes.get(link.push.name)
            if target is None:
                report(codes.unknown_push(link.push.name, did_you_mean(link.push.name, pushes),
                                          list(pushes), link.push.span))
                continue
            assert target.push is not None
            captures = [c.name.name for c in target.push.captures]
            if link.capture.name not in captures:
                report(codes.link_unknown_capture(link.push.name, link.capture.name, captures,
                                                  link.capture.span))
            if link.push.name not in after:
                report(codes.link_not_after(o.file.name, link.push.name, link.span))
    state: dict[str, str] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "active":
            cycle = (*path[path.index(name):], name)
            report(codes.push_cycle(cycle, pushes[name].file.span))
            return
        state[name] = "active"
        push = pushes[name].push
        assert push is not None
        for a in push.after:
            if a.name in pushes:
                visit(a.name, (*path, name))
        state[name] = "done"

    for name in pushes:
        visit(name, ())
