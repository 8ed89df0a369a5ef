"""trimtab's diff of two live databases, as one process: what ``migra URL_A URL_B`` does.

``python -m bench.dbdiff URL_FROM URL_TO`` introspects both databases with trimtab's
catalog reader, plans the changes from the first to the second and prints their SQL.
Exit status 0 when they match, 2 when there are changes (migra's convention). The
benchmark times it next to migra; trimtab's own commands never diff two live databases
(they compare with the schema file's shadow database), so this is the like-for-like step.
"""

from __future__ import annotations

import sys

from trimtab.plan import build_plan
from trimtab.sources.introspect import introspect
from trimtab.sources.shadow import connect


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m bench.dbdiff URL_FROM URL_TO", file=sys.stderr)
        return 1
    models = []
    for url in args:
        with connect(url) as conn:
            models.append(introspect(conn))
    plan = build_plan(models[0], models[1])
    for statement in plan.statements:
        print(statement.rstrip(";") + ";")
    return 2 if plan.statements else 0


if __name__ == "__main__":
    raise SystemExit(main())
