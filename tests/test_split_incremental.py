"""Splitting a file again after an edit reuses the statements of its last split (the
editor splits on every keystroke): the result must be exactly a fresh split's, whatever
the edit does to quotes, comments, nesting or line breaks."""

from __future__ import annotations

import random
from dataclasses import astuple
from pathlib import Path

import pytest

from bench.generate import generate_sql
from trimtab.sources import sqlfile
from trimtab.sources.sqlfile import _split, object_spans, split_statements, structural_model

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
# What changes how a file splits: statement ends, quotes, comments, nesting, psql
# meta-commands, line breaks of every kind.
PIECES = [";", "'", '"', "$$", "$f$", "--", "/*", "*/", "\n", "\r\n", "\r", "(", ")",
          " BEGIN ", " END ", " CASE ", "\\i x\n", "\\", " ", "\t", "x", "E'\\'",
          "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;",
          "CREATE TABLE z (id int);\n", "-- a; comment\n"]


def _fresh(text: str, file: str) -> list[tuple[object, ...]]:
    _split._last_split.pop(file, None)
    try:
        return [(st.text, st.kind, st.object_key, astuple(st.span)[1:])
                for st in split_statements(text, file)]
    finally:
        _split._last_split.pop(file, None)  # the next split of ``file`` starts afresh too


def _edits(text: str, rnd: random.Random, count: int) -> list[str]:
    out = []
    for _ in range(count):
        a = rnd.randrange(len(text) + 1)
        breaks = [i for i, c in enumerate(text) if c in "\r\n"]
        if rnd.random() < 0.15 and breaks:  # two lines become one
            a = rnd.choice(breaks)
            text = text[:a] + text[a + 1:]
        elif rnd.random() < 0.3 and text:  # a deletion, sometimes of many lines
            b = min(len(text), a + rnd.choice([1, 2, 5, 40, 400]))
            text = text[:a] + text[b:]
        else:
            text = text[:a] + rnd.choice(PIECES) + text[a:]
        out.append(text)
    return out


def _texts() -> list[tuple[str, str]]:
    files = [*sorted((FIXTURES / "structural").glob("*.sql")),
             *sorted((FIXTURES / "diff").glob("*/after.sql"))]
    return [(p.name, p.read_text()) for p in files] + [("generated", generate_sql(30))]


@pytest.mark.parametrize("name,text", _texts(), ids=lambda x: x if len(x) < 60 else "")
def test_a_split_after_edits_is_a_fresh_split(name: str, text: str) -> None:
    rnd = random.Random(name)
    file = f"/tmp/{name}"
    split_statements(text, file)
    for edited in _edits(text, rnd, 60):
        got = [(st.text, st.kind, st.object_key, astuple(st.span)[1:])
               for st in split_statements(edited, file)]
        assert got == _fresh(edited, f"{file}.fresh"), name


def test_unchanged_statements_are_the_same_objects() -> None:
    text = generate_sql(40)
    first = split_statements(text, "reuse.sql")
    at = text.index("CREATE TABLE", len(text) // 2)
    edited = text[:at] + "CREATE TABLE z (id int);\n" + text[at:]
    again = split_statements(edited, "reuse.sql")
    assert len(again) == len(first) + 1
    before = [st for st in first if st.span.end_offset < at]
    assert before and all(x is y for x, y in zip(before, again, strict=False))
    # the texts after the edit moved: their spans say where they are now
    moved = again[len(before) + 1:]
    assert [st.text for st in moved] == [st.text for st in first[len(before):]]
    assert all(edited[st.span.start_offset:st.span.end_offset] == st.text for st in moved)


def test_a_split_larger_than_the_budget_is_kept_for_the_next_keystroke(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # drizzle-kit's SQL of 10,000 tables (40,496 statements) was above the cache's budget:
    # every keystroke, and every exact analysis beside it, split the whole file again.
    monkeypatch.setattr(_split._last_split, "budget", 1024)
    text = generate_sql(40)
    first = split_statements(text, "big.sql")
    at = text.index("CREATE TABLE", len(text) // 2)
    edited = text[:at] + "CREATE TABLE z (id int);\n" + text[at:]
    again = split_statements(edited, "big.sql")
    before = [st for st in first if st.span.end_offset < at]
    assert before and all(x is y for x, y in zip(before, again, strict=False))
    # and the same text (the exact path's read after the fast path's) is not split again
    assert all(x is y for x, y in zip(again, split_statements(edited, "big.sql"), strict=True))
    # and a build that sees nothing of the earlier ones gives it back after
    from trimtab.sources.sqlfile._build import fresh_builds

    with fresh_builds():
        split_statements("CREATE TABLE other (id int);", "other.sql")
    assert all(x is y for x, y in zip(again, split_statements(edited, "big.sql"), strict=True))


@pytest.mark.parametrize("name,text", _texts()[::3], ids=lambda x: x if len(x) < 60 else "")
def test_models_and_spans_after_edits_are_those_of_a_fresh_read(name: str, text: str) -> None:
    """What the editor's fast path takes from a split: the structural model, its issues
    and every object's span, in order, after each edit as from nothing."""
    rnd = random.Random(name + "model")
    file = f"/tmp/m-{name}"
    structural_model(split_statements(text, file))
    for edited in _edits(text, rnd, 25):
        statements = split_statements(edited, file)
        model, issues = structural_model(statements)
        spans = list(object_spans(statements).items())
        with sqlfile.fresh_builds():
            fresh = split_statements(edited, file)
            fresh_model, fresh_issues = structural_model(fresh)
            fresh_spans = list(object_spans(fresh).items())
        assert statements == fresh, name
        assert model == fresh_model and list(model.tables) == list(fresh_model.tables), name
        assert issues == fresh_issues, name
        assert spans == fresh_spans, name


def test_typing_at_one_place_builds_what_a_fresh_read_builds() -> None:
    """Keystrokes at the same place: each build resumes from the state before the statement
    being typed into (kept by the build before); the model, issues and spans are a fresh
    read's all the same, also when a keystroke elsewhere or a new name comes in between."""
    from trimtab.sources.sqlfile import _build

    text = generate_sql(60)
    file = "/tmp/typing.sql"
    at = text.index("CREATE TABLE", len(text) // 2)
    at = text.index("(\n", at) + 2
    structural_model(split_statements(text, file))
    typed = ""
    resumed = 0
    for k, key in enumerate("x int, y text REFERENCES t0001_users, ;(') z"):
        typed += key
        now = text[:at] + typed + text[at:]
        if k == 20:  # once, somewhere else first
            now = now.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1)
        statements = split_statements(now, file)
        model, issues = structural_model(statements)
        spans = list(object_spans(statements).items())
        checkpoint = _build._checkpoint[0]
        resumed += checkpoint is not None and checkpoint[0] > 0
        with sqlfile.fresh_builds():
            fresh = split_statements(now, file)
            fresh_model, fresh_issues = structural_model(fresh)
            assert list(object_spans(fresh).items()) == spans, typed
        assert model == fresh_model and list(model.tables) == list(fresh_model.tables), typed
        assert issues == fresh_issues, typed
    assert resumed > 30
