"""`trimtab migrate --fleet` against one target: the same three migrations applied to one
database, to N databases of one server (``--targets FILE``) and to S tenant schemas of one
database (``[fleet] schemas``), each through the CLI as a user runs it.

Usage: ``python -m bench.fleet [--databases 50] [--schemas 200] [--concurrency 4] [--dsn URL]``

Reports wall-clock seconds per run and per target; a target costs a status check (drift)
and a migrate, so the fleet's time is compared with one target's times the fleet's size.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql as pgsql

from trimtab.migrations.folder import write_migration

TRIMTAB = str(Path(sys.executable).parent / "trimtab")
MIGRATIONS = (
    ("create", ["CREATE TABLE items (id int PRIMARY KEY, qty int NOT NULL)"]),
    ("note", ["ALTER TABLE items ADD COLUMN note text"]),
    ("check", ["ALTER TABLE items ADD CONSTRAINT qty_positive CHECK (qty > 0)"]),
)
SCHEMA = ("CREATE TABLE items (id int PRIMARY KEY, qty int NOT NULL, note text,\n"
          "  CONSTRAINT qty_positive CHECK (qty > 0));\n")


def project(folder: Path, toml: str) -> Path:
    folder.mkdir()
    (folder / "trimtab.toml").write_text('schema = "schema.sql"\n' + toml)
    (folder / "schema.sql").write_text(SCHEMA)
    for name, statements in MIGRATIONS:
        write_migration(folder / "migrations", name, statements, None)
    return folder


def timed(cwd: Path, *args: str) -> tuple[float, dict | None]:
    start = time.monotonic()
    p = subprocess.run([TRIMTAB, *args], cwd=cwd, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL)
    seconds = time.monotonic() - start
    if p.returncode:
        print(p.stdout + p.stderr, file=sys.stderr)
        raise SystemExit(f"trimtab {' '.join(args)} failed")
    return seconds, json.loads(p.stdout) if "--json" in args else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--databases", type=int, default=50)
    ap.add_argument("--schemas", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--dsn", help="a PostgreSQL server to use (default: an embedded one)")
    args = ap.parse_args()
    from bench.common import find_psql, machine_info, open_server

    with open_server(args.dsn, find_psql(None)) as server:
        names = [server.fresh_db(f"fleet{i}") for i in range(args.databases + 2)]
        urls = [server.url(n) for n in names]
        rows = []
        try:
            with tempfile.TemporaryDirectory() as tmp:
                one = project(Path(tmp) / "one", "")
                single, _ = timed(one, "migrate", "--url", urls[0])
                rows.append(("one database (trimtab migrate)", 1, single, single))
                fleet = project(Path(tmp) / "fleet",
                                f"[fleet]\nconcurrency = {args.concurrency}\n")
                (fleet / "targets.txt").write_text("\n".join(urls[2:]) + "\n")
                seconds, _ = timed(fleet, "migrate", "--targets", "targets.txt", "--json")
                rows.append((f"{args.databases} databases (--targets, concurrency "
                             f"{args.concurrency})", args.databases, seconds,
                             seconds / args.databases))
                again, _ = timed(fleet, "migrate", "--targets", "targets.txt", "--json")
                rows.append((f"{args.databases} databases, nothing pending",
                             args.databases, again, again / args.databases))
                with psycopg.connect(urls[1], autocommit=True) as conn:
                    for i in range(args.schemas):
                        conn.execute(pgsql.SQL("CREATE SCHEMA {}").format(
                            pgsql.Identifier(f"tenant_{i:04d}")))
                tenants = project(Path(tmp) / "tenants", f'database_url = "{urls[1]}"\n'
                                  f'[fleet]\nschemas = "tenant_%"\nconcurrency = '
                                  f"{args.concurrency}\n")
                seconds, _ = timed(tenants, "migrate", "--fleet", "--json")
                rows.append((f"{args.schemas} tenant schemas of one database", args.schemas,
                             seconds, seconds / args.schemas))
        finally:
            for n in names:
                server.drop_db(n)
        for line in machine_info():
            print(line)
        print(f"server: {server.note}")
        print("| run | targets | seconds | per target | vs one target x targets |")
        print("|---|---:|---:|---:|---:|")
        for label, n, seconds, per in rows:
            print(f"| {label} | {n} | {seconds:.2f} | {per:.3f} | "
                  f"{seconds / (single * n):.2f} |")


if __name__ == "__main__":
    main()
