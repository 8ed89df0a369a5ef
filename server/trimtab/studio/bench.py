"""How fast the studio pages a big table: ``python -m trimtab.studio.bench``.

Fills a table of 1,000,000 rows (an embedded PostgreSQL in a temporary folder, or
``--dsn``), starts the studio on it and times its HTTP API from a client on the same
machine: the first page, pages deep in the table (keyset cursors), the last page, sorted
and filtered pages, each several times. For comparison it also times what an OFFSET page
at the same depth costs in PostgreSQL alone. ``--append FILE`` writes the results as the
``## Studio paging`` section at the end of FILE (replacing an earlier one there).
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
from psycopg import sql

from trimtab import embedded
from trimtab.config import load_config
from trimtab.studio import Server
from trimtab.studio.queries import encode_cursor, order_for

TABLE = "accounts"
BUDGET_MS = 200.0
SECTION = "## Studio paging"

SCHEMA = """
CREATE TYPE account_status AS ENUM ('new', 'active', 'suspended', 'closed');
CREATE TABLE accounts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email       text NOT NULL,
    status      account_status NOT NULL,
    balance     numeric(12, 2) NOT NULL,
    created_at  timestamptz NOT NULL,
    last_login  timestamptz,
    tags        text[],
    profile     jsonb
);
"""
FILL = """
INSERT INTO accounts (email, status, balance, created_at, last_login, tags, profile)
SELECT 'user' || i || '@example.org',
       (ARRAY['new', 'active', 'suspended', 'closed'])[1 + (i * 7) % 4]::account_status,
       ((i * 7919) % 1000000) / 100.0,
       timestamptz '2020-01-01 00:00+00' + ((i * 104729) % 1000000) * interval '97 seconds',
       CASE WHEN i % 10 <> 0 THEN timestamptz '2024-01-01 00:00+00'
                                   + ((i * 15485863) % 1000000) * interval '31 seconds' END,
       ARRAY['t' || (i % 17), 'all'],
       jsonb_build_object('plan', (ARRAY['free', 'pro', 'team'])[1 + i % 3], 'n', i)
FROM generate_series(1::bigint, %(rows)s) AS i;
CREATE INDEX accounts_created_at_idx ON accounts (created_at);
CREATE INDEX accounts_last_login_idx ON accounts (last_login);
CREATE INDEX accounts_status_idx ON accounts (status, id);
VACUUM ANALYZE accounts;
"""


def _server_and_database(dsn: str | None, rows: int, keep: bool
                         ) -> tuple[str, Callable[[], None]]:
    """A database holding the filled table, and how to clean up."""
    pgdata: Path | None = None
    if dsn:
        admin = dsn
    else:
        pgdata = Path(tempfile.mkdtemp(prefix="trimtab-studio-bench-", dir="/tmp"))
        admin = embedded.start_server(pgdata)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET fsync = off")
            conn.execute("SELECT pg_reload_conf()")
    name = "trimtab_studio_bench"

    def cleanup() -> None:
        if not keep:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)))
        if pgdata is not None and not keep:
            embedded.stop_server(pgdata)
            shutil.rmtree(pgdata, ignore_errors=True)

    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = psycopg.conninfo.make_conninfo(admin, dbname=name)
        started = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SCHEMA)
            for statement in FILL.replace("%(rows)s", str(int(rows))).split(";\n"):
                if statement.strip():
                    conn.execute(statement.encode(), prepare=False)
        print(f"filled {rows:,} rows in {time.perf_counter() - started:.1f} s",
              file=sys.stderr)
    except BaseException:
        cleanup()
        raise
    return url, cleanup


class Client:
    """One keep-alive connection to the studio, as the page's fetches use."""

    def __init__(self, server: Server) -> None:
        self.port = server.studio.port
        self.token = server.studio.token
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def rows(self, **params: Any) -> tuple[float, dict[str, Any]]:
        query = urlencode({"schema": "public", "table": TABLE, "limit": "50",
                           **{k: v if isinstance(v, str) else json.dumps(v)
                              for k, v in params.items()}})
        started = time.perf_counter()
        self.conn.request("GET", f"/api/rows?{query}", headers={
            "Host": f"127.0.0.1:{self.port}", "Authorization": f"Bearer {self.token}"})
        r = self.conn.getresponse()
        body = r.read()
        ms = (time.perf_counter() - started) * 1000
        if r.status != 200:
            raise RuntimeError(f"{r.status}: {body[:300]!r}")
        return ms, json.loads(body)


def _cursor(server: Server, sort: str | None, direction: str | None,
            values: list[str | None]) -> str:
    with server.studio.pool.connection() as conn:
        rel = server.studio.catalog.relation(conn, "public", TABLE)
    return encode_cursor(order_for(rel, sort, direction), values)


def _at(url: str, order: str, where: str, position: int, columns: str) -> list[str | None]:
    """The values of the row at ``position`` in this order: where a deep cursor points.
    ``columns`` are aliased, so that ORDER BY reads the table's columns, not them."""
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT {columns} FROM {TABLE} {where} ORDER BY {order} "
                           f"OFFSET {position} LIMIT 1").fetchone()
    assert row is not None
    return list(row)


def run(rows: int, runs: int, dsn: str | None, keep: bool) -> dict[str, Any]:
    url, cleanup = _server_and_database(dsn, rows, keep)
    project = Path(tempfile.mkdtemp(prefix="trimtab-studio-bench-project-"))
    (project / "trimtab.toml").write_text('schema = "schema.sql"\n')
    server = Server(load_config(project, url=url)).start()
    try:
        client = Client(server)
        deep = rows - 50
        suspended = "WHERE status = 'suspended'"
        cases: list[tuple[str, dict[str, Any]]] = [
            ("first page (primary key order)", {}),
            (f"deep page: after row {deep:,} (cursor)",
             {"after": _cursor(server, None, None, [str(deep)])}),
            (f"middle page: after row {rows // 2:,} (cursor)",
             {"after": _cursor(server, None, None, [str(rows // 2)])}),
            ("last page", {"last": "1"}),
            ("first page, sorted by created_at desc", {"sort": "created_at", "dir": "desc"}),
            (f"deep page, sorted by created_at desc: after row {deep:,}",
             {"sort": "created_at", "dir": "desc", "after": _cursor(
                 server, "created_at", "desc", _at(url, "created_at DESC, id DESC", "", deep - 1,
                                                   "created_at::text AS v1, id::text AS v2"))}),
            (f"deep page, sorted by last_login (10% NULL): after row {rows * 85 // 100:,}",
             {"sort": "last_login", "after": _cursor(
                 server, "last_login", "asc", _at(url, "last_login ASC NULLS LAST, id", "",
                                                  rows * 85 // 100,
                                                  "last_login::text AS v1, id::text AS v2"))}),
            (f"deep page, sorted by last_login: among its NULLs, after row {rows * 95 // 100:,}",
             {"sort": "last_login", "after": _cursor(
                 server, "last_login", "asc", _at(url, "last_login ASC NULLS LAST, id", "",
                                                  rows * 95 // 100,
                                                  "last_login::text AS v1, id::text AS v2"))}),
            ("first page, filter status = suspended",
             {"filters": [{"column": "status", "op": "eq", "value": "suspended"}]}),
            ("deep page, filter status = suspended: after its row "
             f"{rows // 4 - 50:,}",
             {"filters": [{"column": "status", "op": "eq", "value": "suspended"}],
              "after": _cursor(server, None, None, _at(url, "id", suspended, rows // 4 - 51,
                                                       "id::text AS v1"))}),
        ]
        results = []
        for label, params in cases:
            for _ in range(3):  # warm up: caches, plans
                client.rows(**params)
            times, db_ms = [], []
            for _ in range(runs):
                ms, page = client.rows(**params)
                times.append(ms)
                db_ms.append(page["ms"])
            assert len(page["rows"]) == 50, (label, len(page["rows"]))
            times.sort()
            results.append({
                "case": label, "median_ms": statistics.median(times),
                "p95_ms": times[max(0, int(len(times) * 0.95) - 1)], "max_ms": times[-1],
                "db_ms": statistics.median(db_ms)})
            print(f"{label:<72} {results[-1]['median_ms']:7.1f} ms "
                  f"(database {results[-1]['db_ms']:.1f} ms)", file=sys.stderr)
        unindexed = []  # for contrast: a sort no index serves sorts the table each page
        for i in range(max(3, runs // 4) + 1):
            ms, _ = client.rows(sort="balance")
            if i:
                unindexed.append(ms)
        with psycopg.connect(url) as conn:  # what OFFSET costs at the same depth
            offset_times = []
            for i in range(max(3, runs // 4) + 1):
                started = time.perf_counter()
                conn.execute(f"SELECT * FROM {TABLE} ORDER BY id OFFSET {deep} "
                             "LIMIT 51").fetchall()
                if i:  # the first run warms the cache
                    offset_times.append((time.perf_counter() - started) * 1000)
            version = conn.info.server_version
    finally:
        server.stop()
        cleanup()
        shutil.rmtree(project, ignore_errors=True)
    return {"rows": rows, "runs": runs, "results": results,
            "offset_ms": statistics.median(offset_times),
            "unindexed_sort_ms": statistics.median(unindexed), "server_version": version,
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "date": datetime.date.today().isoformat(), "embedded": dsn is None}


def _wrap(text: str) -> str:
    """A paragraph wrapped at 92 columns, never inside a `code span`."""
    kept = re.sub(r"`[^`]*`", lambda m: m.group(0).replace(" ", "\0"), text)
    wrapped = textwrap.fill(kept, width=92, break_long_words=False, break_on_hyphens=False)
    return wrapped.replace("\0", " ")


def markdown(r: dict[str, Any]) -> str:
    v = r["server_version"]
    lines = [
        SECTION, "",
        _wrap(f"`python -m trimtab.studio.bench` ({r['date']}, {r['cpus']} cores shared with other "
        f"work, {'embedded ' if r['embedded'] else ''}PostgreSQL {v // 10000}.{v % 100}, "
        f"Python {r['python']}): the studio's HTTP API on a table of {r['rows']:,} rows, "
        "50 rows a page, timed from a client on the same machine (request sent to JSON "
        f"parsed), {r['runs']} runs each after 3 warm-up runs. \"database\" is the part "
        "spent in PostgreSQL, as the studio measures it."), "",
        "| page | median | p95 | max | database |",
        "|---|---:|---:|---:|---:|",
    ]
    for x in r["results"]:
        lines.append(f"| {x['case']} | {x['median_ms']:.1f} ms | {x['p95_ms']:.1f} ms | "
                     f"{x['max_ms']:.1f} ms | {x['db_ms']:.1f} ms |")
    worst = max(x["p95_ms"] for x in r["results"])
    lines += [
        "",
        _wrap(f"Every page stays under {BUDGET_MS:.0f} ms (worst p95 {worst:.1f} ms): a page is "
        "an index range after the previous page's last row (keyset paging), so a page "
        f"deep in the table costs what the first costs. For comparison, PostgreSQL alone "
        f"takes {r['offset_ms']:.0f} ms for `ORDER BY id OFFSET {r['rows'] - 50:,} LIMIT 51` "
        "on the same table; the studio uses OFFSET only for small tables and views. A sort "
        "on a column without an index, or a filter no index serves, reads the whole table "
        f"for every page instead: sorted by `balance` (no index), a page takes "
        f"{r['unindexed_sort_ms']:.0f} ms."),
        "",
    ]
    return "\n".join(lines)


def append_section(path: Path, text: str) -> None:
    """Write ``text`` as the last section of ``path``: an earlier ``## Studio paging``
    section at the end is replaced, everything before it kept as read just now."""
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    at = current.find("\n" + SECTION + "\n")
    if at >= 0 and "\n## " not in current[at + 1 + len(SECTION):]:
        current = current[:at + 1]
    path.write_text(current.rstrip("\n") + "\n\n" + text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trimtab.studio.bench", description=__doc__)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--dsn", help="a server to use (it must allow CREATE DATABASE) instead "
                                 "of a temporary embedded one")
    p.add_argument("--keep", action="store_true", help="keep the benchmark database")
    p.add_argument("--json", action="store_true", help="print the raw results as JSON")
    p.add_argument("--append", metavar="FILE", type=Path,
                   help="write the results as the last section of FILE (docs/benchmarks.md)")
    args = p.parse_args(argv)
    results = run(args.rows, args.runs, args.dsn, args.keep)
    text = markdown(results)
    print(json.dumps(results, indent=2) if args.json else text)
    if args.append:
        append_section(args.append, text)
        print(f"wrote the section into {args.append}", file=sys.stderr)
    over = [x for x in results["results"] if x["median_ms"] > BUDGET_MS]
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
