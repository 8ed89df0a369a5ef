"""The CLI's human output: plain text for logs and pipes, sane text on a terminal, the
target named before any question, -v/-q, plurals, completion scripts and --help."""

from __future__ import annotations

import ast
import os
import pty
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.test_cli_push import TRIMTAB, run, write
from trimtab.words import plural

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


def on_a_pty(cwd: Path, *args: str, answers: tuple[tuple[bytes, bytes], ...] = ()
             ) -> tuple[int, str]:
    """Run trimtab as a person does: stdin, stdout and stderr on a pseudo-terminal. Each
    answer is sent once the output ends with its prompt's text (the process blocks on the
    read until it is)."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "DIRECT_DATABASE_URL", "FORCE_COLOR", "NO_COLOR")}
    env.update({"TERM": "xterm-256color", "COLUMNS": "200"})
    proc = subprocess.Popen([TRIMTAB, *args], cwd=cwd, stdin=slave, stdout=slave,
                            stderr=slave, env=env, close_fds=True)
    os.close(slave)
    output, pending = b"", list(answers)
    while True:
        try:
            chunk = os.read(master, 4096)  # blocks until output or the child's end
        except OSError:  # EIO: every writer of the terminal has gone
            break
        if not chunk:
            break
        output += chunk
        if pending and pending[0][0] in output:
            os.write(master, pending.pop(0)[1] + b"\n")
    os.close(master)
    assert not pending, output.decode(errors="replace")
    return proc.wait(timeout=60), output.decode(errors="replace")


# what a live progress bar may send to a terminal besides colours: hide and show the
# cursor, erase a line, move up to redraw it
LIVE = {"m", "l", "h", "K", "A"}


def test_migrate_on_a_terminal_is_sane(project: Path, db_url: str) -> None:
    write(project, "CREATE TABLE users (id int PRIMARY KEY);\n")
    assert run(project, "generate", "--url", db_url).returncode == 0
    code, output = on_a_pty(project, "migrate", "--url", db_url)
    assert code == 0, output
    assert "None" not in output, repr(output)
    assert set(ESCAPE.findall(output)) <= LIVE, repr(output)
    assert "0000_init" in output
    assert not output.rstrip().endswith("\x1b[?25l")  # the cursor is shown again


def test_plural() -> None:
    assert [plural(n, "change") for n in (0, 1, 2)] == ["0 changes", "1 change", "2 changes"]
    assert plural(1, "index") == "1 index" and plural(3, "index") == "3 indexes"
    assert plural(2, "down migration") == "2 down migrations"


def _messages(path: Path) -> Iterator[tuple[int, str]]:
    """The string literals of a module, f-strings' text included, docstrings left out."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                       ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docstrings:
            yield node.lineno, node.value


def test_no_message_hedges_its_plural() -> None:
    """"1 change(s)" reads as a shrug: every count goes through ``plural``."""
    package = Path(__file__).parent.parent / "server" / "trimtab"
    found = [f"{path.relative_to(package)}:{line}: {text!r}"
             for path in sorted(package.rglob("*.py")) for line, text in _messages(path)
             if "(s)" in text]
    assert found == []


def test_counts_in_cli_output_agree_with_their_nouns(project: Path, db_url: str) -> None:
    write(project, "CREATE TABLE users (id int);\n")
    generated = run(project, "generate", "--url", db_url)
    assert "(1 change)" in generated.stdout, generated.stdout
    migrated = run(project, "migrate", "--url", db_url)
    assert "Applied 1 migration." in migrated.stdout, migrated.stdout
    up_to_date = run(project, "migrate", "--url", db_url)
    assert "1 migration was applied, none pending" in up_to_date.stdout, up_to_date.stdout
    assert run(project, "generate", "--custom", "--name", "one").returncode == 0
    [custom] = (project / "migrations").glob("0001_one.sql")
    custom.write_text("SELECT 1;\n")
    assert run(project, "check", "--update-sum").returncode == 0
    one = run(project, "migrate", "--url", db_url)
    assert "0001_one (1 statement," in one.stdout, one.stdout
    write(project, "CREATE TABLE users (id int, name text);\n")
    status = run(project, "status", "--url", db_url)
    assert "1 change not in a migration" in status.stdout, status.stdout
    dry = run(project, "migrate", "--url", db_url, "--dry-run")
    assert "0 migrations would be applied" not in dry.stdout


def _dbname(db_url: str) -> str:
    return urlsplit(db_url).path.lstrip("/")


def _named_before(output: str, name: str, question: str) -> None:
    assert name in output and question in output, output
    assert output.index(name) < output.index(question), output


def _losing_push(project: Path, db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int); CREATE TABLE gone (id int);"
                     "INSERT INTO gone VALUES (1)")
    write(project, "CREATE TABLE t (id int);\n")


def test_push_names_the_database_before_asking_and_when_refusing(project: Path,
                                                                  db_url: str) -> None:
    _losing_push(project, db_url)
    refused = run(project, "push", "--url", db_url)
    assert refused.returncode == 1
    assert _dbname(db_url) in refused.stderr, refused.stderr
    code, output = on_a_pty(project, "push", "--url", db_url,
                            answers=((b"loses data?", b"n"),))
    assert code == 1
    _named_before(output, _dbname(db_url), "loses data?")


def test_reset_names_the_database_before_asking_and_when_refusing(project: Path,
                                                                   db_url: str) -> None:
    write(project, "CREATE TABLE t (id int);\n")
    refused = run(project, "reset", "--url", db_url)
    assert refused.returncode == 1
    assert _dbname(db_url) in refused.stderr, refused.stderr
    code, output = on_a_pty(project, "reset", "--url", db_url, answers=((b"rebuild?", b"n"),))
    assert code == 1
    _named_before(output, _dbname(db_url), "rebuild?")


def test_migrate_down_names_the_database_before_asking_and_when_refusing(
        project: Path, db_url: str) -> None:
    write(project, "CREATE TABLE users (id int);\n")
    assert run(project, "generate", "--url", db_url).returncode == 0
    assert run(project, "migrate", "--url", db_url).returncode == 0
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO users VALUES (1)")
    refused = run(project, "migrate", "down", "--url", db_url)
    assert refused.returncode == 1
    assert _dbname(db_url) in refused.stderr, refused.stderr
    code, output = on_a_pty(project, "migrate", "down", "--url", db_url,
                            answers=((b"losing this data?", b"n"),))
    assert code == 1
    _named_before(output, _dbname(db_url), "losing this data?")


def test_generate_names_the_folder_before_asking_and_when_refusing(project: Path,
                                                                   db_url: str) -> None:
    write(project, "CREATE TABLE t (id int, email text);\n")
    assert run(project, "generate", "--url", db_url).returncode == 0
    write(project, "CREATE TABLE t (id int);\n")
    folder = str(project / "migrations")
    refused = run(project, "generate", "--url", db_url)
    assert refused.returncode == 1
    assert folder in refused.stderr, refused.stderr
    code, output = on_a_pty(project, "generate", "--url", db_url,
                            answers=((b"loses data?", b"n"),))
    assert code == 1
    _named_before(output, folder, "loses data?")


def _pending(project: Path, db_url: str) -> None:
    write(project, "CREATE TABLE users (id int);\n")
    assert run(project, "generate", "--url", db_url).returncode == 0


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_migrate_says_the_result_alone(project: Path, db_url: str, where: str) -> None:
    _pending(project, db_url)
    args = ["-q", "migrate", "--url", db_url] if where == "before" else [
        "migrate", "--url", db_url, "--quiet"]
    r = run(project, *args)
    assert r.returncode == 0, r.stderr
    assert (r.stdout, r.stderr) == ("Applied 1 migration.\n", "")


def test_quiet_push_and_status_say_the_result_alone(project: Path, db_url: str) -> None:
    write(project, "CREATE TABLE users (id int);\n")
    r = run(project, "-q", "push", "--url", db_url)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "" and r.stdout.startswith("Applied 1 change in "), r.stdout
    assert r.stdout.count("\n") == 1, r.stdout
    status = run(project, "-q", "status", "--url", db_url)
    assert "database:" not in status.stdout and "schema file:" in status.stdout


def test_verbose_migrate_shows_the_sql_it_sends_and_how_long_it_took(project: Path,
                                                                     db_url: str) -> None:
    _pending(project, db_url)
    r = run(project, "migrate", "-v", "--url", db_url)
    assert r.returncode == 0, r.stderr
    assert "CREATE TABLE public.users" in r.stdout, r.stdout
    assert re.search(r"migrate took \d+\.\d\d s", r.stderr), r.stderr
    plain = run(project, "migrate", "--url", db_url)  # nothing pending, and no timing
    assert "took" not in plain.stderr


def test_quiet_and_verbose_do_not_go_together(project: Path) -> None:
    r = run(project, "-q", "-v", "check")
    assert r.returncode == 2 and "not allowed with" in r.stderr


COMMANDS = ["push", "generate", "migrate", "check", "status", "export", "reset", "lsp",
            "studio", "db", "completion", "fmt"]


def test_the_bash_completion_script_is_valid_and_knows_every_command(tmp_path: Path) -> None:
    r = run(tmp_path, "completion", "bash")  # not a project: it needs none
    assert r.returncode == 0, r.stderr
    script = tmp_path / "trimtab.bash"
    script.write_text(r.stdout)
    checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    listed = re.search(r"_shtab_trimtab_subparsers=\(([^)]*)\)", r.stdout)
    assert listed is not None, r.stdout[:2000]
    assert set(COMMANDS) <= {w.strip("'\"") for w in listed.group(1).split()}
    # sourced into a real bash, it completes a command's name
    probe = subprocess.run(
        ["bash", "-c", f'source "{script}"; COMP_WORDS=(trimtab mig); COMP_CWORD=1; '
                       'COMP_LINE="trimtab mig"; COMP_POINT=${#COMP_LINE}; '
                       '_shtab_trimtab trimtab mig trimtab; printf "%s\\n" "${COMPREPLY[@]}"'],
        capture_output=True, text=True)
    assert probe.stdout.split() == ["migrate"], probe.stdout + probe.stderr


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_completion_scripts_name_the_commands(tmp_path: Path, shell: str) -> None:
    r = run(tmp_path, "completion", shell)
    assert r.returncode == 0, r.stderr
    assert all(c in r.stdout for c in COMMANDS)


def test_completion_refuses_an_unknown_shell(tmp_path: Path) -> None:
    r = run(tmp_path, "completion", "csh")
    assert r.returncode == 2 and "invalid choice" in r.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_command_ends_with_an_example_and_its_docs(tmp_path: Path,
                                                                 command: str) -> None:
    r = run(tmp_path, command, "--help")
    assert r.returncode == 0, r.stderr
    tail = r.stdout.rstrip().splitlines()[-4:]
    assert any(line.strip().startswith(f"trimtab {command}") for line in tail), r.stdout
    docs = re.search(r"docs: (\S+\.md)(#\S+)?$", r.stdout.rstrip())
    assert docs is not None, r.stdout
    assert (Path(__file__).parent.parent / docs.group(1)).is_file(), docs.group(1)
    assert "-q, --quiet" in r.stdout


@pytest.mark.parametrize("command", ["push", "status", "generate", "check"])
def test_other_commands_on_a_terminal_send_colours_only(project: Path, db_url: str,
                                                         command: str) -> None:
    write(project, "CREATE TABLE users (id int);\n")
    args = [command] if command == "check" else [command, "--url", db_url]
    code, output = on_a_pty(project, *args)
    assert code == 0, output
    assert "None" not in output, repr(output)
    assert set(ESCAPE.findall(output)) <= {"m"}, repr(output)


def test_names_with_colons_are_printed_as_written(project: Path, db_url: str) -> None:
    """A quoted name may hold ``:tada:``: the output shows the name, not an emoji."""
    write(project, 'CREATE TABLE "a:tada:b" (id int PRIMARY KEY);\n')
    for command in ("status", "generate"):
        r = run(project, command, "--url", db_url)
        assert r.returncode == 0, r.stderr
        assert "create table public.a:tada:b" in r.stdout, r.stdout
