"""Diff gaps seen on real cases: a conversion to a type the same plan creates, identity
bounds moved past the counter, and conversions PostgreSQL has no cast for."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SqlRunner
from trimtab import engine
from trimtab.config import load_config
from trimtab.errors import WouldFail
from trimtab.plan.changes import Hazard, Plan


def plan_for(project: Path, db_url: str, schema: str) -> Plan:
    (project / "schema.sql").write_text(schema)
    return engine.push(load_config(project, url=db_url), dry_run=True).plan  # type: ignore[return-value]


def push(project: Path, db_url: str, schema: str, **kw: object) -> engine.PushResult:
    (project / "schema.sql").write_text(schema)
    return engine.push(load_config(project, url=db_url), **kw)  # type: ignore[arg-type]


def cast_hazard(plan: Plan) -> Hazard:
    found = [h for h in plan.hazards if h.code == "type-cast-may-fail"]
    assert len(found) == 1, [h.code for h in plan.hazards]
    return found[0]


# -- a conversion to a type the same plan creates -----------------------------------------


MOOD = "CREATE TYPE mood AS ENUM ('happy', 'sad');\n"


def test_text_to_a_new_enum_is_checked_against_its_labels(project: Path, db_url: str,
                                                          sql: SqlRunner) -> None:
    sql("CREATE TABLE p (id int, m text); "
        "INSERT INTO p VALUES (1, 'happy'), (2, 'sad'), (3, NULL), (4, 'happy')")
    schema = MOOD + "CREATE TABLE p (id int, m mood);"
    h = cast_hazard(plan_for(project, db_url, schema))
    assert (h.count, h.blocking) == (0, False), h.detail
    assert push(project, db_url, schema).applied
    assert sql("SELECT m::text FROM p ORDER BY id") == [("happy",), ("sad",), (None,),
                                                        ("happy",)]
    assert not plan_for(project, db_url, schema)


def test_values_missing_from_the_new_enum_are_counted(project: Path, db_url: str,
                                                      sql: SqlRunner) -> None:
    sql("CREATE TABLE p (id int, m text, ms text[]); "
        "INSERT INTO p VALUES (1, 'happy', '{happy,sad}'), (2, 'angry', '{sad}'), "
        "(3, 'bored', '{angry,NULL}'), (4, NULL, NULL)")
    schema = MOOD + "CREATE TABLE p (id int, m mood, ms mood[]);"
    plan = plan_for(project, db_url, schema)
    found = sorted(h.text for h in plan.hazards if h.code == "type-cast-may-fail")
    assert found == [
        "changes public.p.m from text -> public.mood: 2 values do not convert, this will fail",
        "changes public.p.ms from text[] -> public.mood[]: 1 value does not convert, "
        "this will fail",
    ]
    with pytest.raises(WouldFail):
        push(project, db_url, schema, force=True)
    assert sql("SELECT count(*) FROM p WHERE m IN ('angry', 'bored')") == [(2,)]


def test_an_enum_replaced_by_another_converts_its_columns(project: Path, db_url: str,
                                                          sql: SqlRunner) -> None:
    # The old type goes and a new one takes its columns: create, convert, drop.
    sql("CREATE TYPE status AS ENUM ('open', 'closed'); "
        "CREATE TABLE ticket (id int, s status); "
        "INSERT INTO ticket VALUES (1, 'open'), (2, 'closed')")
    schema = ("CREATE TYPE state AS ENUM ('open', 'closed', 'archived');\n"
              "CREATE TABLE ticket (id int, s state);")
    h = cast_hazard(plan_for(project, db_url, schema))
    assert (h.count, h.blocking) == (0, False), h.detail
    assert push(project, db_url, schema, force=True).applied
    assert sql("SELECT s::text FROM ticket ORDER BY id") == [("open",), ("closed",)]
    assert not plan_for(project, db_url, schema)
