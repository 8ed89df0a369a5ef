"""trimtab migrate --fleet / status --fleet: many databases (and many tenant schemas of one
database) on the suite's server, and 50 databases over it and two more servers, with faults
injected: a target that is down (a whole server), one that drifted, one whose migration
fails on its rows."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from psycopg import sql as pgsql

from tests.conftest import PgServer, with_database
from tests.test_cli_json import FORMAT, violations
from trimtab import embedded
from trimtab.config import load_config
from trimtab.errors import ConfigError
from trimtab.migrations.folder import write_migration

TRIMTAB = str(Path(sys.executable).parent / "trimtab")
DATABASES = 50
SCHEMAS = 200
# Nothing listens on port 1: connecting is refused at once. The password must never show.
DOWN = "postgresql://fleet:s3cret-pw@127.0.0.1:1/nowhere"

FIRST = ("CREATE TABLE items (id int PRIMARY KEY, qty int NOT NULL)",)
# Two statements: a target whose rows break the second must keep neither.
SECOND = ("ALTER TABLE items ADD COLUMN note text",
          "ALTER TABLE items ADD CONSTRAINT qty_positive CHECK (qty > 0)")


def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TRIMTAB, *args], cwd=project, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=600)


def fleet_json(project: Path, *args: str) -> tuple[int, dict]:
    """The exit code and the --json document, checked against docs/json/format-1.json."""
    p = run(project, *args, "--json")
    assert p.stdout, p.stderr
    doc = json.loads(p.stdout)
    shape = FORMAT["commands"]["error" if "error" in doc else doc["command"]]
    assert violations(doc, shape) == [], violations(doc, shape)
    return p.returncode, doc


def outcomes(doc: dict) -> dict[str, dict]:
    return {t["target"]: t for t in doc["fleet"]}


def query(url: str, text: str, params: object = None) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(text, params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def on_four_connections(admin_url: str, scripts: list[list[pgsql.Composed]]) -> None:
    """Each script's statements in order, four scripts at a time: creating and dropping
    fifty databases one after the other waits on the server's checkpoints one at a time,
    where concurrent ones share them (about half the time)."""
    def execute(script: list[pgsql.Composed]) -> None:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            for statement in script:
                conn.execute(statement)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(execute, scripts))  # list(): re-raises the first failure


@pytest.fixture
def make_databases(pg_server: PgServer) -> Iterator[Callable[[int], list[str]]]:
    """make(n): n fresh databases on the suite's server, dropped afterwards."""
    names: list[str] = []

    def make(n: int) -> list[str]:
        batch = [f"fleet_{uuid.uuid4().hex[:6]}_{i:02d}" for i in range(n)]
        names.extend(batch)  # dropped afterwards if they exist, whatever happens here
        on_four_connections(pg_server.admin_url, [
            [pgsql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                pgsql.Identifier(name), pgsql.Identifier(pg_server.template))]
            for name in batch])
        return [with_database(pg_server.admin_url, name) for name in batch]

    yield make
    on_four_connections(pg_server.admin_url, [
        [pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name))]
        for name in names])


def fleet_project(project: Path, fleet: str = "") -> Path:
    (project / "trimtab.toml").write_text('schema = "schema.sql"\n' + fleet)
    (project / "schema.sql").write_text(
        "CREATE TABLE items (id int PRIMARY KEY, qty int NOT NULL, note text,\n"
        "  CONSTRAINT qty_positive CHECK (qty > 0));\n")
    write_migration(project / "migrations", "first", list(FIRST), None)
    return project


def has_column(url: str, column: str) -> bool:
    return bool(query(url, "SELECT 1 FROM pg_attribute WHERE attrelid = 'items'::regclass "
                      "AND attname = %s AND NOT attisdropped", (column,)))


def test_a_fleet_with_a_down_a_drifted_and_a_failing_target_migrates_the_rest_and_resumes(
        project, make_databases):
    databases = make_databases(DATABASES)
    targets = project / "targets.txt"
    targets.write_text("# the fleet\n" + "\n".join(databases[:25]) + f"\n\n{DOWN}\n"
                       + "\n".join(databases[25:]) + "\n")
    fleet_project(project, "[fleet]\ncanary = 1\nconcurrency = 4\n")
    code, doc = fleet_json(project, "migrate", "--targets", str(targets))
    assert code == 1  # the down target
    first = outcomes(doc)
    assert [first[u]["outcome"] for u in databases] == ["applied"] * DATABASES
    assert first[databases[0]]["canary"] is True
    down = first["postgresql://fleet:***@127.0.0.1:1/nowhere"]
    assert down["outcome"] == "unreachable" and "cannot connect" in down["error"]

    drifted, failing = databases[7], databases[31]
    query(drifted, "ALTER TABLE items ADD COLUMN by_hand int")  # a change made by hand
    query(failing, "INSERT INTO items VALUES (1, 0)")  # breaks the CHECK of SECOND
    write_migration(project / "migrations", "second", list(SECOND), None)
    code, doc = fleet_json(project, "migrate", "--targets", str(targets))
    assert code == 1
    second = outcomes(doc)
    assert second[drifted]["outcome"] == "drifted" and "by_hand" in second[drifted]["error"]
    assert second[failing]["outcome"] == "failed"
    assert "qty_positive" in second[failing]["error"]
    assert second[failing]["pending"] == ["0001_second"]
    rest = [u for u in databases if u not in (drifted, failing)]
    assert all(second[u]["outcome"] == "applied" and second[u]["applied"] == ["0001_second"]
               for u in rest)
    assert all(has_column(u, "note") for u in rest)
    # nothing half-applied: the failing target has neither statement of SECOND, the
    # drifted one was left alone
    assert not has_column(failing, "note") and not has_column(drifted, "note")
    assert query(failing, "SELECT count(*) FROM trimtab.migrations WHERE finished_at IS NOT "
                 "NULL")[0][0] == 1
    p = run(project, "migrate", "--targets", str(targets))
    assert "s3cret-pw" not in p.stdout + p.stderr

    # fixed: a second run applies only what is still pending, where it is pending
    query(failing, "UPDATE items SET qty = 5")
    query(drifted, "ALTER TABLE items DROP COLUMN by_hand")
    code, doc = fleet_json(project, "migrate", "--targets", str(targets))
    third = outcomes(doc)
    assert third[failing]["applied"] == ["0001_second"]
    assert third[drifted]["applied"] == ["0001_second"]
    assert all(third[u]["outcome"] == "up to date" for u in rest)
    assert has_column(failing, "note") and has_column(drifted, "note")


def test_status_fleet_shows_each_targets_applied_pending_and_drift(project, make_databases):
    databases = make_databases(6)
    some = databases[:6]
    targets = project / "targets.txt"
    targets.write_text("\n".join(some) + f"\n{DOWN}\n")
    fleet_project(project)
    subprocess.run([TRIMTAB, "migrate", "--url", some[0]], cwd=project, check=True,
                   capture_output=True)
    query(some[1], "CREATE TABLE items (id int PRIMARY KEY, qty bigint NOT NULL)")
    code, doc = fleet_json(project, "status", "--targets", str(targets))
    rows = outcomes(doc)
    assert code == 1  # a target is unreachable
    assert (rows[some[0]]["applied"], rows[some[0]]["pending"], rows[some[0]]["drift"]) == (
        1, [], [])
    assert rows[some[2]]["pending"] == ["0000_first"] and rows[some[2]]["drift"] == []
    assert rows[some[1]]["pending"] == ["0000_first"]
    assert rows[some[1]]["drift"], "a table made by hand before any migration is drift"
    assert rows["postgresql://fleet:***@127.0.0.1:1/nowhere"]["reachable"] is False
    text = run(project, "status", "--targets", str(targets))
    assert "s3cret-pw" not in text.stdout + text.stderr
    assert some[3].split("?")[0] in text.stdout  # the label whole, never cut


def test_a_failing_canary_stops_the_whole_run(project, make_databases):
    databases = make_databases(5)
    some = databases[:5]
    fleet_project(project, "[fleet]\ntargets = [\n" + "".join(
        f'  "{u}",\n' for u in [DOWN, *some]) + "]\ncanary = 1\n")
    code, doc = fleet_json(project, "migrate", "--fleet")
    assert code == 1
    assert doc["stopped"].startswith("a canary failed")
    assert [t["outcome"] for t in doc["fleet"]] == ["unreachable"] + ["not run"] * 5
    assert not any(query(u, "SELECT to_regclass('items')")[0][0] for u in some)


def test_on_error_stop_starts_no_target_after_a_failure(project, make_databases):
    databases = make_databases(5)
    some = databases[:5]
    query(some[2], "CREATE TABLE items (id int)")  # the migration's CREATE TABLE fails here
    fleet_project(project, "[fleet]\ntargets = [\n" + "".join(
        f'  "{u}",\n' for u in some) + ']\ncanary = 0\nconcurrency = 1\non_error = "stop"\n')
    code, doc = fleet_json(project, "migrate", "--fleet")
    assert code == 1
    got = [t["outcome"] for t in doc["fleet"]]
    assert got[:2] == ["applied", "applied"] and got[2] in ("drifted", "failed")
    assert got[3:] == ["not run", "not run"]
    assert "on_error" in doc["stopped"]


def test_a_targets_query_lists_the_fleet(project, make_databases, db_url):
    databases = make_databases(3)
    some = databases[:3]
    query(db_url, "CREATE TABLE tenants (url text)")
    for u in some:
        query(db_url, "INSERT INTO tenants VALUES (%s)", (u,))
    fleet_project(project, f'database_url = "{db_url}"\n[fleet]\n'
                  'targets_query = "SELECT url FROM tenants ORDER BY url"\n')
    code, doc = fleet_json(project, "migrate", "--fleet")
    assert code == 0, doc
    assert sorted(outcomes(doc)) == sorted(some)
    assert all(t["outcome"] == "applied" for t in doc["fleet"])


@pytest.fixture
def tenants(db_url: str) -> list[str]:
    names = [f"tenant_{i:03d}" for i in range(SCHEMAS)]
    with psycopg.connect(db_url, autocommit=True) as conn:
        for n in names:
            conn.execute(pgsql.SQL("CREATE SCHEMA {}").format(pgsql.Identifier(n)))
        conn.execute("CREATE SCHEMA other")  # not matched by the pattern
    return names


def test_the_same_migrations_go_into_every_tenant_schema_each_with_its_tracking_table(
        project, db_url, tenants):
    fleet_project(project, f'database_url = "{db_url}"\n[fleet]\nschemas = "tenant_%"\n'
                  "concurrency = 4\n")
    code, doc = fleet_json(project, "migrate", "--fleet")
    assert code == 0, doc
    assert len(doc["fleet"]) == SCHEMAS
    assert all(t["outcome"] == "applied" and t["applied"] == ["0000_first"]
               for t in doc["fleet"])
    made = {r[0] for r in query(db_url, "SELECT table_schema FROM information_schema.tables "
                                "WHERE table_name = 'items'")}
    assert made == set(tenants)  # not in public, not in the schema the pattern leaves out
    assert query(db_url, "SELECT to_regclass('trimtab.migrations')")[0][0] is None
    assert query(db_url, "SELECT count(*) FROM trimtab.migrations_tenant_042")[0][0] == 1

    query(db_url, "INSERT INTO tenant_013.items VALUES (1, -1)")
    write_migration(project / "migrations", "second", list(SECOND), None)
    code, doc = fleet_json(project, "migrate", "--fleet")
    assert code == 1
    rows = outcomes(doc)
    bad = rows[next(k for k in rows if "tenant_013" in k)]
    assert bad["outcome"] == "failed" and bad["pending"] == ["0001_second"]
    assert sum(t["outcome"] == "applied" for t in doc["fleet"]) == SCHEMAS - 1
    notes = {r[0] for r in query(db_url, "SELECT table_schema FROM information_schema.columns "
                                 "WHERE column_name = 'note'")}
    assert notes == set(tenants) - {"tenant_013"}  # nothing half-applied there

    query(db_url, "UPDATE tenant_013.items SET qty = 1")
    code, doc = fleet_json(project, "migrate", "--fleet")
    assert code == 0
    assert [t["target"] for t in doc["fleet"] if t["outcome"] == "applied"] == [
        bad["target"]]
    code, doc = fleet_json(project, "status", "--fleet")
    assert code == 0 and all(r["applied"] == 2 and r["pending"] == [] for r in doc["fleet"])


def test_a_fleet_setting_is_checked_where_it_is_written(tmp_path):
    (tmp_path / "trimtab.toml").write_text(
        '[fleet]\ntargets = ["postgresql://a/b"]\nschemas = "t_%"\n')
    with pytest.raises(ConfigError, match="one of targets, targets_query, schemas"):
        load_config(tmp_path)
    (tmp_path / "trimtab.toml").write_text('[fleet]\nschemas = "t_%"\non_error = "later"\n')
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path)
    assert e.value.line == 3 and "on_error" in str(e.value)


def test_a_scratch_database_not_yet_stamped_by_a_live_run_is_not_dropped_as_leaked(
        admin_url, db_url):
    """Runs on two databases of one server (two fleet targets) do not share the build lock
    (advisory locks are per database): one must not drop the scratch database the other
    has just created and not yet stamped with its pid."""
    from trimtab.sources import shadow

    name = f"{shadow.SHADOW_PREFIX}{os.getpid()}_{uuid.uuid4().hex[:8]}"
    query(admin_url, f'CREATE DATABASE "{name}"')
    try:
        with shadow.sandbox(db_url) as box:
            assert name not in shadow.drop_leaked(box)
        assert query(admin_url, "SELECT 1 FROM pg_database WHERE datname = %s", (name,))
    finally:
        query(admin_url, f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture(scope="session")
def more_servers() -> Iterator[list[Path]]:
    """Two more PostgreSQL servers of this session (data directories in /tmp, each its
    socket in its data directory), small and without durability; stopped and removed at
    the end whatever a test left them in."""
    folders = [Path(tempfile.mkdtemp(prefix="trimtab-fleet-", dir="/tmp")) for _ in range(2)]
    try:
        for pgdata in folders:
            admin = embedded.start_server(pgdata)
            with psycopg.connect(admin, autocommit=True) as conn:
                for setting in ("fsync = off", "synchronous_commit = off",
                                "full_page_writes = off", "shared_buffers = '16MB'",
                                "max_connections = 40"):
                    conn.execute(f"ALTER SYSTEM SET {setting}")
            embedded.stop_server(pgdata)  # shared_buffers needs a restart
            embedded.start_server(pgdata)
        yield folders
    finally:
        for pgdata in folders:
            embedded.stop_server(pgdata)
            shutil.rmtree(pgdata, ignore_errors=True)


def test_fifty_databases_on_three_servers_one_down_then_back(project, make_databases,
                                                              more_servers):
    """The fleet spread over the suite's server and two more: the one stopped before the
    run has its targets reported unreachable while the others apply; started again, a
    second run applies there and nothing else."""
    per_server = DATABASES // 3
    urls = {"suite": make_databases(DATABASES - 2 * per_server)}
    for tag, pgdata in zip(("a", "b"), more_servers, strict=True):
        admin = embedded.start_server(pgdata)
        names = [f"fleet_{tag}_{i:02d}" for i in range(per_server)]
        on_four_connections(admin, [
            [pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)),
             pgsql.SQL("CREATE DATABASE {} STRATEGY FILE_COPY").format(pgsql.Identifier(name))]
            for name in names])
        urls[tag] = [with_database(admin, name) for name in names]
    # interleaved: the canary (the first) is on the suite's server
    fleet = [u for trio in itertools.zip_longest(urls["suite"], urls["a"], urls["b"])
             for u in trio if u is not None]
    assert len(fleet) == DATABASES
    targets = project / "targets.txt"
    targets.write_text("\n".join(fleet) + "\n")
    fleet_project(project, "[fleet]\ncanary = 1\nconcurrency = 4\n")

    embedded.stop_server(more_servers[1])
    try:
        code, doc = fleet_json(project, "migrate", "--targets", str(targets))
    finally:
        embedded.start_server(more_servers[1])
    assert code == 1
    first = outcomes(doc)
    assert len(first) == DATABASES
    up = urls["suite"] + urls["a"]
    assert all(first[u]["outcome"] == "applied" for u in up), [
        (u, first[u]["error"]) for u in up if first[u]["outcome"] != "applied"]
    assert all(first[u]["outcome"] == "unreachable" and "cannot connect" in first[u]["error"]
               for u in urls["b"])
    assert not any(query(u, "SELECT to_regclass('items')")[0][0] for u in urls["b"])

    code, doc = fleet_json(project, "migrate", "--targets", str(targets))
    assert code == 0, doc
    second = outcomes(doc)
    assert all(second[u]["outcome"] == "applied" and second[u]["applied"] == ["0000_first"]
               for u in urls["b"])
    assert all(second[u]["outcome"] == "up to date" for u in up)
    code, doc = fleet_json(project, "status", "--targets", str(targets))
    assert code == 0 and all(r["applied"] == 1 and r["pending"] == [] and r["drift"] == []
                             for r in doc["fleet"])


def test_a_tenant_schema_altered_by_hand_shows_as_drifted_and_is_left_alone(project, db_url):
    """A tenant schema's objects are compared with what the migrations make (replayed in
    a shadow, in the schema unqualified names go to, read back under the tenant's name)."""
    shops = [f"shop_{i}" for i in range(4)]
    for name in shops:
        query(db_url, f"CREATE SCHEMA {name}")
    query(db_url, "CREATE EXTENSION citext")  # the database's, in public
    fleet_project(project, f'database_url = "{db_url}"\n[fleet]\nschemas = "shop_%"\n')
    write_migration(project / "migrations", "seq", [
        "CREATE TABLE orders (id serial PRIMARY KEY, item int REFERENCES items (id), "
        "at timestamptz DEFAULT now(), code public.citext)",
        "CREATE INDEX orders_item ON orders (item)",
        "CREATE VIEW big AS SELECT id, qty FROM items WHERE qty > 10"], None)
    code, doc = fleet_json(project, "migrate", "--fleet")
    assert code == 0, doc
    code, doc = fleet_json(project, "status", "--fleet")
    assert code == 0 and all(r["drift"] == [] and r["drift_items"] == []
                             for r in doc["fleet"]), doc

    query(db_url, "ALTER TABLE shop_2.items ADD COLUMN by_hand int")
    code, doc = fleet_json(project, "status", "--fleet")
    rows = {r["target"].split()[1]: r for r in doc["fleet"]}
    assert doc["found"] == ["drift"]
    assert [d["object"] for d in rows["shop_2"]["drift_items"]] == ["shop_2.items.by_hand"]
    assert rows["shop_2"]["drift_items"][0]["change"] == "extra"
    assert "shop_2.items.by_hand" in rows["shop_2"]["drift"][0]
    assert all(rows[s]["drift"] == [] for s in shops if s != "shop_2")
    text = run(project, "status", "--fleet").stdout
    assert "shop_2.items.by_hand" in text and "not checked" not in text

    write_migration(project / "migrations", "second", list(SECOND), None)
    code, doc = fleet_json(project, "migrate", "--fleet")
    assert code == 1
    rows = {r["target"].split()[1]: r for r in doc["fleet"]}
    assert rows["shop_2"]["outcome"] == "drifted" and "by_hand" in rows["shop_2"]["error"]
    assert all(rows[s]["outcome"] == "applied" for s in shops if s != "shop_2")
    assert not query(db_url, "SELECT 1 FROM pg_attribute WHERE attrelid = "
                     "'shop_2.items'::regclass AND attname = 'note'")
