"""The editor's fast path on a schema.ts, keystroke after keystroke: each read goes on from
the last one (the Drizzle reader splices the changed tables in, the structural model reuses
the unchanged tables of its last build). Whatever it reuses, the result must be exactly
that of a cold full read: the DDL, the structural model, its issues and the diagnostics
the editor shows."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

import pytest

from bench.drizzle_schema import generate_ts
from trimtab.lsp import analysis
from trimtab.model import Model
from trimtab.sources import sqlfile
from trimtab.sources.drizzle import DrizzleSchema, _incremental, cold_read, read_drizzle, structural
from trimtab.sources.sqlfile import Issue, Span, structural_model

SCHEMA = generate_ts(12, seed=3)


def _fresh_read(name: str, text: str) -> DrizzleSchema:
    """A read with nothing kept from an earlier text (a cold start); the next read goes on
    from the last one as an editor's would."""
    return cold_read({name: text}, name)


def _fresh_model(ds: DrizzleSchema) -> tuple[Model, list[Issue]]:
    """The structural model built with nothing kept from an earlier build."""
    with sqlfile.fresh_builds():
        return structural_model(list(ds.statements))


def _ordered(m: Model) -> list[tuple[str, object]]:
    """Every part of a model, mappings in their order (what iterates them sees it)."""
    return [(f.name, list(v.items()) if isinstance(v := getattr(m, f.name), dict) else v)
            for f in fields(Model)]


def _findings(base: Model, m: Model, ds: DrizzleSchema) -> list[analysis.Finding]:
    """The fast path's diagnostics for ``m`` against ``base``, as the language server
    makes them (workspace.analyze_fast)."""
    fallback = Span(ds.statements[0].span.file if ds.statements else "schema.ts",
                    1, 1, 1, 1, 0, 0)
    cache = analysis.Skeletons()
    items = analysis.fast_changes(analysis.skeleton(base), cache.model(m), cache)
    return (analysis.hazard_findings(items, ds.spans, {}, fallback)
            + analysis.issue_findings(ds.issues, "drizzle"))


def _table(text: str, name: str) -> tuple[int, int]:
    """(start, end) of the declaration of pgTable ``name`` (its `]);` or `});`)."""
    m = re.search(r'^export const \w+ = pgTable\("' + name + r'", \{\n', text, re.M)
    assert m is not None, name
    end = min(x for x in (text.find("\n});", m.end()), text.find("\n]);", m.end()))
              if x >= 0)
    return m.start(), end + 4


def _after_head(name: str, line: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        m = re.search(r'pgTable\("' + name + r'", \{\n', text)
        assert m is not None, name
        return text[:m.end()] + line + text[m.end():]
    return edit


def _sub(old: str, new: str, count: int = 1) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, count)
    return edit


def _drop_table(name: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        a, b = _table(text, name)
        return text[:a] + text[b:].lstrip("\n")
    return edit


NEW_TABLE = '''
export const t0100Extras = pgTable("t0100_extras", {
  id: serial("id").primaryKey(),
  deviceId: bigint("device_id", { mode: "number" }).references(() => t0001Devices.id),
  mood: moodEnum("mood"),
  label: text("label").notNull(),
}, (t) => [
  index("t0100_extras_label_idx").on(t.label),
]);
'''
PREFIXED = '''
export const t0004ReportsX = pgTable("t0004_reports_x", {
  id: serial("id").primaryKey(),
  pkey: serial("pkey"),
});
'''
MOOD = 'export const moodEnum = pgEnum("mood", ["sad", "ok"]);\n'

# Real edits, one after the other, as a user makes them in the editor.
EDITS: list[tuple[str, Callable[[str], str]]] = [
    ("add a column", _after_head("t0002_suppliers", '  nickname: text("nickname"),\n')),
    ("add a NOT NULL column", _after_head("t0004_reports", '  rank: integer("rank").notNull(),\n')),
    ("add a serial column (a sequence PostgreSQL names)",
     _after_head("t0003_locations", '  seq: serial("seq"),\n')),
    ("add a foreign key", _after_head(
        "t0005_transfers",
        '  supplierRef: bigint("supplier_ref", { mode: "number" })'
        '.references(() => t0002Suppliers.id),\n')),
    ("add an index", _sub('index("t0002_suppliers_device_id_idx").on(t.deviceId),\n',
                          'index("t0002_suppliers_device_id_idx").on(t.deviceId),\n'
                          '  index("t0002_suppliers_nickname_idx").on(t.nickname),\n')),
    ("remove a column", _sub('  nickname: text("nickname"),\n', "")),
    ("rename a column", _sub('notes: text("notes")', 'notes: text("remarks")')),
    ("change a column's type", _sub('rank: integer("rank")', 'rank: bigint("rank", '
                                    '{ mode: "number" })')),
    ("add an enum", lambda text: text.replace(
        "\nexport const t0001Devices", "\n" + MOOD + "\nexport const t0001Devices", 1)),
    ("add a table", lambda text: text + NEW_TABLE),
    ("add a value to an enum", _sub('["sad", "ok"]', '["sad", "ok", "glad"]')),
    ("rename a table that foreign keys name",
     _sub('pgTable("t0002_suppliers"', 'pgTable("t0002_vendors"')),
    ("rename an enum", _sub('pgEnum("mood"', 'pgEnum("feeling"')),
    ("a second primary key (an issue)",
     _after_head("t0004_reports", '  key: uuid("key").primaryKey(),\n')),
    ("an index name another table has (an issue)",
     _sub('index("t0100_extras_label_idx")', 'index("t0002_suppliers_device_id_idx")')),
    ("undo the clash", _sub('index("t0002_suppliers_device_id_idx").on(t.label)',
                            'index("t0100_extras_label_idx").on(t.label)')),
    ("remove the second primary key", _sub('  key: uuid("key").primaryKey(),\n', "")),
    ("a table whose name starts with another's", lambda text: text + PREFIXED),
    ("in the other, an index named as the first one's primary key",
     _sub('index("t0004_reports_supplier_id_idx")', 'index("t0004_reports_x_pkey")')),
    ("and a serial column", _after_head("t0004_reports", '  x: serial("x"),\n')),
    ("remove a table", _drop_table("t0100_extras")),
    ("remove the enum", _sub(MOOD.replace('"mood"', '"feeling"')
                             .replace('"ok"]', '"ok", "glad"]'), "")),
    ("an import goes (its columns cannot be read)",
     _sub(" uniqueIndex, uuid, varchar,", " uniqueIndex, varchar,")),
    ("the import comes back", _sub(" uniqueIndex, varchar,", " uniqueIndex, uuid, varchar,")),
    ("a new import line", lambda text: text.replace(
        'import { sql } from "drizzle-orm";\n',
        'import { sql } from "drizzle-orm";\nimport { smallint } from "drizzle-orm/pg-core";\n',
        1)),
    ("use it", _after_head("t0008_orders", '  small: smallint("small"),\n')),
    ("enable row level security", _sub('\n]);\n\nexport const t0003Locations',
                                       '\n]).enableRLS();\n\nexport const t0003Locations')),
    ("a syntax error for a while", _after_head("t0003_locations", "  broken: (,\n")),
    ("fixed again", _sub("  broken: (,\n", "")),
]


def test_edits_read_as_full_reads(tmp_path: Path) -> None:
    name = str(tmp_path / "schema.ts")
    text = SCHEMA
    base, _ = _fresh_model(_fresh_read(name, text))
    read_drizzle({name: text})
    model, _ = structural_model(list(read_drizzle({name: text}).statements))
    reused = 0
    drizzle_model = structural(read_drizzle({name: text}))
    spliced = 0
    for what, edit in EDITS:
        text = edit(text)
        ds = read_drizzle({name: text})
        before = model
        model, issues = structural_model(list(ds.statements))
        whole = _incremental.model_counts["whole"]
        drizzle_model = structural(ds)  # as the editor's fast path takes it
        spliced += whole == _incremental.model_counts["whole"]
        fresh = _fresh_read(name, text)
        fresh_model, fresh_issues = _fresh_model(fresh)
        assert _ordered(drizzle_model) == _ordered(fresh_model), what
        assert _findings(base, drizzle_model, ds) == _findings(base, fresh_model, fresh), what
        # the DDL and where it comes from
        assert ds.sql == fresh.sql, what
        assert [s.span for s in ds.statements] == [s.span for s in fresh.statements], what
        assert ds.origins == fresh.origins, what
        assert dict(ds.spans) == dict(fresh.spans), what
        assert sorted(map(repr, ds.issues)) == sorted(map(repr, fresh.issues)), what
        # the structural model, in order, and its issues
        assert _ordered(model) == _ordered(fresh_model), what
        assert issues == fresh_issues, what
        # the diagnostics the editor shows
        assert _findings(base, model, ds) == _findings(base, fresh_model, fresh), what
        reused += sum(t is before.tables.get(k) for k, t in model.tables.items())
    # the unchanged tables were those of the build before (not rebuilt)
    assert reused > len(EDITS) * 5
    # the model of an edit inside one table is the last one's with that table spliced in
    assert spliced >= 8


@pytest.mark.parametrize("tables", [40])
def test_unchanged_tables_are_the_last_builds(tmp_path: Path, tables: int) -> None:
    """A column added to one table: every other table of the structural model is the
    object of the last build, the edited one is new and holds the column."""
    name = str(tmp_path / "schema.ts")
    text = generate_ts(tables, seed=1)
    # What earlier tests built in this process (a bigger schema) must not decide which
    # slot this build lands in.
    sqlfile.reset_reuse()
    before, _ = structural_model(list(read_drizzle({name: text}).statements))
    text = _after_head("t0007_" + re.findall(r'pgTable\("t0007_(\w+)"', text)[0],
                       '  extra: integer("extra"),\n')(text)
    after, _ = structural_model(list(read_drizzle({name: text}).statements))
    changed = [k for k, t in after.tables.items() if t is not before.tables[k]]
    assert [k[2] for k in changed] == [k[2] for k in after.tables if k[2].startswith("t0007_")]
    assert after.tables[changed[0]].column("extra") is not None
    assert _ordered(after) == _ordered(_fresh_model(_fresh_read(name, text))[0])


SQL_BASE = """CREATE TYPE mood AS ENUM ('sad', 'ok');
CREATE TABLE parent (id integer PRIMARY KEY, code text);
CREATE TABLE child (id integer PRIMARY KEY, parent_id integer REFERENCES parent, m mood);
CREATE TABLE part (id integer, at date) PARTITION BY RANGE (at);
CREATE INDEX part_at_idx ON part (at);
CREATE TABLE part_2026 PARTITION OF part FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
"""
# Edits to other statements than those of `child` and `part_2026`, which come out of the
# build before unchanged: what the last passes of a build give them (the type their column
# names, the columns their foreign key references, the indexes of their parent) changes.
SQL_EDITS: list[tuple[str, Callable[[str], str]]] = [
    ("the type goes", _sub("CREATE TYPE mood AS ENUM ('sad', 'ok');\n", "")),
    ("the type comes back", lambda t: "CREATE TYPE mood AS ENUM ('sad', 'ok');\n" + t),
    ("the referenced primary key moves", _sub("parent (id integer PRIMARY KEY, code text)",
                                              "parent (id integer, code text PRIMARY KEY)")),
    ("the parent's index goes", _sub("CREATE INDEX part_at_idx ON part (at);\n", "")),
    ("and comes back under another name", _sub(
        "CREATE TABLE part_2026", "CREATE INDEX part_when ON part (at);\nCREATE TABLE part_2026")),
    ("the referenced table goes", _sub(
        "CREATE TABLE parent (id integer, code text PRIMARY KEY);\n", "")),
]


def test_sql_edits_around_unchanged_tables_build_as_full_builds() -> None:
    text = SQL_BASE
    model, _ = structural_model(sqlfile.split_statements(text, "schema.sql"))
    for what, edit in SQL_EDITS:
        text = edit(text)
        statements = sqlfile.split_statements(text, "schema.sql")
        model, issues = structural_model(statements)
        with sqlfile.fresh_builds():
            fresh_model, fresh_issues = structural_model(
                sqlfile.split_statements(text, "schema.sql"))
        assert _ordered(model) == _ordered(fresh_model), what
        assert issues == fresh_issues, what


def test_a_resumed_builds_names_are_a_set_over_the_checkpoints() -> None:
    """A resumed build's relation names sit over its checkpoint's frozen set, which is
    shared and never changed by the build; they still behave as one set."""
    from trimtab.sources.sqlfile._build import _Names

    base = frozenset({"a", "b"})
    names = _Names(base)
    names.update(["b", "c"])
    assert "c" in names and len(names) == 3 and sorted(names) == ["a", "b", "c"]
    names.discard("a")
    names.discard("c")
    assert sorted(names) == ["b"] and names.frozen() == {"b"}
    assert base == {"a", "b"}  # the checkpoint's set is not touched
