"""generate / migrate / status / check as a user runs them: the console script, real files,
a real server."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg

from tests.test_cli_push import run, tables, write


def sql_files(project: Path) -> list[str]:
    return sorted(p.name for p in (project / "migrations").glob("*.sql"))


def test_generate_then_nothing(project: Path, db_url: str) -> None:
    write(project, "CREATE TABLE users (id int PRIMARY KEY);\n")
    first = run(project, "generate", "--url", db_url)
    assert first.returncode == 0, first.stderr
    assert sql_files(project) == ["0000_init.sql"]
    meta = project / "migrations" / "meta"
    assert sorted(p.name for p in meta.iterdir()) == ["0000_snapshot.json", "_journal.json",
                                                      "trimtab.sum"]
    again = run(project, "generate", "--url", db_url)
    assert again.returncode == 0
    assert "Nothing to generate" in again.stdout
    assert sql_files(project) == ["0000_init.sql"]
    assert tables(db_url) == []  # generate never touches the database


def test_generate_names_what_changed(project: Path, db_url: str) -> None:
    write(project, "CREATE TABLE posts (id int PRIMARY KEY);\n")
    assert run(project, "generate", "--url", db_url).returncode == 0
    write(project, "CREATE TABLE posts (id int PRIMARY KEY, slug text);\n")
    r = run(project, "generate", "--url", db_url)
    assert r.returncode == 0, r.stderr
    assert sql_files(project) == ["0000_init.sql", "0001_add_posts_slug.sql"]
    text = (project / "migrations" / "0001_add_posts_slug.sql").read_text()
    assert text.strip() == ("SET lock_timeout = '5s';\n--> statement-breakpoint\n"
                            "SET statement_timeout = '0';\n--> statement-breakpoint\n"
                            "ALTER TABLE public.posts ADD COLUMN slug text;")
    named = project / "schema.sql"
    named.write_text("CREATE TABLE posts (id int PRIMARY KEY, slug text, body text);\n")
    assert run(project, "generate", "--url", db_url, "--name", "Post Body!").returncode == 0
    assert sql_files(project)[-1] == "0002_post_body.sql"


def test_a_custom_migration_is_never_repeated(project: Path, db_url: str) -> None:
    write(project, "CREATE TABLE t (id int);\n")
    assert run(project, "generate", "--url", db_url).returncode == 0
    custom = run(project, "generate", "--url", db_url, "--custom", "--name", "add_note")
    assert custom.returncode == 0, custom.stderr
    path = project / "migrations" / "0001_add_note.sql"
    path.write_text(path.read_text() + "ALTER TABLE t ADD COLUMN note text;\n")
    assert run(project, "check").returncode == 1  # edited: the sum says so
    assert run(project, "check", "--update-sum").returncode == 0
    write(project, "CREATE TABLE t (id int, note text);\n")
    r = run(project, "generate", "--url", db_url)
    assert "Nothing to generate" in r.stdout, r.stdout + r.stderr


def test_generate_refuses_data_loss_without_force(project: Path, db_url: str) -> None:
    write(project, "CREATE TABLE t (id int, email text);\n")
    assert run(project, "generate", "--url", db_url).returncode == 0
    write(project, "CREATE TABLE t (id int);\n")
    refused = run(project, "generate", "--url", db_url)
    assert refused.returncode == 1
    assert "drops column public.t.email" in refused.stderr
    assert sql_files(project) == ["0000_init.sql"]
    forced = run(project, "generate", "--url", db_url, "--force")
    assert forced.returncode == 0
    assert sql_files(project) == ["0000_init.sql", "0001_drop_t_email.sql"]


def test_migrate_status_and_drift(project: Path, db_url: str) -> None:
    write(project, "CREATE TABLE users (id int PRIMARY KEY, name text);\n")
    assert run(project, "generate", "--url", db_url).returncode == 0
    status = json.loads(run(project, "status", "--url", db_url, "--json").stdout)
    assert (status["applied"], status["pending"]) == ([], ["0000_init"])
    dry = run(project, "migrate", "--url", db_url, "--dry-run")
    assert "would apply" in dry.stdout and tables(db_url) == []
    assert "CREATE TABLE public.users" in dry.stdout
    applied = run(project, "migrate", "--url", db_url)
    assert applied.returncode == 0, applied.stderr
    assert tables(db_url) == ["users"]
    assert "Up to date" in run(project, "migrate", "--url", db_url).stdout
    status = json.loads(run(project, "status", "--url", db_url, "--json").stdout)
    assert status["applied"] == ["0000_init"]
    assert status["drift"] == [] and status["not_in_a_migration"] == []
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE users ADD COLUMN nickname text")
    status = json.loads(run(project, "status", "--url", db_url, "--json").stdout)
    assert [d["message"] for d in status["drift"]] == [
        "column public.users.nickname exists in the database but in no migration"]


def test_migrate_applies_a_drizzle_kit_folder(project: Path, db_url: str) -> None:
    source = Path(__file__).parent / "data" / "drizzle-folder"
    target = project / "migrations"
    for path in source.rglob("*"):
        if path.is_file():
            dest = target / path.relative_to(source)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(path.read_bytes())
    r = run(project, "migrate", "--url", db_url)
    assert r.returncode == 0, r.stderr
    assert "users" in tables(db_url)
    assert "Up to date" in run(project, "migrate", "--url", db_url).stdout


def test_reset_rebuilds_and_seeds(project: Path, db_url: str) -> None:
    (project / "trimtab.toml").write_text('schema = "schema.sql"\nseed = "seed.sql"\n')
    write(project, "CREATE TABLE users (id int PRIMARY KEY, name text);\n")
    (project / "seed.sql").write_text("INSERT INTO users VALUES (1, 'ada'), (2, 'grace');\n")
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA junk; CREATE TABLE junk.x (id int);"
                     "CREATE TABLE users (id int PRIMARY KEY, name text, extra int);"
                     "INSERT INTO users VALUES (9, 'old', 1)")
    refused = run(project, "reset", "--url", db_url)
    assert refused.returncode == 1 and "--yes" in refused.stderr
    r = run(project, "reset", "--url", db_url, "--yes")
    assert r.returncode == 0, r.stderr
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT id, name FROM users ORDER BY id").fetchall() == [
            (1, "ada"), (2, "grace")]
        # A schema the schema file never mentions is not reset's to drop (docs/scope.md).
        assert conn.execute("SELECT count(*) FROM junk.x").fetchone() == (0,)
    assert "not managed by trimtab: schema junk (1 table)" in r.stdout


def test_reset_with_migrations(project: Path, db_url: str) -> None:
    write(project, "CREATE TABLE t (id int);\n")
    assert run(project, "generate", "--url", db_url).returncode == 0
    assert run(project, "migrate", "--url", db_url).returncode == 0
    r = run(project, "reset", "--url", db_url, "--migrations", "--yes")
    assert r.returncode == 0, r.stderr
    assert "rebuilt from the migrations (1 applied)" in r.stdout
    assert tables(db_url) == ["t"]


def test_reset_refuses_a_remote_host(project: Path) -> None:
    write(project, "CREATE TABLE t (id int);\n")
    r = run(project, "reset", "--url", "postgresql://u@db.example.com:5432/app", "--yes")
    assert r.returncode == 1
    assert "not on this machine" in r.stderr


def test_export_scripts_install_the_schema(project: Path, db_url: str) -> None:
    write(project, "CREATE TYPE mood AS ENUM ('ok');\n"
                   "CREATE TABLE t (id int PRIMARY KEY, m mood);\nCREATE INDEX ON t (m);\n")
    plain = run(project, "export", "--url", db_url)
    assert plain.returncode == 0, plain.stderr
    install = project / "INSTALL.sql"
    r = run(project, "export", "--idempotent", "--url", db_url, "-o", str(install))
    assert r.returncode == 0, r.stderr
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(plain.stdout.encode())
        conn.execute(install.read_text().encode())  # again, over the installed schema
    assert tables(db_url) == ["t"]
    assert run(project, "push", "--url", db_url, "--dry-run").stdout == ""


def test_five_concurrent_migrate_commands_apply_each_migration_once(
        project: Path, db_url: str) -> None:
    import subprocess

    from tests.test_cli_push import TRIMTAB

    write(project, "CREATE TABLE events (id int PRIMARY KEY, note text);\n")
    assert run(project, "generate", "--url", db_url).returncode == 0
    assert run(project, "generate", "--url", db_url, "--custom", "--name", "seed").returncode == 0
    path = project / "migrations" / "0001_seed.sql"
    path.write_text(path.read_text() + "INSERT INTO events VALUES (1, 'once');\n"
                    "--> statement-breakpoint\nSELECT pg_sleep(0.5);\n")
    assert run(project, "check", "--update-sum").returncode == 0
    procs = [subprocess.Popen([TRIMTAB, "migrate", "--url", db_url], cwd=project,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              stdin=subprocess.DEVNULL) for _ in range(5)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert [code for code, _ in results] == [0] * 5, results
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (1,)
        rows = conn.execute("SELECT name FROM trimtab.migrations ORDER BY name").fetchall()
    assert rows == [("0000_init",), ("0001_seed",)]
