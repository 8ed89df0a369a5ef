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


# Kinds that remove stored data when they run.
DATA_LOSS = frozenset(
    {
        Kind.DROP_SCHEMA,
        Kind.DROP_TABLE,
        Kind.DROP_COLUMN,
        Kind.DROP_SEQUENCE,
        Kind.DROP_TYPE,
        Kind.DROP_EXTENSION,
    }
)


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
    data_loss: bool = False

    def describe(self) -> str:
        verb, _, noun = self.kind.value.partition("_")
        name = ".".join(self.target[1:])
        if self.target[0] == "function":
            name = f"{self.target[1]}.{self.target[2]}({self.target[3]})"
        if self.kind == Kind.SET_COMMENT:
            return f"comment on {self.target[1].lower()} {self.target[2]}"
        if self.kind in (Kind.GRANT, Kind.REVOKE):
            g = self.after or self.before
            column = f" ({self.target[3]})" if len(self.target) > 3 else ""
            to = "to" if self.kind == Kind.GRANT else "from"
            return (f"{verb} {g.privilege.lower()}{column} on {self.target[1].lower()} "
                    f"{self.target[2]} {to} {g.grantee}")
        text = f"{verb} {noun.replace('_', ' ')} {name}"
        return f"{text} ({self.reason})" if self.reason else text


@dataclass(frozen=True)
class Step:
    """A change in plan order, with the SQL that carries it out."""

    change: Change
    sql: tuple[str, ...]
    # Statements that cannot run inside a transaction block (none yet: kept for
    # CREATE INDEX CONCURRENTLY and ALTER TYPE ... ADD VALUE on old servers).
    transactional: bool = True

    @property
    def data_loss(self) -> bool:
        return self.change.data_loss


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
        return [s for s in self.steps if s.data_loss]

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
                }
                for s in self.steps
            ],
            "data_loss": bool(self.data_loss),
            "unmanaged": list(self.unmanaged),
        }
