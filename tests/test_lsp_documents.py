"""The server's documents apply an incremental edit by slicing the text (positions.py):
whatever the edit, the text is the one pygls's own line-by-line loop makes, on LSP's lines
(\\r\\n, \\r, U+2028 and form feeds, characters outside the BMP counted in UTF-16 units)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from lsprotocol import types as t
from pygls.workspace import TextDocument
from pygls.workspace.position_codec import PositionCodec

from trimtab.lsp.positions import LspTextDocument

PIECES = ["a", "é", "🐘", "\n", "\r\n", "\r", "\u2028", "\x0c", "  ", "pgTable(", "});\n"]
texts = st.lists(st.sampled_from(PIECES), max_size=30).map("".join)
positions = st.builds(t.Position, line=st.integers(0, 12), character=st.integers(0, 12))


def _doc(text: str) -> LspTextDocument:
    return LspTextDocument("file:///x/schema.ts", source=text, version=1,
                           sync_kind=t.TextDocumentSyncKind.Incremental,
                           position_codec=PositionCodec(t.PositionEncodingKind.Utf16))


@settings(max_examples=600, deadline=None)
@given(text=texts, edits=st.lists(st.tuples(positions, positions, texts), min_size=1,
                                  max_size=4))
def test_an_edit_makes_the_text_pygls_makes(text: str,
                                            edits: list[tuple[t.Position, t.Position, str]]
                                            ) -> None:
    doc, ref = _doc(text), _doc(text)
    for start, end, new in edits:
        change = t.TextDocumentContentChangePartial(range=t.Range(start, end), text=new)
        doc.apply_change(change)
        TextDocument._apply_incremental_change(ref, change)  # pygls's loop
        assert doc.source == ref.source
        assert doc.lines == ref.lines


def test_lines_are_split_again_for_a_new_text() -> None:
    doc = _doc("a\nb\n")
    assert doc.lines == ("a\n", "b\n")
    doc.apply_change(t.TextDocumentContentChangePartial(
        range=t.Range(t.Position(1, 0), t.Position(1, 0)), text="c\u2028d\n"))
    assert doc.source == "a\nc\u2028d\nb\n"
    assert doc.lines == ("a\n", "c\u2028d\n", "b\n")
    doc.apply_change(t.TextDocumentContentChangeWholeDocument(text="x"))
    assert doc.lines == ("x",)
