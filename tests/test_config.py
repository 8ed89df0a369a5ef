from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from trimtab.config import find_project, load_config, parse_env, pooler_warning, redact
from trimtab.errors import ConfigError, SchemaError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- find_project ---------------------------------------------------------------------------


def test_find_project_walks_up_to_trimtab_toml(project: Path) -> None:
    deep = project / "a" / "b"
    deep.mkdir(parents=True)
    assert find_project(deep) == project
    assert find_project(write(deep / "x.sql", "")) == project


def test_find_project_uses_pyproject_only_with_tool_table(tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    inner = outer / "inner"
    write(outer / "pyproject.toml", '[project]\nname = "x"\n\n[tool.trimtab]\nschema = "db"\n')
    write(inner / "pyproject.toml", '[project]\nname = "inner"\n')  # not a trimtab project
    assert find_project(inner) == outer


def test_find_project_without_config_returns_start(tmp_path: Path) -> None:
    assert find_project(tmp_path) == tmp_path


# --- settings -----------------------------------------------------------------------------------


def test_defaults(project: Path) -> None:
    cfg = load_config(project, environ={})
    assert cfg.root == project
    assert cfg.config_file == project / "trimtab.toml"
    assert cfg.schema_path == project / "schema.sql"
    assert cfg.migrations_dir == project / "migrations"
    assert cfg.managed_schemas is None
    assert cfg.shadow_database_url is None
    assert cfg.database_url is None
    assert cfg.database_url_source is None


def test_no_config_file(tmp_path: Path) -> None:
    cfg = load_config(tmp_path, environ={})
    assert cfg.config_file is None
    assert cfg.schema_path == tmp_path / "schema.sql"


def test_settings_from_trimtab_toml(project: Path) -> None:
    write(
        project / "trimtab.toml",
        'schema = "db/schema"\nmigrations = "db/migrations"\nschemas = ["public", "app"]\n'
        'shadow_database_url = "postgresql://localhost/shadow"\n',
    )
    cfg = load_config(project / "db", environ={})
    assert cfg.root == project
    assert cfg.schema_path == project / "db" / "schema"
    assert cfg.migrations_dir == project / "db" / "migrations"
    assert cfg.managed_schemas == ("public", "app")
    assert cfg.shadow_database_url == "postgresql://localhost/shadow"


def test_settings_from_pyproject(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "app"\n\n[tool.trimtab]\nschema = "sql"\n'
        'database_url = "postgresql://file/db"\n',
    )
    cfg = load_config(tmp_path, environ={})
    assert cfg.config_file == tmp_path / "pyproject.toml"
    assert cfg.schema_path == tmp_path / "sql"
    assert cfg.database_url == "postgresql://file/db"
    assert cfg.database_url_source == "pyproject.toml"


def test_schema_flag_is_relative_to_cwd(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load_config(project, schema="elsewhere/s.sql", environ={})
    assert cfg.schema_path == tmp_path / "elsewhere" / "s.sql"


# --- database URL precedence --------------------------------------------------------------------


def test_url_precedence_flag_env_envlocal_env_file(project: Path) -> None:
    write(project / "trimtab.toml", 'database_url = "postgresql://file/db"\n')
    assert load_config(project, environ={}).database_url_source == "trimtab.toml"

    write(project / ".env", "DATABASE_URL=postgresql://dotenv/db\n")
    cfg = load_config(project, environ={})
    assert (cfg.database_url, cfg.database_url_source) == (
        "postgresql://dotenv/db",
        "DATABASE_URL (.env)",
    )

    write(project / ".env.local", "DATABASE_URL=postgresql://dotenvlocal/db\n")
    cfg = load_config(project, environ={})
    assert (cfg.database_url, cfg.database_url_source) == (
        "postgresql://dotenvlocal/db",
        "DATABASE_URL (.env.local)",
    )

    environ = {"DATABASE_URL": "postgresql://real/db"}
    cfg = load_config(project, environ=environ)
    assert (cfg.database_url, cfg.database_url_source) == ("postgresql://real/db", "DATABASE_URL")

    cfg = load_config(project, url="postgresql://flag/db", environ=environ)
    assert (cfg.database_url, cfg.database_url_source) == ("postgresql://flag/db", "--url")


def test_os_environ_is_the_default_and_is_not_modified(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    monkeypatch.setenv("DATABASE_URL", "postgresql://real/db")
    monkeypatch.delenv("DIRECT_DATABASE_URL", raising=False)
    write(project / ".env", "OTHER=1\n")
    assert load_config(project).database_url == "postgresql://real/db"
    assert "OTHER" not in os.environ


def test_direct_url_preferred_within_a_layer(project: Path) -> None:
    write(
        project / ".env",
        "DATABASE_URL=postgresql://pooled:6543/db\nDIRECT_DATABASE_URL=postgresql://direct/db\n",
    )
    cfg = load_config(project, environ={})
    assert (cfg.database_url, cfg.database_url_source) == (
        "postgresql://direct/db",
        "DIRECT_DATABASE_URL (.env)",
    )
    cfg = load_config(project, direct=False, environ={})
    assert cfg.database_url == "postgresql://pooled:6543/db"


def test_stronger_layer_wins_over_direct_in_weaker_layer(project: Path) -> None:
    # A URL exported in the shell must not be overridden by a DIRECT_DATABASE_URL left in .env.
    write(project / ".env", "DIRECT_DATABASE_URL=postgresql://dev/db\n")
    cfg = load_config(project, environ={"DATABASE_URL": "postgresql://ci/db"})
    assert cfg.database_url == "postgresql://ci/db"


def test_database_url_env_names_the_variable(project: Path) -> None:
    write(project / "trimtab.toml", 'database_url_env = "APP_DB"\n')
    environ = {"DATABASE_URL": "postgresql://ignored/db", "APP_DB": "postgresql://app/db"}
    cfg = load_config(project, direct=False, environ=environ)
    assert (cfg.database_url, cfg.database_url_source) == ("postgresql://app/db", "APP_DB")


def test_empty_variable_counts_as_unset(project: Path) -> None:
    write(project / ".env", "DATABASE_URL=postgresql://dotenv/db\n")
    cfg = load_config(project, environ={"DATABASE_URL": "", "DIRECT_DATABASE_URL": "  "})
    assert cfg.database_url == "postgresql://dotenv/db"


def test_pg_variables_after_config_file(project: Path) -> None:
    cfg = load_config(project, environ={"PGHOST": "db.internal", "PGPORT": "5433"})
    assert (cfg.database_url, cfg.database_url_source) == ("", "PG* environment")
    assert load_config(project, environ={"PGPORT": "5433"}).database_url is None

    write(project / "trimtab.toml", 'database_url = "postgresql://file/db"\n')
    cfg = load_config(project, environ={"PGDATABASE": "x"})
    assert cfg.database_url_source == "trimtab.toml"


# --- config file errors -------------------------------------------------------------------------


def test_unknown_key_names_file_line_and_key(project: Path) -> None:
    path = write(project / "trimtab.toml", '# settings\nschema = "s.sql"\nshcemas = ["app"]\n')
    with pytest.raises(ConfigError) as info:
        load_config(project, environ={})
    err = info.value
    assert (err.file, err.line) == (str(path), 3)
    text = str(err)
    assert text.startswith(f"{path}:3: unknown setting 'shcemas'.")
    for key in ("schema", "migrations", "schemas", "shadow_database_url", "database_url_env"):
        assert key in text


def test_unknown_key_in_pyproject(tmp_path: Path) -> None:
    path = write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "x"\nschemaz = 1\n\n[tool.trimtab]\nschema = "a"\nschemaz = "b"\n',
    )
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, environ={})
    assert (info.value.file, info.value.line) == (str(path), 7)
    assert "'schemaz'" in str(info.value)


def test_unknown_subtable_is_found(project: Path) -> None:
    write(project / "trimtab.toml", 'schema = "s.sql"\n\n[lint]\nrule = 1\n')
    with pytest.raises(ConfigError) as info:
        load_config(project, environ={})
    assert info.value.line == 3
    assert "'lint'" in str(info.value)


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ('schemas = "public"\n', "schemas", 1),
        ("\nschema = 1\n", "schema", 2),
        ("schemas = []\n", "schemas", 1),
        ('schemas = ["a", 2]\n', "schemas", 1),
        ('database_url_env = ""\n', "database_url_env", 1),
    ],
)
def test_wrong_value_types(project: Path, text: str, key: str, line: int) -> None:
    write(project / "trimtab.toml", text)
    with pytest.raises(ConfigError) as info:
        load_config(project, environ={})
    assert info.value.line == line
    assert f"invalid value for {key!r}" in str(info.value)
    assert info.value.hint and key in info.value.hint


def test_invalid_toml_reports_position(project: Path) -> None:
    path = write(project / "trimtab.toml", 'schema = "s.sql"\nmigrations = \n')
    with pytest.raises(ConfigError) as info:
        load_config(project, environ={})
    assert (info.value.file, info.value.line) == (str(path), 2)
    assert str(info.value).startswith(f"{path}:2:")


# --- .env parsing -------------------------------------------------------------------------------


def test_parse_env() -> None:
    text = """
# a comment
PLAIN=value
export EXPORTED=yes
SPACED = padded   # trailing comment
SINGLE='raw \\n $x # kept'
DOUBLE="a \\"quoted\\" value\\nnext"
HASH=pass#word
EMPTY=
not a line
"""
    env = parse_env(text)
    assert env == {
        "PLAIN": "value",
        "EXPORTED": "yes",
        "SPACED": "padded",
        "SINGLE": "raw \\n $x # kept",
        "DOUBLE": 'a "quoted" value\nnext',
        "HASH": "pass#word",
        "EMPTY": "",
    }
    assert parse_env("K='a # b'\n") == {"K": "a # b"}


# --- redact and pooler warnings -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:secret@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgres://u:p@ss/w@rd@h/db?sslmode=require", "postgres://u:***@h/db?sslmode=require"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("postgresql://postgres:@/db?host=/tmp/x", "postgresql://postgres:@/db?host=/tmp/x"),
        (
            "postgresql://h/db?user=u&password=secret&x=1",
            "postgresql://h/db?user=u&password=***&x=1",
        ),
        ("host=h user=u password=secret dbname=d", "host=h user=u password=*** dbname=d"),
        ("host=h password='se cret' dbname=d", "host=h password=*** dbname=d"),
        ("", ""),
    ],
)
def test_redact(url: str, expected: str) -> None:
    assert redact(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:p@db.example.com:6543/postgres",
        "postgresql://u:p@aws-0-eu-central-1.pooler.supabase.com:5432/postgres",
        "postgresql://u:p@h:5432/db?pgbouncer=true",
        "host=h port=6543 dbname=d",
    ],
)
def test_pooler_warning(url: str) -> None:
    warning = pooler_warning(url)
    assert warning is not None
    assert "DIRECT_DATABASE_URL" in warning
    assert ":p@" not in warning  # the URL is shown redacted


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:p@db.example.com:5432/postgres",
        "postgresql://u:pooler6543@h/db",  # the password says nothing about the server
        "postgresql://u@h:65432/db",
        "",
        None,
    ],
)
def test_no_pooler_warning(url: str | None) -> None:
    assert pooler_warning(url) is None


# --- errors ---------------------------------------------------------------------------------------


def test_error_text_and_pickling() -> None:
    err = SchemaError(
        "column type is unknown.",
        file="schema.sql",
        line=4,
        column=7,
        obj="public.users.email",
        hint="Check the spelling.",
    )
    assert str(err) == (
        "schema.sql:4:7: column type is unknown (object public.users.email). Check the spelling."
    )
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is SchemaError and str(copy) == str(err)
    assert str(ConfigError("no file")) == "no file."
    assert str(ConfigError("bad", file="f.toml", column=3)) == "f.toml: bad."
    assert err.as_dict()["object"] == "public.users.email"
