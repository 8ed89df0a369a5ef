"""Every command and subcommand, run once as a script runs it (no terminal: stdin from
/dev/null, pipes; ``--json`` where the command has it, checked against
docs/json/format-1.json), once into a CI log (its text, FORCE_COLOR set) and once as a
person runs it (a real pseudo-terminal: exit code, and an output with no "None", no "(s)",
no traceback and no escape codes but colours, and a progress bar's redraw where one is
drawn)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.test_cli_json import document
from tests.test_cli_output import LIVE, on_a_pty
from tests.test_cli_push import run, run_here, write
from trimtab import embedded

SCHEMA = "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL);\n"
URL = "{url}"  # stands for the test's database in a case's arguments
SECRET = "s3cret-pw"  # a password no output may show

# any escape sequence: a CSI (ESC [ ... final byte), or any other ESC and the byte after it
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*([A-Za-z@`~])|\x1b(.)", re.DOTALL)


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    before: tuple[tuple[str, ...], ...] = ()  # commands that set the project up first
    json: bool = True  # the command takes --json (its document names the command)
    code: int = 0
    live: bool = False  # a progress bar may be drawn on a terminal
    fleet: bool = False  # trimtab.toml lists the test's database as the fleet
    name: str = ""  # the test id, when the arguments alone do not tell the cases apart
    schema: str = SCHEMA
    broken: bool = False  # the generated migration fails half way (and trimtab.sum knows)

    @property
    def id(self) -> str:
        return self.name or " ".join(a for a in self.args if a not in (URL, "--url"))


GENERATED = (("generate", "--url", URL),)
MIGRATED = (*GENERATED, ("migrate", "--url", URL))

CASES = [
    Case(("push", "--url", URL)),
    Case(("push", "--dry-run", "--exit-code", "--url", URL), code=1),  # 1: changes to make
    Case(("generate", "--url", URL)),
    Case(("migrate", "--url", URL), GENERATED, live=True),
    Case(("migrate", "--url", URL), MIGRATED, name="migrate up to date"),
    Case(("migrate", "--dry-run", "--exit-code", "--url", URL), GENERATED, code=1),
    # the first migration undone: its table is empty, so nothing is lost and nothing asked
    Case(("migrate", "down", "--url", URL), MIGRATED),
    Case(("migrate", "rebase"), GENERATED),
    Case(("migrate", "--fleet"), GENERATED, fleet=True),
    Case(("check",), GENERATED),
    Case(("status", "--exit-code", "--url", URL), GENERATED, code=1),  # 1: pending
    Case(("status", "--fleet"), MIGRATED, fleet=True),
    Case(("export", "--url", URL), MIGRATED),
    Case(("reset", "--yes", "--url", URL), MIGRATED),
    Case(("fmt",), json=False),
    Case(("fmt", "--check"), (("fmt",),), json=False),
    Case(("fmt", "--check"), json=False, code=1, name="fmt --check of an unformatted file",
         schema="CREATE TABLE a (id int);   \n\n\n\nCREATE TABLE b (id int);\n"),
    Case(("completion", "bash"), json=False),
    Case(("completion", "zsh"), json=False),
    Case(("completion", "fish"), json=False),
    Case(("studio", "--help"), json=False),
    Case(("lsp", "--help"), json=False),
    # failures: a clear message and exit 1, on a terminal as in a log
    Case(("push", "--url", URL), code=1, name="push of a bad schema",
         schema="CREATE TABLE users (id int PRIMARY KEY,\n  email nosuchtype);\n"),
    Case(("status", "--url", f"postgresql://nobody:{SECRET}@127.0.0.1:1/nowhere"), GENERATED,
         code=1, name="status of an unreachable database"),
    Case(("migrate", "--url", URL), GENERATED, code=1, live=True, broken=True,
         name="migrate of a failing migration"),
]


def sane_on_a_terminal(output: str, live: bool = False) -> None:
    """What a person's terminal may be sent: text, colours, and a progress bar's redraw
    where a bar is drawn; never a Python value's ``None``, a hedged plural or a traceback."""
    allowed = LIVE if live else {"m"}
    stray = [m.group(0) for m in _ESCAPES.finditer(output) if m.group(1) not in allowed]
    assert stray == [], (stray, output)
    assert not re.search(r"\bNone\b", output), output
    assert "(s)" not in output, output
    assert "Traceback" not in output, output
    assert SECRET not in output, output


def _project(project: Path, db_url: str, case: Case) -> list[str]:
    if case.fleet:
        (project / "trimtab.toml").write_text(
            f'schema = "schema.sql"\n[fleet]\ntargets = ["{db_url}"]\n')
    write(project, case.schema)
    # The steps before are set-up, in this process (the case's own command is the real
    # process; each of these commands is one in some case).
    for step in case.before:
        done = run_here(project, *(db_url if a == URL else a for a in step))
        assert done.returncode == 0, (step, done.stdout, done.stderr)
    if case.broken:
        sql_file = next((project / "migrations").glob("0000_*.sql"))
        sql_file.write_text(sql_file.read_text() + "--> statement-breakpoint\nSELECT 1/0;\n")
        assert run_here(project, "check", "--update-sum").returncode == 0
    return [db_url if a == URL else a for a in case.args]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_as_a_script(project: Path, db_url: str, case: Case) -> None:
    args = _project(project, db_url, case)
    if case.json:
        doc = document(project, *args, "--json", code=case.code)  # exit code and shape
        assert SECRET not in json.dumps(doc), doc
        return
    r = run(project, *args)
    assert r.returncode == case.code, (args, r.stdout, r.stderr)
    both = r.stdout + r.stderr
    assert "\x1b" not in both and "Traceback" not in both and SECRET not in both, both


@pytest.mark.parametrize("case", [c for c in CASES if c.json], ids=lambda c: c.id)
def test_into_a_log(project: Path, db_url: str, case: Case) -> None:
    """The text a CI log gets: colours if FORCE_COLOR asks for them, never a redrawn line
    (a command without --json was read as text by ``test_as_a_script`` already)."""
    args = _project(project, db_url, case)
    r = run(project, *args, env={"FORCE_COLOR": "1"})
    assert r.returncode == case.code, (args, r.stdout, r.stderr)
    sane_on_a_terminal(r.stdout + r.stderr)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_on_a_terminal(project: Path, db_url: str, case: Case) -> None:
    args = _project(project, db_url, case)
    code, output = on_a_pty(project, *args)
    assert code == case.code, output
    sane_on_a_terminal(output, case.live)


DB = ["start", "status", "url", "clean", "stop"]


def test_the_embedded_server_commands_as_a_script(project: Path) -> None:
    """The project has no database URL: `db` runs the embedded server in the test's folder."""
    write(project, SCHEMA)
    try:
        docs = {action: document(project, "db", action, "--json") for action in DB}
    finally:
        embedded.stop(project)
    assert docs["status"]["running"] is True and docs["url"]["url"]
    assert docs["stop"]["stopped"] is True
    assert embedded.url(project) is None


def test_the_embedded_server_commands_on_a_terminal(project: Path) -> None:
    write(project, SCHEMA)
    try:
        for action in DB:
            code, output = on_a_pty(project, "db", action)
            assert code == 0, (action, output)
            sane_on_a_terminal(output)
    finally:
        embedded.stop(project)
    assert embedded.url(project) is None


def test_the_terminal_check_can_fail() -> None:
    sane_on_a_terminal("\x1b[1;32mApplied\x1b[0m 1 migration.\n")
    sane_on_a_terminal("\x1b[?25l\x1b[2K\x1b[1A 1/1\x1b[?25h", live=True)
    for bad in ("\x1b[2K redraw", "\x1b]8;;http://x\x1b\\link", "0/None", "1 change(s)",
                "Traceback (most recent call last):", "\x1b7saved",
                f"postgresql://u:{SECRET}@h/db"):
        with pytest.raises(AssertionError):
            sane_on_a_terminal(bad)
