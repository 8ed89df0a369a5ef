"""What a user sees first in the editor: a rename reads as a rename, and a quick fix never
invents data. The real `trimtab lsp` process (pytest-lsp), a real project, the test database."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lsprotocol import types as t
from pytest_lsp import LanguageClient

from tests.test_lsp import client, db, has, open_doc, until, workspace  # noqa: F401


class Recording(dict[str, Sequence[t.Diagnostic]]):
    """The client's diagnostics, remembering every publication (not only the last)."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[Sequence[t.Diagnostic]] = []

    def __setitem__(self, uri: str, diagnostics: Sequence[t.Diagnostic]) -> None:
        self.published.append(diagnostics)
        super().__setitem__(uri, diagnostics)


async def test_a_plain_rename_headlines_as_a_rename_candidate(
        client: LanguageClient, workspace: Path, db_url: str) -> None:  # noqa: F811
    db(db_url, "CREATE TABLE users (id int PRIMARY KEY, full_name text NOT NULL);"
               "INSERT INTO users VALUES (1, 'Ada'), (2, 'Bob')")
    seen = Recording()
    client.diagnostics = seen
    uri = open_doc(client, workspace / "schema.sql",
                   "CREATE TABLE users (\n  id int PRIMARY KEY,\n  name text NOT NULL\n);\n")
    diags = await until(client, uri, has("rename-candidate", "2 non-null values"))
    # Already the fast path's first findings read as a rename, never a red "will fail".
    assert not any(d.code == "adds-required-column" for ds in seen.published for d in ds)
    # The rename explains the add, the drop and the data loss of the same pair: one
    # diagnostic, not four with a red "will fail" first.
    assert [d.code for d in diags] == ["rename-candidate"], [d.message for d in diags]
    d = diags[0]
    assert d.range.start.line == 2
    assert "full_name" in d.message and "name" in d.message
    # What happens without the hint stays in the message: nothing is hidden.
    assert "2 non-null values" in d.message and "will fail" in d.message, d.message
