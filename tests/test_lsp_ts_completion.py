"""Completion in a Drizzle schema.ts, as an editor asks for it: the real `trimtab lsp`
process, a real Drizzle project pushed to a real database. Each position offers what
TypeScript's own server cannot (the database's names, what only the database has) and
nothing that does not fit there."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types as t
from pytest_lsp import LanguageClient

from tests.test_lsp import db, open_doc
from tests.test_lsp_drizzle import SAMPLE, client, project  # noqa: F401


async def items(client: LanguageClient, project: Path, old: str,  # noqa: F811
                new: str) -> list[t.CompletionItem]:
    """The items offered in schema.ts with ``old`` replaced by ``new``, the cursor where
    ``new`` has its ``|``."""
    text = (SAMPLE / "schema.ts").read_text()  # (open_doc writes the typed text to disk)
    assert old in text
    typed = text.replace(old, new.replace("|", ""), 1)
    offset = text.index(old) + new.index("|")
    uri = open_doc(client, project / "schema.ts", typed)
    line = typed[:offset].count("\n")
    result = await client.text_document_completion_async(t.CompletionParams(
        text_document=t.TextDocumentIdentifier(uri=uri),
        position=t.Position(line=line, character=offset - (typed.rfind("\n", 0, offset) + 1))))
    assert isinstance(result, t.CompletionList)
    return list(result.items)


async def refresh(client: LanguageClient) -> None:  # noqa: F811
    """The database changed under the server."""
    await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.refresh", arguments=[]))


TITLE = 'title: text("title").notNull(),'


async def test_tables_inside_references(client: LanguageClient, project: Path,  # noqa: F811
                                        db_url: str) -> None:
    db(db_url, "CREATE TABLE audit_log (id int PRIMARY KEY)")
    await refresh(client)
    got = await items(client, project, TITLE,
                      'editorId: integer("editor_id").references(() => |')
    by = {i.label: i for i in got}
    assert {"users", "posts", "comments"} <= set(by)
    assert by["users"].detail == "table users"
    # Only in the database: offered, with what to do about it
    assert "auditLog" in by and "not in the schema" in (by["auditLog"].detail or "")
    assert "id" not in by and "email" not in by
    # A prefix typed: the same list (the editor filters it)
    got = await items(client, project, TITLE,
                      'editorId: integer("editor_id").references(() => us|')
    assert "users" in {i.label for i in got}


async def test_columns_after_a_table_inside_references(
        client: LanguageClient, project: Path, db_url: str) -> None:  # noqa: F811
    db(db_url, "ALTER TABLE users ADD COLUMN nickname text")
    await refresh(client)
    got = await items(client, project, TITLE,
                      'editorId: integer("editor_id").references(() => users.|')
    by = {i.label: i for i in got}
    assert {"id", "publicId", "email", "displayName", "createdAt"} <= set(by)
    assert by["displayName"].detail == "column display_name text of users"  # the database's
    assert "not in the schema" in (by["nickname"].detail or "")
    assert "title" not in by and "posts" not in by  # posts' column, and a table


async def test_index_columns_from_the_callback_parameter(
        client: LanguageClient, project: Path) -> None:  # noqa: F811
    old = '(t) => [index("posts_author_idx").on(t.authorId),'
    got = await items(client, project, old, '(t) => [index("posts_author_idx").on(|),')
    labels = [i.label for i in got]
    assert {"t.id", "t.authorId", "t.title", "t.createdAt"} <= set(labels)
    assert "t.email" not in labels and "t.postId" not in labels  # other tables' columns
    # The parameter's name is the callback's, whatever it is
    got = await items(client, project, old,
                      '(tbl) => [index("posts_author_idx").on(tbl.title, |),')
    assert "tbl.authorId" in {i.label for i in got}
    got = await items(client, project, old, '(t) => [index("posts_author_idx").on(t.|),')
    by = {i.label: i for i in got}
    assert {"id", "authorId", "title"} <= set(by)
    assert by["authorId"].detail == "column author_id integer of posts"
    # In the users table's callback: users' columns
    got = await items(client, project, "uniqueIndex(\"users_public_id_idx\").on(t.publicId)",
                      "uniqueIndex(\"users_public_id_idx\").on(|)")
    assert {"t.email", "t.publicId"} <= {i.label for i in got}


async def test_column_builders_after_a_key(client: LanguageClient, project: Path,  # noqa: F811
                                           db_url: str) -> None:
    got = await items(client, project, TITLE, "subTitle: |")
    by = {i.label: i for i in got}
    assert {'text("sub_title")', 'varchar("sub_title", { length: 256 })',
            'roleEnum("sub_title")', 'timestamp("sub_title", { withTimezone: true })'} \
        <= set(by)
    assert by['varchar("sub_title", { length: 256 })'].insert_text == \
        'varchar("sub_title", { length: ${1:256} })'
    assert by['varchar("sub_title", { length: 256 })'].insert_text_format == \
        t.InsertTextFormat.Snippet
    assert "admin" in (by['roleEnum("sub_title")'].detail or "")
    assert not any(label.startswith("vector") for label in by)  # no pgvector yet
    assert "users" not in by and "t.id" not in by

    # The database has the extension and a column the file does not declare yet: its
    # type comes first
    db(db_url, "CREATE EXTENSION vector; ALTER TABLE posts ADD COLUMN embedding vector(3),"
               " ADD COLUMN slug varchar(40)")
    await refresh(client)
    got = await items(client, project, TITLE, "slug: |")
    assert got[0].label == 'varchar("slug", { length: 40 })', got[0]
    assert "database" in (got[0].detail or "")
    got = await items(client, project, TITLE, "embedding: |")
    assert got[0].label == 'vector("embedding", { dimensions: 3 })', got[0]
    by = {i.label: i for i in got}
    assert 'vector("embedding", { dimensions: 1536 })' in by
    # A builder the file does not import yet comes with its import; one it does, without
    line = "  jsonb, uuid, uniqueIndex, index, check,"
    assert line in (SAMPLE / "schema.ts").read_text().split("\n")
    assert list(got[0].additional_text_edits or ()) == [t.TextEdit(range=t.Range(
        start=t.Position(line=3, character=len(line) - 1),
        end=t.Position(line=3, character=len(line) - 1)), new_text=", vector")]
    assert not by['text("embedding")'].additional_text_edits
    assert by['numeric("embedding", { precision: 10, scale: 2 })'].additional_text_edits
    assert not by['roleEnum("embedding")'].additional_text_edits  # declared in the file


async def test_database_names_in_sql_templates(
        client: LanguageClient, project: Path) -> None:  # noqa: F811
    got = await items(client, project, "sql`${t.age} >= 0`", "sql`${t.age} >= 0 AND |`")
    by = {i.label: i for i in got}
    # users' columns, as PostgreSQL names them
    assert {"display_name", "created_at", "public_id"} <= set(by)
    assert "displayName" not in by and "author_id" not in by
    assert {"users", "posts"} <= set(by)
    got = await items(client, project, "sql`${t.age} >= 0`",
                      "sql`${t.age} >= 0 AND (SELECT count(*) FROM posts WHERE posts.|)`")
    assert {i.label for i in got} >= {"author_id", "title"}
    assert "email" not in {i.label for i in got}


async def test_nothing_where_typescript_answers(
        client: LanguageClient, project: Path) -> None:  # noqa: F811
    """Positions that are TypeScript's alone get nothing from trimtab (no noise next to
    its answers)."""
    for new in ('title: text(|"title").notNull(),', 'title: text("title").|notNull(),',
                'title: text("title").notNull(),\n    x: integer("x").default(|),'):
        assert await items(client, project, TITLE, new) == [], new


async def test_what_the_database_has_is_declared_in_place(
        client: LanguageClient, project: Path, db_url: str) -> None:  # noqa: F811
    db(db_url, "CREATE TABLE audit_log (id bigint NOT NULL, note text);"
               "ALTER TABLE posts ADD COLUMN slug varchar(40) NOT NULL DEFAULT 'x',"
               " ADD COLUMN rank integer")
    await refresh(client)
    got = await items(client, project, "export const comments = pgTable(\n  \"comments\",",
                      "export const auditLog = pgTable(\"|\", {});\n\n"
                      "export const comments = pgTable(\n  \"comments\",")
    assert [i.label for i in got] == ["audit_log"]
    got = await items(client, project, TITLE, TITLE + "\n    |")
    assert [(i.label, i.insert_text) for i in got] == [
        ("slug", 'slug: varchar("slug", { length: 40 }).notNull(),'),
        ("rank", 'rank: integer("rank"),')]
    assert "not in the schema" in (got[0].detail or "")
