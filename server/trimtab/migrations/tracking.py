"""The tracking table ``trimtab.migrations``: which migrations a database has applied.

One row per migration name. A row counts as applied only once ``finished_at`` is set; a row
with ``finished_at`` NULL is a migration that is running, failed (``failed_statement`` and
``error`` say where and why) or was cut off. Statements of a migration that runs without a
transaction are counted in ``statements_done`` as they commit, so a rerun resumes after them.
A statement that must run outside any transaction (``CREATE INDEX CONCURRENTLY``) cannot
commit together with its count: ``started_statement`` is recorded (committed) before it
runs and cleared with the count after it, so a run cut off in between leaves the statement
marked as of unknown outcome, and the runner does not run it again blindly.

drizzle's history (``drizzle.__drizzle_migrations``, or the ``migrationsSchema`` /
``migrationsTable`` a project sets) counts too: a migration whose checksum is in it was
applied by drizzle-kit (or drizzle-orm's migrator), and the first ``trimtab migrate`` copies
it here with ``applied_by = 'drizzle-kit'``. A project switching from drizzle-kit re-runs
nothing.

And trimtab writes drizzle's history in a Drizzle project (the runner decides when), with
drizzle's own rules, so that drizzle-orm's migrator sees what trimtab applied. What that
migrator (drizzle-orm 0.45, ``migrator.js`` and ``pg-core/dialect.js``) does:

- it creates ``CREATE SCHEMA IF NOT EXISTS "drizzle"`` and ``CREATE TABLE IF NOT EXISTS
  "drizzle"."__drizzle_migrations" (id SERIAL PRIMARY KEY, hash text NOT NULL,
  created_at bigint)``;
- per journal entry: ``hash`` = SHA-256 hex of the ``.sql`` file read as a UTF-8 string
  (``folder.checksum``), ``created_at`` = the entry's ``when`` (epoch ms);
- it reads only the row with the largest ``created_at`` and applies every entry whose
  ``when`` is above it, all in one transaction, inserting one row per entry; it never
  compares hashes and takes no lock.

So trimtab inserts ``(hash, created_at) = (checksum, when)`` for each migration it applies,
in the migration's own transaction, and never a NULL ``created_at`` (sorted first by
``ORDER BY created_at DESC``, it would make drizzle re-run everything).

Callers that write here hold the runner's advisory lock.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from trimtab.migrations.folder import Folder, Migration
from trimtab.model import Model

SCHEMA = "trimtab"
TABLE = "migrations"
QUALIFIED = f"{SCHEMA}.{TABLE}"
# The table this thread's runner uses: trimtab.migrations, or one table per tenant schema
# when a fleet applies the same folder into many schemas of one database (``per_schema``).
_TABLE_NOW: ContextVar[str] = ContextVar("trimtab_tracking_table", default=TABLE)
DRIZZLE_SCHEMA = "drizzle"
DRIZZLE_TABLE = "__drizzle_migrations"


@dataclass(frozen=True)
class DrizzleTable:
    """Where drizzle keeps its history: the migrator's ``migrationsSchema`` and
    ``migrationsTable`` options (``migrations: {schema, table}`` in drizzle.config.ts)."""

    schema: str = DRIZZLE_SCHEMA
    table: str = DRIZZLE_TABLE

    def __str__(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.table)


DRIZZLE = DrizzleTable()


def without_history(model: Model, where: DrizzleTable) -> Model:
    """``model`` without drizzle's history table (and its id sequence) when a project keeps
    it out of the ``drizzle`` schema, which introspection leaves out anyway: bookkeeping,
    never part of a declared schema, never a change to plan. Its schema goes too when
    nothing else is in it."""
    key = ("table", where.schema, where.table)
    if key not in model.tables:
        return model
    tables = {k: v for k, v in model.tables.items() if k != key}
    sequences = {k: v for k, v in model.sequences.items()
                 if v.owned_by is None or v.owned_by[:2] != (where.schema, where.table)}
    schemas = dict(model.schemas)
    if where.schema != "public" and not any(
            k[1] == where.schema for bucket in (tables, sequences, model.types, model.views,
                                                model.functions) for k in bucket):
        schemas.pop(("schema", where.schema), None)
    return model.with_(tables=tables, sequences=sequences, schemas=schemas)

def _create() -> tuple[str, ...]:
    return (
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    f"""CREATE TABLE IF NOT EXISTS {qualified()} (
    id bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    checksum text NOT NULL,
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    statements_done int NOT NULL DEFAULT 0,
    failed_statement int,
    error text,
    applied_by text DEFAULT current_user,
    started_statement int
)""",
    f"COMMENT ON TABLE {qualified()} IS 'Migrations applied by trimtab migrate. A row counts as "
    "applied only when finished_at is set.'",
    )

_COLUMNS = ("id, name, checksum, started_at, finished_at, statements_done, failed_statement, "
            "error, applied_by")
# Added after the table's first release: tables made before lack it until ``ensure``.
_ADDED = "started_statement"


@dataclass(frozen=True)
class AppliedRow:
    """One row of ``trimtab.migrations``."""

    id: int
    name: str
    checksum: str
    started_at: datetime
    finished_at: datetime | None
    statements_done: int
    failed_statement: int | None
    error: str | None
    applied_by: str | None
    # A statement run outside any transaction whose end is not recorded (1-based), or None.
    started_statement: int | None = None

    @property
    def applied(self) -> bool:
        return self.finished_at is not None

    @property
    def failed(self) -> bool:
        return self.finished_at is None and self.error is not None


@dataclass(frozen=True)
class DrizzleRow:
    """One row of drizzle-kit's ``__drizzle_migrations``."""

    id: int
    hash: str
    created_at: int | None


@dataclass(frozen=True)
class DrizzleHistory:
    """drizzle-kit's history held against a folder.

    ``applied``: migrations drizzle-kit applied that trimtab does not count as applied yet
    (name -> row).
    ``edited``: rows whose ``created_at`` is a pending migration's ``when`` but whose hash is
    not that file's checksum: the file changed after drizzle-kit applied it.
    ``orphans``: rows that match no file at all.
    """

    applied: Mapping[str, DrizzleRow]
    edited: Sequence[tuple[Migration, DrizzleRow]]
    orphans: Sequence[DrizzleRow]


def qualified() -> str:
    """The tracking table of this thread's runner, schema-qualified."""
    return f"{SCHEMA}.{_TABLE_NOW.get()}"


def lock_salt() -> int:
    """Mixed into the runner's advisory lock key: runners on different tenant schemas of one
    database do not wait for each other (0 for the database's own table)."""
    name = _TABLE_NOW.get()
    if name == TABLE:
        return 0
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def schema_table(schema: str) -> str:
    """The tracking table's name for tenant ``schema``: kept in the ``trimtab`` schema
    (never inside the tenant's schema, where it would read as drift), a plain identifier."""
    if re.fullmatch(r"[a-z_][a-z0-9_]{0,50}", schema):
        return f"{TABLE}_{schema}"
    return f"{TABLE}_{hashlib.sha256(schema.encode()).hexdigest()[:20]}"


@contextmanager
def per_schema(schema: str) -> Iterator[None]:
    """Within the block (this thread only), the runner records into ``schema``'s own
    tracking table and takes that schema's lock."""
    token = _TABLE_NOW.set(schema_table(schema))
    try:
        yield
    finally:
        _TABLE_NOW.reset(token)


def exists(conn: psycopg.Connection) -> bool:
    row = conn.execute(f"SELECT to_regclass('{qualified()}') IS NOT NULL", prepare=False).fetchone()
    return bool(row and row[0])


def _has_added_column(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = %s::regclass "
        "AND attname = %s AND NOT attisdropped)", (qualified(), _ADDED), prepare=False,
    ).fetchone()
    return bool(row and row[0])


def ensure(conn: psycopg.Connection) -> bool:
    """Create the schema and table when missing; True when it created them. A table made by
    an older trimtab gets the columns it lacks.

    Checked first, so a role without CREATE on the database can use a table made for it.
    """
    if exists(conn):
        if not _has_added_column(conn):
            conn.execute(f"ALTER TABLE {qualified()} ADD COLUMN IF NOT EXISTS {_ADDED} int",
                         prepare=False)
        return False
    for statement in _create():
        conn.execute(statement, prepare=False)
    return True


def read(conn: psycopg.Connection) -> dict[str, AppliedRow]:
    """Every row, applied or not, by name ({} when the table does not exist)."""
    if not exists(conn):
        return {}
    added = _ADDED if _has_added_column(conn) else "NULL::int"
    cur = conn.execute(f"SELECT {_COLUMNS}, {added} FROM {qualified()} ORDER BY id",
                       prepare=False)
    return {r[1]: AppliedRow(*r) for r in cur.fetchall()}


def applied(conn: psycopg.Connection) -> dict[str, AppliedRow]:
    """The applied rows only (finished_at set), by name."""
    return {name: row for name, row in read(conn).items() if row.applied}


# -- writes: the runner calls these with its advisory lock held ------------------------------

def start(conn: psycopg.Connection, m: Migration, statements_done: int = 0) -> datetime:
    """Record that ``m`` starts (finished_at NULL); a failed or cut-off row is taken over.

    Returns started_at. ``statements_done`` > 0 when a migration without a transaction
    resumes after the statements an earlier run finished.
    """
    row = conn.execute(
        f"""INSERT INTO {qualified()} AS t (name, checksum, started_at, statements_done)
            VALUES (%s, %s, now(), %s)
            ON CONFLICT (name) DO UPDATE SET checksum = excluded.checksum,
                started_at = excluded.started_at, finished_at = NULL,
                statements_done = excluded.statements_done, failed_statement = NULL,
                error = NULL, applied_by = current_user, started_statement = NULL
            WHERE t.finished_at IS NULL
            RETURNING started_at""",
        (m.name, m.checksum, statements_done), prepare=False,
    ).fetchone()
    if row is None:  # the runner re-reads under its lock first; this cannot happen
        raise RuntimeError(f"migration {m.name} is already recorded as applied")
    return row[0]


def progress(conn: psycopg.Connection, name: str, statements_done: int) -> None:
    """``statements_done`` statements have committed (and none is running)."""
    conn.execute(f"UPDATE {qualified()} SET statements_done = %s, started_statement = NULL "
                 "WHERE name = %s", (statements_done, name), prepare=False)


def begin_statement(conn: psycopg.Connection, name: str, number: int) -> None:
    """Statement ``number`` is about to run outside any transaction: until ``progress``
    clears it, its outcome is unknown. Call in autocommit, so that it is committed first."""
    conn.execute(f"UPDATE {qualified()} SET started_statement = %s WHERE name = %s",
                 (number, name), prepare=False)


def resume(conn: psycopg.Connection, name: str, statements_done: int) -> None:
    """The user says how far an unfinished migration got (``migrate --resume-after``)."""
    conn.execute(
        f"""UPDATE {qualified()} SET statements_done = %s, started_statement = NULL,
                failed_statement = NULL, error = NULL
            WHERE name = %s AND finished_at IS NULL""",
        (statements_done, name), prepare=False)


def finish(conn: psycopg.Connection, name: str, statements_done: int) -> None:
    conn.execute(
        f"""UPDATE {qualified()} SET finished_at = clock_timestamp(), statements_done = %s,
                failed_statement = NULL, error = NULL, started_statement = NULL
            WHERE name = %s""",
        (statements_done, name), prepare=False,
    )


def fail(conn: psycopg.Connection, m: Migration, *, statement: int, error: str,
         statements_done: int, started_at: datetime | None = None) -> None:
    """Record a failure: visible (statement, error), not applied (finished_at NULL).

    Never overwrites a row that is applied (another runner may have applied it meanwhile).
    """
    conn.execute(
        f"""INSERT INTO {qualified()} AS t (name, checksum, started_at, statements_done,
                failed_statement, error)
            VALUES (%s, %s, coalesce(%s, now()), %s, %s, %s)
            ON CONFLICT (name) DO UPDATE SET checksum = excluded.checksum,
                started_at = excluded.started_at, finished_at = NULL,
                statements_done = excluded.statements_done,
                failed_statement = excluded.failed_statement, error = excluded.error,
                applied_by = current_user, started_statement = NULL
            WHERE t.finished_at IS NULL""",
        (m.name, m.checksum, started_at, statements_done, statement, error), prepare=False,
    )


def mark(conn: psycopg.Connection, m: Migration) -> None:
    """Record ``m`` as applied without running it (baselining), with the file's checksum.

    statements_done stays 0: the row says nothing ran. An applied row for an edited file
    takes the new checksum (the user accepts the edit); a failed row becomes applied.
    """
    conn.execute(
        f"""INSERT INTO {qualified()} (name, checksum, started_at, finished_at, statements_done)
            VALUES (%s, %s, now(), now(), 0)
            ON CONFLICT (name) DO UPDATE SET checksum = excluded.checksum,
                started_at = excluded.started_at, finished_at = excluded.finished_at,
                statements_done = 0, failed_statement = NULL, error = NULL,
                applied_by = current_user, started_statement = NULL""",
        (m.name, m.checksum), prepare=False,
    )


def unrecord(conn: psycopg.Connection, m: Migration, where: DrizzleTable = DRIZZLE) -> None:
    """``m`` is no longer applied (its down file ran): its row goes, and drizzle's row for
    it, so that trimtab's and drizzle-orm's migrators both apply it again."""
    if exists(conn):
        conn.execute(f"DELETE FROM {qualified()} WHERE name = %s", (m.name,), prepare=False)
    if drizzle_exists(conn, where):
        conn.execute(sql.SQL("DELETE FROM {} WHERE hash = %s AND created_at = %s")
                     .format(where.ident), (m.checksum, m.when), prepare=False)


def forget(conn: psycopg.Connection, where: DrizzleTable = DRIZZLE) -> None:
    """Drop every record of applied migrations, trimtab's and drizzle's (a reset that
    rebuilds the database: drizzle's rows left behind would count as applied)."""
    conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE", prepare=False)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(where.ident), prepare=False)


# -- drizzle-kit's history --------------------------------------------------------------------

def drizzle_exists(conn: psycopg.Connection, where: DrizzleTable = DRIZZLE) -> bool:
    found = conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                         (where.ident.as_string(conn),), prepare=False).fetchone()
    return bool(found and found[0])


def read_drizzle(conn: psycopg.Connection, where: DrizzleTable = DRIZZLE) -> list[DrizzleRow]:
    """drizzle's tracking rows ([] when there is no such table)."""
    if not drizzle_exists(conn, where):
        return []
    cur = conn.execute(sql.SQL("SELECT id, hash, created_at FROM {} ORDER BY id")
                       .format(where.ident), prepare=False)
    return [DrizzleRow(int(r[0]), str(r[1]), None if r[2] is None else int(r[2]))
            for r in cur.fetchall()]


def ensure_drizzle(conn: psycopg.Connection, where: DrizzleTable = DRIZZLE) -> bool:
    """Create drizzle's table as drizzle-orm's migrator creates it, when missing; True when
    it created it."""
    if drizzle_exists(conn, where):
        return False
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(where.schema)),
                 prepare=False)
    conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (id SERIAL PRIMARY KEY, "
                         "hash text NOT NULL, created_at bigint)").format(where.ident),
                 prepare=False)
    return True


def record_drizzle(conn: psycopg.Connection, m: Migration,
                   where: DrizzleTable = DRIZZLE) -> None:
    """The row drizzle-orm's migrator inserts when it applies ``m``."""
    conn.execute(sql.SQL('INSERT INTO {} ("hash", "created_at") VALUES (%s, %s)')
                 .format(where.ident), (m.checksum, m.when), prepare=False)


def sync_drizzle(conn: psycopg.Connection, folder: Folder,
                 where: DrizzleTable = DRIZZLE) -> list[str]:
    """Record in drizzle's table the migrations trimtab counts as applied that it lacks
    (applied before drizzle's table was kept, or marked applied); the names recorded, in
    journal order. Without them drizzle-orm's migrator would run those again."""
    rows = read(conn)
    matched, _ = _match(folder, read_drizzle(conn, where))
    added = []
    for m in folder.migrations:
        row = rows.get(m.name)
        if row is not None and row.applied and row.checksum == m.checksum \
                and m.name not in matched:
            record_drizzle(conn, m, where)
            added.append(m.name)
    return added


def match_drizzle(folder: Folder, history: Iterable[DrizzleRow],
                  rows: Mapping[str, AppliedRow]) -> DrizzleHistory:
    """Hold drizzle-kit's history against the folder: by checksum (hash), never by time.

    Two files with the same content (two empty custom migrations) share a hash; each
    drizzle row matches one migration, the one whose ``when`` is its ``created_at`` first.
    ``created_at`` is used only to say which file an unmatched hash belonged to.
    """
    matched, left = _match(folder, history)
    done = {name for name, r in rows.items() if r.applied}
    known_checksums = {r.checksum for r in rows.values() if r.applied}
    by_when = {m.when: m for m in folder.migrations}
    edited: list[tuple[Migration, DrizzleRow]] = []
    orphans: list[DrizzleRow] = []
    for row in left:
        if row.hash in known_checksums:  # recorded by trimtab already (e.g. under another name)
            continue
        m = by_when.get(row.created_at) if row.created_at is not None else None
        if m is None:
            orphans.append(row)
        elif m.name not in done and m.name not in matched:
            edited.append((m, row))
        # else: trimtab has its own row for that file (applied, or accepted with mark)
    return DrizzleHistory(
        applied={n: r for n, r in matched.items() if n not in done},
        edited=tuple(edited), orphans=tuple(orphans),
    )


def _match(folder: Folder, history: Iterable[DrizzleRow]
           ) -> tuple[dict[str, DrizzleRow], list[DrizzleRow]]:
    """Each drizzle row matched to one migration by hash, the one whose ``when`` is its
    ``created_at`` first; (matches by name, rows left over)."""
    left = list(history)
    matched: dict[str, DrizzleRow] = {}
    for exact in (True, False):
        for m in folder.migrations:
            if m.name in matched:
                continue
            for row in left:
                if row.hash == m.checksum and (not exact or row.created_at == m.when):
                    matched[m.name] = row
                    left.remove(row)
                    break
    return matched, left


def import_drizzle(conn: psycopg.Connection, folder: Folder,
                   history: DrizzleHistory | None = None,
                   where: DrizzleTable = DRIZZLE) -> list[str]:
    """Copy the migrations drizzle-kit applied into trimtab.migrations
    (``applied_by = 'drizzle-kit'``); the names copied.

    drizzle-kit keeps no apply time: started_at and finished_at are the time of the copy.
    """
    if history is None:
        history = match_drizzle(folder, read_drizzle(conn, where), read(conn))
    by_name = {m.name: m for m in folder.migrations}
    copied = []
    for name in history.applied:
        m = by_name[name]
        cur = conn.execute(
            f"""INSERT INTO {qualified()} AS t (name, checksum, started_at, finished_at,
                    statements_done, applied_by)
                VALUES (%s, %s, now(), now(), %s, 'drizzle-kit')
                ON CONFLICT (name) DO UPDATE SET checksum = excluded.checksum,
                    started_at = excluded.started_at, finished_at = excluded.finished_at,
                    statements_done = excluded.statements_done, failed_statement = NULL,
                    error = NULL, applied_by = excluded.applied_by, started_statement = NULL
                WHERE t.finished_at IS NULL""",
            (m.name, m.checksum, len(m.statements)), prepare=False,
        )
        if cur.rowcount:
            copied.append(name)
    return copied
