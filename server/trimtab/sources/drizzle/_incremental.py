"""Reading a schema.ts again after an edit inside one table declaration.

An editor sends a new text per keystroke, and a full read of a 1,000-table schema.ts
(evaluation, lowering, DDL, spans) takes seconds. When the edit lies inside one top-level
``const x = pgTable(...)`` and the last read of the file is kept, the new read is the last
one with that table's statements replaced:

- the *changed* tables are the edited one and the tables that mention it (a foreign key
  names its columns), through helpers that mention it (``relations(x, ...)``);
- what is evaluated is the tree of the new text (parsed once, incrementally) with only
  the top-level statements of the changed tables, of everything they or any non-table
  declaration mention, transitively, and of everything that is not a table;
- the changed tables' statements (table, foreign keys, indexes, policies) take the place of
  their old ones in drizzle-kit's order, and every .ts range after the edit shifts.

Whenever that might differ from a full read, the read is a full one: an edit outside a
table declaration or that changes the file's top-level structure, syntax errors, issues
outside table declarations or between tables (index names, enums or schemas not exported),
a model key of a changed table that another statement also declares, any other file read
through an import, text that is not ASCII or has a carriage return. The last read of a
buffer is kept (byte-bounded), so a second read of the same text, such as the language
server's exact path after its fast path, costs a comparison.

The structural model of the DDL (``model_of``: what the editor's fast diff compares) is
spliced the same way once it has been built for a read: the changed tables' objects are
built from their statements with those of no table (schemas, enums, sequences) and take
the place of their old ones. That is what a whole build gives when no name PostgreSQL
would choose depends on the rest of the schema; whenever one might (a relation name a
changed table shares with the rest, a name that starts with another table's, a name cut
to 63 bytes), when the changed tables' objects are not exactly those of the last whole
build, or when their keys change, the model is built whole.
"""

from __future__ import annotations

import bisect
import re
import sys
import threading
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, KeysView, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, cast

from tree_sitter import Node

from trimtab.memo import ByteLRU, MiB
from trimtab.model import Model, Sequence, Table, View
from trimtab.sources.drizzle import _ddl
from trimtab.sources.drizzle._eval import TableV
from trimtab.sources.drizzle._lower import DTable, Lowered
from trimtab.sources.drizzle._source import Module, changed_range, parse_module, tree_forgotten
from trimtab.sources.sqlfile import Issue, Span, Statement, object_spans, structural_model

if TYPE_CHECKING:
    from trimtab.sources.drizzle import DrizzleSchema, Parts

Reader = Callable[[str], str | None]
FullRead = Callable[[Mapping[str, str], str | None, Reader | None], "Parts"]

_WORD = re.compile(r"[A-Za-z_$][\w$]*")
# Issues that concern more than one declaration: a splice could keep a stale one.
_GLOBAL_ISSUES = ("another ", "is not exported")
# Kinds of model key whose names PostgreSQL makes unique within a schema (``t_pkey1``).
_RELATIONS = ("table", "index", "sequence", "view")


class _Fallback(Exception):
    """The splice may differ from a full read."""


@dataclass(frozen=True)
class _Group:
    """The statements of one table, counted as ``_ddl.render`` writes them."""

    decl: int  # its top-level declaration
    create: int  # CREATE TABLE, and ENABLE ROW LEVEL SECURITY
    fks: int
    indexes: tuple[tuple[str, str], ...]  # (schema, name)
    policies: int


@dataclass(frozen=True)
class _Layout:
    head: int  # schemas, enums, sequences
    views: int
    groups: tuple[_Group, ...]

    def order(self) -> list[tuple[int, int]]:
        """(group or -1 for a statement of no table, its k-th statement) per statement."""
        out = [(-1, k) for k in range(self.head)]
        seen = [0] * len(self.groups)

        def take(g: int, n: int) -> None:
            out.extend((g, seen[g] + k) for k in range(n))
            seen[g] += n

        for g, grp in enumerate(self.groups):
            take(g, grp.create)
        for g, grp in enumerate(self.groups):
            take(g, grp.fks)
        for g, grp in enumerate(self.groups):
            take(g, len(grp.indexes))
        out.extend((-1, self.head + k) for k in range(self.views))
        for g, grp in enumerate(self.groups):
            take(g, grp.policies)
        return out


@dataclass(frozen=True)
class _State:
    """The last read of one buffer, with what splicing the next one needs."""

    text: str
    casing: str | None
    schema: DrizzleSchema
    layout: _Layout | None  # None: the next read of another text is a full one
    decls: tuple[tuple[int, int], ...] = ()  # top-level statements (offsets)
    words: tuple[frozenset[str], ...] = ()  # the identifiers each one mentions
    names: tuple[tuple[str, ...] | None, ...] = ()  # what each one declares (None: unknown)
    statements: tuple[tuple[int, int], ...] = ()  # per statement: (group, k) as order()
    # The structural model of ``schema.statements`` once model_of has made it (at most one
    # _Built; a list so that the state, shared by reads of the same text, can take it).
    built: list[_Built] = field(default_factory=list, compare=False)


@dataclass(frozen=True)
class _Built:
    """A read's structural model, and the relation names its objects take, counted per
    (schema, name): what tells whether a changed table's names depend on the rest."""

    model: Model
    rels: Counter[tuple[str, str]]


def _size(name: str, s: _State) -> int:
    # measured on bench.drizzle_schema's 1,000 tables (tracemalloc): a kept read holds
    # about 35 bytes a byte of .ts text
    return sys.getsizeof(name) + 34 * len(s.text) + 2 * len(s.schema.sql)


_LAST: ByteLRU[str, _State] = ByteLRU("drizzle.reads", 128 * MiB, _size)


@contextmanager
def forgotten(name: str) -> Iterator[None]:
    """Inside, a read of ``name`` starts cold (no parse tree, no last read kept); what was
    kept comes back afterwards, so the next read goes on from the last one as an editor's."""
    last = _LAST.pop(name, None)
    try:
        with tree_forgotten(name):
            yield
    finally:
        if last is not None:
            _LAST[name] = last
_LOCK = threading.Lock()


def read(texts: Mapping[str, str], casing: str | None, reader: Reader | None,
         full: FullRead) -> DrizzleSchema:
    if len(texts) != 1:
        return full(texts, casing, reader).schema
    (name, text), = texts.items()
    # One read at a time: the language server's fast path and its exact path ask for the
    # same new text at about the same time, and the second finds the first's result.
    with _LOCK:
        last = _LAST.get(name)
        if last is not None and last.casing == casing and last.text == text:
            return last.schema
        state: _State | None = None
        if last is not None and last.layout is not None and last.casing == casing:
            try:
                state = _splice(last, name, text, reader)
            except _Fallback:
                state = None
        if state is None:
            parts = full(texts, casing, reader)
            state = _keep(name, text, casing, parts)
            if state is None:
                _LAST.pop(name, None)
                return parts.schema
        _LAST[name] = state
        return state.schema


# How model_of found each model: spliced from the last, or built whole (for tests).
model_counts: Counter[str] = Counter()


def model_of(statements: tuple[Statement, ...]) -> Model:
    """``structural_model(statements)``'s model, for the statements of a read of this
    module: spliced from the last read's when it was built, else built whole (and kept
    for the next read to splice)."""
    with _LOCK:
        state = None
        for name in _LAST:
            s = _LAST.get(name)
            if s is not None and s.schema.statements is statements:
                state = s
                break
        if state is not None and state.built:
            model_counts["kept"] += 1
            return state.built[0].model
    model_counts["whole"] += 1
    model = structural_model(list(statements))[0]
    if state is not None:
        built = _Built(model, _rels(model.tables.values(), model.views.values(),
                                    model.sequences.values()))
        with _LOCK:
            if not state.built:
                state.built.append(built)
    return model


def _rels(tables: Iterable[Table], views: Iterable[View], sequences: Iterable[Sequence]
          ) -> Counter[tuple[str, str]]:
    """The relation names the objects take, counted: PostgreSQL's names of tables, views,
    sequences, indexes and index-backed constraints are one namespace per schema (more
    than the structural model counts in its choice of names: the check is the stricter)."""
    out: Counter[tuple[str, str]] = Counter()
    for t in tables:
        out[(t.schema, t.name)] += 1
        for i in t.indexes:
            out[(t.schema, i.name)] += 1
        for c in t.constraints:
            if c.kind in ("p", "u", "x"):
                out[(t.schema, c.name)] += 1
    for v in views:
        out[(v.schema, v.name)] += 1
    for q in sequences:
        out[(q.schema, q.name)] += 1
    return out


def _splice_model(built: _Built, head: list[Statement], old_changed: list[Statement],
                  new_changed: list[Statement]) -> _Built | None:
    """The structural model of the read with ``new_changed`` in place of ``old_changed``
    (the statements of the changed tables, in order), from ``built``, the last read's;
    None when a whole build might differ."""
    old = built.model
    alone = structural_model(head)[0]
    was = structural_model([*head, *old_changed])[0]
    now = structural_model([*head, *new_changed])[0]
    parts: dict[str, Any] = {}
    for f in fields(Model):
        a, w, n = getattr(alone, f.name), getattr(was, f.name), getattr(now, f.name)
        if not isinstance(a, Mapping):
            if not (a == w == n):
                return None  # owners and the like: of no table's statements
            continue
        old_map = getattr(old, f.name)
        # what the changed tables declare, in order; what the rest declares, unchanged
        keys_old = [k for k in w if k not in a]
        keys_new = [k for k in n if k not in a]
        if keys_old != keys_new:
            return None  # a key comes or goes: its place in the model is another
        for k, v in a.items():
            if w[k] != v or n[k] != v:
                return None
        for k in keys_old:
            last = old_map.get(k)
            if last is not w[k] and last != w[k]:
                return None  # the last whole build made it otherwise: in context
        if not keys_new:
            continue
        if f.name == "tables":
            for t in (*(w[k] for k in keys_old), *(n[k] for k in keys_new)):
                # the passes a whole build makes over every table (partitions' indexes,
                # referenced primary keys) might bring the rest in
                if t.partition_of or t.partition_key or t.inherits or any(
                        c.kind == "f" and not c.ref_columns for c in t.constraints):
                    return None
        new_map = dict(old_map)
        for k in keys_new:
            new_map[k] = n[k]
        parts[f.name] = new_map

    def mine(m: Model) -> Counter[tuple[str, str]]:
        return _rels((t for k, t in m.tables.items() if k not in alone.tables),
                     (v for k, v in m.views.items() if k not in alone.views),
                     (s for k, s in m.sequences.items() if k not in alone.sequences))

    names_old, names_new = mine(was), mine(now)
    rels = built.rels
    for (schema, name) in names_old | names_new:
        if rels[(schema, name)] - names_old[(schema, name)] > 0 or len(name.encode()) >= 63:
            return None  # shared with the rest, or cut short: names chosen may differ
        # a name PostgreSQL chooses for another table (its key, index or sequence) starts
        # with that table's name and "_"
        for i, ch in enumerate(name):
            if ch == "_" and i and ((("table", schema, name[:i]) in old.tables
                                     and ("table", schema, name[:i]) not in was.tables)
                                    or ("view", schema, name[:i]) in old.views):
                return None
    out = Counter(rels)
    out.subtract(names_old)
    out.update(names_new)
    return _Built(replace(old, **parts), out)


# --------------------------------------------------------------------------------------
# After a full read


def _keep(name: str, text: str, casing: str | None, parts: Parts) -> _State | None:
    """What to keep of a full read: None when a read of the same text may differ (an
    imported file may change unseen); no layout when the next read is a full one."""
    if parts.imports:
        return None
    ds = parts.schema
    bare = _State(text, casing, ds, None)
    if not text.isascii() or "\r" in text:
        return bare  # offsets are not bytes, lines not only "\n"
    mod = parts.modules[0]
    if mod.root.has_error or any(m in i.message for i in ds.issues for m in _GLOBAL_ISSUES):
        return bare
    if ds.sql != _ddl.SEPARATOR.join(s.text for s in ds.statements) or \
            len(ds.origins) != len(ds.statements):
        return bare
    decls, words, names = _declarations(mod)
    layout = _layout(parts.lowered, decls)
    if layout is None:
        return bare
    order = layout.order()
    if len(order) != len(ds.statements):
        return bare
    tables = {g.decl for g in layout.groups}
    if any(_where(decls, i.span) not in tables for i in ds.issues):
        return bare  # an issue the splice could not tell the owner of
    return _State(text, casing, ds, layout, decls, words, names, tuple(order))


def _declarations(mod: Module) -> tuple[tuple[tuple[int, int], ...],
                                        tuple[frozenset[str], ...],
                                        tuple[tuple[str, ...] | None, ...]]:
    decls, words, names = [], [], []
    for n in mod.root.children:
        decls.append((n.start_byte, n.end_byte))
        words.append(frozenset(_WORD.findall(mod.text, n.start_byte, n.end_byte)))
        names.append(_declared(mod, n))
    return tuple(decls), tuple(words), tuple(names)


def _declared(mod: Module, node: Node) -> tuple[str, ...] | None:
    """The names a top-level statement declares; None when it is not plain."""
    n: Node | None = node
    if node.type == "export_statement":
        n = node.child_by_field_name("declaration")
        if n is None:
            return ()  # export { a }, export * from ...: declares nothing new
    assert n is not None
    if n.type in ("lexical_declaration", "variable_declaration"):
        out = []
        for d in n.named_children:
            if d.type != "variable_declarator":
                continue
            name = d.child_by_field_name("name")
            if name is None or name.type != "identifier":
                return None
            out.append(mod.src(name))
        return tuple(out)
    if n.type in ("import_statement", "comment", "empty_statement", "type_alias_declaration",
                  "interface_declaration"):
        return ()
    name = n.child_by_field_name("name")
    return (mod.src(name),) if name is not None else None


def _where(decls: tuple[tuple[int, int], ...], span: Span) -> int:
    """The top-level statement that holds ``span`` (-1: none)."""
    k = bisect.bisect_right(decls, (span.start_offset, sys.maxsize)) - 1
    if k >= 0 and decls[k][0] <= span.start_offset and span.end_offset <= decls[k][1]:
        return k
    return -1


def _layout(low: Lowered, decls: tuple[tuple[int, int], ...]) -> _Layout | None:
    groups = []
    for t in low.tables:
        d = _where(decls, t.span)
        if d < 0:
            return None
        groups.append(_group(t, d))
    if len({g.decl for g in groups}) != len(groups):
        return None  # two tables of one declaration
    return _Layout(len(low.schemas) + len(low.enums) + len(low.sequences), len(low.views),
                   tuple(groups))


def _group(t: DTable, decl: int) -> _Group:
    return _Group(decl, 2 if t.rls else 1, len(t.foreign_keys),
                  tuple((t.schema, i.name) for i in t.indexes), len(t.policies))


# --------------------------------------------------------------------------------------
# The splice


def _splice(last: _State, name: str, text: str, reader: Reader | None) -> _State:
    from trimtab.sources.drizzle import DrizzleSchema, lower_modules

    layout = last.layout
    assert layout is not None
    if not text.isascii() or "\r" in text:
        raise _Fallback
    old_data, data = last.text.encode(), text.encode()
    start, old_end, new_end = changed_range(old_data, data)
    delta = new_end - old_end
    d = bisect.bisect_right(last.decls, (start, sys.maxsize)) - 1
    by_decl = {g.decl: k for k, g in enumerate(layout.groups)}
    if d < 0 or d not in by_decl or not (last.decls[d][0] < start and
                                         old_end < last.decls[d][1]):
        raise _Fallback  # not strictly inside one table declaration
    mod = parse_module(name, text, given=True, edit=(old_data, data, (start, old_end, new_end)))
    if mod.root.has_error:
        raise _Fallback
    children = mod.root.children
    decls = tuple((n.start_byte, n.end_byte) for n in children)
    expect = tuple(x if k < d else (x[0], x[1] + delta) if k == d else
                   (x[0] + delta, x[1] + delta) for k, x in enumerate(last.decls))
    if decls != expect:
        raise _Fallback
    dnode = children[d]
    if _declared(mod, dnode) != last.names[d] or not last.names[d]:
        raise _Fallback
    words = list(last.words)
    words[d] = frozenset(_WORD.findall(text, *decls[d]))

    tables = set(by_decl)
    # the changed tables: this one, and those that mention it or a helper that does
    frontier, todo = set(last.names[d] or ()), list(last.names[d] or ())
    while todo:
        w = todo.pop()
        for k, ws in enumerate(words):
            if k not in tables and w in ws:
                got = last.names[k]
                if got is None:
                    raise _Fallback
                for x in got:
                    if x not in frontier:
                        frontier.add(x)
                        todo.append(x)
    changed = {d} | {k for k in tables if not frontier.isdisjoint(words[k])}
    # what the read needs: the changed tables, everything not a table, the tables they
    # mention (evaluated for the names of their columns, not lowered: what those mention in
    # turn is needed only when ``deep``)
    table_of = {x: k for k in tables for x in (last.names[k] or ())}

    def needed(deep: bool) -> set[int]:
        keep = set(changed)
        todo2 = [k for k in range(len(decls)) if k not in tables] + list(changed)
        seen = set(todo2)
        while todo2:
            k = todo2.pop()
            for w in words[k]:
                j = table_of.get(w)
                if j is not None and j not in seen:
                    seen.add(j)
                    keep.add(j)
                    if deep:
                        todo2.append(j)
        return keep

    spans_changed = sorted(decls[k] for k in changed)

    def lowered(t: TableV) -> bool:
        k = bisect.bisect_right(spans_changed, (t.loc.start, sys.maxsize)) - 1
        return k >= 0 and t.loc.mod.name == name and \
            spans_changed[k][0] <= t.loc.start < spans_changed[k][1]

    def lower_part(keep: set[int]) -> tuple[Lowered, list[Issue], bool]:
        pmod = _partial(mod, sorted(set(range(len(decls))) - (tables - keep)))
        return lower_modules({name: pmod}, last.casing, reader, lowered)

    keep = needed(deep=False)
    low, lost, imports = lower_part(keep)
    if any(_where(decls, i.span) in changed for i in low.issues):
        # it may come of a table they refer to that was not read whole: read it whole
        keep = needed(deep=True)
        low, lost, imports = lower_part(keep)
    if lost or imports:
        raise _Fallback
    rendered = _ddl.render(low, last.schema.statements[0].span.file
                           if last.schema.statements else f"{name}.sql")
    play = _layout(low, decls)
    if play is None or len(play.order()) != len(rendered.statements):
        raise _Fallback
    ptables = {g.decl: k for k, g in enumerate(play.groups)}
    if any(k not in ptables for k in changed):
        raise _Fallback  # a changed table no longer reads as one
    for i in low.issues:
        if any(m in i.message for m in _GLOBAL_ISSUES) or _where(decls, i.span) not in keep:
            raise _Fallback
    old = last.schema
    pst = rendered.statements
    # what is not a table's must read the same (it depends on no blanked table)
    head_old = [old.statements[k].text for k in range(layout.head)]
    head_new = [pst[k].text for k in range(play.head)]
    if head_old != head_new:
        raise _Fallback
    old_order = last.statements
    views_old = [old.statements[k].text for k, (g, j) in enumerate(old_order)
                 if g == -1 and j >= layout.head]
    views_new = [pst[k].text for k, (g, j) in enumerate(play.order())
                 if g == -1 and j >= play.head]
    if views_old != views_new:
        raise _Fallback
    # index names are one namespace per schema
    changed_groups = {by_decl[k] for k in changed}
    groups = list(layout.groups)
    others = {x for g, grp in enumerate(groups) if g not in changed_groups
              for x in grp.indexes}
    for k in changed:
        grp = play.groups[ptables[k]]
        if others.intersection(grp.indexes):
            raise _Fallback
        groups[by_decl[k]] = grp
    new_layout = _Layout(layout.head, layout.views, tuple(groups))

    # the statements, by position in the old read or the partial one. The statements of
    # unchanged tables (and of no table) come in the same relative order in both reads
    # (order() puts the groups in the same sequence): they are taken from the old read in
    # turn.
    was_changed = [grp.decl in changed for grp in layout.groups]
    old_changed: list[Statement] = []
    kept_old: list[int] = []
    for k, (g, _j) in enumerate(last.statements):
        if g >= 0 and was_changed[g]:
            old_changed.append(old.statements[k])
        else:
            kept_old.append(k)
    part_of = [ptables[grp.decl] if grp.decl in changed else -1 for grp in groups]
    pos_part = {x: k for k, x in enumerate(play.order())}
    shift = _Shift(last.text, text, start, old_end, new_end)
    statements: list[Statement] = []
    origins: list[Span] = []
    new_changed: list[Statement] = []
    order = new_layout.order()
    offset, line = 0, 1
    file = old.statements[0].span.file if old.statements else f"{name}.sql"
    old_st, old_or, old_order = old.statements, old.origins, last.statements
    p_or = rendered.origins
    sep, sep_lines = len(_ddl.SEPARATOR), _ddl.SEPARATOR.count("\n")
    next_old = iter(kept_old).__next__
    try:
        for g, j in order:
            fresh = g >= 0 and part_of[g] >= 0
            if fresh:
                p = pos_part[(part_of[g], j)]
                src, origin = pst[p], p_or[p]
            else:
                k = next_old()
                if old_order[k] != (g, j):
                    raise _Fallback  # (cannot happen: the orders agree)
                src, origin = old_st[k], shift(old_or[k])
            sp = src.span
            if sp.start_offset != offset or sp.line != line or sp.file != file:
                sp = _new_span(file, line, sp.column, line + sp.end_line - sp.line,
                               sp.end_column, offset, offset + sp.end_offset - sp.start_offset)
                src = _new_statement(src.text, sp, src.kind, src.object_key)
            statements.append(src)
            origins.append(origin)
            if fresh:
                new_changed.append(src)
            # the next statement starts after ";\n\n"
            offset = sp.end_offset + sep
            line = sp.end_line + sep_lines
    except StopIteration:
        raise _Fallback from None  # (cannot happen: as many kept)
    sql = _ddl.SEPARATOR.join(s.text for s in statements)

    # model keys
    old_keys = set(object_spans(old_changed))
    if isinstance(old.spans, _Spans):
        raw, shifts = dict(old.spans.raw), (*old.spans.shifts, shift)
    else:
        raw, shifts = {k: (v, 0) for k, v in old.spans.items()}, (shift,)
    for key in old_keys:
        raw.pop(key, None)
    for key in old_keys:  # a name PostgreSQL made unique against a changed table's
        if key[0] in _RELATIONS and (key[0], key[1], key[-1] + "1") in raw:
            raise _Fallback
    pspans = _ddl.spans(rendered)
    for key in object_spans(new_changed):
        if key in raw:
            raise _Fallback
        if key in pspans:
            raw[key] = (pspans[key], len(shifts))
    spans = _Spans(raw, shifts)
    if len(shifts) > _MAX_SHIFTS:
        spans = _Spans({k: (spans[k], 0) for k in raw}, ())
    if isinstance(old.spans, _Spans):
        spans.after = weakref.ref(old.spans)
        spans.gone = frozenset(k for k in old_keys if k not in raw)
    issues: list[Issue] = [Issue(i.message, shift(i.span), i.severity) for i in old.issues
                           if _where(last.decls, i.span) not in changed]
    issues += [i for i in low.issues if _where(decls, i.span) in changed]
    # existing views live outside tables: an edit to one is a full read
    schema = DrizzleSchema(sql, tuple(statements), spans, tuple(issues), tuple(origins),
                           old.existing_views)
    built = _splice_model(last.built[0], list(old_st[:layout.head]), old_changed,
                          new_changed) if last.built else None
    return _State(text, last.casing, schema, new_layout, decls, tuple(words), last.names,
                  tuple(order), [built] if built is not None else [])


class _Root:
    """The part of a tree's root the evaluator reads (``named_children``), with only some
    of the top-level statements."""

    has_error = False

    def __init__(self, children: list[Node]) -> None:
        self.children = children
        self.named_children = [n for n in children if n.is_named]


def _partial(mod: Module, kept: list[int]) -> Module:
    """``mod`` with only the ``kept`` top-level statements: their very nodes in the tree
    of the whole file (the nodes a full read evaluates), so the file is parsed once."""
    children = mod.root.children
    root = cast(Node, _Root([children[k] for k in kept]))
    out = Module(mod.name, mod.text, mod.data, root, True)
    out._line_starts = mod._line_starts
    return out


# Edits a _Spans may hold before every range is worked out afresh. A range looked up is
# kept moved (the exact path looks every one up after a pause in typing), so that is cheap
# then; only a burst of this many keystrokes with no pause pays for all of them at once.
_MAX_SHIFTS = 256


class _Spans(Mapping[tuple[str, ...], Span]):
    """Model key -> .ts range, moved by the edits since it was found when looked up (the
    editor looks up a handful of some 17,000 keys per keystroke). ``raw``: key -> (range,
    the first edit of ``shifts`` it has not seen)."""

    def __init__(self, raw: dict[tuple[str, ...], tuple[Span, int]],
                 shifts: tuple[_Shift, ...]) -> None:
        self.raw, self.shifts = raw, shifts
        # the keys of the mapping this one was made from that are not in this one (a
        # weak reference: a chain of them would keep every keystroke's mapping alive)
        self.after: weakref.ref[_Spans] | None = None
        self.gone: frozenset[tuple[str, ...]] = frozenset()

    def gone_since(self, other: Mapping[tuple[str, ...], Span]
                   ) -> frozenset[tuple[str, ...]] | None:
        """The keys of ``other`` not in this mapping, when this one was made from it (the
        editor's keystroke before); None when that is not known."""
        return self.gone if self.after is not None and self.after() is other else None

    def __getitem__(self, key: tuple[str, ...]) -> Span:
        span, first = self.raw[key]
        shifts = self.shifts
        if first < len(shifts):
            for shift in shifts[first:]:
                span = shift.move(span)
            # kept moved: the next lookup, here or in the next keystroke's copy, starts
            # from here (the same key, so no reader iterating ``raw`` sees it change size)
            self.raw[key] = (span, len(shifts))
        return span

    def __iter__(self) -> Iterator[tuple[str, ...]]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)

    def __contains__(self, key: object) -> bool:
        return key in self.raw

    def keys(self) -> KeysView[tuple[str, ...]]:  # a dict view: set operations at C speed
        return self.raw.keys()


class _Shift:
    """Where a .ts range of the old text is in the new one. The edit is inside a changed
    table's declaration, and only what mentions that table (a changed table) can have a
    range there: ``__call__`` checks, ``move`` (for model keys, looked up later) trusts."""

    def __init__(self, old: str, new: str, start: int, old_end: int, new_end: int) -> None:
        self.start, self.old_end = start, old_end
        self.delta = new_end - old_end
        self.lines = new.count("\n", start, new_end) - old.count("\n", start, old_end)
        self.row = old.count("\n", 0, old_end) + 1  # the line the edit ends on
        old_col = old_end - (old.rfind("\n", 0, old_end) + 1)
        new_col = new_end - (new.rfind("\n", 0, new_end) + 1)
        self.cols = new_col - old_col

    def __call__(self, s: Span) -> Span:
        if s.end_offset <= self.start and not (s.end_offset == s.start_offset == self.start):
            return s
        if s.start_offset < self.old_end or s.start_offset == self.start:
            raise _Fallback
        return self.move(s)

    def move(self, s: Span) -> Span:
        if s.end_offset <= self.start:
            return s
        col = s.column + self.cols if s.line == self.row else s.column
        end_col = s.end_column + self.cols if s.end_line == self.row else s.end_column
        return _new_span(s.file, s.line + self.lines, col, s.end_line + self.lines, end_col,
                         s.start_offset + self.delta, s.end_offset + self.delta)


# Span(...) and Statement(...) without their frozen dataclass __init__, which sets each
# field through object.__setattr__: a keystroke places thousands of statements anew, and
# this makes each in half the time. The same objects (fields, equality, hash) result.
_new = object.__new__
_set = object.__setattr__


def _new_span(file: str, line: int, column: int, end_line: int, end_column: int,
              start_offset: int, end_offset: int) -> Span:
    s = _new(Span)
    _set(s, "__dict__", {"file": file, "line": line, "column": column, "end_line": end_line,
                         "end_column": end_column, "start_offset": start_offset,
                         "end_offset": end_offset})
    return s


def _new_statement(text: str, span: Span, kind: str,
                   object_key: tuple[str, ...] | None) -> Statement:
    st = _new(Statement)
    _set(st, "__dict__", {"text": text, "span": span, "kind": kind, "object_key": object_key})
    return st
