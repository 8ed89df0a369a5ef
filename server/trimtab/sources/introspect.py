"""Live database -> model, from ``pg_catalog`` (PostgreSQL 14-18).

One query per kind of object, each returning every row of that kind at once, so the cost
does not grow with round trips: a 1,000-table schema comes back in a fraction of a second.
``information_schema`` is not used (slower, and it lacks indexes, enums, partitions, RLS...).

Canonical text: while the queries run, the session's ``search_path`` is empty, so
``format_type``, ``pg_get_expr``, ``pg_get_constraintdef``, ``pg_get_indexdef``,
``pg_get_viewdef``, ``pg_get_triggerdef`` and ``pg_get_functiondef`` schema-qualify every name
outside ``pg_catalog`` (``public.users``, ``public.mood``). The desired side is a shadow database
introspected by this same code, so both sides of a diff are rendered the same way. The
previous ``search_path`` is restored afterwards.

Conventions (both sides follow them, so equal databases give equal models):

* Grants: the privileges held by roles *other than the object's owner*, sorted by (grantee,
  privilege). A NULL ACL means PostgreSQL's built-in defaults (``acldefault``): nothing for
  tables, views, sequences and schemas, ``PUBLIC`` ``EXECUTE`` for functions and procedures,
  ``PUBLIC`` ``USAGE`` for enums and domains. So ``CREATE TABLE t`` and
  ``CREATE TABLE t; GRANT SELECT ON t TO r; REVOKE SELECT ON t FROM r`` compare equal.
  The grantor is not recorded. Column grants come from ``attacl``.
* Collations (columns, domains, composite attributes) are only set when they differ from the
  type's own collation, rendered ``quote_ident(schema) || '.' || quote_ident(name)``:
  ``pg_catalog."C"``, ``public.german``.
* Everything is sorted in Python by name, never by the database's collation.
* Objects that belong to an extension (``pg_depend.deptype = 'e'``) are never in the model;
  the extension itself is.
"""

from __future__ import annotations

import collections.abc as abc
import dataclasses
import sys
import threading
import weakref
from typing import Any, TypeVar, overload

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row
from psycopg.types.numeric import Oid

from trimtab.model import (
    Collation,
    Column,
    CompositeType,
    Constraint,
    Domain,
    DomainCheck,
    EnumType,
    Extension,
    Function,
    Grant,
    Identity,
    Index,
    Model,
    OutsideKey,
    Owner,
    Policy,
    Schema,
    Sequence,
    Table,
    Trigger,
    View,
    identity_sequence_name,
)

__all__ = ["introspect"]


# Names, types, defaults and short definitions repeat across the rows of a big schema
# ("id", "bigint", "now()", "public", "PRIMARY KEY (id)"): each row brings its own copy,
# and at 10,000 tables the copies were a third of a model. Interned, one string serves
# every column, and both models of a diff (and the pickled model) share it. Long texts
# (view bodies, functions, most definitions) are rarely repeated: kept as they come.
_SHARED_MAX = 64

T = TypeVar("T")

STREAM_CHUNK = 2000  # rows of a large result read at a time (see introspect)


@overload
def _s(text: str) -> str: ...
@overload
def _s(text: str | None) -> str | None: ...
def _s(text: str | None) -> str | None:
    return sys.intern(text) if text is not None and len(text) <= _SHARED_MAX else text


def _ss(texts: abc.Iterable[str] | None) -> tuple[str, ...]:
    return tuple(sys.intern(t) if len(t) <= _SHARED_MAX else t for t in texts or ())


def _not_ext(catalog: str, oid_expr: str) -> str:
    """SQL condition: the object is not a member of an extension, nor (except relations) an
    internal part of another object, such as the constructor functions and the cast that
    come with a range type. Identity sequences are internal parts of their column but are
    wanted (for Column.identity), hence the exception."""
    deptypes = "'e'" if catalog == "pg_class" else "'e', 'i'"
    return (
        "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e "
        f"WHERE e.classid = 'pg_catalog.{catalog}'::pg_catalog.regclass "
        f"AND e.objid = {oid_expr} AND e.deptype IN ({deptypes}))"
    )


def _comment(catalog: str, oid_expr: str, alias: str, subid: str = "0") -> str:
    """SQL join fragment: the comment of an object as ``{alias}.description``."""
    return (
        f"LEFT JOIN pg_catalog.pg_description {alias} ON {alias}.objoid = {oid_expr} "
        f"AND {alias}.classoid = 'pg_catalog.{catalog}'::pg_catalog.regclass "
        f"AND {alias}.objsubid = {subid}"
    )


def _collation(coll_oid: str, default_oid: str) -> str:
    """SQL expression: the quoted collation when it differs from the type's default."""
    return (
        f"(SELECT pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname)"
        f" FROM pg_catalog.pg_collation co"
        f" JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace"
        f" WHERE co.oid = {coll_oid} AND {coll_oid} <> 0 AND {coll_oid} <> {default_oid})"
    )


# Schemas that hold migration tools' bookkeeping (trimtab's tracking table, drizzle-kit's
# __drizzle_migrations): never part of anyone's declared schema, never managed by default.
TOOL_SCHEMAS = "{trimtab,drizzle}"

SQL_NAMESPACES = f"""
SELECT n.oid, n.nspname::text, d.description
FROM pg_catalog.pg_namespace n
{_comment("pg_namespace", "n.oid", "d")}
WHERE CASE WHEN %(names)s::text[] IS NULL THEN
        n.nspname <> 'pg_catalog' AND n.nspname <> 'information_schema'
        AND n.nspname !~ '^pg_toast' AND n.nspname !~ '^pg_temp_'
        AND n.nspname <> ALL ({TOOL_SCHEMAS!r}::text[])
        AND {_not_ext("pg_namespace", "n.oid")}
      ELSE n.nspname = ANY (%(names)s::text[]) END
"""

# Extensions installed in a managed schema, or owning their own schema (which is then
# excluded from the schemas, but the extension is still ours), or named by the schema source
# (an extension is the database's: wherever it lives now, the source says where it goes).
SQL_EXTENSIONS = f"""
SELECT x.extname::text, n.nspname::text, x.extversion,
       -- The comment CREATE EXTENSION sets from the control file is the extension's own,
       -- not the schema's: read as none, so no plan repeats it.
       NULLIF(d.description, (SELECT a.comment FROM pg_catalog.pg_available_extensions a
                              WHERE a.name = x.extname))
FROM pg_catalog.pg_extension x
JOIN pg_catalog.pg_namespace n ON n.oid = x.extnamespace
{_comment("pg_extension", "x.oid", "d")}
WHERE x.extnamespace = ANY (%(ns)s)
   OR x.extname = ANY (%(extnames)s::text[])
   OR (%(names)s::text[] IS NULL AND EXISTS (
         SELECT 1 FROM pg_catalog.pg_depend e
         WHERE e.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
           AND e.objid = x.extnamespace AND e.deptype = 'e'
           AND e.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND e.refobjid = x.oid))
"""

# User collations. Where the locale of an ICU (or builtin) collation is kept moved between
# versions: collcollate before 15, colliculocale in 15 and 16, colllocale from 17; ICU
# tailoring rules arrived in 16. The placeholders are filled per server version.
SQL_COLLATIONS = f"""
SELECT n.nspname::text, c.collname::text, c.collprovider::text,
       CASE WHEN c.collprovider <> 'c' THEN {{locale}} END,
       CASE WHEN c.collprovider = 'c' THEN c.collcollate::text END,
       CASE WHEN c.collprovider = 'c' THEN c.collctype::text END,
       c.collisdeterministic, {{rules}}, d.description
FROM pg_catalog.pg_collation c
JOIN pg_catalog.pg_namespace n ON n.oid = c.collnamespace
{_comment("pg_collation", "c.oid", "d")}
WHERE c.collnamespace = ANY (%(ns)s) AND {_not_ext("pg_collation", "c.oid")}
"""


def _collations_sql(version: int) -> str:
    locale = ("c.colllocale::text" if version >= 170000 else
              "c.colliculocale::text" if version >= 150000 else "c.collcollate::text")
    rules = "c.collicurules::text" if version >= 160000 else "NULL::text"
    return SQL_COLLATIONS.replace("{locale}", locale).replace("{rules}", rules)


SQL_TYPES = f"""
SELECT t.oid, n.nspname::text, t.typname::text, t.typtype::text, t.typrelid,
       CASE WHEN t.typtype = 'e' THEN ARRAY(
         SELECT l.enumlabel::text FROM pg_catalog.pg_enum l
         WHERE l.enumtypid = t.oid ORDER BY l.enumsortorder) END,
       CASE WHEN t.typtype = 'd' THEN pg_catalog.format_type(t.typbasetype, t.typtypmod) END,
       t.typnotnull,
       CASE WHEN t.typtype = 'd' THEN pg_catalog.pg_get_expr(t.typdefaultbin, 0) END,
       CASE WHEN t.typtype = 'd' THEN {_collation("t.typcollation", "bt.typcollation")} END,
       CASE WHEN t.typtype = 'd' THEN (
         SELECT pg_catalog.json_agg(pg_catalog.json_build_array(
                  c.conname::text, pg_catalog.pg_get_constraintdef(c.oid)))
         FROM pg_catalog.pg_constraint c WHERE c.contypid = t.oid AND c.contype = 'c') END,
       d.description
FROM pg_catalog.pg_type t
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_catalog.pg_type bt ON bt.oid = t.typbasetype
{_comment("pg_type", "t.oid", "d")}
WHERE t.typnamespace = ANY (%(ns)s)
  AND (t.typtype IN ('e', 'd')
       OR (t.typtype = 'c' AND EXISTS (SELECT 1 FROM pg_catalog.pg_class r
                                       WHERE r.oid = t.typrelid AND r.relkind = 'c')))
  AND {_not_ext("pg_type", "t.oid")}
"""

# Every sequence of the managed schemas, with what owns it: 'a' (OWNED BY a column) or
# 'i' (the sequence of an identity column).
SQL_SEQUENCES = f"""
SELECT c.oid, n.nspname::text, c.relname::text,
       pg_catalog.format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin,
       s.seqmax, s.seqcache, s.seqcycle, c.relpersistence = 'u', d.description,
       dep.deptype::text, dep.refobjid, dep.refobjsubid, tn.nspname::text, t.relname::text,
       a.attname::text
FROM pg_catalog.pg_sequence s
JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
{_comment("pg_class", "c.oid", "d")}
LEFT JOIN pg_catalog.pg_depend dep
       ON dep.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND dep.objid = c.oid
      AND dep.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
      AND dep.deptype IN ('a', 'i') AND dep.refobjsubid > 0
LEFT JOIN pg_catalog.pg_class t ON t.oid = dep.refobjid
LEFT JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = dep.refobjid AND a.attnum = dep.refobjsubid
WHERE c.relnamespace = ANY (%(ns)s) AND c.relkind = 'S'
  AND {_not_ext("pg_class", "c.oid")}
"""

SQL_RELATIONS = f"""
SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text, c.relpersistence = 'u',
       c.relrowsecurity, c.relforcerowsecurity, c.relreplident::text, c.reloptions,
       c.relispartition,
       CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END,
       CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid) END,
       d.description
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
{_comment("pg_class", "c.oid", "d")}
WHERE c.relnamespace = ANY (%(ns)s) AND c.relkind IN ('r', 'p', 'v', 'm')
  AND {_not_ext("pg_class", "c.oid")}
  AND (%(rels)s::pg_catalog.oid[] IS NULL OR c.oid = ANY (%(rels)s))
"""

SQL_RELATION_OIDS = """
SELECT c.oid FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND (n.nspname::text, c.relname::text) IN (
    SELECT * FROM ROWS FROM (pg_catalog.unnest(%(schemas)s::text[]),
                             pg_catalog.unnest(%(tables)s::text[])))
"""

# attcompression arrived in PostgreSQL 14; before it every column used pglz.
_COMPRESSION = "CASE a.attcompression WHEN 'p' THEN 'pglz' WHEN 'l' THEN 'lz4' END"

# Columns of tables, views and composite types, in one pass over pg_attribute.
SQL_COLUMNS = f"""
SELECT a.attrelid, a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod),
       a.attnotnull,
       CASE WHEN a.attgenerated = '' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) END,
       CASE WHEN a.attgenerated <> '' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) END,
       a.attgenerated::text, a.attidentity::text,
       {_collation("a.attcollation", "t.typcollation")},
       CASE WHEN a.attstorage <> t.typstorage THEN CASE a.attstorage
         WHEN 'p' THEN 'PLAIN' WHEN 'e' THEN 'EXTERNAL' WHEN 'm' THEN 'MAIN'
         WHEN 'x' THEN 'EXTENDED' END END,
       {_COMPRESSION},
       CASE WHEN a.attstattarget >= 0 THEN a.attstattarget::int END,
       d.description,
       CASE WHEN t.typcategory = 'A' AND t.typelem <> 0 THEN t.typelem ELSE t.oid END,
       a.attnum, NOT a.attislocal
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
{_comment("pg_class", "a.attrelid", "d", "a.attnum")}
WHERE c.relnamespace = ANY (%(ns)s) AND c.relkind IN ('r', 'p', 'v', 'm', 'c')
  AND a.attnum > 0 AND NOT a.attisdropped
  AND (%(rels)s::pg_catalog.oid[] IS NULL OR c.oid = ANY (%(rels)s) OR c.relkind = 'c')
"""

SQL_CONSTRAINTS = f"""
SELECT c.conrelid, c.conname::text, c.contype::text, pg_catalog.pg_get_constraintdef(c.oid),
       ARRAY(SELECT a.attname::text FROM pg_catalog.unnest(c.conkey) WITH ORDINALITY k(n, o)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n
             ORDER BY k.o),
       rn.nspname::text, r.relname::text,
       ARRAY(SELECT a.attname::text FROM pg_catalog.unnest(c.confkey) WITH ORDINALITY k(n, o)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n
             ORDER BY k.o),
       c.convalidated, c.coninhcount > 0 OR c.conparentid <> 0, d.description, c.conindid
FROM pg_catalog.pg_constraint c
JOIN pg_catalog.pg_class t ON t.oid = c.conrelid
LEFT JOIN pg_catalog.pg_class r ON r.oid = c.confrelid
LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace
{_comment("pg_constraint", "c.oid", "d")}
WHERE t.relnamespace = ANY (%(ns)s) AND c.contype IN ('p', 'u', 'f', 'c', 'x')
  AND (%(rels)s::pg_catalog.oid[] IS NULL OR c.conrelid = ANY (%(rels)s))
"""

# Indexes that do not back a primary key, unique or exclusion constraint.
SQL_INDEXES = f"""
SELECT i.indrelid, ic.relname::text, pg_catalog.pg_get_indexdef(i.indexrelid), i.indisunique,
       ARRAY(SELECT coalesce(a.attname::text, '')
             FROM pg_catalog.unnest(i.indkey::int2[]) WITH ORDINALITY k(n, o)
             LEFT JOIN pg_catalog.pg_attribute a
                    ON a.attrelid = i.indrelid AND a.attnum = k.n AND k.n <> 0
             ORDER BY k.o),
       i.indisclustered, d.description, i.indexrelid, i.indisvalid
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
{_comment("pg_class", "i.indexrelid", "d")}
WHERE ic.relnamespace = ANY (%(ns)s)
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
                  WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid
                    AND c.contype IN ('p', 'u', 'x'))
  AND (%(rels)s::pg_catalog.oid[] IS NULL OR i.indrelid = ANY (%(rels)s))
"""

# pg_inherits for tables (partitions, INHERITS) and indexes (partition indexes).
SQL_INHERITS = """
SELECT i.inhrelid, n.nspname::text, p.relname::text, i.inhseqno
FROM pg_catalog.pg_inherits i
JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
JOIN pg_catalog.pg_class p ON p.oid = i.inhparent
JOIN pg_catalog.pg_namespace n ON n.oid = p.relnamespace
WHERE c.relnamespace = ANY (%(ns)s)
"""

# Triggers inherited from a partitioned parent (tgparentid <> 0) are created by the parent's.
SQL_TRIGGERS = f"""
SELECT t.tgrelid, t.tgname::text, pg_catalog.pg_get_triggerdef(t.oid), t.tgenabled::text,
       pn.nspname::text, p.proname::text, d.description
FROM pg_catalog.pg_trigger t
JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid
JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace
{_comment("pg_trigger", "t.oid", "d")}
WHERE c.relnamespace = ANY (%(ns)s) AND NOT t.tgisinternal AND t.tgparentid = 0
  AND (%(rels)s::pg_catalog.oid[] IS NULL OR t.tgrelid = ANY (%(rels)s))
"""

SQL_POLICIES = f"""
SELECT p.polrelid, p.polname::text, p.polcmd::text, p.polpermissive,
       ARRAY(SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(r)::text END
             FROM pg_catalog.unnest(p.polroles) r),
       pg_catalog.pg_get_expr(p.polqual, p.polrelid),
       pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), d.description
FROM pg_catalog.pg_policy p
JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
{_comment("pg_policy", "p.oid", "d")}
WHERE c.relnamespace = ANY (%(ns)s)
  AND (%(rels)s::pg_catalog.oid[] IS NULL OR p.polrelid = ANY (%(rels)s))
"""

SQL_FUNCTIONS = f"""
SELECT p.oid, n.nspname::text, p.proname::text,
       pg_catalog.pg_get_function_identity_arguments(p.oid), p.prokind::text,
       pg_catalog.pg_get_functiondef(p.oid), pg_catalog.pg_get_function_result(p.oid),
       pg_catalog.pg_get_function_arguments(p.oid), d.description
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
{_comment("pg_proc", "p.oid", "d")}
WHERE p.pronamespace = ANY (%(ns)s) AND p.prokind IN ('f', 'p')
  AND {_not_ext("pg_proc", "p.oid")}
"""

# What views (through their _RETURN rule) and functions (SQL-standard bodies) depend on:
# relations, their columns, and functions.
SQL_DEPENDENCIES = """
WITH deps(src, refclassid, refobjid, refobjsubid) AS (
  SELECT r.ev_class, d.refclassid, d.refobjid, d.refobjsubid
  FROM pg_catalog.pg_rewrite r
  JOIN pg_catalog.pg_class v ON v.oid = r.ev_class
  JOIN pg_catalog.pg_depend d
    ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid
  WHERE v.relnamespace = ANY (%(ns)s) AND v.relkind IN ('v', 'm') AND r.rulename = '_RETURN'
    AND d.deptype = 'n' AND d.refobjid <> r.ev_class
    AND d.refclassid IN ('pg_catalog.pg_class'::pg_catalog.regclass,
                         'pg_catalog.pg_proc'::pg_catalog.regclass)
  UNION ALL
  SELECT p.oid, d.refclassid, d.refobjid, d.refobjsubid
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_depend d
    ON d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid
  WHERE p.pronamespace = ANY (%(ns)s) AND p.prokind IN ('f', 'p') AND d.deptype = 'n'
    AND d.refobjid <> p.oid
    AND d.refclassid IN ('pg_catalog.pg_class'::pg_catalog.regclass,
                         'pg_catalog.pg_proc'::pg_catalog.regclass)
  UNION ALL
  -- A table's row type in a function's signature (RETURNS SETOF users): the table first.
  SELECT p.oid, 'pg_catalog.pg_class'::pg_catalog.regclass::oid, t.typrelid, 0
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_depend d
    ON d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid
  JOIN pg_catalog.pg_type t ON t.oid = d.refobjid
  WHERE p.pronamespace = ANY (%(ns)s) AND p.prokind IN ('f', 'p') AND d.deptype = 'n'
    AND d.refclassid = 'pg_catalog.pg_type'::pg_catalog.regclass AND t.typrelid <> 0
    AND EXISTS (SELECT 1 FROM pg_catalog.pg_class r
                WHERE r.oid = t.typrelid AND r.relkind IN ('r', 'p', 'v', 'm'))
)
SELECT DISTINCT deps.src, rn.nspname::text, rc.relname::text, rc.relkind::text, a.attname::text,
       pn.nspname::text, rp.proname::text,
       CASE WHEN rp.oid IS NOT NULL
            THEN pg_catalog.pg_get_function_identity_arguments(rp.oid) END
FROM deps
LEFT JOIN pg_catalog.pg_class rc
       ON deps.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND rc.oid = deps.refobjid
LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
LEFT JOIN pg_catalog.pg_attribute a
       ON a.attrelid = rc.oid AND a.attnum = deps.refobjsubid AND deps.refobjsubid > 0
LEFT JOIN pg_catalog.pg_proc rp
       ON deps.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND rp.oid = deps.refobjid
LEFT JOIN pg_catalog.pg_namespace pn ON pn.oid = rp.pronamespace
"""

# Privileges of roles other than the owner; a NULL ACL stands for acldefault().
SQL_GRANTS = """
WITH acls(kind, objid, subid, owner, acl) AS (
  SELECT 'n', n.oid, 0, n.nspowner, coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner))
  FROM pg_catalog.pg_namespace n WHERE n.oid = ANY (%(ns)s)
  UNION ALL
  SELECT 'c', c.oid, 0, c.relowner,
         coalesce(c.relacl, pg_catalog.acldefault(
           CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner))
  FROM pg_catalog.pg_class c
  WHERE c.relnamespace = ANY (%(ns)s) AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
  UNION ALL
  SELECT 'a', a.attrelid, a.attnum, c.relowner, a.attacl
  FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
  WHERE a.attacl IS NOT NULL AND a.attnum > 0 AND c.relnamespace = ANY (%(ns)s)
  UNION ALL
  SELECT 't', t.oid, 0, t.typowner, coalesce(t.typacl, pg_catalog.acldefault('T', t.typowner))
  FROM pg_catalog.pg_type t WHERE t.typnamespace = ANY (%(ns)s)
    AND (t.typtype IN ('e', 'd') OR (t.typtype = 'c' AND EXISTS (
         SELECT 1 FROM pg_catalog.pg_class r WHERE r.oid = t.typrelid AND r.relkind = 'c')))
  UNION ALL
  SELECT 'f', p.oid, 0, p.proowner, coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))
  FROM pg_catalog.pg_proc p WHERE p.pronamespace = ANY (%(ns)s) AND p.prokind IN ('f', 'p')
)
SELECT acls.kind, acls.objid, acls.subid,
       CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(x.grantee)::text END,
       x.privilege_type, x.is_grantable
FROM acls, pg_catalog.aclexplode(acls.acl) x
WHERE x.grantee <> acls.owner
  -- In the sandboxed shadow the sandbox owns everything: the role that will own the objects
  -- on the target (trimtab.owner, set by sources/shadow.py) counts as their owner there.
  AND x.grantee IS DISTINCT FROM pg_catalog.to_regrole(
        NULLIF(pg_catalog.current_setting('trimtab.owner', true), ''))
"""

# (singular, plural, count expression) of the objects the model does not hold.
_UNMANAGED: list[tuple[str, str, str]] = [
    (
        "event trigger",
        "event triggers",
        f"SELECT count(*) FROM pg_catalog.pg_event_trigger o "
        f"WHERE {_not_ext('pg_event_trigger', 'o.oid')}",
    ),
    (
        "rule",
        "rules",
        "SELECT count(*) FROM pg_catalog.pg_rewrite o "
        "JOIN pg_catalog.pg_class c ON c.oid = o.ev_class "
        "WHERE c.relnamespace = ANY (%(ns)s) AND o.rulename <> '_RETURN' "
        f"AND {_not_ext('pg_class', 'c.oid')}",
    ),
    (
        "foreign table",
        "foreign tables",
        "SELECT count(*) FROM pg_catalog.pg_class o "
        "WHERE o.relnamespace = ANY (%(ns)s) AND o.relkind = 'f' "
        f"AND {_not_ext('pg_class', 'o.oid')}",
    ),
    (
        "aggregate",
        "aggregates",
        "SELECT count(*) FROM pg_catalog.pg_proc o "
        "WHERE o.pronamespace = ANY (%(ns)s) AND o.prokind = 'a' "
        f"AND {_not_ext('pg_proc', 'o.oid')}",
    ),
    (
        "window function",
        "window functions",
        "SELECT count(*) FROM pg_catalog.pg_proc o "
        "WHERE o.pronamespace = ANY (%(ns)s) AND o.prokind = 'w' "
        f"AND {_not_ext('pg_proc', 'o.oid')}",
    ),
    (
        "range type",
        "range types",
        "SELECT count(*) FROM pg_catalog.pg_type o "
        "WHERE o.typnamespace = ANY (%(ns)s) AND o.typtype = 'r' "
        f"AND {_not_ext('pg_type', 'o.oid')}",
    ),
    (
        "base type",
        "base types",
        "SELECT count(*) FROM pg_catalog.pg_type o "
        "WHERE o.typnamespace = ANY (%(ns)s) AND o.typtype = 'b' AND o.typcategory <> 'A' "
        f"AND {_not_ext('pg_type', 'o.oid')}",
    ),
    (
        "extended statistics object",
        "extended statistics objects",
        "SELECT count(*) FROM pg_catalog.pg_statistic_ext o "
        "WHERE o.stxnamespace = ANY (%(ns)s) "
        f"AND {_not_ext('pg_statistic_ext', 'o.oid')}",
    ),
    (
        "operator",
        "operators",
        "SELECT count(*) FROM pg_catalog.pg_operator o "
        "WHERE o.oprnamespace = ANY (%(ns)s) "
        f"AND {_not_ext('pg_operator', 'o.oid')}",
    ),
    (
        "operator class",
        "operator classes",
        "SELECT count(*) FROM pg_catalog.pg_opclass o "
        "WHERE o.opcnamespace = ANY (%(ns)s) "
        f"AND {_not_ext('pg_opclass', 'o.oid')}",
    ),
    (
        "operator family",
        "operator families",
        "SELECT count(*) FROM pg_catalog.pg_opfamily o "
        "WHERE o.opfnamespace = ANY (%(ns)s) "
        f"AND {_not_ext('pg_opfamily', 'o.oid')}",
    ),
    (
        "text search configuration",
        "text search configurations",
        "SELECT count(*) FROM pg_catalog.pg_ts_config o "
        "WHERE o.cfgnamespace = ANY (%(ns)s) "
        f"AND {_not_ext('pg_ts_config', 'o.oid')}",
    ),
    (
        "text search dictionary",
        "text search dictionaries",
        "SELECT count(*) FROM pg_catalog.pg_ts_dict o "
        "WHERE o.dictnamespace = ANY (%(ns)s) "
        f"AND {_not_ext('pg_ts_dict', 'o.oid')}",
    ),
    (
        "conversion",
        "conversions",
        "SELECT count(*) FROM pg_catalog.pg_conversion o "
        "WHERE o.connamespace = ANY (%(ns)s) "
        f"AND {_not_ext('pg_conversion', 'o.oid')}",
    ),
    (
        "cast",
        "casts",
        "SELECT count(*) FROM pg_catalog.pg_cast o WHERE o.oid >= 16384 "
        f"AND {_not_ext('pg_cast', 'o.oid')}",
    ),
    (
        "publication",
        "publications",
        "SELECT count(*) FROM pg_catalog.pg_publication o",
    ),
    (
        "default privileges entry",
        "default privileges entries",
        "SELECT count(*) FROM pg_catalog.pg_default_acl o",
    ),
]

SQL_UNMANAGED = "SELECT " + ",\n       ".join(f"({sql})" for _, _, sql in _UNMANAGED)

_POLICY_COMMANDS = {"r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE", "*": "ALL"}


def introspect(conn: psycopg.Connection[Any], schemas: abc.Sequence[str] | None = None,
               tables: abc.Collection[tuple[str, str]] | None = None,
               extension_names: abc.Collection[str] = (), like: Model | None = None) -> Model:
    """Read the schema of the database behind ``conn`` into a Model.

    ``schemas`` are the managed schema names; None means every schema except the system ones
    (``pg_catalog``, ``information_schema``, ``pg_toast*``, ``pg_temp_*``), migration tools'
    bookkeeping (``trimtab``, ``drizzle``) and those that belong to an extension. The
    connection may be in a transaction; nothing is committed, and
    no server-side prepared statement is used.

    ``tables``: (schema, name) pairs to read the relations of, for a model to be merged
    into one read before: then the model holds only those of them that exist, and no view;
    everything else (types, sequences, functions, ...) is read whole.

    ``extension_names``: extensions to read wherever they are installed.

    ``like``: a model the database is expected to hold much of (what the migrations just
    applied were made from): the tables, columns, constraints and indexes read that are
    equal to its own are its objects, so that the two models share them.
    """
    cur = conn.cursor(row_factory=tuple_row)

    def q(sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        cur.execute(sql, params, prepare=False)
        return cur.fetchall()

    # The large results (a row per column, constraint, index) in chunks: fetchall held a
    # whole result twice over, libpq's copy and its Python rows, while the model was made
    # of it (some 90 MB at 10,000 tables). Each stream is closed in the end (which reads
    # what is left of it), so that an error part-way leaves the connection usable.
    streams: list[abc.Generator[tuple[Any, ...], None, None]] = []

    def rows(sql: str, params: dict[str, Any] | None = None
             ) -> abc.Iterator[tuple[Any, ...]]:
        def stream() -> abc.Generator[tuple[Any, ...], None, None]:
            yield from cur.stream(sql, params, size=STREAM_CHUNK)  # closed with its caller
        streams.append(gen := stream())
        return gen

    saved = q("SELECT pg_catalog.current_setting('search_path')")[0][0]
    # Inside a transaction (the caller's, or the one psycopg just opened outside autocommit)
    # the change is transaction-local, so the caller's SET LOCAL and session values both
    # survive; in autocommit mode every statement is its own transaction: set the session.
    local = conn.info.transaction_status == TransactionStatus.INTRANS
    set_path = "SELECT pg_catalog.set_config('search_path', %(p)s, %(local)s)"
    q(set_path, {"p": "", "local": local})
    try:
        return _read(q, rows, schemas, tables, extension_names, like)
    finally:
        for gen in streams:
            gen.close()
        # After an error inside a transaction, its rollback restores the setting.
        if conn.info.transaction_status != TransactionStatus.INERROR:
            q(set_path, {"p": saved, "local": local})
        cur.close()


def _read(q: Any, rows: Any, schemas: abc.Sequence[str] | None,
          tables: abc.Collection[tuple[str, str]] | None = None,
          extension_names: abc.Collection[str] = (), like: Model | None = None) -> Model:
    version = int(q("SELECT pg_catalog.current_setting('server_version_num')")[0][0])
    # Parts equal to ``like``'s are its objects: each one read is let go as it is made,
    # not kept beside its equal (a second model of 10,000 tables, read at generate's peak).
    shared: dict[Any, Any] = {}
    for t in like.tables.values() if like is not None else ():
        for part in (t.columns, t.constraints, t.indexes):
            for obj in part:
                shared.setdefault(obj, obj)

    def share(obj: T) -> T:
        return shared.setdefault(obj, obj) if shared else obj

    def same(table: Table) -> Table:
        known = like.tables.get(table.key) if like is not None else None
        return known if known == table else table
    names = list(schemas) if schemas is not None else None

    ns_rows = q(SQL_NAMESPACES, {"names": names})
    ns = [Oid(r[0]) for r in ns_rows]
    rels = None
    if tables is not None:
        rels = [Oid(r[0]) for r in q(SQL_RELATION_OIDS, {
            "schemas": [s for s, _ in tables], "tables": [n for _, n in tables]})]
    p = {"ns": ns, "names": names, "rels": rels, "extnames": sorted(extension_names)}

    # -- grants, keyed by (kind, oid, subid) ------------------------------------------------
    # The same privilege granted by several grantors counts once (grantable if any says so).
    grants: dict[tuple[str, int, int], dict[tuple[str, str], bool]] = {}
    for kind, objid, subid, grantee, privilege, grantable in rows(SQL_GRANTS, p):
        held = grants.setdefault((kind, objid, subid), {})
        held[(grantee, privilege)] = held.get((grantee, privilege), False) or grantable

    def grants_of(kind: str, oid: int, subid: int = 0) -> tuple[Grant, ...]:
        held = grants.get((kind, oid, subid))
        if not held:
            return ()
        return tuple(
            Grant(grantee=sys.intern(grantee), privilege=sys.intern(privilege),
                  grantable=grantable)
            for (grantee, privilege), grantable in sorted(held.items())
        )

    # -- schemas and extensions -------------------------------------------------------------
    schema_objs = [
        Schema(name=name, comment=comment, grants=grants_of("n", oid))
        for oid, name, comment in ns_rows
    ]
    extensions = [
        Extension(name=name, schema=schema, version=version_, comment=comment)
        for name, schema, version_, comment in q(SQL_EXTENSIONS, p)
    ]

    collations = [
        Collation(schema=schema, name=name, provider=provider, locale=locale,
                  lc_collate=lc_collate, lc_ctype=lc_ctype, deterministic=deterministic,
                  rules=rules, comment=comment)
        for schema, name, provider, locale, lc_collate, lc_ctype, deterministic, rules, comment
        in q(_collations_sql(version), p)
    ]

    # -- types --------------------------------------------------------------------------------
    # Before the columns, which refer to them; a composite type's attributes are its
    # relation's columns, filled in below.
    types: list[EnumType | Domain | CompositeType] = []
    composites: list[tuple[int, CompositeType]] = []
    type_names: dict[int, tuple[str, str]] = {}
    for (
        oid,
        schema,
        name,
        typtype,
        typrelid,
        labels,
        base,
        notnull,
        default,
        collation,
        checks,
        comment,
    ) in q(SQL_TYPES, p):
        type_names[oid] = (schema, name)
        if typtype == "e":
            types.append(
                EnumType(
                    schema=schema,
                    name=name,
                    values=tuple(labels),
                    comment=comment,
                    grants=grants_of("t", oid),
                )
            )
        elif typtype == "d":
            types.append(
                Domain(
                    schema=schema,
                    name=name,
                    base_type=base,
                    not_null=notnull,
                    default=default,
                    collation=collation,
                    checks=tuple(
                        sorted(
                            (DomainCheck(name=n, definition=dfn) for n, dfn in checks or ()),
                            key=lambda c: c.name,
                        )
                    ),
                    comment=comment,
                    grants=grants_of("t", oid),
                )
            )
        else:
            composites.append((typrelid, CompositeType(
                schema=schema,
                name=name,
                attributes=(),
                comment=comment,
                grants=grants_of("t", oid),
            )))

    # -- sequences (identity sequences become Column.identity) --------------------------------
    sequences: list[Sequence] = []
    identities: dict[tuple[int, int], tuple[Any, ...]] = {}
    for row in q(SQL_SEQUENCES, p):
        (oid, schema, name, dtype, start, inc, lo, hi, cache, cycle, unlogged, comment) = row[:12]
        deptype, refobjid, refobjsubid, tschema, tname, attname = row[12:]
        if deptype == "i":
            identities[(refobjid, refobjsubid)] = row
            continue
        sequences.append(
            Sequence(
                schema=schema,
                name=name,
                data_type=dtype,
                start=start,
                increment=inc,
                min_value=lo,
                max_value=hi,
                cache=cache,
                cycle=cycle,
                owned_by=(tschema, tname, attname) if deptype == "a" else None,
                unlogged=unlogged,
                comment=comment,
                grants=grants_of("c", oid),
            )
        )

    # -- columns (tables, views, composite types), grouped by relation -----------------------
    # Each row made into its column as it comes (not held: 120,000 rows at 10,000 tables).
    # Columns equal in every field (the "id", "created_at", "tags" of many tables) are one
    # object: at 5,000 tables, 60,000 columns held 689 different ones.
    columns_seen: dict[Column, Column] = shared
    numbered: dict[int, list[tuple[int, Column]]] = {}
    sql_columns = (SQL_COLUMNS if version >= 140000
                   else SQL_COLUMNS.replace(_COMPRESSION, "NULL::text"))
    for row in rows(sql_columns, p):
        relid, attnum = row[0], row[14]
        identity = identities.get((relid, attnum))
        c = _column(row, identity, type_names, grants_of("a", relid, attnum),
                    identity[16] if identity is not None else "")
        numbered.setdefault(relid, []).append((attnum, columns_seen.setdefault(c, c)))
    columns: dict[int, tuple[Column, ...]] = {}
    for relid, cs in numbered.items():
        cs.sort(key=lambda n: n[0])
        columns[relid] = tuple(c for _, c in cs)
    del numbered
    types.extend(
        dataclasses.replace(t, attributes=tuple(
            (c.name, f"{c.type} COLLATE {c.collation}" if c.collation else c.type)
            for c in columns.get(relid, ())))
        for relid, t in composites)

    # -- per-relation parts ---------------------------------------------------------------------
    relations = q(SQL_RELATIONS, p)

    parents: dict[int, list[tuple[int, tuple[str, str]]]] = {}
    for relid, pschema, pname, seqno in q(SQL_INHERITS, p):
        parents.setdefault(relid, []).append((seqno, (pschema, pname)))

    constraints: dict[int, list[Constraint]] = {}
    for (
        relid,
        name,
        kind,
        definition,
        cols,
        ref_schema,
        ref_name,
        ref_cols,
        validated,
        inherited,
        comment,
        indid,
    ) in rows(SQL_CONSTRAINTS, p):
        index_parent = parents.get(indid) if kind in ("p", "u", "x") else None
        constraints.setdefault(relid, []).append(share(
            Constraint(
                name=name,
                kind=sys.intern(kind),
                definition=_s(definition),
                columns=_ss(cols),
                ref_table=(_s(ref_schema), _s(ref_name))
                if ref_name is not None else None,
                ref_columns=_ss(ref_cols),
                validated=validated,
                comment=comment,
                inherited=inherited,
                index_parent=index_parent[0][1] if index_parent else None,
            )
        ))

    indexes: dict[int, list[Index]] = {}
    for (relid, name, definition, unique, cols, clustered, comment, indexrelid,
         valid) in rows(SQL_INDEXES, p):
        parent = parents.get(indexrelid)
        indexes.setdefault(relid, []).append(share(
            Index(
                name=name,
                definition=definition,
                unique=unique,
                columns=_ss(cols),
                clustered=clustered,
                comment=comment,
                parent=parent[0][1] if parent else None,
                valid=valid,
            )
        ))

    triggers: dict[int, list[Trigger]] = {}
    for relid, name, definition, enabled, fschema, fname, comment in rows(SQL_TRIGGERS, p):
        triggers.setdefault(relid, []).append(
            Trigger(
                name=name,
                definition=definition,
                enabled=enabled,
                function=(fschema, fname),
                comment=comment,
            )
        )

    policies: dict[int, list[Policy]] = {}
    for relid, name, cmd, permissive, roles, using, check, comment in rows(SQL_POLICIES, p):
        policies.setdefault(relid, []).append(
            Policy(
                name=name,
                command=_POLICY_COMMANDS[cmd],
                permissive=permissive,
                roles=tuple(sorted(roles)),
                using=using,
                with_check=check,
                comment=comment,
            )
        )

    depends: dict[int, set[tuple[str, ...]]] = {}
    column_deps: dict[int, set[tuple[str, str, str]]] = {}
    for src, rschema, rname, relkind, attname, fschema, fname, fargs in rows(SQL_DEPENDENCIES, p):
        if rname is not None:
            depends.setdefault(src, set()).add((_relation_kind(relkind), rschema, rname))
            if attname is not None:
                column_deps.setdefault(src, set()).add((rschema, rname, attname))
        elif fname is not None:
            depends.setdefault(src, set()).add(("function", fschema, fname, fargs))

    def by_name(items: list[Any] | None) -> tuple[Any, ...]:
        return tuple(sorted(items or (), key=lambda o: (o.name, getattr(o, "definition", ""))))

    table_objs: list[Table] = []
    views: list[View] = []
    for (
        oid,
        schema,
        name,
        relkind,
        unlogged,
        rls,
        rls_forced,
        replident,
        reloptions,
        is_partition,
        partkey,
        partbound,
        viewdef,
        comment,
    ) in relations:
        cols = columns.get(oid, ())
        if relkind in ("v", "m"):
            views.append(
                View(
                    schema=schema,
                    name=name,
                    definition=viewdef,
                    materialized=relkind == "m",
                    columns=tuple((c.name, c.type) for c in cols),
                    options=tuple(sorted(reloptions or ())),
                    indexes=by_name(indexes.get(oid)),
                    depends_on=tuple(sorted(depends.get(oid, ()))),
                    column_deps=tuple(sorted(column_deps.get(oid, ()))),
                    triggers=by_name(triggers.get(oid)),
                    comment=comment,
                    grants=grants_of("c", oid),
                )
            )
            continue
        inh = [qn for _, qn in sorted(parents.get(oid, ()))]
        table_objs.append(same(
            Table(
                schema=_s(schema),
                name=_s(name),
                columns=cols,
                constraints=by_name(constraints.get(oid)),
                indexes=by_name(indexes.get(oid)),
                triggers=by_name(triggers.get(oid)),
                policies=by_name(policies.get(oid)),
                partition_key=partkey,
                partition_of=inh[0] if is_partition and inh else None,
                partition_bound=partbound,
                inherits=() if is_partition else tuple(inh),
                unlogged=unlogged,
                rls_enabled=rls,
                rls_forced=rls_forced,
                replica_identity=replident,
                options=tuple(sorted(reloptions or ())),
                comment=comment,
                grants=grants_of("c", oid),
            )
        ))

    # -- functions and procedures ---------------------------------------------------------------
    functions = [
        Function(
            schema=schema,
            name=name,
            identity_args=identity_args,
            kind=kind,
            definition=definition,
            result=result,
            arg_names_types=args or "",
            depends_on=tuple(sorted(depends.get(oid, ()))),
            comment=comment,
            grants=grants_of("f", oid),
        )
        for oid, schema, name, identity_args, kind, definition, result, args, comment in q(
            SQL_FUNCTIONS, p
        )
    ]

    # -- what the model does not hold -------------------------------------------------------------
    counts = q(SQL_UNMANAGED, p)[0]
    unmanaged = tuple(
        f"{n} {singular if n == 1 else plural}"
        for (singular, plural, _), n in zip(_UNMANAGED, counts, strict=True)
        if n
    )

    def keyed(objs: list[Any]) -> dict[tuple[str, ...], Any]:
        return {o.key: _shared(o) for o in sorted(objs, key=lambda o: o.key)}

    return Model(
        schemas=keyed(schema_objs),
        extensions=keyed(extensions),
        types=keyed(types),
        sequences=keyed(sequences),
        tables=keyed(table_objs),
        views=keyed(views),
        functions=keyed(functions),
        collations=keyed(collations),
        unmanaged=unmanaged,
        server_version=version,
    )


# The objects of earlier reads still in use, by key. The language server holds three reads
# of mostly the same tables at once: the database's model, the engine's last read of it for
# a plan, and the shadow's model of the schema file (the desired one); at 10,000 tables each
# took some 20 MiB. A read's object equal to the one kept under its key is that object
# (and a diff that meets the same object on both sides compares nothing). Weak: an object
# no model holds any more goes.
_SEEN: weakref.WeakValueDictionary[tuple[str, ...], Any] = weakref.WeakValueDictionary()
_SEEN_LOCK = threading.Lock()


def _shared(obj: Any) -> Any:
    """``obj``, or the equal object an earlier read made under its key (see _SEEN)."""
    if not hasattr(obj, "__weakref__"):
        return obj  # (a kind too small to be worth sharing)
    key = obj.key
    with _SEEN_LOCK:
        seen = _SEEN.get(key)
        if seen is not None and seen == obj:
            return seen
        _SEEN[key] = obj
    return obj


def shared_objects(model: Model) -> Model:
    """``model`` (unpickled, say) with the objects of earlier reads it equals (see _SEEN)."""
    shared: dict[str, Any] = {
        f.name: {k: _shared(v) for k, v in getattr(model, f.name).items()}
        for f in dataclasses.fields(model) if isinstance(getattr(model, f.name), abc.Mapping)}
    return dataclasses.replace(model, **shared)


def _relation_kind(relkind: str) -> str:
    if relkind in ("v", "m"):
        return "view"
    if relkind == "S":
        return "sequence"
    if relkind == "f":
        return "foreign table"
    if relkind == "c":
        return "type"
    return "table"


def _column(
    row: tuple[Any, ...],
    identity_row: tuple[Any, ...] | None,
    type_names: dict[int, tuple[str, str]],
    grants: tuple[Grant, ...],
    table: str = "",
) -> Column:
    (
        _relid,
        name,
        type_,
        notnull,
        default,
        generated,
        attgenerated,
        attidentity,
        collation,
        storage,
        compression,
        statistics,
        comment,
        elem_type,
        _attnum,
        inherited,
    ) = row
    identity = None
    if attidentity and identity_row is not None:
        start, inc, lo, hi, cache, cycle = identity_row[4:10]
        seq_name = identity_row[2]
        identity = Identity(
            always=attidentity == "a",
            start=start,
            increment=inc,
            min_value=lo,
            max_value=hi,
            cache=cache,
            cycle=cycle,
            sequence=None if seq_name == identity_sequence_name(table, name) else seq_name,
        )
    return Column(
        name=_s(name),
        type=_s(type_),
        not_null=notnull,
        default=_s(default),
        identity=identity,
        generated=generated,
        generated_virtual=attgenerated == "v",
        collation=_s(collation),
        storage=_s(storage),
        compression=_s(compression),
        statistics=statistics,
        comment=comment,
        grants=grants,
        type_ref=type_names.get(elem_type),
        inherited=inherited,
    )


def table_sizes(conn: psycopg.Connection) -> dict[tuple[str, str], tuple[int, int]]:
    """(schema, table) -> (estimated rows, total bytes with indexes and TOAST), from the
    statistics: no scan. Rows are -1 for a table never analyzed."""
    rows = conn.execute(
        "SELECT n.nspname, c.relname, c.reltuples::bigint, pg_total_relation_size(c.oid) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ('pg_catalog', "
        "'information_schema') AND n.nspname NOT LIKE 'pg\\_%'").fetchall()
    return {(r[0], r[1]): (int(r[2]), int(r[3])) for r in rows}


def row_count(conn: psycopg.Connection, schema: str, table: str,
              timeout_ms: int = 300) -> tuple[int | None, bool]:
    """(rows, estimated): an exact count within ``timeout_ms``, else the statistics'
    estimate (None if the table was never analyzed). Runs in its own transaction."""
    from trimtab.model import qname

    try:
        with conn.transaction():
            conn.execute("SELECT set_config('statement_timeout', %s, true)", (f"{timeout_ms}ms",))
            row = conn.execute(f"SELECT count(*) FROM {qname(schema, table)}").fetchone()
            return (int(row[0]) if row else 0), False
    except psycopg.errors.QueryCanceled:
        pass
    except psycopg.Error:
        return None, False
    row = conn.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
                       (qname(schema, table),)).fetchone()
    return (int(row[0]), True) if row and row[0] >= 0 else (None, True)


SQL_OTHER_SCHEMAS = f"""
SELECT n.nspname::text, count(c.oid)
FROM pg_catalog.pg_namespace n
LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'p')
WHERE n.nspname <> ALL (%(names)s::text[])
  AND n.nspname <> 'pg_catalog' AND n.nspname <> 'information_schema'
  AND n.nspname !~ '^pg_toast' AND n.nspname !~ '^pg_temp_'
  AND n.nspname <> ALL ({TOOL_SCHEMAS!r}::text[])
  AND {_not_ext("pg_namespace", "n.oid")}
GROUP BY n.nspname ORDER BY n.nspname
"""


def other_schemas(conn: psycopg.Connection[Any], schemas: abc.Sequence[str]
                  ) -> list[tuple[str, int]]:
    """(name, tables) of the schemas outside ``schemas`` that ``introspect(conn, None)``
    would read: what a scoped read leaves alone, to say so."""
    rows = conn.execute(SQL_OTHER_SCHEMAS, {"names": list(schemas)},
                        prepare=False).fetchall()
    return [(str(r[0]), int(r[1])) for r in rows]


# Foreign keys of tables outside the managed schemas onto tables inside them (a partition's
# clone of its parent's key, and the rows PostgreSQL adds per referenced partition, once).
SQL_OUTSIDE_KEYS = """
SELECT n.nspname::text, t.relname::text, c.conname::text, rn.nspname::text, r.relname::text,
       ARRAY(SELECT a.attname::text FROM pg_catalog.unnest(c.confkey) WITH ORDINALITY k(n, o)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n
             ORDER BY k.o)
FROM pg_catalog.pg_constraint c
JOIN pg_catalog.pg_class t ON t.oid = c.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
JOIN pg_catalog.pg_class r ON r.oid = c.confrelid
JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace
WHERE c.contype = 'f' AND c.conparentid = 0
  AND n.nspname <> ALL (%(names)s::text[]) AND rn.nspname = ANY (%(names)s::text[])
ORDER BY 1, 2, 3
"""


def outside_keys(conn: psycopg.Connection[Any], schemas: abc.Sequence[str]
                 ) -> tuple[OutsideKey, ...]:
    """The foreign keys that tables outside ``schemas`` hold onto tables inside them."""
    rows = conn.execute(SQL_OUTSIDE_KEYS, {"names": list(schemas)},
                        prepare=False).fetchall()
    return tuple(OutsideKey(schema=r[0], table=r[1], name=r[2], ref_table=(r[3], r[4]),
                            ref_columns=tuple(r[5])) for r in rows)


# Owners of the objects the model keys, by kind: (key kind, schema, name, identity args, owner).
SQL_OWNERS = """
SELECT CASE WHEN c.relkind IN ('v', 'm') THEN 'view' WHEN c.relkind = 'S' THEN 'sequence'
            ELSE 'table' END, n.nspname::text, c.relname::text, NULL::text,
       pg_catalog.pg_get_userbyid(c.relowner)::text
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY (%(schemas)s) AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
UNION ALL
SELECT 'type', n.nspname::text, t.typname::text, NULL, pg_catalog.pg_get_userbyid(t.typowner)::text
FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname = ANY (%(schemas)s) AND t.typtype IN ('e', 'd', 'c')
UNION ALL
SELECT 'function', n.nspname::text, p.proname::text,
       pg_catalog.pg_get_function_identity_arguments(p.oid),
       pg_catalog.pg_get_userbyid(p.proowner)::text
FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = ANY (%(schemas)s) AND p.prokind IN ('f', 'p')
UNION ALL
SELECT 'collation', n.nspname::text, o.collname::text, NULL,
       pg_catalog.pg_get_userbyid(o.collowner)::text
FROM pg_catalog.pg_collation o JOIN pg_catalog.pg_namespace n ON n.oid = o.collnamespace
WHERE n.nspname = ANY (%(schemas)s)
UNION ALL
SELECT 'schema', NULL, n.nspname::text, NULL, pg_catalog.pg_get_userbyid(n.nspowner)::text
FROM pg_catalog.pg_namespace n WHERE n.nspname = ANY (%(schemas)s)
"""


def owners(conn: psycopg.Connection[Any], keys: abc.Collection[tuple[str, ...]]
           ) -> tuple[Owner, ...]:
    """The owners, in the database behind ``conn``, of the objects of ``keys`` that exist
    there (model keys: ("table", schema, name), ("schema", name)...)."""
    if not keys:
        return ()
    schemas = sorted({k[1] for k in keys})
    wanted = set(keys)
    out = []
    for kind, schema, name, args, role in conn.execute(SQL_OWNERS, {"schemas": schemas},
                                                       prepare=False).fetchall():
        key = ((kind, name) if kind == "schema" else
               (kind, schema, name, args) if kind == "function" else (kind, schema, name))
        if key in wanted:
            out.append(Owner(target=key, role=role))
    return tuple(sorted(out, key=lambda o: o.target))
