"""Issue 22's latency targets in one run, in smoke mode, so the runner cannot rot."""

from __future__ import annotations

import pytest

from bench.common import open_server
from bench.lsp_targets import TARGETS, Outcome, measure, outcomes, render


@pytest.mark.slow  # a whole benchmark run: three language-server sessions
def test_quick_run_measures_every_target(admin_url: str) -> None:
    with open_server(admin_url, "psql") as server:
        samples = measure(server, tables=10, edits=2, requests=2)
    found = outcomes(samples)
    assert [o.name for o in found] == [name for name, _, _ in TARGETS]
    # every target has its samples: none is left out of the run
    assert all(o.p95 is not None and o.p95 > 0 for o in found)
    assert len(samples["sql exact"]) == len(samples["ts fast"]) == 2
    assert len(samples["ts completion"]) == len(samples["sql hover"]) == 2
    text = render(found, tables=10, edits=2, requests=2, load=("1.00", "1.00"))
    assert "targets met" in text and "| schema.ts: completion p95 |" in text


def test_a_missing_measure_fails_its_target() -> None:
    assert not Outcome("x", None, 0.05).passed
    assert not Outcome("x", 0.05, 0.05).passed
    assert Outcome("x", 0.049, 0.05).passed
