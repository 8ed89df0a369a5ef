"""Completion in a SQL schema file, as an editor asks for it: the real `trimtab lsp` process,
a real project and database; each position offers what fits there and nothing else."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types as t
from pytest_lsp import LanguageClient

from tests.test_lsp import client, db, open_doc, workspace  # noqa: F401

BASE = """CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE users (
  id int PRIMARY KEY,
  email text NOT NULL,
  m mood
);
"""


async def labels(client: LanguageClient, workspace: Path, typed: str,  # noqa: F811
                 after: str = "") -> list[str]:
    """The labels offered with the cursor at the end of ``typed`` (written after BASE)."""
    text = BASE + typed + after
    uri = open_doc(client, workspace / "schema.sql", text)
    line = text[:len(BASE + typed)].count("\n")
    col = len(BASE + typed) - (text.rfind("\n", 0, len(BASE + typed)) + 1)
    result = await client.text_document_completion_async(t.CompletionParams(
        text_document=t.TextDocumentIdentifier(uri=uri),
        position=t.Position(line=line, character=col)))
    assert isinstance(result, t.CompletionList)
    return [i.label for i in result.items]


async def test_tables_after_references_on_and_from(
        client: LanguageClient, workspace: Path, db_url: str) -> None:  # noqa: F811
    db(db_url, "CREATE TABLE audit_log (id int)")
    await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.refresh", arguments=[]))  # the database changed under the server
    got = await labels(client, workspace, "CREATE TABLE posts (a int REFERENCES ")
    assert "users" in got and "audit_log" in got  # the file's and the database's
    assert "id" not in got and "NOT NULL" not in got and "mood" not in got
    for typed in ("CREATE INDEX ix ON ", "CREATE POLICY p ON ",
                  "CREATE TRIGGER tr BEFORE INSERT ON "):
        got = await labels(client, workspace, typed)
        assert "users" in got and "email" not in got, typed
    got = await labels(client, workspace, "CREATE VIEW v AS SELECT 1 FROM ")
    assert "users" in got and "CREATE TABLE" not in got


async def test_columns_in_lists_and_after_a_qualifier(
        client: LanguageClient, workspace: Path) -> None:  # noqa: F811
    got = await labels(client, workspace, "CREATE TABLE posts (a int REFERENCES users (")
    assert {"id", "email", "m"} <= set(got) and "users" not in got and "a" not in got
    got = await labels(client, workspace, "CREATE INDEX ix ON users (")
    assert {"id", "email", "m"} <= set(got) and "NOT NULL" not in got
    got = await labels(client, workspace, "CREATE VIEW v AS SELECT u.", " FROM users u;\n")
    assert {"id", "email", "m"} <= set(got) and "users" not in got
    got = await labels(client, workspace, "CREATE TABLE posts (a int, b text, PRIMARY KEY (")
    assert {"a", "b"} <= set(got) and "email" not in got
    got = await labels(client, workspace, "CREATE TABLE posts (a int, b text, UNIQUE (")
    assert {"a", "b"} <= set(got)


async def test_types_in_a_column_type_position(
        client: LanguageClient, workspace: Path, db_url: str) -> None:  # noqa: F811
    db(db_url, "CREATE EXTENSION citext; CREATE DOMAIN posint AS int CHECK (VALUE > 0)")
    await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.refresh", arguments=[]))
    got = await labels(client, workspace, "CREATE TABLE posts (a ")
    assert {"mood", "posint", "citext", "integer", "text", "timestamp with time zone",
            "jsonb"} <= set(got)
    assert "users" not in got and "NOT NULL" not in got and "email" not in got
    got = await labels(client, workspace, "CREATE TABLE posts (a int, b text DEFAULT 1::")
    assert "integer" in got and "mood" in got


async def test_enum_values_in_a_default_and_clauses_after_a_type(
        client: LanguageClient, workspace: Path) -> None:  # noqa: F811
    got = await labels(client, workspace, "CREATE TABLE posts (a mood DEFAULT ")
    assert got == ["'happy'", "'sad'"]
    got = await labels(client, workspace, "CREATE TABLE posts (a mood DEFAULT '")
    assert got == ["'happy'", "'sad'"]
    got = await labels(client, workspace, "CREATE TABLE posts (a text DEFAULT ")
    assert got == []  # not an enum: nothing to invent
    got = await labels(client, workspace, "CREATE TABLE posts (a int ")
    assert {"NOT NULL", "DEFAULT", "REFERENCES", "PRIMARY KEY", "UNIQUE", "CHECK",
            "GENERATED ALWAYS AS IDENTITY"} <= set(got)
    assert "integer" not in got and "users" not in got
    got = await labels(client, workspace, "CREATE TABLE posts (a int NOT ")
    assert got == ["NULL"]


async def test_statement_snippets_at_a_statement_start(
        client: LanguageClient, workspace: Path) -> None:  # noqa: F811
    text = BASE + "CRE"
    uri = open_doc(client, workspace / "schema.sql", text)
    result = await client.text_document_completion_async(t.CompletionParams(
        text_document=t.TextDocumentIdentifier(uri=uri),
        position=t.Position(line=text.count("\n"), character=3)))
    assert isinstance(result, t.CompletionList)
    items = {i.label: i for i in result.items}
    assert {"CREATE TABLE", "CREATE INDEX", "CREATE POLICY", "CREATE TRIGGER"} <= set(items)
    assert items["CREATE TABLE"].insert_text_format == t.InsertTextFormat.Snippet
    assert "users" not in items and "NOT NULL" not in items
    got = await labels(client, workspace, "CREATE TABLE posts (id int);\n")
    assert "CREATE TABLE" in got  # after a ';': a new statement
