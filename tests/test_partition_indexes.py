"""Indexes of partitions attached to their parent's index (ALTER INDEX ... ATTACH PARTITION).

An index on a partition may be attached to an index of its partitioned parent: PostgreSQL
does it on its own when the parent's index is built over all partitions, and the user does
it by hand after ``CREATE INDEX ... ON ONLY parent``. Until every partition has one attached,
the parent's index stays invalid. Push must end with the catalog the schema file builds
(which index is attached to which, which parent index is still invalid), and plan nothing
the second time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql as pgsql

from tests.conftest import PgServer, _execute, with_database
from tests.test_cli_push import run, write
from trimtab import engine
from trimtab.config import load_config
from trimtab.plan.changes import Plan

# Every index of the public schema: its table, its definition (named), the index it is
# attached to, whether it is valid, and the constraint it backs.
CATALOG = """
SELECT t.relname::text, pg_get_indexdef(i.indexrelid), p.relname::text, i.indisvalid,
       c.conname::text, c.contype::text, pc.conname::text
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
LEFT JOIN pg_inherits h ON h.inhrelid = i.indexrelid
LEFT JOIN pg_class p ON p.oid = h.inhparent
LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid
LEFT JOIN pg_constraint pc ON pc.oid = c.conparentid
WHERE ic.relnamespace = 'public'::regnamespace
ORDER BY 1, 2
"""


@pytest.fixture
def ref_url(pg_server: PgServer) -> Iterator[str]:
    """A second empty database: the desired schema run as written, to compare with."""
    name = f"r_{uuid.uuid4().hex[:8]}"
    _execute(pg_server.admin_url, pgsql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
        pgsql.Identifier(name), pgsql.Identifier(pg_server.template)))
    try:
        yield with_database(pg_server.admin_url, name)
    finally:
        _execute(pg_server.admin_url, pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                 .format(pgsql.Identifier(name)))


def catalog(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(CATALOG).fetchall()


def execute(url: str, text: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(text.encode())


def plan_for(project: Path, db_url: str, schema: str) -> Plan:
    write(project, schema)
    return engine.push(load_config(project, url=db_url), dry_run=True).plan  # type: ignore[return-value]


def push_converges(project: Path, db_url: str, ref_url: str, start: str,
                   schema: str) -> Plan:
    """Push ``schema`` onto a database holding ``start``: it must end with the catalog the
    schema file builds, and a second plan must be empty. Returns the first plan."""
    if start:
        execute(db_url, start)
    execute(ref_url, schema)
    first = plan_for(project, db_url, schema)
    write(project, schema)
    assert engine.push(load_config(project, url=db_url), force=True).applied
    assert catalog(db_url) == catalog(ref_url), first.statements
    again = plan_for(project, db_url, schema)
    assert not again, again.statements
    return first


EVENTS = """
CREATE TABLE events (id int, region text, at date) PARTITION BY LIST (region);
CREATE TABLE events_eu PARTITION OF events FOR VALUES IN ('eu');
CREATE TABLE events_us PARTITION OF events FOR VALUES IN ('us');
CREATE INDEX events_at ON ONLY events (at);
CREATE INDEX events_eu_at ON events_eu (at);
ALTER INDEX events_at ATTACH PARTITION events_eu_at;
CREATE INDEX events_us_at ON events_us (at);
"""
ATTACH_US = "ALTER INDEX events_at ATTACH PARTITION events_us_at;\n"


def test_a_local_index_is_attached_to_the_parents(project: Path, db_url: str,
                                                  ref_url: str) -> None:
    plan = push_converges(project, db_url, ref_url, EVENTS, EVENTS + ATTACH_US)
    assert plan.statements == ["ALTER INDEX public.events_at ATTACH PARTITION public.events_us_at"]
    assert all(valid for _, _, _, valid, *_ in catalog(db_url))


def test_a_missing_partition_index_is_built_then_attached(project: Path, db_url: str,
                                                          ref_url: str) -> None:
    start = EVENTS.replace("CREATE INDEX events_us_at ON events_us (at);\n", "")
    plan = push_converges(project, db_url, ref_url, start, EVENTS + ATTACH_US)
    assert plan.statements == [
        "CREATE INDEX events_us_at ON public.events_us USING btree (at)",
        "ALTER INDEX public.events_at ATTACH PARTITION public.events_us_at"]


@pytest.mark.parametrize("start", ["", "CREATE TABLE events (id int, region text, at date) "
                                       "PARTITION BY LIST (region);"])
def test_a_parent_index_left_invalid_is_kept_so(project: Path, db_url: str, ref_url: str,
                                                start: str) -> None:
    """ON ONLY, with one partition not attached: the parent's index stays invalid, and
    the partitions' indexes keep their own names."""
    push_converges(project, db_url, ref_url, start, EVENTS)
    assert [(t, p, v) for t, _, p, v, *_ in catalog(db_url)] == [
        ("events", None, False), ("events_eu", "events_at", True), ("events_us", None, True)]


ORDERS = """
CREATE TABLE orders (id int NOT NULL, region text NOT NULL) PARTITION BY LIST (region);
CREATE TABLE orders_eu PARTITION OF orders FOR VALUES IN ('eu');
ALTER TABLE ONLY orders ADD CONSTRAINT orders_key {kind} (region, id);
CREATE UNIQUE INDEX orders_eu_key ON orders_eu (region, id);
"""


@pytest.mark.parametrize("kind", ["PRIMARY KEY", "UNIQUE"])
def test_a_partitions_constraint_is_attached_to_the_parents(project: Path, db_url: str,
                                                            ref_url: str, kind: str) -> None:
    start = ORDERS.format(kind=kind)
    schema = start + (f"ALTER TABLE orders_eu ADD CONSTRAINT orders_eu_key {kind} "
                      "USING INDEX orders_eu_key;\n"
                      "ALTER INDEX orders_key ATTACH PARTITION orders_eu_key;\n")
    plan = push_converges(project, db_url, ref_url, start, schema)
    assert plan.statements[-1] == ("ALTER INDEX public.orders_key ATTACH PARTITION "
                                   "public.orders_eu_key")


ACCOUNTS = """
CREATE TABLE accounts (id int, tenant text, email text) PARTITION BY LIST (tenant);
{partition}CREATE UNIQUE INDEX accounts_tenant_email ON accounts (tenant, email);
"""


@pytest.mark.parametrize("kind", ["PRIMARY KEY", "UNIQUE"])
def test_a_new_partitions_constraint_backs_the_parents_unique_index(
        project: Path, db_url: str, ref_url: str, kind: str) -> None:
    """The partition's own key is the index the parent's unique index uses: no second
    index is built next to it."""
    partition = ("CREATE TABLE accounts_a PARTITION OF accounts "
                 f"(CONSTRAINT accounts_a_key {kind} (tenant, email)) FOR VALUES IN ('a');\n")
    push_converges(project, db_url, ref_url, ACCOUNTS.format(partition=""),
                   ACCOUNTS.format(partition=partition))
    assert [(t, p, c) for t, _, p, _, c, *_ in catalog(db_url)] == [
        ("accounts", None, None), ("accounts_a", "accounts_tenant_email", "accounts_a_key")]


def test_generate_writes_the_attach(project: Path, db_url: str) -> None:
    write(project, EVENTS)
    assert run(project, "generate", "--url", db_url).returncode == 0
    write(project, EVENTS + ATTACH_US)
    r = run(project, "generate", "--url", db_url, "--name", "attach")
    assert r.returncode == 0, r.stderr
    text = (project / "migrations" / "0001_attach.sql").read_text()
    assert text.strip() == ("SET lock_timeout = '5s';\n--> statement-breakpoint\n"
                            "SET statement_timeout = '0';\n--> statement-breakpoint\n"
                            "ALTER INDEX public.events_at ATTACH PARTITION "
                            "public.events_us_at;")
    # The folder's migrations, run in order, build the same catalog.
    assert run(project, "migrate", "--url", db_url).returncode == 0
    assert [(t, p, v) for t, _, p, v, *_ in catalog(db_url)] == [
        ("events", None, True), ("events_eu", "events_at", True),
        ("events_us", "events_at", True)]


# -- an index a failed CREATE INDEX CONCURRENTLY left behind ---------------------------------


def test_an_index_left_invalid_on_a_plain_table_is_rebuilt(project: Path, db_url: str,
                                                           ref_url: str) -> None:
    """A failed concurrent build leaves the index in the catalog, invalid: it enforces
    nothing and no query uses it. Push rebuilds the index the schema declares."""
    schema = ("CREATE TABLE users (id int, email text);\n"
              "CREATE UNIQUE INDEX users_email ON users (email);\n")
    execute(db_url, "CREATE TABLE users (id int, email text);\n"
                    "INSERT INTO users VALUES (1, 'a@example.com'), (2, 'a@example.com');")
    with pytest.raises(psycopg.errors.UniqueViolation):
        execute(db_url, "CREATE UNIQUE INDEX CONCURRENTLY users_email ON users (email)")
    execute(db_url, "DELETE FROM users WHERE id = 2")
    assert [(t, v) for t, _, _, v, *_ in catalog(db_url)] == [("users", False)]
    plan = push_converges(project, db_url, ref_url, "", schema)
    assert plan.statements == [
        "DROP INDEX public.users_email",
        "CREATE UNIQUE INDEX users_email ON public.users USING btree (email)"]
    assert all(s.change.reason == "left invalid by a failed build" for s in plan.steps)
    assert [(t, v) for t, _, _, v, *_ in catalog(db_url)] == [("users", True)]
