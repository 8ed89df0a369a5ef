"""Completion in one file of a Drizzle schema spread over several: a table declared in
another file comes with its import. The real `trimtab lsp` process and database."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lsprotocol import types as t
from pytest_lsp import LanguageClient

from tests.test_lsp import open_doc
from tests.test_lsp_drizzle import client  # noqa: F401
from trimtab import engine
from trimtab.config import load_config

MULTIFILE = Path(__file__).resolve().parent.parent / "fixtures" / "drizzle" / "multifile"


@pytest.fixture
def project(tmp_path: Path, db_url: str) -> Path:
    root = tmp_path / "app"
    shutil.copytree(MULTIFILE, root)
    engine.push(load_config(root, url=db_url))
    return root


async def test_a_table_of_another_file_comes_with_its_import(
        client: LanguageClient, project: Path) -> None:  # noqa: F811
    path = project / "src" / "db" / "schema" / "posts.ts"
    text = path.read_text()
    old = "references(() => posts.id)"
    typed = text.replace(old, "references(() => )", 1)
    offset = text.index(old) + len("references(() => ")
    uri = open_doc(client, path, typed)
    got = await client.text_document_completion_async(t.CompletionParams(
        text_document=t.TextDocumentIdentifier(uri=uri),
        position=t.Position(line=typed[:offset].count("\n"),
                            character=offset - (typed.rfind("\n", 0, offset) + 1))))
    assert isinstance(got, t.CompletionList)
    by = {i.label: i for i in got.items}
    assert {"users", "posts", "comments", "invoices"} <= set(by)
    assert not by["users"].additional_text_edits  # imported already
    assert not by["posts"].additional_text_edits  # this file's
    header = 'import { users } from "./users.js";'
    line = typed[:typed.index(header)].count("\n")
    assert list(by["invoices"].additional_text_edits or ()) == [t.TextEdit(
        range=t.Range(start=t.Position(line=line, character=len(header)),
                      end=t.Position(line=line, character=len(header))),
        new_text='\nimport { invoices } from "./billing.js";')]
