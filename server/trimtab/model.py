"""The schema model: small frozen dataclasses, one identity key per object.

Both sides of every diff come from the catalog (the live database, or the desired schema
applied to a shadow database), so every expression, type and definition held here is in
PostgreSQL's own canonical text: ``format_type`` for types, ``pg_get_expr`` for defaults
and policy expressions, ``pg_get_constraintdef``, ``pg_get_indexdef``, ``pg_get_viewdef``,
``pg_get_triggerdef`` and ``pg_get_functiondef`` for definitions. Comparing two objects is
then plain equality, with no normalisation of our own.

Names are stored unquoted (as in the catalog); ``qname``/``quote_ident`` quote them for SQL.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any

QualifiedName = tuple[str, str]  # (schema, name)


@functools.lru_cache(maxsize=65536)
def quote_ident(name: str) -> str:
    """Quote an identifier the way PostgreSQL's quote_ident() does."""
    if _PLAIN.match(name) and name not in RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


_PLAIN = re.compile(r"[a-z_][a-z0-9_$]*\Z")


def qname(schema: str, name: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def quote_literal(value: str) -> str:
    if "\\" in value:
        return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
    return "'" + value.replace("'", "''") + "'"


# Keywords that need quoting as identifiers: PostgreSQL's reserved and
# "reserved (can be function or type)" / "unreserved (cannot be function or type)"
# categories, which quote_ident() also quotes (from pg_get_keywords()).
RESERVED = frozenset(
    """
    all analyse analyze and any array as asc asymmetric authorization between bigint binary bit
    boolean both case cast char character check coalesce collate collation column concurrently
    constraint create cross current_catalog current_date current_role current_schema
    current_time current_timestamp current_user dec decimal default deferrable desc distinct do
    else end except exists extract false fetch float for foreign freeze from full grant
    greatest group grouping having ilike in initially inner inout int integer intersect
    interval into is isnull join json json_array json_arrayagg json_exists json_object
    json_objectagg json_query json_scalar json_serialize json_table json_value lateral leading
    least left like limit localtime localtimestamp merge_action national natural nchar none
    normalize not notnull null nullif numeric offset on only or order out outer overlaps
    overlay placing position precision primary real references returning right row select
    session_user setof similar smallint some substring symmetric system_user table tablesample
    then time timestamp to trailing treat trim true union unique user using values varchar
    variadic verbose when where window with xmlattributes xmlconcat xmlelement xmlexists
    xmlforest xmlnamespaces xmlparse xmlpi xmlroot xmlserialize xmltable
    """.split()  # noqa: SIM905 (a word list reads better here)
)


@dataclass(frozen=True, slots=True)
class Grant:
    """One privilege of one grantee on an object (``PUBLIC`` for everyone)."""

    grantee: str
    privilege: str
    grantable: bool = False


@dataclass(frozen=True, slots=True)
class Schema:
    name: str
    comment: str | None = None
    grants: tuple[Grant, ...] = ()

    @property
    def key(self) -> tuple[str, ...]:
        return ("schema", self.name)

    @property
    def sql_name(self) -> str:
        return quote_ident(self.name)


@dataclass(frozen=True, slots=True)
class Extension:
    name: str
    schema: str
    # None: whichever the server installs by default. A desired schema pins one only when
    # its source writes VERSION (migrations run on servers of other versions).
    version: str | None
    comment: str | None = None

    @property
    def key(self) -> tuple[str, ...]:
        return ("extension", self.name)

    @property
    def sql_name(self) -> str:
        return quote_ident(self.name)


@dataclass(frozen=True, slots=True)
class Collation:
    """A collation made by CREATE COLLATION. What it was declared with, read back from
    pg_collation; its version (``collversion``) is the library's, not the schema's, and is
    left out."""

    schema: str
    name: str
    provider: str = "c"  # 'c' libc, 'i' icu, 'b' builtin (PostgreSQL 17+)
    locale: str | None = None  # icu and builtin providers
    lc_collate: str | None = None  # libc provider
    lc_ctype: str | None = None  # libc provider
    deterministic: bool = True
    rules: str | None = None  # ICU tailoring rules (PostgreSQL 16+)
    comment: str | None = None

    @property
    def key(self) -> tuple[str, ...]:
        return ("collation", self.schema, self.name)

    @property
    def sql_name(self) -> str:
        return qname(self.schema, self.name)


@dataclass(frozen=True, slots=True, weakref_slot=True)  # (introspect shares them)
class EnumType:
    schema: str
    name: str
    values: tuple[str, ...]
    comment: str | None = None
    grants: tuple[Grant, ...] = ()

    @property
    def key(self) -> tuple[str, ...]:
        return ("type", self.schema, self.name)

    @property
    def sql_name(self) -> str:
        return qname(self.schema, self.name)


@dataclass(frozen=True, slots=True)
class DomainCheck:
    name: str
    definition: str  # pg_get_constraintdef: "CHECK (VALUE > 0)"


@dataclass(frozen=True, slots=True, weakref_slot=True)  # (introspect shares them)
class Domain:
    schema: str
    name: str
    base_type: str
    not_null: bool = False
    default: str | None = None
    collation: str | None = None  # quoted, only when it differs from the base type's
    checks: tuple[DomainCheck, ...] = ()
    comment: str | None = None
    grants: tuple[Grant, ...] = ()

    @property
    def key(self) -> tuple[str, ...]:
        return ("type", self.schema, self.name)

    @property
    def sql_name(self) -> str:
        return qname(self.schema, self.name)


@dataclass(frozen=True, slots=True, weakref_slot=True)  # (introspect shares them)
class CompositeType:
    schema: str
    name: str
    attributes: tuple[tuple[str, str], ...]  # (name, type incl. COLLATE when not default)
    comment: str | None = None
    grants: tuple[Grant, ...] = ()

    @property
    def key(self) -> tuple[str, ...]:
        return ("type", self.schema, self.name)

    @property
    def sql_name(self) -> str:
        return qname(self.schema, self.name)


@dataclass(frozen=True, slots=True, weakref_slot=True)  # (introspect shares them)
class Sequence:
    schema: str
    name: str
    data_type: str = "bigint"
    start: int = 1
    increment: int = 1
    min_value: int = 1
    max_value: int = 9223372036854775807
    cache: int = 1
    cycle: bool = False
    owned_by: tuple[str, str, str] | None = None  # (schema, table, column)
    unlogged: bool = False
    comment: str | None = None
    grants: tuple[Grant, ...] = ()

    @property
    def key(self) -> tuple[str, ...]:
        return ("sequence", self.schema, self.name)

    @property
    def sql_name(self) -> str:
        return qname(self.schema, self.name)


@dataclass(frozen=True, slots=True)
class Identity:
    """GENERATED ALWAYS / BY DEFAULT AS IDENTITY and its sequence's options."""

    always: bool
    start: int = 1
    increment: int = 1
    min_value: int = 1
    max_value: int = 9223372036854775807
    cache: int = 1
    cycle: bool = False
    # Its sequence's name when not the one PostgreSQL picks (``identity_sequence_name``);
    # the sequence lives in the table's schema.
    sequence: str | None = None


def identity_sequence_name(table: str, column: str) -> str:
    """The name PostgreSQL gives an identity (or serial) sequence: ``table_column_seq``,
    the longer of the two names shortened to fit 63 bytes (makeObjectName). A name already
    taken gets a number appended, which the model then holds as a name of its own."""
    a, b = len(table.encode()), len(column.encode())
    room = 63 - len("_") - len("_seq")
    while a + b > room:
        if a > b:
            a -= 1
        else:
            b -= 1
    clip = lambda s, n: s.encode()[:n].decode(errors="ignore")  # noqa: E731
    return f"{clip(table, a)}_{clip(column, b)}_seq"


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str  # format_type(): "character varying(20)", "integer[]", "public.mood"
    not_null: bool = False
    default: str | None = None  # pg_get_expr()
    identity: Identity | None = None
    generated: str | None = None  # expression of GENERATED ALWAYS AS (...) STORED
    generated_virtual: bool = False  # PostgreSQL 18+: GENERATED ALWAYS AS (...) VIRTUAL
    collation: str | None = None  # quoted, only when it differs from the type's default
    storage: str | None = None  # PLAIN/EXTERNAL/MAIN/EXTENDED, only when not the type's default
    compression: str | None = None  # pglz / lz4, only when set on the column
    statistics: int | None = None
    comment: str | None = None
    grants: tuple[Grant, ...] = ()
    type_ref: tuple[str, str] | None = None  # user-defined type used: (schema, name)
    # Comes only from a parent (INHERITS or a partition's parent): not declared locally.
    inherited: bool = False


@dataclass(frozen=True, slots=True)
class Constraint:
    """Primary key, unique, foreign key, check or exclusion constraint of a table."""

    name: str
    kind: str  # 'p' primary key, 'u' unique, 'f' foreign key, 'c' check, 'x' exclusion
    definition: str  # pg_get_constraintdef(): "FOREIGN KEY (a) REFERENCES s.t(b) ON DELETE CASCADE"
    columns: tuple[str, ...] = ()
    ref_table: QualifiedName | None = None  # foreign keys
    ref_columns: tuple[str, ...] = ()
    validated: bool = True
    comment: str | None = None
    inherited: bool = False  # comes from a parent table (partitions, INHERITS): not ours to manage
    # A partition's key whose index is attached to this index of the parent (pg_inherits).
    index_parent: QualifiedName | None = None


@dataclass(frozen=True, slots=True)
class Index:
    name: str
    definition: str  # pg_get_indexdef(): the whole CREATE [UNIQUE] INDEX statement
    unique: bool = False
    columns: tuple[str, ...] = ()  # plain columns it uses (empty entries for expressions)
    clustered: bool = False
    comment: str | None = None
    parent: QualifiedName | None = None  # partition index attached to this parent index
    # pg_index.indisvalid: False for a partitioned table's index built ON ONLY and not yet
    # attached on every partition, or an index a failed CREATE INDEX CONCURRENTLY left.
    valid: bool = True

    @property
    def unnamed_definition(self) -> str:
        """The definition without the index name, to recognise a renamed index."""
        head, _, rest = self.definition.partition(" ON ")
        return head.rsplit(" ", 1)[0] + " ON " + rest


@dataclass(frozen=True, slots=True)
class Trigger:
    name: str
    definition: str  # pg_get_triggerdef()
    enabled: str = "O"  # pg_trigger.tgenabled
    function: QualifiedName | None = None
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    command: str  # ALL, SELECT, INSERT, UPDATE, DELETE
    permissive: bool = True
    roles: tuple[str, ...] = ("PUBLIC",)
    using: str | None = None
    with_check: str | None = None
    comment: str | None = None


@dataclass(frozen=True, slots=True, weakref_slot=True)  # (introspect shares them)
class Table:
    schema: str
    name: str
    columns: tuple[Column, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    indexes: tuple[Index, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    policies: tuple[Policy, ...] = ()
    partition_key: str | None = None  # pg_get_partkeydef() for partitioned tables
    partition_of: QualifiedName | None = None
    partition_bound: str | None = None  # "FOR VALUES FROM (1) TO (10)", "DEFAULT"
    inherits: tuple[QualifiedName, ...] = ()
    unlogged: bool = False
    rls_enabled: bool = False
    rls_forced: bool = False
    replica_identity: str = "d"  # d default, n nothing, f full, i index
    options: tuple[str, ...] = ()  # reloptions: "fillfactor=70"
    comment: str | None = None
    grants: tuple[Grant, ...] = ()

    @property
    def key(self) -> tuple[str, ...]:
        return ("table", self.schema, self.name)

    @property
    def sql_name(self) -> str:
        return qname(self.schema, self.name)

    @property
    def qualified(self) -> QualifiedName:
        return (self.schema, self.name)

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True, slots=True, weakref_slot=True)  # (introspect shares them)
class View:
    schema: str
    name: str
    definition: str  # pg_get_viewdef(): the SELECT
    materialized: bool = False
    columns: tuple[tuple[str, str], ...] = ()  # (name, type)
    options: tuple[str, ...] = ()  # reloptions: "security_barrier=true", "check_option=local"
    indexes: tuple[Index, ...] = ()  # materialized views only
    depends_on: tuple[tuple[str, ...], ...] = ()  # keys of the relations and functions it reads
    column_deps: tuple[tuple[str, str, str], ...] = ()  # (schema, table, column) it reads
    triggers: tuple[Trigger, ...] = ()  # INSTEAD OF (and statement) triggers of a view
    comment: str | None = None
    grants: tuple[Grant, ...] = ()

    @property
    def key(self) -> tuple[str, ...]:
        return ("view", self.schema, self.name)

    @property
    def sql_name(self) -> str:
        return qname(self.schema, self.name)

    @property
    def kind_sql(self) -> str:
        return "MATERIALIZED VIEW" if self.materialized else "VIEW"


@dataclass(frozen=True, slots=True, weakref_slot=True)  # (introspect shares them)
class Function:
    """A function or procedure. Overloads are told apart by their identity arguments."""

    schema: str
    name: str
    identity_args: str  # pg_get_function_identity_arguments(): "a integer, b text"
    kind: str  # 'f' function, 'p' procedure
    definition: str  # pg_get_functiondef(): the whole CREATE OR REPLACE statement
    result: str | None = None  # pg_get_function_result()
    arg_names_types: str = ""  # pg_get_function_arguments(): with defaults, for CREATE OR REPLACE
    depends_on: tuple[tuple[str, ...], ...] = ()
    comment: str | None = None
    grants: tuple[Grant, ...] = ()

    @property
    def key(self) -> tuple[str, ...]:
        return ("function", self.schema, self.name, self.identity_args)

    @property
    def sql_name(self) -> str:
        return f"{qname(self.schema, self.name)}({self.identity_args})"

    @property
    def kind_sql(self) -> str:
        return "PROCEDURE" if self.kind == "p" else "FUNCTION"


@dataclass(frozen=True, slots=True)
class OutsideKey:
    """A foreign key of a table in a schema trimtab does not manage, onto a managed table:
    never planned, but what it needs must stay."""

    schema: str
    table: str
    name: str
    ref_table: QualifiedName
    ref_columns: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Owner:
    """The owner a schema file declares for one object (ALTER ... OWNER TO, CREATE SCHEMA
    ... AUTHORIZATION), or the owner that object has in a live database. Only declared
    owners are ever planned: an object whose owner the file does not declare keeps its own."""

    target: tuple[str, ...]  # the object's key
    role: str


SchemaObject = (
    Schema | Extension | Collation | EnumType | Domain | CompositeType | Sequence | Table | View
    | Function
)


@dataclass(frozen=True, slots=True)
class Model:
    """A whole database schema. Each mapping is keyed by the object's ``key``."""

    schemas: Mapping[tuple[str, ...], Schema] = field(default_factory=dict)
    extensions: Mapping[tuple[str, ...], Extension] = field(default_factory=dict)
    types: Mapping[tuple[str, ...], EnumType | Domain | CompositeType] = field(
        default_factory=dict
    )
    sequences: Mapping[tuple[str, ...], Sequence] = field(default_factory=dict)
    tables: Mapping[tuple[str, ...], Table] = field(default_factory=dict)
    views: Mapping[tuple[str, ...], View] = field(default_factory=dict)
    functions: Mapping[tuple[str, ...], Function] = field(default_factory=dict)
    collations: Mapping[tuple[str, ...], Collation] = field(default_factory=dict)
    # Declared owners (desired side), the same objects' owners (live side); never read from
    # a shadow, whose objects all belong to the sandbox.
    owners: tuple[Owner, ...] = ()
    # Kinds of objects present but not modelled: "3 event triggers". Never diffed or dropped,
    # always reported.
    unmanaged: tuple[str, ...] = ()
    outside_keys: tuple[OutsideKey, ...] = ()  # onto this model's tables, from outside it
    server_version: int = 0  # server_version_num of the database it came from

    def objects(self) -> Iterator[SchemaObject]:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Mapping):
                yield from value.values()

    def table(self, schema: str, name: str) -> Table | None:
        return self.tables.get(("table", schema, name))

    def relation(self, schema: str, name: str) -> Table | View | None:
        return self.tables.get(("table", schema, name)) or self.views.get(("view", schema, name))

    def with_(self, **changes: Any) -> Model:
        return replace(self, **changes)


def make_model(objects: list[SchemaObject], **kw: Any) -> Model:
    """Build a Model from a flat list of objects (used by readers and tests)."""
    buckets: dict[str, Any] = {  # Model's keyword arguments: mappings keyed by `key`
        "schemas": {},
        "extensions": {},
        "types": {},
        "sequences": {},
        "tables": {},
        "views": {},
        "functions": {},
        "collations": {},
    }
    where = {
        Schema: "schemas",
        Extension: "extensions",
        EnumType: "types",
        Domain: "types",
        CompositeType: "types",
        Sequence: "sequences",
        Table: "tables",
        View: "views",
        Function: "functions",
        Collation: "collations",
    }
    for obj in objects:
        buckets[where[type(obj)]][obj.key] = obj
    return Model(**buckets, **kw)


def _lean_pickling(cls: type) -> None:
    """Pickle a model class's instances as the tuple of their field values. The slotted
    dataclass default builds a list per object and calls ``fields()`` per object on load:
    pickling a 5,000-table model took twice as long."""
    names = tuple(f.name for f in fields(cls))
    get = operator.attrgetter(*names)
    put = object.__setattr__

    def getstate(self: object) -> tuple[Any, ...]:
        return get(self) if len(names) > 1 else (get(self),)

    def setstate(self: object, state: tuple[Any, ...]) -> None:
        for name, value in zip(names, state, strict=True):
            put(self, name, value)

    setattr(cls, "__getstate__", getstate)  # noqa: B010 (methods set on the class)
    setattr(cls, "__setstate__", setstate)  # noqa: B010


# Every model class of this module: one added later pickles lean too.
for _cls in {c for c in list(globals().values())
             if isinstance(c, type) and is_dataclass(c) and c.__module__ == __name__}:
    _lean_pickling(_cls)
