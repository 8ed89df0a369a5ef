"""The first plan of a project, and a column's type change, carry only what they need."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import SqlRunner
from trimtab import engine
from trimtab.config import load_config


def plan_sql(project: Path, db_url: str, schema: str) -> list[str]:
    (project / "schema.sql").write_text(schema)
    plan = engine.push(load_config(project, url=db_url), dry_run=True).plan
    return [plan.sql()] if plan else []


def push(project: Path, db_url: str, schema: str) -> None:
    (project / "schema.sql").write_text(schema)
    assert engine.push(load_config(project, url=db_url)).applied


def test_type_change_keeps_a_castable_default_with_one_set_default(
        project: Path, db_url: str, sql: SqlRunner) -> None:
    sql("CREATE TABLE t (id int, n int DEFAULT 0, v varchar(5) DEFAULT 'a')")
    schema = "CREATE TABLE t (id int, n bigint DEFAULT 7, v varchar(9) DEFAULT 'a');"
    statements = plan_sql(project, db_url, schema)
    text = "\n".join(statements)
    assert "DROP DEFAULT" not in text, text
    assert text.count("ALTER COLUMN n SET DEFAULT 7") == 1, text
    push(project, db_url, schema)
    assert sql("INSERT INTO t (id) VALUES (1) RETURNING n, v") == [(7, "a")]
    assert not plan_sql(project, db_url, schema)


def test_type_change_with_using_still_drops_a_default_that_may_not_cast(
        project: Path, db_url: str, sql: SqlRunner) -> None:
    # text -> an enum: no assignment cast, so the old default must go before the type changes.
    sql("CREATE TYPE mood AS ENUM ('happy', 'sad'); "
        "CREATE TABLE p (id int, m text DEFAULT 'happy')")
    schema = ("CREATE TYPE mood AS ENUM ('happy', 'sad');\n"
              "CREATE TABLE p (id int, m mood DEFAULT 'sad');")
    text = "\n".join(plan_sql(project, db_url, schema))
    assert "ALTER COLUMN m DROP DEFAULT" in text, text
    push(project, db_url, schema)
    assert sql("INSERT INTO p (id) VALUES (1) RETURNING m::text") == [("sad",)]


def test_first_plan_has_no_comment_on_extension(project: Path, db_url: str,
                                                 sql: SqlRunner) -> None:
    # CREATE EXTENSION sets the comment of its control file itself: repeating it is noise.
    schema = "CREATE EXTENSION citext;\nCREATE TABLE a (id int, login citext);\n"
    text = "\n".join(plan_sql(project, db_url, schema))
    assert "CREATE EXTENSION" in text and "COMMENT ON EXTENSION" not in text, text
    push(project, db_url, schema)
    assert sql("SELECT obj_description('citext'::regtype::oid, 'pg_type') IS NULL, "
               "(SELECT description FROM pg_description d JOIN pg_extension x "
               "ON d.objoid = x.oid WHERE x.extname = 'citext')") == [
        (True, "data type for case-insensitive character strings")]
    assert not plan_sql(project, db_url, schema)


def test_a_comment_the_schema_writes_on_an_extension_is_kept(project: Path, db_url: str,
                                                             sql: SqlRunner) -> None:
    schema = "CREATE EXTENSION citext;\nCOMMENT ON EXTENSION citext IS 'logins';\n"
    text = "\n".join(plan_sql(project, db_url, schema))
    assert "COMMENT ON EXTENSION citext IS 'logins'" in text, text
    push(project, db_url, schema)
    assert not plan_sql(project, db_url, schema)
    changed = schema.replace("'logins'", "'user names'")
    assert "IS 'user names'" in "\n".join(plan_sql(project, db_url, changed))
