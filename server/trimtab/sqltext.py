"""The SQL lexer: tokens, string values and escapes, comments and dollar quotes.

One scanner of SQL text for the schema reader (``sources/sqlfile``) and the planner
(``plan/``, which may not import ``sources/``): the reader lexes statements with it, the
planner blanks what a statement quotes or comments before it looks for words. It imports
the standard library and ``trimtab.memo`` only."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

from trimtab.memo import MiB, memoize

DOLLAR_OPEN = re.compile(r"\$(?:[^\W\d]\w*)?\$")
_COMMENT_MARK = re.compile(r"/\*|\*/")


def skip_block_comment(text: str, pos: int) -> int:
    """``pos`` is just after a ``/*``; the offset after its matching ``*/`` (or the end)."""
    depth = 1
    for m in _COMMENT_MARK.finditer(text, pos):
        if m.group() == "/*":
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return m.end()
    return len(text)


def is_closed_comment(text: str, cs: int, ce: int) -> bool:
    if text.startswith("--", cs):
        return True
    return ce >= cs + 4 and text.startswith("*/", ce - 2) and skip_block_comment(
        text, cs + 2
    ) == ce


NAMEDATALEN = 64


def clip(s: str, nbytes: int) -> str:
    b = s.encode()
    if len(b) <= nbytes:
        return s
    return b[:nbytes].decode("utf-8", "ignore")

# --------------------------------------------------------------------------------------
# Tokens (for reading statements)


TOKEN = re.compile(
    r"""\s*(?:
      (?P<W>(?![eEbBxXnN]'|[uU]&['"])[^\W\d][\w$]*)
    | (?P<C>--[^\n\r]*)
    | (?P<BC>/\*)
    | (?P<E>[eE]'[^'\\]*(?:(?:\\.|'')[^'\\]*)*(?P<Ec>')?)
    | (?P<S>(?:[uU]&|[bBxXnN])?'[^']*(?:''[^']*)*(?P<Sc>')?)
    | (?P<Q>(?:[uU]&)?"[^"]*(?:""[^"]*)*(?P<Qc>")?)
    | (?P<D>\$(?P<tag>(?:[^\W\d]\w*)?)\$.*?\$(?P=tag)\$)
    | (?P<DU>\$(?:[^\W\d]\w*)?\$)
    | (?P<P>\$\d+)
    | (?P<N>(?:0[xXoObB][0-9A-Fa-f_]+|(?:\d[\d_]*(?:\.\d[\d_]*|\.(?!\.))?|\.\d[\d_]*)
              (?:[eE][+-]?\d+)?))
    | (?P<O>::|:=|=>|[(),;\[\].:]|(?:[+*<>=~!@\#%^&|`?]|-(?!-)|/(?!\*))+)
    | (?P<X>.)
    )""",
    re.X | re.S,
)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


def ident_value(name: str) -> str:
    """PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes."""
    return name if len(name) < 22 else clip(name, 63)


def fold(word: str) -> str:
    """PostgreSQL's folding of an unquoted identifier (ASCII letters only)."""
    return word.lower() if word.isascii() else word.translate(_ASCII_LOWER)


# A token: (kind, value, start, end). Kinds: W word (value folded), Q quoted identifier
# (value unquoted), S string, E escape string, D dollar string (value = source), N number,
# P parameter, O operator or punctuation, X anything else.
Tok = tuple[str, str, int, int]


@dataclass(frozen=True)
class Lexed:
    toks: tuple[Tok, ...]
    errors: tuple[tuple[str, int, int], ...]  # (message, start, end) in the statement text


@memoize(8 * MiB, lambda args, lexed: sys.getsizeof(args[0]) + 200 * len(lexed.toks) + 128)
def lex(text: str) -> Lexed:
    """The tokens of ``text``, kept for what asks again for the same short text (hover,
    hints, a type). A statement's reader lexes with ``lex_uncached`` instead: a token takes
    some 200 bytes, 30 a character of text, and keeping them for every text a keystroke
    made was most of what the server grew by while typing."""
    return lex_uncached(text)


def lex_uncached(text: str) -> Lexed:
    toks: list[Tok] = []
    append = toks.append
    errors: list[tuple[str, int, int]] = []
    stack: list[tuple[str, int]] = []
    n = len(text)
    pos = 0
    lower = _ASCII_LOWER
    intern = sys.intern
    while pos < n:
        restart = n
        for m in TOKEN.finditer(text, pos):
            kind: str = m.lastgroup  # type: ignore[assignment]  # _TOKEN: all named
            if kind == "W":
                w = m.group(kind)
                v = w.lower() if w.isascii() else w.translate(lower)
                # interned: a name is held by every object, key and span that names it
                append(("W", intern(v if len(v) < 22 else ident_value(v)), m.start(kind),
                        m.end()))
            elif kind == "O":
                op = m.group(kind)
                a = m.start(kind)
                append(("O", op, a, m.end()))
                if op == "(" or op == "[":
                    stack.append((op, a))
                elif op == ")" or op == "]":
                    if stack and stack[-1][0] == ("(" if op == ")" else "["):
                        stack.pop()
                    else:
                        errors.append((f"'{op}' without a matching opening one", a, m.end()))
            elif kind == "C":
                continue
            elif kind == "BC":
                a = m.start(kind)
                restart = skip_block_comment(text, m.end())
                if not is_closed_comment(text, a, restart):
                    errors.append(("unterminated /* comment", a, a + 2))
                break
            elif kind == "Q":
                raw = m.group(kind)
                a = m.start(kind)
                if m.group("Qc") is None:
                    errors.append(("unterminated quoted identifier", a, a + 1))
                    append(("Q", ident_value(raw[raw.index('"') + 1:]), a, n))
                    break
                append(("Q", intern(ident_value(raw[raw.index('"') + 1:-1]
                                                .replace('""', '"'))), a, m.end()))
            elif kind == "S" or kind == "E":
                a = m.start(kind)
                if m.group(kind + "c") is None:
                    errors.append(("unterminated quoted string", a, a + 1))
                    append((kind, text[a:n], a, n))
                    break
                append((kind, m.group(kind), a, m.end()))
            elif kind == "DU":
                a = m.start(kind)
                errors.append((f"unterminated dollar-quoted string {m.group(kind)}", a,
                               m.end()))
                append(("D", text[a:n], a, n))
                break
            else:
                append((kind, m.group(kind), m.start(kind), m.end()))
        pos = restart
    for op, a in stack:
        errors.append((f"'{op}' is never closed", a, a + 1))
    nul = text.find("\x00")
    if nul >= 0:  # the exact path refuses the file (check_source); say so as the user types
        errors.append(("NUL character: PostgreSQL would ignore everything after it", nul,
                       nul + 1))
    return Lexed(tuple(toks), tuple(errors))


def string_value(tok: Tok) -> str | None:
    """The value of a string literal token (None if it is not one)."""
    kind, raw = tok[0], tok[1]
    if kind == "D":
        m = DOLLAR_OPEN.match(raw)
        if not m:
            return None
        tag = m.group()
        inner = raw[len(tag):]
        return inner[: -len(tag)] if inner.endswith(tag) and len(inner) >= len(tag) else inner
    if kind == "S":
        q = raw.index("'")
        body = raw[q + 1:-1] if raw.endswith("'") and len(raw) > q + 1 else raw[q + 1:]
        return body.replace("''", "'")
    if kind == "E":
        body = raw[2:-1] if raw.endswith("'") and len(raw) > 2 else raw[2:]
        return _unescape(body)
    return None


_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_ESC = re.compile(r"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|(.))"
                  r"|''", re.S)


def _unescape(body: str) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group() == "''":
            return "'"
        octal, hexa, u4, u8, other = m.groups()
        try:
            if octal:
                return chr(int(octal, 8))
            if hexa:
                return chr(int(hexa, 16))
            if u4 or u8:
                return chr(int(u4 or u8, 16))
        except (ValueError, OverflowError):
            return ""
        return _ESCAPES.get(other, other)

    return _ESC.sub(sub, body)
