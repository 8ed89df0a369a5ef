"""Passwords never appear: not in a command's output, not in an error, not in the studio's
page, whatever characters they hold and however they are given (URL, percent-encoded or
not, ``password=`` in a key/value conninfo or a URL's query, ``PGPASSWORD``).

Every password here is made of "hunter" words joined by characters a URL needs encoded;
a test asserts that no "hunter" is left anywhere, so a password shown in part counts as
shown. Also: which databases count as on this machine (``engine.is_local``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg.conninfo import make_conninfo

from tests.cli_inprocess import run_in_process
from tests.conftest import SqlRunner
from trimtab import engine
from trimtab.config import check_url, load_config, redact, scrub
from trimtab.errors import ConfigError

MARK = "hunter"
# Characters a password may hold that a URL gives a meaning to, or that a key/value
# conninfo quotes.
SPECIALS = "?@/#%:& '\\=,[]$\"+;"

AWKWARD = [
    "hunter1?hunter2",
    "hunter1@hunter2",
    "hunter1/hunter2",
    "hunter1#hunter2",
    "hunter1%hunter2",
    "hunter1%zzhunter2",
    "hunter1:hunter2",
    "hunter1 hunter2",
    "hunter1&password=hunter2",
    "hunter1'hunter2",
    "hunter1\\hunter2",
    "hunter1?x=1@hunter2/hunter3",
    "hunter1/hunter2?hunter3@hunter4",
    "hunter1%40hunter2",
    "12/hunter1@hunter2",
    "hunter1[hunter2",
]

UNREACHABLE = "127.0.0.1:1"  # nothing listens on port 1: connections are refused at once


def _forms(password: str, host: str = UNREACHABLE, query: str = "") -> dict[str, str]:
    """The ways a user writes a connection string with this password."""
    enc = quote(password, safe="")
    h, _, port = host.partition(":")
    sep = "&" if query else "?"
    return {
        "raw URL": f"postgresql://app:{password}@{host}/shop{query}",
        "encoded URL": f"postgresql://app:{enc}@{host}/shop{query}",
        "query password": f"postgresql://app@{host}/shop{query}{sep}password={enc}",
        "key/value": make_conninfo(host=h, port=port, user="app", dbname="shop",
                                   password=password),
    }


def _environment(env: dict[str, str] | None) -> dict[str, str]:
    full_env = {k: v for k, v in os.environ.items()
                if not k.startswith("PG") and k not in ("DATABASE_URL", "DIRECT_DATABASE_URL")}
    full_env.update(env or {})
    return full_env


def _trimtab(args: list[str], cwd: Path, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trimtab", *args], cwd=cwd,
                          env=_environment(env), capture_output=True, text=True, timeout=60)


def _trimtab_here(args: list[str], cwd: Path, env: dict[str, str] | None = None
                  ) -> subprocess.CompletedProcess[str]:
    """``_trimtab`` in this process (tests/cli_inprocess.py): the same output and exit code
    without 0.4 s of imports each. Each test below still runs one real process."""
    return run_in_process(cwd, args, _environment(env))


def _assert_hidden(run: subprocess.CompletedProcess[str], what: str) -> None:
    shown = run.stdout + run.stderr
    assert MARK not in shown, (what, shown)
    assert "Traceback" not in shown, (what, shown)


# -- redact and scrub, for any password ----------------------------------------------------

passwords = st.lists(st.tuples(st.sampled_from(SPECIALS),
                               st.text(alphabet="abcXYZ019%", max_size=3)),
                     min_size=1, max_size=4).map(
    lambda parts: MARK + "".join(s + t + MARK for s, t in parts))


@settings(max_examples=300, deadline=None)
@given(password=passwords)
def test_redact_never_shows_a_password(password: str) -> None:
    for form, url in _forms(password).items():
        assert MARK not in redact(url), (form, url, redact(url))
        # an error that quotes the connection string, or part of it, is scrubbed too
        message = f'connection to "{url}" failed: invalid value "{password[7:]}"'
        assert MARK not in scrub(message, url), (form, url)


@pytest.mark.parametrize("password", AWKWARD)
def test_a_url_is_either_valid_or_a_clear_error_without_the_password(password: str) -> None:
    for form, url in _forms(password).items():
        try:
            check_url(url, "--url")
        except ConfigError as e:
            text = json.dumps(e.as_dict())
            assert MARK not in text, (form, text)
            assert "--url" in text
        assert MARK not in redact(url), (form, url, redact(url))


def test_a_password_libpq_would_misread_is_refused_with_how_to_encode_it() -> None:
    for url in ("postgresql://app:hunter1@hunter2@db.example/shop",
                "postgresql://app:hunter1/hunter2@db.example/shop",
                "postgresql://app:12/hunter2@db.example/shop"):
        with pytest.raises(ConfigError) as e:
            check_url(url, "DATABASE_URL")
        text = str(e.value)
        assert MARK not in text
        assert "DATABASE_URL" in text and "%40" in text and "%2F" in text
    with pytest.raises(ConfigError, match="percent"):
        check_url("postgresql://app:hunter1%zz@db.example/shop", "--url")
    # valid, if unusual: libpq reads these as the user meant
    check_url("postgresql://app:hunter1?hunter2@db.example/shop", "--url")
    check_url("postgresql://app:hunter1#hunter2@db.example/shop?sslmode=require", "--url")
    check_url("postgresql://db.example/shop?user=me@server", "--url")
    check_url("", "PG* environment")


def test_a_label_keeps_what_is_not_secret() -> None:
    assert redact("postgresql://app:hunter1?x@db.example:5433/shop?sslmode=require") == (
        "postgresql://app:***@db.example:5433/shop?sslmode=require")
    assert redact("host=db port=5 password='a b\\'c' dbname=shop") == (
        "host=db port=5 password=*** dbname=shop")
    assert redact("postgresql://db.example/shop") == "postgresql://db.example/shop"


# -- the command line -----------------------------------------------------------------------


@pytest.fixture
def shop(project: Path) -> Path:
    (project / "schema.sql").write_text("CREATE TABLE items (id integer PRIMARY KEY);\n")
    return project


@pytest.mark.parametrize("password", AWKWARD)
def test_cli_errors_never_show_the_password(shop: Path, password: str) -> None:
    for form, url in _forms(password).items():
        commands = [["push", "--dry-run", "--url", url]]
        if form == "raw URL":
            commands.append(["status", "--url", url])
        for args in commands:
            # the first as a real process, the rest in this one (the same output)
            run = (_trimtab if form == "raw URL" and args[0] == "push" else _trimtab_here)(
                args, shop)
            assert run.returncode == 1, (form, args, run.stdout, run.stderr)
            assert "error:" in run.stderr
            _assert_hidden(run, f"{form}: {args[0]}")
        # the same from the environment and from trimtab.toml
        run = _trimtab_here(["push", "--dry-run"], shop, {"DATABASE_URL": url})
        assert run.returncode == 1
        _assert_hidden(run, f"{form}: DATABASE_URL")
    run = _trimtab_here(["push", "--dry-run", "--url",
                         f"postgresql://app@{UNREACHABLE}/shop"], shop, {"PGPASSWORD": password})
    assert run.returncode == 1
    _assert_hidden(run, "PGPASSWORD")


def _socket_url(db_url: str) -> tuple[str, str]:
    """The test database's socket folder and name."""
    parts = urlsplit(db_url)
    host = dict(p.split("=", 1) for p in parts.query.split("&"))["host"]
    return host, parts.path.lstrip("/")


@pytest.mark.parametrize("password", [AWKWARD[i] for i in (0, 1, 4, 7, 9, 12)])
def test_cli_output_never_shows_the_password(shop: Path, db_url: str, sql: SqlRunner,
                                             password: str) -> None:
    """A reachable database (the test server trusts local connections: the password is
    carried, never checked): plans, labels, status, JSON."""
    socket_dir, name = _socket_url(db_url)
    enc = quote(password, safe="")
    urls = {
        "encoded URL": f"postgresql://postgres:{enc}@/{name}?host={quote(socket_dir)}",
        "query password": f"postgresql://postgres@/{name}?host={quote(socket_dir)}"
                          f"&password={enc}",
        "key/value": make_conninfo(host=socket_dir, user="postgres", dbname=name,
                                   password=password),
    }
    for form, url in urls.items():
        for args in (["push", "--url", url], ["status", "--url", url],
                     ["push", "--json", "--dry-run", "--url", url]):
            run = _trimtab_here(args, shop)
            assert run.returncode == 0, (form, args, run.stdout, run.stderr)
            _assert_hidden(run, f"{form}: {args}")
        assert sql("SELECT count(*) FROM items") == [(0,)]
        sql("DROP TABLE items")
    run = _trimtab(["push", "--url", f"postgresql://postgres@/{name}?host={socket_dir}"],
                   shop, {"PGPASSWORD": password})
    assert run.returncode == 0, run.stderr
    _assert_hidden(run, "PGPASSWORD")


def test_a_malformed_url_is_an_error_not_a_traceback(shop: Path) -> None:
    for url in ("postgresql://app:hunter1%zz@db.example/shop",
                "postgresql://app:hunter1@[::1/shop",
                "postgresql://app:hunter1@db.example:port/shop",
                "host=db.example password=hunter1 hunter2"):
        run = _trimtab(["push", "--dry-run", "--url", url], shop)
        assert run.returncode == 1, run.stderr
        assert run.stderr.startswith("error:"), run.stderr
        _assert_hidden(run, url)


# -- which databases are on this machine ----------------------------------------------------


@pytest.mark.parametrize(("url", "local"), [
    ("postgresql://localhost/db", True),
    ("postgresql://127.0.0.1:5432/db", True),
    ("postgresql://[::1]/db", True),
    ("postgresql:///db?host=/run/postgresql", True),
    ("postgresql:///db", True),
    ("postgresql://db.example/db", False),
    ("postgresql://localhost,db.example/db", False),
    # hostaddr is where libpq connects; host is only the name it checks
    ("postgresql://localhost/db?hostaddr=203.0.113.7", False),
    ("host=localhost hostaddr=203.0.113.7 dbname=db", False),
    ("postgresql://db.example/db?hostaddr=127.0.0.1", True),
    ("postgresql://localhost,localhost/db?hostaddr=127.0.0.1,203.0.113.7", False),
    # a service file may name any host: not resolved, so not local
    ("service=prod", False),
    ("postgresql:///db?service=prod", False),
])
def test_is_local(url: str, local: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("PGHOST", "PGHOSTADDR", "PGSERVICE"):
        monkeypatch.delenv(var, raising=False)
    assert engine.is_local(url) is local


def test_is_local_reads_libpq_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("PGHOST", "PGHOSTADDR", "PGSERVICE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PGHOSTADDR", "203.0.113.7")
    assert not engine.is_local("")
    assert not engine.is_local("postgresql://localhost/db")
    monkeypatch.delenv("PGHOSTADDR")
    monkeypatch.setenv("PGSERVICE", "prod")
    assert not engine.is_local("")
    # the service may still set hostaddr, which beats the host named here
    assert not engine.is_local("postgresql://localhost/db")


def test_reset_asks_for_force_on_a_remote_hostaddr(shop: Path) -> None:
    run = _trimtab(["reset", "--yes", "--url",
                    "postgresql://app:hunter1@localhost/shop?hostaddr=203.0.113.7"], shop)
    assert run.returncode == 1
    assert "refused:" in run.stderr and "not on this machine" in run.stderr
    _assert_hidden(run, "reset")


def test_load_config_is_not_where_a_url_is_checked(shop: Path) -> None:
    """`trimtab check` needs no database: a malformed DATABASE_URL does not stop it."""
    cfg = load_config(shop, environ={"DATABASE_URL": "postgresql://a:hunter1%zz@x/y"})
    assert cfg.database_url is not None
    run = _trimtab(["check"], shop, {"DATABASE_URL": "postgresql://a:hunter1%zz@x/y"})
    assert run.returncode == 0, run.stderr
