"""The planner: diff two models, order the changes, render them as SQL."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from trimtab.model import Model
from trimtab.plan.changes import AlterColumn, Change, Kind, Plan, Step
from trimtab.plan.diff import diff
from trimtab.plan.order import order
from trimtab.plan.renames import Rename, apply_renames, follow_sequences, rename_changes
from trimtab.plan.render import render

__all__ = ["Change", "Kind", "Plan", "Rename", "Step", "build_plan", "plan_models"]


def plan_models(current: Model, desired: Model, renames: Iterable[Rename] = (),
                using: Mapping[tuple[str, ...], str] | None = None, *,
                render_sql: bool = True) -> Plan:
    """The classified plan from ``current`` to ``desired``: what every entry point shows
    (push, generate, status, the editor, the studio). ``render_sql=False``: the editor's
    fast path, on models cut down to what changed, wants the changes and their hazards
    only; its steps carry no SQL."""
    from trimtab.plan.hazards import classify_plan  # hazards imports this package's parts

    return classify_plan(build_plan(current, desired, renames, using, render_sql=render_sql))


def build_plan(current: Model, desired: Model, renames: Iterable[Rename] = (),
               using: Mapping[tuple[str, ...], str] | None = None, *,
               render_sql: bool = True) -> Plan:
    """The ordered, rendered changes that turn ``current`` into ``desired``.

    ``renames`` (decided by the user) run first; a serial's sequence follows its column
    on its own. Everything else is planned against the renamed model. ``using``: column
    key -> the expression that converts its values, for a column whose type changes.
    """
    version = current.server_version or desired.server_version or 180000
    renames = list(renames)
    renames += follow_sequences(apply_renames(current, renames), desired)
    first, renamed = rename_changes(current, renames)
    steps = []
    for change in [*first, *order(diff(renamed, desired))]:
        if using and isinstance(change, AlterColumn) and change.target in using and \
                change.before.type != change.after.type:
            change = replace(change, using=using[change.target])
        if not render_sql:
            steps.append(Step(change, ()))
            continue
        sql = render(change, version)
        if sql:  # an alteration PostgreSQL has nothing to say for (a default's spelling)
            steps.append(Step(change, tuple(sql)))
    unmanaged = tuple(dict.fromkeys(current.unmanaged + desired.unmanaged))
    return Plan(tuple(steps), unmanaged)
