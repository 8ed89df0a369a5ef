"""The structural model: assembling the pieces of a file's statements, and object spans."""

from __future__ import annotations

import operator
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableSet
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import chain
from typing import Any

from trimtab import collector
from trimtab.memo import MiB, cache_of, memoize
from trimtab.model import (
    Column,
    CompositeType,
    Constraint,
    Domain,
    Index,
    Model,
    Sequence,
    Table,
    View,
    make_model,
    qname,
    quote_ident,
    quote_literal,
)
from trimtab.sources.sqlfile import _base, _split
from trimtab.sources.sqlfile._base import META_COMMAND, Issue, Span, Statement, sub_span
from trimtab.sources.sqlfile._cursor import Cursor
from trimtab.sources.sqlfile._heads import statement_head
from trimtab.sources.sqlfile._names import choose_name, column_names_addition
from trimtab.sources.sqlfile._readers import (
    ColRead,
    ConRead,
    make_identity,
    read_statement,
    read_table_constraint,
    storage_of,
)
from trimtab.sources.sqlfile._types import INT_MAX, INT_MIN, designates, read_type
from trimtab.sqltext import lex, lex_uncached

# Pieces a statement contributes; the assembler applies them in file order.
# ("obj", object, or_replace_or_if_not_exists: str)
# ("table", Table, likes, cons, serials, column spans)
# ("index", table qname, Index, mode, column name hints, ON ONLY)
# ("attach_index", parent index qname, child index qname)
# ("trigger", table qname, Trigger) / ("policy", table qname, Policy)
# ("add_column", table qname, _ColRead)
# ("add_constraint", table qname, _Con)
# ("alter_column", table qname, column, changes)
# ("table_set", table qname, changes)
# ("comment", kind, target, text or None)
# ("attach", parent qname, child qname, bound)


@dataclass(frozen=True, slots=True)  # (one per statement: no dict each)
class _Analysis:
    # What the statement contributes; none for a table assembled alone (read again in the
    # rare build that cannot take the assembled table: the pieces of a CREATE TABLE were
    # a quarter of what the analyses of a 10,000-table file kept).
    pieces: tuple[tuple, ...]
    errors: tuple[tuple[str, int, int], ...]
    # For a CREATE TABLE that takes nothing from other tables: the table as assembled alone,
    # so that re-assembling a big schema costs a dictionary update per unchanged table.
    alone: _Alone | None = None


class _Where:
    """Where the keys of a table assembled alone are in its statement's text: the keys in
    the order met, and (start, end) of each in one array. Iterates its keys, so that
    object_spans adds a whole table's keys at once (an unchanged table costs two
    dictionary operations, not one a key); a lookup scans the few keys of one table. A
    dict of tuples took three times the memory, for every table of the file."""

    __slots__ = ("keys", "offsets")

    def __init__(self, pairs: list[tuple[tuple[str, ...], int, int]]) -> None:
        self.keys = tuple(k for k, _, _ in pairs)
        self.offsets = array("q", [x for _, a, b in pairs for x in (a, b)])

    def __iter__(self) -> Iterator[tuple[str, ...]]:
        return iter(self.keys)

    def __getitem__(self, key: tuple[str, ...]) -> tuple[int, int]:
        try:
            i = 2 * self.keys.index(key)
        except ValueError:
            raise KeyError(key) from None
        return self.offsets[i], self.offsets[i + 1]


@dataclass(frozen=True, slots=True)
class _Alone:
    table: Table
    objects: tuple  # the sequences of its serial columns
    rel_names: tuple[str, ...]  # relation names it takes besides its own (sequences, indexes)
    con_names: frozenset[str]  # (a builder's connames takes it as it is)
    where: _Where = field(compare=False, hash=False, repr=False)
    mode: str = ""  # the CREATE TABLE's IF NOT EXISTS ("if not exists") or ""


def _analysis_size(args: tuple[str], _: object = None) -> int:
    """What an analysis keeps: its read pieces (columns, constraints, their texts), or a
    table assembled alone, take 2 to 6 bytes a character of the statement (measured: 2
    where its columns are the common ones other tables share, see _parts, 6 for a wide
    table of columns of its own); counted as 5, and 1 KiB a statement."""
    return sys.getsizeof(args[0]) + 5 * len(args[0]) + 1024


@memoize(64 * MiB, _analysis_size)
def _analyze(text: str) -> _Analysis:
    lexed = lex_uncached(text)
    try:
        kind, key = statement_head(text)
        pieces = read_statement(Cursor(text, lexed.toks), kind, key)
    except Exception:  # never fail on input; see STRICT
        if _base.STRICT:
            raise
        pieces = []
    alone = None
    if len(pieces) == 1 and pieces[0][0] == "table":
        try:
            alone = _assemble_alone(pieces[0])
        except Exception:  # never fail on input; see STRICT
            if _base.STRICT:
                raise
    return _Analysis(() if alone is not None else tuple(pieces), lexed.errors, alone)


def _read_pieces(text: str) -> list[tuple]:
    """The pieces of a statement, read afresh (those of a table assembled alone are not
    kept)."""
    try:
        kind, key = statement_head(text)
        return read_statement(Cursor(text, lex_uncached(text).toks), kind, key)
    except Exception:  # never fail on input; see STRICT
        if _base.STRICT:
            raise
        return []


# Equal parts of the tables read (columns, column lists, referenced tables), each kept
# once across statements: a schema repeats the same few columns ("id bigint NOT NULL",
# "created_at timestamp with time zone NOT NULL DEFAULT now()") in thousands of tables
# (bench.generate's 24,000 columns at 2,000 tables are 363 distinct ones; each a Column
# and its texts of its own took a third of the structural model). Emptied when it grows
# past _PARTS_MAX (typing makes a new column a keystroke): that loses sharing, not meaning.
_parts: dict[Any, Any] = {}
_PARTS_MAX = 100_000


def _one(x: Any) -> Any:
    """``x``, or the equal object read before (see _parts)."""
    if len(_parts) > _PARTS_MAX:
        _parts.clear()
    return _parts.setdefault(x, x)


def _short(text: str) -> str:
    """A short text interned (a constraint's "PRIMARY KEY (id)" in every table)."""
    return sys.intern(text) if len(text) <= 64 and type(text) is str else text


def _assemble_alone(piece: tuple) -> _Alone | None:
    _, table, _columns, _cons, likes, _nn, of_type, _mode = piece
    if table.inherits or table.partition_of or of_type or likes:
        return None
    b = _Builder()
    _apply_table(b, None, piece)  # type: ignore[arg-type]
    t = b.table(table.qualified)
    if t is None:
        return None
    return _Alone(
        table=replace(t, columns=tuple(_one(c) for c in t.columns)),
        objects=tuple(o for o in b.objects.values() if o is not t),
        rel_names=tuple(n for n in b.relnames.get(t.schema, ()) if n != t.name),
        con_names=frozenset(b.connames.get(t.qualified, ())),
        where=_Where([(k, v[1], v[2]) for k, v in _span_events(b).own.items()
                      if isinstance(v, tuple)]),
        mode=piece[-1],
    )

# --------------------------------------------------------------------------------------
# Assembling the model


# The table steps of recent builds: id(table) << 64 | id(piece) -> (table, piece, result)
# (an int, not a pair: a build keeps thousands, and the collector walks every tuple).
# A schema read again after an edit applies the same pieces (memoized per statement text)
# to the same tables, so an unchanged table comes out as the very object of the last build
# without being rebuilt, and what compares it later sees the same object. Two dicts, each
# swapped whole (safe across threads: an entry is used only when both objects are the
# same): the last big build's, and the last smaller one's, so that reading a few
# statements between two keystrokes (the Drizzle reader's spans) does not evict the big.
_last_steps: list[dict[int, tuple[Any, Any, Any]]] = [{}, {}]
# The analyses of the statements of recent builds (the same two slots), by text: a lookup
# in a plain dict, where the memo of _analyze takes a lock and reorders its entries.
_last_analyses: list[dict[str, _Analysis]] = [{}, {}]


class _Names(MutableSet[str]):
    """The relation names of a schema taken so far in a build: those of the checkpoint
    it resumed from (frozen, shared by every build resuming from it) and its own. A
    build copied the whole set of the checkpoint (25,000 names at 10,000 tables), and a
    checkpoint the builder's."""

    __slots__ = ("base", "own")

    def __init__(self, base: frozenset[str] = frozenset()) -> None:
        self.base = base
        self.own: set[str] = set()

    def __contains__(self, name: object) -> bool:
        return name in self.own or name in self.base

    def __iter__(self) -> Iterator[str]:
        return chain(self.base, (n for n in self.own if n not in self.base))

    def __len__(self) -> int:
        return len(self.base) + sum(1 for n in self.own if n not in self.base)

    def add(self, name: str) -> None:
        self.own.add(name)

    def discard(self, name: str) -> None:
        # (a build only ever takes names; were one given back, the shared base is copied)
        self.own.discard(name)
        if name in self.base:
            self.base = self.base - {name}

    def update(self, names: Iterable[str]) -> None:
        self.own.update(names)

    def frozen(self) -> frozenset[str]:
        return self.base | self.own if self.own else self.base


class _Builder:
    def __init__(self) -> None:
        self.steps_before = tuple(_last_steps)
        self.steps: dict[int, tuple[Any, Any, Any]] = {}
        self.objects: dict[tuple[str, ...], object] = {}
        self.issues: list[Issue] = []
        # Spans, in the order met (the first one of a key wins), resolved only by
        # object_spans: (key, Span or (statement, start, end) in its text), or
        # (None, statement, its _Where) for a whole table at once.
        self.spans: list[tuple] = []
        self.events: _Events | None = None  # object_spans's, worked out once
        # The checkpoint this build resumed from (None: built from the first statement),
        # and how many of ``spans`` it brought
        self.resumed: tuple | None = None
        self.resumed_spans = 0
        self.where: dict[tuple[str, ...], Span] = {}
        self.relnames: dict[str, _Names] = {}  # schema -> relation names (for name choice)
        # table -> constraint names taken; frozen, replaced when one is added, so that a
        # checkpoint copies the dict only (a set per table of the file was copied twice)
        self.connames: dict[tuple[str, str], frozenset[str]] = {}
        self.pending_indexes: list[tuple[tuple[str, str], Index]] = []
        self.collations: set[tuple[str, str]] = set()  # CREATE COLLATION
        self.only_indexes: set[tuple[str, ...]] = set()  # CREATE INDEX ... ON ONLY
        self.index_keys: set[tuple[str, ...]] = set()

    # -- helpers
    def span(self, key: tuple[str, ...], span: Span | tuple[Statement, int, int]) -> None:
        self.spans.append((key, span))

    def rel_taken(self, schema: str) -> _Names:
        return self.relnames.setdefault(schema, _Names())

    def declare(self, key: tuple[str, ...], obj: object, st: Statement, mode: str) -> bool:
        """Record a declared object; False if an earlier declaration wins."""
        if key in self.objects:
            if mode == "or replace":
                self.objects[key] = obj
                return True
            if mode != "if not exists" and st is not None:
                first = self.where.get(key)
                at = f" (first declared at line {first.line})" if first else ""
                if first and first.file != st.span.file:
                    at = f" (first declared in {first.file}:{first.line})"
                self.issues.append(Issue(
                    f"{_describe(key)} is declared twice{at}", st.span, "warning"))
            return False
        self.objects[key] = obj
        if st is not None:
            self.where[key] = st.span
            if key != st.object_key:  # (that span is the statement's, met just before)
                self.span(key, st.span)
        if key[0] in ("table", "view", "sequence"):
            self.rel_taken(key[1]).add(key[2])
        return True

    def table(self, qn: tuple[str, str]) -> Table | None:
        t = self.objects.get(("table", *qn))
        return t if isinstance(t, Table) else None

    def put_table(self, t: Table) -> None:
        self.objects[t.key] = t

    def step(self, before: Any, piece: Any, make: Callable[[], Any]) -> Any:
        """``make()``, a pure function of ``before`` and ``piece``, or what it gave in the
        last build for these very objects."""
        k = id(before) << 64 | id(piece)
        for steps in self.steps_before:
            hit = steps.get(k)
            if hit is not None and hit[0] is before and hit[1] is piece:
                break
        else:
            hit = (before, piece, make())
        self.steps[k] = hit
        return hit[2]

    # -- constraints
    def name_constraint(self, table: Table, con: ConRead, taken: set[str]) -> Constraint:
        name = con.name
        columns = con.columns
        if con.kind == "c":
            # the columns the expression uses, in order of appearance (as conkey)
            colnames = {c.name for c in table.columns}
            used = [v for v in con.check_vars if v in colnames]
            columns = tuple(used)
        if name is None:
            t = table.name
            if con.kind == "p":
                name = choose_name(t, None, "pkey", taken, self.rel_taken(table.schema))
            elif con.kind in ("u", "x"):
                label = "key" if con.kind == "u" else "excl"
                name = choose_name(t, column_names_addition(con.hints or con.columns), label,
                                    taken, self.rel_taken(table.schema))
            elif con.kind == "f":
                name = choose_name(t, column_names_addition(con.columns), "fkey", taken)
            else:
                name = choose_name(t, used[0] if len(used) == 1 else None, "check", taken)
            if con.kind in ("p", "u", "x"):
                self.rel_taken(table.schema).add(name)
        taken.add(name)
        return Constraint(
            name=name, kind=con.kind, definition=_short(con.definition), columns=_one(columns),
            ref_table=_one(con.ref_table), ref_columns=_one(con.ref_columns),
            validated=con.validated,
        )

    def add_constraints(self, table: Table, cons: list[ConRead], st: Statement) -> Table:
        had = self.connames.get(table.qualified)
        taken = set(had) if had is not None else {c.name for c in table.constraints}
        # PostgreSQL names index-backed constraints first, then checks, then foreign keys.
        order = {"p": 0, "u": 0, "x": 0, "c": 1, "f": 2}
        named: list[tuple[int, Constraint, ConRead]] = []
        try:
            for pos, con in sorted(enumerate(cons), key=lambda pc: (order[pc[1].kind], pc[0])):
                named.append((pos, self.name_constraint(table, con, taken), con))
        finally:
            self.connames[table.qualified] = frozenset(taken)
        named.sort(key=lambda x: x[0])
        new = list(table.constraints)
        pk_cols: set[str] = set()
        for _pos, c, con in named:
            new.append(c)
            self.span(("constraint", table.schema, table.name, c.name), (st, *con.span))
            if c.kind == "p":
                pk_cols.update(c.columns)
        cols = table.columns
        if pk_cols:
            cols = tuple(replace(c, not_null=True) if c.name in pk_cols and not c.not_null
                         else c for c in cols)
        return replace(table, constraints=tuple(new), columns=cols)

    # -- columns
    def serial_sequence(self, table: Table, col: Column, serial: str,
                        span: tuple[Statement, int, int]) -> Column:
        seq_name = choose_name(table.name, col.name, "seq", self.rel_taken(table.schema))
        seq = Sequence(table.schema, seq_name, data_type=serial, max_value=INT_MAX[serial],
                       owned_by=(table.schema, table.name, col.name))
        self.objects.setdefault(seq.key, seq)
        self.span(seq.key, span)
        return replace(col, not_null=True,
                       default=f"nextval({quote_literal(qname(table.schema, seq_name))}"
                               "::regclass)")


def _describe(key: tuple[str, ...]) -> str:
    family = key[0]
    if family == "function":
        return f"function {qname(key[1], key[2])}({key[3]})"
    if len(key) == 2:
        return f"{family} {quote_ident(key[1])}"
    return f"{family} {qname(key[1], key[2])}"


# The last build, (statements, result): an editor asks for structural_model and then
# object_spans of the same statements. One tuple, swapped whole (safe across threads).
_last_build: list = [None]


def _build(statements: list[Statement]) -> tuple[Model, list[Issue], _Builder]:
    key = tuple(statements)
    last = _last_build[0]
    if last is not None and last[0] == key:
        return last[1]
    # The last build's builder and model go before this one is made, not after (what of
    # them this one shares stays): two builds' containers at once were an edit's peak.
    last = _last_build[0] = None
    # The collector's passes over a build's short-lived objects, not the build, were most
    # of a keystroke's time on a big schema.
    with collector.paused():
        result = _build_uncached(statements)
    _last_build[0] = (key, result)
    return result


def reset_reuse() -> None:
    """Forget the last builds (the tables kept for reuse, the last result): the next
    ``structural_model`` builds everything afresh."""
    _last_steps[:] = [{}, {}]
    _parts.clear()
    _last_analyses[:] = [{}, {}]
    _last_needs[:] = [{}, {}]
    _last_build[0] = None
    _last_statements[0], _checkpoint[0] = (), None
    _prefix_events[0] = None
    _split.forget_splits()


@contextmanager
def fresh_builds() -> Iterator[None]:
    """Builds (and splits) inside see nothing of earlier ones; the earlier ones are kept
    for after."""
    steps, analyses = list(_last_steps), list(_last_analyses)
    needs, last = list(_last_needs), _last_build[0]
    resume = _last_statements[0], _checkpoint[0], _prefix_events[0]
    splits = _split.swap_splits(None)
    reset_reuse()
    try:
        yield
    finally:
        _last_steps[:], _last_analyses[:] = steps, analyses
        _last_needs[:], _last_build[0] = needs, last
        _last_statements[0], _checkpoint[0], _prefix_events[0] = resume
        _split.swap_splits(splits)


def _build_uncached(statements: list[Statement]) -> tuple[Model, list[Issue], _Builder]:
    # Room for twice the analyses of the statements being built, whatever the budget: a
    # schema larger than the budget would otherwise be read again whole on each keystroke.
    cache_of(_analyze).floor = 2 * sum(_analysis_size((st.text,)) for st in statements)
    b = _Builder()
    known = tuple(_last_analyses)
    analyses: dict[str, _Analysis] = {}
    # Where this build first differs from the last one: a person types on at the same
    # place, so the state before that statement is kept for the next build to resume from.
    last = _last_statements[0]
    n = min(len(statements), len(last))
    first = next((i for i in range(n) if statements[i] is not last[i]), n)
    _last_statements[0] = tuple(statements)
    start = 0
    cp = _checkpoint[0]
    if cp is not None and cp[0] <= len(statements) and all(
            map(operator.is_, statements[:cp[0]], cp[1])):
        start = cp[0]
        analyses = _restore(b, cp[2])
        b.resumed, b.resumed_spans = cp, len(b.spans)
    keep = first if 0 < first != start else -1
    for i in range(start, len(statements)):
        if i == keep:
            _checkpoint[0] = (i, tuple(statements[:i]), _snapshot(b, analyses))
        st = statements[i]
        if st.kind == META_COMMAND:
            b.issues.append(Issue(
                f"psql meta-commands are not supported in schema files: "
                f"{st.text.split()[0] if st.text.split() else st.text}",
                st.span, "error"))
            continue
        text = st.text
        analysis = known[0].get(text) or known[1].get(text) or _analyze(text)
        analyses[text] = analysis
        for message, a, e in analysis.errors:
            b.issues.append(Issue(message, sub_span(st, a, e), "error"))
        if st.object_key is not None:
            b.span(st.object_key, st.span)
        try:
            if analysis.alone is not None:
                _apply_alone(b, st, analysis.alone)
            for piece in analysis.pieces:
                _apply(b, st, piece)
        except Exception:  # never fail on input; see STRICT
            if _base.STRICT:
                raise
    _finish(b)
    b.steps_before = ()  # (the builds before: not to be kept with this one)
    _last_steps[0 if 2 * len(b.steps) >= len(_last_steps[0]) else 1] = b.steps
    _last_analyses[0 if 2 * len(analyses) >= len(_last_analyses[0]) else 1] = analyses
    model = make_model(list(b.objects.values()))  # type: ignore[arg-type]
    return model, b.issues, b


# The statements of the last build, and (index, the statements before it, the builder's
# state and analyses there) to resume a build from: each one reference, swapped whole
# (builds run in worker threads too); a build resumes only when the statements before the
# index are the very objects the state was made from (the split keeps them).
_last_statements: list[tuple[Statement, ...]] = [()]
_checkpoint: list[tuple[int, tuple[Statement, ...], tuple[Any, ...]] | None] = [None]


def _snapshot(b: _Builder, analyses: dict[str, _Analysis]) -> tuple[Any, ...]:
    """A copy of the state a build has made so far (the objects are immutable: only the
    containers are copied)."""
    return (dict(b.steps), dict(b.objects), list(b.issues), list(b.spans), dict(b.where),
            {k: v.frozen() for k, v in b.relnames.items()},
            dict(b.connames), list(b.pending_indexes),
            set(b.collations), set(b.only_indexes), set(b.index_keys), dict(analyses))


def _restore(b: _Builder, snap: tuple[Any, ...]) -> dict[str, _Analysis]:
    """Put a copy of a snapshot into a new builder (the snapshot serves again); its
    analyses."""
    b.steps, b.objects, b.issues, b.spans, b.where = (
        dict(snap[0]), dict(snap[1]), list(snap[2]), list(snap[3]), dict(snap[4]))
    b.relnames = {k: _Names(v) for k, v in snap[5].items()}
    b.connames = dict(snap[6])
    b.pending_indexes, b.collations = list(snap[7]), set(snap[8])
    b.only_indexes, b.index_keys = set(snap[9]), set(snap[10])
    return dict(snap[11])


def _apply_alone(b: _Builder, st: Statement, alone: _Alone) -> None:
    """A CREATE TABLE assembled alone, taken whole unless the table or one of the names it
    takes is there already (then assembled here from its pieces, read again)."""
    made = alone.table
    key = made.key
    if key == st.object_key:  # the statement's key, not a tuple of the build's own
        key = st.object_key
    if key not in b.objects and not any(
        n in b.rel_taken(made.schema) for n in alone.rel_names
    ):
        b.declare(key, made, st, alone.mode)
        b.rel_taken(made.schema).update(alone.rel_names)
        b.connames[made.qualified] = alone.con_names
        for obj in alone.objects:
            b.objects.setdefault(obj.key, obj)
        b.spans.append((None, st, alone.where))
        return
    for piece in _read_pieces(st.text):
        _apply_table(b, st, piece)


def _apply(b: _Builder, st: Statement, piece: tuple) -> None:
    tag = piece[0]
    if tag == "obj":
        obj, mode = piece[1], piece[2]
        b.declare(obj.key, obj, st, mode)
    elif tag == "table":
        _apply_table(b, st, piece)
    elif tag == "index":
        table_qn, idx, mode, hints = piece[1], piece[2], piece[3], piece[4]
        name = idx.name
        if not name:
            name = choose_name(table_qn[1], column_names_addition(hints), "idx",
                                b.rel_taken(table_qn[0]))
            idx = replace(idx, name=name)
        key = ("index", table_qn[0], name)
        if key in b.index_keys:
            if mode != "if not exists":
                b.issues.append(Issue(f"{_describe(key)} is declared twice", st.span,
                                      "warning"))
            return
        b.index_keys.add(key)
        b.rel_taken(table_qn[0]).add(name)
        b.span(key, st.span)
        if piece[5]:
            b.only_indexes.add(key)
        _attach_index(b, table_qn, idx)
    elif tag == "attach_index":
        _apply_attach_index(b, piece[1], piece[2])
    elif tag == "trigger":
        t = b.table(piece[1])
        if t is not None:
            b.put_table(replace(t, triggers=(*t.triggers, piece[2])))
        elif isinstance(v := b.objects.get(("view", *piece[1])), View):
            b.objects[v.key] = replace(v, triggers=(*v.triggers, piece[2]))
    elif tag == "policy":
        t = b.table(piece[1])
        if t is not None:
            b.put_table(replace(t, policies=(*t.policies, piece[2])))
    elif tag == "add_column":
        t = b.table(piece[1])
        col: ColRead = piece[2]
        if t is None or t.column(col.column.name) is not None:
            return
        column = col.column
        cspan = (st, *col.span)
        if col.serial:
            column = b.serial_sequence(t, column, col.serial, cspan)
        t = replace(t, columns=(*t.columns, column))
        b.span(("column", t.schema, t.name, column.name), cspan)
        if col.cons:
            t = b.add_constraints(t, list(col.cons), st)
        b.put_table(t)
    elif tag == "add_constraint":
        t = b.table(piece[1])
        con: ConRead = piece[2]
        if t is None:
            return
        if con.name is None:  # its name depends on the names taken so far
            b.put_table(b.add_constraints(t, [con], st))
            return
        # A named constraint: the table it makes depends on the table and the clause only.
        table = t
        made = b.step(t, piece, lambda: _Builder().add_constraints(table, [con], st))
        had = b.connames.get(t.qualified)
        b.connames[t.qualified] = (had if had is not None else frozenset(
            c.name for c in t.constraints)) | {con.name}
        b.span(("constraint", t.schema, t.name, con.name), (st, *con.span))
        b.put_table(made)
    elif tag == "alter_column":
        t = b.table(piece[1])
        if t is None or t.column(piece[2]) is None:
            return
        changes = dict(piece[3])
        was = t.column(piece[2])
        assert was is not None
        if "identity" in changes:
            always, raw = changes["identity"]
            changes["identity"] = make_identity(always, dict(raw), was.type)
        if "type" in changes or "storage" in changes:  # a new type brings its own storage
            changes["storage"] = storage_of(changes.get("storage"), changes.get("type", was.type))
        new = replace(was, **changes)
        b.put_table(replace(t, columns=tuple(new if c.name == was.name else c
                                             for c in t.columns)))
    elif tag == "table_set":
        t = b.table(piece[1])
        if t is not None:
            b.put_table(replace(t, **dict(piece[2])))
    elif tag == "attach":
        child = b.table(piece[2])
        if child is not None:  # a partition's columns all come from its parent
            child = replace(child, partition_of=piece[1], partition_bound=piece[3],
                            columns=tuple(replace(c, inherited=True) for c in child.columns))
            b.put_table(_merge_parent_checks(b, child, [piece[1]]))
    elif tag == "comment":
        _apply_comment(b, piece[1], piece[2])
    elif tag == "collation":
        b.collations.add(piece[1])
    elif tag == "alter_sequence":
        seq = b.objects.get(("sequence", *piece[1]))
        if isinstance(seq, Sequence):
            changes = {k: v for k, v in piece[2]
                       if k in _SEQUENCE_FIELDS and (v is not None or k == "owned_by")}
            dt = changes.get("data_type")
            if dt in INT_MAX and seq.data_type in INT_MAX:
                # AS type: bounds that were the old type's follow the new one
                if seq.max_value == INT_MAX[seq.data_type]:
                    changes.setdefault("max_value", INT_MAX[dt])
                if seq.min_value == INT_MIN[seq.data_type]:
                    changes.setdefault("min_value", INT_MIN[dt])
            b.objects[seq.key] = replace(seq, **changes)


def _apply_table(b: _Builder, st: Statement, piece: tuple) -> None:
    _, table, columns, cons, likes, not_null_cols, of_type, mode = piece
    if table.key in b.objects:
        b.declare(table.key, table, st, mode)  # reports the duplicate
        return
    cols: list[Column] = []
    # Columns that come from elsewhere first: parents (INHERITS), the partitioned table,
    # a composite type (OF), LIKE sources.
    sources = list(table.inherits)
    if table.partition_of:
        sources.append(table.partition_of)
    for qn in sources:
        parent = b.table(qn)
        if parent is None:
            continue
        for c in parent.columns:
            if all(x.name != c.name for x in cols):
                # an identity stays the parent's (its sequence belongs to the parent column)
                cols.append(replace(c, comment=None, grants=(), inherited=True, identity=None))
    if of_type is not None:
        ty = b.objects.get(("type", *of_type))
        if isinstance(ty, CompositeType):
            for name, text in ty.attributes:
                type_text, _, collation = text.partition(" COLLATE ")
                tr = Cursor(type_text, lex(type_text).toks)
                cols.append(Column(name=name, type=type_text, collation=collation or None,
                                   type_ref=read_type(tr, tr.n).ref))
    like_cols: list[tuple[int, Column]] = []  # (columns written before the LIKE, column)
    like_cons: list[ConRead] = []
    like_indexes: list[Index] = []
    for qn, opts, at in likes:
        src = b.table(qn)
        if src is None:
            continue
        for c in src.columns:
            like_cols.append((at, Column(
                name=c.name, type=c.type, not_null=c.not_null, type_ref=c.type_ref,
                collation=c.collation,
                default=c.default if "defaults" in opts and c.generated is None else None,
                identity=c.identity if "identity" in opts else None,
                generated=c.generated if "generated" in opts else None,
                generated_virtual=c.generated_virtual if "generated" in opts else False,
                storage=c.storage if "storage" in opts else None,
                compression=c.compression if "compression" in opts else None,
                comment=c.comment if "comments" in opts else None,
            )))
        for con in src.constraints:
            if (con.kind == "c" and "constraints" in opts) or (
                con.kind in ("p", "u", "x") and "indexes" in opts
            ):
                like_cons.append(ConRead(
                    con.name if con.kind == "c" else None, con.kind, con.definition,
                    con.columns, check_vars=con.columns if con.kind == "c" else (),
                    hints=_key_hints(con) if con.kind != "c" else ()))
        if "indexes" in opts:
            like_indexes.extend(replace(i, name="", comment=None, clustered=False)
                                for i in src.indexes)
    names = {c.name: k for k, c in enumerate(cols)}
    # The columns written and those of LIKE clauses, in the order written.
    written = sorted([(at, 0, n) for n, (at, _) in enumerate(like_cols)]
                     + [(n, 1, n) for n in range(len(columns))])
    for _at, local, n in written:
        if not local:
            names[like_cols[n][1].name] = len(cols)
            cols.append(like_cols[n][1])
            continue
        col = columns[n]
        column = col.column
        cspan = (st, *col.span)
        b.span(("column", table.schema, table.name, column.name), cspan)
        k = names.get(column.name)
        if k is None and (table.partition_of or of_type):
            continue  # options of a column whose parent or type is not in the model
        if k is not None:
            # a local redefinition of an inherited column: merge NOT NULL and default; it
            # is then the child's own too (attislocal), except in a partition
            c = cols[k]
            cols[k] = replace(c, not_null=c.not_null or column.not_null,
                              default=column.default if column.default is not None
                              else c.default, inherited=c.inherited and bool(table.partition_of))
            continue
        if col.serial:
            column = b.serial_sequence(table, column, col.serial, cspan)
        names[column.name] = len(cols)
        cols.append(column)
    for name in not_null_cols:
        k = names.get(name)
        if k is not None and not cols[k].not_null:
            cols[k] = replace(cols[k], not_null=True)
    table = replace(table, columns=tuple(cols))
    if not b.declare(table.key, table, st, mode):
        return
    all_cons = like_cons + [con for col in columns for con in col.cons]
    all_cons.extend(cons)
    if all_cons:
        table = b.add_constraints(table, _merge_index_constraints(all_cons), st)
        table = _merge_parent_checks(b, table, sources)
    for idx in like_indexes:
        name = choose_name(table.name, column_names_addition(_index_hints(idx)), "idx",
                            b.rel_taken(table.schema))
        b.index_keys.add(("index", table.schema, name))
        table = replace(table, indexes=(*table.indexes, replace(idx, name=name)))
    b.put_table(table)


def _key_hints(con: Constraint) -> tuple[str, ...]:
    """The index column names of a key or exclusion constraint (INCLUDE ones too), read
    again from its definition: a LIKE copy of it is named after them."""
    r = Cursor(con.definition, lex(con.definition).toks)
    read = read_table_constraint(r, 0, r.n, None, 0)
    return read.hints if read is not None else con.columns


def _index_hints(idx: Index) -> tuple[str, ...]:
    """The column names of an index, read again from its definition: PostgreSQL names a
    copy of it (LIKE, a partition's) after them ("lower" for lower(x), "expr"...)."""
    pieces = _analyze(idx.definition).pieces
    if len(pieces) == 1 and pieces[0][0] == "index":
        return pieces[0][4]
    return idx.columns


def _merge_parent_checks(b: _Builder, table: Table, parents: list[tuple[str, str]]) -> Table:
    """A check constraint of a child named like one of its parent's is merged with it:
    PostgreSQL then counts it as inherited (coninhcount)."""
    names = {c.name for qn in parents if (p := b.table(qn)) is not None
             for c in p.constraints if c.kind == "c"}
    if not any(c.kind == "c" and c.name in names for c in table.constraints):
        return table
    return replace(table, constraints=tuple(
        replace(c, inherited=True) if c.kind == "c" and c.name in names else c
        for c in table.constraints))


def _merge_index_constraints(cons: list[ConRead]) -> list[ConRead]:
    """CREATE TABLE keeps one of several primary key / unique constraints on the same
    columns (the primary key if there is one), as PostgreSQL's transformIndexConstraints
    does; a name given to a dropped one goes to the one kept if that had none."""
    kept: dict[int, ConRead] = {}  # position -> constraint
    first_pk = next((n for n, c in enumerate(cons) if c.kind == "p"), None)
    order = ([first_pk] if first_pk is not None else []) + [
        n for n in range(len(cons)) if n != first_pk]
    for n in order:
        con = cons[n]
        if con.kind in ("p", "u"):
            nnd = "NULLS NOT DISTINCT" in con.definition
            same = next((m for m, k in kept.items() if k.kind in ("p", "u")
                         and k.columns == con.columns and k.hints == con.hints
                         and ("NULLS NOT DISTINCT" in k.definition) == nnd), None)
            if same is not None:
                if kept[same].name is None and con.name is not None:
                    kept[same] = replace(kept[same], name=con.name)
                continue
        kept[n] = con
    return [kept[n] for n in sorted(kept)]


def _attach_index(b: _Builder, table_qn: tuple[str, str], idx: Index) -> None:
    t = b.table(table_qn)
    if t is not None:
        table = t
        b.put_table(b.step(t, idx, lambda: replace(table, indexes=(*table.indexes, idx))))
        return
    v = b.objects.get(("view", *table_qn))
    if isinstance(v, View):
        b.objects[v.key] = replace(v, indexes=(*v.indexes, idx))
        return
    b.pending_indexes.append((table_qn, idx))


def _apply_attach_index(b: _Builder, parent: tuple[str, str],
                        child: tuple[str, str]) -> None:
    """The child index (or the index of a key constraint) becomes the parent's: the index
    gets its parent, the constraint counts as inherited."""
    for key, t in list(b.objects.items()):
        if not isinstance(t, Table) or t.schema != child[0]:
            continue
        if any(i.name == child[1] for i in t.indexes):
            b.objects[key] = replace(t, indexes=tuple(
                replace(i, parent=parent) if i.name == child[1] else i for i in t.indexes))
            return
        if any(c.name == child[1] and c.kind in ("p", "u", "x") for c in t.constraints):
            b.objects[key] = replace(t, constraints=tuple(
                replace(c, inherited=True) if c.name == child[1] and c.kind in ("p", "u", "x")
                else c for c in t.constraints))
            return


def _apply_comment(b: _Builder, target: tuple, value: str | None) -> None:
    family = target[0]
    if family == "column":
        t = b.table((target[1], target[2]))
        if t is not None and t.column(target[3]) is not None:
            b.put_table(replace(t, columns=tuple(
                replace(c, comment=value) if c.name == target[3] else c for c in t.columns)))
        return
    if family in ("constraint", "trigger", "policy"):
        t = b.table((target[1], target[2]))
        if t is None:
            return
        attr = {"constraint": "constraints", "trigger": "triggers", "policy": "policies"}[
            family]
        items = getattr(t, attr)
        commented: dict[str, Any] = {attr: tuple(
            replace(x, comment=value) if x.name == target[3] else x for x in items)}
        b.put_table(replace(t, **commented))
        return
    if family == "index":
        for key, obj in list(b.objects.items()):
            if isinstance(obj, Table | View) and obj.schema == target[1] and any(
                i.name == target[2] for i in obj.indexes
            ):
                    b.objects[key] = replace(obj, indexes=tuple(
                        replace(i, comment=value) if i.name == target[2] else i
                        for i in obj.indexes))
                    return
        return
    if family == "function":
        matches = [k for k in b.objects if k[0] == "function" and k[1:3] == target[1:3]]
        if target[3] is not None:
            matches = [k for k in matches if designates(
                target[3], b.objects[k].arg_names_types)]  # type: ignore[attr-defined]
        if len(matches) == 1:
            b.objects[matches[0]] = replace(b.objects[matches[0]], comment=value)  # type: ignore[type-var]
        return
    key = tuple(target)
    obj = b.objects.get(key)
    if obj is not None and hasattr(obj, "comment"):
        b.objects[key] = replace(obj, comment=value)  # type: ignore[type-var]
        return
    if family == "table":  # COMMENT ON TABLE also works for a view
        v = b.objects.get(("view", *target[1:]))
        if isinstance(v, View):
            b.objects[v.key] = replace(v, comment=value)


_SEQUENCE_FIELDS = frozenset(
    ("data_type", "start", "increment", "min_value", "max_value", "cache", "cycle", "owned_by")
)


# Per table of recent builds (the last big one's, the last smaller one's, as
# _last_steps): id -> (table, the type_refs of its columns, whether a foreign key of it
# names no referenced columns). An entry is used only when its table is the same object.
_Needs = tuple[Table, tuple[tuple[str, str], ...], bool]
_last_needs: list[dict[int, _Needs]] = [{}, {}]


def _finish(b: _Builder) -> None:
    _public_collations(b)
    for table_qn, idx in b.pending_indexes:
        indexed = b.table(table_qn)
        if indexed is not None:
            b.put_table(replace(indexed, indexes=(*indexed.indexes, idx)))
    # What each pass below looks for, per table, kept across builds: an unchanged table is
    # the very object of the last build, so a keystroke costs a lookup per table.
    before = tuple(_last_needs)
    needs: dict[int, _Needs] = {}

    def need(t: Table) -> _Needs:
        hit = needs.get(id(t))
        if hit is None:
            for known in before:
                hit = known.get(id(t))
                if hit is not None and hit[0] is t:
                    break
            else:
                # (a tuple: a frozenset took 216 bytes a table, most of them empty)
                hit = (t, tuple({c.type_ref: 0 for c in t.columns if c.type_ref is not None}),
                       any(c.kind == "f" and not c.ref_columns for c in t.constraints))
            needs[id(t)] = hit
        return hit

    # type_ref names the schema's own types only (not an extension's, nor a missing one).
    for key, t in list(b.objects.items()):
        if isinstance(t, Table) and any(("type", *r) not in b.objects for r in need(t)[1]):
            b.objects[key] = replace(t, columns=tuple(
                replace(c, type_ref=None)
                if c.type_ref is not None and ("type", *c.type_ref) not in b.objects else c
                for c in t.columns))
    # Indexes of a partitioned table exist on each partition too (parents come first).
    for key in list(b.objects):
        t = b.objects[key]
        if not isinstance(t, Table) or t.partition_of is None:
            continue
        parent = b.table(t.partition_of)
        if parent is None or not parent.indexes:
            continue
        own = list(t.indexes)
        for idx in parent.indexes:
            if any(i.parent == (parent.schema, idx.name) for i in own) or (
                "index", parent.schema, idx.name) in b.only_indexes:
                continue
            name = choose_name(t.name, column_names_addition(_index_hints(idx)), "idx",
                                b.rel_taken(t.schema))
            own.append(replace(idx, name=name, comment=None, clustered=False,
                               parent=(parent.schema, idx.name)))
        b.objects[key] = replace(t, indexes=tuple(own))
    # Foreign keys written without referenced columns reference the primary key.
    for key, t in list(b.objects.items()):
        if not isinstance(t, Table) or not need(t)[2]:
            continue
        changed = False
        cons = []
        for c in t.constraints:
            if c.kind == "f" and not c.ref_columns and c.ref_table:
                ref = b.table(c.ref_table)
                pk = next((x for x in ref.constraints if x.kind == "p"), None) if ref else None
                if pk is not None:
                    c = replace(c, ref_columns=pk.columns)
                    changed = True
            cons.append(c)
        if changed:
            b.objects[key] = replace(t, constraints=tuple(cons))
    _last_needs[0 if 2 * len(needs) >= len(_last_needs[0]) else 1] = needs


def _public_collations(b: _Builder) -> None:
    """COLLATE x without a schema is the schema's own public.x when it declares one, not
    pg_catalog's as _collation assumed."""
    public = {qname("pg_catalog", n): qname(s, n) for s, n in b.collations if s == "public"}
    if not public:
        return

    def attribute(text: str) -> str:
        head, sep, collation = text.partition(" COLLATE ")
        return head + sep + public.get(collation, collation)

    for key, obj in list(b.objects.items()):
        if isinstance(obj, Table) and any(c.collation in public for c in obj.columns):
            b.objects[key] = replace(obj, columns=tuple(
                replace(c, collation=public[c.collation]) if c.collation in public else c
                for c in obj.columns))
        elif isinstance(obj, Domain) and obj.collation in public:
            b.objects[key] = replace(obj, collation=public[obj.collation])
        elif isinstance(obj, CompositeType):
            b.objects[key] = replace(obj, attributes=tuple(
                (n, attribute(t)) for n, t in obj.attributes))


# The spans' events of the statements before a checkpoint, worked out once for all the
# builds that resume from it: (checkpoint, events, batches), swapped whole.
_prefix_events: list[tuple[Any, dict, dict] | None] = [None]

_NONE: dict = {}  # (the empty layer before the events of a build that did not resume)


@dataclass(frozen=True, eq=False)
class _Events:
    """The first span of each key of a build, in the order met: key -> Span, (statement,
    start, end), or the statement of a whole table's batch; and id(statement) -> that
    batch (its keys and their places). In two layers: those of the statements before the
    checkpoint the build resumed from (``before``, the same dicts for every build that
    resumes from it) and the build's own after it (keys not in ``before``): at 10,000
    tables a copy of the first layer per build was some 7 MiB, twice over (the last
    build's and the kept prefix's)."""

    before: dict
    before_batches: dict
    own: dict
    batches: dict
    checkpoint: Any = None  # the checkpoint of ``before`` (None: not resumed)


def _span_events(b: _Builder) -> _Events:
    """The events of a builder (see _Events), worked out once per build; a build resumed
    from a checkpoint works out only the spans after it (a keystroke in the middle of a
    10,000-table file went over some 35,000 spans)."""
    if b.events is not None:
        return b.events
    cp, p = b.resumed, b.resumed_spans
    if cp is None:
        events: dict = {}
        batches: dict = {}
        _add_events(events, batches, b.spans, 0, len(b.spans))
        b.events = _Events(_NONE, _NONE, events, batches)
        return b.events
    known = _prefix_events[0]
    if known is None or known[0] is not cp:
        events, batches = {}, {}
        _add_events(events, batches, b.spans, 0, p)
        known = (cp, events, batches)
        _prefix_events[0] = known
    own: dict = {}
    own_batches: dict = {}
    _add_events(own, own_batches, b.spans, p, len(b.spans), known[1])
    b.events = _Events(known[1], known[2], own, own_batches, cp)
    return b.events


def _add_events(events: dict, batches: dict, spans: list[tuple], start: int, end: int,
                before: dict = _NONE) -> None:
    """The events of ``spans[start:end]`` into ``events`` and ``batches``, but for the
    keys ``before`` has (met earlier)."""
    for i in range(start, end):
        entry = spans[i]
        key = entry[0]
        if key is None:
            st, where = entry[1], entry[2]
            batches[id(st)] = where
            if events.keys().isdisjoint(where) and before.keys().isdisjoint(where):
                events.update(dict.fromkeys(where, st))
            else:
                for k in where:
                    if k not in events and k not in before:
                        events[k] = st
        elif key not in events and key not in before:
            events[key] = entry[1]


def structural_model(statements: list[Statement]) -> tuple[Model, list[Issue]]:
    """The model the statements declare, as far as a fast reader can tell, and the issues
    found on the way. Never raises."""
    model, issues, _ = _build(list(statements))
    return model, list(issues)


def object_spans(statements: list[Statement]) -> Mapping[tuple[str, ...], Span]:
    """Model key -> span of the statement that first declares it. Also
    ("column", schema, table, column) -> the column's definition (CREATE TABLE or ALTER
    TABLE ADD COLUMN), ("constraint", schema, table, name) -> the constraint's clause
    (named ones, and unnamed ones under the name PostgreSQL will give them),
    ("index", schema, name), ("trigger", schema, table, name) and ("policy", schema, table,
    name) -> their statements.

    Lazy: a span is worked out when it is looked up (a 1,000-table file has some 17,000
    keys, and the editor looks up a handful per keystroke)."""
    b = _build(list(statements))[2]
    return _Spans(_span_events(b))


class _Spans(Mapping[tuple[str, ...], Span]):
    def __init__(self, events: _Events) -> None:
        self._e = events

    def gone_since(self, last: Mapping[tuple[str, ...], Span]) -> list[tuple[str, ...]] | None:
        """The keys of ``last`` that are not here, when both builds resumed from the same
        checkpoint: only those first met after it can be gone (the ones before are the
        same), so a keystroke looks at the keys after the place typed into, not at every
        key of the file. None: not known this way."""
        mine = self._e
        theirs = last._e if isinstance(last, _Spans) else None
        if theirs is None or mine.checkpoint is None or mine.checkpoint is not theirs.checkpoint:
            return None
        own = mine.own
        return [k for k in theirs.own if k not in own]

    def __getitem__(self, key: tuple[str, ...]) -> Span:
        e = self._e
        v = e.before.get(key)
        batches = e.before_batches
        if v is None:
            v = e.own[key]
            batches = e.batches
        if isinstance(v, Span):
            return v
        if isinstance(v, Statement):
            return sub_span(v, *batches[id(v)][key])
        return sub_span(*v)

    def __iter__(self) -> Iterator[tuple[str, ...]]:
        e = self._e
        return chain(e.before, e.own) if e.before else iter(e.own)

    def __len__(self) -> int:
        return len(self._e.before) + len(self._e.own)

    def __contains__(self, key: object) -> bool:
        return key in self._e.own or key in self._e.before

    def keys(self):  # set operations at C speed (a dict view, or a set of both layers)
        e = self._e
        return e.before.keys() | e.own.keys() if e.before else e.own.keys()
