"""Column types as the studio sees them, and values on their way in and out.

Values travel as PostgreSQL's own text: the page shows what ``psql`` shows, every type
round-trips exactly (numeric, bigint, timestamps with microseconds, intervals, ranges...),
and on the way in PostgreSQL parses each value as a bound parameter of unknown type, so
its own input function (and its own error message) applies. Arrays travel as JSON arrays
of element texts, JSON values as their text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from trimtab.model import Domain, EnumType, Model

# format_type() names (typmods removed) -> category the page builds its input from.
_CATEGORIES = {
    "boolean": "bool",
    "smallint": "int",
    "integer": "int",
    "bigint": "int",
    "numeric": "number",
    "real": "number",
    "double precision": "number",
    "money": "number",
    "text": "text",
    "character varying": "text",
    "character": "text",
    '"char"': "text",
    "name": "text",
    "citext": "text",
    "json": "json",
    "jsonb": "json",
    "date": "date",
    "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamptz",
    "time without time zone": "time",
    "time with time zone": "time",
    "interval": "interval",
    "uuid": "uuid",
    "bytea": "bytea",
}
# Types without a default b-tree operator class: no ORDER BY, no keyset on them.
_UNSORTABLE = {"json", "xml", "point", "line", "lseg", "box", "path", "polygon", "circle"}
# Operators a filter may use, by category (``null``/``notnull`` go with every category).
_COMPARE = ("eq", "ne", "gt", "gte", "lt", "lte", "between")
OPERATORS: dict[str, tuple[str, ...]] = {
    "bool": ("eq",),
    "int": _COMPARE,
    "number": _COMPARE,
    "date": _COMPARE,
    "timestamp": _COMPARE,
    "timestamptz": _COMPARE,
    "time": _COMPARE,
    "interval": _COMPARE,
    "text": ("contains", "eq", "ne", "starts", "gt", "gte", "lt", "lte", "between"),
    "enum": ("eq", "ne", "in"),
    "uuid": ("eq", "ne"),
    "json": ("contains", "json_contains"),
    "bytea": ("eq", "ne"),
    "array": ("has", "contains"),
    "other": ("contains", "eq", "ne"),
}
_TYPMOD = re.compile(r"\(\d+(?:,\s*\d+)?\)")


@dataclass(frozen=True)
class TypeInfo:
    category: str  # a key of OPERATORS
    element: str | None = None  # arrays: the element's category
    enum_values: tuple[str, ...] | None = None  # enums, and arrays of enums
    sortable: bool = True
    jsonb: bool = False  # json category: jsonb (it has @>)


def type_info(type_name: str, type_ref: tuple[str, str] | None, model: Model,
              enums: dict[str, tuple[str, ...]] | None = None) -> TypeInfo:
    """How the page shows and edits a column of ``type_name`` (format_type text).
    ``enums``: enum labels by type name for enums outside the model's schemas."""
    if type_name.endswith("[]"):
        inner = type_info(type_name[:-2], type_ref, model, enums)
        if inner.category == "array":
            inner = TypeInfo("other", sortable=inner.sortable)
        return TypeInfo("array", inner.category, inner.enum_values, inner.sortable)
    if type_ref is not None:
        obj = model.types.get(("type", *type_ref))
        if isinstance(obj, EnumType):
            return TypeInfo("enum", enum_values=obj.values)
        if isinstance(obj, Domain):
            return type_info(obj.base_type, None, model, enums)
        if enums and type_name in enums:
            return TypeInfo("enum", enum_values=enums[type_name])
    base = _TYPMOD.sub("", type_name).strip()
    unqualified = base.rsplit(".", 1)[-1] if "." in base and '"' not in base else base
    category = _CATEGORIES.get(base) or _CATEGORIES.get(unqualified, "other")
    return TypeInfo(category, sortable=unqualified not in _UNSORTABLE,
                    jsonb=unqualified == "jsonb")


# -- values in ---------------------------------------------------------------------------


class BadValue(Exception):
    """A value the page sent that cannot be turned into a parameter (bad JSON, wrong shape)."""


def array_literal(items: list[Any]) -> str:
    """A PostgreSQL array literal from a JSON array: every element quoted, so PostgreSQL's
    element input function parses it (``{"1","2"}`` is an integer[] as well as a text[])."""
    parts = []
    for item in items:
        if item is None:
            parts.append("NULL")
        elif isinstance(item, list):
            parts.append(array_literal(item))
        elif isinstance(item, bool):
            parts.append("true" if item else "false")
        elif isinstance(item, int | float | str):
            text = str(item)
            parts.append('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
        else:
            raise BadValue("an array element must be a string, a number, null or an array")
    return "{" + ",".join(parts) + "}"


def parameter(info: TypeInfo, value: Any) -> str | None:
    """The bound parameter for a value the page sent for a column of this type: None for
    NULL, else the text PostgreSQL parses. Raises BadValue for a value of the wrong
    shape (a JSON object for an integer, invalid JSON for a json column)."""
    if value is None:
        return None
    if info.category == "json":
        if isinstance(value, str):
            try:
                json.loads(value)
            except ValueError as e:
                raise BadValue(f"not valid JSON: {e}") from None
            return value
        return json.dumps(value)
    if info.category == "array":
        if isinstance(value, list):
            return array_literal(value)
        if isinstance(value, str):
            return value  # an array literal as PostgreSQL writes it: {a,b}
        raise BadValue("an array is a JSON array or a literal such as {a,b}")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value
    raise BadValue("expected a string, a number, a boolean or null")


def escape_like(text: str) -> str:
    """``text`` as a literal inside an ILIKE pattern with ESCAPE '\\'."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
