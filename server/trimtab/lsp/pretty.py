"""Pending SQL laid out for reading in a hover or the plan document.

sqlglot's tokenizer finds the structure (parentheses, commas, strings, dollar quotes); only
whitespace is added, so what the user reads is exactly what trimtab will run. (sqlglot's
own pretty printer re-spells the statement: ``now()`` becomes ``CURRENT_TIMESTAMP``.)
"""

from __future__ import annotations

import sys

from sqlglot.dialects.postgres import Postgres
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

from trimtab.memo import MiB, memoize

INDENT = "  "
_DIALECT = Postgres()
# CREATE TABLE ... PARTITION OF p FOR VALUES IN (...), CREATE TABLE ... AS SELECT (...)
_NOT_A_BODY = frozenset({"OF", "AS", "VALUES", "SELECT"})


# Hovers ask again for the same statements; each entry keeps its SQL twice at most.
@memoize(4 * MiB, lambda args, out: sys.getsizeof(args[0]) + sys.getsizeof(out))
def layout(sql: str) -> str:
    """One column or constraint per line in CREATE TABLE (and other CREATE ... ( ... ) lists
    of definitions), one action per line in a multi-action ALTER TABLE."""
    if len(sql) > 20_000:
        return sql
    try:
        tokens = _DIALECT.tokenize(sql)
    except SqlglotError:
        return sql
    if len(tokens) < 2:
        return sql
    head = [tok.token_type for tok in tokens[:6]]
    create = head[0] == TokenType.CREATE and TokenType.TABLE in head
    alter = head[0] == TokenType.ALTER and head[1] == TokenType.TABLE
    if not (create or alter):
        return sql
    breaks: list[tuple[int, int, str]] = []  # (start, end) of the text to replace, new text
    depth = 0
    body = False  # inside the definitions of a CREATE TABLE
    for i, tok in enumerate(tokens):
        kind = tok.token_type
        if kind == TokenType.L_PAREN:
            depth += 1
            if create and depth == 1 and not body and 0 < i < len(tokens) - 1 and \
                    tokens[i + 1].token_type != TokenType.R_PAREN and not any(
                    t.text.upper() in _NOT_A_BODY for t in tokens[:i]):
                body = True
                breaks.append((tok.end + 1, _next_start(tokens, i), "\n" + INDENT))
        elif kind == TokenType.R_PAREN:
            if create and depth == 1 and body:
                breaks.append((_prev_end(tokens, i), tok.start, "\n"))
                create = False  # what follows (PARTITION BY, WITH ...) stays as it is
            depth -= 1
        elif kind == TokenType.COMMA and ((create and body and depth == 1)
                                          or (alter and depth == 0)):
            breaks.append((tok.end + 1, _next_start(tokens, i), "\n" + INDENT))
    if not breaks:
        return sql
    out, at = [], 0
    for start, end, text in breaks:
        if sql[start:end].strip():
            continue  # a comment sits there: leave it alone
        out.append(sql[at:start])
        out.append(text)
        at = end
    out.append(sql[at:])
    return "".join(out)


def _next_start(tokens: list, i: int) -> int:
    return tokens[i + 1].start if i + 1 < len(tokens) else tokens[i].end + 1


def _prev_end(tokens: list, i: int) -> int:
    return tokens[i - 1].end + 1 if i > 0 else tokens[i].start
