"""trimtab migrate on a real PostgreSQL: order, checksums, failures, faults, concurrency,
baselining, dry runs and drizzle-kit's history."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from trimtab.errors import ConfigError, DatabaseError, PlanError
from trimtab.migrations.folder import Migration, read_folder, write_migration
from trimtab.migrations.runner import APPLICATION_NAME, LOCK_KEY, migrate, pending

DRIZZLE_SAMPLE = Path("/work/shared/samples/drizzle/01-init")
DRIZZLE_HASH = "2cee082a4e125d1c9bf9fc3ac159c7c8ee13506e48e99068254812f288f728bb"
DRIZZLE_WHEN = 1795304282389
ROOT = Path(__file__).resolve().parent.parent


def add(folder: Path, name: str, *statements: str, transactional: bool = True) -> Migration:
    return write_migration(folder, name, list(statements), None, transactional=transactional)


def tracking_rows(sql) -> dict[str, dict]:
    if not sql("SELECT to_regclass('trimtab.migrations') IS NOT NULL")[0][0]:
        return {}
    cols = ("name", "checksum", "started_at", "finished_at", "statements_done",
            "failed_statement", "error", "applied_by")
    rows = sql(f"SELECT {', '.join(cols)} FROM trimtab.migrations ORDER BY id")
    return {r[0]: dict(zip(cols, r, strict=True)) for r in rows}


def exists(sql, relation: str) -> bool:
    return sql("SELECT to_regclass(%s) IS NOT NULL", (relation,))[0][0]


def run_in_thread(fn, *args, **kwargs) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def target() -> None:
        try:
            out["result"] = fn(*args, **kwargs)
        except BaseException as e:  # handed to the test
            out["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t, out


def kill_when_running(sql, needle: str, timeout: float = 10.0) -> int:
    """Terminate the trimtab migrate backend once it runs a statement containing needle."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = sql("SELECT pid FROM pg_stat_activity WHERE application_name = %s "
                   "AND state = 'active' AND query LIKE %s",
                   (APPLICATION_NAME, f"%{needle}%"))
        if rows:
            assert sql("SELECT pg_terminate_backend(%s)", (rows[0][0],))[0][0]
            return rows[0][0]
        time.sleep(0.02)
    raise AssertionError(f"no trimtab migrate backend ran {needle!r}")


# -- order, records, second run ----------------------------------------------------------------

def test_applies_in_order_records_rows_and_a_second_run_applies_nothing(tmp_path, db_url, sql):
    folder = tmp_path / "migrations"
    add(folder, "create t", "CREATE TABLE t (id int PRIMARY KEY, v text)")
    add(folder, "fill t", "INSERT INTO t VALUES (1, 'a')", "INSERT INTO t VALUES (2, 'b')")
    add(folder, "add w", "ALTER TABLE t ADD COLUMN w int NOT NULL DEFAULT 0")
    f = read_folder(folder)
    progress: list[tuple[str, int, int]] = []

    result = migrate(db_url, f, on_progress=lambda m, done, total:
                     progress.append((m.name, done, total)))

    names = [m.name for m in f.migrations]
    assert names == ["0000_create_t", "0001_fill_t", "0002_add_w"]
    assert [(r.name, r.status, r.statements) for r in result.runs] == [
        ("0000_create_t", "applied", 1), ("0001_fill_t", "applied", 2),
        ("0002_add_w", "applied", 1)]
    assert result.already_applied == 0
    assert progress == [("0000_create_t", 0, 1), ("0000_create_t", 1, 1),
                        # Two plain statements go in one round trip: one report.
                        ("0001_fill_t", 0, 2), ("0001_fill_t", 2, 2),
                        ("0002_add_w", 0, 1), ("0002_add_w", 1, 1)]
    assert sql("SELECT id, v, w FROM t ORDER BY id") == [(1, "a", 0), (2, "b", 0)]
    rows = tracking_rows(sql)
    assert list(rows) == names  # recorded in order
    for m in f.migrations:
        row = rows[m.name]
        assert row["checksum"] == m.checksum
        assert row["finished_at"] is not None and row["started_at"] <= row["finished_at"]
        assert row["statements_done"] == len(m.statements)
        assert row["failed_statement"] is None and row["error"] is None
        assert row["applied_by"] == sql("SELECT current_user")[0][0]

    again = migrate(db_url, f)
    assert again.runs == () and again.already_applied == 3
    assert sql("SELECT count(*) FROM t")[0][0] == 2
    with psycopg.connect(db_url) as conn:
        assert pending(conn, f) == ([], [])


def test_a_migration_added_later_is_applied_whatever_its_timestamp(tmp_path, db_url, sql):
    # drizzle-kit skips a pending entry whose `when` is older than the newest applied one.
    folder = tmp_path / "migrations"
    add(folder, "a", "CREATE TABLE a (id int)")
    migrate(db_url, read_folder(folder))
    write_migration(folder, "b", ["CREATE TABLE b (id int)"], None, when=1)  # older than 0000
    result = migrate(db_url, read_folder(folder))
    assert [(r.name, r.status) for r in result.runs] == [("0001_b", "applied")]
    assert exists(sql, "b")


# -- problems that stop the run ------------------------------------------------------------------

def test_an_edited_applied_migration_is_an_error_and_nothing_runs(tmp_path, db_url, sql):
    folder = tmp_path / "migrations"
    add(folder, "a", "CREATE TABLE a (id int)")
    edited = add(folder, "b", "CREATE TABLE b (id int)")
    migrate(db_url, read_folder(folder))
    edited.path.write_text(edited.path.read_text().replace("(id int)", "(id bigint)"))
    add(folder, "c", "CREATE TABLE c (id int)")
    f = read_folder(folder)

    with pytest.raises(PlanError) as info:
        migrate(db_url, f)

    err = info.value
    assert err.file == str(edited.path)
    assert "0001_b was edited after it was applied" in str(err)
    assert "--mark-applied 0001_b" in (err.hint or "")
    assert not exists(sql, "c")
    assert list(tracking_rows(sql)) == ["0000_a", "0001_b"]
    with psycopg.connect(db_url) as conn:
        todo, problems = pending(conn, f)
    assert [m.name for m in todo] == ["0002_c"]
    assert len(problems) == 1 and "edited after it was applied" in problems[0]
    with pytest.raises(PlanError, match="edited after it was applied"):
        migrate(db_url, f, dry_run=True)


def test_an_applied_migration_without_its_file_is_an_error(tmp_path, db_url, sql):
    folder = tmp_path / "migrations"
    add(folder, "a", "CREATE TABLE a (id int)")
    add(folder, "b", "CREATE TABLE b (id int)")
    f = read_folder(folder)
    migrate(db_url, f)
    gone = dataclasses.replace(f, migrations=f.migrations[:1])
    with pytest.raises(PlanError, match="applied migration 0001_b has no file") as info:
        migrate(db_url, gone)
    assert "DELETE FROM trimtab.migrations WHERE name = '0001_b'" in (info.value.hint or "")


def test_out_of_order_pending_migration_is_an_error_unless_allowed(tmp_path, db_url, sql):
    folder = tmp_path / "migrations"
    add(folder, "a", "CREATE TABLE a (id int)")
    add(folder, "from branch", "CREATE TABLE from_branch (id int)")
    add(folder, "c", "CREATE TABLE c (id int)")
    f = read_folder(folder)
    m0, m1, m2 = f.migrations
    # The database got 0000 and 0002 before 0001 was merged.
    migrate(db_url, dataclasses.replace(f, migrations=(m0, m2)))

    with pytest.raises(PlanError) as info:
        migrate(db_url, f)
    assert info.value.file == str(m1.path)
    assert "0001_from_branch is pending but the later 0002_c is already applied" in str(info.value)
    assert "--allow-out-of-order" in (info.value.hint or "")
    assert not exists(sql, "from_branch")

    result = migrate(db_url, f, allow_out_of_order=True)
    assert [(r.name, r.status) for r in result.runs] == [("0001_from_branch", "applied")]
    assert result.already_applied == 2
    assert exists(sql, "from_branch")


# -- a failing statement ---------------------------------------------------------------------------

def test_a_failing_statement_leaves_the_database_unchanged_and_says_where(tmp_path, db_url, sql):
    folder = tmp_path / "migrations"
    add(folder, "t", "CREATE TABLE t (id int)")
    bad = add(folder, "fill", "INSERT INTO t VALUES (1)", "CREATE TABLE u (id int)",
              "SELECT id\nFROM missing_table")
    add(folder, "later", "CREATE TABLE later (id int)")
    f = read_folder(folder)
    lines = bad.path.read_text().splitlines()
    error_line = next(n for n, x in enumerate(lines, 1) if "missing_table" in x)

    with pytest.raises(PlanError) as info:
        migrate(db_url, f)

    err = info.value
    assert err.file == str(bad.path) and err.line == error_line
    text = str(err)
    assert text.startswith(f"{bad.path}:{error_line}: ")
    assert "migration 0001_fill failed at statement 3 of 3" in text
    assert f"(line {bad.statements[2].line})" in text
    assert 'relation "missing_table" does not exist' in text
    assert "rolled back and is not recorded as applied" in text
    # Nothing of 0001 stayed, 0002 did not run.
    assert sql("SELECT count(*) FROM t")[0][0] == 0
    assert not exists(sql, "u") and not exists(sql, "later")
    rows = tracking_rows(sql)
    assert rows["0000_t"]["finished_at"] is not None
    failed = rows["0001_fill"]
    assert failed["finished_at"] is None and failed["failed_statement"] == 3
    assert failed["statements_done"] == 0
    assert 'relation "missing_table" does not exist' in failed["error"]
    assert "0002_later" not in rows
    with psycopg.connect(db_url) as conn:
        todo, problems = pending(conn, f)
    assert [m.name for m in todo] == ["0001_fill", "0002_later"] and problems == []

    # Fix the file, rerun: it applies, and the row no longer carries the error.
    bad.path.write_text(bad.path.read_text().replace("missing_table", "t"))
    result = migrate(db_url, read_folder(folder))
    assert [(r.name, r.status) for r in result.runs] == [("0001_fill", "applied"),
                                                         ("0002_later", "applied")]
    assert sql("SELECT count(*) FROM t")[0][0] == 1 and exists(sql, "u")
    fixed = tracking_rows(sql)["0001_fill"]
    assert fixed["finished_at"] is not None and fixed["error"] is None
    assert fixed["failed_statement"] is None and fixed["statements_done"] == 3


def test_a_transaction_ended_by_the_file_is_reported_not_recorded_as_applied(
        tmp_path, db_url, sql):
    folder = tmp_path / "migrations"
    m = add(folder, "own commit", "CREATE TABLE a (id int)", "COMMIT", "CREATE TABLE b (id int)")
    with pytest.raises(PlanError, match="ended the migration's transaction") as info:
        migrate(db_url, read_folder(folder))
    assert info.value.file == str(m.path)
    assert "failed at statement 2 of 3" in str(info.value)
    assert not exists(sql, "b")
    row = tracking_rows(sql)[m.name]
    assert row["finished_at"] is None and row["failed_statement"] == 2


def test_concurrent_index_in_a_transactional_migration_says_how_to_mark_it(
        tmp_path, db_url, sql):
    folder = tmp_path / "migrations"
    add(folder, "t", "CREATE TABLE t (id int)", "CREATE INDEX CONCURRENTLY t_id ON t (id)")
    with pytest.raises(PlanError, match="cannot run inside a transaction block") as info:
        migrate(db_url, read_folder(folder))
    assert "-- trimtab:no-transaction" in (info.value.hint or "")
    assert not exists(sql, "t")


# -- migrations without a transaction --------------------------------------------------------------

def test_no_transaction_migration_creates_an_index_concurrently(tmp_path, db_url, sql):
    folder = tmp_path / "migrations"
    add(folder, "items", "CREATE TABLE items (id int, tag text)",
        "INSERT INTO items SELECT g, 'x' || g FROM generate_series(1, 1000) g")
    ix = add(folder, "index tags", "CREATE INDEX CONCURRENTLY items_tag ON items (tag)",
             "CREATE INDEX CONCURRENTLY items_id ON items (id)", transactional=False)
    f = read_folder(folder)
    assert not f.migrations[1].transactional
    progress: list[tuple[str, int, int]] = []

    result = migrate(db_url, f, on_progress=lambda m, d, t: progress.append((m.name, d, t)))

    assert [(r.name, r.status, r.statements) for r in result.runs] == [
        ("0000_items", "applied", 2), (ix.name, "applied", 2)]
    assert (ix.name, 2, 2) in progress
    assert sql("SELECT count(*) FROM pg_index WHERE indrelid = 'items'::regclass "
               "AND indisvalid")[0][0] == 2
    row = tracking_rows(sql)[ix.name]
    assert row["finished_at"] is not None and row["statements_done"] == 2
    # The session lock is released.
    assert sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")[0][0] == 0


def test_no_transaction_migration_resumes_after_its_last_done_statement(tmp_path, db_url, sql):
    folder = tmp_path / "migrations"
    add(folder, "log", "CREATE TABLE log (step text)")
    m = add(folder, "steps", "INSERT INTO log VALUES ('one')", "INSERT INTO nowhere VALUES (2)",
            "INSERT INTO log VALUES ('three')", transactional=False)

    with pytest.raises(PlanError) as info:
        migrate(db_url, read_folder(folder))
    text = str(info.value)
    assert "failed at statement 2 of 3" in text and 'relation "nowhere" does not exist' in text
    assert "statements 1-1 ran and are recorded, a rerun resumes at statement 2" in text
    row = tracking_rows(sql)[m.name]
    assert (row["finished_at"], row["statements_done"], row["failed_statement"]) == (None, 1, 2)
    assert sql("SELECT step FROM log") == [("one",)]

    m.path.write_text(m.path.read_text().replace("nowhere VALUES (2)", "log VALUES ('two')"))
    result = migrate(db_url, read_folder(folder))
    assert [(r.name, r.status, r.statements) for r in result.runs] == [(m.name, "applied", 2)]
    assert sql("SELECT step FROM log ORDER BY step") == [("one",), ("three",), ("two",)]
    assert sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")[0][0] == 0


# -- a connection killed in the middle -----------------------------------------------------------

def test_a_connection_killed_mid_migration_leaves_no_record_and_a_rerun_completes(
        tmp_path, db_url, sql):
    folder = tmp_path / "migrations"
    add(folder, "setup", "CREATE TABLE ctl (s float8)", "INSERT INTO ctl VALUES (30)",
        "CREATE TABLE t (id int)")
    slow = add(folder, "slow", "INSERT INTO t VALUES (1)", "SELECT pg_sleep(s) FROM ctl",
               "CREATE TABLE after_sleep (id int)")
    f = read_folder(folder)
    migrate(db_url, dataclasses.replace(f, migrations=f.migrations[:1]))

    thread, out = run_in_thread(migrate, db_url, f)
    kill_when_running(sql, "pg_sleep")
    thread.join(10)
    assert not thread.is_alive()

    err = out.get("error")
    assert isinstance(err, DatabaseError), out
    assert "connection was lost while migration 0001_slow ran" in str(err)
    assert "not recorded as applied" in str(err)
    rows = tracking_rows(sql)
    assert slow.name not in rows or rows[slow.name]["finished_at"] is None
    assert sql("SELECT count(*) FROM t")[0][0] == 0 and not exists(sql, "after_sleep")

    sql("UPDATE ctl SET s = 0")
    result = migrate(db_url, f)
    assert [(r.name, r.status) for r in result.runs] == [(slow.name, "applied")]
    assert sql("SELECT count(*) FROM t")[0][0] == 1 and exists(sql, "after_sleep")


def test_a_killed_no_transaction_migration_resumes_where_it_stopped(tmp_path, db_url, sql):
    folder = tmp_path / "migrations"
    add(folder, "setup", "CREATE TABLE ctl (s float8)", "INSERT INTO ctl VALUES (30)",
        "CREATE TABLE log (step text)")
    m = add(folder, "steps", "INSERT INTO log VALUES ('one')", "SELECT pg_sleep(s) FROM ctl",
            "CREATE INDEX CONCURRENTLY log_step ON log (step)", transactional=False)
    f = read_folder(folder)
    migrate(db_url, dataclasses.replace(f, migrations=f.migrations[:1]))

    thread, out = run_in_thread(migrate, db_url, f)
    kill_when_running(sql, "pg_sleep")
    thread.join(10)
    assert isinstance(out.get("error"), DatabaseError), out
    assert "a rerun resumes at statement 2" in str(out["error"])
    row = tracking_rows(sql)[m.name]
    assert row["finished_at"] is None and row["statements_done"] == 1
    assert sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")[0][0] == 0

    sql("UPDATE ctl SET s = 0")
    result = migrate(db_url, f)
    assert [(r.name, r.status, r.statements) for r in result.runs] == [(m.name, "applied", 2)]
    assert sql("SELECT step FROM log") == [("one",)]  # statement 1 did not run twice
    assert exists(sql, "log_step")


# -- concurrent runners ----------------------------------------------------------------------------

_CHILD = """
import json, sys, time
from pathlib import Path
from trimtab.migrations.folder import read_folder
from trimtab.migrations.runner import migrate
url, path, start = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
folder = read_folder(path)
while time.time() < start:
    time.sleep(0.002)
result = migrate(url, folder)
print(json.dumps([[r.name, r.status] for r in result.runs]))
"""


def test_five_concurrent_processes_apply_each_migration_exactly_once(tmp_path, db_url, sql):
    folder = tmp_path / "migrations"
    add(folder, "hits", "CREATE TABLE hits (migration text, pid int DEFAULT pg_backend_pid())")
    add(folder, "one", "INSERT INTO hits (migration) VALUES ('one')", "SELECT pg_sleep(0.2)")
    add(folder, "index", "INSERT INTO hits (migration) VALUES ('index')",
        "CREATE INDEX CONCURRENTLY hits_migration ON hits (migration)", transactional=False)
    add(folder, "three", "INSERT INTO hits (migration) VALUES ('three')")
    names = [m.name for m in read_folder(folder).migrations]
    start = time.time() + 3
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD, db_url, str(folder), str(start)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(5)]
    outputs = [p.communicate(timeout=60) for p in procs]
    for p, (_out, errout) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, errout
    runs = [run for out, _ in outputs for run in json.loads(out)]
    applied = Counter(name for name, status in runs if status == "applied")
    assert applied == Counter(names)  # each exactly once, across all five processes
    assert {status for _, status in runs} <= {"applied", "skipped"}
    assert sorted(sql("SELECT migration, count(*) FROM hits GROUP BY 1")) == [
        ("index", 1), ("one", 1), ("three", 1)]
    assert list(tracking_rows(sql)) == names
    assert all(r["finished_at"] is not None for r in tracking_rows(sql).values())


def test_a_runner_waiting_for_the_lock_does_not_deadlock_a_concurrent_index(
        tmp_path, db_url, sql):
    # A backend blocked in pg_advisory_lock holds a snapshot; CREATE INDEX CONCURRENTLY by the
    # lock holder waits for it and PostgreSQL reports a deadlock. The runner polls instead.
    folder = tmp_path / "migrations"
    add(folder, "big", "CREATE TABLE big AS SELECT g AS x FROM generate_series(1, 20000) g")
    add(folder, "index", "SELECT pg_sleep(1)", "CREATE INDEX CONCURRENTLY big_x ON big (x)",
        transactional=False)
    f = read_folder(folder)
    migrate(db_url, dataclasses.replace(f, migrations=f.migrations[:1]))

    # The second runner starts once the first holds the lock and begins the migration
    # (its progress callback says so), while pg_sleep keeps it from the index.
    holds_lock = threading.Event()
    first, out1 = run_in_thread(migrate, db_url, f,
                                on_progress=lambda m, done, total: holds_lock.set())
    assert holds_lock.wait(30), out1
    second, out2 = run_in_thread(migrate, db_url, f)
    first.join(30)
    second.join(30)
    assert "error" not in out1 and "error" not in out2, (out1, out2)
    statuses = [r.status for r in out1["result"].runs + out2["result"].runs]
    assert statuses.count("applied") == 1
    assert sql("SELECT indisvalid FROM pg_index WHERE indexrelid = 'big_x'::regclass") == [
        (True,)]


def test_a_stuck_lock_holder_is_named_after_the_wait(tmp_path, db_url, sql):
    folder = tmp_path / "migrations"
    add(folder, "a", "CREATE TABLE a (id int)")
    with psycopg.connect(db_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        pid = holder.info.backend_pid
        with pytest.raises(DatabaseError) as info:
            migrate(db_url, read_folder(folder), lock_wait=0.5)
    assert f"backend pid {pid}" in str(info.value)
    assert f"pg_terminate_backend({pid})" in (info.value.hint or "")
    assert not exists(sql, "a")


# -- baselining, dry runs --------------------------------------------------------------------------

def test_mark_applied_records_without_running(tmp_path, db_url, sql):
    folder = tmp_path / "migrations"
    first = add(folder, "by hand", "CREATE TABLE made_by_hand (id int)")
    add(folder, "next", "CREATE TABLE next_one (id int)")
    f = read_folder(folder)
    sql("CREATE TABLE made_by_hand (id int)")  # the database was set up by hand

    marked = migrate(db_url, f, mark_applied=first.name)
    assert [(r.name, r.status) for r in marked.runs] == [(first.name, "marked")]
    assert not exists(sql, "next_one")
    row = tracking_rows(sql)[first.name]
    assert row["finished_at"] is not None and row["statements_done"] == 0
    assert row["checksum"] == first.checksum

    result = migrate(db_url, f)
    assert [(r.name, r.status) for r in result.runs] == [("0001_next", "applied")]
    assert result.already_applied == 1
    again = migrate(db_url, f, mark_applied=first.name)
    assert [(r.name, r.status) for r in again.runs] == [(first.name, "skipped")]

    with pytest.raises(PlanError, match="no migration named 0009_nope"):
        migrate(db_url, f, mark_applied="0009_nope")
    with pytest.raises(ConfigError):
        migrate(db_url, f, mark_applied=first.name, dry_run=True)


def test_mark_applied_accepts_an_edited_file(tmp_path, db_url, sql):
    folder = tmp_path / "migrations"
    m = add(folder, "a", "CREATE TABLE a (id int)")
    migrate(db_url, read_folder(folder))
    m.path.write_text(m.path.read_text() + "-- reviewed\n")
    f = read_folder(folder)
    with pytest.raises(PlanError, match="edited"):
        migrate(db_url, f)
    migrate(db_url, f, mark_applied=m.name)
    assert tracking_rows(sql)[m.name]["checksum"] == f.migrations[0].checksum
    assert migrate(db_url, f).runs == ()


def test_dry_run_changes_nothing(tmp_path, db_url, sql):
    folder = tmp_path / "migrations"
    add(folder, "a", "CREATE TABLE a (id int)")
    add(folder, "b", "CREATE TABLE b (id int)", "CREATE TABLE c (id int)")
    f = read_folder(folder)

    result = migrate(db_url, f, dry_run=True)
    assert [(r.name, r.status, r.statements) for r in result.runs] == [
        ("0000_a", "would apply", 1), ("0001_b", "would apply", 2)]
    assert result.already_applied == 0
    assert sql("SELECT to_regnamespace('trimtab')") == [(None,)]
    assert not exists(sql, "a")

    migrate(db_url, dataclasses.replace(f, migrations=f.migrations[:1]))
    before = tracking_rows(sql)
    result = migrate(db_url, f, dry_run=True)
    assert [(r.name, r.status) for r in result.runs] == [("0001_b", "would apply")]
    assert result.already_applied == 1
    assert tracking_rows(sql) == before and not exists(sql, "b")


# -- drizzle-kit -----------------------------------------------------------------------------------

def drizzle_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "migrations"
    shutil.copytree(DRIZZLE_SAMPLE, folder, ignore=shutil.ignore_patterns("*.txt", "pg_dump*",
                                                                          "*.ts"))
    return folder


def test_a_drizzle_kit_folder_is_applied(tmp_path, db_url, sql):
    f = read_folder(drizzle_folder(tmp_path))
    assert f.written_by == "drizzle-kit"
    assert f.migrations[0].checksum == DRIZZLE_HASH  # what drizzle-kit recorded for it
    result = migrate(db_url, f)
    assert [(r.name, r.status) for r in result.runs] == [("0000_init", "applied")]
    assert all(exists(sql, t) for t in ("users", "posts", "comments"))
    assert migrate(db_url, f).runs == ()


def test_drizzle_kit_history_counts_as_applied_and_is_copied(tmp_path, db_url, sql):
    folder = drizzle_folder(tmp_path)
    init = read_folder(folder).migrations[0]
    # The database as drizzle-kit migrate left it.
    with psycopg.connect(db_url, autocommit=True) as conn:
        for st in init.statements:
            conn.execute(st.text.encode())
    sql("CREATE SCHEMA drizzle; CREATE TABLE drizzle.__drizzle_migrations "
        "(id serial PRIMARY KEY, hash text NOT NULL, created_at bigint)")
    sql("INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES (%s, %s)",
        (DRIZZLE_HASH, DRIZZLE_WHEN))
    add(folder, "bio", 'ALTER TABLE "users" ADD COLUMN "bio" text')
    f = read_folder(folder)

    with psycopg.connect(db_url) as conn:
        todo, problems = pending(conn, f)
    assert [m.name for m in todo] == ["0001_bio"] and problems == []
    assert [r.status for r in migrate(db_url, f, dry_run=True).runs] == ["would apply"]
    assert sql("SELECT to_regnamespace('trimtab')") == [(None,)]

    result = migrate(db_url, f)
    assert [(r.name, r.status) for r in result.runs] == [("0001_bio", "applied")]
    assert result.already_applied == 1
    rows = tracking_rows(sql)
    assert rows["0000_init"]["applied_by"] == "drizzle-kit"
    assert rows["0000_init"]["checksum"] == DRIZZLE_HASH
    assert rows["0000_init"]["finished_at"] is not None
    assert rows["0001_bio"]["applied_by"] != "drizzle-kit"
    assert migrate(db_url, f).runs == ()


def test_a_file_edited_after_drizzle_kit_applied_it_is_an_error(tmp_path, db_url, sql):
    folder = drizzle_folder(tmp_path)
    sql("CREATE SCHEMA drizzle; CREATE TABLE drizzle.__drizzle_migrations "
        "(id serial PRIMARY KEY, hash text NOT NULL, created_at bigint)")
    sql("INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES (%s, %s)",
        ("0" * 64, DRIZZLE_WHEN))
    with pytest.raises(PlanError, match="0000_init was edited after drizzle-kit applied it"):
        migrate(db_url, read_folder(folder))
    assert not exists(sql, "users")
    assert sql("SELECT to_regclass('trimtab.migrations')") == [(None,)]  # rolled back


def test_an_unknown_drizzle_kit_hash_is_an_applied_migration_without_file(
        tmp_path, db_url, sql):
    folder = drizzle_folder(tmp_path)
    sql("CREATE SCHEMA drizzle; CREATE TABLE drizzle.__drizzle_migrations "
        "(id serial PRIMARY KEY, hash text NOT NULL, created_at bigint)")
    sql("INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES (%s, %s), (%s, %s)",
        (DRIZZLE_HASH, DRIZZLE_WHEN, "f" * 64, DRIZZLE_WHEN + 1))
    with pytest.raises(PlanError, match="has no file"):
        migrate(db_url, read_folder(folder))
