"""The language server on a Drizzle project: schema.ts gets the diagnostics, hovers and
code actions a schema.sql gets, placed on the TypeScript that causes them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types as t
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.test_lsp import TRIMTAB, change_doc, db, has, make_client, open_doc, until
from tests.test_lsp_robustness import _position, assert_inside, status_for, watch_statuses
from trimtab import engine
from trimtab.config import load_config

SAMPLE = Path(__file__).resolve().parent.parent / "fixtures" / "drizzle" / "sample"


@pytest.fixture
def project(tmp_path: Path, db_url: str) -> Path:
    root = tmp_path / "app"
    shutil.copytree(SAMPLE, root)
    engine.push(load_config(root, url=db_url))
    db(db_url, "INSERT INTO users (email) VALUES ('a@example.com'), ('b@example.com')")
    return root


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[TRIMTAB, "lsp", "--stdio"],
                                              client_factory=make_client))
async def client(lsp_client: LanguageClient, project: Path, db_url: str):
    lsp_client.answers = []  # type: ignore[attr-defined]
    watch_statuses(lsp_client)

    @lsp_client.feature(t.CLIENT_REGISTER_CAPABILITY)
    def register(params: t.RegistrationParams) -> None:
        pass

    @lsp_client.feature(t.WINDOW_SHOW_MESSAGE_REQUEST)
    def ask(params: t.ShowMessageRequestParams) -> t.MessageActionItem | None:
        answers = lsp_client.answers  # type: ignore[attr-defined]
        return t.MessageActionItem(title=answers.pop(0) if answers else "Cancel")

    await lsp_client.initialize_session(t.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        initialization_options={"databaseUrl": db_url},
        workspace_folders=[t.WorkspaceFolder(uri=from_fs_path(str(project)) or "",
                                             name="app")]))
    yield
    await lsp_client.shutdown_session()


def line_of(text: str, needle: str) -> int:
    return text[:text.index(needle)].count("\n")


async def test_a_dropped_column_is_flagged_on_its_table(client: LanguageClient,
                                                        project: Path) -> None:
    text = (project / "schema.ts").read_text()
    uri = open_doc(client, project / "schema.ts", text)
    edited = text.replace('    email: varchar("email", { length: 255 }).notNull().unique(),\n',
                          "")
    change_doc(client, uri, 2, edited)
    diags = await until(client, uri, has("drops-column", "2 non-null values"))
    d = next(d for d in diags if d.code == "drops-column")
    # Where the column was (remembered), or on its table: never in the DDL trimtab wrote.
    assert d.range.start.line in (line_of(text, "email:"), line_of(edited, "pgTable(\n  \"users\""))
    hover = await client.text_document_hover_async(t.HoverParams(
        text_document=t.TextDocumentIdentifier(uri=uri),
        position=t.Position(line=line_of(edited, "displayName:") , character=6)))
    assert hover is not None and "column public.users.display_name" in hover.contents.value  # type: ignore[union-attr]
    table = await client.text_document_hover_async(t.HoverParams(
        text_document=t.TextDocumentIdentifier(uri=uri),
        position=t.Position(line=line_of(edited, '"users",'), character=4)))
    assert table is not None and "DROP COLUMN email" in table.contents.value  # type: ignore[union-attr]


async def test_what_the_reader_does_not_understand_is_placed_exactly(
        client: LanguageClient, project: Path) -> None:
    text = (project / "schema.ts").read_text()
    uri = open_doc(client, project / "schema.ts", text)
    edited = text.replace('    age: integer("age"),', '    age: integer("age").foo(),')
    change_doc(client, uri, 2, edited)
    diags = await until(client, uri, has("drizzle", "foo"))
    d = next(d for d in diags if d.code == "drizzle")
    line = line_of(edited, ".foo()")
    assert d.severity == t.DiagnosticSeverity.Error and d.range.start.line == line
    assert edited.split("\n")[line][d.range.start.character:].startswith("foo")  or \
        edited.split("\n")[line][d.range.start.character:].startswith(".foo")


async def test_a_rename_candidate_gets_a_typescript_hint(client: LanguageClient,
                                                         project: Path, db_url: str) -> None:
    text = (project / "schema.ts").read_text()
    uri = open_doc(client, project / "schema.ts", text)
    edited = text.replace('displayName: text("display_name")', 'displayName: text("full_name")')
    change_doc(client, uri, 2, edited)
    diags = await until(client, uri, has("rename-candidate"))
    d = next(d for d in diags if d.code == "rename-candidate")
    actions = await client.text_document_code_action_async(t.CodeActionParams(
        text_document=t.TextDocumentIdentifier(uri=uri), range=d.range,
        context=t.CodeActionContext(diagnostics=[d])))
    fix = next(a for a in actions or [] if isinstance(a, t.CodeAction) and a.edit)
    new_text = fix.edit.changes[uri][0].new_text  # type: ignore[index, union-attr]
    assert "    // trimtab: renamed from display_name\n    displayName: text(\"full_name\")" \
        in new_text
    (project / "schema.ts").write_text(new_text)
    client.answers = ["Apply"]  # type: ignore[attr-defined]
    result = await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.push", arguments=[uri]))
    assert result["ok"] is True, result
    assert db(db_url, "SELECT count(*) FROM information_schema.columns "
                      "WHERE table_name = 'users' AND column_name = 'full_name'") == [(1,)]


async def test_a_new_not_null_column_gets_a_default_quick_fix_in_typescript(
        client: LanguageClient, project: Path, db_url: str) -> None:
    """As in a .sql schema: no fix invents a value (a client without snippet edits gets the
    nullable choice only), and the edited schema.ts pushes (the table has rows)."""
    text = (project / "schema.ts").read_text()
    uri = open_doc(client, project / "schema.ts", text)
    edited = text.replace('    age: integer("age"),\n',
                          '    age: integer("age"),\n    nick: text("nick").notNull(),\n'
                          '    since: timestamp("since", { withTimezone: true }).notNull(),\n')
    change_doc(client, uri, 2, edited)
    fixed: list[str] = []
    for column, expected in (("nick", 'nick: text("nick"),'),
                             ("since", 'since: timestamp("since", { withTimezone: true }),')):
        # The diagnostics of the text with the previous fix in: those published before it
        # still name `since` too, and the server's quick fix reads the current text.
        diags = await until(client, uri, lambda ds, column=column: has(
            "adds-required-column", column)(ds) and not any(
                has("adds-required-column", done)(ds) for done in fixed))
        d = next(d for d in diags if d.code == "adds-required-column" and column in d.message)
        actions = await client.text_document_code_action_async(t.CodeActionParams(
            text_document=t.TextDocumentIdentifier(uri=uri), range=d.range,
            context=t.CodeActionContext(diagnostics=[d])))
        fixes = [a for a in actions or [] if isinstance(a, t.CodeAction) and a.edit]
        assert [a.title for a in fixes] == [
            "Make it nullable, backfill later (then add .notNull() back)"]
        edit = fixes[0].edit.changes[uri][0]  # type: ignore[index, union-attr]
        lines = edited.split("\n")
        assert edit.range.start.line == edit.range.end.line and not edit.new_text
        line = lines[edit.range.start.line]
        lines[edit.range.start.line] = (line[:edit.range.start.character]
                                        + line[edit.range.end.character:])
        edited = "\n".join(lines)
        assert expected in edited, edited
        change_doc(client, uri, 3 if column == "nick" else 4, edited)
        fixed.append(column)
    (project / "schema.ts").write_text(edited)
    client.answers = ["Apply"]  # type: ignore[attr-defined]
    result = await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.push", arguments=[uri]))
    assert result["ok"] is True, result
    # The existing rows got no invented value: NULL, to backfill.
    assert db(db_url, "SELECT count(*) FROM users WHERE nick IS NULL AND since IS NULL") \
        == [(2,)]


async def test_generate_from_a_drizzle_project(client: LanguageClient, project: Path) -> None:
    uri = open_doc(client, project / "schema.ts", (project / "schema.ts").read_text())
    result: Any = await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.generate", arguments=[uri, "init"]))
    assert result["ok"] is True and result["file"].endswith("0000_init.sql")
    assert "CREATE TABLE" in Path(result["file"]).read_text()


TS_PIECES = ["(", ")", "{", "}", ",", ".notNull()", ".default(", "`", "${", "'", '"', "//",
             "/*", "\n", " ", "pgTable(", "integer(", "sql`", "=>", "🐘", "é", "\u2028",
             "// trimtab: renamed from x\n", ".references(() => users.id)", "export const"]


@pytest.mark.slow  # 15 random edit sequences of schema.ts
@settings(max_examples=int(os.environ.get("TRIMTAB_FUZZ_EXAMPLES", "15")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(st.floats(0, 1), st.floats(0, 0.1), st.lists(
    st.one_of(st.sampled_from(TS_PIECES), st.text(max_size=3)), max_size=3).map("".join)),
    min_size=1, max_size=5))
async def test_random_edits_of_schema_ts(client: LanguageClient, project: Path,
                                         steps: list[tuple[float, float, str]]) -> None:
    text = (project / "schema.ts").read_text()
    client.statuses.clear()  # type: ignore[attr-defined]  # versions restart at 1 per example
    uri = open_doc(client, project / "schema.ts", text)
    for version, (at, length, insert) in enumerate(steps, start=2):
        a = int(at * len(text))
        b = min(len(text), a + int(length * len(text)))
        client.text_document_did_change(t.DidChangeTextDocumentParams(
            text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[t.TextDocumentContentChangePartial(
                range=t.Range(start=_position(text, a), end=_position(text, b)),
                text=insert)]))
        text = text[:a] + insert + text[b:]
        await client.text_document_hover_async(t.HoverParams(
            text_document=t.TextDocumentIdentifier(uri=uri), position=_position(text, a)))
    await status_for(client, uri, version)  # the exact path's findings for the last text
    assert_inside(text.replace("\r\n", "\n").replace("\r", "\n"),
                  client.diagnostics.get(uri, []))
    client.text_document_did_close(t.DidCloseTextDocumentParams(
        text_document=t.TextDocumentIdentifier(uri=uri)))
    assert client.error is None


async def test_a_fix_in_schema_ts_writes_typescript_comments(client: LanguageClient,
                                                            project: Path) -> None:
    """The fix a hazard suggests in a .ts file is a `//` comment, as the file needs."""
    text = (project / "schema.ts").read_text()
    uri = open_doc(client, project / "schema.ts", text)
    change_doc(client, uri, 2, text.replace(
        '    email: varchar("email", { length: 255 }).notNull().unique(),\n', ""))
    diags = await until(client, uri, has("drops-column", "2 non-null values"))
    d = next(d for d in diags if d.code == "drops-column")
    assert "`// trimtab: renamed from <old name>`" in d.message, d.message
    assert "-- trimtab" not in d.message


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[TRIMTAB, "lsp", "--stdio"],
                                              client_factory=make_client))
async def ts_snippets(lsp_client: LanguageClient, project: Path, db_url: str):
    """A client that takes snippet edits (as VS Code with vscode-languageclient 11)."""
    from tests.test_lsp_ux import _snippet_capable

    @lsp_client.feature(t.CLIENT_REGISTER_CAPABILITY)
    def register(params: t.RegistrationParams) -> None:
        pass

    await lsp_client.initialize_session(t.InitializeParams(
        capabilities=_snippet_capable(), initialization_options={"databaseUrl": db_url},
        workspace_folders=[t.WorkspaceFolder(uri=from_fs_path(str(project)) or "",
                                             name="app")]))
    yield
    await lsp_client.shutdown_session()


async def test_a_new_not_null_column_gets_a_default_snippet_in_typescript(
        ts_snippets: LanguageClient, project: Path) -> None:
    """The DEFAULT choice of a .sql schema, in schema.ts: `.default(…)` at the end of the
    new column's builder chain, a placeholder to type the value over (none is invented);
    with a value typed in, the column no longer fails on the table's rows."""
    client = ts_snippets
    text = (project / "schema.ts").read_text()
    uri = open_doc(client, project / "schema.ts", text)
    edited = text.replace('    age: integer("age"),\n',
                          '    age: integer("age"),\n    nick: text("nick").notNull(),\n')
    change_doc(client, uri, 2, edited)
    diags = await until(client, uri, has("adds-required-column", "nick"))
    d = next(d for d in diags if d.code == "adds-required-column")
    actions = await client.text_document_code_action_async(t.CodeActionParams(
        text_document=t.TextDocumentIdentifier(uri=uri), range=d.range,
        context=t.CodeActionContext(diagnostics=[d])))
    fixes = [a for a in actions or [] if isinstance(a, t.CodeAction) and a.edit]
    assert [a.title for a in fixes] == [
        "Add .default(…) (edit the value)",
        "Make it nullable, backfill later (then add .notNull() back)"]
    [change] = fixes[0].edit.document_changes or []  # type: ignore[union-attr]
    assert isinstance(change, t.TextDocumentEdit) and change.text_document.uri == uri
    [snippet] = change.edits
    assert isinstance(snippet, t.SnippetTextEdit)
    assert snippet.snippet.value == ".default(${1:<value>})"
    line = line_of(edited, "nick: text(")
    column = edited.split("\n")[line].index(".notNull()") + len(".notNull()")
    assert (snippet.range.start.line, snippet.range.start.character) == (line, column)
    assert snippet.range.start == snippet.range.end
    # the user types a value over the placeholder
    lines = edited.split("\n")
    lines[line] = lines[line][:column] + '.default("anonymous")' + lines[line][column:]
    change_doc(client, uri, 3, "\n".join(lines))
    await until(client, uri, lambda ds: not has("adds-required-column")(ds))
