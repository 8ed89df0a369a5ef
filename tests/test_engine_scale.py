"""What the engine reads about a big schema only to scope the live database: the
declared relations come from the statements' heads, not from the structural model."""

from __future__ import annotations

from pathlib import Path

import pytest

from trimtab import engine
from trimtab.sources.sqlfile import _build, fresh_builds, object_spans, split_statements

ROOT = Path(__file__).resolve().parent.parent
# The conformance corpus lives outside the project; compared against when it is there.
CORPUS = Path("/work/shared/conformance/corpus")
SCHEMAS = sorted(ROOT.glob("fixtures/**/*.sql")) + (
    sorted(CORPUS.glob("**/desired.sql")) if CORPUS.is_dir() else [])


def _from_the_model(statements: list) -> frozenset[tuple[str, ...]]:
    """The computation declared_relations replaced: the keys of the whole schema's spans."""
    return frozenset(k for k in object_spans(statements)
                     if (k[0] in ("table", "view") and len(k) == 3)
                     or (k[0] == "extension" and len(k) == 2))


def _source(text: str, file: str = "schema.sql") -> engine.Source:
    return engine.Source(split_statements(text, file), (), ())


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: str(p).replace(str(ROOT) + "/", ""))
def test_declared_relations_are_those_the_structural_model_spans(path: Path) -> None:
    source = _source(path.read_text(encoding="utf-8"), str(path))
    assert engine.declared_relations(source) == _from_the_model(source.statements)


EDGES = """
create extension if not exists pgcrypto;
create table if not exists "Mixed"."Case" (id int);
create table public.plain (id int primary key, v text);
create table public.plain (id int);  -- declared twice
create unlogged table u (id int);
create temp table scratch (id int);
create table parts (id int, at date) partition by range (at);
create table parts_2024 partition of parts for values from ('2024-01-01') to ('2025-01-01');
create table kid () inherits (plain);
create table copy (like plain including all);
create table typed of some_type;
create table made as select 1 as one;
create materialized view mv as select 1 with no data;
create or replace view v (a) as select 1;
create view s.v2 with (security_barrier) as select 2;
create foreign table ft (id int) server far;
create schema other create table inner_t (id int);
alter table only_altered add column x int;
alter table plain rename to renamed;
alter table renamed rename column v to w;
create sequence seq;
create type mood as enum ('ok');
create index on plain (v);
create unique index plain_v on plain (v);
comment on table plain is 'x';
create table "weird name" ("a b" int);
create table 𝔘nicode (id int);
create table broken (id int,;
"""


def test_declared_relations_on_the_edges_of_the_reader() -> None:
    source = _source(EDGES)
    assert engine.declared_relations(source) == _from_the_model(source.statements)
    assert {("table", "public", "plain"), ("table", "Mixed", "Case"),
            ("table", "public", "parts_2024"), ("view", "public", "mv"),
            ("view", "s", "v2"), ("extension", "pgcrypto")} <= engine.declared_relations(
                source)


def test_declared_relations_build_no_structural_model() -> None:
    """Listing what the schema declares must not build its model: at 10,000 tables that
    build was most of a push after one change."""
    source = _source("create table a (id int);\ncreate view v as select 1;\n")
    with fresh_builds():
        assert engine.declared_relations(source) == {("table", "public", "a"),
                                                     ("view", "public", "v")}
        assert _build._last_build[0] is None


def _replays(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...] | None]:
    """The migrations each replay the engine makes is asked to apply (the replays run, on
    the real server)."""
    seen: list[tuple[str, ...] | None] = []
    real = engine.replay

    def counted(folder, *args, **kw):  # type: ignore[no-untyped-def]
        seen.append(None if kw.get("only") is None else tuple(kw["only"]))
        return real(folder, *args, **kw)

    monkeypatch.setattr(engine, "replay", counted)
    return seen


def test_migrate_into_an_empty_database_replays_no_pending_migration(
        project: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whether the database already has what a pending migration makes is only worth a
    replay of that migration when the database differs from what the applied ones made:
    an empty database ran the whole history twice (76% of migrate at 10,000 tables)."""
    from tests.test_cli_push import run, write
    from trimtab.config import load_config

    write(project, "CREATE TABLE a (id int PRIMARY KEY);\n")
    assert run(project, "generate", "--url", db_url).returncode == 0
    cfg = load_config(project, url=db_url, environ={})
    seen = _replays(monkeypatch)
    result, _ = engine.migrate(cfg)
    assert [r.name for r in result.runs] and all(r.status == "applied" for r in result.runs)
    pending = {p.stem for p in (project / "migrations").glob("*.sql")}
    assert not [only for only in seen if only is None or pending & set(only)]
