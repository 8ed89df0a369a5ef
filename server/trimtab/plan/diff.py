"""model x model -> changes.

Pure: no I/O, no ordering (``order.py`` sorts), no SQL (``render.py`` writes it). Both
models hold catalog-canonical text, so "changed" is plain inequality. The diff alters in
place wherever PostgreSQL can, and replaces only what it must; when it replaces something,
it also replaces what depends on it (views over a changed column, triggers on a recreated
function, foreign keys onto a recreated key).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, TypeVar

from trimtab.errors import PlanError
from trimtab.model import (
    Collation,
    Column,
    CompositeType,
    Constraint,
    Domain,
    EnumType,
    Function,
    Grant,
    Index,
    Model,
    Policy,
    QualifiedName,
    Table,
    View,
    qname,
    quote_ident,
)
from trimtab.plan.changes import (
    AddColumn,
    AddConstraint,
    AddEnumValue,
    AlterColumn,
    AlterExtension,
    AlterOwner,
    AlterPolicy,
    AlterSequence,
    AlterTable,
    AlterTrigger,
    AlterType,
    AttachIndex,
    AttachPartition,
    Change,
    CreateCollation,
    CreateExtension,
    CreateFunction,
    CreateIndex,
    CreatePolicy,
    CreateSchema,
    CreateSequence,
    CreateTable,
    CreateTrigger,
    CreateType,
    CreateView,
    DetachPartition,
    DropCollation,
    DropColumn,
    DropConstraint,
    DropExtension,
    DropFunction,
    DropIndex,
    DropPolicy,
    DropSchema,
    DropSequence,
    DropTable,
    DropTrigger,
    DropType,
    DropView,
    GrantPrivilege,
    RecreateEnum,
    RenameConstraint,
    RenameIndex,
    ReplaceFunction,
    ReplaceView,
    RevokePrivilege,
    SetCluster,
    SetComment,
    SetSequenceOwner,
    TypedColumn,
    ValidateConstraint,
)

# The reason an index is rebuilt that a failed CREATE INDEX CONCURRENTLY left invalid.
INVALID_INDEX = "left invalid by a failed build"
# The reason of a DROP COLUMN that runs on the parent ONLY (``render``, ``hazards``).
CHILDREN_KEEP = "tables inheriting it keep their own copy"
_Type = EnumType | Domain | CompositeType


T = TypeVar("T")


def diff(current: Model, desired: Model) -> list[Change]:
    try:
        return _Differ(current, desired).run()
    finally:
        _keep_tables_used()


# Pairs of tables the last whole diff found equal, by identity (with the objects, so that
# an id is not reused while it is here). The editor plans after every pause in typing
# against the same live model and a desired one whose unchanged tables are the objects of
# the last (shadowcache._merge): comparing 1,000 tables field by field again cost some
# 40 ms of every exact path. Models are immutable, so a pair once equal stays equal.
_equal_tables: dict[tuple[int, int], tuple[Table, Table]] = {}


def tables_equal(a: Table, b: Table, found: dict[tuple[int, int], tuple[Table, Table]]
                 | None = None) -> bool:
    """``a == b``, answered by identity for a pair the last whole diff found equal;
    a pair found equal now is added to ``found``."""
    pair = (id(a), id(b))
    if pair in _equal_tables or a == b:
        if found is not None:
            found[pair] = (a, b)
        return True
    return False


def _strip_not_valid(definition: str) -> str:
    return definition.removesuffix(" NOT VALID")


class _Differ:
    def __init__(self, current: Model, desired: Model) -> None:
        self.cur = current
        self.new = desired
        self.out: list[Change] = []
        # Objects replaced (dropped and created again): their dependents follow.
        self.recreated_tables: set[tuple[str, str]] = set()
        self.recreated_functions: set[tuple[str, ...]] = set()
        self.changed_columns: set[tuple[str, str, str]] = set()  # type change or drop
        self.dropped_tables: set[tuple[str, str]] = set()
        self.recreate_views: dict[tuple[str, ...], str] = {}  # view key -> reason
        self.recreated_enums: set[tuple[str, str]] = set()
        self.replaced_keys: set[tuple[str, str, tuple[str, ...]]] = set()  # PK/unique recreated
        # Unattached unique indexes a partition's new key takes over (USING INDEX).
        self.adopted_indexes: set[tuple[str, str]] = set()

    def emit(self, change: Change) -> None:
        self.out.append(change)

    def run(self) -> list[Change]:
        for key, t in self.cur.tables.items():
            new = self.new.tables.get(key)
            if new is None or self._must_recreate(t, new):
                self.dropped_tables.add(t.qualified)
                if new is not None:
                    self.recreated_tables.add(t.qualified)
        self.schemas()
        self.extensions()
        self.collations()
        self.types()
        self.sequences()
        self.functions()
        self.tables()
        self.foreign_keys_onto_replaced_keys()
        self.views()
        self.comments()
        self.grants()
        self.owners()
        return self.out

    # -- schemas, extensions -------------------------------------------------------------

    def schemas(self) -> None:
        for key, s in self.new.schemas.items():
            if key not in self.cur.schemas:
                self.emit(CreateSchema(target=key, after=s))
        for key, s in self.cur.schemas.items():
            if key not in self.new.schemas:
                self.emit(DropSchema(target=key, before=s))

    def extensions(self) -> None:
        for key, e in self.new.extensions.items():
            old = self.cur.extensions.get(key)
            if old is None:
                self.emit(CreateExtension(target=key, after=e))
            elif (e.version is not None and old.version != e.version) or \
                    old.schema != e.schema:  # no version: any will do
                self.emit(AlterExtension(target=key, before=old, after=e))
        for key, e in self.cur.extensions.items():
            if key not in self.new.extensions:
                self.emit(DropExtension(target=key, before=e))

    # -- collations ------------------------------------------------------------------------

    def collations(self) -> None:
        for key, c in self.new.collations.items():
            old = self.cur.collations.get(key)
            if old is None:
                self.emit(CreateCollation(target=key, after=c))
            elif replace(old, comment=None) != replace(c, comment=None):
                # No ALTER COLLATION changes what a collation sorts by: it is made again,
                # which PostgreSQL refuses while anything uses it.
                users = _collation_users(self.cur, old)
                if users:
                    raise PlanError(
                        f"collation {old.schema}.{old.name} changes ({_collation_change(old, c)})"
                        f" but {', '.join(users[:5])}{' ...' if len(users) > 5 else ''} "
                        "use it: PostgreSQL cannot change a collation in place, nor drop one "
                        "in use", obj=f"collation {old.schema}.{old.name}",
                        hint="declare the new collation under another name, move the columns "
                             "to it, and drop the old one in a later push")
                self.emit(DropCollation(target=key, before=old, reason="replaced"))
                self.emit(CreateCollation(target=key, after=c, reason="replaced"))
        for key, c in self.cur.collations.items():
            if key not in self.new.collations:
                self.emit(DropCollation(target=key, before=c))

    # -- types -----------------------------------------------------------------------------

    def types(self) -> None:
        for key, t in self.new.types.items():
            old = self.cur.types.get(key)
            if old is None:
                self.emit(CreateType(target=key, after=t))
            elif old == t or _without_comment(old) == _without_comment(t):
                continue
            elif isinstance(old, EnumType) and isinstance(t, EnumType):
                self.enum(old, t)
            elif isinstance(old, (Domain, CompositeType)) and isinstance(
                    t, (Domain, CompositeType)) and self._alterable_type(old, t):
                self.emit(AlterType(target=key, before=old, after=t))
            else:
                self.emit(DropType(target=key, before=old, reason="replaced"))
                self.emit(CreateType(target=key, after=t, reason="replaced"))
        for key, t in self.cur.types.items():
            if key not in self.new.types:
                self.emit(DropType(target=key, before=t))

    @staticmethod
    def _alterable_type(old: object, new: object) -> bool:
        if isinstance(old, Domain) and isinstance(new, Domain):
            return old.base_type == new.base_type and old.collation == new.collation
        return isinstance(old, CompositeType)

    def enum(self, old: EnumType, new: EnumType) -> None:
        if old.values == new.values:
            return
        it = iter(new.values)
        if all(v in it for v in old.values):  # old values keep their order: add the others
            for i, v in enumerate(new.values):
                if v not in old.values:
                    self.emit(AddEnumValue(target=new.key, before=old, after=new,
                              follows=new.values[i - 1] if i else None, value=v))
            return
        lost = [v for v in old.values if v not in new.values]
        self.recreated_enums.add((new.schema, new.name))
        self.emit(RecreateEnum(target=new.key, before=old, after=new,
                  columns=self._columns_of_type(new.schema, new.name),
                  reason=f"removes {', '.join(lost)}" if lost else "reorders values"))
        for schema, table, column, *_ in self._columns_of_type(new.schema, new.name):
            self.changed_columns.add((schema, table, column))

    def _columns_of_type(self, schema: str, name: str) -> tuple[TypedColumn, ...]:
        """(schema, table, column, type, current default, desired default) of every kept
        column of this type."""
        out: list[TypedColumn] = []
        for t in self.cur.tables.values():
            if t.partition_of:  # partitions follow their parent's column type
                continue
            new_t = self.new.tables.get(t.key)
            for c in t.columns:
                nc = new_t.column(c.name) if new_t else None
                if c.type_ref == (schema, name) and nc is not None and nc.type == c.type:
                    out.append((t.schema, t.name, c.name, c.type, c.default, nc.default))
        return tuple(out)

    # -- sequences -------------------------------------------------------------------------

    def sequences(self) -> None:
        for key, s in self.new.sequences.items():
            old = self.cur.sequences.get(key)
            if old is None:
                self.emit(CreateSequence(target=key, after=s))
                if s.owned_by:
                    self.emit(SetSequenceOwner(target=key, after=s))
                continue
            if _seq_options(old) != _seq_options(s):
                self.emit(AlterSequence(target=key, before=old, after=s))
            if old.owned_by and self._owner_goes(old.owned_by):
                # Dropping its column would take the sequence along: release it first.
                self.emit(SetSequenceOwner(target=key, before=old,
                          after=replace(s, owned_by=None), reason="release"))
                if s.owned_by:
                    self.emit(SetSequenceOwner(target=key, after=s))
            elif old.owned_by != s.owned_by:
                self.emit(SetSequenceOwner(target=key, before=old, after=s))
        for key, s in self.cur.sequences.items():
            if key in self.new.sequences:
                continue
            if s.owned_by and self._owner_goes(s.owned_by):
                continue  # dropped with its column
            self.emit(DropSequence(target=key, before=s))

    def _owner_goes(self, owner: tuple[str, str, str]) -> bool:
        """The owning column is dropped, or its table is (recreated tables included)."""
        if owner[:2] in self.dropped_tables:
            return True
        table = self.new.tables.get(("table", owner[0], owner[1]))
        return table is None or table.column(owner[2]) is None

    # -- functions -------------------------------------------------------------------------

    def functions(self) -> None:
        for key, f in self.new.functions.items():
            old = self.cur.functions.get(key)
            if old is None:
                self.emit(CreateFunction(target=key, after=f))
            elif old.definition != f.definition:
                if _replaceable(old, f):
                    self.emit(ReplaceFunction(target=key, before=old, after=f))
                else:
                    self.recreated_functions.add(key)
                    self.emit(DropFunction(target=key, before=old, reason="replaced"))
                    self.emit(CreateFunction(target=key, after=f, reason="replaced"))
        for key, f in self.cur.functions.items():
            if key not in self.new.functions:
                self.emit(DropFunction(target=key, before=f))

    # -- tables ----------------------------------------------------------------------------

    def tables(self) -> None:
        for key, t in self.cur.tables.items():
            if t.qualified not in self.dropped_tables:
                continue
            # Foreign keys between tables that go away are dropped first, so the tables
            # can go in any order (even when they reference each other).
            for c in t.constraints:
                if (c.kind == "f" and not c.inherited and c.ref_table in self.dropped_tables
                        and c.ref_table != t.qualified):
                    self.emit(DropConstraint(target=("constraint", t.schema, t.name, c.name),
                              before=c, parent=t, reason="its table is dropped"))
            if t.partition_of and t.partition_of in self.dropped_tables:
                continue  # goes with its partitioned parent
            recreated = t.qualified in self.recreated_tables
            self.emit(DropTable(target=key, before=t,
                      reason="partitioning changed" if recreated else None))
        # An unchanged table yields nothing unless something it uses is recreated: most of
        # a large schema, and comparing is cheaper than walking it.
        quiet = not (self.recreated_tables or self.recreated_functions
                     or self.recreated_enums)
        found: dict[tuple[int, int], tuple[Table, Table]] = {}
        for key, t in self.new.tables.items():
            old = self.cur.tables.get(key)
            if old is None or t.qualified in self.recreated_tables:
                self.create_table(t)
            elif not (quiet and tables_equal(old, t, found)):
                self.alter_table(old, t)
        if found:  # a diff of models cut down to what differs (the fast path) finds none
            global _equal_tables
            _equal_tables = found

    def _lost_at_detach(self, c: Constraint) -> bool:
        """A partition's clone of its parent's foreign key that DETACH PARTITION drops:
        before PostgreSQL 15 it does so for keys that reference a partitioned table (15
        and later keep every clone as the partition's own)."""
        version = self.cur.server_version or self.new.server_version or 180000
        if version >= 150000 or not c.inherited or c.kind != "f" or c.ref_table is None:
            return False
        ref = self.cur.tables.get(("table", *c.ref_table))
        return ref is not None and ref.partition_key is not None

    @staticmethod
    def _must_recreate(old: Table, new: Table) -> bool:
        # A table cannot become partitioned (or stop being) in place.
        return old.partition_key != new.partition_key

    def create_table(self, t: Table) -> None:
        self.emit(CreateTable(target=t.key, after=t))
        if t.partition_of:
            # The parent supplies the columns; settle what the partition holds locally.
            parent = self.new.tables.get(("table", *t.partition_of))
            if parent is not None:
                base = replace(t, columns=tuple(
                    replace(c, default=None, comment=None, grants=())
                    if (pc := parent.column(c.name)) is None
                    else replace(c, default=pc.default, not_null=pc.not_null, comment=None,
                                 grants=())
                    for c in t.columns))
                self.columns(base, t)
        empty = replace(t, constraints=(), indexes=(), triggers=(), policies=(),
                        rls_enabled=False, rls_forced=False, replica_identity="d")
        self.constraints(empty, t)
        self.indexes(empty, t)
        self.triggers(empty, t)
        self.policies(empty, t)
        self.table_props(empty, t)

    def alter_table(self, old: Table, new: Table) -> None:
        if old.partition_of != new.partition_of or old.partition_bound != new.partition_bound:
            if old.partition_of:
                self.emit(DetachPartition(target=new.key, before=old, after=new))
            if new.partition_of:
                self.emit(AttachPartition(target=new.key, before=old, after=new))
            if old.partition_of and old.partition_of != new.partition_of:
                # Detached (first, see order.py), the partition keeps its constraints and
                # indexes as its own: what it does not declare, or its new parent give it
                # again, is dropped there. (Back under the same parent, ATTACH takes them
                # up again.)
                old = replace(
                    old,
                    constraints=tuple(replace(c, inherited=False) for c in old.constraints
                                      if not self._lost_at_detach(c)),
                    indexes=tuple(replace(i, parent=None) for i in old.indexes))
            if old.partition_of and not new.partition_of:
                # ... and its columns.
                old = replace(
                    old, partition_of=None,
                    columns=tuple(replace(c, inherited=False) for c in old.columns))
        if set(old.inherits) - set(new.inherits):  # NO INHERIT, before columns go
            self.emit(DetachPartition(target=new.key, before=old, after=new))
        if set(new.inherits) - set(old.inherits):  # INHERIT, once the columns are there
            self.emit(AttachPartition(target=new.key, before=old, after=new))
        self.columns(old, new)
        self.constraints(old, new)
        self.indexes(old, new)
        self.triggers(old, new)
        self.policies(old, new)
        self.table_props(old, new)

    def columns(self, old: Table, new: Table) -> None:
        # A partition's columns, and a child's inherited ones, come from the parent, whose
        # changes recurse to them: only what they hold locally is theirs to change.
        partition = new.partition_of is not None
        for c in new.columns:
            key = ("column", new.schema, new.name, c.name)
            oc = old.column(c.name)
            if oc is None:
                # An inherited column arrives with its parent's ADD COLUMN, unless the
                # table is only now joining that parent (INHERIT needs it in place).
                kept = replace(new, inherits=tuple(p for p in new.inherits
                                                   if p in old.inherits))
                if not partition and (not c.inherited or not self._parents_have(kept, c.name)):
                    self.emit(AddColumn(target=key, after=c, parent=new))
                continue
            if partition or (c.inherited and oc.inherited):
                if (oc.default, oc.not_null) != (c.default, c.not_null):
                    self.emit(AlterColumn(target=key, parent=new, after=c,
                              before=replace(c, default=oc.default, not_null=oc.not_null)))
                continue
            if oc.inherited and not c.inherited and not self._parents_have(new, c.name):
                # Its parent drops the column ONLY there (or the table leaves the parent):
                # the copy here stays, with its values, as the table's own column.
                oc = replace(oc, inherited=False)
            if oc == c or _column_core(oc) == _column_core(c):  # the first is cheap
                continue
            if self._regenerate(oc, c):
                self.changed_columns.add((new.schema, new.name, c.name))
                self.emit(DropColumn(target=key, before=oc, parent=old, reason="replaced"))
                self.emit(AddColumn(target=key, after=c, parent=new, reason="replaced"))
                continue
            if oc.type != c.type:
                self.changed_columns.add((new.schema, new.name, c.name))
            self.emit(AlterColumn(target=key, before=oc, after=c, parent=new))
        if partition:
            return
        kept_parents = [self.cur.tables.get(("table", *p)) for p in old.inherits
                        if p in new.inherits]
        for oc in old.columns:
            if oc.inherited and any(p is not None and p.column(oc.name)
                                    and not self._children_keep(p, oc.name)
                                    for p in kept_parents):
                continue  # goes with the parent's DROP COLUMN
            if new.column(oc.name) is None:
                self.changed_columns.add((old.schema, old.name, oc.name))
                only = self._children_keep(old, oc.name)
                self.emit(DropColumn(target=("column", old.schema, old.name, oc.name),
                          before=oc, parent=old, reason=CHILDREN_KEEP if only else None))

    def _children_keep(self, parent: Table, column: str) -> bool:
        """A table that inherits from ``parent`` now and in the desired schema declares
        ``column`` itself: dropping it from the parent must be ``ONLY`` there, since a
        recursing drop would take the child's copy (and its values) too."""
        if self.new.table(parent.schema, parent.name) is None:
            return False
        for key, t in self.new.tables.items():
            if parent.qualified not in t.inherits or t.qualified in self.recreated_tables:
                continue
            cur = self.cur.tables.get(key)
            if (cur is not None and parent.qualified in cur.inherits
                    and t.column(column) is not None):
                return True
        return False

    def _parents_have(self, table: Table, column: str) -> bool:
        parents = [self.new.tables.get(("table", *p)) for p in table.inherits]
        return any(p is not None and p.column(column) is not None for p in parents)

    def _regenerate(self, old: Column, new: Column) -> bool:
        """A stored generated column whose expression changes is dropped and added again
        before PostgreSQL 17 (no SET EXPRESSION); a plain column never becomes generated
        in place."""
        if new.generated and not old.generated:
            return True
        if old.generated and new.generated and old.generated != new.generated:
            return self.new.server_version < 170000
        return False

    def constraints(self, old: Table, new: Table) -> None:
        olds = {c.name: c for c in old.constraints if not c.inherited}
        attach = {c.name for c in new.constraints
                  if self._attach_explicitly(old, new, c.index_parent)}
        news = {c.name: c for c in new.constraints if not c.inherited or c.name in attach}
        dropped = [c for n, c in olds.items() if n not in news]
        added = [c for n, c in news.items() if n not in olds]
        tkey = new.key
        for c in list(added):
            twin = next((d for d in dropped if d.definition == c.definition
                         and d.kind == c.kind), None)
            if twin is not None and new.qualified not in self.recreated_tables:
                dropped.remove(twin)
                added.remove(c)
                self.emit(RenameConstraint(target=("constraint", *tkey[1:], c.name),
                          before=twin, after=c, parent=new))
        for c in dropped:
            self._drop_constraint(old, c)
        for name, c in news.items():
            oc = olds.get(name)
            if oc is None or oc == c:
                continue
            if oc.definition == c.definition or (
                _strip_not_valid(oc.definition) == _strip_not_valid(c.definition)
                and not oc.validated and c.validated
            ):
                if not oc.validated and c.validated:
                    self.emit(ValidateConstraint(target=("constraint", *tkey[1:], name),
                              before=oc, after=c, parent=new))
                continue
            if self._refs_recreated_table(oc) and oc.definition == c.definition:
                continue
            self._drop_constraint(old, oc, reason="changed")
            self._add_constraint(new, c, reason="changed")
        for c in added:
            self._add_constraint(new, c, using=self._index_for_key(old, new, c))
        for name in sorted(attach):
            self._attach_index(new, news[name])
        # Foreign keys onto a table that is recreated must be made again.
        for name, c in news.items():
            oc = olds.get(name)
            if (oc is not None and oc == c and c.ref_table is not None
                    and self._refs_recreated_table(c)):
                self._drop_constraint(old, oc, reason=f"{qname(*c.ref_table)} is recreated")
                self._add_constraint(new, c, reason=f"{qname(*c.ref_table)} is recreated")

    def _refs_recreated_table(self, c: Constraint) -> bool:
        return c.kind == "f" and c.ref_table in self.recreated_tables

    def _drop_constraint(self, table: Table, c: Constraint, reason: str | None = None) -> None:
        if table.qualified in self.dropped_tables:
            return
        if c.kind in ("p", "u"):
            self.replaced_keys.add((table.schema, table.name, c.columns))
        self.emit(DropConstraint(target=("constraint", table.schema, table.name, c.name),
                  before=c, parent=table, reason=reason))

    def _add_constraint(self, table: Table, c: Constraint, reason: str | None = None,
                        using: Index | None = None) -> None:
        # ``using``: the unique index the constraint takes over (ADD ... USING INDEX).
        self.emit(AddConstraint(target=("constraint", table.schema, table.name, c.name),
                  using_index=using, after=c, parent=table, reason=reason))

    # -- partition indexes attached to their parent's ------------------------------------

    def _attach_explicitly(self, old: Table | View, new: Table | View,
                           index: QualifiedName | None) -> bool:
        """Whether the plan must attach a partition's index (or key) to ``index``, its
        parent's: PostgreSQL does it on its own when it builds the parent's index over
        all partitions, creates a partition or attaches one, never otherwise (an index
        built ON ONLY, an index of a partition that had none attached)."""
        if (index is None or not isinstance(new, Table) or not isinstance(old, Table)
                or new.partition_of is None):
            return False
        parent_key = ("table", *new.partition_of)
        want = _index_named(self.new.tables.get(parent_key), index[1])
        if want is None:
            return False
        have = _index_named(self.cur.tables.get(parent_key), index[1])
        if have is None or have.definition != want.definition:
            # Built by this plan: over all partitions, unless ON ONLY (kept invalid).
            return isinstance(want, Index) and not want.valid
        created = new.key not in self.cur.tables or new.qualified in self.recreated_tables
        if created or old.partition_of != new.partition_of:
            return False  # CREATE TABLE ... PARTITION OF / ATTACH PARTITION clone it
        return not any(i.parent == index for i in old.indexes) and not any(
            c.index_parent == index for c in old.constraints)

    def _would_be_adopted(self, olds: dict[str, Index], news: dict[str, Index],
                          new: Table | View) -> dict[str, str]:
        """The partition's own indexes, kept as they are and not attached in the desired
        schema, that PostgreSQL would take as the copy of a parent's index during this plan:
        at ATTACH PARTITION, or when it builds the parent's index over the partitions, it
        adopts the first unattached index of the same shape instead of building one. Each
        with the reason it is rebuilt."""
        if not isinstance(new, Table) or new.partition_of is None or (
                new.key not in self.cur.tables or new.qualified in self.recreated_tables):
            return {}
        old = self.cur.tables[new.key]
        joins = (old.partition_of != new.partition_of
                 or old.partition_bound != new.partition_bound)  # ATTACH PARTITION runs
        parent_key = ("table", *new.partition_of)
        parent = self.new.tables.get(parent_key)
        if parent is None:
            return {}
        matched: list[Index] = []
        for p in parent.indexes:
            have = _index_named(self.cur.tables.get(parent_key), p.name)
            built = have is None or have.definition != p.definition
            # ATTACH matches the parent's indexes there at the time (the plan builds new
            # ones after it); building one over the partitions matches unless ON ONLY.
            if (joins and not built) or (built and p.valid):
                matched.append(p)
        rebuilt: dict[str, str] = {}
        for name, oi in olds.items():
            i = news.get(name)
            if i is None or i.definition != oi.definition:
                continue  # dropped before PostgreSQL matches
            like = next((m for m in matched if _same_shape(oi, m)), None)
            if like is not None:
                how = "ATTACH PARTITION" if joins else "CREATE INDEX"
                rebuilt[name] = (f"rebuilt, or {how} would take it as the copy of "
                                 f"{qname(parent.schema, like.name)}")
        return rebuilt

    def _attach_index(self, table: Table, obj: Index | Constraint) -> None:
        parent = obj.parent if isinstance(obj, Index) else obj.index_parent
        assert parent is not None  # only attached objects are attached explicitly
        self.emit(AttachIndex(target=("index", table.schema, obj.name), after=obj,
                  index_parent=parent, parent=table))

    def _index_for_key(self, old: Table, new: Table, c: Constraint) -> Index | None:
        """A unique index a new key of a partition, attached to its parent's index, can
        take over instead of building its own: on a kept partition, the unattached index
        of the same name and columns; on a new partition whose key backs the parent's
        unique index, the index PostgreSQL clones from that parent index when it creates
        the partition."""
        if (c.kind not in ("p", "u") or not c.columns or c.index_parent is None
                or new.partition_of is None or new.partition_key is not None
                or new.qualified in self.recreated_tables):
            return None
        cols = ", ".join(quote_ident(col) for col in c.columns)
        if c.definition != f"{'PRIMARY KEY' if c.kind == 'p' else 'UNIQUE'} ({cols})":
            return None  # INCLUDE, options, deferrable: not a plain unique index
        if new.key in self.cur.tables:
            oi = next((i for i in old.indexes if i.name == c.name), None)
            if (oi is None or not oi.unique or oi.parent is not None
                    or oi.definition.split(" USING ", 1)[-1] != f"btree ({cols})"
                    or any(i.name == c.name for i in new.indexes)):
                return None
            self.adopted_indexes.add((old.schema, oi.name))
            return oi
        if c.inherited:
            return None
        parent_key = ("table", *new.partition_of)
        have = _index_named(self.cur.tables.get(parent_key), c.index_parent[1])
        want = _index_named(self.new.tables.get(parent_key), c.index_parent[1])
        if not isinstance(have, Index) or have != want:
            return None  # built by this plan after the partition: it finds the key itself
        name = _clone_index_name(new.name, c.columns, self._relation_names(new.schema))
        return Index(name=name, definition="", unique=True, columns=c.columns,
                     parent=c.index_parent)

    def _relation_names(self, schema: str) -> set[str]:
        """Names of the relations (tables, views, sequences, indexes, composite types)
        a schema holds before this plan, for the name PostgreSQL picks for a new one."""
        names: set[str] = set()
        for m in (self.cur,):
            relations: list[Table | View] = [*m.tables.values(), *m.views.values()]
            for t in relations:
                if t.schema == schema:
                    names.add(t.name)
                    names.update(i.name for i in t.indexes)
                    names.update(c.name for c in getattr(t, "constraints", ())
                                 if c.kind in ("p", "u", "x"))
            names.update(s.name for s in m.sequences.values() if s.schema == schema)
            names.update(t.name for t in m.types.values()
                         if t.schema == schema and isinstance(t, CompositeType))
        for t in self.new.tables.values():  # created by this plan before the partition
            if t.schema == schema and t.key not in self.cur.tables:
                names.add(t.name)
        return names

    def foreign_keys_onto_replaced_keys(self) -> None:
        """Dropping a primary key or unique constraint fails while foreign keys use it:
        drop those first and add them back afterwards."""
        if not self.replaced_keys:
            return
        touched = {(ch.target, type(ch)) for ch in self.out}
        for t in self.cur.tables.values():
            # A table that goes away still holds its keys until its DROP TABLE, which runs
            # after the constraints are dropped: its keys onto a dropped key go first.
            gone = t.qualified in self.dropped_tables
            new_t = None if gone else self.new.tables.get(t.key)
            if new_t is None and not gone:
                continue
            for c in t.constraints:
                if c.kind != "f" or c.inherited or c.ref_table is None:
                    continue
                if (*c.ref_table, c.ref_columns) not in self.replaced_keys:
                    continue
                target = ("constraint", t.schema, t.name, c.name)
                if (target, DropConstraint) in touched:
                    continue
                keep = None if new_t is None else next(
                    (n for n in new_t.constraints if n.name == c.name), None)
                reason = f"its key on {qname(*c.ref_table)} is replaced"
                if gone:
                    reason = f"its key on {qname(*c.ref_table)} is dropped"
                self.emit(DropConstraint(target=target, before=c, parent=t, reason=reason))
                if keep is not None and new_t is not None:
                    self.emit(AddConstraint(target=target, after=keep, parent=new_t,
                              reason=reason))

    def indexes(self, old: Table | View, new: Table | View) -> None:
        olds = {i.name: i for i in old.indexes if i.parent is None}
        attach = {i.name for i in new.indexes if self._attach_explicitly(old, new, i.parent)}
        news = {i.name: i for i in new.indexes if i.parent is None or i.name in attach}
        schema = new.schema
        for i in new.indexes:
            oi = olds.get(i.name)
            if (i.parent is not None and i.name not in attach and oi is not None
                    and oi.definition == i.definition):
                del olds[i.name]  # PostgreSQL takes it as the copy of its parent's index
        for name, reason in self._would_be_adopted(olds, news, new).items():
            # Out of the way while PostgreSQL matches indexes, back afterwards (see order.py).
            del olds[name]
            i = news.pop(name)
            self.emit(DropIndex(target=("index", schema, name), before=i, parent=old,
                      reason=reason))
            self.emit(CreateIndex(target=("index", schema, name), after=i, parent=new,
                      reason=reason))
        dropped = [i for n, i in olds.items() if n not in news
                   and (schema, n) not in self.adopted_indexes]
        added = [i for n, i in news.items() if n not in olds]
        for i in list(added):
            twin = next((d for d in dropped
                         if d.unnamed_definition == i.unnamed_definition), None)
            if twin is not None:
                dropped.remove(twin)
                added.remove(i)
                self.emit(RenameIndex(target=("index", schema, i.name), before=twin, after=i,
                          parent=new))
        for i in dropped:
            self.emit(DropIndex(target=("index", schema, i.name), before=i, parent=old))
        for name, i in news.items():
            oi = olds.get(name)
            # A partitioned table's index stays invalid until its partitions' are attached
            # (see _attach_explicitly); any other is invalid only after a failed build.
            broken = (oi is not None and not oi.valid and i.valid
                      and not (isinstance(old, Table) and old.partition_key))
            if oi is not None and (oi.definition != i.definition or broken):
                reason = "changed" if oi.definition != i.definition else INVALID_INDEX
                self.emit(DropIndex(target=("index", schema, name), before=oi, parent=old,
                          reason=reason))
                self.emit(CreateIndex(target=("index", schema, name), after=i, parent=new,
                          reason=reason))
            elif oi is not None and oi.clustered != i.clustered:
                self.emit(SetCluster(target=("cluster", schema, name), before=oi, after=i,
                          parent=new))
        for i in added:
            self.emit(CreateIndex(target=("index", schema, i.name), after=i, parent=new))
        for name in sorted(attach):
            self._attach_index(new, news[name])  # type: ignore[arg-type]

    def triggers(self, old: Table | View, new: Table | View) -> None:
        olds = {t.name: t for t in old.triggers}
        news = {t.name: t for t in new.triggers}
        for name, t in olds.items():
            if name not in news:
                self.emit(DropTrigger(target=("trigger", new.schema, new.name, name),
                          before=t, parent=old))
        for name, t in news.items():
            ot = olds.get(name)
            target = ("trigger", new.schema, new.name, name)
            fn_recreated = t.function is not None and any(
                k[1:3] == t.function for k in self.recreated_functions)
            if ot is None:
                self.emit(CreateTrigger(target=target, after=t, parent=new))
            elif ot.definition != t.definition or fn_recreated:
                reason = "its function is recreated" if fn_recreated else "changed"
                self.emit(DropTrigger(target=target, before=ot, parent=old, reason=reason))
                self.emit(CreateTrigger(target=target, after=t, parent=new, reason=reason))
            elif ot.enabled != t.enabled:
                self.emit(AlterTrigger(target=target, before=ot, after=t, parent=new))

    def policies(self, old: Table, new: Table) -> None:
        olds = {p.name: p for p in old.policies}
        news = {p.name: p for p in new.policies}
        for name, p in olds.items():
            if name not in news:
                self.emit(DropPolicy(target=("policy", new.schema, new.name, name),
                          before=p, parent=old))
        for name, p in news.items():
            op = olds.get(name)
            target = ("policy", new.schema, new.name, name)
            if op is None:
                self.emit(CreatePolicy(target=target, after=p, parent=new))
            elif (op.command, op.permissive) != (p.command, p.permissive) or (
                    self._reads_changed_column(new, op)):
                # A policy pins the columns it reads: it goes before they change.
                reason = "changed" if op != p else "reads a column that changes"
                self.emit(DropPolicy(target=target, before=op, parent=old, reason=reason))
                self.emit(CreatePolicy(target=target, after=p, parent=new, reason=reason))
            elif (op.roles, op.using, op.with_check) != (p.roles, p.using, p.with_check):
                self.emit(AlterPolicy(target=target, before=op, after=p, parent=new))

    def _reads_changed_column(self, table: Table, p: Policy) -> bool:
        text = f"{p.using or ''} {p.with_check or ''}"
        return any(
            (schema, name) == table.qualified and re.search(
                rf'(?<![\w"]){re.escape(column)}(?![\w"])|"{re.escape(column)}"', text)
            for schema, name, column in self.changed_columns)

    def table_props(self, old: Table, new: Table) -> None:
        if _props(old) != _props(new):
            self.emit(AlterTable(target=new.key, before=old, after=new))

    # -- views -----------------------------------------------------------------------------

    def views(self) -> None:
        cur, new = self.cur.views, self.new.views
        reasons: dict[tuple[str, ...], str] = {}
        # What a view reads may be replaced underneath it: it has to be made again.
        for key, v in cur.items():
            if key not in new:
                continue
            r = self._view_dependency_reason(v)
            if r:
                reasons[key] = r
        # ... and so must every view that reads a view made again.
        changed = True
        while changed:
            changed = False
            for key, v in cur.items():
                if key in reasons or key not in new:
                    continue
                for dep in v.depends_on:
                    if dep in reasons or (dep in cur and dep not in new) or (
                        dep in cur and dep in new and not _view_replaceable(cur[dep], new[dep])
                    ):
                        reasons[key] = f"reads {'.'.join(dep[1:])}, which is recreated"
                        changed = True
                        break
        for key, v in cur.items():
            nv = new.get(key)
            if nv is None:
                self.emit(DropView(target=key, before=v))
            elif key in reasons or not _view_replaceable(v, nv):
                self.emit(DropView(target=key, before=v, reason=reasons.get(key, "changed")))
        for key, v in new.items():
            ov = cur.get(key)
            if ov is None or key in reasons or not _view_replaceable(ov, v):
                self.emit(CreateView(target=key, after=v,
                          reason=reasons.get(key) or ("changed" if ov else None)))
                if v.materialized:
                    self.indexes(replace(v, indexes=()), v)
                self.triggers(replace(v, triggers=()), v)  # INSTEAD OF triggers
            else:
                if (ov.definition, ov.columns, ov.options) != (v.definition, v.columns,
                                                               v.options):
                    self.emit(ReplaceView(target=key, before=ov, after=v))
                if v.materialized:
                    self.indexes(ov, v)
                self.triggers(ov, v)

    def _view_dependency_reason(self, v: View) -> str | None:
        for dep in v.depends_on:
            if dep[0] == "table" and tuple(dep[1:3]) in self.dropped_tables:
                return f"reads {'.'.join(dep[1:])}, which is recreated"
            if dep[0] == "function" and dep in self.recreated_functions:
                return f"calls {'.'.join(dep[1:3])}, which is recreated"
        for col in v.column_deps:
            if col in self.changed_columns:
                return f"reads {'.'.join(col)}, which changes"
        for schema, name in self.recreated_enums:
            if any(t == f"{qname(schema, name)}" or t.startswith(qname(schema, name) + "[")
                   for _, t in v.columns):
                return f"uses type {schema}.{name}, which is recreated"
        return None

    # -- comments and grants, over every object at once ----------------------------------

    def comments(self) -> None:
        old, new = _comment_targets(self.cur), _comment_targets(self.new)
        fresh = self._fresh_owners()
        for target, (owner, text) in new.items():
            before = None if fresh(owner) else old.get(target, (None, None))[1]
            if text != before:
                self.emit(SetComment(target=target, before=before, after=text))
        for target, (owner, text) in old.items():
            # An extension without a comment in the schema keeps the one it has (the
            # control file's is read as none, and older snapshots hold its text).
            if target not in new and not fresh(owner) and _still_there(self.new, owner) \
                    and owner[0] != "extension":
                self.emit(SetComment(target=target, before=text, after=None))

    def _fresh_owners(self) -> Callable[[tuple[str, ...]], bool]:
        """Objects this plan creates (or recreates) start with no comment and no grant."""
        created = {ch.target for ch in self.out if ch.creates}
        relations = {ch.target[1:3] for ch in self.out
                     if isinstance(ch, (CreateTable, CreateView))}

        def fresh(owner: tuple[str, ...]) -> bool:
            return owner in created or (
                owner[0] in ("column", "constraint", "trigger", "policy")
                and owner[1:3] in relations)

        return fresh

    def owners(self) -> None:
        """Declared owners that the object does not have (yet: a created or recreated
        object belongs to whoever runs the plan). Undeclared owners are never planned."""
        live = {o.target: o.role for o in self.cur.owners}
        fresh = self._fresh_owners()
        objects = {o.key: o for o in self.new.objects()}
        for o in self.new.owners:
            obj = objects.get(o.target)
            if obj is not None and (fresh(o.target) or live.get(o.target) != o.role):
                self.emit(AlterOwner(target=o.target, before=live.get(o.target), after=o.role,
                          parent=obj))

    def grants(self) -> None:
        old, new = _grant_targets(self.cur), _grant_targets(self.new)
        fresh = self._fresh_owners()
        for target, (owner, grants) in new.items():
            before = (set(_DEFAULT_GRANTS.get(target[1], ())) if fresh(owner)
                      else old.get(target, (None, set()))[1])
            for g in sorted(before - grants, key=repr):
                self.emit(RevokePrivilege(target=target, before=g))
            for g in sorted(grants - before, key=repr):
                self.emit(GrantPrivilege(target=target, after=g))
        for target, (owner, grants) in old.items():
            if target not in new and _still_there(self.new, owner):
                for g in sorted(grants, key=repr):
                    self.emit(RevokePrivilege(target=target, before=g))


# -- helpers ----------------------------------------------------------------------------

# What PostgreSQL grants on a new object of each kind (besides its owner's own rights).
_DEFAULT_GRANTS = {
    "TYPE": (Grant("PUBLIC", "USAGE"),),
    "FUNCTION": (Grant("PUBLIC", "EXECUTE"),),
    "PROCEDURE": (Grant("PUBLIC", "EXECUTE"),),
}



def _collation_users(m: Model, c: Collation) -> list[str]:
    """The columns, domains and composite types of ``m`` that use collation ``c``."""
    name = qname(c.schema, c.name)
    out = [f"column {t.schema}.{t.name}.{col.name}" for t in m.tables.values()
           for col in t.columns if col.collation == name and not col.inherited]
    for ty in m.types.values():
        if isinstance(ty, Domain) and ty.collation == name or isinstance(
                ty, CompositeType) and any(typ.endswith(f" COLLATE {name}")
                                           for _, typ in ty.attributes):
            out.append(f"type {ty.schema}.{ty.name}")
    return out


def _collation_change(old: Collation, new: Collation) -> str:
    said = {"provider": "provider", "locale": "locale", "lc_collate": "lc_collate",
            "lc_ctype": "lc_ctype", "deterministic": "deterministic", "rules": "rules"}
    return ", ".join(f"{word} {getattr(old, f)!r} -> {getattr(new, f)!r}"
                     for f, word in said.items() if getattr(old, f) != getattr(new, f))


def _without_comment(obj: _Type) -> _Type:
    return replace(obj, comment=None, grants=())


def _seq_options(s: object) -> tuple[object, ...]:
    return tuple(getattr(s, f) for f in ("data_type", "start", "increment", "min_value",
                                         "max_value", "cache", "cycle", "unlogged"))


def _replaceable(old: Function, new: Function) -> bool:
    """CREATE OR REPLACE keeps the function's identity, but cannot change its kind,
    its result type or its parameters' names and defaults."""
    return (old.kind == new.kind and old.result == new.result
            and old.arg_names_types == new.arg_names_types)


def _column_core(c: Column) -> Column:
    # Whether a column is also declared locally only matters to a later DROP on its
    # parent, and PostgreSQL offers no way to change it: not a difference to plan.
    return replace(c, comment=None, grants=(), inherited=False)


def _props(t: Table) -> tuple[object, ...]:
    return (t.unlogged, t.rls_enabled, t.rls_forced, t.replica_identity, t.options)


def _view_replaceable(old: View, new: View) -> bool:
    """CREATE OR REPLACE VIEW may only append columns; a materialized view is always
    rebuilt."""
    if old.materialized or new.materialized:
        return old.definition == new.definition and old.columns == new.columns and (
            old.options == new.options) and old.materialized == new.materialized
    return new.columns[: len(old.columns)] == old.columns


def _still_there(model: Model, owner: tuple[str, ...]) -> bool:
    kind = owner[0]
    if kind in ("column", "constraint", "trigger", "policy"):
        t = model.tables.get(("table", owner[1], owner[2]))
        if t is None:
            return False
        if kind == "column":
            return t.column(owner[3]) is not None
        items: Iterable[object] = {"constraint": t.constraints, "trigger": t.triggers,
                                   "policy": t.policies}[kind]
        return any(getattr(i, "name", None) == owner[3] for i in items)
    if kind == "index":  # an index lives in its table's (or materialized view's) schema
        relations: list[Table | View] = [*model.tables.values(), *model.views.values()]
        return any(i.name == owner[2] for r in relations if r.schema == owner[1]
                   for i in r.indexes)
    return any(o.key == owner for o in model.objects())


CommentTargets = dict[tuple[str, ...], tuple[tuple[str, ...], str]]


def _comment_targets(m: Model) -> CommentTargets:
    """(COMMENT ON kind, name) -> (owning object's change target, comment)."""
    out: CommentTargets = {}

    def put(kind: str, name: str, owner: tuple[str, ...], text: str | None) -> None:
        if text is not None:
            out[("comment", kind, name)] = (owner, text)

    for s in m.schemas.values():
        put("SCHEMA", s.sql_name, s.key, s.comment)
    for e in m.extensions.values():
        put("EXTENSION", e.sql_name, e.key, e.comment)
    for co in m.collations.values():
        put("COLLATION", co.sql_name, co.key, co.comment)
    for ty in m.types.values():
        put("DOMAIN" if isinstance(ty, Domain) else "TYPE", ty.sql_name, ty.key, ty.comment)
    for sq in m.sequences.values():
        put("SEQUENCE", sq.sql_name, sq.key, sq.comment)
    for f in m.functions.values():
        put(f.kind_sql, f.sql_name, f.key, f.comment)
    for v in m.views.values():
        put(v.kind_sql, v.sql_name, v.key, v.comment)
        for c in v.indexes:
            put("INDEX", qname(v.schema, c.name), ("index", v.schema, c.name), c.comment)
    for t in m.tables.values():
        out.update(_per_table("comments", t, _table_comments))
    return out


def _table_comments(t: Table) -> CommentTargets:
    out: CommentTargets = {}

    def put(kind: str, name: str, owner: tuple[str, ...], text: str | None) -> None:
        if text is not None:
            out[("comment", kind, name)] = (owner, text)

    put("TABLE", t.sql_name, t.key, t.comment)
    for col in t.columns:
        if col.comment is not None:  # (names are only worth building when needed)
            put("COLUMN", f"{t.sql_name}.{quote_ident(col.name)}",
                ("column", t.schema, t.name, col.name), col.comment)
    for con in t.constraints:
        if not con.inherited and con.comment is not None:
            put("CONSTRAINT", f"{quote_ident(con.name)} ON {t.sql_name}",
                ("constraint", t.schema, t.name, con.name), con.comment)
    for i in t.indexes:
        if i.comment is not None:
            put("INDEX", qname(t.schema, i.name), ("index", t.schema, i.name), i.comment)
    for tr in t.triggers:
        put("TRIGGER", f"{quote_ident(tr.name)} ON {t.sql_name}",
            ("trigger", t.schema, t.name, tr.name), tr.comment)
    for p in t.policies:
        put("POLICY", f"{quote_ident(p.name)} ON {t.sql_name}",
            ("policy", t.schema, t.name, p.name), p.comment)
    return out


# A table's comment and grant targets, by identity (with the table, so that an id is not
# reused while it is here), as for _equal_tables: working them out for every table of both
# models cost some 30 ms of every plan of 1,000 tables, where an edit changes one or two.
# What a whole diff used replaces what was kept; a small one (the fast path's, on models
# cut down to what differs) adds to it.
_tables_kept: dict[tuple[str, int], tuple[Table, Any]] = {}
_tables_used: dict[tuple[str, int], tuple[Table, Any]] = {}


def _per_table(what: str, t: Table, make: Callable[[Table], T]) -> T:
    key = (what, id(t))
    hit = _tables_kept.get(key)
    if hit is None:
        hit = (t, make(t))
    _tables_used[key] = hit
    return hit[1]


def _keep_tables_used() -> None:
    global _tables_kept, _tables_used
    used, _tables_used = _tables_used, {}
    if len(used) >= len(_tables_kept) // 2:
        _tables_kept = used
    else:
        _tables_kept.update(used)


GrantTargets = dict[tuple[str, ...], tuple[tuple[str, ...], set[Grant]]]


def _grant_targets(m: Model) -> GrantTargets:
    """(GRANT ... ON kind, name[, column]) -> (owning object's change target, grants)."""
    out: GrantTargets = {}

    def put(target: tuple[str, ...], owner: tuple[str, ...], grants: tuple[Grant, ...]) -> None:
        if grants:
            out[target] = (owner, set(grants))

    for s in m.schemas.values():
        put(("grant", "SCHEMA", s.sql_name), s.key, s.grants)
    for ty in m.types.values():
        put(("grant", "TYPE", ty.sql_name), ty.key, ty.grants)
    for sq in m.sequences.values():
        put(("grant", "SEQUENCE", sq.sql_name), sq.key, sq.grants)
    for f in m.functions.values():
        put(("grant", f.kind_sql, f.sql_name), f.key, f.grants)
    for v in m.views.values():
        put(("grant", "TABLE", v.sql_name), v.key, v.grants)
    for t in m.tables.values():
        for target, (owner, grants) in _per_table("grants", t, _table_grants):
            out[target] = (owner, set(grants))  # a set of its own: the caller's to change
    return out


TableGrants = list[tuple[tuple[str, ...], tuple[tuple[str, ...], tuple[Grant, ...]]]]


def _table_grants(t: Table) -> TableGrants:
    out: TableGrants = []
    if t.grants:
        out.append((("grant", "TABLE", t.sql_name), (t.key, t.grants)))
    for c in t.columns:
        if c.grants:
            out.append((("grant", "TABLE", t.sql_name, c.name),
                        (("column", t.schema, t.name, c.name), c.grants)))
    return out


def _same_shape(index: Index, parent: Index) -> bool:
    """Whether PostgreSQL would take ``index`` as a partition's copy of ``parent``: the same
    kind, method, columns, operator classes and predicate (the definitions name the same
    columns, as a partition's columns are its parent's)."""
    def shape(i: Index) -> tuple[str, str]:
        head, _, rest = i.definition.partition(" ON ")
        return head.rsplit(" ", 1)[0], rest.partition(" USING ")[2]
    return shape(index) == shape(parent)


def _index_named(table: Table | None, name: str) -> Index | Constraint | None:
    """A table's index, or the key (primary key, unique, exclusion) whose index has that
    name (a key's index is named after it)."""
    if table is None:
        return None
    return next((i for i in table.indexes if i.name == name), None) or next(
        (c for c in table.constraints if c.name == name and c.kind in ("p", "u", "x")), None)


_NAMEDATALEN = 64


def _clip(name: str, limit: int) -> str:
    """The longest prefix of ``name`` that fits ``limit`` bytes, whole characters only."""
    while len(name.encode()) > limit:
        name = name[:-1]
    return name


def _clone_index_name(table: str, columns: tuple[str, ...], taken: set[str]) -> str:
    """The name PostgreSQL gives the index it clones from a parent's plain index onto a new
    partition: ChooseIndexName (table, columns joined by '_', label 'idx'), each part
    shortened to fit 63 bytes, and the label numbered past names already in use."""
    addition = ""
    for col in columns:
        addition = _clip(addition + ("_" if addition else "") + col, _NAMEDATALEN - 1)
        if len(addition.encode()) >= _NAMEDATALEN - 1:
            break
    n = 0
    while True:
        label = "idx" if n == 0 else f"idx{n}"
        avail = _NAMEDATALEN - 1 - (len(label) + 1) - (1 if addition else 0)
        n1, n2 = len(table.encode()), len(addition.encode())
        while n1 + n2 > avail:
            if n1 > n2:
                n1 -= 1
            else:
                n2 -= 1
        name = _clip(table, n1) + ("_" + _clip(addition, n2) if addition else "") + "_" + label
        if name not in taken:
            return name
        n += 1
