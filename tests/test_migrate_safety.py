"""trimtab migrate cut off half way, and folders that a merge left ambiguous: a real
PostgreSQL, the real console script as a subprocess, killed (SIGKILL) or interrupted (SIGINT)
while a statement waits on a lock this test holds.

The moment to strike is awaited in pg_stat_activity (the runner's backend waiting on a lock),
never guessed with a sleep: the statement cannot finish until the test lets it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from tests.test_cli_push import TRIMTAB, run
from tests.test_migrate import add, tracking_rows
from trimtab.errors import ConfigError, PlanError
from trimtab.migrations.folder import read_folder
from trimtab.migrations.runner import APPLICATION_NAME, migrate, pending


def start_migrate(project: Path, db_url: str, *args: str) -> subprocess.Popen[str]:
    environ = {k: v for k, v in os.environ.items()
               if k not in ("DATABASE_URL", "DIRECT_DATABASE_URL")}
    # Ctrl+C as from a terminal: SIGINT at its default in the child even when this run
    # inherited it ignored (a background job of a shell without job control, as in CI).
    return subprocess.Popen([TRIMTAB, "migrate", "--url", db_url, *args], cwd=project,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=environ, stdin=subprocess.DEVNULL, preexec_fn=_default_sigint)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def holding(db_url: str, lock: str) -> Iterator[psycopg.Connection]:
    """An open transaction of the test that holds ``lock`` (a LOCK TABLE statement, or any
    statement that takes locks) until the block ends, then rolls back."""
    with psycopg.connect(db_url) as conn:
        conn.execute(lock)  # type: ignore[arg-type]
        try:
            yield conn
        finally:
            conn.rollback()


def blocked_backend(sql, needle: str, proc: subprocess.Popen[str],
                    timeout: float = 30.0) -> int:
    """The pid of trimtab migrate's backend once it waits on a lock while running a statement
    that contains ``needle`` (the statement cannot end before the test releases the lock).
    The deadline only bounds a broken run; it is no timing assumption."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = sql("SELECT pid FROM pg_stat_activity WHERE application_name = %s "
                   "AND state = 'active' AND wait_event_type = 'Lock' AND query LIKE %s",
                   (APPLICATION_NAME, f"%{needle}%"))
        if rows:
            return rows[0][0]
        if proc.poll() is not None:
            out, errout = proc.communicate()
            raise AssertionError(f"trimtab migrate ended first: {out}{errout}")
        time.sleep(0.01)
    raise AssertionError(f"no trimtab migrate backend waited on a lock running {needle!r}")


@contextmanager
def migrate_waiting_at(project: Path, db_url: str, sql, needle: str
                       ) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``trimtab migrate`` started while the test holds the gate, once it waits there in
    the statement that contains ``needle``: (its process, its backend's pid). The gate
    opens when the block ends."""
    with holding(db_url, GATE):
        proc = start_migrate(project, db_url)
        yield proc, blocked_backend(sql, needle, proc)


def kill_9(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def project_with(project: Path) -> Path:
    (project / "schema.sql").write_text("")
    return project / "migrations"


def apply_first(db_url: str, folder: Path) -> None:
    f = read_folder(folder)
    migrate(db_url, dataclasses.replace(f, migrations=f.migrations[:1]))


# A statement that reads ``gate`` waits while the test holds this lock (in an open
# transaction); the tables the statements write stay free.
GATE = "LOCK TABLE gate IN ACCESS EXCLUSIVE MODE"
SETUP = ("CREATE TABLE t (id int)", "CREATE TABLE gate (id int)", "INSERT INTO gate VALUES (1)")


# -- killed (SIGKILL) during a migration without a transaction ------------------------------

def test_a_killed_statement_that_committed_is_not_run_again(project, db_url, sql):
    folder = project_with(project)
    add(folder, "setup", *SETUP)
    m = add(folder, "fill", "INSERT INTO t VALUES (1)", "INSERT INTO t SELECT 2 FROM gate",
            "INSERT INTO t VALUES (3)", transactional=False)
    apply_first(db_url, folder)

    with migrate_waiting_at(project, db_url, sql, "SELECT 2 FROM gate") as (proc, _):
        kill_9(proc)
    # Released: whatever the killed run's backend still does, it does now. The rerun waits
    # for that backend (it holds the runner's lock) and must neither lose nor repeat a row.
    again = run(project, "migrate", "--url", db_url)
    assert again.returncode == 0, again.stderr
    assert sql("SELECT id, count(*) FROM t GROUP BY id ORDER BY id") == [(1, 1), (2, 1), (3, 1)]
    row = tracking_rows(sql)[m.name]
    assert row["finished_at"] is not None and row["statements_done"] == 3


def test_a_killed_concurrent_index_build_that_finished_counts_as_done(project, db_url, sql):
    folder = project_with(project)
    add(folder, "setup", "CREATE TABLE t (id int)", "INSERT INTO t VALUES (1), (2)")
    m = add(folder, "index", "CREATE INDEX CONCURRENTLY t_id ON t (id)",
            "CREATE TABLE after_index (id int)", transactional=False)
    apply_first(db_url, folder)

    with holding(db_url, "LOCK TABLE t IN SHARE UPDATE EXCLUSIVE MODE"):
        proc = start_migrate(project, db_url)
        blocked_backend(sql, "CONCURRENTLY", proc)
        kill_9(proc)
    again = run(project, "migrate", "--url", db_url)
    assert again.returncode == 0, again.stderr
    assert sql("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_id'::regclass") == [
        (True,)]
    assert sql("SELECT to_regclass('after_index') IS NOT NULL") == [(True,)]
    assert tracking_rows(sql)[m.name]["finished_at"] is not None


def test_an_invalid_index_left_by_a_cut_off_build_is_dropped_and_rebuilt(
        project, db_url, sql):
    folder = project_with(project)
    add(folder, "setup", "CREATE TABLE t (id int)", "INSERT INTO t VALUES (1), (2)")
    m = add(folder, "index", 'CREATE UNIQUE INDEX CONCURRENTLY "T id" ON public.t (id)',
            transactional=False)
    apply_first(db_url, folder)

    # An open writer: the build has created its (invalid) index and waits for this
    # transaction to end. Then the process is killed and its backend dies with it (a
    # server restart, a dropped connection): the invalid index stays.
    with holding(db_url, "INSERT INTO t VALUES (3)"):
        proc = start_migrate(project, db_url)
        pid = blocked_backend(sql, "CONCURRENTLY", proc)
        kill_9(proc)
        assert sql("SELECT pg_terminate_backend(%s)", (pid,)) == [(True,)]
        assert sql("""SELECT indisvalid FROM pg_index WHERE indexrelid = '"T id"'::regclass""") \
            == [(False,)]
    again = run(project, "migrate", "--url", db_url)
    assert again.returncode == 0, again.stderr
    assert sql("""SELECT indisvalid FROM pg_index WHERE indexrelid = '"T id"'::regclass""") == [
        (True,)]
    assert tracking_rows(sql)[m.name]["finished_at"] is not None


def test_a_failed_concurrent_index_build_is_rebuilt_once_the_data_is_fixed(
        tmp_path, db_url, sql):
    folder = tmp_path / "migrations"
    add(folder, "setup", "CREATE TABLE t (id int)", "INSERT INTO t VALUES (1), (1)")
    m = add(folder, "index", "CREATE UNIQUE INDEX CONCURRENTLY t_id ON t (id)",
            transactional=False)
    with pytest.raises(PlanError) as info:
        migrate(db_url, read_folder(folder))
    assert "could not create unique index" in str(info.value)
    assert sql("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_id'::regclass") == [
        (False,)]
    sql("DELETE FROM t WHERE ctid = (SELECT max(ctid) FROM t)")

    result = migrate(db_url, read_folder(folder))
    assert [(r.name, r.status) for r in result.runs] == [(m.name, "applied")]
    assert sql("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_id'::regclass") == [
        (True,)]


def test_a_killed_statement_of_unknown_outcome_is_refused_until_resolved(
        project, db_url, sql):
    folder = project_with(project)
    add(folder, "setup", *SETUP)
    # A DO block may commit by itself: it runs outside any transaction, so when its run is
    # cut off nobody can tell from the tracking table whether it took effect.
    m = add(folder, "backfill", "INSERT INTO t VALUES (1)",
            "DO $$ BEGIN INSERT INTO t SELECT 2 FROM gate; END $$",
            "INSERT INTO t VALUES (3)", transactional=False)
    apply_first(db_url, folder)

    with migrate_waiting_at(project, db_url, sql, "SELECT 2 FROM gate") as (proc, _):
        kill_9(proc)

    refused = run(project, "migrate", "--url", db_url)
    assert refused.returncode == 1
    text = refused.stderr
    assert m.name in text and "statement 2 of 3" in text and f"{m.name}.sql:4:" in text
    assert "trimtab migrate --resume-after 2" in text and "--resume-after 1" in text
    assert sql("SELECT id FROM t ORDER BY id") == [(1,), (2,)]  # nothing ran again
    status = run(project, "status", "--url", db_url)
    assert status.returncode == 1 and "--resume-after" in status.stdout

    wrong = run(project, "migrate", "--url", db_url, "--resume-after", "3")
    assert wrong.returncode == 1 and "statement 2" in wrong.stderr
    resumed = run(project, "migrate", "--url", db_url, "--resume-after", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert sql("SELECT id FROM t ORDER BY id") == [(1,), (2,), (3,)]
    row = tracking_rows(sql)[m.name]
    assert row["finished_at"] is not None and row["statements_done"] == 3


def test_resume_after_the_previous_statement_runs_it_again(project, db_url, sql):
    folder = project_with(project)
    add(folder, "setup", *SETUP)
    add(folder, "backfill", "DO $$ BEGIN INSERT INTO t SELECT 1 FROM gate; END $$",
        transactional=False)
    apply_first(db_url, folder)
    # Cut off before the statement could take effect: its backend dies with the process.
    with migrate_waiting_at(project, db_url, sql, "SELECT 1 FROM gate") as (proc, pid):
        kill_9(proc)
        assert sql("SELECT pg_terminate_backend(%s)", (pid,)) == [(True,)]
    assert run(project, "migrate", "--url", db_url).returncode == 1
    again = run(project, "migrate", "--url", db_url, "--resume-after", "0")
    assert again.returncode == 0, again.stderr
    assert sql("SELECT id FROM t") == [(1,)]


def test_resume_after_without_a_migration_stopped_half_way_is_an_error(project, db_url):
    folder = project_with(project)
    add(folder, "setup", "CREATE TABLE t (id int)")
    r = run(project, "migrate", "--url", db_url, "--resume-after", "1")
    assert r.returncode == 1
    assert "no migration stopped half way" in r.stderr
    assert run(project, "migrate", "--url", db_url).returncode == 0


# -- Ctrl+C (SIGINT) -------------------------------------------------------------------------

def test_ctrl_c_says_exactly_what_was_applied(project, db_url, sql):
    folder = project_with(project)
    sql("CREATE TABLE gate (id int); INSERT INTO gate VALUES (1)")
    add(folder, "t", "CREATE TABLE t (id int)")
    for n in range(1, 10):
        add(folder, f"step {n}", f"INSERT INTO t VALUES ({n})")
    stuck = add(folder, "stuck", "INSERT INTO t VALUES (10)", "INSERT INTO t SELECT 11 FROM gate")
    later = add(folder, "later", "INSERT INTO t VALUES (12)")
    names = [m.name for m in read_folder(folder).migrations]

    with migrate_waiting_at(project, db_url, sql, "SELECT 11 FROM gate") as (proc, _):
        proc.send_signal(signal.SIGINT)
        out, errout = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + errout
    assert "nothing was applied" not in errout
    assert "interrupted: 10 migrations applied by this run: " + ", ".join(names[:10]) in errout
    assert f"{stuck.name}: interrupted and rolled back, not applied" in errout
    assert f"not run: {later.name}" in errout
    assert [n for n, r in tracking_rows(sql).items() if r["finished_at"]] == names[:10]
    assert sql("SELECT count(*) FROM t") == [(9,)]


def test_ctrl_c_in_a_migration_without_a_transaction_says_which_statements_ran(
        project, db_url, sql):
    folder = project_with(project)
    add(folder, "setup", *SETUP)
    m = add(folder, "steps", "INSERT INTO t VALUES (1)", "INSERT INTO t SELECT 2 FROM gate",
            "INSERT INTO t VALUES (3)", transactional=False)
    apply_first(db_url, folder)
    with migrate_waiting_at(project, db_url, sql, "SELECT 2 FROM gate") as (proc, _):
        proc.send_signal(signal.SIGINT)
        out, errout = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + errout
    assert "interrupted: no migration was applied by this run" in errout
    assert (f"{m.name}: statements 1-1 of 3 ran and are recorded (it runs without a "
            "transaction); statement 2 was interrupted and rolled back; a rerun resumes at "
            "statement 2") in errout
    assert tracking_rows(sql)[m.name]["statements_done"] == 1
    again = run(project, "migrate", "--url", db_url)
    assert again.returncode == 0, again.stderr
    assert sql("SELECT id FROM t ORDER BY id") == [(1,), (2,), (3,)]


@contextmanager
def sigint_ignored() -> Iterator[None]:
    """This process ignores SIGINT, as a test run started in the background by a shell
    without job control does (`.ci/run &`, nohup, a CI runner): children inherit SIG_IGN."""
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def test_ctrl_c_reaches_migrate_when_the_test_run_ignores_sigint(project, db_url, sql):
    # The two tests above hung 30 s in CI and only there: CI ran the suite as a background
    # job, so SIGINT was ignored in pytest and in the `trimtab migrate` it starts, and a
    # process that inherits an ignored SIGINT keeps ignoring it (Python does, as a shell's
    # background job should). start_migrate gives the child the terminal's default instead.
    folder = project_with(project)
    add(folder, "setup", *SETUP)
    add(folder, "stuck", "INSERT INTO t SELECT 1 FROM gate")
    apply_first(db_url, folder)
    with sigint_ignored(), migrate_waiting_at(project, db_url, sql, "SELECT 1 FROM gate") as (
            proc, _):
        proc.send_signal(signal.SIGINT)
        try:
            out, errout = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise AssertionError("trimtab migrate ignored SIGINT it inherited ignored") from None
    assert proc.returncode == 130, out + errout
    assert "interrupted: no migration was applied by this run" in errout


# -- files the journal does not list, equal numbers --------------------------------------------

def test_a_sql_file_the_journal_does_not_list_stops_migrate_status_and_check(
        project, db_url, sql):
    folder = project_with(project)
    add(folder, "users", "CREATE TABLE users (id int)")
    # Merged from a branch whose journal entry lost the merge.
    (folder / "0001_add_posts.sql").write_text("CREATE TABLE posts (id int);\n")

    r = run(project, "migrate", "--url", db_url)
    assert r.returncode == 1
    assert "0001_add_posts.sql is not in the journal" in r.stderr
    assert "add an entry for it" in r.stderr
    assert tracking_rows(sql) == {}
    assert sql("SELECT to_regclass('users') IS NULL") == [(True,)]
    dry = run(project, "migrate", "--url", db_url, "--dry-run")
    assert dry.returncode == 1 and "0001_add_posts.sql" in dry.stderr
    status = run(project, "status", "--url", db_url)
    assert status.returncode == 1
    assert "0001_add_posts.sql is not in the journal" in status.stdout
    assert "add an entry for it" in status.stdout
    as_json = json.loads(run(project, "status", "--url", db_url, "--json").stdout)
    assert as_json["migrate_refuses"] is True
    assert "0001_add_posts.sql is not in the journal: no migration runs it" in as_json[
        "folder_problems"]
    check = run(project, "check")
    assert check.returncode == 1 and "0001_add_posts.sql" in check.stderr


def test_two_migrations_with_one_number_stop_migrate(tmp_path, db_url, sql):
    folder = tmp_path / "migrations"
    add(folder, "users", "CREATE TABLE users (id int)")
    add(folder, "add a", "CREATE TABLE a (id int)")
    migrate(db_url, read_folder(folder))  # branch A deployed 0001_add_a
    # The merge kept both journal entries: branch B's 0001 comes after A's, same number.
    journal = json.loads((folder / "meta" / "_journal.json").read_text())
    entry = dict(journal["entries"][1], tag="0001_add_b", when=journal["entries"][1]["when"] + 1)
    journal["entries"].append(entry)
    (folder / "meta" / "_journal.json").write_text(json.dumps(journal, indent=2))
    (folder / "0001_add_b.sql").write_text("CREATE TABLE b (id int);\n")

    with pytest.raises(PlanError) as info:
        migrate(db_url, read_folder(folder))
    text = str(info.value)
    assert "0001_add_a.sql" in text and "0001_add_b.sql" in text
    assert "rename 0001_add_b.sql to 0002_add_b.sql" in text
    assert sql("SELECT to_regclass('b') IS NULL") == [(True,)]


def test_a_tracking_table_made_before_started_statement_existed_is_upgraded(
        tmp_path, db_url, sql):
    folder = tmp_path / "migrations"
    first = add(folder, "t", "CREATE TABLE t (id int)")
    second = add(folder, "u", "CREATE TABLE u (id int)", transactional=False)
    sql("""CREATE SCHEMA trimtab; CREATE TABLE trimtab.migrations (
        id bigserial PRIMARY KEY, name text NOT NULL UNIQUE, checksum text NOT NULL,
        started_at timestamptz NOT NULL, finished_at timestamptz,
        statements_done int NOT NULL DEFAULT 0, failed_statement int, error text,
        applied_by text DEFAULT current_user)""")
    sql("INSERT INTO trimtab.migrations (name, checksum, started_at, finished_at) "
        "VALUES (%s, %s, now(), now())", (first.name, first.checksum))
    sql("CREATE TABLE t (id int)")
    f = read_folder(folder)
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert [m.name for m in pending(conn, f)[0]] == [second.name]  # reads, adds nothing
    assert sql("SELECT count(*) FROM pg_attribute WHERE attrelid = 'trimtab.migrations'::regclass"
               " AND attname = 'started_statement'") == [(0,)]
    result = migrate(db_url, f)
    assert [(r.name, r.status) for r in result.runs] == [(second.name, "applied")]
    assert tracking_rows(sql)[second.name]["finished_at"] is not None


def test_resume_after_never_skips_statements_of_a_migration_with_a_transaction(
        tmp_path, db_url, sql):
    folder = tmp_path / "migrations"
    add(folder, "t", "CREATE TABLE t (id int)")
    m = add(folder, "two", "INSERT INTO t VALUES (1)", "INSERT INTO nowhere VALUES (2)")
    with pytest.raises(PlanError):
        migrate(db_url, read_folder(folder))
    assert tracking_rows(sql)[m.name]["failed_statement"] == 2
    with pytest.raises(ConfigError) as info:  # it rolled back whole: nothing to resume
        migrate(db_url, read_folder(folder), resume_after=1)
    assert "no migration stopped half way" in str(info.value)
    assert sql("SELECT count(*) FROM t") == [(0,)]


def test_a_statement_running_now_is_not_reported_as_in_doubt(project, db_url, sql):
    folder = project_with(project)
    add(folder, "setup", *SETUP)
    add(folder, "backfill", "DO $$ BEGIN INSERT INTO t SELECT 1 FROM gate; END $$",
        transactional=False)
    apply_first(db_url, folder)
    with migrate_waiting_at(project, db_url, sql, "SELECT 1 FROM gate") as (proc, _), \
            psycopg.connect(db_url, autocommit=True) as conn:
        assert pending(conn, read_folder(folder))[1] == []  # it runs: not cut off
    out, errout = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + errout
    assert sql("SELECT id FROM t") == [(1,)]
