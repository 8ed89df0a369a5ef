"""Real public Drizzle PostgreSQL projects, as their authors wrote them.

fixtures/drizzle/real/projects.json names each project: repository, commit, license, the
files (every file its drizzle.config.ts `schema` names, the local files they import, the
config itself), the environment variable the config reads the URL from, and the npm
packages its schema loads. The files are kept whole under fixtures/drizzle/real/<name>/ with
their original relative paths, the license as LICENSE and the origin of each in SOURCE.

For each project: the pinned drizzle-kit pushes it into an empty database A; `trimtab push
--force` (the CLI, run in the project's folder, the URL in the config's variable) into an
empty database B; both catalogs must be equal, and a second `trimtab push --dry-run` must
plan nothing. A project trimtab does not read must fail with a message naming the file and
line of what is not read; such projects are xfail(strict) with the measured message, so
each fix of the reader flips one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests import drizzle_kit, test_drizzle_schema
from tests.test_cli_push import run
from tests.test_drizzle_schema import _differences
from trimtab.model import Model, Policy
from trimtab.plan import build_plan
from trimtab.sources.introspect import introspect

pytestmark = pytest.mark.slow  # drizzle-kit on each project: `pytest -m slow`, and CI

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "fixtures" / "drizzle" / "real"
fresh_db = test_drizzle_schema.fresh_db  # the fixture: a new empty database per call
PROJECTS: list[dict[str, Any]] = json.loads((REAL / "projects.json").read_text())
NPM = sorted({p for project in PROJECTS for p in project["npm"]})
# What a message that names its place looks like: `path/file.ts:12` (a column may follow).
LOCATED = re.compile(r"[\w@./-]+\.[cm]?[tj]sx?:\d+")


class NotRead(AssertionError):
    """trimtab stopped on the project with a message naming the file and line of what it
    does not read: the expected failure of a project the reader does not cover yet."""


class Wrong(AssertionError):
    """The measured wrong result of a project (`wrong` in projects.json): an expected
    failure until the reader is fixed."""


def materialize(project: dict[str, Any]) -> Path:
    """The project's files as its repository has them at the pinned commit, with its
    license (fixtures/drizzle/real/<name>/, SOURCE says where each file comes from)."""
    folder = REAL / project["name"]
    missing = [rel for rel in [*project["files"], "LICENSE"] if not (folder / rel).is_file()]
    assert not missing, f"{project['name']}: projects.json names missing files: {missing}"
    return folder


@pytest.fixture(scope="module")
def kit() -> Path:
    """One install of the pinned drizzle-kit with every package the projects load."""
    why = drizzle_kit.missing_tool()
    if why:
        pytest.skip(why)
    return drizzle_kit.ensure_drizzle_kit(NPM)


def _introspect(url: str) -> Model:
    with psycopg.connect(url, autocommit=True) as conn:
        return introspect(conn)


def _marks(project: dict[str, Any]) -> list[pytest.MarkDecorator]:
    """The measured state of a project: `xfail` is the start of trimtab's message where it
    stops with its file and line (NotRead); `wrong` any other wrong result (Wrong). Any
    other failure, a changed first message included, fails the test: a fix shows."""
    if project.get("xfail"):
        return [pytest.mark.xfail(strict=True, raises=NotRead, reason=project["xfail"])]
    if project.get("wrong"):
        return [pytest.mark.xfail(strict=True, raises=Wrong, reason=project["wrong"]["why"])]
    return []


def _tables(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON "
                           "n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND "
                           "n.nspname NOT IN ('pg_catalog', 'information_schema') AND "
                           "n.nspname NOT LIKE 'pg_toast%'").fetchone()
    return int(row[0]) if row else 0


def _first_line(text: str, folder: Path) -> str:
    """The first error line of a tool's output, paths relative to the project."""
    lines = [ln.strip() for ln in text.replace(f"{folder}/", "").splitlines()]
    return next((ln for ln in lines if re.match(r"(\w*Error\b|error\b)", ln, re.I)),
                lines[-1] if lines else "")


@pytest.mark.parametrize("project", [pytest.param(p, id=p["name"], marks=_marks(p))
                                     for p in PROJECTS])
def test_real_project(project: dict[str, Any], kit: Path,
                      fresh_db: Callable[[], str], tmp_path: Path) -> None:
    folder = tmp_path / "project"  # a copy: trimtab may write beside the config
    shutil.copytree(materialize(project), folder)
    drizzle_kit.link_workspace(folder, project.get("workspace", {}))
    a, b = _database(project, fresh_db), _database(project, fresh_db)
    pushed = drizzle_kit.push([(rel, (folder / rel).read_text()) for rel in project["files"]],
                              project["schema"], a, casing=project["casing"],
                              schema_filter=project.get("schema_filter"),
                              extra=project["npm"], cwd=project["root"],
                              workspace=project.get("workspace"))
    # push exits 0 on several failures: its own words say whether it applied the schema
    kit_ok = pushed.returncode == 0 and "Changes applied" in pushed.output
    # TRIMTAB_DRIZZLE_REAL_REPORT: a file that gets one JSON line per project (the table of
    # docs/drizzle.md is made from it)
    report: dict[str, Any] = {"name": project["name"], "kit_ok": kit_ok,
                              "kit_tables": _tables(a) if kit_ok else None,
                              "kit_error": None if kit_ok else _first_line(pushed.output, folder)}
    try:
        _check(project, folder, kit_ok, pushed.output, a, b, report)
        if kit_ok:
            _check_policies(project, folder, b, lambda: _database(project, fresh_db))
        report["trimtab"] = "equal + idempotent" if kit_ok else "idempotent"
    except AssertionError as e:
        text = str(e).replace(f"{folder}/", "")
        first = text.splitlines()[0] if text else ""
        report["trimtab"] = (f"fails: {_first_line(text, folder)}" if isinstance(e, NotRead)
                             else f"wrong: {first}")
        if isinstance(e, NotRead):
            if project.get("xfail") and f"error: {project['xfail']}" not in text:
                raise AssertionError("trimtab's first message changed; update projects.json:"
                                     f"\n{text}") from e
            raise
        wrong = project.get("wrong")
        if wrong and wrong["match"] in first:
            raise Wrong(text) from e
        raise
    finally:
        if os.environ.get("TRIMTAB_DRIZZLE_REAL_REPORT"):
            with open(os.environ["TRIMTAB_DRIZZLE_REAL_REPORT"], "a") as f:
                f.write(json.dumps(report) + "\n")


def _database(project: dict[str, Any], fresh_db: Callable[[], str]) -> str:
    """A new empty database with what the project's first migrations create before any
    table (`setup`: extensions)."""
    url = fresh_db()
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in project.get("setup", []):
            conn.execute(statement)
    return url


def _without_policy_expressions(model: Model) -> Model:
    """The model with every policy's USING and WITH CHECK left out: `drizzle-kit push`
    creates policies without them (it compares policies by name, kind and roles only),
    while trimtab writes them as `drizzle-kit generate` does; _check_policies judges them."""
    return replace(model, tables={
        key: replace(t, policies=tuple(replace(p, using=None, with_check=None)
                                       for p in t.policies))
        for key, t in model.tables.items()})


def _policies(model: Model) -> dict[tuple[str, ...], tuple[Policy, ...]]:
    return {key: tuple(sorted(t.policies, key=lambda p: p.name))
            for key, t in model.tables.items() if t.policies}


def _check_policies(project: dict[str, Any], folder: Path, b: str,
                    new_database: Callable[[], str]) -> None:
    """trimtab's policies, expressions included, against a database built from the SQL
    `drizzle-kit generate` writes for the project (the expressions drizzle-kit means)."""
    model_b = _introspect(b)
    if not _policies(model_b):
        return
    result, migrations = drizzle_kit.generate(
        [(rel, (folder / rel).read_text()) for rel in project["files"]], project["schema"],
        casing=project["casing"], schema_filter=project.get("schema_filter"),
        extra=project["npm"], cwd=project["root"], workspace=project.get("workspace"))
    assert result.returncode == 0 and migrations, (
        f"drizzle-kit generate wrote no migration for {project['name']}:\n{result.output}")
    c = new_database()
    with psycopg.connect(c, autocommit=True) as conn:
        for migration in migrations:
            for statement in migration.split("--> statement-breakpoint"):
                if statement.strip():
                    conn.execute(statement)
    generated, pushed = _policies(_introspect(c)), _policies(model_b)
    wrong = [f"{'.'.join(key)}:\n  drizzle-kit generate: {generated.get(key)}\n"
             f"  trimtab:              {pushed.get(key)}"
             for key in sorted(set(generated) | set(pushed))
             if generated.get(key) != pushed.get(key)]
    assert not wrong, "trimtab's policies differ from drizzle-kit generate's:\n" + \
        "\n".join(wrong)


def _check(project: dict[str, Any], folder: Path, kit_ok: bool, kit_output: str, a: str,
           b: str, report: dict[str, Any]) -> None:
    if project.get("kit_fails"):
        assert not kit_ok, f"drizzle-kit now pushes {project['name']}: update projects.json"
    else:
        assert kit_ok, f"drizzle-kit does not push {project['name']}:\n{kit_output}"
    cwd = folder / project["root"]
    env = {project["env"]: b}
    url: tuple[str, ...] = ()
    if project.get("url") == "computed":
        # The config computes its URL in code trimtab does not run: an error at its line,
        # never a guess at another database; the user passes --url.
        r = run(cwd, "push", "--force", env=env)
        out = (r.stdout + r.stderr).strip()
        assert r.returncode != 0 and re.search(r"drizzle\.config\.ts:\d+", out) \
            and "cannot read" in out, f"a computed url was not refused at its line:\n{out}"
        assert not _tables(b), "trimtab pushed although it could not read the url"
        url = ("--url", b)
    r = run(cwd, "push", "--force", *url, env=env)
    out = (r.stdout + r.stderr).strip()
    if r.returncode != 0:
        assert LOCATED.search(out), f"trimtab fails without naming a file and line:\n{out}"
        raise NotRead(out)
    assert "embedded PostgreSQL" not in out, (
        f"trimtab pushed into its embedded database, not the URL in {project['env']}:\n{out}")
    report["trimtab_tables"] = _tables(b)
    # every project declares tables: a push that makes none has read nothing, silently
    assert report["trimtab_tables"], f"trimtab read no table and said nothing:\n{out}"
    if kit_ok:
        # policy expressions aside (push leaves them out): _check_policies judges them
        model_a = _without_policy_expressions(_introspect(a))
        model_b = _without_policy_expressions(_introspect(b))
        steps = [s for step in build_plan(model_a, model_b).steps for s in step.sql]
        assert not steps, ("trimtab's database differs from drizzle-kit's:\n"
                           + "\n".join(steps) + "\n\n" + out)
        assert not _differences(model_a, model_b), "\n".join(_differences(model_a, model_b))
    again = run(cwd, "push", "--dry-run", "--exit-code", *url, env=env)
    assert again.returncode == 0 and not again.stdout.strip(), (
        f"a second push plans something:\n{again.stdout}\n{again.stderr}")
