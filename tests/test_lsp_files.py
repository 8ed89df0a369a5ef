"""Every SQL file of a project in the editor: errors inside function bodies at their line,
migrations (what they do to the live data), query files type-checked against the schema
through the sandboxed shadow. The real `trimtab lsp` process over stdio (pytest-lsp)."""

from __future__ import annotations

from pathlib import Path

from pytest_lsp import LanguageClient

from tests import test_lsp
from tests.test_lsp import db, has, open_doc, until

# The language server and its project folder, as tests/test_lsp.py makes them (fixtures).
client = test_lsp.client
workspace = test_lsp.workspace


async def test_a_plpgsql_syntax_error_is_shown_at_its_line_in_the_body(
        client: LanguageClient, workspace: Path) -> None:
    text = ("CREATE TABLE users (id int PRIMARY KEY);\n"
            "CREATE FUNCTION one() RETURNS int LANGUAGE plpgsql AS $$\n"
            "BEGIN\n"
            "  RETRUN 1;\n"
            "END\n"
            "$$;\n")
    uri = open_doc(client, workspace / "schema.sql", text)
    diags = await until(client, uri, has("postgres", "RETRUN"))
    d = next(d for d in diags if d.code == "postgres")
    assert d.range.start.line == 3
    assert d.range.start.character == 2


async def test_an_error_in_a_sql_function_body_is_shown_at_its_line(
        client: LanguageClient, workspace: Path) -> None:
    text = ("CREATE TABLE users (id int PRIMARY KEY);\n"
            "CREATE FUNCTION n() RETURNS bigint LANGUAGE sql AS $$\n"
            "  SELECT 1;\n"
            "  SELECT count(nosuch) FROM users;\n"
            "$$;\n")
    uri = open_doc(client, workspace / "schema.sql", text)
    diags = await until(client, uri, has("postgres", "nosuch"))
    d = next(d for d in diags if d.code == "postgres")
    assert (d.range.start.line, d.range.start.character) == (3, 15)


async def test_a_plpgsql_error_known_only_by_its_body_line_is_shown_there(
        client: LanguageClient, workspace: Path) -> None:
    # PostgreSQL gives no position here, only "compilation of PL/pgSQL function ... near
    # line 3" (of the body): not the CREATE FUNCTION line.
    text = ("CREATE TABLE users (id int PRIMARY KEY);\n"
            "CREATE FUNCTION noisy() RETURNS int LANGUAGE plpgsql AS $$\n"
            "BEGIN\n"
            "  RETURN 1;\n"
            "  RAISE NOTICE 'a % and %', 1;\n"
            "END\n"
            "$$;\n")
    uri = open_doc(client, workspace / "schema.sql", text)
    diags = await until(client, uri, has("postgres", "too few parameters"))
    d = next(d for d in diags if d.code == "postgres")
    assert (d.range.start.line, d.range.start.character) == (4, 2)


async def test_a_body_in_single_quotes_is_located_too(
        client: LanguageClient, workspace: Path) -> None:
    text = ("CREATE TABLE users (id int PRIMARY KEY);\n"
            "CREATE FUNCTION quoted() RETURNS text LANGUAGE plpgsql AS '\n"
            "BEGIN\n"
            "  RAISE NOTICE ''it''''s % and %'', 1;\n"
            "  RETURN ''x'';\n"
            "END';\n")
    uri = open_doc(client, workspace / "schema.sql", text)
    diags = await until(client, uri, has("postgres", "too few parameters"))
    d = next(d for d in diags if d.code == "postgres")
    assert (d.range.start.line, d.range.start.character) == (3, 2)


async def test_a_migration_says_what_it_drops_of_the_live_data_without_running(
        client: LanguageClient, workspace: Path, db_url: str) -> None:
    db(db_url, "CREATE TABLE users (id int PRIMARY KEY, email text);"
               "INSERT INTO users VALUES (1, 'a@x'), (2, 'b@x'), (3, NULL);"
               "CREATE TABLE orders (id int);"
               "INSERT INTO orders SELECT generate_series(1, 4)")
    (workspace / "migrations").mkdir()
    uri = open_doc(client, workspace / "migrations" / "0001_drop.sql",
                   "ALTER TABLE users DROP COLUMN email;\n"
                   "DROP TABLE IF EXISTS orders, gone;\n")
    diags = await until(client, uri, lambda ds: has("drops-column")(ds)
                        and has("drops-table")(ds))
    column = next(d for d in diags if d.code == "drops-column")
    table = next(d for d in diags if d.code == "drops-table")
    assert "2 non-null values" in column.message
    assert (column.range.start.line, column.range.start.character) == (0, 18)  # DROP COLUMN
    assert "4 rows" in table.message
    assert (table.range.start.line, table.range.start.character) == (1, 21)
    # Counted, never run: the column and the table are still there.
    assert db(db_url, "SELECT count(email) FROM users") == [(2,)]
    assert db(db_url, "SELECT count(*) FROM orders") == [(4,)]


async def test_a_query_file_is_type_checked_against_the_schema_not_the_database(
        client: LanguageClient, workspace: Path, db_url: str) -> None:
    # The live database has no orders table yet: the queries are checked against the
    # schema file (in the shadow), and nothing of them reaches the database.
    (workspace / "schema.sql").write_text(
        "CREATE TABLE users (id int PRIMARY KEY, email text);\n"
        "CREATE TABLE orders (id int PRIMARY KEY, total numeric NOT NULL);\n")
    (workspace / "queries").mkdir()
    uri = open_doc(client, workspace / "queries" / "report.sql",
                   "SELECT id, total FROM orders;\n"
                   "\n"
                   "SELECT id,\n"
                   "       nosuch\n"
                   "  FROM users;\n"
                   "INSERT INTO users (id, email) VALUES ('x', 'a');\n"
                   "DELETE FROM users WHERE id = $1;\n")
    diags = await until(client, uri, lambda ds: len([d for d in ds if d.code == "postgres"])
                        >= 2)
    errors = sorted((d.range.start.line, d.range.start.character, d.message)
                    for d in diags if d.code == "postgres")
    assert [(line, ch) for line, ch, _ in errors] == [(3, 7), (5, 38)]
    assert 'column "nosuch" does not exist' in errors[0][2]
    assert "integer" in errors[1][2]
    assert db(db_url, "SELECT to_regclass('orders') IS NULL") == [(True,)]


async def test_a_query_file_says_once_when_the_schema_does_not_build(
        client: LanguageClient, workspace: Path) -> None:
    (workspace / "schema.sql").write_text(
        "CREATE TABLE users (id int PRIMARY KEY, owner int REFERENCES nowhere);\n")
    (workspace / "queries").mkdir()
    uri = open_doc(client, workspace / "queries" / "q.sql", "SELECT nosuch FROM users;\n")
    diags = await until(client, uri, has("schema-broken", "nowhere"))
    assert len(diags) == 1 and diags[0].range.start.line == 0
