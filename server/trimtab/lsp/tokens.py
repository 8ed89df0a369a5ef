"""Semantic tokens and inlay hints for SQL schema files.

Pure, like ``navigate``: statements in (split once per text by ``navigate.statements_of``),
offsets out; the server converts them to the client's lines and units. What a name
designates is ``symbols.Resolver``'s answer (the resolver of go to definition, rename and
references), so a table is coloured as a table exactly where F12 would go to it. Words
the resolver does not claim are read from their place: a declaration's name, a column's
type, a call, a keyword.
"""

from __future__ import annotations

import bisect
import re
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from trimtab.lsp.completion import BUILTIN_TYPES
from trimtab.lsp.symbols import Key, Resolver
from trimtab.model import RESERVED, EnumType
from trimtab.sources import sqlfile
from trimtab.sources.sqlfile import Statement, Tok
from trimtab.sqltext import lex_uncached, skip_block_comment

__all__ = ["MODIFIERS", "TYPES", "Hint", "row_counts", "semantic_tokens"]

# The legend, in the order the server registers it (a token's type is its index here).
TYPES = ("keyword", "type", "class", "property", "function", "string", "number", "comment",
         "operator", "parameter", "enum", "enumMember", "namespace", "variable")
MODIFIERS = ("declaration", "defaultLibrary")
_T = {name: i for i, name in enumerate(TYPES)}
DECLARATION, DEFAULT_LIBRARY = 1, 2  # modifier bits

# The object families of the model, as token types.
_FAMILY = {"table": "class", "view": "class", "column": "property", "type": "type",
           "function": "function", "schema": "namespace", "sequence": "variable",
           "index": "variable", "constraint": "variable", "trigger": "variable",
           "policy": "variable", "extension": "namespace"}

# Words of type names (the first word of "double precision", "timestamp with time zone"
# and the like, and the catalog's own spellings).


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_TYPE_WORDS = frozenset(w for b in BUILTIN_TYPES for w in b.split()[:1]) | _words("""
    int2 int4 int8 float4 float8 bool decimal dec float timestamptz timetz varbit
    citext hstore regclass regtype name tstzmultirange int4multirange point line lseg box
    path polygon circle pg_lsn jsonpath trigger void record event_trigger anyelement
    """)
_TYPE_TAILS = _words("precision varying with without time zone")
# DDL words beyond the reserved ones (an identifier of that spelling is still found by
# the resolver first: a column named "key" is a column).
KEYWORDS = RESERVED | _words("""
    add after alter always before begin by cascade comment commit conflict cost cycle data
    database deferred delete domain each enum execute extension false filter function
    generated identity if immutable increment index inherits insert instead key language
    leakproof match maxvalue minvalue materialized no nothing nulls of owned owner
    parallel partition permissive policy procedure range recursive refresh rename replace
    restrict restrictive returns role rows rule schema security sequence set stable start
    statement stored strict temp temporary trigger truncate type unlogged update
    valid validate version view volatile zone replica action include
    concurrently restart new old share exclude deferrable initially immediate
    """)
_TYPMOD_TYPES = _words("numeric decimal varchar char character bit timestamp time interval")
_PUNCTUATION = frozenset("(),;[].")
_ARG_MODES = frozenset({"in", "out", "inout", "variadic"})
_ELEMENT_WORDS = frozenset({"constraint", "primary", "unique", "foreign", "check", "exclude",
                            "like"})
_COMMENT = re.compile(r"--[^\r\n]*|/\*")


@dataclass(frozen=True)
class Hint:
    offset: int  # where the hint goes (after a table's name)
    label: str


# --------------------------------------------------------------------------------------
# Semantic tokens

Units = Callable[[str], int]  # the length of a text in the client's units (UTF-16...)
_NEWLINE = re.compile(r"\r\n?|\n")


class _Segment(NamedTuple):
    """A statement's tokens in LSP's relative encoding (5 integers a token), its first
    token's place in the statement (line, column) and its last token's. The encoding
    moves with the statement: only the first token's deltas depend on where it is."""

    first: tuple[int, int]
    last: tuple[int, int]
    data: array[int]


# file -> (its statements, the statement memo they were read with, the encoded tokens): an
# unchanged file, while no schema file declares anything else, is not read again
_last: dict[str, tuple[tuple[Statement, ...], object, list[int]]] = {}


def semantic_tokens(text: str, lines: Sequence[str], statements: list[Statement], file: str,
                    units: Units, start: int = 0, end: int | None = None) -> list[int]:
    """The tokens of ``file`` (whose text is ``text``, split in LSP's ``lines``) in LSP's
    encoding, in the client's ``units``; with ``start``/``end`` (offsets), those of the
    statements and comments that meet that stretch. ``statements``: of every schema file
    of the project (a table declared in another file is a table here too)."""
    try:
        return _semantic_tokens(text, lines, statements, file, units, start, end)
    except Exception:
        if sqlfile.strict():
            raise
        return []


def _semantic_tokens(text: str, lines: Sequence[str], statements: list[Statement], file: str,
                     units: Units, start: int, end: int | None) -> list[int]:
    end = len(text) if end is None else end
    mine = tuple(st for st in statements if st.span.file == file)
    whole = start <= 0 and end >= len(text)
    idx = Resolver(statements)
    memo = _statement_memo(idx)  # a new one when any schema file declares something else
    cached = _last.get(file)
    if cached is not None and cached[0] == mine and cached[1] is memo and whole:
        return cached[2]
    starts = [0]
    for ln in lines:
        starts.append(starts[-1] + len(ln))
    out: list[int] = []
    prev = [0, 0]  # the last token's line and column (client units)

    def place(origin: int, seg: _Segment) -> None:
        if not seg.data:
            return
        line = bisect.bisect_right(starts, origin) - 1
        row = lines[line] if line < len(lines) else ""
        col = origin - starts[line]
        c0 = col if row.isascii() else units(row[:col])
        fl, fc = seg.first
        al, ac = line + fl, fc + (c0 if fl == 0 else 0)
        out.extend((al - prev[0], ac - prev[1] if al == prev[0] else ac))
        out.extend(seg.data[2:])
        ll, lc = seg.last
        prev[0], prev[1] = line + ll, lc + (c0 if ll == 0 else 0)

    used: list[tuple[object, ...]] = []
    gap = 0
    for st in mine:
        a, b = st.span.start_offset, st.span.end_offset
        if b < start or a > end:
            gap = b
            continue
        if a > gap + 1:  # comments between statements
            place(gap, _segment(text[gap:a], _comments(text[gap:a], 0, a - gap), units))
        # a statement reads the same while its text and what the files declare do not
        # change: typing in one statement reads that one again, not the file
        mkey = (st.text, st.kind, st.object_key, idx.idx.declared.get(st.object_key) == st
                if st.object_key is not None else False)
        seg = memo.get(mkey)
        if seg is None:
            seg = memo[mkey] = _segment(st.text, _statement(idx, st), units)
        used.append(mkey)
        place(a, seg)
        gap = b
    if gap < end:
        place(gap, _segment(text[gap:], _comments(text[gap:], 0, len(text) - gap), units))
    if len(memo) > 2 * len(used) + 1000:  # earlier versions of statements typed into
        keep = {k: memo[k] for k in used}
        memo.clear()
        memo.update(keep)
    if whole:
        _last[file] = (mine, memo, out)
        if len(_last) > 16:
            del _last[next(iter(_last))]
    return out


# (what the statements declare, (statement text, kind, key, declared) -> its segment)
_memo: list[tuple[frozenset[Key], dict[tuple[object, ...], _Segment]] | None] = [None]


def _statement_memo(idx: Resolver) -> dict[tuple[object, ...], _Segment]:
    declared = frozenset(idx.spans) | frozenset(
        ("enum", *k[1:]) for k, ty in idx.idx.model.types.items() if isinstance(ty, EnumType))
    last = _memo[0]
    if last is None or last[0] != declared:
        last = _memo[0] = (declared, {})
    return last[1]


def _segment(text: str, flat: Sequence[int], units: Units) -> _Segment:
    """Tokens (``flat``: start, end, type, modifiers, offsets in ``text``) encoded; a token
    over several lines (a comment, a function body) becomes one a line, as clients
    without multiline token support need."""
    breaks = list(_NEWLINE.finditer(text))
    starts = [0, *(m.end() for m in breaks)]
    ends = [*(m.start() for m in breaks), len(text)]
    ascii_ = text.isascii()
    data = array("i")
    pl = pc = 0
    first: tuple[int, int] | None = None
    for k in range(0, len(flat), 4):
        a, b, ty, mo = flat[k], flat[k + 1], flat[k + 2], flat[k + 3]
        line = bisect.bisect_right(starts, a) - 1
        while a < b and line < len(starts):
            stop = min(b, ends[line])
            if stop > a:
                ls = starts[line]
                if ascii_:
                    col, n = a - ls, stop - a
                else:
                    col, n = units(text[ls:a]), units(text[a:stop])
                data.extend((line - pl, col - pc if line == pl else col, n, ty, mo))
                if first is None:
                    first = (line, col)
                pl, pc = line, col
            line += 1
            if line < len(starts):
                a = starts[line]
    return _Segment(first or (0, 0), (pl, pc), data)


def _comments(text: str, a: int, b: int) -> list[int]:
    """The comments between ``a`` and ``b`` (a stretch outside tokens), as flat tokens."""
    out: list[int] = []
    pos = a
    while pos < b:
        m = _COMMENT.search(text, pos, b)
        if m is None:
            break
        stop = m.end() if m.group() != "/*" else min(skip_block_comment(text, m.end()), b)
        out += (m.start(), stop, _T["comment"], 0)
        pos = max(stop, m.start() + 1)
    return out


def _statement(idx: Resolver, st: Statement) -> list[int]:
    toks = lex_uncached(st.text).toks  # kept encoded rather than in lex's memo
    text = st.text
    marks: dict[int, tuple[str, int]] = {}  # token index -> (type, modifiers) decided early
    _declarations(idx, st, toks, marks)
    names = _names(idx)
    out: list[int] = []
    prev_end = 0
    for j, tk in enumerate(toks):
        a, b = tk[2], tk[3]
        if a > prev_end + 1:  # comments between tokens (the lexer drops them)
            out += _comments(text, prev_end, a)
        prev_end = b
        found = marks.get(j)
        if found is None:
            found = _classify(idx, names, st, toks, j)
        if found is not None:
            out += (a, b, _T[found[0]], found[1])
    return out


def _classify(idx: Resolver, names: frozenset[str], st: Statement, toks: tuple[Tok, ...],
              j: int) -> tuple[str, int] | None:
    kind, value = toks[j][0], toks[j][1]
    if kind in ("S", "E", "D"):
        return "string", 0
    if kind == "N":
        return "number", 0
    if kind == "P":
        return "parameter", 0
    if kind == "O":
        return None if value in _PUNCTUATION else ("operator", 0)
    if kind not in ("W", "Q"):
        return None
    # only a word some object is named by can designate one: most words skip the resolver
    key = idx.target(st, toks, j) if value in names else None
    if key is not None:
        return _of_key(idx, key, 0)
    nxt = toks[j + 1][1] if j + 1 < len(toks) and toks[j + 1][0] == "O" else None
    prev = toks[j - 1] if j > 0 else None
    if kind == "W":
        if value in _TYPE_WORDS and (nxt != "(" or value in _TYPMOD_TYPES) and (
                prev is None or prev[0] != "W" or prev[1] not in ("create", "drop", "on")):
            return "type", DEFAULT_LIBRARY
        if value in _TYPE_TAILS and prev is not None and prev[0] == "W" and (
                prev[1] in _TYPE_WORDS or prev[1] in _TYPE_TAILS):
            return "type", DEFAULT_LIBRARY
        if nxt == "(" and value not in KEYWORDS:
            return "function", DEFAULT_LIBRARY
        if value in KEYWORDS:
            return "keyword", 0
    elif nxt == "(":
        return "function", 0
    return None


_names_of: list[tuple[object, frozenset[str]] | None] = [None]


def _names(idx: Resolver) -> frozenset[str]:
    """The names of every object the statements declare (schemas' too), once per index."""
    last = _names_of[0]
    if last is not None and last[0] is idx.idx:
        return last[1]
    names = frozenset(k[2] if k[0] == "function" else k[-1] for k in idx.spans) | frozenset(
        k[1] for k in idx.spans if len(k) > 2)
    _names_of[0] = (idx.idx, names)
    return names


def _of_key(idx: Resolver, key: Key, modifiers: int) -> tuple[str, int]:
    family = key[0]
    if family == "type" and isinstance(idx.idx.model.types.get(key), EnumType):
        return "enum", modifiers
    return _FAMILY.get(family, "variable"), modifiers


def _declarations(idx: Resolver, st: Statement, toks: tuple[Tok, ...],
                  marks: dict[int, tuple[str, int]]) -> None:
    """What the statement declares: its object's name, a table's (or composite type's)
    columns and their types, a function's arguments, an enum's labels."""
    key = st.object_key
    if key is None:
        return
    sel = idx.name_span(key)
    if sel is not None and sel.file == st.span.file:
        a, b = sel.start_offset - st.span.start_offset, sel.end_offset - st.span.start_offset
        for j, tk in enumerate(toks):
            if tk[2] >= a and tk[3] <= b and tk[0] in ("W", "Q"):
                last = j + 1 >= len(toks) or toks[j + 1][:2] != ("O", ".") or toks[j + 1][2] >= b
                marks[j] = _of_key(idx, key, DECLARATION) if last else ("namespace", 0)
            elif tk[2] >= b:
                break
    main = next((j for j, tk in enumerate(toks) if tk[:2] == ("O", "(")), None)
    if main is None:
        return
    if st.kind == "CREATE TYPE":
        if main > 1 and toks[main - 1][:2] == ("W", "enum"):
            for j in _elements(toks, main):
                if toks[j][0] in ("S", "E"):
                    marks[j] = ("enumMember", DECLARATION)
            return
        if main > 1 and toks[main - 1][:2] != ("W", "as"):
            return
    if st.kind in ("CREATE TABLE", "CREATE TYPE"):
        if st.kind == "CREATE TABLE" and (main < 1 or toks[main - 1][0] not in ("W", "Q")):
            return
        for j in _elements(toks, main):
            if toks[j][0] == "Q" or (toks[j][0] == "W" and toks[j][1] not in _ELEMENT_WORDS):
                marks[j] = ("property", DECLARATION)
    elif st.kind in ("CREATE FUNCTION", "CREATE PROCEDURE"):
        for j in _elements(toks, main):
            if toks[j][0] == "W" and toks[j][1] in _ARG_MODES:
                j += 1
            # a name is followed by its type; a lone type ("integer") has no name
            if j + 1 < len(toks) and toks[j][0] in ("W", "Q") and toks[j + 1][0] in ("W", "Q") \
                    and toks[j + 1][1] not in ("default",):
                marks[j] = ("parameter", DECLARATION)


def _elements(toks: tuple[Tok, ...], open_at: int) -> list[int]:
    """The first token of each comma-separated element of the list opened at ``open_at``."""
    out = [open_at + 1]
    depth = 0
    for j in range(open_at + 1, len(toks)):
        v = toks[j][1] if toks[j][0] == "O" else None
        if v in ("(", "["):
            depth += 1
        elif v in (")", "]"):
            if depth == 0:
                break
            depth -= 1
        elif v == "," and depth == 0:
            out.append(j + 1)
    return [j for j in out if j < len(toks) and toks[j][:2] != ("O", ")")]


# --------------------------------------------------------------------------------------
# Inlay hints


def row_counts(statements: list[Statement], file: str,
               sizes: Mapping[tuple[str, str], tuple[int, int]],
               start: int = 0, end: int | None = None) -> list[Hint]:
    """" ~12,400 rows" after the name of each CREATE TABLE of ``file`` between ``start``
    and ``end`` whose table the live database has (the planner's estimate, as the
    hover shows it; nothing for a table never analyzed)."""
    try:
        idx = Resolver(statements)
        out = []
        for st in statements:
            if st.span.file != file or st.kind != "CREATE TABLE" or st.object_key is None:
                continue
            if st.span.end_offset < start or (end is not None and st.span.start_offset > end):
                continue
            size = sizes.get((st.object_key[1], st.object_key[2]))
            sel = idx.name_span(st.object_key)
            if size is None or size[0] < 0 or sel is None:
                continue
            rows = size[0]
            out.append(Hint(sel.end_offset, f"~{rows:,} row{'s' if rows != 1 else ''}"))
        return out
    except Exception:
        if sqlfile.strict():
            raise
        return []

