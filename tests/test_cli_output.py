"""The CLI's human output: plain text for logs and pipes, sane text on a terminal, the
target named before any question, -v/-q, plurals, completion scripts and --help."""

from __future__ import annotations

import re
from pathlib import Path

from tests.test_cli_push import run, write

# the final byte of each CSI sequence: "m" is a colour, anything else moves the cursor
ESCAPE = re.compile(r"\x1b\[[0-9;?]*([A-Za-z])")


def test_migrate_into_a_pipe_has_no_escape_codes_or_none(project: Path, db_url: str) -> None:
    write(project, "CREATE TABLE users (id int PRIMARY KEY);\n")
    assert run(project, "generate", "--url", db_url).returncode == 0
    r = run(project, "migrate", "--url", db_url)
    assert r.returncode == 0, r.stderr
    both = r.stdout + r.stderr
    assert "\x1b[" not in both, repr(both)
    assert "None" not in both, repr(both)


def test_migrate_in_ci_with_force_color_writes_no_progress_bar(project: Path,
                                                                db_url: str) -> None:
    """CI runners often set FORCE_COLOR: colours may follow, a live progress bar (cursor
    movement, "0/None" before the first migration) never goes into a log."""
    write(project, "CREATE TABLE users (id int PRIMARY KEY);\n")
    assert run(project, "generate", "--url", db_url).returncode == 0
    r = run(project, "migrate", "--url", db_url, env={"FORCE_COLOR": "1"})
    assert r.returncode == 0, r.stderr
    both = r.stdout + r.stderr
    assert "None" not in both, repr(both)
    assert set(ESCAPE.findall(both)) <= {"m"}, repr(both)  # colours only
