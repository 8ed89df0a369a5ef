"""The names PostgreSQL makes up for objects (constraints, indexes, sequences)."""

from __future__ import annotations

from collections.abc import MutableSet
from collections.abc import Set as AbstractSet

from trimtab.sqltext import NAMEDATALEN, clip

# --------------------------------------------------------------------------------------
# Object names PostgreSQL makes up

def _object_name(name1: str, name2: str | None, label: str | None) -> str:
    """PostgreSQL's makeObjectName()."""
    n1 = len(name1.encode())
    n2 = len(name2.encode()) if name2 else 0
    overhead = (len(label) + 1 if label else 0) + (1 if name2 else 0)
    avail = NAMEDATALEN - 1 - overhead
    while n1 + n2 > avail:
        if n1 > n2:
            n1 -= 1
        else:
            n2 -= 1
    out = clip(name1, n1)
    if name2:
        out += "_" + clip(name2, n2)
    if label:
        out += "_" + label
    return out


def choose_name(name1: str, name2: str | None, label: str, taken: MutableSet[str],
                 *also: AbstractSet[str]) -> str:
    """PostgreSQL's ChooseRelationName()/ChooseConstraintName(): add 1, 2... when the name
    is in ``taken`` or ``also``; the name chosen is added to ``taken``."""
    name = _object_name(name1, name2, label)
    k = 0
    while name in taken or any(name in x for x in also):
        k += 1
        name = _object_name(name1, name2, f"{label}{k}")
    taken.add(name)
    return name


def column_names_addition(cols: tuple[str, ...] | list[str]) -> str:
    """PostgreSQL's ChooseIndexColumnNames() + ChooseIndexNameAddition(): column names
    ("expr" for expressions) made unique with 1, 2..., joined with '_'."""
    names: list[str] = []
    for c in cols:
        base = c or "expr"
        name = base
        k = 0
        while name in names:
            k += 1
            name = f"{base}{k}"
        names.append(name)
    return clip("_".join(names), NAMEDATALEN - 1)
