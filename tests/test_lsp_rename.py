"""F2 in a SQL schema file, as an editor drives it: the real `trimtab lsp` process, a real
project and database, and the edit it returns applied and pushed with the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types as t
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from tests.test_cli_push import run
from tests.test_lsp import client, db, open_doc, uri_of, workspace  # noqa: F401, F811

SCHEMA = """CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE users (
  id int PRIMARY KEY,
  email text NOT NULL UNIQUE,
  m mood DEFAULT 'happy'
);
CREATE TABLE posts (
  id int PRIMARY KEY,
  author text REFERENCES users (email)
);
CREATE INDEX users_email_lower ON users (lower(email));
CREATE VIEW emails AS SELECT u.email, u.id FROM users u;
"""


def apply(text: str, edits: list[t.TextEdit]) -> str:
    """Apply LSP edits (ASCII text: columns are characters) the way an editor does."""
    lines = text.splitlines(True)

    def offset(p: t.Position) -> int:
        if p.line >= len(lines):
            return len(text)
        return sum(len(x) for x in lines[:p.line]) + p.character

    for e in sorted(edits, key=lambda e: offset(e.range.start), reverse=True):
        text = text[:offset(e.range.start)] + e.new_text + text[offset(e.range.end):]
        lines = text.splitlines(True)
    return text


def at(text: str, needle: str, delta: int = 1) -> t.Position:
    i = text.index(needle) + delta
    line = text.count("\n", 0, i)
    return t.Position(line=line, character=i - (text.rfind("\n", 0, i) + 1))


async def do_rename(client: LanguageClient, uri: str, pos: t.Position, new: str  # noqa: F811
                    ) -> t.WorkspaceEdit:
    doc = t.TextDocumentIdentifier(uri=uri)
    prep = await client.text_document_prepare_rename_async(t.PrepareRenameParams(
        text_document=doc, position=pos))
    assert prep is not None
    edit = await client.text_document_rename_async(t.RenameParams(
        text_document=doc, position=pos, new_name=new))
    assert edit is not None and edit.changes
    return edit


def pushed(workspace: Path, db_url: str) -> None:  # noqa: F811
    r = run(workspace, "push", "--url", db_url)
    assert r.returncode == 0, r.stderr


async def test_renaming_a_live_column_renames_its_uses_and_push_plans_a_rename(
        client: LanguageClient, workspace: Path, db_url: str) -> None:  # noqa: F811
    (workspace / "schema.sql").write_text(SCHEMA)
    pushed(workspace, db_url)
    db(db_url, "INSERT INTO users VALUES (1, 'a@x', 'sad')")
    uri = open_doc(client, workspace / "schema.sql", SCHEMA)
    edit = await do_rename(client, uri, at(SCHEMA, "email text"), "mail")
    new = apply(SCHEMA, edit.changes[uri])  # type: ignore[index]
    assert "-- trimtab: renamed from email\n  mail text NOT NULL UNIQUE" in new
    assert "REFERENCES users (mail)" in new
    assert "ON users (lower(mail))" in new
    assert "SELECT u.mail AS email, u.id FROM users u" in new  # the view keeps its columns
    (workspace / "schema.sql").write_text(new)
    r = run(workspace, "push", "--url", db_url, "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "RENAME COLUMN email TO mail" in r.stdout
    assert "DROP COLUMN" not in r.stdout and "possible rename" not in r.stderr
    pushed(workspace, db_url)
    assert db(db_url, "SELECT mail FROM users") == [("a@x",)]


async def test_renaming_an_enum_value_renames_defaults_and_pushes_as_a_rename(
        client: LanguageClient, workspace: Path, db_url: str) -> None:  # noqa: F811
    (workspace / "schema.sql").write_text(SCHEMA)
    pushed(workspace, db_url)
    uri = open_doc(client, workspace / "schema.sql", SCHEMA)
    edit = await do_rename(client, uri, at(SCHEMA, "'happy'"), "glad")
    new = apply(SCHEMA, edit.changes[uri])  # type: ignore[index]
    assert "ENUM ('glad' /* trimtab: renamed from 'happy' */, 'sad')" in new
    assert "m mood DEFAULT 'glad'" in new
    (workspace / "schema.sql").write_text(new)
    r = run(workspace, "push", "--url", db_url, "--dry-run")
    assert "RENAME VALUE 'happy' TO 'glad'" in r.stdout, r.stdout + r.stderr


async def test_renaming_a_new_table_writes_no_hint(client: LanguageClient, workspace: Path,  # noqa: F811
                                                   db_url: str) -> None:
    uri = open_doc(client, workspace / "schema.sql", SCHEMA)  # nothing pushed yet
    edit = await do_rename(client, uri, at(SCHEMA, "users ("), "people")
    new = apply(SCHEMA, edit.changes[uri])  # type: ignore[index]
    assert "trimtab: renamed" not in new
    assert "CREATE TABLE people (" in new and "REFERENCES people (email)" in new
    assert "ON people (lower(email))" in new and "FROM people u" in new


async def test_a_rename_is_across_schema_files(client: LanguageClient, workspace: Path,  # noqa: F811
                                               db_url: str) -> None:
    (workspace / "trimtab.toml").write_text(
        f'schema = "schema"\ndatabase_url = "{db_url}"\n')
    (workspace / "schema").mkdir()
    other = workspace / "schema" / "b_posts.sql"
    other.write_text("CREATE TABLE posts (id int, uid int REFERENCES users (id));\n")
    text = "CREATE TABLE users (id int PRIMARY KEY);\n"
    await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.refresh", arguments=[]))  # the configuration changed
    uri = open_doc(client, workspace / "schema" / "a_users.sql", text)
    edit = await do_rename(client, uri, at(text, "users"), "people")
    assert apply(other.read_text(), edit.changes[uri_of(other)]) == (  # type: ignore[index]
        "CREATE TABLE posts (id int, uid int REFERENCES people (id));\n")


async def test_a_name_used_in_a_function_body_is_refused(
        client: LanguageClient, workspace: Path) -> None:  # noqa: F811
    text = SCHEMA + ("CREATE FUNCTION n() RETURNS bigint LANGUAGE sql AS "
                     "$$ SELECT count(*) FROM users $$;\n")
    uri = open_doc(client, workspace / "schema.sql", text)
    with pytest.raises(JsonRpcException, match="used inside the body of create function"):
        await client.text_document_rename_async(t.RenameParams(
            text_document=t.TextDocumentIdentifier(uri=uri), position=at(text, "users ("),
            new_name="people"))


async def test_a_name_only_the_database_has_is_refused(
        client: LanguageClient, workspace: Path, db_url: str) -> None:  # noqa: F811
    db(db_url, "CREATE TABLE accounts (id int PRIMARY KEY)")
    text = "CREATE TABLE posts (id int, a int REFERENCES accounts (id));\n"
    uri = open_doc(client, workspace / "schema.sql", text)
    with pytest.raises(JsonRpcException, match="in the database but not declared"):
        await client.text_document_prepare_rename_async(t.PrepareRenameParams(
            text_document=t.TextDocumentIdentifier(uri=uri), position=at(text, "accounts")))
