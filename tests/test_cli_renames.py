"""Renames as a user meets them: hints in the schema file, the question on a terminal, the
error without one, --force, and migrations."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path

import psycopg

from tests.conftest import SqlRunner
from tests.test_cli_push import TRIMTAB, run

BEFORE = "CREATE TABLE users (\n  id serial PRIMARY KEY,\n  full_name text NOT NULL\n);\n"
AFTER = "CREATE TABLE users (\n  id serial PRIMARY KEY,\n  name text NOT NULL\n);\n"
HINTED = ("CREATE TABLE users (\n  id serial PRIMARY KEY,\n"
          "  -- trimtab: renamed from full_name\n  name text NOT NULL\n);\n")


def seed(project: Path, db_url: str, sql: SqlRunner) -> None:
    (project / "schema.sql").write_text(BEFORE)
    assert run(project, "push", "--url", db_url).returncode == 0
    sql("INSERT INTO users (full_name) VALUES ('Ada'), ('Grace')")


def test_without_a_tty_a_possible_rename_stops_with_the_line_to_add(
        project: Path, db_url: str, sql: SqlRunner) -> None:
    seed(project, db_url, sql)
    (project / "schema.sql").write_text(AFTER)
    r = run(project, "push", "--url", db_url)
    assert r.returncode == 1
    assert "column public.users.full_name -> name: renamed, or dropped and created?" in r.stderr
    assert "add `-- trimtab: renamed from full_name` above" in r.stderr
    assert "schema.sql:3" in r.stderr
    assert sql("SELECT full_name FROM users ORDER BY id") == [("Ada",), ("Grace",)]
    doc = json.loads(run(project, "push", "--url", db_url, "--json").stdout)
    assert doc["error"]["candidates"][0]["hint"] == "-- trimtab: renamed from full_name"


def test_a_hint_renames_and_keeps_the_data(project: Path, db_url: str, sql: SqlRunner) -> None:
    seed(project, db_url, sql)
    (project / "schema.sql").write_text(HINTED)
    r = run(project, "push", "--url", db_url)
    assert r.returncode == 0, r.stderr
    assert "rename column public.users.full_name to name" in r.stdout
    assert "renames-column" in r.stdout  # the hazard: code reading full_name breaks
    assert sql("SELECT name FROM users ORDER BY id") == [("Ada",), ("Grace",)]
    # The hint stays in the file and is a no-op from now on.
    again = run(project, "push", "--url", db_url)
    assert again.returncode == 0 and "Nothing to do" in again.stdout


def test_force_drops_and_creates_and_says_so(project: Path, db_url: str,
                                             sql: SqlRunner) -> None:
    seed(project, db_url, sql)
    sql("DELETE FROM users")  # else the new NOT NULL column could not be added
    (project / "schema.sql").write_text(AFTER)
    r = run(project, "push", "--url", db_url, "--force")
    assert r.returncode == 0, r.stderr
    assert "dropped and created (--force" in r.stdout
    assert "drop column public.users.full_name" in r.stdout


def test_dry_run_lists_possible_renames(project: Path, db_url: str, sql: SqlRunner) -> None:
    seed(project, db_url, sql)
    (project / "schema.sql").write_text(AFTER)
    r = run(project, "push", "--url", db_url, "--dry-run")
    assert r.returncode == 0
    assert "possible rename: column public.users.full_name -> name" in r.stderr
    assert "-- warning: drops column public.users.full_name: 2 non-null values" in r.stdout
    doc = json.loads(run(project, "push", "--url", db_url, "--dry-run", "--json").stdout)
    assert doc["rename_candidates"][0]["old"] == "full_name"


def test_generate_writes_the_rename_into_the_migration(project: Path, db_url: str) -> None:
    (project / "schema.sql").write_text(BEFORE)
    assert run(project, "generate", "--url", db_url).returncode == 0
    (project / "schema.sql").write_text(HINTED)
    r = run(project, "generate", "--url", db_url)
    assert r.returncode == 0, r.stderr
    second = sorted((project / "migrations").glob("0001_*.sql"))
    assert len(second) == 1
    assert second[0].read_text().strip() == (  # the timeouts of every transactional file
        "SET lock_timeout = '5s';\n--> statement-breakpoint\n"
        "SET statement_timeout = '0';\n--> statement-breakpoint\n"
        'ALTER TABLE public.users RENAME COLUMN full_name TO name;')
    assert "Nothing to generate" in run(project, "generate", "--url", db_url).stdout


def _tty_run(cwd: Path, answers: list[str], *args: str) -> tuple[int, str]:
    """Run trimtab on a pseudo-terminal, answering each prompt in turn."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    env.update({"COLUMNS": "200", "TERM": "dumb"})
    proc = subprocess.Popen([TRIMTAB, *args], cwd=cwd, stdin=slave, stdout=slave,
                            stderr=slave, env=env, close_fds=True)
    os.close(slave)
    output, pending = b"", list(answers)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
            if pending and output.rstrip().endswith((b":", b"]", b"?")):
                os.write(master, (pending.pop(0) + "\n").encode())
        elif proc.poll() is not None:
            break
    proc.wait(timeout=10)
    os.close(master)
    return proc.returncode, output.decode(errors="replace")


def test_on_a_tty_push_asks_and_writes_the_hint(project: Path, db_url: str,
                                                sql: SqlRunner) -> None:
    seed(project, db_url, sql)
    (project / "schema.sql").write_text(AFTER)
    code, output = _tty_run(project, ["rename", "y"], "push", "--url", db_url)
    assert code == 0, output
    assert "renamed, or dropped and created?" in output
    assert "-- trimtab: renamed from full_name" in (project / "schema.sql").read_text()
    assert sql("SELECT name FROM users ORDER BY id") == [("Ada",), ("Grace",)]
    with psycopg.connect(db_url) as conn:  # nothing else happened to the table
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (2,)
