"""The project's `.trimtab/` folder holds what one machine keeps (no-op records, backups,
the embedded server's data): it never lands in git, whatever the project's own ignores."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.test_cli_push import run

SCHEMA = "CREATE TABLE users (id int PRIMARY KEY, email text);\n"


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "init.defaultBranch=main", *args], cwd=root,
                          capture_output=True, text=True, check=True).stdout


def untracked(root: Path) -> list[str]:
    return git(root, "status", "--porcelain", "--untracked-files=all").split("\n")


def test_generate_push_and_a_backup_leave_nothing_for_git_to_add(project: Path,
                                                                  db_url: str) -> None:
    (project / "schema.sql").write_text(SCHEMA)
    git(project, "init", "-q")
    for args in (["generate"], ["generate"], ["migrate", "--backup"], ["push", "--force"],
                 ["push", "--force"]):
        r = run(project, *args, "--url", db_url)
        assert r.returncode == 0, (args, r.stderr)
    state = project / ".trimtab"
    assert any((state / "noop").iterdir())  # the records were written...
    assert any((state / "backups").iterdir())  # ...and the backup
    seen = [line for line in untracked(project) if ".trimtab" in line]
    assert seen == []  # ...but git sees none of them
    assert (state / ".gitignore").read_text() == "*\n"
