"""push on a table above `online_rows` takes the online-safe forms (as generate writes them),
one phase at a time, each with a lock timeout; smaller tables keep the plain forms in one
transaction. Run as a user runs push: the console script, real files, a real server."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import psycopg

from tests.test_cli_push import run, write
from tests.test_online_migrations import AFTER, BEFORE


def _project(project: Path, db_url: str, rows: int, settings: str = "") -> None:
    (project / "trimtab.toml").write_text(f'schema = "schema.sql"\nonline_rows = 1000\n'
                                          f"{settings}")
    write(project, BEFORE)
    r = run(project, "push", "--url", db_url)
    assert r.returncode == 0, r.stderr
    with psycopg.connect(db_url, autocommit=True) as conn:
        # The statistics stay as they are (never analyzed) unless a test analyzes: what
        # push says of a table's size depends on them.
        conn.execute("ALTER TABLE orders SET (autovacuum_enabled = off)")
        conn.execute("ALTER TABLE customers SET (autovacuum_enabled = off)")
        conn.execute("INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 50) g")
        conn.execute("INSERT INTO orders SELECT g, 1 + g %% 50, g, 'o' || g, NULL "
                     "FROM generate_series(1, %s) g", (rows,))
    write(project, AFTER)


def _sent(doc: dict) -> str:
    return "\n".join(s for p in doc["online"] for s in p["statements"])


def _converged(project: Path, db_url: str) -> None:
    r = run(project, "push", "--url", db_url, "--dry-run", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["changes"] == []
    with psycopg.connect(db_url) as conn:
        assert conn.execute(
            "SELECT bool_and(convalidated), count(*) FROM pg_constraint WHERE conrelid = "
            "'orders'::regclass AND contype IN ('c', 'f', 'u')").fetchone() == (True, 3)
        assert conn.execute("SELECT bool_and(indisvalid), count(*) FROM pg_index WHERE "
                            "indrelid = 'orders'::regclass").fetchone() == (True, 3)


def test_push_takes_the_safe_forms_on_a_table_above_the_threshold(project: Path,
                                                                   db_url: str) -> None:
    # Never analyzed: the statistics say nothing, a bounded count decides.
    _project(project, db_url, 2000)
    dry = run(project, "push", "--url", db_url, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "-- phase 2 of 4: build indexes (no transaction)" in dry.stdout, dry.stdout
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_idx" in dry.stdout
    assert "public.orders (at least 1,000 rows)" in dry.stderr, dry.stderr

    r = run(project, "push", "--url", db_url, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["applied"] is True
    assert [p["phase"] for p in doc["online"]] == ["expand", "build indexes", "validate",
                                                   "finish"]
    assert [p["transaction"] for p in doc["online"]] == [True, False, True, True]
    sent = _sent(doc)
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_idx" in sent
    assert "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS orders_code_key" in sent
    assert "NOT VALID" in sent and "VALIDATE CONSTRAINT orders_total_check" in sent
    assert "CHECK ((total IS NOT NULL)) NOT VALID" in sent
    assert "SET LOCAL lock_timeout = '5s'" in sent
    assert "SET lock_timeout" not in sent  # never the session's: a pooler would keep it
    _converged(project, db_url)
    with psycopg.connect(db_url) as conn:  # the helper check is gone
        assert conn.execute("SELECT count(*) FROM pg_constraint WHERE conname LIKE "
                            "'%nn_check'").fetchone() == (0,)


def test_push_keeps_the_plain_forms_below_the_threshold(project: Path, db_url: str) -> None:
    _project(project, db_url, 10)
    r = run(project, "push", "--url", db_url, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["online"] == []
    sql = "\n".join(s for c in doc["changes"] for s in c["sql"])
    assert "CREATE INDEX orders_customer_idx ON public.orders" in sql
    assert "CONCURRENTLY" not in sql
    _converged(project, db_url)


def test_online_false_keeps_the_plain_forms_on_big_tables(project: Path, db_url: str) -> None:
    _project(project, db_url, 2000, "online = false\n")
    r = run(project, "push", "--url", db_url, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["online"] == []
    _converged(project, db_url)


def test_push_gives_up_on_a_busy_table_instead_of_queueing_its_writers(
        project: Path, db_url: str) -> None:
    """A long reader holds the table: a plain ALTER TABLE would wait behind it, and every
    write after it behind the ALTER. The safe forms give up after lock_timeout (retried),
    say so, and leave a database that the next push finishes."""
    _project(project, db_url, 2000, 'lock_timeout = "100ms"\nlock_retries = 1\n')
    holder = psycopg.connect(db_url)
    holder.execute("LOCK TABLE orders IN ACCESS SHARE MODE")
    try:
        r = run(project, "push", "--url", db_url)
    finally:
        holder.rollback()
        holder.close()
    assert r.returncode != 0
    assert "could not lock" in r.stderr or "lock timeout" in r.stderr, r.stderr
    assert "public.orders" in r.stderr, r.stderr
    assert "nothing was applied" in r.stderr, r.stderr
    assert "retr" in r.stderr, r.stderr  # it said it retried
    r = run(project, "push", "--url", db_url)
    assert r.returncode == 0, r.stderr
    _converged(project, db_url)


def _wait_for_the_build(db_url: str) -> None:
    """Until push's index build waits for a lock (no event tells it: the server polls)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("SET statement_timeout = '50s'")
        conn.execute(
            "DO $$ BEGIN LOOP EXIT WHEN EXISTS (SELECT FROM pg_stat_activity WHERE query "
            "LIKE 'CREATE%INDEX%' AND wait_event_type = 'Lock'); PERFORM pg_sleep(0.02); "
            # The activity view is read once per transaction unless told to read again.
            "PERFORM pg_stat_clear_snapshot(); "
            "END LOOP; END $$")


def _push_in_background(project: Path, db_url: str) -> tuple[threading.Thread, list]:
    pushed: list[subprocess.CompletedProcess] = []
    t = threading.Thread(target=lambda: pushed.append(run(project, "push", "--url", db_url)))
    t.start()
    return t, pushed


def test_writers_keep_writing_while_push_builds_an_index(project: Path, db_url: str) -> None:
    """A writer's open transaction makes the build wait. A plain CREATE INDEX waits holding
    SHARE, so the next writer queues behind it; the concurrent build lets it write."""
    _project(project, db_url, 2000)
    write(project, BEFORE + "CREATE INDEX orders_customer_idx ON orders (customer_id);\n")
    old = psycopg.connect(db_url)
    old.execute("UPDATE orders SET note = 'old' WHERE id = 1")
    t, pushed = _push_in_background(project, db_url)
    try:
        _wait_for_the_build(db_url)
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '2s'")
            conn.execute("INSERT INTO orders VALUES (100001, 1, 1, 'x', NULL)")  # not queued
    finally:
        old.commit()
        old.close()
        t.join(timeout=60)
    assert pushed and pushed[0].returncode == 0, pushed[0].stderr if pushed else "no push"
    assert "concurrently" in pushed[0].stdout, pushed[0].stdout


def test_a_failed_build_says_what_was_applied_and_the_next_push_rebuilds_it(
        project: Path, db_url: str) -> None:
    """An index build cancelled while it waits (an operator's pg_cancel_backend, a dropped
    connection) leaves an invalid index: push names the phase that ran and the index; the
    next push drops it, builds it again and converges."""
    _project(project, db_url, 2000)
    # A snapshot older than the builds, on no table of the plan: each build, once made,
    # waits for it to end (the expand phase before it does not).
    old = psycopg.connect(db_url)
    old.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    old.execute("SELECT 1")
    t, pushed = _push_in_background(project, db_url)
    try:
        _wait_for_the_build(db_url)
        with psycopg.connect(db_url, autocommit=True) as conn:
            assert conn.execute(
                "SELECT bool_and(pg_cancel_backend(pid)) FROM pg_stat_activity WHERE query "
                "LIKE 'CREATE%INDEX%' AND wait_event_type = 'Lock'").fetchone() == (True,)
    finally:
        old.rollback()
        old.close()
        t.join(timeout=60)
    assert pushed, "no push"
    r = pushed[0]
    assert r.returncode != 0
    assert "applied: expand" in r.stderr, r.stderr
    assert "left invalid" in r.stderr, r.stderr
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_index WHERE indrelid = "
                            "'orders'::regclass AND NOT indisvalid").fetchone() == (1,)
    again = run(project, "push", "--url", db_url)
    assert again.returncode == 0, again.stderr
    _converged(project, db_url)


# -- changes that rewrite a table ----------------------------------------------------------

WIDER = BEFORE.replace("total int,", "total bigint,")


def test_generate_asks_before_a_migration_that_rewrites_a_table(project: Path,
                                                                 db_url: str) -> None:
    (project / "trimtab.toml").write_text('schema = "schema.sql"\n')
    write(project, BEFORE)
    assert run(project, "generate", "--url", db_url).returncode == 0
    write(project, WIDER)
    before = sorted(p.name for p in (project / "migrations").glob("*.sql"))
    r = run(project, "generate", "--url", db_url)  # no terminal: nobody to say yes
    assert r.returncode != 0
    assert "nothing was written" in r.stderr, r.stderr
    assert "public.orders: rewrites" in r.stderr, r.stderr
    assert "expand: ALTER TABLE public.orders ADD COLUMN total_new bigint" in r.stderr
    assert "backfill, one transaction per batch" in r.stderr
    assert sorted(p.name for p in (project / "migrations").glob("*.sql")) == before
    r = run(project, "generate", "--url", db_url, "--force")
    assert r.returncode == 0, r.stderr
    [new] = [p for p in (project / "migrations").glob("*.sql") if p.name not in before]
    text = new.read_text()
    assert "-- trimtab: rewrites public.orders under ACCESS EXCLUSIVE" in text
    assert "ALTER COLUMN total TYPE bigint" in text


def test_generate_with_online_false_writes_a_rewrite_without_asking(project: Path,
                                                                     db_url: str) -> None:
    (project / "trimtab.toml").write_text('schema = "schema.sql"\nonline = false\n')
    write(project, BEFORE)
    assert run(project, "generate", "--url", db_url).returncode == 0
    write(project, WIDER)
    r = run(project, "generate", "--url", db_url)
    assert r.returncode == 0, r.stderr


def test_push_asks_before_rewriting_a_big_table_only(project: Path, db_url: str) -> None:
    _project(project, db_url, 2000)
    write(project, WIDER)
    dry = run(project, "push", "--url", db_url, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "public.orders (at least 1,000 rows): rewrites" in dry.stderr, dry.stderr
    with psycopg.connect(db_url, autocommit=True) as conn:  # the statistics, once analyzed
        conn.execute("ANALYZE orders")
    dry = run(project, "push", "--url", db_url, "--dry-run")
    assert "public.orders (~2,000 rows): rewrites" in dry.stderr, dry.stderr
    r = run(project, "push", "--url", db_url)
    assert r.returncode != 0
    assert "nothing was applied" in r.stderr and "public.orders: rewrites" in r.stderr, \
        r.stderr
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT format_type(atttypid, NULL) FROM pg_attribute WHERE "
                            "attrelid = 'orders'::regclass AND attname = 'total'"
                            ).fetchone() == ("integer",)
    r = run(project, "push", "--url", db_url, "--force")
    assert r.returncode == 0, r.stderr
    # The same change on a small table goes through without a question.
    (project / "trimtab.toml").write_text('schema = "schema.sql"\nonline_rows = 1000\n')
    write(project, WIDER.replace("customers (id int", "customers (id bigint"))
    r = run(project, "push", "--url", db_url)
    assert r.returncode == 0, r.stderr
    assert "public.customers" in r.stdout, r.stdout
