"""Completion in the schema.ts of an untrusted workspace answers from the files alone: no
connection to the configured database, so nothing of what only the database has. The real
`trimtab lsp` process."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lsprotocol import types as t
from pytest_lsp import LanguageClient

from tests.conftest import PgServer
from tests.test_lsp import open_doc
from tests.test_lsp_drizzle import SAMPLE
from tests.test_lsp_trust import (  # noqa: F401
    client,
    mine,
    options,
    server_logins,
    status,
    untrusted,
    with_database,
)


@pytest.fixture
def workspace(tmp_path: Path, db_url: str) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(SAMPLE, root)
    (root / "drizzle.config.ts").unlink()
    (root / "trimtab.toml").write_text(f'schema = "schema.ts"\ndatabase_url = "{db_url}"\n')
    return root


async def test_untrusted_schema_ts_completion_opens_no_connection(
        client: LanguageClient, workspace: Path, db_url: str,  # noqa: F811
        pg_server: PgServer) -> None:
    if pg_server.version < 170000:
        pytest.skip("login event triggers arrived in PostgreSQL 17")
    with mine(db_url) as conn:
        conn.execute("""
            CREATE TABLE audit_log (id int);
            CREATE TABLE logins (app text);
            CREATE FUNCTION note_login() RETURNS event_trigger LANGUAGE plpgsql AS $$
            BEGIN
              INSERT INTO public.logins VALUES (current_setting('application_name'));
            END $$;
            CREATE EVENT TRIGGER note_login ON login EXECUTE FUNCTION note_login();
        """)
    await status(client, untrusted)
    text = (SAMPLE / "schema.ts").read_text()
    typed = text.replace('title: text("title").notNull(),',
                         'editorId: integer("editor_id").references(() => ', 1)
    offset = text.index('title: text("title").notNull(),') + len(
        'editorId: integer("editor_id").references(() => ')
    uri = open_doc(client, workspace / "schema.ts", typed)
    line = typed[:offset].count("\n")
    got = await client.text_document_completion_async(t.CompletionParams(
        text_document=t.TextDocumentIdentifier(uri=uri),
        position=t.Position(line=line, character=offset - (typed.rfind("\n", 0, offset) + 1))))
    assert isinstance(got, t.CompletionList)
    labels = {i.label for i in got.items}
    assert {"users", "posts", "comments"} <= labels  # the files'
    assert "auditLog" not in labels  # the database's: not read
    assert server_logins(db_url) == 0
