"""PostgreSQL's own cost of creating a schema, the floors trimtab is measured against.

- ``psql -1 -f``: psql splits the file and sends each statement on its own (one round trip
  per statement, in one transaction). The first floor of the benchmarks; trimtab's push
  from empty beats it from N=500, so it is not the floor.
- one batch: the whole text sent as ONE simple-query message in one transaction (what
  ``psql -1 -c TEXT`` does; the text of a large schema is longer than one command-line
  argument may be, so ``python -m bench.floors batch URL FILE`` sends it with psycopg's
  ``execute`` without parameters, which uses the simple-query protocol).
- pg_restore: ``pg_restore --single-transaction`` of a schema-only ``pg_dump -Fc`` of the
  database the schema was loaded into (the dump is made untimed; the binaries sit next to
  the bench's psql, so they match the server's version when it is the embedded one).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from bench.common import Sample, Server, run_measured


def batch_cmd(script: Path, url: str) -> list[str]:
    """The one-batch floor as a command (timed like every other: process start included)."""
    return [sys.executable, "-m", "bench.floors", "batch", url, str(script)]


def pg_tool(server: Server, name: str) -> str | None:
    """``pg_dump`` or ``pg_restore`` next to the bench's psql, else on PATH."""
    sibling = Path(server.psql).parent / name
    if sibling.exists():
        return str(sibling)
    return shutil.which(name)


def restore_missing(server: Server) -> str | None:
    """Why the pg_restore floor cannot run, or None."""
    for name in ("pg_dump", "pg_restore"):
        if pg_tool(server, name) is None:
            return f"{name} not found next to {server.psql} nor on PATH"
    return None


def dump_schema(server: Server, url: str, dest: Path, timeout: float) -> Path:
    """A schema-only custom-format dump of ``url`` (untimed: it is the floor's input)."""
    run_measured([pg_tool(server, "pg_dump") or "pg_dump", "-Fc", "-s", "-f", str(dest),
                  "-d", url], timeout=timeout)
    return dest


def restore(server: Server, dump: Path, url: str, timeout: float) -> Sample:
    return run_measured([pg_tool(server, "pg_restore") or "pg_restore", "--single-transaction",
                         "--exit-on-error", "--no-owner", "--no-privileges", "-d", url,
                         str(dump)], timeout=timeout)


def _batch(url: str, script: Path) -> None:
    import psycopg

    text = script.read_text()
    # Not autocommit: psycopg opens the transaction, the batch runs in it, one COMMIT.
    with psycopg.connect(url) as conn:
        conn.execute(text)  # no parameters: the simple-query protocol


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] != "batch":
        print("usage: python -m bench.floors batch URL FILE", file=sys.stderr)
        return 2
    try:
        _batch(argv[1], Path(argv[2]))
    except Exception as exc:  # the suite reads the message from the output
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
