"""The everyday loop the Drizzle docs teach: push while working, generate when done, then
migrate. After a push the database already has what the generated migration makes;
trimtab says so and records it instead of failing halfway."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from tests.test_cli_push import run, run_here, write
from tests.test_lsp import client, workspace  # noqa: F401  (pytest fixtures)
from trimtab.migrations.folder import read_folder

BEFORE = "CREATE TABLE users (id int PRIMARY KEY, name text);\n"
RENAMED = ("CREATE TABLE users (\n  id int PRIMARY KEY,\n"
           "  -- trimtab: renamed from name\n  nickname text\n);\n")


def sql_files(project: Path) -> list[str]:
    return sorted(p.name for p in (project / "migrations").glob("*.sql"))


def columns(db_url: str) -> list[str]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT attname FROM pg_attribute WHERE attrelid = "
                            "'public.users'::regclass AND attnum > 0 AND NOT attisdropped "
                            "ORDER BY attnum").fetchall()
    return [r[0] for r in rows]


def recorded(db_url: str) -> list[tuple[str, str]]:
    with psycopg.connect(db_url) as conn:
        return [(r[0], r[1]) for r in conn.execute(
            "SELECT name, checksum FROM trimtab.migrations WHERE finished_at IS NOT NULL "
            "ORDER BY name")]


def pushed_then_generated(project: Path, db_url: str) -> None:
    """Migrated to BEFORE; then the rename pushed, then generated."""
    write(project, BEFORE)
    assert run_here(project, "generate", "--url", db_url).returncode == 0  # set-up
    assert run_here(project, "migrate", "--url", db_url).returncode == 0
    write(project, RENAMED)
    pushed = run(project, "push", "--url", db_url)
    assert pushed.returncode == 0, pushed.stderr
    generated = run(project, "generate", "--url", db_url)
    assert generated.returncode == 0, generated.stderr
    assert len(sql_files(project)) == 2


def test_push_generate_then_mark_applied_closes_the_loop(project: Path, db_url: str) -> None:
    pushed_then_generated(project, db_url)
    name = sql_files(project)[1].removesuffix(".sql")
    doc = json.loads(run(project, "status", "--url", db_url, "--json").stdout)
    assert doc["pending"] == [name] and doc["already_made"] == [name]
    assert doc["drift"] == []
    text = run(project, "status", "--url", db_url).stdout
    assert (f"the database already has what {name} makes: `trimtab migrate --mark-applied` "
            "records it") in text
    marked = run(project, "migrate", "--url", db_url, "--mark-applied")
    assert marked.returncode == 0, marked.stderr
    assert f"marked       {name}" in marked.stdout
    checksum = {m.name: m.checksum for m in read_folder(project / "migrations").migrations}
    assert recorded(db_url) == sorted(checksum.items())  # as an applied one is recorded
    assert columns(db_url) == ["id", "nickname"]
    after = json.loads(run(project, "status", "--url", db_url, "--json").stdout)
    assert (after["pending"], after["drift"], after["already_made"]) == ([], [], [])
    again = run(project, "generate", "--url", db_url)
    assert "Nothing to generate" in again.stdout
    assert len(sql_files(project)) == 2
    assert "Up to date" in run(project, "migrate", "--url", db_url).stdout


def test_migrate_gives_the_advice_and_runs_nothing(project: Path, db_url: str) -> None:
    pushed_then_generated(project, db_url)
    before = recorded(db_url)
    r = run(project, "migrate", "--url", db_url)
    assert r.returncode == 1
    assert "already has what 0001_" in r.stderr and "--mark-applied" in r.stderr
    assert "does not exist" not in r.stderr
    with psycopg.connect(db_url) as conn:  # not even a failed attempt recorded
        rows = conn.execute("SELECT name FROM trimtab.migrations").fetchall()
    assert [r[0] for r in rows] == [n for n, _ in before]
    assert columns(db_url) == ["id", "nickname"]


def test_mark_applied_refuses_a_database_that_differs(project: Path, db_url: str) -> None:
    write(project, BEFORE)
    assert run_here(project, "generate", "--url", db_url).returncode == 0  # set-up
    assert run_here(project, "migrate", "--url", db_url).returncode == 0
    write(project, RENAMED)
    assert run(project, "generate", "--url", db_url).returncode == 0  # not pushed
    before = recorded(db_url)
    r = run(project, "migrate", "--url", db_url, "--mark-applied")
    assert r.returncode == 1
    assert "the database is not what 0001_" in r.stderr
    assert "column public.users.nickname is not in the database" in r.stderr, r.stderr
    assert recorded(db_url) == before
    assert columns(db_url) == ["id", "name"]
    assert run(project, "migrate", "--url", db_url).returncode == 0  # the SQL still runs
    assert columns(db_url) == ["id", "nickname"]


def test_push_warns_before_it_overtakes_a_pending_migration(project: Path,
                                                            db_url: str) -> None:
    write(project, BEFORE)
    assert run_here(project, "generate", "--url", db_url).returncode == 0  # set-up
    assert run_here(project, "migrate", "--url", db_url).returncode == 0
    write(project, RENAMED)
    assert run(project, "generate", "--url", db_url).returncode == 0
    name = sql_files(project)[1].removesuffix(".sql")
    dry = run(project, "push", "--url", db_url, "--dry-run")
    assert f"pending migration {name} also makes" in dry.stderr
    refused = run(project, "push", "--url", db_url)
    assert refused.returncode == 1
    assert f"pending migration {name} also makes" in refused.stderr
    assert "trimtab migrate` first" in refused.stderr and "--mark-applied" in refused.stderr
    assert columns(db_url) == ["id", "name"]
    forced = run(project, "push", "--url", db_url, "--force")
    assert forced.returncode == 0, forced.stderr
    assert run(project, "migrate", "--url", db_url, "--mark-applied").returncode == 0
    assert [n for n, _ in recorded(db_url)] == ["0000_init", name]


def test_push_without_pending_migrations_says_nothing_of_them(project: Path,
                                                              db_url: str) -> None:
    write(project, BEFORE)
    assert run_here(project, "generate", "--url", db_url).returncode == 0  # set-up
    assert run_here(project, "migrate", "--url", db_url).returncode == 0
    write(project, RENAMED)
    r = run(project, "push", "--url", db_url)
    assert r.returncode == 0, r.stderr
    assert "pending migration" not in r.stdout + r.stderr


def test_status_says_a_hinted_rename_is_a_rename(project: Path, db_url: str) -> None:
    write(project, BEFORE)
    assert run_here(project, "generate", "--url", db_url).returncode == 0  # set-up
    assert run_here(project, "migrate", "--url", db_url).returncode == 0
    write(project, RENAMED)
    text = run(project, "status", "--url", db_url).stdout
    assert "rename column public.users.name to nickname" in text
    assert "drop column" not in text and "add column" not in text
    assert run(project, "push", "--url", db_url).returncode == 0
    drift = [d["message"] for d in json.loads(
        run(project, "status", "--url", db_url, "--json").stdout)["drift"]]
    assert drift == ["column public.users.name is named nickname in the database; the "
                     "migrations do not rename it"]


def test_contradictory_drift_lines_are_one(project: Path, db_url: str) -> None:
    write(project, "CREATE TABLE t (id int PRIMARY KEY, a int, b int);\n"
                   "CREATE INDEX t_idx ON t (a);\n")
    assert run_here(project, "generate", "--url", db_url).returncode == 0  # set-up
    assert run_here(project, "migrate", "--url", db_url).returncode == 0
    with psycopg.connect(db_url) as conn:
        conn.execute("DROP INDEX t_idx")
        conn.execute("CREATE INDEX t_idx ON t (b)")
    drift = [d["message"] for d in json.loads(
        run(project, "status", "--url", db_url, "--json").stdout)["drift"]]
    assert len(drift) == 1, drift
    assert drift[0].startswith("index public.t_idx differs from what the migrations made (")


async def test_editor_generate_push_migrate_gives_the_advice_and_records(
        client, workspace: Path, db_url: str) -> None:  # noqa: F811
    from lsprotocol import types as t

    from tests.test_lsp import has, open_doc, until

    async def command(name: str) -> dict:
        return await client.workspace_execute_command_async(t.ExecuteCommandParams(
            command=name, arguments=[uri]))
    uri = open_doc(client, workspace / "schema.sql", BEFORE)
    await command("trimtab.generate")
    assert (await command("trimtab.migrate"))["ok"] is True
    (workspace / "schema.sql").write_text(RENAMED)
    await command("trimtab.generate")
    client.answers = ["Push", "Push"]  # over applied migrations; over a pending one
    assert (await command("trimtab.push"))["ok"] is True
    assert "also makes" in client.questions[-1]
    failed = await command("trimtab.migrate")
    assert failed["ok"] is False and "--mark-applied" in failed["error"]["hint"]
    assert "does not exist" not in failed["error"]["message"]
    await command("trimtab.refresh")
    diags = await until(client, uri, has("already-made", "--mark-applied"))
    d = next(d for d in diags if d.code == "already-made")
    actions = await client.text_document_code_action_async(t.CodeActionParams(
        text_document=t.TextDocumentIdentifier(uri=uri), range=d.range,
        context=t.CodeActionContext(diagnostics=[d])))
    action = next(a for a in actions or [] if isinstance(a, t.CodeAction)
                  and a.command and a.command.command == "trimtab.markApplied")
    done = await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command=action.command.command, arguments=action.command.arguments))
    assert done["ok"] is True and len(done["marked"]) == 1
    assert [n for n, _ in recorded(db_url)] == ["0000_init", done["marked"][0]]


def test_a_migrate_with_nothing_pending_does_not_read_the_database_whole(
        project: Path, db_url: str, monkeypatch) -> None:
    """Every deploy runs migrate, mostly with nothing to apply: whether a pending
    migration's result is already there (a push made it) is then a question with no
    subject, and reading the whole database to ask it took seconds on a big schema. With
    a pending migration the check still runs (it refuses what a push already made)."""
    from trimtab import engine
    from trimtab.config import load_config
    from trimtab.errors import PlanError

    write(project, BEFORE)
    assert run_here(project, "generate", "--url", db_url).returncode == 0  # set-up
    assert run_here(project, "migrate", "--url", db_url).returncode == 0
    reads: list[object] = []
    live = engine._live

    def counted(*args, **kwargs):  # the real read of the real database, counted
        reads.append(args)
        return live(*args, **kwargs)

    monkeypatch.setattr(engine, "_live", counted)
    result, _ = engine.migrate(load_config(project, url=db_url))
    assert result.runs == () and result.already_applied == 1
    assert reads == []
    write(project, RENAMED)
    assert run(project, "push", "--url", db_url).returncode == 0
    assert run(project, "generate", "--url", db_url).returncode == 0
    with pytest.raises(PlanError, match="already has what"):
        engine.migrate(load_config(project, url=db_url))
    assert len(reads) == 1
