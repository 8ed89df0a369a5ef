"""Memory of a schema model: what a big schema's model holds, read from the catalogs and
loaded from the shadow cache's model file (issue 24: under 300 MB for every operation at
10,000 tables, where one model is kept live and one desired).

Measured with tracemalloc (bytes the Python allocator still holds after a full collection),
never with a clock. The budgets are per column, the unit a model grows by.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from typing import TypeVar

import psycopg

from bench.generate import generate_sql
from trimtab.model import Column, Constraint, Index, Model, Table, make_model
from trimtab.sources import shadowcache
from trimtab.sources.introspect import introspect
from trimtab.sources.snapshot import dump_snapshot
from trimtab.sources.sqlfile import split_statements

T = TypeVar("T")

TABLES = 150
# Bytes one column of the generated schema costs in a model, with its share of the tables,
# constraints and indexes around it. Each row of the catalogs bringing its own copy of
# "id", "bigint", "now()", "public", and each column its own object: about 700; shared,
# 240 read from the catalogs, 310 loaded from a file in parts of 10 tables.
BYTES_PER_COLUMN = 400


def traced(make: Callable[[], T]) -> tuple[T, int, int]:
    """``make()``, the bytes its result still holds, and the most it held at once on the way
    (over what was held before)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = make()
        gc.collect()
        now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, now - before, peak - before


def columns(model: Model) -> int:
    return sum(len(t.columns) for t in model.tables.values())


def test_a_model_read_from_the_catalogs_shares_its_repeated_strings(sql, db_url: str) -> None:
    sql(generate_sql(TABLES))
    with psycopg.connect(db_url) as conn:
        model, held, _ = traced(lambda: introspect(conn, ["public"]))
    n = columns(model)
    assert n > 10 * TABLES
    assert held / n < BYTES_PER_COLUMN, f"{held / n:.0f} bytes per column"
    # Two tables' "id" columns, equal in every field: one object. Two different columns of
    # one type: one string for the type's name.
    ids = [t.column("id") for t in model.tables.values()]
    first, second = [c for c in ids if c is not None][:2]
    assert first == second and first is second
    created = next(c for t in model.tables.values() for c in t.columns
                   if c.type == first.type and c.name != first.name)
    assert created.type is first.type


def test_a_model_loaded_from_its_file_is_as_lean_and_loads_without_a_copy_of_itself(
        admin_url: str, tmp_path, monkeypatch) -> None:
    # The file holds the tables in parts, and loading holds one part's working state at a
    # time: parts of 10 tables, so that this small schema has several.
    monkeypatch.setattr(shadowcache, "TABLES_PER_PART", 10)
    key = str(tmp_path)
    statements = split_statements(generate_sql(TABLES))
    try:
        read = shadowcache.desired_model(statements, admin_url, None, key,
                                         lambda: Model())
        path = shadowcache._model_file(admin_url, shadowcache.database_name("shadow", key))
        del read
        found, held, peak = traced(lambda: shadowcache.read_model_file(path))
    finally:
        shadowcache.drop(admin_url, [("shadow", key)])
    assert found is not None
    n = columns(found[1])
    assert held / n < BYTES_PER_COLUMN, f"{held / n:.0f} bytes per column"
    # On the way, well under the model again (the unpickler's state of one part).
    assert peak < 1.5 * held, f"peak {peak} for a model of {held} bytes"


def test_a_snapshot_is_written_without_the_whole_model_encoded_at_once() -> None:
    """generate writes the desired model as a snapshot: on the way, not much more than the
    text it writes (it took six times that: every object as a dict, the text in pieces)."""
    types = ["bigint", "text", "timestamp with time zone", "boolean", "jsonb", "integer"]
    model = make_model([Table("public", f"t{i}", columns=tuple(
        Column(f"c{j}", types[j % len(types)], not_null=j % 2 == 0,
               default="now()" if j == 2 else None) for j in range(12)),
        constraints=(Constraint(f"t{i}_pkey", "p", "PRIMARY KEY (c0)", ("c0",)),),
        indexes=(Index(f"t{i}_c1_idx", f"CREATE INDEX t{i}_c1_idx ON public.t{i} USING btree (c1)",
                       columns=("c1",)),))
        for i in range(300)])
    text, held, peak = traced(lambda: dump_snapshot(model, id="b", prev_id="a"))
    assert len(text) > 300 * 12 * 40
    assert peak < 3 * held, f"peak {peak} for a text of {held} bytes"
