"""``trimtab migrate --backup``: pg_dump before migrating, restorable, refusal when it
fails, and no password in output or pg_dump's argv."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
from psycopg import sql as pgsql

from tests.conftest import with_database
from tests.test_cli_push import run, write
from tests.test_down_migrations import catalog, pg_bin
from trimtab.migrations import backup as backups


def test_backup_is_written_and_restores(project: Path, db_url: str, admin_url: str) -> None:
    write(project, "CREATE TABLE users (id int PRIMARY KEY, name text);\n")
    assert run(project, "generate", "--url", db_url).returncode == 0
    assert run(project, "migrate", "--url", db_url).returncode == 0
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO users VALUES (1, 'ann')")
    before = catalog(db_url)
    write(project, "CREATE TABLE users (id int PRIMARY KEY);\n")
    assert run(project, "generate", "--url", db_url, "--force").returncode == 0
    dump = project / "before.dump"
    r = run(project, "migrate", "--url", db_url, "--backup", str(dump))
    assert r.returncode == 0, r.stderr
    assert f"Backup: {dump}" in " ".join(r.stdout.split())
    assert "pg_restore" in r.stdout
    assert dump.read_bytes()[:5] == b"PGDMP"  # custom format
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS restored")
        conn.execute("CREATE DATABASE restored")
    restored = with_database(admin_url, "restored")
    subprocess.run([pg_bin("pg_restore"), "--no-owner", f"--dbname={restored}", str(dump)],
                   check=True, capture_output=True)
    assert catalog(restored) == before
    with psycopg.connect(restored) as conn:
        assert conn.execute("SELECT name FROM users").fetchall() == [("ann",)]


def test_a_failed_backup_stops_the_migration(project: Path, db_url: str) -> None:
    write(project, "CREATE TABLE t (id int);\n")
    assert run(project, "generate", "--url", db_url).returncode == 0
    blocker = project / "file"
    blocker.write_text("")
    r = run(project, "migrate", "--url", db_url, "--backup", str(blocker / "x.dump"))
    assert r.returncode != 0
    assert "the backup failed, nothing was migrated" in r.stdout + r.stderr
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT to_regclass('t')").fetchone() == (None,)


def test_no_pg_dump_of_the_servers_version_is_refused(tmp_path: Path,
                                                       monkeypatch) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "pg_dump").write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 11.0'\n")
    (fake / "pg_dump").chmod(0o755)
    monkeypatch.setenv("PATH", str(fake))
    monkeypatch.setenv("TRIMTAB_PG_BIN", str(fake))
    try:
        backups.find_pg_dump(9)
    except Exception as e:  # noqa: BLE001 - the message is what is tested
        assert "no pg_dump of PostgreSQL 9" in str(e)
        assert "PostgreSQL 11" in str(e)
    else:
        raise AssertionError("a pg_dump of another version was accepted")


def test_the_password_goes_through_the_environment(project: Path, db_url: str,
                                                   admin_url: str, tmp_path: Path) -> None:
    secret = "s3cret-pw-xyz"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(pgsql.SQL("DROP ROLE IF EXISTS backup_user"))
        conn.execute(pgsql.SQL("CREATE ROLE backup_user LOGIN SUPERUSER PASSWORD {}").format(
            pgsql.Literal(secret)))
    params = psycopg.conninfo.conninfo_to_dict(db_url)
    params.update(user="backup_user", password=secret)
    url = psycopg.conninfo.make_conninfo(**params)
    # A pg_dump that records its argv and environment, then runs the real one.
    log = tmp_path / "argv.log"
    wrapper = tmp_path / "bin" / "pg_dump"
    wrapper.parent.mkdir()
    wrapper.write_text(f"#!/bin/sh\nif [ \"$1\" = --version ]; then exec {pg_bin('pg_dump')} "
                       f"--version; fi\necho \"$@\" >> {log}\necho \"PW=$PGPASSWORD\" >> {log}\n"
                       f"exec {pg_bin('pg_dump')} \"$@\"\n")
    wrapper.chmod(0o755)
    write(project, "CREATE TABLE t (id int);\n")
    assert run(project, "generate", "--url", db_url).returncode == 0
    r = run(project, "migrate", "--url", url, "--backup",
            env={"TRIMTAB_PG_BIN": str(wrapper.parent)})
    assert r.returncode == 0, r.stderr
    assert secret not in r.stdout + r.stderr
    argv, env = log.read_text().splitlines()
    assert secret not in argv
    assert env == f"PW={secret}"  # it was there, in the environment
    assert list((project / ".trimtab" / "backups").glob("*.dump"))
