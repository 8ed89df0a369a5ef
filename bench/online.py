"""`trimtab migrate` of six everyday changes on a busy table: writers insert and update it
throughout, each write timed, with the online-safe forms and with the plain ones.

Usage: ``python -m bench.online [--rows 200000] [--writers 4] [--dsn URL] [--command push]``

``--command push``: the same changes made by ``trimtab push`` (the table is above
``online_rows``, so push takes the online-safe forms phase by phase; ``online = false``: one
plain transaction).

Each writer is a thread with its own connection (autocommit) that alternates an INSERT of a
new order and an UPDATE that adds 1 to an existing order's total; every acknowledged write is
counted, so that the rows and the sum of totals afterwards tell whether one was lost.
tests/test_online_traffic.py runs the same with the online forms.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

TRIMTAB = str(Path(sys.executable).parent / "trimtab")

BEFORE = """
CREATE TABLE customers (id int PRIMARY KEY, email text);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total int, code text, note text);
"""
# SET NOT NULL, a CHECK, a UNIQUE, a FOREIGN KEY, an index, a new column.
AFTER = """
CREATE TABLE customers (id int PRIMARY KEY, email text);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers (id),
                     total int NOT NULL CHECK (total >= 0), code text UNIQUE, note text,
                     placed date);
CREATE INDEX orders_customer_idx ON orders (customer_id);
"""
CUSTOMERS = 50


@dataclass
class Writer:
    """One writer's record: its write latencies (seconds), what was acknowledged, errors."""

    n: int
    latencies: list[float] = field(default_factory=list)
    inserted: int = 0
    increments: int = 0
    errors: list[str] = field(default_factory=list)
    running: threading.Event = field(default_factory=threading.Event)  # 10 writes done


@dataclass(frozen=True)
class Outcome:
    online: bool
    rows: int
    migrate_seconds: float
    migrate_output: str
    migrate_code: int
    writes: int
    max_wait: float
    p99_wait: float
    median_wait: float
    errors: tuple[str, ...]
    inserted: int  # acknowledged inserts
    present: int  # of them, rows present afterwards
    total_expected: int  # sum(total) the acknowledged writes make
    total_present: int
    converged: bool  # a second generate writes nothing
    files: tuple[str, ...]


def _run(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",
                                                             "DIRECT_DATABASE_URL")}
    return subprocess.run([TRIMTAB, *args], cwd=project, capture_output=True, text=True,
                          env=env, stdin=subprocess.DEVNULL, timeout=600)


def _write(w: Writer, url: str, rows: int, stop: threading.Event) -> None:
    rng = random.Random(w.n)
    with psycopg.connect(url, autocommit=True) as conn:
        i = 0
        while not stop.is_set():
            i += 1
            start = time.perf_counter()
            try:
                if i % 2:
                    conn.execute("INSERT INTO orders (id, customer_id, total, code) "
                                 "VALUES (%s, %s, 0, %s)",
                                 (rows + 1 + w.n * 10_000_000 + i, 1 + i % CUSTOMERS,
                                  f"w{w.n}_{i}"))
                    w.inserted += 1
                else:
                    conn.execute("UPDATE orders SET total = total + 1 WHERE id = %s",
                                 (rng.randint(1, rows),))
                    w.increments += 1
            except psycopg.Error as e:  # counted as not acknowledged
                w.errors.append(f"{type(e).__name__}: {e}")
            w.latencies.append(time.perf_counter() - start)
            if i == 10:
                w.running.set()


def prepare(project: Path, url: str, rows: int, *, online: bool, settings: str = "",
            command: str = "migrate") -> None:
    """A project whose database holds ``rows`` orders made from BEFORE, with AFTER in the
    schema file: generated as a migration, not applied (``command="push"``: made by push,
    AFTER not pushed)."""
    (project / "trimtab.toml").write_text(
        f'schema = "schema.sql"\n{"" if online else "online = false"}\n{settings}')
    (project / "schema.sql").write_text(BEFORE)
    steps = [("push",)] if command == "push" else [("generate",), ("migrate",)]
    for args in steps:
        r = _run(project, *args, "--url", url)
        assert r.returncode == 0, r.stdout + r.stderr
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO customers SELECT g, 'c' || g "
                     "FROM generate_series(1, %s) g", (CUSTOMERS,))
        conn.execute("INSERT INTO orders SELECT g, 1 + g %% %s, g %% 1000, 'o' || g, NULL "
                     "FROM generate_series(1, %s) g", (CUSTOMERS, rows))
        conn.execute("VACUUM ANALYZE orders")
    (project / "schema.sql").write_text(AFTER)
    if command == "migrate":
        r = _run(project, "generate", "--url", url)
        assert r.returncode == 0, r.stdout + r.stderr


def migrate_under_traffic(project: Path, url: str, rows: int, *, online: bool,
                          writers: int = 4, command: str = "migrate") -> Outcome:
    """Run ``trimtab migrate`` (or ``push``) of the prepared project while ``writers``
    write."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT sum(total) FROM orders").fetchone()
        assert row is not None
        base = int(row[0])
    stop = threading.Event()
    ws = [Writer(n) for n in range(writers)]
    threads = [threading.Thread(target=_write, args=(w, url, rows, stop), daemon=True)
               for w in ws]
    for th in threads:
        th.start()
    for w in ws:  # the writers are under way before the migration starts
        assert w.running.wait(timeout=60), w.errors
    start = time.perf_counter()
    r = _run(project, command, "--url", url)
    seconds = time.perf_counter() - start
    stop.set()
    for th in threads:
        th.join(timeout=120)
    waits = sorted(x for w in ws for x in w.latencies)
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FILTER (WHERE code LIKE 'w%%'), sum(total) "
                           "FROM orders").fetchone()
        assert row is not None
    again = _run(project, "generate" if command == "migrate" else "push", "--url", url)
    return Outcome(
        online=online, rows=rows, migrate_seconds=seconds,
        migrate_output=r.stdout + r.stderr, migrate_code=r.returncode, writes=len(waits),
        max_wait=waits[-1], p99_wait=waits[int(0.99 * (len(waits) - 1))],
        median_wait=statistics.median(waits),
        errors=tuple(e for w in ws for e in w.errors),
        inserted=sum(w.inserted for w in ws), present=int(row[0]),
        total_expected=base + sum(w.increments for w in ws), total_present=int(row[1]),
        converged=again.returncode == 0 and ("Nothing to generate" in again.stdout
                                             or "Nothing to do" in again.stdout),
        files=tuple(sorted(p.name for p in (project / "migrations").glob("*.sql"))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--dsn", help="a PostgreSQL server to use (default: an embedded one)")
    ap.add_argument("--command", choices=["migrate", "push"], default="migrate")
    args = ap.parse_args()
    from bench.common import find_psql, open_server

    with open_server(args.dsn, find_psql(None)) as server:
        results = []
        for online in (True, False):
            name = server.fresh_db("online" if online else "plain")
            url = server.url(name)
            with tempfile.TemporaryDirectory() as tmp:
                project = Path(tmp)
                prepare(project, url, args.rows, online=online, command=args.command)
                results.append(migrate_under_traffic(project, url, args.rows, online=online,
                                                     writers=args.writers,
                                                     command=args.command))
            server.drop_db(name)
        print(f"trimtab {args.command}: {args.rows:,} rows, {args.writers} writers; "
              f"{server.note}")
        print(f"| forms | {args.command} (s) | writes | max write wait (s) | p99 write wait (s) "
              "| median (ms) | lost writes | converged |")
        print("|---|---:|---:|---:|---:|---:|---:|---|")
        for o in results:
            lost = (o.inserted - o.present) + (o.total_expected - o.total_present)
            print(f"| {'online (default)' if o.online else 'plain (online = false)'} "
                  f"| {o.migrate_seconds:.2f} | {o.writes:,} | {o.max_wait:.3f} "
                  f"| {o.p99_wait:.3f} | {o.median_wait * 1000:.1f} "
                  f"| {lost} | {'yes' if o.converged else 'no'} |")
            if o.migrate_code:
                print(o.migrate_output, file=sys.stderr)


if __name__ == "__main__":
    main()
