"""The closed vocabulary of schema changes, and the plan that orders and renders them.

The diff returns ``Change`` values, the orderer sorts them, the renderer turns each into
SQL and the hazard pass annotates them. A change names its kind, the object it is about
(``target``: the object's key, or a sub-object key such as ``("column", s, t, c)``), and
the object's state before and after, so that every later stage can work from data alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


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


@dataclass(frozen=True)
class Change:
    kind: Kind
    target: tuple[str, ...]
    before: Any = None
    after: Any = None
    # The table, view or type the sub-object belongs to (a Table for a column change).
    parent: Any = None
    # Why a change beyond the user's edit is needed ("depends on public.users.email").
    reason: str | None = None
    # A column type change: the conversion the user wrote (`-- trimtab: using <expr>`).
    using: str | None = None

    def describe(self) -> str:
        verb, _, noun = self.kind.value.partition("_")
        name = ".".join(self.target[1:])
        if self.target[0] == "function":
            name = f"{self.target[1]}.{self.target[2]}({self.target[3]})"
        if self.kind == Kind.ALTER_OWNER:
            return f"change owner of {self.target[0]} {name} to {self.after}"
        if self.kind == Kind.SET_COMMENT:
            return f"comment on {self.target[1].lower()} {self.target[2]}"
        if self.kind in (Kind.GRANT, Kind.REVOKE):
            g = self.after or self.before
            column = f" ({self.target[3]})" if len(self.target) > 3 else ""
            to = "to" if self.kind == Kind.GRANT else "from"
            return (f"{verb} {g.privilege.lower()}{column} on {self.target[1].lower()} "
                    f"{self.target[2]} {to} {g.grantee}")
        if verb == "rename" and self.before is not None and self.kind not in (
                Kind.RENAME_CONSTRAINT, Kind.RENAME_INDEX):
            old = self.before if isinstance(self.before, str) else self.before.name
            name = ".".join((*self.target[1:-1], old))
            text = f"rename {noun.replace('_', ' ')} {name} to {self.target[-1]}"
            return f"{text} ({self.reason})" if self.reason else text
        text = f"{verb} {noun.replace('_', ' ')} {name}"
        return f"{text} ({self.reason})" if self.reason else text


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


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...] = ()
    unmanaged: tuple[str, ...] = field(default=())

    def __bool__(self) -> bool:
        return bool(self.steps)

    @property
    def statements(self) -> list[str]:
        return [s for step in self.steps for s in step.sql]

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
