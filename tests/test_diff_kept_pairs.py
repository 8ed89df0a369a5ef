"""The diff after one edit compares what the edit changed: the editor plans against the same
live model each time, and a desired model whose unchanged tables are the objects of the
last one (shadowcache._merge)."""

from __future__ import annotations

import importlib
from dataclasses import replace
from typing import Any

import pytest

from bench.generate import generate_sql
from trimtab.model import Column, Table
from trimtab.plan import plan_models
from trimtab.sources.sqlfile import split_statements, structural_model

diff = importlib.import_module("trimtab.plan.diff")  # (the package exports a function so named)


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


def test_comment_and_grant_targets_are_worked_out_for_changed_tables_only(
        monkeypatch: pytest.MonkeyPatch) -> None:
    live, desired = _model(), _model()
    plan_models(live, desired)
    made: list[str] = []
    for name in ("_table_comments", "_table_grants"):
        real = getattr(diff, name)
        monkeypatch.setattr(diff, name, lambda t, real=real, name=name: (
            made.append(f"{name} {t.name}"), real(t))[1])
    key, table = next(iter(desired.tables.items()))
    commented = replace(desired, tables={**desired.tables, key: replace(
        table, comment="what the edit says")})
    steps = plan_models(live, commented).steps
    assert [s.change.target for s in steps] == [("comment", "TABLE", table.sql_name)]
    assert made == [f"_table_comments {table.name}", f"_table_grants {table.name}"]
    made.clear()
    assert not plan_models(live, desired).steps and made == []  # both kept from before
