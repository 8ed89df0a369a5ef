"""Navigation in an untrusted workspace: signature help, references, hover and symbols
answer from the schema files alone and never open a connection to the configured
database (the catalog of built-in functions included). The real `trimtab lsp` process."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types as t
from pytest_lsp import LanguageClient

from tests.conftest import PgServer
from tests.test_lsp import open_doc
from tests.test_lsp_rename import at
from tests.test_lsp_trust import (  # noqa: F401
    client,
    mine,
    options,
    server_logins,
    status,
    untrusted,
    with_database,
    workspace,
)

TEXT = """CREATE FUNCTION add_tax(amount numeric) RETURNS numeric LANGUAGE sql
  AS $$ SELECT amount * 1.2 $$;
CREATE TABLE users (id int PRIMARY KEY, code text CHECK (left(code, 2) <> 'xx'));
CREATE TABLE prices (net numeric, gross numeric GENERATED ALWAYS AS (add_tax(net)) STORED,
  uid int REFERENCES users (id));
"""


async def test_untrusted_navigation_reads_no_catalog_and_opens_no_connection(
        client: LanguageClient, workspace: Path, db_url: str,  # noqa: F811
        pg_server: PgServer) -> None:
    if pg_server.version < 170000:
        pytest.skip("login event triggers arrived in PostgreSQL 17")
    with mine(db_url) as conn:
        conn.execute("""
            CREATE TABLE logins (app text);
            CREATE FUNCTION note_login() RETURNS event_trigger LANGUAGE plpgsql AS $$
            BEGIN
              INSERT INTO public.logins VALUES (current_setting('application_name'));
            END $$;
            CREATE EVENT TRIGGER note_login ON login EXECUTE FUNCTION note_login();
        """)
    await status(client, untrusted)
    uri = open_doc(client, workspace / "schema.sql", TEXT)
    doc = t.TextDocumentIdentifier(uri=uri)
    # the schema's own function: from the file
    got = await client.text_document_signature_help_async(t.SignatureHelpParams(
        text_document=doc, position=at(TEXT, "add_tax(net", len("add_tax("))))
    assert got is not None and got.signatures[0].label.startswith("add_tax(amount numeric)")
    # a built-in would need the database's catalog: nothing rather than a connection
    assert await client.text_document_signature_help_async(t.SignatureHelpParams(
        text_document=doc, position=at(TEXT, "left(", len("left(")))) is None
    hover = await client.text_document_hover_async(t.HoverParams(
        text_document=doc, position=at(TEXT, "users (id)")))
    assert hover is not None and "| code | text |" in hover.contents.value  # type: ignore[union-attr]
    assert "live:" not in hover.contents.value  # type: ignore[union-attr]
    refs = await client.text_document_references_async(t.ReferenceParams(
        text_document=doc, position=at(TEXT, "users (id)"),
        context=t.ReferenceContext(include_declaration=True)))
    assert refs is not None and len(refs) == 2
    assert server_logins(db_url) == 0
