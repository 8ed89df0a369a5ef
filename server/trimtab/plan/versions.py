"""The syntax a PostgreSQL major version lacks, found in a rendered plan.

A migration is often generated next to one server (the embedded 18, a shadow) and run on
another. This pass reads each step's SQL (and, where the SQL is ambiguous, the model
object it renders) and marks the statements the given major version cannot run, so that
generate and push say so instead of leaving it to the server's syntax error.

Named NOT NULL constraints (18+) are not listed: the renderer always writes the unnamed
``NOT NULL`` / ``SET NOT NULL`` form, which every version runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from trimtab.model import Column
from trimtab.plan.changes import Category, Change, Hazard, Kind, Plan, Step

OLDEST, NEWEST = 13, 18
CODE = "needs-newer-postgres"


@dataclass(frozen=True)
class Lack:
    """One statement of one step that ``version`` cannot run."""

    step: Step
    feature: str  # "NULLS NOT DISTINCT"
    since: int  # the first major version that has it
    version: int  # the major version the plan is meant for
    fix: str | None = None

    @property
    def message(self) -> str:
        return (f"PostgreSQL {self.version} lacks {self.feature} (PostgreSQL "
                f"{self.since}+): {self.step.change.describe()} fails there")


def major(server_version: int) -> int:
    """13 from 130012 (server_version_num) or from 13."""
    return server_version // 10000 if server_version >= 10000 else server_version


def _columns(ch: Change) -> list[Column]:
    if ch.kind == Kind.CREATE_TABLE:
        return [c for c in ch.after.columns if not c.inherited]
    if ch.kind in (Kind.ADD_COLUMN, Kind.ALTER_COLUMN) and isinstance(ch.after, Column):
        return [ch.after]
    return []


def _virtual(ch: Change, sql: str) -> bool:
    # From the model: an expression may itself contain the word VIRTUAL.
    return any(c.generated is not None and c.generated_virtual for c in _columns(ch))


def _maintain(ch: Change, sql: str) -> bool:
    g = ch.after if ch.kind == Kind.GRANT else None
    return g is not None and getattr(g, "privilege", "").upper() == "MAINTAIN"


def _sql(pattern: str) -> Callable[[Change, str], bool]:
    rx = re.compile(pattern, re.IGNORECASE)
    return lambda ch, sql: bool(rx.search(sql))


# (feature, first major version with it, test on (change, statement), the fix to offer)
_FEATURES: tuple[tuple[str, int, Callable[[Change, str], bool], str | None], ...] = (
    ("SET COMPRESSION", 14, _sql(r"\bALTER COLUMN .* SET COMPRESSION\b"),
     "leave the column's compression to the server's default_toast_compression"),
    ("NULLS NOT DISTINCT", 15, _sql(r"\bNULLS NOT DISTINCT\b"),
     "use a plain UNIQUE constraint, or a partial unique index on the non-null rows "
     "plus one on the null ones"),
    ("unlogged sequences", 15,
     _sql(r"^(CREATE UNLOGGED SEQUENCE\b|ALTER SEQUENCE .* SET UNLOGGED$)"), None),
    ("the security_invoker view option", 15, _sql(r"^[^\n]*\bsecurity_invoker\s*="), None),
    ("ON DELETE SET NULL/DEFAULT (columns)", 15,
     _sql(r"\bON DELETE SET (NULL|DEFAULT) \("), None),
    ("ALTER COLUMN ... SET EXPRESSION", 17, _sql(r"\bALTER COLUMN .* SET EXPRESSION AS\b"),
     "drop the generated column and add it again"),
    ("the MAINTAIN privilege", 17, _maintain, None),
    ("VIRTUAL generated columns", 18, _virtual, "use GENERATED ALWAYS AS (...) STORED"),
    ("WITHOUT OVERLAPS", 18, _sql(r"\bWITHOUT OVERLAPS\b"), None),
    ("PERIOD foreign keys", 18, _sql(r"\bFOREIGN KEY \([^)]*\bPERIOD\b"), None),
    ("NOT ENFORCED constraints", 18, _sql(r"\bNOT ENFORCED\b"), None),
)


def lacks(plan: Plan, version: int) -> list[Lack]:
    """What in ``plan`` PostgreSQL ``version`` (a major, or server_version_num) lacks,
    one entry per step and feature."""
    v = major(version)
    found: list[Lack] = []
    for step in plan.steps:
        for feature, since, test, fix in _FEATURES:
            if v < since and any(test(step.change, sql) for sql in step.sql):
                found.append(Lack(step, feature, since, v, fix))
    return found


def mark(plan: Plan, version: int) -> tuple[Plan, list[Lack]]:
    """``plan`` with a ``needs-newer-postgres`` hazard on each step ``version`` cannot
    run, and the lacks found."""
    found = lacks(plan, version)
    if not found:
        return plan, found
    by_step: dict[int, list[Hazard]] = {}
    for lack in found:
        by_step.setdefault(id(lack.step), []).append(Hazard(
            CODE, Category.MAY_FAIL, lack.message, fix=lack.fix))
    steps = tuple(replace(s, hazards=(*s.hazards, *by_step[id(s)])) if id(s) in by_step
                  else s for s in plan.steps)
    return replace(plan, steps=steps), found
