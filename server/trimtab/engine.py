"""The operations users run. They return result objects and raise TrimtabError; they never
print and never prompt (a caller that wants to ask passes a ``consent`` callback)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

from trimtab import embedded
from trimtab.config import Config, pooler_warning, redact
from trimtab.errors import ConsentRequired, PlanError, SchemaError, ShadowUnavailable
from trimtab.model import Model
from trimtab.plan import Kind, Plan, Step, build_plan
from trimtab.sources import shadow
from trimtab.sources.introspect import introspect
from trimtab.sources.sqlfile import META_COMMAND, Statement, read_schema

Consent = Callable[[Plan], bool]


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


def resolve_target(cfg: Config) -> Target:
    """The configured database, or the project's embedded server when none is."""
    if cfg.database_url is None:
        url = embedded.ensure_database(cfg.root)
        return Target(url, f"embedded PostgreSQL in {embedded.data_dir(cfg.root)} "
                           f"(database trimtab; set DATABASE_URL to use another)", True)
    label = f"{redact(cfg.database_url) or 'PG* environment'} (from {cfg.database_url_source})"
    warning = pooler_warning(cfg.database_url)
    return Target(cfg.database_url, label, False, (warning,) if warning else ())


# pg_dump 17.6+/18 wraps its output in these psql commands; they only guard psql itself.
_PG_DUMP_GUARDS = ("\\restrict", "\\unrestrict")


def read_desired_statements(cfg: Config) -> list[Statement]:
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


def desired_model(cfg: Config, target: Target, statements: list[Statement]) -> Model:
    """The schema file's canonical model, from a shadow database on the target's server
    (same version, same rendering), else on the configured or embedded shadow server."""
    if cfg.shadow_database_url:
        return shadow.desired_model(statements, cfg.shadow_database_url, cfg.managed_schemas)
    try:
        return shadow.desired_model(statements, target.url, cfg.managed_schemas)
    except ShadowUnavailable:
        if target.embedded:
            raise
    # No CREATEDB on the target's server: the embedded server hosts the shadow instead.
    return shadow.desired_model(statements, embedded.start(cfg.root), cfg.managed_schemas)


def push(cfg: Config, *, dry_run: bool = False, consent: Consent | None = None,
         force: bool = False) -> PushResult:
    """Make the target database match the schema file, in one transaction.

    The plan is computed inside the same transaction that applies it, so what the caller
    agreed to is exactly what runs. A plan that loses data needs ``force`` or a
    ``consent`` callback that says yes; otherwise ConsentRequired and nothing applied.
    """
    target = resolve_target(cfg)
    desired = desired_model(cfg, target, read_desired_statements(cfg))
    with shadow.connect(target.url, autocommit=False) as conn:
        current = introspect(conn, cfg.managed_schemas)
        plan = build_plan(current, desired)
        notes = _version_notes(current, desired)
        if not plan or dry_run:
            conn.rollback()
            return PushResult(plan, target, False, notes=notes)
        if plan.data_loss and not force and not (consent and consent(plan)):
            conn.rollback()
            raise ConsentRequired(
                "nothing was applied: the plan loses data\n" + "".join(
                    f"  - {s.change.describe()}\n" for s in plan.data_loss),
                hint="Re-run with --force to apply it, or change the schema file.",
            )
        started = time.perf_counter()
        notes += _apply(conn, plan)
    return PushResult(plan, target, True, time.perf_counter() - started, notes)


def _version_notes(current: Model, desired: Model) -> tuple[str, ...]:
    if current.server_version // 10000 == desired.server_version // 10000:
        return ()
    return (f"the shadow database runs PostgreSQL {desired.server_version // 10000}, the "
            f"target {current.server_version // 10000}: some definitions may differ only in "
            "how each version prints them; set shadow_database_url to a server of the "
            "target's version",)


def _apply(conn: psycopg.Connection, plan: Plan) -> tuple[str, ...]:
    """Run the plan in the connection's open transaction and commit; roll back on error."""
    try:
        _run_steps(conn, plan.steps)
        conn.commit()
        return ()
    except psycopg.errors.UnsafeNewEnumValueUsage:
        conn.rollback()
    # A new enum value cannot be used in the transaction that adds it: add the values
    # first (additive, harmless if the rest fails), then the rest in one transaction.
    first = [s for s in plan.steps if s.change.kind == Kind.ADD_ENUM_VALUE]
    rest = [s for s in plan.steps if s.change.kind != Kind.ADD_ENUM_VALUE]
    _run_steps(conn, first)
    conn.commit()
    _run_steps(conn, rest)
    conn.commit()
    return (f"added {len(first)} enum value(s) in a transaction of their own: PostgreSQL "
            "cannot use a new enum value in the transaction that adds it",)


def _run_steps(conn: psycopg.Connection, steps: list[Step] | tuple[Step, ...]) -> None:
    # Function bodies may reference tables created later in the plan (as pg_dump does).
    conn.execute("SET LOCAL check_function_bodies = off")
    for step in steps:
        for statement in step.sql:
            try:
                conn.execute(statement.encode(), prepare=False)  # type: ignore[arg-type]
            except psycopg.errors.UnsafeNewEnumValueUsage:
                raise
            except psycopg.Error as e:
                conn.rollback()
                diag = e.diag
                detail = f" ({diag.message_detail})" if diag.message_detail else ""
                raise PlanError(
                    f"{step.change.describe()} failed, nothing was applied: "
                    f"{diag.message_primary or e}{detail}\n  statement: {statement}",
                    obj=".".join(step.change.target[1:]),
                    hint=diag.message_hint,
                ) from None
