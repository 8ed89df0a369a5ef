"""Between the engine's positions (1-based lines, code-point columns, character offsets)
and the client's (0-based lines, columns in the negotiated encoding, UTF-16 by default).

Every range the server sends is clamped to the text the client has: a finding placed from
a remembered span may point past the end of a document the user just shortened.
"""

from __future__ import annotations

import itertools
import re
from array import array
from collections.abc import Iterator, Sequence
from typing import Any, overload

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


class Lines(Sequence[str]):
    """A text's lines as LSP counts them (as ``split_lines``), each sliced from the text
    when asked for, with the offset of each line's start in one array. A tuple of the lines
    held the document a second time (17 MiB at 10,000 tables, 180,000 lines) and a list of
    their offsets (for ``to_offset``) some 6 MiB more."""

    __slots__ = ("starts", "text")

    def __init__(self, text: str, starts: array[int] | None = None) -> None:
        self.text = text
        if starts is None:  # each line's start, then the text's end
            starts = array("q", [0])
            starts.extend(m.end() for m in _NEWLINE.finditer(text))
            if starts[-1] != len(text):
                starts.append(len(text))
        self.starts = starts

    def __len__(self) -> int:
        return len(self.starts) - 1

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[str, ...]: ...
    def __getitem__(self, i: int | slice) -> str | tuple[str, ...]:
        if isinstance(i, slice):
            return tuple(self[j] for j in range(len(self))[i])
        n = len(self.starts) - 1
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("line index out of range")
        return self.text[self.starts[i]:self.starts[i + 1]]

    def __iter__(self) -> Iterator[str]:
        text, starts = self.text, self.starts
        return (text[starts[i]:starts[i + 1]] for i in range(len(starts) - 1))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Lines):
            return self.text == other.text
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    __hash__ = None  # type: ignore[assignment]  # (a sequence, compared by its lines)

    def __repr__(self) -> str:
        return f"Lines({len(self)} lines)"


class LspTextDocument(TextDocument):
    """pygls's document with LSP's lines: its own splits at U+2028 (and \\f...), so an
    incremental edit after such a character lands on the wrong line. The lines are split
    once per text (publishing, hover, completion and the next edit all ask for them), and an
    edit is applied as one splice where pygls rewrites the document line by line: on a
    large file both cost more than the analysis of a keystroke."""

    _split: Lines | None = None

    @property
    def lines(self) -> Lines:
        source = self.source
        split = self._split
        if split is None or split.text is not source:
            split = self._split = Lines(source)
        return split

    def _apply_incremental_change(self, change: t.TextDocumentContentChangePartial) -> None:
        lines = self.lines
        r = self._position_codec.range_from_client_units(lines, change.range)
        (a_line, a_col), (b_line, b_col) = (r.start.line, r.start.character), (
            r.end.line, r.end.character)
        if a_line >= len(lines) or (b_line, b_col) < (a_line, a_col):
            super()._apply_incremental_change(change)  # (its way, whatever it means)
            return
        starts = lines.starts
        source = self.source
        a = starts[a_line] + min(a_col, len(lines[a_line]))
        b = starts[b_line] + min(b_col, len(lines[b_line])) if b_line < len(lines) \
            else len(source)
        new = self._source = source[:a] + change.text + source[b:]
        # The new lines: the old ones around the lines the edit touched, those split again;
        # all of them when the edges do not stay line ends (a range past a line's end, a CR
        # and an LF that meet).
        n = len(lines)
        b_end = min(b_line, n - 1)
        delta = len(new) - len(source)
        head, tail = starts[a_line], starts[b_end + 1] + delta  # the middle's ends, in new
        middle = new[head:tail]
        after = lines[b_end + 1] if b_end + 1 < n else ""
        joins_after = bool(after) and (not middle.endswith(("\n", "\r")) or (
            middle.endswith("\r") and after.startswith("\n")))
        joins_before = a_line > 0 and lines[a_line - 1].endswith("\r") and (
            middle or after).startswith("\n")
        if not joins_after and not joins_before:
            # the starts before the middle, those of its lines, the rest moved by the edit
            moved = starts[:a_line + 1]
            moved.extend(head + m.end() for m in _NEWLINE.finditer(middle)
                         if head + m.end() < tail)
            rest = starts[b_end + 1:]
            if rest[0] + delta == moved[-1]:
                del rest[0]  # (the middle is gone: no empty line)
            moved.extend(x + delta for x in rest)
            self._split = Lines(new, moved)


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


# (lines, their starts) of the lines asked last: one pair, swapped whole (threads)
_last_starts: list[tuple[Sequence[str], list[int]] | None] = [None]


def line_starts(lines: Sequence[str]) -> Sequence[int]:
    """The offset of each line in ``"".join(lines)`` (of the same lines as last time: kept)."""
    if isinstance(lines, Lines):
        return lines.starts
    last = _last_starts[0]
    if last is None or last[0] is not lines:
        last = _last_starts[0] = (lines, list(itertools.accumulate(map(len, lines), initial=0)))
    return last[1]


def to_offset(lines: Sequence[str], pos: t.Position, codec: PositionCodec) -> int:
    """A client position as a character offset into ``"".join(lines)``, clamped."""
    if not lines:
        return 0
    server = codec.position_from_client_units(
        lines, t.Position(line=pos.line, character=pos.character))
    line = min(server.line, len(lines) - 1)
    return line_starts(lines)[line] + min(server.character, len(lines[line]))


def offset_position(text: str, offset: int) -> tuple[int, int]:
    """0-based line and code-point column of a character offset."""
    offset = min(max(offset, 0), len(text))
    line, start = 0, 0
    for m in _NEWLINE.finditer(text, 0, offset):
        line, start = line + 1, m.end()
    return line, offset - start
