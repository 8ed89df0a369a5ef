"""Start-up: a command imports what it needs. ``trimtab --help`` needs the argument
parser alone, not the engine, psycopg, the language server or the parsers behind them
(docs/benchmarks.md has the times; no clock here)."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Loaded by the commands that need them, never by --help.
HEAVY = ("trimtab.engine", "psycopg", "trimtab.migrations", "trimtab.plan",
         "trimtab.sources", "trimtab.lsp", "trimtab.studio", "pygls", "lsprotocol",
         "tree_sitter", "sqlglot", "starlette", "uvicorn")


def _imported(*argv: str) -> tuple[list[str], str]:
    """The modules ``python -X importtime -m trimtab *argv`` imports, and its stdout."""
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "trimtab", *argv],
                         capture_output=True, text=True, timeout=120)
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
