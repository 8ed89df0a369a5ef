"""Splitting a file into statements with spans (a scanner after psql's lexer)."""

from __future__ import annotations

import re
import sys
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast, overload

from trimtab.memo import MISSING, ByteLRU, MiB
from trimtab.sources.sqlfile._base import (
    META_COMMAND,
    NEWLINE,
    Span,
    Statement,
    file_span,
    line_col,
    sub_span,
)
from trimtab.sources.sqlfile._heads import statement_head
from trimtab.sqltext import (
    DOLLAR_OPEN,
    TOKEN,
    is_closed_comment,
    skip_block_comment,
)

# --------------------------------------------------------------------------------------
# Splitting

# Outside quotes and comments, only these characters matter to the splitter.
# (Parentheses are counted in bulk between two of these.)
_SPECIAL = re.compile(r"""[;'"$\\]|--|/\*""")
# Inside CREATE FUNCTION/PROCEDURE, psql also counts BEGIN, CASE and END.
_SPECIAL_FN = re.compile(r"""[;'"$\\]|--|/\*|(?<![\w$])(?:begin|case|end)(?![\w$])""", re.I)
SQ_REST = re.compile(r"[^']*(?:''[^']*)*'")  # after the opening quote
EQ_REST = re.compile(r"[^'\\]*(?:(?:\\.|'')[^'\\]*)*'", re.S)
DQ_REST = re.compile(r'[^"]*(?:""[^"]*)*"')

_BLANKS = re.compile(r"(?:\s+|--[^\n\r]*)+")
LINE_END = re.compile(r"[\n\r]")
_GAP = r"(?:\s|--[^\n\r]*(?:[\n\r]|$)|/\*(?:[^*]|\*(?!/))*\*/)+"
_FN_HEAD = re.compile(
    rf"create{_GAP}(?:or{_GAP}replace{_GAP})?(?:function|procedure)(?![\w$])", re.I
)

def skip_blanks(text: str, pos: int, comments: list[tuple[int, int]] | None = None) -> int:
    """Skip whitespace and comments from ``pos``; the offset of the next real character."""
    n = len(text)
    while pos < n:
        m = _BLANKS.match(text, pos)
        if m:
            pos = m.end()
            continue
        if text.startswith("/*", pos):
            end = skip_block_comment(text, pos + 2)
            if comments is not None:
                comments.append((pos, end))
            pos = end
            continue
        break
    return pos


def ident_run_is_identifier(text: str, pos: int) -> bool:
    """Whether the character before ``pos`` ends an identifier (not a number)."""
    i = pos
    while i > 0 and (text[i - 1].isalnum() or text[i - 1] in "_$"):
        i -= 1
    return i < pos and not text[i].isdigit()


def at_line_start(text: str, pos: int) -> bool:
    i = pos
    while i > 0 and text[i - 1] in " \t\f\v":
        i -= 1
    return i == 0 or text[i - 1] in "\n\r"


def _scan_statement(text: str, start: int, nesting: bool) -> tuple[int, int, bool, bool, list]:
    """Scan one statement from ``start`` (its first real character).

    Returns (content end, resume offset, ended by ';', left open by nesting, comments),
    where comments are the (start, end) of the comments seen, to trim trailing ones.
    """
    n = len(text)
    fn = nesting and _FN_HEAD.match(text, start) is not None
    search = (_SPECIAL_FN if fn else _SPECIAL).search
    paren = 0  # depth of parentheses (psql ignores a ')' at depth 0; a difference only
    begin = 0  # for invalid SQL, where this count goes negative and is then taken as 0)
    comments: list[tuple[int, int]] = []
    pos = start
    count = text.count
    while True:
        m = search(text, pos)
        if m is None:
            if nesting:
                paren += count("(", pos, n) - count(")", pos, n)
            return n, n, False, nesting and (paren > 0 or begin > 0), comments
        q = m.start()
        if nesting and q > pos:
            paren += count("(", pos, q) - count(")", pos, q)
            if paren < 0:
                paren = 0
        tok = m.group()
        c = tok[0]
        if c == ";":
            if paren == 0 and begin == 0:
                return q, q + 1, True, False, comments
            pos = q + 1
        elif c == "'":
            escape = q > 0 and text[q - 1] in "eE" and not (
                q > 1 and (text[q - 2].isalnum() or text[q - 2] in "_$")
            )
            r = (EQ_REST if escape else SQ_REST).match(text, q + 1)
            pos = r.end() if r else n
        elif c == '"':
            r = DQ_REST.match(text, q + 1)
            pos = r.end() if r else n
        elif c == "$":
            if q > 0 and (text[q - 1].isalnum() or text[q - 1] in "_$") and \
                    ident_run_is_identifier(text, q):
                pos = q + 1
                continue
            r = DOLLAR_OPEN.match(text, q)
            if r is None:
                pos = q + 1
                continue
            close = text.find(r.group(), r.end())
            pos = n if close < 0 else close + len(r.group())
        elif tok == "--":
            r = LINE_END.search(text, q)
            pos = r.start() if r else n
            comments.append((q, pos))
        elif tok == "/*":
            pos = skip_block_comment(text, q + 2)
            comments.append((q, pos))
        elif c == "\\":
            if at_line_start(text, q):
                return q, q, False, False, comments
            pos = q + 1
        else:  # begin / case / end, inside CREATE FUNCTION / PROCEDURE
            if paren == 0:
                word = tok.lower()
                if word == "begin":
                    begin += 1
                elif word == "case":
                    if begin > 0:
                        begin += 1
                elif begin > 0:
                    begin -= 1
            pos = m.end()


def _trim_end(text: str, start: int, end: int, comments: list[tuple[int, int]]) -> int:
    """End of the statement's last real token: without trailing blanks and comments."""
    while True:
        while end > start and text[end - 1].isspace():
            end -= 1
        if comments and comments[-1][1] >= end and comments[-1][0] >= start:
            # Only when the comment is not left open (an unterminated comment is content).
            cs, ce = comments.pop()
            if ce == len(text) and not is_closed_comment(text, cs, ce):
                return end
            end = cs
            continue
        return end

# The loop state of the splitter between two statements: where it goes on, whether it still
# counts nesting, how many statements were left open so far.
_State = tuple[int, bool, int]


def _ranges(text: str) -> list[tuple[int, int, bool]]:
    """(start, end, is meta-command) of each statement of ``text``."""
    out: list[tuple[int, int, bool, bool]] = []
    _scan_ranges(text, (0, True, 0), out, [])
    return [(a, b, meta) for a, b, meta, _ in out]


def _scan_ranges(text: str, state: _State, out: list[tuple[int, int, bool, bool]],
                 states: list[_State],
                 stop: Callable[[_State], bool] | None = None) -> bool:
    """Split ``text`` from ``state`` on: append (start, end, is meta-command, read to the
    end of the text) of each statement to ``out`` and the state after it to ``states``.
    ``stop(state)`` after each statement ends the scan early (True returned then)."""
    n = len(text)
    pos, nesting, rescans = state
    while pos < n:
        lead: list[tuple[int, int]] = []
        start = skip_blanks(text, pos, lead)
        if start >= n:
            # Only blanks and comments left: a statement only if a comment is left open,
            # so that the error is reported rather than silently swallowing the rest.
            for cs, ce in lead:
                if not is_closed_comment(text, cs, ce):
                    out.append((cs, len(text[cs:].rstrip()) + cs, False, True))
                    states.append((n, nesting, rescans))
                    break
            break
        c = text[start]
        if c == ";":
            pos = start + 1
            continue
        if c == "\\" and at_line_start(text, start):
            r = LINE_END.search(text, start)
            end = r.start() if r else n
            out.append((start, _trim_end(text, start, end, []), True, r is None))
            pos = end
        else:
            end, resume, _, left_open, comments = _scan_statement(text, start, nesting)
            whole = resume >= n or left_open
            if left_open:
                # The rest of the file was swallowed by a '(' or BEGIN never closed: this
                # statement ends at its first ';' instead (it is reported as unbalanced),
                # and the next ones are split as usual. After a few such statements,
                # nesting is given up for the rest of the file, to keep splitting linear.
                rescans += 1
                if rescans > 8:
                    nesting = False
                end, resume, _, _, comments = _scan_statement(text, start, False)
            trimmed = _trim_end(text, start, end, comments)
            pos = resume if resume > start else start + 1
            if trimmed <= start:
                continue
            out.append((start, trimmed, False, whole))
        states.append((pos, nesting, rescans))
        if stop is not None and stop(states[-1]):
            return True
    return False


class _Packed(Sequence[tuple]):
    """Rows of small ints and bools (a split's ranges or states), packed in one array: as
    a list of tuples they took some 200 bytes a statement (6 MiB at 10,000 tables) for as
    long as the split is kept. Reads back as tuples; a slice as a list of them."""

    __slots__ = ("_bools", "_data", "_width")

    def __init__(self, rows: list[tuple], bools: tuple[bool, ...]) -> None:
        self._width = len(bools)
        self._bools = bools
        self._data = array("q", [int(x) for row in rows for x in row])

    def _row(self, i: int) -> tuple:
        w = self._width
        return tuple(bool(x) if b else x for x, b in
                     zip(self._data[i * w:i * w + w], self._bools, strict=True))

    def __len__(self) -> int:
        return len(self._data) // self._width

    def column(self, c: int) -> array:
        """The ``c``-th value of every row (as ints)."""
        return self._data[c::self._width]

    def spliced(self, k: int, rows: list[tuple], j: int, shift: tuple[int, ...]) -> _Packed:
        """Rows [0, k), then ``rows``, then rows [j, end) with ``shift`` added to them."""
        w = self._width
        out = _Packed([], self._bools)
        data = self._data[:k * w]
        data.extend(int(x) for row in rows for x in row)
        tail = self._data[j * w:]
        for c, by in enumerate(shift):
            if by:
                tail[c::w] = array("q", [x + by for x in tail[c::w]])
        data.extend(tail)
        out._data = data
        return out

    @overload
    def __getitem__(self, i: int) -> tuple: ...
    @overload
    def __getitem__(self, i: slice) -> list[tuple]: ...
    def __getitem__(self, i: int | slice) -> tuple | list[tuple]:
        n = len(self)
        if isinstance(i, slice):
            return [self._row(k) for k in range(*i.indices(n))]
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        return self._row(i)


def _packed(rows: Sequence[tuple], bools: tuple[bool, ...]) -> _Packed:
    return rows if isinstance(rows, _Packed) else _Packed(list(rows), bools)


def _column(rows: Sequence[tuple], c: int) -> Sequence[int]:
    return rows.column(c) if isinstance(rows, _Packed) else [r[c] for r in rows]


# file -> (text, ranges, the state after each, statements) of the file's last split: an
# editor splits the same file again on every keystroke, and only the statements around the
# edit can differ (see _split_again).
_Kept = tuple[str, Sequence[tuple[int, int, bool, bool]], Sequence[_State], list[Statement]]


def _kept_size(file: str, v: _Kept) -> int:
    return 2 * sys.getsizeof(v[0]) + 420 * len(v[1])


_last_split: ByteLRU[str, _Kept] = ByteLRU("sqlfile.split", 32 * MiB, _kept_size)
_RANGE = (False, False, True, True)  # (start, end, meta-command, read to the end)
_STATE = (False, True, False)  # see _State


def forget_splits() -> None:
    """The next split of every file starts afresh."""
    _last_split.clear()


def swap_splits(kept: dict[str, _Kept] | None) -> dict[str, _Kept]:
    """The last splits now (to put back later), replaced by ``kept`` (None: none)."""
    now = {f: v for f in list(_last_split) if (v := _last_split.get(f)) is not None}
    _last_split.clear()
    kept = kept or {}
    # all of them back, as each was kept (see _keep)
    _last_split.floor = _last_split.budget + sum(_kept_size(f, v) for f, v in kept.items())
    for f, v in kept.items():
        _last_split[f] = v
    return now


def _keep(file: str, kept: _Kept) -> None:
    """``kept`` as ``file``'s last split. Room for it whatever the budget (which bounds
    the other files' splits): the next keystroke splits again from it, and the statements
    it holds are those the file's build holds. drizzle-kit's SQL of 10,000 tables (40,496
    statements) was above the budget: every keystroke, and each exact analysis beside the
    fast path's, split the whole file again (56 MiB more at the language server's peak)."""
    _last_split.floor = _last_split.budget + _kept_size(file, kept)
    _last_split[file] = kept


def split_statements(text: str, file: str = "<schema>") -> list[Statement]:
    """The statements of a SQL text, with their spans, kinds and declared objects."""
    last = _last_split.lookup(file)
    if last is not MISSING:
        old = cast(_Kept, last)
        if old[0] is text or old[0] == text:
            return list(old[3])
        again = _split_again(text, file, *old)
        if again is not None:
            return list(again)
    out: list[tuple[int, int, bool, bool]] = []
    states: list[_State] = []
    _scan_ranges(text, (0, True, 0), out, states)
    starts = _compute_starts(text)
    statements = []
    for a, b, meta, _ in out:
        body = text[a:b]
        kind, key = (META_COMMAND, None) if meta else statement_head(body)
        statements.append(Statement(body, file_span(file, starts, a, b), kind, key))
    _keep(file, (text, _Packed(out, _RANGE), _Packed(states, _STATE), statements))
    return list(statements)


def _split_again(text: str, file: str, old_text: str,
                 old_ranges: Sequence[tuple[int, int, bool, bool]],
                 old_states: Sequence[_State],
                 old_statements: list[Statement]) -> list[Statement] | None:
    """``split_statements(text, file)`` from the last split of the file, ``old_text``: the
    statements before the first changed character are the same objects, those after the
    last one the same texts moved, and only those in between are split again. None when
    the edit leaves nothing to reuse."""
    n, old_n = len(text), len(old_text)
    p = _common_prefix(text, old_text)
    s = _common_suffix(text, old_text, min(n, old_n) - p)
    delta = n - old_n
    # Statements read only before the change (the scanner looks a character past where it
    # resumes at most) and not to the end of the text: kept, and the scan resumes after.
    k = 0
    whole, ends = _column(old_ranges, 3), _column(old_states, 0)
    while k < len(whole) and not whole[k] and ends[k] + 2 <= p:
        k += 1
    if k == 0 and p < 64:
        return None
    state: _State = old_states[k - 1] if k else (0, True, 0)
    # Where the scan may join the old one: a state in the unchanged tail whose previous
    # character too is unchanged and not a blank (at_line_start looks back over blanks).
    at = {x: i for i, x in enumerate(ends) if x - 1 >= old_n - s}
    tail_from = n - s

    def joins(st: _State) -> bool:
        i = at.get(st[0] - delta)
        return (i is not None and st[0] - 1 >= tail_from and text[st[0] - 1] not in " \t\f\v"
                and old_states[i][1:] == st[1:])

    middle: list[tuple[int, int, bool, bool]] = []
    states: list[_State] = []
    joined = _scan_ranges(text, state, middle, states, joins)
    j = at[states[-1][0] - delta] + 1 if joined else len(old_ranges)
    # Lines of the middle: line breaks counted in both texts one character either side of
    # the change, so that a CR LF across its edge counts the same in both.
    lo = max(p - 1, 0)
    lines = (len(NEWLINE.findall(text, lo, min(n - s + 1, n)))
             - len(NEWLINE.findall(old_text, lo, min(old_n - s + 1, old_n))))
    if k:
        sp = old_statements[k - 1].span
        where = _Lines(text, sp.start_offset - sp.column + 1, sp.line)
    else:
        where = _Lines(text, 0, 1)
    out = old_statements[:k]
    out += [where.statement(file, a, b, meta) for a, b, meta, _ in middle]
    for st in old_statements[j:]:
        out.append(_moved(st, text, delta, lines, old_n - s))
    ranges = _packed(old_ranges, _RANGE).spliced(k, middle, j, (delta, delta, 0, 0))
    all_states = _packed(old_states, _STATE).spliced(k, states, j, (delta, 0, 0))
    _keep(file, (text, ranges, all_states, out))
    return out


def _common_prefix(a: str, b: str) -> int:
    """Length of the longest common prefix: compared a block at a time (at C speed), then
    a character at a time in the first block that differs."""
    n = min(len(a), len(b))
    i = 0
    step = 4096
    while i < n and a[i:i + step] == b[i:i + step]:
        i += step
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _common_suffix(a: str, b: str, limit: int) -> int:
    """Length of the longest common suffix, at most ``limit`` (so that it does not overlap
    the common prefix)."""
    na, nb = len(a), len(b)
    i = 0
    step = 4096
    while i + step <= limit and a[na - i - step:na - i] == b[nb - i - step:nb - i]:
        i += step
    while i < limit and a[na - i - 1] == b[nb - i - 1]:
        i += 1
    return i


def _moved(st: Statement, text: str, delta: int, lines: int, tail_from: int) -> Statement:
    """``st`` of the unchanged tail, where it is in the new text: ``delta`` characters and
    ``lines`` lines on; its columns move only on the line of the change."""
    sp = st.span
    a, b = sp.start_offset + delta, sp.end_offset + delta
    col, end_col = sp.column, sp.end_column
    # A column is the same unless the line break before it changed (or there is none)
    if sp.start_offset - sp.column < tail_from:
        col = a - _line_start(text, a) + 1
    if max(sp.start_offset, sp.end_offset - 1) - sp.end_column < tail_from:
        end_col = max(a, b - 1) - _line_start(text, max(a, b - 1)) + 1
    return Statement(st.text, Span(sp.file, sp.line + lines, col, sp.end_line + lines, end_col,
                                   a, b), st.kind, st.object_key)


def _line_start(text: str, offset: int) -> int:
    return max(text.rfind("\n", 0, offset), text.rfind("\r", 0, offset)) + 1


class _Lines:
    """Line and column of offsets met in increasing order, counted on from a line start of
    known line number: the middle of an edit is usually one statement, and counting a whole
    large file's line starts would cost more than splitting it."""

    def __init__(self, text: str, offset: int, line: int) -> None:
        self.text, self.offset, self.line = text, offset, line  # offset: a line start

    def at(self, x: int) -> tuple[int, int]:
        """1-based (line, column) of offset ``x`` (not before the last one asked)."""
        self.line += len(NEWLINE.findall(self.text, self.offset, x))
        self.offset = _line_start(self.text, x)
        return self.line, x - self.offset + 1

    def statement(self, file: str, a: int, b: int, meta: bool) -> Statement:
        body = self.text[a:b]
        kind, key = (META_COMMAND, None) if meta else statement_head(body)
        la, ca = self.at(a)
        lb, cb = self.at(max(a, b - 1))
        return Statement(body, Span(file, la, ca, lb, cb, a, b), kind, key)


def _compute_starts(text: str) -> tuple[int, ...]:
    return (0, *(m.end() for m in NEWLINE.finditer(text)))


# What cannot reach PostgreSQL intact. A NUL ends the query string in the wire protocol, so
# the server silently runs only what precedes it (a migration "applied" without its last
# statements, a schema without its last tables); an unpaired surrogate (an editor buffer, a
# JSON escape) has no UTF-8 form at all.
_UNSENDABLE = re.compile("[\x00\ud800-\udfff]")


def check_source(text: str, file: str) -> None:
    """Raise SchemaError at the first character of ``text`` PostgreSQL could not receive as
    written (see ``_UNSENDABLE``); file, line and column name it."""
    from trimtab.errors import SchemaError

    m = _UNSENDABLE.search(text)
    if m is None:
        return
    line, col = line_col(_compute_starts(text), m.start())
    c = m.group()
    if c == "\x00":
        message = ("NUL character (byte 0x00): PostgreSQL stops reading a query at it and "
                   "would silently ignore everything after it")
        hint = "remove it; a zero byte belongs in a bytea value ('\\x00'::bytea)"
    else:
        message = (f"unpaired surrogate U+{ord(c):04X}: it has no UTF-8 form and cannot be "
                   "sent to PostgreSQL")
        hint = "remove it, or write the whole character it was part of"
    raise SchemaError(message, file=file, line=line + 1, column=col + 1, hint=hint)


def decode_source(data: bytes, file: str, *, strip_bom: bool = True) -> str:
    """The text of a source file's bytes, refusing bytes that are not UTF-8 (decoding them
    with replacement characters would change what reaches the database) and what
    ``check_source`` refuses, with the file, line and column of the first bad character.
    ``strip_bom`` drops a leading byte order mark (and does not count it as a column)."""
    from trimtab.errors import SchemaError

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        before = data[: e.start].decode("utf-8")
        if strip_bom:
            before = before.removeprefix("\ufeff")
        line, col = line_col(_compute_starts(before), len(before))
        raise SchemaError(
            f"byte 0x{data[e.start]:02x} is not UTF-8 ({e.reason}): the file would reach "
            "PostgreSQL mangled",
            file=file, line=line + 1, column=col + 1,
            hint="save the file as UTF-8",
        ) from None
    if strip_bom:
        text = text.removeprefix("\ufeff")
    check_source(text, file)
    return text


def read_source_file(path: Path, *, strip_bom: bool = True) -> str:
    """``decode_source`` of a file's bytes; a file that cannot be read is a SchemaError."""
    from trimtab.errors import SchemaError

    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise SchemaError(f"cannot read {path}: {e.strerror or e}", file=str(path)) from None
    return decode_source(data, str(path), strip_bom=strip_bom)


def read_schema(path: Path) -> list[Statement]:
    """The statements of a .sql file, or of every ``*.sql`` file directly in a folder
    (sorted by file name)."""
    from trimtab.errors import SchemaError

    path = Path(path)
    if path.is_dir():
        files = sorted(
            (p for p in path.iterdir() if p.suffix.lower() == ".sql" and p.is_file()),
            key=lambda p: p.name,
        )
        if not files:
            raise SchemaError(
                f"the schema folder {path} has no .sql files",
                file=str(path),
                hint="put the schema in .sql files there, or point 'schema' at a file",
            )
    elif path.is_file():
        files = [path]
    else:
        raise SchemaError(
            f"schema path {path} does not exist",
            file=str(path),
            hint="create it, or set 'schema' in trimtab.toml to the .sql file or folder "
            "that holds the desired schema",
        )
    out: list[Statement] = []
    for p in files:
        out.extend(split_statements(read_source_file(p), str(p)))
    return out


def locate(statement: Statement, position: int | None) -> Span:
    """The file span of the point PostgreSQL's error ``position`` (1-based character
    position in the statement text) designates: the token that starts there. ``None``
    gives the statement's own span."""
    if position is None:
        return statement.span
    text = statement.text
    off = min(max(position - 1, 0), max(len(text) - 1, 0))
    if not text:
        return statement.span
    m = TOKEN.match(text, off)
    end = off + 1
    if m and (g := m.lastgroup) and g not in ("C", "BC") and m.start(g) == off:
        end = m.end(g)
        if g in ("D", "DU", "S", "E", "Q"):
            # A whole string would be too much to underline: its first line.
            nl = LINE_END.search(text, off, end)
            end = nl.start() if nl else end
    return sub_span(statement, off, max(end, off + 1))


# --------------------------------------------------------------------------------------
# Comments

# Outside comments, only quotes matter: they may hold '--' or '/*' that are no comments.
# A backslash at the start of a line begins a psql meta-command, read to the end of line.
_COMMENT_SPECIAL = re.compile(r"""['"$\\]|--|/\*""")


def comment_ranges(text: str) -> list[tuple[int, int]]:
    """(start, end) of every comment of a SQL text, skipping strings, quoted identifiers
    and dollar-quoted bodies the way the splitter does (for the hints in comments)."""
    out: list[tuple[int, int]] = []
    n = len(text)
    pos = 0
    while (m := _COMMENT_SPECIAL.search(text, pos)) is not None:
        q = m.start()
        tok = m.group()
        if tok == "--":
            r = LINE_END.search(text, q)
            pos = r.start() if r else n
            out.append((q, pos))
        elif tok == "/*":
            pos = skip_block_comment(text, q + 2)
            out.append((q, pos))
        elif tok == "'":
            escape = q > 0 and text[q - 1] in "eE" and not (
                q > 1 and (text[q - 2].isalnum() or text[q - 2] in "_$"))
            r = (EQ_REST if escape else SQ_REST).match(text, q + 1)
            pos = r.end() if r else n
        elif tok == '"':
            r = DQ_REST.match(text, q + 1)
            pos = r.end() if r else n
        elif tok == "$":
            pos = q + 1
            if q > 0 and (text[q - 1].isalnum() or text[q - 1] in "_$") and \
                    ident_run_is_identifier(text, q):
                continue  # part of an identifier such as a$b
            r = DOLLAR_OPEN.match(text, q)
            if r is not None:
                close = text.find(r.group(), r.end())
                pos = n if close < 0 else close + len(r.group())
        elif tok == "\\" and at_line_start(text, q):  # a psql meta-command
            r = LINE_END.search(text, q)
            pos = r.start() if r else n
        else:
            pos = q + 1
    return out
