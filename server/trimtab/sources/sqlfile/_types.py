"""Types: canonical names of the types a statement spells, and function arguments."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

from trimtab.memo import MiB, memoize
from trimtab.model import qname, quote_ident
from trimtab.sources.sqlfile._cursor import Cursor, split_qname
from trimtab.sqltext import lex, word_set

# --------------------------------------------------------------------------------------
# Types

INT_MAX = {"smallint": 32767, "integer": 2147483647, "bigint": 9223372036854775807}
INT_MIN = {"smallint": -32768, "integer": -2147483648, "bigint": -9223372036854775808}
_SERIAL = {
    "serial": "integer", "serial4": "integer", "bigserial": "bigint", "serial8": "bigint",
    "smallserial": "smallint", "serial2": "smallint",
}
_SIMPLE = {
    "int": "integer", "int4": "integer", "integer": "integer",
    "int2": "smallint", "smallint": "smallint",
    "int8": "bigint", "bigint": "bigint",
    "bool": "boolean", "boolean": "boolean",
    "float4": "real", "real": "real",
    "float8": "double precision",
    "decimal": "numeric", "dec": "numeric", "numeric": "numeric",
    "varchar": "character varying",
    "char": "character", "character": "character", "nchar": "character",
    "bpchar": "bpchar",
    "timestamptz": "timestamp with time zone",
    "timetz": "time with time zone",
    "varbit": "bit varying",
    "bit": "bit",
}
# Types of pg_catalog (and SQL spellings) that format_type never schema-qualifies.
_BUILTIN = word_set(
    """text json jsonb jsonpath uuid date bytea inet cidr macaddr macaddr8 money xml point
    line lseg box path polygon circle tsvector tsquery txid_snapshot pg_snapshot pg_lsn
    int4range int8range numrange tsrange tstzrange daterange int4multirange int8multirange
    nummultirange tsmultirange tstzmultirange datemultirange oid regclass regtype regproc
    regprocedure regoper regoperator regconfig regdictionary regnamespace regrole
    regcollation name xid xid8 cid tid record void trigger event_trigger anyelement anyarray
    anynonarray anyenum anyrange anymultirange anycompatible anycompatiblearray
    anycompatiblenonarray anycompatiblerange anycompatiblemultirange cstring internal
    language_handler fdw_handler table_am_handler index_am_handler tsm_handler pg_node_tree
    refcursor aclitem gtsvector int2vector oidvector unknown interval timestamp time
    """
) | frozenset(_SIMPLE) | frozenset(_SERIAL)


@dataclass(frozen=True)
class TypeRead:
    text: str  # canonical spelling
    ref: tuple[str, str] | None = None  # user-defined type used
    serial: str | None = None  # "integer" etc. for serial types


def _mods(r: Cursor, g: tuple[int, int] | None) -> list[str]:
    if g is None:
        return []
    return [r.src(a, b) for a, b in r.split(*g)]


def read_type(r: Cursor, end: int) -> TypeRead:
    """Read a type name at r.i (up to ``end``); r.i is left after it."""
    start = r.i
    w = r.word()
    canon: str | None = None
    ref = None
    serial = None
    tz = ""

    def group() -> tuple[int, int] | None:
        return r.group() if r.i < end and r.op() == "(" else None

    if w in ("double",) and r.word(1) == "precision":
        r.i += 2
        canon = "double precision"
    elif w in ("character", "char", "nchar", "national"):
        r.i += 1
        if w == "national":
            r.accept_any("character", "char")
        if r.accept("varying"):
            mods = _mods(r, group())
            canon = "character varying" + (f"({mods[0]})" if mods else "")
        else:
            mods = _mods(r, group())
            canon = f"character({mods[0] if mods else 1})"
    elif w == "bit":
        r.i += 1
        if r.accept("varying"):
            mods = _mods(r, group())
            canon = "bit varying" + (f"({mods[0]})" if mods else "")
        else:
            mods = _mods(r, group())
            canon = f"bit({mods[0] if mods else 1})"
    elif w in ("timestamp", "time", "timestamptz", "timetz"):
        r.i += 1
        mods = _mods(r, group())
        p = f"({mods[0]})" if mods else ""
        base = "timestamp" if w.startswith("timestamp") else "time"
        if w.endswith("tz") or r.accept("with", "time", "zone"):
            tz = " with time zone"
        else:
            r.accept("without", "time", "zone")
            tz = " without time zone"
        canon = base + p + tz
    elif w == "interval":
        r.i += 1
        fields = []
        while r.i < end and r.word() in (
            "year", "month", "day", "hour", "minute", "second", "to"
        ):
            fields.append(r.word() or "")
            r.i += 1
        mods = _mods(r, group())
        canon = "interval" + ("" if not fields else " " + " ".join(fields))
        if mods:
            canon += f"({mods[0]})"
    elif w == "float":
        r.i += 1
        mods = _mods(r, group())
        try:
            canon = "real" if mods and int(mods[0]) <= 24 else "double precision"
        except ValueError:
            canon = "double precision"
    elif w in ("numeric", "decimal", "dec"):
        r.i += 1
        mods = _mods(r, group())
        canon = "numeric"
        if len(mods) == 1:
            canon += f"({mods[0]},0)"
        elif mods:
            canon += "(" + ",".join(mods) + ")"
    else:
        parts = r.qualified()
        if parts is None:
            r.i = max(r.i, start)
            return TypeRead(r.src(start, end))
        quoted_last = r.t[r.i - 1][0] == "Q"
        mods = _mods(r, group())
        name = parts[-1]
        catalog = len(parts) == 1 or parts[-2] == "pg_catalog"
        if catalog and quoted_last and name == "char":
            canon = '"char"'
        elif catalog and name in _SERIAL:
            canon = serial = _SERIAL[name]
        elif not catalog or name not in _BUILTIN:
            schema, name = split_qname(parts)
            ref = (schema, name)
            canon = qname(schema, name)
            if mods:
                canon += "(" + ",".join(mods) + ")"
        else:
            base = _SIMPLE.get(name, name)
            if base in ("character varying", "bit varying") and mods:
                canon = f"{base}({mods[0]})"
            elif base in ("character", "bit"):
                canon = f"{base}({mods[0] if mods else 1})"
            elif base == "bpchar" and mods:
                canon = f"character({mods[0]})"
            elif base == "numeric" and mods:
                canon = "numeric" + (f"({mods[0]},0)" if len(mods) == 1 else
                                     "(" + ",".join(mods) + ")")
            elif base in ("timestamp with time zone", "time with time zone") and mods:
                head, _, rest = base.partition(" ")
                canon = f"{head}({mods[0]}) {rest}"
            elif base in ("timestamp", "time"):
                canon = base + (f"({mods[0]})" if mods else "") + " without time zone"
            else:
                canon = base + ("(" + ",".join(mods) + ")" if mods else "")
    # Arrays: [] / [n] (any number of times) or ARRAY / ARRAY[n].
    array = False
    while r.i < end:
        if r.op() == "[":
            r.group()
            array = True
        elif r.word() == "array":
            r.i += 1
            array = True
        else:
            break
    if canon is None:
        canon = r.src(start, r.i)
    if array:
        canon += "[]"
    return TypeRead(canon, ref, serial)


def canonical_type(text: str) -> str:
    """A type as written (``int4``, ``varchar(20)``, ``timestamptz[]``) spelled the way
    PostgreSQL's format_type spells it; user types are schema-qualified as written."""
    r = Cursor(text, lex(text).toks)
    return read_type(r, r.n).text

_ARG_MODES = ("in", "out", "inout", "variadic")


@memoize(MiB, lambda args, out: sys.getsizeof(args[0]) + sys.getsizeof(out) + 256)
def identity_args(args: str, procedure: bool) -> str:
    """Arguments as pg_get_function_identity_arguments() shows them: modes (IN only for a
    procedure), names, canonical types without modifiers (pg_proc keeps none), no
    defaults."""
    out = []
    for mode, name, type_text in _arguments(args):
        words = [] if mode == "in" and not procedure else [mode.upper()]
        if name is not None:
            words.append(quote_ident(name))
        words.append(type_text)
        out.append(" ".join(words))
    return ", ".join(out)


@memoize(MiB, lambda args, out: 3 * sys.getsizeof(args[0]) + 256 * len(out) + 256)
def _arguments(args: str) -> tuple[tuple[str, str | None, str], ...]:
    """(mode, name or None, canonical type without modifiers) of each argument."""
    r = Cursor(args, lex(args).toks)
    out = []
    for a, b in r.split(0, r.n):
        end = b
        j = a
        while j < b:
            tk = r.t[j]
            if (tk[0] == "W" and tk[1] == "default") or (tk[0] == "O" and tk[1] == "="):
                end = j
                break
            j = r.matching(j) + 1 if tk[0] == "O" and tk[1] in ("(", "[") else j + 1
        r.i = a
        mode = r.accept_any(*_ARG_MODES) or "in"
        name = None
        start = r.i
        ty = read_type(r, end)
        if r.i < end:  # what came first was the argument's name
            r.i = start
            name = r.ident()
            mode = r.accept_any(*_ARG_MODES) or mode
            ty = read_type(r, end)
        out.append((mode, name, _without_typmod(ty.serial or ty.text)))
    return tuple(out)


def designates(ref: str, args: str) -> bool:
    """Whether the argument list of COMMENT ON FUNCTION f(ref) designates the function
    declared with ``args``: the same input types (OUT ones are left out), or for a
    procedure the same types altogether."""
    def types(a: str, outs: bool) -> list[str]:
        return [t for mode, _, t in _arguments(a) if outs or mode != "out"]

    return types(ref, False) == types(args, False) or types(ref, True) == types(args, True)


TYPMOD = re.compile(r"\([^()]*\)")


def _without_typmod(type_text: str) -> str:
    if type_text.startswith("interval"):
        return "interval" + ("[]" if type_text.endswith("[]") else "")
    if "(" in type_text:
        type_text = TYPMOD.sub("", type_text)
    if type_text.startswith("bpchar"):  # "bpchar" only with a typmod of -1 (columns)
        return "character" + type_text[6:]
    return type_text
