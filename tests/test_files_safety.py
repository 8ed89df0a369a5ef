"""Files trimtab writes: the mode an editor would give them, all or nothing on a failed write
(a full disk, a read-only folder), and an error that names the file."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_cli_push import TRIMTAB, run, write
from tests.test_cli_renames import AFTER, BEFORE, _tty_run

ROOT = os.geteuid() == 0


def modes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def tree(folder: Path) -> dict[str, bytes | None]:
    """Every entry under `folder` with its content (None for a folder)."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


def generate(project: Path, db_url: str, umask: int = 0o022) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    return subprocess.run([TRIMTAB, "generate", "--url", db_url], cwd=project,
                          capture_output=True, text=True, env=env, umask=umask,
                          stdin=subprocess.DEVNULL, timeout=120)


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)],
                         ids=["umask-022", "umask-027"])
def test_generated_files_follow_the_umask(project: Path, db_url: str, umask: int,
                                          mode: int) -> None:
    write(project, "CREATE TABLE users (id int PRIMARY KEY);\n")
    r = generate(project, db_url, umask)
    assert r.returncode == 0, r.stderr
    written = modes(project / "migrations")
    assert written == {"0000_init.sql": mode, "meta/0000_snapshot.json": mode,
                       "meta/_journal.json": mode, "meta/trimtab.sum": mode,
                       "down/0000_init.down.sql": mode}
    # No temporary file left behind.
    assert sorted(p.name for p in (project / "migrations").rglob(".*")) == []


def test_rewritten_files_keep_their_mode(project: Path, db_url: str) -> None:
    write(project, "CREATE TABLE users (id int PRIMARY KEY);\n")
    assert generate(project, db_url).returncode == 0
    meta = project / "migrations" / "meta"
    (meta / "_journal.json").chmod(0o664)
    (meta / "trimtab.sum").chmod(0o600)
    write(project, "CREATE TABLE users (id int PRIMARY KEY, name text);\n")
    r = generate(project, db_url, umask=0o022)
    assert r.returncode == 0, r.stderr
    written = modes(project / "migrations")
    assert written["meta/_journal.json"] == 0o664
    assert written["meta/trimtab.sum"] == 0o600
    assert written["0001_add_users_name.sql"] == 0o644


def test_a_rename_hint_keeps_the_schema_files_mode(project: Path, db_url: str) -> None:
    schema = project / "schema.sql"
    schema.write_text(BEFORE)
    assert run(project, "push", "--url", db_url).returncode == 0
    schema.write_text(AFTER)
    schema.chmod(0o640)
    code, output = _tty_run(project, ["rename", "y"], "push", "--url", db_url)
    assert code == 0, output
    assert "-- trimtab: renamed from full_name" in schema.read_text()
    assert stat.S_IMODE(schema.stat().st_mode) == 0o640


# -- failed writes ------------------------------------------------------------------------


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A 1 MB tmpfs of the test's own (mounting one needs root)."""
    if not ROOT:
        pytest.skip("mounting a small filesystem needs root")
    mount = Path(tempfile.mkdtemp(prefix="trimtab-disk-", dir="/tmp"))
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs",
                           str(mount)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        mount.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)
        mount.rmdir()


def fill(disk: Path, leave_pages: int = 0) -> Path:
    """Fill the filesystem, leaving `leave_pages` free 4 KB pages."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
    with open(filler, "r+b") as f:
        f.truncate(max(0, filler.stat().st_size - leave_pages * 4096))
    return filler


def disk_project(disk: Path) -> Path:
    project = disk / "project"
    project.mkdir()
    (project / "trimtab.toml").write_text('schema = "schema.sql"\n')
    return project


@pytest.mark.parametrize("leave_pages", [0, 1, 3])
def test_generate_on_a_full_disk_changes_nothing(small_disk: Path, db_url: str,
                                                 leave_pages: int) -> None:
    # 0 pages: the first file fails; 1 or 3: the .sql (and maybe the snapshot) fit, a later
    # file does not. Either way nothing may stay behind to block the next run.
    project = disk_project(small_disk)
    write(project, "CREATE TABLE users (id int PRIMARY KEY);\n")
    assert generate(project, db_url).returncode == 0
    write(project, "CREATE TABLE users (id int PRIMARY KEY, " + ", ".join(
        f"c{i} text" for i in range(60)) + ");\n")
    before = tree(project / "migrations")
    filler = fill(small_disk, leave_pages)
    r = generate(project, db_url)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert "No space left on device" in r.stderr
    assert str(project / "migrations") in r.stderr.replace("\n", "")  # names the file
    assert tree(project / "migrations") == before
    filler.unlink()
    again = generate(project, db_url)
    assert again.returncode == 0, again.stderr
    assert "0001_" in " ".join(tree(project / "migrations"))


def test_generate_into_a_read_only_folder_changes_nothing(small_disk: Path,
                                                          db_url: str) -> None:
    project = disk_project(small_disk)
    write(project, "CREATE TABLE users (id int PRIMARY KEY);\n")
    assert generate(project, db_url).returncode == 0
    write(project, "CREATE TABLE users (id int PRIMARY KEY, name text);\n")
    before = tree(project / "migrations")
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        r = generate(project, db_url)
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert "Read-only file system" in r.stderr
    assert tree(project / "migrations") == before


def test_a_hint_on_a_full_disk_leaves_the_schema_file_whole(small_disk: Path,
                                                            db_url: str) -> None:
    project = disk_project(small_disk)
    schema = project / "schema.sql"
    schema.write_text(BEFORE)
    assert run(project, "push", "--url", db_url).returncode == 0
    # Exactly one page: the hinted text needs a second one.
    padded = AFTER + "-- " + "x" * (4096 - len(AFTER) - 4) + "\n"
    schema.write_text(padded)
    fill(small_disk)
    code, output = _tty_run(project, ["rename", "y"], "push", "--url", db_url)
    assert code == 1, output
    assert "No space left on device" in output
    assert schema.read_text() == padded
    assert [p.name for p in project.iterdir() if p.name.startswith(".schema.sql")] == []


def test_without_root_a_read_only_folder_is_refused_cleanly(tmp_path: Path, db_url: str) -> None:
    if ROOT:
        pytest.skip("root writes into any folder: the tmpfs tests cover it")
    project = tmp_path / "project"
    project.mkdir()
    (project / "trimtab.toml").write_text('schema = "schema.sql"\n')
    write(project, "CREATE TABLE users (id int PRIMARY KEY);\n")
    assert generate(project, db_url).returncode == 0
    write(project, "CREATE TABLE users (id int PRIMARY KEY, name text);\n")
    before = tree(project / "migrations")
    for folder in (project / "migrations", project / "migrations" / "meta"):
        folder.chmod(0o555)
    try:
        r = generate(project, db_url)
    finally:
        for folder in (project / "migrations", project / "migrations" / "meta"):
            folder.chmod(0o755)
    assert r.returncode == 1
    assert "Permission denied" in r.stderr and "Traceback" not in r.stderr
    assert tree(project / "migrations") == before
    shutil.rmtree(project)
