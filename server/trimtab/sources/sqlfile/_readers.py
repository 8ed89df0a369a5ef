"""Reading statements into model pieces, one reader per statement kind."""

from __future__ import annotations

from dataclasses import dataclass

from trimtab.model import (
    Column,
    CompositeType,
    Domain,
    DomainCheck,
    EnumType,
    Extension,
    Function,
    Identity,
    Index,
    Policy,
    Schema,
    Sequence,
    Table,
    Trigger,
    View,
    qname,
    quote_ident,
)
from trimtab.sources.sqlfile._cursor import Cursor, split_qname
from trimtab.sources.sqlfile._heads import CREATE_MODIFIERS
from trimtab.sources.sqlfile._names import choose_name
from trimtab.sources.sqlfile._types import INT_MAX, INT_MIN, TYPMOD, TypeRead, read_type
from trimtab.sqltext import string_value, word_set

# --------------------------------------------------------------------------------------
# Reading statements into model pieces

_COL_STOP = word_set(
    "constraint not null default check unique primary references generated collate storage "
    "compression deferrable initially enforced"
)
_TABLE_CONSTRAINT = word_set("constraint primary unique foreign check exclude")


@dataclass(frozen=True)
class ConRead:
    """A constraint before PostgreSQL names it."""

    name: str | None
    kind: str
    definition: str
    columns: tuple[str, ...] = ()
    ref_table: tuple[str, str] | None = None
    ref_columns: tuple[str, ...] = ()
    validated: bool = True
    check_vars: tuple[str, ...] = ()  # identifiers a CHECK expression mentions
    # unique / exclusion: the index's column names, INCLUDE ones too, which PostgreSQL
    # names the constraint after ("expr" or the function's name for an expression)
    hints: tuple[str, ...] = ()
    span: tuple[int, int] = (0, 0)  # offsets in the statement text


@dataclass(frozen=True)
class ColRead:
    column: Column
    cons: tuple[ConRead, ...]
    serial: str | None
    span: tuple[int, int]


def _words_in(r: Cursor, a: int, b: int) -> tuple[str, ...]:
    seen: list[str] = []
    for j in range(a, b):
        k, v = r.t[j][0], r.t[j][1]
        if k in ("W", "Q") and v not in seen:
            seen.append(v)
    return tuple(seen)


def _ident_list(r: Cursor, g: tuple[int, int] | None) -> tuple[str, ...]:
    """Column names of a parenthesised list; "" for anything that is not a plain name."""
    if g is None:
        return ()
    out = []
    for a, b in r.split(*g):
        k = r.t[a][0]
        if k in ("W", "Q") and (b == a + 1 or r.t[a + 1][0] == "W"):
            out.append(r.t[a][1])
        else:
            out.append("")
    return tuple(out)


def _skip_attrs(r: Cursor, end: int) -> None:
    """Constraint attributes: [NOT] DEFERRABLE, INITIALLY x, [NOT] ENFORCED, NO INHERIT,
    NOT VALID."""
    while r.i < end:
        if r.accept("deferrable") or r.accept("not", "deferrable") or r.accept("enforced") \
                or r.accept("not", "enforced") or r.accept("no", "inherit"):
            continue
        if r.accept("initially"):
            r.accept_any("deferred", "immediate")
            continue
        break


def _index_params(r: Cursor, end: int) -> tuple[str, ...]:
    """INCLUDE (..) WITH (..) USING INDEX TABLESPACE x; the INCLUDE columns."""
    included: tuple[str, ...] = ()
    while r.i < end:
        if r.accept("include"):
            included = _ident_list(r, r.group() if r.op() == "(" else None)
        elif r.accept("with"):
            r.group()
        elif r.accept("using", "index", "tablespace"):
            r.ident()
        else:
            break
    return included


def _collation(parts: list[str] | None) -> str | None:
    """A collation as the catalog shows it: schema-qualified (collations are nearly always
    pg_catalog's); None for the default one."""
    if not parts or parts[-1] == "default":
        return None
    schema = parts[-2] if len(parts) > 1 else "pg_catalog"
    return qname(schema, parts[-1])


def _read_references(r: Cursor, end: int) -> tuple[tuple[str, str] | None, tuple[str, ...]]:
    """At REFERENCES' table name: the table, its columns, and skip the FK options."""
    ref = r.qname()
    cols = _ident_list(r, r.group() if r.op() == "(" else None)
    while r.i < end:
        if r.accept("match"):
            r.accept_any("full", "partial", "simple")
        elif r.accept("on"):
            r.accept_any("delete", "update")
            if r.accept("set"):
                r.accept_any("null", "default")
                if r.op() == "(":
                    r.group()
            elif not (r.accept("no", "action") or r.accept_any("restrict", "cascade")):
                break
        else:
            break
    return ref, cols


def read_table_constraint(r: Cursor, a: int, b: int, name: str | None, span_start: int,
                           create: bool = False) -> ConRead | None:
    """A table constraint in [a, b) (after any CONSTRAINT name); ``create`` in CREATE TABLE,
    where NOT VALID is ignored (the table is empty)."""
    r.i = a
    span = (span_start, r.end(b))
    definition = r.src(a, b)
    if r.accept("primary", "key"):
        cols = _pk_cols(r)
        included = _index_params(r, b)
        return ConRead(name, "p", definition, cols, hints=cols + included, span=span)
    if r.accept("unique"):
        if r.accept("nulls"):
            r.accept("not")
            r.accept("distinct")
        cols = _pk_cols(r)
        included = _index_params(r, b)
        return ConRead(name, "u", definition, cols, hints=cols + included, span=span)
    if r.accept("foreign", "key"):
        cols = _ident_list(r, r.group() if r.op() == "(" else None)
        ref = None
        ref_cols: tuple[str, ...] = ()
        if r.accept("references"):
            ref, ref_cols = _read_references(r, b)
        validated = _validated(r, r.i, b, create)
        return ConRead(name, "f", definition, cols, ref, ref_cols, validated, span=span)
    if r.accept("check"):
        g = r.group() if r.op() == "(" else None
        vars_ = _words_in(r, *g) if g else ()
        validated = _validated(r, r.i, b, create)
        return ConRead(name, "c", definition, (), validated=validated, check_vars=vars_, span=span)
    if r.accept("exclude"):
        if r.accept("using"):
            r.ident()
        g = r.group() if r.op() == "(" else None
        plain: list[str] = []  # the plain columns (conkey has no name for an expression)
        hints: list[str] = []
        if g:
            for x, y in r.split(*g):
                col = _element_column(r, x, y)  # "elem WITH op"
                if col:
                    plain.append(col)
                hints.append(col or _expression_name(r, x, y))
            r.i = min(g[1] + 1, r.n)
        included = _index_params(r, b)
        return ConRead(name, "x", definition, tuple(plain), hints=(*hints, *included), span=span)
    return None


def _validated(r: Cursor, a: int, b: int, create: bool = False) -> bool:
    """pg_constraint.convalidated of a check or foreign key whose attributes are in [a, b):
    false when NOT ENFORCED (PostgreSQL 18), or NOT VALID outside CREATE TABLE."""
    return not (_has_not(r, a, b, "enforced") or not create and _has_not(r, a, b, "valid"))


def _has_not(r: Cursor, a: int, b: int, word: str) -> bool:
    for j in range(a, b - 1):
        if r.t[j][0] == "W" and r.t[j][1] == "not" and r.t[j + 1][0] == "W" \
                and r.t[j + 1][1] == word:
            return True
    return False


def _pk_cols(r: Cursor) -> tuple[str, ...]:
    g = r.group() if r.op() == "(" else None
    if g is None:
        return ()
    out = []
    for a, _b in r.split(*g):  # "col", or "col WITHOUT OVERLAPS"
        out.append(r.t[a][1] if r.t[a][0] in ("W", "Q") else "")
    return tuple(out)


def make_identity(always: bool, raw: dict, type_text: str) -> Identity:
    o = _seq_fill(raw, type_text)
    return Identity(
        always=always, start=o["start"], increment=o["increment"], min_value=o["min_value"],
        max_value=o["max_value"], cache=o["cache"], cycle=o["cycle"],
    )


def _group_options(r: Cursor) -> dict:
    """Sequence options in parentheses at r.i (identity columns), unfilled."""
    g = r.group() if r.op() == "(" else None
    if g is None:
        return {}
    save = r.i
    r.i = g[0]
    raw = _seq_raw(r, g[1])
    r.i = save
    return raw


def _number(r: Cursor) -> int | None:
    sign = 1
    j = r.i
    if r.op() in ("-", "+"):
        sign = -1 if r.op() == "-" else 1
        j += 1
    if j < r.n and r.t[j][0] == "N":
        try:
            value = int(r.t[j][1].replace("_", ""), 0) if not r.t[j][1].isdigit() \
                else int(r.t[j][1])
        except ValueError:
            return None
        r.i = j + 1
        return sign * value
    return None


def _seq_raw(r: Cursor, stop: int) -> dict:
    """Sequence options from r.i to ``stop``, as written (no defaults)."""
    o: dict = {}
    while r.i < stop:
        if r.accept("as"):
            o["data_type"] = read_type(r, stop).text
        elif r.accept("increment"):
            r.accept("by")
            o["increment"] = _number(r)
        elif r.accept("minvalue"):
            o["min_value"] = _number(r)
        elif r.accept("maxvalue"):
            o["max_value"] = _number(r)
        elif r.accept("no", "minvalue") or r.accept("no", "maxvalue"):
            pass
        elif r.accept("start"):
            r.accept("with")
            o["start"] = _number(r)
        elif r.accept("cache"):
            o["cache"] = _number(r)
        elif r.accept("cycle"):
            o["cycle"] = True
        elif r.accept("no", "cycle"):
            o["cycle"] = False
        elif r.accept("owned", "by"):
            parts = r.qualified()
            if parts and len(parts) >= 2:
                tbl = split_qname(parts[:-1])
                o["owned_by"] = (tbl[0], tbl[1], parts[-1])
            elif parts == ["none"]:
                o["owned_by"] = None
        elif r.accept("sequence", "name"):
            r.qualified()
        else:
            r.i += 1
    return o


def _seq_fill(raw: dict, data_type: str = "bigint") -> dict:
    """Sequence options with PostgreSQL's defaults filled in."""
    o: dict = {"data_type": data_type, "cycle": False, "owned_by": None}
    o.update({k: v for k, v in raw.items() if v is not None})
    dt = o["data_type"]
    inc = o.get("increment") or 1
    o["increment"] = inc
    tmax = INT_MAX.get(dt, INT_MAX["bigint"])
    tmin = INT_MIN.get(dt, INT_MIN["bigint"])
    if o.get("min_value") is None:
        o["min_value"] = 1 if inc > 0 else tmin
    if o.get("max_value") is None:
        o["max_value"] = tmax if inc > 0 else -1
    if o.get("start") is None:
        o["start"] = o["min_value"] if inc > 0 else o["max_value"]
    if not o.get("cache"):
        o["cache"] = 1
    return o


# Storage of the built-in types (pg_type.typstorage); a column shows one only when it
# differs. Types not listed here keep what the file says.
_PLAIN = word_set("""smallint integer bigint real boolean date uuid money oid interval "char"
    pg_lsn macaddr macaddr8 point line lseg box circle xid xid8 cid tid tsquery""") | {
    "double precision", "time without time zone", "time with time zone",
    "timestamp without time zone", "timestamp with time zone"}
_MAIN = word_set("numeric inet cidr")
_EXTENDED = word_set("""text character bytea json jsonb jsonpath xml tsvector bit path polygon
    int4range int8range numrange tsrange tstzrange daterange int4multirange int8multirange
    nummultirange tsmultirange tstzmultirange datemultirange""") | {
    "character varying", "bit varying"}


def storage_of(storage: str | None, type_text: str) -> str | None:
    """STORAGE as the catalog shows it: None when it is the type's own."""
    base = TYPMOD.sub("", type_text) if "(" in type_text else type_text
    own = "EXTENDED" if base.endswith("[]") or base in _EXTENDED else \
        "PLAIN" if base in _PLAIN else "MAIN" if base in _MAIN else None
    return None if storage == own else storage


def _read_column(r: Cursor, a: int, b: int, options: bool = False) -> ColRead | None:
    """A column definition in [a, b); ``options``: "col [WITH OPTIONS] constraints" of a
    partition or typed table, without a type (the column's type is "")."""
    r.i = a
    name = r.ident()
    if name is None:
        return None
    if options:
        r.accept("with", "options")
    type_end = r.i
    while type_end < b:
        tk = r.t[type_end]
        if (tk[0] == "W" and tk[1] in _COL_STOP) or options:
            break
        if tk[0] == "O" and tk[1] in ("(", "["):
            type_end = min(r.matching(type_end) + 1, b)
            continue
        type_end += 1
    ty = read_type(r, type_end) if type_end > r.i else TypeRead("")
    r.i = type_end
    not_null = False
    default = None
    identity = None
    generated = None
    virtual = False
    collation = None
    storage = None
    compression = None
    cons: list[ConRead] = []
    cname: str | None = None
    cstart = 0
    while r.i < b:
        here = r.i
        if r.accept("constraint"):
            cstart = r.start(here)
            cname = r.ident()
            continue
        span_a = r.start(here) if cname is None else cstart
        if r.accept("not", "null"):
            not_null = True
            r.accept("no", "inherit")
        elif r.accept("null"):
            pass
        elif r.accept("default"):
            x = r.i
            if r.i < b:
                r.i += 1
                if r.t[x][0] == "O" and r.t[x][1] in ("(", "["):
                    r.i = min(r.matching(x) + 1, b)
            r.skip_to(b, _COL_STOP)
            default = r.src(x, r.i)
        elif r.accept("check"):
            g = r.group() if r.op() == "(" else None
            expr = r.src(*g) if g else ""
            vars_ = _words_in(r, *g) if g else ()
            tail = r.i
            _skip_attrs(r, b)
            definition = f"CHECK ({expr})" + (" " + r.src(tail, r.i) if r.i > tail else "")
            validated = _validated(r, tail, r.i, True)
            cons.append(ConRead(cname, "c", definition, validated=validated, check_vars=vars_,
                             span=(span_a, r.end(r.i))))
        elif r.accept("unique"):
            nulls = ""
            if r.accept("nulls", "not", "distinct"):
                nulls = " NULLS NOT DISTINCT"
            elif r.accept("nulls", "distinct"):
                pass
            x = r.i
            included = _index_params(r, b)
            params = " " + r.src(x, r.i) if r.i > x else ""
            _skip_attrs(r, b)
            cons.append(ConRead(cname, "u", f"UNIQUE{nulls} ({quote_ident(name)}){params}",
                             (name,), hints=(name, *included), span=(span_a, r.end(r.i))))
        elif r.accept("primary", "key"):
            x = r.i
            included = _index_params(r, b)
            params = " " + r.src(x, r.i) if r.i > x else ""
            _skip_attrs(r, b)
            not_null = True
            cons.append(ConRead(cname, "p", f"PRIMARY KEY ({quote_ident(name)}){params}", (name,),
                             hints=(name, *included), span=(span_a, r.end(r.i))))
        elif r.accept("references"):
            x = r.i
            ref, ref_cols = _read_references(r, b)
            tail = r.i
            _skip_attrs(r, b)
            validated = _validated(r, tail, r.i, True)
            definition = f"FOREIGN KEY ({quote_ident(name)}) REFERENCES {r.src(x, r.i)}"
            cons.append(ConRead(cname, "f", definition, (name,), ref, ref_cols, validated,
                             span=(span_a, r.end(r.i))))
        elif r.accept("generated"):
            always = bool(r.accept("always"))
            if not always:
                r.accept("by", "default")
            if r.accept("as", "identity"):
                identity = make_identity(always, _group_options(r), ty.serial or ty.text)
                not_null = True
            elif r.accept("as"):
                g = r.group() if r.op() == "(" else None
                generated = r.src(*g) if g else ""
                # PostgreSQL 18: VIRTUAL unless STORED is said
                virtual = r.accept_any("stored", "virtual") != "stored"
        elif r.accept("collate"):
            collation = _collation(r.qualified())
        elif r.accept("storage"):
            w = r.word()
            storage = w.upper() if w and w != "default" else None
            r.i += 1
        elif r.accept("compression"):
            compression = r.word()
            r.i += 1
        else:
            r.i += 1  # something this reader does not know: skip it
        cname = None  # CONSTRAINT name names the clause that follows it only
    column = Column(
        name=name, type=ty.text, not_null=not_null, default=default, identity=identity,
        generated=generated, generated_virtual=virtual, collation=collation,
        storage=storage_of(storage, ty.text),
        compression=compression, type_ref=ty.ref,
    )
    return ColRead(column, tuple(cons), ty.serial, (r.start(a), r.end(b)))

def read_statement(r: Cursor, kind: str, key: tuple[str, ...] | None) -> list[tuple]:
    reader = _READERS.get(kind)
    if reader is None:
        return []
    return reader(r, kind, key)


def _after_kind(r: Cursor) -> dict[str, bool]:
    """Move past "CREATE [modifiers] <object words>"; the modifiers seen."""
    mods: dict[str, bool] = {}
    r.i = 0
    verb = r.word()
    r.i = 1
    if verb == "create":
        while True:
            w = r.word()
            if w is None or w not in CREATE_MODIFIERS:
                break
            mods[w] = True
            r.i += 1
    obj = r.word()
    r.i += 1
    if obj == "materialized":
        r.accept("view")
    mods["if_not_exists"] = r.accept("if", "not", "exists")
    return mods


def _read_schema(r: Cursor, kind: str, key):
    if key is None:
        return []
    return [("obj", Schema(key[1]), "")]


def _read_extension(r: Cursor, kind: str, key):
    if key is None:
        return []
    mods = _after_kind(r)
    r.ident()
    schema = "public"
    version = ""
    while not r.at_end():
        if r.accept("schema"):
            schema = r.ident() or schema
        elif r.accept("version"):
            if r.i < r.n:
                version = string_value(r.t[r.i]) or r.t[r.i][1]
                r.i += 1
        else:
            r.i += 1
    return [("obj", Extension(key[1], schema, version), _ine(mods))]


def _ine(mods: dict[str, bool]) -> str:
    if mods.get("if_not_exists"):
        return "if not exists"
    if mods.get("replace"):
        return "or replace"
    return ""


def _read_type_stmt(r: Cursor, kind: str, key):
    if key is None:
        return []
    _after_kind(r)
    r.qname()
    schema, name = key[1], key[2]
    if not r.accept("as"):
        return []  # a shell type, or CREATE TYPE ... (INPUT = ...): not modelled
    if r.accept("enum"):
        g = r.group() if r.op() == "(" else None
        values = []
        if g:
            for a, _b in r.split(*g):
                v = string_value(r.t[a])
                if v is not None:
                    values.append(v)
        return [("obj", EnumType(schema, name, tuple(values)), "")]
    if r.op() == "(":
        g = r.group()
        attrs = []
        if g:
            for a, b in r.split(*g):
                col = _read_column(r, a, b)
                if col is not None:
                    text = col.column.type
                    if col.column.collation:
                        text += f" COLLATE {col.column.collation}"
                    attrs.append((col.column.name, text))
        return [("obj", CompositeType(schema, name, tuple(attrs)), "")]
    return []


def _read_domain(r: Cursor, kind: str, key):
    if key is None:
        return []
    _after_kind(r)
    r.qname()
    r.accept("as")
    end = r.n
    type_end = r.i
    while type_end < end:
        tk = r.t[type_end]
        if tk[0] == "W" and tk[1] in _COL_STOP:
            break
        if tk[0] == "O" and tk[1] in ("(", "["):
            type_end = min(r.matching(type_end) + 1, end)
            continue
        type_end += 1
    ty = read_type(r, type_end)
    r.i = type_end
    not_null = False
    default = None
    collation = None
    checks = []
    cname = None
    taken: set[str] = set()
    while r.i < end:
        if r.accept("constraint"):
            cname = r.ident()
            continue
        if r.accept("not", "null"):
            not_null = True
        elif r.accept("null"):
            pass
        elif r.accept("default"):
            x = r.i
            r.i += 1
            r.skip_to(end, _COL_STOP)
            default = r.src(x, r.i)
        elif r.accept("collate"):
            collation = _collation(r.qualified())
        elif r.accept("check"):
            g = r.group() if r.op() == "(" else None
            expr = r.src(*g) if g else ""
            name = cname or choose_name(key[2], None, "check", taken)
            taken.add(name)
            checks.append(DomainCheck(name, f"CHECK ({expr})"))
            _skip_attrs(r, end)
            r.accept("not", "valid")
        else:
            r.i += 1
        cname = None
    checks.sort(key=lambda c: c.name)
    return [("obj", Domain(key[1], key[2], ty.text, not_null, default, collation,
                           tuple(checks)), "")]


def _read_sequence(r: Cursor, kind: str, key):
    if key is None:
        return []
    mods = _after_kind(r)
    r.qname()
    o = _seq_fill(_seq_raw(r, r.n))
    return [("obj", Sequence(
        key[1], key[2], data_type=o["data_type"], start=o["start"], increment=o["increment"],
        min_value=o["min_value"], max_value=o["max_value"], cache=o["cache"],
        cycle=o["cycle"], owned_by=o["owned_by"], unlogged=bool(mods.get("unlogged")),
    ), _ine(mods))]


_LIKE_OPTIONS = word_set(
    "comments compression constraints defaults generated identity indexes statistics storage"
)


def _read_table(r: Cursor, kind: str, key):
    if key is None:
        return []
    mods = _after_kind(r)
    if mods.get("temp") or mods.get("temporary"):
        return []  # lives in pg_temp, not in the schema
    r.qname()
    schema, name = key[1], key[2]
    columns: list[ColRead] = []
    cons: list[ConRead] = []
    # LIKE: source, options, and how many columns are written before it
    likes: list[tuple[tuple[str, str], frozenset[str], int]] = []
    not_null_cols: list[str] = []
    partition_of = None
    partition_bound = None
    of_type = None
    if r.accept("partition", "of"):
        partition_of = r.qname()
    elif r.accept("of"):
        of_type = r.qname()
    g = r.group() if r.op() == "(" else None
    after = r.i
    for a, b in r.split(*g) if g else []:
        first = r.t[a]
        w = first[1] if first[0] == "W" else None
        if w == "like":
            r.i = a + 1
            src = r.qname()
            included: set[str] = set()
            while r.i < b:
                how = r.accept_any("including", "excluding")
                what = r.word()
                if how is None or what is None:
                    break
                r.i += 1
                opts = _LIKE_OPTIONS if what == "all" else {what}
                if how == "including":
                    included |= opts
                else:
                    included -= opts
            if src:
                likes.append((src, frozenset(included), len(columns)))
            continue
        if w == "not" and a + 1 < b and r.t[a + 1][1] == "null" and r.t[a + 1][0] == "W":
            # PostgreSQL 18: table-level NOT NULL col
            if a + 2 < b and r.t[a + 2][0] in ("W", "Q"):
                not_null_cols.append(r.t[a + 2][1])
            continue
        is_con = w in _TABLE_CONSTRAINT and not (
            w == "exclude" and not (a + 1 < b and (r.op_at(a + 1) == "(" or
                                                   r.word_at(a + 1) == "using"))
        )
        if is_con:
            cname = None
            x = a
            if w == "constraint":
                r.i = a + 1
                cname = r.ident()
                x = r.i
            con = read_table_constraint(r, x, b, cname, r.start(a), create=True)
            if con is not None:
                cons.append(con)
            continue
        # "col WITH OPTIONS constraints" adds to a partition's or typed table's column
        col = _read_column(r, a, b, options=partition_of is not None or of_type is not None)
        if col is not None:
            columns.append(col)
    r.i = after
    inherits: tuple[tuple[str, str], ...] = ()
    partition_key = None
    options: tuple[str, ...] = ()
    while r.i < r.n:
        if r.accept("inherits"):
            g = r.group() if r.op() == "(" else None
            parents = []
            if g:
                for a, b in r.split(*g):
                    r2 = Cursor(r.text, r.t[a:b])
                    qn = r2.qname()
                    if qn:
                        parents.append(qn)
            inherits = tuple(parents)
        elif r.accept("partition", "by"):
            method = r.accept_any("range", "list", "hash")
            g = r.group() if r.op() == "(" else None
            if method and g:
                partition_key = f"{method.upper()} ({r.src(*g)})"
        elif r.word() == "for" and r.word(1) == "values":
            partition_bound = _bound_text(r, r.i)
        elif partition_of is not None and r.accept("default"):
            partition_bound = "DEFAULT"
        elif r.accept("with"):
            g = r.group() if r.op() == "(" else None
            if g:
                options = _options(r, g)
        else:
            r.i += 1
    table = Table(
        schema=schema, name=name, partition_key=partition_key, partition_of=partition_of,
        partition_bound=partition_bound, inherits=inherits,
        unlogged=bool(mods.get("unlogged")), options=options,
    )
    return [("table", table, tuple(columns), tuple(cons), tuple(likes),
             tuple(not_null_cols), of_type, _ine(mods))]


def _options(r: Cursor, g: tuple[int, int]) -> tuple[str, ...]:
    """Storage parameters as pg_class.reloptions holds them: "name=value", sorted (as the
    catalog reader sorts them); a name alone means true."""
    out = []
    for a, b in r.split(*g):
        eq = next((j for j in range(a, b) if r.t[j][0] == "O" and r.t[j][1] == "="), None)
        name = r.src(a, eq if eq is not None else b).replace(" ", "")
        if eq is None:
            out.append(f"{name}=true")
            continue
        if eq + 2 == b and r.t[eq + 1][0] in ("S", "E", "D"):
            value = string_value(r.t[eq + 1]) or ""
        else:
            value = r.src(eq + 1, b).replace(" ", "")
        out.append(f"{name}={value}")
    return tuple(sorted(out))


def _bound_text(r: Cursor, x: int) -> str:
    """FOR VALUES ... of a partition: the tokens from x up to r.i, but FOR VALUES WITH
    (MODULUS m, REMAINDER r) keeps its WITH."""
    r.i = x + 2
    if r.accept("with"):
        g = r.group() if r.op() == "(" else None
        if g:  # PostgreSQL shows "WITH (modulus 2, remainder 0)"
            parts = (r.src(a, b).lower() for a, b in r.split(*g))
            return "FOR VALUES WITH (" + ", ".join(parts) + ")"
    elif r.accept("in"):
        r.group()
    elif r.accept("from"):
        r.group()
        r.accept("to")
        r.group()
    return "FOR VALUES " + r.src(x + 2, r.i)


def _read_index(r: Cursor, kind: str, key):
    mods = _after_kind(r)
    r.accept("concurrently")
    if not mods.get("if_not_exists"):
        mods["if_not_exists"] = r.accept("if", "not", "exists")
    name = None
    if r.word() != "on":
        name = r.ident()
    if not r.accept("on"):
        return []
    only = r.accept("only")  # not on the partitions (pg_dump attaches theirs one by one)
    table = r.qname()
    if table is None:
        return []
    r.accept_op("*")
    if r.accept("using"):
        r.ident()
    g = r.group() if r.op() == "(" else None
    cols: list[str] = []
    hints: list[str] = []  # what PostgreSQL names each column when it names the index
    after = r.i
    if g:
        for a, b in r.split(*g):
            col = _element_column(r, a, b)
            cols.append(col or "")
            hints.append(col or _expression_name(r, a, b))
    r.i = after
    if r.accept("include"):
        included = _ident_list(r, r.group() if r.op() == "(" else None)
        cols.extend(included)
        hints.extend(c or "expr" for c in included)
    definition = r.src(0, r.n)
    idx = Index(name=name or "", definition=definition, unique=bool(mods.get("unique")),
                columns=tuple(cols))
    return [("index", table, idx, _ine(mods), tuple(hints), only)]


def _element_column(r: Cursor, a: int, b: int) -> str | None:
    """The column an index element in [a, b) is: "col [COLLATE c] [opclass] [DESC]...", or
    "(col)", "(t.col)", "(col COLLATE c)", which PostgreSQL takes for plain columns too."""
    if r.t[a][0] in ("W", "Q") and (b == a + 1 or r.t[a + 1][0] in ("W", "Q")):
        return r.t[a][1]
    if r.op_at(a) == "(" and r.word_at(a + 1) not in _CONSTANTS:
        close = r.matching(a)
        r.i = a + 1
        parts = r.qualified()
        if parts and (r.i == close or r.word() == "collate"):
            return parts[-1]
    return None


_CONSTANTS = word_set("true false null")


def _expression_name(r: Cursor, a: int, b: int) -> str:
    """PostgreSQL's FigureIndexColname() for the index element in [a, b) (a function call
    or an expression in parentheses, then options): the name of the column or function it
    shows, or of the type it casts to, else "expr"."""
    if r.op_at(a) == "(":
        end = r.matching(a) + 1
    else:
        r.i = a
        r.qualified()
        end = r.matching(r.i) + 1 if r.op() == "(" else r.i
    return _figure(r, a, min(end, b))[0] or "expr"


# Names of the types the grammar spells with keywords (a cast is named after its type).
_CAST_NAMES = {
    "integer": "int4", "smallint": "int2", "bigint": "int8", "real": "float4",
    "double precision": "float8", "boolean": "bool", "character varying": "varchar",
    "character": "bpchar", "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamptz", "time without time zone": "time",
    "time with time zone": "timetz", "bit varying": "varbit", '"char"': "char",
}


def _figure(r: Cursor, a: int, b: int) -> tuple[str | None, int]:
    """PostgreSQL's FigureColnameInternal() over the expression in tokens [a, b): a name
    and how strong it is (2 a column or function, 1 the type of a cast, 0 none)."""
    while b - a > 1 and r.op_at(a) == "(" and r.matching(a) == b - 1:
        a, b = a + 1, b - 1
    if a >= b:
        return None, 0
    casts = r.split(a, b, "::")
    if len(casts) > 1:
        name, strength = _figure(r, a, casts[-2][1])
        return (name, strength) if strength > 1 else (_cast_name(r, *casts[-1]), 1)
    if r.op_at(b - 1) == "]":  # x[1]: named after x
        depth = 0
        for j in range(b - 1, a, -1):
            depth += {"]": 1, "[": -1}.get(r.op_at(j) or "", 0)
            if depth == 0:
                return _figure(r, a, j)
    w = r.word_at(a)
    whole = r.op_at(a + 1) in ("(", "[") and r.matching(a + 1) == b - 1
    if w == "case" and r.word_at(b - 1) == "end":
        return "case", 2
    if w == "array" and whole:
        return "array", 2
    if w == "cast" and whole:
        r.i = a + 2
        at = r.skip_to(b - 1, frozenset({"as"}))
        name, strength = _figure(r, a + 2, at)
        return (name, strength) if strength > 1 else (_cast_name(r, at + 1, b - 1), 1)
    if w in _CONSTANTS:
        return None, 0
    r.i = a
    parts = r.qualified()
    if parts is not None and (r.i == b or r.op() == "(" and r.matching(r.i) == b - 1):
        return parts[-1], 2  # a column, or a function call
    return None, 0


def _cast_name(r: Cursor, a: int, b: int) -> str:
    r.i = a
    ty = read_type(r, b)
    if ty.ref is not None:
        return ty.ref[1]
    base = TYPMOD.sub("", ty.text).removesuffix("[]")
    return _CAST_NAMES.get(base, base)


def _read_view(r: Cursor, kind: str, key):
    if key is None:
        return []
    mods = _after_kind(r)
    r.qname()
    materialized = kind == "CREATE MATERIALIZED VIEW"
    options: list[str] = []
    if r.op() == "(":
        r.group()  # column names
    while r.i < r.n and r.word() != "as":
        if r.accept("with"):
            g = r.group() if r.op() == "(" else None
            if g:
                options.extend(_options(r, g))
        else:
            r.i += 1
    if not r.accept("as"):
        return []
    start = r.i
    end = r.n
    # Trailing WITH [NO] DATA (materialized) / WITH [CASCADED|LOCAL] CHECK OPTION (views)
    if end - start >= 2 and r.t[end - 1][0] == "W":
        last = r.t[end - 1][1]
        if last == "data":
            j = end - 2
            if j > start and r.t[j][1] == "no":
                j -= 1
            if j > start and r.t[j][1] == "with":
                end = j
        elif last == "option" and end - 3 > start and r.t[end - 2][1] == "check":
            j = end - 3
            check = "cascaded"
            if r.t[j][1] in ("cascaded", "local"):
                check = r.t[j][1]
                j -= 1
            if r.t[j][1] == "with":
                end = j
                options.append(f"check_option={check}")
    definition = r.raw(start, end)
    view = View(key[1], key[2], definition, materialized=materialized,
                options=tuple(sorted(options)))
    return [("obj", view, _ine(mods))]


_FUNCTION_OPTIONS = word_set(
    "language as immutable stable volatile strict called security parallel cost rows set "
    "leakproof window transform support return begin not external returns"
)

def _read_function(r: Cursor, kind: str, key):
    if key is None:
        return []
    mods = _after_kind(r)
    r.qname()
    g = r.group() if r.op() == "(" else None
    args = r.src(*g) if g else ""
    result = None
    if r.accept("returns"):
        x = r.i
        if r.accept("table"):
            r.group()
        else:
            r.accept("setof")
            r.skip_to(r.n, _FUNCTION_OPTIONS - {"returns"})
        result = r.src(x, r.i)
    fn = Function(key[1], key[2], key[3], "p" if kind == "CREATE PROCEDURE" else "f", r.text,
                  result=result, arg_names_types=args)
    return [("obj", fn, _ine(mods))]


def _read_trigger(r: Cursor, kind: str, key):
    if key is None:
        return []
    table = (key[1], key[2])
    function = None
    for j in range(r.n - 1):
        if r.t[j][0] == "W" and r.t[j][1] == "execute" and r.word_at(j + 1) in (
            "function", "procedure"
        ):
            r.i = j + 2
            function = r.qname()
            break
    return [("trigger", table, Trigger(key[3], r.src(0, r.n), function=function))]


def _read_policy(r: Cursor, kind: str, key):
    if key is None:
        return []
    r.i = 2
    r.ident()
    r.accept("on")
    r.qname()
    permissive = True
    command = "ALL"
    roles: list[str] = []
    using = None
    with_check = None
    while r.i < r.n:
        if r.accept("as"):
            permissive = r.accept_any("permissive", "restrictive") != "restrictive"
        elif r.accept("for"):
            command = (r.accept_any("all", "select", "insert", "update", "delete")
                       or "all").upper()
        elif r.accept("to"):
            while r.i < r.n:
                role = r.ident()
                if role is None:
                    break
                roles.append("PUBLIC" if role == "public" and r.t[r.i - 1][0] == "W" else role)
                if not r.accept_op(","):
                    break
        elif r.accept("using"):
            g = r.group() if r.op() == "(" else None
            using = r.src(*g) if g else None
        elif r.accept("with", "check"):
            g = r.group() if r.op() == "(" else None
            with_check = r.src(*g) if g else None
        else:
            r.i += 1
    # PUBLIC among other roles is PUBLIC alone (PostgreSQL ignores the others, warning)
    roles = ["PUBLIC"] if "PUBLIC" in roles or not roles else roles
    policy = Policy(key[3], command, permissive, tuple(roles), using, with_check)
    return [("policy", (key[1], key[2]), policy)]


def _read_collation(r: Cursor, kind: str, key):
    """Only its name: an unqualified COLLATE name is the public one when the schema
    declares it (see _finish)."""
    _after_kind(r)
    qn = r.qname()
    return [("collation", qn)] if qn else []


def _read_alter_table(r: Cursor, kind: str, key):
    r.i = 2
    r.accept("if", "exists")
    r.accept("only")
    table = r.qname()
    if table is None:
        return []
    r.accept_op("*")
    pieces: list[tuple] = []
    if r.accept("attach", "partition"):
        child = r.qname()
        if child:
            x = r.i
            bound: str | None = None
            if r.accept("for", "values"):
                bound = _bound_text(r, x)
            elif r.accept("default"):
                bound = "DEFAULT"
            pieces.append(("attach", table, child, bound))
        return pieces
    for a, b in r.split(r.i, r.n):
        r.i = a
        if r.accept("add"):
            w = r.word()
            if w in _TABLE_CONSTRAINT and not (w == "exclude" and r.op(1) not in ("(",)
                                               and r.word(1) != "using"):
                cname = None
                x = r.i
                if r.accept("constraint"):
                    cname = r.ident()
                    x = r.i
                con = read_table_constraint(r, x, b, cname, r.start(a + 1))
                if con is not None:
                    pieces.append(("add_constraint", table, con))
                continue
            r.accept("column")
            r.accept("if", "not", "exists")
            col = _read_column(r, r.i, b)
            if col is not None:
                pieces.append(("add_column", table, col))
        elif r.accept("alter"):
            r.accept("column")
            col_name = r.ident()
            if col_name is None:
                continue
            changes: dict = {}
            if r.accept("set", "default"):
                changes["default"] = r.src(r.i, b)
            elif r.accept("drop", "default"):
                changes["default"] = None
            elif r.accept("set", "not", "null"):
                changes["not_null"] = True
            elif r.accept("drop", "not", "null"):
                changes["not_null"] = False
            elif r.accept("set", "storage"):
                w = r.word()
                changes["storage"] = w.upper() if w and w != "default" else None
            elif r.accept("set", "compression"):
                w = r.word()
                changes["compression"] = w if w and w != "default" else None
            elif r.accept("set", "statistics"):
                n = _number(r)
                changes["statistics"] = n if n is not None and n >= 0 else None
            elif r.accept("set", "data", "type") or r.accept("type"):
                end = r.i
                while end < b and not (r.t[end][0] == "W" and r.t[end][1] in (
                        "collate", "using")):
                    end += 1
                ty = read_type(r, end)
                changes["type"] = ty.text
                changes["type_ref"] = ty.ref
                # the new type's default collation unless COLLATE says another
                changes["collation"] = _collation(r.qualified()) if r.accept("collate") \
                    else None
            elif r.accept("add", "generated"):
                always = bool(r.accept("always"))
                if not always:
                    r.accept("by", "default")
                r.accept("as", "identity")
                changes["identity"] = (always, tuple(_group_options(r).items()))
                changes["not_null"] = True
            if changes:
                pieces.append(("alter_column", table, col_name, tuple(changes.items())))
        elif r.accept("enable", "row", "level", "security"):
            pieces.append(("table_set", table, (("rls_enabled", True),)))
        elif r.accept("disable", "row", "level", "security"):
            pieces.append(("table_set", table, (("rls_enabled", False),)))
        elif r.accept("force", "row", "level", "security"):
            pieces.append(("table_set", table, (("rls_forced", True),)))
        elif r.accept("no", "force", "row", "level", "security"):
            pieces.append(("table_set", table, (("rls_forced", False),)))
        elif r.accept("replica", "identity"):
            w = r.accept_any("default", "full", "nothing", "using")
            code = {"default": "d", "full": "f", "nothing": "n", "using": "i"}.get(w or "")
            if code:
                pieces.append(("table_set", table, (("replica_identity", code),)))
    return pieces


def _read_alter_index(r: Cursor, kind: str, key):
    """ALTER INDEX parent ATTACH PARTITION child (as pg_dump writes partitioned indexes)."""
    r.i = 2
    r.accept("if", "exists")
    parent = r.qname()
    if parent is None or not r.accept("attach", "partition"):
        return []
    child = r.qname()
    return [("attach_index", parent, child)] if child else []


def _read_alter_sequence(r: Cursor, kind: str, key):
    r.i = 2
    r.accept("if", "exists")
    qn = r.qname()
    if qn is None:
        return []
    raw = _seq_raw(r, r.n)
    return [("alter_sequence", qn, tuple(raw.items()))] if raw else []


def _read_comment(r: Cursor, kind: str, key):
    r.i = 1
    if not r.accept("on"):
        return []
    obj = r.word()
    if obj is None:
        return []
    r.i += 1
    if obj == "materialized":
        r.accept("view")
        obj = "view"
    target: tuple | None = None
    if obj in ("table", "view", "type", "domain", "sequence", "index"):
        qn = r.qname()
        if qn:
            family = "type" if obj == "domain" else obj
            target = (family, *qn)
    elif obj in ("schema", "extension"):
        name = r.ident()
        if name is not None:
            target = (obj, name)
    elif obj == "column":
        parts = r.qualified()
        if parts and len(parts) >= 2:
            tbl = split_qname(parts[:-1])
            target = ("column", *tbl, parts[-1])
    elif obj in ("constraint", "trigger", "policy"):
        name = r.ident()
        if name is not None and r.accept("on"):
            if obj == "constraint":
                r.accept("domain")
            qn = r.qname()
            if qn:
                target = (obj, *qn, name)
    elif obj in ("function", "procedure"):
        qn = r.qname()
        if qn:
            g = r.group() if r.op() == "(" else None
            target = ("function", *qn, r.src(*g) if g else None)
    if target is None:
        return []
    # IS 'text' | IS NULL
    while r.i < r.n and r.word() != "is":
        r.i += 1
    if not r.accept("is"):
        return []
    if r.accept("null"):
        value = None
    else:
        parts = []
        while r.i < r.n:
            v = string_value(r.t[r.i])
            if v is None:
                break
            parts.append(v)
            r.i += 1
        if not parts:
            return []
        value = "".join(parts)
    return [("comment", target, value)]


_READERS = {
    "CREATE SCHEMA": _read_schema,
    "CREATE EXTENSION": _read_extension,
    "CREATE TYPE": _read_type_stmt,
    "CREATE DOMAIN": _read_domain,
    "CREATE SEQUENCE": _read_sequence,
    "CREATE TABLE": _read_table,
    "CREATE INDEX": _read_index,
    "CREATE VIEW": _read_view,
    "CREATE MATERIALIZED VIEW": _read_view,
    "CREATE FUNCTION": _read_function,
    "CREATE PROCEDURE": _read_function,
    "CREATE TRIGGER": _read_trigger,
    "CREATE COLLATION": _read_collation,
    "CREATE POLICY": _read_policy,
    "ALTER TABLE": _read_alter_table,
    "ALTER SEQUENCE": _read_alter_sequence,
    "ALTER INDEX": _read_alter_index,
    "COMMENT": _read_comment,
}
