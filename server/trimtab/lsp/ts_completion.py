"""Completion in a Drizzle ``schema.ts`` where TypeScript's own server has nothing to say:
what the database calls things, and what only the database knows.

- ``.references(() => |``: the schema's table variables (one of another file with its
  import), and the tables the live database has that no schema file declares (noted);
  ``.references(() => users.|``: that table's column properties, with their database
  names and types (and the live table's columns the file lacks, noted);
- a table's callback ``(t) => [index("x").on(|`` or ``.on(t.|``: the enclosing table's
  columns (``t.prop``);
- after a column's key ``email: |``: column type builders named for it (``text("email")``,
  ``varchar("email", { length: 256 })``, the schema's enum builders, pgvector's ``vector``
  when the live database has the extension), the live column's own type first, each with
  its drizzle-orm/pg-core import when the file lacks it;
- ``pgTable("|``: the live tables no schema file declares; a new property of a table's
  columns: the live table's columns the object lacks, as whole properties;
- inside a ``sql`` template: the database names of the enclosing table's columns and of
  the tables (``name.|``: that table's columns).

Pure: the document's text and the cursor, a ``Catalog`` made from the last read of the
Drizzle schema, and the live model in; items out. The position's context comes from
tree-sitter's tree of the declaration around the cursor, parsed with a placeholder word
at the cursor (an unfinished expression still parses as one), never from a regex over the
text.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from tree_sitter import Node, Parser

from trimtab.lsp.completion import Item
from trimtab.memo import ByteLRU, MiB
from trimtab.model import EnumType, Model, quote_ident
from trimtab.sources.drizzle import (
    TS,
    TSX,
    DrizzleSchema,
    Module,
    parse_module,
    read_disk,
    to_camel_case,
    to_snake_case,
)
from trimtab.sources.sqlfile import split_statements, structural_model

_MARK = "__trimtab_cursor__"
_IDENT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$")
# Expressions an unfinished one at the cursor may have been read into (the words after it
# taken as its call, member or operand): climbed over to find where the cursor's sits.
_EXPRESSIONS = frozenset(("call_expression", "member_expression", "binary_expression",
                          "subscript_expression", "as_expression", "non_null_expression",
                          "ternary_expression", "sequence_expression", "satisfies_expression",
                          "type_assertion", "augmented_assignment_expression",
                          "assignment_expression", "instantiation_expression"))


@dataclass(frozen=True)
class TsItem(Item):
    # text to insert elsewhere in the document with it: (character offset, text), e.g.
    # the builder added to the drizzle-orm/pg-core import
    edits: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class TsColumn:
    prop: str  # the property key in the columns object
    name: str  # the database column's name
    type: str  # its PostgreSQL type, as the structural model reads it


@dataclass(frozen=True)
class TsTable:
    var: str | None  # the const it is declared as (None: not a plain const)
    schema: str
    name: str
    file: str
    columns: tuple[TsColumn, ...]


@dataclass(frozen=True)
class TsEnum:
    var: str
    schema: str
    name: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Catalog:
    """What a read of the Drizzle schema declares, by the names the TypeScript uses."""

    tables: tuple[TsTable, ...] = ()
    enums: tuple[TsEnum, ...] = ()

    def by_var(self, var: str) -> TsTable | None:
        return next((tb for tb in self.tables if tb.var == var), None)

    def by_name(self, name: str, schema: str | None = None) -> TsTable | None:
        return next((tb for tb in self.tables if tb.name == name and
                     (schema is None or tb.schema == schema)), None)


# What the tables' texts gave (a read per keystroke, most tables unchanged): by the text of
# the table's call and of its CREATE TABLE; and each statement's structural model.
_COLUMNS: ByteLRU[tuple[str, str], tuple[TsColumn, ...]] = ByteLRU(
    "lsp.ts_completion.columns", 16 * MiB,
    lambda key, cols: 2 * (len(key[0]) + len(key[1])) + 200 * len(cols))
_MODELS: ByteLRU[str, Model] = ByteLRU("lsp.ts_completion.models", 16 * MiB,
                                       lambda text, _: 6 * len(text))


def _model_of(text: str) -> Model:
    got = _MODELS.get(text)
    if got is None:
        got = _MODELS[text] = structural_model(split_statements(text, "<drizzle>.sql"))[0]
    return got


# The last reads' catalogs: the reader gives the same schema object for the same text,
# and completion asks again at each keystroke that does not change it (a `.`, a space).
_LAST: list[tuple[DrizzleSchema, Catalog]] = []


def catalog(ds: DrizzleSchema, texts: Mapping[str, str]) -> Catalog:
    """The tables and enums of a read, with the variable names and property keys of the
    texts it was read from (``texts``: file name -> text)."""
    for seen, cat in _LAST:
        if seen is ds:
            return cat
    cat = _catalog(ds, texts)
    _LAST[:] = [(ds, cat), *_LAST[:1]]  # (a read holds its DDL: a few MB at most)
    return cat


def _catalog(ds: DrizzleSchema, texts: Mapping[str, str]) -> Catalog:
    creates = {st.object_key: st.text for st in ds.statements
               if st.object_key is not None and st.kind.startswith("CREATE ")}
    modules: dict[str, Module] = {}
    tables: list[TsTable] = []
    enums: list[TsEnum] = []
    for key, span in ds.spans.items():
        if key[0] not in ("table", "type") or span.file not in texts or key not in creates:
            continue
        mod = modules.get(span.file)
        if mod is None:
            mod = modules[span.file] = parse_module(span.file, texts[span.file], given=True)
        node = _node_at(mod, span.start_offset, span.end_offset)
        var = _declared_as(mod, node) if node is not None else None
        if key[0] == "type":
            ty = _model_of(creates[key]).types.get(key)
            if isinstance(ty, EnumType) and var is not None:
                enums.append(TsEnum(var, key[1], key[2], ty.values))
            continue
        memo = (mod.text[span.start_offset:span.end_offset], creates[key])
        cols = _COLUMNS.get(memo)
        if cols is None:
            tb = _model_of(creates[key]).tables.get(key)
            if tb is None:
                continue
            cols = _COLUMNS[memo] = tuple(
                TsColumn(_prop(ds, mod, key, c.name, modules) or c.name, c.name, c.type)
                for c in tb.columns)
        tables.append(TsTable(var, key[1], key[2], span.file, cols))
    return Catalog(tuple(tables), tuple(enums))


def _prop(ds: DrizzleSchema, mod: Module, table: tuple[str, ...], column: str,
          modules: dict[str, Module]) -> str | None:
    """The property key a column is declared under: in the table's file, or in the file
    of a helper whose columns it spreads (``...timestamps()``), read as the reader did."""
    span = ds.spans.get(("column", table[1], table[2], column))
    if span is None:
        return None
    if span.file != mod.name:
        other = modules.get(span.file)
        if other is None:
            text = read_disk(span.file)
            if text is None:
                return None
            other = modules[span.file] = parse_module(span.file, text, given=False)
        mod = other
    pair = _node_at(mod, span.start_offset, span.end_offset)
    while pair is not None and pair.type != "pair":
        pair = pair.parent
    key = pair.child_by_field_name("key") if pair is not None else None
    return _key_text(mod.src(key)) if key is not None else None


def merge(now: Catalog, before: Catalog | None) -> Catalog:
    """``now``, with the tables and enums of ``before`` that ``now`` lost (a line being
    written can cost the reader the table it sits in)."""
    if before is None:
        return now
    have = {(tb.schema, tb.name) for tb in now.tables}
    enums = {(e.schema, e.name) for e in now.enums}
    return Catalog(now.tables + tuple(tb for tb in before.tables
                                      if (tb.schema, tb.name) not in have),
                   now.enums + tuple(e for e in before.enums
                                     if (e.schema, e.name) not in enums))


def _node_at(mod: Module, start: int, end: int) -> Node | None:
    """The node of a span (character offsets) of a module."""
    data, text = mod.data, mod.text
    if len(data) == len(text):
        a, b = start, end
    else:
        a = len(text[:start].encode("utf-8", "surrogatepass"))
        b = a + len(text[start:end].encode("utf-8", "surrogatepass"))
    return mod.root.descendant_for_byte_range(a, b)


def _declared_as(mod: Module, node: Node) -> str | None:
    """The const a table's call is the value of (``export const users = pgTable(...)``)."""
    n: Node | None = node
    while n is not None and n.type != "variable_declarator":
        if n.type in ("arguments", "object", "program", "statement_block"):
            return None  # the call sits inside another expression
        n = n.parent
    name = n.child_by_field_name("name") if n is not None else None
    return mod.src(name) if name is not None and name.type == "identifier" else None


def _key_text(key: str) -> str:
    return key[1:-1] if key[:1] in ("'", '"') and key[-1:] == key[:1] else key


# -- the position ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def _parser(tsx: bool) -> Parser:
    return Parser(TSX if tsx else TS)


@dataclass(frozen=True)
class _At:
    """The region of the document around the cursor, parsed with a placeholder word at
    the cursor."""

    root: Node
    data: bytes
    mark: int  # byte offset of the placeholder
    prefix: str  # the word typed before the cursor
    doc: Module  # the head of the document: its imports
    cursor: int  # where the head ends (imports after it are not seen)

    def src(self, n: Node) -> str:
        return self.data[n.start_byte:n.end_byte].decode("utf-8", "replace")


# How a top-level declaration starts a line: where the text is cut to parse the one
# around the cursor (a whole 1 MB file takes a quarter of a second to parse)
_WORDS = ("export", "const", "let", "var", "function", "class", "type", "interface",
          "enum", "declare")
_TOP = tuple(f"\n{w} " for w in (*_WORDS, "import"))
_NEXT_TOP = re.compile("\n(?:" + "|".join((*_WORDS, "import")) + ") ")
_FIRST_DECLARATION = re.compile("\n(?:" + "|".join(_WORDS) + ") ")


def _parse_at(text: str, offset: int, tsx: bool) -> _At:
    """The top-level declaration around the cursor, parsed with a placeholder at the
    cursor, and the imports at the head of the file."""
    a = max(text.rfind(top, 0, offset) for top in _TOP) + 1
    after = _NEXT_TOP.search(text, offset)
    e = after.start() + 1 if after else len(text)
    start = offset
    while start > a and text[start - 1] in _IDENT_CHARS:
        start -= 1
    marked = text[a:start] + _MARK + text[offset:e]
    data = marked.encode("utf-8", "surrogatepass")
    mark = len(text[a:start].encode("utf-8", "surrogatepass"))
    # the head: up to the first declaration that is not an import
    first = _FIRST_DECLARATION.search(text, 0, a)
    head = text[:first.start() + 1 if first else a]
    head_data = head.encode("utf-8", "surrogatepass")
    doc = Module("<head>", head, head_data, _parser(tsx).parse(head_data).root_node, True)
    return _At(_parser(tsx).parse(data).root_node, data, mark, text[start:offset], doc,
               len(head_data))


def _ancestors(n: Node | None) -> Iterator[Node]:
    while n is not None:
        yield n
        n = n.parent


def _expression_top(n: Node) -> Node:
    """The largest expression that starts where ``n`` starts: what the words written
    after an unfinished expression were read into."""
    while n.parent is not None and n.parent.type in _EXPRESSIONS and \
            n.parent.start_byte == n.start_byte:
        n = n.parent
    return n


def _callee(call: Node, at: _At) -> tuple[str | None, str | None]:
    """(object, name) of a call's function: ``x.on(...)`` -> ("x", "on"); ``sql`...``` ->
    (None, "sql")."""
    fn = call.child_by_field_name("function")
    if fn is None:
        return None, None
    if fn.type == "identifier":
        return None, at.src(fn)
    if fn.type == "member_expression":
        prop = fn.child_by_field_name("property")
        obj = fn.child_by_field_name("object")
        return (at.src(obj) if obj is not None else None,
                at.src(prop) if prop is not None else None)
    return None, None


def _args(call: Node) -> list[Node]:
    args = call.child_by_field_name("arguments")
    return [a for a in args.named_children if a.type != "comment"] if args is not None else []


def _table_call(n: Node, at: _At) -> Node | None:
    """The table call around ``n``: ``pgTable("name", { ...columns }, (t) => [...])`` (or
    a schema's ``.table``, or a pgTableCreator's function): a string, then an object."""
    for a in _ancestors(n.parent):
        if a.type == "call_expression" and _is_table_function(_callee(a, at)[1]):
            args = _args(a)
            if len(args) >= 2 and args[0].type == "string" and args[1].type == "object":
                return a
    return None


def _is_table_function(name: str | None) -> bool:
    """pgTable, a pgSchema's ``.table``, a pgTableCreator's function (``createTable``)."""
    return name is not None and (name == "table" or name.endswith("Table"))


def _string_value(n: Node, at: _At) -> str:
    return "".join(at.src(c) for c in n.named_children if c.type == "string_fragment")


# -- completion --------------------------------------------------------------------------------


def complete(text: str, offset: int, cat: Catalog, live: Model | None = None,
             casing: str | None = None, extensions: tuple[str, ...] = (),
             tsx: bool = False, path: str | None = None) -> list[Item]:
    """What fits at ``offset`` in ``text`` (a schema .ts file, ``path`` when it is one:
    then a table of another file comes with its import); ``extensions``: the names of the
    extensions installed in the live database; ``casing``: drizzle's option (then a
    builder needs no column name)."""
    at = _parse_at(text, offset, tsx)
    node = at.root.descendant_for_byte_range(at.mark, at.mark + len(_MARK))
    if node is None:
        return []
    for a in _ancestors(node):
        if a.type == "template_string":
            return _in_sql(a, at, cat, live, text[:offset])
    if node.type == "string_fragment" and node.parent is not None:
        return _table_name(node.parent, at, cat, live)
    if node.type in ("shorthand_property_identifier", "property_identifier") and \
            node.parent is not None and (node.parent.type == "object" or (
                node.parent.type == "pair" and
                node.parent.child_by_field_name("key") == node)):
        obj = node.parent if node.parent.type == "object" else node.parent.parent
        table = _table_call(obj, at) if obj is not None else None
        if obj is None or table is None or _args(table)[1] != obj:
            return []
        return _live_columns(table, obj, at, cat, live, casing)
    if node.type == "property_identifier" and node.parent is not None and \
            node.parent.type == "member_expression":
        obj = node.parent.child_by_field_name("object")
        if obj is None or obj.type != "identifier":
            return []
        return _after_dot(_expression_top(node.parent), at.src(obj), at, cat, live)
    if node.type != "identifier":
        return []
    top = _expression_top(node)
    parent = top.parent
    if parent is None:
        return []
    if parent.type == "arrow_function" and parent.child_by_field_name("body") == top and \
            _is_references(parent, at):
        return _reference_tables(cat, live, at, path)
    if parent.type == "pair" and parent.child_by_field_name("value") == top:
        table = _table_call(parent, at)
        if table is not None and parent.parent == _args(table)[1]:
            key = parent.child_by_field_name("key")
            return _builders(_key_text(at.src(key)) if key is not None else "", table, at,
                             cat, live, casing, extensions)
    if parent.type in ("arguments", "array"):
        cols = _index_columns(parent, at, cat)
        if cols is not None:
            param, own = cols
            return [Item(f"{param}.{c.prop}", "column", _column_detail(c, own),
                         insert=f"{param}.{c.prop}") for c in own.columns]
    return []


_NOT_IN_SCHEMA = "is in the database but not in the schema"


def _table_name(string: Node, at: _At, cat: Catalog, live: Model | None) -> list[Item]:
    """``pgTable("|``: the live database's tables no schema file declares yet."""
    args = string.parent
    call = args.parent if args is not None and args.type == "arguments" else None
    if call is None or _args(call)[:1] != [string] or live is None:
        return []
    name = _callee(call, at)[1]
    if not _is_table_function(name):
        return []
    declared = {(tb.schema, tb.name) for tb in cat.tables}
    # pgTable: public's; a pgSchema's `.table`: the other schemas'
    return [Item(lt.name, "table", f"table {_qualified(lt.schema, lt.name)} {_NOT_IN_SCHEMA}",
                 insert=lt.name)
            for lt in live.tables.values()
            if (lt.schema == "public") == (name != "table") and
            (lt.schema, lt.name) not in declared]


def _live_columns(table_call: Node, obj: Node, at: _At, cat: Catalog, live: Model | None,
                  casing: str | None) -> list[Item]:
    """At a property's key in a table's columns: the live table's columns that the
    object does not declare, as whole properties."""
    own = _catalog_table(table_call, at, cat)
    schema, name = (own.schema, own.name) if own else (
        "public", _string_value(_args(table_call)[0], at))
    lt = live.tables.get(("table", schema, name)) if live is not None else None
    if lt is None:
        return []
    declared = {c.name for c in own.columns} if own else set()
    for pair in obj.named_children:
        key = pair.child_by_field_name("key") if pair.type == "pair" else None
        if key is None:
            continue
        prop = _key_text(at.src(key))
        declared.update((prop, to_snake_case(prop)))
        # the builder's name: the innermost call's string (`.default("x")` is not one)
        value = pair.child_by_field_name("value")
        named = None
        while value is not None and value.type in ("call_expression", "member_expression"):
            if value.type == "call_expression":
                first = _args(value)[:1]
                named = _string_value(first[0], at) if first and first[0].type == "string" \
                    else None
                value = value.child_by_field_name("function")
            else:
                value = value.child_by_field_name("object")
        if named is not None:
            declared.add(named)
    out: list[Item] = []
    for c in lt.columns:
        if c.name in declared:
            continue
        builder = _for_type(c.type, None if casing else c.name, cat)
        if builder is None:
            continue
        prop = to_camel_case(c.name)
        body = f"{prop}: {builder}{'.notNull()' if c.not_null else ''},"
        out.append(Item(prop, "column", f"column {quote_ident(c.name)} {c.type} "
                        f"{_NOT_IN_SCHEMA}", insert=body, snippet="$" in body))
    return out


def _is_references(arrow: Node, at: _At) -> bool:
    """``arrow`` is the function of ``.references(() => ...)``."""
    args = arrow.parent
    call = args.parent if args is not None and args.type == "arguments" else None
    return call is not None and call.type == "call_expression" and \
        _callee(call, at)[1] == "references" and _args(call)[:1] == [arrow]


def _column_detail(c: TsColumn, table: TsTable) -> str:
    return f"column {quote_ident(c.name)} {c.type} of {_qualified(table.schema, table.name)}"


def _qualified(schema: str, name: str) -> str:
    return quote_ident(name) if schema == "public" else f"{quote_ident(schema)}.{quote_ident(name)}"


def _reference_tables(cat: Catalog, live: Model | None, at: _At,
                      path: str | None) -> list[Item]:
    out: list[Item] = []
    imports = _imports(at) if path is not None else None
    for tb in cat.tables:
        if tb.var is None:
            continue
        detail = f"table {_qualified(tb.schema, tb.name)}"
        if path is None or imports is None or os.path.abspath(tb.file) == os.path.abspath(
                path):
            out.append(Item(tb.var, "table", detail))
            continue
        # declared in another schema file: it comes with its import
        spec = _specifier(path, tb.file, imports.js)
        out.append(TsItem(tb.var, "table", f"{detail} ({spec})",
                          edits=_import_edit(at, imports, tb.var, spec)))
    if live is not None:
        declared = {(tb.schema, tb.name) for tb in cat.tables}
        for lt in live.tables.values():
            if (lt.schema, lt.name) not in declared:
                var = to_camel_case(lt.name)
                out.append(Item(var, "table", f"table {_qualified(lt.schema, lt.name)} "
                                f"{_NOT_IN_SCHEMA}: declare it first"))
    return out


def _after_dot(expr: Node, obj: str, at: _At, cat: Catalog, live: Model | None) -> list[Item]:
    """``X.|``: a table's columns inside ``.references(() => X.|)``, or the index callback
    parameter's inside the table's callback."""
    parent = expr.parent
    if parent is None:
        return []
    if parent.type == "arrow_function" and parent.child_by_field_name("body") == expr and \
            _is_references(parent, at):
        table = cat.by_var(obj)
        if table is None:
            return []
        items = [Item(c.prop, "column", _column_detail(c, table)) for c in table.columns]
        lt = live.tables.get(("table", table.schema, table.name)) if live else None
        if lt is not None:
            have = {c.name for c in table.columns}
            items += [Item(to_camel_case(c.name), "column",
                           f"column {quote_ident(c.name)} {c.type} {_NOT_IN_SCHEMA}: "
                           "declare it first")
                      for c in lt.columns if c.name not in have]
        return items
    if parent.type in ("arguments", "array"):
        cols = _index_columns(parent, at, cat)
        if cols is not None and cols[0] == obj:
            return [Item(c.prop, "column", _column_detail(c, cols[1]))
                    for c in cols[1].columns]
    return []


def _index_columns(parent: Node, at: _At, cat: Catalog) -> tuple[str, TsTable] | None:
    """(the callback's parameter, the enclosing table) when ``parent`` is the column list
    of an index, a unique or primary key or a foreign key's ``columns`` inside a table's
    extra-config callback: ``(t) => [index("x").on(|)]``."""
    if parent.type == "arguments":
        call = parent.parent
        if call is None or _callee(call, at)[1] not in ("on", "onOnly", "using"):
            return None
    else:  # `columns: [...]` of primaryKey / foreignKey / unique
        pair = parent.parent
        key = pair.child_by_field_name("key") if pair is not None and pair.type == "pair" \
            else None
        if key is None or at.src(key) not in ("columns", "foreignColumns"):
            return None
        if at.src(key) == "foreignColumns":
            return None  # another table's: TypeScript knows them
    for a in _ancestors(parent):
        if a.type == "arrow_function":
            table = _table_call(a, at)
            if table is None or a not in _args(table)[2:]:
                continue
            param = _first_param(a, at)
            found = _catalog_table(table, at, cat)
            if param is None or found is None:
                return None
            return param, found
    return None


def _first_param(arrow: Node, at: _At) -> str | None:
    single = arrow.child_by_field_name("parameter")
    if single is not None:
        return at.src(single)
    params = arrow.child_by_field_name("parameters")
    for p in params.named_children if params is not None else ():
        pattern = p.child_by_field_name("pattern") or p
        return at.src(pattern) if pattern.type == "identifier" else None
    return None


def _catalog_table(call: Node, at: _At, cat: Catalog) -> TsTable | None:
    """The catalog's table for a table call: by its const, else by its name."""
    for a in _ancestors(call.parent):
        if a.type == "variable_declarator":
            name = a.child_by_field_name("name")
            found = cat.by_var(at.src(name)) if name is not None else None
            if found is not None:
                return found
            break
        if a.type in ("arguments", "object", "program"):
            break
    return cat.by_name(_string_value(_args(call)[0], at))


# -- column type builders ----------------------------------------------------------------------

# (builder, its options after the name) in the order people reach for them
_BUILDERS = (("text", ""), ("varchar", "{ length: ${1:256} }"), ("integer", ""),
             ("bigint", '{ mode: "${1|number,bigint|}" }'), ("boolean", ""),
             ("timestamp", "{ withTimezone: true }"), ("uuid", ""), ("jsonb", ""),
             ("serial", ""), ("numeric", "{ precision: ${1:10}, scale: ${2:2} }"),
             ("date", ""), ("smallint", ""), ("real", ""), ("doublePrecision", ""),
             ("json", ""), ("bigserial", '{ mode: "number" }'), ("char", "{ length: ${1:1} }"),
             ("time", ""), ("interval", ""), ("inet", ""), ("cidr", ""), ("macaddr", ""))


def _call(builder: str, column: str | None, options: str) -> str:
    args = [f'"{column}"'] if column is not None else []
    if options:
        args.append(options)
    return f"{builder}({', '.join(args)})"


def _plain(snippet: str) -> str:
    """A snippet's label: its placeholders' defaults."""
    out, k = [], 0
    while k < len(snippet):
        if snippet.startswith("${", k):
            e = snippet.index("}", k)
            inner = snippet[k + 2:e]
            out.append(inner.split("|")[1].split(",")[0] if "|" in inner else
                       inner.partition(":")[2])
            k = e + 1
        else:
            out.append(snippet[k])
            k += 1
    return "".join(out)


def _builders(key: str, table_call: Node, at: _At, cat: Catalog, live: Model | None,
              casing: str | None, extensions: tuple[str, ...]) -> list[Item]:
    """Builders for the column ``key``: named for it as drizzle-kit would name the column
    (no name with a ``casing`` option, which names it)."""
    if not key:
        return []
    column = None if casing else to_snake_case(key)
    db_name = to_snake_case(key) if casing != "camelCase" else key
    out: list[Item] = []
    table = _catalog_table(table_call, at, cat)
    table_name = table.name if table else _string_value(_args(table_call)[0], at)
    table_schema = table.schema if table else "public"
    live_col = None
    if live is not None:
        lt = live.tables.get(("table", table_schema, table_name))
        live_col = next((c for c in lt.columns if c.name == db_name), None) if lt else None
    imported = _imports(at)
    enums = {e.var for e in cat.enums}

    def item(body: str, detail: str) -> TsItem:
        builder = body.split("(", 1)[0]
        edit = () if builder in enums else _import_edit(at, imported, builder)
        return TsItem(_plain(body), "type", detail, insert=body, snippet="$" in body,
                      edits=edit)

    if live_col is not None:
        got = _for_type(live_col.type, column, cat)
        if got is not None:
            out.append(item(got, f"as {quote_ident(live_col.name)} is in the database: "
                                 f"{live_col.type}"))
    for e in cat.enums:
        out.append(item(_call(e.var, column, ""),
                        f"enum {_qualified(e.schema, e.name)}: {', '.join(e.values)}"))
    for builder, options in _BUILDERS:
        out.append(item(_call(builder, column, options), _PG_CORE))
    if "vector" in extensions:
        out.append(item(_call("vector", column, "{ dimensions: ${1:1536} }"),
                        "pgvector (installed in the database)"))
    seen: set[str] = set()
    return [i for i in out if not (i.label in seen or seen.add(i.label))]  # type: ignore[func-returns-value]


_PG_CORE = "drizzle-orm/pg-core"


@dataclass(frozen=True)
class _Imports:
    """The imports at the head of the document."""

    names: frozenset[str]  # every local name they bring
    clauses: Mapping[str, Node]  # module specifier -> its ``{...}`` clause
    namespaces: frozenset[str]  # specifiers imported as `* as x`
    last: Node | None  # the last import statement
    js: bool  # relative specifiers are written with `.js` (NodeNext resolution)


def _imports(at: _At) -> _Imports:
    doc = at.doc
    names: set[str] = set()
    clauses: dict[str, Node] = {}
    namespaces: set[str] = set()
    last = None
    js = False
    for st in doc.root.named_children:
        if st.type != "import_statement" or st.end_byte > at.cursor:
            continue
        last = st
        source = st.child_by_field_name("source")
        spec = doc.src(source)[1:-1] if source is not None else ""
        js = js or (spec.startswith(".") and spec.endswith(".js"))
        for c in _descendants(st):
            if c.type == "named_imports":
                clauses.setdefault(spec, c)
            elif c.type == "import_specifier":
                alias = c.child_by_field_name("alias") or c.child_by_field_name("name")
                if alias is not None:
                    names.add(doc.src(alias))
            elif c.type == "namespace_import":
                namespaces.add(spec)
    return _Imports(frozenset(names), clauses, frozenset(namespaces), last, js)


def _descendants(n: Node) -> Iterator[Node]:
    stack = [n]
    while stack:
        x = stack.pop()
        yield x
        stack.extend(reversed(x.named_children))


def _import_edit(at: _At, imports: _Imports, name: str,
                 spec: str = _PG_CORE) -> tuple[tuple[int, str], ...]:
    """The edit that imports ``name`` from ``spec``, unless the file has it already."""
    if name in imports.names or spec in imports.namespaces:
        return ()
    char = at.doc.char
    clause = imports.clauses.get(spec)
    if clause is not None:
        specs = [c for c in clause.named_children if c.type == "import_specifier"]
        if specs:
            return ((char(specs[-1].end_byte), f", {name}"),)
        return ((char(clause.start_byte + 1), f" {name} "),)
    line = f'import {{ {name} }} from "{spec}";'
    if imports.last is None:
        return ((0, line + "\n"),)
    return ((char(imports.last.end_byte), "\n" + line),)


def _specifier(path: str, target: str, js: bool) -> str:
    """How ``path`` imports ``target`` (both files): relative, the ending as the file's
    other imports write it."""
    rel = os.path.relpath(os.path.splitext(target)[0], os.path.dirname(path))
    rel = rel.replace(os.sep, "/")
    if not rel.startswith("."):
        rel = f"./{rel}"
    return rel + (".js" if js else "")


_SIMPLE = {"text": "text", "integer": "integer", "boolean": "boolean", "uuid": "uuid",
           "jsonb": "jsonb", "json": "json", "date": "date", "smallint": "smallint",
           "real": "real", "double precision": "doublePrecision", "inet": "inet",
           "cidr": "cidr", "macaddr": "macaddr", "interval": "interval",
           "timestamp without time zone": "timestamp", "time without time zone": "time",
           "numeric": "numeric", "bytea": "bytea"}


def _for_type(pg_type: str, column: str | None, cat: Catalog) -> str | None:
    """The builder call that declares a live column's type (a snippet), if one does."""
    if pg_type in _SIMPLE:
        return _call(_SIMPLE[pg_type], column, "")
    if pg_type == "bigint":
        return _call("bigint", column, '{ mode: "${1|number,bigint|}" }')
    if pg_type == "timestamp with time zone":
        return _call("timestamp", column, "{ withTimezone: true }")
    # an extension's type is qualified when its schema is not on the search path
    unqualified = pg_type.split(".", 1)[1] if pg_type.startswith(("public.", "extensions.")) \
        else pg_type
    for prefix, builder, option in (("character varying(", "varchar", "length"),
                                    ("character(", "char", "length"),
                                    ("vector(", "vector", "dimensions")):
        if unqualified.startswith(prefix) and unqualified.endswith(")"):
            return _call(builder, column, f"{{ {option}: {unqualified[len(prefix):-1]} }}")
    if pg_type.startswith("numeric(") and pg_type.endswith(")"):
        p, _, s = pg_type[8:-1].partition(",")
        scale = f", scale: {s.strip()}" if s else ""
        return _call("numeric", column, f"{{ precision: {p.strip()}{scale} }}")
    bare = pg_type.removeprefix("public.").strip('"')
    for e in cat.enums:
        if e.name == bare or f"{e.schema}.{e.name}" == pg_type:
            return _call(e.var, column, "")
    return None


# -- sql templates -----------------------------------------------------------------------------


def _in_sql(template: Node, at: _At, cat: Catalog, live: Model | None,
            before: str) -> list[Item]:
    """Inside ``sql`...```: the database's names (TypeScript sees only a string)."""
    call = template.parent
    if call is None or call.type != "call_expression" or _callee(call, at) != (None, "sql"):
        return []
    # Inside `${...}`: TypeScript's
    if any(a.type == "template_substitution" for a in _ancestors(
            at.root.descendant_for_byte_range(at.mark, at.mark + len(_MARK)))):
        return []
    rest = before[:len(before) - len(at.prefix)]
    if rest.endswith("."):  # name.| : that table's columns
        k = len(rest) - 1
        a = k
        while a > 0 and (rest[a - 1] in _IDENT_CHARS or rest[a - 1] == '"'):
            a -= 1
        name = rest[a:k].strip('"')
        table = cat.by_name(name)
        if table is not None:
            return [Item(quote_ident(c.name), "column", _column_detail(c, table))
                    for c in table.columns]
        lt = next((x for x in live.tables.values() if x.name == name), None) if live else None
        return [Item(quote_ident(c.name), "column", f"column {c.type} (database)")
                for c in lt.columns] if lt is not None else []
    out: list[Item] = []
    table_call = _table_call(call, at)
    if table_call is not None:
        own = _catalog_table(table_call, at, cat)
        if own is not None:
            out += [Item(quote_ident(c.name), "column", _column_detail(c, own))
                    for c in own.columns]
    seen = set()
    for tb in cat.tables:
        label = _qualified(tb.schema, tb.name)
        seen.add(label)
        out.append(Item(label, "table", f"table{f' ({tb.var})' if tb.var else ''}"))
    if live is not None:
        for lt in live.tables.values():
            label = _qualified(lt.schema, lt.name)
            if label not in seen:
                out.append(Item(label, "table", "table (database, not in the schema)"))
    return out
