"""Pending SQL laid out for hovers: only whitespace changes, never the statement."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from sqlglot.dialects.postgres import Postgres

from trimtab.lsp.pretty import layout


def tokens(sql: str) -> list[str]:
    return [t.text for t in Postgres().tokenize(sql)]


def test_create_table_gets_one_definition_per_line() -> None:
    sql = ("CREATE TABLE public.orders (id bigint DEFAULT f(1, 2) NOT NULL, "
           "s text DEFAULT 'a, b'::text, CONSTRAINT k CHECK ((a > 0))) PARTITION BY RANGE (a, b)")
    assert layout(sql) == (
        "CREATE TABLE public.orders (\n"
        "  id bigint DEFAULT f(1, 2) NOT NULL,\n"
        "  s text DEFAULT 'a, b'::text,\n"
        "  CONSTRAINT k CHECK ((a > 0))\n"
        ") PARTITION BY RANGE (a, b)")


def test_alter_table_gets_one_action_per_line() -> None:
    sql = 'ALTER TABLE "t" ADD COLUMN a int, DROP COLUMN "c,d"'
    assert layout(sql) == 'ALTER TABLE "t" ADD COLUMN a int,\n  DROP COLUMN "c,d"'


def test_other_statements_and_odd_ones_are_left_alone() -> None:
    for sql in ["CREATE INDEX i ON t (a, b)", "CREATE TABLE t ()",
                "CREATE TABLE p1 PARTITION OF p FOR VALUES IN (1, 2)",
                "ALTER TYPE mood ADD VALUE 'x'", "CREATE TABLE $$", "",
                "CREATE FUNCTION f(a int, b int) RETURNS int AS $$ SELECT a, b $$"]:
        assert layout(sql) == sql


@given(st.lists(st.sampled_from(["CREATE TABLE t (", "ALTER TABLE t ", "a int", ",", "(", ")",
                                 "'x, y'", "/* c, */", "-- d\n", " ", "$$ , $$", "DEFAULT",
                                 "\"q,\"", "1"]), max_size=20).map("".join))
def test_only_whitespace_changes(sql: str) -> None:
    out = layout(sql)
    try:
        before = tokens(sql)
    except Exception:
        assert out == sql  # what sqlglot cannot read is shown as it is
        return
    assert tokens(out) == before
