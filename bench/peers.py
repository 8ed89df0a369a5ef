"""The tools trimtab is compared with, installed by the benchmark itself into a cache
folder outside the repository (``${XDG_CACHE_HOME:-~/.cache}/trimtab-bench``), pinned:

- drizzle-kit, with drizzle-orm and the node-postgres driver, from npm;
- migra, with the libraries it needs, from PyPI into a virtual environment of its own.

Also here: the SQL form of a Drizzle schema, which is what ``drizzle-kit generate`` writes
for it (cached by hash), and the migrations history both tools apply.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import venv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from bench.common import cache_root, log

# Latest patches of the lines the sample project pins (drizzle-kit ^0.31.11,
# drizzle-orm ^0.45.4, pg ^8.23.1).
DRIZZLE_KIT = "0.31.11"
DRIZZLE_ORM = "0.45.4"
PG_DRIVER = "8.23.1"

MIGRA_PINS = (
    "migra==3.0.1663481299",
    "schemainspect==3.1.1663587362",
    "sqlbag==0.1.1617247075",
    "SQLAlchemy==2.1.9",
    "psycopg2-binary==2.9.13",
)

INSTALL_TIMEOUT = 900
BREAKPOINT = "--> statement-breakpoint"


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # one installer at a time (parallel test workers)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# --- drizzle-kit ------------------------------------------------------------------------


def npm_missing() -> str | None:
    """Why drizzle-kit cannot run here, or None."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (drizzle-kit needs Node.js and npm)"
    return None


@dataclass(frozen=True)
class DrizzleKit:
    root: Path  # the install folder: node_modules/ holds the pinned packages

    @property
    def bin(self) -> Path:
        return self.root / "node_modules" / "drizzle-kit" / "bin.cjs"

    def cmd(self, *args: str) -> list[str]:
        # The package's own entry point, as `npx drizzle-kit` ends up running it (without
        # npx's start-up, which would only add to drizzle-kit's times).
        node = shutil.which("node") or "node"
        return [node, str(self.bin), *args]

    def versions(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for pkg in ("drizzle-kit", "drizzle-orm", "pg"):
            try:
                meta = json.loads((self.root / "node_modules" / pkg / "package.json").read_text())
                out[pkg] = str(meta.get("version"))
            except (OSError, ValueError):
                out[pkg] = "?"
        try:
            out["node"] = subprocess.run(["node", "--version"], capture_output=True, text=True,
                                         timeout=30).stdout.strip().lstrip("v")
        except (OSError, subprocess.TimeoutExpired):
            out["node"] = "?"
        return out

    def project(self, where: Path, *, schema_ts: str, url: str | None,
                out: str = "drizzle") -> Path:
        """A drizzle-kit project folder: schema.ts, drizzle.config.ts (database from
        ``url``), and node_modules linked to the pinned install."""
        where.mkdir(parents=True, exist_ok=True)
        (where / "node_modules").symlink_to(self.root / "node_modules")
        (where / "schema.ts").write_text(schema_ts)
        write_config(where, url, out)
        return where


def _installed(d: Path) -> bool:
    try:
        pkg = json.loads((d / "node_modules" / "drizzle-kit" / "package.json").read_text())
    except (OSError, ValueError):
        return False
    return pkg.get("version") == DRIZZLE_KIT and all(
        (d / "node_modules" / p).is_dir() for p in ("drizzle-orm", "pg"))


def ensure_drizzle_kit() -> DrizzleKit:
    """The pinned drizzle-kit, installed from npm on first use."""
    d = cache_root() / f"drizzle-kit-{DRIZZLE_KIT}"
    if _installed(d):
        return DrizzleKit(d)
    with _lock(d.parent / f".{d.name}.lock"):
        if _installed(d):
            return DrizzleKit(d)
        log(f"installing drizzle-kit {DRIZZLE_KIT}, drizzle-orm {DRIZZLE_ORM}, pg {PG_DRIVER} "
            f"into {d}")
        tmp = d.parent / f"{d.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        (tmp / "package.json").write_text(json.dumps(
            {"name": "trimtab-bench-drizzle", "private": True}))
        # No install scripts needed: esbuild's binary comes in its platform package.
        cmd = ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--save-exact",
               f"drizzle-kit@{DRIZZLE_KIT}", f"drizzle-orm@{DRIZZLE_ORM}", f"pg@{PG_DRIVER}"]
        r = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True,
                           timeout=INSTALL_TIMEOUT, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise RuntimeError(f"npm install failed ({r.returncode}): {r.stderr.strip()[-500:]}")
        shutil.rmtree(d, ignore_errors=True)
        tmp.rename(d)
    return DrizzleKit(d)


def credentials(url: str | None) -> dict[str, object]:
    """node-postgres connection options for a libpq URL. A Unix-socket host is passed as
    ``host`` (the socket folder), and ``ssl: false``: drizzle-kit otherwise asks
    node-postgres for TLS, which a socket does not offer."""
    if url is None:  # generate needs no database; the config still wants credentials
        return {"host": "localhost", "database": "postgres", "ssl": False}
    info = conninfo_to_dict(url)
    creds: dict[str, object] = {
        "host": info.get("host") or "localhost",
        "user": info.get("user") or "postgres",
        "database": info.get("dbname") or "postgres",
        "ssl": False,
    }
    if info.get("port"):
        creds["port"] = int(str(info["port"]))
    if info.get("password"):
        creds["password"] = info["password"]
    return creds


def write_config(project: Path, url: str | None, out: str = "drizzle") -> None:
    config = {
        "dialect": "postgresql",
        "schema": "./schema.ts",
        "out": f"./{out}",
        "dbCredentials": credentials(url),
    }
    (project / "drizzle.config.ts").write_text(
        'import { defineConfig } from "drizzle-kit";\n\n'
        f"export default defineConfig({json.dumps(config, indent=2)});\n")


def strip_breakpoints(sql: str) -> str:
    return sql.replace(BREAKPOINT, "")


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


def _generate(dk: DrizzleKit, project: Path, name: str, timeout: float) -> None:
    r = subprocess.run(dk.cmd("generate", "--name", name), cwd=project, capture_output=True,
                       text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError(f"drizzle-kit generate exited {r.returncode}: "
                           f"{(r.stderr or r.stdout).strip()[-500:]}")


def schema_sql(dk: DrizzleKit, schema_ts: str, *, timeout: float = 1800) -> str:
    """The SQL form of a Drizzle schema: what ``drizzle-kit generate`` writes for it from
    nothing, without its ``--> statement-breakpoint`` markers. Cached by hash."""
    cached = cache_root() / "sql" / f"{_digest(DRIZZLE_KIT, DRIZZLE_ORM, schema_ts)}.sql"
    if cached.exists():
        return cached.read_text()
    with tempfile.TemporaryDirectory(prefix="trimtab-bench-dk-") as tmp:
        project = dk.project(Path(tmp) / "p", schema_ts=schema_ts, url=None)
        _generate(dk, project, "init", timeout)
        files = sorted((project / "drizzle").glob("0000_*.sql"))
        if len(files) != 1:
            raise RuntimeError("drizzle-kit generate wrote no 0000_*.sql")
        sql = strip_breakpoints(files[0].read_text())
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(sql)
    return sql


def history(dk: DrizzleKit, schema_ts: str, changed_ts: str, *, timeout: float = 1800) -> Path:
    """A drizzle-kit migrations folder of two migrations: the schema from nothing
    (``0000_init``), then the one change (``0001_add_note``). Cached by hash; copy it
    before use."""
    d = cache_root() / "history" / _digest(DRIZZLE_KIT, DRIZZLE_ORM, schema_ts, changed_ts)
    if (d / "meta" / "_journal.json").exists():
        return d
    with tempfile.TemporaryDirectory(prefix="trimtab-bench-dk-") as tmp:
        project = dk.project(Path(tmp) / "p", schema_ts=schema_ts, url=None)
        _generate(dk, project, "init", timeout)
        (project / "schema.ts").write_text(changed_ts)
        _generate(dk, project, "add_note", timeout)
        journal = json.loads((project / "drizzle" / "meta" / "_journal.json").read_text())
        if len(journal.get("entries", [])) != 2:
            raise RuntimeError("drizzle-kit generate did not write two migrations")
        d.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(project / "drizzle", d)
    return d


def history_files(folder: Path) -> list[Path]:
    """The .sql files of a drizzle-kit migrations folder, in journal order."""
    journal = json.loads((folder / "meta" / "_journal.json").read_text())
    return [folder / f"{e['tag']}.sql" for e in journal["entries"]]


def migration_files(folder: Path) -> list[Path]:
    """The NNNN_*.sql files of a migrations folder (either tool's), in order."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if re.match(r"\d{4}_.*\.sql$", p.name))


# --- migra --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Migra:
    venv: Path

    @property
    def exe(self) -> Path:
        return self.venv / "bin" / "migra"

    def cmd(self, url_from: str, url_to: str) -> list[str]:
        return [str(self.exe), "--unsafe", sqlalchemy_url(url_from), sqlalchemy_url(url_to)]

    def versions(self) -> dict[str, str]:
        py = self.venv / "bin" / "python"
        code = ("import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in"
                " ('migra', 'schemainspect', 'sqlbag', 'SQLAlchemy', 'psycopg2-binary')}))")
        try:
            r = subprocess.run([str(py), "-c", code], capture_output=True, text=True, timeout=60)
            return json.loads(r.stdout)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            return {}


def sqlalchemy_url(url: str) -> str:
    """A libpq URL for SQLAlchemy's psycopg2 dialect (SQLAlchemy 2.1 would pick psycopg 3
    for a bare postgresql:// URL)."""
    info = conninfo_to_dict(url)
    user = info.get("user") or ""
    password = f":{info['password']}" if info.get("password") else ""
    host = info.get("host") or ""
    port = f":{info['port']}" if info.get("port") else ""
    db = info.get("dbname") or "postgres"
    at = f"{user}{password}@" if user else ""
    if host.startswith("/"):
        return f"postgresql+psycopg2://{at}/{db}?host={host}"
    return f"postgresql+psycopg2://{at}{host}{port}/{db}"


def ensure_migra() -> Migra:
    """migra in a virtual environment of its own, installed from PyPI on first use."""
    d = cache_root() / "migra-venv"
    marker = d / ".pins"
    wanted = "\n".join(MIGRA_PINS)
    if marker.exists() and marker.read_text() == wanted and (d / "bin" / "migra").exists():
        return Migra(d)
    with _lock(d.parent / ".migra-venv.lock"):
        if marker.exists() and marker.read_text() == wanted and (d / "bin" / "migra").exists():
            return Migra(d)
        log(f"installing {', '.join(MIGRA_PINS)} into {d}")
        shutil.rmtree(d, ignore_errors=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(d)
        r = subprocess.run([str(d / "bin" / "python"), "-m", "pip", "install", "-q",
                            "--disable-pip-version-check", *MIGRA_PINS],
                           capture_output=True, text=True, timeout=INSTALL_TIMEOUT,
                           stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise RuntimeError(f"pip install migra failed ({r.returncode}): "
                               f"{r.stderr.strip()[-500:]}")
        marker.write_text(wanted)
    return Migra(d)

