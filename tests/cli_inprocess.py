"""trimtab's command line run inside the test's own process, for a test that needs what a
command prints and does but is not about the process: a `trimtab` process spends some
0.4 s importing the engine before it does anything (0.7 s with the suite's two workers on
two cores), and the suite started such processes by the thousand. Every command is still run
as a real process where that is the point (tests/test_cli_every_command.py, and each file
here keeps real runs beside these).

What a process would give is kept: the output of file descriptors 1 and 2 (what Python
writes and what a library writes to them), stdin from /dev/null, the environment and the
working folder given, the exit code, and a traceback on stderr with exit 1 for an uncaught
exception."""

from __future__ import annotations

import contextlib
import gc
import io
import os
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path


@contextlib.contextmanager
def _fd_redirected(fd: int, to: int) -> Iterator[None]:
    saved = os.dup(fd)
    os.dup2(to, fd)
    try:
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_in_process(cwd: Path, args: list[str], env: Mapping[str, str]
                   ) -> subprocess.CompletedProcess[str]:
    """``trimtab *args`` in folder ``cwd`` with exactly the environment ``env``, as
    ``subprocess.run(..., capture_output=True, text=True, stdin=DEVNULL)`` returns it."""
    from trimtab import cli

    gc_was_enabled = gc.isenabled()  # a one-shot command turns the collector off
    cli._target.clear()  # the last command's target, named beside a refusal
    code = 1
    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file, \
            open(os.devnull, "rb") as devnull, contextlib.ExitStack() as stack:
        sys.stdout.flush()
        sys.stderr.flush()
        stack.enter_context(_fd_redirected(0, devnull.fileno()))
        stack.enter_context(_fd_redirected(1, out_file.fileno()))
        stack.enter_context(_fd_redirected(2, err_file.fileno()))
        # Python's own streams over the same descriptors, as a new process has them
        # (each closed before its descriptor is given back: closefd=False keeps the fd)
        stdout = stack.enter_context(io.TextIOWrapper(
            io.BufferedWriter(io.FileIO(1, "wb", closefd=False)), encoding="utf-8"))
        stderr = stack.enter_context(io.TextIOWrapper(
            io.BufferedWriter(io.FileIO(2, "wb", closefd=False)), encoding="utf-8",
            errors="backslashreplace", line_buffering=True))
        stdin = stack.enter_context(io.TextIOWrapper(
            io.BufferedReader(io.FileIO(0, "rb", closefd=False)), encoding="utf-8"))
        stack.enter_context(contextlib.redirect_stdout(stdout))
        stack.enter_context(contextlib.redirect_stderr(stderr))
        saved_stdin, sys.stdin = sys.stdin, stdin
        stack.callback(setattr, sys, "stdin", saved_stdin)
        saved_cwd = os.getcwd()
        os.chdir(cwd)
        stack.callback(os.chdir, saved_cwd)
        stack.enter_context(_environment(env))
        try:
            try:
                code = cli.main(args)
            except SystemExit as e:  # argparse, and any command that exits
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except BaseException:
                traceback.print_exc(file=stderr)
                code = 1
            finally:
                stdout.flush()
                stderr.flush()
        finally:
            if gc_was_enabled:
                gc.enable()
        stack.close()
        out_file.seek(0)
        err_file.seek(0)
        stdout_text = out_file.read().decode("utf-8", "replace")
        stderr_text = err_file.read().decode("utf-8", "replace")
    return subprocess.CompletedProcess(["trimtab", *args], code, stdout_text, stderr_text)
