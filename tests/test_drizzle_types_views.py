"""Custom types, pgvector, views, sequences and index conditions of Drizzle schemas.

Each schema is pushed by the real drizzle-kit (pinned in tests/drizzle_kit.py) into one
fresh database and by `trimtab push` into another; both are introspected and must be equal,
and a second `trimtab push` must plan nothing. What drizzle-kit cannot write exactly (its
index conditions with `$1`, a dataType() trimtab cannot evaluate, a query-builder view with
a join) is an error on its own range.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests import drizzle_kit
from tests.test_cli_push import run
from tests.test_drizzle_schema import _differences, _introspect, fresh_db
from trimtab.plan import build_plan
from trimtab.sources.drizzle import read_drizzle

__all__ = ["fresh_db"]  # the fixture, used by name

needs_node = pytest.mark.skipif(drizzle_kit.missing_tool() is not None,
                                reason=drizzle_kit.missing_tool() or "")

HEAD = (
    'import { sql, eq, ne, gt, gte, lt, lte, and, or, not, isNull, isNotNull, inArray, '
    'notInArray, like, ilike, between } from "drizzle-orm";\n'
    'import { pgTable, pgSchema, pgView, pgMaterializedView, pgSequence, customType, integer, '
    'text, varchar, boolean, vector, halfvec, sparsevec, bit, index, uniqueIndex } '
    'from "drizzle-orm/pg-core";\n'
)

TYPES = HEAD + '''
const bytea = customType<{ data: Buffer }>({
  dataType() {
    return "bytea";
  },
});
const tsvector = customType<{ data: string }>({ dataType: () => "tsvector" });
const citext = customType<{ data: string }>({ dataType() { return "citext"; } });
const money = customType<{ data: string; config: { precision?: number; scale?: number } }>({
  dataType(config) {
    return `numeric(${config?.precision ?? 12}, ${config?.scale ?? 2})`;
  },
  toDriver(value: string) { return value; },
});
const encrypted = customType<{ data: string }>({
  dataType() { return "text"; },
  toDriver(value: string) { return value; },
  fromDriver(value: unknown) { return String(value); },
});

export const documents = pgTable("documents", {
  id: integer().primaryKey(),
  title: varchar({ length: 200 }).notNull(),
  body: bytea("body"),
  search: tsvector(),
  email: citext(),
  price: money({ precision: 10, scale: 4 }),
  fee: money(),
  secret: encrypted(),
  tags: citext().array(),
  archived: boolean(),
  parent: integer(),
  embedding: vector({ dimensions: 3 }),
  half: halfvec({ dimensions: 3 }),
  sparse: sparsevec({ dimensions: 5 }),
  flags: bit({ dimensions: 4 }),
}, (t) => [
  index("documents_embedding_hnsw").using("hnsw", t.embedding.op("vector_cosine_ops")),
  index("documents_embedding_ivf").using("ivfflat", t.embedding.op("vector_l2_ops"))
    .with({ lists: 100 }),
  index("documents_half_hnsw").using("hnsw", t.half.op("halfvec_l2_ops")).with({ m: 16 }),
  index("documents_search").using("gin", t.search),
  uniqueIndex("documents_live_title").on(t.title).where(isNull(t.archived)),
  index("documents_children").on(t.parent).where(and(isNotNull(t.parent),
    or(ne(t.parent, t.id), not(isNull(t.title))))),
  index("documents_self").on(t.id).where(inArray(t.parent, [t.id, sql`0`])),
  index("documents_sql").on(t.title).where(sql`${t.archived} is not true`),
  index("documents_cmp").on(t.id).where(and(eq(t.parent, sql`1`), gt(t.id, sql`0`),
    lte(t.id, sql`100`))),
]);
'''

VIEWS = HEAD + '''
export const app = pgSchema("app");

export const users = pgTable("users", {
  id: integer().primaryKey(),
  name: text().notNull(),
  age: integer(),
  active: boolean(),
});

export const members = app.table("members", {
  id: integer().primaryKey(),
  nick: text(),
});

export const adults = pgView("adults", { id: integer(), name: text() })
  .as(sql`select ${users.id}, ${users.name} from ${users} where ${users.age} >= ${18}`);
export const legacy = pgView("legacy", { id: integer() }).existing();
export const older = pgView("older").with({ checkOption: "cascaded", securityBarrier: true,
  securityInvoker: true })
  .as((qb) => qb.select().from(users).where(and(gt(users.age, 65), eq(users.active, true))));
export const names = pgView("names").as((qb) => qb.selectDistinct({ name: users.name })
  .from(users).where(or(like(users.name, "A%"), inArray(users.age, [1, 2]),
    between(users.age, 3, 4), ilike(users.name, "o'b%"), isNull(users.age))));
export const stats = pgMaterializedView("stats", { total: integer() }).using("heap")
  .with({ fillfactor: 70, autovacuumEnabled: false }).tablespace("pg_default").withNoData()
  .as(sql`select count(*) as total from ${users}`);
export const nicks = app.view("nicks").as((qb) => qb.select({ id: members.id, nick: members.nick })
  .from(members).where(notInArray(members.id, [7])));
export const nickCount = app.materializedView("nick_count")
  .as((qb) => qb.select({ id: members.id }).from(members).where(lt(members.id, 1000)));

export const invoiceNumbers = pgSequence("invoice_numbers", { startWith: 1000, increment: 5,
  minValue: 1000, maxValue: 999999, cache: 10, cycle: true });
export const ticketNumbers = app.sequence("ticket_numbers", { increment: -1 });
export const plain = pgSequence("plain");
export const lowAge = pgView("low_age").as((qb) => qb.select({ id: users.id }).from(users)
  .where(gte(users.age, 0)));
'''


def _project(root: Path, schema: str, schemas: tuple[str, ...]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "schema.ts").write_text(schema)
    (root / "drizzle.config.ts").write_text(
        'export default {\n  dialect: "postgresql",\n  schema: "./schema.ts",\n'
        f'  schemaFilter: {json.dumps(list(schemas))},\n}};\n')


def _extensions(url: str, *names: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for n in names:
            conn.execute(f"CREATE EXTENSION IF NOT EXISTS {n}")  # type: ignore[arg-type]


def _same_as_drizzle_kit(tmp_path: Path, fresh_db: Callable[[], str], schema: str,
                         extensions: tuple[str, ...] = (),
                         schemas: tuple[str, ...] = ("public",)) -> None:
    """drizzle-kit push into A, `trimtab push` (twice) into B: equal databases, and the
    second push plans nothing."""
    read = read_drizzle({"schema.ts": schema})
    assert not read.errors, [(i.span.line, i.message) for i in read.errors]
    a, b = fresh_db(), fresh_db()
    _extensions(a, *extensions)
    _extensions(b, *extensions)
    # drizzle-kit push creates the schemaFilter's schemas only ("public" by default)
    pushed = drizzle_kit.push([("schema.ts", schema)], ["schema.ts"], a, schema_filter=schemas)
    assert pushed.returncode == 0 and "Changes applied" in pushed.output, pushed.output
    _project(tmp_path / "p", schema, schemas)
    first = run(tmp_path / "p", "push", "--url", b)
    assert first.returncode == 0, first.stdout + first.stderr
    second = run(tmp_path / "p", "push", "--json", "--url", b)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["changes"] == [], second.stdout
    model_a, model_b = _introspect(a), _introspect(b)
    steps = [s for step in build_plan(model_a, model_b).steps for s in step.sql]
    assert not steps, "\n".join(steps) + "\n\n" + pushed.output + "\n\n" + read.sql
    assert not _differences(model_a, model_b), "\n".join(_differences(model_a, model_b))


@needs_node
def test_custom_types_pgvector_and_index_conditions_as_drizzle_kit(
        tmp_path: Path, fresh_db: Callable[[], str]) -> None:
    _same_as_drizzle_kit(tmp_path, fresh_db, TYPES, ("vector", "citext"))


@needs_node
def test_views_materialized_views_and_sequences_as_drizzle_kit(
        tmp_path: Path, fresh_db: Callable[[], str]) -> None:
    _same_as_drizzle_kit(tmp_path, fresh_db, VIEWS, schemas=("public", "app"))


def test_view_ddl_is_drizzle_kits() -> None:
    """The text drizzle-kit 0.31 writes for these views (recorded from its generate)."""
    sql = read_drizzle({"schema.ts": VIEWS}).sql
    assert ('CREATE VIEW "public"."older" WITH (check_option = cascaded, security_barrier = '
            'true, security_invoker = true) AS (select "id", "name", "age", "active" from '
            '"users" where ("users"."age" > 65 and "users"."active" = true))') in sql
    assert ('CREATE MATERIALIZED VIEW "public"."stats" USING "heap" WITH (fillfactor = 70, '
            'autovacuum_enabled = false) TABLESPACE pg_default AS (select count(*) as total '
            'from "users") WITH NO DATA') in sql
    assert ('AS (select distinct "name" from "users" where ("users"."name" like \'A%\' or '
            '"users"."age" in (1, 2) or "users"."age" between 3 and 4 or "users"."name" ilike '
            '\'o\'\'b%\' or "users"."age" is null))') in sql
    assert '"legacy"' not in sql  # .existing(): drizzle-kit does not create it


def _errors(body: str) -> list[tuple[str, str]]:
    text = HEAD + body
    r = read_drizzle({"schema.ts": text})
    return [(text[i.span.start_offset:i.span.end_offset], i.message) for i in r.errors]


def test_an_index_condition_with_a_value_is_an_error_as_drizzle_kit_writes_a_parameter() -> None:
    errors = _errors('export const t = pgTable("t", { a: integer() },\n'
                     '  (t) => [index("i").on(t.a).where(eq(t.a, 3))]);\n')
    assert len(errors) == 1 and "query parameter ($1)" in errors[0][1], errors


def test_a_custom_type_trimtab_cannot_evaluate_is_an_error_at_the_column() -> None:
    errors = _errors(
        'const odd = customType<{ data: string }>({\n'
        '  dataType(config) { if (config) { return "text"; } return "int"; },\n'
        '});\n'
        'export const t = pgTable("t", { a: odd(), b: integer() });\n')
    assert len(errors) == 1, errors
    spanned, message = errors[0]
    assert spanned == "odd()" and "cannot compute the type of this customType" in message


def test_a_view_query_with_a_join_is_an_error_at_the_join() -> None:
    errors = _errors(
        'export const t = pgTable("t", { a: integer() });\n'
        'export const u = pgTable("u", { a: integer() });\n'
        'export const v = pgView("v").as((qb) => qb.select().from(t)'
        '.leftJoin(u, eq(t.a, u.a)));\n')
    assert len(errors) == 1, errors
    assert errors[0][0].startswith("leftJoin(") and "view" in errors[0][1]


def test_a_pgvector_column_needs_its_dimensions() -> None:
    errors = _errors('export const t = pgTable("t", { e: vector() });\n')
    assert errors == [("vector()", "vector() needs { dimensions }")], errors


EXISTING = HEAD + '''
export const users = pgTable("users", { id: integer().primaryKey(), name: text() });
export const legacy = pgView("legacy", { id: integer() }).existing();
export const totals = pgMaterializedView("totals", { n: integer() }).existing();
'''
EXISTING_LIVE = """
CREATE TABLE users (id integer PRIMARY KEY, name text);
CREATE VIEW legacy AS SELECT id FROM users;
CREATE MATERIALIZED VIEW totals AS SELECT count(*)::int AS n FROM users;
"""


def _views(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
            "AND relkind IN ('v', 'm') ORDER BY 1").fetchall()]


@needs_node
def test_an_existing_view_in_the_database_is_left_alone_as_drizzle_kit_does(
        tmp_path: Path, fresh_db: Callable[[], str]) -> None:
    a, b = fresh_db(), fresh_db()
    for url in (a, b):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(EXISTING_LIVE)
    pushed = drizzle_kit.push([("schema.ts", EXISTING)], ["schema.ts"], a)
    assert pushed.returncode == 0, pushed.output
    assert _views(a) == ["legacy", "totals"], pushed.output
    _project(tmp_path / "p", EXISTING, ("public",))
    plan = run(tmp_path / "p", "push", "--json", "--dry-run", "--url", b)
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout)["changes"] == [], plan.stdout
    pushed_b = run(tmp_path / "p", "push", "--url", b)
    assert pushed_b.returncode == 0, pushed_b.stdout + pushed_b.stderr
    assert _views(b) == ["legacy", "totals"]
