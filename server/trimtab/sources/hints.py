"""Rename hints: ``-- trimtab: renamed from <old name>`` comments in schema files.

A hint records a rename decision next to the object it concerns, so that planning never
has to ask whether something was renamed or dropped and re-created (CI cannot answer)::

    -- trimtab: renamed from customers
    CREATE TABLE clients (
      -- trimtab: renamed from full_name
      name text NOT NULL,
      email text /* trimtab: renamed from mail */, age int
    );
    CREATE TYPE colour AS ENUM ('red', 'teal' /* trimtab: renamed from blue */);

A hint may annotate a table (its old name may name another schema: ``renamed from
old_schema.customers``), a column, a constraint written with ``CONSTRAINT name``, an
index, an enum type or an enum value. Names are read as PostgreSQL reads identifiers
(bare ones folded to lower case, "quoted" ones kept); an enum value is a 'string literal'
or a bare word, kept as written since enum values are case-sensitive strings.

Which object a hint annotates:

* a comment that trails code on its line annotates the object starting last on that line
  before it (a column beats its table, an enum value beats its type);
* a comment alone on its line annotates the object starting first on the next line of
  code, from the first token of that line on.

Constraints PostgreSQL names itself (``id int PRIMARY KEY``) take no hint: a hint after
``id int PRIMARY KEY`` is meant for the column. Everything here is pure and ``find_hints``
never raises on any text.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from dataclasses import dataclass

from trimtab.model import qname, quote_ident, quote_literal
from trimtab.sources.sqlfile import (
    LINE_END,
    NEWLINE,
    Issue,
    Span,
    Statement,
    comment_ranges,
    file_span,
    fold,
    ident_value,
    is_closed_comment,
    lex,
    line_starts,
    object_spans,
    skip_blanks,
    string_value,
    sub_span,
)

__all__ = ["Hint", "UsingHint", "find_hints", "find_using_hints", "hint_edit"]


@dataclass(frozen=True)
class Hint:
    """A rename decision written in a schema file."""

    target: tuple[str, ...]  # model key of the new object the hint annotates
    old: str  # the old name as PostgreSQL reads it (bare identifiers folded)
    old_schema: str | None  # for a table hint written `renamed from other_schema.old`
    span: Span  # the comment holding the hint


NOT_FOLLOWED = "rename hint is not followed by a table, column, constraint, index or enum value"
NOT_TRAILING = ("rename hint does not trail a table, column, constraint, index or enum value "
                "that starts on its line")

# --------------------------------------------------------------------------------------
# Comments


# "trimtab: renamed from" and where the old name starts; "from" is captured so that a
# hint that forgets it is reported rather than ignored.
_MARK = re.compile(r"(?<![\w$])trimtab\s*:\s*renamed(?![\w$])\s*(from(?![\w$]))?\s*", re.I)
_IDENT = r'"(?:[^"]|"")*"|[^\W\d][\w$]*'
_ANY_MARK = re.compile(r"trimtab\s*:", re.I)  # every hint, misspelt ones too
_QUALIFIED = re.compile(rf"({_IDENT})(?:\.({_IDENT}))?")
_QUOTED = re.compile(r'"((?:[^"]|"")*)"')
_LITERAL = re.compile(r"[eE]'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*'", re.S)
# A bare enum value: words joined by '-' or '.', so that a full stop ending a sentence
# is not taken as part of it.
_LABEL = re.compile(r"[\w$]+(?:[-.][\w$]+)*")


@dataclass(frozen=True)
class _Mark:
    """One "trimtab: renamed" in a comment (offsets in the file text)."""

    comment: tuple[int, int]
    at: int  # where the old name starts
    limit: int  # where the comment's text ends (before a closing */)
    has_from: bool


def _marks(text: str) -> tuple[list[tuple[int, int]], list[_Mark]]:
    comments = comment_ranges(text)
    marks = []
    for cs, ce in comments:
        block = text.startswith("/*", cs)
        if block and not is_closed_comment(text, cs, ce):
            continue  # an unterminated comment is a syntax error, not a hint
        limit = ce - 2 if block else ce
        for m in _MARK.finditer(text, cs + 2, limit):
            marks.append(_Mark((cs, ce), m.end(), limit, m.group(1) is not None))
    return comments, marks


def _identifier(raw: str) -> str:
    if raw.startswith('"'):
        return ident_value(raw[1:-1].replace('""', '"'))
    return ident_value(fold(raw))


def _read_name(text: str, mark: _Mark, family: str) -> tuple[str, str | None, int] | str:
    """(old name, old schema, end offset) of what a mark names, or why it cannot be read."""
    cannot = ("rename hint: cannot read the old name; write `trimtab: renamed from <name>`, "
              "the name bare or \"double-quoted\" (an enum value bare or 'single-quoted')")
    if not mark.has_from:
        return cannot
    at, limit = mark.at, mark.limit
    if family == "enum_value":
        if m := _LITERAL.match(text, at, limit):
            raw = m.group()
            value = string_value(("E" if raw[0] in "eE" else "S", raw, 0, 0))
            return (value, None, m.end()) if value is not None else cannot
        if m := _QUOTED.match(text, at, limit):
            return m.group(1).replace('""', '"'), None, m.end()
        if m := _LABEL.match(text, at, limit):
            return m.group(), None, m.end()
        return cannot
    m = _QUALIFIED.match(text, at, limit)
    if m is None:
        return cannot
    if m.group(2) is None:
        return _identifier(m.group(1)), None, m.end()
    if family != "table":
        return "rename hint: only a table's old name may name a schema"
    return _identifier(m.group(2)), _identifier(m.group(1)), m.end()


# --------------------------------------------------------------------------------------
# What hints can annotate


@dataclass(frozen=True)
class _Target:
    key: tuple[str, ...]
    start: int  # offsets of its declaration in the file text
    end: int


# How specific each kind is, for objects starting at the same character.
_RANK = {"table": 0, "type": 0, "index": 0, "column": 1, "constraint": 2, "enum_value": 2}
_NAMED = re.compile(r"constraint(?![\w$])", re.I)


def _order(t: _Target) -> tuple[int, int]:
    return t.start, _RANK[t.key[0]]


def _enum_labels(st: Statement) -> list[tuple[str, int, int]] | None:
    """(value, start, end) of each label of CREATE TYPE ... AS ENUM (...), offsets in the
    statement text; None if the statement is not an enum."""
    toks = lex(st.text).toks
    for i in range(len(toks) - 2):
        if toks[i][:2] == ("W", "as"):
            if toks[i + 1][:2] != ("W", "enum") or toks[i + 2][:2] != ("O", "("):
                return None
            out: list[tuple[str, int, int]] = []
            depth = 1
            for tok in toks[i + 3:]:
                if tok[0] == "O" and tok[1] in ("(", ")"):
                    depth += 1 if tok[1] == "(" else -1
                    if depth == 0:
                        break
                elif depth == 1 and (value := string_value(tok)) is not None:
                    out.append((value, tok[2], tok[3]))
            return out
    return None


def _targets(texts: Mapping[str, str],
             statements: list[Statement]) -> dict[str, list[_Target]]:
    """File -> the objects a hint may annotate there, in the order they start."""
    spans = object_spans(statements)
    out: dict[str, list[_Target]] = {}

    def add(key: tuple[str, ...], span: Span) -> None:
        out.setdefault(span.file, []).append(_Target(key, span.start_offset, span.end_offset))

    for st in statements:
        key = st.object_key
        if st.kind != "CREATE TYPE" or key is None or key[0] != "type" or \
                spans.get(key) != st.span:  # not an enum, or not its first declaration
            continue
        labels = _enum_labels(st)
        if labels is not None:
            add(key, st.span)
            for value, a, b in labels:
                add(("enum_value", key[1], key[2], value), sub_span(st, a, b))
    for key, span in spans.items():
        # Only constraints written with CONSTRAINT name (those copied by LIKE have an empty
        # span at the start of the table's statement: they are left out too).
        if key[0] in ("table", "column", "index") or (
            key[0] == "constraint"
            and _NAMED.match(texts.get(span.file, ""), span.start_offset, span.end_offset)
        ):
            add(key, span)
    for targets in out.values():
        targets.sort(key=_order)
    return out


def _code_before(text: str, line_start: int, at: int, comments: list[tuple[int, int]]) -> bool:
    """Whether something other than blanks and comments precedes ``at`` on its line."""
    pos = line_start
    k = bisect.bisect_right(comments, (line_start, len(text) + 1)) - 1
    if k >= 0 and comments[k][1] > line_start:
        pos = comments[k][1]  # the line starts inside a block comment
    return skip_blanks(text, pos) < at


def _attach(text: str, mark: _Mark, comments: list[tuple[int, int]],
            targets: list[_Target], starts: list[int]) -> tuple[_Target | None, bool]:
    """The object a hint annotates, and whether its comment is alone on its line."""
    cs, ce = mark.comment
    lines = line_starts(text)
    line_start = lines[bisect.bisect_right(lines, cs) - 1]
    if _code_before(text, line_start, cs, comments):
        on_line = targets[bisect.bisect_left(starts, line_start):bisect.bisect_left(starts, cs)]
        return max(on_line, key=_order, default=None), False
    p = skip_blanks(text, ce)
    r = LINE_END.search(text, p)
    on_line = targets[bisect.bisect_left(starts, p):bisect.bisect_left(
        starts, r.start() if r else len(text))]
    return min(on_line, key=lambda t: (t.start, -_RANK[t.key[0]]), default=None), True


@dataclass(frozen=True)
class _Found:
    mark: _Mark
    span: Span
    target: _Target | None
    alone: bool  # the comment is alone on its line
    name: tuple[str, str | None, int] | str  # (old, old schema, end) or why unreadable


def _read(file: str, text: str, targets: list[_Target]) -> list[_Found]:
    comments, marks = _marks(text)
    starts = [t.start for t in targets]
    lines = line_starts(text)
    out = []
    for mark in marks:
        target, alone = _attach(text, mark, comments, targets, starts)
        name = _read_name(text, mark, target.key[0]) if target is not None else ""
        out.append(_Found(mark, file_span(file, lines, *mark.comment), target, alone, name))
    return out


# --------------------------------------------------------------------------------------
# The API


def _describe(key: tuple[str, ...]) -> str:
    family, *parts = key
    if family == "enum_value":
        return f"enum value {quote_literal(parts[2])} of type {qname(parts[0], parts[1])}"
    if family in ("column", "constraint"):
        return f"{family} {quote_ident(parts[2])} of table {qname(parts[0], parts[1])}"
    return f"{'enum type' if family == 'type' else family} {qname(parts[0], parts[1])}"


def find_hints(texts: Mapping[str, str],
               statements: list[Statement]) -> tuple[list[Hint], list[Issue]]:
    """The rename hints of the schema files ``texts`` (file name -> the text the
    statements were split from), and warnings for hints that annotate nothing, cannot be
    read, or repeat an earlier hint on the same object (the first one is kept). Files are
    read in the order of ``texts``."""
    if not any(_ANY_MARK.search(text) for text in texts.values()):
        return [], []  # the common case: no hint anywhere, no need to place any
    targets = _targets(texts, statements)
    hints: list[Hint] = []
    issues: list[Issue] = []
    seen: set[tuple[str, ...]] = set()
    for file, text in texts.items():
        for found in _read(file, text, targets.get(file, [])):
            if found.target is None:
                issues.append(Issue(NOT_FOLLOWED if found.alone else NOT_TRAILING,
                                    found.span, "warning"))
            elif isinstance(found.name, str):
                issues.append(Issue(found.name, found.span, "warning"))
            elif found.target.key in seen:
                issues.append(Issue(
                    f"a second rename hint for {_describe(found.target.key)}: only the first "
                    "one is used", found.span, "warning"))
            else:
                seen.add(found.target.key)
                old, old_schema, _ = found.name
                hints.append(Hint(found.target.key, old, old_schema, found.span))
    return hints, issues


def hint_edit(text: str, file: str, statements: list[Statement], target: tuple[str, ...],
              old: str) -> str:
    """``text`` with a hint that ``target`` was renamed from ``old``: on a line of its own
    above the object when the object begins its line, else in a ``/* */`` comment right
    after it. A hint already there for ``target`` gets the new name instead. Raises
    KeyError if ``target`` is not declared in ``statements`` of ``file``, ValueError if
    ``old`` fits in no comment (a line break and a ``*/`` both in it)."""
    targets = _targets({file: text}, statements).get(file, [])
    t = next((t for t in targets if t.key == target), None)
    if t is None:
        raise KeyError(target)
    name = quote_literal(old) if target[0] == "enum_value" else quote_ident(old)
    fits_line = "\n" not in name and "\r" not in name
    fits_block = "/*" not in name and "*/" not in name
    if not (fits_line or fits_block):
        raise ValueError(f"the old name {name} fits in no SQL comment")
    for found in _read(file, text, targets):
        if found.target == t and not isinstance(found.name, str):
            # The first readable hint on the target is the one used: give it the new name.
            block = text.startswith("/*", found.mark.comment[0])
            if not (fits_block if block else fits_line):
                raise ValueError(f"the old name {name} does not fit in the existing hint")
            return text[:found.mark.at] + name + text[found.name[2]:]

    m = NEWLINE.search(text)
    eol = m.group() if m else "\n"
    line = f"-- trimtab: renamed from {name}" if fits_line else \
        f"/* trimtab: renamed from {name} */"
    lines = line_starts(text)
    line_start = lines[bisect.bisect_right(lines, t.start) - 1]
    before = text[line_start:t.start]
    if not before.strip():  # the object begins its line: the hint goes on the line above
        return text[:line_start] + before + line + eol + text[line_start:]
    r = LINE_END.search(text, t.start)
    line_end = r.start() if r else len(text)
    inner = any(o is not t and t.start <= o.start < t.end and _order(o) > _order(t)
                for o in targets)
    if t.end <= line_end and not inner:  # nothing more specific starts inside it
        if fits_block:
            return f"{text[:t.end]} /* trimtab: renamed from {name} */{text[t.end:]}"
        if not text[t.end:line_end].strip():
            return f"{text[:t.end]} {line}{text[t.end:]}"
    # Otherwise the object gets a line of its own, with the hint above it.
    indent = before[:len(before) - len(before.lstrip())]
    return text[:line_start] + before.rstrip() + eol + indent + line + eol + indent + \
        text[t.start:]


# --------------------------------------------------------------------------------------
# Using hints: ``-- trimtab: using <expression>`` beside a column


@dataclass(frozen=True)
class UsingHint:
    """How a column's values convert when its type changes, for a conversion PostgreSQL
    has no cast for (``bigint`` to ``timestamp``): the ``USING`` expression, as written."""

    target: tuple[str, ...]  # ("column", schema, table, column)
    expr: str
    span: Span  # the comment holding the hint


_USING = re.compile(r"(?<![\w$])trimtab\s*:\s*using(?![\w$])\s*", re.I)
USING_NOT_FOLLOWED = "using hint is not beside a column"


def expression_problem(expr: str) -> str | None:
    """Why ``expr`` is not one SQL expression that can go into ALTER ... USING as is."""
    if not expr:
        return "using hint: write `trimtab: using <expression>`"
    lexed = lex(expr)
    depth = 0
    for tok in lexed.toks:
        if tok[0] == "O" and tok[1] == ";":
            return "using hint: the expression must be one expression, without `;`"
        if tok[0] == "O" and tok[1] in ("(", ")"):
            depth += 1 if tok[1] == "(" else -1
            if depth < 0:
                break
    if depth != 0:
        return "using hint: the expression's parentheses do not match"
    if lexed.errors or comment_ranges(expr):
        return "using hint: the expression has an unterminated string or a comment"
    return None


def find_using_hints(texts: Mapping[str, str],
                     statements: list[Statement]) -> tuple[list[UsingHint], list[Issue]]:
    """The using hints of the schema files ``texts``, attached to columns as rename hints
    are (trailing the column's line, or alone on the line above it); warnings for those
    that annotate no column or repeat an earlier one, an error for one that is not one
    expression."""
    if not any(_USING.search(text) for text in texts.values()):
        return [], []
    targets = {f: [t for t in ts if t.key[0] == "column"]
               for f, ts in _targets(texts, statements).items()}
    hints: list[UsingHint] = []
    issues: list[Issue] = []
    seen: set[tuple[str, ...]] = set()
    for file, text in texts.items():
        columns = targets.get(file, [])
        starts = [t.start for t in columns]
        comments = comment_ranges(text)
        lines = line_starts(text)
        for cs, ce in comments:
            block = text.startswith("/*", cs)
            if block and not is_closed_comment(text, cs, ce):
                continue
            limit = ce - 2 if block else ce
            m = _USING.search(text, cs + 2, limit)
            if m is None:
                continue
            span = file_span(file, lines, cs, ce)
            target, _ = _attach(text, _Mark((cs, ce), m.end(), limit, True), comments,
                                columns, starts)
            expr = text[m.end():limit].strip()
            if target is None:
                issues.append(Issue(USING_NOT_FOLLOWED, span, "warning"))
            elif problem := expression_problem(expr):  # meant as a conversion: never dropped
                issues.append(Issue(problem, span, "error"))
            elif target.key in seen:
                issues.append(Issue(f"a second using hint for {_describe(target.key)}: only "
                                    "the first one is used", span, "warning"))
            else:
                seen.add(target.key)
                hints.append(UsingHint(target.key, expr, span))
    return hints, issues
