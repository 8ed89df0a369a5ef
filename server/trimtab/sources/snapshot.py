"""Snapshot JSON <-> model: trimtab's own snapshot format, ``migrations/meta/NNNN_snapshot.json``.

A snapshot is the canonical model a migration folder produces after that migration::

    {
      "id": "<uuid>",                  # this snapshot
      "prevId": "<uuid>",              # the previous snapshot's id (zeros for the first)
      "version": 1,                    # SNAPSHOT_VERSION: the layout of "model"
      "dialect": "postgresql",
      "trimtab": "0.1.0",              # the trimtab that wrote it (informative)
      "model": {...}
    }

The model is written generically from the dataclasses of ``trimtab.model`` (their fields and
type hints), so a field added there is stored without code here:

* a dataclass is an object of its fields, in declaration order; a field equal to its default
  is left out (small files, readable diffs) and filled back in on load;
* a tuple is a list (order kept: it means something, e.g. column order or enum values);
* ``Model``'s mappings (keyed by each object's ``.key``) are lists of objects sorted by key;
  the keys are rebuilt from ``.key`` on load;
* a value whose declared type is a union of several dataclasses (``Model.types``: enum,
  domain or composite type) carries a ``"kind"`` tag: the class name in snake case
  (``"enum_type"``, ``"domain"``, ``"composite_type"``), written first.

Loading is strict: an unknown field, a missing required field or a value of the wrong type
is an error naming the file and the path inside it (``model.tables[2].columns[0].type``),
so a hand-edited or truncated snapshot never turns silently into a different model.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from trimtab import __version__
from trimtab.errors import SchemaError
from trimtab.model import Model

__all__ = [
    "SNAPSHOT_VERSION",
    "ZERO_ID",
    "SnapshotFormatError",
    "dump_snapshot",
    "write_snapshot",
    "is_drizzle_snapshot",
    "load_snapshot",
    "model_from_dict",
    "model_to_dict",
]

SNAPSHOT_VERSION = 1
DIALECT = "postgresql"
ZERO_ID = "00000000-0000-0000-0000-000000000000"  # prevId of the first snapshot
KIND = "kind"  # the tag of union-typed values


class SnapshotFormatError(ValueError):
    """The model part of a snapshot does not fit the model's classes; ``path`` says where."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


# --------------------------------------------------------------------------------------
# Type-directed encoding


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@functools.cache
def _fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    return dataclasses.fields(cls)


def _kind_name(cls: type) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


@functools.cache
def _union_members(tp: Any) -> tuple[bool, tuple[Any, ...]]:
    """(None allowed, the other members) of a union type."""
    args = typing.get_args(tp)
    return type(None) in args, tuple(a for a in args if a is not type(None))


@functools.cache
def _kinds(members: tuple[type, ...]) -> dict[str, type]:
    """The tags of a union of dataclasses; refuses a union whose members it cannot tell apart."""
    out: dict[str, type] = {}
    for m in members:
        if not dataclasses.is_dataclass(m):
            raise TypeError(f"snapshot: cannot store a union of {members!r}")
        if any(f.name == KIND for f in _fields(m)):
            raise TypeError(f"snapshot: {m.__name__} has a field named {KIND!r}")
        out[_kind_name(m)] = m
    return out


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


Encoder = Callable[[Any, str], Any]


def _encode(value: Any, tp: Any, path: str) -> Any:
    return _encoder(tp)(value, path)


def _same(value: Any, path: str) -> Any:
    return value


@functools.cache
def _encoder(tp: Any) -> Encoder:
    """The encoding function of a type, built once: a snapshot of a 1,000-table model
    encodes some 300,000 fields, and asking the typing module about each cost seconds."""
    if tp is Any:
        return _same
    if _is_union(tp):
        _, members = _union_members(tp)
        if len(members) == 1:
            one = _lazy(members[0])
            return lambda v, path: None if v is None else one()(v, path)
        kinds = _kinds(members)

        def union(v: Any, path: str) -> Any:
            if v is None:
                return None
            kind = _kind_name(type(v))
            if kinds.get(kind) is not type(v):
                raise SnapshotFormatError(path, f"{type(v).__name__} is not one of {members}")
            return {KIND: kind, **_encoder(type(v))(v, path)}  # type: ignore[arg-type]  # classes hash
        return union
    origin = typing.get_origin(tp)
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            item = _lazy(args[0])
            return lambda v, path: [item()(x, f"{path}[{i}]") for i, x in enumerate(v)]
        items = [_lazy(a) for a in args]
        return lambda v, path: [e()(x, f"{path}[{i}]") for i, (x, e) in
                                enumerate(zip(v, items, strict=True))]
    if origin is Mapping or origin is dict:
        value_of = _lazy(typing.get_args(tp)[1])

        def mapping(value: Any, path: str) -> Any:
            out = []
            for i, (key, obj) in enumerate(sorted(value.items(), key=lambda kv: kv[0])):
                if key != obj.key:
                    raise SnapshotFormatError(
                        f"{path}[{i}]", f"keyed {key!r} but the object's key is {obj.key!r}")
                out.append(value_of()(obj, f"{path}[{i}]"))
            return out
        return mapping
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        # A field that is stored as it is (a string, a number) costs no call.
        fields = [(f.name, _default(f), None if _plain(hints[f.name]) else _lazy(hints[f.name]))
                  for f in _fields(tp)]
        missing = dataclasses.MISSING

        def record(value: Any, path: str) -> Any:
            out: dict[str, Any] = {}
            for name, default, enc in fields:
                v = getattr(value, name)
                if default is not missing and v == default:
                    continue
                out[name] = v if enc is None else enc()(v, f"{path}.{name}")
            return out
        return record
    return _same


def _plain(tp: Any) -> bool:
    """Whether ``_encoder(tp)`` is ``_same``, or ``_same`` but for None (which it keeps)."""
    if _is_union(tp):
        _, members = _union_members(tp)
        return len(members) == 1 and _plain(members[0])
    origin = typing.get_origin(tp)
    return not (origin is tuple or origin is Mapping or origin is dict
                or dataclasses.is_dataclass(tp))


def _lazy(tp: Any) -> Callable[[], Encoder]:
    """The encoder of ``tp`` on first use (types may refer to each other)."""
    found: list[Encoder] = []

    def get() -> Encoder:
        if not found:
            found.append(_encoder(tp))
        return found[0]
    return get


# --------------------------------------------------------------------------------------
# Type-directed decoding

_SCALARS = {str: "a string", int: "an integer", bool: "true or false"}


def _what(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    return json.dumps(value)[:40]


def _decode(data: Any, tp: Any, path: str) -> Any:
    if tp is Any:
        return data
    if _is_union(tp):
        optional, members = _union_members(tp)
        if data is None:
            if optional:
                return None
            raise SnapshotFormatError(path, "must not be null")
        if len(members) == 1:
            return _decode(data, members[0], path)
        kinds = _kinds(members)
        if not isinstance(data, dict):
            raise SnapshotFormatError(path, f"expected an object, got {_what(data)}")
        kind = data.get(KIND)
        if kind not in kinds:
            raise SnapshotFormatError(
                path, f'"{KIND}" must be one of {sorted(kinds)}, got {_what(kind)}'
            )
        rest = {k: v for k, v in data.items() if k != KIND}
        return _decode(rest, kinds[kind], path)
    origin = typing.get_origin(tp)
    if origin is tuple:
        if not isinstance(data, list):
            raise SnapshotFormatError(path, f"expected a list, got {_what(data)}")
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(v, args[0], f"{path}[{i}]") for i, v in enumerate(data))
        if len(data) != len(args):
            raise SnapshotFormatError(
                path, f"expected a list of {len(args)} items, got {len(data)}"
            )
        pairs = enumerate(zip(data, args, strict=True))
        return tuple(_decode(v, a, f"{path}[{i}]") for i, (v, a) in pairs)
    if origin is Mapping or origin is dict:
        if not isinstance(data, list):
            raise SnapshotFormatError(path, f"expected a list of objects, got {_what(data)}")
        _, vtype = typing.get_args(tp)
        out: dict[Any, Any] = {}
        for i, item in enumerate(data):
            obj = _decode(item, vtype, f"{path}[{i}]")
            if obj.key in out:
                raise SnapshotFormatError(f"{path}[{i}]", f"{obj.key!r} is listed twice")
            out[obj.key] = obj
        return out
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(data, dict):
            raise SnapshotFormatError(path, f"expected an object, got {_what(data)}")
        hints = _hints(tp)
        known = {f.name for f in _fields(tp)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SnapshotFormatError(path, f"unknown field {unknown[0]!r} for {_kind_name(tp)}")
        kwargs: dict[str, Any] = {}
        for f in _fields(tp):
            if f.name in data:
                kwargs[f.name] = _decode(data[f.name], hints[f.name], f"{path}.{f.name}")
            elif _default(f) is dataclasses.MISSING:
                raise SnapshotFormatError(path, f"missing field {f.name!r}")
        return tp(**kwargs)
    if tp in _SCALARS:
        # bool is an int in Python, not in a snapshot: true is no integer, 1 is no boolean.
        if not isinstance(data, tp) or (tp is not bool and isinstance(data, bool)):
            raise SnapshotFormatError(path, f"expected {_SCALARS[tp]}, got {_what(data)}")
        return data
    raise TypeError(f"snapshot: no rule for the type {tp!r} at {path}")


# --------------------------------------------------------------------------------------
# Public API


def model_to_dict(model: Model) -> dict[str, Any]:
    """The model as JSON-ready data: deterministic (objects sorted by key, fields in
    declaration order), with every field that equals its default left out."""
    out = _encode(model, Model, "model")
    assert isinstance(out, dict)
    return out


def model_from_dict(data: Mapping[str, Any]) -> Model:
    """The inverse of ``model_to_dict``. Raises ``SnapshotFormatError`` (a ``ValueError``)
    naming the path of the first value that does not fit."""
    return _decode(dict(data), Model, "model")


def dump_snapshot(model: Model, *, id: str, prev_id: str) -> str:
    """The snapshot file's text: JSON, 2-space indent (short lists of scalars on one line),
    non-ASCII characters kept as they are (the file is UTF-8), trailing newline."""
    return _to_json(_envelope(model, id, prev_id), "") + "\n"


def _envelope(model: Model, id: str, prev_id: str) -> dict[str, Any]:
    """The snapshot's document: its ids and versions first (``file_head`` reads them from
    the file's first bytes), then the model."""
    return {
        "id": id,
        "prevId": prev_id,
        "version": SNAPSHOT_VERSION,
        "dialect": DIALECT,
        "trimtab": __version__,
        "model": _model_doc(model),
    }


# How much text write_snapshot gathers before it writes: a few hundred objects at a time.
_CHUNK = 1 << 20


def write_snapshot(model: Model, out: typing.IO[bytes], *, id: str, prev_id: str,
                   chunk: int = _CHUNK) -> None:
    """``dump_snapshot``'s text, UTF-8, written to ``out`` as it is made: neither the whole
    text nor its encoding is held (28 MB each at 10,000 tables, next to the models)."""
    pieces = _Spill(out, chunk)
    _write(_envelope(model, id, prev_id), "", pieces)
    pieces.append("\n")
    pieces.flush()


class _Spill(list[str]):
    """The pieces of a text being written, handed to ``out`` (encoded) every ``chunk``
    characters or so; ``_items`` says when an object is done (``wrote``)."""

    def __init__(self, out: typing.IO[bytes], chunk: int) -> None:
        super().__init__()
        self.out, self.chunk, self.size = out, chunk, 0

    def wrote(self, size: int) -> None:
        self.size += size
        if self.size >= self.chunk:
            self.flush()

    def flush(self) -> None:
        self.out.write("".join(self).encode())
        self.clear()
        self.size = 0


class _Objects:
    """The objects of one of a model's mappings, in ``model_to_dict``'s order, each encoded
    when it is written and dropped after: the encoded form of a whole 5,000-table model (a
    dict per column) and its text in small pieces took six times the file's size."""

    def __init__(self, mapping: Mapping[tuple[str, ...], Any], tp: Any, path: str) -> None:
        self.items = sorted(mapping.items(), key=lambda kv: kv[0])
        self.encode = _encoder(typing.get_args(tp)[1])
        self.path = path

    def __iter__(self) -> typing.Iterator[Any]:
        for i, (key, obj) in enumerate(self.items):
            if key != obj.key:
                raise SnapshotFormatError(
                    f"{self.path}[{i}]", f"keyed {key!r} but the object's key is {obj.key!r}")
            yield self.encode(obj, f"{self.path}[{i}]")


def _model_doc(model: Model) -> dict[str, Any]:
    """``model_to_dict(model)``, with each non-empty mapping as ``_Objects``."""
    hints = _hints(Model)
    empty: dict[str, Any] = {
        f.name: {} for f in _fields(Model) if isinstance(getattr(model, f.name), Mapping)}
    small = model_to_dict(dataclasses.replace(model, **empty))
    out: dict[str, Any] = {}
    for f in _fields(Model):
        value = getattr(model, f.name)
        if isinstance(value, Mapping):
            if value:
                out[f.name] = _Objects(value, hints[f.name], f"model.{f.name}")
        elif f.name in small:
            out[f.name] = small[f.name]
    return out


_INLINE_WIDTH = 100


def _to_json(value: Any, indent: str) -> str:
    """``json.dumps(value, indent=2)``, except that a list holding no object is written on
    one line when it fits in ``_INLINE_WIDTH`` characters (``"columns": ["a", "b"]``): files
    several times shorter, and a changed list is still a one-line diff."""
    out: list[str] = []
    _write(value, indent, out)
    return "".join(out)


def _write(value: Any, indent: str, out: list[str]) -> None:
    # Appends to one list: a 1,000-table snapshot has some 300,000 values.
    if isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        inner = indent + "  "
        out.append("{\n")
        first = True
        for k, v in value.items():
            if not first:
                out.append(",\n")
            first = False
            out.append(inner)
            out.append(_STR(k))
            out.append(": ")
            if isinstance(v, (dict, list, _Objects)):
                _write(v, inner, out)
            else:
                out.append(_scalar(v))
        out.append("\n")
        out.append(indent)
        out.append("}")
        return
    if isinstance(value, _Objects):
        if not value.items:
            out.append("[]")
            return
        _items(value, indent, out, joined=True)
        return
    if isinstance(value, list):
        if not value:
            out.append("[]")
            return
        inner = indent + "  "
        if not _has_dict(value):
            flat = _flat(value)
            if len(flat) + len(inner) <= _INLINE_WIDTH:
                out.append(flat)
                return
        _items(value, indent, out)
        return
    out.append(_scalar(value))


def _items(values: Any, indent: str, out: list[str], joined: bool = False) -> None:
    """A JSON array of ``values``, one per line; ``joined``: each item's pieces kept as
    one string (a model's objects, written one at a time)."""
    inner = indent + "  "
    out.append("[\n")
    first = True
    for v in values:
        if not first:
            out.append(",\n")
        first = False
        out.append(inner)
        if joined:
            one: list[str] = []
            _write(v, inner, one)
            text = "".join(one)
            out.append(text)
            if isinstance(out, _Spill):
                out.wrote(len(text))
        else:
            _write(v, inner, out)
    out.append("\n")
    out.append(indent)
    out.append("]")


def _has_dict(values: list[Any]) -> bool:
    return any(isinstance(v, dict) or isinstance(v, list) and _has_dict(v) for v in values)


def _flat(values: list[Any]) -> str:
    """A list holding no object on one line, as ``json.dumps`` writes it."""
    return "[" + ", ".join(_flat(v) if isinstance(v, list) else _scalar(v)
                           for v in values) + "]"


_SCALAR = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps builds one per call
# The C string encoder (what _SCALAR calls for a str) and plain answers for the other
# common types: JSONEncoder.encode builds a C encoder for every non-string it is given.
_STR: Callable[[str], str] = json.encoder.encode_basestring
_FAST: dict[type, Callable[[Any], str]] = {
    str: _STR,
    bool: lambda v: "true" if v else "false",
    int: int.__repr__,
    type(None): lambda v: "null",
}


def _scalar(value: Any) -> str:
    fast = _FAST.get(type(value))
    return fast(value) if fast is not None else _SCALAR(value)


def _walk(values: list[Any]) -> typing.Iterator[Any]:
    for v in values:
        yield v
        if isinstance(v, list):
            yield from _walk(v)


def is_drizzle_snapshot(data: Any) -> bool:
    """A parsed snapshot written by drizzle-kit (no "model"; its own "tables", "version" "7")."""
    return (
        isinstance(data, dict)
        and "model" not in data
        and isinstance(data.get("version"), str)
        and ("tables" in data or "enums" in data or "_meta" in data)
    )


def _checked(text: str, file: str) -> tuple[dict[str, Any], str, str]:
    """The parsed snapshot and its (id, prev_id), its envelope checked."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SchemaError(
            f"{file} is not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})",
            file=file,
            line=e.lineno,
            column=e.colno,
            hint="restore the file from version control, or regenerate the migration",
        ) from None
    if not isinstance(data, dict):
        raise SchemaError(
            f"{file} is not a trimtab snapshot: expected a JSON object, got {_what(data)}",
            file=file,
        )
    if is_drizzle_snapshot(data):
        raise SchemaError(
            f"{file} is a drizzle-kit snapshot (version {data.get('version')!r}), "
            "not a trimtab snapshot",
            file=file,
            hint="trimtab reads drizzle-kit migrations (the .sql files and the journal) but not "
            "drizzle-kit's snapshots; trimtab writes its own from its next migration on",
        )
    if "model" not in data:
        raise SchemaError(f'{file} is not a trimtab snapshot: it has no "model"', file=file)
    version = data.get("version")
    if version != SNAPSHOT_VERSION or isinstance(version, bool):
        newer = isinstance(version, int) and not isinstance(version, bool) and version > 1
        raise SchemaError(
            f"{file} has snapshot version {_what(version)}; this trimtab reads version "
            f"{SNAPSHOT_VERSION}",
            file=file,
            hint="upgrade trimtab (the snapshot was written by a newer one)" if newer else None,
        )
    if data.get("dialect") != DIALECT:
        raise SchemaError(
            f'{file}: "dialect" is {_what(data.get("dialect"))}, expected "{DIALECT}"', file=file
        )
    ids = []
    for name in ("id", "prevId"):
        value = data.get(name)
        if not isinstance(value, str) or not value:
            raise SchemaError(
                f'{file}: "{name}" must be a non-empty string, got {_what(value)}', file=file
            )
        ids.append(value)
    return data, ids[0], ids[1]


def snapshot_id(text: str, file: str) -> str:
    """A snapshot's id, without reading its model (the next snapshot's prevId)."""
    head = trimtab_head(text)
    return head[0] if head else _checked(text, file)[1]


# The envelope as ``dump_snapshot`` writes it. Parsing a 1,000-table snapshot takes 60 ms,
# and ``generate`` needs only the id of the last one.
_HEAD = re.compile(
    r'\{\s*"id": ("(?:[^"\\]|\\.)+"),\s*"prevId": ("(?:[^"\\]|\\.)+"),'
    r'\s*"version": (\d+),\s*"dialect": "postgresql",\s*"trimtab": "[^"\\]*",'
    r'\s*"model": \{')


def trimtab_head(text: str) -> tuple[str, str] | None:
    """(id, prev_id) of a snapshot whose envelope reads as trimtab writes it, of this
    version; None for anything else (parse it whole to say what is wrong)."""
    m = _HEAD.match(text)
    if m is None or int(m[3]) != SNAPSHOT_VERSION:
        return None
    return json.loads(m[1]), json.loads(m[2])


# Enough of a file for the envelope: ids are UUIDs, and the version's name is short.
_HEAD_BYTES = 4096


def file_head(path: Path) -> tuple[str, str] | None:
    """``trimtab_head`` of a snapshot file, from its first bytes only (the file is 28 MB
    at 10,000 tables); None where those do not read as trimtab writes the envelope."""
    try:
        with open(path, "rb") as f:
            data = f.read(_HEAD_BYTES)
    except OSError:
        return None  # reading it whole says why
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.end != len(data):  # bad bytes, not a character cut at the end
            return None
        text = data[:e.start].decode("utf-8")
    return trimtab_head(text)


def file_id(path: Path) -> str:
    """The id of a snapshot file (``snapshot_id``): from its head when that reads as
    trimtab writes it, else from the whole file (which says what is wrong)."""
    head = file_head(path)
    if head is not None:
        return head[0]
    from trimtab.sources.sqlfile import read_source_file

    return snapshot_id(read_source_file(path, strip_bom=False), str(path))


def load_snapshot(text: str, file: str) -> tuple[Model, str, str]:
    """(model, id, prev_id) of a snapshot file's text. Anything else (bad JSON, another
    tool's snapshot, an unknown version, a model that does not fit) raises ``SchemaError``
    naming ``file`` and what is wrong."""
    data, snap_id, prev_id = _checked(text, file)
    ids = [snap_id, prev_id]
    if not isinstance(data["model"], dict):
        raise SchemaError(f'{file}: "model" must be an object, got {_what(data["model"])}',
                          file=file)
    try:
        model = model_from_dict(data["model"])
    except SnapshotFormatError as e:
        raise SchemaError(
            f"{file}: {e.path}: {e.message}",
            file=file,
            hint="the file was edited by hand or written by another trimtab: restore it from "
            "version control, or regenerate the migration",
        ) from None
    return model, ids[0], ids[1]
