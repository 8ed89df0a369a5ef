"""The planner: diff two models, order the changes, render them as SQL."""

from __future__ import annotations

from trimtab.model import Model
from trimtab.plan.changes import Change, Kind, Plan, Step
from trimtab.plan.diff import diff
from trimtab.plan.order import order
from trimtab.plan.render import render

__all__ = ["Change", "Kind", "Plan", "Step", "build_plan"]


def build_plan(current: Model, desired: Model) -> Plan:
    """The ordered, rendered changes that turn ``current`` into ``desired``."""
    version = current.server_version or desired.server_version or 180000
    steps = []
    for change in order(diff(current, desired)):
        sql = render(change, version)
        if sql:
            steps.append(Step(change, tuple(sql)))
    unmanaged = tuple(dict.fromkeys(current.unmanaged + desired.unmanaged))
    return Plan(tuple(steps), unmanaged)
