"""What a push output asks of the runtime: its requests, captures, links and order.

The checker makes a :class:`PushSpec` per push output; the generated module carries
them as JSON (``PUSHES``), so that a cached module runs a push without the compiler;
the push runtime reads them back with :func:`decode`.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

__all__ = ["METHODS", "PATH_FIELD", "Capture", "Link", "PushSpec", "Request", "decode",
           "encode", "path_fields"]

METHODS = ("POST", "PUT", "PATCH")  # the methods that write
PATH_FIELD = re.compile(r"\{([^{}]+)\}")  # `{NAME}` in a request path


def path_fields(path: str) -> list[str]:
    """The names a request path stands values in for, in order."""
    return PATH_FIELD.findall(path)


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str


@dataclass(frozen=True, slots=True)
class Capture:
    name: str
    path: str  # slash-separated keys into the JSON response


@dataclass(frozen=True, slots=True)
class Link:
    column: str
    push: str
    capture: str


@dataclass(frozen=True, slots=True)
class PushSpec:
    """One push output. ``create`` is the first write of a record (the target makes
    its id, which a ``capture`` keeps); ``send`` every other write, or every write
    when there is no ``create``. ``body`` is the JSON body's root: the columns named
    ``ROOT/...`` make it; other columns (keys, path values, links' keys) are not sent.
    Without a root every column is sent, nested at each ``/`` of its name."""

    name: str
    entity: str
    send: Request
    key: tuple[str, ...]
    create: Request | None = None
    captures: tuple[Capture, ...] = ()
    after: tuple[str, ...] = ()
    body: str | None = None
    links: tuple[Link, ...] = ()


def encode(specs: list[PushSpec]) -> str:
    return json.dumps([asdict(s) for s in specs], sort_keys=True)


def decode(text: str) -> list[PushSpec]:
    specs = []
    for raw in json.loads(text):
        specs.append(PushSpec(
            name=raw["name"], entity=raw["entity"], send=Request(**raw["send"]),
            key=tuple(raw["key"]),
            create=Request(**raw["create"]) if raw["create"] else None,
            captures=tuple(Capture(**c) for c in raw["captures"]),
            after=tuple(raw["after"]), body=raw["body"],
            links=tuple(Link(**x) for x in raw["links"])))
    return specs
