"""A small evaluator for the part of TypeScript a Drizzle schema is written in.

It evaluates expressions to *values* the way running the file would, but only those a
schema needs: literals, arrays, objects (with spreads), template strings, constants,
imports between the files, arrow functions and one-``return`` functions, TypeScript enums,
``Object.values``/``Object.keys``, and the builders of ``drizzle-orm/pg-core`` (each call
returns an immutable builder value; each chained method a new one).

Anything else evaluates to ``Unknown``, which remembers the exact range that could not be
understood and why. Evaluating never reports anything by itself: the lowering step
(``_lower``) turns the ``Unknown`` values it meets where they matter into issues, so that
helper code nobody uses for the schema produces no noise.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from tree_sitter import Node

from trimtab.sources.drizzle._platforms import INTERNAL as _INTERNAL
from trimtab.sources.drizzle._platforms import PLATFORM_MODULES
from trimtab.sources.drizzle._source import (
    Module,
    Program,
    cook,
    js_number,
    number_value,
    parse_module,
    string_value,
)
from trimtab.sources.sqlfile import Span

_T = TypeVar("_T")

# --------------------------------------------------------------------------------------
# Values


class Loc(NamedTuple):
    """A range of a module, in bytes (a tuple: cheap to make, and a file has many)."""

    mod: Module
    start: int
    end: int

    def span(self) -> Span:
        return self.mod.span(self.start, self.end)

    @property
    def text(self) -> str:
        return self.mod.data[self.start:self.end].decode("utf-8", "replace")


def loc(mod: Module, node: Node, end: Node | None = None) -> Loc:
    return Loc(mod, node.start_byte, (end or node).end_byte)


def replace(obj: _T, **changes: Any) -> _T:
    """dataclasses.replace for our frozen values, without its per-field work: builder
    chains make one copy per method call, and a 1,000-table schema has 30,000 of them."""
    new = object.__new__(type(obj))
    d = new.__dict__
    d.update(obj.__dict__)
    d.update(changes)
    return new


class _Undefined:
    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "undefined"


UNDEFINED = _Undefined()


@dataclass(frozen=True, eq=False)
class Unknown:
    """Something this reader cannot evaluate: ``loc`` is exactly what, ``message`` why."""

    loc: Loc
    message: str


@dataclass(frozen=True, eq=False)
class Unresolved(Unknown):
    """An import trimtab cannot read: ``loc`` is the import. ``installed``: an npm package
    from a registry (its values are fine where only the application's runtime uses them,
    and it holds no tables of the project); otherwise a file or package not found."""

    spec: str
    installed: bool = False


@dataclass(frozen=True)
class BigIntV:
    value: int


@dataclass(frozen=True, eq=False)
class JSArray:
    items: tuple[Any, ...]
    loc: Loc


@dataclass(frozen=True, eq=False)
class JSObject:
    """Entries in JavaScript's order; ``locs`` are the ranges of the entries (``key: value``);
    ``problems`` are spreads and computed keys that could not be evaluated."""

    entries: dict[str, Any]
    locs: dict[str, Loc]
    loc: Loc
    problems: tuple[Unknown, ...] = ()

    def get(self, key: str) -> Any:
        return self.entries.get(key, UNDEFINED)


@dataclass(frozen=True, eq=False)
class Fn:
    params: Node | None  # formal_parameters, or a lone identifier
    body: Node
    env: Env
    loc: Loc


@dataclass(frozen=True)
class Builtin:
    """A function or object of drizzle-orm (or of the JavaScript runtime) this reader knows."""

    name: str


@dataclass(frozen=True)
class Ignored:
    """A value that declares nothing in the database (``relations(...)``, a type...)."""

    what: str


@dataclass(frozen=True, eq=False)
class Unsupported:
    """A drizzle object trimtab cannot turn into DDL yet (views, policies, roles...)."""

    what: str
    loc: Loc


@dataclass(frozen=True, eq=False)
class Namespace:
    """``import * as ns from "./file"``."""

    module: Module


@dataclass(frozen=True)
class BoundMethod:
    obj: Any
    name: str


@dataclass(frozen=True, eq=False)
class Sql:
    """An ``sql`` template: raw SQL strings and interpolated values, in order."""

    parts: tuple[Any, ...]
    loc: Loc


@dataclass(frozen=True, eq=False)
class Param:
    """A plain value interpolated into ``sql``: drizzle makes it a query parameter."""

    value: Any
    loc: Loc
    encoder: Any = None  # the ColRef drizzle's bindIfParam maps the value with, if any


@dataclass(frozen=True, eq=False)
class CustomTypeV:
    """``customType({ dataType(config) { ... } })``: calling it makes a column builder."""

    params: Any  # the options object
    loc: Loc


@dataclass(frozen=True, eq=False)
class QueryV:
    """A query-builder SELECT of a view: ``qb.select(fields?).from(table).where(cond)``;
    ``problems`` are the parts trimtab cannot render exactly."""

    fields: Any  # JSObject, or UNDEFINED for all of the table's columns
    loc: Loc
    distinct: bool = False
    table: Any = None
    where: Any = None
    problems: tuple[Unknown, ...] = ()


@dataclass(frozen=True, eq=False)
class ViewB:
    """``pgView(name, columns?)`` / ``pgMaterializedView`` and its chained options; ``query``
    is set by ``.as(...)``, ``existing`` by ``.existing()``."""

    materialized: bool
    schema: str | None
    name: Any
    columns: Any  # JSObject or UNDEFINED
    loc: Loc
    with_: Any = None
    using: Any = None
    tablespace: Any = None
    with_no_data: bool = False
    query: Any = None  # Sql or QueryV once .as(...) is called
    existing: bool = False
    done: bool = False  # .as(...) or .existing() was called


@dataclass(frozen=True, eq=False)
class EnumV:
    schema: str | None
    name: Any  # str when understood
    values: Any  # JSArray / JSObject when understood
    loc: Loc


@dataclass(frozen=True, eq=False)
class SchemaV:
    name: Any
    loc: Loc


@dataclass(frozen=True, eq=False)
class SequenceV:
    schema: str | None
    name: Any
    options: Any
    loc: Loc


@dataclass(frozen=True, eq=False)
class TableCreator:
    fn: Any  # pgTableCreator's name function


@dataclass(frozen=True, eq=False)
class ColBuilder:
    """A column builder and what its chained methods said. Locs of modifiers cover
    ``.name(args)``."""

    kind: str  # the pg-core builder ("integer", "varchar"...), "enum" or "custom"
    name: Any  # the name given as first argument (str), or None: the key names it
    config: Any  # the config object, or None
    loc: Loc  # the whole expression so far
    enum: EnumV | None = None
    custom: CustomTypeV | None = None
    not_null: Loc | None = None
    primary_key: Loc | None = None
    default: tuple[Any, Loc] | None = None
    unique: tuple[Any, Any, Loc] | None = None  # (name, config, loc)
    references: tuple[tuple[Any, Any, Loc], ...] = ()  # (() => column, actions, loc)
    generated: tuple[Any, Loc] | None = None
    identity: tuple[str, Any, Loc] | None = None  # ("always"|"byDefault", options, loc)
    arrays: tuple[tuple[Any, Loc], ...] = ()  # .array(size?)
    problems: tuple[Unknown, ...] = ()
    warnings: tuple[Unknown, ...] = ()


@dataclass(frozen=True, eq=False)
class TableV:
    schema: str | None
    name: Any
    columns: Any  # JSObject of column builders (or Unknown)
    extra: Any  # the third argument (a callback), or None
    loc: Loc  # the pgTable(...) call: also the table's identity
    name_loc: Loc
    rls: bool = False

    @property
    def ident(self) -> tuple[str, int]:
        return (self.loc.mod.name, self.loc.start)


@dataclass(frozen=True, eq=False)
class RoleV:
    """``pgRole(name, { createDb, createRole, inherit })``, ``.existing()`` or not."""

    name: Any
    config: Any
    loc: Loc
    existing: bool = False


@dataclass(frozen=True, eq=False)
class PolicyV:
    """``pgPolicy(name, { as, for, to, using, withCheck })``; ``table``: ``.link(table)``."""

    name: Any
    config: Any
    loc: Loc
    table: Any = None


@dataclass(frozen=True, eq=False)
class ColRef:
    """``table.column`` (also ``t.column`` in a table's callback), with an index's per-column
    options when used in one."""

    table: TableV
    key: str
    loc: Loc
    order: str | None = None  # "asc" / "desc"
    nulls: str | None = None  # "first" / "last"
    opclass: Any = None


@dataclass(frozen=True, eq=False)
class IndexOn:
    unique: bool
    name: Any
    loc: Loc


@dataclass(frozen=True, eq=False)
class IndexB:
    unique: bool
    name: Any
    columns: tuple[Any, ...]
    loc: Loc
    method: Any = "btree"
    where: Any = None
    with_: Any = None
    concurrently: bool = False
    problems: tuple[Unknown, ...] = ()


@dataclass(frozen=True, eq=False)
class UniqueOn:
    name: Any
    loc: Loc


@dataclass(frozen=True, eq=False)
class UniqueB:
    name: Any
    columns: tuple[Any, ...]
    loc: Loc
    nulls_not_distinct: bool = False


@dataclass(frozen=True, eq=False)
class PkB:
    columns: tuple[Any, ...]
    name: Any
    loc: Loc


@dataclass(frozen=True, eq=False)
class FkB:
    name: Any
    columns: Any
    foreign_columns: Any
    loc: Loc
    on_delete: Any = None
    on_update: Any = None
    problems: tuple[Unknown, ...] = ()


@dataclass(frozen=True, eq=False)
class CheckB:
    name: Any
    sql: Any
    loc: Loc


# --------------------------------------------------------------------------------------
# What drizzle-orm exports (the builders this reader knows)

# Column builders of drizzle-orm/pg-core that need nothing beyond PostgreSQL itself.
COLUMN_BUILDERS = frozenset((
    "bigint", "bigserial", "boolean", "char", "cidr", "date", "decimal", "doublePrecision",
    "inet", "integer", "interval", "json", "jsonb", "line", "macaddr", "macaddr8", "numeric",
    "point", "real", "serial", "smallint", "smallserial", "text", "time", "timestamp", "uuid",
    "varchar", "bit", "vector", "halfvec", "sparsevec",
))
# pg-core builders that need an extension (the shadow database would not have it) or that
# trimtab cannot see through.
UNSUPPORTED_BUILDERS = {
    "geometry": "geometry (PostGIS)",
}
_PG_CORE = COLUMN_BUILDERS | frozenset((
    "pgTable", "pgSchema", "pgEnum", "pgSequence", "pgTableCreator", "index", "uniqueIndex",
    "primaryKey", "foreignKey", "unique", "check", "customType", "pgView",
    "pgMaterializedView", "pgPolicy", "pgRole",
))
_PG_CORE_UNSUPPORTED: dict[str, str] = {
}
# drizzle-orm's conditions (drizzle-orm/sql/expressions/conditions.js): each makes an sql``.
_COMPARISONS = {"eq": " = ", "ne": " <> ", "gt": " > ", "gte": " >= ", "lt": " < ",
                "lte": " <= "}
_PATTERNS = {"like": " like ", "ilike": " ilike ", "notLike": " not like ",
             "notIlike": " not ilike "}
CONDITIONS = frozenset((*_COMPARISONS, *_PATTERNS, "and", "or", "not", "isNull", "isNotNull",
                        "inArray", "notInArray", "between", "notBetween"))
_DRIZZLE_ORM = {"sql", "relations"}
_PACKAGES = ("drizzle-orm/pg-core", "drizzle-orm", "drizzle-kit")
# Column builder methods that change nothing in the database.
_NO_SCHEMA_METHODS = frozenset((
    "$type", "$defaultFn", "$default", "$onUpdateFn", "$onUpdate", "$inferSelect",
    "$inferInsert",
))


def _package_member(pkg: str, name: str, where: Loc) -> Any:
    if pkg == "drizzle-orm/pg-core":
        if name in _PG_CORE:
            return Builtin(name)
        if name in UNSUPPORTED_BUILDERS:
            return Builtin(name)
        if name in _PG_CORE_UNSUPPORTED:
            return Builtin(name)
    if pkg == "drizzle-orm" and name in _DRIZZLE_ORM:
        return Builtin(name)
    if pkg == "drizzle-kit" and name == "defineConfig":
        return Builtin(name)
    if pkg == "drizzle-orm" and name in CONDITIONS:
        return Builtin(name)
    return Unknown(where, f"trimtab does not know `{name}` from '{pkg}'")


# --------------------------------------------------------------------------------------
# Scopes


@dataclass(eq=False)
class Env:
    vars: dict[str, Any]
    parent: Env | None
    scope: ModuleScope

    def lookup(self, name: str, where: Loc) -> Any:
        env: Env | None = self
        while env is not None:
            if name in env.vars:
                return env.vars[name]
            env = env.parent
        return self.scope.get(name, where)


@dataclass(frozen=True)
class _Import:
    spec: str
    name: str | None  # None: the namespace (import * as x)
    loc: Loc


_IN_PROGRESS = object()


@dataclass(eq=False)
class ModuleScope:
    ev: Evaluator
    mod: Module
    bindings: dict[str, Any] = field(default_factory=dict)  # name -> Node or _Import
    exports: dict[str, tuple[str, Any]] = field(default_factory=dict)
    star_exports: list[tuple[str, Loc]] = field(default_factory=list)
    memo: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str, where: Loc) -> Any:
        if name in self.memo:
            v = self.memo[name]
            if v is _IN_PROGRESS:
                return Unknown(where, f"`{name}` refers to itself while it is being defined")
            return v
        b = self.bindings.get(name)
        if b is None:
            g = _GLOBALS.get(name)
            if g is not None:
                return g
            return Unknown(where, f"trimtab cannot resolve `{name}`")
        self.memo[name] = _IN_PROGRESS
        try:
            v = self.ev.binding_value(self, name, b, where)
        finally:
            self.memo.pop(name, None)
        self.memo[name] = v
        return v


_GLOBALS: dict[str, Any] = {
    "undefined": UNDEFINED,
    "NaN": float("nan"),
    "Infinity": float("inf"),
    "Object": Builtin("Object"),
}


# --------------------------------------------------------------------------------------
# The evaluator


_MAX_DEPTH = 64


class Evaluator:
    def __init__(self, program: Program) -> None:
        self.program = program
        self.scopes: dict[str, ModuleScope] = {}
        self.depth = 0
        self.platforms: dict[str, Module] = {}  # drizzle-orm/supabase...: see _platforms

    # -- modules --------------------------------------------------------------------

    def scope(self, mod: Module) -> ModuleScope:
        s = self.scopes.get(mod.name)
        if s is None:
            s = ModuleScope(self, mod)
            self.scopes[mod.name] = s
            self._declare(s)
        return s

    def _declare(self, s: ModuleScope) -> None:
        mod = s.mod
        for node in mod.root.named_children:
            if node.type == "export_statement":
                self._declare_export(s, node)
            else:
                self._declare_statement(s, node)

    def _declare_statement(self, s: ModuleScope, node: Node) -> list[str]:
        """Record the names a top-level statement binds; returns them."""
        mod = s.mod
        names: list[str] = []
        t = node.type
        if t in ("lexical_declaration", "variable_declaration"):
            for d in node.named_children:
                if d.type != "variable_declarator":
                    continue
                name = d.child_by_field_name("name")
                if name is not None and name.type == "identifier":
                    s.bindings[mod.src(name)] = d
                    names.append(mod.src(name))
        elif t in ("function_declaration", "enum_declaration", "class_declaration",
                   "generator_function_declaration"):
            name = node.child_by_field_name("name")
            if name is not None:
                s.bindings[mod.src(name)] = node
                names.append(mod.src(name))
        elif t == "import_statement":
            self._declare_import(s, node)
        return names

    def _declare_import(self, s: ModuleScope, node: Node) -> None:
        mod = s.mod
        source = node.child_by_field_name("source")
        if source is None:
            return
        spec = string_value(mod, source)
        for clause in node.named_children:
            if clause.type != "import_clause":
                continue
            for part in clause.named_children:
                if part.type == "identifier":  # default import
                    s.bindings[mod.src(part)] = _Import(spec, "default", loc(mod, part))
                elif part.type == "namespace_import":
                    ident = next((c for c in part.named_children if c.type == "identifier"),
                                 None)
                    if ident is not None:
                        s.bindings[mod.src(ident)] = _Import(spec, None, loc(mod, ident))
                elif part.type == "named_imports":
                    for sp in part.named_children:
                        if sp.type != "import_specifier":
                            continue
                        name = sp.child_by_field_name("name")
                        alias = sp.child_by_field_name("alias") or name
                        if name is None or alias is None:
                            continue
                        s.bindings[mod.src(alias)] = _Import(
                            spec, _name_text(mod, name), loc(mod, sp))

    def _declare_export(self, s: ModuleScope, node: Node) -> None:
        mod = s.mod
        decl = node.child_by_field_name("declaration")
        source = node.child_by_field_name("source")
        if decl is not None:
            for name in self._declare_statement(s, decl):
                s.exports[name] = ("local", name)
            return
        value = node.child_by_field_name("value")
        if value is not None:  # export default <expression>
            s.bindings["*default*"] = value
            s.exports["default"] = ("local", "*default*")
            return
        spec = string_value(mod, source) if source is not None else None
        for part in node.named_children:
            if part.type == "export_clause":
                for sp in part.named_children:
                    if sp.type != "export_specifier":
                        continue
                    local = sp.child_by_field_name("name")
                    alias = sp.child_by_field_name("alias") or local
                    if local is None or alias is None:
                        continue
                    if spec is None:
                        s.exports[_name_text(mod, alias)] = ("local", _name_text(mod, local))
                    else:
                        s.exports[_name_text(mod, alias)] = (
                            "import", _Import(spec, _name_text(mod, local), loc(mod, sp)))
            elif part.type == "namespace_export" and spec is not None:
                ident = next((c for c in part.named_children if c.type == "identifier"), None)
                if ident is not None:
                    s.exports[mod.src(ident)] = ("import", _Import(spec, None, loc(mod, part)))
        if spec is not None and not any(
            p.type in ("export_clause", "namespace_export") for p in node.named_children
        ):
            s.star_exports.append((spec, loc(mod, node)))

    def binding_value(self, s: ModuleScope, name: str, b: Any, where: Loc) -> Any:
        mod = s.mod
        env = Env({}, None, s)
        if isinstance(b, _Import):
            return self.import_value(mod, b)
        t = b.type
        if t == "variable_declarator":
            value = b.child_by_field_name("value")
            if value is None:
                return UNDEFINED
            return self.ev(value, env)
        if t in ("function_declaration", "generator_function_declaration"):
            return Fn(b.child_by_field_name("parameters"), b.child_by_field_name("body"), env,
                      loc(mod, b))
        if t == "enum_declaration":
            return self._ts_enum(b, env)
        if t == "class_declaration":
            return Unknown(loc(mod, b), "trimtab cannot evaluate a class")
        return self.ev(b, env)  # export default <expression>

    def import_value(self, mod: Module, imp: _Import) -> Any:
        for pkg in _PACKAGES:
            if imp.spec == pkg:
                if imp.name is None:
                    return Builtin(f"package:{pkg}")
                return _package_member(pkg, imp.name, imp.loc)
        if imp.spec == _INTERNAL:
            return Builtin(imp.name or "")
        if imp.spec in PLATFORM_MODULES:
            helpers = self.platform_module(imp.spec)
            if imp.name is None:
                return Namespace(helpers)
            return self.export_value(helpers, imp.name, imp.loc)
        if imp.spec.startswith("drizzle-orm/"):
            # drivers and migrators (drizzle-orm/node-postgres...): `export const db =
            # drizzle(pool)` next to the tables declares nothing
            return Ignored(imp.spec)
        target = self.program.resolve(mod, imp.spec)
        if target is None:
            if self.program.external(mod, imp.spec):
                # an npm package (cuid2, nanoid...): fine where its values only feed
                # runtime-only parts ($defaultFn); anywhere else lowering reports it
                return Unresolved(imp.loc, f"trimtab does not evaluate the npm package "
                                           f"'{imp.spec}'", imp.spec, installed=True)
            what = f"`{imp.name}` from " if imp.name and imp.name != "default" else ""
            return Unresolved(imp.loc, f"trimtab cannot resolve the import of {what}"
                                       f"'{imp.spec}'", imp.spec)
        if imp.name is None:
            return Namespace(target)
        return self.export_value(target, imp.name, imp.loc)

    def platform_module(self, spec: str) -> Module:
        """drizzle-orm's RLS helpers for a platform, read from trimtab's own TypeScript
        that declares what drizzle-orm declares there (parsed once per reader)."""
        mod = self.platforms.get(spec)
        if mod is None:
            mod = parse_module(f"<{spec}>", PLATFORM_MODULES[spec], given=False)
            self.platforms[spec] = mod
        return mod

    def export_value(self, mod: Module, name: str, where: Loc, seen: frozenset[str] = frozenset()
                     ) -> Any:
        if mod.name in seen:
            return Unknown(where, f"circular re-exports of `{name}`")
        s = self.scope(mod)
        e = s.exports.get(name)
        if e is not None:
            kind, what = e
            if kind == "local":
                return s.get(what, where)
            return self.import_value(mod, what)
        lost: Unresolved | None = None
        for spec, star in s.star_exports:
            target = self.program.resolve(mod, spec)
            if target is None:
                if lost is None and not self.program.external(mod, spec):
                    lost = Unresolved(star, f"trimtab cannot resolve the module '{spec}' "
                                            f"re-exported here (looking for `{name}`)", spec)
                continue
            v = self.export_value(target, name, where, seen | {mod.name})
            if not (isinstance(v, Unknown) and v.message.startswith("trimtab cannot find")):
                return v
        if lost is not None:  # the name may well be in the module that was not found
            return lost
        return Unknown(where, f"trimtab cannot find the export `{name}` in {mod.name}")

    def exports(self, mod: Module, seen: frozenset[str] = frozenset()
                ) -> Iterator[tuple[str, Any, Loc]]:
        """(name, value, loc of the export) for every export of a module, re-exports
        included: what ``require(file)`` gives drizzle-kit."""
        if mod.name in seen:
            return
        s = self.scope(mod)
        for name, (kind, what) in s.exports.items():
            if kind == "local":
                b = s.bindings.get(what)
                where = loc(mod, b) if isinstance(b, Node) else Loc(mod, 0, 0)
                yield name, s.get(what, where), where
            else:
                yield name, self.import_value(mod, what), what.loc
        for spec, where in s.star_exports:
            target = self.program.resolve(mod, spec)
            if target is None:
                if not spec.startswith("drizzle-") and not self.program.external(mod, spec):
                    yield "*", Unresolved(where, f"trimtab cannot resolve the module "
                                                 f"'{spec}' re-exported here", spec), where
                continue
            for name, value, w in self.exports(target, seen | {mod.name}):
                if name != "default":
                    yield name, value, w

    def declarations(self, mod: Module) -> Iterator[tuple[str, Any, Loc]]:
        """Every top-level binding of a module that is not an import: (name, value, loc)."""
        s = self.scope(mod)
        for name, b in list(s.bindings.items()):
            if isinstance(b, Node):
                yield name, s.get(name, loc(mod, b)), loc(mod, b)

    # -- TypeScript enums -------------------------------------------------------------

    def _ts_enum(self, node: Node, env: Env) -> Any:
        mod = env.scope.mod
        body = node.child_by_field_name("body")
        entries: dict[str, Any] = {}
        locs: dict[str, Loc] = {}
        nxt: float | None = 0.0
        for m in body.named_children if body is not None else ():
            if m.type == "enum_assignment":
                key = _name_text(mod, m.child_by_field_name("name"))
                value = self.ev(m.child_by_field_name("value"), env)
            elif m.type in ("property_identifier", "string"):
                key = _name_text(mod, m)
                value = nxt if nxt is not None else Unknown(loc(mod, m), "enum member value")
            else:
                continue
            entries[key] = value
            locs[key] = loc(mod, m)
            nxt = value + 1 if isinstance(value, float) else None
        return JSObject(entries, locs, loc(mod, node))

    # -- expressions ------------------------------------------------------------------

    def ev(self, node: Node | None, env: Env) -> Any:
        if node is None:  # a part tree-sitter could not find in broken code
            return UNDEFINED
        mod = env.scope.mod
        t = node.type
        if t == "string":
            return string_value(mod, node)
        if t == "number":
            v = number_value(mod.src(node))
            if v is None:
                return Unknown(loc(mod, node), "trimtab cannot read this number")
            return BigIntV(v) if isinstance(v, int) else v
        if t == "true":
            return True
        if t == "false":
            return False
        if t == "null":
            return None
        if t == "undefined":
            return UNDEFINED
        if t == "identifier":
            return env.lookup(mod.src(node), loc(mod, node))
        if t in ("parenthesized_expression", "as_expression", "satisfies_expression",
                 "non_null_expression", "type_assertion"):
            inner = next((c for c in node.named_children if c.type not in _TYPE_NODES), None)
            return self.ev(inner, env) if inner is not None else UNDEFINED
        if t == "template_string":
            return self._template(node, env)
        if t == "array":
            return self._array(node, env)
        if t == "object":
            return self._object(node, env)
        if t == "member_expression":
            obj = self.ev(node.child_by_field_name("object"), env)
            prop = node.child_by_field_name("property")
            if prop is None:
                return Unknown(loc(mod, node), "trimtab cannot evaluate this expression")
            if (obj is UNDEFINED or obj is None) and any(
                    c.type == "optional_chain" for c in node.children):
                return UNDEFINED  # a?.b on nothing
            return self.member(obj, mod.src(prop), loc(mod, node), loc(mod, prop))
        if t == "subscript_expression":
            obj = self.ev(node.child_by_field_name("object"), env)
            key = self.ev(node.child_by_field_name("index"), env)
            if isinstance(key, float):
                key = js_number(key)
            if not isinstance(key, str):
                return key if isinstance(key, Unknown) else Unknown(
                    loc(mod, node), "trimtab cannot evaluate this index")
            return self.member(obj, key, loc(mod, node), loc(mod, node))
        if t == "call_expression":
            return self._call(node, env)
        if t in ("arrow_function", "function_expression", "function"):
            params = node.child_by_field_name("parameters") or node.child_by_field_name(
                "parameter")
            body = node.child_by_field_name("body")
            if body is None:
                return Unknown(loc(mod, node), "trimtab cannot evaluate this function")
            return Fn(params, body, env, loc(mod, node))
        if t == "unary_expression":
            return self._unary(node, env)
        if t == "binary_expression":
            return self._binary(node, env)
        return Unknown(loc(mod, node), "trimtab cannot evaluate this expression")

    def _template(self, node: Node, env: Env) -> Any:
        mod = env.scope.mod
        out: list[str] = []
        for raw, sub in template_parts(mod, node):
            out.append(cook(raw))
            if sub is None:
                continue
            v = self.ev(sub, env)
            if isinstance(v, str):
                out.append(v)
            elif isinstance(v, float):
                out.append(js_number(v))
            elif isinstance(v, BigIntV):
                out.append(str(v.value))
            elif isinstance(v, bool):
                out.append("true" if v else "false")
            else:
                return v if isinstance(v, Unknown) else Unknown(
                    loc(mod, sub), "trimtab cannot evaluate this template substitution")
        return "".join(out)

    def _array(self, node: Node, env: Env) -> JSArray:
        mod = env.scope.mod
        items: list[Any] = []
        for c in node.named_children:
            if c.type == "comment":
                continue
            if c.type == "spread_element":
                inner = self.ev(c.named_children[0], env) if c.named_children else UNDEFINED
                if isinstance(inner, JSArray):
                    items.extend(inner.items)
                else:
                    items.append(inner if isinstance(inner, Unknown) else Unknown(
                        loc(mod, c), "trimtab cannot evaluate this spread"))
                continue
            items.append(self.ev(c, env))
        return JSArray(tuple(items), loc(mod, node))

    def _object(self, node: Node, env: Env) -> JSObject:
        mod = env.scope.mod
        entries: dict[str, Any] = {}
        locs: dict[str, Loc] = {}
        problems: list[Unknown] = []
        for c in node.named_children:
            t = c.type
            if t == "comment":
                continue
            if t == "pair":
                key_node = c.child_by_field_name("key")
                if key_node is None:
                    continue
                key = self._key(key_node, env)
                if isinstance(key, Unknown):
                    problems.append(key)
                    continue
                entries[key] = self.ev(c.child_by_field_name("value"), env)
                locs[key] = loc(mod, c)
            elif t == "shorthand_property_identifier":
                key = mod.src(c)
                entries[key] = env.lookup(key, loc(mod, c))
                locs[key] = loc(mod, c)
            elif t == "spread_element":
                inner = self.ev(c.named_children[0], env) if c.named_children else UNDEFINED
                if isinstance(inner, JSObject):
                    entries.update(inner.entries)
                    locs.update(inner.locs)
                    problems.extend(inner.problems)
                elif inner is None or inner is UNDEFINED:
                    pass  # spreading nothing adds nothing
                else:
                    problems.append(inner if isinstance(inner, Unknown) else Unknown(
                        loc(mod, c), "trimtab cannot evaluate this spread"))
            elif t == "method_definition":
                name = c.child_by_field_name("name")
                key = _name_text(mod, name) if name is not None else "?"
                body = c.child_by_field_name("body")
                plain = not any(x.type in ("get", "set", "async", "*") for x in c.children)
                entries[key] = Fn(c.child_by_field_name("parameters"), body, env,
                                  loc(mod, c)) if body is not None and plain else Unknown(
                    loc(mod, c), "trimtab cannot evaluate a method here")
                locs[key] = loc(mod, c)
            else:
                problems.append(Unknown(loc(mod, c), "trimtab cannot evaluate this entry"))
        return JSObject(entries, locs, loc(mod, node), tuple(problems))

    def _key(self, node: Node, env: Env) -> str | Unknown:
        mod = env.scope.mod
        if node.type == "computed_property_name":
            inner = node.named_children[0] if node.named_children else None
            v = self.ev(inner, env) if inner is not None else UNDEFINED
            if isinstance(v, float):
                return js_number(v)
            if isinstance(v, str):
                return v
            return v if isinstance(v, Unknown) else Unknown(
                loc(mod, node), "trimtab cannot evaluate this key")
        if node.type == "number":
            v = number_value(mod.src(node))
            return js_number(v) if isinstance(v, float) else mod.src(node)
        return _name_text(mod, node)

    def _unary(self, node: Node, env: Env) -> Any:
        mod = env.scope.mod
        op = node.child_by_field_name("operator")
        arg = self.ev(node.child_by_field_name("argument"), env)
        o = mod.src(op) if op is not None else ""
        if o == "-" and isinstance(arg, float):
            return -arg
        if o == "-" and isinstance(arg, BigIntV):
            return BigIntV(-arg.value)
        if o == "+" and isinstance(arg, float):
            return arg
        if o == "!" and isinstance(arg, bool):
            return not arg
        if isinstance(arg, Unknown):
            return arg
        return Unknown(loc(mod, node), "trimtab cannot evaluate this expression")

    def _binary(self, node: Node, env: Env) -> Any:
        mod = env.scope.mod
        op_node = node.child_by_field_name("operator")
        op = mod.src(op_node) if op_node is not None else ""
        left_node = node.child_by_field_name("left")
        right_node = node.child_by_field_name("right")
        # tree-sitter reads sql<T>`...` as (sql < T) > `...`: a tagged template after all.
        if (op == ">" and right_node is not None and right_node.type == "template_string"
                and left_node is not None and left_node.type == "binary_expression"):
            inner_op = left_node.child_by_field_name("operator")
            tag = left_node.child_by_field_name("left")
            if inner_op is not None and mod.src(inner_op) == "<" and tag is not None:
                return self._tagged(self.ev(tag, env), right_node, env, node)
        left = self.ev(left_node, env)
        right = self.ev(right_node, env)
        for v in (left, right):
            if isinstance(v, Unknown):
                return v
        if op == "+":
            if isinstance(left, str) or isinstance(right, str):
                a, b = _js_str(left), _js_str(right)
                if a is not None and b is not None:
                    return a + b
            elif isinstance(left, float) and isinstance(right, float):
                return left + right
        if op == "-" and isinstance(left, float) and isinstance(right, float):
            return left - right
        if op == "*" and isinstance(left, float) and isinstance(right, float):
            return left * right
        if op == "??":
            return right if left is None or left is UNDEFINED else left
        return Unknown(loc(mod, node), "trimtab cannot evaluate this expression")

    # -- calls ------------------------------------------------------------------------

    def _args(self, node: Node | None, env: Env) -> list[Any]:
        if node is None:
            return []
        out: list[Any] = []
        mod = env.scope.mod
        for c in node.named_children:
            if c.type == "comment":
                continue
            if c.type == "spread_element":
                inner = self.ev(c.named_children[0], env) if c.named_children else UNDEFINED
                if isinstance(inner, JSArray):
                    out.extend(inner.items)
                else:
                    out.append(Unknown(loc(mod, c), "trimtab cannot evaluate this spread"))
                continue
            out.append(self.ev(c, env))
        return out

    def _call(self, node: Node, env: Env) -> Any:
        mod = env.scope.mod
        fn_node = node.child_by_field_name("function")
        args_node = node.child_by_field_name("arguments")
        if fn_node is None:
            return Unknown(loc(mod, node), "trimtab cannot evaluate this call")
        if args_node is not None and args_node.type == "template_string":
            return self._tagged(self.ev(fn_node, env), args_node, env, node)
        prop = fn_node.child_by_field_name("property")
        if fn_node.type == "member_expression" and prop is not None:
            obj = self.ev(fn_node.child_by_field_name("object"), env)
            name = mod.src(prop)
            where = Loc(mod, prop.start_byte, node.end_byte)  # `.name(args)`
            if isinstance(obj, Unknown):
                return obj
            args = self._args(args_node, env)
            if name in ("default", "generatedAlwaysAs") and args and isinstance(
                    args[0], Unknown) and args_node is not None:
                first = next((c for c in args_node.named_children if c.type != "comment"),
                             None)
                if first is not None:  # say which value, on its whole range
                    args[0] = Unknown(loc(mod, first), f"trimtab cannot compute this value "
                                                       f"({args[0].message})")
            return self.method(obj, name, args, where, loc(mod, node))
        callee = self.ev(fn_node, env)
        if isinstance(callee, Unknown):
            if fn_node.type == "identifier":  # an unknown function is an unknown builder
                came = f" (imported from '{callee.spec}')" \
                    if isinstance(callee, Unresolved) else ""
                return Unknown(loc(mod, fn_node), "trimtab does not understand this builder "
                                                  f"yet: {mod.src(fn_node)}{came}")
            return callee
        args = self._args(args_node, env)
        return self.call(callee, args, loc(mod, node), loc(mod, fn_node))

    def _tagged(self, tag: Any, template: Node, env: Env, whole: Node) -> Any:
        mod = env.scope.mod
        if isinstance(tag, Unknown):
            return tag
        if tag != Builtin("sql"):
            return Unknown(loc(mod, whole), "trimtab cannot evaluate this tagged template")
        parts: list[Any] = []
        for raw, sub in template_parts(mod, template):
            if raw:
                parts.append(cook(raw))
            if sub is None:
                continue
            parts.append(_sql_part(self.ev(sub, env), loc(mod, sub)))
        return Sql(tuple(parts), loc(mod, whole))

    def call(self, callee: Any, args: list[Any], where: Loc, callee_loc: Loc) -> Any:
        if isinstance(callee, Builtin):
            return self._builtin(callee.name, args, where, callee_loc)
        if isinstance(callee, Fn):
            return self.apply(callee, args, where)
        if isinstance(callee, BoundMethod):
            return self.method(callee.obj, callee.name, args, where, where)
        if isinstance(callee, EnumV):
            name, config = _name_and_config(args)
            return ColBuilder("enum", name, config, where, enum=callee)
        if isinstance(callee, CustomTypeV):
            name, config = _name_and_config(args)
            return ColBuilder("custom", name, config, where, custom=callee)
        if isinstance(callee, Ignored):
            return callee
        if isinstance(callee, TableCreator):
            return self._pg_table(None, args, where, callee_loc, creator=callee.fn)
        return Unknown(callee_loc,
                       f"trimtab does not understand this builder yet: {callee_loc.text}")

    def apply(self, fn: Fn, args: list[Any], where: Loc) -> Any:
        if self.depth >= _MAX_DEPTH:
            return Unknown(where, "trimtab stops at this depth of function calls")
        scope = fn.env.scope
        mod = scope.mod
        local = Env({}, fn.env, scope)
        self.depth += 1
        try:
            self._bind_params(fn.params, args, local)
            body = fn.body
            if body is None:
                return UNDEFINED
            if body.type != "statement_block":
                return self.ev(body, local)
            for st in body.named_children:
                if st.type == "comment":
                    continue
                if st.type in ("lexical_declaration", "variable_declaration"):
                    for d in st.named_children:
                        if d.type != "variable_declarator":
                            continue
                        name = d.child_by_field_name("name")
                        value = d.child_by_field_name("value")
                        if name is None or name.type != "identifier":
                            return Unknown(loc(mod, st), "trimtab cannot evaluate this function")
                        local.vars[mod.src(name)] = self.ev(value, local) if value else UNDEFINED
                elif st.type == "return_statement":
                    expr = next((c for c in st.named_children if c.type != "comment"), None)
                    return self.ev(expr, local) if expr is not None else UNDEFINED
                else:
                    return Unknown(loc(mod, st), "trimtab cannot evaluate this statement")
            return UNDEFINED
        finally:
            self.depth -= 1

    def _bind_params(self, params: Node | None, args: list[Any], env: Env) -> None:
        mod = env.scope.mod
        if params is None:
            return
        if params.type == "identifier":
            env.vars[mod.src(params)] = args[0] if args else UNDEFINED
            return
        k = 0
        for p in params.named_children:
            if p.type not in ("required_parameter", "optional_parameter"):
                continue
            pattern = p.child_by_field_name("pattern")
            value = args[k] if k < len(args) else UNDEFINED
            k += 1
            if value is UNDEFINED and p.child_by_field_name("value") is not None:
                value = self.ev(p.child_by_field_name("value"), env)
            if pattern is None:
                continue
            if pattern.type == "identifier":
                env.vars[mod.src(pattern)] = value
            elif pattern.type == "object_pattern":
                for part in pattern.named_children:
                    if part.type == "shorthand_property_identifier_pattern":
                        name = mod.src(part)
                        env.vars[name] = self.member(value, name, loc(mod, part), loc(mod, part))
                    elif part.type == "pair_pattern":
                        key = part.child_by_field_name("key")
                        target = part.child_by_field_name("value")
                        if key is not None and target is not None and \
                                target.type == "identifier":
                            env.vars[mod.src(target)] = self.member(
                                value, _name_text(mod, key), loc(mod, part), loc(mod, part))
            else:
                for name in _pattern_names(mod, pattern):
                    env.vars[name] = Unknown(loc(mod, pattern),
                                             "trimtab cannot evaluate this parameter")

    # -- members ----------------------------------------------------------------------

    def member(self, obj: Any, name: str, where: Loc, prop_loc: Loc) -> Any:
        if isinstance(obj, Unknown):
            return obj
        if isinstance(obj, TableV):
            cols = obj.columns
            if isinstance(cols, JSObject) and name in cols.entries:
                return ColRef(obj, name, where)
            if name in ("enableRLS",):
                return BoundMethod(obj, name)
            if name.startswith("$") or name == "_":
                return Ignored(name)
            return Unknown(prop_loc, f"the table has no column `{name}`")
        if isinstance(obj, JSObject):
            return obj.entries.get(name, UNDEFINED)
        if isinstance(obj, JSArray):
            if name == "length":
                return float(len(obj.items))
            return BoundMethod(obj, name)
        if isinstance(obj, Namespace):
            return self.export_value(obj.module, name, where)
        if isinstance(obj, Builtin):
            if obj.name.startswith("package:"):
                return _package_member(obj.name[len("package:"):], name, where)
            if obj.name == "sql" and name in ("raw", "identifier", "join", "empty"):
                return Builtin(f"sql.{name}")
            if obj.name == "Object" and name in ("values", "keys"):
                return Builtin(f"Object.{name}")
            return Unknown(where, f"trimtab does not understand this builder yet: {where.text}")
        if isinstance(obj, EnumV):
            if name == "enumValues":
                return obj.values if isinstance(obj.values, JSArray) else Unknown(
                    where, "enum values")
            if name in ("enumName",):
                return obj.name
            return Unknown(where, f"trimtab does not understand this yet: {where.text}")
        if isinstance(obj, SchemaV):
            if name in ("table", "enum", "sequence", "view", "materializedView"):
                return BoundMethod(obj, name)
            if name == "schemaName":
                return obj.name
        if isinstance(obj, RoleV | PolicyV) and name == "name":
            return obj.name
        if isinstance(obj, Ignored):
            return obj
        return BoundMethod(obj, name)

    def method(self, obj: Any, name: str, args: list[Any], where: Loc, whole: Loc) -> Any:
        """``obj.name(args)``; ``where`` covers ``.name(args)``, ``whole`` the call."""
        if isinstance(obj, Unknown):
            return obj
        if isinstance(obj, ColBuilder):
            return _column_method(obj, name, args, where, whole)
        if name == "toString" and not args and isinstance(obj, str | float | bool | BigIntV):
            return _js_str(obj)  # a constant from another file, as text (LIMIT.toString())
        if isinstance(obj, ColRef):
            a0 = args[0] if args else UNDEFINED
            if name in ("asc", "desc"):
                return replace(obj, order=name, loc=whole)
            if name in ("nullsFirst", "nullsLast"):
                return replace(obj, nulls=name[5:].lower(), loc=whole)
            if name == "op":
                return replace(obj, opclass=a0, loc=whole)
        if isinstance(obj, IndexOn):
            if name in ("on", "onOnly"):
                return IndexB(obj.unique, obj.name, tuple(args), whole)
            if name == "using":
                return IndexB(obj.unique, obj.name, tuple(args[1:]), whole,
                              method=args[0] if args else UNDEFINED)
        if isinstance(obj, IndexB):
            a0 = args[0] if args else UNDEFINED
            if name == "where":
                return replace(obj, where=a0, loc=whole)
            if name == "with":
                return replace(obj, with_=a0, loc=whole)
            if name == "concurrently":
                return replace(obj, concurrently=True, loc=whole)
        if isinstance(obj, UniqueOn) and name == "on":
            return UniqueB(obj.name, tuple(args), whole)
        if isinstance(obj, UniqueB) and name == "nullsNotDistinct":
            return replace(obj, nulls_not_distinct=True, loc=whole)
        if isinstance(obj, FkB) and name in ("onDelete", "onUpdate"):
            a0 = args[0] if args else UNDEFINED
            return replace(obj, loc=whole, **{"on_delete" if name == "onDelete" else
                                              "on_update": a0})
        if isinstance(obj, TableV) and name == "enableRLS":
            return replace(obj, rls=True)
        if isinstance(obj, ViewB):
            return self._view_method(obj, name, args, where, whole)
        if obj == Builtin("qb"):
            if name in ("select", "selectDistinct"):
                return QueryV(_arg(args, 0), whole, distinct=name == "selectDistinct")
            return Unknown(where, f"trimtab cannot render this query of a view exactly yet: "
                                  f".{name}(...)")
        if isinstance(obj, QueryV):
            a0 = _arg(args, 0)
            if name == "from" and obj.table is None:
                return replace(obj, table=a0, loc=whole)
            if name == "where" and obj.where is None:
                return replace(obj, where=a0, loc=whole)
            return replace(obj, loc=whole, problems=(*obj.problems, Unknown(
                where, f"trimtab cannot render this query of a view exactly yet: .{name}(...)")))
        if isinstance(obj, RoleV) and name == "existing":
            return replace(obj, existing=True)
        if isinstance(obj, PolicyV) and name == "link":
            return replace(obj, table=args[0] if args else UNDEFINED)
        if isinstance(obj, SchemaV):
            return self._schema_method(obj, name, args, whole, where)
        if isinstance(obj, Ignored | Unsupported):
            return obj
        if isinstance(obj, Namespace | Builtin | JSObject):
            callee = Loc(where.mod, whole.start, where.start + len(name.encode()))
            fn = self.member(obj, name, callee, callee)
            if isinstance(fn, Unknown) and not isinstance(obj, JSObject):
                return Unknown(callee, f"trimtab does not understand this builder yet: "
                                       f"{callee.text}")
            if isinstance(fn, Unknown):
                return fn
            return self.call(fn, args, whole, callee)
        return Unknown(where, f"trimtab does not understand this builder yet: {where.text}")

    def _schema_method(self, obj: SchemaV, name: str, args: list[Any], whole: Loc,
                       where: Loc) -> Any:
        schema = obj.name if isinstance(obj.name, str) else None
        if name == "table":
            return self._pg_table(schema, args, whole, where)
        if name == "enum":
            return EnumV(schema, _arg(args, 0), _arg(args, 1), whole)
        if name == "sequence":
            return SequenceV(schema, _arg(args, 0), _arg(args, 1), whole)
        if name in ("view", "materializedView"):
            return ViewB(name == "materializedView", schema, _arg(args, 0), _arg(args, 1),
                         whole)
        return Unknown(where, f"trimtab does not understand this builder yet: {where.text}")

    def _view_method(self, v: ViewB, name: str, args: list[Any], where: Loc, whole: Loc
                     ) -> Any:
        a0 = _arg(args, 0)
        if v.done:
            return Unknown(where, f"trimtab does not understand this builder yet: .{name}(...)")
        if name == "with":
            return replace(v, with_=a0, loc=whole)
        if v.materialized and name in ("using", "tablespace"):
            return replace(v, loc=whole, **{name: a0})
        if v.materialized and name == "withNoData":
            return replace(v, with_no_data=True, loc=whole)
        if name == "existing" and v.columns is not UNDEFINED:
            return replace(v, existing=True, done=True, loc=whole)
        if name == "as":
            if isinstance(a0, Fn):
                a0 = self.apply(a0, [Builtin("qb")], whole)
            if v.columns is UNDEFINED and isinstance(a0, Sql):
                # drizzle: ViewBuilder.as(sql) calls qb.getSelectedFields() and throws
                return Unknown(whole, "drizzle needs the view's columns for .as(sql`...`): "
                                      "pgView(name, { ...columns }).as(sql`...`)")
            return replace(v, query=a0, done=True, loc=whole)
        return Unknown(where, f"trimtab does not understand this builder yet: .{name}(...)")

    def _pg_table(self, schema: str | None, args: list[Any], whole: Loc, callee: Loc,
                  creator: Any = None) -> Any:
        name = _arg(args, 0)
        if creator is not None and isinstance(name, str):
            name = (self.apply(creator, [name], whole) if isinstance(creator, Fn)
                    else Unknown(callee, "trimtab cannot evaluate this table name function"))
        columns = _arg(args, 1)
        if isinstance(columns, Fn):  # pgTable("t", (t) => ({ id: t.integer() }))
            columns = self.apply(columns, [Builtin("package:drizzle-orm/pg-core")], whole)
        extra = args[2] if len(args) > 2 else None
        return TableV(schema, name, columns, extra, whole, callee)

    def _builtin(self, name: str, args: list[Any], where: Loc, callee: Loc) -> Any:
        a0 = _arg(args, 0)
        if name in COLUMN_BUILDERS:
            n, config = _name_and_config(args)
            return ColBuilder(name, n, config, where)
        if name == "pgTable":
            return self._pg_table(None, args, where, callee)
        if name == "pgTableCreator":
            return TableCreator(a0)
        if name == "pgSchema":
            return SchemaV(a0, where)
        if name == "pgEnum":
            return EnumV(None, a0, _arg(args, 1), where)
        if name == "pgSequence":
            return SequenceV(None, a0, _arg(args, 1), where)
        if name in ("index", "uniqueIndex"):
            return IndexOn(name == "uniqueIndex", a0, where)
        if name == "unique":
            return UniqueOn(a0, where)
        if name == "check":
            return CheckB(a0, _arg(args, 1), where)
        if name == "primaryKey":
            if isinstance(a0, JSObject) and "columns" in a0.entries:
                cols = a0.get("columns")
                return PkB(cols.items if isinstance(cols, JSArray) else (cols,),
                           a0.get("name"), where)
            return PkB(tuple(args), UNDEFINED, where)
        if name == "foreignKey":
            if isinstance(a0, JSObject):
                return FkB(a0.get("name"), a0.get("columns"), a0.get("foreignColumns"), where,
                           problems=a0.problems)
            return Unknown(where, "trimtab cannot read this foreignKey(...)")
        if name == "pgPolicy":
            return PolicyV(a0, _arg(args, 1), where)
        if name == "pgRole":
            return RoleV(a0, _arg(args, 1), where)
        if name == "crudPolicy":
            return _crud_policy(a0, where)
        if name == "relations":
            return Ignored("relations")
        if name == "defineConfig":
            return a0
        if name in CONDITIONS:
            return _condition(name, args, where)
        if name == "customType":
            return CustomTypeV(a0, where)
        if name in ("pgView", "pgMaterializedView"):
            return ViewB(name == "pgMaterializedView", None, a0, _arg(args, 1), where)
        if name == "sql.raw":
            if isinstance(a0, str):
                return Sql((a0,), where)
            return a0 if isinstance(a0, Unknown) else Unknown(where, "sql.raw needs a string")
        if name == "sql.identifier":
            if isinstance(a0, str):
                return Sql(('"' + a0.replace('"', '""') + '"',), where)
            return a0 if isinstance(a0, Unknown) else Unknown(
                where, "sql.identifier needs a string")
        if name in ("Object.values", "Object.keys"):
            if isinstance(a0, JSObject):
                seq = a0.entries.values() if name == "Object.values" else a0.entries.keys()
                return JSArray(tuple(seq), where)
            return a0 if isinstance(a0, Unknown) else Unknown(where, f"{name} of this value")
        if name in UNSUPPORTED_BUILDERS:
            return Unknown(callee, f"trimtab does not understand this builder yet: "
                                   f"{UNSUPPORTED_BUILDERS[name]}")
        if name in _PG_CORE_UNSUPPORTED:
            return Unsupported(name, where)
        return Unknown(callee, f"trimtab does not understand this builder yet: {callee.text}")


_TYPE_NODES = frozenset((
    "type_annotation", "type_arguments", "predefined_type", "type_identifier", "generic_type",
    "array_type", "tuple_type", "union_type", "object_type", "literal_type", "const",
    "readonly_type", "lookup_type", "index_type_query", "type_query", "function_type",
    "nested_type_identifier", "intersection_type", "parenthesized_type", "conditional_type",
    "template_literal_type", "infer_type", "this_type", "existential_type",
))


def _name_text(mod: Module, node: Node | None) -> str:
    if node is None:
        return ""
    if node.type == "string":
        return string_value(mod, node)
    return mod.src(node)


def _pattern_names(mod: Module, node: Node) -> list[str]:
    if node.type in ("identifier", "shorthand_property_identifier_pattern"):
        return [mod.src(node)]
    out: list[str] = []
    for c in node.named_children:
        out.extend(_pattern_names(mod, c))
    return out


def template_parts(mod: Module, node: Node) -> list[tuple[str, Node | None]]:
    """(raw text before, substitution expression) pairs of a template string; the last
    pair has no substitution."""
    parts: list[tuple[str, Node | None]] = []
    data = mod.data
    pos = node.start_byte + 1  # after the backtick
    for c in node.named_children:
        if c.type != "template_substitution":
            continue
        raw = data[pos:c.start_byte].decode("utf-8", "replace")
        expr = next((x for x in c.named_children if x.type != "comment"), None)
        parts.append((raw, expr))
        pos = c.end_byte
    parts.append((data[pos:node.end_byte - 1].decode("utf-8", "replace"), None))
    return parts


def _js_str(v: Any) -> str | None:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return js_number(v)
    if isinstance(v, BigIntV):
        return str(v.value)
    if v is None:
        return "null"
    if v is UNDEFINED:
        return "undefined"
    return None


def _arg(args: list[Any], k: int) -> Any:
    return args[k] if k < len(args) else UNDEFINED


def _name_and_config(args: list[Any]) -> tuple[Any, Any]:
    """drizzle's getColumnNameAndConfig: a non-empty string first is the name; an object
    first is the config."""
    a, b = _arg(args, 0), _arg(args, 1)
    if isinstance(a, Unknown):
        return a, b
    name = a if isinstance(a, str) and a else None
    config = a if isinstance(a, JSObject) else b
    return name, (None if config is UNDEFINED else config)


_INT_BUILDERS = frozenset(("integer", "smallint", "bigint"))


def _column_method(b: ColBuilder, name: str, args: list[Any], where: Loc, whole: Loc
                   ) -> Any:
    a0 = _arg(args, 0)
    b = replace(b, loc=whole)
    if name in _NO_SCHEMA_METHODS:
        return b
    if name == "notNull":
        return replace(b, not_null=where)
    if name == "primaryKey":
        return replace(b, primary_key=where, not_null=b.not_null or where)
    if name == "default":
        return replace(b, default=(a0, where))
    if name == "defaultNow" and b.kind in ("timestamp", "date", "time"):
        return replace(b, default=(Sql(("now()",), where), where))
    if name == "defaultRandom" and b.kind == "uuid":
        return replace(b, default=(Sql(("gen_random_uuid()",), where), where))
    if name == "unique":
        return replace(b, unique=(a0, _arg(args, 1), where))
    if name == "references":
        return replace(b, references=(*b.references, (a0, _arg(args, 1), where)))
    if name == "array":
        # .array() starts a new builder (PgArrayBuilder) with a fresh config: whatever was
        # chained before it is lost, as in drizzle.
        lost = [x for x in (b.not_null, b.primary_key, b.default and b.default[1],
                            b.unique and b.unique[2], b.generated and b.generated[1],
                            b.identity and b.identity[2], *(r[2] for r in b.references)) if x]
        warnings = tuple(Unknown(x, f"drizzle ignores .{x.text} before .array(): "
                                    "chain it after .array()") for x in lost)
        return replace(b, arrays=(*b.arrays, (a0, where)), not_null=None, primary_key=None,
                       default=None, unique=None, generated=None, identity=None,
                       references=(), warnings=b.warnings + warnings)
    if name == "generatedAlwaysAs":
        return replace(b, generated=(a0, where))
    if name in ("generatedAlwaysAsIdentity", "generatedByDefaultAsIdentity") and \
            b.kind in _INT_BUILDERS and not b.arrays:
        kind = "always" if name == "generatedAlwaysAsIdentity" else "byDefault"
        return replace(b, identity=(kind, a0, where), not_null=b.not_null or where)
    return replace(b, problems=(*b.problems, Unknown(
        where, f"trimtab does not understand this builder yet: .{name}(...)")))


def _bind(value: Any, column: Any, where: Loc) -> Any:
    """drizzle's bindIfParam: a plain value becomes a parameter mapped by the column."""
    if isinstance(value, ColRef | Sql | TableV | Param | Unknown):
        return value
    return Param(value, where, column if isinstance(column, ColRef) else None)


def _sql_part(value: Any, where: Loc) -> Any:
    """A value interpolated into sql``: a plain value is a parameter; an array a list."""
    if isinstance(value, JSArray):
        return _paren_list([_sql_part(x, where) for x in value.items], where)
    if value is None or isinstance(value, str | float | bool | BigIntV | JSObject):
        return Param(value, where)
    return value


def _paren_list(items: list[Any], where: Loc) -> Sql:
    """An array in sql``: drizzle writes its items in parentheses, comma-separated."""
    parts: list[Any] = ["("]
    for k, x in enumerate(items):
        if k:
            parts.append(", ")
        parts.append(x)
    parts.append(")")
    return Sql(tuple(parts), where)


def _condition(name: str, args: list[Any], where: Loc) -> Any:
    """The sql`` drizzle-orm's condition helpers make (conditions.js, 0.45)."""
    for a in args:
        if isinstance(a, Unknown):
            return a
    a0, a1, a2 = _arg(args, 0), _arg(args, 1), _arg(args, 2)
    if name in _COMPARISONS:
        return Sql((a0, _COMPARISONS[name], _bind(a1, a0, where)), where)
    if name in _PATTERNS:
        return Sql((a0, _PATTERNS[name], _sql_part(a1, where)), where)
    if name in ("and", "or"):
        conds = [c for c in args if c is not UNDEFINED]
        if not conds:
            return UNDEFINED
        if len(conds) == 1:
            return Sql((conds[0],), where)
        parts: list[Any] = ["("]
        for k, c in enumerate(conds):
            if k:
                parts.append(f" {name} ")
            parts.append(c)
        parts.append(")")
        return Sql(tuple(parts), where)
    if name == "not":
        return Sql(("not ", a0), where)
    if name in ("isNull", "isNotNull"):
        return Sql((a0, " is null" if name == "isNull" else " is not null"), where)
    if name in ("inArray", "notInArray"):
        op = " in " if name == "inArray" else " not in "
        if isinstance(a1, JSArray):
            if not a1.items:
                return Sql(("false" if name == "inArray" else "true",), where)
            return Sql((a0, op, _paren_list([_bind(x, a0, where) for x in a1.items], where)), where)
        return Sql((a0, op, _bind(a1, a0, where)), where)
    # between / notBetween
    op = " between " if name == "between" else " not between "
    return Sql((a0, op, _bind(a1, a0, where), " and ", _bind(a2, a0, where)), where)
def _crud_policy(options: Any, where: Loc) -> Any:
    """drizzle-orm/neon's crudPolicy({ role, read, modify }): four policies (select,
    insert, update, delete) named after the roles; a null read or modify leaves its
    policies out, true and false become sql`true` / sql`false`."""
    if not isinstance(options, JSObject):
        return options if isinstance(options, Unknown) else Unknown(
            where, "trimtab expects crudPolicy({ role, read, modify })")

    def rule(key: str) -> Any:
        v = options.get(key)
        if v is UNDEFINED:
            return Unknown(where, f"crudPolicy requires a {key} policy")
        if isinstance(v, bool):
            return Sql(("true" if v else "false",), where)
        return v

    read, modify = rule("read"), rule("modify")
    for v in (read, modify):
        if isinstance(v, Unknown):
            return v
    role = options.get("role")
    roles = role.items if isinstance(role, JSArray) else (role,)
    names = [r.name if isinstance(r, RoleV) else r for r in roles]
    if not all(isinstance(n, str) for n in names):
        bad = next(n for n in names if not isinstance(n, str))
        return bad if isinstance(bad, Unknown) else Unknown(
            where, "trimtab cannot read the role of this crudPolicy")
    label = "-".join(names)

    def policy(op: str, **rules: Any) -> PolicyV:
        entries = {"for": op, "to": role, **rules}
        return PolicyV(f"crud-{label}-policy-{op}",
                       JSObject(entries, dict.fromkeys(entries, where), where), where)

    out: list[PolicyV] = []
    if read is not None:
        out.append(policy("select", using=read))
    if modify is not None:
        out += [policy("insert", withCheck=modify),
                policy("update", using=modify, withCheck=modify),
                policy("delete", using=modify)]
    return JSArray(tuple(out), where)
