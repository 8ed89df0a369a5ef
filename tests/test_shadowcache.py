"""Cached shadow databases: brought up to date in place, they must give exactly the model a
fresh shadow gives, on real schemas and on random one-statement edits."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import threading
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql as sql_

from bench.generate import generate_sql
from trimtab.migrations.folder import read_folder
from trimtab.migrations.replay import replay
from trimtab.model import Model
from trimtab.plan import build_plan
from trimtab.sources import shadow, shadowcache
from trimtab.sources.sqlfile import split_statements

ROOT = Path(__file__).resolve().parent.parent
CASES = sorted(p for p in (ROOT / "fixtures" / "diff").iterdir() if (p / "after.sql").exists())


def fresh(sql: str, admin_url: str) -> Model:
    return shadow.desired_model(split_statements(sql), admin_url)


def cached(sql: str, admin_url: str, key: str) -> Model:
    statements = split_statements(sql)
    return shadowcache.desired_model(statements, admin_url, None, key,
                                     lambda: shadow.desired_model(statements, admin_url))


def read(path: Path) -> tuple[tuple[object, ...], Model]:
    found = shadowcache.read_model_file(path)
    assert found is not None, f"{path} is not a model file"
    return found


def db_oid(admin_url: str, key: str, kind: str = "shadow") -> int | None:
    with psycopg.connect(admin_url) as conn:
        row = conn.execute("SELECT oid FROM pg_database WHERE datname = %s",
                           (shadowcache.database_name(kind, key),)).fetchone()
    return row[0] if row else None


def assert_same(a: Model, b: Model) -> None:
    steps = build_plan(a, b).steps
    assert not steps, [s.change.describe() for s in steps]
    assert a == b


@pytest.fixture
def key(tmp_path: Path, admin_url: str):
    yield str(tmp_path)
    for kind in ("shadow", "replay"):
        with psycopg.connect(admin_url, autocommit=True) as conn:
            name = shadowcache.database_name(kind, str(tmp_path))
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_before_then_after_equals_a_fresh_after(case: Path, admin_url: str, key: str) -> None:
    before, after = (case / "before.sql").read_text(), (case / "after.sql").read_text()
    assert_same(cached(before, admin_url, key), fresh(before, admin_url))
    assert_same(cached(after, admin_url, key), fresh(after, admin_url))
    assert_same(cached(before, admin_url, key), fresh(before, admin_url))  # and back


def test_same_statements_reuse_the_database(admin_url: str, key: str) -> None:
    sql = generate_sql(20)
    first = cached(sql, admin_url, key)
    oid = db_oid(admin_url, key)
    assert_same(cached(sql, admin_url, key), first)
    assert db_oid(admin_url, key) == oid


def _edits(sql: str, rng: random.Random) -> str:
    """One statement of the schema changed the way people change them."""
    statements = split_statements(sql)
    tables = [s for s in statements if s.kind == "CREATE TABLE"]
    target = rng.choice(tables)
    text = target.text
    lines = text.split("\n")
    choice = rng.randrange(5)
    if choice == 0:  # a new column
        lines.insert(1, "    added_col integer NOT NULL DEFAULT 0,")
    elif choice == 1 and len(lines) > 4:  # a column gone (not the first: it may be the key)
        candidates = [i for i, ln in enumerate(lines[2:-1], 2)
                      if re.match(r"\s+\w+ ", ln) and "REFERENCES" not in ln
                      and "PRIMARY" not in ln and "CONSTRAINT" not in ln]
        if candidates:
            del lines[rng.choice(candidates)]
    elif choice == 2:  # a type change
        text = re.sub(r"\btext\b", "varchar(200)", text, count=1)
        lines = text.split("\n")
    elif choice == 3:  # a whole table gone (with what references it, its indexes...)
        return "\n;\n".join(s.text for s in statements if s is not target) + ";"
    else:  # a new index
        name = target.object_key[2] if target.object_key else "t"
        first_col = re.search(r"\(\s*\n?\s*(\w+)", text)
        if first_col:
            return sql + f"\nCREATE INDEX {name}_extra_idx ON {name} ({first_col.group(1)});\n"
    new = "\n".join(lines)
    if new.rstrip().endswith(",\n)"):
        new = new.replace(",\n)", "\n)")
    return sql.replace(text, new, 1)


@pytest.mark.parametrize("seed", range(8))
def test_random_edits_of_a_generated_schema(seed: int, admin_url: str, key: str) -> None:
    rng = random.Random(seed)
    sql = generate_sql(30, seed=seed)
    cached(sql, admin_url, key)
    for _ in range(3):
        edited = _edits(sql, rng)
        try:
            expected = fresh(edited, admin_url)
        except Exception:
            continue  # an edit PostgreSQL rejects (a referenced column gone): not this test
        assert_same(cached(edited, admin_url, key), expected)
        sql = edited


def _comment(admin_url: str, key: str) -> str:
    with psycopg.connect(admin_url) as conn:
        row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                           "WHERE datname = %s",
                           (shadowcache.database_name("shadow", key),)).fetchone()
    assert row is not None and row[0]
    return str(row[0])


def test_a_state_packs_and_unpacks_to_the_same_json() -> None:
    state = {"v": 3, "token": "t", "extensions": [],
             "statements": [[f"h{i}", "CREATE TABLE", ["table", "public", f"t{i}"], None]
                            for i in range(7)], "one": [["x"]]}
    for per_part in (1, 2, 3, 7, 100):
        packed = shadowcache._packed(state, per_part).decode()
        assert json.loads(shadowcache._unpacked(shadowcache._PACKED + packed)) == state


def test_the_recorded_state_is_packed_and_an_older_json_one_still_reads(
        admin_url: str, key: str) -> None:
    sql = generate_sql(200)
    first = cached(sql, admin_url, key)
    oid = db_oid(admin_url, key)
    comment = _comment(admin_url, key)
    with psycopg.connect(admin_url) as conn:
        state = shadowcache._state(conn, shadowcache.database_name("shadow", key))
    assert state is not None
    assert len(state["statements"]) == len(split_statements(sql))
    # what the COMMENT holds (and the statement that records it) is a fraction of the JSON
    assert len(comment) < len(json.dumps(state)) / 3
    # a database recorded by the version before (its state as JSON) is used, not rebuilt
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql_.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql_.Identifier(shadowcache.database_name("shadow", key)),
            sql_.Literal(json.dumps(state))))
    assert_same(cached(sql, admin_url, key), first)
    assert db_oid(admin_url, key) == oid


def test_one_changed_table_is_swapped_not_rebuilt(admin_url: str, key: str) -> None:
    sql = generate_sql(30)
    cached(sql, admin_url, key)
    oid = db_oid(admin_url, key)
    statements = split_statements(sql)
    referenced = next(s for s in statements if s.kind == "CREATE TABLE")  # others point at it
    edited = sql.replace(referenced.text, referenced.text.replace(
        "(\n", "(\n    swapped_in integer,\n", 1), 1)
    assert edited != sql
    assert_same(cached(edited, admin_url, key), fresh(edited, admin_url))
    assert db_oid(admin_url, key) == oid


def test_a_view_on_a_changed_table_means_a_rebuild(admin_url: str, key: str) -> None:
    before = "CREATE TABLE a (id int, x int);\nCREATE VIEW v AS SELECT id FROM a;\n"
    after = "CREATE TABLE a (id int, x int, y int);\nCREATE VIEW v AS SELECT id FROM a;\n"
    cached(before, admin_url, key)
    oid = db_oid(admin_url, key)
    assert_same(cached(after, admin_url, key), fresh(after, admin_url))
    assert db_oid(admin_url, key) != oid  # rebuilt: the view would have gone with the table


def test_a_schema_postgres_rejects_reports_like_the_fresh_path(admin_url: str,
                                                             key: str) -> None:
    cached("CREATE TABLE a (id int);", admin_url, key)
    with pytest.raises(Exception) as cached_error:
        cached("CREATE TABLE a (id int);\nCREATE TABLE b (id nosuchtype);", admin_url, key)
    with pytest.raises(Exception) as fresh_error:
        fresh("CREATE TABLE a (id int);\nCREATE TABLE b (id nosuchtype);", admin_url)
    assert str(cached_error.value) == str(fresh_error.value)
    assert "nosuchtype" in str(cached_error.value)


def _write(folder: Path, n: int, name: str, sql: str) -> None:
    from trimtab.migrations.folder import write_migration

    write_migration(folder, name, [sql], None)


def test_replay_applies_only_what_was_added(tmp_path: Path, admin_url: str, key: str) -> None:
    folder = tmp_path / "migrations"
    _write(folder, 0, "first", "CREATE TABLE a (id int)")
    one = replay(read_folder(folder), admin_url, cache_key=key)
    oid = db_oid(admin_url, key, "replay")
    _write(folder, 1, "second", "ALTER TABLE a ADD COLUMN b text")
    two = replay(read_folder(folder), admin_url, cache_key=key)
    assert db_oid(admin_url, key, "replay") == oid
    assert_same(two, replay(read_folder(folder), admin_url))
    assert one != two
    # An edited migration: rebuilt, and right.
    path = sorted(folder.glob("0000_*.sql"))[0]
    path.write_text("CREATE TABLE a (id bigint);\n")
    three = replay(read_folder(folder), admin_url, cache_key=key)
    assert db_oid(admin_url, key, "replay") != oid
    assert_same(three, replay(read_folder(folder), admin_url))


def test_push_on_the_embedded_default_keeps_its_shadow_and_db_clean_drops_it() -> None:
    import shutil
    import subprocess
    import sys
    import tempfile

    from trimtab import embedded

    root = Path(tempfile.mkdtemp(prefix="trimtab-cache-", dir="/tmp"))  # see test_embedded
    exe = str(Path(sys.executable).parent / "trimtab")
    try:
        (root / "trimtab.toml").write_text('schema = "schema.sql"\n')
        (root / "schema.sql").write_text("CREATE TABLE a (id int);\n")

        def run(*args: str) -> str:
            done = subprocess.run([exe, *args], cwd=root, capture_output=True, text=True,
                                  timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": str(root)})
            assert done.returncode == 0, done.stdout + done.stderr
            return done.stdout

        def kept() -> list[str]:
            with psycopg.connect(embedded.start(root)) as conn:
                return [r[0] for r in conn.execute(
                    "SELECT datname FROM pg_database WHERE datname LIKE 'trimtab_cache_%'")]

        run("push")  # into an empty database: no shadow needed
        assert kept() == []
        (root / "schema.sql").write_text("CREATE TABLE a (id int, b text);\n")
        run("push")
        assert len(kept()) == 1
        with psycopg.connect(embedded.url(root) or "") as conn:
            assert conn.execute("SELECT count(*) FROM information_schema.columns "
                                "WHERE table_name = 'a'").fetchone() == (2,)
        assert "dropped 1 cached shadow database" in run("db", "clean")
        assert "dropped 0 cached shadow databases" in run("db", "clean")
    finally:
        embedded.remove(root)
        shutil.rmtree(root, ignore_errors=True)


def test_an_empty_folder_is_replayed_once(tmp_path: Path, admin_url: str, key: str) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    replay(read_folder(folder), admin_url, cache_key=key)
    oid = db_oid(admin_url, key, "replay")
    replay(read_folder(folder), admin_url, cache_key=key)
    assert db_oid(admin_url, key, "replay") == oid


def test_the_model_read_last_is_reused_until_the_database_changes(admin_url: str,
                                                                  key: str) -> None:
    sql = generate_sql(5)
    first = cached(sql, admin_url, key)
    name = shadowcache.database_name("shadow", key)
    path = shadowcache._model_file(admin_url, name)
    (fmt, token, schemas), model = read(path)
    assert model == first
    # A model saved under the recorded token is what the next run returns, unread.
    marker = dataclasses.replace(first, unmanaged=("a marker",))
    with path.open("wb") as f:
        shadowcache.write_model_file(f, (fmt, token, schemas), marker)
    assert cached(sql, admin_url, key) == marker
    # Under another token (or format) it is ignored: the catalogs are read again.
    with path.open("wb") as f:
        shadowcache.write_model_file(f, (fmt, "other", schemas), marker)
    assert_same(cached(sql, admin_url, key), first)
    path.write_bytes(b"not a model")
    assert_same(cached(sql, admin_url, key), first)
    # A change (here a swapped table) records a new token, with the model it gives.
    edited = sql.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1)
    expected = fresh(edited, admin_url)
    assert_same(cached(edited, admin_url, key), expected)
    (_, new_token, _), saved = read(path)
    assert new_token != token and saved == expected
    # db clean forgets the file with the database.
    shadowcache.drop(admin_url, [("shadow", key)])
    assert not path.exists()


def test_the_model_kept_in_memory_serves_until_its_token_or_file_changes(
        admin_url: str, key: str) -> None:
    """The same statements again: the model of before, not unpickled again; an edit (a new
    token) or a model file written since (another process) is never answered from it."""
    sql = generate_sql(4)
    first = cached(sql, admin_url, key)
    assert cached(sql, admin_url, key) is first
    edited = sql.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1).replace(
        "PRIMARY KEY", "PRIMARY KEY, kept_edit int", 1)
    after = cached(edited, admin_url, key)
    assert_same(after, fresh(edited, admin_url))
    assert after != first and cached(edited, admin_url, key) is after
    path = shadowcache._model_file(admin_url, shadowcache.database_name("shadow", key))
    (fmt, token, schemas), model = read(path)
    marker = dataclasses.replace(model, unmanaged=("written by another process",))
    with path.open("wb") as f:
        shadowcache.write_model_file(f, (fmt, token, schemas), marker)
    assert cached(edited, admin_url, key) == marker


def test_a_save_put_off_answers_from_memory_and_writes_when_run(admin_url: str,
                                                                key: str) -> None:
    """The language server writes the shadow's model after its diagnostics are out
    (saves_later): meanwhile this process answers from memory; run, the save writes the
    file a new process starts from; an older put-off save, run after a newer model was
    kept, writes nothing."""
    sql = generate_sql(4)
    first = cached(sql, admin_url, key)
    path = shadowcache._model_file(admin_url, shadowcache.database_name("shadow", key))

    def on_file() -> Model:
        return read(path)[1]

    edited = sql.replace("PRIMARY KEY", "PRIMARY KEY, put_off_a int", 1)
    with shadowcache.saves_later() as older:
        after = cached(edited, admin_url, key)
    assert len(older) == 1 and on_file() == first  # not written yet
    assert cached(edited, admin_url, key) is after  # from memory, not the file
    again = edited.replace("put_off_a int", "put_off_b int", 1)
    with shadowcache.saves_later() as newer:
        newest = cached(again, admin_url, key)
    assert_same(newest, fresh(again, admin_url))
    older[0]()
    assert on_file() == first  # a newer model is kept: its own save writes it
    newer[0]()
    assert on_file() == newest
    shadowcache._kept_models.clear()  # a new process: the file is what it starts from
    assert cached(again, admin_url, key) == newest


def test_model_files_unused_for_a_month_go(admin_url: str, key: str) -> None:
    sql = generate_sql(3)
    cached(sql, admin_url, key)
    path = shadowcache._model_file(admin_url, shadowcache.database_name("shadow", key))
    month = time.time() - shadowcache.MODEL_MAX_AGE - 60
    stale = path.parent / "trimtab_cache_shadow_gone_000000000000.pickle"
    stale.write_bytes(b"a model of a server that is no more")
    os.utime(stale, (month, month))
    os.utime(path, (month, month))
    cached(sql, admin_url, key)  # reused: marked as in use
    assert path.stat().st_mtime > month + 3600
    shadowcache._pruned.clear()  # as in a process that has not pruned this hour
    cached(sql.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1), admin_url, key)
    assert path.exists() and not stale.exists()  # a save prunes the unused ones
    stale.write_bytes(b"another")
    os.utime(stale, (month, month))
    cached(sql, admin_url, key)
    assert stale.exists()  # pruned this hour already: the next save looks at no file


def test_builds_take_turns_on_a_server(admin_url: str) -> None:
    """Two large builds at once overflow PostgreSQL's lock table at its default size."""
    order: list[str] = []
    with shadow.connect(admin_url) as a, shadow.connect(admin_url) as b:
        with shadow.one_build_at_a_time(a):
            def second() -> None:
                with shadow.one_build_at_a_time(b):
                    order.append("second")
            t = threading.Thread(target=second)
            t.start()
            t.join(0.5)
            assert t.is_alive()  # waits for the first
            order.append("first")
        t.join(10)
    assert order == ["first", "second"]


def test_statement_hashes_kept_by_text_follow_an_edit(admin_url: str, key: str) -> None:
    """Hashes are kept by statement text (the editor hashes every statement after each
    pause in typing): an edited statement hashes anew, and the cache swaps it in."""
    sql = generate_sql(3)
    before = split_statements(sql, "schema.sql")
    edited_sql = sql.replace("PRIMARY KEY", "PRIMARY KEY, kept_hash int", 1)
    after = split_statements(edited_sql, "schema.sql")
    old = [shadowcache.statement_hash(st) for st in before]
    new = [shadowcache.statement_hash(st) for st in after]
    assert sum(a != b for a, b in zip(old, new, strict=True)) == 1
    assert [shadowcache.statement_hash(st) for st in before] == old
    cached(sql, admin_url, key)
    assert_same(cached(edited_sql, admin_url, key), fresh(edited_sql, admin_url))
