"""Drizzle ORM schemas (``schema.ts``) as a desired schema.

``read_drizzle`` parses the TypeScript files with tree-sitter (no Node.js at run time),
evaluates the part of them a Drizzle schema is written in, and emits the PostgreSQL DDL
drizzle-kit would create from them (``drizzle-kit push`` / ``generate``). The rest of
trimtab then treats that DDL like a schema.sql: the shadow database gives the canonical
model, ``sqlfile`` the fast structural one.

Why DDL and not a model: PostgreSQL's own canonical forms (types, defaults, checks) come
from applying the DDL, exactly as for SQL sources (ARCHITECTURE.md, decision 1), and the
tests can hold the DDL to drizzle-kit's real output on a real database.

Layers: ``_source`` (files, positions, literals), ``_eval`` (values of expressions),
``_lower`` (drizzle-kit's rules: types, defaults, names), ``_ddl`` (text and spans);
``_incremental`` reads an editor's buffer again after an edit inside one table.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from trimtab import collector
from trimtab.model import Model
from trimtab.sources.drizzle import _ddl, _incremental
from trimtab.sources.drizzle._envurl import Either, EnvVar, Fields, Literal, UrlExpr, url_expression
from trimtab.sources.drizzle._eval import (
    UNDEFINED,
    Evaluator,
    JSArray,
    JSObject,
    Loc,
    TableV,
    Unresolved,
)
from trimtab.sources.drizzle._lower import Lowered, lower, to_camel_case, to_snake_case
from trimtab.sources.drizzle._source import TS, TSX, Module, Program, parse_module, read_disk
from trimtab.sources.sqlfile import Issue, Span, Statement

__all__ = [
    "CASINGS",
    "DrizzleConfig",
    "DrizzleSchema",
    "cold_read",
    "read_drizzle",
    "read_drizzle_config",
    "structural",
    "to_camel_case",
    "to_snake_case",
    # the database URL expression of drizzle.config.ts (for config.py)
    "Either",
    "EnvVar",
    "Fields",
    "Literal",
    # the steps of read_drizzle (for drizzle_snapshot.py)
    "Evaluator",
    "Program",
    "lower",
    "parse_module",
    "read_disk",
    # the parser and a parsed module (for the editor's schema.ts completion)
    "TS",
    "TSX",
    "Module",
]

CASINGS = ("snake_case", "camelCase")


@dataclass(frozen=True)
class DrizzleSchema:
    """What a Drizzle schema declares, as PostgreSQL DDL.

    ``statements`` are those of ``sql`` (split with ``sqlfile.split_statements`` under the
    synthetic file name ``<first file>.sql``); ``origins[k]`` is the .ts range that
    statement ``k`` comes from (to show a shadow-database error in the .ts file).
    ``spans`` maps model keys (as ``sqlfile.object_spans`` makes them: table, column,
    constraint, index, type, schema, sequence) to their .ts range. ``issues`` are
    everything not understood (severity "error": the model may be incomplete or wrong
    there, so push/generate must not run) or worth a look ("warning").
    """

    sql: str
    statements: tuple[Statement, ...]
    spans: Mapping[tuple[str, ...], Span]
    issues: tuple[Issue, ...]
    origins: tuple[Span, ...]
    # (schema, name) of the .existing() views: out of scope, neither created nor dropped.
    existing_views: tuple[tuple[str, str], ...] = ()

    @property
    def errors(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity == "error")


def cold_read(files: Mapping[str, str], name: str) -> DrizzleSchema:
    """``read_drizzle(files)`` as a first read of ``name`` would be (nothing reused from
    the reads before), leaving what those kept for the next one: the reference a reused
    read must equal."""
    with _incremental.forgotten(name):
        return read_drizzle(files)


def structural(ds: DrizzleSchema) -> Model:
    """The structural model of ``ds``'s DDL (``sqlfile.structural_model``'s), as the
    editor's fast path compares it: for a read that went on from the last one, the last
    model with the changed tables' objects in place of theirs."""
    return _incremental.model_of(ds.statements)


def read_drizzle(files: Sequence[Path | str] | Mapping[str, str],
                 casing: str | None = None, *,
                 read: Callable[[str], str | None] | None = None) -> DrizzleSchema:
    """Read Drizzle schema files: paths (what they import is read from disk, as
    TypeScript resolves it), or a mapping of file name to text (imports resolve among the
    names given, and through ``read`` when given: file name -> text, or None when there is
    no such file). ``casing`` is drizzle's ``casing`` option ("snake_case" or
    "camelCase"), from drizzle.config.ts or the drizzle() call. Never raises on any text;
    a path that cannot be read becomes an issue."""
    if casing not in (None, *CASINGS):
        raise ValueError(f"casing must be one of {CASINGS} or None, not {casing!r}")
    with collector.paused():
        try:
            if isinstance(files, Mapping):
                # An editor's buffer: what the last read of these names can spare
                return _incremental.read(files, casing, read, _read_parts)
            return _read(files, casing, read)
        except RecursionError:  # expressions nested thousands deep: no schema does that
            first = str(next(iter(files), "schema.ts"))
            issue = Issue("trimtab cannot read expressions nested this deeply",
                          Span(first, 1, 1, 1, 1, 0, 0), "error")
            return DrizzleSchema("", (), {}, (issue,), ())




def _read(files: Sequence[Path | str] | Mapping[str, str], casing: str | None,
          read: Callable[[str], str | None] | None) -> DrizzleSchema:
    return _read_parts(files, casing, read).schema


@dataclass(frozen=True)
class Parts:
    """A read and what it was made from: the lowered schema, its DDL, the modules (the
    given ones first), for ``_incremental`` to splice the next read into."""

    schema: DrizzleSchema
    lowered: Lowered
    rendered: _ddl.Rendered
    modules: tuple[Module, ...]
    # whether an import was looked for in other files: then what they hold (or that they
    # exist) counts too, and the next read of the same text may differ
    imports: bool


def lower_modules(modules: dict[str, Module], casing: str | None,
                  read: Callable[[str], str | None] | None,
                  only: Callable[[TableV], bool] | None = None,
                  ) -> tuple[Lowered, list[Issue], bool]:
    """Evaluate and lower the given modules (``only``: those tables, see ``lower``):
    (lowered, the exports lost to an import trimtab cannot resolve, whether an import was
    looked for in other files)."""
    program = Program(dict(modules), read)
    looked: list[str] = []
    resolve, external = program.resolve, program.external

    def resolve_(importer: Module, spec: str) -> Module | None:
        looked.append(spec)
        return resolve(importer, spec)

    def external_(importer: Module, spec: str) -> bool:
        looked.append(spec)
        return external(importer, spec)

    program.resolve, program.external = resolve_, external_  # type: ignore[method-assign]
    ev = Evaluator(program)
    given = list(modules.values())
    try:
        low = lower(ev, given, casing, only)
        lost = _unresolved_exports(ev, given)
    finally:
        _release(ev)
        del program.resolve, program.external  # a cycle through the bound methods
    return low, lost, bool(looked)


def _read_parts(files: Sequence[Path | str] | Mapping[str, str], casing: str | None,
                read: Callable[[str], str | None] | None) -> Parts:
    texts: dict[str, str] = {}
    read_issues: list[Issue] = []
    reader = read
    if isinstance(files, Mapping):
        texts = dict(files)
    else:
        reader = read_disk
        for f in files:
            name = str(f)
            try:
                texts[name] = Path(name).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                read_issues.append(Issue(f"cannot read {name}: {e}",
                                         Span(name, 1, 1, 1, 1, 0, 0), "error"))
    modules = {name: parse_module(name, text, given=True) for name, text in texts.items()}
    low, lost, imports = lower_modules(modules, casing, reader)
    synthetic = f"{next(iter(texts), 'schema.ts')}.sql"
    rendered = _ddl.render(low, synthetic)
    syntax = [issue for m in modules.values() for issue in _syntax_issues(m)]
    ds = DrizzleSchema(rendered.sql, rendered.statements, _ddl.spans(rendered),
                       tuple(read_issues + lost + syntax + list(low.issues)),
                       rendered.origins, low.existing_views)
    return Parts(ds, low, rendered, tuple(modules.values()), imports)


def _release(ev: Evaluator) -> None:
    """Break the evaluator's reference cycles (scope -> memo -> value -> Env -> scope): the
    result keeps none of its values, so reference counting frees them at once. Left to the
    cyclic collector, the next collection after a 1,000-table read walks some 100,000 dead
    objects, which cost the editor as much as a quarter of a keystroke's time."""
    for scope in ev.scopes.values():
        scope.memo.clear()
        scope.bindings.clear()
    ev.scopes.clear()
    ev.platforms.clear()


def _unresolved_exports(ev: Evaluator, given: list[Any]) -> list[Issue]:
    """Exports of the schema files that come from a module trimtab cannot find: drizzle-kit
    would collect the tables in it, so reading on without them would drop those tables."""
    out: dict[tuple[str, int, int], Issue] = {}
    for mod in given:
        for _name, value, _where in ev.exports(mod):
            if isinstance(value, Unresolved) and not value.installed:
                span = value.loc.span()
                out.setdefault((span.file, span.line, span.column), Issue(
                    f"{value.message}: drizzle-kit would read the tables it exports, and "
                    "trimtab cannot (a file that is missing, or a path alias or workspace "
                    "package it does not find)", span, "error"))
    return list(out.values())


def _syntax_issues(mod: Any) -> list[Issue]:
    """TypeScript syntax errors tree-sitter found (it recovers and reads on)."""
    out: list[Issue] = []
    if not mod.root.has_error:
        return out
    stack = [mod.root]
    while stack and len(out) < 20:
        n = stack.pop()
        if n.type == "ERROR" or n.is_missing:
            what = f"missing {n.type}" if n.is_missing else "syntax error"
            out.append(Issue(f"TypeScript {what}", mod.node_span(n), "error"))
            continue
        if n.has_error:
            stack.extend(reversed(n.children))
    return out


# --------------------------------------------------------------------------------------
# drizzle.config.ts


@dataclass(frozen=True)
class DrizzleConfig:
    """What trimtab needs from a drizzle.config.ts (values it cannot evaluate are None)."""

    path: Path
    dialect: str | None
    schema: tuple[str, ...]  # as written: files, folders or globs, relative to the config
    out: str | None
    casing: str | None
    schema_filter: tuple[str, ...] | None
    issues: tuple[Issue, ...]
    # ``migrations: {schema, table}``: where drizzle keeps its history, when not in
    # drizzle.__drizzle_migrations
    migrations_schema: str | None = None
    migrations_table: str | None = None
    # ``dbCredentials.url`` as written (None: not there); url_issue: why it cannot be read,
    # an error only for the commands that would connect with it (a --url flag wins).
    url: UrlExpr | None = None
    url_issue: Issue | None = None
    # drizzle-kit before 0.21 named the database by its driver (`driver: "pg"`)
    driver: str | None = None
    # ``tablesFilter`` as drizzle-kit applies it, extensionsFilters' patterns appended
    # (``postgis``: its own tables); None: every table.
    tables_filter: tuple[str, ...] | None = None
    # ``entities.roles`` set (true or an object): drizzle-kit would then manage roles.
    roles: bool = False

    def schema_files(self) -> list[Path]:
        """The schema files drizzle-kit would read: globs expanded, folders walked for
        .ts files, relative to the config's folder."""
        root = self.path.parent
        found: list[Path] = []
        for pattern in self.schema:
            full = pattern if os.path.isabs(pattern) else str(root / pattern)
            p = Path(full)
            if p.is_dir():
                found.extend(sorted(x for x in p.rglob("*") if x.suffix in (".ts", ".tsx")
                                    and x.is_file()))
            elif glob.has_magic(full):
                found.extend(sorted(Path(x) for x in glob.glob(full, recursive=True)))
            elif p.is_file():
                found.append(p)
        return list(dict.fromkeys(Path(os.path.normpath(x)) for x in found))


def read_drizzle_config(path: Path) -> DrizzleConfig:
    """Read ``export default defineConfig({...})`` (or a plain object) from a config file."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    mod = parse_module(str(path), text, given=True)
    ev = Evaluator(Program({mod.name: mod}, read_disk))  # constants it imports count
    value = ev.export_value(mod, "default", Loc(mod, 0, 0))
    issues: list[Issue] = []
    if not isinstance(value, JSObject):
        issues.append(Issue("trimtab cannot read this drizzle config (expected "
                            "`export default defineConfig({...})`)", mod.span(0, 0), "error"))
        return DrizzleConfig(path, None, (), None, None, None, tuple(issues))

    def text_of(key: str) -> str | None:
        v = value.get(key)
        return v if isinstance(v, str) else None

    def strings(key: str) -> tuple[str, ...] | None:
        v = value.get(key)
        if isinstance(v, str):
            return (v,)
        if isinstance(v, JSArray) and all(isinstance(x, str) for x in v.items):
            return tuple(v.items)
        if v is not UNDEFINED:
            issues.append(Issue(f"trimtab cannot read `{key}` in this config",
                                value.locs[key].span(), "warning"))
        return None

    casing = text_of("casing")
    if casing is not None and casing not in CASINGS:
        issues.append(Issue(f"unknown casing {casing!r}", value.locs["casing"].span(),
                            "error"))
        casing = None
    history: dict[str, str | None] = {"schema": None, "table": None}
    migrations = value.get("migrations")
    if isinstance(migrations, JSObject):
        for key in history:
            v = migrations.get(key)
            if isinstance(v, str) and v:
                history[key] = v
            elif v is not UNDEFINED:
                # A guess would record trimtab's migrations where drizzle never looks.
                issues.append(Issue(f"trimtab cannot read `migrations.{key}` in this config",
                                    migrations.locs[key].span(), "error"))
    elif migrations is not UNDEFINED:
        issues.append(Issue("trimtab cannot read `migrations` in this config",
                            value.locs["migrations"].span(), "error"))
    url, url_issue = _url(mod, value)
    tables = _tables_filter(value, strings, issues)
    roles = _roles(value, issues)
    return DrizzleConfig(path, text_of("dialect"), strings("schema") or (), text_of("out"),
                         casing, strings("schemaFilter"), tuple(issues),
                         history["schema"], history["table"], url, url_issue,
                         text_of("driver"), tables, roles)


# drizzle-kit's getTablesFilterByExtensions: PostGIS's own tables and views
_EXTENSION_TABLES = {"postgis": ("!geography_columns", "!geometry_columns", "!spatial_ref_sys")}


def _tables_filter(config: JSObject, strings: Callable[[str], tuple[str, ...] | None],
                   issues: list[Issue]) -> tuple[str, ...] | None:
    """``tablesFilter`` (a glob or a list of globs) with what ``extensionsFilters`` adds,
    in drizzle-kit's order. One it cannot read is an error: a guess could put a table
    outside the filter into a plan."""
    patterns: list[str] = []
    for key in ("tablesFilter", "extensionsFilters"):
        before = len(issues)
        got = strings(key)
        if len(issues) > before:
            issues[-1] = replace(issues[-1], severity="error")
        if got is None:
            continue
        if key == "tablesFilter":
            patterns.extend(got)
            continue
        for name in got:
            if name not in _EXTENSION_TABLES:
                issues.append(Issue(f"unknown extensionsFilters entry {name!r} (drizzle-kit "
                                    "knows \"postgis\" only)", config.locs[key].span(),
                                    "error"))
                continue
            patterns.extend(_EXTENSION_TABLES[name])
    return tuple(patterns) if patterns else None


def _roles(config: JSObject, issues: list[Issue]) -> bool:
    """Whether ``entities.roles`` asks drizzle-kit to manage roles (true, or an object
    with provider/include/exclude). trimtab never does: a role belongs to the whole
    server, so a schema file must not create, alter or drop one; the caller says so."""
    entities = config.get("entities")
    if entities is UNDEFINED:
        return False
    if not isinstance(entities, JSObject):
        issues.append(Issue("trimtab cannot read `entities` in this config",
                            config.locs["entities"].span(), "error"))
        return False
    roles = entities.get("roles")
    return roles is not UNDEFINED and roles is not False and roles is not None


def _url(mod: Any, config: JSObject) -> tuple[UrlExpr | None, Issue | None]:
    """``dbCredentials.url`` as an expression over process.env, read from the text (the
    evaluator knows no environment)."""
    creds = config.get("dbCredentials")
    if creds is UNDEFINED:
        return None, None
    if not isinstance(creds, JSObject):
        return None, Issue("trimtab cannot read `dbCredentials` statically",
                           config.locs["dbCredentials"].span(), "error")
    # drizzle-kit before 0.21 called the url `connectionString`
    key = next((k for k in ("url", "connectionString") if k in creds.locs), None)
    if key is not None:
        return _credential(mod, creds, key)
    parts: list[tuple[str, UrlExpr]] = []
    for name, keyword in _CREDENTIAL_FIELDS.items():
        if name not in creds.locs:
            continue
        got = _credential(mod, creds, name)
        if got[1] is not None:
            return got
        if got[0] is not None:
            parts.append((keyword, got[0]))
    if "ssl" in creds.locs:
        ssl = creds.get("ssl")
        mode = {True: "require", False: "disable"}.get(ssl) if isinstance(ssl, bool) else \
            ssl if ssl in _SSL_MODES else None
        if mode is None:
            return None, Issue("trimtab cannot read `ssl` here (true, false or a mode such "
                               "as \"require\")", creds.locs["ssl"].span(), "error")
        parts.append(("sslmode", Literal(mode)))
    if not parts:
        # Nothing that names a server: the database comes from the environment, as for a
        # config without dbCredentials.
        return None, None
    return Fields(tuple(parts)), None


# dbCredentials' fields (node-postgres's names) and libpq's keywords for them
_CREDENTIAL_FIELDS = {"host": "host", "port": "port", "user": "user", "password": "password",
                      "database": "dbname"}
_SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def _credential(mod: Any, creds: JSObject, key: str) -> tuple[UrlExpr | None, Issue | None]:
    where = creds.locs[key]
    pair = mod.root.descendant_for_byte_range(where.start, where.end)
    node = pair.child_by_field_name("value") if pair is not None and pair.type == "pair" \
        else None
    if node is None:  # `{ url }` shorthand: the const of that name
        node = pair
    if node is None:
        return None, Issue(f"trimtab cannot read `{key}` statically", where.span(), "error")
    got = url_expression(mod, node)
    return (None, got) if isinstance(got, Issue) else (got, None)
