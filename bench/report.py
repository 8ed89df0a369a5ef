"""The side-by-side benchmark's report (markdown) and chart (PNG), from its raw results."""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from pathlib import Path

from bench.common import fmt_seconds
from bench.suite import (
    BATCH,
    DRIZZLE,
    INTERNALS,
    MIGRA,
    MUTATION_COLUMN,
    OP,
    OPS,
    PSQL,
    RESTORE,
    TOOLS,
    TRIMTAB,
    Results,
    k,
    percentile,
)

MB = 1_000_000
# trimtab's own commands (the diff rows time a benchmark helper, not a trimtab command).
TRIMTAB_COMMAND_OPS = [op.key for op in OPS
                       if TRIMTAB in op.tools and not op.key.startswith("diff")]


# --- figures --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """A median time, or a lower bound when the command timed out."""

    seconds: float
    lower_bound: bool = False


def figure(res: Results, n: int, tool: str, op: str) -> Figure | None:
    times = res.times.get(k(n, tool, op))
    if times:
        return Figure(statistics.median(times))
    err = res.errors.get(k(n, tool, op), "")
    m = re.match(r"timed out after (\d+(?:\.\d+)?) s", err)
    return Figure(float(m.group(1)), True) if m else None


def ratio(num: Figure | None, den: Figure | None) -> tuple[float, bool] | None:
    """num / den, and whether it is a lower bound (num timed out)."""
    if num is None or den is None or den.lower_bound or den.seconds <= 0:
        return None
    return num.seconds / den.seconds, num.lower_bound


def fmt_ratio(r: tuple[float, bool] | None) -> str:
    if r is None:
        return "–"
    value, lower = r
    text = f"{value:.1f}x" if value < 100 else f"{value:.0f}x"
    return f"> {text}" if lower else text


def cell(res: Results, n: int, tool: str, op: str) -> str:
    times = res.times.get(k(n, tool, op))
    err = res.errors.get(k(n, tool, op))
    if not times:
        if err and err.startswith("timed out"):
            return f"{err.replace('timed out after', 'timed out (>')})"
        if err:
            return "not run" if err.startswith("not run") else "failed"
        if tool in res.skipped:
            return "not measured"
        return "–"
    text = f"{fmt_seconds(statistics.median(times))} s"
    if len(times) > 1:
        text += f" ({fmt_seconds(min(times))}–{fmt_seconds(max(times))})"
    return text + (" then failed" if err else "")


def peak_mb(res: Results, n: int, tool: str, op: str) -> float | None:
    mem = res.memory.get(k(n, tool, op))
    return max(mem) / MB if mem else None


# --- targets ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    text: str
    n: int


TARGETS = (
    Target("no-op push at N=500 at least 20x faster than drizzle-kit", 500),
    Target("push from empty at N=1000 within 1.3x of the psql floor", 1000),
    Target("migrate of the full history at N=1000 within 1.2x of the psql floor "
           "(same files)", 1000),
    Target("generate after one change at N=1000 at least 2x faster than drizzle-kit", 1000),
    Target("language server p95 under 200 ms at N=1000", 1000),
    Target("peak memory under 300 MB for every trimtab operation at N=1000", 1000),
    # issue 24 ("speed at 10,000 tables"); n=0: at every size of the run
    Target("no-op push (from its record) at N=1000 in 0.5 s or less, process start included",
           1000),
    Target("no-op push (from its record) at N=500 at least 100x faster than drizzle-kit", 500),
    Target("generate from empty at least as fast as drizzle-kit at every size", 0),
    Target("no-op generate at least as fast as drizzle-kit at every size", 0),
    Target("peak memory under 300 MB for every trimtab operation at N=10000", 10000),
    Target("`trimtab --help` and `trimtab status` on a small project under 150 ms of CPU "
           "each (bench.startup)", -1),
)


def evaluate(res: Results, i: int) -> tuple[str, str]:
    """(measured, verdict) of target i: PASS, FAIL or "not measured"."""
    t = TARGETS[i]
    n = t.n
    if n < 0:
        return _startup(res)
    if n == 0:
        return _at_every_size(res, "generate_empty" if i == 8 else "generate_noop")
    if n not in res.sizes:
        return f"N={n} was not part of this run", "not measured"

    def vs(num: tuple[str, str], den: tuple[str, str], limit: float, at_least: bool,
           what: str) -> tuple[str, str]:
        a, b = figure(res, n, *num), figure(res, n, *den)
        r = ratio(a, b)
        if r is None or a is None or b is None:
            return "a figure is missing (see notes)", "not measured"
        value, lower = r
        measured = (f"{fmt_ratio(r)} ({num[0]} {fmt_seconds(a.seconds)} s"
                    f"{' timed out' if a.lower_bound else ''}, {den[0]} "
                    f"{fmt_seconds(b.seconds)} s){what}")
        ok = value >= limit if at_least else (value <= limit and not lower)
        return measured, "PASS" if ok else "FAIL"

    if i == 0:
        return vs((DRIZZLE, "push_noop"), (TRIMTAB, "push_noop"), 20, True, "")
    if i == 1:
        return vs((TRIMTAB, "push_empty"), (PSQL, "push_empty"), 1.3, False, "")
    if i == 2:
        return vs((TRIMTAB, "migrate_full"), (PSQL, "migrate_full"), 1.2, False, "")
    if i == 3:
        return vs((DRIZZLE, "generate_one"), (TRIMTAB, "generate_one"), 2, True, "")
    if i == 6:
        noop = figure(res, n, TRIMTAB, "push_noop_again")
        if noop is None:
            return "a figure is missing (see notes)", "not measured"
        return f"{fmt_seconds(noop.seconds)} s", "PASS" if noop.seconds <= 0.5 else "FAIL"
    if i == 7:
        return vs((DRIZZLE, "push_noop"), (TRIMTAB, "push_noop_again"), 100, True, "")
    if i == 4:
        lsp = res.lsp.get(k(n))
        if not lsp or not lsp.get("fast"):
            return "not measured (see notes)", "not measured"
        p95 = percentile(lsp["fast"], 95) * 1000
        p50 = statistics.median(lsp["fast"]) * 1000
        return (f"p95 {p95:.0f} ms (p50 {p50:.0f} ms, {len(lsp['fast'])} edits)",
                "PASS" if p95 < 200 else "FAIL")
    return _memory(res, n)


def _at_every_size(res: Results, op: str) -> tuple[str, str]:
    """drizzle-kit ÷ trimtab for ``op`` at each size the peers ran at: PASS at 1x or more
    at every one of them. Sizes above --peer-max-tables (peer_runs 0) are trimtab's alone."""
    found = [(n, ratio(figure(res, n, DRIZZLE, op), figure(res, n, TRIMTAB, op)))
             for n in res.sizes if res.peer_runs.get(n, 1) > 0]
    known = [(n, r) for n, r in found if r is not None]
    if not known:
        return "not measured (see notes)", "not measured"
    measured = ", ".join(f"{fmt_ratio(r)} at N={n}" for n, r in known)
    if len(known) < len(found):
        measured += f"; {len(found) - len(known)} size(s) missing"
    ok = len(known) == len(found) and all(r[0] >= 1 for _, r in known)
    return measured, "PASS" if ok else "FAIL"


def _startup(res: Results) -> tuple[str, str]:
    from bench.startup import COMMANDS, LIMIT

    if not res.startup:
        return "not measured (see notes)", "not measured"
    # (results saved before "status full" was measured have the other two)
    cpu = {name: statistics.median(res.startup[f"{name} cpu"]) for name in COMMANDS
           if f"{name} cpu" in res.startup}
    measured = ", ".join(
        f"{name} {v * 1000:.0f} ms (imports "
        f"{statistics.median(res.startup[f'{name} imports']) * 1000:.0f} ms)"
        for name, v in cpu.items())
    if "floor cpu" in res.startup:  # psycopg's import, a connection and one query
        measured += f"; floor {statistics.median(res.startup['floor cpu']) * 1000:.0f} ms"
    return measured, "PASS" if all(v < LIMIT for v in cpu.values()) else "FAIL"


def _memory(res: Results, n: int) -> tuple[str, str]:
    peaks = [(peak_mb(res, n, TRIMTAB, op), OP[op].label) for op in TRIMTAB_COMMAND_OPS]
    lsp = res.lsp.get(k(n))
    if lsp and lsp.get("peak_rss"):
        peaks.append((lsp["peak_rss"] / MB, "language server"))
    peaks_known = [(v, label) for v, label in peaks if v is not None]
    if not peaks_known:
        return "not measured (see notes)", "not measured"
    top, label = max(peaks_known)
    missing = len(peaks) - len(peaks_known)
    measured = f"{top:.0f} MB ({label})" + (f"; {missing} operation(s) missing" if missing else "")
    return measured, "PASS" if top < 300 and not missing else "FAIL"


# --- the page ---------------------------------------------------------------------------------


def _ratio_rows(res: Results) -> list[tuple[str, str, list[str]]]:
    rows = []
    for op in OPS:
        if DRIZZLE in op.tools:
            rows.append((op.label, "drizzle-kit ÷ trimtab", [
                fmt_ratio(ratio(figure(res, n, DRIZZLE, op.key), figure(res, n, TRIMTAB, op.key)))
                for n in res.sizes]))
        if op.key in ("push_noop_again", "push_noop_cold"):
            rows.append((op.label, "drizzle-kit no-op push ÷ trimtab", [
                fmt_ratio(ratio(figure(res, n, DRIZZLE, "push_noop"),
                                figure(res, n, TRIMTAB, op.key))) for n in res.sizes]))
        if MIGRA in op.tools:
            rows.append((op.label, "migra ÷ trimtab", [
                fmt_ratio(ratio(figure(res, n, MIGRA, op.key), figure(res, n, TRIMTAB, op.key)))
                for n in res.sizes]))
    for op in OPS:
        if PSQL in op.tools:
            for tool in (TRIMTAB, DRIZZLE):
                rows.append((op.label, f"{tool} ÷ psql floor", [
                    fmt_ratio(ratio(figure(res, n, tool, op.key), figure(res, n, PSQL, op.key)))
                    for n in res.sizes]))
            for floor in (BATCH, RESTORE):
                rows.append((op.label, f"trimtab ÷ {floor} floor", [
                    fmt_ratio(ratio(figure(res, n, TRIMTAB, op.key),
                                    figure(res, n, floor, op.key)))
                    for n in res.sizes]))
    return rows


def render(res: Results, chart: str | None) -> str:
    sizes = res.sizes
    heads = " | ".join(f"N={n}" for n in sizes)
    runs_text = (f"{res.runs} runs of trimtab and psql, "
                 + ", ".join(f"{res.peer_runs[n]} of the peers at N={n}" for n in sizes))
    out = [
        "# Benchmarks",
        "",
        "trimtab next to drizzle-kit and migra on the same schema, the same PostgreSQL server "
        "and in the same run, with PostgreSQL itself as the floor for anything that creates "
        "objects: `psql -1 -f`, the whole DDL as one simple-query batch in one transaction, "
        "and `pg_restore` of a schema-only dump. Wall-clock seconds per command, process "
        "start included; "
        f"median (min–max) of {runs_text}. Run on {res.date}; machine and versions under "
        "[Setup](#setup), method under [What is measured](#what-is-measured).",
        "",
        "## Targets",
        "",
        "| target | measured | result |",
        "|---|---|---|",
    ]
    for i, t in enumerate(TARGETS):
        measured, verdict = evaluate(res, i)
        out.append(f"| {t.text} | {measured} | **{verdict}** |")

    out += [
        "",
        "## Ratios",
        "",
        "Peer time ÷ trimtab time: above 1x trimtab is faster. Against the floor: tool time "
        "÷ floor time, 1x is the floor. `> ` marks a lower bound (the peer timed out).",
        "",
        f"| operation | ratio | {heads} |",
        "|---|---|" + "---:|" * len(sizes),
    ]
    for label, what, cells in _ratio_rows(res):
        out.append(f"| {label} | {what} | " + " | ".join(cells) + " |")

    if chart:
        out += ["", f"![Median time against number of tables, log scales]({chart})"]

    out += ["", "## Absolute times", ""]
    for n in sizes:
        st = res.stats.get(k(n))
        desc = ""
        if st:
            tables, cols, idx, fks, checks, enums = st
            desc = (f": {tables} tables, {cols} columns, {idx} indexes (with primary keys and "
                    f"unique), {fks} foreign keys, {checks} checks, {enums} enum types; "
                    f"schema.ts {res.ts_bytes.get(k(n), 0) / 1024:.0f} KiB, SQL "
                    f"{res.sql_bytes.get(k(n), 0) / 1024:.0f} KiB")
        out += [f"N={n}{desc}.", "",
                "| operation | psql floor | trimtab | drizzle-kit | migra | one-batch floor "
                "| pg_restore floor |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        for op in OPS:
            cells = [cell(res, n, tool, op.key) if tool in op.tools else "–" for tool in TOOLS]
            out.append(f"| {op.label} | " + " | ".join(cells) + " |")
        out.append("")

    out += [
        "## Peak memory",
        "",
        "Peak resident memory of each command's process tree, in MB (10^6 bytes), the highest "
        "over its runs: trimtab / drizzle-kit (diff rows: trimtab / migra; psql in the floor "
        "rows). The database server's own memory is not included.",
        "",
        f"| operation | {heads} |",
        "|---|" + "---:|" * len(sizes),
    ]
    for op in OPS:
        peer = MIGRA if MIGRA in op.tools else DRIZZLE
        cells = []
        for n in sizes:
            parts = [peak_mb(res, n, TRIMTAB, op.key)]
            if peer in op.tools:
                parts.append(peak_mb(res, n, peer, op.key))
            cells.append(" / ".join("–" if v is None else f"{v:.0f}" for v in parts))
        out.append(f"| {op.label} | " + " | ".join(cells) + " |")
    lsp_mem = [res.lsp.get(k(n), {}).get("peak_rss") for n in sizes]
    out.append("| language server (trimtab) | " + " | ".join(
        "–" if not v else f"{v / MB:.0f}" for v in lsp_mem) + " |")

    out += [
        "",
        "## trimtab alone",
        "",
        "In process, through trimtab's engine API, on the same server (median, min–max):",
        "",
        "| N | " + " | ".join(label for _, label in INTERNALS) + " |",
        "|---:|" + "---:|" * len(INTERNALS),
    ]
    for n in sizes:
        cells = []
        for key, _ in INTERNALS:
            t = res.internals.get(k(n, key))
            if not t:
                cells.append("–")
                continue
            text = f"{fmt_seconds(statistics.median(t))} s"
            if len(t) > 1:
                text += f" ({fmt_seconds(min(t))}–{fmt_seconds(max(t))})"
            cells.append(text)
        out.append(f"| {n} | " + " | ".join(cells) + " |")
    out += [
        "",
        f"Language server, keystroke to diagnostics: the real `trimtab lsp` process, "
        f"{res.lsp_edits} single-statement edits sent as `didChange` one at a time, each waited "
        "out (see `bench/lsp.py`).",
        "",
        "| N | diagnostics p50 | p95 | max | exact path refined p50 | p95 | open: first "
        "diagnostics | first exact |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sizes:
        lsp = res.lsp.get(k(n))
        if not lsp:
            out.append(f"| {n} | – | – | – | – | – | – | – |")
            continue
        fast, exact = lsp["fast"], lsp["exact"]
        out.append(
            f"| {n} | {statistics.median(fast) * 1000:.0f} ms | "
            f"{percentile(fast, 95) * 1000:.0f} ms | {max(fast) * 1000:.0f} ms | "
            f"{fmt_seconds(statistics.median(exact))} s | {fmt_seconds(percentile(exact, 95))} s"
            f" | {fmt_seconds(lsp['first_fast'])} s | {fmt_seconds(lsp['first_exact'])} s |")

    notes = []
    for tool, why in res.skipped.items():
        notes.append(f"{tool} was not measured: {why}.")
    for key, err in sorted(res.errors.items(), key=lambda kv: _err_order(kv[0])):
        n, tool, op = key.split("|")
        if err.startswith("not run") and tool in res.skipped:
            continue
        notes.append(f"N={n}, {tool}, {OP[op].label}: {err}")
    notes += res.notes
    out += ["", "## Notes", ""]
    out += [f"- {x}" for x in notes] if notes else ["- Every step ran and passed its check."]

    v = res.versions
    out += [
        "",
        "## Setup",
        "",
        *[f"- {line}" for line in res.machine],
        f"- {res.server}, one server for every tool",
        f"- trimtab {v.get('trimtab', '?')}, Python {v.get('Python', '?')}; psql "
        f"{v.get('psql', '?')}",
        f"- drizzle-kit {v.get('drizzle-kit', '–')}, drizzle-orm {v.get('drizzle-orm', '–')}, "
        f"pg {v.get('pg', '–')}, Node.js {v.get('node', '–')}",
        f"- migra {v.get('migra', '–')}, schemainspect {v.get('schemainspect', '–')}, "
        f"sqlbag {v.get('sqlbag', '–')}, SQLAlchemy {v.get('SQLAlchemy', '–')}, "
        f"psycopg2-binary {v.get('psycopg2-binary', '–')}",
        f"- Schema: {res.schema_source} (seed {res.seed})",
        "- Load average (1 min): " + " at start, ".join(f"{x:.2f}" for x in res.load)
        + (" at end" if len(res.load) > 1 else ""),
        f"- Date: {res.date}; the whole suite took {res.wall_seconds / 60:.0f} min",
    ]
    reads = READS_TS if res.trimtab_reads == "ts" else READS_SQL
    out += ["", METHOD.format(col=MUTATION_COLUMN, reads=reads), REPRODUCE]
    return "\n".join(out)


def _err_order(key: str) -> tuple[int, int, int]:
    n, tool, op = key.split("|")
    return int(n), TOOLS.index(tool), [o.key for o in OPS].index(op)


READS_SQL = ("trimtab does not read `schema.ts` yet: its schema file is that SQL too, so both "
             "tools work from identical definitions.")
READS_TS = ("trimtab's push and generate read `schema.ts` itself (`--trimtab-reads ts`); its "
            "in-process and language-server figures use the SQL form.")

METHOD = """## What is measured

The same schema for every tool: `bench/drizzle_schema.py` writes an N-table Drizzle
`schema.ts` (pgTable, pgEnum; bigint identity, serial and uuid keys; integer, bigint, text,
varchar, numeric, boolean, timestamp with and without time zone, date, jsonb, uuid and text[]
columns with notNull and defaults; references with onDelete and named foreignKey; index and
uniqueIndex, some multi-column or partial; checks). drizzle-kit reads it; the psql floor
loads the SQL that `drizzle-kit generate` writes for it (its `--> statement-breakpoint`
markers removed). {reads} The one change is a nullable text column, `{col}`, added at the
end of the middle table.

Every command is one process, run to completion with no terminal, start-up included, on a
fresh database of the same server; every result is checked against the psql floor's
database (a schema fingerprint over tables, columns, defaults, constraints, indexes and enum
types; with object ids for the no-ops, which must change nothing). A step that fails its
check counts as failed, whatever its exit code.

- psql floor: `psql -X -q -1 -v ON_ERROR_STOP=1 -f FILE`: the schema's SQL into an empty
  database (push rows), and the migration files of the history, concatenated, into an
  empty database (migrate rows). psql sends each statement on its own.
- one-batch floor: the same SQL (schema, or the history's files concatenated) sent as ONE
  simple-query message in one transaction (`python -m bench.floors batch URL FILE`:
  psycopg's `execute` without parameters, what `psql -1 -c TEXT` would do if a schema fit
  in one argument). PostgreSQL's own cost of running the DDL, with one round trip.
- pg_restore floor: `pg_restore --single-transaction` of a schema-only `pg_dump -Fc` of
  the psql floor's database (dumped untimed), with the server's own binaries.
- push: `trimtab push --force` and `drizzle-kit push --force` (drizzle-kit's entry point
  run by node directly, without npx's start-up): from empty, then the same schema again
  (no-op), then the changed schema. Both run non-interactively. trimtab's second no-op
  ("no-op push again") finds the record the first one left in `.trimtab/noop/` (schema
  files, configuration, code and a catalog fingerprint): one catalog query, no
  introspection, no shadow database; the step fails if there is no record.
- generate: `trimtab generate` and `drizzle-kit generate` in a fresh project with no
  migrations (from empty), again (no-op: nothing written), then with the changed schema
  (one new migration). drizzle-kit's generate reads no database; trimtab's applies the
  schema and the migrations to shadow databases on the server.
- migrate: both tools apply the same folder, the one `drizzle-kit generate` wrote for the
  schema then the change (`0000_init.sql`, `0001_add_note.sql`, journal and snapshots;
  trimtab applies drizzle-kit folders as they are), to an empty database, then again
  (no-op). drizzle-kit applies all pending files in one transaction, trimtab one
  transaction per migration.
- diff two databases: `migra --unsafe URL_FROM URL_TO`, next to `python -m bench.dbdiff
  URL_FROM URL_TO` (trimtab's catalog reader and planner in one process; trimtab's own
  commands compare with a shadow database instead): empty database to the schema, the
  schema to itself (no-op), the schema to the changed schema.
- Cold and warm: trimtab keeps each project's shadow database between runs. The benchmark
  server is not trimtab's embedded one, so each benchmark project sets `shadow_cache = true`
  in its `trimtab.toml` (what the embedded server and the language server do by default).
  Each run starts from a new project folder. A push into an empty database writes the
  schema straight into it and builds no shadow database, so the no-op push that follows is
  the one that builds the cache (the schema applied to a new shadow database): it is as
  cold as the "no-op push, cold shadow cache" row, the no-op from another new project
  folder (a fresh clone, or CI). The push after one change that follows is warm.
  generate from empty is cold; the no-op and one-change generate after it are warm.
  drizzle-kit keeps nothing between runs. migrate uses no shadow database. The first no-op after a
  push from empty also meets PostgreSQL's autovacuum of the catalogs that push just filled;
  each tool's no-op follows its own push from empty, so both meet it.
- The server runs with fsync=off (unless `--durable`): durability only adds noise to DDL
  timings, but it also makes CREATE and DROP DATABASE, which trimtab's shadow databases
  use, cheaper than on a durable server.
- Peak memory: the larger of the kernel's maximum resident set of the command's largest
  process (`wait4`) and the sum over its process tree sampled every 0.1 s.
- trimtab alone: in process, `introspect` of the database holding the schema,
  `shadow.desired_model` (a new shadow database: apply + introspect),
  `shadowcache.desired_model` after one change (cached shadow database, the changed table
  swapped in), `build_plan` + hazard classification from an empty database's model and for
  the one change.
"""

REPRODUCE = """## Reproduce

```sh
pip install -e '.[dev,bench]'      # bench: matplotlib (the chart) and psutil
python -m bench                    # N = 10, 100, 500, 1000; writes this page and its chart
python -m bench --quick            # smoke test: N = 10, one run, printed only
python -m bench.drizzle_schema 100 > schema.ts   # just the schema
```

The benchmark installs the pinned drizzle-kit, drizzle-orm and pg from npm, and migra from
PyPI into a virtual environment of its own, under `${XDG_CACHE_HOME:-~/.cache}/trimtab-bench`
on first use (Node.js and npm needed for drizzle-kit; without them it measures the others).
`python -m bench --help` lists the options: `--runs`, `--peer-runs` (fewer runs of the
slow peers at large N), `--timeout` (per command; a timed-out command is reported as such),
`--tools`, `--lsp-edits`, `--dsn` (an existing server), `--durable` (keep fsync on),
`--trimtab-reads ts` (give trimtab `schema.ts` itself, once it reads Drizzle schemas),
`--from-json` (render again from the raw results the last run kept in the cache folder),
`--peer-max-tables` (sizes above it run trimtab and the floors alone; default 1,000),
`--skip` (steps left out of a long run). `python -m bench.scale RESULTS.json...` states
each operation's exponent over the sizes of one or more runs and draws the log-log chart.
"""


# --- the chart ----------------------------------------------------------------------------


COLOURS = {PSQL: "#222222", TRIMTAB: "#1f77b4", DRIZZLE: "#ff7f0e", MIGRA: "#2ca02c",
           BATCH: "#9467bd", RESTORE: "#8c564b"}
STYLES = {"empty": "-", "full": "-", "noop": "--", "noop_again": "--", "noop_cold": "-.",
          "one": ":"}
MARKERS = {"empty": "o", "full": "o", "noop": "s", "noop_again": "v", "noop_cold": "D",
           "one": "^"}
PANELS = (("push", "push"), ("generate", "generate"), ("migrate", "migrate"),
          ("diff", "diff two databases"))


def write_chart(res: Results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig, axes = plt.subplots(2, 2, figsize=(12, 9), constrained_layout=True)
    for ax, (prefix, title) in zip(axes.flat, PANELS, strict=True):
        for op in OPS:
            if not op.key.startswith(prefix + "_"):
                continue
            variant = op.key[len(prefix) + 1:]
            for tool in op.tools:
                xs, ys = [], []
                for n in res.sizes:
                    t = res.times.get(k(n, tool, op.key))
                    if t:
                        xs.append(n)
                        ys.append(statistics.median(t))
                if not xs:
                    continue
                name = f"{tool} floor" if tool in (PSQL, BATCH, RESTORE) else tool
                ax.plot(xs, ys, STYLES.get(variant, "-"), marker=MARKERS.get(variant, "o"),
                        markersize=5,
                        color=COLOURS[tool], label=f"{name}: {op.label}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("tables (N)")
        ax.set_ylabel("seconds (median)")
        ax.set_xticks(res.sizes, [str(n) for n in res.sizes])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7, loc="best", framealpha=0.8)
    fig.suptitle(f"trimtab, drizzle-kit, migra and psql: median wall-clock time ({res.date})")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
