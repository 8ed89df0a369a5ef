"""drizzle-kit's own snapshot (PostgreSQL, version "7") of a Drizzle schema.

``drizzle-kit generate`` diffs the schema files against the newest ``meta/*_snapshot.json``
of the migrations folder. trimtab writes that file in drizzle-kit's format next to every
migration it generates for a Drizzle project, so that drizzle-kit can write the next one
(and trimtab's own data lives in ``meta/_trimtab/``, which drizzle-kit skips: it reads every
file of ``meta/`` whose name does not start with ``_``).

The snapshot is built from what the Drizzle reader lowers (``sources/drizzle/_lower.py``),
which follows drizzle-kit's serializer rule for rule: column types, defaults and constraint
names as drizzle-kit spells them. The JSON values drizzle-kit keeps typed (a boolean or
number default, identity options as strings) get their JSON type back here. Maps drizzle-kit
keys by ``schema.name`` are sorted; columns, indexes and keys keep their declaration order,
as drizzle-kit writes them. The text is deterministic: the same schema gives the same bytes.

What the DDL does not spell (drizzle-kit's notNull of a bigserial, a number default given
as sql, an index column's order beside an operator class, ``.concurrently()``, an enum's
typeSchema) comes from the structured fields the lowering keeps beside its DDL.

Not written yet (drizzle-kit then sees them as new): policies, roles and views (the reader
lowers them to DDL only; drizzle-kit also keeps a view's columns and a table's
``isRLSEnabled`` apart from its policies).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["DRIZZLE_SNAPSHOT_VERSION", "drizzle_snapshot", "dump_drizzle_snapshot",
           "last_drizzle_id"]

DRIZZLE_SNAPSHOT_VERSION = "7"

_IDENT = r'"((?:[^"]|"")*)"'
_JS_NUMBER = re.compile(r"^-?(?:\d+(?:\.\d+)?(?:e[+-]?\d+)?)$", re.I)
_IDENTITY = re.compile(
    r"^ GENERATED (ALWAYS|BY DEFAULT) AS IDENTITY \(sequence name "
    rf"{_IDENT}\.{_IDENT}(.*)\)$", re.S)
_SEQ_OPTIONS = {"INCREMENT BY": "increment", "MINVALUE": "minValue", "MAXVALUE": "maxValue",
                "START WITH": "startWith", "CACHE": "cache"}
_FK = re.compile(
    rf"^FOREIGN KEY \((.*?)\) REFERENCES {_IDENT}\.{_IDENT}\((.*?)\) "
    r"ON DELETE (.+?) ON UPDATE (.+)$", re.S)
_INDEX = re.compile(
    rf"^CREATE (UNIQUE )?INDEX {_IDENT} ON {_IDENT}\.{_IDENT} USING (\w+) \((.*)$", re.S)


def _unquote(text: str) -> str:
    return text.replace('""', '"')


def _names(text: str) -> list[str]:
    """The identifiers of ``"a","b"`` (or ``"a", "b"``)."""
    return [_unquote(m) for m in re.findall(_IDENT, text)]


def _split_top(text: str) -> list[str]:
    """``text`` split on commas outside parentheses and quotes."""
    out, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(text[start:i].strip())
            start = i + 1
    out.append(text[start:].strip())
    return [p for p in out if p]


def _close(text: str) -> int:
    """The index of the ')' that closes the '(' just before ``text``."""
    depth, quote = 1, ""
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
    return len(text)


def _default(text: str) -> Any:
    """A default as drizzle-kit stores it: JS booleans and numbers stay JSON values."""
    if text == "null":
        return None
    if text in ("true", "false"):
        return text == "true"
    if _JS_NUMBER.match(text):
        value = float(text)
        return int(value) if value.is_integer() and "." not in text and "e" not in text.lower(
        ) else value
    return text


def _sequence(options: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for words, key in _SEQ_OPTIONS.items():
        m = re.search(rf"(?:^| ){words} (-?\d+)", options)
        if m:
            out[key] = m.group(1)
    out["cycle"] = bool(re.search(r"(?:^| )CYCLE(?: |$)", options)) and " NO CYCLE" not in options
    return out


def _column(c: Any) -> dict[str, Any]:
    col: dict[str, Any] = {"name": c.name, "type": c.kit_type or c.type}
    if c.kit_type_schema is not None:  # a pgEnum of a list: drizzle-kit keeps its schema apart
        col["typeSchema"] = c.kit_type_schema
    col["primaryKey"] = c.primary_key is not None
    col["notNull"] = c.kit_not_null
    if c.default is not None:
        col["default"] = _default(c.default) if c.kit_default_json else c.default
    if c.generated is not None:
        col["generated"] = {"as": c.generated, "type": "stored"}
    if c.identity is not None:
        ident = _IDENTITY.match(c.identity)
        if ident:
            col["identity"] = {
                "type": "always" if ident.group(1) == "ALWAYS" else "byDefault",
                "name": _unquote(ident.group(3)), "schema": _unquote(ident.group(2)),
                **{k: v for k, v in _sequence(ident.group(4)).items() if k != "cycle"},
                "cycle": _sequence(ident.group(4))["cycle"],
            }
            order = ("type", "name", "schema", "increment", "startWith", "minValue",
                     "maxValue", "cache", "cycle")
            col["identity"] = {k: col["identity"][k] for k in order if k in col["identity"]}
    return col


def _index(ix: Any) -> tuple[str, dict[str, Any]] | None:
    m = _INDEX.match(ix.sql)
    if m is None:
        return None
    rest = m.group(6)
    end = _close(rest)
    columns = [
        {"expression": c.expression, "asc": True, "isExpression": True, "nulls": "last"}
        if c.is_expression else
        {"expression": c.expression, "isExpression": False, "asc": c.asc, "nulls": c.nulls,
         **({"opclass": c.opclass} if c.opclass else {})}
        for c in ix.columns]
    tail = rest[end + 1:]
    with_: dict[str, Any] = {}
    wm = re.match(r"^ WITH \((.*?)\)", tail, re.S)
    if wm:
        for item in _split_top(wm.group(1)):
            key, _, value = item.partition("=")
            with_[key.strip()] = _default(value.strip())
        tail = tail[wm.end():]
    name = _unquote(m.group(2))
    index: dict[str, Any] = {"name": name, "columns": columns, "isUnique": bool(m.group(1))}
    where = re.match(r"^ WHERE (.*)$", tail, re.S)
    if where:
        index["where"] = where.group(1)
    index.update({"concurrently": ix.concurrently, "method": m.group(5), "with": with_})
    return name, index


def _table(t: Any) -> dict[str, Any]:
    pks: dict[str, Any] = {}
    uniques: dict[str, Any] = {}
    checks: dict[str, Any] = {}
    fks: dict[str, Any] = {}
    for con in t.constraints:
        if con.kind == "p":
            pks[con.name] = {"name": con.name, "columns": _names(con.body)}
        elif con.kind == "u":
            uniques[con.name] = {"name": con.name,
                                 "nullsNotDistinct": "NULLS NOT DISTINCT" in con.body,
                                 "columns": _names(con.body[con.body.index("("):])}
        elif con.kind == "c":
            body = con.body
            value = body[len("CHECK ("):-1] if body.startswith("CHECK (") else body
            checks[con.name] = {"name": con.name, "value": value}
    for con in t.foreign_keys:
        m = _FK.match(con.body)
        if m is None:
            continue
        fk: dict[str, Any] = {"name": con.name, "tableFrom": t.name,
                              "tableTo": _unquote(m.group(3))}
        if _unquote(m.group(2)) != "public":
            fk["schemaTo"] = _unquote(m.group(2))
        fk.update({"columnsFrom": _names(m.group(1)), "columnsTo": _names(m.group(4)),
                   "onDelete": m.group(5), "onUpdate": m.group(6)})
        fks[con.name] = fk
    indexes = dict(filter(None, (_index(i) for i in t.indexes)))
    return {
        "name": t.name,
        "schema": "" if t.schema == "public" else t.schema,
        "columns": {c.name: _column(c) for c in t.columns},
        "indexes": indexes,
        "foreignKeys": fks,
        "compositePrimaryKeys": pks,
        "uniqueConstraints": uniques,
        "policies": {},
        "checkConstraints": checks,
        "isRLSEnabled": bool(t.rls),
    }


def _lowered(files: Sequence[Path | str] | Mapping[str, str], casing: str | None) -> Any:
    # The same steps as read_drizzle, keeping the lowered pieces that it renders to DDL.
    from trimtab.sources.drizzle import Evaluator, Program, lower, parse_module, read_disk

    if isinstance(files, Mapping):
        texts, reader = dict(files), None
    else:
        texts = {str(f): Path(f).read_text(encoding="utf-8") for f in files}
        reader = read_disk
    modules = {name: parse_module(name, text, given=True) for name, text in texts.items()}
    return lower(Evaluator(Program(dict(modules), reader)), list(modules.values()), casing)


def drizzle_snapshot(files: Sequence[Path | str] | Mapping[str, str], *, casing: str | None,
                     id: str, prev_id: str) -> dict[str, Any]:
    """drizzle-kit's snapshot of the Drizzle schema ``files`` (paths, or name -> text)."""
    low = _lowered(files, casing)
    tables = {f"{t.schema}.{t.name}": _table(t) for t in low.tables}
    enums = {f"{e.schema}.{e.name}": {"name": e.name, "schema": e.schema,
                                        "values": list(e.values)} for e in low.enums}
    sequences = {f"{s.schema}.{s.name}": {"name": s.name, "schema": s.schema,
                                            **_ordered_sequence(_sequence(s.options))}
                 for s in low.sequences}
    return {
        "id": id,
        "prevId": prev_id,
        "version": DRIZZLE_SNAPSHOT_VERSION,
        "dialect": "postgresql",
        "tables": dict(sorted(tables.items())),
        "enums": dict(sorted(enums.items())),
        "schemas": {s.name: s.name for s in sorted(low.schemas, key=lambda s: s.name)},
        "sequences": dict(sorted(sequences.items())),
        "roles": {},
        "policies": {},
        "views": {},
        "_meta": {"columns": {}, "schemas": {}, "tables": {}},
    }


def _ordered_sequence(seq: dict[str, Any]) -> dict[str, Any]:
    order = ("increment", "startWith", "minValue", "maxValue", "cache", "cycle")
    return {k: seq[k] for k in order if k in seq}


def dump_drizzle_snapshot(snapshot: Mapping[str, Any]) -> str:
    """The file's text as drizzle-kit writes it: JSON with a 2-space indent, no final
    newline."""
    return json.dumps(snapshot, indent=2, ensure_ascii=False)


def last_drizzle_id(meta: Path) -> str | None:
    """The id of the snapshot drizzle-kit would continue from in the folder ``meta``: the
    last by name of its own snapshots (drizzle-kit skips names starting with ``_``)."""
    if not meta.is_dir():
        return None
    for p in sorted((p for p in meta.iterdir() if not p.name.startswith("_")
                     and p.name.endswith("_snapshot.json")), reverse=True):
        try:
            data = json.loads(p.read_bytes())
        except (ValueError, OSError):
            continue
        if isinstance(data, dict) and data.get("version") == DRIZZLE_SNAPSHOT_VERSION and \
                isinstance(data.get("id"), str) and "model" not in data:
            return str(data["id"])
    return None
