"""The pipelines of docs/ci.md, run: each job's trimtab commands, exactly as written, in a
shell without a terminal, against the suite's PostgreSQL, stopping at the first failing
step as a CI runner does. A clean pull request passes every job; a drifted staging
database fails the drift gate and stops the deploy before anything runs; a schema change
without its migration fails the check."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql as pgsql

from tests.conftest import with_database
from tests.test_cli_json import FORMAT, violations
from tests.test_cli_push import run, write

CI_DOC = Path(__file__).parent.parent / "docs" / "ci.md"
V1 = "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL);\n"
V2 = "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, name text);\n"


def pipelines() -> dict[str, dict[str, list[str]]]:
    """{"github" | "gitlab": {job: [trimtab command, ...]}} from docs/ci.md's yaml blocks,
    by the rule that page states: a job is a key at the jobs' indentation (under ``jobs:``
    for GitHub, at the top level for GitLab); a command is a one-line ``run:`` step or an
    item of a ``script:`` list."""
    found: dict[str, dict[str, list[str]]] = {}
    for block in re.findall(r"```yaml\n(.*?)```", CI_DOC.read_text(), re.S):
        lines = block.splitlines()
        github = "jobs:" in lines
        jobs: dict[str, list[str]] = {}
        in_jobs, job, script = not github, None, None
        for line in lines:
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            indent = len(line) - len(line.lstrip())
            if github and indent == 0:
                in_jobs, job = text == "jobs:", None
                continue
            if in_jobs and indent == (2 if github else 0) and re.fullmatch(r"[\w-]+:", text):
                job, script = text[:-1], None
                jobs[job] = []
                continue
            if job is None:
                continue
            if github:
                step = re.fullmatch(r"(?:- )?run: (.*)", text)
                if step:
                    assert not step.group(1).startswith(("|", ">")), line  # one-line steps only
                    jobs[job].append(step.group(1))
                continue
            if text == "script:":
                script = indent
            elif script is not None and indent >= script and text.startswith("- "):
                jobs[job].append(text[2:])
            else:
                script = None
        found["github" if github else "gitlab"] = {
            name: [c for c in commands if c.startswith("trimtab ")]
            for name, commands in jobs.items() if any(c.startswith("trimtab ") for c in commands)}
    return found


def test_the_page_has_both_pipelines_with_their_three_jobs() -> None:
    found = pipelines()
    assert set(found) == {"github", "gitlab"}
    for jobs in found.values():
        assert set(jobs) == {"check", "drift", "deploy"}, jobs
        assert "trimtab migrate --backup" in jobs["deploy"]
        assert any("--exit-code" in c for c in jobs["drift"])
    assert found["github"] == found["gitlab"]  # one pipeline, said twice


def run_job(commands: list[str], project: Path, url: str) -> list[int]:
    """The exit codes of the job's steps, up to and including the first that fails."""
    env = {k: v for k, v in os.environ.items() if k not in ("DIRECT_DATABASE_URL",)}
    env["DATABASE_URL"] = url
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    codes = []
    for command in commands:
        done = subprocess.run(["sh", "-c", command], cwd=project, env=env, text=True,
                              capture_output=True, stdin=subprocess.DEVNULL, timeout=120)
        codes.append(done.returncode)
        if done.returncode != 0:
            break
    return codes


@pytest.fixture
def ci_database(admin_url: str) -> Iterator[str]:
    """An empty database, as a CI service container gives (not a template's clone)."""
    name = f"ci_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    try:
        yield with_database(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                pgsql.Identifier(name)))


def columns(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'public.users'::regclass "
            "AND attnum > 0 AND NOT attisdropped ORDER BY attnum")]


@pytest.fixture
def pull_request(project: Path, db_url: str) -> Path:
    """main made 0000 and staging (``db_url``) applied it; the pull request adds a column
    and its migration 0001, pending on staging."""
    write(project, V1)
    assert run(project, "generate", "--url", db_url).returncode == 0
    assert run(project, "migrate", "--url", db_url).returncode == 0
    write(project, V2)
    assert run(project, "generate", "--url", db_url).returncode == 0
    return project


@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_a_clean_pull_request_passes_and_deploys(ci: str, pull_request: Path, db_url: str,
                                                 ci_database: str) -> None:
    jobs = pipelines()[ci]
    assert run_job(jobs["check"], pull_request, ci_database) == [0] * len(jobs["check"])
    assert columns(ci_database) == ["id", "email", "name"]
    assert run_job(jobs["drift"], pull_request, db_url) == [0] * len(jobs["drift"])
    assert run_job(jobs["deploy"], pull_request, db_url) == [0] * len(jobs["deploy"])
    assert columns(db_url) == ["id", "email", "name"]  # deployed
    assert list((pull_request / ".trimtab" / "backups").glob("*.dump"))  # after a backup
    status = json.loads((pull_request / "status.json").read_text())
    assert violations(status, FORMAT["commands"]["status"]) == []
    assert (status["pending"], status["drift"], status["found"]) == ([], [], [])


@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_a_drifted_staging_fails_the_gate_and_stops_the_deploy(
        ci: str, pull_request: Path, db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE users ALTER COLUMN email DROP NOT NULL")
    jobs = pipelines()[ci]
    assert run_job(jobs["drift"], pull_request, db_url) == [1]
    deploy = run_job(jobs["deploy"], pull_request, db_url)
    gate = jobs["deploy"].index("trimtab status --exit-code drift,problems")
    assert deploy == [0] * gate + [1]  # stopped at the gate
    assert columns(db_url) == ["id", "email"]  # nothing was migrated
    assert not (pull_request / ".trimtab" / "backups").exists()


@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_a_change_without_its_migration_fails_the_check(ci: str, pull_request: Path,
                                                        ci_database: str) -> None:
    write(pull_request, V2.replace("name text", "name text, age int"))  # no generate
    jobs = pipelines()[ci]
    codes = run_job(jobs["check"], pull_request, ci_database)
    assert codes == [0] * (len(jobs["check"]) - 1) + [1]
    assert jobs["check"][-1] == "trimtab status --exit-code"
