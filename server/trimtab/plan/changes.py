"""The closed vocabulary of schema changes, and the plan that orders and renders them.

The diff returns ``Change`` values, the orderer sorts them, the renderer turns each into
SQL and the hazard pass annotates them. A change names its kind, the object it is about
(``target``: the object's key, or a sub-object key such as ``("column", s, t, c)``), and
the object's state before and after, so that every later stage can work from data alone.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, ClassVar

from trimtab.model import (
    Collation,
    Column,
    CompositeType,
    Constraint,
    Domain,
    EnumType,
    Extension,
    Function,
    Index,
    Policy,
    QualifiedName,
    Schema,
    Sequence,
    Table,
    Trigger,
    View,
)
from trimtab.model import Grant as ModelGrant


class Kind(StrEnum):
    CREATE_SCHEMA = "create_schema"
    DROP_SCHEMA = "drop_schema"
    CREATE_EXTENSION = "create_extension"
    DROP_EXTENSION = "drop_extension"
    ALTER_EXTENSION = "alter_extension"
    CREATE_COLLATION = "create_collation"
    DROP_COLLATION = "drop_collation"
    CREATE_TYPE = "create_type"
    DROP_TYPE = "drop_type"
    ALTER_TYPE = "alter_type"  # domains and composite types, in place
    ADD_ENUM_VALUE = "add_enum_value"
    RECREATE_ENUM = "recreate_enum"  # values removed or reordered
    CREATE_SEQUENCE = "create_sequence"
    DROP_SEQUENCE = "drop_sequence"
    ALTER_SEQUENCE = "alter_sequence"
    SET_SEQUENCE_OWNER = "set_sequence_owner"
    CREATE_FUNCTION = "create_function"
    REPLACE_FUNCTION = "replace_function"
    DROP_FUNCTION = "drop_function"
    CREATE_TABLE = "create_table"
    DROP_TABLE = "drop_table"
    ALTER_TABLE = "alter_table"  # table-level properties: RLS, logging, replica identity, options
    ATTACH_PARTITION = "attach_partition"
    DETACH_PARTITION = "detach_partition"
    ADD_COLUMN = "add_column"
    DROP_COLUMN = "drop_column"
    ALTER_COLUMN = "alter_column"
    ADD_CONSTRAINT = "add_constraint"
    DROP_CONSTRAINT = "drop_constraint"
    VALIDATE_CONSTRAINT = "validate_constraint"
    RENAME_CONSTRAINT = "rename_constraint"
    CREATE_INDEX = "create_index"
    DROP_INDEX = "drop_index"
    RENAME_INDEX = "rename_index"
    ATTACH_INDEX = "attach_index"  # a partition's index to its parent's (ATTACH PARTITION)
    # The online-safe forms a migration of an existing table uses (plan/online.py).
    CREATE_INDEX_CONCURRENTLY = "create_index_concurrently"
    DROP_INDEX_CONCURRENTLY = "drop_index_concurrently"
    CREATE_VIEW = "create_view"
    REPLACE_VIEW = "replace_view"
    DROP_VIEW = "drop_view"
    CREATE_TRIGGER = "create_trigger"
    DROP_TRIGGER = "drop_trigger"
    ALTER_TRIGGER = "alter_trigger"  # enable / disable
    CREATE_POLICY = "create_policy"
    DROP_POLICY = "drop_policy"
    ALTER_POLICY = "alter_policy"
    SET_COMMENT = "set_comment"
    GRANT = "grant"
    REVOKE = "revoke"
    ALTER_OWNER = "alter_owner"  # only owners the schema file declares
    # Renames run first, before anything else in a plan: the rest is planned against the
    # renamed objects.
    RENAME_TABLE = "rename_table"
    RENAME_COLUMN = "rename_column"
    RENAME_ENUM_VALUE = "rename_enum_value"
    RENAME_SEQUENCE = "rename_sequence"  # follows its owning column (serial) when renamed


class Category(StrEnum):
    """What a hazard risks, beyond the change's intent."""

    DATA_LOSS = "data-loss"  # stored data goes away
    MAY_FAIL = "may-fail"  # the statement fails when existing rows do not fit
    LOCKS = "locks"  # the table is locked or rewritten while it runs
    BREAKS_CODE = "breaks-code"  # what running applications read or call changes
    AUTHORIZATION = "authorization"  # who may see or change what


@dataclass(frozen=True)
class Hazard:
    """One risk of one change. ``docs/hazards.md`` documents every code.

    ``count`` is what the database said (rows, values, groups: the code says which);
    None when nothing was measured. ``estimate``: taken from the planner's statistics
    after the exact count ran out of time. ``at_least``: a lower bound (the cast failed
    on some row, how many was not countable)."""

    code: str
    category: Category
    message: str  # "drops column public.users.email"
    lock: str | None = None  # the lock the statement takes, when it matters
    fix: str | None = None  # the safe way to get the same result
    count: int | None = None
    estimate: bool = False
    at_least: bool = False
    detail: str | None = None  # the measurement, said: "12,400 non-null values"
    # The statement fails when ``count`` > 0 (may-fail hazards, rows using a removed
    # enum value): such a plan is refused, even with --force.
    fails_on_rows: bool = False

    @property
    def measured(self) -> bool:
        return self.count is not None

    @property
    def blocking(self) -> bool:
        """Certain to fail: exact rows (or a failing cast) that do not fit."""
        return self.fails_on_rows and bool(self.count) and not self.estimate

    @property
    def needs_consent(self) -> bool:
        """Loses data, unless the database showed there is nothing to lose; dropping a
        whole schema always asks (its emptiness says nothing about whose it is)."""
        return self.category == Category.DATA_LOSS and (
            self.count is None or self.count > 0 or self.code == "drops-schema")

    @property
    def severity(self) -> str:
        if self.blocking:
            return "error"
        if self.category == Category.DATA_LOSS:
            return "warning" if self.needs_consent else "info"
        if self.category == Category.MAY_FAIL:
            return "info" if self.count == 0 else "warning"
        if self.category == Category.BREAKS_CODE:
            return "warning"
        if self.category == Category.LOCKS:
            return "warning" if (self.count or 0) >= 100_000 else "info"
        return "warning" if self.code in _WARN_AUTHORIZATION else "info"

    @property
    def text(self) -> str:
        return f"{self.message}: {self.detail}" if self.detail else self.message

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "category": self.category.value,
            "severity": self.severity,
            "message": self.message,
            "detail": self.detail,
            "count": self.count,
            "estimate": self.estimate,
            "at_least": self.at_least,
            "lock": self.lock,
            "fix": self.fix,
            "needs_consent": self.needs_consent,
            "blocking": self.blocking,
        }


# Authorization changes that take access away or open rows up.
_WARN_AUTHORIZATION = frozenset({"revokes-privilege", "disables-row-security", "drops-policy"})


# -- the changes ---------------------------------------------------------------------------
#
# One frozen dataclass per change. ``before`` / ``after`` are the object as it is and as it
# will be, typed per class; ``parent`` is the table, view or type a sub-object belongs to.
# Each class says where it goes in a plan (``rank``: the phase order.py sorts by), whether it
# creates its object (a created object starts without comments, grants and owner), and its
# ``reverse()`` where PostgreSQL has one. A new change is a class here, its emission in
# diff.py and its renderer in render.py; hazards are looked up by class and default to none.

_Type = EnumType | Domain | CompositeType
# (schema, table, column, type, current default, desired default) of a column of an enum.
TypedColumn = tuple[str, str, str, str, str | None, str | None]


# A subclass that only narrows ``before``/``after`` is declared ``eq=False, repr=False``: it
# keeps these (same fields, the class is compared too) and start-up generates fewer methods;
# one that adds a field generates its own (tests/test_changes.py holds both).
@dataclass(frozen=True, kw_only=True)
class Change:
    kind: ClassVar[Kind]
    # Plan phase, low first: early drops (make room), creations and alterations, late drops
    # (what nothing uses any more). Renames are not ordered: they run before everything.
    rank: ClassVar[float]
    creates: ClassVar[bool] = False  # the object is new (or new again) after it
    drops: ClassVar[bool] = False  # the object is gone after it
    # Rendered as one ``ALTER TABLE <parent> <action>``: consecutive changes of the same
    # class to the same table are sent as one statement (see ``batches``).
    groups: ClassVar[bool] = False
    # Part of a plan from an empty database: an install script (idempotent.py) carries it.
    installs: ClassVar[bool] = False

    target: tuple[str, ...]
    before: object = None
    after: object = None
    parent: object = None
    # Why a change beyond the user's edit is needed ("depends on public.users.email").
    reason: str | None = None

    @property
    def subject(self) -> Any:  # typed per class by before / after
        """The object the change is about: as it will be, else as it was."""
        return self.after if self.after is not None else self.before

    def order_rank(self) -> float:
        return self.rank

    def groupable(self) -> bool:
        return self.groups

    def sub_rank(self) -> int:
        """Order within a phase, before relation depth."""
        return 0

    def reverse(self) -> Change | None:
        """The change that undoes this one, or None when PostgreSQL has none (a value
        added to an enum stays) or it cannot be computed from the change alone."""
        return None

    def describe(self) -> str:
        verb, _, noun = self.kind.value.partition("_")
        text = f"{verb} {noun.replace('_', ' ')} {self._name()}"
        return f"{text} ({self.reason})" if self.reason else text

    def _name(self) -> str:
        if self.target[0] == "function":
            return f"{self.target[1]}.{self.target[2]}({self.target[3]})"
        return ".".join(self.target[1:])


def _swap(ch: Change) -> Change:
    return replace(ch, before=ch.after, after=ch.before, reason=None)


# -- schemas, extensions, collations -----------------------------------------------------------


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class CreateSchema(Change):
    kind = Kind.CREATE_SCHEMA
    rank = 8
    installs = True
    creates = True
    after: Schema

    def reverse(self) -> Change:
        return DropSchema(target=self.target, before=self.after)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class DropSchema(Change):
    kind = Kind.DROP_SCHEMA
    rank = 47
    drops = True
    before: Schema

    def reverse(self) -> Change:
        return CreateSchema(target=self.target, after=self.before)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class CreateExtension(Change):
    kind = Kind.CREATE_EXTENSION
    rank = 9
    installs = True
    creates = True
    after: Extension

    def reverse(self) -> Change:
        return DropExtension(target=self.target, before=self.after)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class AlterExtension(Change):
    kind = Kind.ALTER_EXTENSION
    rank = 10
    before: Extension
    after: Extension

    def reverse(self) -> Change:
        return _swap(self)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class DropExtension(Change):
    kind = Kind.DROP_EXTENSION
    rank = 46
    drops = True
    before: Extension

    def reverse(self) -> Change:
        return CreateExtension(target=self.target, after=self.before)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class CreateCollation(Change):
    kind = Kind.CREATE_COLLATION
    rank = 11  # before the domains, types and columns that use it
    installs = True
    creates = True
    after: Collation

    def reverse(self) -> Change:
        return DropCollation(target=self.target, before=self.after)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class DropCollation(Change):
    kind = Kind.DROP_COLLATION
    rank = 45  # once nothing uses it
    drops = True
    before: Collation

    def order_rank(self) -> float:
        return _REPLACED if self.reason == "replaced" else self.rank

    def reverse(self) -> Change:
        return CreateCollation(target=self.target, after=self.before)


# A replaced type, function or collation goes after what uses it (the early drops) and
# before its successor is created.
_REPLACED = 7.5


# -- types -----------------------------------------------------------------------------------


def _type_rank(t: _Type) -> int:
    return {EnumType: 0, Domain: 1, CompositeType: 2}[type(t)]


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class CreateType(Change):
    kind = Kind.CREATE_TYPE
    rank = 12
    installs = True
    creates = True
    after: _Type

    def sub_rank(self) -> int:
        return _type_rank(self.after)

    def reverse(self) -> Change:
        return DropType(target=self.target, before=self.after)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class DropType(Change):
    kind = Kind.DROP_TYPE
    rank = 44
    drops = True
    before: _Type

    def order_rank(self) -> float:
        return _REPLACED if self.reason == "replaced" else self.rank

    def sub_rank(self) -> int:
        return -_type_rank(self.before)

    def reverse(self) -> Change:
        return CreateType(target=self.target, after=self.before)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class AlterType(Change):
    """A domain or composite type changed in place."""

    kind = Kind.ALTER_TYPE
    rank = 14
    before: Domain | CompositeType
    after: Domain | CompositeType

    def reverse(self) -> Change:
        return _swap(self)


@dataclass(frozen=True, kw_only=True)
class AddEnumValue(Change):
    kind = Kind.ADD_ENUM_VALUE
    rank = 13
    installs = True
    before: EnumType
    after: EnumType
    value: str
    follows: str | None  # the value it goes after; None: first

    # PostgreSQL cannot remove an enum value: no reverse.


@dataclass(frozen=True, kw_only=True)
class RecreateEnum(Change):
    """Values removed or reordered: the type is built again and its columns moved over."""

    kind = Kind.RECREATE_ENUM
    rank = 15
    before: EnumType
    after: EnumType
    columns: tuple[TypedColumn, ...]

    def reverse(self) -> Change:
        return replace(self, before=self.after, after=self.before, reason=None,
                       columns=tuple((s, t, c, typ, new, old)
                                     for s, t, c, typ, old, new in self.columns))


# -- sequences -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class CreateSequence(Change):
    kind = Kind.CREATE_SEQUENCE
    rank = 18
    installs = True
    creates = True
    after: Sequence

    def reverse(self) -> Change:
        return DropSequence(target=self.target, before=self.after)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class AlterSequence(Change):
    kind = Kind.ALTER_SEQUENCE
    rank = 19
    before: Sequence
    after: Sequence

    def reverse(self) -> Change:
        return _swap(self)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class SetSequenceOwner(Change):
    """OWNED BY; reason "release" frees the sequence before its owning column goes."""

    kind = Kind.SET_SEQUENCE_OWNER
    rank = 24
    installs = True
    before: Sequence | None = None
    after: Sequence

    def order_rank(self) -> float:
        return -1 if self.reason == "release" else self.rank

    def reverse(self) -> Change | None:
        if self.before is None:
            return None
        return replace(self, before=self.after, after=self.before, reason=None)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class DropSequence(Change):
    kind = Kind.DROP_SEQUENCE
    rank = 42
    drops = True
    before: Sequence

    def reverse(self) -> Change:
        return CreateSequence(target=self.target, after=self.before)


# -- functions -------------------------------------------------------------------------------


def _reads_relations(f: Function) -> bool:
    """A function with a SQL-standard body reads tables like a view does: it goes with the
    views, after the tables when created, before them when dropped."""
    return any(dep[0] != "function" for dep in f.depends_on)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class CreateFunction(Change):
    kind = Kind.CREATE_FUNCTION
    rank = 16
    installs = True
    creates = True
    after: Function

    def order_rank(self) -> float:
        return CreateView.rank if _reads_relations(self.after) else self.rank

    def reverse(self) -> Change:
        return DropFunction(target=self.target, before=self.after)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class ReplaceFunction(Change):
    kind = Kind.REPLACE_FUNCTION
    rank = 17
    installs = True
    before: Function
    after: Function

    def order_rank(self) -> float:
        return CreateView.rank if _reads_relations(self.after) else self.rank

    def reverse(self) -> Change:
        return _swap(self)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class DropFunction(Change):
    kind = Kind.DROP_FUNCTION
    rank = 43
    drops = True
    before: Function

    def order_rank(self) -> float:
        if _reads_relations(self.before):
            return DropView.rank
        return _REPLACED if self.reason == "replaced" else self.rank

    def reverse(self) -> Change:
        return CreateFunction(target=self.target, after=self.before)


# -- tables ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class CreateTable(Change):
    kind = Kind.CREATE_TABLE
    rank = 20
    installs = True
    creates = True
    after: Table

    def reverse(self) -> Change:
        return DropTable(target=self.target, before=self.after)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class DropTable(Change):
    kind = Kind.DROP_TABLE
    rank = 7
    drops = True
    before: Table

    def reverse(self) -> Change:
        return CreateTable(target=self.target, after=self.before)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class AlterTable(Change):
    """Table-level properties: row level security, logging, replica identity, options."""

    kind = Kind.ALTER_TABLE
    rank = 23
    installs = True
    before: Table
    after: Table

    def reverse(self) -> Change:
        return _swap(self)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class AttachPartition(Change):
    """ATTACH PARTITION, or INHERIT a parent (whichever ``after`` gains)."""

    kind = Kind.ATTACH_PARTITION
    rank = 25
    installs = True
    before: Table
    after: Table

    def reverse(self) -> Change:
        return DetachPartition(target=self.target, before=self.after, after=self.before)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class DetachPartition(Change):
    """DETACH PARTITION, or NO INHERIT. First of all: detached, a partition holds the clones
    of its parent's foreign keys and indexes as its own, so dropping them on the parent no
    longer takes them along (nor is stopped by them)."""

    kind = Kind.DETACH_PARTITION
    rank = 0
    before: Table
    after: Table

    def reverse(self) -> Change:
        return AttachPartition(target=self.target, before=self.after, after=self.before)


# -- columns ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class AddColumn(Change):
    kind = Kind.ADD_COLUMN
    rank = 21
    installs = True
    groups = True
    creates = True
    after: Column
    parent: Table

    def reverse(self) -> Change:
        return DropColumn(target=self.target, before=self.after, parent=self.parent)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class DropColumn(Change):
    kind = Kind.DROP_COLUMN
    rank = 6
    groups = True
    drops = True
    before: Column
    parent: Table

    def reverse(self) -> Change:
        return AddColumn(target=self.target, after=self.before, parent=self.parent)


class ColumnAspect(StrEnum):
    """What an ALTER COLUMN changes, computed once by the diff."""

    TYPE = "type"  # type or collation
    DEFAULT = "default"
    NULLABILITY = "not_null"
    IDENTITY = "identity"
    GENERATED = "generated"
    STORAGE = "storage"  # storage, compression, statistics


def column_aspects(old: Column, new: Column) -> frozenset[ColumnAspect]:
    out = set()
    if old.type != new.type or old.collation != new.collation:
        out.add(ColumnAspect.TYPE)
    if old.default != new.default:
        out.add(ColumnAspect.DEFAULT)
    if old.not_null != new.not_null:
        out.add(ColumnAspect.NULLABILITY)
    if old.identity != new.identity:
        out.add(ColumnAspect.IDENTITY)
    if (old.generated, old.generated_virtual) != (new.generated, new.generated_virtual):
        out.add(ColumnAspect.GENERATED)
    if (old.storage, old.compression, old.statistics) != (
            new.storage, new.compression, new.statistics):
        out.add(ColumnAspect.STORAGE)
    return frozenset(out)


@dataclass(frozen=True, kw_only=True)
class AlterColumn(Change):
    kind = Kind.ALTER_COLUMN
    rank = 22
    installs = True
    groups = True
    before: Column
    after: Column
    parent: Table
    # The conversion the user wrote for a type change (`-- trimtab: using <expr>`).
    using: str | None = None
    aspects: frozenset[ColumnAspect] = frozenset()

    def __post_init__(self) -> None:
        if not self.aspects:  # computed once, here, when the diff did not pass it
            object.__setattr__(self, "aspects", column_aspects(self.before, self.after))

    def reverse(self) -> Change:
        return AlterColumn(target=self.target, before=self.after, after=self.before,
                           parent=self.parent)


# -- constraints -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AddConstraint(Change):
    kind = Kind.ADD_CONSTRAINT
    rank = 28
    installs = True
    groups = True
    creates = True
    after: Constraint
    parent: Table
    # The unique index a key takes over (ADD CONSTRAINT ... USING INDEX), renamed to it.
    using_index: Index | None = None

    def groupable(self) -> bool:
        return self.using_index is None  # USING INDEX: on its own, as PostgreSQL documents it

    def order_rank(self) -> float:
        # A foreign key may rest on a unique index rather than a constraint: indexes first
        # (a partitioned table's one is valid once its partitions' are attached).
        return AttachIndex.rank + 0.5 if self.after.kind == "f" else self.rank

    def reverse(self) -> Change | None:
        if self.using_index is not None:
            return None  # the index it took over would go with it
        return DropConstraint(target=self.target, before=self.after, parent=self.parent)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class DropConstraint(Change):
    kind = Kind.DROP_CONSTRAINT
    rank = 4
    groups = True
    drops = True
    before: Constraint
    parent: Table

    def sub_rank(self) -> int:
        return 0 if self.before.kind == "f" else 1  # foreign keys before the keys they use

    def reverse(self) -> Change:
        return AddConstraint(target=self.target, after=self.before, parent=self.parent)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class ValidateConstraint(Change):
    kind = Kind.VALIDATE_CONSTRAINT
    rank = 29
    installs = True
    groups = True
    before: Constraint
    after: Constraint
    parent: Table


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class RenameConstraint(Change):
    kind = Kind.RENAME_CONSTRAINT
    rank = 26
    before: Constraint
    after: Constraint
    parent: Table

    def reverse(self) -> Change:
        return RenameConstraint(target=(*self.target[:-1], self.before.name),
                                before=self.after, after=self.before, parent=self.parent)


# -- indexes ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class CreateIndex(Change):
    kind = Kind.CREATE_INDEX
    rank = 32  # after views: materialized views carry indexes
    installs = True
    creates = True
    after: Index
    parent: Table | View

    def reverse(self) -> Change:
        return DropIndex(target=self.target, before=self.after, parent=self.parent)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class SetCluster(Change):
    """CLUSTER ON an index, or SET WITHOUT CLUSTER (``after.clustered`` says which)."""

    kind = Kind.CREATE_INDEX  # its name in plans (JSON) stays what it was
    rank = 32
    installs = True
    before: Index
    after: Index
    parent: Table | View

    def reverse(self) -> Change:
        return _swap(self)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class DropIndex(Change):
    kind = Kind.DROP_INDEX
    rank = 5
    drops = True
    before: Index
    parent: Table | View

    def reverse(self) -> Change:
        return CreateIndex(target=self.target, after=self.before, parent=self.parent)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class RenameIndex(Change):
    kind = Kind.RENAME_INDEX
    rank = 27
    before: Index
    after: Index
    parent: Table | View

    def reverse(self) -> Change:
        return RenameIndex(target=(*self.target[:-1], self.before.name),
                           before=self.after, after=self.before, parent=self.parent)


@dataclass(frozen=True, kw_only=True)
class AttachIndex(Change):
    """A partition's index (or key) attached to its parent's index."""

    kind = Kind.ATTACH_INDEX
    rank = 33  # once both indexes (or keys) exist
    installs = True
    after: Index | Constraint
    parent: Table
    index_parent: QualifiedName  # the parent's index

    # PostgreSQL has no DETACH for an index: no reverse.


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class CreateIndexConcurrently(Change):
    """CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS: writes go on while it builds. It
    cannot run in a transaction; a failed build leaves an invalid index, which the runner
    drops and builds again. Also builds the index a new key then takes over (``reason``)."""

    kind = Kind.CREATE_INDEX_CONCURRENTLY
    rank = CreateIndex.rank
    creates = True
    after: Index
    parent: Table | View  # a materialized view takes them too

    def reverse(self) -> Change:
        return DropIndexConcurrently(target=self.target, before=self.after, parent=self.parent)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class DropIndexConcurrently(Change):
    kind = Kind.DROP_INDEX_CONCURRENTLY
    rank = DropIndex.rank
    drops = True
    before: Index
    parent: Table | View  # a materialized view takes them too

    def reverse(self) -> Change:
        return CreateIndexConcurrently(target=self.target, after=self.before,
                                       parent=self.parent)


# -- views -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class CreateView(Change):
    kind = Kind.CREATE_VIEW
    rank = 30
    installs = True
    creates = True
    after: View

    def reverse(self) -> Change:
        return DropView(target=self.target, before=self.after)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class ReplaceView(Change):
    kind = Kind.REPLACE_VIEW
    rank = 31
    installs = True
    before: View
    after: View

    def reverse(self) -> Change:
        return _swap(self)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class DropView(Change):
    kind = Kind.DROP_VIEW
    rank = 3
    drops = True
    before: View

    def reverse(self) -> Change:
        return CreateView(target=self.target, after=self.before)


# -- triggers, policies ----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class CreateTrigger(Change):
    kind = Kind.CREATE_TRIGGER
    rank = 34
    installs = True
    creates = True
    after: Trigger
    parent: Table | View

    def reverse(self) -> Change:
        return DropTrigger(target=self.target, before=self.after, parent=self.parent)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class AlterTrigger(Change):
    """ENABLE / DISABLE."""

    kind = Kind.ALTER_TRIGGER
    rank = 35
    installs = True
    before: Trigger
    after: Trigger
    parent: Table | View

    def reverse(self) -> Change:
        return _swap(self)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class DropTrigger(Change):
    kind = Kind.DROP_TRIGGER
    rank = 1
    drops = True
    before: Trigger
    parent: Table | View

    def reverse(self) -> Change:
        return CreateTrigger(target=self.target, after=self.before, parent=self.parent)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class CreatePolicy(Change):
    kind = Kind.CREATE_POLICY
    rank = 36
    installs = True
    creates = True
    after: Policy
    parent: Table

    def reverse(self) -> Change:
        return DropPolicy(target=self.target, before=self.after, parent=self.parent)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class AlterPolicy(Change):
    kind = Kind.ALTER_POLICY
    rank = 37
    before: Policy
    after: Policy
    parent: Table

    def reverse(self) -> Change:
        return _swap(self)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class DropPolicy(Change):
    kind = Kind.DROP_POLICY
    rank = 2
    drops = True
    before: Policy
    parent: Table

    def reverse(self) -> Change:
        return CreatePolicy(target=self.target, after=self.before, parent=self.parent)


# -- comments, privileges, owners --------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class SetComment(Change):
    """``target``: ("comment", object kind in SQL, object name in SQL)."""

    kind = Kind.SET_COMMENT
    rank = 40
    installs = True
    before: str | None = None
    after: str | None = None

    def describe(self) -> str:
        return f"comment on {self.target[1].lower()} {self.target[2]}"

    def reverse(self) -> Change:
        return _swap(self)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class _Privilege(Change):
    """``target``: ("grant", object kind in SQL, object name in SQL[, column])."""

    @property
    def grant(self) -> ModelGrant:
        g = self.after if self.after is not None else self.before
        assert isinstance(g, ModelGrant)
        return g

    def describe(self) -> str:
        verb = self.kind.value
        g = self.grant
        column = f" ({self.target[3]})" if len(self.target) > 3 else ""
        to = "to" if isinstance(self, GrantPrivilege) else "from"
        return (f"{verb} {g.privilege.lower()}{column} on {self.target[1].lower()} "
                f"{self.target[2]} {to} {g.grantee}")


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class GrantPrivilege(_Privilege):
    kind = Kind.GRANT
    rank = 39
    installs = True
    after: ModelGrant

    def reverse(self) -> Change:
        return RevokePrivilege(target=self.target, before=self.after)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class RevokePrivilege(_Privilege):
    kind = Kind.REVOKE
    rank = 38
    installs = True
    before: ModelGrant

    def reverse(self) -> Change:
        return GrantPrivilege(target=self.target, after=self.before)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class AlterOwner(Change):
    """Only owners the schema file declares. ``parent``: the object given away."""

    kind = Kind.ALTER_OWNER
    # Last: once given away, an object may no longer be the pushing role's to change.
    rank = 41
    before: str | None = None  # the owner it has (None: created by this plan)
    after: str
    parent: Any

    def sub_rank(self) -> int:
        # Tables first: a new owner takes the table's serial sequences along, which
        # PostgreSQL will not give away on their own.
        return 1 if self.target[0] == "sequence" else 0

    def describe(self) -> str:
        return f"change owner of {self.target[0]} {self._name()} to {self.after}"

    def reverse(self) -> Change | None:
        return None if self.before is None else _swap(self)


# -- renames: they run first, and the rest is planned against the renamed objects -------------


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class _Rename(Change):
    rank = -10

    def _old_name(self) -> str:
        assert isinstance(self.before, (Table, Column, Sequence))
        return self.before.name

    def describe(self) -> str:
        _, _, noun = self.kind.value.partition("_")
        name = ".".join((*self.target[1:-1], self._old_name()))
        text = f"rename {noun.replace('_', ' ')} {name} to {self.target[-1]}"
        return f"{text} ({self.reason})" if self.reason else text


@dataclass(frozen=True, kw_only=True)
class RenameTable(_Rename):
    kind = Kind.RENAME_TABLE
    before: Table  # under its old name; ``target`` holds the new one
    after: Table

    def reverse(self) -> Change:
        return RenameTable(target=self.before.key, before=self.after, after=self.before)


@dataclass(frozen=True, kw_only=True)
class RenameColumn(_Rename):
    kind = Kind.RENAME_COLUMN
    before: Column
    after: Column
    parent: Table

    def reverse(self) -> Change:
        return RenameColumn(target=(*self.target[:-1], self.before.name), before=self.after,
                            after=self.before, parent=self.parent)


@dataclass(frozen=True, kw_only=True)
class RenameEnumValue(_Rename):
    kind = Kind.RENAME_ENUM_VALUE
    before: str
    after: str
    parent: EnumType

    def _old_name(self) -> str:
        return self.before

    def reverse(self) -> Change:
        return RenameEnumValue(target=self.target, before=self.after, after=self.before,
                               parent=self.parent)


@dataclass(frozen=True, kw_only=True)
class RenameSequence(_Rename):
    """Follows its owning column (serial) when that is renamed."""

    kind = Kind.RENAME_SEQUENCE
    before: Sequence
    after: Sequence

    def reverse(self) -> Change:
        return RenameSequence(target=self.before.key, before=self.after, after=self.before)


@dataclass(frozen=True)
class Step:
    """A change in plan order, with the SQL that carries it out."""

    change: Change
    sql: tuple[str, ...]
    hazards: tuple[Hazard, ...] = ()

    @property
    def data_loss(self) -> bool:
        """Loses data the user has not yet been shown to be worthless."""
        return any(h.needs_consent for h in self.hazards)


def batches(steps: Seq[Step]) -> list[tuple[tuple[Step, ...], str]]:
    """The statements that carry out ``steps``, each with the steps it carries: the
    actions of consecutive changes of one class to one table (columns added, columns
    altered, constraints added...) go in one ALTER TABLE, so the table is locked once and
    scanned or rewritten once instead of once per change. Each change keeps its own SQL in
    its step (the plan's JSON shows it); only what is sent is joined."""
    out: list[tuple[tuple[Step, ...], str]] = []
    group: list[Step] = []
    prefix = ""

    def flush() -> None:
        if group:
            actions = [s.sql[0][len(prefix):] for s in group]
            sql = prefix + actions[0] if len(actions) == 1 else (
                prefix.rstrip() + "\n    " + ",\n    ".join(actions))
            out.append((tuple(group), sql))
            group.clear()

    for step in steps:
        head = _alter_prefix(step)
        if head is not None and group and head == prefix and type(step.change) is type(
                group[0].change):
            group.append(step)
            continue
        flush()
        if head is not None:
            group.append(step)
            prefix = head
            continue
        out += [((step,), sql) for sql in step.sql]
    flush()
    return out


def _alter_prefix(step: Step) -> str | None:
    """``ALTER TABLE <name> `` when the step is one action of that form."""
    ch = step.change
    parent = ch.parent
    if not ch.groupable() or len(step.sql) != 1 or not isinstance(parent, Table):
        return None
    head = f"ALTER TABLE {parent.sql_name} "
    return head if step.sql[0].startswith(head) else None


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...] = ()
    unmanaged: tuple[str, ...] = field(default=())

    def __bool__(self) -> bool:
        return bool(self.steps)

    @property
    def statements(self) -> list[str]:
        """What is sent, in order (several changes to one table in one ALTER TABLE)."""
        return [sql for _, sql in batches(self.steps)]

    @property
    def data_loss(self) -> list[Step]:
        """The steps that need consent."""
        return [s for s in self.steps if s.data_loss]

    @property
    def hazards(self) -> list[Hazard]:
        return [h for s in self.steps for h in s.hazards]

    @property
    def blocking(self) -> list[tuple[Step, Hazard]]:
        """Hazards that make the plan fail on the rows the database holds."""
        return [(s, h) for s in self.steps for h in s.hazards if h.blocking]

    def sql(self) -> str:
        return "".join(f"{s};\n" for s in self.statements)

    def to_json(self) -> dict[str, Any]:
        return {
            "changes": [
                {
                    "kind": s.change.kind.value,
                    "target": list(s.change.target),
                    "description": s.change.describe(),
                    "data_loss": s.data_loss,
                    "reason": s.change.reason,
                    "sql": list(s.sql),
                    "hazards": [h.to_json() for h in s.hazards],
                }
                for s in self.steps
            ],
            "data_loss": bool(self.data_loss),
            "needs_consent": bool(self.data_loss),
            "blocking": bool(self.blocking),
            "unmanaged": list(self.unmanaged),
        }
