"""PL/pgSQL bodies checked by plpgsql_check where the server has it: what CREATE FUNCTION
leaves unchecked (a missing column, a record field), at its line of the body, in the
engine and in the editor; never in the configured database.

The server-side tests need a server with the extension available: CI's PostgreSQL 15 lane
installs Debian's postgresql-15-plpgsql-check; the embedded PostgreSQL 18 has none, and
the engine then says nothing (checked here too)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from lsprotocol import types as t
from pytest_lsp import LanguageClient

from tests.test_lsp import client, has, open_doc, until, workspace  # noqa: F401
from trimtab import engine
from trimtab.config import load_config
from trimtab.sources import bodycheck, plpgsql
from trimtab.sources.sqlfile import split_statements

SCHEMA = """CREATE TABLE t (a int);
CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$
DECLARE x int;
BEGIN
  SELECT b INTO x FROM t;
  RETURN x;
END $$;
CREATE FUNCTION tg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.zz := 1;
  RETURN NEW;
END $$;
CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION tg();
CREATE FUNCTION fine() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN RETURN (SELECT count(*) FROM t); END $$;
"""
FIXED = SCHEMA.replace("SELECT b INTO", "SELECT a INTO").replace("NEW.zz", "NEW.a")


def _has_checker(url: str) -> bool:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT 1 FROM pg_available_extensions "
                            "WHERE name = 'plpgsql_check'").fetchone() is not None


@pytest.fixture
def checker(db_url: str) -> str:
    if not _has_checker(db_url):
        pytest.skip("the test server has no plpgsql_check (CI's PostgreSQL 15 lane has it)")
    return db_url


def _project(root: Path, url: str, text: str) -> Path:
    root.mkdir(exist_ok=True)
    (root / "trimtab.toml").write_text(f'schema = "schema.sql"\ndatabase_url = "{url}"\n')
    (root / "schema.sql").write_text(text)
    return root


def test_a_body_line_is_found_where_plpgsql_counts_it() -> None:
    text = "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN x;\nEND $$"
    at = plpgsql.line_position(text, 3)
    assert at is not None and text[at - 1:].startswith("RETURN x;")
    assert plpgsql.line_position(text, 9) is None  # the body has 4 lines
    quoted = "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS 'BEGIN\n  RETURN ''x'';\nEND'"
    at = plpgsql.line_position(quoted, 2)
    assert at is not None and quoted[at - 1:].startswith("RETURN ''x'';")


def test_only_plpgsql_functions_of_sql_files_are_checked() -> None:
    statements = split_statements(
        "CREATE FUNCTION plpgsql_helper() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n"
        "CREATE FUNCTION g() RETURNS int AS $$ BEGIN RETURN 1; END $$ LANGUAGE 'plpgsql';\n"
        "CREATE FUNCTION h() RETURNS text LANGUAGE sql AS $$ SELECT 'LANGUAGE plpgsql' $$;\n",
        "s.sql")
    assert [k[2] for k in bodycheck.plpgsql_functions(statements)] == ["g"]


def test_the_embedded_server_has_no_checker_and_nothing_is_said(
        project: Path, db_url: str) -> None:
    if _has_checker(db_url):
        pytest.skip("this server has plpgsql_check")
    _project(project, db_url, SCHEMA)
    assert engine.check_function_bodies(load_config(project)) is None


def test_plpgsql_check_finds_body_errors_at_their_lines_never_in_the_target(
        project: Path, checker: str) -> None:
    _project(project, checker, SCHEMA)
    problems = engine.check_function_bodies(load_config(project))
    assert problems is not None
    got = sorted((p.function, p.severity, p.span.line, p.span.column, p.message)
                 for p in problems)
    assert got == [
        ("public.f()", "error", 5, 3, 'column "b" does not exist'),
        ("public.tg()", "error", 10, 3, 'record "new" has no field "zz"'),
    ]
    with psycopg.connect(checker) as conn:  # the shadow only: the target has neither
        assert conn.execute("SELECT count(*) FROM pg_extension "
                            "WHERE extname = 'plpgsql_check'").fetchone() == (0,)
        assert conn.execute("SELECT to_regclass('t')").fetchone() == (None,)
    (project / "schema.sql").write_text(FIXED)
    assert engine.check_function_bodies(load_config(project)) == []


async def test_the_editor_shows_plpgsql_check_at_the_body_line_and_clears_it(
        client: LanguageClient, workspace: Path, db_url: str) -> None:  # noqa: F811
    if not _has_checker(db_url):
        pytest.skip("the test server has no plpgsql_check (CI's PostgreSQL 15 lane has it)")
    uri = open_doc(client, workspace / "schema.sql", SCHEMA)
    diags = await until(client, uri, has("plpgsql-check", 'column "b" does not exist'))
    d = next(d for d in diags if d.code == "plpgsql-check" and '"b"' in d.message)
    assert (d.range.start.line, d.range.start.character) == (4, 2)
    assert d.severity == t.DiagnosticSeverity.Error
    assert any(d.code == "plpgsql-check" and '"zz"' in d.message and d.range.start.line == 9
               for d in diags)
    client.text_document_did_change(t.DidChangeTextDocumentParams(
        text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[t.TextDocumentContentChangeWholeDocument(text=FIXED)]))
    await until(client, uri, lambda ds: not any(d.code == "plpgsql-check" for d in ds))
