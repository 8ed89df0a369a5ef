"""Completion in SQL schema files: what fits where the cursor is, from the files' structural
model and the live database.

Pure: the text before the cursor, the statement it belongs to and two models in, items
out. The position's context comes from the lexer's tokens (never from a regex over the
text), so strings, comments and quoted names are what PostgreSQL would read.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from trimtab.model import CompositeType, Domain, EnumType, Model, quote_ident, quote_literal
from trimtab.sources.sqlfile import Statement, Tok, lex, split_qname

BUILTIN_TYPES = (
    "bigint", "bigserial", "bit", "bit varying", "boolean", "bytea", "char", "character",
    "character varying", "cidr", "date", "double precision", "inet", "integer", "interval",
    "json", "jsonb", "macaddr", "money", "numeric", "oid", "real", "serial", "smallint",
    "smallserial", "text", "time", "time with time zone", "timestamp",
    "timestamp with time zone", "timestamptz", "tsquery", "tsvector", "uuid", "varchar", "xml",
    "int", "int4range", "int8range", "numrange", "tstzrange", "daterange",
)
COLUMN_KEYWORDS = ("NOT NULL", "NULL", "DEFAULT", "REFERENCES", "PRIMARY KEY", "UNIQUE",
                   "CHECK", "GENERATED ALWAYS AS IDENTITY", "GENERATED ALWAYS AS", "COLLATE")
TABLE_ELEMENT_KEYWORDS = ("CONSTRAINT", "PRIMARY KEY", "UNIQUE", "FOREIGN KEY", "CHECK",
                          "EXCLUDE", "LIKE")
SNIPPETS = (
    ("CREATE TABLE", "CREATE TABLE ${1:name} (\n\tid bigint GENERATED ALWAYS AS IDENTITY "
     "PRIMARY KEY,\n\t$0\n);"),
    ("CREATE INDEX", "CREATE INDEX ${1:name} ON ${2:table} (${3:column});"),
    ("CREATE POLICY", "CREATE POLICY ${1:name} ON ${2:table}\n\tFOR ${3|ALL,SELECT,INSERT,"
     "UPDATE,DELETE|}\n\tTO ${4:public}\n\tUSING (${5:true});"),
    ("CREATE TRIGGER", "CREATE TRIGGER ${1:name}\n\t${2|BEFORE,AFTER,INSTEAD OF|} "
     "${3|INSERT,UPDATE,DELETE|} ON ${4:table}\n\tFOR EACH ROW EXECUTE FUNCTION "
     "${5:function}();"),
    ("CREATE TYPE ... AS ENUM", "CREATE TYPE ${1:name} AS ENUM (${2:'value'});"),
    ("CREATE VIEW", "CREATE VIEW ${1:name} AS\nSELECT $0;"),
)
T = TypeVar("T")
_VIEW_KINDS = ("CREATE VIEW", "CREATE MATERIALIZED VIEW")
_AFTER_ON = ("CREATE INDEX", "CREATE TRIGGER", "CREATE POLICY")


@dataclass(frozen=True)
class Item:
    label: str
    kind: str  # "table", "column", "type", "value", "keyword", "snippet"
    detail: str = ""
    insert: str | None = None  # text to insert when not the label
    snippet: bool = False


@dataclass(frozen=True)
class Models:
    file: Model  # the structural model of the project's schema files
    live: Model | None
    extension_types: tuple[str, ...] = ()  # types extensions brought to the live database


def statement_before(text: str, statements: list[Statement], offset: int) -> tuple[str, str]:
    """(the text of the statement under the cursor up to the cursor, its whole text).
    ``statements``: the file's, in order."""
    start = 0
    whole_end = offset
    # The last statement that starts at or before the cursor decides (found by bisection:
    # a statement per table of a large file, and one completion request per character).
    k = bisect.bisect_right(statements, offset, key=lambda st: st.span.start_offset)
    if k:
        st = statements[k - 1]
        a = st.span.start_offset
        if offset <= st.span.end_offset or ";" not in text[st.span.end_offset:offset]:
            start, whole_end = a, max(st.span.end_offset, offset)
        else:
            start = offset  # after its ';': a new statement starts here
            whole_end = offset
    return text[start:offset], text[start:whole_end]


# What depends on the models only, not on the position: made for the last models asked
# about (name -> (file model, live model, extension types, value)). A model is the same
# object while its text and the database are (the structural build per text, the live read
# per refresh), and the list of a thousand tables costs more to make than the rest of an
# answer. Compared by identity: a new model object is a new list.
_per_models: dict[str, tuple[Model, Model | None, tuple[str, ...], Any]] = {}


def _models_value(name: str, m: Models, make: Callable[[], T]) -> T:
    hit = _per_models.get(name)
    if hit is not None and hit[0] is m.file and hit[1] is m.live and \
            hit[2] == m.extension_types:
        return cast(T, hit[3])
    value = make()
    _per_models[name] = (m.file, m.live, m.extension_types, value)
    return value


def _tables(m: Models) -> Mapping[tuple[str, str], tuple[str, ...]]:
    """(schema, name) -> its columns, file first then the live database's."""
    return _models_value("tables", m, lambda: _make_tables(m))


def _make_tables(m: Models) -> dict[tuple[str, str], tuple[str, ...]]:
    out: dict[tuple[str, str], tuple[str, ...]] = {}
    for model in (m.file, m.live):
        if model is None:
            continue
        for tb in model.tables.values():
            out.setdefault((tb.schema, tb.name), tuple(c.name for c in tb.columns))
        for v in model.views.values():
            out.setdefault((v.schema, v.name), tuple(c for c, _ in v.columns))
    return out


def _name(schema: str, name: str) -> str:
    return quote_ident(name) if schema == "public" else f"{quote_ident(schema)}.{quote_ident(name)}"


def _table_items(m: Models, views: bool = False) -> list[Item]:
    return list(_models_value(f"table items {views}", m, lambda: _make_table_items(m, views)))


def _make_table_items(m: Models, views: bool) -> list[Item]:
    seen = set()
    out = []
    for model, where in ((m.file, "schema file"), (m.live, "database")):
        if model is None:
            continue
        rels = [*model.tables.values(), *(model.views.values() if views else ())]
        for r in rels:
            label = _name(r.schema, r.name)
            if label not in seen:
                seen.add(label)
                what = "view" if r.key[0] == "view" else "table"
                out.append(Item(label, "table", f"{what} ({where})"))
    return out


def _column_items(m: Models, table: tuple[str, str] | None, detail: str = "") -> list[Item]:
    if table is None:
        return []
    cols = _tables(m).get(table, ())
    return [Item(quote_ident(c), "column", detail or f"column of {_name(*table)}") for c in cols]


def _user_types(m: Models) -> list[Item]:
    return list(_models_value("user types", m, lambda: _make_user_types(m)))


def _make_user_types(m: Models) -> list[Item]:
    seen: set[str] = set()
    out = []
    for model, where in ((m.file, "schema file"), (m.live, "database")):
        if model is None:
            continue
        for ty in model.types.values():
            label = _name(ty.schema, ty.name)
            what = "enum" if isinstance(ty, EnumType) else "domain" if isinstance(
                ty, Domain) else "composite type" if isinstance(ty, CompositeType) else "type"
            if label not in seen:
                seen.add(label)
                out.append(Item(label, "type", f"{what} ({where})"))
    for label in m.extension_types:
        if label not in seen:
            seen.add(label)
            out.append(Item(label, "type", "extension type (database)"))
    return out


def _type_items(m: Models) -> list[Item]:
    return _user_types(m) + [Item(b, "type", "built-in") for b in BUILTIN_TYPES]


def _enum_of(m: Models, type_name: str) -> EnumType | None:
    schema, name = split_qname(type_name.split(".")) if "." in type_name else ("public",
                                                                                type_name)
    for model in (m.file, m.live):
        if model is not None:
            ty = model.types.get(("type", schema, name))
            if isinstance(ty, EnumType):
                return ty
    return None


def _qname_before(toks: list[Tok], k: int) -> tuple[tuple[str, str], int] | None:
    """The (schema, name) whose last token is k, and its first token."""
    if k < 0 or toks[k][0] not in ("W", "Q"):
        return None
    a = k
    while a >= 2 and toks[a - 1][:2] == ("O", ".") and toks[a - 2][0] in ("W", "Q"):
        a -= 2
    parts = [toks[x][1] for x in range(a, k + 1, 2)]
    return split_qname(parts), a


def _kind(toks: list[Tok]) -> str:
    words = [tk[1] for tk in toks[:6] if tk[0] == "W"]
    if words[:1] != ["create"]:
        return " ".join(words[:2]).upper()
    rest = [w for w in words[1:] if w not in ("or", "replace", "unique", "temporary", "temp",
                                              "unlogged", "recursive", "constraint")]
    if rest[:1] == ["materialized"]:
        return "CREATE MATERIALIZED VIEW"
    return f"CREATE {rest[0].upper()}" if rest else "CREATE"


def _view_tables(toks: list[Tok]) -> dict[str, tuple[str, str]]:
    """Alias (and name) -> table in a view's FROM/JOIN clauses."""
    out: dict[str, tuple[str, str]] = {}
    for k, tk in enumerate(toks):
        if tk[:2] in (("W", "from"), ("W", "join")) or (tk[:2] == ("O", ",") and out):
            n = k + 1
            if n >= len(toks) or toks[n][0] not in ("W", "Q"):
                continue
            e = n
            while e + 2 < len(toks) and toks[e + 1][:2] == ("O", ".") and toks[e + 2][0] in (
                    "W", "Q"):
                e += 2
            table = split_qname([toks[x][1] for x in range(n, e + 1, 2)])
            out[table[1]] = table
            a = e + 1
            if a < len(toks) and toks[a][:2] == ("W", "as"):
                a += 1
            if a < len(toks) and toks[a][0] in ("W", "Q") and toks[a][1] not in (
                    "where", "join", "on", "left", "right", "inner", "full", "cross", "group",
                    "order", "limit", "union", "natural", "using", "having", "window"):
                out[toks[a][1]] = table
    return out


def complete(before: str, whole: str, m: Models) -> list[Item]:
    """What fits at the end of ``before`` (the statement's text up to the cursor); ``whole``
    is the statement's whole text (a view's FROM after the cursor names its aliases)."""
    # (the lexer ends a text with blanks in an "X" token: not a word)
    toks = [tk for tk in lex(before).toks if not (tk[0] == "X" and tk[1].isspace())]
    # A word being typed right at the cursor is the prefix the client filters by.
    if toks and toks[-1][3] == len(before) and toks[-1][0] in ("W", "Q"):
        toks.pop()
    partial_string = bool(toks) and toks[-1][0] == "S" and toks[-1][3] == len(before) and \
        not (len(toks[-1][1]) >= 2 and toks[-1][1].endswith("'") and toks[-1][1] != "'")
    if partial_string:
        toks.pop()
    if not toks:
        return [Item(label, "snippet", "statement", body, snippet=True)
                for label, body in SNIPPETS]
    kind = _kind(toks)
    last = toks[-1]
    prev_word = last[1] if last[0] == "W" else None

    # t.<column> (a view's body, a policy's expression...)
    if last[:2] == ("O", "."):
        found = _qname_before(toks, len(toks) - 2)
        if found is None:
            return []
        (schema, name), _ = found
        aliases = _view_tables(list(lex(whole).toks)) if kind in _VIEW_KINDS else {}
        table = aliases.get(name) or (schema, name)
        items = _column_items(m, table)
        items += [Item(_name(s, n), "table", "table") for (s, n) in _tables(m) if s == name]
        return items
    if prev_word == "references":
        return _table_items(m)
    if prev_word == "on" and kind in _AFTER_ON:
        return _table_items(m, views=kind == "CREATE TRIGGER")
    if prev_word in ("from", "join") and kind in _VIEW_KINDS:
        return _table_items(m, views=True)
    if prev_word == "table" and kind in ("ALTER TABLE", "COMMENT ON"):
        return _table_items(m)
    if last[:2] == ("O", "::") or (prev_word == "type" and kind == "ALTER TABLE"):
        return _type_items(m)

    # Inside parentheses: whose list is it?
    opens: list[int] = []
    for k, tk in enumerate(toks):
        if tk[:2] == ("O", "("):
            opens.append(k)
        elif tk[:2] == ("O", ")") and opens:
            opens.pop()
    if opens:
        o = opens[-1]
        found = _qname_before(toks, o - 1)
        word_before = toks[o - 1][1] if o >= 1 and toks[o - 1][0] == "W" else None
        if found is not None and found[1] >= 1 and toks[found[1] - 1][:2] == (
                "W", "references"):
            return _column_items(m, found[0])
        if kind == "CREATE INDEX":
            on = next((k for k in range(o) if toks[k][:2] == ("W", "on")), None)
            if on is not None:
                tb = _qname_before(toks, on + 1 + (toks[on + 1][:2] == ("W", "only")))
                if tb is not None:
                    return _column_items(m, tb[0])
        if kind == "CREATE TABLE":
            own = _own_table(toks, opens[0])
            if word_before in ("key", "unique") or (word_before == "key" and len(opens) == 2):
                return _column_items(m, own) + _declared_columns(toks, opens[0])
            if len(opens) == 1:
                return _table_element(toks, o, m, partial_string)
    return []


def _own_table(toks: list[Tok], main: int) -> tuple[str, str] | None:
    found = _qname_before(toks, main - 1)
    return found[0] if found else None


def _declared_columns(toks: list[Tok], main: int) -> list[Item]:
    """Columns the CREATE TABLE being written declares before the cursor (the structural
    model may not see an unfinished statement)."""
    out = []
    start = True
    depth = 0
    for tk in toks[main + 1:]:
        if tk[:2] == ("O", "("):
            depth += 1
        elif tk[:2] == ("O", ")"):
            depth -= 1
        elif tk[:2] == ("O", ",") and depth == 0:
            start = True
            continue
        elif start and depth == 0 and tk[0] in ("W", "Q") and tk[1] not in (
                "constraint", "primary", "unique", "foreign", "check", "exclude", "like"):
            out.append(Item(quote_ident(tk[1]), "column", "column of this table"))
        start = False
    return [i for k, i in enumerate(out) if i.label not in {j.label for j in out[:k]}]


def _table_element(toks: list[Tok], main: int, m: Models, partial_string: bool) -> list[Item]:
    """Inside CREATE TABLE t (...), at depth 1: a column's name, type or clauses."""
    e = main + 1
    for k in range(main + 1, len(toks)):
        if toks[k][:2] == ("O", ","):
            e = k + 1
    element = toks[e:]
    if not element:
        return [Item(w, "keyword", "table constraint") for w in TABLE_ELEMENT_KEYWORDS]
    if element[0][1] in ("constraint", "primary", "unique", "foreign", "check", "exclude"):
        return []
    if len(element) == 1:
        return _type_items(m)
    last = element[-1]
    if last[:2] == ("W", "default") or partial_string:
        if partial_string and not (len(element) >= 2 and element[-1][:2] == ("W", "default")):
            return []
        type_name = element[1][1]
        if len(element) > 3 and element[2][:2] == ("O", "."):
            type_name = f"{element[1][1]}.{element[3][1]}"
        enum = _enum_of(m, type_name)
        if enum is None:
            return []
        return [Item(quote_literal(v), "value", f"value of {_name(enum.schema, enum.name)}",
                     insert=v if partial_string else quote_literal(v)) for v in enum.values]
    if last[0] == "W" and last[1] in ("not", "default", "references", "check", "generated",
                                      "collate", "primary"):
        if last[1] == "not":
            return [Item("NULL", "keyword")]
        if last[1] == "primary":
            return [Item("KEY", "keyword")]
        return []
    return [Item(w, "keyword", "column clause") for w in COLUMN_KEYWORDS]


_EXTENSION_TYPES = """
SELECT n.nspname, t.typname FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
JOIN pg_depend d ON d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e'
WHERE t.typtype IN ('b', 'd', 'e', 'r', 'm') AND t.typcategory <> 'A'
ORDER BY 1, 2"""


def extension_types(url: str) -> tuple[str, ...]:
    """The types extensions installed in the live database (citext, vector, geometry...):
    the structural model cannot know them. Blocking: call it from a worker thread."""
    from trimtab.sources import shadow

    with shadow.connect(url) as conn:
        rows = conn.execute(_EXTENSION_TYPES).fetchall()
    return tuple(dict.fromkeys(_name(s, n) for s, n in rows if not n.startswith("_")))


view_tables = _view_tables  # shared with navigate (a view's aliases, for references)
