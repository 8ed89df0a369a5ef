"""generate writes online-safe migrations for tables that exist, migrate applies them (and
retries a lock timeout), as a user runs them: the console script, real files, a real server."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from pathlib import Path

import psycopg

from tests.test_cli_push import TRIMTAB, run, write

BEFORE = """
CREATE TABLE customers (id int PRIMARY KEY, email text);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total int, code text, note text);
"""
# The six everyday changes: SET NOT NULL, a CHECK, a UNIQUE, a FOREIGN KEY, an index, a
# new column.
AFTER = """
CREATE TABLE customers (id int PRIMARY KEY, email text);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers (id),
                     total int NOT NULL CHECK (total >= 0), code text UNIQUE, note text,
                     placed date);
CREATE INDEX orders_customer_idx ON orders (customer_id);
"""


def _migrations(project: Path) -> list[Path]:
    return sorted((project / "migrations").glob("*.sql"))


def _push_plan(project: Path, db_url: str) -> list[str]:
    """What push would still change: nothing once the database has converged."""
    r = run(project, "push", "--url", db_url, "--dry-run", "--json")
    assert r.returncode == 0, r.stderr
    return [c["description"] for c in json.loads(r.stdout)["changes"]]


def _with_rows(project: Path, db_url: str) -> None:
    write(project, BEFORE)
    assert run(project, "generate", "--url", db_url).returncode == 0
    assert run(project, "migrate", "--url", db_url).returncode == 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 50) g")
        conn.execute("INSERT INTO orders SELECT g, 1 + g % 50, g, 'o' || g, NULL "
                     "FROM generate_series(1, 2000) g")


def test_generate_writes_the_safe_forms_and_they_converge(project: Path, db_url: str) -> None:
    _with_rows(project, db_url)
    write(project, AFTER)
    r = run(project, "generate", "--url", db_url)
    assert r.returncode == 0, r.stderr
    files = _migrations(project)[1:]
    texts = [f.read_text() for f in files]
    assert len(files) == 4, [f.name for f in files]
    builds = [t for t in texts if t.startswith("-- trimtab:no-transaction\n")]
    assert len(builds) == 1
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_idx ON public.orders" \
        in builds[0]
    assert "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS orders_code_key ON public.orders" \
        in builds[0]
    assert "SET lock_timeout" not in builds[0]
    for text in texts:
        if text in builds:
            continue
        assert text.startswith("SET lock_timeout = '5s';\n--> statement-breakpoint\n"
                               "SET statement_timeout = '0';\n"), text
    whole = "\n".join(texts)
    assert "FOREIGN KEY (customer_id) REFERENCES public.customers(id) NOT VALID" in whole
    assert "CHECK ((total >= 0)) NOT VALID" in whole
    assert "CHECK ((total IS NOT NULL)) NOT VALID" in whole
    assert "VALIDATE CONSTRAINT orders_customer_id_fkey" in whole
    assert "VALIDATE CONSTRAINT orders_total_check" in whole
    assert "ALTER COLUMN total SET NOT NULL" in whole
    assert "ADD CONSTRAINT orders_code_key UNIQUE USING INDEX orders_code_key" in whole
    assert "ADD COLUMN placed date" in whole
    # Nothing of the blocking forms is left.
    assert "CREATE INDEX orders_customer_idx" not in whole
    assert "UNIQUE (code)" not in whole
    # The validation comes after the concurrent builds, in a later transaction.
    assert texts.index(builds[0]) < next(i for i, t in enumerate(texts)
                                         if "VALIDATE CONSTRAINT" in t)
    assert "online-safe" in r.stdout

    applied = run(project, "migrate", "--url", db_url)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT conname, contype, convalidated FROM pg_constraint "
            "WHERE conrelid = 'orders'::regclass AND contype <> 'n' ORDER BY 1").fetchall()
        assert rows == [("orders_code_key", "u", True), ("orders_customer_id_fkey", "f", True),
                        ("orders_pkey", "p", True), ("orders_total_check", "c", True)]
        assert conn.execute("SELECT attnotnull FROM pg_attribute WHERE attrelid = "
                            "'orders'::regclass AND attname = 'total'").fetchone() == (True,)
        assert conn.execute("SELECT bool_and(indisvalid) FROM pg_index WHERE indrelid = "
                            "'orders'::regclass").fetchone() == (True,)
    again = run(project, "generate", "--url", db_url)
    assert again.returncode == 0, again.stderr
    assert "Nothing to generate" in again.stdout
    assert len(_migrations(project)) == 5
    assert _push_plan(project, db_url) == []


def test_a_new_table_stays_plain(project: Path, db_url: str) -> None:
    _with_rows(project, db_url)
    write(project, BEFORE + """
CREATE TABLE refunds (id int PRIMARY KEY, order_id int REFERENCES orders (id),
                      amount int NOT NULL CHECK (amount > 0), code text UNIQUE);
CREATE INDEX refunds_order_idx ON refunds (order_id);
""")
    r = run(project, "generate", "--url", db_url)
    assert r.returncode == 0, r.stderr
    files = _migrations(project)[1:]
    assert len(files) == 1
    text = files[0].read_text()
    assert text.startswith("SET lock_timeout = '5s';")
    assert "CONCURRENTLY" not in text and "NOT VALID" not in text
    assert "CREATE INDEX refunds_order_idx ON public.refunds" in text
    assert run(project, "migrate", "--url", db_url).returncode == 0


def test_online_false_gives_the_plain_forms(project: Path, db_url: str) -> None:
    _with_rows(project, db_url)
    (project / "trimtab.toml").write_text('schema = "schema.sql"\nonline = false\n')
    write(project, AFTER)
    r = run(project, "generate", "--url", db_url)
    assert r.returncode == 0, r.stderr
    files = _migrations(project)[1:]
    assert len(files) == 1
    text = files[0].read_text()
    assert "SET lock_timeout" not in text and "CONCURRENTLY" not in text
    assert "NOT VALID" not in text
    assert "ADD CONSTRAINT orders_code_key UNIQUE (code)" in text  # (one ALTER TABLE per table)
    assert "CREATE INDEX orders_customer_idx ON public.orders USING btree (customer_id)" in text


def test_migrate_retries_a_lock_timeout(project: Path, db_url: str) -> None:
    (project / "trimtab.toml").write_text(
        'schema = "schema.sql"\nlock_timeout = "100ms"\nlock_retries = 5\n')
    _with_rows(project, db_url)
    write(project, BEFORE.replace("note text", "note text, placed date"))
    assert run(project, "generate", "--url", db_url).returncode == 0
    environ = {k: v for k, v in os.environ.items()
               if k not in ("DATABASE_URL", "DIRECT_DATABASE_URL")}
    with psycopg.connect(db_url) as holder:
        holder.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")  # held: open transaction
        proc = subprocess.Popen([TRIMTAB, "migrate", "--url", db_url], cwd=project,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=environ, stdin=subprocess.DEVNULL)
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        seen = []
        try:
            while True:  # await the runner saying it retries
                line = lines.get(timeout=60)
                assert line is not None, "".join(seen)
                seen.append(line)
                if "retrying in" in line:
                    break
        finally:
            holder.rollback()  # the lock goes while the runner waits to retry
        assert proc.wait(timeout=60) == 0
    while (line := lines.get(timeout=60)) is not None:
        seen.append(line)
    output = "".join(seen)
    assert "gave up waiting for a lock" in output and "Applied 1 migration" in output, output
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM information_schema.columns WHERE "
                            "table_name = 'orders' AND column_name = 'placed'"
                            ).fetchone() == (1,)


def test_a_failed_concurrent_build_is_rebuilt(project: Path, db_url: str) -> None:
    _with_rows(project, db_url)
    write(project, BEFORE.replace("code text", "code text UNIQUE"))
    assert run(project, "generate", "--url", db_url).returncode == 0
    with psycopg.connect(db_url, autocommit=True) as conn:  # a duplicate arrives meanwhile
        conn.execute("UPDATE orders SET code = 'o1' WHERE id = 2")
    failed = run(project, "migrate", "--url", db_url)
    assert failed.returncode == 1
    assert "could not create unique index" in failed.stderr, failed.stderr
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = "
                            "'orders_code_key'::regclass").fetchone() == (False,)
        conn.execute("UPDATE orders SET code = 'o2' WHERE id = 2")
    again = run(project, "migrate", "--url", db_url)
    assert again.returncode == 0, again.stdout + again.stderr
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT i.indisvalid, c.contype FROM pg_index i JOIN pg_constraint "
                            "c ON c.conindid = i.indexrelid WHERE c.conname = "
                            "'orders_code_key'").fetchone() == (True, "u")
    assert "Nothing to generate" in run(project, "generate", "--url", db_url).stdout
    assert _push_plan(project, db_url) == []


def test_a_bad_timeout_setting_is_named(project: Path, db_url: str) -> None:
    (project / "trimtab.toml").write_text('schema = "schema.sql"\nlock_timeout = "soon"\n')
    write(project, BEFORE)
    r = run(project, "generate", "--url", db_url)
    assert r.returncode != 0
    assert "lock_timeout" in r.stderr and "trimtab.toml" in r.stderr, r.stderr
    assert not (project / "migrations").exists()
