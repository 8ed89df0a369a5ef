"""Rename hints in schema files: finding them, what they annotate, and adding them. Pure."""

from __future__ import annotations

import pytest

from trimtab.sources import sqlfile
from trimtab.sources.hints import NOT_FOLLOWED, NOT_TRAILING, Hint, find_hints, hint_edit
from trimtab.sources.sqlfile import split_statements, structural_model

FILE = "schema.sql"


def hints_of(sql: str) -> tuple[list[Hint], list[sqlfile.Issue]]:
    return find_hints({FILE: sql}, split_statements(sql, FILE))


def found(sql: str) -> dict[tuple[str, ...], str]:
    """Target -> old name, checking that no issue was reported."""
    hints, issues = hints_of(sql)
    assert issues == []
    return {h.target: h.old for h in hints}


def messages(sql: str) -> list[str]:
    return [i.message for i in hints_of(sql)[1]]


def col(table: str, name: str, schema: str = "public") -> tuple[str, ...]:
    return ("column", schema, table, name)


# --------------------------------------------------------------------------------------
# Finding hints


EXAMPLE = """\
-- trimtab: renamed from customers
CREATE TABLE public.clients (
  id serial PRIMARY KEY,
  -- trimtab: renamed from full_name
  name text NOT NULL,
  email text /* trimtab: renamed from mail */, age int
);
CREATE TYPE mood AS ENUM (
  'happy',
  'glad' -- trimtab: renamed from 'sad'
);
CREATE TYPE colour AS ENUM ('red', 'teal' /* trimtab: renamed from blue */);
"""


def test_the_example_file() -> None:
    hints, issues = hints_of(EXAMPLE)
    assert issues == []
    assert [(h.target, h.old, h.old_schema) for h in hints] == [
        (("table", "public", "clients"), "customers", None),
        (col("clients", "name"), "full_name", None),
        (col("clients", "email"), "mail", None),
        (("enum_value", "public", "mood", "glad"), "sad", None),
        (("enum_value", "public", "colour", "teal"), "blue", None),
    ]
    # The span is the comment's.
    first, _, email, glad, _ = hints
    assert (first.span.file, first.span.line, first.span.column) == (FILE, 1, 1)
    assert EXAMPLE[first.span.start_offset:first.span.end_offset] == \
        "-- trimtab: renamed from customers"
    assert EXAMPLE[email.span.start_offset:email.span.end_offset] == \
        "/* trimtab: renamed from mail */"
    assert (email.span.line, email.span.column) == (6, 14)
    assert (glad.span.line, glad.span.column) == (10, 10)


def test_column_trailing_block_comment_on_one_line_table() -> None:
    sql = "CREATE TABLE t (a int /* trimtab: renamed from x */, b int, c int);"
    assert found(sql) == {col("t", "a"): "x"}


def test_column_trailing_line_comment() -> None:
    sql = "CREATE TABLE t (\n  a int,\n  b int, -- trimtab: renamed from y\n  c int\n);"
    assert found(sql) == {col("t", "b"): "y"}


def test_trailing_hint_goes_to_the_object_starting_last_before_it() -> None:
    sql = "CREATE TABLE t (a int, b int) /* trimtab: renamed from y */;"
    assert found(sql) == {col("t", "b"): "y"}


def test_hint_on_the_table_line_of_a_multi_line_table() -> None:
    sql = "CREATE TABLE t ( -- trimtab: renamed from old_t\n  a int\n);"
    assert found(sql) == {("table", "public", "t"): "old_t"}


def test_trailing_hint_after_an_inline_key_is_for_the_column() -> None:
    # PRIMARY KEY / UNIQUE / REFERENCES make constraints with names PostgreSQL chooses:
    # a hint after them is meant for the column.
    sql = """CREATE TABLE t (
  id int PRIMARY KEY, -- trimtab: renamed from uid
  email text UNIQUE, -- trimtab: renamed from mail
  parent int REFERENCES t /* trimtab: renamed from up */
);"""
    assert found(sql) == {col("t", "id"): "uid", col("t", "email"): "mail",
                          col("t", "parent"): "up"}


def test_named_inline_constraint_takes_a_trailing_hint() -> None:
    sql = "CREATE TABLE t (\n  a int CONSTRAINT pos CHECK (a > 0) -- trimtab: renamed from p\n);"
    assert found(sql) == {("constraint", "public", "t", "pos"): "p"}


def test_constraint_with_a_hint_above() -> None:
    sql = """CREATE TABLE t (
  a int,
  -- trimtab: renamed from a_positive
  CONSTRAINT a_pos CHECK (a > 0)
);"""
    assert found(sql) == {("constraint", "public", "t", "a_pos"): "a_positive"}


def test_unnamed_table_constraint_takes_no_hint() -> None:
    sql = "CREATE TABLE t (\n  a int,\n  -- trimtab: renamed from x\n  CHECK (a > 0)\n);"
    assert messages(sql) == [NOT_FOLLOWED]


def test_index_with_a_hint_above() -> None:
    sql = """CREATE TABLE s.t (a int, b int);
-- trimtab: renamed from t_a_index
CREATE INDEX t_a_idx ON s.t (a);

-- trimtab: renamed from t_b_index
CREATE UNIQUE INDEX ON s.t (b);
"""
    assert found(sql) == {("index", "s", "t_a_idx"): "t_a_index",
                          ("index", "s", "t_b_idx"): "t_b_index"}


def test_enum_type_with_a_hint_above_or_on_its_line() -> None:
    sql = """-- trimtab: renamed from feeling
CREATE TYPE mood AS ENUM ('a', 'b');
CREATE TYPE colour AS ENUM ( -- trimtab: renamed from color
  'red'
);"""
    assert found(sql) == {("type", "public", "mood"): "feeling",
                          ("type", "public", "colour"): "color"}


def test_enum_values_bare_and_quoted() -> None:
    sql = """CREATE TYPE s.status AS ENUM (
  -- trimtab: renamed from 'It''s'
  'its',
  'Done', -- trimtab: renamed from Finished
  'in-progress' /* trimtab: renamed from in-work. */,
  'x' /* trimtab: renamed from E'a\\\\b' */,
  'y' /* trimtab: renamed from "Quoted" */
);"""
    assert found(sql) == {
        ("enum_value", "s", "status", "its"): "It's",
        ("enum_value", "s", "status", "Done"): "Finished",  # enum values are not folded
        ("enum_value", "s", "status", "in-progress"): "in-work",
        ("enum_value", "s", "status", "x"): "a\\b",
        ("enum_value", "s", "status", "y"): "Quoted",
    }


def test_alter_table_add_column_with_a_hint_above() -> None:
    sql = """CREATE TABLE t (a int);
-- trimtab: renamed from old_b
ALTER TABLE t ADD COLUMN b int;
ALTER TABLE t
  ADD COLUMN c int,
  -- trimtab: renamed from old_d
  ADD COLUMN d int,
  ADD CONSTRAINT c_pos CHECK (c > 0); -- trimtab: renamed from c_positive
"""
    assert found(sql) == {col("t", "b"): "old_b", col("t", "d"): "old_d",
                          ("constraint", "public", "t", "c_pos"): "c_positive"}


def test_quoted_names_and_case_folding() -> None:
    sql = """-- TrimTab : Renamed FROM Customers
CREATE TABLE "Clients" (
  -- trimtab:renamed from "Full ""Name"" X"
  "Name" text,
  -- trimtab: renamed from MAIL
  "E-mail" text
);"""
    assert found(sql) == {
        ("table", "public", "Clients"): "customers",
        col("Clients", "Name"): 'Full "Name" X',
        col("Clients", "E-mail"): "mail",
    }


def test_schema_qualified_table_hint() -> None:
    sql = """-- trimtab: renamed from legacy.customers
CREATE TABLE app.clients (id int);
-- trimtab: renamed from "Old Schema"."Orders"
CREATE TABLE orders (id int);
-- trimtab: renamed from items.
CREATE TABLE products (id int);
"""
    hints, issues = hints_of(sql)
    assert issues == []
    assert [(h.target, h.old_schema, h.old) for h in hints] == [
        (("table", "app", "clients"), "legacy", "customers"),
        (("table", "public", "orders"), "Old Schema", "Orders"),
        (("table", "public", "products"), None, "items"),  # a full stop is no qualifier
    ]


def test_schema_qualified_name_is_only_for_tables() -> None:
    sql = "CREATE TABLE t (\n  -- trimtab: renamed from s.a\n  b int\n);"
    assert messages(sql) == ["rename hint: only a table's old name may name a schema"]


def test_hints_inside_strings_identifiers_and_bodies_are_not_hints() -> None:
    sql = """CREATE TABLE t (
  a text DEFAULT '-- trimtab: renamed from x',
  b text DEFAULT E'it\\'s /* trimtab: renamed from y */',
  c int, "-- trimtab: renamed from z" int
);
COMMENT ON TABLE t IS '
-- trimtab: renamed from w
';
CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$
  -- trimtab: renamed from v
  SELECT 1
$body$;
CREATE FUNCTION g() RETURNS int LANGUAGE sql AS $$ SELECT 1 /* trimtab: renamed from u */ $$;
CREATE TABLE u (c int);
"""
    assert hints_of(sql) == ([], [])


def test_psql_meta_commands_and_dollars_in_identifiers_are_not_quotes() -> None:
    sql = """\\echo don't
-- trimtab: renamed from old_t
CREATE TABLE t (
  a$$b int, -- trimtab: renamed from x
  c$$ int
);"""
    assert found(sql) == {("table", "public", "t"): "old_t", col("t", "a$$b"): "x"}


def test_unterminated_block_comment_holds_no_hint() -> None:
    assert hints_of("/* trimtab: renamed from x\nCREATE TABLE t (a int);") == ([], [])


def test_only_enum_types_take_hints() -> None:
    sql = """-- trimtab: renamed from old_pair
CREATE TYPE pair AS (a int, b int);
-- trimtab: renamed from old_d
CREATE DOMAIN d AS int;
"""
    assert messages(sql) == [NOT_FOLLOWED, NOT_FOLLOWED]


def test_hint_followed_by_nothing_is_reported() -> None:
    sql = """CREATE TABLE t (a int);
-- trimtab: renamed from view_old
CREATE VIEW v AS SELECT 1;
CREATE TABLE later (a int);
-- trimtab: renamed from nothing
"""
    hints, issues = hints_of(sql)
    assert hints == []  # neither drifts to a later object
    assert [(i.message, i.severity, i.span.line) for i in issues] == [
        (NOT_FOLLOWED, "warning", 2), (NOT_FOLLOWED, "warning", 5)]


def test_trailing_hint_on_a_line_where_nothing_starts_is_reported() -> None:
    sql = "CREATE TABLE t (\n  a text\n    NOT NULL -- trimtab: renamed from b\n);"
    assert messages(sql) == [NOT_TRAILING]


def test_unreadable_names_are_reported() -> None:
    sql = """CREATE TABLE t (
  -- trimtab: renamed from
  a int,
  -- trimtab: renamed b
  b int,
  -- trimtab: renamed from 'c'
  c int
);"""
    hints, issues = hints_of(sql)
    assert hints == []
    assert [i.span.line for i in issues] == [2, 4, 6]
    assert all("cannot read the old name" in i.message for i in issues)


def test_duplicate_hint_keeps_the_first() -> None:
    sql = """-- trimtab: renamed from one
-- trimtab: renamed from two
CREATE TABLE t ( -- trimtab: renamed from three
  a int
);"""
    hints, issues = hints_of(sql)
    assert [(h.target, h.old) for h in hints] == [(("table", "public", "t"), "one")]
    assert [(i.span.line, i.severity) for i in issues] == [(2, "warning"), (3, "warning")]
    assert issues[0].message == \
        "a second rename hint for table public.t: only the first one is used"


def test_hint_after_the_end_of_a_block_comment_is_alone_on_its_line() -> None:
    sql = "CREATE TABLE t (\n  /* a note\n  */ -- trimtab: renamed from x\n  a int\n);"
    assert found(sql) == {col("t", "a"): "x"}


def test_hint_above_a_table_made_with_like() -> None:
    # LIKE copies constraints that are written nowhere in the file (object_spans gives
    # them an empty span at the statement's start): the hint is the table's.
    sql = """CREATE TABLE p (id int PRIMARY KEY, CONSTRAINT c CHECK (id > 0));
-- trimtab: renamed from old_ch
CREATE TABLE ch (LIKE p INCLUDING ALL);"""
    assert found(sql) == {("table", "public", "ch"): "old_ch"}


def test_hints_across_files() -> None:
    a = "CREATE TABLE t (a int);\n"
    b = "-- trimtab: renamed from old_b\nALTER TABLE t ADD COLUMN b int;\n"
    statements = split_statements(a, "a.sql") + split_statements(b, "b.sql")
    hints, issues = find_hints({"a.sql": a, "b.sql": b}, statements)
    assert issues == []
    assert [(h.target, h.old, h.span.file) for h in hints] == [
        (col("t", "b"), "old_b", "b.sql")]


def test_never_raises_on_odd_text() -> None:
    for sql in ["/* trimtab: renamed from x", "-- trimtab: renamed from", "'", '"', "$$",
                "CREATE TYPE e AS ENUM ('a' -- trimtab: renamed from",
                "\\i x -- trimtab: renamed from y", "-- trimtab: renamed from \"a"]:
        hints_of(sql)
    # Texts that do not match the statements given do not make it raise either.
    assert find_hints({FILE: ""}, split_statements(EXAMPLE, FILE))[0] == []


# --------------------------------------------------------------------------------------
# Adding hints


def tokens(text: str) -> list[tuple[str, str]]:
    return [(t[0], t[1]) for t in sqlfile.lex(text).toks]


def round_trip(sql: str, target: tuple[str, ...], old: str) -> str:
    """hint_edit's result, checked to hold exactly that hint and the same statements."""
    before = split_statements(sql, FILE)
    edited = hint_edit(sql, FILE, before, target, old)
    after = split_statements(edited, FILE)
    assert [tokens(s.text) for s in after] == [tokens(s.text) for s in before]
    assert structural_model(after)[0] == structural_model(before)[0]
    hints, issues = find_hints({FILE: edited}, after)
    assert issues == []
    assert [(h.target, h.old) for h in hints] == [(target, old)]
    return edited


TABLE = """CREATE TABLE s.t (
    a int,
    b int CONSTRAINT b_pos CHECK (b > 0),
    CONSTRAINT ab UNIQUE (a, b)
);
"""


@pytest.mark.parametrize(
    ("sql", "target", "old", "expected"),
    [
        (TABLE, ("table", "s", "t"), "Old T",
         '-- trimtab: renamed from "Old T"\n' + TABLE),
        (TABLE, ("column", "s", "t", "a"), "x",
         TABLE.replace("    a int", "    -- trimtab: renamed from x\n    a int")),
        (TABLE, ("constraint", "s", "t", "ab"), "select",
         TABLE.replace("    CONSTRAINT ab", '    -- trimtab: renamed from "select"\n'
                                             "    CONSTRAINT ab")),
        (TABLE, ("constraint", "s", "t", "b_pos"), "b_positive",
         TABLE.replace("(b > 0)", "(b > 0) /* trimtab: renamed from b_positive */")),
        # one-line tables: after the column, or before it on a line of its own when a
        # named constraint inside it starts later on the line
        ("CREATE TABLE t (a int, b int);", col("t", "b"), "c",
         "CREATE TABLE t (a int, b int /* trimtab: renamed from c */);"),
        ("CREATE TABLE t (a int CONSTRAINT p CHECK (a > 0), b int);", col("t", "a"), "c",
         "CREATE TABLE t (\n-- trimtab: renamed from c\na int CONSTRAINT p CHECK (a > 0), "
         "b int);"),
        ("CREATE TABLE t (a int PRIMARY KEY, b int);", col("t", "a"), "c",
         "CREATE TABLE t (a int PRIMARY KEY /* trimtab: renamed from c */, b int);"),
        ("  CREATE TABLE t1 (a int); CREATE TABLE t2 (b int);", ("table", "public", "t2"),
         "t3", "  CREATE TABLE t1 (a int);\n  -- trimtab: renamed from t3\n"
               "  CREATE TABLE t2 (b int);"),
        ("CREATE TABLE t (a int);\nCREATE INDEX ON t (a);", ("index", "public", "t_a_idx"),
         "old_idx", "CREATE TABLE t (a int);\n-- trimtab: renamed from old_idx\n"
                    "CREATE INDEX ON t (a);"),
        ("CREATE TABLE t (a int);\nALTER TABLE t ADD COLUMN b int;", col("t", "b"), "c",
         "CREATE TABLE t (a int);\nALTER TABLE t ADD COLUMN b int "
         "/* trimtab: renamed from c */;"),
        ("CREATE TYPE e AS ENUM ('a', 'b');", ("type", "public", "e"), "Feeling",
         '-- trimtab: renamed from "Feeling"\nCREATE TYPE e AS ENUM (\'a\', \'b\');'),
        ("CREATE TYPE e AS ENUM ('a', 'b');", ("enum_value", "public", "e", "a"), "it's",
         "CREATE TYPE e AS ENUM ('a' /* trimtab: renamed from 'it''s' */, 'b');"),
        ("CREATE TYPE e AS ENUM (\n  'a',\n  'b'\n);", ("enum_value", "public", "e", "b"),
         "Big", "CREATE TYPE e AS ENUM (\n  'a',\n  -- trimtab: renamed from 'Big'\n  'b'\n);"),
        # names that do not fit in one kind of comment take the other
        ("CREATE TYPE e AS ENUM ('a', 'b');", ("enum_value", "public", "e", "a"), "x\ny",
         "CREATE TYPE e AS ENUM ('a' /* trimtab: renamed from 'x\ny' */, 'b');"),
        ("CREATE TYPE e AS ENUM ('a', 'b');", ("enum_value", "public", "e", "b"), "x*/",
         "CREATE TYPE e AS ENUM ('a',\n-- trimtab: renamed from 'x*/'\n'b');"),
        ("CREATE TYPE e AS ENUM ('a', 'b')", ("enum_value", "public", "e", "a"), "back\\slash",
         "CREATE TYPE e AS ENUM ('a' /* trimtab: renamed from E'back\\\\slash' */, 'b')"),
    ],
)
def test_hint_edit_round_trips(sql: str, target: tuple[str, ...], old: str,
                               expected: str) -> None:
    assert round_trip(sql, target, old) == expected


def test_hint_edit_round_trips_in_the_example_file() -> None:
    plain = EXAMPLE
    for target in [("table", "public", "clients"), col("clients", "id"), col("clients", "age"),
                   ("enum_value", "public", "mood", "happy"), ("type", "public", "colour"),
                   ("enum_value", "public", "colour", "red")]:
        edited = hint_edit(plain, FILE, split_statements(plain, FILE), target, "zz")
        hints, issues = find_hints({FILE: edited}, split_statements(edited, FILE))
        assert issues == []
        # the hints already there, with the new one (or the table's renamed)
        assert {h.target: h.old for h in hints} == found(plain) | {target: "zz"}


def test_hint_edit_renames_an_existing_hint() -> None:
    statements = split_statements(EXAMPLE, FILE)
    edited = hint_edit(EXAMPLE, FILE, statements, ("table", "public", "clients"), "x")
    assert edited == EXAMPLE.replace("renamed from customers", "renamed from x")
    edited = hint_edit(EXAMPLE, FILE, statements, col("clients", "email"), "Mail Address")
    assert edited == EXAMPLE.replace("renamed from mail", 'renamed from "Mail Address"')
    edited = hint_edit(EXAMPLE, FILE, statements, ("enum_value", "public", "mood", "glad"),
                       "Sad")
    assert edited == EXAMPLE.replace("renamed from 'sad'", "renamed from 'Sad'")


def test_hint_edit_keeps_crlf_line_endings() -> None:
    sql = "CREATE TABLE t (\r\n  a int,\r\n  b int\r\n);\r\nCREATE TABLE u (c int); " \
          "CREATE TABLE v (d int);\r\n"
    edited = round_trip(sql, col("t", "b"), "old_b")
    assert edited == sql.replace("  b int", "  -- trimtab: renamed from old_b\r\n  b int")
    edited = round_trip(sql, ("table", "public", "v"), "old_v")
    assert edited == sql.replace(" CREATE TABLE v",
                                 "\r\n-- trimtab: renamed from old_v\r\nCREATE TABLE v")
    assert "\n" not in edited.replace("\r\n", "")


def test_hint_edit_needs_a_declared_target() -> None:
    sql = "CREATE TABLE t (a int PRIMARY KEY);\nCREATE VIEW v AS SELECT 1;"
    statements = split_statements(sql, FILE)
    for target in [("table", "public", "nope"), col("t", "b"), ("view", "public", "v"),
                   ("constraint", "public", "t", "t_pkey")]:  # a name PostgreSQL chose
        with pytest.raises(KeyError):
            hint_edit(sql, FILE, statements, target, "x")
    with pytest.raises(ValueError):  # a name that fits in no comment
        hint_edit(sql, FILE, statements, ("table", "public", "t"), "a\n*/")
    # declared, but in another file
    with pytest.raises(KeyError):
        hint_edit(sql, "other.sql", statements, ("table", "public", "t"), "x")
