"""trimtab.lsp.ts_completion, the pure part of completion in a Drizzle schema.ts: a real read
of the schema by the Drizzle reader, a model read from SQL, the text and the cursor."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from trimtab import engine
from trimtab.config import load_config
from trimtab.lsp import ts_completion as tc
from trimtab.model import Model
from trimtab.sources.drizzle import read_drizzle
from trimtab.sources.sqlfile import split_statements, structural_model

SRC = """import {
  pgTable, pgSchema, integer, text, index, primaryKey, type AnyPgColumn,
} from "drizzle-orm/pg-core";
import { sql } from "drizzle-orm";

export const app = pgSchema("app");
export const mood = app.enum("mood", ["happy", "sad"]);
// é café 🐘: characters, not bytes
export const people = app.table("people", {
  id: integer("id").primaryKey(),
  parentId: integer("parent_id").references((): AnyPgColumn => people.id),
  fullName: text("full_name"),
});
export const tags = pgTable("tags", {
  personId: integer("person_id"),
  "label": text(),
}, (t) => ({ pk: primaryKey({ columns: [t.personId, t.label] }) }));
"""


def catalog(src: str = SRC, name: str = "schema.ts") -> tc.Catalog:
    return tc.catalog(read_drizzle({name: src}), {name: src})


def live(sql: str) -> Model:
    return structural_model(split_statements(sql, "live.sql"))[0]


def at(old: str, new: str, src: str = SRC, cat: tc.Catalog | None = None,
       **kw: object) -> list[tc.Item]:
    """Items with ``old`` replaced by ``new``, the cursor at ``new``'s ``|``."""
    assert old in src
    text = src.replace(old, new.replace("|", ""), 1)
    return tc.complete(text, src.index(old) + new.index("|"), cat or catalog(src),
                       **kw)  # type: ignore[arg-type]


def labels(items: list[tc.Item]) -> list[str]:
    return [i.label for i in items]


def test_the_catalog_names_tables_and_columns_as_the_typescript_does() -> None:
    cat = catalog()
    people = cat.by_var("people")
    assert people is not None and (people.schema, people.name) == ("app", "people")
    assert [(c.prop, c.name, c.type) for c in people.columns] == [
        ("id", "id", "integer"), ("parentId", "parent_id", "integer"),
        ("fullName", "full_name", "text")]
    tags = cat.by_name("tags")
    assert tags is not None and [c.prop for c in tags.columns] == ["personId", "label"]
    assert [(e.var, e.schema, e.name, e.values) for e in cat.enums] == [
        ("mood", "app", "mood", ("happy", "sad"))]


def test_references_offer_tables_then_columns() -> None:
    got = at("people.id)", "p|)")
    assert labels(got) == ["people", "tags"]
    assert got[0].detail == "table app.people"
    got = at("people.id)", "people.|)")
    assert labels(got) == ["id", "parentId", "fullName"]
    assert got[2].detail == "column full_name text of app.people"
    assert at("people.id)", "nobody.|)") == []


def test_references_offer_what_only_the_database_has() -> None:
    db = live("CREATE SCHEMA app; CREATE TABLE app.people (id int, full_name text, "
              "born date); CREATE TABLE audit_log (id int);")
    got = at("people.id)", "|)", live=db)
    assert labels(got) == ["people", "tags", "auditLog"]
    assert "not in the schema" in got[2].detail
    got = at("people.id)", "people.|)", live=db)
    assert labels(got) == ["id", "parentId", "fullName", "born"]
    assert "born" in got[3].detail and "not in the schema" in got[3].detail


def test_column_lists_inside_the_table_callback() -> None:
    old = "[t.personId, t.label]"
    assert labels(at(old, "[t.personId, |]")) == ["t.personId", "t.label"]
    assert labels(at(old, "[t.|]")) == ["personId", "label"]
    assert at(old, "[x.|]") == []  # not the callback's parameter: TypeScript's
    got = at("pk: primaryKey", "ix: index(\"x\").on(|), pk: primaryKey")
    assert labels(got) == ["t.personId", "t.label"]
    assert got[0].insert == "t.personId" and got[0].detail == \
        "column person_id integer of tags"


def test_builders_after_a_column_key() -> None:
    old = 'fullName: text("full_name"),'
    got = at(old, "nickName: |")
    by = {i.label: i for i in got}
    assert labels(got)[:3] == ['mood("nick_name")', 'text("nick_name")',
                               'varchar("nick_name", { length: 256 })']
    assert by['varchar("nick_name", { length: 256 })'].insert == \
        'varchar("nick_name", { length: ${1:256} })'
    assert by['varchar("nick_name", { length: 256 })'].snippet
    assert not any(label.startswith("vector") for label in by)
    # imports: `text` is imported, `varchar` goes after the last name, `mood` is local
    assert by['text("nick_name")'].edits == ()  # type: ignore[attr-defined]
    end = SRC.index(", type AnyPgColumn,") + len(", type AnyPgColumn")
    assert by['varchar("nick_name", { length: 256 })'].edits == (  # type: ignore[attr-defined]
        (end, ", varchar"),)
    assert by['mood("nick_name")'].edits == ()  # type: ignore[attr-defined]
    # a casing option names the column: no name
    assert labels(at(old, "nickName: |", casing="snake_case"))[:2] == ["mood()", "text()"]
    got = at(old, "nickName: |", extensions=("vector",))
    assert 'vector("nick_name", { dimensions: 1536 })' in labels(got)


def test_the_live_columns_type_comes_first() -> None:
    db = live("CREATE SCHEMA app; CREATE TYPE app.mood AS ENUM ('happy', 'sad');"
              "CREATE TABLE app.people (id int, nick_name varchar(40), m app.mood, "
              "at timestamptz, n numeric(8, 3));")
    old = 'fullName: text("full_name"),'
    for key, first in (("nickName", 'varchar("nick_name", { length: 40 })'),
                       ("m", 'mood("m")'),
                       ("at", 'timestamp("at", { withTimezone: true })'),
                       ("n", 'numeric("n", { precision: 8, scale: 3 })')):
        got = at(old, f"{key}: |", live=db)
        assert got[0].label == first and "database" in got[0].detail, (key, got[0])
        assert labels(got).count(first) == 1


def test_an_import_is_written_where_there_is_none() -> None:
    src = 'import { sql } from "drizzle-orm";\nexport const t1 = pgTable("t1", {\n  a: x,\n});\n'
    got = {i.label: i for i in at("a: x", "a: |", src=src)}
    assert got['text("a")'].edits == (  # type: ignore[attr-defined]
        (len('import { sql } from "drizzle-orm";'),
         '\nimport { text } from "drizzle-orm/pg-core";'),)
    star = 'import * as p from "drizzle-orm/pg-core";\n' + src
    got = {i.label: i for i in at("a: x", "a: |", src=star)}
    assert got['text("a")'].edits == ()  # type: ignore[attr-defined]


def test_sql_templates_offer_the_databases_names() -> None:
    src = SRC.replace('fullName: text("full_name"),',
                      'fullName: text("full_name"),\n'
                      '  initials: text("initials").generatedAlwaysAs(sql`left(x, 1)`),')
    got = at("sql`left(x, 1)`", "sql`left(f|`", src=src)
    assert labels(got) == ["id", "parent_id", "full_name", "initials", "app.people", "tags"]
    got = at("sql`left(x, 1)`", "sql`(SELECT 1 FROM tags WHERE tags.|)`", src=src)
    assert labels(got) == ["person_id", "label"]
    assert at("sql`left(x, 1)`", "sql`left(${|}`", src=src) == []  # TypeScript's


def test_positions_typescript_owns_get_nothing() -> None:
    old = 'fullName: text("full_name"),'
    for new in ('fullName: text(|"full_name"),', 'fullName: text("full_name").|x(),',
                'fullName: text("full_name").default(|),', 'ful|lName: text("full_name"),'):
        assert at(old, new) == [], new
    assert at("export const tags", "export const |tags") == []
    assert tc.complete("", 0, tc.Catalog()) == []


def test_merge_keeps_what_a_broken_read_lost() -> None:
    before = catalog()
    broken = SRC.replace('export const tags = pgTable("tags", {', "export const tags = (")
    now = catalog(broken)
    assert now.by_name("tags") is None
    merged = tc.merge(now, before)
    assert merged.by_name("tags") is not None and merged.by_var("people") is not None
    assert len(merged.tables) == 2 and tc.merge(now, None) is now


def test_tsx_files_parse_as_tsx() -> None:
    src = SRC + "export const el = <div>{1}</div>;\n"
    assert labels(at("people.id)", "people.|)", src=src, cat=catalog(src, "schema.tsx"),
                     tsx=True)) == ["id", "parentId", "fullName"]


def test_spread_columns_keep_their_helpers_property_names() -> None:
    """``...timestamps()`` from another file: `t.createdAt`, not the database's name."""
    root = Path(__file__).resolve().parent.parent / "fixtures" / "drizzle" / "multifile"
    ds, texts = engine.read_drizzle_schema(load_config(root))
    cat = tc.catalog(ds, texts)
    posts = cat.by_var("posts")
    assert posts is not None and posts.file.endswith("posts.ts")
    assert [(c.prop, c.name) for c in posts.columns if c.name.endswith("_at")] == [
        ("createdAt", "created_at"), ("updatedAt", "updated_at")]
    billing = cat.by_var("invoices")
    assert billing is not None and billing.schema == "billing"


PIECES = ["(", ")", "{", "}", "[", "]", ",", ":", ".", "`", "${", "'", '"', "//", "/*",
          "\n", " ", "=>", "🐘", "é", "\r", "sql`", ".references(() => ", ".on(", "t.",
          "export const ", "pgTable(", "x: "]


@settings(max_examples=100, deadline=None)
@given(edits=st.lists(st.tuples(st.floats(0, 1), st.lists(st.one_of(
    st.sampled_from(PIECES), st.text(max_size=3)), max_size=4).map("".join)),
    min_size=1, max_size=4), cursor=st.floats(0, 1))
def test_any_text_and_cursor_answer_without_raising(edits: list[tuple[float, str]],
                                                    cursor: float) -> None:
    text = SRC
    for where, insert in edits:
        k = int(where * len(text))
        text = text[:k] + insert + text[k:]
    got = tc.complete(text, int(cursor * len(text)), CATALOG,
                      live=live("CREATE TABLE audit_log (id int);"), extensions=("vector",))
    assert all(isinstance(i, tc.Item) and i.label for i in got)
    for i in got:
        for offset, _ in getattr(i, "edits", ()):
            assert 0 <= offset <= len(text)


CATALOG = catalog()


def test_a_table_of_another_file_comes_with_its_import() -> None:
    root = Path(__file__).resolve().parent.parent / "fixtures" / "drizzle" / "multifile"
    ds, texts = engine.read_drizzle_schema(load_config(root))
    cat = tc.catalog(ds, texts)
    posts = str(root / "src" / "db" / "schema" / "posts.ts")
    src = texts[posts]
    old = "references(() => posts.id)"
    text = src.replace(old, "references(() => )", 1)
    got = {i.label: i for i in tc.complete(text, src.index(old) + len("references(() => "),
                                           cat, path=posts)}
    # users is imported already (`./users.js`), posts is this file's, invoices is not
    assert got["users"].detail == "table users (./users.js)"
    assert got["users"].edits == ()  # type: ignore[attr-defined]
    assert not isinstance(got["posts"], tc.TsItem)
    header = 'import { users } from "./users.js";'
    assert got["invoices"].edits == (  # type: ignore[attr-defined]
        (text.index(header) + len(header), '\nimport { invoices } from "./billing.js";'),)
    assert got["invoices"].detail == "table billing.invoices (./billing.js)"


def test_what_the_database_has_and_the_file_lacks_is_declared_in_place() -> None:
    db = live("CREATE SCHEMA app; CREATE TABLE app.people (id int, full_name text, "
              "nick varchar(20) NOT NULL, born date, spot point); CREATE TABLE app.orders "
              "(id int); CREATE TABLE audit_log (id bigint); CREATE TABLE tags "
              "(person_id int, label text, color text);")
    # a table's name: the undeclared tables, of public for pgTable, of the others for
    # a pgSchema's .table
    assert labels(at('pgTable("tags"', 'pgTable("|"', live=db)) == ["audit_log"]
    assert labels(at('app.table("people"', 'app.table("a|"', live=db)) == ["orders"]
    # a new property in a table's columns: the live columns it lacks, as properties
    old = '  fullName: text("full_name"),\n'
    got = at(old, old + "  |\n", live=db)
    assert [(i.label, i.insert) for i in got] == [
        ("nick", 'nick: varchar("nick", { length: 20 }).notNull(),'),
        ("born", 'born: date("born"),')]  # (no builder for point: not offered)
    assert "not in the schema" in got[0].detail
    # what the object declares already (by key or by name) is not offered again
    got = at(old, old + '  ni|\n  x: date("born"),\n', live=db)
    assert labels(got) == ["nick"]
    assert labels(at('  "label": text(),\n', '  "label": text(),\n  |\n', live=db)) == \
        ["color"]
    assert at(old, old + "  |\n") == []  # no database, nothing to offer


def test_an_options_object_is_not_a_tables_columns() -> None:
    db = live("CREATE TABLE tags (person_id int, label text, length int, viewer text);")
    old = '  "label": text(),\n'
    assert at(old, '  "label": varchar("label", { |}),\n', live=db) == []
    # a default's string names no column: `viewer` is still missing
    got = at(old, '  "label": text().default("viewer"),\n  |\n', live=db)
    assert labels(got) == ["length", "viewer"]
