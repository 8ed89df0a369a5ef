"""Hazards: what each change may do beyond its intent, and how much, on the real data.

``classify`` is pure: from a change (and whether its table is new in the plan) it names the
risks: data loss, statements that fail on existing rows, locks and rewrites, code that
breaks, access that changes. ``measure`` is the one place that asks a database: it counts,
under a statement timeout, the rows each hazard is about ("12,400 non-null values",
"37 rows are NULL"), and past the timeout falls back to the planner's statistics, marked as
estimates. It never changes anything: every probe is a SELECT, run in a savepoint.

Every code is documented, with an example and the safe alternative, in docs/hazards.md.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import psycopg

from trimtab.model import Column, Constraint, EnumType, Index, Table, qname, quote_ident
from trimtab.plan.changes import Category, Change, Hazard, Kind, Plan, Step
from trimtab.plan.diff import CHILDREN_KEEP

# -- classification ----------------------------------------------------------------------------


def classify(change: Change, new_tables: frozenset[tuple[str, ...]]) -> tuple[Hazard, ...]:
    """The hazards of one change. ``new_tables``: keys of the tables this plan creates
    (empty when it runs, so nothing on them can fail, lock anyone out or lose data)."""
    fn = _CLASSIFIERS.get(change.kind)
    if fn is None:
        return ()
    parent = change.parent
    on_new_table = isinstance(parent, Table) and parent.key in new_tables
    if on_new_table and change.kind not in (Kind.GRANT, Kind.REVOKE):
        return ()
    return tuple(fn(change))


def _dotted(target: tuple[str, ...]) -> str:
    return ".".join(target[1:])


def _drop_schema(ch: Change) -> Iterable[Hazard]:
    yield Hazard("drops-schema", Category.DATA_LOSS, f"drops schema {ch.target[1]}",
                 fix="keep the schema in the schema file, or move its tables first")


def _drop_table(ch: Change) -> Iterable[Hazard]:
    what = f"drops table {_dotted(ch.target)}"
    if ch.reason == "partitioning changed":
        what = f"recreates table {_dotted(ch.target)} (partitioning changed), emptying it"
    yield Hazard("drops-table", Category.DATA_LOSS, what, lock="ACCESS EXCLUSIVE",
                 fix="if it was renamed, add `-- trimtab: renamed from <old name>` above "
                     "the new CREATE TABLE; to keep the data, copy it out first")


def _drop_column(ch: Change) -> Iterable[Hazard]:
    if ch.reason == "replaced":  # a generated column computed again: nothing stored is lost
        yield Hazard("rewrites-table", Category.LOCKS,
                     f"recomputes generated column {_dotted(ch.target)}, rewriting "
                     f"{ch.parent.schema}.{ch.parent.name}", lock="ACCESS EXCLUSIVE")
        return
    yield Hazard("drops-column", Category.DATA_LOSS, f"drops column {_dotted(ch.target)}",
                 lock="ACCESS EXCLUSIVE",
                 fix="if it was renamed, add `-- trimtab: renamed from <old name>` next to "
                     "the new column; deploy code that no longer reads it first")


def _drop_sequence(ch: Change) -> Iterable[Hazard]:
    yield Hazard("drops-sequence", Category.DATA_LOSS, f"drops sequence {_dotted(ch.target)}",
                 fix="a sequence created again starts over: keep it, or set its value "
                     "with setval() afterwards")


def _drop_extension(ch: Change) -> Iterable[Hazard]:
    yield Hazard("drops-extension", Category.DATA_LOSS,
                 f"drops extension {ch.target[1]} and what it holds",
                 fix="keep the CREATE EXTENSION in the schema file")


def _recreate_enum(ch: Change) -> Iterable[Hazard]:
    lost = [v for v in ch.before.values if v not in ch.after.values]
    name = _dotted(ch.target)
    if lost:
        values = ", ".join(f"'{v}'" for v in lost)
        yield Hazard("drops-enum-value", Category.DATA_LOSS,
                     f"removes {values} from enum {name}", fails_on_rows=True,
                     fix="update the rows that use it to another value first (a custom "
                         "migration), or rename the value with "
                         "`-- trimtab: renamed from '<old>'`")
    if ch.parent:
        tables = sorted({f"{s}.{t}" for s, t, *_ in ch.parent})
        yield Hazard("rewrites-table", Category.LOCKS,
                     f"rewrites {', '.join(tables)} to swap enum {name} "
                     f"({'values removed' if lost else 'values reordered'})",
                     lock="ACCESS EXCLUSIVE",
                     fix="append new values instead of inserting or reordering them")


def _add_column(ch: Change) -> Iterable[Hazard]:
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


def _alter_column(ch: Change) -> Iterable[Hazard]:
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


def _add_constraint(ch: Change) -> Iterable[Hazard]:
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


def _create_index(ch: Change) -> Iterable[Hazard]:
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


def _alter_table(ch: Change) -> Iterable[Hazard]:
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


def _drop_view(ch: Change) -> Iterable[Hazard]:
    if ch.reason is None:
        yield Hazard("drops-view", Category.BREAKS_CODE, f"drops view {_dotted(ch.target)}",
                     fix="deploy code that no longer reads it first")


def _drop_function(ch: Change) -> Iterable[Hazard]:
    if ch.reason is None:
        f = ch.before
        yield Hazard("drops-function", Category.BREAKS_CODE,
                     f"drops {f.kind_sql.lower()} {f.schema}.{f.name}({f.identity_args})",
                     fix="deploy code that no longer calls it first")


def _rename(ch: Change) -> Iterable[Hazard]:
    code = {Kind.RENAME_TABLE: "renames-table", Kind.RENAME_COLUMN: "renames-column",
            Kind.RENAME_ENUM_VALUE: "renames-enum-value"}[ch.kind]
    yield Hazard(code, Category.BREAKS_CODE, ch.describe(), lock="ACCESS EXCLUSIVE (brief)",
                 fix="deploy code that accepts both names first, or keep a view with the "
                     "old name during the switch")


def _grant(ch: Change) -> Iterable[Hazard]:
    g = ch.after if ch.kind == Kind.GRANT else ch.before
    verb = "grants" if ch.kind == Kind.GRANT else "revokes"
    to = "to" if ch.kind == Kind.GRANT else "from"
    column = f" ({ch.target[3]})" if len(ch.target) > 3 else ""
    yield Hazard(f"{verb}-privilege", Category.AUTHORIZATION,
                 f"{verb} {g.privilege}{column} on {ch.target[1].lower()} {ch.target[2]} "
                 f"{to} {g.grantee}")


def _policy(ch: Change) -> Iterable[Hazard]:
    if ch.reason is not None and ch.reason != "changed":
        return  # recreated unchanged around a column change
    if ch.kind == Kind.DROP_POLICY and ch.reason == "changed":
        return  # reported on its CREATE
    verb = {Kind.CREATE_POLICY: "creates", Kind.DROP_POLICY: "drops",
            Kind.ALTER_POLICY: "changes"}[ch.kind]
    if ch.reason == "changed":
        verb = "changes"
    code = "drops-policy" if ch.kind == Kind.DROP_POLICY else "changes-policy"
    yield Hazard(code, Category.AUTHORIZATION,
                 f"{verb} row level security policy {ch.target[3]} on "
                 f"{ch.target[1]}.{ch.target[2]}")


_CLASSIFIERS: dict[Kind, Callable[[Change], Iterable[Hazard]]] = {
    Kind.DROP_SCHEMA: _drop_schema,
    Kind.DROP_TABLE: _drop_table,
    Kind.DROP_COLUMN: _drop_column,
    Kind.DROP_SEQUENCE: _drop_sequence,
    Kind.DROP_EXTENSION: _drop_extension,
    Kind.RECREATE_ENUM: _recreate_enum,
    Kind.ADD_COLUMN: _add_column,
    Kind.ALTER_COLUMN: _alter_column,
    Kind.ADD_CONSTRAINT: _add_constraint,
    Kind.CREATE_INDEX: _create_index,
    Kind.ALTER_TABLE: _alter_table,
    Kind.DROP_VIEW: _drop_view,
    Kind.DROP_FUNCTION: _drop_function,
    Kind.RENAME_TABLE: _rename,
    Kind.RENAME_COLUMN: _rename,
    Kind.RENAME_ENUM_VALUE: _rename,
    Kind.GRANT: _grant,
    Kind.REVOKE: _grant,
    Kind.CREATE_POLICY: _policy,
    Kind.DROP_POLICY: _policy,
    Kind.ALTER_POLICY: _policy,
}

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
_STRINGS = {"text", "character varying", "character"}
_TIMESTAMPS = {"timestamp without time zone", "timestamp with time zone"}
_TIMES = {"time without time zone", "time with time zone"}


def _parse(type_sql: str) -> tuple[str, tuple[int, ...]]:
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
    (a, am), (b, bm) = _parse(old.removesuffix("[]")), _parse(new.removesuffix("[]"))
    if user_type:
        return frozenset({"rewrite"} if b in ("text", "character varying") and not bm
                         else {"rewrite", "may_fail"})
    out: set[str] = set()
    if b in _STRINGS:
        if a in _STRINGS:
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


# -- measurement -------------------------------------------------------------------------------


@dataclass
class _Clock:
    """Per-probe statement timeout within an overall budget."""

    timeout: float
    deadline: float

    def remaining_ms(self) -> int:
        return max(0, int(min(self.timeout, self.deadline - time.monotonic()) * 1000))


def measure(conn: psycopg.Connection, plan: Plan, *, timeout: float = 2.0,
            budget: float = 15.0, only: Callable[[Hazard], bool] | None = None,
            user_sql: bool = False) -> Plan:
    """The plan with every hazard measured on ``conn``'s database (the database the plan
    will run on, before it runs). Each count runs in a savepoint under a statement timeout
    of ``timeout`` seconds (and all of them within ``budget``); past it, the planner's
    estimates are used, marked as such. Works inside the caller's open transaction.
    ``only``: measure (again, from scratch) just the hazards it picks; the rest are kept.
    ``user_sql``: counts may run SQL the schema file wrote (a using hint), which no shadow
    vetted; only the push the user asked for passes it (see docs/security.md)."""
    if not plan.hazards:
        return plan
    clock = _Clock(timeout, time.monotonic() + budget)
    names = _OldNames(plan, user_sql)
    steps = []
    with conn.transaction():
        row = conn.execute("SELECT current_setting('statement_timeout')").fetchone()
        assert row is not None  # a SELECT without FROM returns one row
        saved = row[0]
        try:
            for step in plan.steps:
                if not step.hazards:
                    steps.append(step)
                    continue
                hazards = tuple(_measure_one(conn, step, h, names, clock)
                                if only is None or only(h) else h for h in step.hazards)
                steps.append(replace(step, hazards=hazards))
        finally:
            conn.execute("SELECT set_config('statement_timeout', %s, true)", (saved,))
    return replace(plan, steps=tuple(steps))


def recount_losses(conn: psycopg.Connection, plan: Plan, *, timeout: float = 2.0,
                   budget: float = 15.0) -> Plan:
    """The plan with its data-loss hazards counted again (the others as they were): push
    does this under the locks of ``loss_tables``, after the consent, to check the answer
    still covers what would be lost."""
    return measure(conn, plan, timeout=timeout, budget=budget,
                   only=lambda h: h.category == Category.DATA_LOSS)


def loss_tables(conn: psycopg.Connection, plan: Plan) -> list[str]:
    """The tables whose rows the plan's data-loss hazards count, by the names they have
    now, quoted and sorted (one order for every push, so two cannot deadlock on it):
    locked, nobody can add rows to them between the count and the change. A dropped
    sequence is not among them (LOCK TABLE refuses sequences; its DROP locks it)."""
    names = _OldNames(plan)
    found: set[str] = set()
    schemas: set[str] = set()
    for step in plan.steps:
        ch = step.change
        for h in step.hazards:
            if h.category != Category.DATA_LOSS:
                continue
            if h.code in ("drops-table", "drops-column"):
                found.add(names.table(ch.target[1], ch.target[2]))
            elif h.code == "narrows-type":
                found.add(names.table_of(ch.parent))
            elif h.code == "drops-enum-value":
                found.update(names.table(schema, table) for schema, table, *_ in ch.parent)
            elif h.code == "drops-schema":
                schemas.add(ch.target[1])
    if schemas:  # what _p_drop_schema counts (a materialized view takes no inserts)
        rows = conn.execute(
            "SELECT format('%%I.%%I', n.nspname, c.relname) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p')", (sorted(schemas),)
        ).fetchall()
        found.update(r[0] for r in rows)
    return sorted(found)


class _OldNames:
    """Probes run before the plan, so they must use the names objects have now: a plan
    that renames a table or column plans everything after under the new names."""

    def __init__(self, plan: Plan, user_sql: bool = False) -> None:
        self.user_sql = user_sql  # (carried to the probes: see measure)
        self.tables: dict[tuple[str, str], str] = {}
        self.columns: dict[tuple[str, str, str], str] = {}
        # Types the plan creates (or builds again): they do not exist yet, or not as they
        # will be, so a cast to them cannot be tried before the plan runs.
        self.new_types: dict[tuple[str, str], object] = {}
        for s in plan.steps:
            ch = s.change
            if ch.kind in (Kind.CREATE_TYPE, Kind.RECREATE_ENUM):
                self.new_types[(ch.target[1], ch.target[2])] = ch.after
            elif ch.kind == Kind.RENAME_TABLE:
                self.tables[(ch.target[1], ch.target[2])] = ch.before.name
            elif ch.kind == Kind.RENAME_COLUMN:
                self.columns[(ch.target[1], ch.target[2], ch.target[3])] = ch.before.name

    def table(self, schema: str, name: str) -> str:
        return qname(schema, self.tables.get((schema, name), name))

    def column(self, schema: str, table: str, name: str) -> str:
        return quote_ident(self.columns.get((schema, table, name), name))

    def table_of(self, t: Table) -> str:
        return self.table(t.schema, t.name)


class _Unmeasurable(Exception):
    pass


def _measure_one(conn: psycopg.Connection, step: Step, h: Hazard, names: _OldNames,
                 clock: _Clock) -> Hazard:
    probe = _PROBES.get(h.code)
    if probe is None:
        return h
    h = replace(h, count=None, estimate=False, at_least=False, detail=None)  # a recount
    try:
        return probe(conn, step.change, h, names, clock)
    except _Unmeasurable as e:
        return replace(h, detail=str(e) or None)


def _count(conn: psycopg.Connection, sql: str, clock: _Clock,
           params: tuple[object, ...] = (), read_only: bool = False) -> int | None:
    """One count in a savepoint; None when it timed out or could not run. ``read_only``:
    for SQL the user wrote that no shadow vetted (a using hint): the savepoint is read-only
    and rolled back, so the setting ends with it."""
    ms = clock.remaining_ms()
    if ms <= 0:
        return None
    try:
        with conn.transaction() as tx:
            conn.execute("SELECT set_config('statement_timeout', %s, true)", (f"{ms}ms",))
            if read_only:
                conn.execute("SET LOCAL transaction_read_only = on")
            row = conn.execute(sql.encode(), params, prepare=False).fetchone()
            n = int(row[0] or 0) if row else 0
            if read_only:
                raise psycopg.Rollback(tx)
        return n
    except psycopg.errors.QueryCanceled:
        return None
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn):
        # Measured on a database that is not at the plan's starting point (generate
        # measures on the configured database): nothing to say about this one.
        raise _Unmeasurable() from None
    except psycopg.Error as e:
        raise _Unmeasurable(f"not counted: {e.diag.message_primary or e}") from None


def _stats(conn: psycopg.Connection, table: str, column: str | None = None,
           ) -> tuple[int | None, float | None]:
    """(estimated rows, NULL fraction of ``column``) from pg_class and pg_stats."""
    with conn.transaction():
        row = conn.execute(
            "SELECT c.reltuples::bigint, (SELECT s.null_frac FROM pg_stats s "
            " WHERE s.schemaname = n.nspname AND s.tablename = c.relname "
            " AND s.attname = %s LIMIT 1) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.oid = to_regclass(%s)", (column, table)).fetchone()
    if row is None or row[0] is None or row[0] < 0:  # -1: never analyzed
        return None, None
    return int(row[0]), row[1]


def _with(h: Hazard, count: int | None, phrase: Callable[[str], str], *,
          estimate: bool = False, at_least: bool = False) -> Hazard:
    if count is None:
        return replace(h, detail="not counted: it took longer than the time allowed")
    shown = f"{'~' if estimate else ''}{'at least ' if at_least else ''}{count:,}"
    detail = phrase(shown) if count else phrase("0")
    if h.fails_on_rows and count and not estimate:
        detail += ", this will fail"
    return replace(h, count=count, estimate=estimate, at_least=at_least, detail=detail)


def _rows(n: str) -> str:
    return f"{n} row{'' if n == '1' else 's'}"


def _table_count(conn: psycopg.Connection, table: str, clock: _Clock,
                 where: str = "") -> tuple[int | None, bool]:
    n = _count(conn, f"SELECT count(*) FROM {table}{where}", clock)
    if n is not None:
        return n, False
    est, _ = _stats(conn, table)
    return est, est is not None


# Probes, per hazard code: (conn, change, hazard, names, clock) -> measured hazard.


def _p_drop_table(conn, ch, h, names, clock):
    n, est = _table_count(conn, names.table(ch.target[1], ch.target[2]), clock)
    return _with(h, n, lambda s: "empty" if s == "0" else _rows(s), estimate=est)


def _p_drop_schema(conn, ch, h, names, clock):
    rows = conn.execute(
        "SELECT format('%%I.%%I', n.nspname, c.relname) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'm')", (ch.target[1],)).fetchall()
    total, estimate = 0, False
    for (table,) in rows[:100]:
        n, est = _table_count(conn, table, clock)
        if n is None:
            return _with(h, None, str)
        total, estimate = total + n, estimate or est
    if len(rows) > 100:
        estimate = True
    return _with(h, total, lambda s: f"{len(rows)} table{'s' if len(rows) != 1 else ''}, "
                 f"{_rows(s)}", estimate=estimate)


def _p_drop_column(conn, ch, h, names, clock):
    t = names.table(ch.target[1], ch.target[2])
    col = quote_ident(ch.before.name)
    # Dropped ONLY from a parent: the children keep their values, only its own rows count.
    only = "ONLY " if ch.reason == CHILDREN_KEEP else ""
    n = _count(conn, f"SELECT count({col}) FROM {only}{t}", clock)
    est = False
    if n is None:
        rows, null_frac = _stats(conn, t, ch.before.name)
        n = None if rows is None or null_frac is None else round(rows * (1 - null_frac))
        est = n is not None
    return _with(h, n, lambda s: f"{s} non-null value{'' if s == '1' else 's'}", estimate=est)


def _p_drop_sequence(conn, ch, h, names, clock):
    row = None
    try:
        with conn.transaction():
            row = conn.execute(f"SELECT last_value, is_called FROM {ch.before.sql_name}"
                               ).fetchone()
    except psycopg.Error as e:
        raise _Unmeasurable(f"not counted: {e.diag.message_primary or e}") from None
    used = int(row[0]) if row and row[1] else 0
    return replace(h, count=used, detail=f"its counter is at {used:,}" if used
                   else "never used")


def _p_enum_value(conn, ch, h, names, clock):
    lost = [v for v in ch.before.values if v not in ch.after.values]
    total = 0
    for schema, table, column, type_sql, *_ in ch.parent:
        col = names.column(schema, table, column)
        test = (f"{col}::text[] && %s::text[]" if type_sql.endswith("[]")
                else f"{col}::text = ANY(%s::text[])")
        n = _count(conn, f"SELECT count(*) FROM {names.table(schema, table)} WHERE {test}",
                   clock, (lost,))
        if n is None:
            return _with(h, None, str)
        total += n
    return _with(h, total, lambda s: f"{_rows(s)} use{'s' if s == '1' else ''} "
                 f"{'it' if len(lost) == 1 else 'them'}")


def _p_table_size(conn, ch, h, names, clock):
    """Locks and rewrites: how big the table is, from the statistics (no scan)."""
    t: Table | None = ch.parent if isinstance(ch.parent, Table) else None
    if t is None:
        return h
    rows, _ = _stats(conn, names.table_of(t))
    if rows is None:
        n = _count(conn, f"SELECT count(*) FROM {names.table_of(t)}", clock)
        return _with(h, n, _rows) if n is not None else h
    return _with(h, rows, _rows, estimate=True)


def _p_required_column(conn, ch, h, names, clock):
    n, est = _table_count(conn, names.table_of(ch.parent), clock)
    return _with(h, n, lambda s: f"the table has {_rows(s)}", estimate=est)


def _p_not_null(conn, ch, h, names, clock):
    t = names.table_of(ch.parent)
    col = names.column(ch.target[1], ch.target[2], ch.target[3])
    n = _count(conn, f"SELECT count(*) FROM {t} WHERE {col} IS NULL", clock)
    est = False
    if n is None:
        rows, null_frac = _stats(conn, t, ch.before.name)
        n = None if rows is None or null_frac is None else round(rows * null_frac)
        est = n is not None
    return _with(h, n, lambda s: f"{_rows(s)} {'is' if s == '1' else 'are'} NULL",
                 estimate=est)


def _cols(names: _OldNames, t: Table, cols: tuple[str, ...]) -> list[str]:
    return [names.column(t.schema, t.name, c) for c in cols]


def _p_unique(conn, ch, h, names, clock):
    t: Table = ch.parent
    if isinstance(ch.after, Constraint):
        cols, where = ch.after.columns, ""
        nulls_distinct = "NULLS NOT DISTINCT" not in ch.after.definition
        primary = ch.after.kind == "p"
    else:
        i: Index = ch.after
        if not i.columns or "" in i.columns:
            raise _Unmeasurable("not counted: an expression index")
        cols = i.columns
        _, _, pred = i.definition.partition(" WHERE ")
        where = f" AND ({pred})" if pred else ""
        nulls_distinct = "NULLS NOT DISTINCT" not in i.definition
        primary = False
    qcols = _cols(names, t, cols)
    table = names.table_of(t)
    filt = " AND ".join(f"{c} IS NOT NULL" for c in qcols) if nulls_distinct else "true"
    n = _count(conn, f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {filt}{where} "
                     f"GROUP BY {', '.join(qcols)} HAVING count(*) > 1) d", clock)
    if n is None:
        return _with(h, None, str)
    nulls = 0
    if primary:
        nulls = _count(conn, f"SELECT count(*) FROM {table} WHERE "
                             + " OR ".join(f"{c} IS NULL" for c in qcols), clock) or 0
    hz = _with(h, n + nulls, lambda s: f"{s} duplicate group{'' if s == '1' else 's'}")
    if nulls:
        hz = replace(hz, detail=f"{n:,} duplicate group{'' if n == 1 else 's'} and "
                                f"{_rows(f'{nulls:,}')} with NULLs, this will fail")
    return hz


def _p_foreign_key(conn, ch, h, names, clock):
    c: Constraint = ch.after
    assert c.ref_table is not None  # a foreign key names the table it references
    t: Table = ch.parent
    table = names.table_of(t)
    local = _cols(names, t, c.columns)
    present = " AND ".join(f"t.{x} IS NOT NULL" for x in local)
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                          (names.table(*c.ref_table),)).fetchone()[0]
    if not exists:  # the referenced table is new in this plan: empty
        sql = f"SELECT count(*) FROM {table} t WHERE {present}"
    else:
        ref = names.table(*c.ref_table)
        remote = [names.column(c.ref_table[0], c.ref_table[1], x) for x in c.ref_columns]
        match = " AND ".join(f"r.{b} = t.{a}" for a, b in zip(local, remote, strict=False))
        sql = (f"SELECT count(*) FROM {table} t WHERE {present} AND NOT EXISTS "
               f"(SELECT 1 FROM {ref} r WHERE {match})")
    n = _count(conn, sql, clock)
    return _with(h, n, lambda s: f"{_rows(s)} reference{'s' if s == '1' else ''} no row")


def _p_check(conn, ch, h, names, clock):
    m = re.match(r"CHECK \((.*)\)( NO INHERIT)?$", ch.after.definition, re.S)
    if not m:
        raise _Unmeasurable()
    n = _count(conn, f"SELECT count(*) FROM {names.table_of(ch.parent)} WHERE NOT ({m.group(1)})",
               clock)
    return _with(h, n, lambda s: f"{_rows(s)} violate{'s' if s == '1' else ''} it")


def _p_cast(conn, ch, h, names, clock):
    old: Column = ch.before
    new: Column = ch.after
    t = names.table_of(ch.parent)
    col = names.column(ch.target[1], ch.target[2], ch.target[3])
    base, mods = _parse(new.type)
    through_text = bool(old.type_ref or new.type_ref)
    array = new.type.endswith("[]")
    if ch.using is not None:
        if not names.user_sql:
            raise _Unmeasurable("not counted: the USING expression is the schema file's own "
                                "SQL, and it runs only when you push")
        # The user's expression, converted as the ALTER does (assignment to the new type).
        # Written for the column's new name: a plan that renames it is not measured.
        if names.column(ch.target[1], ch.target[2], ch.target[3]) != quote_ident(new.name):
            raise _Unmeasurable("not counted: the column is renamed in the same plan")
        return _count_casts(conn, h, f"CAST(({ch.using}) AS {new.type})", t, clock,
                            read_only=True)
    if new.type_ref in names.new_types:
        return _p_cast_to_new_type(conn, h, t, col, old, new, names.new_types[new.type_ref],
                                   clock)
    if base in ("character varying", "character") and mods and not array:
        # Assigning a longer string fails (it is not truncated) unless only spaces are cut.
        n = _count(conn, f"SELECT count(*) FROM {t} WHERE length(rtrim({col}::text)) > "
                         f"{mods[0]}", clock)
        return _with(h, n, lambda s: f"{s} value{'' if s == '1' else 's'} "
                     f"{'is' if s == '1' else 'are'} longer than {mods[0]}")
    if (conn.info.server_version >= 160000 and not array
            and (through_text or _parse(old.type)[0] in _STRINGS)):
        # The conversion is text input: count exactly the values it rejects.
        n = _count(conn, f"SELECT count(*) FROM {t} WHERE {col} IS NOT NULL AND NOT "
                         f"pg_input_is_valid({col}::text, %s)", clock, (new.type,))
        return _with(h, n, lambda s: f"{s} value{'' if s == '1' else 's'} "
                     f"{'does' if s == '1' else 'do'} not convert")
    # Otherwise convert every value as the ALTER would: it either all works or fails on a
    # first value (how many more, PostgreSQL cannot say without a function per row).
    expr = f"{col}::text::{new.type}" if through_text else f"CAST({col} AS {new.type})"
    return _count_casts(conn, h, expr, t, clock)


def _count_casts(conn: psycopg.Connection, h: Hazard, expr: str, t: str,
                 clock: _Clock, read_only: bool = False) -> Hazard:
    try:
        n = _count(conn, f"SELECT count({expr}) FROM {t}", clock, read_only=read_only)
    except _Unmeasurable as e:
        if not str(e):  # not the plan's starting point (no such table): nothing to say
            raise
        reason = str(e).removeprefix("not counted: ")
        return replace(h, count=1, at_least=True,
                       detail=f"at least 1 value does not convert ({reason}), this will fail")
    if n is None:
        return _with(h, None, str)
    return replace(h, count=0, detail="every value converts")


def _p_cast_to_new_type(conn: psycopg.Connection, h: Hazard, t: str, col: str, old: Column,
                        new: Column, created: object, clock: _Clock) -> Hazard:
    """A conversion to a type this plan creates: the cast cannot be tried before the type
    exists, but an enum's input is its labels, so the text that is not one is counted."""
    array = new.type.endswith("[]")
    if not isinstance(created, EnumType) or array != old.type.endswith("[]"):
        raise _Unmeasurable(f"not counted: {new.type} is created by this plan")
    if array:  # the conversion goes through text[]: each non-NULL element must be a label
        where = (f"EXISTS (SELECT 1 FROM unnest({col}::text[]) e WHERE e IS NOT NULL "
                 "AND NOT e = ANY(%s::text[]))")
    else:
        where = f"{col} IS NOT NULL AND NOT {col}::text = ANY(%s::text[])"
    n = _count(conn, f"SELECT count(*) FROM {t} WHERE {where}", clock, (list(created.values),))
    return _with(h, n, lambda s: f"{s} value{'' if s == '1' else 's'} "
                 f"{'does' if s == '1' else 'do'} not convert")


def _p_narrows(conn, ch, h, names, clock):
    old: Column = ch.before
    new: Column = ch.after
    t = names.table_of(ch.parent)
    col = names.column(ch.target[1], ch.target[2], ch.target[3])
    try:
        n = _count(conn, f"SELECT count(*) FROM {t} WHERE {col} IS NOT NULL AND "
                         f"CAST(CAST({col} AS {new.type}) AS {old.type}) IS DISTINCT FROM {col}",
                   clock)
    except _Unmeasurable:
        raise _Unmeasurable("not counted: some values do not convert at all") from None
    return _with(h, n, lambda s: f"{s} value{'' if s == '1' else 's'} "
                 f"{'changes' if s == '1' else 'change'}")


_PROBES: dict[str, Callable[..., Hazard]] = {
    "drops-schema": _p_drop_schema,
    "drops-table": _p_drop_table,
    "drops-column": _p_drop_column,
    "drops-sequence": _p_drop_sequence,
    "drops-enum-value": _p_enum_value,
    "narrows-type": _p_narrows,
    "type-cast-may-fail": _p_cast,
    "sets-not-null": _p_not_null,
    "adds-required-column": _p_required_column,
    "adds-unique": _p_unique,
    "adds-foreign-key": _p_foreign_key,
    "adds-check": _p_check,
    "rewrites-table": _p_table_size,
    "adds-volatile-default": _p_table_size,
    "blocking-create-index": _p_table_size,
}


def classify_plan(plan: Plan) -> Plan:
    """Every step of ``plan`` with its hazards."""
    new_tables = frozenset(s.change.target for s in plan.steps
                           if s.change.kind == Kind.CREATE_TABLE)
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
