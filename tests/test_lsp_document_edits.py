"""The server's documents: an incremental change is applied as one splice of the text
(pygls rewrote the whole document line by line), and the lines are split once per text.
Both must give exactly what pygls's line-by-line application gives."""

from __future__ import annotations

import random

from lsprotocol import types as t
from pygls.workspace import TextDocument

from trimtab.lsp import positions
from trimtab.lsp.positions import LspTextDocument

PIECES = ["", "x", "é", "😀", "\n", "\r\n", "\r", "\u2028", "\f", "ab\ncd", "  ", ";\n"]


def _doc(text: str, encoding: t.PositionEncodingKind) -> LspTextDocument:
    from pygls.workspace.position_codec import PositionCodec

    return LspTextDocument("file:///s.sql", text, version=1,
                           sync_kind=t.TextDocumentSyncKind.Incremental,
                           position_codec=PositionCodec(encoding))


def _position(rnd: random.Random, lines: tuple[str, ...]) -> t.Position:
    line = rnd.randrange(len(lines) + 2)  # sometimes past the end
    width = len(lines[line]) if line < len(lines) else 3
    return t.Position(line=line, character=rnd.randrange(width + 3))  # and past a line's


def test_incremental_changes_are_those_of_the_line_by_line_application() -> None:
    rnd = random.Random(22)
    for encoding in (t.PositionEncodingKind.Utf16, t.PositionEncodingKind.Utf32):
        text = "CREATE TABLE a (\n  id int\n);\r\nCREATE TABLE b (x text);\rz\u2028é😀\n"
        ours, theirs = _doc(text, encoding), _doc(text, encoding)
        for _ in range(400):
            a, b = _position(rnd, ours.lines), _position(rnd, ours.lines)
            if rnd.random() < 0.8 and (b.line, b.character) < (a.line, a.character):
                a, b = b, a
            change = t.TextDocumentContentChangePartial(
                range=t.Range(start=a, end=b), text=rnd.choice(PIECES))
            ours.apply_change(change)
            TextDocument._apply_incremental_change(theirs, change)  # pygls's way, LSP lines
            assert ours.source == theirs.source, (a, b, change.text)
            assert ours.lines == positions.split_lines(ours.source)
            assert ours.lines.starts == positions.Lines(ours.source).starts


def test_lines_are_split_once_per_text_and_again_after_an_edit() -> None:
    doc = _doc("a\nb\n", t.PositionEncodingKind.Utf16)
    first = doc.lines
    assert doc.lines is first  # the same text: the same lines
    doc.apply_change(t.TextDocumentContentChangePartial(
        range=t.Range(start=t.Position(line=1, character=0),
                      end=t.Position(line=1, character=1)), text="c\nd"))
    assert doc.source == "a\nc\nd\n" and doc.lines == ("a\n", "c\n", "d\n")
    assert positions.to_offset(doc.lines, t.Position(line=2, character=0),
                               doc.position_codec) == 4
    doc.apply_change(t.TextDocumentContentChangeWholeDocument(text="z"))
    assert doc.lines == ("z",)
    assert positions.to_offset(doc.lines, t.Position(line=0, character=1),
                               doc.position_codec) == 1


def test_the_lines_hold_no_second_copy_of_the_text() -> None:
    """Issue 24: a tuple of the lines held a 10,000-table document a second time (17 MiB),
    and their offsets a list of 180,000 ints."""
    doc = _doc("a\nbb\r\nc", t.PositionEncodingKind.Utf16)
    lines = doc.lines
    assert isinstance(lines, positions.Lines) and lines.text is doc.source
    assert list(lines) == ["a\n", "bb\r\n", "c"] and lines[-1] == "c" and len(lines) == 3
    assert lines[1:] == ("bb\r\n", "c") and list(positions.line_starts(lines)) == [0, 2, 6, 7]
    assert positions.Lines("") == () and positions.Lines("x\n") == ("x\n",)
