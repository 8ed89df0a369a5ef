"""Find the project and resolve its settings: config file, .env files, environment, flags."""

from __future__ import annotations

import functools
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trimtab.errors import ConfigError

CONFIG_FILE = "trimtab.toml"
PYPROJECT = "pyproject.toml"
DRIZZLE_CONFIG = "drizzle.config.ts"
ENV_FILES = (".env", ".env.local")  # later files win
DIRECT_URL_VAR = "DIRECT_DATABASE_URL"
DEFAULT_URL_VAR = "DATABASE_URL"

# Schemas a hosting platform creates and runs itself (its auth, storage, queues, jobs,
# extensions): never part of a project's schema, so never managed unless `schemas` names
# them, even when the schema source declares objects in them (drizzle-orm/supabase's
# authUsers, drizzle-orm/neon's usersSync). Supabase, Neon (neon_auth; pg_session_jwt's
# auth), Nhost and Hasura, Heroku, TimescaleDB, PostGIS's tiger geocoder and topology.
PLATFORM_SCHEMAS = frozenset({
    "auth", "storage", "realtime", "extensions", "graphql", "graphql_public", "vault",
    "pgsodium", "pgsodium_masks", "supabase_functions", "supabase_migrations", "net", "cron",
    "pgbouncer", "_realtime", "_analytics", "_supavisor", "supabase_realtime", "pgtle",
    "neon_auth", "hdb_catalog", "heroku_ext", "tiger", "tiger_data", "topology",
    "_timescaledb_catalog", "_timescaledb_internal", "_timescaledb_config",
    "_timescaledb_cache", "_timescaledb_functions", "_timescaledb_debug",
    "timescaledb_information", "timescaledb_experimental",
})

# key -> (expected type, description for error messages)
_KEYS: dict[str, tuple[type, str]] = {
    "schema": (str, "a path to a .sql file or a folder of .sql files"),
    "migrations": (str, "a path to the migrations folder"),
    "schemas": (list, "a list of schema names"),
    "seed": (str, "a path to a .sql file run by `trimtab reset`"),
    "shadow_database_url": (str, "a PostgreSQL URL"),
    "database_url": (str, "a PostgreSQL URL"),
    "database_url_env": (str, "the name of an environment variable"),
    "shadow_cache": (bool, "true or false"),
    "shadow_timeout": ((int, float), "a number of seconds above 0"),  # type: ignore[dict-item]
    "postgres": ((str, int), "a PostgreSQL major version from 13 to 18, such as \"15\""),  # type: ignore[dict-item]
    "online": (bool, "true or false"),
    "lock_timeout": ((str, int), "a PostgreSQL duration such as \"5s\" or \"500ms\" (0: none)"),  # type: ignore[dict-item]
    "statement_timeout": ((str, int), "a PostgreSQL duration such as \"30min\" (0: none)"),  # type: ignore[dict-item]
    "lock_retries": (int, "a number of retries, 0 or more"),
    "online_rows": (int, "a number of rows, 0 or more"),
    "embedded_idle_stop": ((str, int), "a duration with a unit, such as \"30min\" (0: never)"),  # type: ignore[dict-item]
    "backup": ((bool, str), "true, or the path of the backup file migrate writes first"),  # type: ignore[dict-item]
    "fleet": (dict, "a table: [fleet] with targets, targets_query or schemas"),
}

# [fleet] key -> (expected type, description for error messages)
_FLEET_KEYS: dict[str, tuple[type, str]] = {
    "targets": (list, "a list of PostgreSQL URLs"),
    "targets_query": (str, "a query run on database_url that returns one URL per row"),
    "schemas": (str, "a LIKE pattern of tenant schemas in database_url, such as \"tenant_%\""),
    "canary": ((int, list), "a number of targets, or a list of target URLs or schema names"),  # type: ignore[dict-item]
    "concurrency": (int, "a number of targets migrated at once, 1 or more"),
    "on_error": (str, "\"continue\" or \"stop\""),
}


@dataclass(frozen=True)
class FleetSettings:
    """``[fleet]``: the databases (or tenant schemas) ``--fleet`` works on; exactly one of
    targets, targets_query, schemas."""

    targets: tuple[str, ...] = ()
    targets_query: str | None = None
    schemas: str | None = None  # LIKE pattern of schemas in database_url
    canary: int | tuple[str, ...] = 1  # migrated first; a failure stops everything
    concurrency: int = 4
    on_error: str = "continue"  # or "stop": no new target starts after a failure

# A PostgreSQL duration as SET accepts it: a bare number is milliseconds.
_DURATION = re.compile(r"\d+(?:\.\d+)?\s*(?:us|ms|s|min|h|d)?")

POSTGRES_VERSIONS = range(13, 19)
_UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def duration_seconds(value: str | int) -> float:
    """A duration _DURATION accepts, in seconds (a bare number: milliseconds, as SET reads it)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?", str(value).strip())
    if m is None:
        raise ValueError(value)
    return float(m.group(1)) * _UNIT_SECONDS[m.group(2) or "ms"]


@dataclass(frozen=True)
class Config:
    root: Path
    config_file: Path | None
    schema_path: Path
    migrations_dir: Path
    # The schemas trimtab may change, as `schemas` (or drizzle's schemaFilter) lists them;
    # None: those the schema source declares or uses (engine.scope), platform schemas aside.
    managed_schemas: tuple[str, ...] | None
    shadow_database_url: str | None
    seed_path: Path | None  # `trimtab reset` runs it after the schema
    # None: nothing configured, the embedded server applies; "": libpq PG* variables apply.
    database_url: str | None
    database_url_source: str | None
    # Keep shadow databases between runs (sources/shadowcache.py); False: a fresh one each
    # time, dropped afterwards.
    shadow_cache: bool | None = None
    # A Drizzle project: the schema files drizzle.config.ts names (schema_path is the first)
    # and its casing option. Empty for a .sql schema.
    schema_files: tuple[Path, ...] = ()
    casing: str | None = None
    drizzle_config: Path | None = None
    # Where drizzle keeps its history when drizzle.config.ts moves it (``migrations:
    # {schema, table}``): (schema, table), None for a half left to drizzle's default;
    # None: drizzle.__drizzle_migrations.
    drizzle_history: tuple[str | None, str | None] | None = None
    # Seconds one statement of the schema file (or a replayed migration) may run in the
    # sandboxed shadow.
    shadow_timeout: float = 30.0
    # The PostgreSQL major version the migrations will run on (``postgres = "15"``);
    # None: the target's own version.
    postgres: int | None = None
    # drizzle.config.ts's tablesFilter (with extensionsFilters' patterns), as drizzle-kit
    # applies it to table and view names: tables outside it are left alone. None: all.
    tables_filter: tuple[str, ...] | None = None
    # What the config asks for that trimtab does not do (``entities.roles``), said by
    # every command that reads the schema.
    notes: tuple[str, ...] = ()
    # Online-safe forms (docs/workflows.md): generate writes them for every table that
    # exists before the migration. False: the plain forms, in one file.
    online: bool = True
    # What each transactional migration generate writes sets first (PostgreSQL durations):
    # a statement waiting longer than lock_timeout for a lock gives up instead of queueing
    # every query on the table behind it; "0": no limit.
    lock_timeout: str = "5s"
    statement_timeout: str = "0"
    lock_retries: int = 3  # migrate retries a migration that gave up on a lock
    # push takes the online-safe forms, phase by phase, on a table with at least this many
    # rows (a development table this small locks for milliseconds); generate on every one.
    online_rows: int = 100_000
    # migrate dumps the database first (pg_dump): True (to .trimtab/backups/), or a path
    backup: bool | str = False
    # Seconds without a client after which the embedded server stops itself; 0: never.
    embedded_idle_stop: float = 1800.0
    fleet: FleetSettings | None = None  # [fleet]

    @property
    def drizzle(self) -> bool:
        """The schema is Drizzle TypeScript."""
        return bool(self.schema_files) or self.schema_path.suffix in (".ts", ".mts")


def tables_filter_match(patterns: tuple[str, ...] | None) -> Callable[[str], bool]:
    """drizzle-kit's tablesFilter test of a table or view name (no schema), as its
    pgPushIntrospect writes it over minimatch: a pattern that matches votes yes, a
    negated one (`!x`) that the name matches votes no; the name is in when some pattern
    voted and none said no. So `["!old_*"]` keeps everything but old_*, and
    `["app_*", "!app_tmp"]` keeps app_* and every other name that is not app_tmp."""
    if not patterns:
        return lambda name: True
    from wcmatch import fnmatch as wc  # minimatch's globs: braces, extglobs, [^x]

    flags = wc.BRACE | wc.EXTMATCH | wc.CASE
    parsed = []
    for p in patterns:
        bangs = len(p) - len(p.lstrip("!"))
        parsed.append((p[bangs:], bangs % 2 == 1))

    def match(name: str) -> bool:
        votes = []
        for pattern, negate in parsed:
            hit = wc.fnmatch(name, pattern, flags=flags)
            if negate:
                votes.append(not hit)
            elif hit:
                votes.append(True)
        return bool(votes) and all(votes)

    return match


# --- project discovery -----------------------------------------------------------------------


def has_tool_table(pyproject: Path) -> bool:
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return False
    # Cheap text test first, so unrelated (or broken) pyproject files up the tree are not parsed.
    if "tool.trimtab" not in text:
        return False
    data = _parse_toml(text, pyproject)
    return isinstance(data.get("tool", {}).get("trimtab"), dict)


def find_project(start: Path) -> Path:
    """The first folder from start upwards holding trimtab.toml or a [tool.trimtab] table."""
    start = Path(os.path.abspath(start))
    if start.is_file():
        start = start.parent
    for folder in (start, *start.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
        if (folder / PYPROJECT).is_file() and has_tool_table(folder / PYPROJECT):
            return folder
        if (folder / DRIZZLE_CONFIG).is_file():
            return folder
    return start


# --- config file ---------------------------------------------------------------------------------


def _parse_toml(text: str, path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        # Python 3.11 has no lineno attribute; the position is in the message.
        msg = str(err)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        raise ConfigError(
            "invalid TOML: " + (msg[: m.start()].rstrip() if m else msg),
            file=str(path),
            line=int(m.group(1)) if m else None,
            column=int(m.group(2)) if m else None,
        ) from err


def _key_line(text: str, table: str, key: str) -> int | None:
    """The line where key is set in table ("" for the top level), or None."""
    current = ""
    key_re = re.compile(
        rf"""\s*(?:{re.escape(key)}|"{re.escape(key)}"|'{re.escape(key)}')\s*[.=]"""
    )
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        header = re.fullmatch(r"\[\[?\s*([^\]]+?)\s*\]\]?(?:\s*#.*)?", stripped)
        if header:
            current = re.sub(r"\s*\.\s*", ".", header.group(1)).replace('"', "")
            if current == (f"{table}.{key}" if table else key) or current.startswith(
                f"{table}.{key}." if table else f"{key}."
            ):
                return number
            continue
        if current == table and key_re.match(raw):
            return number
    return None


def _read_settings(path: Path) -> tuple[dict[str, Any], str, str]:
    """The trimtab settings table of a config file, with the file text and the table name."""
    text = path.read_text(encoding="utf-8")
    data = _parse_toml(text, path)
    if path.name == PYPROJECT:
        return data.get("tool", {}).get("trimtab", {}), text, "tool.trimtab"
    return data, text, ""


def _validate(settings: dict[str, Any], text: str, table: str, path: Path) -> None:
    valid = ", ".join(_KEYS)
    for key, value in settings.items():
        line = _key_line(text, table, key)
        if key not in _KEYS:
            raise ConfigError(
                f"unknown setting {key!r}",
                file=str(path),
                line=line,
                hint=f"Valid settings: {valid}.",
            )
        expected, description = _KEYS[key]
        ok = isinstance(value, expected)
        if ok and key == "schemas":
            ok = bool(value) and all(isinstance(v, str) and v for v in value)
        elif ok and isinstance(value, str):
            ok = bool(value.strip())
        elif ok and key == "shadow_timeout":
            ok = not isinstance(value, bool) and value > 0
        if ok and key == "postgres":
            ok = _postgres_major(value) is not None
        if ok and key in ("lock_timeout", "statement_timeout", "embedded_idle_stop"):
            ok = not isinstance(value, bool) and _DURATION.fullmatch(str(value).strip()) \
                is not None
        if ok and key == "embedded_idle_stop":  # a unit, not SET's silent milliseconds
            ok = str(value).strip() in ("0", "0s") or not str(value).strip()[-1:].isdigit()
        if ok and key in ("lock_retries", "online_rows"):
            ok = not isinstance(value, bool) and value >= 0
        if ok and key == "fleet":
            _validate_fleet(value, text, table, path)
        if not ok:
            hint = f"{key} must be {description}."
            if key == "schemas":
                hint += (" Leave it out to manage the schemas the schema file declares or "
                         "uses.")
            raise ConfigError(
                f"invalid value for {key!r}: {value!r}", file=str(path), line=line, hint=hint
            )


def _postgres_major(value: object) -> int | None:
    """13 from "13", 13 or "13.4"; None for anything that is not a supported major."""
    if isinstance(value, bool):
        return None
    text = str(value).strip()
    m = re.fullmatch(r"(\d+)(?:\.\d+)?", text)
    major = int(m.group(1)) if m else None
    return major if major in POSTGRES_VERSIONS else None


# --- .env files ----------------------------------------------------------------------------------

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


def parse_env(text: str) -> dict[str, str]:
    """KEY=VALUE lines, with comments, an optional `export ` prefix and quoted values."""
    result: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", key):
            continue
        value = value.strip()
        if value[:1] in ("'", '"'):
            quote, body, out, i = value[0], value[1:], [], 0
            while i < len(body) and body[i] != quote:
                if quote == '"' and body[i] == "\\" and i + 1 < len(body):
                    out.append(_ESCAPES.get(body[i + 1], "\\" + body[i + 1]))
                    i += 2
                    continue
                out.append(body[i])
                i += 1
            value = "".join(out)
        else:
            value = re.split(r"\s+#", value, maxsplit=1)[0].strip()
        result[key] = value
    return result


def _env_layers(root: Path, environ: Mapping[str, str]) -> list[tuple[str, Mapping[str, str]]]:
    """(label, variables), strongest first: real environment, .env.local, .env."""
    layers: list[tuple[str, Mapping[str, str]]] = [("", environ)]
    for name in reversed(ENV_FILES):
        path = root / name
        if path.is_file():
            try:
                layers.append((name, parse_env(path.read_text(encoding="utf-8"))))
            except (OSError, UnicodeDecodeError) as err:
                raise ConfigError(f"cannot read {name}: {err}", file=str(path)) from err
    return layers


# --- drizzle.config.ts --------------------------------------------------------------------------

def _drizzle_settings(path: Path, schema_flag: bool = False) -> dict[str, Any]:
    """trimtab's settings from a drizzle.config.ts (read statically, never run): schema
    files, migrations folder (``out``), casing, managed schemas (``schemaFilter``),
    drizzle's history table (``migrations``), and the environment variable the database
    URL comes from. A URL written literally in the file is not used: it is usually a
    fallback with a password in it, and the environment is where trimtab looks anyway.
    With schema_flag (``--schema``), the config's ``schema`` is not needed."""
    from trimtab.sources.drizzle import EnvVar, read_drizzle_config

    conf = read_drizzle_config(path)
    errors = [i for i in conf.issues if i.severity == "error"]
    if errors:
        first = errors[0]
        raise ConfigError(first.message, file=str(path), line=first.span.line,
                          column=first.span.column)
    if conf.dialect not in (None, "postgresql"):
        raise ConfigError(f'dialect is "{conf.dialect}": trimtab manages PostgreSQL only',
                          file=str(path))
    if conf.dialect is None and conf.driver not in (None, "pg"):
        # drizzle-kit 0.20's configs: `driver` named the database (mysql2, better-sqlite...)
        raise ConfigError(f'driver is "{conf.driver}": trimtab manages PostgreSQL only',
                          file=str(path))
    files = conf.schema_files()
    if not files and not schema_flag:
        unread = next((i for i in conf.issues if "`schema`" in i.message), None)
        if unread is not None:  # computed in code trimtab does not run: say where
            raise ConfigError(unread.message + " (computed in code trimtab does not run)",
                              file=str(path), line=unread.span.line,
                              column=unread.span.column,
                              hint="write schema: as a path, a glob or a list of them, or "
                                   "pass --schema")
        raise ConfigError(f"the schema {', '.join(conf.schema) or '(none)'} names no file",
                          file=str(path), hint="set schema: in drizzle.config.ts")
    out: dict[str, Any] = {"files": files, "migrations": conf.out or "drizzle",
                           "casing": conf.casing}
    if files:
        out["schema"] = str(files[0])
    if conf.schema_filter:
        # drizzle-kit's push manages these schemas only; so does trimtab (other tools'
        # schemas, Supabase's auth or storage, stay out of every plan)
        out["schemas"] = list(conf.schema_filter)
    if conf.migrations_schema or conf.migrations_table:
        out["history"] = (conf.migrations_schema, conf.migrations_table)
    if conf.tables_filter:
        out["tables_filter"] = conf.tables_filter
    if conf.roles:
        # A note, not an error: the project works, only the roles stay the user's.
        out["notes"] = (f"{path}: `entities.roles` is set, but trimtab leaves roles to you: "
                        "it never creates, alters or drops a role (a role belongs to the "
                        "whole server, not to one database's schema); create the roles "
                        "the schema uses on the server",)
    if conf.url_issue is not None:
        out["url_issue"] = conf.url_issue
    elif isinstance(conf.url, EnvVar):
        out["database_url_env"] = conf.url.name  # DIRECT_DATABASE_URL still first for push
    elif conf.url is not None:
        out["url_expr"] = conf.url
    return out


class _Unset(Exception):
    """A template string of the URL uses a variable that is not set."""


def _url_value(expr: Any, lookup: Any) -> tuple[str | None, tuple[str, ...]]:
    """The value Node gives ``expr`` (None: undefined or null) and the variables it came
    from (none: a string written in the file). ``lookup(name)`` is the variable's value
    or None."""
    from psycopg.conninfo import make_conninfo

    from trimtab.sources.drizzle import Either, EnvVar, Fields, Literal

    if isinstance(expr, Fields):
        given: dict[str, str] = {}
        env_names: list[str] = []
        for keyword, field in expr.parts:
            v, from_env = _url_value(field, lookup)
            if v is not None:  # an unset part is left to libpq's default, as pg does
                given[keyword] = v
                env_names.extend(from_env)
        if not env_names:
            return None, ()  # only text written in the file: not used (see above)
        return make_conninfo("", **given), tuple(dict.fromkeys(env_names))
    if isinstance(expr, EnvVar):
        v = lookup(expr.name)
        return v, ((expr.name,) if v is not None else ())
    if isinstance(expr, Literal):
        return expr.value, ()
    if isinstance(expr, Either):
        left = _url_value(expr.left, lookup)
        # `??` passes on anything but undefined/null, "" included; `||` only truthy values
        if left[0] is not None and (expr.op == "??" or left[0]):
            return left
        return _url_value(expr.right, lookup)
    out: list[str] = []
    names: list[str] = []
    for part in expr.parts:
        if isinstance(part, str):
            out.append(part)
            continue
        v, used = _url_value(part, lookup)
        if v is None:
            # Node would write "undefined" into the URL: never a database anyone means.
            raise _Unset(part.name if isinstance(part, EnvVar) else "a part")
        out.append(v)
        names.extend(used)
    return "".join(out), tuple(dict.fromkeys(names))


def _drizzle_url(expr: Any, layers: list[tuple[str, Mapping[str, str]]],
                 config: Path) -> tuple[str | None, str | None]:
    """(URL, where it came from) of drizzle.config.ts's url expression, each variable
    taken from the first layer that sets it (as Node with dotenv loading .env.local, then
    .env, without overriding). A URL written in the file is not used (see above)."""
    def lookup(name: str) -> str | None:
        return next((vs[name] for _, vs in layers if name in vs), None)

    def label(name: str) -> str:
        where = next(lb for lb, vs in layers if name in vs)
        return f"{name} ({where})" if where else name

    try:
        value, names = _url_value(expr, lookup)
    except _Unset as e:
        raise ConfigError(f"the url of {config.name} uses {e.args[0]}, which is not set",
                          file=str(config),
                          hint=f"set {e.args[0]} (environment, .env.local or .env) or pass "
                               "--url") from None
    if value is None or not names:
        return None, None
    if not value.strip():
        raise ConfigError(f"{', '.join(names)} is set but empty, and the url of {config.name} "
                          "takes it as Node does (`??` passes an empty string on)",
                          file=str(config), hint="unset it, or set it to a URL")
    return value.strip(), ", ".join(label(n) for n in names)


# --- load -----------------------------------------------------------------------------------------


def _config_file(root: Path) -> Path | None:
    if (root / CONFIG_FILE).is_file():
        return root / CONFIG_FILE
    if (root / PYPROJECT).is_file() and has_tool_table(root / PYPROJECT):
        return root / PYPROJECT
    return None


def _absolute(base: Path, value: str) -> Path:
    return Path(os.path.abspath(base / Path(value).expanduser()))


def _validate_fleet(fleet: dict[str, Any], text: str, table: str, path: Path) -> None:
    where = f"{table}.fleet" if table else "fleet"
    for key, value in fleet.items():
        line = _key_line(text, where, key)
        if key not in _FLEET_KEYS:
            raise ConfigError(f"unknown fleet setting {key!r}", file=str(path), line=line,
                              hint=f"Valid [fleet] settings: {', '.join(_FLEET_KEYS)}.")
        expected, description = _FLEET_KEYS[key]
        ok = isinstance(value, expected) and not isinstance(value, bool)
        if ok and isinstance(value, list):
            ok = all(isinstance(v, str) and v.strip() for v in value)
        elif ok and isinstance(value, str):
            ok = bool(value.strip()) and (key != "on_error" or value in ("continue", "stop"))
        elif ok and isinstance(value, int):
            ok = value >= (1 if key == "concurrency" else 0)
        if not ok:
            shown = redact(value) if key == "targets" and isinstance(value, str) else (
                "[...]" if key == "targets" else repr(value))
            raise ConfigError(f"invalid value for fleet setting {key!r}: {shown}",
                              file=str(path), line=line, hint=f"{key} must be {description}.")
    given = [k for k in ("targets", "targets_query", "schemas") if k in fleet]
    if len(given) > 1:  # none: the targets come from --targets FILE
        raise ConfigError("[fleet] takes one of targets, targets_query, schemas"
                          + (f" (it has {', '.join(given)})" if given else ""),
                          file=str(path), line=_key_line(text, table, "fleet"),
                          hint="targets = [urls], targets_query = \"SELECT url FROM ...\" (run "
                               "on database_url), or schemas = \"tenant_%\" (schemas of "
                               "database_url)")


def _fleet(settings: dict[str, Any]) -> FleetSettings | None:
    fleet = settings.get("fleet")
    if fleet is None:
        return None
    canary = fleet.get("canary", 1)
    return FleetSettings(
        targets=tuple(v.strip() for v in fleet.get("targets", ())),
        targets_query=fleet.get("targets_query"), schemas=fleet.get("schemas"),
        canary=tuple(canary) if isinstance(canary, list) else canary,
        concurrency=fleet.get("concurrency", 4), on_error=fleet.get("on_error", "continue"))


def load_config(
    start: Path,
    *,
    schema: str | None = None,
    url: str | None = None,
    direct: bool = True,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Resolve the settings: flags > environment (real, then .env.local, then .env) > config file.

    With direct=True (push, migrate) DIRECT_DATABASE_URL is preferred over DATABASE_URL within
    each layer. A layer wins as a whole: a DATABASE_URL exported in the shell beats a
    DIRECT_DATABASE_URL left in .env, so a command never silently targets the .env database.
    Then the config file's database_url, then libpq's own PG* variables (real environment
    only, and only when PGHOST or PGDATABASE is set), else None: the embedded server.
    `environ` defaults to os.environ (tests pass their own); it is never modified.
    """
    environ = os.environ if environ is None else environ
    root = find_project(start)
    config_file = _config_file(root)
    settings: dict[str, Any] = {}
    drizzle: dict[str, Any] = {}
    if config_file is not None:
        settings, text, table = _read_settings(config_file)
        _validate(settings, text, table, config_file)
    elif (root / DRIZZLE_CONFIG).is_file():
        drizzle = _drizzle_settings(root / DRIZZLE_CONFIG, schema_flag=bool(schema))
        settings = {k: v for k, v in drizzle.items() if k in _KEYS}

    schema_path = (
        Path(os.path.abspath(Path(schema).expanduser()))  # a flag is relative to the cwd
        if schema
        else _absolute(root, settings.get("schema", "schema.sql"))
    )
    schemas = settings.get("schemas")

    database_url: str | None = None
    source: str | None = None
    names = [DIRECT_URL_VAR] if direct else []
    names.append(settings.get("database_url_env", DEFAULT_URL_VAR))
    layers = [] if url else _env_layers(root, environ)
    if url:
        database_url, source = url, "--url"
    elif "url_issue" in drizzle:
        # Not read, not guessed: the embedded database instead would be a silent wrong target.
        issue = drizzle["url_issue"]
        raise ConfigError(issue.message, file=str(root / DRIZZLE_CONFIG), line=issue.span.line,
                          column=issue.span.column, hint="pass --url, or write the url as "
                          "process.env.NAME")
    elif "url_expr" in drizzle:
        database_url, source = _drizzle_url(drizzle["url_expr"], layers, root / DRIZZLE_CONFIG)
    else:
        for label, variables in layers:
            found = next((n for n in names if variables.get(n, "").strip()), None)
            if found:
                database_url = variables[found].strip()
                source = f"{found} ({label})" if label else found
                break
    if database_url is None and settings.get("database_url") and config_file is not None:
        database_url, source = settings["database_url"], config_file.name
    if database_url is None and (environ.get("PGHOST") or environ.get("PGDATABASE")):
        # libpq reads PG* itself when given an empty conninfo.
        database_url, source = "", "PG* environment"

    return Config(
        root=root,
        config_file=config_file,
        schema_path=schema_path,
        migrations_dir=_absolute(root, settings.get("migrations", "migrations")),
        managed_schemas=tuple(schemas) if schemas else None,
        shadow_database_url=settings.get("shadow_database_url"),
        seed_path=_absolute(root, settings["seed"]) if settings.get("seed") else None,
        database_url=database_url,
        database_url_source=source,
        shadow_cache=settings.get("shadow_cache"),
        schema_files=tuple(drizzle.get("files", ())) if not schema else (),
        casing=drizzle.get("casing"),
        drizzle_config=root / DRIZZLE_CONFIG if drizzle else None,
        drizzle_history=drizzle.get("history"),
        shadow_timeout=float(settings.get("shadow_timeout", 30.0)),
        postgres=_postgres_major(settings["postgres"]) if "postgres" in settings else None,
        tables_filter=drizzle.get("tables_filter"),
        notes=drizzle.get("notes", ()),
        online=settings.get("online", True),
        lock_timeout=str(settings.get("lock_timeout", "5s")).strip(),
        embedded_idle_stop=duration_seconds(settings.get("embedded_idle_stop", "30min")),
        statement_timeout=str(settings.get("statement_timeout", "0")).strip(),
        lock_retries=settings.get("lock_retries", 3),
        online_rows=settings.get("online_rows", 100_000),
        backup=settings.get("backup", False),
        fleet=_fleet(settings),
    )


# --- URLs ---------------------------------------------------------------------------------------
#
# A password must never be shown, whatever it holds. libpq ends a URL's user and password
# at the first '@' (before any '/'), so a password with an unencoded '@' or '/' is read as
# part of the host or the path, and libpq's errors then quote it. So: redact
# conservatively (everything from the user's ':' to the *last* '@'), refuse such URLs
# before connecting (check_url), and scrub every message that may quote a connection
# string (scrub).

_URL_SCHEME = re.compile(r"^\s*(postgres(?:ql)?://)", re.IGNORECASE)
_URL_IN_TEXT = re.compile(r"postgres(?:ql)?://\S+", re.IGNORECASE)
# libpq's options that hold secrets, besides the URL's user info
_SECRET_KEYS = ("password", "sslpassword", "oauth_client_secret", "scram_client_key",
                "scram_server_key")
_QUOTED = re.compile(r"\"([^\"]*)\"|'([^']*)'")
ENCODING_HINT = ("percent-encode the user name and password: '@' is %40, '/' is %2F, "
                 "'?' is %3F, '#' is %23, '%' is %25, ':' is %3A, a space is %20")


@functools.cache
def _keywords() -> frozenset[str]:
    """Every option libpq knows (a value only ends where the next one starts)."""
    from psycopg import pq

    return frozenset(o.keyword.decode() for o in pq.Conninfo.get_defaults())


@functools.cache
def _kv_secret() -> re.Pattern[str]:
    """``password = value`` in a key/value conninfo: a quoted value (to its closing quote,
    or the end if none), else everything up to the next ``keyword=`` libpq knows (an
    unquoted value with a space is read in pieces, and libpq quotes the pieces)."""
    keys = "|".join(sorted(_keywords(), key=len, reverse=True))
    secrets = "|".join(_SECRET_KEYS)
    return re.compile(
        rf"(?<![\w.])(?:{secrets})\s*=\s*"
        rf"('(?:[^'\\]|\\.)*'?|.*?(?=\s+(?:{keys})\s*=|$))",
        re.IGNORECASE | re.DOTALL)


def _query_secret_spans(text: str, start: int) -> list[tuple[int, int]]:
    """Values of secret options in a URL's query, each to the next ``&name=``."""
    from urllib.parse import unquote

    params = list(re.finditer(r"[?&]([^&=?]*)=", text[start:]))
    spans = []
    for i, m in enumerate(params):
        if unquote(m.group(1)).strip().lower() in _SECRET_KEYS:
            end = next((k.start() for k in params[i + 1:]
                        if re.fullmatch(r"\s*[A-Za-z_]\w*\s*", k.group(1))), len(text) - start)
            spans.append((start + m.end(), start + end))
    return spans


def _secret_spans(text: str) -> list[tuple[int, int]]:
    """Where a connection string (URL or key/value) may hold a secret, sorted, merged:
    generous on purpose, a little too much hidden is better than a password shown."""
    spans: list[tuple[int, int]] = []
    m = _URL_SCHEME.match(text)
    if m:
        at = text.rfind("@")
        colon = text.find(":", m.end(), at) if at > m.end() else -1
        if colon >= 0:
            spans.append((colon + 1, at))
        spans += _query_secret_spans(text, m.end())
    else:
        spans += [kv.span(1) for kv in _kv_secret().finditer(text)]
        for u in _URL_IN_TEXT.finditer(text):  # dbname= may itself be a URL
            spans += [(u.start() + a, u.start() + b) for a, b in _secret_spans(u.group(0))]
    merged: list[tuple[int, int]] = []
    for a, b in sorted(s for s in spans if s[1] > s[0]):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def redact(url: str) -> str:
    """The URL or key=value conninfo with its password (and other secrets) replaced by ***."""
    out, last = [], 0
    for a, b in _secret_spans(url):
        out += [url[last:a], "***"]
        last = b
    return "".join(out) + url[last:]


def _secrets(url: str | None) -> set[str]:
    """The texts a message must not contain: the password as written, as libpq reads it,
    decoded, each word of it, and PGPASSWORD."""
    from urllib.parse import unquote

    from psycopg.conninfo import conninfo_to_dict

    found = [os.environ.get("PGPASSWORD") or ""]
    if url:
        found += [url[a:b] for a, b in _secret_spans(url)]
        try:
            info = conninfo_to_dict(url)
        except Exception:  # malformed: the spans above still apply
            info = {}
        found += [str(info.get(k) or "") for k in _SECRET_KEYS]
        found += [unquote(f) for f in found]
    out: set[str] = set()
    for text in found:
        if len(text) >= 3:
            out.add(text)
        out.update(w for w in re.split(r"[^0-9A-Za-z]+", text) if len(w) >= 4)
    return out


def _shares_a_word(fragment: str, secrets: set[str]) -> bool:
    return any(fragment in s or any(fragment[i:i + 4] in s for i in range(len(fragment) - 3))
               for s in secrets)


def scrub(text: str, url: str | None = None) -> str:
    """A message (libpq's, psycopg's) safe to show: the password of ``url`` and
    PGPASSWORD removed in any form, connection strings in it redacted, and quoted pieces
    of the connection string that overlap a password (libpq quotes what it could not
    read) replaced by an ellipsis."""
    secrets = _secrets(url)
    for s in sorted(secrets, key=len, reverse=True):
        text = text.replace(s, "***")
    text = _URL_IN_TEXT.sub(lambda m: redact(m.group(0)), text)
    text = redact(text) if _kv_secret().search(text) else text

    def quoted(m: re.Match[str]) -> str:
        fragment = m.group(1) if m.group(1) is not None else m.group(2)
        q = m.group(0)[0]
        return f"{q}...{q}" if fragment and _shares_a_word(fragment, secrets) else m.group(0)

    return _QUOTED.sub(quoted, text)


def _userinfo_end(rest: str) -> int:
    """Where libpq ends a URL's user info: the first '@' before any '/'; -1: none."""
    for i, ch in enumerate(rest):
        if ch == "@":
            return i
        if ch == "/":
            return -1
    return -1


def check_url(url: str, source: str | None) -> None:
    """Refuse a connection string that libpq cannot read, or would read otherwise than
    meant (a password with an unencoded '@' or '/'), with an error that names where it
    came from and never shows its password. "" (libpq's PG* variables) passes."""
    if not url.strip():
        return
    from psycopg.conninfo import conninfo_to_dict

    where = f"the database URL from {source}" if source else "the database URL"
    shown = redact(url)
    try:
        info = conninfo_to_dict(url)
    except Exception as e:  # psycopg.ProgrammingError; its text quotes the string
        # Not shown, even redacted: where libpq's reading went wrong, the password's
        # bounds are a guess.
        reason = scrub(str(e).strip().splitlines()[0] if str(e).strip() else "", url)
        raise ConfigError(f"{where} is not a valid connection string: {reason}",
                          hint=ENCODING_HINT) from None
    m = _URL_SCHEME.match(url)
    if m:
        rest = url[m.end():]
        end = _userinfo_end(rest)
        if "@" in rest[end + 1:].split("?", 1)[0]:
            raise ConfigError(
                f"{where} has an '@' after its host, so its password cannot be read: "
                f"{shown}", hint="if the password or user name holds '@' or '/', "
                + ENCODING_HINT)
    ports = str(info.get("port") or "")
    if any(p.strip() and not p.strip().isdigit() for p in ports.split(",")):
        raise ConfigError(f"{where} has a port that is not a number: {shown}",
                          hint="if the password holds ':' or '/', " + ENCODING_HINT)


def pooler_warning(url: str | None) -> str | None:
    """A warning when the URL looks like a transaction pooler, else None."""
    if not url:
        return None
    shown = redact(url)
    lowered = shown.lower().replace("***", "")
    reasons = []
    if re.search(r":6543(?:[/,?]|$)", lowered) or re.search(r"\bport\s*=\s*'?6543\b", lowered):
        reasons.append("port 6543")
    reasons += [f"'{word}' in the URL" for word in ("pgbouncer", "pooler") if word in lowered]
    if not reasons:
        return None
    return (
        f"The database URL {shown} looks like a connection pooler ({', '.join(reasons)}). "
        "Schema changes need a direct connection: a transaction pooler can split a migration "
        "across server connections and break its locks. "
        f"Set {DIRECT_URL_VAR} to the direct (non-pooled) URL."
    )
