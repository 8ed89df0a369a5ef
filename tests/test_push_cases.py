"""Every object kind, as data: fixtures/diff/<case>/{before,after}.sql.

For each case and direction (create from empty, before -> after, after -> before, and
drop everything), push brings a real database to the target schema: its catalog then
equals the target's canonical model, and a second plan is empty (idempotency).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from trimtab import engine
from trimtab.config import load_config
from trimtab.sources.introspect import introspect
from trimtab.sources.shadow import desired_model
from trimtab.sources.sqlfile import split_statements

CASES = Path(__file__).parent.parent / "fixtures" / "diff"
DIRECTIONS = ["from_empty", "forward", "backward", "to_empty"]


def _files(case: str, direction: str) -> tuple[str, str]:
    before = (CASES / case / "before.sql").read_text()
    after = (CASES / case / "after.sql").read_text()
    return {
        "from_empty": ("", after),
        "forward": (before, after),
        "backward": (after, before),
        "to_empty": (after, ""),
    }[direction]


def _by_name(tables: dict) -> dict:
    # Whether an inherited column is also declared locally cannot be changed in place
    # (PostgreSQL has no command for it), so the diff does not plan it: nor do we compare.
    return {k: replace(t, columns=tuple(sorted((replace(c, inherited=False) for c in t.columns),
                                               key=lambda c: c.name)))
            for k, t in tables.items()}


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir()))
def test_push_converges(case: str, direction: str, db_url: str, admin_url: str,
                        tmp_path: Path) -> None:
    start, target = _files(case, direction)
    with psycopg.connect(db_url, autocommit=True) as conn:
        if start.strip():
            conn.execute(start.encode())
        installed = {r[0] for r in conn.execute("SELECT extname FROM pg_extension")}
    schema = tmp_path / "schema.sql"
    schema.write_text(target)
    cfg = load_config(tmp_path, schema=str(schema), url=db_url)
    expected = desired_model(split_statements(target, str(schema)), admin_url)
    # A schema the target no longer mentions is left alone by default (docs/scope.md):
    # to see it dropped, name the start's schemas too, as a user would in `schemas`.
    with psycopg.connect(db_url, autocommit=True) as conn:
        started = {k[1] for k in introspect(conn).schemas}
    if started - {k[1] for k in expected.schemas}:
        cfg = replace(cfg, managed_schemas=tuple(sorted(
            started | {k[1] for k in expected.schemas})))

    result = engine.push(cfg, force=True)
    if start.strip() != target.strip():
        assert result.applied and result.plan, "a differing schema must plan changes"

    with psycopg.connect(db_url, autocommit=True) as conn:
        actual = introspect(conn)
    # An extension the target schema does not create is not managed: left as it was.
    actual = replace(actual, extensions={k: e for k, e in actual.extensions.items()
                                         if k in expected.extensions or e.name not in installed})
    for field in ("schemas", "extensions", "types", "sequences", "views", "functions"):
        assert getattr(actual, field) == getattr(expected, field), field
    # A column added to an existing table goes last: compare columns by name.
    assert _by_name(actual.tables) == _by_name(expected.tables)

    again = engine.push(cfg, dry_run=True)
    assert not again.plan, "second plan must be empty:\n" + again.plan.sql()
