"""Dependency order: create before use, drop in reverse.

Changes fall into phases. Removals that make room for something else (a view over a
column whose type changes, an index about to be rebuilt) come first; then creations and
alterations, from schemas down to policies and comments; last, removals of objects that
nothing in the desired schema uses any more (sequences, functions, types, extensions,
schemas), since columns and defaults may still use them until the alterations ran.
Within a phase, tables and views follow their own dependencies (a partition after its
parent, a view after the views it reads, drops the other way round).
"""

from __future__ import annotations

from collections.abc import Callable

from trimtab.model import Table
from trimtab.plan.changes import (
    Change,
    CreateFunction,
    CreateTable,
    CreateView,
    DropFunction,
    DropTable,
    DropView,
    ReplaceFunction,
    ReplaceView,
)


def order(changes: list[Change]) -> list[Change]:
    """Each change's phase and place in it come from its class (``order_rank``,
    ``sub_rank`` in changes.py); tables and views then follow their dependencies."""
    depth = _relation_depths(changes)
    # sorted() is stable: within equal keys the diff's own order stays.
    return sorted(changes, key=lambda ch: (ch.order_rank(), ch.sub_rank(), depth(ch)))


def _relation_depths(changes: list[Change]) -> Callable[[Change], int]:
    """Depth of each table (partitions and children below their parents) and view (below
    what it reads), negated for drops."""
    parents: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for ch in changes:
        if isinstance(ch.parent, Table):  # changes inside a table follow its depth
            t = ch.parent
            ups = list(t.inherits) + ([t.partition_of] if t.partition_of else [])
            parents.setdefault(t.key, [("table", *p) for p in ups])
    for ch in changes:
        if isinstance(ch, (CreateTable, DropTable)):
            t = ch.subject
            ups = list(t.inherits) + ([t.partition_of] if t.partition_of else [])
            parents[ch.target] = [("table", *p) for p in ups]
        elif isinstance(ch, (CreateView, DropView, ReplaceView, CreateFunction, ReplaceFunction,
                             DropFunction)):
            parents[ch.target] = list(ch.subject.depends_on)
    memo: dict[tuple[str, ...], int] = {}

    def depth_of(key: tuple[str, ...], seen: frozenset[tuple[str, ...]] = frozenset()) -> int:
        if key in memo:
            return memo[key]
        if key in seen:
            return 0  # a cycle PostgreSQL itself would refuse: leave the diff's order
        d = 1 + max((depth_of(p, seen | {key}) for p in parents.get(key, ()) if p in parents),
                    default=0)
        memo[key] = d
        return d

    def depth(ch: Change) -> int:
        key = ch.parent.key if isinstance(ch.parent, Table) else ch.target
        if key not in parents:
            return 0
        d = depth_of(key)
        return -d if isinstance(ch, (DropTable, DropView, DropFunction)) else d

    return depth
