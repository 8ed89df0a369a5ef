"""A fleet: the same migrations folder applied to many databases, or to many tenant schemas
of one database (``[fleet]`` in trimtab.toml, or ``--targets FILE``).

Each target goes through the single-target path unchanged: ``engine.migrate`` for a
database (its advisory lock, one transaction per migration, lock retries), the runner with
``search_path`` set to the schema for a tenant schema (its own tracking table in the
``trimtab`` schema and its own lock, ``tracking.per_schema``). So a second run resumes: it
applies what is still pending on each target, and nothing is half-applied on any target.

Canary targets run first; a canary that does not end applied or up to date stops the
whole run. The rest run ``concurrency`` at a time; a target that is down, drifted or whose
migration fails is reported and the others go on, unless ``on_error = "stop"``: then no
target starts after the first failure (those running finish their migration).

A target is checked for drift first; a drifted one is left alone. A database: by
``engine.status`` (what its applied migrations make against what it has). A tenant schema:
the migrations it has applied are replayed in a shadow database with ``search_path`` set to
``REPLAY_SCHEMA``, as the tenant's is set to its schema; that schema, read back under the
tenant's name (``move_schema``), is compared with the tenant's, the same way
(``engine.drift_items``). One replay serves every tenant that has applied the same migrations.

The engine never prints: ``on_event`` hears each target start, each migration applied and
each outcome, from worker threads, one call at a time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from trimtab.config import Config, FleetSettings, check_url, redact, scrub
from trimtab.errors import ConfigError, DatabaseError, TrimtabError
from trimtab.migrations import runner, tracking
from trimtab.migrations.folder import Migration, MigrationStatement, read_folder
from trimtab.migrations.replay import replay
from trimtab.model import Model
from trimtab.plan.renames import move_schema
from trimtab.sources import shadow
from trimtab.sources.introspect import introspect

if TYPE_CHECKING:
    from trimtab.engine import Drift

# Outcomes of one target
APPLIED = "applied"
UP_TO_DATE = "up to date"
WOULD_APPLY = "would apply"  # a dry run
UNREACHABLE = "unreachable"
DRIFTED = "drifted"
FAILED = "failed"
NOT_RUN = "not run"  # the run stopped before this target started
OK = (APPLIED, UP_TO_DATE, WOULD_APPLY)
# The schema a tenant's migrations are replayed into, made first and alone on the replay's
# search_path as the tenant's schema is on the tenant's: not public, where the database's
# extensions live, whose names the migrations write qualified and which must stay so.
REPLAY_SCHEMA = "trimtab_tenant"


@dataclass(frozen=True)
class FleetTarget:
    url: str  # what the runner connects to (a tenant's carries its search_path)
    label: str  # for people: redacted URL, or "schema X in <redacted URL>"
    schema: str | None = None  # a tenant schema of one database


@dataclass(frozen=True)
class TargetOutcome:
    label: str
    outcome: str  # one of the constants above
    canary: bool = False
    applied: tuple[str, ...] = ()  # migrations applied now (or that would be, dry run)
    pending: tuple[str, ...] = ()  # still pending after this run
    error: str | None = None  # why it failed, is unreachable, drifted, or was not run
    drift: tuple[str, ...] | None = ()  # None: not checked
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome in OK

    def to_json(self) -> dict[str, object]:
        return {"target": self.label, "outcome": self.outcome, "canary": self.canary,
                "applied": list(self.applied), "pending": list(self.pending),
                "error": self.error, "drift": None if self.drift is None else list(self.drift),
                "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class FleetResult:
    targets: tuple[TargetOutcome, ...]
    stopped: str | None  # why targets were left unrun (a canary failed, on_error = "stop")
    seconds: float

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.targets)

    def count(self, outcome: str) -> int:
        return sum(t.outcome == outcome for t in self.targets)


@dataclass(frozen=True)
class TargetStatus:
    label: str
    reachable: bool
    applied: int = 0
    pending: tuple[str, ...] = ()
    drift: tuple[str, ...] | None = ()  # None: not checked
    problems: tuple[str, ...] = ()  # what stops migrate there (edited applied files...)
    error: str | None = None
    drift_items: tuple[Drift, ...] | None = ()  # ``drift`` as data

    def to_json(self) -> dict[str, object]:
        return {"target": self.label, "reachable": self.reachable, "applied": self.applied,
                "pending": list(self.pending),
                "drift": None if self.drift is None else list(self.drift),
                "drift_items": None if self.drift_items is None else [
                    d.to_json() for d in self.drift_items],
                "problems": list(self.problems), "error": self.error}


Event = Callable[[str, str], None]  # (target label, what happened)


# -- which targets ----------------------------------------------------------------------------

def read_targets_file(path: Path) -> list[str]:
    """One URL per line; blank lines and ``#`` comments are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read the targets file: {e.strerror}", file=str(path)) from None
    urls = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            check_url(line, f"{path}:{number}")
            urls.append(line)
    if not urls:
        raise ConfigError("the targets file lists no database URL", file=str(path),
                          hint="one PostgreSQL URL per line")
    return urls


def with_search_path(url: str, schema: str) -> str:
    """``url`` with ``search_path`` set to ``schema`` for every session it opens."""
    # libpq's options: a backslash escapes the next character (a space in a name)
    value = '"' + schema.replace('"', '""') + '"'
    option = "-c search_path=" + value.replace("\\", "\\\\").replace(" ", "\\ ")
    given = conninfo_to_dict(url).get("options")
    return make_conninfo(url, options=f"{given} {option}" if given else option)


def resolve_targets(cfg: Config, targets_file: Path | None = None) -> list[FleetTarget]:
    """The fleet's targets, in a stable order: ``--targets FILE``, else ``[fleet]``."""
    if targets_file is not None:
        return [FleetTarget(u, redact(u)) for u in read_targets_file(targets_file)]
    fleet = cfg.fleet
    if fleet is None or not (fleet.targets or fleet.targets_query or fleet.schemas):
        raise ConfigError("no fleet is configured", file=str(cfg.config_file or
                                                              cfg.root / "trimtab.toml"),
                          hint="set one of targets, targets_query or schemas in trimtab.toml's "
                               "[fleet] table, or pass --targets FILE")
    where = f"{cfg.config_file or 'trimtab.toml'} [fleet]"
    if fleet.targets:
        for u in fleet.targets:
            check_url(u, where)
        return [FleetTarget(u, redact(u)) for u in fleet.targets]
    if not cfg.database_url:
        raise ConfigError(f"{where}: targets_query and schemas run on database_url, and "
                          "none is set", hint="set DATABASE_URL (or database_url)")
    check_url(cfg.database_url, cfg.database_url_source)
    with shadow.connect(cfg.database_url) as conn:
        conn.execute("SET default_transaction_read_only = on")
        if fleet.targets_query:
            try:
                rows = conn.execute(fleet.targets_query, prepare=False).fetchall()
            except psycopg.Error as e:
                raise ConfigError(f"{where}: targets_query failed: "
                                  f"{scrub(str(e.diag.message_primary or e), cfg.database_url)}"
                                  ) from None
            urls = [r[0] for r in rows if r and r[0] is not None]
            if not all(isinstance(u, str) for u in urls):
                raise ConfigError(f"{where}: targets_query must return URLs as text")
            for u in urls:
                check_url(u, f"{where} targets_query")
            return [FleetTarget(u, redact(u)) for u in urls]
        assert fleet.schemas is not None
        names = [r[0] for r in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s ORDER BY nspname",
            (fleet.schemas,), prepare=False).fetchall()]
    base = redact(cfg.database_url)
    return [FleetTarget(with_search_path(cfg.database_url, n), f"schema {n} in {base}", n)
            for n in names]


def _canaries(targets: Sequence[FleetTarget], fleet: FleetSettings | None
              ) -> tuple[list[FleetTarget], list[FleetTarget]]:
    """(canaries, the rest): the first N targets, or those named (URL, label or schema)."""
    canary = 1 if fleet is None else fleet.canary
    if isinstance(canary, int):
        return list(targets[:canary]), list(targets[canary:])
    named = set(canary)
    unknown = named - {t.url for t in targets} - {t.label for t in targets} - {
        t.schema for t in targets if t.schema}
    if unknown:
        raise ConfigError(f"fleet canary names targets that are not in the fleet: "
                          f"{', '.join(sorted(redact(u) for u in unknown))}")
    first = [t for t in targets if {t.url, t.label, t.schema} & named]
    return first, [t for t in targets if t not in first]


# -- one target -------------------------------------------------------------------------------

def _target_config(cfg: Config, target: FleetTarget) -> Config:
    return replace(cfg, database_url=target.url, database_url_source="fleet")


_replay_locks: dict[tuple[str, ...], threading.Lock] = {}
_replay_locks_guard = threading.Lock()


def _replay_lock(cfg: Config, target: FleetTarget) -> threading.Lock:
    """One drift check at a time per shadow server. The replay's cached database is one per
    project on a server, and the lock that guards it is an advisory lock, which holds
    within one database only: two targets of one server checked at once would both create
    (or update) it."""
    info = conninfo_to_dict(cfg.shadow_database_url or target.url)
    server = tuple(str(info.get(k) or "") for k in ("host", "hostaddr", "port"))
    with _replay_locks_guard:
        return _replay_locks.setdefault(server, threading.Lock())


def _reachable(target: FleetTarget) -> str | None:
    """None, or why the target cannot be reached."""
    try:
        with shadow.connect(target.url) as conn:
            if target.schema is not None:
                row = conn.execute("SELECT to_regnamespace(%s) IS NOT NULL", (target.schema,),
                                   prepare=False).fetchone()
                if not (row and row[0]):
                    return f"schema {target.schema} does not exist"
    except DatabaseError as e:
        return e.message
    return None


def _schema_pending(target: FleetTarget, cfg: Config) -> tuple[list[Migration], list[str]]:
    folder = read_folder(cfg.migrations_dir)
    assert target.schema is not None
    with tracking.per_schema(target.schema), shadow.connect(target.url) as conn:
        return runner.pending(conn, folder, drizzle_table=_history(cfg))


class _Replays:
    """What the migrations make, replayed once per set of applied migrations in one run
    (tenants that applied the same ones share it), in ``REPLAY_SCHEMA``."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.models: dict[tuple[str, ...], Model] = {}
        self.installed: list[shadow.Extension] | None = None
        self.lock = threading.Lock()

    def model(self, applied: tuple[str, ...]) -> Model:
        with self.lock:  # one replay at a time: the others would wait for the same one
            if applied not in self.models:
                cfg = self.cfg
                # database_url, not a tenant's URL: its search_path names the tenant
                scratch = cfg.shadow_database_url or cfg.database_url
                assert scratch is not None  # tenant schemas are read from database_url
                if self.installed is None:  # what the migrations may use without creating
                    with shadow.connect(cfg.database_url or scratch) as conn:
                        self.installed = shadow.installed_extensions(conn)
                folder = read_folder(cfg.migrations_dir)
                made = Migration(-1, "(the tenant schema)", folder.path, 0, "", (
                    MigrationStatement(f"CREATE SCHEMA {REPLAY_SCHEMA}", 1),), True, None)
                self.models[applied] = replay(
                    replace(folder, migrations=(made, *folder.migrations)),
                    with_search_path(scratch, REPLAY_SCHEMA), (REPLAY_SCHEMA,),
                    only=(made.name, *applied), timeout=cfg.shadow_timeout,
                    installed=self.installed)
            return self.models[applied]


def _tenant_drift(cfg: Config, target: FleetTarget, applied: tuple[str, ...],
                  replays: _Replays) -> tuple[Drift, ...]:
    """How the tenant schema differs from what its applied migrations make."""
    from trimtab import engine

    assert target.schema is not None
    expected = move_schema(replays.model(applied), REPLAY_SCHEMA, target.schema)
    with shadow.connect(target.url) as conn:
        live = tracking.without_history(introspect(conn, (target.schema,)), _history(cfg))
    # The schema itself is the fleet's (made, owned and granted by whoever adds a tenant),
    # not the migrations', and the extensions are the database's.
    plan = engine.drift_plan(expected.with_(schemas={}, extensions={}),
                              live.with_(schemas={}, extensions={}), None)
    return tuple(engine.drift_items(plan))


def _history(cfg: Config) -> tracking.DrizzleTable:
    from trimtab import engine

    return engine.history_table(cfg)


def _migrate_one(cfg: Config, target: FleetTarget, canary: bool, dry_run: bool,
                 say: Event, replays: _Replays) -> TargetOutcome:
    from trimtab import engine

    start = time.monotonic()

    def done(outcome: str, **kw: object) -> TargetOutcome:
        out = TargetOutcome(target.label, outcome, canary, seconds=time.monotonic() - start,
                            **kw)  # type: ignore[arg-type]
        say(target.label, outcome + (f": {out.error}" if out.error else ""))
        return out

    say(target.label, "started")
    why = _reachable(target)
    if why is not None:
        return done(UNREACHABLE, error=why)

    def progress(m: Migration, i: int, n: int) -> None:
        say(target.label, f"applying {m.name} ({i}/{n})")

    try:
        if target.schema is not None:
            folder = read_folder(cfg.migrations_dir)
            pending, problems = _schema_pending(target, cfg)
            if not problems:  # (the runner says what stops it)
                waiting = tuple(m.name for m in pending)
                drifted = _tenant_drift(cfg, target, tuple(
                    m.name for m in folder.migrations if m.name not in waiting), replays)
                if drifted:
                    messages = tuple(d.message for d in drifted)
                    return done(DRIFTED, error="; ".join(messages), drift=messages,
                                pending=waiting)
            with tracking.per_schema(target.schema):
                result = runner.migrate(target.url, folder, dry_run=dry_run,
                                        drizzle=False, drizzle_table=_history(cfg),
                                        on_progress=progress, lock_retries=cfg.lock_retries)
            drift: tuple[str, ...] | None = ()
        else:
            tcfg = _target_config(cfg, target)
            with _replay_lock(cfg, target):
                st = engine.status(tcfg)
            if st.problems:
                return done(FAILED, error="; ".join(st.problems), pending=st.pending)
            if st.drift:
                return done(DRIFTED, error="; ".join(st.drift), drift=st.drift,
                            pending=st.pending)
            result, _ = engine.migrate(tcfg, dry_run=dry_run, on_progress=progress)
            drift = ()
    except runner.Interrupted:
        raise
    except TrimtabError as e:
        return done(FAILED, error=scrub(str(e), target.url), pending=_still_pending(
            cfg, target))
    names = tuple(r.name for r in result.runs if r.status in ("applied", "would apply"))
    if dry_run:
        return done(WOULD_APPLY if names else UP_TO_DATE, applied=names, pending=names,
                    drift=drift)
    return done(APPLIED if names else UP_TO_DATE, applied=names, drift=drift)


def _still_pending(cfg: Config, target: FleetTarget) -> tuple[str, ...]:
    """What is pending on a target after a failure (read back; () when unreadable)."""
    try:
        if target.schema is not None:
            pending, _ = _schema_pending(target, cfg)
        else:
            folder = read_folder(cfg.migrations_dir)
            with shadow.connect(target.url) as conn:
                pending, _ = runner.pending(conn, folder, drizzle_table=_history(cfg))
    except (TrimtabError, psycopg.Error):
        return ()
    return tuple(m.name for m in pending)


# -- the fleet --------------------------------------------------------------------------------

def migrate_fleet(cfg: Config, targets: Sequence[FleetTarget], *, dry_run: bool = False,
                  concurrency: int | None = None, on_error: str | None = None,
                  on_event: Event | None = None) -> FleetResult:
    """Apply the pending migrations to every target: canaries first, then the rest,
    ``concurrency`` at a time (``[fleet]``'s settings unless given)."""
    fleet = cfg.fleet or FleetSettings()
    workers = concurrency or fleet.concurrency
    stop_on_error = (on_error or fleet.on_error) == "stop"
    read_folder(cfg.migrations_dir)  # a broken folder stops the run before any target
    lock = threading.Lock()
    replays = _Replays(cfg)

    def say(label: str, what: str) -> None:
        if on_event is not None:
            with lock:
                on_event(label, what)

    start = time.monotonic()
    first, rest = _canaries(targets, cfg.fleet)
    outcomes: dict[str, TargetOutcome] = {}
    stopped: str | None = None
    halt = threading.Event()

    def run(target: FleetTarget, canary: bool) -> None:
        if halt.is_set():  # on_error = "stop": no target starts after a failure
            outcomes[target.url] = TargetOutcome(target.label, NOT_RUN, canary)
            return
        out = _migrate_one(cfg, target, canary, dry_run, say, replays)
        outcomes[target.url] = out
        if not out.ok and stop_on_error:
            halt.set()

    def failed() -> str:
        return ", ".join(o.label for o in outcomes.values() if not o.ok and o.outcome != NOT_RUN)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for batch, canary in ((first, True), (rest, False)):
            if not canary and any(not outcomes[t.url].ok for t in first):
                stopped = f"a canary failed ({failed()}): no other target was run"
                break
            futures = [pool.submit(run, t, canary) for t in batch]
            try:
                for f in futures:
                    f.result()
            except BaseException:
                halt.set()  # Ctrl+C: no new target starts; running ones finish a migration
                raise
    if stopped is None and halt.is_set():
        stopped = f"on_error = \"stop\": no target started after {failed()} failed"
    ordered = tuple(outcomes.get(t.url) or TargetOutcome(t.label, NOT_RUN) for t in targets)
    ordered = tuple(replace(o, error=stopped) if o.outcome == NOT_RUN else o for o in ordered)
    return FleetResult(ordered, stopped, time.monotonic() - start)


def status_fleet(cfg: Config, targets: Sequence[FleetTarget], *,
                 concurrency: int | None = None) -> tuple[TargetStatus, ...]:
    """Each target's applied / pending / drift, in the targets' order."""
    from trimtab import engine

    fleet = cfg.fleet or FleetSettings()
    replays = _Replays(cfg)

    def one(target: FleetTarget) -> TargetStatus:
        why = _reachable(target)
        if why is not None:
            return TargetStatus(target.label, False, error=why)
        try:
            if target.schema is not None:
                pending, problems = _schema_pending(target, cfg)
                names = {m.name for m in pending}
                applied = tuple(m.name for m in read_folder(cfg.migrations_dir).migrations
                                if m.name not in names)
                drift = _tenant_drift(cfg, target, applied, replays)
                return TargetStatus(target.label, True, len(applied),
                                    tuple(m.name for m in pending),
                                    tuple(d.message for d in drift), tuple(problems),
                                    drift_items=drift)
            with _replay_lock(cfg, target):
                st = engine.status(_target_config(cfg, target))
        except TrimtabError as e:
            return TargetStatus(target.label, True, error=scrub(str(e), target.url))
        return TargetStatus(target.label, True, len(st.applied), st.pending, st.drift,
                            st.problems, drift_items=st.drift_items)

    with ThreadPoolExecutor(max_workers=max(1, concurrency or fleet.concurrency)) as pool:
        return tuple(pool.map(one, targets))
