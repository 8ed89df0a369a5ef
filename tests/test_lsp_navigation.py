"""References, workspace symbols, folding, signature help and the hover of the name under
the cursor in SQL schema files, as an editor asks for them: the real `trimtab lsp`
process, a real project folder (several schema files) and the real test database."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types as t
from pytest_lsp import LanguageClient

from tests.test_lsp import client, db, open_doc, uri_of, workspace  # noqa: F401
from tests.test_lsp_rename import at, pushed
from trimtab.lsp import navigate
from trimtab.lsp.workspace import Project

USERS = """CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE users (
  id int PRIMARY KEY,
  email text NOT NULL UNIQUE,
  m mood DEFAULT 'happy'
);
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE FUNCTION add_tax(amount numeric, rate numeric DEFAULT 0.2) RETURNS numeric
  LANGUAGE sql AS $$ SELECT amount * (1 + rate) $$;
"""
POSTS = """CREATE TABLE posts (
  id int PRIMARY KEY,
  author text REFERENCES users (email),
  -- a users word in a comment, and 'users' in a string, are no references
  note text DEFAULT 'users'
);
CREATE INDEX users_email_lower ON users (lower(email));
CREATE VIEW emails AS SELECT u.email, u.id FROM users u;
CREATE POLICY own ON users USING (email = current_user);
CREATE TRIGGER tr BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();
CREATE VIEW plain AS SELECT email AS id, id AS email FROM users JOIN posts p ON p.author = email;
"""


def two_files(workspace: Path, db_url: str) -> tuple[Path, Path]:  # noqa: F811
    (workspace / "trimtab.toml").write_text(
        f'schema = "schema"\ndatabase_url = "{db_url}"\n')
    (workspace / "schema").mkdir()
    a, b = workspace / "schema" / "a_users.sql", workspace / "schema" / "b_posts.sql"
    a.write_text(USERS)
    b.write_text(POSTS)
    return a, b


async def refreshed(client: LanguageClient) -> None:  # noqa: F811
    await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="trimtab.refresh", arguments=[]))


def where(locations: list[t.Location] | None, texts: dict[str, str]) -> list[tuple[str, int, str]]:
    """(file name, 0-based line, the referenced text) of each location (ASCII texts)."""
    out = []
    for loc in locations or []:
        name = loc.uri.rsplit("/", 1)[-1]
        line = texts[name].splitlines()[loc.range.start.line]
        out.append((name, loc.range.start.line,
                    line[loc.range.start.character:loc.range.end.character]))
    return sorted(out)


async def refs(client: LanguageClient, uri: str, pos: t.Position,  # noqa: F811
               declaration: bool = True) -> list[t.Location] | None:
    return await client.text_document_references_async(t.ReferenceParams(
        text_document=t.TextDocumentIdentifier(uri=uri), position=pos,
        context=t.ReferenceContext(include_declaration=declaration)))


async def test_references_of_a_table_and_a_column_across_schema_files(
        client: LanguageClient, workspace: Path, db_url: str) -> None:  # noqa: F811
    a, b = two_files(workspace, db_url)
    await refreshed(client)
    texts = {"a_users.sql": USERS, "b_posts.sql": POSTS}
    uri = open_doc(client, a, USERS)  # the other file is only on disk
    got = where(await refs(client, uri, at(USERS, "users (")), texts)
    assert got == [("a_users.sql", 1, "users"),  # the declaration
                   ("b_posts.sql", 2, "users"),  # REFERENCES users (email)
                   ("b_posts.sql", 6, "users"),  # CREATE INDEX ... ON users
                   ("b_posts.sql", 7, "users"),  # the view's FROM
                   ("b_posts.sql", 8, "users"),  # the policy's ON
                   ("b_posts.sql", 9, "users"),  # the trigger's ON
                   ("b_posts.sql", 10, "users")]
    # asked from a use in the other file, without the declaration
    posts = open_doc(client, b, POSTS)
    got = where(await refs(client, posts, at(POSTS, "users u"), declaration=False), texts)
    assert ("a_users.sql", 1, "users") not in got and len(got) == 6
    # a column: the foreign key's list, the index expression, the view (through its
    # alias, or unqualified where no other table it reads has that column), the policy's
    # expression; never the comment nor the string, nor a view's output name
    got = where(await refs(client, uri, at(USERS, "email text")), texts)
    assert got == [("a_users.sql", 3, "email"), ("b_posts.sql", 2, "email"),
                   ("b_posts.sql", 6, "email"), ("b_posts.sql", 7, "email"),
                   ("b_posts.sql", 8, "email"), ("b_posts.sql", 10, "email"),
                   ("b_posts.sql", 10, "email")]
    line = POSTS.splitlines()[10]
    assert [loc.range.start.character for loc in await refs(client, uri, at(USERS, "email text"))
            if loc.range.start.line == 10] == [line.index("email"), line.rindex("email")]
    # "id" is also a column of posts: an unqualified id in that view is not counted
    got = where(await refs(client, uri, at(USERS, "id int")), texts)
    assert ("b_posts.sql", 10, "id") not in got


async def test_references_of_an_enum_a_value_and_a_function(
        client: LanguageClient, workspace: Path, db_url: str) -> None:  # noqa: F811
    a, _ = two_files(workspace, db_url)
    await refreshed(client)
    texts = {"a_users.sql": USERS, "b_posts.sql": POSTS}
    uri = open_doc(client, a, USERS)
    assert where(await refs(client, uri, at(USERS, "mood DEFAULT")), texts) == [
        ("a_users.sql", 0, "mood"), ("a_users.sql", 4, "mood")]
    assert where(await refs(client, uri, at(USERS, "'happy', ")), texts) == [
        ("a_users.sql", 0, "'happy'"), ("a_users.sql", 4, "'happy'")]
    assert where(await refs(client, uri, at(USERS, "touch()")), texts) == [
        ("a_users.sql", 6, "touch"), ("b_posts.sql", 9, "touch")]
    # on a keyword: nothing to list
    assert not await refs(client, uri, at(USERS, "PRIMARY"))


async def test_workspace_symbols_filter_by_name_across_files(
        client: LanguageClient, workspace: Path, db_url: str) -> None:  # noqa: F811
    _, b = two_files(workspace, db_url)
    await refreshed(client)
    found = await client.workspace_symbol_async(t.WorkspaceSymbolParams(query="post"))
    assert found is not None
    names = {(s.name, s.container_name) for s in found}  # type: ignore[union-attr]
    assert ("posts", None) in names and ("posts_pkey", "posts") in names
    assert not any(n.startswith(("users", "emails", "mood")) for n, _ in names)
    table = next(s for s in found if s.name == "posts")  # type: ignore[union-attr]
    assert table.location.uri == uri_of(b)  # type: ignore[union-attr]
    assert table.location.range.start.line == 0  # type: ignore[union-attr]
    assert table.kind == t.SymbolKind.Class
    found = await client.workspace_symbol_async(t.WorkspaceSymbolParams(query="MOOD"))
    assert [(s.name, s.kind) for s in found or []] == [("mood", t.SymbolKind.Enum)]
    found = await client.workspace_symbol_async(t.WorkspaceSymbolParams(query="add_tax"))
    assert [s.name for s in found or []] == ["add_tax"]


async def test_folding_ranges_are_statements_and_comment_blocks(
        client: LanguageClient, workspace: Path) -> None:  # noqa: F811
    text = ("-- The users of the app:\n-- one row a person.\n"
            "CREATE TABLE users (\n  id int PRIMARY KEY,\n"
            "  /* a note\n     on two lines */\n  note text DEFAULT '--not\n--a comment'\n);\n"
            "CREATE TABLE one_line (id int);\n")
    uri = open_doc(client, workspace / "schema.sql", text)
    ranges = await client.text_document_folding_range_async(t.FoldingRangeParams(
        text_document=t.TextDocumentIdentifier(uri=uri)))
    got = sorted((r.start_line, r.end_line, r.kind) for r in ranges or [])
    assert got == [(0, 1, t.FoldingRangeKind.Comment), (2, 8, None),
                   (4, 5, t.FoldingRangeKind.Comment)]


async def help_at(client: LanguageClient, uri: str, text: str,  # noqa: F811
                  needle: str) -> t.SignatureHelp | None:
    return await client.text_document_signature_help_async(t.SignatureHelpParams(
        text_document=t.TextDocumentIdentifier(uri=uri), position=at(text, needle, len(needle))))


async def test_signature_help_for_the_schema_and_the_catalog_functions(
        client: LanguageClient, workspace: Path) -> None:  # noqa: F811
    text = USERS + ("CREATE TABLE prices (\n  net numeric,\n"
                    "  gross numeric GENERATED ALWAYS AS (add_tax(net, 0.1)) STORED,\n"
                    "  code text CHECK (left(code, 2) <> 'xx')\n);\n")
    uri = open_doc(client, workspace / "schema.sql", text)
    got = await help_at(client, uri, text, "add_tax(net, ")
    assert got is not None and got.active_parameter == 1
    sig = got.signatures[got.active_signature or 0]
    assert sig.label == "add_tax(amount numeric, rate numeric DEFAULT 0.2) → numeric"
    a, b = sig.parameters[1].label  # type: ignore[index, misc]
    assert sig.label[a:b] == "rate numeric DEFAULT 0.2"
    # a built-in: from the live database's catalog
    got = await help_at(client, uri, text, "left(")
    assert got is not None and got.active_parameter == 0
    assert any(s.label == "left(text, integer) → text" for s in got.signatures), [
        s.label for s in got.signatures]
    # a table's column list is no call
    assert await help_at(client, uri, text, "CREATE TABLE prices (") is None


async def test_signature_help_sends_a_name_only_as_a_parameter(
        client: LanguageClient, workspace: Path, db_url: str) -> None:  # noqa: F811
    db(db_url, "CREATE TABLE keep (id int)")
    text = 'CREATE TABLE t (a int CHECK ("x\'); DROP TABLE keep; --"(a'
    uri = open_doc(client, workspace / "schema.sql", text)
    assert await help_at(client, uri, text, "(a") is None  # no such function
    assert db(db_url, "SELECT to_regclass('keep') IS NOT NULL") == [(True,)]


async def hover_md(client: LanguageClient, uri: str, pos: t.Position) -> str:  # noqa: F811
    got = await client.text_document_hover_async(t.HoverParams(
        text_document=t.TextDocumentIdentifier(uri=uri), position=pos))
    assert got is not None
    return got.contents.value  # type: ignore[union-attr]


async def test_hover_describes_the_name_under_the_cursor_then_the_enclosing_object(
        client: LanguageClient, workspace: Path, db_url: str) -> None:  # noqa: F811
    (workspace / "schema.sql").write_text(USERS)
    pushed(workspace, db_url)
    db(db_url, "INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 40) g; "
               "ANALYZE users")
    await refreshed(client)
    text = USERS + POSTS
    uri = open_doc(client, workspace / "schema.sql", text)
    # a referenced table: its columns with their types and constraints, its live size
    md = await hover_md(client, uri, at(text, "users (email)"))
    assert "**table public.users**" in md
    assert "| email | text | NOT NULL; UNIQUE (email) (`users_email_key`) |" in md
    assert "live: ~40 rows" in md
    # ... then the enclosing object, as before: the new table's pending SQL
    head, _, rest = md.partition("\n\n---\n\n")
    assert "**table public.users**" in head
    assert rest.startswith("**constraint public.posts.posts_author_fkey**")
    assert "pending SQL against the database" in rest
    # a column's type: the enum's values
    md = await hover_md(client, uri, at(text, "mood DEFAULT"))
    assert "**enum public.mood**" in md and "values: `'happy'`, `'sad'`" in md
    # a column in an index's column list: its type and constraints
    md = await hover_md(client, uri, at(text, "email));"))
    assert "**column public.users.email**" in md and "`text`" in md
    assert "- `NOT NULL`" in md and "- `UNIQUE (email) (`users_email_key`)`" in md
    # on a declaration: its facts under its own title, once
    md = await hover_md(client, uri, at(text, "users (\n"))
    assert md.count("**table public.users**") == 1 and "| id | integer |" in md


def test_statements_are_split_once_per_text() -> None:
    text = USERS + POSTS
    first = navigate.statements_of({"s.sql": text})
    again = navigate.statements_of({"s.sql": "".join([USERS, POSTS])})  # equal, not the same
    assert all(x is y for x, y in zip(first, again, strict=True))
    changed = navigate.statements_of({"s.sql": text + "CREATE TABLE z (id int);\n"})
    # a new text is split again (only around the edit: the statements before it are kept)
    assert len(changed) == len(first) + 1 and changed[:-1] == first
    assert changed[-1].text == "CREATE TABLE z (id int)"


FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def test_the_enclosing_object_is_the_one_symbols_finds_at_every_offset() -> None:
    """Hover finds the enclosing object from the spans of the statement under the cursor
    only; it must agree with the walk over every object (``symbols.object_at``)."""
    from trimtab.lsp import symbols

    files = [*sorted((FIXTURES / "structural").glob("*.sql")),
             *sorted((FIXTURES / "diff").glob("*/after.sql"))]
    assert len(files) > 5
    for path in files:
        text = path.read_text()
        statements = navigate.statements_of({str(path): text})
        for offset in range(0, len(text) + 1, 13):  # a prime step: every kind of place
            assert navigate.object_at(statements, str(path), offset) == symbols.object_at(
                statements, str(path), offset), (path.name, offset)


def _users_project(tmp_path: Path, db_url: str) -> Project:
    """A loaded project whose schema file and database both hold one table, users."""
    (tmp_path / "trimtab.toml").write_text(
        f'schema = "schema.sql"\ndatabase_url = "{db_url}"\n')
    (tmp_path / "schema.sql").write_text("CREATE TABLE users (id int);\n")
    db(db_url, "CREATE TABLE users (id int)")
    project = Project(tmp_path)
    project.load()
    return project


def test_an_older_read_of_the_database_never_overwrites_a_newer_one(
        tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """Two reads of the live database at once (the server's first refresh, and one a
    command asked for after the database changed): the one that started last is what the
    project keeps, even when the older one finishes last. Before, the older read's sizes
    (a table not analyzed yet) replaced the newer ones and a hover lost the row count."""
    import threading

    from trimtab import engine

    project = _users_project(tmp_path, db_url)
    real = engine.live_model_since
    read, release = threading.Event(), threading.Event()

    def older_read_finishes_last(cfg: object, last: str | None) -> object:
        got = real(cfg, last)  # type: ignore[arg-type]
        if threading.current_thread() is not threading.main_thread():
            read.set()  # it has read the database as it was ...
            release.wait(30)  # ... and stores only after the newer read did
        return got

    monkeypatch.setattr(engine, "live_model_since", older_read_finishes_last)
    older = threading.Thread(target=project.refresh_live)
    older.start()
    try:
        assert read.wait(30)
        db(db_url, "INSERT INTO users SELECT generate_series(1, 40); ANALYZE users")
        assert project.refresh_live()
        assert project.sizes[("public", "users")][0] == 40
    finally:
        release.set()
        older.join(30)
    assert project.sizes[("public", "users")][0] == 40
    assert project.live is not None and project.live_error is None
    # Trust taken back while a read is under way: its answer is not kept either.
    read.clear()
    release.clear()
    older = threading.Thread(target=project.refresh_live)
    older.start()
    try:
        assert read.wait(30)
        project.forget_live()
    finally:
        release.set()
        older.join(30)
    assert project.live is None and project.sizes == {}


def test_a_refresh_of_an_unchanged_database_keeps_its_model_and_reads_the_sizes(
        tmp_path: Path, db_url: str) -> None:  # noqa: F811
    """Issue 24: the server re-reads the database every 30 s; at 10,000 tables each read
    made a whole model beside the one kept, though no DDL had run. Now the catalog's
    fingerprint decides: the same catalogs keep the model (the sizes, statistics, are
    read again); DDL, or another configuration, reads it again."""
    project = _users_project(tmp_path, db_url)
    assert project.refresh_live()
    first = project.live
    assert first is not None and ("public", "users") in project.sizes
    db(db_url, "INSERT INTO users SELECT generate_series(1, 40); ANALYZE users")
    assert project.refresh_live()
    assert project.live is first and project.sizes[("public", "users")][0] == 40
    db(db_url, "ALTER TABLE users ADD COLUMN name text")
    assert project.refresh_live()
    assert project.live is not first and project.live is not None
    table = project.live.tables[("table", "public", "users")]
    assert [c.name for c in table.columns] == ["id", "name"]
    again = project.live
    project.load()  # the same configuration, read again: still the same model
    assert project.refresh_live() and project.live is again
    project.forget_live()
    assert project.refresh_live() and project.live is not again and project.live == again


def test_the_exact_path_waits_for_a_read_under_way_instead_of_reading_beside_it(
        tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """Issue 24: on open, the exact path asked for the database while the server's first
    refresh was reading it; two reads at once (each a whole model and the catalog's rows)
    beside the first fast path were the server's peak at 10,000 tables."""
    import threading

    from trimtab import engine

    project = _users_project(tmp_path, db_url)
    real = engine.live_model_since
    reads: list[str] = []
    reading, release = threading.Event(), threading.Event()

    def slow_read(cfg: object, last: str | None) -> object:
        reads.append(threading.current_thread().name)
        reading.set()
        release.wait(30)
        return real(cfg, last)  # type: ignore[arg-type]

    waiting = threading.Event()

    class Seen(threading.Condition):
        def wait(self, timeout: float | None = None) -> bool:
            waiting.set()  # the exact path waits for the read under way
            return super().wait(timeout)

    monkeypatch.setattr(engine, "live_model_since", slow_read)
    project.live_read_done = Seen()
    first = threading.Thread(target=project.refresh_live, name="refresh")
    first.start()
    answers: list[bool] = []
    exact = threading.Thread(target=lambda: answers.append(project.live_once()), name="exact")
    try:
        assert reading.wait(30)
        exact.start()
        assert waiting.wait(30)
    finally:
        release.set()
        first.join(30)
        exact.join(30)
    assert reads == ["refresh"] and answers == [True] and project.live is not None
    assert project.live_once() and reads == ["refresh"]  # read already: not again
