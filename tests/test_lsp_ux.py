"""What a user sees first in the editor: a rename reads as a rename, and a quick fix never
invents data. The real `trimtab lsp` process (pytest-lsp), a real project, the test database."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest_lsp
from lsprotocol import types as t
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.test_lsp import (  # noqa: F401
    TRIMTAB,
    change_doc,
    client,
    db,
    has,
    make_client,
    open_doc,
    until,
    workspace,
)


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


def _snippet_capable() -> t.ClientCapabilities:
    """VS Code's capabilities as vscode-languageclient 11 announces them: snippet edits in a
    workspace edit (LSP 3.18), which the bundled 1.65 set predates."""
    caps = client_capabilities("visual-studio-code")
    assert caps.workspace is not None
    caps.workspace.workspace_edit = t.WorkspaceEditClientCapabilities(
        document_changes=True, snippet_edit_support=True)
    return caps


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[TRIMTAB, "lsp", "--stdio"],
                                              client_factory=make_client))
async def snippets(lsp_client: LanguageClient, workspace: Path):  # noqa: F811
    @lsp_client.feature(t.CLIENT_REGISTER_CAPABILITY)
    def register(params: t.RegistrationParams) -> None:
        pass

    await lsp_client.initialize_session(t.InitializeParams(
        capabilities=_snippet_capable(), root_uri=from_fs_path(str(workspace)),
        workspace_folders=[t.WorkspaceFolder(uri=from_fs_path(str(workspace)) or "",
                                             name="ws")]))
    yield
    await lsp_client.shutdown_session()


async def _required_column(client: LanguageClient, workspace: Path, db_url: str,  # noqa: F811
                           ) -> tuple[str, t.Diagnostic, list[t.CodeAction]]:
    db(db_url, "CREATE TABLE t (id int); INSERT INTO t VALUES (1)")
    uri = open_doc(client, workspace / "schema.sql",
                   "CREATE TABLE t (\n  id int,\n  code text NOT NULL\n);\n")
    diags = await until(client, uri, has("adds-required-column", "1 row, this will fail"))
    d = next(d for d in diags if d.code == "adds-required-column")
    actions = await client.text_document_code_action_async(t.CodeActionParams(
        text_document=t.TextDocumentIdentifier(uri=uri), range=d.range,
        context=t.CodeActionContext(diagnostics=[d])))
    return uri, d, [a for a in actions or [] if isinstance(a, t.CodeAction) and a.edit]


def _texts(edit: t.WorkspaceEdit) -> list[str]:
    out = [e.new_text for es in (edit.changes or {}).values() for e in es]
    for dc in edit.document_changes or []:
        for e in getattr(dc, "edits", []):
            out.append(e.snippet.value if isinstance(e, t.SnippetTextEdit) else e.new_text)
    return out


async def test_the_default_fix_asks_for_the_value_instead_of_inventing_one(
        snippets: LanguageClient, workspace: Path, db_url: str) -> None:  # noqa: F811
    uri, d, fixes = await _required_column(snippets, workspace, db_url)
    # No choice writes a value nobody chose ('' into a NOT NULL text column).
    assert not any("DEFAULT ''" in x for a in fixes for x in _texts(a.edit or t.WorkspaceEdit()))
    value = next(a for a in fixes if a.title.startswith("Add DEFAULT"))
    assert "edit the value" in value.title and not value.is_preferred
    [change] = value.edit.document_changes or []  # type: ignore[union-attr]
    assert isinstance(change, t.TextDocumentEdit) and change.text_document.uri == uri
    [snippet] = change.edits
    assert isinstance(snippet, t.SnippetTextEdit)
    assert snippet.snippet.value == "DEFAULT ${1:<value>} "  # a placeholder to type over
    assert (snippet.range.start.line, snippet.range.start.character) == (2, 12)


async def test_the_nullable_choice_drops_not_null_and_clears_the_error(
        snippets: LanguageClient, workspace: Path, db_url: str) -> None:  # noqa: F811
    uri, d, fixes = await _required_column(snippets, workspace, db_url)
    nullable = next(a for a in fixes if "nullable" in a.title)
    assert "backfill" in nullable.title
    [edit] = (nullable.edit.changes or {})[uri]  # type: ignore[union-attr]
    lines = ["CREATE TABLE t (", "  id int,", "  code text NOT NULL", ");", ""]
    line = lines[edit.range.start.line]
    assert edit.range.start.line == edit.range.end.line == 2
    lines[2] = line[:edit.range.start.character] + edit.new_text + line[edit.range.end.character:]
    assert lines[2] == "  code text"
    change_doc(snippets, uri, 2, "\n".join(lines))
    await until(snippets, uri, lambda ds: not has("adds-required-column")(ds))


async def test_the_consent_question_carries_the_whole_plan_and_no_cli_flags(
        client: LanguageClient, workspace: Path, db_url: str) -> None:  # noqa: F811
    db(db_url, "CREATE TABLE users (id int PRIMARY KEY, email text, note text); "
               "INSERT INTO users VALUES (1, 'x', 'y')")
    uri = open_doc(client, workspace / "schema.sql", "CREATE TABLE users (id int PRIMARY KEY);\n")
    client.answers = ["Cancel"]  # type: ignore[attr-defined]
    result = await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.push", arguments=[uri]))
    assert result["ok"] is False
    question = client.questions[0]  # type: ignore[attr-defined]
    # One line to headline it (a toast shows that much), then the whole plan for a modal's
    # detail: every change, every hazard, and the SQL that would run.
    headline, _, plan = question.partition("\n\n")
    assert "\n" not in headline and "loses data" in headline
    assert "drops column public.users.email: 1 non-null value" in plan
    assert "drops column public.users.note: 1 non-null value" in plan
    assert "ALTER TABLE public.users DROP COLUMN email;" in plan
    assert "ALTER TABLE public.users DROP COLUMN note;" in plan
    # What the editor says after Cancel names no command-line flag.
    said = [m.message for m in client.messages]
    assert any("nothing was applied" in m for m in said), said
    assert not any("--force" in m for m in said), said
    assert db(db_url, "SELECT count(email) FROM users") == [(1,)]
