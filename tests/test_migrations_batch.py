"""Statements sent together (migrations.batch): they join as they read, fail as they would
alone, and what may end a transaction still runs alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trimtab.errors import PlanError, SchemaError
from trimtab.migrations import batch
from trimtab.migrations.folder import (
    BREAKPOINT,
    MigrationStatement,
    is_plain_sql,
    read_folder,
    write_migration,
)
from trimtab.migrations.replay import replay
from trimtab.migrations.runner import migrate
from trimtab.sources.sqlfile import split_statements

PIECES = ["CREATE TABLE t (a int)", "'x;y'", "'it''s'", '"we;ird"', '"a--b"', "'--'", ";",
          " ", "\n", "-- c\n", "/* c */", "$$;$$", "E'\\''", "'", '"', "\\", "a - b", "a/b",
          "-", "/", "$1", "'a\"'", "SELECT 1"]


@given(st.lists(st.sampled_from(PIECES), max_size=8).map("".join),
       st.lists(st.sampled_from(PIECES), max_size=8).map("".join))
def test_plain_texts_join_as_they_read(a: str, b: str) -> None:
    """What batch relies on: plain statements joined with ';' read as the same statements."""
    if not (is_plain_sql(a) and is_plain_sql(b)):
        return
    alone = [s.text for s in split_statements(a)] + [s.text for s in split_statements(b)]
    together = [s.text for s in split_statements(f"{a};\n{b}")]
    assert together == alone


def test_plain_rejects_what_could_leak() -> None:
    assert is_plain_sql("CREATE TABLE t (note text DEFAULT 'it''s; fine', \"a--b\" int)")
    for text in ["x -- c", "/* c */ x", "$$ x $$", "E'\\'' x '", "'a\"' \"b'", "'open",
                 '"open']:
        assert not is_plain_sql(text), text


def test_a_failed_match_stays_fast() -> None:
    # A backtracking pattern would take minutes on this.
    assert not is_plain_sql("a" * 200_000 + "$")


def statements(*texts: str) -> list[MigrationStatement]:
    return [MigrationStatement(t, i + 1) for i, t in enumerate(texts)]


def test_groups_keep_transaction_control_and_unplain_statements_alone() -> None:
    sts = statements("CREATE TABLE a (x int)", "CREATE TABLE b (x int)", "COMMIT",
                     "CREATE TABLE c (x int)", "CREATE TABLE d (x int); savepoint s",
                     "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql",
                     "CREATE TABLE e (start_at int, \"end\" int)", "CREATE TABLE f (x int)",
                     "copy a FROM stdin")
    assert [list(g) for g in batch.groups(sts)] == [[0, 1], [2], [3], [4], [5], [6, 7], [8]]
    assert [list(g) for g in batch.groups(sts, first=1)][0] == [1]
    assert [len(g) for g in batch.groups(sts, together=False)] == [1] * len(sts)


def test_groups_respect_the_limits(monkeypatch) -> None:
    sts = statements(*(f"CREATE TABLE t{i} (x int)" for i in range(250)))
    assert [len(g) for g in batch.groups(sts)] == [100, 100, 50]
    monkeypatch.setattr(batch, "BATCH_BYTES", 50)
    # Each text is about 25 bytes: two fit, a third would not.
    assert {len(g) for g in batch.groups(sts)} == {2}


def test_the_failing_statement_of_a_group_is_named_with_its_own_error(tmp_path: Path,
                                                                     db_url: str, sql) -> None:
    folder = tmp_path / "migrations"
    texts = [f"CREATE TABLE t{i} (x int)" for i in range(250)]
    texts[179] = "CREATE TABLE t179 (x int,\n  y nosuchtype)"
    m = write_migration(folder, "many", texts, None)
    progress: list[int] = []

    with pytest.raises(PlanError) as info:
        migrate(db_url, read_folder(folder), on_progress=lambda _m, done, _t:
                progress.append(done))

    text = str(info.value)
    assert "failed at statement 180 of 250" in text
    assert 'type "nosuchtype" does not exist' in text
    # The error's position is the statement's own: the line of "nosuchtype".
    lines = m.path.read_text().splitlines()
    assert info.value.line == next(n for n, x in enumerate(lines, 1) if "nosuchtype" in x)
    assert progress == [0, 100]  # the first group ran, then the second failed
    assert sql("SELECT count(*) FROM pg_class WHERE relname LIKE 't%' AND relkind = 'r'"
               ) == [(0,)]
    assert sql("SELECT finished_at, failed_statement FROM trimtab.migrations") == [
        (None, 180)]

    # Fixed, all 250 run in three round trips.
    m.path.write_text(m.path.read_text().replace("nosuchtype", "int"))
    progress.clear()
    result = migrate(db_url, read_folder(folder), on_progress=lambda _m, done, _t:
                     progress.append(done))
    assert [r.status for r in result.runs] == ["applied"]
    assert progress == [0, 100, 200, 250]
    assert sql("SELECT count(*) FROM pg_class WHERE relname LIKE 't%' AND relkind = 'r'"
               ) == [(250,)]


def test_a_commit_inside_a_breakpoint_chunk_stops_right_after_it(tmp_path: Path, db_url: str,
                                                                sql) -> None:
    folder = tmp_path / "migrations"
    m = write_migration(folder, "commit", ["CREATE TABLE a (x int)",
                                           "CREATE TABLE b (x int);\nCOMMIT",
                                           "CREATE TABLE c (x int)"], None)
    assert BREAKPOINT in m.path.read_text() and len(m.statements) == 3

    with pytest.raises(PlanError, match="ended the migration's transaction") as info:
        migrate(db_url, read_folder(folder))

    assert "failed at statement 2 of 3" in str(info.value)
    assert sql("SELECT to_regclass('c') IS NULL")[0][0]
    assert sql("SELECT finished_at FROM trimtab.migrations") == [(None,)]


def test_a_replay_names_the_failing_statement_of_a_group(tmp_path: Path,
                                                        pg_server) -> None:
    folder = tmp_path / "migrations"
    texts = [f"CREATE TABLE t{i} (x int)" for i in range(30)]
    texts[20] = "CREATE TABLE t0 (x int)"  # already exists
    m = write_migration(folder, "dup", texts, None)
    with pytest.raises(SchemaError, match='relation "t0" already exists') as info:
        replay(read_folder(folder), pg_server.admin_url)
    assert info.value.file == str(m.path) and info.value.line == m.statements[20].line
