"""The schema file reader: splitting, spans, locate, the fast structural model. No database."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from trimtab.errors import SchemaError
from trimtab.model import Identity, Table
from trimtab.sources import sqlfile
from trimtab.sources.sqlfile import (
    META_COMMAND,
    locate,
    object_spans,
    read_schema,
    split_statements,
    structural_model,
)

FIXTURES = Path(__file__).parent.parent / "fixtures"


@pytest.fixture(autouse=True)
def strict(monkeypatch: pytest.MonkeyPatch) -> None:
    """An internal error of the reader raises here instead of skipping the statement."""
    monkeypatch.setattr(sqlfile._base, "STRICT", True)
    for cached in (sqlfile._heads.statement_head, sqlfile.lex, sqlfile._build._analyze):
        cached.cache_clear()  # results cached by a non-strict run could hide an error


def texts(sql: str) -> list[str]:
    return [s.text for s in split_statements(sql)]


def model_of(sql: str):
    return structural_model(split_statements(sql, "schema.sql"))


def table(sql: str, name: str = "t", schema: str = "public") -> Table:
    model, _ = model_of(sql)
    t = model.table(schema, name)
    assert t is not None, sorted(model.tables)
    return t


# --------------------------------------------------------------------------------------
# Splitting


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        # dollar quotes, with and without a tag; a $$ inside a tagged body
        ("select $$a;b$$; select $tag$ x $$ ; $tag$; select 3",
         ["select $$a;b$$", "select $tag$ x $$ ; $tag$", "select 3"]),
        # $ inside identifiers and positional parameters are not dollar quotes
        ("select x$$y from t; select $1; select 2", ["select x$$y from t", "select $1",
                                                     "select 2"]),
        # nested block comments (trailing comments are not part of the text)
        ("select 1 /* a /* b ; */ c; */ ; select 2", ["select 1", "select 2"]),
        ("select /* a /* b ; */ c; */ 1; select 2", ["select /* a /* b ; */ c; */ 1",
                                                   "select 2"]),
        # quoted strings with '' escapes
        ("select 'it''s; fine'; select 2", ["select 'it''s; fine'", "select 2"]),
        # E'' strings: a backslash escapes the quote; a plain string does not
        ("select E'a\\';b'; select 'a\\'; select 5", ["select E'a\\';b'", "select 'a\\'",
                                                      "select 5"]),
        ("select e'\\\\'; select 2", ["select e'\\\\'", "select 2"]),
        # quoted identifiers with semicolons and doubled quotes
        ('create table "a;b" ("c;""d" int); select 6', ['create table "a;b" ("c;""d" int)',
                                                       "select 6"]),
        # line comments
        ("select 1 -- no; split\n; select 2", ["select 1", "select 2"]),
        ("select -- no; split\n1; select 2", ["select -- no; split\n1", "select 2"]),
        # SQL-standard bodies (BEGIN ATOMIC ... END), with CASE ... END inside
        ("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC select 1; "
         "select case when true then 1 else 2 end; END; select 3",
         ["CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC select 1; "
          "select case when true then 1 else 2 end; END", "select 3"]),
        ("create or replace procedure p() language sql\nbegin atomic\n insert into t "
         "values (1);\nend;\nselect 4",
         ["create or replace procedure p() language sql\nbegin atomic\n insert into t "
          "values (1);\nend", "select 4"]),
        # a function body in a plain string
        ("create function f() returns int as 'select 1; select 2' language sql; select 3",
         ["create function f() returns int as 'select 1; select 2' language sql",
          "select 3"]),
        # BEGIN outside a function is a transaction, not a body
        ("begin; select 1; end;", ["begin", "select 1", "end"]),
        # ';' inside parentheses (CREATE RULE with several actions) does not split
        ("create rule r as on insert to t do also (insert into a values (1); insert into b "
         "values (2)); select 9",
         ["create rule r as on insert to t do also (insert into a values (1); insert into "
          "b values (2))", "select 9"]),
        # empty statements, blank and comment-only chunks are not statements
        ("select 1;;; ;\n\n  select 2  -- c\n  ;\n-- the end\n", ["select 1", "select 2"]),
        ("/* only a comment */ -- and another\n", []),
        ("", []),
    ],
)
def test_split(sql: str, expected: list[str]) -> None:
    assert texts(sql) == expected


def test_split_texts_are_exact_slices_without_semicolon() -> None:
    sql = "  CREATE TABLE t (a int) ;\n\nselect 'x' -- trailing\n;"
    sts = split_statements(sql)
    assert [s.text for s in sts] == ["CREATE TABLE t (a int)", "select 'x'"]
    for s in sts:
        assert sql[s.span.start_offset:s.span.end_offset] == s.text


def test_unbalanced_parenthesis_does_not_swallow_the_file() -> None:
    sql = "create table t (a int;\ncreate table u (b int);\nselect 10"
    sts = split_statements(sql)
    assert [s.text for s in sts] == ["create table t (a int", "create table u (b int)",
                                     "select 10"]
    model, issues = structural_model(sts)
    assert model.table("public", "u") is not None
    assert [(i.severity, i.message, i.span.line, i.span.column) for i in issues] == [
        ("error", "'(' is never closed", 1, 16)]


def test_unterminated_begin_atomic_is_split_at_its_first_semicolon() -> None:
    sql = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC select 1; select 2"
    assert texts(sql) == ["CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC select 1",
                          "select 2"]


@pytest.mark.parametrize(
    ("sql", "message", "column"),
    [
        ("select 1;\nselect 'oops; select 2", "unterminated quoted string", 8),
        ('select 1;\nselect "oops; select 2', "unterminated quoted identifier", 8),
        ("select 1;\nselect $x$ oops; select 2", "unterminated dollar-quoted string $x$", 8),
        ("select 1;\nselect 2 /* oops; select 3", "unterminated /* comment", 10),
        ("select 1;\n/* oops; select 3", "unterminated /* comment", 1),
        ("select 1;\nselect (1));", "')' without a matching opening one", 11),
    ],
)
def test_lexical_errors_are_errors_at_the_right_place(sql: str, message: str,
                                                      column: int) -> None:
    sts = split_statements(sql, "f.sql")
    assert len(sts) == 2  # the rest of the file is the broken statement
    _, issues = structural_model(sts)
    assert [(i.severity, i.message, i.span.file, i.span.line, i.span.column)
            for i in issues] == [("error", message, "f.sql", 2, column)]


def test_psql_meta_commands_are_errors() -> None:
    sql = "\\set x 1\nselect 1;\n  \\i other.sql\nselect 2"
    sts = split_statements(sql, "f.sql")
    assert [(s.kind, s.text) for s in sts] == [
        (META_COMMAND, "\\set x 1"), ("SELECT", "select 1"),
        (META_COMMAND, "\\i other.sql"), ("SELECT", "select 2")]
    _, issues = structural_model(sts)
    assert [(i.severity, i.span.line, i.span.column) for i in issues] == [
        ("error", 1, 1), ("error", 3, 3)]
    assert "\\i" in issues[1].message
    # a backslash inside a string is nothing special
    assert texts("select '\n\\x';") == ["select '\n\\x'"]


# --------------------------------------------------------------------------------------
# Spans and locate


SPANS_SQL = """-- leading comment; with a semicolon
/* and a block
   comment */

CREATE TABLE a (id int);  -- trailing comment

    -- indented comment
    CREATE INDEX a_id ON a (id);
CREATE VIEW v AS
  SELECT id
  FROM a;
"""


def test_spans_start_at_the_first_real_token() -> None:
    sts = split_statements(SPANS_SQL, "s.sql")
    got = [(s.kind, s.span.line, s.span.column, s.span.end_line, s.span.end_column)
           for s in sts]
    assert got == [
        ("CREATE TABLE", 5, 1, 5, 23),
        ("CREATE INDEX", 8, 5, 8, 31),
        ("CREATE VIEW", 9, 1, 11, 8),
    ]
    assert all(s.span.file == "s.sql" for s in sts)
    assert [s.object_key for s in sts] == [
        ("table", "public", "a"), ("index", "public", "a_id"), ("view", "public", "v")]


def test_spans_with_crlf_line_ends() -> None:
    sts = split_statements("select 1\r\nfrom t;\r\n\r\n  select 2", "w.sql")
    assert [(s.span.line, s.span.column, s.span.end_line, s.span.end_column) for s in sts] \
        == [(1, 1, 2, 6), (4, 3, 4, 10)]


def test_locate_an_error_position_in_the_third_statement() -> None:
    sql = "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n\nCREATE TABLE c (\n" \
          "  id int,\n  bad_col nosuchtype\n);\n"
    third = split_statements(sql, "s.sql")[2]
    # PostgreSQL: type "nosuchtype" does not exist, position = 1-based char in the statement
    position = third.text.index("nosuchtype") + 1
    span = locate(third, position)
    assert (span.file, span.line, span.column, span.end_line, span.end_column) == (
        "s.sql", 6, 11, 6, 20)
    assert sql[span.start_offset:span.end_offset] == "nosuchtype"
    assert locate(third, None) == third.span
    # out-of-range positions are clamped, never raise
    assert locate(third, 10_000).line == 7
    assert locate(third, 0).line == 4


def test_object_spans_of_columns_and_constraints() -> None:
    sql = ("CREATE TABLE t (\n"
           "  id int PRIMARY KEY,\n"
           "  email text NOT NULL CONSTRAINT email_uq UNIQUE,\n"
           "  CHECK (id > 0)\n"
           ");\n"
           "ALTER TABLE t ADD COLUMN note text;\n")
    sts = split_statements(sql, "s.sql")
    spans = object_spans(sts)

    def where(key: tuple[str, ...]) -> tuple[int, int, int, int]:
        s = spans[key]
        return s.line, s.column, s.end_line, s.end_column

    assert where(("table", "public", "t")) == (1, 1, 5, 1)
    assert where(("column", "public", "t", "id")) == (2, 3, 2, 20)
    assert where(("column", "public", "t", "email")) == (3, 3, 3, 48)
    assert where(("constraint", "public", "t", "email_uq")) == (3, 23, 3, 48)
    assert where(("constraint", "public", "t", "t_pkey")) == (2, 10, 2, 20)  # generated name
    assert where(("constraint", "public", "t", "t_id_check")) == (4, 3, 4, 16)
    assert where(("column", "public", "t", "note")) == (6, 26, 6, 34)


# --------------------------------------------------------------------------------------
# Reading files


def test_read_schema_folder_in_file_name_order(tmp_path: Path) -> None:
    (tmp_path / "20_tables.sql").write_text("CREATE TABLE b (id int);\n")
    (tmp_path / "10_types.sql").write_text("\ufeffCREATE TYPE mood AS ENUM ('a');\n")
    (tmp_path / "README.md").write_text("not sql; not read")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "00_nested.sql").write_text("CREATE TABLE nested (id int);")  # not recursive
    sts = read_schema(tmp_path)
    assert [(Path(s.span.file).name, s.object_key) for s in sts] == [
        ("10_types.sql", ("type", "public", "mood")),
        ("20_tables.sql", ("table", "public", "b")),
    ]
    assert sts[0].span.column == 1  # the byte-order mark is not a column


def test_read_schema_file(tmp_path: Path) -> None:
    f = tmp_path / "schema.sql"
    f.write_text("CREATE SCHEMA app;\nCREATE TABLE app.t (id int);\n")
    sts = read_schema(f)
    assert [s.object_key for s in sts] == [("schema", "app"), ("table", "app", "t")]
    assert sts[1].span.file == str(f) and sts[1].span.line == 2


def test_read_schema_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.sql"
    with pytest.raises(SchemaError) as e:
        read_schema(missing)
    assert e.value.file == str(missing)
    assert str(missing) in str(e.value)


def test_read_schema_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="no .sql files"):
        read_schema(tmp_path)


def test_read_schema_invalid_utf8(tmp_path: Path) -> None:
    f = tmp_path / "bad.sql"
    f.write_bytes(b"select '\xff';")
    with pytest.raises(SchemaError, match="UTF-8"):
        read_schema(f)


# --------------------------------------------------------------------------------------
# Statement kinds and declared objects


@pytest.mark.parametrize(
    ("sql", "kind", "key"),
    [
        ("CREATE TABLE public.t (a int)", "CREATE TABLE", ("table", "public", "t")),
        ('create table "My T"(a int)', "CREATE TABLE", ("table", "public", "My T")),
        ("create unlogged table IF NOT EXISTS App.T (a int)", "CREATE TABLE",
         ("table", "app", "t")),
        ("CREATE TABLE /* c */ s.t (a int)", "CREATE TABLE", ("table", "s", "t")),
        ("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx ON ONLY s.t (a)", "CREATE INDEX",
         ("index", "s", "idx")),
        ("CREATE INDEX ON t (a)", "CREATE INDEX", None),
        ("CREATE TYPE s.mood AS ENUM ('a')", "CREATE TYPE", ("type", "s", "mood")),
        ("CREATE DOMAIN d AS int", "CREATE DOMAIN", ("type", "public", "d")),
        ("CREATE OR REPLACE VIEW v AS SELECT 1", "CREATE VIEW", ("view", "public", "v")),
        ("CREATE MATERIALIZED VIEW IF NOT EXISTS mv AS SELECT 1", "CREATE MATERIALIZED VIEW",
         ("view", "public", "mv")),
        ("CREATE SCHEMA IF NOT EXISTS app", "CREATE SCHEMA", ("schema", "app")),
        ("CREATE SCHEMA AUTHORIZATION bob", "CREATE SCHEMA", ("schema", "bob")),
        ('CREATE EXTENSION IF NOT EXISTS "uuid-ossp"', "CREATE EXTENSION",
         ("extension", "uuid-ossp")),
        ("CREATE SEQUENCE s.seq START 5", "CREATE SEQUENCE", ("sequence", "s", "seq")),
        # function keys carry the identity arguments the catalog shows
        ("CREATE OR REPLACE FUNCTION s.f(a int, b varchar(3) DEFAULT 'x') RETURNS int "
         "AS $$ select 1 $$ LANGUAGE sql", "CREATE FUNCTION",
         ("function", "s", "f", "a integer, b character varying")),
        ("CREATE FUNCTION f(double precision, OUT r text, VARIADIC xs int[]) RETURNS text "
         "LANGUAGE sql AS 'select 1'", "CREATE FUNCTION",
         ("function", "public", "f", "double precision, OUT r text, VARIADIC xs integer[]")),
        ("CREATE PROCEDURE p(a int) LANGUAGE sql AS $$ $$", "CREATE PROCEDURE",
         ("function", "public", "p", "IN a integer")),
        ("CREATE TRIGGER trg BEFORE INSERT ON s.t FOR EACH ROW EXECUTE FUNCTION f()",
         "CREATE TRIGGER", ("trigger", "s", "t", "trg")),
        ("CREATE POLICY p ON t USING (true)", "CREATE POLICY", ("policy", "public", "t", "p")),
        ("ALTER TABLE ONLY t ADD x int", "ALTER TABLE", None),
        ("ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO x", "ALTER DEFAULT PRIVILEGES",
         None),
        ("COMMENT ON TABLE t IS 'x'", "COMMENT", None),
        ("grant select on t to bob", "GRANT", None),
        ("(select 1)", "", None),
    ],
)
def test_kind_and_object_key(sql: str, kind: str, key: tuple[str, ...] | None) -> None:
    (st,) = split_statements(sql)
    assert (st.kind, st.object_key) == (kind, key)


def test_fast_and_slow_heads_agree() -> None:
    """The one-regex head reader and the token reader give the same answer."""
    samples = [
        "CREATE TABLE public.t (a int)", 'create table "My ""T"""(a int)',
        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx ON ONLY s.t (a)",
        "CREATE INDEX idx ON s . t USING gin (a)", "CREATE SCHEMA IF NOT EXISTS app",
        "CREATE FUNCTION  f ( a  int,\n b text ) RETURNS int", "CREATE DOMAIN d AS int",
        "create materialized view if not exists mv as select 1", "CREATE SEQUENCE s.seq",
        "CREATE TEMP TABLE x (a int)", "create table IF NOT EXISTS x.y(a int)",
        "ALTER TABLE t ADD x int", "DROP TABLE IF EXISTS t", "CREATE VIEW v AS select 1",
        "CREATE OR REPLACE PROCEDURE s.p(a int, out b text) LANGUAGE sql AS ''",
    ]
    for sql in samples:
        fast = sqlfile._heads._fast_head(sql)
        assert fast is not None, sql
        assert fast == sqlfile._heads._slow_head(sql), sql


# --------------------------------------------------------------------------------------
# Structural model

REALISTIC = """
CREATE SCHEMA app;
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'it''s great');
CREATE TABLE app.users (
    id bigserial PRIMARY KEY,
    email varchar(320) NOT NULL UNIQUE,
    "Display Name" text COLLATE "C",
    mood app.mood DEFAULT 'ok',
    score int4 CHECK (score BETWEEN 0 AND 100),
    ratio float8,
    active bool NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    tags text[]
);
CREATE TABLE app.posts (
    id integer GENERATED ALWAYS AS IDENTITY,
    author_id bigint NOT NULL REFERENCES app.users ON DELETE CASCADE,
    title character varying(200) NOT NULL,
    body text,
    price numeric(10, 2),
    published_on date,
    PRIMARY KEY (id),
    CONSTRAINT posts_title_body UNIQUE (title, body),
    CONSTRAINT price_positive CHECK (price > 0)
);
CREATE INDEX posts_author_idx ON app.posts (author_id);
CREATE UNIQUE INDEX posts_title_lower ON app.posts (lower(title)) WHERE body IS NOT NULL;
CREATE INDEX ON app.posts (published_on DESC);
ALTER TABLE app.posts ADD COLUMN editor_id bigint;
ALTER TABLE app.posts ADD CONSTRAINT posts_editor_fk FOREIGN KEY (editor_id)
    REFERENCES app.users (id) NOT VALID;
CREATE VIEW app.recent AS
  SELECT id, title FROM app.posts WHERE published_on > now() - '7 days'::interval;
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.created_at := now(); -- a comment; with a semicolon
  RETURN NEW;
END $$;
CREATE TRIGGER users_touch BEFORE UPDATE ON app.users FOR EACH ROW EXECUTE FUNCTION app.touch();
COMMENT ON TABLE app.users IS 'People';
COMMENT ON COLUMN app.users.email IS E'Where to\\nwrite';
"""


def test_structural_model_of_a_realistic_schema() -> None:
    model, issues = model_of(REALISTIC)
    assert issues == []
    assert set(model.schemas) == {("schema", "app")}
    assert model.types[("type", "app", "mood")].values == ("sad", "ok", "it's great")
    assert set(model.tables) == {("table", "app", "users"), ("table", "app", "posts")}
    # the serial column's sequence
    seq = model.sequences[("sequence", "app", "users_id_seq")]
    assert (seq.data_type, seq.owned_by) == ("bigint", ("app", "users", "id"))

    users = model.table("app", "users")
    assert users is not None
    assert [(c.name, c.type, c.not_null) for c in users.columns] == [
        ("id", "bigint", True),
        ("email", "character varying(320)", True),
        ("Display Name", "text", False),
        ("mood", "app.mood", False),
        ("score", "integer", False),
        ("ratio", "double precision", False),
        ("active", "boolean", True),
        ("created_at", "timestamp with time zone", True),
        ("tags", "text[]", False),
    ]
    assert users.column("id").default == "nextval('app.users_id_seq'::regclass)"
    assert users.column("mood").type_ref == ("app", "mood")
    assert users.column("mood").default == "'ok'"
    assert users.column("Display Name").collation == 'pg_catalog."C"'
    assert users.column("email").comment == "Where to\nwrite"
    assert users.comment == "People"
    assert sorted((c.name, c.kind, c.columns) for c in users.constraints) == [
        ("users_email_key", "u", ("email",)),
        ("users_pkey", "p", ("id",)),
        ("users_score_check", "c", ("score",)),
    ]
    assert [t.name for t in users.triggers] == ["users_touch"]

    posts = model.table("app", "posts")
    assert posts is not None
    assert [(c.name, c.type, c.not_null) for c in posts.columns] == [
        ("id", "integer", True),  # identity and primary key
        ("author_id", "bigint", True),
        ("title", "character varying(200)", True),
        ("body", "text", False),
        ("price", "numeric(10,2)", False),
        ("published_on", "date", False),
        ("editor_id", "bigint", False),
    ]
    assert posts.column("id").identity == Identity(always=True, max_value=2147483647)
    cons = {c.name: c for c in posts.constraints}
    assert {n: c.kind for n, c in cons.items()} == {
        "posts_pkey": "p", "posts_author_id_fkey": "f", "posts_title_body": "u",
        "price_positive": "c", "posts_editor_fk": "f"}
    fk = cons["posts_author_id_fkey"]
    assert (fk.columns, fk.ref_table, fk.ref_columns) == (("author_id",), ("app", "users"),
                                                          ("id",))
    assert "ON DELETE CASCADE" in fk.definition
    assert cons["posts_editor_fk"].validated is False
    assert cons["posts_title_body"].columns == ("title", "body")
    assert cons["price_positive"].definition == "CHECK (price > 0)"
    assert sorted((i.name, i.unique, i.columns) for i in posts.indexes) == [
        ("posts_author_idx", False, ("author_id",)),
        ("posts_published_on_idx", False, ("published_on",)),  # the name PostgreSQL picks
        ("posts_title_lower", True, ("",)),
    ]
    view = model.views[("view", "app", "recent")]
    assert view.definition.startswith("SELECT id, title FROM app.posts")
    (fn,) = model.functions.values()
    assert (fn.schema, fn.name, fn.kind, fn.identity_args) == ("app", "touch", "f", "")
    assert fn.definition.startswith("CREATE FUNCTION app.touch()")
    assert fn.definition.endswith("END $$")


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("int", "integer"), ("int4", "integer"), ("integer", "integer"),
        ("int8", "bigint"), ("bigserial", "bigint"), ("serial", "integer"),
        ("smallserial", "smallint"), ("int2", "smallint"),
        ("varchar(20)", "character varying(20)"), ("varchar", "character varying"),
        ("character varying(5)", "character varying(5)"), ("char", "character(1)"),
        ("char(3)", "character(3)"), ("bool", "boolean"),
        ("timestamptz", "timestamp with time zone"),
        ("timestamp", "timestamp without time zone"),
        ("timestamp(3) with time zone", "timestamp(3) with time zone"),
        ("timestamptz(6)", "timestamp(6) with time zone"),
        ("time", "time without time zone"), ("timetz", "time with time zone"),
        ("float8", "double precision"), ("float", "double precision"),
        ("float(10)", "real"), ("float4", "real"), ("real", "real"),
        ("decimal(5)", "numeric(5,0)"), ("numeric(12, 2)", "numeric(12,2)"),
        ("numeric", "numeric"), ("text[]", "text[]"), ("int[][]", "integer[]"),
        ("integer ARRAY", "integer[]"), ("varchar(10)[]", "character varying(10)[]"),
        ("bit varying(8)", "bit varying(8)"), ("varbit", "bit varying"), ("bit", "bit(1)"),
        ("interval day to second", "interval day to second"), ('"char"', '"char"'),
        ("pg_catalog.int4", "integer"), ("jsonb", "jsonb"), ("uuid", "uuid"),
        ("mood", "public.mood"), ('"Weird"."Type"', '"Weird"."Type"'),
        ("public.geometry(Point, 4326)", "public.geometry(Point,4326)"),
    ],
)
def test_column_types_are_canonical(written: str, canonical: str) -> None:
    t = table(f"CREATE TABLE t (c {written} NOT NULL)")
    assert (t.columns[0].type, t.columns[0].not_null) == (canonical, True)


def test_identifiers_fold_unless_quoted() -> None:
    model, _ = model_of('CREATE TABLE App.Users (ID int, "MixedCase" int);'
                        'CREATE TABLE "App"."Users" (id int);')
    assert set(model.tables) == {("table", "app", "users"), ("table", "App", "Users")}
    assert [c.name for c in model.table("app", "users").columns] == ["id", "MixedCase"]


def test_generated_constraint_names_follow_postgresql() -> None:
    t = table("""CREATE TABLE t (
        a int UNIQUE, b int, c int REFERENCES t (a),
        UNIQUE (a, b), UNIQUE (a, b), CHECK (a > 0), CHECK (a > b), CHECK (b > 0),
        PRIMARY KEY (a) )""")
    assert sorted((c.name, c.kind) for c in t.constraints) == [
        ("t_a_b_key", "u"),  # the duplicate UNIQUE (a, b) is merged, as PostgreSQL does
        ("t_a_check", "c"),
        ("t_b_check", "c"),
        ("t_c_fkey", "f"),
        ("t_check", "c"),
        ("t_pkey", "p"),  # UNIQUE (a) merges into the primary key on (a)
    ]


def test_long_names_are_truncated_like_postgresql() -> None:
    long_table = "a_table_with_a_really_quite_long_name_that_goes_on_and_on_forever"
    model, _ = model_of(f"CREATE TABLE {long_table} (an_also_rather_long_column_name_for_"
                        "the_identifier_limit serial PRIMARY KEY)")
    (t,) = model.tables.values()
    assert t.name == long_table[:63]
    assert [c.name for c in t.constraints] == [
        "a_table_with_a_really_quite_long_name_that_goes_on_and_on__pkey"]
    assert [s.name for s in model.sequences.values()] == [
        "a_table_with_a_really_quite_l_an_also_rather_long_column_na_seq"]


def test_alter_table_and_partitions() -> None:
    model, issues = model_of("""
        CREATE TABLE m (id int NOT NULL, at date NOT NULL, v text) PARTITION BY RANGE (at);
        CREATE TABLE m_2024 PARTITION OF m FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
        CREATE TABLE m_h PARTITION OF m DEFAULT;
        CREATE INDEX m_at_idx ON m (at);
        ALTER TABLE m ADD PRIMARY KEY (id, at);
        ALTER TABLE m ALTER COLUMN v SET DEFAULT 'x', ALTER COLUMN v SET NOT NULL;
        ALTER TABLE m ENABLE ROW LEVEL SECURITY;
        CREATE POLICY mine ON m FOR SELECT TO app_user USING (v = current_user);
    """)
    assert issues == []
    m = model.table("public", "m")
    assert m.partition_key == "RANGE (at)"
    assert [c.name for c in m.constraints] == ["m_pkey"]
    assert m.column("v").default == "'x'" and m.column("v").not_null
    assert m.rls_enabled
    assert [(p.name, p.command, p.roles, p.using) for p in m.policies] == [
        ("mine", "SELECT", ("app_user",), "v = current_user")]
    part = model.table("public", "m_2024")
    assert part.partition_of == ("public", "m")
    assert part.partition_bound == "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')"
    assert [c.name for c in part.columns] == ["id", "at", "v"]
    assert [(i.name, i.parent) for i in part.indexes] == [("m_2024_at_idx", ("public",
                                                                             "m_at_idx"))]
    assert model.table("public", "m_h").partition_bound == "DEFAULT"


def test_sequences_domains_extensions() -> None:
    model, _ = model_of("""
        CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA public;
        CREATE SEQUENCE s AS integer INCREMENT BY 5 MINVALUE 10 CACHE 10 CYCLE;
        CREATE SEQUENCE d INCREMENT BY -1;
        CREATE DOMAIN posint AS int NOT NULL CHECK (VALUE > 0);
        CREATE TABLE t (id int NOT NULL DEFAULT nextval('s'), e citext);
        ALTER SEQUENCE s OWNED BY t.id;
    """)
    assert ("extension", "citext") in model.extensions
    s = model.sequences[("sequence", "public", "s")]
    assert (s.data_type, s.start, s.increment, s.min_value, s.max_value, s.cache, s.cycle,
            s.owned_by) == ("integer", 10, 5, 10, 2147483647, 10, True, ("public", "t", "id"))
    d = model.sequences[("sequence", "public", "d")]
    assert (d.start, d.min_value, d.max_value) == (-1, -9223372036854775808, -1)
    dom = model.types[("type", "public", "posint")]
    assert (dom.base_type, dom.not_null, [c.name for c in dom.checks]) == (
        "integer", True, ["posint_check"])
    # an extension's type is not a type_ref (the catalog reader only names the schema's own)
    assert model.table("public", "t").column("e").type_ref is None


def test_statements_outside_the_model_are_ignored_silently() -> None:
    model, issues = model_of("""
        CREATE TABLE t (id int);
        INSERT INTO t VALUES (1);
        GRANT SELECT ON t TO PUBLIC;
        CREATE OPERATOR === (LEFTARG = int, RIGHTARG = int, FUNCTION = int4eq);
        SELECT some nonsense that sqlglot or anyone would reject;
    """)
    assert issues == [] and list(model.tables) == [("table", "public", "t")]


def test_duplicate_declarations_are_warnings() -> None:
    sts = split_statements("CREATE TABLE t (a int);\nCREATE TABLE T (b int);\n"
                           "CREATE TABLE IF NOT EXISTS t (c int);\n"
                           "CREATE OR REPLACE VIEW v AS SELECT 1;\n"
                           "CREATE OR REPLACE VIEW v AS SELECT 2;", "s.sql")
    model, issues = structural_model(sts)
    assert [(i.severity, i.span.line) for i in issues] == [("warning", 2)]
    assert "first declared at line 1" in issues[0].message
    assert [c.name for c in model.table("public", "t").columns] == ["a"]
    assert model.views[("view", "public", "v")].definition == "SELECT 2"


def test_reparsing_only_reads_changed_statements() -> None:
    sql = "".join(f"CREATE TABLE t{i} (id int PRIMARY KEY, v text);\n" for i in range(50))
    structural_model(split_statements(sql))
    before = sqlfile._build._analyze.cache_info()
    edited = sql.replace("CREATE TABLE t7 (", "CREATE TABLE t7 (extra int, ", 1)
    model, _ = structural_model(split_statements(edited))
    after = sqlfile._build._analyze.cache_info()
    assert after.misses - before.misses == 1
    assert model.table("public", "t7").columns[0].name == "extra"


# --------------------------------------------------------------------------------------
# Never raise; fast enough


def _corpus() -> list[str]:
    out = [REALISTIC, SPANS_SQL]
    out += [p.read_text() for p in sorted(FIXTURES.rglob("*.sql"))]
    return out


def test_truncations_and_mutations_never_raise() -> None:
    rnd = random.Random(20240601)
    corpus = _corpus()
    noise = list("'\"$();/*-\\\n eE[]{}.,=:") + ["$$", "$a$", "/*", "*/", "--", "E'", "::"]
    for _ in range(1500):
        base = rnd.choice(corpus)
        how = rnd.random()
        if how < 0.5:
            text = base[:rnd.randrange(len(base) + 1)]
        elif how < 0.75:
            a = rnd.randrange(len(base) + 1)
            text = base[:a] + base[rnd.randrange(a, len(base) + 1):]
        else:
            chars = list(base)
            for _ in range(rnd.randrange(1, 6)):
                chars.insert(rnd.randrange(len(chars) + 1), rnd.choice(noise))
            text = "".join(chars)
        sts = split_statements(text, "fuzz.sql")
        last = 0
        for st in sts:
            assert text[st.span.start_offset:st.span.end_offset] == st.text
            assert st.span.start_offset >= last and st.text == st.text.strip() and st.text
            last = st.span.end_offset
            locate(st, rnd.randrange(-1, len(st.text) + 3))
        model, issues = structural_model(sts)
        object_spans(sts)
        assert all(i.severity in ("error", "warning") for i in issues)


def _big_schema(tables: int = 1000) -> str:
    parts = ["CREATE TYPE mood AS ENUM ('sad', 'ok');\n"
             "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE);\n"]
    for i in range(tables):
        parts.append(f"""-- table {i}
CREATE TABLE public.t{i} (
    id bigserial PRIMARY KEY,
    name varchar(200) NOT NULL DEFAULT 'x;y',
    created_at timestamptz NOT NULL DEFAULT now(),
    owner_id bigint REFERENCES public.users(id) ON DELETE CASCADE,
    amount numeric(12,2) CHECK (amount >= 0),
    tags text[], status mood NOT NULL, note text, /* a comment; */ payload jsonb,
    a1 int, a2 int, a3 int, a4 int, a5 int, a6 int, a7 int, a8 int, a9 int, a10 int,
    CONSTRAINT t{i}_name_uq UNIQUE (name, owner_id)
);
CREATE INDEX t{i}_created_idx ON public.t{i} (created_at DESC);
COMMENT ON TABLE public.t{i} IS 'Table {i}';
CREATE FUNCTION f{i}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.note := 'a;b'; RETURN NEW; END $$;
""")
    return "".join(parts)


def test_a_thousand_tables_split_and_model() -> None:
    """What bench/ times (the split and a keystroke's re-read at 1,000 tables) gives the
    right model; the time itself is bench/'s to measure, never a test's."""
    text = _big_schema()
    sts = split_statements(text, "big.sql")
    model, issues = structural_model(sts)
    assert len(sts) == 4002 and len(model.tables) == 1001 and not issues
    edited = text.replace("CREATE TABLE public.t500 (", "CREATE TABLE public.t500 (zz int, ")
    model, _ = structural_model(split_statements(edited, "big.sql"))
    assert model.table("public", "t500").columns[0].name == "zz"
