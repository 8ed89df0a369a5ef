"""Evaluated drizzle objects -> the DDL pieces drizzle-kit would create, and the issues.

Every rule here follows drizzle-kit 0.31 (``generatePgSnapshot`` and the PostgreSQL SQL
convertors) and drizzle-orm 0.45 (column builders, ``getColumnNameAndConfig``, names of
constraints and indexes, ``casing``), quirks included, because the goal is the database
``drizzle-kit push`` makes from the same file. Where drizzle-kit would write SQL that
PostgreSQL rejects (an unescaped quote in a JSON default) or would stop with an error, the
object gets an issue instead of a guess.

Issue policy: an ``error`` says the model may be incomplete or wrong there (something is
not understood, or drizzle-kit itself would fail); the object it concerns is left out of the
DDL (a column whose builder is unknown, an index on such a column...), the rest stays, so
the editor keeps working. A ``warning`` says the model is right but something deserves
attention (drizzle ignores a modifier, an object is not exported).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from trimtab.sources.drizzle._eval import (
    UNDEFINED,
    BigIntV,
    CheckB,
    ColBuilder,
    ColRef,
    Evaluator,
    FkB,
    Fn,
    Ignored,
    IndexB,
    JSArray,
    JSObject,
    Loc,
    Param,
    PkB,
    PolicyV,
    QueryV,
    RoleV,
    SchemaV,
    SequenceV,
    Sql,
    TableV,
    UniqueB,
    Unknown,
    Unsupported,
    ViewB,
)
from trimtab.sources.drizzle._eval import EnumV as EnumValue
from trimtab.sources.drizzle._source import Module, js_number
from trimtab.sources.sqlfile import Issue, Span

# --------------------------------------------------------------------------------------
# The pieces of DDL (each with the .ts range it comes from)


@dataclass(frozen=True)
class DSchema:
    name: str
    span: Span


@dataclass(frozen=True)
class DEnum:
    schema: str
    name: str
    values: tuple[str, ...]
    span: Span


@dataclass(frozen=True)
class DSequence:
    schema: str
    name: str
    options: str  # " INCREMENT BY 1 MINVALUE 1 ..."
    span: Span


@dataclass(frozen=True)
class DColumn:
    name: str
    type: str  # as written in CREATE TABLE
    span: Span  # the `key: builder` entry
    not_null: bool = False
    primary_key: Span | None = None
    default: str | None = None
    generated: str | None = None
    identity: str | None = None  # " GENERATED ... AS IDENTITY (...)"
    # What drizzle-kit's snapshot keeps that the DDL above does not spell:
    # its notNull (bigserial {mode: "bigint"} is NOT NULL in PostgreSQL, not in drizzle),
    kit_not_null: bool = False
    # a number, boolean or null default stays a JSON value (sql`10` is the text "10"),
    kit_default_json: bool = False
    # the type without its schema, and the schema apart for a pgEnum of a list (drizzle-kit
    # leaves it out for an enum made from an object, which drizzle builds with another class)
    kit_type: str | None = None
    kit_type_schema: str | None = None


@dataclass(frozen=True)
class DConstraint:
    name: str
    kind: str  # "p", "u", "c", "f"
    body: str  # what follows CONSTRAINT "name"
    span: Span


@dataclass(frozen=True)
class DIndexColumn:
    """One column of an index as drizzle-kit's snapshot keeps it: its order and nulls even
    where an operator class keeps them out of the DDL."""

    expression: str  # the column's name, or the SQL of an expression
    is_expression: bool
    asc: bool = True
    nulls: str = "last"
    opclass: str | None = None


@dataclass(frozen=True)
class DIndex:
    name: str
    sql: str  # the whole CREATE INDEX statement
    span: Span
    columns: tuple[DIndexColumn, ...] = ()
    concurrently: bool = False  # drizzle-kit's flag; the DDL builds it plainly


@dataclass(frozen=True)
class DPolicy:
    name: str
    sql: str  # the whole CREATE POLICY statement
    span: Span


@dataclass(frozen=True)
class DTable:
    schema: str
    name: str
    span: Span
    columns: tuple[DColumn, ...] = ()
    constraints: tuple[DConstraint, ...] = ()  # inside CREATE TABLE: p, u, c
    foreign_keys: tuple[DConstraint, ...] = ()  # ALTER TABLE ... ADD CONSTRAINT
    indexes: tuple[DIndex, ...] = ()
    rls: bool = False  # drizzle-kit enables it for .enableRLS() and for any policy
    policies: tuple[DPolicy, ...] = ()


@dataclass(frozen=True)
class DView:
    schema: str
    name: str
    sql: str  # the whole CREATE [MATERIALIZED] VIEW statement
    span: Span


@dataclass(frozen=True)
class Lowered:
    schemas: tuple[DSchema, ...]
    enums: tuple[DEnum, ...]
    sequences: tuple[DSequence, ...]
    tables: tuple[DTable, ...]
    issues: tuple[Issue, ...]
    views: tuple[DView, ...] = ()
    # (schema, name) of each .existing() view: drizzle-kit neither creates nor drops it.
    existing_views: tuple[tuple[str, str], ...] = ()


# --------------------------------------------------------------------------------------
# Names


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str | None, name: str) -> str:
    return f"{quote(schema or 'public')}.{quote(name)}"


_WORDS = re.compile(r"[0-9a-z]+|[A-Z]+(?![a-z])|[A-Z][0-9a-z]+")


def to_snake_case(text: str) -> str:
    """drizzle-orm's toSnakeCase."""
    return "_".join(w.lower() for w in _WORDS.findall(re.sub("['\u2019]", "", text)))


def to_camel_case(text: str) -> str:
    """drizzle-orm's toCamelCase."""
    words = _WORDS.findall(re.sub("['\u2019]", "", text))
    return "".join(w.lower() if i == 0 else w[0].upper() + w[1:] for i, w in enumerate(words))


def _convert(casing: str | None, name: str) -> str:
    if casing == "snake_case":
        return to_snake_case(name)
    if casing == "camelCase":
        return to_camel_case(name)
    return name


# --------------------------------------------------------------------------------------
# Lowering


# drizzle-kit's parseType: a type starting with one of these is written as is, any other
# in double quotes.
_PG_NATIVE_TYPES = (
    "uuid", "smallint", "integer", "bigint", "boolean", "text", "varchar", "serial",
    "bigserial", "decimal", "numeric", "real", "json", "jsonb", "time", "timestamp", "date",
    "interval", "double precision", "char", "vector", "geometry", "halfvec", "sparsevec",
    "bit",
)
_ARRAY_DEF = re.compile(r"\[\d*(?:\[\d*\])*\]")
# Column kinds whose mapToDriverValue changes a value (drizzle-orm 0.45 pg-core).
_MAPPED_KINDS = frozenset(("date", "json", "jsonb", "line", "numeric", "decimal", "point",
                           "timestamp", "vector", "halfvec", "custom"))
_FK_ACTIONS = frozenset(("cascade", "restrict", "no action", "set null", "set default"))
_SERIALS = frozenset(("serial", "smallserial", "bigserial"))
_PLAIN_TYPES = {
    "serial": "serial", "smallserial": "smallserial", "bigserial": "bigserial",
    "integer": "integer", "smallint": "smallint", "bigint": "bigint", "boolean": "boolean",
    "text": "text", "real": "real", "doublePrecision": "double precision", "json": "json",
    "jsonb": "jsonb", "uuid": "uuid", "date": "date", "inet": "inet", "cidr": "cidr",
    "macaddr": "macaddr", "macaddr8": "macaddr8", "point": "point", "line": "line",
}


@dataclass
class _Col:
    """A column's names: ``name`` in the database, ``original`` as drizzle's column.name
    (the key when no name is given, before casing), for the names drizzle makes up."""

    name: str
    original: str
    builder: ColBuilder


@dataclass
class _Lowering:
    ev: Evaluator
    casing: str | None
    issues: list[Issue] = field(default_factory=list)
    _seen_issues: set[tuple[str, int, int, str]] = field(default_factory=set)
    enums: dict[int, DEnum | None] = field(default_factory=dict)  # id(EnumValue) -> DEnum
    enum_order: list[int] = field(default_factory=list)
    exported_enums: set[int] = field(default_factory=set)
    columns: dict[tuple[str, int], dict[str, _Col]] = field(default_factory=dict)
    tables: dict[tuple[str, int], TableV] = field(default_factory=dict)
    table_names: dict[tuple[str, int], tuple[str, str]] = field(default_factory=dict)
    unreadable: set[tuple[str, int]] = field(default_factory=set)

    # -- issues -----------------------------------------------------------------------

    def issue(self, where: Loc, message: str, severity: str = "error") -> None:
        key = (where.mod.name, where.start, where.end, message)
        if key in self._seen_issues:
            return
        self._seen_issues.add(key)
        self.issues.append(Issue(message, where.span(), severity))

    def unknown(self, value: Any, fallback: Loc, message: str) -> None:
        """Report a value that is not what it should be: an Unknown on its own range."""
        if isinstance(value, Unknown):
            self.issue(value.loc, value.message)
        else:
            self.issue(fallback, message)

    def string(self, value: Any, where: Loc, what: str) -> str | None:
        if isinstance(value, str):
            return value
        self.unknown(value, where, f"trimtab expects a string for {what} here")
        return None

    # -- enums ------------------------------------------------------------------------

    def enum(self, e: EnumValue, exported: bool) -> DEnum | None:
        k = id(e)
        if k in self.enums:
            return self.enums[k]
        name = self.string(e.name, e.loc, "the enum's name")
        values: tuple[str, ...] | None = None
        raw = e.values
        if isinstance(raw, JSObject):  # pgEnum("name", { A: "a" }): Object.values
            raw = JSArray(tuple(raw.entries.values()), raw.loc)
        if isinstance(raw, JSArray):
            if all(isinstance(v, str) for v in raw.items):
                values = tuple(raw.items)
            else:
                bad = next(v for v in raw.items if not isinstance(v, str))
                self.unknown(bad, raw.loc, "trimtab expects strings as enum values")
        else:
            self.unknown(raw, e.loc, "trimtab cannot read the values of this enum")
        d = None
        if name is not None and values is not None:
            d = DEnum(e.schema or "public", name, values, e.loc.span())
        self.enums[k] = d
        self.enum_order.append(k)
        if not exported and d is not None:
            self.issue(e.loc, f"the enum {name} is not exported: drizzle-kit does not create "
                              "it (its push fails); trimtab does", "warning")
        return d

    # -- columns ----------------------------------------------------------------------

    def column_names(self, t: TableV) -> dict[str, _Col]:
        cols: dict[str, _Col] = {}
        assert isinstance(t.columns, JSObject)
        for key, b in t.columns.entries.items():
            if not isinstance(b, ColBuilder):
                continue
            if b.name is None:
                cols[key] = _Col(_convert(self.casing, key), key, b)
            elif isinstance(b.name, str):
                cols[key] = _Col(b.name, b.name, b)
        return cols

    def lower_column(self, t: TableV, table: str, col: _Col, entry: Loc) -> DColumn | None:
        b = col.builder
        for p in b.problems:
            self.issue(p.loc, p.message)
        for w in b.warnings:
            self.issue(w.loc, w.message, "warning")
        sql_type = self.column_type(b)
        if sql_type is None:
            return None
        not_null = bool(b.not_null) or b.kind in _SERIALS
        default = None
        if b.default is not None:
            default = self.default(b.default[0], b.default[1], sql_type)
        generated = None
        if b.generated is not None:
            generated = self.generated(t, b.generated[0], b.generated[1])
        identity = None
        if b.identity is not None:
            identity = self.identity(t, table, col.name, b, sql_type)
        # drizzle's PgBigSerial64Builder alone among the serials does not set notNull
        loose = b.kind == "bigserial" and self.config(b, "mode") == "bigint"
        kit_type, kit_schema = sql_type, None
        if b.kind == "enum" and b.enum is not None and (e := self.enums.get(id(b.enum))):
            kit_type = e.name + sql_type[len(qualified(e.schema, e.name)):]
            if not isinstance(b.enum.values, JSObject):
                kit_schema = e.schema
        return DColumn(col.name, sql_type, entry.span(), not_null,
                       b.primary_key.span() if b.primary_key else None, default, generated,
                       identity, kit_not_null=bool(b.not_null) or bool(b.primary_key) or (
                           b.kind in _SERIALS and not loose),
                       kit_default_json=b.default is not None and (
                           b.default[0] is None or isinstance(b.default[0], (bool, float))),
                       kit_type=kit_type, kit_type_schema=kit_schema)

    def config(self, b: ColBuilder, key: str) -> Any:
        c = b.config
        if c is None or c is UNDEFINED:
            return UNDEFINED
        if isinstance(c, JSObject):
            for p in c.problems:
                self.issue(p.loc, p.message)
            return c.get(key)
        self.unknown(c, b.loc, "trimtab expects an object as the column's options")
        return UNDEFINED

    def _scalar(self, b: ColBuilder, key: str) -> str | None | bool:
        """A config number/string as text; None when absent; False when not understood."""
        v = self.config(b, key)
        if v is UNDEFINED or v is None:
            return None
        if isinstance(v, float):
            return js_number(v)
        if isinstance(v, str):
            return v
        self.unknown(v, b.loc, f"trimtab cannot read `{key}` here")
        return False

    def column_type(self, b: ColBuilder) -> str | None:
        kind = b.kind
        base: str | None
        if kind in ("bigint", "bigserial"):
            if b.config is None or b.config is UNDEFINED:
                self.issue(b.loc, f"{kind}() needs {{ mode: 'number' | 'bigint' }}: "
                                  "drizzle fails without it")
                return None
            self.config(b, "mode")
            base = kind
        elif kind in _PLAIN_TYPES:
            base = _PLAIN_TYPES[kind]
        elif kind in ("varchar", "char"):
            n = self._scalar(b, "length")
            if n is False:
                return None
            base = kind if n is None else f"{kind}({n})"
        elif kind in ("numeric", "decimal"):
            p, s = self._scalar(b, "precision"), self._scalar(b, "scale")
            if p is False or s is False:
                return None
            base = "numeric" if p is None else f"numeric({p})" if s is None else \
                f"numeric({p}, {s})"
        elif kind in ("time", "timestamp"):
            p = self._scalar(b, "precision")
            tz = self.config(b, "withTimezone")
            tz_ok = tz is UNDEFINED or isinstance(tz, bool)
            if not tz_ok:
                self.unknown(tz, b.loc, "trimtab cannot read `withTimezone` here")
            if p is False or not tz_ok:
                return None
            # drizzle writes "timestamp (3)" in date mode and "timestamp(3)" otherwise
            gap = " " if kind == "timestamp" and self.config(b, "mode") != "string" else ""
            base = kind + ("" if p is None else f"{gap}({p})") + (
                " with time zone" if tz is True else "")
        elif kind == "interval":
            fields = self._scalar(b, "fields")
            p = self.config(b, "precision")
            if fields is False:
                return None
            base = "interval" + (f" {fields}" if fields else "")
            if isinstance(p, float) and p:  # drizzle omits a falsy precision
                base += f"({js_number(p)})"
        elif kind in ("bit", "vector", "halfvec", "sparsevec"):
            d = self._scalar(b, "dimensions")
            if not d:
                if d is None:
                    self.issue(b.loc, f"{kind}() needs {{ dimensions }}")
                return None
            base = f"{kind}({d})"
        elif kind == "custom":
            base = self.custom_type(b)
            if base is None:
                return None
        elif kind == "enum":
            assert b.enum is not None
            e = self.enum(b.enum, id(b.enum) in self.exported_enums)
            if e is None:
                self.issue(b.loc, "trimtab cannot read the enum of this column")
                return None
            base = qualified(e.schema, e.name)
        else:
            self.issue(b.loc, f"trimtab does not understand this builder yet: {kind}")
            return None
        for size, where in b.arrays:
            if size is UNDEFINED:
                base += "[]"
            elif isinstance(size, float):
                base += f"[{js_number(size)}]"
            else:
                self.unknown(size, where, "trimtab cannot read this array size")
                return None
        return base

    def custom_type(self, b: ColBuilder) -> str | None:
        """customType's dataType(config), quoted as drizzle-kit's parseType does."""
        assert b.custom is not None
        params = b.custom.params
        fn = params.get("dataType") if isinstance(params, JSObject) else params
        if not isinstance(fn, Fn):
            self.unknown(fn, b.custom.loc, "trimtab expects customType({ dataType() { ... } })")
            return None
        config = UNDEFINED if b.config is None else b.config
        v = self.ev.apply(fn, [config], b.loc)
        if not isinstance(v, str):
            why = f" ({v.message})" if isinstance(v, Unknown) else ""
            self.issue(b.loc, "trimtab cannot compute the type of this customType column: "
                              f"its dataType() does not give a string it can evaluate{why}")
            return None
        arrays = "".join(_ARRAY_DEF.findall(v))
        bare = _ARRAY_DEF.sub("", v)
        if v.startswith(_PG_NATIVE_TYPES):
            return bare + arrays
        return f'"{bare}"{arrays}'  # drizzle-kit quotes it as is, as one identifier

    def default(self, value: Any, where: Loc, sql_type: str) -> str | None:
        """drizzle-kit's rendering of a column default."""
        lowered = sql_type.lower()
        if isinstance(value, Sql):
            text = self.render_sql(value, None, mode="default")
            return text
        if isinstance(value, str):
            return "'" + value.replace("'", "''") + "'"
        if lowered in ("json", "jsonb"):
            text = _json(value)
            if text is None:
                self.unknown(value, where, "trimtab cannot turn this default into JSON")
                return None
            if "'" in text:
                self.issue(where, "drizzle-kit writes this default with its quote unescaped "
                                  "(its push fails); trimtab escapes it", "warning")
            return "'" + text.replace("'", "''") + f"'::{lowered}"
        if lowered.endswith("]") and isinstance(value, JSArray):
            text = _array_literal(value, lowered.split("[")[0])
            if text is None:
                self.unknown(value, where, "trimtab cannot turn this default into an array")
                return None
            return "'" + text.replace("'", "''") + "'"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            return js_number(value)
        if isinstance(value, BigIntV):
            self.issue(where, "drizzle-kit fails on a BigInt default (\"Do not know how to "
                              "serialize a BigInt\"): write it as a number, a string or sql``")
            return None
        if value is None:
            return "null"
        self.unknown(value, where, "trimtab does not understand this default")
        return None

    def generated(self, t: TableV, value: Any, where: Loc) -> str | None:
        if isinstance(value, Fn):
            value = self.ev.apply(value, [], where)
        if isinstance(value, str):
            return value
        if isinstance(value, Sql):
            return self.render_sql(value, t, mode="query")
        self.unknown(value, where, "trimtab does not understand this generated expression")
        return None

    def identity(self, t: TableV, table: str, column: str, b: ColBuilder, sql_type: str
                 ) -> str | None:
        assert b.identity is not None
        kind, options, where = b.identity
        opts: dict[str, Any] = {}
        if isinstance(options, JSObject):
            for p in options.problems:
                self.issue(p.loc, p.message)
            opts = dict(options.entries)
        elif options is not UNDEFINED:
            self.unknown(options, where, "trimtab expects the identity's options object")
            return None

        def text(key: str) -> str | None:
            v = opts.get(key, UNDEFINED)
            if v is UNDEFINED:
                return None
            if isinstance(v, float):
                return js_number(v)
            if isinstance(v, str):
                return v
            if isinstance(v, BigIntV):
                return str(v.value)
            raise _Bad(v)

        try:
            increment = text("increment") or "1"
            negative = _js_float(increment) < 0
            # drizzle-kit compares the column *type class* ("PgInteger") to "integer" here,
            # so a descending identity gets smallint's minimum whatever its type
            min_value = text("minValue") or ("-32768" if negative else "1")
            max_value = text("maxValue") or ("-1" if negative else {
                "integer": "2147483647", "bigint": "9223372036854775807"}.get(
                    sql_type, "32767"))
            start = text("startWith") or (max_value if negative else min_value)
            cache = text("cache") or "1"
            seq_name = text("name") or f"{table}_{column}_seq"
        except _Bad as e:
            self.unknown(e.value, where, "trimtab cannot read this identity option")
            return None
        cycle = opts.get("cycle", False)
        if not isinstance(cycle, bool):
            self.unknown(cycle, where, "trimtab cannot read `cycle` here")
            return None
        return (f" GENERATED {'ALWAYS' if kind == 'always' else 'BY DEFAULT'} AS IDENTITY "
                f"(sequence name {qualified(t.schema, seq_name)} INCREMENT BY {increment} "
                f"MINVALUE {min_value} MAXVALUE {max_value} START WITH {start} CACHE {cache}"
                f"{' CYCLE' if cycle else ''})")

    # -- sql`...` ---------------------------------------------------------------------

    def render_sql(self, value: Sql, table: TableV | None, mode: str) -> str | None:
        """The SQL drizzle renders for an sql`` template. ``mode``: "query" (columns as
        "table"."column"), "indexes" (columns alone), "default" (drizzle-kit fails on
        columns and parameters there)."""
        out: list[str] = []
        ok = True
        for part in value.parts:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, Sql):
                inner = self.render_sql(part, table, mode)
                if inner is None:
                    ok = False
                else:
                    out.append(inner)
            elif isinstance(part, ColRef):
                if mode == "default":
                    self.issue(part.loc, "drizzle-kit cannot use a column in a default "
                                         "(\"we don't support params for `sql` default values\")")
                    ok = False
                    continue
                col = self.resolve(part)
                if col is None:
                    ok = False
                    continue
                if mode == "indexes":
                    out.append(quote(col))
                else:
                    schema, name = self.table_names[part.table.ident]
                    prefix = f"{quote(schema)}." if part.table.schema else ""
                    out.append(f"{prefix}{quote(name)}.{quote(col)}")
            elif isinstance(part, TableV):
                names = self.table_names.get(part.ident)
                if names is None:
                    self.issue(value.loc, "trimtab cannot read the table used here")
                    ok = False
                    continue
                out.append(qualified(part.schema, names[1]) if part.schema else quote(names[1]))
            elif isinstance(part, Param) and mode == "view":
                text = self.inline_param(part)
                if text is None:
                    ok = False
                else:
                    out.append(text)
            elif isinstance(part, Param):
                self.issue(part.loc, "drizzle sends this value as a query parameter ($1), "
                                     "which DDL cannot take: write it in the SQL text or use "
                                     "sql.raw(...)")
                ok = False
            else:
                self.unknown(part, value.loc, "trimtab cannot render this part of the SQL")
                ok = False
        return "".join(out) if ok else None

    def inline_param(self, p: Param) -> str | None:
        """drizzle's mapInlineParam (a view's query has its parameters inlined)."""
        enc = p.encoder
        if isinstance(enc, ColRef):
            col = self.columns.get(enc.table.ident, {}).get(enc.key)
            if col is None or col.builder.kind in _MAPPED_KINDS or col.builder.arrays:
                self.issue(p.loc, "drizzle maps this value through its column before it "
                                  "writes it into the view: write it in the SQL text "
                                  "(sql`...`) so trimtab can render it exactly")
                return None
        v = p.value
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            return js_number(v)
        if isinstance(v, str):
            return "'" + v.replace("'", "''") + "'"
        self.unknown(v, p.loc, "trimtab cannot write this value into the view's SQL")
        return None

    def resolve(self, ref: ColRef) -> str | None:
        """The database name of a referenced column, or None (with an issue) when that
        column or its table is not in the DDL."""
        cols = self.columns.get(ref.table.ident)
        if cols is None and ref.table.ident not in self.tables and \
                ref.table.ident not in self.unreadable:
            cols = self.outside(ref)
        if cols is None:
            if ref.table.ident in self.tables or ref.table.ident in self.unreadable:
                self.issue(ref.loc, "this refers to a table trimtab could not read")
            else:
                self.issue(ref.loc, "this refers to a table that is not exported: "
                                    "drizzle-kit does not create it")
            return None
        col = cols.get(ref.key)
        if col is None:
            self.issue(ref.loc, f"this refers to the column `{ref.key}` that trimtab could "
                                "not read")
            return None
        return col.name

    def outside(self, ref: ColRef) -> dict[str, _Col] | None:
        """The column names of a table the schema refers to but does not export
        (``authUsers`` of drizzle-orm/supabase, a table of another schema): drizzle-kit
        writes the reference to it all the same, and does not create it."""
        t = ref.table
        if not isinstance(t.name, str) or not isinstance(t.columns, JSObject):
            return None
        names = self.column_names(t)
        self.columns[t.ident] = names
        self.table_names[t.ident] = (t.schema or "public", t.name)
        self.issue(ref.loc, f"{qualified(t.schema, t.name)} is not exported: drizzle-kit does "
                            "not create it, and neither does trimtab; the reference needs it "
                            "in the database", "warning")
        return names

    def original(self, ref: ColRef) -> str:
        cols = self.columns.get(ref.table.ident, {})
        col = cols.get(ref.key)
        return col.original if col is not None else ref.key

    # -- tables -----------------------------------------------------------------------

    def declare_table(self, t: TableV) -> bool:
        name = self.string(t.name, t.name_loc, "the table's name")
        if name is None:
            self.unreadable.add(t.ident)
            return False
        if not isinstance(t.columns, JSObject):
            self.unknown(t.columns, t.loc, "trimtab expects the columns as an object literal")
            self.unreadable.add(t.ident)
            return False
        self.tables[t.ident] = t
        self.table_names[t.ident] = (t.schema or "public", name)
        return True

    def lower_columns(self, t: TableV) -> DTable:
        schema, name = self.table_names[t.ident]
        cols_obj = t.columns
        assert isinstance(cols_obj, JSObject)
        for p in cols_obj.problems:
            self.issue(p.loc, p.message)
        names = self.column_names(t)
        # generated expressions may name the table's own columns
        self.columns[t.ident] = names
        columns: list[DColumn] = []
        good: dict[str, _Col] = {}
        for key, value in cols_obj.entries.items():
            entry = cols_obj.locs.get(key, t.loc)
            if not isinstance(value, ColBuilder):
                self.unknown(value, entry, "trimtab does not understand this column")
                continue
            col = names.get(key)
            if col is None:
                self.unknown(value.name, value.loc, "trimtab expects a string as the name")
                continue
            d = self.lower_column(t, name, col, entry)
            if d is not None:
                columns.append(d)
                good[key] = col
        self.columns[t.ident] = good
        return DTable(schema, name, t.loc.span(), tuple(columns), rls=t.rls)

    def lower_constraints(self, t: TableV, table: DTable) -> DTable:
        schema, name = table.schema, table.name
        cols = self.columns[t.ident]
        uniques: list[DConstraint] = []
        fks: list[DConstraint] = []
        checks: list[DConstraint] = []
        pks: list[DConstraint] = []
        indexes: list[DIndex] = []
        policies: list[DPolicy] = []
        # column-level unique and references
        for key, col in cols.items():
            b = col.builder
            if b.unique is not None:
                uname, config, where = b.unique
                nnd = isinstance(config, JSObject) and config.get("nulls") == "not distinct"
                if uname is UNDEFINED or uname is None:
                    uname = f"{name}_{col.original}_unique"
                if self.string(uname, where, "the unique constraint's name") is not None:
                    uniques.append(DConstraint(
                        uname, "u", f"UNIQUE{' NULLS NOT DISTINCT' if nnd else ''}"
                                    f"({quote(col.name)})", where.span()))
            for fn, actions, where in b.references:
                fk = self.column_fk(t, name, key, fn, actions, where)
                if fk is not None:
                    fks.append(fk)
        # the table's callback
        for item, where in self.extra_items(t):
            if isinstance(item, IndexB):
                idx = self.index(t, schema, name, item)
                if idx is not None:
                    indexes.append(idx)
            elif isinstance(item, UniqueB):
                u = self.unique(t, name, item)
                if u is not None:
                    uniques.append(u)
            elif isinstance(item, PkB):
                pk = self.primary_key(t, name, item)
                if pk is not None:
                    pks.append(pk)
            elif isinstance(item, FkB):
                fk = self.foreign_key(t, name, item)
                if fk is not None:
                    fks.append(fk)
            elif isinstance(item, CheckB):
                c = self.check(t, item)
                if c is not None:
                    checks.append(c)
            elif isinstance(item, PolicyV):
                pol = self.policy(schema, name, item)
                if pol is not None:
                    policies.append(pol)
            elif isinstance(item, Unsupported):
                self.issue(item.loc, f"trimtab does not support {item.what} yet")
            elif isinstance(item, Ignored) or item is UNDEFINED or item is None:
                pass
            elif isinstance(item, JSObject | JSArray):
                self.issue(getattr(item, "loc", where), "drizzle-kit ignores this entry of "
                           "the table's callback (not an index, constraint or policy), and "
                           "so does trimtab", "warning")
            else:
                self.unknown(item, where, "trimtab does not understand this entry of the "
                                          "table's callback")
        constraints: list[DConstraint] = []
        if pks:
            if any(c.primary_key for c in table.columns):
                self.issue(_loc_of(pks[0].span, t.loc), "a column of this table has "
                           ".primaryKey() too: PostgreSQL allows one primary key")
            else:
                constraints.append(pks[0])
            for extra in pks[1:]:
                self.issue(_loc_of(extra.span, t.loc),
                           "drizzle-kit uses the first primaryKey(...) only", "warning")
        _dedupe(self, uniques, t, "unique constraint")
        _dedupe(self, checks, t, "check constraint")
        constraints += uniques + checks
        return DTable(schema, name, table.span, table.columns, tuple(constraints),
                      tuple(fks), tuple(indexes), table.rls, tuple(policies))

    def policy(self, schema: str, table: str, item: PolicyV) -> DPolicy | None:
        """drizzle-kit's CREATE POLICY: as/for upper-cased (PERMISSIVE, ALL by default),
        the roles sorted (PUBLIC without ``to``), using/withCheck only when sql``."""
        name = self.string(item.name, item.loc, "the policy's name")
        config = item.config
        if config is UNDEFINED or config is None:
            config = JSObject({}, {}, item.loc)
        if not isinstance(config, JSObject):
            self.unknown(config, item.loc, "trimtab expects the policy's options object")
            return None
        for p in config.problems:
            self.issue(p.loc, p.message)
        words = []
        for key, default in (("as", "permissive"), ("for", "all")):
            v = config.get(key)
            v = default if v is UNDEFINED or v is None else v
            if not isinstance(v, str):
                self.unknown(v, config.locs.get(key, item.loc), f"trimtab cannot read `{key}`")
                return None
            words.append(v.upper())
        to = config.get("to")
        given = () if to is UNDEFINED or to is None or to == "" else (
            to.items if isinstance(to, JSArray) else (to,))
        roles: list[str] = []
        for r in given:
            if isinstance(r, RoleV):
                r = r.name
            if not isinstance(r, str):
                self.unknown(r, config.locs.get("to", item.loc),
                             "trimtab expects a role name or pgRole(...) in `to`")
                return None
            roles.append(r)
        if not roles:
            roles = ["public"]
        to_sql = ", ".join(r if r in ("current_user", "current_role", "session_user",
                                      "public") else quote(r) for r in sorted(roles))
        rules = ""
        for key, label in (("using", "USING"), ("withCheck", "WITH CHECK")):
            v = config.get(key)
            if isinstance(v, Sql):
                text = self.render_sql(v, None, mode="query")
                if text is None:
                    return None
                rules += f" {label} ({text})"
            elif v is not UNDEFINED and v is not None:
                self.unknown(v, config.locs.get(key, item.loc),
                             f"drizzle-kit ignores `{key}` unless it is sql`...`")
                return None
        if name is None:
            return None
        return DPolicy(name, f"CREATE POLICY {quote(name)} ON {qualified(schema, table)} AS "
                             f"{words[0]} FOR {words[1]} TO {to_sql}{rules}", item.loc.span())

    def extra_items(self, t: TableV) -> Iterable[tuple[Any, Loc]]:
        extra = t.extra
        if extra is None or extra is UNDEFINED:
            return []
        if not isinstance(extra, Fn):
            self.unknown(extra, t.loc, "trimtab expects a callback as the table's third "
                                       "argument")
            return []
        result = self.ev.apply(extra, [t], extra.loc)
        if isinstance(result, JSArray):
            items: list[tuple[Any, Loc]] = []
            for x in result.items:  # drizzle flattens one level
                if isinstance(x, JSArray):
                    items.extend((y, x.loc) for y in x.items)
                else:
                    items.append((x, result.loc))
            return items
        if isinstance(result, JSObject):
            for p in result.problems:
                self.issue(p.loc, p.message)
            return [(v, result.locs.get(k, result.loc)) for k, v in result.entries.items()]
        self.unknown(result, extra.loc, "trimtab expects an array or an object from the "
                                        "table's callback")
        return []

    def own_columns(self, t: TableV, refs: Any, where: Loc) -> list[ColRef] | None:
        items = refs.items if isinstance(refs, JSArray) else refs
        out: list[ColRef] = []
        for r in items:
            if not isinstance(r, ColRef):
                self.unknown(r, where, "trimtab expects a column of this table here")
                return None
            if r.table.ident != t.ident:
                self.issue(r.loc, "this column belongs to another table")
                return None
            if self.resolve(r) is None:
                return None
            out.append(r)
        return out

    def index(self, t: TableV, schema: str, table: str, item: IndexB) -> DIndex | None:
        for p in item.problems:
            self.issue(p.loc, p.message)
        parts: list[str] = []
        names: list[str] = []
        kit: list[DIndexColumn] = []
        for c in item.columns:
            if isinstance(c, Sql):
                text = self.render_sql(c, t, mode="indexes")
                if text is None:
                    return None
                parts.append(text)
                names.append("")
                kit.append(DIndexColumn(text, True))
                continue
            cols = self.own_columns(t, [c], item.loc)
            if cols is None:
                return None
            ref = cols[0]
            col = self.resolve(ref)
            assert col is not None
            names.append(col)
            opclass = None
            if ref.opclass is not None:
                opclass = self.string(ref.opclass, ref.loc, "the operator class")
                if opclass is None:
                    return None
            asc = ref.order != "desc"
            nulls = ref.nulls or "last"
            text = quote(col)
            text += f" {opclass}" if opclass else "" if asc else " DESC"
            if not ((asc and nulls == "last") or opclass):
                text += f" NULLS {nulls.upper()}"
            parts.append(text)
            kit.append(DIndexColumn(col, False, asc, nulls, opclass))
        if not parts:
            self.issue(item.loc, "this index has no columns")
            return None
        name = item.name
        if name is UNDEFINED or name is None:
            if any(isinstance(c, Sql) for c in item.columns):
                self.issue(item.loc, "drizzle-kit needs a name for an index on an expression")
                return None
            name = f"{table}_{'_'.join(names)}_index"
        name = self.string(name, item.loc, "the index's name")
        method = self.string(item.method, item.loc, "the index method")
        if name is None or method is None:
            return None
        sql = (f"CREATE {'UNIQUE ' if item.unique else ''}INDEX {quote(name)} ON "
               f"{qualified(schema, table)} USING {method} ({','.join(parts)})")
        if item.with_ is not None and item.with_ is not UNDEFINED:
            if not isinstance(item.with_, JSObject):
                self.unknown(item.with_, item.loc, "trimtab expects an object in .with(...)")
                return None
            pairs = []
            for k, v in item.with_.entries.items():
                s = _js_string(v)
                if s is None:
                    self.unknown(v, item.loc, "trimtab cannot read this storage parameter")
                    return None
                pairs.append(f"{k}={s}")
            if pairs:
                sql += f" WITH ({','.join(pairs)})"
        if item.where is not None and item.where is not UNDEFINED:
            if not isinstance(item.where, Sql):
                self.unknown(item.where, item.loc, "trimtab expects sql`...` in .where(...)")
                return None
            where = self.render_sql(item.where, t, mode="query")
            if where is None:
                return None
            sql += f" WHERE {where}"
        return DIndex(name, sql, item.loc.span(), tuple(kit), item.concurrently)

    def unique(self, t: TableV, table: str, item: UniqueB) -> DConstraint | None:
        refs = self.own_columns(t, item.columns, item.loc)
        if refs is None:
            return None
        name = item.name
        if name is UNDEFINED or name is None:
            name = f"{table}_{'_'.join(self.original(r) for r in refs)}_unique"
        name = self.string(name, item.loc, "the unique constraint's name")
        if name is None:
            return None
        cols = '","'.join(self.resolve(r) or "" for r in refs)
        nnd = " NULLS NOT DISTINCT" if item.nulls_not_distinct else ""
        return DConstraint(name, "u", f'UNIQUE{nnd}("{cols}")', item.loc.span())

    def primary_key(self, t: TableV, table: str, item: PkB) -> DConstraint | None:
        refs = self.own_columns(t, item.columns, item.loc)
        if refs is None:
            return None
        given = item.name
        if given is UNDEFINED or given is None:
            given = f"{table}_{'_'.join(self.original(r) for r in refs)}_pk"
        raw = self.string(given, item.loc, "the primary key's name")
        if raw is None:
            return None
        name = self._recase(raw, [(self.original(r), self.resolve(r) or "") for r in refs])
        cols = '","'.join(self.resolve(r) or "" for r in refs)
        return DConstraint(name, "p", f'PRIMARY KEY("{cols}")', item.loc.span())

    def _recase(self, name: str, pairs: list[tuple[str, str]]) -> str:
        """drizzle-kit renames a primary or foreign key's columns in its name with
        String.replace: the first occurrence of each, and only when casing is set."""
        if self.casing is None:
            return name
        for original, cased in pairs:
            name = name.replace(original, cased, 1)
        return name

    def _fk(self, t: TableV, table: str, froms: list[ColRef], tos: list[ColRef],
             name: Any, on_delete: Any, on_update: Any, where: Loc) -> DConstraint | None:
        target = tos[0].table
        if any(r.table.ident != target.ident for r in tos):
            self.issue(where, "the foreign columns belong to different tables")
            return None
        if self.resolve(tos[0]) is None or any(self.resolve(r) is None for r in tos):
            return None
        tschema, tname = self.table_names[target.ident]
        if name is UNDEFINED or name is None:
            name = "_".join([table, *(self.original(r) for r in froms), tname,
                             *(self.original(r) for r in tos)]) + "_fk"
        name = self.string(name, where, "the foreign key's name")
        if name is None:
            return None
        name = self._recase(name, [(self.original(r), self.resolve(r) or "") for r in froms])
        name = self._recase(name, [(self.original(r), self.resolve(r) or "") for r in tos])
        actions = []
        for label, v in (("DELETE", on_delete), ("UPDATE", on_update)):
            if v is UNDEFINED or v is None:
                v = "no action"
            if v not in _FK_ACTIONS:
                self.unknown(v, where, f"trimtab does not know this ON {label} action")
                return None
            actions.append(f" ON {label} {v}")
        cols = ",".join(quote(self.resolve(r) or "") for r in froms)
        fcols = ",".join(quote(self.resolve(r) or "") for r in tos)
        body = (f"FOREIGN KEY ({cols}) REFERENCES {qualified(tschema, tname)}({fcols})"
                + "".join(actions))
        return DConstraint(name, "f", body, where.span())

    def column_fk(self, t: TableV, table: str, key: str, fn: Any, actions: Any, where: Loc
                  ) -> DConstraint | None:
        if not isinstance(fn, Fn):
            self.unknown(fn, where, "trimtab expects () => table.column in .references()")
            return None
        target = self.ev.apply(fn, [], where)
        if not isinstance(target, ColRef):
            self.unknown(target, fn.loc, "trimtab expects () => table.column here")
            return None
        on_delete = on_update = UNDEFINED
        if isinstance(actions, JSObject):
            for p in actions.problems:
                self.issue(p.loc, p.message)
            on_delete, on_update = actions.get("onDelete"), actions.get("onUpdate")
            for k in actions.entries:
                if k not in ("onDelete", "onUpdate"):
                    self.issue(actions.locs.get(k, where), f"drizzle ignores `{k}` here",
                               "warning")
        elif actions is not UNDEFINED:
            self.unknown(actions, where, "trimtab expects { onDelete, onUpdate } here")
            return None
        return self._fk(t, table, [ColRef(t, key, where)], [target], UNDEFINED, on_delete,
                        on_update, where)

    def foreign_key(self, t: TableV, table: str, item: FkB) -> DConstraint | None:
        for p in item.problems:
            self.issue(p.loc, p.message)
        froms = self.own_columns(t, item.columns, item.loc) if isinstance(
            item.columns, JSArray) else None
        if froms is None:
            if not isinstance(item.columns, JSArray):
                self.unknown(item.columns, item.loc, "trimtab expects columns: [...] here")
            return None
        tos_v = item.foreign_columns
        if not isinstance(tos_v, JSArray) or not tos_v.items or not all(
            isinstance(r, ColRef) for r in tos_v.items
        ):
            bad = tos_v if not isinstance(tos_v, JSArray) else next(
                (r for r in tos_v.items if not isinstance(r, ColRef)), tos_v)
            self.unknown(bad, item.loc, "trimtab expects foreignColumns: [table.column, ...]")
            return None
        if len(tos_v.items) != len(froms):
            self.issue(item.loc, "columns and foreignColumns differ in length")
            return None
        return self._fk(t, table, froms, list(tos_v.items), item.name, item.on_delete,
                        item.on_update, item.loc)

    def check(self, t: TableV, item: CheckB) -> DConstraint | None:
        name = self.string(item.name, item.loc, "the check constraint's name")
        if not isinstance(item.sql, Sql):
            self.unknown(item.sql, item.loc, "trimtab expects sql`...` in check(...)")
            return None
        text = self.render_sql(item.sql, t, mode="query")
        if name is None or text is None:
            return None
        return DConstraint(name, "c", f"CHECK ({text})", item.loc.span())


def _snake_case(key: str) -> str:
    """drizzle-kit's String.prototype.snake_case: each capital becomes _ + lower case."""
    return re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), key)


def _view(lw: _Lowering, v: ViewB) -> DView | None:
    """drizzle-kit's PgCreateViewConvertor for one view (None: with an issue, or an
    .existing() view, which drizzle-kit does not create)."""
    if v.existing:
        return None
    name = lw.string(v.name, v.loc, "the view's name")
    if name is None:
        return None
    if not v.done:
        lw.issue(v.loc, "this view has no query: add .as(...) (or .existing())")
        return None
    if isinstance(v.columns, JSObject):
        for p in v.columns.problems:
            lw.issue(p.loc, p.message)
    q = v.query
    if isinstance(q, Sql):
        definition = lw.render_sql(q, None, mode="view")
    elif isinstance(q, QueryV):
        definition = _select(lw, q)
    else:
        lw.unknown(q, v.loc, "trimtab expects sql`...` or (qb) => qb.select()... in .as(...)")
        return None
    if definition is None:
        return None
    schema = v.schema or "public"
    text = f"CREATE {'MATERIALIZED ' if v.materialized else ''}VIEW {qualified(schema, name)}"
    if v.using is not None and v.using is not UNDEFINED:
        using = lw.string(v.using, v.loc, "the view's access method")
        if using is None:
            return None
        text += f' USING "{using}"'
    if v.with_ is not None and v.with_ is not UNDEFINED:
        if not isinstance(v.with_, JSObject) or v.with_.problems:
            bad = v.with_.problems[0] if isinstance(v.with_, JSObject) else v.with_
            lw.unknown(bad, v.loc, "trimtab expects an object in .with(...)")
            return None
        options = []
        for k, val in v.with_.entries.items():
            if val is UNDEFINED:
                continue
            s = _js_string(val)
            if s is None:
                lw.unknown(val, v.with_.locs.get(k, v.loc), "trimtab cannot read this option")
                return None
            options.append(f"{_snake_case(k)} = {s}")
        text += f" WITH ({', '.join(options)})"
    if v.tablespace is not None and v.tablespace is not UNDEFINED:
        space = lw.string(v.tablespace, v.loc, "the view's tablespace")
        if space is None:
            return None
        text += f" TABLESPACE {space}"
    text += f" AS ({definition})"
    if v.with_no_data:
        text += " WITH NO DATA"
    return DView(schema, name, text, v.loc.span())


def _select(lw: _Lowering, q: QueryV) -> str | None:
    """drizzle's buildSelectQuery for the one-table SELECT a view's query builder makes."""
    for p in q.problems:
        lw.issue(p.loc, p.message)
    if q.problems:
        return None
    t = q.table
    if not isinstance(t, TableV):
        lw.unknown(t, q.loc, "trimtab expects a table in .from(...) of a view's query")
        return None
    names = lw.table_names.get(t.ident)
    cols = lw.columns.get(t.ident)
    if names is None or cols is None:
        lw.issue(q.loc, "this view reads a table trimtab could not read, or one that is "
                        "not exported")
        return None
    if q.fields is UNDEFINED:
        if not isinstance(t.columns, JSObject) or set(t.columns.entries) != set(cols):
            lw.issue(q.loc, "this view selects a table whose columns trimtab could not all "
                            "read")
            return None
        selected = [c.name for c in cols.values()]
    elif isinstance(q.fields, JSObject) and not q.fields.problems:
        selected = []
        for k, f in q.fields.entries.items():
            if not isinstance(f, ColRef) or f.table.ident != t.ident:
                lw.unknown(f, q.fields.locs.get(k, q.loc),
                           "trimtab renders a view's fields exactly when they are columns "
                           "of its one table")
                return None
            col = lw.resolve(f)
            if col is None:
                return None
            selected.append(col)
    else:
        bad = q.fields.problems[0] if isinstance(q.fields, JSObject) else q.fields
        lw.unknown(bad, q.loc, "trimtab expects an object of columns in .select(...)")
        return None
    table = qualified(t.schema, names[1]) if t.schema else quote(names[1])
    text = (f"select{' distinct' if q.distinct else ''} "
            f"{', '.join(quote(c) for c in selected)} from {table}")
    if q.where is not None and q.where is not UNDEFINED:
        if not isinstance(q.where, Sql):
            lw.unknown(q.where, q.loc, "trimtab expects a condition in .where(...)")
            return None
        where = lw.render_sql(q.where, None, mode="view")
        if where is None:
            return None
        text += f" where {where}"
    return text


class _Bad(Exception):
    def __init__(self, value: Any) -> None:
        super().__init__("bad value")
        self.value = value


def _loc_of(span: Span, fallback: Loc) -> Loc:
    """A Loc for a span we made from one (byte offsets are what Loc holds)."""
    mod = fallback.mod
    start = len(mod.text[:span.start_offset].encode("utf-8", "surrogatepass"))
    end = start + len(mod.text[span.start_offset:span.end_offset].encode("utf-8",
                                                                          "surrogatepass"))
    return Loc(mod, start, end)


def _dedupe(lw: _Lowering, items: list[DConstraint], t: TableV, what: str) -> None:
    """drizzle-kit stops on two constraints of one kind with the same name in a table."""
    seen: set[str] = set()
    for c in list(items):
        if c.name in seen:
            lw.issue(_loc_of(c.span, t.loc), f"another {what} of this table has the name "
                                             f"{c.name}: drizzle-kit stops on it")
            items.remove(c)
        seen.add(c.name)


def _js_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def _js_string(v: Any) -> str | None:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return js_number(v)
    if isinstance(v, BigIntV):
        return str(v.value)
    return None


def _json(v: Any) -> str | None:
    """JSON.stringify(v), or None when v is not plain data."""
    try:
        return json.dumps(_plain(v), ensure_ascii=False, separators=(",", ":"),
                          allow_nan=False, default=_no)
    except (ValueError, TypeError):
        return None


class _Num(float):
    """A float that json.dumps writes the JavaScript way."""

    def __repr__(self) -> str:
        return js_number(self)


def _no(_: Any) -> Any:
    raise TypeError


def _plain(v: Any) -> Any:
    if isinstance(v, JSObject):
        if v.problems:
            raise TypeError
        return {k: _plain(x) for k, x in v.entries.items() if x is not UNDEFINED}
    if isinstance(v, JSArray):
        return [None if x is UNDEFINED else _plain(x) for x in v.items]
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return None  # JSON.stringify writes null
        return int(v) if v.is_integer() and abs(v) < 1e21 else _Num(v)
    raise TypeError


def _array_literal(value: JSArray, base_type: str) -> str | None:
    """drizzle-kit's buildArrayString (strings are not escaped, as there)."""
    out = []
    for v in value.items:
        if isinstance(v, bool):
            out.append("true" if v else "false")
        elif isinstance(v, float):
            out.append(js_number(v))
        elif isinstance(v, BigIntV):
            out.append(str(v.value))
        elif isinstance(v, JSArray):
            inner = _array_literal(v, base_type)
            if inner is None:
                return None
            out.append(inner)
        elif isinstance(v, JSObject) or v is None:
            j = _json(v)
            if j is None:
                return None
            out.append('"' + j.replace('"', '\\"') + '"')
        elif isinstance(v, str):
            out.append(f'"{v}"')
        else:
            return None
    return "{" + ",".join(out) + "}"


# --------------------------------------------------------------------------------------
# The whole program


def lower(ev: Evaluator, given: list[Module], casing: str | None,
          only: Callable[[TableV], bool] | None = None) -> Lowered:
    """The given modules' schema, lowered. ``only``: the tables to lower (the others are
    still there for what refers to them, by their column names, and are not lowered)."""
    lw = _Lowering(ev, casing)
    tables: dict[tuple[str, int], TableV] = {}
    enums: dict[int, EnumValue] = {}
    schemas: dict[str, SchemaV] = {}
    sequences: dict[int, SequenceV] = {}
    views: dict[int, ViewB] = {}
    exported_ids: set[int] = set()
    linked: list[PolicyV] = []
    for mod in given:
        for name, value, _where in ev.exports(mod):
            exported_ids.add(id(value))
            if isinstance(value, TableV):
                tables.setdefault(value.ident, value)
            elif isinstance(value, EnumValue):
                enums.setdefault(id(value), value)
            elif isinstance(value, SchemaV):
                if isinstance(value.name, str):
                    schemas.setdefault(value.name, value)
                else:
                    lw.unknown(value.name, value.loc, "trimtab expects a string as the "
                                                      "schema's name")
            elif isinstance(value, SequenceV):
                sequences.setdefault(id(value), value)
            elif isinstance(value, ViewB):
                views.setdefault(id(value), value)
            elif isinstance(value, PolicyV):
                if value.table is None:
                    lw.issue(value.loc, "drizzle-kit skips this policy: it is in no table's "
                                        "callback and not linked with .link(table)", "warning")
                elif id(value) not in {id(p) for p in linked}:
                    linked.append(value)
            elif isinstance(value, RoleV):
                if not value.existing:
                    lw.issue(value.loc, "trimtab does not create roles (drizzle-kit does only "
                                        "with `entities: { roles: true }` in drizzle.config.ts"
                                        "): the role must exist on the server, or mark it "
                                        ".existing()", "warning")
            elif isinstance(value, Unsupported):
                lw.issue(value.loc, f"trimtab does not support {value.what} yet")
            elif isinstance(value, Unknown) and value.message.startswith(
                    "trimtab does not understand this builder"):
                # only calls could make a table: a constant trimtab cannot compute is no
                # news to anyone
                lw.issue(value.loc, f"{value.message} (exported as `{name}`: if it declares "
                                    "a table, trimtab does not see it)", "warning")
    # Tables declared but not exported: drizzle-kit does not see them either, in the given
    # files or in those they import or re-export (a table such a file exports itself but
    # no schema file re-exports is another matter: not this warning).
    exported_tables = {t.ident for t in tables.values()}
    reached = [m for m in ev.program.modules.values() if m not in given]
    for mod in [*given, *reached]:
        own = set() if mod in given else {id(v) for _, v, _ in ev.exports(mod)}
        for name, value, where in ev.declarations(mod):
            if isinstance(value, TableV) and value.ident not in exported_tables and \
                    id(value) not in exported_ids and id(value) not in own:
                lw.issue(where, f"`{name}` is not exported: drizzle-kit ignores this table, "
                                "and so does trimtab", "warning")
    lw.exported_enums = set(enums)
    # schemas
    d_schemas: list[DSchema] = []
    for sname, sv in schemas.items():
        if sname == "public":
            lw.issue(sv.loc, "pgSchema('public') throws in drizzle: use pgTable for public")
            continue
        d_schemas.append(DSchema(sname, sv.loc.span()))
    # enums (exported ones first, in order; others as columns meet them)
    for e in enums.values():
        lw.enum(e, exported=True)
    # tables
    ordered = [t for t in tables.values() if lw.declare_table(t)]
    if only is not None:
        for t in ordered:
            if not only(t):
                lw.columns[t.ident] = lw.column_names(t)
        ordered = [t for t in ordered if only(t)]
    lowered = {t.ident: lw.lower_columns(t) for t in ordered}
    d_tables = [lw.lower_constraints(t, lowered[t.ident]) for t in ordered]
    d_tables = _link_policies(lw, ordered, d_tables, linked)
    # indexes: one name per schema
    seen_idx: set[tuple[str, str]] = set()
    final_tables = []
    for t, d in zip(ordered, d_tables, strict=True):
        kept = []
        for idx in d.indexes:
            if (d.schema, idx.name) in seen_idx:
                lw.issue(_loc_of(idx.span, t.loc), f"another index in schema {d.schema} has "
                                                   f"the name {idx.name}: drizzle-kit stops "
                                                   "on it")
                continue
            seen_idx.add((d.schema, idx.name))
            kept.append(idx)
        final_tables.append(DTable(d.schema, d.name, d.span, d.columns, d.constraints,
                                   d.foreign_keys, tuple(kept), d.rls, d.policies))
    # schemas used but not exported
    declared = {s.name for s in d_schemas}
    for t, d in zip(ordered, final_tables, strict=True):
        if d.schema != "public" and d.schema not in declared:
            lw.issue(t.loc, f"the pgSchema {d.schema} is not exported: drizzle-kit does not "
                            "create it (its push fails); trimtab does", "warning")
            declared.add(d.schema)
            d_schemas.append(DSchema(d.schema, t.loc.span()))
    for k in lw.enum_order:
        de = lw.enums[k]
        if de is not None and de.schema != "public" and de.schema not in declared:
            declared.add(de.schema)
            d_schemas.append(DSchema(de.schema, de.span))
    # sequences
    d_sequences = [s for s in (_sequence(lw, sv) for sv in sequences.values()) if s]
    for s in d_sequences:
        if s.schema != "public" and s.schema not in declared:
            declared.add(s.schema)
            d_schemas.append(DSchema(s.schema, s.span))
    # views (drizzle-kit: plain views, then materialized ones); one name per schema
    d_views: list[DView] = []
    seen_views: set[tuple[str, str]] = set()
    existing: list[tuple[str, str]] = []
    for vb in sorted(views.values(), key=lambda x: x.materialized):
        if vb.existing and (vname := lw.string(vb.name, vb.loc, "the view's name")):
            existing.append((vb.schema or "public", vname))
        dv = _view(lw, vb)
        if dv is None:
            continue
        if (dv.schema, dv.name) in seen_views:
            lw.issue(vb.loc, f"another view in schema {dv.schema} has the name {dv.name}: "
                             "drizzle-kit stops on it")
            continue
        seen_views.add((dv.schema, dv.name))
        d_views.append(dv)
        if dv.schema != "public" and dv.schema not in declared:
            declared.add(dv.schema)
            d_schemas.append(DSchema(dv.schema, dv.span))
    d_enums = [de for k in lw.enum_order if (de := lw.enums[k]) is not None]
    return Lowered(tuple(d_schemas), tuple(d_enums), tuple(d_sequences), tuple(final_tables),
                   tuple(lw.issues), tuple(d_views), tuple(existing))


def _link_policies(lw: _Lowering, ordered: list[TableV], d_tables: list[DTable],
                   linked: list[PolicyV]) -> list[DTable]:
    """Exported ``pgPolicy(...).link(table)`` join their table's policies (after those of
    its callback, as in drizzle-kit); a policy makes drizzle-kit enable RLS; two policies
    of one name on a table stop drizzle-kit."""
    by_ident = {t.ident: k for k, t in enumerate(ordered)}
    extra: dict[int, list[DPolicy]] = {}
    for p in linked:
        table = p.table
        k = by_ident.get(table.ident) if isinstance(table, TableV) else None
        if k is None:
            lw.unknown(table, p.loc, "trimtab does not support a policy on a table the "
                                     "schema does not export yet")
            continue
        d = d_tables[k]
        pol = lw.policy(d.schema, d.name, p)
        if pol is not None:
            extra.setdefault(k, []).append(pol)
    out = []
    for k, (t, d) in enumerate(zip(ordered, d_tables, strict=True)):
        policies: list[DPolicy] = []
        for pol in [*d.policies, *extra.get(k, ())]:
            if any(x.name == pol.name for x in policies):
                lw.issue(_loc_of(pol.span, t.loc), f"another policy of this table has the "
                                                   f"name {pol.name}: drizzle-kit stops on it")
                continue
            policies.append(pol)
        out.append(DTable(d.schema, d.name, d.span, d.columns, d.constraints, d.foreign_keys,
                          d.indexes, d.rls or bool(policies), tuple(policies)))
    return out


def _sequence(lw: _Lowering, sv: SequenceV) -> DSequence | None:
    name = lw.string(sv.name, sv.loc, "the sequence's name")
    if name is None:
        return None
    opts: dict[str, Any] = {}
    if isinstance(sv.options, JSObject):
        opts = dict(sv.options.entries)
    elif sv.options is not UNDEFINED:
        lw.unknown(sv.options, sv.loc, "trimtab expects the sequence's options object")
        return None

    def text(key: str) -> str | None:
        v = opts.get(key, UNDEFINED)
        if v is UNDEFINED:
            return None
        s = _js_string(v)
        if s is None or isinstance(v, bool):
            raise _Bad(v)
        return s

    try:
        increment = text("increment") or "1"
        negative = _js_float(increment) < 0
        min_value = text("minValue") or ("-9223372036854775808" if negative else "1")
        max_value = text("maxValue") or ("-1" if negative else "9223372036854775807")
        start = text("startWith") or (max_value if negative else min_value)
        cache = text("cache") or "1"
    except _Bad as e:
        lw.unknown(e.value, sv.loc, "trimtab cannot read this sequence option")
        return None
    cycle = opts.get("cycle", False)
    if not isinstance(cycle, bool):
        lw.unknown(cycle, sv.loc, "trimtab cannot read `cycle` here")
        return None
    return DSequence(sv.schema or "public", name,
                     f" INCREMENT BY {increment} MINVALUE {min_value} MAXVALUE {max_value} "
                     f"START WITH {start} CACHE {cache}{' CYCLE' if cycle else ''}",
                     sv.loc.span())
