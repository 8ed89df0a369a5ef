"""Deterministic generator of a synthetic N-table PostgreSQL schema for benchmarks.

The output is plain SQL that loads into an empty database with ``psql -1 -f``:
enum types first, then tables in order (foreign keys only point at earlier tables),
each followed by its indexes. All output is derived from ``random.Random(seed)``,
so the same (n, seed) always gives byte-identical SQL.

Usage: ``python -m bench.generate N [--seed S] [--mutate] > schema.sql``
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from dataclasses import dataclass, field

# Singular nouns: tables are named t0001_<plural>, FK columns <singular>_id.
_NOUN_TEXT = """
    account address asset audit batch booking campaign carrier category comment contract
    coupon customer delivery department device document employee event expense invoice
    issue item job lead license location message note offer order organization package
    payment project product quote refund region report review schedule session shipment
    store subscription supplier task team ticket transfer user vendor warehouse webhook
"""
NOUNS = _NOUN_TEXT.split()


def _plural(word: str) -> str:
    if word.endswith("y"):
        return word[:-1] + "ies"
    if word.endswith(("s", "ch", "x")):
        return word + "es"
    return word + "s"


# Enum themes: (type name, labels). Cycled with a numeric suffix when N/20 exceeds the list.
ENUM_THEMES: list[tuple[str, list[str]]] = [
    ("account_status", ["pending", "active", "suspended", "closed"]),
    ("priority_level", ["low", "medium", "high", "urgent"]),
    ("contact_channel", ["web", "email", "phone", "in_store", "partner"]),
    ("plan_tier", ["free", "basic", "pro", "enterprise"]),
    ("sales_region", ["na", "emea", "apac", "latam"]),
    ("currency_code", ["usd", "eur", "gbp", "jpy", "chf"]),
    ("visibility_scope", ["private", "internal", "public"]),
    ("payment_method", ["card", "transfer", "cash", "voucher"]),
    ("severity_level", ["info", "warning", "error", "critical"]),
    ("lifecycle_stage", ["draft", "review", "published", "archived"]),
]

# Filler columns grouped by type family: (name, definition after the name).
# One column is drawn from each of a shuffled set of families, so every table mixes types.
COLUMN_FAMILIES: dict[str, list[tuple[str, str]]] = {
    "integer": [
        ("quantity", "integer NOT NULL DEFAULT 0"),
        ("sort_order", "integer"),
        ("retry_count", "integer NOT NULL DEFAULT 0"),
        ("score", "integer"),
    ],
    "text": [
        ("name", "text NOT NULL"),
        ("description", "text"),
        ("notes", "text"),
    ],
    "varchar": [
        ("code", "varchar(32) NOT NULL"),
        ("email", "varchar(255)"),
        ("title", "varchar(200)"),
        ("phone", "varchar(40)"),
    ],
    "numeric": [
        ("amount", "numeric(12,2) NOT NULL DEFAULT 0"),
        ("unit_price", "numeric(10,2)"),
        ("tax_rate", "numeric(5,4)"),
        ("weight_kg", "numeric(10,3)"),
    ],
    "boolean": [
        ("is_active", "boolean NOT NULL DEFAULT true"),
        ("is_archived", "boolean NOT NULL DEFAULT false"),
        ("is_verified", "boolean DEFAULT false"),
    ],
    "timestamptz": [
        ("updated_at", "timestamptz NOT NULL DEFAULT now()"),
        ("deleted_at", "timestamptz"),
        ("processed_at", "timestamptz"),
    ],
    "date": [
        ("due_on", "date"),
        ("starts_on", "date NOT NULL DEFAULT CURRENT_DATE"),
        ("ends_on", "date"),
    ],
    "jsonb": [
        ("metadata", "jsonb NOT NULL DEFAULT '{}'::jsonb"),
        ("settings", "jsonb"),
    ],
    "uuid": [
        ("external_id", "uuid NOT NULL DEFAULT gen_random_uuid()"),
    ],
    "array": [
        ("tags", "text[] NOT NULL DEFAULT '{}'::text[]"),
        ("aliases", "text[]"),
    ],
}

# Check constraints and the columns each one needs.
CHECKS: list[tuple[tuple[str, ...], str]] = [
    (("amount",), "amount >= 0"),
    (("quantity",), "quantity >= 0"),
    (("tax_rate",), "tax_rate >= 0 AND tax_rate <= 1"),
    (("starts_on", "ends_on"), "ends_on IS NULL OR ends_on >= starts_on"),
    (("code",), "char_length(code) > 0"),
    (("weight_kg",), "weight_kg > 0"),
]

TARGET_COLUMNS = 12
MAX_IDENT = 63  # PostgreSQL truncates longer identifiers, which would make names collide

# Name of the column added by mutate_one_column().
MUTATION_COLUMN = "bench_added_note"


@dataclass
class Table:
    name: str
    singular: str
    columns: list[tuple[str, str]] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    indexes: list[str] = field(default_factory=list)


def _ident(name: str) -> str:
    if len(name) > MAX_IDENT:
        raise ValueError(f"identifier longer than {MAX_IDENT} bytes: {name}")
    return name


def _enum_types(n: int) -> list[tuple[str, list[str]]]:
    count = max(2, n // 20)
    enums = []
    for i in range(count):
        base, labels = ENUM_THEMES[i % len(ENUM_THEMES)]
        rnd = i // len(ENUM_THEMES)
        enums.append((base if rnd == 0 else f"{base}_{rnd + 1}", labels))
    return enums


def _build_table(
    i: int, n: int, rng: random.Random, tables: list[Table], enums: list[tuple[str, list[str]]]
) -> Table:
    width = max(4, len(str(n)))
    singular = rng.choice(NOUNS)
    t = Table(name=_ident(f"t{i:0{width}d}_{_plural(singular)}"), singular=singular)
    used: set[str] = set()

    def add(col: str, definition: str) -> None:
        used.add(col)
        t.columns.append((col, definition))

    add("id", "bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY")

    # Foreign keys: one or two distinct earlier tables (none for the first table).
    fk_cols: list[str] = []
    if tables:
        parents = rng.sample(tables, min(len(tables), rng.choice((1, 2))))
        for parent in parents:
            col = f"{parent.singular}_id"
            if col in used:  # two parents with the same word: fall back to the unique table name
                col = _ident(f"{parent.name}_id")
            not_null = rng.random() < 0.6
            if not_null:
                action = rng.choice(("CASCADE", "RESTRICT", "NO ACTION"))
            else:
                action = rng.choice(("SET NULL", "CASCADE"))
            ref = f"REFERENCES {parent.name} (id) ON DELETE {action}"
            if rng.random() < 0.25:  # some inline REFERENCES, most as named table constraints
                add(col, f"bigint{' NOT NULL' if not_null else ''} {ref}")
            else:
                add(col, f"bigint{' NOT NULL' if not_null else ''}")
                t.constraints.append(
                    f"CONSTRAINT {_ident(f'{t.name}_{col}_fkey')} FOREIGN KEY ({col}) {ref}"
                )
            fk_cols.append(col)

    # Enum columns: table i always uses enum i % k so every enum type is used.
    enum_picks = [enums[i % len(enums)]]
    if rng.random() < 0.3:
        other = rng.choice(enums)
        if other is not enum_picks[0]:
            enum_picks.append(other)
    body: list[tuple[str, str]] = []
    for enum_name, labels in enum_picks:
        if rng.random() < 0.7:
            body.append((enum_name, f"{enum_name} NOT NULL DEFAULT '{labels[0]}'"))
        else:
            body.append((enum_name, enum_name))

    # Filler: one column per shuffled type family until the table has ~12 columns.
    families = list(COLUMN_FAMILIES)
    rng.shuffle(families)
    room = TARGET_COLUMNS - 2 - len(fk_cols) - len(body)  # 2 = id + created_at
    for family in families[:room]:
        body.append(rng.choice(COLUMN_FAMILIES[family]))
    rng.shuffle(body)
    for col, definition in body:
        add(col, definition)
    add("created_at", "timestamptz NOT NULL DEFAULT now()")

    # A check constraint on roughly a third of the tables, when a suitable column exists.
    if rng.random() < 0.35:
        options = [(cols, expr) for cols, expr in CHECKS if all(c in used for c in cols)]
        if options:
            cols, expr = rng.choice(options)
            t.constraints.append(
                f"CONSTRAINT {_ident(f'{t.name}_{cols[-1]}_check')} CHECK ({expr})"
            )

    # Index candidates: FK lookup, multi-column, partial and unique ones.
    candidates: list[tuple[str, str, str, str]] = []  # (kind, name suffix, columns, tail)
    if fk_cols:
        candidates.append(("", fk_cols[0], fk_cols[0], ""))
    enum_col = enum_picks[0][0]
    candidates.append(("", f"{enum_col}_created_at", f"{enum_col}, created_at", ""))
    if len(fk_cols) == 2:
        candidates.append(("", f"{fk_cols[0]}_{fk_cols[1]}", f"{fk_cols[0]}, {fk_cols[1]}", ""))
    if "deleted_at" in used:
        candidates.append(("", "created_at_live", "created_at", " WHERE deleted_at IS NULL"))
    if "is_active" in used:
        candidates.append(("", "created_at_active", "created_at", " WHERE is_active"))
    if "code" in used:
        candidates.append(("UNIQUE ", "code", "code", ""))
    if "email" in used:
        candidates.append(("UNIQUE ", "email", "email", " WHERE email IS NOT NULL"))
    if "external_id" in used:
        candidates.append(("UNIQUE ", "external_id", "external_id", ""))
    # Long fallback FK names can push an index name past the identifier limit: drop those.
    candidates = [c for c in candidates if len(f"{t.name}_{c[1]}_idx") <= MAX_IDENT]
    # Prefer the FK index when there is one (the common real-world pattern), then pick randomly.
    first, rest = candidates[0], candidates[1:]
    picked = [first] + rng.sample(rest, min(len(rest), rng.choice((0, 1))))
    if not fk_cols and len(picked) == 1 and rest:
        picked.append(rng.choice(rest))
    for kind, suffix, cols, tail in picked:
        ending = "key" if kind else "idx"
        name = _ident(f"{t.name}_{suffix}_{ending}")
        t.indexes.append(f"CREATE {kind}INDEX {name} ON {t.name} ({cols}){tail};")
    return t


def generate_sql(n: int, seed: int = 0) -> str:
    """Return the SQL of a synthetic schema with ``n`` tables, deterministic in (n, seed)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    rng = random.Random(seed)
    enums = _enum_types(n)
    tables: list[Table] = []
    for i in range(1, n + 1):
        tables.append(_build_table(i, n, rng, tables, enums))

    out = [f"-- trimtab benchmark schema: {n} tables, seed {seed} (bench.generate)", ""]
    for name, labels in enums:
        quoted = ", ".join(f"'{label}'" for label in labels)
        out.append(f"CREATE TYPE {name} AS ENUM ({quoted});")
    out.append("")
    for t in tables:
        lines = [f"    {col} {definition}" for col, definition in t.columns]
        lines += [f"    {c}" for c in t.constraints]
        out.append(f"CREATE TABLE {t.name} (")
        out.append(",\n".join(lines))
        out.append(");")
        out.extend(t.indexes)
        out.append("")
    return "\n".join(out)


_CREATE_TABLE = re.compile(r"^CREATE TABLE (\w+) \($", re.MULTILINE)


def table_names(sql: str) -> list[str]:
    """Names of the tables created by SQL from generate_sql(), in order."""
    return _CREATE_TABLE.findall(sql)


def mutate_one_column(sql: str) -> str:
    """Return the schema with one nullable text column added to the middle table.

    This is the "one small edit" case: the diff against a database holding the
    original schema is a single ``ALTER TABLE ... ADD COLUMN``. The column goes
    after the last existing column, where ADD COLUMN puts it, so the result also
    matches column order. Only understands the layout written by generate_sql().
    """
    matches = list(_CREATE_TABLE.finditer(sql))
    if not matches:
        raise ValueError("no CREATE TABLE found")
    target = matches[len(matches) // 2]
    end = sql.index("\n);", target.end())
    body = sql[target.end() + 1 : end].split(",\n")
    # Column lines come first; table constraints start with CONSTRAINT.
    n_cols = sum(1 for line in body if not line.lstrip().startswith("CONSTRAINT "))
    body.insert(n_cols, f"    {MUTATION_COLUMN} text")
    return sql[: target.end() + 1] + ",\n".join(body) + sql[end:]


def mutated_table(sql: str) -> str:
    """Name of the table that mutate_one_column() changes."""
    names = table_names(sql)
    return names[len(names) // 2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.generate", description="Print a synthetic N-table schema as SQL."
    )
    parser.add_argument("n", type=int, help="number of tables")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--mutate", action="store_true", help="add one nullable column to the middle table"
    )
    args = parser.parse_args(argv)
    sql = generate_sql(args.n, args.seed)
    if args.mutate:
        sql = mutate_one_column(sql)
    sys.stdout.write(sql)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
