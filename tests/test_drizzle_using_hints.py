"""`// trimtab: using <expr>` beside a column of a pgTable: the Drizzle form of the SQL
using hint, for a conversion PostgreSQL has no cast for (docs/drizzle.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.test_cli_push import run

BEFORE = """import { bigint, integer, pgTable } from "drizzle-orm/pg-core";

export const events = pgTable("events", {
  id: integer("id").primaryKey(),
  at: bigint("at", { mode: "number" }),
});
"""

TRAILING = """import { integer, pgTable, timestamp } from "drizzle-orm/pg-core";

export const events = pgTable("events", {
  id: integer("id").primaryKey(),
  at: timestamp("at"), // trimtab: using to_timestamp(at) AT TIME ZONE 'UTC'
});
"""

ABOVE = """import { integer, pgTable, timestamp } from "drizzle-orm/pg-core";

export const events = pgTable("events", {
  id: integer("id").primaryKey(),
  // trimtab: using to_timestamp(at) AT TIME ZONE 'UTC'
  at: timestamp("at"),
});
"""


@pytest.fixture
def drizzle(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "schema.ts").write_text(BEFORE)
    (tmp_path / "drizzle.config.ts").write_text(
        'export default { dialect: "postgresql", schema: "./src/schema.ts", '
        'out: "./drizzle" };\n')
    return tmp_path


ROWS = [(1, "1970-01-01 00:00:00"), (2, "1970-01-02 00:00:00"), (3, None)]


@pytest.mark.parametrize("schema", [TRAILING, ABOVE], ids=["trailing", "above"])
def test_push_converts_the_rows_with_the_hint(drizzle: Path, db_url: str,
                                              sql: Callable[..., Any], schema: str) -> None:
    assert run(drizzle, "push", "--url", db_url).returncode == 0
    sql("INSERT INTO events VALUES (1, 0), (2, 86400), (3, NULL)")
    (drizzle / "src" / "schema.ts").write_text(schema)
    dry = run(drizzle, "push", "--url", db_url, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "USING to_timestamp(at) AT TIME ZONE 'UTC'" in dry.stdout, dry.stdout
    result = run(drizzle, "push", "--url", db_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sql("SELECT id, at::text FROM events ORDER BY id") == ROWS
    again = run(drizzle, "push", "--url", db_url)
    assert "Nothing to do" in again.stdout, again.stdout + again.stderr


def test_generate_writes_the_conversion_and_migrate_runs_it(
        drizzle: Path, db_url: str, sql: Callable[..., Any]) -> None:
    assert run(drizzle, "generate", "--url", db_url).returncode == 0
    assert run(drizzle, "migrate", "--url", db_url).returncode == 0
    sql("INSERT INTO events VALUES (1, 0), (2, 86400), (3, NULL)")
    (drizzle / "src" / "schema.ts").write_text(TRAILING)
    # bigint -> timestamp rewrites the table: without a terminal, --force agrees.
    result = run(drizzle, "generate", "--url", db_url, "--force")
    assert result.returncode == 0, result.stdout + result.stderr
    newest = sorted((drizzle / "drizzle").glob("*.sql"))[-1].read_text()
    assert "USING to_timestamp(at) AT TIME ZONE 'UTC'" in newest, newest
    migrated = run(drizzle, "migrate", "--url", db_url)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert sql("SELECT id, at::text FROM events ORDER BY id") == ROWS


def test_a_malformed_using_hint_is_an_error_at_its_line(drizzle: Path, db_url: str,
                                                        sql: Callable[..., Any]) -> None:
    assert run(drizzle, "push", "--url", db_url).returncode == 0
    sql("INSERT INTO events VALUES (1, 0)")
    (drizzle / "src" / "schema.ts").write_text(
        TRAILING.replace("AT TIME ZONE 'UTC'", "AT TIME ZONE 'UTC'; DROP TABLE events"))
    result = run(drizzle, "push", "--url", db_url, "--force")
    assert result.returncode != 0
    assert "schema.ts:5" in result.stderr, result.stderr
    assert "using hint" in result.stderr, result.stderr
    assert sql("SELECT at::text FROM events") == [("0",)]
