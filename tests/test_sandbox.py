"""The schema file is untrusted code: whatever it holds, reading it (push --dry-run, status,
the language server, the studio) leaves the cluster, the target's rows and the server's
configuration as they were. Two walls: statements with no place in a schema are refused
before anything is sent (sources/vet.py), and what runs at apply time runs as a role that
cannot leave its scratch database, under timeouts (sources/shadow.py)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import pytest_lsp
from hypothesis import given
from hypothesis import strategies as st
from lsprotocol import types as t
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.conftest import PgServer
from tests.test_cli_push import run
from tests.test_lsp import (  # noqa: F401
    TRIMTAB,
    change_doc,
    client,
    has,
    make_client,
    open_doc,
    until,
    workspace,
)
from tests.test_studio_api import Client, _insight, _project
from trimtab import embedded
from trimtab.config import load_config
from trimtab.sources.shadow import SANDBOX_ROLE, SHADOW_PREFIX, is_leaked
from trimtab.sources.sqlfile import split_statements
from trimtab.sources.vet import judge
from trimtab.studio import Server


def _one(url: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query, params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def cluster_state(admin_url: str, db_url: str) -> dict[str, Any]:
    """What a hostile schema file would change: roles with power, the target database, the
    server's configuration file, the target's rows. (Other tests on a shared server create
    and drop their own databases and plain roles meanwhile: those are left out.)"""
    return {
        "roles": _one(admin_url, "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, "
                                 "rolreplication, rolbypassrls FROM pg_roles WHERE (rolsuper OR "
                                 "rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls "
                                 "OR rolname = 'intruder') "
                                 "AND rolname <> 'trimtab_nocreaterole' ORDER BY 1"),
        # (the target still there; other databases come and go with other tests)
        "database": _one(admin_url, "SELECT datname FROM pg_database WHERE datname = %s",
                         (psycopg.conninfo.conninfo_to_dict(db_url)["dbname"],)),
        "auto_conf": _one(admin_url, "SELECT name, setting FROM pg_file_settings WHERE "
                                     "sourcefile LIKE '%%postgresql.auto.conf' ORDER BY 1"),
        "rows": _one(db_url, "SELECT id, v FROM canary ORDER BY id"),
        "memberships": _one(admin_url, "SELECT roleid::regrole::text, member::regrole::text "
                                       "FROM pg_auth_members WHERE member::regrole::text IN "
                                       "('intruder', %s) OR starts_with(roleid::regrole::text, "
                                       "'pg_') ORDER BY 1, 2", (SANDBOX_ROLE,)),
    }


def spinning(admin_url: str, text: str) -> int:
    """Backends of the sandbox running a statement that holds ``text``."""
    return int(_one(admin_url, "SELECT count(*) FROM pg_stat_activity WHERE usename = %s "
                               "AND state = 'active' AND strpos(query, %s) > 0",
                    (SANDBOX_ROLE, text))[0][0])


@pytest.fixture
def target(db_url: str, admin_url: str, project: Path) -> Iterator[str]:
    """A target database with rows in it, and the cluster's state before the test."""
    _one(db_url, "CREATE TABLE canary (id int PRIMARY KEY, v text)")
    _one(db_url, "INSERT INTO canary VALUES (1, 'a'), (2, 'b')")
    before = cluster_state(admin_url, db_url)
    yield db_url
    assert cluster_state(admin_url, db_url) == before
    assert scratch_databases(admin_url) == []


def scratch_databases(admin_url: str) -> list[str]:
    """Scratch databases left behind, as trimtab's own clean-up tells them (a test's planted
    one aside): made by a process of this machine that is gone. Runs in progress on a
    shared server are alive, stamped or not yet."""
    left = []
    for name, comment in _one(admin_url, "SELECT datname, shobj_description(oid, "
                                         "'pg_database') FROM pg_database WHERE "
                                         "starts_with(datname, %s)", (SHADOW_PREFIX,)):
        if name.endswith("_planted"):
            continue
        # (not stamped yet: a run's between its CREATE and its stamp; see shadow.is_leaked)
        if is_leaked(comment, 0, time.time(), name):
            left.append(name)
    return left


def test_a_scratch_database_not_stamped_yet_by_a_live_run_is_not_left_behind(
        admin_url: str) -> None:
    # A run on the other worker creates its shadow, then stamps it: between the two, the
    # teardown's look at the server saw an unstamped database and called it leaked (CI,
    # PostgreSQL 13 lane). Its name carries its maker's pid, as drop_leaked reads it.
    # (Only a live run's: a dead one's, unstamped, would be another test's leak to see.)
    mine = f"{SHADOW_PREFIX}{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{mine}"')
        try:
            assert mine not in scratch_databases(admin_url)
        finally:
            conn.execute(f'DROP DATABASE "{mine}"')


CANARY = "CREATE TABLE canary (id int PRIMARY KEY, v text);\n"


def dry_run(project: Path, db_url: str, schema: str) -> Any:
    (project / "schema.sql").write_text(CANARY + schema)
    return run(project, "push", "--url", db_url, "--dry-run")


# Refused before anything is sent: (statement, words of the reason).
REFUSED = [
    ("DROP DATABASE {db}", "acts outside the database"),
    ("CREATE ROLE intruder SUPERUSER LOGIN", "acts outside the database"),
    ("ALTER ROLE postgres PASSWORD 'x'", "acts outside the database"),
    ("GRANT pg_execute_server_program TO PUBLIC", "acts outside the database"),
    ("CREATE TABLESPACE t LOCATION '/tmp'", "acts outside the database"),
    ("ALTER SYSTEM SET work_mem = '77MB'", "changes the server's configuration"),
    ("COPY (SELECT 1) TO PROGRAM 'touch {marker}'", "reads or writes data"),
    ("DO $$ BEGIN EXECUTE 'DELETE FROM canary'; END $$", "runs code when applied"),
    ("SELECT pg_sleep(1e9)", "runs a query when applied"),
    ("DELETE FROM canary", "changes data"),
    ("LOAD 'auto_explain'", "loads a shared library"),
    ("SET ROLE postgres", "changes the role"),
    ("SET SESSION AUTHORIZATION postgres", "changes the role"),
    ("VACUUM", "maintenance"),
    ("CREATE SUBSCRIPTION s CONNECTION 'dbname=x' PUBLICATION p", "acts outside the database"),
    ("CREATE FUNCTION f() RETURNS int LANGUAGE sql SET statement_timeout = 0 "
     "AS $$ SELECT 1 $$", "changes a timeout"),
]


@pytest.mark.parametrize(("statement", "why"), REFUSED, ids=[s[:28] for s, _ in REFUSED])
def test_statements_outside_a_schema_are_refused_at_their_line(
        project: Path, target: str, tmp_path: Path, statement: str, why: str) -> None:
    marker = tmp_path / "ran"
    db = psycopg.conninfo.conninfo_to_dict(target)["dbname"]
    r = dry_run(project, target, statement.format(db=db, marker=marker) + ";\n")
    assert r.returncode == 1
    assert "schema.sql:2:" in r.stderr and why in r.stderr, r.stderr
    assert not marker.exists()


# Past the first wall: code that runs at apply time (a materialized view's query calls a
# function), trying what a superuser could do. The role it runs as cannot.
ESCAPES = [
    "EXECUTE 'CREATE ROLE intruder SUPERUSER LOGIN'",
    "EXECUTE 'ALTER ROLE ' || quote_ident(session_user) || ' SUPERUSER'",
    "EXECUTE format('COPY (SELECT 1) TO PROGRAM %L', 'touch {marker}')",
    "EXECUTE 'CREATE EXTENSION dblink'",
    "PERFORM pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()",
    "EXECUTE 'GRANT pg_execute_server_program TO ' || quote_ident(current_user)",
    "PERFORM set_config('role', 'postgres', false)",
    "PERFORM pg_read_file('postgresql.conf')",
]


@pytest.mark.parametrize("body", ESCAPES, ids=[e[:30] for e in ESCAPES])
def test_code_run_at_apply_time_cannot_leave_the_shadow(
        project: Path, target: str, tmp_path: Path, body: str) -> None:
    marker = tmp_path / "ran"
    schema = (
        "CREATE FUNCTION escape() RETURNS int LANGUAGE plpgsql AS $f$\n"
        f"BEGIN {body.format(marker=marker)}; RETURN 1; END $f$;\n"
        "CREATE MATERIALIZED VIEW m AS SELECT escape() AS x;\n")
    r = dry_run(project, target, schema)
    assert r.returncode == 1, r.stdout
    assert "schema.sql:" in r.stderr
    # PostgreSQL's own refusal, whose wording varies by version ("permission denied",
    # "must be superuser", "must have admin option", "security-restricted operation").
    assert "PostgreSQL rejects this statement" in r.stderr, r.stderr
    assert not marker.exists()


def test_a_statement_that_never_ends_is_stopped(project: Path, target: str,
                                                admin_url: str) -> None:
    with (project / "trimtab.toml").open("a") as f:
        f.write("shadow_timeout = 1\n")
    r = dry_run(project, target,
                "CREATE FUNCTION forever_stopped() RETURNS int LANGUAGE plpgsql AS $f$\n"
                "BEGIN LOOP END LOOP; END $f$;\n"
                "CREATE MATERIALIZED VIEW m AS SELECT forever_stopped() AS x;\n")
    assert r.returncode == 1
    assert "schema.sql:4:" in r.stderr and "ran longer than the shadow allows" in r.stderr
    # No backend of the sandbox is left spinning.
    assert spinning(admin_url, "forever_stopped") == 0


def test_timeouts_lifted_from_inside_are_still_enforced(project: Path, target: str,
                                                        admin_url: str) -> None:
    # The setting's name is built at run time, so no reading of the text can see it: the
    # watchdog in trimtab's process stops the statement all the same.
    with (project / "trimtab.toml").open("a") as f:
        f.write("shadow_timeout = 1\n")
    r = dry_run(project, target,
                "CREATE FUNCTION lift() RETURNS int LANGUAGE plpgsql AS $f$\n"
                "BEGIN PERFORM set_config('statement' || '_timeout', '0', false);\n"
                "PERFORM set_config('client_connection' || '_check_interval', '0', false);\n"
                "RETURN 1; END $f$;\n"
                "CREATE FUNCTION forever_lifted() RETURNS int LANGUAGE plpgsql AS $f$\n"
                "BEGIN LOOP END LOOP; END $f$;\n"
                "CREATE MATERIALIZED VIEW a AS SELECT lift() AS x;\n"
                "CREATE MATERIALIZED VIEW b AS SELECT forever_lifted() AS x;\n")
    assert r.returncode == 1
    assert "schema.sql:9:" in r.stderr and "ran longer than the shadow allows" in r.stderr
    assert spinning(admin_url, "forever_lifted") == 0


def test_a_scratch_database_left_by_a_crash_is_dropped_next_time(
        project: Path, target: str, admin_url: str) -> None:
    name = f"{SHADOW_PREFIX}{uuid.uuid4().hex[:8]}_planted"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    (project / "trimtab.toml").write_text('schema = "schema.sql"\nshadow_cache = false\n')
    r = dry_run(project, target, "CREATE TABLE t (id int);\n")
    assert r.returncode == 0, r.stderr
    assert _one(admin_url, "SELECT 1 FROM pg_database WHERE datname = %s", (name,)) == []


def test_the_pg_dump_preamble_is_accepted(project: Path, target: str) -> None:
    r = dry_run(project, target,
                "SET statement_timeout = 0;\nSET lock_timeout = 0;\n"
                "SET idle_in_transaction_session_timeout = 0;\n"
                "SET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n"
                "SELECT pg_catalog.set_config('search_path', '', false);\n"
                "SET check_function_bodies = false;\nSET xmloption = content;\n"
                "SET client_min_messages = warning;\nSET row_security = off;\n"
                "BEGIN;\nCREATE TABLE public.t (id integer);\nCOMMIT;\n")
    assert r.returncode == 0, r.stderr
    assert "CREATE TABLE public.t" in r.stdout


def test_without_createrole_the_shadow_moves_to_the_embedded_server_and_says_so(
        tmp_path_factory: pytest.TempPathFactory, db_url: str, pg_server: PgServer) -> None:
    if not pg_server.embedded:
        pytest.skip("logs in without a password: needs the embedded test server")
    project = Path(tmp_path_factory.mktemp("no-createrole", numbered=True))
    (project / "trimtab.toml").write_text('schema = "schema.sql"\n')
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DO $$ BEGIN CREATE ROLE trimtab_nocreaterole LOGIN CREATEDB; "
                     "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
        conn.execute(CANARY)
        conn.execute("GRANT SELECT ON canary TO trimtab_nocreaterole")
    url = db_url.replace("postgres@", "trimtab_nocreaterole@", 1)
    assert url != db_url
    try:
        (project / "schema.sql").write_text(CANARY + "CREATE TABLE t (id int);\n")
        r = run(project, "push", "--url", url, "--dry-run", "--json")
        assert r.returncode == 0, r.stderr
        assert "built on the embedded server" in r.stdout
        assert "CREATE TABLE public.t" in r.stdout
    finally:
        embedded.remove(project)  # stopped, and its data gone (as root: /var/lib/trimtab)


async def test_the_language_server_reads_a_hostile_schema_in_the_sandbox(
        client: LanguageClient, workspace: Path, db_url: str, admin_url: str) -> None:  # noqa: F811
    uri = open_doc(client, workspace / "schema.sql",
                   "CREATE TABLE users (id int PRIMARY KEY);\n"
                   "CREATE FUNCTION escape() RETURNS int LANGUAGE plpgsql AS $f$\n"
                   "BEGIN EXECUTE 'CREATE ROLE intruder SUPERUSER'; RETURN 1; END $f$;\n"
                   "CREATE MATERIALIZED VIEW m AS SELECT escape() AS x;\n")
    diags = await until(client, uri, lambda ds: any(
        "PostgreSQL rejects this statement" in d.message for d in ds))
    assert any(d.severity == t.DiagnosticSeverity.Error for d in diags)
    assert _one(admin_url, "SELECT 1 FROM pg_roles WHERE rolname = 'intruder'") == []


def test_the_studio_reads_a_hostile_schema_in_the_sandbox(
        db_url: str, admin_url: str, tmp_path: Path) -> None:
    _one(db_url, "CREATE TABLE canary (id int PRIMARY KEY, v text)")
    _one(db_url, "INSERT INTO canary VALUES (1, 'a')")
    before = cluster_state(admin_url, db_url)
    root = _project(tmp_path, CANARY + "ALTER SYSTEM SET work_mem = '77MB';\n")
    server = Server(load_config(root, url=db_url), read_only=True).start()
    try:
        data = _insight(Client(server))
        assert not data["plan"]["ok"]
        assert "changes the server's configuration" in data["plan"]["error"], data["plan"]
        (root / "schema.sql").write_text(
            CANARY + "CREATE FUNCTION escape() RETURNS int LANGUAGE plpgsql AS $f$\n"
            "BEGIN EXECUTE 'DELETE FROM public.canary'; RETURN 1; END $f$;\n"
            "CREATE MATERIALIZED VIEW m AS SELECT escape() AS x;\n")
        c = Client(server)
        c.get("/api/trimtab", refresh="1")
        data = _insight(c)
        assert data["plan"]["ok"], data["plan"]  # its own canary in the shadow
    finally:
        server.stop()
    assert cluster_state(admin_url, db_url) == before


@pytest.mark.parametrize("statement", [
    "CREATE TABLE t (id int)", "create or replace view v as select 1",
    "COMMENT ON TABLE t IS 'x'", "GRANT SELECT ON t TO app", "ALTER DEFAULT PRIVILEGES "
    "GRANT SELECT ON TABLES TO app", "CREATE USER MAPPING FOR app SERVER s",
    "SET search_path = app, public", "CREATE EXTENSION IF NOT EXISTS citext",
    "CREATE POLICY p ON t USING (true)", "SELECT pg_catalog.set_config('search_path', '', false)",
])
def test_schema_definitions_pass(statement: str) -> None:
    v = judge(statement)
    assert v.send and v.reason is None


@pytest.mark.parametrize("sql", [
    "ALTER /* a /* nested */ comment */ SYSTEM SET work_mem = '77MB';",
    "CREATE TABLE t (id int);\nCREATE /* /* */ TABLE */ ROLE intruder SUPERUSER;",
    "SET /* /* */ x */ ROLE postgres;",
    "GRANT pg_execute_server_program /* on */ TO app;",
    "GRANT pg_read_server_files TO app /* granted on request */ WITH ADMIN OPTION;",
])
def test_a_comment_hides_no_word_from_the_vetting(sql: str) -> None:
    """PostgreSQL nests block comments: what ends the inner one does not end the comment,
    and the words after the whole comment are what the statement says; a word in a
    comment says nothing (an ``on`` there makes no role membership a grant on an object)."""
    last = split_statements(sql, "schema.sql")[-1]
    assert not judge(last.text).send, last.text


def test_a_migration_replay_keeps_cluster_statements_out_and_says_so(
        project: Path, target: str) -> None:
    (project / "schema.sql").write_text(CANARY)
    folder = project / "migrations"
    assert run(project, "generate", "--url", target).returncode == 0
    (project / "schema.sql").write_text(CANARY + "CREATE TABLE t (id int);\n")
    custom = run(project, "generate", "--custom", "--name", "roles", "--url", target)
    assert custom.returncode == 0, custom.stderr
    sql_file = next(folder.glob("0001_*.sql"))
    sql_file.write_text("CREATE ROLE intruder SUPERUSER;\n--> statement-breakpoint\n"
                        "DELETE FROM canary;\n--> statement-breakpoint\n"
                        "CREATE TABLE t (id int);\n")
    r = run(project, "status", "--url", target)
    assert r.returncode == 0, r.stderr
    assert f"{sql_file}:1: CREATE ROLE intruder SUPERUSER" in r.stdout.replace("\n", " ") or \
        "not replayed in the sandboxed shadow" in r.stdout, r.stdout
    assert "every change is in a migration" in r.stdout



def test_owners_in_a_pg_dump_schema_do_not_stop_the_sandbox(project: Path, target: str) -> None:
    # The sandbox owns what it builds and cannot give it away; owners are not part of the
    # schema model, so pg_dump's OWNER TO lines change nothing in the plan.
    r = dry_run(project, target,
                "CREATE SCHEMA app AUTHORIZATION postgres;\n"
                "CREATE TABLE app.t (id integer);\nALTER TABLE app.t OWNER TO postgres;\n"
                "GRANT SELECT ON app.t TO postgres;\n")
    assert r.returncode == 0, r.stderr
    assert "CREATE SCHEMA app" in r.stdout and "CREATE TABLE app.t" in r.stdout
    assert "GRANT" not in r.stdout  # the owner's own privileges: nothing to grant


def _available(admin_url: str, name: str) -> bool:
    return bool(_one(admin_url, "SELECT 1 FROM pg_available_extensions WHERE name = %s",
                     (name,)))


def test_an_extension_the_sandbox_may_not_create_is_created_for_it_first(
        project: Path, target: str, admin_url: str) -> None:
    if not _available(admin_url, "vector"):
        pytest.skip("pgvector is not installed on this server")
    # pgvector is not a trusted extension: only a superuser may create it.
    r = dry_run(project, target,
                "CREATE SCHEMA ext;\nCREATE EXTENSION vector SCHEMA ext;\n"
                "CREATE EXTENSION citext;\n"
                "CREATE TABLE items (id int PRIMARY KEY, v ext.vector(3), name citext);\n")
    assert r.returncode == 0, r.stderr
    assert "CREATE EXTENSION" in r.stdout and "ext.vector(3)" in r.stdout


def test_an_extension_that_reaches_outside_is_refused(project: Path, target: str,
                                                      admin_url: str) -> None:
    if not _available(admin_url, "dblink"):
        pytest.skip("dblink is not installed on this server")
    r = dry_run(project, target, "CREATE EXTENSION dblink;\n")
    assert r.returncode == 1
    assert "schema.sql:2:" in r.stderr and "reaches outside the database" in r.stderr


def test_a_replayed_migration_may_create_an_untrusted_extension(
        project: Path, target: str, admin_url: str) -> None:
    if not _available(admin_url, "vector"):
        pytest.skip("pgvector is not installed on this server")
    schema = CANARY + "CREATE EXTENSION vector;\nCREATE TABLE items (v vector(3));\n"
    (project / "schema.sql").write_text(schema)
    assert run(project, "generate", "--url", target).returncode == 0
    r = run(project, "status", "--url", target)
    assert r.returncode == 0, r.stderr
    assert "every change is in a migration" in r.stdout, r.stdout


FOREVER = ("CREATE TABLE users (id int PRIMARY KEY);\n"
           "CREATE FUNCTION forever_lsp() RETURNS int LANGUAGE plpgsql AS $f$\n"
           "BEGIN LOOP END LOOP; END $f$;\n"
           "CREATE MATERIALIZED VIEW m AS SELECT forever_lsp() AS x;\n")


@pytest.fixture
def looping_workspace(tmp_path: Path, db_url: str) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    # A timeout far longer than the test: only the server's own exit can stop the loop.
    (root / "trimtab.toml").write_text(
        f'schema = "schema.sql"\ndatabase_url = "{db_url}"\nshadow_timeout = 600\n')
    (root / "schema.sql").write_text("CREATE TABLE users (id int PRIMARY KEY);\n")
    return root


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[TRIMTAB, "lsp", "--stdio"],
                                              client_factory=make_client))
async def looping_client(lsp_client: LanguageClient, looping_workspace: Path):
    @lsp_client.feature(t.CLIENT_REGISTER_CAPABILITY)
    def register(params: t.RegistrationParams) -> None:
        pass

    await lsp_client.initialize_session(t.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        root_uri=from_fs_path(str(looping_workspace)),
        workspace_folders=[t.WorkspaceFolder(uri=from_fs_path(str(looping_workspace)) or "",
                                             name="ws")]))
    yield
    await lsp_client.shutdown_session()  # does nothing once the test has shut it down


async def test_the_language_server_exits_at_once_and_leaves_no_statement_running(
        looping_client: LanguageClient, looping_workspace: Path, admin_url: str,
        pg_server: PgServer) -> None:
    lsp = looping_client
    open_doc(lsp, looping_workspace / "schema.sql", FOREVER)

    marker = "forever_lsp()"

    def running() -> int:
        return spinning(admin_url, marker)

    # The exact path starts the loop in the shadow: wait for it there (PostgreSQL has no
    # event for it), at most 60 s.
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for _ in range(600):
            if running():
                break
            conn.execute("SELECT pg_sleep(0.1)")
    assert running() == 1
    server = lsp._server
    assert server is not None
    try:
        await asyncio.wait_for(lsp.shutdown_async(None), 20)
        lsp.exit(None)
        code = await asyncio.wait_for(server.wait(), 20)
    finally:
        lsp.capabilities = None  # shut down: the fixture has nothing left to do
        if server.returncode is None:
            server.kill()
    assert code == 0
    assert running() == 0
    assert scratch_databases(admin_url) == []


def test_a_sandbox_role_that_does_not_inherit_is_mended(project: Path, target: str,
                                                        admin_url: str) -> None:
    # The owner of a database holds the public schema's rights through pg_database_owner
    # (PostgreSQL 15+), which a NOINHERIT role does not receive before 16.
    (project / "schema.sql").write_text(CANARY)
    assert run(project, "push", "--url", target, "--dry-run").returncode == 0
    _one(admin_url, f"ALTER ROLE {SANDBOX_ROLE} NOINHERIT")
    r = dry_run(project, target, "CREATE TABLE t (id int);\n")
    assert r.returncode == 0, r.stderr
    assert _one(admin_url, "SELECT rolinherit FROM pg_roles WHERE rolname = %s",
                (SANDBOX_ROLE,)) == [(True,)]


def test_objects_only_a_superuser_makes_and_the_model_does_not_hold_are_left_out(
        project: Path, target: str) -> None:
    r = dry_run(project, target,
                "CREATE FUNCTION audit() RETURNS event_trigger LANGUAGE plpgsql AS $f$\n"
                "BEGIN END $f$;\n"
                "CREATE EVENT TRIGGER audit ON ddl_command_end EXECUTE FUNCTION audit();\n"
                "CREATE PUBLICATION everything FOR ALL TABLES;\n"
                "CREATE TABLE t (id int);\n")
    assert r.returncode == 0, r.stderr
    assert "CREATE TABLE public.t" in r.stdout


async def test_the_language_server_refuses_each_statement_outside_a_schema(
        client: LanguageClient, workspace: Path, db_url: str, admin_url: str,  # noqa: F811
        tmp_path: Path) -> None:
    _one(db_url, "CREATE TABLE canary (id int PRIMARY KEY, v text)")
    _one(db_url, "INSERT INTO canary VALUES (1, 'a')")
    before = cluster_state(admin_url, db_url)
    db = psycopg.conninfo.conninfo_to_dict(db_url)["dbname"]
    path = workspace / "schema.sql"
    uri = open_doc(client, path, CANARY)
    for version, (statement, why) in enumerate(REFUSED, start=2):
        text = CANARY + statement.format(db=db, marker=tmp_path / "ran") + ";\n"
        change_doc(client, uri, version, text)
        diags = await until(client, uri, lambda ds, why=why: any(why in d.message for d in ds))
        assert any(d.range.start.line == 1 for d in diags if why in d.message), statement
    assert cluster_state(admin_url, db_url) == before
    assert not (tmp_path / "ran").exists()


def test_the_studio_refuses_each_statement_outside_a_schema(
        db_url: str, admin_url: str, tmp_path: Path) -> None:
    _one(db_url, "CREATE TABLE canary (id int PRIMARY KEY, v text)")
    _one(db_url, "INSERT INTO canary VALUES (1, 'a')")
    before = cluster_state(admin_url, db_url)
    db = psycopg.conninfo.conninfo_to_dict(db_url)["dbname"]
    root = _project(tmp_path, CANARY)
    server = Server(load_config(root, url=db_url), read_only=True).start()
    try:
        c = Client(server)
        for statement, why in REFUSED:
            (root / "schema.sql").write_text(
                CANARY + statement.format(db=db, marker=tmp_path / "ran") + ";\n")
            c.get("/api/trimtab", refresh="1")
            plan = _insight(c)["plan"]
            assert not plan["ok"] and why in plan["error"] and plan["line"] == 2, plan
    finally:
        server.stop()
    assert cluster_state(admin_url, db_url) == before
    assert not (tmp_path / "ran").exists()


def test_an_extension_created_for_the_sandbox_keeps_its_own_comment(
        project: Path, db_url: str, admin_url: str) -> None:
    if not _available(admin_url, "amcheck"):
        pytest.skip("amcheck is not installed on this server")
    (project / "schema.sql").write_text("CREATE EXTENSION amcheck;\nCREATE TABLE t (id int);\n")
    assert run(project, "push", "--url", db_url).returncode == 0
    again = run(project, "push", "--url", db_url, "--dry-run")
    assert (again.returncode, again.stdout) == (0, ""), again.stderr


def test_two_runs_creating_the_sandbox_role_at_once_both_go_on(admin_url: str,
                                                                pg_server: PgServer) -> None:
    # The second CREATE ROLE waits on the first's unique index entry and then fails with a
    # unique violation, not "already exists": both runs must carry on.
    if not pg_server.embedded:
        pytest.skip("renames the server's sandbox role: needs the suite's own server")
    import threading

    from trimtab.sources.shadow import _ensure_role

    _one(admin_url, f"ALTER ROLE {SANDBOX_ROLE} RENAME TO {SANDBOX_ROLE}_aside")
    try:
        with psycopg.connect(admin_url) as first, psycopg.connect(admin_url,
                                                                   autocommit=True) as second:
            first.execute(f"CREATE ROLE {SANDBOX_ROLE} LOGIN")  # not committed yet
            failed: list[BaseException] = []

            def other_run() -> None:
                try:
                    _ensure_role(second, 30)
                except BaseException as e:  # noqa: BLE001
                    failed.append(e)

            thread = threading.Thread(target=other_run)
            thread.start()
            pid = second.info.backend_pid
            with psycopg.connect(admin_url, autocommit=True) as watch:
                for _ in range(300):  # until the other run waits on the first's row
                    if watch.execute("SELECT wait_event_type FROM pg_stat_activity WHERE "
                                     "pid = %s", (pid,)).fetchone() == ("Lock",):
                        break
                    watch.execute("SELECT pg_sleep(0.05)")
            first.commit()
            thread.join(30)
            assert not thread.is_alive() and failed == []
    finally:
        _one(admin_url, f"DROP ROLE IF EXISTS {SANDBOX_ROLE}")
        _one(admin_url, f"ALTER ROLE {SANDBOX_ROLE}_aside RENAME TO {SANDBOX_ROLE}")


def test_vetting_kept_by_text_follows_an_edit(tmp_path: Path) -> None:
    """The vetting is kept by statement text (the editor vets after every pause in
    typing): the same statement edited into one the shadow must not run is refused, and
    back again is accepted, in one process."""
    from trimtab.errors import SchemaError
    from trimtab.sources import vet

    path = str(tmp_path / "schema.sql")
    fine = "CREATE TABLE a (id int);\nALTER TABLE a OWNER TO app;\nSET lock_timeout = 0;\n"
    sent = vet.for_schema(split_statements(fine, path))
    assert [s.text for s in sent] == ["CREATE TABLE a (id int)"]  # type: ignore[attr-defined]
    refused = fine.replace("SET lock_timeout = 0", "SET ROLE postgres")
    with pytest.raises(SchemaError) as e:
        vet.for_schema(split_statements(refused, path))
    assert e.value.line == 3 and "role" in e.value.message
    owner = fine.replace("ALTER TABLE a OWNER TO app", "ALTER TABLE a ADD COLUMN b int")
    assert [s.text for s in vet.for_schema(split_statements(owner, path))] == [  # type: ignore[attr-defined]
        "CREATE TABLE a (id int)", "ALTER TABLE a ADD COLUMN b int"]
    assert vet.for_schema(split_statements(fine, path)) == sent


def test_a_schema_larger_than_the_vetting_cache_is_vetted_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """20,000 statements (a 5,000-table schema has as many), then the same with one edited:
    the second vetting judges the edited statement only, and what it sends, leaves out
    and refuses is what a first vetting says."""
    from trimtab.errors import SchemaError
    from trimtab.sources import vet

    path = str(tmp_path / "schema.sql")
    text = "".join(f"CREATE TABLE t{i} (id int);\nALTER TABLE t{i} OWNER TO app;\n"
                   for i in range(10_000))
    vet._as_schema_statement.cache_clear()
    judged: list[str] = []
    real = vet.judge
    monkeypatch.setattr(vet, "judge", lambda t, **kw: judged.append(t) or real(t, **kw))
    sent = vet.for_schema(split_statements(text, path))
    assert len(judged) == 20_000 and len(sent) == 10_000
    judged.clear()
    edited = text.replace("CREATE TABLE t5000 (id int)", "CREATE TABLE t5000 (id bigint)")
    again = vet.for_schema(split_statements(edited, path))
    assert judged == ["CREATE TABLE t5000 (id bigint)"]
    assert [s.text for s in again] == [  # type: ignore[attr-defined]
        s.text.replace("t5000 (id int)", "t5000 (id bigint)") for s in sent]  # type: ignore[attr-defined]
    with pytest.raises(SchemaError) as e:
        vet.for_schema(split_statements(edited.replace("ALTER TABLE t9999 OWNER TO app",
                                                       "SET ROLE postgres"), path))
    assert e.value.line == 20_000 and "role" in e.value.message


@given(st.sampled_from(["statement_timeout", "lock_timeout", "transaction_timeout",
                        "idle_in_transaction_session_timeout", "idle_session_timeout",
                        "client_connection_check_interval"]),
       st.lists(st.booleans(), min_size=40, max_size=40),
       st.sampled_from(["", "ı", "K", "ſ", "İ"]))
def test_a_guarded_setting_written_in_any_case_is_refused(
        name: str, upper: list[bool], odd: str) -> None:
    """The quick test before the pattern's search lets through every text the pattern
    matches: any case, and the letters Unicode folds onto ASCII ones (the dotless i that
    the pattern takes for an i, the Kelvin sign for a k, the long s for an s)."""
    from trimtab.sources import vet

    written = "".join(c.upper() if u else c for c, u in zip(name, upper, strict=False))
    if odd:
        plain = {"ı": "i", "K": "k", "ſ": "s", "İ": "i"}[odd]
        written = written.replace(plain, odd, 1).replace(plain.upper(), odd, 1)
    text = f"CREATE FUNCTION f() RETURNS int LANGUAGE sql SET {written} = 0 AS 'SELECT 1'"
    matched = vet._GUARDED.search(text) is not None
    assert vet._may_name_a_guarded_setting(text) or not matched
    assert judge(text).send is not matched
