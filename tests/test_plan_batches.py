"""Several changes to one table are sent as one ALTER TABLE: one lock, one scan or rewrite.

Each change keeps its own SQL in the plan (the JSON shows it); ``batches`` joins what is
sent: consecutive changes of one class to one table. What may not be joined stays apart:
a key taking over an index, ALTER TABLE ONLY, a change of several statements."""

from __future__ import annotations

from pathlib import Path

from trimtab import engine
from trimtab.config import load_config
from trimtab.model import Column, Constraint, Index, Table
from trimtab.plan.changes import (
    AddColumn,
    AddConstraint,
    AlterColumn,
    DropColumn,
    Step,
    batches,
)
from trimtab.plan.diff import CHILDREN_KEEP
from trimtab.plan.render import render

T = Table("public", "t", columns=(Column("a", "integer"), Column("b", "integer")))
U = Table("public", "u")


def _step(change: AddColumn | AddConstraint | AlterColumn | DropColumn) -> Step:
    return Step(change, tuple(render(change)))


def _add(table: Table, name: str) -> Step:
    return _step(AddColumn(target=("column", table.schema, table.name, name),
                           after=Column(name, "text"), parent=table))


def _retype(name: str) -> Step:
    return _step(AlterColumn(target=("column", "public", "t", name), parent=T,
                             before=Column(name, "integer"), after=Column(name, "bigint")))


def test_consecutive_changes_of_one_class_to_one_table_are_one_statement() -> None:
    steps = [_add(T, "x"), _add(T, "y"), _add(U, "z"), _retype("a"), _retype("b")]
    sent = batches(steps)
    assert [sql for _, sql in sent] == [
        "ALTER TABLE public.t\n    ADD COLUMN x text,\n    ADD COLUMN y text",
        "ALTER TABLE public.u ADD COLUMN z text",
        "ALTER TABLE public.t\n    ALTER COLUMN a TYPE bigint,\n    ALTER COLUMN b TYPE bigint",
    ]
    assert [len(group) for group, _ in sent] == [2, 1, 2]
    # What each change does is still its own.
    assert steps[0].sql == ("ALTER TABLE public.t ADD COLUMN x text",)


def test_what_may_not_be_joined_stays_apart() -> None:
    index = Index("t_k", "CREATE UNIQUE INDEX t_k ON public.t USING btree (a)", unique=True,
                  columns=("a",))
    takeover = _step(AddConstraint(target=("constraint", "public", "t", "t_k"), parent=T,
                                   after=Constraint("t_k", "u", "UNIQUE (a)", ("a",)),
                                   using_index=index))
    check = _step(AddConstraint(target=("constraint", "public", "t", "t_c"), parent=T,
                                after=Constraint("t_c", "c", "CHECK ((a > 0))", ("a",))))
    only = _step(DropColumn(target=("column", "public", "t", "a"), before=Column("a", "integer"),
                            parent=T, reason=CHILDREN_KEEP))
    plain = _step(DropColumn(target=("column", "public", "t", "b"), before=Column("b", "integer"),
                             parent=T))
    sent = [sql for _, sql in batches([takeover, check, only, plain])]
    assert sent == [*takeover.sql, *check.sql, *only.sql, *plain.sql]
    assert only.sql[0].startswith("ALTER TABLE ONLY ")


def test_push_alters_a_table_once_for_several_type_changes(project: Path, db_url: str,
                                                           sql: object) -> None:
    run = sql  # the conftest runner
    run("CREATE TABLE t (a int, b int, c int); INSERT INTO t SELECT i, i, i "  # type: ignore[operator]
        "FROM generate_series(1, 1000) i;"
        "CREATE TABLE ddl_log (tag text, what text);"
        "CREATE FUNCTION log_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ "
        "DECLARE r record; BEGIN FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP "
        "INSERT INTO ddl_log VALUES (r.command_tag, r.object_identity); END LOOP; END $$;"
        "CREATE EVENT TRIGGER log_ddl ON ddl_command_end EXECUTE FUNCTION log_ddl()")
    (project / "schema.sql").write_text(
        "CREATE TABLE t (a bigint, b bigint, c bigint);\n"
        "CREATE TABLE ddl_log (tag text, what text);\n"
        "CREATE FUNCTION log_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ "
        "DECLARE r record; BEGIN FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP "
        "INSERT INTO ddl_log VALUES (r.command_tag, r.object_identity); END LOOP; END $$;\n")
    engine.push(load_config(project, url=db_url))
    logged = run("SELECT tag, what FROM ddl_log")  # type: ignore[operator]
    # One ALTER TABLE statement: one event, one rewrite of the 1,000 rows.
    assert logged == [("ALTER TABLE", "public.t")]
    assert run("SELECT format_type(atttypid, NULL) FROM pg_attribute WHERE attrelid = "  # type: ignore[operator]
               "'t'::regclass AND attnum > 0 ORDER BY attnum") == [("bigint",)] * 3
