"""Where, in a CREATE FUNCTION / PROCEDURE statement, an error inside the function's body
is: PostgreSQL reports most body errors with a position in the statement, but some only
with a line of the body ("compilation of PL/pgSQL function "f" near line 3", "PL/pgSQL
function f() line 3 at RAISE") or a position inside the body (``internal_position``).
Pure: from the statement's text and the error's fields."""

from __future__ import annotations

import re

# The body: AS $tag$...$tag$, AS '...' or AS E'...' (the form CREATE FUNCTION accepts).
_BODY = re.compile(r"\bAS\s+(?:(\$(?:[A-Za-z_][A-Za-z_0-9]*)?\$)|(E?)')", re.I)
_LINE = re.compile(r'(?:PL/pgSQL function .*? line|compilation of PL/pgSQL function "[^"]*"'
                   r' near line) (\d+)')


def body_offsets(text: str) -> list[int] | None:
    """For each character of the function's body as PostgreSQL reads it, its offset in
    ``text`` (0-based); None when the statement has no quoted body."""
    m = _BODY.search(text)
    if m is None:
        return None
    start = m.end()
    if m.group(1):  # dollar quoted: the body is the text up to the closing tag
        end = text.find(m.group(1), start)
        return list(range(start, end if end >= 0 else len(text)))
    out: list[int] = []
    i, escapes = start, bool(m.group(2))
    while i < len(text):
        c = text[i]
        if c == "'":
            if text.startswith("''", i):
                out.append(i)
                i += 2
                continue
            break
        out.append(i)
        i += 2 if escapes and c == "\\" else 1
    return out


def body_position(text: str, internal_position: str | int | None,
                  context: str | None) -> int | None:
    """The 1-based position in ``text`` of an error PostgreSQL placed in a function's
    body: its ``internal_position`` (a character of the body) or, failing that, the first
    token of the body line its context names. None when neither says where."""
    offsets = body_offsets(text)
    if not offsets:
        return None
    if internal_position:
        i = int(internal_position) - 1
        if 0 <= i < len(offsets):
            return offsets[i] + 1
    m = _LINE.search(context or "")
    return line_position(text, int(m.group(1)), offsets) if m else None


def line_position(text: str, line: int, offsets: list[int] | None = None) -> int | None:
    """The 1-based position in ``text`` of the first token of the body's ``line`` (as
    PL/pgSQL counts them: line 1 starts right after the opening quote); None when the
    statement has no body or the body has fewer lines."""
    offsets = body_offsets(text) if offsets is None else offsets
    if not offsets or line < 1:
        return None
    first, last = offsets[0], offsets[-1] + 1
    at = first
    for _ in range(line - 1):  # line 1 starts right after the opening quote
        nl = text.find("\n", at, last)
        if nl < 0:
            return None
        at = nl + 1
    while at < last and text[at] in " \t":
        at += 1
    return at + 1
