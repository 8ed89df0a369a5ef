"""Outline, go-to-definition and the object under the cursor, for schema files.

Pure and fast: everything comes from ``sqlfile`` (the structural model, ``object_spans``
with PostgreSQL's generated names, the statement lexer); this module arranges it into an
outline and reads the few tokens around a cursor. No I/O, no LSP types: offsets are
character offsets into a file's text and results are ``Span``s, for the server to convert.
Nothing here raises on any text (an internal error gives an empty answer; with
``sqlfile.strict()`` on, as the tests set it, it raises instead so that bugs show).

Names follow PostgreSQL: unquoted identifiers fold to lower case, quoted ones keep theirs,
and an unqualified name is in ``public`` (``search_path`` is not evaluated, as in sqlfile).
The cursor is only ever matched against real tokens, never inside strings, comments or
dollar-quoted bodies.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from trimtab.model import (
    RESERVED,
    CompositeType,
    Domain,
    EnumType,
    Index,
    Model,
    Table,
    View,
    quote_literal,
)
from trimtab.sources import sqlfile
from trimtab.sources.sqlfile import (
    Span,
    Statement,
    Tok,
    head_tokens,
    lex,
    name_value,
    object_spans,
    split_qname,
    structural_model,
    sub_span,
)

__all__ = ["Symbol", "definition", "document_symbols", "object_at"]

Key = tuple[str, ...]
P = ParamSpec("P")
R = TypeVar("R")
D = TypeVar("D")  # the default a guarded function gives instead of failing


@dataclass(frozen=True)
class Symbol:
    """One entry of a file's outline.

    ``kind`` is one of: schema, table, column, enum, index, view, materialized_view,
    sequence, function, type (domains and composite types), constraint, trigger, policy.
    ``name`` is schema-qualified only outside ``public`` ("users", "app.orders"); children
    carry their own name ("email", "users_pkey"). ``selection`` is the name within
    ``span`` (the declaration's first words when it has no written name, as an unnamed
    constraint or index)."""

    name: str
    kind: str
    detail: str
    span: Span
    selection: Span
    children: tuple[Symbol, ...] = ()


# --------------------------------------------------------------------------------------
# What the statements declare, computed once per list of statements

# Objects listed under their table (or view) rather than at the top of the outline.
_CHILD_FAMILIES = frozenset({"column", "constraint", "trigger", "policy", "index"})
_TOP_FAMILIES = frozenset({"schema", "table", "type", "view", "sequence", "function"})


@dataclass(frozen=True)
class _Index:
    spans: Mapping[Key, Span]  # object_spans
    model: Model
    declared: dict[Key, Statement]  # objects a statement declares itself -> that statement
    files: dict[str, tuple[list[int], list[Statement]]]  # statements by start, per file
    indexes: dict[Key, tuple[Key, Index]]  # ("index", s, name) -> (its relation's key, it)
    functions: dict[tuple[str, str], Key]  # (schema, name) -> first declared overload

    def statement_at(self, file: str, offset: int) -> Statement | None:
        """The statement of ``file`` whose text holds ``offset`` (or ends right there)."""
        found = self.files.get(file)
        if found is None:
            return None
        starts, sts = found
        k = bisect.bisect_right(starts, offset) - 1
        if k < 0:
            return None
        st = sts[k]
        return st if offset <= st.span.end_offset else None


# One entry, swapped whole: the server asks for the outline, hover and definition of the
# same statements in a row, and object_spans costs more than everything here together.
_last: list[tuple[tuple[Statement, ...], _Index] | None] = [None]


def _index(statements: list[Statement]) -> _Index:
    statements = list(statements)
    key = tuple(statements)
    last = _last[0]
    if last is not None and last[0] == key:
        return last[1]
    model, _ = structural_model(statements)
    spans = object_spans(statements)
    declared: dict[Key, Statement] = {}
    by_file: dict[str, list[Statement]] = {}
    for st in statements:
        by_file.setdefault(st.span.file, []).append(st)
        k = st.object_key
        # Only the declaration that won (a duplicate's span is not the one recorded).
        if k is not None and spans.get(k) == st.span:
            declared[k] = st
    files = {}
    for f, sts in by_file.items():
        sts.sort(key=lambda s: s.span.start_offset)
        files[f] = ([s.span.start_offset for s in sts], sts)
    indexes: dict[Key, tuple[Key, Index]] = {}
    relations: list[Table | View] = [*model.tables.values(), *model.views.values()]
    for rel in relations:
        for ix in rel.indexes:
            indexes.setdefault(("index", rel.schema, ix.name), (rel.key, ix))
    functions: dict[tuple[str, str], Key] = {}
    for k in spans:
        if k[0] == "function":
            functions.setdefault((k[1], k[2]), k)
    result = _Index(spans, model, declared, files, indexes, functions)
    _last[0] = (key, result)
    return result


def _guarded(default: D) -> Callable[[Callable[P, R]], Callable[P, R | D]]:
    """Never fail on input: an internal error gives ``default`` (raises when strict)."""

    def wrap(fn: Callable[P, R]) -> Callable[P, R | D]:
        @functools.wraps(fn)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R | D:
            try:
                return fn(*args, **kwargs)
            except Exception:
                if sqlfile.strict():
                    raise
                return default

        return guarded

    return wrap


# --------------------------------------------------------------------------------------
# Outline


@_guarded(list[Symbol]())
def document_symbols(statements: list[Statement], file: str | None = None) -> list[Symbol]:
    """The outline of the statements (only of ``file`` when given), in file order: tables
    with their columns, constraints, indexes, triggers and policies (wherever those are
    declared), then every other declared object at the top level."""
    idx = _index(statements)
    spans = idx.spans
    tops: list[tuple[Key, Span]] = []
    kids: dict[Key, list[tuple[Key, Span]]] = {}
    # (schema, table) -> the parent to list children under, or None if it is not listed:
    # thousands of columns share a few parents, each looked up once
    parents: dict[Key, Key | None] = {}
    for key, span in spans.items():
        if file is not None and span.file != file:
            continue
        family = key[0]
        if family in _CHILD_FAMILIES:
            where = key[:3]  # an index's key is its own: ("index", schema, name)
            if where in parents:
                parent = parents[where]
            else:
                parent = _parent(idx, key)
                if parent is not None and (parent not in spans or (
                        file is not None and spans[parent].file != file)):
                    parent = None
                parents[where] = parent
            if parent is not None:
                kids.setdefault(parent, []).append((key, span))
            else:
                tops.append((key, span))  # its table is elsewhere (another file)
        elif family in _TOP_FAMILIES:
            if family == "sequence" and key not in idx.declared:
                continue  # a serial column's sequence: not declared as such
            tops.append((key, span))
    tops.sort(key=_position)
    out = []
    for key, span in tops:
        below = kids.get(key)
        children = _children(idx, key, below) if below else ()
        out.append(_symbol(idx, key, span, children))
    return out


def _position(item: tuple[Key, Span]) -> tuple[str, int]:
    return item[1].file, item[1].start_offset


def _parent(idx: _Index, key: Key) -> Key | None:
    if key[0] == "index":
        found = idx.indexes.get(key)
        return found[0] if found else None
    table = ("table", key[1], key[2])
    if table in idx.spans:
        return table
    view = ("view", key[1], key[2])
    return view if view in idx.spans else table


def _display(schema: str, name: str) -> str:
    return name if schema == "public" else f"{schema}.{name}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _children(idx: _Index, parent: Key, below: list[tuple[Key, Span]]) -> tuple[Symbol, ...]:
    """The symbols under a table or view. The hot loop of a large outline (thousands of
    columns): details come from per-table maps, and each name is read in the statement
    already at hand rather than looked up again."""
    below.sort(key=_position)
    table = idx.model.tables.get(parent)
    columns: dict[str, str] = {}
    constraints: dict[str, str] = {}
    if table is not None:
        pk = {c for con in table.constraints if con.kind == "p" for c in con.columns}
        for col in table.columns:
            flag = " PRIMARY KEY" if col.name in pk else " NOT NULL" if col.not_null else ""
            columns[col.name] = col.type + flag
        constraints = {con.name: con.definition for con in table.constraints}
    # the statement at hand (its offsets and text): most children are in the table's own
    st = idx.declared.get(parent)
    lo, hi, here, text = (st.span.start_offset, st.span.end_offset, st.span.file,
                          st.text) if st else (0, 0, "", "")
    name_at = _NAME_AT.match
    line_end = _LINE_END.search
    out: list[Symbol] = []
    append = out.append
    for key, span in below:
        family = key[0]
        start = span.start_offset
        if not (lo <= start < hi and span.file == here):
            st = idx.statement_at(span.file, start)
            if st is None:
                append(Symbol(key[-1], family, "", span, span))
                continue
            lo, hi, here, text = st.span.start_offset, st.span.end_offset, st.span.file, st.text
        if family == "column":
            # _selection inlined for the bulk of an outline: a column's name, on its line
            rel = start - lo
            m = name_at(text, rel)
            if m is not None and line_end(text, rel, m.end()) is None:
                n = m.end() - rel
                sel = Span(here, span.line, span.column, span.line, span.column + n - 1,
                           start, start + n)
            else:
                sel = _selection(idx, key, span, st)
            append(Symbol(key[3], family, columns.get(key[3], ""), span, sel))
        else:
            detail = constraints.get(key[3], "") if family == "constraint" else _child_detail(
                idx, key)
            append(Symbol(key[2] if family == "index" else key[3], family, detail, span,
                          _selection(idx, key, span, st)))
    return tuple(out)


def _symbol(idx: _Index, key: Key, span: Span, children: tuple[Symbol, ...] = ()) -> Symbol:
    """The symbol of one top-level object."""
    model = idx.model
    family = key[0]
    kind = family
    detail = ""
    name = key[-1]
    if family == "schema":
        name = key[1]
    elif family == "table":
        name = _display(key[1], key[2])
        t = model.tables.get(key)
        detail = _plural(len(t.columns), "column") if t is not None else ""
    elif family == "view":
        name = _display(key[1], key[2])
        v = model.views.get(key)
        if v is not None and v.materialized:
            kind, detail = "materialized_view", "materialized view"
        else:
            detail = "view"
    elif family == "type":
        name = _display(key[1], key[2])
        ty = model.types.get(key)
        if isinstance(ty, EnumType):
            kind, detail = "enum", ", ".join(quote_literal(v) for v in ty.values)
        elif isinstance(ty, Domain):
            detail = f"domain {ty.base_type}"
        elif isinstance(ty, CompositeType):
            detail = "(" + ", ".join(f"{n} {t}" for n, t in ty.attributes) + ")"
    elif family == "sequence":
        name = _display(key[1], key[2])
        seq = model.sequences.get(key)
        detail = seq.data_type if seq is not None else ""
    elif family == "function":
        name = _display(key[1], key[2])
        fn = model.functions.get(key)
        detail = f"({key[3]})"
        if fn is not None and fn.kind == "p":
            detail = "procedure " + detail
        elif fn is not None and fn.result:
            detail += f" returns {fn.result}"
    else:  # a child whose table is not in the outline: say which table
        detail = _child_detail(idx, key)
        if family != "index":
            detail = f"on {_display(key[1], key[2])}" + (f": {detail}" if detail else "")
    return Symbol(name, kind, detail, span, _selection(idx, key, span), children)


def _child_detail(idx: _Index, key: Key) -> str:
    family = key[0]
    if family == "index":
        found = idx.indexes.get(key)
        return "unique" if found is not None and found[1].unique else ""
    rel = idx.model.relation(key[1], key[2])
    if family == "column":
        if not isinstance(rel, Table):
            return ""
        col = rel.column(key[3])
        if col is None:
            return ""
        pk = any(c.kind == "p" and col.name in c.columns for c in rel.constraints)
        flag = " PRIMARY KEY" if pk else " NOT NULL" if col.not_null else ""
        return col.type + flag
    if family == "constraint" and isinstance(rel, Table):
        con = next((c for c in rel.constraints if c.name == key[3]), None)
        return con.definition if con is not None else ""
    if family == "trigger" and rel is not None:
        trg = next((x for x in rel.triggers if x.name == key[3]), None)
        if trg is not None and trg.function is not None:
            return f"{_display(*trg.function)}()"
    if family == "policy" and isinstance(rel, Table):
        pol = next((p for p in rel.policies if p.name == key[3]), None)
        if pol is not None:
            return pol.command if pol.permissive else f"{pol.command} restrictive"
    return ""


# -- where the name is


_LINE_END = re.compile(r"[\n\r]")
_NAME = r'(?:"(?:[^"]|"")*"|[^\W\d][\w$]*)'
_NAME_AT = re.compile(_NAME)
_CONSTRAINT_NAME = re.compile(
    rf"constraint(?:\s|--[^\n\r]*|/\*.*?\*/)+({_NAME})", re.I | re.S)
_CONSTRAINT_WORDS_AT = re.compile(
    r"(?:primary|foreign)\s+key|unique|check|references|exclude|not\s+null", re.I)
# The usual head of a declaration, to find its name without lexing (checked against the
# key's name; anything unusual goes to _head_name's token walk).
_HEAD = re.compile(
    rf"""create\s+(?:(?:or\s+replace|unique|unlogged|temp|temporary|materialized|recursive
    |constraint)\s+)*(?:table|view|type|domain|sequence|schema|function|procedure|index
    |trigger|policy)\s+(?:if\s+not\s+exists\s+)?(?P<n1>{_NAME})(?:\s*\.\s*(?P<n2>{_NAME}))?""",
    re.I | re.X)


def _selection(idx: _Index, key: Key, span: Span, st: Statement | None = None) -> Span:
    """Where the object's name is within its span. ``st``: the statement holding the span,
    when the caller knows it."""
    name = key[2] if key[0] == "function" else key[-1]
    own = idx.declared.get(key)
    if own is not None:
        return _head_selection(own, name, span)
    if st is None:
        st = idx.statement_at(span.file, span.start_offset)
        if st is None:
            return span
    rel = span.start_offset - st.span.start_offset
    if rel == 0 and span.end_offset == st.span.end_offset:
        return _head_selection(st, name, span)  # an unnamed index: its statement
    family = key[0]
    if family == "column":
        m = _NAME_AT.match(st.text, rel)
        if m is not None:
            return _within(st, span, rel, m.start(), m.end())
    elif family == "constraint":
        m = _CONSTRAINT_NAME.match(st.text, rel)
        if m is not None:
            return _within(st, span, rel, m.start(1), m.end(1))
        m = _CONSTRAINT_WORDS_AT.match(st.text, rel)  # unnamed: PRIMARY KEY, CHECK...
        if m is not None:
            return _within(st, span, rel, m.start(), m.end())
    return _first_line(st, span)


def _within(st: Statement, span: Span, rel: int, a: int, b: int) -> Span:
    """The span of ``st.text[a:b]``, a part of ``span`` (which starts at ``rel``)."""
    if _LINE_END.search(st.text, rel, b) is None:
        # on the span's first line (the usual case): no line lookup needed
        return Span(span.file, span.line, span.column + a - rel, span.line,
                    span.column + b - rel - 1, span.start_offset + a - rel,
                    span.start_offset + b - rel)
    return sub_span(st, a, b)


def _head_selection(st: Statement, name: str, span: Span) -> Span:
    m = _HEAD.match(st.text)
    if m is not None:
        last = "n2" if m.group("n2") is not None else "n1"
        if name_value(m.group(last)) == name:
            return sub_span(st, m.start("n1"), m.end(last))
    found = _head_name(st, name)
    return sub_span(st, *found) if found else _first_line(st, span)


def _first_line(st: Statement, span: Span) -> Span:
    """The span's first line (its own text up to the first line break)."""
    if span.line == span.end_line:
        return span
    rel = span.start_offset - st.span.start_offset
    m = _LINE_END.search(st.text, rel)
    end = m.start() if m else len(st.text)
    return sub_span(st, rel, max(end, rel + 1))


_IF_NOT_EXISTS = ("if", "not", "exists")


def _head_name(st: Statement, name: str) -> tuple[int, int] | None:
    """Offsets in ``st.text`` of the declared name (with its schema) in the statement's
    head; for a statement without a written name (CREATE INDEX ON t), its head words."""
    word = st.kind.rsplit(" ", 1)[-1].lower()  # "table", "view", "index", "function"...
    for limit in (10, 40):  # a head rarely needs more than 10 tokens: lex no further
        toks = head_tokens(st.text, limit)
        start = next((k for k, t in enumerate(toks) if t[0] == "W" and t[1] == word), None)
        if start is None:
            return None
        k = start + 1
        if tuple(t[1] if t[0] == "W" else "" for t in toks[k:k + 3]) == _IF_NOT_EXISTS:
            k += 3  # so that a table named "if" is still found
        for j in range(k, len(toks)):
            t = toks[j]
            if t[:2] == ("O", "("):
                break  # names come before any parenthesis
            if t[0] in ("W", "Q") and t[1] == name and not (
                    j + 1 < len(toks) and toks[j + 1][:2] == ("O", ".")):
                a = j
                if a >= 2 and toks[a - 1][:2] == ("O", ".") and toks[a - 2][0] in ("W", "Q"):
                    a -= 2
                return toks[a][2], t[3]
        else:
            if len(toks) == limit:
                continue  # maybe further on
        if word == "index":
            return toks[0][2], toks[start][3]  # CREATE [UNIQUE] INDEX ON ...: no name
        return None
    return None


# --------------------------------------------------------------------------------------
# The object under the cursor


@_guarded(None)
def object_at(statements: list[Statement], file: str, offset: int) -> Key | None:
    """The model key of the most specific object whose span holds character ``offset`` of
    ``file`` (a column rather than its table, a constraint clause rather than its column),
    or None."""
    idx = _index(statements)
    best: Key | None = None
    best_rank: tuple[int, int] = (0, 0)
    for key, span in idx.spans.items():
        if span.file != file or not span.start_offset <= offset < span.end_offset:
            continue
        if key[0] == "sequence" and key not in idx.declared:
            continue  # a serial column's sequence has the column's span: the column wins
        rank = (span.end_offset - span.start_offset, -len(key))
        if best is None or rank < best_rank:
            best, best_rank = key, rank
    return best


# --------------------------------------------------------------------------------------
# Go to definition


@_guarded(None)
def definition(statements: list[Statement], file: str, offset: int) -> Span | None:
    """Where the name at character ``offset`` of ``file`` is declared: the table or column a
    foreign key references, a column's user-defined type, the table of CREATE INDEX /
    TRIGGER / POLICY ... ON t, ALTER TABLE t, COMMENT ON ..., a relation read by a view,
    a function called. None when the cursor is on no such name (or it is not declared
    in the statements). A cursor just after a name counts as on it, as editors expect."""
    idx = _index(statements)
    st = idx.statement_at(file, offset)
    if st is None:
        return None
    toks = lex(st.text).toks
    j = _token_at(toks, offset - st.span.start_offset)
    if j is None:
        return None
    key = _Cursor(idx, st, toks, j).target()
    span = idx.spans.get(key) if key is not None else None
    if key is None or span is None:
        return None
    name = _selection(idx, key, span)
    if name.file == file and name.start_offset <= offset <= name.end_offset:
        return None  # the cursor is on the declaration itself: nowhere to go
    return span


def _token_at(toks: tuple[Tok, ...], rel: int) -> int | None:
    """The identifier token holding ``rel``, else the one ending there."""
    k = bisect.bisect_right(toks, rel, key=lambda t: t[2]) - 1
    if k >= 0 and toks[k][2] <= rel < toks[k][3] and toks[k][0] in ("W", "Q"):
        return k
    for j in (k, k - 1):
        if 0 <= j < len(toks) and toks[j][3] == rel and toks[j][0] in ("W", "Q"):
            return j
    return None


_CONSTRAINT_WORDS = frozenset({"constraint", "primary", "unique", "foreign", "check", "exclude",
                               "like"})
_TYPE_WORDS = frozenset({"type", "domain", "returns", "setof"})
_ON_KINDS = frozenset({"CREATE INDEX", "CREATE TRIGGER", "CREATE POLICY", "CREATE RULE",
                       "GRANT", "REVOKE"})
_READING_KINDS = frozenset({"CREATE VIEW", "CREATE MATERIALIZED VIEW", "CREATE POLICY",
                            "CREATE FUNCTION", "CREATE PROCEDURE", "CREATE TABLE",
                            "CREATE RULE"})
_OWN_TABLE_KINDS = frozenset({"CREATE TABLE", "ALTER TABLE", "CREATE INDEX", "CREATE POLICY"})


class _Cursor:
    """The dotted name under the cursor and the tokens around it."""

    def __init__(self, idx: _Index, st: Statement, toks: tuple[Tok, ...], j: int):
        self.idx = idx
        self.st = st
        self.t = toks
        self.n = len(toks)
        a = b = j
        while a >= 2 and self.op(a - 1) == "." and self.ident(a - 2):
            a -= 2
        while b + 2 < self.n and self.op(b + 1) == "." and self.ident(b + 2):
            b += 2
        self.a, self.b = a, b  # first and last token of the dotted name
        self.parts = [toks[k][1] for k in range(a, b + 1, 2)]
        self.part = (j - a) // 2  # which part the cursor is on
        # the '(' / '[' still open before the name, outermost first
        opens: list[int] = []
        for k in range(a):
            if toks[k][0] == "O":
                v = toks[k][1]
                if v in ("(", "["):
                    opens.append(k)
                elif v in (")", "]") and opens:
                    opens.pop()
        self.opens = opens

    # -- tokens
    def word(self, k: int) -> str | None:
        return self.t[k][1] if 0 <= k < self.n and self.t[k][0] == "W" else None

    def op(self, k: int) -> str | None:
        return self.t[k][1] if 0 <= k < self.n and self.t[k][0] == "O" else None

    def ident(self, k: int) -> bool:
        return 0 <= k < self.n and self.t[k][0] in ("W", "Q")

    def qname_at(self, k: int) -> tuple[list[str], int] | None:
        """The dotted name starting at token k: its parts and the index after it."""
        if not self.ident(k):
            return None
        parts = [self.t[k][1]]
        k += 1
        while self.op(k) == "." and self.ident(k + 1):
            parts.append(self.t[k + 1][1])
            k += 2
        return parts, k

    def qname_before(self, k: int) -> tuple[list[str], int] | None:
        """The dotted name ending at token k: its parts and its first token."""
        if not self.ident(k):
            return None
        a = k
        while a >= 2 and self.op(a - 1) == "." and self.ident(a - 2):
            a -= 2
        return [self.t[x][1] for x in range(a, k + 1, 2)], a

    # -- resolving
    def on_schema(self) -> bool:
        return len(self.parts) >= 2 and self.part == len(self.parts) - 2

    def resolve(self, *families: str) -> Key | None:
        """The declared object the name designates, among ``families`` (tried in order);
        its schema when the cursor is on the schema part."""
        parts = self.parts
        if self.on_schema():
            return ("schema", parts[-2])
        if self.part < len(parts) - 2:
            return None  # a database name
        schema, name = split_qname(parts)
        for family in families:
            if family == "function":
                key = self.idx.functions.get((schema, name))
                if key is not None:
                    return key
            elif (family, schema, name) in self.idx.spans:
                return (family, schema, name)
        return None

    def column_of(self, table: tuple[str, str] | None, name: str) -> Key | None:
        if table is None:
            return None
        key = ("column", table[0], table[1], name)
        return key if key in self.idx.spans else None

    def own_table(self) -> tuple[str, str] | None:
        """The table the statement is about."""
        kind = self.st.kind
        if kind == "CREATE TABLE" and self.st.object_key is not None:
            return self.st.object_key[1], self.st.object_key[2]
        if kind == "CREATE POLICY" and self.st.object_key is not None:
            return self.st.object_key[1], self.st.object_key[2]
        if kind == "ALTER TABLE":
            k = 2
            if self.word(k) == "if" and self.word(k + 1) == "exists":
                k += 2
            if self.word(k) == "only":
                k += 1
            found = self.qname_at(k)
            return split_qname(found[0]) if found else None
        if kind == "CREATE INDEX":
            depth = 0
            for k in range(self.n):
                v = self.op(k)
                if v == "(":
                    depth += 1
                elif v == ")":
                    depth -= 1
                elif depth == 0 and self.word(k) == "on":
                    k += 1 if self.word(k + 1) == "only" else 0
                    found = self.qname_at(k + 1)
                    return split_qname(found[0]) if found else None
        return None

    # -- what the name is
    def target(self) -> Key | None:
        kind = self.st.kind
        a = self.a
        prev = self.word(a - 1)
        if kind == "COMMENT":
            return self.comment_target()
        if prev == "references":
            return self.resolve("table")
        enclosing = self.opens[-1] if self.opens else None
        if enclosing is not None:
            before = self.qname_before(enclosing - 1)
            if before is not None and self.word(before[1] - 1) == "references":
                # REFERENCES t (col, ...): a column of t
                if len(self.parts) != 1:
                    return None
                return self.column_of(split_qname(before[0]), self.parts[0])
            if self.word(enclosing - 1) == "inherits" and kind == "CREATE TABLE":
                return self.resolve("table")
        if self.op(a - 1) == "::" or prev in _TYPE_WORDS or self.type_position():
            return self.resolve("type", "table")
        if kind == "ALTER TABLE" and (a == self.after_alter_head()):
            return self.resolve("table")
        if kind in _ON_KINDS and (prev == "on" or (prev == "only" and self.word(a - 2) == "on")
                                  or (prev == "table" and kind in ("GRANT", "REVOKE"))):
            return self.resolve("table", "view", "sequence")
        if prev == "of" and kind == "CREATE TABLE":
            # PARTITION OF parent, or OF type (a typed table)
            return self.resolve("table") if self.word(a - 2) == "partition" else self.resolve(
                "type")
        if prev == "like" and kind == "CREATE TABLE":
            return self.resolve("table", "view", "type")
        if prev in ("from", "join") and kind in _READING_KINDS and self.op(self.b + 1) != "(":
            return self.resolve("table", "view")
        if (prev in ("function", "procedure") and self.word(a - 2) == "execute") or (
                self.op(self.b + 1) == "(" and prev not in (
                    "table", "view", "type", "index", "exists", "function", "procedure")):
            found = self.resolve("function")
            if found is not None or prev in ("function", "procedure"):
                return found
        return self.own_column()

    def after_alter_head(self) -> int:
        k = 2
        if self.word(k) == "if" and self.word(k + 1) == "exists":
            k += 2
        if self.word(k) == "only":
            k += 1
        return k

    def type_position(self) -> bool:
        """Whether the name is where a type is written: a column's type in CREATE TABLE,
        CREATE TYPE ... AS (...) or ALTER TABLE ADD COLUMN, a function's argument."""
        kind = self.st.kind
        a = self.a
        if kind == "CREATE DOMAIN":
            return self.word(a - 1) == "as"
        if kind in ("CREATE FUNCTION", "CREATE PROCEDURE"):
            first = next((k for k in range(self.n) if self.op(k) == "("), None)
            return len(self.opens) == 1 and self.opens[0] == first
        if kind == "ALTER TABLE":
            # ADD [COLUMN] [IF NOT EXISTS] name <type>
            return self.ident(a - 1) and self.word(a - 1) not in _CONSTRAINT_WORDS | {
                "column", "add", "exists"} and self.word(a - 2) in ("add", "column", "exists")
        if kind not in ("CREATE TABLE", "CREATE TYPE") or len(self.opens) != 1:
            return False
        main = self.opens[0]
        before = self.qname_before(main - 1)
        head = self.word(main - 1) == "as" or (
            before is not None and self.word(before[1] - 1) in ("table", "exists", "of"))
        if not head:
            return False
        # the element's first token is the column name; the type comes right after it
        e = main + 1
        depth = 0
        for k in range(main + 1, a):
            v = self.op(k)
            if v in ("(", "["):
                depth += 1
            elif v in (")", "]"):
                depth -= 1
            elif v == "," and depth == 0:
                e = k + 1
        return a == e + 1 and self.ident(e) and self.word(e) not in _CONSTRAINT_WORDS

    def own_column(self) -> Key | None:
        """A column of the statement's own table, written inside parentheses (PRIMARY KEY
        (a), CHECK (a > 0), an index's columns, a policy's expression) or after COLUMN in
        ALTER TABLE."""
        kind = self.st.kind
        if kind not in _OWN_TABLE_KINDS or len(self.parts) != 1:
            return None
        name = self.parts[0]
        if self.t[self.a][0] == "W" and name in RESERVED:
            return None
        if self.op(self.b + 1) == "(":
            return None  # a function call
        if kind == "ALTER TABLE" and self.word(self.a - 1) == "column":
            return self.column_of(self.own_table(), name)
        if not self.opens:
            return None
        if kind == "CREATE TABLE":
            main = self.opens[0]
            before = self.qname_before(main - 1)
            is_main = before is not None and self.word(before[1] - 1) in ("table", "exists")
            if is_main and len(self.opens) == 1:
                return None  # a column's own name or type: a declaration, not a use
        return self.column_of(self.own_table(), name)

    def comment_target(self) -> Key | None:
        """COMMENT ON <kind> name [ON table] IS ...: the object (or table, or schema)."""
        if self.word(1) != "on":
            return None
        k = 2
        obj = self.word(k)
        if obj in ("materialized", "foreign"):
            k += 1
        k += 1  # the name starts here
        a = self.a
        if obj in ("constraint", "trigger", "policy"):
            if a == k and len(self.parts) == 1:
                after = k + 1
                if self.word(after) != "on":
                    return None
                after += 1
                if self.word(after) == "domain":
                    return None
                found = self.qname_at(after)
                if found is None:
                    return None
                key = (obj, *split_qname(found[0]), self.parts[0])
                return key if key in self.idx.spans else None
            if self.word(a - 1) == "on":
                return self.resolve("table", "view")
            return None
        if a != k:
            return None
        if obj == "column":
            parts, part = self.parts, self.part
            if len(parts) < 2:
                return None
            if part == len(parts) - 1:
                return self.column_of(split_qname(parts[:-1]), parts[-1])
            if part == len(parts) - 2:
                table = split_qname(parts[:-1])
                return ("table", *table) if ("table", *table) in self.idx.spans else None
            if part == len(parts) - 3:
                return ("schema", parts[-3])
            return None
        if obj in ("schema", "extension"):
            return (obj, self.parts[0]) if len(self.parts) == 1 else None
        families = {
            "table": ("table",), "view": ("view",), "materialized": ("view",),
            "foreign": ("table",), "type": ("type",), "domain": ("type",),
            "index": ("index",), "sequence": ("sequence",), "function": ("function",),
            "procedure": ("function",), "routine": ("function",),
        }.get(obj or "")
        return self.resolve(*families) if families else None


# --------------------------------------------------------------------------------------
# The same resolution, token by token (rename)


class Resolver:
    """What go to definition knows about a set of statements, asked per token: rename
    finds the references of an object as the tokens this resolves to it."""

    def __init__(self, statements: list[Statement]):
        self.idx = _index(statements)

    @property
    def spans(self) -> Mapping[Key, Span]:
        return self.idx.spans

    def files(self) -> dict[str, list[Statement]]:
        return {f: sts for f, (_, sts) in self.idx.files.items()}

    def statement_at(self, file: str, offset: int) -> Statement | None:
        return self.idx.statement_at(file, offset)

    def target(self, st: Statement, toks: tuple[Tok, ...], j: int) -> Key | None:
        """The declared object token j of ``st`` names, if any."""
        return _Cursor(self.idx, st, toks, j).target()

    @staticmethod
    def token_at(toks: tuple[Tok, ...], rel: int) -> int | None:
        return _token_at(toks, rel)

    def name_span(self, key: Key) -> Span | None:
        """Where the object's declaration writes its name (with its schema)."""
        span = self.idx.spans.get(key)
        return _selection(self.idx, key, span) if span is not None else None
