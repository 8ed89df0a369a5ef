"""Completion keeps what depends on the models only (the model of the files, per text;
the lists of tables and types, per model): an edit or a new read of the database must
show at once, never the lists of before."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types as t
from pytest_lsp import LanguageClient

from tests.test_lsp import change_doc, client, db, open_doc, workspace  # noqa: F401
from trimtab.lsp import completion
from trimtab.sources.sqlfile import split_statements, structural_model


def _model(text: str) -> completion.Models:
    return completion.Models(structural_model(split_statements(text, "c.sql"))[0], None)


def _labels(before: str, m: completion.Models) -> list[str]:
    return [i.label for i in completion.complete(before, before, m)]


def test_the_lists_follow_a_new_file_model_and_a_new_live_model() -> None:
    ref = "CREATE TABLE z (a int REFERENCES "
    one = _model("CREATE TABLE a (id int);\nCREATE TYPE e AS ENUM ('x');\n")
    assert _labels(ref, one) == _labels(ref, one) == ["a"]
    two = _model("CREATE TABLE b (id int);\nCREATE DOMAIN d AS int;\n")
    assert _labels(ref, two) == ["b"]  # another model: not the first one's list
    live = _model("CREATE TABLE from_db (id int);\n").file
    assert _labels(ref, completion.Models(two.file, live)) == ["b", "from_db"]
    assert _labels(ref, two) == ["b"]
    assert "d" in _labels("CREATE TABLE z (a ", two) and \
        "e" not in _labels("CREATE TABLE z (a ", two)
    assert "e" in _labels("CREATE TABLE z (a ", one)
    # a caller that adds to a list it got does not add to the next answer
    _labels(ref, two).append("oops")
    completion._table_items(two).append(completion.Item("oops", "table"))
    assert _labels(ref, two) == ["b"]


def _statement_before_by_walk(text: str, statements: list, offset: int) -> tuple[str, str]:
    """The statement under the cursor as completion found it walking every statement."""
    start, whole_end = 0, offset
    for st in statements:
        if st.span.start_offset > offset:
            break
        if ";" not in text[st.span.end_offset:offset] or offset <= st.span.end_offset:
            start, whole_end = st.span.start_offset, max(st.span.end_offset, offset)
        else:
            start = whole_end = offset
    return text[start:offset], text[start:whole_end]


def test_the_statement_before_the_cursor_is_the_one_a_walk_finds() -> None:
    text = ("  CREATE TABLE a (id int);\nCREATE TABLE b (x int REFERENCES );\n-- c\n"
            "CREATE VIEW v AS SELECT 1 ; ; CREATE INDEX i ON a (id)")
    sts = split_statements(text, "s.sql")
    for offset in range(len(text) + 1):
        assert completion.statement_before(text, sts, offset) == \
            _statement_before_by_walk(text, sts, offset), offset
    at = text.index("REFERENCES ") + len("REFERENCES ")
    assert completion.statement_before(text, sts, at) == (
        "CREATE TABLE b (x int REFERENCES ", "CREATE TABLE b (x int REFERENCES )")


async def test_completion_after_an_edit_offers_the_tables_of_the_new_text(
        client: LanguageClient, workspace: Path, db_url: str) -> None:  # noqa: F811
    base = "CREATE TABLE first_one (id int PRIMARY KEY);\nCREATE TABLE z (\n  a int REFERENCES "
    uri = open_doc(client, workspace / "schema.sql", base + "\n);\n")
    at = t.Position(line=2, character=len("  a int REFERENCES "))

    async def offered() -> list[str]:
        result = await client.text_document_completion_async(t.CompletionParams(
            text_document=t.TextDocumentIdentifier(uri=uri), position=at))
        assert isinstance(result, t.CompletionList)
        return [i.label for i in result.items]

    assert "first_one" in await offered() and "second" not in await offered()
    change_doc(client, uri, 2, base.replace("first_one", "second") + "\n);\n")
    got = await offered()
    assert "second" in got and "first_one" not in got
