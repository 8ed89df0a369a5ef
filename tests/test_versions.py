"""The PostgreSQL version a plan is meant for: what it lacks is found, said, and refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types as t
from pytest_lsp import LanguageClient

from tests.test_cli_push import run, write
from tests.test_lsp import client, has, open_doc, until  # noqa: F401 (client: the fixture)
from trimtab.config import load_config
from trimtab.errors import ConfigError
from trimtab.model import Column, Constraint, Index, Model, Schema, Table
from trimtab.plan import build_plan, versions
from trimtab.plan.versions import CODE, lacks, mark, written
from trimtab.sources.sqlfile import split_statements


def _model(*tables: Table, version: int = 180000) -> Model:
    return Model(schemas={("schema", "public"): Schema("public")},
                 tables={t.key: t for t in tables}, server_version=version)


UNIQUE_NND = Constraint("t_email_key", "u", "UNIQUE NULLS NOT DISTINCT (email)", ("email",))
T = Table("public", "t", (Column("id", "integer", not_null=True), Column("email", "text")))


def test_nulls_not_distinct_is_found_before_15_only() -> None:
    plan = build_plan(_model(T), _model(Table("public", "t", T.columns, (UNIQUE_NND,))))
    found = lacks(plan, 14)
    assert [(f.feature, f.since, f.version) for f in found] == [("NULLS NOT DISTINCT", 15, 14)]
    assert "PostgreSQL 14 lacks NULLS NOT DISTINCT" in found[0].message
    assert "public.t.t_email_key" in found[0].message
    assert lacks(plan, 15) == [] and lacks(plan, 180000) == []


def test_a_unique_index_with_nulls_not_distinct() -> None:
    idx = Index("t_email", "CREATE UNIQUE INDEX t_email ON public.t USING btree (email) "
                "NULLS NOT DISTINCT", unique=True, columns=("email",))
    plan = build_plan(_model(T), _model(Table("public", "t", T.columns, indexes=(idx,))))
    assert [f.feature for f in lacks(plan, 13)] == ["NULLS NOT DISTINCT"]


def test_virtual_generated_columns_need_18() -> None:
    virtual = Column("twice", "integer", generated="id * 2", generated_virtual=True)
    stored = Column("thrice", "integer", generated="id * 3")
    plan = build_plan(_model(), _model(Table("public", "t", (*T.columns, virtual, stored))))
    found = lacks(plan, 17)
    assert [(f.feature, f.since) for f in found] == [("VIRTUAL generated columns", 18)]
    assert found[0].fix and "STORED" in found[0].fix
    assert lacks(plan, 18) == []


def test_a_column_added_with_compression_needs_14() -> None:
    lz4 = Column("body", "text", compression="lz4")
    plan = build_plan(_model(T), _model(Table("public", "t", (*T.columns, lz4))))
    assert [f.feature for f in lacks(plan, 13)] == ["SET COMPRESSION"]
    assert lacks(plan, 14) == []


def test_not_null_is_never_written_with_a_constraint_name() -> None:
    # PostgreSQL 18 names NOT NULL constraints; the plan writes the form every version runs.
    plan = build_plan(_model(), _model(T))
    assert "NOT NULL" in plan.sql() and "CONSTRAINT" not in plan.sql()
    assert lacks(plan, 13) == []


def test_a_changed_generation_expression_is_planned_for_the_version() -> None:
    # SET EXPRESSION is 17+: planned for 16, the column is dropped and added instead.
    before = Table("public", "t", (*T.columns, Column("g", "integer", generated="id * 2")))
    after = Table("public", "t", (*T.columns, Column("g", "integer", generated="id * 3")))
    for_18 = build_plan(_model(before), _model(after))
    assert "SET EXPRESSION" in for_18.sql()
    assert [f.feature for f in lacks(for_18, 16)] == ["ALTER COLUMN ... SET EXPRESSION"]
    for_16 = build_plan(_model(before, version=160000), _model(after, version=160000))
    assert "SET EXPRESSION" not in for_16.sql()
    assert lacks(for_16, 16) == []


def test_mark_adds_one_hazard_per_lack() -> None:
    plan = build_plan(_model(T), _model(Table("public", "t", T.columns, (UNIQUE_NND,))))
    marked, found = mark(plan, 130000)
    assert len(found) == 1
    assert [h.code for h in marked.hazards] == [CODE]
    assert marked.hazards[0].severity == "warning"
    assert mark(plan, 15)[0] is plan


@pytest.mark.parametrize("value", ['"15"', "15", '"13"', "18"])
def test_postgres_setting(tmp_path: Path, value: str) -> None:
    (tmp_path / "trimtab.toml").write_text(f'schema = "s.sql"\npostgres = {value}\n')
    assert load_config(tmp_path).postgres == int(value.strip('"'))


@pytest.mark.parametrize("value", ['"12"', "19", '"fifteen"', "true", '""'])
def test_a_bad_postgres_setting_names_its_line(tmp_path: Path, value: str) -> None:
    (tmp_path / "trimtab.toml").write_text(f'schema = "s.sql"\npostgres = {value}\n')
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path)
    assert e.value.line == 2
    assert "postgres must be a PostgreSQL major version from 13 to 18" in str(e.value)


def test_generate_for_14_refuses_nulls_not_distinct(project: Path, db_url: str) -> None:
    (project / "trimtab.toml").write_text('schema = "schema.sql"\npostgres = "14"\n')
    write(project, "CREATE TABLE t (id int PRIMARY KEY);\n\n"
                   "CREATE TABLE u (\n  email text,\n  UNIQUE NULLS NOT DISTINCT (email)\n);\n")
    refused = run(project, "generate", "--url", db_url)
    assert refused.returncode == 1
    assert "PostgreSQL 14" in refused.stderr
    assert 'postgres = "14" in trimtab.toml' in refused.stderr
    assert "NULLS NOT DISTINCT" in refused.stderr
    assert "schema.sql:5" in refused.stderr  # the constraint's line
    assert "u_email_key" in refused.stderr
    assert not (project / "migrations").exists() or not list(
        (project / "migrations").glob("*.sql"))
    forced = run(project, "generate", "--url", db_url, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "PostgreSQL 14 lacks NULLS NOT DISTINCT" in forced.stdout
    (project / "trimtab.toml").write_text('schema = "schema.sql"\npostgres = "15"\n')
    write(project, "CREATE TABLE t (id int PRIMARY KEY, n int);\n\n"
                   "CREATE TABLE u (\n  email text,\n  UNIQUE NULLS NOT DISTINCT (email)\n);\n")
    fine = run(project, "generate", "--url", db_url)
    assert fine.returncode == 0, fine.stderr
    assert "lacks" not in fine.stdout


def test_push_says_what_the_configured_version_lacks(project: Path, db_url: str) -> None:
    # The target (18) runs it; the migrations' version (14) would not: said, not refused.
    (project / "trimtab.toml").write_text('schema = "schema.sql"\npostgres = "14"\n')
    write(project, "CREATE TABLE u (email text UNIQUE NULLS NOT DISTINCT);\n")
    r = run(project, "push", "--url", db_url)
    assert r.returncode == 0, r.stderr
    assert "PostgreSQL 14 lacks NULLS NOT DISTINCT" in r.stdout


@pytest.fixture
def workspace(tmp_path: Path, db_url: str) -> Path:
    """The language server's project (the `client` fixture opens it), for PostgreSQL 13."""
    root = tmp_path / "ws"
    root.mkdir()
    (root / "trimtab.toml").write_text(
        f'schema = "schema.sql"\ndatabase_url = "{db_url}"\npostgres = "13"\n')
    (root / "schema.sql").write_text("CREATE TABLE users (id int PRIMARY KEY);\n")
    return root


async def test_the_editor_shows_what_the_configured_version_lacks(
        client: LanguageClient, workspace: Path) -> None:  # noqa: F811 (the fixture)
    # The suite's server runs it; the `postgres` setting says migrations run on 13.
    uri = open_doc(client, workspace / "schema.sql",
                   "CREATE TABLE users (id int PRIMARY KEY);\n\n"
                   "CREATE TABLE u (\n  email text,\n  UNIQUE NULLS NOT DISTINCT (email)\n);\n")
    diags = await until(client, uri, has(CODE, "PostgreSQL 13 lacks NULLS NOT DISTINCT"))
    d = next(d for d in diags if d.code == CODE)
    assert d.range.start.line == 4  # the constraint's line
    assert d.severity == t.DiagnosticSeverity.Warning


def test_syntax_is_found_where_the_file_writes_it_not_in_comments_or_bodies() -> None:
    text = ("-- NULLS NOT DISTINCT in a comment\n"
            "CREATE TABLE u (\n  email text,\n  UNIQUE NULLS NOT DISTINCT (email)\n);\n"
            "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$ SELECT 'NOT ENFORCED' $$;\n"
            "CREATE FUNCTION g() RETURNS int LANGUAGE sql\n  RETURN 1;\n"
            "COMMENT ON TABLE u IS 'WITHOUT OVERLAPS';\n")
    found = written(split_statements(text, "s.sql"), 13)
    assert [(w.line, w.feature, w.since) for w in found] == [
        (4, "NULLS NOT DISTINCT", 15), (8, "SQL-standard function bodies", 14)]
    assert found[0].message == "s.sql:4: PostgreSQL 13 lacks NULLS NOT DISTINCT (PostgreSQL 15+)"
    assert [w.feature for w in written(split_statements(text, "s.sql"), 14)] == [
        "NULLS NOT DISTINCT"]
    assert written(split_statements(text, "s.sql"), 150000) == []


def test_generate_without_a_setting_warns_of_syntax_only_its_version_has(
        project: Path, db_url: str, pg_server) -> None:
    if pg_server.version < 180000:
        pytest.skip("needs PostgreSQL 18 (VIRTUAL generated columns)")
    write(project, "CREATE TABLE t (id int PRIMARY KEY,\n"
                   "  twice int GENERATED ALWAYS AS (id * 2) VIRTUAL);\n")
    r = run(project, "generate", "--url", db_url)
    assert r.returncode == 0, r.stderr
    assert "PostgreSQL 17 lacks VIRTUAL generated columns" in r.stdout + r.stderr
    assert "postgres" in r.stdout + r.stderr  # says how to name where migrations run


def _every_statement_masked(statements: list, version: int) -> list[tuple[int, str]]:
    """What written() finds, the way it found it before it skipped statements: every
    statement masked and searched."""
    found = []
    for st in statements:
        text = versions._masked(st.text)
        for feature, since, rx, _ in versions._WRITTEN:
            m = rx.search(text) if version < since else None
            if m:
                at = m.start("at") if "at" in rx.groupindex else m.start()
                found.append((st.span.line + text.count("\n", 0, at), feature))
    return found


ROOT = Path(__file__).resolve().parent.parent
TRICKY = ("CREATE TABLE a (deleted_at timestamptz DEFAULT now(), settings jsonb);\n"
          "CREATE TABLE b (x int, UNIQUE NULLS NOT DISTINCT (x));\n"
          "CREATE TABLE c (x int, UNIQUE NULLS/* a comment */NOT DıSTINCT (x));\n"
          "ALTER TABLE b ADD FOREIGN KEY (x) REFERENCES c (x) ON DELETE SET NULL (x);\n"
          "CREATE VIEW v WITH (security_invoker = true) AS SELECT 1;\n"
          "CREATE FUNCTION f() RETURNS int LANGUAGE sql RETURN 1;\n"
          "CREATE TABLE d (x int, UNIQUE NULLS NOT DİSTINCT (x));\n")


@pytest.mark.parametrize("version", [13, 14, 15, 16, 17])
def test_the_statements_skipped_unmasked_are_those_that_cannot_match(version: int) -> None:
    texts = [TRICKY] + [p.read_text() for p in sorted((ROOT / "fixtures").rglob("*.sql"))]
    for text in texts:
        statements = split_statements(text, "s.sql")
        assert [(w.line, w.feature) for w in written(statements, version)] == \
            _every_statement_masked(statements, version)


def test_a_statement_without_a_features_words_is_not_lexed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    masked: list[str] = []
    real = versions._masked
    monkeypatch.setattr(versions, "_masked", lambda text: masked.append(text) or real(text))
    statements = split_statements(TRICKY, "s.sql")
    assert [(w.line, w.feature) for w in written(statements, 13)] == [
        (2, "NULLS NOT DISTINCT"), (3, "NULLS NOT DISTINCT"),
        (4, "ON DELETE SET NULL/DEFAULT (columns)"),
        (5, "the security_invoker view option"), (6, "SQL-standard function bodies"),
        (7, "NULLS NOT DISTINCT")]
    assert statements[0].text not in masked and len(masked) == 6
