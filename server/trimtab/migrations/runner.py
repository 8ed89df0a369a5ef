"""``trimtab migrate``: apply the pending migrations of a folder, each exactly once.

- Applied migrations are matched by name and checksum, never by timestamp. An applied file
  that changed, an applied migration with no file, and a pending migration older than an
  applied one (unless allowed) stop the run before anything runs.
- Each migration runs in its own transaction, which first takes a transaction-level advisory
  lock and re-reads the tracking table: a migration another runner applied meanwhile is
  skipped. The lock ends with the transaction, so nothing leaks behind a transaction pooler.
- A migration marked ``-- trimtab:no-transaction`` runs statement by statement in
  autocommit under a session-level advisory lock, recording each finished statement; a rerun
  resumes after the last one. Session locks do not survive a transaction pooler: such
  migrations need a direct connection (DIRECT_DATABASE_URL).
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
from trimtab.migrations.folder import Folder, Migration, MigrationStatement
from trimtab.sources import shadow

# pg_advisory_*lock(bigint) key: the first 8 bytes of sha256("trimtab migrate"). Advisory
# locks are per database, so runners on other databases of the same server never wait.
LOCK_KEY = -2794430464811502044
LOCK_WAIT = 60.0  # seconds without the lock holder running a statement before giving up
APPLICATION_NAME = "trimtab migrate"

Progress = Callable[[Migration, int, int], None]


@dataclass(frozen=True)
class MigrationRun:
    name: str
    status: str  # "applied" | "skipped" (another runner applied it) | "marked" | "would apply"
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

    @property
    def applied(self) -> tuple[MigrationRun, ...]:
        return tuple(r for r in self.runs if r.status == "applied")


@dataclass(frozen=True)
class _Problem:
    message: str
    file: str | None = None
    hint: str | None = None


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
    (edited or missing applied migrations, pending ones older than an applied one).

    Reads only: creates nothing, copies nothing from drizzle-kit's history.
    """
    state = _state(conn, folder, allow_out_of_order, drizzle_table)
    return list(state.pending), [_text(p) for p in state.problems]


def _state(conn: psycopg.Connection, folder: Folder, allow_out_of_order: bool,
           drizzle_table: tracking.DrizzleTable) -> _State:
    rows = tracking.read(conn)
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
                         f"row: DELETE FROM {tracking.QUALIFIED} WHERE name = '{row.name}'"))
            elif row.statements_done:
                problems.append(_Problem(
                    f"migration {row.name} ran {row.statements_done} statement(s) without a "
                    f"transaction before it failed, and has no file in {folder.path}",
                    hint=f"restore {row.name}.sql, or undo those statements by hand and "
                         f"DELETE FROM {tracking.QUALIFIED} WHERE name = '{row.name}'"))
        elif row.applied and row.checksum != m.checksum:
            problems.append(_edited(m, row.checksum, "it was applied"))
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
        newest = max((by_name[n] for n in applied), key=lambda m: m.idx)
        problems.extend(_out_of_order(m, newest) for m in todo if m.idx < newest.idx)
    return _State(rows, history, applied, todo, tuple(problems))


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


def _raise(problems: tuple[_Problem, ...]) -> None:
    if not problems:
        return
    if len(problems) == 1:
        p = problems[0]
        raise PlanError(p.message, file=p.file, hint=p.hint)
    raise PlanError(
        f"{len(problems)} problems, nothing was run:\n"
        + "".join(f"  - {(p.file + ': ') if p.file else ''}{_text(p)}\n" for p in problems))


# -- migrate ----------------------------------------------------------------------------------

def migrate(url: str, folder: Folder, *, dry_run: bool = False,
            allow_out_of_order: bool = False, mark_applied: str | None = None,
            on_progress: Progress | None = None, lock_wait: float = LOCK_WAIT,
            drizzle: bool | None = None,
            drizzle_table: tracking.DrizzleTable = tracking.DRIZZLE) -> MigrateResult:
    """Apply the folder's pending migrations to the database at ``url``, in order.

    ``dry_run``: say what would run, change nothing (not even create the tracking table).
    ``mark_applied``: record that one migration as applied without running it, and nothing
    else. ``on_progress(migration, statements_done, statements_total)`` is called with 0
    before a migration's first statement and after each statement (or group of statements
    sent together, see ``batch``). ``lock_wait``: how long to wait for another runner's
    lock while that runner is not running a statement.
    ``drizzle``: whether to keep drizzle's table (``drizzle_table``) too; None decides as
    the module says (a Drizzle project).
    """
    if dry_run and mark_applied is not None:
        raise ConfigError("--dry-run and --mark-applied cannot be combined",
                          hint="run --mark-applied alone: it runs no statement")
    by_name = {m.name: m for m in folder.migrations}
    if mark_applied is not None and mark_applied not in by_name:
        known = ", ".join(m.name for m in folder.migrations[-5:]) or "none"
        raise PlanError(f"no migration named {mark_applied} in {folder.path}",
                        hint=f"name one of the folder's migrations (the last ones: {known})")
    with _connect(url) as conn:
        if dry_run:
            state = _state(conn, folder, allow_out_of_order, drizzle_table)
            _raise(state.problems)
            return MigrateResult(
                tuple(MigrationRun(m.name, "would apply", 0.0, len(m.statements))
                      for m in state.pending), len(state.applied))
        if mark_applied is not None:
            return _mark(conn, folder, by_name[mark_applied], lock_wait, drizzle,
                         drizzle_table)
        state, keep, backfilled = _setup(conn, folder, allow_out_of_order, lock_wait,
                                         drizzle, drizzle_table)
        also = drizzle_table if keep else None
        runs = []
        for m in state.pending:
            if m.transactional:
                runs.append(_run_in_transaction(conn, folder, m, allow_out_of_order,
                                                on_progress, lock_wait, also))
            else:
                runs.append(_run_without_transaction(conn, folder, m, allow_out_of_order,
                                                     on_progress, lock_wait, also))
        return MigrateResult(tuple(runs), len(state.applied), str(also) if also else None,
                             tuple(backfilled))


def _connect(url: str) -> psycopg.Connection:
    conn = shadow.connect(url, autocommit=True)
    conn.execute(f"SET application_name = '{APPLICATION_NAME}'", prepare=False)  # type: ignore[arg-type]
    return conn


def _setup(conn: psycopg.Connection, folder: Folder, allow_out_of_order: bool,
           lock_wait: float, drizzle: bool | None, drizzle_table: tracking.DrizzleTable,
           ) -> tuple[_State, bool, list[str]]:
    """Create the tracking table, check the folder against it, copy drizzle-kit's history;
    in a Drizzle project, create drizzle's table and record there what it lacks. A problem
    rolls all of it back. Returns (state, whether drizzle's table is kept, names recorded
    there now)."""
    with _transaction_lock(conn, lock_wait):
        try:
            tracking.ensure(conn)
        except psycopg.Error as e:
            raise DatabaseError(
                f"cannot create the tracking table {tracking.QUALIFIED}: "
                f"{e.diag.message_primary or e}",
                hint=f"let this role create schemas, or have an owner create {tracking.SCHEMA} "
                     "once (run trimtab migrate as that role)") from None
        state = _state(conn, folder, allow_out_of_order, drizzle_table)
        _raise(state.problems)
        tracking.import_drizzle(conn, folder, state.drizzle, drizzle_table)
        keep, backfilled = _keep_drizzle(conn, folder, drizzle, drizzle_table)
        return state, keep, backfilled


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
             allow_out_of_order: bool) -> tuple[bool, int]:
    """Under the lock: (whether another runner applied ``m`` meanwhile, statements an
    earlier run without a transaction finished). Raises when the state changed into a
    problem."""
    rows = tracking.read(conn)
    row = rows.get(m.name)
    if row is not None and row.applied:
        if row.checksum == m.checksum:
            return True, 0
        p = _edited(m, row.checksum, "another runner applied it")
        raise PlanError(p.message, file=p.file, hint=p.hint)
    if not allow_out_of_order:
        by_name = {x.name: x for x in folder.migrations}
        later = [by_name[n] for n, r in rows.items()
                 if r.applied and n in by_name and by_name[n].idx > m.idx]
        if later:
            p = _out_of_order(m, max(later, key=lambda x: x.idx))
            raise PlanError(p.message, file=p.file, hint=p.hint)
    return False, row.statements_done if row is not None else 0


class _Failed(Exception):
    """A statement of a migration failed (raised inside its transaction to roll it back)."""

    def __init__(self, number: int, statement: MigrationStatement, error: psycopg.Error | str,
                 committed: bool = False):
        super().__init__(str(error))
        self.number = number
        self.statement = statement
        self.error = error
        self.committed = committed  # the file's own COMMIT ended the transaction


_ENDED = ("the statement ended the migration's transaction (COMMIT, ROLLBACK or END in the "
          "file); trimtab runs each migration in a transaction of its own")


def _run_in_transaction(conn: psycopg.Connection, folder: Folder, m: Migration,
                        allow_out_of_order: bool, on_progress: Progress | None,
                        lock_wait: float, drizzle: tracking.DrizzleTable | None,
                        ) -> MigrationRun:
    started = time.perf_counter()
    total = len(m.statements)
    started_at = None
    first = 0
    try:
        with _transaction_lock(conn, lock_wait):
            skip, first = _recheck(conn, folder, m, allow_out_of_order)
            if skip:
                return MigrationRun(m.name, "skipped", time.perf_counter() - started, 0)
            # first > 0 only after a run of this file without a transaction stopped half way.
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
                raise _Failed(f.index + 1, f.statement, f.error) from None
            tracking.finish(conn, m.name, total)
            if drizzle is not None:
                _record_drizzle(conn, m, drizzle)
    except _Failed as f:
        if f.committed:
            outcome = (f"statements 1-{f.number} were committed (or rolled back) by the file "
                       "itself, so the migration is not recorded as applied: remove the "
                       "transaction control from the file, check what the database has, "
                       f"then rerun or use trimtab migrate --mark-applied {m.name}")
        else:
            outcome = "the migration was rolled back and is not recorded as applied"
        _record_failure(conn, m, f.number, f.error, first, started_at, lock_wait)
        raise _statement_error(m, f.number, f.statement, f.error, outcome) from None
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
    try:
        with _session_lock(conn, lock_wait):
            skip, done = _recheck(conn, folder, m, allow_out_of_order)
            if skip:
                return MigrationRun(m.name, "skipped", time.perf_counter() - started, 0)
            first = done
            started_at = tracking.start(conn, m, first)
            if on_progress:
                on_progress(m, first, total)
            for number in range(first + 1, total + 1):
                st = m.statements[number - 1]
                try:
                    conn.execute(st.text.encode(), prepare=False)  # type: ignore[arg-type]
                    if conn.info.transaction_status != TransactionStatus.IDLE:
                        conn.rollback()
                        raise _Failed(number, st, "the statement left a transaction open "
                                      "(BEGIN without COMMIT in a migration that runs "
                                      "without one); it was rolled back")
                except psycopg.Error as e:
                    if conn.broken:
                        raise
                    _record_failure(conn, m, number, e, done, started_at, lock_wait)
                    raise _statement_error(m, number, st, e, _resume_note(number)) from None
                except _Failed as f:
                    _record_failure(conn, m, number, f.error, done, started_at, lock_wait)
                    raise _statement_error(m, number, st, f.error,
                                           _resume_note(number)) from None
                tracking.progress(conn, m.name, number)
                done = number
                if on_progress:
                    on_progress(m, number, total)
            with conn.transaction():  # both records, or neither
                tracking.finish(conn, m.name, total)
                if drizzle is not None:
                    _record_drizzle(conn, m, drizzle)
    except psycopg.Error as e:
        if conn.broken:
            raise _lost(m, e, f"{done} of its {total} statements ran and are recorded (it "
                        "runs without a transaction); a rerun resumes at statement "
                        f"{done + 1}") from None
        raise
    return MigrationRun(m.name, "applied", time.perf_counter() - started, total - first)


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
                     error: psycopg.Error | str, outcome: str) -> PlanError:
    line = st.line
    hints = []
    if isinstance(error, str):
        message, detail = error, None
    else:
        diag = error.diag
        message = diag.message_primary or str(error).strip()
        detail = diag.message_detail
        if diag.statement_position:  # characters from the start of the statement, 1-based
            line = st.line + st.text[: int(diag.statement_position) - 1].count("\n")
        if diag.message_hint:
            hints.append(diag.message_hint)
        hints.extend(_advice(m, st, error))
    first_line = next((x.strip() for x in st.text.splitlines() if x.strip()), "")
    if len(first_line) > 100:
        first_line = first_line[:97] + "..."
    text = (f"migration {m.name} failed at statement {number} of {len(m.statements)} "
            f"(line {st.line}): {message}")
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
    if state == "55P04":  # unsafe_new_enum_value_usage
        return ["a new enum value cannot be used in the transaction that adds it: move "
                "ALTER TYPE ... ADD VALUE to an earlier migration"]
    concurrent = re.search(r"\bINDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?"
                           r"((?:\"[^\"]+\"|[\w$]+)(?:\.(?:\"[^\"]+\"|[\w$]+))?)",
                           st.text, re.IGNORECASE)
    if not m.transactional and concurrent and upper.startswith("CREATE"):
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
                conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,), prepare=False)
            except psycopg.Error:
                pass  # the lock goes with the session


def _try(conn: psycopg.Connection, function: str) -> bool:
    row = conn.execute(f"SELECT {function}(%s)", (LOCK_KEY,),  # type: ignore[arg-type]
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


class _Waiter:
    """Sleeps between tries; gives up after ``wait`` seconds during which the holder ran no
    statement (a runner applying a long migration is waited for, a stuck one is named)."""

    def __init__(self, conn: psycopg.Connection, wait: float) -> None:
        self.conn = conn
        self.wait = wait
        self.deadline = time.monotonic() + wait
        self.delay = 0.02

    def pause(self) -> None:
        key = LOCK_KEY & 0xFFFFFFFFFFFFFFFF
        holder = self.conn.execute(_HOLDER, (key >> 32, key & 0xFFFFFFFF),  # type: ignore[arg-type]
                                   prepare=False).fetchone()
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
