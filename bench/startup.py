"""Start-up: what ``trimtab --help`` and ``trimtab status`` cost before they do anything.

``python -m bench.startup [--runs 9] [--dsn URL]`` runs each command as a new process on a
small project (``fixtures/quickstart``: five tables, pushed into a fresh database of the
server) and reports, median over the runs (``status`` twice: a repeat, which answers from
the record the warm-up left, and the full path, with the record dropped before each run):

- ``cpu``: the process's CPU time, user + system (``os.wait4``), the interpreter work the
  issue's 150 ms target is about; wall clock on a shared machine measures the others too;
- ``imports``: the sum of ``python -X importtime``'s own times of every module imported
  (``python -m trimtab``), what importing only what the command needs shows in;
- the floor: the CPU time of the same interpreter importing psycopg, connecting to the
  project's database and running one query, which any command that reads the database
  costs at least (``status`` does; ``--help`` does not).

The first run of each command is a warm-up and is not counted: it writes the bytecode an
installed copy has (this machine's ``PYTHONDONTWRITEBYTECODE`` is dropped for the runs).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import Server, find_psql, open_server, trimtab_path

REPO = Path(__file__).resolve().parent.parent
PROJECT = REPO / "fixtures" / "quickstart"
COMMANDS = {"help": ["--help"], "status": ["status"], "status full": ["status"]}
# A repeated status answers from its record (sources/fingerprint.py); "status full" drops
# the record before each run, so that it measures the full path.
LABELS = {"help": "`trimtab --help`", "status": "`trimtab status`, a repeat (its record)",
          "status full": "`trimtab status`, the full path (no record)"}
LIMIT = 0.150  # seconds of CPU per command (issue 24)
# What reading the database costs before trimtab does anything: the status target's floor.
FLOOR = ("import psycopg, sys\n"
         "with psycopg.connect(sys.argv[1]) as conn:\n"
         "    conn.execute('select 1').fetchone()\n")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONDONTWRITEBYTECODE", "DATABASE_URL") and not k.startswith("PG")}


def _cpu(cmd: list[str], cwd: Path) -> float:
    """CPU seconds (user + system) of one run of ``cmd``, which must succeed."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: "
                           f"{err.decode(errors='replace')[-500:]}")
    return usage.ru_utime + usage.ru_stime


def _imports(args: list[str], cwd: Path) -> float:
    """Seconds of ``-X importtime``'s self times summed over every module."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "trimtab", *args],
                          cwd=cwd, env=_env(), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)
    total = 0
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            self_us = line.split(":", 1)[1].split("|")[0].strip()
            if self_us.isdigit():
                total += int(self_us)
    return total / 1e6


def _forget(name: str, root: Path) -> None:
    if name == "status full":
        shutil.rmtree(root / ".trimtab" / "noop", ignore_errors=True)


def measure(server: Server, runs: int) -> dict[str, list[float]]:
    """``"<command> cpu"`` and ``"<command> imports"`` -> seconds per run."""
    exe = trimtab_path()
    out: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="trimtab-bench-startup-") as work:
        root = Path(work) / "quickstart"
        # not the project's own server (the README's command starts one in .trimtab/)
        shutil.copytree(PROJECT, root, ignore=shutil.ignore_patterns(".trimtab"))
        db = server.fresh_db("startup")
        (root / "trimtab.toml").write_text(
            f'schema = "schema.sql"\ndatabase_url = "{server.url(db)}"\n')
        try:
            _cpu([str(exe), "push", "--force"], root)
            for name, args in COMMANDS.items():
                _cpu([str(exe), *args], root)  # warm-up: bytecode written, status recorded
                out[f"{name} cpu"], out[f"{name} imports"] = [], []
                for _ in range(runs):
                    _forget(name, root)
                    out[f"{name} cpu"].append(_cpu([str(exe), *args], root))
                for _ in range(runs):
                    _forget(name, root)
                    out[f"{name} imports"].append(_imports(args, root))
            floor = [sys.executable, "-c", FLOOR, server.url(db)]
            _cpu(floor, root)
            out["floor cpu"] = [_cpu(floor, root) for _ in range(runs)]
        finally:
            server.drop_db(db)
    return out


def render(found: dict[str, list[float]]) -> str:
    lines = ["| command | CPU (user + system) | -X importtime self times | target |",
             "|---|---:|---:|---|"]
    for name in COMMANDS:
        cpu = statistics.median(found[f"{name} cpu"])
        imports = statistics.median(found[f"{name} imports"])
        lines.append(f"| {LABELS[name]} | {cpu * 1000:.0f} ms | "
                     f"{imports * 1000:.0f} ms | {'PASS' if cpu < LIMIT else 'FAIL'} |")
    if "floor cpu" in found:
        lines.append(f"| floor: `python -c 'import psycopg'`, connect, one query | "
                     f"{statistics.median(found['floor cpu']) * 1000:.0f} ms | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--dsn", help="maintenance URL of an existing server")
    args = parser.parse_args(argv)
    with open_server(args.dsn, find_psql(None)) as server:
        found = measure(server, args.runs)
    print(render(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
