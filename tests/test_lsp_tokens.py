"""Semantic tokens and inlay hints in SQL schema files, as an editor asks for them: the
real `trimtab lsp` process, a real project folder, the real test database."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types as t
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.test_lsp import TRIMTAB, db, make_client, open_doc
from tests.test_lsp_trust import ENV

SCHEMA = """-- people and what they feel
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE DOMAIN email AS text CHECK (VALUE LIKE '%@%');
CREATE TABLE app.users (
  id int PRIMARY KEY, /* a
  block */ mail email NOT NULL,
  m mood DEFAULT 'happy', "😀" int, score double precision CHECK (score > 0)
);
CREATE TABLE posts (id bigint PRIMARY KEY, author int REFERENCES app.users (id));
CREATE INDEX posts_author ON posts (author);
CREATE FUNCTION add_tax(amount numeric) RETURNS numeric LANGUAGE sql
  AS $$ SELECT amount * 1.2 $$;
CREATE VIEW taxed AS SELECT add_tax(p.id) AS x, lower('A') FROM posts p;
"""


@pytest.fixture
def options(request: pytest.FixtureRequest) -> dict[str, Any] | None:
    marker = request.node.get_closest_marker("options")
    return marker.args[0] if marker else None


@pytest.fixture
def workspace(tmp_path: Path, db_url: str) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "trimtab.toml").write_text(f'schema = "schema.sql"\ndatabase_url = "{db_url}"\n')
    (root / "schema.sql").write_text(SCHEMA)
    return root


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[TRIMTAB, "lsp", "--stdio"],
                                              client_factory=make_client, server_env=ENV))
async def client(lsp_client: LanguageClient, workspace: Path, options: dict[str, Any] | None):
    @lsp_client.feature(t.CLIENT_REGISTER_CAPABILITY)
    def register(params: t.RegistrationParams) -> None:
        pass

    settings = {k: v for k, v in (options or {}).items() if k != "trusted"}
    lsp_client.set_configuration(settings, section="trimtab")
    capabilities = client_capabilities("visual-studio-code")
    # VS Code's language client (vscode-languageclient 8 and later) supports inlay hint
    # refresh; pytest-lsp's recorded capabilities predate it.
    assert capabilities.workspace is not None
    capabilities.workspace.inlay_hint = t.InlayHintWorkspaceClientCapabilities(
        refresh_support=True)
    result = await lsp_client.initialize_session(t.InitializeParams(
        capabilities=capabilities,
        initialization_options=options,
        root_uri=from_fs_path(str(workspace)),
        workspace_folders=[t.WorkspaceFolder(uri=from_fs_path(str(workspace)) or "",
                                             name="ws")]))
    lsp_client.init_result = result  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


def decode(client: LanguageClient, data: list[int], text: str
           ) -> list[tuple[int, str, str, set[str]]]:
    """(line, the token's text, its type, its modifiers) by the legend the server
    registered, positions read as UTF-16 as the client negotiated."""
    legend = client.init_result.capabilities.semantic_tokens_provider.legend  # type: ignore
    lines = text.split("\n")
    out = []
    line = col = 0
    for k in range(0, len(data), 5):
        dl, dc, n, ty, mods = data[k:k + 5]
        line, col = line + dl, (col + dc if dl == 0 else dc)
        units = lines[line].encode("utf-16-le")
        word = units[2 * col:2 * (col + n)].decode("utf-16-le")
        out.append((line, word, legend.token_types[ty],
                    {m for b, m in enumerate(legend.token_modifiers) if mods >> b & 1}))
    return out


async def tokens_of(client: LanguageClient, uri: str) -> list[int]:
    got = await client.text_document_semantic_tokens_full_async(t.SemanticTokensParams(
        text_document=t.TextDocumentIdentifier(uri=uri)))
    assert got is not None
    return list(got.data)


async def test_tokens_decode_to_what_each_word_is(client: LanguageClient,
                                                  workspace: Path) -> None:
    uri = open_doc(client, workspace / "schema.sql", SCHEMA)
    got = decode(client, await tokens_of(client, uri), SCHEMA)
    kinds: dict[tuple[int, str], tuple[str, set[str]]] = {}
    for line, word, ty, mods in got:  # the first of a word on its line
        kinds.setdefault((line, word), (ty, mods))
    assert kinds[(0, "-- people and what they feel")] == ("comment", set())
    assert kinds[(1, "CREATE")] == ("keyword", set())
    assert kinds[(1, "mood")] == ("enum", {"declaration"})
    assert kinds[(1, "'happy'")] == ("enumMember", {"declaration"})
    assert kinds[(2, "email")][0] == "type"  # the domain, declared
    assert kinds[(3, "app")] == ("namespace", set())
    assert kinds[(3, "users")] == ("class", {"declaration"})
    assert kinds[(4, "id")] == ("property", {"declaration"})
    assert kinds[(4, "int")] == ("type", {"defaultLibrary"})
    # a block comment over two lines: one token a line
    assert kinds[(4, "/* a")] == ("comment", set()) and kinds[(5, "  block */")][0] == "comment"
    assert kinds[(5, "email")] == ("type", set())  # the schema's own domain, used
    assert kinds[(6, "mood")] == ("enum", set())
    assert kinds[(6, "'happy'")] == ("string", set())
    # after a character UTF-16 counts twice, the next tokens are still in place
    assert kinds[(6, '"😀"')] == ("property", {"declaration"})
    assert kinds[(6, "double")][0] == kinds[(6, "precision")][0] == "type"
    assert [(ty, mods) for ln, w, ty, mods in got if (ln, w) == (6, "score")] == [
        ("property", {"declaration"}), ("property", set())]  # declared, then used
    assert ("operator", set()) == kinds[(6, ">")] and kinds[(6, "0")] == ("number", set())
    assert kinds[(8, "users")] == ("class", set())  # REFERENCES app.users
    assert [w for ln, w, ty, _ in got if ln == 8 and ty == "property"] == [
        "id", "author", "id"]
    assert kinds[(9, "posts_author")] == ("variable", {"declaration"})
    assert kinds[(9, "posts")] == ("class", set()) and kinds[(9, "author")][0] == "property"
    assert kinds[(10, "add_tax")] == ("function", {"declaration"})
    assert kinds[(10, "amount")] == ("parameter", {"declaration"})
    assert kinds[(11, "$$ SELECT amount * 1.2 $$")] == ("string", set())
    assert kinds[(12, "add_tax")] == ("function", set())
    assert kinds[(12, "lower")] == ("function", {"defaultLibrary"})
    assert kinds[(12, "taxed")] == ("class", {"declaration"})
    # a range asks for the statements it meets only
    got_range = await client.text_document_semantic_tokens_range_async(
        t.SemanticTokensRangeParams(text_document=t.TextDocumentIdentifier(uri=uri),
                                    range=t.Range(start=t.Position(line=9, character=0),
                                                  end=t.Position(line=9, character=5))))
    assert got_range is not None
    assert {ln for ln, *_ in decode(client, list(got_range.data), SCHEMA)} == {9}


async def test_tokens_follow_an_edit(client: LanguageClient, workspace: Path) -> None:
    uri = open_doc(client, workspace / "schema.sql", SCHEMA)
    await tokens_of(client, uri)
    edited = SCHEMA.replace("CREATE TYPE mood", "CREATE TYPE feeling").replace(
        "m mood", "m feeling")
    client.text_document_did_change(t.DidChangeTextDocumentParams(
        text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[t.TextDocumentContentChangeWholeDocument(text=edited)]))
    kinds = {(ln, w): ty for ln, w, ty, _ in decode(client, await tokens_of(client, uri),
                                                    edited)}
    assert kinds[(1, "feeling")] == kinds[(6, "feeling")] == "enum"
    assert (6, "mood") not in kinds


def hints_request(uri: str) -> t.InlayHintParams:
    return t.InlayHintParams(text_document=t.TextDocumentIdentifier(uri=uri),
                             range=t.Range(start=t.Position(line=0, character=0),
                                           end=t.Position(line=20, character=0)))


async def with_rows(client: LanguageClient, workspace: Path, db_url: str) -> str:
    """The schema pushed, 1,200 posts analyzed, the server's live view refreshed."""
    db(db_url, "CREATE SCHEMA app; CREATE TABLE app.users (id int PRIMARY KEY);"
               "CREATE TABLE posts (id bigint PRIMARY KEY, author int);"
               "INSERT INTO posts SELECT g, NULL FROM generate_series(1, 1200) g; ANALYZE posts")
    uri = open_doc(client, workspace / "schema.sql", SCHEMA)
    await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.refresh", arguments=[]))
    return uri


async def test_row_count_hints_are_off_by_default(client: LanguageClient, workspace: Path,
                                                  db_url: str) -> None:
    uri = await with_rows(client, workspace, db_url)
    assert not await client.text_document_inlay_hint_async(hints_request(uri))


@pytest.mark.options({"inlayHints": {"rowCounts": True}})
async def test_row_count_hints_follow_the_table_name(client: LanguageClient, workspace: Path,
                                                     db_url: str) -> None:
    uri = await with_rows(client, workspace, db_url)
    hints = await client.text_document_inlay_hint_async(hints_request(uri))
    assert hints is not None
    line = SCHEMA.split("\n")[8]
    # posts, after its name; app.users was never analyzed: no count rather than a guess
    assert [(h.position.line, h.position.character, h.label) for h in hints] == [
        (8, line.index("posts") + len("posts"), "~1,200 rows")]


@pytest.mark.options({"trusted": False, "inlayHints": {"rowCounts": True}})
async def test_no_row_count_hints_in_an_untrusted_workspace(
        client: LanguageClient, workspace: Path, db_url: str) -> None:
    uri = await with_rows(client, workspace, db_url)
    assert not await client.text_document_inlay_hint_async(hints_request(uri))


async def test_a_name_declared_in_another_schema_file(client: LanguageClient, workspace: Path,
                                                      db_url: str) -> None:
    (workspace / "trimtab.toml").write_text(f'schema = "schema"\ndatabase_url = "{db_url}"\n')
    (workspace / "schema").mkdir()
    types = "CREATE DOMAIN email AS text;\n"
    users = "CREATE TABLE users (mail email);\n"
    await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.refresh", arguments=[]))
    a = open_doc(client, workspace / "schema" / "a_types.sql", types)
    b = open_doc(client, workspace / "schema" / "b_users.sql", users)
    got = decode(client, await tokens_of(client, b), users)
    assert (0, "email", "type", set()) in got
    # the domain goes away in the other file: b's own text is unchanged, its colours not
    client.text_document_did_change(t.DidChangeTextDocumentParams(
        text_document=t.VersionedTextDocumentIdentifier(uri=a, version=2),
        content_changes=[t.TextDocumentContentChangeWholeDocument(text="")]))
    got = decode(client, await tokens_of(client, b), users)
    assert not [w for _, w, ty, _ in got if w == "email"]


async def test_turning_row_counts_on_asks_the_editor_for_hints_again(
        client: LanguageClient, workspace: Path, db_url: str) -> None:
    """An editor asks for a document's hints when it opens or changes it: the setting turned
    on (or off) with the file open must make it ask again, or nothing shows until an edit."""
    uri = await with_rows(client, workspace, db_url)
    assert not await client.text_document_inlay_hint_async(hints_request(uri))
    asked = asyncio.Event()

    @client.feature(t.WORKSPACE_INLAY_HINT_REFRESH)
    def refresh(params: None) -> None:
        asked.set()

    client.set_configuration({"inlayHints": {"rowCounts": True}}, section="trimtab")
    client.workspace_did_change_configuration(t.DidChangeConfigurationParams(settings=None))
    await asyncio.wait_for(asked.wait(), 30)  # an event, not a poll; the bound is a failure
    hints = await client.text_document_inlay_hint_async(hints_request(uri))
    assert [h.label for h in hints or []] == ["~1,200 rows"]
