"""The Drizzle reader between keystrokes: what it keeps from one read to the next (the
last tree-sitter tree of each file, re-parsed around the edit) must never change what it
reads, and a read must leave nothing behind for the cyclic garbage collector (whose pass
over a 1,000-table read's leftovers cost the editor a large part of each keystroke)."""

from __future__ import annotations

import gc
import re
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.drizzle_schema import generate_ts
from trimtab.sources.drizzle import DrizzleSchema, _incremental, cold_read, read_drizzle

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
    """A read with nothing kept from an earlier text (a cold start); the next read goes on
    from the last one as an editor's would."""
    return cold_read({name: text}, name)


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



def test_syntax_errors_read_as_in_a_cold_read(tmp_path) -> None:
    """tree-sitter recovers from errors differently when it re-parses around an edit than
    when it parses the text afresh: the syntax errors shown must be those of a cold read.
    (A sequence hypothesis found.)"""
    name = str(tmp_path / "schema.ts")
    text = SCHEMA
    _fresh(text, name)
    edits = [(0.0, 35, "00000"), (0.08515848873365785, 16, "("), (0.0, 11, "{"),
             (0.0, 9, "{"), (0.919921875, 10, '  note: text("note").default("x"),\n'),
             (0.44403326647567665, 1, 'export const extra = pgTable("extra", {\n'
                                      '  id: serial("id").primaryKey(),\n});\n')]
    for where, cut, piece in edits:
        at = int(where * len(text))
        text = text[:at] + piece + text[at + cut:]
        _same(_read(text, name), _fresh(text, name))

# Edits inside one table's declaration, as typed while the file stays valid TypeScript:
# the reads that splice the changed tables into the last read. {n} makes names unique.
TABLE_EDITS = (
    ("head", '  added{n}: integer("added_{n}").notNull(),\n'),
    ("head", '  serial{n}: serial("serial_{n}"),\n'),  # a sequence PostgreSQL names
    ("head", '  key{n}: uuid("key_{n}").primaryKey(),\n'),  # a second primary key: issue
    ("head", '  ref{n}: integer("ref_{n}").references(() => t0001Devices.id),\n'),
    ("head", '  nope{n}: integer("nope_{n}").references(() => missing.id),\n'),
    ("head", '  mood{n}: pgEnum("mood_{n}", ["a"])("mood"),\n'),  # an enum not exported
    ("head", '  bad{n}: text("bad_{n}").default(nope()),\n'),
    ("callback", '  index("ix_{n}").on(t.id),\n'),
    ("callback", '  index("t0001_devices_created_at_active_idx").on(t.id),\n'),  # a clash
    ("callback", '  uniqueIndex("u_{n}").on(t.createdAt),\n'),
    ("name", '_renamed{n}'),  # the table's name: foreign keys to it change
    ("drop", ""),  # a line of the table goes (its id: the keys to it break)
    ("rls", ".enableRLS()"),
    ("typo", "("),  # a syntax error for a while
)


def _table_edit(text: str, table: int, op: str, piece: str, line: int) -> str | None:
    heads = [m for m in re.finditer(r'^export const \w+ = pgTable\("(\w+)", \{\n', text, re.M)]
    if not heads:
        return None
    m = heads[table % len(heads)]
    end = text.find("\n});", m.end())
    end2 = text.find("\n]);", m.end())
    stop = min(x for x in (end, end2, len(text)) if x >= 0)
    if op == "head":
        return text[:m.end()] + piece + text[m.end():]
    if op == "callback":
        at = text.find("(t) => [\n", m.end(), stop)
        return None if at < 0 else text[:at + 9] + piece + text[at + 9:]
    if op == "name":
        at = m.start(1) + len(m.group(1))
        return text[:at] + piece + text[at:]
    if op == "drop":
        lines = text[m.end():stop].split("\n")
        if len(lines) < 2:
            return None
        k = line % (len(lines) - 1)
        start = m.end() + sum(len(x) + 1 for x in lines[:k])
        return text[:start] + text[start + len(lines[k]) + 1:]
    if op == "rls":
        return None if stop in (len(text), end) else text[:stop + 3] + piece + text[stop + 3:]
    at = m.end() + line % max(stop - m.end(), 1)
    return text[:at] + piece + text[at:]


# Declarations that share a line: an edit at the end of one moves the next one's columns.
JOINED = re.sub(r";\n\nexport const (t\d+[02468][A-Z])", r"; export const \1", SCHEMA)


table_edit = st.tuples(st.integers(0, 11), st.sampled_from(TABLE_EDITS), st.integers(0, 30))


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from((SCHEMA, JOINED)), st.lists(table_edit, min_size=1, max_size=12))
def test_spliced_reads_equal_full_reads(tmp_path_factory, text, edits) -> None:
    """Reads that go on from the last one (splicing the changed tables in, or reading
    everything when unsure) equal cold full reads, through any sequence of edits."""
    name = str(tmp_path_factory.mktemp("splice") / "schema.ts")
    _read(text, name)
    for n, (table, (op, piece), line) in enumerate(edits):
        got = _table_edit(text, table, op, piece.format(n=n), line)
        if got is None:
            continue
        text = got
        _same(_read(text, name), _fresh(text, name))


def test_an_edit_inside_a_table_is_spliced(tmp_path: Path, monkeypatch) -> None:
    """The editor's common case reads only the changed tables (the spans of a spliced read
    are worked out on lookup), and stays equal to full reads over more edits than it
    shifts lazily before working its spans out afresh (fewer here than in the editor)."""
    monkeypatch.setattr(_incremental, "_MAX_SHIFTS", 6)
    name = str(tmp_path / "schema.ts")
    text = generate_ts(40, seed=1)
    _read(text, name)
    spliced = 0
    for n in range(2 * _incremental._MAX_SHIFTS + 3):
        text = _table_edit(text, n * 7, "head", f'  col{n}: integer("col_{n}"),\n', 0) or ""
        got = _read(text, name)
        spliced += isinstance(got.spans, _incremental._Spans)
        _same(got, _fresh(text, name))
    assert spliced >= 2 * _incremental._MAX_SHIFTS


def test_an_edit_moves_what_follows_on_its_line(tmp_path: Path) -> None:
    """A declaration that starts on the line an edit ends on moves right or left."""
    name = str(tmp_path / "schema.ts")
    text = JOINED
    _read(text, name)
    spliced = 0
    for table in range(12):
        text = _table_edit(text, table, "rls", ".enableRLS()", 0) or text
        got = _read(text, name)
        spliced += isinstance(got.spans, _incremental._Spans)
        _same(got, _fresh(text, name))
    assert spliced >= 6


def test_the_same_text_twice_is_read_once(tmp_path: Path) -> None:
    """The language server's exact path reads the buffer its fast path just read."""
    name = str(tmp_path / "schema.ts")
    text = generate_ts(5)
    assert _read(text, name) is _read(text, name)
    assert _read(text, name) is not _fresh(text, name)


def test_a_file_the_schema_imports_is_read_again(tmp_path: Path) -> None:
    """The same schema text reads anew when it imports another file: that file may have
    changed (or appeared) since."""
    name = str(tmp_path / "schema.ts")
    text = ('import { pgTable, serial } from "drizzle-orm/pg-core";\n'
            'import { names } from "./names";\n'
            'export const users = pgTable(names.users, { id: serial("id") });\n')
    other = {str(tmp_path / "names.ts"): 'export const names = { users: "people" };\n'}
    first = read_drizzle({name: text}, read=other.get)
    other[str(tmp_path / "names.ts")] = 'export const names = { users: "members" };\n'
    again = read_drizzle({name: text}, read=other.get)
    assert '"public"."people"' in first.sql
    assert '"public"."members"' in again.sql


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
    edited = _table_edit(generate_ts(30), 3, "head", '  x: integer("x"),\n', 0) or ""
    ds, garbage = _collected_after(lambda: read_drizzle({name: edited}))
    assert isinstance(ds.spans, _incremental._Spans) and garbage == 0  # a spliced read


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


def test_statements_placed_anew_are_whole_statements() -> None:
    """The splice makes ranges and statements without their dataclass constructors (for
    speed): they must be the very values the constructors make, every field included."""
    from dataclasses import fields

    from trimtab.sources.sqlfile import Span, Statement

    values = ("schema.ts.sql", 3, 1, 5, 2, 40, 90)
    made, made_by_constructor = _incremental._new_span(*values), Span(*values)
    assert list(made.__dict__) == [f.name for f in fields(Span)]
    assert made == made_by_constructor and hash(made) == hash(made_by_constructor)
    st = _incremental._new_statement("CREATE TABLE t ()", made, "CREATE TABLE",
                                     ("table", "public", "t"))
    assert list(st.__dict__) == [f.name for f in fields(Statement)]
    assert st == Statement("CREATE TABLE t ()", made_by_constructor, "CREATE TABLE",
                           ("table", "public", "t"))


def test_a_spliced_read_knows_the_keys_it_lost(tmp_path: Path) -> None:
    """What left the file since the last keystroke (the editor remembers where it was) is
    told by the spliced read itself, equal to comparing all keys of both reads."""
    name = str(tmp_path / "schema.ts")
    text = generate_ts(20, seed=2)
    last = _read(text, name)
    known = 0
    for n in range(12):
        op = ("head", "drop", "drop")[n % 3]
        text = _table_edit(text, n * 5, op, f'  col{n}: integer("col_{n}"),\n', n) or text
        got = _read(text, name)
        gone_since = getattr(got.spans, "gone_since", None)
        gone = gone_since(last.spans) if gone_since is not None else None
        if gone is not None:
            known += 1
            assert gone == last.spans.keys() - got.spans.keys()
        last = got
    assert known >= 8


def test_ranges_looked_up_now_and_then_stay_right(tmp_path: Path) -> None:
    """A range looked up is kept moved by the edits so far, others wait for their lookup:
    either way every range is that of a full read, however many edits apart."""
    name = str(tmp_path / "schema.ts")
    text = generate_ts(30, seed=4)
    _read(text, name)
    spliced = 0
    for n in range(24):
        op = ("head", "drop")[n % 2]
        text = _table_edit(text, n * 3, op, f'  col{n}: integer("col_{n}"),\n', n) or text
        got = _read(text, name)
        spliced += isinstance(got.spans, _incremental._Spans)
        for key in list(got.spans)[n % 7::40]:  # the editor looks a few up
            assert got.spans[key] == got.spans[key]
        if n % 8 == 7:
            _same(got, _fresh(text, name))
    assert spliced >= 8


CHAIN = '''import { pgTable, serial, integer, text } from "drizzle-orm/pg-core";

export const c = pgTable("c", {
  id: serial("id").primaryKey(),
});

export const b = pgTable("b", {
  id: serial("id").primaryKey(),
  cId: integer("c_id").references(() => c.id),
});

export const a = pgTable("a", {
  id: serial("id").primaryKey(),
  bId: integer("b_id").references(() => b.id),
});
'''


def test_a_table_read_for_its_references_only(tmp_path: Path) -> None:
    """The tables an edited one refers to are evaluated for their columns, not what they
    refer to in turn; a reference that does not resolve reads them whole: as a full read
    either way."""
    name = str(tmp_path / "schema.ts")
    text = CHAIN
    _read(text, name)
    spliced = 0
    for old, new in (('  bId: integer("b_id")', '  note: text("note"),\n  bId: integer("b_id")'),
                     ('references(() => b.id)', 'references(() => b.nope)'),
                     ('references(() => b.nope)', 'references(() => b.cId)')):
        text = text.replace(old, new)
        got = _read(text, name)
        spliced += isinstance(got.spans, _incremental._Spans)
        _same(got, _fresh(text, name))
    assert any("nope" in i.message for i in _fresh(CHAIN.replace(
        'references(() => b.id)', 'references(() => b.nope)'), name).issues)
    assert spliced >= 2
