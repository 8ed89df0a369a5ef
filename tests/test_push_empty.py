"""Push into an empty database runs the schema file in place (no shadow): the result and
the reported plan must be what the shadow path gives, and anything unusual falls back."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from tests.conftest import with_database
from trimtab import engine
from trimtab.config import load_config
from trimtab.sources.introspect import introspect

SCHEMA = """
CREATE TYPE mood AS ENUM ('ok', 'meh');
CREATE TABLE a (id int PRIMARY KEY, m mood NOT NULL DEFAULT 'ok');
CREATE TABLE b (id serial PRIMARY KEY, a_id int REFERENCES a (id), note text);
CREATE INDEX b_note ON b (note);
COMMENT ON TABLE a IS 'hello';
"""


def cfg_for(project: Path, db_url: str, text: str, **changes: object):
    (project / "schema.sql").write_text(text)
    return replace(load_config(project, url=db_url), **changes)


def model(url: str):
    with psycopg.connect(url) as conn:
        return introspect(conn, None)


def test_in_place_gives_the_shadow_paths_result(project: Path, db_url: str,
                                                admin_url: str) -> None:
    cfg = cfg_for(project, db_url, SCHEMA)
    result = engine.push(cfg)
    assert result.applied and len(result.plan.steps) >= 5
    in_place = model(db_url)
    # The same schema through the shadow path, into a database that is not empty.
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS push_empty_other")
        conn.execute("CREATE DATABASE push_empty_other")
    other = with_database(db_url, "push_empty_other")
    try:
        with psycopg.connect(other, autocommit=True) as conn:
            conn.execute("CREATE TABLE zzz (x int)")
        engine.push(cfg_for(project, other, SCHEMA + "\nCREATE TABLE zzz (x int);\n"))
        shadowed = model(other)
        assert {k: v for k, v in shadowed.tables.items() if k[2] != "zzz"} == in_place.tables
        assert shadowed.types == in_place.types
        assert engine.push(cfg_for(project, db_url, SCHEMA)).applied is False  # all done
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS push_empty_other WITH (FORCE)")


def test_a_statement_that_cannot_run_in_a_transaction_falls_back(project: Path,
                                                                  db_url: str) -> None:
    cfg = cfg_for(project, db_url, "CREATE TABLE a (id int);\n"
                                   "CREATE INDEX CONCURRENTLY a_id ON a (id);\n")
    result = engine.push(cfg)  # the shadow path applies it statement by statement
    assert result.applied
    assert set(model(db_url).tables) == {("table", "public", "a")}


def test_a_rejected_schema_reports_file_and_line(project: Path, db_url: str) -> None:
    cfg = cfg_for(project, db_url, "CREATE TABLE a (id int);\nCREATE TABLE b (x nosuch);\n")
    with pytest.raises(Exception) as error:
        engine.push(cfg)
    assert "schema.sql" in str(error.value.as_dict()) and "nosuch" in str(error.value)
    assert model(db_url).tables == {}  # nothing half-created


def test_dry_run_and_managed_schemas_take_the_shadow_path(project: Path, db_url: str) -> None:
    cfg = cfg_for(project, db_url, SCHEMA)
    assert engine.push(cfg, dry_run=True).applied is False
    assert model(db_url).tables == {}
    managed = replace(cfg, managed_schemas=("public",))
    assert engine.push(managed).applied
    assert len(model(db_url).tables) == 2
