"""plpgsql_check, where the server has it: what CREATE FUNCTION leaves unchecked in a
PL/pgSQL body (a table or column that does not exist, a record field, a wrong number of
INTO targets), found by the extension's static checker in the shadow database, where the
schema was just built. Nothing of a function runs: plpgsql_check only plans the body's
statements. Each problem is placed at its line of the body in the schema file."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from trimtab.sources import plpgsql
from trimtab.sources.shadow import Extension
from trimtab.sources.sqlfile import Span, Statement, sub_span

EXTENSION = "plpgsql_check"
# Its own schema in the shadow, so that none of its functions meets a name of the schema's.
EXTENSION_SCHEMA = "trimtab_plpgsql_check"

_LANGUAGE = re.compile(r"""\bLANGUAGE\s+(?:plpgsql\b|'plpgsql'|"plpgsql")""", re.I)

# plpgsql_check's levels, as diagnostics: an error fails when the function runs.
_SEVERITY = {"error": "error", "warning": "warning", "warning extra": "info",
             "performance": "info", "security": "warning"}

_FUNCTIONS = """
SELECT n.nspname::text, p.proname::text, pg_catalog.pg_get_function_identity_arguments(p.oid),
       p.oid, p.prorettype = 'pg_catalog.trigger'::pg_catalog.regtype,
       p.prorettype = 'pg_catalog.event_trigger'::pg_catalog.regtype,
       (SELECT min(g.tgrelid::oid) FROM pg_catalog.pg_trigger g WHERE g.tgfoid = p.oid)
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
JOIN pg_catalog.pg_language l ON l.oid = p.prolang
WHERE l.lanname = 'plpgsql'
"""


@dataclass(frozen=True)
class BodyProblem:
    span: Span
    severity: str  # "error", "warning" or "info"
    message: str
    function: str  # schema.name(arguments)


def extension() -> Extension:
    """The extension as the shadow's admin creates it, before the schema runs."""
    return Extension(EXTENSION, EXTENSION_SCHEMA, None)


def available(admin: psycopg.Connection) -> bool:
    """Whether the server can create plpgsql_check (installed with its packages)."""
    return admin.execute("SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = %s",
                         (EXTENSION,)).fetchone() is not None


def installed_in(conn: psycopg.Connection) -> str | None:
    """The schema the extension is in, in ``conn``'s database; None when the admin could
    not create it (it needs a superuser). The target's own copy, which the shadow gets
    first, may be elsewhere than EXTENSION_SCHEMA."""
    row = conn.execute("SELECT x.extnamespace::pg_catalog.regnamespace::text "
                       "FROM pg_catalog.pg_extension x WHERE x.extname = %s",
                       (EXTENSION,)).fetchone()
    return row[0] if row else None


def plpgsql_functions(statements: Sequence[Statement]) -> dict[tuple[str, ...], Statement]:
    """The statements of ``statements`` that declare a PL/pgSQL function, by model key."""
    out = {}
    for st in statements:
        key = st.object_key
        if key is not None and key[0] == "function" and st.span.file.endswith(".sql") \
                and plpgsql.body_offsets(st.text) and _is_plpgsql(st.text):
            out[key] = st
    return out


def _is_plpgsql(text: str) -> bool:
    """LANGUAGE plpgsql outside the body (a body may mention the word)."""
    offsets = plpgsql.body_offsets(text) or [0]
    head = text[:offsets[0]] + " " + text[offsets[-1] + 1:]
    return _LANGUAGE.search(head) is not None


def check(conn: psycopg.Connection, statements: Sequence[Statement],
          schema: str = EXTENSION_SCHEMA) -> list[BodyProblem]:
    """Each PL/pgSQL function the ``statements`` declare, checked in ``conn``'s database
    (where they were applied, with the extension in ``schema``). A trigger function
    is checked against the first table whose trigger calls it; one no trigger calls is
    left out (its NEW and OLD have no table), as are event trigger functions."""
    wanted = plpgsql_functions(statements)
    if not wanted:
        return []
    out: list[BodyProblem] = []
    rows = conn.execute(_FUNCTIONS).fetchall()
    fn = sql.Identifier(schema, "plpgsql_check_function_tb")
    query = sql.SQL("SELECT lineno, message, detail, hint, level FROM {}(%s::oid::regprocedure, "
                    "%s::oid::regclass, fatal_errors => false)").format(fn)
    for schema, name, args, oid, trigger, event, relid in rows:
        st = wanted.get(("function", schema, name, args))
        if st is None or event or (trigger and relid is None):
            continue
        label = f"{schema}.{name}({args})"
        for lineno, message, detail, hint, level in conn.execute(
                query, (oid, relid or 0)).fetchall():
            text = message + (f" ({detail})" if detail else "") + (f"\n{hint}" if hint else "")
            out.append(BodyProblem(_where(st, lineno), _SEVERITY.get(level, "warning"),
                                   text, label))
    return out


def _where(st: Statement, lineno: int | None) -> Span:
    """The body line's text, from its first token to its end; the statement's head when
    the checker names no line."""
    position = plpgsql.line_position(st.text, lineno) if lineno else None
    if position is None:
        return st.span
    start = position - 1
    end = st.text.find("\n", start)
    end = len(st.text) if end < 0 else end
    return sub_span(st, start, max(end, start + 1))
