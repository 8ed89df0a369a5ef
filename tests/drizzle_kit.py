"""A real drizzle-kit for the tests: installed once from npm into a cache folder outside the
repository, then used to `push` a schema into a database.

Versions are pinned to those of the real drizzle-kit project whose schema is
fixtures/drizzle/sample (drizzle-kit 0.31.11, drizzle-orm 0.45.4, pg 8.23.1), so that the
tests compare trimtab with the drizzle-kit whose behaviour was recorded there.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

DRIZZLE_KIT = "0.31.11"
DRIZZLE_ORM = "0.45.4"
PG_DRIVER = "8.23.1"
INSTALL_TIMEOUT = 900
PUSH_TIMEOUT = 300


def cache_base() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")) / "trimtab-tests"


def cache_dir(extra: Sequence[str] = ()) -> Path:
    """The install folder; `extra` pinned packages (name@version) get a folder of their own,
    so that the plain install every other test shares never changes under it."""
    digest = hashlib.sha256(" ".join(sorted(extra)).encode()).hexdigest()[:10]
    suffix = f"-{digest}" if extra else ""
    return cache_base() / f"drizzle-kit-{DRIZZLE_KIT}{suffix}"


def missing_tool() -> str | None:
    """Why the drizzle-kit tests cannot run here, or None."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed: the drizzle-kit comparison needs Node.js and npm"
    return None


def _installed(d: Path, extra: Sequence[str] = ()) -> bool:
    if any(not (d / "node_modules" / e.rpartition("@")[0]).is_dir() for e in extra):
        return False
    try:
        pkg = json.loads((d / "node_modules" / "drizzle-kit" / "package.json").read_text())
    except (OSError, ValueError):
        return False
    return pkg.get("version") == DRIZZLE_KIT and (d / "node_modules" / "pg").is_dir() and (
        d / "node_modules" / "drizzle-orm").is_dir()


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # xdist workers install once, one at a time
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def ensure_drizzle_kit(extra: Sequence[str] = ()) -> Path:
    """The folder whose node_modules holds the pinned drizzle-kit (and the `extra` pinned
    packages a project's schema imports at load time); installs it if needed."""
    d = cache_dir(extra)
    if _installed(d, extra):
        return d
    with _lock(d.parent / f".{d.name}.lock"):
        if _installed(d, extra):
            return d
        tmp = d.parent / f"{d.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        (tmp / "package.json").write_text(json.dumps(
            {"name": "trimtab-drizzle-kit-harness", "private": True}))
        # No install scripts: esbuild's binary comes in its platform package anyway.
        cmd = ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts",
               "--save-exact", f"drizzle-kit@{DRIZZLE_KIT}", f"drizzle-orm@{DRIZZLE_ORM}",
               f"pg@{PG_DRIVER}", *extra]
        r = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True,
                           timeout=INSTALL_TIMEOUT, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise RuntimeError(f"npm install failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        shutil.rmtree(d, ignore_errors=True)
        tmp.rename(d)
    return d


def link_workspace(root: Path, workspace: Mapping[str, str]) -> None:
    """node_modules/<package> -> <folder> under `root`, for each package of a monorepo."""
    for package, folder in workspace.items():
        link = root / "node_modules" / package
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(root / folder, target_is_directory=True)


def credentials(url: str) -> dict[str, object]:
    """node-postgres connection options for a libpq URL. A Unix-socket host is passed as
    `host` (the socket folder); `ssl: false` because drizzle-kit otherwise asks node-postgres
    for TLS, which a socket connection does not offer (push then exits 1 silently)."""
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


@dataclass(frozen=True)
class PushResult:
    returncode: int
    output: str


def push(files: Sequence[tuple[str, str]], schema: Sequence[str], url: str, *,
         casing: str | None = None, schema_filter: Sequence[str] | None = None,
         extra: Sequence[str] = (), cwd: str | None = None,
         workspace: Mapping[str, str] | None = None,
         config_extra: Mapping[str, object] | None = None) -> PushResult:
    """`drizzle-kit push --force --verbose` of a project into the database at `url`:
    `files` are its (relative path, text) files, `schema` the relative paths of the schema
    files among them. The files are copied under the install folder so that their
    `import ... from "drizzle-orm/pg-core"` resolves to the pinned packages. drizzle-kit runs
    in the project's folder `cwd` when given, where it reads the tsconfig.json whose `paths`
    resolve imports such as "@/lib/id"; `extra` are pinned npm packages the schema loads;
    `workspace` maps the monorepo's own packages to their folders (linked in node_modules,
    as a workspace install does); ``config_extra``: more keys of drizzle.config.ts
    (``tablesFilter``, ``extensionsFilters``...)."""
    r, _ = _run("push", files, schema, {"dbCredentials": credentials(url), **(config_extra or {})},
                casing=casing, schema_filter=schema_filter, extra=extra, cwd=cwd,
                workspace=workspace)
    return r


def generate(files: Sequence[tuple[str, str]], schema: Sequence[str], *,
             casing: str | None = None, schema_filter: Sequence[str] | None = None,
             extra: Sequence[str] = (), cwd: str | None = None,
             workspace: Mapping[str, str] | None = None) -> tuple[PushResult, list[str]]:
    """`drizzle-kit generate` of a project (the arguments as for `push`) into an empty
    migrations folder: its result and the SQL of the migrations it wrote, in order."""
    return _run("generate", files, schema, {"out": "<out>"}, casing=casing,
                schema_filter=schema_filter, extra=extra, cwd=cwd, workspace=workspace)


def _run(command: str, files: Sequence[tuple[str, str]], schema: Sequence[str],
         options: Mapping[str, object], *, casing: str | None,
         schema_filter: Sequence[str] | None, extra: Sequence[str], cwd: str | None,
         workspace: Mapping[str, str] | None) -> tuple[PushResult, list[str]]:
    d = ensure_drizzle_kit(extra)
    work = d / "work" / uuid.uuid4().hex
    out = work.with_name(work.name + "-out")  # outside the project: nothing of it is schema
    try:
        for rel, text in files:
            p = work / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        link_workspace(work, workspace or {})
        config: dict[str, object] = {
            "dialect": "postgresql",
            "schema": [str(work / rel) for rel in schema],
            **{k: str(out) if v == "<out>" else v for k, v in options.items()},
        }
        if casing:
            config["casing"] = casing
        if schema_filter:
            config["schemaFilter"] = list(schema_filter)
        cfg = work / "drizzle.config.ts"
        cfg.write_text("export default " + json.dumps(config, indent=2) + ";\n")
        args = ["push", "--force", "--verbose"] if command == "push" else [command]
        r = subprocess.run(
            ["node", str(d / "node_modules" / "drizzle-kit" / "bin.cjs"), *args,
             "--config", str(cfg)],
            cwd=d if cwd is None else work / cwd, capture_output=True, text=True,
            timeout=PUSH_TIMEOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"},
        )
        sql = [f.read_text() for f in sorted(out.glob("*.sql"))]
        return PushResult(r.returncode, r.stdout + r.stderr), sql
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
