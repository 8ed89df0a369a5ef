"""tests/cli_inprocess.py gives what a real `trimtab` process gives: exit code, stdout and
stderr alike, for an error, a JSON document and an argument error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_inprocess import run_in_process

DOWN = "postgresql://app:hunter1@127.0.0.1:1/shop"  # refused at once


@pytest.mark.parametrize("args", [
    ["push", "--dry-run", "--url", DOWN],
    ["status", "--json", "--url", DOWN],
    ["push", "--no-such-option"],
    ["check"],
], ids=" ".join)
def test_the_same_as_a_process(project: Path, args: list[str]) -> None:
    (project / "schema.sql").write_text("CREATE TABLE items (id integer PRIMARY KEY);\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PG") and k not in ("DATABASE_URL", "DIRECT_DATABASE_URL")}
    real = subprocess.run([sys.executable, "-m", "trimtab", *args], cwd=project, env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    here = run_in_process(project, args, env)
    assert (here.returncode, here.stdout, here.stderr) == (
        real.returncode, real.stdout, real.stderr)
    assert os.getcwd() != str(project)  # the folder and the environment are given back
    assert "PYTEST_CURRENT_TEST" in os.environ


def test_an_uncaught_exception_is_a_traceback_and_exit_1(project: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    from trimtab import cli

    def boom(argv: list[str] | None = None) -> int:
        print("before")
        raise RuntimeError("hunter1")

    monkeypatch.setattr(cli, "main", boom)
    r = run_in_process(project, ["check"], dict(os.environ))
    assert (r.returncode, r.stdout) == (1, "before\n")
    assert "Traceback" in r.stderr and "hunter1" in r.stderr
