"""Partitioned tables and the foreign keys between tables: push reaches the target and a
second plan is empty, whatever PostgreSQL does on its own along the way (a parent's
foreign key cloned onto its partitions, a detached partition keeping what it had)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from tests import test_partition_indexes
from tests.test_partition_indexes import catalog, push_converges
from trimtab import engine
from trimtab.config import Config, load_config
from trimtab.errors import UnmanagedDependency
from trimtab.plan import build_plan
from trimtab.sources.introspect import introspect
from trimtab.sources.shadow import desired_model
from trimtab.sources.sqlfile import split_statements


def _config(tmp_path: Path, db_url: str, target: str,
            schemas: tuple[str, ...] | None = None) -> Config:
    schema = tmp_path / "schema.sql"
    schema.write_text(target)
    cfg = load_config(tmp_path, schema=str(schema), url=db_url)
    return replace(cfg, managed_schemas=schemas) if schemas else cfg


def _converges(tmp_path: Path, db_url: str, admin_url: str, start: str, target: str,
               schemas: tuple[str, ...] | None = None) -> str:
    """Push ``target`` onto a database holding ``start``; its tables must then be the
    target's (constraint and index names aside, as PostgreSQL picks some) and a second
    plan empty. Returns the SQL that ran."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(start.encode())
    cfg = _config(tmp_path, db_url, target, schemas)
    result = engine.push(cfg, force=True)
    assert result.applied
    expected = desired_model(split_statements(target, "schema.sql"), admin_url,
                             cfg.managed_schemas)
    with psycopg.connect(db_url, autocommit=True) as conn:
        actual = introspect(conn, cfg.managed_schemas or sorted(
            k[1] for k in expected.schemas))
    assert _shape(actual.tables) == _shape(expected.tables)
    again = engine.push(cfg, dry_run=True)
    assert not again.plan, "second plan must be empty:\n" + again.plan.sql()
    return result.plan.sql()


def _shape(tables: dict) -> dict:
    """Each table with its columns by name and its constraints and indexes by definition."""
    return {k: (sorted((c.name, c.type, c.not_null) for c in t.columns),
                sorted((c.kind, c.definition, c.inherited) for c in t.constraints),
                sorted(i.definition.split(" ON ", 1)[1] for i in t.indexes),
                t.partition_key, t.partition_of, t.partition_bound)
            for k, t in tables.items()}


# -- a partitioned table becomes a plain one; its partitions stay as plain tables ------------

PARTITIONED = """
CREATE TABLE accounts (region text NOT NULL, id int NOT NULL, PRIMARY KEY (region, id))
    PARTITION BY LIST (region);
CREATE TABLE accounts_eu PARTITION OF accounts FOR VALUES IN ('eu');
CREATE TABLE invoices (region text NOT NULL, account int, total int)
    PARTITION BY LIST (region);
CREATE INDEX invoices_total ON invoices (total);
CREATE TABLE invoices_eu PARTITION OF invoices FOR VALUES IN ('eu');
ALTER TABLE invoices ADD CONSTRAINT invoices_account FOREIGN KEY (region, account)
    REFERENCES accounts (region, id);
"""

UNPARTITIONED = """
CREATE TABLE accounts (region text NOT NULL, id int NOT NULL, PRIMARY KEY (region, id));
CREATE TABLE accounts_eu (region text NOT NULL, id int NOT NULL, PRIMARY KEY (region, id));
CREATE TABLE invoices (region text NOT NULL, account int, total int);
CREATE INDEX invoices_total ON invoices (total);
CREATE TABLE invoices_eu (region text NOT NULL, account int, total int);
ALTER TABLE invoices ADD CONSTRAINT invoices_account FOREIGN KEY (region, account)
    REFERENCES accounts (region, id);
"""


def test_unpartitioned_parent_with_a_foreign_key_leaves_its_partitions_plain(
        tmp_path: Path, db_url: str, admin_url: str) -> None:
    # The partitions held a clone of the parent's foreign key and of its index: detached,
    # they keep them as their own, and the target's plain tables have neither.
    _converges(tmp_path, db_url, admin_url, PARTITIONED, UNPARTITIONED)


def test_a_detached_partition_keeps_the_foreign_key_it_declares(
        tmp_path: Path, db_url: str, admin_url: str) -> None:
    target = UNPARTITIONED.replace(
        "CREATE TABLE invoices_eu (region text NOT NULL, account int, total int);",
        "CREATE TABLE invoices_eu (region text NOT NULL, account int, total int);\n"
        "ALTER TABLE invoices_eu ADD CONSTRAINT invoices_account FOREIGN KEY "
        "(region, account) REFERENCES accounts_eu (region, id);")
    _converges(tmp_path, db_url, admin_url, PARTITIONED, target)


def test_partitions_become_plain_tables_with_the_parent_kept_partitioned(
        tmp_path: Path, db_url: str, admin_url: str) -> None:
    target = PARTITIONED.replace(
        "CREATE TABLE invoices_eu PARTITION OF invoices FOR VALUES IN ('eu');",
        "CREATE TABLE invoices_eu (region text NOT NULL, account int, total int);")
    _converges(tmp_path, db_url, admin_url, PARTITIONED, target)


# Before PostgreSQL 15, DETACH PARTITION drops the partition's clones of its parent's
# foreign keys that reference a partitioned table (15 and later keep them as the
# partition's own); clones of keys onto a plain table are kept by all versions.
KEPT_KEY = """
CREATE TABLE accounts (region text NOT NULL, id int NOT NULL, PRIMARY KEY (region, id))
    PARTITION BY LIST (region);
CREATE TABLE accounts_eu PARTITION OF accounts FOR VALUES IN ('eu');
CREATE TABLE invoices (region text NOT NULL, account int, total int);
CREATE INDEX invoices_total ON invoices (total);
CREATE TABLE invoices_eu (region text NOT NULL, account int, total int);
ALTER TABLE invoices ADD CONSTRAINT invoices_account FOREIGN KEY (region, account)
    REFERENCES accounts (region, id);
ALTER TABLE invoices_eu ADD CONSTRAINT invoices_account FOREIGN KEY (region, account)
    REFERENCES accounts (region, id);
"""


def test_a_detached_partition_keeps_a_clone_onto_a_partitioned_table_it_declares(
        tmp_path: Path, db_url: str, admin_url: str) -> None:
    # accounts stays partitioned; invoices becomes plain and its detached partition declares
    # the very key it held as a clone: kept from 15 on, made again before.
    sql = _converges(tmp_path, db_url, admin_url, PARTITIONED, KEPT_KEY)
    added = "ALTER TABLE public.invoices_eu ADD CONSTRAINT invoices_account"
    with psycopg.connect(db_url) as conn:
        version = conn.info.server_version
    assert (added in sql) == (version < 150000), sql


@pytest.mark.parametrize("version", [130000, 140000, 150000, 180000])
def test_detach_plans_the_clones_the_targets_version_keeps(
        tmp_path: Path, db_url: str, admin_url: str, version: int) -> None:
    """The plan follows the target's version, whatever server it was read from."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(PARTITIONED.encode())
        current = introspect(conn, ["public"])
    desired = {}
    for name, target in (("plain", UNPARTITIONED), ("kept", KEPT_KEY)):
        desired[name] = desired_model(split_statements(target, "schema.sql"), admin_url,
                                      ("public",))
    old = version < 150000
    at = replace(current, server_version=version)
    drop = "ALTER TABLE public.invoices_eu DROP CONSTRAINT invoices_account"
    add = "ALTER TABLE public.invoices_eu ADD CONSTRAINT invoices_account"
    plain = build_plan(at, replace(desired["plain"], server_version=version)).sql()
    assert (drop in plain) != old, plain  # gone with DETACH before 15: nothing to drop
    kept = build_plan(at, replace(desired["kept"], server_version=version)).sql()
    assert drop not in kept and (add in kept) == old, kept


# -- a table that a schema trimtab does not manage references ---------------------------------

OUTSIDE_START = """
CREATE TABLE plans (id int PRIMARY KEY, code text UNIQUE);
CREATE TABLE notes (id int);
CREATE SCHEMA billing;
CREATE TABLE billing.subscriptions (plan int REFERENCES plans (id));
"""


def _refused(tmp_path: Path, db_url: str, target: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(OUTSIDE_START.encode())
    cfg = _config(tmp_path, db_url, target)
    for run in (lambda: engine.push(cfg, dry_run=True), lambda: engine.push(cfg, force=True)):
        with pytest.raises(UnmanagedDependency) as e:
            run()
        text = str(e.value)
        assert "subscriptions_plan_fkey" in text and "billing.subscriptions" in text, text
        assert "public.plans" in text and "schemas" in text, text
    with psycopg.connect(db_url, autocommit=True) as conn:  # nothing was sent
        assert conn.execute("SELECT count(*) FROM pg_constraint WHERE conname = "
                            "'subscriptions_plan_fkey'").fetchone() == (1,)
        assert conn.execute("SELECT to_regclass('public.plans')").fetchone() == ("plans",)


def test_dropping_a_table_an_unmanaged_schema_references_is_refused_at_plan_time(
        tmp_path: Path, db_url: str) -> None:
    _refused(tmp_path, db_url, "CREATE TABLE notes (id int);")


def test_dropping_the_key_an_unmanaged_schema_references_is_refused_at_plan_time(
        tmp_path: Path, db_url: str) -> None:
    _refused(tmp_path, db_url,
             "CREATE TABLE plans (id int, code text UNIQUE);\nCREATE TABLE notes (id int);")


def test_generate_refuses_a_migration_that_drops_what_an_unmanaged_schema_references(
        tmp_path: Path, db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(OUTSIDE_START.encode())
    cfg = _config(tmp_path, db_url, "CREATE TABLE plans (id int PRIMARY KEY, code text UNIQUE);"
                  "\nCREATE TABLE notes (id int);")
    engine.generate(cfg, name="init")
    (tmp_path / "schema.sql").write_text("CREATE TABLE notes (id int);")
    with pytest.raises(UnmanagedDependency, match="subscriptions_plan_fkey"):
        engine.generate(cfg, name="drop_plans", force=True)
    assert len(list(cfg.migrations_dir.glob("*drop_plans*"))) == 0


def test_managing_both_schemas_drops_the_key_and_the_table(
        tmp_path: Path, db_url: str, admin_url: str) -> None:
    sql = _converges(tmp_path, db_url, admin_url, OUTSIDE_START,
                     "CREATE TABLE notes (id int);\nCREATE SCHEMA billing;\n"
                     "CREATE TABLE billing.subscriptions (plan int);",
                     schemas=("billing", "public"))
    assert "DROP CONSTRAINT subscriptions_plan_fkey" in sql


# -- a key dropped together with the table whose foreign key uses it --------------------------


def test_a_dropped_key_goes_after_the_foreign_keys_of_a_dropped_table_onto_it(
        tmp_path: Path, db_url: str, admin_url: str) -> None:
    start = """
    CREATE TABLE authors (id int PRIMARY KEY, handle text CONSTRAINT authors_handle UNIQUE);
    CREATE TABLE posts (author int REFERENCES authors (id),
                        handle text REFERENCES authors (handle));
    """
    sql = _converges(tmp_path, db_url, admin_url, start,
                     "CREATE TABLE authors (id int, handle text);")
    # posts' keys go first (posts itself goes with the other drops of tables).
    assert sql.index("DROP CONSTRAINT posts_author_fkey") < sql.index(
        "DROP CONSTRAINT authors_pkey")
    assert sql.index("DROP CONSTRAINT posts_handle_fkey") < sql.index(
        "DROP CONSTRAINT authors_handle")


def test_partitions_move_to_a_new_parent_without_the_old_parents_keys(
        tmp_path: Path, db_url: str, admin_url: str) -> None:
    # Detached first, each partition holds the old parents' cross foreign keys as its own;
    # left there, they would keep the old parent from being dropped.
    new = (PARTITIONED.replace("accounts (", "accounts_v2 (")
           .replace("OF accounts ", "OF accounts_v2 ")
           .replace("invoices (", "invoices_v2 (").replace("OF invoices ", "OF invoices_v2 ")
           .replace("TABLE invoices ADD", "TABLE invoices_v2 ADD"))
    _converges(tmp_path, db_url, admin_url, PARTITIONED, new)


# A second database the schema is run on as written, to compare catalogs with.
ref_url = test_partition_indexes.ref_url


# -- a plain table becomes a partition while it holds an index like its new parent's ----------
# At ATTACH PARTITION, PostgreSQL takes the table's first index that matches each of the
# parent's indexes as that index's copy instead of building one. Whether that is right
# depends on the schema: the same index created before the ATTACH is the copy, created
# after it is a second, local index next to the copy.

LEDGER = """
CREATE TABLE ledger (id int, region text, at date) PARTITION BY LIST (region);
CREATE INDEX ledger_at ON ledger (at);
CREATE TABLE ledger_eu (id int, region text, at date);
"""
LOCAL_INDEX = "CREATE INDEX ledger_eu_local ON ledger_eu (at);\n"
ATTACH_EU = "ALTER TABLE ledger ATTACH PARTITION ledger_eu FOR VALUES IN ('eu');\n"


def test_a_local_index_like_the_parents_stays_local_when_the_table_is_attached(
        project: Path, db_url: str, ref_url: str) -> None:
    """The schema attaches the table, then creates its index: the table ends with the copy
    of the parent's index and its own index beside it, not one index adopted as the copy."""
    plan = push_converges(project, db_url, ref_url, LEDGER + LOCAL_INDEX,
                          LEDGER + ATTACH_EU + LOCAL_INDEX)
    assert [(t, p) for t, _, p, *_ in catalog(db_url)] == [
        ("ledger", None), ("ledger_eu", "ledger_at"), ("ledger_eu", None)]
    assert plan.statements == [
        "DROP INDEX public.ledger_eu_local",
        "ALTER TABLE public.ledger ATTACH PARTITION public.ledger_eu FOR VALUES IN ('eu')",
        "CREATE INDEX ledger_eu_local ON public.ledger_eu USING btree (at)"]
    reasons = [s.change.reason for s in plan.steps if "ledger_eu_local" in " ".join(s.sql)]
    assert all(r and "ATTACH PARTITION" in r for r in reasons), reasons


def test_an_index_like_the_parents_becomes_its_copy_when_the_table_is_attached(
        project: Path, db_url: str, ref_url: str) -> None:
    """The schema creates the index, then attaches the table: ATTACH takes it as the copy
    of the parent's index, and nothing is rebuilt."""
    plan = push_converges(project, db_url, ref_url, LEDGER + LOCAL_INDEX,
                          LEDGER + LOCAL_INDEX + ATTACH_EU)
    assert [(t, p) for t, _, p, *_ in catalog(db_url)] == [
        ("ledger", None), ("ledger_eu", "ledger_at")]
    assert plan.statements == [
        "ALTER TABLE public.ledger ATTACH PARTITION public.ledger_eu FOR VALUES IN ('eu')"]


PARTITIONED_LEDGER = """
CREATE TABLE ledger (id int, region text, at date) PARTITION BY LIST (region);
CREATE TABLE ledger_eu PARTITION OF ledger FOR VALUES IN ('eu');
"""
PARENT_INDEX = "CREATE INDEX ledger_at ON ledger (at);\n"


def test_a_new_parent_index_leaves_a_partitions_local_index_alone(
        project: Path, db_url: str, ref_url: str) -> None:
    """Built over the partitions, the parent's index would take the partition's index of
    the same shape as its copy; the schema creates that one afterwards, as its own."""
    start = PARTITIONED_LEDGER + LOCAL_INDEX
    plan = push_converges(project, db_url, ref_url, start,
                          PARTITIONED_LEDGER + PARENT_INDEX + LOCAL_INDEX)
    assert [(t, p) for t, _, p, *_ in catalog(db_url)] == [
        ("ledger", None), ("ledger_eu", "ledger_at"), ("ledger_eu", None)]
    assert plan.statements == [
        "DROP INDEX public.ledger_eu_local",
        "CREATE INDEX ledger_at ON public.ledger USING btree (at)",
        "CREATE INDEX ledger_eu_local ON public.ledger_eu USING btree (at)"]


def test_a_new_parent_index_takes_the_partitions_index_as_its_copy(
        project: Path, db_url: str, ref_url: str) -> None:
    start = PARTITIONED_LEDGER + LOCAL_INDEX
    plan = push_converges(project, db_url, ref_url, start, start + PARENT_INDEX)
    assert [(t, p) for t, _, p, *_ in catalog(db_url)] == [
        ("ledger", None), ("ledger_eu", "ledger_at")]
    assert plan.statements == ["CREATE INDEX ledger_at ON public.ledger USING btree (at)"]
