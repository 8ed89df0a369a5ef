"""Golden plans: for each case in fixtures/golden/, the frozen current and desired models go
through the pure planner (no database) and must give plan.sql and plan.json (or
error.json) exactly. A change of output is either a bug or an intended change, regenerated
with ``python -m tests.golden --update <case>`` and reviewed in the diff
(fixtures/golden/README.md).

No test here requests a database fixture; ``_no_connection`` makes any attempt to open one
fail the test, and ``test_pure_path_loads_no_database_code`` checks in a fresh interpreter
that the pipeline loads neither the engine nor the shadow nor introspection.
"""

from __future__ import annotations

import difflib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.golden import (
    GOLDEN,
    case_names,
    dump_model,
    expected,
    load_case,
    load_model,
    render_outputs,
)
from trimtab.plan.changes import Kind

CASES = case_names()

# Kinds no golden case shows, each with the reason no SQL case can produce it today. A new
# Kind fails test_every_kind_has_a_golden_case until a case shows it or it is listed here.
NOT_FROM_SQL: dict[Kind, str] = {
    Kind.DROP_EXTENSION: "the engine keeps, on both sides, only the extensions the schema "
    "file creates (engine._managed_extensions): one the file no longer creates is left "
    "alone, so the diff never sees it go",
    Kind.CREATE_INDEX_CONCURRENTLY: "the online-safe forms of generate (plan/online.py), "
    "not the diff's plan: tests/test_online_migrations.py",
    Kind.DROP_INDEX_CONCURRENTLY: "the online-safe forms of generate (plan/online.py), "
    "not the diff's plan: tests/test_online_migrations.py",
}


@pytest.fixture(autouse=True)
def _no_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening a database connection from these tests is a failure, not a slow pass."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the golden plan tests must not connect to a database")

    monkeypatch.setattr(psycopg.Connection, "connect", refuse)
    monkeypatch.setattr(psycopg, "connect", refuse)


def _diff(name: str, want: str, got: str) -> str:
    return "".join(difflib.unified_diff(
        want.splitlines(keepends=True), got.splitlines(keepends=True),
        fromfile=f"{name} (golden)", tofile=f"{name} (planner today)"))


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 35, CASES


@pytest.mark.parametrize("name", CASES)
def test_golden_plan(name: str) -> None:
    case = load_case(name)
    want = expected(case)
    got = render_outputs(case.current, case.desired, case.desired_sql)
    assert set(got) == set(want), (
        f"{name}: the planner now gives {sorted(got)}, the golden holds {sorted(want)}")
    problems = [_diff(f"{name}/{f}", want[f], got[f]) for f in sorted(want) if want[f] != got[f]]
    assert not problems, (
        "\n".join(problems) + "\nIf this change is intended: python -m tests.golden "
        f"--update {name}, and review the diff")


_TRIMTAB_LINE = re.compile(r'^  "trimtab": "[^"]*",$', re.M)


@pytest.mark.parametrize("file", [f"{n}/{m}.json" for n in CASES for m in ("current", "desired")])
def test_model_round_trips(file: str) -> None:
    """load -> dump gives the file back: a change of the snapshot format shows here."""
    path = GOLDEN / file
    text = path.read_text(encoding="utf-8")
    again = dump_model(load_model(path))
    # The writer's version is informative; the model is what must not move.
    held = _TRIMTAB_LINE.search(text)
    assert held is not None, f"{file} has no trimtab line"
    again = _TRIMTAB_LINE.sub(lambda _: held[0], again, count=1)
    assert again == text, _diff(file, text, again)


def _kinds_shown() -> dict[str, list[str]]:
    shown: dict[str, list[str]] = {}
    for name in CASES:
        plan = GOLDEN / name / "plan.json"
        if plan.is_file():
            for ch in json.loads(plan.read_text(encoding="utf-8"))["changes"]:
                shown.setdefault(ch["kind"], []).append(name)
    return shown


def test_every_kind_has_a_golden_case() -> None:
    shown = _kinds_shown()
    missing = [k for k in Kind if k.value not in shown and k not in NOT_FROM_SQL]
    assert not missing, f"no golden case shows {missing}: add one, or say why in NOT_FROM_SQL"
    stale = [k for k in NOT_FROM_SQL if k.value in shown]
    assert not stale, (f"{stale} are listed as not producible, "
                       f"but {[shown[k.value] for k in stale]} show them")


def test_there_is_a_refused_and_a_consent_case() -> None:
    """The pure planner's two ways of saying no: an error, and a plan that needs consent."""
    refused = [n for n in CASES if (GOLDEN / n / "error.json").is_file()]
    consent = [n for n in CASES if (GOLDEN / n / "plan.json").is_file() and json.loads(
        (GOLDEN / n / "plan.json").read_text(encoding="utf-8"))["needs_consent"]]
    assert refused and consent, (refused, consent)


# Modules that reach a database; the pure pipeline must not load them.
_DATABASE_MODULES = ("trimtab.engine", "trimtab.sources.shadow", "trimtab.sources.introspect",
                     "trimtab.sources.shadowcache", "trimtab.embedded", "tests.conftest")


def test_pure_path_loads_no_database_code() -> None:
    code = (
        "import sys\n"
        "from tests.golden import case_names, load_case, render_outputs\n"
        "for n in case_names():\n"
        "    c = load_case(n)\n"
        "    render_outputs(c.current, c.desired, c.desired_sql)\n"
        f"print(sorted(m for m in {_DATABASE_MODULES!r} if m in sys.modules))\n"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.fixture(scope="module", autouse=True)
def _cases_exist() -> Iterator[None]:
    assert CASES, f"no golden cases under {GOLDEN}"
    yield
