"""``trimtab migrate``: apply the pending migrations of a folder, each exactly once.

- Applied migrations are matched by name and checksum, never by timestamp. An applied file
  that changed, an applied migration with no file, and a pending migration older than an
  applied one (unless allowed) stop the run before anything runs.
- Each migration runs in its own transaction, which first takes a transaction-level advisory
  lock and re-reads the tracking table: a migration another runner applied meanwhile is
  skipped. The lock ends with the transaction, so nothing leaks behind a transaction pooler.
- A migration marked ``-- trimtab:no-transaction`` runs statement by statement under a
  session-level advisory lock, each statement committed on its own, and a rerun resumes after
  the last one recorded. So that a rerun never repeats nor skips one, each statement runs in a
  short transaction of its own together with its record in the tracking table: both commit,
  or neither. Statements PostgreSQL refuses in a transaction (``CREATE INDEX CONCURRENTLY``,
  ``VACUUM``...: SQLSTATE 25001) and ``CALL`` / ``DO`` (they may commit themselves) run
  outside any: "statement i started" is committed before, "done" after. A run cut off in
  between leaves statement i of unknown outcome; the next run, once it holds the lock (so the
  old backend has ended), settles it from the catalog for ``CREATE INDEX CONCURRENTLY``
  (valid index: done; invalid: dropped and built again; none: run it) and ``DROP INDEX
  CONCURRENTLY``, and otherwise refuses until the user says how far it got
  (``migrate --resume-after N``). Session locks do not survive a transaction pooler: behind one
  (see ``pooled``), a run with such a migration pending is refused before anything runs,
  naming DIRECT_DATABASE_URL.
- The folder must say one order: a ``.sql`` file the journal does not list, or two
  migrations with one number (two branches merged), stops every mode before anything runs.
- Interrupted (Ctrl+C), ``migrate`` raises ``Interrupted``: what this run applied, read back
  from the tracking table, what happened to the migration it was running, what did not run.
- The lock is always taken with a *try* in a loop, never by waiting inside PostgreSQL: a
  backend blocked on an advisory lock holds a snapshot, and ``CREATE INDEX CONCURRENTLY`` run
  by the lock holder waits for every older snapshot, which PostgreSQL reports as a deadlock.
- A failed statement rolls its migration back; the failure is then recorded in a transaction
  of its own (finished_at NULL: visible, not applied) and raised as a PlanError naming the
  file, the statement, its line and PostgreSQL's message. Later migrations do not run.
- In a Drizzle project, each migration applied (or marked applied) is also recorded in
  drizzle's table, in the same transaction, as drizzle-orm's migrator records it (see
  ``tracking``), so that ``drizzle-kit migrate`` and drizzle-orm's ``migrate()`` do not run
  it again. A Drizzle project: drizzle's table already exists in the database, or the folder
  says so (``Folder.drizzle_reason``: drizzle-kit wrote it or its first migration, or a
  drizzle config is in its project). trimtab still decides what is applied from its own
  table, by name and checksum; drizzle's rows only add the migrations drizzle applied.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg.pq import TransactionStatus

from trimtab.errors import ConfigError, DatabaseError, PlanError
from trimtab.migrations import batch, tracking
from trimtab.migrations.folder import (
    DOWN_DIR,
    DOWN_SUFFIX,
    Down,
    Folder,
    Migration,
    MigrationStatement,
    down_path,
    listing_problems,
    read_down,
)
from trimtab.sources import shadow
from trimtab.words import plural

# pg_advisory_*lock(bigint) key: the first 8 bytes of sha256("trimtab migrate"). Advisory
# locks are per database, so runners on other databases of the same server never wait.
LOCK_KEY = -2794430464811502044
LOCK_WAIT = 60.0  # seconds without the lock holder running a statement before giving up
APPLICATION_NAME = "trimtab migrate"

Progress = Callable[[Migration, int, int], None]
# on_retry(migration, attempt (1 = the first retry), of how many, seconds until it).
Retry = Callable[[Migration, int, int, float], None]
LOCK_RETRIES = 3
RETRY_DELAY = 1.0  # seconds before the first retry; doubled for each next one
LOCK_NOT_AVAILABLE = "55P03"  # what a statement that reached lock_timeout fails with


@dataclass(frozen=True)
class MigrationRun:
    name: str
    # "applied" | "skipped" (another runner applied it) | "marked" | "would apply" | "reverted"
    status: str
    seconds: float
    statements: int  # statements run now (a resumed migration counts only the rest)


@dataclass(frozen=True)
class MigrateResult:
    runs: tuple[MigrationRun, ...]
    already_applied: int  # migrations of the folder applied before this run (drizzle-kit's too)
    # drizzle's table, when this run kept it too ("drizzle.__drizzle_migrations"), else None
    drizzle_table: str | None = None
    # applied migrations it lacked, recorded there now (applied before it was kept)
    drizzle_backfilled: tuple[str, ...] = ()
    # (migration, statements counted as done) set by --resume-after, else None
    resumed: tuple[str, int] | None = None

    @property
    def applied(self) -> tuple[MigrationRun, ...]:
        return tuple(r for r in self.runs if r.status == "applied")


class Interrupted(KeyboardInterrupt):
    """Ctrl+C during ``migrate``: exactly what this run did, read back from the database."""

    def __init__(self, applied: tuple[str, ...], current: str | None, outcome: str | None,
                 not_run: tuple[str, ...]) -> None:
        super().__init__("interrupted")
        self.applied = applied  # migrations this run applied, in order
        self.current = current  # the migration it was running (not applied), if any
        self.outcome = outcome  # what became of it
        self.not_run = not_run  # pending migrations after it


@dataclass(frozen=True)
class _Problem:
    message: str
    file: str | None = None
    hint: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class _State:
    rows: dict[str, tracking.AppliedRow]
    drizzle: tracking.DrizzleHistory
    applied: frozenset[str]  # names of the folder counted as applied
    pending: tuple[Migration, ...]
    problems: tuple[_Problem, ...]


# -- reading the state ------------------------------------------------------------------------

def pending(conn: psycopg.Connection, folder: Folder, *, allow_out_of_order: bool = False,
            drizzle_table: tracking.DrizzleTable = tracking.DRIZZLE,
            ) -> tuple[list[Migration], list[str]]:
    """The migrations still to apply, in order, and the problems that stop ``migrate``
    (edited or missing applied migrations, pending ones older than an applied one, a
    statement in doubt). The folder's own problems that stop it are ``_listing``'s.

    Reads only: creates nothing, copies nothing from drizzle-kit's history.
    """
    state = _state(conn, folder, allow_out_of_order, drizzle_table, locked=False)
    return list(state.pending), [_text(p) for p in state.problems]


def _listing(folder: Folder) -> list[_Problem]:
    """Files and journal that do not say one order (see ``folder.listing_problems``)."""
    return [_Problem(p.message, p.file, p.hint, p.line) for p in listing_problems(folder.path)]


def _state(conn: psycopg.Connection, folder: Folder, allow_out_of_order: bool,
           drizzle_table: tracking.DrizzleTable, locked: bool = True) -> _State:
    """``locked``: the caller holds the runner's lock. Without it, a statement recorded as
    started may be running right now in the session that holds the lock: not in doubt."""
    rows = tracking.read(conn)
    running = not locked and _holder(conn) is not None
    by_name = {m.name: m for m in folder.migrations}
    problems: list[_Problem] = []
    for row in rows.values():
        m = by_name.get(row.name)
        if m is None:
            if row.applied:
                problems.append(_Problem(
                    f"applied migration {row.name} has no file in {folder.path}",
                    hint=f"restore {row.name}.sql (and its journal entry) from version control; "
                         "if it was removed on purpose and its changes are undone, delete its "
                         f"row: DELETE FROM {tracking.qualified()} WHERE name = '{row.name}'"))
            elif row.statements_done:
                problems.append(_Problem(
                    f"migration {row.name} ran {plural(row.statements_done, 'statement')} "
                    f"without a transaction before it failed, and has no file in {folder.path}",
                    hint=f"restore {row.name}.sql, or undo those statements by hand and "
                         f"DELETE FROM {tracking.qualified()} WHERE name = '{row.name}'"))
        elif row.applied and row.checksum != m.checksum:
            problems.append(_edited(m, row.checksum, "it was applied"))
        elif not row.applied and not running and (doubt := _in_doubt(m, row)) is not None:
            problems.append(doubt)
    history = tracking.match_drizzle(folder, tracking.read_drizzle(conn, drizzle_table), rows)
    for m, drow in history.edited:
        problems.append(_edited(m, drow.hash, "drizzle-kit applied it"))
    for drow in history.orphans:
        problems.append(_Problem(
            f"applied migration with hash {drow.hash[:12]}... (created_at {drow.created_at}, "
            f"{drizzle_table} id {drow.id}) has no file in {folder.path}",
            hint="restore the file drizzle-kit applied from version control; if it was removed "
                 f"on purpose, delete that row from {drizzle_table}"))
    applied = frozenset(n for n, r in rows.items() if r.applied and n in by_name) \
        | frozenset(history.applied)
    todo = tuple(m for m in folder.migrations if m.name not in applied)
    if not allow_out_of_order and applied:
        place = {m.name: i for i, m in enumerate(folder.migrations)}
        newest = max((by_name[n] for n in applied), key=lambda m: place[m.name])
        problems.extend(_out_of_order(m, newest) for m in todo
                        if _before(m, newest, place))
    return _State(rows, history, applied, todo, tuple(problems))


def _before(m: Migration, applied: Migration, place: dict[str, int]) -> bool:
    """Whether pending ``m`` belongs before (or beside) the applied one: listed earlier, or
    numbered the same or lower (two branches that each added one)."""
    return place[m.name] < place[applied.name] or m.idx <= applied.idx


def _edited(m: Migration, recorded: str, when: str) -> _Problem:
    return _Problem(
        f"migration {m.name} was edited after {when} (checksum {recorded[:12]}... then, "
        f"{m.checksum[:12]}... now); nothing was run",
        file=str(m.path),
        hint=f"restore the file as it was applied (git log -p -- {m.path.name}) and put the "
             "change in a new migration; if the database already matches the edited file, "
             f"accept it with: trimtab migrate --mark-applied {m.name}")


def _out_of_order(m: Migration, newest: Migration) -> _Problem:
    return _Problem(
        f"migration {m.name} is pending but the later {newest.name} is already applied "
        "(was it merged from a branch after that one ran?)",
        file=str(m.path),
        hint="check it does not conflict with the applied migrations, then run "
             "trimtab migrate --allow-out-of-order; or renumber it after the last applied one")


def _text(p: _Problem) -> str:
    return f"{p.message}. {p.hint}" if p.hint else p.message


def _raise(problems: tuple[_Problem, ...] | list[_Problem]) -> None:
    if not problems:
        return
    if len(problems) == 1:
        p = problems[0]
        raise PlanError(p.message, file=p.file, line=p.line, hint=p.hint)
    raise PlanError(
        f"{len(problems)} problems, nothing was run:\n"
        + "".join(f"  - {_where(p)}{_text(p)}\n" for p in problems))


def _where(p: _Problem) -> str:
    if not p.file:
        return ""
    return f"{p.file}:{p.line}: " if p.line is not None else f"{p.file}: "


# -- migrate ----------------------------------------------------------------------------------

def migrate(url: str, folder: Folder, *, dry_run: bool = False,
            allow_out_of_order: bool = False, mark_applied: str | None = None,
            on_progress: Progress | None = None, lock_wait: float = LOCK_WAIT,
            drizzle: bool | None = None,
            drizzle_table: tracking.DrizzleTable = tracking.DRIZZLE,
            resume_after: int | None = None, lock_retries: int = LOCK_RETRIES,
            on_retry: Retry | None = None) -> MigrateResult:
    """Apply the folder's pending migrations to the database at ``url``, in order.

    ``dry_run``: say what would run, change nothing (not even create the tracking table).
    ``mark_applied``: record that one migration as applied without running it, and nothing
    else. ``on_progress(migration, statements_done, statements_total)`` is called with 0
    before a migration's first statement and after each statement (or group of statements
    sent together, see ``batch``). ``lock_wait``: how long to wait for another runner's
    lock while that runner is not running a statement.
    ``drizzle``: whether to keep drizzle's table (``drizzle_table``) too; None decides as
    the module says (a Drizzle project).
    ``resume_after``: the migration without a transaction that stopped half way resumes
    after its statement ``resume_after`` (the user checked how far it got); then the
    pending migrations run as usual.
    ``lock_retries``: how often a migration that gave up waiting for a lock (its own
    ``SET lock_timeout``: SQLSTATE 55P03) is rolled back and run again, after 1 s, 2 s,
    4 s...; ``on_retry`` is told before each wait.
    """
    if dry_run and mark_applied is not None:
        raise ConfigError("--dry-run and --mark-applied cannot be combined",
                          hint="run --mark-applied alone: it runs no statement")
    if resume_after is not None and (dry_run or mark_applied is not None):
        raise ConfigError("--resume-after goes with neither --dry-run nor --mark-applied",
                          hint="run trimtab migrate --resume-after N alone")
    by_name = {m.name: m for m in folder.migrations}
    if mark_applied is not None and mark_applied not in by_name:
        known = ", ".join(m.name for m in folder.migrations[-5:]) or "none"
        raise PlanError(f"no migration named {mark_applied} in {folder.path}",
                        hint=f"name one of the folder's migrations (the last ones: {known})")
    _raise(_listing(folder))
    with _connect(url) as conn:
        if dry_run:
            state = _state(conn, folder, allow_out_of_order, drizzle_table, locked=False)
            _raise(state.problems)
            return MigrateResult(
                tuple(MigrationRun(m.name, "would apply", 0.0, len(m.statements))
                      for m in state.pending), len(state.applied))
        if mark_applied is not None:
            return _mark(conn, folder, by_name[mark_applied], lock_wait, drizzle,
                         drizzle_table)
        # Before anything runs: none of the pending migrations must need a session that a
        # pooler would split (their lock taken on one server connection, released on another).
        ahead = _state(conn, folder, allow_out_of_order, drizzle_table, locked=False)
        outside = [m for m in ahead.pending if not m.transactional]
        if (outside or resume_after is not None) and pooled(conn):
            raise _needs_a_session(outside, resume_after)
        state, keep, backfilled, resumed = _setup(conn, folder, allow_out_of_order, lock_wait,
                                                  drizzle, drizzle_table, resume_after)
        also = drizzle_table if keep else None
        runs: list[MigrationRun] = []
        current: Migration | None = None
        try:
            for current in state.pending:
                if current.transactional:
                    runs.append(_retrying(conn, folder, current, allow_out_of_order,
                                          on_progress, lock_wait, also, lock_retries,
                                          on_retry))
                else:
                    runs.append(_run_without_transaction(conn, folder, current,
                                                         allow_out_of_order, on_progress,
                                                         lock_wait, also))
                current = None
        except KeyboardInterrupt:
            raise _interrupted(url, conn, state.pending, runs, current) from None
        return MigrateResult(tuple(runs), len(state.applied), str(also) if also else None,
                             tuple(backfilled), resumed)


def pooled(conn: psycopg.Connection) -> bool:
    """Whether ``conn`` reaches PostgreSQL through a connection pooler.

    At startup the server tells the client its backend's process id (BackendKeyData, kept
    for cancel requests). A pooler hands the client a key of its own instead, since the
    client's queries may run on any of its server connections; so the process id the
    connection was opened with differs from the one of the backend that answers. This
    needs no pooler-specific command (pgbouncer's SHOW works only on its admin database)
    and no guess from the URL, and it holds for any pooler that can move a client between
    server connections, which is exactly what breaks a session. A pooler in session mode is
    counted too: safe, if stricter than needed."""
    row = conn.execute("SELECT pg_backend_pid()", prepare=False).fetchone()
    return row is not None and row[0] != conn.info.backend_pid


def _needs_a_session(outside: list[Migration], resume_after: int | None) -> DatabaseError:
    if outside:
        names = ", ".join(m.name for m in outside[:3]) + (
            f" and {len(outside) - 3} more" if len(outside) > 3 else "")
        many = len(outside) > 1
        why = (f"migration{'s' if many else ''} {names} run{'' if many else 's'} without a "
               "transaction (-- trimtab:no-transaction), under a session-level lock that also "
               "makes a rerun resume exactly after a CREATE INDEX CONCURRENTLY")
    else:
        why = f"--resume-after {resume_after} settles a migration that runs without a " \
              "transaction, under a session-level lock"
    return DatabaseError(
        f"{why}; this database is reached through a connection pooler, which can run each "
        "statement on another server connection, so that lock would be taken on one and "
        "released on another; nothing was applied",
        file=str(outside[0].path) if outside else None,
        hint="Set DIRECT_DATABASE_URL to the server's own address (not the pooler's): push "
             "and migrate use it before DATABASE_URL")


def _interrupted(url: str, conn: psycopg.Connection, pending: tuple[Migration, ...],
                 runs: list[MigrationRun], current: Migration | None) -> Interrupted:
    """What a run stopped by Ctrl+C did, from the tracking table (a migration may have
    committed just before the interrupt reached the loop); from ``runs`` when the database
    cannot be read."""
    rows: dict[str, tracking.AppliedRow] | None = None
    try:
        if not conn.broken and conn.info.transaction_status == TransactionStatus.IDLE:
            rows = tracking.read(conn)
        else:
            with _connect(url) as fresh:
                rows = tracking.read(fresh)
    except (psycopg.Error, DatabaseError):
        rows = None
    applied = [r.name for r in runs if r.status == "applied"]
    names = [m.name for m in pending]
    after = names[names.index(current.name) + 1:] if current is not None else \
        names[len(runs):]
    outcome = None
    row = rows.get(current.name) if rows is not None and current is not None else None
    if current is not None and row is not None and row.applied and \
            current.name not in {r.name for r in runs}:
        applied.append(current.name)  # committed as the interrupt came
        current = None
    elif current is not None and current.transactional:
        outcome = "interrupted and rolled back, not applied"
    elif current is not None:
        done = row.statements_done if row is not None else 0
        total = len(current.statements)
        ran = (f"statements 1-{done} of {total} ran and are recorded" if done else
               f"none of its {total} statements ran")
        if row is not None and row.started_statement is not None:
            outcome = (f"{ran} (it runs without a transaction); statement "
                       f"{row.started_statement} was interrupted while it ran outside any "
                       "transaction and may have completed: the next trimtab migrate checks "
                       "the catalog or says how to go on")
        elif rows is None:
            outcome = ("interrupted; the tracking table could not be read to say how far it "
                       "got: run trimtab status")
        else:
            outcome = (f"{ran} (it runs without a transaction); statement {done + 1} was "
                       f"interrupted and rolled back; a rerun resumes at statement {done + 1}")
    return Interrupted(tuple(applied), current.name if current else None, outcome,
                       tuple(after))


def _connect(url: str) -> psycopg.Connection:
    conn = shadow.connect(url, autocommit=True)
    conn.execute(f"SET application_name = '{APPLICATION_NAME}'", prepare=False)
    return conn


def _setup(conn: psycopg.Connection, folder: Folder, allow_out_of_order: bool,
           lock_wait: float, drizzle: bool | None, drizzle_table: tracking.DrizzleTable,
           resume_after: int | None = None,
           ) -> tuple[_State, bool, list[str], tuple[str, int] | None]:
    """Create the tracking table, apply ``--resume-after``, check the folder against the
    table, copy drizzle-kit's history; in a Drizzle project, create drizzle's table and
    record there what it lacks. A problem rolls all of it back. Returns (state, whether
    drizzle's table is kept, names recorded there now, what was resumed)."""
    with _transaction_lock(conn, lock_wait):
        try:
            tracking.ensure(conn)
        except psycopg.Error as e:
            raise DatabaseError(
                f"cannot create the tracking table {tracking.qualified()}: "
                f"{e.diag.message_primary or e}",
                hint=f"let this role create schemas, or have an owner create {tracking.SCHEMA} "
                     "once (run trimtab migrate as that role)") from None
        resumed = None if resume_after is None else _resume(conn, folder, resume_after)
        state = _state(conn, folder, allow_out_of_order, drizzle_table)
        _raise(state.problems)
        tracking.import_drizzle(conn, folder, state.drizzle, drizzle_table)
        keep, backfilled = _keep_drizzle(conn, folder, drizzle, drizzle_table)
        return state, keep, backfilled, resumed


def _resume(conn: psycopg.Connection, folder: Folder, after: int) -> tuple[str, int]:
    """``--resume-after``: count statements 1..``after`` of the migration that stopped half
    way as done, and its statement in doubt (or failed) as settled."""
    rows = tracking.read(conn)
    # A migration with a transaction never stops half way: a failure rolls it all back.
    stopped = [(m, r) for m in folder.migrations if not m.transactional
               and (r := rows.get(m.name)) is not None and not r.applied
               and (r.started_statement or r.failed_statement or r.statements_done)]
    if not stopped:
        raise ConfigError(
            f"--resume-after {after}: no migration stopped half way in this database; "
            "nothing was run",
            hint="run trimtab migrate without it (trimtab status shows each migration)")
    if len(stopped) > 1:
        raise ConfigError(
            f"--resume-after {after}: several migrations stopped half way ("
            + ", ".join(m.name for m, _ in stopped) + "); nothing was run",
            hint="settle them one at a time: trimtab status shows where each stopped")
    m, row = stopped[0]
    low = row.statements_done
    high = max(low, row.started_statement or row.failed_statement or 0)
    if not low <= after <= high:
        at = high if high > low else low + 1
        raise ConfigError(
            f"--resume-after {after}: migration {m.name} stopped at statement {at} of "
            f"{len(m.statements)} ({low} recorded as done); nothing was run",
            file=str(m.path),
            hint=f"--resume-after {at} counts statement {at} as done, --resume-after {low} "
                 f"runs it again" if high > low else f"use --resume-after {low}")
    tracking.resume(conn, m.name, after)
    return m.name, after


def _keep_drizzle(conn: psycopg.Connection, folder: Folder, drizzle: bool | None,
                  where: tracking.DrizzleTable) -> tuple[bool, list[str]]:
    """Whether this run records in drizzle's table too; if so, the table exists when this
    returns and holds every migration trimtab counts as applied (the names just added)."""
    if drizzle is None:
        drizzle = tracking.drizzle_exists(conn, where) or folder.drizzle_reason() is not None
    if not drizzle:
        return False, []
    try:
        tracking.ensure_drizzle(conn, where)
        return True, tracking.sync_drizzle(conn, folder, where)
    except psycopg.Error as e:
        if conn.broken:
            raise
        raise _drizzle_error(where, e, "nothing was run") from None


def _record_drizzle(conn: psycopg.Connection, m: Migration,
                    where: tracking.DrizzleTable) -> None:
    """drizzle's row for ``m``; a failure rolls the migration back with a clear error."""
    try:
        tracking.record_drizzle(conn, m, where)
    except psycopg.Error as e:
        if conn.broken:
            raise
        outcome = (f"migration {m.name} was rolled back" if m.transactional else
                   f"migration {m.name} ran (without a transaction) but is not recorded as "
                   "applied; a rerun records it without running its statements again")
        raise _drizzle_error(where, e, outcome) from None


def _drizzle_error(where: tracking.DrizzleTable, e: psycopg.Error, outcome: str
                   ) -> DatabaseError:
    return DatabaseError(
        f"cannot write drizzle's migrations table {where} ({e.diag.message_primary or e}); "
        f"{outcome}",
        hint=f"grant this role CREATE on the database and INSERT on {where} (and USAGE on its "
             "sequence), or have an owner create it once")


def _mark(conn: psycopg.Connection, folder: Folder, m: Migration, lock_wait: float,
          drizzle: bool | None, drizzle_table: tracking.DrizzleTable) -> MigrateResult:
    with _transaction_lock(conn, lock_wait):
        tracking.ensure(conn)
        state = _state(conn, folder, True, drizzle_table)
        tracking.import_drizzle(conn, folder, state.drizzle, drizzle_table)
        row = tracking.read(conn).get(m.name)
        others = len(state.applied - {m.name})
        started = time.perf_counter()
        status = "skipped"
        if not (row is not None and row.applied and row.checksum == m.checksum):
            tracking.mark(conn, m)
            status = "marked"
        # After the mark, so that drizzle's table gets the marked migration too.
        keep, backfilled = _keep_drizzle(conn, folder, drizzle, drizzle_table)
        if status == "marked" and m.name in backfilled:
            backfilled.remove(m.name)
        seconds = time.perf_counter() - started if status == "marked" else 0.0
        return MigrateResult((MigrationRun(m.name, status, seconds, 0),), others,
                             str(drizzle_table) if keep else None, tuple(backfilled))


def _recheck(conn: psycopg.Connection, folder: Folder, m: Migration,
             allow_out_of_order: bool) -> tuple[bool, tracking.AppliedRow | None]:
    """Under the lock: (whether another runner applied ``m`` meanwhile, its row: how far an
    earlier run without a transaction got). Raises when the state changed into a
    problem."""
    rows = tracking.read(conn)
    row = rows.get(m.name)
    if row is not None and row.applied:
        if row.checksum == m.checksum:
            return True, row
        _raise([_edited(m, row.checksum, "another runner applied it")])
    if not allow_out_of_order:
        place = {x.name: i for i, x in enumerate(folder.migrations)}
        by_name = {x.name: x for x in folder.migrations}
        later = [by_name[n] for n, r in rows.items()
                 if r.applied and n in by_name and n != m.name
                 and _before(m, by_name[n], place)]
        if later:
            _raise([_out_of_order(m, max(later, key=lambda x: place[x.name]))])
    return False, row


class _Failed(Exception):
    """A statement of a migration failed (raised inside its transaction to roll it back)."""

    def __init__(self, number: int, statement: MigrationStatement, error: psycopg.Error | str,
                 committed: bool = False, part: MigrationStatement | None = None,
                 offset: int = 0):
        super().__init__(str(error))
        self.number = number
        self.statement = statement
        self.error = error
        self.committed = committed  # the file's own COMMIT ended the transaction
        self.part = part  # the statement of a chunk of several that failed (batch.run)
        self.offset = offset  # of its text in the query sent (batch.StatementFailed)


_ENDED = ("the statement ended the migration's transaction (COMMIT, ROLLBACK or END in the "
          "file); trimtab runs each migration in a transaction of its own")


class _GaveUpOnLock(Exception):
    """A migration's statement reached its lock_timeout; the migration was rolled back."""


def _retrying(conn: psycopg.Connection, folder: Folder, m: Migration,
              allow_out_of_order: bool, on_progress: Progress | None, lock_wait: float,
              drizzle: tracking.DrizzleTable | None, retries: int,
              on_retry: Retry | None) -> MigrationRun:
    """A transactional migration, run again (from its start: it was rolled back, nothing
    of it stays) when it gave up waiting for a lock, up to ``retries`` times."""
    attempt = 0
    try:
        while True:
            try:
                return _run_in_transaction(conn, folder, m, allow_out_of_order, on_progress,
                                           lock_wait, drizzle, last=attempt >= retries)
            except _GaveUpOnLock:
                attempt += 1
                delay = RETRY_DELAY * 2 ** (attempt - 1)
                if on_retry:
                    on_retry(m, attempt, retries, delay)
                time.sleep(delay)  # backoff: let the lock holder finish
    finally:
        # A committed SET (the file's own lock_timeout) would outlast its migration in this
        # session and hold for the next, a concurrent index build among them.
        if not conn.broken and conn.info.transaction_status == TransactionStatus.IDLE:
            conn.execute("RESET lock_timeout; RESET statement_timeout", prepare=False)


def _run_in_transaction(conn: psycopg.Connection, folder: Folder, m: Migration,
                        allow_out_of_order: bool, on_progress: Progress | None,
                        lock_wait: float, drizzle: tracking.DrizzleTable | None,
                        last: bool = True) -> MigrationRun:
    started = time.perf_counter()
    total = len(m.statements)
    started_at = None
    first = 0
    try:
        with _transaction_lock(conn, lock_wait):
            skip, row = _recheck(conn, folder, m, allow_out_of_order)
            if skip:
                return MigrationRun(m.name, "skipped", time.perf_counter() - started, 0)
            # first > 0 only after a run of this file without a transaction stopped half way.
            first = row.statements_done if row is not None else 0
            started_at = tracking.start(conn, m, first)
            if on_progress:
                on_progress(m, first, total)

            def after(done: int) -> None:
                # Only a statement run alone can end the transaction (see batch).
                if conn.info.transaction_status != TransactionStatus.INTRANS:
                    raise _Failed(done, m.statements[done - 1], _ENDED, committed=True)
                if on_progress:
                    on_progress(m, done, total)

            try:
                batch.execute(conn, m.statements, first, after)
            except batch.StatementFailed as f:
                raise _Failed(f.index + 1, f.statement, f.error, part=f.part,
                              offset=f.offset) from None
            tracking.finish(conn, m.name, total)
            if drizzle is not None:
                _record_drizzle(conn, m, drizzle)
    except _Failed as f:
        if not last and not f.committed and isinstance(f.error, psycopg.Error) and \
                f.error.sqlstate == LOCK_NOT_AVAILABLE:
            raise _GaveUpOnLock() from None
        if f.committed:
            outcome = (f"statements 1-{f.number} were committed (or rolled back) by the file "
                       "itself, so the migration is not recorded as applied: remove the "
                       "transaction control from the file, check what the database has, "
                       f"then rerun or use trimtab migrate --mark-applied {m.name}")
        else:
            outcome = "the migration was rolled back and is not recorded as applied"
        _record_failure(conn, m, f.number, f.error, first, started_at, lock_wait)
        raise _statement_error(m, f.number, f.statement, f.error, outcome,
                               f.part, f.offset) from None
    except psycopg.Error as e:
        if conn.broken:
            raise _lost(m, e, "PostgreSQL rolled the migration back; it is not recorded as "
                        "applied, a rerun applies it") from None
        raise
    return MigrationRun(m.name, "applied", time.perf_counter() - started, total - first)


def _run_without_transaction(conn: psycopg.Connection, folder: Folder, m: Migration,
                             allow_out_of_order: bool, on_progress: Progress | None,
                             lock_wait: float, drizzle: tracking.DrizzleTable | None,
                             ) -> MigrationRun:
    started = time.perf_counter()
    total = len(m.statements)
    done = 0
    outside = False  # whether the statement running runs outside any transaction
    try:
        with _session_lock(conn, lock_wait):
            skip, row = _recheck(conn, folder, m, allow_out_of_order)
            if skip:
                return MigrationRun(m.name, "skipped", time.perf_counter() - started, 0)
            # Holding the lock, no earlier run's backend is alive: what it did is done.
            done = _settle(conn, m, row) if row is not None else 0
            first = done
            started_at = tracking.start(conn, m, first)
            if on_progress:
                on_progress(m, first, total)
            for number in range(first + 1, total + 1):
                st = m.statements[number - 1]
                outside = False
                try:
                    outside = not _run_with_record(conn, m, number, st)
                    if outside:
                        tracking.begin_statement(conn, m.name, number)  # committed first
                        conn.execute(st.text.encode(), prepare=False)
                        if conn.info.transaction_status != TransactionStatus.IDLE:
                            conn.rollback()
                            raise _Failed(number, st, "the statement left a transaction open "
                                          "(BEGIN without COMMIT in a migration that runs "
                                          "without one); it was rolled back")
                        tracking.progress(conn, m.name, number)
                except psycopg.Error as e:
                    if conn.broken:
                        raise
                    _record_failure(conn, m, number, e, done, started_at, lock_wait)
                    raise _statement_error(m, number, st, e, _resume_note(number)) from None
                except batch.StatementFailed as f:
                    _record_failure(conn, m, number, f.error, done, started_at, lock_wait)
                    raise _statement_error(m, number, st, f.error, _resume_note(number),
                                           f.part) from None
                except _Failed as f:
                    if f.committed:  # its own COMMIT: in doubt, as if cut off
                        tracking.begin_statement(conn, m.name, number)
                        raise _statement_error(m, number, st, f.error, _in_doubt_note(
                            m, number)) from None
                    _record_failure(conn, m, number, f.error, done, started_at, lock_wait)
                    raise _statement_error(m, number, st, f.error,
                                           _resume_note(number)) from None
                done = number
                if on_progress:
                    on_progress(m, number, total)
            with conn.transaction():  # both records, or neither
                tracking.finish(conn, m.name, total)
                if drizzle is not None:
                    _record_drizzle(conn, m, drizzle)
    except psycopg.Error as e:
        if conn.broken:
            if outside:
                note = (f"{done} of its {total} statements ran and are recorded (it runs "
                        f"without a transaction); statement {done + 1} runs outside any "
                        "transaction and may have completed on the server: the next "
                        "trimtab migrate checks the catalog (CREATE or DROP INDEX "
                        "CONCURRENTLY) or stops and says how to go on")
            else:
                note = (f"{done} of its {total} statements ran and are recorded (it runs "
                        f"without a transaction); a rerun resumes at statement {done + 1}")
            raise _lost(m, e, note) from None
        raise
    return MigrationRun(m.name, "applied", time.perf_counter() - started, total - first)


# Leading words of statements that run outside any transaction from the start: CALL and DO
# may COMMIT by themselves (a batched backfill), transaction control must act as written.
_OUTSIDE = frozenset({"CALL", "DO", "BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT",
                      "SAVEPOINT", "RELEASE", "PREPARE"})


def _run_with_record(conn: psycopg.Connection, m: Migration, number: int,
                     st: MigrationStatement) -> bool:
    """Run statement ``number`` in a transaction of its own that also records it as done:
    a run cut off at any point leaves both or neither. False, having run nothing, when the
    statement must run outside any transaction (PostgreSQL says so with SQLSTATE 25001
    before it does anything)."""
    word = st.text.split(None, 1)[0].upper().rstrip(";") if st.text.strip() else ""
    if word in _OUTSIDE:
        return False
    try:
        with conn.transaction():
            batch.run(conn, st, number - 1)
            if conn.info.transaction_status != TransactionStatus.INTRANS:
                raise _Failed(number, st, "the statement ended the transaction trimtab runs "
                              "it in (COMMIT or ROLLBACK in the file)", committed=True)
            tracking.progress(conn, m.name, number)
    except batch.StatementFailed as f:
        if f.error.sqlstate == "25001" and not conn.broken:  # active_sql_transaction
            return False  # (the transaction rolled back whatever of the chunk ran)
        raise
    return True


# -- a statement of unknown outcome -------------------------------------------------------------

_IDENT = r'(?:"(?:[^"]|"")+"|[^\s."(),;]+)'
_CREATE_INDEX = re.compile(
    rf"CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?({_IDENT})"
    rf"\s+ON\s+(?:ONLY\s+)?({_IDENT}(?:\.{_IDENT})?)", re.IGNORECASE)
_DROP_INDEX = re.compile(
    rf"DROP\s+INDEX\s+CONCURRENTLY\s+(?:IF\s+EXISTS\s+)?({_IDENT}(?:\.{_IDENT})?)"
    r"(?:\s+(?:CASCADE|RESTRICT))?\s*", re.IGNORECASE)


def _index_statement(st: MigrationStatement) -> tuple[str, str, str] | None:
    """("create", index name, table) or ("drop", index, "") for a statement whose effect
    the catalog shows; None for any other."""
    if (c := _CREATE_INDEX.match(st.text)) is not None:
        name = c.group(1)
        name = name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()
        return "create", name, c.group(2)
    if (d := _DROP_INDEX.fullmatch(st.text)) is not None:
        return "drop", d.group(1), ""
    return None


def _in_doubt(m: Migration, row: tracking.AppliedRow) -> _Problem | None:
    """The problem of a migration whose statement ran outside any transaction when its run
    was cut off, when the catalog cannot tell whether it took effect."""
    number = row.started_statement
    if number is None or not 0 < number <= len(m.statements):
        return None
    st = m.statements[number - 1]
    if _index_statement(st) is not None:
        return None  # settled from the catalog by the next run
    first_line = next((x.strip() for x in st.text.splitlines() if x.strip()), "")
    return _Problem(
        f"migration {m.name} stopped in statement {number} of {len(m.statements)} (line "
        f"{st.line}: {first_line[:80]}): the run was cut off (killed, interrupted or its "
        "connection lost) while the statement ran outside any transaction, so it may have "
        f"taken effect; {plural(row.statements_done, 'statement')} before it "
        f"{'is' if row.statements_done == 1 else 'are'} recorded as done; "
        "nothing was run", file=str(m.path), line=st.line,
        hint=f"check in the database whether statement {number} took effect; if it did, run "
             f"trimtab migrate --resume-after {number} (counts it as done, goes on with the "
             f"rest); if it did not, run trimtab migrate --resume-after {number - 1} (runs it "
             "again)")


def _in_doubt_note(m: Migration, number: int) -> str:
    return (f"the statement committed by itself, so trimtab cannot tell how much of it took "
            f"effect: it is recorded as in doubt; check the database, then run trimtab migrate "
            f"--resume-after {number} (it took effect) or --resume-after {number - 1} (run it "
            "again)")


def _settle(conn: psycopg.Connection, m: Migration, row: tracking.AppliedRow) -> int:
    """How many statements of ``m`` are done, once the statement an earlier run left in
    doubt (cut off) or failed is settled from the catalog: a concurrent index build that
    finished counts as done, an invalid index it left is dropped so that it runs again.
    Raises when the catalog cannot tell."""
    done = row.statements_done
    number = row.started_statement or row.failed_statement
    if number != done + 1 or number > len(m.statements):
        return done
    in_doubt = row.started_statement is not None
    index = _index_statement(m.statements[number - 1])
    if index is None:
        if in_doubt:
            _raise([_in_doubt(m, row)])  # type: ignore[list-item]
        return done
    kind, name, table = index
    if kind == "drop":
        found = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,),
                             prepare=False).fetchone()
        if in_doubt and not (found and found[0]):
            tracking.progress(conn, m.name, number)
            return number
        return done
    built = conn.execute(
        """SELECT i.indisvalid, format('%%I.%%I', n.nspname, c.relname)
           FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE i.indrelid = to_regclass(%s) AND c.relname = %s""",
        (table, name), prepare=False).fetchone()
    if built is None:
        return done
    valid, qualified = built
    if valid:
        if in_doubt:
            tracking.progress(conn, m.name, number)
            return number
        return done
    try:  # left invalid by the build that was cut off or failed: build it again
        conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {qualified}",
                     prepare=False)
    except psycopg.Error as e:
        if conn.broken:
            raise
        raise PlanError(
            f"migration {m.name}: cannot drop the invalid index {qualified} that an earlier "
            f"run of statement {number} left: {e.diag.message_primary or e}; nothing was run",
            file=str(m.path), line=m.statements[number - 1].line,
            hint=f"drop it by hand (DROP INDEX CONCURRENTLY {qualified}), then run trimtab "
                 "migrate again") from None
    return done


def _resume_note(number: int) -> str:
    if number == 1:
        return ("the migration runs without a transaction: none of its statements completed, "
                "a rerun starts at statement 1")
    return (f"the migration runs without a transaction: statements 1-{number - 1} ran and "
            f"are recorded, a rerun resumes at statement {number}")


def _record_failure(conn: psycopg.Connection, m: Migration, number: int,
                    error: psycopg.Error | str, done: int, started_at: object,
                    lock_wait: float) -> None:
    """Record the failure where everyone can see it; never let that hide the failure."""
    text = _pg_message(error)
    try:
        if conn.info.transaction_status == TransactionStatus.IDLE and m.transactional:
            with _transaction_lock(conn, lock_wait):
                tracking.fail(conn, m, statement=number, error=text, statements_done=done,
                              started_at=started_at)  # type: ignore[arg-type]
        else:  # without a transaction: we hold the session lock already
            tracking.fail(conn, m, statement=number, error=text, statements_done=done,
                          started_at=started_at)  # type: ignore[arg-type]
    except (psycopg.Error, DatabaseError):
        pass


def _pg_message(error: psycopg.Error | str) -> str:
    if isinstance(error, str):
        return error
    diag = error.diag
    text = diag.message_primary or str(error).strip()
    if diag.message_detail:
        text += f"\nDETAIL: {diag.message_detail}"
    if diag.message_hint:
        text += f"\nHINT: {diag.message_hint}"
    return text


def _statement_error(m: Migration, number: int, st: MigrationStatement,
                     error: psycopg.Error | str, outcome: str,
                     part: MigrationStatement | None = None, offset: int = 0) -> PlanError:
    """``part``: the statement of chunk ``st`` that failed, run alone. Without it, a chunk
    of several statements that ran as one query is placed by PostgreSQL's error position
    where there is one, else named as a whole. ``offset``: characters of the query sent
    before ``part`` (or ``st``), which PostgreSQL's error position counts."""
    shown = part or st
    line = shown.line
    several = ""
    hints = []
    if isinstance(error, str):
        message, detail = error, None
    else:
        diag = error.diag
        message = diag.message_primary or str(error).strip()
        detail = diag.message_detail
        pieces = batch.pieces(st) if part is None else ((0, part),)
        if diag.statement_position:  # characters from the start of the query, 1-based
            at = int(diag.statement_position) - 1 - offset
            start, shown = next(((o, p) for o, p in reversed(pieces) if o <= at), pieces[0])
            line = shown.line + shown.text[: at - start].count("\n")
        elif len(pieces) > 1:
            several = (f" (one of its {len(pieces)} statements, lines {pieces[0][1].line}-"
                       f"{pieces[-1][1].line}, sent together as one query)")
        if diag.message_hint:
            hints.append(diag.message_hint)
        hints.extend(_advice(m, shown, error))
    first_line = next((x.strip() for x in shown.text.splitlines() if x.strip()), "")
    if len(first_line) > 100:
        first_line = first_line[:97] + "..."
    text = (f"migration {m.name} failed at statement {number} of {len(m.statements)} "
            f"(line {shown.line}){several}: {message}")
    if detail:
        text += f"\n  detail: {detail}"
    text += f"\n  statement: {first_line}\n  {outcome}; later migrations did not run"
    return PlanError(text, file=str(m.path), line=line, hint="\n".join(hints) or None)


def _advice(m: Migration, st: MigrationStatement, error: psycopg.Error) -> list[str]:
    state = error.sqlstate
    upper = " ".join(st.text.upper().split())
    if state == "25001":  # active_sql_transaction: cannot run inside a transaction block
        if m.transactional:
            return ["statements such as CREATE INDEX CONCURRENTLY cannot run in a "
                    "transaction: put them in a migration of their own whose first line is "
                    "'-- trimtab:no-transaction'"]
        return ["separate such a statement from the others with '--> statement-breakpoint': "
                "several statements sent together run as one transaction"]
    if state == LOCK_NOT_AVAILABLE:
        return ["the statement gave up waiting for a lock (the migration's lock_timeout), "
                "after the retries: other sessions hold the table; run trimtab migrate again "
                "at a quieter time, or raise lock_timeout / lock_retries in the config"]
    if state == "55P04":  # unsafe_new_enum_value_usage
        return ["a new enum value cannot be used in the transaction that adds it: move "
                "ALTER TYPE ... ADD VALUE to an earlier migration"]
    concurrent = re.search(r"\bINDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?"
                           r"((?:\"[^\"]+\"|[\w$]+)(?:\.(?:\"[^\"]+\"|[\w$]+))?)",
                           st.text, re.IGNORECASE)
    if not m.transactional and concurrent and upper.startswith("CREATE"):
        if _index_statement(st) is not None:
            return ["a failed CREATE INDEX CONCURRENTLY leaves an invalid index behind: the "
                    f"next trimtab migrate drops {concurrent.group(1)} and builds it again"]
        return [f"a failed CREATE INDEX CONCURRENTLY leaves an invalid index behind: drop it "
                f"(DROP INDEX CONCURRENTLY IF EXISTS {concurrent.group(1)}) before the rerun"]
    return []


def _lost(m: Migration, error: psycopg.Error, outcome: str) -> DatabaseError:
    reason = (error.diag.message_primary or str(error).strip() or "connection closed")
    return DatabaseError(f"the connection was lost while migration {m.name} ran ({reason}); "
                         f"{outcome}", file=str(m.path),
                         hint="run trimtab migrate again")


# -- the advisory lock ------------------------------------------------------------------------

@contextmanager
def _transaction_lock(conn: psycopg.Connection, wait: float) -> Iterator[None]:
    """A transaction that holds the runner's lock; it commits when the block ends, rolls
    back when it raises. Polls between transactions: see the module's note on snapshots."""
    waiter = _Waiter(conn, wait)
    while True:
        with conn.transaction():
            if _try(conn, "pg_try_advisory_xact_lock"):
                yield
                return
        waiter.pause()


@contextmanager
def _session_lock(conn: psycopg.Connection, wait: float) -> Iterator[None]:
    waiter = _Waiter(conn, wait)
    while not _try(conn, "pg_try_advisory_lock"):
        waiter.pause()
    try:
        yield
    finally:
        if not conn.broken and not conn.closed:
            try:
                if conn.info.transaction_status != TransactionStatus.IDLE:
                    conn.rollback()
                conn.execute("SELECT pg_advisory_unlock(%s)", (_lock_key(),), prepare=False)
            except psycopg.Error:
                pass  # the lock goes with the session


def _lock_key() -> int:
    """The lock of this database's (or this tenant schema's) tracking table."""
    return LOCK_KEY ^ tracking.lock_salt()


def _try(conn: psycopg.Connection, function: str) -> bool:
    row = conn.execute(f"SELECT {function}(%s)", (_lock_key(),),
                       prepare=False).fetchone()
    return bool(row and row[0])


_HOLDER = """
SELECT l.pid, a.state, a.application_name, a.usename,
       extract(epoch FROM now() - a.state_change)::float8
FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid
LIMIT 1"""


def _holder(conn: psycopg.Connection) -> tuple | None:
    """(pid, state, application_name, user, seconds in that state) of the session holding
    the runner's lock, or None."""
    key = _lock_key() & 0xFFFFFFFFFFFFFFFF
    return conn.execute(_HOLDER, (key >> 32, key & 0xFFFFFFFF),
                        prepare=False).fetchone()


class _Waiter:
    """Sleeps between tries; gives up after ``wait`` seconds during which the holder ran no
    statement (a runner applying a long migration is waited for, a stuck one is named)."""

    def __init__(self, conn: psycopg.Connection, wait: float) -> None:
        self.conn = conn
        self.wait = wait
        self.deadline = time.monotonic() + wait
        self.delay = 0.02

    def pause(self) -> None:
        holder = _holder(self.conn)
        now = time.monotonic()
        if holder is not None and holder[1] == "active":
            self.deadline = now + self.wait
        elif now >= self.deadline:
            if holder is None:
                who = "another session"
            else:
                pid, state, app, user, idle = holder
                who = (f"backend pid {pid} ({app or 'no application_name'}, user {user}, "
                       f"{state or 'unknown state'} for {idle or 0:.0f} s)")
            raise DatabaseError(
                f"waited {self.wait:.0f} s for the migration lock: {who} holds it and runs "
                "no statement",
                hint=f"if that session is stuck, end it with SELECT pg_terminate_backend("
                     f"{holder[0] if holder else '<pid>'}) and run trimtab migrate again")
        time.sleep(self.delay)
        self.delay = min(self.delay * 2, 0.5)


# -- down ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DownUnit:
    """What one down file undoes: one migration, or a set of online phase files."""

    migrations: tuple[Migration, ...]  # in journal order
    down: Down


def down_units(conn: psycopg.Connection, folder: Folder, *, to: str | None = None,
               steps: int | None = None,
               drizzle_table: tracking.DrizzleTable = tracking.DRIZZLE) -> list[DownUnit]:
    """The applied migrations to undo, newest first, each with its down file: the last
    ``steps`` (default 1; a set of phase files with one down file counts once), or all
    applied after ``to``. Reads only. Everything is checked before anything runs: a
    migration without a down file (hand-written), a set only partly applied, ``to`` not
    applied or inside a set, raise PlanError naming it."""
    if to is not None and steps is not None:
        raise ConfigError("--to and --steps cannot be combined", hint="pass one of them")
    if steps is not None and steps < 1:
        raise ConfigError("--steps must be 1 or more")
    _raise(_listing(folder))
    state = _state(conn, folder, True, drizzle_table, locked=False)
    _raise(state.problems)
    applied = [m for m in folder.migrations if m.name in state.applied]
    names = [m.name for m in applied]
    if to is not None and to not in names:
        known = ", ".join(names[-5:]) or "none"
        raise PlanError(f"--to {to}: no applied migration has that name",
                        hint=f"name an applied migration to keep (the last ones: {known})")
    units: list[DownUnit] = []
    while applied and (to is None or applied[-1].name != to) and (
            to is not None or len(units) < (steps or 1)):
        m = applied[-1]
        down = read_down(folder.path, m)
        if down is None:
            raise PlanError(_no_down(folder, m), file=str(m.path),
                            hint=f"write its reverse in {down_path(folder.path, m.tag)} (it "
                            "then counts as hand-written: its data loss is not measured), or "
                            "restore the database from a backup; nothing was undone")
        tags = list(down.reverts)
        if tags[-1] != m.tag or [a.name for a in applied[-len(tags):]] != tags:
            raise PlanError(
                f"{down.path.name} undoes {', '.join(tags)} together, but the applied "
                f"migrations end with {', '.join(names[-len(tags):])}; nothing was undone",
                file=str(down.path), hint="apply the whole set first (trimtab migrate), or "
                "undo by hand")
        if to is not None and to in tags[:-1]:
            raise PlanError(f"--to {to}: it is a phase of {', '.join(tags)}, whose one down "
                            f"file undoes them all; nothing was undone",
                            hint=f"go to the migration before {tags[0]}, or keep {tags[-1]}")
        units.append(DownUnit(tuple(applied[-len(tags):]), down))
        del applied[-len(tags):]
    return units


def _no_down(folder: Folder, m: Migration) -> str:
    for later in folder.migrations[folder.migrations.index(m) + 1:]:
        down = read_down(folder.path, later)
        if down is not None and m.tag in down.reverts:
            return (f"{m.name} is a phase of {', '.join(down.reverts)}: their one down file "
                    f"{down.path.name} undoes the whole set, which is not all applied")
    return f"{m.name} has no down file ({DOWN_DIR}/{m.tag}{DOWN_SUFFIX}): trimtab does not guess "\
        "the reverse of a hand-written migration"


def revert(url: str, folder: Folder, units: list[DownUnit], *,
           lock_wait: float = LOCK_WAIT,
           drizzle_table: tracking.DrizzleTable = tracking.DRIZZLE) -> list[MigrationRun]:
    """Run each unit's down file, newest first; each in one transaction with the removal
    of its migrations' rows (trimtab's and drizzle's), so a failed down leaves them applied.
    A down file marked no-transaction runs statement by statement, then its rows go."""
    runs: list[MigrationRun] = []
    with _connect(url) as conn:
        for unit in units:
            started = time.perf_counter()
            names = [m.name for m in unit.migrations]
            if unit.down.transactional:
                with _transaction_lock(conn, lock_wait):
                    _still_applied(conn, folder, unit, drizzle_table)
                    _run_down(conn, unit)
                    _forget(conn, unit, drizzle_table)
            else:
                with _session_lock(conn, lock_wait):
                    _still_applied(conn, folder, unit, drizzle_table)
                    _run_down(conn, unit)
                    with conn.transaction():
                        _forget(conn, unit, drizzle_table)
            runs.append(MigrationRun(", ".join(names), "reverted", time.perf_counter() - started,
                                     len(unit.down.statements)))
    return runs


def _still_applied(conn: psycopg.Connection, folder: Folder, unit: DownUnit,
                   drizzle_table: tracking.DrizzleTable) -> None:
    applied = _state(conn, folder, True, drizzle_table).applied
    missing = [m.name for m in unit.migrations if m.name not in applied]
    if missing:
        raise PlanError(f"{', '.join(missing)} is no longer applied (another run undid it?); "
                        f"{unit.down.path.name} was not run")


def _run_down(conn: psycopg.Connection, unit: DownUnit) -> None:
    try:
        batch.execute(conn, unit.down.statements, 0, lambda done: None)
    except batch.StatementFailed as f:
        m = unit.migrations[-1]
        outcome = (f"{unit.down.path.name} was rolled back; {m.name} stays applied"
                   if unit.down.transactional else
                   f"{unit.down.path.name} runs without a transaction: statements before it "
                   f"were committed; {m.name} stays recorded as applied")
        raise PlanError(
            f"{unit.down.path}:{f.statement.line}: statement {f.index + 1} failed: "
            f"{_pg_message(f.error)}; {outcome}",
            file=str(unit.down.path), line=f.statement.line) from None


def _forget(conn: psycopg.Connection, unit: DownUnit,
            drizzle_table: tracking.DrizzleTable) -> None:
    for m in unit.migrations:
        tracking.unrecord(conn, m, drizzle_table)
