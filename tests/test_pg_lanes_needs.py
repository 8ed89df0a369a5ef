"""tests/pg_lanes.needs names the tests an older PostgreSQL lane leaves out; a test that takes
a fixture whose SQL needs PostgreSQL 15 must be listed there, or the PostgreSQL 13 lane of CI
fails at its setup (it did, for two new tests taking `rich`)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
# fixture -> (its file, the first major its SQL runs on)
NEWER_FIXTURES = {"rich": ("test_introspect.py", 15)}


def _listed() -> dict[str, int]:
    found: dict[str, int] = {}
    for line in (TESTS / "pg_lanes.needs").read_text().splitlines():
        body = line.split("#", 1)[0].split()
        if len(body) == 2:
            found[body[1]] = int(body[0])
    return found


def test_every_test_taking_a_newer_fixture_is_left_out_of_older_lanes() -> None:
    listed = _listed()
    missing = []
    for fixture, (file, major) in NEWER_FIXTURES.items():
        tree = ast.parse((TESTS / file).read_text())
        for node in tree.body:
            if (isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
                    and fixture in {a.arg for a in node.args.args}):
                node_id = f"tests/{file}::{node.name}"
                if listed.get(node_id, 0) < major:
                    missing.append(node_id)
    assert not missing, f"add to tests/pg_lanes.needs: {missing}"
