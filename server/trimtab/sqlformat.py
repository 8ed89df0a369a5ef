"""One canonical layout for a SQL schema file that changes nothing but whitespace.

Why not a library: pglast (PostgreSQL's own parser, with a prettifier) is GPL, and sqlglot
rewrites what it prints (``numeric`` -> DECIMAL, ``geometry(Point,4326)`` -> POINT: see
``sources/sqlfile``), which is a change of meaning. This formatter re-lays the tokens of
``trimtab.sqltext``'s lexer (the one the reader uses) and never changes, adds, drops or
reorders a token, nor the case of a word, nor anything inside a string, quoted name,
dollar-quoted body or comment. Outside tokens PostgreSQL does not tell one run of blanks
from another, so the meaning cannot change; each statement's result is lexed again and
must give the very same tokens, or the statement is left exactly as written (the gate
against two tokens run together). tests/test_format.py holds the shadow model of every
formatted fixture to the original's.

Left as written: a statement with a comment inside it (comments stay where the author put
them), one the lexer finds unfinished, and the whole file when it holds a psql
meta-command or text the statement splitter cannot place between statements. Comments
between statements are kept, in order, on their lines.

The layout: one statement after another with one blank line between them, each ending in
``;``; a statement on one line, except the column list of CREATE TABLE (one element a
line, indented by two spaces), the actions of an ALTER TABLE that has several (one a line)
and the clauses of a view's query (FROM, WHERE, JOIN... each on a line of its own).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from trimtab.sources.sqlfile import META_COMMAND, split_statements
from trimtab.sqltext import Tok, lex_uncached, skip_block_comment

INDENT = "  "


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words after which "(" opens a list or an expression, not a call's arguments: a space.
_SPACE_BEFORE_PAREN = _words("""
    all and any as between by case check constraint default distinct do else exclude exists
    filter from group hash in include inherits intersect is join key lateral like list not
    of on options or over partition range references reset returning returns select set some
    table then to union unique using values when where window with within except
""")
# A view's query: a line for each of these clauses (at the query's own depth).
_CLAUSES = _words("from where group having order limit offset window union intersect except")
# What may stand between CREATE and TABLE or VIEW.
_MODIFIERS = _words("or replace global local temp temporary unlogged recursive materialized")
_JOINS = _words("natural left right full inner cross outer join")


@dataclass(frozen=True)
class Edit:
    """Replace ``text[start:end]`` by ``new``."""

    start: int
    end: int
    new: str


def format_sql(text: str) -> str:
    """``text`` in the canonical layout (``text`` itself when it cannot be formatted)."""
    edits = format_edits(text)
    out, pos = [], 0
    for e in edits:
        out += [text[pos:e.start], e.new]
        pos = e.end
    out.append(text[pos:])
    return "".join(out)


def format_edits(text: str, start: int = 0, end: int | None = None) -> list[Edit]:
    """The edits that lay out the statements touching ``text[start:end]`` (all by
    default), each statement with the blanks and comments that follow it, in order and
    not overlapping. Empty when nothing changes or the file cannot be formatted."""
    units = _units(text)
    if units is None:
        return []
    end = len(text) if end is None else end
    return [u for u in units if u.new != text[u.start:u.end]
            and u.start < end and u.end > start]


def _units(text: str) -> list[Edit] | None:
    statements = split_statements(text, "<format>")
    # A psql meta-command, or an unfinished string or bracket: the split itself is a guess.
    if not statements or any(s.kind == META_COMMAND or lex_uncached(s.text).errors
                             for s in statements):
        return None
    nl = "\r\n" if "\r\n" in text else "\n"
    units = []
    lead = _gap(text[:statements[0].span.start_offset])
    if lead is None:
        return None
    units.append(Edit(0, statements[0].span.start_offset,
                      _render_gap(lead, nl, before=False, after=True)))
    for i, st in enumerate(statements):
        a, b = st.span.start_offset, st.span.end_offset
        last = i == len(statements) - 1
        c = len(text) if last else statements[i + 1].span.start_offset
        gap = _gap(text[b:c])
        if gap is None:
            return None
        units.append(Edit(a, c, format_statement(st.text, nl)
                          + _render_gap(gap, nl, before=True, after=not last)))
    return units


# -- between statements ------------------------------------------------------------------------


def _gap(text: str) -> list[str] | None:
    """The blanks, comments and ';' between two statements as items: "\\n" for a line
    break, ";" and each comment's text. None if something else is there."""
    items: list[str] = []
    pos, n = 0, len(text)
    while pos < n:
        ch = text[pos]
        if ch == "\n" or ch == "\r" and not text.startswith("\r\n", pos):
            items.append("\n")
            pos += 1
        elif ch.isspace():
            pos += 1
        elif text.startswith("--", pos):
            e = pos
            while e < n and text[e] not in "\r\n":
                e += 1
            items.append(text[pos:e].rstrip())
            pos = e
        elif text.startswith("/*", pos):
            e = skip_block_comment(text, pos + 2)
            items.append(text[pos:e])
            pos = e
        elif ch == ";":
            items.append(";")
            pos += 1
        else:
            return None
    return items


def _render_gap(items: Sequence[str], nl: str, *, before: bool, after: bool) -> str:
    """The gap laid out: ';' right after the statement (``before``), the comments that
    shared its last line after it, then one blank line, then the other comments line by
    line (one blank line where there were one or more), then the next statement
    (``after``): on the last comment's line if it was, after a blank line if there was one."""
    same: list[str] = []  # comments on the statement's last line
    lines: list[tuple[bool, list[str]]] = []  # (blank line before, comments of the line)
    breaks = 0
    for it in items:
        if it == "\n":
            breaks += 1
        elif it == ";":
            continue
        elif breaks == 0 and lines:
            lines[-1][1].append(it)
        elif breaks == 0 and before:
            same.append(it)
        else:
            lines.append((breaks >= 2, [it]))
            breaks = 0
    out = ";" if before else ""
    if same:
        out += " " + " ".join(same)
    for k, (blank, comments) in enumerate(lines):
        if k == 0:
            out += nl + nl if before else ""
        else:
            out += nl + nl if blank else nl
        out += " ".join(comments)
    if not after:
        return out + nl if out else ""
    if lines:
        return out + (" " if breaks == 0 else nl + nl if breaks >= 2 else nl)
    return out + nl + nl if before else out


# -- one statement -----------------------------------------------------------------------------


def format_statement(text: str, nl: str = "\n") -> str:
    """One statement's text (without its ';') in the layout, or as written when it has a
    comment inside, does not lex cleanly, or would not lex back to the same tokens."""
    lexed = lex_uncached(text)
    toks = lexed.toks
    if lexed.errors or not toks or any(k == "X" for k, *_ in toks):
        return text
    for x, y in zip(toks, toks[1:], strict=False):
        if text[x[3]:y[2]].strip():  # a comment between two tokens
            return text
    raw = [text[tk[2]:tk[3]] for tk in toks]
    out = _layout(toks, raw, nl)
    again = lex_uncached(out)
    same = not again.errors and [tk[:2] for tk in again.toks] == [tk[:2] for tk in toks]
    return out if same else text


def _name_end(toks: Sequence[Tok], i: int) -> int:
    """The index after a (qualified) name starting at ``i``."""
    n = len(toks)
    while i < n and toks[i][0] in ("W", "Q"):
        if i + 2 < n and toks[i + 1][1] == "." and toks[i + 2][0] in ("W", "Q"):
            i += 2
        else:
            return i + 1
    return i


def _after_head(toks: Sequence[Tok], *words: str) -> int | None:
    """The index after ``words`` (optional TEMP, UNLOGGED, OR REPLACE... between the first
    and the last), IF [NOT] EXISTS and ONLY, and a name; None if the statement is not so."""
    vals = [tk[1] if tk[0] == "W" else "" for tk in toks[:8]]
    if not vals or vals[0] != words[0] or words[-1] not in vals:
        return None
    i = vals.index(words[-1]) + 1
    if not set(vals[1:i - 1]) <= _MODIFIERS:
        return None
    for skip in (("if", "not", "exists"), ("if", "exists"), ("only",)):
        if [tk[1] for tk in toks[i:i + len(skip)]] == list(skip):
            i += len(skip)
    j = _name_end(toks, i)
    return j if j > i else None


def _matching(toks: Sequence[Tok], i: int) -> int:
    depth = 0
    for j in range(i, len(toks)):
        if toks[j][1] == "(":
            depth += 1
        elif toks[j][1] == ")":
            depth -= 1
            if depth == 0:
                return j
    return len(toks) - 1


def _layout(toks: Sequence[Tok], raw: Sequence[str], nl: str) -> str:
    n = len(toks)
    breaks: dict[int, str] = {}  # token index -> what goes before it instead of a space
    first = toks[0][1]
    if first == "create":
        j = _after_head(toks, "create", "table")
        if j is not None and j < n and toks[j][1] == "(":
            close = _matching(toks, j)
            breaks[j] = " "
            if close > j + 1:
                breaks[j + 1] = nl + INDENT
                breaks[close] = nl
                depth = 0
                for k in range(j + 1, close):
                    v = toks[k][1]
                    if v in ("(", "["):
                        depth += 1
                    elif v in (")", "]"):
                        depth -= 1
                    elif v == "," and depth == 0 and toks[k][0] == "O":
                        breaks[k + 1] = nl + INDENT
        elif _after_head(toks, "create", "view") is not None:
            _view_breaks(toks, breaks, nl)
    elif first == "alter":
        j = _after_head(toks, "alter", "table")
        commas = [] if j is None else [k for k in _depth0(toks, j) if toks[k][1] == ","]
        if j is not None and commas and j < n:
            breaks[j] = nl + INDENT
            for k in commas:
                breaks[k + 1] = nl + INDENT
    out = [raw[0]]
    for k in range(1, n):
        out.append(breaks.get(k, _space(toks, raw, k)))
        out.append(raw[k])
    return "".join(out)


def _depth0(toks: Sequence[Tok], start: int) -> list[int]:
    out, depth = [], 0
    for k in range(start, len(toks)):
        v = toks[k][1] if toks[k][0] == "O" else ""
        if v in ("(", "["):
            depth += 1
        elif v in (")", "]"):
            depth -= 1
        elif depth == 0:
            out.append(k)
    return out


def _view_breaks(toks: Sequence[Tok], breaks: dict[int, str], nl: str) -> None:
    """A line for each clause of the view's query (those at its outermost depth)."""
    words = [k for k in _depth0(toks, 0) if toks[k][0] == "W"]
    as_at = next((k for k in words if toks[k][1] == "as"), None)
    if as_at is None:
        return
    for k in words:
        if k <= as_at:
            continue
        v, prev = toks[k][1], toks[k - 1]
        follows_paren = k + 1 < len(toks) and toks[k + 1][1] == "("
        after_word = prev[1] if prev[0] == "W" else ""
        if (k == as_at + 1 and v in ("select", "with", "values", "table")
                or v in _CLAUSES and not (v == "from" and after_word == "distinct")
                or v in _JOINS and not follows_paren and after_word not in _JOINS
                or v == "select" and after_word in ("all", "distinct", "union", "intersect",
                                                    "except")):
            breaks[k] = nl


def _space(toks: Sequence[Tok], raw: Sequence[str], k: int) -> str:
    """What goes between token ``k - 1`` and ``k`` on a line: "" or one space."""
    (pk, pv, *_), (ck, cv, *_) = toks[k - 1], toks[k]
    p = pv if pk == "O" else ""
    c = cv if ck == "O" else ""
    if c in (",", ")", "]", ";") or p in ("(", "[") or c == "::" or p == "::":
        return ""
    if c == "." and pk in ("W", "Q") and k + 1 < len(toks) and (
            toks[k + 1][0] in ("W", "Q") or toks[k + 1][1] == "*"):
        return ""
    if p == "." and k >= 2 and toks[k - 2][0] in ("W", "Q") and (ck in ("W", "Q") or c == "*"):
        return ""
    if c == "[" and (pk in ("W", "Q") or p in (")", "]")):
        return ""
    if ck == "N" and p in ("-", "+") and _unary(toks, k - 1):
        return ""
    if c == "(" and (pk == "Q" or pk == "W" and pv not in _SPACE_BEFORE_PAREN):
        return ""
    return " "


# Words after which a sign is unary ("DEFAULT -1"), not a subtraction.
_BEFORE_SIGN = _words("""
    and between by default else in is like not or return returning select then values when
    where minvalue maxvalue start increment restart cache modulus remainder
""")


def _unary(toks: Sequence[Tok], k: int) -> bool:
    if k == 0:
        return True
    pk, pv = toks[k - 1][:2]
    return pk == "O" and pv not in (")", "]") or pk == "W" and pv in _BEFORE_SIGN
