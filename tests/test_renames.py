"""Renames: tables, columns, enum values and sequences keep their data.

Against the real database: with rows in the tables, the plan renames instead of dropping,
the rows are still there afterwards, and a second plan is empty. ``apply_renames`` is also
checked against the catalog itself: renaming in PostgreSQL and reading the database back
must give the model ``apply_renames`` predicted. Then the proposals and the hints, on
hand-built models.
"""

from __future__ import annotations

from dataclasses import replace

import psycopg
import pytest

from tests.conftest import SqlRunner
from trimtab.model import Column, EnumType, Model, Sequence, Table, make_model
from trimtab.plan import Kind, Plan, build_plan
from trimtab.plan.renames import (
    Rename,
    apply_renames,
    candidates,
    follow_sequences,
    move_schema,
    rename_changes,
    resolve_hints,
)
from trimtab.plan.render import render
from trimtab.sources.introspect import introspect
from trimtab.sources.shadow import desired_model
from trimtab.sources.sqlfile import split_statements

LOSSY = {Kind.DROP_TABLE, Kind.DROP_COLUMN, Kind.DROP_SEQUENCE, Kind.RECREATE_ENUM,
         Kind.CREATE_TABLE, Kind.ADD_COLUMN, Kind.CREATE_SEQUENCE}


def _current(db_url: str) -> Model:
    with psycopg.connect(db_url, autocommit=True) as conn:
        return introspect(conn)


def _desired(admin_url: str, schema: str) -> Model:
    return desired_model(split_statements(schema), admin_url)


def _apply(db_url: str, plan: Plan) -> None:
    with psycopg.connect(db_url) as conn:  # one transaction, as the engine runs a plan
        conn.execute("SET LOCAL check_function_bodies = off")
        for statement in plan.statements:
            conn.execute(statement.encode(), prepare=False)


def _kinds(plan: Plan) -> list[Kind]:
    return [s.change.kind for s in plan.steps]


def _push(db_url: str, desired: Model, renames: list[Rename]) -> Plan:
    """Plan with the renames, check nothing is dropped, apply, check a second plan is empty."""
    plan = build_plan(_current(db_url), desired, renames)
    assert not LOSSY & set(_kinds(plan)), plan.sql()
    _apply(db_url, plan)
    again = build_plan(_current(db_url), desired)
    assert not again, "second plan must be empty:\n" + again.sql()
    return plan


# -- against the database ------------------------------------------------------------------

USERS = """
CREATE TABLE {users} (id serial PRIMARY KEY, email text NOT NULL, name text);
CREATE INDEX {users}_email_idx ON {users} (email);
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN NEW.name := coalesce(NEW.name, 'anon'); RETURN NEW; END$$;
CREATE TRIGGER {users}_touch BEFORE INSERT ON {users} FOR EACH ROW EXECUTE FUNCTION touch();
CREATE VIEW user_emails AS SELECT id, email FROM {users} WHERE email <> 'users';
CREATE TABLE posts (id serial PRIMARY KEY, author int NOT NULL REFERENCES {users} (id),
                    title text);
COMMENT ON TABLE {users} IS 'who writes';
COMMENT ON COLUMN {users}.email IS 'login';
GRANT SELECT ON {users} TO PUBLIC;
"""


def test_rename_table(db_url: str, admin_url: str, sql: SqlRunner) -> None:
    sql(USERS.format(users="users"))
    sql("INSERT INTO users (email) VALUES ('a@x'), ('b@x'), ('c@x');"
        "INSERT INTO posts (author, title) VALUES (1, 'one'), (3, 'three')")
    desired = _desired(admin_url, USERS.format(users="people"))
    assert Kind.DROP_TABLE in _kinds(build_plan(_current(db_url), desired))  # without it

    plan = _push(db_url, desired, [Rename("table", "public", "users", "people")])

    assert plan.statements[:2] == ["ALTER TABLE public.users RENAME TO people",
                                   "ALTER SEQUENCE public.users_id_seq RENAME TO people_id_seq"]
    # Nothing else than what really changed: names derived from the table's, and the
    # trigger's own name (the view, the foreign key, the defaults, the comments and the
    # grants come out unchanged).
    assert _kinds(plan) == [Kind.RENAME_TABLE, Kind.RENAME_SEQUENCE, Kind.DROP_TRIGGER,
                            Kind.RENAME_CONSTRAINT, Kind.RENAME_INDEX, Kind.CREATE_TRIGGER]
    assert [s.change.describe() for s in plan.steps[:2]] == [
        "rename table public.users to people",
        "rename sequence public.users_id_seq to people_id_seq (owned by public.people.id)"]
    assert sql("SELECT id, email, name FROM people ORDER BY id") == [
        (1, "a@x", "anon"), (2, "b@x", "anon"), (3, "c@x", "anon")]
    assert sql("SELECT p.title, u.email FROM posts p JOIN people u ON u.id = p.author"
               " ORDER BY p.id") == [("one", "a@x"), ("three", "c@x")]
    assert sql("SELECT count(*) FROM user_emails") == [(3,)]
    # The counter survived with its table, and the trigger still fires.
    assert sql("INSERT INTO people (email) VALUES ('d@x') RETURNING id, name") == [(4, "anon")]


ACCOUNTS = """
CREATE TABLE accounts ({code} text PRIMARY KEY, {email} text UNIQUE CHECK ({email} LIKE '%@%'),
                       active boolean NOT NULL DEFAULT true);
CREATE INDEX accounts_live ON accounts ({email}) WHERE active AND {email} <> 'email';
CREATE TABLE orders (id int PRIMARY KEY, account text REFERENCES accounts ({code}));
ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON accounts USING ({email} = current_user OR NOT active);
CREATE VIEW account_mails AS SELECT {code}, {email} FROM accounts;
CREATE TABLE events (id int, {email} text, at date, PRIMARY KEY ({email}, at))
  PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE INDEX events_by_email ON events ({email}) WHERE {email} IS NOT NULL;
COMMENT ON COLUMN accounts.{email} IS 'login';
GRANT SELECT ({email}) ON accounts TO PUBLIC;
"""


def test_rename_column(db_url: str, admin_url: str, sql: SqlRunner) -> None:
    sql(ACCOUNTS.format(code="code", email="email"))
    sql("INSERT INTO accounts VALUES ('A1', 'a@x', true), ('B2', 'b@x', false);"
        "INSERT INTO orders VALUES (1, 'A1'), (2, 'B2');"
        "INSERT INTO events VALUES (1, 'a@x', '2024-05-01'), (2, 'b@x', '2025-05-01')")
    desired = _desired(admin_url, ACCOUNTS.format(code="account_code", email='"E-mail"'))
    assert Kind.DROP_COLUMN in _kinds(build_plan(_current(db_url), desired))

    plan = _push(db_url, desired, [
        Rename("column", "public", "code", "account_code", parent="accounts"),
        Rename("column", "public", "email", "E-mail", parent="accounts"),
        Rename("column", "public", "email", "E-mail", parent="events"),
    ])

    assert plan.statements[:3] == [
        "ALTER TABLE public.accounts RENAME COLUMN code TO account_code",
        'ALTER TABLE public.accounts RENAME COLUMN email TO "E-mail"',
        'ALTER TABLE public.events RENAME COLUMN email TO "E-mail"',
    ]
    # Constraints named after the column follow (diff.py renames them: same definition);
    # the view's columns are renamed, so it is made again (it holds no data).
    assert _kinds(plan)[3:] == [Kind.DROP_VIEW, Kind.RENAME_CONSTRAINT, Kind.RENAME_CONSTRAINT,
                                Kind.CREATE_VIEW]
    assert sql('SELECT account_code, "E-mail", active FROM accounts ORDER BY 1') == [
        ("A1", "a@x", True), ("B2", "b@x", False)]
    assert sql("SELECT o.id, a.account_code FROM orders o JOIN accounts a"
               " ON a.account_code = o.account ORDER BY 1") == [(1, "A1"), (2, "B2")]
    assert sql('SELECT "E-mail" FROM events_2024 UNION ALL SELECT "E-mail" FROM events_2025'
               ) == [("a@x",), ("b@x",)]
    assert sql('SELECT account_code, "E-mail" FROM account_mails ORDER BY 1') == [
        ("A1", "a@x"), ("B2", "b@x")]


MOODS = """
CREATE TYPE mood AS ENUM ({sad}, {ok}, 'happy');
CREATE TABLE diary (id int PRIMARY KEY, m mood NOT NULL DEFAULT {ok} CHECK (m <> {sad}),
                    note text);
CREATE INDEX diary_ok ON diary (id) WHERE m = {ok};
"""


def test_rename_enum_value(db_url: str, admin_url: str, sql: SqlRunner) -> None:
    sql(MOODS.format(sad="'sad'", ok="'ok'"))
    sql("INSERT INTO diary (id, m) VALUES (1, 'ok'), (2, 'happy'), (3, DEFAULT)")
    desired = _desired(admin_url, MOODS.format(sad="'blue'", ok="'fine'"))
    assert Kind.RECREATE_ENUM in _kinds(build_plan(_current(db_url), desired))

    plan = _push(db_url, desired, [Rename("enum_value", "public", "ok", "fine", parent="mood"),
                                   Rename("enum_value", "public", "sad", "blue", parent="mood")])

    assert plan.statements == ["ALTER TYPE public.mood RENAME VALUE 'ok' TO 'fine'",
                               "ALTER TYPE public.mood RENAME VALUE 'sad' TO 'blue'"]
    assert sql("SELECT id, m::text FROM diary ORDER BY id") == [
        (1, "fine"), (2, "happy"), (3, "fine")]
    assert sql("INSERT INTO diary (id) VALUES (4) RETURNING m::text") == [("fine",)]


AUTHORS = """
CREATE TABLE {t} (id serial PRIMARY KEY, {email} text UNIQUE, bio text DEFAULT '{email}');
CREATE TABLE books (id int PRIMARY KEY, author int REFERENCES {t});
"""


def test_rename_table_and_column_from_hints(db_url: str, admin_url: str, sql: SqlRunner) -> None:
    sql(AUTHORS.format(t="users", email="email"))
    sql("INSERT INTO users (email) VALUES ('a@x'), ('b@x'); INSERT INTO books VALUES (7, 2)")
    desired = _desired(admin_url, AUTHORS.format(t="writers", email="contact"))
    hints = [(("column", "public", "writers", "contact"), "email"),
             (("table", "public", "writers"), "users")]
    renames = resolve_hints(hints, _current(db_url), desired)
    assert renames == [Rename("table", "public", "users", "writers"),
                       Rename("column", "public", "email", "contact", parent="writers")]

    plan = _push(db_url, desired, renames)

    assert plan.statements[:3] == [
        "ALTER TABLE public.users RENAME TO writers",
        "ALTER SEQUENCE public.users_id_seq RENAME TO writers_id_seq",
        "ALTER TABLE public.writers RENAME COLUMN email TO contact",
    ]
    # The default is a string that happens to spell the old name: really changed.
    assert _kinds(plan)[3:] == [Kind.ALTER_COLUMN, Kind.RENAME_CONSTRAINT,
                                Kind.RENAME_CONSTRAINT]
    assert sql("SELECT id, contact, bio FROM writers ORDER BY id") == [
        (1, "a@x", "email"), (2, "b@x", "email")]
    assert sql("SELECT w.contact FROM books b JOIN writers w ON w.id = b.author") == [("b@x",)]
    # The hints stay in the schema file: once applied, they no longer apply.
    assert resolve_hints(hints, _current(db_url), desired) == []


TICKETS = "CREATE TABLE tickets ({id} serial PRIMARY KEY, title text NOT NULL);"


def test_rename_serial_column_keeps_its_counter(db_url: str, admin_url: str,
                                                sql: SqlRunner) -> None:
    sql(TICKETS.format(id="id"))
    sql("INSERT INTO tickets (title) VALUES ('a'), ('b'), ('c'); DELETE FROM tickets"
        " WHERE title = 'c'")
    desired = _desired(admin_url, TICKETS.format(id="ticket_id"))

    plan = _push(db_url, desired,
                 [Rename("column", "public", "id", "ticket_id", parent="tickets")])

    assert _kinds(plan) == [Kind.RENAME_SEQUENCE, Kind.RENAME_COLUMN]
    assert plan.statements[0] == (
        "ALTER SEQUENCE public.tickets_id_seq RENAME TO tickets_ticket_id_seq")
    assert sql("SELECT ticket_id, title FROM tickets ORDER BY 1") == [(1, "a"), (2, "b")]
    assert sql("INSERT INTO tickets (title) VALUES ('d') RETURNING ticket_id") == [(4,)]


# Everything a rename reaches into, in awkward spellings: quoted names, another schema,
# a column named like a type word, literals and function names that must stay, partitions
# of partitions, inheritance, a self-reference, SET NULL column lists, an SQL-standard body.
AWKWARD = """
CREATE SCHEMA "My App";
CREATE TYPE "My App"."Status" AS ENUM ('new', 'old''s', 'done', 'a b');
CREATE DOMAIN "My App".st AS "My App"."Status" DEFAULT 'new' CHECK (VALUE <> 'done');
CREATE FUNCTION "My App".zone(text) RETURNS text LANGUAGE sql IMMUTABLE RETURN $1;
CREATE TABLE "My App"."Order Items" (
  "Item Id" int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  parent int REFERENCES "My App"."Order Items" ON DELETE SET NULL,
  at timestamptz DEFAULT now(),
  zone text COLLATE "C",
  s "My App"."Status" DEFAULT 'old''s',
  rc regclass DEFAULT '"My App"."Order Items"'::regclass,
  up text GENERATED ALWAYS AS ("My App".zone(zone) || 'zone') STORED,
  CHECK (at::timestamp with time zone > '2000-01-01' AND zone <> 'zone' AND s <> 'done')
);
CREATE TABLE "My App".child (extra int) INHERITS ("My App"."Order Items");
CREATE TABLE "My App".other (a int, b int, zone text, PRIMARY KEY (a, b));
CREATE TABLE "My App".ref (x int, y int,
  FOREIGN KEY (x, y) REFERENCES "My App".other (a, b) ON DELETE SET NULL (y));
CREATE EXTENSION btree_gist;
ALTER TABLE "My App".other ADD EXCLUDE USING gist (zone WITH =, a WITH <>);
CREATE INDEX ON "My App"."Order Items" (zone) INCLUDE (at) WHERE zone IS NOT NULL;
CREATE INDEX zone ON "My App"."Order Items" USING hash (zone);
CREATE FUNCTION "My App".cnt() RETURNS bigint LANGUAGE sql
  BEGIN ATOMIC SELECT count(*) FROM "My App"."Order Items"; END;
CREATE VIEW "My App".v AS SELECT i.zone, "Order Items".s
  FROM "My App"."Order Items" i JOIN "My App"."Order Items" ON true WHERE i.s = 'new';
CREATE FUNCTION "My App".tf() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER zone AFTER UPDATE OF zone, at ON "My App"."Order Items" FOR EACH ROW
  WHEN (new.zone IS DISTINCT FROM old.zone AND new.s = 'new') EXECUTE FUNCTION "My App".tf('zone');
ALTER TABLE "My App"."Order Items" ENABLE ROW LEVEL SECURITY;
CREATE POLICY zone ON "My App"."Order Items" USING (zone <> 'zone' AND s <> 'new'
  AND NOT EXISTS (SELECT 1 FROM "My App".other o WHERE o.zone = 'x'));
CREATE TABLE "My App".p (k int, zone text) PARTITION BY LIST (zone);
CREATE TABLE "My App".p1 PARTITION OF "My App".p FOR VALUES IN ('a') PARTITION BY RANGE (k);
CREATE TABLE "My App".p11 PARTITION OF "My App".p1 FOR VALUES FROM (1) TO (5);
CREATE TABLE "My App".holder (o "My App"."Order Items", arr "My App"."Order Items"[]);
CREATE TABLE "My App".by_status (s "My App"."Status", n int,
  ss "My App"."Status"[] DEFAULT '{new,"a b",old''s}') PARTITION BY LIST (s);
CREATE TABLE "My App".by_status_new PARTITION OF "My App".by_status FOR VALUES IN ('new', 'done');
CREATE SEQUENCE "My App".counter;
CREATE TABLE "My App".numbered (n bigint DEFAULT nextval('"My App".counter'::regclass));
"""


def _predicted_and_real(db_url: str, sql: SqlRunner, renames: list[Rename]) -> tuple[Model, Model]:
    sql(AWKWARD)
    changes, predicted = rename_changes(_current(db_url), renames)
    sql(";".join(s for ch in changes for s in render(ch)))
    return predicted, _current(db_url)


def test_apply_renames_predicts_the_catalog_for_tables_values_sequences(
        db_url: str, sql: SqlRunner) -> None:
    predicted, real = _predicted_and_real(db_url, sql, [
        Rename("table", "My App", "Order Items", "Line Items"),
        Rename("table", "My App", "other", "Other"),
        Rename("enum_value", "My App", "old's", "older", parent="Status"),
        Rename("enum_value", "My App", "new", "fresh", parent="Status"),
        Rename("sequence", "My App", "counter", "Counter 2"),
    ])
    assert predicted.tables == real.tables
    assert predicted.views == real.views
    assert predicted.types == real.types
    assert predicted.sequences == real.sequences
    assert predicted.functions == real.functions


def test_apply_renames_predicts_the_catalog_for_columns(db_url: str, sql: SqlRunner) -> None:
    predicted, real = _predicted_and_real(db_url, sql, [
        Rename("column", "My App", "zone", "Zone Name", parent="Order Items"),
        Rename("column", "My App", "parent", "up2", parent="Order Items"),
        Rename("column", "My App", "at", "when", parent="Order Items"),
        Rename("column", "My App", "b", "bb", parent="other"),
        Rename("column", "My App", "a", "gist", parent="other"),
        Rename("column", "My App", "y", "yy", parent="ref"),
        Rename("column", "My App", "zone", "z", parent="p"),
        Rename("column", "My App", "k", "kk", parent="p"),
    ])
    assert predicted.tables == real.tables
    assert predicted.sequences == real.sequences
    # PostgreSQL keeps a view's column names by printing "i."Zone Name" AS zone": only
    # the definition is not predicted (the diff replaces the view, which holds no data).
    assert {k: replace(v, definition="") for k, v in predicted.views.items()} == {
        k: replace(v, definition="") for k, v in real.views.items()}


# -- proposals and hints, on hand-built models ---------------------------------------------


def _t(name: str, *columns: str, schema: str = "public") -> Table:
    """A table from "name type" column specs."""
    return Table(schema, name, columns=tuple(Column(*c.split(" ", 1)) for c in columns))


def test_candidates_pair_tables_by_best_score() -> None:
    current = make_model([_t("users", "id integer", "email text", "name text"),
                          _t("orders", "id integer", "total numeric"),
                          _t("logs", "id integer", "line text", "at date")])
    desired = make_model([_t("purchases", "id integer", "total numeric", "note text"),
                          _t("people", "id integer", "email text", "name text"),
                          _t("audit", "id bigint", "line text", "at date", "who text",
                             "why text")])  # 2 of 5 shared: below half
    assert candidates(current, desired) == [
        Rename("table", "public", "orders", "purchases"),
        Rename("table", "public", "users", "people"),
    ]
    # One new table, two compatible old ones: the better match wins, the other is not paired.
    current = make_model([_t("a", "id integer", "x text", "z text"),
                          _t("b", "id integer", "x text", "y text")])
    desired = make_model([_t("c", "id integer", "x text", "y text")])
    assert candidates(current, desired) == [Rename("table", "public", "b", "c")]


def test_candidates_compatibility_threshold() -> None:
    old = _t("t1", "a integer", "b integer", "c integer", "d integer")
    half = _t("t2", "a integer", "b integer", "x text", "y text")
    less = _t("t3", "a integer", "b text", "x text", "y text")  # b differs in type
    assert candidates(make_model([old]), make_model([half])) == [
        Rename("table", "public", "t1", "t2")]
    assert candidates(make_model([old]), make_model([less])) == []
    # Same shape in another schema is not a rename.
    assert candidates(make_model([old]), make_model([replace(half, schema="other")])) == []


def test_candidates_for_columns_same_type_in_column_order() -> None:
    current = make_model([_t("t", "id integer", "a text", "age integer", "b text", "c integer")])
    desired = make_model([_t("t", "id integer", "x text", "years integer", "y text",
                             "d bigint")])
    assert candidates(current, desired) == [
        Rename("column", "public", "a", "x", parent="t"),
        Rename("column", "public", "age", "years", parent="t"),
        Rename("column", "public", "b", "y", parent="t"),
    ]


def test_candidates_after_a_decided_table_rename() -> None:
    current = make_model([_t("users", "id integer", "email text", "name text")])
    desired = make_model([_t("people", "id integer", "mail text", "name text")])
    table = Rename("table", "public", "users", "people")
    assert candidates(current, desired) == [table]
    assert candidates(current, desired, [table]) == [
        Rename("column", "public", "email", "mail", parent="people")]
    decided = [table, *candidates(current, desired, [table])]
    assert candidates(current, desired, decided) == []


def test_candidates_for_enum_values_at_the_same_position() -> None:
    def enum(*values: str) -> Model:
        return make_model([EnumType("public", "mood", values)])

    assert candidates(enum("a", "b", "c"), enum("a", "x", "c")) == [
        Rename("enum_value", "public", "b", "x", parent="mood")]
    assert candidates(enum("a", "b", "c"), enum("a", "c", "x")) == []  # moved, not renamed
    assert candidates(enum("a", "b"), enum("a", "b", "c")) == []  # added only


def test_candidates_order_tables_columns_values() -> None:
    current = make_model([_t("old", "id integer"), _t("k", "a text"),
                          EnumType("public", "e", ("p",))])
    desired = make_model([_t("new", "id integer"), _t("k", "b text"),
                          EnumType("public", "e", ("q",))])
    assert [r.kind for r in candidates(current, desired)] == ["table", "column", "enum_value"]


def test_resolve_hints() -> None:
    users = _t("users", "id integer", "email text")
    people = _t("people", "id integer", "email text")
    hint = [(("table", "public", "people"), "users")]
    assert resolve_hints(hint, make_model([users]), make_model([people])) == [
        Rename("table", "public", "users", "people")]
    # Already applied: a silent no-op.
    assert resolve_hints(hint, make_model([people]), make_model([people])) == []
    # The old table is still wanted, or the new one is there already.
    assert resolve_hints(hint, make_model([users]), make_model([users, people])) == []
    assert resolve_hints(hint, make_model([users, people]), make_model([people])) == []


def test_resolve_hints_column_under_a_renamed_table() -> None:
    current = make_model([_t("users", "id integer", "email text")])
    desired = make_model([_t("people", "id integer", "mail text")])
    hints = [(("table", "public", "people"), "users"),
             (("column", "public", "people", "mail"), "email")]
    renames = resolve_hints(hints, current, desired)
    assert renames == [Rename("table", "public", "users", "people"),
                       Rename("column", "public", "email", "mail", parent="people")]
    assert apply_renames(current, renames) == desired
    # Once both ran, both hints are no-ops; a column hint alone still works.
    assert resolve_hints(hints, desired, desired) == []
    assert resolve_hints(hints[1:], make_model([_t("people", "id integer", "email text")]),
                         desired) == [renames[1]]
    # The old column still wanted: ignored.
    both = make_model([_t("people", "id integer", "mail text", "email text")])
    assert resolve_hints(hints, current, both) == [renames[0]]


def test_resolve_hints_enum_value() -> None:
    current = make_model([EnumType("public", "mood", ("sad", "ok"))])
    desired = make_model([EnumType("public", "mood", ("sad", "fine"))])
    hint = [(("enum_value", "public", "mood", "fine"), "ok")]
    assert resolve_hints(hint, current, desired) == [
        Rename("enum_value", "public", "ok", "fine", parent="mood")]
    assert resolve_hints(hint, desired, desired) == []


def test_follow_sequences_only_when_one_sequence_per_owner() -> None:
    seq = Sequence("public", "t_id_seq", owned_by=("public", "t", "id"))
    renamed = replace(seq, name="t_ident_seq")
    assert follow_sequences(make_model([seq]), make_model([renamed])) == [
        Rename("sequence", "public", "t_id_seq", "t_ident_seq")]
    other = replace(seq, owned_by=("public", "t", "other"))
    assert follow_sequences(make_model([seq]), make_model([replace(other, name="x")])) == []
    unowned = replace(seq, owned_by=None)
    assert follow_sequences(make_model([unowned]), make_model([replace(unowned, name="x")])
                            ) == []


def test_rewriting_skips_literals_functions_casts_and_qualified_names() -> None:
    t = Table("public", "t", columns=(
        Column("zone", "text"), Column("C", "text"),
        Column("g", "text", generated="(zone(zone) || 'zone'::text || t.zone)"),
        Column("h", "timestamp with time zone",
               generated="((\"C\")::timestamp with time zone + '1 day'::interval)"),
        Column("i", "text", generated="(\"C\" COLLATE \"C\")")),
    )
    renamed = apply_renames(make_model([t]), [
        Rename("column", "public", "zone", "Zone", parent="t"),
        Rename("column", "public", "C", "c", parent="t")])
    table = renamed.tables[("table", "public", "t")]
    assert table.column("g").generated == """(zone("Zone") || 'zone'::text || t.zone)"""
    assert table.column("h").generated == (
        "((c)::timestamp with time zone + '1 day'::interval)")
    assert table.column("i").generated == '(c COLLATE "C")'


def test_rename_validates() -> None:
    with pytest.raises(ValueError):
        Rename("column", "public", "a", "b")  # a column needs its table
    with pytest.raises(ValueError):
        apply_renames(make_model([_t("t", "a text")]),
                      [Rename("column", "public", "zz", "b", parent="t")])


MOVED = """
CREATE TYPE mood AS ENUM ('sad', 'ok');
CREATE DOMAIN qty AS int CHECK (VALUE > 0);
CREATE TYPE pair AS (a int, m mood);
CREATE SEQUENCE counter;
CREATE TABLE items (id serial PRIMARY KEY, qty qty NOT NULL, m mood DEFAULT 'ok'::mood,
  n bigint DEFAULT nextval('counter'), twice int GENERATED ALWAYS AS (qty * 2) STORED,
  p pair, CONSTRAINT small CHECK (qty < 1000));
CREATE TABLE orders (id int GENERATED ALWAYS AS IDENTITY,
  item int REFERENCES items (id) ON DELETE CASCADE, at date) PARTITION BY RANGE (at);
CREATE TABLE orders_2026 PARTITION OF orders FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE INDEX orders_item ON orders (item);
CREATE INDEX items_happy ON items ((qty + 1)) WHERE m = 'ok'::mood;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER items_touch BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION touch();
CREATE FUNCTION big(i items) RETURNS boolean LANGUAGE sql RETURN i.qty > 10;
ALTER TABLE items ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON items USING (EXISTS (SELECT 1 FROM orders o WHERE o.item = items.id));
CREATE VIEW happy AS SELECT i.id, i.m, big(i) AS big FROM items i WHERE i.m = 'ok'::mood;
CREATE MATERIALIZED VIEW totals AS SELECT item, count(*) AS n FROM orders GROUP BY item;
CREATE INDEX totals_item ON totals (item);
COMMENT ON TABLE items IS 'see a.items';
"""


def test_move_schema_predicts_the_catalog_of_the_same_schema_made_under_another_name(
        sql: SqlRunner, db_url: str) -> None:
    """The same statements run into schema ``a`` and into schema ``tenant b``: ``a``'s model
    moved to ``tenant b`` is what the catalog shows for it (keys, references, definitions,
    defaults, casts, regclass constants), and a comment's text is left alone."""
    for schema in ("a", "tenant b"):
        sql(f'CREATE SCHEMA "{schema}"; SET search_path TO "{schema}";' + MOVED)
    with psycopg.connect(db_url, autocommit=True) as conn:
        a, b = introspect(conn, ["a"]), introspect(conn, ["tenant b"])
    b = b.with_(tables={k: replace(t, comment="see a.items") if t.name == "items" else t
                        for k, t in b.tables.items()})
    moved = move_schema(a, "a", "tenant b")
    assert moved.tables and moved.views and moved.functions and moved.types
    assert moved == b
    assert build_plan(moved, b).steps == ()
    assert move_schema(moved, "tenant b", "a") == a
