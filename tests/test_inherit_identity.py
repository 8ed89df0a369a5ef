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
