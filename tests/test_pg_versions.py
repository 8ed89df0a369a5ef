"""What differs between PostgreSQL versions: each test holds on every version and fails on the
one whose catalogs or syntax it is about (run it there with tests/pg_lanes.sh)."""

from __future__ import annotations

import psycopg

from tests.conftest import PgServer
from trimtab.sources.introspect import introspect


def test_columns_are_read_on_every_version(pg_server: PgServer, db_url: str, sql) -> None:
    # pg_attribute.attcompression arrived in 14: reading columns must not need it on 13.
    sql("CREATE TABLE t (id int, bio text)")
    if pg_server.version >= 140000:
        sql("ALTER TABLE t ALTER COLUMN bio SET COMPRESSION pglz")
    with psycopg.connect(db_url) as conn:
        model = introspect(conn, ["public"])
    table = model.tables[("table", "public", "t")]
    assert [c.name for c in table.columns] == ["id", "bio"]
    expected = "pglz" if pg_server.version >= 140000 else None
    assert table.columns[1].compression == expected
