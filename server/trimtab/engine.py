"""The operations users run. They return result objects and raise TrimtabError; they never
print and never prompt (a caller that wants to ask passes a ``consent`` callback)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import ipaddress
import os
import re
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from trimtab import allocator, embedded
from trimtab.config import (
    PLATFORM_SCHEMAS,
    Config,
    check_url,
    pooler_warning,
    redact,
    tables_filter_match,
)
from trimtab.errors import (
    ConfigError,
    ConsentOutdated,
    ConsentRequired,
    DatabaseError,
    PlanError,
    RenameRequired,
    SchemaError,
    ShadowUnavailable,
    TrimtabError,
    UnmanagedDependency,
    WouldFail,
)
from trimtab.files import write_file, write_files
from trimtab.measure import big_tables, loss_tables, measure, recount_losses
from trimtab.migrations import backup as backups
from trimtab.migrations import batch, losses, runner, tracking
from trimtab.migrations.folder import (
    Folder,
    Migration,
    MigrationStatement,
    Problem,
    down_text,
    drizzle_notes,
    listing_problems,
    migration_file,
    next_migration,
    read_folder,
    shared_folder,
    snapshot_file,
    sql_statements,
    sum_path,
    sum_text,
    write_migration,
)
from trimtab.migrations.folder import check as check_folder
from trimtab.migrations.lint import MigrationLint, Sizes
from trimtab.migrations.lint import lint_migration as _lint_migration
from trimtab.migrations.rebase import journal_text as rebase_journal_text
from trimtab.migrations.rebase import plan_rebase as rebase_plan
from trimtab.migrations.replay import left_out, replay
from trimtab.migrations.runner import MigrateResult
from trimtab.model import Model, OutsideKey, Owner, Table, qname
from trimtab.plan import Change, Plan, Step, build_plan, plan_models
from trimtab.plan.changes import (
    AddConstraint,
    AddEnumValue,
    AlterColumn,
    Category,
    CreateIndex,
    CreateIndexConcurrently,
    DropColumn,
    DropConstraint,
    DropIndex,
    DropTable,
    GrantPrivilege,
    Hazard,
    RenameColumn,
    RenameEnumValue,
    RenameTable,
    RevokePrivilege,
    SetCluster,
    SetComment,
    SetSequenceOwner,
    batches,
)
from trimtab.plan.hazards import declares_nothing
from trimtab.plan.idempotent import idempotent_script
from trimtab.plan.online import (
    Phase,
    Rewrite,
    migration_files,
    phases,
    rewrites,
    settings_sql,
)
from trimtab.plan.renames import Rename, candidates, resolve_hints
from trimtab.plan.versions import Lack, lacks, major, written
from trimtab.plan.versions import mark as mark_versions
from trimtab.sources import bodycheck, fingerprint, shadow, shadowcache, vet
from trimtab.sources.hints import Hint, UsingHint, find_hints, find_using_hints, hint_edit

if TYPE_CHECKING:
    from trimtab.migrations.fleet import FleetResult, TargetStatus
    from trimtab.sources.drizzle import DrizzleSchema
from trimtab.sources.introspect import (
    introspect,
    other_schemas,
    outside_keys,
    row_count,
    table_sizes,
)
from trimtab.sources.introspect import owners as live_owners
from trimtab.sources.snapshot import (
    dump_snapshot,
    file_id,
    load_snapshot,
    snapshot_id,
    write_snapshot,
)
from trimtab.sources.sqlfile import (
    META_COMMAND,
    Issue,
    Span,
    Statement,
    check_source,
    decode_source,
    object_spans,
    read_schema,
    read_source_file,
    split_statements,
)
from trimtab.words import plural

Consent = Callable[[Plan], bool]
# Given the possible renames nobody has decided yet, the ones the user confirms.
RenameQuestion = Callable[[list[Rename]], list[Rename]]
ZERO_ID = "00000000-0000-0000-0000-000000000000"  # prevId of the first snapshot


@dataclass(frozen=True)
class Target:
    """The database a command works on."""

    url: str
    label: str  # for people: redacted URL and where it came from
    embedded: bool = False
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class PushResult:
    plan: Plan
    target: Target
    applied: bool
    seconds: float = 0.0
    notes: tuple[str, ...] = field(default=())
    # Possible renames left undecided (dry runs only: otherwise they stop the push).
    candidates: tuple[Rename, ...] = ()
    # The online-safe phases the plan runs in (tables above online_rows), one transaction
    # or none each, and what each transactional one sets first; () when it runs as one.
    online: tuple[Phase, ...] = ()
    online_settings: tuple[str, ...] = ()
    # Nothing was read: the schema, config, code and catalogs are those of the last no-op.
    unchanged: bool = False


def target_label(cfg: Config) -> str:
    """The database a command will work on, for people; starts and connects to nothing, so
    that the CLI can name it before asking a question."""
    if cfg.database_url is None:
        return (f"embedded PostgreSQL in {embedded.data_dir(cfg.root)} "
                f"(database trimtab; set DATABASE_URL to use another)")
    return fingerprint.configured_label(cfg)


def resolve_target(cfg: Config) -> Target:
    """The configured database, or the project's embedded server when none is."""
    if cfg.database_url is None:
        url = embedded.ensure_database(cfg.root)
        return Target(url, target_label(cfg), True)
    check_url(cfg.database_url, cfg.database_url_source)  # before any connection quotes it
    label = target_label(cfg)
    warning = pooler_warning(cfg.database_url)
    return Target(cfg.database_url, label, False, (warning,) if warning else ())


# pg_dump 17.6+/18 wraps its output in these psql commands; they only guard psql itself.
_PG_DUMP_GUARDS = ("\\restrict", "\\unrestrict")


def read_desired_statements(cfg: Config) -> list[Statement]:
    if cfg.drizzle:
        return read_source(cfg).statements
    if not cfg.schema_path.exists():
        raise SchemaError(
            f"schema file not found: {cfg.schema_path}",
            file=str(cfg.schema_path),
            hint="pass --schema PATH or set `schema` in trimtab.toml",
        )
    statements = []
    for st in read_schema(cfg.schema_path):
        if st.kind == META_COMMAND and st.text.split()[0] in _PG_DUMP_GUARDS:
            continue
        statements.append(st)
        if st.kind == META_COMMAND:
            raise SchemaError(
                f"psql meta-command {st.text.split()[0]} is not SQL",
                file=st.span.file, line=st.span.line, column=st.span.column,
                hint="a schema file holds plain SQL statements; remove the line",
            )
    return statements


@dataclass(frozen=True)
class Source:
    """The schema file(s) as written: statements, and the rename hints in their comments.

    For a Drizzle schema the statements are the DDL its .ts files declare; ``spans`` then
    places each object in the .ts files and ``origins`` each statement."""

    statements: list[Statement]
    hints: tuple[Hint, ...]
    warnings: tuple[str, ...]  # hints that annotate nothing, what a .ts reader flagged
    drizzle: DrizzleSchema | None = None
    using: tuple[UsingHint, ...] = ()  # `-- trimtab: using <expr>` beside columns

    # Worked out once a read: the editor's plan asks for them twice (the declared
    # relations and the findings), 20 ms each at 1,000 tables. A Source is never changed.
    @functools.cached_property
    def spans(self) -> Mapping[tuple[str, ...], Span]:
        """Model key -> where the schema file declares it."""
        if self.drizzle is not None:
            return self.drizzle.spans
        return object_spans(self.statements)

    def origin(self, file: str | None, line: int | None) -> Span | None:
        """Where, in the .ts files, the DDL at ``file:line`` comes from (Drizzle only)."""
        if self.drizzle is None or line is None:
            return None
        for st, span in zip(self.drizzle.statements, self.drizzle.origins, strict=False):
            if st.span.file == file and st.span.line <= line <= st.span.end_line:
                return span
        return None


def read_source(cfg: Config, overrides: Mapping[str, str] | None = None) -> Source:
    """The schema file(s) with their hints; ``overrides`` (file -> text) replaces what is
    on disk, for an editor's unsaved buffers. A Drizzle schema that trimtab cannot read
    exactly raises SchemaError at the first place it does not understand."""
    overrides = overrides or {}
    if cfg.drizzle:
        return _read_drizzle_source(cfg, overrides)
    if not overrides:
        statements = read_desired_statements(cfg)
        files = list(dict.fromkeys(st.span.file for st in statements))
    else:
        files = schema_files(cfg)
        statements = []
        for f in files:
            text = overrides.get(f)
            if text is None:
                text = read_source_file(Path(f))
            else:  # an editor's buffer: refused as the file would be, never cut short
                check_source(text, f)
            statements += split_statements(text, f)
    texts = {}
    for f in files:
        if f in overrides:
            texts[f] = overrides[f]
            continue
        try:
            texts[f] = read_source_file(Path(f))
        except SchemaError:
            continue
    hints, issues = find_hints(texts, statements)
    using, using_issues = find_using_hints(texts, statements)
    _refuse_using(using_issues, "-- trimtab: using <expression>")
    warnings = tuple(f"{i.span.file}:{i.span.line}: {i.message}"
                     for i in [*issues, *using_issues])
    return Source(statements, tuple(hints), warnings, using=tuple(using))


def read_drizzle_schema(cfg: Config, overrides: Mapping[str, str] | None = None
                        ) -> tuple[DrizzleSchema, dict[str, str]]:
    """The Drizzle schema files as trimtab reads them (never raises on their text)."""
    from trimtab.sources.drizzle import read_drizzle  # tree-sitter: only when needed

    texts: dict[str, str] = {}
    refused: list[Issue] = []  # what cannot reach PostgreSQL intact: errors, never a cut
    for f in schema_files(cfg):
        if overrides and f in overrides:
            texts[f] = overrides[f]
            try:
                check_source(texts[f], f)
            except SchemaError as e:
                refused.append(_issue(e))
                texts[f] = texts[f].encode("utf-8", "replace").decode()  # a lone surrogate
            continue
        try:
            data = Path(f).read_bytes()
        except OSError as e:
            raise SchemaError(f"cannot read the schema file: {e.strerror or e}",
                              file=f) from None
        try:
            texts[f] = decode_source(data, f, strip_bom=False)
        except SchemaError as e:
            refused.append(_issue(e))
            texts[f] = data.decode("utf-8", "replace")  # still read, for the editor
    ds = read_drizzle(texts, cfg.casing, read=_import_reader(overrides or {}))
    if not refused and "\x00" in ds.sql:  # a "\0" escape in a string puts a NUL in the DDL
        refused = [Issue("this declares SQL with a NUL character (a \\0 or \\u0000 "
                         "escape?): PostgreSQL would ignore everything after it", span,
                         "error")
                   for st, span in zip(ds.statements, ds.origins, strict=False)
                   if "\x00" in st.text][:1]
    if refused:
        ds = replace(ds, issues=(*refused, *ds.issues))
    return ds, texts


def _import_reader(overrides: Mapping[str, str]) -> Callable[[str], str | None]:
    """How the Drizzle reader reads a file the schema files import: an editor's buffer
    when there is one, else the file on disk (None when there is no such file)."""
    buffers = {os.path.normpath(k): v for k, v in overrides.items()}

    def read(name: str) -> str | None:
        text = buffers.get(os.path.normpath(name))
        if text is not None:
            return text
        try:
            if not os.path.isfile(name):
                return None
            return decode_source(Path(name).read_bytes(), name, strip_bom=False)
        except (OSError, SchemaError):
            return None

    return read


def _refuse_using(issues: list[Issue], form: str) -> None:
    """A using hint that is not one expression stops the command at its line: the user
    meant to give a conversion, and running without it would not be what they wrote."""
    if bad := next((i for i in issues if i.severity == "error"), None):
        raise SchemaError(bad.message, file=bad.span.file, line=bad.span.line,
                          column=bad.span.column, hint=f"write `{form}` beside the column")


def _issue(e: SchemaError) -> Issue:
    line, column = e.line or 1, e.column or 1
    return Issue(e.message, Span(e.file or "", line, column, line, column, 0, 0), "error")


def _read_drizzle_source(cfg: Config, overrides: Mapping[str, str]) -> Source:
    from trimtab.sources.drizzle.hints import find_ts_hints, find_ts_using_hints

    ds, texts = read_drizzle_schema(cfg, overrides)
    if ds.errors:
        first = ds.errors[0]
        more = f" (and {len(ds.errors) - 1} more)" if len(ds.errors) > 1 else ""
        raise SchemaError(first.message + more, file=first.span.file, line=first.span.line,
                          column=first.span.column,
                          hint="trimtab changes nothing while it cannot read the schema "
                               "exactly; see docs/drizzle.md for what it reads")
    hints, issues = find_ts_hints(texts, ds.spans)
    using, using_issues = find_ts_using_hints(texts, ds.spans)
    _refuse_using(using_issues, "// trimtab: using <expression>")
    warnings = cfg.notes + tuple(f"{i.span.file}:{i.span.line}: {i.message}"
                                 for i in [*ds.issues, *issues, *using_issues])
    return Source(list(ds.statements), tuple(hints), warnings, ds, using=tuple(using))


schema_files = fingerprint.schema_files


@dataclass(frozen=True)
class LivePlan:
    """The schema against the live database, as the editor shows it."""

    plan: Plan  # classified and measured
    candidates: tuple[Rename, ...]  # possible renames no hint decides yet
    notes: tuple[str, ...]
    live: Model
    desired: Model


def plan_live(cfg: Config, source: Source, *, measure_timeout: float = 1.0) -> LivePlan:
    """What ``push`` would do now, measured, without doing it: read-only, and a candidate
    rename is planned as drop + create (and listed) instead of stopping."""
    target = resolve_target(cfg)
    # One connection to the target for its extensions, its model and the counts: this runs
    # after every pause in typing.
    with shadow.connect(target.url) as conn:
        conn.execute("SET default_transaction_read_only = on")
        _refuse_written(source, major(conn.info.server_version), target.label, "not planned")
        installed, stubs = shadow.installed_extensions(conn), _stubs(conn, cfg, source)
        # The target's catalog fingerprint (some 60 ms of the server's at 1,000 tables) is
        # taken on a connection of its own while the shadow builds: two databases, each
        # mostly waiting on its server.
        with ThreadPoolExecutor(max_workers=1) as pool:
            now = pool.submit(_fingerprint_of, target.url)
            desired, where = desired_and_notes(cfg, target, source.statements, source,
                                               installed=installed, stubs=stubs)
            fingerprinted = now.result()
        managed, desired, outside = _scoped(cfg, desired)
        live = _live_again(conn, cfg, target.url, managed, declared_relations(source),
                           fingerprinted)
        live, desired, owned = _with_owners(conn, source, live, desired)
        runs_on = cfg.postgres or major(live.server_version)  # as push plans it
        plan, notes, undecided = plan_changes(*_at_version(runs_on, live, desired), source,
                                              ask=False)
        plan = mark_versions(plan, runs_on)[0]
        notes += owned
        plan = measure(conn, plan, timeout=measure_timeout, budget=5.0)
    return LivePlan(plan, undecided, notes + where + outside, live, desired)


# plan_live's last reads of a database, by what they read, with the catalog fingerprint
# they were read at: the editor plans after every pause in typing (plan_live's only
# callers are the language server and the studio), and reading 1,000 tables costs about
# 0.4 s where the fingerprint is one query. The model holds catalogs only (no statistics,
# no sequence values), so an equal fingerprint means an equal read.
_live_reads: dict[str, tuple[str, Model]] = {}
_LIVE_READS_KEPT = 4


def _fingerprint_of(url: str) -> str:
    with shadow.connect(url) as conn:
        return fingerprint.catalog_fingerprint(conn)


def _live_again(conn: psycopg.Connection, cfg: Config, url: str,
                managed: tuple[str, ...] | None,
                declared: frozenset[tuple[str, ...]], now: str | None = None) -> Model:
    """``_live(conn, cfg, managed, declared=declared)``, from the last such read while the
    database's catalogs are unchanged (``now``: their fingerprint, when already taken)."""
    key = hashlib.sha256(repr((url, cfg, managed, sorted(declared))).encode()).hexdigest()
    if now is None:
        now = fingerprint.catalog_fingerprint(conn)
    kept = _live_reads.get(key)
    if kept is not None and kept[0] == now:
        return kept[1]
    live = _live(conn, cfg, managed, declared=declared)
    # Read again after the read: DDL that ran meanwhile must not be kept under the old sum.
    if fingerprint.catalog_fingerprint(conn) == now:
        _live_reads.pop(key, None)
        _live_reads[key] = (now, live)
        while len(_live_reads) > _LIVE_READS_KEPT:
            del _live_reads[next(iter(_live_reads))]
    return live


def _with_owners(conn: psycopg.Connection, source: Source, live: Model, desired: Model
                 ) -> tuple[Model, Model, tuple[str, ...]]:
    """``live`` and ``desired`` with the owners the schema file declares (desired) and the
    owners those objects have in the target (live); notes on declared owners of objects
    the model does not hold. A declared role the target does not have is a SchemaError at
    its line: no plan could give an object to it."""
    declared = vet.declared_owners(source.statements)
    if not declared:
        return live, desired, ()
    session = dict(zip(vet.SESSION_ROLES, conn.execute(
        "SELECT current_user::text, current_role::text, session_user::text").fetchone() or (),
        strict=False))
    roles = {r for (r,) in conn.execute(
        "SELECT rolname::text FROM pg_catalog.pg_roles WHERE rolname = ANY (%s)",
        [[session.get(d.role, d.role) for d in declared]], prepare=False).fetchall()}
    owned: dict[tuple[str, ...], str] = {}
    notes = []
    for d in declared:
        role = session.get(d.role, d.role)
        if role not in roles:
            raise SchemaError(f"role {role} does not exist in the target database",
                              file=d.file, line=d.line, column=d.column, obj=d.label,
                              hint="roles belong to the server, not to a schema: create it "
                                   "there first, or remove this OWNER TO")
        key = vet.owner_key(d, desired)
        if key is None:
            notes.append(f"{d.file}:{d.line}: the owner of {d.label} is not managed "
                         "(trimtab does not model that object)")
            continue
        owned[key] = role  # the last declaration wins, as it would in the file
    desired = desired.with_(owners=tuple(Owner(k, r) for k, r in sorted(owned.items())))
    return live.with_(owners=live_owners(conn, owned)), desired, tuple(notes)


# -- scope: which schemas trimtab may change ------------------------------------------------


def scope(cfg: Config, *models: Model) -> tuple[str, ...] | None:
    """The managed schemas: ``schemas`` (or drizzle's schemaFilter) exactly as listed; else
    those the schema source declares or uses, read from its models (the shadow's, which
    hold only what the source made; the migrations' replay): every schema they create or
    put an object in, ``public`` only when something is in it (or nothing is anywhere,
    unqualified objects going there). Platform schemas (PLATFORM_SCHEMAS) are left out:
    only ``schemas`` can make them managed. None (every schema) only from ``schemas``-less
    callers that pass no model."""
    if cfg.managed_schemas is not None:
        return cfg.managed_schemas
    if not models:
        return None
    used: set[str] = set()
    for m in models:
        used.update(k[1] for k in m.schemas if k[1] != "public")
        used.update(o.schema for o in m.extensions.values())
        for bucket in (m.types, m.sequences, m.tables, m.views, m.functions, m.collations):
            used.update(k[1] for k in bucket)
    used = used or {"public"}
    return tuple(sorted(used - PLATFORM_SCHEMAS))


def within(model: Model, managed: tuple[str, ...] | None,
           extensions: Collection[str] = ()) -> Model:
    """``model`` without the objects of schemas outside ``managed`` (but with the
    ``extensions`` named, wherever they are installed)."""
    if managed is None:
        return model
    keep = set(managed)
    # Foreign keys from the schemas cut away onto those kept: what they need must stay.
    refs = tuple(
        OutsideKey(t.schema, t.name, c.name, c.ref_table, c.ref_columns)
        for t in model.tables.values() if t.schema not in keep
        for c in t.constraints
        if c.kind == "f" and not c.inherited and c.ref_table and c.ref_table[0] in keep)
    return model.with_(
        outside_keys=tuple(dict.fromkeys(model.outside_keys + refs)),
        schemas={k: v for k, v in model.schemas.items() if k[1] in keep},
        extensions={k: v for k, v in model.extensions.items()
                    if v.schema in keep or v.name in extensions},
        **{f: {k: v for k, v in getattr(model, f).items() if k[1] in keep}
           for f in ("types", "sequences", "tables", "views", "functions", "collations")})


def _scoped(cfg: Config, desired: Model, *others: Model
            ) -> tuple[tuple[str, ...] | None, Model, tuple[str, ...]]:
    """(managed schemas, ``desired`` within them, notes on the platform schemas the source
    declares objects in but that are not managed)."""
    managed = scope(cfg, desired, *others)
    if cfg.managed_schemas is not None:
        return managed, desired, ()
    skipped = sorted({k[1] for o in (desired, *others) for k in _keys(o)}
                     & PLATFORM_SCHEMAS)
    notes = tuple(
        f"schema {name} is a platform schema: trimtab leaves what the schema source "
        f"declares in it alone (list it in `schemas` to manage it)" for name in skipped)
    return managed, within(desired, managed), notes


def _keys(m: Model) -> list[tuple[str, ...]]:
    return [*m.schemas, *(("extension", e.schema) for e in m.extensions.values()),
            *m.types, *m.sequences, *m.tables, *m.views, *m.functions, *m.collations]


def _live(conn: psycopg.Connection, cfg: Config,
          managed: tuple[str, ...] | None, full: Model | None = None,
          declared: frozenset[tuple[str, ...]] = frozenset()) -> Model:
    """The managed objects of the database ``conn`` is on (None: of every schema but the
    system's and tools'); drizzle's history table is not one of them wherever the project
    keeps it. The schemas left alone are counted in ``unmanaged``: "schema auth (4
    tables)". ``full``: a read of every schema made just before, cut to ``managed`` when
    it holds nothing outside them instead of read again."""
    extensions = {k[1] for k in declared if k[0] == "extension"}
    if managed is None:
        model = introspect(conn, None)
    else:
        others = other_schemas(conn, managed)
        if full is not None and not others:
            model = within(full, managed, extensions)
        else:
            model = introspect(conn, managed, extension_names=extensions)
            model = replace(model, outside_keys=outside_keys(conn, managed))
        model = replace(model, unmanaged=model.unmanaged + tuple(
            f"schema {name} ({n} table{'s' if n != 1 else ''})" if n else
            f"schema {name} (no tables)" for name, n in others))
    return _filtered(tracking.without_history(model, history_table(cfg)), cfg, declared)


def _filtered(model: Model, cfg: Config,
              declared: frozenset[tuple[str, ...]] = frozenset()) -> Model:
    """``model`` without the tables and views drizzle.config.ts's tablesFilter leaves out
    (named once in ``unmanaged``), their owned sequences with them; their foreign keys
    onto the tables kept are kept as outside keys, so nothing they need is dropped. A
    table or view the schema ``declared`` is the schema's whatever the filter says:
    drizzle-kit creates it on the first push (it filters the database only) and then
    fails on every later one; trimtab manages it."""
    if not cfg.tables_filter:
        return model
    keep = tables_filter_match(cfg.tables_filter)
    out = {k for k in (*model.tables, *model.views) if not keep(k[2]) and k not in declared}
    if not out:
        return model
    refs = tuple(
        OutsideKey(t.schema, t.name, c.name, c.ref_table, c.ref_columns)
        for k, t in model.tables.items() if k in out
        for c in t.constraints
        if c.kind == "f" and not c.inherited and c.ref_table
        and ("table", *c.ref_table) not in out)
    return model.with_(
        tables={k: v for k, v in model.tables.items() if k not in out},
        views={k: v for k, v in model.views.items() if k not in out},
        sequences={k: v for k, v in model.sequences.items()
                   if not (v.owned_by and ("table", *v.owned_by[:2]) in out)},
        outside_keys=tuple(dict.fromkeys(model.outside_keys + refs)),
        unmanaged=(*model.unmanaged, "outside tablesFilter: " + ", ".join(
            f"{k[0]} {qname(k[1], k[2])}" for k in sorted(out))))


def declared_relations(source: Source) -> frozenset[tuple[str, ...]]:
    """The tables and views the schema source declares, and the extensions it creates
    (their model keys): read from the database wherever they are.

    For SQL, from the statements' heads alone: every table, view and extension key of
    ``source.spans`` is the ``object_key`` of the CREATE statement that names it (the
    readers take their keys from the head), and building the spans means building the
    schema's whole structural model (at 10,000 tables, most of a push after one change
    and some 190 MB)."""
    keys: Iterable[tuple[str, ...] | None] = (
        source.drizzle.spans if source.drizzle is not None
        else (st.object_key for st in source.statements))
    return frozenset(k for k in keys if k is not None and (
        (k[0] in ("table", "view") and len(k) == 3) or (k[0] == "extension" and len(k) == 2)))


def history_table(cfg: Config) -> tracking.DrizzleTable:
    """Where drizzle keeps this project's history."""
    schema, table = cfg.drizzle_history or (None, None)
    return tracking.DrizzleTable(schema or tracking.DRIZZLE_SCHEMA,
                                 table or tracking.DRIZZLE_TABLE)


def live_model(cfg: Config) -> tuple[Model, dict[tuple[str, str], tuple[int, int]]]:
    """The live database's model, and each table's (estimated rows, bytes)."""
    target = resolve_target(cfg)
    with shadow.connect(target.url) as conn:
        return _live(conn, cfg, cfg.managed_schemas), table_sizes(conn)


def live_model_since(cfg: Config, last: str | None
                     ) -> tuple[Model | None, dict[tuple[str, str], tuple[int, int]], str | None]:
    """``live_model(cfg)``, except that the model is None when the database's catalogs
    still have the fingerprint ``last`` (the model holds catalogs only, so it would be
    equal); with the fingerprint the model was read at (None when DDL ran during the
    read). The language server re-reads the database every 30 s: at 10,000 tables a read
    is seconds of work and a whole model made beside the one it has; the fingerprint is
    one query. The sizes are statistics, read every time."""
    target = resolve_target(cfg)
    with shadow.connect(target.url) as conn:
        now = fingerprint.catalog_fingerprint(conn)
        sizes = table_sizes(conn)
        if last is not None and now == last:
            return None, sizes, now
        model = _live(conn, cfg, cfg.managed_schemas)
        return model, sizes, now if fingerprint.catalog_fingerprint(conn) == now else None


def lint_migration(text: str, sizes: Sizes, *, path: str = "<migration>",
                   ) -> list[MigrationLint]:
    """Lock hazards in a migration's text, under Squawk's rule names (the peer linter): a
    blocking index build, a constraint without NOT VALID, SET NOT NULL with a scan, a volatile
    default that rewrites, a transactional file without lock_timeout. ``sizes``: (rows,
    bytes) per (schema, table) in the database, as ``live_model`` gives them."""
    return _lint_migration(text, sizes, path=path)


def migration_losses(cfg: Config, text: str, live: Model, *, path: str = "<migration>",
                     timeout: float = 1.0) -> list[losses.Loss]:
    """What a migration's text would lose of the configured database's data (the rows of
    each table it drops, the values of each column), counted read-only as push measures
    its plan; the migration itself is not run. ``live``: the database's model (only what
    it has is counted)."""
    found = losses.drops(text, live, path)
    if not found:
        return []
    out = []
    with shadow.connect(resolve_target(cfg).url) as conn:
        for span, schema, table, column, only in found:
            n, est = losses.count(conn, schema, table, column, only, int(timeout * 1000))
            out.append(losses.Loss(span, schema, table, column, n, est))
    return out


QUERY_KEYWORDS = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "VALUES",
                            "WITH", "TABLE"})
_FIRST_WORD = re.compile(r"[\s(]*([A-Za-z]+)")


def check_queries(cfg: Config, text: str, *, path: str = "<queries>",
                  overrides: Mapping[str, str] | None = None) -> list[SchemaError]:
    """Type-check a query file's statements (SELECT, INSERT, UPDATE, DELETE, MERGE...)
    against the schema: each is PREPAREd, never executed, in the sandboxed shadow built from
    the schema files (``overrides``: their text as the editor holds it), in a transaction
    rolled back. Nothing of the query file reaches the configured database. What
    PostgreSQL rejects comes back as SchemaErrors at the query's file and line; a schema
    that does not build raises its own SchemaError."""
    queries = [st for st in split_statements(text, path)
               if (m := _FIRST_WORD.match(st.text)) and m.group(1).upper() in QUERY_KEYWORDS]
    if not queries:
        return []
    source = read_source(cfg, overrides)
    statements: list[Statement] = vet.for_schema(source.statements)  # type: ignore[assignment]
    target = resolve_target(cfg)
    installed, stubs = _target_extensions(target), _target_stubs(cfg, source)
    admin = cfg.shadow_database_url or target.url
    for attempt in (1, 2):
        try:
            with _schema_in_scratch(cfg, admin, statements, installed, stubs) as (conn, _):
                return shadow.check_queries(conn, queries, cfg.shadow_timeout)
        except ShadowUnavailable:
            if attempt == 2 or cfg.shadow_database_url or target.embedded:
                raise
            admin = embedded.start(cfg.root)  # as the exact path does (_desired_model)
    return []


def check_function_bodies(cfg: Config, *, overrides: Mapping[str, str] | None = None
                          ) -> list[bodycheck.BodyProblem] | None:
    """The schema's PL/pgSQL functions checked by plpgsql_check, when the shadow's server
    has it (None when it has not): a scratch shadow is built from the schema files
    (``overrides``: their text as the editor holds it) with the extension created first
    by the admin, and each function's body is checked there, statically. Nothing reaches
    the configured database. A schema that does not build raises its SchemaError."""
    source = read_source(cfg, overrides)
    statements: list[Statement] = vet.for_schema(source.statements)  # type: ignore[assignment]
    if not bodycheck.plpgsql_functions(statements):
        return []
    target = resolve_target(cfg)
    admin = cfg.shadow_database_url or target.url
    with shadow.connect(admin) as conn:
        if not bodycheck.available(conn):
            return None
    installed, stubs = _target_extensions(target), _target_stubs(cfg, source)
    with _schema_in_scratch(cfg, admin, statements, installed, stubs,
                            (bodycheck.extension(),)) as (conn, ddl):
        schema = bodycheck.installed_in(conn)
        if schema is None:
            return None  # the admin may not create it (not a superuser)
        with shadow.watchdog(conn, shadow.watchdog_seconds(cfg.shadow_timeout, 1)):
            return bodycheck.check(conn, ddl, schema)


@contextlib.contextmanager
def _schema_in_scratch(cfg: Config, admin: str, statements: list[Statement],
                       installed: Sequence[shadow.Extension], stubs: Sequence[shadow.Stub],
                       more: Sequence[shadow.Extension] = ()
                       ) -> Iterator[tuple[psycopg.Connection, list[Statement]]]:
    """A scratch shadow on ``admin``'s server with the (vetted) schema applied, as the
    sandbox role, and the statements as applied; the extensions ``more`` created first by
    the admin too. A schema that does not build is a SchemaError."""
    extensions, ddl = shadow.schema_extensions(admin, statements, installed)
    with shadow.scratch_connection(admin, cfg.shadow_timeout, [*extensions, *more]) as conn:
        try:
            shadow.apply_script(conn, [*shadow.stub_statements(stubs), *ddl],
                                cfg.shadow_timeout)
        except psycopg.Error as e:
            raise SchemaError("the schema does not build in the shadow database: "
                              f"{e.diag.message_primary or e}",
                              hint="fix the schema file first") from None
        yield conn, ddl


def table_facts(cfg: Config, schema: str, table: str) -> tuple[int | None, bool]:
    """(rows, estimated) of one live table, for the editor's hover."""
    with shadow.connect(resolve_target(cfg).url) as conn:
        return row_count(conn, schema, table)


def snapshot_model(cfg: Config) -> Model | None:
    """The model the last migration's snapshot records, None without one."""
    last = read_folder(cfg.migrations_dir).last_snapshot()
    if last is None:
        return None
    return load_snapshot(read_source_file(last, strip_bom=False), str(last))[0]


def plan_changes(current: Model, desired: Model, source: Source, *,
                 decide: RenameQuestion | None = None, force: bool = False,
                 ask: bool = True) -> tuple[Plan, tuple[str, ...], tuple[Rename, ...]]:
    """The classified plan from ``current`` to ``desired``, with the renames the schema
    file's hints ask for, plus those ``decide`` confirms among the remaining candidates.

    Candidates nobody decided stop the plan with RenameRequired (it names the line to add)
    unless ``force`` (they become drop + create, and a note says so) or not ``ask`` (a
    dry run: they come back as the third value). Returns (plan, notes, undecided)."""
    current, unmanaged = _managed_extensions(current, source.statements)
    current = _without_existing(current, source)
    renames = resolve_hints([(h.target, h.old) for h in source.hints], current, desired)
    notes: list[str] = list(source.warnings) + unmanaged
    declined: list[Rename] = []  # drop + create, by choice, --force, or a dry run
    # Accepting a table rename can reveal column renames inside it: ask until settled.
    while pending := [c for c in candidates(current, desired, renames) if c not in declined]:
        if decide is not None:
            accepted = decide(pending)
            renames += accepted
            notes += [f"{candidate_text(c)}: dropped and created, as you chose"
                      for c in pending if c not in accepted]
        elif force:
            notes += [f"{candidate_text(c)}: dropped and created (--force; add "
                      f"`{hint_comment(c, source.drizzle is not None)}` to rename "
                      "instead)" for c in pending]
        elif ask:
            raise RenameRequired(_rename_question(pending, source),
                                 candidates=[candidate_json(c, source) for c in pending],
                                 hint="Or pass --force to drop and create them.")
        declined += [c for c in pending if c not in renames]
    plan = plan_models(current, desired, renames,
                       using={h.target: h.expr for h in source.using})
    undecided = () if decide is not None or force else tuple(declined)
    return plan, tuple(notes), undecided


def hint_comment(r: Rename, ts: bool = False) -> str:
    """The hint that records ``r``: a SQL comment, or a TypeScript one (``ts``)."""
    from trimtab.model import quote_ident, quote_literal

    old = quote_literal(r.old) if r.kind == "enum_value" else quote_ident(r.old)
    return f"{'//' if ts else '--'} trimtab: renamed from {old}"


def candidate_text(r: Rename) -> str:
    """"column public.users.full_name -> name"."""
    parent = f"{r.parent}." if r.parent else ""
    noun = "enum value" if r.kind == "enum_value" else r.kind
    return f"{noun} {r.schema}.{parent}{r.old} -> {r.new}"


def _where(r: Rename, source: Source) -> str | None:
    """file:line of the new object's declaration (its type's, for an enum value)."""
    key = r.target if r.kind != "enum_value" else ("type", r.schema, r.parent or "")
    span = source.spans.get(key)
    return f"{span.file}:{span.line}" if span else None


def candidate_json(r: Rename, source: Source | None = None) -> dict[str, object]:
    return {"kind": r.kind, "schema": r.schema, "parent": r.parent, "old": r.old,
            "new": r.new,
            "hint": hint_comment(r, bool(source and source.drizzle is not None)),
            "where": _where(r, source) if source else None}


def _rename_question(pending: list[Rename], source: Source) -> str:
    many = len(pending) != 1
    lines = [f"nothing was applied: {len(pending)} possible rename{'s' if many else ''} "
             f"need{'' if many else 's'} a decision"]
    for r in pending:
        where = _where(r, source)
        lines.append(f"  - {candidate_text(r)}: renamed, or dropped and created?")
        lines.append(f"      to rename, add `{hint_comment(r, source.drizzle is not None)}` "
                     f"{'above ' + where if where else 'next to the new ' + r.kind}")
    return "\n".join(lines) + "\n"


def write_hints(cfg: Config, renames: list[Rename]) -> list[Path]:
    """Record rename decisions in the schema file(s), next to each new object."""
    written: list[Path] = []
    for r in renames:
        if cfg.drizzle:
            from trimtab.sources.drizzle.hints import ts_hint_edit

            span = read_source(cfg).spans.get(r.target)
            if span is None or r.kind == "enum_value":
                continue  # an enum value has no line of its own in a pgEnum call
            path = Path(span.file)
            write_file(path, ts_hint_edit(path.read_text(encoding="utf-8"), span, r.old)
                       .encode("utf-8"))
            written.append(path)
            continue
        statements = read_desired_statements(cfg)
        key = r.target if r.kind != "enum_value" else ("type", r.schema, r.parent or "")
        span = object_spans(statements).get(key)
        if span is None:
            continue
        path = Path(span.file)
        text = path.read_text(encoding="utf-8")
        mine = split_statements(text, span.file)
        # Atomic: a full disk must not leave half a schema file.
        write_file(path, hint_edit(text, span.file, mine, r.target, r.old).encode("utf-8"))
        written.append(path)
    return list(dict.fromkeys(written))


def refuse_outside_dependents(plan: Plan, current: Model) -> None:
    """A plan that drops a table, key or column that a foreign key in an unmanaged schema
    needs would fail in PostgreSQL, and trimtab must not drop that key itself: refused
    before anything is sent, naming each key and the two ways on."""
    blocked: list[tuple[OutsideKey, Change]] = []
    for ref in current.outside_keys:
        cols = set(ref.ref_columns)
        for step in plan.steps:
            ch = step.change
            if ch.target[1:3] != ref.ref_table or not (
                    isinstance(ch, DropTable)
                    or (isinstance(ch, DropConstraint) and ch.before.kind in ("p", "u")
                        and set(ch.before.columns) == cols)
                    or (isinstance(ch, DropIndex) and ch.before.unique
                        and set(ch.before.columns) == cols)
                    or (isinstance(ch, DropColumn) and ch.target[3] in cols)):
                continue
            blocked.append((ref, ch))
            break
    if not blocked:
        return
    lines = ["refused, nothing was run: the plan drops what foreign keys in schemas trimtab does "
             "not manage depend on"]
    lines += [f"  - {ch.describe()}: foreign key {ref.name} on {qname(ref.schema, ref.table)} "
              f"references {qname(*ref.ref_table)}" for ref, ch in blocked]
    outside = sorted({ref.schema for ref, _ in blocked})
    raise UnmanagedDependency(
        "\n".join(lines) + "\n",
        dependents=[{"constraint": ref.name, "table": f"{ref.schema}.{ref.table}",
                     "references": ".".join(ref.ref_table), "change": ch.describe()}
                    for ref, ch in blocked],
        hint=f"List {', '.join(outside)} in `schemas = [...]` (with the schemas trimtab "
             "manages now) to have the plan drop those keys too, or drop them yourself "
             "first.")


def fix_text(h: Hazard, ts: bool) -> str:
    """A hazard's fix as the schema file takes it: the plan writes its advice for a .sql
    schema, a Drizzle one takes `// trimtab: ...` hints."""
    if not ts or not h.fix:
        return h.fix or ""
    from trimtab.sources.drizzle.hints import ts_comment_text

    return ts_comment_text(h.fix)


def _refuse_failing(plan: Plan, where: str, ts: bool = False) -> None:
    """Changes certain to fail on the rows the database holds are refused, with the count
    and the fix (for a .ts schema when ``ts``): --force cannot make them work."""
    failing = plan.blocking
    if not failing:
        return
    lines = [f"nothing was applied: {len(failing)} change{'s' if len(failing) != 1 else ''} "
             f"would fail on the rows in {where}"]
    for _, h in failing:
        lines.append(f"  - {h.text}")
        if h.fix:
            lines.append(f"      fix: {fix_text(h, ts)}")
    raise WouldFail("\n".join(lines) + "\n", hazards=[h.to_json() for _, h in failing],
                    hint="--force does not apply here: the database would reject these "
                         "statements. Fix the data (or the schema file) first.")


def desired_model(cfg: Config, target: Target, statements: list[Statement],
                  source: Source | None = None) -> Model:
    """The schema file's canonical model (see ``desired_and_notes``)."""
    return desired_and_notes(cfg, target, statements, source)[0]


def desired_and_notes(cfg: Config, target: Target, statements: list[Statement],
                      source: Source | None = None, *,
                      installed: Sequence[shadow.Extension] = (),
                      stubs: Sequence[shadow.Stub] = ()
                      ) -> tuple[Model, tuple[str, ...]]:
    """The schema file's canonical model, from a sandboxed shadow database on the target's
    server (same version, same rendering), else on the configured or embedded shadow
    server; and notes on where it was built when that is not the target's server.
    Statements with no place in a schema definition are refused first (sources/vet.py).
    PostgreSQL's objection to a Drizzle schema's DDL is placed in the .ts file.
    ``installed``: the target's extensions, created in the shadow first (see
    _managed_extensions for what of them the model keeps). ``stubs``: what the schema
    refers to outside the managed schemas (see _stubs)."""
    try:
        model, notes = _desired_model(cfg, target, vet.for_schema(statements),  # type: ignore[arg-type]
                                      installed, stubs)
        return _managed_extensions(model, statements, desired=True)[0], notes
    except SchemaError as e:
        origin = source.origin(e.file, e.line) if source is not None else None
        if origin is None:
            raise
        raise SchemaError(e.message, file=origin.file, line=origin.line,
                          column=origin.column, obj=e.obj, hint=e.hint) from None


def _desired_model(cfg: Config, target: Target, statements: list[Statement],
                   installed: Sequence[shadow.Extension] = (),
                   stubs: Sequence[shadow.Stub] = ()) -> tuple[Model, tuple[str, ...]]:
    if cfg.shadow_database_url:
        return _shadow_model(cfg, statements, cfg.shadow_database_url, cfg.shadow_cache,
                             installed, stubs), ()
    if not target.embedded and behind_pooler(target.url):
        # The shadow needs a session: startup options, session settings, a server-wide
        # build lock that a pooler could take on one server connection and leave on it.
        why = ("the target is reached through a connection pooler, which cannot carry the "
               "shadow's session; set DIRECT_DATABASE_URL to the server's own address (or "
               "shadow_database_url)")
    else:
        try:
            return _shadow_model(cfg, statements, target.url, cfg.shadow_cache, installed,
                                 stubs), ()
        except ShadowUnavailable as e:
            if target.embedded:
                raise
            why = e.message
    # No CREATEDB or no sandbox role on the target's server: the embedded server hosts the
    # shadow instead.
    model = _shadow_model(cfg, statements, embedded.start(cfg.root), cfg.shadow_cache,
                          installed, stubs)
    return model, (f"the shadow database was built on the embedded server, not the "
                   f"target's: {why}",)


_POOLED: dict[str, bool] = {}  # url -> behind a pooler: asked once per process


def behind_pooler(url: str) -> bool:
    """Whether ``url`` reaches PostgreSQL through a connection pooler (runner.pooled)."""
    if url not in _POOLED:
        with shadow.connect(url) as conn:
            _POOLED[url] = runner.pooled(conn)
    return _POOLED[url]


def _shadow_model(cfg: Config, statements: list[Statement], admin_url: str,
                  cache: bool | None, installed: Sequence[shadow.Extension] = (),
                  stubs: Sequence[shadow.Stub] = ()) -> Model:
    def full() -> Model:
        return shadow.desired_model(statements, admin_url, cfg.managed_schemas,
                                    cfg.shadow_timeout, installed, stubs)

    if cache is False:
        return full()
    return shadowcache.desired_model(statements, admin_url, cfg.managed_schemas,
                                     _cache_key(cfg, "schema"), full, cfg.shadow_timeout,
                                     installed, stubs)


def _stubs(conn: psycopg.Connection | None, cfg: Config, source: Source,
           folder: Folder | None = None) -> list[shadow.Stub]:
    """What the source (and the migrations, for their replay) refers to in schemas it
    does not manage, as ``conn``'s database has it (shadow.read_stubs); a missing table
    is said at the source's line (a Drizzle schema's .ts file)."""
    migrations = folder.migrations if folder else []

    def more() -> Iterator[Statement]:
        # Made one at a time for each pass of the scan, not listed: 53,000 statements
        # in a 10,000-table first migration.
        return (st for m in migrations for ms in m.statements
                for st in sql_statements(ms.text, str(m.path)))

    try:
        if cfg.shadow_cache is False:
            scanned = shadow.scan(source.statements, cfg.managed_schemas, more)
        else:
            scanned = shadowcache.scan(source.statements, cfg.managed_schemas,
                                       _cache_key(cfg, "scan"),
                                       [ms.text for m in migrations for ms in m.statements],
                                       more)
        return shadow.read_stubs(conn, source.statements, cfg.managed_schemas,
                                 scanned=scanned)
    except SchemaError as e:
        origin = source.origin(e.file, e.line)
        if origin is None:
            raise
        raise SchemaError(e.message, file=origin.file, line=origin.line,
                          column=origin.column, obj=e.obj, hint=e.hint) from None


def _target_stubs(cfg: Config, source: Source, folder: Folder | None = None
                  ) -> list[shadow.Stub]:
    """``_stubs`` read from the configured database; with none reachable, a reference
    outside the managed schemas is an error that says so."""
    try:
        with shadow.connect(resolve_target(cfg).url) as conn:
            return _stubs(conn, cfg, source, folder)
    except (ConfigError, DatabaseError):
        return _stubs(None, cfg, source, folder)


# -- extensions -------------------------------------------------------------------------------
# The target's extensions are created in the shadow before the schema runs, so a schema may
# use their types, functions and operator classes without CREATE EXTENSION (as Drizzle
# projects do). Only those the schema declares are managed: one it does not declare is
# never created by a plan, never dropped, and said once as not managed.


def _target_extensions(target: Target) -> list[shadow.Extension]:
    """The target's installed extensions; none when it cannot be reached (a command that
    needs the target says so itself)."""
    try:
        with shadow.connect(target.url) as conn:
            return shadow.installed_extensions(conn)
    except (DatabaseError, psycopg.Error):
        return []


def _configured_extensions(cfg: Config) -> list[shadow.Extension]:
    """The configured database's extensions, for commands that build on a scratch
    server; none when there is no database to read."""
    try:
        return _target_extensions(resolve_target(cfg))
    except (ConfigError, DatabaseError):
        return []


def _without_existing(model: Model, source: Source) -> Model:
    """``model`` without the views a Drizzle schema marks ``.existing()``: like drizzle-kit,
    trimtab neither creates nor drops them (nor anything else about them)."""
    existing = {("view", *v) for v in source.drizzle.existing_views} if source.drizzle else set()
    if not existing & model.views.keys():
        return model
    return replace(model, views={k: v for k, v in model.views.items() if k not in existing})


def _managed_extensions(model: Model, statements: Sequence[Statement], *,
                        desired: bool = False) -> tuple[Model, list[str]]:
    """``model`` with only the extensions ``statements`` create, and notes on the others.
    The schemas that only hold those others (and that the statements do not create) go
    with them. ``desired``: the model is the schema's own, so an extension keeps a version
    only where the statements write one (the shadow's may not exist where the SQL runs)."""
    declared = shadow.declared_extensions(statements)
    schemas = shadow.declared_schemas(statements)
    kept = {k: (replace(e, version=declared[e.name]) if desired else e)
            for k, e in model.extensions.items() if e.name in declared}
    gone = [e for e in model.extensions.values() if e.name not in declared]
    if not gone and kept == model.extensions:
        return model, []
    used = {o.key[1] for o in model.objects() if o.key[0] not in ("schema", "extension")
            and len(o.key) > 2}
    used |= {e.schema for e in kept.values()} | schemas | {"public"}
    drop = {("schema", e.schema) for e in gone if e.schema not in used}
    notes = [f"not managed: extension {e.name} (the schema does not create it; it is "
             "neither created nor dropped)" for e in gone] if not desired else []
    return replace(model, extensions=kept,
                   schemas={k: v for k, v in model.schemas.items() if k not in drop}), notes


def _cache_key(cfg: Config, what: str) -> str:
    """One cached database per project and purpose on a server."""
    return f"{cfg.root.resolve()}\0{what}\0{cfg.managed_schemas}"


def drop_caches(cfg: Config) -> list[str]:
    """Drop this project's cached shadow databases (``trimtab db clean``)."""
    keys = [("shadow", _cache_key(cfg, "schema")), ("replay", _cache_key(cfg, "replay")),
            ("replay", _cache_key(cfg, "replay") + "\0applied")]
    servers = [cfg.shadow_database_url] if cfg.shadow_database_url else []
    servers.append(resolve_target(cfg).url)
    dropped: list[str] = []
    for url in dict.fromkeys(servers):
        dropped += shadowcache.drop(url, keys)
    return dropped


def _replay_cache(cfg: Config, what: str) -> str | None:
    return None if cfg.shadow_cache is False else _cache_key(cfg, what)


PendingConsent = Callable[[tuple[str, ...]], bool]
# Asked with the changes that rewrite a table under ACCESS EXCLUSIVE (no online form).
RewriteConsent = Callable[[tuple[Rewrite, ...]], bool]


def _refuse_rewrites(flagged: Sequence[Rewrite], consent: RewriteConsent | None,
                     force: bool, done: str) -> None:
    """A change that rewrites an existing table holds it alone while it runs: it needs
    ``force`` or a ``consent`` that says yes (ConsentRequired, with the recipe that makes
    the change without the long lock)."""
    if not flagged or force or (consent and consent(tuple(flagged))):
        return
    lines = [f"{done}: {'these changes rewrite' if len(flagged) > 1 else 'this change rewrites'}"
             " a table under ACCESS EXCLUSIVE (no reads or writes until it ends)"]
    for r in flagged:
        lines.append(f"  - {r.table}: {r.message}; instead, in steps:")
        lines += [f"      {line}" for line in r.recipe]
    raise ConsentRequired("\n".join(lines) + "\n",
                          hint="Re-run with --force to make it as it is, or make the change "
                               "in the steps above.")


def push(cfg: Config, *, dry_run: bool = False, consent: Consent | None = None,
         force: bool = False, renames: RenameQuestion | None = None,
         measure_timeout: float = 2.0, lock_timeout: float = 5.0,
         overtake: PendingConsent | None = None,
         rewrite: RewriteConsent | None = None) -> PushResult:
    """Make the target database match the schema file, in one transaction.

    The plan is computed, and its hazards measured, inside the same transaction that
    applies it, so what the caller agreed to is exactly what runs. Possible renames are
    settled by the schema file's hints, then ``renames``, then ``force`` (drop + create).
    Changes that would fail on existing rows are refused (WouldFail), even with ``force``.
    A plan that loses data needs ``force`` or a ``consent`` that says yes; otherwise
    ConsentRequired and nothing applied. Other sessions keep writing while the consent is
    asked: before applying, the tables the data-loss changes count are locked (waiting at
    most ``lock_timeout`` seconds: DatabaseError) and counted again, and a count that grew
    past the one agreed to is refused (ConsentOutdated, nothing applied). ``force`` agrees
    to any loss, so it locks without counting again.
    A plan that applies changes pending migrations also make would leave those migrations
    failing halfway on this database: it needs ``force`` or an ``overtake`` callback (told
    the migrations' names) that says yes; otherwise ConsentRequired, nothing applied.
    On a table of ``online_rows`` rows or more, the changes that have an online-safe form
    take it, in phases (``PushResult.online``), and one that rewrites the table needs
    ``force`` or a ``rewrite`` callback that says yes.
    """
    target = resolve_target(cfg)
    noop = fingerprint.inputs(cfg, target.url, schema_files(cfg))
    with shadow.connect(target.url, autocommit=False) as conn:
        # Before anything is read: a change made meanwhile is one the record misses.
        if noop is not None and (noop := noop.check(conn)).said is not None:
            conn.rollback()
            return PushResult(Plan(unmanaged=tuple(noop.said["unmanaged"])), target, False,
                              notes=tuple(noop.said["notes"]), unchanged=True)
        source = read_source(cfg)
        declared = declared_relations(source)
        # None: all, to see it is empty
        current = _live(conn, cfg, cfg.managed_schemas, declared=declared)
        # Before the schema file reaches this server (in place or as its shadow).
        _refuse_written(source, major(current.server_version), target.label,
                        "nothing was sent")
        started = time.perf_counter()
        if not dry_run and (created := _create_in_place(conn, cfg, current, source)):
            conn.commit()  # an empty database: nothing to measure, ask or refuse
            created = mark_versions(created, cfg.postgres or major(current.server_version))[0]
            return PushResult(created, target, True, time.perf_counter() - started,
                              source.warnings)
        desired, where = desired_and_notes(cfg, target, source.statements, source,
                                           installed=shadow.installed_extensions(conn),
                                           stubs=_stubs(conn, cfg, source))
        managed, desired, outside = _scoped(cfg, desired)
        if cfg.managed_schemas is None:
            current = _live(conn, cfg, managed, full=current, declared=declared)
        current, desired, owned = _with_owners(conn, source, current, desired)
        # Planned for where it runs: the `postgres` setting, else this server.
        runs_on = cfg.postgres or major(current.server_version)
        plan, notes, undecided = plan_changes(*_at_version(runs_on, current, desired), source,
                                              decide=renames, force=force, ask=not dry_run)
        refuse_outside_dependents(plan, current)
        plan, lacking = mark_versions(plan, runs_on)
        plan = measure(conn, plan, timeout=measure_timeout, user_sql=not dry_run)
        if _declares_nothing(desired):
            plan = declares_nothing(plan, _source_name(cfg))
        notes += where + outside + owned + _version_notes(current, desired)
        overtaken = _overtaken(cfg, conn, target, plan) if plan else ()
        if overtaken and dry_run:
            notes += (overtake_text(overtaken),)
        big = _big_tables(conn, cfg, plan) if plan else {}
        online, said = _online_phases(cfg, plan, runs_on, big)
        notes += said
        flagged = [r for r in rewrites(plan) if r.key in big]
        if flagged and dry_run:
            notes += tuple(f"{r.table} ({big[r.key]}): {r.message}, "
                           "under ACCESS EXCLUSIVE; push asks before it" for r in flagged)
        settings = _local_settings(cfg) if online else ()
        if not plan or dry_run:
            conn.rollback()
            if noop is not None and not plan and not undecided and not where:
                noop.remember(notes=list(notes), unmanaged=list(plan.unmanaged))
            return PushResult(plan, target, False, notes=notes, candidates=undecided,
                              online=online, online_settings=settings)
        _refuse_failing(plan, "the database", cfg.drizzle)
        _refuse_lacking(lacking, major(current.server_version), source, "the database",
                        "nothing was applied", "--force does not apply here: the server would "
                        "reject these statements. Change the schema file.")
        if plan.data_loss and not force and not (consent and consent(plan)):
            conn.rollback()
            raise ConsentRequired(
                "nothing was applied: the plan loses data\n" + "".join(
                    f"  - {h.text}\n" for s in plan.data_loss for h in s.hazards
                    if h.needs_consent),
                hint="Re-run with --force to apply it, or change the schema file.",
            )
        try:
            _refuse_rewrites(flagged, rewrite, force, "nothing was applied")
        except ConsentRequired:
            conn.rollback()
            raise
        if overtaken and not force and not (overtake and overtake(overtaken)):
            conn.rollback()
            raise ConsentRequired("nothing was applied: " + overtake_text(overtaken),
                                  hint=OVERTAKE_ADVICE)
        if overtaken:
            notes += (f"{_made_text(overtaken)}: {MARK_ADVICE} as applied",)
        started = time.perf_counter()

        def hold(applied: str) -> Plan:
            return _hold(conn, plan, recount=not force, timeout=measure_timeout,
                         lock_timeout=lock_timeout, applied=applied)
        if online:
            plan, applied_notes = _apply_online(conn, plan, online, settings, hold, cfg)
        else:
            plan, applied_notes = _apply(conn, plan, hold)
        notes += applied_notes
    return PushResult(plan, target, True, time.perf_counter() - started, notes,
                      online=online, online_settings=settings)


def _big_tables(conn: psycopg.Connection, cfg: Config, plan: Plan,
                ) -> dict[tuple[str, ...], str]:
    """The tables of ``online_rows`` rows or more among those whose changes have an
    online-safe form or rewrite the table (the others are not worth a count), each with
    its size said."""
    if not cfg.online:
        return {}
    flagged = {id(r.step) for r in rewrites(plan)}
    tables = list({s.change.parent.key: s.change.parent for s in plan.steps
                   if isinstance(s.change.parent, Table) and (id(s) in flagged or isinstance(
                       s.change, (DropIndex, CreateIndex, AddConstraint, AlterColumn)))
                   }.values())
    return big_tables(conn, tables, cfg.online_rows, plan=plan) if tables else {}


def _online_phases(cfg: Config, plan: Plan, runs_on: int, big: Mapping[tuple[str, ...], str],
                   ) -> tuple[tuple[Phase, ...], tuple[str, ...]]:
    """The phases push runs ``plan`` in when a table it changes holds ``online_rows`` rows
    or more (the forms generate writes, for those tables only), and the note that says so;
    () when every change runs as one transaction."""
    if not big:
        return (), ()
    version = runs_on * 10000
    split = tuple(phases(plan, version, lambda t: t.key in big))
    if len(split) == 1 and split[0].name == "expand":
        return (), ()
    sizes = ", ".join(f"{'.'.join(k[1:])} ({said})" for k, said in big.items())
    return split, (f"online-safe forms for {sizes}, at or above online_rows = "
                   f"{cfg.online_rows:,}: run in {len(split)} phases ("
                   f"{', '.join(p.name for p in split)}), each taking its locks briefly",)


def _local_settings(cfg: Config) -> tuple[str, ...]:
    """What each transactional phase of an online push sets first: the transaction's own
    (SET LOCAL), so that a pooled server connection keeps nothing after it."""
    return tuple(sql.replace("SET ", "SET LOCAL ", 1)
                 for sql in settings_sql(cfg.lock_timeout, cfg.statement_timeout))


def _apply_online(conn: psycopg.Connection, plan: Plan, online: tuple[Phase, ...],
                  settings: tuple[str, ...], hold: Callable[[str], Plan], cfg: Config,
                  ) -> tuple[Plan, tuple[str, ...]]:
    """Run the phases one after the other, each in a transaction of its own (or none, for
    concurrent index builds); a phase that gives up on a lock is rolled back and retried
    ``lock_retries`` times with backoff. A failure names the phases already applied."""
    # The planning transaction's snapshot would make a concurrent build wait for this
    # very connection: end it first.
    conn.rollback()
    done: list[str] = []
    notes: list[str] = []
    held = plan  # measured again by the expand phase's hold, if it loses data
    for k, phase in enumerate(online, 1):
        applied = ("nothing was applied" if not done
                   else f"push stopped in phase {k} of {len(online)} ({phase.name}); "
                        f"applied: {', '.join(done)}")
        attempt = 0
        while True:
            try:
                if not phase.transactional:
                    _run_concurrently(conn, phase.steps, applied)
                elif phase.name == "expand":
                    held, said = _apply(conn, Plan(steps=phase.steps), hold,
                                        settings=settings, applied=applied)
                    notes += said
                else:
                    _apply(conn, Plan(steps=phase.steps), lambda _: Plan(),
                           settings=settings, applied=applied)
                break
            except psycopg.errors.LockNotAvailable as e:
                conn.rollback()
                attempt += 1
                tables = sorted({s.change.parent.sql_name for s in phase.steps
                                 if isinstance(s.change.parent, Table)})
                if attempt > cfg.lock_retries:
                    raise DatabaseError(
                        f"{applied}: the {phase.name} phase could not lock "
                        f"{', '.join(tables)} within lock_timeout = {cfg.lock_timeout} "
                        f"({e.diag.message_primary or e}), retried {cfg.lock_retries} "
                        f"time{'s' if cfg.lock_retries != 1 else ''}: another session "
                        "keeps using it",
                        hint="Run push again once that session is done (pg_stat_activity "
                             "shows it), or raise lock_timeout / lock_retries in the config."
                    ) from None
                notes.append(f"the {phase.name} phase gave up waiting for a lock on "
                             f"{', '.join(tables)} and was retried")
                time.sleep(runner.RETRY_DELAY * 2 ** (attempt - 1))
        done.append(phase.name)
    steps = tuple(s for p in online for s in p.steps)
    return replace(held, steps=steps), tuple(notes)


def _run_concurrently(conn: psycopg.Connection, steps: tuple[Step, ...], applied: str,
                      ) -> None:
    """Concurrent index builds and drops: each its own statement, outside a transaction.
    A build that fails leaves an invalid index, which the next push drops and builds again."""
    conn.autocommit = True
    try:
        for group, sql in batches(steps):
            try:
                conn.execute(sql.encode(), prepare=False)
            except psycopg.errors.LockNotAvailable:
                raise
            except psycopg.Error as e:
                diag = e.diag
                detail = f" ({diag.message_detail})" if diag.message_detail else ""
                what = "; ".join(s.change.describe() for s in group)
                left = ("; the index " + ", ".join(s.change.target[-1] for s in group) +
                        " was left invalid: the next push drops and builds it again"
                        if any(isinstance(s.change, CreateIndexConcurrently) for s in group)
                        else "")
                raise PlanError(f"{applied}; {what} failed: {diag.message_primary or e}"
                                f"{detail}{left}\n  statement: {sql}",
                                obj=".".join(group[0].change.target[1:]),
                                hint=diag.message_hint) from None
    finally:
        conn.autocommit = False


OVERTAKE_ADVICE = ("Run `trimtab migrate` first, or push with --force and run "
                   "`trimtab migrate --mark-applied` after.")


def overtake_text(names: Sequence[str]) -> str:
    return (f"this push makes changes that the pending migration{'s' if len(names) > 1 else ''}"
            f" {', '.join(names)} also make{'s' if len(names) == 1 else ''}; after it "
            f"{'they' if len(names) > 1 else 'it'} would fail on this database")


def _overtaken(cfg: Config, conn: psycopg.Connection, target: Target, plan: Plan
               ) -> tuple[str, ...]:
    """The pending migrations that make a change ``plan`` makes too (same object), found
    by replaying the folder; none without a folder or pending migration."""
    if not cfg.migrations_dir.is_dir():
        return ()
    folder = read_folder(cfg.migrations_dir)
    if not folder.migrations:
        return ()
    pending, _ = runner.pending(conn, folder, drizzle_table=history_table(cfg))
    if not pending:
        return ()
    names = [m.name for m in pending]
    applied = [m.name for m in folder.migrations if m.name not in names]
    scratch = cfg.shadow_database_url or target.url
    installed = shadow.installed_extensions(conn)
    pushed = {s.change.target for s in plan.steps}
    out: list[str] = []
    try:
        before = replay(folder, scratch, cfg.managed_schemas, only=applied,
                        timeout=cfg.shadow_timeout, installed=installed)
        for k in range(1, len(names) + 1):
            after = replay(folder, scratch, cfg.managed_schemas, only=applied + names[:k],
                           timeout=cfg.shadow_timeout, installed=installed)
            if pushed & {s.change.target for s in build_plan(before, after).steps}:
                out.append(names[k - 1])
            before = after
    except TrimtabError:
        return ()  # a folder that does not replay: migrate and status say why
    return tuple(out)


def _hold(conn: psycopg.Connection, plan: Plan, *, recount: bool, timeout: float,
          lock_timeout: float, applied: str) -> Plan:
    """Lock the tables whose rows the plan's data-loss hazards counted, so that nobody
    adds rows between the count and the change, then (``recount``) count again: the
    consent covers the counts shown, not what arrived while the question was read. The
    plan with the counts that hold now; ConsentOutdated (rolled back) when one grew.
    A plan that loses nothing costs no round trip here."""
    losses = [h for h in plan.hazards if h.category == Category.DATA_LOSS]
    if not losses:
        return plan
    tables = loss_tables(conn, plan)
    if tables:
        _lock(conn, tables, lock_timeout, applied)
    if not recount or all(h.count is None for h in losses):  # nothing counted to compare
        return plan
    now = recount_losses(conn, plan, timeout=timeout)
    grown = _outgrown(plan, now)
    if not grown:
        return now
    conn.rollback()
    lines = [f"{applied}: other sessions wrote after the plan was measured, and "
             f"{len(grown)} change{'s' if len(grown) != 1 else ''} would now lose more "
             "than was shown and agreed to"]
    lines += [f"  - {before.text} when measured, {_counted(after)} now"
              for _, before, after in grown]
    raise ConsentOutdated(
        "\n".join(lines) + "\n",
        changed=[{"change": step.change.describe(), "code": before.code,
                  "consented": before.count, "now": after.count}
                 for step, before, after in grown],
        hint="Run push again to see the plan with the counts as they are now.")


def _lock(conn: psycopg.Connection, tables: list[str], timeout: float, applied: str) -> None:
    """ACCESS EXCLUSIVE, which each data-loss change takes anyway: taking it up front (not
    a weaker lock upgraded later, which can deadlock with a reader) costs nothing more.
    A table another session keeps busy is a clear error after ``timeout`` seconds, not a
    wait that queues every later query on the table behind this one."""
    try:
        conn.execute(  # one round trip; DEFAULT restores the session's own setting
            f"SET LOCAL lock_timeout = {max(1, round(timeout * 1000))}; "
            f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE; "
            "SET LOCAL lock_timeout = DEFAULT")
    except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected):
        conn.rollback()
        shown = ", ".join(tables[:5]) + (f" and {len(tables) - 5} more" if len(tables) > 5
                                         else "")
        raise DatabaseError(
            f"{applied}: could not lock {shown} within {timeout:g} s: another session is "
            "using the table, and the changes that lose data must hold it alone",
            hint="Run push again once that session is done (pg_stat_activity shows it).",
        ) from None
    except psycopg.Error as e:  # dropped meanwhile, no privilege to lock it, ...
        conn.rollback()
        raise DatabaseError(f"{applied}: could not lock {', '.join(tables)}: "
                            f"{e.diag.message_primary or e}") from None


def _outgrown(before: Plan, now: Plan) -> list[tuple[Step, Hazard, Hazard]]:
    """The data-loss hazards whose count grew past the one shown. A count that was
    unknown (consent to any amount) cannot grow; one that cannot be counted again can."""
    grown = []
    for step, again in zip(before.steps, now.steps, strict=True):
        for h, h2 in zip(step.hazards, again.hazards, strict=True):
            if h.category != Category.DATA_LOSS or h.count is None:
                continue
            if h2.count is None or h2.count > h.count:
                grown.append((step, h, h2))
    return grown


def _counted(h: Hazard) -> str:
    if h.count is None:
        return "not countable"
    return f"{'~' if h.estimate else ''}{'at least ' if h.at_least else ''}{h.count:,}"
def _declares_nothing(desired: Model) -> bool:
    """The desired schema has no object of its own (the public schema is always there)."""
    return all(o.key == ("schema", "public") for o in desired.objects())


def _source_name(cfg: Config) -> str:
    """The schema file or folder, as the user named it (relative to the project)."""
    files = schema_files(cfg)
    if len(files) == 1:
        path, kind = Path(files[0]), "file"
    elif cfg.schema_path.is_dir():
        path, kind = cfg.schema_path, "folder"
    else:
        return "the schema files"
    try:
        shown = str(path.resolve().relative_to(cfg.root.resolve()))
    except ValueError:
        shown = str(path)
    return f"the schema {kind} {shown}"


def _create_in_place(conn: psycopg.Connection, cfg: Config, current: Model,
                     source: Source) -> Plan | None:
    """Into a database without a single object (empty schemas aside), the plan creates the
    whole schema: run the schema file itself there (what psql -1 -f would do) and read back
    what it made, instead of building a shadow first and then creating it all again (from
    nothing, every change is a creation: nothing to measure, ask about or refuse). None
    (and nothing done) when the database is not empty, the schema reaches beyond the managed
    schemas, or a statement cannot run this way (CREATE INDEX CONCURRENTLY): the shadow path
    then says why."""
    if current.unmanaged or cfg.managed_schemas is not None or not source.statements or \
            any(o.key[0] != "schema" for o in current.objects()):
        return None
    statements = vet.for_schema(source.statements, shadow=False)
    conn.execute("SAVEPOINT trimtab_create_in_place")
    try:
        conn.execute(";\n".join(s.text for s in statements).encode(),  # type: ignore[attr-defined]
                     prepare=False)
    except psycopg.Error:
        conn.execute("ROLLBACK TO SAVEPOINT trimtab_create_in_place")
        return None
    made = plan_models(current, _live(conn, cfg, None, declared=declared_relations(source)))
    if not made.steps:  # nothing it made counts as the schema's: never keep it unsaid
        conn.execute("ROLLBACK TO SAVEPOINT trimtab_create_in_place")
        return None
    return made


def _version_notes(current: Model, desired: Model) -> tuple[str, ...]:
    if current.server_version // 10000 == desired.server_version // 10000:
        return ()
    return (f"the shadow database runs PostgreSQL {desired.server_version // 10000}, the "
            f"target {current.server_version // 10000}: some definitions may differ only in "
            "how each version prints them; set shadow_database_url to a server of the "
            "target's version",)


def _apply(conn: psycopg.Connection, plan: Plan, hold: Callable[[str], Plan], *,
           settings: Sequence[str] = (), applied: str = "nothing was applied",
           ) -> tuple[Plan, tuple[str, ...]]:
    """Run the plan in the connection's open transaction and commit; roll back on error.
    ``hold`` runs first in the transaction that loses data (see _hold); given what is
    applied if it refuses, it returns the plan with the counts that hold. ``settings``:
    SET LOCAL statements sent after it (a lock timeout gives up: LockNotAvailable is
    raised, rolled back, for the caller to retry). ``applied``: what had been applied."""
    try:
        held = hold(applied)
        _run_steps(conn, plan.steps, settings, applied)
        conn.commit()
        return held, ()
    except psycopg.errors.UnsafeNewEnumValueUsage:
        conn.rollback()
    # A new enum value cannot be used in the transaction that adds it: add the values
    # first (additive, harmless if the rest fails), then the rest in one transaction.
    first = [s for s in plan.steps if isinstance(s.change, AddEnumValue)]
    rest = [s for s in plan.steps if not isinstance(s.change, AddEnumValue)]
    _run_steps(conn, first, settings, applied)
    conn.commit()
    # The rollback let the locks go: take them again for the changes that lose data.
    added = f"the {plural(len(first), 'new enum value')}"
    held = hold(f"only {added} {'was' if len(first) == 1 else 'were'} added"
                if applied == "nothing was applied" else f"{applied}, and {added}")
    _run_steps(conn, rest, settings, applied)
    conn.commit()
    return held, (f"added {plural(len(first), 'enum value')} in a transaction of "
                  f"{'its' if len(first) == 1 else 'their'} own: "
                  "PostgreSQL cannot use a new enum value in the transaction that adds it",)


def _run_steps(conn: psycopg.Connection, steps: list[Step] | tuple[Step, ...],
               settings: Sequence[str] = (), applied: str = "nothing was applied") -> None:
    """The plan's statements in the connection's open transaction, by the executor that
    runs migrations (few round trips, each failure named as if run alone); a failure rolls
    back everything and names the changes of the statement that failed."""
    # Function bodies may reference tables created later in the plan (as pg_dump does).
    conn.execute("; ".join(["SET LOCAL check_function_bodies = off", *settings]))
    sent = batches(steps)
    try:
        batch.execute(conn, [MigrationStatement(sql, i + 1) for i, (_, sql) in enumerate(sent)])
    except batch.StatementFailed as failed:
        e = failed.error
        if isinstance(e, psycopg.errors.UnsafeNewEnumValueUsage):
            raise e from None  # _apply adds the enum values in a transaction of their own
        if settings and isinstance(e, psycopg.errors.LockNotAvailable):
            conn.rollback()
            raise e from None  # gave up on a lock under the phase's lock_timeout: retried
        conn.rollback()
        group, statement = sent[failed.index]
        diag = e.diag
        detail = f" ({diag.message_detail})" if diag.message_detail else ""
        what = "; ".join(s.change.describe() for s in group)
        raise PlanError(
            f"{what} failed, {applied}: "
            f"{diag.message_primary or e}{detail}\n  statement: {statement}",
            obj=".".join(group[0].change.target[1:]),
            hint=diag.message_hint,
        ) from None


# -- migrations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerateResult:
    plan: Plan
    migration: Migration | None  # None: nothing changed, nothing written (else: the last)
    notes: tuple[str, ...] = ()
    # Every migration written, in order: more than one when the online-safe forms split
    # the plan (docs/migrations.md).
    migrations: tuple[Migration, ...] = ()
    rewrites: tuple[Rewrite, ...] = ()  # changes that rewrite a table, with their recipe
    # The hazards of the reverse written to down/<tag>.down.sql, said as "the down
    # migration drops column public.users.nickname". Not its plan: from empty at 10,000
    # tables that is 20,000 statements (some 80 MB) nobody reads once the file is written.
    down_hazards: tuple[str, ...] = ()


def _scratch_target(cfg: Config) -> Target:
    """Where scratch databases go when a command needs no target of its own: the
    configured shadow server, else the configured database's server, else the embedded one."""
    if cfg.shadow_database_url:
        check_url(cfg.shadow_database_url, "shadow_database_url")
        return Target(cfg.shadow_database_url, redact(cfg.shadow_database_url))
    return resolve_target(cfg)


def generate(cfg: Config, *, name: str | None = None, custom: bool = False,
             consent: Consent | None = None, force: bool = False,
             renames: RenameQuestion | None = None,
             measure_timeout: float = 2.0,
             rewrite: RewriteConsent | None = None) -> GenerateResult:
    """Write the next migration: the changes from what the migrations folder produces
    (replayed, so hand-written migrations count) to the schema file.

    Renames and consent work as for ``push``. Hazards are measured on the configured
    database when it can be reached (it is what the migration will meet first); a
    migration loses data wherever it runs, so data loss needs consent whatever the
    counts there. So does, with the online-safe forms on, a change that rewrites an
    existing table (``rewrite`` is asked; ``force`` agrees)."""
    folder = read_folder(cfg.migrations_dir)
    if custom:
        migration = write_migration(cfg.migrations_dir, name or "custom", [], None)
        return GenerateResult(Plan(), migration)
    scratch = _scratch_target(cfg)
    noop = _generate_noop(cfg, scratch)
    if noop is not None and noop.said is not None:
        return GenerateResult(Plan(), None, tuple(noop.said["notes"]))
    source = read_source(cfg)
    installed = _configured_extensions(cfg)
    planned = _generate_plan(cfg, scratch, folder, source, installed, renames, force)
    plan, notes, desired, current = planned.plan, planned.notes, planned.desired, planned.current
    runs_on, said, managed = planned.runs_on, planned.said, planned.managed
    if not plan:
        if noop is not None and planned.recordable:
            noop.remember(notes=list(notes), unmanaged=[])
        return GenerateResult(plan, None, notes)
    plan, lacking = mark_versions(plan, runs_on)
    if not cfg.postgres:  # said where it was learned, not chosen: say what only it has
        notes += tuple(f"{lack.message}; the migration runs only on PostgreSQL {lack.since}+ "
                       "(set `postgres` to the version migrations run on)"
                       for lack in lacks(plan, runs_on - 1) if lack.since == runs_on)
    if not force:
        _refuse_lacking(lacking, runs_on, source, said, "nothing was written",
                        "Change the schema file, set `postgres` to the version the migrations "
                        "run on, or pass --force to write it anyway.")
    plan, measured_on, refs = _measure_on_target(cfg, plan, measure_timeout, managed)
    # The keys onto the managed tables from outside them, in the migrations' own schemas
    # and on the database the migration will meet first.
    refuse_outside_dependents(plan, replace(current, outside_keys=tuple(
        dict.fromkeys(current.outside_keys + refs))))
    if measured_on is None:
        notes += ("hazards not measured: the database could not be reached",)
    else:
        _refuse_failing(plan, measured_on, cfg.drizzle)
    losing = [h for h in plan.hazards if h.category == Category.DATA_LOSS]
    if losing and not force and not (consent and consent(plan)):
        raise ConsentRequired(
            "nothing was written: the migration would lose data\n" + "".join(
                f"  - {h.text}\n" for h in losing),
            hint="Re-run with --force to write it, or change the schema file.")
    if cfg.online:
        _refuse_rewrites(rewrites(plan), rewrite, force, "nothing was written")
    last = folder.last_snapshot()
    prev_id = file_id(last) if last else ZERO_ID
    name = name or migration_name(plan, first=not folder.migrations)
    files = migration_files(plan, runs_on * 10000, lock_timeout=cfg.lock_timeout,
                            statement_timeout=cfg.statement_timeout) if cfg.online else None
    # Each file's content made once, for the replay ahead and the write (10 MiB at
    # 10,000 tables, and twice that on the way each time it was made).
    to_write = [(name, migration_file(plan.statements), True)] if files is None else [
        (name if len(files) == 1 else f"{name}_{f.name}",
         migration_file(f.statements, transactional=f.transactional), f.transactional)
        for f in files]
    # The folder's replay applies what is about to be written (mostly the server's work)
    # while the snapshot and the down migration are made (this process's). It gets the
    # migrations, not the files' content: that goes once written.
    upcoming = _with_upcoming(folder, to_write, [plan.statements] if files is None else
                              [f.statements for f in files])
    # Its scan of names (every statement of the new migration lexed) runs here first:
    # it is this process's work either way (one interpreter lock), and beside the down
    # migration and the snapshot their peaks added up (some 30 MB at 5,000 tables).
    stubs = _ahead_stubs(cfg, source, upcoming)
    with ThreadPoolExecutor(max_workers=1) as pool:
        ahead = pool.submit(_replay_ahead, cfg, scratch, upcoming, installed,
                            planned.built, stubs)
        del upcoming, stubs
        # Written as it is made, in write_migration: the text is not held next to the rest.
        snapshot = functools.partial(write_snapshot, desired, id=str(uuid.uuid4()),
                                     prev_id=prev_id)
        down = down_plan(current, desired, plan, source, runs_on)
        down_said = tuple(f"the down migration {h.message}" for h in down.hazards)
        down_renames = tuple((r.kind, r.schema, r.old, r.new, r.parent)
                             for r in reverse_renames(plan))
        # Its file needs the statements: the plan's changes and hazards are let go before
        # the replay ahead introspects (some 80 MB at 10,000 tables from empty).
        down_statements = down.statements
        del down
        written: list[Migration] = []
        for i in range(len(to_write)):
            tag_name, data, transactional = to_write[i]
            to_write[i] = (tag_name, b"", transactional)  # written below: not kept after
            final = i == len(to_write) - 1
            # The snapshots go with the last file: they describe the schema once all have
            # run. So does the one down file of the set: the phases in between have no
            # model of their own to plan back from, and undoing part of a set is never
            # wanted.
            written.append(write_migration(
                cfg.migrations_dir, tag_name, (), snapshot if final else None,
                transactional=transactional, data=data,
                drizzle_snapshot=_drizzle_kit_snapshot(cfg) if final else None,
                down=(lambda tag: down_text(
                    tag, down_statements, down_said,
                    [*(m.tag for m in written), tag] if files is not None else (),
                    down_renames)) if final else None))
            del data
        # Written: let go of what made the files before the replay ahead reads its
        # database (the model it makes is the largest thing left).
        down_statements.clear()
        del snapshot
        # What this thread made and let go (the scan, the plans, the files' contents)
        # is mostly free space inside the C heap, still counted as the process's memory:
        # given back before the replay ahead reads its database, the peak of the run.
        allocator.give_back()
        failed = ahead.result()
    notes += _replay_written(cfg, scratch, source, installed, written[-1], planned, failed)
    if files is None:
        return GenerateResult(plan, written[-1], notes, tuple(written),
                              down_hazards=down_said)
    return GenerateResult(plan, written[-1], notes, tuple(written), tuple(rewrites(plan)),
                          down_hazards=down_said)


def _with_upcoming(folder: Folder, to_write: Sequence[tuple[str, bytes, bool]],
                   statements: Sequence[Sequence[str]]) -> Folder:
    """``folder`` with the migrations ``to_write`` (name, file content, transactional) as
    write_migration will write them; the contents are not kept. ``statements``: what each
    content was made of (their texts are shared, not copied: see ``next_migration``)."""
    for (name, data, transactional), texts in zip(to_write, statements, strict=True):
        folder = replace(folder, migrations=(*folder.migrations, next_migration(
            folder, name, texts, transactional=transactional, data=data)))
    return folder


def _ahead_stubs(cfg: Config, source: Source, folder: Folder
                 ) -> list[shadow.Stub] | TrimtabError | None:
    """The stubs ``_replay_ahead`` replays ``folder`` with (``_target_stubs``), or the
    error that stops it; None when there is no cached replay to apply it to."""
    if _replay_cache(cfg, "replay") is None:
        return None
    try:
        return _target_stubs(cfg, source, folder)
    except (TrimtabError, psycopg.Error) as e:
        return e if isinstance(e, TrimtabError) else DatabaseError(str(e).strip())


def _replay_ahead(cfg: Config, scratch: Target, folder: Folder,
                  installed: Sequence[shadow.Extension], built: Model,
                  stubs: list[shadow.Stub] | TrimtabError | None) -> TrimtabError | None:
    """Apply ``folder``, whose last migrations are about to be written (``next_migration``,
    as write_migration will write them), to its cached replay: what the next replay of
    the folder applies (it keeps them by name and checksum, so a migration edited or not
    written after all means a rebuild). The error of one that does not replay. ``built``:
    the schema's model, which the replayed one is expected to equal: they share what is
    equal (see ``introspect``). ``stubs``: ``_ahead_stubs``'s."""
    if stubs is None or isinstance(stubs, TrimtabError):
        return stubs
    try:
        replay(folder, scratch.url, cfg.managed_schemas,
               cache_key=_replay_cache(cfg, "replay"), timeout=cfg.shadow_timeout,
               installed=installed, stubs=stubs, like=built)
    except (TrimtabError, psycopg.Error) as e:
        return e if isinstance(e, TrimtabError) else DatabaseError(str(e).strip())
    return None


@dataclass(frozen=True)
class _Planned:
    """What ``generate`` plans from the folder's replay to the schema."""

    plan: Plan
    notes: tuple[str, ...]
    desired: Model
    current: Model  # the folder's replay, within the managed schemas
    managed: tuple[str, ...] | None
    runs_on: int  # the major version the migration runs on
    said: str  # where that was learned
    recordable: bool  # an empty plan a no-op record may keep (the shadow was the target's)
    # What the schema's shadow was built from and gave (before scoping), and its notes.
    stubs: tuple[shadow.Stub, ...]
    built: Model
    where: tuple[str, ...]


def _generate_plan(cfg: Config, scratch: Target, folder: Folder, source: Source,
                   installed: Sequence[shadow.Extension],
                   renames: RenameQuestion | None = None, force: bool = False,
                   ask: bool = True, known: _Planned | None = None) -> _Planned:
    """The plan from what ``folder`` produces (replayed) to the schema ``source``.
    ``known``: an earlier plan of the same source in this run, whose shadow model serves
    again when the stubs are the same."""
    stubs = tuple(_target_stubs(cfg, source, folder))
    # Two databases to read, each mostly waiting on the server: read them at once.
    with ThreadPoolExecutor(max_workers=1) as pool:
        replayed = pool.submit(replay, folder, scratch.url, cfg.managed_schemas,
                               cache_key=_replay_cache(cfg, "replay"),
                               timeout=cfg.shadow_timeout, installed=installed, stubs=stubs)
        if known is not None and known.stubs == stubs:
            built, where = known.built, known.where
        else:
            built, where = desired_and_notes(cfg, scratch, source.statements, source,
                                             installed=installed, stubs=stubs)
        current = replayed.result()
    # What the migrations made counts as declared too: a schema the source no longer
    # mentions is dropped by the next migration, as it was created by one.
    managed, desired, outside = _scoped(cfg, built, current)
    current = within(current, managed)
    runs_on, said = (known.runs_on, known.said) if known is not None else \
        _generate_version(cfg, desired)
    plan, notes, _ = plan_changes(*_at_version(runs_on, current, desired), source,
                                  decide=renames, force=force, ask=ask)
    notes += where + outside + tuple(left_out(folder))
    return _Planned(plan, notes, desired, current, managed, runs_on, said, not where,
                    stubs, built, where)


def _replay_written(cfg: Config, scratch: Target, source: Source,
                    installed: Sequence[shadow.Extension], written: Migration,
                    planned: _Planned, failed: TrimtabError | None = None
                    ) -> tuple[str, ...]:
    """Replay the folder with the migration(s) just written, as the next command would:
    the cached replay applies them (the new state of the folder's replay, which a database
    produced), and when the schema is then what they produce, that no-op is recorded, so
    the next ``generate`` of an unchanged project is a fingerprint. Notes when the folder
    no longer replays or does not produce the schema (the next ``generate`` says the same)."""
    if _replay_cache(cfg, "replay") is None:
        return ()
    folder = read_folder(cfg.migrations_dir)
    noop = _generate_noop(cfg, scratch)  # before anything is read, as the next run
    try:
        if failed is not None:
            raise failed
        after = _generate_plan(cfg, scratch, folder, source, installed, ask=False,
                               known=planned)
    except TrimtabError as e:
        return (f"{written.name} was written, but the migrations folder does not replay: "
                f"{e.message}",)
    if after.plan:
        return (f"{written.name} was written, but the migrations folder does not produce "
                f"the schema: {plural(len(after.plan.steps), 'change')} still differ "
                "(the next generate writes them)",)
    if noop is not None and after.recordable:
        noop.remember(notes=list(after.notes), unmanaged=[])
    return ()


def _generate_noop(cfg: Config, scratch: Target) -> fingerprint.Noop | None:
    """The no-op check of ``generate`` (as push's, sources/fingerprint.py), with the
    catalogs of the database the shadows are built on; None where it does not apply
    (fingerprint.generate_inputs) or that database cannot be read."""
    return _checked(fingerprint.generate_inputs(cfg, scratch.url), scratch.url)


def _checked(noop: fingerprint.Noop | None, url: str) -> fingerprint.Noop | None:
    """``noop`` checked against the database at ``url``; None when there is none or that
    database cannot be read."""
    if noop is None:
        return None
    try:
        with shadow.connect(url) as conn:
            return noop.check(conn)
    except DatabaseError:
        return None


def reverse_renames(plan: Plan) -> list[Rename]:
    """The renames of ``plan``, the other way round: what the down migration renames back.
    A column of a renamed table is named under the table's old name (the down's new one)."""
    tables: dict[tuple[str, str], str] = {}
    out: list[Rename] = []
    for step in plan.steps:
        ch = step.change
        if isinstance(ch, RenameTable):
            tables[(ch.target[1], ch.target[2])] = ch.before.name
            out.append(Rename("table", ch.target[1], ch.target[2], ch.before.name))
        elif isinstance(ch, RenameColumn):
            schema, table, new = ch.target[1:4]
            out.append(Rename("column", schema, new, ch.before.name,
                              tables.get((schema, table), table)))
        elif isinstance(ch, RenameEnumValue):
            out.append(Rename("enum_value", ch.target[1], ch.after, ch.before, ch.target[2]))
    return out


def down_plan(current: Model, desired: Model, plan: Plan, source: Source,
              version: int) -> Plan:
    """The reverse of ``plan`` (``current`` -> ``desired``): planned by the same planner from
    ``desired`` back to ``current``, with the plan's renames turned round, never by
    inverting its text."""
    current, _ = _managed_extensions(current, source.statements)
    current = _without_existing(current, source)
    return plan_models(*_at_version(version, desired, current), reverse_renames(plan))


def _drizzle_kit_snapshot(cfg: Config) -> str | None:
    """drizzle-kit's snapshot of a Drizzle project's schema, chained after drizzle-kit's
    newest, so that drizzle-kit can generate the migration after trimtab's."""
    if not cfg.drizzle:
        return None
    from trimtab.sources.drizzle_snapshot import (
        drizzle_snapshot,
        dump_drizzle_snapshot,
        last_drizzle_id,
    )
    prev = last_drizzle_id(cfg.migrations_dir / "meta") or ZERO_ID
    return dump_drizzle_snapshot(drizzle_snapshot(schema_files(cfg), casing=cfg.casing,
                                                  id=str(uuid.uuid4()), prev_id=prev))


def _at_version(version: int, current: Model, desired: Model) -> tuple[Model, Model]:
    """The models as seen from PostgreSQL ``version`` (a major), so that the planner picks
    the statements that version has (no SET EXPRESSION before 17, for one)."""
    return (replace(current, server_version=version * 10000),
            replace(desired, server_version=version * 10000))


def _generate_version(cfg: Config, desired: Model) -> tuple[int, str]:
    """The major version the migration will run on, and where that was learned: the
    `postgres` setting, else the configured database when it can be reached, else the
    server that built the schema."""
    if cfg.postgres:
        return cfg.postgres, f'postgres = "{cfg.postgres}" in {_config_name(cfg)}'
    try:
        target = resolve_target(cfg)
        with shadow.connect(target.url) as conn:
            return major(conn.info.server_version), target.label
    except DatabaseError:
        return major(desired.server_version or 180000), "the shadow database"


def _config_name(cfg: Config) -> str:
    return cfg.config_file.name if cfg.config_file else "trimtab.toml"


def _refuse_lacking(lacking: list[Lack], version: int, source: Source, said: str,
                    outcome: str, hint: str) -> None:
    """Statements PostgreSQL ``version`` cannot run: refused, each named with the line of
    the schema file that asks for it."""
    lacking = [lack for lack in lacking if lack.since > version]
    if not lacking:
        return
    spans = source.spans
    lines = [f"{outcome}: PostgreSQL {version} (from {said}) cannot run "
             f"{len(lacking)} statement{'s' if len(lacking) != 1 else ''}"]
    first = None
    for lack in lacking:
        span = _span_of(lack.step.change, spans)
        first = first or span
        at = f"{span.file}:{span.line}: " if span else ""
        lines.append(f"  - {at}{lack.message}")
        if lack.fix:
            lines.append(f"      fix: {lack.fix}")
    raise PlanError("\n".join(lines) + "\n", file=first.file if first else None,
                    line=first.line if first else None,
                    obj=".".join(lacking[0].step.change.target[1:]),
                    hint=hint)


def _refuse_written(source: Source, version: int, said: str, outcome: str) -> None:
    """Syntax the server's version lacks, refused before the file is sent there (its
    shadow too), each named with its line, instead of the server's syntax error from the
    middle of a run."""
    found = written(source.statements, version)
    if not found:
        return
    lines = [f"{outcome}: {said} runs PostgreSQL {version}, which cannot run "
             f"{len(found)} statement{'s' if len(found) != 1 else ''} of the schema"]
    places = []
    for w in found:
        at = source.origin(w.file, w.line)
        file, line = (at.file, at.line) if at else (w.file, w.line)
        places.append((file, line))
        lines.append(f"  - {file}:{line}: PostgreSQL {version} lacks {w.feature} "
                     f"(PostgreSQL {w.since}+)")
    raise SchemaError("\n".join(lines) + "\n", file=places[0][0], line=places[0][1],
                      hint="Change the schema file, or use a newer server.")


def _span_of(ch: Change, spans: Mapping[tuple[str, ...], Span]) -> Span | None:
    """Where the schema file declares the change's object, or its table."""
    keys = [ch.target]
    if ch.target[0] in ("column", "constraint", "trigger", "policy") and len(ch.target) > 2:
        keys.append(("table", *ch.target[1:3]))
    return next((spans[k] for k in keys if k in spans), None)


def _measure_on_target(cfg: Config, plan: Plan, timeout: float,
                       managed: tuple[str, ...] | None = None
                       ) -> tuple[Plan, str | None, tuple[OutsideKey, ...]]:
    """The plan measured on the configured (or embedded) database, read only; the
    database's name for messages, None when it could not be reached; and the foreign keys
    there from outside ``managed`` onto it."""
    try:
        target = resolve_target(cfg)
        with shadow.connect(target.url) as conn:
            conn.execute("SET default_transaction_read_only = on")
            refs = outside_keys(conn, managed) if managed is not None else ()
            return measure(conn, plan, timeout=timeout), target.label, refs
    except DatabaseError:
        return plan, None, ()


def migration_name(plan: Plan, first: bool = False) -> str:
    """What changed, in a few words: ``add_posts_slug``, ``create_users_and_2_more``."""
    if first:
        return "init"
    main = [s.change for s in plan.steps if not isinstance(s.change, _MINOR)] or [
        s.change for s in plan.steps]
    phrases = list(dict.fromkeys(_phrase(ch) for ch in main))
    head = phrases[0]
    return head if len(phrases) == 1 else f"{head}_and_{len(phrases) - 1}_more"


_MINOR = (SetComment, GrantPrivilege, RevokePrivilege, SetSequenceOwner, AddConstraint,
          CreateIndex, SetCluster)
_VERBS = {"create": "create", "add": "add", "drop": "drop", "alter": "alter",
          "replace": "update", "recreate": "update", "rename": "rename",
          "validate": "validate", "attach": "attach", "detach": "detach", "set": "set"}


def _phrase(ch: Change) -> str:
    verb = _VERBS.get(ch.kind.value.split("_", 1)[0], "change")
    target = ch.target
    if target[0] in ("column", "constraint", "trigger", "policy"):
        words = [target[2], target[3]]
    elif target[0] in ("comment", "grant"):
        words = [target[2].split(".")[-1]]
    else:
        words = [target[2] if len(target) > 2 else target[1]]
    slug = "_".join([verb, *words]).lower()
    return "".join(c if c.isalnum() else "_" for c in slug).strip("_")[:50]


MARK_VERIFIED = True  # ``migrate(mark_applied=MARK_VERIFIED)``: the ones the database has


def migrate(cfg: Config, *, dry_run: bool = False, allow_out_of_order: bool = False,
            mark_applied: str | bool | None = None,
            on_progress: Callable[[Migration, int, int], None] | None = None,
            resume_after: int | None = None,
            on_retry: runner.Retry | None = None,
            ) -> tuple[MigrateResult, Target]:
    """Apply the pending migrations to the target database, each in its own transaction.
    A migration that gave up waiting for a lock is retried (``lock_retries`` in the
    config), ``on_retry`` told first. Ctrl+C raises ``runner.Interrupted``, which says
    what was applied.

    ``mark_applied``: a migration's name records it without running it (a baseline);
    ``MARK_VERIFIED`` records the pending migrations whose result the database already
    has (after a push), and refuses, naming what differs, when it has none. Without it, a
    database that already has a pending migration's result is refused before anything
    runs (its SQL would fail halfway: the column it renames is gone)."""
    target = resolve_target(cfg)
    folder = read_folder(cfg.migrations_dir)
    table = history_table(cfg)
    if mark_applied is MARK_VERIFIED:
        if dry_run or resume_after is not None:
            raise ConfigError("--mark-applied goes with neither --dry-run nor --resume-after",
                              hint="run trimtab migrate --mark-applied alone")
        made, differs = made_already(cfg, target, folder)
        if not made:
            raise PlanError(differs or "no pending migration: nothing to record",
                            hint="trimtab migrate applies it; --mark-applied only records "
                            "what the database already has" if differs else None)
        runs: list[runner.MigrationRun] = []
        result = None
        for name in made:
            result = runner.migrate(target.url, folder, mark_applied=name, drizzle_table=table,
                                    allow_out_of_order=allow_out_of_order)
            runs += result.runs
        assert result is not None
        return replace(result, runs=tuple(runs),
                       already_applied=result.already_applied - len(made) + 1), target
    if not dry_run and mark_applied is None and resume_after is None:
        try:
            made, _ = made_already(cfg, target, folder, explain=False)
        except TrimtabError:
            made = ()  # no shadow to replay on, a migration that fails: the runner says so
        if made:
            raise PlanError(f"nothing was run: {_made_text(made)}; running its SQL again "
                            "would fail halfway", hint="`trimtab migrate --mark-applied` "
                            "records it without running it")
    result = runner.migrate(target.url, folder, dry_run=dry_run,
                            drizzle_table=table, allow_out_of_order=allow_out_of_order,
                            mark_applied=mark_applied if isinstance(mark_applied, str)
                            else None, on_progress=on_progress,
                            resume_after=resume_after, lock_retries=cfg.lock_retries,
                            on_retry=on_retry)
    return result, target


def backup(cfg: Config, path: Path | None = None) -> tuple[backups.Backup, Target]:
    """A pg_dump of the target (custom format) with a pg_dump of its server's major version,
    to ``path``, else the ``backup`` setting's path, else .trimtab/backups/. ConfigError when
    no such pg_dump exists, DatabaseError when it fails: migrate must not run then."""
    target = resolve_target(cfg)
    with shadow.connect(target.url) as conn:
        version = major(conn.info.server_version)
    if path is None and isinstance(cfg.backup, str):
        path = cfg.root / cfg.backup
    return backups.backup(target.url, path or backups.default_path(cfg.root, target.url),
                          version), target


@dataclass(frozen=True)
class DownResult:
    runs: tuple[runner.MigrationRun, ...]  # "reverted", or "would revert" (a dry run)
    losses: tuple[str, ...]  # what the down files lose, measured on the database


def migrate_down(cfg: Config, *, to: str | None = None, steps: int | None = None,
                 dry_run: bool = False, force: bool = False,
                 consent: Callable[[list[str]], bool] | None = None,
                 measure_timeout: float = 2.0) -> tuple[DownResult, Target]:
    """Undo applied migrations with their down files, newest first (``runner.down_units``
    says which). What they lose is measured as push measures it: the down plan is planned
    again from the snapshots and counted on the target; a down file written or edited by
    hand cannot be measured and counts as losing data. Loss needs ``force`` or a
    ``consent`` that says yes to its lines; otherwise ConsentRequired and nothing undone."""
    target = resolve_target(cfg)
    folder = read_folder(cfg.migrations_dir)
    table = history_table(cfg)
    with shadow.connect(target.url) as conn:
        conn.execute("SET default_transaction_read_only = on")
        units = runner.down_units(conn, folder, to=to, steps=steps, drizzle_table=table)
        version = major(conn.info.server_version)
        losses = tuple(line for u in units
                       for line in _down_losses(conn, folder, u, version, measure_timeout))
    if dry_run:
        return DownResult(tuple(runner.MigrationRun(", ".join(m.name for m in u.migrations),
                                                    "would revert", 0.0,
                                                    len(u.down.statements)) for u in units),
                          losses), target
    if units and losses and not force and not (consent and consent(list(losses))):
        raise ConsentRequired(
            "nothing was undone: the down migration loses data\n" + "".join(
                f"  - {line}\n" for line in losses),
            hint="Re-run with --force to undo anyway (take a backup first: trimtab migrate "
                 "--backup).")
    runs = runner.revert(target.url, folder, units, drizzle_table=table)
    return DownResult(tuple(runs), losses), target


def _down_losses(conn: psycopg.Connection, folder: Folder, unit: runner.DownUnit,
                 version: int, timeout: float) -> list[str]:
    """The data the unit's down file loses, each said with its count."""
    name = unit.down.path.name
    if not unit.down.generated:
        return [f"{name} was written or edited by hand: what it loses cannot be measured"]
    after, before = _snapshot_at(folder, unit.migrations[-1], True), \
        _snapshot_at(folder, unit.migrations[0], False)
    if after is None or before is None:
        return [f"{name}: no snapshot to plan it from, what it loses cannot be measured"]
    if unit.migrations[0] == folder.migrations[0]:
        # Before the first migration the database is a new one: its public schema is there
        # (as generate planned the down file), so undoing does not drop it.
        before = replace(before, schemas={
            k: v for k, v in after.schemas.items() if k == ("schema", "public")})
    renames = [Rename(k, s, o, n, p) for k, s, o, n, p in unit.down.renames]
    plan = measure(conn, plan_models(*_at_version(version, after, before), renames),
                   timeout=timeout)
    return [f"{name}: the down migration {h.message} ({h.detail or _counted(h)})"
            for step in plan.data_loss for h in step.hazards if h.needs_consent]


def _snapshot_at(folder: Folder, m: Migration, including: bool) -> Model | None:
    """The schema the folder's snapshots say once ``m`` ran (``including``), or just before
    it: the newest trimtab snapshot up to there; an empty schema before the first migration.
    None when there is none to read (a folder drizzle-kit wrote)."""
    place = folder.migrations.index(m) + (1 if including else 0)
    for earlier in reversed(folder.migrations[:place]):
        if earlier.snapshot is None:
            continue
        try:
            return load_snapshot(earlier.snapshot.read_text(encoding="utf-8"),
                                 str(earlier.snapshot))[0]
        except (SchemaError, OSError):
            return None
    return Model() if place == 0 else None


def _made_text(made: Sequence[str]) -> str:
    names = ", ".join(made)
    return f"the database already has what {names} make{'s' if len(made) == 1 else ''}"


MARK_ADVICE = "`trimtab migrate --mark-applied` records it"


def made_already(cfg: Config, target: Target | None = None, folder: Folder | None = None,
                 *, explain: bool = True) -> tuple[tuple[str, ...], str | None]:
    """The pending migrations, from the first on, whose result the database already has
    (a push made their changes), and, when there are none, what differs between the
    database and the first pending migration's result (None: nothing is pending). Only
    migrations that change the schema count: a data migration's result is not visible.

    ``explain=False``: the caller needs only the migrations (the second item is then
    None). A database that is what the applied migrations made (an empty one before the
    first migrate) holds no pending one's result, and is then not compared with the
    first pending migration's: that replay ran the whole history once more before
    migrate applied it."""
    target = target or resolve_target(cfg)
    folder = folder or read_folder(cfg.migrations_dir)
    with shadow.connect(target.url) as conn:
        # Nothing pending (most deploys' migrate): no result to look for, and the whole
        # read of the database below took seconds on a big schema. (Asked again after
        # that read: this answer only spares it.)
        if not runner.pending(conn, folder, drizzle_table=history_table(cfg))[0]:
            return (), None
        try:
            source: Source | None = read_source(cfg)
        except TrimtabError:
            source = None  # a deploy without the schema file: compare the models as they are
        declared = declared_relations(source) if source else frozenset()
        # The database first, then what is pending: a migrate that commits in between is
        # then seen as applied, never its changes as a push's (apply and record commit
        # together).
        live = _live(conn, cfg, cfg.managed_schemas, declared=declared)
        pending, _ = runner.pending(conn, folder, drizzle_table=history_table(cfg))
        # A migration the runner began outside a transaction (statements done, one in
        # doubt) is the runner's to finish or settle, never one a push made.
        plain = {m.name for m in folder.migrations if not m.transactional}
        begun = {r.name for r in tracking.read(conn).values()
                 if not r.applied and (r.statements_done or r.started_statement is not None
                                       or (r.failed_statement is not None and r.name in plain))}
        if not pending or pending[0].name in begun:
            return (), None
        installed = shadow.installed_extensions(conn)
        stubs = _stubs(conn, cfg, source, folder) if source else []
    names = [m.name for m in pending]
    names = names[:next((i for i, n in enumerate(names) if n in begun), len(names))]
    applied = [m.name for m in folder.migrations if m.name not in names]
    scratch = cfg.shadow_database_url or target.url
    cache = _replay_cache(cfg, "replay")

    def result(only: list[str], key: str | None) -> Model:
        return replay(folder, scratch, cfg.managed_schemas, only=only, cache_key=key,
                      timeout=cfg.shadow_timeout, installed=installed, stubs=stubs)
    expected = result(applied, cache and cache + "\0applied")
    drifted = bool(drift_plan(expected, live, source).steps)
    if not drifted and not explain:
        return (), None
    first_differs: Plan | None = None
    for k in range(len(names) if drifted else 1, 0, -1):
        plan = drift_plan(result(applied + names[:k], None), live, source)
        if drifted and not plan.steps:  # a data migration's result is not visible
            return tuple(names[:k]), None
        if k == 1:
            first_differs = plan
    assert first_differs is not None
    still = "" if drifted else " (it is what the applied migrations made)"
    return (), (f"the database is not what {names[0]} makes{still}: "
                + "; ".join(explain_drift(first_differs, names[0])))


def drift_plan(expected: Model, live: Model, source: Source | None) -> Plan:
    """What would turn ``expected`` into ``live``: the schema file's rename hints read as
    renames (a pushed rename is one), the views drizzle marks existing left out."""
    if source is not None:
        expected, live = _without_existing(expected, source), _without_existing(live, source)
        renames = resolve_hints([(h.target, h.old) for h in source.hints], expected, live)
    else:
        renames = []
    return build_plan(expected, live, renames)


@dataclass(frozen=True)
class Status:
    """The three-way view: schema file, migrations folder, live database."""

    target: Target
    unmigrated: Plan  # schema file vs what the migrations produce
    applied: tuple[str, ...]
    pending: tuple[str, ...]
    # what stops migrate: edited or missing applied migrations, order, a statement in doubt
    problems: tuple[str, ...]
    drift: tuple[str, ...]  # the database differs from what its applied migrations produce
    folder_problems: tuple[Problem, ...]
    notes: tuple[str, ...] = ()  # where the shadow ran, what the replay left out
    # those of folder_problems that stop migrate too: files the journal does not list, two
    # migrations with one number
    folder_stops: tuple[Problem, ...] = ()
    # pending migrations whose result the database already has (a push made it): what
    # `migrate --mark-applied` records
    made: tuple[str, ...] = ()
    drift_items: tuple[Drift, ...] = ()  # ``drift`` as data, one item per sentence

    @property
    def made_text(self) -> str | None:
        """The advice when the database already has what pending migrations make."""
        return f"{_made_text(self.made)}: {MARK_ADVICE}" if self.made else None

    def view(self) -> dict[str, Any]:
        """The status as plain data: ``status --json``'s fields, and the lines the command
        line prints for the changes, the folder's problems and the advice. What
        ``status``'s record keeps, so that one view serves both paths."""
        found = [name for name, present in (
            ("problems", bool(self.problems or self.folder_problems or self.folder_stops)),
            ("drift", bool(self.drift)), ("pending", bool(self.pending)),
            ("unmigrated", bool(self.unmigrated.steps))) if present]
        return {
            "database": self.target.label,
            "not_in_a_migration": self.unmigrated.to_json()["changes"],
            "applied": list(self.applied), "pending": list(self.pending),
            "problems": list(self.problems), "drift": [d.to_json() for d in self.drift_items],
            "folder_problems": [p.message for p in self.folder_problems],
            "notes": list(self.notes),
            "migrate_refuses": bool(self.problems or self.folder_stops),
            "already_made": list(self.made),
            "found": found,
            # for people: what the lines above say
            "changes_text": [step.change.describe() for step in self.unmigrated.steps],
            "drift_text": list(self.drift),
            "folder_problems_text": [_problem_line(p) for p in self.folder_problems],
            "made_text": self.made_text,
        }


def _problem_line(p: Problem) -> str:
    where = f"{p.file}:{p.line}: " if p.file and p.line else (f"{p.file}: " if p.file else "")
    return where + p.message + (f" Fix: {p.hint}" if p.hint else "")


def progress(cfg: Config) -> tuple[list[str], list[str], list[str]]:
    """(applied, pending, problems) of the migrations folder on the target, by name: what
    the database's tracking table says, without reading the schema file (the part of
    ``status`` that still holds when the schema file does not read)."""
    folder = read_folder(cfg.migrations_dir)
    with shadow.connect(resolve_target(cfg).url) as conn:
        pending, problems = runner.pending(conn, folder, drizzle_table=history_table(cfg))
    names = {m.name for m in pending}
    return ([m.name for m in folder.migrations if m.name not in names],
            [m.name for m in pending], problems)


def status(cfg: Config, *, record: bool = False) -> Status:
    """The schema file, the migrations and the database side by side. ``record``: a
    status without problems from the database is recorded with its inputs' digest and the
    database's fingerprint (sources/fingerprint.py), which the command line answers from
    until one of them changes (its own status only: a fleet's tenants keep their history
    in tables of their own)."""
    target = resolve_target(cfg)
    # before anything is read, as the next run
    noop = _checked(fingerprint.status_inputs(cfg, target.url), target.url) if record else None
    result = _status(cfg, target)
    if noop is not None and not result.problems:
        # Not with problems: a statement in doubt depends on who holds the runner's lock.
        noop.remember(notes=list(result.notes), unmanaged=[], status=result.view())
    return result


def _status(cfg: Config, target: Target) -> Status:
    folder = read_folder(cfg.migrations_dir)
    source = read_source(cfg)
    installed = _target_extensions(target)
    stubs = _target_stubs(cfg, source, folder)
    desired, where = desired_and_notes(cfg, target, source.statements, source,
                                       installed=installed, stubs=stubs)
    scratch = cfg.shadow_database_url or target.url
    cache = _replay_cache(cfg, "replay")
    produced = replay(folder, scratch, cfg.managed_schemas, cache_key=cache,
                      timeout=cfg.shadow_timeout, installed=installed, stubs=stubs)
    managed, desired, outside = _scoped(cfg, desired, produced)
    produced = within(produced, managed)
    with shadow.connect(target.url) as conn:
        pending, problems = runner.pending(conn, folder, drizzle_table=history_table(cfg))
        live = _live(conn, cfg, managed, declared=declared_relations(source))
    pending_names = {m.name for m in pending}
    stops = listing_problems(cfg.migrations_dir)
    applied = tuple(m.name for m in folder.migrations if m.name not in pending_names)
    if pending_names:
        expected = within(replay(folder, scratch, cfg.managed_schemas, only=applied,
                                 cache_key=cache and cache + "\0applied",
                                 timeout=cfg.shadow_timeout, installed=installed,
                                 stubs=stubs), managed)
    else:
        expected = produced
    made: tuple[str, ...] = ()
    drift = drift_plan(expected, live, source)
    if pending_names and drift.steps and not problems:
        made, _ = made_already(cfg, target, folder, explain=False)
        if made:  # drift against what migrate --mark-applied would record
            drift = drift_plan(within(replay(
                folder, scratch, cfg.managed_schemas, only=applied + made,
                timeout=cfg.shadow_timeout, installed=installed, stubs=stubs), managed),
                live, source)
    produced = _managed_extensions(produced, source.statements)[0]
    drifted = drift_items(drift)
    return Status(
        target=target,
        unmigrated=build_plan(produced, desired, resolve_hints(
            [(h.target, h.old) for h in source.hints], produced, desired)),
        applied=applied,
        pending=tuple(m.name for m in pending),
        problems=tuple(problems),
        drift=tuple(d.message for d in drifted),
        folder_problems=tuple(check_folder(cfg.migrations_dir)),
        notes=where + outside + _not_managed(live) + tuple(left_out(folder)) + tuple(
            drizzle_notes(cfg.migrations_dir)),
        folder_stops=tuple(stops),
        made=made,
        drift_items=tuple(drifted),
    )


def _not_managed(live: Model) -> tuple[str, ...]:
    """The one line that says what a command left alone (for results without a plan)."""
    return (f"not managed by trimtab: {', '.join(live.unmanaged)}",) if live.unmanaged else ()


@dataclass(frozen=True)
class Drift:
    """One object that differs between what the migrations made and the live database:
    the data behind one ``explain_drift`` sentence (``status --json`` prints it)."""

    object: str  # "public.users.email"; for comments and grants "TABLE public.users"
    kind: str  # "column", "table", "index", ... (the change kinds' noun)
    # "extra": in the database only; "missing": in the migrations only; "renamed": under
    # another name in the database; "altered": both have it, and they differ
    change: str
    differs: tuple[str, ...]  # the fields that differ (model field names), when known
    changes: tuple[str, ...]  # the changes that would align the migrations with it
    message: str  # the sentence ``explain_drift`` says
    name_in_database: str | None = None  # "renamed": the name the database has

    def to_json(self) -> dict[str, str | list[str] | None]:
        return {"object": self.object, "kind": self.kind, "change": self.change,
                "differs": list(self.differs), "changes": list(self.changes),
                "name_in_database": self.name_in_database, "message": self.message}


def explain_drift(plan: Plan, made_by: str | None = None) -> list[str]:
    """Each change that would turn the migrations' result (``made_by``: one migration's)
    into the live database, said as a difference: "column public.users.nickname exists in
    the database but in no migration". A rename is one line, and so is an object dropped
    and created again under one name (it differs; it is not both missing and extra)."""
    return [d.message for d in drift_items(plan, made_by)]


def _differing_fields(before: object, after: object) -> tuple[str, ...]:
    """The fields of two versions of one model object that differ (none when unknown)."""
    if before is None or after is None or type(before) is not type(after) or not (
            is_dataclass(before)):
        return ()
    return tuple(f.name for f in fields(before)
                 if getattr(before, f.name) != getattr(after, f.name))


def drift_items(plan: Plan, made_by: str | None = None) -> list[Drift]:
    """``explain_drift`` as data: one item per object, with what differs."""
    extra, missing, differs, renamed = (
        ("exists in the database but in no migration", "is in the migrations but not in "
         "the database", "differs from what the migrations made", "the migrations do not "
         "rename it") if made_by is None else
        (f"exists in the database; {made_by} does not make it", f"is not in the database; "
         f"{made_by} makes it", f"differs from what {made_by} makes", f"{made_by} does not "
         "rename it"))
    said: dict[tuple[str, str], list[str]] = {}  # (noun, name) -> the changes
    kinds: dict[tuple[str, str], set[str]] = {}
    # (noun, name) -> the object as the migrations made it, and as the database has it
    versions: dict[tuple[str, str], list[object]] = {}
    for step in plan.steps:
        ch = step.change
        kind, _, noun = ch.kind.value.partition("_")
        name = ".".join(ch.target[1:]) if ch.target[0] not in ("comment", "grant") else (
            " ".join(ch.target[1:3]))
        noun = noun.replace("_", " ")
        if kind == "rename":
            before = getattr(ch, "before", None)
            old = getattr(before, "name", None) or ch.target[-1]
            name = ".".join((*ch.target[1:-1], str(old)))
        kinds.setdefault((noun, name), set()).add(kind)
        said.setdefault((noun, name), []).append(ch.describe())
        pair = versions.setdefault((noun, name), [None, None])
        if pair[0] is None:
            pair[0] = ch.before
        if ch.after is not None:
            pair[1] = ch.after
    out = []
    for (noun, name), changes in said.items():
        seen = kinds[(noun, name)]
        new: str | None = None
        if seen == {"rename"}:
            new = next(s.change.target[-1] for s in plan.steps
                       if s.change.kind.value.startswith("rename")
                       and ".".join((*s.change.target[1:-1], getattr(
                           getattr(s.change, "before", None), "name", ""))) == name)
            change, text = "renamed", f"{noun} {name} is named {new} in the database; {renamed}"
        elif seen <= {"create", "add"}:
            change, text = "extra", f"{noun} {name} {extra}"
        elif seen == {"drop"}:
            change, text = "missing", f"{noun} {name} {missing}"
        else:
            change = "altered"
            text = f"{noun} {name} {differs} ({'; '.join(changes)} would align them)"
        before, after = versions[(noun, name)]
        out.append(Drift(object=name, kind=noun, change=change,
                         differs=_differing_fields(before, after) if change in (
                             "altered", "renamed") else (),
                         changes=tuple(changes), message=text, name_in_database=new))
    return out


# -- reset ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResetResult:
    target: Target
    dropped: int  # managed objects dropped
    rebuilt_with: str  # "schema" or "migrations"
    changes: int  # changes or migrations applied afterwards
    seeded: Path | None
    notes: tuple[str, ...] = ()  # what was left alone


def is_local(url: str) -> bool:
    """A database on this machine: a Unix socket, or a loopback host. libpq connects to
    ``hostaddr`` when given (``host`` is then only the name it checks), so that is what
    counts; a service (``service=``, PGSERVICE) may name any host and is not read here,
    so a connection through one is not local. A string libpq cannot read is not local."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return False
    if info.get("service") or os.environ.get("PGSERVICE"):
        return False
    hosts = str(info.get("host") or os.environ.get("PGHOST") or "").split(",")
    addrs = str(info.get("hostaddr") or os.environ.get("PGHOSTADDR") or "").split(",")
    n = max(len(hosts), len(addrs))
    # libpq pairs the lists by position; an empty hostaddr leaves that host to the name
    hosts = hosts * n if len(hosts) == 1 else hosts
    addrs = addrs * n if len(addrs) == 1 else addrs
    return all(_loopback(a) if a.strip() else
               (h == "" or h.startswith(("/", "@")) or h == "localhost" or _loopback(h))
               for h, a in zip(hosts, addrs, strict=False))


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.strip()).is_loopback
    except ValueError:
        return False


def reset(cfg: Config, *, migrations: bool = False, force: bool = False) -> ResetResult:
    """Development only: drop every managed object, rebuild from the schema file (or the
    migrations) and run the seed file. Refuses a database on another host without
    ``force``."""
    target = resolve_target(cfg)
    if not target.embedded and not is_local(target.url) and not force:
        raise ConsentRequired(
            f"refusing to reset {target.label}: it is not on this machine",
            hint="reset drops every managed object; pass --force if this really is a "
                 "development database")
    # A seed file that cannot be read is refused before anything is dropped.
    seed = _read_seed(cfg.seed_path) if cfg.seed_path is not None else None
    managed = cfg.managed_schemas
    if managed is None:  # what the source to rebuild from declares, and nothing else
        installed = _target_extensions(target)  # kept by the reset: the rebuild uses them
        if migrations:
            model = replay(read_folder(cfg.migrations_dir), _scratch_target(cfg).url, None,
                           cache_key=_replay_cache(cfg, "replay"), timeout=cfg.shadow_timeout,
                           installed=installed)
        else:
            source = read_source(cfg)
            model = desired_and_notes(cfg, target, source.statements, source,
                                      installed=installed,
                                      stubs=_target_stubs(cfg, source))[0]
        managed = scope(cfg, model)
    # a table the schema declares outside tablesFilter is the schema's (see _filtered)
    declared = declared_relations(read_source(cfg)) if cfg.tables_filter and not migrations \
        else frozenset()
    with shadow.connect(target.url, autocommit=False) as conn:
        current = _live(conn, cfg, managed, declared=declared)
        # Extensions stay, with their schemas: the schema may use one without creating it
        # (the rebuild needs it), and one it creates is created IF NOT EXISTS.
        kept: set[tuple[str, ...]] = {("schema", "public")} | {
            ("schema", e.schema) for e in current.extensions.values()}
        public = {k: v for k, v in current.schemas.items() if k in kept}
        empty = Model(schemas=public, extensions=current.extensions,
                      server_version=current.server_version)
        wipe = build_plan(current, empty)
        _run_steps(conn, wipe.steps)
        # The runner's bookkeeping goes too, drizzle's rows with it: the migrations will
        # run again, and rows left behind would count as applied.
        tracking.forget(conn, history_table(cfg))
        conn.commit()
    if migrations:
        result, _ = migrate(cfg)
        changes, how = len(result.applied), "migrations"
    else:
        changes, how = len(push(cfg, force=True).plan.steps), "schema"
    if seed is not None:
        _run_seed(target.url, seed)
    return ResetResult(target, len(wipe.steps), how, changes, cfg.seed_path,
                       _not_managed(current))


def _read_seed(path: Path) -> list[Statement]:
    if not path.exists():
        raise ConfigError(f"seed file not found: {path}", file=str(path),
                          hint="fix `seed` in trimtab.toml")
    return read_schema(path)


def _run_seed(url: str, statements: list[Statement]) -> None:
    with shadow.connect(url, autocommit=False) as conn:
        for st in statements:
            try:
                conn.execute(st.text.encode(), prepare=False)
            except psycopg.Error as e:
                conn.rollback()
                raise SchemaError(f"the seed failed, none of it was applied: "
                                  f"{e.diag.message_primary or e}", file=st.span.file,
                                  line=st.span.line, column=st.span.column,
                                  hint=e.diag.message_hint) from None
        conn.commit()


# -- export -----------------------------------------------------------------------------------


def export(cfg: Config, *, idempotent: bool = False) -> str:
    """The whole schema as one SQL script in dependency order; ``idempotent``: safe to run
    any number of times, and it completes a partial install (INSTALL.sql)."""
    return export_script(cfg, idempotent=idempotent)[0]


def export_script(cfg: Config, *, idempotent: bool = False) -> tuple[str, tuple[str, ...]]:
    """``export``, with the schema reader's warnings."""
    scratch = _scratch_target(cfg)
    source = read_source(cfg)
    desired = desired_and_notes(cfg, scratch, source.statements, source,
                                installed=_configured_extensions(cfg))[0]
    if idempotent:
        # An extension's version only where the schema writes one: the shadow's installed
        # version may not exist where the script runs.
        desired = _managed_extensions(desired, source.statements, desired=True)[0]
        return idempotent_script(desired), source.warnings
    # As for a new database: its public schema is already there.
    fresh = Model(schemas={k: v for k, v in desired.schemas.items() if k == ("schema", "public")},
                  server_version=desired.server_version)
    return build_plan(fresh, desired).sql(), source.warnings


# -- rebase -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RebaseResult:
    renamed: tuple[tuple[str, str], ...]  # (old tag, new tag) of each local migration
    written: tuple[Path, ...]  # the files written (to `git add`)
    removed: tuple[Path, ...]
    notes: tuple[str, ...] = ()


def rebase(cfg: Config, *, local: str | None = None) -> RebaseResult:
    """Renumber this branch's migrations after the merged branch's (two branches each added
    migration N): rename them, regenerate their snapshots, the journal and trimtab.sum.

    Nothing is written unless the rebased folder, replayed in a sandboxed shadow, still
    produces the schema file; a local migration the configured database has applied is
    never renumbered (its tracking row would point at a name that no longer exists, and
    migrate would run it again under its new one)."""
    path = Path(cfg.migrations_dir)
    plan = rebase_plan(path, local)
    if plan is None:
        return RebaseResult((), (), ())
    if shared_folder(path):
        raise SchemaError("migrate rebase does not rewrite drizzle-kit's snapshots: this "
                          f"folder has {path / 'meta/_trimtab'}", file=str(path),
                          hint="delete the local migrations and generate them again")
    notes: list[str] = []
    try:
        target = resolve_target(cfg)
        with shadow.connect(target.url) as conn:
            done = tracking.applied(conn)
    except (ConfigError, DatabaseError) as e:
        done = {}
        notes.append(f"not checked whether a database applied the local migrations: {e}")
    applied_here = [m for m in plan.moves if m.old_tag in done]
    if applied_here:
        m = applied_here[0]
        raise SchemaError(
            f"nothing was changed: {m.old_tag} is applied on {target.label}; renumbered to "
            f"{m.new_tag}, migrate would find {m.old_tag} missing and apply it again",
            file=str(path / f"{m.old_tag}.sql"),
            hint="on a development database, undo it first (`trimtab reset --migrations` "
            "after the rebase rebuilds it); a shared database keeps the folder's numbers: "
            "renumber the other branch's migrations instead")
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="trimtab-rebase-") as tmp:
        work = Path(tmp) / "migrations"
        (work / "meta").mkdir(parents=True)
        sql: dict[str, bytes] = {t: (path / f"{t}.sql").read_bytes() for t in plan.merged}
        for m in plan.moves:
            sql[m.new_tag] = (path / f"{m.old_tag}.sql").read_bytes()
        for tag, data in sql.items():
            (work / f"{tag}.sql").write_bytes(data)
        (work / "meta/_journal.json").write_text(rebase_journal_text(plan.journal))
        rebased = read_folder(work)
        source = read_source(cfg)
        scratch = _scratch_target(cfg)
        installed = _configured_extensions(cfg)
        stubs = _target_stubs(cfg, source, rebased)
        models: dict[str, Model] = {}
        names = [m.name for m in rebased.migrations]
        try:
            for mv in plan.moves:
                upto = names[:names.index(mv.new_tag) + 1]
                models[mv.new_tag] = replay(rebased, scratch.url, cfg.managed_schemas,
                                            only=upto, timeout=cfg.shadow_timeout,
                                            installed=installed, stubs=stubs)
        except SchemaError as e:
            raise SchemaError(
                "nothing was changed: after the merged migrations, the local one does not "
                f"run: {e.message}", file=str(path / f"{mv.old_tag}.sql"), line=e.line,
                hint="both branches changed the same objects: delete the local migration "
                f"{mv.old_tag} (and its journal entry) and run `trimtab generate` on top of "
                "the merged folder") from None
        desired, where = desired_and_notes(cfg, scratch, source.statements, source,
                                           installed=installed, stubs=stubs)
        produced = models[plan.moves[-1].new_tag]
        managed, desired, _ = _scoped(cfg, desired, produced)
        left = build_plan(_managed_extensions(within(produced, managed),
                                              source.statements)[0], desired)
        if left:
            raise SchemaError(
                "nothing was changed: the rebased migrations do not produce the schema file; "
                "still to do: " + "; ".join(s.change.describe() for s in left.steps),
                file=str(path / f"{plan.moves[0].old_tag}.sql"),
                hint="the branches' migrations conflict (or the merged schema file needs "
                "more): fix the schema file's merge, or delete the local migrations and run "
                "`trimtab generate` on top of the merged folder")
        notes += where
        shutil.rmtree(work / "meta")

    # The snapshots: the merged branch's as they are, the local ones regenerated and
    # chained after the last merged one.
    files: list[tuple[Path, bytes]] = []
    resolved = dict(plan.resolved)
    written_snapshots: set[Path] = set()
    prev_id = ZERO_ID
    for tag in plan.merged:
        p = snapshot_file(path, tag)
        if p in resolved:
            files.append((p, resolved[p].encode()))
        if p.is_file():
            text = resolved.get(p) or read_source_file(p, strip_bom=False)
            prev_id = snapshot_id(text, str(p))
            written_snapshots.add(p)
    for mv in plan.moves:
        old = snapshot_file(path, mv.old_tag)
        had = old.is_file() and old not in written_snapshots or old in resolved
        if not had:
            continue
        model = desired if mv is plan.moves[-1] else models[mv.new_tag]
        new_id = str(uuid.uuid4())
        p = snapshot_file(path, mv.new_tag)
        files.append((p, dump_snapshot(model, id=new_id, prev_id=prev_id).encode()))
        written_snapshots.add(p)
        prev_id = new_id
    for mv in plan.moves:
        files.append((path / f"{mv.new_tag}.sql", (path / f"{mv.old_tag}.sql").read_bytes()))
    files.append((path / "meta/_journal.json", rebase_journal_text(plan.journal).encode()))
    files.append((sum_path(path), sum_text(replace(
        rebased, migrations=tuple(replace(m, path=path / m.path.name)
                                  for m in rebased.migrations))).encode()))
    write_files(files)
    removed = []
    for mv in plan.moves:
        for p in (path / f"{mv.old_tag}.sql", snapshot_file(path, mv.old_tag)):
            if p not in written_snapshots and p.exists() and p not in [f for f, _ in files]:
                p.unlink()
                removed.append(p)
    return RebaseResult(tuple((m.old_tag, m.new_tag) for m in plan.moves),
                        tuple(f for f, _ in files), tuple(removed), tuple(notes))


def migrate_fleet(cfg: Config, *, targets_file: Path | None = None, dry_run: bool = False,
                  concurrency: int | None = None, on_error: str | None = None,
                  on_event: Callable[[str, str], None] | None = None) -> FleetResult:
    """``migrate`` on every target of the fleet (migrations/fleet.py says how)."""
    from trimtab.migrations import fleet

    return fleet.migrate_fleet(cfg, fleet.resolve_targets(cfg, targets_file), dry_run=dry_run,
                               concurrency=concurrency, on_error=on_error, on_event=on_event)


def status_fleet(cfg: Config, *, targets_file: Path | None = None,
                 concurrency: int | None = None) -> tuple[TargetStatus, ...]:
    """Each fleet target's applied / pending / drift."""
    from trimtab.migrations import fleet

    return fleet.status_fleet(cfg, fleet.resolve_targets(cfg, targets_file),
                              concurrency=concurrency)
