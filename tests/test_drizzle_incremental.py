"""The Drizzle reader between keystrokes: what it keeps from one read to the next (the
last tree-sitter tree of each file, re-parsed around the edit) must never change what it
reads, and a read must leave nothing behind for the cyclic garbage collector (whose pass
over a 1,000-table read's leftovers cost the editor a large part of each keystroke)."""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.drizzle_schema import generate_ts
from trimtab.sources.drizzle import DrizzleSchema, _source, read_drizzle

SCHEMA = generate_ts(12, seed=3)

# What a user types into a schema.ts: whole lines of the file's own kinds, fragments, and
# text that breaks the syntax for a while.
PIECES = (
    '  bench: integer("bench").notNull(),\n',
    '  note: text("note").default("x"),\n',
    "export const extra = pgTable(\"extra\", {\n  id: serial(\"id\").primaryKey(),\n});\n",
    'export const moodEnum = pgEnum("mood", ["sad", "ok"]);\n',
    "  (t) => [index(\"i\").on(t.id)],\n",
    ".notNull()",
    "{",
    "}",
    "(",
    ",",
    '"',
    "// a comment\n",
    "\n",
)


def _read(text: str, name: str) -> DrizzleSchema:
    return read_drizzle({name: text})


def _fresh(text: str, name: str) -> DrizzleSchema:
    """A read with no tree kept from an earlier text (a cold start)."""
    with _source._TREES_LOCK:
        _source._TREES.pop(name, None)
    return read_drizzle({name: text})


def _same(a: DrizzleSchema, b: DrizzleSchema) -> None:
    assert a.sql == b.sql
    assert [s.text for s in a.statements] == [s.text for s in b.statements]
    assert [s.span for s in a.statements] == [s.span for s in b.statements]
    assert a.origins == b.origins
    assert dict(a.spans) == dict(b.spans)
    assert sorted(map(repr, a.issues)) == sorted(map(repr, b.issues))


edit = st.tuples(st.floats(0, 1), st.integers(0, 40), st.one_of(
    st.sampled_from(PIECES), st.text(alphabet='abz019 _.,;:(){}[]"\'`\n/*=>-', max_size=8)))


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(edit, min_size=1, max_size=8))
def test_reads_between_keystrokes_equal_fresh_reads(tmp_path_factory, edits) -> None:
    name = str(tmp_path_factory.mktemp("inc") / "schema.ts")
    text = SCHEMA
    _fresh(text, name)
    for where, cut, piece in edits:
        at = int(where * len(text))
        text = text[:at] + piece + text[at + cut:]  # a replacement, as an editor sends it
        _same(_read(text, name), _fresh(text, name))
        _same(_read(text, name), _fresh(text, name))  # the same text twice: kept tree


def _collected_after(read: Callable[[], DrizzleSchema]) -> tuple[DrizzleSchema, int]:
    """The read's result, and how many unreachable objects the collector then finds (with
    the collector off meanwhile, so that no automatic pass hides them)."""
    gc.collect()
    gc.disable()
    try:
        ds = read()
        return ds, gc.collect()
    finally:
        gc.enable()


def test_a_read_leaves_no_cyclic_garbage(tmp_path: Path) -> None:
    name = str(tmp_path / "schema.ts")
    ds, garbage = _collected_after(lambda: read_drizzle({name: generate_ts(30)}))
    assert ds.statements and not ds.errors
    # Everything the evaluator made is freed by reference counting as the read returns.
    assert garbage == 0


def test_imports_read_through_the_callback_leave_no_cyclic_garbage(tmp_path: Path) -> None:
    files = {
        str(tmp_path / "schema.ts"): 'export * from "./users";\n',
    }
    other = {str(tmp_path / "users.ts"): (
        'import { pgTable, serial, text } from "drizzle-orm/pg-core";\n'
        'import { names } from "./names";\n'
        'export const users = pgTable(names.users, {\n'
        '  id: serial("id").primaryKey(),\n  name: text("name"),\n});\n'),
        str(tmp_path / "names.ts"): 'export const names = { users: "users" } as const;\n'}
    ds, garbage = _collected_after(lambda: read_drizzle(files, read=other.get))
    assert [s.text.split(" (")[0] for s in ds.statements] == ['CREATE TABLE "public"."users"']
    assert garbage == 0
