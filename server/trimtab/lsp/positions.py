"""Between the engine's positions (1-based lines, code-point columns, character offsets)
and the client's (0-based lines, columns in the negotiated encoding, UTF-16 by default).

Every range the server sends is clamped to the text the client has: a finding placed from
a remembered span may point past the end of a document the user just shortened.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from lsprotocol import types as t
from pygls.workspace import TextDocument, Workspace
from pygls.workspace.position_codec import PositionCodec

from trimtab.sources.sqlfile import Span

_NEWLINE = re.compile(r"\r\n?|\n")  # LSP's line ends, and the engine's
_OTHER_BREAKS = re.compile("[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def split_lines(text: str) -> tuple[str, ...]:
    """Lines as LSP counts them (ends kept): only \\n, \\r\\n and \\r end a line, where
    str.splitlines also breaks at U+2028, form feeds and the like."""
    if not _OTHER_BREAKS.search(text):
        return tuple(text.splitlines(True))
    return tuple(_LINE.findall(text))


class LspTextDocument(TextDocument):
    """pygls's document with LSP's lines: its own splits at U+2028 (and \\f...), so an
    incremental edit after such a character lands on the wrong line. The lines of a text
    are split once (a keystroke asks for them several times), and an edit is applied by
    slicing the text, where pygls writes every line again in a Python loop (milliseconds
    a keystroke in a 1 MB schema.ts)."""

    _lines_of: str | None = None
    _lines: tuple[str, ...] = ()

    @property
    def lines(self) -> tuple[str, ...]:
        source = self.source
        if self._lines_of is not source:
            self._lines, self._lines_of = split_lines(source), source
        return self._lines

    def _apply_incremental_change(self, change: t.TextDocumentContentChangePartial) -> None:
        lines = self.lines
        at = self._position_codec.range_from_client_units(lines, change.range)
        first, last = at.start.line, at.end.line
        if first >= len(lines) or last < first:
            super()._apply_incremental_change(change)  # the end of the text, or upside down
            return
        # (the codec has clamped both ends to the text)
        start = sum(map(len, lines[:first])) + at.start.character
        end = sum(map(len, lines[:last])) + at.end.character
        self._source = self.source[:start] + change.text + self.source[end:]


class LspWorkspace(Workspace):
    def _create_text_document(self, doc_uri: str, source: str | None = None,
                              version: int | None = None, language_id: str | None = None,
                              ) -> TextDocument:
        return LspTextDocument(doc_uri, source=source, version=version,
                               language_id=language_id, sync_kind=self._sync_kind,
                               position_codec=self.position_codec)


def lsp_workspace(old: Workspace, params: Any) -> LspWorkspace:
    """The same workspace as pygls built at initialize, with LSP's lines."""
    return LspWorkspace(old.root_uri, old._sync_kind, params.workspace_folders or [],
                        old.position_encoding)


def _line_text(lines: Sequence[str], i: int) -> str:
    return lines[i].rstrip("\r\n")


def to_client(lines: Sequence[str], line: int, column: int,
              codec: PositionCodec) -> t.Position:
    """0-based ``line`` and code-point ``column``, clamped to ``lines``, in client units."""
    if not lines:
        return t.Position(line=0, character=0)
    if line >= len(lines):
        last = len(lines) - 1
        text = _line_text(lines, last)
        if lines[last].endswith("\n"):  # the position after a final newline
            return t.Position(line=len(lines), character=0)
        return t.Position(line=last, character=codec.client_num_units(text))
    line = max(line, 0)
    text = _line_text(lines, line)
    column = min(max(column, 0), len(text))
    return t.Position(line=line, character=codec.client_num_units(text[:column]))


def span_range(lines: Sequence[str], span: Span, codec: PositionCodec,
               first_line_only: bool = False) -> t.Range:
    """A span as a client range, never empty when the line has text to underline."""
    start = to_client(lines, span.line - 1, span.column - 1, codec)
    end_line, end_col = span.end_line - 1, span.end_column
    if first_line_only:
        end_line, end_col = span.line - 1, 10**9
    end = to_client(lines, end_line, end_col, codec)
    if (end.line, end.character) < (start.line, start.character):
        end = start
    if end == start and start.line < len(lines):
        text = _line_text(lines, start.line)
        width = codec.client_num_units(text)
        if start.character < width:
            end = t.Position(line=start.line, character=start.character + 1)
        elif start.character > 0:
            start = t.Position(line=start.line, character=start.character - 1)
    return t.Range(start=start, end=end)


def to_offset(lines: Sequence[str], pos: t.Position, codec: PositionCodec) -> int:
    """A client position as a character offset into ``"".join(lines)``, clamped."""
    if not lines:
        return 0
    server = codec.position_from_client_units(
        lines, t.Position(line=pos.line, character=pos.character))
    line = min(server.line, len(lines) - 1)
    return sum(len(s) for s in lines[:line]) + min(server.character, len(lines[line]))


def offset_position(text: str, offset: int) -> tuple[int, int]:
    """0-based line and code-point column of a character offset."""
    offset = min(max(offset, 0), len(text))
    line, start = 0, 0
    for m in _NEWLINE.finditer(text, 0, offset):
        line, start = line + 1, m.end()
    return line, offset - start
