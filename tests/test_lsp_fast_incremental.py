"""The language server's fast path on a schema.sql, keystroke after keystroke: each
analysis goes on from the last one (the split keeps unchanged statements, the build resumes
before the edited one, skeletons and spans are kept per object). Whatever it reuses, the
diagnostics after an edit must be exactly those of a server that reads the new text from
nothing (with the same memory of where removed objects were last seen)."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from pathlib import Path

from bench.generate import generate_sql
from trimtab.lsp import analysis
from trimtab.lsp.workspace import Project
from trimtab.sources import sqlfile
from trimtab.sources.sqlfile import split_statements, structural_model

Edit = Callable[[str], str]


def _project(root: Path, base_text: str, file: str) -> Project:
    (root / "trimtab.toml").write_text('schema = "schema.sql"\n')
    project = Project(root)
    project.load()
    with sqlfile.fresh_builds():  # the database: the file as first written, pushed
        project.live_skeleton = analysis.skeleton(
            structural_model(split_statements(base_text, file))[0])
    return project


def _sub(old: str, new: str) -> Edit:
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)
    return edit


def _after_table_head(n: int, line: str) -> Edit:
    def edit(text: str) -> str:
        heads = list(re.finditer(r"^CREATE TABLE [^\n(]+\(\n", text, re.M))
        m = heads[n % len(heads)]
        return text[:m.end()] + line + text[m.end():]
    return edit


def _after_named_head(prefix: str, line: str) -> Edit:
    def edit(text: str) -> str:
        m = re.search(r"^CREATE TABLE " + prefix + r"[^\n(]+\(\n", text, re.M)
        assert m is not None, prefix
        return text[:m.end()] + line + text[m.end():]
    return edit


def _drop_statement(pattern: str) -> Edit:
    def edit(text: str) -> str:
        m = re.search(pattern, text, re.M)
        assert m is not None, pattern
        end = text.index(";\n", m.start()) + 2
        return text[:m.start()] + text[end:]
    return edit


EDITS: list[tuple[str, Edit]] = [
    ("a column in the middle", _after_table_head(20, "    extra integer NOT NULL,\n")),
    ("typed on", _sub("    extra integer NOT NULL,\n", "    extra_2 integer NOT NULL,\n")),
    ("a column goes", _sub("    extra_2 integer NOT NULL,\n", "")),
    ("a column's type", _sub(" notes text", " notes varchar(10)")),
    ("a new table first", lambda t: "CREATE TABLE early (id int PRIMARY KEY);\n" + t),
    ("an unnamed constraint", _after_table_head(3, "    UNIQUE (id),\n")),
    ("a table goes", _drop_statement(r"^CREATE TABLE t0007_")),
    ("its index too", _drop_statement(r"^CREATE (UNIQUE )?INDEX t0007_")),
    ("a table renamed", _sub("CREATE TABLE t0011_", "CREATE TABLE renamed_")),
    ("a type goes", _drop_statement(r"^CREATE TYPE priority_level")),
    ("a statement left open", _after_table_head(30, "    broken (,\n")),
    ("and closed", _sub("    broken (,\n", "    fixed int,\n")),
    ("lines joined", _sub(";\n\nCREATE TABLE t0015_", "; CREATE TABLE t0015_")),
    ("a duplicate", lambda t: t + "CREATE TABLE early (id int);\n"),
    ("CR LF", _sub(",\n    ", ",\r\n    ")),
    # Three edits at one place: the last two builds resume from the same point, and what
    # the last one removes is remembered from the keys after it only.
    ("typed into a table", _after_named_head("t0025_", "    a int,\n")),
    ("typed on", _sub("    a int,\n", "    ab int,\n")),
    ("the table goes", _drop_statement(r"^CREATE TABLE t0025_")),
    ("the next one too", _drop_statement(r"^CREATE TABLE t0026_")),
]


class _FromNothing:
    """A server that reads each text from nothing (no split, build, skeleton or span of an
    earlier text is reused) and keeps only what a server must keep between keystrokes:
    where removed objects were last seen, worked out by comparing all the spans."""

    def __init__(self, root: Path, base_text: str, file: str) -> None:
        with sqlfile.fresh_builds():
            self.project = _project(root, base_text, file)
        self.file = file

    def analyze(self, text: str) -> dict[str, list[analysis.Finding]]:
        self.project.skeletons = analysis.Skeletons()
        with sqlfile.fresh_builds():
            return self.project.analyze_fast({self.file: text})


def test_fast_findings_after_each_edit_are_those_of_a_fresh_read(tmp_path: Path) -> None:
    base_text = generate_sql(40)
    file = str(tmp_path / "schema.sql")
    (tmp_path / "schema.sql").write_text(base_text)
    project = _project(tmp_path, base_text, file)
    fresh = _FromNothing(tmp_path, base_text, file)
    text = base_text
    assert project.analyze_fast({file: text}) == fresh.analyze(text)
    seen = 0
    for what, edit in EDITS:
        text = edit(text)
        expected = fresh.analyze(text)
        got = project.analyze_fast({file: text})
        assert got == expected, what
        seen += any(got.values())
    assert seen >= len(EDITS) - 1  # the edits show (one takes the file back to the base)
    assert dict(project.remembered) == dict(fresh.project.remembered)


def test_random_keystrokes_give_a_fresh_read_s_findings(tmp_path: Path) -> None:
    base_text = generate_sql(25, seed=5)
    file = str(tmp_path / "schema.sql")
    (tmp_path / "schema.sql").write_text(base_text)
    project = _project(tmp_path, base_text, file)
    fresh = _FromNothing(tmp_path, base_text, file)
    rnd = random.Random(24)
    text = base_text
    assert project.analyze_fast({file: text}) == fresh.analyze(text)
    pieces = [";", "'", "(", ")", "\n", ",", " int", "--", "x", "CREATE TABLE z (a int);"]
    for _ in range(30):
        a = rnd.randrange(len(text) + 1)
        if rnd.random() < 0.3:
            text = text[:a] + text[min(len(text), a + rnd.choice([1, 3, 40, 300])):]
        else:
            text = text[:a] + rnd.choice(pieces) + text[a:]
        assert project.analyze_fast({file: text}) == fresh.analyze(text)
    assert dict(project.remembered) == dict(fresh.project.remembered)


def test_the_file_s_skeletons_are_the_database_s_where_they_agree(tmp_path: Path) -> None:
    """Held once: an unchanged table's skeleton of the file is the database's object, also
    after the database's model is read again (a refresh makes all new objects)."""
    text = generate_sql(30)
    file = str(tmp_path / "schema.sql")
    model = structural_model(split_statements(text, file))[0]
    base = analysis.skeleton(model)
    edited = text.replace("    notes text,\n", "    notes varchar(9),\n", 1)
    cache = analysis.Skeletons()
    desired = cache.model(structural_model(split_statements(edited, file))[0], like=base)
    shared = [k for k in base.tables if desired.tables[k] is base.tables[k]]
    assert len(shared) == len(base.tables) - 1
    with sqlfile.fresh_builds():  # a refresh: equal objects, none the same
        again = analysis.skeleton(structural_model(split_statements(text, file))[0], like=base)
    assert all(again.tables[k] is base.tables[k] for k in base.tables)


def test_a_removed_table_is_shown_where_it_was_on_the_keystroke_that_removes_it(
        tmp_path: Path) -> None:
    """Not at the top of the file first and where it was only from the next keystroke on."""
    base_text = ("CREATE TABLE a (id int PRIMARY KEY);\n\n"
                 "CREATE TABLE b (\n    id int PRIMARY KEY\n);\n\n"
                 "CREATE TABLE c (id int PRIMARY KEY);\n")
    file = str(tmp_path / "schema.sql")
    (tmp_path / "schema.sql").write_text(base_text)
    project = _project(tmp_path, base_text, file)
    project.analyze_fast({file: base_text})
    without_b = _drop_statement(r"^CREATE TABLE b")(base_text)
    for keystroke in (1, 2):
        drops = [x for x in project.analyze_fast({file: without_b})[file]
                 if x.code == "drops-table"]
        assert [(x.span.line, x.span.column) for x in drops] == [(3, 1)], (keystroke, drops)
