"""Table inheritance (a column moving between parent and child), identity sequences (their
bounds against the counter, their names) and grants on types."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import SqlRunner
from trimtab import engine
from trimtab.config import load_config
from trimtab.plan.changes import Plan


def plan_for(project: Path, db_url: str, schema: str) -> Plan:
    (project / "schema.sql").write_text(schema)
    return engine.push(load_config(project, url=db_url), dry_run=True).plan  # type: ignore[return-value]


def push(project: Path, db_url: str, schema: str, **kw: object) -> engine.PushResult:
    (project / "schema.sql").write_text(schema)
    return engine.push(load_config(project, url=db_url), **kw)  # type: ignore[arg-type]


def attrs(sql: SqlRunner, table: str, column: str) -> list[tuple[object, ...]]:
    return sql("SELECT attislocal, attinhcount FROM pg_attribute "
               "WHERE attrelid = %s::regclass AND attname = %s", (table, column))


# -- a column moving between an INHERITS parent and its child ------------------------------


def test_a_column_moved_from_the_parent_to_the_child_keeps_the_childs_values(
        project: Path, db_url: str, sql: SqlRunner) -> None:
    sql("CREATE TABLE base (created int, note text); "
        "CREATE TABLE item (a int) INHERITS (base); "
        "INSERT INTO base VALUES (1, NULL); "
        "INSERT INTO item VALUES (2, 'kept', 10), (3, 'also', 20)")
    schema = ("CREATE TABLE base (created int);\n"
              "CREATE TABLE item (a int, note text) INHERITS (base);\n")
    plan = plan_for(project, db_url, schema)
    statements = plan.sql()
    assert "ALTER TABLE ONLY public.base DROP COLUMN note" in statements, statements
    assert "ADD COLUMN" not in statements, statements
    # The parent's own rows hold no value of it: nothing to consent to.
    assert push(project, db_url, schema).applied
    assert sql("SELECT created, a, note FROM item ORDER BY created") == [
        (2, 10, "kept"), (3, 20, "also")]
    assert attrs(sql, "item", "note") == [(True, 0)]
    assert not plan_for(project, db_url, schema)


def test_a_column_dropped_from_the_parent_goes_from_children_that_do_not_keep_it(
        project: Path, db_url: str, sql: SqlRunner) -> None:
    # One child keeps the column, its sibling does not: ONLY on the parent, and the sibling
    # drops its copy itself.
    sql("CREATE TABLE base (id int, note text); "
        "CREATE TABLE keeps () INHERITS (base); CREATE TABLE loses () INHERITS (base); "
        "INSERT INTO keeps VALUES (1, 'k'); INSERT INTO loses VALUES (2, 'l')")
    schema = ("CREATE TABLE base (id int);\n"
              "CREATE TABLE keeps (note text) INHERITS (base);\n"
              "CREATE TABLE loses () INHERITS (base);\n")
    assert push(project, db_url, schema, force=True).applied
    assert sql("SELECT id, note FROM keeps") == [(1, "k")]
    assert sql("SELECT count(*) FROM pg_attribute WHERE attrelid = 'loses'::regclass "
               "AND attname = 'note' AND NOT attisdropped") == [(0,)]
    assert not plan_for(project, db_url, schema)


def test_a_column_moved_from_the_child_to_the_parent_keeps_the_childs_values(
        project: Path, db_url: str, sql: SqlRunner) -> None:
    # ADD COLUMN on the parent merges with the child's own column of the same type: the
    # child's column is then both local and inherited, which the desired schema does not
    # tell apart (PostgreSQL offers no way to change it).
    sql("CREATE TABLE base (id int); CREATE TABLE item (note text) INHERITS (base); "
        "INSERT INTO item VALUES (1, 'kept')")
    schema = ("CREATE TABLE base (id int, note text);\n"
              "CREATE TABLE item () INHERITS (base);\n")
    assert push(project, db_url, schema).applied
    assert sql("SELECT id, note FROM item") == [(1, "kept")]
    assert attrs(sql, "item", "note") == [(True, 1)]
    assert not plan_for(project, db_url, schema)
    # Dropped from the parent later, the merged column stays with the child.
    later = "CREATE TABLE base (id int);\nCREATE TABLE item (note text) INHERITS (base);\n"
    assert push(project, db_url, later).applied
    assert sql("SELECT id, note FROM item") == [(1, "kept")]
    assert not plan_for(project, db_url, later)


# -- identity and sequence bounds: restart only when the counter falls outside -------------


def test_identity_bounds_tightened_around_the_counter_do_not_restart(
        project: Path, db_url: str, sql: SqlRunner) -> None:
    sql("CREATE TABLE t (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text); "
        "INSERT INTO t (v) SELECT 'x' FROM generate_series(1, 5)")
    schema = ("CREATE TABLE t (id int GENERATED ALWAYS AS IDENTITY "
              "(START WITH 2 MINVALUE 2 MAXVALUE 1000) PRIMARY KEY, v text);")
    assert push(project, db_url, schema).applied
    # Restarting at 2 would hand out ids the table already holds.
    assert sql("INSERT INTO t (v) VALUES ('y') RETURNING id") == [(6,)]
    assert not plan_for(project, db_url, schema)


def test_sequence_bounds_tightened_around_the_counter_do_not_restart(
        project: Path, db_url: str, sql: SqlRunner) -> None:
    sql("CREATE SEQUENCE s AS integer; SELECT nextval('s') FROM generate_series(1, 5)")
    schema = "CREATE SEQUENCE s AS smallint START WITH 3 MINVALUE 3 MAXVALUE 100;"
    assert push(project, db_url, schema).applied
    assert sql("SELECT nextval('s')") == [(6,)]
    assert not plan_for(project, db_url, schema)


def test_sequence_raised_past_the_counter_restarts_at_its_start(
        project: Path, db_url: str, sql: SqlRunner) -> None:
    sql("CREATE SEQUENCE s MAXVALUE 50; SELECT nextval('s') FROM generate_series(1, 5)")
    schema = "CREATE SEQUENCE s START WITH 200 MINVALUE 100 MAXVALUE 500;"
    assert push(project, db_url, schema).applied
    assert sql("SELECT nextval('s')") == [(200,)]
    assert not plan_for(project, db_url, schema)


# -- identity sequence names ---------------------------------------------------------------


def identity_sequence(sql: SqlRunner, table: str, column: str) -> object:
    return sql("SELECT pg_get_serial_sequence(%s, %s)", (table, column))[0][0]


def test_an_identity_sequence_takes_its_declared_name(
        project: Path, db_url: str, sql: SqlRunner) -> None:
    sql("CREATE TABLE keep (x int)")  # not an empty database: the plan creates the table
    schema = ("CREATE TABLE keep (x int);\n"
              "CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY "
              "(SEQUENCE NAME t_ids START WITH 10), v text);")
    assert push(project, db_url, schema).applied
    assert identity_sequence(sql, "t", "id") == "public.t_ids"
    assert not plan_for(project, db_url, schema)


def test_an_identity_sequence_is_renamed_and_keeps_its_counter(
        project: Path, db_url: str, sql: SqlRunner) -> None:
    sql("CREATE TABLE t (id int GENERATED ALWAYS AS IDENTITY, v text); "
        "INSERT INTO t (v) VALUES ('a'), ('b'), ('c')")
    named = ("CREATE TABLE t (id int GENERATED ALWAYS AS IDENTITY (SEQUENCE NAME t_ids "
             "MINVALUE 2 MAXVALUE 1000), v text);")
    assert push(project, db_url, named).applied
    assert identity_sequence(sql, "t", "id") == "public.t_ids"
    assert sql("INSERT INTO t (v) VALUES ('d') RETURNING id") == [(4,)]
    assert not plan_for(project, db_url, named)
    # Without a name, the sequence goes back to PostgreSQL's own choice.
    plain = "CREATE TABLE t (id int GENERATED ALWAYS AS IDENTITY, v text);"
    assert push(project, db_url, plain).applied
    assert identity_sequence(sql, "t", "id") == "public.t_id_seq"
    assert sql("INSERT INTO t (v) VALUES ('e') RETURNING id") == [(5,)]
    assert not plan_for(project, db_url, plain)


def test_an_identity_column_of_a_renamed_table_converges(
        project: Path, db_url: str, sql: SqlRunner) -> None:
    sql("CREATE TABLE t (id int GENERATED ALWAYS AS IDENTITY, v text); "
        "INSERT INTO t (v) VALUES ('a')")
    schema = ("-- trimtab: renamed from t\n"
              "CREATE TABLE u (id int GENERATED ALWAYS AS IDENTITY, v text);")
    assert push(project, db_url, schema).applied
    assert sql("INSERT INTO u (v) VALUES ('b') RETURNING id") == [(2,)]
    assert not plan_for(project, db_url, schema)


# -- grants on types -----------------------------------------------------------------------


ROLE = ("DO $$ BEGIN CREATE ROLE trimtab_typeuser; EXCEPTION WHEN duplicate_object THEN "
        "NULL; END $$")


def type_acl(sql: SqlRunner, name: str) -> object:
    return sql("SELECT typacl::text FROM pg_type WHERE oid = %s::regtype", (name,))[0][0]


def test_usage_on_a_composite_type_is_granted_and_revoked(
        project: Path, db_url: str, sql: SqlRunner) -> None:
    sql(ROLE)
    sql("CREATE TYPE pair AS (a int, b int)")
    schema = ("CREATE TYPE pair AS (a int, b int);\n"
              "REVOKE USAGE ON TYPE pair FROM PUBLIC;\n"
              "GRANT USAGE ON TYPE pair TO trimtab_typeuser;\n")
    assert push(project, db_url, schema).applied
    entries = str(type_acl(sql, "pair")).strip("{}").split(",")
    assert "trimtab_typeuser=U/postgres" in entries
    assert not [e for e in entries if e.startswith("=")], entries  # PUBLIC revoked
    assert not plan_for(project, db_url, schema)
    assert push(project, db_url, "CREATE TYPE pair AS (a int, b int);\n").applied
    assert "trimtab_typeuser" not in str(type_acl(sql, "pair"))
    assert not plan_for(project, db_url, "CREATE TYPE pair AS (a int, b int);\n")


def test_usage_on_a_new_composite_type_is_granted(
        project: Path, db_url: str, sql: SqlRunner) -> None:
    sql(ROLE)
    sql("CREATE TABLE keep (x int)")  # not an empty database: the plan creates the type
    schema = ("CREATE TABLE keep (x int);\nCREATE TYPE pair AS (a int, b int);\n"
              "GRANT USAGE ON TYPE pair TO trimtab_typeuser;\n")
    assert push(project, db_url, schema).applied
    assert "trimtab_typeuser=U/" in str(type_acl(sql, "pair"))
    assert not plan_for(project, db_url, schema)
