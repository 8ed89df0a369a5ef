"""Renames: tables, columns, enum values and sequences kept, with their data, under a new name.

Pure: no I/O. Without this, a renamed object looks like one object dropped and another
created. The user decides (hints, a prompt): ``candidates`` proposes, ``resolve_hints``
checks hints against both models. ``apply_renames`` then rewrites the current model as
PostgreSQL's catalog will show it once the ``ALTER ... RENAME`` statements have run, so the
ordinary diff against the desired model only holds what remains to change.

The rewriting works on the catalog's canonical text: schema-qualified names, lower-case
bare identifiers (anything else is quoted), upper-case keywords. It is token-based (string
literals and type casts are never mistaken for identifiers) and scoped to the parts of a
definition that can name the object. A miss is not fatal: the diff then only plans an
unneeded replacement of the definition.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Any, TypeVar

from trimtab.model import (
    Column,
    CompositeType,
    Constraint,
    Domain,
    DomainCheck,
    EnumType,
    Function,
    Index,
    Model,
    Schema,
    Sequence,
    Table,
    Trigger,
    View,
    identity_sequence_name,
    qname,
    quote_ident,
)
from trimtab.plan.changes import (
    Change,
    RenameColumn,
    RenameEnumValue,
    RenameSequence,
    RenameTable,
)
from trimtab.plan.diff import tables_equal
from trimtab.sqltext import Tok, lex

KINDS = ("table", "sequence", "column", "enum_value")  # also the order they are applied in

_Reader = TypeVar("_Reader", View, Function)
_T = TypeVar("_T")


@dataclass(frozen=True)
class Rename:
    kind: str  # "table" | "column" | "enum_value" | "sequence"
    schema: str
    old: str
    new: str
    # The table of a column (its NEW name if the table is renamed too), the enum type of a value.
    parent: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown rename kind {self.kind!r}")
        if (self.parent is None) == (self.kind in ("column", "enum_value")):
            needs = "needs" if self.parent is None else "takes no"
            raise ValueError(f"a {self.kind} rename {needs} parent")

    @property
    def target(self) -> tuple[str, ...]:
        """Key of the renamed object (as a change target)."""
        return self._key(self.new)

    @property
    def old_target(self) -> tuple[str, ...]:
        return self._key(self.old)

    def _key(self, name: str) -> tuple[str, ...]:
        if self.parent is None:
            return (self.kind, self.schema, name)
        return (self.kind, self.schema, self.parent, name)


# -- proposals ------------------------------------------------------------------------------


def candidates(current: Model, desired: Model, decided: Iterable[Rename] = ()) -> list[Rename]:
    """Renames to ask the user about, once ``decided`` ones are applied: tables, then columns
    of tables kept, then enum values, each in a stable order."""
    cur = apply_renames(current, decided)
    return [*_table_candidates(cur, desired), *_column_candidates(cur, desired),
            *_enum_candidates(cur, desired)]


def _table_candidates(cur: Model, new: Model) -> list[Rename]:
    gone = [t for k, t in cur.tables.items() if k not in new.tables]
    added = [t for k, t in new.tables.items() if k not in cur.tables]
    pairs = []
    for o in gone:
        for n in added:
            if o.schema != n.schema:
                continue
            shared = len({(c.name, c.type) for c in o.columns}
                         & {(c.name, c.type) for c in n.columns})
            # Compatible: at least half the columns of the wider one share name and type.
            wider = max(len(o.columns), len(n.columns))
            if shared and 2 * shared >= wider:
                pairs.append((-shared / wider, -shared, o.schema, o.name, n.name))
    used: set[tuple[str, ...]] = set()  # each table in at most one pair
    out = []
    for *_, schema, old, new_name in sorted(pairs):  # best score first
        if ("old", schema, old) in used or ("new", schema, new_name) in used:
            continue
        used |= {("old", schema, old), ("new", schema, new_name)}
        out.append(Rename("table", schema, old, new_name))
    return sorted(out, key=lambda r: (r.schema, r.old))


def _column_candidates(cur: Model, new: Model) -> list[Rename]:
    out = []
    for key, t in sorted(cur.tables.items()):
        nt = new.tables.get(key)
        # A partition's or child's inherited columns follow its parent's rename.
        if nt is None or t.partition_of or nt.partition_of:
            continue
        if tables_equal(t, nt) or t.columns == nt.columns:
            continue
        old_names = {c.name for c in t.columns}
        new_names = {c.name for c in nt.columns}
        gone = [c for c in t.columns if c.name not in new_names and not c.inherited]
        added = [c for c in nt.columns if c.name not in old_names and not c.inherited]
        for c in gone:
            match = next((a for a in added if a.type == c.type), None)
            if match is not None:
                added.remove(match)
                out.append(Rename("column", t.schema, c.name, match.name, parent=t.name))
    return out


def _enum_candidates(cur: Model, new: Model) -> list[Rename]:
    out = []
    for key, e in sorted(cur.types.items()):
        ne = new.types.get(key)
        if not isinstance(e, EnumType) or not isinstance(ne, EnumType):
            continue
        for old, value in zip(e.values, ne.values, strict=False):
            if old not in ne.values and value not in e.values:
                out.append(Rename("enum_value", e.schema, old, value, parent=e.name))
    return out


def resolve_hints(hints: Iterable[tuple[tuple[str, ...], str]], current: Model,
                  desired: Model) -> list[Rename]:
    """Hints ``(key of the new object, old name)`` that still apply: the old object is in
    ``current`` and not in ``desired``, the new one in ``desired`` and not yet in ``current``.
    A hint whose rename already ran is silently ignored (hints stay in the schema files)."""
    hints = list(hints)
    out: list[Rename] = []
    # Table renames first: a column hint names its table by the new name.
    tables: dict[tuple[str, str], str] = {}  # (schema, new) -> old
    for key, old in hints:
        if key[0] in ("table", "sequence") and len(key) == 3:
            kind, schema, new = key
            bucket = "tables" if kind == "table" else "sequences"
            have, want = getattr(current, bucket), getattr(desired, bucket)
            if ((kind, schema, old) in have and key not in have and key in want
                    and (kind, schema, old) not in want
                    and all(key != r.target and (kind, schema, old) != r.old_target
                            for r in out)):  # the first of two hints on the same name
                out.append(Rename(kind, schema, old, new))
                if kind == "table":
                    tables[(schema, new)] = old
    for key, old in hints:
        if key[0] == "column" and len(key) == 4:
            _, schema, table, new = key
            ct = current.table(schema, tables.get((schema, table), table))
            dt = desired.table(schema, table)
            if (ct is not None and dt is not None and ct.column(old) is not None
                    and ct.column(new) is None and dt.column(new) is not None
                    and dt.column(old) is None):
                out.append(Rename("column", schema, old, new, parent=table))
        elif key[0] == "enum_value" and len(key) == 4:
            _, schema, name, new = key
            ce = current.types.get(("type", schema, name))
            de = desired.types.get(("type", schema, name))
            if (isinstance(ce, EnumType) and isinstance(de, EnumType) and old in ce.values
                    and new not in ce.values and new in de.values and old not in de.values):
                out.append(Rename("enum_value", schema, old, new, parent=name))
    return list(dict.fromkeys(out))


def follow_sequences(current: Model, desired: Model) -> list[Rename]:
    """A sequence only in ``current`` (with renames applied) and one only in ``desired``,
    owned by the same column: one serial's sequence, to be renamed so its counter survives.
    PostgreSQL keeps ``users_id_seq`` when ``users`` is renamed; a fresh ``people`` has
    ``people_id_seq``."""
    gone: dict[tuple[str, str, str], list[Sequence]] = {}
    for key, s in current.sequences.items():
        if key not in desired.sequences and s.owned_by:
            gone.setdefault(s.owned_by, []).append(s)
    out = []
    for key, s in desired.sequences.items():
        if key in current.sequences or not s.owned_by:
            continue
        olds = gone.get(s.owned_by, [])
        if len(olds) == 1 and olds[0].schema == s.schema:
            out.append(Rename("sequence", s.schema, olds[0].name, s.name))
    return out


# -- applying -------------------------------------------------------------------------------


def apply_renames(current: Model, renames: Iterable[Rename]) -> Model:
    """``current`` as the catalog shows it after the renames ran (tables first, then
    sequences, columns and enum values). Raises ValueError for a rename whose old object is
    missing or whose new name is taken."""
    model = current
    for r in ordered(renames):
        model = _APPLY[r.kind](model, r)
    return model


def ordered(renames: Iterable[Rename]) -> list[Rename]:
    """Distinct renames in the order they run: tables, sequences, columns, enum values."""
    unique = list(dict.fromkeys(renames))
    return sorted(unique, key=lambda r: KINDS.index(r.kind))  # stable within a kind


def rename_changes(current: Model, renames: Iterable[Rename]) -> tuple[list[Change], Model]:
    """One change per rename, in the order they run, and the model once they all ran."""
    changes: list[Change] = []
    model = current
    for r in ordered(renames):
        after = _APPLY[r.kind](model, r)
        if r.kind == "table":
            changes.append(RenameTable(target=r.target, before=model.tables[r.old_target],
                                       after=after.tables[r.target]))
        elif r.kind == "sequence":
            seq = after.sequences[r.target]
            changes.append(RenameSequence(
                target=r.target, before=model.sequences[r.old_target], after=seq,
                reason=seq.owned_by and f"owned by {'.'.join(seq.owned_by)}"))
        elif r.kind == "column":
            table = _table(after, r.schema, r.parent)
            before, column = _table(model, r.schema, r.parent).column(r.old), table.column(r.new)
            assert before is not None and column is not None  # Rename checked both names
            changes.append(RenameColumn(target=r.target, before=before, after=column,
                                        parent=table))
        else:
            assert r.parent is not None  # an enum value rename names its enum (__post_init__)
            enum = after.types[("type", r.schema, r.parent)]
            assert isinstance(enum, EnumType)
            changes.append(RenameEnumValue(target=r.target, before=r.old, after=r.new,
                                           parent=enum))
        model = after
    return changes, model


def _table(m: Model, schema: str, name: str | None) -> Table:
    t = m.tables.get(("table", schema, name or ""))
    if t is None:
        raise ValueError(f"rename: no table {schema}.{name}")
    return t


def _pin_identity_sequences(m: Model, schema: str, table: str,
                            column: str | None = None) -> Model:
    """An identity sequence keeps its name when its table or column is renamed: the name
    PostgreSQL picked from the old names becomes one of its own."""
    t = m.tables.get(("table", schema, table))
    if t is None:
        return m
    cols = tuple(
        replace(c, identity=replace(c.identity, sequence=identity_sequence_name(table, c.name)))
        if c.identity is not None and c.identity.sequence is None
        and column in (None, c.name) else c
        for c in t.columns)
    if cols == t.columns:
        return m
    return m.with_(tables={**m.tables, t.key: replace(t, columns=cols)})


def _rename_table(m: Model, r: Rename) -> Model:
    m = _pin_identity_sequences(m, r.schema, r.old)
    t = _table(m, r.schema, r.old)
    if r.target in m.tables:
        raise ValueError(f"rename: table {r.schema}.{r.new} exists already")
    old_q, new_q = (r.schema, r.old), (r.schema, r.new)
    old_sql, new_sql = qname(*old_q), qname(*new_q)
    columns = {c.name for c in t.columns}

    # Every text that may name the table: index and trigger definitions (" ON public.t "),
    # subqueries in policies, casts to its row type, 'public.t'::regclass constants.
    def text(s: str) -> str:
        return _rename_relation(s, r.schema, r.old, r.new)

    def rowtype(typ: str) -> str:  # the table's row type is renamed with it
        if typ == old_sql or typ.startswith(old_sql + "["):
            return new_sql + typ[len(old_sql):]
        return typ

    def retype(c: Column) -> Column:
        typ, ref = rowtype(c.type), new_q if c.type_ref == old_q else c.type_ref
        return c if (typ, ref) == (c.type, c.type_ref) else replace(c, type=typ, type_ref=ref)

    def fk(c: Constraint) -> Constraint:
        if c.kind != "f" or c.ref_table != old_q:
            return c
        return replace(c, ref_table=new_q, definition=c.definition.replace(
            f" REFERENCES {old_sql}(", f" REFERENCES {new_sql}(", 1))

    def table(x: Table) -> Table:
        x = replace(
            x,
            name=r.new if x.qualified == old_q else x.name,
            columns=tuple(retype(c) for c in x.columns),
            constraints=tuple(fk(c) for c in x.constraints),
            partition_of=new_q if x.partition_of == old_q else x.partition_of,
            inherits=tuple(new_q if p == old_q else p for p in x.inherits),
        )
        return _map_table_texts(x, text)

    def view(v: View) -> View:
        reads = ("table", *old_q) in v.depends_on
        return replace(
            _map_view_texts(v, text),
            # A column read through an unaliased table is printed "t.col": with the new name.
            definition=_rename_relation(v.definition, r.schema, r.old, r.new,
                                        columns if reads else None),
            depends_on=_rekey(v.depends_on, ("table", *old_q), ("table", *new_q)),
            column_deps=tuple(sorted((s, r.new if (s, n) == old_q else n, c)
                                     for s, n, c in v.column_deps)),
            columns=tuple((n, rowtype(typ)) for n, typ in v.columns),
        )

    def function(f: Function) -> Function:
        if ("table", *old_q) not in f.depends_on:  # only SQL-standard bodies record reads
            return f
        return replace(f, definition=text(f.definition),
                       depends_on=_rekey(f.depends_on, ("table", *old_q), ("table", *new_q)))

    return m.with_(
        tables=_rekeyed(table(x) for x in m.tables.values()),
        views={k: view(v) for k, v in m.views.items()},
        functions={k: function(f) for k, f in m.functions.items()},
        sequences={k: s if s.owned_by is None or s.owned_by[:2] != old_q
                   else replace(s, owned_by=(*new_q, s.owned_by[2]))
                   for k, s in m.sequences.items()},
        types=_map_type_texts(m, text),
    )


def _rename_sequence(m: Model, r: Rename) -> Model:
    s = m.sequences.get(r.old_target)
    if s is None:
        raise ValueError(f"rename: no sequence {r.schema}.{r.old}")
    if r.target in m.sequences:
        raise ValueError(f"rename: sequence {r.schema}.{r.new} exists already")
    old_sql, new_sql = qname(r.schema, r.old), qname(r.schema, r.new)

    def text(x: str) -> str:  # nextval('public.s'::regclass)
        return _rename_regclass(x, old_sql, new_sql)

    def deps(obj: _Reader) -> _Reader:
        return replace(obj, depends_on=_rekey(obj.depends_on, r.old_target, r.target))

    return m.with_(
        sequences={x.key: x for x in (replace(x, name=r.new) if x is s else x
                                      for x in m.sequences.values())},
        tables={k: _map_table_texts(t, text) for k, t in m.tables.items()},
        views={k: deps(_map_view_texts(v, text)) for k, v in m.views.items()},
        functions={k: deps(f) for k, f in m.functions.items()},
        types=_map_type_texts(m, text),
    )


def _rename_column(m: Model, r: Rename) -> Model:
    assert r.parent is not None  # a column rename names its table (__post_init__)
    m = _pin_identity_sequences(m, r.schema, r.parent, r.old)
    top = _table(m, r.schema, r.parent)
    if top.column(r.old) is None:
        raise ValueError(f"rename: no column {r.old} in {r.schema}.{r.parent}")
    if top.column(r.new) is not None:
        raise ValueError(f"rename: column {r.new} of {r.schema}.{r.parent} exists already")
    # RENAME COLUMN recurses to partitions and inheritance children.
    affected = {top.qualified}
    grew = True
    while grew:
        grew = False
        for t in m.tables.values():
            if t.qualified not in affected and t.column(r.old) is not None and (
                    t.partition_of in affected or any(p in affected for p in t.inherits)):
                affected.add(t.qualified)
                grew = True
    old, new = r.old, r.new

    def cols(names: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(new if n == old else n for n in names)

    def constraint(c: Constraint, own: bool, referenced: bool) -> Constraint:
        if not own and not referenced:
            return c
        if c.kind == "f":
            definition = _fk_columns(c.definition, old, new, own, referenced)
        else:
            definition = _rename_columns(c.definition, old, new)
        return replace(c, definition=definition, columns=cols(c.columns) if own else c.columns,
                       ref_columns=cols(c.ref_columns) if referenced else c.ref_columns)

    def table(t: Table) -> Table:
        own = t.qualified in affected
        t = replace(t, constraints=tuple(
            constraint(c, own, c.kind == "f" and c.ref_table in affected)
            for c in t.constraints))
        if not own:
            return t
        return replace(
            t,
            columns=tuple(replace(
                c, name=new if c.name == old else c.name,
                generated=c.generated and _rename_columns(c.generated, old, new))
                for c in t.columns),
            indexes=tuple(replace(i, columns=cols(i.columns),
                                  definition=_index_columns(i.definition, old, new))
                          for i in t.indexes),
            triggers=tuple(replace(tr, definition=_trigger_columns(tr.definition, old, new))
                           for tr in t.triggers),
            policies=tuple(replace(p, using=p.using and _rename_columns(p.using, old, new),
                                   with_check=p.with_check and _rename_columns(
                                       p.with_check, old, new))
                           for p in t.policies),
            partition_key=t.partition_key and _rename_columns(t.partition_key, old, new),
        )

    def owner(s: Sequence) -> Sequence:
        if s.owned_by and s.owned_by[:2] in affected and s.owned_by[2] == old:
            return replace(s, owned_by=(*s.owned_by[:2], new))
        return s

    # A view's definition is left alone: PostgreSQL keeps the view's column names by
    # printing "t.new AS old", which a fresh view does not say anyway.
    return m.with_(
        tables={k: table(t) for k, t in m.tables.items()},
        sequences={k: owner(s) for k, s in m.sequences.items()},
        views={k: replace(v, column_deps=tuple(sorted(
            (s, n, new if (s, n) in affected and c == old else c)
            for s, n, c in v.column_deps))) for k, v in m.views.items()},
    )


def _rename_enum_value(m: Model, r: Rename) -> Model:
    key = ("type", r.schema, r.parent or "")
    e = m.types.get(key)
    if not isinstance(e, EnumType) or r.old not in e.values:
        raise ValueError(f"rename: no value {r.old!r} in enum {r.schema}.{r.parent}")
    if r.new in e.values:
        raise ValueError(f"rename: enum {r.schema}.{r.parent} has {r.new!r} already")
    type_sql = qname(r.schema, e.name)

    def text(x: str) -> str:  # 'old'::public.mood
        return _rename_enum_literal(x, type_sql, r.old, r.new)

    def bound(t: Table) -> Table:
        # A partition bound's values carry no cast: they are the key column's type.
        parent = m.tables.get(("table", *t.partition_of)) if t.partition_of else None
        key_column = _single_key_column(parent) if parent else None
        if t.partition_bound is None or key_column is None or (
                key_column.type != type_sql):
            return t
        tokens = _tokens(t.partition_bound)
        for i, tok in enumerate(tokens):
            if _string_value(tok) == r.old:
                tokens[i] = ["str", _literal(r.new)]
        return replace(t, partition_bound=_join(tokens))

    types = _map_type_texts(m, text)
    types[key] = replace(e, values=tuple(r.new if v == r.old else v for v in e.values))
    return m.with_(
        types=types,
        tables={k: bound(_map_table_texts(t, text)) for k, t in m.tables.items()},
        views={k: _map_view_texts(v, text) for k, v in m.views.items()},
    )


def _single_key_column(t: Table) -> Column | None:
    """The column a table is partitioned by, when its key is one plain column."""
    head, _, rest = (t.partition_key or "").partition(" (")
    tokens = [x for x in _tokens(rest.removesuffix(")")) if x[0] != "ws"]
    if head not in ("LIST", "RANGE") or len(tokens) != 1 or _name(tokens[0]) is None:
        return None
    return t.column(_name(tokens[0]) or "")


_APPLY: dict[str, Callable[[Model, Rename], Model]] = {
    "table": _rename_table,
    "sequence": _rename_sequence,
    "column": _rename_column,
    "enum_value": _rename_enum_value,
}


# -- model plumbing ---------------------------------------------------------------------------


def _rekeyed(tables: Iterable[Table]) -> dict[tuple[str, ...], Table]:
    return {t.key: t for t in tables}


def _rekey(keys: tuple[tuple[str, ...], ...], old: tuple[str, ...],
           new: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    if old not in keys:
        return keys
    return tuple(sorted(new if k == old else k for k in keys))


def _map_table_texts(t: Table, fn: Callable[[str], str]) -> Table:
    """Apply ``fn`` to every expression and definition of a table."""
    return replace(
        t,
        columns=tuple(replace(c, default=c.default and fn(c.default),
                              generated=c.generated and fn(c.generated)) for c in t.columns),
        constraints=tuple(replace(c, definition=fn(c.definition)) for c in t.constraints),
        indexes=_map_indexes(t.indexes, fn),
        triggers=_map_triggers(t.triggers, fn),
        policies=tuple(replace(p, using=p.using and fn(p.using),
                               with_check=p.with_check and fn(p.with_check))
                       for p in t.policies),
    )


def _map_indexes(indexes: tuple[Index, ...], fn: Callable[[str], str]) -> tuple[Index, ...]:
    return tuple(replace(i, definition=fn(i.definition)) for i in indexes)


def _map_triggers(triggers: tuple[Trigger, ...],
                  fn: Callable[[str], str]) -> tuple[Trigger, ...]:
    return tuple(replace(t, definition=fn(t.definition)) for t in triggers)


def _map_view_texts(v: View, fn: Callable[[str], str]) -> View:
    return replace(v, definition=fn(v.definition), indexes=_map_indexes(v.indexes, fn),
                   triggers=_map_triggers(v.triggers, fn))


def _map_type_texts(m: Model, fn: Callable[[str], str]
                    ) -> dict[tuple[str, ...], EnumType | Domain | CompositeType]:
    def one(t: EnumType | Domain | CompositeType) -> EnumType | Domain | CompositeType:
        if not isinstance(t, Domain):
            return t
        return replace(t, default=t.default and fn(t.default),
                       checks=tuple(DomainCheck(c.name, fn(c.definition)) for c in t.checks))

    return {k: one(t) for k, t in m.types.items()}


# -- canonical text ---------------------------------------------------------------------------

Token = list[str]  # [kind, text]: mutable, to be replaced in place

# Words that continue a cast's type name after its first word(s).
_TYPE_WORDS = {"varying": (), "precision": (), "with": ("time", "zone"),
               "without": ("time", "zone")}


def _tokens(text: str) -> list[Token]:
    """The text as tokens that join back into it: the SQL lexer's (``trimtab.sqltext``),
    with what lies between them (space, comments) as ``ws`` and a cast with its whole type
    name as one ``cast`` token (``::character varying(20)[]`` is never a column)."""
    toks = lex(text).toks
    out: list[Token] = []
    pos = 0
    i = 0
    while i < len(toks):
        kind, _, start, end = toks[i]
        if start > pos:
            out.append(["ws", text[pos:start]])
        if kind == "O" and toks[i][1] == "::":
            end, i = _cast_end(toks, i + 1, end)
            out.append(["cast", text[start:end]])
            pos = end
            continue
        out.append([_KINDS.get(kind, "op"), text[start:end]])
        pos = end
        i += 1
    if pos < len(text):
        out.append(["ws", text[pos:]])
    return out


# The lexer's kinds, as this module names them: a dollar-quoted body is opaque ("dollar":
# PostgreSQL renames nothing inside one either).
_KINDS = {"W": "id", "Q": "qid", "S": "str", "E": "str", "N": "num", "D": "dollar"}


def _cast_end(toks: tuple[Tok, ...], i: int, end: int) -> tuple[int, int]:
    """After ``::`` at toks[i - 1]: the end offset of the type name and the index after it."""
    def at(j: int, kind: str, value: str | None = None) -> bool:
        return j < len(toks) and toks[j][0] == kind and (value is None or toks[j][1] == value)

    if not (at(i, "W") or at(i, "Q")):
        return end, i
    end, i = toks[i][3], i + 1
    if at(i, "O", ".") and (at(i + 1, "W") or at(i + 1, "Q")):  # schema-qualified
        end, i = toks[i + 1][3], i + 2
    if at(i, "W") and toks[i][1] in _TYPE_WORDS:
        rest = _TYPE_WORDS[toks[i][1]]
        if all(at(i + 1 + k, "W", w) for k, w in enumerate(rest)):
            end, i = toks[i + len(rest)][3], i + 1 + len(rest)
    if at(i, "O", "(") and at(i + 1, "N"):  # (n) or (p, s)
        j = i + 2
        if at(j, "O", ",") and at(j + 1, "N"):
            j += 2
        if at(j, "O", ")"):
            end, i = toks[j][3], j + 1
    if at(i, "W") and toks[i][1] in ("with", "without") and at(i + 1, "W", "time") and at(
            i + 2, "W", "zone"):
        end, i = toks[i + 2][3], i + 3
    while at(i, "O", "[") and (at(i + 1, "O", "]") or (at(i + 1, "N") and at(i + 2, "O", "]"))):
        j = i + 1 if at(i + 1, "O", "]") else i + 2
        end, i = toks[j][3], j + 1
    return end, i


def _join(tokens: list[Token]) -> str:
    return "".join(t[1] for t in tokens)


def _name(tok: Token) -> str | None:
    """The identifier a token stands for (None for anything else)."""
    if tok[0] == "id":
        return tok[1]
    if tok[0] == "qid":
        return tok[1][1:-1].replace('""', '"')
    return None


def _is(tok: Token, name: str) -> bool:
    """The token names ``name``: quoted, or bare when the catalog prints it bare (a bare
    token in other letter case is a keyword)."""
    if tok[0] == "qid":
        return _name(tok) == name
    return tok[0] == "id" and tok[1] == name and quote_ident(name) == name


def _step(tokens: list[Token], i: int, by: int) -> int | None:
    """Index of the nearest token before (by=-1) or after (by=1) ``i`` that is not space."""
    i += by
    while 0 <= i < len(tokens):
        if tokens[i][0] != "ws":
            return i
        i += by
    return None


def _text_at(tokens: list[Token], i: int | None) -> str:
    return "" if i is None else tokens[i][1]


def _string_value(tok: Token) -> str | None:
    if tok[0] != "str":
        return None
    if tok[1][0] in "Ee":
        return re.sub(r"\\(.)", r"\1", tok[1][2:-1].replace("''", "'"))
    return tok[1][1:-1].replace("''", "'")


def _literal(value: str) -> str:
    # As the catalog prints constants (standard_conforming_strings on: no E'' form).
    return "'" + value.replace("'", "''") + "'"


def _cast_type(tok: Token) -> str:
    return tok[1][2:].strip()


def _mentions(text: str, name: str) -> bool:
    return name in text or quote_ident(name) in text


def _rename_in(tokens: list[Token], lo: int, hi: int, old: str, new: str,
               qualifiers: frozenset[str] = frozenset()) -> None:
    """Rename column ``old`` in tokens[lo:hi]: a whole identifier, not a function name (before
    ``(``), not a qualifier (before ``.``), not a qualified name's last part (after ``.``)
    unless qualified by one of ``qualifiers`` (NEW/OLD in a trigger's WHEN)."""
    for i in range(lo, hi):
        if not _is(tokens[i], old) or _text_at(tokens, _step(tokens, i, 1)) in ("(", "."):
            continue
        before = _step(tokens, i, -1)
        if before is not None and tokens[before][1] == "COLLATE":
            continue
        if before is not None and tokens[before][1] == "." and _text_at(
                tokens, _step(tokens, before, -1)) not in qualifiers:
            continue
        tokens[i] = ["id", quote_ident(new)]


def _rename_columns(text: str, old: str, new: str) -> str:
    if not _mentions(text, old):
        return text
    tokens = _tokens(text)
    _rename_in(tokens, 0, len(tokens), old, new)
    return _join(tokens)


def _keyword(tokens: list[Token], word: str, start: int = 0, last: bool = False) -> int | None:
    """Index of the first (or last) bare upper-case keyword ``word`` from ``start``."""
    hits = [i for i in range(start, len(tokens)) if tokens[i] == ["id", word]]
    return (hits[-1] if last else hits[0]) if hits else None


def _index_columns(definition: str, old: str, new: str) -> str:
    """Only after "ON public.t USING btree": never the index's or the table's name."""
    if not _mentions(definition, old):
        return definition
    tokens = _tokens(definition)
    on = _keyword(tokens, "ON")
    using = None if on is None else _keyword(tokens, "USING", on)
    method = None if using is None else _step(tokens, using, 1)
    if method is None:
        return definition
    _rename_in(tokens, method + 1, len(tokens), old, new)
    return _join(tokens)


def _trigger_columns(definition: str, old: str, new: str) -> str:
    """The UPDATE OF list and the WHEN clause: after the trigger's name, before EXECUTE."""
    if not _mentions(definition, old):
        return definition
    tokens = _tokens(definition)
    trigger = _keyword(tokens, "TRIGGER")
    name = None if trigger is None else _step(tokens, trigger, 1)
    end = _keyword(tokens, "EXECUTE", last=True)
    if name is None or end is None:
        return definition
    _rename_in(tokens, name + 1, end, old, new, frozenset({"new", "old"}))
    return _join(tokens)


def _fk_columns(definition: str, old: str, new: str, own: bool, referenced: bool) -> str:
    """FOREIGN KEY (own columns) REFERENCES s.t(referenced columns) [ON DELETE SET NULL
    (own columns)]."""
    if not _mentions(definition, old):
        return definition
    tokens = _tokens(definition)
    refs = _keyword(tokens, "REFERENCES")
    if refs is None:
        return definition
    start = next((i for i in range(refs, len(tokens)) if tokens[i][1] == "("), None)
    end = next((i for i in range(start or refs, len(tokens)) if tokens[i][1] == ")"), None)
    if start is None or end is None:
        return definition
    if own:
        _rename_in(tokens, 0, refs, old, new)
        _rename_in(tokens, end + 1, len(tokens), old, new)
    if referenced:
        _rename_in(tokens, start + 1, end, old, new)
    return _join(tokens)


def _rename_relation(text: str, schema: str, old: str, new: str,
                     columns: set[str] | None = None) -> str:
    """``schema.old`` -> ``schema.new`` where it names the relation (not a function of that
    name), casts to its row type, ``'schema.old'::regclass``; with ``columns``, also the
    bare qualifier of those columns ("old.id"), as views print an unaliased table."""
    if not _mentions(text, old):
        return text
    old_sql, new_sql = qname(schema, old), qname(schema, new)
    tokens = _tokens(text)
    for i, tok in enumerate(tokens):
        if tok[0] == "cast":
            typ = _cast_type(tok)
            if typ == old_sql or typ.startswith(old_sql + "["):
                tok[1] = "::" + new_sql + typ[len(old_sql):]
            continue
        if tok[0] == "str":
            _regclass(tokens, i, old_sql, new_sql)
            continue
        if not _is(tok, old):
            continue
        # (The catalog writes qualified names with no space around the dot.)
        if i >= 2 and tokens[i - 1][1] == ".":
            hit = (_is(tokens[i - 2], schema) and (i < 3 or tokens[i - 3][1] != ".")
                   and _text_at(tokens, _step(tokens, i, 1)) != "(")
        else:
            hit = (columns is not None and i + 2 < len(tokens) and tokens[i + 1][1] == "."
                   and _name(tokens[i + 2]) in columns)
        if hit:
            tokens[i] = ["id", quote_ident(new)]
    return _join(tokens)


def _regclass(tokens: list[Token], i: int, old_sql: str, new_sql: str) -> None:
    """tokens[i] is a string constant: 'old'::regclass becomes 'new'::regclass."""
    if (_string_value(tokens[i]) == old_sql and i + 1 < len(tokens)
            and tokens[i + 1][0] == "cast" and _cast_type(tokens[i + 1]) == "regclass"):
        tokens[i] = ["str", _literal(new_sql)]


def _rename_regclass(text: str, old_sql: str, new_sql: str) -> str:
    if old_sql.replace("'", "''") not in text:
        return text
    tokens = _tokens(text)
    for i, tok in enumerate(tokens):
        if tok[0] == "str":
            _regclass(tokens, i, old_sql, new_sql)
    return _join(tokens)


def _rename_enum_literal(text: str, type_sql: str, old: str, new: str) -> str:
    """'old'::s.type, and the element in '{old,other}'::s.type[]."""
    if type_sql not in text:
        return text
    tokens = _tokens(text)
    for i, tok in enumerate(tokens):
        value = _string_value(tok)
        if value is None or i + 1 == len(tokens) or tokens[i + 1][0] != "cast":
            continue
        typ = _cast_type(tokens[i + 1])
        if typ == type_sql and value == old:
            tokens[i] = ["str", _literal(new)]
        elif typ == type_sql + "[]":
            items = _array_items(value)
            if items is not None and old in items:
                tokens[i] = ["str", _literal(_array_literal(
                    [new if x == old else x for x in items]))]
    return _join(tokens)


_ARRAY_ITEM = re.compile(r'"((?:[^"\\]|\\.)*)"|([^,{}"]*)')


def _array_items(value: str) -> list[str | None] | None:
    """The elements of a one-dimensional array literal (None for NULL); None if it is not
    one."""
    if not (value.startswith("{") and value.endswith("}")):
        return None
    body, pos, items = value[1:-1], 0, []
    while body:
        m = _ARRAY_ITEM.match(body, pos)
        assert m is not None  # (the pattern also matches the empty string)
        quoted, bare = m.groups()
        items.append(re.sub(r"\\(.)", r"\1", quoted) if quoted is not None
                     else None if bare.upper() == "NULL" else bare)
        pos = m.end()
        if pos == len(body):
            break
        if body[pos] != ",":
            return None  # nested, or not what the catalog prints
        pos += 1
    return items


def _array_literal(items: list[str | None]) -> str:
    def one(x: str | None) -> str:
        if x is None:
            return "NULL"
        if x == "" or x.upper() == "NULL" or re.search(r'[{},"\\\s]', x):
            return '"' + x.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return x

    return "{" + ",".join(one(x) for x in items) + "}"


__all__ = ["Rename", "apply_renames", "candidates", "follow_sequences", "ordered",
           "rename_changes", "resolve_hints"]


# -- a whole schema under another name ------------------------------------------------------

# Fields that hold SQL text (canonical, schema-qualified), and those that hold a qualified
# name, a tuple of them, or model keys (the schema second).
_TEXT_FIELDS = frozenset({
    "definition", "default", "generated", "type", "base_type", "collation", "using",
    "with_check", "result", "arg_names_types", "identity_args", "partition_key",
    "partition_bound"})
_NAME_FIELDS = frozenset({"ref_table", "partition_of", "owned_by", "type_ref", "function",
                          "parent", "index_parent"})
_NAMES_FIELDS = frozenset({"inherits", "column_deps"})
_KEYS_FIELDS = frozenset({"depends_on"})
_PAIR_FIELDS = frozenset({"attributes", "columns"})  # (name, type) pairs (a view's columns)


def move_schema(model: Model, old: str, new: str) -> Model:
    """``model`` with schema ``old`` named ``new``: its keys, the objects' schema, the names
    that point into it and the canonical text that names it (``old.t``, ``::old.mood``,
    ``'old.t_id_seq'::regclass``). What a function's dollar-quoted body says is left as it
    is (PostgreSQL does not rewrite it either). For comparing schemas made by the same
    migrations under other names: a tenant schema with the replay's."""
    prefix, moved = quote_ident(old) + ".", quote_ident(new) + "."

    def text(s: str) -> str:
        if not _mentions(s, old):
            return s
        tokens = _tokens(s)
        for i, tok in enumerate(tokens):
            if tok[0] == "cast":
                typ = _cast_type(tok)
                if typ.startswith(prefix):
                    tok[1] = "::" + moved + typ[len(prefix):]
            elif tok[0] == "str":
                value = _string_value(tok)
                if (value is not None and value.startswith(prefix) and i + 1 < len(tokens)
                        and tokens[i + 1][0] == "cast"
                        and _cast_type(tokens[i + 1]).startswith("reg")):
                    tokens[i] = ["str", _literal(moved + value[len(prefix):])]
            elif _is(tok, old) and i + 1 < len(tokens) and tokens[i + 1][1] == "." and not (
                    i >= 1 and tokens[i - 1][1] == "."):
                tokens[i] = ["id", quote_ident(new)]
        return _join(tokens)

    def name(q: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return (new, *q[1:]) if q and q[0] == old else q

    def key(k: tuple[str, ...]) -> tuple[str, ...]:
        if k[0] == "extension" or len(k) < 2:  # an extension's: its name
            return k
        # a function's: its arguments' types too
        return (k[0], new if k[1] == old else k[1], *k[2:3],
                *(text(a) if k[0] == "function" else a for a in k[3:]))

    def field(f: str, value: Any) -> Any:
        if value is None or isinstance(value, bool | int):
            return value
        if f == "schema":
            return new if value == old else value
        if isinstance(value, str):
            return text(value) if f in _TEXT_FIELDS else value
        if f in _NAME_FIELDS:
            return name(value)
        if f in _NAMES_FIELDS:
            return tuple(name(q) for q in value)
        if f in _KEYS_FIELDS:
            return tuple(key(k) for k in value)
        if f == "target":  # an owner's object
            return key(value)
        if isinstance(value, tuple):
            return tuple((item[0], text(item[1])) if f in _PAIR_FIELDS and isinstance(
                item, tuple) else walk(item) for item in value)
        return walk(value)

    def walk(obj: _T) -> _T:
        if not is_dataclass(obj) or isinstance(obj, type):
            return obj
        changed = {f.name: field(f.name, getattr(obj, f.name)) for f in fields(obj)}
        if isinstance(obj, Schema) and obj.name == old:
            changed["name"] = new
        return replace(obj, **changed)  # type: ignore[type-var]

    return model.with_(
        owners=tuple(walk(o) for o in model.owners),
        outside_keys=tuple(walk(o) for o in model.outside_keys),
        **{f: {key(k): walk(v) for k, v in getattr(model, f).items()}
           for f in ("schemas", "extensions", "types", "sequences", "tables", "views",
                     "functions", "collations")})
