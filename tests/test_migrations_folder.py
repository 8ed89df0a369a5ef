"""The migrations folder (migrations/folder.py): drizzle-kit's layout read as drizzle-kit wrote
it, migrations written as drizzle-kit writes them, trimtab.sum, and ``check`` on every kind of
broken folder (with the fix in each problem).

``tests/data/drizzle-folder/`` is a verbatim copy of a real drizzle-kit 0.31 folder (from
``../shared/samples/drizzle/``: ``01-init`` plus the ``02-rename-column`` migration, its
journal and snapshots). It lives outside ``fixtures/`` because the structural-model property
test applies every ``fixtures/**/*.sql`` file as a schema of its own, which a migration that
renames a column is not.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trimtab.errors import SchemaError
from trimtab.migrations.folder import (
    BREAKPOINT,
    NO_TRANSACTION,
    Folder,
    Migration,
    MigrationStatement,
    Problem,
    check,
    checksum,
    next_tag,
    read_folder,
    slug,
    split_migration,
    sum_text,
    update_sum,
    write_migration,
)
from trimtab.model import Model, Schema, make_model
from trimtab.sources.snapshot import ZERO_ID, dump_snapshot, load_snapshot

DRIZZLE = Path(__file__).parent / "data" / "drizzle-folder"
SAMPLES = Path(__file__).parent.parent.parent / "shared" / "samples" / "drizzle"
# drizzle.__drizzle_migrations.hash after `drizzle-kit migrate` of 0000_init.sql
# (samples/drizzle/01-init/tracking_table.txt).
INIT_HASH = "2cee082a4e125d1c9bf9fc3ac159c7c8ee13506e48e99068254812f288f728bb"


@pytest.fixture
def drizzle(tmp_path: Path) -> Path:
    """A writable copy of the drizzle-kit folder."""
    return Path(shutil.copytree(DRIZZLE, tmp_path / "drizzle"))


def _messages(problems: list[Problem]) -> str:
    return "\n".join(str(p) for p in problems)


# --------------------------------------------------------------------------------------
# A folder written by drizzle-kit


def test_read_drizzle_kit_folder() -> None:
    folder = read_folder(DRIZZLE)
    assert folder.written_by == "drizzle-kit"
    assert [(m.idx, m.tag, m.name, m.when) for m in folder.migrations] == [
        (0, "0000_init", "0000_init", 1795304282389),
        (1, "0001_rename_col", "0001_rename_col", 1795304485888),
    ]
    init, rename = folder.migrations
    assert init.path == DRIZZLE / "0000_init.sql"
    assert init.snapshot == DRIZZLE / "meta" / "0000_snapshot.json"
    assert rename.snapshot == DRIZZLE / "meta" / "0001_snapshot.json"
    assert init.transactional and rename.transactional
    # Split on the breakpoints, with the line each statement starts on.
    assert [s.line for s in init.statements] == [1, 2, 10, 20, 33, 34, 35, 36, 37, 38, 39]
    assert init.statements[0].text == (
        """CREATE TYPE "public"."role" AS ENUM('admin', 'editor', 'viewer')"""
    )
    assert init.statements[1].text.startswith('CREATE TABLE "comments" (\n\t"id" uuid')
    assert init.statements[1].text.endswith('"created_at" timestamp DEFAULT now() NOT NULL\n)')
    assert init.statements[-1].text == (
        'CREATE UNIQUE INDEX "users_public_id_idx" ON "users" USING btree ("public_id")'
    )
    assert rename.statements == (
        MigrationStatement('ALTER TABLE "users" RENAME COLUMN "display_name" TO "full_name"', 1),
    )
    # drizzle's own snapshots are not trimtab's: there is no trimtab snapshot to start from.
    assert folder.last_snapshot() is None
    assert check(DRIZZLE) == []


def test_checksums_match_drizzles_tracking_table() -> None:
    init = read_folder(DRIZZLE).migrations[0]
    assert init.checksum == INIT_HASH
    assert init.checksum == hashlib.sha256((DRIZZLE / "0000_init.sql").read_bytes()).hexdigest()


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/samples/drizzle is not here")
def test_fixture_is_a_verbatim_copy_of_the_sample() -> None:
    pairs = {
        "0000_init.sql": "01-init/0000_init.sql",
        "meta/0000_snapshot.json": "01-init/meta/0000_snapshot.json",
        "0001_rename_col.sql": "02-rename-column/0001_rename_col.sql",
        "meta/0001_snapshot.json": "02-rename-column/0001_snapshot.json",
        "meta/_journal.json": "02-rename-column/_journal.json",
    }
    for ours, theirs in pairs.items():
        assert (DRIZZLE / ours).read_bytes() == (SAMPLES / theirs).read_bytes(), ours
    table = (SAMPLES / "01-init" / "tracking_table.txt").read_text()
    recorded = re.findall(r"^\s*\d+\s*\|\s*([0-9a-f]{64})\s*\|\s*(\d+)", table, re.M)
    by_when = {m.when: m.checksum for m in read_folder(DRIZZLE).migrations}
    assert recorded and all(by_when[int(when)] == h for h, when in recorded)


def test_checksum_decodes_as_node_does() -> None:
    # Node's readFileSync().toString(): invalid UTF-8 becomes U+FFFD, a BOM is kept.
    assert checksum(b"a\xffb") == hashlib.sha256("a\ufffdb".encode()).hexdigest()
    assert checksum(b"a\xffb") != hashlib.sha256(b"a\xffb").hexdigest()
    bom = "\ufeffSELECT 1;".encode()
    assert checksum(bom) == hashlib.sha256(bom).hexdigest()
    assert checksum(b"x;\r\n") != checksum(b"x;\n")


def test_checksum_in_parts_is_the_checksum_of_the_whole() -> None:
    # Read in parts of a few bytes, a character or an invalid sequence cut by a part's end
    # decodes as it does whole.
    texts = [b"", b"plain ascii;", "caf\u00e9 \u2603 \U0001f600;".encode(),
             b"a\xffb\xe2\x98", b"\xe2\x98\x83\xf0\x9f", "\ufeffSELECT '\u00e9';".encode(),
             bytes(range(256)) * 3]
    for data in texts:
        whole = hashlib.sha256(data.decode("utf-8", errors="replace").encode()).hexdigest()
        for part in (1, 2, 3, 5, 1 << 20):
            assert checksum(data, part) == whole, (data, part)


def test_continue_a_drizzle_kit_folder(drizzle: Path) -> None:
    model = make_model([Schema("app")])
    snap = dump_snapshot(model, id=str(uuid.uuid4()), prev_id=ZERO_ID)
    m = write_migration(drizzle, "Add app schema", ["CREATE SCHEMA app"], snap)
    assert m.tag == "0002_add_app_schema" and m.idx == 2
    assert m.when > 1795304485888
    folder = read_folder(drizzle)
    assert folder.written_by == "trimtab"
    assert [x.tag for x in folder.migrations] == ["0000_init", "0001_rename_col", m.tag]
    assert folder.last_snapshot() == drizzle / "meta" / "0002_snapshot.json"
    journal = json.loads((drizzle / "meta" / "_journal.json").read_text())
    assert journal["entries"][:2] == json.loads(
        (DRIZZLE / "meta" / "_journal.json").read_text())["entries"]
    # A first trimtab snapshot may start a chain of its own, or follow drizzle's last id.
    assert check(drizzle) == []
    drizzle_id = json.loads((drizzle / "meta" / "0001_snapshot.json").read_text())["id"]
    (drizzle / "meta" / "0002_snapshot.json").write_text(
        dump_snapshot(model, id="c", prev_id=drizzle_id))
    assert check(drizzle) == []
    (drizzle / "meta" / "0002_snapshot.json").write_text(
        dump_snapshot(model, id="c", prev_id="somewhere-else"))
    assert "prevId somewhere-else should be the previous snapshot meta/0001_snapshot.json" in (
        _messages(check(drizzle)))


# --------------------------------------------------------------------------------------
# Writing and reading back


def _trimtab_folder(path: Path, count: int) -> list[Migration]:
    """A trimtab folder of ``count`` migrations with chained snapshots."""
    out = []
    prev = ZERO_ID
    for i in range(count):
        sid = str(uuid.uuid4())
        model = make_model([Schema(f"s{j}") for j in range(i + 1)])
        out.append(write_migration(path, f"add s{i}", [f"CREATE SCHEMA s{i}"],
                                   dump_snapshot(model, id=sid, prev_id=prev)))
        prev = sid
    return out


def test_write_then_read(tmp_path: Path) -> None:
    path = tmp_path / "migrations"  # does not exist yet
    assert read_folder(path) == Folder(path, (), "trimtab")
    snap = dump_snapshot(Model(), id="a1", prev_id=ZERO_ID)
    first = write_migration(
        path, "init",
        ['CREATE TABLE "users" (\n\t"id" integer\n);', "CREATE INDEX i ON users (id)  \n"],
        snap, when=1000,
    )
    sql = path / "0000_init.sql"
    assert sql.read_text() == (
        'CREATE TABLE "users" (\n\t"id" integer\n);\n'
        f"{BREAKPOINT}\n"
        "CREATE INDEX i ON users (id);\n"
    )
    assert first == Migration(
        idx=0, tag="0000_init", path=sql, when=1000,
        checksum=hashlib.sha256(sql.read_bytes()).hexdigest(),
        statements=(MigrationStatement('CREATE TABLE "users" (\n\t"id" integer\n)', 1),
                    MigrationStatement("CREATE INDEX i ON users (id)", 5)),
        transactional=True,
        snapshot=path / "meta" / "0000_snapshot.json",
    )
    assert (path / "meta" / "0000_snapshot.json").read_text() == snap
    assert json.loads((path / "meta" / "_journal.json").read_text()) == {
        "version": "7", "dialect": "postgresql",
        "entries": [{"idx": 0, "version": "7", "when": 1000, "tag": "0000_init",
                     "breakpoints": True}],
    }
    second = write_migration(path, "Add posts.slug!", ["ALTER TABLE posts ADD slug text"],
                             None)
    assert second.tag == "0001_add_posts_slug" and second.idx == 1
    assert second.snapshot is None
    assert second.when > 1000
    folder = read_folder(path)
    assert folder.migrations == (first, second)
    assert folder.written_by == "trimtab"
    assert folder.last_snapshot() == path / "meta" / "0000_snapshot.json"
    assert (path / "meta" / "trimtab.sum").read_text() == sum_text(folder)
    assert check(path) == []
    # Atomic writes leave no temporary files behind.
    assert sorted(p.name for p in path.rglob("*")) == [
        "0000_init.sql", "0000_snapshot.json", "0001_add_posts_slug.sql", "_journal.json",
        "meta", "trimtab.sum"]


def test_statement_ending_in_a_comment_gets_its_semicolon_on_a_line_of_its_own(
    tmp_path: Path,
) -> None:
    m = write_migration(tmp_path, "x", ["SELECT 1 -- one", "SELECT 2"], None)
    assert m.path.read_text() == f"SELECT 1 -- one\n;\n{BREAKPOINT}\nSELECT 2;\n"
    assert [s.text for s in m.statements] == ["SELECT 1", "SELECT 2"]


def test_custom_and_no_transaction_migrations(tmp_path: Path) -> None:
    custom = write_migration(tmp_path, "backfill", [], None)
    text = custom.path.read_text()
    assert text.startswith("-- ") and "Custom migration" in text
    assert BREAKPOINT not in text
    assert custom.statements == () and custom.transactional
    concurrently = write_migration(
        tmp_path, "index", ["CREATE INDEX CONCURRENTLY i ON t (a)"], None, transactional=False
    )
    assert concurrently.path.read_text() == (
        f"{NO_TRANSACTION}\nCREATE INDEX CONCURRENTLY i ON t (a);\n")
    assert not concurrently.transactional
    assert concurrently.statements == (
        MigrationStatement("CREATE INDEX CONCURRENTLY i ON t (a)", 2),)
    both = write_migration(tmp_path, "fill later", [], None, transactional=False)
    assert both.path.read_text().splitlines()[0] == NO_TRANSACTION
    assert not both.transactional and both.statements == ()
    assert check(tmp_path) == []


def test_write_refuses_to_overwrite_an_unlisted_file(tmp_path: Path) -> None:
    write_migration(tmp_path, "init", ["SELECT 1"], None)
    (tmp_path / "0001_next.sql").write_text("SELECT 2;\n")
    with pytest.raises(SchemaError, match="already exists but is not in meta/_journal.json"):
        write_migration(tmp_path, "next", ["SELECT 3"], None)
    assert (tmp_path / "0001_next.sql").read_text() == "SELECT 2;\n"


# --------------------------------------------------------------------------------------
# Splitting


def test_breakpoint_splitting_with_line_numbers() -> None:
    text = (
        "-- header comment\n"  # 1
        "CREATE TABLE a (id int);--> statement-breakpoint\n"  # 2
        "\n"  # 3
        "-- about b\n"  # 4
        "CREATE TABLE b (\n"  # 5
        "  id int\n"  # 6
        ");\n"  # 7
        "--> statement-breakpoint\n"  # 8
        "-- only a comment\n"  # 9
        "--> statement-breakpoint\n"  # 10
        "INSERT INTO a VALUES (1); INSERT INTO a VALUES (2);\n"  # 11
        "--> statement-breakpoint\n"  # 12
        "  \n"  # 13
    )
    statements, transactional = split_migration(text)
    assert transactional
    assert statements == (
        MigrationStatement("CREATE TABLE a (id int)", 2),
        MigrationStatement("CREATE TABLE b (\n  id int\n)", 5),
        # A chunk is one unit, as drizzle runs it (several statements in one query).
        MigrationStatement("INSERT INTO a VALUES (1); INSERT INTO a VALUES (2)", 11),
    )
    # CRLF line ends count the same.
    crlf, _ = split_migration(text.replace("\n", "\r\n"))
    assert [s.line for s in crlf] == [2, 5, 11]


def test_splitting_without_breakpoints() -> None:
    text = (
        "\ufeff-- hand-written\n"
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;\n"
        "\n"
        "UPDATE t SET a = ';'\n"
        "  WHERE b; -- trailing\n"
        "/* only a comment */\n"
    )
    statements, transactional = split_migration(text)
    assert transactional
    assert statements == (
        MigrationStatement("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$", 2),
        MigrationStatement("UPDATE t SET a = ';'\n  WHERE b", 4),
    )
    assert split_migration("-- nothing\n\n") == ((), True)


def test_a_split_text_is_remembered_without_the_text() -> None:
    """Splitting is remembered (the same statements for the same text) but the text is not
    kept: a first migration of 10,000 tables is 10 MiB, held by its statements already."""
    text = "".join(f"CREATE TABLE t{i} (id int);\n--> statement-breakpoint\n"
                   for i in range(50)) + "SELECT 'remembered';\n"
    held = sys.getrefcount(text)
    first = split_migration(text)
    assert sys.getrefcount(text) == held
    again = split_migration((text + " ")[:-1])  # an equal text, another object
    assert again is first and len(first[0]) == 51


@pytest.mark.parametrize(
    ("text", "transactional"),
    [
        (f"{NO_TRANSACTION}\nCREATE INDEX CONCURRENTLY i ON t (a);", False),
        (f"-- why: a big table\n\n  {NO_TRANSACTION}  \nCREATE INDEX CONCURRENTLY i ON t (a);",
         False),
        (f"{NO_TRANSACTION} (CONCURRENTLY below)\nSELECT 1;", False),
        (f"\ufeff{NO_TRANSACTION}\nSELECT 1;", False),
        (f"SELECT 1;\n{NO_TRANSACTION}\nSELECT 2;", True),  # not at the top: no effect
        (f"{NO_TRANSACTION}-ish\nSELECT 1;", True),
        ("-- trimtab:no-transactions\nSELECT 1;", True),
    ],
)
def test_no_transaction_directive(text: str, transactional: bool) -> None:
    assert split_migration(text)[1] is transactional


# --------------------------------------------------------------------------------------
# Names


def test_slug_and_next_tag(tmp_path: Path) -> None:
    assert slug("Add posts.slug!") == "add_posts_slug"
    assert slug("  créer  la table  ") == "creer_la_table"
    assert slug("---") == "migration"
    long = slug("x" * 59 + " and more")
    assert long == "x" * 59 and len(slug("ab " * 40)) <= 60
    assert not slug("ab " * 40).endswith("_")
    empty = read_folder(tmp_path / "nothing")
    assert next_tag(empty, "init") == "0000_init"
    _trimtab_folder(tmp_path, 3)
    assert next_tag(read_folder(tmp_path), "Add Users") == "0003_add_users"


# --------------------------------------------------------------------------------------
# read_folder errors


def test_read_folder_errors(tmp_path: Path) -> None:
    assert read_folder(tmp_path / "absent").migrations == ()
    assert read_folder(tmp_path).migrations == ()  # exists, empty
    write_migration(tmp_path, "init", ["SELECT 1"], None)
    journal = tmp_path / "meta" / "_journal.json"
    good = journal.read_text()

    journal.write_text(good.replace('"tag": "0000_init",', '"tag": "0000_init"'))
    with pytest.raises(SchemaError) as e:
        read_folder(tmp_path)
    assert e.value.file == str(journal)
    assert str(e.value).startswith(
        f"{journal}:10:7: meta/_journal.json is not valid JSON: Expecting ',' delimiter "
        "(line 10, column 7)")
    assert (e.value.line, e.value.column) == (10, 7)

    journal.write_text(good.replace("0000_init", "0000_gone"))
    with pytest.raises(SchemaError, match="0000_gone.sql is missing") as e:
        read_folder(tmp_path)
    assert e.value.file == str(tmp_path / "0000_gone.sql")

    journal.write_text('{"entries": [{"tag": "../x", "idx": 0, "when": 1}]}')
    with pytest.raises(SchemaError, match="no valid \"tag\""):
        read_folder(tmp_path)

    journal.unlink()
    with pytest.raises(SchemaError, match="1 .sql file but no meta/_journal.json"):
        read_folder(tmp_path)


# --------------------------------------------------------------------------------------
# trimtab.sum


def _h(text: str) -> str:
    return "h1:" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def test_sum_format(tmp_path: Path) -> None:
    migrations = _trimtab_folder(tmp_path, 3)
    lines = (tmp_path / "meta" / "trimtab.sum").read_text().splitlines()
    chained, expected = "", []
    for m in migrations:
        chained = _h(chained + m.checksum)
        expected.append(f"{m.path.name} {chained}")
    assert lines == [_h("\n".join(expected)), *expected]
    assert sum_text(read_folder(tmp_path / "none")) == _h("") + "\n"


def test_two_branches_adding_0004_always_conflict_in_the_sum(tmp_path: Path) -> None:
    base = tmp_path / "base"
    _trimtab_folder(base, 4)
    a = Path(shutil.copytree(base, tmp_path / "a"))
    b = Path(shutil.copytree(base, tmp_path / "b"))
    write_migration(a, "add a", ["CREATE TABLE a ()"], None)
    write_migration(b, "add b", ["CREATE TABLE b ()"], None)
    sums = [p / "meta" / "trimtab.sum" for p in (a, base, b)]
    lines_a, lines_base, lines_b = (p.read_text().splitlines() for p in sums)
    assert lines_a[1:5] == lines_base[1:] == lines_b[1:5]
    assert lines_a[0] != lines_base[0] != lines_b[0] and lines_a[5] != lines_b[5]
    merged = subprocess.run(["git", "merge-file", "-p", *map(str, sums)],
                            capture_output=True, text=True)
    assert merged.returncode > 0, "git merged trimtab.sum without a conflict"
    assert "<<<<<<<" in merged.stdout


# --------------------------------------------------------------------------------------
# check


def test_check_clean_folders(tmp_path: Path) -> None:
    assert check(tmp_path / "absent") == []
    assert check(tmp_path) == []
    _trimtab_folder(tmp_path, 3)
    assert check(tmp_path) == []
    assert check(DRIZZLE) == []


def test_check_missing_file(tmp_path: Path) -> None:
    _trimtab_folder(tmp_path, 3)
    (tmp_path / "0001_add_s1.sql").unlink()
    problems = check(tmp_path)
    first = problems[0]
    assert first.message == "journal entry 1 names 0001_add_s1.sql, which does not exist"
    assert first.file == str(tmp_path / "meta" / "_journal.json")
    assert first.line == 16  # the entry's "tag" line
    assert first.hint and "restore" in first.hint and "remove the entry" in first.hint
    assert len(problems) == 1  # the sum cannot match without the file: not reported on top


def test_check_orphan_file(tmp_path: Path) -> None:
    _trimtab_folder(tmp_path, 2)
    (tmp_path / "0002_by_hand.sql").write_text("SELECT 1;\n")
    assert check(tmp_path) == [Problem(
        "0002_by_hand.sql is not in the journal: no migration runs it",
        file=str(tmp_path / "0002_by_hand.sql"),
        hint="generate migrations with `trimtab generate` (or `--custom` for a hand-written "
        f"one); to keep this file, add an entry for it to {tmp_path}/meta/_journal.json, or "
        "delete it",
    )]


def test_check_orphan_file_in_a_drizzle_folder(drizzle: Path) -> None:
    (drizzle / "0002_extra.sql").write_text("SELECT 1;")
    (drizzle / "meta" / "0001_snapshot.json").write_text("not json")  # not trimtab's: skipped
    problems = check(drizzle)
    assert [p.file for p in problems] == [str(drizzle / "0002_extra.sql")]


def _merge_branches(tmp_path: Path) -> tuple[Path, Path]:
    """Two branches that each added 0004 to the same four migrations, merged the way people
    resolve the conflicts: both journal entries kept, the first branch's snapshot and sum."""
    base = tmp_path / "base"
    _trimtab_folder(base, 4)
    main = Path(shutil.copytree(base, tmp_path / "main"))
    branch = Path(shutil.copytree(base, tmp_path / "branch"))
    last_id = load_snapshot((base / "meta" / "0003_snapshot.json").read_text(), "x")[1]
    for path, name in ((main, "add a"), (branch, "add b")):
        write_migration(path, name, [f"CREATE TABLE {name[-1]} ()"],
                        dump_snapshot(Model(), id=str(uuid.uuid4()), prev_id=last_id))
    shutil.copy(branch / "0004_add_b.sql", main)
    journal = json.loads((main / "meta" / "_journal.json").read_text())
    journal["entries"].append(
        json.loads((branch / "meta" / "_journal.json").read_text())["entries"][-1])
    (main / "meta" / "_journal.json").write_text(json.dumps(journal, indent=2))
    return main, branch


def test_check_two_0004_files(tmp_path: Path) -> None:
    main, branch = _merge_branches(tmp_path)
    problems = check(main)
    dup = problems[0]
    assert dup.message == (
        "2 migrations numbered 0004: 0004_add_a.sql, 0004_add_b.sql (two branches that each "
        "added a migration?)"
    )
    assert dup.file == str(main / "0004_add_b.sql")
    assert dup.hint is not None and dup.hint.startswith(
        "run `trimtab migrate rebase`, or renumber by hand: keep 0004_add_a.sql, rename "
        "0004_add_b.sql to 0005_add_b.sql "
        "and set its journal entry to idx 5, tag '0005_add_b', moved last; then run "
        "`trimtab check --update-sum`. Or, when no database has applied it yet, delete "
        "0004_add_b.sql (and its journal entry) and run `trimtab generate` again"
    )
    # The sum names the first migration that no longer matches; the shared snapshot file is
    # not reported again.
    assert [p.message for p in problems[1:]] == [
        "0004_add_b.sql is not in meta/trimtab.sum: written by hand or merged from another "
        "branch"
    ]

    # Following the hint gives a clean folder.
    (main / "0004_add_b.sql").rename(main / "0005_add_b.sql")
    journal = json.loads((main / "meta" / "_journal.json").read_text())
    journal["entries"][-1].update(idx=5, tag="0005_add_b")
    (main / "meta" / "_journal.json").write_text(json.dumps(journal, indent=2))
    update_sum(main)
    assert check(main) == []
    assert next_tag(read_folder(main), "next") == "0006_next"


def test_check_two_0004_files_one_not_in_the_journal(tmp_path: Path) -> None:
    main, _ = _merge_branches(tmp_path)
    journal = json.loads((main / "meta" / "_journal.json").read_text())
    journal["entries"].pop()
    (main / "meta" / "_journal.json").write_text(json.dumps(journal, indent=2))
    problems = check(main)
    assert len(problems) == 1
    assert problems[0].hint is not None and (
        "rename 0004_add_b.sql to 0005_add_b.sql and add it to the journal (idx 5, tag "
        "'0005_add_b')" in problems[0].hint)


def test_check_branch_migration_renumbered_without_regenerating_the_sum(tmp_path: Path) -> None:
    main, branch = _merge_branches(tmp_path)
    (main / "0004_add_b.sql").rename(main / "0005_add_b.sql")
    journal = json.loads((main / "meta" / "_journal.json").read_text())
    journal["entries"][-1].update(idx=5, tag="0005_add_b")
    (main / "meta" / "_journal.json").write_text(json.dumps(journal, indent=2))
    # Both sides of the sum kept, the branch's line renamed.
    branch_line = (branch / "meta" / "trimtab.sum").read_text().splitlines()[-1]
    with (main / "meta" / "trimtab.sum").open("a") as f:
        f.write(branch_line.replace("0004_add_b", "0005_add_b") + "\n")
    problems = check(main)
    assert [p.message for p in problems] == [
        "0005_add_b.sql was generated on top of 0003_add_s3.sql, but now follows "
        "0004_add_a.sql: two branches each added migrations after 0003_add_s3.sql"
    ]


def test_check_edited_file(tmp_path: Path) -> None:
    _trimtab_folder(tmp_path, 4)
    path = tmp_path / "0001_add_s1.sql"
    path.write_text(path.read_text() + "-- edited\n")
    problems = check(tmp_path)
    assert problems == [Problem(
        "0001_add_s1.sql changed after it was generated: its hash differs from "
        "meta/trimtab.sum",
        file=str(path),
        hint=f"revert the edit (git checkout -- {path}); if the edit is intended and no "
        "database has applied 0001_add_s1 yet, run `trimtab check --update-sum`; for a "
        "database that has, write a new migration instead",
    )]
    update_sum(tmp_path)
    assert check(tmp_path) == []


def test_check_sum_problems(tmp_path: Path) -> None:
    _trimtab_folder(tmp_path, 3)
    sum_path = tmp_path / "meta" / "trimtab.sum"
    good = sum_path.read_text()
    lines = good.splitlines()

    sum_path.write_text("\n".join(lines[:-1]) + "\n")
    assert [p.message for p in check(tmp_path)] == [
        "0002_add_s2.sql is not in meta/trimtab.sum: written by hand or merged from another "
        "branch"]

    sum_path.write_text(good + "0003_gone.sql h1:abc\n")
    assert [(p.message, p.line) for p in check(tmp_path)] == [
        ("the sum lists 0003_gone.sql, which is not in the journal (deleted?)", 5)]

    sum_path.write_text("h1:wrong\n" + "\n".join(lines[1:]) + "\n")
    assert [(p.message, p.line) for p in check(tmp_path)] == [
        ("the total (first line) does not match the lines below it", 1)]

    sum_path.write_text("<<<<<<< HEAD\n" + good + "=======\n" + good + ">>>>>>> b\n")
    assert [(p.message, p.line) for p in check(tmp_path)] == [
        ("git conflict markers: two branches both added migrations", 1)]

    sum_path.write_text("garbage\n")
    assert [p.message for p in check(tmp_path)] == [
        "malformed: the first line must be h1:<total>"]


def test_check_broken_snapshot_chain(tmp_path: Path) -> None:
    _trimtab_folder(tmp_path, 3)
    snap = tmp_path / "meta" / "0002_snapshot.json"
    model, sid, _ = load_snapshot(snap.read_text(), str(snap))
    snap.write_text(dump_snapshot(model, id=sid, prev_id="11111111-2222-3333-4444-555555555555"))
    prev_id = load_snapshot((tmp_path / "meta" / "0001_snapshot.json").read_text(), "x")[1]
    problems = check(tmp_path)
    assert len(problems) == 1
    p = problems[0]
    assert p.file == str(snap) and p.line == 3
    assert p.message.startswith(
        "prevId 11111111-2222-3333-4444-555555555555 should be the previous snapshot "
        f"meta/0001_snapshot.json ({prev_id}): the snapshot chain is broken")
    assert p.hint and "generate it again" in p.hint

    first = tmp_path / "meta" / "0000_snapshot.json"
    model, sid, _ = load_snapshot(first.read_text(), str(first))
    first.write_text(dump_snapshot(model, id=sid, prev_id="x"))
    assert f"prevId x should be {ZERO_ID} (it is the first snapshot)" in _messages(
        check(tmp_path))


def test_check_snapshot_problems(tmp_path: Path) -> None:
    _trimtab_folder(tmp_path, 3)
    snap = tmp_path / "meta" / "0001_snapshot.json"
    snap.write_text('{"id": ')
    problems = check(tmp_path)
    assert len(problems) == 1  # the chain after an unreadable snapshot is not judged
    assert problems[0].file == str(snap)
    assert "is not valid JSON" in problems[0].message and problems[0].line == 1

    snap.write_text(json.dumps({"id": "a", "prevId": "b", "version": 9, "model": {}}))
    assert "snapshot version 9" in _messages(check(tmp_path))

    snap.write_text(dump_snapshot(Model(), id="a", prev_id="b").replace(
        '"model": {}', '"model": {"tables": 1}'))
    assert "model.tables: expected a list of objects" in _messages(check(tmp_path))

    shutil.copy(tmp_path / "meta" / "0000_snapshot.json", snap)  # a copied snapshot
    messages = _messages(check(tmp_path))
    assert "is also the id of meta/0000_snapshot.json" in messages

    (tmp_path / "meta" / "0009_snapshot.json").write_text("{}")
    assert any(p.file == str(tmp_path / "meta" / "0009_snapshot.json")
               and p.message == "snapshot of no migration in the journal"
               for p in check(tmp_path))


def test_check_broken_journal(tmp_path: Path) -> None:
    _trimtab_folder(tmp_path, 2)
    journal = tmp_path / "meta" / "_journal.json"
    journal.write_text(journal.read_text().replace("}", "", 1))
    problems = check(tmp_path)
    assert len(problems) == 1
    assert problems[0].file == str(journal)
    assert problems[0].line == 12
    assert "is not valid JSON: Expecting property name enclosed in double quotes (line 12" in (
        problems[0].message)

    journal.write_text("<<<<<<< HEAD\n{}\n=======\n{}\n>>>>>>> b\n")
    [p] = check(tmp_path)
    assert p.hint and "merge conflict" in p.hint


def test_check_idx_sequence(tmp_path: Path) -> None:
    _trimtab_folder(tmp_path, 3)
    journal_path = tmp_path / "meta" / "_journal.json"
    journal = json.loads(journal_path.read_text())
    journal["entries"][2]["idx"] = 3
    journal_path.write_text(json.dumps(journal, indent=2))
    messages = [p.message for p in check(tmp_path)]
    assert messages == [
        "journal entry 0002_add_s2 has idx 3, expected 2 after 0001_add_s1 (idx 1)",
        "journal entry 0002_add_s2 has idx 3 but its file is numbered 0002",
    ]
    journal["entries"][2]["idx"] = 1
    journal_path.write_text(json.dumps(journal, indent=2))
    assert [p.message for p in check(tmp_path)][0] == (
        "journal entries 0001_add_s1 and 0002_add_s2 both have idx 1")
    journal["entries"].append(journal["entries"][0])
    journal["entries"][2]["idx"] = 2
    journal_path.write_text(json.dumps(journal, indent=2))
    assert "migration 0000_add_s0 is listed twice in the journal" in _messages(check(tmp_path))


def test_check_no_transaction_directive_below_a_statement(tmp_path: Path) -> None:
    m = write_migration(tmp_path, "idx", ["SELECT 1", "SELECT 2"], None)
    m.path.write_text(m.path.read_text() + f"{NO_TRANSACTION}\n")
    update_sum(tmp_path)
    [p] = check(tmp_path)
    assert (p.file, p.line) == (str(m.path), 4)
    assert p.hint == "move it to the top of the file, above every statement"


def test_check_without_journal(tmp_path: Path) -> None:
    (tmp_path / "0000_init.sql").write_text("SELECT 1;")
    [p] = check(tmp_path)
    assert p.message == "1 .sql file but no journal"
    assert p.file == str(tmp_path / "meta" / "_journal.json")


def test_check_two_numbers_in_a_drizzle_folder(drizzle: Path) -> None:
    shutil.copy(drizzle / "0001_rename_col.sql", drizzle / "0001_rename_again.sql")
    [p] = check(drizzle)
    assert p.message.startswith(
        "2 migrations numbered 0001: 0001_rename_col.sql, 0001_rename_again.sql")
    assert p.file == str(drizzle / "0001_rename_again.sql")
    assert p.hint and (
        "rename 0001_rename_again.sql to 0002_rename_again.sql and add it to the journal "
        "(idx 2, tag '0002_rename_again')" in p.hint
    )


@given(st.lists(st.lists(st.sampled_from([
    "CREATE TABLE t (a int)", "ALTER TABLE t ADD b text DEFAULT 'x;y'", ";", " ", "\n",
    "-- note\n", "/* c */", "$$;$$", "SELECT 1", "'", "\t", ";;", '"', "\\", "'';'"]),
    max_size=6).map("".join),
    min_size=2, max_size=5))
def test_breakpoint_chunks_split_as_the_sql_reader_would(chunks: list[str]) -> None:
    from trimtab.migrations import folder as folder_module
    from trimtab.sources.sqlfile import split_statements

    text = f"\n{BREAKPOINT}\n".join(chunks)
    folder_module._SPLITS.clear()
    got = split_migration(text)[0]
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
    want, offset = [], 0
    for chunk in text.split(BREAKPOINT):
        parts = split_statements(chunk)
        if parts:
            a, b = parts[0].span.start_offset, parts[-1].span.end_offset
            line = sum(1 for s in starts if s <= offset + a)
            want.append(MigrationStatement(chunk[a:b], line))
        offset += len(chunk) + len(BREAKPOINT)
    assert got == tuple(want)


def test_first_snapshot_tells_who_wrote_the_folder(tmp_path: Path) -> None:
    """A first snapshot trimtab wrote is known by its head (not parsed whole: 28 MB at
    10,000 tables, at every migrate); drizzle-kit's, parsed, makes it a Drizzle folder."""
    from trimtab.model import Model
    from trimtab.sources.snapshot import ZERO_ID, dump_snapshot

    (tmp_path / ".git").mkdir()  # the project's root: no drizzle config above it counts
    mig = tmp_path / "migrations"
    m = write_migration(mig, "init", ["CREATE TABLE public.a (id int)"],
                        dump_snapshot(Model(), id="b", prev_id=ZERO_ID))
    assert m.snapshot is not None
    assert read_folder(mig).drizzle_reason() is None
    drizzle = Path(__file__).parent / "data" / "drizzle-folder" / "meta" / "0000_snapshot.json"
    m.snapshot.write_bytes(drizzle.read_bytes())
    assert read_folder(mig).drizzle_reason() == \
        f"drizzle-kit wrote the first migration of {mig}"


def test_a_folder_read_again_reuses_its_split_and_still_refuses_a_nul(tmp_path: Path) -> None:
    # The split of a file read before is found by its bytes (not decoded again)...
    written = write_migration(tmp_path, "init", ["CREATE TABLE a (id int)",
                                                "CREATE TABLE b (id int)"], None)
    first = read_folder(tmp_path).migrations[0]
    again = read_folder(tmp_path).migrations[0]
    assert again.statements is first.statements and again == first
    assert first.statements == written.statements and first.checksum == written.checksum
    # ...but a file whose text was split before without being read as a file (a NUL in
    # it) is refused all the same, and so are bytes that are not UTF-8.
    text = "CREATE TABLE c (id int);\n--> statement-breakpoint\nSELECT '\x00'"
    split_migration(text)
    (tmp_path / f"{written.tag}.sql").write_bytes(text.encode())
    with pytest.raises(SchemaError, match="NUL"):
        read_folder(tmp_path)
    (tmp_path / f"{written.tag}.sql").write_bytes(b"SELECT '\xff'")
    with pytest.raises(SchemaError, match="not UTF-8"):
        read_folder(tmp_path)


def test_the_next_migration_shares_the_texts_it_was_made_of(tmp_path: Path) -> None:
    """The next migration (what generate's replay ahead applies) reads the file content it
    was made of, and each statement read that is one of the texts given is that text: the
    plan holds them already (a 10 MiB first migration at 10,000 tables). Read again once
    written, the kept split is the shared one; what is read is the same either way."""
    from trimtab.migrations.folder import migration_file, next_migration, split_migration_file

    statements = ["CREATE TABLE a (id integer)", "  CREATE INDEX a_id ON a (id)  ",
                  "", "ALTER TABLE a ADD COLUMN n integer; -- trailing"]
    data = migration_file(statements)
    plain = split_migration_file(data, "x.sql")[0]
    m = next_migration(read_folder(tmp_path / "m"), "init", statements, data=data)
    assert m.statements == plain
    assert m.statements[0].text is statements[0]
    assert m.statements[1].text == statements[1].strip()  # not the same text: not shared
    written = write_migration(tmp_path / "m", "init", (), None, data=data)
    again = read_folder(tmp_path / "m").migrations[0].statements
    assert again == plain and again[0].text is statements[0]
    assert written.statements == plain
