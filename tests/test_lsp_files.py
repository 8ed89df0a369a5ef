"""Every SQL file of a project in the editor: errors inside function bodies at their line,
migrations (what they do to the live data), query files type-checked against the schema
through the sandboxed shadow. The real `trimtab lsp` process over stdio (pytest-lsp)."""

from __future__ import annotations

from pathlib import Path

from pytest_lsp import LanguageClient

from tests import test_lsp
from tests.test_lsp import has, open_doc, until

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
