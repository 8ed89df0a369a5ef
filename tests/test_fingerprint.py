"""The no-op push's record (sources/fingerprint.py) must never say "Nothing to do" when a
push would plan something: every kind of DDL made by hand between two pushes, an edited
schema file, another configuration and other code each send push down the full path."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.conftest import SqlRunner
from trimtab import engine
from trimtab.config import Config, load_config
from trimtab.sources import fingerprint

SCHEMA = """\
CREATE TYPE mood AS ENUM ('calm', 'busy');
CREATE TABLE item (id int PRIMARY KEY, name text NOT NULL, m mood);
CREATE SEQUENCE ticket;
CREATE FUNCTION one() RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
"""


def _setup(root: Path, db_url: str, schema: str = SCHEMA) -> Config:
    (root / "schema.sql").write_text(schema)
    cfg = load_config(root, url=db_url)
    first = engine.push(cfg, force=True)  # creates everything in place
    assert first.applied and not first.unchanged
    # The full path finds nothing to do, and records it. (The first shadow on a server
    # makes its sandbox role, which changes the fingerprint once.)
    for _ in range(2):
        assert not engine.push(cfg).plan
    return cfg


def test_an_unchanged_push_reads_nothing(project: Path, db_url: str, sql: SqlRunner) -> None:
    cfg = _setup(project, db_url)
    again = engine.push(cfg)
    assert again.unchanged and not again.plan and not again.applied
    # Data is not schema: a plan never depends on it when there is no plan.
    sql("INSERT INTO item VALUES (1, 'a', 'calm')")
    sql("SELECT nextval('ticket')")
    assert engine.push(cfg, dry_run=True).unchanged


def test_the_record_keeps_what_the_no_op_said(project: Path, db_url: str,
                                               sql: SqlRunner) -> None:
    sql("CREATE PUBLICATION everything")  # said as not managed by trimtab
    (project / "schema.sql").write_text(SCHEMA)
    cfg = load_config(project, url=db_url)
    engine.push(cfg, force=True)
    full = engine.push(cfg)
    assert not full.plan and not full.unchanged
    fast = engine.push(cfg)
    assert fast.unchanged
    assert full.plan.unmanaged
    assert (fast.plan.unmanaged, fast.notes) == (full.plan.unmanaged, full.notes)


def _owner_change(sql: SqlRunner) -> Callable[[], None]:
    role = f"tt_owner_{uuid.uuid4().hex[:8]}"
    sql(f"CREATE ROLE {role}")
    sql(f"ALTER TABLE item OWNER TO {role}")

    def undo() -> None:
        sql(f"DROP OWNED BY {role}")
        sql(f"DROP ROLE {role}")
    return undo


# Each is made by hand between two pushes; the second must plan (or at least look).
DDL = {
    "column add": "ALTER TABLE item ADD COLUMN extra int",
    "column drop": "ALTER TABLE item DROP COLUMN m",
    "type change": "ALTER TABLE item ALTER COLUMN name TYPE varchar(20)",
    "not null": "ALTER TABLE item ALTER COLUMN name DROP NOT NULL",
    "default": "ALTER TABLE item ALTER COLUMN name SET DEFAULT 'x'",
    "rename": "ALTER TABLE item RENAME COLUMN name TO title",
    "index": "CREATE INDEX item_name ON item (name)",
    "constraint": "ALTER TABLE item ADD CONSTRAINT positive CHECK (id > 0)",
    "comment": "COMMENT ON COLUMN item.name IS 'what it is called'",
    "grant": "GRANT SELECT ON item TO PUBLIC",
    "policy": "CREATE POLICY mine ON item USING (true)",
    "rls": "ALTER TABLE item ENABLE ROW LEVEL SECURITY",
    "trigger": "CREATE TRIGGER touched BEFORE UPDATE ON item "
               "FOR EACH ROW EXECUTE FUNCTION touch()",
    "function body": "CREATE OR REPLACE FUNCTION one() RETURNS int LANGUAGE sql "
                     "AS 'SELECT 2'",
    "enum value": "ALTER TYPE mood ADD VALUE 'gone'",
    "sequence option": "ALTER SEQUENCE ticket INCREMENT BY 5",
    "extension": "CREATE EXTENSION citext",
    "default privileges": "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC",
    "collation": 'CREATE COLLATION nocase FROM "C"',
    "view": "CREATE VIEW names AS SELECT name FROM item",
    "schema": "CREATE SCHEMA other",
    "table in another schema": "CREATE SCHEMA other; CREATE TABLE other.t (id int)",
    "drop": "DROP FUNCTION one()",
    "database setting": "DO $$BEGIN EXECUTE format('ALTER DATABASE %I SET search_path = "
                        "pg_catalog, public', current_database()); END$$",
}


@pytest.mark.parametrize("kind", [*DDL, "owner change"])
def test_ddl_by_hand_sends_push_down_the_full_path(kind: str, project: Path, db_url: str,
                                                    sql: SqlRunner) -> None:
    cfg = _setup(project, db_url)
    with psycopg.connect(db_url) as conn:
        before = fingerprint.catalog_fingerprint(conn)
    undo = None
    if kind == "owner change":
        undo = _owner_change(sql)
    else:
        sql(DDL[kind])
    try:
        with psycopg.connect(db_url) as conn:
            assert fingerprint.catalog_fingerprint(conn) != before
        result = engine.push(cfg, dry_run=True)
        assert not result.unchanged
        if kind in ("column add", "type change", "index", "constraint", "function body",
                    "enum value", "sequence option", "trigger", "policy", "rename"):
            assert result.plan, f"{kind}: push plans to undo it"
    finally:
        if undo:
            undo()


def test_schema_config_and_code_each_invalidate(project: Path, db_url: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _setup(project, db_url)
    assert engine.push(cfg).unchanged
    # Another trimtab (or an edited checkout): what it would plan is its own.
    with monkeypatch.context() as m:
        m.setattr(fingerprint, "code_version", lambda: "another version")
        assert not engine.push(cfg).unchanged
    assert not engine.push(cfg).unchanged  # the other version's record replaced this one's
    assert engine.push(cfg).unchanged
    # Another configuration: a setting that shapes the plan.
    (project / "trimtab.toml").write_text('schema = "schema.sql"\nonline = false\n')
    cfg = load_config(project, url=db_url)
    assert not engine.push(cfg).unchanged
    assert engine.push(cfg).unchanged
    # An edited schema file: the change is planned, not skipped.
    (project / "schema.sql").write_text(SCHEMA + "CREATE TABLE added (id int);\n")
    edited = engine.push(cfg, dry_run=True)
    assert not edited.unchanged and edited.plan
    # The same bytes again but a touched file: same content, same record.
    (project / "schema.sql").write_text(SCHEMA)
    assert engine.push(cfg).unchanged


def test_a_spoiled_record_is_not_trusted(project: Path, db_url: str) -> None:
    cfg = _setup(project, db_url)
    records = list((project / ".trimtab" / "noop").glob("*.json"))
    assert len(records) == 1
    records[0].write_text("{not json")
    assert not engine.push(cfg).unchanged
    records[0].write_text('{"key": 1}')
    assert not engine.push(cfg).unchanged
    assert engine.push(cfg).unchanged


def test_a_catalog_it_may_not_read_means_the_full_path(project: Path, db_url: str,
                                                       sql: SqlRunner) -> None:
    role = f"tt_reader_{uuid.uuid4().hex[:8]}"
    sql(f"CREATE ROLE {role} LOGIN")
    try:
        sql("REVOKE SELECT ON pg_catalog.pg_seclabel FROM PUBLIC")
        url = psycopg.conninfo.make_conninfo(db_url, user=role)
        noop = fingerprint.Noop(project / "record.json", "key")
        with psycopg.connect(url) as conn:
            assert noop.check(conn) == noop  # no fingerprint, no record
            assert conn.execute("SELECT 1").fetchone() == (1,)  # and the push goes on
        noop.remember(notes=[], unmanaged=[])
        assert not (project / "record.json").exists()
    finally:
        sql(f"DROP ROLE {role}")


def test_the_record_holds_no_password(tmp_path: Path) -> None:
    path = fingerprint.record_path(tmp_path, "postgresql://u:s3cret@h/db")
    assert path == fingerprint.record_path(tmp_path, "postgresql://u:other@h/db")
    assert path != fingerprint.record_path(tmp_path, "postgresql://u:s3cret@h/db2")


def test_the_cli_says_nothing_to_do(project: Path, db_url: str) -> None:
    (project / "schema.sql").write_text(SCHEMA)
    env = {**os.environ, "DATABASE_URL": db_url}
    exe = [sys.executable, "-m", "trimtab", "push", "--force"]
    runs = [subprocess.run(exe, cwd=project, env=env, capture_output=True, text=True,
                           check=True) for _ in range(3)]
    assert "Nothing to do" not in runs[0].stdout
    assert all("Nothing to do" in r.stdout for r in runs[1:])
    assert runs[1].stdout == runs[2].stdout


def test_a_recorded_noop_generate_follows_the_folder_and_the_schema(project: Path,
                                                                     db_url: str) -> None:
    """generate keeps a no-op record too (its schema files, the folder's journal and .sql
    files, configuration, code and catalogs): a hand-edited migration or an edited schema
    file must each send it down the full path."""
    (project / "schema.sql").write_text("CREATE TABLE item (id int PRIMARY KEY);\n")
    cfg = load_config(project, url=db_url)
    assert engine.generate(cfg).migration is not None
    record = fingerprint.record_path(project, "generate\0" + engine.resolve_target(cfg).url)
    for _ in range(3):  # the first shadows on a server change its roles once
        assert engine.generate(cfg).migration is None
    assert record.is_file()
    assert engine.generate(cfg).migration is None  # from the record
    written = next((project / "migrations").glob("*.sql"))
    written.write_text(written.read_text() + "\n--> statement-breakpoint\n"
                       "CREATE TABLE extra (id int);\n")
    dropped = engine.generate(cfg, force=True, name="drop_extra").migration
    assert dropped is not None and "DROP TABLE public.extra" in dropped.path.read_text()
    assert engine.generate(cfg).migration is None
    (project / "schema.sql").write_text("CREATE TABLE item (id int PRIMARY KEY, n int);\n")
    added = engine.generate(cfg, name="add_n").migration
    assert added is not None and "ADD COLUMN n integer" in added.path.read_text()


def test_the_first_shadow_on_a_new_server_does_not_spoil_the_record(tmp_path: Path) -> None:
    """A server where trimtab never built a shadow gets its sandbox role during the first
    no-op push, after that push took the fingerprint: the role is trimtab's own and not
    part of what a plan reads, so the record that push writes holds for the next one."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "trimtab.toml").write_text('schema = "schema.sql"\n')
    (root / "schema.sql").write_text(SCHEMA)
    cfg = load_config(root, environ={})  # no URL: a new embedded server of its own
    assert engine.push(cfg, force=True).applied
    full = engine.push(cfg)  # the server's first shadow: the full path, recorded
    assert not full.plan and not full.unchanged
    assert engine.push(cfg).unchanged


def test_a_recorded_noop_generate_loads_no_engine(project: Path, db_url: str) -> None:
    """The command line checks generate's record before it loads the engine, as push's:
    the files hashed and one catalog query."""
    import json

    from tests.test_startup import _MODULES_AT_EXIT, NOT_FOR_RECORDED_NOOP
    from trimtab.migrations import folder

    assert fingerprint.JOURNAL == folder.JOURNAL

    def generate() -> tuple[subprocess.CompletedProcess[str], list[str]]:
        run = subprocess.run([sys.executable, "-c", _MODULES_AT_EXIT, "generate"],
                             cwd=project, env={**os.environ, "DATABASE_URL": db_url},
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        return run, json.loads(run.stderr.rsplit("MODULES ", 1)[1])

    (project / "schema.sql").write_text("create table item (id int primary key);\n")
    first, names = generate()  # writes, replays what it wrote, records the no-op
    assert "Wrote" in first.stdout and "trimtab.engine" in names
    again, names = generate()
    assert "Nothing to generate" in again.stdout, again.stdout
    assert "psycopg" in names  # the measure saw it connect
    assert [n for n in names if any(n == m or n.startswith(m + ".")
                                    for m in NOT_FOR_RECORDED_NOOP)] == []
    # A hand edit of the migration misses the record: the engine replays the folder.
    written = next((project / "migrations").glob("*.sql"))
    written.write_text(written.read_text() + "--> statement-breakpoint\n"
                       "CREATE INDEX item_id ON item (id);\n")
    edited, names = generate()
    assert "trimtab.engine" in names and "Wrote" in edited.stdout, edited.stdout
    assert "DROP INDEX" in edited.stdout or "drop index" in edited.stdout.lower(), edited.stdout


def test_a_recorded_status_follows_the_tracking_rows(project: Path, db_url: str) -> None:
    """status keeps a record too, and which migrations are applied is in the tracking
    table's rows: a migration that only writes data changes no catalog, and the record
    must not still call it pending once migrate applied it."""
    (project / "schema.sql").write_text("CREATE TABLE item (id int PRIMARY KEY);\n")
    cfg = load_config(project, url=db_url)
    assert engine.generate(cfg).migration is not None
    engine.migrate(cfg)
    seed = engine.generate(cfg, custom=True, name="seed").migration
    assert seed is not None
    seed.path.write_text("INSERT INTO item VALUES (1);\n")
    for _ in range(2):  # the first shadows on a server change its roles once
        assert engine.status(cfg, record=True).pending == (seed.name,)
    said = fingerprint.recorded_status(cfg)
    assert said is not None and said["pending"] == [seed.name]  # the record holds
    assert said == engine.status(cfg, record=True).view()
    engine.migrate(cfg)
    assert fingerprint.recorded_status(cfg) is None
    assert engine.status(cfg, record=True).pending == ()
    assert fingerprint.recorded_status(cfg) == engine.status(cfg, record=True).view()


def test_a_recorded_status_follows_the_schema_the_folder_and_the_database(
        project: Path, db_url: str, sql: SqlRunner) -> None:
    (project / "schema.sql").write_text("CREATE TABLE item (id int PRIMARY KEY);\n")
    cfg = load_config(project, url=db_url)
    assert engine.generate(cfg).migration is not None
    engine.migrate(cfg)
    engine.status(cfg)  # the language server's, the studio's, a fleet's: not recorded
    assert fingerprint.recorded_status(cfg) is None
    for _ in range(2):
        engine.status(cfg, record=True)
    assert fingerprint.recorded_status(cfg) is not None
    (project / "schema.sql").write_text("CREATE TABLE item (id int PRIMARY KEY, n int);\n")
    assert fingerprint.recorded_status(cfg) is None
    assert len(engine.status(cfg, record=True).unmigrated.steps) == 1
    added = engine.generate(cfg, name="add_n").migration
    assert added is not None
    assert fingerprint.recorded_status(cfg) is None  # a new file in the folder
    assert engine.status(cfg, record=True).pending == (added.name,)
    assert fingerprint.recorded_status(cfg) is not None
    sql("ALTER TABLE item ADD COLUMN by_hand text")  # drift
    assert fingerprint.recorded_status(cfg) is None
    assert engine.status(cfg, record=True).drift
