"""What the studio asks the database: the relations (from trimtab's model of the live
database), pages of rows, counts, one row with its references, and edits.

Every value reaches PostgreSQL as a bound parameter and every identifier is quoted by
``psycopg.sql.Identifier``; column names and operators are first checked against the
model and a fixed list, so a request naming anything else is refused before any SQL.

Paging is keyset paging: rows are ordered by the sort column (if any) and then the primary
key, and the next page starts after the last row's values, carried by an opaque cursor.
A page deep in a table of millions of rows costs what the first page costs. A nullable
sort column is paged in two index-friendly segments (its values, then its NULLs), so no
``OR`` keeps PostgreSQL from walking an index. Tables without a primary key page by
``ctid`` (read-only); views page with OFFSET.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from trimtab.model import Model, Table, View
from trimtab.sources.introspect import introspect
from trimtab.studio.values import OPERATORS, BadValue, TypeInfo, escape_like, parameter, type_info
from trimtab.words import plural

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_OFFSET = 10_000  # OFFSET pages only this deep (small tables, views)
CELL_CHARS = 2000  # longer values are cut in pages; the row view shows them whole
EXACT_COUNT_UP_TO = 100_000  # estimated rows under which the table list counts exactly
COUNT_LIMIT = 100_000  # a filtered count stops here ("more than 100,000")
MAX_KEYS = 1000  # rows deleted by one request
MAX_FILTERS = 20
ALIAS = "r"  # the relation's alias in page queries


class StudioError(Exception):
    """A request the studio refuses or the database rejected; ``fields``: messages by
    column name, shown next to the inputs; ``filter``: the index of the failing filter."""

    def __init__(self, status: int, message: str, *, fields: dict[str, str] | None = None,
                 detail: str | None = None, hint: str | None = None, code: str | None = None,
                 filter: int | None = None,  # noqa: A002
                 row: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.row = row  # the row as it is now, when an edit met a newer version of it
        self.status = status
        self.message = message
        self.fields = fields or {}
        self.detail = detail
        self.hint = hint
        self.code = code
        self.filter = filter
        self.position: int | None = None  # console: where in the statement it failed

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.message}
        for k in ("detail", "hint", "code", "filter", "row", "position"):
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        if self.fields:
            out["fields"] = self.fields
        return out


# -- relations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Col:
    name: str
    type: str
    info: TypeInfo
    nullable: bool
    default: str | None
    identity: str | None  # "always" | "by default"
    generated: str | None
    comment: str | None
    pk: bool

    @property
    def insertable(self) -> bool:
        return self.generated is None and self.identity != "always"

    @property
    def updatable(self) -> bool:
        return self.generated is None and self.identity != "always"

    @property
    def required(self) -> bool:
        """An insert must give a value: NOT NULL, and the database has none of its own."""
        return (not self.nullable and self.default is None and self.identity is None
                and self.generated is None)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "type": self.type, "category": self.info.category,
            "element": self.info.element, "enum": list(self.info.enum_values)
            if self.info.enum_values is not None else None,
            "nullable": self.nullable, "default": self.default, "identity": self.identity,
            "generated": self.generated, "comment": self.comment, "pk": self.pk,
            "sortable": self.info.sortable, "insertable": self.insertable,
            "updatable": self.updatable, "required": self.required,
            "jsonb": self.info.jsonb,
            "operators": [*OPERATORS[self.info.category], "null", "notnull"],
        }


@dataclass(frozen=True)
class ForeignKey:
    name: str
    schema: str  # the referencing table
    table: str
    columns: tuple[str, ...]
    ref_schema: str  # the referenced table
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: str = "no action"  # "cascade", "set null", "set default", "restrict"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "schema": self.schema, "table": self.table,
                "columns": list(self.columns), "ref_schema": self.ref_schema,
                "ref_table": self.ref_table, "ref_columns": list(self.ref_columns),
                "on_delete": self.on_delete}


def _on_delete(definition: str) -> str:
    """The ON DELETE action in pg_get_constraintdef()'s text (NO ACTION is left out)."""
    m = re.search(r"\bON DELETE (CASCADE|SET NULL|SET DEFAULT|RESTRICT)\b", definition)
    return m.group(1).lower() if m else "no action"


@dataclass(frozen=True)
class Rel:
    """A table or view as the studio pages and edits it."""

    schema: str
    name: str
    kind: str  # "table", "partitioned table", "partition", "view", "materialized view"
    columns: tuple[Col, ...]
    key: tuple[str, ...]  # primary key columns; () when none
    read_only: str | None  # why rows cannot be edited here, None when they can
    fks_out: tuple[ForeignKey, ...]
    fks_in: tuple[ForeignKey, ...]
    obj: Table | View
    # paging key when there is no primary key: system columns ("tableoid", "ctid"); ()
    # for views (OFFSET paging)
    system_key: tuple[str, ...] = ()
    by_name: dict[str, Col] = field(default_factory=dict, compare=False, repr=False)

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)

    @property
    def paging_key(self) -> tuple[str, ...]:
        return self.key or self.system_key

    def col(self, name: Any) -> Col:
        c = self.by_name.get(name) if isinstance(name, str) else None
        if c is None:
            raise StudioError(400, f"{self.schema}.{self.name} has no column {name!r}")
        return c

    def to_json(self) -> dict[str, Any]:
        t = self.obj
        constraints = [{"name": c.name, "kind": c.kind, "definition": c.definition,
                        "columns": list(c.columns), "validated": c.validated,
                        "comment": c.comment}
                       for c in (t.constraints if isinstance(t, Table) else ())]
        return {
            "schema": self.schema, "name": self.name, "kind": self.kind,
            "columns": [c.to_json() for c in self.columns], "key": list(self.key),
            "read_only": self.read_only, "keyset": bool(self.paging_key),
            "fks_out": [f.to_json() for f in self.fks_out],
            "fks_in": [f.to_json() for f in self.fks_in],
            "comment": t.comment,
            "constraints": constraints,
            "indexes": [{"name": i.name, "definition": i.definition, "unique": i.unique,
                         "comment": i.comment} for i in t.indexes],
            "triggers": [{"name": g.name, "definition": g.definition, "enabled": g.enabled}
                         for g in t.triggers],
            "policies": [{"name": p.name, "command": p.command, "using": p.using,
                          "with_check": p.with_check}
                         for p in (t.policies if isinstance(t, Table) else ())],
            "definition": t.definition if isinstance(t, View) else None,
            "partition_key": t.partition_key if isinstance(t, Table) else None,
            "partition_of": ".".join(t.partition_of)
            if isinstance(t, Table) and t.partition_of else None,
            "rls": t.rls_enabled if isinstance(t, Table) else False,
        }


def _kind(obj: Table | View) -> str:
    if isinstance(obj, View):
        return "materialized view" if obj.materialized else "view"
    if obj.partition_key is not None:
        return "partitioned table"
    return "partition" if obj.partition_of is not None else "table"


def build_relations(model: Model) -> dict[tuple[str, str], Rel]:
    """Every table and view of the model, keyed by (schema, name)."""
    fks: list[ForeignKey] = []
    for t in model.tables.values():
        for c in t.constraints:
            if c.kind == "f" and c.ref_table is not None and not c.inherited:
                fks.append(ForeignKey(c.name, t.schema, t.name, c.columns, c.ref_table[0],
                                      c.ref_table[1], c.ref_columns,
                                      _on_delete(c.definition)))
    parents = {p for t in model.tables.values() for p in t.inherits}
    out: dict[tuple[str, str], Rel] = {}
    rels: list[Table | View] = [*model.tables.values(), *model.views.values()]
    for obj in rels:
        out[(obj.schema, obj.name)] = _relation(model, obj, fks, parents)
    return out


def _relation(model: Model, obj: Table | View, fks: list[ForeignKey],
              parents: set[tuple[str, str]]) -> Rel:
    cols: list[Col] = []
    key: tuple[str, ...] = ()
    system_key: tuple[str, ...] = ()
    if isinstance(obj, Table):
        pk = next((c for c in obj.constraints if c.kind == "p"), None)
        key = pk.columns if pk is not None else ()
        for c in obj.columns:
            identity = None if c.identity is None else (
                "always" if c.identity.always else "by default")
            cols.append(Col(c.name, c.type, type_info(c.type, c.type_ref, model),
                            not c.not_null, c.default, identity, c.generated, c.comment,
                            c.name in key))
        if not key:
            partitioned = obj.partition_key is not None or obj.qualified in parents
            system_key = ("tableoid", "ctid") if partitioned else ("ctid",)
        read_only = None if key else (
            "no primary key: a row cannot be told apart from an identical one, so rows "
            "are read-only here (add a primary key to edit them)")
    else:
        for name, type_name in obj.columns:
            bare = type_name.removesuffix("[]")
            ref = tuple(bare.split(".", 1)) if "." in bare and '"' not in bare else None
            cols.append(Col(name, type_name, type_info(type_name, ref, model)  # type: ignore[arg-type]
                            , True, None, None, None, None, False))
        read_only = f"a {_kind(obj)}: its rows are read-only here"
    if any(not c.info.sortable for c in cols if c.name in key):
        read_only, key, system_key = "the primary key has a type without ordering", (), ()
    rel = Rel(obj.schema, obj.name, _kind(obj), tuple(cols), key, read_only,
              tuple(f for f in fks if (f.schema, f.table) == (obj.schema, obj.name)),
              tuple(f for f in fks if (f.ref_schema, f.ref_table) == (obj.schema, obj.name)),
              obj, system_key)
    rel.by_name.update({c.name: c for c in cols})
    return rel


class Catalog:
    """trimtab's model of the live database, kept between requests and read again when it
    is older than ``max_age`` seconds (or asked to)."""

    def __init__(self, schemas: Sequence[str] | None, max_age: float = 10.0) -> None:
        self.schemas = schemas
        self.max_age = max_age
        self._lock = threading.Lock()
        self._model: Model | None = None
        self._relations: dict[tuple[str, str], Rel] = {}
        self._read_at = 0.0

    def model(self, conn: psycopg.Connection, *, refresh: bool = False) -> Model:
        with self._lock:
            stale = time.monotonic() - self._read_at > self.max_age
            if self._model is None or refresh or stale:
                model = introspect(conn, self.schemas)
                self._model, self._relations = model, build_relations(model)
                self._read_at = time.monotonic()
            return self._model

    def relations(self, conn: psycopg.Connection, *, refresh: bool = False
                  ) -> dict[tuple[str, str], Rel]:
        self.model(conn, refresh=refresh)
        return self._relations

    def relation(self, conn: psycopg.Connection, schema: Any, name: Any) -> Rel:
        if not isinstance(schema, str) or not isinstance(name, str):
            raise StudioError(400, "name a table with ?schema=...&table=...")
        with self._lock:
            rel = self._relations.get((schema, name)) if self._model is not None else None
        if rel is None:  # new since the model was read?
            rel = self.relations(conn, refresh=True).get((schema, name))
        if rel is None:
            raise StudioError(404, f"no table or view {schema}.{name}")
        return rel

    def forget(self) -> None:
        """Read the model again at the next request (the database changed under it)."""
        with self._lock:
            self._model = None


# -- the table list ---------------------------------------------------------------------------

_ESTIMATES = """
SELECT n.nspname, c.relname, c.relkind,
       CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint
            ELSE coalesce(s.n_live_tup, -1) END,
       pg_catalog.pg_total_relation_size(c.oid)
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_stat_all_tables s ON s.relid = c.oid
WHERE c.relkind IN ('r', 'p', 'v', 'm') AND n.nspname = ANY (%s)
"""


def estimates(conn: psycopg.Connection, schemas: Iterable[str]
              ) -> dict[tuple[str, str], tuple[int, int]]:
    """(schema, name) -> (estimated rows or -1, bytes), from the statistics: no scan.
    A partitioned table's estimate is the sum of its partitions'."""
    rows = conn.execute(_ESTIMATES, (list(schemas),)).fetchall()
    return {(r[0], r[1]): (int(r[3]), int(r[4])) for r in rows}


def table_list(conn: psycopg.Connection, catalog: Catalog, *, refresh: bool = False,
               budget: float = 1.5) -> list[dict[str, Any]]:
    """Schemas with their tables and views, and row counts: exact for tables estimated
    under EXACT_COUNT_UP_TO rows (each within a short timeout, all within ``budget``
    seconds), the statistics' estimate otherwise."""
    relations = catalog.relations(conn, refresh=refresh)
    model = catalog.model(conn)
    schemas = sorted({s.name for s in model.schemas.values()} | {s for s, _ in relations})
    sizes = estimates(conn, schemas)
    for rel in relations.values():  # partitioned: the sum of the partitions
        t = rel.obj
        if isinstance(t, Table) and t.partition_of is not None:
            parent = sizes.get(t.partition_of)
            part_rows, size = sizes.get((t.schema, t.name), (-1, 0))
            if parent is not None and part_rows >= 0:
                prows, psize = parent
                sizes[t.partition_of] = (max(prows, 0) + part_rows, psize + size)
    started = time.monotonic()
    groups: dict[str, list[dict[str, Any]]] = {s: [] for s in schemas}
    for (schema, name), rel in sorted(relations.items()):
        est, size = sizes.get((schema, name), (-1, 0))
        rows, exact = (est if est >= 0 else None), False
        if rel.kind in ("table", "partition", "partitioned table") and est <= \
                EXACT_COUNT_UP_TO and time.monotonic() - started < budget:
            counted = _count(conn, sql.SQL("SELECT count(*) FROM {}").format(rel.ident), (),
                             timeout_ms=200)
            if counted is not None:
                rows, exact = counted, True
        groups.setdefault(schema, []).append({
            "name": name, "kind": rel.kind, "rows": rows, "exact": exact, "bytes": size,
            "read_only": rel.read_only, "comment": rel.obj.comment})
    return [{"name": s, "relations": groups[s]} for s in schemas]


def _count(conn: psycopg.Connection, query: sql.Composed, params: Sequence[Any],
           timeout_ms: int) -> int | None:
    """A count within ``timeout_ms``, else None."""
    try:
        with conn.transaction():
            conn.execute("SELECT set_config('statement_timeout', %s, true)",
                         (f"{timeout_ms}ms",))
            row = conn.execute(query, params).fetchone()
        return int(row[0]) if row else 0
    except psycopg.errors.QueryCanceled:
        return None


# -- filters and sorting -----------------------------------------------------------------------


def _where(rel: Rel, filters: Any) -> tuple[sql.Composable, list[Any]]:
    """The WHERE condition for the page's filters: ``[{"column", "op", "value"}]``."""
    if filters is None:
        return sql.SQL("TRUE"), []
    if not isinstance(filters, list) or len(filters) > MAX_FILTERS:
        raise StudioError(400, f"filters are a list of at most {MAX_FILTERS} items")
    parts: list[sql.Composable] = []
    params: list[Any] = []
    for i, f in enumerate(filters):
        if not isinstance(f, dict):
            raise StudioError(400, "a filter is {column, op, value}", filter=i)
        try:
            part, values = _filter(rel, f)
        except StudioError as e:
            e.filter = i
            raise
        parts.append(part)
        params += values
    if not parts:
        return sql.SQL("TRUE"), []
    return sql.SQL(" AND ").join(parts), params


def _text_value(v: Any, what: str = "value") -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    if isinstance(v, str):
        return v
    raise StudioError(400, f"the filter's {what} must be a string")


def _filter(rel: Rel, f: dict[str, Any]) -> tuple[sql.Composable, list[Any]]:
    col = rel.col(f.get("column"))
    op = f.get("op")
    c = sql.Identifier(col.name)
    if op == "null":
        return sql.SQL("{} IS NULL").format(c), []
    if op == "notnull":
        return sql.SQL("{} IS NOT NULL").format(c), []
    if op not in OPERATORS[col.info.category]:
        raise StudioError(400, f"{op!r} is not a filter for {col.name} ({col.type})")
    value = f.get("value")
    plain_text = col.type in ("text",) or col.type.startswith("character varying")
    if op in ("contains", "starts"):
        pattern = escape_like(_text_value(value))
        pattern = f"%{pattern}%" if op == "contains" else f"{pattern}%"
        target = c if plain_text else sql.SQL("{}::text").format(c)
        return sql.SQL("{} ILIKE %s ESCAPE '\\'").format(target), [pattern]
    if op == "json_contains":
        text = _text_value(value)
        try:
            json.loads(text)
        except ValueError as e:
            raise StudioError(400, f"not valid JSON: {e}") from None
        if not col.info.jsonb:
            raise StudioError(400, "matching JSON needs a jsonb column")
        return sql.SQL("{} @> %s::jsonb").format(c), [text]
    if op == "has":
        return sql.SQL("%s = ANY ({})").format(c), [_text_value(value)]
    if op == "in":
        if not isinstance(value, list) or not value:
            raise StudioError(400, "'in' takes a list of values")
        return sql.SQL("{} = ANY (%s)").format(c), [
            "{" + ",".join('"' + _text_value(v).replace("\\", "\\\\").replace('"', '\\"')
                           + '"' for v in value) + "}"]
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise StudioError(400, "'between' takes [from, to] (either may be empty)")
        parts, params = [], []
        for bound, symbol in zip(value, (">=", "<="), strict=True):
            if bound is None or bound == "":
                continue
            parts.append(sql.SQL("{} " + symbol + " %s").format(c))
            params.append(_text_value(bound))
        if not parts:
            return sql.SQL("TRUE"), []
        return sql.SQL(" AND ").join(parts), params
    symbol = {"eq": "=", "ne": "IS DISTINCT FROM", "gt": ">", "gte": ">=", "lt": "<",
              "lte": "<="}[op]
    return sql.SQL("{} " + symbol + " %s").format(c), [_text_value(value)]


@dataclass(frozen=True)
class Order:
    """The sort column (None: the key alone), its direction, and the paging key."""

    sort: Col | None
    descending: bool
    key: tuple[str, ...]

    @property
    def terms(self) -> list[str]:
        return ([self.sort.name] if self.sort else []) + list(self.key)


def order_for(rel: Rel, sort: Any, direction: Any) -> Order:
    if direction not in (None, "", "asc", "desc"):
        raise StudioError(400, "dir is asc or desc")
    descending = direction == "desc"
    col = None
    if sort not in (None, ""):
        col = rel.col(sort)
        if not col.info.sortable:
            raise StudioError(400, f"{col.name} ({col.type}) has no ordering to sort by")
    key = rel.paging_key
    if col is not None and col.name in key:  # sorting by (part of) the key itself
        key = (col.name, *[k for k in key if k != col.name])
        col = None
    return Order(col, descending, key)


def encode_cursor(order: Order, values: Sequence[str | None]) -> str:
    doc = {"s": order.sort.name if order.sort else None, "d": "desc" if order.descending
           else "asc", "k": list(order.key), "v": list(values)}
    raw = json.dumps(doc, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(order: Order, cursor: str) -> list[str | None]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        doc = json.loads(raw)
    except (ValueError, binascii.Error):
        raise StudioError(400, "the cursor is not one this studio made") from None
    expected = {"s": order.sort.name if order.sort else None,
                "d": "desc" if order.descending else "asc", "k": list(order.key)}
    if not isinstance(doc, dict) or any(doc.get(k) != v for k, v in expected.items()):
        raise StudioError(400, "the cursor belongs to another sort order: start from the "
                               "first page")
    values = doc.get("v")
    if not isinstance(values, list) or len(values) != len(order.terms) or not all(
            v is None or isinstance(v, str) for v in values):
        raise StudioError(400, "the cursor is not one this studio made")
    if any(v is None for v in values[1 if order.sort else 0:]) or (
            values[0] is None and not (order.sort and order.sort.nullable)):
        raise StudioError(400, "the cursor is not one this studio made")
    return values


# -- pages ------------------------------------------------------------------------------------


def _cell(c: Col) -> sql.Composable:
    """A cell as the page gets it: an array as JSON of its elements' text, anything else
    as its text, cut after CELL_CHARS (one more character tells the page it was cut)."""
    ident = sql.Identifier(c.name)
    if c.info.category == "array":
        return sql.SQL("pg_catalog.array_to_json({}::text[])").format(ident)
    return sql.SQL("pg_catalog.left({}::text, {})").format(ident, sql.Literal(CELL_CHARS + 1))


def _full_cell(c: Col) -> sql.Composable:
    ident = sql.Identifier(c.name)
    if c.info.category == "array":
        return sql.SQL("pg_catalog.array_to_json({}::text[])").format(ident)
    return sql.SQL("{}::text").format(ident)


def _select_list(rel: Rel, terms: Sequence[str], full: bool = False) -> sql.Composable:
    cells = [(_full_cell if full else _cell)(c) for c in rel.columns]
    keys = [sql.SQL("{}::text").format(sql.Identifier(t)) for t in terms]
    return sql.SQL(", ").join(cells + keys)


def _row_json(rel: Rel, row: Sequence[Any], terms: Sequence[str], key_at: int
              ) -> dict[str, Any]:
    n = len(rel.columns)
    cells = list(row[:n])
    cut = []
    for i, v in enumerate(cells):
        if isinstance(v, str) and len(v) > CELL_CHARS:
            cells[i] = v[:CELL_CHARS]
            cut.append(i)
    out: dict[str, Any] = {"cells": cells, "key": list(row[n + key_at:n + len(terms)])}
    if cut:
        out["cut"] = cut
    return out


def _ident_row(names: Sequence[str]) -> sql.Composable:
    idents = [sql.Identifier(n) for n in names]
    if len(idents) == 1:
        return idents[0]
    return sql.SQL("({})").format(sql.SQL(", ").join(idents))


def _params_row(n: int) -> sql.Composable:
    return sql.SQL("%s") if n == 1 else sql.SQL("({})").format(
        sql.SQL(", ").join([sql.SQL("%s")] * n))


def _segments(order: Order, descending: bool, cursor: list[str | None] | None
              ) -> list[tuple[sql.Composable, list[Any], sql.Composable]]:
    """(condition, parameters, ORDER BY) for each part of the table after ``cursor`` in
    this scan direction, in scan order. Without a nullable sort column there is one part;
    with one, its non-NULL values and its NULLs are two (NULLS LAST ascending, FIRST
    descending), so each part is a plain index range."""
    d = sql.SQL("DESC" if descending else "ASC")
    op, prefix = ("<", "<=") if descending else (">", ">=")
    key = list(order.key)
    # ORDER BY names the table's columns through its alias: a bare name would first match
    # an output column (the select list's "id"::text is named id, and sorts as text).
    key_order = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(ALIAS, k), d)
                                   for k in key)

    def after(names: list[str], values: list[Any]) -> sql.Composable:
        return sql.SQL("{} " + op + " {}").format(_ident_row(names), _params_row(len(values)))

    true = sql.SQL("TRUE")
    if order.sort is None:
        if cursor is None:
            return [(true, [], key_order)]
        return [(after(key, cursor), list(cursor), key_order)]
    s = sql.Identifier(order.sort.name)
    full_order = sql.SQL("{} {}, {}").format(sql.Identifier(ALIAS, order.sort.name), d,
                                             key_order)
    nullable = order.sort.nullable
    not_null = sql.SQL("{} IS NOT NULL").format(s) if nullable else true
    nulls: list[tuple[sql.Composable, list[Any], sql.Composable]] = []
    if cursor is None:
        values_part: list[tuple[sql.Composable, list[Any], sql.Composable]] = [
            (not_null, [], full_order)]
        if nullable:
            nulls = [(sql.SQL("{} IS NULL").format(s), [], key_order)]
        return nulls + values_part if descending else values_part + nulls
    sv, kv = cursor[0], list(cursor[1:])
    if sv is None:  # inside the NULLs
        in_nulls = (sql.SQL("{} IS NULL AND {}").format(s, after(key, kv)), kv, key_order)
        return [in_nulls, (not_null, [], full_order)] if descending else [in_nulls]
    in_values = (sql.SQL("{} " + prefix + " %s AND {}").format(s, after([order.sort.name,
                                                                          *key], cursor)),
                 [sv, *cursor], full_order)
    if nullable and not descending:
        return [in_values, (sql.SQL("{} IS NULL").format(s), [], key_order)]
    return [in_values]


def _offset_order(rel: Rel, order: Order) -> sql.Composable | None:
    d = "DESC" if order.descending else "ASC"
    nulls = "NULLS FIRST" if order.descending else "NULLS LAST"
    names = order.terms or [c.name for c in rel.columns if c.info.sortable][:8]
    if not names:
        return None
    return sql.SQL(", ").join(
        sql.SQL("{} " + d + " " + nulls).format(sql.Identifier(ALIAS, n)) for n in names)


def _paged(rel: Rel, select: sql.Composable, where: sql.Composable,
           by: sql.Composable | None, tail: str) -> sql.Composed:
    """The page's cells, made from the rows an inner query picks: a value's text is made
    for the page's rows only, not for every row a sort without an index reads."""
    alias = sql.Identifier(ALIAS)
    system = sql.SQL("").join(sql.SQL(", {}.{} AS {}").format(alias, sql.Identifier(k),
                                                              sql.Identifier(k))
                              for k in rel.system_key)
    order_by = sql.SQL(" ORDER BY {}").format(by) if by is not None else sql.SQL("")
    inner = sql.SQL("SELECT {}.*{} FROM {} AS {} WHERE {}{} " + tail).format(
        alias, system, rel.ident, alias, where, order_by)
    return sql.SQL("SELECT {} FROM ({}) AS {}{}").format(select, inner, alias, order_by)


def page(conn: psycopg.Connection, rel: Rel, *, sort: Any = None, direction: Any = None,
         filters: Any = None, after: str | None = None, before: str | None = None,
         last: bool = False, offset: int | None = None, limit: int = PAGE_SIZE
         ) -> dict[str, Any]:
    """One page of rows: the first (no cursor), the one ``after`` or ``before`` a cursor,
    the ``last``, or (small tables, views) the one at ``offset``.
    Returns rows, and the cursors of the pages around it (None at either end)."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise StudioError(400, f"limit is between 1 and {MAX_PAGE_SIZE}")
    order = order_for(rel, sort, direction)
    where, where_params = _where(rel, filters)
    terms = order.terms
    key_at = 1 if order.sort is not None else 0
    started = time.perf_counter()
    select = _select_list(rel, terms)

    def run(query: sql.Composed, params: list[Any]) -> list[tuple[Any, ...]]:
        try:
            return conn.execute(query, params).fetchall()
        except psycopg.errors.QueryCanceled:
            raise StudioError(504, "the query took too long (statement_timeout): a filter "
                                   "or sort on an indexed column is faster") from None
        except psycopg.Error as e:
            raise query_error(conn, e, rel, filters) from None

    if not order.key or offset is not None:  # OFFSET paging
        if offset is None:
            offset = 0
        if not isinstance(offset, int) or offset < 0 or (order.key and offset > MAX_OFFSET):
            raise StudioError(400, f"offset is between 0 and {MAX_OFFSET}; deeper pages "
                                   "use cursors")
        query = _paged(rel, select, where, _offset_order(rel, order), "LIMIT %s OFFSET %s")
        rows = run(query, [*where_params, limit + 1, offset])
        more = len(rows) > limit
        rows = rows[:limit]
        out = {"rows": [_row_json(rel, r, terms, key_at) for r in rows],
               "offset": offset, "has_prev": offset > 0, "has_next": more,
               "next": None, "prev": None}
        if order.key and rows:
            n = len(rel.columns)
            out["next"] = encode_cursor(order, rows[-1][n:]) if more else None
            out["prev"] = encode_cursor(order, rows[0][n:]) if offset > 0 else None
        out["ms"] = round((time.perf_counter() - started) * 1000, 1)
        return out

    if after and before:
        raise StudioError(400, "after or before, not both")
    token = after or before
    cursor = decode_cursor(order, token) if token else None
    backwards = bool(before) or last
    descending = order.descending != backwards
    if last:
        cursor = None
    rows = []  # typed by the offset branch above
    for cond, params, by in _segments(order, descending, cursor):
        query = _paged(rel, select, sql.SQL("({}) AND ({})").format(where, cond), by,
                       "LIMIT %s")
        rows += run(query, [*where_params, *params, limit + 1 - len(rows)])
        if len(rows) > limit:
            break
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    has_prev = more if backwards else cursor is not None
    has_next = (not last) if backwards else more
    n = len(rel.columns)
    return {
        "rows": [_row_json(rel, r, terms, key_at) for r in rows],
        "has_prev": has_prev and bool(rows), "has_next": has_next and bool(rows),
        "prev": encode_cursor(order, rows[0][n:]) if has_prev and rows else None,
        "next": encode_cursor(order, rows[-1][n:]) if has_next and rows else None,
        "offset": None,
        "ms": round((time.perf_counter() - started) * 1000, 1),
    }


def count(conn: psycopg.Connection, rel: Rel, filters: Any = None) -> dict[str, Any]:
    """Rows (matching the filters): exact when that is cheap, else the statistics'
    estimate (no filters) or "at least COUNT_LIMIT"."""
    where, params = _where(rel, filters)
    if not filters:
        est = estimates(conn, [rel.schema]).get((rel.schema, rel.name), (-1, 0))[0]
        if est > EXACT_COUNT_UP_TO:
            return {"rows": est, "exact": False, "estimate": True}
    inner = sql.SQL("SELECT 1 FROM {} WHERE {} LIMIT {}").format(
        rel.ident, where, sql.Literal(COUNT_LIMIT + 1))
    try:
        n = _count(conn, sql.SQL("SELECT count(*) FROM ({}) s").format(inner), params, 2000)
    except psycopg.Error as e:
        raise query_error(conn, e, rel, filters) from None
    if n is None:
        return {"rows": None, "exact": False, "estimate": False}
    if n > COUNT_LIMIT:
        return {"rows": COUNT_LIMIT, "exact": False, "at_least": True}
    return {"rows": n, "exact": True}


def _key_condition(rel: Rel, key: Any) -> tuple[sql.Composable, list[Any]]:
    names = rel.paging_key
    if not names:
        raise StudioError(400, f"{rel.schema}.{rel.name} has no key to find a row by")
    if not isinstance(key, list) or len(key) != len(names) or not all(
            isinstance(v, str) for v in key):
        raise StudioError(400, f"a row's key is a list of {plural(len(names), 'string')}: "
                               f"{', '.join(names)}")
    return sql.SQL("{} = {}").format(_ident_row(list(names)), _params_row(len(names))), list(key)


def row(conn: psycopg.Connection, rel: Rel, key: Any, catalog: Catalog) -> dict[str, Any]:
    """One row, whole, with the rows it references and counts of those referencing it."""
    cond, params = _key_condition(rel, key)
    terms = list(rel.paging_key)
    query = sql.SQL("SELECT {} FROM {} WHERE {}").format(_select_list(rel, terms, True),
                                                         rel.ident, cond)
    try:
        found = conn.execute(query, params).fetchone()
    except psycopg.Error as e:
        raise query_error(conn, e, rel, None) from None
    if found is None:
        raise StudioError(404, "no such row (deleted, or its key changed)")
    data = _row_json(rel, found, terms, 0)
    data.pop("cut", None)
    data["cells"] = list(found[:len(rel.columns)])
    names = [c.name for c in rel.columns]
    value = dict(zip(names, data["cells"], strict=True))
    refs_in = []
    for fk in rel.fks_in:
        values = [value.get(c) for c in fk.ref_columns]
        n: int | None = 0
        if all(isinstance(v, str) for v in values):
            try:
                child = catalog.relation(conn, fk.schema, fk.table)
            except StudioError:
                continue
            inner = sql.SQL("SELECT 1 FROM {} WHERE {} = {} LIMIT 1001").format(
                child.ident, _ident_row(list(fk.columns)), _params_row(len(values)))
            n = _count(conn, sql.SQL("SELECT count(*) FROM ({}) s").format(inner), values,
                       500)
        refs_in.append({**fk.to_json(), "values": values, "rows": n,
                        "at_least": n is not None and n > 1000})
    data["refs_in"] = refs_in
    return data


# -- edits ------------------------------------------------------------------------------------


def _writable(rel: Rel, read_only: str | None) -> None:
    if read_only:
        raise StudioError(403, read_only)
    if rel.read_only:
        raise StudioError(403, f"{rel.schema}.{rel.name}: {rel.read_only}")


def _params(rel: Rel, values: Any, what: str) -> dict[str, str | None]:
    if not isinstance(values, dict):
        raise StudioError(400, "values are {column: value}")
    out: dict[str, str | None] = {}
    errors: dict[str, str] = {}
    for name, v in values.items():
        col = rel.col(name)
        if not (col.insertable if what == "insert" else col.updatable):
            errors[name] = ("generated by the database" if col.generated is not None
                            else "an identity column GENERATED ALWAYS: set by the database")
            continue
        try:
            out[name] = parameter(col.info, v)
        except BadValue as e:
            errors[name] = str(e)
    if errors:
        raise StudioError(422, "some values cannot be used", fields=errors)
    return out


def _unchanged(rel: Rel, original: Any, names: Sequence[str]
               ) -> tuple[sql.Composable, list[Any]]:
    """The condition that each column in ``names`` still holds the value the client saw
    (``original``, as the page got it: text, or a list for an array): an edit made on a
    row someone else has changed since must not overwrite their change."""
    if not isinstance(original, dict) or any(n not in original for n in names):
        raise StudioError(400, "original: {column: value} with the value each changed "
                               "column had when the row was loaded")
    conds, params = [], []
    for name in names:
        col, seen = rel.col(name), original[name]
        if col.info.category == "array":
            if not (seen is None or isinstance(seen, list)):
                raise StudioError(400, f"original {name}: a list or null")
            conds.append(sql.SQL("{}::jsonb IS NOT DISTINCT FROM %s::jsonb").format(
                _full_cell(col)))
            params.append(None if seen is None else json.dumps(seen))
        else:
            if not (seen is None or isinstance(seen, str)):
                raise StudioError(400, f"original {name}: the text of the value, or null")
            conds.append(sql.SQL("{} IS NOT DISTINCT FROM %s").format(_full_cell(col)))
            params.append(seen)
    return sql.SQL(" AND ").join(conds), params


def update(conn: psycopg.Connection, rel: Rel, key: Any, values: Any,
           read_only: str | None, original: Any = None) -> dict[str, Any]:
    """Set some columns of one row, in one transaction, if they still hold their
    ``original`` values; returns the row as saved. A row changed meanwhile is a 409 that
    carries the row as it is now."""
    _writable(rel, read_only)
    cond, key_params = _key_condition(rel, key)
    params = _params(rel, values, "update")
    if not params:
        raise StudioError(400, "nothing to change")
    same, same_params = _unchanged(rel, original, list(params))
    sets = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(n)) for n in params)
    terms = list(rel.key)
    query = sql.SQL("UPDATE {} SET {} WHERE {} AND {} RETURNING {}").format(
        rel.ident, sets, cond, same, _select_list(rel, terms))
    try:
        return _write(conn, rel, query, [*params.values(), *key_params, *same_params],
                      params, terms, expect=1)[0]
    except StudioError as e:
        if e.status != 409:
            raise
        now = conn.execute(sql.SQL("SELECT {} FROM {} WHERE {}").format(
            _select_list(rel, terms), rel.ident, cond), key_params).fetchone()
        if now is None:
            raise
        raise StudioError(409, "this row was changed by someone else since you loaded it: "
                               "nothing was saved", hint="the row is shown as it is now; "
                               "edit it again", row=_row_json(rel, now, terms, 0)) from None


def insert(conn: psycopg.Connection, rel: Rel, values: Any, read_only: str | None
           ) -> dict[str, Any]:
    """Insert one row; returns it as saved. An empty value ("" or null, as an empty
    field sends it) or a column left out means the column's default, or NULL: never an
    empty string the user did not type. A required column (NOT NULL, no default) left
    empty is refused, naming it, before any SQL."""
    _writable(rel, read_only)
    if not isinstance(values, dict):
        raise StudioError(400, "values are {column: value}")
    given = {n: v for n, v in values.items() if v is not None and v != ""}
    for name in values:
        rel.col(name)  # an unknown column is refused as before
    missing = [c.name for c in rel.columns if c.required and c.name not in given]
    if missing:
        raise StudioError(422, f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                               "required: NOT NULL without a default",
                          fields={n: "required: NOT NULL without a default" for n in missing})
    params = _params(rel, given, "insert")
    terms = list(rel.key)
    if params:
        query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING {}").format(
            rel.ident, sql.SQL(", ").join(sql.Identifier(n) for n in params),
            sql.SQL(", ").join([sql.SQL("%s")] * len(params)), _select_list(rel, terms))
    else:
        query = sql.SQL("INSERT INTO {} DEFAULT VALUES RETURNING {}").format(
            rel.ident, _select_list(rel, terms))
    return _write(conn, rel, query, list(params.values()), params, terms, expect=1)[0]


def delete(conn: psycopg.Connection, rel: Rel, keys: Any, read_only: str | None) -> int:
    """Delete rows by key, all or none, in one transaction."""
    _writable(rel, read_only)
    if not isinstance(keys, list) or not 1 <= len(keys) <= MAX_KEYS:
        raise StudioError(400, f"keys: a list of 1 to {MAX_KEYS} row keys")
    conds, params = [], []
    unique = {json.dumps(k) for k in keys}
    for k in keys:
        cond, p = _key_condition(rel, k)
        conds.append(sql.SQL("({})").format(cond))
        params += p
    query = sql.SQL("DELETE FROM {} WHERE {}").format(rel.ident, sql.SQL(" OR ").join(conds))
    try:
        with conn.transaction():
            cur = conn.execute(query, params)
            if cur.rowcount != len(unique):
                raise StudioError(409, f"{len(unique) - cur.rowcount} of the {len(unique)} "
                                       "rows are gone (deleted or changed meanwhile): nothing "
                                       "was deleted; reload the page")
            return cur.rowcount
    except psycopg.Error as e:
        raise _write_error(conn, e, rel, {}) from None


def _write(conn: psycopg.Connection, rel: Rel, query: sql.Composed, params: list[Any],
           values: dict[str, str | None], terms: list[str], expect: int
           ) -> list[dict[str, Any]]:
    try:
        with conn.transaction():
            rows = conn.execute(query, params).fetchall()
            if len(rows) != expect:
                raise StudioError(409, "the row is gone (deleted, or its key changed "
                                       "meanwhile): nothing was saved; reload the page")
    except psycopg.Error as e:
        raise _write_error(conn, e, rel, values) from None
    return [_row_json(rel, r, terms, 0) for r in rows]


# -- errors -----------------------------------------------------------------------------------


def _input_error(conn: psycopg.Connection, value: str, type_name: str) -> str | None:
    """Why PostgreSQL cannot read ``value`` as ``type_name``, None if it can (or if the
    server is older than PostgreSQL 16, which has no pg_input_error_info)."""
    if conn.info.server_version < 160000:
        return None
    try:
        found = conn.execute("SELECT message FROM pg_catalog.pg_input_error_info(%s, %s)",
                             (value, type_name)).fetchone()
    except psycopg.Error:
        return None
    return found[0] if found and found[0] else None


def _input_errors(conn: psycopg.Connection, rel: Rel, values: dict[str, Any]
                  ) -> dict[str, str]:
    """Which values PostgreSQL cannot read as their column's type, and why."""
    out = {}
    for name, v in values.items():
        col = rel.by_name.get(name)
        if col is not None and isinstance(v, str):
            message = _input_error(conn, v, col.type)
            if message:
                out[name] = message
    return out


def _constraint_columns(rel: Rel, name: str | None) -> tuple[str, ...]:
    if not name or not isinstance(rel.obj, Table):
        return ()
    for c in rel.obj.constraints:
        if c.name == name:
            return c.columns
    for i in rel.obj.indexes:
        if i.name == name:
            return tuple(c for c in i.columns if c)
    return ()


def _write_error(conn: psycopg.Connection, e: psycopg.Error, rel: Rel,
                 values: dict[str, str | None]) -> StudioError:
    diag = e.diag
    message = diag.message_primary or str(e).strip()
    code = diag.sqlstate
    fields: dict[str, str] = {}
    if diag.column_name and diag.column_name in rel.by_name:
        fields[diag.column_name] = message
    elif diag.constraint_name and (diag.table_name in (None, rel.name)):
        for c in _constraint_columns(rel, diag.constraint_name):
            if not values or c in values:
                fields[c] = message
    if not fields and code and code.startswith("22"):
        fields = _input_errors(conn, rel, values)
    status = 403 if code == "25006" else 422  # read_only_sql_transaction
    return StudioError(status, message, fields=fields, detail=diag.message_detail,
                       hint=diag.message_hint, code=code)


def query_error(conn: psycopg.Connection, e: psycopg.Error, rel: Rel, filters: Any
                 ) -> StudioError:
    diag = e.diag
    message = diag.message_primary or str(e).strip()
    which = None
    if diag.sqlstate and diag.sqlstate.startswith("22") and isinstance(filters, list):
        for i, f in enumerate(filters):
            name = f.get("column") if isinstance(f, dict) else None
            col = rel.by_name.get(name) if isinstance(name, str) else None
            if col is None:
                continue
            value = f.get("value")
            type_name = col.type[:-2] if col.info.category == "array" else col.type
            if any(isinstance(v, str) and v != "" and _input_error(conn, v, type_name)
                   for v in (value if isinstance(value, list) else [value])):
                which = i
                break
    return StudioError(400 if diag.sqlstate and diag.sqlstate[:2] in ("22", "42") else 500,
                       message, detail=diag.message_detail, hint=diag.message_hint,
                       code=diag.sqlstate, filter=which)



# -- what a delete would do -------------------------------------------------------------------

EXPORT_TIMEOUT = "600s"  # an export streams a whole table; longer than a page may take
CASCADE_DEPTH = 8  # levels of ON DELETE CASCADE followed; deeper rows make counts "at least"
IMPACT_TIMEOUT_MS = 5000


def delete_impact(conn: psycopg.Connection, rel: Rel, keys: Any, catalog: Catalog
                  ) -> dict[str, Any]:
    """What deleting these rows would also do, counted, not done: the rows ON DELETE
    CASCADE deletes (followed through every level, self-references included), the rows
    ON DELETE SET NULL / SET DEFAULT changes, and the rows a NO ACTION / RESTRICT key
    would refuse the delete for. Runs in a READ ONLY transaction."""
    if not isinstance(keys, list) or not 1 <= len(keys) <= MAX_KEYS:
        raise StudioError(400, f"keys: a list of 1 to {MAX_KEYS} row keys")
    conds, params = [], []
    for k in keys:
        cond, p = _key_condition(rel, k)
        conds.append(sql.SQL("({})").format(cond))
        params += p
    root: tuple[sql.Composable, list[Any]] = (sql.SQL(" OR ").join(conds), params)
    # Per table: conditions (with parameters) that select its deleted rows, one per path.
    deleted: dict[tuple[str, str], list[tuple[sql.Composable, list[Any]]]] = {
        (rel.schema, rel.name): [root]}
    changed: list[tuple[ForeignKey, sql.Composable, list[Any]]] = []
    blocking: list[tuple[ForeignKey, sql.Composable, list[Any]]] = []
    deep = False
    level: list[tuple[Rel, tuple[sql.Composable, list[Any]]]] = [(rel, root)]
    for depth in range(CASCADE_DEPTH + 1):
        following: list[tuple[Rel, tuple[sql.Composable, list[Any]]]] = []
        for parent, (cond, p) in level:
            for fk in parent.fks_in:
                try:
                    child = catalog.relation(conn, fk.schema, fk.table)
                except StudioError:
                    continue
                sub: sql.Composable = sql.SQL("{} IN (SELECT {} FROM {} WHERE {})").format(
                    _ident_row(list(fk.columns)),
                    sql.SQL(", ").join(sql.Identifier(c) for c in fk.ref_columns),
                    parent.ident, cond)
                if fk.on_delete == "cascade":
                    if depth == CASCADE_DEPTH:
                        deep = True
                        continue
                    deleted.setdefault((child.schema, child.name), []).append((sub, p))
                    following.append((child, (sub, p)))
                elif fk.on_delete in ("set null", "set default"):
                    changed.append((fk, sub, p))
                else:
                    blocking.append((fk, sub, p))
        level = following
        if not level:
            break

    def count(table: sql.Composable, where: list[tuple[sql.Composable, list[Any]]]
              ) -> int | None:
        cond = sql.SQL(" OR ").join(sql.SQL("({})").format(c) for c, _ in where)
        row = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE {}").format(table, cond),
                           [v for _, p in where for v in p]).fetchone()
        return int(row[0]) if row else 0

    deletes, sets_null, refused = [], [], []
    try:
        with conn.transaction():
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute("SELECT set_config('statement_timeout', %s, true)",
                         (f"{IMPACT_TIMEOUT_MS}ms",))
            for (schema, name), where in deleted.items():
                n = count(sql.Identifier(schema, name), where)
                if (schema, name) == (rel.schema, rel.name) and n is not None:
                    n -= len({json.dumps(k) for k in keys})  # the selected rows themselves
                if n:
                    deletes.append({"schema": schema, "table": name, "rows": n})
            for fk, sub, p in changed:
                n = count(sql.Identifier(fk.schema, fk.table), [(sub, p)])
                if n:
                    sets_null.append({"schema": fk.schema, "table": fk.table,
                                      "column": ", ".join(fk.columns), "rows": n,
                                      "action": fk.on_delete})
            for fk, sub, p in blocking:
                # rows that the delete removes anyway do not block it
                if (fk.schema, fk.table) in deleted:
                    continue
                n = count(sql.Identifier(fk.schema, fk.table), [(sub, p)])
                if n:
                    refused.append({"schema": fk.schema, "table": fk.table,
                                    "columns": list(fk.columns), "rows": n,
                                    "constraint": fk.name})
    except psycopg.errors.QueryCanceled:
        return {"deletes": None, "sets_null": None, "blocked_by": None, "at_least": False,
                "error": "counting took too long"}
    except psycopg.Error as e:
        raise query_error(conn, e, rel, None) from None
    return {"deletes": deletes, "sets_null": sets_null, "blocked_by": refused,
            "at_least": deep}


# -- export -----------------------------------------------------------------------------------


def export_query(conn: psycopg.Connection, rel: Rel, *, sort: Any = None,
                 direction: Any = None, filters: Any = None) -> str:
    """``COPY (the view's rows, whole) TO STDOUT`` as CSV with a header row: PostgreSQL
    quotes the fields, NULL is an empty field and an empty string ``""``. The filter
    values are bound client-side (COPY takes no parameters), as quoted literals."""
    order = order_for(rel, sort, direction)
    where, params = _where(rel, filters)
    terms = order.terms or [c.name for c in rel.columns if c.info.sortable][:8]
    d = sql.SQL("DESC NULLS FIRST" if order.descending else "ASC NULLS LAST")
    by = sql.SQL(" ORDER BY {}").format(sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(t), d) for t in terms)) if terms else sql.SQL("")
    select = sql.SQL("SELECT {} FROM {} WHERE {}{}").format(
        sql.SQL(", ").join(sql.Identifier(c.name) for c in rel.columns), rel.ident, where, by)
    inner = psycopg.ClientCursor(conn).mogrify(select, params)
    return f"COPY ({inner}) TO STDOUT WITH (FORMAT csv, HEADER true)"


# -- the SQL console --------------------------------------------------------------------------

CONSOLE_TIMEOUT = "15s"
MAX_SQL = 100_000  # characters of one console statement


def _as_text(cur: psycopg.Cursor[Any]) -> None:
    """Every column as PostgreSQL's own text, as the pages show it (psql's view); types
    psycopg does not know come as text already."""
    from psycopg.types.string import TextLoader

    for t in psycopg.postgres.types:
        for oid in (t.oid, t.array_oid):
            if oid:
                cur.adapters.register_loader(oid, TextLoader)


def console(conn: psycopg.Connection, text: Any, *, offset: int = 0,
            limit: int = PAGE_SIZE) -> dict[str, Any]:
    """Run one statement in a READ ONLY transaction that is always rolled back, and return
    the rows from ``offset`` (the statement runs again for each page).

    Why it cannot write: the statement goes alone through the extended protocol (which
    refuses a second statement, so ``COMMIT; INSERT ...`` is an error); the transaction is
    READ ONLY from its BEGIN and has taken its snapshot before the statement runs, so
    ``SET transaction_read_only = off`` is refused; a function called by a SELECT runs in
    the same read-only transaction; and a statement that ends the transaction itself
    (COMMIT, ROLLBACK) is reported as an error, the session being rolled back anyway."""
    if not isinstance(text, str) or not text.strip():
        raise StudioError(400, "sql: the statement to run")
    if len(text) > MAX_SQL:
        raise StudioError(413, f"a statement of at most {MAX_SQL:,} characters")
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise StudioError(400, f"limit is between 1 and {MAX_PAGE_SIZE}")
    if not 0 <= offset <= MAX_OFFSET:
        raise StudioError(400, f"offset is between 0 and {MAX_OFFSET}")
    from psycopg.pq import TransactionStatus

    started = time.perf_counter()
    conn.execute("BEGIN READ ONLY")
    try:
        # set_config() is a SELECT: the snapshot is taken, so the transaction can no
        # longer be switched to read-write
        conn.execute("SELECT set_config('statement_timeout', %s, true), "
                     "set_config('default_transaction_read_only', 'on', true), "
                     "set_config('idle_in_transaction_session_timeout', '60s', true)",
                     (CONSOLE_TIMEOUT,))
        cur = psycopg.Cursor(conn)
        _as_text(cur)
        rows: list[list[Any]] = []
        described: list[tuple[str, int]] = []
        status = None
        try:
            for i, r in enumerate(cur.stream(text.encode())):
                if i == 0 and cur.description is not None:
                    described = [(d.name, d.type_code) for d in cur.description]
                if i >= offset + limit:  # one more than the page: there is a next page
                    rows.append(list(r))
                    break
                if i >= offset:
                    rows.append(list(r))
            else:
                if cur.description is not None:
                    described = [(d.name, d.type_code) for d in cur.description]
                status = cur.statusmessage
        except psycopg.errors.QueryCanceled:
            raise StudioError(504, f"the statement ran longer than {CONSOLE_TIMEOUT} "
                                   "(statement_timeout)") from None
        except psycopg.Error as e:
            diag = e.diag
            if diag.sqlstate is None and isinstance(e, psycopg.ProgrammingError):
                # not an error from the server: a statement without rows (SET, COMMIT)
                status = "done, no rows"
                described = []
            else:
                # 422: the request was fine, the database refused the statement
                out = StudioError(422, diag.message_primary or str(e).strip(),
                                  detail=diag.message_detail, hint=diag.message_hint,
                                  code=diag.sqlstate)
                if diag.statement_position:
                    out.position = int(diag.statement_position)
                raise out from None
        if conn.info.transaction_status not in (TransactionStatus.INTRANS,
                                                TransactionStatus.INERROR):
            raise StudioError(400, "the console runs each statement in a read-only "
                                   "transaction of its own: COMMIT, ROLLBACK and BEGIN are "
                                   "not available here")
    finally:
        if conn.info.transaction_status != TransactionStatus.IDLE:
            conn.execute("ROLLBACK")
    more = len(rows) > limit
    names = _type_names(conn, {oid for _, oid in described})
    columns = [{"name": n, "type": names.get(oid, str(oid))} for n, oid in described]
    return {"columns": columns, "rows": rows[:limit], "offset": offset,
            "has_prev": offset > 0, "has_next": more, "status": status,
            "ms": round((time.perf_counter() - started) * 1000, 1)}


def _type_names(conn: psycopg.Connection, oids: set[int]) -> dict[int, str]:
    if not oids:
        return {}
    rows = conn.execute("SELECT t.oid::int, pg_catalog.format_type(t.oid, NULL) "
                        "FROM pg_catalog.pg_type t WHERE t.oid = ANY (%s)",
                        (sorted(oids),)).fetchall()
    return {int(r[0]): str(r[1]) for r in rows}
