"""Drizzle schemas: trimtab's reader against the real drizzle-kit, spans and issues.

The comparison: for each folder of fixtures/drizzle/, drizzle-kit (pinned, installed from
npm into a cache folder) pushes the schema into a fresh database A; trimtab's DDL for the
same files goes into a fresh database B; both are introspected, and the plan between them
must be empty.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg import sql as pgsql

from tests import drizzle_kit
from tests.conftest import PgServer, with_database
from trimtab.model import Model
from trimtab.plan import build_plan
from trimtab.sources.drizzle import DrizzleSchema, read_drizzle, read_drizzle_config
from trimtab.sources.introspect import introspect

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "drizzle"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "drizzle.config.ts").is_file())


# --------------------------------------------------------------------------------------
# Helpers


@pytest.fixture
def fresh_db(pg_server: PgServer) -> Iterator[Callable[[], str]]:
    """make() -> the URL of a new empty database (all dropped afterwards)."""
    made: list[str] = []

    def make() -> str:
        name = f"d_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
            conn.execute(pgsql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                pgsql.Identifier(name), pgsql.Identifier(pg_server.template)))
        made.append(name)
        return with_database(pg_server.admin_url, name)

    yield make
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        for name in made:
            conn.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                pgsql.Identifier(name)))


def _introspect(url: str) -> Model:
    with psycopg.connect(url, autocommit=True) as conn:
        return introspect(conn)


def _apply(url: str, schema: DrizzleSchema) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for st in schema.statements:
            conn.execute(st.text.encode())  # type: ignore[arg-type]


def _read_case(case: str) -> tuple[DrizzleSchema, list[Path], str | None, tuple[str, ...] | None]:
    config = read_drizzle_config(FIXTURES / case / "drizzle.config.ts")
    files = config.schema_files()
    assert files, f"{case}: no schema files"
    return read_drizzle(files, casing=config.casing), files, config.casing, config.schema_filter


def _differences(a: Model, b: Model) -> list[str]:
    out = []
    for attr in ("schemas", "types", "sequences", "tables", "views", "functions", "extensions"):
        da, db = getattr(a, attr), getattr(b, attr)
        for key in sorted(set(da) | set(db)):
            if da.get(key) != db.get(key):
                out.append(f"{key}:\n  drizzle-kit: {da.get(key)}\n  trimtab:     {db.get(key)}")
    return out


# --------------------------------------------------------------------------------------
# The comparison with drizzle-kit


@pytest.mark.parametrize("case", CASES)
def test_same_database_as_drizzle_kit(case: str, fresh_db: Callable[[], str]) -> None:
    why = drizzle_kit.missing_tool()
    if why:
        pytest.skip(why)
    schema, files, casing, schema_filter = _read_case(case)
    assert not schema.errors, "\n".join(f"{i.span.file}:{i.span.line}:{i.span.column}: "
                                        f"{i.message}" for i in schema.errors)
    root = FIXTURES / case
    a = fresh_db()
    project = [(str(f.relative_to(root)), f.read_text()) for f in sorted(root.rglob("*.ts"))
               if f.name != "drizzle.config.ts"]
    pushed = drizzle_kit.push(project, [str(f.resolve().relative_to(root)) for f in files], a,
                              casing=casing, schema_filter=schema_filter)
    # push exits 0 on several failures: its own words say whether it applied the schema
    assert pushed.returncode == 0 and "Changes applied" in pushed.output, pushed.output
    b = fresh_db()
    _apply(b, schema)
    model_a, model_b = _introspect(a), _introspect(b)
    plan = build_plan(model_a, model_b)
    steps = [s for step in plan.steps for s in step.sql]
    assert not steps, ("trimtab's DDL differs from drizzle-kit's database:\n"
                       + "\n".join(steps) + "\n\n" + pushed.output + "\n\n" + schema.sql)
    assert not _differences(model_a, model_b), "\n".join(_differences(model_a, model_b))


# --------------------------------------------------------------------------------------
# Issues: everything not understood, on its exact range

HEAD = (
    'import { sql } from "drizzle-orm";\n'
    'import { pgTable, pgEnum, pgSchema, integer, bigint, text, jsonb, index, check, '
    'primaryKey } from "drizzle-orm/pg-core";\n'
)


def _issues(body: str, **kw: object) -> tuple[DrizzleSchema, list[tuple[str, str, int, int, str]]]:
    """The schema of HEAD + body, and its issues as (severity, spanned text, line,
    column, message)."""
    text = HEAD + body
    r = read_drizzle({"schema.ts": text}, **kw)  # type: ignore[arg-type]
    out = [(i.severity, text[i.span.start_offset:i.span.end_offset], i.span.line,
            i.span.column, i.message) for i in r.issues]
    return r, out


def test_unknown_builder_is_an_error_on_its_name() -> None:
    r, issues = _issues(
        'import { customThing } from "some-lib";\n'
        'export const t = pgTable("t", {\n'
        '  a: customThing("x").notNull(),\n'
        "  b: integer(),\n"
        "});\n")
    assert issues == [("error", "customThing", 5, 6,
                       "trimtab does not understand this builder yet: customThing "
                       "(imported from 'some-lib')")]
    # the column is left out, the rest of the table stays
    assert '"b" integer' in r.sql and '"a"' not in r.sql


def test_unknown_modifier_is_an_error_on_its_call() -> None:
    _, issues = _issues('export const t = pgTable("t", {\n  a: integer().notNull().foo(1),\n});\n')
    assert issues == [("error", "foo(1)", 4, 26,
                       "trimtab does not understand this builder yet: .foo(...)")]


def test_computed_values_spreads_and_unresolved_names() -> None:
    r, issues = _issues(
        'export const t = pgTable("t", {\n'
        "  a: integer().default(Math.random()),\n"
        "  b: text(NAME),\n"
        "  ...mystery,\n"
        "  [computed]: integer(),\n"
        "  c: integer(),\n"
        "});\n")
    assert [(s, t, line, col) for s, t, line, col, _ in issues] == [
        ("error", "mystery", 6, 6),
        ("error", "computed", 7, 4),
        ("error", "Math.random()", 4, 24),
        ("error", "NAME", 5, 11),
    ]
    assert issues[2][4] == "trimtab cannot compute this value (trimtab cannot resolve `Math`)"
    assert r.errors and '"c" integer' in r.sql


def test_sql_parameter_and_unnamed_expression_index() -> None:
    _, issues = _issues(
        'export const t = pgTable("t", { i: integer() }, (t) => [\n'
        "  check(\"c1\", sql`${t.i} > ${5}`),\n"
        "  index().on(sql`lower(${t.i})`),\n"
        "]);\n")
    assert [(s, t, line, col) for s, t, line, col, _ in issues] == [
        ("error", "5", 4, 30),
        ("error", "index().on(sql`lower(${t.i})`)", 5, 3),
    ]
    assert "query parameter" in issues[0][4]
    assert "needs a name" in issues[1][4]


def test_what_drizzle_kit_itself_fails_on() -> None:
    _, issues = _issues(
        'export const t = pgTable("t", {\n'
        "  a: bigint(),\n"
        "  b: integer().default(10n),\n"
        "  c: integer().primaryKey(),\n"
        "  d: integer(),\n"
        "}, (t) => [primaryKey({ columns: [t.c, t.d] }), index(\"x\").on(t.d), "
        "index(\"x\").on(t.c)]);\n")
    assert [(s, t) for s, t, *_ in issues] == [
        ("error", "bigint()"),
        ("error", "default(10n)"),
        ("error", "primaryKey({ columns: [t.c, t.d] })"),
        ("error", 'index("x").on(t.c)'),
    ]


def test_warnings_keep_the_model() -> None:
    r, issues = _issues(
        'const mood = pgEnum("mood", ["a"]);\n'
        'const hidden = pgTable("hidden", { id: integer() });\n'
        'export const t = pgTable("t", {\n'
        "  e: text().notNull().array(),\n"
        "  f: mood(),\n"
        "  j: jsonb().default({ \"it's\": 1 }),\n"
        "});\n")
    assert not r.errors
    assert [(s, t) for s, t, *_ in issues] == [
        ("warning", 'hidden = pgTable("hidden", { id: integer() })'),
        ("warning", "notNull()"),
        ("warning", 'pgEnum("mood", ["a"])'),
        ("warning", "default({ \"it's\": 1 })"),
    ]
    assert 'CREATE TYPE "public"."mood"' in r.sql and '"e" text[],' in r.sql
    assert "'{\"it''s\":1}'::jsonb" in r.sql and '"hidden"' not in r.sql


def test_unsupported_objects_and_unknown_exports() -> None:
    _, issues = _issues(
        'import { pgView } from "drizzle-orm/pg-core";\n'
        'export const t = pgTable("t", { id: integer() });\n'
        'export const v = pgView("v").as((qb) => qb.select().from(t));\n'
        "export const weird = makeTable();\n"
        'export const n = 1, s = "x", f = () => 2, c = process.env.X;\n'
        'import { drizzle } from "drizzle-orm/node-postgres";\n'
        "export const db = drizzle(pool, { schema: { t } });\n")
    assert [(s, t, m) for s, t, _, _, m in issues] == [  # the view is read (types_views)
        ("warning", "makeTable", "trimtab does not understand this builder yet: makeTable "
                                 "(exported as `weird`: if it declares a table, trimtab does "
                                 "not see it)"),
    ]


def test_syntax_errors_and_unreadable_files(tmp_path: Path) -> None:
    r = read_drizzle({"s.ts": 'export const t = pgTable("t", { a: integer( });\n'})
    assert any(i.message.startswith("TypeScript") and i.severity == "error" for i in r.issues)
    r = read_drizzle([tmp_path / "missing.ts"])
    assert [i.severity for i in r.issues] == ["error"] and r.sql == ""


# --------------------------------------------------------------------------------------
# Spans


def test_spans_of_the_sample() -> None:
    path = FIXTURES / "sample" / "schema.ts"
    text = path.read_text()
    r = read_drizzle([path])
    assert not r.issues

    def at(key: tuple[str, ...]) -> tuple[str, int, int]:
        s = r.spans[key]
        assert s.file == str(path)
        return text[s.start_offset:s.end_offset], s.line, s.column

    assert at(("type", "public", "role")) == (
        'pgEnum("role", ["admin", "editor", "viewer"])', 7, 25)
    assert at(("table", "public", "users"))[1:] == (9, 22)
    assert at(("column", "public", "users", "email")) == (
        'email: varchar("email", { length: 255 }).notNull().unique()', 14, 5)
    assert at(("constraint", "public", "users", "users_email_unique")) == ("unique()", 14, 56)
    assert at(("constraint", "public", "users", "users_pkey")) == ("primaryKey()", 12, 22)
    assert at(("sequence", "public", "users_id_seq")) == (
        'id: serial("id").primaryKey()', 12, 5)
    assert at(("constraint", "public", "users", "users_age_check")) == (
        'check("users_age_check", sql`${t.age} >= 0`)', 23, 5)
    assert at(("constraint", "public", "posts", "posts_author_id_users_id_fk")) == (
        'references(() => users.id, { onDelete: "cascade" })', 31, 46)
    assert at(("index", "public", "posts_created_idx")) == (
        'index("posts_created_idx").on(t.createdAt)', 38, 53)
    # every key the SQL source would give, and nothing else
    from trimtab.sources.sqlfile import object_spans

    assert set(r.spans) == set(object_spans(list(r.statements)))
    # each statement knows where it comes from
    assert len(r.origins) == len(r.statements)
    assert r.statements[0].text.startswith("CREATE TYPE") and r.origins[0] == r.spans[
        ("type", "public", "role")]


def test_spans_count_code_points_and_name_the_file() -> None:
    text = ('// héllo wörld 🐘\nimport { pgTable, integer } from "drizzle-orm/pg-core";\n'
            'export const t = pgTable("t", { /* ü */ a: integer().primaryKey() });\n')
    r = read_drizzle({"db/s.ts": text})
    s = r.spans[("column", "public", "t", "a")]
    assert (s.file, s.line, s.column, s.end_line, s.end_column) == ("db/s.ts", 3, 41, 3, 65)
    assert text[s.start_offset:s.end_offset] == "a: integer().primaryKey()"


def test_spans_across_files_and_helpers() -> None:
    files = {
        "src/columns.ts": 'import { integer } from "drizzle-orm/pg-core";\n'
                          "export const id = () => integer().primaryKey();\n",
        "src/schema/a.ts": 'import { pgTable, text } from "drizzle-orm/pg-core";\n'
                           'import { id } from "../columns";\n'
                           'export const a = pgTable("a", { id: id(), name: text() });\n',
        "src/schema/b.ts": 'import { pgTable, integer } from "drizzle-orm/pg-core";\n'
                           'import * as A from "./a.js";\n'
                           'export const b = pgTable("b", {\n'
                           "  aId: integer().references(() => A.a.id),\n"
                           "});\n",
    }
    # columns.ts is imported, not a schema file: its objects count only through imports
    r = read_drizzle({k: v for k, v in files.items() if "schema" in k} | {
        "src/columns.ts": files["src/columns.ts"]})
    assert not r.issues, r.issues
    assert r.spans[("constraint", "public", "a", "a_pkey")].file == "src/columns.ts"
    fk = r.spans[("constraint", "public", "b", "b_aId_a_id_fk")]
    assert (fk.file, fk.line) == ("src/schema/b.ts", 4)
    assert 'REFERENCES "public"."a"("id")' in r.sql


# --------------------------------------------------------------------------------------
# Reading details


def test_casing_config_and_column_builders_callback() -> None:
    r = read_drizzle({"s.ts": 'import { pgTable } from "drizzle-orm/pg-core";\n'
                               'export const t = pgTable("t", (c) => ({ userId: c.integer(), '
                               'Kept: c.text("KeptName") }));\n'}, casing="snake_case")
    assert '"user_id" integer' in r.sql and '"KeptName" text' in r.sql
    with pytest.raises(ValueError):
        read_drizzle({}, casing="kebab")


def test_table_creator_and_functions() -> None:
    r = read_drizzle({"s.ts": 'import { pgTableCreator, integer } from "drizzle-orm/pg-core";\n'
                               "const createTable = pgTableCreator((name) => `app_${name}`);\n"
                               "function pk() { const c = integer(); return c.primaryKey(); }\n"
                               'export const t = createTable("t", { id: pk() });\n'})
    assert not r.issues
    assert 'CREATE TABLE "public"."app_t"' in r.sql and "PRIMARY KEY" in r.sql


def test_read_drizzle_config() -> None:
    c = read_drizzle_config(FIXTURES / "multifile" / "drizzle.config.ts")
    assert (c.dialect, c.schema, c.out, c.casing, c.schema_filter) == (
        "postgresql", ("./src/db/schema/*.ts",), "./drizzle", None, ("public", "billing"))
    assert [p.name for p in c.schema_files()] == [
        "billing.ts", "enums.ts", "index.ts", "posts.ts", "users.ts"]
    assert read_drizzle_config(FIXTURES / "casing" / "drizzle.config.ts").casing == "snake_case"


def test_structural_model_reads_the_ddl() -> None:
    """The editor's fast path understands trimtab's DDL without a single issue."""
    from trimtab.sources.sqlfile import structural_model

    for case in CASES:
        schema, *_ = _read_case(case)
        model, issues = structural_model(list(schema.statements))
        assert not issues, (case, issues)
        assert {k for k in schema.spans if k[0] == "table"} == set(model.tables)


def _generated_schema(n: int) -> str:
    out = [HEAD, 'export const status = pgEnum("status", ["a", "b", "c"]);']
    for i in range(n):
        ref = (f'\n  parentId: integer("parent_id").references(() => t{i - 1}.id, '
               '{ onDelete: "cascade" }),') if i else ""
        out.append(
            f'export const t{i} = pgTable("t{i}", {{\n'
            "  id: integer().primaryKey().generatedAlwaysAsIdentity(),\n"
            '  name: text().notNull(),\n  email: text().unique(),\n'
            '  status: status().default("a"),\n  meta: jsonb().default({}),\n'
            f"  qty: integer().notNull().default(0),{ref}\n"
            f'}}, (t) => [index("t{i}_name_idx").on(t.name), '
            f'check("t{i}_qty_check", sql`${{t.qty}} >= 0`)]);')
    return "\n".join(out) + "\n"


def test_a_thousand_tables() -> None:
    # What it reads, not how fast: the reader's speed is measured in bench/ (bench.lsp --form ts).
    r = read_drizzle({"schema.ts": _generated_schema(1000)})
    assert not r.issues
    assert len(r.statements) == 1 + 1000 + 999 + 1000
    assert len([k for k in r.spans if k[0] == "table"]) == 1000


@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 0.05),
                          st.sampled_from(["", "x", "(", "{ a: 1 }", "\n", "é🐘", "`${", "//"])),
                min_size=1, max_size=6))
def test_incremental_parse_agrees_with_a_fresh_parse(edits: list[tuple[float, float, str]]) -> None:
    from trimtab.sources.drizzle._source import _parse, _parser

    text = (FIXTURES / "sample" / "schema.ts").read_text().encode()
    name = "incremental-check.ts"
    _parse(name, text)
    for at, length, insert in edits:
        a = int(at * len(text))
        b = min(len(text), a + int(length * len(text)))
        text = text[:a] + insert.encode() + text[b:]
        kept, fresh = _parse(name, text).root_node, _parser(False).parse(text).root_node
        # Valid text: the same tree. Broken text: tree-sitter's error recovery may place
        # the error differently after an edit, but it finds one all the same.
        assert kept.has_error == fresh.has_error
        if not fresh.has_error:
            assert str(kept) == str(fresh)


def test_incremental_parse_of_valid_edits_is_the_fresh_tree() -> None:
    from trimtab.sources.drizzle._source import _parse, _parser

    text = (FIXTURES / "sample" / "schema.ts").read_text()
    name = "incremental-valid.ts"
    _parse(name, text.encode())
    for old, new in [('"users"', '"people"'), ("    age: integer(\"age\"),\n", ""),
                     ("published", "isPublished"), ('    id: serial("id").primaryKey(),\n',
                      '    id: serial("id").primaryKey(),\n    extra: text("é🐘"),\n')]:
        text = text.replace(old, new, 1)
        kept = _parse(name, text.encode()).root_node
        fresh = _parser(False).parse(text.encode()).root_node
        assert not fresh.has_error and str(kept) == str(fresh)


def test_a_nul_escape_in_a_string_is_an_error_on_its_declaration(tmp_path: Path) -> None:
    """PostgreSQL would cut the DDL at a NUL character: the read says so, on the .ts."""
    from trimtab import engine
    from trimtab.config import load_config

    (tmp_path / "schema.ts").write_text(
        'import { pgTable, text } from "drizzle-orm/pg-core";\n'
        'export const t = pgTable("t", {\n  a: text("a").default("x\\0y"),\n});\n')
    (tmp_path / "trimtab.toml").write_text('schema = "schema.ts"\n')
    ds, _ = engine.read_drizzle_schema(load_config(tmp_path))
    [issue] = [i for i in ds.issues if "NUL character" in i.message]
    assert issue.severity == "error" and issue.span.line == 2
