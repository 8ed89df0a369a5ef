"""Online-safe migrations: a plan rewritten so that no statement holds a busy table's lock
for longer than it takes to change the catalog.

Pure: from a classified plan (and which tables to treat so) it returns the migration files
to write, in order. Each change on a table that exists before the plan takes its safe form
(docs/workflows.md); a table the plan creates is empty, so its changes stay plain.

1. drop indexes (no transaction): ``DROP INDEX CONCURRENTLY IF EXISTS`` of non-unique
   indexes (a unique one may carry a foreign key the plan drops first; it stays plain).
   After the expand file instead when the plan renames something (the name it drops is
   the renamed one).
2. expand (transaction): everything else in plan order; CHECK and FOREIGN KEY added
   ``NOT VALID`` (existing rows unchecked: a brief lock), and for SET NOT NULL a helper
   ``CHECK (col IS NOT NULL) NOT VALID``.
3. build indexes (no transaction): ``CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS``,
   for new indexes and for the index each new UNIQUE / PRIMARY KEY takes over.
4. validate (transaction): ``VALIDATE CONSTRAINT`` of what the expand file added: a scan
   under SHARE UPDATE EXCLUSIVE, which lets reads and writes go on. A transaction of its
   own so that the short ACCESS EXCLUSIVE steps after it, when they give up on a lock
   and are retried, do not scan again.
5. finish (transaction): SET NOT NULL (PostgreSQL sees the valid check and skips the
   scan), the helper checks dropped, ``ADD CONSTRAINT ... USING INDEX``, CLUSTER ON, and
   foreign keys onto a key built in step 3 (added NOT VALID only now that it exists).
6. validate keys (transaction): those foreign keys validated.

Every transactional file starts with ``SET lock_timeout`` and ``SET statement_timeout``.
Changes that rewrite a table have no safe form here: they are flagged in the file, and
``rewrites`` gives the expand / backfill / contract recipe.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from trimtab.model import Constraint, Index, Table, quote_ident, quote_literal
from trimtab.plan.changes import (
    AddColumn,
    AddConstraint,
    AlterColumn,
    Change,
    ColumnAspect,
    CreateIndex,
    CreateIndexConcurrently,
    CreateTable,
    DropConstraint,
    DropIndex,
    DropIndexConcurrently,
    Plan,
    RenameIndex,
    SetCluster,
    Step,
    ValidateConstraint,
    batches,
)
from trimtab.plan.render import render

# Hazards whose change rewrites the whole table under ACCESS EXCLUSIVE.
REWRITES = frozenset({"rewrites-table", "adds-volatile-default"})
BATCH_ROWS = 10_000  # rows per backfill transaction in the recipe

# A key PostgreSQL can take over from a plain unique index (no expressions, no predicate,
# default b-tree order, not deferrable).
_KEY = re.compile(r"(UNIQUE|PRIMARY KEY) (\([^()]*\))( INCLUDE \([^()]*\))?")


@dataclass(frozen=True)
class Phase:
    name: str  # "drop indexes", "expand", "build indexes", "validate", "finish", ...
    transactional: bool
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class MigrationFile:
    """One migration to write: its phase and the statements of the file, in order."""

    name: str
    transactional: bool
    steps: tuple[Step, ...]
    statements: tuple[str, ...]


@dataclass(frozen=True)
class Rewrite:
    """A change that rewrites a table, and the way to make it without a long lock."""

    step: Step
    table: str
    message: str
    recipe: tuple[str, ...]

    @property
    def key(self) -> tuple[str, ...]:
        """The table's model key."""
        t = self.step.change.parent
        assert isinstance(t, Table)  # rewrites() keeps only changes of a table
        return t.key


def _step(change: Change, version: int, hazards: tuple = ()) -> Step:
    return Step(change, tuple(render(change, version)), hazards)


def _helper_name(table: str, column: str) -> str:
    # Not PostgreSQL 18's own name for a NOT NULL constraint (table_column_not_null).
    name = f"{table}_{column}_nn_check"
    return name if len(name.encode()) <= 63 else f"{column[:40]}_nn_check"


def phases(plan: Plan, version: int,
           eligible: Callable[[Table], bool] = lambda t: True) -> list[Phase]:
    """``plan`` as the phases above, empty ones left out. ``eligible``: whether a table
    (one the plan does not create) gets the safe forms; push asks for its big ones."""
    new = {s.change.target for s in plan.steps if isinstance(s.change, CreateTable)}

    def safe(parent: object) -> bool:
        return (isinstance(parent, Table) and parent.key not in new
                and not parent.partition_key and not parent.partition_of and eligible(parent))

    renames = any(s.change.rank < 0 or isinstance(s.change, RenameIndex) for s in plan.steps)
    # Tables getting a key built concurrently: a foreign key onto them waits for it.
    keyed = {s.change.parent.key for s in plan.steps
             if isinstance(s.change, AddConstraint) and s.change.using_index is None
             and s.change.after.kind in ("p", "u") and safe(s.change.parent)
             and _KEY.fullmatch(s.change.after.definition)}
    names = ("drop indexes", "expand", "build indexes", "validate", "finish", "validate keys")
    out: dict[str, list[Step]] = {n: [] for n in names}
    drops = out["build indexes"] if renames else out["drop indexes"]
    for step in plan.steps:
        ch = step.change
        if isinstance(ch, DropIndex) and safe(ch.parent) and not ch.before.unique:
            drops.append(_step(DropIndexConcurrently(target=ch.target, before=ch.before,
                                                     parent=ch.parent, reason=ch.reason),
                               version, step.hazards))
        elif isinstance(ch, CreateIndex) and ch.target[0] == "index" and safe(ch.parent):
            index: Index = ch.after
            out["build indexes"].append(_step(CreateIndexConcurrently(
                target=ch.target, after=replace(index, clustered=False), parent=ch.parent,
                reason=ch.reason), version,
                tuple(h for h in step.hazards if h.code != "blocking-create-index")))
            if index.clustered:
                out["finish"].append(_step(SetCluster(
                    target=("cluster", *ch.target[1:]), before=replace(index, clustered=False),
                    after=index, parent=ch.parent), version))
        elif isinstance(ch, AddConstraint) and ch.using_index is None and safe(ch.parent):
            _constraint(ch, step, version, keyed, out)
        elif isinstance(ch, AlterColumn) and safe(ch.parent) and _sets_not_null(ch):
            _not_null(ch, step, version, out)
        else:
            out["expand"].append(step)
    return [Phase(n, n not in ("drop indexes", "build indexes"), tuple(out[n]))
            for n in names if out[n]]


def _constraint(ch: AddConstraint, step: Step, version: int, keyed: set,
                out: dict[str, list[Step]]) -> None:
    c: Constraint = ch.after
    t: Table = ch.parent
    if c.kind in ("c", "f") and not c.definition.endswith(" NOT VALID"):
        loose = replace(c, definition=c.definition + " NOT VALID", validated=False)
        late = c.kind == "f" and c.ref_table is not None and tuple(c.ref_table) in {
            k[1:] for k in keyed}
        add, check = ("finish", "validate keys") if late else ("expand", "validate")
        out[add].append(_step(replace(ch, after=loose), version))
        out[check].append(_step(ValidateConstraint(target=ch.target, before=loose, after=c,
                                                   parent=t), version, step.hazards))
        return
    m = _KEY.fullmatch(c.definition) if c.kind in ("p", "u") else None
    if m is None:
        out["expand"].append(step)
        return
    definition = (f"CREATE UNIQUE INDEX {quote_ident(c.name)} ON {t.sql_name} USING btree "
                  f"{m.group(2)}{m.group(3) or ''}")
    index = Index(name=c.name, definition=definition, unique=True, columns=c.columns)
    out["build indexes"].append(_step(CreateIndexConcurrently(
        target=("index", t.schema, c.name), after=index, parent=t,
        reason=f"for {'primary key' if c.kind == 'p' else 'unique constraint'} {c.name}"),
        version, step.hazards))
    out["finish"].append(_step(replace(ch, using_index=index), version))


_HELPER_WHY = "helper for SET NOT NULL on"


def _sets_not_null(ch: AlterColumn) -> bool:
    return (ColumnAspect.NULLABILITY in ch.aspects and ch.after.not_null
            and not ch.before.not_null and not ch.after.identity)


def _not_null(ch: AlterColumn, step: Step, version: int, out: dict[str, list[Step]]) -> None:
    t: Table = ch.parent
    col = ch.after.name
    nullable = replace(ch.after, not_null=False)
    if ch.aspects - {ColumnAspect.NULLABILITY}:  # the rest of the change goes first
        out["expand"].append(_step(AlterColumn(target=ch.target, before=ch.before,
                                               after=nullable, parent=t, using=ch.using),
                                   version, tuple(h for h in step.hazards
                                                  if h.code != "sets-not-null")))
    helper = Constraint(name=_helper_name(t.name, col), kind="c",
                        definition=f"CHECK (({quote_ident(col)} IS NOT NULL))",
                        columns=(col,))
    loose = replace(helper, definition=helper.definition + " NOT VALID", validated=False)
    key = ("constraint", t.schema, t.name, helper.name)
    why = f"{_HELPER_WHY} {col}"
    out["expand"].append(_step(AddConstraint(target=key, after=loose, parent=t, reason=why),
                               version))
    out["validate"].append(_step(ValidateConstraint(target=key, before=loose, after=helper,
                                                    parent=t, reason=why), version,
                                 tuple(h for h in step.hazards if h.code == "sets-not-null")))
    out["finish"].append(_step(AlterColumn(target=ch.target, before=nullable, after=ch.after,
                                           parent=t), version))
    out["finish"].append(_step(DropConstraint(target=key, before=helper, parent=t,
                                              reason=why), version))


def settings_sql(lock_timeout: str, statement_timeout: str) -> tuple[str, str]:
    """The first statements of a transactional migration."""
    return (f"SET lock_timeout = {quote_literal(lock_timeout)}",
            f"SET statement_timeout = {quote_literal(statement_timeout)}")


# What Squawk (the peer linter for PostgreSQL migrations) reports on these forms although
# they are the safe ones: its own ignore comments, each with the reason, so that a file passes
# the linter for what it is and a reader sees why.
_CONCURRENT_NOTE = (
    "-- squawk-ignore-file require-lock-timeout, require-statement-timeout -- a concurrent "
    "index build or drop holds SHARE UPDATE EXCLUSIVE, which lets reads and writes go on "
    "while it waits or works; a timeout would only leave an invalid index to rebuild")
_NOT_NULL_NOTE = (
    "-- squawk-ignore adding-not-nullable-field -- the validated check {check} proves there "
    "is no NULL, so PostgreSQL sets NOT NULL without scanning the table")
_HELPER_DROP_NOTE = (
    "-- squawk-ignore ban-drop-constraint -- {check} is the helper check added for this SET "
    "NOT NULL; NOT NULL now holds the same guarantee")


def _note(step: Step) -> str | None:
    """Squawk's ignore comment for a rule the step triggers knowingly."""
    ch = step.change
    if isinstance(ch, AlterColumn) and _sets_not_null(ch) and step.sql:
        return _NOT_NULL_NOTE.format(check=_helper_name(ch.parent.name, ch.after.name))
    if (isinstance(ch, DropConstraint) and (ch.reason or "").startswith(_HELPER_WHY)
            and step.sql):
        return _HELPER_DROP_NOTE.format(check=ch.before.name)
    return None


def migration_files(plan: Plan, version: int, *, lock_timeout: str, statement_timeout: str,
                    eligible: Callable[[Table], bool] = lambda t: True,
                    ) -> tuple[MigrationFile, ...]:
    """The migrations that carry out ``plan`` online, in order."""
    flagged = {id(r.step): r for r in rewrites(plan)}
    files = []
    for phase in phases(plan, version, eligible):
        statements: list[str] = []
        if phase.transactional:
            statements += settings_sql(lock_timeout, statement_timeout)
        said: set[int] = set()  # a step of several statements is noted on its first
        for i, (group, sql) in enumerate(batches(phase.steps)):
            notes: list[str] = []
            for s in group:
                if id(s) in said:
                    continue
                said.add(id(s))
                if (r := flagged.get(id(s))) is not None:
                    notes.append(f"-- trimtab: rewrites {r.table} under ACCESS EXCLUSIVE "
                                 f"({r.message}); on a busy table use the expand / backfill "
                                 "/ contract recipe that trimtab generate printed")
                if phase.name == "finish" and (note := _note(s)) is not None:
                    notes.append(note)
            if not phase.transactional and i == 0:
                notes.insert(0, _CONCURRENT_NOTE)
            statements.append("\n".join([*dict.fromkeys(notes), sql]))
        files.append(MigrationFile(phase.name, phase.transactional, phase.steps,
                                   tuple(statements)))
    return tuple(files)


def rewrites(plan: Plan) -> list[Rewrite]:
    """The steps that rewrite a table the plan does not create, each with its recipe."""
    out = []
    for step in plan.steps:
        hazard = next((h for h in step.hazards if h.code in REWRITES), None)
        if hazard is None or not isinstance(step.change.parent, Table):
            continue
        t: Table = step.change.parent
        out.append(Rewrite(step, f"{t.schema}.{t.name}", hazard.message,
                           _recipe(step.change, t)))
    return out


def _recipe(ch: Change, t: Table) -> tuple[str, ...]:
    table = t.sql_name
    batch = (f"UPDATE {table} SET {{set}} WHERE ctid IN (SELECT ctid FROM {table} WHERE "
             f"{{where}} LIMIT {BATCH_ROWS})")
    if isinstance(ch, AlterColumn) and ch.before.type != ch.after.type:
        col = quote_ident(ch.after.name)
        new = quote_ident(f"{ch.after.name}_new")
        cast = ch.using or f"{col}::{ch.after.type}"
        return (
            f"expand: ALTER TABLE {table} ADD COLUMN {new} {ch.after.type}; and a trigger "
            f"that sets {new} = {cast} on INSERT and UPDATE; deploy code that writes both",
            "backfill, one transaction per batch, until it updates 0 rows: "
            + batch.format(set=f"{new} = {cast}",
                           where=f"{new} IS NULL AND {col} IS NOT NULL"),
            f"contract, in one short transaction: drop the trigger, ALTER TABLE {table} "
            f"RENAME COLUMN {col} TO {quote_ident(ch.after.name + '_old')}, RENAME COLUMN "
            f"{new} TO {col}; drop the old column once no code reads it")
    if isinstance(ch, AddColumn) and ch.after.default is not None:
        col = quote_ident(ch.after.name)
        return (
            f"expand: ALTER TABLE {table} ADD COLUMN {col} {ch.after.type}; then ALTER "
            f"TABLE {table} ALTER COLUMN {col} SET DEFAULT {ch.after.default} (new rows "
            "only: no rewrite)",
            "backfill, one transaction per batch, until it updates 0 rows: "
            + batch.format(set=f"{col} = {ch.after.default}", where=f"{col} IS NULL"),
            "contract: if it must be NOT NULL, add CHECK (col IS NOT NULL) NOT VALID, "
            "VALIDATE it, then SET NOT NULL (what trimtab generate writes for SET NOT NULL)")
    return ("expand: create the new shape beside the old (a new column or table), kept in "
            "step by a trigger",
            f"backfill it in batches of {BATCH_ROWS} rows, one transaction each",
            "contract: switch readers over, then drop the old shape in a short transaction")
