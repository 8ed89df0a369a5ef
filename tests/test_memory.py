"""The language server's memory while typing into one large statement.

Every keystroke makes a new text of the statement it changes, and the editor's fast path
caches per statement text. What it keeps for old texts must stay bounded by bytes, and what
one keystroke leaves behind must be small next to the statement (its tokens, for one, are
not worth keeping). Measured with tracemalloc (bytes the Python allocator still holds after
a full collection), never with a clock.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bench.generate import generate_sql
from trimtab import memo
from trimtab.lsp import analysis, symbols
from trimtab.lsp.workspace import Project
from trimtab.memo import ByteLRU
from trimtab.sources import sqlfile
from trimtab.sources.sqlfile import object_spans, split_statements, structural_model

MiB = 2**20


def _schema(kb: int) -> tuple[str, int]:
    """A schema with a wide table of about ``kb`` KB, and the offset of the column name
    the tests type into."""
    small = "".join(f"CREATE TABLE t{i} (id bigint PRIMARY KEY, name text NOT NULL);\n"
                    for i in range(30))
    cols = "".join(f"    attribute_{i:04d} character varying(200) NOT NULL DEFAULT 'v{i}',\n"
                   for i in range(kb * 1024 // 64))
    head = "CREATE TABLE wide (\n    id bigint PRIMARY KEY,\n    typed_"
    text = small + head + " integer,\n" + cols + "    updated_at timestamptz\n);\n"
    return text, len(small) + len(head)


def _project(tmp_path: Path, text: str) -> tuple[Project, str]:
    schema = tmp_path / "schema.sql"
    schema.write_text(text)
    (tmp_path / "trimtab.toml").write_text('schema = "schema.sql"\n')
    project = Project(tmp_path)
    project.load()
    assert project.cfg is not None, project.config_error
    # A base model to compare with, as the live database's would be: the fast path then
    # diffs, keeps skeletons and remembers spans, as it does in the server.
    project.snapshot_skeleton = analysis.skeleton(
        structural_model(split_statements(text, str(schema)))[0])
    return project, str(schema)


def _type(project: Project, path: str, text: str, at: int, keys: int) -> None:
    """``keys`` keystrokes at ``at``, each through the fast path and a hover."""
    typed = ""
    for k in range(keys):
        typed += "abcdefghijklmnopqrstuvwxyz"[k % 26]
        now = text[:at] + typed + text[at:]
        project.analyze_fast({path: now})
        symbols.object_at(split_statements(now, path), path, at)


def _traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def test_a_keystroke_keeps_little_next_to_the_statement_it_changed(
        tmp_path: Path, traced: None) -> None:
    """What stays behind a keystroke in a 20 KB statement is its read columns, about ten
    bytes a character; it used to be its tokens, its heads and line starts as well, some
    45 bytes a character, kept for thousands of keystrokes."""
    text, at = _schema(20)
    project, path = _project(tmp_path, text)
    _type(project, path, text, at, 2)  # warm: the statements that do not change
    before = _traced()
    keys = 8
    _type(project, path, text[:at] + "ab" + text[at:], at + 2, keys)
    per_key = (_traced() - before) / keys
    assert per_key < 20 * len(text), f"{per_key / len(text):.0f} bytes a character"


def test_typing_into_a_large_statement_stays_within_the_cache_budget(
        tmp_path: Path, traced: None, small_budgets: int) -> None:
    """However long one types, the caches keep no more than their budget: here shrunk to
    2 MiB, so that two dozen keystrokes fill them many times over."""
    text, at = _schema(20)
    project, path = _project(tmp_path, text)
    _type(project, path, text, at, 2)
    before = _traced()
    _type(project, path, text[:at] + "ab" + text[at:], at + 2, 24)
    grown = _traced() - before
    # The budget, plus what is not a cache: the last model, spans and skeletons.
    assert grown < small_budgets + 4 * MiB, f"{grown / MiB:.1f} MiB retained"


@pytest.fixture
def small_budgets(monkeypatch: pytest.MonkeyPatch) -> int:
    """Every byte-bounded cache shrunk so that they sum to 2 MiB; returns that sum."""
    caches = list(memo._ALL)
    total = sum(c.budget for c in caches)
    for c in caches:
        monkeypatch.setattr(c, "budget", c.budget * 2 * MiB // total)
        c.clear()
    return sum(c.budget for c in caches)


def test_a_byte_bounded_cache_drops_the_least_recently_used_first() -> None:
    cache: ByteLRU[str, str] = ByteLRU("test", 100, lambda key, value: len(value))
    cache["a"], cache["b"], cache["c"] = "x" * 40, "y" * 40, "z" * 10
    assert cache["a"] == "x" * 40  # now the most recently used
    cache["d"] = "w" * 30  # 120 bytes: "b" goes, not "a"
    assert list(cache) == ["c", "a", "d"] and cache.bytes == 80
    cache["huge"] = "h" * 101  # larger than the whole budget: not kept, nothing dropped
    assert "huge" not in cache and cache.bytes == 80
    cache.floor = 200  # a known working set raises the budget
    cache["e"] = "v" * 100
    assert list(cache) == ["c", "a", "d", "e"] and cache.bytes == 180
    cache["a"] = "x"  # replaced: counted once
    assert cache.bytes == 141


def test_the_statement_caches_count_at_least_what_they_keep(traced: None) -> None:
    """The budgets bound real memory only if the estimates are not below it: what clearing
    the caches frees, measured, is at most what they say they hold (and not far below)."""
    caches = list(memo._ALL)
    for c in caches:
        c.clear()
    text = generate_sql(150) + _schema(20)[0]
    statements = split_statements(text, "schema.sql")
    structural_model(statements)
    object_spans(statements)
    # As for the texts of past keystrokes: nothing but the caches holds them any more.
    del statements, text
    # The last build, and the last builds' reused objects (a model holds the same ones):
    # not caches of texts.
    sqlfile.reset_reuse()
    said = sum(memo.retained().values())
    full = _traced()
    for c in caches:
        c.clear()
    freed = full - _traced()
    assert said >= freed > said / 2, (said, freed)


def test_a_skeleton_keeps_each_equal_column_once() -> None:
    """Issue 24: the database's skeleton took a third more than its model at 10,000 tables,
    one object per column where thousands of tables have the same "id bigint NOT NULL"."""
    statements = split_statements(generate_sql(40), "schema.sql")
    model = structural_model(statements)[0]
    skel = analysis.skeleton(model)
    tables = list(skel.tables.values())
    ids = [c for t in tables for c in t.columns if c.name == "id"]
    assert len(ids) == len(tables) and len({id(c) for c in ids}) < len(ids) / 4
    kept = {id(c) for t in tables for c in t.columns}
    assert len(kept) < sum(len(t.columns) for t in tables) / 2
    # the same skeleton as one made table by table
    alone = {k: analysis.skeleton(replace(model, tables={k: t})).tables[k]
             for k, t in model.tables.items()}
    assert skel.tables == alone
