"""The studio's SQL console: one statement, in a READ ONLY transaction that is always
rolled back, whatever the statement tries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SqlRunner
from tests.test_studio_api import (  # noqa: F401
    SEED,
    SHOP,
    Client,
    _project,
    _shop_template,
    db_template,
    shop,
)
from trimtab.config import load_config
from trimtab.studio import Server


def _run(c: Client, text: str, **kw: Any) -> Any:
    return c.post("/api/console", {"sql": text, **kw})


def test_a_select_pages_like_a_table(shop: Client) -> None:  # noqa: F811
    r = _run(shop, "SELECT id, email, prefs, tags, born FROM customers ORDER BY id",
             limit=50)
    assert r.status == 200, r.text
    page = r.json()
    assert [c["name"] for c in page["columns"]] == ["id", "email", "prefs", "tags", "born"]
    assert page["columns"][0]["type"] == "bigint"
    assert len(page["rows"]) == 50 and page["has_next"] and not page["has_prev"]
    # values as PostgreSQL's text
    assert page["rows"][0] == ["1", "c1@example.org", '{"n": 1}', "{t1,all}", "2000-01-02"]
    last = _run(shop, "SELECT id FROM customers ORDER BY id", offset=200, limit=50).json()
    assert [r[0] for r in last["rows"]] == [str(i) for i in range(201, 238)]
    assert last["has_prev"] and not last["has_next"]


def test_an_error_says_where(shop: Client) -> None:  # noqa: F811
    r = _run(shop, "SELECT id, nope FROM customers")
    assert r.status == 422
    assert r.json()["position"] == 12 and "nope" in r.json()["error"]


SNEAKY = """
CREATE TABLE audit (n integer);
CREATE FUNCTION sneaky() RETURNS integer LANGUAGE plpgsql VOLATILE AS
$$ BEGIN INSERT INTO audit VALUES (1); RETURN 1; END $$;
CREATE PROCEDURE committing() LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO audit VALUES (2); COMMIT; END $$;
"""


@pytest.mark.parametrize("statement", [
    "INSERT INTO audit VALUES (3)",
    "UPDATE customers SET name = 'x'",
    "DELETE FROM customers",
    "CREATE TABLE evil (a int)",
    "DROP TABLE audit",
    "TRUNCATE audit",
    "SET transaction_read_only = off",
    "SELECT set_config('transaction_read_only', 'off', false)",
    "COMMIT; INSERT INTO audit VALUES (4)",
    "SELECT 1; INSERT INTO audit VALUES (5)",
    "COMMIT",
    "ROLLBACK",
    "SELECT sneaky()",
    "SELECT * FROM customers WHERE sneaky() = 1",
    "CALL committing()",
    "DO $$ BEGIN INSERT INTO audit VALUES (6); END $$",
    "WITH x AS (INSERT INTO audit VALUES (7) RETURNING n) SELECT * FROM x",
    "SELECT nextval('orders_id_seq')",
    "COPY audit FROM STDIN",
    "EXPLAIN ANALYZE INSERT INTO audit VALUES (8)",
])
def test_the_console_never_writes(shop: Client, sql: SqlRunner,  # noqa: F811
                                  statement: str) -> None:
    sql(SNEAKY)
    before = sql("SELECT last_value, is_called FROM orders_id_seq")
    r = _run(shop, statement)
    assert r.status in (400, 422), r.text
    assert sql("SELECT count(*) FROM audit") == [(0,)]
    assert sql("SELECT count(*) FROM customers WHERE name = 'x'") == [(0,)]
    assert sql("SELECT to_regclass('evil')") == [(None,)]
    assert sql("SELECT last_value, is_called FROM orders_id_seq") == before
    # the session it ran on is as it was: the next write through the studio still works,
    # and the next console statement is read-only again
    follow = _run(shop, "SELECT current_setting('transaction_read_only')")
    assert follow.status == 200 and follow.json()["rows"] == [["on"]]
    assert shop.post("/api/update", {"schema": "public", "table": "customers", "key": ["1"],
                                     "values": {"score": "5"}, "original": {"score": "1"}}
                     ).status == 200


def test_the_console_needs_the_page_token(shop: Client) -> None:  # noqa: F811
    assert shop.post("/api/console", {"sql": "SELECT 1"}, csrf=False).status == 403
    assert shop.post("/api/console", {"sql": "SELECT 1"},
                     headers={"Origin": "http://evil.example"}).status == 403
    assert shop.request("GET", "/api/console", params={"sql": "SELECT 1"}).status in (404, 405)


def test_the_console_in_a_read_only_studio(sql: SqlRunner, db_url: str,
                                           tmp_path: Path) -> None:
    sql(SHOP)
    sql(SEED)
    server = Server(load_config(_project(tmp_path), url=db_url), read_only=True).start()
    try:
        c = Client(server)
        assert _run(c, "SELECT count(*) FROM orders").json()["rows"] == [["400"]]
        r = _run(c, "DELETE FROM orders")
        assert r.status == 422 and r.json()["code"] == "25006"
        assert sql("SELECT count(*) FROM orders") == [(400,)]
    finally:
        server.stop()


def test_statements_without_rows_and_transaction_control(shop: Client) -> None:  # noqa: F811
    r = _run(shop, "SET statement_timeout = 0")
    assert r.status == 200 and r.json()["rows"] == [] and r.json()["columns"] == []
    for statement in ("COMMIT", "ROLLBACK", "END"):
        r = _run(shop, statement)
        assert r.status == 400 and "transaction of its own" in r.json()["error"], r.text
    # the SET above did not outlive its transaction
    assert _run(shop, "SHOW statement_timeout").json()["rows"] == [["15s"]]
