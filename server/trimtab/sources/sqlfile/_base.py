"""Statements, spans and issues: the data every layer of the SQL reader shares."""

from __future__ import annotations

import bisect
import os
import re
import sys
from dataclasses import dataclass

from trimtab.memo import MiB, memoize

META_COMMAND = "PSQL META-COMMAND"

# Set TRIMTAB_SQLFILE_STRICT=1 (the tests do) to let an internal error in the reader raise
# instead of skipping the statement: the fuzz tests then find bugs rather than hide them.
STRICT = bool(os.environ.get("TRIMTAB_SQLFILE_STRICT"))


def strict() -> bool:
    """Whether an internal error of a reader raises (read at each use: tests switch it)."""
    return STRICT


@dataclass(frozen=True)
class Span:
    """A range of a file. ``line``/``column`` are 1-based and point at the first character;
    ``end_line``/``end_column`` point at the last character (inclusive; equal to the start
    for an empty span). ``start_offset``/``end_offset`` are character offsets into the file
    text, end exclusive: ``text[start_offset:end_offset]`` is the spanned text."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    start_offset: int
    end_offset: int


@dataclass(frozen=True)
class Statement:
    """One statement of a schema file.

    ``object_key`` is the model key of the object it declares: ("table", schema, name),
    ("type", ...) for enums, domains and composite types, ("view", ...) for views and
    materialized views, ("sequence", ...), ("schema", name), ("extension", name),
    ("index", schema of its table, name) for a named index, ("trigger"|"policy", schema,
    table, name), and ("function", schema, name, identity arguments) for functions and
    procedures, the arguments as pg_get_function_identity_arguments() shows them
    ("a integer, OUT b text"), so that the key is the exact model's key.
    """

    text: str  # exact source text, without the ';' nor trailing blanks and comments
    span: Span
    kind: str  # "CREATE TABLE", "ALTER TABLE", "COMMENT", "GRANT"... ("" when unknown)
    object_key: tuple[str, ...] | None


@dataclass(frozen=True)
class Issue:
    message: str
    span: Span
    severity: str  # "error" (certainly invalid SQL) or "warning"


# --------------------------------------------------------------------------------------
# Lines and columns

NEWLINE = re.compile(r"\r\n?|\n")


# The caches below are keyed by statement text (or by a piece of one), and every keystroke
# makes a new text: they are bounded by bytes (trimtab.memo), each entry counted from the
# length of its text by what it was measured to keep (tests/test_memory.py holds the
# estimates to what tracemalloc sees).


@memoize(8 * MiB, lambda args, starts: sys.getsizeof(args[0]) + 40 * len(starts) + 64)
def line_starts(text: str) -> tuple[int, ...]:
    return (0, *(m.end() for m in NEWLINE.finditer(text)))


def line_col(starts: tuple[int, ...] | list[int], offset: int) -> tuple[int, int]:
    """0-based (line index, column index) of a character offset."""
    k = bisect.bisect_right(starts, offset) - 1
    return k, offset - starts[k]


def file_span(file: str, starts: tuple[int, ...] | list[int], a: int, b: int) -> Span:
    la, ca = line_col(starts, a)
    lb, cb = line_col(starts, max(a, b - 1))
    return Span(file, la + 1, ca + 1, lb + 1, cb + 1, a, b)


def sub_span(st: Statement, a: int, b: int) -> Span:
    """The file span of ``st.text[a:b]``."""
    n = len(st.text)
    a = min(max(a, 0), n)
    b = min(max(b, a), n)
    starts = line_starts(st.text)

    def point(off: int) -> tuple[int, int]:
        k, c = line_col(starts, off)
        if k == 0:
            return st.span.line, st.span.column + c
        return st.span.line + k, c + 1

    la, ca = point(a)
    lb, cb = point(max(a, b - 1))
    return Span(st.span.file, la, ca, lb, cb, st.span.start_offset + a, st.span.start_offset + b)
