"""Outline, go-to-definition and object-at-cursor (trimtab.lsp.symbols): pure, no database."""

from __future__ import annotations

import time

import pytest

from trimtab.lsp import symbols
from trimtab.lsp.symbols import Symbol, definition, document_symbols, object_at
from trimtab.sources import sqlfile
from trimtab.sources.sqlfile import Span, object_spans, split_statements


@pytest.fixture(autouse=True)
def strict(monkeypatch: pytest.MonkeyPatch) -> None:
    """An internal error raises here instead of giving an empty answer."""
    monkeypatch.setattr(sqlfile._base, "STRICT", True)
    for cached in (sqlfile._heads.statement_head, sqlfile.lex, sqlfile._build._analyze):
        cached.cache_clear()
    symbols._last[0] = None


SCHEMA = """\
-- The shop: users and their orders.
CREATE SCHEMA app;

CREATE TYPE mood AS ENUM ('happy', 'sad');

CREATE TABLE users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL UNIQUE,
    feeling mood,
    CONSTRAINT email_has_at CHECK (email LIKE '%@%')
);

CREATE TABLE app."Orders" (
    "Id" bigserial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id),
    total numeric(10, 2) CHECK (total >= 0)
);

CREATE INDEX orders_user_idx ON app."Orders" (user_id);

CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RETURN NEW;  -- REFERENCES users (id) in a body is not a reference
END
$$;

CREATE TRIGGER users_touch BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION touch();

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON users USING (email = current_user);

CREATE VIEW active_users AS SELECT id, email FROM users;
"""

FILE = "schema.sql"


def statements(sql: str = SCHEMA, file: str = FILE) -> list[sqlfile.Statement]:
    return split_statements(sql, file)


def pos(sql: str, context: str, word: str | None = None, k: int = 1) -> int:
    """Offset of ``word`` (its k-th character) within the first ``context`` of ``sql``."""
    at = sql.index(context)
    return at + (context.index(word) if word is not None else 0) + k


def text(sql: str, span: Span | None) -> str | None:
    return None if span is None else sql[span.start_offset:span.end_offset]


def line_col(sql: str, offset: int) -> tuple[int, int]:
    return sql.count("\n", 0, offset) + 1, offset - (sql.rfind("\n", 0, offset) + 1) + 1


def check_span(sql: str, span: Span) -> None:
    """Lines and columns agree with the offsets (1-based, end inclusive)."""
    assert (span.line, span.column) == line_col(sql, span.start_offset)
    assert (span.end_line, span.end_column) == line_col(
        sql, max(span.start_offset, span.end_offset - 1))


def walk(syms: list[Symbol] | tuple[Symbol, ...]):
    for s in syms:
        yield s
        yield from walk(s.children)


# --------------------------------------------------------------------------------------
# Outline


def test_outline_of_a_realistic_schema() -> None:
    outline = document_symbols(statements())
    assert [(s.kind, s.name) for s in outline] == [
        ("schema", "app"),
        ("enum", "mood"),
        ("table", "users"),
        ("table", "app.Orders"),
        ("function", "touch"),
        ("view", "active_users"),
    ]
    users = outline[2]
    # the trigger and the policy are separate statements, still listed under their table
    assert [(c.kind, c.name) for c in users.children] == [
        ("column", "id"),
        ("constraint", "users_pkey"),
        ("column", "email"),
        ("constraint", "users_email_key"),
        ("column", "feeling"),
        ("constraint", "email_has_at"),
        ("trigger", "users_touch"),
        ("policy", "own_rows"),
    ]
    orders = outline[3]
    assert [(c.kind, c.name) for c in orders.children] == [
        ("column", "Id"),
        ("constraint", "Orders_pkey"),
        ("column", "user_id"),
        ("constraint", "Orders_user_id_fkey"),
        ("column", "total"),
        ("constraint", "Orders_total_check"),
        ("index", "orders_user_idx"),
    ]
    assert all(not c.children for c in (*users.children, *orders.children))


def test_outline_is_in_file_order_whatever_the_order_of_statements() -> None:
    sts = statements()
    expected = [(s.kind, s.name, s.span) for s in document_symbols(sts)]
    assert [(s.kind, s.name, s.span) for s in document_symbols(sts[::-1])] == expected


def test_outline_spans_details_and_selections() -> None:
    outline = document_symbols(statements())
    by_name = {(s.kind, s.name): s for s in walk(outline)}
    users = by_name[("table", "users")]
    assert (users.span.line, users.span.end_line) == (6, 11)
    assert users.detail == "3 columns"
    assert by_name[("enum", "mood")].detail == "'happy', 'sad'"
    assert by_name[("column", "id")].detail == "bigint PRIMARY KEY"
    assert by_name[("column", "email")].detail == "text NOT NULL"
    assert by_name[("column", "feeling")].detail == "public.mood"
    assert by_name[("constraint", "email_has_at")].span.line == 10
    assert by_name[("index", "orders_user_idx")].span.line == 19
    assert by_name[("trigger", "users_touch")].span.line == 27
    assert by_name[("view", "active_users")].detail == "view"
    # the selection is the name as written (quotes and schema included)
    selected = {(s.kind, s.name): text(SCHEMA, s.selection) for s in walk(outline)}
    assert selected[("table", "app.Orders")] == 'app."Orders"'
    assert selected[("column", "Id")] == '"Id"'
    assert selected[("constraint", "email_has_at")] == "email_has_at"
    assert selected[("constraint", "users_pkey")] == "PRIMARY KEY"  # unnamed: its words
    assert selected[("index", "orders_user_idx")] == "orders_user_idx"
    assert selected[("function", "touch")] == "touch"
    assert selected[("policy", "own_rows")] == "own_rows"
    for s in walk(outline):
        check_span(SCHEMA, s.span)
        check_span(SCHEMA, s.selection)
        assert s.span.start_offset <= s.selection.start_offset
        assert s.selection.end_offset <= s.span.end_offset


def test_outline_of_other_kinds_and_unnamed_index() -> None:
    sql = ("CREATE DOMAIN posint AS integer CHECK (VALUE > 0);\n"
           "CREATE TYPE app.pair AS (a int, b text);\n"
           "CREATE SEQUENCE counter;\n"
           "CREATE TABLE t (id serial, n posint);\n"  # serial: its sequence is not listed
           "CREATE UNIQUE INDEX ON t (lower(n::text));\n"
           "CREATE MATERIALIZED VIEW mv AS SELECT 1;\n")
    outline = document_symbols(statements(sql))
    assert [(s.kind, s.name, s.detail) for s in outline] == [
        ("type", "posint", "domain integer"),
        ("type", "app.pair", "(a integer, b text)"),
        ("sequence", "counter", "bigint"),
        ("table", "t", "2 columns"),
        ("materialized_view", "mv", "materialized view"),
    ]
    index = outline[3].children[-1]
    assert (index.kind, index.name, index.detail) == ("index", "t_lower_idx", "unique")
    assert text(sql, index.selection) == "CREATE UNIQUE INDEX"


def test_outline_of_one_file_among_several() -> None:
    a = "CREATE TABLE users (id int PRIMARY KEY);\n"
    b = "CREATE INDEX users_id_idx ON users (id);\nCREATE TABLE notes (id int);\n"
    sts = statements(a, "a.sql") + statements(b, "b.sql")
    outline = document_symbols(sts, "b.sql")
    # the index's table is in another file: the index is listed at the top level
    assert [(s.kind, s.name, s.detail) for s in outline] == [
        ("index", "users_id_idx", ""), ("table", "notes", "1 column")]
    assert {s.span.file for s in walk(outline)} == {"b.sql"}
    assert [s.name for s in document_symbols(sts, "a.sql")] == ["users"]


def test_outline_of_a_large_schema_is_fast() -> None:
    """1,000 tables of 8 columns with foreign keys; the time is printed, not asserted."""
    parts = []
    for i in range(1000):
        fk = f" REFERENCES t{i - 1} (id)" if i else ""
        parts.append(
            f"CREATE TABLE t{i} (\n    id bigserial PRIMARY KEY,\n    name text NOT NULL,\n"
            f"    email text UNIQUE,\n    n integer DEFAULT 0,\n"
            f"    created timestamptz NOT NULL DEFAULT now(),\n    note text,\n"
            f"    flag boolean,\n    parent_id bigint{fk}\n);\n")
    sts = statements("".join(parts), "big.sql")
    object_spans(sts)  # sqlfile's model and spans, computed once
    start = time.perf_counter()
    outline = document_symbols(sts)
    first = time.perf_counter() - start
    again = []
    for _ in range(5):
        start = time.perf_counter()
        document_symbols(sts)
        again.append(time.perf_counter() - start)
    print(f"\noutline of 1,000 tables: {first * 1000:.0f} ms the first time (object_spans "
          f"included), then {sorted(again)[2] * 1000:.0f} ms (median of 5)")
    assert len(outline) == 1000
    last = outline[-1]
    assert [c.kind for c in last.children].count("column") == 8
    assert [c.name for c in last.children if c.kind == "constraint"] == [
        "t999_pkey", "t999_email_key", "t999_parent_id_fkey"]


# --------------------------------------------------------------------------------------
# Go to definition


def test_definition_from_an_inline_references() -> None:
    sts = statements()
    target = definition(sts, FILE, pos(SCHEMA, "REFERENCES users (id)", "users"))
    assert target is not None and target.file == FILE
    assert text(SCHEMA, target).startswith("CREATE TABLE users (")
    assert (target.line, target.end_line) == (6, 11)
    # the referenced column, inside the parentheses
    column = definition(sts, FILE, pos(SCHEMA, "REFERENCES users (id)", "id"))
    assert text(SCHEMA, column) == "id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY"


def test_definition_with_the_cursor_just_after_the_name() -> None:
    sts = statements()
    end = pos(SCHEMA, "REFERENCES users (id)", " (id)", 0)
    assert text(SCHEMA, definition(sts, FILE, end)).startswith("CREATE TABLE users")


REFS = """\
CREATE TABLE "Accounts" ("Id" int PRIMARY KEY, code text UNIQUE);
CREATE TABLE app.items (id int PRIMARY KEY);
CREATE TABLE lines (
    account int,
    item int,
    FOREIGN KEY (account) REFERENCES "Accounts" ("Id"),
    FOREIGN KEY (item) REFERENCES APP.Items
);
ALTER TABLE lines ADD CONSTRAINT lines_code_fk FOREIGN KEY (account)
    REFERENCES public."Accounts"(code);
CREATE TABLE wrong (a int REFERENCES accounts, b int REFERENCES app."Items");
"""


@pytest.mark.parametrize(("context", "word", "expected"), [
    # table-level FOREIGN KEY, quoted names keep their case
    ('REFERENCES "Accounts" ("Id")', '"Accounts"', 'CREATE TABLE "Accounts"'),
    ('REFERENCES "Accounts" ("Id")', '"Id"', '"Id" int PRIMARY KEY'),
    # unquoted names fold to lower case, qualified ones find their schema
    ("REFERENCES APP.Items", "Items", "CREATE TABLE app.items"),
    # ALTER TABLE ADD CONSTRAINT, qualified with public, no space before "("
    ('REFERENCES public."Accounts"(code)', '"Accounts"', 'CREATE TABLE "Accounts"'),
    ('REFERENCES public."Accounts"(code)', "code", "code text UNIQUE"),
    # the foreign key's own column
    ("FOREIGN KEY (item)", "item", "item int"),
    # accounts is not "Accounts", "Items" is not items: nowhere to go
    ("REFERENCES accounts", "accounts", None),
    ('REFERENCES app."Items"', '"Items"', None),
    # keywords are not names
    ('REFERENCES "Accounts" ("Id")', "REFERENCES", None),
])
def test_definition_from_foreign_keys(context: str, word: str, expected: str | None) -> None:
    found = text(REFS, definition(statements(REFS), FILE, pos(REFS, context, word)))
    if expected is None:
        assert found is None
    else:
        assert found is not None and found.startswith(expected), found


@pytest.mark.parametrize(("context", "word", "expected"), [
    ("feeling mood", "mood", "CREATE TYPE mood AS ENUM"),
    ('ON app."Orders" (user_id)', '"Orders"', 'CREATE TABLE app."Orders"'),
    ('ON app."Orders" (user_id)', "user_id", "user_id bigint NOT NULL"),
    ('ON app."Orders" (user_id)', "app", "CREATE SCHEMA app"),
    ("BEFORE UPDATE ON users", "users", "CREATE TABLE users"),
    ("EXECUTE FUNCTION touch()", "touch", "CREATE FUNCTION touch()"),
    ("ALTER TABLE users ENABLE", "users", "CREATE TABLE users"),
    ("CREATE POLICY own_rows ON users", "users", "CREATE TABLE users"),
    ("USING (email = current_user)", "email", "email text NOT NULL UNIQUE"),
    ("FROM users;", "users", "CREATE TABLE users"),
    ("CHECK (total >= 0)", "total", "total numeric(10, 2)"),
])
def test_definition_of_types_tables_and_columns(context: str, word: str, expected: str) -> None:
    found = text(SCHEMA, definition(statements(), FILE, pos(SCHEMA, context, word)))
    assert found is not None and found.startswith(expected), found


def test_definition_from_comment_on() -> None:
    sql = SCHEMA + ("COMMENT ON TABLE users IS 'people';\n"
                    "COMMENT ON COLUMN app.\"Orders\".total IS 'in euros';\n"
                    "COMMENT ON TYPE mood IS 'how they feel';\n")
    sts = statements(sql)

    def at(context: str, word: str) -> str | None:
        return text(sql, definition(sts, FILE, pos(sql, context, word)))

    assert at("COMMENT ON TABLE users", "users").startswith("CREATE TABLE users")
    assert at('"Orders".total IS', "total").startswith("total numeric")
    assert at('app."Orders".total IS', '"Orders"').startswith('CREATE TABLE app."Orders"')
    assert at("COMMENT ON TYPE mood", "mood").startswith("CREATE TYPE mood")
    assert at("IS 'people'", "people") is None  # inside the string


def test_definition_across_files() -> None:
    a = "CREATE TABLE users (id int PRIMARY KEY);\n"
    b = "CREATE TABLE notes (user_id int REFERENCES users);\n"
    sts = statements(a, "a.sql") + statements(b, "b.sql")
    target = definition(sts, "b.sql", pos(b, "REFERENCES users", "users"))
    assert target is not None and target.file == "a.sql" and target.line == 1


def test_no_definition_inside_strings_comments_and_bodies() -> None:
    sql = SCHEMA + ("CREATE TABLE notes (\n"
                    "    body text DEFAULT 'REFERENCES users (id)',  -- REFERENCES users (id)\n"
                    "    /* REFERENCES users */ kind mood\n"
                    ");\n")
    sts = statements(sql)
    body = sql.index("RETURN NEW;  -- REFERENCES users")
    cases = [
        pos(sql, "'REFERENCES users (id)'", "users"),  # a string literal
        pos(sql, "-- REFERENCES users (id)\n    /*", "users"),  # a line comment
        pos(sql, "/* REFERENCES users */", "users"),  # a block comment
        pos(sql[body:], "REFERENCES users", "users") + body,  # a dollar-quoted body
    ]
    for offset in cases:
        assert sql[offset - 1:offset + 4] == "users"
        assert definition(sts, FILE, offset) is None
    # while the same statement's real type name still resolves
    assert text(sql, definition(sts, FILE, pos(sql, "*/ kind mood", "mood"))).startswith(
        "CREATE TYPE mood")


def test_no_definition_on_a_declaration_itself_or_outside_statements() -> None:
    sts = statements()
    assert definition(sts, FILE, pos(SCHEMA, "CREATE TABLE users", "users")) is None
    assert definition(sts, FILE, pos(SCHEMA, "CREATE TYPE mood", "mood")) is None
    assert definition(sts, FILE, pos(SCHEMA, "CREATE FUNCTION touch", "touch")) is None
    assert definition(sts, FILE, pos(SCHEMA, "-- The shop", "shop")) is None
    assert definition(sts, FILE, len(SCHEMA) + 10) is None
    assert definition(sts, "other.sql", pos(SCHEMA, "REFERENCES users", "users")) is None


def test_every_offset_of_a_file_is_safe() -> None:
    sql = "\n".join(SCHEMA.splitlines()[:30]) + "\n"
    assert sql.count("\n") == 30
    sts = statements(sql)
    found = 0
    for offset in range(-2, len(sql) + 3):
        span = definition(sts, FILE, offset)
        key = object_at(sts, FILE, offset)
        if span is not None:
            found += 1
            assert span.file == FILE and 0 <= span.start_offset < span.end_offset <= len(sql)
        assert key is None or isinstance(key, tuple)
    assert found > 20  # the loop did reach names that resolve


def test_broken_text_never_raises() -> None:
    sql = ('CREATE TABLE t (a int REFERENCES "unterminated (b\n'
           "CREATE TABLE u (x mood REFERENCES t (a;\n"
           "ALTER TABLE ADD CONSTRAINT FOREIGN KEY REFERENCES;\n"
           "COMMENT ON COLUMN IS 'x';\n"
           "CREATE INDEX ON;\n"
           "REFERENCES . . (\n"
           "$$ unterminated body REFERENCES t\n")
    sts = statements(sql)
    for offset in range(len(sql) + 1):
        definition(sts, FILE, offset)
        object_at(sts, FILE, offset)
    assert isinstance(document_symbols(sts), list)


# --------------------------------------------------------------------------------------
# The object under the cursor


@pytest.mark.parametrize(("context", "word", "key"), [
    ("email text NOT NULL", "email", ("column", "public", "users", "email")),
    ("feeling mood", "mood", ("column", "public", "users", "feeling")),
    ("CREATE TABLE users", "users", ("table", "public", "users")),
    ("CONSTRAINT email_has_at", "email_has_at",
     ("constraint", "public", "users", "email_has_at")),
    ("REFERENCES users (id)", "users", ("constraint", "app", "Orders", "Orders_user_id_fkey")),
    ("CREATE INDEX orders_user_idx", "INDEX", ("index", "app", "orders_user_idx")),
    ("CREATE TYPE mood", "mood", ("type", "public", "mood")),
    ("active_users AS SELECT", "SELECT", ("view", "public", "active_users")),
    ("BEFORE UPDATE ON users", "BEFORE", ("trigger", "public", "users", "users_touch")),
])
def test_object_at(context: str, word: str, key: tuple[str, ...]) -> None:
    assert object_at(statements(), FILE, pos(SCHEMA, context, word)) == key


def test_object_at_nothing() -> None:
    sts = statements()
    assert object_at(sts, FILE, pos(SCHEMA, "-- The shop", "shop")) is None  # a comment
    assert object_at(sts, FILE, SCHEMA.index(";\n\nCREATE TYPE")) is None  # the ';'
    assert object_at(sts, FILE, pos(SCHEMA, "ALTER TABLE users ENABLE", "ENABLE")) is None
    assert object_at(sts, "other.sql", pos(SCHEMA, "email text", "email")) is None
