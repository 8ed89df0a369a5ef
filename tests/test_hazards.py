"""Hazards on the real database, with data in the tables: one test per hazard code, each
checking what was counted, and what push does about it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import PgServer, SqlRunner
from trimtab import engine
from trimtab.config import load_config
from trimtab.errors import ConsentRequired, WouldFail
from trimtab.plan.changes import Category, Hazard, Plan
from trimtab.plan.hazards import type_change


def plan_for(project: Path, db_url: str, schema: str, **kw: object) -> Plan:
    (project / "schema.sql").write_text(schema)
    cfg = load_config(project, url=db_url)
    return engine.push(cfg, dry_run=True, **kw).plan  # type: ignore[arg-type]


def push(project: Path, db_url: str, schema: str, **kw: object) -> engine.PushResult:
    (project / "schema.sql").write_text(schema)
    return engine.push(load_config(project, url=db_url), **kw)  # type: ignore[arg-type]


def hazard(plan: Plan, code: str) -> Hazard:
    found = [h for h in plan.hazards if h.code == code]
    assert found, f"no {code} in {[h.code for h in plan.hazards]}"
    assert len(found) == 1, found
    return found[0]


def codes(plan: Plan) -> set[str]:
    return {h.code for h in plan.hazards}


# -- data loss ----------------------------------------------------------------------------------


def test_drops_table_counts_rows_and_needs_consent(project: Path, db_url: str,
                                                   sql: SqlRunner) -> None:
    sql("CREATE TABLE keep (id int); CREATE TABLE old (id int);"
        "INSERT INTO old SELECT generate_series(1, 1234)")
    plan = plan_for(project, db_url, "CREATE TABLE keep (id int);")
    h = hazard(plan, "drops-table")
    assert (h.category, h.count, h.estimate) == (Category.DATA_LOSS, 1234, False)
    assert h.text == "drops table public.old: 1,234 rows"
    assert h.needs_consent and h.severity == "warning"
    with pytest.raises(ConsentRequired, match="drops table public.old: 1,234 rows"):
        push(project, db_url, "CREATE TABLE keep (id int);")
    assert sql("SELECT count(*) FROM old") == [(1234,)]


def test_dropping_an_empty_table_needs_no_consent(project: Path, db_url: str,
                                                  sql: SqlRunner) -> None:
    sql("CREATE TABLE keep (id int); CREATE TABLE old (id int)")
    h = hazard(plan_for(project, db_url, "CREATE TABLE keep (id int);"), "drops-table")
    assert (h.count, h.detail, h.needs_consent, h.severity) == (0, "empty", False, "info")
    assert push(project, db_url, "CREATE TABLE keep (id int);").applied
    assert sql("SELECT to_regclass('public.old') IS NULL") == [(True,)]


def test_drops_column_counts_non_null_values(project: Path, db_url: str,
                                             sql: SqlRunner) -> None:
    sql("CREATE TABLE users (id int, email text);"
        "INSERT INTO users VALUES (1, 'a@x'), (2, NULL), (3, 'c@x')")
    h = hazard(plan_for(project, db_url, "CREATE TABLE users (id int);"), "drops-column")
    assert h.text == "drops column public.users.email: 2 non-null values"
    assert h.needs_consent


def test_drops_schema_counts_its_tables_rows(project: Path, db_url: str,
                                            sql: SqlRunner) -> None:
    sql("CREATE SCHEMA app; CREATE TABLE app.a (id int); CREATE TABLE app.b (id int);"
        "INSERT INTO app.a VALUES (1), (2); INSERT INTO app.b VALUES (3)")
    # Only a listed schema is dropped: one the schema file never mentions is left alone.
    (project / "trimtab.toml").write_text('schema = "schema.sql"\nschemas = ["public", "app"]\n')
    h = hazard(plan_for(project, db_url, "CREATE TABLE t (id int);"), "drops-schema")
    assert (h.count, h.detail) == (3, "2 tables, 3 rows")


def test_drops_sequence_reports_its_counter(project: Path, db_url: str,
                                            sql: SqlRunner) -> None:
    sql("CREATE SEQUENCE invoice_no; SELECT setval('invoice_no', 41); "
        "SELECT nextval('invoice_no')")
    h = hazard(plan_for(project, db_url, "CREATE TABLE t (id int);"), "drops-sequence")
    assert (h.count, h.detail) == (42, "its counter is at 42")


def test_removed_enum_value_in_use_is_refused_even_with_force(project: Path, db_url: str,
                                                              sql: SqlRunner) -> None:
    sql("CREATE TYPE mood AS ENUM ('happy', 'sad', 'meh');"
        "CREATE TABLE p (m mood); INSERT INTO p VALUES ('sad'), ('sad'), ('happy')")
    schema = "CREATE TYPE mood AS ENUM ('happy', 'meh');\nCREATE TABLE p (m mood);\n"
    h = hazard(plan_for(project, db_url, schema), "drops-enum-value")
    assert (h.count, h.blocking, h.severity) == (2, True, "error")
    assert h.text == "removes 'sad' from enum public.mood: 2 rows use it, this will fail"
    with pytest.raises(WouldFail, match="2 rows use it") as e:
        push(project, db_url, schema, force=True)
    assert "update the rows that use it" in str(e.value)
    assert sql("SELECT count(*) FROM p WHERE m = 'sad'") == [(2,)]
    sql("UPDATE p SET m = 'meh' WHERE m = 'sad'")
    assert push(project, db_url, schema).applied  # nothing uses it now: no consent needed
    assert sql("SELECT enum_range(NULL::mood)::text") == [("{happy,meh}",)]


def test_narrowing_numeric_counts_values_that_change(project: Path, db_url: str,
                                                     sql: SqlRunner) -> None:
    sql("CREATE TABLE prices (v numeric(10,2));"
        "INSERT INTO prices VALUES (1.50), (2.00), (3.25), (NULL)")
    plan = plan_for(project, db_url, "CREATE TABLE prices (v numeric(10,0));")
    h = hazard(plan, "narrows-type")
    assert (h.category, h.count) == (Category.DATA_LOSS, 2)
    assert h.text == ("changes public.prices.v from numeric(10,2) -> numeric(10,0), which "
                      "rounds or truncates: 2 values change")
    assert "type-cast-may-fail" not in codes(plan)


def test_timestamptz_to_date_loses_the_time(project: Path, db_url: str,
                                            sql: SqlRunner) -> None:
    sql("CREATE TABLE ev (at timestamptz);"
        "INSERT INTO ev VALUES ('2026-01-01 00:00+00'), ('2026-01-01 10:30+00')")
    sql("DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET timezone = ''UTC''', "
        "current_database()); END $$")
    h = hazard(plan_for(project, db_url, "CREATE TABLE ev (at date);"), "narrows-type")
    assert h.count == 1


# -- may fail on existing data ---------------------------------------------------------------------


def test_cast_that_fails_is_counted_and_refused(project: Path, db_url: str, sql: SqlRunner,
                                                pg_server: PgServer) -> None:
    sql("CREATE TABLE t (code text); INSERT INTO t VALUES ('1'), ('2'), ('x'), ('y'), (NULL)")
    schema = "CREATE TABLE t (code integer);"
    h = hazard(plan_for(project, db_url, schema), "type-cast-may-fail")
    if pg_server.version >= 160000:
        assert (h.count, h.at_least) == (2, False)
        assert h.detail == "2 values do not convert, this will fail"
    else:  # no pg_input_is_valid: the first failing value is all PostgreSQL tells
        assert (h.count, h.at_least) == (1, True)
        assert "invalid input syntax for type integer" in (h.detail or "")
    assert h.blocking
    with pytest.raises(WouldFail):
        push(project, db_url, schema, force=True)
    sql("UPDATE t SET code = NULL WHERE code !~ '^[0-9]+$'")
    h = hazard(plan_for(project, db_url, schema), "type-cast-may-fail")
    assert (h.count, h.blocking) == (0, False)
    assert push(project, db_url, schema).applied


def test_shorter_varchar_counts_values_too_long(project: Path, db_url: str,
                                                sql: SqlRunner) -> None:
    sql("CREATE TABLE t (name varchar(20)); INSERT INTO t VALUES ('ab'), ('abcdef'), "
        "('abc   ')")
    h = hazard(plan_for(project, db_url, "CREATE TABLE t (name varchar(3));"),
               "type-cast-may-fail")
    # 'abc   ' fits: PostgreSQL cuts trailing spaces without complaint.
    assert h.detail == "1 value is longer than 3, this will fail"


def test_set_not_null_over_nulls_is_refused_with_the_fix(project: Path, db_url: str,
                                                         sql: SqlRunner) -> None:
    sql("CREATE TABLE orders (id int, paid_at timestamptz);"
        "INSERT INTO orders SELECT i, CASE WHEN i % 3 = 0 THEN NULL ELSE now() END "
        "FROM generate_series(1, 111) i")
    schema = "CREATE TABLE orders (id int, paid_at timestamptz NOT NULL);"
    h = hazard(plan_for(project, db_url, schema), "sets-not-null")
    assert h.text == "SET NOT NULL on public.orders.paid_at: 37 rows are NULL, this will fail"
    assert h.lock and "ACCESS EXCLUSIVE" in h.lock
    with pytest.raises(WouldFail) as e:
        push(project, db_url, schema, force=True)
    assert "backfill the NULLs first" in str(e.value)
    assert e.value.hazards[0]["count"] == 37
    sql("DELETE FROM orders WHERE paid_at IS NULL")
    assert push(project, db_url, schema).applied


def test_required_column_on_a_table_with_rows(project: Path, db_url: str,
                                              sql: SqlRunner) -> None:
    sql("CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2)")
    schema = "CREATE TABLE t (id int, code text NOT NULL);"
    h = hazard(plan_for(project, db_url, schema), "adds-required-column")
    assert h.text == ("adds NOT NULL column public.t.code without a default: the table has "
                      "2 rows, this will fail")
    assert "give it a DEFAULT" in (h.fix or "")
    sql("DELETE FROM t")
    h = hazard(plan_for(project, db_url, schema), "adds-required-column")
    assert (h.count, h.blocking) == (0, False)
    assert push(project, db_url, schema).applied


def test_unique_over_duplicates_counts_groups(project: Path, db_url: str,
                                              sql: SqlRunner) -> None:
    sql("CREATE TABLE users (email text);"
        "INSERT INTO users VALUES ('a'), ('a'), ('b'), ('b'), ('b'), ('c'), (NULL), (NULL)")
    h = hazard(plan_for(project, db_url, "CREATE TABLE users (email text UNIQUE);"),
               "adds-unique")
    assert h.text == "UNIQUE (email) on public.users: 2 duplicate groups, this will fail"
    h = hazard(plan_for(project, db_url, "CREATE TABLE users (email text);\n"
                        "CREATE UNIQUE INDEX users_email ON users (email) WHERE email <> 'a';"),
               "adds-unique")
    assert h.count == 1


def test_primary_key_counts_nulls_too(project: Path, db_url: str, sql: SqlRunner) -> None:
    sql("CREATE TABLE t (id int); INSERT INTO t VALUES (1), (1), (NULL), (2)")
    h = hazard(plan_for(project, db_url, "CREATE TABLE t (id int PRIMARY KEY);"),
               "adds-unique")
    assert h.count == 2
    assert h.detail == "1 duplicate group and 1 row with NULLs, this will fail"


def test_foreign_key_counts_orphans(project: Path, db_url: str, sql: SqlRunner) -> None:
    sql("CREATE TABLE users (id int PRIMARY KEY); INSERT INTO users VALUES (1), (2);"
        "CREATE TABLE posts (user_id int); INSERT INTO posts VALUES (1), (3), (4), (NULL)")
    schema = ("CREATE TABLE users (id int PRIMARY KEY);\n"
              "CREATE TABLE posts (user_id int REFERENCES users);\n")
    h = hazard(plan_for(project, db_url, schema), "adds-foreign-key")
    assert h.text == ("FOREIGN KEY (user_id) on public.posts -> public.users: 2 rows "
                      "reference no row, this will fail")
    assert "NOT VALID" in (h.fix or "")
    # NOT VALID skips the existing rows: nothing to count, nothing can fail.
    plan = plan_for(project, db_url, schema.replace("REFERENCES users",
                                                    "CONSTRAINT fk REFERENCES users")
                    + "ALTER TABLE posts DROP CONSTRAINT fk;\n"
                    "ALTER TABLE posts ADD CONSTRAINT fk FOREIGN KEY (user_id) "
                    "REFERENCES users NOT VALID;\n")
    assert "adds-foreign-key" not in codes(plan)


def test_check_counts_violating_rows(project: Path, db_url: str, sql: SqlRunner) -> None:
    sql("CREATE TABLE items (price numeric); INSERT INTO items VALUES (1), (-1), (-2), (NULL)")
    h = hazard(plan_for(project, db_url,
                        "CREATE TABLE items (price numeric CONSTRAINT positive "
                        "CHECK (price > 0));"), "adds-check")
    assert h.text == "CHECK positive on public.items: 2 rows violate it, this will fail"


def test_nothing_on_a_new_table_can_fail_or_lock(project: Path, db_url: str) -> None:
    plan = plan_for(project, db_url,
                    "CREATE TABLE a (id int PRIMARY KEY, n int NOT NULL CHECK (n > 0));\n"
                    "CREATE TABLE b (a_id int NOT NULL REFERENCES a, u text UNIQUE);\n"
                    "CREATE INDEX ON b (u);\n")
    assert plan.hazards == []


# -- locks and rewrites ---------------------------------------------------------------------------


def test_type_change_that_rewrites_reports_the_lock_and_size(project: Path, db_url: str,
                                                             sql: SqlRunner) -> None:
    sql("CREATE TABLE t (n int); INSERT INTO t SELECT generate_series(1, 5000); ANALYZE t")
    plan = plan_for(project, db_url, "CREATE TABLE t (n bigint);")
    h = hazard(plan, "rewrites-table")
    assert (h.category, h.lock, h.count, h.estimate) == (Category.LOCKS, "ACCESS EXCLUSIVE",
                                                         5000, True)
    assert h.text == "rewrites public.t to change public.t.n (integer -> bigint): ~5,000 rows"
    assert codes(plan) == {"rewrites-table"}  # widening: nothing lost, nothing can fail


def test_widening_varchar_is_free(project: Path, db_url: str, sql: SqlRunner) -> None:
    sql("CREATE TABLE t (s varchar(10))")
    assert plan_for(project, db_url, "CREATE TABLE t (s varchar(20));").hazards == []
    assert plan_for(project, db_url, "CREATE TABLE t (s text);").hazards == []


def test_volatile_default_rewrites(project: Path, db_url: str, sql: SqlRunner) -> None:
    sql("CREATE TABLE t (id int); INSERT INTO t VALUES (1)")
    plan = plan_for(project, db_url,
                    "CREATE TABLE t (id int, token uuid DEFAULT gen_random_uuid(), "
                    "created timestamptz DEFAULT now());")
    h = hazard(plan, "adds-volatile-default")  # now() is stable: stored once, no rewrite
    assert "gen_random_uuid()" in h.message and h.lock == "ACCESS EXCLUSIVE"


def test_create_index_blocks_writes_on_existing_tables_only(project: Path, db_url: str,
                                                            sql: SqlRunner) -> None:
    sql("CREATE TABLE t (a int)")
    plan = plan_for(project, db_url,
                    "CREATE TABLE t (a int);\nCREATE INDEX t_a ON t (a);\n"
                    "CREATE TABLE fresh (b int);\nCREATE INDEX fresh_b ON fresh (b);\n")
    h = hazard(plan, "blocking-create-index")
    assert "t_a" in h.message and "CONCURRENTLY" in (h.fix or "")


# -- breaks code, authorization -------------------------------------------------------------------


def test_dropping_views_and_functions_breaks_code(project: Path, db_url: str,
                                                  sql: SqlRunner) -> None:
    sql("CREATE TABLE t (a int); CREATE VIEW v AS SELECT a FROM t;"
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'")
    plan = plan_for(project, db_url, "CREATE TABLE t (a int);")
    assert {h.category for h in plan.hazards} == {Category.BREAKS_CODE}
    assert hazard(plan, "drops-view").message == "drops view public.v"
    assert hazard(plan, "drops-function").message == "drops function public.f()"
    assert not plan.data_loss


def test_authorization_changes(project: Path, db_url: str, sql: SqlRunner) -> None:
    sql("DO $$ BEGIN CREATE ROLE trimtab_reader; EXCEPTION WHEN duplicate_object THEN "
        "NULL; END $$;"
        "CREATE TABLE docs (owner text); GRANT SELECT ON docs TO trimtab_reader;"
        "ALTER TABLE docs ENABLE ROW LEVEL SECURITY;"
        "CREATE POLICY mine ON docs USING (owner = current_user)")
    plan = plan_for(project, db_url, "CREATE TABLE docs (owner text);\n"
                                     "GRANT INSERT ON docs TO trimtab_reader;\n")
    assert codes(plan) == {"revokes-privilege", "grants-privilege", "disables-row-security",
                           "drops-policy"}
    assert all(h.category == Category.AUTHORIZATION for h in plan.hazards)
    assert hazard(plan, "disables-row-security").severity == "warning"
    assert hazard(plan, "grants-privilege").severity == "info"


# -- measurement limits ---------------------------------------------------------------------------


def test_past_the_timeout_estimates_are_used(project: Path, db_url: str,
                                             sql: SqlRunner) -> None:
    sql("CREATE TABLE big (id int, v text);"
        "INSERT INTO big SELECT i, CASE WHEN i % 4 = 0 THEN NULL ELSE 'x' END "
        "FROM generate_series(1, 20000) i; ANALYZE big")
    plan = plan_for(project, db_url, "CREATE TABLE big (id int);", measure_timeout=0)
    h = hazard(plan, "drops-column")
    assert h.estimate and h.count is not None and abs(h.count - 15000) < 1500
    assert h.detail and h.detail.startswith("~")
    assert h.needs_consent and not h.blocking


def test_a_slow_count_times_out_without_harming_the_push(project: Path, db_url: str,
                                                         sql: SqlRunner) -> None:
    sql("CREATE FUNCTION slow_ok(int) RETURNS boolean LANGUAGE sql IMMUTABLE AS "
        "'SELECT pg_sleep(0.05) IS NOT NULL'; CREATE TABLE t (n int);"
        "INSERT INTO t SELECT generate_series(1, 20)")
    schema = ("CREATE FUNCTION slow_ok(int) RETURNS boolean LANGUAGE sql IMMUTABLE AS "
              "'SELECT pg_sleep(0.05) IS NOT NULL';\n"
              "CREATE TABLE t (n int CONSTRAINT ok CHECK (slow_ok(n)));\n")
    result = push(project, db_url, schema, measure_timeout=0.2)
    h = hazard(result.plan, "adds-check")
    assert h.count is None and "not counted" in (h.detail or "")
    assert result.applied  # the probe's timeout did not stay on for the ALTER (1 s)
    assert sql("SELECT count(*) FROM pg_constraint WHERE conname = 'ok'") == [(1,)]


# -- type changes, classified without a database ---------------------------------------------


@pytest.mark.parametrize(("old", "new", "effects"), [
    ("integer", "bigint", {"rewrite"}),
    ("bigint", "integer", {"rewrite", "may_fail"}),
    ("text", "character varying(5)", {"rewrite", "may_fail"}),
    ("character varying(5)", "character varying(9)", set()),
    ("character varying(5)", "text", set()),
    ("numeric(10,2)", "numeric(12,2)", set()),
    ("numeric(10,2)", "numeric(10,1)", {"rewrite", "lossy"}),
    ("numeric(10,2)", "numeric(5,2)", {"rewrite", "may_fail"}),
    ("numeric", "integer", {"rewrite", "lossy", "may_fail"}),
    ("timestamp(6) with time zone", "timestamp(0) with time zone", {"rewrite", "lossy"}),
    ("timestamp with time zone", "date", {"rewrite", "lossy"}),
    ("date", "timestamp without time zone", {"rewrite"}),
    ("text", "integer", {"rewrite", "may_fail"}),
    ("integer", "text", {"rewrite"}),
    ("integer[]", "integer", {"rewrite", "may_fail"}),
    ("double precision", "real", {"rewrite", "lossy", "may_fail"}),
])
def test_type_change_effects(old: str, new: str, effects: set[str]) -> None:
    assert type_change(old, new) == effects
