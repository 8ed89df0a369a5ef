"""Format Document and Format Selection in a SQL schema file, as an editor drives them: the
real `trimtab lsp` process and a real project; the formatted file is then pushed with the real
CLI and plans nothing."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types as t
from pytest_lsp import LanguageClient

from tests.test_cli_push import run
from tests.test_lsp import client, open_doc, workspace  # noqa: F401
from tests.test_lsp_rename import apply, at

SCHEMA = """-- the users
create table users(id int primary key,   email text not null unique);
create   table posts (id int primary key, author int references users(id));

/* kept */
create index posts_author on posts(author);
"""
FORMATTED = """-- the users
create table users (
  id int primary key,
  email text not null unique
);

create table posts (
  id int primary key,
  author int references users(id)
);

/* kept */
create index posts_author on posts(author);
"""
OPTIONS = t.FormattingOptions(tab_size=2, insert_spaces=True)


async def test_format_document_lays_out_the_schema_and_push_then_plans_nothing(
        client: LanguageClient, workspace: Path, db_url: str) -> None:  # noqa: F811
    uri = open_doc(client, workspace / "schema.sql", SCHEMA)
    edits = await client.text_document_formatting_async(t.DocumentFormattingParams(
        text_document=t.TextDocumentIdentifier(uri=uri), options=OPTIONS))
    assert edits
    assert apply(SCHEMA, edits) == FORMATTED
    # The original pushed, then the formatted file: nothing to change.
    r = run(workspace, "push", "--url", db_url)
    assert r.returncode == 0, r.stderr
    (workspace / "schema.sql").write_text(FORMATTED)
    r = run(workspace, "push", "--url", db_url, "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "CREATE" not in r.stdout and "ALTER" not in r.stdout and "DROP" not in r.stdout


async def test_format_selection_touches_only_the_statements_selected(
        client: LanguageClient, workspace: Path) -> None:  # noqa: F811
    uri = open_doc(client, workspace / "schema.sql", SCHEMA)
    pos = at(SCHEMA, "table posts (id")
    edits = await client.text_document_range_formatting_async(
        t.DocumentRangeFormattingParams(text_document=t.TextDocumentIdentifier(uri=uri),
                                        range=t.Range(start=pos, end=pos), options=OPTIONS))
    assert edits
    new = apply(SCHEMA, edits)
    assert "create table users(id int primary key,   email text" in new  # untouched
    assert "create table posts (\n  id int primary key,\n  author int references users(id)\n);" \
        in new


async def test_a_file_that_is_not_a_schema_file_is_not_formatted(
        client: LanguageClient, workspace: Path) -> None:  # noqa: F811
    (workspace / "migrations").mkdir()
    uri = open_doc(client, workspace / "migrations" / "0001_init.sql", SCHEMA)
    edits = await client.text_document_formatting_async(t.DocumentFormattingParams(
        text_document=t.TextDocumentIdentifier(uri=uri), options=OPTIONS))
    assert not edits


async def test_format_document_answers_one_edit_per_statement_in_client_units(
        client: LanguageClient, workspace: Path) -> None:  # noqa: F811
    """A file of many alike statements, CRLF and characters outside the BMP: the edits
    are the formatter's own, one per statement that changes, placed in UTF-16 units (a line
    diff of the two texts took minutes on such a file: no answer at 1,000 tables)."""
    tables = "".join(f"create table t{i}(id int primary key,  note text default '🐘{i}');\r\n"
                     for i in range(400))
    text = "-- 🐘 many\r\n" + tables
    uri = open_doc(client, workspace / "schema.sql", text)
    edits = await client.text_document_formatting_async(t.DocumentFormattingParams(
        text_document=t.TextDocumentIdentifier(uri=uri), options=OPTIONS))
    assert edits is not None and len(edits) == 400
    from trimtab.sqlformat import format_sql
    assert _apply_utf16(text, edits) == format_sql(text)


def _apply_utf16(text: str, edits: list[t.TextEdit]) -> str:
    """Apply LSP edits whose columns count UTF-16 code units, as VS Code does."""
    lines = text.splitlines(True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(p: t.Position) -> int:
        if p.line >= len(lines):
            return len(text)
        units, k = 0, 0
        line = lines[p.line]
        while units < p.character and k < len(line):
            units += 2 if ord(line[k]) > 0xFFFF else 1
            k += 1
        return starts[p.line] + k

    out, pos = [], 0
    for e in sorted(edits, key=lambda e: offset(e.range.start)):
        out += [text[pos:offset(e.range.start)], e.new_text]
        pos = offset(e.range.end)
    return "".join(out) + text[pos:]
