"""Deterministic generator of a synthetic N-table Drizzle schema (``schema.ts``).

The side-by-side benchmark (``python -m bench``) gives every tool the same schema: this
file for drizzle-kit, and for trimtab the SQL that drizzle-kit ``generate`` writes for it
(see ``bench/peers.py``), so both work from identical definitions.

What a table holds: a primary key (mostly ``bigint`` identity, some ``serial``, some
``uuid``), one or two foreign keys to earlier tables (``references`` with ``onDelete``, or
a named ``foreignKey`` in the table callback), one or two enum columns, filler columns
from shuffled type families (integer, bigint, text, varchar, numeric, boolean, timestamp
with and without time zone, date, jsonb, uuid, text arrays) with ``notNull`` and defaults,
``created_at``; in the table callback: ``index`` / ``uniqueIndex`` (some multi-column,
some partial with ``where``) and, on about a third of the tables, a ``check``.

All output is derived from ``random.Random(seed)``: the same (n, seed) always gives
byte-identical text. ``mutate=True`` adds one nullable text column (``bench_added_note``)
at the end of the middle table: the "one small change" case.

Usage: ``python -m bench.drizzle_schema N [--seed S] [--mutate] > schema.ts``
"""

from __future__ import annotations

import argparse
import random
import sys
from dataclasses import dataclass, field

from bench.generate import ENUM_THEMES, NOUNS, _plural

MAX_IDENT = 63  # PostgreSQL truncates longer identifiers
TARGET_COLUMNS = 12
MUTATION_COLUMN = "bench_added_note"


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# Filler columns grouped by type family: (SQL name, Drizzle builder with modifiers; "{n}"
# is replaced with the quoted column name).
COLUMN_FAMILIES: dict[str, list[tuple[str, str]]] = {
    "integer": [
        ("quantity", "integer({n}).notNull().default(0)"),
        ("sort_order", "integer({n})"),
        ("retry_count", "integer({n}).notNull().default(0)"),
        ("score", "integer({n})"),
    ],
    "bigint": [
        ("view_count", 'bigint({n}, { mode: "number" }).notNull().default(0)'),
        ("file_size", 'bigint({n}, { mode: "number" })'),
    ],
    "text": [
        ("name", "text({n}).notNull()"),
        ("description", "text({n})"),
        ("notes", "text({n})"),
    ],
    "varchar": [
        ("code", "varchar({n}, { length: 32 }).notNull()"),
        ("email", "varchar({n}, { length: 255 })"),
        ("title", "varchar({n}, { length: 200 })"),
        ("phone", "varchar({n}, { length: 40 })"),
    ],
    "numeric": [
        ("amount", 'numeric({n}, { precision: 12, scale: 2 }).notNull().default("0")'),
        ("unit_price", "numeric({n}, { precision: 10, scale: 2 })"),
        ("tax_rate", "numeric({n}, { precision: 5, scale: 4 })"),
        ("weight_kg", "numeric({n}, { precision: 10, scale: 3 })"),
    ],
    "boolean": [
        ("is_active", "boolean({n}).notNull().default(true)"),
        ("is_archived", "boolean({n}).notNull().default(false)"),
        ("is_verified", "boolean({n}).default(false)"),
    ],
    "timestamp": [
        ("updated_at", "timestamp({n}, { withTimezone: true }).notNull().defaultNow()"),
        ("deleted_at", "timestamp({n}, { withTimezone: true })"),
        ("processed_at", "timestamp({n})"),
    ],
    "date": [
        ("due_on", "date({n})"),
        ("starts_on", "date({n}).notNull().default(sql`CURRENT_DATE`)"),
        ("ends_on", "date({n})"),
    ],
    "jsonb": [
        ("metadata", "jsonb({n}).notNull().default({})"),
        ("settings", "jsonb({n})"),
    ],
    "uuid": [
        ("external_id", "uuid({n}).notNull().defaultRandom()"),
    ],
    "array": [
        # No array default: drizzle-kit 0.31 re-sets every array default on each push.
        ("tags", "text({n}).array().notNull()"),
        ("aliases", "text({n}).array()"),
    ],
}

# Check constraints: the columns each needs, and the expression with {c} for column refs.
CHECKS: list[tuple[tuple[str, ...], str]] = [
    (("amount",), "${{t.amount}} >= 0"),
    (("quantity",), "${{t.quantity}} >= 0"),
    (("tax_rate",), "${{t.taxRate}} >= 0 AND ${{t.taxRate}} <= 1"),
    (("starts_on", "ends_on"), "${{t.endsOn}} IS NULL OR ${{t.endsOn}} >= ${{t.startsOn}}"),
    (("weight_kg",), "${{t.weightKg}} > 0"),
]

_PK_KINDS = ("identity", "serial", "uuid")


@dataclass
class Table:
    name: str  # SQL name
    var: str  # TypeScript variable
    singular: str
    pk: str  # one of _PK_KINDS
    columns: list[tuple[str, str]] = field(default_factory=list)  # (SQL name, builder)
    extras: list[str] = field(default_factory=list)  # entries of the table callback


def _ident(name: str) -> str:
    if len(name) > MAX_IDENT:
        raise ValueError(f"identifier longer than {MAX_IDENT} bytes: {name}")
    return name


def _enums(n: int) -> list[tuple[str, str, list[str]]]:
    """(SQL name, TypeScript variable, labels) of the N/20 (at least 2) enum types."""
    out = []
    for i in range(max(2, n // 20)):
        base, labels = ENUM_THEMES[i % len(ENUM_THEMES)]
        rnd = i // len(ENUM_THEMES)
        name = base if rnd == 0 else f"{base}_{rnd + 1}"
        out.append((name, camel(name) + "Enum", labels))
    return out


def _fk_type(parent: Table, col: str) -> str:
    if parent.pk == "uuid":
        return f'uuid("{col}")'
    if parent.pk == "serial":
        return f'integer("{col}")'
    return f'bigint("{col}", {{ mode: "number" }})'


def _build_table(i: int, n: int, rng: random.Random, tables: list[Table],
                 enums: list[tuple[str, str, list[str]]]) -> Table:
    width = max(4, len(str(n)))
    singular = rng.choice(NOUNS)
    name = _ident(f"t{i:0{width}d}_{_plural(singular)}")
    roll = rng.random()
    pk = "uuid" if roll < 0.1 else "serial" if roll < 0.2 else "identity"
    t = Table(name=name, var=camel(name), singular=singular, pk=pk)
    used: set[str] = set()

    def add(col: str, builder: str) -> None:
        used.add(col)
        t.columns.append((col, builder))

    if pk == "identity":
        add("id", 'bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity()')
    elif pk == "serial":
        add("id", 'serial("id").primaryKey()')
    else:
        add("id", 'uuid("id").primaryKey().defaultRandom()')

    # Foreign keys: one or two distinct earlier tables (none for the first table).
    fk_cols: list[str] = []
    if tables:
        parents = rng.sample(tables, min(len(tables), rng.choice((1, 2))))
        for parent in parents:
            col = f"{parent.singular}_id"
            if col in used:  # two parents with the same word: use the unique table name
                col = _ident(f"{parent.name}_id")
            not_null = rng.random() < 0.6
            if not_null:
                action = rng.choice(("cascade", "restrict", "no action"))
            else:
                action = rng.choice(("set null", "cascade"))
            builder = _fk_type(parent, col) + (".notNull()" if not_null else "")
            auto_name = f"{name}_{col}_{parent.name}_id_fk"  # drizzle-kit's default name
            if len(auto_name) <= MAX_IDENT and rng.random() < 0.75:
                builder += f'.references(() => {parent.var}.id, {{ onDelete: "{action}" }})'
            else:  # a named constraint in the callback (long default names get truncated)
                fk_name = _ident(f"{name}_{col}_fkey")
                t.extras.append(
                    f'foreignKey({{ name: "{fk_name}", columns: [t.{camel(col)}], '
                    f'foreignColumns: [{parent.var}.id] }}).onDelete("{action}")'
                )
            add(col, builder)
            fk_cols.append(col)

    # Enum columns: table i always uses enum i % k, so every enum type is used.
    picks = [enums[i % len(enums)]]
    if rng.random() < 0.3:
        other = rng.choice(enums)
        if other is not picks[0]:
            picks.append(other)
    body: list[tuple[str, str]] = []
    for enum_name, var, labels in picks:
        if rng.random() < 0.7:
            body.append((enum_name, f'{var}({{n}}).notNull().default("{labels[0]}")'))
        else:
            body.append((enum_name, f"{var}({{n}})"))

    # Filler: one column per shuffled type family until the table has ~12 columns.
    families = list(COLUMN_FAMILIES)
    rng.shuffle(families)
    room = TARGET_COLUMNS - 2 - len(fk_cols) - len(body)  # 2 = id + created_at
    for family in families[:room]:
        body.append(rng.choice(COLUMN_FAMILIES[family]))
    rng.shuffle(body)
    for col, template in body:
        add(col, template.replace("{n}", f'"{col}"'))
    add("created_at", 'timestamp("created_at", { withTimezone: true }).notNull().defaultNow()')

    # A check constraint on about a third of the tables, when a suitable column exists.
    if rng.random() < 0.35:
        options = [(cols, expr) for cols, expr in CHECKS if all(c in used for c in cols)]
        if options:
            cols, expr = rng.choice(options)
            check_name = _ident(f"{name}_{cols[-1]}_check")
            t.extras.append(f'check("{check_name}", sql`{expr.format()}`)')

    # Index candidates: FK lookup, multi-column, partial and unique ones.
    # (unique, name suffix, columns, where)
    cands: list[tuple[bool, str, list[str], str]] = []
    if fk_cols:
        cands.append((False, fk_cols[0], [fk_cols[0]], ""))
    enum_col = picks[0][0]
    cands.append((False, f"{enum_col}_created_at", [enum_col, "created_at"], ""))
    if len(fk_cols) == 2:
        cands.append((False, f"{fk_cols[0]}_{fk_cols[1]}", fk_cols[:], ""))
    if "deleted_at" in used:
        cands.append((False, "created_at_live", ["created_at"], "${t.deletedAt} IS NULL"))
    if "is_active" in used:
        cands.append((False, "created_at_active", ["created_at"], "${t.isActive}"))
    if "code" in used:
        cands.append((True, "code", ["code"], ""))
    if "email" in used:
        cands.append((True, "email", ["email"], "${t.email} IS NOT NULL"))
    if "external_id" in used:
        cands.append((True, "external_id", ["external_id"], ""))
    cands = [c for c in cands if len(f"{name}_{c[1]}_idx") <= MAX_IDENT]
    first, rest = cands[0], cands[1:]
    picked = [first] + rng.sample(rest, min(len(rest), rng.choice((0, 1))))
    if not fk_cols and len(picked) == 1 and rest:
        picked.append(rng.choice(rest))
    for unique, suffix, cols, where in picked:
        idx_name = _ident(f"{name}_{suffix}_{'key' if unique else 'idx'}")
        on = ", ".join(f"t.{camel(c)}" for c in cols)
        entry = f'{"uniqueIndex" if unique else "index"}("{idx_name}").on({on})'
        if where:
            entry += f".where(sql`{where}`)"
        t.extras.append(entry)
    return t


_IMPORTS = (
    "bigint", "boolean", "check", "date", "foreignKey", "index", "integer", "jsonb",
    "numeric", "pgEnum", "pgTable", "serial", "text", "timestamp", "uniqueIndex", "uuid",
    "varchar",
)


def generate_ts(n: int, seed: int = 0, *, mutate: bool = False) -> str:
    """The Drizzle schema of ``n`` tables, deterministic in (n, seed); with ``mutate``, one
    nullable text column added at the end of the middle table."""
    if n < 1:
        raise ValueError("n must be at least 1")
    rng = random.Random(seed)
    enums = _enums(n)
    tables: list[Table] = []
    for i in range(1, n + 1):
        tables.append(_build_table(i, n, rng, tables, enums))
    if mutate:
        tables[len(tables) // 2].columns.append((MUTATION_COLUMN, f'text("{MUTATION_COLUMN}")'))

    out = [
        f"// trimtab benchmark schema: {n} tables, seed {seed} (bench.drizzle_schema)",
        'import { sql } from "drizzle-orm";',
        "import {",
        "  " + ", ".join(_IMPORTS) + ",",
        '} from "drizzle-orm/pg-core";',
        "",
    ]
    for name, var, labels in enums:
        quoted = ", ".join(f'"{label}"' for label in labels)
        out.append(f'export const {var} = pgEnum("{name}", [{quoted}]);')
    out.append("")
    for t in tables:
        out.append(f'export const {t.var} = pgTable("{t.name}", {{')
        out += [f"  {camel(col)}: {builder}," for col, builder in t.columns]
        if t.extras:
            out.append("}, (t) => [")
            out += [f"  {extra}," for extra in t.extras]
            out.append("]);")
        else:
            out.append("});")
        out.append("")
    return "\n".join(out)


def table_names(n: int, seed: int = 0) -> list[str]:
    """SQL names of the tables of generate_ts(n, seed), in order."""
    rng = random.Random(seed)
    enums = _enums(n)
    tables: list[Table] = []
    for i in range(1, n + 1):
        tables.append(_build_table(i, n, rng, tables, enums))
    return [t.name for t in tables]


def mutated_table(n: int, seed: int = 0) -> str:
    """The table that ``mutate=True`` changes."""
    names = table_names(n, seed)
    return names[len(names) // 2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.drizzle_schema",
        description="Print a synthetic N-table Drizzle schema (schema.ts).",
    )
    parser.add_argument("n", type=int, help="number of tables")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mutate", action="store_true",
                        help=f"add one nullable column ({MUTATION_COLUMN}) to the middle table")
    args = parser.parse_args(argv)
    sys.stdout.write(generate_ts(args.n, args.seed, mutate=args.mutate))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
