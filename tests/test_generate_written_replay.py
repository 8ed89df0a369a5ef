"""generate replays the migration it writes on the folder's cached replay, so that the next
generate of an unchanged project neither replays it again nor builds anything: the
replay a database produced is kept, and the no-op it finds is recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from trimtab import engine
from trimtab.config import Config, load_config
from trimtab.sources import shadowcache


def _replay_state(cfg: Config) -> dict[str, Any] | None:
    """What the folder's cached replay database records having applied."""
    name = shadowcache.database_name("replay", engine._cache_key(cfg, "replay"))
    with psycopg.connect(engine.resolve_target(cfg).url, autocommit=True) as conn:
        return shadowcache._state(conn, name)


def _from_record(cfg: Config) -> bool:
    """The next generate's own check: True when it says "nothing" from the record."""
    noop = engine._generate_noop(cfg, engine._scratch_target(cfg))
    return noop is not None and noop.said is not None


def test_the_written_migration_is_the_folders_replay(project: Path, db_url: str) -> None:
    (project / "schema.sql").write_text(
        "CREATE TABLE item (id int PRIMARY KEY, name text NOT NULL);\n"
        "CREATE INDEX item_name ON item (name);\n")
    cfg = load_config(project, url=db_url)
    first = engine.generate(cfg)
    assert first.migration is not None
    state = _replay_state(cfg)
    assert state is not None
    assert state["migrations"] == [[first.migration.name, first.migration.checksum]]
    # The next generate takes the record: nothing replayed, nothing built.
    assert _from_record(cfg)
    again = engine.generate(cfg)
    assert again.migration is None and not again.plan
    assert _replay_state(cfg) == state


def test_a_hand_edit_of_the_written_migration_is_still_seen(project: Path,
                                                            db_url: str) -> None:
    (project / "schema.sql").write_text("CREATE TABLE item (id int PRIMARY KEY);\n")
    cfg = load_config(project, url=db_url)
    written = engine.generate(cfg).migration
    assert written is not None and _from_record(cfg)
    written.path.write_text(written.path.read_text() + "--> statement-breakpoint\n"
                            "CREATE TABLE extra (id int);\n")
    assert not _from_record(cfg)
    dropped = engine.generate(cfg, force=True, name="drop_extra").migration
    assert dropped is not None and "DROP TABLE public.extra" in dropped.path.read_text()
    state = _replay_state(cfg)
    assert state is not None
    assert [m[0] for m in state["migrations"]] == [written.name, dropped.name]
    assert _from_record(cfg)
    assert engine.generate(cfg).migration is None


def test_an_edit_of_the_schema_after_a_write_is_still_seen(project: Path,
                                                           db_url: str) -> None:
    (project / "schema.sql").write_text("CREATE TABLE item (id int PRIMARY KEY);\n")
    cfg = load_config(project, url=db_url)
    assert engine.generate(cfg).migration is not None
    (project / "schema.sql").write_text("CREATE TABLE item (id int PRIMARY KEY, n int);\n")
    assert not _from_record(cfg)
    added = engine.generate(cfg, name="add_n").migration
    assert added is not None and "ADD COLUMN n integer" in added.path.read_text()
    assert _from_record(cfg)


def test_what_the_replay_leaves_out_is_said_and_each_text_judged_once(
        project: Path, db_url: str) -> None:
    """Every generate says what the folder's replay leaves out (statements that act on the
    whole server), judging each migration statement by its text once per process: the
    pass after a write reads the unchanged migrations again."""
    from trimtab.migrations import folder, replay

    folder.write_migration(project / "migrations", "init", [
        "CREATE ROLE trimtab_test_reader NOLOGIN",
        "CREATE TABLE item (id integer PRIMARY KEY)"], None)
    (project / "schema.sql").write_text("CREATE TABLE item (id int PRIMARY KEY);\n")
    cfg = load_config(project, url=db_url)
    kept = replay._left_out.cache_info  # type: ignore[attr-defined]
    replay._left_out.cache_clear()  # type: ignore[attr-defined]
    before = kept().misses
    said = "CREATE ROLE trimtab_test_reader NOLOGIN ... acts outside the database"
    first = engine.generate(cfg)
    assert first.migration is None and any(said in n for n in first.notes), first.notes
    assert kept().misses - before == 2
    (project / "schema.sql").write_text("CREATE TABLE item (id int PRIMARY KEY, n int);\n")
    added = engine.generate(cfg, name="add_n")
    assert added.migration is not None and any(said in n for n in added.notes), added.notes
    # the new statements only, though the first migration was read twice more
    assert kept().misses - before == 2 + len(added.migration.statements)
    assert _from_record(cfg)
    assert any(said in n for n in engine.generate(cfg).notes)


def test_a_written_migration_taken_away_again_is_not_believed(project: Path,
                                                              db_url: str) -> None:
    """The cached replay keeps what it applied by name and checksum: a folder without the
    migration generate wrote (a reverted commit) is replayed as it is."""
    import shutil

    (project / "schema.sql").write_text("CREATE TABLE item (id int PRIMARY KEY);\n")
    cfg = load_config(project, url=db_url)
    assert engine.generate(cfg).migration is not None
    shutil.rmtree(project / "migrations")
    (project / "schema.sql").write_text("CREATE TABLE other (id int PRIMARY KEY);\n")
    again = engine.generate(cfg).migration  # no item to drop: no consent asked
    assert again is not None
    text = again.path.read_text()
    assert "CREATE TABLE public.other" in text and "item" not in text, text
    state = _replay_state(cfg)
    assert state is not None and state["migrations"] == [[again.name, again.checksum]]
