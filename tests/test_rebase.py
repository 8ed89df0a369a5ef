"""Two branches each add migration 0001 to one folder; git merges them with conflicts in the
journal, trimtab.sum and the snapshot; `trimtab migrate rebase` puts this branch's migration
after the merged one. A real git repository, the console script and a real server."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest

from tests.test_cli_push import run


def git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                           "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false",
                           *args], cwd=root, capture_output=True, text=True, check=check)


def merged_with_conflicts(project: Path, db_url: str, theirs: str = "CREATE TABLE tags "
                          "(id int PRIMARY KEY);\n") -> Path:
    """main adds table tags (0001_...), branch feature adds table notes (0001_...); feature
    merges main. The schema is a folder of files, so the schema itself merges cleanly."""
    (project / "trimtab.toml").write_text('schema = "schema"\n')
    schema = project / "schema"
    schema.mkdir()
    (schema / "users.sql").write_text("CREATE TABLE users (id int PRIMARY KEY);\n")
    git(project, "init", "-q")
    assert run(project, "generate", "--url", db_url).returncode == 0
    git(project, "add", "-A")
    git(project, "commit", "-qm", "init")
    git(project, "checkout", "-qb", "feature")
    (schema / "notes.sql").write_text("CREATE TABLE notes (id int PRIMARY KEY, body text);\n")
    r = run(project, "generate", "--url", db_url, "--name", "notes")
    assert r.returncode == 0, r.stderr
    git(project, "add", "-A")
    git(project, "commit", "-qm", "notes")
    git(project, "checkout", "-q", "main")
    (schema / "tags.sql").write_text(theirs)
    r = run(project, "generate", "--url", db_url, "--name", "tags")
    assert r.returncode == 0, r.stderr
    git(project, "add", "-A")
    git(project, "commit", "-qm", "tags")
    git(project, "checkout", "-q", "feature")
    merge = git(project, "merge", "main", check=False)
    assert merge.returncode != 0
    conflicted = git(project, "diff", "--name-only", "--diff-filter=U").stdout.split()
    assert sorted(conflicted) == ["migrations/meta/0001_snapshot.json",
                                  "migrations/meta/_journal.json",
                                  "migrations/meta/trimtab.sum"]
    return project / "migrations"


def test_check_names_the_next_free_number_and_the_command(project: Path, db_url: str
                                                          ) -> None:
    merged_with_conflicts(project, db_url)
    r = run(project, "check")
    assert r.returncode == 1
    assert "trimtab migrate rebase" in r.stderr, r.stderr


def test_rebase_renumbers_the_local_migration_after_the_merged_one(project: Path, db_url: str
                                                                   ) -> None:
    folder = merged_with_conflicts(project, db_url)
    r = run(project, "migrate", "rebase", "--url", db_url)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0001_notes -> 0002_notes" in r.stdout
    assert sorted(p.name for p in folder.glob("*.sql")) == [
        "0000_init.sql", "0001_tags.sql", "0002_notes.sql"]
    for name in ("_journal.json", "trimtab.sum", "0001_snapshot.json", "0002_snapshot.json"):
        assert "<<<<<<<" not in (folder / "meta" / name).read_text()
    check = run(project, "check")
    assert check.returncode == 0, check.stdout + check.stderr
    # the merge can be concluded, and the folder migrates and generates nothing more
    git(project, "add", "-A")
    git(project, "commit", "-qm", "merge main")
    assert run(project, "migrate", "--url", db_url).returncode == 0
    with psycopg.connect(db_url) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
            "AND relkind = 'r' ORDER BY 1")]
    assert names == ["notes", "tags", "users"]
    again = run(project, "generate", "--url", db_url)
    assert "Nothing to generate" in again.stdout, again.stdout + again.stderr


def test_rebase_refuses_when_the_local_migration_is_applied(project: Path, db_url: str
                                                             ) -> None:
    folder = merged_with_conflicts(project, db_url)
    git(project, "merge", "--abort")  # feature's 0001 ran on the database before the merge
    assert run(project, "migrate", "--url", db_url).returncode == 0
    git(project, "merge", "main", check=False)
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    r = run(project, "migrate", "rebase", "--url", db_url)
    assert r.returncode == 1
    assert "0001_notes is applied on" in r.stderr, r.stderr
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("theirs", ["CREATE TABLE notes (id int PRIMARY KEY, body int);\n"])
def test_rebase_refuses_when_both_branches_made_the_same_table(project: Path, db_url: str,
                                                               theirs: str) -> None:
    # main's schema file adds notes too (another file): the replay of the rebased folder
    # creates notes twice and fails; nothing is written and the conflict is named
    folder = merged_with_conflicts(project, db_url, theirs=theirs)
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    r = run(project, "migrate", "rebase", "--url", db_url)
    assert r.returncode == 1
    assert "0001_notes" in r.stderr and 'relation "notes" already exists' in r.stderr, r.stderr
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
