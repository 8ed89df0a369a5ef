"""The language-server latency benchmark in its smoke mode, so it cannot rot."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.lsp import main, run


@pytest.mark.slow  # a whole benchmark run
def test_quick_latency_run_measures_every_edit(admin_url: str) -> None:
    result = run(tables=10, edits=4, dsn=admin_url)
    fast, exact = result["fast"], result["exact"]
    assert isinstance(fast, list) and isinstance(exact, list)
    assert len(fast) == len(exact) == 4
    # Each edit's diagnostics come before its exact refinement, and both arrive.
    assert all(0 < f <= e for f, e in zip(fast, exact, strict=True))


@pytest.mark.parametrize("form", ["ts", "sql"])
def test_in_process_mode_times_every_keystroke(form: str) -> None:
    from bench.lsp import in_process

    result = in_process(tables=10, edits=4, form=form)
    assert len(result["keystroke"]) == len(result["collector"]) == 4
    assert all(x > 0 for x in result["keystroke"])


@pytest.mark.slow  # a whole benchmark run
def test_a_schema_file_is_measured_instead_of_a_generated_one(admin_url: str,
                                                               tmp_path: Path) -> None:
    # A generated schema always has tables to edit: only the file's text has none.
    schema = tmp_path / "schema.sql"
    schema.write_text("CREATE TYPE mood AS ENUM ('ok');\n")
    with pytest.raises(ValueError, match="no table in the schema"):
        run(tables=10, edits=2, dsn=admin_url, schema_file=schema)


def test_a_schema_file_is_for_the_server_process_only(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["--in-process", "--schema-file", str(tmp_path / "schema.sql")])
