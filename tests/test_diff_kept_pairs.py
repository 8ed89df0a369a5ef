"""The diff after one edit compares what the edit changed: the editor plans against the same
live model each time, and a desired model whose unchanged tables are the objects of the
last one (shadowcache._merge)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from bench.generate import generate_sql
from trimtab.model import Column, Table
from trimtab.plan import plan_models
from trimtab.sources.sqlfile import split_statements, structural_model


def _model() -> Any:
    return structural_model(split_statements(generate_sql(30)))[0]


def test_unchanged_tables_are_compared_once_and_an_edit_still_shows(
        monkeypatch: pytest.MonkeyPatch) -> None:
    live, desired = _model(), _model()  # equal, and not the same objects
    assert not plan_models(live, desired).steps
    compared: list[str] = []
    eq = Table.__eq__

    def counted(a: Table, b: object) -> bool:
        compared.append(a.name)
        return eq(a, b)
    monkeypatch.setattr(Table, "__eq__", counted)
    key, table = next(iter(desired.tables.items()))
    edited = replace(desired, tables={**desired.tables, key: replace(
        table, columns=(*table.columns, Column("added", "integer", False)))})
    steps = plan_models(live, edited).steps
    assert [s.change.target for s in steps] == [("column", *key[1:], "added")]
    assert compared == [table.name]  # not the 29 others
    compared.clear()
    steps = plan_models(live, desired).steps  # and back: nothing pending
    assert not steps and compared == [table.name]
