"""Workspace trust: a folder the user has not trusted (a repository just cloned) gets the
structural fast path only. The server connects to no database (a cloned .env or
trimtab.toml can name any host), applies the schema file nowhere, starts no embedded
server, and refuses push, generate and migrate; trust granted at runtime turns the exact
path on without a restart. The real `trimtab lsp` process, the real test server."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
import pytest_lsp
from lsprotocol import types as t
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.conftest import PgServer
from tests.test_lsp import TRIMTAB, change_doc, has, make_client, open_doc, until
from trimtab import embedded

TRUST = "trimtab/workspaceTrust"
APP = "trimtab-trust-test"  # the test's own connections, told apart from the server's
# No database in the environment: the project's own files are all the server has to go on.
ENV = {k: v for k, v in os.environ.items()
       if not k.startswith("PG") and k not in ("DATABASE_URL", "DIRECT_DATABASE_URL")}


def mine(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True, application_name=APP)


@pytest.fixture
def options(request: pytest.FixtureRequest) -> dict[str, Any] | None:
    marker = request.node.get_closest_marker("options")
    return marker.args[0] if marker else {"trusted": False}


@pytest.fixture
def with_database(request: pytest.FixtureRequest) -> bool:
    return bool(getattr(request, "param", True))


@pytest.fixture
def workspace(tmp_path: Path, request: pytest.FixtureRequest, with_database: bool) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    url = request.getfixturevalue("db_url") if with_database else None
    (root / "trimtab.toml").write_text('schema = "schema.sql"\n' + (
        f'database_url = "{url}"\n' if url else ""))
    (root / "schema.sql").write_text("CREATE TABLE users (id int PRIMARY KEY);\n")
    return root


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[TRIMTAB, "lsp", "--stdio"],
                                              client_factory=make_client, server_env=ENV))
async def client(lsp_client: LanguageClient, workspace: Path,
                 options: dict[str, Any] | None):
    lsp_client.statuses = []  # type: ignore[attr-defined]
    lsp_client.status_seen = asyncio.Event()  # type: ignore[attr-defined]

    @lsp_client.feature("trimtab/status")
    def status(params: Any) -> None:
        lsp_client.statuses.append(params)  # type: ignore[attr-defined]
        lsp_client.status_seen.set()  # type: ignore[attr-defined]

    @lsp_client.feature(t.WINDOW_SHOW_MESSAGE_REQUEST)
    def ask(params: t.ShowMessageRequestParams) -> t.MessageActionItem | None:
        return t.MessageActionItem(title="Apply")  # consent is not what stops these

    @lsp_client.feature(t.CLIENT_REGISTER_CAPABILITY)
    def register(params: t.RegistrationParams) -> None:
        pass

    await lsp_client.initialize_session(t.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        initialization_options=options,
        root_uri=from_fs_path(str(workspace)),
        workspace_folders=[t.WorkspaceFolder(uri=from_fs_path(str(workspace)) or "",
                                             name="ws")]))
    yield
    await lsp_client.shutdown_session()
    embedded.stop(workspace)  # only if a failing server started one


def _field(params: Any, name: str) -> Any:
    return params.get(name) if isinstance(params, dict) else getattr(params, name, None)


async def status(client: LanguageClient, check: Callable[[Any], bool],
                 timeout: float = 60) -> Any:
    """The first ``trimtab/status`` (from now or earlier) that satisfies ``check``."""
    statuses: list[Any] = client.statuses  # type: ignore[attr-defined]
    seen: asyncio.Event = client.status_seen  # type: ignore[attr-defined]

    async def wait() -> Any:
        while True:
            found = next((s for s in statuses if check(s)), None)
            if found is not None:
                return found
            seen.clear()
            await seen.wait()

    try:
        return await asyncio.wait_for(wait(), timeout)
    except TimeoutError:
        raise AssertionError(f"no such status: {statuses}") from None


def untrusted(s: Any) -> bool:
    return _field(s, "state") == "untrusted"


def run(client: LanguageClient, command: str, *args: Any) -> Any:
    return client.workspace_execute_command_async(t.ExecuteCommandParams(
        command=command, arguments=list(args)))


def hover_at(client: LanguageClient, uri: str, line: int, character: int) -> Any:
    return client.text_document_hover_async(t.HoverParams(
        text_document=t.TextDocumentIdentifier(uri=uri),
        position=t.Position(line=line, character=character)))


def server_logins(url: str) -> int:
    """Sessions opened on the test database by anyone but this test (a login event
    trigger writes each one down)."""
    with mine(url) as conn:
        return conn.execute("SELECT count(*) FROM logins WHERE app <> %s",  # type: ignore
                            (APP,)).fetchone()[0]


def shadows(admin_url: str) -> set[str]:
    with mine(admin_url) as conn:
        return {r[0] for r in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'trimtab\\_%'").fetchall()}


def role_exists(admin_url: str, role: str) -> bool:
    with mine(admin_url) as conn:
        return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",  # type: ignore
                            (role,)).fetchone() is not None


async def test_an_untrusted_workspace_connects_to_nothing_and_runs_none_of_its_sql(
        client: LanguageClient, workspace: Path, db_url: str, pg_server: PgServer) -> None:
    if pg_server.version < 170000:
        pytest.skip("login event triggers arrived in PostgreSQL 17")
    role = f"trimtab_untrusted_{uuid.uuid4().hex[:8]}"
    with mine(db_url) as conn:
        conn.execute("""
            CREATE TABLE victims (id int PRIMARY KEY);
            INSERT INTO victims VALUES (1), (2), (3);
            CREATE TABLE logins (app text);
            CREATE FUNCTION note_login() RETURNS event_trigger LANGUAGE plpgsql AS $$
            BEGIN
              INSERT INTO public.logins VALUES (current_setting('application_name'));
            END $$;
            CREATE EVENT TRIGGER note_login ON login EXECUTE FUNCTION note_login();
        """)
    before = shadows(pg_server.admin_url)
    # What a hostile repository's schema could hold: SQL with effects beyond a schema.
    hostile = ("CREATE TABLE users (id int PRIMARY KEY);\n"
               f"CREATE ROLE {role};\n"
               "DROP TABLE IF EXISTS victims;\n")
    try:
        (workspace / "schema.sql").write_text(hostile)
        first = await status(client, untrusted)
        assert "not trusted" in _field(first, "message")

        # The fast path works: structure, as you type.
        uri = open_doc(client, workspace / "schema.sql", hostile)
        change_doc(client, uri, 2, hostile + "CREATE TABLE t (note text DEFAULT 'oops);\n")
        await until(client, uri, has("syntax"))
        change_doc(client, uri, 3, hostile)
        await until(client, uri, lambda ds: not has("syntax")(ds))

        # Everything that would reach the database says why it does not.
        hover = await hover_at(client, uri, 0, 14)
        assert hover is not None and "not trusted" in hover.contents.value
        plan = await run(client, "trimtab.showPlan", uri)
        assert "not trusted" in plan["text"]
        for command in ("trimtab.push", "trimtab.generate", "trimtab.migrate"):
            result = await run(client, command, uri)
            assert result["ok"] is False, command
            assert "not trusted" in result["error"]["message"], command
        assert any("not trusted" in m.message for m in client.messages)
        client.text_document_did_save(t.DidSaveTextDocumentParams(
            text_document=t.TextDocumentIdentifier(uri=uri)))
        await run(client, "trimtab.refresh", uri)
        client.statuses.clear()  # type: ignore[attr-defined]
        await run(client, "trimtab.refresh", uri)
        await status(client, untrusted)

        assert server_logins(db_url) == 0
        assert not role_exists(pg_server.admin_url, role)
        assert shadows(pg_server.admin_url) == before
        with mine(db_url) as conn:
            assert conn.execute("SELECT count(*) FROM victims").fetchone() == (3,)

        # The user trusts the folder: the exact path runs, no restart.
        change_doc(client, uri, 4, "CREATE TABLE users (id int PRIMARY KEY);\n")
        client.statuses.clear()  # type: ignore[attr-defined]
        client.protocol.notify(TRUST, {"trusted": True})
        # (victims -> users reads as a rename candidate, the measured drop folded into it)
        await until(client, uri, has("rename-candidate", "drops table public.victims: 3 rows"))
        done = await status(client, lambda s: _field(s, "state") not in (None, "untrusted"))
        assert _field(done, "pending") >= 1
        assert server_logins(db_url) > 0
    finally:
        with mine(pg_server.admin_url) as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')  # type: ignore[arg-type]


@pytest.mark.parametrize("with_database", [False], indirect=True)
async def test_an_untrusted_workspace_without_a_database_starts_no_embedded_server(
        client: LanguageClient, workspace: Path) -> None:
    await status(client, untrusted)
    uri = open_doc(client, workspace / "schema.sql", "CREATE TABLE users (id int);\n")
    plan = await run(client, "trimtab.showPlan", uri)
    assert "not trusted" in plan["text"]
    await hover_at(client, uri, 0, 14)
    await run(client, "trimtab.refresh", uri)
    assert not (workspace / ".trimtab").exists()


async def test_settings_cannot_grant_trust_and_write_actions_are_not_offered(
        client: LanguageClient, workspace: Path) -> None:
    await status(client, untrusted)
    uri = open_doc(client, workspace / "schema.sql", "CREATE TABLE users (id int);\n")
    # A workspace's own settings file is the repository's to write: it cannot trust itself.
    client.set_configuration({"trusted": True}, section="trimtab")
    client.workspace_did_change_configuration(t.DidChangeConfigurationParams(
        settings={"trimtab": {"trusted": True}}))
    client.workspace_did_change_configuration(t.DidChangeConfigurationParams(settings=None))
    result = await run(client, "trimtab.push", uri)
    assert result["ok"] is False
    assert "not trusted" in result["error"]["message"]
    assert "trust" in (result["error"]["hint"] or "")
    actions = await client.text_document_code_action_async(t.CodeActionParams(
        text_document=t.TextDocumentIdentifier(uri=uri),
        range=t.Range(start=t.Position(line=0, character=0),
                      end=t.Position(line=0, character=0)),
        context=t.CodeActionContext(diagnostics=[])))
    commands = {a.command.command for a in actions or []
                if isinstance(a, t.CodeAction) and a.command}
    assert not commands & {"trimtab.push", "trimtab.generate", "trimtab.migrate"}


@pytest.mark.options({"trimtab": {"refreshInterval": 30}})
async def test_a_client_that_says_nothing_of_trust_is_trusted_until_it_takes_it_back(
        client: LanguageClient, workspace: Path) -> None:
    done = await status(client, lambda s: _field(s, "state") is not None)
    assert _field(done, "state") == "pending"  # users is not in the database yet
    client.protocol.notify(TRUST, {"trusted": False})
    await status(client, untrusted)
    uri = open_doc(client, workspace / "schema.sql", "CREATE TABLE users (id int);\n")
    hover = await hover_at(client, uri, 0, 14)
    assert hover is not None and "not trusted" in hover.contents.value
    result = await run(client, "trimtab.push", uri)
    assert result["ok"] is False and "not trusted" in result["error"]["message"]


async def test_an_untrusted_workspace_checks_no_query_file(
        client: LanguageClient, workspace: Path, pg_server: PgServer) -> None:
    """A query file is checked by running it in the shadow: not in a folder the user has
    not trusted, and the file says why it has no diagnostics."""
    before = shadows(pg_server.admin_url)
    await status(client, untrusted)
    (workspace / "queries").mkdir()
    query = open_doc(client, workspace / "queries" / "q.sql", "SELECT nosuch FROM users;\n")
    diags = await until(client, query, has("not-checked", "not trusted"))
    assert not has("postgres")(diags)
    assert shadows(pg_server.admin_url) == before
