"""``--json`` as a script reads it: every command's document against the shape documented
in docs/json/format-1.json, structured drift, and the exit codes of docs/ci.md."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.test_cli_push import run, run_here, write

FORMAT = json.loads((Path(__file__).parent.parent / "docs" / "json" / "format-1.json")
                    .read_text())

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "boolean": (bool,),
    "null": (type(None),), "integer": (int,), "number": (int, float)}


def violations(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """What in ``value`` does not fit ``schema`` (the subset of JSON Schema the file uses);
    [] when it fits."""
    if "$ref" in schema:
        return violations(value, FORMAT["definitions"][schema["$ref"]], where)
    if "oneOf" in schema:
        fits = [s for s in schema["oneOf"] if not violations(value, s, where)]
        return [] if len(fits) == 1 else [f"{where}: fits {len(fits)} of oneOf"]
    if "const" in schema and value != schema["const"]:
        return [f"{where}: {value!r} is not {schema['const']!r}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: {value!r} not in {schema['enum']}"]
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        ok = any(isinstance(value, _TYPES[n]) and not (
            isinstance(value, bool) and n in ("integer", "number")) for n in names)
        if not ok:
            return [f"{where}: {type(value).__name__} is not {'/'.join(names)}"]
    found: list[str] = []
    if isinstance(value, dict):
        props = schema.get("properties", {})
        found += [f"{where}: lacks {k!r}" for k in schema.get("required", ()) if k not in value]
        if schema.get("additionalProperties", True) is False:
            found += [f"{where}: undocumented key {k!r}" for k in value if k not in props]
        for k, v in value.items():
            if k in props:
                found += violations(v, props[k], f"{where}.{k}")
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            found += violations(v, schema["items"], f"{where}[{i}]")
    return found


def document(project: Path, *args: str, code: int = 0) -> dict[str, Any]:
    """Run ``trimtab *args`` (no terminal), check its exit code and that stdout is one
    JSON document of the documented shape; the document."""
    r = run(project, *args)
    assert r.returncode == code, (args, r.returncode, r.stdout, r.stderr)
    doc = json.loads(r.stdout)
    assert doc["format"] == 1, doc
    shape = FORMAT["commands"]["error" if "error" in doc else doc["command"]]
    assert violations(doc, shape) == [], (args, violations(doc, shape), doc)
    return doc


def test_the_violations_check_can_fail() -> None:
    shape = FORMAT["commands"]["migrate"]
    good = {"format": 1, "command": "migrate", "database": "x", "dry_run": False,
            "backup": None, "already_applied": 0, "resumed": None,
            "runs": [{"name": "0000_init", "status": "applied", "statements": 1,
                      "seconds": 0.1}]}
    assert violations(good, shape) == []
    assert violations({**good, "runs": [{"name": 1}]}, shape)
    assert violations({**good, "extra": 1}, shape)
    assert violations({k: v for k, v in good.items() if k != "runs"}, shape)
    assert violations({**good, "format": 2}, shape)
    assert violations({**good, "already_applied": True}, shape)


def test_every_command_prints_its_documented_json(project: Path, db_url: str) -> None:
    write(project, "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL);\n")
    gen = document(project, "generate", "--url", db_url, "--json")
    assert [w["name"] for w in gen["written"]] == ["0000_init"]
    assert gen["down"] == "migrations/down/0000_init.down.sql"
    assert gen["changes"][0]["kind"] == "create_table"
    assert document(project, "generate", "--url", db_url, "--json")["written"] == []

    dry = document(project, "migrate", "--url", db_url, "--dry-run", "--json",
                   "--exit-code", code=1)
    assert [(r["name"], r["status"]) for r in dry["runs"]] == [("0000_init", "would apply")]
    applied = document(project, "migrate", "--url", db_url, "--json")
    assert [(r["name"], r["status"]) for r in applied["runs"]] == [("0000_init", "applied")]
    assert document(project, "migrate", "--url", db_url, "--dry-run", "--json",
                    "--exit-code")["runs"] == []

    status = document(project, "status", "--url", db_url, "--json", "--exit-code")
    assert (status["applied"], status["found"]) == (["0000_init"], [])
    assert document(project, "check", "--json")["problems"] == []
    push = document(project, "push", "--url", db_url, "--dry-run", "--json", "--exit-code")
    assert push["changes"] == []

    export = document(project, "export", "--url", db_url, "--json")
    assert "CREATE TABLE public.users" in export["script"]
    to_file = document(project, "export", "--url", db_url, "--json", "-o", "out.sql")
    assert to_file["script"] is None
    assert (project / "out.sql").read_text() == export["script"]

    down = document(project, "migrate", "down", "--url", db_url, "--dry-run", "--json",
                    "--exit-code", code=1)
    assert [(r["name"], r["status"]) for r in down["runs"]] == [("0000_init", "would revert")]
    undone = document(project, "migrate", "down", "--url", db_url, "--json", "--force")
    assert [r["status"] for r in undone["runs"]] == ["reverted"]

    refused = document(project, "reset", "--url", db_url, "--json", code=1)
    assert refused["error"]["type"] == "ConsentRequired"
    reset = document(project, "reset", "--url", db_url, "--json", "--yes")
    assert reset["rebuilt_with"] == "schema"
    assert document(project, "migrate", "rebase", "--json")["renamed"] == []

    # the embedded server is not started here (it is not needed to say it is not running)
    assert document(project, "db", "status", "--json")["running"] is False
    assert document(project, "db", "url", "--json", code=1)["url"] is None
    assert document(project, "db", "stop", "--json")["stopped"] is False
    pgdata = project / ".trimtab" / "pgdata"  # (.trimtab/ also holds push's no-op record)
    assert not pgdata.exists() and not pgdata.is_symlink()

    write(project, "CREATE TABLE users (id int PRIMARY KEY,\n  email nosuchtype);\n")
    failed = document(project, "push", "--url", db_url, "--json", code=1)
    assert failed["command"] == "push" and failed["error"]["message"]


def _migrated(project: Path, db_url: str, schema: str) -> None:
    """Set-up, in this process (test_every_command_prints_its_documented_json runs these
    commands as processes)."""
    write(project, schema)
    assert run_here(project, "generate", "--url", db_url).returncode == 0
    assert run_here(project, "migrate", "--url", db_url).returncode == 0


def test_drift_is_data_not_sentences(project: Path, db_url: str) -> None:
    _migrated(project, db_url, "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL,"
                               " name text);\n")
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE users ALTER COLUMN email TYPE varchar(200), "
                     "ALTER COLUMN email DROP NOT NULL")
        conn.execute("ALTER TABLE users ADD COLUMN nickname text")
        conn.execute("ALTER TABLE users RENAME COLUMN name TO full_name")
    status = document(project, "status", "--url", db_url, "--json", "--exit-code", code=1)
    drift = {d["object"]: d for d in status["drift"]}
    email = drift["public.users.email"]
    assert (email["kind"], email["change"], sorted(email["differs"])) == (
        "column", "altered", ["not_null", "type"])
    assert (drift["public.users.nickname"]["change"],
            drift["public.users.nickname"]["differs"]) == ("extra", [])
    # without a rename hint, a renamed column is one missing and one extra
    assert drift["public.users.name"]["change"] == "missing"
    assert drift["public.users.full_name"]["change"] == "extra"
    assert status["found"] == ["drift"]


@pytest.mark.parametrize("case", ["clean", "pending", "drift", "edited", "missing",
                                  "unmigrated"])
def test_status_exit_code(project: Path, db_url: str, case: str) -> None:
    _migrated(project, db_url, "CREATE TABLE t (id int PRIMARY KEY);\n")
    if case != "clean":
        write(project, "CREATE TABLE t (id int PRIMARY KEY, a text);\n")
        assert run_here(project, "generate", "--url", db_url).returncode == 0
        if case != "pending":
            assert run_here(project, "migrate", "--url", db_url).returncode == 0
    migration = project / "migrations" / "0001_add_t_a.sql"
    if case == "drift":
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("CREATE INDEX t_a ON t (a)")
    elif case == "edited":
        migration.write_text(migration.read_text() + "\nSELECT 1;\n")
    elif case == "missing":
        migration.unlink()
    elif case == "unmigrated":
        write(project, "CREATE TABLE t (id int PRIMARY KEY, a text, b text);\n")
    status = run(project, "status", "--url", db_url, "--exit-code")
    assert status.returncode == (0 if case == "clean" else 1), (case, status.stdout,
                                                                status.stderr)
    doc = document(project, "status", "--url", db_url, "--json", "--exit-code",
                   code=status.returncode)
    if case == "missing":  # the folder cannot be read: an error, which names the file
        assert doc["error"]["file"].endswith("0001_add_t_a.sql"), doc
    else:
        assert doc["found"] == {"clean": [], "pending": ["pending"], "drift": ["drift"],
                                "edited": ["problems"], "unmigrated": ["unmigrated"]}[case]
    if case in ("pending", "drift", "unmigrated"):  # these alone never stop a plain status
        assert run(project, "status", "--url", db_url).returncode == 0
    if case == "pending":  # a drift gate that lets the deploy's migrations through
        assert run(project, "status", "--url", db_url, "--exit-code",
                   "drift,problems").returncode == 0


def test_exit_code_goes_with_dry_run(project: Path, db_url: str) -> None:
    _migrated(project, db_url, "CREATE TABLE t (id int PRIMARY KEY);\n")
    r = run(project, "migrate", "--url", db_url, "--exit-code")
    assert r.returncode == 2 and "--exit-code only goes with --dry-run" in r.stderr
    bad = run(project, "status", "--url", db_url, "--exit-code", "drfit")
    assert bad.returncode == 2 and "drfit" in bad.stderr


def test_an_interrupted_migrate_says_what_it_applied_as_json(project: Path, db_url: str,
                                                              sql: Any) -> None:
    from tests.test_migrate import add
    from tests.test_migrate_safety import (
        GATE,
        blocked_backend,
        holding,
        project_with,
        start_migrate,
    )

    folder = project_with(project)
    sql("CREATE TABLE gate (id int); INSERT INTO gate VALUES (1)")
    first = add(folder, "t", "CREATE TABLE t (id int)")
    stuck = add(folder, "stuck", "INSERT INTO t SELECT 1 FROM gate")
    with holding(db_url, GATE):
        proc = start_migrate(project, db_url, "--json")
        blocked_backend(sql, "SELECT 1 FROM gate", proc)
        proc.send_signal(signal.SIGINT)
        out, errout = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + errout
    doc = json.loads(out)
    assert violations(doc, FORMAT["commands"]["error"]) == []
    assert (doc["command"], doc["error"]["type"]) == ("migrate", "Interrupted")
    assert (doc["error"]["applied"], doc["error"]["current"]) == ([first.name], stuck.name)
