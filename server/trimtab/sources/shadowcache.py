"""Shadow databases kept between runs, brought up to date instead of rebuilt.

Applying a 1,000-table schema to a fresh shadow database takes seconds; a one-line edit
should not. A cached shadow database records (in its database comment) the statements it
holds. The next run compares them with the schema's statements: the same ones cost an
introspection; a few changed CREATE TABLE or CREATE INDEX statements are swapped in place
(the tables dropped and created again, with what depends on them); anything else, or any
doubt, rebuilds from scratch. The migrations replay works the same way: migrations only
get appended, so the cached database applies the new ones.

Correctness over speed: every path that cannot prove it reproduces a full rebuild falls
back to one (tests/test_shadowcache.py checks incremental against full on real schemas).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import functools
import gzip
import hashlib
import json
import os
import pickle
import re
import tempfile
import threading
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from itertools import islice
from pathlib import Path
from typing import IO, Any

import psycopg
from psycopg import sql

from trimtab.errors import DatabaseError, ShadowUnavailable
from trimtab.model import Model
from trimtab.sources.introspect import introspect, shared_objects
from trimtab.sources.shadow import (
    DEFAULT_TIMEOUT,
    Extension,
    Mentions,
    Sandbox,
    Scan,
    Stub,
    apply_script,
    apply_statements,
    connect,
    create_extensions,
    one_build_at_a_time,
    sandbox,
    schema_extensions,
    statement_mentions,
    stub_statements,
    watchdog,
    watchdog_seconds,
    without_stubs,
)
from trimtab.sources.shadow import scan as shadow_scan
from trimtab.sources.sqlfile import UNKNOWN_TABLE, Statement, table_touched

PREFIX = "trimtab_cache_"
VERSION = 3  # of the recorded state; another value means rebuild (3: owned by the sandbox)


def database_name(kind: str, key: str) -> str:
    return f"{PREFIX}{kind}_{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def statement_hash(st: Statement) -> str:
    return _text_hash(st.text)


# Kept by text: the editor hashes the 5,000 statements of a 1,000-table schema after every
# pause in typing, where one changed.
@functools.lru_cache(maxsize=16384)
def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:20]


# -- the database and its recorded state ---------------------------------------------------


def _url(admin_url: str, name: str) -> str:
    return psycopg.conninfo.make_conninfo(admin_url, dbname=name)


def _state(admin: psycopg.Connection, name: str) -> dict[str, Any] | None:
    """The recorded state, None when the database does not exist or records nothing usable."""
    row = admin.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                        "WHERE datname = %s", (name,)).fetchone()
    if row is None:
        return None
    try:
        state = json.loads(_unpacked(row[0] or ""))
    except (ValueError, zlib.error):
        return {}
    return state if isinstance(state, dict) and state.get("v") == VERSION else {}


# A state is recorded packed: the JSON of a 10,000-table schema's 40,000 statements is some
# 4 MB, and the COMMENT that recorded it held four copies at once (the JSON, its quoted
# literal, the statement and its bytes), the language server's peak during an edit.
# Compressed and in base64 (no quote to escape) it is under a third of that, made in parts.
_PACKED = "z:"


def _unpacked(comment: str) -> str | bytes:
    """The JSON text of a recorded comment (as JSON itself, by an older version)."""
    if comment.startswith(_PACKED):
        return zlib.decompress(base64.b64decode(comment[len(_PACKED):]))
    return comment


def _packed(state: dict[str, Any], per_part: int = 2000) -> bytes:
    """``json.dumps(state)`` compressed, in base64; the long lists are encoded a slice at
    a time, so no whole JSON text is made."""
    z = zlib.compressobj(1)
    out = [z.compress(b"{")]
    for i, (k, v) in enumerate(state.items()):
        out.append(z.compress(f"{', ' if i else ''}{json.dumps(k)}: ".encode()))
        if isinstance(v, list) and len(v) > per_part:
            for j in range(0, len(v), per_part):
                part = json.dumps(v[j:j + per_part])
                out.append(z.compress(("[" if j == 0 else ", ").encode() + part[1:-1].encode()))
            out.append(z.compress(b"]"))
        else:
            out.append(z.compress(json.dumps(v).encode()))
    out.append(z.compress(b"}"))
    out.append(z.flush())
    return base64.b64encode(b"".join(out))


def _record(conn: psycopg.Connection, name: str, state: dict[str, Any]) -> str:
    """Record the database's new state; returns its token (see _saved_model)."""
    token = uuid.uuid4().hex
    packed = _packed({"v": VERSION, "token": token, **state})
    conn.execute(b"COMMENT ON DATABASE " + sql.Identifier(name).as_bytes(conn) + b" IS '"
                 + _PACKED.encode() + packed + b"'", prepare=False)
    return token


# -- the model last read from a cached database ----------------------------------------------
# A new session reads the catalogs of 1,000 tables in a third of a second; the model read
# last time loads in a tenth of that. It is kept in a file of the user's cache folder (as
# trusted as their home), valid while the database records the token it was saved with:
# every change of the database records a new token.


@functools.cache
def _model_format() -> str:
    """Changes with the code that shapes a model: another value means read again."""
    from trimtab import model as shapes
    from trimtab.sources import introspect as reader
    h = hashlib.sha256(str(VERSION).encode())
    for module in (shapes, reader):
        h.update(Path(module.__file__ or "").read_bytes())
    return h.hexdigest()[:16]


def _cache_folder() -> Path:
    return Path(os.environ.get("TRIMTAB_CACHE_DIR") or str(Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "trimtab"))


def _model_file(admin_url: str, name: str) -> Path:
    folder = _cache_folder()
    info = psycopg.conninfo.conninfo_to_dict(admin_url)
    server = hashlib.sha256(f"{info.get('host')}:{info.get('port')}".encode()).hexdigest()
    return Path(folder) / "models" / f"{name}_{server[:12]}.pickle"


def _saved_model(admin_url: str, name: str, state: dict[str, Any] | None,
                 schemas: Sequence[str] | None) -> Model | None:
    token = state.get("token") if state else None
    if not token:
        return None
    path = _model_file(admin_url, name)
    stamp = _stamp(path)
    kept = _kept_models.get(path)
    if kept is not None and kept[:2] == (token, _schemas_key(schemas)) and (
            kept[2] is None or (stamp is not None and kept[2] == stamp)):
        return kept[3]
    try:
        saved = read_model_file(path, (_model_format(), token, _schemas_key(schemas)))
    except Exception:  # missing, unreadable, or written by other code: read the catalogs
        return None
    if saved is None:
        return None
    model = shared_objects(saved[1])  # (with the database's model, as a read makes it)
    with contextlib.suppress(OSError):  # in use: not one for _prune_models
        if time.time() - path.stat().st_mtime > 86400:
            os.utime(path)
    if stamp is not None:
        _kept_models[path] = (token, _schemas_key(schemas), stamp, model)
    return model


# The model last saved or loaded per model file, with its token and the file's (mtime,
# size) then: the language server asks for the same shadow after every pause in typing,
# and unpickling a 1,000-table model took longer than the swap. The file stays the truth:
# written since (another process), it is read again. Models are immutable: one object
# serves every caller.
_kept_models: dict[Path, tuple[str, tuple[str, ...] | None, tuple[int, int] | None,
                              Model]] = {}


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


# -- the scan for names outside the managed schemas -------------------------------------------
# Lexing every statement of the schema and of the migrations (shadow.scan) costs a quarter
# of a second at 1,000 tables, on every generate and push; its result depends on nothing
# but their texts, the managed schemas and the code. So it is kept, one file per project,
# under a digest of those: an unchanged project costs the digest.


def scan(statements: Sequence[Statement], managed: Sequence[str] | None, key: str,
         more_texts: Sequence[str], more: Callable[[], Iterable[Statement]]) -> Scan:
    """``shadow.scan(statements, managed, more)``, from the project ``key``'s last scan
    when ``statements``, ``managed``, ``more_texts`` (the texts ``more`` splits) and the code
    are the same as then. ``more`` makes the statements; it is called once per pass."""
    from trimtab.sources.fingerprint import code_version
    h = hashlib.sha256(f"trimtab scan 1\0{code_version()}\0{managed!r}\0".encode())
    for st in statements:
        h.update(f"{len(st.text)}\0".encode())
        h.update(st.text.encode())
    h.update(b"\1")
    for text in more_texts:
        h.update(f"{len(text)}\0".encode())
        h.update(text.encode())
    digest = h.hexdigest()
    path = _cache_folder() / "scans" / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"
    known: dict[str, Any] = {}
    try:
        # Two lines: the scan, then each text's names (all the statements': 30 MB of JSON
        # objects at 10,000 tables), read only when the scan is not the same.
        with open(path, "rb") as f:
            saved = json.loads(f.readline())
            if saved["digest"] != digest and saved.get("code") == code_version() \
                    and "texts" not in saved:
                saved["texts"] = json.loads(f.readline())
        if saved["digest"] == digest:
            return Scan(frozenset(saved["own"]),
                        tuple((s, n) for s, n in saved["names"]),
                        tuple((int(i), s, n, int(p)) for i, s, n, p in saved["references"]))
        if saved.get("code") == code_version() and isinstance(saved.get("texts"), dict):
            known = saved["texts"]  # each statement's names: one edit lexes one statement
    except (OSError, ValueError, KeyError, TypeError):
        pass  # none yet, or unreadable: scan
    # Each text's names kept as their JSON, what the file holds: tuples of a str per name
    # were some 20 MB at 10,000 tables, held while the replay ahead applies.
    seen: dict[str, str] = {}

    def mentions_of(text: str) -> Mentions:
        k = hashlib.sha256(text.encode()).hexdigest()[:32]
        hit = known.get(k)
        found = tuple((str(s), str(n), int(p), bool(r)) for s, n, p, r in hit) \
            if isinstance(hit, list) else statement_mentions(text)
        seen[k] = json.dumps(found)
        return found

    found = shadow_scan(statements, managed, more, mentions_of)
    known.clear()
    head = json.dumps({"digest": digest, "code": code_version(), "own": sorted(found.own),
                       "names": found.names, "references": found.references})

    def write(f: IO[bytes]) -> None:
        f.write(head.encode() + b"\n")
        _write_json_texts(f, seen)
        f.write(b"\n")

    _write_cache_file(path, write)
    return found


def _write_json_texts(f: IO[bytes], texts: dict[str, str], per_part: int = 2000) -> None:
    """``json.dumps({k: json.loads(v) for k, v in texts.items()})`` written in parts, the
    same bytes: each value is a JSON text already."""
    items = iter(texts.items())
    f.write(b"{")
    sep = ""
    while part := ", ".join(f"{json.dumps(k)}: {v}" for k, v in islice(items, per_part)):
        f.write((sep + part).encode())
        sep = ", "
    f.write(b"}")


# A model file outlives its database when the server goes (a throwaway server, a test
# run): one not used for this long is dropped when another is saved.
MODEL_MAX_AGE = 30 * 86400


# Looking at every model file costs a stat each: the language server saves a model after
# every pause in typing, and a cache folder of a few thousand files (every throwaway server
# leaves one) made that 90 ms a keystroke. Files a month old are in no hurry: once an hour
# per process is enough.
PRUNE_EVERY = 3600.0
_pruned: dict[Path, float] = {}  # folder -> time.monotonic() of its last pruning here


def _prune_models(folder: Path) -> None:
    now = time.monotonic()
    last = _pruned.get(folder)
    if last is not None and now - last < PRUNE_EVERY:
        return
    _pruned[folder] = now
    cutoff = time.time() - MODEL_MAX_AGE
    with contextlib.suppress(OSError):
        for old in folder.glob("*.pickle"):
            with contextlib.suppress(OSError):
                if old.stat().st_mtime < cutoff:
                    old.unlink()


# Saves put off by ``saves_later``, and the lock that keeps two of them from racing.
_LATER: ContextVar[list[Callable[[], None]] | None] = ContextVar("trimtab_saves_later",
                                                                 default=None)
_writing = threading.Lock()


@contextmanager
def saves_later() -> Iterator[list[Callable[[], None]]]:
    """Inside, a model read from a cached database is kept in this process at once, and
    written to its file only when the caller runs the callables of the list: the language
    server shows its diagnostics first (pickling a 1,000-table model costs some 40 ms) and
    writes once typing pauses. Until then another process reads the catalogs instead."""
    later: list[Callable[[], None]] = []
    reset = _LATER.set(later)
    try:
        yield later
    finally:
        _LATER.reset(reset)


def _save_model(admin_url: str, name: str, token: str, schemas: Sequence[str] | None,
                model: Model) -> None:
    path = _model_file(admin_url, name)
    later = _LATER.get()
    if later is None:
        _write_model(path, token, schemas, model)
        return
    with _writing:  # no file yet (None): valid by its token alone, which is this process's
        _kept_models[path] = (token, _schemas_key(schemas), None, model)
    later.append(functools.partial(_write_model, path, token, schemas, model, True))


def _write_model(path: Path, token: str, schemas: Sequence[str] | None, model: Model,
                 put_off: bool = False) -> None:
    with _writing:
        kept = _kept_models.get(path)
        if put_off and (kept is None or kept[0] != token):
            return  # a newer model is kept since: its own save writes the file
        head = (_model_format(), token, _schemas_key(schemas))
        if _write_cache_file(path, lambda f: write_model_file(f, head, model)):
            stamp = _stamp(path)
            if stamp is not None:
                _kept_models[path] = (token, _schemas_key(schemas), stamp, model)
    _prune_models(path.parent)


# A model file: a gzip stream of pickles, the head (the model format, token and schemas it
# was read under, and the number of parts), the model without its tables, then its tables
# in parts of TABLES_PER_PART. One pickle of the whole model kept every object's state
# (a list per column) in the pickler's memo, and the unpickler's, until the end: loading
# a 10,000-table model took twice the model on the way. Parts bound that to one part.
MODEL_FILE_LAYOUT = "trimtab model file 2"
TABLES_PER_PART = 500


def write_model_file(out: IO[bytes], head: tuple[Any, ...], model: Model) -> None:
    """A saved model's file (``head``, then the model in parts of TABLES_PER_PART tables,
    gzipped pickles) written into ``out`` as it is made (not held whole, then copied: the
    saved model of the replay of 10,000 tables is written at generate's peak)."""
    tables = list(model.tables.items())
    parts = [dict(tables[i:i + TABLES_PER_PART]) for i in range(0, len(tables), TABLES_PER_PART)]
    with gzip.GzipFile(filename="", fileobj=out, mode="wb", compresslevel=1, mtime=0) as f:
        pickle.dump((MODEL_FILE_LAYOUT, *head, len(parts)), f, pickle.HIGHEST_PROTOCOL)
        pickle.dump(dataclasses.replace(model, tables={}), f, pickle.HIGHEST_PROTOCOL)
        for part in parts:
            pickle.dump(part, f, pickle.HIGHEST_PROTOCOL)


def read_model_file(path: Path, head: tuple[Any, ...] | None = None
                    ) -> tuple[tuple[Any, ...], Model] | None:
    """(The head, the model) of the file at ``path``; None when it is not a model file, or
    its head is not ``head`` (then the model is not read)."""
    with gzip.open(path, "rb") as f:
        first = pickle.load(f)
        if not (isinstance(first, tuple) and len(first) >= 2
                and first[0] == MODEL_FILE_LAYOUT):
            return None
        found, parts = first[1:-1], first[-1]
        if head is not None and found != head:
            return None
        model = pickle.load(f)
        if not isinstance(model, Model):
            return None
        tables: dict[tuple[str, ...], Any] = {}
        for _ in range(parts):
            tables.update(pickle.load(f))
    return found, dataclasses.replace(model, tables=tables)


def _write_cache_file(path: Path, data: bytes | Callable[[IO[bytes]], object]) -> bool:
    """Write ``path`` (``data``, or what ``data`` writes into the open file) whole or not at
    all; False when it cannot (a cache: without it, the next run does the work again)."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".cache-")
        try:
            with os.fdopen(fd, "wb") as f:
                if callable(data):
                    data(f)
                else:
                    f.write(data)
            os.replace(tmp, path)
        except OSError:
            Path(tmp).unlink(missing_ok=True)
            raise
        return True
    return False


def _forget_model(admin_url: str, name: str) -> None:
    _kept_models.pop(_model_file(admin_url, name), None)
    with contextlib.suppress(OSError):
        _model_file(admin_url, name).unlink(missing_ok=True)


def _schemas_key(schemas: Sequence[str] | None) -> tuple[str, ...] | None:
    return tuple(schemas) if schemas is not None else None


def _read_model(conn: psycopg.Connection, admin_url: str, name: str, token: str,
                schemas: Sequence[str] | None, like: Model | None = None) -> Model:
    model = introspect(conn, schemas, like=like)
    _save_model(admin_url, name, token, schemas, model)
    return model


def _recreate(box: Sandbox, name: str) -> None:
    try:
        box.drop_database(name)
    except psycopg.Error as e:
        raise ShadowUnavailable(
            f"cannot replace the cached shadow database {name}: "
            f"{e.diag.message_primary or e}",
            hint="drop it (trimtab db clean), or set shadow_cache = false") from None
    box.create_database(name)


# Where the cache's lock is taken. A cached database is one per project on a server, but an
# advisory lock holds within one database only: two runs on two databases of the server
# (two targets, a test database and a dev one) would both drop and create it. Every run
# reaches the maintenance database, so the lock is taken there.
LOCK_DATABASE = "postgres"


@contextmanager
def _lock_connection(box: Sandbox) -> Iterator[psycopg.Connection]:
    """A session in the server's maintenance database; the admin connection itself when it
    is that database, or when this role cannot connect there (then only runs on the same
    database wait for each other, and a clash says so: see Sandbox.create_database)."""
    if box.admin.info.dbname == LOCK_DATABASE:
        yield box.admin
        return
    try:
        conn = connect(_url(box.admin_url, LOCK_DATABASE))
    except DatabaseError:
        yield box.admin
        return
    with conn:
        yield conn


@contextmanager
def _locked(admin_url: str, name: str, timeout: float) -> Iterator[Sandbox]:
    """The server's sandbox, holding the cache's server-wide session lock: one process at a
    time updates (or rebuilds) a cached database."""
    with sandbox(admin_url, timeout) as box, _lock_connection(box) as lock:
        key = int(hashlib.sha256(name.encode()).hexdigest()[:15], 16)
        lock.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield box
        finally:
            if not lock.closed:
                lock.execute("SELECT pg_advisory_unlock(%s)", (key,))


def drop(admin_url: str, kinds_keys: Sequence[tuple[str, str]]) -> list[str]:
    """Drop the cached databases of these (kind, key) pairs that exist on the server."""
    names = [database_name(kind, key) for kind, key in kinds_keys]
    with connect(admin_url) as admin:
        present = [r[0] for r in admin.execute(
            "SELECT datname FROM pg_database WHERE datname = ANY(%s)", (names,))]
        for n in present:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(n)))
    for n in names:
        _forget_model(admin_url, n)
    return present


# -- the desired schema --------------------------------------------------------------------


def desired_model(statements: Sequence[Statement], admin_url: str,
                  schemas: Sequence[str] | None, key: str,
                  full: Callable[[], Model], timeout: float = DEFAULT_TIMEOUT,
                  installed: Sequence[Extension] = (), stubs: Sequence[Stub] = ()) -> Model:
    """The canonical model of ``statements`` (vetted: see sources/vet.py) from the cached
    shadow database ``key`` on ``admin_url``'s server, built in the sandbox, with the
    target's ``installed`` extensions created first. ``full`` is the uncached way: it runs
    when the statements do not apply (it says where they fail), and its errors are the
    caller's. The ``stubs`` run first, as statements of the schema's (so the recorded
    state, which decides what is rebuilt, holds them), and are left out of the model."""
    statements = [*stub_statements(stubs), *statements] if stubs else statements
    return without_stubs(_cached_model(statements, admin_url, schemas, key, full, timeout,
                                       installed), stubs)


def _cached_model(statements: Sequence[Statement], admin_url: str,
                  schemas: Sequence[str] | None, key: str, full: Callable[[], Model],
                  timeout: float, installed: Sequence[Extension]) -> Model:
    name = database_name("shadow", key)
    extensions, statements = schema_extensions(admin_url, statements, installed)
    # The admin creates extensions only before the sandbox has run anything there: another
    # set (the target gained or lost one, or another version) means a rebuild.
    # (with the comment the schema writes on one: the admin sets it, outside the statements)
    made = [[e.name, e.schema, e.version, *([e.comment] if e.commented else [])]
            for e in extensions]
    with _locked(admin_url, name, timeout) as box:
        admin = box.admin
        state = _state(admin, name) or {}
        old = state.get("statements")
        if old is not None and state.get("extensions", []) != made:
            old = None
        known = {e[0]: e for e in old} if old else {}
        entries = [_entry(st, known) for st in statements]
        if old is not None and [e[0] for e in old] == [e[0] for e in entries]:
            model = _saved_model(admin_url, name, state, schemas)
            if model is not None:
                return model
            with box.connect(name) as conn:
                return _read_model(conn, admin_url, name, state["token"], schemas)
        if old is not None:
            with box.connect(name, autocommit=False) as conn, \
                    watchdog(conn, watchdog_seconds(timeout, len(statements))):
                reread = _swap(conn, old, entries, statements)
                if reread is not None:
                    token = _record(conn, name, {"statements": entries,
                                                 "extensions": made})
                    conn.commit()
                    before = _saved_model(admin_url, name, state, schemas)
                    if before is None:
                        return _read_model(conn, admin_url, name, token, schemas)
                    model = _merge(before, introspect(conn, schemas, reread), reread)
                    _save_model(admin_url, name, token, schemas, model)
                    return model
                conn.rollback()
        _recreate(box, name)
        create_extensions(box, name, extensions)
        with box.connect(name, autocommit=False) as conn:
            try:
                with one_build_at_a_time(admin):
                    apply_script(conn, statements, timeout)
                    token = _record(conn, name, {"statements": entries,
                                                 "extensions": made})
                    conn.commit()
            except psycopg.Error:
                conn.rollback()
            else:
                return _read_model(conn, admin_url, name, token, schemas)
        box.drop_database(name)
    # Outside the locks: the uncached way takes the build lock too.
    return full()  # says which statement PostgreSQL rejects, and where


def _merge(before: Model, part: Model, reread: set[tuple[str, str]]) -> Model:
    """``before`` with the tables in ``reread`` as ``part`` has them (gone if it has not),
    and everything ``part`` reads whole; views are not read by a partial introspection and
    cannot have changed (a view on a swapped table means a rebuild)."""
    tables = {k: v for k, v in before.tables.items() if (k[1], k[2]) not in reread}
    tables.update(part.tables)
    return dataclasses.replace(part, tables=dict(sorted(tables.items())), views=before.views)


# CREATE TABLE ... (LIKE t) and CREATE TABLE ... AS SELECT copy another table without a
# trace in the catalogs: such a statement must run again whenever anything changes.
_COPIES = re.compile(r"[(,]\s*LIKE\s|\bAS\s*\(?\s*(SELECT|WITH|VALUES|TABLE|EXECUTE)\b", re.I)


def _entry(st: Statement, known: dict[str, list[Any]]) -> list[Any]:
    """What the cache remembers of a statement: its hash, kind, declared object and the
    table it touches (``known``: entries recorded before, by hash; the same text touches
    the same table)."""
    h = statement_hash(st)
    seen = known.get(h)
    if seen is not None:
        if seen[1] == st.kind and seen[2] == list(st.object_key or ()):
            # the very entry recorded (not a copy of it): an exact analysis holds both
            # lists at once, some 7 MiB at 10,000 tables
            return seen
        return [h, st.kind, list(st.object_key or ()), seen[3]]
    touched = table_touched(st)
    if st.kind == "CREATE TABLE" and _COPIES.search(st.text):
        touched = UNKNOWN_TABLE
    return [h, st.kind, list(st.object_key or ()), list(touched) if touched else None]


_SWAPPABLE = ("CREATE TABLE", "CREATE INDEX")


def _swap(conn: psycopg.Connection, old: list[list[Any]], new: list[list[Any]],
          statements: Sequence[Statement]) -> set[tuple[str, str]] | None:
    """Bring the cached database from ``old`` to ``new`` in the open transaction; None
    (and the caller rolls back) when that cannot be done exactly. Returns the tables whose
    catalog rows may have changed: the model read before is good for all others."""
    old_count = Counter(e[0] for e in old)
    new_count = Counter(e[0] for e in new)
    removed = [e for e in old if _take(old_count, new_count, e[0])]
    new_count = Counter(e[0] for e in new)
    old_count = Counter(e[0] for e in old)
    added_idx = {i for i, e in enumerate(new) if _take(new_count, old_count, e[0])}
    changed = removed + [new[i] for i in added_idx]
    if not changed or any(e[1] not in _SWAPPABLE or not e[2] for e in changed):
        return None
    tables = {tuple(e[2][1:3]) for e in changed if e[1] == "CREATE TABLE"}
    for e in new:  # every table a statement touches must be known
        if e[3] is not None and tuple(e[3]) == UNKNOWN_TABLE:
            return None
    indexes = [tuple(e[2][1:3]) for e in removed if e[1] == "CREATE INDEX"]
    try:
        conn.execute("SET LOCAL lock_timeout = '5s'")
        saved = _detach(conn, tables, indexes)
        if saved is None:
            return None
        for schema, table in tables:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}.{} CASCADE").format(
                sql.Identifier(schema), sql.Identifier(table)))
        reread = set(tables) | _tables_of_indexes(conn, indexes)
        for schema, index in indexes:
            conn.execute(sql.SQL("DROP INDEX IF EXISTS {}.{}").format(
                sql.Identifier(schema), sql.Identifier(index)))
        for i, (st, e) in enumerate(zip(statements, new, strict=True)):
            again = (e[1] == "CREATE TABLE" and tuple(e[2][1:3]) in tables) or (
                e[3] is not None and tuple(e[3]) in tables)
            if i in added_idx or again:
                conn.execute(st.text.encode(), prepare=False)
        for table, constraint, definition in saved:
            conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                sql.SQL(table), sql.Identifier(constraint), sql.SQL(definition)))
        reread |= {(r[0], r[1]) for r in conn.execute(_WRITTEN_NOW)}
    except psycopg.Error:
        return None
    return reread


def _tables_of_indexes(conn: psycopg.Connection,
                       indexes: list[tuple[str, ...]]) -> set[tuple[str, str]]:
    if not indexes:
        return set()
    return {(r[0], r[1]) for r in conn.execute("""
        SELECT tn.nspname::text, t.relname::text FROM pg_index i
        JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
        WHERE (n.nspname::text, c.relname::text) IN (
            SELECT * FROM unnest(%s::text[], %s::text[]))""",
        ([i[0] for i in indexes], [i[1] for i in indexes]))}


# The tables with a catalog row written by this transaction (the swap): besides the swapped
# ones, those that got an index, a foreign key back, or triggers for one.
_WRITTEN_NOW = """
WITH x AS (SELECT pg_catalog.pg_current_xact_id()::xid AS x),
rel AS (
    SELECT c.oid FROM pg_class c, x WHERE c.xmin = x.x
    UNION SELECT a.attrelid FROM pg_attribute a, x WHERE a.xmin = x.x
    UNION SELECT d.adrelid FROM pg_attrdef d, x WHERE d.xmin = x.x
    UNION SELECT c.conrelid FROM pg_constraint c, x WHERE c.xmin = x.x
    UNION SELECT i.indrelid FROM pg_index i, x WHERE i.xmin = x.x
    UNION SELECT t.tgrelid FROM pg_trigger t, x WHERE t.xmin = x.x
    UNION SELECT p.polrelid FROM pg_policy p, x WHERE p.xmin = x.x
    UNION SELECT d.objoid FROM pg_description d, x
          WHERE d.xmin = x.x AND d.classoid = 'pg_class'::regclass
    UNION SELECT c.conrelid FROM pg_description d JOIN pg_constraint c ON c.oid = d.objoid, x
          WHERE d.xmin = x.x AND d.classoid = 'pg_constraint'::regclass
    UNION SELECT t.tgrelid FROM pg_description d JOIN pg_trigger t ON t.oid = d.objoid, x
          WHERE d.xmin = x.x AND d.classoid = 'pg_trigger'::regclass
    UNION SELECT p.polrelid FROM pg_description d JOIN pg_policy p ON p.oid = d.objoid, x
          WHERE d.xmin = x.x AND d.classoid = 'pg_policy'::regclass
)
SELECT n.nspname::text, c.relname::text FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND c.oid IN (
    SELECT oid FROM rel UNION SELECT i.indrelid FROM pg_index i WHERE i.indexrelid IN (
        SELECT oid FROM rel))
"""


def _take(mine: Counter[str], theirs: Counter[str], h: str) -> bool:
    """Multiset difference, one element at a time: True when ``h`` is not matched."""
    if theirs[h] > 0:
        theirs[h] -= 1
        return False
    return True


# Catalogs whose rows may depend on a swapped table and are rebuilt with it: its own
# indexes, constraints, defaults, triggers, policies, rules of its own, owned sequences.
_DEPENDENTS = """
WITH t AS (
    SELECT c.oid, c.reltype FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND (n.nspname, c.relname) IN (SELECT * FROM unnest(
        %(schemas)s::text[], %(names)s::text[]))
), owned AS (
    SELECT oid FROM t
    UNION SELECT i.indexrelid FROM pg_index i JOIN t ON i.indrelid = t.oid
    UNION SELECT reltype FROM t
    UNION SELECT d.objid FROM pg_depend d JOIN pg_class s ON s.oid = d.objid
          WHERE d.classid = 'pg_class'::regclass AND s.relkind = 'S'
            AND d.refobjid IN (SELECT oid FROM t) AND d.deptype IN ('a', 'i')
), idx AS (
    SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('i', 'I') AND (n.nspname, c.relname) IN (SELECT * FROM unnest(
        %(ischemas)s::text[], %(inames)s::text[]))
)
SELECT d.classid::regclass::text, d.objid,
       CASE WHEN d.classid = 'pg_constraint'::regclass THEN (
           SELECT jsonb_build_array(con.conrelid::regclass::text, con.conname,
                                    pg_get_constraintdef(con.oid), con.contype::text,
                                    con.conrelid IN (SELECT oid FROM t))
           FROM pg_constraint con WHERE con.oid = d.objid) END,
       d.refobjid IN (SELECT oid FROM idx)
FROM pg_depend d
WHERE d.refclassid IN ('pg_class'::regclass, 'pg_type'::regclass)
  AND (d.refobjid IN (SELECT oid FROM owned) OR d.refobjid IN (SELECT oid FROM idx))
  AND d.deptype = 'n'
"""


def _detach(conn: psycopg.Connection, tables: set[tuple[str, ...]],
            indexes: list[tuple[str, ...]]) -> list[tuple[str, str, str]] | None:
    """The foreign keys of other tables that point at the swapped tables (to add again
    after the swap), or None when something else depends on them (a view, a function, a
    child table, a column of their row type): then only a rebuild is exact."""
    t_schemas = [t[0] for t in tables]
    t_names = [t[1] for t in tables]
    inherits = conn.execute("""
        SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid IN (i.inhrelid, i.inhparent)
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE (n.nspname, c.relname) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
        LIMIT 1""", (t_schemas, t_names)).fetchone()
    if inherits:
        return None
    saved: dict[tuple[str, str], str] = {}
    for classid, _objid, con, on_index in conn.execute(_DEPENDENTS, {
            "schemas": t_schemas, "names": t_names,
            "ischemas": [i[0] for i in indexes], "inames": [i[1] for i in indexes]}):
        if classid != "pg_constraint" or con is None or on_index:
            return None  # a view, a function body, a column of the row type, a rule...
        table, name, definition, contype, own = con
        if own:
            continue  # rebuilt with its table
        if contype != "f":
            return None
        saved[(table, name)] = definition
    return [(t, n, d) for (t, n), d in saved.items()]


# -- the migrations replay -----------------------------------------------------------------


def replayed_model(migrations: Sequence[Any], admin_url: str,
                   schemas: Sequence[str] | None, key: str,
                   apply: Callable[[psycopg.Connection, Any], None],
                   timeout: float = DEFAULT_TIMEOUT,
                   extensions: Sequence[Extension] = (),
                   stubs: Sequence[Stub] = (), like: Model | None = None) -> Model:
    """The model the migrations produce, from a cached database that has the first of
    them applied already (migrations are only appended): apply the rest. A migration that
    changed or went away means a rebuild. The migrations run in the sandbox, after the
    ``stubs`` (other stubs mean a rebuild), which the model leaves out. ``like``: see
    ``introspect``."""
    return without_stubs(_replayed(migrations, admin_url, schemas, key, apply, timeout,
                                   extensions, stubs, like), stubs)


def _replayed(migrations: Sequence[Any], admin_url: str, schemas: Sequence[str] | None,
              key: str, apply: Callable[[psycopg.Connection, Any], None], timeout: float,
              extensions: Sequence[Extension], stubs: Sequence[Stub],
              like: Model | None = None) -> Model:
    name = database_name("replay", key)
    stubbed = stub_statements(stubs) if stubs else []
    stub_hashes = [statement_hash(st) for st in stubbed]
    done_now = [[m.name, m.checksum] for m in migrations]
    with _locked(admin_url, name, timeout) as box:
        admin = box.admin
        state = _state(admin, name)
        done = state.get("migrations") if state else None
        made = sorted({e.name for e in extensions})
        # The admin creates extensions only before the sandbox has run anything there.
        fresh = done is None or done != done_now[:len(done)] or \
            not set(made) <= set(state.get("extensions", []) if state else []) or \
            (state.get("stubs", []) if state else []) != stub_hashes
        if fresh or done is None:  # (fresh when done is None: says so to the type checker)
            _recreate(box, name)
            create_extensions(box, name, extensions)
            if stubbed:
                with box.connect(name) as conn:
                    apply_statements(conn, stubbed, timeout)
            done = []
        elif len(done) == len(migrations):
            model = _saved_model(admin_url, name, state, schemas)
            if model is not None:
                return model
        try:
            with box.connect(name) as conn:
                token = None if fresh or state is None else state.get("token")
                with one_build_at_a_time(admin):
                    for m in migrations[len(done):]:
                        apply(conn, m)
                        done.append([m.name, m.checksum])
                        token = _record(conn, name, {"migrations": done, "extensions": made,
                                                 "stubs": stub_hashes})
                if token is None:  # none yet: still a state
                    token = _record(conn, name, {"migrations": done, "extensions": made,
                                                 "stubs": stub_hashes})
                return _read_model(conn, admin_url, name, token, schemas, like)
        except BaseException:
            # A failed migration may have left part of itself (one without a transaction).
            box.drop_database(name)
            raise
