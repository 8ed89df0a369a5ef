"""Hazards: what each change may do beyond its intent.

Pure: from a change (and whether its table is new in the plan) ``classify`` names the
risks: data loss, statements that fail on existing rows, locks and rewrites, code that
breaks, access that changes. How much, on the real data, is ``trimtab.measure``'s to say.

Every code is documented, with an example and the safe alternative, in docs/hazards.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from functools import singledispatch

from trimtab.model import Column, Constraint, Index, Table
from trimtab.plan.changes import (
    AddColumn,
    AddConstraint,
    AlterColumn,
    AlterPolicy,
    AlterTable,
    Category,
    Change,
    CreateIndex,
    CreatePolicy,
    CreateTable,
    DropColumn,
    DropExtension,
    DropFunction,
    DropPolicy,
    DropSchema,
    DropSequence,
    DropTable,
    DropView,
    GrantPrivilege,
    Hazard,
    Plan,
    RecreateEnum,
    RenameColumn,
    RenameEnumValue,
    RenameTable,
    RevokePrivilege,
)

# -- classification ----------------------------------------------------------------------------


def classify(change: Change, new_tables: frozenset[tuple[str, ...]]) -> tuple[Hazard, ...]:
    """The hazards of one change. ``new_tables``: keys of the tables this plan creates
    (empty when it runs, so nothing on them can fail, lock anyone out or lose data)."""
    parent = change.parent
    on_new_table = isinstance(parent, Table) and parent.key in new_tables
    if on_new_table and not isinstance(change, (GrantPrivilege, RevokePrivilege)):
        return ()
    return tuple(_hazards(change))


@singledispatch
def _hazards(change: Change) -> Iterable[Hazard]:
    """One classifier per change class that has hazards, registered below; none else."""
    return ()


def _dotted(target: tuple[str, ...]) -> str:
    return ".".join(target[1:])


@_hazards.register
def _drop_schema(ch: DropSchema) -> Iterable[Hazard]:
    yield Hazard("drops-schema", Category.DATA_LOSS, f"drops schema {ch.target[1]}",
                 fix="keep the schema in the schema file, or move its tables first")


@_hazards.register
def _drop_table(ch: DropTable) -> Iterable[Hazard]:
    what = f"drops table {_dotted(ch.target)}"
    if ch.reason == "partitioning changed":
        what = f"recreates table {_dotted(ch.target)} (partitioning changed), emptying it"
    yield Hazard("drops-table", Category.DATA_LOSS, what, lock="ACCESS EXCLUSIVE",
                 fix="if it was renamed, add `-- trimtab: renamed from <old name>` above "
                     "the new CREATE TABLE; to keep the data, copy it out first")


@_hazards.register
def _drop_column(ch: DropColumn) -> Iterable[Hazard]:
    if ch.reason == "replaced":  # a generated column computed again: nothing stored is lost
        yield Hazard("rewrites-table", Category.LOCKS,
                     f"recomputes generated column {_dotted(ch.target)}, rewriting "
                     f"{ch.parent.schema}.{ch.parent.name}", lock="ACCESS EXCLUSIVE")
        return
    yield Hazard("drops-column", Category.DATA_LOSS, f"drops column {_dotted(ch.target)}",
                 lock="ACCESS EXCLUSIVE",
                 fix="if it was renamed, add `-- trimtab: renamed from <old name>` next to "
                     "the new column; deploy code that no longer reads it first")


@_hazards.register
def _drop_sequence(ch: DropSequence) -> Iterable[Hazard]:
    yield Hazard("drops-sequence", Category.DATA_LOSS, f"drops sequence {_dotted(ch.target)}",
                 fix="a sequence created again starts over: keep it, or set its value "
                     "with setval() afterwards")


@_hazards.register
def _drop_extension(ch: DropExtension) -> Iterable[Hazard]:
    yield Hazard("drops-extension", Category.DATA_LOSS,
                 f"drops extension {ch.target[1]} and what it holds",
                 fix="keep the CREATE EXTENSION in the schema file")


@_hazards.register
def _recreate_enum(ch: RecreateEnum) -> Iterable[Hazard]:
    lost = [v for v in ch.before.values if v not in ch.after.values]
    name = _dotted(ch.target)
    if lost:
        values = ", ".join(f"'{v}'" for v in lost)
        yield Hazard("drops-enum-value", Category.DATA_LOSS,
                     f"removes {values} from enum {name}", fails_on_rows=True,
                     fix="update the rows that use it to another value first (a custom "
                         "migration), or rename the value with "
                         "`-- trimtab: renamed from '<old>'`")
    if ch.columns:
        tables = sorted({f"{s}.{t}" for s, t, *_ in ch.columns})
        yield Hazard("rewrites-table", Category.LOCKS,
                     f"rewrites {', '.join(tables)} to swap enum {name} "
                     f"({'values removed' if lost else 'values reordered'})",
                     lock="ACCESS EXCLUSIVE",
                     fix="append new values instead of inserting or reordering them")


@_hazards.register
def _add_column(ch: AddColumn) -> Iterable[Hazard]:
    c: Column = ch.after
    name = _dotted(ch.target)
    if c.identity or (c.generated and not c.generated_virtual):
        what = "identity" if c.identity else "generated"
        yield Hazard("rewrites-table", Category.LOCKS,
                     f"adds {what} column {name}, filling every row", lock="ACCESS EXCLUSIVE",
                     fix="add it to a table with few rows, or at a quiet time")
    elif c.default is not None and _volatile(c.default):
        yield Hazard("adds-volatile-default", Category.LOCKS,
                     f"adds column {name} with volatile default {c.default}, rewriting the "
                     "table", lock="ACCESS EXCLUSIVE",
                     fix="add the column without a default, backfill in batches, then set "
                         "the default")
    elif c.not_null and c.default is None and not c.generated:
        yield Hazard("adds-required-column", Category.MAY_FAIL,
                     f"adds NOT NULL column {name} without a default", fails_on_rows=True,
                     lock="ACCESS EXCLUSIVE",
                     fix="give it a DEFAULT, or add it nullable, backfill it, then set NOT NULL")


@_hazards.register
def _alter_column(ch: AlterColumn) -> Iterable[Hazard]:
    old: Column = ch.before
    new: Column = ch.after
    name = _dotted(ch.target)
    if old.type != new.type:
        effects = type_change(old.type, new.type, bool(old.type_ref or new.type_ref))
        arrow = f"{old.type} -> {new.type}"
        if "may_fail" in effects:
            yield Hazard("type-cast-may-fail", Category.MAY_FAIL,
                         f"changes {name} from {arrow}", fails_on_rows=True,
                         lock="ACCESS EXCLUSIVE",
                         fix="fix or clear the values that do not convert first, or add a "
                             "new column and backfill it")
        if "lossy" in effects:
            yield Hazard("narrows-type", Category.DATA_LOSS,
                         f"changes {name} from {arrow}, which rounds or truncates",
                         fix="keep the wider type, or round the values yourself first")
        if "rewrite" in effects:
            yield Hazard("rewrites-table", Category.LOCKS,
                         f"rewrites {ch.parent.schema}.{ch.parent.name} to change {name} "
                         f"({arrow})", lock="ACCESS EXCLUSIVE",
                         fix="on a large table: add a new column, backfill it in batches, "
                             "and swap")
    if new.not_null and not old.not_null and not new.identity:
        yield Hazard("sets-not-null", Category.MAY_FAIL, f"SET NOT NULL on {name}",
                     fails_on_rows=True, lock="ACCESS EXCLUSIVE (scans the table)",
                     fix="backfill the NULLs first (UPDATE ... WHERE col IS NULL) or give it "
                         "a default; on a large table add CHECK (col IS NOT NULL) NOT VALID, "
                         "VALIDATE it, then SET NOT NULL")
    if new.identity and not old.identity:
        yield Hazard("rewrites-table", Category.LOCKS,
                     f"makes {name} an identity column", lock="ACCESS EXCLUSIVE")


@_hazards.register
def _add_constraint(ch: AddConstraint) -> Iterable[Hazard]:
    c: Constraint = ch.after
    t: Table = ch.parent
    table = f"{t.schema}.{t.name}"
    if c.definition.endswith(" NOT VALID"):
        return  # existing rows are not checked
    if c.kind in ("p", "u"):
        what = "PRIMARY KEY" if c.kind == "p" else "UNIQUE"
        yield Hazard("adds-unique", Category.MAY_FAIL,
                     f"{what} ({', '.join(c.columns)}) on {table}", fails_on_rows=True,
                     lock="ACCESS EXCLUSIVE (builds an index)",
                     fix="remove the duplicates first; on a large table build the unique "
                         "index CONCURRENTLY and add the constraint USING INDEX")
    elif c.kind == "f":
        yield Hazard("adds-foreign-key", Category.MAY_FAIL,
                     f"FOREIGN KEY ({', '.join(c.columns)}) on {table} -> "
                     f"{'.'.join(c.ref_table or ())}", fails_on_rows=True,
                     lock="SHARE ROW EXCLUSIVE on both tables (scans the table)",
                     fix="delete or fix the orphan rows first; on a large table add it NOT "
                         "VALID, then VALIDATE CONSTRAINT")
    elif c.kind == "c":
        yield Hazard("adds-check", Category.MAY_FAIL,
                     f"CHECK {c.name} on {table}", fails_on_rows=True,
                     lock="ACCESS EXCLUSIVE (scans the table)",
                     fix="fix the rows that violate it first; on a large table add it NOT "
                         "VALID, then VALIDATE CONSTRAINT")
    elif c.kind == "x":
        yield Hazard("adds-exclusion", Category.MAY_FAIL,
                     f"EXCLUDE constraint {c.name} on {table}", fails_on_rows=True,
                     lock="ACCESS EXCLUSIVE (builds an index)",
                     fix="remove the conflicting rows first")


@_hazards.register
def _create_index(ch: CreateIndex) -> Iterable[Hazard]:
    if ch.target[0] != "index" or not isinstance(ch.parent, Table):
        return
    i: Index = ch.after
    t: Table = ch.parent
    if i.unique:
        yield Hazard("adds-unique", Category.MAY_FAIL,
                     f"unique index {i.name} on {t.schema}.{t.name}", fails_on_rows=True,
                     fix="remove the duplicates first")
    yield Hazard("blocking-create-index", Category.LOCKS,
                 f"builds index {i.name} on {t.schema}.{t.name}, blocking writes",
                 lock="SHARE (writes wait until the index is built)",
                 fix="in a migration, CREATE INDEX CONCURRENTLY in a file marked "
                     "`-- trimtab:no-transaction`")


@_hazards.register
def _alter_table(ch: AlterTable) -> Iterable[Hazard]:
    old: Table = ch.before
    new: Table = ch.after
    name = _dotted(ch.target)
    if old.rls_enabled != new.rls_enabled:
        if new.rls_enabled:
            yield Hazard("enables-row-security", Category.AUTHORIZATION,
                         f"enables row level security on {name}: rows no policy allows "
                         "become invisible to every role but the owner")
        else:
            yield Hazard("disables-row-security", Category.AUTHORIZATION,
                         f"disables row level security on {name}: every row becomes "
                         "visible to any role with SELECT")
    if old.rls_forced != new.rls_forced:
        yield Hazard("enables-row-security" if new.rls_forced else "disables-row-security",
                     Category.AUTHORIZATION,
                     f"{'forces' if new.rls_forced else 'stops forcing'} row level security "
                     f"on {name} for its owner")
    if old.unlogged != new.unlogged:
        yield Hazard("rewrites-table", Category.LOCKS,
                     f"rewrites {name} to make it {'UNLOGGED' if new.unlogged else 'LOGGED'}",
                     lock="ACCESS EXCLUSIVE")


@_hazards.register
def _drop_view(ch: DropView) -> Iterable[Hazard]:
    if ch.reason is None:
        yield Hazard("drops-view", Category.BREAKS_CODE, f"drops view {_dotted(ch.target)}",
                     fix="deploy code that no longer reads it first")


@_hazards.register
def _drop_function(ch: DropFunction) -> Iterable[Hazard]:
    if ch.reason is None:
        f = ch.before
        yield Hazard("drops-function", Category.BREAKS_CODE,
                     f"drops {f.kind_sql.lower()} {f.schema}.{f.name}({f.identity_args})",
                     fix="deploy code that no longer calls it first")


@_hazards.register(RenameTable)
@_hazards.register(RenameColumn)
@_hazards.register(RenameEnumValue)
def _rename(ch: RenameTable | RenameColumn | RenameEnumValue) -> Iterable[Hazard]:
    code = {RenameTable: "renames-table", RenameColumn: "renames-column",
            RenameEnumValue: "renames-enum-value"}[type(ch)]
    yield Hazard(code, Category.BREAKS_CODE, ch.describe(), lock="ACCESS EXCLUSIVE (brief)",
                 fix="deploy code that accepts both names first, or keep a view with the "
                     "old name during the switch")


@_hazards.register(GrantPrivilege)
@_hazards.register(RevokePrivilege)
def _grant(ch: GrantPrivilege | RevokePrivilege) -> Iterable[Hazard]:
    g = ch.grant
    granted = isinstance(ch, GrantPrivilege)
    verb = "grants" if granted else "revokes"
    to = "to" if granted else "from"
    column = f" ({ch.target[3]})" if len(ch.target) > 3 else ""
    yield Hazard(f"{verb}-privilege", Category.AUTHORIZATION,
                 f"{verb} {g.privilege}{column} on {ch.target[1].lower()} {ch.target[2]} "
                 f"{to} {g.grantee}")


@_hazards.register(CreatePolicy)
@_hazards.register(DropPolicy)
@_hazards.register(AlterPolicy)
def _policy(ch: CreatePolicy | DropPolicy | AlterPolicy) -> Iterable[Hazard]:
    if ch.reason is not None and ch.reason != "changed":
        return  # recreated unchanged around a column change
    dropped = isinstance(ch, DropPolicy)
    if dropped and ch.reason == "changed":
        return  # reported on its CREATE
    verb = "creates" if isinstance(ch, CreatePolicy) else "drops" if dropped else "changes"
    if ch.reason == "changed":
        verb = "changes"
    code = "drops-policy" if dropped else "changes-policy"
    yield Hazard(code, Category.AUTHORIZATION,
                 f"{verb} row level security policy {ch.target[3]} on "
                 f"{ch.target[1]}.{ch.target[2]}")



# Functions whose value changes per row: a default calling one is evaluated for every
# existing row when the column is added (PostgreSQL 11+ stores a constant default once).
_VOLATILE = re.compile(
    r"\b(nextval|random|gen_random_uuid|uuid_generate_v[14]|uuidv[47]|clock_timestamp|"
    r"timeofday|txid_current|pg_current_xact_id)\s*\(", re.I)


def _volatile(default: str) -> bool:
    return bool(_VOLATILE.search(default))


# -- type changes ------------------------------------------------------------------------------

_INTS = {"smallint": 1, "integer": 2, "bigint": 3}
_INT_DIGITS = {"smallint": 5, "integer": 10, "bigint": 19}
_FLOATS = {"real": 1, "double precision": 2}
STRING_TYPES = {"text", "character varying", "character"}
_TIMESTAMPS = {"timestamp without time zone", "timestamp with time zone"}
_TIMES = {"time without time zone", "time with time zone"}


def parse_type(type_sql: str) -> tuple[str, tuple[int, ...]]:
    """("timestamp with time zone", (3,)) from "timestamp(3) with time zone"."""
    m = re.match(r"([^(]*)(?:\(([\d, ]+)\))?(.*)$", type_sql)
    if not m:
        return type_sql, ()
    base = (m.group(1).strip() + " " + m.group(3).strip()).strip()
    mods = tuple(int(x) for x in m.group(2).split(",")) if m.group(2) else ()
    return base, mods


def type_change(old: str, new: str, user_type: bool = False) -> frozenset[str]:
    """What ``ALTER COLUMN ... TYPE`` from ``old`` to ``new`` does to the table and its
    values: "rewrite" (the table is rewritten), "lossy" (values may be rounded or cut),
    "may_fail" (values may not convert, and the statement then fails)."""
    if old.endswith("[]") != new.endswith("[]"):
        return frozenset({"rewrite", "may_fail"})
    (a, am), (b, bm) = parse_type(old.removesuffix("[]")), parse_type(new.removesuffix("[]"))
    if user_type:
        return frozenset({"rewrite"} if b in ("text", "character varying") and not bm
                         else {"rewrite", "may_fail"})
    out: set[str] = set()
    if b in STRING_TYPES:
        if a in STRING_TYPES:
            if b == "text" or (b == "character varying" and not bm):
                return frozenset() if a != "character" else frozenset({"rewrite"})
            if b == "character varying" and a == "character varying" and am and am[0] <= bm[0]:
                return frozenset()
            return frozenset({"rewrite", "may_fail"})
        # Every type has a text form; a bounded one may be too short for it.
        return frozenset({"rewrite"} if b == "text" or not bm else {"rewrite", "may_fail"})
    if a in _INTS and b in _INTS:
        return frozenset({"rewrite"} if _INTS[b] > _INTS[a] else {"rewrite", "may_fail"})
    if a in _INTS and b == "numeric":
        digits = (bm[0] - (bm[1] if len(bm) > 1 else 0)) if bm else 1000
        return frozenset({"rewrite"} if digits >= _INT_DIGITS[a] else {"rewrite", "may_fail"})
    if a in _INTS and b in _FLOATS:
        lossy = (a, b) in (("integer", "real"), ("bigint", "real"), ("bigint", "double precision"))
        return frozenset({"rewrite", "lossy"} if lossy else {"rewrite"})
    if a == "numeric" and b == "numeric":
        if not bm:
            return frozenset()
        if not am:
            return frozenset({"rewrite", "lossy", "may_fail"})
        ascale, bscale = (am[1] if len(am) > 1 else 0), (bm[1] if len(bm) > 1 else 0)
        if bscale < ascale:
            out.add("lossy")
        if bm[0] - bscale < am[0] - ascale:
            out.add("may_fail")
        if not (bscale == ascale and bm[0] >= am[0]):
            out.add("rewrite")
        return frozenset(out)
    if a in ("numeric", *_FLOATS) and b in _INTS:
        return frozenset({"rewrite", "lossy", "may_fail"})
    if a in _FLOATS and b in _FLOATS:
        return frozenset({"rewrite"} if _FLOATS[b] > _FLOATS[a] else {"rewrite", "lossy",
                                                                          "may_fail"})
    if a in _FLOATS and b == "numeric":
        return frozenset({"rewrite", "lossy", "may_fail"})
    if a == "numeric" and b in _FLOATS:
        return frozenset({"rewrite", "lossy", "may_fail"})
    if (a in _TIMESTAMPS or a in _TIMES) and a == b:
        ap, bp = (am[0] if am else 6), (bm[0] if bm else 6)
        return frozenset() if bp >= ap else frozenset({"rewrite", "lossy"})
    if a in _TIMESTAMPS and b in _TIMESTAMPS:
        ap, bp = (am[0] if am else 6), (bm[0] if bm else 6)
        return frozenset({"rewrite", "lossy"} if bp < ap else {"rewrite"})
    if a in _TIMESTAMPS and b in ("date", *_TIMES):
        return frozenset({"rewrite", "lossy"})
    if a == "date" and b in _TIMESTAMPS:
        return frozenset({"rewrite"})
    if {a, b} <= {"json", "jsonb"} or (a, b) == ("cidr", "inet"):
        return frozenset({"rewrite"} if a != "cidr" else set())
    if a == "character varying" and b == "bit varying":
        return frozenset({"rewrite", "may_fail"})
    return frozenset({"rewrite", "may_fail"})


def classify_plan(plan: Plan) -> Plan:
    """Every step of ``plan`` with its hazards."""
    new_tables = frozenset(s.change.target for s in plan.steps
                           if isinstance(s.change, CreateTable))
    return replace(plan, steps=tuple(replace(s, hazards=classify(s.change, new_tables))
                                     for s in plan.steps))


def declares_nothing(plan: Plan, source: str) -> Plan:
    """``plan`` with a ``declares-nothing`` hazard on its first step, for a desired schema
    that declares no objects (``source`` names it). An empty schema file is far more often
    a mistake (a file emptied by an editor or a merge, the wrong path) than a wish to drop
    everything, so such a plan needs consent even where every table is empty. Never
    measured: no count makes it harmless."""
    if not plan:
        return plan
    hazard = Hazard("declares-nothing", Category.DATA_LOSS,
                    f"{source} declares no objects, so this plan drops everything the "
                    "database has", fix="check the schema path and the file's contents; "
                    "if the database really is to be emptied, pass --force")
    first, *rest = plan.steps
    return replace(plan, steps=(replace(first, hazards=(hazard, *first.hazards)), *rest))
