"""The mass-change guard: a run that would change too much is held for a person to decide.

A header whose case changed, a page that failed, a school whose export came in
empty: each looks, to a sync, like many users leaving. Guards on by default hold
such a run before anything is published. A mapping's ``limit`` statements replace
the default of the same action and scope, and add others:

- ``limit deactivate 10%``: at most 10% of the rows the last run published may be
  deactivated or deleted (the default);
- ``limit deactivate 20% per school``: the same within each school (the default);
- ``limit create 5000``, ``limit update 50%``: counts or shares, for any action.

A share is of the rows the last committed run published (of the output, or of the
school); with no earlier rows there is nothing to take a share of, and only counts
apply. ``limit deactivate 100%`` turns the default off.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rostermap.runtime.engine.plans import Limit
from rostermap.runtime.report.model import GuardLimit
from rostermap.runtime.sync.changes import OutputChanges

__all__ = ["DEFAULT_LIMITS", "Breach", "Verdict", "check", "limits_of"]

DEFAULT_LIMITS = (
    Limit("deactivate", 10.0, percent=True),
    Limit("deactivate", 20.0, percent=True, per_school=True),
)
# What each limit action counts.
_COUNTED = {
    "create": ("create", "reactivate"),
    "update": ("update",),
    "deactivate": ("deactivate", "delete"),
}


@dataclass(frozen=True)
class Breach:
    """One limit, measured: whether this run goes over it."""

    output: str
    limit: Limit
    school: str | None
    count: int
    base: int  # the rows of the last run the share is of

    @property
    def share(self) -> float:
        return self.count / self.base if self.base else 0.0

    @property
    def exceeded(self) -> bool:
        if not self.limit.percent:
            return self.count > self.limit.amount
        return self.base > 0 and self.count * 100 > self.limit.amount * self.base

    def describe(self) -> str:
        """In words, as the report and the terminal say it."""
        where = f" of school {self.school}" if self.school else ""
        verb = {"create": "created", "update": "updated",
                "deactivate": "deactivated"}[self.limit.action]
        share = f" ({self.share:.0%})" if self.base else ""
        return (f"{self.output}: {self.count} of {self.base} rows{where} would be {verb}{share}, "
                f"over the limit of {self.limit}")

    def measured(self) -> GuardLimit:
        """The limit as report.json shows it."""
        return GuardLimit(output=self.output, action=self.limit.action,
                          limit=str(self.limit).removeprefix(f"{self.limit.action} "),
                          school=self.school, count=self.count, base=self.base,
                          share=round(self.share, 4), exceeded=self.exceeded)


@dataclass(frozen=True)
class Verdict:
    breaches: tuple[Breach, ...]  # every limit that was measured

    @property
    def held(self) -> bool:
        return any(b.exceeded for b in self.breaches)

    @property
    def exceeded(self) -> list[Breach]:
        return [b for b in self.breaches if b.exceeded]


def limits_of(declared: Iterable[Limit]) -> tuple[Limit, ...]:
    """The limits in force: the declared ones, and the defaults they do not replace."""
    declared = tuple(declared)
    scopes = {(d.action, d.per_school) for d in declared}
    return declared + tuple(d for d in DEFAULT_LIMITS if (d.action, d.per_school) not in scopes)


def check(changes: Iterable[tuple[OutputChanges, tuple[Limit, ...]]]) -> Verdict:
    """Measure each output's changes against its limits (see :func:`limits_of`)."""
    measured = []
    for change, limits in changes:
        before = sum(change.counts[k] for k in ("unchanged", "update", "deactivate", "delete",
                                                  "missing", "kept", "postponed"))
        for limit in limits:
            counted = _COUNTED[limit.action]
            if not limit.per_school:
                count = sum(change.counts[k] for k in counted)
                measured.append(Breach(change.output, limit, None, count, before))
                continue
            for school, figures in change.schools.items():
                count = sum(figures[k] for k in counted)
                if count:
                    measured.append(Breach(change.output, limit, school, count,
                                           figures["before"]))
    return Verdict(tuple(measured))
