"""A no-op push that costs one query: the catalog fingerprint.

push's plan is a function of the schema files, the configuration, trimtab's own code and
the target's catalogs (the data only sizes hazards, and a no-op has none). So when a push
found nothing to do, the project keeps a record of all four in ``.trimtab/``; the next
push that finds the same four says "Nothing to do" without introspecting the database or
building the shadow. A mismatch, an unreadable record or any error means the full path.

The catalogs are summed, not read: every row of every catalog DDL writes, as its place
and the transaction that wrote it (``ctid``, ``xmin``). DDL never edits a catalog row in
place: it writes a new version (a new ``xmin``), inserts or deletes rows, so any DDL in
the database changes the sum. The few in-place updates PostgreSQL makes (VACUUM's
statistics, the index state flags of CREATE/DROP INDEX CONCURRENTLY) are left out, or
summed by content (``pg_index``'s flags). Unrelated DDL (another schema, a temporary
table) also changes it: that costs a full push, never a wrong answer.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

import trimtab
from trimtab.config import check_url, pooler_warning, redact
from trimtab.errors import FileWriteError
from trimtab.files import write_file
from trimtab.state import STATE_DIR, prepare

if TYPE_CHECKING:
    from trimtab.config import Config

# Every catalog of the database that DDL writes and any role may read. Left out:
# pg_statistic and pg_statistic_ext_data (ANALYZE writes them: data, not schema),
# pg_largeobject(_metadata) (data), pg_user_mapping (superusers only).
CATALOGS = (
    "pg_aggregate", "pg_am", "pg_amop", "pg_amproc", "pg_attrdef", "pg_attribute",
    "pg_cast", "pg_class", "pg_collation", "pg_constraint", "pg_conversion",
    "pg_default_acl", "pg_depend", "pg_description", "pg_enum", "pg_event_trigger",
    "pg_extension", "pg_foreign_data_wrapper", "pg_foreign_server", "pg_foreign_table",
    "pg_inherits", "pg_init_privs", "pg_language", "pg_namespace", "pg_opclass",
    "pg_operator", "pg_opfamily", "pg_partitioned_table", "pg_policy", "pg_proc",
    "pg_publication", "pg_publication_rel", "pg_range", "pg_rewrite", "pg_seclabel",
    "pg_sequence", "pg_statistic_ext", "pg_transform", "pg_trigger", "pg_ts_config",
    "pg_ts_config_map", "pg_ts_dict", "pg_ts_parser", "pg_ts_template", "pg_type",
)

# The shadow's sandbox role (shadow.py takes it from here: the recorded no-op loads no
# shadow code).
SANDBOX_ROLE = "trimtab_sandbox"
_SANDBOX = f"coalesce(to_regrole('{SANDBOX_ROLE}')::oid, 0)"

# A row's hash, summed per catalog: order-free, and one changed row changes the sum.
_ROW = "hashtextextended(ctid::text || xmin::text{extra}, 0)::numeric"


def _part(name: str, row: str, where: str = "") -> str:
    return f"SELECT '{name}' AS c, count(*) AS n, sum({row}) AS h FROM {name}{where}"


def _query() -> str:
    parts = [_part(c, _ROW.format(extra="")) for c in CATALOGS]
    parts += [
        # Concurrent index builds and drops set these flags in place (no new xmin).
        _part("pg_index", _ROW.format(
            extra=" || indisvalid::text || indisready::text || indislive::text")),
        # Shared catalogs: this database's rows only (others' shadow databases come and go).
        _part("pg_database", _ROW.format(extra=" || oid::text"),
              " WHERE datname = current_database()"),
        _part("pg_db_role_setting", _ROW.format(extra=""),
              " WHERE setdatabase IN (0, (SELECT oid FROM pg_database"
              " WHERE datname = current_database()))"
              " AND setrole IN (0, (SELECT oid FROM pg_roles WHERE rolname = current_user))"),
        _part("pg_shdescription", _ROW.format(extra=""),
              " WHERE objoid = (SELECT oid FROM pg_database"
              " WHERE datname = current_database())"),
        # Not the shadow's sandbox role: the first shadow on a server creates it (and
        # grants it to the admin) after a push took the fingerprint, and it owns nothing
        # in a target database, so nothing a plan reads.
        _part("pg_auth_members", _ROW.format(extra=""),
              f" WHERE roleid <> {_SANDBOX} AND member <> {_SANDBOX}"),
        # pg_authid is for superusers; a renamed role renames every grant to it.
        _part("pg_roles", "hashtextextended(oid::text || ':' || rolname, 0)::numeric",
              f" WHERE rolname <> '{SANDBOX_ROLE}'"),
    ]
    settings = ", ".join(f"current_setting('{s}')" for s in _SETTINGS)
    parts.append(f"SELECT 'settings', 0, hashtextextended(concat_ws(',', {settings}, "
                 "current_user, session_user, current_database()), 0)::numeric")
    return "\nUNION ALL ".join(parts) + "\nORDER BY 1"


# What else shapes what introspection reads back: how names are qualified and values shown.
_SETTINGS = ("server_version_num", "server_encoding", "search_path",
             "default_table_access_method", "default_tablespace",
             "standard_conforming_strings", "DateStyle", "IntervalStyle", "TimeZone",
             "extra_float_digits", "bytea_output")

QUERY = _query()


def catalog_fingerprint(conn: psycopg.Connection) -> str:
    """One query's digest of the database's catalogs and settings (see the module's
    docstring); another value means a DDL statement (or a setting) changed something."""
    h = hashlib.sha256()
    for row in conn.execute(QUERY):
        h.update(repr(tuple(row)).encode())
    return h.hexdigest()


def code_version() -> str:
    """trimtab's version and its code as installed (an edited checkout counts: the size
    and time of every module), without reading the files."""
    root = Path(trimtab.__file__).parent
    h = hashlib.sha256(trimtab.__version__.encode())
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith(".py"):
                st = os.stat(os.path.join(dirpath, name))
                h.update(f"{dirpath}/{name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def inputs_key(files: Sequence[str], config: str, version: str | None = None) -> str:
    """The schema files' contents, the configuration and the code, as one digest."""
    h = hashlib.sha256(b"trimtab no-op 1\0")
    h.update((version or code_version()).encode() + b"\0")
    h.update(config.encode() + b"\0")
    for f in files:
        data = Path(f).read_bytes()
        h.update(f"{f}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


# -- the record ------------------------------------------------------------------------------


def record_path(root: Path, target: str) -> Path:
    """One record per target database (named by a digest of its URL, password left out)."""
    digest = hashlib.sha256(redact(target).encode()).hexdigest()[:16]
    return root / STATE_DIR / "noop" / f"{digest}.json"


def recall(path: Path, key: str, fingerprint: str) -> dict[str, Any] | None:
    """What the last no-op push said, when it was made from the same inputs and catalogs;
    None otherwise (missing, unreadable or stale record)."""
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not (isinstance(saved, dict) and saved.get("key") == key
            and saved.get("fingerprint") == fingerprint
            and all(isinstance(saved.get(k), list)
                    and all(isinstance(x, str) for x in saved[k])
                    for k in ("notes", "unmanaged"))):
        return None
    return saved


def remember(path: Path, key: str, fingerprint: str, **said: Any) -> None:
    """Record a no-op (a cache: a failure to write only costs the next run)."""
    data = json.dumps({"key": key, "fingerprint": fingerprint, **said})
    with contextlib.suppress(FileWriteError, OSError):
        prepare(path)
        write_file(path, data.encode())


def forget(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


# The tracking tables (migrations.tracking's names, not imported: that module loads the
# migrations code). Which migrations a database applied is in their rows, and a migration
# that only writes data changes no catalog: ``status``'s record sums these rows too.
TRIMTAB_HISTORY = ("trimtab", "migrations")
DRIZZLE_HISTORY = ("drizzle", "__drizzle_migrations")


def history_tables(cfg: Config) -> tuple[tuple[str, str], ...]:
    """trimtab's tracking table and the project's drizzle history table."""
    schema, table = cfg.drizzle_history or (None, None)
    return TRIMTAB_HISTORY, (schema or DRIZZLE_HISTORY[0], table or DRIZZLE_HISTORY[1])


def rows_digest(conn: psycopg.Connection, tables: Sequence[tuple[str, str]]) -> str:
    """A digest of every row of ``tables`` (a missing table counts as missing)."""
    h = hashlib.sha256()
    for schema, table in tables:
        ident = sql.Identifier(schema, table)
        found = conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                             [ident.as_string(conn)]).fetchone()
        row: tuple[Any, ...] | None = None
        if found and found[0]:
            row = conn.execute(sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text),"
                " '')) FROM {} t").format(ident)).fetchone()
        h.update(repr((schema, table, row)).encode())
    return h.hexdigest()


@dataclass(frozen=True)
class Noop:
    """A push's inputs, then (``check``) its catalogs and what the last no-op said.
    ``history``: tables whose rows count as well as the catalogs (``status``'s)."""

    path: Path
    key: str
    fingerprint: str = ""
    said: dict[str, Any] | None = None
    history: tuple[tuple[str, str], ...] = ()

    def check(self, conn: psycopg.Connection) -> Noop:
        """With the catalogs' fingerprint and the record's words when they match; this
        unchanged when the catalogs cannot be read (a role denied one): the full path."""
        try:
            with conn.transaction():  # a savepoint when one is open: the push goes on
                fp = catalog_fingerprint(conn)
                if self.history:
                    fp += ":" + rows_digest(conn, self.history)
        except psycopg.Error:
            return self
        return replace(self, fingerprint=fp, said=recall(self.path, self.key, fp))

    def remember(self, **said: Any) -> None:
        if self.fingerprint:
            remember(self.path, self.key, self.fingerprint, **said)


def inputs(cfg: Config, url: str, files: Sequence[str]) -> Noop | None:
    """The no-op check for a push of ``files`` to ``url``, None where it does not apply:
    a Drizzle schema (its modules and drizzle-orm shape the DDL, not the files named) and
    a shadow on another server (its version shapes the canonical forms), or unreadable
    files (the full path says why)."""
    if cfg.drizzle or cfg.shadow_database_url:
        return None
    return _noop("", cfg, url, files)


def _noop(kind: str, cfg: Config, url: str, files: Sequence[str],
          history: tuple[tuple[str, str], ...] = ()) -> Noop | None:
    """The record of a command (``kind``: "" for push) on ``url`` for ``files`` and
    ``cfg``; None when a file cannot be read (the full path says why)."""
    try:
        # The password left out: the record's digests are of nothing secret.
        key = inputs_key(files, kind + repr(replace(
            cfg, database_url=cfg.database_url and redact(cfg.database_url))))
    except OSError:
        return None
    return Noop(record_path(cfg.root, kind + url), key, history=history)


# -- the recorded no-op before the engine loads -----------------------------------------------
# A no-op push from its record needs the schema files, one connection and one query; the
# engine's imports (planner, migrations, every source reader) would be most of its time.
# So the command line asks here first, and loads the engine only when the record does not
# hold (or does not apply: the embedded server, which the engine starts).


def schema_files(cfg: Config) -> list[str]:
    """The schema's .sql files (or a Drizzle project's .ts files), in the order they are
    read."""
    if cfg.schema_files:
        return [str(p) for p in cfg.schema_files]
    path = cfg.schema_path
    if path.is_dir():
        return [str(p) for p in sorted(path.iterdir(), key=lambda p: p.name)
                if p.suffix.lower() == ".sql" and p.is_file()]
    return [str(path)]


def configured_label(cfg: Config) -> str:
    """The configured database, for people (``engine.target_label``)."""
    return f"{redact(cfg.database_url or '') or 'PG* environment'} (from {cfg.database_url_source})"


# migrations.folder.JOURNAL (not imported: that module loads the SQL reader).
JOURNAL = "meta/_journal.json"


def generate_inputs(cfg: Config, url: str) -> Noop | None:
    """The no-op check of ``generate`` whose shadows are built on ``url``'s database: its
    answer is a function of the schema files, the migrations the folder's journal and
    ``.sql`` files hold, the configuration, the code, and the catalogs of that database
    (its server renders the shadows; its extensions, the tables it stubs and its version
    are read from it). None where that does not hold: a Drizzle schema, a shadow server of
    its own, no caching, or files that cannot be read."""
    if cfg.drizzle or cfg.shadow_database_url or cfg.shadow_cache is False:
        return None
    folder = cfg.migrations_dir
    files = [*schema_files(cfg), str(folder / JOURNAL)] if (folder / JOURNAL).is_file() \
        else schema_files(cfg)
    with contextlib.suppress(OSError):
        files += sorted(str(p) for p in folder.iterdir() if p.is_file())
    return _noop("generate\0", cfg, url, files)


def status_inputs(cfg: Config, url: str) -> Noop | None:
    """The record of ``status`` on ``url``: its answer is a function of the schema files,
    the migrations folder's files (its ``meta/`` too), the configuration, the code, the
    database's catalogs (the drift; the shadows are built on its server) and the rows of
    its tracking tables (applied and pending). None where that does not hold: as for
    ``generate`` (generate_inputs)."""
    if cfg.drizzle or cfg.shadow_database_url or cfg.shadow_cache is False:
        return None
    folder = cfg.migrations_dir
    files = schema_files(cfg)
    for where in (folder, folder / "meta"):
        with contextlib.suppress(OSError):
            files += sorted(str(p) for p in where.iterdir() if p.is_file())
    return _noop("status\0", cfg, url, files, history_tables(cfg))


def recorded_status(cfg: Config) -> dict[str, Any] | None:
    """What the last ``status`` of the configured database said (``engine.Status.view``),
    when its record holds for these files, configuration, code, catalogs and tracking
    rows; None when it does not, or cannot be checked here (the embedded server)."""
    url = cfg.database_url
    if url is None:
        return None
    check_url(url, cfg.database_url_source)
    noop = status_inputs(cfg, url)
    said = None if noop is None else _said(noop, url)
    view = None if said is None else said.get("status")
    return view if isinstance(view, dict) else None


def recorded_generate(cfg: Config) -> tuple[str, ...] | None:
    """The notes of the last no-op ``generate`` on the configured database, when its
    record holds for these files, configuration, code and catalogs (as ``engine.generate``
    checks it first); None when it does not, or cannot be checked here."""
    url = cfg.database_url
    if url is None:
        return None
    check_url(url, cfg.database_url_source)
    noop = generate_inputs(cfg, url)
    said = None if noop is None else _said(noop, url)
    return None if said is None else tuple(said["notes"])


def _said(noop: Noop, url: str) -> dict[str, Any] | None:
    """What ``noop``'s record said, when it holds on the database at ``url`` (its
    catalogs read in one transaction, rolled back); None when it does not or cannot be
    reached."""
    try:
        conn = psycopg.connect(url, autocommit=False, connect_timeout=5, prepare_threshold=None)
    except psycopg.Error:
        return None
    with conn:
        said = noop.check(conn).said
        conn.rollback()
    return said


@dataclass(frozen=True)
class Recorded:
    """A push found to be the no-op its record says, and what to say about it."""

    label: str
    warnings: tuple[str, ...]
    notes: tuple[str, ...]
    unmanaged: tuple[str, ...]


def recorded_push(cfg: Config) -> Recorded | None:
    """The last no-op push to the configured database, when its record holds for these
    files, configuration, code and catalogs (as ``engine.push`` checks it first); None
    when it does not, or cannot be checked here (the engine's full path says why)."""
    url = cfg.database_url
    if url is None:
        return None
    check_url(url, cfg.database_url_source)
    try:
        noop = inputs(cfg, url, schema_files(cfg))
    except OSError:
        return None
    said = None if noop is None else _said(noop, url)
    if said is None:
        return None
    warning = pooler_warning(url)
    return Recorded(configured_label(cfg), (warning,) if warning else (),
                    tuple(said["notes"]), tuple(said["unmanaged"]))
