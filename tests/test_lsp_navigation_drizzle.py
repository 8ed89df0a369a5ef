"""Workspace symbols on a Drizzle project: the objects schema.ts declares, found by name
and placed on the TypeScript that declares them. The real `trimtab lsp` process."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types as t
from pytest_lsp import LanguageClient

from tests.test_lsp import uri_of
from tests.test_lsp_drizzle import client, line_of, project  # noqa: F401


async def test_workspace_symbols_of_schema_ts(client: LanguageClient,  # noqa: F811
                                              project: Path) -> None:  # noqa: F811
    text = (project / "schema.ts").read_text()
    found = await client.workspace_symbol_async(t.WorkspaceSymbolParams(query="posts"))
    got = {(s.name, s.container_name, s.kind) for s in found or []}  # type: ignore[union-attr]
    assert ("posts", None, t.SymbolKind.Class) in got
    assert ("posts_author_idx", None, t.SymbolKind.Key) in got
    names = {name for name, _, _ in got}
    assert "users" not in names and "comments" not in names and "email" not in names
    table = next(s for s in found or [] if s.name == "posts")  # type: ignore[union-attr]
    assert table.location.uri == uri_of(project / "schema.ts")  # type: ignore[union-attr]
    assert table.location.range.start.line <= line_of(text, '"posts"')  # type: ignore[union-attr]
    found = await client.workspace_symbol_async(t.WorkspaceSymbolParams(query="role"))
    assert ("role", t.SymbolKind.Struct) in {(s.name, s.kind) for s in found or []}
