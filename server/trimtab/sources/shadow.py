"""The canonical desired model: the schema file applied to a scratch database, introspected.

PostgreSQL rewrites what it stores (types, defaults, checks, view bodies...), so the desired
side of a diff comes from the catalog too, read by the same code as the live database.
The scratch ("shadow") database lives on the same server as the target by default, so
that both sides are rendered by the same PostgreSQL version.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import psycopg
from psycopg import sql

from trimtab.errors import DatabaseError, SchemaError, ShadowUnavailable
from trimtab.model import Model
from trimtab.sources.introspect import introspect
from trimtab.sources.sqlfile import Statement, locate

CONNECT_TIMEOUT = 5


def connect(url: str, autocommit: bool = True) -> psycopg.Connection:
    """A connection with the timeouts every trimtab command uses; a clear error if not."""
    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT,
                               prepare_threshold=None)
    except (psycopg.OperationalError, psycopg.ProgrammingError) as e:
        from trimtab.config import redact, scrub

        # libpq's message may quote the connection string, or a piece of it
        raise DatabaseError(
            f"cannot connect to {redact(url) or 'the database'}: "
            f"{scrub(str(e).strip().splitlines()[0] if str(e).strip() else str(e), url)}",
            hint="check the URL, that the server runs and accepts connections "
                 "(DATABASE_URL, --url, or trimtab.toml)",
        ) from None


# pg_advisory_lock key, on the admin database: see one_build_at_a_time.
_BUILD_LOCK = 0x7472696D746162  # "trimtab"


@contextmanager
def one_build_at_a_time(admin: psycopg.Connection) -> Iterator[None]:
    """Hold the server's build lock (on ``admin``, an autocommit connection to the admin
    database): two large schemas created at once, such as the shadow and the migrations
    replay of a cold cache, overflow PostgreSQL's shared lock table at its default size
    (max_locks_per_transaction = 64), while one alone fits."""
    admin.execute("SELECT pg_advisory_lock(%s)", (_BUILD_LOCK,))
    try:
        yield
    finally:
        if not admin.closed:
            admin.execute("SELECT pg_advisory_unlock(%s)", (_BUILD_LOCK,))


@contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """Create an empty database on the server of ``admin_url``; drop it afterwards. The
    server's build lock is held meanwhile (see one_build_at_a_time)."""
    name = f"trimtab_shadow_{os.getpid()}_{secrets.token_hex(4)}"
    with connect(admin_url) as admin, one_build_at_a_time(admin):
        try:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.Error as e:
            raise ShadowUnavailable(
                f"cannot create a shadow database: {e.diag.message_primary or e}",
                hint="grant CREATEDB to this role, or set shadow_database_url in trimtab.toml",
            ) from None
        try:
            yield psycopg.conninfo.make_conninfo(admin_url, dbname=name)
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def apply_statements(conn: psycopg.Connection, statements: Sequence[Statement]) -> None:
    """Run the schema's statements one by one; the first one PostgreSQL rejects becomes a
    SchemaError at its file, line and column."""
    for st in statements:
        try:
            conn.execute(st.text.encode(), prepare=False)  # type: ignore[arg-type]
        except psycopg.Error as e:
            raise _schema_error(st, e) from None


def _apply_script(conn: psycopg.Connection, statements: Sequence[Statement]) -> bool:
    """The fast way: the whole file in one round trip (simple query protocol, one implicit
    transaction). False when PostgreSQL rejects it."""
    if not statements:
        return True
    try:
        conn.execute(";\n".join(s.text for s in statements).encode(),  # type: ignore[arg-type]
                     prepare=False)
    except psycopg.Error:
        return False
    return True


def _schema_error(st: Statement, e: psycopg.Error) -> SchemaError:
    diag = e.diag
    message = diag.message_primary or str(e).strip()
    position = int(diag.statement_position) if diag.statement_position else None
    if position is None:
        position = _mentioned_at(st.text, message)
    span = locate(st, position)
    if diag.message_detail:
        message += f" ({diag.message_detail})"
    if st.object_key:
        obj = f"{st.object_key[0]} {'.'.join(st.object_key[1:3])}"
    else:
        obj = " ".join(st.text.split()[:3])
    return SchemaError(f"PostgreSQL rejects this statement: {message}", file=span.file,
                       line=span.line, column=span.column, obj=obj, hint=diag.message_hint)


def _mentioned_at(text: str, message: str) -> int | None:
    """Some errors carry no position ('relation "x" does not exist' from REFERENCES):
    point at the first place the statement names the object the message quotes."""
    m = re.search(r'"([^"]+)"', message)
    if not m:
        return None
    name = m.group(1).rsplit(".", 1)[-1]
    hit = re.search(rf'(?<![\w"]){re.escape(name)}(?![\w"])|"{re.escape(name)}"', text,
                    re.IGNORECASE)
    return hit.start() + 1 if hit else None


def desired_model(statements: Sequence[Statement], admin_url: str,
                  schemas: Sequence[str] | None = None) -> Model:
    """Apply ``statements`` to a fresh scratch database on ``admin_url``'s server and read
    the result back."""
    with scratch_database(admin_url) as url, connect(url) as conn:
        if _apply_script(conn, statements):
            return introspect(conn, schemas)
    # Rejected, or it needs statements that cannot run in a transaction block (CREATE INDEX
    # CONCURRENTLY): again in a clean database, one statement at a time, to say which.
    with scratch_database(admin_url) as url, connect(url) as conn:
        apply_statements(conn, statements)
        return introspect(conn, schemas)
