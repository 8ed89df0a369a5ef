"""The canonical desired model: the schema file applied to a scratch database, introspected.

PostgreSQL rewrites what it stores (types, defaults, checks, view bodies...), so the desired
side of a diff comes from the catalog too, read by the same code as the live database.
The scratch ("shadow") database lives on the same server as the target by default, so
that both sides are rendered by the same PostgreSQL version.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import re
import secrets
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from trimtab.errors import Cancelled, DatabaseError, SchemaError, ShadowUnavailable
from trimtab.model import Model, qname, quote_ident, quote_literal
from trimtab.sources import fingerprint, plpgsql
from trimtab.sources.introspect import introspect
from trimtab.sources.sqlfile import Span, Statement, locate
from trimtab.sqltext import lex_uncached

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


# -- the sandbox ----------------------------------------------------------------------------
#
# A schema file is code from a repository, and the shadow runs it before anyone reviews it.
# So the shadow is built by a role of its own that owns the scratch database and nothing
# else: no superuser, no CREATEROLE / CREATEDB / REPLICATION / BYPASSRLS, member of no role
# (so no pg_execute_server_program, pg_read_server_files...), and only trusted extensions
# (no dblink or postgres_fdw, which need a superuser to create). It logs in with a password
# made for each connection, so nobody else learns one that lasts. Its statements run under
# timeouts set on the role (they hold when the client dies) and on each connection, and a
# watchdog in this process cancels what outlives them.

SANDBOX_ROLE = fingerprint.SANDBOX_ROLE  # (defined there: the no-op record leaves it out)
SHADOW_PREFIX = "trimtab_shadow_"
DEFAULT_TIMEOUT = 30.0  # seconds one statement may run in the shadow
_LOGIN_ATTEMPTS = 8
_UNSAFE_ATTRIBUTES = ("rolsuper", "rolcreaterole", "rolcreatedb", "rolreplication",
                      "rolbypassrls")


def _timeouts(timeout: float, version: int) -> dict[str, str]:
    ms = max(1, int(timeout * 1000))
    out = {"statement_timeout": f"{ms}", "lock_timeout": f"{min(ms, 10_000)}",
           "idle_in_transaction_session_timeout": f"{max(ms, 60_000)}"}
    if version >= 140000:  # a backend whose client died stops within seconds
        out["client_connection_check_interval"] = "2000"
    return out


def _retrying(run: Callable[[], object], attempts: int = 5) -> None:
    """Run a change to the sandbox role, again when another trimtab changed the same
    catalog row at the same moment ("tuple concurrently updated")."""
    for attempt in range(attempts):
        try:
            run()
            return
        except psycopg.errors.InternalError_ as e:
            if "concurrently" not in str(e) or attempt + 1 == attempts:
                raise
            time.sleep(random.uniform(0, 0.02 * (attempt + 1)))


def _ensure_role(admin: psycopg.Connection, timeout: float) -> None:
    """Create the sandbox role, or check the one there is still a sandbox; make the admin
    role able to drop its databases. ShadowUnavailable when it cannot be had."""
    row = admin.execute(
        "SELECT " + ", ".join(_UNSAFE_ATTRIBUTES) + ", "
        "EXISTS (SELECT FROM pg_auth_members WHERE member = r.oid), NOT rolinherit "
        "FROM pg_roles r WHERE rolname = %s", (SANDBOX_ROLE,)).fetchone()
    version = admin.info.server_version
    try:
        if row is None:
            try:
                admin.execute(sql.SQL(
                    "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                    "NOBYPASSRLS INHERIT CONNECTION LIMIT 64").format(
                        sql.Identifier(SANDBOX_ROLE)))
            except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
                pass  # another trimtab made it meanwhile (UniqueViolation: at the same moment)
            else:
                for name, value in _timeouts(timeout, version).items():
                    admin.execute(sql.SQL("ALTER ROLE {} SET {} = {}").format(
                        sql.Identifier(SANDBOX_ROLE), sql.Identifier(name),
                        sql.Literal(value)))
        elif any(row[:-1]):
            raise ShadowUnavailable(
                f"the role {SANDBOX_ROLE} on this server has privileges beyond its own "
                "databases (superuser, CREATEROLE, CREATEDB, REPLICATION, BYPASSRLS or "
                "membership of another role), so it cannot sandbox the shadow",
                hint=f"drop the role {SANDBOX_ROLE} (trimtab creates it again) or revoke them")
        elif row[-1]:
            # As the owner of its database it holds pg_database_owner's rights on the
            # public schema (PostgreSQL 15+), which only an inheriting role receives.
            _retrying(lambda: admin.execute(
                sql.SQL("ALTER ROLE {} INHERIT").format(sql.Identifier(SANDBOX_ROLE))))
        if not admin.execute("SELECT pg_has_role(current_user, %s, 'USAGE')",
                             (SANDBOX_ROLE,)).fetchone()[0]:  # type: ignore[index]
            grant = "GRANT {} TO CURRENT_USER" + (
                " WITH INHERIT TRUE, SET TRUE" if version >= 160000 else "")
            _retrying(lambda: admin.execute(sql.SQL(grant).format(
                sql.Identifier(SANDBOX_ROLE))))
    except psycopg.Error as e:
        raise ShadowUnavailable(
            f"cannot set up the sandbox role {SANDBOX_ROLE}: "
            f"{e.diag.message_primary or e}",
            hint="the shadow runs the schema file as a role that cannot leave its "
                 "database; grant CREATEROLE to this role, or set shadow_database_url") \
            from None


class _Scope:
    """The sandbox connections one piece of work opened (see ``cancellable``)."""

    def __init__(self) -> None:
        self.connections: weakref.WeakSet[psycopg.Connection] = weakref.WeakSet()
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
        for conn in list(self.connections):
            with contextlib.suppress(Exception):
                conn.cancel_safe()


_SCOPE: ContextVar[_Scope | None] = ContextVar("trimtab_shadow_scope", default=None)
_EVERY = _Scope()  # every sandbox connection of this process


@contextmanager
def cancellable() -> Iterator[Callable[[], None]]:
    """Run shadow work under a scope that the caller can cancel: what the sandbox runs now
    is cancelled, and it opens no connection afterwards. Threads started inside (asyncio's
    ``to_thread`` copies the context) belong to the scope."""
    scope = _Scope()
    token = _SCOPE.set(scope)
    try:
        yield scope.cancel
    finally:
        _SCOPE.reset(token)


def cancel_running() -> None:
    """Cancel every statement the sandbox runs for this process (a language server that
    exits must not wait for, nor leave behind, a statement that never ends)."""
    _EVERY.cancel()


class Sandbox:
    """The sandbox on one server: an admin connection (autocommit), which creates and drops
    scratch databases owned by the sandbox role, and logs the role into them."""

    def __init__(self, admin: psycopg.Connection, admin_url: str,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.admin = admin
        self.admin_url = admin_url
        self.timeout = timeout
        self.owner: str = admin.execute("SELECT current_user").fetchone()[0]  # type: ignore[index]

    def create_database(self, name: str) -> None:
        try:
            self.admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(SANDBOX_ROLE)))
        except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            # Not a missing privilege: another trimtab created it between our look and our
            # CREATE (one whose lock this run could not see: shadowcache.LOCK_DATABASE).
            raise ShadowUnavailable(
                f"cannot create the shadow database {name}: another trimtab process on this "
                "server created it at the same time",
                hint="run the command again; to keep runs on different databases of one "
                     "server apart, let this role connect to the database postgres",
            ) from None
        except psycopg.Error as e:
            raise ShadowUnavailable(
                f"cannot create a shadow database: {e.diag.message_primary or e}",
                hint="grant CREATEDB to this role, or set shadow_database_url in trimtab.toml",
            ) from None

    def drop_database(self, name: str) -> None:
        """Drop it, ending whatever still runs there (a statement the watchdog could not
        stop, a client that died)."""
        self.admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))

    def connect(self, dbname: str, autocommit: bool = True) -> psycopg.Connection:
        """A connection to ``dbname`` as the sandbox role, with its timeouts."""
        scope = _SCOPE.get()
        if _EVERY.cancelled or (scope is not None and scope.cancelled):
            raise Cancelled("the shadow's work was cancelled")
        version = self.admin.info.server_version
        options = " ".join(f"-c {k}={v}" for k, v in _timeouts(self.timeout, version).items())
        # Function bodies are checked as they are created (the default, which a server's or
        # role's setting may have turned off): their errors are the schema's errors.
        options += " -c check_function_bodies=on"
        base = psycopg.conninfo.conninfo_to_dict(self.admin_url)
        if base.get("options"):
            options = f"{base['options']} {options}"
        # One password for the role, set just before each login: another trimtab (another
        # project's, on another database, where no advisory lock reaches) may set its own in
        # between, and then this login is tried again with a new one.
        for attempt in range(_LOGIN_ATTEMPTS):
            password = secrets.token_urlsafe(24)
            hashed = self.admin.pgconn.encrypt_password(password.encode(), SANDBOX_ROLE.encode())
            _retrying(lambda h=hashed: self.admin.execute(  # type: ignore[misc]
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(SANDBOX_ROLE),
                                                            sql.Literal(h.decode()))))
            url = psycopg.conninfo.make_conninfo(self.admin_url, dbname=dbname,
                                                 user=SANDBOX_ROLE, password=password,
                                                 options=options)
            try:
                conn = psycopg.connect(url, autocommit=autocommit,
                                       connect_timeout=CONNECT_TIMEOUT, prepare_threshold=None)
                break
            except psycopg.OperationalError as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else str(e)
                if "password authentication failed" in first and attempt + 1 < _LOGIN_ATTEMPTS:
                    time.sleep(random.uniform(0, 0.02 * (attempt + 1)))
                    continue
                raise ShadowUnavailable(
                    f"the sandbox role {SANDBOX_ROLE} cannot log in to this server: "
                    f"{_without_password(first, password)}",
                    hint=f"allow {SANDBOX_ROLE} to log in with a password (pg_hba.conf), "
                         "or set shadow_database_url") from None
        for registry in (_EVERY, scope):
            if registry is not None:
                registry.connections.add(conn)
        # Grants to the role that owns the objects on the target are no grants there.
        conn.execute("SELECT set_config('trimtab.owner', %s, false)", (self.owner,))
        if not autocommit:
            conn.commit()
        return conn


def _without_password(text: str, password: str) -> str:
    return text.replace(password, "********")


@contextmanager
def sandbox(admin_url: str, timeout: float = DEFAULT_TIMEOUT) -> Iterator[Sandbox]:
    """The sandbox on ``admin_url``'s server (ShadowUnavailable where it cannot be had)."""
    with connect(admin_url) as admin:
        _ensure_role(admin, timeout)
        yield Sandbox(admin, admin_url, timeout)


@contextmanager
def watchdog(conn: psycopg.Connection, seconds: float) -> Iterator[None]:
    """Cancel what ``conn`` runs once ``seconds`` have passed: the server's timeouts can be
    lifted by code the statements run (set_config in a function), this cannot."""
    timer = threading.Timer(seconds, conn.cancel_safe)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def watchdog_seconds(timeout: float, statements: int) -> float:
    """How long a whole apply may take: every statement its full timeout would be far too
    long to wait; the slowest real schemas take well under a tenth of a second each."""
    return timeout * 2 + 0.1 * statements


LEAKED_AFTER = 24 * 3600  # seconds: a scratch database of another machine's run


def _stamp(box: Sandbox, name: str) -> None:
    """Record who made a scratch database, so that a later run can tell a leaked one from
    one in use (advisory locks cannot: they belong to one database, and runs for other
    projects connect to others)."""
    stamp = {"host": socket.gethostname(), "pid": os.getpid(), "at": int(time.time())}
    box.admin.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
        sql.Identifier(name), sql.Literal(json.dumps(stamp))))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def is_leaked(comment: str | None, connections: int, now: float, name: str = "") -> bool:
    """A scratch database whose run is over: made on this machine by a process that is
    gone, or elsewhere a day ago and unused."""
    try:
        stamp = json.loads(comment or "")
        host, pid, at = stamp["host"], int(stamp["pid"]), float(stamp["at"])
    except (ValueError, KeyError, TypeError):
        # Not stamped: a run's database between its CREATE and its stamp (the build lock is
        # per database, so a run on another database of this server does not wait), or one
        # of an older version. The name carries the creator's pid: alive here, in use.
        made_by = re.match(rf"{SHADOW_PREFIX}(\d+)_", name)
        return connections == 0 and not (made_by and _alive(int(made_by.group(1))))
    if host == socket.gethostname():
        return not _alive(pid)
    return connections == 0 and now - at > LEAKED_AFTER


def drop_leaked(box: Sandbox) -> list[str]:
    """Drop the scratch databases that runs which died left behind."""
    rows = box.admin.execute(
        "SELECT d.datname, pg_catalog.shobj_description(d.oid, 'pg_database'), "
        "(SELECT count(*) FROM pg_catalog.pg_stat_activity a WHERE a.datid = d.oid) "
        "FROM pg_catalog.pg_database d WHERE starts_with(d.datname, %s)",
        (SHADOW_PREFIX,)).fetchall()
    now = time.time()
    dropped = []
    for name, comment, connections in rows:
        if is_leaked(comment, connections, now, name):
            with contextlib.suppress(psycopg.Error):
                box.drop_database(name)
                dropped.append(name)
    return dropped


# -- extensions the sandbox may not create -------------------------------------------------
#
# A role that is not a superuser creates only *trusted* extensions; pgvector, PostGIS and
# many others are not. The admin role creates those in the fresh scratch database before the
# sandbox has run anything there: an extension's script runs with the creator's privileges,
# and objects planted beforehand in its schema could capture its calls. Extensions whose
# purpose is to reach outside the database are never created.

REACH_OUTSIDE = frozenset({
    "dblink", "postgres_fdw", "file_fdw", "adminpack", "plpython3u", "plpythonu",
    "plpython2u", "plperlu", "pltclu", "pljava", "pg_net", "http", "aws_s3", "aws_lambda",
    "log_fdw", "mysql_fdw", "oracle_fdw", "tds_fdw", "mongo_fdw", "redis_fdw", "multicorn",
    "pg_cron", "pg_background", "dblink_fdw",
})
_NAME = r'(?:"(?:[^"]|"")*"|[^\W\d][\w$]*)'
_CREATE_EXTENSION = re.compile(
    rf"(\s*create\s+extension\s+)(if\s+not\s+exists\s+)?({_NAME})(?:\s+with)?"
    rf"(?:\s+schema\s+({_NAME}))?(?:\s+version\s+({_NAME}|'(?:[^']|'')*'))?(?:\s+cascade)?\s*",
    re.I)
_COMMENT_EXTENSION = re.compile(
    rf"\s*comment\s+on\s+extension\s+({_NAME})\s+is\s+('(?:[^']|'')*'|null)\s*", re.I)
_CREATE_SCHEMA = re.compile(rf"(\s*create\s+schema\s+)(if\s+not\s+exists\s+)?({_NAME})(.*)",
                            re.I | re.S)


def _ident(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()


@dataclass(frozen=True)
class Extension:
    """An extension the admin creates in a fresh scratch database for the sandbox."""

    name: str
    schema: str | None
    version: str | None  # as written: an identifier or a quoted literal
    commented: bool = False  # the schema comments on it (only its owner may)
    comment: str | None = None
    # The target's own, which the schema need not declare: its version when the server
    # has it, else the server's default.
    installed: bool = False


# Never created for a schema that does not declare them: plpgsql is in every database.
_NOT_FOR_THE_SHADOW = frozenset({"plpgsql"})


def installed_extensions(conn: psycopg.Connection) -> list[Extension]:
    """The extensions installed in ``conn``'s database (in the order they were created, so
    that one another needs comes first), as the shadow gets them before the schema runs:
    types, functions and operator classes a schema may use without CREATE EXTENSION.
    Those that reach outside the database are left out, as everywhere in the shadow."""
    rows = conn.execute(
        "SELECT x.extname::text, n.nspname::text, x.extversion FROM pg_catalog.pg_extension x "
        "JOIN pg_catalog.pg_namespace n ON n.oid = x.extnamespace ORDER BY x.oid").fetchall()
    return [Extension(name, schema, "'" + version.replace("'", "''") + "'", installed=True)
            for name, schema, version in rows
            if name not in _NOT_FOR_THE_SHADOW and not _reaches_outside(name)]


def _reaches_outside(name: str) -> bool:
    return name in REACH_OUTSIDE or name.endswith("_fdw")


def declared_extensions(statements: Sequence[Statement]) -> dict[str, str | None]:
    """The extensions ``statements`` create: name -> the version they write (unquoted), or
    None when they leave it to the server."""
    out: dict[str, str | None] = {}
    for st in statements:
        if m := _CREATE_EXTENSION.fullmatch(st.text):
            out[_ident(m.group(3))] = _unquote(m.group(5)) if m.group(5) else None
    return out


def declared_schemas(statements: Sequence[Statement]) -> set[str]:
    """The schemas ``statements`` create."""
    return {s for st in statements if (s := _declared_schema(st)) is not None}


def _declared_schema(st: Statement) -> str | None:
    """The schema ``st`` creates, if it is a CREATE SCHEMA."""
    m = _CREATE_SCHEMA.fullmatch(st.text)
    return _ident(m.group(3)) if m else None


def _unquote(version: str) -> str:
    return version[1:-1].replace("''", "'") if version.startswith("'") else _ident(version)


T = TypeVar("T")


def extensions_first(admin: psycopg.Connection, statements: Sequence[T],
                     installed: Sequence[Extension] = ()
                     ) -> tuple[list[Extension], list[T], list[tuple[int, str]]]:
    """Which extensions the admin must create first (those of ``statements`` the server
    will not let the sandbox create, and the target's ``installed`` ones), the statements
    rewritten to expect them (``IF NOT EXISTS``), and (index, name) of those that reach
    outside the database. An installed extension the statements create is created as
    they write it."""
    found = [(i, m) for i, st in enumerate(statements)
             if (m := _CREATE_EXTENSION.fullmatch(st.text))]  # type: ignore[attr-defined]
    if not found and not installed:
        return [], list(statements), []
    ours = {e.name for e in installed}
    names = sorted({_ident(m.group(3)) for _, m in found})
    sandboxed: dict[str, bool] = dict(admin.execute(
        "SELECT name, bool_or(trusted OR NOT superuser) FROM pg_available_extension_versions "
        "WHERE name = ANY(%s) GROUP BY name", (names,)).fetchall()) if names else {}
    first: list[Extension] = []
    outside: list[tuple[int, str]] = []
    out = list(statements)
    for i, m in found:
        name = _ident(m.group(3))
        if name in ours:
            ours.discard(name)  # created first as the schema writes it
        elif name not in sandboxed or sandboxed[name]:
            continue  # unknown to the server (PostgreSQL will say so), or the sandbox's own
        if _reaches_outside(name):
            outside.append((i, name))
            continue
        first.append(Extension(name, _ident(m.group(4)) if m.group(4) else None, m.group(5)))
        if not m.group(2):
            text = out[i].text  # type: ignore[attr-defined]
            out[i] = dataclasses.replace(  # type: ignore[type-var]
                out[i], text=m.group(1) + "IF NOT EXISTS " + text[m.end(1):])
    first += [e for e in installed if e.name in ours]
    schemas = {e.schema for e in first if e.schema}
    by_name = {e.name: k for k, e in enumerate(first)}
    for i, st in enumerate(out):
        text = st.text  # type: ignore[attr-defined]
        if (m := _CREATE_SCHEMA.fullmatch(text)) and not m.group(2) and \
                _ident(m.group(3)) in schemas:
            out[i] = dataclasses.replace(  # type: ignore[type-var]
                st, text=m.group(1) + "IF NOT EXISTS " + text[m.end(1):])
        elif (m := _COMMENT_EXTENSION.fullmatch(text)) and _ident(m.group(1)) in by_name:
            # Only the extension's owner may comment on it: the admin does, with it.
            k = by_name[_ident(m.group(1))]
            comment = None if m.group(2).lower() == "null" else \
                m.group(2)[1:-1].replace("''", "'")
            first[k] = dataclasses.replace(first[k], commented=True, comment=comment)
            out[i] = dataclasses.replace(st, text="SELECT 1")  # type: ignore[type-var]
    return first, out, outside


def create_extensions(box: Sandbox, dbname: str, extensions: Sequence[Extension]) -> None:
    """Create ``extensions`` in ``dbname`` as the admin role; call it before the sandbox
    runs anything there."""
    if not extensions:
        return
    url = psycopg.conninfo.make_conninfo(box.admin_url, dbname=dbname)
    with connect(url) as conn:
        for e in extensions:
            if e.schema:
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(
                    sql.Identifier(e.schema), sql.Identifier(SANDBOX_ROLE)))
            query = sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(e.name))
            if e.schema:
                query = sql.SQL("{} SCHEMA {}").format(query, sql.Identifier(e.schema))
            versioned = query
            if e.version:
                versioned = sql.SQL("{} VERSION {}").format(
                    query, sql.Literal(_unquote(e.version)))
            try:
                conn.execute(sql.SQL("{} CASCADE").format(versioned))
            except psycopg.Error:
                # Not here, or not this version: the sandbox's own CREATE EXTENSION will
                # meet the same error at its line. The target's own: the server's default
                # version will do, or nothing (a statement that needs it will say so).
                if not (e.installed and e.version):
                    continue
                try:
                    conn.execute(sql.SQL("{} CASCADE").format(query))
                except psycopg.Error:
                    continue
            if e.commented:
                conn.execute(sql.SQL("COMMENT ON EXTENSION {} IS {}").format(
                    sql.Identifier(e.name), sql.Literal(e.comment)))


@contextmanager
def scratch_connection(admin_url: str, timeout: float = DEFAULT_TIMEOUT,
                       extensions: Sequence[Extension] = ()) -> Iterator[psycopg.Connection]:
    """A connection, as the sandbox role, to an empty database created for it on
    ``admin_url``'s server (with ``extensions`` created first); the database is dropped
    afterwards, whatever happens. The server's build lock is held meanwhile (see
    one_build_at_a_time)."""
    name = f"{SHADOW_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
    with sandbox(admin_url, timeout) as box, one_build_at_a_time(box.admin):
        drop_leaked(box)
        box.create_database(name)
        try:
            _stamp(box, name)
            create_extensions(box, name, extensions)
            with box.connect(name) as conn:
                yield conn
        finally:
            box.drop_database(name)


def apply_statements(conn: psycopg.Connection, statements: Sequence[Statement],
                     timeout: float = DEFAULT_TIMEOUT) -> None:
    """Run the schema's statements one by one; the first one PostgreSQL rejects becomes a
    SchemaError at its file, line and column."""
    for st in statements:
        try:
            with watchdog(conn, watchdog_seconds(timeout, 1)):
                conn.execute(st.text.encode(), prepare=False)
        except psycopg.Error as e:
            raise _schema_error_or_timeout(st, e, timeout) from None


def apply_script(conn: psycopg.Connection, statements: Sequence[Statement],
                 timeout: float = DEFAULT_TIMEOUT) -> None:
    """The fast way: the whole file in one round trip (simple query protocol, one implicit
    transaction, or the connection's open one), under the watchdog."""
    if not statements:
        return
    with watchdog(conn, watchdog_seconds(timeout, len(statements))):
        conn.execute(";\n".join(s.text for s in statements).encode(),
                     prepare=False)


def _schema_error_or_timeout(st: Statement, e: psycopg.Error, timeout: float,
                             shift: int = 0) -> SchemaError:
    if isinstance(e, psycopg.errors.QueryCanceled):
        return SchemaError(
            f"this statement ran longer than the shadow allows ({timeout:g} s) and was "
            "stopped", file=st.span.file, line=st.span.line, column=st.span.column,
            obj=" ".join(st.text.split()[:4]),
            hint="the shadow only builds schema objects; a statement that runs this long "
                 "runs code when applied (shadow_timeout in trimtab.toml sets the limit)")
    return _schema_error(st, e, shift)


def _schema_error(st: Statement, e: psycopg.Error, shift: int = 0) -> SchemaError:
    """``shift``: characters sent before the statement's text (a PREPARE's head)."""
    diag = e.diag
    message = diag.message_primary or str(e).strip()
    position = int(diag.statement_position) - shift if diag.statement_position else None
    if position is None:  # inside a function's body: its position there, or its line
        position = plpgsql.body_position(st.text, diag.internal_position, diag.context)
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


_PREPARE = "PREPARE trimtab_query AS "


def check_queries(conn: psycopg.Connection, statements: Sequence[Statement],
                  timeout: float = DEFAULT_TIMEOUT) -> list[SchemaError]:
    """Type-check each query against the schema ``conn``'s database holds: PREPARE it
    (parse analysis only: nothing of it runs) in a transaction rolled back, and
    deallocate it; what PostgreSQL rejects, at the statement's file, line and column."""
    out = []
    for st in statements:
        try:
            with watchdog(conn, watchdog_seconds(timeout, 1)):
                conn.execute("BEGIN")
                conn.execute((_PREPARE + st.text).encode(), prepare=False)
        except psycopg.Error as e:
            out.append(_schema_error_or_timeout(st, e, timeout, len(_PREPARE)))
        finally:
            conn.execute("ROLLBACK")
            conn.execute("DEALLOCATE ALL")  # a prepared statement outlives its transaction
    return out


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


def schema_extensions(admin_url: str, statements: Sequence[Statement],
                      installed: Sequence[Extension] = ()
                      ) -> tuple[list[Extension], list[Statement]]:
    """The extensions the admin creates first (the schema's that the sandbox may not
    create, and the target's ``installed`` ones), and the statements that expect them;
    SchemaError for one of the schema's that reaches outside the database."""
    if not installed and not any(_CREATE_EXTENSION.fullmatch(st.text) for st in statements):
        return [], list(statements)
    with connect(admin_url) as admin:
        first, out, outside = extensions_first(admin, statements, installed)
    if outside:
        i, name = outside[0]
        span = statements[i].span
        raise SchemaError(
            f"the extension {name} reaches outside the database: trimtab does not create it "
            "in the sandboxed shadow", file=span.file, line=span.line, column=span.column,
            obj=f"extension {name}",
            hint="set shadow_database_url to a server where it may run, or keep it out of "
                 "the schema file")
    return first, out


def desired_model(statements: Sequence[Statement], admin_url: str,
                  schemas: Sequence[str] | None = None,
                  timeout: float = DEFAULT_TIMEOUT,
                  installed: Sequence[Extension] = (),
                  stubs: Sequence[Stub] = ()) -> Model:
    """Apply ``statements`` (vetted: see sources/vet.py) to a fresh scratch database on
    ``admin_url``'s server, in the sandbox (with the target's ``installed`` extensions
    created first, and the ``stubs`` the statements refer to), and read the result back,
    without the stubs."""
    extensions, statements = schema_extensions(admin_url, statements, installed)
    statements = [*stub_statements(stubs), *statements] if stubs else statements
    return without_stubs(_applied_model(admin_url, statements, extensions, schemas,
                                        timeout), stubs)


def _applied_model(admin_url: str, statements: Sequence[Statement],
                   extensions: Sequence[Extension], schemas: Sequence[str] | None,
                   timeout: float) -> Model:
    with scratch_connection(admin_url, timeout, extensions) as conn:
        try:
            apply_script(conn, statements, timeout)
        except psycopg.Error:
            pass
        else:
            return introspect(conn, schemas)
    # Rejected, or it needs statements that cannot run in a transaction block (CREATE INDEX
    # CONCURRENTLY): again in a clean database, one statement at a time, to say which.
    with scratch_connection(admin_url, timeout, extensions) as conn:
        apply_statements(conn, statements, timeout)
        return introspect(conn, schemas)


# -- objects of schemas the source does not manage ------------------------------------------
#
# A schema file may refer to what a platform keeps in a schema of its own (Supabase's
# auth.users, for a foreign key); the sandbox has no such thing. Before the file runs, the
# shadow gets a stub of each such table (its columns of plain types and its keys, which a
# reference needs) and enum, read from the target's catalog: trimtab writes their DDL from
# names and labels, every one quoted; nothing of the target's (defaults, checks, bodies) is
# run. The stubs are the sandbox's statements like the file's, and left out of the model.

_STUB_FILE = "<the target database>"
_NEVER_STUBBED = frozenset({"pg_catalog", "information_schema"})


@dataclass(frozen=True)
class Stub:
    """A table (its columns and keys) or an enum (its labels) of a schema the source does
    not manage, as the target has it."""

    kind: str  # "table", "enum" or "function"
    schema: str
    name: str
    columns: tuple[tuple[str, str, str], ...] = ()  # (name, type's schema, type's name)
    primary_key: tuple[str, ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()
    labels: tuple[str, ...] = ()
    arguments: tuple[str, ...] = ()  # a function's: built-in type names
    returns: str = ""  # a function's built-in result type


@dataclass(frozen=True)
class _Mention:
    schema: str
    name: str
    statement: Statement
    position: int  # 1-based, in the statement's text
    referenced: bool  # the table of a REFERENCES clause: it must exist


# A statement's qualified names: (schema, name, 1-based position, named by REFERENCES).
Mentions = tuple[tuple[str, str, int, bool], ...]


def statement_mentions(text: str) -> Mentions:
    """Every qualified name ``text`` writes, whatever its schema (the last part of a.b.c
    is not one)."""
    if "." not in text:
        return ()
    # Not kept (lex's memo): the scan lexes each text once, and the 53,000 statements of
    # a 10,000-table first migration filled the memo's 8 MiB for nothing.
    toks = lex_uncached(text).toks
    out = []
    for i in range(len(toks) - 2):
        a, dot, b = toks[i], toks[i + 1], toks[i + 2]
        if dot[:2] != ("O", ".") or a[0] not in "WQ" or b[0] not in "WQ":
            continue
        if i > 0 and toks[i - 1][:2] == ("O", "."):
            continue  # the middle of a.b.c
        referenced = i > 0 and toks[i - 1][0] == "W" and toks[i - 1][1] == "references"
        out.append((a[1], b[1], a[2] + 1, referenced))
    return tuple(out)


def _mentions(statements: Iterable[Statement], own: set[str],
              mentions_of: Callable[[str], Mentions] = statement_mentions) -> list[_Mention]:
    """The qualified names ``statements`` write whose schema is not in ``own``."""
    return [_Mention(schema, name, st, position, referenced)
            for st in statements
            for schema, name, position, referenced in mentions_of(st.text)
            if schema not in own and schema not in _NEVER_STUBBED]


def own_schemas(statements: Iterable[Statement], managed: Sequence[str] | None) -> set[str]:
    """The schemas the source creates, puts objects in, or ``managed`` names: never
    stubbed (what is there is the source's to declare). One pass over ``statements``."""
    own = set(managed or ()) | {"public"}
    for st in statements:
        if (schema := _declared_schema(st)) is not None:
            own.add(schema)
        if st.object_key and len(st.object_key) > 2:
            own.add(st.object_key[1])
    return own


_STUB_TABLES = """
SELECT n.nspname::text, c.relname::text,
  (SELECT coalesce(json_agg(json_build_array(a.attname::text, tn.nspname::text,
                                             t.typname::text, t.typtype::text,
                                             EXISTS (SELECT FROM pg_depend d
                                                     WHERE d.classid = 'pg_type'::regclass
                                                       AND d.objid = t.oid
                                                       AND d.deptype = 'e'))
                             ORDER BY a.attnum), '[]')
   FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
   JOIN pg_namespace tn ON tn.oid = t.typnamespace
   WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
  (SELECT coalesce(json_agg(json_build_array(x.indisprimary,
          (SELECT json_agg(a.attname::text ORDER BY k.ord)
           FROM unnest(x.indkey) WITH ORDINALITY k(attnum, ord)
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum))
          ORDER BY x.indisprimary DESC, x.indexrelid), '[]')
   FROM pg_index x WHERE x.indrelid = c.oid AND x.indisunique AND x.indpred IS NULL
     AND x.indexprs IS NULL AND 0 <> ALL (x.indkey::int2[]))
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm')
  AND (n.nspname::text, c.relname::text) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
"""

_STUB_ENUMS = """
SELECT n.nspname::text, t.typname::text,
       array(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid
             ORDER BY e.enumsortorder)
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype = 'e'
  AND (n.nspname::text, t.typname::text) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
"""


# Functions a policy or a default calls (Supabase's auth.uid()): their signature only, when
# it is made of built-in types, with a body that returns NULL; the target's body never runs.
_STUB_FUNCTIONS = """
SELECT n.nspname::text, p.proname::text,
  (SELECT coalesce(json_agg(json_build_array(tn.nspname::text, t.typname::text)
                            ORDER BY a.k), '[]')
   FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY a(oid, k)
   JOIN pg_type t ON t.oid = a.oid JOIN pg_namespace tn ON tn.oid = t.typnamespace),
  rn.nspname::text, rt.typname::text
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_type rt ON rt.oid = p.prorettype JOIN pg_namespace rn ON rn.oid = rt.typnamespace
WHERE p.prokind = 'f' AND NOT p.proretset AND rt.typtype <> 'p'
  AND (n.nspname::text, p.proname::text) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
"""


@dataclass(frozen=True)
class Scan:
    """What ``read_stubs`` learns from the statements' text alone (no database): the
    source's own schemas, the names it writes in others, and the REFERENCES clauses of the
    schema's statements among them (their index and position, for an error). A function of
    the texts and the managed schemas: kept between runs (shadowcache.scan)."""

    own: frozenset[str]
    names: tuple[tuple[str, str], ...]  # (schema, name), sorted
    references: tuple[tuple[int, str, str, int], ...]  # (statement, schema, name, position)


def scan(statements: Sequence[Statement], managed: Sequence[str] | None,
         more: Sequence[Statement] | Callable[[], Iterable[Statement]] = (),
         mentions_of: Callable[[str], Mentions] = statement_mentions) -> Scan:
    """The qualified names ``statements`` and ``more`` write outside their own schemas.
    ``more``: the statements, or a function that makes them, called once per pass (the
    53,000 statements of a 10,000-table first migration are then made one at a time, never
    all held at once). ``mentions_of``: statement_mentions, or one that remembers them by
    text."""
    def every() -> Iterator[Statement]:
        yield from statements
        yield from (more() if callable(more) else more)

    own = own_schemas(every(), managed)
    mentions = _mentions(every(), own, mentions_of)
    index = {id(st): i for i, st in enumerate(statements)}
    refs = tuple((index[id(m.statement)], m.schema, m.name, m.position) for m in mentions
                 if m.referenced and id(m.statement) in index)
    return Scan(frozenset(own), tuple(sorted({(m.schema, m.name) for m in mentions})), refs)


def read_stubs(conn: psycopg.Connection | None, statements: Sequence[Statement],
               managed: Sequence[str] | None, where: str = "the target database",
               more: Sequence[Statement] = (), scanned: Scan | None = None) -> list[Stub]:
    """The tables and enums of schemas the source does not manage that ``statements``
    (and ``more``: the migrations', for their replay) name, as ``conn``'s database has
    them (None: there is none to read). SchemaError at the REFERENCES clause of
    ``statements`` whose table is not there. ``scanned``: ``scan`` of the same
    statements, when known already."""
    found = scanned if scanned is not None else scan(statements, managed, more)
    own = set(found.own)
    if not found.names:
        return []
    pairs = found.names
    tables: dict[tuple[str, str], Any] = {}
    enums: dict[tuple[str, str], list[str]] = {}
    if conn is not None:
        args = ([p[0] for p in pairs], [p[1] for p in pairs])
        tables = {(r[0], r[1]): r for r in conn.execute(_STUB_TABLES, args)}
        enums = {(r[0], r[1]): r[2] for r in conn.execute(_STUB_ENUMS, args)}
        functions = [Stub("function", r[0], r[1], arguments=tuple(t for _, t in r[2]),
                          returns=r[4])
                     for r in conn.execute(_STUB_FUNCTIONS, args)
                     if r[3] == "pg_catalog" and all(ts == "pg_catalog" for ts, _ in r[2])]
    else:
        functions = []
    for i, schema, name, position in found.references:
        if (schema, name) not in tables:
            span = locate(statements[i], position)
            raise SchemaError(
                f"{qname(schema, name)} is outside the managed schemas and "
                f"{where} has no such table", file=span.file, line=span.line,
                column=span.column, obj=f"table {schema}.{name}",
                hint=f"schema {schema} is not managed by trimtab: it reads the tables a "
                     "foreign key needs there from the database (DATABASE_URL or --url); "
                     f"create it there, declare it in the schema file, or list {schema} "
                     "in `schemas` to manage it")
    stubs = [Stub("enum", s, n, labels=tuple(labels)) for (s, n), labels in enums.items()]
    stubs += functions
    for (schema, name), row in sorted(tables.items()):
        columns = []
        for col, tschema, tname, ttype, of_extension in row[2]:
            if ttype == "e" and tschema not in own:
                if (tschema, tname) not in enums:
                    enums[(tschema, tname)] = []
                    stubs += [Stub("enum", tschema, tname, labels=tuple(r[2])) for r in
                              conn.execute(_STUB_ENUMS, ([tschema], [tname]))]  # type: ignore[union-attr]
            elif tschema != "pg_catalog" and not of_extension:
                continue  # a domain, a composite, another table's row: not needed for keys
            columns.append((col, tschema, tname))
        have = {c[0] for c in columns}
        keys = [(primary, tuple(cols)) for primary, cols in row[3] if set(cols) <= have]
        stubs.append(Stub("table", schema, name, tuple(columns),
                          next((k for p, k in keys if p), ()),
                          tuple(k for p, k in keys if not p)))
    return sorted(stubs, key=lambda s: (s.kind != "enum", s.schema, s.name))


def stub_statements(stubs: Sequence[Stub]) -> list[Statement]:
    """The stubs' DDL, for the sandbox to run before the schema's statements."""
    texts = [f"CREATE SCHEMA IF NOT EXISTS {quote_ident(s)}"
             for s in sorted({s.schema for s in stubs})]
    for s in stubs:
        if s.kind == "enum":
            texts.append(f"CREATE TYPE {qname(s.schema, s.name)} AS ENUM ("
                         + ", ".join(quote_literal(label) for label in s.labels) + ")")
            continue
        if s.kind == "function":
            result = qname("pg_catalog", s.returns)
            texts.append(f"CREATE FUNCTION {qname(s.schema, s.name)}("
                         + ", ".join(qname("pg_catalog", t) for t in s.arguments)
                         + f") RETURNS {result} LANGUAGE sql AS "
                         + quote_literal(f"SELECT NULL::{result}"))
            continue
        parts = [f"{quote_ident(c)} {qname(ts, tn)}" for c, ts, tn in s.columns]
        if s.primary_key:
            parts.append("PRIMARY KEY (" + ", ".join(map(quote_ident, s.primary_key)) + ")")
        parts += ["UNIQUE (" + ", ".join(map(quote_ident, k)) + ")" for k in s.unique]
        texts.append(f"CREATE TABLE {qname(s.schema, s.name)} (" + ", ".join(parts) + ")")
    span = Span(_STUB_FILE, 1, 1, 1, 1, 0, 0)
    return [Statement(t, span, "", None) for t in texts]


def without_stubs(model: Model, stubs: Sequence[Stub]) -> Model:
    """``model`` without the schemas that hold stubs (the source has nothing there)."""
    gone = {s.schema for s in stubs}
    if not gone:
        return model
    return model.with_(
        schemas={k: v for k, v in model.schemas.items() if k[1] not in gone},
        **{f: {k: v for k, v in getattr(model, f).items() if k[1] not in gone}
           for f in ("types", "sequences", "tables", "views", "functions")})
