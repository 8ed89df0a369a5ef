"""The whole schema as an install script that is safe to run any number of times.

``trimtab export --idempotent`` writes it. It is the creation plan of the desired schema
(``build_plan`` from an empty database, so in dependency order), with every statement
rewritten into a form that does nothing when its object already exists:

- ``CREATE SCHEMA / SEQUENCE / TABLE / INDEX / MATERIALIZED VIEW IF NOT EXISTS`` (extensions
  already render that way), ``ADD COLUMN IF NOT EXISTS``, ``ADD VALUE IF NOT EXISTS``;
- ``CREATE OR REPLACE`` for views, functions (they render so already) and, from
  PostgreSQL 14, triggers;
- statements with neither form (types, domains, constraints, policies, constraint
  triggers, partitions attached) run inside a ``DO`` block that swallows exactly the error
  PostgreSQL raises when the object is already there (checked on 15 and 18):

  ======================================== ===========================================
  statement                                condition
  ======================================== ===========================================
  CREATE TYPE / DOMAIN / POLICY / TRIGGER  duplicate_object (42710)
  ADD CONSTRAINT ... CHECK / FOREIGN KEY   duplicate_object (42710)
  ADD CONSTRAINT ... UNIQUE / EXCLUDE      duplicate_table (42P07): its index exists
  ADD CONSTRAINT ... PRIMARY KEY           invalid_table_definition (42P16): "multiple
                                           primary keys" is checked before the name
  ALTER TABLE ... INHERIT                  duplicate_table (42P07)
  ALTER TABLE ... ATTACH PARTITION         wrong_object_type (42809): already a partition
  ======================================== ===========================================

Everything else a creation plan holds (comments, grants, ``ENABLE ROW LEVEL SECURITY``,
``OWNED BY``, column storage, ``CLUSTER ON``...) sets a state and is idempotent as it is.
The script never drops anything: an object that exists with another definition is left
as it is (views, functions and triggers excepted: they are replaced).

Pure: no I/O.
"""

from __future__ import annotations

import re

from trimtab.model import Function, Model
from trimtab.plan import build_plan
from trimtab.plan.changes import (
    AddColumn,
    AddConstraint,
    AddEnumValue,
    AlterColumn,
    AlterTable,
    AlterTrigger,
    AttachIndex,
    AttachPartition,
    Change,
    CreateCollation,
    CreateExtension,
    CreateFunction,
    CreateIndex,
    CreatePolicy,
    CreateSchema,
    CreateSequence,
    CreateTable,
    CreateTrigger,
    CreateType,
    CreateView,
    GrantPrivilege,
    ReplaceFunction,
    ReplaceView,
    RevokePrivilege,
    SetCluster,
    SetComment,
    SetSequenceOwner,
    Step,
    ValidateConstraint,
)

__all__ = ["idempotent_script", "idempotent_sql", "UnsupportedChange"]


class UnsupportedChange(ValueError):
    """A change an install script cannot carry (a drop, a rename...): never part of the
    creation plan of a schema."""


# What a creation plan (empty database -> desired schema) is made of.
_CREATION = (
    CreateSchema,
    CreateExtension,
    CreateCollation,
    CreateType,
    AddEnumValue,
    CreateSequence,
    SetSequenceOwner,
    CreateFunction,
    ReplaceFunction,
    CreateTable,
    AlterTable,
    AttachPartition,
    AddColumn,
    AlterColumn,
    AddConstraint,
    ValidateConstraint,
    CreateIndex,
    AttachIndex,
    CreateView,
    ReplaceView,
    CreateTrigger,
    AlterTrigger,
    CreatePolicy,
    SetComment,
    GrantPrivilege,
    RevokePrivilege,
    SetCluster,
)

# Statement heads that get IF NOT EXISTS after their keywords. Anchored at the start and
# made of keywords only: the object's name (quoted or not) always follows them.
_IF_NOT_EXISTS = re.compile(
    r"^(CREATE (?:SCHEMA|(?:UNLOGGED )?SEQUENCE|(?:UNLOGGED )?TABLE|(?:UNIQUE )?INDEX"
    r"|MATERIALIZED VIEW|EXTENSION|COLLATION)) "
)
_ALREADY_SAFE = (
    "CREATE EXTENSION IF NOT EXISTS ",
    "CREATE OR REPLACE ",
    "COMMENT ON ",
    "GRANT ",
    "REVOKE ",
)
_SETTINGS = ("ALTER TABLE ", "ALTER SEQUENCE ", "ALTER VIEW ", "ALTER INDEX ",
             "ALTER MATERIALIZED VIEW ")

# PostgreSQL's error when the constraint is already there, by constraint kind.
_CONSTRAINT_CONDITION = {
    "p": "invalid_table_definition",
    "u": "duplicate_table",
    "x": "duplicate_table",
    "c": "duplicate_object",
    "f": "duplicate_object",
}


def idempotent_script(desired: Model, *, header: str | None = None) -> str:
    """The whole ``desired`` schema as a script that is safe to run any number of times,
    on an empty, a complete or a partially installed database (with psql, or any client
    that runs statements one after the other).

    ``header``: extra lines for the comment at the top (where the schema came from...).
    """
    version = desired.server_version or 180000
    plan = build_plan(Model(server_version=desired.server_version), desired)
    lines = [
        "-- The whole database schema, as an install script generated by trimtab.",
        "-- Safe to run any number of times: every statement does nothing when its object",
        "-- already exists (IF NOT EXISTS, CREATE OR REPLACE, or a DO block that ignores the",
        "-- \"already exists\" error), so it also completes a partial install. It never",
        "-- drops anything, and leaves an existing object with another definition as it is",
        "-- (views, functions and triggers excepted: they are replaced).",
        f"-- Objects in dependency order; written for PostgreSQL {version // 10000}.",
        "-- Run it with: psql -v ON_ERROR_STOP=1 -f <this file>",
    ]
    if plan.unmanaged:
        lines.append("-- Not included (trimtab does not manage them): "
                     + _one_line(", ".join(plan.unmanaged)))
    if header:
        lines += [f"-- {_one_line(line)}".rstrip() for line in header.splitlines()]
    out = ["\n".join(lines), "",
           "SET check_function_bodies = off;",
           "SET client_min_messages = warning;",
           ""]
    for step in plan.steps:
        statements = idempotent_sql(step, version)
        if not statements:
            continue
        out.append(f"-- {_one_line(_label(step.change))}")
        for statement in statements:
            out += [f"{statement};", ""]
    return "\n".join(out) + "\n"


def idempotent_sql(step: Step, server_version: int = 180000) -> list[str]:
    """The statements of one creation step, each a no-op when its object exists."""
    ch = step.change
    if not isinstance(ch, _CREATION):
        raise UnsupportedChange(f"an install script only creates: cannot carry "
                                f"{_label(ch)}")
    return [_statement(ch, sql, server_version) for sql in step.sql]


def _statement(ch: Change, sql: str, version: int) -> str:
    if sql.startswith("DROP "):
        # A creation step never drops (_alter_policy would, but never runs from empty).
        raise UnsupportedChange(f"an install script never drops: {_label(ch)}")
    if sql.startswith(_ALREADY_SAFE):
        return sql
    m = _IF_NOT_EXISTS.match(sql)
    if m:
        return f"{m.group(1)} IF NOT EXISTS {sql[m.end():]}"
    if sql.startswith("CREATE VIEW "):
        return "CREATE OR REPLACE VIEW " + sql.removeprefix("CREATE VIEW ")
    if sql.startswith("CREATE TRIGGER ") and version >= 140000:
        return "CREATE OR REPLACE TRIGGER " + sql.removeprefix("CREATE TRIGGER ")
    if sql.startswith(("CREATE TYPE ", "CREATE DOMAIN ", "CREATE POLICY ", "CREATE TRIGGER ",
                       "CREATE CONSTRAINT TRIGGER ")):
        # CREATE OR REPLACE CONSTRAINT TRIGGER is not supported (0A000).
        return _guarded(sql, "duplicate_object")
    if isinstance(ch, AddConstraint):
        return _guarded(sql, _CONSTRAINT_CONDITION.get(ch.after.kind, "duplicate_object"))
    if isinstance(ch, AddColumn):
        head = f"ALTER TABLE {ch.parent.sql_name} ADD COLUMN "
        if sql.startswith(head):
            return f"{head}IF NOT EXISTS {sql[len(head):]}"
    if isinstance(ch, AddEnumValue):
        head = f"ALTER TYPE {ch.after.sql_name} ADD VALUE "
        if sql.startswith(head):
            return f"{head}IF NOT EXISTS {sql[len(head):]}"
    if isinstance(ch, AttachPartition):
        t = ch.after
        if sql.startswith(f"ALTER TABLE {t.sql_name} INHERIT "):
            return _guarded(sql, "duplicate_table")
        return _guarded(sql, "wrong_object_type")
    if sql.startswith(_SETTINGS):
        # Settings: ENABLE ROW LEVEL SECURITY, SET DEFAULT, SET STORAGE, OWNED BY,
        # CLUSTER ON, ENABLE / DISABLE TRIGGER... the same state however often they run.
        return sql
    raise UnsupportedChange(f"no idempotent form for: {sql.splitlines()[0]}")


def _guarded(sql: str, condition: str) -> str:
    """Run ``sql`` in a DO block that ignores ``condition``."""
    tag = _dollar_tag(sql)
    return (f"DO {tag} BEGIN\n{sql};\nEXCEPTION WHEN {condition} THEN NULL;\nEND {tag}")


def _dollar_tag(text: str) -> str:
    """A dollar-quote tag that does not occur in ``text``."""
    tag, n = "$trimtab$", 0
    while tag in text:
        n += 1
        tag = f"$trimtab{n}$"
    return tag


def _label(ch: Change) -> str:
    if isinstance(ch, (GrantPrivilege, RevokePrivilege)):
        g = ch.grant
        _, kind, name, *column = ch.target
        on = f"{kind.lower()} {name}" + (f" ({column[0]})" if column else "")
        to = "to" if isinstance(ch, GrantPrivilege) else "from"
        return f"{ch.kind.value} {g.privilege} on {on} {to} {g.grantee}"
    if ch.target[0] == "function":  # "create function s.f(a integer)", not describe()'s dots
        f = ch.subject
        assert isinstance(f, Function)
        verb = ch.kind.value.split("_", 1)[0]
        return f"{verb} {f.kind_sql.lower()} {f.schema}.{f.name}({f.identity_args})"
    return ch.describe()


def _one_line(text: str) -> str:
    """Text for a -- comment: a name with a line break must not end the comment."""
    return " ".join(text.splitlines())
