"""The benchmark schema generator: deterministic, well-ordered, and valid PostgreSQL."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import psycopg
import pytest

# bench/ is a top-level package next to tests/, not part of the installed trimtab package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.generate import (  # noqa: E402
    MUTATION_COLUMN,
    generate_sql,
    mutate_one_column,
    mutated_table,
    table_names,
)

_TABLE_BLOCK = re.compile(r"^CREATE TABLE (\w+) \((.*?)^\);", re.MULTILINE | re.DOTALL)


def _references(sql: str) -> dict[str, list[str]]:
    """Table name -> tables its foreign keys point at, in file order."""
    return {
        name: re.findall(r"REFERENCES (\w+) \(id\)", body)
        for name, body in _TABLE_BLOCK.findall(sql)
    }


def test_deterministic() -> None:
    assert generate_sql(50, seed=3) == generate_sql(50, seed=3)
    assert generate_sql(50, seed=3) != generate_sql(50, seed=4)


@pytest.mark.parametrize("n", [1, 20, 100])
def test_tables_and_foreign_keys_point_backwards(n: int) -> None:
    sql = generate_sql(n)
    assert len(re.findall(r"^CREATE TABLE ", sql, re.MULTILINE)) == n
    names = table_names(sql)
    assert len(names) == len(set(names)) == n

    refs = _references(sql)
    assert list(refs) == names
    position = {name: i for i, name in enumerate(names)}
    for name, parents in refs.items():
        assert all(position[p] < position[name] for p in parents), name
        # Every table but the first has one or two foreign keys.
        expected = range(0, 1) if position[name] == 0 else range(1, 3)
        assert len(parents) in expected, name


def test_mutation_adds_one_nullable_column_to_the_middle_table() -> None:
    sql = generate_sql(20)
    mutated = mutate_one_column(sql)
    # Compare without trailing commas: the previous last line gains one.
    before = {line.rstrip(",") for line in sql.splitlines()}
    after = {line.rstrip(",") for line in mutated.splitlines()}
    assert after - before == {f"    {MUTATION_COLUMN} text"}
    assert before <= after
    assert len(mutated.splitlines()) == len(sql.splitlines()) + 1
    assert mutated_table(sql) == table_names(sql)[10]


def test_loads_into_postgres(db_url: str) -> None:
    sql = generate_sql(20)
    with psycopg.connect(db_url) as conn:
        conn.execute(sql)  # no parameters, so the multi-statement script runs as one query
        tables, fks, enums = conn.execute(
            """
            SELECT
              (SELECT count(*) FROM pg_tables WHERE schemaname = 'public'),
              (SELECT count(*) FROM pg_constraint
                 WHERE connamespace = 'public'::regnamespace AND contype = 'f'),
              (SELECT count(*) FROM pg_type
                 WHERE typnamespace = 'public'::regnamespace AND typtype = 'e')
            """
        ).fetchone()
    assert tables == 20
    assert fks == sum(len(p) for p in _references(sql).values())
    assert enums == 2


# --- the Drizzle schema (schema.ts) of the side-by-side benchmark ---------------------------

from bench import drizzle_schema  # noqa: E402

_TS_TABLE = re.compile(r'^export const (\w+) = pgTable\("(\w+)", \{$', re.MULTILINE)


def test_drizzle_schema_is_deterministic() -> None:
    assert drizzle_schema.generate_ts(50, seed=3) == drizzle_schema.generate_ts(50, seed=3)
    assert drizzle_schema.generate_ts(50, seed=3) != drizzle_schema.generate_ts(50, seed=4)


@pytest.mark.parametrize("n", [1, 20, 300])
def test_drizzle_tables_reference_earlier_ones(n: int) -> None:
    ts = drizzle_schema.generate_ts(n)
    tables = _TS_TABLE.findall(ts)
    assert [name for _, name in tables] == drizzle_schema.table_names(n)
    assert len({name for _, name in tables}) == n
    position = {var: i for i, (var, _) in enumerate(tables)}
    blocks = re.split(r"^export const \w+ = pgTable\(", ts, flags=re.MULTILINE)[1:]
    for i, block in enumerate(blocks):
        parents = re.findall(r"\(\) => (\w+)\.id|foreignColumns: \[(\w+)\.id\]", block)
        refs = [a or b for a, b in parents]
        assert all(position[p] < i for p in refs), tables[i]
        assert len(refs) in ((0,) if i == 0 else (1, 2)), tables[i]
    # Every quoted SQL name fits PostgreSQL's identifier limit (no silent truncation).
    assert max(len(s) for s in re.findall(r'"(\w+)"', ts)) <= 63
    # Every enum type is used by some table (with at least as many tables as types).
    enums = re.findall(r"^export const (\w+) = pgEnum", ts, re.MULTILINE)
    body = ts.split("= pgTable(", 1)[1]
    assert all(f"{var}(" in body for var in enums) or n < len(enums)


def test_drizzle_mutation_adds_one_column_at_the_end_of_the_middle_table() -> None:
    before = drizzle_schema.generate_ts(20).splitlines()
    after = drizzle_schema.generate_ts(20, mutate=True).splitlines()
    assert len(after) == len(before) + 1
    added = [line for line in after if line not in before]
    assert added == [f'  benchAddedNote: text("{drizzle_schema.MUTATION_COLUMN}"),']
    at = after.index(added[0])
    # The line before is the table's last column (created_at), the line after closes it.
    assert "createdAt" in after[at - 1] and after[at + 1].startswith(("}", "})"))
    table = drizzle_schema.mutated_table(20)
    head = next(i for i, line in enumerate(after) if f'pgTable("{table}"' in line)
    assert head < at and not any("pgTable(" in line for line in after[head + 1:at])
