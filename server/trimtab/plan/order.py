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

from trimtab.model import CompositeType, Domain, EnumType, Table
from trimtab.plan.changes import Change, Kind

_EARLY_DROPS = [
    # A partition leaving its parent goes first: detached, it holds the clones of the
    # parent's foreign keys and indexes as its own, so dropping them on the parent no
    # longer takes them along (nor is stopped by them) and they are dropped where they are.
    # (Before PostgreSQL 15 the clones of keys onto a partitioned table go with the DETACH:
    # diff.py leaves those out.)
    Kind.DETACH_PARTITION,
    Kind.DROP_TRIGGER,
    Kind.DROP_POLICY,
    Kind.DROP_VIEW,
    Kind.DROP_CONSTRAINT,  # foreign keys first: see _sub_rank
    Kind.DROP_INDEX,
    Kind.DROP_COLUMN,
    Kind.DROP_TABLE,
]
_CREATES = [
    Kind.CREATE_SCHEMA,
    Kind.CREATE_EXTENSION,
    Kind.ALTER_EXTENSION,
    Kind.CREATE_COLLATION,  # before the domains, types and columns that use it
    Kind.CREATE_TYPE,
    Kind.ADD_ENUM_VALUE,
    Kind.ALTER_TYPE,
    Kind.RECREATE_ENUM,
    Kind.CREATE_FUNCTION,
    Kind.REPLACE_FUNCTION,
    Kind.CREATE_SEQUENCE,
    Kind.ALTER_SEQUENCE,
    Kind.CREATE_TABLE,
    Kind.ADD_COLUMN,
    Kind.ALTER_COLUMN,
    Kind.ALTER_TABLE,
    Kind.SET_SEQUENCE_OWNER,
    Kind.ATTACH_PARTITION,
    Kind.RENAME_CONSTRAINT,
    Kind.RENAME_INDEX,
    Kind.ADD_CONSTRAINT,  # foreign keys last: see _sub_rank
    Kind.VALIDATE_CONSTRAINT,
    Kind.CREATE_VIEW,
    Kind.REPLACE_VIEW,
    Kind.CREATE_INDEX,  # after views: materialized views carry indexes
    Kind.ATTACH_INDEX,  # once both indexes (or keys) exist
    Kind.CREATE_TRIGGER,
    Kind.ALTER_TRIGGER,
    Kind.CREATE_POLICY,
    Kind.ALTER_POLICY,
    Kind.REVOKE,
    Kind.GRANT,
    Kind.SET_COMMENT,
    # Last: once given away, an object may no longer be the pushing role's to change.
    Kind.ALTER_OWNER,
]
_LATE_DROPS = [
    Kind.DROP_SEQUENCE,
    Kind.DROP_FUNCTION,
    Kind.DROP_TYPE,
    Kind.DROP_COLLATION,  # once nothing uses it
    Kind.DROP_EXTENSION,
    Kind.DROP_SCHEMA,
]
_RANK = {k: i for i, k in enumerate(_EARLY_DROPS + _CREATES + _LATE_DROPS)}


def order(changes: list[Change]) -> list[Change]:
    depth = _relation_depths(changes)

    def key(ch: Change) -> tuple[float, int, int]:
        rank: float = _RANK[ch.kind]
        # A replaced type or function goes after what uses it and before its successor.
        if ch.reason == "replaced" and ch.kind in (Kind.DROP_FUNCTION, Kind.DROP_TYPE,
                                                   Kind.DROP_COLLATION):
            rank = len(_EARLY_DROPS) - 0.5
        # A function with a SQL-standard body reads tables like a view does: it goes with
        # the views, after the tables when created, before them when dropped.
        if _reads_relations(ch):
            rank = _RANK[Kind.DROP_VIEW if ch.kind == Kind.DROP_FUNCTION else Kind.CREATE_VIEW]
        if ch.kind == Kind.SET_SEQUENCE_OWNER and ch.reason == "release":
            rank = -1  # before the column or table that owns it is dropped
        # A foreign key may rest on a unique index rather than a constraint: indexes first
        # (a partitioned table's one is valid once its partitions' are attached).
        if ch.kind == Kind.ADD_CONSTRAINT and ch.after.kind == "f":
            rank = _RANK[Kind.ATTACH_INDEX] + 0.5
        return (rank, _sub_rank(ch), depth(ch))

    # sorted() is stable: within equal keys the diff's own order stays.
    return sorted(changes, key=key)


def _sub_rank(ch: Change) -> int:
    if ch.kind == Kind.ALTER_OWNER:
        # Tables first: a new owner takes the table's serial sequences along, which
        # PostgreSQL will not give away on their own.
        return 1 if ch.target[0] == "sequence" else 0
    if ch.kind == Kind.DROP_CONSTRAINT:
        return 0 if ch.before.kind == "f" else 1
    if ch.kind in (Kind.CREATE_TYPE, Kind.DROP_TYPE):
        t = ch.after if ch.kind == Kind.CREATE_TYPE else ch.before
        rank = {EnumType: 0, Domain: 1, CompositeType: 2}[type(t)]
        return rank if ch.kind == Kind.CREATE_TYPE else -rank
    return 0


def _reads_relations(ch: Change) -> bool:
    if ch.kind not in (Kind.CREATE_FUNCTION, Kind.REPLACE_FUNCTION, Kind.DROP_FUNCTION):
        return False
    f = ch.after if ch.after is not None else ch.before
    return any(dep[0] != "function" for dep in f.depends_on)


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
        obj = ch.after if ch.after is not None else ch.before
        if ch.kind in (Kind.CREATE_TABLE, Kind.DROP_TABLE):
            ups = list(obj.inherits) + ([obj.partition_of] if obj.partition_of else [])
            parents[ch.target] = [("table", *p) for p in ups]
        elif ch.kind in (Kind.CREATE_VIEW, Kind.DROP_VIEW, Kind.REPLACE_VIEW,
                         Kind.CREATE_FUNCTION, Kind.REPLACE_FUNCTION, Kind.DROP_FUNCTION):
            parents[ch.target] = list(obj.depends_on)
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
        return -d if ch.kind in (Kind.DROP_TABLE, Kind.DROP_VIEW, Kind.DROP_FUNCTION) else d

    return depth
