"""change -> PostgreSQL SQL.

Pure. Definitions that PostgreSQL rendered itself (indexes, constraints, views, triggers,
functions) are replayed as they are; everything else is written from the model's parts,
with every identifier quoted by ``quote_ident``.
"""

from __future__ import annotations

from functools import singledispatch

from trimtab.model import (
    Collation,
    Column,
    CompositeType,
    Domain,
    EnumType,
    Function,
    Grant,
    Identity,
    Index,
    Policy,
    Schema,
    Sequence,
    Table,
    View,
    identity_sequence_name,
    qname,
    quote_ident,
    quote_literal,
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
    CreateIndexConcurrently,
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
    DropIndexConcurrently,
    DropPolicy,
    DropSchema,
    DropSequence,
    DropTable,
    DropTrigger,
    DropType,
    DropView,
    GrantPrivilege,
    RecreateEnum,
    RenameColumn,
    RenameConstraint,
    RenameEnumValue,
    RenameIndex,
    RenameSequence,
    RenameTable,
    ReplaceFunction,
    ReplaceView,
    RevokePrivilege,
    SetCluster,
    SetComment,
    SetSequenceOwner,
    ValidateConstraint,
)
from trimtab.plan.diff import CHILDREN_KEEP

_INT_MAX = {"smallint": 32767, "integer": 2147483647, "bigint": 9223372036854775807}


def render(change: Change, server_version: int = 180000) -> list[str]:
    """The statements that carry out ``change`` on a server of ``server_version``."""
    return _render(change, server_version)


@singledispatch
def _render(change: Change, v: int) -> list[str]:
    """One renderer per change class, registered below."""
    raise TypeError(f"no SQL for {type(change).__name__}")


# -- schemas, extensions ---------------------------------------------------------------------


@_render.register
def _create_schema(ch: CreateSchema, v: int) -> list[str]:
    return [f"CREATE SCHEMA {ch.after.sql_name}"]


@_render.register
def _drop_schema(ch: DropSchema, v: int) -> list[str]:
    return [f"DROP SCHEMA {ch.before.sql_name}"]


@_render.register
def _create_extension(ch: CreateExtension, v: int) -> list[str]:
    e = ch.after
    version = f" VERSION {quote_literal(e.version)}" if e.version is not None else ""
    return [f"CREATE EXTENSION IF NOT EXISTS {e.sql_name} WITH SCHEMA {quote_ident(e.schema)}"
            + version]


@_render.register
def _drop_extension(ch: DropExtension, v: int) -> list[str]:
    return [f"DROP EXTENSION {ch.before.sql_name}"]


@_render.register
def _alter_extension(ch: AlterExtension, v: int) -> list[str]:
    old, new = ch.before, ch.after
    out = []
    if old.schema != new.schema:
        out.append(f"ALTER EXTENSION {new.sql_name} SET SCHEMA {quote_ident(new.schema)}")
    if new.version is not None and old.version != new.version:
        out.append(f"ALTER EXTENSION {new.sql_name} UPDATE TO {quote_literal(new.version)}")
    return out


# -- collations ------------------------------------------------------------------------------

_PROVIDERS = {"c": "libc", "i": "icu", "b": "builtin"}


@_render.register
def _create_collation(ch: CreateCollation, v: int) -> list[str]:
    c: Collation = ch.after
    opts = [f"provider = {_PROVIDERS.get(c.provider, c.provider)}"]
    if c.provider == "c" and c.lc_collate != c.lc_ctype:
        opts += [f"lc_collate = {quote_literal(c.lc_collate or '')}",
                 f"lc_ctype = {quote_literal(c.lc_ctype or '')}"]
    else:
        locale = c.lc_collate if c.provider == "c" else c.locale
        opts.append(f"locale = {quote_literal(locale or '')}")
    if c.rules is not None:
        opts.append(f"rules = {quote_literal(c.rules)}")
    if not c.deterministic:
        opts.append("deterministic = false")
    return [f"CREATE COLLATION {c.sql_name} ({', '.join(opts)})"]


@_render.register
def _drop_collation(ch: DropCollation, v: int) -> list[str]:
    return [f"DROP COLLATION {ch.before.sql_name}"]


# -- types -----------------------------------------------------------------------------------


def _enum_sql(t: EnumType) -> str:
    values = ", ".join(quote_literal(x) for x in t.values)
    return f"CREATE TYPE {t.sql_name} AS ENUM ({values})"


@_render.register
def _create_type(ch: CreateType, v: int) -> list[str]:
    t = ch.after
    if isinstance(t, EnumType):
        return [_enum_sql(t)]
    if isinstance(t, CompositeType):
        attrs = ", ".join(f"{quote_ident(n)} {typ}" for n, typ in t.attributes)
        return [f"CREATE TYPE {t.sql_name} AS ({attrs})"]
    assert isinstance(t, Domain)
    parts = [f"CREATE DOMAIN {t.sql_name} AS {t.base_type}"]
    if t.collation:
        parts.append(f"COLLATE {t.collation}")
    if t.default is not None:
        parts.append(f"DEFAULT {t.default}")
    if t.not_null:
        parts.append("NOT NULL")
    parts += [f"CONSTRAINT {quote_ident(c.name)} {c.definition}" for c in t.checks]
    return [" ".join(parts)]


@_render.register
def _drop_type(ch: DropType, v: int) -> list[str]:
    t = ch.before
    return [f"DROP {'DOMAIN' if isinstance(t, Domain) else 'TYPE'} {t.sql_name}"]


@_render.register
def _alter_type(ch: AlterType, v: int) -> list[str]:
    old, new = ch.before, ch.after
    if isinstance(new, Domain):
        assert isinstance(old, Domain)  # diff.py alters a type in place only as itself
        name = new.sql_name
        out = []
        if old.default != new.default:
            out.append(f"ALTER DOMAIN {name} "
                       + (f"SET DEFAULT {new.default}" if new.default is not None
                          else "DROP DEFAULT"))
        if old.not_null != new.not_null:
            out.append(f"ALTER DOMAIN {name} {'SET' if new.not_null else 'DROP'} NOT NULL")
        olds = {c.name: c for c in old.checks}
        news = {c.name: c for c in new.checks}
        for n, c in olds.items():
            if news.get(n) != c:
                out.append(f"ALTER DOMAIN {name} DROP CONSTRAINT {quote_ident(n)}")
        for n, c in news.items():
            if olds.get(n) != c:
                out.append(f"ALTER DOMAIN {name} ADD CONSTRAINT {quote_ident(n)} {c.definition}")
        return out
    assert isinstance(new, CompositeType) and isinstance(old, CompositeType)
    old_attrs, new_attrs = dict(old.attributes), dict(new.attributes)
    actions = [f"DROP ATTRIBUTE {quote_ident(n)}" for n in old_attrs if n not in new_attrs]
    for n, typ in new.attributes:
        if n not in old_attrs:
            actions.append(f"ADD ATTRIBUTE {quote_ident(n)} {typ}")
        elif old_attrs[n] != typ:
            actions.append(f"ALTER ATTRIBUTE {quote_ident(n)} TYPE {typ}")
    return [f"ALTER TYPE {new.sql_name} {', '.join(actions)}"] if actions else []


@_render.register
def _add_enum_value(ch: AddEnumValue, v: int) -> list[str]:
    where = f" AFTER {quote_literal(ch.follows)}" if ch.follows is not None else (
        f" BEFORE {quote_literal(ch.before.values[0])}" if ch.before.values else "")
    return [f"ALTER TYPE {ch.after.sql_name} ADD VALUE {quote_literal(ch.value)}{where}"]


@_render.register
def _recreate_enum(ch: RecreateEnum, v: int) -> list[str]:
    """Values can be added in place but never removed or reordered: build the new type
    beside the old one, move every column over through text, drop the old type."""
    new: EnumType = ch.after
    tmp = (new.name + "__trimtab_old")[:63]
    out = [f"ALTER TYPE {new.sql_name} RENAME TO {quote_ident(tmp)}", _enum_sql(new)]
    for schema, table, column, type_sql, old_default, new_default in ch.columns:
        col = quote_ident(column)
        text = "text[]" if type_sql.endswith("[]") else "text"
        alter = f"ALTER TABLE {qname(schema, table)} ALTER COLUMN {col}"
        if old_default is not None:  # a default of the old type cannot be cast automatically
            out.append(f"{alter} DROP DEFAULT")
        out.append(f"{alter} TYPE {type_sql} USING {col}::{text}::{type_sql}")
        if new_default is not None:
            out.append(f"{alter} SET DEFAULT {new_default}")
    out.append(f"DROP TYPE {qname(new.schema, tmp)}")
    return out


# -- sequences -------------------------------------------------------------------------------


def _seq_defaults(data_type: str, increment: int) -> tuple[int, int]:
    top = _INT_MAX.get(data_type, _INT_MAX["bigint"])
    return (1, top) if increment > 0 else (-top - 1, -1)


def _seq_clauses(s: Sequence | Identity, data_type: str, with_type: bool) -> list[str]:
    lo, hi = _seq_defaults(data_type, s.increment)
    out = []
    if with_type and data_type != "bigint":
        out.append(f"AS {data_type}")
    if s.increment != 1:
        out.append(f"INCREMENT BY {s.increment}")
    if s.min_value != lo:
        out.append(f"MINVALUE {s.min_value}")
    if s.max_value != hi:
        out.append(f"MAXVALUE {s.max_value}")
    if s.start != (s.min_value if s.increment > 0 else s.max_value):
        out.append(f"START WITH {s.start}")
    if s.cache != 1:
        out.append(f"CACHE {s.cache}")
    if s.cycle:
        out.append("CYCLE")
    return out


@_render.register
def _create_sequence(ch: CreateSequence, v: int) -> list[str]:
    s: Sequence = ch.after
    head = "CREATE UNLOGGED SEQUENCE" if s.unlogged else "CREATE SEQUENCE"
    return [" ".join([head, s.sql_name, *_seq_clauses(s, s.data_type, True)])]


def _tightens(old: Sequence | Identity, new: Sequence | Identity) -> bool:
    return new.min_value > old.min_value or new.max_value < old.max_value


def _restart_outside(seq: str, new: Sequence | Identity) -> str:
    """Tighter bounds reject a counter outside them. Only then does the sequence restart,
    at its START: below a raised minimum (or above a lowered maximum of a descending one)
    nothing in the new range was handed out yet. The counter is read when the statement
    runs, so a migration written today is right on the database it meets later."""
    return (f"SELECT pg_catalog.setval({quote_literal(seq)}, {new.start}, false) FROM {seq}"
            f" WHERE last_value < {new.min_value} OR last_value > {new.max_value}")


@_render.register
def _alter_sequence(ch: AlterSequence, v: int) -> list[str]:
    old: Sequence = ch.before
    new: Sequence = ch.after
    tighten = _tightens(old, new)
    # Tighter bounds go in three steps: the union of both ranges (always holds the
    # counter), the counter moved inside when it is not, then the new range. A narrower
    # type comes with the last step, once the counter fits it.
    widen_type = _INT_MAX.get(new.data_type, 0) >= _INT_MAX.get(old.data_type, 0)
    first_type = old.data_type != new.data_type and (widen_type or not tighten)
    lo = min(old.min_value, new.min_value) if tighten else new.min_value
    hi = max(old.max_value, new.max_value) if tighten else new.max_value
    parts = []
    if first_type:
        parts.append(f"AS {new.data_type}")
    for attr, word, value in (("increment", "INCREMENT BY", new.increment),
                              ("min_value", "MINVALUE", lo), ("max_value", "MAXVALUE", hi),
                              ("start", "START WITH", new.start), ("cache", "CACHE", new.cache)):
        if getattr(old, attr) != value or first_type:
            parts.append(f"{word} {value}")
    if old.cycle != new.cycle:
        parts.append("CYCLE" if new.cycle else "NO CYCLE")
    out = [f"ALTER SEQUENCE {new.sql_name} {' '.join(parts)}"] if parts else []
    if tighten:
        out.append(_restart_outside(new.sql_name, new))
        as_type = f"AS {new.data_type} " if old.data_type != new.data_type and not first_type \
            else ""
        out.append(f"ALTER SEQUENCE {new.sql_name} {as_type}MINVALUE {new.min_value}"
                   f" MAXVALUE {new.max_value}")
    if old.unlogged != new.unlogged:
        out.append(f"ALTER SEQUENCE {new.sql_name} SET {'UNLOGGED' if new.unlogged else 'LOGGED'}")
    return out


@_render.register
def _set_sequence_owner(ch: SetSequenceOwner, v: int) -> list[str]:
    s: Sequence = ch.after
    owner = "NONE" if s.owned_by is None else (
        f"{qname(s.owned_by[0], s.owned_by[1])}.{quote_ident(s.owned_by[2])}")
    return [f"ALTER SEQUENCE {s.sql_name} OWNED BY {owner}"]


@_render.register
def _drop_sequence(ch: DropSequence, v: int) -> list[str]:
    return [f"DROP SEQUENCE {ch.before.sql_name}"]


# -- functions -------------------------------------------------------------------------------


@_render.register
def _create_function(ch: CreateFunction, v: int) -> list[str]:
    return [ch.after.definition.rstrip().rstrip(";")]


@_render.register
def _drop_function(ch: DropFunction, v: int) -> list[str]:
    f = ch.before
    return [f"DROP {f.kind_sql} {f.sql_name}"]


# -- tables ----------------------------------------------------------------------------------


def column_sql(c: Column, schema: str = "public") -> str:
    parts = [quote_ident(c.name), c.type]
    if c.collation:
        parts.append(f"COLLATE {c.collation}")
    if c.generated is not None:
        kind = "VIRTUAL" if c.generated_virtual else "STORED"
        parts.append(f"GENERATED ALWAYS AS ({c.generated}) {kind}")
    elif c.identity is not None:
        parts.append(_identity_sql(c.identity, c.type, schema))
    if c.default is not None and c.generated is None:
        parts.append(f"DEFAULT {c.default}")
    if c.not_null:
        parts.append("NOT NULL")
    return " ".join(parts)


def _identity_sql(i: Identity, data_type: str, schema: str) -> str:
    head = f"GENERATED {'ALWAYS' if i.always else 'BY DEFAULT'} AS IDENTITY"
    opts = _seq_clauses(i, data_type, False)
    if i.sequence is not None:  # qualified: unqualified, it would follow the search path
        opts.insert(0, f"SEQUENCE NAME {qname(schema, i.sequence)}")
    return f"{head} ({' '.join(opts)})" if opts else head


@_render.register
def _create_table(ch: CreateTable, v: int) -> list[str]:
    t: Table = ch.after
    head = f"CREATE {'UNLOGGED ' if t.unlogged else ''}TABLE {t.sql_name}"
    if t.partition_of:
        sql = f"{head} PARTITION OF {qname(*t.partition_of)} {t.partition_bound}"
    else:
        cols = ",\n".join(f"    {column_sql(c, t.schema)}" for c in t.columns
                           if not c.inherited)
        sql = f"{head} (\n{cols}\n)" if cols else f"{head} ()"
        if t.inherits:
            sql += f" INHERITS ({', '.join(qname(*p) for p in t.inherits)})"
    if t.partition_key:
        sql += f" PARTITION BY {t.partition_key}"
    if t.options:
        sql += f" WITH ({', '.join(t.options)})"
    out = [sql]
    for c in t.columns:
        if c.storage:
            out.append(_alter_col(t, c, f"SET STORAGE {c.storage}"))
        if c.compression:
            out.append(_alter_col(t, c, f"SET COMPRESSION {c.compression}"))
        if c.statistics is not None:
            out.append(_alter_col(t, c, f"SET STATISTICS {c.statistics}"))
    return out


def _alter_col(t: Table, c: Column, action: str) -> str:
    return f"ALTER TABLE {t.sql_name} ALTER COLUMN {quote_ident(c.name)} {action}"


@_render.register
def _drop_table(ch: DropTable, v: int) -> list[str]:
    return [f"DROP TABLE {ch.before.sql_name}"]


@_render.register
def _alter_table(ch: AlterTable, v: int) -> list[str]:
    old: Table = ch.before
    new: Table = ch.after
    name = new.sql_name
    out = []
    if old.unlogged != new.unlogged:
        out.append(f"ALTER TABLE {name} SET {'UNLOGGED' if new.unlogged else 'LOGGED'}")
    if old.rls_enabled != new.rls_enabled:
        out.append(f"ALTER TABLE {name} {'ENABLE' if new.rls_enabled else 'DISABLE'}"
                   " ROW LEVEL SECURITY")
    if old.rls_forced != new.rls_forced:
        out.append(f"ALTER TABLE {name} {'' if new.rls_forced else 'NO '}FORCE ROW LEVEL SECURITY")
    if old.replica_identity != new.replica_identity:
        ident = {"d": "DEFAULT", "n": "NOTHING", "f": "FULL"}.get(new.replica_identity)
        if ident:
            out.append(f"ALTER TABLE {name} REPLICA IDENTITY {ident}")
    if old.options != new.options:
        olds = dict(o.split("=", 1) for o in old.options)
        news = dict(o.split("=", 1) for o in new.options)
        reset = [k for k in olds if k not in news]
        if reset:
            out.append(f"ALTER TABLE {name} RESET ({', '.join(reset)})")
        changed = [f"{k}={val}" for k, val in news.items() if olds.get(k) != val]
        if changed:
            out.append(f"ALTER TABLE {name} SET ({', '.join(changed)})")
    return out


@_render.register
def _attach_partition(ch: AttachPartition, v: int) -> list[str]:
    """Attach to a partitioned parent, or INHERIT from new parents."""
    old: Table = ch.before
    t: Table = ch.after
    if t.partition_of and (old.partition_of, old.partition_bound) != (t.partition_of,
                                                                      t.partition_bound):
        return [f"ALTER TABLE {qname(*t.partition_of)} ATTACH PARTITION {t.sql_name}"
                f" {t.partition_bound}"]
    return [f"ALTER TABLE {t.sql_name} INHERIT {qname(*p)}" for p in t.inherits
            if p not in old.inherits]


@_render.register
def _detach_partition(ch: DetachPartition, v: int) -> list[str]:
    """Detach from a partitioned parent, or NO INHERIT from parents it leaves."""
    old: Table = ch.before
    t: Table = ch.after
    if old.partition_of and (old.partition_of, old.partition_bound) != (t.partition_of,
                                                                        t.partition_bound):
        return [f"ALTER TABLE {qname(*old.partition_of)} DETACH PARTITION {old.sql_name}"]
    return [f"ALTER TABLE {t.sql_name} NO INHERIT {qname(*p)}" for p in old.inherits
            if p not in t.inherits]


@_render.register
def _add_column(ch: AddColumn, v: int) -> list[str]:
    t: Table = ch.parent
    c: Column = ch.after
    out = [f"ALTER TABLE {t.sql_name} ADD COLUMN {column_sql(c, t.schema)}"]
    if c.storage:
        out.append(_alter_col(t, c, f"SET STORAGE {c.storage}"))
    if c.compression:
        out.append(_alter_col(t, c, f"SET COMPRESSION {c.compression}"))
    if c.statistics is not None:
        out.append(_alter_col(t, c, f"SET STATISTICS {c.statistics}"))
    return out


@_render.register
def _drop_column(ch: DropColumn, v: int) -> list[str]:
    # ONLY: the children that keep the column hold it as their own from then on.
    only = "ONLY " if ch.reason == CHILDREN_KEEP else ""
    return [f"ALTER TABLE {only}{ch.parent.sql_name} DROP COLUMN {quote_ident(ch.before.name)}"]


# Casts PostgreSQL applies on ALTER COLUMN ... TYPE without USING (assignment casts).
_FAMILIES = (
    {"smallint", "integer", "bigint", "numeric", "real", "double precision"},
    {"text", "character varying", "character", "name"},
    {"timestamp without time zone", "timestamp with time zone", "date"},
    {"time without time zone", "time with time zone"},
    {"bit", "bit varying"},
    {"json", "jsonb"},
)


def _base(type_sql: str) -> str:
    return type_sql.split("(", 1)[0].strip()


def needs_using(old: str, new: str) -> bool:
    """Whether ALTER COLUMN ... TYPE from ``old`` to ``new`` (format_type spellings) needs a
    USING clause: PostgreSQL only applies assignment casts on its own."""
    if old.endswith("[]") != new.endswith("[]"):
        return True
    a, b = _base(old.removesuffix("[]")), _base(new.removesuffix("[]"))
    if a == b:
        return False
    if {a, b} <= {"json", "jsonb"}:
        return True  # no assignment cast between them
    return not any(a in f and b in f for f in _FAMILIES)


@_render.register
def _alter_column(ch: AlterColumn, v: int) -> list[str]:
    t: Table = ch.parent
    old: Column = ch.before
    new: Column = ch.after
    col = quote_ident(new.name)
    actions: list[str] = []
    before: list[str] = []  # statements of their own, before and after the ALTER TABLE
    after: list[str] = []

    def act(sql: str) -> None:
        actions.append(f"ALTER COLUMN {col} {sql}")

    type_changes = old.type != new.type or old.collation != new.collation
    # Without USING, PostgreSQL converts the column by its assignment cast and the old
    # default by the same cast, so SET DEFAULT alone replaces it. With USING no such cast
    # need exist and the old default may not convert: it is dropped before the type changes.
    uses_using = type_changes and (ch.using is not None or bool(old.type_ref or new.type_ref)
                                   or needs_using(old.type, new.type))
    drop_default = old.default is not None and (uses_using or new.default is None)
    if old.generated and not new.generated:
        act("DROP EXPRESSION")
    if old.identity and not new.identity:
        act("DROP IDENTITY")
    if drop_default:
        act("DROP DEFAULT")
    if type_changes:
        sql = f"TYPE {new.type}"
        if new.collation:
            sql += f" COLLATE {new.collation}"
        if ch.using is not None:  # the user's own conversion, from a hint
            sql += f" USING {ch.using}"
        elif old.type_ref or new.type_ref:
            # Enums (and other user types) convert to and from each other through text.
            text = "text[]" if old.type.endswith("[]") else "text"
            sql += f" USING {col}::{text}::{new.type}"
        elif needs_using(old.type, new.type):
            sql += f" USING {col}::{new.type}"
        act(sql)
    if old.generated and new.generated and old.generated != new.generated:
        act(f"SET EXPRESSION AS ({new.generated})")
    if new.default is not None and (new.default != old.default or drop_default
                                    or type_changes):
        act(f"SET DEFAULT {new.default}")
    if old.not_null != new.not_null:
        act("SET NOT NULL" if new.not_null else "DROP NOT NULL")
    if new.identity and not old.identity:
        act(f"ADD {_identity_sql(new.identity, new.type, t.schema)}")
    elif new.identity and old.identity and new.identity != old.identity:
        o, n = old.identity, new.identity
        if o.always != n.always:
            act(f"SET GENERATED {'ALWAYS' if n.always else 'BY DEFAULT'}")
        seq_name = n.sequence or identity_sequence_name(t.name, new.name)
        old_seq = o.sequence or identity_sequence_name(t.name, old.name)
        if old_seq != seq_name:  # the sequence keeps its counter under its new name
            before.append(f"ALTER SEQUENCE {qname(t.schema, old_seq)} RENAME TO"
                          f" {quote_ident(seq_name)}")
        # As for sequences (_alter_sequence): tighter bounds widen first, move the counter
        # inside only when it is outside, then narrow.
        tighten = _tightens(o, n)
        lo = min(o.min_value, n.min_value) if tighten else n.min_value
        hi = max(o.max_value, n.max_value) if tighten else n.max_value
        opts = []
        if o.increment != n.increment:
            opts.append(f"SET INCREMENT BY {n.increment}")
        if o.min_value != lo:
            opts.append(f"SET MINVALUE {lo}")
        if o.max_value != hi:
            opts.append(f"SET MAXVALUE {hi}")
        if o.start != n.start:
            opts.append(f"SET START WITH {n.start}")
        if o.cache != n.cache:
            opts.append(f"SET CACHE {n.cache}")
        if o.cycle != n.cycle:
            opts.append("SET CYCLE" if n.cycle else "SET NO CYCLE")
        if opts:
            act(" ".join(opts))
        if tighten:
            seq = qname(t.schema, seq_name)
            after.append(_restart_outside(seq, n))
            after.append(f"ALTER TABLE {t.sql_name} ALTER COLUMN {col} SET MINVALUE"
                         f" {n.min_value} SET MAXVALUE {n.max_value}")
    if old.storage != new.storage:
        # The model holds a storage only where it differs from the type's (EXTENDED for
        # every varlena type that has one).
        act(f"SET STORAGE {new.storage or 'EXTENDED'}")
    if old.compression != new.compression:
        act(f"SET COMPRESSION {new.compression or 'DEFAULT'}")
    if old.statistics != new.statistics:
        act(f"SET STATISTICS {-1 if new.statistics is None else new.statistics}")
    if not actions:
        return before + after
    return [*before, f"ALTER TABLE {t.sql_name} " + ", ".join(actions), *after]


# -- constraints, indexes ----------------------------------------------------------------------


@_render.register
def _add_constraint(ch: AddConstraint, v: int) -> list[str]:
    t: Table = ch.parent
    c = ch.after
    if ch.using_index is not None:  # takes over an existing unique index (renamed to c)
        what = "PRIMARY KEY" if c.kind == "p" else "UNIQUE"
        return [f"ALTER TABLE {t.sql_name} ADD CONSTRAINT {quote_ident(c.name)} {what}"
                f" USING INDEX {quote_ident(ch.using_index.name)}"]
    return [f"ALTER TABLE {t.sql_name} ADD CONSTRAINT {quote_ident(c.name)} {c.definition}"]


@_render.register
def _drop_constraint(ch: DropConstraint, v: int) -> list[str]:
    t: Table = ch.parent
    return [f"ALTER TABLE {t.sql_name} DROP CONSTRAINT {quote_ident(ch.before.name)}"]


@_render.register
def _validate_constraint(ch: ValidateConstraint, v: int) -> list[str]:
    return [f"ALTER TABLE {ch.parent.sql_name} VALIDATE CONSTRAINT {quote_ident(ch.after.name)}"]


@_render.register
def _rename_constraint(ch: RenameConstraint, v: int) -> list[str]:
    return [f"ALTER TABLE {ch.parent.sql_name} RENAME CONSTRAINT {quote_ident(ch.before.name)}"
            f" TO {quote_ident(ch.after.name)}"]


@_render.register
def _create_index(ch: CreateIndex, v: int) -> list[str]:
    i: Index = ch.after
    rel: Table | View = ch.parent
    # An index on a partitioned table is rendered "ON ONLY": without ONLY, PostgreSQL
    # builds and attaches the partitions' indexes too, which is what a new index needs,
    # unless the schema keeps it ON ONLY (its partitions' indexes attached one by one).
    out = [i.definition if not i.valid else i.definition.replace(" ON ONLY ", " ON ", 1)]
    if i.clustered:
        out.append(f"ALTER TABLE {rel.sql_name} CLUSTER ON {quote_ident(i.name)}")
    return out


@_render.register
def _set_cluster(ch: SetCluster, v: int) -> list[str]:
    if ch.after.clustered:
        return [f"ALTER TABLE {ch.parent.sql_name} CLUSTER ON {quote_ident(ch.after.name)}"]
    return [f"ALTER TABLE {ch.parent.sql_name} SET WITHOUT CLUSTER"]


@_render.register
def _drop_index(ch: DropIndex, v: int) -> list[str]:
    return [f"DROP INDEX {qname(ch.target[1], ch.before.name)}"]


@_render.register
def _create_index_concurrently(ch: CreateIndexConcurrently, v: int) -> list[str]:
    # pg_get_indexdef's "CREATE [UNIQUE] INDEX name ON ...": the name may need quotes.
    head, sep, rest = ch.after.definition.partition(" INDEX ")
    return [f"{head}{sep}CONCURRENTLY IF NOT EXISTS {rest}"]


@_render.register
def _drop_index_concurrently(ch: DropIndexConcurrently, v: int) -> list[str]:
    return [f"DROP INDEX CONCURRENTLY IF EXISTS {qname(ch.target[1], ch.before.name)}"]


@_render.register
def _attach_index(ch: AttachIndex, v: int) -> list[str]:
    return [f"ALTER INDEX {qname(*ch.index_parent)} ATTACH PARTITION {qname(*ch.target[1:])}"]


@_render.register
def _rename_index(ch: RenameIndex, v: int) -> list[str]:
    return [f"ALTER INDEX {qname(ch.target[1], ch.before.name)} RENAME TO"
            f" {quote_ident(ch.after.name)}"]


# -- views -----------------------------------------------------------------------------------


def _view_sql(view: View, replace: bool) -> str:
    head = "CREATE OR REPLACE VIEW" if replace else f"CREATE {view.kind_sql}"
    opts = [o for o in view.options if not o.startswith("check_option=")]
    with_ = f" WITH ({', '.join(opts)})" if opts else ""
    body = view.definition.strip().rstrip(";")
    sql = f"{head} {view.sql_name}{with_} AS\n{body}"
    check = next((o.split("=", 1)[1] for o in view.options if o.startswith("check_option=")),
                 None)
    if check:
        sql += f"\n WITH {check.upper()} CHECK OPTION"
    return sql


@_render.register
def _create_view(ch: CreateView, v: int) -> list[str]:
    return [_view_sql(ch.after, False)]


@_render.register
def _replace_view(ch: ReplaceView, v: int) -> list[str]:
    old: View = ch.before
    new: View = ch.after
    out = [_view_sql(new, True)]
    gone = [o.split("=", 1)[0] for o in old.options
            if o.split("=", 1)[0] not in {n.split("=", 1)[0] for n in new.options}]
    if gone:
        out.append(f"ALTER VIEW {new.sql_name} RESET ({', '.join(gone)})")
    return out


@_render.register
def _drop_view(ch: DropView, v: int) -> list[str]:
    return [f"DROP {ch.before.kind_sql} {ch.before.sql_name}"]


# -- triggers, policies ----------------------------------------------------------------------


@_render.register
def _create_trigger(ch: CreateTrigger, v: int) -> list[str]:
    t = ch.after
    out = [t.definition]
    if t.enabled != "O":
        out += _trigger_enable(ch.parent, t.name, t.enabled)
    return out


def _trigger_enable(table: Table | View, name: str, enabled: str) -> list[str]:
    word = {"O": "ENABLE", "D": "DISABLE", "R": "ENABLE REPLICA", "A": "ENABLE ALWAYS"}[enabled]
    return [f"ALTER TABLE {table.sql_name} {word} TRIGGER {quote_ident(name)}"]


@_render.register
def _alter_trigger(ch: AlterTrigger, v: int) -> list[str]:
    return _trigger_enable(ch.parent, ch.after.name, ch.after.enabled)


@_render.register
def _drop_trigger(ch: DropTrigger, v: int) -> list[str]:
    return [f"DROP TRIGGER {quote_ident(ch.before.name)} ON {ch.parent.sql_name}"]


def _roles(p: Policy) -> str:
    return ", ".join(r if r == "PUBLIC" else quote_ident(r) for r in p.roles)


@_render.register
def _create_policy(ch: CreatePolicy, v: int) -> list[str]:
    return [_policy_sql(ch.after, ch.parent)]


def _policy_sql(p: Policy, table: Table) -> str:
    sql = (f"CREATE POLICY {quote_ident(p.name)} ON {table.sql_name}"
           f" AS {'PERMISSIVE' if p.permissive else 'RESTRICTIVE'} FOR {p.command}"
           f" TO {_roles(p)}")
    if p.using is not None:
        sql += f" USING ({p.using})"
    if p.with_check is not None:
        sql += f" WITH CHECK ({p.with_check})"
    return sql


@_render.register
def _alter_policy(ch: AlterPolicy, v: int) -> list[str]:
    old: Policy = ch.before
    p: Policy = ch.after
    if (old.using is not None and p.using is None) or (
            old.with_check is not None and p.with_check is None):
        # ALTER POLICY cannot remove an expression: make the policy again.
        return [_drop_policy_sql(old, ch.parent), _policy_sql(p, ch.parent)]
    sql = f"ALTER POLICY {quote_ident(p.name)} ON {ch.parent.sql_name} TO {_roles(p)}"
    if p.using is not None:
        sql += f" USING ({p.using})"
    if p.with_check is not None:
        sql += f" WITH CHECK ({p.with_check})"
    return [sql]


@_render.register
def _drop_policy(ch: DropPolicy, v: int) -> list[str]:
    return [_drop_policy_sql(ch.before, ch.parent)]


def _drop_policy_sql(p: Policy, table: Table) -> str:
    return f"DROP POLICY {quote_ident(p.name)} ON {table.sql_name}"


# -- comments and grants ---------------------------------------------------------------------


@_render.register
def _set_comment(ch: SetComment, v: int) -> list[str]:
    _, kind, name = ch.target
    text = "NULL" if ch.after is None else quote_literal(ch.after)
    return [f"COMMENT ON {kind} {name} IS {text}"]


@_render.register
def _alter_owner(ch: AlterOwner, v: int) -> list[str]:
    obj = ch.parent
    if isinstance(obj, (View, Function)):
        kind = obj.kind_sql
    else:
        kind = {Table: "TABLE", Sequence: "SEQUENCE", Domain: "DOMAIN", EnumType: "TYPE",
                CompositeType: "TYPE", Collation: "COLLATION", Schema: "SCHEMA"}[type(obj)]
    return [f"ALTER {kind} {obj.sql_name} OWNER TO {quote_ident(ch.after)}"]


def _grantee(g: Grant) -> str:
    return "PUBLIC" if g.grantee == "PUBLIC" else quote_ident(g.grantee)


def _grant_on(target: tuple[str, ...], g: Grant) -> str:
    _, kind, name, *column = target
    priv = g.privilege + (f" ({quote_ident(column[0])})" if column else "")
    return f"{priv} ON {kind} {name}"


@_render.register
def _grant(ch: GrantPrivilege, v: int) -> list[str]:
    g: Grant = ch.after
    option = " WITH GRANT OPTION" if g.grantable else ""
    return [f"GRANT {_grant_on(ch.target, g)} TO {_grantee(g)}{option}"]


@_render.register
def _revoke(ch: RevokePrivilege, v: int) -> list[str]:
    g: Grant = ch.before
    return [f"REVOKE {_grant_on(ch.target, g)} FROM {_grantee(g)}"]


# -- renames (``before`` is the object or enum value as it was) ------------------------------


@_render.register
def _rename_table(ch: RenameTable, v: int) -> list[str]:
    return [f"ALTER TABLE {ch.before.sql_name} RENAME TO {quote_ident(ch.target[-1])}"]


@_render.register
def _rename_column(ch: RenameColumn, v: int) -> list[str]:
    return [f"ALTER TABLE {ch.parent.sql_name} RENAME COLUMN {quote_ident(ch.before.name)}"
            f" TO {quote_ident(ch.target[-1])}"]


@_render.register
def _rename_enum_value(ch: RenameEnumValue, v: int) -> list[str]:
    return [f"ALTER TYPE {ch.parent.sql_name} RENAME VALUE {quote_literal(ch.before)}"
            f" TO {quote_literal(ch.after)}"]


@_render.register
def _rename_sequence(ch: RenameSequence, v: int) -> list[str]:
    return [f"ALTER SEQUENCE {ch.before.sql_name} RENAME TO {quote_ident(ch.target[-1])}"]


_render.register(ReplaceFunction, _create_function)  # pg_get_functiondef: CREATE OR REPLACE
