"""Consent cannot be outrun: push measures, asks, and only then applies; rows another
session commits in between (while a person reads the question) must not be dropped on the
strength of an answer given for fewer. Each race here is made deterministic by writing the
rows from the consent callback itself, on a second connection, and committing them before
answering."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
import pytest_lsp
from lsprotocol import types as t
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.conftest import SqlRunner
from tests.test_cli_push import _push_on_a_tty
from tests.test_lsp import make_client
from trimtab import engine
from trimtab.config import load_config
from trimtab.errors import ConsentRequired, DatabaseError
from trimtab.plan.changes import Plan

TRIMTAB = str(Path(sys.executable).parent / "trimtab")


def push(project: Path, db_url: str, schema: str, **kw: object) -> engine.PushResult:
    (project / "schema.sql").write_text(schema)
    return engine.push(load_config(project, url=db_url), **kw)  # type: ignore[arg-type]


def meanwhile(db_url: str, statements: str, answer: bool = True) -> Callable[[Plan], bool]:
    """A consent callback that, while "the person reads the question", lets another
    session commit ``statements``, then answers."""
    def consent(plan: Plan) -> bool:
        with psycopg.connect(db_url, autocommit=True) as other:
            other.execute(statements)
        return answer
    return consent


def test_values_written_while_asking_are_not_dropped(project: Path, db_url: str,
                                                     sql: SqlRunner) -> None:
    # The reported case: the column measured "0 non-null values" (no consent of its own),
    # the question was about another table, and 50 values arrived before the answer.
    sql("CREATE TABLE t (id int, note text); INSERT INTO t SELECT g, NULL "
        "FROM generate_series(1, 10) g; CREATE TABLE old (id int); INSERT INTO old VALUES (1)")
    with pytest.raises(ConsentRequired) as e:
        push(project, db_url, "CREATE TABLE t (id int);",
             consent=meanwhile(db_url, "INSERT INTO t SELECT g, 'x' "
                                       "FROM generate_series(11, 60) g"))
    assert sql("SELECT count(note) FROM t") == [(50,)]
    assert sql("SELECT count(*) FROM old") == [(1,)]  # nothing at all was applied
    text = str(e.value)
    assert "nothing was applied" in text
    assert "drops column public.t.note: 0 non-null values when measured, 50 now" in text
    assert "drops table public.old" not in text  # unchanged: not what the refusal is about
    changed = e.value.as_dict()["changed"]
    assert changed == [{"change": "drop column public.t.note", "code": "drops-column",
                        "consented": 0, "now": 50}]


# Each kind of data loss whose count can grow, with rows already there (so push asks),
# and what another session commits while it asks.
CASES = {
    "drops-table": (
        "CREATE TABLE keep (id int); CREATE TABLE gone (id int); INSERT INTO gone VALUES (1)",
        "CREATE TABLE keep (id int);",
        "INSERT INTO gone VALUES (2), (3)",
        "drops table public.gone: 1 row when measured, 3 now",
        "SELECT count(*) FROM gone", 3),
    "drops-column": (
        "CREATE TABLE t (id int, email text); INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')",
        "CREATE TABLE t (id int);",
        "INSERT INTO t VALUES (4, 'd'), (5, 'e')",
        "drops column public.t.email: 3 non-null values when measured, 5 now",
        "SELECT count(email) FROM t", 5),
    "drops-schema": (
        "CREATE TABLE keep (id int); CREATE SCHEMA app; CREATE TABLE app.a (id int); "
        "INSERT INTO app.a VALUES (1)",
        "CREATE TABLE keep (id int);",
        "INSERT INTO app.a VALUES (2)",
        "drops schema app: 1 table, 1 row when measured, 2 now",
        "SELECT count(*) FROM app.a", 2),
    "narrows-type": (
        "CREATE TABLE t (id int, v numeric(10, 2)); INSERT INTO t VALUES (1, 1.25)",
        "CREATE TABLE t (id int, v numeric(10, 1));",
        "INSERT INTO t VALUES (2, 2.25)",
        "changes public.t.v from numeric(10,2) -> numeric(10,1), which rounds or truncates: "
        "1 value changes when measured, 2 now",
        "SELECT count(*) FROM t WHERE v <> round(v, 1)", 2),
    "drops-enum-value": (
        "CREATE TYPE mood AS ENUM ('ok', 'sad'); CREATE TABLE t (id int, m mood); "
        "INSERT INTO t VALUES (1, 'ok'); CREATE TABLE gone (id int); "
        "INSERT INTO gone VALUES (1)",
        "CREATE TYPE mood AS ENUM ('ok'); CREATE TABLE t (id int, m mood);",
        "INSERT INTO t VALUES (2, 'sad')",
        "removes 'sad' from enum public.mood: 0 rows use it when measured, 1 now",
        "SELECT count(*) FROM t WHERE m = 'sad'", 1),
}


@pytest.mark.parametrize("code", list(CASES))
def test_growth_while_asking_is_refused(code: str, project: Path, db_url: str,
                                        sql: SqlRunner) -> None:
    setup, schema, meanwhile_sql, said, check, kept = CASES[code]
    sql(setup)
    if code == "drops-schema":  # a schema the file does not mention is managed only by name
        with (project / "trimtab.toml").open("a") as f:
            f.write('schemas = ["public", "app"]\n')
    with pytest.raises(ConsentRequired) as e:
        push(project, db_url, schema, consent=meanwhile(db_url, meanwhile_sql))
    assert said in str(e.value)
    assert sql(check) == [(kept,)]


def test_rows_gone_while_asking_still_apply(project: Path, db_url: str,
                                            sql: SqlRunner) -> None:
    # Fewer than agreed to is within the consent: the push goes ahead.
    sql("CREATE TABLE t (id int, email text); INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    result = push(project, db_url, "CREATE TABLE t (id int);",
                  consent=meanwhile(db_url, "DELETE FROM t WHERE id = 2"))
    assert result.applied
    [h] = [h for h in result.plan.hazards if h.code == "drops-column"]
    assert h.count == 1  # the plan returned says what was really dropped
    assert sql("SELECT count(*) FROM information_schema.columns WHERE table_name = 't' "
               "AND column_name = 'email'") == [(0,)]


def test_a_busy_table_is_a_clear_error_not_a_wait(project: Path, db_url: str,
                                                  sql: SqlRunner) -> None:
    sql("CREATE TABLE t (id int, email text); INSERT INTO t VALUES (1, 'a')")
    with psycopg.connect(db_url) as reader:  # an open transaction that read the table
        reader.execute("SELECT count(*) FROM t")
        with pytest.raises(DatabaseError) as e:
            push(project, db_url, "CREATE TABLE t (id int);", consent=lambda plan: True,
                 lock_timeout=0.2)
        reader.rollback()
    text = str(e.value)
    assert "nothing was applied" in text and "public.t" in text
    assert sql("SELECT count(email) FROM t") == [(1,)]


def test_force_takes_the_same_locks(project: Path, db_url: str, sql: SqlRunner) -> None:
    # --force agrees to any loss, so nothing is re-counted, but it still locks first:
    # a busy table says so instead of queueing the DROP behind a reader.
    sql("CREATE TABLE t (id int, email text); INSERT INTO t VALUES (1, 'a')")
    with psycopg.connect(db_url) as reader:
        reader.execute("SELECT count(*) FROM t")
        with pytest.raises(DatabaseError, match="public.t"):
            push(project, db_url, "CREATE TABLE t (id int);", force=True, lock_timeout=0.2)
        reader.rollback()
    assert sql("SELECT count(email) FROM t") == [(1,)]
    result = push(project, db_url, "CREATE TABLE t (id int);", force=True, lock_timeout=0.2)
    assert result.applied


def test_a_plan_that_loses_nothing_locks_nothing(project: Path, db_url: str,
                                                 sql: SqlRunner) -> None:
    # No data-loss hazard: no LOCK and no second count, so a reader of an unrelated table
    # (or of the table a column is added to, once the ALTER gets it) does not matter.
    sql("CREATE TABLE t (id int); CREATE TABLE other (id int)")
    with psycopg.connect(db_url) as reader:
        reader.execute("SELECT count(*) FROM other")
        result = push(project, db_url, "CREATE TABLE t (id int); CREATE TABLE other (id int);"
                                       "CREATE TABLE more (id int);", lock_timeout=0.2)
        reader.rollback()
    assert result.applied


def test_on_a_tty_rows_written_while_the_question_waits_are_kept(
        project: Path, db_url: str, sql: SqlRunner) -> None:
    sql("CREATE TABLE t (id int, email text); INSERT INTO t VALUES (1, 'a')")
    (project / "schema.sql").write_text("CREATE TABLE t (id int);\n")
    # The question is on the screen: another session writes, then the person agrees.
    code, text = _push_on_a_tty(project, db_url, b"y",
                                lambda: sql("INSERT INTO t VALUES (2, 'b'), (3, 'c')"))
    assert code == 1, text
    assert "refused" in text
    assert "1 non-null value when measured, 3 now" in text
    assert sql("SELECT count(email) FROM t") == [(3,)]


# -- the language server's push goes through the same engine operation ----------------------

@pytest.fixture
def lsp_workspace(tmp_path: Path, db_url: str) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "trimtab.toml").write_text(f'schema = "schema.sql"\ndatabase_url = "{db_url}"\n')
    (root / "schema.sql").write_text("CREATE TABLE t (id int);\n")
    return root


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[TRIMTAB, "lsp", "--stdio"],
                                              client_factory=make_client))
async def editor(lsp_client: LanguageClient, lsp_workspace: Path, db_url: str):
    lsp_client.questions = []  # type: ignore[attr-defined]

    @lsp_client.feature(t.WINDOW_SHOW_MESSAGE_REQUEST)
    def ask(params: t.ShowMessageRequestParams) -> t.MessageActionItem | None:
        lsp_client.questions.append(params.message)  # type: ignore[attr-defined]
        # While the question is on screen, another session writes; then the user agrees.
        with psycopg.connect(db_url, autocommit=True) as other:
            other.execute("INSERT INTO t VALUES (2, 'b'), (3, 'c')")
        return t.MessageActionItem(title="Apply")

    @lsp_client.feature(t.CLIENT_REGISTER_CAPABILITY)
    def register(params: t.RegistrationParams) -> None:
        pass

    await lsp_client.initialize_session(t.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        root_uri=from_fs_path(str(lsp_workspace)),
        workspace_folders=[t.WorkspaceFolder(uri=from_fs_path(str(lsp_workspace)) or "",
                                             name="ws")]))
    yield
    await lsp_client.shutdown_session()


async def test_the_editor_push_is_refused_too(editor: LanguageClient, lsp_workspace: Path,
                                              db_url: str, sql: SqlRunner) -> None:
    sql("CREATE TABLE t (id int, email text); INSERT INTO t VALUES (1, 'a')")
    uri = from_fs_path(str(lsp_workspace / "schema.sql")) or ""
    result = await editor.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.push", arguments=[uri]))
    assert "drops column public.t.email: 1 non-null value" in editor.questions[0]  # type: ignore[attr-defined]
    assert result["ok"] is False
    assert result["error"]["type"] == "ConsentOutdated"
    assert result["error"]["changed"] == [{"change": "drop column public.t.email",
                                           "code": "drops-column", "consented": 1, "now": 3}]
    assert sql("SELECT count(email) FROM t") == [(3,)]


def test_a_plan_split_for_a_new_enum_value_holds_its_locks_again(
        project: Path, db_url: str, sql: SqlRunner) -> None:
    # A new enum value used in the same plan makes push commit the value first; the
    # data-losing rest then runs in a second transaction, which locks and counts again.
    sql("CREATE TYPE mood AS ENUM ('ok'); CREATE TABLE t (id int, m mood, email text);"
        "INSERT INTO t VALUES (1, 'ok', 'a')")
    result = push(project, db_url, "CREATE TYPE mood AS ENUM ('ok', 'new');"
                                   "CREATE TABLE t (id int, m mood DEFAULT 'new');",
                  consent=lambda plan: True)
    assert result.applied
    assert "added 1 enum value in a transaction of its own" in "\n".join(result.notes)
    [h] = [h for h in result.plan.hazards if h.code == "drops-column"]
    assert h.count == 1
    assert sql("SELECT column_default FROM information_schema.columns WHERE table_name = 't'"
               " AND column_name = 'm'") == [("'new'::mood",)]
