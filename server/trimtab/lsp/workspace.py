"""A project as the language server keeps it: settings, cached models, the last analyses.

No LSP types and no SQL here: the engine reads and plans, ``analysis`` turns results into
findings. Everything that touches a database or the shadow runs in a worker thread (the
callers use ``asyncio.to_thread``); the fast path runs on the event loop and only reads
cached models.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trimtab import engine
from trimtab.config import Config, load_config, redact
from trimtab.errors import DatabaseError, SchemaError, TrimtabError
from trimtab.lsp import analysis
from trimtab.lsp.analysis import Finding
from trimtab.memo import ByteLRU, MiB
from trimtab.migrations.folder import check as check_folder
from trimtab.migrations.folder import read_folder
from trimtab.model import Model
from trimtab.plan import Plan, plan_models
from trimtab.plan.changes import Hazard
from trimtab.sources import shadowcache
from trimtab.sources.sqlfile import (
    Span,
    Statement,
    object_spans,
    split_statements,
    structural_model,
)

if TYPE_CHECKING:  # the Drizzle reader loads with a Drizzle project's first read
    from trimtab.sources.drizzle import DrizzleSchema

EXACT_DELAY = 0.15
SEVERITIES = ("error", "warning", "information", "hint", "off")
UNTRUSTED = ("the workspace is not trusted: trimtab reads its files but connects to no "
             "database and applies its schema nowhere")
UNTRUSTED_HINT = ("trust the folder to push, generate and migrate (VS Code: Manage Workspace "
                  "Trust; other editors: initializationOptions {\"trusted\": true} or the "
                  "trimtab/workspaceTrust notification)")


@dataclass(frozen=True)
class Settings:
    """What the client may set (initializationOptions or workspace/configuration, section
    ``trimtab``); anything unset comes from the project's configuration."""

    database_url: str | None = None
    database_url_env: str | None = None
    schema: str | None = None
    migrations: str | None = None
    refresh_interval: float = 30.0  # seconds between live-database refreshes; 0: never
    measure_timeout: float = 1.0
    # Seconds of quiet after an edit before the exact path starts. Short: an edit that
    # arrives while an analysis runs cancels it (the server's schedule_exact), so a burst
    # of typing still starts one analysis for its last version, not one a key.
    exact_delay: float = EXACT_DELAY
    severity: Mapping[str, str] = field(default_factory=dict)  # finding code -> severity
    inlay_row_counts: bool = False  # inlayHints.rowCounts: live row counts after table names
    problems: tuple[str, ...] = ()  # settings that were ignored, and why

    @staticmethod
    def from_client(data: Mapping[str, Any] | None) -> Settings:
        """Read what the client sent; a value of the wrong type is ignored (and named in
        ``problems``), never fatal: the user typed it into a settings file."""
        data = data if isinstance(data, Mapping) else {}
        problems: list[str] = []

        def get(*names: str) -> Any:
            for n in names:
                if data.get(n) not in (None, ""):
                    return data[n]
            return None

        def text(*names: str) -> str | None:
            value = get(*names)
            if value is None or isinstance(value, str):
                return value
            problems.append(f"{names[0]} must be a string, not {type(value).__name__}")
            return None

        def seconds(name: str, alias: str, default: float) -> float:
            value = get(name, alias)
            if value is None:
                return default
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = -1.0
            if isinstance(value, bool) or not 0 <= number < 10**6:
                problems.append(f"{name} must be a number of seconds, not {value!r}")
                return default
            return number

        nested = data.get("diagnostics")
        raw = get("diagnosticSeverity") or (
            nested.get("severity") if isinstance(nested, Mapping) else None) or {}
        severity: dict[str, str] = {}
        if not isinstance(raw, Mapping):
            problems.append("diagnostics.severity must be an object of code: severity")
            raw = {}
        for code, level in raw.items():
            level = level.lower() if isinstance(level, str) else level
            level = {"info": "information", "none": "off"}.get(level, level)
            if level in SEVERITIES:
                severity[str(code)] = level
            else:
                problems.append(f"diagnostics.severity.{code} must be one of "
                                f"{', '.join(SEVERITIES)}, not {level!r}")
        hints = data.get("inlayHints")
        rows = hints.get("rowCounts") if isinstance(hints, Mapping) else None
        if rows is not None and not isinstance(rows, bool):
            problems.append(f"inlayHints.rowCounts must be true or false, not {rows!r}")
            rows = None
        return Settings(
            inlay_row_counts=rows is True,
            database_url=text("databaseUrl", "database_url"),
            database_url_env=text("databaseUrlEnv", "database_url_env"),
            schema=text("schema", "schemaPath"),
            migrations=text("migrations", "migrationsFolder"),
            refresh_interval=seconds("refreshInterval", "refresh_interval", 30.0),
            measure_timeout=seconds("measureTimeout", "measure_timeout", 1.0),
            exact_delay=seconds("exactDelay", "exact_delay", EXACT_DELAY),
            severity=severity,
            problems=tuple(problems),
        )


@dataclass
class Exact:
    """The last exact analysis of the whole schema."""

    key: tuple[tuple[str, str], ...]  # (file, text) of every schema file it read
    findings: dict[str, list[Finding]]  # file -> findings
    live_plan: Plan | None = None
    snapshot_plan: Plan | None = None
    seconds: float = 0.0
    # What the analysis put off until its findings are shown: writing the shadow's model
    # for the next process (shadowcache.saves_later).
    later: list[Callable[[], None]] = field(default_factory=list)


@dataclass
class Project:
    root: Path
    settings: Settings = field(default_factory=Settings)
    cfg: Config | None = None
    config_error: str | None = None
    live: Model | None = None
    live_skeleton: Model | None = None
    sizes: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    live_error: str | None = None
    unreachable_reported: bool = False
    snapshot: Model | None = None
    snapshot_skeleton: Model | None = None
    exact: Exact | None = None
    measured: dict[tuple[str, tuple[str, ...]], Hazard] = field(default_factory=dict)
    # Where objects that left the file were last seen: one entry a keystroke while a name
    # is typed, so bounded (about 400 bytes an entry).
    remembered: MutableMapping[tuple[str, ...], Span] = field(default_factory=lambda: ByteLRU(
        "lsp.remembered", 4 * MiB, lambda key, span: 400 + 60 * len(key)))
    last_spans: Mapping[tuple[str, ...], Span] | None = None
    skeletons: analysis.Skeletons = field(default_factory=analysis.Skeletons)
    status_findings: list[Finding] = field(default_factory=list)
    migration_findings: dict[str, list[Finding]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Reads of the live database run in worker threads and may overlap (the first refresh,
    # a command's, completion's first use): each takes a number when it starts and the
    # answer of an older read than the one kept is dropped, so stale sizes never win.
    live_reads: int = 0
    live_kept: int = 0
    # The configuration and catalog fingerprint ``live`` was read at: a refresh that finds
    # both unchanged keeps the model and reads the sizes only (engine.live_model_since).
    live_read_at: tuple[Config, str] | None = None
    # Reads under way, and a condition signalled as each ends (see live_once).
    live_running: int = 0
    live_read_done: threading.Condition = field(default_factory=threading.Condition)
    drizzle: DrizzleSchema | None = None  # the last read of a Drizzle schema (hovers)
    # The read before it, until the server has published the new diagnostics: freeing the
    # thousands of statements a keystroke placed anew is no part of what the user waits for.
    retired: DrizzleSchema | None = None
    # False in a folder the user has not trusted: its trimtab.toml and .env can name any
    # host, and its schema file is code. Only files are read then (the fast path).
    trusted: bool = True
    # Exact analyses started, and of those cancelled by a newer edit before they were done:
    # reported in trimtab/status, so a client (and the tests) can see that a burst of edits
    # was analysed once.
    exact_runs: int = 0
    exact_superseded: int = 0

    # -- configuration ----------------------------------------------------------------------

    def load(self) -> None:
        s = self.settings
        url = s.database_url
        if url is None and s.database_url_env:
            url = os.environ.get(s.database_url_env)
        try:
            cfg = load_config(self.root, schema=self._abs(s.schema), url=url)
            if s.migrations:
                cfg = replace(cfg, migrations_dir=Path(self._abs(s.migrations) or ""))
            self.cfg, self.config_error = cfg, None
        except TrimtabError as e:
            self.cfg, self.config_error = None, str(e)

    def _abs(self, p: str | None) -> str | None:
        if not p:
            return None
        return str(Path(p) if os.path.isabs(p) else self.root / p)

    def schema_files(self) -> list[str]:
        if self.cfg is None:
            return []
        try:
            return engine.schema_files(self.cfg)
        except OSError:
            return []

    def owns_schema(self, path: str) -> bool:
        return os.path.abspath(path) in {os.path.abspath(f) for f in self.schema_files()}

    def owns_migration(self, path: str) -> bool:
        if self.cfg is None:
            return False
        p = Path(os.path.abspath(path))
        return p.suffix == ".sql" and p.parent == self.cfg.migrations_dir.absolute()

    # -- background refreshes (worker thread) -----------------------------------------------

    def refresh_live(self) -> bool:
        """Re-read the live database; True when it was reachable."""
        if self.cfg is None or not self.trusted:
            return False
        with self.lock:
            self.live_reads += 1
            ticket = self.live_reads
        with self.live_read_done:
            self.live_running += 1
        try:
            return self._read_live(ticket)
        finally:
            with self.live_read_done:
                self.live_running -= 1
                self.live_read_done.notify_all()

    def live_once(self) -> bool:
        """The database read, unless it has been (True when it was reachable). A read under
        way is waited for, not made again beside it: the exact path asks at the same time
        as the server's first refresh, and each read holds a whole model and the catalog's
        rows while it runs (at 10,000 tables the server's peak came on open, beside the
        first fast path)."""
        with self.live_read_done:
            while self.live_running and self.live is None and self.live_error is None:
                self.live_read_done.wait()
            if self.live is not None or self.live_error is not None:
                return self.live_error is None
        return self.refresh_live()

    def _read_live(self, ticket: int) -> bool:
        cfg = self.cfg
        assert cfg is not None
        at = self.live_read_at
        since = at[1] if at is not None and at[0] == cfg and self.live is not None else None
        try:
            live, sizes, now = engine.live_model_since(cfg, since)
        except (DatabaseError, TrimtabError) as e:
            with self.lock:
                if ticket > self.live_kept:
                    self.live_kept = ticket
                    self.live_error = redact_message(str(e))
            return False
        with self.lock:
            if ticket <= self.live_kept:
                return True  # a newer read's answer is kept, or trust was taken back
            if live is None and (self.live is None or self.live_read_at != at):
                return True  # forgotten, or another read kept meanwhile: it stands
            self.live_kept = ticket
            self.sizes = sizes
            if live is not None:
                self.live = live
                # the objects of the last skeleton that did not change, which the file's
                # skeletons share
                self.live_skeleton = analysis.skeleton(live, like=self.live_skeleton)
            self.live_read_at = (cfg, now) if now is not None else None
            self.live_error = None
            self.unreachable_reported = False
        return True

    def refresh_snapshot(self) -> None:
        if self.cfg is None:
            return
        try:
            snap = engine.snapshot_model(self.cfg)
        except (TrimtabError, OSError, ValueError):
            snap = None
        with self.lock:
            self.snapshot = snap
            self.snapshot_skeleton = analysis.skeleton(
                snap, like=self.snapshot_skeleton) if snap else None

    def refresh_status(self, fallback: Span) -> None:
        """Drift and migration problems, from the engine's status (replays migrations)."""
        if self.cfg is None or not self.cfg.migrations_dir.is_dir():
            self.status_findings = []
            return
        out: list[Finding] = []
        by_file: dict[str, list[Finding]] = {}
        try:
            if self.live_error is None and self.trusted:
                st = engine.status(self.cfg)
                if st.drift:
                    out.append(Finding(fallback, "warning", "drift",
                                       "drift: the database differs from its applied "
                                       "migrations:\n" + "\n".join(st.drift[:20])))
                if st.made_text:  # a push made what they make: record, do not run
                    out.append(Finding(fallback, "warning", "already-made", st.made_text,
                                       {"markApplied": list(st.made)}))
                for problem in st.problems:
                    name = problem.split()[2] if problem.startswith("applied migration") \
                        else None
                    f = self._migration_file(name)
                    if f:
                        by_file.setdefault(f, []).append(Finding(
                            Span(f, 1, 1, 1, 10_000, 0, 0), "error", "edited-migration",
                            problem))
                    else:
                        out.append(Finding(fallback, "error", "migrations", problem))
        except TrimtabError as e:
            out.append(Finding(fallback, "info", "status", f"migration status unknown: "
                                                           f"{redact_message(str(e))}"))
        for p in check_folder(self.cfg.migrations_dir):
            if p.file:
                line = max(p.line or 1, 1)
                by_file.setdefault(p.file, []).append(Finding(
                    Span(p.file, line, 1, line, 10_000, 0, 0), "error", "migrations-folder",
                    p.message + (f" {p.hint}" if p.hint else "")))
        self.status_findings = out
        self.migration_findings = by_file

    def _migration_file(self, name: str | None) -> str | None:
        if not name or self.cfg is None:
            return None
        for m in read_folder(self.cfg.migrations_dir).migrations:
            if m.name == name:
                return str(m.path)
        return None

    def analyze_exact(self, texts: Mapping[str, str]) -> Exact:
        """The engine's plan for the schema as the editor holds it (worker thread); what
        the caller may do once it has shown the findings is in the result's ``later``."""
        if not self.trusted:  # the shadow runs the schema file: never for an untrusted one
            raise TrimtabError(UNTRUSTED, hint=UNTRUSTED_HINT)
        with shadowcache.saves_later() as later:
            exact = self._analyze_exact(texts)
        exact.later = later
        return exact

    def _analyze_exact(self, texts: Mapping[str, str]) -> Exact:
        started = time.perf_counter()
        cfg = self.cfg
        assert cfg is not None
        key = tuple(sorted(texts.items()))
        findings: dict[str, list[Finding]] = {f: [] for f in self.schema_files()}
        if cfg.drizzle:  # every place the .ts reader is unsure of, not just the first
            ds, _ = engine.read_drizzle_schema(cfg, texts)
            if ds.errors:
                for x in analysis.issue_findings(ds.issues, "drizzle"):
                    findings.setdefault(x.span.file, []).append(x)
                return Exact(key, findings, seconds=time.perf_counter() - started)
        try:
            source = engine.read_source(cfg, texts)
        except SchemaError as e:
            f = e.file or next(iter(findings), "")
            findings.setdefault(f, []).append(_error_finding(e, f))
            return Exact(key, findings, seconds=time.perf_counter() - started)
        # Where each object is declared (some 20 ms at 1,000 tables) is worked out in a
        # thread of its own, which runs while this one waits on PostgreSQL for the plan.
        pool = ThreadPoolExecutor(max_workers=1)
        spans_of = pool.submit(lambda: source.spans)
        pool.shutdown(wait=False)
        if source.drizzle is not None:
            for x in analysis.issue_findings(source.drizzle.issues, "drizzle"):
                findings.setdefault(x.span.file, []).append(x)
        fallback = {f: _file_start(f) for f in findings}
        live_plan = snapshot_plan = None
        try:
            if self.live_error is None:
                lp = engine.plan_live(cfg, source, measure_timeout=self.settings.measure_timeout)
                live_plan, desired = lp.plan, lp.desired
                spans = spans_of.result()
                self._remember(spans)
                for f in findings:
                    mine = _InFile(spans, f)
                    items = [(s.change, s.hazards) for s in lp.plan.steps]
                    findings[f] += [x for x in analysis.hazard_findings(
                        items, spans, self.remembered, fallback[f]) if x.span.file == f]
                    findings[f] += [x for x in analysis.candidate_findings(
                        lp.candidates, mine, fallback[f]) if x.span.file == f]
                    findings[f] = analysis.headline_renames(findings[f])
                with self.lock:
                    self.measured = {(h.code, s.change.target): h for s in lp.plan.steps
                                     for h in s.hazards if h.measured}
            else:
                desired = engine.desired_model(cfg, _offline_target(cfg), source.statements,
                                               source)
            if self.snapshot is not None:
                snapshot_plan = plan_models(self.snapshot, desired)
                n = len(snapshot_plan.steps)
                first = next(iter(findings), None)
                if n and first:
                    findings[first].append(Finding(
                        fallback[first], "info", "not-in-a-migration",
                        f"{n} change{'s' if n != 1 else ''} not in a migration: "
                        "run Generate Migration"))
        except SchemaError as e:
            f = e.file if e.file in findings else next(iter(findings), "")
            findings.setdefault(f, []).append(_error_finding(e, f))
        except DatabaseError as e:
            with self.lock:
                self.live_error = redact_message(str(e))
        for f, found in findings.items():
            found += [x for x in self.status_findings if x.span.file == f]
        return Exact(key, findings, live_plan, snapshot_plan, time.perf_counter() - started)

    def forget_live(self) -> None:
        """Drop what the database and the shadow told (trust was taken back)."""
        with self.lock:
            self.live_kept = self.live_reads  # a read under way is not kept either
            self.live = self.live_skeleton = self.exact = self.live_read_at = None
            self.sizes, self.measured = {}, {}
            self.live_error = None

    def _remember(self, spans: Mapping[tuple[str, ...], Span]) -> None:
        """Keep where objects that just left the file were, to show their removal there."""
        with self.lock:
            last = self.last_spans
            if last is not None:
                # a .ts read spliced from the last one knows what it lost (not a set
                # difference of some 17,000 keys a keystroke)
                gone_since = getattr(spans, "gone_since", None)
                gone = gone_since(last) if gone_since is not None else None
                for key in gone if gone is not None else last.keys() - spans.keys():
                    self.remembered[key] = last[key]
            self.last_spans = spans

    # -- the fast path (event loop) -------------------------------------------------------

    def analyze_fast(self, texts: Mapping[str, str]) -> dict[str, list[Finding]]:
        """Findings for every schema file from the structural model, against the cached
        live database (or, when it cannot be reached, the last snapshot)."""
        files = self.schema_files()
        out: dict[str, list[Finding]] = {f: [] for f in files}
        statements: list[Statement] = []
        spans: Mapping[tuple[str, ...], Span]
        if self.cfg is not None and self.cfg.drizzle:
            # The .ts files as DDL; what the reader flags is placed in the .ts files, and
            # the structural model of its DDL (always well formed) has nothing to add.
            ds, _ = engine.read_drizzle_schema(self.cfg, texts)
            self.retired, self.drizzle = self.drizzle, ds
            spans = ds.spans
            from trimtab.sources.drizzle import structural as drizzle_structural

            model = drizzle_structural(ds)  # spliced from the last keystroke's
            for x in analysis.issue_findings(ds.issues, "drizzle"):
                out.setdefault(x.span.file, []).append(x)
        else:
            for f in files:
                text = texts.get(f)
                if text is None:
                    try:
                        text = Path(f).read_text(encoding="utf-8-sig")
                    except OSError:
                        continue
                statements += split_statements(text, f)
            model, issues = structural_model(statements)
            spans = object_spans(statements)
            for x in analysis.issue_findings(issues):
                out.setdefault(x.span.file, []).append(x)
        # Before the hazards are placed: what this keystroke removed is shown where it was.
        self._remember(spans)
        base = self.live_skeleton if self.live_skeleton is not None else self.snapshot_skeleton
        if base is not None:
            desired = self.skeletons.model(model, like=base)
            items = analysis.fast_changes(base, desired, self.skeletons)
            items = [(c, analysis.measured(h, self.measured, c.target)) for c, h in items]
            # Only a drop can be half of a rename: skip the search on most keystrokes.
            renames = analysis.fast_candidates(base, desired, self.skeletons) if any(
                h.code.startswith("drops-") for _, hs in items for h in hs) else []
            for f in files:
                out[f] += [x for x in analysis.hazard_findings(
                    items, spans, self.remembered, _file_start(f)) if x.span.file == f]
                if renames:
                    mine = _InFile(spans, f)
                    out[f] = analysis.headline_renames(out[f] + [
                        x for x in analysis.candidate_findings(renames, mine, _file_start(f))
                        if x.span.file == f])
        return out


class _InFile(Mapping[tuple[str, ...], Span]):
    """The spans of one file, looked up one at a time: a spliced .ts read works a range
    out on lookup (through the edits since), and a rename candidate looks up two of some
    17,000, where a copy of the mapping worked every one of them out."""

    def __init__(self, spans: Mapping[tuple[str, ...], Span], file: str) -> None:
        self.spans, self.file = spans, file

    def __getitem__(self, key: tuple[str, ...]) -> Span:
        span = self.spans[key]
        if span.file != self.file:
            raise KeyError(key)
        return span

    def __iter__(self) -> Iterator[tuple[str, ...]]:
        return (k for k, v in self.spans.items() if v.file == self.file)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _file_start(f: str) -> Span:
    return Span(f, 1, 1, 1, 1, 0, 0)


def _error_finding(e: TrimtabError, f: str) -> Finding:
    line = e.line or 1
    col = e.column or 1
    message = e.message + (f"\n{e.hint}" if e.hint else "")
    return Finding(Span(f, line, col, line, 10_000, 0, 0), "error", "postgres",
                   redact_message(message))


def _offline_target(cfg: Config) -> engine.Target:
    """Where the shadow goes while the database is down: the configured shadow server,
    else the embedded one."""
    if cfg.shadow_database_url:
        return engine.Target(cfg.shadow_database_url, redact(cfg.shadow_database_url) or "")
    from trimtab import embedded

    return engine.Target(embedded.ensure_database(cfg.root), "embedded", True)


def redact_message(text: str) -> str:
    """Messages may quote a URL: never show its password."""
    from trimtab.config import scrub

    return scrub(text)
