"""drizzle.config.ts as projects write it, through the real `trimtab` CLI on a real database:
the database URL evaluated from process.env as Node evaluates it, `--schema` over the
config's `schema`."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from psycopg.conninfo import conninfo_to_dict

from tests.test_cli_push import run, tables

SCHEMA_TS = ('import { pgTable, integer } from "drizzle-orm/pg-core";\n'
             'export const things = pgTable("things", { id: integer().primaryKey() });\n')
# A host that does not exist: a command that took the wrong variable (libpq's PG* defaults
# instead of the URL the config names) fails at once rather than starting the embedded
# server, and the test sees it.
NO_SERVER = {"PGHOST": "/nonexistent-trimtab-test", "PGDATABASE": "nowhere"}


def project(root: Path, url: str, *, schema: str = "./src/schema.ts",
            prelude: str = "") -> Path:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "schema.ts").write_text(SCHEMA_TS)
    (root / "drizzle.config.ts").write_text(
        'import { defineConfig } from "drizzle-kit";\n' + prelude +
        "export default defineConfig({\n"
        '  dialect: "postgresql",\n'
        f'  schema: "{schema}",\n'
        f"  dbCredentials: {{ url: {url} }},\n"
        "});\n")
    return root


def test_url_takes_the_first_variable_that_is_set(tmp_path: Path, db_url: str) -> None:
    """The Drizzle docs' pattern: DIRECT_DATABASE_URL unset, so DATABASE_URL."""
    root = project(tmp_path, "process.env.DIRECT_DATABASE_URL ?? process.env.DATABASE_URL!")
    r = run(root, "push", "--force", env={**NO_SERVER, "DATABASE_URL": db_url})
    assert r.returncode == 0, r.stderr
    assert tables(db_url) == ["things"]


def test_or_skips_an_empty_variable(tmp_path: Path, db_url: str) -> None:
    """`||` passes over "" (an empty line in .env), as Node does."""
    root = project(tmp_path, "process.env.DIRECT_DATABASE_URL || process.env.DATABASE_URL")
    (root / ".env").write_text(f"DIRECT_DATABASE_URL=\nDATABASE_URL={db_url}\n")
    r = run(root, "push", "--force", env=NO_SERVER)
    assert r.returncode == 0, r.stderr
    assert tables(db_url) == ["things"]


def test_nullish_keeps_an_empty_variable_and_says_so(tmp_path: Path, db_url: str) -> None:
    """`??` passes "" on, as Node does: drizzle-kit would get an empty URL, so trimtab
    stops and names the variable rather than picking another database."""
    root = project(tmp_path, "process.env.DIRECT_DATABASE_URL ?? process.env.DATABASE_URL")
    (root / ".env").write_text(f"DIRECT_DATABASE_URL=\nDATABASE_URL={db_url}\n")
    r = run(root, "push", "--force", env=NO_SERVER)
    assert r.returncode != 0
    assert "DIRECT_DATABASE_URL is set but empty" in r.stderr, r.stderr
    assert tables(db_url) == []


def test_template_string_of_variables(tmp_path: Path, db_url: str) -> None:
    """A URL put together from parts in the environment and .env.local."""
    parts = conninfo_to_dict(db_url)
    root = project(
        tmp_path, "`postgresql://${process.env.DB_USER}:${process.env.DB_PASS}@/"
                  "${process.env.DB_NAME}?host=${process.env.DB_HOST}&port=${process.env.DB_PORT}`")
    (root / ".env.local").write_text(f"DB_NAME={parts['dbname']}\n"
                                     f"DB_HOST={quote(str(parts.get('host', '')), safe='')}\n")
    env = {**NO_SERVER, "DB_USER": str(parts.get("user", "postgres")),
           "DB_PASS": quote(str(parts.get("password", "")), safe=""),
           "DB_PORT": str(parts.get("port", 5432))}
    r = run(root, "push", "--force", env=env)
    assert r.returncode == 0, r.stderr
    assert tables(db_url) == ["things"]


def test_template_with_an_unset_variable_names_it(tmp_path: Path) -> None:
    root = project(tmp_path, "`postgres://app@${process.env.DB_HOST}/app`")
    r = run(root, "push", "--force", env=NO_SERVER)
    assert r.returncode != 0
    assert "DB_HOST" in r.stderr and "not set" in r.stderr, r.stderr


def test_a_const_of_the_config_is_followed(tmp_path: Path, db_url: str) -> None:
    root = project(tmp_path, "url",
                   prelude="const url = (process.env.POSTGRES_URL as string)!;\n")
    (root / "drizzle.config.ts").write_text(
        (root / "drizzle.config.ts").read_text().replace("{ url: url }", "{ url }"))
    r = run(root, "push", "--force", env={**NO_SERVER, "POSTGRES_URL": db_url})
    assert r.returncode == 0, r.stderr
    assert tables(db_url) == ["things"]


def test_unreadable_url_is_an_error_on_its_line(tmp_path: Path, db_url: str) -> None:
    """A URL computed by code trimtab does not run: not guessed, an error at its line;
    --url still works."""
    root = project(tmp_path, "config().databaseUrl",
                   prelude='import { config } from "./src/config";\n')
    r = run(root, "push", "--force", env={**NO_SERVER, "DATABASE_URL": db_url})
    assert r.returncode != 0
    assert "drizzle.config.ts:6" in r.stderr and "config().databaseUrl" in r.stderr, r.stderr
    assert tables(db_url) == []
    r = run(root, "push", "--force", "--url", db_url, env=NO_SERVER)
    assert r.returncode == 0, r.stderr
    assert tables(db_url) == ["things"]


def test_env_name_of_an_imported_env_module_is_that_variable(tmp_path: Path,
                                                              db_url: str) -> None:
    """create-t3-app's `url: env.DATABASE_URL` (t3-env hands out process.env.DATABASE_URL,
    checked): the variable of that name, not a guess at another one."""
    root = project(tmp_path, "env.DATABASE_URL", prelude='import { env } from "~/env";\n')
    r = run(root, "push", "--force", env={**NO_SERVER, "DATABASE_URL": db_url})
    assert r.returncode == 0, r.stderr
    assert tables(db_url) == ["things"]


def test_env_name_of_a_local_object_is_not_read(tmp_path: Path, db_url: str) -> None:
    """Only an imported env module counts: a local object could hold anything."""
    root = project(tmp_path, "env.DATABASE_URL",
                   prelude='const env = { DATABASE_URL: "postgres://elsewhere/db" };\n')
    r = run(root, "push", "--force", env={**NO_SERVER, "DATABASE_URL": db_url})
    assert r.returncode != 0 and "env.DATABASE_URL" in r.stderr, r.stderr
    assert tables(db_url) == []


def test_schema_flag_overrides_the_config(tmp_path: Path, db_url: str) -> None:
    """The config names a file that is not there; --schema names the one to read."""
    root = project(tmp_path, "process.env.DATABASE_URL", schema="./db/missing.ts")
    (root / "src" / "schema.ts").rename(root / "src" / "real.ts")
    r = run(root, "push", "--force", "--schema", "src/real.ts",
            env={**NO_SERVER, "DATABASE_URL": db_url})
    assert r.returncode == 0, r.stderr
    assert tables(db_url) == ["things"]


def _config(root: Path, body: str) -> Path:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "schema.ts").write_text(SCHEMA_TS)
    (root / "drizzle.config.ts").write_text(body)
    return root


def test_connection_string_of_drizzle_kit_0_20(tmp_path: Path, db_url: str) -> None:
    """drizzle-kit 0.20's config (`driver: 'pg'`, `connectionString`): the variable it
    names, not trimtab's embedded database."""
    root = _config(tmp_path, "import type { Config } from 'drizzle-kit'\n"
                             "export default {\n  schema: './src/schema.ts',\n  driver: 'pg',\n"
                             "  dbCredentials: {\n"
                             "    connectionString: process.env.POSTGRES_URL as string,\n"
                             "  },\n} satisfies Config\n")
    r = run(root, "push", "--force", env={**NO_SERVER, "POSTGRES_URL": db_url})
    assert r.returncode == 0, r.stderr
    assert tables(db_url) == ["things"]


def test_credentials_by_their_parts(tmp_path: Path, db_url: str) -> None:
    """`dbCredentials: { host, port, user, password, database }` from the environment: that
    server and database (a Number(...) port included)."""
    parts = conninfo_to_dict(db_url)
    root = _config(tmp_path, 'import { defineConfig } from "drizzle-kit";\n'
                             "export default defineConfig({\n  dialect: \"postgresql\",\n"
                             '  schema: "./src/schema.ts",\n  dbCredentials: {\n'
                             "    host: process.env.DB_HOST!,\n"
                             "    port: Number(process.env.DB_PORT),\n"
                             "    user: process.env.DB_USER,\n"
                             "    database: process.env.DB_NAME!,\n"
                             "    ssl: false,\n  },\n});\n")
    env = {**NO_SERVER, "DB_HOST": str(parts.get("host", "")),
           "DB_PORT": str(parts.get("port", "5432")), "DB_USER": str(parts.get("user", "")),
           "DB_NAME": str(parts["dbname"])}
    r = run(root, "push", "--force", env=env)
    assert r.returncode == 0, r.stderr
    assert tables(db_url) == ["things"]


def test_a_driver_of_another_database_is_refused(tmp_path: Path, db_url: str) -> None:
    root = _config(tmp_path, "export default {\n  schema: './src/schema.ts',\n"
                             "  driver: 'mysql2',\n"
                             "  dbCredentials: { uri: process.env.DATABASE_URL },\n};\n")
    r = run(root, "push", "--force", env={**NO_SERVER, "DATABASE_URL": db_url})
    assert r.returncode != 0 and 'driver is "mysql2"' in r.stderr, r.stderr
    assert tables(db_url) == []


def test_a_filter_built_from_an_imported_constant(tmp_path: Path, db_url: str) -> None:
    """tablecn's `tablesFilter: [`${DATABASE_PREFIX}_*`]` with the prefix imported from a
    constants file: read, not refused as unreadable."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "constants.ts").write_text('export const PREFIX = "app";\n')
    (tmp_path / "src" / "schema.ts").write_text(
        'import { pgTable, integer } from "drizzle-orm/pg-core";\n'
        'export const things = pgTable("app_things", { id: integer().primaryKey() });\n')
    (tmp_path / "drizzle.config.ts").write_text(
        'import { defineConfig } from "drizzle-kit";\n'
        'import { PREFIX } from "./src/constants";\n'
        "export default defineConfig({\n  dialect: \"postgresql\",\n"
        '  schema: "./src/schema.ts",\n  dbCredentials: { url: process.env.DATABASE_URL! },\n'
        "  tablesFilter: [`${PREFIX}_*`],\n});\n")
    r = run(tmp_path, "push", "--force", env={**NO_SERVER, "DATABASE_URL": db_url})
    assert r.returncode == 0, r.stderr
    assert tables(db_url) == ["app_things"]


def test_a_computed_schema_is_an_error_at_its_line(tmp_path: Path, db_url: str) -> None:
    """sim's `schema: relative(process.cwd(), fileURLToPath(new URL(...)))`: code trimtab
    does not run; the error names the config's line, and --schema gets past it."""
    root = project(tmp_path, "process.env.DATABASE_URL!",
                   schema='" + relative(process.cwd(), "src/schema.ts") + "',
                   prelude="import { relative } from 'node:path'\n")
    text = (root / "drizzle.config.ts").read_text()
    (root / "drizzle.config.ts").write_text(text.replace(
        '"" + relative(process.cwd(), "src/schema.ts") + ""',
        'relative(process.cwd(), "src/schema.ts")'))
    r = run(root, "push", "--force", env={**NO_SERVER, "DATABASE_URL": db_url})
    assert r.returncode != 0
    assert "drizzle.config.ts:5" in r.stderr and "`schema`" in r.stderr, r.stderr
    assert tables(db_url) == []
    r = run(root, "push", "--force", "--schema", "src/schema.ts",
            env={**NO_SERVER, "DATABASE_URL": db_url})
    assert r.returncode == 0, r.stderr
    assert tables(db_url) == ["things"]
