"""The migrations generate writes for tables with rows, judged by Squawk (the standard linter
for PostgreSQL migrations, run as its own process): no problem it finds is left unjustified.

A rule trimtab triggers knowingly carries Squawk's own ignore comment in the file, with the
reason after it: ``-- squawk-ignore <rule> -- <why>`` above the statement, or
``-- squawk-ignore-file <rule>, ... -- <why>`` for the whole file. Each such comment must be
needed: without it, Squawk would report that rule there.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.test_cli_push import run, write
from tests.test_online_migrations import AFTER, BEFORE, _migrations, _with_rows

SQUAWK = str(Path(sys.executable).parent / "squawk")
NO_TRANSACTION = "-- trimtab:no-transaction"
_IGNORE = re.compile(r"^\s*-- squawk-ignore(?:-file)?\s+(?P<rules>[\w\-, ]+?)\s*"
                     r"(?:--\s*(?P<why>.*))?$")


@dataclass(frozen=True)
class SquawkFinding:
    file: str
    line: int  # 1-based, as an editor shows it
    rule: str
    message: str


def squawk(path: Path, *, honour_ignores: bool = True) -> list[SquawkFinding]:
    """What the real squawk reports on a migration file. A transactional file is linted as
    the migration runner runs it, inside a transaction; ``honour_ignores=False`` lints it
    with its ``squawk-ignore`` comments taken out (to see that each one is needed)."""
    text = path.read_text()
    if not honour_ignores:
        text = "\n".join("" if _IGNORE.match(line) else line for line in text.split("\n"))
    args = [SQUAWK, "--reporter", "json", "--stdin-filepath", path.name]
    if not text.startswith(NO_TRANSACTION):
        args.append("--assume-in-transaction")
    # From the file's folder, so that no .squawk.toml of the checkout decides the rules.
    r = subprocess.run(args, input=text, capture_output=True, text=True, cwd=path.parent,
                       timeout=60)
    assert r.returncode in (0, 1) and r.stdout.strip().startswith("["), r.stdout + r.stderr
    return [SquawkFinding(f["file"], f["line"] + 1, f["rule_name"], f["message"])
            for f in json.loads(r.stdout)]


def justified(path: Path) -> list[tuple[str, str]]:
    """The (rule, reason) of each ignore comment in the file."""
    out = []
    for line in path.read_text().split("\n"):
        if (m := _IGNORE.match(line)) is not None:
            out += [(rule.strip(), m.group("why") or "") for rule in m.group("rules").split(",")]
    return out


def assert_clean(files: list[Path]) -> None:
    """0 problems in each file, and each ignore comment justified and needed."""
    assert files
    for path in files:
        found = squawk(path)
        assert found == [], f"{path.name}:\n{path.read_text()}\n{found}"
        raw = {f.rule for f in squawk(path, honour_ignores=False)}
        for rule, why in justified(path):
            assert why.strip(), f"{path.name}: squawk-ignore {rule} says no why"
            assert rule in raw, f"{path.name}: squawk-ignore {rule} ignores nothing"


def _generate(project: Path, db_url: str, schema: str) -> list[Path]:
    before = set(_migrations(project))
    write(project, schema)
    r = run(project, "generate", "--url", db_url)
    assert r.returncode == 0, r.stderr
    return [f for f in _migrations(project) if f not in before]


def _apply(project: Path, db_url: str) -> None:
    r = run(project, "migrate", "--url", db_url)
    assert r.returncode == 0, r.stdout + r.stderr


def test_squawk_runs_and_finds_the_plain_forms(project: Path, db_url: str) -> None:
    """The judge is real: with the safe forms turned off, the six changes give the problems
    the issue counted."""
    _with_rows(project, db_url)
    (project / "trimtab.toml").write_text('schema = "schema.sql"\nonline = false\n')
    files = _generate(project, db_url, AFTER)
    rules = {f.rule for path in files for f in squawk(path)}
    assert {"require-concurrent-index-creation", "constraint-missing-not-valid",
            "adding-not-nullable-field", "require-lock-timeout"} <= rules, rules


def test_the_six_everyday_changes_pass_squawk(project: Path, db_url: str) -> None:
    _with_rows(project, db_url)
    files = _generate(project, db_url, AFTER)
    assert len(files) == 4
    assert_clean(files)
    _apply(project, db_url)  # the comments change nothing of what runs
    assert "Nothing to generate" in run(project, "generate", "--url", db_url).stdout


def test_a_new_column_passes_squawk(project: Path, db_url: str) -> None:
    _with_rows(project, db_url)
    assert_clean(_generate(project, db_url, BEFORE.replace("note text", "note text, placed date")))


def test_a_unique_key_passes_squawk(project: Path, db_url: str) -> None:
    _with_rows(project, db_url)
    assert_clean(_generate(project, db_url, BEFORE.replace("code text", "code text UNIQUE")))
    _apply(project, db_url)


def test_dropping_an_index_passes_squawk(project: Path, db_url: str) -> None:
    _with_rows(project, db_url)
    indexed = BEFORE + "CREATE INDEX orders_total_idx ON orders (total);\n"
    _generate(project, db_url, indexed)
    _apply(project, db_url)
    assert_clean(_generate(project, db_url, BEFORE))
    _apply(project, db_url)


def test_a_new_table_referencing_one_with_rows_passes_squawk(project: Path,
                                                             db_url: str) -> None:
    _with_rows(project, db_url)
    files = _generate(project, db_url, BEFORE + """
CREATE TABLE refunds (id bigint PRIMARY KEY, order_id bigint REFERENCES orders (id),
                      amount bigint NOT NULL CHECK (amount > 0), code text UNIQUE);
CREATE INDEX refunds_order_idx ON refunds (order_id);
""")
    assert_clean(files)
    _apply(project, db_url)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_constraint WHERE conrelid = "
                            "'refunds'::regclass AND contype <> 'n' AND convalidated"
                            ).fetchone() == (4,)


# -- the same rules in the editor: a real language-server process on a migration file ---------

from tests.test_lsp import client, db, has, open_doc, until, workspace  # noqa: E402, F401, I001

LARGE = ("CREATE TABLE customers (id int PRIMARY KEY);"
         "CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total int, code text);"
         "INSERT INTO customers SELECT generate_series(1, 10);"
         "INSERT INTO orders SELECT g, 1 + g % 10, g, 'o' || g FROM generate_series(1, 20000) g;"
         "ANALYZE customers; ANALYZE orders")
PLAIN = """ALTER TABLE orders ADD CONSTRAINT orders_customer_fkey FOREIGN KEY (customer_id) \
REFERENCES customers (id);
--> statement-breakpoint
ALTER TABLE orders ADD CONSTRAINT orders_total_check CHECK (total >= 0);
--> statement-breakpoint
ALTER TABLE orders ALTER COLUMN total SET NOT NULL;
--> statement-breakpoint
CREATE INDEX orders_customer_idx ON orders (customer_id);
--> statement-breakpoint
ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();
--> statement-breakpoint
-- squawk-ignore adding-not-nullable-field -- a validated check proves there is no NULL
ALTER TABLE orders ALTER COLUMN code SET NOT NULL;
"""
SAFE = """SET lock_timeout = '5s';
--> statement-breakpoint
SET statement_timeout = '0';
--> statement-breakpoint
ALTER TABLE public.orders ADD CONSTRAINT orders_total_check CHECK ((total >= 0)) NOT VALID;
--> statement-breakpoint
ALTER TABLE public.orders ADD COLUMN placed date DEFAULT now();
--> statement-breakpoint
ALTER TABLE public.orders VALIDATE CONSTRAINT orders_total_check;
--> statement-breakpoint
CREATE INDEX CONCURRENTLY orders_code_idx ON public.orders (code);
"""


async def test_the_editor_shows_squawks_rules_on_a_migration_file(
        client, workspace: Path, db_url: str) -> None:  # noqa: F811 (the imported fixtures)
    from lsprotocol import types as t

    db(db_url, LARGE)
    uri = open_doc(client, workspace / "schema.sql", "CREATE TABLE users (id int);\n")
    await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.refresh", arguments=[uri]))
    (workspace / "migrations").mkdir(exist_ok=True)
    plain = open_doc(client, workspace / "migrations" / "0001_plain.sql", PLAIN)
    rules = ("constraint-missing-not-valid", "adding-not-nullable-field",
             "require-concurrent-index-creation", "adding-field-with-default",
             "require-lock-timeout")
    diags = await until(client, plain, lambda ds: all(has(r)(ds) for r in rules))
    assert sorted((d.code, d.range.start.line) for d in diags) == [
        ("adding-field-with-default", 8), ("adding-not-nullable-field", 4),
        ("constraint-missing-not-valid", 0), ("constraint-missing-not-valid", 2),
        ("require-concurrent-index-creation", 6), ("require-lock-timeout", 0)]
    assert has("require-concurrent-index-creation", "~20,000 rows")(diags)
    # The safe forms say nothing, but for the concurrent build a transaction cannot hold.
    safe = open_doc(client, workspace / "migrations" / "0002_safe.sql", SAFE)
    diags = await until(client, safe, has("ban-concurrent-index-creation-in-transaction"))
    assert [(d.code, d.range.start.line) for d in diags] == [
        ("ban-concurrent-index-creation-in-transaction", 10)]
