"""Formatting (trimtab.sqlformat): one canonical layout that never changes meaning.

The proof: for every schema fixture, the sandboxed shadow model of the formatted text equals
the original's and the plan between them is empty; formatting is idempotent and keeps every
comment. The conformance corpus gets the same check in the slow lane."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.golden import ROLES
from trimtab.errors import TrimtabError
from trimtab.plan import build_plan
from trimtab.sources.shadow import desired_model
from trimtab.sources.sqlfile import split_statements
from trimtab.sqlformat import format_edits, format_sql, format_statement
from trimtab.sqltext import skip_block_comment

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
# Schemas only: a golden case's plan.sql is the migration between two of them.
FILES = sorted(f for f in FIXTURES.rglob("*.sql") if f.name != "plan.sql")
CORPUS = Path(os.environ.get("TRIMTAB_CONFORMANCE", ROOT.parent / "shared" / "conformance")
              ) / "corpus"


def comments(text: str) -> list[str]:
    """Every comment of a SQL text, in order (outside strings, quoted names, dollar quotes)."""
    out, pos = [], 0
    pattern = re.compile(r"--[^\r\n]*|/\*|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|"
                         r"(\$(?:[A-Za-z_]\w*)?\$).*?\1", re.S)
    while (m := pattern.search(text, pos)) is not None:
        if m.group().startswith("--"):
            out.append(m.group().rstrip())
            pos = m.end()
        elif m.group() == "/*":
            end = skip_block_comment(text, m.end())
            out.append(text[m.start():end])
            pos = end
        else:
            pos = m.end()
    return out


# -- the layout --------------------------------------------------------------------------------


def test_create_table_one_element_a_line() -> None:
    src = ("create table   public.users(id bigint generated always as identity primary key,\n"
           "  email text not null unique, score numeric(10,2) default -1 check (score>= -1),\n"
           " tags text[] default '{}'::text[] ) ;")
    assert format_sql(src) == (
        "create table public.users (\n"
        "  id bigint generated always as identity primary key,\n"
        "  email text not null unique,\n"
        "  score numeric(10, 2) default -1 check (score >= -1),\n"
        "  tags text[] default '{}'::text[]\n"
        ");\n")


def test_alter_table_actions_a_line_and_view_clauses_a_line() -> None:
    src = ("ALTER TABLE users ADD COLUMN a int,ADD CONSTRAINT c CHECK (a > 0);\n"
           "ALTER TABLE users DROP COLUMN b;\n"
           "create view v as select u.id from users u left join t w on w.id=u.id "
           "where u.id is distinct from 1 order by 1;")
    assert format_sql(src) == (
        "ALTER TABLE users\n  ADD COLUMN a int,\n  ADD CONSTRAINT c CHECK (a > 0);\n\n"
        "ALTER TABLE users DROP COLUMN b;\n\n"
        "create view v as\nselect u.id\nfrom users u\nleft join t w on w.id = u.id\n"
        "where u.id is distinct from 1\norder by 1;\n")


def test_case_strings_and_bodies_are_kept_exactly() -> None:
    body = "$fn$\nBEGIN\n  RETURN   NEW;   -- as written\nEND $fn$"
    src = (f"CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS {body};\n"
           "COMMENT ON TABLE \"Mixed  Case\" IS 'two  spaces\n and a line';")
    out = format_sql(src)
    assert body in out and "'two  spaces\n and a line'" in out and '"Mixed  Case"' in out


def test_comments_between_statements_are_kept_in_place() -> None:
    src = ("-- header\n\n\n\ncreate table a (x int) ; -- after a\n"
           "/* about b */\ncreate table b (y int);\n\n\n-- section\n\ncreate table c (z int)\n"
           "-- the end\n")
    assert format_sql(src) == (
        "-- header\n\n"
        "create table a (\n  x int\n); -- after a\n\n"
        "/* about b */\n"
        "create table b (\n  y int\n);\n\n"
        "-- section\n\n"
        "create table c (\n  z int\n);\n\n"
        "-- the end\n")


def test_a_statement_with_a_comment_inside_is_left_as_written() -> None:
    stmt = "create table t (a int, -- why\n   b    int)"
    assert format_statement(stmt) == stmt
    assert format_sql(stmt + ";\n") == stmt + ";\n"


def test_what_does_not_lex_cleanly_is_left_alone() -> None:
    for text in ("create table t (a int;\n", "create table t (a text default 'x);\n",
                 "\\connect db\ncreate table t (a int);\n"):
        assert format_sql(text) == text
        assert format_edits(text) == []


def test_tokens_that_would_run_together_are_never_joined() -> None:
    # An operator next to a sign: joining "<" and "-" makes the one operator "<-".
    assert format_statement("select 1 < - 1") == "select 1 < -1"
    assert format_statement("select a @- b") == "select a @- b"
    assert format_statement("select a <-  - 1") == "select a <- -1"


def test_range_formatting_touches_only_the_statements_in_the_range() -> None:
    src = "create table a (x int);\ncreate   table b (y int);\ncreate table c(z int);\n"
    start = src.index("b (")
    edits = format_edits(src, start, start + 1)
    assert len(edits) == 1 and src[edits[0].start:edits[0].end].startswith("create   table b")
    assert edits[0].new == "create table b (\n  y int\n);\n\n"


def test_crlf_files_keep_crlf() -> None:
    out = format_sql("create table a (x int, y int);\r\ncreate table b (z int);\r\n")
    assert out == ("create table a (\r\n  x int,\r\n  y int\r\n);\r\n\r\n"
                   "create table b (\r\n  z int\r\n);\r\n")


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fixture_formats_idempotently_and_keeps_comments(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    out = format_sql(text)
    assert format_sql(out) == out
    assert comments(out) == comments(text)
    assert [re.sub(r"\s+", "", s.text) for s in split_statements(out)] == \
        [re.sub(r"\s+", "", s.text) for s in split_statements(text)]


# -- meaning: the shadow models ------------------------------------------------------------------


def _roles(admin_url: str) -> None:
    """The roles the golden cases grant to and give objects to (see tests/golden.py)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for role in ROLES:
            conn.execute(f"DO $$ BEGIN CREATE ROLE {role}; EXCEPTION WHEN duplicate_object "
                         "THEN NULL; END $$".encode())


def same_meaning(text: str, admin_url: str) -> str:
    """"unchanged", "formatted" (the models are equal) or "refused" (PostgreSQL refuses the
    original, and the formatted text just as well). Fails on any difference."""
    out = format_sql(text)
    if out == text:
        return "unchanged"
    assert format_sql(out) == out, "not idempotent"
    assert comments(out) == comments(text), "comments changed"
    try:
        before = desired_model(split_statements(text), admin_url)
    except TrimtabError as e:
        with pytest.raises(TrimtabError) as after:
            desired_model(split_statements(out), admin_url)
        assert type(after.value) is type(e)
        return "refused"
    after_model = desired_model(split_statements(out), admin_url)
    plan = build_plan(before, after_model)
    assert not plan, plan.statements
    assert after_model == before
    return "formatted"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fixture_formatted_has_the_same_shadow_model(path: Path, admin_url: str,
                                                     pg_server: Any) -> None:
    _roles(admin_url)
    same_meaning(path.read_text(encoding="utf-8"), admin_url)


CORPUS_PARTS = 8  # the corpus in parts, so that the slow lane's workers share it


@pytest.mark.slow
@pytest.mark.parametrize("part", range(CORPUS_PARTS))
def test_conformance_corpus_formatted_has_the_same_shadow_models(part: int, admin_url: str,
                                                                 pg_server: Any) -> None:
    files = sorted(CORPUS.glob("*/*/*.sql"))[part::CORPUS_PARTS]
    if not files:
        pytest.skip(f"no conformance corpus at {CORPUS}")
    _roles(admin_url)
    counts: dict[str, int] = {}
    failures = []
    for f in files:
        try:
            verdict = same_meaning(f.read_text(encoding="utf-8"), admin_url)
        except AssertionError as e:
            failures.append(f"{f.relative_to(CORPUS)}: {str(e)[:300]}")
            continue
        counts[verdict] = counts.get(verdict, 0) + 1
    print(f"conformance corpus: {len(files)} files: {counts}")
    assert not failures, "\n".join(failures)


# -- the command line ------------------------------------------------------------------------------


def test_cli_fmt_check_then_fmt_then_check_is_clean(tmp_path: Path) -> None:
    from tests.test_cli_push import run

    (tmp_path / "trimtab.toml").write_text('schema = "schema"\n')
    (tmp_path / "schema").mkdir()
    messy = tmp_path / "schema" / "a.sql"
    messy.write_bytes(b"-- kept\r\ncreate table a(x int,  y int);\r\n")
    tidy = tmp_path / "schema" / "b.sql"
    tidy.write_text("create table b (\n  z int\n);\n")
    r = run(tmp_path, "fmt", "--check")
    assert r.returncode == 1, r.stderr
    assert "would reformat" in r.stdout and "a.sql" in r.stdout and "b.sql" not in r.stdout
    assert messy.read_bytes() == b"-- kept\r\ncreate table a(x int,  y int);\r\n"
    r = run(tmp_path, "fmt")
    assert r.returncode == 0, r.stderr
    assert messy.read_bytes() == b"-- kept\r\ncreate table a (\r\n  x int,\r\n  y int\r\n);\r\n"
    r = run(tmp_path, "fmt", "--check")
    assert (r.returncode, r.stdout) == (0, ""), r.stderr


def test_a_sql_standard_body_stays_one_statement() -> None:
    out = format_sql("CREATE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n"
                     "  SELECT 1 ;\n  SELECT 2;\nEND;")
    assert out == ("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; "
                   "END;\n")
    assert len(split_statements(out)) == 1
