"""The language server as an editor drives it: the real `trimtab lsp` process over stdio
(pytest-lsp), a real project folder, the real test database."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
import pytest_lsp
from lsprotocol import types as t
from lsprotocol.converters import get_converter
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

TRIMTAB = str(Path(sys.executable).parent / "trimtab")


def _converter() -> Any:
    # lsprotocol's client-side hook turns a CodeAction carrying a command into a Command
    # (notes/pygls.md, gotcha 1): decide by the shape of "command" instead.
    conv = get_converter()
    conv.register_structure_hook(
        t.Command | t.CodeAction,  # type: ignore[arg-type]
        lambda o, _: conv.structure(o, t.Command if isinstance(o.get("command"), str)
                                    else t.CodeAction))
    return conv


def make_client() -> LanguageClient:
    from pytest_lsp.client import make_test_lsp_client

    client = make_test_lsp_client()
    client.protocol._converter = _converter()  # type: ignore[attr-defined]
    return client


@pytest.fixture
def workspace(tmp_path: Path, db_url: str) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "trimtab.toml").write_text(f'schema = "schema.sql"\ndatabase_url = "{db_url}"\n')
    (root / "schema.sql").write_text("CREATE TABLE users (id int PRIMARY KEY);\n")
    return root


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[TRIMTAB, "lsp", "--stdio"],
                                              client_factory=make_client))
async def client(lsp_client: LanguageClient, workspace: Path):
    lsp_client.answers = []  # type: ignore[attr-defined]
    lsp_client.questions = []  # type: ignore[attr-defined]
    lsp_client.statuses = []  # type: ignore[attr-defined]
    lsp_client.status_seen = asyncio.Event()  # type: ignore[attr-defined]

    @lsp_client.feature("trimtab/status")
    def status(params: Any) -> None:  # sent after every exact analysis
        lsp_client.statuses.append(plain(params))  # type: ignore[attr-defined]
        lsp_client.status_seen.set()  # type: ignore[attr-defined]

    @lsp_client.feature(t.WINDOW_SHOW_MESSAGE_REQUEST)
    def ask(params: t.ShowMessageRequestParams) -> t.MessageActionItem | None:
        lsp_client.questions.append(params.message)  # type: ignore[attr-defined]
        answers = lsp_client.answers  # type: ignore[attr-defined]
        title = answers.pop(0) if answers else "Cancel"
        return t.MessageActionItem(title=title)

    @lsp_client.feature(t.CLIENT_REGISTER_CAPABILITY)
    def register(params: t.RegistrationParams) -> None:
        lsp_client.registrations = params.registrations  # type: ignore[attr-defined]

    await lsp_client.initialize_session(t.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        root_uri=from_fs_path(str(workspace)),
        workspace_folders=[t.WorkspaceFolder(uri=from_fs_path(str(workspace)) or "",
                                             name="ws")]))
    yield
    await lsp_client.shutdown_session()


def uri_of(path: Path) -> str:
    return from_fs_path(str(path)) or ""


def open_doc(client: LanguageClient, path: Path, text: str) -> str:
    path.write_text(text)
    uri = uri_of(path)
    client.text_document_did_open(t.DidOpenTextDocumentParams(text_document=t.TextDocumentItem(
        uri=uri, language_id="sql", version=1, text=text)))
    return uri


def change_doc(client: LanguageClient, uri: str, version: int, text: str) -> None:
    client.text_document_did_change(t.DidChangeTextDocumentParams(
        text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[t.TextDocumentContentChangeWholeDocument(text=text)]))


async def until(client: LanguageClient, uri: str,
                check: Callable[[list[t.Diagnostic]], bool], timeout: float = 30) -> list[
                    t.Diagnostic]:
    """Wait until the diagnostics published for ``uri`` satisfy ``check``."""
    deadline = time.monotonic() + timeout
    while True:
        diags = list(client.diagnostics.get(uri, []))
        if check(diags):
            return diags
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"diagnostics never matched: {[d.message for d in diags]}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(client.wait_for_notification(
                t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), remaining)


def plain(value: Any) -> Any:
    """A custom notification's params (pygls gives named tuples) as dicts and lists."""
    if hasattr(value, "_asdict"):
        value = value._asdict()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


async def exact_analysis(client: LanguageClient, check: Callable[[Any], bool],
                         timeout: float = 30) -> Any:
    """The first ``trimtab/status`` (the end of an exact analysis, now or earlier) that
    satisfies ``check``."""
    statuses: list[Any] = client.statuses  # type: ignore[attr-defined]
    seen: asyncio.Event = client.status_seen  # type: ignore[attr-defined]

    async def wait() -> Any:
        while (found := next((s for s in statuses if check(s)), None)) is None:
            seen.clear()
            await seen.wait()
        return found

    try:
        return await asyncio.wait_for(wait(), timeout)
    except TimeoutError:
        raise AssertionError(f"no such exact analysis: {statuses}") from None


def has(code: str, text: str = "") -> Callable[[list[t.Diagnostic]], bool]:
    return lambda ds: any(d.code == code and text in d.message for d in ds)


def db(db_url: str, statement: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        cur = conn.execute(statement)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


async def test_a_dropped_column_is_flagged_with_its_count_and_clears(
        client: LanguageClient, workspace: Path, db_url: str) -> None:
    db(db_url, "CREATE TABLE users (id int PRIMARY KEY, email text);"
               "INSERT INTO users VALUES (1, 'a@x'), (2, 'b@x'), (3, NULL)")
    uri = open_doc(client, workspace / "schema.sql",
                   "CREATE TABLE users (\n  id int PRIMARY KEY\n);\n")
    diags = await until(client, uri, has("drops-column", "2 non-null values"))
    d = next(d for d in diags if d.code == "drops-column")
    assert d.severity == t.DiagnosticSeverity.Warning
    assert d.range.start.line == 0  # on the table: the column is no longer in the file
    assert d.source == "trimtab"
    change_doc(client, uri, 2, "CREATE TABLE users (\n  id int PRIMARY KEY,\n  email text\n);\n")
    await until(client, uri, lambda ds: not ds)


async def test_a_syntax_error_shows_as_you_type(client: LanguageClient, workspace: Path) -> None:
    uri = open_doc(client, workspace / "schema.sql", "CREATE TABLE users (id int PRIMARY KEY);\n")
    change_doc(client, uri, 2, "CREATE TABLE users (id int PRIMARY KEY);\n"
                               "CREATE TABLE t (note text DEFAULT 'oops);\n")
    diags = await until(client, uri, has("syntax"))
    assert next(d for d in diags if d.code == "syntax").range.start.line == 1


async def test_a_statement_postgres_rejects_is_placed_on_its_line(
        client: LanguageClient, workspace: Path) -> None:
    uri = open_doc(client, workspace / "schema.sql",
                   "CREATE TABLE users (id int PRIMARY KEY);\n"
                   "CREATE TABLE posts (user_id int REFERENCES missing(id));\n")
    diags = await until(client, uri, has("postgres"))
    d = next(d for d in diags if d.code == "postgres")
    assert d.range.start.line == 1
    assert 'relation "missing" does not exist' in d.message


async def test_hover_shows_the_pending_sql_and_hazard(client: LanguageClient, workspace: Path,
                                                      db_url: str) -> None:
    db(db_url, "CREATE TABLE users (id int PRIMARY KEY, email text); "
               "INSERT INTO users VALUES (1, 'x')")
    uri = open_doc(client, workspace / "schema.sql",
                   "CREATE TABLE users (id int PRIMARY KEY, name text);\n")
    # The exact path's candidate (the fast path's carries no measured count)
    await until(client, uri, has("rename-candidate", "1 non-null value"))
    hover = await client.text_document_hover_async(t.HoverParams(
        text_document=t.TextDocumentIdentifier(uri=uri), position=t.Position(line=0, character=14)))
    assert hover is not None
    text = hover.contents.value  # type: ignore[union-attr]
    assert "ALTER TABLE public.users DROP COLUMN email" in text
    assert "ADD COLUMN name text" in text
    assert "drops column public.users.email: 1 non-null value" in text
    assert "live: 1 row, " in text  # live facts: an exact count of a small table


async def test_rename_candidate_quick_fix_writes_the_hint(client: LanguageClient,
                                                          workspace: Path, db_url: str) -> None:
    db(db_url, "CREATE TABLE users (id int PRIMARY KEY, full_name text)")
    text = "CREATE TABLE users (\n  id int PRIMARY KEY,\n  name text\n);\n"
    uri = open_doc(client, workspace / "schema.sql", text)
    diags = await until(client, uri, has("rename-candidate"))
    d = next(d for d in diags if d.code == "rename-candidate")
    assert d.range.start.line == 2
    actions = await client.text_document_code_action_async(t.CodeActionParams(
        text_document=t.TextDocumentIdentifier(uri=uri), range=d.range,
        context=t.CodeActionContext(diagnostics=[d])))
    fix = next(a for a in actions or [] if isinstance(a, t.CodeAction) and a.edit)
    new_text = fix.edit.changes[uri][0].new_text  # type: ignore[index, union-attr]
    assert "-- trimtab: renamed from full_name\n  name text" in new_text
    change_doc(client, uri, 2, new_text)
    await until(client, uri, lambda ds: has("renames-column")(ds)
                and not has("rename-candidate")(ds))


async def test_push_asks_and_cancel_changes_nothing_then_apply(
        client: LanguageClient, workspace: Path, db_url: str) -> None:
    db(db_url, "CREATE TABLE users (id int PRIMARY KEY, email text); "
               "INSERT INTO users VALUES (1, 'x')")
    uri = open_doc(client, workspace / "schema.sql", "CREATE TABLE users (id int PRIMARY KEY);\n")
    client.answers = ["Cancel"]  # type: ignore[attr-defined]
    result = await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.push", arguments=[uri]))
    assert result["ok"] is False
    assert "drops column public.users.email: 1 non-null value" in client.questions[0]  # type: ignore[attr-defined]
    assert db(db_url, "SELECT count(email) FROM users") == [(1,)]
    client.answers = ["Apply"]  # type: ignore[attr-defined]
    result = await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.push", arguments=[uri]))
    assert result["ok"] is True and result["applied"] == 1
    assert db(db_url, "SELECT count(*) FROM information_schema.columns WHERE "
                      "table_name = 'users' AND column_name = 'email'") == [(0,)]
    assert any("applied 1 change" in m.message for m in client.messages)
    kinds = [r.kind for reports in client.progress_reports.values() for r in reports]
    assert kinds.count("begin") >= 2 and kinds.count("end") >= 2


async def test_generate_and_migrate_commands(client: LanguageClient, workspace: Path,
                                            db_url: str) -> None:
    uri = open_doc(client, workspace / "schema.sql",
                   "CREATE TABLE users (id int PRIMARY KEY, email text);\n")
    result = await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.generate", arguments=[uri]))
    assert result["ok"] is True, result
    written = Path(result["file"])
    assert written.parent == workspace / "migrations" and written.name == "0000_init.sql"
    assert "CREATE TABLE public.users" in written.read_text()
    result = await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.migrate", arguments=[uri]))
    assert result["ok"] is True and result["applied"] == ["0000_init"]
    assert db(db_url, "SELECT to_regclass('public.users') IS NOT NULL") == [(True,)]
    await until(client, uri, lambda ds: not ds)  # database, migrations and file agree


async def test_changes_not_in_a_migration_are_counted(client: LanguageClient,
                                                      workspace: Path) -> None:
    uri = open_doc(client, workspace / "schema.sql", "CREATE TABLE a (id int);\n")
    await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.generate", arguments=[uri]))
    change_doc(client, uri, 2, "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n"
                               "CREATE TABLE c (id int);\n")
    await until(client, uri, has("not-in-a-migration", "2 changes not in a migration"))


async def test_a_change_made_outside_the_editor_is_picked_up(
        client: LanguageClient, workspace: Path, db_url: str) -> None:
    uri = open_doc(client, workspace / "schema.sql", "CREATE TABLE users (id int PRIMARY KEY);\n")
    # The exact analysis of the opened text has read the database (users to create): the
    # table made below can only come from reading it again.
    await exact_analysis(client, lambda s: s["state"] == "pending"
                         and {"uri": uri, "version": 1} in s["documents"])
    methods = [r.method for r in getattr(client, "registrations", [])]
    assert t.WORKSPACE_DID_CHANGE_WATCHED_FILES in methods
    # Someone runs SQL (or `trimtab migrate`) in a terminal; the client reports the file.
    db(db_url, "CREATE TABLE users (id int PRIMARY KEY); CREATE TABLE extra (id int);"
               "INSERT INTO extra VALUES (1)")
    (workspace / "migrations").mkdir(exist_ok=True)
    client.workspace_did_change_watched_files(t.DidChangeWatchedFilesParams(changes=[
        t.FileEvent(uri=uri_of(workspace / "migrations" / "0001_x.sql"),
                    type=t.FileChangeType.Created)]))
    await until(client, uri, has("drops-table", "drops table public.extra: 1 row"))


async def test_document_symbols_and_definition(client: LanguageClient, workspace: Path) -> None:
    uri = open_doc(client, workspace / "schema.sql",
                   "CREATE TABLE users (id int PRIMARY KEY, email text);\n"
                   "CREATE TABLE posts (id int, user_id int REFERENCES users (id));\n")
    syms = await client.text_document_document_symbol_async(t.DocumentSymbolParams(
        text_document=t.TextDocumentIdentifier(uri=uri)))
    names = [s.name for s in syms or []]  # type: ignore[union-attr]
    assert names == ["users", "posts"]
    users = syms[0]  # type: ignore[index]
    assert [c.name for c in users.children or [] if c.kind == t.SymbolKind.Field] == [  # type: ignore[union-attr]
        "id", "email"]
    loc = await client.text_document_definition_async(t.DefinitionParams(
        text_document=t.TextDocumentIdentifier(uri=uri),
        position=t.Position(line=1, character=52)))
    assert isinstance(loc, t.Location) and loc.range.start.line == 0


async def test_show_plan_is_a_sql_document(client: LanguageClient, workspace: Path) -> None:
    uri = open_doc(client, workspace / "schema.sql", "CREATE TABLE t (id int);\n")
    result = await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.showPlan", arguments=[uri]))
    assert "CREATE TABLE public.t" in result["text"]
    assert result["text"].startswith("-- trimtab: pending plan")


async def test_an_edited_applied_migration_is_flagged_on_its_file(
        client: LanguageClient, workspace: Path) -> None:
    uri = open_doc(client, workspace / "schema.sql", "CREATE TABLE a (id int);\n")
    await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.generate", arguments=[uri]))
    await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.migrate", arguments=[uri]))
    migration = workspace / "migrations" / "0000_init.sql"
    migration.write_text(migration.read_text() + "\nCREATE TABLE sneaky (id int);\n")
    m_uri = open_doc(client, migration, migration.read_text())
    await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.refresh", arguments=[uri]))
    diags = await until(client, m_uri, lambda ds: any("edited" in d.message or "checksum"
                                                      in d.message for d in ds))
    assert all(d.severity == t.DiagnosticSeverity.Error for d in diags)


async def test_a_blocking_index_build_on_a_large_table_gets_a_fix(
        client: LanguageClient, workspace: Path, db_url: str) -> None:
    db(db_url, "CREATE TABLE events (id int, kind text);"
               "INSERT INTO events SELECT i, 'k' FROM generate_series(1, 20000) i; "
               "ANALYZE events")
    uri = open_doc(client, workspace / "schema.sql",
                   "CREATE TABLE events (id int, kind text);\n")
    await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.refresh", arguments=[uri]))
    (workspace / "migrations").mkdir(exist_ok=True)
    m_uri = open_doc(client, workspace / "migrations" / "0001_index.sql",
                     "CREATE INDEX events_kind ON events (kind);\n")
    diags = await until(client, m_uri, has("require-concurrent-index-creation", "~20,000 rows"))
    d = diags[0]
    actions = await client.text_document_code_action_async(t.CodeActionParams(
        text_document=t.TextDocumentIdentifier(uri=m_uri), range=d.range,
        context=t.CodeActionContext(diagnostics=[d])))
    fix = next(a for a in actions or [] if isinstance(a, t.CodeAction) and a.edit)
    edits = fix.edit.changes[m_uri]  # type: ignore[index, union-attr]
    assert [e.new_text for e in edits] == ["-- trimtab:no-transaction\n", "CONCURRENTLY "]


async def test_a_new_not_null_column_gets_a_default_fix(client: LanguageClient,
                                                        workspace: Path, db_url: str) -> None:
    db(db_url, "CREATE TABLE t (id int); INSERT INTO t VALUES (1)")
    uri = open_doc(client, workspace / "schema.sql",
                   "CREATE TABLE t (\n  id int,\n  code text NOT NULL\n);\n")
    diags = await until(client, uri, has("adds-required-column", "1 row, this will fail"))
    d = next(d for d in diags if d.code == "adds-required-column")
    assert d.severity == t.DiagnosticSeverity.Error and d.range.start.line == 2
    actions = await client.text_document_code_action_async(t.CodeActionParams(
        text_document=t.TextDocumentIdentifier(uri=uri), range=d.range,
        context=t.CodeActionContext(diagnostics=[d])))
    # A client without snippet edits gets no "Add DEFAULT" (it would have to invent the
    # value): only the nullable choice; tests/test_lsp_ux.py has the snippet one.
    fixes = [a for a in actions or [] if isinstance(a, t.CodeAction) and a.edit]
    assert [a.title for a in fixes] == [
        "Make it nullable, backfill later (then add NOT NULL back)"]
    edit = fixes[0].edit.changes[uri][0]  # type: ignore[index, union-attr]
    assert (edit.range.start.line, edit.range.start.character) == (2, 11)
    assert (edit.range.end.line, edit.range.end.character) == (2, 20)


async def test_push_over_a_migrated_database_warns_first(client: LanguageClient,
                                                        workspace: Path, db_url: str) -> None:
    uri = open_doc(client, workspace / "schema.sql", "CREATE TABLE a (id int);\n")
    await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.generate", arguments=[uri]))
    await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.migrate", arguments=[uri]))
    change_doc(client, uri, 2, "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n")
    (workspace / "schema.sql").write_text("CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n")
    client.answers = ["Cancel"]  # type: ignore[attr-defined]
    result = await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.push", arguments=[uri]))
    assert result["ok"] is False
    assert "diverge from that history" in client.questions[-1]  # type: ignore[attr-defined]
    assert db(db_url, "SELECT to_regclass('public.b') IS NULL") == [(True,)]


async def test_a_type_change_without_using_gets_a_fix(client: LanguageClient, workspace: Path,
                                                     db_url: str) -> None:
    db(db_url, "CREATE TABLE t (id int, code text, note varchar(10))")
    uri = open_doc(client, workspace / "schema.sql",
                   "CREATE TABLE t (id int, code text, note varchar(10));\n")
    await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.refresh", arguments=[uri]))
    (workspace / "migrations").mkdir(exist_ok=True)
    # As drizzle-kit writes it; the text change needs no USING (every type casts to text).
    text = ('ALTER TABLE "t" ALTER COLUMN "code" SET DATA TYPE integer;\n'
            'ALTER TABLE "t" ALTER COLUMN "note" SET DATA TYPE text;\n')
    m_uri = open_doc(client, workspace / "migrations" / "0001_code.sql", text)
    diags = await until(client, m_uri, has("type-needs-using", "from text to integer"))
    assert [d.code for d in diags] == ["type-needs-using"]
    d = diags[0]
    assert d.severity == t.DiagnosticSeverity.Error and d.range.start.line == 0
    actions = await client.text_document_code_action_async(t.CodeActionParams(
        text_document=t.TextDocumentIdentifier(uri=m_uri), range=d.range,
        context=t.CodeActionContext(diagnostics=[d])))
    fix = next(a for a in actions or [] if isinstance(a, t.CodeAction) and a.edit)
    edit = fix.edit.changes[m_uri][0]  # type: ignore[index, union-attr]
    assert edit.new_text == " USING code::integer"
    assert (edit.range.start.line, edit.range.start.character) == (0, text.index(";"))
    fixed = text.replace(";", " USING code::integer;", 1)
    change_doc(client, m_uri, 2, fixed)
    await until(client, m_uri, lambda ds: not ds)
    db(db_url, fixed)  # and PostgreSQL agrees
