"""`trimtab migrate` of the six everyday changes on a table of 200,000 rows while other
connections insert and update it: the online-safe forms keep every writer's wait within the
configured lock_timeout plus a second, lose no write, and leave a schema that has converged.
(bench/online.py runs the same and the plain forms beside it, and times both.)"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from bench.online import migrate_under_traffic, prepare

ROWS = 200_000
LOCK_TIMEOUT = 2.0  # seconds, the project's lock_timeout


@pytest.mark.slow
def test_the_online_forms_migrate_a_busy_table(project: Path, db_url: str) -> None:
    prepare(project, db_url, ROWS, online=True,
            settings=f'lock_timeout = "{LOCK_TIMEOUT:g}s"\nlock_retries = 10\n')
    files = sorted(p.name for p in (project / "migrations").glob("*.sql"))
    assert len(files) == 5, files  # init, and the four online phases
    out = migrate_under_traffic(project, db_url, ROWS, online=True, writers=4)
    assert out.migrate_code == 0, out.migrate_output
    assert "Applied 4 migration" in out.migrate_output, out.migrate_output
    assert out.errors == ()
    assert out.writes > 100  # the writers wrote during the migration
    # No writer waited behind a lock for longer than the migration may hold one.
    assert out.max_wait <= LOCK_TIMEOUT + 1, out
    # Every acknowledged write is there: each insert's row, each update's increment.
    assert out.present == out.inserted
    assert out.total_present == out.total_expected
    assert out.converged, out.files
    assert len(out.files) == 5  # the second generate wrote nothing
    with psycopg.connect(db_url) as conn:  # and the database holds what the schema says
        assert conn.execute(
            "SELECT bool_and(convalidated), count(*) FROM pg_constraint WHERE conrelid = "
            "'orders'::regclass AND contype IN ('c', 'f', 'u')").fetchone() == (True, 3)
        assert conn.execute("SELECT bool_and(indisvalid), count(*) FROM pg_index WHERE "
                            "indrelid = 'orders'::regclass").fetchone() == (True, 3)
        assert conn.execute("SELECT attnotnull FROM pg_attribute WHERE attrelid = "
                            "'orders'::regclass AND attname = 'total'").fetchone() == (True,)
