"""Start-up: a command imports what it needs. ``trimtab --help`` needs the argument
parser alone, not the engine, psycopg, the language server or the parsers behind them
(docs/benchmarks.md has the times; no clock here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Loaded by the commands that need them, never by --help.
HEAVY = ("trimtab.engine", "psycopg", "trimtab.migrations", "trimtab.plan",
         "trimtab.sources", "trimtab.lsp", "trimtab.studio", "pygls", "lsprotocol",
         "tree_sitter", "sqlglot", "starlette", "uvicorn")


def _imported(*argv: str, cwd: Path | None = None,
              env: dict[str, str] | None = None) -> tuple[list[str], str]:
    """The modules ``python -X importtime -m trimtab *argv`` imports, and its stdout."""
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "trimtab", *argv],
                         capture_output=True, text=True, timeout=120, cwd=cwd, env=env)
    names = [line.split("|")[-1].strip() for line in run.stderr.splitlines()
             if line.startswith("import time:") and "imported package" not in line]
    return names, run.stdout


@pytest.mark.parametrize("argv", [("--help",), ("--version",), ("push", "--help"),
                                  ("migrate", "--help"), ("status", "--help")])
def test_help_imports_no_engine(argv: tuple[str, ...]) -> None:
    names, stdout = _imported(*argv)
    assert "trimtab.cli" in names and stdout  # the measure saw the command run
    heavy = [n for n in names if n.split(".")[0] in HEAVY or n in HEAVY
             or any(n.startswith(h + ".") for h in HEAVY)]
    assert heavy == []


# What a SQL project's `status` never needs: the editor's side, the TypeScript reader.
NOT_FOR_SQL_STATUS = ("trimtab.lsp", "trimtab.studio", "trimtab.sources.drizzle", "pygls",
                      "lsprotocol", "tree_sitter", "sqlglot", "starlette", "uvicorn")


# sys.modules at exit, as the command saw it (importtime does not show what the command
# line's lazy modules load through importlib, only the imports beneath them).
_MODULES_AT_EXIT = ("import atexit, json, runpy, sys; atexit.register(lambda: print("
                    "'MODULES', json.dumps(sorted(sys.modules)), file=sys.stderr)); "
                    "runpy.run_module('trimtab', run_name='__main__', alter_sys=True)")


def test_status_of_a_sql_project_loads_no_editor_or_typescript_reader(
        project: Path, db_url: str) -> None:
    (project / "schema.sql").write_text("create table item (id int primary key);\n")
    (project / "migrations").mkdir()
    run = subprocess.run([sys.executable, "-c", _MODULES_AT_EXIT, "status"], cwd=project,
                         env={**os.environ, "DATABASE_URL": db_url}, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0 and "migrations:" in run.stdout, run.stderr
    names = json.loads(run.stderr.rsplit("MODULES ", 1)[1])
    assert "trimtab.engine" in names and "psycopg" in names  # the measure saw it all
    loaded = [n for n in names if any(n == m or n.startswith(m + ".")
                                      for m in NOT_FOR_SQL_STATUS)]
    assert loaded == []


def test_a_command_still_loads_what_it_uses() -> None:
    names, _ = _imported("completion", "bash")
    assert "trimtab.engine" not in names
    run = subprocess.run([sys.executable, "-c",
                          "import sys, trimtab.cli as c; c.engine.push; "
                          "print('trimtab.engine' in sys.modules)"],
                         capture_output=True, text=True, check=True, timeout=120)
    assert run.stdout.strip() == "True"


def test_mark_applied_default_is_the_engines() -> None:
    """--mark-applied without a name is engine.MARK_VERIFIED, written out in the parser
    so that building it loads no engine."""
    from trimtab import cli, engine

    args = cli._parser().parse_args(["migrate", "--mark-applied"])
    assert args.mark_applied is engine.MARK_VERIFIED


# What a no-op push from its record never needs: it hashes the files and sums the catalogs.
NOT_FOR_RECORDED_NOOP = ("trimtab.engine", "trimtab.plan", "trimtab.migrations",
                         "trimtab.measure", "trimtab.sources.shadow",
                         "trimtab.sources.introspect", "trimtab.sources.sqlfile")


def _push_modules(project: Path, db_url: str) -> tuple[subprocess.CompletedProcess[str],
                                                       list[str]]:
    run = subprocess.run([sys.executable, "-c", _MODULES_AT_EXIT, "push", "--force"],
                         cwd=project, env={**os.environ, "DATABASE_URL": db_url},
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return run, json.loads(run.stderr.rsplit("MODULES ", 1)[1])


def test_a_recorded_noop_push_loads_no_engine(project: Path, db_url: str) -> None:
    (project / "schema.sql").write_text("create table item (id int primary key);\n")
    _push_modules(project, db_url)  # applies
    first, names = _push_modules(project, db_url)  # the full path: records the no-op
    assert "Nothing to do" in first.stdout and "trimtab.engine" in names
    again, names = _push_modules(project, db_url)
    assert again.stdout == first.stdout  # says the same, database line included
    assert "psycopg" in names  # the measure saw it connect
    loaded = [n for n in names if any(n == m or n.startswith(m + ".")
                                      for m in NOT_FOR_RECORDED_NOOP)]
    assert loaded == []
    # An edit misses the record: the engine plans and applies it.
    (project / "schema.sql").write_text("create table item (id int primary key, n int);\n")
    changed, names = _push_modules(project, db_url)
    assert "Applied 1 change" in changed.stdout and "trimtab.engine" in names, changed.stdout


@pytest.mark.parametrize("module", ["trimtab", "trimtab.cli"])
def test_module_entry_points_run(module: str) -> None:
    """The VS Code extension starts the server with ``python -m trimtab.cli lsp``: that module
    must run as a script, every helper defined before its ``main()`` is called."""
    run = subprocess.run([sys.executable, "-m", module, "migrate", "--help"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "--fleet" in run.stdout


def _status_modules(project: Path, db_url: str, *argv: str
                    ) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    run = subprocess.run([sys.executable, "-c", _MODULES_AT_EXIT, "status", *argv],
                         cwd=project, env={**os.environ, "DATABASE_URL": db_url},
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return run, json.loads(run.stderr.rsplit("MODULES ", 1)[1])


def test_a_recorded_status_loads_no_engine_and_says_the_same(project: Path,
                                                              db_url: str) -> None:
    (project / "schema.sql").write_text("create table item (id int primary key);\n")
    (project / "migrations").mkdir()
    first, names = _status_modules(project, db_url)  # the full path, recorded
    assert "not in a migration" in first.stdout and "trimtab.engine" in names
    assert "tag" not in first.stdout
    again, names = _status_modules(project, db_url)
    if "trimtab.engine" in names:  # a server's first shadows change its roles once
        again, names = _status_modules(project, db_url)
    assert again.stdout == first.stdout  # says the same, database line included
    assert "psycopg" in names  # the measure saw it connect
    assert [n for n in names if any(n == m or n.startswith(m + ".")
                                    for m in NOT_FOR_RECORDED_NOOP)] == []
    recorded, names = _status_modules(project, db_url, "--json")
    assert "trimtab.engine" not in names
    for record in (project / ".trimtab" / "noop").iterdir():
        record.unlink()
    full, names = _status_modules(project, db_url, "--json")
    assert "trimtab.engine" in names and recorded.stdout == full.stdout
    # An edit misses the record: the engine reads it.
    (project / "schema.sql").write_text("create table item (id int primary key);\n"
                                        "create table tag (id int);\n")
    changed, names = _status_modules(project, db_url)
    assert "public.tag" in changed.stdout and "trimtab.engine" in names
