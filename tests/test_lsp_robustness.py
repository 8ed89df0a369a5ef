"""The language server against what users actually do: shorten a file under diagnostics,
type non-ASCII text, put nonsense in their settings, type anything at all (random edits of
real schema files), and stop the database under it. The server must stay up, keep every
range inside the document, and log no unhandled exception."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import re
import shutil
import tempfile
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
from trimtab import embedded
from trimtab.config import load_config
from trimtab.engine import push

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = (ROOT / "fixtures" / "quickstart" / "schema.sql").read_text()
LOG = Path(tempfile.mkdtemp(prefix="trimtab-lsp-log-")) / "server.log"
# Made at import, which every worker does whether it runs a test of this file or not.
atexit.register(shutil.rmtree, LOG.parent, True)
CONFIG = ClientServerConfig(server_command=[TRIMTAB, "lsp", "--stdio"],
                            client_factory=make_client,
                            server_env={**os.environ, "TRIMTAB_LSP_LOG": str(LOG)})


def utf16(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def outside(text: str, diagnostics: Any) -> list[Any]:
    """The diagnostics whose range is not within the text (in UTF-16 units) or ends before
    it starts."""
    # LSP ends a line at \r\n, \n or a lone \r (what the editor shows).
    lines = _BREAK.split(text)
    bad = []
    for d in diagnostics:
        s, e = d.range.start, d.range.end
        if any(p.line >= len(lines) or p.character > utf16(lines[p.line]) for p in (s, e)) \
                or (s.line, s.character) > (e.line, e.character):
            bad.append((d.range, d.message))
    return bad


def assert_inside(text: str, diagnostics: Any) -> None:
    assert outside(text, diagnostics) == []


def settled(text: str, code: str, words: str = "") -> Any:
    """Diagnostics for ``text`` (a publication for an older version may still be the
    latest one): ``code`` is there and every range fits the text."""
    return lambda ds: has(code, words)(ds) and not outside(text, ds)


def assert_no_traceback() -> None:
    if LOG.exists():
        log = LOG.read_text(errors="replace")
        assert "Traceback" not in log, log[log.index("Traceback") - 2000:][:6000]


@pytest.fixture
def options(request: pytest.FixtureRequest) -> dict[str, Any] | None:
    marker = request.node.get_closest_marker("options")
    return marker.args[0] if marker else None


@pytest.fixture
def workspace(tmp_path: Path, db_url: str) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "trimtab.toml").write_text(f'schema = "schema.sql"\ndatabase_url = "{db_url}"\n')
    (root / "schema.sql").write_text(QUICKSTART)
    return root


@pytest_lsp.fixture(config=CONFIG)
async def client(lsp_client: LanguageClient, workspace: Path, options: dict[str, Any] | None):
    watch_statuses(lsp_client)

    @lsp_client.feature(t.CLIENT_REGISTER_CAPABILITY)
    def register(params: t.RegistrationParams) -> None:
        pass

    LOG.unlink(missing_ok=True)
    await lsp_client.initialize_session(t.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        initialization_options=options,
        workspace_folders=[t.WorkspaceFolder(uri=from_fs_path(str(workspace)) or "",
                                             name="ws")]))
    yield
    await lsp_client.shutdown_session()
    embedded.remove(workspace)  # started for the shadow while the database was unreachable
    assert_no_traceback()


def push_quickstart(workspace: Path) -> None:
    """The quickstart schema in the database, with a customer and an order."""
    cfg = load_config(workspace)
    push(cfg)
    db(cfg.database_url, "INSERT INTO customers (email, name) VALUES ('a@example.com', 'A');"
                         "INSERT INTO orders (customer_id) SELECT id FROM customers")


async def test_diagnostics_stay_inside_a_document_that_was_cut_short(
        client: LanguageClient, workspace: Path) -> None:
    push_quickstart(workspace)
    uri = open_doc(client, workspace / "schema.sql", QUICKSTART)
    await asyncio.wait_for(client.ready.wait(), 60)  # type: ignore[attr-defined]
    # Remembered spans of the tables below the cut point past the end of the new text.
    short = QUICKSTART[:QUICKSTART.index("CREATE TABLE orders")]
    change_doc(client, uri, 2, short)
    diags = await until(client, uri, has("drops-table"))
    assert_inside(short, diags)
    diags = await until(client, uri, has("drops-table", "1 row"))  # the exact path, measured
    assert_inside(short, diags)


async def test_columns_are_counted_in_utf16_units(client: LanguageClient, workspace: Path,
                                                  db_url: str) -> None:
    db(db_url, "CREATE TABLE t (id int); INSERT INTO t VALUES (1)")
    line = "/* 🐘 éléphant 🐘 */ CREATE TABLE t (id int, code text NOT NULL);"
    uri = open_doc(client, workspace / "schema.sql", line + "\n")
    diags = await until(client, uri, has("adds-required-column"))
    d = next(d for d in diags if d.code == "adds-required-column")
    assert d.range.start == t.Position(line=0, character=utf16(line[:line.index("code")]))
    assert_inside(line + "\n", diags)
    # And positions coming in are UTF-16 too: hover on "code" after the emoji.
    hover = await client.text_document_hover_async(t.HoverParams(
        text_document=t.TextDocumentIdentifier(uri=uri),
        position=t.Position(line=0, character=utf16(line[:line.index("code")]) + 1)))
    assert hover is not None and "column public.t.code" in hover.contents.value  # type: ignore[union-attr]


@pytest.mark.options({"refreshInterval": "fast", "measureTimeout": "1s",
                      "databaseUrl": 5432, "diagnostics": {"severity": {"drops-table": "loud"}}})
async def test_settings_of_the_wrong_type_are_ignored_with_a_warning(
        client: LanguageClient, workspace: Path) -> None:
    push_quickstart(workspace)
    uri = open_doc(client, workspace / "schema.sql", "")
    await until(client, uri, has("drops-table"))  # the project's own database_url still used
    warning = next(m.message for m in client.messages if "ignoring settings" in m.message)
    for name in ("refreshInterval", "measureTimeout", "databaseUrl", "drops-table"):
        assert name in warning


@pytest.mark.options({"diagnostics": {"severity": {"drops-table": "hint",
                                                   "drops-column": "off"}}})
async def test_severity_per_code_from_the_settings(client: LanguageClient,
                                                   workspace: Path) -> None:
    push_quickstart(workspace)
    text = QUICKSTART.replace("    name        text NOT NULL,\n", "")
    text = text[:text.index("CREATE TABLE orders")]
    uri = open_doc(client, workspace / "schema.sql", text)
    diags = await until(client, uri, has("drops-table"))
    assert all(d.severity == t.DiagnosticSeverity.Hint for d in diags if d.code == "drops-table")
    assert not [d for d in diags if d.code == "drops-column"]


def watch_statuses(client: LanguageClient) -> None:
    """Keep every ``trimtab/status`` the server sends, for ``status_for``."""
    client.ready = asyncio.Event()  # type: ignore[attr-defined]
    client.statuses = []  # type: ignore[attr-defined]

    @client.feature("trimtab/status")
    def status(params: Any) -> None:
        client.statuses.append(params)  # type: ignore[attr-defined]
        client.ready.set()  # type: ignore[attr-defined]


async def status_for(client: LanguageClient, uri: str, version: int) -> Any:
    """The first ``trimtab/status`` that reports ``version`` of ``uri``: sent once the
    exact analysis of that text is published."""
    statuses = client.statuses  # type: ignore[attr-defined]

    def find() -> Any:
        return next((s for s in statuses for d in s["documents"]
                     if d["uri"] == uri and d["version"] == version), None)
    while (found := find()) is None:
        client.ready.clear()  # type: ignore[attr-defined]
        if (found := find()) is not None:
            break
        try:
            await asyncio.wait_for(client.ready.wait(), 60)  # type: ignore[attr-defined]
        except TimeoutError:
            raise AssertionError(f"no status for version {version}: {statuses}") from None
    return found


# exactDelay: what a burst needs is that its edits arrive closer together than the delay;
# a second (not the default 0.15) keeps a machine that stalls the server for a moment from
# splitting the burst.
@pytest.mark.options({"exactDelay": 1})
async def test_a_burst_of_edits_is_analysed_exactly_once_for_its_last_version(
        client: LanguageClient, workspace: Path) -> None:
    """Ten edits sent back to back, as typing sends them: one exact analysis (a swap in
    the shadow, a plan against the database) for the last version, none for the versions
    in between."""
    push_quickstart(workspace)
    await asyncio.wait_for(client.ready.wait(), 60)  # type: ignore[attr-defined]
    uri = open_doc(client, workspace / "schema.sql", QUICKSTART)
    before = await status_for(client, uri, 1)
    text = QUICKSTART
    for version in range(2, 12):
        text = text.replace("CREATE TABLE orders (\n",
                            f"CREATE TABLE orders (\n    c{version} int,\n")
        change_doc(client, uri, version, text)
    after = await status_for(client, uri, 11)
    assert after["runs"] == before["runs"] + 1
    assert after["pending"] == 10  # the last text's plan: its ten new columns
    analysed = {d["version"] for s in client.statuses  # type: ignore[attr-defined]
                for d in s["documents"] if d["uri"] == uri and d["version"] is not None}
    assert analysed == {1, 11}


# -- anything a user can type --------------------------------------------------------------

SOURCES = [QUICKSTART] + [
    (p / "desired.sql").read_text()
    for p in sorted((ROOT / "fixtures" / "diff").iterdir())
    if (p / "desired.sql").exists()
][:6]
PIECES = ["(", ")", ",", ";", "'", '"', "$$", "$fn$", "--", "/*", "*/", "\n", " ", "\\",
          "NOT NULL", "CREATE TABLE x (", "REFERENCES ", "DEFAULT ", "🐘", "é", "\t",
          "-- trimtab: renamed from ", "\r\n", "E'\\", "[]", "::", "\u2028", "\x00"]


@st.composite
def edits(draw: Any) -> tuple[int, list[tuple[float, float, str]]]:
    source = draw(st.integers(0, len(SOURCES) - 1))
    steps = draw(st.lists(st.tuples(
        st.floats(0, 1), st.floats(0, 0.2),
        st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=4)), max_size=4).map(
            "".join)), min_size=1, max_size=6))
    return source, steps


_BREAK = re.compile(r"\r\n|\r|\n")  # LSP's line ends, as the editor counts them


def _position(text: str, offset: int) -> t.Position:
    breaks = [m.end() for m in _BREAK.finditer(text, 0, offset)]
    if breaks and text[offset - 1:offset + 1] == "\r\n" and breaks[-1] == offset:
        breaks.pop()  # between \r and \n: still on the line the \r ends
    start = breaks[-1] if breaks else 0
    return t.Position(line=len(breaks), character=utf16(text[start:offset]))


@pytest.mark.slow  # 25 random edit sequences typed into the server
@settings(max_examples=int(os.environ.get("TRIMTAB_FUZZ_EXAMPLES", "25")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=edits())
async def test_random_edits_never_break_the_server(client: LanguageClient, workspace: Path,
                                                  case: tuple[int, list]) -> None:
    source, steps = case
    text = SOURCES[source]
    client.statuses.clear()  # type: ignore[attr-defined]  # versions restart at 1 per example
    path = workspace / "schema.sql"
    uri = open_doc(client, path, text)
    version = 1
    for at, length, insert in steps:
        # An incremental change in UTF-16 positions, the way VS Code sends them.
        a = int(at * len(text))
        b = min(len(text), a + int(length * len(text)))
        if 0 < a < len(text) and "\udc00" <= text[a] <= "\udfff":
            a -= 1
        version += 1
        client.text_document_did_change(t.DidChangeTextDocumentParams(
            text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[t.TextDocumentContentChangePartial(
                range=t.Range(start=_position(text, a), end=_position(text, b)),
                text=insert)]))
        text = text[:a] + insert + text[b:]
        where = _position(text, a)
        await client.text_document_hover_async(t.HoverParams(
            text_document=t.TextDocumentIdentifier(uri=uri), position=where))
        await client.text_document_definition_async(t.DefinitionParams(
            text_document=t.TextDocumentIdentifier(uri=uri), position=where))
    symbols = await client.text_document_document_symbol_async(t.DocumentSymbolParams(
        text_document=t.TextDocumentIdentifier(uri=uri)))
    assert symbols is not None
    await client.text_document_code_action_async(t.CodeActionParams(
        text_document=t.TextDocumentIdentifier(uri=uri),
        range=t.Range(start=t.Position(line=0, character=0), end=_position(text, len(text))),
        context=t.CodeActionContext(diagnostics=list(client.diagnostics.get(uri, [])))))
    await status_for(client, uri, version)  # the exact path's findings for the last text
    assert_inside(text.replace("\r\n", "\n").replace("\r", "\n"), client.diagnostics.get(uri, []))
    client.text_document_did_close(t.DidCloseTextDocumentParams(
        text_document=t.TextDocumentIdentifier(uri=uri)))
    assert client.error is None
    assert_no_traceback()


# -- the database stopped and started under the server ------------------------------------


@pytest.fixture
def own_server(tmp_path: Path) -> Any:
    """A PostgreSQL of this test's own, to stop and start (the shared one stays up)."""
    pgdata = Path(tempfile.mkdtemp(prefix="trimtab-lsp-pg-", dir="/tmp"))
    admin = embedded.start_server(pgdata)
    yield pgdata, admin
    embedded.stop_server(pgdata)
    shutil.rmtree(pgdata, ignore_errors=True)


@pytest.fixture
def stoppable(tmp_path: Path, own_server: Any) -> Path:
    root = tmp_path / "stoppable"
    root.mkdir()
    (root / "trimtab.toml").write_text(
        f'schema = "schema.sql"\ndatabase_url = "{own_server[1]}"\n')
    (root / "schema.sql").write_text(QUICKSTART)
    return root


@pytest_lsp.fixture(config=CONFIG)
async def stoppable_client(lsp_client: LanguageClient, stoppable: Path):
    watch_statuses(lsp_client)

    @lsp_client.feature(t.CLIENT_REGISTER_CAPABILITY)
    def register(params: t.RegistrationParams) -> None:
        pass

    await lsp_client.initialize_session(t.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        initialization_options={"refreshInterval": 1},
        workspace_folders=[t.WorkspaceFolder(uri=from_fs_path(str(stoppable)) or "",
                                             name="stoppable")]))
    yield
    await lsp_client.shutdown_session()
    embedded.remove(stoppable)


async def _message(client: LanguageClient, text: str, timeout: float = 30) -> str:
    """The last window/showMessage (from now or earlier) that contains ``text``."""
    async def shown() -> str:
        while True:
            found = [m.message for m in client.messages if text in m.message]
            if found:
                return found[-1]
            await client.wait_for_notification(t.WINDOW_SHOW_MESSAGE)

    try:
        return await asyncio.wait_for(shown(), timeout)
    except TimeoutError:
        raise AssertionError(
            f"no message with {text!r}: {[m.message for m in client.messages]}") from None


async def test_the_database_stopped_and_started_under_the_server(
        stoppable_client: LanguageClient, stoppable: Path, own_server: Any) -> None:
    client = stoppable_client
    pgdata, admin = own_server
    push_quickstart(stoppable)
    uri = open_doc(client, stoppable / "schema.sql", QUICKSTART)
    short = QUICKSTART[:QUICKSTART.index("CREATE TABLE orders")]
    change_doc(client, uri, 2, short)
    await until(client, uri, has("drops-table", "1 row"))

    embedded.stop_server(pgdata)
    # Ask now rather than wait for the next periodic check (which a busy machine delays).
    await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.refresh", arguments=[uri]))
    await _message(client, "cannot be reached")
    for version in range(3, 8):  # typing on: diagnostics go on, the warning is not repeated
        change_doc(client, uri, version, short + f"-- {version}\n")
        await status_for(client, uri, version)  # each edit analysed against the dead server
    await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.refresh", arguments=[uri]))
    assert sum("cannot be reached" in m.message for m in client.messages) == 1
    assert "password" not in " ".join(m.message for m in client.messages).lower()
    result = await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.push", arguments=[uri]))
    assert result["ok"] is False  # a clear error, not a crash

    assert embedded.start_server(pgdata) == admin
    # As above: ask, rather than wait for a periodic check a busy machine delays (this
    # waited out its 30 s once in a loaded full run).
    await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.refresh", arguments=[uri]))
    await _message(client, "reachable again")
    change_doc(client, uri, 9, short)
    await until(client, uri, settled(short, "drops-table", "1 row"))
    assert client.error is None
    assert_no_traceback()


SECRET = "s3cret-Pa55"


@pytest.mark.options({"databaseUrl": f"postgresql://app:{SECRET}@127.0.0.1:1/shop"})
async def test_the_password_never_reaches_the_user(client: LanguageClient,
                                                   workspace: Path) -> None:
    statuses = client.statuses  # type: ignore[attr-defined]
    uri = open_doc(client, workspace / "schema.sql", QUICKSTART)
    await _message(client, "cannot be reached")
    hover = await client.text_document_hover_async(t.HoverParams(
        text_document=t.TextDocumentIdentifier(uri=uri), position=t.Position(line=4, character=15)))
    plan = await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.showPlan", arguments=[uri]))
    pushed = await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.push", arguments=[uri]))
    assert pushed["ok"] is False
    with contextlib.suppress(TimeoutError):  # a status, when one comes, is checked too
        await asyncio.wait_for(client.ready.wait(), 5)  # type: ignore[attr-defined]
    seen = " ".join([m.message for m in client.messages] + [repr(hover), repr(plan),
                    repr(pushed), repr(statuses), LOG.read_text(errors="replace")])
    assert "127.0.0.1" in seen  # the URL is shown, without its password
    assert SECRET not in seen
