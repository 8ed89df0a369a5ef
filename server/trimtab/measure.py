"""Hazards measured on a live database: how many rows each one is about.

``measure`` is the one place that asks a database about a plan's hazards: it counts,
under a statement timeout, the rows each hazard is about ("12,400 non-null values",
"37 rows are NULL"), and past the timeout falls back to the planner's statistics, marked as
estimates. It never changes anything: every probe is a SELECT, run in a savepoint. The
plan package stays pure; this module is its I/O edge.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import psycopg

from trimtab.model import Column, Constraint, EnumType, Index, Table, qname, quote_ident
from trimtab.plan.changes import (
    AddColumn,
    AddConstraint,
    AlterColumn,
    Category,
    Change,
    CreateIndex,
    CreateType,
    DropColumn,
    DropSequence,
    Hazard,
    Plan,
    RecreateEnum,
    RenameColumn,
    RenameTable,
    Step,
)
from trimtab.plan.diff import CHILDREN_KEEP
from trimtab.plan.hazards import STRING_TYPES, parse_type


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
            elif h.code == "narrows-type" and isinstance(ch, AlterColumn):
                found.add(names.table_of(ch.parent))
            elif h.code == "drops-enum-value" and isinstance(ch, RecreateEnum):
                found.update(names.table(schema, table) for schema, table, *_ in ch.columns)
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
            if isinstance(ch, (CreateType, RecreateEnum)):
                self.new_types[(ch.target[1], ch.target[2])] = ch.after
            elif isinstance(ch, RenameTable):
                self.tables[(ch.target[1], ch.target[2])] = ch.before.name
            elif isinstance(ch, RenameColumn):
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


def _p_drop_table(conn: psycopg.Connection, ch: Change, h: Hazard, names: _OldNames,
                  clock: _Clock) -> Hazard:
    n, est = _table_count(conn, names.table(ch.target[1], ch.target[2]), clock)
    return _with(h, n, lambda s: "empty" if s == "0" else _rows(s), estimate=est)


def _p_drop_schema(conn: psycopg.Connection, ch: Change, h: Hazard, names: _OldNames,
                   clock: _Clock) -> Hazard:
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


def _p_drop_column(conn: psycopg.Connection, ch: Change, h: Hazard, names: _OldNames,
                   clock: _Clock) -> Hazard:
    assert isinstance(ch, DropColumn)
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


def _p_drop_sequence(conn: psycopg.Connection, ch: Change, h: Hazard, names: _OldNames,
                     clock: _Clock) -> Hazard:
    assert isinstance(ch, DropSequence)
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


def _p_enum_value(conn: psycopg.Connection, ch: Change, h: Hazard, names: _OldNames,
                  clock: _Clock) -> Hazard:
    assert isinstance(ch, RecreateEnum)
    lost = [v for v in ch.before.values if v not in ch.after.values]
    total = 0
    for schema, table, column, type_sql, *_ in ch.columns:
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


def _p_table_size(conn: psycopg.Connection, ch: Change, h: Hazard, names: _OldNames,
                  clock: _Clock) -> Hazard:
    """Locks and rewrites: how big the table is, from the statistics (no scan)."""
    t: Table | None = ch.parent if isinstance(ch.parent, Table) else None
    if t is None:
        return h
    rows, _ = _stats(conn, names.table_of(t))
    if rows is None:
        n = _count(conn, f"SELECT count(*) FROM {names.table_of(t)}", clock)
        return _with(h, n, _rows) if n is not None else h
    return _with(h, rows, _rows, estimate=True)


def _p_required_column(conn: psycopg.Connection, ch: Change, h: Hazard, names: _OldNames,
                       clock: _Clock) -> Hazard:
    assert isinstance(ch, AddColumn)
    n, est = _table_count(conn, names.table_of(ch.parent), clock)
    return _with(h, n, lambda s: f"the table has {_rows(s)}", estimate=est)


def _p_not_null(conn: psycopg.Connection, ch: Change, h: Hazard, names: _OldNames,
                clock: _Clock) -> Hazard:
    assert isinstance(ch, AlterColumn)
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


def _p_unique(conn: psycopg.Connection, ch: Change, h: Hazard, names: _OldNames,
              clock: _Clock) -> Hazard:
    assert isinstance(ch, (AddConstraint, CreateIndex))
    t = ch.parent
    assert isinstance(t, Table)  # classified on tables only
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


def _p_foreign_key(conn: psycopg.Connection, ch: Change, h: Hazard, names: _OldNames,
                   clock: _Clock) -> Hazard:
    assert isinstance(ch, AddConstraint)
    c: Constraint = ch.after
    assert c.ref_table is not None  # a foreign key names the table it references
    t: Table = ch.parent
    table = names.table_of(t)
    local = _cols(names, t, c.columns)
    present = " AND ".join(f"t.{x} IS NOT NULL" for x in local)
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                       (names.table(*c.ref_table),)).fetchone()
    assert row is not None  # a SELECT without FROM returns one row
    if not row[0]:  # the referenced table is new in this plan: empty
        sql = f"SELECT count(*) FROM {table} t WHERE {present}"
    else:
        ref = names.table(*c.ref_table)
        remote = [names.column(c.ref_table[0], c.ref_table[1], x) for x in c.ref_columns]
        match = " AND ".join(f"r.{b} = t.{a}" for a, b in zip(local, remote, strict=False))
        sql = (f"SELECT count(*) FROM {table} t WHERE {present} AND NOT EXISTS "
               f"(SELECT 1 FROM {ref} r WHERE {match})")
    n = _count(conn, sql, clock)
    return _with(h, n, lambda s: f"{_rows(s)} reference{'s' if s == '1' else ''} no row")


def _p_check(conn: psycopg.Connection, ch: Change, h: Hazard, names: _OldNames,
             clock: _Clock) -> Hazard:
    assert isinstance(ch, AddConstraint)
    m = re.match(r"CHECK \((.*)\)( NO INHERIT)?$", ch.after.definition, re.S)
    if not m:
        raise _Unmeasurable()
    n = _count(conn, f"SELECT count(*) FROM {names.table_of(ch.parent)} WHERE NOT ({m.group(1)})",
               clock)
    return _with(h, n, lambda s: f"{_rows(s)} violate{'s' if s == '1' else ''} it")


def _p_cast(conn: psycopg.Connection, ch: Change, h: Hazard, names: _OldNames,
            clock: _Clock) -> Hazard:
    assert isinstance(ch, AlterColumn)
    old: Column = ch.before
    new: Column = ch.after
    t = names.table_of(ch.parent)
    col = names.column(ch.target[1], ch.target[2], ch.target[3])
    base, mods = parse_type(new.type)
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
            and (through_text or parse_type(old.type)[0] in STRING_TYPES)):
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


def _p_narrows(conn: psycopg.Connection, ch: Change, h: Hazard, names: _OldNames,
               clock: _Clock) -> Hazard:
    assert isinstance(ch, AlterColumn)
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


def big_tables(conn: psycopg.Connection, tables: list[Table], at_least: int, *,
               plan: Plan, timeout: float = 2.0) -> dict[tuple[str, ...], str]:
    """Which of ``tables`` (as the plan names them) hold ``at_least`` rows, each with its
    size said ("~200,000 rows", "at least 1,000 rows"). The statistics answer when they say
    so; otherwise a count that stops at ``at_least`` rows decides (a table never analyzed,
    or one that grew since), so a small table costs a small scan. A count past the time
    allowed is a big table."""
    names = _OldNames(plan)
    clock = _Clock(timeout, time.monotonic() + timeout * 4)
    out: dict[tuple[str, ...], str] = {}
    with conn.transaction():
        for t in tables:
            live = names.table_of(t)
            rows, _ = _stats(conn, live)
            if rows is not None and rows >= at_least:
                out[t.key] = f"~{rows:,} rows"
                continue
            try:
                n = _count(conn, f"SELECT count(*) FROM (SELECT FROM {live} LIMIT "
                                 f"{int(at_least)}) s", clock)
            except _Unmeasurable:
                continue
            if n is None or n >= at_least:  # None: more rows than it could read in time
                out[t.key] = f"at least {at_least:,} rows"
    return out
