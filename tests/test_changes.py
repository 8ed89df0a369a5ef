"""The closed vocabulary of changes: every class is complete on its own.

A change is a frozen dataclass in plan/changes.py, emitted by the diff and rendered by
its registered renderer; nothing else has to learn about it (order reads its rank,
hazards default to none, the JSON reads its kind). These tests hold that for every
class, and hold ``reverse()`` to undoing what a change does, over the golden cases."""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import replace
from pathlib import Path

import pytest

from tests.golden import load_model
from trimtab.model import Schema
from trimtab.plan import build_plan
from trimtab.plan.changes import Change, CreateSchema, DropSchema, Kind

# The module (trimtab.plan.render is also the name of its function, in trimtab.plan).
render_module = importlib.import_module("trimtab.plan.render")
GOLDEN = Path(__file__).parent.parent / "fixtures" / "golden"


def _classes(base: type[Change] = Change) -> list[type[Change]]:
    out = []
    for c in base.__subclasses__():
        out += [c] if not c.__name__.startswith("_") else []
        out += _classes(c)
    return out


CLASSES = _classes()


def test_every_change_class_has_a_kind_a_rank_and_a_renderer() -> None:
    registry = render_module._render.registry  # the dispatch table of render()
    missing = [c.__name__ for c in CLASSES if c not in registry]
    assert not missing, f"no renderer registered for {missing}"
    for c in CLASSES:
        assert isinstance(c.kind, Kind), c
        assert isinstance(c.rank, (int, float)), c
    # Every kind is some class's (the JSON's names stay a closed set).
    assert {c.kind for c in CLASSES} == set(Kind)


CASES = sorted(p for p in GOLDEN.iterdir() if (p / "plan.json").is_file())


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_reverse_undoes_each_change(case: Path) -> None:
    """Where a change has a reverse, reversing it twice gives it back, and the reverse
    renders (it is a change PostgreSQL can run)."""
    forward = build_plan(load_model(case / "current.json"), load_model(case / "desired.json"))
    for step in forward.steps:
        back = step.change.reverse()
        if back is None:
            continue
        assert render_module.render(back), back.describe()
        again = back.reverse()
        assert again is not None
        assert (type(again), again.target, again.before, again.after, again.parent) == (
            type(step.change), step.change.target, step.change.before, step.change.after,
            step.change.parent), step.change.describe()


def _fields(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_equality_and_repr_cover_every_field_of_the_class(cls: type[Change]) -> None:
    """A class that only narrows ``before``/``after`` keeps the base's ``__eq__`` and
    ``__repr__`` (they compare and show the same fields, and start-up builds fewer
    methods); one that adds a field must generate its own, or the field would be left
    out of equality, hashing and the repr."""
    for method in ("__eq__", "__repr__", "__hash__"):
        owner = next(k for k in cls.__mro__ if method in k.__dict__)
        assert _fields(owner) == _fields(cls), (cls.__name__, method, owner.__name__)


def test_changes_are_equal_by_class_and_every_field() -> None:
    a = CreateSchema(target=("schema", "app"), after=Schema(name="app"))
    assert a == CreateSchema(target=("schema", "app"), after=Schema(name="app"))
    assert hash(a) == hash(CreateSchema(target=("schema", "app"), after=Schema(name="app")))
    assert a != replace(a, reason="depends on app.t")
    assert a != DropSchema(target=("schema", "app"), before=Schema(name="app"))
    assert repr(a).startswith("CreateSchema(target=('schema', 'app'), before=None, after=")
