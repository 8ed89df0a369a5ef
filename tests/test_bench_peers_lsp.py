"""The side-by-side language-server benchmark in its smoke mode, so it cannot rot."""

from __future__ import annotations

import pytest

from bench.common import open_server
from bench.peers_lsp import measure, pgls_missing, render


@pytest.mark.slow  # installs the Postgres Language Server from npm, runs both servers
def test_quick_side_by_side_run_measures_both_servers(admin_url: str, pg_server: object) -> None:
    if why := pgls_missing():
        pytest.skip(why)
    with open_server(admin_url, "psql") as server:
        results = measure(server, tables=10, edits=2, requests=2, repeats=1,
                          kinds=["trimtab", "pgls"])
    for kind in ("trimtab", "pgls"):
        (run,) = results[kind]
        assert len(run.keystroke) == 2 and len(run.completion) == len(run.hover) == 2
        assert run.first_diagnostics > 0 and run.capabilities.get("hoverProvider")
    assert len(results["trimtab"][0].exact) == 2
    trimtab = results["trimtab"][0].features
    # What only trimtab's server does is found by the probes, not assumed.
    assert trimtab["diagnostics: data loss with a row count"] == "yes"
    assert trimtab["diagnostics: rename candidate"] == "yes"
    assert "trimtab / pgls" in render(results, tables=10, edits=2, requests=2, repeats=1)
