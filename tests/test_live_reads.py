"""The editor's plan of the live database reuses its last read while the catalogs are
unchanged (one fingerprint query instead of reading every table), and reads again after
any DDL: a change made by hand in the database shows in the next plan."""

from __future__ import annotations

from pathlib import Path

from trimtab import engine
from trimtab.config import load_config

SCHEMA = "CREATE TABLE users (id int PRIMARY KEY, email text);\n"


def _plan(project: Path, db_url: str) -> engine.LivePlan:
    (project / "trimtab.toml").write_text(
        f'schema = "schema.sql"\ndatabase_url = "{db_url}"\n')
    cfg = load_config(project)
    return engine.plan_live(cfg, engine.read_source(cfg))


def test_the_live_read_is_reused_until_ddl_changes_the_catalogs(
        project: Path, db_url: str, sql) -> None:  # noqa: ANN001
    (project / "schema.sql").write_text(SCHEMA)
    sql("CREATE TABLE users (id int PRIMARY KEY, email text)")
    first = _plan(project, db_url)
    assert not first.plan.steps
    again = _plan(project, db_url)
    assert again.live is first.live  # unchanged catalogs: the same read
    sql("ALTER TABLE users ADD COLUMN nickname text")  # by hand, in the database
    after = _plan(project, db_url)
    assert after.live is not first.live
    assert [s.change.target for s in after.plan.steps] == [
        ("column", "public", "users", "nickname")]
    sql("COMMENT ON COLUMN users.email IS 'where we write'")  # DDL that changes no shape
    commented = _plan(project, db_url)
    assert commented.live is not after.live
    assert any("COMMENT ON COLUMN" in str(q) for s in commented.plan.steps for q in s.sql)


def test_a_reads_spans_are_worked_out_once_and_follow_an_edit(project: Path) -> None:
    """A Source keeps its spans (the editor's plan asks twice); the next read of an edited
    file has the edit's."""
    (project / "trimtab.toml").write_text('schema = "schema.sql"\n')
    (project / "schema.sql").write_text(SCHEMA)
    cfg = load_config(project)
    path = str(project / "schema.sql")
    source = engine.read_source(cfg, {path: SCHEMA})
    assert source.spans is source.spans
    assert source.spans[("table", "public", "users")].line == 1
    edited = engine.read_source(cfg, {path: "\n\n" + SCHEMA + "CREATE TABLE b (id int);\n"})
    assert edited.spans[("table", "public", "users")].line == 3
    assert edited.spans[("table", "public", "b")].line == 4
    assert ("table", "public", "b") not in source.spans
